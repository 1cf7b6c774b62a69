"""Failover figures: how long a cluster of our masters is without a leader.

    compat-tests/.venv/bin/python compat-tests/bench/failover.py \
        [--sim-agents 1000] [--session-timeout 2secs] [--rounds 1]

Not part of the test suite (it asserts nothing about time); it prints figures.
Needs `cargo build --bins --examples` and Debian's ZooKeeper (compat-tests/setup.sh).

For each cluster (three `mesos-master --zk` on one ZooKeeper):
* 2 real agents (`mesos-agent --master=zk://...`);
* N simulated agents (`examples/sim_agents --master=zk://... --agents=N`: N v0
  agents over our libprocess wire in one process, following the leader
  through ZooKeeper as real agents do);
and for each way the leader goes (SIGKILL: the others wait for its ZooKeeper
session to expire; SIGTERM: it withdraws its znode at once), it measures
from the signal to
* a new leader serving (`GET /master/state` answers 200 from another master),
* every agent reregistered with it (its `/master/state-summary` counts them
  all active).
"""

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))

import harness  # noqa: E402
import zkserver  # noqa: E402


def get(port, path, timeout=5):
    try:
        r = harness.requests.get(f"http://127.0.0.1:{port}{path}", timeout=timeout, allow_redirects=False)
    except harness.requests.RequestException:
        return None
    return r


def leader(masters, ports):
    for i, port in enumerate(ports[:len(masters)]):
        if masters[i].alive():
            r = get(port, "/master/state-summary")
            if r is not None and r.status_code == 200:
                return i, r.json()
    return None


def wait(predicate, timeout, what, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def run_case(ports_source, work, agents_kind, n_agents, how, session_timeout):
    procs = harness.Processes(work)
    try:
        zk = zkserver.start(procs, work, ports_source.get)
        url = zk.url("/mesos")
        ports = [ports_source.get() for _ in range(3)]
        masters = []
        for i, port in enumerate(ports):
            masters.append(procs.start(f"master{i}", [
                harness.built("mesos-master"), "--ip=127.0.0.1", f"--port={port}", f"--zk={url}", "--quorum=2",
                f"--work_dir={work / f'master{i}'}", f"--zk_session_timeout={session_timeout}",
                "--hostname=127.0.0.1", "--logging_level=WARNING",
            ], env={"RUST_LOG": "warn"}))
            if i == 0:
                wait(lambda: leader(masters, ports), 60, "master0 to lead")
        sim = None
        if agents_kind == "real":
            for i in range(n_agents):
                procs.start(f"agent{i}", [
                    harness.built("mesos-agent"), f"--master={url}", f"--work_dir={work / f'agent{i}'}",
                    f"--port={ports_source.get()}", "--ip=127.0.0.1", f"--hostname=agent{i}",
                    "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]", "--launcher=posix",
                    "--isolation=posix/cpu,posix/mem", "--switch_user=false",
                    "--registration_backoff_factor=10ms", f"--fetcher_cache_dir={work / 'fetch'}",
                ], env={"RUST_LOG": "warn"})
        else:
            sim = procs.start("sim_agents", [
                harness.built("sim_agents", example=True), f"--master={url}", f"--agents={n_agents}",
                "--task_duration=forever",
            ], env={"RUST_LOG": "warn"})

        def all_active(index):
            found = leader(masters, ports)
            if not found or found[0] != index:
                return False
            return sum(1 for s in found[1]["slaves"] if s["active"]) == n_agents

        started = time.time()
        wait(lambda: all_active(0), 300, f"{n_agents} agents to register")
        registered_in = time.time() - started
        time.sleep(1.0)  # let pings and registry writes settle

        t0 = time.time()
        if how == "sigkill":
            masters[0].kill()
        else:
            masters[0].signal(signal.SIGTERM)
        new, _ = wait(lambda: (lambda f: f if f and f[0] != 0 else None)(leader(masters, ports)), 120,
                      "a new leader")
        serving = time.time() - t0
        wait(lambda: all_active(new), 600, f"{n_agents} agents to reregister")
        back = time.time() - t0
        return {"agents": f"{n_agents} {agents_kind}", "how": how, "first registration s": round(registered_in, 2),
                "new leader serving s": round(serving, 2), "all agents reregistered s": round(back, 2)}
    finally:
        procs.stop_all()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim-agents", type=int, default=1000)
    parser.add_argument("--real-agents", type=int, default=2)
    parser.add_argument("--session-timeout", default="2secs")
    parser.add_argument("--how", action="append", choices=["sigkill", "sigterm"])
    args = parser.parse_args()
    ports = harness.Ports()
    rows = []
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        n = 0
        for kind, count in (("real", args.real_agents), ("simulated", args.sim_agents)):
            for how in args.how or ["sigkill", "sigterm"]:
                n += 1
                work = Path(tmp) / f"case{n}"
                work.mkdir()
                row = run_case(ports, work, kind, count, how, args.session_timeout)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(f"\nleader failover, 3 masters, --zk_session_timeout={args.session_timeout}")
    print(f"{'agents':>16} {'how':>8} {'new leader serving':>20} {'all agents reregistered':>25}")
    for r in rows:
        print(f"{r['agents']:>16} {r['how']:>8} {r['new leader serving s']:>19.2f}s "
              f"{r['all agents reregistered s']:>24.2f}s")


if __name__ == "__main__":
    main()
