"""The v1 scheduler API (`/api/v1/scheduler`) against clients we did not write.

- PyPI `pymesos` (v1 scheduler and v1 executor, JSON over HTTP) runs a
  framework on our mesos-master and mesos-agent, its tasks on its own
  executor (clients/pymesos_executor.py): launch, updates, framework messages
  both ways, reconciliation, kill, decline filters, suppress/revive,
  teardown; and a restarted scheduler inside its failover timeout finds its
  task still running.
- PyPI `mesoshttp` launches command tasks to TASK_FINISHED.
- A v0 framework (PyPI `pesos`) and a v1 one (`pymesos`) share a cluster
  under DRF.
- Malformed calls get Mesos's status codes and messages while a
  well-behaved subscriber keeps being served.
- Our `mesos-execute` runs a command to TASK_FINISHED (exit 0) and a failing
  one to TASK_FAILED (non-zero exit).
"""

import json
import shlex
import sys
import time

import requests

import harness

CLIENTS = harness.COMPAT / "clients"
V1 = "/api/v1/scheduler"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def lines(proc):
    out = []
    for line in proc.log().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def start_master(procs, binary, port, *extra):
    argv = [binary("mesos-master"), "--ip=127.0.0.1", f"--port={port}", "--registry=in_memory", *extra]
    return procs.start("mesos-master", argv)


def start_agent(procs, binary, run_dir, master_port, agent_port, resources="cpus:4;mem:2048;disk:4096"):
    argv = [
        binary("mesos-agent"),
        f"--master=127.0.0.1:{master_port}",
        f"--work_dir={run_dir / 'agent'}",
        f"--port={agent_port}",
        "--ip=127.0.0.1",
        "--hostname=localhost",
        f"--resources={resources}",
        "--launcher=posix",
        "--isolation=posix/cpu,posix/mem",
        "--switch_user=false",
        "--registration_backoff_factor=10ms",
        f"--fetcher_cache_dir={run_dir / 'fetch'}",
    ]
    return procs.start("mesos-agent", argv)


def master_state(port):
    return requests.get(f"http://127.0.0.1:{port}/master/state", timeout=5).json()


def cluster(procs, binary, run_dir, free_port, wait_http, wait_until, agents=1):
    port = free_port()
    master = start_master(procs, binary, port)
    wait_http(f"http://127.0.0.1:{port}/master/health", proc=master)
    for i in range(agents):
        start_agent(procs, binary, run_dir / f"a{i}", port, free_port())
    wait_until(lambda: len(master_state(port)["slaves"]) == agents, what="agents registered", proc=master)
    return port


def pymesos(procs, name, *args):
    python = str(harness.COMPAT / ".venv" / "bin" / "python")
    return procs.start(name, [python, str(CLIENTS / "pymesos_scheduler.py"), *map(str, args)])


def executor_cmd():
    python = str(harness.COMPAT / ".venv" / "bin" / "python")
    return f"{shlex.quote(python)} {shlex.quote(str(CLIENTS / 'pymesos_executor.py'))}"


def test_pymesos_scheduler_and_executor_full_walk(procs, binary, run_dir, free_port, wait_http, wait_until,
                                                  summary):
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    sched = pymesos(procs, "pymesos-full", "--master", f"127.0.0.1:{port}", "--mode", "full",
                    "--executor-cmd", executor_cmd(), "--refuse-seconds", 3, "--suppress-seconds", 3)
    assert sched.wait(timeout=120) == 0, sched.log()
    seen = lines(sched)
    registered = next(e for e in seen if e["event"] == "registered")
    framework_id = registered["framework_id"]
    assert registered["master"]["version"] == "1.11.0"
    updates = [(e["task_id"], e["state"]) for e in seen if e["event"] == "update"]
    assert ("finish-1", "TASK_RUNNING") in updates and ("finish-1", "TASK_FINISHED") in updates, updates
    assert ("run-1", "TASK_RUNNING") in updates and ("run-1", "TASK_KILLED") in updates, updates
    # Agent-generated updates carry a uuid (pymesos acknowledged them);
    # the reconciliation answer, from the master, does not.
    reconciled = [e for e in seen if e["event"] == "update" and e["reason"] == "REASON_RECONCILIATION"]
    assert reconciled and all(not e["has_uuid"] for e in reconciled), reconciled
    assert all(e["has_uuid"] for e in seen if e["event"] == "update" and e["source"] == "SOURCE_EXECUTOR")
    assert [e["data"] for e in seen if e["event"] == "message"] == ["echo:hello"]
    assert any(e["event"] == "reconciled" for e in seen)
    # refuse_seconds=3 is honoured: no offer of that agent for 3 seconds.
    reoffered = next(e for e in seen if e["event"] == "reoffered")
    assert reoffered["after"] >= 2.9, reoffered
    # Suppressed: no offers for 3 seconds; revived: offers again.
    assert not [e for e in seen if e["event"] == "offer_while_suppressed"], seen
    revived = next(e for e in seen if e["event"] == "revived_offer")
    assert revived["after"] < 3.0, revived
    # TEARDOWN removed the framework; the agent acknowledged every update.
    state = master_state(port)
    assert [f["id"] for f in state["completed_frameworks"]] == [framework_id]
    assert not state["frameworks"]
    # The agent shut pymesos's executor down with the framework (SHUTDOWN
    # event); the executor saw the whole conversation.
    sandbox = next((run_dir / "a0" / "agent").glob("slaves/*/frameworks/*/executors/pymesos-exec/runs/latest"))

    def executor_log():
        path = sandbox / "stderr"
        return path.read_text() if path.exists() else ""

    wait_until(lambda: "pymesos-executor: shutdown" in executor_log(), what="the executor's SHUTDOWN")
    for line in ("registered on agent", "launch run-1 (run)", "launch finish-1 (finish)", "message hello",
                 "kill run-1"):
        assert f"pymesos-executor: {line}" in executor_log(), executor_log()
    summary(f"pymesos v1 walk: refuse_seconds=3 -> reoffer after {reoffered['after']} s, "
            f"revive -> offer after {revived['after']} s")


def test_pymesos_failover_keeps_the_running_task(procs, binary, run_dir, free_port, wait_http, wait_until):
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    first = pymesos(procs, "pymesos-start", "--master", f"127.0.0.1:{port}", "--mode", "start",
                    "--executor-cmd", executor_cmd(), "--failover-timeout", 60)
    assert first.wait(timeout=60) == 0, first.log()
    framework_id = next(e for e in lines(first) if e["event"] == "running")["framework_id"]
    # The scheduler is gone: the framework is disconnected, its task runs.
    wait_until(lambda: not master_state(port)["frameworks"][0]["connected"], what="framework disconnected")
    framework = master_state(port)["frameworks"][0]
    assert framework["id"] == framework_id and framework["tasks"][0]["state"] == "TASK_RUNNING"
    second = pymesos(procs, "pymesos-resume", "--master", f"127.0.0.1:{port}", "--mode", "resume",
                     "--framework-id", framework_id, "--failover-timeout", 60)
    assert second.wait(timeout=60) == 0, second.log()
    seen = lines(second)
    assert next(e for e in seen if e["event"] == "reregistered")["framework_id"] == framework_id
    assert any(e["event"] == "reconciled" and e["state"] == "TASK_RUNNING" for e in seen), seen
    assert ("survivor", "TASK_KILLED") in [(e["task_id"], e["state"]) for e in seen if e["event"] == "update"]


def test_mesoshttp_launches_tasks_to_finished(procs, binary, run_dir, free_port, wait_http, wait_until):
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    python = str(harness.COMPAT / ".venv" / "bin" / "python")
    client = procs.start("mesoshttp", [python, str(CLIENTS / "mesoshttp_framework.py"),
                                       "--master", f"http://127.0.0.1:{port}", "--tasks", "2"])
    assert client.wait(timeout=90) == 0, client.log()
    seen = lines(client)
    finished = sorted(e["task_id"] for e in seen if e["event"] == "update" and e["state"] == "TASK_FINISHED")
    assert finished == ["mesoshttp-0", "mesoshttp-1"], seen


def subscribe(port, name="well-behaved"):
    body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "nobody", "name": name}}}
    resp = requests.post(f"http://127.0.0.1:{port}{V1}", json=body, headers=JSON_HEADERS, stream=True, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    return resp, resp.headers["Mesos-Stream-Id"], records(resp)


def records(resp):
    """RecordIO records of a streaming response, as JSON."""
    raw = resp.raw
    while True:
        size = b""
        while not size.endswith(b"\n"):
            byte = raw.read(1)
            if not byte:
                return
            size += byte
        data = raw.read(int(size))
        yield json.loads(data)


def test_malformed_calls_get_mesos_answers_and_others_keep_being_served(procs, binary, free_port, wait_http):
    port = free_port()
    master = start_master(procs, binary, port)
    wait_http(f"http://127.0.0.1:{port}/master/health", proc=master)
    stream, stream_id, events = subscribe(port)
    subscribed = next(events)
    assert subscribed["type"] == "SUBSCRIBED"
    assert subscribed["subscribed"]["heartbeat_interval_seconds"] == 15
    framework_id = subscribed["subscribed"]["framework_id"]["value"]
    url = f"http://127.0.0.1:{port}{V1}"
    revive = {"type": "REVIVE", "framework_id": {"value": framework_id}}
    with_stream = {**JSON_HEADERS, "Mesos-Stream-Id": stream_id}

    def post(data, headers, expect, text):
        resp = requests.post(url, data=data, headers=headers, timeout=30)
        assert resp.status_code == expect, (data[:80], resp.status_code, resp.text)
        assert text in resp.text, (text, resp.text)

    post(b"{not json", with_stream, 400, "Failed to parse body into JSON")
    post(b"\xff\xff\xff", {**with_stream, "Content-Type": "application/x-protobuf"}, 400,
         "Failed to parse body into Call protobuf")
    post(json.dumps({"type": "REVIVE"}), with_stream, 400,
         "Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
    post(json.dumps({"type": "SUBSCRIBE"}), JSON_HEADERS, 400, "Expecting 'subscribe' to be present")
    post(json.dumps(revive), {**JSON_HEADERS, "Mesos-Stream-Id": "not-the-stream"}, 400,
         f"didn't match the stream ID currently associated with framework ID {framework_id}")
    post(json.dumps(revive), JSON_HEADERS, 400,
         "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    post(json.dumps({**revive, "framework_id": {"value": "no-such-framework"}}), with_stream, 400,
         "Framework cannot be found")
    # An unknown enum name is dropped (stout's JSON parser): no type.
    post(json.dumps({**revive, "type": "NO_SUCH_CALL"}), with_stream, 400, "Expecting 'type' to be present")
    post(json.dumps({**revive, "type": "UNKNOWN"}), with_stream, 501, "")
    post(json.dumps(revive), {**with_stream, "Content-Type": "text/plain"}, 415,
         "Expecting 'Content-Type' of application/json or application/x-protobuf")
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "x"}}}
    post(json.dumps(sub), {**JSON_HEADERS, "Accept": "text/html"}, 406,
         "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
    post(json.dumps(sub), with_stream, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
    post(b"x" * (17 * 1024 * 1024), with_stream, 413, "exceeds the limit")
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert resp.text == "Expecting one of { 'POST' }, but received 'GET'"
    # The well-behaved framework is still subscribed and served.
    resp = requests.post(url, data=json.dumps(revive), headers=with_stream, timeout=5)
    assert resp.status_code == 202, resp.text
    assert next(events)["type"] == "HEARTBEAT"
    framework = master_state(port)["frameworks"][0]
    assert framework["id"] == framework_id and framework["active"]
    stream.close()
    # A stream in protobuf for a scheduler that accepts only protobuf.
    proto = requests.post(url, data=json.dumps(sub), stream=True, timeout=10,
                          headers={"Content-Type": "application/json", "Accept": "application/x-protobuf"})
    assert proto.status_code == 200 and proto.headers["Content-Type"] == "application/x-protobuf"
    size = b""
    while not size.endswith(b"\n"):
        size += proto.raw.read(1)
    record = proto.raw.read(int(size))
    assert record[:2] == b"\x08\x01", record  # Event.type = SUBSCRIBED
    proto.close()


def test_v0_and_v1_frameworks_share_a_cluster_fairly(procs, binary, free_port, wait_http, wait_until, run_pesos,
                                                     pesos_cmd, summary):
    port, agents_port = free_port(), free_port()
    master = start_master(procs, binary, port)
    wait_http(f"http://127.0.0.1:{port}/master/health", proc=master)
    agents = procs.start("sim_agents", [
        binary("sim_agents", example=True), f"--master=127.0.0.1:{port}", "--agents=2", "--ip=127.0.0.1",
        f"--port={agents_port}", "--task_duration=1secs", "--resources=cpus:2;mem:1024;disk:1024",
    ])
    wait_until(lambda: len(master_state(port)["slaves"]) == 2, what="2 agents registered", proc=agents)
    v0 = procs.start("pesos", pesos_cmd("pesos_scheduler.py", "--master", f"127.0.0.1:{port}", "--tasks", "24",
                                        "--cpus", "0.5", "--mem", "32"), env=harness.PESOS_ENV)
    v1 = pymesos(procs, "pymesos-greedy", "--master", f"127.0.0.1:{port}", "--mode", "greedy", "--tasks", 24,
                 "--cpus", 0.5, "--mem", 32)
    # Sample the cpus each framework holds while both are active, from one
    # task duration after both subscribed (whoever subscribed first holds
    # the whole cluster until its first tasks end: no preemption).
    samples = {}
    deadline = time.time() + 60
    wait_until(lambda: len(master_state(port)["frameworks"]) == 2, what="both frameworks subscribed")
    time.sleep(1.2)
    def finished(proc, marker):
        return not proc.alive() or marker in proc.log()

    while time.time() < deadline and not finished(v0, '"event": "done"') and not finished(v1, '"event": "exit"'):
        frameworks = {f["name"]: f["used_resources"]["cpus"] for f in master_state(port)["frameworks"]}
        # Both subscribed and something running: a starved framework
        # counts with 0.
        if len(frameworks) == 2 and sum(frameworks.values()) > 0:
            for name, cpus in frameworks.items():
                samples.setdefault(name, []).append(cpus)
        time.sleep(0.1)
    assert v0.wait(timeout=90) == 0, v0.log()
    assert v1.wait(timeout=90) == 0, v1.log()
    assert set(samples) == {"pesos-e2e", "pymesos-compat"}, samples
    mean = {name: sum(v) / len(v) for name, v in samples.items()}
    ratio = min(mean.values()) / max(mean.values())
    summary(f"DRF v0 (pesos) vs v1 (pymesos): mean cpus held {mean} over {len(samples['pesos-e2e'])} samples, "
            f"ratio {ratio:.2f}")
    assert ratio >= 0.6, (mean, samples)


def mesos_execute(procs, binary, port, *args):
    return procs.run("mesos-execute", [binary("mesos-execute"), f"--master=127.0.0.1:{port}", *args],
                     timeout=60, check=False)


def test_mesos_execute_exit_codes_follow_the_task(procs, binary, run_dir, free_port, wait_http, wait_until, summary):
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    started = time.time()
    status, output = mesos_execute(procs, binary, port, "--name=hi", "--command=echo hi",
                                   "--resources=cpus:0.1;mem:32")
    elapsed = time.time() - started
    assert status == 0, output
    assert "Subscribed with ID " in output
    assert "Submitted task 'hi' to agent '" in output
    assert "Received status update TASK_RUNNING for task 'hi'" in output
    assert "Received status update TASK_FINISHED for task 'hi'" in output
    # JSON on the wire instead of protobuf; a failing command.
    status, output = mesos_execute(procs, binary, port, "--name=bad", "--command=exit 3", "--content_type=json",
                                   "--resources=cpus:0.1;mem:32")
    assert status != 0, output
    assert "Received status update TASK_FAILED for task 'bad'" in output, output
    # --kill_after kills a running task: TASK_KILLED is not success.
    status, output = mesos_execute(procs, binary, port, "--name=long", "--command=sleep 100", "--kill_after=1secs",
                                   "--resources=cpus:0.1;mem:32", "--env={\"A\": \"1\"}")
    assert status != 0, output
    assert "Asked to kill task 'long' on agent '" in output, output
    assert "Received status update TASK_KILLED for task 'long'" in output, output
    # Bad usage is refused before anything is sent.
    status, output = mesos_execute(procs, binary, port, "--command=true")
    assert status == 1 and "Missing required option --name" in output, output
    state = master_state(port)
    assert len(state["completed_frameworks"]) == 3 and not state["frameworks"], state["frameworks"]
    summary(f"mesos-execute 'echo hi': TASK_FINISHED, exit 0, {elapsed:.2f} s end to end")


def test_mesos_execute_runs_a_task_group_on_the_default_executor(procs, binary, run_dir, free_port, wait_http,
                                                                  wait_until):
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
           {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]
    group = {"tasks": [{"name": n, "task_id": {"value": n}, "agent_id": {"value": ""}, "resources": res,
                        "command": {"value": "true"}} for n in ("g1", "g2")]}
    status, output = mesos_execute(procs, binary, port, f"--task_group={json.dumps(group)}")
    assert status == 0, output
    assert "Submitted task group with tasks [ g1, g2 ] to agent '" in output, output
    for task in ("g1", "g2"):
        assert f"Received status update TASK_FINISHED for task '{task}'" in output, output


def test_apache_java_v1mesos_through_our_libmesos_against_our_master(procs, binary, run_dir, free_port, wait_http,
                                                                      wait_until):
    """Apache's Java `V1Mesos` (pyspark's bindings jar, our libmesos.so) as
    the v1 client: SUBSCRIBE, HEARTBEAT, OFFERS, ACCEPT, UPDATE and
    ACKNOWLEDGE, TEARDOWN against the real master and agent."""
    sys.path.insert(0, str(harness.COMPAT / "java"))
    import jvmtest

    classes = jvmtest.javac(run_dir / "classes", "TestFramework.java", "V0MesosCheck.java")
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    status, output = procs.run("v1mesos", jvmtest.java_cmd(classes, "TestFramework", f"127.0.0.1:{port}", "v1mesos"),
                               env=jvmtest.java_env(), timeout=240, check=False)
    assert status == 0 and "RESULT ok" in output, output
    assert "UPDATE TASK_FINISHED" in output
    state = master_state(port)
    assert [f["name"] for f in state["completed_frameworks"]] == ["jni-v1mesos"]


def test_mesos_execute_finds_the_master_in_zookeeper(zookeeper, procs, binary, run_dir, free_port, wait_http,
                                                     wait_until):
    """`--master=zk://...`: our master contends in ZooKeeper (`--zk`) and
    mesos-execute's detector reads the leader's MasterInfo from the group."""
    url = zookeeper.url("/mesos")
    port = free_port()
    master = start_master(procs, binary, port, f"--zk={url}", "--hostname=localhost")
    wait_http(f"http://127.0.0.1:{port}/health", proc=master)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/master/state", timeout=5,
                                    allow_redirects=False).status_code == 200,
               timeout=60, what="the master elected", proc=master)
    start_agent(procs, binary, run_dir / "a0", port, free_port())
    wait_until(lambda: len(master_state(port)["slaves"]) == 1, what="agent registered", proc=master)
    status, output = procs.run("mesos-execute", [binary("mesos-execute"), f"--master={url}", "--name=zk",
                                                 "--command=true", "--resources=cpus:0.1;mem:32"],
                               timeout=60, check=False)
    assert status == 0, output
    assert "Received status update TASK_FINISHED for task 'zk'" in output


def test_mesos_execute_fills_container_info_as_mesos_does(procs, binary, run_dir, free_port, wait_http, wait_until):
    """`--docker_image` with each containerizer: the TaskInfo the master
    books carries Mesos's ContainerInfo (DOCKER, or MESOS with a DOCKER
    image); the task's fate is the agent's business (none of these run here:
    no image can be pulled), so only the exit code's polarity is checked."""
    port = cluster(procs, binary, run_dir, free_port, wait_http, wait_until)
    for name, flags, expected in [
        ("dock", ["--containerizer=docker", "--docker_image=busybox:latest", "--networks=net1"],
         {"type": "DOCKER", "docker": {"image": "busybox:latest", "network": "USER"},
          "network_infos": [{"name": "net1"}]}),
        ("mesos-img", ["--docker_image=busybox"],
         {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox"}, "cached": True}}}),
    ]:
        status, output = mesos_execute(procs, binary, port, f"--name={name}", "--command=true",
                                       "--resources=cpus:0.1;mem:32", "--kill_after=2secs", *flags)
        tasks = requests.get(f"http://127.0.0.1:{port}/master/tasks", timeout=5).json()["tasks"]
        task = next(t for t in tasks if t["id"] == name)
        container = task["container"]
        for key, value in expected.items():
            if key == "docker":
                for k, v in value.items():
                    assert container["docker"][k] == v, container
            elif key == "network_infos":
                assert [{"name": n["name"]} for n in container["network_infos"]] == value, container
            else:
                assert container[key] == value, container
        finished = f"Received status update TASK_FINISHED for task '{name}'" in output
        assert (status == 0) == finished, output
    status, output = mesos_execute(procs, binary, port, "--name=x", "--command=true", "--containerizer=docker")
    assert status == 1 and "'Docker' containerizer requires docker image name" in output, output
