"""The compose cluster (docker/docker-compose.yml), end to end, from a clean
state: ZooKeeper, three `mesos-master --zk` and three agents with the Docker
and Mesos containerizers, all in containers of images built here.

A framework we did not write (PyPI pesos, following the leader through
ZooKeeper, in the mesos-rs-client image on the cluster network) runs Docker tasks (image mesos-rs-task, executors in their own
containers through --docker_mesos_image) on every agent, and Mesos-
containerizer tasks; PyPI pymesos (v1 scheduler API, its own ZooKeeper detector),
run from the host against the cluster network, runs command tasks that are
still running when the leader goes away. While the Docker tasks run: the leading master's
container is stopped, an agent's container is disconnected from the network
and reconnected, another agent's container is restarted. Then the Docker tasks
are told to finish: every one must reach TASK_FINISHED at the framework (no
task lost, every update delivered) and the cluster must have recovered (a new
leader, three active agents). The figures (time to a new leader, time for each
agent to come back) go to the summary. The cluster is brought down at the end.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.timeout(600)

COMPOSE_FILE = harness.REPO / "docker" / "docker-compose.yml"
SPARK_FILE = harness.REPO / "docker" / "docker-compose.spark.yml"


def events(proc):
    out = []
    for line in proc.log().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class Compose:
    def __init__(self, run_dir):
        # A /24 and a project name of our own; the work dirs under run_dir
        # (absolute, the same path on the host and in the agents).
        self.prefix = f"10.213.{100 + os.getpid() % 100}"
        self.project = f"mesosrs{os.getpid()}"
        self.dir = run_dir / "compose"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "MESOS_RS_COMPOSE_DIR": str(self.dir), "MESOS_RS_SUBNET_PREFIX": self.prefix,
                    "COMPOSE_PROJECT_NAME": self.project}
        self.files = [COMPOSE_FILE]
        self.masters = {f"master{i}": f"{self.prefix}.{i + 1}" for i in (1, 2, 3)}
        self.agents = {f"agent{i}": f"{self.prefix}.{10 + i}" for i in (1, 2, 3)}
        self.network = f"{self.project}_cluster"
        self.client = f"{self.project}_client"

    def __call__(self, *args, check=True, timeout=180):
        argv = ["docker-compose", "-p", self.project]
        for f in self.files:
            argv += ["-f", str(f)]
        argv += args
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def container(self, service):
        return self("ps", "-q", service).strip()

    def leader(self):
        """(service, state) of the master that leads, or None."""
        for service, ip in self.masters.items():
            try:
                resp = harness.requests.get(f"http://{ip}:5050/master/state", timeout=2, allow_redirects=False)
            except harness.requests.RequestException:
                continue
            if resp.status_code == 200:
                state = resp.json()
                if state.get("leader") == state.get("pid"):
                    return service, state
        return None

    def active_agents(self):
        found = self.leader()
        if not found:
            return set()
        return {a["hostname"] for a in found[1]["slaves"] if a.get("active")}

    def reregistered_since(self, since):
        """Agents (hostnames) the leader has seen (re)register after `since`."""
        found = self.leader()
        if not found:
            return set()
        return {a["hostname"] for a in found[1]["slaves"]
                if a.get("active") and max(a.get("reregistered_time", 0), a.get("registered_time", 0)) > since}

    def task_containers(self):
        ids = {p.name for p in self.dir.glob("agent*/slaves/*/frameworks/*/executors/*/runs/*") if p.name != "latest"}
        return [f"mesos-{i}" for i in ids] + [f"mesos-{i}.executor" for i in ids]

    def down(self):
        for name in [self.client, *self.task_containers()]:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        self("down", "-v", "--remove-orphans", check=False)


@pytest.fixture
def compose(repo_root, run_dir):
    subprocess.run([str(repo_root / "docker" / "build.sh"), "master", "agent", "zookeeper", "task", "client"],
                   check=True,
                   timeout=900)
    cluster = Compose(run_dir)
    cluster.down()
    yield cluster
    cluster.down()


def wait(predicate, what, timeout=90):
    started = time.time()
    harness.wait_until(predicate, timeout=timeout, interval=0.2, what=what)
    return time.time() - started


def test_compose_cluster_survives_master_failover_partition_and_agent_restart(compose, procs, summary):
    started = time.time()
    compose("up", "-d")
    up = wait(lambda: compose.leader() is not None, "a leading master")
    wait(lambda: compose.active_agents() == set(compose.agents.values()), "three active agents")
    ready = time.time() - started

    # Two Docker tasks per agent, waiting for a file in their sandbox, and
    # Mesos-containerizer tasks that finish at once.
    specs = [{"id": f"docker-{i}", "image": "mesos-rs-task", "command": "echo finished in docker",
              "wait_file": True} for i in range(6)]
    specs += [{"id": f"mesos-{i}", "command": "echo finished on the mesos containerizer"} for i in range(3)]
    # The framework runs in the client image (pesos + kazoo), on the cluster
    # network.
    framework = procs.start(
        "pesos_docker_framework",
        ["docker", "run", "--rm", "--name", compose.client, "--network", compose.network,
         "--ip", f"{compose.prefix}.40", "-e", f"LIBPROCESS_IP={compose.prefix}.40", "mesos-rs-client",
         "pesos_docker_framework.py", "--zk", f"zk://{compose.prefix}.10:2181/mesos", "--kazoo-path", "/opt/kazoo",
         "--per-offer", "3", "--tasks-json", json.dumps(specs), "--timeout", "400"],
    )

    # A v1 framework beside it: pymesos on the host, finding the leader in ZooKeeper.
    pymesos = procs.start("pymesos_ha", [
        sys.executable, harness.CLIENTS / "pymesos_ha_framework.py", "--master",
        f"zk://{compose.prefix}.10:2181/mesos", "--tasks", 2, "--sleep", 10, "--sleep", 12, "--name", "pymesos-compose",
    ])

    def states():
        return {e["task_id"]: e["state"] for e in events(framework) if e["event"] == "update"}

    def pymesos_running():
        running = {e["task_id"] for e in events(pymesos) if e.get("state") == "TASK_RUNNING"}
        return len(running) == 2

    def docker_running():
        s = states()
        return all(s.get(f"docker-{i}") == "TASK_RUNNING" for i in range(6))

    wait(docker_running, "the Docker tasks to run", timeout=120)
    wait(pymesos_running, "pymesos's tasks to run", timeout=60)
    agents_used = {e["agent_id"] for e in events(framework) if e["event"] == "update" and e["task_id"].startswith("docker")}
    assert len(agents_used) >= 2, agents_used

    # 1. Stop the leading master's container.
    old_leader, old_state = compose.leader()
    t0 = time.time()
    compose("stop", "-t", "1", old_leader)
    wait(lambda: (compose.leader() or ("", None))[0] not in ("", old_leader), "a new leader")
    failover = time.time() - t0
    wait(lambda: compose.reregistered_since(t0) == set(compose.agents.values()), "the agents on the new leader")
    agents_back = time.time() - t0
    wait(lambda: any(e["event"] in ("registered", "reregistered") and e.get("master") != old_state["pid"]
                     for e in events(framework)), "the framework on the new leader")
    framework_back = time.time() - t0
    # pymesos's tasks ran through the failover: each finishes at the framework.
    assert pymesos.wait(timeout=90) == 0, pymesos.log()
    assert [e["finished"] for e in events(pymesos) if e["event"] == "done"] == [2], pymesos.log()

    # 2. Cut an agent off the network for longer than its ZooKeeper session
    #    (10s), then reconnect it.
    agent2 = compose.container("agent2")
    subprocess.run(["docker", "network", "disconnect", compose.network, agent2], check=True)
    time.sleep(12)
    t1 = time.time()
    subprocess.run(["docker", "network", "connect", "--ip", compose.agents["agent2"], compose.network, agent2],
                   check=True)
    wait(lambda: compose.active_agents() == set(compose.agents.values()), "agent2 active")
    partition_active = time.time() - t1
    try:
        wait(lambda: compose.agents["agent2"] in compose.reregistered_since(t1), "agent2 reregistered", timeout=30)
        partition_rereg = f"reregistered {time.time() - t1:.1f}s after reconnect"
    except harness.HarnessError:
        partition_rereg = "no reregistration needed within 30s"

    # 3. Restart an agent's container.
    t2 = time.time()
    compose("restart", "-t", "2", "agent3")
    wait(lambda: compose.agents["agent3"] in compose.reregistered_since(t2), "agent3 reregistered")
    restart_back = time.time() - t2

    # Nothing was lost: every Docker task still runs; now let them finish.
    assert docker_running(), states()
    for sandbox in compose.dir.glob("agent*/slaves/*/frameworks/*/executors/docker-*/runs/latest"):
        (sandbox / "finish-now").touch()
    assert framework.wait(timeout=120) == 0, framework.log()
    final = states()
    assert final == {t["id"]: "TASK_FINISHED" for t in specs}, final
    seen = [e["state"] for e in events(framework) if e["event"] == "update"]
    assert not {"TASK_LOST", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR"} & set(seen), seen
    for sandbox in compose.dir.glob("agent*/slaves/*/frameworks/*/executors/docker-*/runs/latest"):
        assert "finished in docker" in (sandbox / "stdout").read_text()
    summary(f"compose: a leader {up:.1f}s and 3 active agents {ready:.1f}s after `up`; leader container "
            f"stopped: new leader {failover:.1f}s, all agents reregistered {agents_back:.1f}s, framework "
            f"{framework_back:.1f}s after `stop` began; agent cut off 12s: active {partition_active:.1f}s after "
            f"reconnect, {partition_rereg}; agent container restarted: reregistered {restart_back:.1f}s after "
            f"`restart` began; 6 Docker + 3 Mesos tasks (pesos) and 2 command tasks (pymesos) all TASK_FINISHED, "
            f"none lost")


def test_compose_spark_pi_through_our_libmesos(compose, repo_root, summary):
    """docker-compose.spark.yml: spark-submit pi.py in the mesos-rs-spark image,
    finding the leader through ZooKeeper with our libmesos.so; its executors
    are Docker tasks of the same image on the cluster network."""
    subprocess.run([str(repo_root / "docker" / "build.sh"), "spark"], check=True, timeout=900)
    compose.files.append(SPARK_FILE)
    started = time.time()
    compose("up", "-d")
    spark = compose.container("spark")
    status = subprocess.run(["docker", "wait", spark], capture_output=True, text=True, timeout=300)
    wall = time.time() - started
    logs = subprocess.run(["docker", "logs", spark], capture_output=True, text=True).stdout
    logs += subprocess.run(["docker", "logs", spark], capture_output=True, text=True).stderr
    assert status.stdout.strip() == "0", logs[-5000:]
    estimate = re.search(r"Pi is roughly (\d+\.\d+)", logs)
    assert estimate and abs(float(estimate.group(1)) - 3.14159) < 0.1, logs[-5000:]
    # The executors were Docker tasks on our agents.
    found = compose.leader()
    assert found, "no leader"
    frameworks = found[1]["completed_frameworks"] + found[1]["frameworks"]
    pi = [f for f in frameworks if f["name"] == "PythonPi"]
    assert pi and all(t["state"] == "TASK_FINISHED" for t in pi[0]["completed_tasks"]), pi
    assert any(t.get("container", {}).get("type") == "DOCKER" for t in pi[0]["completed_tasks"]), pi
    summary(f"compose + spark overlay: pi={estimate.group(1)} with Docker executors, {wall:.1f}s from `up`")
