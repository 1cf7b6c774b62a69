//! The agent's driver: the only place where the state machine meets
//! sockets, timers, the filesystem and the containerizer.
//!
//! One task owns the [`Agent`] and runs [`Driver::run`]: it turns the v0
//! process's mailbox, timer deadlines, containerizer results, master
//! detections and HTTP requests into [`Event`]s, calls `handle`, and
//! carries out the effects in order (the mechanical loop of quinn's
//! `ConnectionDriver`). Effects that wait (a container launch, a
//! `Containerizer::wait`) run in their own tasks and come back as events.
//! HTTP handlers reach the agent through an [`AgentHandle`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::containerizer::{ContainerConfig, Containerizer};
use super::core::{Agent, ApiResponse, ConnId, Effect, Event, RequestId, Time, TimerId};
use super::detector::MasterDetector;
use super::state;
use crate::proto::mesos::executor;
use crate::v0_compat::{Event as WireEvent, Process};

/// A real clock: wall-clock time that never goes backwards (the wall clock
/// at start plus a monotonic elapsed time).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: Duration,
    start: Instant,
    tokio_start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Clock { wall, start: Instant::now(), tokio_start: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> Time {
        Time(self.wall + self.start.elapsed())
    }

    fn deadline(&self, at: Time) -> tokio::time::Instant {
        self.tokio_start + at.0.saturating_sub(self.wall)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Where the answer to an executor call goes: the response, and the stream
/// when a SUBSCRIBE was accepted.
pub type Reply = oneshot::Sender<(ApiResponse, Option<ConnId>)>;

/// A request for the agent loop.
pub enum Input {
    Event(Event),
    /// An executor API call; SUBSCRIBE calls bring the sender of their stream.
    ExecutorCall {
        call: executor::Call,
        stream: Option<mpsc::UnboundedSender<executor::Event>>,
        reply: Reply,
    },
    StreamClosed(ConnId),
    /// Read the agent (for endpoints).
    Query(Box<dyn FnOnce(&Agent) + Send>),
}

/// How HTTP handlers and helper tasks talk to the agent loop. Cheap to clone.
#[derive(Clone)]
pub struct AgentHandle {
    tx: mpsc::UnboundedSender<Input>,
}

impl AgentHandle {
    /// Runs `f` on the agent between two events; `None` if the agent is gone.
    pub async fn query<R: Send + 'static>(&self, f: impl FnOnce(&Agent) -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let job: Box<dyn FnOnce(&Agent) + Send> = Box::new(move |agent| {
            let _ = tx.send(f(agent));
        });
        self.tx.send(Input::Query(job)).ok()?;
        rx.await.ok()
    }

    /// Hands an executor call to the agent. For SUBSCRIBE, also returns the
    /// stream of events when the agent accepted it.
    pub async fn executor_call(
        &self,
        call: executor::Call,
    ) -> Option<(ApiResponse, Option<(ConnId, mpsc::UnboundedReceiver<executor::Event>)>)> {
        let subscribe = call.r#type() == executor::call::Type::Subscribe;
        let (stream_tx, stream_rx) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        let stream = subscribe.then_some(stream_tx);
        self.tx.send(Input::ExecutorCall { call, stream, reply }).ok()?;
        let (response, conn) = answer.await.ok()?;
        Some((response, conn.map(|c| (c, stream_rx))))
    }

    /// An executor's stream went away.
    pub fn stream_closed(&self, conn: ConnId) {
        let _ = self.tx.send(Input::StreamClosed(conn));
    }

    pub fn event(&self, event: Event) {
        let _ = self.tx.send(Input::Event(event));
    }
}

/// Creates the sandbox as Mesos's `createExecutorDirectory` does: the run
/// directory (mode 0750) and the executor's `runs/latest` symlink pointing
/// at it. (Handing it to the task's user is the containerizer's job, once
/// it knows it may switch users.)
pub fn create_sandbox(directory: &Path, latest: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(directory)
        .map_err(|e| format!("Failed to create directory '{}': {e}", directory.display()))?;
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o750))
        .map_err(|e| format!("Failed to chmod directory '{}': {e}", directory.display()))?;
    state::apply(&state::FsOp::Symlink { target: directory.to_path_buf(), link: latest.to_path_buf() })
        .map_err(|e| e.to_string())
}

/// Everything the loop drives.
pub struct Driver {
    agent: Agent,
    clock: Clock,
    rx: mpsc::UnboundedReceiver<Input>,
    tx: mpsc::UnboundedSender<Input>,
    process: Process,
    containerizer: Arc<dyn Containerizer>,
    detector: Arc<dyn MasterDetector>,
    timers: BTreeMap<(Time, u64), TimerId>,
    timer_seq: u64,
    streams: HashMap<ConnId, mpsc::UnboundedSender<executor::Event>>,
    next_conn: ConnId,
    pending: HashMap<RequestId, (Reply, Option<ConnId>)>,
    next_request: RequestId,
    detection: Option<JoinHandle<()>>,
    gc: HashMap<PathBuf, JoinHandle<()>>,
    exit: Option<(i32, String)>,
}

impl Driver {
    /// A driver for `agent`, receiving v0 messages on `process` (the agent's
    /// `slave(1)`), with its handle for HTTP.
    pub fn new(
        agent: Agent,
        clock: Clock,
        process: Process,
        containerizer: Arc<dyn Containerizer>,
        detector: Arc<dyn MasterDetector>,
    ) -> (Driver, AgentHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = AgentHandle { tx: tx.clone() };
        let driver = Driver {
            agent,
            clock,
            rx,
            tx,
            process,
            containerizer,
            detector,
            timers: BTreeMap::new(),
            timer_seq: 0,
            streams: HashMap::new(),
            next_conn: 1,
            pending: HashMap::new(),
            next_request: 1,
            detection: None,
            gc: HashMap::new(),
            exit: None,
        };
        (driver, handle)
    }

    /// Runs until the agent exits (its status and reason) or `shutdown`
    /// completes (`(0, ...)`; executors keep running, as when Mesos's agent
    /// is stopped with SIGTERM). `first` starts the agent (the recovered
    /// state).
    pub async fn run(mut self, first: Event, shutdown: impl Future<Output = ()>) -> (i32, String) {
        tokio::pin!(shutdown);
        self.handle(first);
        loop {
            if let Some(exit) = self.exit.take() {
                self.stop_tasks();
                return exit;
            }
            let next = self.timers.keys().next().map(|(at, _)| self.clock.deadline(*at));
            let sleep = async {
                match next {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    self.stop_tasks();
                    return (0, "Agent stopped".into());
                }
                input = self.rx.recv() => match input {
                    Some(input) => self.on_input(input),
                    None => return (1, "agent handle closed".into()),
                },
                wire = self.process.recv() => match wire {
                    Some(WireEvent::Message { from, message }) => self.handle(Event::Message { from, message }),
                    Some(WireEvent::Exited(pid)) => self.handle(Event::Exited(pid)),
                    Some(WireEvent::Raw { .. }) => {}
                    None => return (1, "libprocess node gone".into()),
                },
                _ = sleep => self.fire_timers(),
            }
        }
    }

    fn stop_tasks(&mut self) {
        if let Some(d) = self.detection.take() {
            d.abort();
        }
        for (_, t) in self.gc.drain() {
            t.abort();
        }
    }

    fn fire_timers(&mut self) {
        let now = self.clock.now();
        let due: Vec<(Time, u64)> = self.timers.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
        for key in due {
            if let Some(id) = self.timers.remove(&key) {
                self.handle(Event::Timer(id));
            }
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Event(event) => self.handle(event),
            Input::Query(job) => job(&self.agent),
            Input::StreamClosed(conn) => {
                if self.streams.remove(&conn).is_some() {
                    self.handle(Event::ExecutorStreamClosed(conn));
                }
            }
            Input::ExecutorCall { call, stream, reply } => {
                let request = self.next_request;
                self.next_request += 1;
                let conn = stream.map(|sender| {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    self.streams.insert(conn, sender);
                    conn
                });
                self.pending.insert(request, (reply, conn));
                self.handle(Event::ExecutorCall { request, stream: conn, call });
                // An answer must always come; a missing one is a bug.
                if let Some((reply, conn)) = self.pending.remove(&request) {
                    tracing::error!("No answer to executor call {request}");
                    if let Some(conn) = conn {
                        self.streams.remove(&conn);
                    }
                    let _ = reply.send((ApiResponse::Error(500, "No answer".into()), None));
                }
            }
        }
    }

    /// One event through the state machine, effects carried out in order.
    fn handle(&mut self, event: Event) {
        let now = self.clock.now();
        let effects = self.agent.handle(now, event);
        for effect in effects {
            self.execute(effect);
            if self.exit.is_some() {
                break;
            }
        }
    }

    fn spawn_event<F>(&self, future: F)
    where
        F: Future<Output = Event> + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let event = future.await;
            let _ = tx.send(Input::Event(event));
        });
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Send { to, message } => {
                if let Err(e) = self.process.handle().send(&to, &message) {
                    tracing::warn!(to = %to, name = message.name(), "Failed to send: {e}");
                }
            }
            Effect::Link { to } => self.process.handle().link(&to),
            Effect::ExecutorEvent { stream, event } => {
                if let Some(sender) = self.streams.get(&stream) {
                    if sender.send(*event).is_err() {
                        self.streams.remove(&stream);
                    }
                }
            }
            Effect::CloseExecutorStream { stream } => {
                self.streams.remove(&stream);
            }
            Effect::Respond { request, response } => {
                if let Some((reply, conn)) = self.pending.remove(&request) {
                    let accepted = response == ApiResponse::Stream;
                    if !accepted {
                        if let Some(conn) = conn {
                            self.streams.remove(&conn);
                        }
                    }
                    let _ = reply.send((response, if accepted { conn } else { None }));
                }
            }
            Effect::SetTimer { id, at } => {
                self.timer_seq += 1;
                self.timers.insert((at, self.timer_seq), id);
            }
            Effect::Fs(op) => {
                if let Err(e) = state::apply(&op) {
                    // Mesos CHECK-fails on a checkpoint it cannot write.
                    self.exit = Some((1, format!("Failed to checkpoint: {e}")));
                }
            }
            Effect::Launch { framework_id, executor_id, latest, config } => {
                let containerizer = self.containerizer.clone();
                self.spawn_event(async move {
                    let container_id = config.container_id.clone();
                    let result = launch(containerizer, *config, &latest).await;
                    Event::Launched { framework_id, executor_id, container_id, result }
                });
            }
            Effect::Wait { framework_id, executor_id, container_id } => {
                let containerizer = self.containerizer.clone();
                self.spawn_event(async move {
                    let termination = containerizer.wait(container_id.clone()).await;
                    Event::ContainerTerminated { framework_id, executor_id, container_id, termination }
                });
            }
            Effect::Destroy { container_id } => {
                let containerizer = self.containerizer.clone();
                tokio::spawn(async move {
                    containerizer.destroy(container_id).await;
                });
            }
            Effect::Update { container_id, resources, then } => {
                let containerizer = self.containerizer.clone();
                self.spawn_event(async move {
                    let result = containerizer.update(container_id.clone(), resources).await.map_err(|e| e.to_string());
                    Event::ContainerUpdated { container_id, result, then }
                });
            }
            Effect::RecoverContainers { containers } => {
                let containerizer = self.containerizer.clone();
                self.spawn_event(async move {
                    Event::ContainersRecovered(containerizer.recover(containers).await.map_err(|e| e.to_string()))
                });
            }
            Effect::DetectMaster { previous } => {
                if let Some(old) = self.detection.take() {
                    old.abort();
                }
                let detection = self.detector.detect(previous);
                let tx = self.tx.clone();
                self.detection = Some(tokio::spawn(async move {
                    let event = match detection.await {
                        Ok(master) => Event::MasterDetected(master),
                        Err(e) => Event::MasterDetectionFailed(e),
                    };
                    let _ = tx.send(Input::Event(event));
                }));
            }
            Effect::GarbageCollect { path, delay } => {
                if let Some(old) = self.gc.remove(&path) {
                    old.abort();
                }
                let target = path.clone();
                let task = tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    tracing::info!("Deleting path '{}'", target.display());
                    if let Err(e) = tokio::fs::remove_dir_all(&target).await {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            tracing::warn!("Failed to delete '{}': {e}", target.display());
                        }
                    }
                });
                self.gc.insert(path, task);
            }
            Effect::Unschedule { path } => {
                if let Some(task) = self.gc.remove(&path) {
                    task.abort();
                }
            }
            Effect::Exit { status, message } => self.exit = Some((status, message)),
        }
    }
}

async fn launch(
    containerizer: Arc<dyn Containerizer>,
    config: ContainerConfig,
    latest: &Path,
) -> Result<crate::agent::containerizer::LaunchResult, String> {
    let directory = config.directory.clone();
    let latest = latest.to_path_buf();
    tokio::task::spawn_blocking(move || create_sandbox(&directory, &latest)).await.map_err(|e| e.to_string())??;
    containerizer.launch(config).await.map_err(|e| e.to_string())
}

/// Reads `meta/` for the first event (blocking I/O; call before serving).
pub fn recover_state(work_dir: &Path, strict: bool, boot_id: Option<&str>) -> Event {
    let meta = super::paths::meta_root(work_dir);
    let state = state::recover(&meta, strict, boot_id)
        .map(|mut s| {
            s.agent_sandboxes = state::list_agent_sandboxes(work_dir);
            s
        })
        .map_err(|e| e.to_string());
    Event::StateRecovered(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_wall_time_and_deadlines_follow_it() {
        let clock = Clock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a.secs() > 1_600_000_000.0);
        let deadline = clock.deadline(a + Duration::from_secs(5));
        assert!(deadline >= clock.tokio_start + Duration::from_secs(4));
    }

    #[test]
    fn sandboxes_get_mode_0750_and_a_latest_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sandbox-test-{}", std::process::id()));
        let run = dir.join("runs").join("c1");
        let latest = dir.join("runs").join("latest");
        create_sandbox(&run, &latest).unwrap();
        assert_eq!(std::fs::metadata(&run).unwrap().permissions().mode() & 0o777, 0o750);
        assert_eq!(std::fs::read_link(&latest).unwrap(), run);
        let run2 = dir.join("runs").join("c2");
        create_sandbox(&run2, &latest).unwrap();
        assert_eq!(std::fs::read_link(&latest).unwrap(), run2);
        std::fs::remove_dir_all(dir).ok();
    }
}
