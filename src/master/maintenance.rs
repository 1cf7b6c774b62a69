//! Maintenance (Mesos's `master/maintenance.cpp` and the maintenance
//! handlers of `master/http.cpp`): the schedule, each scheduled machine's
//! mode (DRAINING, then DOWN, then back UP), the unavailability offers from
//! a draining machine carry, and the inverse offers that ask frameworks to
//! give its agents back.
//!
//! Every change is persisted in the registry (`schedules`, `machines`)
//! before it takes effect, and recovered after a failover. A machine is
//! matched to an agent by the agent's hostname (case-insensitively) and
//! the IP of its pid, as Mesos builds an agent's `MachineID`.

use crate::proto::mesos::allocator::inverse_offer_status::Status as InverseStatus;
use crate::proto::mesos::allocator::InverseOfferStatus;
use crate::proto::mesos::internal::{InverseOffersMessage, RescindInverseOfferMessage, ShutdownMessage};
use crate::proto::mesos::machine_info::Mode;
use crate::proto::mesos::maintenance::{cluster_status, ClusterStatus, Schedule};
use crate::proto::mesos::{
    FrameworkId, InverseOffer, MachineId, MachineInfo, OfferId, SlaveId, TimeInfo, Unavailability,
};

use super::event::Now;
use super::operator::OperatorError;
use super::registry::RegistryOp;
use super::state::{Map, Master, Pending, RemovalReason};

/// A machine as maintenance compares them: lower-case hostname and IP.
pub type MachineKey = (String, String);

/// The key of a `MachineID`.
pub fn key(id: &MachineId) -> MachineKey {
    (id.hostname.clone().unwrap_or_default().to_lowercase(), id.ip.clone().unwrap_or_default())
}

fn describe(id: &MachineId) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &id.hostname {
        parts.push(format!("\"hostname\":\"{h}\""));
    }
    if let Some(ip) = &id.ip {
        parts.push(format!("\"ip\":\"{ip}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// The master's maintenance books.
#[derive(Clone, Debug, Default)]
pub struct Maintenance {
    /// The schedule in force (Mesos keeps at most one).
    pub schedule: Option<Schedule>,
    /// Machines not UP: their info (mode, unavailability).
    pub machines: Map<MachineKey, MachineInfo>,
    /// Outstanding inverse offers: id → (framework, agent).
    pub inverse_offers: Map<OfferId, (FrameworkId, SlaveId)>,
    /// Inverse offer answers by agent and framework.
    pub statuses: Map<SlaveId, Map<FrameworkId, InverseOfferStatus>>,
}

/// `maintenance::validation::machine`.
fn validate_machine(id: &MachineId) -> Result<(), String> {
    let hostname = id.hostname.as_deref().unwrap_or("");
    let ip = id.ip.as_deref().unwrap_or("");
    if hostname.is_empty() && ip.is_empty() {
        return Err("Both 'hostname' and 'ip' for a machine are empty".into());
    }
    if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("Failed to parse IP address '{ip}'"));
    }
    Ok(())
}

/// `maintenance::validation::machines`.
fn validate_machines(ids: &[MachineId]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        validate_machine(id)?;
        if !seen.insert(key(id)) {
            return Err(format!("Machine '{}' appears more than once in the schedule", describe(id)));
        }
    }
    Ok(())
}

/// `maintenance::validation::schedule` against the current machines.
pub fn validate_schedule(schedule: &Schedule, machines: &Map<MachineKey, MachineInfo>) -> Result<(), String> {
    let mut updated = std::collections::HashSet::new();
    for window in &schedule.windows {
        if window.machine_ids.is_empty() {
            return Err("List of machines in the maintenance window is empty".into());
        }
        if window.unavailability.duration.as_ref().is_some_and(|d| d.nanoseconds < 0) {
            return Err("Unavailability 'duration' is negative".into());
        }
        for id in &window.machine_ids {
            validate_machine(id)?;
            if !updated.insert(key(id)) {
                return Err(format!("Machine '{}' appears more than once in the schedule", describe(id)));
            }
        }
    }
    for (k, info) in machines {
        if info.mode() == Mode::Down && !updated.contains(k) {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                describe(&info.id)
            ));
        }
    }
    Ok(())
}

impl Master {
    /// The machine an agent runs on, if it is not UP.
    pub(crate) fn agent_machine(&self, hostname: &str, pid: &crate::v0_compat::Upid) -> Option<&MachineInfo> {
        self.maintenance.machines.get(&(hostname.to_lowercase(), pid.addr().ip().to_string()))
    }

    /// The unavailability offers from this agent carry (DRAINING machines).
    pub(crate) fn agent_unavailability(&self, agent: &SlaveId) -> Option<Unavailability> {
        let a = self.agents.registered.get(agent)?;
        self.agent_machine(&a.info.hostname, &a.pid)
            .filter(|m| m.mode() == Mode::Draining)
            .and_then(|m| m.unavailability.clone())
    }

    /// Whether an agent at `pid` would run on a DOWN machine (Mesos
    /// refuses its (re)registration with "Machine is `DOWN`").
    pub(crate) fn refuse_down_machine(&mut self, pid: &crate::v0_compat::Upid, hostname: &str) -> bool {
        let down = self.agent_machine(hostname, pid).is_some_and(|m| m.mode() == Mode::Down);
        if down {
            tracing::warn!(
                "Refusing registration of agent at {} because the machine '{}' that it is running on is `DOWN`",
                pid,
                hostname
            );
            self.send(pid, ShutdownMessage { message: Some("Machine is `DOWN`".into()) });
        }
        down
    }

    /// Agents registered on a machine.
    fn agents_on(&self, machine: &MachineKey) -> Vec<SlaveId> {
        self.agents
            .registered
            .values()
            .filter(|a| (a.info.hostname.to_lowercase(), a.pid.addr().ip().to_string()) == *machine)
            .map(|a| a.id.clone())
            .collect()
    }

    /// Outstanding inverse offers: (id, framework, agent).
    pub fn inverse_offers(&self) -> Vec<(OfferId, FrameworkId, SlaveId)> {
        self.maintenance.inverse_offers.iter().map(|(id, (f, a))| (id.clone(), f.clone(), a.clone())).collect()
    }

    /// GET_MAINTENANCE_SCHEDULE.
    pub fn maintenance_schedule(&self) -> Schedule {
        self.maintenance.schedule.clone().unwrap_or_default()
    }

    /// GET_MAINTENANCE_STATUS: draining machines with the answers to their
    /// inverse offers, and down machines.
    pub fn maintenance_status(&self) -> ClusterStatus {
        let mut status = ClusterStatus::default();
        for (k, info) in &self.maintenance.machines {
            match info.mode() {
                Mode::Draining => {
                    let mut statuses = Vec::new();
                    for agent in self.agents_on(k) {
                        if let Some(by_framework) = self.maintenance.statuses.get(&agent) {
                            statuses.extend(by_framework.values().cloned());
                        }
                    }
                    status.draining_machines.push(cluster_status::DrainingMachine { id: info.id.clone(), statuses });
                }
                Mode::Down => status.down_machines.push(info.id.clone()),
                Mode::Up => {}
            }
        }
        status
    }

    /// UPDATE_MAINTENANCE_SCHEDULE: validated, persisted, then applied.
    pub(crate) fn update_maintenance_schedule(&mut self, id: u64, schedule: Schedule) -> Result<(), OperatorError> {
        validate_schedule(&schedule, &self.maintenance.machines).map_err(OperatorError::BadRequest)?;
        self.registry(RegistryOp::UpdateSchedule(schedule.clone()), Pending::Schedule { id, schedule });
        Ok(())
    }

    /// `___updateMaintenanceSchedule`: machines left out go back UP, newly
    /// scheduled ones start DRAINING; every machine whose unavailability
    /// changed has its offers rescinded and its inverse offers renewed.
    pub(crate) fn schedule_updated(&mut self, now: Now, id: u64, schedule: Schedule) {
        let mut wanted: Map<MachineKey, (MachineId, Unavailability)> = Map::new();
        for window in &schedule.windows {
            for machine in &window.machine_ids {
                wanted.insert(key(machine), (machine.clone(), window.unavailability.clone()));
            }
        }
        let existing: Vec<MachineKey> = self.maintenance.machines.keys().cloned().collect();
        for k in existing {
            if !wanted.contains_key(&k) {
                self.maintenance.machines.shift_remove(&k);
                self.unavailability_changed(now, &k);
            }
        }
        for (k, (machine, unavailability)) in wanted {
            let entry = self.maintenance.machines.entry(k.clone()).or_insert_with(|| MachineInfo {
                id: machine.clone(),
                mode: Some(Mode::Draining as i32),
                unavailability: None,
            });
            entry.unavailability = Some(unavailability);
            self.unavailability_changed(now, &k);
        }
        self.maintenance.schedule = (!schedule.windows.is_empty()).then_some(schedule);
        self.operator_done_maintenance(id, Ok(()));
    }

    /// `updateUnavailability` for every agent on a machine: its offers are
    /// rescinded (the next ones carry the new unavailability), its inverse
    /// offers withdrawn and, while the machine drains, sent again.
    fn unavailability_changed(&mut self, now: Now, machine: &MachineKey) {
        for agent in self.agents_on(machine) {
            let offers: Vec<OfferId> =
                self.agents.registered.get(&agent).map(|a| a.offers.iter().cloned().collect()).unwrap_or_default();
            for offer in offers {
                self.rescind_offer(now, &offer, None);
            }
            let withdrawn: Vec<(OfferId, FrameworkId)> = self
                .maintenance
                .inverse_offers
                .iter()
                .filter(|(_, (_, a))| *a == agent)
                .map(|(id, (f, _))| (id.clone(), f.clone()))
                .collect();
            for (offer, framework) in withdrawn {
                self.maintenance.inverse_offers.shift_remove(&offer);
                self.send_framework(&framework, RescindInverseOfferMessage { inverse_offer_id: offer }.into());
            }
            self.maintenance.statuses.shift_remove(&agent);
        }
        self.send_inverse_offers(now);
    }

    /// Inverse offers to every framework holding resources on an agent of
    /// a draining machine that has neither an outstanding one nor answered
    /// (what Mesos's allocator sends each cycle).
    pub(crate) fn send_inverse_offers(&mut self, now: Now) {
        let mut to_send = Vec::new();
        for agent in self.agents.registered.values() {
            let Some(unavailability) = self.agent_unavailability(&agent.id) else {
                continue;
            };
            for framework in agent.used.keys() {
                let outstanding =
                    self.maintenance.inverse_offers.values().any(|(f, a)| f == framework && *a == agent.id);
                let answered = self
                    .maintenance
                    .statuses
                    .get(&agent.id)
                    .and_then(|m| m.get(framework))
                    .is_some_and(|s| s.status() != InverseStatus::Unknown);
                let connected = self.frameworks.registered.get(framework).is_some_and(|f| f.connected());
                if !outstanding && !answered && connected {
                    to_send.push((framework.clone(), agent.id.clone(), agent.pid.to_string(), unavailability.clone()));
                }
            }
        }
        for (framework, agent, pid, unavailability) in to_send {
            let id = self.new_inverse_offer_id();
            tracing::info!(
                "Sending inverse offer {} for agent {} to framework {}",
                id.value,
                agent.value,
                framework.value
            );
            self.maintenance.inverse_offers.insert(id.clone(), (framework.clone(), agent.clone()));
            self.maintenance.statuses.entry(agent.clone()).or_default().insert(
                framework.clone(),
                InverseOfferStatus {
                    status: InverseStatus::Unknown as i32,
                    framework_id: framework.clone(),
                    timestamp: TimeInfo { nanoseconds: now.nanos() },
                },
            );
            let offer = InverseOffer {
                id,
                url: None,
                framework_id: framework.clone(),
                slave_id: Some(agent),
                unavailability,
                resources: Vec::new(),
            };
            let message = InverseOffersMessage { inverse_offers: vec![offer], pids: vec![pid] };
            self.send_framework(&framework, message.into());
        }
    }

    fn new_inverse_offer_id(&mut self) -> OfferId {
        self.next_offer_id += 1;
        OfferId { value: format!("{}-O{}", self.info.id, self.next_offer_id) }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS from a framework.
    pub(crate) fn answer_inverse_offers(&mut self, now: Now, framework: &FrameworkId, ids: &[OfferId], accept: bool) {
        for id in ids {
            let valid = self.maintenance.inverse_offers.get(id).is_some_and(|(f, _)| f == framework);
            if !valid {
                tracing::warn!("Ignoring inverse offer {} since it is no longer valid", id.value);
                continue;
            }
            let Some((_, agent)) = self.maintenance.inverse_offers.shift_remove(id) else {
                continue;
            };
            let status = if accept { InverseStatus::Accept } else { InverseStatus::Decline };
            self.maintenance.statuses.entry(agent).or_default().insert(
                framework.clone(),
                InverseOfferStatus {
                    status: status as i32,
                    framework_id: framework.clone(),
                    timestamp: TimeInfo { nanoseconds: now.nanos() },
                },
            );
        }
    }

    /// START_MAINTENANCE: every machine must be scheduled and DRAINING.
    pub(crate) fn start_maintenance(&mut self, id: u64, machines: Vec<MachineId>) -> Result<(), OperatorError> {
        validate_machines(&machines).map_err(OperatorError::BadRequest)?;
        for machine in &machines {
            let Some(info) = self.maintenance.machines.get(&key(machine)) else {
                return Err(OperatorError::BadRequest(format!(
                    "Machine '{}' is not part of a maintenance schedule",
                    describe(machine)
                )));
            };
            if info.mode() != Mode::Draining {
                return Err(OperatorError::BadRequest(format!(
                    "Machine '{}' is not in DRAINING mode and cannot be brought down",
                    describe(machine)
                )));
            }
        }
        self.registry(RegistryOp::StartMaintenance(machines.clone()), Pending::StartMaintenance { id, machines });
        Ok(())
    }

    /// The machines are DOWN: their agents are shut down and removed.
    pub(crate) fn maintenance_started(&mut self, id: u64, machines: Vec<MachineId>) {
        for machine in machines {
            let k = key(&machine);
            if let Some(info) = self.maintenance.machines.get_mut(&k) {
                info.mode = Some(Mode::Down as i32);
            }
            for agent in self.agents_on(&k) {
                let message = "Operator initiated 'Machine DOWN'";
                if let Some(pid) = self.agents.registered.get(&agent).map(|a| a.pid.clone()) {
                    self.send(&pid, ShutdownMessage { message: Some(message.into()) });
                }
                self.remove_agent(&agent, message, RemovalReason::Unregistered);
            }
        }
        self.operator_done_maintenance(id, Ok(()));
    }

    /// STOP_MAINTENANCE: every machine must be DOWN.
    pub(crate) fn stop_maintenance(&mut self, id: u64, machines: Vec<MachineId>) -> Result<(), OperatorError> {
        validate_machines(&machines).map_err(OperatorError::BadRequest)?;
        for machine in &machines {
            let Some(info) = self.maintenance.machines.get(&key(machine)) else {
                return Err(OperatorError::BadRequest(format!(
                    "Machine '{}' is not part of a maintenance schedule",
                    describe(machine)
                )));
            };
            if info.mode() != Mode::Down {
                return Err(OperatorError::BadRequest(format!(
                    "Machine '{}' is not in DOWN mode and cannot be brought up",
                    describe(machine)
                )));
            }
        }
        self.registry(RegistryOp::StopMaintenance(machines.clone()), Pending::StopMaintenance { id, machines });
        Ok(())
    }

    /// The machines are UP again and out of the schedule.
    pub(crate) fn maintenance_stopped(&mut self, id: u64, machines: Vec<MachineId>) {
        let keys: std::collections::HashSet<MachineKey> = machines.iter().map(key).collect();
        for k in &keys {
            self.maintenance.machines.shift_remove(k);
        }
        if let Some(schedule) = &mut self.maintenance.schedule {
            for window in &mut schedule.windows {
                window.machine_ids.retain(|m| !keys.contains(&key(m)));
            }
            schedule.windows.retain(|w| !w.machine_ids.is_empty());
            if schedule.windows.is_empty() {
                self.maintenance.schedule = None;
            }
        }
        self.operator_done_maintenance(id, Ok(()));
    }

    /// After a failover: the schedule and machines the registry holds.
    pub(crate) fn recover_maintenance(&mut self, registry: &crate::proto::mesos::internal::Registry) {
        self.maintenance.schedule = registry.schedules.first().cloned();
        for machine in registry.machines.iter().flat_map(|m| &m.machines) {
            self.maintenance.machines.insert(key(&machine.info.id), machine.info.clone());
        }
    }

    fn operator_done_maintenance(&mut self, id: u64, result: Result<(), OperatorError>) {
        self.out.push(super::event::Effect::Operator(super::operator::OperatorEffect::Done { id, result }));
    }
}
