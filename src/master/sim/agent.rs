//! A scripted agent speaking the v0 agent protocol, sans-IO: it registers
//! (and reregisters after a restart or a new master), answers pings, runs
//! tasks by reporting TASK_RUNNING and, after a configurable time,
//! TASK_FINISHED, honours kills and framework shutdowns, and retries each
//! status update until the master acknowledges it (as Mesos's status
//! update manager does).
//!
//! The simulation drives it in memory; `examples/sim_agents.rs` drives
//! thousands of them over the real wire.

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;

use crate::common::resources::parse::from_string as parse_resources;
use crate::proto::mesos::internal::{
    ExecutorToFrameworkMessage, PongSlaveMessage, RegisterSlaveMessage, ReregisterSlaveMessage, StatusUpdate,
    StatusUpdateMessage,
};
use crate::proto::mesos::slave_info::capability::Type as CapabilityType;
use crate::proto::mesos::slave_info::Capability;
use crate::proto::mesos::task_status::Source;
use crate::proto::mesos::{
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, Task, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use crate::v0_compat::{Message, Upid};

use super::super::event::Now;
use super::super::state::is_terminal;

/// How a fake agent behaves.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub hostname: String,
    /// Mesos resource text, e.g. `cpus:4;mem:4096;disk:10000;ports:[31000-32000]`.
    pub resources: String,
    /// Tasks finish this long after starting; `None`: they run until killed.
    pub task_duration: Option<Duration>,
    /// Unacknowledged status updates are resent this often.
    pub update_retry: Duration,
    /// Registration is retried this often until acknowledged.
    pub registration_retry: Duration,
}

impl Default for AgentSpec {
    fn default() -> Self {
        AgentSpec {
            hostname: "agent".into(),
            resources: "cpus:4;mem:4096;disk:10000;ports:[31000-32000]".into(),
            task_duration: None,
            update_retry: Duration::from_secs(10),
            registration_retry: Duration::from_secs(1),
        }
    }
}

/// A timer of the fake agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentTimer {
    /// Retry (re)registration if not acknowledged.
    Register { epoch: u64 },
    /// The task finished on its own.
    Finish(FrameworkId, TaskId),
    /// Resend unacknowledged status updates.
    RetryUpdates,
}

/// What the agent wants done: messages to send and timers to set.
#[derive(Debug, Default)]
pub struct Out {
    pub sends: Vec<(Upid, Message)>,
    pub timers: Vec<(Duration, AgentTimer)>,
}

#[derive(Clone, Debug)]
struct RunningTask {
    framework: FrameworkId,
    info: TaskInfo,
    state: TaskState,
    executor: ExecutorId,
}

/// The fake agent.
#[derive(Clone, Debug)]
pub struct FakeAgent {
    pub pid: Upid,
    pub master: Upid,
    pub spec: AgentSpec,
    pub info: SlaveInfo,
    pub id: Option<SlaveId>,
    pub registered: bool,
    /// Stopped (crashed or shut down): ignores everything.
    pub down: bool,
    /// Stops answering pings (a hung agent).
    pub mute_pings: bool,
    /// Why the master shut this agent down, if it did.
    pub shutdown_reason: Option<String>,
    tasks: IndexMap<TaskId, RunningTask>,
    frameworks: BTreeMap<String, FrameworkInfo>,
    executors: IndexMap<(String, String), ExecutorInfo>,
    /// Unacknowledged updates per task, oldest first: only the oldest of
    /// each task is in flight (Mesos's status update manager streams).
    pending: IndexMap<TaskId, std::collections::VecDeque<StatusUpdate>>,
    pub checkpointed: Vec<crate::proto::mesos::Resource>,
    /// Every message received, by name, in order (for assertions).
    pub received: Vec<&'static str>,
    epoch: u64,
    next_uuid: u64,
    seed: u64,
}

fn capabilities() -> Vec<Capability> {
    [CapabilityType::MultiRole, CapabilityType::HierarchicalRole, CapabilityType::ReservationRefinement]
        .into_iter()
        .map(|t| Capability { r#type: Some(t as i32) })
        .collect()
}

impl FakeAgent {
    /// An agent at `pid` that will register with `master`.
    pub fn new(pid: Upid, master: Upid, spec: AgentSpec) -> FakeAgent {
        let resources = parse_resources(&spec.resources, "*").unwrap_or_default();
        let info = SlaveInfo {
            hostname: spec.hostname.clone(),
            port: Some(i32::from(pid.addr().port())),
            resources,
            checkpoint: Some(true),
            ..Default::default()
        };
        let seed = pid.to_string().bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        FakeAgent {
            pid,
            master,
            spec,
            info,
            id: None,
            registered: false,
            down: false,
            mute_pings: false,
            shutdown_reason: None,
            tasks: IndexMap::new(),
            frameworks: BTreeMap::new(),
            executors: IndexMap::new(),
            pending: IndexMap::new(),
            checkpointed: Vec::new(),
            received: Vec::new(),
            epoch: 0,
            next_uuid: 0,
            seed,
        }
    }

    /// The state of a task this agent runs.
    pub fn task_state(&self, task: &str) -> Option<TaskState> {
        self.tasks.get(&TaskId { value: task.into() }).map(|t| t.state)
    }

    /// Number of tasks not yet terminal.
    pub fn running_tasks(&self) -> usize {
        self.tasks.values().filter(|t| !is_terminal(t.state)).count()
    }

    /// Status updates sent and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.pending.values().map(|q| q.len()).sum()
    }

    fn send_update(&self, update: &StatusUpdate, out: &mut Out) {
        let mut update = update.clone();
        // An update made before the registration was acknowledged gets the
        // agent id once it is known.
        if update.slave_id.is_none() {
            update.slave_id = self.id.clone();
            update.status.slave_id = self.id.clone();
        }
        let message = StatusUpdateMessage { update, pid: Some(self.pid.to_string()) };
        out.sends.push((self.master.clone(), message.into()));
    }

    fn resend_pending(&self, out: &mut Out) {
        for stream in self.pending.values() {
            if let Some(front) = stream.front() {
                self.send_update(front, out);
            }
        }
    }

    fn uuid(&mut self) -> Vec<u8> {
        self.next_uuid += 1;
        uuid::Uuid::from_u128((u128::from(self.seed) << 64) | u128::from(self.next_uuid)).as_bytes().to_vec()
    }

    /// Starts the agent: registers (or, if it has an id, reregisters).
    pub fn start(&mut self, _now: Now) -> Out {
        self.down = false;
        self.registered = false;
        self.register()
    }

    /// A new leading master was detected (failover): reregister with it.
    pub fn detected(&mut self, master: Upid) -> Out {
        self.master = master;
        self.registered = false;
        self.register()
    }

    /// Stops answering anything (a crash); state survives for `start`.
    pub fn crash(&mut self) {
        self.down = true;
        self.registered = false;
    }

    fn register(&mut self) -> Out {
        let mut out = Out::default();
        self.epoch += 1;
        let message: Message = match &self.id {
            None => RegisterSlaveMessage {
                slave: self.info.clone(),
                checkpointed_resources: self.checkpointed.clone(),
                version: Some(super::super::MESOS_VERSION.into()),
                agent_capabilities: capabilities(),
                resource_version_uuid: None,
            }
            .into(),
            Some(id) => {
                let mut info = self.info.clone();
                info.id = Some(id.clone());
                let tasks = self
                    .tasks
                    .values()
                    .map(|t| Task {
                        name: t.info.name.clone(),
                        task_id: t.info.task_id.clone(),
                        framework_id: t.framework.clone(),
                        executor_id: t.info.executor.as_ref().map(|e| e.executor_id.clone()),
                        slave_id: id.clone(),
                        state: t.state as i32,
                        resources: t.info.resources.clone(),
                        ..Default::default()
                    })
                    .collect();
                ReregisterSlaveMessage {
                    slave: info,
                    checkpointed_resources: self.checkpointed.clone(),
                    executor_infos: self.executors.values().cloned().collect(),
                    tasks,
                    frameworks: self.frameworks.values().cloned().collect(),
                    completed_frameworks: Vec::new(),
                    version: Some(super::super::MESOS_VERSION.into()),
                    agent_capabilities: capabilities(),
                    resource_version_uuid: None,
                }
                .into()
            }
        };
        out.sends.push((self.master.clone(), message));
        out.timers.push((self.spec.registration_retry, AgentTimer::Register { epoch: self.epoch }));
        out
    }

    /// A timer fired.
    pub fn timer(&mut self, now: Now, timer: AgentTimer) -> Out {
        let mut out = Out::default();
        if self.down {
            return out;
        }
        match timer {
            AgentTimer::Register { epoch } => {
                if !self.registered && epoch == self.epoch {
                    return self.register();
                }
            }
            AgentTimer::Finish(fid, tid) => {
                if self.tasks.get(&tid).is_some_and(|t| !is_terminal(t.state)) {
                    self.update(now, &fid, &tid, TaskState::TaskFinished, &mut out);
                }
            }
            AgentTimer::RetryUpdates => {
                if self.registered {
                    self.resend_pending(&mut out);
                }
                if !self.pending.is_empty() {
                    out.timers.push((self.spec.update_retry, AgentTimer::RetryUpdates));
                }
            }
        }
        out
    }

    fn update(&mut self, now: Now, fid: &FrameworkId, tid: &TaskId, state: TaskState, out: &mut Out) {
        let Some(task) = self.tasks.get_mut(tid) else { return };
        task.state = state;
        let executor = task.executor.clone();
        let uuid = self.uuid();
        let id = self.id.clone();
        let update = StatusUpdate {
            framework_id: fid.clone(),
            executor_id: Some(executor.clone()),
            slave_id: id.clone(),
            status: TaskStatus {
                task_id: tid.clone(),
                state: state as i32,
                source: Some(Source::Executor as i32),
                slave_id: id,
                executor_id: Some(executor),
                timestamp: Some(now.secs()),
                uuid: Some(uuid.clone()),
                ..Default::default()
            },
            timestamp: now.secs(),
            uuid: Some(uuid.clone()),
            latest_state: Some(state as i32),
        };
        let was_empty = self.pending.is_empty();
        let stream = self.pending.entry(tid.clone()).or_default();
        stream.push_back(update.clone());
        if self.registered && stream.len() == 1 {
            self.send_update(&update, out);
        }
        if was_empty {
            out.timers.push((self.spec.update_retry, AgentTimer::RetryUpdates));
        }
    }

    /// A message arrived.
    pub fn handle(&mut self, now: Now, from: &Upid, message: Message) -> Out {
        let mut out = Out::default();
        if self.down {
            return out;
        }
        self.received.push(message.name());
        match message {
            Message::SlaveRegisteredMessage(m) if from == &self.master => {
                self.id = Some(m.slave_id);
                self.registered = true;
            }
            Message::SlaveReregisteredMessage(m) if from == &self.master => {
                {
                    self.registered = true;
                    for reconcile in m.reconciliations {
                        for status in reconcile.statuses {
                            if !self.tasks.contains_key(&status.task_id) {
                                // A launch the agent never saw: it is lost.
                                let task = RunningTask {
                                    framework: reconcile.framework_id.clone(),
                                    info: TaskInfo { task_id: status.task_id.clone(), ..Default::default() },
                                    state: TaskState::TaskStaging,
                                    executor: ExecutorId { value: status.task_id.value.clone() },
                                };
                                self.tasks.insert(status.task_id.clone(), task);
                                self.update(
                                    now,
                                    &reconcile.framework_id,
                                    &status.task_id,
                                    TaskState::TaskLost,
                                    &mut out,
                                );
                            }
                        }
                    }
                    // Resend what is still unacknowledged to the new master.
                    self.resend_pending(&mut out);
                }
            }
            Message::PingSlaveMessage(m) if !self.mute_pings => {
                if !m.connected && self.registered {
                    // The master thinks we are gone: reregister.
                    let again = self.detected(self.master.clone());
                    out.sends.extend(again.sends);
                    out.timers.extend(again.timers);
                }
                out.sends.push((from.clone(), PongSlaveMessage {}.into()));
            }
            Message::RunTaskMessage(m) => {
                let fid = m.framework.id.clone().unwrap_or_default();
                self.frameworks.insert(fid.value.clone(), m.framework.clone());
                let task = m.task;
                let executor = match &task.executor {
                    Some(e) => {
                        self.executors.insert((fid.value.clone(), e.executor_id.value.clone()), e.clone());
                        e.executor_id.clone()
                    }
                    None => ExecutorId { value: task.task_id.value.clone() },
                };
                let tid = task.task_id.clone();
                self.tasks.insert(
                    tid.clone(),
                    RunningTask { framework: fid.clone(), info: task, state: TaskState::TaskStaging, executor },
                );
                self.update(now, &fid, &tid, TaskState::TaskRunning, &mut out);
                if let Some(d) = self.spec.task_duration {
                    out.timers.push((d, AgentTimer::Finish(fid, tid)));
                }
            }
            Message::RunTaskGroupMessage(m) => {
                let fid = m.framework.id.clone().unwrap_or_default();
                self.frameworks.insert(fid.value.clone(), m.framework.clone());
                self.executors.insert((fid.value.clone(), m.executor.executor_id.value.clone()), m.executor.clone());
                for task in m.task_group.tasks {
                    let tid = task.task_id.clone();
                    let executor = m.executor.executor_id.clone();
                    self.tasks.insert(
                        tid.clone(),
                        RunningTask { framework: fid.clone(), info: task, state: TaskState::TaskStaging, executor },
                    );
                    self.update(now, &fid, &tid, TaskState::TaskRunning, &mut out);
                    if let Some(d) = self.spec.task_duration {
                        out.timers.push((d, AgentTimer::Finish(fid.clone(), tid)));
                    }
                }
            }
            Message::KillTaskMessage(m) => match self.tasks.get(&m.task_id) {
                Some(t) if !is_terminal(t.state) => {
                    self.update(now, &m.framework_id, &m.task_id, TaskState::TaskKilled, &mut out);
                }
                Some(_) => {}
                None => {
                    // As Mesos's agent: a task of a known framework with no
                    // executor (its launch never arrived) is lost/dropped.
                    let Some(info) = self.frameworks.get(&m.framework_id.value) else { return out };
                    let partition_aware = super::super::state::FrameworkCaps::of(info).partition_aware;
                    let state = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
                    let task = RunningTask {
                        framework: m.framework_id.clone(),
                        info: TaskInfo { task_id: m.task_id.clone(), ..Default::default() },
                        state: TaskState::TaskStaging,
                        executor: ExecutorId { value: m.task_id.value.clone() },
                    };
                    self.tasks.insert(m.task_id.clone(), task);
                    self.update(now, &m.framework_id, &m.task_id, state, &mut out);
                }
            },
            Message::StatusUpdateAcknowledgementMessage(m) => {
                let Some(stream) = self.pending.get_mut(&m.task_id) else { return out };
                if stream.front().and_then(|u| u.uuid.as_ref()) != Some(&m.uuid) {
                    // A duplicate or stale acknowledgement.
                    return out;
                }
                let acked = stream.pop_front().expect("front checked");
                if let Some(next) = stream.front().cloned() {
                    self.send_update(&next, &mut out);
                } else {
                    self.pending.shift_remove(&m.task_id);
                }
                let terminal = is_terminal(TaskState::try_from(acked.status.state).unwrap_or(TaskState::TaskStaging));
                if terminal {
                    self.tasks.shift_remove(&m.task_id);
                }
            }
            Message::ShutdownFrameworkMessage(m) => {
                let ids: Vec<TaskId> = self
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.framework == m.framework_id && !is_terminal(t.state))
                    .map(|(id, _)| id.clone())
                    .collect();
                for tid in ids {
                    self.update(now, &m.framework_id, &tid, TaskState::TaskKilled, &mut out);
                }
                self.executors.retain(|(f, _), _| *f != m.framework_id.value);
            }
            Message::FrameworkToExecutorMessage(m) => {
                // Echo the data back, as a test executor would.
                let reply = ExecutorToFrameworkMessage {
                    slave_id: m.slave_id,
                    framework_id: m.framework_id,
                    executor_id: m.executor_id,
                    data: m.data,
                };
                out.sends.push((self.master.clone(), reply.into()));
            }
            Message::UpdateFrameworkMessage(m) if m.framework_info.is_some() => {
                let info = m.framework_info.expect("checked");
                self.frameworks.insert(m.framework_id.value.clone(), info);
            }
            Message::CheckpointResourcesMessage(m) => self.checkpointed = m.resources,
            Message::ShutdownMessage(m) => {
                self.shutdown_reason = Some(m.message.unwrap_or_default());
                self.down = true;
            }
            _ => {}
        }
        out
    }
}
