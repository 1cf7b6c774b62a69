//! A real ZooKeeper for Rust tests, and ways to hurt it.
//!
//! [`ZkServer::start`] runs Debian's ZooKeeper 3.8 (installed by
//! `compat-tests/setup.sh`) as a plain child process: a generated `zoo.cfg` in a
//! fresh directory under cargo's test tmpdir, a free loopback port, logs in
//! `zookeeper.log` beside it. It is killed when the `ZkServer` is dropped; the
//! directory is removed unless the test is failing (then its path is printed).
//!
//! Faults, for failover tests:
//! - [`ZkServer::kill`] / [`ZkServer::start_again`]: a crash and a restart on
//!   the same port and data (sessions survive a restart shorter than their
//!   timeout, as with a real ensemble);
//! - [`TcpProxy`]: put it between a client and the server, then
//!   [`TcpProxy::block`] to partition that client only (its session expires on
//!   the server after the timeout, and the client expires it locally);
//! - [`TcpProxy::expire_session`]: ends the session of a client behind the
//!   proxy right away (a second client attaches to the same session and closes
//!   it), the classic way to test session expiry without waiting for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos_rs::zookeeper::ZkClient;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Debian's ZooKeeper server jar (its manifest names the other jars).
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Debian's configuration directory (holds `log4j.properties`).
pub const ZOOKEEPER_CONF: &str = "/etc/zookeeper/conf";
/// The SLF4J binding and log4j that make ZooKeeper write its log.
const LOG_JARS: &[&str] = &["/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"];

/// How long a server may take to answer `ruok` before a test gives up.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// Server settings tests may change.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// `tickTime` in ms. Sessions can be as short as 2 ticks.
    pub tick_ms: u32,
    /// `minSessionTimeout` / `maxSessionTimeout` in ms.
    pub min_session_ms: u32,
    pub max_session_ms: u32,
}

impl Default for ZkOptions {
    fn default() -> Self {
        ZkOptions { tick_ms: 500, min_session_ms: 1000, max_session_ms: 60_000 }
    }
}

/// One standalone ZooKeeper server on 127.0.0.1.
pub struct ZkServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl ZkServer {
    /// Starts a server with the default options. Panics, naming
    /// `compat-tests/setup.sh`, when ZooKeeper is not installed.
    pub fn start() -> ZkServer {
        ZkServer::start_with(ZkOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: ZkOptions) -> ZkServer {
        assert!(
            Path::new(ZOOKEEPER_JAR).exists(),
            "ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run compat-tests/setup.sh \
             (it installs Debian's zookeeper package)"
        );
        assert!(
            Command::new("java").arg("-version").stderr(Stdio::null()).status().is_ok(),
            "no `java` on PATH: run compat-tests/setup.sh (Debian's zookeeper package pulls a JRE)"
        );
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zookeeper");
        let dir = base.join(format!("zk-{}-{}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("create the ZooKeeper directory");
        // A port taken between our check and ZooKeeper's bind: try another.
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n\
                 minSessionTimeout={}\nmaxSessionTimeout={}\n",
                options.tick_ms,
                dir.join("data").display(),
                options.min_session_ms,
                options.max_session_ms,
            );
            std::fs::write(dir.join("zoo.cfg"), config).expect("write zoo.cfg");
            let mut server = ZkServer { port, dir: dir.clone(), child: None };
            if server.launch() {
                return server;
            }
            server.child = None;
        }
        panic!("ZooKeeper did not start; see {}", dir.join("zookeeper.log").display());
    }

    /// `127.0.0.1:<port>`.
    pub fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `zk://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.hostport())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL: a crash). Its data stays for [`Self::start_again`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed server again on the same port and data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        assert!(self.launch(), "ZooKeeper did not restart; see {}", self.dir.join("zookeeper.log").display());
    }

    /// Starts java and waits for `imok`; false if the port was taken.
    fn launch(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("zookeeper.log"))
            .expect("open zookeeper.log");
        let mut classpath = vec![ZOOKEEPER_CONF, ZOOKEEPER_JAR];
        classpath.extend(LOG_JARS.iter().filter(|jar| Path::new(jar).exists()));
        let child = Command::new("java")
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.root.logger=INFO,CONSOLE"])
            .arg("-cp")
            .arg(classpath.join(":"))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start java");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if four_letter(self.addr(), "ruok").as_deref() == Some("imok") {
                return true;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                if self.log().contains("Address already in use") {
                    return false;
                }
                panic!("ZooKeeper exited ({status}) while starting; its log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("ZooKeeper did not answer `ruok` in {START_DEADLINE:?}; its log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("ZooKeeper's directory (log, data) is kept: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Sends a four-letter command; the answer, or `None` if the server does not
/// answer (yet).
pub fn four_letter(addr: SocketAddr, command: &str) -> Option<String> {
    let mut stream = StdStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A TCP proxy to one server that tests can cut.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    /// `true` while blocked; every change also ends the open connections.
    blocked: watch::Sender<bool>,
    /// Connections accepted while blocked: held open, never answered (a
    /// black hole, as a partition looks to the client).
    held: Arc<Mutex<Vec<TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (blocked, _) = watch::channel(false);
        let held = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(listener, target, blocked.clone(), held.clone()));
        TcpProxy { addr, target, blocked, held, task }
    }

    /// `127.0.0.1:<port>` of the proxy.
    pub fn hostport(&self) -> String {
        self.addr.to_string()
    }

    /// `zk://127.0.0.1:<proxy port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.hostport())
    }

    /// Cuts every open connection and black-holes new ones.
    pub fn block(&self) {
        self.blocked.send_replace(true);
    }

    /// Lets connections through again (held ones are closed, so their
    /// clients connect anew).
    pub fn unblock(&self) {
        self.held.lock().unwrap().clear();
        self.blocked.send_replace(false);
    }

    /// Expires the session of `client`, which must reach ZooKeeper through
    /// this proxy, at once: the proxy cuts the client off, a second client
    /// attaches to the same session (id and password) straight at the server
    /// and closes it, then the proxy lets the first client back, to be told its
    /// session expired. (Without the cut the first client would keep taking its
    /// session back from the second one.)
    pub async fn expire_session(&self, client: &ZkClient) {
        self.block();
        let session = client.raw().session().clone();
        let other = zookeeper_client::Client::connector()
            .with_session(session)
            .with_session_timeout(client.session_timeout())
            .connect(&self.target.to_string())
            .await
            .expect("attach a second client to the session");
        // Dropping the last handle sends closeSession: wait until it is done.
        let mut states = other.state_watcher();
        drop(other);
        while !states.changed().await.is_terminated() {}
        self.unblock();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.blocked.send_replace(true);
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    blocked: watch::Sender<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { continue };
        if *blocked.borrow() {
            held.lock().unwrap().push(inbound);
            continue;
        }
        let mut cut = blocked.subscribe();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|blocked| *blocked) => {}
            }
        });
    }
}

/// Awaits `future`, failing the test if it never completes: a guard against
/// hangs, generous on purpose (never an assertion about timing).
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(120), future).await {
        Ok(output) => output,
        Err(_) => panic!("never happened: {what}"),
    }
}
