//! Status updates: from executors (v0 or v1) or the agent itself, through
//! the task bookkeeping and the status update manager, to the master; and
//! the master's acknowledgements back (Mesos's `statusUpdate`,
//! `_statusUpdate`, `__statusUpdate`, `___statusUpdate`, `forward`,
//! `statusUpdateAcknowledgement`, `_statusUpdateAcknowledgement`).
//!
//! The `pid` argument says who sent an update, as Mesos's
//! `Option<UPID>` does: `None` the agent itself (no acknowledgement),
//! `Some(None)` an HTTP executor (acknowledged on its stream),
//! `Some(Some(pid))` a v0 executor driver (acknowledged at `pid`).

use super::framework::{ExecutorState, FrameworkState};
use super::{AfterUpdate, Agent, AgentState, Effect};
use crate::agent::paths;
use crate::proto::mesos::internal::{StatusUpdate, StatusUpdateAcknowledgementMessage, StatusUpdateMessage};
use crate::proto::mesos::network_info::IpAddress;
use crate::proto::mesos::{task_status::Source, ContainerId, ContainerStatus, NetworkInfo, TaskState};
use crate::v0_compat::Upid;

/// Who sent an update (see the module docs).
pub(crate) type Sender = Option<Option<Upid>>;

impl Agent {
    /// Mesos's `statusUpdate`.
    pub(crate) fn status_update(&mut self, mut update: StatusUpdate, pid: Sender, fx: &mut Vec<Effect>) {
        let Some(uuid) = update.uuid.clone() else {
            tracing::warn!("Ignoring status update without 'uuid'");
            self.metrics.invalid_status_updates += 1;
            return;
        };
        let slave_id = self.slave_id();
        if update.slave_id.as_ref() != Some(&slave_id) || update.status.slave_id.as_ref() != Some(&slave_id) {
            tracing::warn!("Ignoring status update due to Slave ID mismatch; expected '{}'", slave_id.value);
            self.metrics.invalid_status_updates += 1;
            return;
        }
        update.status.uuid = Some(uuid);
        update.status.set_source(if pid.is_none() { Source::Slave } else { Source::Executor });
        if let Some(executor_id) = &update.executor_id {
            update.status.executor_id = Some(executor_id.clone());
        }
        let framework_id = update.framework_id.value.clone();
        let task_id = update.status.task_id.value.clone();
        tracing::info!(
            "Handling status update {} (Status UUID: {}) for task {task_id} of framework {framework_id}",
            update.status.state().as_str_name(),
            uuid_string(&update)
        );
        let Some(framework) = self.frameworks.get(&framework_id) else {
            tracing::warn!("Ignoring status update for unknown framework {framework_id}");
            self.metrics.invalid_status_updates += 1;
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!("Ignoring status update for terminating framework {framework_id}");
            self.metrics.invalid_status_updates += 1;
            return;
        }
        let Some(executor_id) = framework.executor_id_of_task(&task_id) else {
            tracing::warn!("Could not find the executor for status update of task {task_id}");
            self.metrics.valid_status_updates += 1;
            match self.tsum.update(update.clone(), None) {
                Ok((_, outputs)) => self.apply_tsum(outputs, fx),
                Err(e) => {
                    tracing::error!("Failed to handle status update: {e}");
                    return;
                }
            }
            self.acknowledge_executor(&update, pid, fx);
            return;
        };
        let executor = &framework.executors[&executor_id];
        if update.status.source() == Source::Executor && update.status.state() == TaskState::TaskStaging {
            tracing::error!(
                "Received TASK_STAGING from executor '{executor_id}' which is not allowed. Shutting down the executor"
            );
            self.shutdown_executor(&framework_id, &executor_id, fx);
            return;
        }
        self.metrics.valid_status_updates += 1;
        let queued = executor.is_queued(&task_id);
        let lost_by_agent = executor.launched_tasks.contains_key(&task_id)
            && matches!(update.status.state(), TaskState::TaskDropped | TaskState::TaskLost)
            && update.status.source() == Source::Slave;
        let container_id = executor.container_id.clone();
        if let Some(executor) = self.executor_mut(&framework_id, &executor_id) {
            executor.add_pending_status(&update.status);
        }
        if !queued && !lost_by_agent {
            // What Mesos's containerizer `status()` adds: the container and
            // the agent's address (containers share the host network).
            let status = update.status.container_status.get_or_insert_with(ContainerStatus::default);
            if status.container_id.is_none() {
                status.container_id = Some(ContainerId { value: container_id, parent: None });
            }
            if status.network_infos.is_empty() {
                status.network_infos.push(NetworkInfo {
                    ip_addresses: vec![IpAddress {
                        ip_address: Some(self.config.pid.addr().ip().to_string()),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
        self.status_update_known(update, pid, &executor_id, fx);
    }

    /// Mesos's `_statusUpdate` and `__statusUpdate`.
    fn status_update_known(&mut self, update: StatusUpdate, pid: Sender, executor_id: &str, fx: &mut Vec<Effect>) {
        let framework_id = update.framework_id.value.clone();
        let agent_id = self.agent_id();
        let Some(executor) = self.executor_mut(&framework_id, executor_id) else {
            tracing::warn!("Ignoring container status update for framework {framework_id} for a non-existent executor");
            return;
        };
        match executor.update_task_state(&update.status) {
            Err(error) => {
                tracing::error!(
                    "Failed to update state of task '{}' to {}: {error}",
                    update.status.task_id.value,
                    update.status.state().as_str_name()
                );
                self.acknowledge_executor(&update, pid, fx);
            }
            Ok(Some(terminal)) => {
                let container_id = ContainerId { value: executor.container_id.clone(), parent: None };
                let resources = executor.allocated_resources().to_protos();
                let live = matches!(executor.state, ExecutorState::Registering | ExecutorState::Running);
                let checkpoint = executor.checkpoint.then(|| executor.run_ids(&agent_id));
                match terminal {
                    TaskState::TaskFinished => self.metrics.tasks_finished += 1,
                    TaskState::TaskFailed => self.metrics.tasks_failed += 1,
                    TaskState::TaskKilled => self.metrics.tasks_killed += 1,
                    TaskState::TaskLost => self.metrics.tasks_lost += 1,
                    TaskState::TaskGone => self.metrics.tasks_gone += 1,
                    _ => {}
                }
                // The container shrinks by the task's resources (a container
                // that is gone or going has nothing to shrink).
                if live {
                    fx.push(Effect::Update { container_id, resources, then: AfterUpdate::Nothing });
                }
                self.hand_to_status_update_manager(update, pid, checkpoint, fx);
            }
            Ok(None) => {
                let checkpoint = executor.checkpoint.then(|| executor.run_ids(&agent_id));
                self.hand_to_status_update_manager(update, pid, checkpoint, fx);
            }
        }
    }

    fn hand_to_status_update_manager(
        &mut self,
        update: StatusUpdate,
        pid: Sender,
        checkpoint: Option<paths::RunIds>,
        fx: &mut Vec<Effect>,
    ) {
        match self.tsum.update(update.clone(), checkpoint) {
            Ok((_, outputs)) => self.apply_tsum(outputs, fx),
            Err(e) => {
                tracing::error!("Failed to handle status update: {e}");
                return;
            }
        }
        self.acknowledge_executor(&update, pid, fx)
    }

    /// Mesos's `___statusUpdate`: the update is safe with the agent; tell
    /// the executor so it stops retrying.
    fn acknowledge_executor(&mut self, update: &StatusUpdate, pid: Sender, fx: &mut Vec<Effect>) {
        let framework_id = update.framework_id.value.clone();
        let task_id = update.status.task_id.value.clone();
        let executor_id = self.frameworks.get(&framework_id).and_then(|f| f.executor_id_of_task(&task_id));
        if let Some(executor_id) = &executor_id {
            if let Some(executor) = self.executor_mut(&framework_id, executor_id) {
                executor.remove_pending_status(&update.status);
            }
        }
        let Some(pid) = pid else { return };
        let message = StatusUpdateAcknowledgementMessage {
            slave_id: update.slave_id.clone().unwrap_or_default(),
            framework_id: update.framework_id.clone(),
            task_id: update.status.task_id.clone(),
            uuid: update.uuid.clone().unwrap_or_default(),
        };
        match pid {
            Some(pid) => self.send(&pid, message, fx),
            None => {
                let Some(executor) = executor_id.and_then(|e| self.executor(&framework_id, &e)) else {
                    tracing::warn!("Ignoring sending acknowledgement for status update of unknown executor");
                    return;
                };
                let channel = executor.channel.clone();
                self.send_to_executor(&channel, super::executors::ToExecutor::Ack(message), fx);
            }
        }
    }

    /// Mesos's `forward`: the status update manager's update to the master.
    pub(crate) fn forward(&mut self, mut update: StatusUpdate, fx: &mut Vec<Effect>) {
        if self.state != AgentState::Running {
            tracing::warn!(
                "Dropping status update sent by task status update manager because the agent is in {} state",
                self.state.name()
            );
            return;
        }
        update.status.uuid = update.uuid.clone();
        let framework_id = update.framework_id.value.clone();
        let task_id = update.status.task_id.value.clone();
        if let Some(framework) = self.frameworks.get_mut(&framework_id) {
            if let Some(executor) = framework.executors.values_mut().find(|e| e.has_task(&task_id)) {
                let task =
                    executor.launched_tasks.get_mut(&task_id).or_else(|| executor.terminated_tasks.get_mut(&task_id));
                if let Some(task) = task {
                    task.status_update_state = Some(update.status.state);
                    task.status_update_uuid = update.uuid.clone();
                    update.latest_state = Some(task.state);
                }
            }
        }
        tracing::info!(
            "Forwarding the update {} (Status UUID: {}) for task {task_id} of framework {framework_id} to {}",
            update.status.state().as_str_name(),
            uuid_string(&update),
            self.master.as_ref().map(|m| m.to_string()).unwrap_or_default()
        );
        let message = StatusUpdateMessage { update, pid: Some(self.config.pid.to_string()) };
        self.send_master(message, fx);
    }

    /// `StatusUpdateAcknowledgementMessage` from the master.
    pub(crate) fn on_status_update_acknowledgement(
        &mut self,
        from: &Upid,
        message: StatusUpdateAcknowledgementMessage,
        fx: &mut Vec<Effect>,
    ) {
        if from.id().starts_with("master") {
            if self.state != AgentState::Running {
                tracing::warn!(
                    "Dropping status update acknowledgement because the agent is in {} state",
                    self.state.name()
                );
                return;
            }
            if self.master.as_ref() != Some(from) {
                tracing::warn!(
                    "Ignoring status update acknowledgement message from {from} because it is not the expected master"
                );
                return;
            }
        }
        let framework_id = message.framework_id.value.clone();
        let task_id = message.task_id.value.clone();
        let more = match self.tsum.acknowledgement(&framework_id, &task_id, &message.uuid) {
            Ok((more, outputs)) => {
                self.apply_tsum(outputs, fx);
                more
            }
            Err(e) => {
                tracing::error!("Failed to handle status update acknowledgement for task {task_id} of framework {framework_id}: {e}");
                return;
            }
        };
        let agent_id = self.agent_id();
        let meta = self.meta.clone();
        let gc_delay = self.config.gc_delay;
        let Some(framework) = self.frameworks.get_mut(&framework_id) else {
            tracing::error!("Status update acknowledgement for task {task_id} of unknown framework {framework_id}");
            return;
        };
        let Some(executor) = framework.executors.values_mut().find(|e| e.has_task(&task_id)) else {
            tracing::error!("Status update acknowledgement for task {task_id} of unknown executor");
            return;
        };
        let executor_id = executor.id.clone();
        if executor.terminated_tasks.contains_key(&task_id) && !more {
            if executor.checkpoint {
                let run = executor.run_ids(&agent_id);
                fx.push(Effect::GarbageCollect { path: paths::task_path(&meta, &run, &task_id), delay: gc_delay });
            }
            executor.complete_task(&task_id);
        }
        if executor.state == ExecutorState::Terminated && !executor.incomplete_tasks() {
            self.remove_executor(&framework_id, &executor_id, fx);
        }
        self.remove_framework_if_idle(&framework_id, fx);
    }
}

fn uuid_string(update: &StatusUpdate) -> String {
    update.uuid.as_deref().and_then(|b| uuid::Uuid::from_slice(b).ok()).map(|u| u.to_string()).unwrap_or_default()
}
