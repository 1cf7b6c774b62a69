//! Resource validation: Mesos's `Resources::validate` (is this protobuf a
//! well-formed resource?) and the master's stricter resource checks
//! (`master::validation::resource`) that every offer operation starts with.

use std::collections::{BTreeMap, BTreeSet};

use super::format::display_proto;
use super::Resources;
use crate::common::roles;
use crate::proto::mesos::resource::disk_info::source::Type as SourceType;
use crate::proto::mesos::resource::reservation_info::Type as ReservationType;
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::volume::Mode as VolumeMode;
use crate::proto::mesos::Resource;

/// Why a resource is refused. The text is Mesos's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResourceError(pub String);

impl ResourceError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> ResourceError {
        ResourceError(message.into())
    }

    /// Prefixes the message (`"Invalid resources: " + message`).
    pub fn context(self, prefix: &str) -> ResourceError {
        ResourceError(format!("{prefix}{}", self.0))
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, ResourceError> {
    Err(ResourceError(message.into()))
}

/// Mesos's `Resources::validate(const Resource&)`: a name, a supported type
/// with its value (non-negative scalar, non-inverted non-overlapping ranges,
/// duplicate-free set), a consistent disk, a well-formed reservation in either
/// the pre- or the post-refinement format, and sharing only for persistent
/// volumes.
pub fn validate(resource: &Resource) -> Result<(), ResourceError> {
    if resource.name.is_empty() {
        return err("Empty resource name");
    }
    let Ok(kind) = ValueType::try_from(resource.r#type) else {
        return err("Invalid resource type");
    };
    let (scalar, ranges, set) = (resource.scalar.is_some(), resource.ranges.is_some(), resource.set.is_some());
    match kind {
        ValueType::Scalar => {
            if !scalar || ranges || set {
                return err("Invalid scalar resource");
            }
            let v = resource.scalar.as_ref().map_or(0.0, |s| s.value);
            // Negative values, and non-zero ones that round to zero or below.
            if v != 0.0 && crate::common::values::Scalar::from_f64(v).milli() <= 0 {
                return err("Invalid scalar resource: value <= 0");
            }
        }
        ValueType::Ranges => {
            if scalar || !ranges || set {
                return err("Invalid ranges resource");
            }
            let list = &resource.ranges.as_ref().map_or(&[][..], |r| &r.range[..]);
            for (i, r) in list.iter().enumerate() {
                if r.begin > r.end {
                    return err("Invalid ranges resource: begin > end");
                }
                // The same (partial) overlap check as Mesos: a later range may
                // not start inside an earlier one.
                for later in &list[i + 1..] {
                    if r.begin <= later.begin && later.begin <= r.end {
                        return err("Invalid ranges resource: overlapping ranges");
                    }
                }
            }
        }
        ValueType::Set => {
            if scalar || ranges || !set {
                return err("Invalid set resource");
            }
            let items = &resource.set.as_ref().map_or(&[][..], |s| &s.item[..]);
            for (i, item) in items.iter().enumerate() {
                if items[i + 1..].contains(item) {
                    return err("Invalid set resource: duplicated elements");
                }
            }
        }
        ValueType::Text => return err("Unsupported resource type"),
    }

    if let Some(disk) = &resource.disk {
        if resource.name != "disk" {
            return err(format!("DiskInfo should not be set for {} resource", resource.name));
        }
        if let Some(source) = &disk.source {
            match SourceType::try_from(source.r#type).unwrap_or(SourceType::Unknown) {
                SourceType::Path | SourceType::Mount => {}
                t @ (SourceType::Block | SourceType::Raw) => {
                    if source.mount.is_some() {
                        return err(format!("Mount should not be set for {} disk source", t.as_str_name()));
                    }
                    if source.path.is_some() {
                        return err(format!("Path should not be set for {} disk source", t.as_str_name()));
                    }
                }
                SourceType::Unknown => {
                    return err(format!(
                        "Unsupported 'DiskInfo.Source.Type' in '{}'",
                        super::format::display_source(source)
                    ))
                }
            }
        }
    }

    validate_reservation_format(resource)?;

    if resource.shared.is_some() {
        if resource.name != "disk" {
            return err(format!("Resource {} cannot be shared", resource.name));
        }
        if resource.disk.as_ref().is_none_or(|d| d.persistence.is_none()) {
            return err("Only persistent volumes can be shared");
        }
    }
    Ok(())
}

#[allow(deprecated)]
fn legacy_role(resource: &Resource) -> Option<&str> {
    resource.role.as_deref()
}

fn validate_reservation_format(resource: &Resource) -> Result<(), ResourceError> {
    let role_field = legacy_role(resource);
    if resource.reservations.is_empty() {
        // Pre-refinement format: `role` (default "*") and `reservation`.
        let role = role_field.unwrap_or("*");
        roles::validate(role).map_err(|e| ResourceError(e.0))?;
        if let Some(reservation) = &resource.reservation {
            if reservation.r#type.is_some() {
                return err("'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field");
            }
            if reservation.role.is_some() {
                return err("'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field");
            }
            if role == "*" {
                return err("Invalid reservation: role \"*\" cannot be dynamically reserved");
            }
        }
        return Ok(());
    }

    for reservation in &resource.reservations {
        if reservation.r#type.is_none() {
            return err("Invalid reservation: 'Resource.ReservationInfo.type' field must be set.");
        }
        let Some(role) = &reservation.role else {
            return err("Invalid reservation: 'Resource.ReservationInfo.role' field must be set.");
        };
        roles::validate(role).map_err(|e| ResourceError(e.0))?;
        if role == "*" {
            return err("Invalid reservation: role \"*\" cannot be reserved");
        }
    }

    let mut ancestor = resource.reservations[0].role();
    for reservation in &resource.reservations[1..] {
        if reservation.r#type() == ReservationType::Static {
            return err("Invalid refined reservation: A refined reservation cannot be STATIC");
        }
        let descendant = reservation.role();
        if !roles::is_strict_subrole_of(descendant, ancestor) {
            return err(format!(
                "Invalid refined reservation: role '{descendant}' is not a refinement of '{ancestor}'"
            ));
        }
        ancestor = descendant;
    }

    if let [reservation] = resource.reservations.as_slice() {
        // The "endpoint" format: both formats at once, consistently.
        if let Some(role) = role_field {
            if role != reservation.role() {
                return err(format!(
                    "Invalid resource format: 'Resource.role' field with '{role}' does not match the role '{}' in 'Resource.reservations'",
                    reservation.role()
                ));
            }
        }
        match reservation.r#type() {
            ReservationType::Static => {
                if resource.reservation.is_some() {
                    return err("Invalid resource format: 'Resource.reservation' must not be set if the single reservation in 'Resource.reservations' is STATIC");
                }
            }
            ReservationType::Dynamic => {
                if role_field.is_some() != resource.reservation.is_some() {
                    return err("Invalid resource format: 'Resource.role' and 'Resource.reservation' must either be both set or both not set if the single reservation in 'Resource.reservations' is DYNAMIC");
                }
                if let Some(legacy) = &resource.reservation {
                    if legacy.principal() != reservation.principal() {
                        return err(format!(
                            "Invalid resource format: 'Resource.reservation.principal' field with '{}' does not match the principal '{}' in 'Resource.reservations'",
                            legacy.principal(),
                            reservation.principal()
                        ));
                    }
                    let (a, b) =
                        (legacy.labels.clone().unwrap_or_default(), reservation.labels.clone().unwrap_or_default());
                    if !super::item::same_labels(&a, &b) {
                        return err(format!(
                            "Invalid resource format: 'Resource.reservation.labels' field with '{}' does not match the labels '{}' in 'Resource.reservations'",
                            super::format::display_labels(&a),
                            super::format::display_labels(&b)
                        ));
                    }
                }
            }
            ReservationType::Unknown => return err("Unsupported 'Resource.ReservationInfo.Type'"),
        }
    } else {
        if role_field.is_some() {
            return err("Invalid resource format: 'Resource.role' must not be set if there is more than one reservation in 'Resource.reservations'");
        }
        if resource.reservation.is_some() {
            return err("Invalid resource format: 'Resource.reservation' must not be set if there is more than one reservation in 'Resource.reservations'");
        }
    }
    Ok(())
}

/// Validates one entry of a list, naming it in the error as Mesos's
/// `Resources::validate(RepeatedPtrField)` does.
pub(crate) fn validate_in_list(resource: &Resource) -> Result<(), ResourceError> {
    validate(resource).map_err(|e| ResourceError(format!("Resource '{}' is invalid: {}", display_proto(resource), e.0)))
}

/// Validates a list; the first invalid entry is reported by name.
pub fn validate_all(resources: &[Resource]) -> Result<(), ResourceError> {
    resources.iter().try_for_each(validate_in_list)
}

/// Mesos's `validateID` for persistence ids (and other ids).
pub fn validate_id(id: &str) -> Result<(), ResourceError> {
    const NAME_MAX: usize = 255;
    if id.is_empty() {
        return err("ID must not be empty");
    }
    if id.len() > NAME_MAX {
        return err(format!("ID must not be greater than {NAME_MAX} characters"));
    }
    if id == "." || id == ".." {
        return err(format!("'{id}' is disallowed"));
    }
    if id.bytes().any(|c| c.is_ascii_control() || c == b'/' || c == b'\\') {
        return err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// The master's first check on resources in tasks, executors and operations
/// (`master::validation::resource::validate`).
pub fn validate_for_master(resources: &[Resource]) -> Result<(), ResourceError> {
    validate_all(resources).map_err(|e| e.context("Invalid resources: "))?;
    validate_gpus(resources).map_err(|e| e.context("Invalid 'gpus' resource: "))?;
    validate_disk_info(resources).map_err(|e| e.context("Invalid DiskInfo: "))?;
    validate_dynamic_reservation_info(resources).map_err(|e| e.context("Invalid ReservationInfo: "))
}

/// GPUs come in whole units.
pub fn validate_gpus(resources: &[Resource]) -> Result<(), ResourceError> {
    let gpus = Resources::from_protos(resources).gpus().unwrap_or(0.0);
    if ((gpus * 1000.0) as i64) % 1000 != 0 {
        return err("The 'gpus' resource must be an unsigned integer");
    }
    Ok(())
}

/// Disk info must describe a persistent volume made from reserved,
/// non-revocable disk, or a disk source.
pub fn validate_disk_info(resources: &[Resource]) -> Result<(), ResourceError> {
    for r in resources {
        let Some(disk) = &r.disk else { continue };
        if let Some(persistence) = &disk.persistence {
            if r.revocable.is_some() {
                return err("Persistent volumes cannot be created from revocable resources");
            }
            if is_unreserved_proto(r) {
                return err("Persistent volumes cannot be created from unreserved resources");
            }
            let Some(volume) = &disk.volume else {
                return err("Expecting 'volume' to be set for persistent volume");
            };
            if volume.host_path.is_some() {
                return err("Expecting 'host_path' to be unset for persistent volume");
            }
            validate_id(&persistence.id).map_err(|e| e.context("Invalid persistence ID for persistent volume: "))?;
        } else if disk.volume.is_some() {
            return err("Non-persistent volume not supported");
        } else if disk.source.is_none() {
            return err("DiskInfo is set but empty");
        }
    }
    Ok(())
}

fn is_unreserved_proto(r: &Resource) -> bool {
    r.reservations.is_empty() && legacy_role(r).unwrap_or("*") == "*"
}

fn is_dynamically_reserved_proto(r: &Resource) -> bool {
    match r.reservations.last() {
        Some(last) => last.r#type() == ReservationType::Dynamic,
        None => r.reservation.is_some(),
    }
}

/// Dynamic reservations cannot be made of revocable resources.
pub fn validate_dynamic_reservation_info(resources: &[Resource]) -> Result<(), ResourceError> {
    for r in resources {
        if is_dynamically_reserved_proto(r) && r.revocable.is_some() {
            return err(format!(
                "Dynamically reserved resource {} cannot be created from revocable resources",
                display_proto(r)
            ));
        }
    }
    Ok(())
}

/// Persistence ids are unique per role on an agent.
pub fn validate_unique_persistence_id(resources: &Resources) -> Result<(), ResourceError> {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for volume in resources.persistent_volumes().iter() {
        let role = volume.reservation_role().unwrap_or("").to_string();
        let id = volume.meta().disk.as_ref().and_then(|d| d.persistence.as_ref()).map(|p| p.id.clone());
        let id = id.unwrap_or_default();
        if !seen.entry(role).or_default().insert(id.clone()) {
            return err(format!("Persistence ID '{id}' is not unique"));
        }
    }
    Ok(())
}

/// A resource name is used either revocably or not, never both at once.
pub fn validate_revocable_and_non_revocable(resources: &Resources) -> Result<(), ResourceError> {
    for name in resources.names() {
        let named = resources.get(&name);
        let revocable = named.revocable();
        if !revocable.is_empty() && named != revocable {
            return err(format!("Cannot use both revocable and non-revocable '{name}' at the same time"));
        }
    }
    Ok(())
}

/// Every resource is a persistent volume (CREATE, DESTROY).
pub fn validate_persistent_volume(volumes: &[Resource]) -> Result<(), ResourceError> {
    for volume in volumes {
        let Some(disk) = &volume.disk else {
            return err(format!("Resource {} does not have DiskInfo", display_proto(volume)));
        };
        if disk.persistence.is_none() {
            return err("'persistence' is not set in DiskInfo");
        }
        let Some(v) = &disk.volume else {
            return err("Expecting 'volume' to be set for persistent volume");
        };
        if v.mode() == VolumeMode::Ro {
            return err("Read-only persistent volume not supported");
        }
    }
    Ok(())
}

/// All resources are allocated, and to one role.
pub fn validate_allocated_to_single_role(resources: &Resources) -> Result<(), ResourceError> {
    let mut role: Option<&str> = None;
    for item in resources {
        let Some(r) = item.allocation_role().filter(|r| !r.is_empty()) else {
            return err("The resources are not allocated to a role");
        };
        match role {
            None => role = Some(r),
            Some(first) if first != r => {
                return err(format!(
                    "The resources have multiple allocation roles ('{r}' and '{first}') but only one allocation role is allowed"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// All resources come from the same provider (or all from the agent).
pub fn validate_single_resource_provider(resources: &[Resource]) -> Result<(), ResourceError> {
    let ids: BTreeSet<Option<&str>> =
        resources.iter().map(|r| r.provider_id.as_ref().map(|p| p.value.as_str())).collect();
    if ids.len() > 1 {
        if ids.contains(&None) {
            return err("Some resources have a resource provider and some do not");
        }
        let ids: Vec<&str> = ids.into_iter().flatten().collect();
        return err(format!("The resources have multiple resource providers: {}", ids.join(", ")));
    }
    Ok(())
}

/// True if ranges or sets overlap between the given collections (their
/// quantities do not add up once they are summed).
pub fn detect_overlapping_set_and_range_resources(resources: &[Resources]) -> bool {
    use crate::common::resource_quantities::ResourceQuantities;
    let mut total_quantities = ResourceQuantities::new();
    let mut total = Resources::new();
    for r in resources {
        total_quantities += &ResourceQuantities::from_resources(r);
        total += r;
    }
    total_quantities != ResourceQuantities::from_resources(&total)
}
