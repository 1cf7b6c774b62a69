"""A PyPI `pymesos` (v1 scheduler API) framework for the HA tests
(test_ha.py): pointed at `zk://.../mesos`, it finds the leading master with
pymesos's own kazoo-based detector, and after a failover resubscribes to the
new leader by itself.

    pymesos_ha_framework.py --master zk://127.0.0.1:PORT/mesos --tasks N \
        --sleep S [--sleep S2 ...] [--name NAME]

Tasks are command tasks `sleep S`, at most half of them per offer (so they
spread over the agents). One JSON object per line on stdout:

    {"event": "subscribed", "framework_id": ..., "master_port": ...}
    {"event": "update", "task_id": ..., "state": ..., "agent_id": ...}
    {"event": "done", "finished": N}

Exits 0 once every task is TASK_FINISHED; 1 if one ends otherwise (LOST and
UNREACHABLE included), on an error, or on a timeout.
"""

import argparse
import getpass
import json
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

LOCK = threading.Lock()


def emit(**obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
        sys.stdout.flush()


def scalar(name, value):
    return dict(name=name, type="SCALAR", scalar=dict(value=value))


def offered(offer, name):
    return sum(r["scalar"]["value"] for r in offer.get("resources", []) if r["name"] == name)


class Framework(Scheduler):
    def __init__(self, tasks, sleeps):
        self.wanted = tasks
        self.sleeps = sleeps
        self.launched = 0
        self.states = {}
        self.done = threading.Event()
        self.failure = None
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        emit(event="subscribed", framework_id=framework_id["value"], master_port=master_info.get("port"))

    def reregistered(self, driver, master_info):
        emit(event="resubscribed", master_port=master_info.get("port"))

    def disconnected(self, driver):
        emit(event="disconnected")

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
                tasks = []
                quota = max(1, (self.wanted + 1) // 2)
                while self.launched < self.wanted and len(tasks) < quota and cpus >= 0.05 and mem >= 16:
                    n = self.launched
                    self.launched += 1
                    name = "py-%d" % n
                    tasks.append(dict(
                        task_id=dict(value=name), agent_id=offer["agent_id"], name=name,
                        command=dict(value="sleep %s" % self.sleeps[n % len(self.sleeps)], shell=True),
                        resources=[scalar("cpus", 0.05), scalar("mem", 16)],
                    ))
                    cpus -= 0.05
                    mem -= 16
                if tasks:
                    driver.launchTasks(offer["id"], tasks)
                else:
                    driver.declineOffer(offer["id"], dict(refuse_seconds=3600))

    def statusUpdate(self, driver, update):
        with self.lock:
            task_id = update["task_id"]["value"]
            state = update["state"]
            emit(event="update", task_id=task_id, state=state, agent_id=update.get("agent_id", {}).get("value"))
            self.states[task_id] = state
            if state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED", "TASK_DROPPED", "TASK_GONE",
                         "TASK_UNREACHABLE"):
                self.failure = "task %s ended %s: %s" % (task_id, state, update.get("message"))
                self.done.set()
            if sum(1 for s in self.states.values() if s == "TASK_FINISHED") == self.wanted:
                self.done.set()

    def error(self, driver, message):
        emit(event="error", message=message)
        self.failure = "error: %s" % message
        self.done.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--sleep", action="append", default=[])
    parser.add_argument("--name", default="pymesos-ha")
    parser.add_argument("--timeout", type=float, default=240)
    args = parser.parse_args()

    framework = Framework(args.tasks, args.sleep or ["1"])
    info = dict(user=getpass.getuser(), name=args.name, hostname="localhost", failover_timeout=300.0)
    driver = MesosSchedulerDriver(framework, info, args.master, use_addict=False)
    driver.start()
    if not framework.done.wait(args.timeout):
        framework.failure = "timed out"
    driver.stop()
    if framework.failure:
        emit(event="failed", reason=framework.failure)
    else:
        emit(event="done", finished=len(framework.states))
    # pymesos may leave a non-daemon thread behind: leave without it.
    sys.stdout.flush()
    os._exit(1 if framework.failure else 0)


if __name__ == "__main__":
    main()
