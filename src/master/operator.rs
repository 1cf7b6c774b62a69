//! The v1 operator API, the state machine's side (Mesos's `Master::Http`
//! handlers that change things, `Master::Subscribers`, and the
//! `protobuf::master::event::create*` builders).
//!
//! # Layout
//! - [`OperatorCall`]: what the HTTP door asks that changes the master or
//!   needs its event order (SUBSCRIBE). Read-only calls never come here: the
//!   HTTP layer reads the books through the builders below.
//! - [`OperatorEffect`]: events for the subscribers' streams and the
//!   answers to calls, carried out by the driver.
//! - builders (`agent_response`, `framework_response`, `get_state`, ...):
//!   the `mesos.master.Response` pieces, in the v0 package (as Mesos keeps
//!   them inside); the HTTP layer evolves them to `mesos.v1.master.*` (the
//!   same bytes) before writing JSON or protobuf.
//!
//! Operator events are built only while someone subscribes, as Mesos
//! checks `subscribers.subscribed.empty()`.

use crate::common::resources::format::{convert_resource_format, ResourceFormat};
use crate::common::resources::Resources;
use crate::proto::mesos::master::event::Type as EventType;
use crate::proto::mesos::master::event::{
    AgentAdded, AgentRemoved, FrameworkAdded, FrameworkRemoved, FrameworkUpdated, Subscribed, TaskAdded, TaskUpdated,
};
use crate::proto::mesos::master::response::{
    get_agents, get_executors, get_frameworks, GetAgents, GetExecutors, GetFrameworks, GetMaster, GetRoles, GetState,
    GetTasks, GetWeights,
};
use crate::proto::mesos::master::Event as OperatorEvent;
use crate::proto::mesos::offer::operation::Type as OperationType;
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::quota::{QuotaConfig, QuotaInfo, QuotaStatus};
use crate::proto::mesos::{FrameworkId, Resource, Role, SlaveId, Task, TaskStatus, TimeInfo, WeightInfo};

use super::event::{Effect, Now};
use super::registry::RegistryOp;
use super::state::{Agent, Framework, Master, Pending};

/// `DEFAULT_HEARTBEAT_INTERVAL` of the operator event stream.
pub const HEARTBEAT_INTERVAL_SECS: f64 = 15.0;

/// An operator call the master itself must decide or order.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorCall {
    /// SUBSCRIBE: the stream `stream` gets SUBSCRIBED (the full state)
    /// now, then every event after it.
    Subscribe { stream: u64 },
    /// The subscriber's connection is gone.
    Unsubscribe { stream: u64 },
    /// UPDATE_WEIGHTS.
    UpdateWeights(Vec<WeightInfo>),
    /// TEARDOWN.
    Teardown(FrameworkId),
    /// MARK_AGENT_GONE.
    MarkAgentGone(SlaveId),
    /// RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES,
    /// DESTROY_VOLUMES: the operation on the agent's unused resources.
    Operation { agent: SlaveId, operation: Box<Operation> },
    /// UPDATE_QUOTA.
    UpdateQuota { force: bool, configs: Vec<QuotaConfig> },
    /// UPDATE_MAINTENANCE_SCHEDULE.
    UpdateMaintenanceSchedule(crate::proto::mesos::maintenance::Schedule),
    /// START_MAINTENANCE.
    StartMaintenance(Vec<crate::proto::mesos::MachineId>),
    /// STOP_MAINTENANCE.
    StopMaintenance(Vec<crate::proto::mesos::MachineId>),
    /// DEACTIVATE_AGENT.
    DeactivateAgent(SlaveId),
    /// REACTIVATE_AGENT.
    ReactivateAgent(SlaveId),
}

/// Why a call was refused: the HTTP status and Mesos's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 503 (retryable).
    #[error("{0}")]
    Unavailable(String),
    /// 409: the resources are not available (any more).
    #[error("{0}")]
    Conflict(String),
}

/// What the driver carries out for the operator API.
#[derive(Clone, Debug)]
pub enum OperatorEffect {
    /// Write `event` to stream `stream`, or to every subscriber when `None`.
    Event { stream: Option<u64>, event: Box<OperatorEvent> },
    /// Answer call `id` (200 OK with no body, or the error).
    Done { id: u64, result: Result<(), OperatorError> },
}

/// `TimeInfo` of seconds since the epoch.
pub fn time_info(secs: f64) -> TimeInfo {
    TimeInfo { nanoseconds: (secs * 1e9) as i64 }
}

/// Resources as the endpoints show them (post-reservation-refinement).
fn endpoint_resources(resources: &Resources) -> Vec<Resource> {
    resources
        .to_protos()
        .into_iter()
        .map(|mut r| {
            let _ = convert_resource_format(&mut r, ResourceFormat::Endpoint);
            r
        })
        .collect()
}

/// `createAgentResponse`.
pub fn agent_response(master: &Master, agent: &Agent) -> get_agents::Agent {
    let mut used = Resources::new();
    for r in agent.used.values() {
        used += r;
    }
    get_agents::Agent {
        agent_info: agent.info.clone(),
        active: agent.active,
        deactivated: Some(master.agents.deactivated.contains(&agent.id)),
        version: agent.version.clone(),
        pid: Some(agent.pid.to_string()),
        registered_time: Some(time_info(agent.registered_time)),
        reregistered_time: agent.reregistered_time.map(time_info),
        total_resources: endpoint_resources(&agent.total),
        allocated_resources: endpoint_resources(&used),
        offered_resources: endpoint_resources(&agent.offered),
        capabilities: agent.capabilities.clone(),
        resource_providers: Vec::new(),
        drain_info: master.agents.draining.get(&agent.id).cloned(),
        estimated_drain_start_time: None,
    }
}

/// The `Framework` entry of GET_FRAMEWORKS (and FRAMEWORK_ADDED/UPDATED,
/// which carry only the first fields, as Mesos's builders do).
pub fn framework_response(master: &Master, fw: &Framework, full: bool) -> get_frameworks::Framework {
    let mut out = get_frameworks::Framework {
        framework_info: fw.info.clone(),
        active: fw.active,
        connected: fw.connected(),
        recovered: fw.recovered(),
        registered_time: Some(time_info(fw.registered_time)),
        reregistered_time: Some(time_info(fw.reregistered_time)),
        unregistered_time: Some(time_info(fw.unregistered_time)),
        ..Default::default()
    };
    if full {
        out.offers = fw.offers.iter().filter_map(|id| master.offers.get(id)).map(|e| e.offer.clone()).collect();
        out.allocated_resources = endpoint_resources(&fw.total_used);
        out.offered_resources = endpoint_resources(&fw.total_offered);
        let fid = fw.id();
        out.inverse_offers = master
            .maintenance
            .inverse_offers
            .iter()
            .filter(|(_, (framework, _))| *framework == fid)
            .filter_map(|(id, (framework, agent))| {
                Some(crate::proto::mesos::InverseOffer {
                    id: id.clone(),
                    url: None,
                    framework_id: framework.clone(),
                    slave_id: Some(agent.clone()),
                    unavailability: master.agent_unavailability(agent)?,
                    resources: Vec::new(),
                })
            })
            .collect();
        if fw.offer_constraints != Default::default() {
            out.offer_constraints = Some(fw.offer_constraints.clone());
        }
    }
    out
}

/// GET_AGENTS.
pub fn get_agents(master: &Master) -> GetAgents {
    GetAgents {
        agents: master.agents.registered.values().map(|a| agent_response(master, a)).collect(),
        recovered_agents: master.agents.recovered.values().cloned().collect(),
    }
}

/// GET_FRAMEWORKS.
pub fn get_frameworks(master: &Master) -> GetFrameworks {
    GetFrameworks {
        frameworks: master.frameworks.registered.values().map(|f| framework_response(master, f, true)).collect(),
        completed_frameworks: master
            .frameworks
            .completed
            .values()
            .map(|f| framework_response(master, f, true))
            .collect(),
        ..Default::default()
    }
}

/// GET_EXECUTORS: the executors of registered and completed frameworks.
pub fn get_executors(master: &Master) -> GetExecutors {
    let mut executors = Vec::new();
    for fw in master.frameworks.registered.values().chain(master.frameworks.completed.values()) {
        for (agent, map) in &fw.executors {
            for info in map.values() {
                executors.push(get_executors::Executor { executor_info: info.clone(), slave_id: agent.clone() });
            }
        }
    }
    GetExecutors { executors, ..Default::default() }
}

/// GET_TASKS: active, unreachable and completed tasks of every framework
/// the master knows.
pub fn get_tasks(master: &Master) -> GetTasks {
    let mut out = GetTasks::default();
    for fw in master.frameworks.registered.values().chain(master.frameworks.completed.values()) {
        let fid = fw.id();
        for (task_id, agent) in &fw.tasks {
            if let Some(task) = master.agents.registered.get(agent).and_then(|a| a.task(&fid, task_id)) {
                out.tasks.push(task.clone());
            }
        }
        out.unreachable_tasks.extend(fw.unreachable_tasks.values().cloned());
        out.completed_tasks.extend(fw.completed_tasks.iter().cloned());
    }
    out
}

/// GET_STATE.
pub fn get_state(master: &Master) -> GetState {
    GetState {
        get_tasks: Some(get_tasks(master)),
        get_executors: Some(get_executors(master)),
        get_frameworks: Some(get_frameworks(master)),
        get_agents: Some(get_agents(master)),
    }
}

/// GET_ROLES: every known role, its weight, frameworks and the resources
/// allocated and offered to it.
pub fn get_roles(master: &Master) -> GetRoles {
    let roles = master
        .known_roles()
        .into_iter()
        .map(|name| {
            let mut resources = Resources::new();
            for fw in master.frameworks.registered.values() {
                resources += &fw.total_used.allocated_to_role_subtree(&name);
                resources += &fw.total_offered.allocated_to_role_subtree(&name);
            }
            Role {
                weight: master.weight(&name),
                frameworks: master.role_frameworks(&name),
                resources: endpoint_resources(&resources),
                name,
            }
        })
        .collect();
    GetRoles { roles }
}

/// GET_QUOTA: every role's configuration, and the legacy `QuotaInfo`
/// (its guarantees) alongside, as Mesos 1.11 answers.
pub fn get_quota(master: &Master) -> crate::proto::mesos::master::response::GetQuota {
    let mut status = QuotaStatus::default();
    for config in master.quota_configs.values() {
        let mut guarantees: Vec<_> = config.guarantees.iter().collect();
        guarantees.sort_by(|a, b| a.0.cmp(b.0));
        #[allow(deprecated)]
        status.infos.push(QuotaInfo {
            role: Some(config.role.clone()),
            guarantee: guarantees
                .into_iter()
                .map(|(name, scalar)| Resource {
                    name: name.clone(),
                    r#type: crate::proto::mesos::value::Type::Scalar as i32,
                    scalar: Some(*scalar),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        status.configs.push(config.clone());
    }
    crate::proto::mesos::master::response::GetQuota { status }
}

/// Mesos's `quota::validate(QuotaConfig)`.
pub fn validate_quota_config(config: &QuotaConfig) -> Result<(), String> {
    use crate::common::resource_quantities::Quota;
    if config.role.is_empty() {
        return Err("'QuotaConfig.role' must be set".into());
    }
    crate::common::roles::validate(&config.role).map_err(|e| format!("Invalid 'QuotaConfig.role': {e}"))?;
    const EXABYTE_IN_MB: f64 = 1024.0 * 1024.0 * 1024.0 * 1024.0;
    const OTHER_LIMIT: f64 = 1e12;
    for (what, map) in [("guarantees", &config.guarantees), ("limits", &config.limits)] {
        let mut names: Vec<_> = map.keys().collect();
        names.sort();
        for name in names {
            let value = map[name].value;
            let max = if name == "mem" || name == "disk" { EXABYTE_IN_MB } else { OTHER_LIMIT };
            if value > max {
                return Err(format!(
                    "Invalid 'QuotaConfig.{what}': {{'{name}': {value}}} is invalid: values greater than {} are \
                     not supported",
                    if max == EXABYTE_IN_MB { "1 exabyte (1099511627776)" } else { "1 trillion (1000000000000)" }
                ));
            }
            if !value.is_finite() || value < 0.0 {
                let kind = if what == "guarantees" { "guarantee" } else { "limit" };
                return Err(format!(
                    "Invalid {kind} configuration {{'{name}': {value}}}: values must be non-negative and finite"
                ));
            }
        }
    }
    let quota = Quota::from_config(config);
    if !quota.limits.contains_quantities(&quota.guarantees) {
        return Err(format!(
            "'QuotaConfig.guarantees' {} is not contained within the 'QuotaConfig.limits' {}",
            quota.guarantees, quota.limits
        ));
    }
    Ok(())
}

/// GET_WEIGHTS.
pub fn get_weights(master: &Master) -> GetWeights {
    GetWeights {
        weight_infos: master
            .weights
            .iter()
            .map(|(role, weight)| WeightInfo { role: Some(role.clone()), weight: *weight })
            .collect(),
    }
}

/// GET_MASTER.
pub fn get_master(master: &Master) -> GetMaster {
    GetMaster {
        master_info: Some(master.info.clone()),
        start_time: Some(master.start_time),
        elected_time: master.elected_time,
    }
}

fn fw_task_executor(
    master: &Master,
    fid: &FrameworkId,
    task: &crate::proto::mesos::TaskId,
) -> Option<crate::proto::mesos::ExecutorId> {
    master.frameworks.registered.get(fid)?.unreachable_tasks.get(task)?.executor_id.clone()
}

fn event(kind: EventType) -> OperatorEvent {
    OperatorEvent { r#type: Some(kind as i32), ..Default::default() }
}

/// A weight must be positive, and its role valid and, with `--roles`,
/// whitelisted (Mesos's `validateWeights` plus the role checks).
fn validate_weights(master: &Master, infos: &[WeightInfo]) -> Result<(), OperatorError> {
    for info in infos {
        let Some(role) = info.role.as_deref() else {
            return Err(OperatorError::BadRequest(
                "Failed to validate weights: Weights must be specified with a role".into(),
            ));
        };
        if let Err(e) = crate::common::roles::validate(role) {
            return Err(OperatorError::BadRequest(format!("Failed to validate weights: {e}")));
        }
        if info.weight <= 0.0 || !info.weight.is_finite() {
            return Err(OperatorError::BadRequest(format!(
                "Failed to validate weights: Invalid weight '{}': weights must be positive",
                info.weight
            )));
        }
        if let Some(whitelist) = master.config.roles.roles() {
            if !whitelist.iter().any(|r| r == role) {
                return Err(OperatorError::BadRequest(format!(
                    "Failed to validate weights: Invalid role: '{role}' is not a whitelisted role"
                )));
            }
        }
    }
    Ok(())
}

impl Master {
    fn operator_done(&mut self, id: u64, result: Result<(), OperatorError>) {
        self.out.push(Effect::Operator(OperatorEffect::Done { id, result }));
    }

    /// Whether anyone listens to operator events.
    pub(crate) fn has_operator_subscribers(&self) -> bool {
        !self.operator_streams.is_empty()
    }

    fn operator_event(&mut self, event: OperatorEvent) {
        self.out.push(Effect::Operator(OperatorEffect::Event { stream: None, event: Box::new(event) }));
    }

    /// Handles an operator call `id`.
    pub(crate) fn on_operator_call(&mut self, now: Now, id: u64, call: OperatorCall) {
        if !self.elected || !self.recovered {
            self.operator_done(id, Err(OperatorError::Unavailable("Master has not finished recovery".into())));
            return;
        }
        match call {
            OperatorCall::Subscribe { stream } => {
                self.operator_streams.insert(stream);
                let mut subscribed = event(EventType::Subscribed);
                subscribed.subscribed = Some(Subscribed {
                    get_state: Some(get_state(self)),
                    heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL_SECS),
                });
                tracing::info!("Added operator subscriber (stream {stream})");
                self.out.push(Effect::Operator(OperatorEffect::Event {
                    stream: Some(stream),
                    event: Box::new(subscribed),
                }));
                self.operator_done(id, Ok(()));
            }
            OperatorCall::Unsubscribe { stream } => {
                if self.operator_streams.shift_remove(&stream) {
                    tracing::info!("Removed operator subscriber (stream {stream})");
                }
                self.operator_done(id, Ok(()));
            }
            OperatorCall::UpdateWeights(infos) => {
                if let Err(e) = validate_weights(self, &infos) {
                    self.operator_done(id, Err(e));
                    return;
                }
                self.registry(RegistryOp::UpdateWeights(infos.clone()), Pending::Weights { id, infos });
            }
            OperatorCall::Teardown(fid) => {
                if !self.frameworks.registered.contains_key(&fid) {
                    self.operator_done(
                        id,
                        Err(OperatorError::BadRequest("No framework found with specified ID".into())),
                    );
                    return;
                }
                self.teardown(now, &fid);
                self.operator_done(id, Ok(()));
            }
            OperatorCall::MarkAgentGone(agent) => self.mark_agent_gone(now, id, agent),
            OperatorCall::Operation { agent, operation } => {
                let result = self.operator_operation(now, &agent, *operation);
                self.operator_done(id, result);
            }
            OperatorCall::UpdateQuota { force, configs } => {
                if let Err(e) = self.update_quota(id, force, configs) {
                    self.operator_done(id, Err(e));
                }
            }
            OperatorCall::UpdateMaintenanceSchedule(schedule) => {
                if let Err(e) = self.update_maintenance_schedule(id, schedule) {
                    self.operator_done(id, Err(e));
                }
            }
            OperatorCall::StartMaintenance(machines) => {
                if let Err(e) = self.start_maintenance(id, machines) {
                    self.operator_done(id, Err(e));
                }
            }
            OperatorCall::StopMaintenance(machines) => {
                if let Err(e) = self.stop_maintenance(id, machines) {
                    self.operator_done(id, Err(e));
                }
            }
            OperatorCall::DeactivateAgent(agent) => {
                let known = self.agents.registered.contains_key(&agent)
                    || self.agents.recovered.contains_key(&agent)
                    || self.agents.unreachable.contains_key(&agent);
                if !known {
                    self.operator_done(id, Err(OperatorError::BadRequest("Unknown agent".into())));
                    return;
                }
                self.registry(RegistryOp::DeactivateAgent(agent.clone()), Pending::DeactivateAgent { id, agent });
            }
            OperatorCall::ReactivateAgent(agent) => {
                if !self.agents.deactivated.contains(&agent) {
                    self.operator_done(id, Err(OperatorError::BadRequest("Agent is not deactivated".into())));
                    return;
                }
                let draining = self
                    .agents
                    .draining
                    .get(&agent)
                    .is_some_and(|d| d.state == crate::proto::mesos::DrainState::Draining as i32);
                if draining {
                    self.operator_done(
                        id,
                        Err(OperatorError::BadRequest("Agent is still in the DRAINING state".into())),
                    );
                    return;
                }
                self.registry(RegistryOp::ReactivateAgent(agent.clone()), Pending::ReactivateAgent { id, agent });
            }
        }
    }

    /// `QuotaHandler::update`: each configuration validated (whitelist, no
    /// nested role, `quota::validate`), limits not below what the role
    /// already consumes and guarantees within the cluster's capacity
    /// (unless `force`), then persisted before the allocator uses them.
    fn update_quota(&mut self, id: u64, force: bool, configs: Vec<QuotaConfig>) -> Result<(), OperatorError> {
        use crate::common::resource_quantities::{Quota, ResourceQuantities};
        let bad = |text: String| OperatorError::BadRequest(text);
        for config in &configs {
            if let Some(whitelist) = self.config.roles.roles() {
                if !whitelist.iter().any(|r| r == &config.role) {
                    return Err(bad(format!("Invalid QuotaConfig: '{}' is not on the roles whitelist", config.role)));
                }
            }
            if config.role.contains('/') {
                return Err(bad(format!("Updating quota on nested role '{}' is not supported yet", config.role)));
            }
            validate_quota_config(config).map_err(|e| bad(format!("Invalid QuotaConfig: {e}")))?;
        }
        for config in &configs {
            let limits = Quota::from_config(config).limits;
            let consumed = self.allocator.quota_consumed(&config.role);
            if !limits.contains_quantities(&consumed) {
                if force {
                    tracing::info!(
                        "Updating '{}' quota limit to '{}'; this is below its current quota consumption '{}'; \
                         ignored violation since the force flag is provided",
                        config.role,
                        limits,
                        consumed
                    );
                } else {
                    return Err(bad(format!(
                        "Invalid QuotaConfig: Role '{}' is already consuming '{}'; this is more than the \
                         requested limits '{}' (use 'force' flag to bypass this check)",
                        config.role, consumed, limits
                    )));
                }
            }
        }
        let mut guarantees = ResourceQuantities::new();
        for (role, config) in &self.quota_configs {
            if !configs.iter().any(|c| &c.role == role) {
                guarantees += &Quota::from_config(config).guarantees;
            }
        }
        for config in &configs {
            guarantees += &Quota::from_config(config).guarantees;
        }
        let mut capacity = ResourceQuantities::new();
        for agent in self.agents.registered.values() {
            capacity += &ResourceQuantities::from_scalar_resources(&agent.total.non_revocable());
        }
        if !capacity.contains(&guarantees) {
            if force {
                tracing::info!("Using force flag to override quota overcommit check");
            } else {
                return Err(bad(format!(
                    "Invalid QuotaConfig: total quota guarantees '{guarantees}' exceed cluster capacity \
                     '{capacity}' (use 'force' flag to bypass this check)"
                )));
            }
        }
        self.registry(RegistryOp::UpdateQuota(configs.clone()), Pending::Quota { id, configs });
        Ok(())
    }

    /// `_deactivateAgent` once persisted: no more offers from the agent.
    pub(crate) fn agent_deactivated(&mut self, now: Now, id: u64, agent: SlaveId) {
        self.agents.deactivated.insert(agent.clone());
        if self.agents.registered.contains_key(&agent) {
            self.deactivate_agent(now, &agent);
        }
        self.operator_done(id, Ok(()));
    }

    /// `_reactivateAgent` once persisted: a connected agent is offered again.
    pub(crate) fn agent_reactivated(&mut self, id: u64, agent: SlaveId) {
        self.agents.draining.shift_remove(&agent);
        self.agents.deactivated.shift_remove(&agent);
        let Some(a) = self.agents.registered.get_mut(&agent) else {
            self.operator_done(id, Err(OperatorError::Conflict("Agent removed while processing the call".into())));
            return;
        };
        if a.connected {
            tracing::info!("Reactivating agent {}", agent.value);
            a.active = true;
            let _ = self.allocator.activate_agent(&agent);
        } else {
            tracing::info!("Disconnected agent {} will be reactivated upon reregistration", agent.value);
        }
        self.operator_done(id, Ok(()));
    }

    /// The registry holds the new quota: the master and the allocator use it.
    pub(crate) fn quota_updated(&mut self, id: u64, configs: Vec<QuotaConfig>) {
        use crate::common::resource_quantities::Quota;
        for config in configs {
            let quota = Quota::from_config(&config);
            tracing::info!(
                "Updated quota of role '{}': guarantees '{}', limits '{}'",
                config.role,
                quota.guarantees,
                quota.limits
            );
            if quota.is_default() {
                self.quota_configs.shift_remove(&config.role);
            } else {
                self.quota_configs.insert(config.role.clone(), config.clone());
            }
            self.allocator.update_quota(&config.role, quota);
        }
        self.operator_done(id, Ok(()));
    }

    /// `Master::Http::_reserve` / `_unreserve` / `_createVolumes` /
    /// `_destroyVolumes`, then `_operation` and `apply`: the resources are
    /// upgraded and validated (no framework: no allocation checks), offers
    /// holding them are rescinded until they are covered, the allocator
    /// takes them out of what it may offer (409 if it no longer has them),
    /// and the agent gets its new checkpointed resources.
    fn operator_operation(&mut self, now: Now, agent_id: &SlaveId, mut op: Operation) -> Result<(), OperatorError> {
        use crate::common::resources::ops::{conversions, strip_persistent_volume};
        use crate::common::resources::{upgrade_resources, validate_all};
        let kind = op.r#type();
        let Some(agent) = self.agents.registered.get(agent_id) else {
            return Err(OperatorError::BadRequest("No agent found with specified ID".into()));
        };
        let label = format!("{} at {} ({})", agent.id.value, agent.pid, agent.info.hostname);
        let lists: Vec<&mut Vec<Resource>> = match kind {
            OperationType::Reserve => {
                let reserve = op.reserve.get_or_insert_with(Default::default);
                vec![&mut reserve.source, &mut reserve.resources]
            }
            OperationType::Unreserve => {
                vec![&mut op.unreserve.get_or_insert_with(Default::default).resources]
            }
            OperationType::Create => {
                vec![&mut op.create.get_or_insert_with(Default::default).volumes]
            }
            OperationType::Destroy => {
                vec![&mut op.destroy.get_or_insert_with(Default::default).volumes]
            }
            other => return Err(OperatorError::BadRequest(format!("Unsupported operation {}", other.as_str_name()))),
        };
        for list in lists {
            validate_all(list).map_err(|e| OperatorError::BadRequest(format!("Invalid resources: {}", e.0)))?;
            upgrade_resources(list);
        }
        let invalid = |e: String| {
            OperatorError::BadRequest(format!("Invalid {} operation on agent {label}: {e}", kind.as_str_name()))
        };
        match (&op.reserve, &op.unreserve, &op.create, &op.destroy, kind) {
            (Some(reserve), _, _, _, OperationType::Reserve) => {
                super::validation::validate_reserve(reserve, None, agent.caps, None).map_err(invalid)?
            }
            (_, Some(unreserve), _, _, OperationType::Unreserve) => {
                super::validation::validate_unreserve(unreserve).map_err(invalid)?
            }
            (_, _, Some(create), _, OperationType::Create) => {
                super::validation::validate_create(create, &agent.checkpointed, None, agent.caps, None)
                    .map_err(invalid)?
            }
            (_, _, _, Some(destroy), _) => {
                let used: Vec<Resources> = agent.used.values().cloned().collect();
                super::validation::validate_destroy(destroy, &agent.checkpointed, &used).map_err(invalid)?
            }
            _ => return Err(invalid("the operation carries no resources".into())),
        }
        let converts = conversions(&op)
            .map_err(|e| OperatorError::BadRequest(format!("Invalid {} operation: {}", kind.as_str_name(), e.0)))?;
        let mut required = Resources::new();
        for c in &converts {
            required += &c.consumed;
        }
        if let (OperationType::Create, Some(create)) = (kind, &op.create) {
            // A volume is made of plain disk: that is what must be free.
            let disks: Vec<Resource> = create.volumes.iter().map(strip_persistent_volume).collect();
            required = Resources::from_protos(&disks);
        }
        // Rescind offers until what they held covers the operation (Mesos
        // rescinds greedily, pessimistic about what the allocator has).
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let mut recovered = Resources::new();
        for offer in offers {
            let Some(entry) = self.offers.get(&offer) else {
                continue;
            };
            let mut held = entry.resources.clone();
            held.unallocate();
            if (&required - &held) == required {
                continue;
            }
            recovered += &held;
            required = &required - &held;
            self.rescind_offer(now, &offer, Some(&crate::proto::mesos::Filters::default()));
            if recovered.apply_all(&converts).is_ok() {
                break;
            }
        }
        if let Err(e) = self.allocator.update_available(agent_id, std::slice::from_ref(&op)) {
            return Err(OperatorError::Conflict(e.to_string()));
        }
        tracing::info!("Applying {} operation from the operator API to agent {}", kind.as_str_name(), label);
        self.apply_operation(None, agent_id, &op);
        Ok(())
    }

    /// `_updateWeights` once the registry holds them: the master and the
    /// allocator use the new weights.
    pub(crate) fn weights_updated(&mut self, id: u64, infos: Vec<WeightInfo>) {
        let mut updated = Vec::new();
        for info in infos {
            let role = info.role.unwrap_or_default();
            self.weights.insert(role.clone(), info.weight);
            updated.push((role, info.weight));
        }
        self.allocator.update_weights(&updated);
        tracing::info!("Updated weights: {:?}", updated);
        self.operator_done(id, Ok(()));
    }

    /// `_markAgentGone`.
    fn mark_agent_gone(&mut self, now: Now, id: u64, agent: SlaveId) {
        tracing::info!("Marking agent '{}' as gone", agent.value);
        if self.agents.gone.contains_key(&agent) {
            tracing::warn!("Not marking agent '{}' as gone because it has already transitioned to gone", agent.value);
            self.operator_done(id, Ok(()));
            return;
        }
        let busy = if self.agents.marking_gone.contains(&agent) {
            Some("is already being transitioned to gone")
        } else if self.agents.removing.contains(&agent) {
            Some("is being transitioned to removed")
        } else if self.agents.marking_unreachable.contains(&agent) {
            Some("is being transitioned to unreachable")
        } else {
            None
        };
        if let Some(busy) = busy {
            self.operator_done(id, Err(OperatorError::Unavailable(format!("Agent '{}' {busy}", agent.value))));
            return;
        }
        let known = self.agents.registered.contains_key(&agent)
            || self.agents.recovered.contains_key(&agent)
            || self.agents.unreachable.contains_key(&agent);
        if !known {
            self.operator_done(id, Err(OperatorError::NotFound(format!("Agent '{}' not found", agent.value))));
            return;
        }
        self.agents.marking_gone.insert(agent.clone());
        let time = TimeInfo { nanoseconds: now.nanos() };
        let op = RegistryOp::MarkSlaveGone { id: agent.clone(), time };
        self.registry(op, Pending::MarkGone { id, agent, time });
    }

    /// `markGone`: the registry holds the agent as gone.
    pub(crate) fn agent_marked_gone(&mut self, now: Now, id: u64, agent: SlaveId, time: TimeInfo) {
        self.agents.marking_gone.shift_remove(&agent);
        self.agents.gone.insert(agent.clone(), time);
        let message = "Agent has been marked gone";
        if !self.agents.registered.contains_key(&agent) {
            if self.agents.recovered.shift_remove(&agent).is_none() {
                self.agents.unreachable.shift_remove(&agent);
                self.agents.draining.shift_remove(&agent);
                self.agents.deactivated.shift_remove(&agent);
                self.unreachable_tasks_gone(&agent, message);
            }
            self.operator_done(id, Ok(()));
            return;
        }
        let pid = self.agents.registered[&agent].pid.clone();
        self.send(&pid, crate::proto::mesos::internal::ShutdownMessage { message: Some(message.to_string()) });
        self.remove_agent_records(now, &agent, message, None);
        self.operator_done(id, Ok(()));
    }

    /// The tasks an unreachable agent left behind become
    /// TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that are not
    /// partition-aware) and completed.
    fn unreachable_tasks_gone(&mut self, agent: &SlaveId, message: &str) {
        use crate::proto::mesos::task_status::Reason;
        use crate::proto::mesos::TaskState;
        let Some(by_framework) = self.agents.unreachable_tasks.shift_remove(agent) else {
            return;
        };
        let limit = self.config.max_completed_tasks_per_framework;
        for (fid, task_ids) in by_framework {
            let Some(fw) = self.frameworks.registered.get(&fid) else {
                continue;
            };
            let (state, reason) = if fw.caps.partition_aware {
                (TaskState::TaskGoneByOperator, Reason::SlaveRemovedByOperator)
            } else {
                (TaskState::TaskLost, Reason::SlaveRemoved)
            };
            for task_id in task_ids {
                let executor = fw_task_executor(self, &fid, &task_id);
                let update = self.master_update(&fid, Some(agent), &task_id, state, message, reason, executor, None);
                let Some(fw) = self.frameworks.registered.get_mut(&fid) else {
                    break;
                };
                let Some(mut task) = fw.unreachable_tasks.shift_remove(&task_id) else {
                    continue;
                };
                task.state = state as i32;
                task.statuses.push(update.status.clone());
                fw.add_completed_task(task.clone(), limit);
                let connected = fw.connected();
                self.task_updated_event(&task, update.status.clone());
                if connected {
                    self.forward(update, None, &fid);
                } else {
                    tracing::warn!(
                        "Dropping update for task {} of disconnected framework {}",
                        task_id.value,
                        fid.value
                    );
                }
            }
        }
    }

    // -----------------------------------------------------------------
    // Events for subscribers (called from the handlers that change the
    // books, where Mesos calls `subscribers.send`).

    /// TASK_ADDED.
    pub(crate) fn task_added_event(&mut self, task: &Task) {
        if !self.has_operator_subscribers() {
            return;
        }
        let mut e = event(EventType::TaskAdded);
        e.task_added = Some(TaskAdded { task: task.clone() });
        self.operator_event(e);
    }

    /// TASK_UPDATED: the task's latest state and the status that changed it.
    pub(crate) fn task_updated_event(&mut self, task: &Task, status: TaskStatus) {
        if !self.has_operator_subscribers() {
            return;
        }
        let mut e = event(EventType::TaskUpdated);
        e.task_updated = Some(TaskUpdated { framework_id: task.framework_id.clone(), status, state: task.state });
        self.operator_event(e);
    }

    /// FRAMEWORK_ADDED.
    pub(crate) fn framework_added_event(&mut self, fid: &FrameworkId) {
        if !self.has_operator_subscribers() {
            return;
        }
        let Some(fw) = self.frameworks.registered.get(fid) else {
            return;
        };
        let mut e = event(EventType::FrameworkAdded);
        e.framework_added = Some(FrameworkAdded { framework: framework_response(self, fw, false) });
        self.operator_event(e);
    }

    /// FRAMEWORK_UPDATED.
    pub(crate) fn framework_updated_event(&mut self, fid: &FrameworkId) {
        if !self.has_operator_subscribers() {
            return;
        }
        let Some(fw) = self.frameworks.registered.get(fid) else {
            return;
        };
        let mut e = event(EventType::FrameworkUpdated);
        e.framework_updated = Some(FrameworkUpdated { framework: framework_response(self, fw, false) });
        self.operator_event(e);
    }

    /// FRAMEWORK_REMOVED.
    pub(crate) fn framework_removed_event(&mut self, info: &crate::proto::mesos::FrameworkInfo) {
        if !self.has_operator_subscribers() {
            return;
        }
        let mut e = event(EventType::FrameworkRemoved);
        e.framework_removed = Some(FrameworkRemoved { framework_info: info.clone() });
        self.operator_event(e);
    }

    /// AGENT_ADDED.
    pub(crate) fn agent_added_event(&mut self, id: &SlaveId) {
        if !self.has_operator_subscribers() {
            return;
        }
        let Some(agent) = self.agents.registered.get(id) else {
            return;
        };
        let mut e = event(EventType::AgentAdded);
        e.agent_added = Some(AgentAdded { agent: agent_response(self, agent) });
        self.operator_event(e);
    }

    /// AGENT_REMOVED.
    pub(crate) fn agent_removed_event(&mut self, id: &SlaveId) {
        if !self.has_operator_subscribers() {
            return;
        }
        let mut e = event(EventType::AgentRemoved);
        e.agent_removed = Some(AgentRemoved { agent_id: id.clone() });
        self.operator_event(e);
    }
}
