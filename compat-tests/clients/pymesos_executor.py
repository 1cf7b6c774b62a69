"""A pymesos (PyPI, v1 executor API) executor, launched by our agent for the
pymesos scheduler in pymesos_scheduler.py.

Each task's `data` (base64 of a word) says what to do:
    "finish"  TASK_RUNNING, then TASK_FINISHED a moment later
    "run"     TASK_RUNNING, then nothing until killed (TASK_KILLED)
A framework message "X" is answered with the framework message "echo:X".
"""

import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


def log(text):
    sys.stderr.write("pymesos-executor: %s\n" % text)
    sys.stderr.flush()


class EchoExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        log("registered on agent %s" % agent_info["id"]["value"])

    def launchTask(self, driver, task):
        what = decode_data(task.get("data", "")).decode("utf-8") if task.get("data") else "finish"
        log("launch %s (%s)" % (task["task_id"]["value"], what))
        driver.sendStatusUpdate(dict(task_id=task["task_id"], state="TASK_RUNNING", message="pymesos executor"))
        if what == "finish":
            def finish():
                time.sleep(0.3)
                driver.sendStatusUpdate(dict(task_id=task["task_id"], state="TASK_FINISHED"))
            threading.Thread(target=finish, daemon=True).start()

    def killTask(self, driver, task_id):
        log("kill %s" % task_id["value"])
        driver.sendStatusUpdate(dict(task_id=task_id, state="TASK_KILLED"))

    def frameworkMessage(self, driver, message):
        text = decode_data(message).decode("utf-8")
        log("message %s" % text)
        driver.sendFrameworkMessage(encode_data(("echo:" + text).encode("utf-8")))

    def shutdown(self, driver):
        log("shutdown")


if __name__ == "__main__":
    driver = MesosExecutorDriver(EchoExecutor(), use_addict=True)
    driver.run()
