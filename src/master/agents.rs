//! Agents: registration and reregistration (with the registry in between),
//! health checks, disconnection, unreachable and removed agents (Mesos's
//! `registerSlave`, `reregisterSlave` and their continuations,
//! `SlaveObserver`, `exited`, `markUnreachable`, `removeSlave`, ...).

use std::collections::HashMap;

use crate::common::resources::ops::{apply_checkpointed_resources, needs_checkpointing};
use crate::common::resources::{downgrade_resources, upgrade_resources, Resources};
use crate::proto::mesos::internal::{
    CheckpointResourcesMessage, LostSlaveMessage, MasterSlaveConnection, PingSlaveMessage, ReconcileTasksMessage,
    RegisterSlaveMessage, ReregisterSlaveMessage, ShutdownFrameworkMessage, ShutdownMessage, SlaveRegisteredMessage,
    SlaveReregisteredMessage, UpdateFrameworkMessage, UpdateSlaveMessage,
};
use crate::proto::mesos::task_status::{Reason, Source};
use crate::proto::mesos::{
    resource::AllocationInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, TaskState, TaskStatus, TimeInfo,
};
use crate::v0_compat::Upid;

use super::config::MINIMUM_AGENT_VERSION;
use super::event::{Effect, Now, Timer};
use super::frameworks::EMPTY_UPID;
use super::registry::RegistryOp;
use super::state::{
    is_terminal, task_state, Agent, AgentCaps, AgentRegistration, Master, Observer, Pending, RemovalReason,
};
use super::validation;

/// Parses a Mesos version (`X[.Y[.Z]][-prerelease][+build]`) to compare it.
pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut nums = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        nums[i] = p.parse().ok()?;
    }
    Some((nums[0], nums[1], nums[2]))
}

impl Master {
    fn new_agent_id(&mut self) -> SlaveId {
        let id = format!("{}-S{}", self.info.id, self.next_agent_id);
        self.next_agent_id += 1;
        SlaveId { value: id }
    }

    fn connection(&self) -> MasterSlaveConnection {
        MasterSlaveConnection { total_ping_timeout_seconds: Some(self.config.total_ping_timeout_secs()) }
    }

    /// The version and domain checks shared by registration and
    /// reregistration; `Err` carries the reason to log.
    fn check_agent(&self, pid: &Upid, info: &SlaveInfo, version: Option<&str>) -> Result<(), String> {
        let version = version.unwrap_or("");
        match parse_version(version) {
            None => return Err(format!("Failed to parse version '{version}' of agent at {pid}; ignoring agent")),
            Some(v) if v < MINIMUM_AGENT_VERSION => {
                return Err(format!(
                    "Ignoring registration attempt from old agent at {pid}: agent version is {version}, minimum \
                     supported agent version is 1.0.0"
                ))
            }
            Some(_) => {}
        }
        if info.domain.is_some() && self.config.domain.is_none() {
            return Err(format!(
                "Agent at {pid} is configured with a domain but the master has no configured domain. Ignoring agent \
                 registration attempt"
            ));
        }
        if self.config.require_agent_domain && info.domain.is_none() {
            return Err(format!(
                "Agent at {pid} attempted to register without a domain, but this master is configured to require \
                 agent domains. Ignoring agent registration attempt"
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // Registration

    pub(crate) fn on_register_slave(&mut self, now: Now, from: &Upid, mut message: RegisterSlaveMessage) {
        self.metrics.messages_register_slave += 1;
        if self.config.authenticate_agents {
            tracing::warn!("Refusing registration of agent at {} because it is not authenticated", from);
            return;
        }
        if let Err(e) = validation::validate_register_slave(&message) {
            tracing::warn!("Dropping registration of agent at {} because it sent an invalid registration: {}", from, e);
            return;
        }
        if self.agents.registering.contains(from) {
            tracing::info!(
                "Ignoring register agent message from {} ({}) as registration is already in progress",
                from,
                message.slave.hostname
            );
            return;
        }
        tracing::info!("Received register agent message from {} ({})", from, message.slave.hostname);
        upgrade_resources(&mut message.slave.resources);
        upgrade_resources(&mut message.checkpointed_resources);
        if let Err(e) = self.check_agent(from, &message.slave, message.version.as_deref()) {
            tracing::warn!("{}", e);
            return;
        }
        if self.refuse_down_machine(from, &message.slave.hostname) {
            return;
        }
        if let Some(aid) = self.agents.by_pid.get(from).cloned() {
            let connected = self.agents.registered.get(&aid).is_some_and(|a| a.connected);
            if !connected {
                tracing::info!(
                    "Removing old disconnected agent {} because a registration attempt occurred",
                    self.agent_label(&aid)
                );
                self.remove_agent(&aid, "a new agent registered at the same address", RemovalReason::Registered);
            } else {
                tracing::info!("Agent {} already registered, resending acknowledgement", self.agent_label(&aid));
                let reply = SlaveRegisteredMessage { slave_id: aid, connection: Some(self.connection()) };
                self.send(from, reply);
                return;
            }
        }
        self.agents.registering.insert(from.clone());
        let id = self.new_agent_id();
        tracing::info!("Registering agent at {} ({}) with id {}", from, message.slave.hostname, id.value);
        message.slave.id = Some(id);
        let op = RegistryOp::AdmitSlave(Box::new(message.slave.clone()));
        self.registry(op, Pending::AdmitAgent { pid: from.clone(), message: Box::new(message) });
        let _ = now;
    }

    /// `__registerSlave`: the agent is admitted in the registry.
    pub(crate) fn agent_admitted(&mut self, now: Now, pid: Upid, message: RegisterSlaveMessage, admitted: bool) {
        self.agents.registering.shift_remove(&pid);
        let info = message.slave;
        let id = info.id.clone().unwrap_or_default();
        if !admitted {
            tracing::warn!(
                "Agent {} at {} ({}) was assigned an agent ID that already appears in the registry; ignoring \
                 registration attempt",
                id.value,
                pid,
                info.hostname
            );
            return;
        }
        let checkpointed = Resources::from_protos(&message.checkpointed_resources);
        let total = match apply_checkpointed_resources(&Resources::from_protos(&info.resources), &checkpointed) {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!("Refusing registration of agent {} at {}: {}", id.value, pid, e.0);
                return;
            }
        };
        let registration = AgentRegistration {
            info,
            pid: pid.clone(),
            version: message.version.clone(),
            capabilities: message.agent_capabilities,
            checkpointed,
            total,
            resource_version: message.resource_version_uuid,
        };
        let agent = Agent::new(id.clone(), registration, now.secs(), false);
        self.metrics.slave_registrations += 1;
        let hostname = agent.info.hostname.clone();
        let resources = Resources::from_protos(&agent.info.resources);
        self.add_agent(now, agent, Vec::new());
        let reply = SlaveRegisteredMessage { slave_id: id.clone(), connection: Some(self.connection()) };
        self.send(&pid, reply);
        tracing::info!("Registered agent {} at {} ({}) with {}", id.value, pid, hostname, resources);
    }

    /// `addSlave`: books the agent, links to it, starts its health checks
    /// and gives its resources to the allocator.
    fn add_agent(&mut self, now: Now, agent: Agent, completed: Vec<crate::proto::mesos::internal::archive::Framework>) {
        let id = agent.id.clone();
        let pid = agent.pid.clone();
        self.emit(Effect::Link(pid.clone()));
        let mut used: HashMap<FrameworkId, Resources> = HashMap::new();
        for (fid, r) in &agent.used {
            used.insert(fid.clone(), r.clone());
        }
        let info = agent.info.clone();
        let capabilities = agent.capabilities.clone();
        let total = agent.total.clone();
        self.agents.by_pid.insert(pid, id.clone());
        self.agents.registered.insert(id.clone(), agent);
        self.start_observer(now, &id);

        // Tell registered frameworks about their executors and tasks there.
        let agent = &self.agents.registered[&id];
        let mut executors = Vec::new();
        for (fid, map) in &agent.executors {
            for executor in map.values() {
                executors.push((fid.clone(), executor.clone()));
            }
        }
        let mut tasks = Vec::new();
        for (fid, map) in &agent.tasks {
            for task in map.values() {
                tasks.push((fid.clone(), task.clone()));
            }
        }
        for (fid, executor) in executors {
            let resources = Resources::from_protos(&executor.resources);
            if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                fw.total_used += &resources;
                *fw.used.entry(id.clone()).or_default() += &resources;
                fw.executors.entry(id.clone()).or_default().insert(executor.executor_id.clone(), executor);
            }
        }
        for (fid, task) in tasks {
            let resources = Resources::from_protos(&task.resources);
            let live = !is_terminal(task_state(&task));
            let role = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
            if self.frameworks.registered.contains_key(&fid) {
                self.task_added_event(&task);
            }
            if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                fw.tasks.insert(task.task_id.clone(), id.clone());
                if live {
                    fw.total_used += &resources;
                    *fw.used.entry(id.clone()).or_default() += &resources;
                }
                if let (true, Some(role)) = (live, role) {
                    self.track_under_role(&fid, &role);
                }
            }
        }
        let limit = self.config.max_completed_tasks_per_framework;
        for archived in completed {
            let fid = archived.framework_info.id.clone().unwrap_or_default();
            for task in archived.tasks {
                match self.frameworks.registered.get_mut(&fid) {
                    Some(fw) => fw.add_completed_task(task, limit),
                    None => tracing::warn!(
                        "Possibly orphaned completed task {} of framework {} that ran on agent {}",
                        task.task_id.value,
                        fid.value,
                        id.value
                    ),
                }
            }
        }
        if let Err(e) = self.allocator.add_agent(info, &capabilities, total, &used) {
            tracing::error!("Allocator refused agent {}: {}", id.value, e);
        }
        self.agent_added_event(&id);
    }

    // ---------------------------------------------------------------
    // Health checks (Mesos's SlaveObserver)

    fn start_observer(&mut self, now: Now, id: &SlaveId) {
        let epoch = self.epoch();
        if let Some(agent) = self.agents.registered.get_mut(id) {
            agent.observer = Observer { epoch, timeouts: 0, pinged: false };
        }
        self.ping(now, id);
    }

    fn ping(&mut self, now: Now, id: &SlaveId) {
        let Some(agent) = self.agents.registered.get_mut(id) else { return };
        agent.observer.pinged = true;
        let (pid, connected, epoch) = (agent.pid.clone(), agent.connected, agent.observer.epoch);
        self.send(&pid, PingSlaveMessage { connected });
        self.emit(Effect::Timer {
            at: now.after(self.config.agent_ping_timeout),
            timer: Timer::Ping { agent: id.clone(), epoch },
        });
    }

    pub(crate) fn on_ping_timer(&mut self, now: Now, id: &SlaveId, epoch: u64) {
        let Some(agent) = self.agents.registered.get_mut(id) else { return };
        if agent.observer.epoch != epoch {
            return;
        }
        if agent.observer.pinged {
            agent.observer.timeouts += 1;
            if agent.observer.timeouts >= self.config.max_agent_ping_timeouts {
                let info = agent.info.clone();
                self.metrics.slave_unreachable_scheduled += 1;
                self.metrics.slave_unreachable_completed += 1;
                self.mark_unreachable(now, info, false, "health check timed out");
            }
        }
        // Pinging goes on while the transition is in progress: a pong
        // would still prove the agent alive.
        self.ping(now, id);
    }

    pub(crate) fn on_pong(&mut self, from: &Upid) {
        let Some(id) = self.agents.by_pid.get(from).cloned() else { return };
        if let Some(agent) = self.agents.registered.get_mut(&id) {
            agent.observer.timeouts = 0;
            agent.observer.pinged = false;
        }
    }

    // ---------------------------------------------------------------
    // Disconnection

    /// The connection to a registered agent broke (`Master::exited`).
    pub(crate) fn agent_exited(&mut self, now: Now, id: &SlaveId) {
        let Some(agent) = self.agents.registered.get(id) else { return };
        tracing::info!("Agent {} disconnected", self.agent_label(id));
        if !agent.connected {
            tracing::warn!("Ignoring duplicate exited() notification for agent {}", self.agent_label(id));
            return;
        }
        self.disconnect_agent(now, id);
        // Frameworks that do not checkpoint lose their tasks there at once.
        let agent = &self.agents.registered[id];
        let mut frameworks: Vec<FrameworkId> = agent.tasks.keys().cloned().collect();
        for fid in agent.executors.keys() {
            if !frameworks.contains(fid) {
                frameworks.push(fid.clone());
            }
        }
        for fid in frameworks {
            let Some(fw) = self.frameworks.registered.get(&fid) else { continue };
            if !fw.info.checkpoint() {
                tracing::info!(
                    "Removing framework {} from disconnected agent {} because the framework is not checkpointing",
                    self.framework_label(&fid),
                    self.agent_label(id)
                );
                self.remove_framework_from_agent(now, id, &fid);
            }
        }
        let epoch = self.epoch();
        if let Some(agent) = self.agents.registered.get_mut(id) {
            agent.reregister_epoch = epoch;
        }
        self.emit(Effect::Timer {
            at: now.after(self.config.agent_reregister_timeout),
            timer: Timer::AgentReregister { agent: id.clone(), epoch },
        });
    }

    fn disconnect_agent(&mut self, now: Now, id: &SlaveId) {
        tracing::info!("Disconnecting agent {}", self.agent_label(id));
        if let Some(agent) = self.agents.registered.get_mut(id) {
            agent.connected = false;
        }
        self.deactivate_agent(now, id);
    }

    /// `deactivate(Slave*)`: no offers from it; outstanding ones rescinded.
    pub(crate) fn deactivate_agent(&mut self, now: Now, id: &SlaveId) {
        tracing::info!("Deactivating agent {}", self.agent_label(id));
        let Some(agent) = self.agents.registered.get_mut(id) else { return };
        agent.active = false;
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let _ = self.allocator.deactivate_agent(id);
        for offer in offers {
            self.rescind_offer(now, &offer, None);
        }
    }

    /// `removeFramework(Slave*, Framework*)`: a non-checkpointing
    /// framework's tasks on a disconnected agent are lost.
    fn remove_framework_from_agent(&mut self, now: Now, aid: &SlaveId, fid: &FrameworkId) {
        let Some(agent) = self.agents.registered.get(aid) else { return };
        let hostname = agent.info.hostname.clone();
        let tasks: Vec<_> = agent.tasks.get(fid).map(|m| m.values().cloned().collect()).unwrap_or_default();
        for task in tasks {
            let update = self.master_update(
                fid,
                Some(aid),
                &task.task_id,
                TaskState::TaskLost,
                &format!("Agent {hostname} disconnected"),
                Reason::SlaveDisconnected,
                task.executor_id.clone(),
                None,
            );
            self.update_task(now, aid, fid, &task.task_id, &update);
            self.remove_task(now, aid, fid, &task.task_id, false);
            if self.frameworks.registered.get(fid).is_some_and(|f| f.connected()) {
                self.forward(update, None, fid);
            }
        }
        let executors: Vec<_> =
            self.agents.registered[aid].executors.get(fid).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for executor in executors {
            self.remove_executor(now, aid, fid, &executor);
        }
    }

    pub(crate) fn on_agent_reregister_timeout(&mut self, now: Now, id: &SlaveId, epoch: u64) {
        let Some(agent) = self.agents.registered.get(id) else { return };
        if agent.connected || agent.reregister_epoch != epoch {
            return;
        }
        let info = agent.info.clone();
        self.metrics.slave_unreachable_scheduled += 1;
        self.metrics.slave_unreachable_completed += 1;
        let message = format!(
            "agent did not reregister within {} after disconnecting",
            crate::common::units::format_duration(self.config.agent_reregister_timeout)
        );
        self.mark_unreachable(now, info, false, &message);
    }

    // ---------------------------------------------------------------
    // Unreachable, removed

    /// `markUnreachable`: moves the agent to the registry's unreachable
    /// list, then removes it (its tasks become TASK_UNREACHABLE or
    /// TASK_LOST). Returns false if the transition does not apply.
    pub(crate) fn mark_unreachable(&mut self, now: Now, info: SlaveInfo, during_failover: bool, message: &str) -> bool {
        let id = info.id.clone().unwrap_or_default();
        let skip = |why: &str| {
            tracing::warn!(
                "Skipping transition of agent {} ({}) to unreachable because {}",
                id.value,
                info.hostname,
                why
            );
            false
        };
        if during_failover && !self.agents.recovered.contains_key(&id) {
            return skip("it reregistered in the interim");
        }
        if !during_failover && !self.agents.registered.contains_key(&id) {
            return skip("it has already been removed or marked unreachable");
        }
        if self.agents.reregistering.contains(&id) {
            return skip("it is reregistering");
        }
        if self.agents.marking_unreachable.contains(&id) {
            return skip("another unreachable transition is already in progress");
        }
        if self.agents.removing.contains(&id) {
            return skip("it is being removed");
        }
        if self.agents.removed.contains(&id) {
            return skip("it has been removed");
        }
        if self.agents.marking_gone.contains(&id) {
            return skip("it is being marked as gone");
        }
        if self.agents.gone.contains_key(&id) {
            return skip("it has been marked as gone");
        }
        tracing::info!("Marking agent {} ({}) unreachable: {}", id.value, info.hostname, message);
        self.agents.marking_unreachable.insert(id);
        let time = TimeInfo { nanoseconds: now.nanos() };
        let op = RegistryOp::MarkSlaveUnreachable { info: Box::new(info.clone()), time };
        let pending = Pending::MarkUnreachable { info: Box::new(info), time, during_failover, message: message.into() };
        self.registry(op, pending);
        true
    }

    /// `_markUnreachable`.
    pub(crate) fn agent_marked_unreachable(
        &mut self,
        now: Now,
        info: SlaveInfo,
        time: TimeInfo,
        during_failover: bool,
        message: &str,
        permitted: bool,
    ) {
        let id = info.id.clone().unwrap_or_default();
        self.agents.marking_unreachable.shift_remove(&id);
        if !permitted {
            tracing::error!("The registry refused to mark agent {} unreachable", id.value);
            return;
        }
        tracing::info!("Marked agent {} ({}) unreachable: {}", id.value, info.hostname, message);
        self.metrics.slave_removals += 1;
        self.metrics.slave_removals_reason_unhealthy += 1;
        self.agents.unreachable.insert(id.clone(), time);
        if during_failover {
            self.agents.recovered.shift_remove(&id);
            self.metrics.recovery_slave_removals += 1;
            self.send_agent_lost(&id);
        } else if self.agents.registered.contains_key(&id) {
            self.remove_agent_records(now, &id, message, Some(time));
        }
    }

    /// `__removeSlave`: an unreachable (or gone) agent leaves the books.
    /// Tasks of partition-aware frameworks become TASK_UNREACHABLE (or
    /// TASK_GONE_BY_OPERATOR when gone); others TASK_LOST.
    pub(crate) fn remove_agent_records(
        &mut self,
        now: Now,
        id: &SlaveId,
        message: &str,
        unreachable_time: Option<TimeInfo>,
    ) {
        let _ = self.allocator.remove_agent(id);
        let frameworks: Vec<FrameworkId> = self.agents.registered[id].tasks.keys().cloned().collect();
        for fid in frameworks {
            let partition_aware = self.frameworks.registered.get(&fid).is_some_and(|f| f.caps.partition_aware);
            let (state, reason, unreachable) = if !partition_aware {
                (TaskState::TaskLost, Reason::SlaveRemoved, true)
            } else if unreachable_time.is_some() {
                (TaskState::TaskUnreachable, Reason::SlaveRemoved, true)
            } else {
                (TaskState::TaskGoneByOperator, Reason::SlaveRemovedByOperator, false)
            };
            let tasks: Vec<_> = self.agents.registered[id].tasks[&fid].values().cloned().collect();
            for task in tasks {
                let update = self.master_update(
                    &fid,
                    Some(id),
                    &task.task_id,
                    state,
                    message,
                    reason,
                    task.executor_id.clone(),
                    unreachable_time,
                );
                self.update_task(now, id, &fid, &task.task_id, &update);
                self.remove_task(now, id, &fid, &task.task_id, unreachable);
                if self.frameworks.registered.get(&fid).is_some_and(|f| f.connected()) {
                    self.forward(update, None, &fid);
                } else {
                    tracing::warn!(
                        "Dropping update for task {} of disconnected framework {}",
                        task.task_id.value,
                        fid.value
                    );
                }
            }
        }
        self.drop_agent(now, id);
    }

    /// What `_removeSlave` and `__removeSlave` share after the tasks:
    /// executors, offers, the books, frameworks told the agent is lost.
    fn drop_agent(&mut self, now: Now, id: &SlaveId) {
        let executors: Vec<_> = self.agents.registered[id]
            .executors
            .iter()
            .flat_map(|(f, m)| m.keys().map(move |e| (f.clone(), e.clone())))
            .collect();
        for (fid, eid) in executors {
            self.remove_executor(now, id, &fid, &eid);
        }
        let offers: Vec<_> = self.agents.registered[id].offers.iter().cloned().collect();
        for offer in offers {
            self.rescind_offer(now, &offer, None);
        }
        if let Some(agent) = self.agents.registered.shift_remove(id) {
            if self.agents.by_pid.get(&agent.pid) == Some(id) {
                self.agents.by_pid.shift_remove(&agent.pid);
            }
        }
        self.agents.mark_removed(id.clone());
        self.send_agent_lost(id);
    }

    /// `sendSlaveLost`: every connected framework hears of it.
    fn send_agent_lost(&mut self, id: &SlaveId) {
        let frameworks: Vec<FrameworkId> =
            self.frameworks.registered.values().filter(|f| f.connected()).map(|f| f.id()).collect();
        for fid in frameworks {
            tracing::info!("Notifying framework {} of lost agent {}", self.framework_label(&fid), id.value);
            self.send_framework(&fid, LostSlaveMessage { slave_id: id.clone() }.into());
        }
    }

    /// `removeSlave`: the agent is removed from the registry, then from the
    /// books (its tasks become TASK_LOST).
    pub(crate) fn remove_agent(&mut self, id: &SlaveId, cause: &str, reason: RemovalReason) {
        let label = self.agent_label(id);
        if self.agents.marking_unreachable.contains(id) {
            tracing::warn!("Ignoring removal of agent {} that is in the process of being marked unreachable", label);
            return;
        }
        if self.agents.marking_gone.contains(id) {
            tracing::warn!("Ignoring removal of agent {} that is in the process of being marked gone", label);
            return;
        }
        if self.agents.removing.contains(id) {
            tracing::warn!("Ignoring removal of agent {} that is in the process of being removed", label);
            return;
        }
        let Some(agent) = self.agents.registered.get(id) else { return };
        let info = agent.info.clone();
        self.agents.removing.insert(id.clone());
        tracing::info!("Removing agent {}: {}", label, cause);
        let pending = Pending::RemoveAgent { agent: id.clone(), cause: cause.into(), reason };
        self.registry(RegistryOp::RemoveSlave(Box::new(info)), pending);
    }

    /// `_removeSlave`.
    pub(crate) fn agent_removed(
        &mut self,
        now: Now,
        id: &SlaveId,
        cause: &str,
        reason: RemovalReason,
        permitted: bool,
    ) {
        self.agents.removing.shift_remove(id);
        if !permitted {
            tracing::error!("Agent {} already removed from the registrar", id.value);
            return;
        }
        let Some(agent) = self.agents.registered.get(id) else { return };
        let hostname = agent.info.hostname.clone();
        tracing::info!("Removed agent {}: {}", self.agent_label(id), cause);
        self.metrics.slave_removals += 1;
        match reason {
            RemovalReason::Registered => self.metrics.slave_removals_reason_registered += 1,
            RemovalReason::Unregistered => self.metrics.slave_removals_reason_unregistered += 1,
        }
        let _ = self.allocator.remove_agent(id);
        let frameworks: Vec<FrameworkId> = self.agents.registered[id].tasks.keys().cloned().collect();
        for fid in frameworks {
            let tasks: Vec<_> = self.agents.registered[id].tasks[&fid].values().cloned().collect();
            for task in tasks {
                let update = self.master_update(
                    &fid,
                    Some(id),
                    &task.task_id,
                    TaskState::TaskLost,
                    &format!("Agent {hostname} removed: {cause}"),
                    Reason::SlaveRemoved,
                    task.executor_id.clone(),
                    None,
                );
                self.update_task(now, id, &fid, &task.task_id, &update);
                self.remove_task(now, id, &fid, &task.task_id, false);
                if self.frameworks.registered.get(&fid).is_some_and(|f| f.connected()) {
                    self.forward(update, None, &fid);
                } else {
                    tracing::warn!(
                        "Dropping update for task {} of unknown framework {}",
                        task.task_id.value,
                        fid.value
                    );
                }
            }
        }
        self.agents.draining.shift_remove(id);
        self.agents.deactivated.shift_remove(id);
        self.drop_agent(now, id);
        self.agent_removed_event(id);
    }

    pub(crate) fn on_unregister_slave(&mut self, _now: Now, from: &Upid, id: &SlaveId) {
        self.metrics.messages_unregister_slave += 1;
        let Some(agent) = self.agents.registered.get(id) else {
            tracing::warn!("Ignoring unregister agent message from {} for unknown agent", from);
            return;
        };
        if &agent.pid != from {
            tracing::warn!("Ignoring unregister agent message from {} because it is not the agent {}", from, agent.pid);
            return;
        }
        self.remove_agent(id, "the agent unregistered", RemovalReason::Unregistered);
    }

    /// `recoveredSlavesTimeout`: agents admitted before the failover that
    /// did not come back are marked unreachable (unless too many did not,
    /// per `--recovery_agent_removal_limit`).
    pub(crate) fn recovered_agents_timeout(&mut self, now: Now) {
        let total = self.agents.recovered.len() + self.agents.registered.len();
        if total == 0 || self.agents.recovered.is_empty() {
            return;
        }
        let fraction = self.agents.recovered.len() as f64 / total as f64;
        if fraction > self.config.recovery_agent_removal_limit {
            let ids: Vec<&str> = self.agents.recovered.keys().map(|k| k.value.as_str()).collect();
            self.emit(Effect::Fatal(format!(
                "Post-recovery agent removal limit exceeded! After {} there were {} ({}%) agents recovered from the \
                 registry that did not reregister: {:?} The configured removal limit is {}%. Please investigate or \
                 increase this limit to proceed further",
                crate::common::units::format_duration(self.config.agent_reregister_timeout),
                self.agents.recovered.len(),
                fraction * 100.0,
                ids,
                self.config.recovery_agent_removal_limit * 100.0
            )));
            return;
        }
        let message = format!(
            "did not reregister within {} after master failover",
            crate::common::units::format_duration(self.config.agent_reregister_timeout)
        );
        let infos: Vec<SlaveInfo> = self
            .agents
            .recovered
            .iter()
            .filter(|(id, _)| !self.agents.reregistering.contains(*id))
            .map(|(_, info)| info.clone())
            .collect();
        for info in infos {
            self.metrics.slave_unreachable_scheduled += 1;
            if self.mark_unreachable(now, info, true, &message) {
                self.metrics.slave_unreachable_completed += 1;
            } else {
                self.metrics.slave_unreachable_canceled += 1;
            }
        }
    }

    // ---------------------------------------------------------------
    // Reregistration

    pub(crate) fn on_reregister_slave(&mut self, now: Now, from: &Upid, mut message: ReregisterSlaveMessage) {
        self.metrics.messages_reregister_slave += 1;
        if self.config.authenticate_agents {
            tracing::warn!("Refusing re-registration of agent at {} because it is not authenticated", from);
            return;
        }
        let id = message.slave.id.clone().unwrap_or_default();
        if self.agents.reregistering.contains(&id) {
            tracing::info!(
                "Ignoring reregister agent message from agent {} at {} ({}) as re-registration is already in progress",
                id.value,
                from,
                message.slave.hostname
            );
            return;
        }
        if self.agents.marking_gone.contains(&id) {
            tracing::info!(
                "Ignoring reregister agent message from agent {} at {} ({}) as a gone operation is already in progress",
                id.value,
                from,
                message.slave.hostname
            );
            return;
        }
        if self.agents.gone.contains_key(&id) {
            tracing::warn!("Refusing re-registration of agent at {} because it is already marked gone", from);
            self.send(from, ShutdownMessage { message: Some("Agent has been marked gone".into()) });
            return;
        }
        if self.refuse_down_machine(from, &message.slave.hostname) {
            return;
        }
        if let Err(e) = validation::validate_reregister_slave(&message) {
            tracing::warn!(
                "Dropping re-registration of agent at {} because it sent an invalid re-registration: {}",
                from,
                e
            );
            return;
        }
        tracing::info!(
            "Received reregister agent message from agent {} at {} ({})",
            id.value,
            from,
            message.slave.hostname
        );
        upgrade_resources(&mut message.slave.resources);
        upgrade_resources(&mut message.checkpointed_resources);
        for task in &mut message.tasks {
            upgrade_resources(&mut task.resources);
        }
        for executor in &mut message.executor_infos {
            upgrade_resources(&mut executor.resources);
        }
        if let Err(e) = self.check_agent(from, &message.slave, message.version.as_deref()) {
            tracing::warn!("{}", e);
            return;
        }
        self.agents.reregistering.insert(id.clone());
        let info = message.slave.clone();
        if let Some(agent) = self.agents.registered.get(&id) {
            if agent.pid.addr().ip() != from.addr().ip() || agent.info.hostname != info.hostname {
                tracing::warn!(
                    "Agent {} at {} ({}) attempted to reregister with different IP / hostname; expected {} ({}) \
                     shutting it down",
                    id.value,
                    from,
                    info.hostname,
                    agent.pid.addr().ip(),
                    agent.info.hostname
                );
                let reply = ShutdownMessage {
                    message: Some("Agent attempted to reregister with different IP / hostname".into()),
                };
                self.send(from, reply);
                self.agents.reregistering.shift_remove(&id);
                return;
            }
            if info == agent.info {
                self.agent_updated(now, from.clone(), message, true);
            } else {
                let pending = Pending::UpdateAgent { pid: from.clone(), message: Box::new(message) };
                self.registry(RegistryOp::UpdateSlave(Box::new(info)), pending);
            }
        } else if let Some(recovered) = self.agents.recovered.get(&id) {
            if info == *recovered {
                self.agent_readmitted(now, from.clone(), message, true);
            } else {
                let pending = Pending::ReadmitAgent { pid: from.clone(), message: Box::new(message) };
                self.registry(RegistryOp::UpdateSlave(Box::new(info)), pending);
            }
        } else {
            // Usually an agent that was marked unreachable; readmitted anyway
            // if the registry has forgotten it.
            let pending = Pending::ReadmitAgent { pid: from.clone(), message: Box::new(message) };
            self.registry(RegistryOp::MarkSlaveReachable(Box::new(info)), pending);
        }
    }

    fn gone_check(&mut self, pid: &Upid, id: &SlaveId) -> bool {
        if self.agents.marking_gone.contains(id) {
            tracing::info!(
                "Ignoring reregister agent message from agent {} as a gone operation is already in progress",
                id.value
            );
            self.agents.reregistering.shift_remove(id);
            return false;
        }
        if self.agents.gone.contains_key(id) {
            tracing::warn!("Refusing re-registration of agent at {} because it is already marked gone", pid);
            self.send(pid, ShutdownMessage { message: Some("Agent has been marked gone".into()) });
            self.agents.reregistering.shift_remove(id);
            return false;
        }
        true
    }

    /// `__reregisterSlave`: an agent the master does not have in its books
    /// (recovered after failover, or unreachable) comes back.
    pub(crate) fn agent_readmitted(
        &mut self,
        now: Now,
        pid: Upid,
        mut message: ReregisterSlaveMessage,
        permitted: bool,
    ) {
        let id = message.slave.id.clone().unwrap_or_default();
        if !permitted {
            tracing::error!("The registry refused to readmit agent {}", id.value);
            self.agents.reregistering.shift_remove(&id);
            return;
        }
        if !self.gone_check(&pid, &id) {
            return;
        }
        let caps = AgentCaps::of(&message.agent_capabilities);
        if !caps.multi_role {
            // Old agents do not put the allocation role into task and
            // executor resources: it is the framework's only role.
            let roles: HashMap<FrameworkId, Vec<String>> = message
                .frameworks
                .iter()
                .map(|f| {
                    (
                        f.id.clone().unwrap_or_default(),
                        crate::master::allocator::framework_roles(f).into_iter().collect(),
                    )
                })
                .collect();
            let inject = |resources: &mut Vec<crate::proto::mesos::Resource>, fid: &FrameworkId| -> bool {
                for r in resources.iter_mut().filter(|r| r.allocation_info.is_none()) {
                    match roles.get(fid).map(Vec::as_slice) {
                        Some([role]) => r.allocation_info = Some(AllocationInfo { role: Some(role.clone()) }),
                        _ => return false,
                    }
                }
                true
            };
            let mut ok = true;
            for task in &mut message.tasks {
                let fid = task.framework_id.clone();
                ok &= inject(&mut task.resources, &fid);
            }
            for executor in &mut message.executor_infos {
                let fid = executor.framework_id.clone().unwrap_or_default();
                ok &= inject(&mut executor.resources, &fid);
            }
            if !ok {
                tracing::error!(
                    "Missing 'Resource.AllocationInfo' for resources allocated to MULTI_ROLE framework on agent {}",
                    id.value
                );
                self.agents.reregistering.shift_remove(&id);
                return;
            }
        }
        let was_recovered = self.agents.recovered.contains_key(&id);
        let was_unreachable = self.agents.unreachable.contains_key(&id);
        let mut tasks = Vec::new();
        for task in std::mem::take(&mut message.tasks) {
            let fid = task.framework_id.clone();
            if self.frameworks.completed.contains_key(&fid) {
                continue;
            }
            if !was_recovered {
                if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                    fw.unreachable_tasks.shift_remove(&task.task_id);
                    fw.completed_tasks.retain(|t| t.task_id != task.task_id);
                }
                let text =
                    if was_unreachable { "Unreachable agent re-reregistered" } else { "Unknown agent reregistered" };
                let update = self.task_update(&fid, &task, task_state(&task), text, Reason::SlaveReregistered);
                match self.frameworks.registered.get(&fid) {
                    Some(fw) if fw.connected() => self.forward(update, None, &fid),
                    fw => tracing::warn!(
                        "Dropping update for task {} for {} framework {}",
                        task.task_id.value,
                        if fw.is_none() { "unknown" } else { "disconnected" },
                        fid.value
                    ),
                }
            }
            tasks.push(task);
        }
        if let Some(unreachable) = self.agents.unreachable_tasks.shift_remove(&id) {
            for (fid, task_ids) in unreachable {
                if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                    for t in task_ids {
                        fw.unreachable_tasks.shift_remove(&t);
                    }
                }
            }
        }
        self.agents.recovered.shift_remove(&id);
        let checkpointed = Resources::from_protos(&message.checkpointed_resources);
        let total = match apply_checkpointed_resources(&Resources::from_protos(&message.slave.resources), &checkpointed)
        {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!("Refusing re-registration of agent {} at {}: {}", id.value, pid, e.0);
                self.send(&pid, ShutdownMessage { message: Some(e.0) });
                self.agents.reregistering.shift_remove(&id);
                return;
            }
        };
        let registration = AgentRegistration {
            info: message.slave.clone(),
            pid: pid.clone(),
            version: message.version.clone(),
            capabilities: message.agent_capabilities.clone(),
            checkpointed,
            total,
            resource_version: message.resource_version_uuid.clone(),
        };
        let mut agent = Agent::new(id.clone(), registration, now.secs(), true);
        for executor in &message.executor_infos {
            let fid = executor.framework_id.clone().unwrap_or_default();
            *agent.used.entry(fid.clone()).or_default() += &Resources::from_protos(&executor.resources);
            agent.executors.entry(fid).or_default().insert(executor.executor_id.clone(), executor.clone());
        }
        for task in tasks {
            let fid = task.framework_id.clone();
            if !is_terminal(task_state(&task)) {
                *agent.used.entry(fid.clone()).or_default() += &Resources::from_protos(&task.resources);
            }
            agent.tasks.entry(fid).or_default().insert(task.task_id.clone(), task);
        }
        self.metrics.slave_reregistrations += 1;
        self.agents.removed.shift_remove(&id);
        self.agents.unreachable.shift_remove(&id);
        let completed = std::mem::take(&mut message.completed_frameworks);
        self.add_agent(now, agent, completed);
        if self.agents.deactivated.contains(&id) {
            self.deactivate_agent(now, &id);
        }
        let reply = SlaveReregisteredMessage {
            slave_id: id.clone(),
            connection: Some(self.connection()),
            ..Default::default()
        };
        self.send(&pid, reply);
        tracing::info!(
            "Re-registered agent {} with {}",
            self.agent_label(&id),
            Resources::from_protos(&message.slave.resources)
        );
        for framework in &message.frameworks {
            let fid = framework.id.clone().unwrap_or_default();
            if self.frameworks.completed.contains_key(&fid) {
                tracing::info!(
                    "Shutting down framework {} at reregistered agent {} because the framework has been shutdown at \
                     the master",
                    fid.value,
                    self.agent_label(&id)
                );
                self.send(&pid, ShutdownFrameworkMessage { framework_id: fid });
            }
        }
        self.update_agent_frameworks(now, &id, &message.frameworks);
        self.agents.reregistering.shift_remove(&id);
    }

    /// `___reregisterSlave`: a registered agent reregisters (it restarted,
    /// or its connection broke).
    pub(crate) fn agent_updated(&mut self, now: Now, pid: Upid, message: ReregisterSlaveMessage, permitted: bool) {
        let id = message.slave.id.clone().unwrap_or_default();
        if !permitted {
            tracing::error!("The registry refused to update agent {}", id.value);
            self.agents.reregistering.shift_remove(&id);
            return;
        }
        if !self.gone_check(&pid, &id) {
            return;
        }
        let Some(agent) = self.agents.registered.get(&id) else {
            tracing::warn!(
                "Dropping ongoing re-registration attempt of agent {} at {} because the re-registration timeout was \
                 reached.",
                id.value,
                pid
            );
            self.agents.reregistering.shift_remove(&id);
            return;
        };
        let caps = AgentCaps::of(&message.agent_capabilities);
        let checkpointed = if agent.caps.resource_provider {
            Resources::from_protos(&message.checkpointed_resources)
        } else {
            agent.checkpointed.clone()
        };
        let total = match apply_checkpointed_resources(&Resources::from_protos(&message.slave.resources), &checkpointed)
        {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!(
                    "Refusing re-registration of agent {} at {} ({}) because state update failed: {}",
                    id.value,
                    pid,
                    message.slave.hostname,
                    e.0
                );
                self.send(&pid, ShutdownMessage { message: Some(e.0) });
                self.agents.reregistering.shift_remove(&id);
                return;
            }
        };
        let old_pid = agent.pid.clone();
        if self.agents.by_pid.get(&old_pid) == Some(&id) {
            self.agents.by_pid.shift_remove(&old_pid);
        }
        self.agents.by_pid.insert(pid.clone(), id.clone());
        self.emit(Effect::Link(pid.clone()));
        let agent = self.agents.registered.get_mut(&id).expect("checked above");
        agent.pid = pid.clone();
        agent.version = message.version.clone().unwrap_or_default();
        agent.caps = caps;
        agent.capabilities = message.agent_capabilities.clone();
        agent.info = message.slave.clone();
        agent.checkpointed = checkpointed.clone();
        agent.total = total.clone();
        agent.resource_version = message.resource_version_uuid.clone();
        agent.reregistered_time = Some(now.secs());
        let _ = self.allocator.update_agent(message.slave.clone(), Some(total), Some(&message.agent_capabilities));
        self.reconcile_known_agent(now, &id, &message);
        let agent = self.agents.registered.get_mut(&id).expect("still registered");
        if !agent.connected {
            agent.connected = true;
            agent.reregister_epoch = 0;
            if !self.agents.deactivated.contains(&id) {
                tracing::info!("Reactivating re-registered agent {}", self.agent_label(&id));
                if let Some(agent) = self.agents.registered.get_mut(&id) {
                    agent.active = true;
                }
                let _ = self.allocator.activate_agent(&id);
            }
        }
        self.update_agent_frameworks(now, &id, &message.frameworks);
        self.agents.reregistering.shift_remove(&id);
        if !self.agents.registered[&id].caps.resource_provider {
            self.send_checkpointed_resources(&id);
        }
    }

    /// Sends the agent its checkpointed resources (`CheckpointResourcesMessage`),
    /// downgraded for agents without RESERVATION_REFINEMENT.
    pub(crate) fn send_checkpointed_resources(&mut self, id: &SlaveId) {
        let Some(agent) = self.agents.registered.get(id) else { return };
        let mut resources = agent.checkpointed.to_protos();
        if !agent.caps.reservation_refinement && downgrade_resources(&mut resources).is_err() {
            tracing::warn!(
                "Not sending updated checkpointed resources {} with refined reservations, since agent {} is not \
                 RESERVATION_REFINEMENT-capable.",
                agent.checkpointed,
                self.agent_label(id)
            );
            return;
        }
        tracing::info!(
            "Sending updated checkpointed resources {} to agent {}",
            agent.checkpointed,
            self.agent_label(id)
        );
        let pid = agent.pid.clone();
        self.send(&pid, CheckpointResourcesMessage { resources });
    }

    /// `reconcileKnownSlave`: the agent is told (in its reregistered
    /// message) about tasks the master has and it does not; executors it
    /// does not have are forgotten; kills it missed are sent again;
    /// frameworks removed meanwhile are shut down there.
    fn reconcile_known_agent(&mut self, now: Now, id: &SlaveId, message: &ReregisterSlaveMessage) {
        let reported: std::collections::HashSet<(FrameworkId, crate::proto::mesos::TaskId)> =
            message.tasks.iter().map(|t| (t.framework_id.clone(), t.task_id.clone())).collect();
        let mut reply = SlaveReregisteredMessage {
            slave_id: id.clone(),
            connection: Some(self.connection()),
            ..Default::default()
        };
        let agent = &self.agents.registered[id];
        let pid = agent.pid.clone();
        for (fid, tasks) in &agent.tasks {
            let mut statuses = Vec::new();
            for task in tasks.values() {
                if reported.contains(&(fid.clone(), task.task_id.clone())) {
                    continue;
                }
                tracing::warn!(
                    "Task {} of framework {} unknown to the agent {} during re-registration: reconciling with the agent",
                    task.task_id.value,
                    fid.value,
                    id.value
                );
                let state = task.status_update_state.unwrap_or(task.state);
                statuses.push(TaskStatus {
                    task_id: task.task_id.clone(),
                    slave_id: Some(id.clone()),
                    state,
                    source: Some(Source::Master as i32),
                    message: Some("Reconciliation request".into()),
                    reason: Some(Reason::Reconciliation as i32),
                    timestamp: Some(now.secs()),
                    ..Default::default()
                });
            }
            if !statuses.is_empty() {
                let Some(fw) = self.frameworks.registered.get(fid) else { continue };
                reply.reconciliations.push(ReconcileTasksMessage {
                    framework_id: fid.clone(),
                    statuses,
                    framework: Some(fw.info.clone()),
                });
            }
        }
        self.send(&pid, reply);
        let known: std::collections::HashSet<(FrameworkId, crate::proto::mesos::ExecutorId)> = message
            .executor_infos
            .iter()
            .map(|e| (e.framework_id.clone().unwrap_or_default(), e.executor_id.clone()))
            .collect();
        let executors: Vec<_> = self.agents.registered[id]
            .executors
            .iter()
            .flat_map(|(f, m)| m.keys().map(move |e| (f.clone(), e.clone())))
            .filter(|k| !known.contains(k))
            .collect();
        for (fid, eid) in executors {
            tracing::warn!(
                "Executor '{}' of framework {} possibly unknown to the agent {}",
                eid.value,
                fid.value,
                id.value
            );
            self.remove_executor(now, id, &fid, &eid);
        }
        for task in &message.tasks {
            let killed = self.agents.registered[id]
                .killed_tasks
                .get(&task.framework_id)
                .is_some_and(|k| k.contains(&task.task_id));
            if !is_terminal(task_state(task)) && killed {
                tracing::warn!(
                    "Agent {} has non-terminal task {} that is supposed to be killed. Killing it now!",
                    id.value,
                    task.task_id.value
                );
                let kill = crate::proto::mesos::internal::KillTaskMessage {
                    framework_id: task.framework_id.clone(),
                    task_id: task.task_id.clone(),
                    kill_policy: None,
                };
                self.send(&pid, kill);
            }
        }
        let completed: Vec<FrameworkId> =
            self.frameworks.completed.keys().filter(|fid| reported.iter().any(|(f, _)| f == *fid)).cloned().collect();
        for fid in completed {
            tracing::warn!(
                "Agent {} reregistered with completed framework {}. Shutting down the framework on the agent",
                id.value,
                fid.value
            );
            self.send(&pid, ShutdownFrameworkMessage { framework_id: fid });
        }
    }

    /// `updateSlaveFrameworks`: the agent learns current framework pids;
    /// frameworks the master does not know are recovered from it.
    fn update_agent_frameworks(&mut self, now: Now, id: &SlaveId, frameworks: &[FrameworkInfo]) {
        let Some(pid) = self.agents.registered.get(id).map(|a| a.pid.clone()) else { return };
        for info in frameworks {
            let fid = info.id.clone().unwrap_or_default();
            if let Some(fw) = self.frameworks.registered.get(&fid) {
                let message = UpdateFrameworkMessage {
                    framework_id: fid.clone(),
                    pid: Some(fw.pid().map(|p| p.to_string()).unwrap_or_else(|| EMPTY_UPID.to_string())),
                    framework_info: Some(fw.info.clone()),
                };
                self.send(&pid, message);
            } else if !self.frameworks.completed.contains_key(&fid) {
                tracing::info!("Recovering framework {} from reregistering agent {}", fid.value, self.agent_label(id));
                self.recover_framework(now, info.clone());
            }
        }
    }

    /// `UpdateSlaveMessage`: new oversubscribed (revocable) resources, or a
    /// new resource version.
    pub(crate) fn on_update_slave(&mut self, now: Now, mut message: UpdateSlaveMessage) {
        self.metrics.messages_update_slave += 1;
        upgrade_resources(&mut message.oversubscribed_resources);
        let id = message.slave_id.clone();
        if self.agents.removed.contains(&id) || !self.agents.registered.contains_key(&id) {
            tracing::warn!("Ignoring update on removed agent {}", id.value);
            return;
        }
        let has_oversubscribed = message.update_oversubscribed_resources.unwrap_or(true);
        let agent = &self.agents.registered[&id];
        let mut total = agent.total.clone();
        if has_oversubscribed {
            let oversubscribed = Resources::from_protos(&message.oversubscribed_resources);
            tracing::info!(
                "Received update of agent {} with total oversubscribed resources {}",
                self.agent_label(&id),
                oversubscribed
            );
            total -= &agent.total.revocable();
            total += &oversubscribed;
        }
        let version_changed =
            message.resource_version_uuid.is_some() && message.resource_version_uuid != agent.resource_version;
        if total == agent.total && !version_changed {
            tracing::info!("Ignoring update on agent {} as it reports no changes", self.agent_label(&id));
            return;
        }
        let info = agent.info.clone();
        let agent = self.agents.registered.get_mut(&id).expect("checked above");
        agent.total = total.clone();
        if message.resource_version_uuid.is_some() {
            agent.resource_version = message.resource_version_uuid.clone();
        }
        agent.checkpointed = total.filter(needs_checkpointing);
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let _ = self.allocator.update_agent(info, Some(total), None);
        for offer in offers {
            let revocable = self.offers.get(&offer).is_some_and(|o| !o.resources.revocable().is_empty());
            if has_oversubscribed && revocable {
                tracing::info!("Rescinding offer {} with revocable resources on agent {}", offer.value, id.value);
                self.rescind_offer(now, &offer, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_parse_like_stout() {
        assert_eq!(parse_version("1.11.0"), Some((1, 11, 0)));
        assert_eq!(parse_version("1.9.0-rc1"), Some((1, 9, 0)));
        assert_eq!(parse_version("2"), Some((2, 0, 0)));
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("1.x"), None);
        assert!(parse_version("0.28.2") < Some((1, 0, 0)));
    }
}
