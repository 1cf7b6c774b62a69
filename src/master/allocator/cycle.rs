//! One allocation cycle (Mesos's `__generateOffers`).
//!
//! 1. Candidates: the agents marked since the last cycle, minus removed,
//!    deactivated and non-whitelisted ones, shuffled with the seeded RNG.
//! 2. Stage 1, only if some role has quota guarantees: for each agent, for
//!    each role with unsatisfied guarantees in DRF order, for each of its
//!    frameworks in DRF order, offer unreserved resources towards the
//!    guarantee (plus the role's own reservations and the non-scalar and
//!    revocable resources that go with them), within the role's limits and
//!    without eating the headroom other guarantees need.
//! 3. Stage 2: agents reshuffled; for each agent, for each role in DRF
//!    order, for each framework in DRF order, offer everything the role may
//!    use (its and its ancestors' reservations, unreserved resources)
//!    within quota limits and headroom.
//!
//! Every offer is checked against the framework's capabilities (GPU agents,
//! revocable, shared, refined reservations, MULTI_ROLE and hierarchical-role
//! agent support), its minimum offer size, and its refusal filters.

use std::collections::HashMap;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::hierarchical::Allocator;
use super::plan::Plan;
use super::qty::Qty;
use super::role_tree::{FwIdx, RoleIdx};
use super::state::{AgentIdx, Framework};
use super::Time;
use crate::common::resource_quantities::{ResourceLimits, ResourceQuantities};
use crate::common::resources::ops::{shrink_to_limits, shrink_to_quantities};
use crate::common::resources::{Item, Resources};

/// Quota bookkeeping for one cycle (only when some role has quota).
struct QuotaState {
    /// Per role with quota: reservations + unreserved offered or allocated.
    consumed: HashMap<RoleIdx, ResourceQuantities>,
    /// Unreserved resources to keep free for unsatisfied guarantees.
    required_headroom: ResourceQuantities,
    /// Unreserved non-revocable resources not offered or allocated.
    available_headroom: ResourceQuantities,
}

impl QuotaState {
    fn consumed(&self, role: RoleIdx) -> ResourceQuantities {
        self.consumed.get(&role).cloned().unwrap_or_default()
    }

    fn surplus_headroom(&self) -> ResourceQuantities {
        &self.available_headroom - &self.required_headroom
    }
}

struct Cycle {
    now: Time,
    /// Sorter updates held back while a sorter's order is being walked
    /// (Mesos walks a copy of the order; we walk the sorter's own list and
    /// update it afterwards, which orders the same).
    pending_frameworks: Vec<(FwIdx, Qty)>,
    pending_roles: Vec<(RoleIdx, Qty)>,
    plan: Plan,
    /// Shared resources already offered on an agent in this cycle.
    offered_shared: HashMap<AgentIdx, Resources>,
    quota: Option<QuotaState>,
    rng: Xoshiro256PlusPlus,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Guarantees,
    Rest,
}

impl Allocator {
    /// True if some trigger (agent added, framework activated, revive, ...)
    /// asked for a cycle since the last one.
    pub fn has_pending(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Runs a cycle over every agent: what the master does every
    /// `--allocation_interval`.
    pub fn allocate_all(&mut self, now: Time) -> Plan {
        self.resume_if_recovery_timed_out(now);
        if !self.paused {
            self.candidates.mark_all();
        }
        self.allocate(now)
    }

    /// Runs a cycle over the agents marked by triggers since the last cycle
    /// (Mesos's batched `generateOffers`). The master calls this after
    /// handling a batch of events when [`Allocator::has_pending`] is true.
    /// Returns the offers to send; they are already accounted as offered.
    pub fn allocate(&mut self, now: Time) -> Plan {
        self.resume_if_recovery_timed_out(now);
        if self.paused {
            self.candidates.clear();
            return Plan::default();
        }
        let mut agents: Vec<AgentIdx> = self
            .candidates
            .take(&self.agents)
            .into_iter()
            .filter(|&a| {
                let agent = self.agent(a);
                agent.activated && self.whitelist.as_ref().is_none_or(|w| w.contains(&agent.info.hostname))
            })
            .collect();
        for f in self.frameworks.iter_mut().flatten() {
            if !f.filters.is_empty() {
                f.filters.retain(|_, list| {
                    list.retain(|filter| filter.expires > now);
                    !list.is_empty()
                });
            }
        }
        let mut cx = Cycle {
            now,
            pending_frameworks: Vec::new(),
            pending_roles: Vec::new(),
            plan: Plan::with_capacity(agents.len()),
            offered_shared: HashMap::new(),
            quota: self.quota_state(),
            rng: self.rng.clone(),
        };
        agents.shuffle(&mut cx.rng);
        let any_guarantees = self.roles.iter().any(|(_, r)| !r.quota.guarantees.is_empty());
        if any_guarantees {
            self.run_stage(&mut cx, &agents, Stage::Guarantees);
        }
        // Spread out the effect of stage 1, which favours the first agents.
        agents.shuffle(&mut cx.rng);
        self.run_stage(&mut cx, &agents, Stage::Rest);
        self.rng = cx.rng;
        cx.plan
    }

    fn quota_state(&self) -> Option<QuotaState> {
        if self.roles.iter().all(|(_, r)| r.quota.is_default()) {
            return None;
        }
        let mut consumed = HashMap::new();
        let mut required = ResourceQuantities::new();
        for (idx, role) in self.roles.iter().filter(|(_, r)| !r.quota.is_default()) {
            let c = role.quota_offered_or_consumed().to_quantities(&self.names);
            if role.parent.is_none() {
                required += &(&role.quota.guarantees - &c);
            }
            consumed.insert(idx, c);
        }
        let mut headroom = self.total.clone();
        headroom.sub(self.role_sorter.total_allocation());
        let (mut reserved, mut offered_reserved) = (Qty::default(), Qty::default());
        for (_, role) in self.roles.iter().filter(|(_, r)| r.parent.is_none()) {
            reserved.add(&role.reservations);
            offered_reserved.add(&role.offered_or_allocated_reserved);
        }
        reserved.sub(&offered_reserved);
        headroom.sub(&reserved);
        let mut available_headroom = headroom.to_quantities(&self.names);
        if !required.is_empty() {
            for agent in self.agents.iter().flatten() {
                let revocable = agent.available.revocable();
                if !revocable.is_empty() {
                    available_headroom -= &ResourceQuantities::from_scalar_resources(&revocable);
                }
            }
        }
        Some(QuotaState { consumed, required_headroom: required, available_headroom })
    }

    fn run_stage(&mut self, cx: &mut Cycle, agents: &[AgentIdx], stage: Stage) {
        for &agent in agents {
            if self.agent(agent).available.is_empty() {
                continue;
            }
            let roles = {
                let basis = super::sorter::ShareBasis { totals: (&self.fair[..]).into() };
                self.role_sorter.sort(&basis).len()
            };
            for i in 0..roles {
                let role = self.role_sorter.last_order()[i];
                if stage == Stage::Guarantees {
                    let r = self.roles.role(role);
                    if r.quota.guarantees.is_empty() || r.frameworks.is_empty() {
                        continue;
                    }
                }
                if self.agent(agent).available.is_empty() {
                    break;
                }
                self.offer_to_role(cx, agent, role, stage);
                self.flush_framework_sorter(cx, role);
            }
            self.flush_role_sorter(cx);
        }
    }

    fn flush_framework_sorter(&mut self, cx: &mut Cycle, role: RoleIdx) {
        let basis = super::sorter::ShareBasis { totals: (&self.fair[..]).into() };
        for (fw, q) in cx.pending_frameworks.drain(..) {
            self.roles.role_mut(role).sorter.allocated(fw, &q, &basis);
        }
    }

    fn flush_role_sorter(&mut self, cx: &mut Cycle) {
        let basis = super::sorter::ShareBasis { totals: (&self.fair[..]).into() };
        for (role, q) in cx.pending_roles.drain(..) {
            self.role_sorter.allocated(role, &q, &basis);
        }
    }

    /// Walks the role's frameworks in DRF order, offering what the agent
    /// has for the role.
    fn offer_to_role(&mut self, cx: &mut Cycle, agent: AgentIdx, role: RoleIdx, stage: Stage) {
        let mut unsatisfied = match (stage, &cx.quota) {
            (Stage::Guarantees, Some(q)) => {
                let left = &self.roles.role(role).quota.guarantees - &q.consumed(role);
                if left.is_empty() {
                    return;
                }
                left
            }
            _ => ResourceQuantities::new(),
        };
        let frameworks = {
            let basis = super::sorter::ShareBasis { totals: (&self.fair[..]).into() };
            self.roles.role_mut(role).sorter.sort(&basis).len()
        };
        let mut available: Option<Resources> = None;
        for k in 0..frameworks {
            if stage == Stage::Guarantees && unsatisfied.is_empty() {
                break;
            }
            let fw = self.roles.role(role).sorter.last_order()[k];
            let Some(framework) = self.framework(fw) else { continue };
            if !self.capable_of_agent(framework, agent) {
                continue;
            }
            let avail = available.get_or_insert_with(|| self.available_for(cx, agent, role));
            if avail.is_empty() {
                break;
            }
            if !self.allocatable(avail, role, framework) {
                continue;
            }
            // Hand the available resources over without a copy when nothing
            // needs stripping; they are recomputed if no offer is made.
            let stripped = needs_strip(avail, framework);
            let usable =
                if stripped { strip_incapable(avail.clone(), framework) } else { available.take().unwrap_or_default() };
            let offer = match stage {
                Stage::Guarantees => self.guarantee_offer(cx, role, &usable, &unsatisfied),
                Stage::Rest => Some(self.rest_offer(cx, role, usable)),
            };
            let Some((to_offer, increase, toward_guarantee)) = offer else { continue };
            // Without stripping or quota chopping the offer is what was just
            // found allocatable.
            let unchanged = !stripped && stage == Stage::Rest && cx.quota.is_none();
            if (!unchanged && !self.allocatable(&to_offer, role, framework))
                || self.is_filtered(framework, role, agent, &to_offer, cx.now)
            {
                continue;
            }
            if stage == Stage::Guarantees {
                unsatisfied -= &increase;
            }
            self.make_offer(cx, agent, fw, role, to_offer, &increase, &toward_guarantee);
            available = None;
        }
    }

    /// What the agent has that `role` may use, minus shared resources
    /// already offered this cycle.
    fn available_for(&self, cx: &Cycle, agent: AgentIdx, role: RoleIdx) -> Resources {
        let name = &self.role_names[role as usize];
        let mut avail = self.agent(agent).available.allocatable_to(name);
        if let Some(shared) = cx.offered_shared.get(&agent) {
            avail -= shared;
        }
        avail
    }

    /// Stage 1: the unreserved part towards the guarantee, the role's own
    /// reservations, non-scalars and revocable resources, plus what limits
    /// and headroom allow on top. `None` if nothing goes to the guarantee.
    fn guarantee_offer(
        &self,
        cx: &mut Cycle,
        role: RoleIdx,
        usable: &Resources,
        unsatisfied: &ResourceQuantities,
    ) -> Option<(Resources, ResourceQuantities, ResourceQuantities)> {
        let quota = cx.quota.as_ref()?;
        let name = &self.role_names[role as usize];
        let (quota_resources, others) = usable.partition(is_quota_resource);
        let guaranteed = shrink_to_quantities(&quota_resources, unsatisfied, &mut cx.rng);
        if guaranteed.is_empty() {
            return None;
        }
        let guaranteed_qty = ResourceQuantities::from_scalar_resources(&guaranteed);
        let mut to_offer = guaranteed.clone();
        to_offer += &others.filter(|i| i.is_reserved_to(name) || !i.is_scalar() || i.is_revocable());
        let mut additional = &quota_resources - &guaranteed;
        let limits = &self.roles.role(role).quota.limits;
        if !limits.is_empty() {
            let room = &(limits - &quota.consumed(role)) - &guaranteed_qty;
            additional = shrink_to_limits(&additional, &room, &mut cx.rng);
        }
        if !quota.required_headroom.is_empty() && !additional.is_empty() {
            additional = shrink_to_quantities(&additional, &quota.surplus_headroom(), &mut cx.rng);
        }
        let mut increase = guaranteed_qty.clone();
        increase += &ResourceQuantities::from_scalar_resources(&additional);
        to_offer += &additional;
        Some((to_offer, increase, guaranteed_qty))
    }

    /// Stage 2: reservations, non-scalars and revocable resources whole;
    /// unreserved scalars within quota limits and headroom.
    fn rest_offer(
        &self,
        cx: &mut Cycle,
        role: RoleIdx,
        usable: Resources,
    ) -> (Resources, ResourceQuantities, ResourceQuantities) {
        let Some(quota) = &cx.quota else {
            // Nothing to chop: the same entries, in Mesos's order (whole
            // entries first, then unreserved scalars).
            let mut to_offer = usable;
            to_offer.sort_by_key(is_quota_resource);
            return (to_offer, ResourceQuantities::new(), ResourceQuantities::new());
        };
        let (mut additional, mut to_offer) = usable.into_partition(is_quota_resource);
        let limits = &self.roles.role(role).quota.limits;
        if !limits.is_empty() {
            let room: ResourceLimits = limits - &quota.consumed(role);
            additional = shrink_to_limits(&additional, &room, &mut cx.rng);
        }
        if !quota.required_headroom.is_empty() && !additional.is_empty() {
            additional = shrink_to_quantities(&additional, &quota.surplus_headroom(), &mut cx.rng);
        }
        let increase = ResourceQuantities::from_scalar_resources(&additional);
        to_offer += additional;
        (to_offer, increase, ResourceQuantities::new())
    }

    /// Records an offer: plan, agent, role tree, sorters, quota state.
    #[allow(clippy::too_many_arguments)]
    fn make_offer(
        &mut self,
        cx: &mut Cycle,
        agent: AgentIdx,
        fw: FwIdx,
        role: RoleIdx,
        mut to_offer: Resources,
        increase: &ResourceQuantities,
        toward_guarantee: &ResourceQuantities,
    ) {
        // Leave the agent's available resources (shared ones stay).
        let a = self.agent_mut(agent);
        let has_shared = to_offer.iter().any(Item::is_shared);
        if has_shared {
            a.available -= &to_offer.non_shared();
            // Recorded unallocated, as the available resources they are
            // taken from. (Mesos records them allocated, so its subtraction
            // never matches and a shared volume can go to several
            // frameworks in one cycle, against its own stated intent.)
            *cx.offered_shared.entry(agent).or_default() += &to_offer.shared();
        } else {
            a.available -= &to_offer;
        }
        let role_name = self.role_names[role as usize].clone();
        to_offer.allocate_shared(&role_name);
        if let Some(q) = cx.quota.as_mut() {
            if !self.roles.role(role).quota.is_default() {
                for r in self.roles.self_and_ancestors(role) {
                    *q.consumed.entry(r).or_default() += increase;
                }
            }
            q.required_headroom -= toward_guarantee;
            q.available_headroom -= increase;
        }
        self.hold(agent, fw, role, &to_offer);
        let q = self.track_offered_in_roles(fw, role, &to_offer);
        cx.pending_frameworks.push((fw, q.clone()));
        cx.pending_roles.push((role, q));
        let ids = || {
            let framework_id = self.framework(fw).map(|f| f.id.clone()).unwrap_or_default();
            (framework_id, String::from(&*role_name), self.agent(agent).id.clone())
        };
        cx.plan.add((fw, role, agent), ids, to_offer);
    }

    /// Mesos's `allocatable`: the offer reaches one of the minimum sets
    /// (the framework's own for this role, else the master's).
    fn allocatable(&self, resources: &Resources, role: RoleIdx, framework: &Framework) -> bool {
        if resources.is_empty() {
            return false;
        }
        let sets = framework.min_allocatable.get(&role).unwrap_or(&self.min_sets);
        if sets.is_empty() {
            return true;
        }
        let have = Qty::counting(resources, &self.names);
        sets.iter().any(|q| have.contains(q))
    }

    /// GPU agents only to GPU-capable frameworks (`--filter_gpu_resources`);
    /// agents in another region only to region-aware frameworks.
    fn capable_of_agent(&self, framework: &Framework, agent: AgentIdx) -> bool {
        let a = self.agent(agent);
        if self.options.filter_gpu_resources && !framework.caps.gpu && a.has_gpu {
            return false;
        }
        if !framework.caps.region_aware && self.is_remote(agent) {
            return false;
        }
        true
    }

    fn is_remote(&self, agent: AgentIdx) -> bool {
        let Some(region) = self.agent(agent).info.domain.as_ref().and_then(|d| d.fault_domain.as_ref()) else {
            return false;
        };
        let master = self.options.domain.as_ref().and_then(|d| d.fault_domain.as_ref());
        master.is_some_and(|m| m.region.name != region.region.name)
    }

    /// Implicit filters (MULTI_ROLE framework on an old agent, hierarchical
    /// role on an agent without HIERARCHICAL_ROLE) and refusal filters.
    fn is_filtered(
        &self,
        framework: &Framework,
        role: RoleIdx,
        agent: AgentIdx,
        resources: &Resources,
        now: Time,
    ) -> bool {
        let a = self.agent(agent);
        if framework.caps.multi_role && !a.caps.multi_role {
            return true;
        }
        if !a.caps.hierarchical_role && self.role_names[role as usize].contains('/') {
            return true;
        }
        framework
            .filters
            .get(&(role, agent))
            .is_some_and(|list| list.iter().any(|f| f.expires > now && f.resources.contains(resources)))
    }
}

fn is_quota_resource(item: &Item) -> bool {
    item.is_scalar() && item.is_unreserved() && !item.is_revocable()
}

/// Drops what the framework cannot handle: shared resources without
/// SHARED_RESOURCES, revocable without REVOCABLE_RESOURCES, refined
/// reservations without RESERVATION_REFINEMENT.
fn strip_incapable(mut resources: Resources, framework: &Framework) -> Resources {
    resources.retain(|i| capable_of(i, framework));
    resources
}

fn capable_of(item: &Item, framework: &Framework) -> bool {
    let caps = framework.caps;
    (caps.shared || !item.is_shared())
        && (caps.revocable || !item.is_revocable())
        && (caps.reservation_refinement || !item.has_refined_reservations())
}

fn needs_strip(resources: &Resources, framework: &Framework) -> bool {
    !resources.iter().all(|i| capable_of(i, framework))
}
