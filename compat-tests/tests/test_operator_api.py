"""The v1 operator API (`POST /api/v1`) of our mesos-master, from outside.

- A plain `requests` subscriber (RecordIO read by hand, JSON) follows the
  master's SUBSCRIBE stream while a PyPI `pesos` framework runs tasks on our
  agent: every task state change the framework saw must reach the
  subscriber, in order, after its TASK_ADDED, with AGENT_ADDED,
  FRAMEWORK_ADDED and FRAMEWORK_REMOVED around them. A second subscriber
  asks for protobuf, and every record must parse with Apache's own
  `mesos.v1.master.Event` class, built from the descriptors compiled into
  Apache's libmesos 1.11 (lib/mesos_oracle.py).
- Operator calls that change the cluster (UPDATE_WEIGHTS, TEARDOWN,
  MARK_AGENT_GONE) are made while pesos frameworks run, and their effects
  are checked in /master/state, /master/roles and in the offers a framework
  gets afterwards.
"""

import base64
import json
import shlex
import threading
import time

from google.protobuf import descriptor_pool, message_factory

import harness
import mesos_oracle


def events(proc):
    """The JSON lines a client printed."""
    out = []
    for line in proc.log().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def agent_argv(binary, run_dir, master_port, agent_port, name):
    return [
        binary("mesos-agent"),
        f"--master=127.0.0.1:{master_port}",
        f"--work_dir={run_dir / name}",
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

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


class Subscriber:
    """POSTs SUBSCRIBE and reads RecordIO records (`<length>\\n<bytes>`) on a thread."""

    def __init__(self, url, accept=JSON):
        self.records = []
        self.error = None
        self.accept = accept
        self.response = harness.requests.post(
            url, data=json.dumps({"type": "SUBSCRIBE"}),
            headers={"Content-Type": JSON, "Accept": accept}, stream=True, timeout=(5, None))
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"] == accept
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        raw = self.response.raw
        try:
            while True:
                length = b""
                while not length.endswith(b"\n"):
                    byte = raw.read(1)
                    if not byte:
                        return
                    length += byte
                size = int(length)
                data = b""
                while len(data) < size:
                    chunk = raw.read(size - len(data))
                    if not chunk:
                        return
                    data += chunk
                self.records.append(data)
        except Exception as e:  # the test closes the stream at the end
            self.error = e

    def events(self):
        assert self.accept == JSON
        return [json.loads(r) for r in list(self.records)]

    def close(self):
        self.response.close()


def apache_v1_master(message="Event"):
    """Apache's `mesos.v1.master.<message>` class, from libmesos 1.11's embedded descriptors."""
    files = dict(mesos_oracle.libmesos_files())
    pool = descriptor_pool.DescriptorPool()
    added = set()
    wanted = ["mesos/v1/master/master.proto"]

    def add(name):
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])
        added.add(name)

    if "google/protobuf/descriptor.proto" not in files:
        from google.protobuf import descriptor_pb2
        fd = descriptor_pb2.FileDescriptorProto()
        descriptor_pb2.DESCRIPTOR.CopyToProto(fd)
        files["google/protobuf/descriptor.proto"] = fd
    for name in wanted:
        add(name)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mesos.v1.master." + message))


def call(port, body, accept=JSON):
    return harness.requests.post(f"http://127.0.0.1:{port}/api/v1", data=json.dumps(body),
                                 headers={"Content-Type": JSON, "Accept": accept}, timeout=10)


def start_cluster(procs, binary, free_port, run_dir, wait_http, *master_flags):
    master_port = free_port()
    master = procs.start("mesos-master", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                          f"--work_dir={run_dir / 'master'}", *master_flags])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    return master_port, master


def start_agent(procs, binary, free_port, run_dir, master_port, name="mesos-agent"):
    agent_port = free_port()
    return agent_port, procs.start(name, agent_argv(binary, run_dir, master_port, agent_port, name))


def test_a_subscriber_sees_every_task_change_of_a_pesos_run(binary, free_port, procs, run_dir, wait_http,
                                                            wait_until, pesos_cmd, summary):
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=in_memory")
    url = f"http://127.0.0.1:{master_port}/api/v1"
    subscriber = Subscriber(url)
    binary_subscriber = Subscriber(url, accept=PROTOBUF)
    wait_until(lambda: len(subscriber.records) >= 2, timeout=10, what="SUBSCRIBED and a HEARTBEAT", proc=master)

    start_agent(procs, binary, free_port, run_dir, master_port)
    executor_cmd = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python " + " ".join(
        shlex.quote(a) for a in pesos_cmd("pesos_executor.py"))
    framework = procs.start(
        "pesos_e2e_framework",
        pesos_cmd("pesos_e2e_framework.py", "--master", f"127.0.0.1:{master_port}", "--tasks", 6,
                  "--executor-cmd", executor_cmd),
        env=harness.PESOS_ENV,
    )
    assert framework.wait(timeout=120) == 0, framework.log()[-4000:]
    seen_by_framework = [e for e in events(framework) if e["event"] == "update"]
    framework_id = [e for e in events(framework) if e["event"] == "registered"][0]["framework_id"]

    def removed():
        return any(e["type"] == "FRAMEWORK_REMOVED" for e in subscriber.events())

    wait_until(removed, timeout=30, what="FRAMEWORK_REMOVED on the stream", proc=master)
    stream = subscriber.events()
    types = [e["type"] for e in stream]
    assert types[0] == "SUBSCRIBED" and types[1] == "HEARTBEAT", types[:3]
    state = stream[0]["subscribed"]["get_state"]
    assert "agents" not in state["get_agents"], "no agent registered before the subscription"
    assert stream[0]["subscribed"]["heartbeat_interval_seconds"] == 15

    # The agent and the framework arrive before any task does.
    agent_added = types.index("AGENT_ADDED")
    framework_added = types.index("FRAMEWORK_ADDED")
    first_task = types.index("TASK_ADDED")
    assert agent_added < first_task and framework_added < first_task
    added = stream[framework_added]["framework_added"]["framework"]
    assert added["framework_info"]["id"]["value"] == framework_id
    assert added["framework_info"]["name"] == "pesos-e2e-agent"
    agent = stream[agent_added]["agent_added"]["agent"]
    assert agent["agent_info"]["hostname"] == "localhost"
    assert any(r["name"] == "cpus" for r in agent["total_resources"])

    # Per task: TASK_ADDED in TASK_STAGING, then one TASK_UPDATED per state
    # the framework saw, in the same order.
    tasks = sorted({e["task_id"] for e in seen_by_framework})
    assert len(tasks) == 6
    for task_id in tasks:
        framework_states = []
        for e in seen_by_framework:
            if e["task_id"] == task_id and (not framework_states or framework_states[-1] != e["state"]):
                framework_states.append(e["state"])
        subscriber_states = []
        latest_states = set()
        for i, e in enumerate(stream):
            if e["type"] == "TASK_ADDED" and e["task_added"]["task"]["task_id"]["value"] == task_id:
                assert e["task_added"]["task"]["framework_id"]["value"] == framework_id
                subscriber_states.append(("ADDED", e["task_added"]["task"]["state"]))
            if e["type"] == "TASK_UPDATED" and e["task_updated"]["status"]["task_id"]["value"] == task_id:
                assert e["task_updated"]["framework_id"]["value"] == framework_id
                # `state` is the task's latest state (the agent may already
                # know a later one than the status being forwarded), as Mesos.
                latest_states.add(e["task_updated"]["state"])
                subscriber_states.append(("UPDATED", e["task_updated"]["status"]["state"]))
        assert subscriber_states[0] == ("ADDED", "TASK_STAGING"), (task_id, subscriber_states)
        assert [s for _, s in subscriber_states[1:]] == framework_states, (task_id, subscriber_states,
                                                                            framework_states)
        assert framework_states[-1] == "TASK_FINISHED" and "TASK_RUNNING" in framework_states
        assert latest_states <= set(framework_states), (task_id, latest_states)
    removed_at = types.index("FRAMEWORK_REMOVED")
    assert stream[removed_at]["framework_removed"]["framework_info"]["id"]["value"] == framework_id
    assert removed_at > max(i for i, t in enumerate(types) if t == "TASK_UPDATED")

    # The same stream in protobuf parses with Apache's descriptors.
    Event = apache_v1_master("Event")
    wait_until(lambda: len(binary_subscriber.records) >= len(stream), timeout=10,
               what="the protobuf subscriber to catch up", proc=master)
    binary_types = []
    for record in binary_subscriber.records[:len(stream)]:
        event = Event()
        event.ParseFromString(record)
        assert event.IsInitialized()
        binary_types.append(Event.Type.Name(event.type))
    assert [t for t in binary_types if t != "HEARTBEAT"] == [t for t in types if t != "HEARTBEAT"]
    subscriber.close()
    binary_subscriber.close()

    # GET_STATE in protobuf, parsed with Apache's `mesos.v1.master.Response`.
    Response = apache_v1_master("Response")
    r = call(master_port, {"type": "GET_STATE"}, accept=PROTOBUF)
    assert r.status_code == 200 and r.headers["Content-Type"] == PROTOBUF
    response = Response()
    response.ParseFromString(r.content)
    assert response.IsInitialized() and Response.Type.Name(response.type) == "GET_STATE"
    completed = response.get_state.get_tasks.completed_tasks
    assert sorted(t.task_id.value for t in completed) == tasks
    assert {t.agent_id.value for t in completed} == {agent["agent_info"]["id"]["value"]}
    assert [f.framework_info.id.value for f in response.get_state.get_frameworks.completed_frameworks] == [
        framework_id]
    counts = {t: types.count(t) for t in sorted(set(types))}
    summary(f"operator API: a requests subscriber saw {len(stream)} events of a 6-task pesos run "
            f"({counts}); the protobuf stream parsed with Apache's mesos.v1.master.Event")


def test_operator_changes_show_in_state_and_offers(binary, free_port, procs, run_dir, wait_http, wait_until,
                                                   pesos_cmd, summary):
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=replicated_log")
    agent_port, agent = start_agent(procs, binary, free_port, run_dir, master_port)

    def state():
        return harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()

    wait_until(lambda: len(state()["slaves"]) == 1, timeout=60, what="the agent to register", proc=agent)
    agent_id = state()["slaves"][0]["id"]

    # UPDATE_WEIGHTS: persisted, then visible in /master/roles and GET_WEIGHTS.
    r = call(master_port, {"type": "UPDATE_WEIGHTS",
                           "update_weights": {"weight_infos": [{"role": "dev", "weight": 2.5}]}})
    assert r.status_code == 200, r.text
    roles = harness.requests.get(f"http://127.0.0.1:{master_port}/master/roles", timeout=5).json()["roles"]
    assert {r["name"]: r["weight"] for r in roles}.get("dev") == 2.5
    r = call(master_port, {"type": "GET_WEIGHTS"})
    assert r.json()["get_weights"]["weight_infos"] == [{"role": "dev", "weight": 2.5}]
    r = call(master_port, {"type": "UPDATE_WEIGHTS",
                           "update_weights": {"weight_infos": [{"role": "dev", "weight": -1}]}})
    assert r.status_code == 400, r.text

    # A framework holding a long task, and a second one watching offers.
    holder = procs.start("holder", pesos_cmd("pesos_offer_watcher.py", "--master", f"127.0.0.1:{master_port}",
                                             "--tasks", 1, "--name", "holder"), env=harness.PESOS_ENV)
    wait_until(lambda: any(e.get("state") == "TASK_RUNNING" for e in events(holder)), timeout=60,
               what="the holder's task to run", proc=holder)
    watcher = procs.start("watcher", pesos_cmd("pesos_offer_watcher.py", "--master", f"127.0.0.1:{master_port}",
                                               "--tasks", 0, "--name", "watcher"), env=harness.PESOS_ENV)
    wait_until(lambda: any(e["event"] == "offer" for e in events(watcher)), timeout=60,
               what="the watcher's first offer", proc=watcher)
    offered_before = max(e["cpus"] for e in events(watcher) if e["event"] == "offer")
    assert offered_before == 7.0  # 8 cpus, 1 held by the holder's task

    # TEARDOWN of the holder: its task is killed, it is completed, and its
    # cpu comes back in the watcher's offers.
    holder_id = [f["id"] for f in state()["frameworks"] if f["name"] == "holder"][0]
    r = call(master_port, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": holder_id}}})
    assert r.status_code == 200, r.text
    s = state()
    assert holder_id not in [f["id"] for f in s["frameworks"]]
    completed = [f for f in s["completed_frameworks"] if f["id"] == holder_id][0]
    assert [t["state"] for t in completed["completed_tasks"]] == ["TASK_KILLED"]
    wait_until(lambda: any(e["event"] == "offer" and e["cpus"] == 8.0 for e in events(watcher)), timeout=30,
               what="an offer with the holder's cpu back", proc=watcher)
    r = call(master_port, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": holder_id}}})
    assert (r.status_code, r.text) == (400, "No framework found with specified ID")

    # MARK_AGENT_GONE: the agent leaves the books and is shut down, and the
    # watcher gets no more offers from it. (pesos's `lost_slave` only knows
    # agents it launched on, so the watcher's callback cannot be checked.)
    r = call(master_port, {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nope"}}})
    assert (r.status_code, r.text) == (404, "Agent 'nope' not found")
    r = call(master_port, {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}})
    assert r.status_code == 200, r.text
    assert state()["slaves"] == []
    wait_until(lambda: not agent.alive(), timeout=30, what="the gone agent to shut down", proc=agent)
    offers_then = sum(1 for e in events(watcher) if e["event"] == "offer")
    r = call(master_port, {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}})
    assert r.status_code == 200, r.text

    # A gone agent stays gone across a master restart (the registry has it),
    # and the weights survive it too.
    master.stop()
    master = procs.start("mesos-master-2", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                            f"--work_dir={run_dir / 'master'}", "--registry=replicated_log"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    r = call(master_port, {"type": "GET_WEIGHTS"})
    assert r.json()["get_weights"]["weight_infos"] == [{"role": "dev", "weight": 2.5}]
    assert watcher.alive()
    assert sum(1 for e in events(watcher) if e["event"] == "offer") == offers_then
    summary("operator API: UPDATE_WEIGHTS, TEARDOWN and MARK_AGENT_GONE from requests, their effects seen in "
            "/master/state, /master/roles, a pesos framework's offers, and after a master restart")


def test_operator_reservations_and_volumes_reach_the_agent_and_the_offers(binary, free_port, procs, run_dir,
                                                                          wait_http, wait_until, pesos_cmd,
                                                                          summary):
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=in_memory")
    agent_port, agent = start_agent(procs, binary, free_port, run_dir, master_port)

    def slaves():
        return harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()["slaves"]

    wait_until(lambda: len(slaves()) == 1, timeout=60, what="the agent to register", proc=agent)
    agent_id = slaves()[0]["id"]
    watcher = procs.start("watcher", pesos_cmd("pesos_offer_watcher.py", "--master", f"127.0.0.1:{master_port}",
                                               "--tasks", 0, "--role", "dev", "--name", "dev-watcher"),
                          env=harness.PESOS_ENV)
    wait_until(lambda: any(e["event"] == "offer" for e in events(watcher)), timeout=60,
               what="the watcher's first offer", proc=watcher)

    def last_offer():
        offers = [e for e in events(watcher) if e["event"] == "offer"]
        return offers[-1] if offers else None

    def reserve_body(kind, key, resources):
        return {"type": kind, kind.lower(): {"agent_id": {"value": agent_id}, key: resources}}

    # RESERVE, in the pre-refinement format Mesos's docs show.
    reserved = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "dev",
                 "reservation": {"principal": "ops"}},
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 512}, "role": "dev",
                 "reservation": {"principal": "ops"}}]
    r = call(master_port, reserve_body("RESERVE_RESOURCES", "resources", reserved))
    assert r.status_code == 202, r.text
    wait_until(lambda: last_offer()["reserved"].get("dev") == {"cpus": 2, "disk": 512}, timeout=30,
               what="an offer with the dev reservation", proc=watcher)
    state = harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()
    assert state["slaves"][0]["reserved_resources"]["dev"]["cpus"] == 2

    def agent_reserved():
        s = harness.requests.get(f"http://127.0.0.1:{agent_port}/state", timeout=5).json()
        return s["reserved_resources"].get("dev", {})

    wait_until(lambda: agent_reserved().get("cpus") == 2, timeout=30,
               what="the agent to checkpoint the reservation", proc=agent)

    # CREATE a persistent volume on the reserved disk.
    volume = {"name": "disk", "type": "SCALAR", "scalar": {"value": 256}, "role": "dev",
              "reservation": {"principal": "ops"},
              "disk": {"persistence": {"id": "vol-1", "principal": "ops"},
                       "volume": {"container_path": "data", "mode": "RW"}}}
    r = call(master_port, {"type": "CREATE_VOLUMES",
                           "create_volumes": {"agent_id": {"value": agent_id}, "volumes": [volume]}})
    assert r.status_code == 202, r.text
    wait_until(lambda: "vol-1" in last_offer()["volumes"], timeout=30, what="an offer with the volume",
               proc=watcher)
    r = call(master_port, {"type": "CREATE_VOLUMES",
                           "create_volumes": {"agent_id": {"value": agent_id}, "volumes": [volume]}})
    assert r.status_code == 400, r.text

    # DESTROY then UNRESERVE: the offers are plain again.
    r = call(master_port, {"type": "DESTROY_VOLUMES",
                           "destroy_volumes": {"agent_id": {"value": agent_id}, "volumes": [volume]}})
    assert r.status_code == 202, r.text
    r = call(master_port, reserve_body("UNRESERVE_RESOURCES", "resources", reserved))
    assert r.status_code == 202, r.text
    wait_until(lambda: last_offer()["reserved"] == {} and last_offer()["cpus"] == 8, timeout=30,
               what="an offer without reservations", proc=watcher)
    wait_until(lambda: agent_reserved() == {}, timeout=30, what="the agent to drop the reservation", proc=agent)
    r = call(master_port, reserve_body("RESERVE_RESOURCES", "resources",
                                       [dict(reserved[0], scalar={"value": 100})]))
    assert r.status_code == 409, r.text

    # DEACTIVATE_AGENT: no more offers from it; REACTIVATE_AGENT: offers again.
    r = call(master_port, {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": agent_id}}})
    assert r.status_code == 200, r.text
    assert slaves()[0]["active"] is False
    offers_then = sum(1 for e in events(watcher) if e["event"] == "offer")
    time.sleep(2)  # several of the watcher's 0.5 s decline filters
    assert sum(1 for e in events(watcher) if e["event"] == "offer") == offers_then
    r = call(master_port, {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": agent_id}}})
    assert r.status_code == 200, r.text
    wait_until(lambda: sum(1 for e in events(watcher) if e["event"] == "offer") > offers_then, timeout=30,
               what="offers after REACTIVATE_AGENT", proc=watcher)
    summary("operator API: RESERVE/CREATE/DESTROY/UNRESERVE from requests reached our agent's checkpoint and a "
            "pesos framework's offers (role dev); DEACTIVATE/REACTIVATE_AGENT stopped and resumed its offers")


def test_operator_quota_limits_offers_and_survives_a_restart(binary, free_port, procs, run_dir, wait_http,
                                                             wait_until, pesos_cmd, summary):
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=replicated_log")
    agent_port, agent = start_agent(procs, binary, free_port, run_dir, master_port)

    def slaves():
        return harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()["slaves"]

    wait_until(lambda: len(slaves()) == 1, timeout=60, what="the agent to register", proc=agent)
    r = call(master_port, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "guarantees": {"cpus": {"value": 100}}}]}})
    assert r.status_code == 400 and "exceed cluster capacity" in r.text, r.text
    r = call(master_port, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 1.5}}}]}})
    assert r.status_code == 200, r.text
    configs = call(master_port, {"type": "GET_QUOTA"}).json()["get_quota"]["status"]["configs"]
    assert configs == [{"role": "dev", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 1.5}}}]
    roles = harness.requests.get(f"http://127.0.0.1:{master_port}/master/roles", timeout=5).json()["roles"]
    dev = [r for r in roles if r["name"] == "dev"][0]
    assert dev["quota"]["guarantee"] == {"cpus": 1} and dev["quota"]["limit"]["cpus"] == 1.5

    # A dev framework is never offered more than the limit.
    watcher = procs.start("watcher", pesos_cmd("pesos_offer_watcher.py", "--master", f"127.0.0.1:{master_port}",
                                               "--tasks", 0, "--role", "dev", "--name", "dev-watcher"),
                          env=harness.PESOS_ENV)
    wait_until(lambda: sum(1 for e in events(watcher) if e["event"] == "offer") >= 3, timeout=60,
               what="three offers to the dev framework", proc=watcher)
    cpus = [e["cpus"] for e in events(watcher) if e["event"] == "offer"]
    assert max(cpus) == 1.5, cpus

    # The registry keeps it across a master restart.
    master.stop()
    master = procs.start("mesos-master-2", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                            f"--work_dir={run_dir / 'master'}", "--registry=replicated_log"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    configs = call(master_port, {"type": "GET_QUOTA"}).json()["get_quota"]["status"]["configs"]
    assert configs[0]["role"] == "dev" and configs[0]["limits"]["cpus"]["value"] == 1.5
    summary(f"operator API: UPDATE_QUOTA (limit cpus 1.5 for dev) capped every offer to a pesos dev framework "
            f"({len(cpus)} offers, max {max(cpus)} cpus) and survived a master restart")


def test_operator_maintenance_drains_downs_and_brings_back_an_agent(binary, free_port, procs, run_dir, wait_http,
                                                                   wait_until, pesos_cmd, summary):
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=replicated_log")
    agent_port, agent = start_agent(procs, binary, free_port, run_dir, master_port)

    def slaves():
        return harness.requests.get(f"http://127.0.0.1:{master_port}/master/state", timeout=5).json()["slaves"]

    wait_until(lambda: len(slaves()) == 1, timeout=60, what="the agent to register", proc=agent)
    holder = procs.start("holder", pesos_cmd("pesos_offer_watcher.py", "--master", f"127.0.0.1:{master_port}",
                                             "--tasks", 1, "--name", "holder"), env=harness.PESOS_ENV)
    wait_until(lambda: any(e.get("state") == "TASK_RUNNING" for e in events(holder)), timeout=60,
               what="the holder's task to run", proc=holder)
    holder_id = [e for e in events(holder) if e["event"] == "registered"][0]["framework_id"]

    machine = {"hostname": "localhost", "ip": "127.0.0.1"}
    window = {"machine_ids": [machine],
              "unavailability": {"start": {"nanoseconds": 4102444800000000000},
                                 "duration": {"nanoseconds": 3600000000000}}}
    r = call(master_port, {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}})
    assert (r.status_code, r.text) == (400, "Machine '{\"hostname\":\"localhost\",\"ip\":\"127.0.0.1\"}' is not "
                                            "part of a maintenance schedule")
    r = call(master_port, {"type": "UPDATE_MAINTENANCE_SCHEDULE",
                           "update_maintenance_schedule": {"schedule": {"windows": [window]}}})
    assert r.status_code == 200, r.text
    r = call(master_port, {"type": "GET_MAINTENANCE_SCHEDULE"})
    assert r.json()["get_maintenance_schedule"]["schedule"]["windows"][0]["machine_ids"] == [machine]

    # DRAINING: the framework running there got an inverse offer (pesos's
    # 0.22 protobufs predate them, so it cannot answer: UNKNOWN).
    def draining_status():
        status = call(master_port, {"type": "GET_MAINTENANCE_STATUS"}).json()["get_maintenance_status"]["status"]
        return status.get("draining_machines", [])

    wait_until(lambda: draining_status() and draining_status()[0].get("statuses"), timeout=30,
               what="an inverse offer to the holder", proc=master)
    statuses = draining_status()[0]["statuses"]
    assert [(s["framework_id"]["value"], s["status"]) for s in statuses] == [(holder_id, "UNKNOWN")]

    # DOWN: the agent is shut down and leaves the books; its task is lost.
    r = call(master_port, {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}})
    assert r.status_code == 200, r.text
    wait_until(lambda: not agent.alive(), timeout=30, what="the agent on the DOWN machine to shut down", proc=agent)
    wait_until(lambda: slaves() == [], timeout=30, what="the agent to be removed", proc=master)
    wait_until(lambda: any(e.get("state") == "TASK_LOST" for e in events(holder)), timeout=30,
               what="the holder to hear its task is lost", proc=holder)
    status = call(master_port, {"type": "GET_MAINTENANCE_STATUS"}).json()["get_maintenance_status"]["status"]
    assert status["down_machines"] == [machine]

    # A restarted agent on the DOWN machine is refused (it shuts down again),
    # even by a restarted master (the registry holds the machine's mode).
    master.stop()
    master = procs.start("mesos-master-2", [binary("mesos-master"), "--ip=127.0.0.1", f"--port={master_port}",
                                            f"--work_dir={run_dir / 'master'}", "--registry=replicated_log"])
    wait_http(f"http://127.0.0.1:{master_port}/master/health", proc=master)
    agent2 = procs.start("mesos-agent-again", agent_argv(binary, run_dir, master_port, agent_port, "mesos-agent"))
    wait_until(lambda: not agent2.alive(), timeout=60, what="the agent to be refused", proc=agent2)
    assert "Machine is `DOWN`" in agent2.log()
    assert slaves() == []

    # UP: out of the schedule; the agent registers again.
    r = call(master_port, {"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine]}})
    assert r.status_code == 200, r.text
    assert call(master_port, {"type": "GET_MAINTENANCE_SCHEDULE"}).json()["get_maintenance_schedule"] == {
        "schedule": {}}
    agent3 = procs.start("mesos-agent-up", agent_argv(binary, run_dir, master_port, agent_port, "mesos-agent-up"))
    wait_until(lambda: len(slaves()) == 1, timeout=60, what="the agent to register after STOP_MAINTENANCE",
               proc=agent3)
    summary("operator API: a maintenance window drained our agent (inverse offer to a pesos framework, status "
            "UNKNOWN), START_MAINTENANCE shut it down and refused it across a master restart, STOP_MAINTENANCE "
            "let it back")


def test_logging_level_and_files_on_a_real_master(binary, free_port, procs, run_dir, wait_http, wait_until):
    """SET_LOGGING_LEVEL really raises the verbosity of the running master for
    its duration (debug lines appear in its log, read back with LIST_FILES and
    READ_FILE), then reverts on its own."""
    master_port, master = start_cluster(procs, binary, free_port, run_dir, wait_http, "--registry=in_memory",
                                        f"--log_dir={run_dir / 'logs'}")

    def log_text():
        size = call(master_port, {"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0,
                                                                      "length": 0}}).json()["read_file"]["size"]
        offset = max(0, size - 60000)
        r = call(master_port, {"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": offset}})
        assert r.status_code == 200, r.text
        return base64.b64decode(r.json()["read_file"].get("data", "")).decode(errors="replace")

    files = call(master_port, {"type": "LIST_FILES", "list_files": {"path": "/master/log"}}).json()
    assert files["list_files"]["file_infos"][0]["path"] == "/master/log"
    assert call(master_port, {"type": "GET_LOGGING_LEVEL"}).json()["get_logging_level"]["level"] == 0
    weights = {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "a", "weight": 2}]}}
    assert call(master_port, weights).status_code == 200
    assert "applying registry operation" not in log_text()

    r = call(master_port, {"type": "SET_LOGGING_LEVEL",
                           "set_logging_level": {"level": 1, "duration": {"nanoseconds": 5000000000}}})
    assert r.status_code == 200, r.text
    assert call(master_port, {"type": "GET_LOGGING_LEVEL"}).json()["get_logging_level"]["level"] == 1
    assert call(master_port, weights).status_code == 200
    wait_until(lambda: "applying registry operation" in log_text(), timeout=10, what="a debug line", proc=master)
    wait_until(lambda: call(master_port, {"type": "GET_LOGGING_LEVEL"}).json()["get_logging_level"]["level"] == 0,
               timeout=10, what="the level to revert", proc=master)
    before = log_text().count("applying registry operation")
    assert call(master_port, weights).status_code == 200
    assert log_text().count("applying registry operation") == before
