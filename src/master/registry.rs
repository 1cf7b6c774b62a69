//! The registry: what the master must remember across failovers (admitted,
//! unreachable and gone agents, weights, ...), as Mesos's
//! `mesos.internal.Registry`, and the named operations that change it
//! (Mesos's `registry_operations.cpp`).
//!
//! This module is pure: [`Registrar::apply`] mutates an in-memory registry
//! and says whether the operation was permitted. The stores in
//! [`store`](super::store) (in memory, a local file, ZooKeeper later) keep a
//! `Registrar` and persist its registry after applying operations; the
//! master only ever sees the outcome (`Event::RegistryApplied`).
//!
//! As in Mesos, agent resources are stored in the pre-reservation-refinement
//! format (so that older masters can read them) and upgraded on recovery.

use std::collections::HashSet;

use crate::common::resources::{downgrade_resources, upgrade_resources};
use crate::proto::mesos::internal::registry;
use crate::proto::mesos::internal::Registry;
use crate::proto::mesos::{MasterInfo, SlaveId, SlaveInfo, TimeInfo, WeightInfo};

/// A change to the registry (one of Mesos's `RegistryOperation`s).
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryOp {
    /// Records the master that now leads (`Registrar::Recover`).
    Recover(Box<MasterInfo>),
    /// Admits a newly registered agent; refused if the id is already admitted.
    AdmitSlave(Box<SlaveInfo>),
    /// Replaces an admitted agent's info (reregistration with changes).
    UpdateSlave(Box<SlaveInfo>),
    /// Forgets an admitted agent (it unregistered, or a new one took its place).
    RemoveSlave(Box<SlaveInfo>),
    /// Moves an admitted agent to the unreachable list.
    MarkSlaveUnreachable { info: Box<SlaveInfo>, time: TimeInfo },
    /// Moves an agent back to the admitted list (or admits an unknown one).
    MarkSlaveReachable(Box<SlaveInfo>),
    /// Moves an admitted or unreachable agent to the gone list.
    MarkSlaveGone { id: SlaveId, time: TimeInfo },
    /// Drops these unreachable and gone entries (registry GC).
    Prune { unreachable: Vec<SlaveId>, gone: Vec<SlaveId> },
    /// Replaces the weights of these roles.
    UpdateWeights(Vec<WeightInfo>),
    /// Sets these roles' quota configurations; a configuration with no
    /// guarantees and no limits removes the role's (`UpdateQuota`).
    UpdateQuota(Vec<crate::proto::mesos::quota::QuotaConfig>),
    /// Replaces the maintenance schedule; scheduled machines are kept as
    /// machines (new ones DRAINING), others dropped (`UpdateSchedule`).
    UpdateSchedule(crate::proto::mesos::maintenance::Schedule),
    /// Marks these machines DOWN (`StartMaintenance`).
    StartMaintenance(Vec<crate::proto::mesos::MachineId>),
    /// Drops these machines and takes them out of the schedule (`StopMaintenance`).
    StopMaintenance(Vec<crate::proto::mesos::MachineId>),
    /// Marks an admitted or unreachable agent deactivated (`DeactivateAgent`).
    DeactivateAgent(SlaveId),
    /// Clears an agent's deactivation and drain info (`ReactivateAgent`).
    ReactivateAgent(SlaveId),
}

impl RegistryOp {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            RegistryOp::Recover(_) => "Recover",
            RegistryOp::AdmitSlave(_) => "AdmitSlave",
            RegistryOp::UpdateSlave(_) => "UpdateSlave",
            RegistryOp::RemoveSlave(_) => "RemoveSlave",
            RegistryOp::MarkSlaveUnreachable { .. } => "MarkSlaveUnreachable",
            RegistryOp::MarkSlaveReachable(_) => "MarkSlaveReachable",
            RegistryOp::MarkSlaveGone { .. } => "MarkSlaveGone",
            RegistryOp::Prune { .. } => "Prune",
            RegistryOp::UpdateWeights(_) => "UpdateWeights",
            RegistryOp::UpdateQuota(_) => "UpdateQuota",
            RegistryOp::UpdateSchedule(_) => "UpdateSchedule",
            RegistryOp::StartMaintenance(_) => "StartMaintenance",
            RegistryOp::StopMaintenance(_) => "StopMaintenance",
            RegistryOp::DeactivateAgent(_) => "DeactivateAgent",
            RegistryOp::ReactivateAgent(_) => "ReactivateAgent",
        }
    }
}

/// A registry plus the index of admitted agent ids the operations consult.
#[derive(Clone, Debug, Default)]
pub struct Registrar {
    registry: Registry,
    admitted: HashSet<SlaveId>,
}

fn stored(info: &SlaveInfo) -> SlaveInfo {
    let mut info = info.clone();
    // Refined reservations cannot be downgraded; Mesos CHECKs that agents
    // never have them in their static resources. Keep them as they are.
    let _ = downgrade_resources(&mut info.resources);
    info
}

fn upgraded(info: &SlaveInfo) -> SlaveInfo {
    let mut info = info.clone();
    upgrade_resources(&mut info.resources);
    info
}

impl Registrar {
    /// Wraps a registry read from storage.
    pub fn new(registry: Registry) -> Registrar {
        let admitted = registry.slaves.iter().flat_map(|s| &s.slaves).filter_map(|s| s.info.id.clone()).collect();
        Registrar { registry, admitted }
    }

    /// The registry as it stands.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Applies `op`: `Ok(true)` if it changed the registry, `Ok(false)` if it
    /// was permitted but changed nothing, `Err` if the registry refuses it
    /// (the master then sees the operation as not permitted).
    pub fn apply(&mut self, op: &RegistryOp) -> Result<bool, String> {
        let reg = &mut self.registry;
        match op {
            RegistryOp::Recover(info) => {
                reg.master = Some(registry::Master { info: (**info).clone() });
                Ok(true)
            }
            RegistryOp::AdmitSlave(info) => {
                let id = slave_id(info)?;
                if self.admitted.contains(&id) {
                    return Err("Agent already admitted".into());
                }
                slaves(reg).push(registry::Slave { info: stored(info), ..Default::default() });
                self.admitted.insert(id);
                Ok(true)
            }
            RegistryOp::UpdateSlave(info) => {
                let id = slave_id(info)?;
                if !self.admitted.contains(&id) {
                    return Err("Agent not yet admitted.".into());
                }
                let Some(slave) = slaves(reg).iter_mut().find(|s| s.info.id.as_ref() == Some(&id)) else {
                    return Err(format!("Failed to find agent {}", id.value));
                };
                if upgraded(&slave.info) == **info {
                    return Ok(false);
                }
                slave.info = stored(info);
                Ok(true)
            }
            RegistryOp::RemoveSlave(info) => {
                let id = slave_id(info)?;
                let list = slaves(reg);
                match list.iter().position(|s| s.info.id.as_ref() == Some(&id)) {
                    Some(i) => {
                        list.remove(i);
                        self.admitted.remove(&id);
                        Ok(true)
                    }
                    None => Err("Agent not yet admitted".into()),
                }
            }
            RegistryOp::MarkSlaveUnreachable { info, time } => {
                let id = slave_id(info)?;
                if !self.admitted.contains(&id) {
                    return Err("Agent not yet admitted".into());
                }
                let list = slaves(reg);
                let Some(i) = list.iter().position(|s| s.info.id.as_ref() == Some(&id)) else {
                    return Err(format!("Failed to find agent {}", id.value));
                };
                let slave = list.remove(i);
                unreachable(reg).push(registry::UnreachableSlave {
                    id: id.clone(),
                    timestamp: *time,
                    drain_info: slave.drain_info,
                    deactivated: Some(slave.deactivated.unwrap_or(false)),
                });
                self.admitted.remove(&id);
                Ok(true)
            }
            RegistryOp::MarkSlaveReachable(info) => {
                let id = slave_id(info)?;
                if self.admitted.contains(&id) {
                    return Ok(false);
                }
                let mut reachable = registry::Slave { info: stored(info), ..Default::default() };
                let list = unreachable(reg);
                match list.iter().position(|s| s.id == id) {
                    Some(i) => {
                        let entry = list.remove(i);
                        reachable.drain_info = entry.drain_info;
                        reachable.deactivated = Some(entry.deactivated.unwrap_or(false));
                    }
                    None => tracing::warn!("Allowing UNKNOWN agent to reregister: {}", id.value),
                }
                slaves(reg).push(reachable);
                self.admitted.insert(id);
                Ok(true)
            }
            RegistryOp::MarkSlaveGone { id, time } => {
                if gone(reg).iter().any(|g| &g.id == id) {
                    return Err(format!("Agent {} already marked as gone", id.value));
                }
                let mut found = false;
                if self.admitted.remove(id) {
                    let list = slaves(reg);
                    if let Some(i) = list.iter().position(|s| s.info.id.as_ref() == Some(id)) {
                        list.remove(i);
                    }
                    found = true;
                } else {
                    let list = unreachable(reg);
                    if let Some(i) = list.iter().position(|s| &s.id == id) {
                        list.remove(i);
                        found = true;
                    }
                }
                if !found {
                    return Err(format!("Failed to find agent {}", id.value));
                }
                gone(reg).push(registry::GoneSlave { id: id.clone(), timestamp: *time });
                Ok(true)
            }
            RegistryOp::Prune { unreachable: u, gone: g } => {
                let before = (unreachable(reg).len(), gone(reg).len());
                unreachable(reg).retain(|s| !u.contains(&s.id));
                gone(reg).retain(|s| !g.contains(&s.id));
                Ok(before != (unreachable(reg).len(), gone(reg).len()))
            }
            RegistryOp::UpdateWeights(weights) => {
                let mut mutated = false;
                for weight in weights {
                    match reg.weights.iter_mut().find(|w| w.info.role == weight.role) {
                        Some(w) if w.info.weight == weight.weight => {}
                        Some(w) => {
                            w.info.weight = weight.weight;
                            mutated = true;
                        }
                        None => {
                            reg.weights.push(registry::Weight { info: weight.clone() });
                            mutated = true;
                        }
                    }
                }
                Ok(mutated)
            }
            RegistryOp::UpdateQuota(configs) => {
                for config in configs {
                    let default = config.guarantees.is_empty() && config.limits.is_empty();
                    // The legacy entry of the role goes either way.
                    #[allow(deprecated)]
                    reg.quotas.retain(|q| q.info.role.as_deref() != Some(config.role.as_str()));
                    match reg.quota_configs.iter().position(|c| c.role == config.role) {
                        Some(i) if default => {
                            reg.quota_configs.remove(i);
                        }
                        Some(i) => reg.quota_configs[i] = config.clone(),
                        None if default => {}
                        None => reg.quota_configs.push(config.clone()),
                    }
                }
                Ok(true)
            }
            RegistryOp::UpdateSchedule(schedule) => {
                use crate::master::maintenance::key;
                use crate::proto::mesos::internal::registry::{Machine, Machines};
                use crate::proto::mesos::machine_info::Mode;
                let mut wanted = Vec::new();
                for window in &schedule.windows {
                    for id in &window.machine_ids {
                        wanted.push((key(id), id.clone(), window.unavailability.clone()));
                    }
                }
                let machines = reg.machines.get_or_insert_with(Machines::default);
                machines.machines.retain(|m| wanted.iter().any(|(k, _, _)| *k == key(&m.info.id)));
                for (k, id, unavailability) in wanted {
                    match machines.machines.iter_mut().find(|m| key(&m.info.id) == k) {
                        Some(m) => m.info.unavailability = Some(unavailability),
                        None => machines.machines.push(Machine {
                            info: crate::proto::mesos::MachineInfo {
                                id,
                                mode: Some(Mode::Draining as i32),
                                unavailability: Some(unavailability),
                            },
                        }),
                    }
                }
                reg.schedules = vec![schedule.clone()];
                Ok(true)
            }
            RegistryOp::StartMaintenance(ids) => {
                use crate::master::maintenance::key;
                use crate::proto::mesos::machine_info::Mode;
                let mut changed = false;
                for m in reg.machines.iter_mut().flat_map(|m| &mut m.machines) {
                    if ids.iter().any(|id| key(id) == key(&m.info.id)) {
                        m.info.mode = Some(Mode::Down as i32);
                        changed = true;
                    }
                }
                Ok(changed)
            }
            RegistryOp::StopMaintenance(ids) => {
                use crate::master::maintenance::key;
                let wanted = |id: &crate::proto::mesos::MachineId| ids.iter().any(|i| key(i) == key(id));
                let mut changed = false;
                if let Some(machines) = reg.machines.as_mut() {
                    let before = machines.machines.len();
                    machines.machines.retain(|m| !wanted(&m.info.id));
                    changed = before != machines.machines.len();
                }
                for schedule in &mut reg.schedules {
                    for window in &mut schedule.windows {
                        window.machine_ids.retain(|m| !wanted(m));
                    }
                    schedule.windows.retain(|w| !w.machine_ids.is_empty());
                }
                reg.schedules.retain(|s| !s.windows.is_empty());
                Ok(changed)
            }
            RegistryOp::DeactivateAgent(id) => {
                let mut found = false;
                for slave in slaves(reg).iter_mut().filter(|s| s.info.id.as_ref() == Some(id)) {
                    slave.deactivated = Some(true);
                    found = true;
                }
                for slave in unreachable(reg).iter_mut().filter(|s| &s.id == id) {
                    slave.deactivated = Some(true);
                    found = true;
                }
                Ok(found)
            }
            RegistryOp::ReactivateAgent(id) => {
                let mut found = false;
                for slave in slaves(reg).iter_mut().filter(|s| s.info.id.as_ref() == Some(id)) {
                    slave.deactivated = None;
                    slave.drain_info = None;
                    found = true;
                }
                for slave in unreachable(reg).iter_mut().filter(|s| &s.id == id) {
                    slave.deactivated = None;
                    slave.drain_info = None;
                    found = true;
                }
                Ok(found)
            }
        }
    }
}

fn slave_id(info: &SlaveInfo) -> Result<SlaveId, String> {
    info.id.clone().ok_or_else(|| "SlaveInfo is missing the 'id' field".to_string())
}

fn slaves(reg: &mut Registry) -> &mut Vec<registry::Slave> {
    &mut reg.slaves.get_or_insert_with(Default::default).slaves
}

fn unreachable(reg: &mut Registry) -> &mut Vec<registry::UnreachableSlave> {
    &mut reg.unreachable.get_or_insert_with(Default::default).slaves
}

fn gone(reg: &mut Registry) -> &mut Vec<registry::GoneSlave> {
    &mut reg.gone.get_or_insert_with(Default::default).slaves
}

/// The admitted agents of a recovered registry, resources upgraded to the
/// post-refinement format the master works with.
pub fn admitted_agents(registry: &Registry) -> Vec<SlaveInfo> {
    registry.slaves.iter().flat_map(|s| &s.slaves).map(|s| upgraded(&s.info)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::resource::ReservationInfo;
    use crate::proto::mesos::{value, Resource};

    fn agent(id: &str) -> Box<SlaveInfo> {
        let reserved = Resource {
            name: "cpus".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 2.0 }),
            reservations: vec![ReservationInfo {
                r#type: Some(crate::proto::mesos::resource::reservation_info::Type::Static as i32),
                role: Some("web".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        Box::new(SlaveInfo {
            hostname: format!("{id}.example"),
            id: Some(SlaveId { value: id.into() }),
            resources: vec![reserved],
            ..Default::default()
        })
    }

    fn time(n: i64) -> TimeInfo {
        TimeInfo { nanoseconds: n }
    }

    #[test]
    fn admit_refuses_duplicates_and_stores_the_legacy_format() {
        let mut r = Registrar::default();
        assert_eq!(r.apply(&RegistryOp::AdmitSlave(agent("S0"))), Ok(true));
        assert_eq!(r.apply(&RegistryOp::AdmitSlave(agent("S0"))), Err("Agent already admitted".into()));
        let stored = &r.registry().slaves.as_ref().unwrap().slaves[0].info;
        #[allow(deprecated)]
        let role = stored.resources[0].role.as_deref();
        assert_eq!(role, Some("web"));
        assert!(stored.resources[0].reservations.is_empty());
        // Recovery gives the post-refinement format back.
        assert_eq!(admitted_agents(r.registry()), vec![*agent("S0")]);
    }

    #[test]
    fn unreachable_reachable_gone_and_prune() {
        let mut r = Registrar::default();
        r.apply(&RegistryOp::AdmitSlave(agent("S0"))).unwrap();
        r.apply(&RegistryOp::AdmitSlave(agent("S1"))).unwrap();
        let unreachable = RegistryOp::MarkSlaveUnreachable { info: agent("S0"), time: time(5) };
        assert_eq!(r.apply(&unreachable), Ok(true));
        assert_eq!(r.apply(&unreachable), Err("Agent not yet admitted".into()));
        assert_eq!(r.registry().unreachable.as_ref().unwrap().slaves[0].timestamp, time(5));
        assert_eq!(r.apply(&RegistryOp::MarkSlaveReachable(agent("S0"))), Ok(true));
        assert_eq!(r.apply(&RegistryOp::MarkSlaveReachable(agent("S0"))), Ok(false));
        assert!(r.registry().unreachable.as_ref().unwrap().slaves.is_empty());
        // An agent nobody remembers is admitted anyway.
        assert_eq!(r.apply(&RegistryOp::MarkSlaveReachable(agent("S9"))), Ok(true));
        let gone = RegistryOp::MarkSlaveGone { id: SlaveId { value: "S1".into() }, time: time(7) };
        assert_eq!(r.apply(&gone), Ok(true));
        assert_eq!(r.apply(&gone), Err("Agent S1 already marked as gone".into()));
        let prune = RegistryOp::Prune { unreachable: vec![], gone: vec![SlaveId { value: "S1".into() }] };
        assert_eq!(r.apply(&prune), Ok(true));
        assert_eq!(r.apply(&prune), Ok(false));
        assert_eq!(admitted_agents(r.registry()).len(), 2);
    }

    #[test]
    fn update_and_remove() {
        let mut r = Registrar::default();
        assert_eq!(r.apply(&RegistryOp::UpdateSlave(agent("S0"))), Err("Agent not yet admitted.".into()));
        r.apply(&RegistryOp::AdmitSlave(agent("S0"))).unwrap();
        assert_eq!(r.apply(&RegistryOp::UpdateSlave(agent("S0"))), Ok(false));
        let mut changed = agent("S0");
        changed.port = Some(5052);
        assert_eq!(r.apply(&RegistryOp::UpdateSlave(changed)), Ok(true));
        assert_eq!(r.apply(&RegistryOp::RemoveSlave(agent("S0"))), Ok(true));
        assert_eq!(r.apply(&RegistryOp::RemoveSlave(agent("S0"))), Err("Agent not yet admitted".into()));
        let rebuilt = Registrar::new(r.registry().clone());
        assert!(rebuilt.admitted.is_empty());
    }

    #[test]
    fn weights_replace_by_role() {
        let mut r = Registrar::default();
        let w = |role: &str, weight| WeightInfo { role: Some(role.into()), weight };
        assert_eq!(r.apply(&RegistryOp::UpdateWeights(vec![w("a", 2.0)])), Ok(true));
        assert_eq!(r.apply(&RegistryOp::UpdateWeights(vec![w("a", 2.0)])), Ok(false));
        assert_eq!(r.apply(&RegistryOp::UpdateWeights(vec![w("a", 3.0), w("b", 1.5)])), Ok(true));
        assert_eq!(r.registry().weights.len(), 2);
        assert_eq!(r.registry().weights[0].info.weight, 3.0);
    }
}
