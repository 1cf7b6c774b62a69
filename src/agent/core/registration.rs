//! Master detection, (re)registration, pings, shutdown, and the resources
//! the master asks the agent to checkpoint (Mesos's `Slave::detected`,
//! `doReliableRegistration`, `registered`, `reregistered`, `ping`,
//! `pingTimeout`, `shutdown`, `checkpointResourceState`, `applyOperation`).

use std::time::Duration;

use super::framework::{create_task, has_capability, ExecutorState};
use super::{
    Agent, AgentState, Effect, TimerId, DEFAULT_MASTER_PING_TIMEOUT, MESOS_VERSION, REGISTER_RETRY_INTERVAL_MAX,
};
use crate::agent::state::{self, FsOp};
use crate::common::resources::format::downgrade_message;
use crate::common::resources::ops::{apply_checkpointed_resources, conversions, needs_checkpointing};
use crate::common::resources::Resources;
use crate::proto::mesos::framework_info::capability::Type as FrameworkCapability;
use crate::proto::mesos::internal::{
    archive, update_slave_message, ApplyOperationMessage, MasterSlaveConnection, PongSlaveMessage,
    RegisterSlaveMessage, ReregisterSlaveMessage, SlaveReregisteredMessage, UnregisterSlaveMessage,
    UpdateOperationStatusMessage, UpdateSlaveMessage,
};
use crate::proto::mesos::{task_status::Reason, OperationState, OperationStatus, Resource, SlaveId, TaskState, Uuid};
use crate::v0_compat::Upid;

impl Agent {
    /// A detection answer (Mesos's `detected`).
    pub(crate) fn on_master_detected(&mut self, master: Option<Upid>, fx: &mut Vec<Effect>) {
        if self.state == AgentState::Recovering {
            tracing::warn!("Ignoring master detection while recovering");
            return;
        }
        if self.state != AgentState::Terminating {
            self.state = AgentState::Disconnected;
        }
        self.tsum.pause();
        match master {
            None => {
                tracing::info!("Lost leading master");
                self.master = None;
            }
            Some(master) => {
                tracing::info!("New master detected at {master}");
                self.master = Some(master.clone());
                // Cancel any pending attempt.
                self.registration_generation += 1;
                if self.state == AgentState::Terminating {
                    tracing::info!("Skipping registration because agent is terminating");
                } else {
                    tracing::info!("No credentials provided. Attempting to register without authentication");
                    let delay = self.config.registration_backoff_factor.mul_f64(self.random_unit());
                    self.registration_backoff = self.config.registration_backoff_factor * 2;
                    self.timer(TimerId::Registration { generation: self.registration_generation }, delay, fx);
                }
            }
        }
        // Keep watching for a different master.
        fx.push(Effect::DetectMaster { previous: self.master.clone() });
    }

    /// Forgets the master and asks the detector again (a ping timeout, or a
    /// master saying we are disconnected).
    pub(crate) fn redetect(&mut self, fx: &mut Vec<Effect>) {
        if self.state != AgentState::Terminating {
            self.state = AgentState::Disconnected;
        }
        self.tsum.pause();
        tracing::info!("Re-detecting master");
        self.master = None;
        fx.push(Effect::DetectMaster { previous: None });
    }

    /// One registration attempt, and the next one scheduled with backoff.
    pub(crate) fn do_reliable_registration(&mut self, fx: &mut Vec<Effect>) {
        let Some(master) = self.master.clone() else {
            tracing::info!("Skipping registration because no master present");
            return;
        };
        match self.state {
            AgentState::Running => return,
            AgentState::Terminating => {
                tracing::info!("Skipping registration because agent is terminating");
                return;
            }
            AgentState::Recovering => return,
            AgentState::Disconnected => {}
        }
        fx.push(Effect::Link { to: master.clone() });
        if self.info.id.is_none() {
            let mut message = RegisterSlaveMessage {
                slave: self.info.clone(),
                checkpointed_resources: self.checkpointed_resources.clone(),
                version: Some(MESOS_VERSION.to_string()),
                agent_capabilities: self.config.capabilities.clone(),
                resource_version_uuid: Some(self.resource_version.clone()),
            };
            let _ = downgrade_message(&mut message);
            self.send(&master, message, fx);
        } else {
            let mut message = self.reregister_message();
            let _ = downgrade_message(&mut message);
            self.send(&master, message, fx);
        }
        let bound = self.registration_backoff.min(REGISTER_RETRY_INTERVAL_MAX);
        let delay = bound.mul_f64(self.random_unit());
        self.registration_backoff = bound * 2;
        self.registration_generation += 1;
        tracing::debug!("Will retry registration in {delay:?} if necessary");
        self.timer(TimerId::Registration { generation: self.registration_generation }, delay, fx);
    }

    /// What a reregistering agent tells the master: its frameworks, tasks
    /// (launched, terminated, queued as STAGING), custom executors and
    /// completed frameworks.
    pub(crate) fn reregister_message(&self) -> ReregisterSlaveMessage {
        let mut message = ReregisterSlaveMessage {
            slave: self.info.clone(),
            checkpointed_resources: self.checkpointed_resources.clone(),
            version: Some(MESOS_VERSION.to_string()),
            agent_capabilities: self.config.capabilities.clone(),
            resource_version_uuid: Some(self.resource_version.clone()),
            ..Default::default()
        };
        for framework in self.frameworks.values() {
            message.frameworks.push(framework.info.clone());
            for executor in framework.executors.values() {
                message.tasks.extend(executor.launched_tasks.values().cloned());
                message.tasks.extend(executor.terminated_tasks.values().cloned());
                for task in &executor.queued_tasks {
                    message.tasks.push(create_task(task, TaskState::TaskStaging, &framework.id));
                }
                // The master does not keep the executors the agent made for
                // command tasks.
                if !executor.generated_for_command_task && executor.state != ExecutorState::Terminated {
                    let mut info = executor.info.clone();
                    if info.framework_id.is_none() {
                        info.framework_id = framework.info.id.clone();
                    }
                    message.executor_infos.push(info);
                }
            }
        }
        for framework in &self.completed_frameworks {
            let mut archived = archive::Framework {
                framework_info: framework.info.clone(),
                pid: framework.pid.as_ref().map(|p| p.to_string()),
                tasks: Vec::new(),
            };
            for executor in &framework.completed_executors {
                archived.tasks.extend(executor.terminated_tasks.values().cloned());
                archived.tasks.extend(executor.completed_tasks.iter().cloned());
            }
            message.completed_frameworks.push(archived);
        }
        message
    }

    fn ping_timeout_from(connection: Option<&MasterSlaveConnection>) -> Duration {
        match connection.and_then(|c| c.total_ping_timeout_seconds) {
            Some(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
            _ => DEFAULT_MASTER_PING_TIMEOUT,
        }
    }

    fn start_ping_timer(&mut self, fx: &mut Vec<Effect>) {
        self.ping_generation += 1;
        self.timer(TimerId::Ping { generation: self.ping_generation }, self.master_ping_timeout, fx);
    }

    /// `SlaveRegisteredMessage`.
    pub(crate) fn on_registered(
        &mut self,
        from: &Upid,
        slave_id: &SlaveId,
        connection: Option<&MasterSlaveConnection>,
        fx: &mut Vec<Effect>,
    ) {
        if self.master.as_ref() != Some(from) {
            tracing::warn!("Ignoring registration message from {from} because it is not the expected master");
            return;
        }
        self.master_ping_timeout = Self::ping_timeout_from(connection);
        match self.state {
            AgentState::Disconnected => {
                tracing::info!("Registered with master {from}; given agent ID {}", slave_id.value);
                if !crate::agent::paths::is_safe_component(&slave_id.value) {
                    fx.push(Effect::Exit { status: 1, message: format!("Invalid agent ID '{}'", slave_id.value) });
                    return;
                }
                self.state = AgentState::Running;
                self.registration_generation += 1;
                self.info.id = Some(slave_id.clone());
                fx.extend(state::write_agent_info(&self.meta, &self.info).into_iter().map(Effect::Fs));
                let outputs = self.tsum.resume();
                self.apply_tsum(outputs, fx);
                self.start_ping_timer(fx);
            }
            AgentState::Running => {
                if self.info.id.as_ref() != Some(slave_id) {
                    fx.push(Effect::Exit {
                        status: 1,
                        message: format!(
                            "Registered but got wrong id: {} (expected: {}). Committing suicide",
                            slave_id.value,
                            self.agent_id()
                        ),
                    });
                    return;
                }
                tracing::warn!("Already registered with master {from}");
            }
            AgentState::Terminating => {
                tracing::warn!("Ignoring registration because agent is terminating");
            }
            AgentState::Recovering => {
                tracing::warn!("Ignoring registration while recovering");
                return;
            }
        }
        self.send_update_slave(fx);
    }

    /// `SlaveReregisteredMessage`.
    pub(crate) fn on_reregistered(&mut self, from: &Upid, message: SlaveReregisteredMessage, fx: &mut Vec<Effect>) {
        if self.master.as_ref() != Some(from) {
            tracing::warn!("Ignoring re-registration message from {from} because it is not the expected master");
            return;
        }
        if self.info.id.as_ref() != Some(&message.slave_id) {
            fx.push(Effect::Exit {
                status: 1,
                message: format!(
                    "Re-registered but got wrong id: {} (expected: {}). Committing suicide",
                    message.slave_id.value,
                    self.agent_id()
                ),
            });
            return;
        }
        self.master_ping_timeout = Self::ping_timeout_from(message.connection.as_ref());
        match self.state {
            AgentState::Disconnected => {
                tracing::info!("Re-registered with master {from}");
                self.state = AgentState::Running;
                self.registration_generation += 1;
                let outputs = self.tsum.resume();
                self.apply_tsum(outputs, fx);
                self.start_ping_timer(fx);
            }
            AgentState::Running => tracing::warn!("Already reregistered with master {from}"),
            AgentState::Terminating => {
                tracing::warn!("Ignoring re-registration because agent is terminating");
                return;
            }
            AgentState::Recovering => {
                tracing::warn!("Ignoring re-registration while recovering");
                return;
            }
        }
        self.send_update_slave(fx);

        // Tasks the master knows but this agent does not: terminal updates
        // so the master forgets them.
        for reconcile in message.reconciliations {
            let framework_id = reconcile.framework_id.value.clone();
            let partition_aware =
                reconcile.framework.as_ref().is_some_and(|f| has_capability(f, FrameworkCapability::PartitionAware));
            for status in reconcile.statuses {
                let task_id = status.task_id.value;
                if self.frameworks.get(&framework_id).is_some_and(|f| f.has_task(&task_id)) {
                    continue;
                }
                let state = Self::dropped_or_lost(partition_aware);
                tracing::warn!(
                    "Agent reconciling task {task_id} of framework {framework_id} in state {}: task unknown to the agent",
                    state.as_str_name()
                );
                let update = self.agent_update(
                    &framework_id,
                    &task_id,
                    state,
                    "Reconciliation: task unknown to the agent",
                    Reason::Reconciliation,
                    None,
                );
                match self.tsum.update(update, None) {
                    Ok((_, outputs)) => self.apply_tsum(outputs, fx),
                    Err(e) => tracing::error!("Failed to handle reconciliation update: {e}"),
                }
            }
        }
    }

    /// After (re)registration: the agent's resource and operation state
    /// (Mesos sends it because it advertises RESOURCE_PROVIDER).
    fn send_update_slave(&mut self, fx: &mut Vec<Effect>) {
        let message = UpdateSlaveMessage {
            slave_id: self.slave_id(),
            update_oversubscribed_resources: Some(true),
            oversubscribed_resources: Vec::new(),
            operations: Some(update_slave_message::Operations::default()),
            resource_version_uuid: Some(self.resource_version.clone()),
            resource_providers: Some(update_slave_message::ResourceProviders::default()),
        };
        self.send_master(message, fx);
    }

    /// `PingSlaveMessage`.
    pub(crate) fn on_ping(&mut self, from: &Upid, connected: bool, fx: &mut Vec<Effect>) {
        tracing::trace!("Received ping from {from}");
        if !connected && self.state == AgentState::Running {
            tracing::info!(
                "Master marked the agent as disconnected but the agent considers itself registered! Forcing re-registration."
            );
            self.redetect(fx);
        }
        self.start_ping_timer(fx);
        self.send(from, PongSlaveMessage {}, fx);
    }

    pub(crate) fn on_ping_timeout(&mut self, fx: &mut Vec<Effect>) {
        tracing::info!("No pings from master received within {:?}", self.master_ping_timeout);
        self.redetect(fx);
    }

    /// `ShutdownMessage` from the master, or SIGUSR1 (`from` = None):
    /// shut every framework down, then exit.
    pub(crate) fn shutdown(&mut self, from: Option<&Upid>, message: &str, fx: &mut Vec<Effect>) {
        if let Some(from) = from {
            if self.master.as_ref() != Some(from) {
                tracing::warn!("Ignoring shutdown message from {from} because it is not from the registered master");
                return;
            }
            tracing::info!(
                "Agent asked to shut down by {from}{}",
                if message.is_empty() { String::new() } else { format!(" because '{message}'") }
            );
        } else if self.info.id.is_some() {
            tracing::info!("{message}; unregistering and shutting down");
            let unregister = UnregisterSlaveMessage { slave_id: self.slave_id() };
            self.send_master(unregister, fx);
        } else {
            tracing::info!("{message}; shutting down");
        }
        self.state = AgentState::Terminating;
        if self.frameworks.is_empty() {
            fx.push(Effect::Exit { status: 0, message: "Agent terminating".into() });
            return;
        }
        let ids: Vec<String> = self.frameworks.keys().cloned().collect();
        for id in ids {
            self.shutdown_framework(None, &id, fx);
        }
        if self.frameworks.is_empty()
            && self.state == AgentState::Terminating
            && !fx.iter().any(|e| matches!(e, Effect::Exit { .. }))
        {
            fx.push(Effect::Exit { status: 0, message: "Agent terminating".into() });
        }
    }

    /// `CheckpointResourcesMessage`: the dynamic reservations and persistent
    /// volumes the master says this agent has.
    pub(crate) fn on_checkpoint_resources(&mut self, resources: Vec<Resource>, fx: &mut Vec<Effect>) {
        let mut resources = resources;
        crate::common::resources::format::upgrade_resources(&mut resources);
        if resources.iter().any(|r| r.provider_id.is_some()) {
            tracing::error!("Ignoring checkpointed resources of resource providers");
            return;
        }
        self.checkpoint_resource_state(resources, true, fx);
    }

    fn checkpoint_resource_state(&mut self, resources: Vec<Resource>, change_total: bool, fx: &mut Vec<Effect>) {
        let new = Resources::from_protos(&resources);
        let old = Resources::from_protos(&self.checkpointed_resources);
        if new.contains(&old) && old.contains(&new) {
            tracing::debug!("Ignoring new checkpointed resources identical to the current version");
            return;
        }
        let total = match apply_checkpointed_resources(&Resources::from_protos(&self.info.resources), &new) {
            Ok(total) => total,
            Err(e) => {
                fx.push(Effect::Exit {
                    status: 1,
                    message: format!("Failed to apply checkpointed resources to the agent's resources: {e}"),
                });
                return;
            }
        };
        if change_total {
            self.total_resources = total;
        }
        // Persistent volumes need their directories.
        for item in &new {
            if item.is_persistent_volume() && !old.contains_item(item) {
                let r = item.to_proto();
                let role = item.reservation_role().unwrap_or("*").to_string();
                if let Some(id) = r.disk.as_ref().and_then(|d| d.persistence.as_ref()).map(|p| p.id.clone()) {
                    let path = self.config.work_dir.join("volumes").join("roles").join(&role).join(id);
                    fx.push(Effect::Fs(FsOp::Mkdir { path }));
                }
            }
        }
        let protos = new.to_protos();
        fx.extend(state::write_checkpointed_resources(&self.meta, &protos, &[]).into_iter().map(Effect::Fs));
        tracing::info!("Updated checkpointed resources to {:?}", new);
        self.checkpointed_resources = protos;
    }

    /// `ApplyOperationMessage`: speculative operations (RESERVE, UNRESERVE,
    /// CREATE, DESTROY) on the agent's own resources are applied at once and
    /// reported finished.
    pub(crate) fn on_apply_operation(&mut self, message: ApplyOperationMessage, fx: &mut Vec<Effect>) {
        let operation = &message.operation_info;
        if operation_resources(operation).iter().any(|r| r.provider_id.is_some()) {
            tracing::error!("Ignoring an operation on resource provider resources: none is attached to this agent");
            return;
        }
        let mut stripped = operation.clone();
        strip_allocation_info(&mut stripped);
        let result = conversions(&stripped).and_then(|c| {
            let c: Vec<_> = c.iter().map(|c| c.unallocated()).collect();
            self.total_resources.apply_all(&c)
        });
        let (state, message_text) = match result {
            Ok(total) => {
                self.total_resources = total;
                let checkpointed: Vec<Resource> = self.total_resources.filter(needs_checkpointing).to_protos();
                self.checkpoint_resource_state(checkpointed, false, fx);
                (OperationState::OperationFinished, None)
            }
            Err(e) => {
                tracing::error!("Failed to apply operation: {e}");
                (OperationState::OperationFailed, Some(e.to_string()))
            }
        };
        let mut status = OperationStatus {
            operation_id: operation.id.clone(),
            message: message_text,
            uuid: Some(Uuid { value: self.random_uuid().as_bytes().to_vec() }),
            slave_id: Some(self.slave_id()),
            ..Default::default()
        };
        status.set_state(state);
        let update = UpdateOperationStatusMessage {
            framework_id: message.framework_id.clone(),
            slave_id: Some(self.slave_id()),
            status: status.clone(),
            latest_status: Some(status),
            operation_uuid: Some(message.operation_uuid.clone()),
        };
        if self.state == AgentState::Running {
            self.send_master(update, fx);
        }
    }
}

/// The resources a speculative operation names.
fn operation_resources(operation: &crate::proto::mesos::offer::Operation) -> Vec<&Resource> {
    let mut out: Vec<&Resource> = Vec::new();
    if let Some(r) = &operation.reserve {
        out.extend(r.resources.iter().chain(r.source.iter()));
    }
    if let Some(r) = &operation.unreserve {
        out.extend(r.resources.iter());
    }
    if let Some(c) = &operation.create {
        out.extend(c.volumes.iter());
    }
    if let Some(d) = &operation.destroy {
        out.extend(d.volumes.iter());
    }
    out
}

/// Removes `allocation_info` from every resource of an offer operation.
fn strip_allocation_info(operation: &mut crate::proto::mesos::offer::Operation) {
    let strip = |rs: &mut Vec<Resource>| rs.iter_mut().for_each(|r| r.allocation_info = None);
    if let Some(r) = operation.reserve.as_mut() {
        strip(&mut r.resources);
        strip(&mut r.source);
    }
    if let Some(r) = operation.unreserve.as_mut() {
        strip(&mut r.resources);
    }
    if let Some(c) = operation.create.as_mut() {
        strip(&mut c.volumes);
    }
    if let Some(d) = operation.destroy.as_mut() {
        strip(&mut d.volumes);
    }
}
