"""A pesos (PyPI, v0) framework that keeps running, for operator-API tests:
it launches `--tasks` long command tasks (`sleep 600`) on its first offers,
then declines every later offer for `--refuse` seconds, printing each offer
it sees. One JSON object per line on stdout:

    {"event": "registered", "framework_id": ...}
    {"event": "offer", "agent_id": ..., "cpus": C, "mem": M,
     "reserved": {"role": {"cpus": C, ...}}, "volumes": ["id", ...]}
    {"event": "launched", "task_id": ..., "agent_id": ...}
    {"event": "update", "task_id": ..., "state": ..., "message": ...}
    {"event": "error", "message": ...}

It runs until killed. Run with the pesos venv and
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python:

    pesos_offer_watcher.py --master 127.0.0.1:PORT [--tasks N] [--role ROLE] [--name NAME]
"""

import argparse
import json
import sys
import threading
import time

from pesos.scheduler import PesosSchedulerDriver
from pesos.vendor.mesos import mesos_pb2


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def scalar(name, value):
    r = mesos_pb2.Resource()
    r.name = name
    r.type = mesos_pb2.Value.SCALAR
    r.scalar.value = value
    return r


class Watcher(object):
    def __init__(self, tasks, refuse):
        self.tasks = tasks
        self.refuse = refuse
        self.launched = 0
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        emit({"event": "registered", "framework_id": framework_id.value})

    def reregistered(self, driver, master_info):
        emit({"event": "reregistered"})

    def disconnected(self, driver):
        emit({"event": "disconnected"})

    def resource_offers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus" and r.role == "*")
                mem = sum(r.scalar.value for r in offer.resources if r.name == "mem" and r.role == "*")
                reserved = {}
                volumes = []
                for r in offer.resources:
                    if r.role != "*":
                        reserved.setdefault(r.role, {})
                        reserved[r.role][r.name] = reserved[r.role].get(r.name, 0) + r.scalar.value
                    try:
                        if r.HasField("disk") and r.disk.HasField("persistence"):
                            volumes.append(r.disk.persistence.id)
                    except ValueError:
                        pass  # this mesos_pb2 predates persistent volumes
                emit({"event": "offer", "agent_id": offer.slave_id.value, "cpus": cpus, "mem": mem,
                      "reserved": reserved, "volumes": volumes})
                if self.launched < self.tasks and cpus >= 1 and mem >= 32:
                    task = mesos_pb2.TaskInfo()
                    task.task_id.value = "long-%d" % self.launched
                    task.slave_id.value = offer.slave_id.value
                    task.name = task.task_id.value
                    task.resources.extend([scalar("cpus", 1), scalar("mem", 32)])
                    task.command.value = "sleep 600"
                    self.launched += 1
                    emit({"event": "launched", "task_id": task.task_id.value, "agent_id": offer.slave_id.value})
                    driver.launchTasks([offer.id.value], [task])
                else:
                    filters = mesos_pb2.Filters()
                    filters.refuse_seconds = self.refuse
                    driver.declineOffer(offer.id.value, filters)

    def offer_rescinded(self, driver, offer_id):
        emit({"event": "rescinded", "offer_id": offer_id.value})

    def status_update(self, driver, status):
        emit({"event": "update", "task_id": status.task_id.value,
              "state": mesos_pb2.TaskState.Name(status.state), "message": status.message})

    def framework_message(self, driver, executor_id, slave_id, data):
        pass

    def slave_lost(self, driver, slave_id):
        emit({"event": "agent_lost", "agent_id": slave_id.value})

    def executor_lost(self, driver, executor_id, slave_id, status):
        pass

    def error(self, driver, message):
        emit({"event": "error", "message": message})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--role", default="*")
    parser.add_argument("--name", default="offer-watcher")
    parser.add_argument("--refuse", type=float, default=0.5)
    args = parser.parse_args()

    info = mesos_pb2.FrameworkInfo()
    info.user = "root"
    info.name = args.name
    info.role = args.role
    info.failover_timeout = 0
    driver = PesosSchedulerDriver(Watcher(args.tasks, args.refuse), info, args.master)
    driver.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
