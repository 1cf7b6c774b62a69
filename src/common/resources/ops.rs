//! Resource conversions: what offer operations do to resources.
//!
//! An operation becomes a list of [`ResourceConversion`]s, each taking some
//! resources out (`consumed`) and putting others back (`converted`):
//! - RESERVE: the unreserved (or less reserved) resources become reserved
//!   (one more reservation pushed);
//! - UNRESERVE: the innermost reservation is popped;
//! - CREATE: plain disk becomes a persistent volume;
//! - DESTROY: a persistent volume becomes plain disk again (refused while
//!   other copies of a shared volume remain);
//! - GROW_VOLUME / SHRINK_VOLUME: a volume absorbs or releases disk.
//!
//! LAUNCH and LAUNCH_GROUP do not convert resources; CREATE_DISK and
//! DESTROY_DISK need a resource provider and are not supported (as in Mesos's
//! `getResourceConversions`).

use rand::seq::SliceRandom;
use rand::Rng;

use super::item::{disk_source, Item, Value};
use super::{item_from_proto, validate, ResourceError, Resources};
use crate::common::resource_quantities::{ResourceLimits, ResourceQuantities};
use crate::common::values::Scalar;
use crate::proto::mesos::offer::operation::Type as OperationType;
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::resource::reservation_info::Type as ReservationType;
use crate::proto::mesos::Resource;

/// Why a conversion or an operation could not be applied. The text follows
/// Mesos's messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConversionError(pub String);

/// A check run on the result of a conversion.
#[derive(Clone, Debug)]
pub enum PostValidation {
    /// DESTROY of a shared volume: no copy of the volume may remain.
    NoCopiesLeft(Item),
}

/// Take `consumed` out, put `converted` in.
#[derive(Clone, Debug)]
pub struct ResourceConversion {
    /// What the operation uses up.
    pub consumed: Resources,
    /// What it produces.
    pub converted: Resources,
    /// A check on the result, if any.
    pub post_validation: Option<PostValidation>,
}

impl ResourceConversion {
    /// A conversion without a post-check.
    pub fn new(consumed: Resources, converted: Resources) -> ResourceConversion {
        ResourceConversion { consumed, converted, post_validation: None }
    }

    /// Applies the conversion to `resources`.
    pub fn apply(&self, resources: &Resources) -> Result<Resources, ConversionError> {
        if !resources.contains(&self.consumed) {
            return Err(ConversionError(format!("{resources} does not contain {}", self.consumed)));
        }
        let mut result = resources - &self.consumed;
        result += &self.converted;
        if let Some(PostValidation::NoCopiesLeft(volume)) = &self.post_validation {
            if result.contains_item(volume) {
                return Err(ConversionError(format!(
                    "Persistent volume {volume} cannot be removed due to additional shared copies"
                )));
            }
        }
        Ok(result)
    }

    /// The same conversion with allocation information removed from both
    /// sides (to apply it to an agent's unallocated total).
    pub fn unallocated(&self) -> ResourceConversion {
        let mut c = self.clone();
        c.consumed.unallocate();
        c.converted.unallocate();
        c
    }
}

/// Drops the persistence and volume of a disk (or the whole disk info of a
/// root disk) and sharing: the plain disk a volume was made of.
pub fn strip_persistent_volume(volume: &Resource) -> Resource {
    let mut stripped = volume.clone();
    if disk_source(&stripped).is_some() {
        if let Some(disk) = stripped.disk.as_mut() {
            disk.persistence = None;
            disk.volume = None;
        }
    } else {
        stripped.disk = None;
    }
    stripped.shared = None;
    stripped
}

fn resources_of(protos: &[Resource]) -> Resources {
    Resources::from_protos(protos)
}

/// The conversions an operation performs (Mesos's `getResourceConversions`).
/// The operation's resources are assumed validated.
pub fn conversions(operation: &Operation) -> Result<Vec<ResourceConversion>, ConversionError> {
    let mut result = Vec::new();
    match operation.r#type() {
        OperationType::Unknown => return Err(ConversionError("Unknown operation".into())),
        OperationType::Launch | OperationType::LaunchGroup | OperationType::CreateDisk | OperationType::DestroyDisk => {
            return Err(ConversionError("Operation not supported".into()))
        }
        OperationType::Reserve => {
            let reserve = operation.reserve.clone().unwrap_or_default();
            let reserved = resources_of(&reserve.resources);
            let consumed =
                if reserve.source.is_empty() { reserved.pop_reservation() } else { resources_of(&reserve.source) };
            result.push(ResourceConversion::new(consumed, reserved));
        }
        OperationType::Unreserve => {
            for reserved in operation.unreserve.iter().flat_map(|u| &u.resources) {
                let reserved = Resources::from(reserved);
                let converted = reserved.pop_reservation();
                result.push(ResourceConversion::new(reserved, converted));
            }
        }
        OperationType::Create => {
            for volume in operation.create.iter().flat_map(|c| &c.volumes) {
                let stripped = strip_persistent_volume(volume);
                result.push(ResourceConversion::new(Resources::from(&stripped), Resources::from(volume)));
            }
        }
        OperationType::Destroy => {
            for volume in operation.destroy.iter().flat_map(|d| &d.volumes) {
                let stripped = strip_persistent_volume(volume);
                let mut conversion = ResourceConversion::new(Resources::from(volume), Resources::from(&stripped));
                conversion.post_validation = item_from_proto(volume).ok().map(PostValidation::NoCopiesLeft);
                result.push(conversion);
            }
        }
        OperationType::GrowVolume => {
            let grow = operation.grow_volume.clone().unwrap_or_default();
            if grow.volume.provider_id.is_some() {
                return Err(ConversionError("Operation not supported for resource provider".into()));
            }
            let mut converted = grow.volume.clone();
            let total = Scalar::from_f64(converted.scalar.as_ref().map_or(0.0, |s| s.value))
                + Scalar::from_f64(grow.addition.scalar.as_ref().map_or(0.0, |s| s.value));
            converted.scalar = Some(total.to_proto());
            let mut consumed = Resources::from(&grow.volume);
            consumed.add_proto(&grow.addition);
            result.push(ResourceConversion::new(consumed, Resources::from(&converted)));
        }
        OperationType::ShrinkVolume => {
            let shrink = operation.shrink_volume.clone().unwrap_or_default();
            if shrink.volume.provider_id.is_some() {
                return Err(ConversionError("Operation not supported for resource provider".into()));
            }
            let subtract = Scalar::from_proto(&shrink.subtract);
            let mut freed = strip_persistent_volume(&shrink.volume);
            freed.scalar = Some(subtract.to_proto());
            let mut shrunk = shrink.volume.clone();
            let size = Scalar::from_f64(shrunk.scalar.as_ref().map_or(0.0, |s| s.value));
            shrunk.scalar = Some((size - subtract).to_proto());
            let mut converted = Resources::from(&shrunk);
            converted.add_proto(&freed);
            result.push(ResourceConversion::new(Resources::from(&shrink.volume), converted));
        }
    }
    Ok(result)
}

impl Resources {
    /// Applies one conversion.
    pub fn apply(&self, conversion: &ResourceConversion) -> Result<Resources, ConversionError> {
        conversion.apply(self)
    }

    /// Applies conversions in order.
    pub fn apply_all(&self, conversions: &[ResourceConversion]) -> Result<Resources, ConversionError> {
        let mut result = self.clone();
        for c in conversions {
            result = c.apply(&result)?;
        }
        Ok(result)
    }

    /// Applies an offer operation (RESERVE, UNRESERVE, CREATE, DESTROY,
    /// GROW_VOLUME, SHRINK_VOLUME).
    pub fn apply_operation(&self, operation: &Operation) -> Result<Resources, ConversionError> {
        let conversions =
            conversions(operation).map_err(|e| ConversionError(format!("Cannot get conversions: {e}")))?;
        self.apply_all(&conversions)
    }

    /// Applies operations in order.
    pub fn apply_operations(&self, operations: &[Operation]) -> Result<Resources, ConversionError> {
        let mut result = self.clone();
        for op in operations {
            result = result.apply_operation(op)?;
        }
        Ok(result)
    }

    /// Finds resources with the same amounts as `targets`, preferring for
    /// each target its own reservation role, then unreserved, then any role
    /// (Mesos's `Resources::find`). `None` if some target cannot be met.
    pub fn find(&self, targets: &Resources) -> Option<Resources> {
        let mut total = Resources::new();
        for target in targets {
            total += &self.find_one(target)?;
        }
        Some(total)
    }

    fn find_one(&self, target: &Item) -> Option<Resources> {
        let mut found = Resources::new();
        let mut pool = self.clone();
        let mut remaining = Resources::from_item(target.clone()).to_unreserved();
        // First the target's own reservation role, then unreserved, then any.
        let role = target.reservation_role();
        let preferences = [role.is_some(), true, true];
        let matches = |pass: usize, i: &Item| match pass {
            0 => role.is_some_and(|r| i.is_reserved_to(r)),
            1 => i.is_unreserved(),
            _ => true,
        };
        for pass in (0..preferences.len()).filter(|&p| preferences[p]) {
            for candidate in pool.clone().filter(|i| matches(pass, i)).iter() {
                let unreserved = Resources::from_item(candidate.clone()).to_unreserved();
                if unreserved.contains(&remaining) {
                    for r in remaining.iter() {
                        let mut proto = r.meta().clone();
                        proto.reservations = candidate.reservations().to_vec();
                        found.add_item(r.with_meta(proto));
                    }
                    return Some(found);
                } else if remaining.contains(&unreserved) {
                    found.add_item_ref(candidate);
                    pool.subtract_item(candidate);
                    remaining -= &unreserved;
                    break;
                }
            }
        }
        None
    }
}

/// Shrinks a scalar entry to `target` if it is larger. Exclusive disks
/// (e.g. `MOUNT`) cannot be split: returns false and leaves them. Returns
/// true if the entry now fits.
pub fn shrink(item: &mut Item, target: Scalar) -> bool {
    let Value::Scalar(current) = item.value else { return false };
    if current <= target {
        return true;
    }
    let smaller = item.with_value(Value::Scalar(target));
    if item.meta().disk.is_some() && !item.contains(&smaller) {
        return false;
    }
    item.value = Value::Scalar(target);
    true
}

/// The most refined reservation stack two entries have in common.
pub fn reservation_ancestor(a: &Item, b: &Item) -> Item {
    let common =
        a.reservations().iter().zip(b.reservations()).take_while(|(x, y)| super::item::same_reservation(x, y)).count();
    let mut proto = a.meta().clone();
    proto.reservations.truncate(common);
    a.with_meta(proto)
}

/// Takes scalars out of `resources` (in random order) until the amount per
/// name reaches `target`; names absent from `target` are dropped
/// (Mesos's `shrinkResources(ResourceQuantities)`).
pub fn shrink_to_quantities<R: Rng + ?Sized>(
    resources: &Resources,
    target: &ResourceQuantities,
    rng: &mut R,
) -> Resources {
    if target.is_empty() {
        return Resources::new();
    }
    let mut target = target.clone();
    let mut items: Vec<Item> = resources.iter().cloned().collect();
    items.shuffle(rng);
    let mut result = Resources::new();
    for mut item in items {
        let wanted = target.get(item.name());
        if wanted.is_zero() {
            continue;
        }
        if shrink(&mut item, wanted) {
            target -= &ResourceQuantities::from_item(&item);
            result.add_item(item);
        }
    }
    result
}

/// Like [`shrink_to_quantities`] against limits: names without a limit are
/// kept whole (Mesos's `shrinkResources(ResourceLimits)`).
pub fn shrink_to_limits<R: Rng + ?Sized>(resources: &Resources, target: &ResourceLimits, rng: &mut R) -> Resources {
    if target.is_empty() {
        return resources.clone();
    }
    let mut target = target.clone();
    let mut items: Vec<Item> = resources.iter().cloned().collect();
    items.shuffle(rng);
    let mut result = Resources::new();
    for mut item in items {
        let Some(limit) = target.get(item.name()) else {
            result.add_item(item);
            continue;
        };
        if shrink(&mut item, limit) {
            target -= &ResourceQuantities::from_item(&item);
            result.add_item(item);
        }
    }
    result
}

/// True for resources an agent must checkpoint: dynamic reservations and
/// persistent volumes not owned by a resource provider.
pub fn needs_checkpointing(item: &Item) -> bool {
    !item.has_resource_provider() && (item.is_dynamically_reserved() || item.is_persistent_volume())
}

/// Applies an agent's checkpointed resources (dynamic reservations,
/// persistent volumes) to the resources it was started with.
pub fn apply_checkpointed_resources(
    resources: &Resources,
    checkpointed: &Resources,
) -> Result<Resources, ResourceError> {
    let mut total = resources.clone();
    for item in checkpointed {
        if !needs_checkpointing(item) {
            return Err(ResourceError::new(format!("Unexpected checkpointed resources {item}")));
        }
        let mut proto = item.to_proto();
        if item.is_dynamically_reserved() {
            // Only static reservations can be given on the agent's command line.
            let first = proto.reservations.first().cloned();
            proto.reservations.clear();
            if let Some(first) = first.filter(|f| f.r#type() == ReservationType::Static) {
                proto.reservations.push(first);
            }
        }
        if item.is_persistent_volume() {
            proto = strip_persistent_volume(&proto);
        }
        proto.shared = None;
        let stripped = Resources::from(&proto);
        if validate(&proto).is_err() || !total.contains(&stripped) {
            return Err(ResourceError::new(format!(
                "Incompatible agent resources: {total} does not contain {}",
                super::format::display_proto(&proto)
            )));
        }
        total -= &stripped;
        total.add_item_ref(item);
    }
    Ok(total)
}
