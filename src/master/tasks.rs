//! Tasks: status updates from agents and their acknowledgements, KILL,
//! reconciliation, messages between schedulers and executors, executors
//! exiting (Mesos's `statusUpdate`, `acknowledge`, `kill`, `reconcile`,
//! `message`, `executorMessage`, `exitedExecutor`, `shutdown`).

use crate::proto::mesos::internal::{
    ExecutorToFrameworkMessage, ExitedExecutorMessage, FrameworkToExecutorMessage, KillTaskMessage,
    ReconcileTasksMessage, ShutdownExecutorMessage, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use crate::proto::mesos::scheduler::call;
use crate::proto::mesos::task_status::Reason;
use crate::proto::mesos::{FrameworkId, TaskState};
use crate::v0_compat::Upid;

use super::event::Now;
use super::state::{is_terminal, task_state, Master};
use super::validation;

impl Master {
    /// `StatusUpdateMessage` from an agent: forwarded to the framework
    /// (acknowledgements come back through the master), and recorded.
    pub(crate) fn on_status_update(&mut self, now: Now, message: StatusUpdateMessage) {
        self.metrics.messages_status_update += 1;
        let update = message.update;
        let agent_id = update.slave_id.clone().unwrap_or_default();
        let state = TaskState::try_from(update.status.state).map(|s| s.as_str_name()).unwrap_or("?");
        let describe = format!(
            "{} (Status UUID: {}) for task {} of framework {}",
            state,
            update
                .uuid
                .as_deref()
                .and_then(|u| uuid::Uuid::from_slice(u).ok())
                .map(|u| u.to_string())
                .unwrap_or_default(),
            update.status.task_id.value,
            update.framework_id.value
        );
        let Some(pid) = message.pid.as_deref().and_then(|p| p.parse::<Upid>().ok()) else {
            tracing::warn!("Ignoring status update {} without a sender pid", describe);
            self.metrics.invalid_status_updates += 1;
            return;
        };
        if self.agents.removed.contains(&agent_id) {
            tracing::warn!("Ignoring status update {} from removed agent {} with id {}", describe, pid, agent_id.value);
            self.metrics.invalid_status_updates += 1;
            return;
        }
        if !self.agents.registered.contains_key(&agent_id) {
            tracing::warn!("Ignoring status update {} from unknown agent {} with id {}", describe, pid, agent_id.value);
            self.metrics.invalid_status_updates += 1;
            return;
        }
        if let Err(e) = validation::parse_uuid(update.uuid.as_deref().unwrap_or_default()) {
            tracing::warn!("Ignoring status update from agent {}: {}", self.agent_label(&agent_id), e);
            self.metrics.invalid_status_updates += 1;
            return;
        }
        if update.status.uuid.is_none() {
            tracing::warn!(
                "Ignoring status update {} from agent {}: the status has no uuid",
                describe,
                self.agent_label(&agent_id)
            );
            self.metrics.invalid_status_updates += 1;
            return;
        }
        tracing::info!("Status update {} from agent {}", describe, self.agent_label(&agent_id));
        let fid = update.framework_id.clone();
        let mut valid = true;
        match self.frameworks.registered.get(&fid) {
            Some(fw) if fw.connected() => self.forward(update.clone(), Some(&pid), &fid),
            other => {
                valid = false;
                tracing::warn!(
                    "Received status update {} from agent {} for {} framework",
                    describe,
                    self.agent_label(&agent_id),
                    if other.is_none() { "an unknown" } else { "a disconnected" }
                );
            }
        }
        let task_id = update.status.task_id.clone();
        let known = self.agents.registered.get(&agent_id).is_some_and(|a| a.task(&fid, &task_id).is_some());
        if !known {
            tracing::warn!(
                "Could not lookup task for status update {} from agent {}",
                describe,
                self.agent_label(&agent_id)
            );
            self.metrics.invalid_status_updates += 1;
            return;
        }
        self.update_task(now, &agent_id, &fid, &task_id, &update);
        if valid {
            self.metrics.valid_status_updates += 1;
        } else {
            self.metrics.invalid_status_updates += 1;
        }
    }

    pub(crate) fn on_status_update_acknowledgement(
        &mut self,
        now: Now,
        from: &Upid,
        message: StatusUpdateAcknowledgementMessage,
    ) {
        let fid = message.framework_id.clone();
        if let Err(e) = validation::parse_uuid(&message.uuid) {
            tracing::warn!(
                "Ignoring status update acknowledgement for task {} of framework {} on agent {} due to: {}",
                message.task_id.value,
                fid.value,
                message.slave_id.value,
                e
            );
            self.metrics.invalid_status_update_acknowledgements += 1;
            return;
        }
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring status update acknowledgement for task {} of framework {} because the framework cannot \
                 be found",
                message.task_id.value,
                fid.value
            );
            self.metrics.invalid_status_update_acknowledgements += 1;
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring status update acknowledgement for task {} of framework {} because it is not expected \
                 from {}",
                message.task_id.value,
                fid.value,
                from
            );
            self.metrics.invalid_status_update_acknowledgements += 1;
            return;
        }
        let ack = call::Acknowledge { slave_id: message.slave_id, task_id: message.task_id, uuid: message.uuid };
        self.acknowledge(now, &fid, ack);
    }

    /// ACKNOWLEDGE: forwarded to the agent; a terminal task whose terminal
    /// update is acknowledged is removed.
    pub(crate) fn acknowledge(&mut self, now: Now, fid: &FrameworkId, ack: call::Acknowledge) {
        self.metrics.messages_status_update_acknowledgement += 1;
        let uuid = validation::parse_uuid(&ack.uuid).map(|u| u.to_string()).unwrap_or_default();
        let Some(agent) = self.agents.registered.get(&ack.slave_id) else {
            tracing::warn!(
                "Cannot send status update acknowledgement for status {} of task {} of framework {} to agent {} \
                 because agent is not registered",
                uuid,
                ack.task_id.value,
                fid.value,
                ack.slave_id.value
            );
            self.metrics.invalid_status_update_acknowledgements += 1;
            return;
        };
        if !agent.connected {
            tracing::warn!(
                "Cannot send status update acknowledgement for status {} of task {} of framework {} to agent {} \
                 because agent is disconnected",
                uuid,
                ack.task_id.value,
                fid.value,
                self.agent_label(&ack.slave_id)
            );
            self.metrics.invalid_status_update_acknowledgements += 1;
            return;
        }
        tracing::info!(
            "Processing ACKNOWLEDGE call for status {} for task {} of framework {} on agent {}",
            uuid,
            ack.task_id.value,
            self.framework_label(fid),
            ack.slave_id.value
        );
        let pid = agent.pid.clone();
        if let Some(task) = agent.task(fid, &ack.task_id) {
            let Some(state) = task.status_update_state else {
                tracing::warn!(
                    "Ignoring status update acknowledgement for status {} of task {} of framework {} to agent {} \
                     because the update was not sent by this master",
                    uuid,
                    ack.task_id.value,
                    fid.value,
                    ack.slave_id.value
                );
                self.metrics.invalid_status_update_acknowledgements += 1;
                return;
            };
            let terminal = is_terminal(TaskState::try_from(state).unwrap_or(TaskState::TaskStaging));
            if terminal && task.status_update_uuid.as_deref() == Some(ack.uuid.as_slice()) {
                let (agent_id, task_id) = (ack.slave_id.clone(), ack.task_id.clone());
                self.remove_task(now, &agent_id, fid, &task_id, false);
            }
        }
        let message = StatusUpdateAcknowledgementMessage {
            slave_id: ack.slave_id,
            framework_id: fid.clone(),
            task_id: ack.task_id,
            uuid: ack.uuid,
        };
        self.send(&pid, message);
        self.metrics.valid_status_update_acknowledgements += 1;
    }

    pub(crate) fn on_kill_task_message(&mut self, now: Now, from: &Upid, message: KillTaskMessage) {
        let fid = message.framework_id;
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring kill task message for task {} of framework {} because the framework cannot be found",
                message.task_id.value,
                fid.value
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring kill task message for task {} of framework {} because it is not expected from {}",
                message.task_id.value,
                self.framework_label(&fid),
                from
            );
            return;
        }
        // A kill policy is not supported through `KillTaskMessage`.
        self.kill(now, &fid, call::Kill { task_id: message.task_id, ..Default::default() });
    }

    /// KILL: sent to the agent (again on every request, in case an earlier
    /// one was lost); an unknown task is reconciled instead.
    pub(crate) fn kill(&mut self, _now: Now, fid: &FrameworkId, kill: call::Kill) {
        self.metrics.messages_kill_task += 1;
        tracing::info!(
            "Processing KILL call for task '{}' of framework {}",
            kill.task_id.value,
            self.framework_label(fid)
        );
        let Some(agent_id) = self.frameworks.registered.get(fid).and_then(|f| f.tasks.get(&kill.task_id)).cloned()
        else {
            tracing::warn!(
                "Cannot kill task {} of framework {} because it is unknown; performing reconciliation",
                kill.task_id.value,
                self.framework_label(fid)
            );
            let task = call::reconcile::Task { task_id: kill.task_id, slave_id: kill.slave_id };
            self.reconcile(fid, call::Reconcile { tasks: vec![task] });
            return;
        };
        if let Some(requested) = &kill.slave_id {
            if *requested != agent_id {
                tracing::warn!(
                    "Cannot kill task {} of agent {} of framework {} because it belongs to different agent {}",
                    kill.task_id.value,
                    requested.value,
                    self.framework_label(fid),
                    agent_id.value
                );
                return;
            }
        }
        let Some(agent) = self.agents.registered.get_mut(&agent_id) else { return };
        agent.killed_tasks.entry(fid.clone()).or_default().insert(kill.task_id.clone());
        if agent.connected {
            let pid = agent.pid.clone();
            tracing::info!(
                "Telling agent {} to kill task {} of framework {}",
                self.agent_label(&agent_id),
                kill.task_id.value,
                self.framework_label(fid)
            );
            let message =
                KillTaskMessage { framework_id: fid.clone(), task_id: kill.task_id, kill_policy: kill.kill_policy };
            self.send(&pid, message);
        } else {
            tracing::warn!(
                "Cannot kill task {} of framework {} because the agent {} is disconnected. Kill will be retried if \
                 the agent reregisters",
                kill.task_id.value,
                self.framework_label(fid),
                self.agent_label(&agent_id)
            );
        }
    }

    pub(crate) fn on_reconcile_tasks(&mut self, from: &Upid, message: ReconcileTasksMessage) {
        let fid = message.framework_id;
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!("Unknown framework {} at {} attempted to reconcile tasks", fid.value, from);
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring reconcile tasks message for framework {} because it is not expected from {}",
                self.framework_label(&fid),
                from
            );
            return;
        }
        let tasks = message
            .statuses
            .into_iter()
            .map(|s| call::reconcile::Task { task_id: s.task_id, slave_id: s.slave_id })
            .collect();
        self.reconcile(&fid, call::Reconcile { tasks });
    }

    /// RECONCILE. Implicit (no tasks): the latest state of every task the
    /// master knows. Explicit: for each task, its latest state if known,
    /// else what Mesos infers from where its agent is (see below).
    pub(crate) fn reconcile(&mut self, fid: &FrameworkId, reconcile: call::Reconcile) {
        self.metrics.messages_reconcile_tasks += 1;
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        let partition_aware = fw.caps.partition_aware;
        if reconcile.tasks.is_empty() {
            tracing::info!("Performing implicit task state reconciliation for framework {}", self.framework_label(fid));
            let tasks: Vec<_> = fw.tasks.iter().map(|(t, a)| (t.clone(), a.clone())).collect();
            for (task_id, agent) in tasks {
                if let Some(update) = self.latest_state_update(fid, &agent, &task_id) {
                    self.send_status(fid, update);
                }
            }
            return;
        }
        tracing::info!(
            "Performing explicit task state reconciliation for {} tasks of framework {}",
            reconcile.tasks.len(),
            self.framework_label(fid)
        );
        let lost_or = |state: TaskState| if partition_aware { state } else { TaskState::TaskLost };
        for t in reconcile.tasks {
            let known = self.frameworks.registered.get(fid).and_then(|f| f.tasks.get(&t.task_id)).cloned();
            let update = if let Some(agent) = known {
                // (1) Known: its latest state.
                self.latest_state_update(fid, &agent, &t.task_id)
            } else if t.slave_id.as_ref().is_some_and(|a| self.agents.recovered.contains_key(a))
                || (t.slave_id.is_none() && !self.agents.recovered.is_empty())
            {
                // (2) Its agent may still come back after the failover: no answer.
                tracing::info!(
                    "Dropping reconciliation of task {} for framework {} because {} not yet reregistered with the \
                     master",
                    t.task_id.value,
                    self.framework_label(fid),
                    match &t.slave_id {
                        Some(a) => format!("agent {} has", a.value),
                        None => "some agents have".into(),
                    }
                );
                None
            } else if let Some(agent) = t.slave_id.as_ref().filter(|a| self.agents.registered.contains_key(*a)) {
                // (3) The agent is registered and does not have it: TASK_GONE.
                Some(self.master_update(
                    fid,
                    Some(agent),
                    &t.task_id,
                    lost_or(TaskState::TaskGone),
                    "Reconciliation: Task is unknown to the agent",
                    Reason::Reconciliation,
                    None,
                    None,
                ))
            } else if let Some(time) = t.slave_id.as_ref().and_then(|a| self.agents.unreachable.get(a)).copied() {
                // (4) The agent is unreachable: TASK_UNREACHABLE.
                Some(self.master_update(
                    fid,
                    t.slave_id.as_ref(),
                    &t.task_id,
                    lost_or(TaskState::TaskUnreachable),
                    "Reconciliation: Task is unreachable",
                    Reason::Reconciliation,
                    None,
                    Some(time),
                ))
            } else if t.slave_id.as_ref().is_some_and(|a| self.agents.gone.contains_key(a)) {
                // (5) The agent is gone: TASK_GONE_BY_OPERATOR.
                Some(self.master_update(
                    fid,
                    t.slave_id.as_ref(),
                    &t.task_id,
                    lost_or(TaskState::TaskGoneByOperator),
                    "Reconciliation: Task is gone",
                    Reason::Reconciliation,
                    None,
                    None,
                ))
            } else {
                // (6) Nothing is known: TASK_UNKNOWN.
                Some(self.master_update(
                    fid,
                    t.slave_id.as_ref(),
                    &t.task_id,
                    lost_or(TaskState::TaskUnknown),
                    "Reconciliation: Task is unknown",
                    Reason::Reconciliation,
                    None,
                    None,
                ))
            };
            if let Some(update) = update {
                tracing::debug!(
                    "Sending explicit reconciliation state {} for task {} of framework {}",
                    TaskState::try_from(update.status.state).map(|s| s.as_str_name()).unwrap_or("?"),
                    update.status.task_id.value,
                    fid.value
                );
                self.send_status(fid, update);
            }
        }
    }

    /// "Reconciliation: Latest task state" for a known task: the state of
    /// the latest update sent to the framework, else the task's state.
    fn latest_state_update(
        &self,
        fid: &FrameworkId,
        agent: &crate::proto::mesos::SlaveId,
        task_id: &crate::proto::mesos::TaskId,
    ) -> Option<crate::proto::mesos::internal::StatusUpdate> {
        let task = self.agents.registered.get(agent)?.task(fid, task_id)?;
        let state =
            task.status_update_state.and_then(|s| TaskState::try_from(s).ok()).unwrap_or_else(|| task_state(task));
        Some(self.task_update(fid, task, state, "Reconciliation: Latest task state", Reason::Reconciliation))
    }

    pub(crate) fn on_framework_to_executor(&mut self, from: &Upid, message: FrameworkToExecutorMessage) {
        let fid = message.framework_id.clone();
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring framework message for executor '{}' of framework {} because the framework cannot be found",
                message.executor_id.value,
                fid.value
            );
            self.metrics.invalid_framework_to_executor_messages += 1;
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring framework message for executor '{}' of framework {} because it is not expected from {}",
                message.executor_id.value,
                self.framework_label(&fid),
                from
            );
            self.metrics.invalid_framework_to_executor_messages += 1;
            return;
        }
        let m = call::Message { slave_id: message.slave_id, executor_id: message.executor_id, data: message.data };
        self.message(&fid, m);
    }

    /// MESSAGE: a framework message for an executor, relayed to its agent.
    pub(crate) fn message(&mut self, fid: &FrameworkId, message: call::Message) {
        self.metrics.messages_framework_to_executor += 1;
        let Some(agent) = self.agents.registered.get(&message.slave_id) else {
            tracing::warn!(
                "Cannot send framework message for framework {} to agent {} because agent is not registered",
                self.framework_label(fid),
                message.slave_id.value
            );
            self.metrics.invalid_framework_to_executor_messages += 1;
            return;
        };
        if !agent.connected {
            tracing::warn!(
                "Cannot send framework message for framework {} to agent {} because agent is disconnected",
                self.framework_label(fid),
                self.agent_label(&message.slave_id)
            );
            self.metrics.invalid_framework_to_executor_messages += 1;
            return;
        }
        let pid = agent.pid.clone();
        tracing::info!(
            "Processing MESSAGE call from framework {} to agent {}",
            self.framework_label(fid),
            self.agent_label(&message.slave_id)
        );
        let out = FrameworkToExecutorMessage {
            slave_id: message.slave_id,
            framework_id: fid.clone(),
            executor_id: message.executor_id,
            data: message.data,
        };
        self.send(&pid, out);
        self.metrics.valid_framework_to_executor_messages += 1;
    }

    /// An executor's message for its scheduler, relayed by the agent.
    pub(crate) fn on_executor_to_framework(&mut self, message: ExecutorToFrameworkMessage) {
        self.metrics.messages_executor_to_framework += 1;
        let (aid, fid) = (message.slave_id.clone(), message.framework_id.clone());
        if self.agents.removed.contains(&aid) {
            tracing::warn!(
                "Ignoring executor message from executor '{}' of framework {} on removed agent {}",
                message.executor_id.value,
                fid.value,
                aid.value
            );
            self.metrics.invalid_executor_to_framework_messages += 1;
            return;
        }
        if !self.agents.registered.contains_key(&aid) {
            tracing::warn!(
                "Ignoring executor message from executor '{}' of framework {} on unknown agent {}",
                message.executor_id.value,
                fid.value,
                aid.value
            );
            self.metrics.invalid_executor_to_framework_messages += 1;
            return;
        }
        match self.frameworks.registered.get(&fid) {
            None => {
                tracing::warn!(
                    "Not forwarding executor message for executor '{}' of framework {} on agent {} because the \
                     framework is unknown",
                    message.executor_id.value,
                    fid.value,
                    self.agent_label(&aid)
                );
                self.metrics.invalid_executor_to_framework_messages += 1;
            }
            Some(fw) if !fw.connected() => {
                tracing::warn!(
                    "Not forwarding executor message for executor '{}' of framework {} on agent {} because the \
                     framework is disconnected",
                    message.executor_id.value,
                    fid.value,
                    self.agent_label(&aid)
                );
                self.metrics.invalid_executor_to_framework_messages += 1;
            }
            Some(_) => {
                self.send_framework(&fid, message.into());
                self.metrics.valid_executor_to_framework_messages += 1;
            }
        }
    }

    /// An executor terminated: its resources are recovered and its
    /// framework told.
    pub(crate) fn on_exited_executor(&mut self, now: Now, message: ExitedExecutorMessage) {
        self.metrics.messages_exited_executor += 1;
        let (aid, fid, eid) = (message.slave_id.clone(), message.framework_id.clone(), message.executor_id.clone());
        if self.agents.removed.contains(&aid) {
            tracing::warn!(
                "Ignoring exited executor '{}' of framework {} on removed agent {}",
                eid.value,
                fid.value,
                aid.value
            );
            return;
        }
        let Some(agent) = self.agents.registered.get(&aid) else {
            tracing::warn!(
                "Ignoring exited executor '{}' of framework {} on unknown agent {}",
                eid.value,
                fid.value,
                aid.value
            );
            return;
        };
        if !agent.has_executor(&fid, &eid) {
            tracing::warn!(
                "Ignoring unknown exited executor '{}' of framework {} on agent {}",
                eid.value,
                fid.value,
                self.agent_label(&aid)
            );
            return;
        }
        tracing::info!(
            "Executor '{}' of framework {} on agent {}: exited with status {}",
            eid.value,
            fid.value,
            self.agent_label(&aid),
            message.status
        );
        self.remove_executor(now, &aid, &fid, &eid);
        match self.frameworks.registered.get(&fid) {
            Some(fw) if fw.connected() => self.send_framework(&fid, message.into()),
            fw => tracing::warn!(
                "Not forwarding exited executor message for executor '{}' of framework {} on agent {} because the \
                 framework is {}",
                eid.value,
                fid.value,
                self.agent_label(&aid),
                if fw.is_none() { "unknown" } else { "disconnected" }
            ),
        }
    }

    /// SHUTDOWN: asks an agent to shut an executor down.
    pub(crate) fn shutdown_executor(&mut self, fid: &FrameworkId, shutdown: call::Shutdown) {
        let Some(agent) = self.agents.registered.get(&shutdown.slave_id) else {
            tracing::warn!(
                "Unable to shutdown executor '{}' of framework {} of unknown agent {}",
                shutdown.executor_id.value,
                fid.value,
                shutdown.slave_id.value
            );
            return;
        };
        let pid = agent.pid.clone();
        tracing::info!(
            "Processing SHUTDOWN call for executor '{}' of framework {} on agent {}",
            shutdown.executor_id.value,
            self.framework_label(fid),
            shutdown.slave_id.value
        );
        self.send(
            &pid,
            ShutdownExecutorMessage { executor_id: Some(shutdown.executor_id), framework_id: Some(fid.clone()) },
        );
    }

    /// `UpdateOperationStatusMessage`: operation feedback is only offered to
    /// v1 frameworks, so the master acknowledges updates itself.
    pub(crate) fn on_update_operation_status(
        &mut self,
        message: crate::proto::mesos::internal::UpdateOperationStatusMessage,
    ) {
        self.metrics.messages_operation_status_update += 1;
        let Some(aid) = message.slave_id.clone() else {
            self.metrics.invalid_operation_status_updates += 1;
            return;
        };
        let Some(agent) = self.agents.registered.get(&aid) else {
            tracing::warn!("Ignoring operation status update from unknown agent {}", aid.value);
            self.metrics.invalid_operation_status_updates += 1;
            return;
        };
        let pid = agent.pid.clone();
        self.metrics.valid_operation_status_updates += 1;
        let Some(status_uuid) =
            message.status.uuid.clone().or(message.latest_status.as_ref().and_then(|s| s.uuid.clone()))
        else {
            return;
        };
        let Some(operation_uuid) = message.operation_uuid else { return };
        let ack = crate::proto::mesos::internal::AcknowledgeOperationStatusMessage {
            status_uuid,
            operation_uuid,
            resource_provider_id: message.status.resource_provider_id.clone(),
        };
        self.send(&pid, ack);
    }
}
