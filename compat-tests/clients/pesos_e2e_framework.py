"""The end-to-end framework of issue 4: a PyPI `pesos` (v0) scheduler that
launches tasks through our mesos-master onto our mesos-agent, half as
command tasks (run by the agent's command executor, our mesos-executor) and
half on a pesos custom executor (clients/pesos_executor.py, on pesos's
executor driver).

    pesos_e2e_framework.py --master 127.0.0.1:PORT --tasks N --executor-cmd CMD

It prints one JSON object per line on stdout:

    {"event": "registered", "framework_id": ...}
    {"event": "update", "task_id": ..., "state": ..., "kind": "command"|"custom"}
    {"event": "done", "finished": N, "running_latency_ms": [...], "seconds": S}

and exits 0 once every task is TASK_FINISHED; a task ending otherwise, an
error from the master or a timeout exits 1.

Run with the pesos venv and PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python.
"""

import argparse
import json
import os
import sys
import threading
import time

from pesos.scheduler import PesosSchedulerDriver
from pesos.vendor.mesos import mesos_pb2

CPUS = 0.05
MEM = 16.0


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def scalar(name, value):
    r = mesos_pb2.Resource()
    r.name = name
    r.type = mesos_pb2.Value.SCALAR
    r.scalar.value = value
    return r


def offered(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Framework(object):
    def __init__(self, tasks, executor_cmd):
        self.wanted = tasks
        self.executor_cmd = executor_cmd
        self.framework_id = None
        self.next = 0
        self.kind = {}
        self.launched_at = {}
        self.running_ms = []
        self.states = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.failure = None
        self.started = time.time()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id.value
        emit({"event": "registered", "framework_id": framework_id.value})

    def reregistered(self, driver, master_info):
        emit({"event": "reregistered"})

    def disconnected(self, driver):
        emit({"event": "disconnected"})

    def executor(self):
        info = mesos_pb2.ExecutorInfo()
        info.executor_id.value = "pesos-e2e-executor"
        info.framework_id.value = self.framework_id
        info.name = "pesos e2e executor"
        info.command.value = self.executor_cmd
        info.resources.extend([scalar("cpus", 0.1), scalar("mem", 64)])
        return info

    def resource_offers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
                tasks = []
                while self.next < self.wanted and cpus >= CPUS + 0.1 and mem >= MEM + 64:
                    n = self.next
                    self.next += 1
                    task = mesos_pb2.TaskInfo()
                    task.task_id.value = "e2e-%03d" % n
                    task.slave_id.value = offer.slave_id.value
                    task.name = task.task_id.value
                    task.resources.extend([scalar("cpus", CPUS), scalar("mem", MEM)])
                    if n % 2 == 0:
                        task.command.value = "echo task %d" % n
                        self.kind[task.task_id.value] = "command"
                    else:
                        task.executor.CopyFrom(self.executor())
                        task.data = b"finish"
                        self.kind[task.task_id.value] = "custom"
                    tasks.append(task)
                    cpus -= CPUS
                    mem -= MEM
                now = time.time()
                for task in tasks:
                    self.launched_at[task.task_id.value] = now
                if tasks:
                    driver.launchTasks([offer.id.value], tasks)
                else:
                    driver.declineOffer(offer.id.value)

    def offer_rescinded(self, driver, offer_id):
        pass

    def status_update(self, driver, status):
        with self.lock:
            task_id = status.task_id.value
            state = mesos_pb2.TaskState.Name(status.state)
            emit({"event": "update", "task_id": task_id, "state": state, "kind": self.kind.get(task_id),
                  "message": status.message})
            if state == "TASK_RUNNING" and task_id in self.launched_at and task_id not in self.states:
                self.running_ms.append(round((time.time() - self.launched_at[task_id]) * 1000, 1))
            self.states[task_id] = state
            if state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED", "TASK_DROPPED", "TASK_GONE"):
                self.failure = "task %s ended %s: %s" % (task_id, state, status.message)
                self.done.set()
            finished = [t for t, s in self.states.items() if s == "TASK_FINISHED"]
            if len(finished) == self.wanted:
                self.done.set()

    def framework_message(self, driver, executor_id, slave_id, data):
        pass

    def slave_lost(self, driver, slave_id):
        emit({"event": "agent_lost", "agent_id": slave_id.value})

    def executor_lost(self, driver, executor_id, slave_id, status):
        emit({"event": "executor_lost", "executor_id": executor_id.value, "status": status})

    def error(self, driver, message):
        emit({"event": "error", "message": message})
        self.failure = "error from the master: %s" % message
        self.done.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--executor-cmd", required=True)
    parser.add_argument("--timeout", type=float, default=240)
    args = parser.parse_args()

    info = mesos_pb2.FrameworkInfo()
    info.user = "root"
    info.name = "pesos-e2e-agent"
    info.failover_timeout = 60
    info.checkpoint = True
    framework = Framework(args.tasks, args.executor_cmd)
    driver = PesosSchedulerDriver(framework, info, args.master)
    driver.start()
    if not framework.done.wait(args.timeout):
        sys.stderr.write("timed out; %d tasks launched, states: %r\n" % (framework.next, framework.states))
        sys.stderr.flush()
        os._exit(1)
    if framework.failure:
        sys.stderr.write(framework.failure + "\n")
        sys.stderr.flush()
        os._exit(1)
    emit({"event": "done", "finished": len(framework.states), "running_latency_ms": framework.running_ms,
          "seconds": round(time.time() - framework.started, 1)})
    driver.stop()
    time.sleep(1)  # let the unregistration go out
    os._exit(0)


if __name__ == "__main__":
    main()
