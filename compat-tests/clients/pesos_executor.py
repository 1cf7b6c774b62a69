"""A custom executor on PyPI `pesos`'s v0 executor driver (a pure-Python
port of Mesos's `exec.cpp` over compactor's libprocess).

The agent launches it as an ExecutorInfo command; it reads MESOS_SLAVE_PID
and friends from the environment like any executor. What a task does is
its `data`: `finish` (TASK_RUNNING, then TASK_FINISHED), `fail`
(TASK_RUNNING, then TASK_FAILED), anything else runs until killed. Framework
messages are echoed back prefixed with `echo:`. It exits when the agent
shuts it down.

Run with the pesos venv and PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python.
"""

import logging
import os
import sys
import threading
import uuid

# pesos was written for Python 2, where `UUID.get_bytes()` existed; its
# driver calls it for every status update. Give Python 3's UUID the old
# name (the value is the same 16 bytes).
if not hasattr(uuid.UUID, "get_bytes"):
    uuid.UUID.get_bytes = lambda self: self.bytes

from mesos.interface import Executor  # noqa: E402
from pesos.executor import PesosExecutorDriver  # noqa: E402
from pesos.vendor.mesos import mesos_pb2  # noqa: E402

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s pesos_executor %(levelname)s %(message)s")
log = logging.getLogger("pesos_executor")


def status(task_id, state, message=""):
    s = mesos_pb2.TaskStatus()
    s.task_id.value = task_id
    s.state = state
    s.message = message
    return s


class TestExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, slave_info):
        log.info("registered with agent %s as %s", slave_info.hostname, executor_info.executor_id.value)

    def reregistered(self, driver, slave_info):
        log.info("reregistered with agent %s", slave_info.hostname)

    def launchTask(self, driver, task):
        task_id = task.task_id.value
        what = task.data.decode("utf-8", "replace")
        log.info("launching task %s (%s)", task_id, what)
        driver.sendStatusUpdate(status(task_id, mesos_pb2.TASK_RUNNING, "pesos executor running " + what))
        if what == "finish":
            driver.sendStatusUpdate(status(task_id, mesos_pb2.TASK_FINISHED, "pesos executor finished"))
        elif what == "fail":
            driver.sendStatusUpdate(status(task_id, mesos_pb2.TASK_FAILED, "pesos executor failed on purpose"))

    def killTask(self, driver, task_id):
        log.info("killing task %s", task_id.value)
        driver.sendStatusUpdate(status(task_id.value, mesos_pb2.TASK_KILLED, "pesos executor killed"))

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(b"echo:" + message)

    def shutdown(self, driver):
        log.info("shutting down")
        driver.stop()

    def error(self, driver, message):
        log.error("error: %s", message)


def main():
    driver = PesosExecutorDriver(TestExecutor())
    status_code = driver.run()
    log.info("driver finished with status %s", status_code)
    sys.stderr.flush()
    # compactor's event-loop thread never stops by itself.
    os._exit(0 if status_code == mesos_pb2.DRIVER_STOPPED else 1)


if __name__ == "__main__":
    # A safety net: never outlive a test run by much.
    timer = threading.Timer(600, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    main()
