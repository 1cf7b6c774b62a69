//! The entry point: [`Master::new`] and [`Master::handle`], leadership and
//! registry recovery (Mesos's `detected`, `recover`, `_recover`), and the
//! routing of messages, timers and registry completions to the handlers.

use std::time::Duration;

use crate::master::allocator::Allocator;
use crate::proto::mesos::internal::Registry;
use crate::proto::mesos::{MasterInfo, TimeInfo, WeightInfo};
use crate::v0_compat::{Message, Upid};

use super::config::Config;
use super::event::{Effect, Event, Now, Timer};
use super::metrics::Metrics;
use super::registry::{admitted_agents, RegistryOp};
use super::state::{Agents, Frameworks, Map, Master, Pending};

impl Master {
    /// A master that is not yet elected. `now` is its start time.
    pub fn new(config: Config, now: Now) -> Master {
        let info = config.master_info();
        let mut allocator = Allocator::new(config.allocator.clone());
        let weights: Map<String, f64> = config.weights.iter().cloned().collect();
        allocator.update_weights(&config.weights);
        tracing::info!("Master {} ({}) started on {}", info.id, config.hostname, config.pid.addr());
        if config.pid.addr().ip().is_loopback() {
            tracing::warn!(
                "Master bound to loopback interface! Cannot communicate with remote schedulers or agents. You \
                 might want to set '--ip' flag to a routable IP address."
            );
        }
        Master {
            info,
            allocator,
            leader: None,
            elected: false,
            recovered: false,
            start_time: now.secs(),
            elected_time: None,
            frameworks: Frameworks::default(),
            agents: Agents::default(),
            offers: Map::new(),
            roles: Map::new(),
            weights,
            pending: Map::new(),
            operator_streams: Default::default(),
            quota_configs: Map::new(),
            maintenance: Default::default(),
            metrics: Metrics::default(),
            next_registry_op: 0,
            next_framework_id: 0,
            next_agent_id: 0,
            next_offer_id: 0,
            next_epoch: 0,
            recovered_epoch: 0,
            now,
            out: Vec::new(),
            config,
        }
    }

    /// Handles one event; returns what to do, in order.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Effect> {
        self.now = now;
        match event {
            Event::Detected(leader) => self.detected(now, leader),
            Event::RegistryRecovered(Ok(registry)) => self.recovered_registry(now, *registry),
            Event::RegistryRecovered(Err(e)) => self.emit(Effect::Fatal(format!("Recovery failed: {e}"))),
            Event::Message { from, message } => self.on_message(now, from, message),
            Event::Exited(pid) => self.on_exited(now, &pid),
            Event::HttpCall { request, stream_id, call } => self.on_http_call(now, request, stream_id, *call),
            Event::HttpClosed { stream } => self.on_http_closed(now, stream),
            Event::Timer(timer) => self.on_timer(now, timer),
            Event::RegistryApplied { id, result } => self.on_registry_applied(now, id, result),
            Event::Operator { id, call } => self.on_operator_call(now, id, call),
            Event::Idle => {
                if self.recovered && self.allocator.has_pending() {
                    self.allocate(now, false);
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// This master's `MasterInfo`.
    pub fn info(&self) -> &MasterInfo {
        &self.info
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether this master leads.
    pub fn is_elected(&self) -> bool {
        self.elected
    }

    /// Whether it has recovered the registry and processes messages.
    pub fn is_recovered(&self) -> bool {
        self.recovered
    }

    /// The leading master as last detected.
    pub fn leader(&self) -> Option<&MasterInfo> {
        self.leader.as_ref()
    }

    /// The allocator (read-only, for endpoints and tests).
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    fn detected(&mut self, now: Now, leader: Option<MasterInfo>) {
        let was_elected = self.elected;
        self.elected = leader.as_ref().is_some_and(|l| l.id == self.info.id);
        self.leader = leader;
        if self.elected {
            self.elected_time = Some(now.secs());
            if was_elected {
                tracing::info!("Re-elected as the leading master");
            } else {
                tracing::info!("Elected as the leading master!");
                tracing::info!("Recovering from registrar");
                self.emit(Effect::RecoverRegistry { info: Box::new(self.info.clone()) });
            }
            return;
        }
        match &self.leader {
            Some(leader) => {
                tracing::info!(
                    "The newly elected leader is {} with id {}",
                    leader.pid.as_deref().unwrap_or(""),
                    leader.id
                );
                if was_elected {
                    self.emit(Effect::Fatal("Conceded leadership to another master... committing suicide!".into()));
                }
            }
            None => {
                tracing::info!("No master was elected.");
                if was_elected {
                    self.emit(Effect::Fatal("Lost leadership after indecisive election... committing suicide!".into()));
                }
            }
        }
    }

    /// Mesos's `_recover`: the admitted agents are expected back within
    /// `--agent_reregister_timeout`, unreachable and gone agents are
    /// remembered, weights restored; then messages are processed.
    fn recovered_registry(&mut self, now: Now, registry: Registry) {
        if !self.elected || self.recovered {
            return;
        }
        for info in admitted_agents(&registry) {
            if let Some(id) = info.id.clone() {
                self.agents.recovered.insert(id, info);
            }
        }
        for slave in registry.slaves.iter().flat_map(|s| &s.slaves) {
            let Some(id) = slave.info.id.clone() else { continue };
            if let Some(drain) = &slave.drain_info {
                self.agents.draining.insert(id.clone(), *drain);
            }
            if slave.deactivated.unwrap_or(false) {
                self.agents.deactivated.insert(id);
            }
        }
        for unreachable in registry.unreachable.iter().flat_map(|u| &u.slaves) {
            self.agents.unreachable.insert(unreachable.id.clone(), unreachable.timestamp);
            if let Some(drain) = &unreachable.drain_info {
                self.agents.draining.insert(unreachable.id.clone(), *drain);
            }
            if unreachable.deactivated.unwrap_or(false) {
                self.agents.deactivated.insert(unreachable.id.clone());
            }
        }
        for gone in registry.gone.iter().flat_map(|g| &g.slaves) {
            self.agents.gone.insert(gone.id.clone(), gone.timestamp);
        }
        self.emit(Effect::Timer { at: now.after(self.config.registry_gc_interval), timer: Timer::RegistryGc });
        let expected = self.agents.recovered.len();
        self.recovered_epoch = self.epoch();
        self.emit(Effect::Timer {
            at: now.after(self.config.agent_reregister_timeout),
            timer: Timer::RecoveredAgents { epoch: self.recovered_epoch },
        });
        // Quota: the configurations, and the legacy guarantees (which are
        // also limits) of roles without one.
        let mut quotas = std::collections::BTreeMap::new();
        #[allow(deprecated)]
        for legacy in &registry.quotas {
            if let Some(role) = legacy.info.role.clone() {
                quotas.insert(role, crate::common::resource_quantities::Quota::from_info(&legacy.info));
            }
        }
        for config in &registry.quota_configs {
            self.quota_configs.insert(config.role.clone(), config.clone());
            quotas.insert(config.role.clone(), crate::common::resource_quantities::Quota::from_config(config));
        }
        self.allocator.recover(now.monotonic, expected, &quotas);
        self.recover_maintenance(&registry);

        if !registry.weights.is_empty() {
            if !self.config.weights.is_empty() {
                tracing::warn!("Ignoring --weights flag and recovering the weights from registry");
            }
            self.weights.clear();
            let mut weights = Vec::new();
            for w in &registry.weights {
                let role = w.info.role.clone().unwrap_or_default();
                self.weights.insert(role.clone(), w.info.weight);
                weights.push((role, w.info.weight));
            }
            self.allocator.update_weights(&weights);
        } else if !self.weights.is_empty() {
            let infos = self
                .weights
                .iter()
                .map(|(role, weight)| WeightInfo { role: Some(role.clone()), weight: *weight })
                .collect();
            self.registry(RegistryOp::UpdateWeights(infos), Pending::Nothing);
        }

        self.recovered = true;
        self.emit(Effect::Timer { at: now.after(self.config.allocator.allocation_interval), timer: Timer::Allocation });
        tracing::info!(
            "Recovered {} agents from the registry ({} bytes); allowing {:?} for agents to reregister",
            expected,
            prost::Message::encoded_len(&registry),
            self.config.agent_reregister_timeout
        );
    }

    fn on_message(&mut self, now: Now, from: Upid, message: Message) {
        if !self.elected {
            tracing::debug!("Dropping '{}' message since not elected yet", message.name());
            self.metrics.dropped_messages += 1;
            return;
        }
        if !self.recovered {
            tracing::debug!("Dropping '{}' message since not recovered yet", message.name());
            self.metrics.dropped_messages += 1;
            return;
        }
        match message {
            Message::SchedulerCall(call) => self.on_scheduler_call(now, &from, *call),
            Message::RegisterFrameworkMessage(m) => self.on_register_framework(now, &from, *m),
            Message::ReregisterFrameworkMessage(m) => self.on_reregister_framework(now, &from, *m),
            Message::UnregisterFrameworkMessage(m) => self.on_unregister_framework(now, &from, &m.framework_id),
            Message::DeactivateFrameworkMessage(m) => self.on_deactivate_framework(now, &from, &m.framework_id),
            Message::ResourceRequestMessage(m) => self.on_resource_request(&from, *m),
            Message::LaunchTasksMessage(m) => self.on_launch_tasks(now, &from, *m),
            Message::ReviveOffersMessage(m) => self.on_revive_offers(&from, *m),
            Message::KillTaskMessage(m) => self.on_kill_task_message(now, &from, *m),
            Message::StatusUpdateAcknowledgementMessage(m) => self.on_status_update_acknowledgement(now, &from, *m),
            Message::FrameworkToExecutorMessage(m) => self.on_framework_to_executor(&from, *m),
            Message::ReconcileTasksMessage(m) => self.on_reconcile_tasks(&from, *m),
            Message::RegisterSlaveMessage(m) => self.on_register_slave(now, &from, *m),
            Message::ReregisterSlaveMessage(m) => self.on_reregister_slave(now, &from, *m),
            Message::UnregisterSlaveMessage(m) => self.on_unregister_slave(now, &from, &m.slave_id),
            Message::StatusUpdateMessage(m) => self.on_status_update(now, *m),
            Message::ExecutorToFrameworkMessage(m) => self.on_executor_to_framework(*m),
            Message::ExitedExecutorMessage(m) => self.on_exited_executor(now, *m),
            Message::UpdateSlaveMessage(m) => self.on_update_slave(now, *m),
            Message::UpdateOperationStatusMessage(m) => self.on_update_operation_status(*m),
            Message::PongSlaveMessage(_) => self.on_pong(&from),
            Message::AuthenticateMessage(_) => {
                self.metrics.messages_authenticate += 1;
                tracing::warn!(
                    "Ignoring authentication request from {}: no authenticator is available in this master",
                    from
                );
            }
            Message::SubmitSchedulerRequest(m) => {
                tracing::info!("Scheduler submit request for {}", m.name);
                let response = crate::proto::mesos::internal::SubmitSchedulerResponse { okay: false };
                self.send(&from, response);
            }
            other => {
                tracing::warn!("Dropping '{}' message from {}: the master has no handler for it", other.name(), from);
            }
        }
    }

    fn on_exited(&mut self, now: Now, pid: &Upid) {
        if let Some(fid) = self.frameworks.by_pid.get(pid).cloned() {
            if self.frameworks.registered.get(&fid).is_some_and(|f| f.pid() == Some(pid)) {
                let message =
                    crate::proto::mesos::internal::FrameworkErrorMessage { message: "Framework disconnected".into() };
                self.send_framework(&fid, message.into());
                self.framework_exited(now, &fid);
                return;
            }
        }
        if let Some(aid) = self.agents.by_pid.get(pid).cloned() {
            self.agent_exited(now, &aid);
        }
    }

    fn on_timer(&mut self, now: Now, timer: Timer) {
        match timer {
            Timer::Allocation => {
                if self.recovered {
                    self.allocate(now, true);
                    self.send_inverse_offers(now);
                }
                self.emit(Effect::Timer {
                    at: now.after(self.config.allocator.allocation_interval),
                    timer: Timer::Allocation,
                });
            }
            Timer::OfferTimeout(id) => {
                if self.offers.contains_key(&id) {
                    self.rescind_offer(now, &id, None);
                }
            }
            Timer::Ping { agent, epoch } => self.on_ping_timer(now, &agent, epoch),
            Timer::AgentReregister { agent, epoch } => self.on_agent_reregister_timeout(now, &agent, epoch),
            Timer::FrameworkFailover { framework, epoch } => self.on_failover_timeout(now, &framework, epoch),
            Timer::RecoveredAgents { epoch } => {
                if epoch == self.recovered_epoch {
                    self.recovered_agents_timeout(now);
                }
            }
            Timer::RegistryGc => self.registry_gc(now),
        }
    }

    fn on_registry_applied(&mut self, now: Now, id: u64, result: Result<bool, String>) {
        let Some(pending) = self.pending.shift_remove(&id) else {
            tracing::warn!(id, "registry completion for an unknown operation");
            return;
        };
        let permitted = match result {
            Ok(permitted) => permitted,
            Err(e) => {
                self.emit(Effect::Fatal(format!("Failed to update the registry: {e}")));
                return;
            }
        };
        match pending {
            Pending::AdmitAgent { pid, message } => self.agent_admitted(now, pid, *message, permitted),
            Pending::ReadmitAgent { pid, message } => self.agent_readmitted(now, pid, *message, permitted),
            Pending::UpdateAgent { pid, message } => self.agent_updated(now, pid, *message, permitted),
            Pending::RemoveAgent { agent, cause, reason } => self.agent_removed(now, &agent, &cause, reason, permitted),
            Pending::MarkUnreachable { info, time, during_failover, message } => {
                self.agent_marked_unreachable(now, *info, time, during_failover, &message, permitted)
            }
            Pending::Prune { unreachable, gone } => self.registry_pruned(&unreachable, &gone),
            Pending::Weights { id, infos } => self.weights_updated(id, infos),
            Pending::Quota { id, configs } => self.quota_updated(id, configs),
            Pending::Schedule { id, schedule } => self.schedule_updated(now, id, schedule),
            Pending::DeactivateAgent { id, agent } => self.agent_deactivated(now, id, agent),
            Pending::ReactivateAgent { id, agent } => self.agent_reactivated(id, agent),
            Pending::StartMaintenance { id, machines } => self.maintenance_started(id, machines),
            Pending::StopMaintenance { id, machines } => self.maintenance_stopped(id, machines),
            Pending::MarkGone { id, agent, time } => self.agent_marked_gone(now, id, agent, time),
            Pending::Nothing => {}
        }
    }

    /// Periodic registry GC (`doRegistryGc`): forgets unreachable and gone
    /// agents beyond `--registry_max_agent_count` or older than
    /// `--registry_max_agent_age`.
    fn registry_gc(&mut self, now: Now) {
        self.emit(Effect::Timer { at: now.after(self.config.registry_gc_interval), timer: Timer::RegistryGc });
        let max_count = self.config.registry_max_agent_count;
        let max_age = self.config.registry_max_agent_age;
        let prune = |list: &Map<crate::proto::mesos::SlaveId, TimeInfo>| {
            let count = list.len();
            let mut out = Vec::new();
            for (id, time) in list {
                if count - out.len() > max_count {
                    out.push(id.clone());
                    continue;
                }
                let age = Duration::from_nanos(now.nanos().saturating_sub(time.nanoseconds).max(0) as u64);
                if age > max_age {
                    out.push(id.clone());
                }
            }
            out
        };
        let unreachable = prune(&self.agents.unreachable);
        let gone = prune(&self.agents.gone);
        if unreachable.is_empty() && gone.is_empty() {
            tracing::debug!("Skipping periodic registry garbage collection: no agents qualify for removal");
            return;
        }
        let op = RegistryOp::Prune { unreachable: unreachable.clone(), gone: gone.clone() };
        self.registry(op, Pending::Prune { unreachable, gone });
    }

    fn registry_pruned(&mut self, unreachable: &[crate::proto::mesos::SlaveId], gone: &[crate::proto::mesos::SlaveId]) {
        let mut removed = (0, 0);
        for id in unreachable {
            if self.agents.unreachable.shift_remove(id).is_none() {
                tracing::warn!("Failed to garbage collect {} from the unreachable list", id.value);
                continue;
            }
            if let Some(tasks) = self.agents.unreachable_tasks.shift_remove(id) {
                for (fid, task_ids) in tasks {
                    if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                        for t in task_ids {
                            fw.unreachable_tasks.shift_remove(&t);
                        }
                    }
                }
            }
            removed.0 += 1;
        }
        for id in gone {
            if self.agents.gone.shift_remove(id).is_none() {
                tracing::warn!("Failed to garbage collect {} from the gone list", id.value);
                continue;
            }
            removed.1 += 1;
        }
        tracing::info!("Garbage collected {} unreachable and {} gone agents from the registry", removed.0, removed.1);
    }
}

impl Master {
    /// Restricts offers to agents with these hostnames (`--whitelist`);
    /// `None` offers every agent.
    pub fn set_whitelist(&mut self, hostnames: Option<std::collections::HashSet<String>>) {
        self.allocator.update_whitelist(hostnames);
    }
}
