//! What the allocator knows about agents and frameworks.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::qty::Qty;
use super::role_tree::{FwIdx, RoleIdx};
use crate::common::resources::Resources;
use crate::proto::mesos::framework_info::capability::Type as FwCap;
use crate::proto::mesos::slave_info::capability::Type as AgentCap;
use crate::proto::mesos::slave_info::Capability;
use crate::proto::mesos::{FrameworkId, FrameworkInfo, SlaveId, SlaveInfo};

/// Index of an agent in the allocator.
pub(crate) type AgentIdx = u32;

/// The framework capabilities the allocator looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FrameworkCaps {
    pub(crate) multi_role: bool,
    pub(crate) revocable: bool,
    pub(crate) gpu: bool,
    pub(crate) shared: bool,
    pub(crate) reservation_refinement: bool,
    pub(crate) region_aware: bool,
}

impl FrameworkCaps {
    pub(crate) fn of(info: &FrameworkInfo) -> FrameworkCaps {
        let mut caps = FrameworkCaps::default();
        for c in &info.capabilities {
            match c.r#type() {
                FwCap::MultiRole => caps.multi_role = true,
                FwCap::RevocableResources => caps.revocable = true,
                FwCap::GpuResources => caps.gpu = true,
                FwCap::SharedResources => caps.shared = true,
                FwCap::ReservationRefinement => caps.reservation_refinement = true,
                FwCap::RegionAware => caps.region_aware = true,
                _ => {}
            }
        }
        caps
    }
}

/// The agent capabilities the allocator looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AgentCaps {
    pub(crate) multi_role: bool,
    pub(crate) hierarchical_role: bool,
    pub(crate) reservation_refinement: bool,
}

impl AgentCaps {
    pub(crate) fn of(capabilities: &[Capability]) -> AgentCaps {
        let mut caps = AgentCaps::default();
        for c in capabilities {
            match c.r#type() {
                AgentCap::MultiRole => caps.multi_role = true,
                AgentCap::HierarchicalRole => caps.hierarchical_role = true,
                AgentCap::ReservationRefinement => caps.reservation_refinement = true,
                _ => {}
            }
        }
        caps
    }
}

/// A refusal: the framework does not want `resources` (or less) from this
/// agent for this role until `expires`.
#[derive(Clone, Debug)]
pub(crate) struct OfferFilter {
    pub(crate) resources: Resources,
    pub(crate) expires: Duration,
}

/// A framework.
#[derive(Clone, Debug)]
pub(crate) struct Framework {
    pub(crate) id: FrameworkId,
    pub(crate) info: FrameworkInfo,
    pub(crate) roles: BTreeSet<RoleIdx>,
    pub(crate) suppressed: BTreeSet<RoleIdx>,
    pub(crate) caps: FrameworkCaps,
    pub(crate) active: bool,
    /// Refusal filters by (role, agent).
    pub(crate) filters: rustc_hash::FxHashMap<(RoleIdx, AgentIdx), Vec<OfferFilter>>,
    /// `FrameworkInfo.offer_filters`: per-role minimum offer sizes.
    pub(crate) min_allocatable: HashMap<RoleIdx, Vec<Qty>>,
}

/// Resources offered or allocated to one framework in one role on an agent.
#[derive(Clone, Debug)]
pub(crate) struct Holding {
    pub(crate) framework: FwIdx,
    pub(crate) role: RoleIdx,
    pub(crate) resources: Resources,
}

/// An agent.
#[derive(Clone, Debug)]
pub(crate) struct Agent {
    pub(crate) id: SlaveId,
    pub(crate) info: SlaveInfo,
    pub(crate) caps: AgentCaps,
    pub(crate) activated: bool,
    pub(crate) total: Resources,
    /// Scalars of `total`.
    pub(crate) total_qty: Qty,
    pub(crate) has_gpu: bool,
    /// `total` minus everything offered or allocated, plus shared resources
    /// (which stay offerable while in use).
    pub(crate) available: Resources,
    /// Offered or allocated resources, by framework and role.
    pub(crate) holdings: Vec<Holding>,
    /// Resources used by tasks and executors (a subset of the holdings),
    /// as reported by `transition_offered_to_allocated` and `used`.
    pub(crate) total_allocated: Resources,
}

impl Agent {
    pub(crate) fn new(id: SlaveId, info: SlaveInfo, caps: AgentCaps, total: Resources, total_qty: Qty) -> Agent {
        let has_gpu = total.gpus().unwrap_or(0.0) > 0.0;
        Agent {
            id,
            info,
            caps,
            activated: true,
            available: total.clone(),
            total,
            total_qty,
            has_gpu,
            holdings: Vec::new(),
            total_allocated: Resources::new(),
        }
    }

    /// Sum of all holdings, without allocation info.
    pub(crate) fn total_offered_or_allocated(&self) -> Resources {
        let mut sum = Resources::new();
        for h in &self.holdings {
            sum += &h.resources;
        }
        sum.unallocate();
        sum
    }

    /// Recomputes `available` from the total and the holdings.
    pub(crate) fn refresh_available(&mut self) {
        let used = self.total_offered_or_allocated();
        let shared = self.total.shared();
        self.available = if shared.is_empty() {
            &self.total - &used
        } else {
            let mut a = &self.total.non_shared() - &used.non_shared();
            a += &shared;
            a
        };
    }

    pub(crate) fn holding(&self, framework: FwIdx, role: RoleIdx) -> Option<&Holding> {
        self.holdings.iter().find(|h| h.framework == framework && h.role == role)
    }

    /// Adds to a holding. Returns true if the holding is new.
    pub(crate) fn hold(&mut self, framework: FwIdx, role: RoleIdx, resources: &Resources) -> bool {
        if resources.is_empty() {
            return false;
        }
        match self.holdings.iter_mut().find(|h| h.framework == framework && h.role == role) {
            Some(h) => {
                h.resources += resources;
                false
            }
            None => {
                self.holdings.push(Holding { framework, role, resources: resources.clone() });
                true
            }
        }
    }

    /// Takes out of a holding. Returns true if the holding became empty.
    pub(crate) fn release(&mut self, framework: FwIdx, role: RoleIdx, resources: &Resources) -> bool {
        let Some(pos) = self.holdings.iter().position(|h| h.framework == framework && h.role == role) else {
            return false;
        };
        self.holdings[pos].resources -= resources;
        if self.holdings[pos].resources.is_empty() {
            self.holdings.swap_remove(pos);
            return true;
        }
        false
    }
}

/// Agents marked for the next cycle (Mesos's `allocationCandidates`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Candidates {
    marked: Vec<bool>,
    list: Vec<AgentIdx>,
    all: bool,
}

impl Candidates {
    pub(crate) fn mark(&mut self, agent: AgentIdx) {
        let i = agent as usize;
        if self.marked.len() <= i {
            self.marked.resize(i + 1, false);
        }
        if !self.marked[i] {
            self.marked[i] = true;
            self.list.push(agent);
        }
    }

    pub(crate) fn mark_all(&mut self) {
        self.all = true;
    }

    pub(crate) fn unmark(&mut self, agent: AgentIdx) {
        if let Some(m) = self.marked.get_mut(agent as usize) {
            if *m {
                *m = false;
                self.list.retain(|&a| a != agent);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.list.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        for &a in &self.list {
            self.marked[a as usize] = false;
        }
        self.list.clear();
        self.all = false;
    }

    /// The marked agents among `live` (index order), and no marks left.
    pub(crate) fn take(&mut self, live: &[Option<Agent>]) -> Vec<AgentIdx> {
        let mut agents: Vec<AgentIdx> = if self.all {
            (0..live.len() as AgentIdx).filter(|&a| live[a as usize].is_some()).collect()
        } else {
            let mut v: Vec<AgentIdx> =
                self.list.iter().copied().filter(|&a| live.get(a as usize).is_some_and(Option::is_some)).collect();
            v.sort_unstable();
            v
        };
        agents.dedup();
        self.clear();
        agents
    }
}
