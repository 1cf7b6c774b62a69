//! The output of an allocation cycle.

use rustc_hash::FxHashMap;

use crate::common::resources::Resources;
use crate::proto::mesos::{FrameworkId, SlaveId};

/// Resources to offer to one framework, for one of its roles, on one agent.
/// The master turns each into one `Offer` (Mesos makes one offer per
/// framework, role and agent).
#[derive(Clone, Debug)]
pub struct PlannedOffer {
    /// Who gets the offer.
    pub framework_id: FrameworkId,
    /// The role the resources are allocated to (their `AllocationInfo`).
    pub role: String,
    /// Where the resources are.
    pub agent_id: SlaveId,
    /// What is offered; every entry is allocated to `role`.
    pub resources: Resources,
}

/// Offers decided by one allocation cycle, in the order they were made.
/// The allocator already counts these resources as offered: the master
/// sends the offers, and gives back whatever is declined, rescinded or
/// left unused with [`recover_resources`](super::Allocator::recover_resources).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The offers, at most one per (framework, role, agent).
    pub offers: Vec<PlannedOffer>,
    index: FxHashMap<(u32, u32, u32), usize>,
}

impl Plan {
    pub(crate) fn with_capacity(n: usize) -> Plan {
        Plan { offers: Vec::with_capacity(n), index: FxHashMap::with_capacity_and_hasher(n, Default::default()) }
    }

    /// True when nothing is offered.
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    /// Number of offers.
    pub fn len(&self) -> usize {
        self.offers.len()
    }

    /// The offers for one framework.
    pub fn for_framework<'a>(&'a self, id: &'a FrameworkId) -> impl Iterator<Item = &'a PlannedOffer> + 'a {
        self.offers.iter().filter(move |o| &o.framework_id == id)
    }

    /// Adds resources for (framework, role, agent), merging with an
    /// earlier offer for the same key in this cycle.
    pub(crate) fn add(
        &mut self,
        key: (u32, u32, u32),
        make: impl FnOnce() -> (FrameworkId, String, SlaveId),
        resources: Resources,
    ) {
        match self.index.get(&key) {
            Some(&i) => self.offers[i].resources += resources,
            None => {
                let (framework_id, role, agent_id) = make();
                self.index.insert(key, self.offers.len());
                self.offers.push(PlannedOffer { framework_id, role, agent_id, resources });
            }
        }
    }
}
