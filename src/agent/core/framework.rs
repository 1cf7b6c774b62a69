//! Frameworks and executors as the agent tracks them (Mesos's `Framework`
//! and `Executor` in `slave.hpp`), and the task bookkeeping rules that do not
//! need the rest of the agent.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use crate::agent::containerizer::Termination;
use crate::agent::paths::RunIds;
use crate::common::resources::Resources;
use crate::proto::mesos::{
    framework_info::capability::Type as FrameworkCapability, task_status::Source, ExecutorInfo, FrameworkInfo, Task,
    TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use crate::v0_compat::Upid;

use super::types::ConnId;

/// Completed tasks kept per executor (`MAX_COMPLETED_TASKS_PER_EXECUTOR`).
pub const MAX_COMPLETED_TASKS_PER_EXECUTOR: usize = 200;
/// Completed frameworks kept (`MAX_COMPLETED_FRAMEWORKS`).
pub const MAX_COMPLETED_FRAMEWORKS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameworkState {
    Running,
    Terminating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Launched (or recovered) but not (re)registered yet.
    Registering,
    /// (Re)registered.
    Running,
    /// Being shut down or killed.
    Terminating,
    /// Its container ended; updates may still be pending.
    Terminated,
}

impl ExecutorState {
    pub fn name(self) -> &'static str {
        match self {
            ExecutorState::Registering => "REGISTERING",
            ExecutorState::Running => "RUNNING",
            ExecutorState::Terminating => "TERMINATING",
            ExecutorState::Terminated => "TERMINATED",
        }
    }
}

/// How the agent reaches an executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Not known yet (launched, not registered; or recovered without a pid
    /// file or HTTP marker).
    Unknown,
    /// A v0 executor driver at this UPID.
    V0(Upid),
    /// An HTTP executor; the stream, while one is open.
    Http(Option<ConnId>),
}

pub use crate::common::task_states::is_terminal;

/// Mesos's `protobuf::createTask`: the `Task` the agent keeps for a `TaskInfo`.
pub fn create_task(task: &TaskInfo, state: TaskState, framework_id: &str) -> Task {
    let mut t = Task {
        name: task.name.clone(),
        task_id: task.task_id.clone(),
        framework_id: crate::proto::mesos::FrameworkId { value: framework_id.to_string() },
        executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
        slave_id: task.slave_id.clone(),
        resources: task.resources.clone(),
        labels: task.labels.clone(),
        discovery: task.discovery.clone(),
        container: task.container.clone(),
        health_check: task.health_check.clone(),
        kill_policy: task.kill_policy,
        limits: task.limits.clone(),
        ..Default::default()
    };
    t.set_state(state);
    if let Some(user) = task.command.as_ref().and_then(|c| c.user.clone()) {
        t.user = Some(user);
    } else if let Some(user) = task.executor.as_ref().and_then(|e| e.command.as_ref()).and_then(|c| c.user.clone()) {
        t.user = Some(user);
    }
    t
}

/// An executor run (one container).
#[derive(Debug, Clone)]
pub struct Executor {
    pub id: String,
    pub framework_id: String,
    pub info: ExecutorInfo,
    pub container_id: String,
    /// The sandbox.
    pub directory: PathBuf,
    pub user: Option<String>,
    /// The framework checkpoints.
    pub checkpoint: bool,
    pub state: ExecutorState,
    pub channel: Channel,
    /// The agent generated this executor for a command task.
    pub generated_for_command_task: bool,
    /// Tasks waiting for the executor to register, in arrival order.
    pub queued_tasks: Vec<TaskInfo>,
    pub queued_task_groups: Vec<TaskGroupInfo>,
    pub launched_tasks: BTreeMap<String, Task>,
    /// Terminal, with their terminal update not yet acknowledged.
    pub terminated_tasks: BTreeMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    /// Statuses received but not yet through the status update manager.
    pub pending_statuses: BTreeMap<String, Vec<TaskStatus>>,
    /// Why the agent is ending the container (used for the tasks' updates).
    pub pending_termination: Option<Termination>,
    /// The top-level pid from the launch (or the checkpoint).
    pub pid: Option<u32>,
}

impl Executor {
    /// A new run of `info` in `container_id`, registering, with no task yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        framework_id: &str,
        info: ExecutorInfo,
        container_id: String,
        directory: PathBuf,
        user: Option<String>,
        checkpoint: bool,
        channel: Channel,
        generated_for_command_task: bool,
    ) -> Executor {
        Executor {
            id: info.executor_id.value.clone(),
            framework_id: framework_id.to_string(),
            info,
            container_id,
            directory,
            user,
            checkpoint,
            state: ExecutorState::Registering,
            channel,
            generated_for_command_task,
            queued_tasks: Vec::new(),
            queued_task_groups: Vec::new(),
            launched_tasks: BTreeMap::new(),
            terminated_tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            pending_statuses: BTreeMap::new(),
            pending_termination: None,
            pid: None,
        }
    }

    pub fn run_ids(&self, agent_id: &str) -> RunIds {
        RunIds {
            agent: agent_id.to_string(),
            framework: self.framework_id.clone(),
            executor: self.id.clone(),
            container: self.container_id.clone(),
        }
    }

    pub fn is_queued(&self, task_id: &str) -> bool {
        self.queued_tasks.iter().any(|t| t.task_id.value == task_id)
    }

    pub fn has_task(&self, task_id: &str) -> bool {
        self.is_queued(task_id)
            || self.launched_tasks.contains_key(task_id)
            || self.terminated_tasks.contains_key(task_id)
    }

    pub fn enqueue_task(&mut self, task: TaskInfo) {
        self.queued_tasks.retain(|t| t.task_id != task.task_id);
        self.queued_tasks.push(task);
    }

    pub fn enqueue_task_group(&mut self, group: TaskGroupInfo) {
        for task in &group.tasks {
            self.enqueue_task(task.clone());
        }
        self.queued_task_groups.push(group);
    }

    /// Takes a task out of the queue (and its group, once the group is empty).
    pub fn dequeue_task(&mut self, task_id: &str) -> Option<TaskInfo> {
        let position = self.queued_tasks.iter().position(|t| t.task_id.value == task_id)?;
        let task = self.queued_tasks.remove(position);
        let queued: Vec<String> = self.queued_tasks.iter().map(|t| t.task_id.value.clone()).collect();
        if let Some(g) = self.queued_task_groups.iter().position(|g| g.tasks.iter().any(|t| t.task_id.value == task_id))
        {
            if self.queued_task_groups[g].tasks.iter().all(|t| !queued.contains(&t.task_id.value)) {
                self.queued_task_groups.remove(g);
            }
        }
        Some(task)
    }

    pub fn queued_task_group(&self, task_id: &str) -> Option<&TaskGroupInfo> {
        self.queued_task_groups.iter().find(|g| g.tasks.iter().any(|t| t.task_id.value == task_id))
    }

    pub fn add_launched_task(&mut self, task: &TaskInfo) -> &Task {
        let t = create_task(task, TaskState::TaskStaging, &self.framework_id);
        self.launched_tasks.insert(task.task_id.value.clone(), t);
        &self.launched_tasks[&task.task_id.value]
    }

    /// Moves a terminated task (acknowledged) to the completed ones.
    pub fn complete_task(&mut self, task_id: &str) {
        if let Some(task) = self.terminated_tasks.remove(task_id) {
            if self.completed_tasks.len() >= MAX_COMPLETED_TASKS_PER_EXECUTOR {
                self.completed_tasks.pop_front();
            }
            self.completed_tasks.push_back(task);
        }
    }

    pub fn add_pending_status(&mut self, status: &TaskStatus) {
        self.pending_statuses.entry(status.task_id.value.clone()).or_default().push(status.clone());
    }

    pub fn remove_pending_status(&mut self, status: &TaskStatus) {
        let task = &status.task_id.value;
        if let Some(list) = self.pending_statuses.get_mut(task) {
            list.retain(|s| s.uuid != status.uuid);
            if list.is_empty() {
                self.pending_statuses.remove(task);
            }
        }
    }

    /// Records a new status of one of this executor's tasks (Mesos's
    /// `Executor::updateTaskState`). Returns the metric to bump for a
    /// terminal state, or why the status was refused.
    pub fn update_task_state(&mut self, status: &TaskStatus) -> Result<Option<TaskState>, String> {
        let terminal = is_terminal(status.state());
        let task_id = status.task_id.value.clone();
        let mut task = if self.is_queued(&task_id) {
            if !terminal {
                return Err("Cannot send non-terminal update for queued task".into());
            }
            let info = self.dequeue_task(&task_id).expect("queued");
            create_task(&info, status.state(), &self.framework_id)
        } else if let Some(task) = self.launched_tasks.get(&task_id) {
            if terminal {
                if let Some(pending) = self.pending_statuses.get(&task_id) {
                    if let Some(first) = pending.iter().find(|s| is_terminal(s.state())) {
                        if first.uuid != status.uuid {
                            return Err(format!(
                                "Unexpected terminal status update after first status update {}",
                                first.state().as_str_name()
                            ));
                        }
                    }
                }
                self.launched_tasks.remove(&task_id).expect("launched")
            } else {
                task.clone()
            }
        } else if let Some(task) = self.terminated_tasks.get(&task_id) {
            return Err(format!("Task is already terminated with state {}", task.state().as_str_name()));
        } else {
            return Err("Task is unknown".into());
        };
        if task.statuses.last().is_some_and(|last| last.state == status.state) {
            task.statuses.pop();
        }
        task.statuses.push(status.clone());
        task.set_state(status.state());
        if terminal {
            self.terminated_tasks.insert(task_id, task);
            Ok(Some(status.state()))
        } else {
            self.launched_tasks.insert(task_id, task);
            Ok(None)
        }
    }

    pub fn incomplete_tasks(&self) -> bool {
        !self.queued_tasks.is_empty() || !self.launched_tasks.is_empty() || !self.terminated_tasks.is_empty()
    }

    /// Whether a task ever reached the executor (Mesos's `everSentTask`).
    pub fn ever_sent_task(&self) -> bool {
        if !self.launched_tasks.is_empty() {
            return true;
        }
        let from_executor = |t: &Task| t.statuses.iter().any(|s| s.source == Some(Source::Executor as i32));
        self.terminated_tasks.values().any(from_executor) || self.completed_tasks.iter().any(from_executor)
    }

    /// The executor's resources plus those of its queued and launched tasks.
    pub fn allocated_resources(&self) -> Resources {
        let mut total = Resources::from_protos(&self.info.resources);
        for task in &self.queued_tasks {
            total.add_all(&Resources::from_protos(&task.resources));
        }
        for task in self.launched_tasks.values() {
            total.add_all(&Resources::from_protos(&task.resources));
        }
        total
    }

    pub fn task(&self, task_id: &str) -> Option<&Task> {
        self.launched_tasks.get(task_id).or_else(|| self.terminated_tasks.get(task_id))
    }
}

/// A framework with executors (or a completed one, kept for `/state`).
#[derive(Debug, Clone)]
pub struct Framework {
    pub id: String,
    pub info: FrameworkInfo,
    /// The v0 scheduler's pid; `None` for v1 schedulers (messages go
    /// through the master).
    pub pid: Option<Upid>,
    pub state: FrameworkState,
    pub executors: BTreeMap<String, Executor>,
    pub completed_executors: VecDeque<Executor>,
}

impl Framework {
    pub fn new(info: FrameworkInfo, pid: Option<Upid>) -> Framework {
        let id = info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        Framework {
            id,
            info,
            pid,
            state: FrameworkState::Running,
            executors: BTreeMap::new(),
            completed_executors: VecDeque::new(),
        }
    }

    pub fn idle(&self) -> bool {
        self.executors.is_empty()
    }

    pub fn checkpoint(&self) -> bool {
        self.info.checkpoint()
    }

    pub fn has_capability(&self, capability: FrameworkCapability) -> bool {
        has_capability(&self.info, capability)
    }

    pub fn partition_aware(&self) -> bool {
        self.has_capability(FrameworkCapability::PartitionAware)
    }

    /// The executor running (or having run) a task.
    pub fn executor_of_task(&self, task_id: &str) -> Option<&Executor> {
        self.executors.values().find(|e| e.has_task(task_id))
    }

    pub fn executor_id_of_task(&self, task_id: &str) -> Option<String> {
        self.executor_of_task(task_id).map(|e| e.id.clone())
    }

    pub fn has_task(&self, task_id: &str) -> bool {
        self.executor_of_task(task_id).is_some()
    }

    /// Moves an executor to the completed ones.
    pub fn destroy_executor(&mut self, executor_id: &str, max_completed: usize) {
        if let Some(executor) = self.executors.remove(executor_id) {
            if max_completed == 0 {
                return;
            }
            if self.completed_executors.len() >= max_completed {
                self.completed_executors.pop_front();
            }
            self.completed_executors.push_back(executor);
        }
    }

    pub fn allocated_resources(&self) -> Resources {
        let mut total = Resources::new();
        for e in self.executors.values() {
            total.add_all(&e.allocated_resources());
        }
        total
    }

    /// The roles the framework's resources are allocated to.
    pub fn roles(&self) -> Vec<String> {
        roles(&self.info)
    }
}

pub fn has_capability(info: &FrameworkInfo, capability: FrameworkCapability) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == capability)
}

/// Mesos's `protobuf::framework::getRoles`.
#[allow(deprecated)]
pub fn roles(info: &FrameworkInfo) -> Vec<String> {
    if has_capability(info, FrameworkCapability::MultiRole) {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".to_string())]
    }
}
