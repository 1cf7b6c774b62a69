"""A compactor (pure-Python libprocess) peer for the v0 wire interop test.

Run with the pesos/compactor venv (`compat-tests/.venv-pesos`), with
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, against a running
`examples/v0_peer` (see its docs for what it answers):

    compactor_peer.py --peer peer@127.0.0.1:P --doomed doomed@127.0.0.1:Q

It spawns a compactor ProtobufProcess named "compactor", links to the doomed
pid (and sends it a PongSlaveMessage, which opens the connection the link
watches), and sends the peer, in order over compactor's own connection:
RegisterFrameworkMessage, FrameworkToExecutorMessage (binary data), an
unknown message name, a KillTaskMessage name with a garbage body,
KillTaskMessage, StatusUpdateAcknowledgementMessage, ReviveOffersMessage and
a 1 MiB FrameworkToExecutorMessage; then a DeactivateFrameworkMessage over a
raw socket using compactor's legacy (User-Agent only) request encoding. It
decodes every reply with Apache's generated `_pb2` classes (the copies pesos
vendors) and prints one JSON object per line on stdout:

    {"event": "ready", "pid": ...}
    {"event": "legacy_status", "status": 202}
    {"event": "reply", "from": ..., "name": ..., "fields": {...}}   (x5)
    {"event": "exited", "pid": ...}       after sending ShutdownMessage
    {"event": "done"}

and exits 0; any failure or timeout exits non-zero with a message on stderr.
"""

import argparse
import json
import os
import queue
import socket
import sys
import threading

from compactor.context import Context
from compactor.pid import PID
from compactor.process import ProtobufProcess
from compactor.request import encode_request
from pesos.vendor.mesos import mesos_pb2
from pesos.vendor.mesos.internal import messages_pb2

TIMEOUT_SECS = 60
BIG = bytes(range(256)) * 4096  # 1 MiB


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def checksum(data):
    acc = 0
    for b in data:
        acc = (acc * 31 + b) & 0xFFFFFFFFFFFFFFFF
    return acc


class Peer(ProtobufProcess):
    """Records replies and exits; handlers run on compactor's loop thread."""

    def __init__(self, name, events):
        self.events = events
        super(Peer, self).__init__(name)

    def record(self, from_pid, message, fields):
        self.events.put({
            "event": "reply",
            "from": str(from_pid),
            "name": message.DESCRIPTOR.full_name,
            "fields": fields,
        })

    @ProtobufProcess.install(messages_pb2.FrameworkRegisteredMessage)
    def registered(self, from_pid, message):
        self.record(from_pid, message, {
            "framework_id": message.framework_id.value,
            "master_id": message.master_info.id,
            "master_port": message.master_info.port,
            "master_pid": message.master_info.pid,
            "master_hostname": message.master_info.hostname,
        })

    @ProtobufProcess.install(messages_pb2.ExecutorToFrameworkMessage)
    def executor_message(self, from_pid, message):
        data = message.data
        self.record(from_pid, message, {
            "executor_id": message.executor_id.value,
            "data_len": len(data),
            "data_head_hex": data[:16].hex(),
            "data_checksum": checksum(data),
        })

    @ProtobufProcess.install(messages_pb2.StatusUpdateMessage)
    def status_update(self, from_pid, message):
        status = message.update.status
        self.record(from_pid, message, {
            "task_id": status.task_id.value,
            "state": mesos_pb2.TaskState.Name(status.state),
            "message": status.message,
            "timestamp": message.update.timestamp,
            "uuid_hex": message.update.uuid.hex(),
            "pid": message.pid,
        })

    @ProtobufProcess.install(messages_pb2.ResourceOffersMessage)
    def offers(self, from_pid, message):
        self.record(from_pid, message, {
            "offers": [{
                "id": o.id.value,
                "slave_id": o.slave_id.value,
                "hostname": o.hostname,
                "resources": {r.name: (r.scalar.value if r.HasField("scalar") else
                                       [[x.begin, x.end] for x in r.ranges.range])
                              for r in o.resources},
                "attributes": {a.name: a.text.value for a in o.attributes},
            } for o in message.offers],
            "pids": list(message.pids),
        })

    @ProtobufProcess.install(messages_pb2.FrameworkErrorMessage)
    def error(self, from_pid, message):
        self.record(from_pid, message, {"message": message.message})

    def exited(self, pid):
        self.events.put({"event": "exited", "pid": str(pid)})


def ids():
    return (mesos_pb2.SlaveID(value="S1"), mesos_pb2.FrameworkID(value="F1"),
            mesos_pb2.ExecutorID(value="E1"))


def framework_to_executor(data):
    slave_id, framework_id, executor_id = ids()
    m = messages_pb2.FrameworkToExecutorMessage()
    m.slave_id.CopyFrom(slave_id)
    m.framework_id.CopyFrom(framework_id)
    m.executor_id.CopyFrom(executor_id)
    m.data = data
    return m


def messages():
    """The protobufs sent through compactor's process, in order."""
    slave_id, framework_id, _ = ids()
    register = messages_pb2.RegisterFrameworkMessage()
    register.framework.user = "interop"
    register.framework.name = "compactor-interop"
    register.framework.failover_timeout = 3600.5
    register.framework.checkpoint = True

    kill = messages_pb2.KillTaskMessage()
    kill.framework_id.CopyFrom(framework_id)
    kill.task_id.value = "task-42"

    ack = messages_pb2.StatusUpdateAcknowledgementMessage()
    ack.slave_id.CopyFrom(slave_id)
    ack.framework_id.CopyFrom(framework_id)
    ack.task_id.value = "task-42"
    ack.uuid = bytes(range(16))

    revive = messages_pb2.ReviveOffersMessage()
    revive.framework_id.CopyFrom(framework_id)

    return register, framework_to_executor(b"\x00\xffhello"), kill, ack, revive


def send_legacy(from_pid, to_pid):
    """DeactivateFrameworkMessage framed by compactor's legacy encoder (sender
    only in `User-Agent: libprocess/...`), on a socket of its own; returns the
    HTTP status the server answers."""
    m = messages_pb2.DeactivateFrameworkMessage()
    m.framework_id.value = "F-legacy"
    request = encode_request(from_pid, to_pid, m.DESCRIPTOR.full_name,
                             body=m.SerializeToString(), legacy=True)
    with socket.create_connection((to_pid.ip, to_pid.port), timeout=TIMEOUT_SECS) as sock:
        sock.sendall(request)
        response = b""
        while b"\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    return int(response.split(b" ")[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", required=True)
    parser.add_argument("--doomed", required=True)
    args = parser.parse_args()
    peer = PID.from_string(args.peer)
    doomed = PID.from_string(args.doomed)

    events = queue.Queue()
    context = Context(ip=os.environ.get("LIBPROCESS_IP", "127.0.0.1"))
    context.start()
    process = Peer("compactor", events)
    pid = context.spawn(process)
    emit({"event": "ready", "pid": str(pid)})

    # compactor's link() only records the link (it tests whether the
    # *linking* pid is local, which it always is) and never connects; the
    # connection that later breaks is the one a send opens.
    process.link(doomed)
    process.send(doomed, messages_pb2.PongSlaveMessage())
    register, small, kill, ack, revive = messages()
    process.send(peer, register)
    process.send(peer, small)
    # Two messages libprocess would drop: an unknown name, and a body that
    # does not parse as the type its name announces.
    context.send(pid, peer, "mesos.internal.NoSuchMessage", b"\x08\x01")
    context.send(pid, peer, "mesos.internal.KillTaskMessage", b"\xff\xff\xff garbage")
    process.send(peer, kill)
    process.send(peer, ack)
    process.send(peer, revive)
    process.send(peer, framework_to_executor(BIG))
    emit({"event": "legacy_status", "status": send_legacy(pid, peer)})

    # FrameworkRegistered, two ExecutorToFramework echoes, StatusUpdate,
    # ResourceOffers, and FrameworkError for the legacy message.
    expected_replies = 6
    for _ in range(expected_replies):
        emit(events.get(timeout=TIMEOUT_SECS))

    # Ask the peer to stop its "doomed" node; our link to it must break.
    shutdown = messages_pb2.ShutdownMessage()
    shutdown.message = "stop doomed"
    process.send(peer, shutdown)
    event = events.get(timeout=TIMEOUT_SECS)
    emit(event)
    emit({"event": "done"})


if __name__ == "__main__":
    timer = threading.Timer(TIMEOUT_SECS * 3, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    try:
        main()
    except Exception as e:  # report and fail; compactor's thread would keep us alive
        sys.stderr.write("compactor_peer failed: %r\n" % (e,))
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    # compactor's event-loop thread does not stop on its own; leave now, which
    # also closes our sockets (the Rust peer sees its link to us break).
    os._exit(0)
