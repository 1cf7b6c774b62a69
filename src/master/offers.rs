//! Offers: the allocator's plan made into offers, DECLINE, ACCEPT with its
//! operations (LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE, DESTROY),
//! REVIVE and SUPPRESS (Mesos's `offer`, `decline`, `accept`, `_accept`,
//! `_apply`, `revive`, `suppress`, `launchTasks`, `reviveOffers`).

use crate::common::resources::format::{downgrade_message, upgrade_message};
use crate::common::resources::ops::{conversions, needs_checkpointing, ResourceConversion};
use crate::common::resources::{downgrade_resources, Resources};
use crate::common::roles;
use crate::master::allocator::Plan;
use crate::proto::mesos::health_check::Type as HealthCheckType;
use crate::proto::mesos::internal::{
    ApplyOperationMessage, FrameworkErrorMessage, LaunchTasksMessage, ResourceOffersMessage, ReviveOffersMessage,
    RunTaskGroupMessage, RunTaskMessage,
};
use crate::proto::mesos::offer::operation::Type as OperationType;
use crate::proto::mesos::offer::{operation, Operation};
use crate::proto::mesos::resource::AllocationInfo;
use crate::proto::mesos::scheduler::call;
use crate::proto::mesos::task_status::Reason;
use crate::proto::mesos::{Address, FrameworkId, Offer, OfferId, Resource, SlaveId, Task, TaskInfo, TaskState, Url};
use crate::v0_compat::Upid;

use super::event::{Effect, Now, Timer};
use super::frameworks::EMPTY_UPID;
use super::state::{Master, OfferEntry};
use super::validation::{self, AgentView};

impl Master {
    fn new_offer_id(&mut self) -> OfferId {
        let id = format!("{}-O{}", self.info.id, self.next_offer_id);
        self.next_offer_id += 1;
        OfferId { value: id }
    }

    /// Runs an allocation cycle (all agents, or the ones triggers marked)
    /// and sends the resulting offers.
    pub(crate) fn allocate(&mut self, now: Now, all: bool) {
        let plan: Plan =
            if all { self.allocator.allocate_all(now.monotonic) } else { self.allocator.allocate(now.monotonic) };
        self.metrics.allocation_runs += 1;
        if plan.is_empty() {
            return;
        }
        // One message per framework, as Mesos's `offer` callback.
        let mut by_framework: super::state::Map<FrameworkId, Vec<crate::master::allocator::PlannedOffer>> =
            Default::default();
        for planned in plan.offers {
            by_framework.entry(planned.framework_id.clone()).or_default().push(planned);
        }
        for (fid, planned) in by_framework {
            self.send_offers(now, &fid, planned);
        }
    }

    /// `Master::offer`: the planned offers to one framework, in one message.
    fn send_offers(&mut self, now: Now, fid: &FrameworkId, planned: Vec<crate::master::allocator::PlannedOffer>) {
        let usable = self.frameworks.registered.get(fid).is_some_and(|f| f.connected() && f.active);
        if !usable {
            tracing::warn!(
                "Master returning resources offered to framework {} because the framework has terminated, is not \
                 connected, or is inactive",
                fid.value
            );
            for p in planned {
                self.allocator.recover_resources(now.monotonic, fid, &p.agent_id, &p.resources, None, false);
            }
            return;
        }
        let mut message = ResourceOffersMessage::default();
        let mut ids = Vec::new();
        for p in planned {
            let offer_id = self.new_offer_id();
            let Some(agent) = self.agents.registered.get(&p.agent_id) else {
                tracing::warn!(
                    "Master returning resources offered to framework {} because agent {} is not valid",
                    self.framework_label(fid),
                    p.agent_id.value
                );
                self.allocator.recover_resources(now.monotonic, fid, &p.agent_id, &p.resources, None, false);
                continue;
            };
            if !agent.active {
                tracing::warn!(
                    "Master returning resources offered because agent {} is {}",
                    self.agent_label(&p.agent_id),
                    if agent.connected { "deactivated" } else { "disconnected" }
                );
                self.allocator.recover_resources(now.monotonic, fid, &p.agent_id, &p.resources, None, false);
                continue;
            }
            let url = Url {
                scheme: "http".into(),
                address: Address {
                    hostname: Some(agent.info.hostname.clone()),
                    ip: Some(agent.pid.addr().ip().to_string()),
                    port: i32::from(agent.pid.addr().port()),
                },
                path: Some(format!("/{}", agent.pid.id())),
                ..Default::default()
            };
            let executor_ids = agent.executors.get(fid).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let agent_pid = agent.pid.to_string();
            let offer = Offer {
                id: offer_id,
                framework_id: fid.clone(),
                slave_id: p.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                url: Some(url),
                domain: agent.info.domain.clone(),
                resources: p.resources.to_protos(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                unavailability: self.agent_unavailability(&p.agent_id),
                allocation_info: Some(AllocationInfo { role: Some(p.role.clone()) }),
            };
            let id = offer.id.clone();
            if let Some(fw) = self.frameworks.registered.get_mut(fid) {
                fw.offers.insert(id.clone());
                fw.total_offered += &p.resources;
                *fw.offered.entry(p.agent_id.clone()).or_default() += &p.resources;
            }
            if let Some(agent) = self.agents.registered.get_mut(&p.agent_id) {
                agent.offers.insert(id.clone());
                agent.offered += &p.resources;
            }
            self.track_under_role(fid, &p.role);
            if let Some(timeout) = self.config.offer_timeout {
                self.emit(Effect::Timer { at: now.after(timeout), timer: Timer::OfferTimeout(id.clone()) });
            }
            message.offers.push(self.offer_for_framework(fid, &offer));
            message.pids.push(agent_pid);
            self.offers.insert(id.clone(), OfferEntry { offer, resources: p.resources });
            ids.push(id.value);
        }
        if message.offers.is_empty() {
            return;
        }
        tracing::info!("Sending offers [ {} ] to framework {}", ids.join(", "), self.framework_label(fid));
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            fw.offers_sent += message.offers.len() as u64;
        }
        self.send_framework(fid, message.into());
    }

    /// The offer as this framework sees it: no `ephemeral_ports`; no
    /// allocation info for pre-MULTI_ROLE schedulers (MESOS-8237); the
    /// pre-refinement resource format for schedulers without
    /// RESERVATION_REFINEMENT.
    fn offer_for_framework(&self, fid: &FrameworkId, offer: &Offer) -> Offer {
        let mut out = offer.clone();
        out.resources.retain(|r| r.name != "ephemeral_ports");
        let caps = self.frameworks.registered.get(fid).map(|f| f.caps).unwrap_or_default();
        if !caps.multi_role {
            out.allocation_info = None;
            for r in &mut out.resources {
                r.allocation_info = None;
            }
        }
        if !caps.reservation_refinement {
            let _ = downgrade_resources(&mut out.resources);
        }
        out
    }

    // ---------------------------------------------------------------
    // Legacy messages

    pub(crate) fn on_launch_tasks(&mut self, now: Now, from: &Upid, message: LaunchTasksMessage) {
        let fid = message.framework_id.clone();
        let ids: Vec<&str> = message.offer_ids.iter().map(|o| o.value.as_str()).collect();
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring launch tasks message for offers [ {} ] of framework {} because the framework cannot be found",
                ids.join(", "),
                fid.value
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring launch tasks message for offers [ {} ] from '{}' because it is not from the registered \
                 framework {}",
                ids.join(", "),
                from,
                self.framework_label(&fid)
            );
            return;
        }
        if message.tasks.is_empty() {
            // An empty launch is an implicit decline.
            let decline = call::Decline { offer_ids: message.offer_ids, filters: Some(message.filters) };
            self.decline(now, &fid, decline);
        } else {
            let launch = Operation {
                r#type: Some(OperationType::Launch as i32),
                launch: Some(operation::Launch { task_infos: message.tasks }),
                ..Default::default()
            };
            let accept =
                call::Accept { offer_ids: message.offer_ids, operations: vec![launch], filters: Some(message.filters) };
            self.accept(now, &fid, accept);
        }
    }

    pub(crate) fn on_revive_offers(&mut self, from: &Upid, message: ReviveOffersMessage) {
        let fid = message.framework_id;
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            tracing::warn!(
                "Ignoring revive offers message for framework {} because the framework cannot be found",
                fid.value
            );
            return;
        };
        if fw.pid() != Some(from) {
            tracing::warn!(
                "Ignoring revive offers message for framework {} because it is not expected from {}",
                self.framework_label(&fid),
                from
            );
            return;
        }
        self.revive(&fid, &message.roles);
    }

    // ---------------------------------------------------------------
    // Calls

    fn checked_roles(&self, fid: &FrameworkId, roles: &[String], what: &str) -> Result<Vec<String>, String> {
        let fw = &self.frameworks.registered[fid];
        for role in roles {
            if let Err(e) = roles::validate(role) {
                return Err(format!("{what} role '{role}' is invalid: {}", e.0));
            }
            if !fw.roles.contains(role) {
                return Err(format!("{what} role '{role}' is not one of the frameworks's subscribed roles"));
            }
        }
        Ok(roles.to_vec())
    }

    /// REVIVE: filters are cleared and the roles unsuppressed.
    pub(crate) fn revive(&mut self, fid: &FrameworkId, roles: &[String]) {
        tracing::info!("Processing REVIVE call for framework {}", self.framework_label(fid));
        self.metrics.messages_revive_offers += 1;
        match self.checked_roles(fid, roles, "revive") {
            Ok(roles) => {
                let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
                let _ = self.allocator.revive_offers(fid, &roles);
                if let Some(fw) = self.frameworks.registered.get_mut(fid) {
                    if roles.is_empty() {
                        fw.suppressed_roles.clear();
                    } else {
                        for r in roles {
                            fw.suppressed_roles.remove(r);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("Dropping REVIVE call from framework {}: {}", self.framework_label(fid), e),
        }
    }

    /// SUPPRESS: no offers for these roles (all, if none) until REVIVE.
    pub(crate) fn suppress(&mut self, fid: &FrameworkId, roles: &[String]) {
        tracing::info!("Processing SUPPRESS call for framework {}", self.framework_label(fid));
        self.metrics.messages_suppress_offers += 1;
        match self.checked_roles(fid, roles, "suppression") {
            Ok(roles) => {
                let list: Vec<&str> = roles.iter().map(String::as_str).collect();
                let _ = self.allocator.suppress_offers(fid, &list);
                if let Some(fw) = self.frameworks.registered.get_mut(fid) {
                    if roles.is_empty() {
                        fw.suppressed_roles = fw.roles.clone();
                    } else {
                        fw.suppressed_roles.extend(roles);
                    }
                }
            }
            Err(e) => tracing::warn!("Dropping SUPPRESS call from framework {}: {}", self.framework_label(fid), e),
        }
    }

    /// DECLINE: offers go back to the allocator with the filter.
    pub(crate) fn decline(&mut self, now: Now, fid: &FrameworkId, decline: call::Decline) {
        let filters = decline.filters.unwrap_or_default();
        tracing::info!(
            "Processing DECLINE call for offers: [ {} ] for framework {} with {} seconds filter",
            decline.offer_ids.iter().map(|o| o.value.as_str()).collect::<Vec<_>>().join(", "),
            self.framework_label(fid),
            validation::cpp_double(filters.refuse_seconds())
        );
        self.metrics.messages_decline_offers += 1;
        let mut declined = 0;
        for id in &decline.offer_ids {
            // Mesos lets a framework decline any offer id; only its own
            // are honoured here, so a lying framework cannot take offers
            // away from another one.
            let own = self.offers.get(id).is_some_and(|o| &o.offer.framework_id == fid);
            if own {
                self.discard_offer(now, id, Some(&filters));
                declined += 1;
            } else {
                tracing::warn!("Ignoring decline of offer {} since it is no longer valid", id.value);
            }
        }
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            fw.offers_declined += declined;
        }
    }

    /// `offer::validate`: the offers of an ACCEPT.
    fn validate_offers(&self, fid: &FrameworkId, ids: &[OfferId]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        for id in ids {
            if !self.offers.contains_key(id) {
                return Err(format!("Offer {} is no longer valid", id.value));
            }
        }
        for id in ids {
            let offer = &self.offers[id].offer;
            if &offer.framework_id != fid {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {} is expected",
                    id.value, offer.framework_id.value, fid.value
                ));
            }
        }
        let mut role: Option<&str> = None;
        for id in ids {
            let r = self.offers[id].offer.allocation_info.as_ref().and_then(|a| a.role.as_deref()).unwrap_or("");
            match role {
                None => role = Some(r),
                Some(first) if first != r => {
                    return Err(format!(
                        "Aggregated offers must be allocated to the same role. Offer {} uses role '{} but another is \
                         using role '{}",
                        id.value, r, first
                    ))
                }
                _ => {}
            }
        }
        let mut agent: Option<&SlaveId> = None;
        for id in ids {
            let a = &self.offers[id].offer.slave_id;
            match agent {
                None => agent = Some(a),
                Some(first) if first != a => {
                    return Err(format!(
                        "Aggregated offers must belong to one single agent. Offer {} uses agent {} and agent {}",
                        id.value, a.value, first.value
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A TASK_ERROR/TASK_LOST/TASK_DROPPED for a task the master never
    /// tracked (an invalid launch), counted and sent.
    fn refuse_task(&mut self, fid: &FrameworkId, task: &TaskInfo, state: TaskState, reason: Reason, message: &str) {
        let update = self.master_update(fid, Some(&task.slave_id), &task.task_id, state, message, reason, None, None);
        self.metrics.task_refused(state, reason);
        self.forward(update, None, fid);
    }

    fn tasks_of(op: &Operation) -> Vec<TaskInfo> {
        match op.r#type() {
            OperationType::Launch => op.launch.as_ref().map(|l| l.task_infos.clone()).unwrap_or_default(),
            OperationType::LaunchGroup => {
                op.launch_group.as_ref().map(|g| g.task_group.tasks.clone()).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Drops an invalid non-launch operation (`drop(Framework*, Operation)`).
    fn drop_operation(&mut self, fid: &FrameworkId, op: &Operation, message: &str) {
        tracing::warn!(
            "Dropping {} operation from framework {}: {}",
            op.r#type().as_str_name(),
            self.framework_label(fid),
            message
        );
    }

    /// ACCEPT (and `LaunchTasksMessage`).
    pub(crate) fn accept(&mut self, now: Now, fid: &FrameworkId, accept: call::Accept) {
        for op in &accept.operations {
            if op.r#type() == OperationType::Launch {
                if op.launch.as_ref().is_some_and(|l| !l.task_infos.is_empty()) {
                    self.metrics.messages_launch_tasks += 1;
                } else {
                    self.metrics.messages_decline_offers += 1;
                    tracing::warn!(
                        "Implicitly declining offers: [ {} ] in ACCEPT call for framework {} as the launch operation \
                         specified no tasks",
                        accept.offer_ids.iter().map(|o| o.value.as_str()).collect::<Vec<_>>().join(", "),
                        fid.value
                    );
                }
            }
        }
        let error = if accept.offer_ids.is_empty() {
            Err("No offers specified".to_string())
        } else {
            self.validate_offers(fid, &accept.offer_ids)
        };
        if let Err(error) = error {
            for id in &accept.offer_ids {
                // Offers of other frameworks are left alone (Mesos would
                // discard them too, silently taking them from their owner).
                if self.offers.get(id).is_some_and(|o| &o.offer.framework_id == fid) {
                    self.discard_offer(now, id, None);
                } else {
                    tracing::warn!("Ignoring accept of offer {} since it is no longer valid", id.value);
                }
            }
            tracing::warn!(
                "ACCEPT call used invalid offers '[ {} ]': {}",
                accept.offer_ids.iter().map(|o| o.value.as_str()).collect::<Vec<_>>().join(", "),
                error
            );
            let partition_aware = self.frameworks.registered.get(fid).is_some_and(|f| f.caps.partition_aware);
            let state = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
            for op in &accept.operations {
                if !matches!(op.r#type(), OperationType::Launch | OperationType::LaunchGroup) {
                    self.drop_operation(fid, op, &format!("Operation attempted with invalid offers: {error}"));
                    continue;
                }
                for task in Self::tasks_of(op) {
                    let message = format!("Task launched with invalid offers: {error}");
                    self.refuse_task(fid, &task, state, Reason::InvalidOffers, &message);
                }
            }
            return;
        }

        let first = &self.offers[&accept.offer_ids[0]].offer;
        let agent_id = first.slave_id.clone();
        let allocation = first.allocation_info.clone().unwrap_or_default();
        let v0 = self.frameworks.registered.get(fid).is_some_and(|f| f.pid().is_some());

        // Validate and upgrade the operations' resources; feedback (`id`)
        // is not available through the v0 API.
        let mut operations = Vec::new();
        for mut op in accept.operations {
            upgrade_message(&mut op);
            let mut error = validation::validate_operation_resources(&op).err();
            if error.is_none()
                && op.r#type() == OperationType::Reserve
                && op.reserve.as_ref().is_some_and(|r| !r.source.is_empty())
            {
                error = Some("Reservation updates are not yet implemented for the scheduler API.".into());
            }
            if let Some(error) = error {
                match op.r#type() {
                    OperationType::Launch => {
                        for task in Self::tasks_of(&op) {
                            self.refuse_task(fid, &task, TaskState::TaskError, Reason::TaskInvalid, &error);
                        }
                    }
                    OperationType::LaunchGroup => {
                        for task in Self::tasks_of(&op) {
                            self.refuse_task(fid, &task, TaskState::TaskError, Reason::TaskGroupInvalid, &error);
                        }
                    }
                    OperationType::Unknown => tracing::warn!("Ignoring unknown operation"),
                    _ => self.drop_operation(fid, &op, &format!("Operation attempted with invalid resources: {error}")),
                }
                continue;
            }
            if op.id.is_some() {
                match op.r#type() {
                    OperationType::Launch => {
                        for task in Self::tasks_of(&op) {
                            let m = "The `id` field cannot be set on LAUNCH operations";
                            self.refuse_task(fid, &task, TaskState::TaskError, Reason::TaskInvalid, m);
                        }
                    }
                    OperationType::LaunchGroup => {
                        for task in Self::tasks_of(&op) {
                            let m = "The `id` field cannot be set on LAUNCH_GROUP operations";
                            self.refuse_task(fid, &task, TaskState::TaskError, Reason::TaskGroupInvalid, m);
                        }
                    }
                    OperationType::Unknown => tracing::warn!("Ignoring unknown operation"),
                    _ if v0 => {
                        let message = "The 'id' field was set in an offer operation, but operation feedback is not \
                                       supported for the SchedulerDriver API";
                        tracing::warn!(
                            "Dropping {} operation from framework {}: {}",
                            op.r#type().as_str_name(),
                            self.framework_label(fid),
                            message
                        );
                        let error = FrameworkErrorMessage {
                            message: format!("{message}; please use the HTTP scheduler API for this feature"),
                        };
                        self.send_framework(fid, error.into());
                    }
                    _ => {
                        let caps = self.agents.registered.get(&agent_id).map(|a| a.caps).unwrap_or_default();
                        if !caps.resource_provider {
                            let m = format!(
                                "Operation requested feedback, but agent {} does not have the required \
                                 RESOURCE_PROVIDER capability",
                                agent_id.value
                            );
                            self.drop_operation(fid, &op, &m);
                        } else if !caps.agent_operation_feedback {
                            let m = format!(
                                "Operation on agent default resources requested feedback, but agent {} does not have \
                                 the required AGENT_OPERATION_FEEDBACK and RESOURCE_PROVIDER capabilities",
                                agent_id.value
                            );
                            self.drop_operation(fid, &op, &m);
                        } else {
                            operations.push(op);
                        }
                    }
                }
                continue;
            }
            operations.push(op);
        }
        for op in &mut operations {
            normalize(op, &allocation, fid);
        }
        tracing::info!(
            "Processing ACCEPT call for offers: [ {} ] on agent {} for framework {}",
            accept.offer_ids.iter().map(|o| o.value.as_str()).collect::<Vec<_>>().join(", "),
            self.agent_label(&agent_id),
            self.framework_label(fid)
        );
        self.accept_valid(now, fid, &agent_id, &accept.offer_ids, operations, accept.filters.unwrap_or_default());
    }

    /// `_accept`: applies the operations to the accepted offers' resources.
    fn accept_valid(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        agent_id: &SlaveId,
        offer_ids: &[OfferId],
        operations: Vec<Operation>,
        filters: crate::proto::mesos::Filters,
    ) {
        let connected = self.agents.registered.get(agent_id).map(|a| a.connected);
        if connected != Some(true) {
            let partition_aware = self.frameworks.registered.get(fid).is_some_and(|f| f.caps.partition_aware);
            let state = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
            let (reason, message) = match connected {
                None => (Reason::SlaveRemoved, "Agent removed"),
                Some(_) => (Reason::SlaveDisconnected, "Agent disconnected"),
            };
            for op in &operations {
                for task in Self::tasks_of(op) {
                    self.refuse_task(fid, &task, state, reason, message);
                }
            }
            for id in offer_ids {
                self.discard_offer(now, id, None);
            }
            return;
        }
        let mut offered = Resources::new();
        let mut accepted = 0;
        for id in offer_ids {
            if let Some(entry) = self.take_offer(id) {
                offered += &entry.resources;
                accepted += 1;
            }
        }
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            fw.offers_accepted += accepted;
        }
        let mut remaining = offered.clone();
        let mut launched = Resources::new();
        let remaining_shared = offered.shared();
        let mut all_conversions: Vec<ResourceConversion> = Vec::new();
        let principal = self.frameworks.registered.get(fid).and_then(|f| f.info.principal.clone());
        let agent_label = self.agent_label(agent_id);

        for op in operations {
            match op.r#type() {
                OperationType::Reserve | OperationType::Unreserve | OperationType::Create | OperationType::Destroy => {
                    let Some(agent) = self.agents.registered.get(agent_id) else { break };
                    let Some(fw) = self.frameworks.registered.get(fid) else { break };
                    let result = match op.r#type() {
                        OperationType::Reserve => validation::validate_reserve(
                            op.reserve.as_ref().expect("validated"),
                            principal.as_deref(),
                            agent.caps,
                            Some(&fw.info),
                        ),
                        OperationType::Unreserve => {
                            validation::validate_unreserve(op.unreserve.as_ref().expect("validated"))
                        }
                        OperationType::Create => validation::validate_create(
                            op.create.as_ref().expect("validated"),
                            &agent.checkpointed,
                            principal.as_deref(),
                            agent.caps,
                            Some(&fw.info),
                        ),
                        _ => {
                            let used: Vec<Resources> = agent.used.values().cloned().collect();
                            validation::validate_destroy(
                                op.destroy.as_ref().expect("validated"),
                                &agent.checkpointed,
                                &used,
                            )
                        }
                    };
                    if let Err(e) = result {
                        self.drop_operation(fid, &op, &format!("{e}; on agent {agent_label}"));
                        continue;
                    }
                    if op.r#type() == OperationType::Destroy {
                        // Offers holding a volume being destroyed are rescinded.
                        let volumes = Resources::from_protos(&op.destroy.as_ref().expect("validated").volumes);
                        let offers: Vec<OfferId> = self.agents.registered[agent_id].offers.iter().cloned().collect();
                        for offer in offers {
                            let holds = self
                                .offers
                                .get(&offer)
                                .is_some_and(|o| volumes.iter().any(|v| o.resources.contains_item(v)));
                            if holds {
                                self.rescind_offer(now, &offer, None);
                            }
                        }
                    }
                    let converts = match conversions(&op) {
                        Ok(c) => c,
                        Err(e) => {
                            self.drop_operation(fid, &op, &e.0);
                            continue;
                        }
                    };
                    match remaining.apply_all(&converts) {
                        Ok(r) => remaining = r,
                        Err(e) => {
                            self.drop_operation(fid, &op, &e.0);
                            continue;
                        }
                    }
                    tracing::info!(
                        "Applying {} operation from framework {} to agent {}",
                        op.r#type().as_str_name(),
                        self.framework_label(fid),
                        agent_label
                    );
                    self.apply_operation(Some(fid), agent_id, &op);
                    all_conversions.extend(converts);
                }
                OperationType::Launch => {
                    for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        let available = remaining.non_shared() + &remaining_shared;
                        let Some(fw) = self.frameworks.registered.get(fid) else { break };
                        let Some(agent) = self.agents.registered.get(agent_id) else { break };
                        let existing = task
                            .executor
                            .as_ref()
                            .and_then(|e| agent.executors.get(fid).and_then(|m| m.get(&e.executor_id)));
                        let view = AgentView { id: agent_id, caps: agent.caps, existing_executor: existing };
                        if let Err(e) = validation::validate_task(&task, fw, &view, &available) {
                            self.refuse_task(fid, &task, TaskState::TaskError, Reason::TaskInvalid, &e);
                            continue;
                        }
                        let launch_executor = existing.is_none();
                        let mut consumed = Resources::new();
                        if let (Some(executor), true) = (&task.executor, launch_executor) {
                            consumed += &Resources::from_protos(&executor.resources);
                            self.add_executor_record(agent_id, fid, executor.clone());
                        }
                        consumed += &Resources::from_protos(&task.resources);
                        let additional = consumed.shared() - &remaining.shared();
                        if !additional.is_empty() {
                            all_conversions.push(ResourceConversion::new(Resources::new(), additional));
                        }
                        remaining -= &consumed;
                        launched += &consumed;
                        self.add_task_record(new_task(&task, fid));
                        self.run_task(fid, agent_id, task, launch_executor);
                    }
                }
                OperationType::LaunchGroup => {
                    let group = op.launch_group.expect("validated");
                    let Some(fw) = self.frameworks.registered.get(fid) else { break };
                    let Some(agent) = self.agents.registered.get(agent_id) else { break };
                    let existing = agent.executors.get(fid).and_then(|m| m.get(&group.executor.executor_id));
                    let view = AgentView { id: agent_id, caps: agent.caps, existing_executor: existing };
                    if let Err(e) =
                        validation::validate_task_group(&group.task_group, &group.executor, fw, &view, &remaining)
                    {
                        for task in &group.task_group.tasks {
                            self.refuse_task(fid, task, TaskState::TaskError, Reason::TaskGroupInvalid, &e);
                        }
                        continue;
                    }
                    let launch_executor = existing.is_none();
                    let mut total = Resources::new();
                    if launch_executor {
                        total += &Resources::from_protos(&group.executor.resources);
                        self.add_executor_record(agent_id, fid, group.executor.clone());
                    }
                    for task in &group.task_group.tasks {
                        total += &Resources::from_protos(&task.resources);
                        self.add_task_record(new_task(task, fid));
                    }
                    remaining -= &total;
                    launched += &total;
                    self.run_task_group(fid, agent_id, group, launch_executor);
                }
                OperationType::GrowVolume
                | OperationType::ShrinkVolume
                | OperationType::CreateDisk
                | OperationType::DestroyDisk => {
                    let message = format!(
                        "{} requires an agent with resource providers, which this master does not manage; on agent {}",
                        op.r#type().as_str_name(),
                        agent_label
                    );
                    self.drop_operation(fid, &op, &message);
                }
                OperationType::Unknown => tracing::warn!("Ignoring unknown operation"),
            }
        }
        if !all_conversions.is_empty() {
            if let Err(e) = self.allocator.update_allocation(fid, agent_id, &offered, &all_conversions) {
                tracing::error!("Allocator could not update the allocation of framework {}: {}", fid.value, e);
            }
        }
        let speculated = remaining.clone() - &offered;
        let declined = remaining.clone() - &speculated;
        if !speculated.is_empty() {
            self.allocator.recover_resources(now.monotonic, fid, agent_id, &speculated, None, false);
        }
        if !declined.is_empty() {
            self.allocator.recover_resources(now.monotonic, fid, agent_id, &declined, Some(&filters), false);
        }
        if !launched.is_empty() {
            let _ = self.allocator.transition_offered_to_allocated(agent_id, &launched);
        }
    }

    fn resource_version_uuids(&self, agent_id: &SlaveId) -> Vec<crate::proto::mesos::internal::ResourceVersionUuid> {
        self.agents
            .registered
            .get(agent_id)
            .and_then(|a| a.resource_version.clone())
            .map(|uuid| vec![crate::proto::mesos::internal::ResourceVersionUuid { resource_provider_id: None, uuid }])
            .unwrap_or_default()
    }

    fn run_task(&mut self, fid: &FrameworkId, agent_id: &SlaveId, task: TaskInfo, launch_executor: bool) {
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        let Some(agent) = self.agents.registered.get(agent_id) else { return };
        #[allow(deprecated)]
        let mut message = RunTaskMessage {
            framework_id: None,
            framework: fw.info.clone(),
            pid: Some(fw.pid().map(|p| p.to_string()).unwrap_or_else(|| EMPTY_UPID.to_string())),
            task,
            resource_version_uuids: self.resource_version_uuids(agent_id),
            launch_executor: Some(launch_executor),
        };
        if !agent.caps.reservation_refinement {
            let _ = downgrade_message(&mut message);
        }
        tracing::info!(
            "Launching task {} of framework {} with resources {} on agent {} on {}",
            message.task.task_id.value,
            self.framework_label(fid),
            Resources::from_protos(&message.task.resources),
            self.agent_label(agent_id),
            if launch_executor { " new executor" } else { " existing executor" }
        );
        let pid = agent.pid.clone();
        self.send(&pid, message);
    }

    fn run_task_group(
        &mut self,
        fid: &FrameworkId,
        agent_id: &SlaveId,
        group: operation::LaunchGroup,
        launch_executor: bool,
    ) {
        let Some(fw) = self.frameworks.registered.get(fid) else { return };
        let Some(agent) = self.agents.registered.get(agent_id) else { return };
        let ids: Vec<String> = group.task_group.tasks.iter().map(|t| t.task_id.value.clone()).collect();
        let mut message = RunTaskGroupMessage {
            framework: fw.info.clone(),
            executor: group.executor,
            task_group: group.task_group,
            resource_version_uuids: self.resource_version_uuids(agent_id),
            launch_executor: Some(launch_executor),
        };
        if !agent.caps.reservation_refinement {
            let _ = downgrade_message(&mut message);
        }
        tracing::info!(
            "Launching task group {{ {} }} of framework {} on agent {} on {}",
            ids.join(", "),
            self.framework_label(fid),
            self.agent_label(agent_id),
            if launch_executor { " new executor" } else { " existing executor" }
        );
        let pid = agent.pid.clone();
        self.send(&pid, message);
    }

    /// `_apply`: a speculative operation (RESERVE, UNRESERVE, CREATE,
    /// DESTROY) changes the agent's total at once; a resource-provider
    /// capable agent gets an `ApplyOperationMessage`, others the new
    /// checkpointed resources.
    pub(crate) fn apply_operation(&mut self, fid: Option<&FrameworkId>, agent_id: &SlaveId, op: &Operation) {
        let mut stripped = op.clone();
        strip_allocation(&mut stripped);
        let Ok(converts) = conversions(&stripped) else { return };
        let uuid = self.operation_uuid();
        let Some(agent) = self.agents.registered.get_mut(agent_id) else { return };
        match agent.total.apply_all(&converts) {
            Ok(total) => agent.total = total,
            Err(e) => {
                tracing::error!("Cannot apply operation to agent {}: {}", agent_id.value, e.0);
                return;
            }
        }
        agent.checkpointed = agent.total.filter(needs_checkpointing);
        let pid = agent.pid.clone();
        if agent.caps.resource_provider {
            let message = ApplyOperationMessage {
                framework_id: fid.cloned(),
                operation_info: op.clone(),
                operation_uuid: uuid,
                resource_version_uuid: crate::proto::mesos::internal::ResourceVersionUuid {
                    resource_provider_id: None,
                    uuid: agent.resource_version.clone().unwrap_or_default(),
                },
            };
            tracing::info!("Sending operation to agent {}", self.agent_label(agent_id));
            self.send(&pid, message);
        } else {
            self.send_checkpointed_resources(agent_id);
        }
    }

    /// A fresh operation UUID, derived from the master id and a counter so
    /// that runs stay deterministic.
    fn operation_uuid(&mut self) -> crate::proto::mesos::Uuid {
        let n = self.epoch();
        let seed = format!("{}-operation-{}", self.info.id, n);
        let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes());
        crate::proto::mesos::Uuid { value: uuid.as_bytes().to_vec() }
    }
}

/// The master's adjustments to an accepted operation: the offer's
/// allocation info injected where missing; a LAUNCH task's executor gets
/// the framework id, a health check without type gets one; a LAUNCH_GROUP
/// task gets the group's executor.
fn normalize(op: &mut Operation, allocation: &AllocationInfo, fid: &FrameworkId) {
    let inject = |resources: &mut Vec<Resource>| {
        for r in resources.iter_mut().filter(|r| r.allocation_info.is_none()) {
            r.allocation_info = Some(allocation.clone());
        }
    };
    if let Some(launch) = &mut op.launch {
        for task in &mut launch.task_infos {
            inject(&mut task.resources);
            if let Some(executor) = &mut task.executor {
                inject(&mut executor.resources);
                if executor.framework_id.is_none() {
                    executor.framework_id = Some(fid.clone());
                }
            }
            if let Some(check) = &mut task.health_check {
                if check.r#type.is_none() {
                    tracing::warn!(
                        "The type of health check is not set; use of 'HealthCheck' without specifying 'type' will be \
                         deprecated in Mesos 2.0"
                    );
                    match (check.command.is_some(), check.http.is_some()) {
                        (true, false) => check.r#type = Some(HealthCheckType::Command as i32),
                        (false, true) => check.r#type = Some(HealthCheckType::Http as i32),
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some(group) = &mut op.launch_group {
        inject(&mut group.executor.resources);
        let executor = group.executor.clone();
        for task in &mut group.task_group.tasks {
            inject(&mut task.resources);
            match &mut task.executor {
                Some(e) => inject(&mut e.resources),
                None => task.executor = Some(executor.clone()),
            }
        }
    }
    if let Some(reserve) = &mut op.reserve {
        inject(&mut reserve.resources);
    }
    if let Some(unreserve) = &mut op.unreserve {
        inject(&mut unreserve.resources);
    }
    if let Some(create) = &mut op.create {
        inject(&mut create.volumes);
    }
    if let Some(destroy) = &mut op.destroy {
        inject(&mut destroy.volumes);
    }
}

fn strip_allocation(op: &mut Operation) {
    let strip = |resources: &mut Vec<Resource>| resources.iter_mut().for_each(|r| r.allocation_info = None);
    if let Some(reserve) = &mut op.reserve {
        strip(&mut reserve.resources);
        strip(&mut reserve.source);
    }
    if let Some(unreserve) = &mut op.unreserve {
        strip(&mut unreserve.resources);
    }
    if let Some(create) = &mut op.create {
        strip(&mut create.volumes);
    }
    if let Some(destroy) = &mut op.destroy {
        strip(&mut destroy.volumes);
    }
}

/// `protobuf::createTask(task, TASK_STAGING, framework)`.
fn new_task(info: &TaskInfo, fid: &FrameworkId) -> Task {
    let user = info
        .command
        .as_ref()
        .and_then(|c| c.user.clone())
        .or_else(|| info.executor.as_ref().and_then(|e| e.command.as_ref()).and_then(|c| c.user.clone()));
    Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: fid.clone(),
        executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
        slave_id: info.slave_id.clone(),
        state: TaskState::TaskStaging as i32,
        resources: info.resources.clone(),
        limits: info.limits.clone(),
        labels: info.labels.clone(),
        discovery: info.discovery.clone(),
        container: info.container.clone(),
        health_check: info.health_check.clone(),
        kill_policy: info.kill_policy,
        user,
        ..Default::default()
    }
}
