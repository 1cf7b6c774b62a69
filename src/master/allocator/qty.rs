//! Dense scalar quantities for the allocator's bookkeeping.
//!
//! The allocator sums scalars (cpus, mem, disk, gpus, ...) on every offer:
//! per role, per framework, cluster-wide. Resource names are interned into
//! small indices ([`Names`]) and amounts kept in a vector indexed by them
//! ([`Qty`]), in Mesos's fixed point (thousandths), so sums are exact and
//! dominant shares are a single pass over a few integers.

use std::collections::HashMap;

use crate::common::resource_quantities::ResourceQuantities;
use crate::common::resources::Resources;
use crate::common::values::Scalar;

/// Interned resource names.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    ids: HashMap<String, usize>,
    names: Vec<String>,
}

impl Names {
    /// The index of `name`, interning it if new.
    pub(crate) fn intern(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Number of names interned.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The name at `id`.
    pub(crate) fn name(&self, id: usize) -> &str {
        &self.names[id]
    }
}

/// Scalar amounts (thousandths) indexed by interned name. Missing trailing
/// entries are zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Qty(Vec<i64>);

impl Qty {
    /// The amount at `id`.
    pub(crate) fn get(&self, id: usize) -> i64 {
        self.0.get(id).copied().unwrap_or(0)
    }

    /// The amounts by index.
    pub(crate) fn raw(&self) -> &[i64] {
        &self.0
    }

    /// Adds `milli` at `id`.
    pub(crate) fn add_at(&mut self, id: usize, milli: i64) {
        if self.0.len() <= id {
            self.0.resize(id + 1, 0);
        }
        self.0[id] += milli;
    }

    /// Adds every amount of `other`.
    pub(crate) fn add(&mut self, other: &Qty) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    /// Subtracts every amount of `other`, never going below zero (as
    /// `ResourceQuantities` drops what would become negative).
    pub(crate) fn sub(&mut self, other: &Qty) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = (*a - b).max(0);
        }
    }

    /// The scalar entries of `resources`.
    pub(crate) fn of_scalars(resources: &Resources, names: &mut Names) -> Qty {
        let mut q = Qty::default();
        q.add_scalars(resources, names);
        q
    }

    /// Adds the scalar entries of `resources`.
    pub(crate) fn add_scalars(&mut self, resources: &Resources, names: &mut Names) {
        for item in resources {
            if let Some(s) = item.scalar() {
                self.add_at(names.intern(item.name()), s.milli());
            }
        }
    }

    /// To name-keyed quantities.
    pub(crate) fn to_quantities(&self, names: &Names) -> ResourceQuantities {
        ResourceQuantities::from_pairs(
            self.0
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 0)
                .map(|(i, &v)| (names.name(i), Scalar::from_milli(v))),
        )
    }
}
