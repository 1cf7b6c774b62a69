"""High availability: three of our masters on a real ZooKeeper, two of our
agents, and two frameworks that keep running through a leader failover.

The cluster: Debian's ZooKeeper 3.8 (the `zookeeper` fixture), three
`mesos-master --zk=zk://.../mesos --quorum=2` (the registry in ZooKeeper),
two `mesos-agent --master=zk://.../mesos`. The frameworks are code we did not
write, or our own driver, each finding the leader through ZooKeeper:

* PyPI `pesos` (v0 scheduler driver) with a kazoo-based detector
  (`clients/pesos_ha_framework.py`: pesos has none for `zk://`);
* PyPI `pymesos` (v1 scheduler API over HTTP), with its own kazoo-based
  detector (`clients/pymesos_ha_framework.py`), which resubscribes to the new
  leader by itself;
* our Rust scheduler driver (`examples/run_tasks --master=zk://...`).

Each framework has tasks running on both agents when the leader goes away:
killed (SIGKILL), stopped (SIGTERM), or cut off from ZooKeeper until its
session expires. A follower is elected; both agents and both frameworks
reregister with it; every task keeps running and its later status updates
(TASK_FINISHED, after the failover) arrive; nothing is marked lost or
unreachable. kazoo reads the three masters' `json.info_` znodes, and each
parses into Apache's `mesos_pb2.MasterInfo`.
"""

import json
import shlex
import signal
import sys
import time

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

import harness
import mesos_oracle

SESSION = "2secs"


def events(proc):
    out = []
    for line in proc.log().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def state(port, timeout=5):
    """The master's /master/state if it leads (200), else None (307, 503, down)."""
    try:
        resp = harness.requests.get(f"http://127.0.0.1:{port}/master/state", timeout=timeout,
                                    allow_redirects=False)
    except harness.requests.RequestException:
        return None
    return resp.json() if resp.status_code == 200 else None


class Cluster:
    def __init__(self, procs, binary, run_dir, free_port, zookeeper, wait_until, leader_zk_url=None):
        self.procs, self.binary, self.run_dir, self.wait_until = procs, binary, run_dir, wait_until
        self.zk_url = zookeeper.url("/mesos")
        self.ports = [free_port() for _ in range(3)]
        self.masters = []
        for i, port in enumerate(self.ports):
            url = leader_zk_url if (i == 0 and leader_zk_url) else self.zk_url
            m = procs.start(f"master{i}", [
                binary("mesos-master"), "--ip=127.0.0.1", f"--port={port}", f"--zk={url}", "--quorum=2",
                f"--work_dir={run_dir / f'master{i}'}", f"--zk_session_timeout={SESSION}",
                f"--hostname=127.0.0.1",
            ])
            self.masters.append(m)
            if i == 0:  # the first to join leads
                wait_until(lambda: state(port), timeout=60, what="master0 to lead", proc=m)
        self.agents = []
        for i in range(2):
            port = free_port()
            self.agents.append(procs.start(f"agent{i}", [
                binary("mesos-agent"), f"--master={self.zk_url}", f"--work_dir={run_dir / f'agent{i}'}",
                f"--port={port}", "--ip=127.0.0.1", f"--hostname=agent{i}",
                "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]", "--launcher=posix",
                "--isolation=posix/cpu,posix/mem", "--switch_user=false", "--registration_backoff_factor=10ms",
                f"--fetcher_cache_dir={run_dir / f'fetch{i}'}",
            ]))
        wait_until(lambda: self.leader() is not None and len(self.active_agents()) == 2, timeout=60,
                   what="both agents registered")

    def leader(self):
        """(index, state) of the master answering as leader."""
        for i, port in enumerate(self.ports):
            if self.masters[i].alive():
                s = state(port)
                if s is not None:
                    return i, s
        return None

    def active_agents(self):
        found = self.leader()
        return [a for a in found[1]["slaves"] if a["active"]] if found else []


def apache_master_info():
    pool = descriptor_pool.DescriptorPool()
    pool.Add(mesos_oracle.interface_mesos_proto())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mesos.MasterInfo"))


def check_znodes_with_kazoo(zookeeper, cluster):
    """kazoo lists the three members; each holds JSON Apache's MasterInfo parses."""
    MasterInfo = apache_master_info()
    zk = zookeeper.client()
    try:
        children = sorted(c for c in zk.get_children("/mesos") if c.startswith("json.info_"))
        assert len(children) == 3, children
        ports = []
        for child in children:
            data, _ = zk.get(f"/mesos/{child}")
            info = json_format.Parse(data.decode(), MasterInfo())  # strict: unknown keys fail
            ports.append(info.port)
            assert info.address.ip == "127.0.0.1" and info.pid == f"master@127.0.0.1:{info.port}"
        # master0 joined first, so it has the lowest sequence and leads.
        assert ports[0] == cluster.ports[0] and sorted(ports) == sorted(cluster.ports)
        # The registry lives under log_replicas, which every detector skips.
        assert "log_replicas" in zk.get_children("/mesos")
        root, _ = zk.get("/mesos/log_replicas/registry")
        assert json.loads(root)["chunks"]
    finally:
        zk.stop()


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "session_expiry"])
def test_frameworks_and_agents_survive_a_leader_failover(how, zookeeper, procs, binary, run_dir, free_port,
                                                         wait_until, pesos_cmd, summary):
    proxy = zookeeper.proxy() if how == "session_expiry" else None
    cluster = Cluster(procs, binary, run_dir, free_port, zookeeper, wait_until,
                      leader_zk_url=proxy.url("/mesos") if proxy else None)
    if how == "sigkill":
        check_znodes_with_kazoo(zookeeper, cluster)

    kazoo_path = str(next((harness.COMPAT / ".venv" / "lib").glob("python3*/site-packages")))
    pesos = procs.start("pesos_ha", pesos_cmd(
        "pesos_ha_framework.py", "--zk", cluster.zk_url, "--tasks", 4, "--sleep", 8, "--sleep", 12,
        "--kazoo-path", kazoo_path), env=harness.PESOS_ENV)
    rust = procs.start("run_tasks", [binary("run_tasks", example=True), f"--master={cluster.zk_url}",
                                     "--tasks=2", "--command=sleep 10", "--name=rust-ha", "--cpus=0.1"])
    pymesos = procs.start("pymesos_ha", [sys.executable, harness.CLIENTS / "pymesos_ha_framework.py",
                                         "--master", cluster.zk_url, "--tasks", 2, "--sleep", 9, "--sleep", 11])

    def running():
        found = cluster.leader()
        if not found:
            return False
        tasks = [t for f in found[1]["frameworks"] for t in f["tasks"] if t["state"] == "TASK_RUNNING"]
        return len(tasks) == 8 and tasks
    tasks = wait_until(running, timeout=60, what="8 tasks running", proc=pesos)
    assert len({t["slave_id"] for t in tasks}) == 2, "the tasks should be spread over both agents"
    old, _ = cluster.leader()
    assert old == 0

    started = time.time()
    if how == "sigkill":
        cluster.masters[0].kill()
    elif how == "sigterm":
        cluster.masters[0].signal(signal.SIGTERM)
    else:
        proxy.block()

    def new_leader():
        found = cluster.leader()
        return found if found and found[0] != 0 else None
    new, _ = wait_until(new_leader, timeout=60, what="a new leader")
    elected_after = time.time() - started

    def everyone_back():
        found = cluster.leader()
        if not found or found[0] != new:
            return False
        s = found[1]
        frameworks = {f["name"]: f for f in s["frameworks"] if f["active"]}
        agents = [a for a in s["slaves"] if a["active"]]
        return len(agents) == 2 and {"pesos-ha", "rust-ha", "pymesos-ha"} <= set(frameworks)
    wait_until(everyone_back, timeout=60, what="agents and frameworks reregistered with the new leader")
    back_after = time.time() - started

    assert pesos.wait(timeout=90) == 0, pesos.log()[-3000:]
    assert rust.wait(timeout=60) == 0, rust.log()[-3000:]
    assert pymesos.wait(timeout=60) == 0, pymesos.log()[-3000:]
    py_seen = events(pymesos)
    py_updates = [e for e in py_seen if e["event"] == "update"]
    assert not [e for e in py_updates if e["state"] not in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED")]
    assert len({e["task_id"] for e in py_updates if e["state"] == "TASK_FINISHED"}) == 2
    # Subscribed with the first leader, then with the new one (same framework).
    subscribed = [e for e in py_seen if e["event"] in ("subscribed", "resubscribed")]
    assert subscribed[0]["master_port"] == cluster.ports[0], py_seen
    assert subscribed[-1]["master_port"] == cluster.ports[new], py_seen
    assert len({e["framework_id"] for e in subscribed if "framework_id" in e}) == 1, py_seen
    seen = events(pesos)
    updates = [e for e in seen if e["event"] == "update"]
    assert not [e for e in updates if e["state"] not in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED")]
    finished = {e["task_id"] for e in updates if e["state"] == "TASK_FINISHED"}
    assert len(finished) == 4
    leaders = [e["master"] for e in seen if e["event"] == "leader" and e["master"]]
    assert leaders[0].endswith(f":{cluster.ports[0]}") and leaders[-1].endswith(f":{cluster.ports[new]}")
    # Mesos answers a v0 framework's reregistration after a failover with
    # FrameworkRegisteredMessage (MESOS-786), so pesos reports `registered`.
    masters = [e["master"] for e in seen if e["event"] in ("registered", "reregistered")]
    assert masters[0] == f"master@127.0.0.1:{cluster.ports[0]}"
    assert masters[-1] == f"master@127.0.0.1:{cluster.ports[new]}"
    rust_log = rust.log()
    assert rust_log.count("TASK_FINISHED") >= 2 and "TASK_LOST" not in rust_log

    # The new leader's books: nothing lost, nothing unreachable, everything finished.
    _, s = cluster.leader()
    assert (s["activated_slaves"], s["deactivated_slaves"], s["unreachable_slaves"]) == (2, 0, 0)
    done = [t for f in s["frameworks"] + s["completed_frameworks"] for t in f["tasks"] + f["completed_tasks"]]
    assert all(t["state"] == "TASK_FINISHED" for t in done), [(t["id"], t["state"]) for t in done]
    for agent in cluster.agents:
        assert agent.alive()

    if how == "sigterm":
        assert cluster.masters[0].wait(timeout=10) == 0
    elif how == "session_expiry":
        wait_until(lambda: not cluster.masters[0].alive(), timeout=30, what="the deposed leader to exit")
        assert cluster.masters[0].returncode != 0
        assert "committing suicide" in cluster.masters[0].log()
    summary(f"HA {how}: new leader serving {elected_after:.1f}s after the failover began, 2 agents and "
            f"3 frameworks (pesos v0, pymesos v1, Rust driver) reregistered after {back_after:.1f}s "
            f"(session timeout {SESSION}); 8 tasks finished, "
            f"none lost")
