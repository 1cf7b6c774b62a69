//! Resource formats and printing.
//!
//! Mesos 1.x has two wire formats for reservations:
//! - *pre-reservation-refinement*: `Resource.role` (default `*`) and, for a
//!   dynamic reservation, `Resource.reservation` (principal, labels);
//! - *post-reservation-refinement*: `Resource.reservations`, a stack of
//!   `ReservationInfo { type, role, principal, labels }`.
//!
//! Everything inside mesos-rs uses the post format ("upgrade" on the way
//! in). Frameworks without the `RESERVATION_REFINEMENT` capability are sent
//! the pre format ("downgrade" on the way out), which cannot express refined
//! reservations. Endpoints write both at once (the "endpoint" format).
//!
//! The printing functions reproduce Mesos's `operator<<` for resources,
//! which shows up in error messages and logs:
//! `cpus(allocated: r1)(reservations: [(STATIC,r1)]):4; ports:[31000-32000]`.

use std::collections::HashMap;
use std::fmt;

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value as DynValue};

use super::item::Item;
use super::{ResourceError, Resources};
use crate::common::values::{Ranges, Scalar, Set};
use crate::proto::mesos::resource::disk_info::source::Type as SourceType;
use crate::proto::mesos::resource::disk_info::Source;
use crate::proto::mesos::resource::reservation_info::Type as ReservationType;
use crate::proto::mesos::resource::{DiskInfo, ReservationInfo};
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::volume::Mode as VolumeMode;
use crate::proto::mesos::{Labels, Resource, Volume};

/// The reservation format of a `Resource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceFormat {
    /// `role` + `reservation` only.
    PreReservationRefinement,
    /// `reservations` only.
    PostReservationRefinement,
    /// Both, for endpoints (single-reservation resources get `role` and
    /// `reservation` alongside `reservations`).
    Endpoint,
}

/// Converts one resource between formats. Converting a resource with refined
/// reservations to the pre format is refused (see [`downgrade_resource`]).
#[allow(deprecated)]
pub fn convert_resource_format(resource: &mut Resource, format: ResourceFormat) -> Result<(), ResourceError> {
    match format {
        ResourceFormat::PreReservationRefinement | ResourceFormat::Endpoint => match resource.reservations.len() {
            0 => resource.role = Some("*".to_string()),
            1 => {
                let source = resource.reservations[0].clone();
                if source.r#type() == ReservationType::Dynamic {
                    resource.reservation = Some(ReservationInfo {
                        principal: source.principal.clone(),
                        labels: source.labels.clone(),
                        ..Default::default()
                    });
                }
                resource.role = source.role.clone().or_else(|| Some(String::new()));
                if format == ResourceFormat::PreReservationRefinement {
                    resource.reservations.clear();
                }
            }
            _ => {
                if format == ResourceFormat::PreReservationRefinement {
                    return Err(ResourceError::new("Cannot downgrade resources containing refined reservations"));
                }
            }
        },
        ResourceFormat::PostReservationRefinement => {
            if !resource.reservations.is_empty() {
                // Already post (or endpoint): drop the legacy fields.
                resource.role = None;
                resource.reservation = None;
                return Ok(());
            }
            let role = resource.role.take().unwrap_or_else(|| "*".to_string());
            if role == "*" {
                resource.reservation = None;
                return Ok(());
            }
            let reservation = match resource.reservation.take() {
                None => ReservationInfo {
                    r#type: Some(ReservationType::Static as i32),
                    role: Some(role),
                    ..Default::default()
                },
                Some(legacy) => {
                    ReservationInfo { r#type: Some(ReservationType::Dynamic as i32), role: Some(role), ..legacy }
                }
            };
            resource.reservations.push(reservation);
        }
    }
    Ok(())
}

/// To the post-refinement format (`upgradeResource`).
pub fn upgrade_resource(resource: &mut Resource) {
    // Converting to the post format cannot fail.
    let _ = convert_resource_format(resource, ResourceFormat::PostReservationRefinement);
}

/// Upgrades every resource of a list.
pub fn upgrade_resources(resources: &mut [Resource]) {
    resources.iter_mut().for_each(upgrade_resource);
}

/// To the pre-refinement format, for frameworks without
/// `RESERVATION_REFINEMENT` (`downgradeResource`).
pub fn downgrade_resource(resource: &mut Resource) -> Result<(), ResourceError> {
    convert_resource_format(resource, ResourceFormat::PreReservationRefinement)
}

/// Downgrades every resource of a list; stops at the first refusal.
pub fn downgrade_resources(resources: &mut [Resource]) -> Result<(), ResourceError> {
    resources.iter_mut().try_for_each(downgrade_resource)
}

/// Upgrades every `Resource` anywhere inside a message (task infos,
/// executor infos, operations, ...), as Mesos's `upgradeResources(Message*)`.
pub fn upgrade_message<M: ReflectMessage + Default>(message: &mut M) {
    // Upgrading never fails.
    let _ = convert_message(message, &|r| {
        upgrade_resource(r);
        Ok(())
    });
}

/// Downgrades every `Resource` anywhere inside a message. On error the
/// message may be partly converted (as in Mesos); callers drop it.
pub fn downgrade_message<M: ReflectMessage + Default>(message: &mut M) -> Result<(), ResourceError> {
    convert_message(message, &downgrade_resource)
}

type Convert<'a> = &'a dyn Fn(&mut Resource) -> Result<(), ResourceError>;

fn convert_message<M: ReflectMessage + Default>(message: &mut M, convert: Convert<'_>) -> Result<(), ResourceError> {
    let descriptor = message.descriptor();
    let mut memo = HashMap::new();
    if !contains_resource(&descriptor, &mut memo) {
        return Ok(());
    }
    let mut dynamic = message.transcode_to_dynamic();
    let result = convert_dynamic(&mut dynamic, convert, &mut memo);
    // Transcoding between the same descriptor cannot fail.
    if let Ok(m) = dynamic.transcode_to::<M>() {
        *message = m;
    }
    result
}

fn is_resource(descriptor: &MessageDescriptor) -> bool {
    matches!(descriptor.full_name(), "mesos.Resource" | "mesos.v1.Resource")
}

fn contains_resource(descriptor: &MessageDescriptor, memo: &mut HashMap<String, bool>) -> bool {
    if let Some(&known) = memo.get(descriptor.full_name()) {
        return known;
    }
    if is_resource(descriptor) {
        memo.insert(descriptor.full_name().to_string(), true);
        return true;
    }
    // Recursive types: assume "no" while visiting.
    memo.insert(descriptor.full_name().to_string(), false);
    let found = descriptor.fields().any(|f| match f.kind() {
        Kind::Message(m) => contains_resource(&m, memo),
        _ => false,
    });
    memo.insert(descriptor.full_name().to_string(), found);
    found
}

fn convert_dynamic(
    message: &mut DynamicMessage,
    convert: Convert<'_>,
    memo: &mut HashMap<String, bool>,
) -> Result<(), ResourceError> {
    let descriptor = message.descriptor();
    if is_resource(&descriptor) {
        // v0 and v1 `Resource` are wire-identical.
        let mut r: Resource = match message.transcode_to::<Resource>() {
            Ok(r) => r,
            Err(_) => {
                let bytes = prost::Message::encode_to_vec(message);
                <Resource as prost::Message>::decode(bytes.as_slice()).unwrap_or_default()
            }
        };
        convert(&mut r)?;
        let bytes = prost::Message::encode_to_vec(&r);
        if let Ok(replaced) = DynamicMessage::decode(descriptor, bytes.as_slice()) {
            *message = replaced;
        }
        return Ok(());
    }
    for field in descriptor.fields() {
        let Kind::Message(sub) = field.kind() else { continue };
        if !contains_resource(&sub, memo) || !message.has_field(&field) {
            continue;
        }
        match message.get_field_mut(&field) {
            DynValue::Message(m) => convert_dynamic(m, convert, memo)?,
            DynValue::List(items) => {
                for item in items {
                    if let DynValue::Message(m) = item {
                        convert_dynamic(m, convert, memo)?;
                    }
                }
            }
            DynValue::Map(entries) => {
                for value in entries.values_mut() {
                    if let DynValue::Message(m) = value {
                        convert_dynamic(m, convert, memo)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Printing, as Mesos's operator<<.

/// `{k1: v1, k2}`.
pub fn display_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .labels
        .iter()
        .map(|l| match &l.value {
            Some(v) => format!("{}: {}", l.key, v),
            None => l.key.clone(),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// `STATIC,role1` or `DYNAMIC,role1,principal,{labels}`.
pub fn display_reservation(r: &ReservationInfo) -> String {
    let mut s = format!("{},{}", r.r#type().as_str_name(), r.role());
    if let Some(p) = &r.principal {
        s.push(',');
        s.push_str(p);
    }
    if let Some(l) = &r.labels {
        s.push(',');
        s.push_str(&display_labels(l));
    }
    s
}

/// `MOUNT:/mnt/a`, `PATH`, `RAW(vendor,id,profile)`...
pub fn display_source(source: &Source) -> String {
    let csi = (source.id.is_some() || source.profile.is_some())
        .then(|| format!("({},{},{})", source.vendor(), source.id(), source.profile()));
    let root = |root: Option<&String>| root.map(|r| format!(":{r}")).unwrap_or_default();
    match SourceType::try_from(source.r#type).unwrap_or(SourceType::Unknown) {
        SourceType::Mount => {
            format!("MOUNT{}", csi.unwrap_or_else(|| root(source.mount.as_ref().and_then(|m| m.root.as_ref()))))
        }
        SourceType::Path => {
            format!("PATH{}", csi.unwrap_or_else(|| root(source.path.as_ref().and_then(|p| p.root.as_ref()))))
        }
        SourceType::Block => format!("BLOCK{}", csi.unwrap_or_default()),
        SourceType::Raw => format!("RAW{}", csi.unwrap_or_default()),
        SourceType::Unknown => "UNKNOWN".to_string(),
    }
}

/// `host:container:rw` or `container`.
pub fn display_volume(volume: &Volume) -> String {
    match &volume.host_path {
        Some(host) => {
            let mode = if volume.mode() == VolumeMode::Ro { "ro" } else { "rw" };
            format!("{host}:{}:{mode}", volume.container_path)
        }
        None => volume.container_path.clone(),
    }
}

fn display_disk(disk: &DiskInfo) -> String {
    let mut s = String::new();
    if let Some(source) = &disk.source {
        s.push_str(&display_source(source));
    }
    if let Some(p) = &disk.persistence {
        if disk.source.is_some() {
            s.push(',');
        }
        s.push_str(&p.id);
    }
    if let Some(v) = &disk.volume {
        s.push(':');
        s.push_str(&display_volume(v));
    }
    s
}

/// The metadata prefix shared by protobufs and entries: everything up to
/// (not including) the `:` before the value.
fn write_prefix(f: &mut impl fmt::Write, r: &Resource, allocation: Option<&str>) -> fmt::Result {
    f.write_str(&r.name)?;
    if let Some(role) = allocation {
        write!(f, "(allocated: {role})")?;
    }
    if !r.reservations.is_empty() {
        let parts: Vec<String> = r.reservations.iter().map(|x| format!("({})", display_reservation(x))).collect();
        write!(f, "(reservations: [{}])", parts.join(","))?;
    }
    if let Some(d) = &r.disk {
        write!(f, "[{}]", display_disk(d))?;
    }
    if r.revocable.is_some() {
        f.write_str("{REV}")?;
    }
    if r.shared.is_some() {
        f.write_str("<SHARED>")?;
    }
    Ok(())
}

/// A protobuf `Resource` as Mesos prints it (any format; the legacy `role`
/// field is not shown, as in Mesos).
pub fn display_proto(r: &Resource) -> String {
    let mut s = String::new();
    let allocation = r.allocation_info.as_ref().map(|a| a.role());
    let _ = write_prefix(&mut s, r, allocation);
    s.push(':');
    match ValueType::try_from(r.r#type) {
        Ok(ValueType::Scalar) => s.push_str(&Scalar::from_f64(r.scalar.as_ref().map_or(0.0, |x| x.value)).to_string()),
        Ok(ValueType::Ranges) => {
            let ranges = r.ranges.as_ref().map(Ranges::from_proto).unwrap_or_default();
            s.push_str(&ranges.to_string())
        }
        Ok(ValueType::Set) => s.push_str(&r.set.as_ref().map(Set::from_proto).unwrap_or_default().to_string()),
        _ => {}
    }
    s
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_prefix(f, self.meta(), self.allocation_role())?;
        f.write_str(":")?;
        match self.value() {
            super::Value::Scalar(s) => write!(f, "{s}")?,
            super::Value::Ranges(r) => write!(f, "{r}")?,
            super::Value::Set(s) => write!(f, "{s}")?,
        }
        if self.is_shared() {
            write!(f, "<{}>", self.shared_count())?;
        }
        Ok(())
    }
}

impl fmt::Display for Resources {
    /// Entries separated by `; `, or `{}` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}
