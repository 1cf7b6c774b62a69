//! The containerizer contract: how the agent starts, watches and stops the
//! processes (executors) that run tasks.
//!
//! This mirrors Mesos's `Containerizer` interface
//! (`src/slave/containerizer/containerizer.hpp`): the agent's state machine
//! decides *what* runs, a containerizer does it. Implementations: the Mesos
//! containerizer (posix/cgroups launcher and isolators, with the fetcher), the
//! Docker containerizer, a composing one for `--containerizers=docker,mesos`,
//! and a scripted mock for simulation tests.
//!
//! The agent's I/O loop turns a `Launch` effect into [`Containerizer::launch`],
//! waits on [`Containerizer::wait`] and feeds the outcome back as an event, so
//! the state machine itself never awaits anything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::proto::mesos::{
    task_status::Reason, CommandInfo, ContainerId, ContainerInfo, ExecutorInfo, Resource, ResourceStatistics, TaskInfo,
    TaskState,
};

/// Everything needed to start one top-level container (one executor run).
/// The shape follows Mesos's `mesos.slave.ContainerConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerConfig {
    pub container_id: ContainerId,
    /// The executor the container runs (for command tasks, the one the agent
    /// built around `mesos-executor`).
    pub executor_info: ExecutorInfo,
    /// Set for a command task, whose command the executor will run.
    pub task_info: Option<TaskInfo>,
    /// What to exec in the container (the executor's command).
    pub command_info: CommandInfo,
    pub container_info: Option<ContainerInfo>,
    /// What the container may use: the executor's plus its tasks' resources.
    pub resources: Vec<Resource>,
    /// The run directory (sandbox): `.../executors/<id>/runs/<container id>`.
    pub directory: PathBuf,
    /// Run as this user when the agent may switch users.
    pub user: Option<String>,
    /// Environment the agent gives every executor (`MESOS_*`, `LIBPROCESS_*`),
    /// merged under the command's own environment.
    pub environment: BTreeMap<String, String>,
    /// Whether the framework checkpoints (recovery must find the container).
    pub checkpoint: bool,
}

/// What a successful launch tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchResult {
    /// The container is running; `pid` is the top-level process.
    Launched { pid: u32 },
    /// This containerizer cannot run the config (e.g. Docker for a non-Docker
    /// ContainerInfo): a composing containerizer tries the next one.
    NotSupported,
}

/// How a container ended (Mesos's `mesos.slave.ContainerTermination`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Termination {
    /// The wait status of the top-level process (as `waitpid` gives it), if known.
    pub status: Option<i32>,
    /// The task state to report when an isolator limit killed it.
    pub state: Option<TaskState>,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    /// Resources whose limit was hit (e.g. `mem`), for TaskStatus.limitation.
    pub limited_resources: Vec<Resource>,
}

/// A container the agent checkpointed, handed back at recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoverableContainer {
    pub container_id: ContainerId,
    pub executor_info: ExecutorInfo,
    pub directory: PathBuf,
    /// The checkpointed pid of the top-level process, if it was written.
    pub pid: Option<u32>,
}

/// Why a containerizer call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("Unknown container {0}")]
    Unknown(String),
    #[error("Container {0} already exists")]
    AlreadyExists(String),
    /// Fetching `CommandInfo.uris` failed (reported as TASK_FAILED with
    /// REASON_CONTAINER_LAUNCH_FAILED, as Mesos does).
    #[error("{0}")]
    FetchFailed(String),
    #[error("{0}")]
    LaunchFailed(String),
    #[error("{0}")]
    Io(String),
}

/// Starts, watches, resizes and stops containers. Every method is safe to call
/// concurrently; implementations keep their own bookkeeping.
pub trait Containerizer: Send + Sync + 'static {
    /// Re-attaches to the containers the agent checkpointed (those whose
    /// process is still alive keep running; `wait` works for them afterwards)
    /// and destroys orphans it finds that are not in the list, as Mesos does.
    fn recover(&self, known: Vec<RecoverableContainer>) -> BoxFuture<'_, Result<(), ContainerError>>;

    /// Prepares isolation, fetches URIs into the sandbox, starts the process
    /// inside its isolation (cgroups before exec), writes stdout/stderr into
    /// the sandbox.
    fn launch(&self, config: ContainerConfig) -> BoxFuture<'_, Result<LaunchResult, ContainerError>>;

    /// Resolves when the container has terminated; `None` if unknown.
    fn wait(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>>;

    /// Kills every process of the container and cleans up its isolation;
    /// resolves to its termination (`None` if unknown).
    fn destroy(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>>;

    /// Applies new resource limits (an executor gained or lost tasks).
    fn update(&self, id: ContainerId, resources: Vec<Resource>) -> BoxFuture<'_, Result<(), ContainerError>>;

    /// Current usage, as `/monitor/statistics` reports it.
    fn usage(&self, id: ContainerId) -> BoxFuture<'_, Result<ResourceStatistics, ContainerError>>;

    /// The containers currently known.
    fn containers(&self) -> BoxFuture<'_, Vec<ContainerId>>;
}

pub mod composing;
pub mod docker;
pub mod mesos;
pub mod mock;
