"""A PyPI `pesos` (v0) framework that follows the leading master through
ZooKeeper, for the HA tests (test_ha.py).

    pesos_ha_framework.py --zk zk://127.0.0.1:PORT/mesos --tasks N \
        --sleep S [--sleep S2 ...] --kazoo-path SITE_PACKAGES

pesos itself refuses `zk://` masters ("The zookeeper master detector is not
supported"), but its driver takes any `MasterDetector`: this script gives it
one that watches the group's children with kazoo (Mesos's layout: the
`json.info_` member with the lowest sequence leads; its JSON MasterInfo names
the leader's `address`), and appoints each new leader. That is what a pesos
user running against an HA Mesos would write. kazoo is imported from
`--kazoo-path` (the main venv's site-packages: pure Python, same interpreter
version), appended after this venv's own packages.

pesos registers once per detection (its own TODO: "Implement reliable
registration"), and a master that has just been elected drops messages until
it has recovered its registry, as Mesos's does. So, like Mesos's driver
(which retries registration with a backoff), the script re-appoints the
leader while it is not (re)registered. pesos's detector base class also
deadlocks on a second leader (see `ZooKeeperDetector.appoint`), and its
driver must be called on compactor's event loop: both are handled here.

Tasks are command tasks `sleep S`, cycling through the given durations, so
some finish before and some after a failover. One JSON object per line on
stdout:

    {"event": "leader", "master": "127.0.0.1:PORT"}
    {"event": "registered" | "reregistered" | "disconnected", ...}
    {"event": "update", "task_id": ..., "state": ..., "agent_id": ...}
    {"event": "done", "finished": N}

Exits 0 once every task is TASK_FINISHED; 1 if one ends otherwise (LOST
included), on an error from the master, or on a timeout.

Run with the pesos venv and PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python.
"""

import argparse
import logging
import json
import sys
import threading
import time

from pesos.detector import FutureMasterDetector
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


class ZooKeeperDetector(FutureMasterDetector):
    """Appoints `ip:port` of the group's leading member (lowest sequence)."""

    def __init__(self, hosts, path):
        super(ZooKeeperDetector, self).__init__()
        from kazoo.client import KazooClient

        self.path = path
        self.leader = None
        # pesos's driver must be called on compactor's event loop (the
        # detection callbacks send and link): set once the driver started.
        self.on_loop = None
        self.zk = KazooClient(hosts=hosts, timeout=10.0)
        self.zk.start(timeout=30)
        self.zk.ChildrenWatch(path, self.children)

    def children(self, children):
        members = sorted(c for c in children if c.startswith("json.info_"))
        leader = None
        if members:
            try:
                data, _ = self.zk.get(self.path + "/" + members[0])
                info = json.loads(data.decode())
                leader = "%s:%d" % (info["address"]["ip"], info["address"]["port"])
            except Exception as e:  # the member left between the list and the read
                emit({"event": "detector_error", "message": str(e)})
        if leader != self.leader:
            self.leader = leader
            emit({"event": "leader", "master": leader})
            self.call(self.appoint, leader)

    def appoint(self, leader):
        # pesos's own `appoint` resolves the waiting futures while holding its
        # (non-reentrant) lock, and the driver's callback asks the detector
        # again at once: a deadlock on the second leader. Resolve them after
        # releasing the lock.
        with self._FutureMasterDetector__lock:
            if leader == self._leader:
                return
            self._leader = leader
            waiting, self._future_queue = self._future_queue, []
        for future in waiting:
            future.set_result(leader)

    def call(self, fn, *args):
        if self.on_loop is None:
            fn(*args)
        else:
            self.on_loop(fn, *args)

    def reappoint(self):
        """pesos registers once per detection: make it detect the leader again."""
        leader = self.leader
        if leader:
            def again():
                self.appoint(None)
                self.appoint(leader)
            self.call(again)


class Framework(object):
    def __init__(self, tasks, sleeps):
        self.wanted = tasks
        self.sleeps = sleeps
        self.next = 0
        self.states = {}
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.ever_registered = False
        self.done = threading.Event()
        self.failure = None

    def registered(self, driver, framework_id, master_info):
        self.ever_registered = True
        self.connected.set()
        emit({"event": "registered", "framework_id": framework_id.value, "master": master_info.pid})

    def reregistered(self, driver, master_info):
        self.connected.set()
        emit({"event": "reregistered", "master": master_info.pid})

    def disconnected(self, driver):
        self.connected.clear()
        emit({"event": "disconnected"})

    def resource_offers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
                tasks = []
                # Spread the tasks: at most half of them per offer.
                quota = max(1, (self.wanted + 1) // 2)
                while self.next < self.wanted and len(tasks) < quota and cpus >= CPUS and mem >= MEM:
                    n = self.next
                    self.next += 1
                    task = mesos_pb2.TaskInfo()
                    task.task_id.value = "ha-%03d" % n
                    task.slave_id.value = offer.slave_id.value
                    task.name = task.task_id.value
                    task.resources.extend([scalar("cpus", CPUS), scalar("mem", MEM)])
                    task.command.value = "sleep %s" % self.sleeps[n % len(self.sleeps)]
                    tasks.append(task)
                    cpus -= CPUS
                    mem -= MEM
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
            emit({"event": "update", "task_id": task_id, "state": state, "agent_id": status.slave_id.value,
                  "message": status.message})
            self.states[task_id] = state
            if state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED", "TASK_DROPPED", "TASK_GONE",
                         "TASK_UNREACHABLE"):
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
        pass

    def error(self, driver, message):
        emit({"event": "error", "message": message})
        self.failure = "error from the master: %s" % message
        self.done.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zk", required=True)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--sleep", action="append", default=[])
    parser.add_argument("--kazoo-path", required=True)
    parser.add_argument("--timeout", type=float, default=240)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.path.append(args.kazoo_path)

    rest = args.zk[len("zk://"):]
    hosts, _, path = rest.partition("/")
    detector = ZooKeeperDetector(hosts, "/" + path)

    framework_info = mesos_pb2.FrameworkInfo()
    framework_info.user = ""
    framework_info.name = "pesos-ha"
    framework_info.failover_timeout = 300.0
    framework = Framework(args.tasks, args.sleep or ["1"])
    driver = PesosSchedulerDriver(framework, framework_info, "unused:0")
    driver.detector = detector
    driver.start()
    # compactor's loop (private in compactor 0.3.0; its `dispatch` only
    # reaches pesos processes, not the detector).
    detector.on_loop = driver.context._Context__loop.add_callback

    deadline = time.time() + args.timeout
    disconnected_since = None
    while not framework.done.wait(0.5):
        if time.time() > deadline:
            framework.failure = "timed out"
            break
        if framework.connected.is_set() or not framework.ever_registered:
            disconnected_since = None
        elif disconnected_since is None:
            disconnected_since = time.time()
        elif time.time() - disconnected_since > 1.0:
            detector.reappoint()
            disconnected_since = time.time()
    driver.stop()
    if framework.failure:
        emit({"event": "failed", "reason": framework.failure})
        sys.exit(1)
    emit({"event": "done", "finished": len(framework.states)})
    sys.exit(0)


if __name__ == "__main__":
    main()
