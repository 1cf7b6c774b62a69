//! Executors: (re)registration over v0, subscription over the v1 HTTP API,
//! kills, shutdowns and their timeouts, container termination, framework
//! messages both ways, and cleanup (Mesos's `registerExecutor`,
//! `reregisterExecutor`, `subscribe`, `Http::executor`, `killTask`, `kill`,
//! `shutdownExecutor`, `_shutdownExecutor`, `shutdownFramework`,
//! `executorTerminated`, `removeExecutor`, `removeFramework`,
//! `schedulerMessage`, `executorMessage`, `updateFramework`).

use std::time::Duration;

use super::framework::{is_terminal, ExecutorState, FrameworkState, MAX_COMPLETED_FRAMEWORKS};
use super::{Agent, AgentState, ApiResponse, Channel, ConnId, Effect, RequestId, TimerId};
use crate::agent::containerizer::Termination;
use crate::agent::paths;
use crate::agent::state::{self, FsOp};
use crate::proto::mesos::executor::{self as exec, call::Type as CallType, event::Type as EventType};
use crate::proto::mesos::internal::{
    ExecutorRegisteredMessage, ExecutorReregisteredMessage, ExecutorToFrameworkMessage, FrameworkToExecutorMessage,
    KillTaskMessage, ReregisterExecutorMessage, RunTaskMessage, ShutdownExecutorMessage,
    StatusUpdateAcknowledgementMessage, UpdateFrameworkMessage,
};
use crate::proto::mesos::{
    task_status::Reason, ContainerId, ExecutorId, FrameworkId, KillPolicy, TaskGroupInfo, TaskId, TaskState,
};
use crate::v0_compat::Upid;

/// A message for an executor, whichever way it is reached (short-lived:
/// built and sent at once, so its size does not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum ToExecutor {
    Registered(ExecutorRegisteredMessage),
    Reregistered(ExecutorReregisteredMessage),
    Subscribed(exec::event::Subscribed),
    RunTask(RunTaskMessage),
    LaunchGroup(TaskGroupInfo),
    Kill(KillTaskMessage),
    Ack(StatusUpdateAcknowledgementMessage),
    FrameworkMessage(FrameworkToExecutorMessage),
    Shutdown,
}

impl ToExecutor {
    /// The v1 event an HTTP executor gets (Mesos's `evolve`).
    fn event(&self) -> exec::Event {
        let mut event = exec::Event::default();
        match self {
            ToExecutor::Registered(m) => {
                event.set_type(EventType::Subscribed);
                event.subscribed = Some(exec::event::Subscribed {
                    executor_info: m.executor_info.clone(),
                    framework_info: m.framework_info.clone(),
                    slave_info: m.slave_info.clone(),
                    container_id: None,
                });
            }
            ToExecutor::Reregistered(_) => event.set_type(EventType::Subscribed),
            ToExecutor::Subscribed(s) => {
                event.set_type(EventType::Subscribed);
                event.subscribed = Some(s.clone());
            }
            ToExecutor::RunTask(m) => {
                event.set_type(EventType::Launch);
                event.launch = Some(exec::event::Launch { task: m.task.clone() });
            }
            ToExecutor::LaunchGroup(g) => {
                event.set_type(EventType::LaunchGroup);
                event.launch_group = Some(exec::event::LaunchGroup { task_group: g.clone() });
            }
            ToExecutor::Kill(m) => {
                event.set_type(EventType::Kill);
                event.kill = Some(exec::event::Kill { task_id: m.task_id.clone(), kill_policy: m.kill_policy });
            }
            ToExecutor::Ack(m) => {
                event.set_type(EventType::Acknowledged);
                event.acknowledged =
                    Some(exec::event::Acknowledged { task_id: m.task_id.clone(), uuid: m.uuid.clone() });
            }
            ToExecutor::FrameworkMessage(m) => {
                event.set_type(EventType::Message);
                event.message = Some(exec::event::Message { data: m.data.clone() });
            }
            ToExecutor::Shutdown => event.set_type(EventType::Shutdown),
        }
        event
    }

    /// The v0 message a driver-based executor gets.
    fn message(&self) -> crate::v0_compat::Message {
        match self {
            ToExecutor::Registered(m) => m.clone().into(),
            ToExecutor::Reregistered(m) => m.clone().into(),
            ToExecutor::RunTask(m) => m.clone().into(),
            ToExecutor::Kill(m) => m.clone().into(),
            ToExecutor::Ack(m) => m.clone().into(),
            ToExecutor::FrameworkMessage(m) => m.clone().into(),
            ToExecutor::Shutdown => ShutdownExecutorMessage::default().into(),
            ToExecutor::Subscribed(_) | ToExecutor::LaunchGroup(_) => self.event().into(),
        }
    }
}

impl Agent {
    pub(crate) fn send_to_executor(&self, channel: &Channel, message: ToExecutor, fx: &mut Vec<Effect>) {
        match channel {
            Channel::Http(Some(stream)) => {
                fx.push(Effect::ExecutorEvent { stream: *stream, event: Box::new(message.event()) })
            }
            Channel::V0(pid) => fx.push(Effect::Send { to: pid.clone(), message: message.message() }),
            Channel::Http(None) | Channel::Unknown => {
                tracing::warn!("Unable to send event to executor: no connection");
            }
        }
    }

    fn reply_shutdown(&self, to: &Upid, fx: &mut Vec<Effect>) {
        self.send(to, ShutdownExecutorMessage::default(), fx);
    }

    /// `RegisterExecutorMessage` from a v0 executor driver.
    pub(crate) fn on_register_executor(
        &mut self,
        from: &Upid,
        framework_id: &str,
        executor_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        tracing::info!("Got registration for executor '{executor_id}' of framework {framework_id} from {from}");
        match self.state {
            AgentState::Recovering => {
                tracing::warn!("Shutting down executor '{executor_id}' of framework {framework_id} because the agent is still recovering");
                return self.reply_shutdown(from, fx);
            }
            AgentState::Terminating => {
                tracing::warn!("Shutting down executor '{executor_id}' of framework {framework_id} because the agent is terminating");
                return self.reply_shutdown(from, fx);
            }
            _ => {}
        }
        let Some(framework) = self.frameworks.get(framework_id) else {
            tracing::warn!("Shutting down executor '{executor_id}' as the framework {framework_id} does not exist");
            return self.reply_shutdown(from, fx);
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!("Shutting down executor '{executor_id}' as the framework {framework_id} is terminating");
            return self.reply_shutdown(from, fx);
        }
        let Some(executor) = framework.executors.get(executor_id) else {
            tracing::warn!("Unexpected executor '{executor_id}' registering for framework {framework_id}");
            return self.reply_shutdown(from, fx);
        };
        if executor.state != ExecutorState::Registering {
            tracing::warn!(
                "Shutting down executor '{executor_id}' because it is in unexpected state {}",
                executor.state.name()
            );
            return self.reply_shutdown(from, fx);
        }
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let info = self.info.clone();
        let framework_info = framework.info.clone();
        let slave_id = self.slave_id();
        let executor = self.executor_mut(framework_id, executor_id).expect("checked");
        executor.state = ExecutorState::Running;
        executor.channel = Channel::V0(from.clone());
        fx.push(Effect::Link { to: from.clone() });
        if executor.checkpoint {
            let run = executor.run_ids(&agent_id);
            fx.push(Effect::Fs(FsOp::Write {
                path: paths::libprocess_pid_path(&meta, &run),
                data: from.to_string().into_bytes(),
            }));
        }
        if !executor.ever_sent_task() && executor.queued_tasks.is_empty() {
            tracing::warn!("Shutting down registering executor '{executor_id}' because it has no tasks to run");
            return self.shutdown_executor(framework_id, executor_id, fx);
        }
        let message = ExecutorRegisteredMessage {
            executor_info: executor.info.clone(),
            framework_id: FrameworkId { value: framework_id.to_string() },
            framework_info,
            slave_id,
            slave_info: info,
        };
        let channel = executor.channel.clone();
        self.send_to_executor(&channel, ToExecutor::Registered(message), fx);
        self.update_and_send_queued(framework_id, executor_id, fx);
    }

    /// Resizes the container for its queued tasks, then sends them (the
    /// queued task groups as groups).
    fn update_and_send_queued(&mut self, framework_id: &str, executor_id: &str, fx: &mut Vec<Effect>) {
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        let grouped: Vec<String> =
            executor.queued_task_groups.iter().flat_map(|g| g.tasks.iter().map(|t| t.task_id.value.clone())).collect();
        let tasks: Vec<String> =
            executor.queued_tasks.iter().map(|t| t.task_id.value.clone()).filter(|t| !grouped.contains(t)).collect();
        let task_groups: Vec<Vec<String>> = executor
            .queued_task_groups
            .iter()
            .map(|g| g.tasks.iter().map(|t| t.task_id.value.clone()).collect())
            .collect();
        let container_id = ContainerId { value: executor.container_id.clone(), parent: None };
        let resources = executor.allocated_resources().to_protos();
        let then = super::AfterUpdate::SendQueued {
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            tasks,
            task_groups,
        };
        fx.push(Effect::Update { container_id, resources, then });
    }

    /// `ReregisterExecutorMessage`: a v0 executor answering the reconnect
    /// request of a restarted agent.
    pub(crate) fn on_reregister_executor(
        &mut self,
        from: &Upid,
        message: ReregisterExecutorMessage,
        fx: &mut Vec<Effect>,
    ) {
        let framework_id = message.framework_id.value.clone();
        let executor_id = message.executor_id.value.clone();
        tracing::info!("Received re-registration message from executor '{executor_id}' of framework {framework_id}");
        if self.state == AgentState::Terminating {
            return self.reply_shutdown(from, fx);
        }
        let Some(framework) = self.frameworks.get(&framework_id) else {
            tracing::warn!(
                "Shutting down executor '{executor_id}' of framework {framework_id} because the framework is unknown"
            );
            return self.reply_shutdown(from, fx);
        };
        if framework.state == FrameworkState::Terminating {
            return self.reply_shutdown(from, fx);
        }
        let partition_aware = framework.partition_aware();
        let Some(executor) = framework.executors.get(&executor_id) else {
            tracing::warn!("Shutting down unknown executor '{executor_id}' of framework {framework_id}");
            return self.reply_shutdown(from, fx);
        };
        match executor.state {
            ExecutorState::Terminating | ExecutorState::Terminated => {
                return self.reply_shutdown(from, fx);
            }
            ExecutorState::Running => {
                if self.config.executor_reregistration_retry_interval.is_none() {
                    return self.reply_shutdown(from, fx);
                }
                tracing::warn!(
                    "Ignoring executor re-registration message from '{executor_id}' because it is already registered"
                );
                return;
            }
            ExecutorState::Registering => {}
        }
        let info = self.info.clone();
        let executor = self.executor_mut(&framework_id, &executor_id).expect("checked");
        executor.state = ExecutorState::Running;
        executor.channel = Channel::V0(from.clone());
        let channel = executor.channel.clone();
        fx.push(Effect::Link { to: from.clone() });
        let reply = ExecutorReregisteredMessage { slave_id: self.slave_id(), slave_info: info };
        self.send_to_executor(&channel, ToExecutor::Reregistered(reply), fx);
        for update in message.updates {
            self.status_update(update, Some(Some(from.clone())), fx);
        }
        let Some(executor) = self.executor(&framework_id, &executor_id) else { return };
        fx.push(Effect::Update {
            container_id: ContainerId { value: executor.container_id.clone(), parent: None },
            resources: executor.allocated_resources().to_protos(),
            then: super::AfterUpdate::Nothing,
        });
        self.drop_staged_tasks_unknown_to_executor(&framework_id, &executor_id, &message.tasks, partition_aware, fx);
        let Some(executor) = self.executor(&framework_id, &executor_id) else { return };
        if !executor.ever_sent_task() && executor.queued_tasks.is_empty() {
            tracing::warn!("Shutting down reregistering executor '{executor_id}' because it has no tasks to run and has never been sent a task");
            self.shutdown_executor(&framework_id, &executor_id, fx);
        }
    }

    /// Launched tasks still STAGING that the reconnecting executor does not
    /// know were lost with the agent's restart.
    fn drop_staged_tasks_unknown_to_executor(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        known: &[crate::proto::mesos::TaskInfo],
        partition_aware: bool,
        fx: &mut Vec<Effect>,
    ) {
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        let staged: Vec<String> = executor
            .launched_tasks
            .values()
            .filter(|t| t.state() == TaskState::TaskStaging)
            .map(|t| t.task_id.value.clone())
            .filter(|id| !known.iter().any(|k| &k.task_id.value == id))
            .collect();
        for task_id in staged {
            tracing::info!("Transitioning STAGED task {task_id} because it is unknown to the executor '{executor_id}'");
            let update = self.agent_update(
                framework_id,
                &task_id,
                Self::dropped_or_lost(partition_aware),
                "Task launched during agent restart",
                Reason::SlaveRestarted,
                Some(executor_id),
            );
            self.status_update(update, None, fx);
        }
    }

    /// A call on `/api/v1/executor` (Mesos's `Http::executor`, after the
    /// parsing and validation the HTTP layer did).
    pub(crate) fn on_executor_call(
        &mut self,
        request: RequestId,
        stream: Option<ConnId>,
        call: exec::Call,
        fx: &mut Vec<Effect>,
    ) {
        let respond = |fx: &mut Vec<Effect>, response: ApiResponse| fx.push(Effect::Respond { request, response });
        if !self.recovery.reconnect {
            return respond(fx, ApiResponse::Error(503, "Agent has not finished recovery".into()));
        }
        let call_type = call.r#type();
        if call_type != CallType::Subscribe && self.state == AgentState::Recovering {
            return respond(fx, ApiResponse::Error(503, "Agent has not finished recovery".into()));
        }
        let framework_id = call.framework_id.value.clone();
        let executor_id = call.executor_id.value.clone();
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return respond(fx, ApiResponse::Error(400, "Framework cannot be found".into()));
        };
        let Some(executor) = framework.executors.get(&executor_id) else {
            return respond(fx, ApiResponse::Error(400, "Executor cannot be found".into()));
        };
        if executor.state == ExecutorState::Registering && call_type != CallType::Subscribe {
            return respond(fx, ApiResponse::Error(403, "Executor is not subscribed".into()));
        }
        match call_type {
            CallType::Subscribe => {
                let Some(stream) = stream else {
                    return respond(fx, ApiResponse::Error(500, "No stream for SUBSCRIBE".into()));
                };
                respond(fx, ApiResponse::Stream);
                self.subscribe(stream, call.subscribe.unwrap_or_default(), &framework_id, &executor_id, fx);
            }
            CallType::Update => {
                respond(fx, ApiResponse::Accepted);
                if let Some(update) = call.update {
                    let update =
                        status_update_from_executor(&framework_id, update.status, &self.slave_id(), self.now.secs());
                    self.status_update(update, Some(None), fx);
                }
            }
            CallType::Message => {
                respond(fx, ApiResponse::Accepted);
                let data = call.message.map(|m| m.data).unwrap_or_default();
                self.executor_message(&framework_id, &executor_id, data, fx);
            }
            CallType::Heartbeat => respond(fx, ApiResponse::Accepted),
            CallType::Unknown => respond(fx, ApiResponse::Error(501, String::new())),
        }
    }

    /// SUBSCRIBE from an HTTP executor (Mesos's `Slave::subscribe`).
    fn subscribe(
        &mut self,
        stream: ConnId,
        subscribe: exec::call::Subscribe,
        framework_id: &str,
        executor_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        tracing::info!("Received Subscribe request for HTTP executor '{executor_id}' of framework {framework_id}");
        let shutdown_and_close = |fx: &mut Vec<Effect>| {
            fx.push(Effect::ExecutorEvent { stream, event: Box::new(ToExecutor::Shutdown.event()) });
            fx.push(Effect::CloseExecutorStream { stream });
        };
        if self.state == AgentState::Terminating {
            return shutdown_and_close(fx);
        }
        let framework = &self.frameworks[framework_id];
        if framework.state == FrameworkState::Terminating {
            return shutdown_and_close(fx);
        }
        let partition_aware = framework.partition_aware();
        let framework_info = framework.info.clone();
        let executor = &framework.executors[executor_id];
        if matches!(executor.state, ExecutorState::Terminating | ExecutorState::Terminated) {
            tracing::warn!(
                "Shutting down executor '{executor_id}' because it is in unexpected state {}",
                executor.state.name()
            );
            return shutdown_and_close(fx);
        }
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let info = self.info.clone();
        let executor = self.executor_mut(framework_id, executor_id).expect("checked");
        if let Channel::Http(Some(old)) = executor.channel {
            tracing::warn!("Closing already existing HTTP connection from executor '{executor_id}'");
            fx.push(Effect::CloseExecutorStream { stream: old });
        }
        executor.state = ExecutorState::Running;
        executor.channel = Channel::Http(Some(stream));
        if executor.checkpoint {
            let run = executor.run_ids(&agent_id);
            fx.push(Effect::Fs(FsOp::Touch { path: paths::http_marker_path(&meta, &run) }));
        }
        let slave_id = self.slave_id();
        for update in subscribe.unacknowledged_updates {
            let update = status_update_from_executor(framework_id, update.status, &slave_id, self.now.secs());
            self.status_update(update, Some(None), fx);
        }
        self.drop_staged_tasks_unknown_to_executor(
            framework_id,
            executor_id,
            &subscribe.unacknowledged_tasks,
            partition_aware,
            fx,
        );
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        if !executor.ever_sent_task() && executor.queued_tasks.is_empty() {
            tracing::warn!("Shutting down executor '{executor_id}' because it has never been sent a task and all of its queued tasks have been killed before delivery");
            return self.shutdown_executor(framework_id, executor_id, fx);
        }
        let subscribed = exec::event::Subscribed {
            executor_info: executor.info.clone(),
            framework_info,
            slave_info: info,
            container_id: Some(ContainerId { value: executor.container_id.clone(), parent: None }),
        };
        let channel = executor.channel.clone();
        self.send_to_executor(&channel, ToExecutor::Subscribed(subscribed), fx);
        self.update_and_send_queued(framework_id, executor_id, fx);
    }

    pub(crate) fn on_executor_stream_closed(&mut self, stream: ConnId) {
        for framework in self.frameworks.values_mut() {
            for executor in framework.executors.values_mut() {
                if executor.channel == Channel::Http(Some(stream)) {
                    tracing::info!("Executor '{}' of framework {} closed its subscription", executor.id, framework.id);
                    executor.channel = Channel::Http(None);
                }
            }
        }
    }

    /// `KillTaskMessage` from the master.
    pub(crate) fn on_kill_task(&mut self, from: &Upid, message: KillTaskMessage, fx: &mut Vec<Effect>) {
        if self.master.as_ref() != Some(from) {
            tracing::warn!("Ignoring kill task message from {from} because it is not the expected master");
            return;
        }
        let framework_id = message.framework_id.value.clone();
        let task_id = message.task_id.value.clone();
        tracing::info!("Asked to kill task {task_id} of framework {framework_id}");
        if matches!(self.state, AgentState::Recovering | AgentState::Terminating) {
            tracing::warn!(
                "Cannot kill task {task_id} of framework {framework_id} because the agent is {}",
                self.state.name()
            );
            return;
        }
        let Some(framework) = self.frameworks.get(&framework_id) else {
            tracing::warn!(
                "Ignoring kill task {task_id} of framework {framework_id} because no such framework is running"
            );
            return;
        };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        let partition_aware = framework.partition_aware();
        let Some(executor_id) = framework.executor_id_of_task(&task_id) else {
            tracing::warn!(
                "Cannot kill task {task_id} of framework {framework_id} because no corresponding executor is running"
            );
            let update = self.agent_update(
                &framework_id,
                &task_id,
                Self::dropped_or_lost(partition_aware),
                "Cannot find executor",
                Reason::ExecutorTerminated,
                None,
            );
            self.status_update(update, None, fx);
            return;
        };
        self.kill(&framework_id, &executor_id, &task_id, message.kill_policy, fx);
    }

    /// Mesos's `Slave::kill`.
    fn kill(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        task_id: &str,
        kill_policy: Option<KillPolicy>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        match executor.state {
            ExecutorState::Registering => {
                tracing::warn!("Transitioning the state of task {task_id} of framework {framework_id} to TASK_KILLED because the executor is not registered");
                self.kill_queued(framework_id, executor_id, task_id, fx);
            }
            ExecutorState::Terminating | ExecutorState::Terminated => {
                tracing::warn!(
                    "Ignoring kill task {task_id} because the executor '{executor_id}' is {}",
                    executor.state.name()
                );
            }
            ExecutorState::Running => {
                if executor.is_queued(task_id) {
                    self.kill_queued(framework_id, executor_id, task_id, fx);
                    let Some(executor) = self.executor(framework_id, executor_id) else { return };
                    if !executor.ever_sent_task() && executor.queued_tasks.is_empty() {
                        tracing::warn!("Shutting down executor '{executor_id}' because it has never been sent a task and all of its queued tasks have been killed before delivery");
                        self.shutdown_executor(framework_id, executor_id, fx);
                    }
                } else {
                    let message = KillTaskMessage {
                        framework_id: FrameworkId { value: framework_id.to_string() },
                        task_id: TaskId { value: task_id.to_string() },
                        kill_policy,
                    };
                    let channel = executor.channel.clone();
                    self.send_to_executor(&channel, ToExecutor::Kill(message), fx);
                }
            }
        }
    }

    /// TASK_KILLED for a task (or its whole group) not yet given to the executor.
    fn kill_queued(&mut self, framework_id: &str, executor_id: &str, task_id: &str, fx: &mut Vec<Effect>) {
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        let (tasks, message): (Vec<String>, &str) = match executor.queued_task_group(task_id) {
            Some(group) => (
                group.tasks.iter().map(|t| t.task_id.value.clone()).collect(),
                "A task within the task group was killed before delivery to the executor",
            ),
            None => (vec![task_id.to_string()], "Killed before delivery to the executor"),
        };
        for task in tasks {
            let update = self.agent_update(
                framework_id,
                &task,
                TaskState::TaskKilled,
                message,
                Reason::TaskKilledDuringLaunch,
                Some(executor_id),
            );
            self.status_update(update, None, fx);
        }
    }

    /// `ShutdownExecutorMessage` from the master.
    pub(crate) fn on_shutdown_executor(
        &mut self,
        from: Option<&Upid>,
        framework_id: &str,
        executor_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(from) = from {
            if self.master.as_ref() != Some(from) {
                tracing::warn!("Ignoring shutdown executor message for executor '{executor_id}' of framework {framework_id} from {from} because it is not from the registered master");
                return;
            }
        }
        tracing::info!("Asked to shut down executor '{executor_id}' of framework {framework_id}");
        if matches!(self.state, AgentState::Recovering | AgentState::Disconnected) {
            tracing::warn!("Ignoring shutdown executor message for executor '{executor_id}' of framework {framework_id} because the agent has not yet registered with the master");
            return;
        }
        let Some(framework) = self.frameworks.get(framework_id) else { return };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        let Some(executor) = framework.executors.get(executor_id) else {
            tracing::warn!("Ignoring shutdown of unknown executor '{executor_id}' of framework {framework_id}");
            return;
        };
        if matches!(executor.state, ExecutorState::Terminating | ExecutorState::Terminated) {
            return;
        }
        self.shutdown_executor(framework_id, executor_id, fx);
    }

    /// Mesos's `_shutdownExecutor`: ask it to stop, kill it after the grace
    /// period.
    pub(crate) fn shutdown_executor(&mut self, framework_id: &str, executor_id: &str, fx: &mut Vec<Effect>) {
        let default_grace = self.config.executor_shutdown_grace_period;
        let Some(executor) = self.executor_mut(framework_id, executor_id) else { return };
        if !matches!(executor.state, ExecutorState::Registering | ExecutorState::Running) {
            return;
        }
        tracing::info!("Shutting down executor '{executor_id}' of framework {framework_id}");
        executor.state = ExecutorState::Terminating;
        let channel = executor.channel.clone();
        let grace = executor
            .info
            .shutdown_grace_period
            .as_ref()
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(default_grace);
        let timer = TimerId::ExecutorShutdown {
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            container_id: executor.container_id.clone(),
        };
        self.send_to_executor(&channel, ToExecutor::Shutdown, fx);
        self.timer(timer, grace, fx);
    }

    pub(crate) fn on_shutdown_executor_timeout(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        if executor.container_id != container_id {
            return;
        }
        if executor.state == ExecutorState::Terminating {
            tracing::info!("Killing executor '{executor_id}' of framework {framework_id}");
            fx.push(Effect::Destroy { container_id: ContainerId { value: container_id.to_string(), parent: None } });
        }
    }

    pub(crate) fn on_register_executor_timeout(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        let timeout = self.config.executor_registration_timeout;
        let Some(framework) = self.frameworks.get_mut(framework_id) else { return };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        let Some(executor) = framework.executors.get_mut(executor_id) else { return };
        if executor.container_id != container_id || executor.state != ExecutorState::Registering {
            return;
        }
        tracing::info!("Terminating executor '{executor_id}' of framework {framework_id} because it did not register within {timeout:?}");
        fx.push(Effect::Destroy { container_id: ContainerId { value: container_id.to_string(), parent: None } });
        executor.state = ExecutorState::Terminating;
        executor.pending_termination = Some(Termination {
            state: Some(TaskState::TaskFailed),
            reason: Some(Reason::ExecutorRegistrationTimeout),
            message: Some(format!(
                "Executor did not register within {}",
                crate::common::units::format_duration(timeout)
            )),
            ..Default::default()
        });
    }

    /// `ShutdownFrameworkMessage` (or the agent shutting down): every
    /// executor of the framework is shut down.
    pub(crate) fn shutdown_framework(&mut self, from: Option<&Upid>, framework_id: &str, fx: &mut Vec<Effect>) {
        if let Some(from) = from {
            if self.master.as_ref() != Some(from) {
                tracing::warn!("Ignoring shutdown framework message for {framework_id} from {from} because it is not from the registered master");
                return;
            }
            if matches!(self.state, AgentState::Recovering | AgentState::Disconnected) {
                tracing::warn!("Ignoring shutdown framework message for {framework_id} because the agent has not yet registered with the master");
                return;
            }
        }
        let Some(framework) = self.frameworks.get_mut(framework_id) else { return };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        tracing::info!("Shutting down framework {framework_id}");
        framework.state = FrameworkState::Terminating;
        let executors: Vec<(String, ExecutorState)> =
            framework.executors.iter().map(|(id, e)| (id.clone(), e.state)).collect();
        for (executor_id, state) in executors {
            match state {
                ExecutorState::Registering | ExecutorState::Running => {
                    self.shutdown_executor(framework_id, &executor_id, fx)
                }
                ExecutorState::Terminated => self.remove_executor(framework_id, &executor_id, fx),
                ExecutorState::Terminating => {}
            }
        }
        self.remove_framework_if_idle(framework_id, fx);
    }

    /// `FrameworkToExecutorMessage` (through the master).
    pub(crate) fn on_scheduler_message(&mut self, message: FrameworkToExecutorMessage, fx: &mut Vec<Effect>) {
        let framework_id = message.framework_id.value.clone();
        let executor_id = message.executor_id.value.clone();
        if self.state != AgentState::Running {
            tracing::warn!(
                "Dropping message from framework {framework_id} because the agent is in {} state",
                self.state.name()
            );
            self.metrics.invalid_framework_messages += 1;
            return;
        }
        let channel = match self.frameworks.get(&framework_id) {
            None => None,
            Some(f) if f.state == FrameworkState::Terminating => None,
            Some(f) => {
                f.executors.get(&executor_id).filter(|e| e.state == ExecutorState::Running).map(|e| e.channel.clone())
            }
        };
        match channel {
            None => {
                tracing::warn!("Dropping message for executor '{executor_id}' of framework {framework_id}");
                self.metrics.invalid_framework_messages += 1;
            }
            Some(channel) => {
                self.send_to_executor(&channel, ToExecutor::FrameworkMessage(message), fx);
                self.metrics.valid_framework_messages += 1;
            }
        }
    }

    /// A framework message from an executor, to its scheduler (directly to a
    /// v0 scheduler's pid, else through the master).
    pub(crate) fn executor_message(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        data: Vec<u8>,
        fx: &mut Vec<Effect>,
    ) {
        if self.state != AgentState::Running {
            tracing::warn!("Dropping framework message from executor '{executor_id}' to framework {framework_id} because the agent is in {} state", self.state.name());
            self.metrics.invalid_framework_messages += 1;
            return;
        }
        let Some(framework) = self.frameworks.get(framework_id) else {
            self.metrics.invalid_framework_messages += 1;
            return;
        };
        if framework.state == FrameworkState::Terminating {
            self.metrics.invalid_framework_messages += 1;
            return;
        }
        let message = ExecutorToFrameworkMessage {
            slave_id: self.slave_id(),
            framework_id: FrameworkId { value: framework_id.to_string() },
            executor_id: ExecutorId { value: executor_id.to_string() },
            data,
        };
        match framework.pid.clone() {
            Some(pid) => self.send(&pid, message, fx),
            None => self.send_master(message, fx),
        }
        self.metrics.valid_framework_messages += 1;
    }

    /// `UpdateFrameworkMessage`: a scheduler failed over (new pid) or
    /// changed its info.
    pub(crate) fn on_update_framework(&mut self, message: UpdateFrameworkMessage, fx: &mut Vec<Effect>) {
        let framework_id = message.framework_id.value.clone();
        if self.state != AgentState::Running {
            tracing::warn!(
                "Dropping updateFramework message for {framework_id} because the agent is in {} state",
                self.state.name()
            );
            self.metrics.invalid_framework_messages += 1;
            return;
        }
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let Some(framework) = self.frameworks.get_mut(&framework_id) else { return };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        if let Some(info) = message.framework_info {
            framework.info = info;
        }
        framework.pid = message.pid.as_deref().and_then(|p| state::parse_pid(p).ok().flatten());
        tracing::info!("Updating info for framework {framework_id}");
        if framework.checkpoint() {
            fx.extend(
                state::write_framework(&meta, &agent_id, &framework.info, framework.pid.as_ref())
                    .into_iter()
                    .map(Effect::Fs),
            );
        }
        let outputs = self.tsum.resume();
        self.apply_tsum(outputs, fx);
    }

    /// A container ended (Mesos's `executorTerminated`).
    pub(crate) fn on_container_terminated(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        termination: Option<Termination>,
        fx: &mut Vec<Effect>,
    ) {
        let status = match &termination {
            Some(Termination { status: Some(status), .. }) => *status,
            Some(_) => {
                tracing::info!(
                    "Executor '{executor_id}' of framework {framework_id} has terminated with unknown status"
                );
                -1
            }
            None => {
                tracing::error!(
                    "Termination of executor '{executor_id}' of framework {framework_id} failed: unknown container"
                );
                -1
            }
        };
        tracing::info!("Executor '{executor_id}' of framework {framework_id} exited with status {status}");
        let agent_terminating = self.state == AgentState::Terminating;
        let Some(framework) = self.frameworks.get_mut(framework_id) else { return };
        let framework_terminating = framework.state == FrameworkState::Terminating;
        let Some(executor) = framework.executors.get_mut(executor_id) else { return };
        if executor.container_id != container_id || executor.state == ExecutorState::Terminated {
            return;
        }
        self.metrics.executors_terminated += 1;
        executor.state = ExecutorState::Terminated;
        let generated = executor.generated_for_command_task;
        if !framework_terminating {
            let mut tasks: Vec<String> = executor
                .launched_tasks
                .values()
                .filter(|t| !is_terminal(t.state()))
                .map(|t| t.task_id.value.clone())
                .collect();
            tasks.extend(executor.queued_tasks.iter().map(|t| t.task_id.value.clone()));
            for task_id in tasks {
                self.send_executor_terminated_update(framework_id, executor_id, &task_id, termination.as_ref(), fx);
            }
        } else {
            let launched: Vec<_> = std::mem::take(&mut executor.launched_tasks).into_iter().collect();
            executor.terminated_tasks.extend(launched);
        }
        if !generated {
            self.exited_executor_message(framework_id, executor_id, status, fx);
        }
        let incomplete = self.executor(framework_id, executor_id).is_some_and(|e| e.incomplete_tasks());
        if agent_terminating || framework_terminating || !incomplete {
            self.remove_executor(framework_id, executor_id, fx);
        }
        self.remove_framework_if_idle(framework_id, fx);
    }

    fn exited_executor_message(&self, framework_id: &str, executor_id: &str, status: i32, fx: &mut Vec<Effect>) {
        let message = crate::proto::mesos::internal::ExitedExecutorMessage {
            slave_id: self.slave_id(),
            framework_id: FrameworkId { value: framework_id.to_string() },
            executor_id: ExecutorId { value: executor_id.to_string() },
            status,
        };
        self.send_master(message, fx);
    }

    /// The terminal update of a task whose executor is gone (Mesos's
    /// `sendExecutorTerminatedStatusUpdate`): the container's own verdict
    /// (e.g. a memory limit) first, then why the agent ended it, else
    /// TASK_FAILED / REASON_EXECUTOR_TERMINATED.
    fn send_executor_terminated_update(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        task_id: &str,
        termination: Option<&Termination>,
        fx: &mut Vec<Effect>,
    ) {
        let pending = self.executor(framework_id, executor_id).and_then(|e| e.pending_termination.clone());
        let state = termination
            .and_then(|t| t.state)
            .or_else(|| pending.as_ref().and_then(|p| p.state))
            .unwrap_or(TaskState::TaskFailed);
        let reason = termination
            .and_then(|t| t.reason)
            .or_else(|| pending.as_ref().and_then(|p| p.reason))
            .unwrap_or(Reason::ExecutorTerminated);
        let mut messages = Vec::new();
        if let Some(m) = pending.as_ref().and_then(|p| p.message.clone()) {
            messages.push(m);
        }
        match termination {
            None => messages.push("Abnormal executor termination: unknown container".to_string()),
            Some(t) => {
                if let Some(m) = &t.message {
                    messages.push(m.clone());
                }
            }
        }
        let message = if messages.is_empty() { "Executor terminated".to_string() } else { messages.join("; ") };
        let mut update = self.agent_update(framework_id, task_id, state, &message, reason, Some(executor_id));
        if let Some(t) = termination {
            if !t.limited_resources.is_empty() {
                update.status.limitation =
                    Some(crate::proto::mesos::TaskResourceLimitation { resources: t.limited_resources.clone() });
            }
        }
        self.status_update(update, None, fx);
    }

    /// Mesos's `removeExecutor`: the run is over for the agent.
    pub(crate) fn remove_executor(&mut self, framework_id: &str, executor_id: &str, fx: &mut Vec<Effect>) {
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let work_dir = self.config.work_dir.clone();
        let gc_delay = self.config.gc_delay;
        let max_completed = self.config.max_completed_executors_per_framework;
        let Some(framework) = self.frameworks.get_mut(framework_id) else { return };
        let Some(executor) = framework.executors.get(executor_id) else { return };
        tracing::info!("Cleaning up executor '{executor_id}' of framework {framework_id}");
        let run = executor.run_ids(&agent_id);
        if executor.checkpoint {
            fx.push(Effect::Fs(FsOp::Touch { path: paths::sentinel_path(&meta, &run) }));
        }
        fx.push(Effect::GarbageCollect { path: paths::run_path(&work_dir, &run), delay: gc_delay });
        fx.push(Effect::GarbageCollect {
            path: paths::executor_path(&work_dir, &agent_id, framework_id, executor_id),
            delay: gc_delay,
        });
        if executor.checkpoint {
            fx.push(Effect::GarbageCollect { path: paths::run_path(&meta, &run), delay: gc_delay });
            fx.push(Effect::GarbageCollect {
                path: paths::executor_path(&meta, &agent_id, framework_id, executor_id),
                delay: gc_delay,
            });
        }
        framework.destroy_executor(executor_id, max_completed);
    }

    pub(crate) fn remove_framework_if_idle(&mut self, framework_id: &str, fx: &mut Vec<Effect>) {
        if self.frameworks.get(framework_id).is_some_and(|f| f.idle()) {
            self.remove_framework(framework_id, fx);
        }
    }

    /// Mesos's `removeFramework`: no executor left.
    fn remove_framework(&mut self, framework_id: &str, fx: &mut Vec<Effect>) {
        let Some(framework) = self.frameworks.remove(framework_id) else { return };
        tracing::info!("Cleaning up framework {framework_id}");
        self.tsum.cleanup(framework_id);
        let agent_id = self.agent_id();
        fx.push(Effect::GarbageCollect {
            path: paths::framework_path(&self.config.work_dir, &agent_id, framework_id),
            delay: self.config.gc_delay,
        });
        if framework.checkpoint() {
            fx.push(Effect::GarbageCollect {
                path: paths::framework_path(&self.meta, &agent_id, framework_id),
                delay: self.config.gc_delay,
            });
        }
        if self.completed_frameworks.len() >= MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        self.completed_frameworks.push_back(framework);
        if self.state == AgentState::Terminating && self.frameworks.is_empty() {
            fx.push(Effect::Exit { status: 0, message: "Agent terminating".into() });
        }
    }
}

/// Mesos's `protobuf::createStatusUpdate(frameworkId, status, slaveId)` for
/// an update an HTTP executor sent.
pub(crate) fn status_update_from_executor(
    framework_id: &str,
    mut status: crate::proto::mesos::TaskStatus,
    slave_id: &crate::proto::mesos::SlaveId,
    now_secs: f64,
) -> crate::proto::mesos::internal::StatusUpdate {
    if status.slave_id.is_none() {
        status.slave_id = Some(slave_id.clone());
    }
    let timestamp = status.timestamp.unwrap_or(now_secs);
    crate::proto::mesos::internal::StatusUpdate {
        framework_id: FrameworkId { value: framework_id.to_string() },
        executor_id: status.executor_id.clone(),
        slave_id: Some(slave_id.clone()),
        uuid: status.uuid.clone(),
        timestamp,
        status,
        latest_state: None,
    }
}
