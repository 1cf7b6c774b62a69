//! Frameworks: subscription and its v0 forms, failover, disconnection,
//! teardown, updates (Mesos's `receive`, `registerFramework`,
//! `reregisterFramework`, `subscribe`, `_subscribe`, `failoverFramework`,
//! `removeFramework`, `updateFramework`, ...).
//!
//! The legacy driver messages are converted to `scheduler::Call`s first,
//! exactly as Mesos does, so v0 and (later) v1 share one path.

use std::collections::BTreeSet;

use crate::master::allocator::FrameworkOptions;
use crate::proto::mesos::internal::{
    FrameworkErrorMessage, FrameworkRegisteredMessage, FrameworkReregisteredMessage, RegisterFrameworkMessage,
    ReregisterFrameworkMessage, ResourceRequestMessage, ShutdownFrameworkMessage, StatusUpdate, UpdateFrameworkMessage,
};
use crate::proto::mesos::scheduler::call::{self, Type as CallType};
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::task_status::{Reason, Source};
use crate::proto::mesos::{FrameworkId, FrameworkInfo, TaskState, TaskStatus};
use crate::v0_compat::{Message, Upid};

use super::event::{Effect, Now, SchedulerConn, Timer};
use super::state::{task_state, Framework, FrameworkState, Master};
use super::validation;

/// The string Mesos writes for an empty UPID (`stringify(UPID())`), used
/// where a message carries "no pid".
pub const EMPTY_UPID: &str = "@0.0.0.0:0";

impl Master {
    fn refuse(&mut self, conn: &SchedulerConn, message: String) {
        self.emit(Effect::Scheduler { to: conn.clone(), message: FrameworkErrorMessage { message }.into() });
        if let SchedulerConn::Http(stream) = conn {
            self.close_stream(*stream);
        }
    }

    pub(crate) fn new_framework_id(&mut self) -> FrameworkId {
        let id = format!("{}-{:04}", self.info.id, self.next_framework_id);
        self.next_framework_id += 1;
        FrameworkId { value: id }
    }

    // ---------------------------------------------------------------
    // The v0 door: legacy messages and `scheduler::Call` over libprocess.

    /// `Master::receive`: a `mesos.scheduler.Call` from a v0 driver.
    pub(crate) fn on_scheduler_call(&mut self, now: Now, from: &Upid, call: Call) {
        let kind = CallType::try_from(call.r#type.unwrap_or(0)).unwrap_or(CallType::Unknown);
        let fid_text = call.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or_default();
        if let Err(e) = validation::validate_call(&call) {
            tracing::warn!("Dropping {} call from framework {} at {}: {}", kind.as_str_name(), fid_text, from, e);
            return;
        }
        if kind == CallType::Subscribe {
            let subscribe = call.subscribe.unwrap_or_default();
            self.subscribe(now, SchedulerConn::Pid(from.clone()), subscribe);
            return;
        }
        let fid = call.framework_id.clone().unwrap_or_default();
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Dropping {} call from framework {} at {}: Framework cannot be found",
                kind.as_str_name(),
                fid_text,
                from
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Dropping {} call from framework {} at {}: Call is not from registered framework",
                kind.as_str_name(),
                fid_text,
                from
            );
            return;
        }
        if !fw.connected() {
            tracing::info!("Refusing {} call from framework {}: Framework disconnected", kind.as_str_name(), fid_text);
            self.send(from, FrameworkErrorMessage { message: "Framework disconnected".into() });
            return;
        }
        self.dispatch_call(now, &fid, call);
    }

    /// Runs a call from a subscribed, connected framework (any door).
    pub(crate) fn dispatch_call(&mut self, now: Now, fid: &FrameworkId, call: Call) {
        let kind = CallType::try_from(call.r#type.unwrap_or(0)).unwrap_or(CallType::Unknown);
        match kind {
            CallType::Subscribe => {}
            CallType::Teardown => self.teardown(now, fid),
            CallType::Accept => self.accept(now, fid, call.accept.unwrap_or_default()),
            CallType::Decline => self.decline(now, fid, call.decline.unwrap_or_default()),
            CallType::AcceptInverseOffers | CallType::DeclineInverseOffers => {
                let accept = kind == CallType::AcceptInverseOffers;
                let ids = call
                    .accept_inverse_offers
                    .map(|a| a.inverse_offer_ids)
                    .or(call.decline_inverse_offers.map(|d| d.inverse_offer_ids))
                    .unwrap_or_default();
                self.answer_inverse_offers(now, fid, &ids, accept);
            }
            CallType::Revive => self.revive(fid, &call.revive.unwrap_or_default().roles),
            CallType::Suppress => self.suppress(fid, &call.suppress.unwrap_or_default().roles),
            CallType::Kill => self.kill(now, fid, call.kill.unwrap_or_default()),
            CallType::Shutdown => self.shutdown_executor(fid, call.shutdown.unwrap_or_default()),
            CallType::Acknowledge => self.acknowledge(now, fid, call.acknowledge.unwrap_or_default()),
            CallType::AcknowledgeOperationStatus if self.is_http(fid) => {
                // No operation with feedback is ever pending here (offer
                // operations are applied at once, see offers.rs): nothing
                // to forward to an agent.
                tracing::info!(
                    "Ignoring ACKNOWLEDGE_OPERATION_STATUS call from framework {}: no operation awaits \
                     acknowledgement",
                    fid.value
                );
            }
            CallType::AcknowledgeOperationStatus => {
                tracing::warn!(
                    "Dropping ACKNOWLEDGE_OPERATION_STATUS call from framework {}: 'ACKNOWLEDGE_OPERATION_STATUS' \
                     is not supported by the v0 API",
                    fid.value
                );
            }
            CallType::Reconcile => self.reconcile(fid, call.reconcile.unwrap_or_default()),
            CallType::ReconcileOperations if self.is_http(fid) => {
                self.reconcile_operations(fid, call.reconcile_operations.unwrap_or_default())
            }
            CallType::ReconcileOperations => {
                tracing::warn!(
                    "Dropping RECONCILE_OPERATIONS call from framework {}: 'RECONCILE_OPERATIONS' is not supported \
                     by the v0 API",
                    fid.value
                );
            }
            CallType::Message => self.message(fid, call.message.unwrap_or_default()),
            CallType::Request => {
                tracing::info!("Processing REQUEST call for framework {}", self.framework_label(fid));
                self.metrics.messages_resource_request += 1;
            }
            CallType::UpdateFramework => {
                if let Err(message) = self.update_framework_call(now, call.update_framework.unwrap_or_default()) {
                    if let Some(conn) = self.frameworks.registered.get(fid).and_then(|f| f.conn.clone()) {
                        self.refuse(&conn, message);
                    }
                }
            }
            CallType::Unknown => tracing::warn!("'UNKNOWN' call"),
        }
    }

    pub(crate) fn on_register_framework(&mut self, now: Now, from: &Upid, message: RegisterFrameworkMessage) {
        let info = message.framework;
        if info.id.as_ref().is_some_and(|id| !id.value.is_empty()) {
            let error = "Registering with 'id' already set";
            tracing::info!("Refusing registration request of framework '{}' at {}: {}", info.name, from, error);
            self.send(from, FrameworkErrorMessage { message: error.into() });
            return;
        }
        let subscribe = call::Subscribe { framework_info: info, ..Default::default() };
        self.subscribe(now, SchedulerConn::Pid(from.clone()), subscribe);
    }

    pub(crate) fn on_reregister_framework(&mut self, now: Now, from: &Upid, message: ReregisterFrameworkMessage) {
        let info = message.framework;
        if info.id.as_ref().is_none_or(|id| id.value.is_empty()) {
            let error = "Re-registering without an 'id'";
            tracing::info!("Refusing re-registration request of framework '{}' at {}: {}", info.name, from, error);
            self.send(from, FrameworkErrorMessage { message: error.into() });
            return;
        }
        let subscribe = call::Subscribe { framework_info: info, force: Some(message.failover), ..Default::default() };
        self.subscribe(now, SchedulerConn::Pid(from.clone()), subscribe);
    }

    pub(crate) fn on_unregister_framework(&mut self, now: Now, from: &Upid, fid: &FrameworkId) {
        tracing::info!("Asked to unregister framework {}", fid.value);
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        if fw.pid() == Some(from) {
            self.teardown(now, fid);
        } else {
            tracing::warn!(
                "Ignoring unregister framework message for framework {} because it is not expected from {}",
                self.framework_label(fid),
                from
            );
        }
    }

    pub(crate) fn on_deactivate_framework(&mut self, now: Now, from: &Upid, fid: &FrameworkId) {
        self.metrics.messages_deactivate_framework += 1;
        let Some(fw) = self.frameworks.registered.get(fid) else {
            tracing::warn!(
                "Ignoring deactivate framework message for framework {} because the framework cannot be found",
                fid.value
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring deactivate framework message for framework {} because it is not expected from {}",
                self.framework_label(fid),
                from
            );
            return;
        }
        if !fw.connected() {
            tracing::info!(
                "Ignoring deactivate framework message for framework {} because it is disconnected",
                self.framework_label(fid)
            );
            return;
        }
        if fw.active {
            self.deactivate_framework(now, fid, true);
        }
    }

    pub(crate) fn on_resource_request(&mut self, from: &Upid, message: ResourceRequestMessage) {
        let fid = message.framework_id;
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring resource request message from framework {} because the framework cannot be found",
                fid.value
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring resource request message from framework {} because it is not expected from {}",
                self.framework_label(&fid),
                from
            );
            return;
        }
        tracing::info!("Processing REQUEST call for framework {}", self.framework_label(&fid));
        // The hierarchical allocator ignores requests, as Mesos's does.
        self.metrics.messages_resource_request += 1;
    }

    // ---------------------------------------------------------------
    // Subscription

    /// `validateFramework`: the checks a subscription or update must pass.
    fn validate_framework(&self, info: &FrameworkInfo, suppressed_roles: &[String]) -> Result<(), String> {
        validation::validate_framework_info(info)?;
        let roles = crate::master::allocator::framework_roles(info);
        let invalid: BTreeSet<String> = roles.iter().filter(|r| !self.config.roles.allows(r)).cloned().collect();
        if !invalid.is_empty() {
            return Err(format!("Roles {} are not present in the master's --roles", validation::string_set(&invalid)));
        }
        for role in suppressed_roles {
            if !roles.contains(role) {
                return Err(format!("Suppressed role '{role}' is not contained in the list of roles"));
            }
        }
        if info.user == "root" && !self.config.root_submissions {
            return Err("User 'root' is not allowed to run frameworks without --root_submissions set".into());
        }
        if let Some(id) = &info.id {
            if self.frameworks.completed.contains_key(id) {
                return Err("Framework has been removed".into());
            }
        }
        if !validation::valid_failover_timeout(info) {
            return Err(format!(
                "The framework failover_timeout ({}) is invalid",
                validation::cpp_double(info.failover_timeout())
            ));
        }
        Ok(())
    }

    /// `Master::subscribe` + `_subscribe`: registers a new framework, or
    /// reconnects / fails over an existing one.
    pub(crate) fn subscribe(&mut self, now: Now, conn: SchedulerConn, subscribe: call::Subscribe) {
        let mut info = subscribe.framework_info;
        let has_id = info.id.as_ref().is_some_and(|id| !id.value.is_empty());
        if has_id {
            self.metrics.messages_reregister_framework += 1;
        } else {
            self.metrics.messages_register_framework += 1;
        }
        let mut result = self.validate_framework(&info, &subscribe.suppressed_roles);
        if result.is_ok() && self.config.authenticate_frameworks {
            if let SchedulerConn::Pid(pid) = &conn {
                result = Err(format!("Framework at {pid} is not authenticated"));
            }
        }
        if let Err(e) = result {
            tracing::info!("Refusing subscription of framework '{}' at {}: {}", info.name, conn, e);
            self.refuse(&conn, e);
            return;
        }
        tracing::info!("Received SUBSCRIBE call for framework '{}' at {}", info.name, conn);
        let options = FrameworkOptions { suppressed_roles: subscribe.suppressed_roles.iter().cloned().collect() };
        let constraints = subscribe.offer_constraints.unwrap_or_default();
        if !constraints.role_constraints.is_empty() {
            tracing::warn!(
                "Framework '{}' subscribed with offer constraints; this master accepts but does not enforce them",
                info.name
            );
        }
        let force = subscribe.force.unwrap_or(false);
        tracing::info!(
            "Subscribing framework {} with checkpointing {} and capabilities {:?}",
            info.name,
            if info.checkpoint() { "enabled" } else { "disabled" },
            info.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>()
        );

        if !has_id {
            // A retried registration from the same scheduler gets its
            // acknowledgement again.
            if let SchedulerConn::Pid(pid) = &conn {
                if let Some(fid) = self.frameworks.by_pid.get(pid).cloned() {
                    tracing::info!(
                        "Framework {} already subscribed, resending acknowledgement",
                        self.framework_label(&fid)
                    );
                    let message =
                        FrameworkRegisteredMessage { framework_id: fid.clone(), master_info: self.info.clone() };
                    self.send_framework(&fid, message.into());
                    return;
                }
            }
            let fid = self.new_framework_id();
            info.id = Some(fid.clone());
            let mut fw = Framework::new(info, FrameworkState::Connected, Some(conn), now.secs());
            fw.offer_constraints = constraints;
            self.add_framework(now, fw, options);
            let message = FrameworkRegisteredMessage { framework_id: fid.clone(), master_info: self.info.clone() };
            self.send_framework(&fid, message.into());
            return;
        }

        let fid = info.id.clone().unwrap_or_default();
        if let SchedulerConn::Pid(pid) = &conn {
            if let Some(other) = self.frameworks.by_pid.get(pid) {
                if *other != fid {
                    tracing::error!(
                        "Dropping SUBSCRIBE call for framework '{}': {} already connected at {}",
                        info.name,
                        self.framework_label(other),
                        pid
                    );
                    return;
                }
            }
        }
        if !self.frameworks.registered.contains_key(&fid) {
            // Not reregistered since the failover, and no agent has reported
            // its tasks yet: rebuild it from the FrameworkInfo.
            self.recover_framework(now, info.clone());
        }
        let old = self.frameworks.registered[&fid].info.clone();
        validation::preserve_immutable_fields(&old, &mut info);
        if let Err(e) = validation::validate_framework_update(&old, &info) {
            self.refuse(&conn, e);
            return;
        }
        let (recovered, same_conn) = {
            let fw = &self.frameworks.registered[&fid];
            (fw.recovered(), fw.conn.as_ref() == Some(&conn))
        };
        if !recovered && !same_conn && !force && matches!(conn, SchedulerConn::Pid(_)) {
            tracing::error!(
                "Disallowing subscription attempt of framework {} because it is not expected from {}",
                self.framework_label(&fid),
                conn
            );
            self.refuse(&conn, "Framework failed over".into());
            return;
        }
        self.update_framework(now, &fid, info, options);
        if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
            fw.offer_constraints = constraints;
        }
        if !recovered {
            let epoch = self.epoch();
            if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
                fw.reregistered_time = now.secs();
                fw.failover_epoch = epoch;
            }
            if force || matches!(conn, SchedulerConn::Http(_)) {
                tracing::info!("Framework {} failed over", self.framework_label(&fid));
                self.failover_framework(now, &fid, conn);
            } else {
                tracing::info!(
                    "Allowing framework {} to subscribe with an already used id",
                    self.framework_label(&fid)
                );
                let offers: Vec<_> = self.frameworks.registered[&fid].offers.iter().cloned().collect();
                for offer in offers {
                    self.rescind_offer(now, &offer, None);
                }
                if let SchedulerConn::Pid(pid) = &conn {
                    self.emit(Effect::Link(pid.clone()));
                }
                self.set_connection(&fid, conn);
                if self.activate(&fid) {
                    let _ = self.allocator.activate_framework(&fid);
                }
                let message =
                    FrameworkReregisteredMessage { framework_id: fid.clone(), master_info: self.info.clone() };
                self.send_framework(&fid, message.into());
            }
        } else {
            self.connect_recovered_framework(now, &fid, conn);
        }
        self.send_framework_updates(&fid);
    }

    /// Points a framework at a (new) connection (`updateConnection`).
    fn set_connection(&mut self, fid: &FrameworkId, conn: SchedulerConn) {
        let Some(fw) = self.frameworks.registered.get_mut(fid) else { return };
        if let Some(old) = fw.pid().cloned() {
            if self.frameworks.by_pid.get(&old) == Some(fid) {
                self.frameworks.by_pid.shift_remove(&old);
            }
        }
        if let SchedulerConn::Pid(pid) = &conn {
            self.frameworks.by_pid.insert(pid.clone(), fid.clone());
        }
        fw.conn = Some(conn);
        fw.state = FrameworkState::Connected;
    }

    /// Marks a framework active; false if it already was.
    fn activate(&mut self, fid: &FrameworkId) -> bool {
        match self.frameworks.registered.get_mut(fid) {
            Some(fw) if !fw.active => {
                fw.active = true;
                true
            }
            _ => false,
        }
    }

    /// `addFramework`: books the framework and tells the allocator.
    fn add_framework(&mut self, _now: Now, fw: Framework, options: FrameworkOptions) {
        let fid = fw.id();
        tracing::info!("Adding framework {} with roles {:?} suppressed", fid.value, options.suppressed_roles);
        if fw.connected() {
            if let Some(SchedulerConn::Pid(pid)) = &fw.conn {
                self.emit(Effect::Link(pid.clone()));
                self.frameworks.by_pid.insert(pid.clone(), fid.clone());
            }
        }
        let mut used = std::collections::HashMap::new();
        for (agent, resources) in &fw.used {
            used.insert(agent.clone(), resources.clone());
        }
        let roles = fw.roles.clone();
        let info = fw.info.clone();
        let active = fw.active;
        let mut fw = fw;
        fw.suppressed_roles = options.suppressed_roles.clone();
        self.frameworks.registered.insert(fid.clone(), fw);
        for role in &roles {
            self.track_under_role(&fid, role);
        }
        if let Err(e) = self.allocator.add_framework(info, &used, active, options) {
            tracing::error!("Allocator refused framework {}: {}", fid.value, e);
        }
        self.framework_added_event(&fid);
    }

    /// `recoverFramework`: a framework known only from agents (or from its
    /// own resubscription) after a master failover.
    pub(crate) fn recover_framework(&mut self, now: Now, info: FrameworkInfo) {
        let mut fw = Framework::new(info, FrameworkState::Recovered, None, 0.0);
        let fid = fw.id();
        for (aid, agent) in &self.agents.registered {
            if let Some(tasks) = agent.tasks.get(&fid) {
                for task in tasks.values() {
                    fw.tasks.insert(task.task_id.clone(), aid.clone());
                    if !super::state::is_terminal(task_state(task)) {
                        let resources = crate::common::resources::Resources::from_protos(&task.resources);
                        fw.total_used += &resources;
                        *fw.used.entry(aid.clone()).or_default() += &resources;
                    }
                }
            }
            if let Some(executors) = agent.executors.get(&fid) {
                for executor in executors.values() {
                    let resources = crate::common::resources::Resources::from_protos(&executor.resources);
                    fw.total_used += &resources;
                    *fw.used.entry(aid.clone()).or_default() += &resources;
                    fw.executors.entry(aid.clone()).or_default().insert(executor.executor_id.clone(), executor.clone());
                }
            }
        }
        let held_roles: BTreeSet<String> =
            fw.total_used.iter().filter_map(|i| i.allocation_role().map(String::from)).collect();
        self.add_framework(now, fw, FrameworkOptions::default());
        for role in held_roles {
            self.track_under_role(&fid, &role);
        }
    }

    /// `connectAndActivateRecoveredFramework`.
    fn connect_recovered_framework(&mut self, now: Now, fid: &FrameworkId, conn: SchedulerConn) {
        let epoch = self.epoch();
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            fw.registered_time = now.secs();
            fw.reregistered_time = now.secs();
            fw.failover_epoch = epoch;
        }
        if let SchedulerConn::Pid(pid) = &conn {
            self.emit(Effect::Link(pid.clone()));
        }
        let http = matches!(conn, SchedulerConn::Http(_));
        self.set_connection(fid, conn);
        if self.activate(fid) {
            let _ = self.allocator.activate_framework(fid);
        }
        let master_info = self.info.clone();
        if http {
            let message = FrameworkReregisteredMessage { framework_id: fid.clone(), master_info };
            self.send_framework(fid, message.into());
        } else {
            // Mesos sends a *registered* message to a v0 scheduler here (MESOS-786).
            let message = FrameworkRegisteredMessage { framework_id: fid.clone(), master_info };
            self.send_framework(fid, message.into());
        }
    }

    /// `failoverFramework`: a new scheduler instance takes over; the old one
    /// is told it failed over.
    fn failover_framework(&mut self, now: Now, fid: &FrameworkId, conn: SchedulerConn) {
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        if fw.conn.as_ref() != Some(&conn) && fw.connected() {
            let old = fw.conn.clone();
            let message = FrameworkErrorMessage { message: "Framework failed over".into() };
            self.send_framework(fid, message.into());
            if let Some(SchedulerConn::Http(stream)) = old {
                self.close_stream(stream);
            }
        }
        if let SchedulerConn::Pid(pid) = &conn {
            self.emit(Effect::Link(pid.clone()));
        }
        self.set_connection(fid, conn);
        let offers: Vec<_> = self.frameworks.registered[fid].offers.iter().cloned().collect();
        for offer in offers {
            self.discard_offer(now, &offer, None);
        }
        if self.activate(fid) {
            let _ = self.allocator.activate_framework(fid);
        }
        let message = FrameworkRegisteredMessage { framework_id: fid.clone(), master_info: self.info.clone() };
        self.send_framework(fid, message.into());
    }

    /// `sendFrameworkUpdates`: every agent learns the framework's current
    /// info and pid.
    fn send_framework_updates(&mut self, fid: &FrameworkId) {
        self.framework_updated_event(fid);
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        let message = UpdateFrameworkMessage {
            framework_id: fid.clone(),
            pid: Some(fw.pid().map(|p| p.to_string()).unwrap_or_else(|| EMPTY_UPID.to_string())),
            framework_info: Some(fw.info.clone()),
        };
        let agents: Vec<Upid> = self.agents.registered.values().map(|a| a.pid.clone()).collect();
        for pid in agents {
            self.send(&pid, message.clone());
        }
    }

    /// `Master::updateFramework(Framework*, ...)`: new info and options.
    fn update_framework(&mut self, now: Now, fid: &FrameworkId, info: FrameworkInfo, options: FrameworkOptions) {
        tracing::info!(
            "Updating framework {} with roles {:?} suppressed",
            self.framework_label(fid),
            options.suppressed_roles
        );
        let suppressed = options.suppressed_roles.clone();
        if let Err(e) = self.allocator.update_framework(info.clone(), options) {
            tracing::error!("Allocator refused the update of framework {}: {}", fid.value, e);
        }
        let new_roles = crate::master::allocator::framework_roles(&info);
        let offers: Vec<_> =
            self.frameworks.registered.get(fid).map(|f| f.offers.iter().cloned().collect()).unwrap_or_default();
        for offer in offers {
            let role =
                self.offers.get(&offer).and_then(|o| o.offer.allocation_info.as_ref()).and_then(|a| a.role.clone());
            if role.is_some_and(|r| !new_roles.contains(&r)) {
                self.rescind_offer(now, &offer, None);
            }
        }
        let Some(fw) = self.frameworks.registered.get_mut(fid) else { return };
        let old_roles = std::mem::replace(&mut fw.roles, new_roles.clone());
        fw.caps = super::state::FrameworkCaps::of(&info);
        fw.info = info;
        fw.suppressed_roles = suppressed;
        for role in new_roles.difference(&old_roles) {
            self.track_under_role(fid, role);
        }
        for role in old_roles.difference(&new_roles) {
            self.maybe_untrack_role(fid, role);
        }
    }

    /// UPDATE_FRAMEWORK.
    pub(crate) fn update_framework_call(&mut self, now: Now, update: call::UpdateFramework) -> Result<(), String> {
        let fid = update.framework_info.id.clone().unwrap_or_default();
        tracing::info!("Processing UPDATE_FRAMEWORK call for framework {}", fid.value);
        self.validate_framework(&update.framework_info, &update.suppressed_roles)
            .map_err(|e| format!("Supplied FrameworkInfo is not valid: {e}"))?;
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            return Err("Framework cannot be found".into());
        };
        validation::validate_framework_update(&fw.info, &update.framework_info)
            .map_err(|e| format!("FrameworkInfo update is not valid: {e}"))?;
        let changed = fw.info != update.framework_info;
        let options = FrameworkOptions { suppressed_roles: update.suppressed_roles.iter().cloned().collect() };
        self.update_framework(now, &fid, update.framework_info, options);
        if let (Some(constraints), Some(fw)) = (update.offer_constraints, self.frameworks.registered.get_mut(&fid)) {
            fw.offer_constraints = constraints;
        }
        if changed {
            self.send_framework_updates(&fid);
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // Disconnection, failover timeout, removal

    /// `deactivate(Framework*)`: no more offers; outstanding ones are
    /// rescinded (or just discarded when the framework is being removed).
    pub(crate) fn deactivate_framework(&mut self, now: Now, fid: &FrameworkId, rescind: bool) {
        tracing::info!("Deactivating framework {}", self.framework_label(fid));
        let Some(fw) = self.frameworks.registered.get_mut(fid) else { return };
        fw.active = false;
        let offers: Vec<_> = fw.offers.iter().cloned().collect();
        let _ = self.allocator.deactivate_framework(fid);
        for offer in offers {
            if rescind {
                self.rescind_offer(now, &offer, None);
            } else {
                self.discard_offer(now, &offer, None);
            }
        }
    }

    /// `_exited`: the scheduler went away; it has `failover_timeout` to
    /// come back before its tasks are killed.
    pub(crate) fn framework_exited(&mut self, now: Now, fid: &FrameworkId) {
        tracing::info!("Framework {} disconnected", self.framework_label(fid));
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        if fw.connected() {
            if fw.active {
                self.deactivate_framework(now, fid, true);
            }
            tracing::info!("Disconnecting framework {}", self.framework_label(fid));
            if let Some(fw) = self.frameworks.registered.get_mut(fid) {
                fw.state = FrameworkState::Disconnected;
                if matches!(fw.conn, Some(SchedulerConn::Http(_))) {
                    fw.conn = None;
                }
            }
        }
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        let timeout = std::time::Duration::from_secs_f64(fw.info.failover_timeout().max(0.0));
        tracing::info!("Giving framework {} {:?} to failover", self.framework_label(fid), timeout);
        let epoch = fw.failover_epoch;
        self.emit(Effect::Timer {
            at: now.after(timeout),
            timer: Timer::FrameworkFailover { framework: fid.clone(), epoch },
        });
    }

    pub(crate) fn on_failover_timeout(&mut self, now: Now, fid: &FrameworkId, epoch: u64) {
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        if !fw.connected() && fw.failover_epoch == epoch {
            tracing::info!("Framework failover timeout, removing framework {}", self.framework_label(fid));
            self.remove_framework(now, fid);
        }
    }

    /// TEARDOWN (and `UnregisterFrameworkMessage`).
    pub(crate) fn teardown(&mut self, now: Now, fid: &FrameworkId) {
        tracing::info!("Processing TEARDOWN call for framework {}", self.framework_label(fid));
        self.metrics.messages_unregister_framework += 1;
        self.remove_framework(now, fid);
    }

    /// `removeFramework`: the framework is gone for good. Agents shut it
    /// down; its tasks become TASK_KILLED (without telling it); it moves to
    /// the completed frameworks.
    pub(crate) fn remove_framework(&mut self, now: Now, fid: &FrameworkId) {
        tracing::info!("Removing framework {}", self.framework_label(fid));
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        if fw.active {
            self.deactivate_framework(now, fid, false);
        }
        let agents: Vec<Upid> = self.agents.registered.values().map(|a| a.pid.clone()).collect();
        for pid in agents {
            self.send(&pid, ShutdownFrameworkMessage { framework_id: fid.clone() });
        }
        let message = format!("Framework {} removed", fid.value);
        let tasks: Vec<_> = self.frameworks.registered[fid].tasks.iter().map(|(t, a)| (t.clone(), a.clone())).collect();
        for (task_id, agent) in tasks {
            let executor = self
                .agents
                .registered
                .get(&agent)
                .and_then(|a| a.task(fid, &task_id))
                .and_then(|t| t.executor_id.clone());
            let update = self.master_update(
                fid,
                Some(&agent),
                &task_id,
                TaskState::TaskKilled,
                &message,
                Reason::FrameworkRemoved,
                executor,
                None,
            );
            self.update_task(now, &agent, fid, &task_id, &update);
            self.remove_task(now, &agent, fid, &task_id, false);
        }
        let completed_limit = self.config.max_completed_tasks_per_framework;
        let update_time = now.secs();
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            let unreachable: Vec<_> = fw.unreachable_tasks.drain(..).map(|(_, t)| t).collect();
            for mut task in unreachable {
                let status = TaskStatus {
                    task_id: task.task_id.clone(),
                    state: TaskState::TaskKilled as i32,
                    source: Some(Source::Master as i32),
                    reason: Some(Reason::FrameworkRemoved as i32),
                    message: Some(message.clone()),
                    slave_id: Some(task.slave_id.clone()),
                    executor_id: task.executor_id.clone(),
                    timestamp: Some(update_time),
                    ..Default::default()
                };
                task.state = TaskState::TaskKilled as i32;
                if task.statuses.last().is_some_and(|s| s.state == status.state) {
                    task.statuses.pop();
                }
                task.statuses.push(status);
                fw.add_completed_task(task, completed_limit);
            }
        }
        let executors: Vec<_> = self.frameworks.registered[fid]
            .executors
            .iter()
            .flat_map(|(a, m)| m.keys().map(move |e| (a.clone(), e.clone())))
            .collect();
        for (agent, executor) in executors {
            self.remove_executor(now, &agent, fid, &executor);
        }
        let Some(mut fw) = self.frameworks.registered.shift_remove(fid) else { return };
        fw.state = FrameworkState::Disconnected;
        fw.active = false;
        fw.unregistered_time = now.secs();
        if let Some(pid) = fw.pid() {
            if self.frameworks.by_pid.get(pid) == Some(fid) {
                self.frameworks.by_pid.shift_remove(pid);
            }
        }
        if let Some(SchedulerConn::Http(stream)) = fw.conn.take_if(|c| matches!(c, SchedulerConn::Http(_))) {
            self.close_stream(stream);
        }
        let roles: Vec<String> = self.roles.keys().cloned().collect();
        for role in roles {
            self.untrack_under_role(fid, &role);
        }
        if let Err(e) = self.allocator.remove_framework(fid) {
            tracing::error!("Allocator refused to remove framework {}: {}", fid.value, e);
        }
        if self.config.max_completed_frameworks > 0 {
            while self.frameworks.completed.len() >= self.config.max_completed_frameworks {
                self.frameworks.completed.shift_remove_index(0);
            }
            self.frameworks.completed.insert(fid.clone(), fw.clone());
        }
        self.framework_removed_event(&fw.info);
    }

    /// A status update the master generates (Mesos's `createStatusUpdate`
    /// with no uuid).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn master_update(
        &self,
        fid: &FrameworkId,
        agent: Option<&crate::proto::mesos::SlaveId>,
        task_id: &crate::proto::mesos::TaskId,
        state: TaskState,
        message: &str,
        reason: Reason,
        executor: Option<crate::proto::mesos::ExecutorId>,
        unreachable_time: Option<crate::proto::mesos::TimeInfo>,
    ) -> StatusUpdate {
        let timestamp = self.now.secs();
        StatusUpdate {
            framework_id: fid.clone(),
            executor_id: executor.clone(),
            slave_id: agent.cloned(),
            status: TaskStatus {
                task_id: task_id.clone(),
                state: state as i32,
                message: Some(message.to_string()),
                source: Some(Source::Master as i32),
                reason: Some(reason as i32),
                slave_id: agent.cloned(),
                timestamp: Some(timestamp),
                unreachable_time,
                ..Default::default()
            },
            timestamp,
            uuid: None,
            latest_state: None,
        }
    }

    /// A master-generated update about a known task in `state`, carrying
    /// the task's latest health, check and container status (as Mesos's
    /// reconciliation and reregistration updates do).
    pub(crate) fn task_update(
        &self,
        fid: &FrameworkId,
        task: &crate::proto::mesos::Task,
        state: TaskState,
        message: &str,
        reason: Reason,
    ) -> StatusUpdate {
        let mut update = self.master_update(
            fid,
            Some(&task.slave_id),
            &task.task_id,
            state,
            message,
            reason,
            task.executor_id.clone(),
            None,
        );
        if let Some(last) = task.statuses.last() {
            update.status.healthy = last.healthy;
            update.status.check_status = last.check_status;
        }
        update.status.container_status = task.statuses.iter().rev().find_map(|s| s.container_status.clone());
        update
    }

    /// Mesos's `forward`: a status update to its framework, with the pid
    /// to acknowledge to (the agent), or none for master-generated updates.
    pub(crate) fn forward(&mut self, mut update: StatusUpdate, acknowledgee: Option<&Upid>, fid: &FrameworkId) {
        match acknowledgee {
            None => tracing::info!(
                "Sending status update {} for task {} of framework {}{}",
                TaskState::try_from(update.status.state).map(|s| s.as_str_name()).unwrap_or("?"),
                update.status.task_id.value,
                fid.value,
                update.status.message.as_deref().map(|m| format!(" '{m}'")).unwrap_or_default()
            ),
            Some(_) => tracing::info!(
                "Forwarding status update {} for task {} of framework {}",
                TaskState::try_from(update.status.state).map(|s| s.as_str_name()).unwrap_or("?"),
                update.status.task_id.value,
                fid.value
            ),
        }
        if let Some(uuid) = update.uuid.clone() {
            if let Some(agent) =
                self.frameworks.registered.get(fid).and_then(|f| f.tasks.get(&update.status.task_id)).cloned()
            {
                if let Some(task) =
                    self.agents.registered.get_mut(&agent).and_then(|a| a.task_mut(fid, &update.status.task_id))
                {
                    task.status_update_state = Some(update.status.state);
                    task.status_update_uuid = update.status.uuid.clone().or(Some(uuid));
                }
            }
        }
        self.adapt_for_v0(fid, &mut update);
        let message = crate::proto::mesos::internal::StatusUpdateMessage {
            update,
            pid: Some(acknowledgee.map(|p| p.to_string()).unwrap_or_else(|| EMPTY_UPID.to_string())),
        };
        self.send_framework(fid, message.into());
    }

    /// Schedulers built on Mesos 0.22 (pesos) require `StatusUpdate.uuid`;
    /// Mesos 1.x drivers treat an empty uuid as "none" (sched.cpp), so an
    /// update without one goes to v0 schedulers with an empty one.
    pub(crate) fn adapt_for_v0(&self, fid: &FrameworkId, update: &mut StatusUpdate) {
        let v0 = self.frameworks.registered.get(fid).is_some_and(|f| f.pid().is_some());
        if v0 && update.uuid.is_none() {
            update.uuid = Some(Vec::new());
        }
    }

    pub(crate) fn send_status(&mut self, fid: &FrameworkId, mut update: StatusUpdate) {
        self.adapt_for_v0(fid, &mut update);
        let message = crate::proto::mesos::internal::StatusUpdateMessage { update, pid: None };
        self.send_framework(fid, Message::from(message));
    }
}
