//! The agent state machine's vocabulary: time, configuration, events in,
//! effects out, timers.

use std::collections::BTreeMap;
use std::ops::Add;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::containerizer::{ContainerConfig, LaunchResult, RecoverableContainer, Termination};
use crate::agent::state::{FsOp, State};
use crate::proto::mesos::executor;
use crate::proto::mesos::slave_info::Capability;
use crate::proto::mesos::{Attribute, ContainerId, ContainerInfo, DomainInfo, Resource};
use crate::v0_compat::{Message, Upid};

/// A point in time: wall-clock nanoseconds since the Unix epoch, supplied by
/// the driver (a real clock) or the simulation (a virtual one). The state
/// machine never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub Duration);

impl Time {
    pub fn from_secs_f64(secs: f64) -> Time {
        Time(Duration::from_secs_f64(secs.max(0.0)))
    }

    /// Seconds since the epoch, as Mesos timestamps are written.
    pub fn secs(self) -> f64 {
        self.0.as_secs_f64()
    }

    pub fn since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0 + d)
    }
}

/// `--recover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverMode {
    /// Reattach to live executors.
    Reconnect,
    /// Kill live executors and exit.
    Cleanup,
}

/// `--reconfiguration_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconfigurationPolicy {
    Equal,
    Additive,
}

/// Everything the state machine needs to know that is not state: flags
/// turned into values, and what the driver found out at start (addresses,
/// resources, executor binaries).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `--work_dir`, absolute.
    pub work_dir: PathBuf,
    /// This agent's UPID, `slave(1)@ip:port`.
    pub pid: Upid,
    pub hostname: String,
    /// Total resources: `--resources` plus what was auto-detected.
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub domain: Option<DomainInfo>,
    pub capabilities: Vec<Capability>,
    pub recover: RecoverMode,
    pub strict: bool,
    pub reconfiguration_policy: ReconfigurationPolicy,
    pub registration_backoff_factor: Duration,
    pub executor_registration_timeout: Duration,
    pub executor_reregistration_timeout: Duration,
    pub executor_reregistration_retry_interval: Option<Duration>,
    pub executor_shutdown_grace_period: Duration,
    pub recovery_timeout: Duration,
    pub gc_delay: Duration,
    pub switch_user: bool,
    /// `--executor_environment_variables`.
    pub executor_environment: BTreeMap<String, String>,
    /// The agent's own `LIBPROCESS_IP`, passed on to executors.
    pub libprocess_ip: Option<String>,
    pub http_command_executor: bool,
    /// `--launcher_dir` as given (passed to our executors).
    pub launcher_dir: String,
    /// `realpath(launcher_dir/mesos-executor)`, or why it is unusable.
    pub command_executor: Result<PathBuf, String>,
    /// `realpath(launcher_dir/mesos-default-executor)`, or why not.
    pub default_executor: Result<PathBuf, String>,
    pub default_container_info: Option<ContainerInfo>,
    pub max_completed_executors_per_framework: usize,
    /// `--containerizers`, for messages.
    pub containerizers: String,
    /// This boot's id, checkpointed at the end of recovery.
    pub boot_id: Option<String>,
    /// Seeds the random choices (backoff jitter, container ids, UUIDs).
    pub seed: u64,
}

/// An open `/api/v1/executor` SUBSCRIBE stream, numbered by the driver.
pub type ConnId = u64;

/// An HTTP request waiting for the agent's answer, numbered by the driver.
pub type RequestId = u64;

/// What the agent answers an executor API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiResponse {
    /// 202 Accepted.
    Accepted,
    /// 200 OK with the event stream (SUBSCRIBE).
    Stream,
    /// An error status and its body.
    Error(u16, String),
}

/// What the agent does after a container's resources were updated.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterUpdate {
    Nothing,
    /// Send these queued tasks and task groups to the executor (Mesos's
    /// `___run`).
    SendQueued {
        framework_id: String,
        executor_id: String,
        tasks: Vec<String>,
        task_groups: Vec<Vec<String>>,
    },
}

/// Timers the agent sets. A timer whose state moved on is ignored when it
/// fires (the ids carry enough to tell).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerId {
    /// Next (re)registration attempt.
    Registration {
        generation: u64,
    },
    /// No ping from the master within the ping timeout.
    Ping {
        generation: u64,
    },
    ExecutorRegistration {
        framework_id: String,
        executor_id: String,
        container_id: String,
    },
    ExecutorShutdown {
        framework_id: String,
        executor_id: String,
        container_id: String,
    },
    /// End of the executor reregistration window after a restart.
    ExecutorReregistration,
    /// Resend reconnect requests to v0 executors during recovery.
    ExecutorReconnectRetry {
        framework_id: String,
        executor_id: String,
    },
    /// Resend the head of a task's status update stream.
    StatusUpdateRetry {
        framework_id: String,
        task_id: String,
        generation: u64,
    },
}

/// Inputs of the state machine.
#[derive(Debug, Clone)]
pub enum Event {
    /// The driver read `meta/` (first event after start).
    StateRecovered(Result<State, String>),
    /// The containerizer finished its recovery.
    ContainersRecovered(Result<(), String>),
    /// The master detector's answer: the leading master, or none.
    MasterDetected(Option<Upid>),
    /// The detector failed for good (Mesos exits).
    MasterDetectionFailed(String),
    /// A v0 message for `slave(1)`.
    Message {
        from: Upid,
        message: Message,
    },
    /// A linked peer went away.
    Exited(Upid),
    Timer(TimerId),
    /// Result of a `Launch` effect (sandbox creation included).
    Launched {
        framework_id: String,
        executor_id: String,
        container_id: ContainerId,
        result: Result<LaunchResult, String>,
    },
    /// A container ended (`Containerizer::wait`); `None` if unknown.
    ContainerTerminated {
        framework_id: String,
        executor_id: String,
        container_id: ContainerId,
        termination: Option<Termination>,
    },
    /// Result of an `Update` effect.
    ContainerUpdated {
        container_id: ContainerId,
        result: Result<(), String>,
        then: AfterUpdate,
    },
    /// A call on `/api/v1/executor` (already parsed, validated and turned
    /// into the v0 `executor::Call`). SUBSCRIBE calls carry the stream the
    /// driver opened for them.
    ExecutorCall {
        request: RequestId,
        stream: Option<ConnId>,
        call: executor::Call,
    },
    /// An executor's SUBSCRIBE stream closed.
    ExecutorStreamClosed(ConnId),
    /// SIGUSR1: unregister and shut down (executors are killed).
    ShutdownRequested(String),
}

/// Outputs of the state machine, to be carried out **in order**. An `Fs`
/// effect is complete (written, so it survives a crash of the agent) before
/// the next effect starts: a message that follows a checkpoint in the list
/// (a forwarded status update, an acknowledgement to an executor) is only
/// sent once the checkpoint is written; Mesos writes its checkpoints
/// synchronously for the same reason. This ordering is the completion the
/// state machine relies on, so no completion event is needed; a failed `Fs`
/// effect is fatal, as in Mesos.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a v0 message as `slave(1)`.
    Send { to: Upid, message: Message },
    /// Link to a peer (its exit becomes [`Event::Exited`]).
    Link { to: Upid },
    /// Send an event on an executor's SUBSCRIBE stream.
    ExecutorEvent { stream: ConnId, event: Box<executor::Event> },
    /// Close an executor's SUBSCRIBE stream.
    CloseExecutorStream { stream: ConnId },
    /// Answer an `/api/v1/executor` request.
    Respond { request: RequestId, response: ApiResponse },
    /// Fire `Event::Timer(id)` at `at`.
    SetTimer { id: TimerId, at: Time },
    /// A durable filesystem change under the work_dir.
    Fs(FsOp),
    /// Create the sandbox (owned by `user`), point the executor's `runs/latest`
    /// at it, then `Containerizer::launch`; answer with [`Event::Launched`].
    Launch { framework_id: String, executor_id: String, latest: PathBuf, config: Box<ContainerConfig> },
    /// `Containerizer::wait`; answer with [`Event::ContainerTerminated`].
    Wait { framework_id: String, executor_id: String, container_id: ContainerId },
    /// `Containerizer::destroy` (the termination arrives through `Wait`).
    Destroy { container_id: ContainerId },
    /// `Containerizer::update`; answer with [`Event::ContainerUpdated`].
    Update { container_id: ContainerId, resources: Vec<Resource>, then: AfterUpdate },
    /// `Containerizer::recover`; answer with [`Event::ContainersRecovered`].
    RecoverContainers { containers: Vec<RecoverableContainer> },
    /// Ask the master detector for a master other than `previous`; the
    /// answer is [`Event::MasterDetected`]. Replaces any pending detection.
    DetectMaster { previous: Option<Upid> },
    /// Remove `path` (a sandbox or meta directory) after `delay`.
    GarbageCollect { path: PathBuf, delay: Duration },
    /// Keep `path` after all (it is in use again).
    Unschedule { path: PathBuf },
    /// The agent is done: exit with this status (0 after a shutdown).
    Exit { status: i32, message: String },
}
