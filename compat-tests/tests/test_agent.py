"""Our mesos-agent with third-party v0 code on both of its sides.

- The master's side is PyPI `compactor` with Apache's generated `_pb2`
  classes (clients/agent_master.py): our agent must register with it, take
  its RunTaskMessages and deliver every status update, decodable by
  Apache's classes.
- The executor's side is PyPI `pesos`'s executor driver (a port of Mesos's
  exec.cpp; clients/pesos_executor.py), registering with our agent over
  libprocess, running tasks, exchanging framework messages, and shut down by
  the agent when the framework is.
- Command tasks run on our own mesos-executor (v1 executor HTTP API).
"""

import json
import shlex

import harness


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


def agent_argv(binary, run_dir, master_port, agent_port):
    return [
        binary("mesos-agent"),
        f"--master=127.0.0.1:{master_port}",
        f"--work_dir={run_dir / 'agent'}",
        f"--port={agent_port}",
        "--ip=127.0.0.1",
        "--hostname=localhost",
        "--resources=cpus:8;mem:4096;disk:4096;ports:[31000-31100]",
        "--launcher=posix",
        "--isolation=posix/cpu,posix/mem",
        "--switch_user=false",
        "--registration_backoff_factor=10ms",
        f"--fetcher_cache_dir={run_dir / 'fetch'}",
    ]


def test_pesos_executor_and_command_tasks_on_our_agent(binary, free_port, procs, run_dir, wait_until,
                                                       pesos_cmd, summary):
    master_port, agent_port = free_port(), free_port()
    executor_cmd = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python " + " ".join(
        shlex.quote(a) for a in pesos_cmd("pesos_executor.py"))
    master = procs.start(
        "agent_master",
        pesos_cmd("agent_master.py", "--port", master_port, "--executor-cmd", executor_cmd,
                  "--executor-tasks", 3, "--command-tasks", 3),
        env=harness.PESOS_ENV,
    )
    wait_until(lambda: any(e["event"] == "listening" for e in events(master)), what="the compactor master",
               proc=master)
    agent = procs.start("mesos-agent", agent_argv(binary, run_dir, master_port, agent_port))
    status = master.wait(timeout=300)
    seen = events(master)
    assert status == 0, master.log()
    done = [e for e in seen if e["event"] == "done"][0]
    terminal = done["terminal"]
    assert terminal == {
        "pesos-0": "TASK_KILLED",
        "pesos-1": "TASK_FINISHED",
        "pesos-2": "TASK_FINISHED",
        "cmd-0": "TASK_FINISHED",
        "cmd-1": "TASK_FINISHED",
        "cmd-2": "TASK_FINISHED",
    }, seen
    # The framework message went through the agent to pesos's driver and back.
    assert [e["data"] for e in seen if e["event"] == "message"] == ["echo:hello"]
    # Every update arrived once, and in order per task.
    assert not [e for e in seen if e["event"] == "duplicate"], seen
    for task in terminal:
        states = [e["state"] for e in seen if e["event"] == "update" and e["task"] == task]
        assert states[0] in ("TASK_STARTING", "TASK_RUNNING"), (task, states)
        assert states[-1] == terminal[task], (task, states)
    latencies = sorted(done["running_latency_ms"])
    summary(f"agent + pesos executor + command executor: 6 tasks, launch-to-RUNNING median "
            f"{latencies[len(latencies) // 2]} ms (compactor master, no allocator)")
    # The agent shuts the pesos executor down with the framework; its state
    # shows the framework completed.
    resp = harness.wait_http(f"http://127.0.0.1:{agent_port}/state")

    def framework_completed():
        state = harness.requests.get(f"http://127.0.0.1:{agent_port}/state", timeout=5).json()
        return any(f["id"] == "F-compat-1" for f in state["completed_frameworks"]) and not state["frameworks"]

    wait_until(framework_completed, timeout=60, what="the framework to be completed", proc=agent)
    assert resp.json()["id"] == "S-compat-1"


def test_e2e_our_master_our_agent_pesos_framework_100_tasks(binary, free_port, procs, run_dir, wait_http,
                                                              wait_until, pesos_cmd, summary):
    """Issue 4's end-to-end run: our mesos-master, our mesos-agent, and PyPI
    pesos as the framework, launching 100 tasks, half on our command executor
    and half on a pesos custom executor. All must finish."""
    master_port, agent_port = free_port(), free_port()
    master = procs.start("mesos-master", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                          "--registry=in_memory"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    agent = procs.start("mesos-agent", agent_argv(binary, run_dir, master_port, agent_port))

    def registered():
        slaves = harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()["slaves"]
        return len(slaves) == 1 and slaves[0]

    wait_until(registered, timeout=60, what="the agent to register with the master", proc=agent)

    executor_cmd = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python " + " ".join(
        shlex.quote(a) for a in pesos_cmd("pesos_executor.py"))
    framework = procs.start(
        "pesos_e2e_framework",
        pesos_cmd("pesos_e2e_framework.py", "--master", f"127.0.0.1:{master_port}", "--tasks", 100,
                  "--executor-cmd", executor_cmd),
        env=harness.PESOS_ENV,
    )
    status = framework.wait(timeout=280)
    seen = events(framework)
    assert status == 0, framework.log()[-4000:]
    done = [e for e in seen if e["event"] == "done"][0]
    assert done["finished"] == 100
    updates = [e for e in seen if e["event"] == "update"]
    finished = {e["task_id"]: e["kind"] for e in updates if e["state"] == "TASK_FINISHED"}
    assert len(finished) == 100
    assert sorted(set(finished.values())) == ["command", "custom"]
    assert sum(1 for k in finished.values() if k == "custom") == 50
    for task_id in finished:
        states = [e["state"] for e in updates if e["task_id"] == task_id]
        assert states[-1] == "TASK_FINISHED" and "TASK_RUNNING" in states, (task_id, states)
        assert states.count("TASK_FINISHED") == 1, (task_id, states)
    latencies = sorted(done["running_latency_ms"])
    median = latencies[len(latencies) // 2]
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    summary(f"e2e (our master + our agent + pesos): 100 tasks (50 command executor, 50 pesos executor) "
            f"finished in {done['seconds']}s; launch-to-RUNNING median {median} ms, p95 {p95} ms")

    # The agent's own view: every task finished, on both kinds of executor.
    def all_completed():
        state = harness.requests.get(f"http://127.0.0.1:{agent_port}/state", timeout=5).json()
        tasks = []
        for f in state["frameworks"] + state["completed_frameworks"]:
            for e in f["executors"] + f["completed_executors"]:
                tasks.extend(t for t in e["completed_tasks"] if t["state"] == "TASK_FINISHED")
        return len(tasks) == 100

    wait_until(all_completed, timeout=60, what="the agent to show 100 finished tasks", proc=agent)
