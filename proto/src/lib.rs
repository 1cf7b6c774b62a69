//! Apache Mesos 1.11's protobuf messages, compiled from `proto/mesos/**`.
//!
//! Module paths follow the protobuf packages: `mesos` (v0 public), `mesos::v1`,
//! `mesos::scheduler`, `mesos::v1::scheduler`, `mesos::internal` (libprocess
//! messages, registry), `mesos::internal::slave` (agent checkpoints), and so on.
//!
//! Every message implements [`prost::Message`] and [`prost_reflect::ReflectMessage`];
//! [`DESCRIPTOR_POOL`] holds the descriptors the types were generated from.
//!
//! prost turns proto2 `required` fields into plain fields: they are always encoded
//! and never checked on decode. Use [`missing_required`] where Mesos would reject a
//! message that lacks one.

#![allow(clippy::all, rustdoc::all, missing_docs)]

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage};

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// The serialized `FileDescriptorSet` of every shipped `.proto` file.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// The descriptors of every Mesos message we ship, decoded once.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("descriptor set built by build.rs")
});

/// Why bytes could not become a message, as protobuf's `ParseFromString` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid protobuf encoding of the message.
    Malformed(String),
    /// Well-formed but lacking required fields (dotted paths, e.g. `framework.user`).
    MissingRequired(Vec<String>),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed(e) => write!(f, "malformed protobuf: {e}"),
            DecodeError::MissingRequired(fields) => {
                write!(f, "missing required fields: {}", fields.join(", "))
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `bytes` as `M` the way C++ protobuf's `ParseFromString` does: a missing
/// required field (recursively) is an error, which plain prost decoding ignores.
pub fn decode_strict<M>(bytes: &[u8]) -> Result<M, DecodeError>
where
    M: prost::Message + ReflectMessage + Default,
{
    let desc = M::default().descriptor();
    let dynamic = DynamicMessage::decode(desc, bytes)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let missing = missing_required(&dynamic);
    if !missing.is_empty() {
        return Err(DecodeError::MissingRequired(missing));
    }
    M::decode(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Names (dotted paths from the message) of required fields that are unset in a
/// dynamic message, recursively, as protobuf's `InitializationErrorString` lists them.
/// Only meaningful for a message decoded from bytes or built dynamically: typed
/// prost messages always "have" their required fields.
pub fn missing_required(msg: &DynamicMessage) -> Vec<String> {
    let mut out = Vec::new();
    walk_required(msg, "", &mut out);
    out
}

fn walk_required(msg: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    use prost_reflect::{Cardinality, Kind, Value};
    for field in msg.descriptor().fields() {
        let name = format!("{prefix}{}", field.name());
        if field.cardinality() == Cardinality::Required && !msg.has_field(&field) {
            out.push(name.clone());
        }
        if !matches!(field.kind(), Kind::Message(_)) || !msg.has_field(&field) {
            continue;
        }
        match &*msg.get_field(&field) {
            Value::Message(inner) => walk_required(inner, &format!("{name}."), out),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item {
                        walk_required(inner, &format!("{name}[{i}]."), out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn pool_has_every_package() {
        for name in [
            "mesos.FrameworkInfo",
            "mesos.v1.FrameworkInfo",
            "mesos.scheduler.Call",
            "mesos.v1.scheduler.Event",
            "mesos.executor.Call",
            "mesos.v1.executor.Event",
            "mesos.v1.master.Call",
            "mesos.v1.agent.Response",
            "mesos.internal.RegisterSlaveMessage",
            "mesos.internal.Registry",
            "mesos.internal.slave.ResourceState",
        ] {
            assert!(DESCRIPTOR_POOL.get_message_by_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn strict_decode_reports_missing_required_fields() {
        // An empty body parses as a FrameworkID in prost, but not in protobuf C++.
        assert_eq!(
            decode_strict::<mesos::FrameworkId>(&[]),
            Err(DecodeError::MissingRequired(vec!["value".into()]))
        );
        // Nested: a FrameworkInfo whose id lacks its value.
        let mut bytes = Vec::new();
        let info = mesos::FrameworkInfo { user: "u".into(), name: "n".into(), ..Default::default() };
        info.encode(&mut bytes).unwrap();
        bytes.extend_from_slice(&[0x1a, 0x00]); // field 3 (id), an empty FrameworkID
        match decode_strict::<mesos::FrameworkInfo>(&bytes) {
            Err(DecodeError::MissingRequired(f)) => assert_eq!(f, vec!["id.value".to_string()]),
            other => panic!("{other:?}"),
        }
        // A complete message round-trips.
        let ok = mesos::FrameworkId { value: "x".into() }.encode_to_vec();
        assert_eq!(decode_strict::<mesos::FrameworkId>(&ok).unwrap().value, "x");
        // Garbage is malformed, never a panic.
        assert!(matches!(
            decode_strict::<mesos::FrameworkInfo>(&[0xff, 0xff, 0xff]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
