"""Docker tasks on our agent with --containerizers=docker,mesos, launched by a
framework we did not write (PyPI pesos, v0) through our master.

The image is built here (docker/build.sh: debootstrap base, no registry).
Docker tasks run in the local engine via our Docker containerizer and
mesos-docker-executor, next to a plain command task on the Mesos
containerizer, in one framework and one offer stream.
"""

import json
import re
import subprocess
import time

import pytest

import harness

IMAGE = "mesos-rs-task"


@pytest.fixture(scope="session")
def task_image(repo_root):
    subprocess.run([str(repo_root / "docker" / "build.sh"), "task"], check=True, timeout=900)
    return IMAGE


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


def docker_agent_argv(binary, run_dir, master_port, agent_port, extra=()):
    return [
        binary("mesos-agent"),
        f"--master=127.0.0.1:{master_port}",
        f"--work_dir={run_dir / 'agent'}",
        f"--port={agent_port}",
        "--ip=127.0.0.1",
        "--hostname=localhost",
        "--resources=cpus:8;mem:4096;disk:4096;ports:[31000-32000]",
        "--containerizers=docker,mesos",
        "--docker_socket=/var/run/docker.sock",
        # The engine is shared with whatever else runs on this machine.
        "--docker_kill_orphans=false",
        "--launcher=posix",
        "--isolation=posix/cpu,posix/mem",
        "--switch_user=false",
        "--registration_backoff_factor=10ms",
        f"--fetcher_cache_dir={run_dir / 'fetch'}",
        *extra,
    ]


def remove_containers(run_dir):
    ids = {p.name for p in (run_dir / "agent").glob("slaves/*/frameworks/*/executors/*/runs/*")
           if p.name != "latest"}
    for cid in ids:
        subprocess.run(["docker", "rm", "-f", f"mesos-{cid}"], capture_output=True)


def sandbox(run_dir, task_id):
    runs = list((run_dir / "agent").glob(f"slaves/*/frameworks/*/executors/{task_id}/runs/latest"))
    assert runs, f"no sandbox for {task_id}"
    return runs[0]


def test_pesos_docker_and_mesos_tasks_side_by_side(binary, free_port, procs, run_dir, wait_http, pesos_cmd,
                                                   task_image, summary):
    master_port, agent_port, web_port = free_port(), free_port(), free_port()
    # A host port inside the agent's range that nothing listens on.
    host_port = 31000 + web_port % 1000
    master = procs.start("mesos-master", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                          "--registry=in_memory"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    agent = procs.start("mesos-agent", docker_agent_argv(binary, run_dir, master_port, agent_port))
    wait_http(f"http://127.0.0.1:{agent_port}/state", proc=agent)
    specs = [
        {"id": "d-finish", "image": task_image,
         "command": "echo name=$MESOS_CONTAINER_NAME sandbox=$MESOS_SANDBOX; echo to-stderr >&2; "
                    "test -d /mnt/mesos/sandbox && echo mapped-ok"},
        {"id": "d-bridge", "image": task_image, "network": "BRIDGE", "ports": [[host_port, 8000]],
         "command": "mkdir -p /srv && echo docker-bridge-ok > /srv/index.html && cd /srv && "
                    "exec python3 -m http.server 8000",
         "probe": "http", "kill": True, "kill_after": 3},
        {"id": "d-exit3", "image": task_image, "command": "exit 3"},
        {"id": "d-oom", "image": task_image, "mem": 32,
         "command": "python3 -c \"b = b'x' * (300 * 1024 * 1024); import time; time.sleep(30)\""},
        {"id": "d-force-pull", "image": task_image, "force_pull": True, "command": "true"},
        {"id": "c-mesos", "command": "echo on the mesos containerizer"},
    ]
    started = time.time()
    try:
        framework = procs.start("pesos_docker_framework",
                                pesos_cmd("pesos_docker_framework.py", "--master", f"127.0.0.1:{master_port}",
                                          "--tasks-json", json.dumps(specs), "--timeout", 150),
                                env=harness.PESOS_ENV)
        # While the bridge task runs, the agent reports its container's usage.
        stats = []

        def bridge_stats():
            for e in events(framework):
                if e["event"] == "probe":
                    resp = harness.requests.get(f"http://127.0.0.1:{agent_port}/monitor/statistics", timeout=5)
                    stats[:] = [s for s in resp.json() if s["executor_id"] == "d-bridge"]
                    return bool(stats)
            return False

        harness.wait_until(bridge_stats, timeout=120, what="the bridge task's statistics", proc=framework)
        assert framework.wait(timeout=160) == 0, framework.log()
        elapsed = time.time() - started
        seen = events(framework)
        final = {e["task_id"]: e for e in seen if e["event"] == "update"}
        states = {t: e["state"] for t, e in final.items()}
        assert states == {
            "d-finish": "TASK_FINISHED",
            "d-bridge": "TASK_KILLED",
            "d-exit3": "TASK_FAILED",
            "d-oom": "TASK_FAILED",
            "d-force-pull": "TASK_FAILED",
            "c-mesos": "TASK_FINISHED",
        }, seen
        # Exit statuses as Mesos's docker executor words them; the OOM kill is
        # a plain failure with status 137 (Mesos's docker executor sets no
        # limitation reason).
        assert final["d-exit3"]["message"] == "Container exited with status 3", final["d-exit3"]
        assert final["d-oom"]["message"] == "Container exited with status 137", final["d-oom"]
        # The image cannot be pulled here: the engine's own message.
        assert final["d-force-pull"]["message"].startswith("Failed to launch container: Failed to pull image"), \
            final["d-force-pull"]
        # BRIDGE network with a port mapping from the offered ports: reachable.
        probe = [e for e in seen if e["event"] == "probe"][0]
        assert probe["body"] is not None and probe["body"].strip() == "docker-bridge-ok", probe
        # Usage from the engine.
        statistics = stats[0]["statistics"]
        assert statistics["mem_total_bytes"] > 0 and statistics["cpus_limit"] == pytest.approx(0.2), stats  # task + executor
        # The task's output is in its sandbox, the sandbox mapped in the container.
        out = (sandbox(run_dir, "d-finish") / "stdout").read_text()
        assert re.search(r"name=mesos-[0-9a-f-]{36} sandbox=/mnt/mesos/sandbox", out), out
        assert "mapped-ok" in out, out
        assert "to-stderr" in (sandbox(run_dir, "d-finish") / "stderr").read_text()
        assert "on the mesos containerizer" in (sandbox(run_dir, "c-mesos") / "stdout").read_text()
        # Every update arrived in order: RUNNING before the terminal state.
        for task in ("d-finish", "d-bridge", "c-mesos"):
            task_states = [e["state"] for e in seen if e["event"] == "update" and e["task_id"] == task]
            assert "TASK_RUNNING" in task_states and task_states[-1] == states[task], (task, task_states)
        summary(f"docker containerizer + pesos: 5 Docker tasks (finish, bridge+port, exit 3, OOM, "
                f"force pull) and 1 Mesos-containerizer task in {elapsed:.1f}s")
    finally:
        remove_containers(run_dir)


def test_mesos_execute_docker_image(binary, free_port, procs, run_dir, wait_http, task_image, summary):
    """Our `mesos-execute --docker_image=... --containerizer=docker` (the v1
    scheduler API) runs a command in a Docker container on our agent: exit 0
    on TASK_FINISHED, the output in the task's sandbox."""
    master_port, agent_port = free_port(), free_port()
    master = procs.start("mesos-master", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                          "--registry=in_memory"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    agent = procs.start("mesos-agent", docker_agent_argv(binary, run_dir, master_port, agent_port))
    harness.wait_until(lambda: harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5)
                       .json()["slaves"], what="the agent to register", proc=agent)
    try:
        started = time.time()
        status, output = procs.run("mesos-execute", [
            binary("mesos-execute"), f"--master=127.0.0.1:{master_port}", "--name=dexec",
            "--command=echo hello from $MESOS_CONTAINER_NAME in $MESOS_SANDBOX", f"--docker_image={task_image}",
            "--containerizer=docker", "--resources=cpus:0.1;mem:32"], timeout=90, check=False)
        elapsed = time.time() - started
        assert status == 0, output
        assert "Received status update TASK_RUNNING for task 'dexec'" in output, output
        assert "Received status update TASK_FINISHED for task 'dexec'" in output, output
        out = (sandbox(run_dir, "dexec") / "stdout").read_text()
        assert re.search(r"hello from mesos-[0-9a-f-]{36} in /mnt/mesos/sandbox", out), out
        summary(f"mesos-execute --docker_image={task_image} --containerizer=docker: TASK_FINISHED, exit 0, "
                f"{elapsed:.1f}s end to end")
    finally:
        remove_containers(run_dir)
