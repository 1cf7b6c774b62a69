//! From `RunTaskMessage` / `RunTaskGroupMessage` to a running container
//! (Mesos's `runTask`, `runTaskGroup`, `run`, `__run`, `___run`,
//! `launchExecutor`, `executorLaunched`, `getExecutorInfo`,
//! `executorEnvironment`).

use std::collections::BTreeMap;

use super::framework::{roles, ExecutorState, Framework, FrameworkState};
use super::{AfterUpdate, Agent, AgentState, Channel, Effect, Executor, TimerId};
use crate::agent::containerizer::{ContainerConfig, LaunchResult, Termination};
use crate::agent::paths::{self, RunIds};
use crate::agent::state::{self, FsOp};
use crate::common::resources::format::{upgrade_message, upgrade_resources};
use crate::common::resources::ops::needs_checkpointing;
use crate::common::resources::Resources;
use crate::common::units::format_duration;
use crate::proto::mesos::executor_info::Type as ExecutorType;
use crate::proto::mesos::internal::{ExitedExecutorMessage, RunTaskGroupMessage, RunTaskMessage};
use crate::proto::mesos::resource::AllocationInfo;
use crate::proto::mesos::{
    task_status::Reason, CommandInfo, ContainerId, DurationInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Resource, TaskGroupInfo, TaskInfo, TaskState,
};
use crate::v0_compat::Upid;

/// `DEFAULT_EXECUTOR_CPUS` and `DEFAULT_EXECUTOR_MEM`, the overhead of the
/// executor the agent makes for a command task.
const COMMAND_EXECUTOR_RESOURCES: &str = "cpus:0.1;mem:32";
/// libprocess's `MAX_REAP_INTERVAL`, added to a kill policy's grace period.
const MAX_REAP_INTERVAL_SECS: u64 = 1;

fn inject_allocation_info(resources: &mut [Resource], framework: &FrameworkInfo) {
    let roles = roles(framework);
    for r in resources.iter_mut() {
        if r.allocation_info.is_none() {
            if roles.len() != 1 {
                tracing::error!(
                    "Missing 'Resource.AllocationInfo' for resources allocated to MULTI_ROLE framework '{}'",
                    framework.name
                );
                continue;
            }
            r.allocation_info = Some(AllocationInfo { role: Some(roles[0].clone()) });
        }
    }
}

fn prepare_task(task: &mut TaskInfo, framework: &FrameworkInfo) {
    inject_allocation_info(&mut task.resources, framework);
    if let Some(executor) = task.executor.as_mut() {
        inject_allocation_info(&mut executor.resources, framework);
    }
    upgrade_message(task);
}

impl Agent {
    /// `RunTaskMessage`.
    pub(crate) fn on_run_task(&mut self, from: &Upid, message: RunTaskMessage, fx: &mut Vec<Effect>) {
        let task = message.task;
        if task.executor.is_some() == task.command.is_some() {
            tracing::error!(
                "Ignoring task {} which should have either CommandInfo or ExecutorInfo set but not both",
                task.task_id.value
            );
            return;
        }
        if self.master.as_ref() != Some(from) {
            tracing::warn!("Ignoring run task message from {from} because it is not the expected master");
            return;
        }
        let framework = message.framework;
        if framework.id.is_none() {
            tracing::error!("Ignoring run task message from {from} because it does not have a framework ID");
            return;
        }
        let pid = message.pid.as_deref().and_then(|p| state::parse_pid(p).ok().flatten());
        let executor_info = match &task.executor {
            Some(executor) => executor.clone(),
            None => self.command_executor_info(&framework, &task),
        };
        let generated = task.executor.is_none();
        self.run(
            framework,
            executor_info,
            Some(task),
            None,
            &message.resource_version_uuids,
            pid,
            message.launch_executor,
            generated,
            fx,
        );
    }

    /// `RunTaskGroupMessage`.
    pub(crate) fn on_run_task_group(&mut self, from: &Upid, message: RunTaskGroupMessage, fx: &mut Vec<Effect>) {
        if self.master.as_ref() != Some(from) {
            tracing::warn!("Ignoring run task group message from {from} because it is not the expected master");
            return;
        }
        if message.framework.id.is_none() {
            tracing::error!("Ignoring run task group message from {from} because it does not have a framework ID");
            return;
        }
        if message.task_group.tasks.is_empty() {
            tracing::error!("Ignoring run task group message from {from} because it has no tasks");
            return;
        }
        self.run(
            message.framework,
            message.executor,
            None,
            Some(message.task_group),
            &message.resource_version_uuids,
            None,
            message.launch_executor,
            false,
            fx,
        );
    }

    /// TASK_DROPPED (or TASK_LOST) for every task, from the agent.
    fn drop_tasks(
        &mut self,
        framework: &FrameworkInfo,
        tasks: &[TaskInfo],
        executor_id: &str,
        reason: Reason,
        message: &str,
        fx: &mut Vec<Effect>,
    ) {
        let partition_aware = super::framework::has_capability(
            framework,
            crate::proto::mesos::framework_info::capability::Type::PartitionAware,
        );
        let framework_id = framework.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        for task in tasks {
            let update = self.agent_update(
                &framework_id,
                &task.task_id.value,
                Self::dropped_or_lost(partition_aware),
                message,
                reason,
                Some(executor_id),
            );
            self.status_update(update, None, fx);
        }
    }

    fn exited_executor(&self, framework_id: &str, executor_id: &str, status: i32, fx: &mut Vec<Effect>) {
        let message = ExitedExecutorMessage {
            slave_id: self.slave_id(),
            framework_id: FrameworkId { value: framework_id.to_string() },
            executor_id: ExecutorId { value: executor_id.to_string() },
            status,
        };
        self.send_master(message, fx);
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        framework_info: FrameworkInfo,
        mut executor_info: ExecutorInfo,
        mut task: Option<TaskInfo>,
        mut task_group: Option<TaskGroupInfo>,
        resource_version_uuids: &[crate::proto::mesos::internal::ResourceVersionUuid],
        pid: Option<Upid>,
        launch_executor: Option<bool>,
        generated_for_command_task: bool,
        fx: &mut Vec<Effect>,
    ) {
        inject_allocation_info(&mut executor_info.resources, &framework_info);
        upgrade_message(&mut executor_info);
        if let Some(t) = task.as_mut() {
            prepare_task(t, &framework_info);
        }
        if let Some(g) = task_group.as_mut() {
            for t in g.tasks.iter_mut() {
                prepare_task(t, &framework_info);
            }
        }
        let tasks: Vec<TaskInfo> = match (&task, &task_group) {
            (Some(t), _) => vec![t.clone()],
            (None, Some(g)) => g.tasks.clone(),
            (None, None) => return,
        };
        let framework_id = framework_info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        let executor_id = executor_info.executor_id.value.clone();
        let what = match &task {
            Some(t) => format!("task '{}'", t.task_id.value),
            None => {
                format!("task group containing tasks {:?}", tasks.iter().map(|t| &t.task_id.value).collect::<Vec<_>>())
            }
        };
        tracing::info!("Got assigned {what} for framework {framework_id}");

        for t in &tasks {
            if t.slave_id.value != self.agent_id() {
                tracing::warn!(
                    "Agent {} ignoring running {what} because it was intended for old agent {}",
                    self.agent_id(),
                    t.slave_id.value
                );
                return;
            }
        }
        if matches!(self.state, AgentState::Recovering | AgentState::Terminating) {
            tracing::warn!("Ignoring running {what} because the agent is {}", self.state.name());
            return;
        }
        // Ids become directory names: refuse what could leave the sandbox
        // tree (the master validates them; this agent does not trust that).
        if !paths::is_safe_component(&framework_id) {
            tracing::error!("Refusing {what}: framework id '{framework_id}' is not usable as a directory name");
            return;
        }

        // The framework, created (and checkpointed) on its first task.
        if !self.frameworks.contains_key(&framework_id) {
            for root in [self.config.work_dir.clone(), self.meta.clone()] {
                fx.push(Effect::Unschedule { path: paths::framework_path(&root, &self.agent_id(), &framework_id) });
            }
            let mut framework = Framework::new(framework_info.clone(), pid.clone());
            if let Some(pos) = self.completed_frameworks.iter().position(|f| f.id == framework_id) {
                if let Some(completed) = self.completed_frameworks.remove(pos) {
                    framework.completed_executors = completed.completed_executors;
                }
            }
            if framework.checkpoint() {
                fx.extend(
                    state::write_framework(&self.meta, &self.agent_id(), &framework.info, framework.pid.as_ref())
                        .into_iter()
                        .map(Effect::Fs),
                );
            }
            self.frameworks.insert(framework_id.clone(), framework);
        }

        if !paths::is_safe_component(&executor_id) || tasks.iter().any(|t| !paths::is_safe_component(&t.task_id.value))
        {
            tracing::error!("Refusing {what}: an id is not usable as a directory name");
            self.drop_tasks(&framework_info, &tasks, &executor_id, Reason::TaskInvalid, "Invalid ID", fx);
            self.remove_framework_if_idle(&framework_id, fx);
            return;
        }

        let framework_state = self.frameworks[&framework_id].state;
        if framework_state == FrameworkState::Terminating {
            tracing::warn!("Ignoring running {what} of framework {framework_id} because the framework is terminating");
            if launch_executor == Some(true) {
                self.exited_executor(&framework_id, &executor_id, -1, fx);
            }
            return;
        }

        // The master's view of the agent's resources must be current.
        if !resource_version_uuids.is_empty() {
            let ours = resource_version_uuids.iter().find(|v| v.resource_provider_id.is_none());
            let outdated = match ours {
                Some(v) => v.uuid != self.resource_version,
                None => tasks.iter().any(|t| t.resources.iter().any(|r| r.provider_id.is_none())),
            } || tasks.iter().any(|t| t.resources.iter().any(|r| r.provider_id.is_some()));
            if outdated {
                self.drop_tasks(
                    &framework_info,
                    &tasks,
                    &executor_id,
                    Reason::InvalidOffers,
                    "Task assumes outdated resource state",
                    fx,
                );
                self.remove_framework_if_idle(&framework_id, fx);
                if launch_executor == Some(true) {
                    self.exited_executor(&framework_id, &executor_id, -1, fx);
                }
                return;
            }
        }

        // Checkpointed resources (reservations, volumes) must be known here.
        let checkpointed = Resources::from_protos(&self.checkpointed_resources);
        let unknown = |resources: &[Resource]| {
            let mut rs = Resources::from_protos(resources);
            rs.unallocate();
            rs.filter(needs_checkpointing).iter().any(|item| !checkpointed.contains_item(item))
        };
        let unknown_task = tasks.iter().any(|t| unknown(&t.resources));
        let unknown_executor = unknown(&executor_info.resources);
        if unknown_task || unknown_executor {
            let message = if unknown_task {
                "The checkpointed resources being used by the task or task group are unknown to the agent"
            } else {
                "The checkpointed resources being used by the executor are unknown to the agent"
            };
            self.drop_tasks(&framework_info, &tasks, &executor_id, Reason::ResourcesUnknown, message, fx);
            self.remove_framework_if_idle(&framework_id, fx);
            if launch_executor == Some(true) {
                self.exited_executor(&framework_id, &executor_id, -1, fx);
            }
            return;
        }

        tracing::info!("Launching {what} for framework {framework_id}");
        let existing = self.frameworks[&framework_id].executors.get(&executor_id).map(|e| e.state);

        if let Some(launch) = launch_executor {
            if task_group.is_none() && task.as_ref().is_some_and(|t| t.command.is_some()) {
                if existing.is_some() {
                    self.drop_tasks(
                        &framework_info,
                        &tasks,
                        &executor_id,
                        Reason::TaskInvalid,
                        "Cannot reuse an already existing executor for a command task",
                        fx,
                    );
                    return;
                }
            } else if launch && existing.is_some() {
                self.drop_tasks(
                    &framework_info,
                    &tasks,
                    &executor_id,
                    Reason::ExecutorTerminated,
                    "Master wants to launch executor, but one already exists",
                    fx,
                );
                if existing == Some(ExecutorState::Terminated) {
                    self.exited_executor(&framework_id, &executor_id, -1, fx);
                } else if matches!(existing, Some(ExecutorState::Registering | ExecutorState::Running)) {
                    self.shutdown_executor(&framework_id, &executor_id, fx);
                }
                return;
            } else if !launch && existing.is_none() {
                self.drop_tasks(
                    &framework_info,
                    &tasks,
                    &executor_id,
                    Reason::ExecutorTerminated,
                    "No executor is expected to launch and there is none running",
                    fx,
                );
                self.remove_framework_if_idle(&framework_id, fx);
                return;
            }
        }

        if existing.is_none() {
            self.add_executor(&framework_id, executor_info.clone(), generated_for_command_task, fx);
            self.launch_executor(
                &framework_id,
                &executor_info,
                &tasks,
                if task_group.is_none() { task.clone() } else { None },
                fx,
            );
        }

        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let executor = self
            .frameworks
            .get_mut(&framework_id)
            .and_then(|f| f.executors.get_mut(&executor_id))
            .expect("executor just added or existing");
        match executor.state {
            ExecutorState::Terminating | ExecutorState::Terminated => {
                let name = if executor.state == ExecutorState::Terminating { "terminating" } else { "terminated" };
                tracing::warn!(
                    "Asked to run {what} for framework {framework_id} with executor '{executor_id}' which is {name}"
                );
                self.drop_tasks(
                    &framework_info,
                    &tasks,
                    &executor_id,
                    Reason::ExecutorTerminated,
                    &format!("Executor {name}"),
                    fx,
                );
            }
            ExecutorState::Registering | ExecutorState::Running => {
                if executor.checkpoint {
                    let run = executor.run_ids(&agent_id);
                    for t in &tasks {
                        let staged = super::framework::create_task(t, TaskState::TaskStaging, &framework_id);
                        fx.push(Effect::Fs(state::write_task(&meta, &run, &staged)));
                    }
                }
                match &task_group {
                    Some(g) => executor.enqueue_task_group(g.clone()),
                    None => tasks.iter().for_each(|t| executor.enqueue_task(t.clone())),
                }
                tracing::info!("Queued {what} for executor '{executor_id}' of framework {framework_id}");
                if executor.state == ExecutorState::Running {
                    let container_id = ContainerId { value: executor.container_id.clone(), parent: None };
                    let resources = executor.allocated_resources().to_protos();
                    let then = AfterUpdate::SendQueued {
                        framework_id: framework_id.clone(),
                        executor_id: executor_id.clone(),
                        tasks: if task_group.is_none() {
                            tasks.iter().map(|t| t.task_id.value.clone()).collect()
                        } else {
                            Vec::new()
                        },
                        task_groups: match &task_group {
                            Some(g) => vec![g.tasks.iter().map(|t| t.task_id.value.clone()).collect()],
                            None => Vec::new(),
                        },
                    };
                    fx.push(Effect::Update { container_id, resources, then });
                }
            }
        }
    }

    /// Mesos's `Framework::addExecutor`: a new run with a fresh container id,
    /// checkpointed when the framework checkpoints.
    fn add_executor(&mut self, framework_id: &str, info: ExecutorInfo, generated: bool, fx: &mut Vec<Effect>) {
        let container_id = self.random_uuid().to_string();
        let agent_id = self.agent_id();
        let framework = self.frameworks.get_mut(framework_id).expect("framework exists");
        let user = if self.config.switch_user {
            Some(info.command.as_ref().and_then(|c| c.user.clone()).unwrap_or_else(|| framework.info.user.clone()))
        } else {
            None
        };
        let run = RunIds {
            agent: agent_id,
            framework: framework_id.to_string(),
            executor: info.executor_id.value.clone(),
            container: container_id.clone(),
        };
        let directory = paths::run_path(&self.config.work_dir, &run);
        for path in [
            paths::executor_path(&self.config.work_dir, &run.agent, &run.framework, &run.executor),
            paths::executor_path(&self.meta, &run.agent, &run.framework, &run.executor),
        ] {
            fx.push(Effect::Unschedule { path });
        }
        let checkpoint = framework.checkpoint();
        let executor = Executor::new(
            framework_id,
            info,
            container_id,
            directory.clone(),
            user,
            checkpoint,
            Channel::Unknown,
            generated,
        );
        if executor.checkpoint {
            fx.extend(state::write_executor(&self.meta, &run, &executor.info, generated).into_iter().map(Effect::Fs));
        }
        tracing::info!(
            "Launching executor '{}' of framework {framework_id} in work directory '{}'",
            executor.id,
            directory.display()
        );
        framework.executors.insert(executor.id.clone(), executor);
    }

    /// Builds the container config and asks the driver to launch it
    /// (Mesos's `launchExecutor`), with the registration timeout.
    fn launch_executor(
        &mut self,
        framework_id: &str,
        executor_info: &ExecutorInfo,
        tasks: &[TaskInfo],
        task: Option<TaskInfo>,
        fx: &mut Vec<Effect>,
    ) {
        let framework = &self.frameworks[framework_id];
        let executor = &framework.executors[&executor_info.executor_id.value];
        let mut info = executor_info.clone();
        if info.r#type() == ExecutorType::Default && info.command.is_none() {
            info.command = Some(self.default_executor_command(executor.user.clone()));
        }
        let mut resources = Resources::from_protos(&info.resources);
        for t in tasks {
            resources.add_all(&Resources::from_protos(&t.resources));
        }
        info.resources = resources.to_protos();
        if info.container.is_none() {
            info.container = self.config.default_container_info.clone();
        }
        let environment = self.executor_environment(&info, executor, framework.checkpoint());
        let container_id = ContainerId { value: executor.container_id.clone(), parent: None };
        let config = ContainerConfig {
            container_id: container_id.clone(),
            executor_info: info.clone(),
            task_info: if executor.generated_for_command_task { task } else { None },
            command_info: info.command.clone().unwrap_or_default(),
            container_info: info.container.clone(),
            resources: info.resources.clone(),
            directory: executor.directory.clone(),
            user: executor.user.clone(),
            environment,
            checkpoint: framework.checkpoint(),
        };
        let latest = paths::latest_run_path(&self.config.work_dir, &self.agent_id(), framework_id, &executor.id);
        tracing::info!(
            "Launching container {} for executor '{}' of framework {framework_id}",
            container_id.value,
            executor.id
        );
        fx.push(Effect::Launch {
            framework_id: framework_id.to_string(),
            executor_id: executor.id.clone(),
            latest,
            config: Box::new(config),
        });
        let timer = TimerId::ExecutorRegistration {
            framework_id: framework_id.to_string(),
            executor_id: executor.id.clone(),
            container_id: container_id.value,
        };
        self.timer(timer, self.config.executor_registration_timeout, fx);
    }

    /// The environment Mesos gives every executor (`executorEnvironment`,
    /// plus the `MESOS_SANDBOX` its containerizer adds).
    pub(crate) fn executor_environment(
        &self,
        info: &ExecutorInfo,
        executor: &Executor,
        checkpoint: bool,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(ip) = &self.config.libprocess_ip {
            env.insert("LIBPROCESS_IP".to_string(), ip.clone());
        }
        for (k, v) in &self.config.executor_environment {
            env.insert(k.clone(), v.clone());
        }
        env.insert("LIBPROCESS_PORT".into(), "0".into());
        let framework_id =
            info.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or_else(|| executor.framework_id.clone());
        env.insert("MESOS_FRAMEWORK_ID".into(), framework_id);
        env.insert("MESOS_EXECUTOR_ID".into(), info.executor_id.value.clone());
        env.insert("MESOS_DIRECTORY".into(), executor.directory.display().to_string());
        env.insert("MESOS_SANDBOX".into(), executor.directory.display().to_string());
        env.insert("MESOS_SLAVE_ID".into(), self.agent_id());
        env.insert("MESOS_SLAVE_PID".into(), self.config.pid.to_string());
        env.insert(
            "MESOS_AGENT_ENDPOINT".into(),
            format!("{}:{}", self.config.pid.addr().ip(), self.config.pid.addr().port()),
        );
        env.insert("MESOS_CHECKPOINT".into(), if checkpoint { "1" } else { "0" }.into());
        env.insert(
            "MESOS_HTTP_COMMAND_EXECUTOR".into(),
            if self.config.http_command_executor { "1" } else { "0" }.into(),
        );
        let grace = info
            .shutdown_grace_period
            .as_ref()
            .map(|d| std::time::Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(self.config.executor_shutdown_grace_period);
        env.insert("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(), format_duration(grace));
        if checkpoint {
            env.insert("MESOS_RECOVERY_TIMEOUT".into(), format_duration(self.config.recovery_timeout));
            env.insert(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX".into(),
                format_duration(self.config.executor_reregistration_timeout),
            );
        }
        env
    }

    fn default_executor_command(&self, user: Option<String>) -> CommandInfo {
        let mut command = match &self.config.default_executor {
            Ok(path) => CommandInfo {
                shell: Some(false),
                value: Some(path.display().to_string()),
                arguments: vec![
                    "mesos-default-executor".into(),
                    format!("--launcher_dir={}", self.config.launcher_dir),
                ],
                ..Default::default()
            },
            Err(e) => {
                CommandInfo { shell: Some(true), value: Some(format!("echo '{e}'; exit 1")), ..Default::default() }
            }
        };
        command.user = user;
        command
    }

    /// The `ExecutorInfo` Mesos builds around `mesos-executor` for a command
    /// task (`getExecutorInfo`).
    pub(crate) fn command_executor_info(&self, framework: &FrameworkInfo, task: &TaskInfo) -> ExecutorInfo {
        let command = task.command.clone().unwrap_or_default();
        let mut name = format!("(Task: {}) ", task.task_id.value);
        if command.shell.unwrap_or(true) {
            match &command.value {
                None => name.push_str("(Command: NO COMMAND)"),
                Some(value) => {
                    if value.chars().count() > 15 {
                        name.push_str(&format!("(Command: sh -c '{}...')", value.chars().take(12).collect::<String>()));
                    } else {
                        name.push_str(&format!("(Command: sh -c '{value}')"));
                    }
                }
            }
        } else {
            match &command.value {
                None => name.push_str("(Command: NO EXECUTABLE)"),
                Some(value) => {
                    let args = format!("{value}, {}", command.arguments.join(", "));
                    if args.chars().count() > 15 {
                        name.push_str(&format!("(Command: [{}...])", args.chars().take(12).collect::<String>()));
                    } else {
                        name.push_str(&format!("(Command: [{args}])"));
                    }
                }
            }
        }
        #[allow(deprecated)]
        let mut executor = ExecutorInfo {
            executor_id: ExecutorId { value: task.task_id.value.clone() },
            framework_id: framework.id.clone(),
            container: task.container.clone(),
            name: Some(format!("Command Executor {name}")),
            source: Some(task.task_id.value.clone()),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            ..Default::default()
        };
        let mut exec_command = CommandInfo {
            uris: command.uris.clone(),
            environment: command.environment.clone(),
            user: command.user.clone(),
            ..Default::default()
        };
        if let Some(grace) = task.kill_policy.as_ref().and_then(|k| k.grace_period.as_ref()) {
            let extra = (MAX_REAP_INTERVAL_SECS + 1) as i64 * 1_000_000_000;
            executor.shutdown_grace_period =
                Some(DurationInfo { nanoseconds: grace.nanoseconds.saturating_add(extra) });
        }
        match &self.config.command_executor {
            Ok(path) => {
                exec_command.shell = Some(false);
                exec_command.value = Some(path.display().to_string());
                exec_command.arguments =
                    vec!["mesos-executor".into(), format!("--launcher_dir={}", self.config.launcher_dir)];
            }
            Err(e) => {
                exec_command.shell = Some(true);
                exec_command.value = Some(format!("echo '{e}'; exit 1"));
            }
        }
        executor.command = Some(exec_command);
        let mut overhead = Resources::parse(COMMAND_EXECUTOR_RESOURCES, "*").map(|r| r.to_protos()).unwrap_or_default();
        let role = task.resources.iter().find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
        if let Some(role) = role {
            for r in overhead.iter_mut() {
                r.allocation_info = Some(AllocationInfo { role: Some(role.clone()) });
            }
        }
        upgrade_resources(&mut overhead);
        executor.resources = overhead;
        executor
    }

    /// The result of a `Launch` effect (Mesos's `executorLaunched`).
    pub(crate) fn on_launched(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        container_id: ContainerId,
        result: Result<LaunchResult, String>,
        fx: &mut Vec<Effect>,
    ) {
        fx.push(Effect::Wait {
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            container_id: container_id.clone(),
        });
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let pid = match result {
            Err(error) => {
                tracing::error!(
                    "Container '{}' for executor '{executor_id}' of framework {framework_id} failed to start: {error}",
                    container_id.value
                );
                self.metrics.container_launch_errors += 1;
                fx.push(Effect::Destroy { container_id: container_id.clone() });
                if let Some(executor) = self.executor_mut(framework_id, executor_id) {
                    if executor.container_id == container_id.value {
                        executor.pending_termination = Some(Termination {
                            state: Some(TaskState::TaskFailed),
                            reason: Some(Reason::ContainerLaunchFailed),
                            message: Some(format!("Failed to launch container: {error}")),
                            ..Default::default()
                        });
                    }
                }
                return;
            }
            Ok(LaunchResult::NotSupported) => {
                tracing::error!(
                    "Container '{}' for executor '{executor_id}' of framework {framework_id} failed to start: None of the \
                     enabled containerizers ({}) could create a container for the provided TaskInfo/ExecutorInfo message",
                    container_id.value,
                    self.config.containerizers
                );
                self.metrics.container_launch_errors += 1;
                return;
            }
            Ok(LaunchResult::Launched { pid }) => pid,
        };
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            tracing::warn!("Framework '{framework_id}' for executor '{executor_id}' is no longer valid");
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!(
                "Killing executor '{executor_id}' of framework {framework_id} because the framework is terminating"
            );
            fx.push(Effect::Destroy { container_id });
            return;
        }
        let Some(executor) = framework.executors.get_mut(executor_id) else {
            tracing::warn!("Killing unknown executor '{executor_id}' of framework {framework_id}");
            fx.push(Effect::Destroy { container_id });
            return;
        };
        if executor.container_id != container_id.value {
            fx.push(Effect::Destroy { container_id });
            return;
        }
        executor.pid = Some(pid);
        if executor.checkpoint {
            let run = executor.run_ids(&agent_id);
            fx.push(Effect::Fs(FsOp::Write {
                path: paths::forked_pid_path(&meta, &run),
                data: pid.to_string().into_bytes(),
            }));
        }
        if executor.state == ExecutorState::Terminating {
            tracing::warn!(
                "Killing executor '{executor_id}' of framework {framework_id} because the executor is terminating"
            );
            fx.push(Effect::Destroy { container_id });
        }
    }

    pub(crate) fn executor_mut(&mut self, framework_id: &str, executor_id: &str) -> Option<&mut Executor> {
        self.frameworks.get_mut(framework_id)?.executors.get_mut(executor_id)
    }

    /// A `Update` effect finished (Mesos's `___run` after the
    /// containerizer update, and the failure paths around updates).
    pub(crate) fn on_container_updated(
        &mut self,
        container_id: &str,
        result: Result<(), String>,
        then: AfterUpdate,
        fx: &mut Vec<Effect>,
    ) {
        if let Err(error) = result {
            tracing::error!("Failed to update resources for container {container_id}, destroying container: {error}");
            fx.push(Effect::Destroy { container_id: ContainerId { value: container_id.to_string(), parent: None } });
            let found = self.frameworks.values_mut().find_map(|f| {
                let aware = f.partition_aware();
                f.executors.values_mut().find(|e| e.container_id == container_id).map(|e| (e, aware))
            });
            if let Some((executor, partition_aware)) = found {
                executor.pending_termination = Some(Termination {
                    state: Some(Self::gone_or_lost(partition_aware)),
                    reason: Some(Reason::ContainerUpdateFailed),
                    message: Some(format!("Failed to update resources for container: {error}")),
                    ..Default::default()
                });
            }
            return;
        }
        if let AfterUpdate::SendQueued { framework_id, executor_id, tasks, task_groups } = then {
            self.send_queued(&framework_id, &executor_id, container_id, &tasks, &task_groups, fx);
        }
    }

    /// Hands queued tasks to a registered executor (Mesos's `___run`).
    pub(crate) fn send_queued(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        tasks: &[String],
        task_groups: &[Vec<String>],
        fx: &mut Vec<Effect>,
    ) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else { return };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        let framework_info = framework.info.clone();
        let framework_pid = framework.pid.clone();
        let Some(executor) = framework.executors.get_mut(executor_id) else { return };
        if executor.container_id != container_id || executor.state != ExecutorState::Running {
            tracing::warn!("Ignoring sending queued tasks to executor '{executor_id}': it is not running");
            return;
        }
        let mut outgoing = Vec::new();
        for task_id in tasks {
            let Some(task) = executor.dequeue_task(task_id) else {
                tracing::warn!("Ignoring sending queued task '{task_id}' to executor '{executor_id}' because the task has been killed");
                continue;
            };
            executor.add_launched_task(&task);
            tracing::info!("Sending queued task '{task_id}' to executor '{executor_id}' of framework {framework_id}");
            outgoing.push(super::executors::ToExecutor::RunTask(crate::proto::mesos::internal::RunTaskMessage {
                framework: framework_info.clone(),
                task,
                pid: Some(
                    framework_pid.as_ref().map(|p| p.to_string()).unwrap_or_else(|| state::EMPTY_UPID.to_string()),
                ),
                ..Default::default()
            }));
        }
        for group in task_groups {
            let queued: Vec<bool> = group.iter().map(|t| executor.is_queued(t)).collect();
            if queued.iter().all(|q| !q) {
                tracing::warn!(
                    "Ignoring sending queued task group to executor '{executor_id}' because it has been killed"
                );
                continue;
            }
            let mut infos = Vec::new();
            for task_id in group {
                if let Some(task) = executor.dequeue_task(task_id) {
                    executor.add_launched_task(&task);
                    infos.push(task);
                }
            }
            tracing::info!(
                "Sending queued task group {group:?} to executor '{executor_id}' of framework {framework_id}"
            );
            outgoing.push(super::executors::ToExecutor::LaunchGroup(TaskGroupInfo { tasks: infos }));
        }
        let channel = executor.channel.clone();
        for message in outgoing {
            self.send_to_executor(&channel, message, fx);
        }
    }
}
