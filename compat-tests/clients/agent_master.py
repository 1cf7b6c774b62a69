"""The master's side of the v0 agent protocol, on PyPI `compactor` (a
pure-Python libprocess) with Apache's generated `_pb2` classes (the copies
pesos vendors, Mesos ~0.22): enough of a master to drive our agent.

    agent_master.py --port P --executor-cmd CMD --executor-tasks N --command-tasks M

It listens as `master@127.0.0.1:P`, accepts the agent's registration, then
launches N tasks on one custom executor (ExecutorInfo running CMD, e.g. the
pesos executor) and M command tasks (run by the agent's command executor),
acknowledges every status update, sends the custom executor a framework
message and expects its echo, and once every task is TASK_FINISHED shuts the
framework down. One JSON object per line on stdout:

    {"event": "listening", "pid": ...}
    {"event": "registered", "agent": ..., "agent_id": ...}
    {"event": "update", "task": ..., "state": ..., "uuid": ..., "source": ...}
    {"event": "message", "data": ...}
    {"event": "done", "finished": K, "running_latency_ms": [...]}

and exits 0; a failure or timeout exits non-zero.
"""

import argparse
import json
import os
import queue
import sys
import threading
import time

from compactor.context import Context
from compactor.process import ProtobufProcess
from pesos.vendor.mesos import mesos_pb2
from pesos.vendor.mesos.internal import messages_pb2

TIMEOUT_SECS = 240
AGENT_ID = "S-compat-1"
FRAMEWORK_ID = "F-compat-1"


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


class Master(ProtobufProcess):
    def __init__(self, events):
        self.events = events
        super(Master, self).__init__("master")

    @ProtobufProcess.install(messages_pb2.RegisterSlaveMessage)
    def register(self, from_pid, message):
        reply = messages_pb2.SlaveRegisteredMessage()
        reply.slave_id.value = AGENT_ID
        self.send(from_pid, reply)
        self.events.put(("registered", from_pid, message))

    @ProtobufProcess.install(messages_pb2.ReregisterSlaveMessage)
    def reregister(self, from_pid, message):
        reply = messages_pb2.SlaveReregisteredMessage()
        reply.slave_id.value = AGENT_ID
        self.send(from_pid, reply)
        self.events.put(("reregistered", from_pid, message))

    @ProtobufProcess.install(messages_pb2.StatusUpdateMessage)
    def status_update(self, from_pid, message):
        update = message.update
        ack = messages_pb2.StatusUpdateAcknowledgementMessage()
        ack.slave_id.CopyFrom(update.slave_id)
        ack.framework_id.CopyFrom(update.framework_id)
        ack.task_id.CopyFrom(update.status.task_id)
        ack.uuid = update.uuid
        self.send(from_pid, ack)
        self.events.put(("update", from_pid, update))

    @ProtobufProcess.install(messages_pb2.ExecutorToFrameworkMessage)
    def executor_message(self, from_pid, message):
        self.events.put(("message", from_pid, message))


def framework_info():
    info = mesos_pb2.FrameworkInfo()
    info.user = "root"
    info.name = "compat agent test"
    info.id.value = FRAMEWORK_ID
    info.checkpoint = True
    return info


def scalar(resources, name, value):
    r = resources.add()
    r.name = name
    r.type = mesos_pb2.Value.SCALAR
    r.scalar.value = value


def run_task(process, agent, master_pid, task):
    message = messages_pb2.RunTaskMessage()
    message.framework_id.value = FRAMEWORK_ID
    message.framework.CopyFrom(framework_info())
    message.pid = str(master_pid)
    message.task.CopyFrom(task)
    process.send(agent, message)


def task(task_id):
    t = mesos_pb2.TaskInfo()
    t.name = task_id
    t.task_id.value = task_id
    t.slave_id.value = AGENT_ID
    scalar(t.resources, "cpus", 0.01)
    scalar(t.resources, "mem", 16)
    return t


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--executor-cmd", required=True)
    parser.add_argument("--executor-tasks", type=int, default=2)
    parser.add_argument("--command-tasks", type=int, default=2)
    args = parser.parse_args()

    events = queue.Queue()
    context = Context(ip="127.0.0.1", port=args.port)
    context.start()
    master = Master(events)
    master_pid = context.spawn(master)
    emit({"event": "listening", "pid": str(master_pid)})

    kind, agent, _ = events.get(timeout=TIMEOUT_SECS)
    assert kind == "registered", kind
    emit({"event": "registered", "agent": str(agent), "agent_id": AGENT_ID})

    launched = {}
    executor = mesos_pb2.ExecutorInfo()
    executor.executor_id.value = "pesos-executor"
    executor.framework_id.value = FRAMEWORK_ID
    executor.command.value = args.executor_cmd
    executor.name = "pesos test executor"
    scalar(executor.resources, "cpus", 0.05)
    scalar(executor.resources, "mem", 32)
    for i in range(args.executor_tasks):
        t = task("pesos-%d" % i)
        t.executor.CopyFrom(executor)
        t.data = b"finish" if i > 0 else b"wait"
        launched[t.task_id.value] = time.time()
        run_task(master, agent, master_pid, t)
    for i in range(args.command_tasks):
        t = task("cmd-%d" % i)
        t.command.value = "echo command task %d" % i
        launched[t.task_id.value] = time.time()
        run_task(master, agent, master_pid, t)

    terminal = {}
    running_latency_ms = []
    seen_uuids = set()
    message_sent = False
    echoed = args.executor_tasks == 0
    deadline = time.time() + TIMEOUT_SECS
    while len(terminal) < len(launched) or not echoed:
        kind, _, payload = events.get(timeout=max(1, deadline - time.time()))
        if kind == "update":
            state = mesos_pb2.TaskState.Name(payload.status.state)
            task_id = payload.status.task_id.value
            uid = payload.uuid.hex()
            emit({"event": "update", "task": task_id, "state": state, "uuid": uid,
                  "source": payload.status.source, "message": payload.status.message})
            if uid in seen_uuids:
                emit({"event": "duplicate", "task": task_id, "uuid": uid})
            seen_uuids.add(uid)
            if state == "TASK_RUNNING" and task_id in launched:
                running_latency_ms.append(round((time.time() - launched[task_id]) * 1000, 1))
            if task_id == "pesos-0" and state == "TASK_RUNNING" and not message_sent:
                m = messages_pb2.FrameworkToExecutorMessage()
                m.slave_id.value = AGENT_ID
                m.framework_id.value = FRAMEWORK_ID
                m.executor_id.value = "pesos-executor"
                m.data = b"hello"
                master.send(agent, m)
                message_sent = True
            if state in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"):
                terminal[task_id] = state
        elif kind == "message":
            emit({"event": "message", "data": payload.data.decode("utf-8", "replace")})
            echoed = True
            # The waiting task may finish now: kill it cleanly instead.
            kill = messages_pb2.KillTaskMessage()
            kill.framework_id.value = FRAMEWORK_ID
            kill.task_id.value = "pesos-0"
            master.send(agent, kill)

    shutdown = messages_pb2.ShutdownFrameworkMessage()
    shutdown.framework_id.value = FRAMEWORK_ID
    master.send(agent, shutdown)
    emit({"event": "done", "terminal": terminal, "running_latency_ms": running_latency_ms})


if __name__ == "__main__":
    timer = threading.Timer(TIMEOUT_SECS + 30, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    try:
        main()
    except Exception as e:
        sys.stderr.write("agent_master failed: %r\n" % (e,))
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    time.sleep(1)  # let the shutdown message leave
    os._exit(0)
