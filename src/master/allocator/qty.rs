//! Dense scalar quantities for the allocator's bookkeeping.
//!
//! The allocator sums scalars (cpus, mem, disk, gpus, ...) on every offer:
//! per role, per framework, cluster-wide. Resource names are interned into
//! small indices ([`Names`]) and amounts kept in a vector indexed by them
//! ([`Qty`]), in Mesos's fixed point (thousandths), so sums are exact and
//! dominant shares are a single pass over a few integers.

use rustc_hash::FxHashMap;

use crate::common::resource_quantities::ResourceQuantities;
use crate::common::resources::{Item, Resources, Value};
use crate::common::values::Scalar;

/// Interned resource names. The first-class names have fixed indices.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    ids: FxHashMap<String, usize>,
    names: Vec<String>,
}

use crate::common::resources::item::FIRST_CLASS_NAMES as FIRST_CLASS;

impl Default for Names {
    fn default() -> Names {
        Names {
            ids: FIRST_CLASS.iter().enumerate().map(|(i, n)| (n.to_string(), i)).collect(),
            names: FIRST_CLASS.iter().map(|n| n.to_string()).collect(),
        }
    }
}

impl Names {
    /// The index of `name`, if interned.
    pub(crate) fn lookup(&self, name: &str) -> Option<usize> {
        match name {
            "cpus" => Some(0),
            "mem" => Some(1),
            "disk" => Some(2),
            "gpus" => Some(3),
            _ => self.ids.get(name).copied(),
        }
    }

    /// The index of an entry's name, if interned (first-class names are
    /// known without looking).
    pub(crate) fn lookup_item(&self, item: &Item) -> Option<usize> {
        item.first_class_index().or_else(|| self.ids.get(item.name()).copied())
    }

    /// The index of an entry's name, interning it if new.
    pub(crate) fn intern_item(&mut self, item: &Item) -> usize {
        match item.first_class_index() {
            Some(i) => i,
            None => self.intern(item.name()),
        }
    }

    /// The index of `name`, interning it if new.
    pub(crate) fn intern(&mut self, name: &str) -> usize {
        if let Some(id) = self.lookup(name) {
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

/// Names kept inline (cpus, mem, disk, gpus and a few custom ones) before
/// spilling to the heap.
const INLINE: usize = 8;

/// Scalar amounts (thousandths) indexed by interned name; absent is zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct Qty {
    inline: [i64; INLINE],
    extra: Vec<i64>,
}

impl Qty {
    /// The amount at `id`.
    pub(crate) fn get(&self, id: usize) -> i64 {
        if id < INLINE {
            self.inline[id]
        } else {
            self.extra.get(id - INLINE).copied().unwrap_or(0)
        }
    }

    /// `(index, amount)` for every slot held (zeros included).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.inline.iter().chain(self.extra.iter()).copied().enumerate()
    }

    /// Adds `milli` at `id`.
    pub(crate) fn add_at(&mut self, id: usize, milli: i64) {
        if id < INLINE {
            self.inline[id] += milli;
        } else {
            let i = id - INLINE;
            if self.extra.len() <= i {
                self.extra.resize(i + 1, 0);
            }
            self.extra[i] += milli;
        }
    }

    /// Adds every amount of `other`.
    pub(crate) fn add(&mut self, other: &Qty) {
        for (a, b) in self.inline.iter_mut().zip(&other.inline) {
            *a += b;
        }
        if !other.extra.is_empty() {
            if self.extra.len() < other.extra.len() {
                self.extra.resize(other.extra.len(), 0);
            }
            for (a, b) in self.extra.iter_mut().zip(&other.extra) {
                *a += b;
            }
        }
    }

    /// Subtracts every amount of `other`, never going below zero (as
    /// `ResourceQuantities` drops what would become negative).
    pub(crate) fn sub(&mut self, other: &Qty) {
        for (a, b) in self.inline.iter_mut().zip(&other.inline) {
            *a = (*a - b).max(0);
        }
        for (a, b) in self.extra.iter_mut().zip(&other.extra) {
            *a = (*a - b).max(0);
        }
    }

    /// The scalar entries of `resources`.
    pub(crate) fn of_scalars(resources: &Resources, names: &mut Names) -> Qty {
        let mut q = Qty::default();
        for item in resources {
            if let Some(s) = item.scalar() {
                q.add_at(names.intern_item(item), s.milli());
            }
        }
        q
    }

    /// Interned from name-keyed quantities.
    pub(crate) fn of_quantities(quantities: &ResourceQuantities, names: &mut Names) -> Qty {
        let mut q = Qty::default();
        for (name, v) in quantities.iter() {
            q.add_at(names.intern(name), v.milli());
        }
        q
    }

    /// What `resources` hold by name, counting range numbers and set items
    /// as units (Mesos's `ResourceQuantities::fromResources`). Names never
    /// interned are skipped: nothing asks about them.
    pub(crate) fn counting(resources: &Resources, names: &Names) -> Qty {
        let mut q = Qty::default();
        for item in resources {
            let Some(id) = names.lookup_item(item) else { continue };
            let milli = match item.value() {
                Value::Scalar(s) => s.milli(),
                Value::Ranges(r) => i64::try_from(r.count()).unwrap_or(i64::MAX / 1000).saturating_mul(1000),
                Value::Set(s) => (s.len() as i64).saturating_mul(1000),
            };
            q.add_at(id, milli);
        }
        q
    }

    /// True if every amount of `other` is reached here.
    pub(crate) fn contains(&self, other: &Qty) -> bool {
        other.iter().all(|(i, v)| v <= self.get(i))
    }

    /// To name-keyed quantities.
    pub(crate) fn to_quantities(&self, names: &Names) -> ResourceQuantities {
        ResourceQuantities::from_pairs(
            self.iter().filter(|&(_, v)| v > 0).map(|(i, v)| (names.name(i), Scalar::from_milli(v))),
        )
    }
}
