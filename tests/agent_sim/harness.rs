//! A deterministic world for the agent's state machine: a virtual clock, the
//! scripted mock containerizer, a master detector the test controls, a real
//! temporary work_dir for checkpoints (so restarts recover through the real
//! reader), and every message the agent sends captured for inspection. The
//! test plays the master and the executors by injecting messages.
//!
//! Like quinn's `Pair` and Mesos's `Clock::pause/advance`: `run_for` jumps
//! from timer to timer; nothing waits for real time.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use mesos_rs::agent::containerizer::mock::MockContainerizer;
use mesos_rs::agent::containerizer::{Containerizer, Termination};
use mesos_rs::agent::core::{
    Agent, AgentConfig, ApiResponse, ConnId, Effect, Event, ReconfigurationPolicy, RecoverMode, RequestId, Time,
    TimerId,
};
use mesos_rs::agent::paths;
use mesos_rs::agent::state;
use mesos_rs::proto::mesos::executor;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{
    task_status::Source, CommandInfo, ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Resource,
    SlaveId, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_rs::v0_compat::{Message, MessageType, Upid};

pub const AGENT_ID: &str = "agent-1";

pub fn master_pid() -> Upid {
    "master@10.0.0.1:5050".parse().unwrap()
}

pub fn other_master_pid() -> Upid {
    "master@10.0.0.2:5050".parse().unwrap()
}

pub fn agent_pid() -> Upid {
    "slave(1)@10.0.0.9:5051".parse().unwrap()
}

pub fn executor_pid(n: u16) -> Upid {
    format!("executor(1)@10.0.0.9:{}", 40000 + n).parse().unwrap()
}

pub fn resources(text: &str) -> Vec<Resource> {
    mesos_rs::common::resources::Resources::parse(text, "*").unwrap().to_protos()
}

pub fn config(work_dir: PathBuf, seed: u64) -> AgentConfig {
    AgentConfig {
        work_dir,
        pid: agent_pid(),
        hostname: "agent.example".into(),
        resources: resources("cpus:4;mem:4096;disk:10000;ports:[31000-32000]"),
        attributes: Vec::new(),
        domain: None,
        capabilities: Vec::new(),
        recover: RecoverMode::Reconnect,
        strict: true,
        reconfiguration_policy: ReconfigurationPolicy::Equal,
        registration_backoff_factor: Duration::from_secs(1),
        executor_registration_timeout: Duration::from_secs(60),
        executor_reregistration_timeout: Duration::from_secs(2),
        executor_reregistration_retry_interval: None,
        executor_shutdown_grace_period: Duration::from_secs(5),
        recovery_timeout: Duration::from_secs(900),
        gc_delay: Duration::from_secs(7 * 24 * 3600),
        switch_user: false,
        executor_environment: BTreeMap::new(),
        libprocess_ip: None,
        http_command_executor: false,
        launcher_dir: "/usr/libexec/mesos".into(),
        command_executor: Ok(PathBuf::from("/usr/libexec/mesos/mesos-executor")),
        default_executor: Ok(PathBuf::from("/usr/libexec/mesos/mesos-default-executor")),
        default_container_info: None,
        max_completed_executors_per_framework: 150,
        containerizers: "mesos".into(),
        boot_id: Some("boot-1".into()),
        seed,
    }
}

/// A pending `Containerizer::wait`.
struct Waiting {
    framework_id: String,
    executor_id: String,
    container_id: ContainerId,
    future: BoxFuture<'static, Option<Termination>>,
}

pub struct Sim {
    pub now: Time,
    pub agent: Agent,
    pub config: AgentConfig,
    pub mock: Arc<MockContainerizer>,
    pub work_dir: PathBuf,
    /// Every message the agent sent, in order.
    pub outbox: Vec<(Upid, Message)>,
    /// Events sent on each executor SUBSCRIBE stream.
    pub streams: BTreeMap<ConnId, Vec<executor::Event>>,
    pub closed_streams: Vec<ConnId>,
    pub responses: BTreeMap<RequestId, ApiResponse>,
    pub exits: Vec<(i32, String)>,
    pub gc: Vec<PathBuf>,
    pub links: Vec<Upid>,
    /// The leader the detector reports.
    pub leader: Option<Upid>,
    /// A detection in progress: the `previous` it was asked with.
    detection: Option<Option<Upid>>,
    timers: Vec<(Time, u64, TimerId)>,
    timer_seq: u64,
    waits: Vec<Waiting>,
    queue: VecDeque<Event>,
    next_conn: ConnId,
    next_request: RequestId,
    /// Drop messages to the master matching this, while set.
    pub drop_to_master: Option<fn(&Message) -> bool>,
    /// Whether dropping this Sim removes the work_dir (false for the
    /// instance a restart replaces).
    owns_work_dir: bool,
}

impl Sim {
    /// A fresh agent on an empty work_dir, recovered and detecting.
    pub fn start(name: &str, seed: u64) -> Sim {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let work_dir = std::env::temp_dir().join(format!("agent-sim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work_dir);
        std::fs::create_dir_all(&work_dir).unwrap();
        let config = config(work_dir.clone(), seed);
        let now = Time(Duration::from_secs(1_700_000_000));
        Sim::boot(config, Arc::new(MockContainerizer::new()), work_dir, Some(master_pid()), now)
    }

    fn boot(
        config: AgentConfig,
        mock: Arc<MockContainerizer>,
        work_dir: PathBuf,
        leader: Option<Upid>,
        now: Time,
    ) -> Sim {
        let agent = Agent::new(config.clone(), now);
        let mut sim = Sim {
            now,
            agent,
            config,
            mock,
            work_dir,
            outbox: Vec::new(),
            streams: BTreeMap::new(),
            closed_streams: Vec::new(),
            responses: BTreeMap::new(),
            exits: Vec::new(),
            gc: Vec::new(),
            links: Vec::new(),
            leader,
            detection: None,
            timers: Vec::new(),
            timer_seq: 0,
            waits: Vec::new(),
            queue: VecDeque::new(),
            next_conn: 1,
            next_request: 1,
            drop_to_master: None,
            owns_work_dir: true,
        };
        sim.recover();
        sim
    }

    fn recover(&mut self) {
        let meta = paths::meta_root(&self.work_dir);
        let state = state::recover(&meta, self.config.strict, self.config.boot_id.as_deref())
            .map(|mut s| {
                s.agent_sandboxes = state::list_agent_sandboxes(&self.work_dir);
                s
            })
            .map_err(|e| e.to_string());
        self.deliver(Event::StateRecovered(state));
    }

    /// The agent process dies (SIGKILL) and starts again on the same
    /// work_dir; containers keep running in the mock.
    pub fn restart(&mut self) {
        self.restart_with(|_| {});
    }

    pub fn restart_with(&mut self, change: impl FnOnce(&mut AgentConfig)) {
        let mut config = self.config.clone();
        change(&mut config);
        let mock = self.mock.clone();
        let leader = self.leader.clone();
        let fresh = Sim::boot(config, mock, self.work_dir.clone(), leader, self.now + Duration::from_secs(1));
        let outbox = std::mem::take(&mut self.outbox);
        let (next_conn, next_request) = (self.next_conn, self.next_request);
        self.owns_work_dir = false;
        *self = fresh;
        self.next_conn = next_conn;
        self.next_request = next_request;
        // Keep the history for exactly-once checks across restarts.
        let new = std::mem::take(&mut self.outbox);
        self.outbox = outbox;
        self.outbox.extend(new);
    }

    pub fn meta(&self) -> PathBuf {
        paths::meta_root(&self.work_dir)
    }

    /// Handles one event and everything it causes at this instant.
    pub fn deliver(&mut self, event: Event) {
        self.queue.push_back(event);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            while let Some(event) = self.queue.pop_front() {
                let effects = self.agent.handle(self.now, event);
                for effect in effects {
                    self.execute(effect);
                }
            }
            self.poll_waits();
            if self.queue.is_empty() {
                break;
            }
        }
    }

    fn poll_waits(&mut self) {
        let mut still = Vec::new();
        for mut w in std::mem::take(&mut self.waits) {
            match (&mut w.future).now_or_never() {
                Some(termination) => self.queue.push_back(Event::ContainerTerminated {
                    framework_id: w.framework_id,
                    executor_id: w.executor_id,
                    container_id: w.container_id,
                    termination,
                }),
                None => still.push(w),
            }
        }
        self.waits = still;
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Send { to, message } => {
                if to == self.leader.clone().unwrap_or_else(master_pid) {
                    if let Some(drop) = self.drop_to_master {
                        if drop(&message) {
                            return;
                        }
                    }
                }
                self.outbox.push((to, message))
            }
            Effect::Link { to } => self.links.push(to),
            Effect::ExecutorEvent { stream, event } => {
                if !self.closed_streams.contains(&stream) {
                    self.streams.entry(stream).or_default().push(*event)
                }
            }
            Effect::CloseExecutorStream { stream } => self.closed_streams.push(stream),
            Effect::Respond { request, response } => {
                self.responses.insert(request, response);
            }
            Effect::SetTimer { id, at } => {
                self.timer_seq += 1;
                self.timers.push((at, self.timer_seq, id));
            }
            Effect::Fs(op) => state::apply(&op).unwrap(),
            Effect::Launch { framework_id, executor_id, config, .. } => {
                let container_id = config.container_id.clone();
                let result = self.mock.launch(*config).now_or_never().unwrap().map_err(|e| e.to_string());
                self.queue.push_back(Event::Launched { framework_id, executor_id, container_id, result });
            }
            Effect::Wait { framework_id, executor_id, container_id } => {
                let mock = self.mock.clone();
                let id = container_id.clone();
                let future = async move { mock.wait(id).await }.boxed();
                self.waits.push(Waiting { framework_id, executor_id, container_id, future });
            }
            Effect::Destroy { container_id } => {
                let _ = self.mock.destroy(container_id).now_or_never();
            }
            Effect::Update { container_id, resources, then } => {
                let result = self
                    .mock
                    .update(container_id.clone(), resources)
                    .now_or_never()
                    .unwrap()
                    .map_err(|e| e.to_string());
                self.queue.push_back(Event::ContainerUpdated { container_id, result, then });
            }
            Effect::RecoverContainers { containers } => {
                let result = self.mock.recover(containers).now_or_never().unwrap().map_err(|e| e.to_string());
                self.queue.push_back(Event::ContainersRecovered(result));
            }
            Effect::DetectMaster { previous } => {
                self.detection = Some(previous);
                self.resolve_detection();
            }
            Effect::GarbageCollect { path, .. } => self.gc.push(path),
            Effect::Unschedule { path } => self.gc.retain(|p| p != &path),
            Effect::Exit { status, message } => self.exits.push((status, message)),
        }
    }

    fn resolve_detection(&mut self) {
        if let Some(previous) = self.detection.clone() {
            if previous != self.leader {
                self.detection = None;
                self.queue.push_back(Event::MasterDetected(self.leader.clone()));
            }
        }
    }

    /// A new leading master (or none).
    pub fn elect(&mut self, leader: Option<Upid>) {
        self.leader = leader;
        self.resolve_detection();
        self.drain();
    }

    /// Moves the clock to the next timer and fires it; false if none.
    pub fn step(&mut self) -> bool {
        let Some(index) = self.timers.iter().enumerate().min_by_key(|(_, (at, seq, _))| (*at, *seq)).map(|(i, _)| i)
        else {
            return false;
        };
        let (at, _, id) = self.timers.remove(index);
        if at > self.now {
            self.now = at;
        }
        self.deliver(Event::Timer(id));
        true
    }

    /// Fires every timer due within `d`, then sets the clock to now + d.
    pub fn run_for(&mut self, d: Duration) {
        // Containers the test ended since the last event.
        self.drain();
        let end = self.now + d;
        loop {
            let next = self.timers.iter().map(|(at, seq, _)| (*at, *seq)).min();
            match next {
                Some((at, _)) if at <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    // ---- playing the master ----

    pub fn master_sends(&mut self, message: impl Into<Message>) {
        let from = self.leader.clone().unwrap_or_else(master_pid);
        self.deliver(Event::Message { from, message: message.into() });
    }

    pub fn peer_sends(&mut self, from: &Upid, message: impl Into<Message>) {
        self.deliver(Event::Message { from: from.clone(), message: message.into() });
    }

    /// Messages of type `T` sent to `to`, in order.
    pub fn sent_to<T: MessageType + Clone>(&self, to: &Upid) -> Vec<T> {
        self.outbox.iter().filter(|(t, _)| t == to).filter_map(|(_, m)| decode_as::<T>(m)).collect()
    }

    pub fn sent<T: MessageType + Clone>(&self) -> Vec<T> {
        self.outbox.iter().filter_map(|(_, m)| decode_as::<T>(m)).collect()
    }

    pub fn clear_outbox(&mut self) {
        self.outbox.clear();
    }

    /// Runs registration to completion: waits for the attempt, answers it.
    pub fn register(&mut self) {
        self.run_until_sent::<mi::RegisterSlaveMessage>(&master_pid());
        self.master_sends(mi::SlaveRegisteredMessage {
            slave_id: SlaveId { value: AGENT_ID.into() },
            connection: Some(mi::MasterSlaveConnection { total_ping_timeout_seconds: Some(75.0) }),
        });
    }

    /// Steps timers until the agent has sent a `T` to `to` (panics after
    /// many steps: the behaviour under test is missing).
    pub fn run_until_sent<T: MessageType + Clone>(&mut self, to: &Upid) -> T {
        let before = self.sent_to::<T>(to).len();
        for _ in 0..1000 {
            if let Some(m) = self.sent_to::<T>(to).get(before) {
                return m.clone();
            }
            if !self.step() {
                break;
            }
        }
        panic!("the agent never sent {} to {to}", T::NAME);
    }

    // ---- playing the executors ----

    /// A call on `/api/v1/executor` with a fresh stream for SUBSCRIBE.
    pub fn executor_call(&mut self, call: executor::Call) -> (RequestId, Option<ConnId>) {
        let request = self.next_request;
        self.next_request += 1;
        let stream = (call.r#type() == executor::call::Type::Subscribe).then(|| {
            let c = self.next_conn;
            self.next_conn += 1;
            c
        });
        self.deliver(Event::ExecutorCall { request, stream, call });
        (request, stream)
    }

    pub fn stream_events(&self, stream: ConnId) -> Vec<executor::event::Type> {
        self.streams.get(&stream).map(|v| v.iter().map(|e| e.r#type()).collect()).unwrap_or_default()
    }

    /// The container id of the first (or only) launch of an executor.
    pub fn container_of(&self, executor_id: &str) -> String {
        self.mock
            .launches()
            .iter()
            .rev()
            .find(|c| c.executor_info.executor_id.value == executor_id)
            .map(|c| c.container_id.value.clone())
            .unwrap_or_else(|| panic!("no launch for executor {executor_id}"))
    }
}

pub fn decode_as<T: MessageType + Clone>(message: &Message) -> Option<T> {
    if message.name() != T::NAME {
        return None;
    }
    <T as prost::Message>::decode(message.encode().as_slice()).ok()
}

pub fn framework(id: &str, checkpoint: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: format!("framework {id}"),
        id: Some(FrameworkId { value: id.into() }),
        checkpoint: Some(checkpoint),
        ..Default::default()
    }
}

pub fn command_task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: AGENT_ID.into() },
        resources: resources("cpus:1;mem:128"),
        command: Some(CommandInfo { value: Some(command.into()), shell: Some(true), ..Default::default() }),
        ..Default::default()
    }
}

pub fn custom_task(id: &str, executor_id: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: AGENT_ID.into() },
        resources: resources("cpus:1;mem:128"),
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId { value: executor_id.into() },
            command: Some(CommandInfo { value: Some("./my-executor".into()), ..Default::default() }),
            resources: resources("cpus:0.1;mem:32"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn run_task(framework: &FrameworkInfo, task: TaskInfo) -> mi::RunTaskMessage {
    mi::RunTaskMessage {
        framework: framework.clone(),
        task,
        pid: Some("scheduler(1)@10.0.0.5:7000".into()),
        ..Default::default()
    }
}

/// A status update as an executor sends it.
pub fn executor_update(
    framework_id: &str,
    executor_id: &str,
    task_id: &str,
    state: TaskState,
    uuid: u8,
) -> mi::StatusUpdate {
    let mut status = TaskStatus {
        task_id: TaskId { value: task_id.into() },
        slave_id: Some(SlaveId { value: AGENT_ID.into() }),
        executor_id: Some(ExecutorId { value: executor_id.into() }),
        uuid: Some(vec![uuid; 16]),
        timestamp: Some(1.0),
        ..Default::default()
    };
    status.set_state(state);
    status.set_source(Source::Executor);
    mi::StatusUpdate {
        framework_id: FrameworkId { value: framework_id.into() },
        executor_id: Some(ExecutorId { value: executor_id.into() }),
        slave_id: Some(SlaveId { value: AGENT_ID.into() }),
        status,
        timestamp: 1.0,
        uuid: Some(vec![uuid; 16]),
        latest_state: None,
    }
}

/// The master's answer to a reregistration, with no reconciliation.
pub fn reregistered() -> mi::SlaveReregisteredMessage {
    mi::SlaveReregisteredMessage {
        slave_id: SlaveId { value: AGENT_ID.into() },
        reconciliations: vec![],
        connection: None,
    }
}

pub fn kill(framework_id: &str, task_id: &str) -> mi::KillTaskMessage {
    mi::KillTaskMessage {
        framework_id: FrameworkId { value: framework_id.into() },
        task_id: TaskId { value: task_id.into() },
        kill_policy: None,
    }
}

pub fn status_update_message(update: mi::StatusUpdate, from: &Upid) -> mi::StatusUpdateMessage {
    mi::StatusUpdateMessage { update, pid: Some(from.to_string()) }
}

pub fn ack(update: &mi::StatusUpdate) -> mi::StatusUpdateAcknowledgementMessage {
    mi::StatusUpdateAcknowledgementMessage {
        slave_id: SlaveId { value: AGENT_ID.into() },
        framework_id: update.framework_id.clone(),
        task_id: update.status.task_id.clone(),
        uuid: update.uuid.clone().unwrap(),
    }
}

/// The updates forwarded to the leading master for a task, in order.
pub fn forwarded(sim: &Sim, task_id: &str) -> Vec<mi::StatusUpdateMessage> {
    sim.sent_to::<mi::StatusUpdateMessage>(&sim.leader.clone().unwrap_or_else(master_pid))
        .into_iter()
        .filter(|m| m.update.status.task_id.value == task_id)
        .collect()
}

/// The states of the updates forwarded to the leading master for a task.
pub fn forwarded_states(sim: &Sim, task_id: &str) -> Vec<TaskState> {
    forwarded(sim, task_id).iter().map(|m| m.update.status.state()).collect()
}

impl Drop for Sim {
    /// Removes the work_dir, also when a test fails; set AGENT_SIM_KEEP to
    /// keep it for inspection.
    fn drop(&mut self) {
        if self.owns_work_dir && std::env::var_os("AGENT_SIM_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// Ends a test: the agent is dropped and its work_dir removed.
pub fn cleanup(sim: Sim) {
    drop(sim);
}
