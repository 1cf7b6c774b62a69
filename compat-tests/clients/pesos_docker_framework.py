"""A PyPI `pesos` (v0) framework launching Docker tasks (ContainerInfo.DOCKER,
run by our agent's Docker containerizer and mesos-docker-executor) next to
plain command tasks (our Mesos containerizer), as a Marathon-style framework
would.

    pesos_docker_framework.py --master 127.0.0.1:PORT --tasks-json '[...]'
    pesos_docker_framework.py --zk zk://HOST:PORT/mesos --kazoo-path SITE_PACKAGES ...

With `--zk`, the leading master is found (and followed through failovers) in
ZooKeeper with pesos_ha_framework.py's kazoo detector; `--per-offer N` spreads
the tasks over the agents.

Each task spec is an object:
    {"id": "t1", "command": "echo hi",          # shell command
     "image": "mesos-rs-task",                  # absent: a plain command task
     "network": "BRIDGE", "ports": [[31001, 8000]],   # host -> container
     "force_pull": false, "mem": 32,
     "probe": "http",       # on RUNNING, GET http://127.0.0.1:<host port>/ and report it
     "kill": true,          # on RUNNING (after the probe), kill the task
     "kill_after": 3,       # ... that many seconds later
     "wait_file": true}     # the command waits for $MESOS_SANDBOX/finish-now

It prints one JSON object per line on stdout ("registered", "update",
"probe", "done") and exits 0 once every task reached a terminal state (the
test judges the states), 1 on an error or a timeout.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.request

from pesos.scheduler import PesosSchedulerDriver
from pesos.vendor.mesos import mesos_pb2

TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR")


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def scalar(name, value):
    r = mesos_pb2.Resource()
    r.name = name
    r.type = mesos_pb2.Value.SCALAR
    r.scalar.value = value
    return r


def port_ranges(ports):
    r = mesos_pb2.Resource()
    r.name = "ports"
    r.type = mesos_pb2.Value.RANGES
    for port in ports:
        rng = r.ranges.range.add()
        rng.begin = port
        rng.end = port
    return r


def offered(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Framework(object):
    def __init__(self, specs, per_offer=1000):
        self.per_offer = per_offer
        self.connected = threading.Event()
        self.ever_registered = False
        self.specs = {s["id"]: s for s in specs}
        self.pending = [s["id"] for s in specs]
        self.states = {}
        self.lock = threading.Lock()
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

    def task(self, spec, slave_id):
        task = mesos_pb2.TaskInfo()
        task.task_id.value = spec["id"]
        task.slave_id.value = slave_id
        task.name = spec["id"]
        task.resources.extend([scalar("cpus", 0.1), scalar("mem", spec.get("mem", 32))])
        task.command.value = spec["command"]
        if spec.get("wait_file"):
            task.command.value = ("while [ ! -e $MESOS_SANDBOX/finish-now ]; do sleep 0.2; done; "
                                  + spec["command"])
        if "image" in spec:
            task.container.type = mesos_pb2.ContainerInfo.DOCKER
            docker = task.container.docker
            docker.image = spec["image"]
            docker.network = mesos_pb2.ContainerInfo.DockerInfo.Network.Value(spec.get("network", "HOST"))
            if spec.get("force_pull"):
                docker.force_pull_image = True
            ports = spec.get("ports", [])
            for host, inside in ports:
                mapping = docker.port_mappings.add()
                mapping.host_port = host
                mapping.container_port = inside
            if ports:
                task.resources.extend([port_ranges([h for h, _ in ports])])
        return task

    def resource_offers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
                tasks = []
                while (self.pending and len(tasks) < self.per_offer and cpus >= 0.1
                       and mem >= self.specs[self.pending[0]].get("mem", 32)):
                    spec = self.specs[self.pending.pop(0)]
                    tasks.append(self.task(spec, offer.slave_id.value))
                    cpus -= 0.1
                    mem -= spec.get("mem", 32)
                if tasks:
                    driver.launchTasks([offer.id.value], tasks)
                else:
                    driver.declineOffer(offer.id.value)

    def offer_rescinded(self, driver, offer_id):
        pass

    def on_running(self, driver, spec):
        if spec.get("probe") == "http":
            host_port = spec["ports"][0][0]
            body, error = None, None
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/" % host_port, timeout=2) as resp:
                        body = resp.read().decode("utf-8", "replace")
                    break
                except Exception as e:  # noqa: BLE001 - reported below
                    error = str(e)
                    time.sleep(0.3)
            emit({"event": "probe", "task_id": spec["id"], "body": body, "error": error})
        if spec.get("kill"):
            time.sleep(spec.get("kill_after", 0))
            task_id = mesos_pb2.TaskID()
            task_id.value = spec["id"]
            driver.killTask(task_id)

    def status_update(self, driver, status):
        task_id = status.task_id.value
        state = mesos_pb2.TaskState.Name(status.state)
        emit({"event": "update", "task_id": task_id, "state": state, "message": status.message,
              "agent_id": status.slave_id.value,
              "reason": status.reason if status.HasField("reason") else None})
        with self.lock:
            first_running = state == "TASK_RUNNING" and self.states.get(task_id) != "TASK_RUNNING"
            self.states[task_id] = state
            if all(self.states.get(t) in TERMINAL for t in self.specs):
                self.done.set()
        if first_running and task_id in self.specs:
            threading.Thread(target=self.on_running, args=(driver, self.specs[task_id]), daemon=True).start()

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
    parser.add_argument("--master")
    parser.add_argument("--zk")
    parser.add_argument("--kazoo-path")
    parser.add_argument("--per-offer", type=int, default=1000)
    parser.add_argument("--tasks-json", required=True)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    info = mesos_pb2.FrameworkInfo()
    info.user = "root"
    info.name = "pesos-docker"
    info.failover_timeout = 60
    info.checkpoint = True
    framework = Framework(json.loads(args.tasks_json), args.per_offer)
    started = time.time()
    detector = None
    if args.zk:
        sys.path.append(args.kazoo_path)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from pesos_ha_framework import ZooKeeperDetector

        info.failover_timeout = 300.0
        hosts, _, path = args.zk[len("zk://"):].partition("/")
        detector = ZooKeeperDetector(hosts, "/" + path)
        driver = PesosSchedulerDriver(framework, info, "unused:0")
        driver.detector = detector
        driver.start()
        detector.on_loop = driver.context._Context__loop.add_callback
    else:
        driver = PesosSchedulerDriver(framework, info, args.master)
        driver.start()
    deadline = time.time() + args.timeout
    disconnected_since = None
    while not framework.done.wait(0.5):
        if time.time() > deadline:
            break
        # pesos registers once per detection: while it is not (re)registered
        # with the leader, detect the leader again (as Mesos's driver retries).
        if detector is None or framework.connected.is_set() or not framework.ever_registered:
            disconnected_since = None
        elif disconnected_since is None:
            disconnected_since = time.time()
        elif time.time() - disconnected_since > 2.0:
            disconnected_since = time.time()
            detector.reappoint()
    if not framework.done.is_set():
        sys.stderr.write("timed out; states: %r\n" % framework.states)
        sys.stderr.flush()
        os._exit(1)
    if framework.failure:
        sys.stderr.write(framework.failure + "\n")
        sys.stderr.flush()
        os._exit(1)
    emit({"event": "done", "states": framework.states, "seconds": round(time.time() - started, 1)})
    driver.stop()
    time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    main()
