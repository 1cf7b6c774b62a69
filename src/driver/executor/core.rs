//! The executor driver's decisions, sans-IO: what Apache's
//! `ExecutorProcess` (`src/exec/exec.cpp`) does, as a state machine.
//!
//! As with the scheduler core, [`ExecutorCore::handle`] turns one [`Input`]
//! into ordered [`Effect`]s, callbacks included. The `aborted` flag is shared
//! with the front end (set by `abort`, and by the core itself once the
//! executor has been told to shut down): the runtime mirrors it in with
//! [`ExecutorCore::set_aborted`] before each input, and the core's
//! [`Effect::Aborted`] sets it.

use std::time::Duration;

use crate::proto::mesos::internal as mi;
use crate::proto::mesos::{
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, TaskId, TaskInfo, TaskStatus,
};
use crate::v0_compat::{Message, Upid};

use super::super::random::Rng;
use super::env::Environment;

/// What the core is built from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The executor process's own UPID (`executor(N)@ip:port`).
    pub pid: Upid,
    /// What the agent told the executor through `MESOS_*`.
    pub environment: Environment,
    /// Seeds the status update UUIDs.
    pub seed: u64,
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// A driver call, queued by the front end after its status check.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    SendStatusUpdate(TaskStatus),
    SendFrameworkMessage(Vec<u8>),
    Stop,
    Abort,
}

/// The executor driver's timers.
#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    /// The agent has not come back within the recovery timeout since the
    /// connection numbered `connection` broke.
    Recovery { connection: u64 },
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// Everything the core reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The process has started: register with the agent.
    Start,
    /// A message to the executor process.
    Message {
        from: Upid,
        message: Message,
    },
    /// A linked peer (the agent) is gone.
    Exited(Upid),
    Timer(Timer),
    Call(Call),
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// An executor callback, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    Registered { executor_info: ExecutorInfo, framework_info: FrameworkInfo, slave_info: SlaveInfo },
    Reregistered { slave_info: SlaveInfo },
    LaunchTask { task: TaskInfo },
    KillTask { task_id: TaskId },
    FrameworkMessage { data: Vec<u8> },
    Shutdown,
    Error { message: String },
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// What the runtime must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send {
        to: Upid,
        message: Message,
    },
    Link(Upid),
    /// Link anew over a fresh connection (a restarted agent may sit behind a
    /// half-open socket).
    Relink(Upid),
    SetTimer {
        timer: Timer,
        after: Duration,
    },
    Callback(Callback),
    /// Set the shared `aborted` flag: no further message is handled.
    Aborted,
    /// Kill this OS process's group after `grace` unless it is gone by then
    /// (Apache's `ShutdownProcess`: `killpg(0, SIGKILL)`, then exit 1).
    ScheduleKill {
        grace: Duration,
    },
    /// The process is done: handle nothing more.
    Terminate,
    /// Wake `join()`.
    Release,
}

/// The executor driver's state machine.
#[derive(Debug)]
pub struct ExecutorCore {
    pid: Upid,
    slave: Upid,
    slave_id: SlaveId,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    local: bool,
    checkpoint: bool,
    recovery_timeout: Duration,
    shutdown_grace_period: Duration,
    /// Registered with the agent.
    connected: bool,
    /// Numbers connections, so a recovery timer of an old one is ignored.
    connection: u64,
    aborted: bool,
    terminated: bool,
    /// Updates the agent has not acknowledged, in the order sent.
    updates: Vec<([u8; 16], mi::StatusUpdate)>,
    /// Tasks whose updates the agent has not acknowledged, in launch order.
    tasks: Vec<TaskInfo>,
    rng: Rng,
    effects: Vec<Effect>,
}

impl ExecutorCore {
    pub fn new(config: Config) -> ExecutorCore {
        let env = config.environment;
        tracing::info!("Version: 1.11.0");
        ExecutorCore {
            pid: config.pid,
            slave: env.slave_pid,
            slave_id: env.slave_id,
            framework_id: env.framework_id,
            executor_id: env.executor_id,
            local: env.local,
            checkpoint: env.checkpoint,
            recovery_timeout: env.recovery_timeout,
            shutdown_grace_period: env.shutdown_grace_period,
            connected: false,
            connection: 0,
            aborted: false,
            terminated: false,
            updates: Vec::new(),
            tasks: Vec::new(),
            rng: Rng::new(config.seed),
            effects: Vec::new(),
        }
    }

    /// Whether the executor is registered with the agent.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The agent the executor talks to.
    pub fn slave(&self) -> &Upid {
        &self.slave
    }

    /// Whether the core has stopped handling inputs.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// The unacknowledged updates, in the order sent.
    pub fn unacknowledged_updates(&self) -> impl Iterator<Item = &mi::StatusUpdate> {
        self.updates.iter().map(|(_, u)| u)
    }

    /// Mirrors the shared `aborted` flag (only ever set).
    pub fn set_aborted(&mut self, aborted: bool) {
        self.aborted = self.aborted || aborted;
    }

    /// Handles one input; `now` is the wall clock in seconds since the Unix
    /// epoch (status update timestamps).
    pub fn handle(&mut self, now: f64, input: Input) -> Vec<Effect> {
        if self.terminated {
            return Vec::new();
        }
        match input {
            Input::Start => self.start(),
            Input::Message { from, message } => self.message(from, message),
            Input::Exited(pid) => self.exited(pid),
            Input::Timer(Timer::Recovery { connection }) => self.recovery_timeout(connection),
            Input::Call(Call::SendStatusUpdate(status)) => self.send_status_update(now, status),
            Input::Call(Call::SendFrameworkMessage(data)) => self.send_framework_message(data),
            Input::Call(Call::Stop) => {
                self.terminated = true;
                self.effects.push(Effect::Terminate);
                self.effects.push(Effect::Release);
            }
            Input::Call(Call::Abort) => {
                tracing::info!("Deactivating the executor libprocess");
                self.aborted = true;
                self.effects.push(Effect::Release);
            }
        }
        std::mem::take(&mut self.effects)
    }

    fn start(&mut self) {
        tracing::debug!("Executor started at: {} with pid {}", self.pid, std::process::id());
        self.effects.push(Effect::Link(self.slave.clone()));
        let register = mi::RegisterExecutorMessage {
            framework_id: self.framework_id.clone(),
            executor_id: self.executor_id.clone(),
        };
        self.effects.push(Effect::Send { to: self.slave.clone(), message: register.into() });
    }

    fn message(&mut self, from: Upid, message: Message) {
        match message {
            Message::ExecutorRegisteredMessage(m) => {
                let m = *m;
                if self.aborted {
                    tracing::debug!(
                        "Ignoring registered message from agent {} because the driver is aborted!",
                        m.slave_id.value
                    );
                    return;
                }
                tracing::info!("Executor registered on agent {}", m.slave_id.value);
                self.connected = true;
                self.connection += 1;
                self.callback(Callback::Registered {
                    executor_info: m.executor_info,
                    framework_info: m.framework_info,
                    slave_info: m.slave_info,
                });
            }
            Message::ExecutorReregisteredMessage(m) => {
                let m = *m;
                if self.aborted {
                    tracing::debug!(
                        "Ignoring reregistered message from agent {} because the driver is aborted!",
                        m.slave_id.value
                    );
                    return;
                }
                tracing::info!("Executor reregistered on agent {}", m.slave_id.value);
                self.connected = true;
                self.connection += 1;
                self.callback(Callback::Reregistered { slave_info: m.slave_info });
            }
            Message::ReconnectExecutorMessage(m) => self.reconnect(from, m.slave_id),
            Message::RunTaskMessage(m) => self.run_task(m.task),
            Message::KillTaskMessage(m) => {
                if self.aborted {
                    tracing::debug!(
                        "Ignoring kill task message for task {} because the driver is aborted!",
                        m.task_id.value
                    );
                    return;
                }
                if !self.connected {
                    // Still delivered: the executor may want to act on it.
                    tracing::warn!(
                        "Executor received kill task message for task {} while disconnected from the agent!",
                        m.task_id.value
                    );
                }
                tracing::debug!("Executor asked to kill task '{}'", m.task_id.value);
                self.callback(Callback::KillTask { task_id: m.task_id });
            }
            Message::StatusUpdateAcknowledgementMessage(m) => self.acknowledgement(*m),
            Message::FrameworkToExecutorMessage(m) => {
                if self.aborted {
                    tracing::debug!("Ignoring framework message because the driver is aborted!");
                    return;
                }
                if !self.connected {
                    tracing::warn!("Ignoring framework message because the driver is disconnected!");
                    return;
                }
                tracing::debug!("Executor received framework message");
                self.callback(Callback::FrameworkMessage { data: m.data });
            }
            Message::ShutdownExecutorMessage(_) => self.shutdown(),
            other => tracing::debug!("Dropping unexpected {} from {from}", other.name()),
        }
    }

    fn callback(&mut self, callback: Callback) {
        self.effects.push(Effect::Callback(callback));
    }

    fn reconnect(&mut self, from: Upid, slave_id: SlaveId) {
        if self.aborted {
            tracing::debug!("Ignoring reconnect message from agent {} because the driver is aborted!", slave_id.value);
            return;
        }
        tracing::info!("Received reconnect request from agent {}", slave_id.value);
        // The agent may have come back under another pid.
        self.slave = from;
        self.effects.push(Effect::Relink(self.slave.clone()));
        let reregister = mi::ReregisterExecutorMessage {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            tasks: self.tasks.clone(),
            updates: self.updates.iter().map(|(_, u)| u.clone()).collect(),
        };
        self.effects.push(Effect::Send { to: self.slave.clone(), message: reregister.into() });
    }

    fn run_task(&mut self, task: TaskInfo) {
        if self.aborted {
            tracing::debug!("Ignoring run task message for task {} because the driver is aborted!", task.task_id.value);
            return;
        }
        if !self.connected {
            tracing::warn!(
                "Ignoring run task message for task {} because the driver is disconnected!",
                task.task_id.value
            );
            return;
        }
        if self.tasks.iter().any(|t| t.task_id == task.task_id) {
            // Apache's driver CHECK-fails (crashes) on this agent bug.
            tracing::error!("Ignoring unexpected duplicate task {}", task.task_id.value);
            return;
        }
        tracing::debug!("Executor asked to run task '{}'", task.task_id.value);
        self.tasks.push(task.clone());
        self.callback(Callback::LaunchTask { task });
    }

    fn acknowledgement(&mut self, ack: mi::StatusUpdateAcknowledgementMessage) {
        let Ok(uuid) = <[u8; 16]>::try_from(ack.uuid.as_slice()) else {
            tracing::warn!(
                "Ignoring status update acknowledgement for task {} with a malformed uuid",
                ack.task_id.value
            );
            return;
        };
        let text = uuid::Uuid::from_bytes(uuid);
        if self.aborted {
            tracing::debug!(
                "Ignoring status update acknowledgement {text} for task {} of framework {} because the driver is aborted!",
                ack.task_id.value,
                ack.framework_id.value
            );
            return;
        }
        if !self.connected {
            tracing::warn!(
                "Ignoring status update acknowledgement {text} for task {} of framework {} because the driver is disconnected!",
                ack.task_id.value,
                ack.framework_id.value
            );
            return;
        }
        let Some(index) = self.updates.iter().position(|(u, _)| *u == uuid) else {
            tracing::warn!(
                "Ignoring unknown status update acknowledgement {text} for task {} of framework {}",
                ack.task_id.value,
                ack.framework_id.value
            );
            return;
        };
        tracing::debug!("Executor received status update acknowledgement {text} for task {}", ack.task_id.value);
        self.updates.remove(index);
        self.tasks.retain(|t| t.task_id != ack.task_id);
    }

    fn shutdown(&mut self) {
        if self.aborted {
            tracing::debug!("Ignoring shutdown message because the driver is aborted!");
            return;
        }
        tracing::info!("Executor asked to shutdown");
        self.begin_shutdown();
    }

    /// Tells the executor to shut down, arms the kill (outside local mode),
    /// and stops handling messages.
    fn begin_shutdown(&mut self) {
        if !self.local {
            self.effects.push(Effect::ScheduleKill { grace: self.shutdown_grace_period });
        }
        self.callback(Callback::Shutdown);
        self.aborted = true;
        self.effects.push(Effect::Aborted);
    }

    fn recovery_timeout(&mut self, connection: u64) {
        if self.connected || self.aborted {
            return;
        }
        // A later (re)registration supersedes this timer.
        if connection == self.connection {
            tracing::info!("Recovery timeout of {:?} exceeded; Shutting down", self.recovery_timeout);
            self.begin_shutdown();
        }
    }

    fn exited(&mut self, pid: Upid) {
        if self.aborted {
            tracing::debug!("Ignoring exited event because the driver is aborted!");
            return;
        }
        // A checkpointing framework's executor waits for the agent to
        // recover and reconnect.
        if self.checkpoint && self.connected {
            self.connected = false;
            tracing::info!(
                "Agent exited, but framework has checkpointing enabled. Waiting {:?} to reconnect with agent {}",
                self.recovery_timeout,
                self.slave_id.value
            );
            let timer = Timer::Recovery { connection: self.connection };
            self.effects.push(Effect::SetTimer { timer, after: self.recovery_timeout });
            return;
        }
        tracing::info!("Agent {pid} exited ... shutting down");
        self.connected = false;
        self.begin_shutdown();
    }

    fn send_status_update(&mut self, now: f64, status: TaskStatus) {
        let uuid = self.rng.uuid();
        let mut status = status;
        status.timestamp = Some(now);
        status.uuid = Some(uuid.to_vec());
        status.slave_id = Some(self.slave_id.clone());
        let update = mi::StatusUpdate {
            framework_id: self.framework_id.clone(),
            executor_id: Some(self.executor_id.clone()),
            slave_id: Some(self.slave_id.clone()),
            status,
            timestamp: now,
            uuid: Some(uuid.to_vec()),
            latest_state: None,
        };
        tracing::debug!(
            "Executor sending status update {} for task {}",
            uuid::Uuid::from_bytes(uuid),
            update.status.task_id.value
        );
        self.updates.push((uuid, update.clone()));
        let message = mi::StatusUpdateMessage { update, pid: Some(self.pid.to_string()) };
        self.effects.push(Effect::Send { to: self.slave.clone(), message: message.into() });
    }

    fn send_framework_message(&mut self, data: Vec<u8>) {
        let message = mi::ExecutorToFrameworkMessage {
            slave_id: self.slave_id.clone(),
            framework_id: self.framework_id.clone(),
            executor_id: self.executor_id.clone(),
            data,
        };
        self.effects.push(Effect::Send { to: self.slave.clone(), message: message.into() });
    }
}
