//! One entry of a [`Resources`](super::Resources): what a resource *is*
//! (its metadata) plus how much of it there is (its value).
//!
//! The metadata (name, type, reservations, disk info, revocable, shared,
//! provider) lives behind an `Arc` so that copying entries between
//! collections, which the allocator does constantly, costs a reference count
//! instead of a protobuf deep copy. The allocation role is kept beside it
//! because it changes every time resources are offered.

use std::sync::Arc;

use crate::common::roles;
use crate::common::values::{Ranges, Scalar, Set};
use crate::proto::mesos::resource::disk_info::source::Type as SourceType;
use crate::proto::mesos::resource::disk_info::Source;
use crate::proto::mesos::resource::reservation_info::Type as ReservationType;
use crate::proto::mesos::resource::{AllocationInfo, DiskInfo, ReservationInfo};
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::{Label, Labels, Resource};

/// The amount of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `cpus:4`.
    Scalar(Scalar),
    /// `ports:[31000-32000]`.
    Ranges(Ranges),
    /// `disks:{a,b}`.
    Set(Set),
}

impl Value {
    /// True when there is nothing (zero, no interval, no item).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => s.is_zero(),
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    /// The protobuf type tag.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Scalar(_) => ValueType::Scalar,
            Value::Ranges(_) => ValueType::Ranges,
            Value::Set(_) => ValueType::Set,
        }
    }

    /// Adds `other` (same kind assumed; a different kind is ignored).
    fn add(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => *a += *b,
            (Value::Ranges(a), Value::Ranges(b)) => a.add(b),
            (Value::Set(a), Value::Set(b)) => a.add(b),
            _ => {}
        }
    }

    /// Subtracts `other` (same kind assumed; a different kind is ignored).
    fn subtract(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => *a -= *b,
            (Value::Ranges(a), Value::Ranges(b)) => a.subtract(b),
            (Value::Set(a), Value::Set(b)) => a.subtract(b),
            _ => {}
        }
    }

    /// `other <= self` for values of the same kind.
    fn contains(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => b <= a,
            (Value::Ranges(a), Value::Ranges(b)) => a.contains(b),
            (Value::Set(a), Value::Set(b)) => a.contains(b),
            _ => false,
        }
    }
}

/// How a disk resource may be merged with or split from its peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DiskClass {
    /// Not a disk with a source: freely divisible.
    Plain,
    /// `PATH` source, or `RAW` without an id: divisible among identical disks.
    Divisible,
    /// `MOUNT`, `BLOCK`, or `RAW` with an id: all or nothing.
    Exclusive,
}

/// Shared metadata of an entry: the protobuf with its value fields cleared,
/// plus a few flags computed once.
#[derive(Debug)]
pub(crate) struct Meta {
    /// `name`, `type`, `reservations`, `disk`, `revocable`, `shared`,
    /// `provider_id`. `scalar`, `ranges`, `set`, `role`, `reservation` and
    /// `allocation_info` are always unset.
    proto: Resource,
    disk: DiskClass,
    persistent: bool,
    /// Hash of the identity fields (labels aside): different keys mean
    /// different identities, so most mismatches cost no string compare.
    key: u64,
    /// Index of the name in [`FIRST_CLASS_NAMES`], if it is one.
    first_class: Option<u8>,
}

/// The resources Mesos treats as first class, in a fixed order.
pub const FIRST_CLASS_NAMES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

impl Meta {
    fn new(mut proto: Resource) -> Meta {
        proto.scalar = None;
        proto.ranges = None;
        proto.set = None;
        proto.allocation_info = None;
        #[allow(deprecated)]
        {
            proto.role = None;
        }
        proto.reservation = None;
        let disk = match proto.disk.as_ref().and_then(|d| d.source.as_ref()) {
            None => DiskClass::Plain,
            Some(s) => match s.r#type() {
                SourceType::Mount | SourceType::Block => DiskClass::Exclusive,
                SourceType::Raw if s.id.is_some() => DiskClass::Exclusive,
                _ => DiskClass::Divisible,
            },
        };
        let persistent = proto.disk.as_ref().is_some_and(|d| d.persistence.is_some());
        let key = identity_key(&proto);
        let first_class = FIRST_CLASS_NAMES.iter().position(|n| *n == proto.name).map(|i| i as u8);
        Meta { proto, disk, persistent, key, first_class }
    }
}

/// Hashes what [`same_metadata`] compares, except labels (compared as
/// multisets, hence not hashed): equal metadata always gives equal keys.
fn identity_key(r: &Resource) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    r.name.hash(&mut h);
    r.r#type.hash(&mut h);
    for res in &r.reservations {
        res.r#type().hash(&mut h);
        res.role().hash(&mut h);
        res.principal.hash(&mut h);
    }
    if let Some(disk) = &r.disk {
        disk.persistence.as_ref().map(|p| &p.id).hash(&mut h);
        if let Some(s) = &disk.source {
            s.r#type.hash(&mut h);
            s.path.as_ref().map(|p| &p.root).hash(&mut h);
            s.mount.as_ref().map(|m| &m.root).hash(&mut h);
            (&s.vendor, &s.id, &s.profile).hash(&mut h);
        }
    }
    r.revocable.is_some().hash(&mut h);
    r.provider_id.as_ref().map(|p| &p.value).hash(&mut h);
    r.shared.is_some().hash(&mut h);
    h.finish()
}

fn same_allocation(a: &Option<Arc<str>>, b: &Option<Arc<str>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        _ => false,
    }
}

/// One resource entry: metadata, allocation role, value, and (for shared
/// persistent volumes) how many copies are held.
#[derive(Clone, Debug)]
pub struct Item {
    pub(crate) meta: Arc<Meta>,
    /// `AllocationInfo.role`; an `AllocationInfo` without a role is `Some("")`.
    pub(crate) allocation: Option<Arc<str>>,
    pub(crate) value: Value,
    /// Copies of a shared resource (Mesos's `sharedCount`); 1 otherwise.
    pub(crate) shared_count: i32,
}

impl Item {
    /// Builds an entry from a protobuf that is already valid and in the
    /// post-refinement format (see [`super::validate`] and
    /// [`super::upgrade_resource`]). Returns `None` if it carries no value of
    /// its type.
    pub(crate) fn from_valid_proto(r: &Resource) -> Option<Item> {
        let value = match r.r#type() {
            ValueType::Scalar => Value::Scalar(Scalar::from_proto(r.scalar.as_ref()?)),
            ValueType::Ranges => Value::Ranges(Ranges::from_proto(r.ranges.as_ref()?)),
            ValueType::Set => Value::Set(Set::from_proto(r.set.as_ref()?)),
            ValueType::Text => return None,
        };
        let allocation = r.allocation_info.as_ref().map(|a| Arc::<str>::from(a.role.as_deref().unwrap_or("")));
        Some(Item { meta: Arc::new(Meta::new(r.clone())), allocation, value, shared_count: 1 })
    }

    /// A new entry with the same metadata and allocation and another value
    /// (of the same kind).
    pub fn with_value(&self, value: Value) -> Item {
        Item { meta: self.meta.clone(), allocation: self.allocation.clone(), value, shared_count: 1 }
    }

    /// Replaces the metadata (e.g. after editing reservations).
    pub(crate) fn with_meta(&self, proto: Resource) -> Item {
        Item {
            meta: Arc::new(Meta::new(proto)),
            allocation: self.allocation.clone(),
            value: self.value.clone(),
            shared_count: self.shared_count,
        }
    }

    /// The metadata as a protobuf (value fields and allocation unset).
    pub fn meta(&self) -> &Resource {
        &self.meta.proto
    }

    /// The full protobuf, in the post-refinement format.
    pub fn to_proto(&self) -> Resource {
        let mut r = self.meta.proto.clone();
        match &self.value {
            Value::Scalar(s) => r.scalar = Some(s.to_proto()),
            Value::Ranges(v) => r.ranges = Some(v.to_proto()),
            Value::Set(v) => r.set = Some(v.to_proto()),
        }
        r.allocation_info = self
            .allocation
            .as_ref()
            .map(|role| AllocationInfo { role: if role.is_empty() { None } else { Some(role.to_string()) } });
        r
    }

    /// Resource name (`cpus`, `mem`, `ports`...).
    pub fn name(&self) -> &str {
        &self.meta.proto.name
    }

    /// The index of the name in [`FIRST_CLASS_NAMES`] (`cpus` 0, `mem` 1,
    /// `disk` 2, `gpus` 3), if it is one of them.
    pub fn first_class_index(&self) -> Option<usize> {
        self.meta.first_class.map(usize::from)
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The scalar value, if this is a scalar.
    pub fn scalar(&self) -> Option<Scalar> {
        match self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// True for scalar resources.
    pub fn is_scalar(&self) -> bool {
        matches!(self.value, Value::Scalar(_))
    }

    /// The role this entry is allocated to, if any.
    pub fn allocation_role(&self) -> Option<&str> {
        self.allocation.as_deref()
    }

    /// The reservation stack, outermost (the agent's or static) first.
    pub fn reservations(&self) -> &[ReservationInfo] {
        &self.meta.proto.reservations
    }

    /// Copies held of a shared resource (1 for non-shared).
    pub fn shared_count(&self) -> i32 {
        self.shared_count
    }

    /// True when there is nothing of it.
    pub fn is_empty(&self) -> bool {
        (self.is_shared() && self.shared_count == 0) || self.value.is_empty()
    }

    /// True if reserved (to any role).
    pub fn is_reserved(&self) -> bool {
        !self.meta.proto.reservations.is_empty()
    }

    /// True if reserved to exactly `role` (the innermost reservation).
    pub fn is_reserved_to(&self, role: &str) -> bool {
        self.reservation_role() == Some(role)
    }

    /// True if unreserved.
    pub fn is_unreserved(&self) -> bool {
        self.meta.proto.reservations.is_empty()
    }

    /// The role of the innermost reservation, if reserved.
    pub fn reservation_role(&self) -> Option<&str> {
        self.meta.proto.reservations.last().map(|r| r.role.as_deref().unwrap_or(""))
    }

    /// True if the innermost reservation is dynamic.
    pub fn is_dynamically_reserved(&self) -> bool {
        self.meta.proto.reservations.last().is_some_and(|r| r.r#type() == ReservationType::Dynamic)
    }

    /// True if more than one reservation is stacked.
    pub fn has_refined_reservations(&self) -> bool {
        self.meta.proto.reservations.len() > 1
    }

    /// True if a framework in `role` may be offered this entry: unreserved, or
    /// reserved to `role` or to one of its ancestors.
    pub fn is_allocatable_to(&self, role: &str) -> bool {
        match self.reservation_role() {
            None => true,
            Some(r) => role == r || roles::is_strict_subrole_of(role, r),
        }
    }

    /// True if reserved to `role` or one of its descendants.
    pub fn is_reserved_to_role_subtree(&self, role: &str) -> bool {
        self.reservation_role().is_some_and(|r| roles::is_in_subtree(r, role))
    }

    /// True if allocated to `role` or one of its descendants.
    pub fn is_allocated_to_role_subtree(&self, role: &str) -> bool {
        roles::is_in_subtree(self.allocation.as_deref().unwrap_or(""), role)
    }

    /// True for persistent volumes.
    pub fn is_persistent_volume(&self) -> bool {
        self.meta.persistent
    }

    /// True if the disk source is of `kind`.
    pub fn is_disk(&self, kind: SourceType) -> bool {
        disk_source(&self.meta.proto).is_some_and(|s| s.r#type() == kind)
    }

    /// True for revocable resources.
    pub fn is_revocable(&self) -> bool {
        self.meta.proto.revocable.is_some()
    }

    /// True for shared resources.
    pub fn is_shared(&self) -> bool {
        self.meta.proto.shared.is_some()
    }

    /// True if a resource provider (not the agent itself) offers it.
    pub fn has_resource_provider(&self) -> bool {
        self.meta.proto.provider_id.is_some()
    }

    /// Same resource apart from the amount: name, type, allocation,
    /// reservations, disk identity, revocable, provider, shared.
    pub fn same_identity(&self, other: &Item) -> bool {
        same_allocation(&self.allocation, &other.allocation)
            && (Arc::ptr_eq(&self.meta, &other.meta)
                || (self.meta.key == other.meta.key && same_metadata(&self.meta.proto, &other.meta.proto)))
    }

    /// Mesos's `Resource ==`: same identity and same amount.
    pub fn same_resource(&self, other: &Item) -> bool {
        self.same_identity(other) && self.value == other.value
    }

    /// Can `other` be merged into `self` as one entry?
    pub(crate) fn addable(&self, other: &Item) -> bool {
        if self.is_shared() != other.is_shared() {
            return false;
        }
        if self.is_shared() {
            return self.same_resource(other);
        }
        self.same_identity(other) && self.meta.disk != DiskClass::Exclusive && !self.meta.persistent
    }

    /// Can `other` be taken out of `self`? Exclusive disks and persistent
    /// volumes only come out whole.
    pub(crate) fn subtractable(&self, other: &Item) -> bool {
        if self.is_shared() != other.is_shared() {
            return false;
        }
        if self.is_shared() {
            return self.same_resource(other);
        }
        if !self.same_identity(other) {
            return false;
        }
        if self.meta.disk == DiskClass::Exclusive || self.meta.persistent {
            return self.value == other.value;
        }
        true
    }

    /// Does this single entry hold all of `other`?
    pub(crate) fn contains(&self, other: &Item) -> bool {
        if self.is_shared() != other.is_shared() {
            return false;
        }
        if self.is_shared() {
            return self.shared_count >= other.shared_count && self.same_resource(other);
        }
        self.subtractable(other) && self.value.contains(&other.value)
    }

    /// Merges `other` in; callers checked [`Item::addable`].
    pub(crate) fn merge(&mut self, other: &Item) {
        if self.is_shared() {
            self.shared_count += other.shared_count;
        } else {
            self.value.add(&other.value);
        }
    }

    /// Takes `other` out; callers checked [`Item::subtractable`]. Returns true
    /// if the entry became empty or negative and must be dropped.
    pub(crate) fn take(&mut self, other: &Item) -> bool {
        if self.is_shared() {
            self.shared_count -= other.shared_count;
            return self.shared_count <= 0;
        }
        self.value.subtract(&other.value);
        matches!(self.value, Value::Scalar(s) if s.is_negative()) || self.value.is_empty()
    }
}

pub(crate) fn disk_source(r: &Resource) -> Option<&Source> {
    r.disk.as_ref().and_then(|d| d.source.as_ref())
}

/// Mesos's `compareResourceMetadata` minus the allocation (compared apart):
/// name, type, reservation stack, disk, revocable, provider, shared.
pub(crate) fn same_metadata(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.r#type == b.r#type
        && a.reservations.len() == b.reservations.len()
        && a.reservations.iter().zip(&b.reservations).all(|(x, y)| same_reservation(x, y))
        && match (&a.disk, &b.disk) {
            (None, None) => true,
            (Some(x), Some(y)) => same_disk(x, y),
            _ => false,
        }
        && a.revocable.is_some() == b.revocable.is_some()
        && a.provider_id == b.provider_id
        && a.shared.is_some() == b.shared.is_some()
}

/// `ReservationInfo ==`: type, role, principal, labels.
pub fn same_reservation(a: &ReservationInfo, b: &ReservationInfo) -> bool {
    a.r#type() == b.r#type()
        && a.role() == b.role()
        && a.principal == b.principal
        && match (&a.labels, &b.labels) {
            (None, None) => true,
            (Some(x), Some(y)) => same_labels(x, y),
            _ => false,
        }
}

/// `DiskInfo ==`: source and persistence id; `volume` is how a task uses the
/// disk, not what the disk is, so it is ignored.
fn same_disk(a: &DiskInfo, b: &DiskInfo) -> bool {
    let source = match (&a.source, &b.source) {
        (None, None) => true,
        (Some(x), Some(y)) => same_source(x, y),
        _ => false,
    };
    source
        && match (&a.persistence, &b.persistence) {
            (None, None) => true,
            (Some(x), Some(y)) => x.id == y.id,
            _ => false,
        }
}

fn same_source(a: &Source, b: &Source) -> bool {
    a.r#type == b.r#type
        && a.path.as_ref().map(|p| &p.root) == b.path.as_ref().map(|p| &p.root)
        && a.mount.as_ref().map(|m| &m.root) == b.mount.as_ref().map(|m| &m.root)
        && a.vendor == b.vendor
        && a.id == b.id
        && match (&a.metadata, &b.metadata) {
            (None, None) => true,
            (Some(x), Some(y)) => same_labels(x, y),
            _ => false,
        }
        && a.profile == b.profile
}

/// `Labels ==`: the same labels in any order. (Mesos checks only that each
/// left label appears on the right, which is not symmetric for repeated
/// labels; this compares them as multisets.)
pub fn same_labels(a: &Labels, b: &Labels) -> bool {
    if a.labels.len() != b.labels.len() {
        return false;
    }
    let key = |l: &Label| (l.key.clone(), l.value.clone().unwrap_or_default());
    let mut x: Vec<_> = a.labels.iter().map(key).collect();
    let mut y: Vec<_> = b.labels.iter().map(key).collect();
    x.sort();
    y.sort();
    x == y
}
