"""v0 wire interop with an independent libprocess: PyPI `compactor`.

Our side is `examples/v0_peer` (built here with cargo); compactor's side is
`compat-tests/clients/compactor_peer.py`, run with the pesos/compactor venv
(`compat-tests/.venv-pesos`, or the interpreter named by $PESOS_PYTHON).
compactor sends several message types to our server (over its own
connection, plus one with its legacy User-Agent framing on a raw socket) and
decodes our sender's replies with Apache's generated `_pb2` classes. Both
sides link to the other, and each link must break when its peer goes away.
"""

import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "compat-tests" / "clients" / "compactor_peer.py"
PESOS_PYTHON = Path(os.environ.get("PESOS_PYTHON", ROOT / "compat-tests" / ".venv-pesos" / "bin" / "python"))
TIMEOUT = 120

BIG = bytes(range(256)) * 4096  # what compactor_peer.py sends: 1 MiB


def checksum(data):
    acc = 0
    for b in data:
        acc = (acc * 31 + b) & 0xFFFFFFFFFFFFFFFF
    return acc


def build_peer():
    """Builds examples/v0_peer and returns the executable's path."""
    out = subprocess.run(
        ["cargo", "build", "--example", "v0_peer", "--message-format=json-render-diagnostics"],
        cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True,
    )
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "v0_peer" and msg.get("executable"):
            return msg["executable"]
    raise AssertionError("cargo did not report the v0_peer executable")


class Lines:
    """JSON lines from a child's stdout, read on a thread so waits can time out."""

    def __init__(self, stream):
        self.queue = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.queue.put(json.loads(line))
        self.queue.put(None)

    def until(self, predicate, what):
        while True:
            try:
                item = self.queue.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("timed out waiting for %s; saw %r" % (what, self.seen))
            if item is None:
                raise AssertionError("stream ended before %s; saw %r" % (what, self.seen))
            self.seen.append(item)
            if predicate(item):
                return item


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    """Runs the whole exchange once; returns (ours, theirs, pids)."""
    if not PESOS_PYTHON.exists():
        pytest.fail("no pesos/compactor interpreter at %s: run compat-tests/setup.sh "
                    "(or set PESOS_PYTHON)" % PESOS_PYTHON)
    exe = build_peer()
    env = dict(os.environ, LIBPROCESS_IP="127.0.0.1")
    log = tmp_path_factory.mktemp("v0_wire") / "v0_peer.log"
    with open(log, "w") as stderr:
        rust = subprocess.Popen([exe], cwd=ROOT, env=dict(env, RUST_LOG="info"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            ours = Lines(rust.stdout)
            ready = ours.until(lambda e: e["event"] == "ready", "v0_peer to listen")
            client = subprocess.run(
                [str(PESOS_PYTHON), str(CLIENT), "--peer", ready["peer"], "--doomed", ready["doomed"]],
                env=dict(env, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT * 3,
            )
            assert client.returncode == 0, client.stderr[-4000:]
            theirs = [json.loads(line) for line in client.stdout.splitlines()]
            compactor = theirs[0]["pid"]
            # The client has exited: our link to it must report that.
            ours.until(lambda e: e == {"event": "exited", "pid": compactor}, "our exit notice for compactor")
        finally:
            rust.stdin.close()
            try:
                rust.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rust.kill()
    pids = {"peer": ready["peer"], "doomed": ready["doomed"], "compactor": compactor}
    return ours.seen, theirs, pids


def received(ours):
    return [e for e in ours if e["event"] == "message"]


def test_compactor_messages_arrive_decoded_in_order(exchange):
    ours, _, pids = exchange
    # Everything compactor sent through its process, in order (the legacy
    # message travels on its own socket, so it may land anywhere).
    on_connection = [e for e in received(ours) if e["name"] != "mesos.internal.DeactivateFrameworkMessage"]
    assert [e["name"] for e in on_connection] == [
        "mesos.internal.RegisterFrameworkMessage",
        "mesos.internal.FrameworkToExecutorMessage",
        "mesos.internal.KillTaskMessage",
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        "mesos.internal.ReviveOffersMessage",
        "mesos.internal.FrameworkToExecutorMessage",
        "mesos.internal.ShutdownMessage",
    ]
    assert all(e["from"] == pids["compactor"] for e in received(ours))
    register, small, kill, ack, revive, big, shutdown = (e["fields"] for e in on_connection)
    assert register == {"user": "interop", "name": "compactor-interop", "failover_timeout": 3600.5, "checkpoint": True}
    assert small["data_head_hex"] == "00ff68656c6c6f" and small["data_len"] == 7
    assert (small["framework_id"], small["executor_id"], small["slave_id"]) == ("F1", "E1", "S1")
    assert kill == {"framework_id": "F1", "task_id": "task-42"}
    assert ack == {"slave_id": "S1", "task_id": "task-42", "uuid_hex": bytes(range(16)).hex()}
    assert revive == {"framework_id": "F1"}
    assert big["data_len"] == len(BIG) and big["data_checksum"] == checksum(BIG)
    assert shutdown == {"message": "stop doomed"}


def test_messages_libprocess_would_drop_never_reach_the_process(exchange):
    ours, _, _ = exchange
    names = [e["name"] for e in received(ours)]
    # The unknown name was dropped; the garbage-bodied KillTaskMessage was
    # dropped, leaving only the well-formed one.
    assert "mesos.internal.NoSuchMessage" not in names
    assert names.count("mesos.internal.KillTaskMessage") == 1


def test_the_legacy_user_agent_sender_is_accepted(exchange):
    ours, theirs, pids = exchange
    assert {"event": "legacy_status", "status": 202} in theirs
    legacy = [e for e in received(ours) if e["name"] == "mesos.internal.DeactivateFrameworkMessage"]
    assert legacy == [{"event": "message", "from": pids["compactor"],
                       "name": "mesos.internal.DeactivateFrameworkMessage",
                       "fields": {"framework_id": "F-legacy"}}]


def test_our_replies_decode_with_apaches_generated_classes(exchange):
    _, theirs, pids = exchange
    replies = [e for e in theirs if e["event"] == "reply"]
    assert all(e["from"] == pids["peer"] for e in replies)
    by_name = {}
    for e in replies:
        by_name.setdefault(e["name"], []).append(e["fields"])
    assert sorted(by_name) == [
        "mesos.internal.ExecutorToFrameworkMessage",
        "mesos.internal.FrameworkErrorMessage",
        "mesos.internal.FrameworkRegisteredMessage",
        "mesos.internal.ResourceOffersMessage",
        "mesos.internal.StatusUpdateMessage",
    ]
    port = int(pids["peer"].rsplit(":", 1)[1])
    assert by_name["mesos.internal.FrameworkRegisteredMessage"] == [{
        "framework_id": "interop-framework-1", "master_id": "interop-master", "master_port": port,
        "master_pid": pids["peer"], "master_hostname": "localhost",
    }]
    small, big = by_name["mesos.internal.ExecutorToFrameworkMessage"]
    assert small["data_head_hex"] == b"\x00\xffhello"[::-1].hex()
    assert big["data_len"] == len(BIG) and big["data_checksum"] == checksum(BIG[::-1])
    assert by_name["mesos.internal.StatusUpdateMessage"] == [{
        "task_id": "task-42", "state": "TASK_KILLED", "message": "killed by interop peer",
        "timestamp": 1700000000.5, "uuid_hex": "07" * 16, "pid": pids["peer"],
    }]
    offers = by_name["mesos.internal.ResourceOffersMessage"][0]
    assert offers["pids"] == ["slave(1)@127.0.0.1:5051", "slave(1)@127.0.0.1:5052"]
    assert [o["id"] for o in offers["offers"]] == ["offer-1", "offer-2"]
    assert offers["offers"][0] == {
        "id": "offer-1", "slave_id": "agent-1", "hostname": "host-1.example",
        "resources": {"cpus": 5.0, "mem": 1024.0, "ports": [[31000, 32000]]},
        "attributes": {"rack": "r1"},
    }
    assert by_name["mesos.internal.FrameworkErrorMessage"] == [{"message": "deactivated F-legacy"}]


def test_links_break_both_ways(exchange):
    ours, theirs, pids = exchange
    # compactor's link to our "doomed" node broke when we shut it down...
    assert {"event": "exited", "pid": pids["doomed"]} in theirs
    assert theirs[-1] == {"event": "done"}
    # ...and ours to compactor broke when its process ended.
    assert {"event": "exited", "pid": pids["compactor"]} in ours
