//! Helpers for the driver tests over the real wire: fake masters and agents
//! (libprocess nodes of their own, on loopback, each on its own runtime so
//! that dropping one closes every socket it had, like a killed process), and
//! schedulers/executors that report their callbacks on a channel.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesos_rs::driver::runtime;
use mesos_rs::driver::{Executor, ExecutorDriver, Scheduler, SchedulerDriver};
use mesos_rs::master::sim::agent::Out;
use mesos_rs::master::sim::{AgentSpec, AgentTimer, FakeAgent};
use mesos_rs::master::Now as MasterNow;
use mesos_rs::proto::mesos::{
    value, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, Resource, SlaveId,
    SlaveInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_rs::v0_compat::{serve, Config, Event, Message, MessageType, Node, Options, Process, Upid};

/// How long a test waits for something that should happen at once before
/// failing (a guard against hanging, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Puts the drivers' libprocess instance on loopback (once per test binary).
pub fn init() {
    let config = Config { ip: Some(Ipv4Addr::LOCALHOST), ..Config::default() };
    runtime::initialize(config).expect("libprocess on loopback");
}

/// A libprocess node standing in for a master or an agent.
pub struct FakeNode {
    runtime: Option<tokio::runtime::Runtime>,
    pub node: Node,
}

impl FakeNode {
    /// A node served at `addr` (port 0: any free port).
    pub fn bind(addr: &str) -> FakeNode {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        let node = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let bound = listener.local_addr().unwrap();
            let options = Options { shutdown_grace: Duration::from_millis(10), ..Options::default() };
            let node = Node::new(bound, options);
            tokio::spawn(serve(listener, node.clone(), axum::Router::new(), std::future::pending()));
            node
        });
        FakeNode { runtime: Some(runtime), node }
    }

    pub fn addr(&self) -> SocketAddr {
        self.node.address()
    }

    pub fn spawn(&self, id: &str) -> FakeProcess {
        let process = self.node.spawn(id).unwrap();
        FakeProcess { process, runtime: self.runtime.as_ref().unwrap().handle().clone() }
    }

    /// Kills the node: every socket it had closes.
    pub fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Binds a fake node at `address`, retrying while a killed node's listening
/// socket lingers.
pub fn bind_retrying(address: SocketAddr) -> FakeNode {
    for _ in 0..200 {
        if std::net::TcpListener::bind(address).is_ok() {
            return FakeNode::bind(&address.to_string());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{address} stayed in use");
}

/// One process of a fake node, read and written synchronously.
pub struct FakeProcess {
    process: Process,
    runtime: tokio::runtime::Handle,
}

impl FakeProcess {
    pub fn pid(&self) -> Upid {
        self.process.pid().clone()
    }

    /// The next event, or a panic after [`PATIENCE`].
    pub fn event(&mut self) -> Event {
        let process = &mut self.process;
        self.runtime
            .block_on(async { tokio::time::timeout(PATIENCE, process.recv()).await })
            .expect("an event in time")
            .expect("the node is alive")
    }

    /// The next event if one comes within `wait`.
    pub fn try_event(&mut self, wait: Duration) -> Option<Event> {
        let process = &mut self.process;
        self.runtime.block_on(async { tokio::time::timeout(wait, process.recv()).await }).ok().flatten()
    }

    /// The next message (exits skipped).
    pub fn recv(&mut self) -> (Upid, Message) {
        loop {
            if let Event::Message { from, message } = self.event() {
                return (from, message);
            }
        }
    }

    /// The next message that `pick` accepts; others are skipped.
    pub fn recv_where<T>(&mut self, mut pick: impl FnMut(&Message) -> Option<T>) -> (Upid, T) {
        loop {
            let (from, message) = self.recv();
            if let Some(t) = pick(&message) {
                return (from, t);
            }
        }
    }

    /// The next scheduler call of type `kind`.
    pub fn recv_call(
        &mut self,
        kind: mesos_rs::proto::mesos::scheduler::call::Type,
    ) -> (Upid, mesos_rs::proto::mesos::scheduler::Call) {
        self.recv_where(|m| match m {
            Message::SchedulerCall(c) if c.r#type == Some(kind as i32) => Some((**c).clone()),
            _ => None,
        })
    }

    pub fn send<M: MessageType>(&self, to: &Upid, message: M) {
        self.process.handle().send(to, &message).unwrap();
    }

    pub fn raw_send(&self, to: &Upid, message: &Message) -> Result<(), mesos_rs::v0_compat::SendError> {
        self.process.handle().send(to, message)
    }

    pub fn link(&self, to: &Upid) {
        self.process.handle().link(to);
    }
}

/// What a test scheduler saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Registered(FrameworkId, MasterInfo),
    Reregistered(MasterInfo),
    Disconnected,
    Offers(Vec<Offer>),
    Rescinded(OfferId),
    Status(TaskStatus),
    FrameworkMessage(ExecutorId, SlaveId, Vec<u8>),
    SlaveLost(SlaveId),
    ExecutorLost(ExecutorId, SlaveId, i32),
    Error(String),
}

type SchedulerHook = Box<dyn FnMut(&dyn SchedulerDriver, &Seen) + Send>;

/// A scheduler that runs `hook` on each callback, then reports it.
pub struct Recorder {
    tx: mpsc::Sender<Seen>,
    hook: SchedulerHook,
}

impl Recorder {
    pub fn new(
        hook: impl FnMut(&dyn SchedulerDriver, &Seen) + Send + 'static,
    ) -> (Box<Recorder>, mpsc::Receiver<Seen>) {
        let (tx, rx) = mpsc::channel();
        (Box::new(Recorder { tx, hook: Box::new(hook) }), rx)
    }

    pub fn passive() -> (Box<Recorder>, mpsc::Receiver<Seen>) {
        Recorder::new(|_, _| {})
    }

    fn saw(&mut self, driver: &dyn SchedulerDriver, seen: Seen) {
        (self.hook)(driver, &seen);
        let _ = self.tx.send(seen);
    }
}

impl Scheduler for Recorder {
    fn registered(&mut self, d: &dyn SchedulerDriver, id: &FrameworkId, info: &MasterInfo) {
        self.saw(d, Seen::Registered(id.clone(), info.clone()));
    }
    fn reregistered(&mut self, d: &dyn SchedulerDriver, info: &MasterInfo) {
        self.saw(d, Seen::Reregistered(info.clone()));
    }
    fn disconnected(&mut self, d: &dyn SchedulerDriver) {
        self.saw(d, Seen::Disconnected);
    }
    fn resource_offers(&mut self, d: &dyn SchedulerDriver, offers: &[Offer]) {
        self.saw(d, Seen::Offers(offers.to_vec()));
    }
    fn offer_rescinded(&mut self, d: &dyn SchedulerDriver, id: &OfferId) {
        self.saw(d, Seen::Rescinded(id.clone()));
    }
    fn status_update(&mut self, d: &dyn SchedulerDriver, status: &TaskStatus) {
        self.saw(d, Seen::Status(status.clone()));
    }
    fn framework_message(&mut self, d: &dyn SchedulerDriver, e: &ExecutorId, s: &SlaveId, data: &[u8]) {
        self.saw(d, Seen::FrameworkMessage(e.clone(), s.clone(), data.to_vec()));
    }
    fn slave_lost(&mut self, d: &dyn SchedulerDriver, s: &SlaveId) {
        self.saw(d, Seen::SlaveLost(s.clone()));
    }
    fn executor_lost(&mut self, d: &dyn SchedulerDriver, e: &ExecutorId, s: &SlaveId, status: i32) {
        self.saw(d, Seen::ExecutorLost(e.clone(), s.clone(), status));
    }
    fn error(&mut self, d: &dyn SchedulerDriver, message: &str) {
        self.saw(d, Seen::Error(message.to_string()));
    }
}

/// The next thing seen, or a panic after [`PATIENCE`].
pub fn next<T: std::fmt::Debug>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(PATIENCE).expect("a callback in time")
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// What a test executor saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecSeen {
    Registered(ExecutorInfo, FrameworkInfo, SlaveInfo),
    Reregistered(SlaveInfo),
    Disconnected,
    Launch(TaskInfo),
    Kill(TaskId),
    FrameworkMessage(Vec<u8>),
    Shutdown,
    Error(String),
}

type ExecutorHook = Box<dyn FnMut(&dyn ExecutorDriver, &ExecSeen) + Send>;

/// An executor that runs `hook` on each callback, then reports it.
pub struct ExecRecorder {
    tx: mpsc::Sender<ExecSeen>,
    hook: ExecutorHook,
}

impl ExecRecorder {
    pub fn new(
        hook: impl FnMut(&dyn ExecutorDriver, &ExecSeen) + Send + 'static,
    ) -> (Box<ExecRecorder>, mpsc::Receiver<ExecSeen>) {
        let (tx, rx) = mpsc::channel();
        (Box::new(ExecRecorder { tx, hook: Box::new(hook) }), rx)
    }

    fn saw(&mut self, driver: &dyn ExecutorDriver, seen: ExecSeen) {
        (self.hook)(driver, &seen);
        let _ = self.tx.send(seen);
    }
}

impl Executor for ExecRecorder {
    fn registered(&mut self, d: &dyn ExecutorDriver, e: &ExecutorInfo, f: &FrameworkInfo, s: &SlaveInfo) {
        self.saw(d, ExecSeen::Registered(e.clone(), f.clone(), s.clone()));
    }
    fn reregistered(&mut self, d: &dyn ExecutorDriver, s: &SlaveInfo) {
        self.saw(d, ExecSeen::Reregistered(s.clone()));
    }
    fn disconnected(&mut self, d: &dyn ExecutorDriver) {
        self.saw(d, ExecSeen::Disconnected);
    }
    fn launch_task(&mut self, d: &dyn ExecutorDriver, task: &TaskInfo) {
        self.saw(d, ExecSeen::Launch(task.clone()));
    }
    fn kill_task(&mut self, d: &dyn ExecutorDriver, id: &TaskId) {
        self.saw(d, ExecSeen::Kill(id.clone()));
    }
    fn framework_message(&mut self, d: &dyn ExecutorDriver, data: &[u8]) {
        self.saw(d, ExecSeen::FrameworkMessage(data.to_vec()));
    }
    fn shutdown(&mut self, d: &dyn ExecutorDriver) {
        self.saw(d, ExecSeen::Shutdown);
    }
    fn error(&mut self, d: &dyn ExecutorDriver, message: &str) {
        self.saw(d, ExecSeen::Error(message.to_string()));
    }
}

/// A scripted agent of the master's simulation ([`FakeAgent`]) on a fake
/// node of its own, run by a thread: registers, runs tasks, streams their
/// updates to the master and answers pings, until dropped.
pub struct SimAgent {
    pub agent: Arc<Mutex<FakeAgent>>,
    commands: mpsc::Sender<Upid>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _node: FakeNode,
}

impl SimAgent {
    pub fn start(master: &Upid, spec: AgentSpec) -> SimAgent {
        let node = FakeNode::bind("127.0.0.1:0");
        let mut process = node.spawn("slave(1)");
        let agent = Arc::new(Mutex::new(FakeAgent::new(process.pid(), master.clone(), spec)));
        let (commands, orders) = mpsc::channel::<Upid>();
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (agent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let origin = Instant::now();
            let now = || MasterNow {
                monotonic: origin.elapsed(),
                unix: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
            };
            let mut timers: Vec<(Duration, AgentTimer)> = Vec::new();
            let apply = |out: Out, process: &FakeProcess, timers: &mut Vec<(Duration, AgentTimer)>| {
                for (to, message) in out.sends {
                    let _ = process.raw_send(&to, &message);
                }
                for (after, timer) in out.timers {
                    timers.push((origin.elapsed() + after, timer));
                }
            };
            let out = shared.lock().unwrap().start(now());
            apply(out, &process, &mut timers);
            while !stopping.load(Ordering::SeqCst) {
                while let Ok(master) = orders.try_recv() {
                    let out = shared.lock().unwrap().detected(master);
                    apply(out, &process, &mut timers);
                }
                timers.sort_by_key(|(at, _)| *at);
                while timers.first().is_some_and(|(at, _)| *at <= origin.elapsed()) {
                    let (_, timer) = timers.remove(0);
                    let out = shared.lock().unwrap().timer(now(), timer);
                    apply(out, &process, &mut timers);
                }
                if let Some(Event::Message { from, message }) = process.try_event(Duration::from_millis(20)) {
                    let out = shared.lock().unwrap().handle(now(), &from, message);
                    apply(out, &process, &mut timers);
                }
            }
        });
        SimAgent { agent, commands, stop, thread: Some(thread), _node: node }
    }

    /// Tells the agent a new master leads (it reregisters).
    pub fn detected(&self, master: &Upid) {
        let _ = self.commands.send(master.clone());
    }

    pub fn registered(&self) -> bool {
        self.agent.lock().unwrap().registered
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls `condition` until it holds (a guard of [`PATIENCE`] against hanging).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One of our daemons (`mesos-master`, `mesos-agent`) as a child process in
/// a process group of its own, killed on drop.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `binary` with `args` and waits until `port` serves `health`.
    pub fn start(binary: &str, args: &[String], port: u16, health: &str) -> Daemon {
        let child = Command::new(binary)
            .args(args)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        let daemon = Daemon { child };
        wait_until(health, || http_get(port, health).is_some_and(|(code, _)| code == 200));
        daemon
    }

    /// Our master on 127.0.0.1:`port`, its registry under `work_dir`.
    pub fn master(binary: &str, port: u16, work_dir: &Path) -> Daemon {
        let args = [
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            format!("--work_dir={}", work_dir.display()),
            "--quiet".to_string(),
        ];
        Daemon::start(binary, &args, port, "/master/health")
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on loopback: status code and body, `None` if
/// nobody answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The master's `/master/state`.
pub fn master_state(port: u16) -> serde_json::Value {
    let (_, body) = http_get(port, "/master/state").expect("state");
    serde_json::from_str(&body).expect("state JSON")
}

pub fn scalar(name: &str, amount: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Default::default()
    }
}

pub fn is_state(seen: &Seen, task: &str, state: TaskState) -> bool {
    matches!(seen, Seen::Status(s) if s.task_id.value == task && s.state == state as i32)
}

/// Skips callbacks until one satisfies `pick` (offers keep coming).
pub fn next_matching(rx: &mpsc::Receiver<Seen>, what: &str, mut pick: impl FnMut(&Seen) -> bool) -> Seen {
    loop {
        let seen = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("waited too long for {what}"));
        if pick(&seen) {
            return seen;
        }
    }
}
