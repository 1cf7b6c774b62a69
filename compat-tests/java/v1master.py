"""A stand-in for a master's v1 scheduler API, for testing V1Mesos (our
libmesos's v1 HTTP client) while our master does not serve /api/v1/scheduler.

It speaks the documented protocol with Apache's own message classes (built from
the descriptors compiled into Apache's libmesos 1.11, see lib/mesos_oracle.py):
``POST /master/api/v1/scheduler`` with a protobuf ``Call``; ``SUBSCRIBE`` answers
``200 OK`` with a ``Mesos-Stream-Id`` and a chunked RecordIO stream of protobuf
``Event``s (SUBSCRIBED, HEARTBEAT, OFFERS, then UPDATEs for launched tasks); every
other call must carry that stream id and gets ``202 Accepted``. It records every
call it receives.

    master = FakeV1Master(drop_first_stream=False); master.start(); master.address
"""

import queue
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import descriptor_pool, message_factory

import mesos_oracle

CONTENT_TYPE = "application/x-protobuf"


def _classes():
    files = mesos_oracle.libmesos_files()
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(path):
        if path in added:
            return
        proto = files[path]
        for dep in proto.dependency:
            if dep in files:
                add(dep)
        pool.Add(proto)
        added.add(path)

    add("mesos/v1/scheduler/scheduler.proto")
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))  # noqa: E731
    return get("mesos.v1.scheduler.Call"), get("mesos.v1.scheduler.Event")


def recordio(message):
    data = message.SerializeToString()
    return str(len(data)).encode() + b"\n" + data


class FakeV1Master:
    def __init__(self, drop_first_stream=False):
        self.Call, self.Event = _classes()
        self.calls = []  # (Call, stream id header or None)
        self.stream_id = None
        self.subscriptions = 0
        self.drop_first_stream = drop_first_stream
        self.events = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.events is not None:
            self.events.put(None)
        self.server.shutdown()
        self.server.server_close()

    def call_types(self):
        return [self.Call.Type.Name(c.type) for c, _ in self.calls]

    # --- events -------------------------------------------------------------

    def _event(self, kind):
        event = self.Event()
        event.type = self.Event.Type.Value(kind)
        return event

    def _subscribed(self):
        e = self._event("SUBSCRIBED")
        e.subscribed.framework_id.value = "fake-framework"
        e.subscribed.heartbeat_interval_seconds = 15
        info = e.subscribed.master_info
        info.id, info.ip, info.port = "fake-master", 16777343, self.server.server_address[1]
        info.pid, info.hostname, info.version = f"master@{self.address}", "localhost", "1.11.0"
        return e

    def _offers(self):
        e = self._event("OFFERS")
        offer = e.offers.offers.add()
        offer.id.value = "offer-1"
        offer.framework_id.value = "fake-framework"
        offer.agent_id.value = "agent-1"
        offer.hostname = "localhost"
        for name, value in (("cpus", 1.0), ("mem", 128.0)):
            r = offer.resources.add()
            r.name = name
            r.type = r.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_name["SCALAR"].number
            r.scalar.value = value
            r.allocation_info.role = "*"
        return e

    def _update(self, task_id, state, n):
        e = self._event("UPDATE")
        status = e.update.status
        status.task_id.value = task_id
        status.state = status.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_name[state].number
        status.agent_id.value = "agent-1"
        status.uuid = bytes([n]) * 16
        status.source = status.DESCRIPTOR.fields_by_name["source"].enum_type.values_by_name["SOURCE_EXECUTOR"].number
        return e

    # --- HTTP ---------------------------------------------------------------

    def _handler(self):
        master = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/master/api/v1/scheduler":
                    return self._answer(404)
                if self.headers.get("Content-Type") != CONTENT_TYPE:
                    return self._answer(415)
                call = master.Call()
                call.ParseFromString(body)
                kind = master.Call.Type.Name(call.type)
                with master.lock:
                    master.calls.append((call, self.headers.get("Mesos-Stream-Id")))
                if kind == "SUBSCRIBE":
                    return self._subscribe()
                if self.headers.get("Mesos-Stream-Id") != master.stream_id:
                    return self._answer(400, b"Mesos-Stream-Id mismatch")
                self._answer(202)
                if kind == "ACCEPT":
                    for op in call.accept.operations:
                        for task in op.launch.task_infos:
                            master.events.put(master._update(task.task_id.value, "TASK_RUNNING", 1))
                            master.events.put(master._update(task.task_id.value, "TASK_FINISHED", 2))
                elif kind == "TEARDOWN":
                    master.events.put(None)

            def _answer(self, code, body=b""):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _subscribe(self):
                master.subscriptions += 1
                master.stream_id = str(uuid.uuid4())
                master.events = events = queue.Queue()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Mesos-Stream-Id", master.stream_id)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events.put(master._subscribed())
                events.put(master._event("HEARTBEAT"))
                if master.drop_first_stream and master.subscriptions == 1:
                    events.put(None)
                else:
                    events.put(master._offers())
                while True:
                    event = events.get()
                    if event is None:
                        self.wfile.write(b"0\r\n\r\n")
                        self.close_connection = True
                        return
                    record = recordio(event)
                    self.wfile.write(f"{len(record):x}\r\n".encode() + record + b"\r\n")
                    self.wfile.flush()

        return Handler
