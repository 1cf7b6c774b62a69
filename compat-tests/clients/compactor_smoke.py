"""Proves the pesos venv works: two compactor contexts talk libprocess over loopback.

Runs with compat-tests/.venv-pesos/bin/python (tornado 4, protobuf 3 in pure-Python
mode, pesos's vendored Mesos 0.22 messages). Context "a" sends a
`mesos.internal.PingSlaveMessage` to a process in context "b", which answers with a
`PongSlaveMessage`; each side checks the sender it saw. Prints one JSON line with
what happened and exits 0, or exits 1 after a 10 s wait.

Usage: compactor_smoke.py [PORT_A PORT_B]   (ephemeral ports when omitted)
"""

import json
import sys
import threading

from compactor.context import Context
from compactor.process import ProtobufProcess
from pesos.vendor.mesos.internal import messages_pb2 as internal


class Agent(ProtobufProcess):
    """Answers every ping with a pong, as a Mesos agent does its master."""

    def __init__(self):
        super().__init__("slave(1)")
        self.pinged_by = None

    @ProtobufProcess.install(internal.PingSlaveMessage)
    def ping(self, from_pid, message):
        self.pinged_by = (str(from_pid), message.connected)
        self.send(from_pid, internal.PongSlaveMessage())


class Master(ProtobufProcess):
    def __init__(self):
        super().__init__("master")
        self.ponged_by = None
        self.done = threading.Event()

    @ProtobufProcess.install(internal.PongSlaveMessage)
    def pong(self, from_pid, message):
        self.ponged_by = str(from_pid)
        self.done.set()


def main():
    ports = [int(p) for p in sys.argv[1:3]] or [0, 0]
    a = Context(ip="127.0.0.1", port=ports[0])
    b = Context(ip="127.0.0.1", port=ports[1])
    a.start()
    b.start()
    master, agent = Master(), Agent()
    a.spawn(master)
    agent_pid = b.spawn(agent)
    master.send(agent_pid, internal.PingSlaveMessage(connected=True))
    ok = master.done.wait(10)
    print(json.dumps({
        "master": str(master.pid),
        "agent": str(agent_pid),
        "agent_pinged_by": agent.pinged_by,
        "master_ponged_by": master.ponged_by,
    }))
    # No Context.stop(): under tornado 4.5 it fails (compactor reads
    # Application.handlers, which tornado 4.5 no longer has). The contexts run on
    # daemon threads, which end with the interpreter.
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
