//! The allocator's state and the calls that feed it (Mesos's
//! `Allocator` interface). The allocation cycle itself is in `cycle.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use super::options::{framework_roles, FrameworkOptions, Options};
use super::qty::{Names, Qty};
use super::role_tree::{FwIdx, RoleIdx, RoleTree};
use super::sorter::{ShareBasis, Sorter};
use super::state::{Agent, AgentCaps, AgentIdx, Candidates, Framework, FrameworkCaps, OfferFilter};
use super::Time;
use crate::common::resource_quantities::{Quota, ResourceQuantities};
use crate::common::resources::{ResourceConversion, Resources};
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::slave_info::Capability;
use crate::proto::mesos::{FrameworkId, FrameworkInfo, SlaveId, SlaveInfo};

/// Why the allocator refused a call. The master treats these as bugs on its
/// side (Mesos `CHECK`s them), except [`AllocatorError::Conversion`] from
/// [`Allocator::update_available`], which can race with offers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocatorError {
    /// No such agent.
    #[error("Unknown agent {0}")]
    UnknownAgent(String),
    /// No such framework.
    #[error("Unknown framework {0}")]
    UnknownFramework(String),
    /// The agent is already known.
    #[error("Agent {0} is already added")]
    DuplicateAgent(String),
    /// The framework is already known.
    #[error("Framework {0} is already added")]
    DuplicateFramework(String),
    /// Resources could not be converted as asked.
    #[error("{0}")]
    Conversion(String),
}

/// Mesos's hierarchical DRF allocator, as a pure state machine. See the
/// module documentation for the pipeline and for when the master calls what.
#[derive(Clone, Debug)]
pub struct Allocator {
    pub(crate) options: Options,
    pub(crate) names: Names,
    /// Per name index: left out of fair sharing.
    pub(crate) excluded: Vec<bool>,
    /// `(name index, cluster total)` of the resources counted for fairness.
    pub(crate) fair: Vec<(usize, f64)>,
    /// `Options::min_allocatable_resources`, interned.
    pub(crate) min_sets: Vec<Qty>,
    /// Scalars of all agents.
    pub(crate) total: Qty,
    pub(crate) roles: RoleTree,
    /// Orders the roles that have frameworks.
    pub(crate) role_sorter: Sorter,
    pub(crate) agents: Vec<Option<Agent>>,
    pub(crate) agent_ids: HashMap<SlaveId, AgentIdx>,
    free_agents: Vec<AgentIdx>,
    pub(crate) frameworks: Vec<Option<Framework>>,
    pub(crate) framework_ids: HashMap<FrameworkId, FwIdx>,
    /// Per framework index: number of agents holding resources per role.
    pub(crate) holdings_per_role: Vec<HashMap<RoleIdx, u32>>,
    /// Agents to look at in the next cycle.
    pub(crate) candidates: Candidates,
    /// Hostnames allowed to be offered (`--whitelist`); `None`: all.
    pub(crate) whitelist: Option<HashSet<String>>,
    pub(crate) paused: bool,
    expected_agents: Option<usize>,
    recovery_deadline: Option<Time>,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) role_names: Vec<Arc<str>>,
}

impl Allocator {
    /// A new allocator, allocating (not paused).
    pub fn new(options: Options) -> Allocator {
        let rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
        let mut a = Allocator {
            options,
            names: Names::default(),
            excluded: Vec::new(),
            fair: Vec::new(),
            min_sets: Vec::new(),
            total: Qty::default(),
            roles: RoleTree::default(),
            role_sorter: Sorter::default(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            free_agents: Vec::new(),
            frameworks: Vec::new(),
            framework_ids: HashMap::new(),
            holdings_per_role: Vec::new(),
            candidates: Candidates::default(),
            whitelist: None,
            paused: false,
            expected_agents: None,
            recovery_deadline: None,
            rng,
            role_names: Vec::new(),
        };
        let sets = a.options.min_allocatable_resources.clone();
        a.min_sets = sets.iter().map(|q| Qty::of_quantities(q, &mut a.names)).collect();
        a.refresh_excluded();
        a
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    pub(crate) fn refresh_excluded(&mut self) {
        self.excluded = (0..self.names.len())
            .map(|i| self.options.fairness_excluded_resource_names.contains(self.names.name(i)))
            .collect();
        self.fair = super::sorter::fair_totals(&self.total, &self.excluded);
    }

    /// Scalars of `resources`, interning new names.
    pub(crate) fn qty(&mut self, resources: &Resources) -> Qty {
        let before = self.names.len();
        let q = Qty::of_scalars(resources, &mut self.names);
        if self.names.len() != before {
            self.refresh_excluded();
        }
        q
    }

    pub(crate) fn agent(&self, idx: AgentIdx) -> &Agent {
        self.agents[idx as usize].as_ref().expect("live agent index")
    }

    pub(crate) fn agent_mut(&mut self, idx: AgentIdx) -> &mut Agent {
        self.agents[idx as usize].as_mut().expect("live agent index")
    }

    pub(crate) fn framework(&self, idx: FwIdx) -> Option<&Framework> {
        self.frameworks.get(idx as usize).and_then(Option::as_ref)
    }

    fn framework_mut(&mut self, idx: FwIdx) -> Option<&mut Framework> {
        self.frameworks.get_mut(idx as usize).and_then(Option::as_mut)
    }

    fn agent_index(&self, id: &SlaveId) -> Result<AgentIdx, AllocatorError> {
        self.agent_ids.get(id).copied().ok_or_else(|| AllocatorError::UnknownAgent(id.value.clone()))
    }

    fn framework_index(&self, id: &FrameworkId) -> Result<FwIdx, AllocatorError> {
        self.framework_ids
            .get(id)
            .copied()
            .filter(|&i| self.framework(i).is_some())
            .ok_or_else(|| AllocatorError::UnknownFramework(id.value.clone()))
    }

    /// The index for a framework id, known or not yet added.
    fn intern_framework(&mut self, id: &FrameworkId) -> FwIdx {
        if let Some(&i) = self.framework_ids.get(id) {
            return i;
        }
        let i = self.frameworks.len() as FwIdx;
        self.frameworks.push(None);
        self.holdings_per_role.push(HashMap::new());
        self.framework_ids.insert(id.clone(), i);
        i
    }

    pub(crate) fn intern_role(&mut self, name: &str) -> RoleIdx {
        let idx = self.roles.intern(name);
        while self.role_names.len() < self.roles.len() {
            let i = self.role_names.len() as RoleIdx;
            self.role_names.push(self.roles.role(i).name.clone());
        }
        idx
    }

    /// Marks agents for the next cycle.
    fn trigger(&mut self, agents: impl IntoIterator<Item = AgentIdx>) {
        if !self.paused {
            for a in agents {
                self.candidates.mark(a);
            }
        }
    }

    fn trigger_all(&mut self) {
        if !self.paused {
            self.candidates.mark_all();
        }
    }

    // ------------------------------------------------------------------
    // Tracking helpers (Mesos's track/untrackAllocatedResources and the
    // role tree's bookkeeping).

    fn is_tracked(&self, fw: FwIdx, role: RoleIdx) -> bool {
        self.roles.role(role).frameworks.contains(&fw)
    }

    fn track_framework_under_role(&mut self, fw: FwIdx, role: RoleIdx) {
        if self.roles.role(role).frameworks.is_empty() {
            let name = self.roles.role(role).name.clone();
            self.role_sorter.add(role, &name);
            self.role_sorter.activate(role);
        }
        let path = self.framework(fw).map(|f| f.id.value.clone()).unwrap_or_default();
        let r = self.roles.role_mut(role);
        r.frameworks.insert(fw);
        r.sorter.add(fw, &path);
    }

    /// Untracks unless the framework still holds resources in the role.
    fn try_untrack_framework_under_role(&mut self, fw: FwIdx, role: RoleIdx) -> bool {
        if self.holdings_per_role[fw as usize].get(&role).copied().unwrap_or(0) > 0 {
            return false;
        }
        let r = self.roles.role_mut(role);
        r.frameworks.remove(&fw);
        r.sorter.remove(fw);
        if r.frameworks.is_empty() {
            self.role_sorter.remove(role);
        }
        true
    }

    /// Adds to what a framework holds on an agent.
    pub(crate) fn hold(&mut self, agent: AgentIdx, fw: FwIdx, role: RoleIdx, resources: &Resources) {
        if self.agent_mut(agent).hold(fw, role, resources) {
            *self.holdings_per_role[fw as usize].entry(role).or_insert(0) += 1;
        }
    }

    /// Takes out of what a framework holds on an agent.
    fn release(&mut self, agent: AgentIdx, fw: FwIdx, role: RoleIdx, resources: &Resources) {
        if self.agent_mut(agent).release(fw, role, resources) {
            if let Some(n) = self.holdings_per_role[fw as usize].get_mut(&role) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.holdings_per_role[fw as usize].remove(&role);
                }
            }
        }
    }

    /// Splits resources by allocation role (unallocated ones go to `*`).
    fn by_role(&mut self, resources: &Resources) -> Vec<(RoleIdx, Resources)> {
        let mut out: BTreeMap<RoleIdx, Resources> = BTreeMap::new();
        for item in resources {
            let role = self.intern_role(item.allocation_role().unwrap_or("*"));
            out.entry(role).or_default().add_item_ref(item);
        }
        out.into_iter().collect()
    }

    /// Role tree and sorters learn that `fw` was offered or holds
    /// `resources` (all allocated to `role`) on an agent.
    pub(crate) fn track_offered(&mut self, fw: FwIdx, role: RoleIdx, resources: &Resources) {
        let q = self.track_offered_in_roles(fw, role, resources);
        let basis = ShareBasis { totals: (&self.fair[..]).into() };
        self.role_sorter.allocated(role, &q, &basis);
        self.roles.role_mut(role).sorter.allocated(fw, &q, &basis);
    }

    /// The role tree part of [`Allocator::track_offered`]; returns the
    /// scalars the sorters must be told about.
    pub(crate) fn track_offered_in_roles(&mut self, fw: FwIdx, role: RoleIdx, resources: &Resources) -> Qty {
        if !self.is_tracked(fw, role) {
            self.track_framework_under_role(fw, role);
        }
        let (all, reserved, unreserved) = self.scalar_split(resources);
        self.roles.update_up(role, |r| {
            r.offered_or_allocated_reserved.add(&reserved);
            r.offered_or_allocated_unreserved.add(&unreserved);
        });
        all
    }

    /// The reverse of [`Allocator::track_offered`].
    fn untrack_offered(&mut self, fw: FwIdx, role: RoleIdx, resources: &Resources) {
        let (reserved, unreserved) = self.split_quota_scalars(resources);
        self.roles.update_up(role, |r| {
            r.offered_or_allocated_reserved.sub(&reserved);
            r.offered_or_allocated_unreserved.sub(&unreserved);
        });
        let q = self.qty(resources);
        self.role_sorter.unallocated(role, &q);
        self.roles.role_mut(role).sorter.unallocated(fw, &q);
        let subscribed = self.framework(fw).is_some_and(|f| f.roles.contains(&role));
        if !subscribed {
            self.try_untrack_framework_under_role(fw, role);
        }
    }

    /// (reserved scalars, unreserved non-revocable scalars).
    pub(crate) fn split_quota_scalars(&mut self, resources: &Resources) -> (Qty, Qty) {
        let (_, reserved, unreserved) = self.scalar_split(resources);
        (reserved, unreserved)
    }

    /// (all scalars, reserved scalars, unreserved non-revocable scalars)
    /// in one pass.
    fn scalar_split(&mut self, resources: &Resources) -> (Qty, Qty, Qty) {
        let (mut all, mut reserved, mut unreserved) = (Qty::default(), Qty::default(), Qty::default());
        let before = self.names.len();
        for item in resources {
            let Some(s) = item.scalar() else { continue };
            let id = self.names.intern_item(item);
            all.add_at(id, s.milli());
            if item.is_reserved() {
                reserved.add_at(id, s.milli());
            } else if !item.is_revocable() {
                unreserved.add_at(id, s.milli());
            }
        }
        if self.names.len() != before {
            self.refresh_excluded();
        }
        (all, reserved, unreserved)
    }

    fn track_allocated(&mut self, resources: &Resources, sign_add: bool) {
        for (role, part) in self.by_role(resources) {
            let (_, unreserved) = self.split_quota_scalars(&part);
            self.roles.update_up(role, |r| {
                if sign_add {
                    r.allocated_unreserved.add(&unreserved)
                } else {
                    r.allocated_unreserved.sub(&unreserved)
                }
            });
        }
    }

    fn track_reservations(&mut self, total: &Resources, sign_add: bool) {
        for item in total.iter().filter(|i| i.is_reserved() && i.is_scalar()) {
            let role = self.intern_role(item.reservation_role().unwrap_or(""));
            let mut q = Qty::default();
            q.add_at(self.names.intern_item(item), item.scalar().map_or(0, |s| s.milli()));
            self.roles.update_up(role, |r| if sign_add { r.reservations.add(&q) } else { r.reservations.sub(&q) });
        }
    }

    /// Cluster totals changed: every share must be recomputed.
    fn totals_changed(&mut self) {
        self.fair = super::sorter::fair_totals(&self.total, &self.excluded);
        self.role_sorter.mark_dirty();
        for i in 0..self.roles.len() as RoleIdx {
            self.roles.role_mut(i).sorter.mark_dirty();
        }
    }

    fn set_agent_total(&mut self, agent: AgentIdx, total: Resources) -> bool {
        if self.agent(agent).total == total {
            return false;
        }
        let old = self.agent(agent).total.clone();
        self.track_reservations(&old, false);
        self.track_reservations(&total, true);
        let q = self.qty(&total);
        let a = self.agent_mut(agent);
        let old_qty = std::mem::replace(&mut a.total_qty, q.clone());
        a.has_gpu = total.gpus().unwrap_or(0.0) > 0.0;
        a.total = total;
        a.refresh_available();
        self.total.sub(&old_qty);
        self.total.add(&q);
        self.totals_changed();
        true
    }

    fn remove_filters_for_agent(&mut self, agent: AgentIdx) {
        for f in self.frameworks.iter_mut().flatten() {
            f.filters.retain(|&(_, a), _| a != agent);
        }
    }

    // ------------------------------------------------------------------
    // Agents

    /// An agent registered or reregistered (`addSlave`). `used` is what the
    /// agent reports as in use per framework (allocated resources). Frameworks
    /// not added yet are accounted on the agent now and in the sorters when
    /// they are added. Triggers a cycle for this agent.
    pub fn add_agent(
        &mut self,
        info: SlaveInfo,
        capabilities: &[Capability],
        total: Resources,
        used: &HashMap<FrameworkId, Resources>,
    ) -> Result<(), AllocatorError> {
        let id = info.id.clone().unwrap_or_default();
        if self.agent_ids.contains_key(&id) {
            return Err(AllocatorError::DuplicateAgent(id.value));
        }
        let q = self.qty(&total);
        self.track_reservations(&total, true);
        let agent = Agent::new(id.clone(), info, AgentCaps::of(capabilities), total, q.clone());
        let idx = match self.free_agents.pop() {
            Some(i) => {
                self.agents[i as usize] = Some(agent);
                i
            }
            None => {
                self.agents.push(Some(agent));
                (self.agents.len() - 1) as AgentIdx
            }
        };
        self.agent_ids.insert(id, idx);
        self.total.add(&q);
        self.totals_changed();

        let mut used: Vec<(&FrameworkId, &Resources)> = used.iter().collect();
        used.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        for (fid, resources) in used {
            let fw = self.intern_framework(fid);
            let known = self.framework(fw).is_some();
            for (role, part) in self.by_role(resources) {
                self.hold(idx, fw, role, &part);
                if known {
                    self.track_offered(fw, role, &part);
                }
            }
            let a = self.agent_mut(idx);
            a.total_allocated += resources;
            if known {
                self.track_allocated(resources, true);
            }
        }
        self.agent_mut(idx).refresh_available();

        if self.paused && self.expected_agents.is_some_and(|n| self.agent_ids.len() >= n) {
            self.expected_agents = None;
            self.resume();
        }
        self.trigger([idx]);
        Ok(())
    }

    /// An agent is gone (`removeSlave`): its resources, reservations and the
    /// filters on it are forgotten. The master rescinds its offers.
    pub fn remove_agent(&mut self, id: &SlaveId) -> Result<(), AllocatorError> {
        let idx = self.agent_index(id)?;
        let allocated = self.agent(idx).total_allocated.clone();
        self.track_allocated(&allocated, false);
        let holdings = std::mem::take(&mut self.agent_mut(idx).holdings);
        for h in holdings {
            if let Some(n) = self.holdings_per_role[h.framework as usize].get_mut(&h.role) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.holdings_per_role[h.framework as usize].remove(&h.role);
                }
            }
            if self.framework(h.framework).is_some() && self.is_tracked(h.framework, h.role) {
                self.untrack_offered(h.framework, h.role, &h.resources);
            }
        }
        let total = self.agent(idx).total.clone();
        self.track_reservations(&total, false);
        let q = self.agent(idx).total_qty.clone();
        self.total.sub(&q);
        self.totals_changed();
        self.agents[idx as usize] = None;
        self.agent_ids.remove(id);
        self.free_agents.push(idx);
        self.candidates.unmark(idx);
        self.remove_filters_for_agent(idx);
        Ok(())
    }

    /// An agent's info, total or capabilities changed (`updateSlave`).
    /// Changed attributes clear the refusal filters on it (frameworks may now
    /// want it). Triggers a cycle for this agent if anything changed.
    pub fn update_agent(
        &mut self,
        info: SlaveInfo,
        total: Option<Resources>,
        capabilities: Option<&[Capability]>,
    ) -> Result<(), AllocatorError> {
        let id = info.id.clone().unwrap_or_default();
        let idx = self.agent_index(&id)?;
        let mut updated = false;
        if !same_attributes(&self.agent(idx).info, &info) {
            updated = true;
            self.remove_filters_for_agent(idx);
        }
        if self.agent(idx).info != info {
            updated = true;
            self.agent_mut(idx).info = info;
        }
        if let Some(caps) = capabilities {
            let caps = AgentCaps::of(caps);
            if self.agent(idx).caps != caps {
                updated = true;
                self.agent_mut(idx).caps = caps;
            }
        }
        if let Some(total) = total {
            updated |= self.set_agent_total(idx, total);
        }
        if updated {
            self.trigger([idx]);
        }
        Ok(())
    }

    /// The agent's resources may be offered again (`activateSlave`).
    pub fn activate_agent(&mut self, id: &SlaveId) -> Result<(), AllocatorError> {
        let idx = self.agent_index(id)?;
        self.agent_mut(idx).activated = true;
        Ok(())
    }

    /// Stop offering the agent's resources (`deactivateSlave`), e.g. while it
    /// is disconnected or draining.
    pub fn deactivate_agent(&mut self, id: &SlaveId) -> Result<(), AllocatorError> {
        let idx = self.agent_index(id)?;
        self.agent_mut(idx).activated = false;
        Ok(())
    }

    /// Only agents with these hostnames are offered (`--whitelist`);
    /// `None` offers all.
    pub fn update_whitelist(&mut self, hostnames: Option<HashSet<String>>) {
        self.whitelist = hostnames;
    }

    // ------------------------------------------------------------------
    // Frameworks

    /// A framework subscribed or was recovered (`addFramework`). `used`:
    /// resources its tasks hold per agent (agents not added yet are
    /// skipped; they report them in `add_agent`). An active framework
    /// triggers a cycle over all agents.
    pub fn add_framework(
        &mut self,
        info: FrameworkInfo,
        used: &HashMap<SlaveId, Resources>,
        active: bool,
        options: FrameworkOptions,
    ) -> Result<(), AllocatorError> {
        let id = info.id.clone().unwrap_or_default();
        let fw = self.intern_framework(&id);
        if self.framework(fw).is_some() {
            return Err(AllocatorError::DuplicateFramework(id.value));
        }
        let roles: BTreeSet<RoleIdx> = framework_roles(&info).iter().map(|r| self.intern_role(r)).collect();
        let suppressed: BTreeSet<RoleIdx> = options.suppressed_roles.iter().map(|r| self.intern_role(r)).collect();
        let min_allocatable = self.min_allocatable_of(&info);
        self.frameworks[fw as usize] = Some(Framework {
            id: id.clone(),
            caps: FrameworkCaps::of(&info),
            info,
            roles: roles.clone(),
            suppressed: suppressed.clone(),
            active,
            filters: Default::default(),
            min_allocatable,
        });
        // Holdings reported by agents before the framework was added.
        let mut counts: HashMap<RoleIdx, u32> = HashMap::new();
        for agent in self.agents.iter().flatten() {
            for h in agent.holdings.iter().filter(|h| h.framework == fw) {
                *counts.entry(h.role).or_insert(0) += 1;
            }
        }
        self.holdings_per_role[fw as usize] = counts;

        for &role in &roles {
            if !self.is_tracked(fw, role) {
                self.track_framework_under_role(fw, role);
            }
            if active && !suppressed.contains(&role) {
                self.roles.role_mut(role).sorter.activate(fw);
            }
        }
        let mut used: Vec<(&SlaveId, &Resources)> = used.iter().collect();
        used.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        for (agent_id, resources) in used {
            let Some(&agent) = self.agent_ids.get(agent_id) else { continue };
            for (role, part) in self.by_role(resources) {
                if self.agent(agent).holding(fw, role).is_none() {
                    // The agent did not report it; account it now.
                    self.hold(agent, fw, role, &part);
                    self.agent_mut(agent).refresh_available();
                }
                self.track_offered(fw, role, &part);
            }
            self.track_allocated(resources, true);
        }
        if active {
            self.trigger_all();
        }
        Ok(())
    }

    fn min_allocatable_of(&mut self, info: &FrameworkInfo) -> HashMap<RoleIdx, Vec<Qty>> {
        let mut result = HashMap::new();
        for (role, filters) in &info.offer_filters {
            let Some(min) = &filters.min_allocatable_resources else { continue };
            let sets = min
                .quantities
                .iter()
                .map(|q| {
                    let quantities = ResourceQuantities::from_pairs(
                        q.quantities.iter().map(|(k, v)| (k.as_str(), crate::common::values::Scalar::from_proto(v))),
                    );
                    Qty::of_quantities(&quantities, &mut self.names)
                })
                .collect();
            result.insert(self.intern_role(role), sets);
        }
        result
    }

    /// A framework is gone (`removeFramework`): everything it was offered or
    /// holds returns to the agents.
    pub fn remove_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        let fw = self.framework_index(id)?;
        let agents: Vec<AgentIdx> = self.agent_ids.values().copied().collect();
        for agent in agents {
            let held: Vec<(RoleIdx, Resources)> = self
                .agent(agent)
                .holdings
                .iter()
                .filter(|h| h.framework == fw)
                .map(|h| (h.role, h.resources.clone()))
                .collect();
            if held.is_empty() {
                continue;
            }
            for (role, resources) in held {
                self.release(agent, fw, role, &resources);
                self.untrack_offered(fw, role, &resources);
            }
            self.agent_mut(agent).refresh_available();
        }
        let roles = self.framework(fw).map(|f| f.roles.clone()).unwrap_or_default();
        for role in roles {
            self.try_untrack_framework_under_role(fw, role);
        }
        // Roles it held resources in without being subscribed.
        let tracked: Vec<RoleIdx> =
            self.roles.iter().filter(|(_, r)| r.frameworks.contains(&fw)).map(|(i, _)| i).collect();
        for role in tracked {
            self.try_untrack_framework_under_role(fw, role);
        }
        self.frameworks[fw as usize] = None;
        self.holdings_per_role[fw as usize].clear();
        Ok(())
    }

    /// The framework (re)connected (`activateFramework`): offers resume for
    /// its unsuppressed roles. Triggers a cycle over all agents.
    pub fn activate_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        let fw = self.framework_index(id)?;
        let f = self.framework_mut(fw).expect("checked");
        f.active = true;
        let roles: Vec<RoleIdx> = f.roles.difference(&f.suppressed).copied().collect();
        for role in roles {
            self.roles.role_mut(role).sorter.activate(fw);
        }
        self.trigger_all();
        Ok(())
    }

    /// The framework disconnected (`deactivateFramework`): no more offers,
    /// its refusal filters are dropped, its holdings stay accounted.
    pub fn deactivate_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        let fw = self.framework_index(id)?;
        let f = self.framework_mut(fw).expect("checked");
        f.active = false;
        f.filters.clear();
        let roles: Vec<RoleIdx> = f.roles.iter().copied().collect();
        for role in roles {
            self.roles.role_mut(role).sorter.deactivate(fw);
        }
        Ok(())
    }

    /// The framework changed its `FrameworkInfo` or suppressed roles
    /// (`updateFramework`): new roles start, removed roles stop (resources
    /// held in them stay accounted until recovered), newly suppressed roles
    /// stop getting offers, unsuppressed ones get their filters cleared.
    pub fn update_framework(&mut self, info: FrameworkInfo, options: FrameworkOptions) -> Result<(), AllocatorError> {
        let id = info.id.clone().unwrap_or_default();
        let fw = self.framework_index(&id)?;
        let new_roles: BTreeSet<RoleIdx> = framework_roles(&info).iter().map(|r| self.intern_role(r)).collect();
        let new_suppressed: BTreeSet<RoleIdx> = options.suppressed_roles.iter().map(|r| self.intern_role(r)).collect();
        let (old_roles, old_suppressed, active) = {
            let f = self.framework(fw).expect("checked");
            (f.roles.clone(), f.suppressed.clone(), f.active)
        };
        for &role in new_roles.difference(&old_roles) {
            if !self.is_tracked(fw, role) {
                self.track_framework_under_role(fw, role);
            }
            if active {
                self.roles.role_mut(role).sorter.activate(fw);
            }
        }
        for &role in old_roles.difference(&new_roles) {
            self.roles.role_mut(role).sorter.deactivate(fw);
            let f = self.framework_mut(fw).expect("checked");
            f.filters.retain(|&(r, _), _| r != role);
            f.suppressed.remove(&role);
            f.roles.remove(&role);
            self.try_untrack_framework_under_role(fw, role);
        }
        let min_allocatable = self.min_allocatable_of(&info);
        let f = self.framework_mut(fw).expect("checked");
        f.caps = FrameworkCaps::of(&info);
        f.info = info;
        f.roles = new_roles.clone();
        f.min_allocatable = min_allocatable;
        let to_suppress: BTreeSet<RoleIdx> = new_suppressed.difference(&old_suppressed).copied().collect();
        let to_revive: BTreeSet<RoleIdx> =
            old_suppressed.difference(&new_suppressed).filter(|r| new_roles.contains(r)).copied().collect();
        self.suppress_roles(fw, &to_suppress);
        self.revive_roles(fw, &to_revive);
        self.framework_mut(fw).expect("checked").suppressed = new_suppressed;
        Ok(())
    }

    fn suppress_roles(&mut self, fw: FwIdx, roles: &BTreeSet<RoleIdx>) {
        for &role in roles {
            self.roles.role_mut(role).sorter.deactivate(fw);
            if let Some(f) = self.framework_mut(fw) {
                f.suppressed.insert(role);
            }
        }
    }

    fn revive_roles(&mut self, fw: FwIdx, roles: &BTreeSet<RoleIdx>) {
        let Some(f) = self.framework_mut(fw) else { return };
        f.filters.retain(|(r, _), _| !roles.contains(r));
        for role in roles {
            f.suppressed.remove(role);
        }
        let active = f.active;
        for &role in roles {
            if active {
                self.roles.role_mut(role).sorter.activate(fw);
            }
        }
    }

    fn role_set(&mut self, fw: FwIdx, roles: &[&str]) -> BTreeSet<RoleIdx> {
        let subscribed = self.framework(fw).map(|f| f.roles.clone()).unwrap_or_default();
        if roles.is_empty() {
            return subscribed;
        }
        // Roles the framework is not subscribed to are ignored (the master
        // validates SUPPRESS and REVIVE).
        roles.iter().filter_map(|r| self.roles.get(r)).filter(|r| subscribed.contains(r)).collect()
    }

    /// SUPPRESS: no offers for these roles (all roles if empty) until revived.
    pub fn suppress_offers(&mut self, id: &FrameworkId, roles: &[&str]) -> Result<(), AllocatorError> {
        let fw = self.framework_index(id)?;
        let roles = self.role_set(fw, roles);
        self.suppress_roles(fw, &roles);
        Ok(())
    }

    /// REVIVE: offers resume for these roles (all if empty) and their
    /// refusal filters are cleared. Triggers a cycle over all agents.
    pub fn revive_offers(&mut self, id: &FrameworkId, roles: &[&str]) -> Result<(), AllocatorError> {
        let fw = self.framework_index(id)?;
        let roles = self.role_set(fw, roles);
        self.revive_roles(fw, &roles);
        self.trigger_all();
        Ok(())
    }

    // ------------------------------------------------------------------
    // Resources

    /// Resources come back from a framework (`recoverResources`): a declined
    /// or rescinded offer, a finished task, a failed operation. With
    /// `filters` (DECLINE / ACCEPT's `refuse_seconds`, default 5 s), the
    /// framework will not be offered these resources (or less) on this agent
    /// for this role for `max(refuse_seconds, allocation_interval)`.
    /// `is_allocated`: the resources were in use (not just offered).
    /// Unknown frameworks or agents are ignored (they are already gone).
    /// This does not trigger a cycle.
    pub fn recover_resources(
        &mut self,
        now: Time,
        framework_id: &FrameworkId,
        agent_id: &SlaveId,
        resources: &Resources,
        filters: Option<&crate::proto::mesos::Filters>,
        is_allocated: bool,
    ) {
        if resources.is_empty() {
            return;
        }
        let agent = self.agent_ids.get(agent_id).copied();
        if let (true, Some(agent)) = (is_allocated, agent) {
            let a = self.agent_mut(agent);
            a.total_allocated -= resources;
            self.track_allocated(resources, false);
        }
        let (Ok(fw), Some(agent)) = (self.framework_index(framework_id), agent) else { return };
        let parts = self.by_role(resources);
        for (role, part) in &parts {
            self.release(agent, fw, *role, part);
        }
        self.agent_mut(agent).refresh_available();
        for (role, part) in &parts {
            if self.roles.role(*role).sorter.contains(fw) {
                self.untrack_offered(fw, *role, part);
            }
        }
        let Some(filters) = filters else { return };
        let timeout = refusal_timeout(filters.refuse_seconds());
        if timeout.is_zero() {
            return;
        }
        let expires = now + timeout.max(self.options.allocation_interval);
        for (role, mut part) in parts {
            part.unallocate();
            let f = self.framework_mut(fw).expect("checked");
            f.filters.entry((role, agent)).or_default().push(OfferFilter { resources: part, expires });
        }
    }

    /// Offered resources are now used by tasks or executors
    /// (`transitionOfferedToAllocated`); this is what quota "consumed"
    /// counts.
    pub fn transition_offered_to_allocated(
        &mut self,
        agent_id: &SlaveId,
        resources: &Resources,
    ) -> Result<(), AllocatorError> {
        let agent = self.agent_index(agent_id)?;
        self.agent_mut(agent).total_allocated += resources;
        self.track_allocated(resources, true);
        Ok(())
    }

    /// An accepted offer's operations (RESERVE, CREATE, ...) changed some of
    /// its resources (`updateAllocation`): `offered` (allocated to a single
    /// role) becomes `offered` with `conversions` applied, and the agent's
    /// total changes the same way.
    pub fn update_allocation(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &SlaveId,
        offered: &Resources,
        conversions: &[ResourceConversion],
    ) -> Result<(), AllocatorError> {
        let fw = self.framework_index(framework_id)?;
        let agent = self.agent_index(agent_id)?;
        let parts = self.by_role(offered);
        let [(role, _)] = parts.as_slice() else {
            return Err(AllocatorError::Conversion("Offered resources must be allocated to a single role".into()));
        };
        let role = *role;
        let updated = offered.apply_all(conversions).map_err(|e| AllocatorError::Conversion(e.0))?;
        let mut stripped = Vec::new();
        for c in conversions.iter().filter(|c| !c.consumed.is_empty()) {
            stripped.push(c.unallocated());
        }
        let new_total = self.agent(agent).total.apply_all(&stripped).map_err(|e| AllocatorError::Conversion(e.0))?;

        self.release(agent, fw, role, offered);
        self.hold(agent, fw, role, &updated);
        let (old_r, old_u) = self.split_quota_scalars(offered);
        let (new_r, new_u) = self.split_quota_scalars(&updated);
        self.roles.update_up(role, |r| {
            r.offered_or_allocated_reserved.sub(&old_r);
            r.offered_or_allocated_reserved.add(&new_r);
            r.offered_or_allocated_unreserved.sub(&old_u);
            r.offered_or_allocated_unreserved.add(&new_u);
        });
        let (old_q, new_q) = (self.qty(offered), self.qty(&updated));
        self.role_sorter.update(role, &old_q, &new_q);
        self.roles.role_mut(role).sorter.update(fw, &old_q, &new_q);
        self.set_agent_total(agent, new_total);
        self.agent_mut(agent).refresh_available();
        Ok(())
    }

    /// The operator applied operations to unallocated resources
    /// (`updateAvailable`: RESERVE / UNRESERVE / CREATE / DESTROY through the
    /// operator API). Fails, changing nothing, if the agent's available
    /// resources no longer hold what the operations consume (they may have
    /// been offered meanwhile).
    pub fn update_available(&mut self, agent_id: &SlaveId, operations: &[Operation]) -> Result<(), AllocatorError> {
        let agent = self.agent_index(agent_id)?;
        self.agent(agent).available.apply_operations(operations).map_err(|e| AllocatorError::Conversion(e.0))?;
        let total =
            self.agent(agent).total.apply_operations(operations).map_err(|e| AllocatorError::Conversion(e.0))?;
        self.set_agent_total(agent, total);
        Ok(())
    }

    // ------------------------------------------------------------------
    // Roles

    /// Sets a role's quota (UPDATE_QUOTA, recovery). Takes effect at the
    /// next cycle.
    pub fn update_quota(&mut self, role: &str, quota: Quota) {
        let idx = self.intern_role(role);
        self.roles.role_mut(idx).quota = quota;
    }

    /// Sets role weights (`--weights`, UPDATE_WEIGHTS). Does not trigger a
    /// cycle: offers outstanding are not rebalanced.
    pub fn update_weights(&mut self, weights: &[(String, f64)]) {
        for (role, weight) in weights {
            let idx = self.intern_role(role);
            self.roles.role_mut(idx).weight = *weight;
            self.role_sorter.update_weight(role, *weight);
        }
    }

    /// After a master failover with quota (`recover`): pauses allocation
    /// until `agent_recovery_factor` of the `expected_agents` re-register
    /// or `recovery_timeout` passes, so that quota is not handed out on a
    /// partial view of the cluster. Without quota this only sets the quotas.
    pub fn recover(&mut self, now: Time, expected_agents: usize, quotas: &BTreeMap<String, Quota>) {
        if quotas.is_empty() {
            return;
        }
        for (role, quota) in quotas {
            self.update_quota(role, quota.clone());
        }
        let expected = (expected_agents as f64 * self.options.agent_recovery_factor) as usize;
        if expected == 0 {
            return;
        }
        self.expected_agents = Some(expected);
        self.pause();
        self.recovery_deadline = Some(now + self.options.recovery_timeout);
    }

    /// Stops allocation (cycles return empty plans).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Resumes allocation.
    pub fn resume(&mut self) {
        self.paused = false;
        self.recovery_deadline = None;
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub(crate) fn resume_if_recovery_timed_out(&mut self, now: Time) {
        if self.recovery_deadline.is_some_and(|d| now >= d) {
            self.expected_agents = None;
            self.resume();
        }
    }

    // ------------------------------------------------------------------
    // Read-only views

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.agent_ids.len()
    }

    /// Number of frameworks added.
    pub fn framework_count(&self) -> usize {
        self.frameworks.iter().flatten().count()
    }

    /// An agent's unoffered resources.
    pub fn available(&self, id: &SlaveId) -> Option<&Resources> {
        self.agent_ids.get(id).map(|&i| &self.agent(i).available)
    }

    /// An agent's total resources.
    pub fn agent_total(&self, id: &SlaveId) -> Option<&Resources> {
        self.agent_ids.get(id).map(|&i| &self.agent(i).total)
    }

    /// What a framework is offered or holds on an agent, all roles.
    pub fn offered_or_allocated(&self, framework: &FrameworkId, agent: &SlaveId) -> Resources {
        let (Some(&fw), Some(&a)) = (self.framework_ids.get(framework), self.agent_ids.get(agent)) else {
            return Resources::new();
        };
        let mut sum = Resources::new();
        for h in self.agent(a).holdings.iter().filter(|h| h.framework == fw) {
            sum += &h.resources;
        }
        sum
    }

    /// A role's weight (1 unless set).
    pub fn weight(&self, role: &str) -> f64 {
        self.roles.get(role).map_or(1.0, |r| self.roles.role(r).weight)
    }

    /// A role's quota.
    pub fn quota(&self, role: &str) -> Quota {
        self.roles.get(role).map(|r| self.roles.role(r).quota.clone()).unwrap_or_default()
    }

    /// What a role consumes against its quota: reservations plus
    /// unreserved non-revocable resources in use (GET_QUOTA, metrics).
    pub fn quota_consumed(&self, role: &str) -> ResourceQuantities {
        self.roles.get(role).map(|r| self.roles.role(r).quota_consumed().to_quantities(&self.names)).unwrap_or_default()
    }

    /// Scalars offered or allocated to a role's subtree.
    pub fn role_offered_or_allocated(&self, role: &str) -> ResourceQuantities {
        self.roles
            .get(role)
            .map(|r| {
                let role = self.roles.role(r);
                let mut q = role.offered_or_allocated_reserved.clone();
                q.add(&role.offered_or_allocated_unreserved);
                q.to_quantities(&self.names)
            })
            .unwrap_or_default()
    }

    /// Cluster-wide scalar totals.
    pub fn total_quantities(&self) -> ResourceQuantities {
        self.total.to_quantities(&self.names)
    }

    /// Roles the allocator tracks, with the frameworks tracked under them.
    pub fn roles(&self) -> BTreeMap<String, Vec<FrameworkId>> {
        self.roles
            .iter()
            .filter(|(_, r)| !r.frameworks.is_empty())
            .map(|(_, r)| {
                let fws = r.frameworks.iter().filter_map(|&f| self.framework(f).map(|f| f.id.clone())).collect();
                (r.name.to_string(), fws)
            })
            .collect()
    }

    /// Active refusal filters of a framework at `now` (for metrics).
    pub fn active_filters(&self, framework: &FrameworkId, now: Time) -> usize {
        self.framework_ids
            .get(framework)
            .and_then(|&f| self.framework(f))
            .map_or(0, |f| f.filters.values().flatten().filter(|x| x.expires > now).count())
    }
}

/// `refuse_seconds` as Mesos bounds it: above a year → a year, negative or
/// not a number → the 5 s default.
pub(crate) fn refusal_timeout(refuse_seconds: f64) -> std::time::Duration {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    let secs = if refuse_seconds > YEAR {
        YEAR
    } else if refuse_seconds >= 0.0 {
        refuse_seconds
    } else {
        5.0
    };
    std::time::Duration::from_secs_f64(secs)
}

fn same_attributes(a: &SlaveInfo, b: &SlaveInfo) -> bool {
    let key = |info: &SlaveInfo| {
        let mut v: Vec<Vec<u8>> = info.attributes.iter().map(prost::Message::encode_to_vec).collect();
        v.sort();
        v
    };
    key(a) == key(b)
}
