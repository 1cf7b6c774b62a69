//! The agent's decisions as a sans-IO state machine: `handle(now, Event) ->
//! Vec<Effect>` (Mesos's `Slave` actor, `src/slave/slave.cpp`, without its
//! I/O). A driver ([`crate::agent::runtime`]) or the simulation feeds it
//! events and carries out its effects; it never touches a socket, a file,
//! a clock or an unseeded random number generator.
//!
//! # Layout
//! - [`types`]: time, configuration, [`Event`], [`Effect`], [`TimerId`];
//! - [`framework`]: frameworks, executors and their task bookkeeping;
//! - `registration.rs`: master detection, (re)registration with backoff,
//!   pings, shutdown, the master's reconciliation on reregistration;
//! - `launch.rs`: `RunTaskMessage` / `RunTaskGroupMessage` to a container
//!   launch (the command executor's `ExecutorInfo`, the environment);
//! - `executors.rs`: executor (re)registration (v0) and subscription (v1),
//!   kill and shutdown, timeouts, container termination, framework messages;
//! - `updates.rs`: status updates from executors to the status update
//!   manager and the master, acknowledgements back;
//! - `recovery.rs`: rebuilding frameworks and executors from `meta/`,
//!   reconnecting executors, `--recover=cleanup`, `--strict`.
//!
//! # Lifecycle (Mesos's agent states)
//! `Recovering` (reading checkpoints, reattaching executors) → `Disconnected`
//! (no master, or registering) ⇄ `Running` (registered) → `Terminating`
//! (shutting down; exits once no framework is left).

mod executors;
pub mod framework;
mod launch;
mod recovery;
mod registration;
pub mod types;
mod updates;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::resources::Resources;
use crate::proto::mesos::internal::StatusUpdate;
use crate::proto::mesos::{
    task_status::{Reason, Source},
    ExecutorId, FrameworkId, SlaveId, SlaveInfo, TaskId, TaskState, TaskStatus,
};
use crate::proto::mesos::{Resource, Uuid};
use crate::v0_compat::Upid;

use super::paths;
use super::status_update_manager::{Output, StatusUpdateManager};
pub use framework::{Channel, Executor, ExecutorState, Framework, FrameworkState};
pub use types::*;

/// The Mesos version this agent speaks as (`MESOS_VERSION`).
pub const MESOS_VERSION: &str = "1.11.0";

/// `DEFAULT_MASTER_PING_TIMEOUT`: 15s x 5 pings.
pub const DEFAULT_MASTER_PING_TIMEOUT: Duration = Duration::from_secs(75);
/// `REGISTER_RETRY_INTERVAL_MAX`.
pub const REGISTER_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// Mesos's agent states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Recovering,
    Disconnected,
    Running,
    Terminating,
}

impl AgentState {
    pub fn name(self) -> &'static str {
        match self {
            AgentState::Recovering => "RECOVERING",
            AgentState::Disconnected => "DISCONNECTED",
            AgentState::Running => "RUNNING",
            AgentState::Terminating => "TERMINATING",
        }
    }
}

/// The agent's counters (`slave/*` in `/metrics/snapshot`).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub recovery_errors: u64,
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_gone: u64,
    pub executors_terminated: u64,
    pub executors_preempted: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub valid_framework_messages: u64,
    pub invalid_framework_messages: u64,
    pub container_launch_errors: u64,
    pub recovery_time_secs: Option<f64>,
}

/// SplitMix64: small, seeded, good enough for jitter and ids.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1].
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
    }

    fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// What the agent knows while recovering.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecoveryInfo {
    /// The containerizer recovered: executors may (re)connect.
    pub reconnect: bool,
    /// Waiting for executors to reregister.
    pub waiting_for_executors: bool,
    /// The checkpointed agent info was incompatible and `--recover=cleanup`
    /// was given: clean up, then forget the old agent id.
    pub forget_agent: bool,
}

/// See the module docs.
pub struct Agent {
    pub(crate) config: AgentConfig,
    pub(crate) meta: PathBuf,
    pub(crate) state: AgentState,
    /// This agent (id set once registered or recovered).
    pub(crate) info: SlaveInfo,
    pub(crate) master: Option<Upid>,
    pub(crate) frameworks: BTreeMap<String, Framework>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) tsum: StatusUpdateManager,
    /// Dynamic reservations and persistent volumes (`resources.info`).
    pub(crate) checkpointed_resources: Vec<Resource>,
    /// `info.resources` with the checkpointed resources applied.
    pub(crate) total_resources: Resources,
    pub(crate) resource_version: Uuid,
    pub(crate) recovery: RecoveryInfo,
    pub(crate) metrics: Metrics,
    pub(crate) start_time: Time,
    pub(crate) now: Time,
    rng: Rng,
    /// The master's ping timeout (from the registration reply).
    pub(crate) master_ping_timeout: Duration,
    pub(crate) ping_generation: u64,
    pub(crate) registration_generation: u64,
    /// The backoff bound of the next registration attempt.
    pub(crate) registration_backoff: Duration,
    /// The agent info changed since the checkpoint (a master must accept it).
    pub(crate) info_changed: bool,
}

impl Agent {
    /// A new agent in the `Recovering` state. Feed it
    /// [`Event::StateRecovered`] first.
    pub fn new(config: AgentConfig, now: Time) -> Agent {
        let meta = paths::meta_root(&config.work_dir);
        let mut rng = Rng(config.seed);
        let info = SlaveInfo {
            hostname: config.hostname.clone(),
            port: Some(i32::from(config.pid.addr().port())),
            resources: config.resources.clone(),
            attributes: config.attributes.clone(),
            id: None,
            domain: config.domain.clone(),
            checkpoint: Some(true),
        };
        let resource_version = Uuid { value: rng.uuid().as_bytes().to_vec() };
        Agent {
            meta: meta.clone(),
            state: AgentState::Recovering,
            total_resources: Resources::from_protos(&info.resources),
            info,
            master: None,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            tsum: StatusUpdateManager::new(&meta),
            checkpointed_resources: Vec::new(),
            resource_version,
            recovery: RecoveryInfo::default(),
            metrics: Metrics::default(),
            start_time: now,
            now,
            rng,
            master_ping_timeout: DEFAULT_MASTER_PING_TIMEOUT,
            ping_generation: 0,
            registration_generation: 0,
            registration_backoff: config.registration_backoff_factor,
            info_changed: false,
            config,
        }
    }

    /// Handles one event; the effects are to be carried out in order.
    pub fn handle(&mut self, now: Time, event: Event) -> Vec<Effect> {
        self.now = now;
        let mut fx = Vec::new();
        match event {
            Event::StateRecovered(state) => self.on_state_recovered(state, &mut fx),
            Event::ContainersRecovered(result) => self.on_containers_recovered(result, &mut fx),
            Event::MasterDetected(master) => self.on_master_detected(master, &mut fx),
            Event::MasterDetectionFailed(error) => {
                fx.push(Effect::Exit { status: 1, message: format!("Failed to detect a master: {error}") })
            }
            Event::Message { from, message } => self.on_message(from, message, &mut fx),
            Event::Exited(pid) => self.on_exited(&pid),
            Event::Timer(id) => self.on_timer(id, &mut fx),
            Event::Launched { framework_id, executor_id, container_id, result } => {
                self.on_launched(&framework_id, &executor_id, container_id, result, &mut fx)
            }
            Event::ContainerTerminated { framework_id, executor_id, container_id, termination } => {
                self.on_container_terminated(&framework_id, &executor_id, &container_id.value, termination, &mut fx)
            }
            Event::ContainerUpdated { container_id, result, then } => {
                self.on_container_updated(&container_id.value, result, then, &mut fx)
            }
            Event::ExecutorCall { request, stream, call } => self.on_executor_call(request, stream, call, &mut fx),
            Event::ExecutorStreamClosed(stream) => self.on_executor_stream_closed(stream),
            Event::ShutdownRequested(reason) => self.shutdown(None, &reason, &mut fx),
        }
        fx
    }

    fn on_message(&mut self, from: Upid, message: crate::v0_compat::Message, fx: &mut Vec<Effect>) {
        use crate::v0_compat::Message as M;
        match message {
            M::SlaveRegisteredMessage(m) => self.on_registered(&from, &m.slave_id, m.connection.as_ref(), fx),
            M::SlaveReregisteredMessage(m) => self.on_reregistered(&from, *m, fx),
            M::RunTaskMessage(m) => self.on_run_task(&from, *m, fx),
            M::RunTaskGroupMessage(m) => self.on_run_task_group(&from, *m, fx),
            M::KillTaskMessage(m) => self.on_kill_task(&from, *m, fx),
            M::ShutdownExecutorMessage(m) => {
                let (fw, ex) = (m.framework_id.map(|f| f.value), m.executor_id.map(|e| e.value));
                if let (Some(fw), Some(ex)) = (fw, ex) {
                    self.on_shutdown_executor(Some(&from), &fw, &ex, fx)
                }
            }
            M::ShutdownFrameworkMessage(m) => self.shutdown_framework(Some(&from), &m.framework_id.value, fx),
            M::FrameworkToExecutorMessage(m) => self.on_scheduler_message(*m, fx),
            M::UpdateFrameworkMessage(m) => self.on_update_framework(*m, fx),
            M::CheckpointResourcesMessage(m) => self.on_checkpoint_resources(m.resources, fx),
            M::ApplyOperationMessage(m) => self.on_apply_operation(*m, fx),
            M::StatusUpdateAcknowledgementMessage(m) => self.on_status_update_acknowledgement(&from, *m, fx),
            M::RegisterExecutorMessage(m) => {
                self.on_register_executor(&from, &m.framework_id.value, &m.executor_id.value, fx)
            }
            M::ReregisterExecutorMessage(m) => self.on_reregister_executor(&from, *m, fx),
            M::StatusUpdateMessage(m) => {
                // The executor's pid rides in the message (the ack goes there).
                let pid = m.pid.as_deref().and_then(|p| crate::agent::state::parse_pid(p).ok().flatten());
                self.status_update(m.update, Some(pid), fx)
            }
            M::ExecutorToFrameworkMessage(m) => {
                self.executor_message(&m.framework_id.value, &m.executor_id.value, m.data, fx)
            }
            M::ShutdownMessage(m) => self.shutdown(Some(&from), m.message.as_deref().unwrap_or(""), fx),
            M::PingSlaveMessage(m) => self.on_ping(&from, m.connected, fx),
            M::ReconcileOperationsMessage(_) | M::AcknowledgeOperationStatusMessage(_) => {
                // No operation is ever pending on this agent: operations
                // are applied at once and reported finished.
            }
            M::DrainSlaveMessage(_) => tracing::warn!("Ignoring DrainSlaveMessage: draining is not implemented"),
            other => tracing::warn!(from = %from, name = other.name(), "Dropping unexpected message"),
        }
    }

    fn on_exited(&mut self, pid: &Upid) {
        tracing::info!("Got exited event for {pid}");
        if self.master.is_none() || self.master.as_ref() == Some(pid) {
            tracing::warn!("Master disconnected! Waiting for a new master to be elected");
        }
    }

    fn on_timer(&mut self, id: TimerId, fx: &mut Vec<Effect>) {
        match id {
            TimerId::Registration { generation } => {
                if generation == self.registration_generation {
                    self.do_reliable_registration(fx)
                }
            }
            TimerId::Ping { generation } => {
                if generation == self.ping_generation {
                    self.on_ping_timeout(fx)
                }
            }
            TimerId::ExecutorRegistration { framework_id, executor_id, container_id } => {
                self.on_register_executor_timeout(&framework_id, &executor_id, &container_id, fx)
            }
            TimerId::ExecutorShutdown { framework_id, executor_id, container_id } => {
                self.on_shutdown_executor_timeout(&framework_id, &executor_id, &container_id, fx)
            }
            TimerId::ExecutorReregistration => self.on_reregister_executor_timeout(fx),
            TimerId::ExecutorReconnectRetry { framework_id, executor_id } => {
                self.on_reconnect_retry(&framework_id, &executor_id, fx)
            }
            TimerId::StatusUpdateRetry { framework_id, task_id, generation } => {
                let outputs = self.tsum.timeout(&framework_id, &task_id, generation);
                self.apply_tsum(outputs, fx);
            }
        }
    }

    // ---- helpers shared by the submodules ----

    pub(crate) fn agent_id(&self) -> String {
        self.info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default()
    }

    pub(crate) fn slave_id(&self) -> SlaveId {
        SlaveId { value: self.agent_id() }
    }

    pub(crate) fn random_uuid(&mut self) -> uuid::Uuid {
        self.rng.uuid()
    }

    pub(crate) fn random_unit(&mut self) -> f64 {
        self.rng.unit()
    }

    pub(crate) fn timer(&self, id: TimerId, after: Duration, fx: &mut Vec<Effect>) {
        fx.push(Effect::SetTimer { id, at: self.now + after });
    }

    pub(crate) fn send(&self, to: &Upid, message: impl Into<crate::v0_compat::Message>, fx: &mut Vec<Effect>) {
        fx.push(Effect::Send { to: to.clone(), message: message.into() });
    }

    pub(crate) fn send_master(&self, message: impl Into<crate::v0_compat::Message>, fx: &mut Vec<Effect>) {
        if let Some(master) = &self.master {
            self.send(master, message, fx);
        }
    }

    /// Carries out the status update manager's outputs.
    pub(crate) fn apply_tsum(&mut self, outputs: Vec<Output>, fx: &mut Vec<Effect>) {
        for output in outputs {
            match output {
                Output::Checkpoint(op) => fx.push(Effect::Fs(op)),
                Output::Forward(update) => self.forward(*update, fx),
                Output::Retry { framework_id, task_id, generation, after } => {
                    self.timer(TimerId::StatusUpdateRetry { framework_id, task_id, generation }, after, fx)
                }
            }
        }
    }

    /// Mesos's `protobuf::createStatusUpdate` for updates the agent itself
    /// generates (source `SOURCE_SLAVE`, a fresh UUID, now).
    pub(crate) fn agent_update(
        &mut self,
        framework_id: &str,
        task_id: &str,
        state: TaskState,
        message: &str,
        reason: Reason,
        executor_id: Option<&str>,
    ) -> StatusUpdate {
        let uuid = self.random_uuid().as_bytes().to_vec();
        let timestamp = self.now.secs();
        let mut status = TaskStatus {
            task_id: TaskId { value: task_id.to_string() },
            message: Some(message.to_string()),
            slave_id: Some(self.slave_id()),
            timestamp: Some(timestamp),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        status.set_state(state);
        status.set_source(Source::Slave);
        status.set_reason(reason);
        StatusUpdate {
            framework_id: FrameworkId { value: framework_id.to_string() },
            executor_id: executor_id.map(|e| ExecutorId { value: e.to_string() }),
            slave_id: Some(self.slave_id()),
            status,
            timestamp,
            uuid: Some(uuid),
            latest_state: None,
        }
    }

    /// TASK_DROPPED for partition-aware frameworks, TASK_LOST otherwise.
    pub(crate) fn dropped_or_lost(partition_aware: bool) -> TaskState {
        if partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        }
    }

    /// TASK_GONE for partition-aware frameworks, TASK_LOST otherwise.
    pub(crate) fn gone_or_lost(partition_aware: bool) -> TaskState {
        if partition_aware {
            TaskState::TaskGone
        } else {
            TaskState::TaskLost
        }
    }

    // ---- read access for endpoints and tests ----

    pub fn state(&self) -> AgentState {
        self.state
    }

    pub fn info(&self) -> &SlaveInfo {
        &self.info
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub fn master(&self) -> Option<&Upid> {
        self.master.as_ref()
    }

    pub fn frameworks(&self) -> &BTreeMap<String, Framework> {
        &self.frameworks
    }

    pub fn completed_frameworks(&self) -> &VecDeque<Framework> {
        &self.completed_frameworks
    }

    pub fn total_resources(&self) -> &Resources {
        &self.total_resources
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn start_time(&self) -> Time {
        self.start_time
    }

    pub fn status_update_manager(&self) -> &StatusUpdateManager {
        &self.tsum
    }

    /// The executor API answers 503 until the containerizer has recovered.
    pub fn executor_api_ready(&self) -> bool {
        self.recovery.reconnect
    }

    pub fn executor(&self, framework_id: &str, executor_id: &str) -> Option<&Executor> {
        self.frameworks.get(framework_id)?.executors.get(executor_id)
    }

    /// Executors whose container is live, for `/monitor/statistics`.
    pub fn live_executors(&self) -> impl Iterator<Item = &Executor> {
        self.frameworks.values().flat_map(|f| f.executors.values()).filter(|e| e.state != ExecutorState::Terminated)
    }

    /// Sandbox directories of every known executor, live or completed, with
    /// the framework and executor ids (for `/files`).
    pub fn sandboxes(&self) -> Vec<(String, String, PathBuf, bool)> {
        let mut out = Vec::new();
        for framework in self.frameworks.values().chain(self.completed_frameworks.iter()) {
            for e in framework.completed_executors.iter() {
                out.push((framework.id.clone(), e.id.clone(), e.directory.clone(), false));
            }
            for e in framework.executors.values() {
                out.push((framework.id.clone(), e.id.clone(), e.directory.clone(), true));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rng_is_seeded_and_uniform_in_range() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        assert_eq!(a.next_u64(), b.next_u64());
        for _ in 0..1000 {
            let x = a.unit();
            assert!((0.0..=1.0).contains(&x));
        }
        assert_eq!(a.uuid().get_version_num(), 4);
    }
}
