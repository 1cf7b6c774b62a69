//! Mesos's resource model: [`Resources`], a collection of resource entries
//! with Mesos's arithmetic, filters and text syntax.
//!
//! # Layout
//! - this file: the [`Resources`] collection (arithmetic, containment,
//!   filters, getters);
//! - [`item`]: one entry ([`Item`]) and the identity rules deciding which
//!   entries merge (`addable`) or split (`subtractable`);
//! - [`validate`](mod@validate): `Resources::validate` and the master's resource checks;
//! - [`parse`](mod@parse): `cpus:4;mem(role1):1024;ports:[31000-32000]` and the JSON
//!   array form, with Mesos's error messages;
//! - [`format`](mod@format): the pre- and post-reservation-refinement formats (upgrade,
//!   downgrade) and how Mesos prints resources;
//! - [`ops`]: offer operations (RESERVE, UNRESERVE, CREATE, DESTROY, ...)
//!   as conversions, `find`, `shrink`, checkpointed resources.
//!
//! # Terms
//! - *Identity*: everything but the amount. Two entries with the same
//!   identity are merged by `+` (`cpus:1` + `cpus:2` = `cpus:3`), except
//!   exclusive disks (`MOUNT`, `BLOCK`, `RAW` with an id) and persistent
//!   volumes, which stay separate and are only ever taken out whole.
//! - *Reservations*: a stack of [`ReservationInfo`]; the last one is the
//!   role the resource is reserved to. Unreserved resources have none.
//! - *Allocation*: the role an offered or used resource is allocated to.
//! - *Shared* resources (shared persistent volumes) are counted in copies.
//!
//! Every entry is valid and in the post-refinement format; invalid and empty
//! entries are silently dropped when added, as Mesos does. Subtraction never
//! fails: taking out more than is there removes the entry (Mesos's
//! documented semantics), so check [`Resources::contains`] first when it
//! matters. Scalars use Mesos's three-decimal fixed point (see
//! [`values`](crate::common::values)).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::common::resource_quantities::ResourceQuantities;
use crate::common::values::{Ranges, Scalar, Set};
use crate::proto::mesos::resource::ReservationInfo;
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::Resource;

pub mod format;
pub mod item;
pub mod ops;
pub mod parse;
pub mod validate;

pub use format::{downgrade_resource, downgrade_resources, upgrade_resource, upgrade_resources};
pub use item::{Item, Value};
pub use ops::{ConversionError, ResourceConversion};
pub use parse::ParseError;
pub use validate::{validate, validate_all, ResourceError};

/// A collection of resources with Mesos semantics. See the module docs.
#[derive(Clone, Default)]
pub struct Resources {
    items: Vec<Item>,
}

impl Resources {
    /// Nothing.
    pub const fn new() -> Resources {
        Resources { items: Vec::new() }
    }

    /// Builds a collection from protobufs. Invalid or empty entries are
    /// dropped (Mesos's constructor semantics); entries in the
    /// pre-refinement format are upgraded first.
    pub fn from_protos<'a, I: IntoIterator<Item = &'a Resource>>(resources: I) -> Resources {
        let mut result = Resources::new();
        for r in resources {
            result.add_proto(r);
        }
        result
    }

    /// Like [`Resources::from_protos`] but refuses the first invalid entry,
    /// with Mesos's `Resources::validate(RepeatedPtrField)` message.
    pub fn try_from_protos<'a, I: IntoIterator<Item = &'a Resource>>(resources: I) -> Result<Resources, ResourceError> {
        let mut result = Resources::new();
        for r in resources {
            validate::validate_in_list(r)?;
            result.add_proto(r);
        }
        Ok(result)
    }

    /// The protobufs, in the post-refinement format.
    pub fn to_protos(&self) -> Vec<Resource> {
        self.items.iter().map(Item::to_proto).collect()
    }

    /// Adds one protobuf; invalid or empty ones are ignored.
    pub fn add_proto(&mut self, r: &Resource) {
        if let Ok(item) = item_from_proto(r) {
            self.add_item(item);
        }
    }

    /// A single entry.
    pub fn from_item(item: Item) -> Resources {
        let mut r = Resources::new();
        r.add_item(item);
        r
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of entries (not of resources: `cpus:4` is one entry).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The entries, in Mesos's order (insertion order; a removed entry's
    /// place is taken by the last one).
    pub fn iter(&self) -> std::slice::Iter<'_, Item> {
        self.items.iter()
    }

    /// Adds one entry, merging it into an entry of the same identity if
    /// Mesos would. Empty entries are ignored.
    pub fn add_item(&mut self, item: Item) {
        if item.is_empty() {
            return;
        }
        match self.items.iter_mut().find(|i| i.addable(&item)) {
            Some(existing) => existing.merge(&item),
            None => self.items.push(item),
        }
    }

    /// Adds one entry by reference.
    pub fn add_item_ref(&mut self, item: &Item) {
        if item.is_empty() {
            return;
        }
        match self.items.iter_mut().find(|i| i.addable(item)) {
            Some(existing) => existing.merge(item),
            None => self.items.push(item.clone()),
        }
    }

    /// Takes one entry out. Taking out more than is there drops the entry.
    pub fn subtract_item(&mut self, item: &Item) {
        if item.is_empty() {
            return;
        }
        if let Some(idx) = self.items.iter().position(|i| i.subtractable(item)) {
            if self.items[idx].take(item) {
                self.items.swap_remove(idx);
            }
        }
    }

    /// True if `self` holds everything in `that` (Mesos's superset check).
    pub fn contains(&self, that: &Resources) -> bool {
        let mut remaining: Option<Resources> = None;
        for item in &that.items {
            let pool = remaining.as_ref().unwrap_or(self);
            if !pool.contains_item(item) {
                return false;
            }
            // A persistent volume is one specific disk: two identical ones
            // need two copies on this side.
            if item.is_persistent_volume() {
                remaining.get_or_insert_with(|| self.clone()).subtract_item(item);
            }
        }
        true
    }

    /// True if some single entry holds all of `item`.
    pub fn contains_item(&self, item: &Item) -> bool {
        self.items.iter().any(|i| i.contains(item))
    }

    /// True if `resource` is valid and held (an invalid one is never held).
    pub fn contains_proto(&self, resource: &Resource) -> bool {
        item_from_proto(resource).is_ok_and(|item| self.contains_item(&item))
    }

    /// True if, name by name, the quantities here reach `quantities`
    /// (a range counts its numbers, a set its items).
    pub fn contains_quantities(&self, quantities: &ResourceQuantities) -> bool {
        quantities.iter().all(|(name, wanted)| {
            let mut have: f64 = 0.0;
            for item in self.items.iter().filter(|i| i.name() == name) {
                have += match item.value() {
                    Value::Scalar(s) => s.to_f64(),
                    Value::Ranges(r) => r.count() as f64,
                    Value::Set(s) => s.len() as f64,
                };
                if have >= wanted.to_f64() {
                    return true;
                }
            }
            have >= wanted.to_f64()
        })
    }

    /// How many copies of `resource` are held: the shared count for shared
    /// resources, 1 or 0 otherwise.
    pub fn count(&self, resource: &Item) -> i32 {
        self.items
            .iter()
            .find(|i| i.same_resource(resource))
            .map_or(0, |i| if i.is_shared() { i.shared_count } else { 1 })
    }

    /// Allocates every entry to `role` (overwriting any allocation).
    pub fn allocate(&mut self, role: &str) {
        let role: std::sync::Arc<str> = role.into();
        for item in &mut self.items {
            item.allocation = Some(role.clone());
        }
    }

    /// [`Resources::allocate`] with a role string the caller keeps shared.
    pub fn allocate_shared(&mut self, role: &std::sync::Arc<str>) {
        for item in &mut self.items {
            item.allocation = Some(role.clone());
        }
    }

    /// Clears the allocation of every entry.
    pub fn unallocate(&mut self) {
        let merge_needed = self.items.iter().any(|i| i.allocation.is_some());
        if !merge_needed {
            return;
        }
        // Entries that differed only by allocation now have one identity:
        // rebuild so they merge, as Mesos's entries would on the next add.
        let items = std::mem::take(&mut self.items);
        for mut item in items {
            item.allocation = None;
            self.add_item(item);
        }
    }

    /// The entries for which `predicate` holds.
    pub fn filter<F: FnMut(&Item) -> bool>(&self, mut predicate: F) -> Resources {
        let mut items = Vec::with_capacity(self.items.len());
        items.extend(self.items.iter().filter(|i| predicate(i)).cloned());
        Resources { items }
    }

    /// Splits into (matching, not matching) in one pass.
    pub fn partition<F: FnMut(&Item) -> bool>(&self, predicate: F) -> (Resources, Resources) {
        self.clone().into_partition(predicate)
    }

    /// [`Resources::partition`], consuming `self`.
    pub fn into_partition<F: FnMut(&Item) -> bool>(self, mut predicate: F) -> (Resources, Resources) {
        let (a, b) = self.items.into_iter().partition(|i| predicate(i));
        (Resources { items: a }, Resources { items: b })
    }

    /// Reorders the entries by a key, keeping the order of equal keys.
    pub fn sort_by_key<K: Ord, F: FnMut(&Item) -> K>(&mut self, f: F) {
        self.items.sort_by_key(f);
    }

    /// Keeps the entries for which `predicate` holds.
    pub fn retain<F: FnMut(&Item) -> bool>(&mut self, mut predicate: F) {
        self.items.retain(|i| predicate(i));
    }

    /// Entries grouped by a role each may have (entries without are left out).
    fn group_by_role<'a>(&'a self, role_of: impl Fn(&'a Item) -> Option<&'a str>) -> BTreeMap<String, Resources> {
        let mut result: BTreeMap<String, Resources> = BTreeMap::new();
        for item in &self.items {
            if let Some(role) = role_of(item) {
                result.entry(role.to_string()).or_default().add_item_ref(item);
            }
        }
        result
    }

    /// Reserved resources grouped by reservation role.
    pub fn reservations(&self) -> BTreeMap<String, Resources> {
        self.group_by_role(Item::reservation_role)
    }

    /// Reserved resources, to `role` only when given.
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        match role {
            None => self.filter(Item::is_reserved),
            Some(role) => self.filter(|i| i.is_reserved_to(role)),
        }
    }

    /// Unreserved resources.
    pub fn unreserved(&self) -> Resources {
        self.filter(Item::is_unreserved)
    }

    /// What a framework in `role` may be offered: unreserved resources and
    /// those reserved to `role` or its ancestors.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|i| i.is_allocatable_to(role))
    }

    /// Resources allocated to `role` or its descendants.
    pub fn allocated_to_role_subtree(&self, role: &str) -> Resources {
        self.filter(|i| i.is_allocated_to_role_subtree(role))
    }

    /// Resources reserved to `role` or its descendants.
    pub fn reserved_to_role_subtree(&self, role: &str) -> Resources {
        self.filter(|i| i.is_reserved_to_role_subtree(role))
    }

    /// Persistent volumes.
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Item::is_persistent_volume)
    }

    /// Revocable resources.
    pub fn revocable(&self) -> Resources {
        self.filter(Item::is_revocable)
    }

    /// Non-revocable resources.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|i| !i.is_revocable())
    }

    /// Shared resources.
    pub fn shared(&self) -> Resources {
        self.filter(Item::is_shared)
    }

    /// Non-shared resources.
    pub fn non_shared(&self) -> Resources {
        self.filter(|i| !i.is_shared())
    }

    /// Scalar resources.
    pub fn scalars(&self) -> Resources {
        self.filter(Item::is_scalar)
    }

    /// Resources named `name`.
    pub fn get(&self, name: &str) -> Resources {
        self.filter(|i| i.name() == name)
    }

    /// Allocated resources grouped by allocation role. Unallocated entries
    /// are skipped (Mesos requires every entry to be allocated here).
    pub fn allocations(&self) -> BTreeMap<String, Resources> {
        self.group_by_role(Item::allocation_role)
    }

    /// Pushes a reservation onto every entry. Fails (and changes nothing) if
    /// an entry would become invalid, e.g. a refinement that is not a
    /// descendant of the current role.
    pub fn push_reservation(&self, reservation: &ReservationInfo) -> Result<Resources, ResourceError> {
        let mut result = Resources::new();
        for item in &self.items {
            let mut proto = item.meta().clone();
            proto.reservations.push(reservation.clone());
            let check = item.with_meta(proto.clone()).to_proto();
            validate(&check)?;
            result.add_item(item.with_meta(proto));
        }
        Ok(result)
    }

    /// Pops the innermost reservation of every entry. Unreserved entries are
    /// kept as they are (Mesos requires them all to be reserved).
    pub fn pop_reservation(&self) -> Resources {
        let mut result = Resources::new();
        for item in &self.items {
            let mut proto = item.meta().clone();
            proto.reservations.pop();
            result.add_item(item.with_meta(proto));
        }
        result
    }

    /// Drops every reservation.
    pub fn to_unreserved(&self) -> Resources {
        let mut result = Resources::new();
        for item in &self.items {
            if item.is_reserved() {
                let mut proto = item.meta().clone();
                proto.reservations.clear();
                result.add_item(item.with_meta(proto));
            } else {
                result.add_item_ref(item);
            }
        }
        result
    }

    /// Scalars stripped of every metadata but name and value, summed by name.
    pub fn create_stripped_scalar_quantity(&self) -> Resources {
        let mut result = Resources::new();
        for item in self.items.iter().filter(|i| i.is_scalar()) {
            let proto = Resource {
                name: item.name().to_string(),
                r#type: ValueType::Scalar as i32,
                scalar: item.scalar().map(Scalar::to_proto),
                ..Default::default()
            };
            result.add_proto(&proto);
        }
        result
    }

    /// The first entry with the same identity as `item`, whatever its amount.
    pub fn match_identity(&self, item: &Item) -> Option<&Item> {
        self.items.iter().find(|i| i.same_identity(item))
    }

    /// Sum of the scalar entries named `name` (all roles), if any.
    pub fn get_scalar(&self, name: &str) -> Option<Scalar> {
        let mut found = false;
        let mut total = Scalar::ZERO;
        for item in self.items.iter().filter(|i| i.name() == name) {
            if let Value::Scalar(s) = item.value() {
                total += *s;
                found = true;
            }
        }
        found.then_some(total)
    }

    /// Union of the range entries named `name` (all roles), if any.
    pub fn get_ranges(&self, name: &str) -> Option<Ranges> {
        let mut found = None::<Ranges>;
        for item in self.items.iter().filter(|i| i.name() == name) {
            if let Value::Ranges(r) = item.value() {
                found.get_or_insert_with(Ranges::new).add(r);
            }
        }
        found
    }

    /// Union of the set entries named `name` (all roles), if any.
    pub fn get_set(&self, name: &str) -> Option<Set> {
        let mut found = None::<Set>;
        for item in self.items.iter().filter(|i| i.name() == name) {
            if let Value::Set(s) = item.value() {
                found.get_or_insert_with(Set::new).add(s);
            }
        }
        found
    }

    /// Resource names present.
    pub fn names(&self) -> BTreeSet<String> {
        self.items.iter().map(|i| i.name().to_string()).collect()
    }

    /// The value type of each name (the last entry wins, as in Mesos).
    pub fn types(&self) -> BTreeMap<String, ValueType> {
        self.items.iter().map(|i| (i.name().to_string(), i.value().value_type())).collect()
    }

    /// Total `cpus`.
    pub fn cpus(&self) -> Option<f64> {
        self.get_scalar("cpus").map(Scalar::to_f64)
    }

    /// Total `gpus`.
    pub fn gpus(&self) -> Option<f64> {
        self.get_scalar("gpus").map(Scalar::to_f64)
    }

    /// Total `mem` in bytes (Mesos's `Bytes`: whole megabytes).
    pub fn mem(&self) -> Option<u64> {
        self.get_scalar("mem").map(megabytes_to_bytes)
    }

    /// Total `disk` in bytes (whole megabytes).
    pub fn disk(&self) -> Option<u64> {
        self.get_scalar("disk").map(megabytes_to_bytes)
    }

    /// All `ports`.
    pub fn ports(&self) -> Option<Ranges> {
        self.get_ranges("ports")
    }

    /// All `ephemeral_ports`.
    pub fn ephemeral_ports(&self) -> Option<Ranges> {
        self.get_ranges("ephemeral_ports")
    }

    /// Adds every entry of `other`.
    pub fn add_all(&mut self, other: &Resources) {
        for item in &other.items {
            self.add_item_ref(item);
        }
    }

    /// Takes out every entry of `other`.
    pub fn subtract_all(&mut self, other: &Resources) {
        for item in &other.items {
            self.subtract_item(item);
        }
    }
}

/// Validates a protobuf, upgrades it to the post-refinement format and makes
/// an entry of it (possibly an empty one).
pub fn item_from_proto(r: &Resource) -> Result<Item, ResourceError> {
    validate(r)?;
    let item = if r.reservations.is_empty() && (has_role(r) || r.reservation.is_some()) {
        let mut upgraded = r.clone();
        upgrade_resource(&mut upgraded);
        Item::from_valid_proto(&upgraded)
    } else {
        Item::from_valid_proto(r)
    };
    // A valid resource always carries the value of its type.
    item.ok_or_else(|| ResourceError::new("Unsupported resource type"))
}

fn megabytes_to_bytes(s: Scalar) -> u64 {
    (s.to_f64().max(0.0) as u64).saturating_mul(1024 * 1024)
}

#[allow(deprecated)]
fn has_role(r: &Resource) -> bool {
    r.role.is_some()
}

impl PartialEq for Resources {
    /// Same resources: each contains the other.
    fn eq(&self, other: &Resources) -> bool {
        self.contains(other) && other.contains(self)
    }
}

impl From<Vec<Resource>> for Resources {
    fn from(v: Vec<Resource>) -> Resources {
        Resources::from_protos(&v)
    }
}

impl From<&[Resource]> for Resources {
    fn from(v: &[Resource]) -> Resources {
        Resources::from_protos(v)
    }
}

impl From<&Resource> for Resources {
    fn from(r: &Resource) -> Resources {
        Resources::from_protos([r])
    }
}

impl From<Item> for Resources {
    fn from(item: Item) -> Resources {
        Resources::from_item(item)
    }
}

impl FromIterator<Item> for Resources {
    fn from_iter<I: IntoIterator<Item = Item>>(iter: I) -> Resources {
        let mut r = Resources::new();
        for item in iter {
            r.add_item(item);
        }
        r
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Item;
    type IntoIter = std::slice::Iter<'a, Item>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl std::ops::AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        self.add_all(rhs);
    }
}

impl std::ops::AddAssign<Resources> for Resources {
    fn add_assign(&mut self, rhs: Resources) {
        for item in rhs.items {
            self.add_item(item);
        }
    }
}

impl std::ops::SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, rhs: &Resources) {
        self.subtract_all(rhs);
    }
}

impl std::ops::Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, rhs: &Resources) -> Resources {
        let mut r = self.clone();
        r += rhs;
        r
    }
}

impl std::ops::Add<&Resources> for Resources {
    type Output = Resources;
    fn add(mut self, rhs: &Resources) -> Resources {
        self += rhs;
        self
    }
}

impl std::ops::Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, rhs: &Resources) -> Resources {
        let mut r = self.clone();
        r -= rhs;
        r
    }
}

impl std::ops::Sub<&Resources> for Resources {
    type Output = Resources;
    fn sub(mut self, rhs: &Resources) -> Resources {
        self -= rhs;
        self
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Sums per-key collections (Mesos's `Resources::sum`).
pub fn sum<'a, K: 'a, I: IntoIterator<Item = (&'a K, &'a Resources)>>(map: I) -> Resources {
    let mut total = Resources::new();
    for (_, r) in map {
        total += r;
    }
    total
}

/// Adds `right` into `left` key by key.
pub fn add_maps<K: Clone + std::hash::Hash + Eq>(left: &mut HashMap<K, Resources>, right: &HashMap<K, Resources>) {
    for (k, r) in right {
        *left.entry(k.clone()).or_default() += r;
    }
}

#[cfg(test)]
mod tests;
