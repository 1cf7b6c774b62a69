"""Our master contender seen by third-party ZooKeeper tools.

Our side is `examples/zk_contend` (a mesos-rs master's contender and nothing
else), against a real ZooKeeper 3.8 started by the `zookeeper` fixture. The
other side is code we did not write:

* PyPI `kazoo` reads the group's znodes as any tool would (Mesos-DNS, scripts),
  and each `json.info_` node's JSON is parsed into Apache's own
  `mesos_pb2.MasterInfo` (from PyPI `mesos.interface` 1.11.0, built from its
  descriptor) with protobuf's strict JSON parser, which refuses unknown keys;
* PyPI `pymesos` 0.3.15's own kazoo-based detector, inside its
  `MesosSchedulerDriver` pointed at `zk://.../mesos`, follows our leader through
  a withdrawal, a partition that expires the leader's session, an empty group
  and a new leader, and dials each leader it finds (`GET /version` on a stub
  standing in for the master).
"""

import http.server
import json
import socket
import struct
import threading

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

import mesos_oracle

# The keys Mesos 1.11's master writes into its json.info_ znode (no domain).
MESOS_KEYS = {"address", "capabilities", "hostname", "id", "ip", "pid", "port", "version"}


def apache_master_info():
    """Apache's `mesos.MasterInfo` class, from mesos.interface 1.11.0's descriptor."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(mesos_oracle.interface_mesos_proto())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mesos.MasterInfo"))


class Contender:
    """An `examples/zk_contend` process and the events it printed."""

    def __init__(self, procs, binary, name, zk_url, port, *flags):
        self.port = port
        self.proc = procs.start(name, [
            binary("zk_contend", example=True), f"--zk={zk_url}", "--ip=127.0.0.1", f"--port={port}",
            f"--hostname={name}", *flags,
        ])

    def events(self):
        found = []
        for line in self.proc.log().splitlines():
            if line.startswith('{"event"'):
                found.append(json.loads(line))
        return found

    def wait(self, wait_until, event, alive=True):
        """The first `event` printed; fails if the process exits first (unless alive=False)."""
        __tracebackhide__ = True
        return wait_until(
            lambda: next((e for e in self.events() if e["event"] == event), None),
            what=f"{self.proc.name}: {event}", proc=self.proc if alive else None,
        )


def network_order_ip(ip):
    """What Mesos stores in MasterInfo.ip: in_addr.s_addr read as a little-endian integer."""
    return struct.unpack("<I", socket.inet_aton(ip))[0]


def test_kazoo_reads_our_json_info_znodes_as_apache_master_info(
        zookeeper, procs, binary, free_port, wait_until, summary):
    from kazoo.exceptions import NoAuthError
    from kazoo.security import Permissions

    contenders = []
    for i in range(3):
        c = Contender(procs, binary, f"master{i}", zookeeper.url("/mesos"), free_port())
        c.wait(wait_until, "joined")  # one at a time: sequence order is start order
        contenders.append(c)
    assert contenders[0].wait(wait_until, "elected")
    for c in contenders[1:]:
        assert c.wait(wait_until, "following")["leader"] == "json.info_0000000000"

    MasterInfo = apache_master_info()
    zk = zookeeper.client()
    try:
        children = sorted(zk.get_children("/mesos"))
        assert children == [f"json.info_{i:010d}" for i in range(3)]
        for i, name in enumerate(children):
            data, stat = zk.get(f"/mesos/{name}")
            text = data.decode()
            assert stat.ephemeralOwner != 0, f"{name} is not ephemeral"
            acl = zk.get_acls(f"/mesos/{name}")[0]
            assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("world", "anyone", Permissions.ALL)]

            # Exactly the bytes the contender said it would write, in stout's
            # form: keys sorted at every level, no whitespace.
            assert text == contenders[i].events()[0]["json"]
            assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
            assert set(json.loads(text)) == MESOS_KEYS

            # Apache's MasterInfo takes it (unknown keys would be refused).
            info = json_format.Parse(text, MasterInfo())
            assert info.IsInitialized(), info.FindInitializationErrors()
            port = contenders[i].port
            assert info.ip == network_order_ip("127.0.0.1") == 16777343
            assert info.port == port
            assert info.pid == f"master@127.0.0.1:{port}"
            assert (info.address.ip, info.address.port, info.address.hostname) == ("127.0.0.1", port, f"master{i}")
            assert info.hostname == f"master{i}"
            assert info.version == "1.11.0"
            assert [MasterInfo.Capability.Type.Name(c.type) for c in info.capabilities] == [
                "AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
    finally:
        zk.stop()
        zk.close()

    # With credentials in the URL: everyone reads, only the credentials write.
    secured = Contender(procs, binary, "secured", zookeeper.url("/secure/mesos", "alice:secret"), free_port())
    path = secured.wait(wait_until, "joined")["path"]
    zk = zookeeper.client()
    try:
        for znode in ("/secure", "/secure/mesos", path):
            acl = zk.get_acls(znode)[0]
            assert [(a.id.scheme, a.perms) for a in acl] == [("world", Permissions.READ), ("digest", Permissions.ALL)]
            assert acl[0].id.id == "anyone" and acl[1].id.id.startswith("alice:")
        json_format.Parse(zk.get(path)[0].decode(), MasterInfo())
        with pytest.raises(NoAuthError):
            zk.delete(path)
    finally:
        zk.stop()
        zk.close()
    summary("zk: kazoo read 4 json.info_ znodes our contender wrote; each parsed into Apache's "
            "mesos_pb2.MasterInfo (1.11.0); digest-protected znodes readable by all, writable by none else")


class MasterStub:
    """Just enough of a master for pymesos to show whom it found: records
    every request and answers `GET /version` as Mesos 1.11 does."""

    def __init__(self):
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append(("GET", self.path))
                if self.path == "/version":
                    self._answer(200, {"version": "1.11.0", "build_user": "mesos-rs"})
                else:
                    self._answer(404, {})

            def do_POST(self):
                stub.requests.append(("POST", self.path))
                self._answer(503, {})

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def dialled(self):
        return ("GET", "/version") in self.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.timeout(240)
def test_pymesos_detector_follows_our_leader(zookeeper, procs, binary, wait_until, summary):
    from pymesos import MesosSchedulerDriver, Scheduler

    class RecordingDriver(MesosSchedulerDriver):
        """pymesos's driver, noting what its detector tells it."""

        def onNewMasterDetectedMessage(self, data):
            self.detected.append(json.loads(data))
            super().onNewMasterDetectedMessage(data)

        def onNoMasterDetectedMessage(self):
            self.detected.append(None)
            super().onNoMasterDetectedMessage()

    stubs = [MasterStub() for _ in range(3)]
    driver = None
    try:
        # Leader a reaches ZooKeeper through a proxy we can cut; b directly.
        proxy = zookeeper.proxy()
        short = "--zk_session_timeout=2secs"
        a = Contender(procs, binary, "a", proxy.url("/mesos"), stubs[0].port, short)
        a.wait(wait_until, "elected")
        b = Contender(procs, binary, "b", zookeeper.url("/mesos"), stubs[1].port, short)
        b.wait(wait_until, "following")

        driver = RecordingDriver(Scheduler(), {"user": "root", "name": "zk-compat"}, zookeeper.url("/mesos"),
                                 use_addict=True)
        driver.detected = []
        driver.start()
        wait_until(stubs[0].dialled, what="pymesos dials leader a")
        assert driver.detected[0]["pid"] == f"master@127.0.0.1:{stubs[0].port}"
        assert not stubs[1].dialled()

        # The leader is partitioned from ZooKeeper: its session expires, it
        # steps down (exits 1, as a Mesos master does), b is elected, and
        # pymesos moves to b.
        proxy.block()
        lost = a.wait(wait_until, "lost", alive=False)
        assert lost["was_leader"] is True and lost["reason"] == "session expired"
        assert a.proc.wait(30) == 1
        b.wait(wait_until, "elected")
        wait_until(stubs[1].dialled, what="pymesos dials leader b")
        proxy.unblock()

        # b withdraws (a graceful stop): no master at all.
        b.proc.stop()
        assert b.wait(wait_until, "withdrawn", alive=False)["removed"] is True
        wait_until(lambda: driver.detected[-1] is None, what="pymesos notices no master")

        # A new master contends and is found.
        c = Contender(procs, binary, "c", zookeeper.url("/mesos"), stubs[2].port, short)
        c.wait(wait_until, "elected")
        wait_until(stubs[2].dialled, what="pymesos dials leader c")
        assert driver.detected[-1]["address"] == {"hostname": "c", "ip": "127.0.0.1", "port": stubs[2].port}
    finally:
        if driver is not None:
            driver.stop()
        for stub in stubs:
            stub.close()
    summary("zk: pymesos 0.3.15's detector followed our leader through a withdrawal, a partition "
            "(session expiry), an empty group and a new leader, dialling each")


def test_a_missing_zookeeper_is_named(monkeypatch, procs, run_dir):
    import zkserver

    monkeypatch.setattr(zkserver, "ZOOKEEPER_JAR", run_dir / "no-such.jar")
    with pytest.raises(zkserver.ZooKeeperMissing, match="run compat-tests/setup.sh"):
        zkserver.ZooKeeper(procs, run_dir / "zookeeper", 2181)


def test_the_proxy_expires_a_session_on_purpose(zookeeper, wait_until):
    from kazoo.protocol.states import KazooState

    proxy = zookeeper.proxy()
    victim = kazoo_through(proxy)
    observer = zookeeper.client()
    try:
        victim.create("/victim", b"", ephemeral=True)
        states = []
        victim.add_listener(states.append)
        proxy.expire_session(*victim.client_id)
        wait_until(lambda: KazooState.LOST in states, what="the victim's session is lost")
        wait_until(lambda: observer.exists("/victim") is None, what="its ephemeral znode is gone")
    finally:
        for client in (victim, observer):
            client.stop()
            client.close()


def kazoo_through(proxy):
    from kazoo.client import KazooClient

    client = KazooClient(hosts=proxy.hostport)
    client.start(timeout=30)
    return client
