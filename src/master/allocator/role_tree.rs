//! The role tree: every role the allocator has heard of, with its quota,
//! weight, frameworks, and the scalar quantities charged to its subtree.
//!
//! Quantities are hierarchical: a reservation for `eng/ci` also counts for
//! `eng`. What a role "consumes" against its quota is its reservations
//! (allocated or not) plus its unreserved non-revocable offered or
//! allocated resources, as in Mesos's `Role::quotaOfferedOrConsumed`.
//!
//! Roles are interned once and never forgotten (their index is stable);
//! an unused role is simply empty.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::qty::Qty;
use super::sorter::Sorter;
use crate::common::resource_quantities::Quota;
use crate::common::roles;

/// Index of a role in the tree.
pub(crate) type RoleIdx = u32;
/// Index of a framework in the allocator.
pub(crate) type FwIdx = u32;

/// One role.
#[derive(Clone, Debug)]
pub(crate) struct Role {
    pub(crate) name: Arc<str>,
    pub(crate) parent: Option<RoleIdx>,
    pub(crate) quota: Quota,
    pub(crate) weight: f64,
    /// Frameworks subscribed to the role or holding resources allocated to it.
    pub(crate) frameworks: BTreeSet<FwIdx>,
    /// Orders this role's frameworks.
    pub(crate) sorter: Sorter,
    /// Reserved scalars on all agents, for this role and its descendants.
    pub(crate) reservations: Qty,
    /// Offered or allocated reserved scalars (subtree).
    pub(crate) offered_or_allocated_reserved: Qty,
    /// Offered or allocated unreserved non-revocable scalars (subtree).
    pub(crate) offered_or_allocated_unreserved: Qty,
    /// Allocated (used by tasks) unreserved non-revocable scalars (subtree).
    pub(crate) allocated_unreserved: Qty,
}

impl Role {
    /// Reservations plus unreserved non-revocable offered-or-allocated: what
    /// counts against quota during an allocation cycle.
    pub(crate) fn quota_offered_or_consumed(&self) -> Qty {
        let mut q = self.offered_or_allocated_unreserved.clone();
        q.add(&self.reservations);
        q
    }

    /// Reservations plus unreserved non-revocable resources used by tasks
    /// (what operators see as "consumed").
    pub(crate) fn quota_consumed(&self) -> Qty {
        let mut q = self.allocated_unreserved.clone();
        q.add(&self.reservations);
        q
    }
}

/// All roles.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoleTree {
    roles: Vec<Role>,
    by_name: HashMap<Arc<str>, RoleIdx>,
}

impl RoleTree {
    /// The index of `name`, creating it and its ancestors if new.
    pub(crate) fn intern(&mut self, name: &str) -> RoleIdx {
        if let Some(&idx) = self.by_name.get(name) {
            return idx;
        }
        let parent = roles::parent(name).map(|p| self.intern(p));
        let idx = self.roles.len() as RoleIdx;
        let name: Arc<str> = name.into();
        self.roles.push(Role {
            name: name.clone(),
            parent,
            quota: Quota::default(),
            weight: 1.0,
            frameworks: BTreeSet::new(),
            sorter: Sorter::default(),
            reservations: Qty::default(),
            offered_or_allocated_reserved: Qty::default(),
            offered_or_allocated_unreserved: Qty::default(),
            allocated_unreserved: Qty::default(),
        });
        self.by_name.insert(name, idx);
        idx
    }

    /// The index of `name`, if known.
    pub(crate) fn get(&self, name: &str) -> Option<RoleIdx> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn role(&self, idx: RoleIdx) -> &Role {
        &self.roles[idx as usize]
    }

    pub(crate) fn role_mut(&mut self, idx: RoleIdx) -> &mut Role {
        &mut self.roles[idx as usize]
    }

    /// All roles with their indices.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RoleIdx, &Role)> {
        self.roles.iter().enumerate().map(|(i, r)| (i as RoleIdx, r))
    }

    /// Number of roles known.
    pub(crate) fn len(&self) -> usize {
        self.roles.len()
    }

    /// `idx` and its ancestors, nearest first.
    pub(crate) fn self_and_ancestors(&self, idx: RoleIdx) -> impl Iterator<Item = RoleIdx> + '_ {
        std::iter::successors(Some(idx), move |&i| self.roles[i as usize].parent)
    }

    /// Applies `f` to the role and each ancestor.
    pub(crate) fn update_up(&mut self, idx: RoleIdx, mut f: impl FnMut(&mut Role)) {
        let mut current = Some(idx);
        while let Some(i) = current {
            let role = &mut self.roles[i as usize];
            f(role);
            current = role.parent;
        }
    }
}
