"""Our mesos-master against clients we did not write.

- PyPI `pesos` (a v0 scheduler driver, Mesos ~0.22 messages) registers a
  framework, gets offers from agents simulated over the real wire
  (`examples/sim_agents`), launches tasks and sees them finish; the master's
  `/master/state` and `/master/tasks` then show them completed.
- The binary takes its flags as Mesos does: `MESOS_*` environment, `--help`,
  `--version`, unknown flags refused.
- With the default registry (`replicated_log`, local under `--work_dir`), a
  restarted master remembers the agents it admitted.
"""

import json

import requests


def start_master(procs, binary, port, *extra, env=None):
    argv = [binary("mesos-master"), "--ip=127.0.0.1", f"--port={port}", *extra]
    return procs.start("mesos-master", argv, env=env)


def state(port):
    return requests.get(f"http://127.0.0.1:{port}/master/state", timeout=5).json()


def start_agents(procs, binary, master_port, agents_port, count, duration="2secs"):
    argv = [
        binary("sim_agents", example=True),
        f"--master=127.0.0.1:{master_port}",
        f"--agents={count}",
        "--ip=127.0.0.1",
        f"--port={agents_port}",
        f"--task_duration={duration}",
        "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
    ]
    return procs.start("sim_agents", argv)


def test_pesos_runs_tasks_on_agents_over_the_wire(procs, binary, free_port, wait_http, wait_until, run_pesos, summary):
    port, agents_port = free_port(), free_port()
    master = start_master(procs, binary, port, "--registry=in_memory")
    wait_http(f"http://127.0.0.1:{port}/master/health", proc=master)
    agents = start_agents(procs, binary, port, agents_port, 2)
    wait_until(lambda: len(state(port)["slaves"]) == 2, what="2 agents registered", proc=agents)

    status, output = run_pesos("pesos_scheduler.py", "--master", f"127.0.0.1:{port}", "--tasks", "4", timeout=120)
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    registered = next(e for e in events if e["event"] == "registered")
    # (pesos's Mesos 0.22 MasterInfo has no `version`; see /master/state.)
    assert registered["master"]["pid"] == f"master@127.0.0.1:{port}"
    assert registered["master"]["port"] == port
    framework_id = registered["framework_id"]
    assert framework_id.startswith(registered["master"]["id"] + "-0000")
    launched = [e for e in events if e["event"] == "launched"]
    assert len(launched) == 4
    updates = [e for e in events if e["event"] == "update"]
    for task in (e["task_id"] for e in launched):
        states = [u["state"] for u in updates if u["task_id"] == task]
        assert states == ["TASK_RUNNING", "TASK_FINISHED"], (task, states)
    assert events[-1] == {"event": "done", "finished": 4}

    # The driver unregistered: the framework and its tasks are completed.
    def completed():
        s = state(port)
        return [f for f in s["completed_frameworks"] if f["id"] == framework_id] and s

    s = wait_until(completed, what="the framework completed")
    assert s["version"] == "1.11.0"
    assert s["frameworks"] == []
    framework = next(f for f in s["completed_frameworks"] if f["id"] == framework_id)
    assert framework["name"] == "pesos-e2e"
    assert framework["user"] == "nobody"
    assert sorted(t["state"] for t in framework["completed_tasks"]) == ["TASK_FINISHED"] * 4
    for task in framework["completed_tasks"]:
        assert task["resources"]["cpus"] == 0.5 and task["resources"]["mem"] == 32
        assert [st["state"] for st in task["statuses"]] == ["TASK_RUNNING", "TASK_FINISHED"]
    for agent in s["slaves"]:
        assert agent["used_resources"]["cpus"] == 0
        assert agent["resources"]["cpus"] == 2 and agent["resources"]["ports"] == "[31000-31100]"
        assert agent["active"] is True
    tasks = requests.get(f"http://127.0.0.1:{port}/master/tasks?order=asc", timeout=5).json()["tasks"]
    assert sorted(t["id"] for t in tasks) == [f"pesos-task-{i}" for i in range(4)]
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics/snapshot", timeout=5).json()
    assert metrics["master/tasks_finished"] == 4
    assert metrics["master/slaves_active"] == 2
    assert metrics["master/frameworks_active"] == 0
    summary(f"pesos e2e: 4 tasks RUNNING -> FINISHED on 2 simulated agents; framework {framework_id} completed")


def test_flags_come_from_the_environment_and_unknown_ones_are_refused(procs, binary, free_port, wait_http):
    status, output = procs.run("mesos-master-unknown", [binary("mesos-master"), "--no_such_flag=1"], check=False)
    assert status == 1
    assert "Failed to load unknown flag 'no_such_flag'" in output
    assert "See `mesos-master --help` for a list of supported flags." in output

    status, output = procs.run("mesos-master-help", [binary("mesos-master"), "--help"])
    assert "--agent_reregister_timeout=VALUE" in output and "--[no-]hostname_lookup" in output
    status, output = procs.run("mesos-master-version", [binary("mesos-master"), "--version"])
    assert output.strip().endswith("mesos 1.11.0")

    status, output = procs.run(
        "mesos-master-bad-value",
        [binary("mesos-master"), "--registry=in_memory", "--agent_reregister_timeout=1mins"],
        check=False,
    )
    assert status == 1
    assert "Invalid value '1mins' for --agent_reregister_timeout: Must be at least 10mins" in output
    # As in Mesos, the replicated-log registry needs a work directory.
    status, output = procs.run("mesos-master-no-work-dir", [binary("mesos-master")], check=False)
    assert status == 1 and "--work_dir needed for replicated log based registry" in output

    port = free_port()
    env = {"MESOS_IP": "127.0.0.1", "MESOS_PORT": str(port), "MESOS_REGISTRY": "in_memory",
           "MESOS_CLUSTER": "compat", "MESOS_SLAVE_PING_TIMEOUT": "20secs"}
    master = procs.start("mesos-master", [binary("mesos-master")], env=env)
    flags = wait_http(f"http://127.0.0.1:{port}/master/flags", proc=master).json()["flags"]
    assert flags["port"] == str(port)
    assert flags["cluster"] == "compat"
    assert flags["agent_ping_timeout"] == "20secs"
    assert flags["registry"] == "in_memory"
    s = state(port)
    assert s["cluster"] == "compat"
    assert s["flags"]["cluster"] == "compat"
    assert s["version"] == "1.11.0"
    assert s["leader"] == s["pid"] == f"master@127.0.0.1:{port}"
    assert requests.get(f"http://127.0.0.1:{port}/version", timeout=5).json()["version"] == "1.11.0"
    redirect = requests.get(f"http://127.0.0.1:{port}/master/redirect", allow_redirects=False, timeout=5)
    assert redirect.status_code == 307
    assert redirect.headers["Location"].endswith(f":{port}")


def test_the_local_registry_survives_a_master_restart(procs, binary, free_port, wait_http, wait_until, run_dir):
    port, agents_port = free_port(), free_port()
    work_dir = run_dir / "master-work"
    master = start_master(procs, binary, port, f"--work_dir={work_dir}")
    wait_http(f"http://127.0.0.1:{port}/master/health", proc=master)
    agents = start_agents(procs, binary, port, agents_port, 1)
    s = wait_until(lambda: state(port)["slaves"] and state(port), what="the agent registered", proc=agents)
    agent_id = s["slaves"][0]["id"]
    assert (work_dir / "registry.pb").is_file()
    master.kill()
    agents.stop()

    master = start_master(procs, binary, port, f"--work_dir={work_dir}")
    s = wait_http(f"http://127.0.0.1:{port}/master/state", proc=master).json()
    assert s["slaves"] == []
    assert [a["id"] for a in s["recovered_slaves"]] == [agent_id]
