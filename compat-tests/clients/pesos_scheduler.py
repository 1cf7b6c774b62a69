"""A pesos (PyPI, a v0 scheduler driver we did not write) framework run against
our mesos-master.

Run with the pesos venv (compat-tests/.venv-pesos) and
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python:

    pesos_scheduler.py --master 127.0.0.1:PORT --tasks N [--cpus 0.5] [--mem 32]

It registers a framework named "pesos-e2e", launches N command tasks on the
offers it gets (declining what it does not use), waits until every task is
TASK_FINISHED, then stops the driver (unregistering the framework). It prints
one JSON object per line on stdout:

    {"event": "registered", "framework_id": ..., "master": {...}}
    {"event": "offers", "count": ..., "agents": [...]}
    {"event": "launched", "task_id": ..., "agent_id": ...}
    {"event": "update", "task_id": ..., "state": ..., "message": ...}
    {"event": "done", "finished": N}

and exits 0; an error from the master, a failed task or a timeout exits 1.
"""

import argparse
import json
import os
import sys
import threading
import time

from pesos.scheduler import PesosSchedulerDriver
from pesos.vendor.mesos import mesos_pb2


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def scalar(name, value):
    resource = mesos_pb2.Resource()
    resource.name = name
    resource.type = mesos_pb2.Value.SCALAR
    resource.scalar.value = value
    return resource


def offered(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Scheduler(object):
    def __init__(self, tasks, cpus, mem):
        self.wanted = tasks
        self.cpus = cpus
        self.mem = mem
        self.launched = 0
        self.states = {}
        self.done = threading.Event()
        self.failure = None

    def registered(self, driver, framework_id, master_info):
        emit({
            "event": "registered",
            "framework_id": framework_id.value,
            "master": {"id": master_info.id, "ip": master_info.ip, "port": master_info.port,
                       "pid": master_info.pid, "hostname": master_info.hostname},
        })

    def reregistered(self, driver, master_info):
        emit({"event": "reregistered"})

    def disconnected(self, driver):
        emit({"event": "disconnected"})

    def resource_offers(self, driver, offers):
        emit({"event": "offers", "count": len(offers), "agents": [o.slave_id.value for o in offers]})
        for offer in offers:
            tasks = []
            cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
            while self.launched < self.wanted and cpus >= self.cpus and mem >= self.mem:
                task = mesos_pb2.TaskInfo()
                task.task_id.value = "pesos-task-%d" % self.launched
                task.slave_id.value = offer.slave_id.value
                task.name = task.task_id.value
                task.command.value = "sleep 1"
                task.resources.extend([scalar("cpus", self.cpus), scalar("mem", self.mem)])
                tasks.append(task)
                self.launched += 1
                cpus -= self.cpus
                mem -= self.mem
                emit({"event": "launched", "task_id": task.task_id.value, "agent_id": offer.slave_id.value})
            if tasks:
                driver.launchTasks([offer.id.value], tasks)
            else:
                driver.declineOffer(offer.id.value)

    def offer_rescinded(self, driver, offer_id):
        emit({"event": "rescinded", "offer_id": offer_id.value})

    def status_update(self, driver, status):
        state = mesos_pb2.TaskState.Name(status.state)
        self.states[status.task_id.value] = state
        emit({"event": "update", "task_id": status.task_id.value, "state": state,
              "message": status.message, "agent_id": status.slave_id.value})
        if state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED", "TASK_DROPPED"):
            self.failure = "task %s ended %s: %s" % (status.task_id.value, state, status.message)
            self.done.set()
        finished = [t for t, s in self.states.items() if s == "TASK_FINISHED"]
        if len(finished) == self.wanted:
            self.done.set()

    def framework_message(self, driver, executor_id, slave_id, data):
        emit({"event": "framework_message"})

    def slave_lost(self, driver, slave_id):
        emit({"event": "agent_lost", "agent_id": slave_id.value})

    def error(self, driver, message):
        emit({"event": "error", "message": message})
        self.failure = "error from the master: %s" % message
        self.done.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--mem", type=float, default=32)
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()

    framework = mesos_pb2.FrameworkInfo()
    framework.user = "nobody"
    framework.name = "pesos-e2e"
    framework.failover_timeout = 60
    scheduler = Scheduler(args.tasks, args.cpus, args.mem)
    driver = PesosSchedulerDriver(scheduler, framework, args.master)
    driver.start()
    if not scheduler.done.wait(args.timeout):
        sys.stderr.write("timed out; task states: %r\n" % scheduler.states)
        sys.stderr.flush()
        os._exit(1)
    if scheduler.failure:
        sys.stderr.write(scheduler.failure + "\n")
        sys.stderr.flush()
        os._exit(1)
    emit({"event": "done", "finished": len(scheduler.states)})
    driver.stop()
    time.sleep(1)  # let the unregistration go out before the process ends
    os._exit(0)  # compactor's loop thread would keep a normal exit waiting


if __name__ == "__main__":
    main()
