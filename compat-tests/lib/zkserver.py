"""A real ZooKeeper 3.8 for compat-tests, and ways to hurt it.

(Not named `zookeeper.py`: pymesos first tries `import zookeeper`, the zkpython
binding, and must not find this module instead.)

`ZooKeeper` runs Debian's server (installed by `compat-tests/setup.sh`) as a
plain process started through the harness's `Processes`, so it is stopped after
the test and its log is attached to a failure report: a generated `zoo.cfg`
and data directory under the test's run directory, a free loopback port.

For failover tests:

* `ZooKeeper.kill()` / `ZooKeeper.start_again()`: a crash and a restart on the
  same port and data (sessions survive a restart shorter than their timeout);
* `ZooKeeper.proxy()` gives a `TcpProxy` to put between one client and the
  server; `TcpProxy.block()` partitions that client alone (the server expires
  its session after the timeout, and the client expires it on its own side),
  `TcpProxy.unblock()` heals the partition;
* `TcpProxy.expire_session(session_id, password)`: ends at once the session of
  a client behind the proxy whose password is known (a kazoo client's
  `client_id`): the proxy cuts the client off, a second client attaches to the
  session straight at the server and closes it, then the proxy lets the first
  back to learn its session expired. (Without the cut, the first client would
  keep taking its session back.) Our own processes do not reveal their session
  password: partition them with `block()` instead, which expires their session
  the way a real partition does.
"""

import select
import socket
import threading
from pathlib import Path

import harness

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
ZOOKEEPER_CONF = Path("/etc/zookeeper/conf")
# The SLF4J binding and log4j that make ZooKeeper write its log.
LOG_JARS = [Path("/usr/share/java/slf4j-log4j12.jar"), Path("/usr/share/java/log4j-1.2.jar")]
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


class ZooKeeperMissing(harness.HarnessError):
    """ZooKeeper is not installed here."""


def four_letter(hostport, command, timeout=2.0):
    """Sends a four-letter command; the answer, or None if nobody answers."""
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(command.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


class ZooKeeper:
    """One standalone ZooKeeper server on 127.0.0.1. `str()` is `host:port`."""

    def __init__(self, procs, directory, port, tick_ms=500, min_session_ms=1000, max_session_ms=60000):
        if not ZOOKEEPER_JAR.exists():
            raise ZooKeeperMissing(
                f"ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run compat-tests/setup.sh "
                "(it installs Debian's zookeeper package)"
            )
        self.procs = procs
        self.dir = Path(directory)
        self.port = port
        self.proc = None
        self.proxies = []
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "zoo.cfg").write_text(
            f"tickTime={tick_ms}\ninitLimit=10\nsyncLimit=5\n"
            f"dataDir={self.dir / 'data'}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n4lw.commands.whitelist=*\n"
            f"minSessionTimeout={min_session_ms}\nmaxSessionTimeout={max_session_ms}\n"
        )

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    def __str__(self):
        return self.hostport

    def url(self, path, credentials=None):
        """`zk://[credentials@]127.0.0.1:<port><path>`."""
        auth = f"{credentials}@" if credentials else ""
        return f"zk://{auth}{self.hostport}{path}"

    def argv(self):
        classpath = [str(ZOOKEEPER_CONF), str(ZOOKEEPER_JAR)] + [str(j) for j in LOG_JARS if j.exists()]
        return [
            "java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.root.logger=INFO,CONSOLE",
            "-cp", ":".join(classpath), MAIN_CLASS, str(self.dir / "zoo.cfg"),
        ]

    def start(self, timeout=90):
        """Starts the server and waits until it answers `ruok`."""
        __tracebackhide__ = True
        self.proc = self.procs.start("zookeeper", self.argv())
        harness.wait_until(
            lambda: four_letter(self.hostport, "ruok") == "imok",
            timeout=timeout, what=f"ZooKeeper on {self.hostport}", proc=self.proc,
        )
        return self

    def kill(self):
        """SIGKILL: a crash. The data stays for `start_again`."""
        if self.proc is not None:
            self.proc.kill()
            self.proc = None

    def start_again(self):
        """Starts the killed server on the same port and data."""
        assert self.proc is None, "ZooKeeper is still running"
        return self.start()

    def client(self, **kwargs):
        """A started kazoo client (the caller stops it)."""
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=self.hostport, **kwargs)
        zk.start(timeout=30)
        return zk

    def proxy(self):
        """A `TcpProxy` to this server (closed by `close`)."""
        proxy = TcpProxy(("127.0.0.1", self.port))
        self.proxies.append(proxy)
        return proxy

    def close(self):
        """Closes the proxies (the server itself stops with the test's processes)."""
        for proxy in self.proxies:
            proxy.close()


class TcpProxy:
    """Forwards a loopback port to a server until told to cut the line.

    `block()` closes every forwarded connection and holds new ones open without
    an answer (a black hole: what a partition looks like to the client);
    `unblock()` lets connections through again.
    """

    def __init__(self, target):
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.blocked = False
        self.pairs = []  # (client socket, server socket) being forwarded
        self.held = []  # sockets accepted while blocked
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"proxy:{self.port}").start()

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    def url(self, path, credentials=None):
        auth = f"{credentials}@" if credentials else ""
        return f"zk://{auth}{self.hostport}{path}"

    def block(self):
        with self.lock:
            self.blocked = True
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                _close(s)

    def unblock(self):
        with self.lock:
            self.blocked = False
            held, self.held = self.held, []
        for s in held:
            _close(s)

    def expire_session(self, session_id, password):
        """Expires the session of a client behind this proxy (see the module docs)."""
        from kazoo.client import KazooClient

        self.block()
        try:
            other = KazooClient(hosts="%s:%d" % self.target, client_id=(session_id, password))
            other.start(timeout=30)
            other.stop()
            other.close()
        finally:
            self.unblock()

    def close(self):
        self.closed = True
        _close(self.listener)
        self.block()
        self.unblock()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.blocked:
                    self.held.append(client)
                    continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client, server):
        sockets = [client, server]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 1.0)
                with self.lock:
                    if (client, server) not in self.pairs:
                        return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (server if s is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                if (client, server) in self.pairs:
                    self.pairs.remove((client, server))
            _close(client)
            _close(server)


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def start(procs, run_dir, free_port, **options):
    """Starts a ZooKeeper for one test, in `run_dir/zookeeper`."""
    return ZooKeeper(procs, Path(run_dir) / "zookeeper", free_port(), **options).start()
