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
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// The descriptors of every Mesos message we ship, decoded once.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("descriptor set built by build.rs"));

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
///
/// The required-field check scans the encoded bytes against a per-message plan
/// (required field numbers, message-typed fields) built once from the
/// descriptors, so it costs about one extra pass over the bytes rather than a
/// second, dynamic decode.
pub fn decode_strict<M>(bytes: &[u8]) -> Result<M, DecodeError>
where
    M: prost::Message + ReflectMessage + Default,
{
    let msg = M::decode(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let desc = msg.descriptor();
    let mut missing = Vec::new();
    required::check(desc.full_name(), &[bytes], &mut Vec::new(), &mut missing);
    if !missing.is_empty() {
        return Err(DecodeError::MissingRequired(missing));
    }
    Ok(msg)
}

mod required {
    //! Required-field checking straight from protobuf bytes.

    use std::collections::HashMap;
    use std::sync::LazyLock;

    use prost_reflect::{Cardinality, Kind};

    /// What the check needs to know about one field.
    struct FieldPlan {
        number: u32,
        name: String,
        required: bool,
        /// For message-typed fields whose type (transitively) can lack a
        /// required field: the nested type's full name and whether repeated.
        nested: Option<(String, bool)>,
    }

    /// The fields worth looking at, in declaration order (the order protobuf
    /// lists missing fields in).
    struct Plan {
        fields: Vec<FieldPlan>,
    }

    static PLANS: LazyLock<HashMap<String, Plan>> = LazyLock::new(build);

    fn build() -> HashMap<String, Plan> {
        let pool = &*super::DESCRIPTOR_POOL;
        let mut plans: HashMap<String, Plan> = HashMap::new();
        for msg in pool.all_messages() {
            let fields = msg
                .fields()
                .map(|f| FieldPlan {
                    number: f.number(),
                    name: f.name().to_string(),
                    required: f.cardinality() == Cardinality::Required,
                    nested: match f.kind() {
                        Kind::Message(inner) => Some((inner.full_name().to_string(), f.is_list() || f.is_map())),
                        _ => None,
                    },
                })
                .collect();
            plans.insert(msg.full_name().to_string(), Plan { fields });
        }
        // A type "needs checking" if it has a required field or a nested field
        // whose type needs checking: iterate to a fixed point, then drop the
        // fields that can never report anything so the scan skips them.
        let mut needs: HashMap<String, bool> =
            plans.iter().map(|(k, p)| (k.clone(), p.fields.iter().any(|f| f.required))).collect();
        loop {
            let mut changed = false;
            for (name, plan) in &plans {
                if needs[name] {
                    continue;
                }
                let nested_needs = plan
                    .fields
                    .iter()
                    .any(|f| f.nested.as_ref().is_some_and(|(inner, _)| needs.get(inner).copied().unwrap_or(false)));
                if nested_needs {
                    needs.insert(name.clone(), true);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for plan in plans.values_mut() {
            plan.fields.retain_mut(|f| {
                if f.nested.as_ref().is_some_and(|(inner, _)| !needs.get(inner).copied().unwrap_or(false)) {
                    f.nested = None;
                }
                f.required || f.nested.is_some()
            });
        }
        plans
    }

    fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *buf.get(*pos)?;
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    /// One step of the path to a nested message: field name and list index.
    type Step<'a> = (&'a str, Option<usize>);

    /// Checks the message made of `chunks` (protobuf merges concatenated
    /// encodings, so a singular message field sent twice is checked as one).
    /// Bytes were already decoded by prost, so they are well-formed. `path` is
    /// only turned into text when something is missing.
    pub(super) fn check(type_name: &str, chunks: &[&[u8]], path: &mut Vec<Step<'static>>, missing: &mut Vec<String>) {
        let Some(plan) = PLANS.get(type_name) else { return };
        if plan.fields.is_empty() {
            return;
        }
        let mut seen = 0u128; // bit i: planned field i occurred
        let mut singular: Vec<(usize, &[u8])> = Vec::new();
        // Element index per repeated planned field, allocated only if one occurs.
        let mut counts: Vec<usize> = Vec::new();
        for chunk in chunks {
            let mut pos = 0;
            while pos < chunk.len() {
                let Some(key) = varint(chunk, &mut pos) else { return };
                let number = (key >> 3) as u32;
                let mut body: Option<&[u8]> = None;
                match key & 7 {
                    0 => {
                        if varint(chunk, &mut pos).is_none() {
                            return;
                        }
                    }
                    1 => pos += 8,
                    5 => pos += 4,
                    2 => {
                        let Some(len) = varint(chunk, &mut pos) else { return };
                        let end = pos.saturating_add(len as usize).min(chunk.len());
                        body = Some(&chunk[pos..end]);
                        pos = end;
                    }
                    // Groups are not used by Mesos; prost refused anything else.
                    _ => return,
                }
                let Some(i) = plan.fields.iter().position(|f| f.number == number) else { continue };
                seen |= 1u128 << i.min(127);
                let field = &plan.fields[i];
                match (&field.nested, body) {
                    (Some((inner, true)), Some(b)) => {
                        if counts.is_empty() {
                            counts.resize(plan.fields.len(), 0);
                        }
                        let k = counts[i];
                        counts[i] += 1;
                        path.push((field.name.as_str(), Some(k)));
                        check(inner, &[b], path, missing);
                        path.pop();
                    }
                    (Some((_, false)), Some(b)) => singular.push((i, b)),
                    _ => {}
                }
            }
        }
        for (i, field) in plan.fields.iter().enumerate() {
            if field.required && seen & (1u128 << i.min(127)) == 0 {
                missing.push(render(path, &field.name));
            }
            if let Some((inner, false)) = &field.nested {
                let bodies: Vec<&[u8]> = singular.iter().filter(|(j, _)| *j == i).map(|(_, b)| *b).collect();
                if !bodies.is_empty() {
                    path.push((field.name.as_str(), None));
                    check(inner, &bodies, path, missing);
                    path.pop();
                }
            }
        }
    }

    fn render(path: &[Step<'_>], leaf: &str) -> String {
        let mut out = String::new();
        for (name, index) in path {
            out.push_str(name);
            if let Some(k) = index {
                out.push_str(&format!("[{k}]"));
            }
            out.push('.');
        }
        out.push_str(leaf);
        out
    }
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
        assert_eq!(decode_strict::<mesos::FrameworkId>(&[]), Err(DecodeError::MissingRequired(vec!["value".into()])));
        // Nested: a FrameworkInfo whose id lacks its value.
        let mut bytes = Vec::new();
        let info = mesos::FrameworkInfo { user: "u".into(), name: "n".into(), ..Default::default() };
        info.encode(&mut bytes).unwrap();
        bytes.extend_from_slice(&[0x1a, 0x00]); // field 3 (id), an empty FrameworkID
        match decode_strict::<mesos::FrameworkInfo>(&bytes) {
            Err(DecodeError::MissingRequired(f)) => assert_eq!(f, vec!["id.value".to_string()]),
            other => panic!("{other:?}"),
        }
        // A singular message field split across two occurrences is merged
        // before checking, as protobuf does: id's value arrives in the second.
        let mut split = info.encode_to_vec();
        split.extend_from_slice(&[0x1a, 0x00, 0x1a, 0x03, 0x0a, 0x01, b'x']);
        assert!(decode_strict::<mesos::FrameworkInfo>(&split).is_ok());
        // Repeated elements are checked one by one, with their index.
        let offers = mesos::internal::ResourceOffersMessage {
            offers: vec![mesos::Offer::default(), mesos::Offer::default()],
            pids: vec![],
        };
        let mut bytes2 = Vec::new();
        offers.encode(&mut bytes2).unwrap();
        // prost always writes required fields, so this one is complete...
        assert!(decode_strict::<mesos::internal::ResourceOffersMessage>(&bytes2).is_ok());
        // ...but an element with an empty body lacks everything it requires.
        let holes = [0x0a, 0x00];
        match decode_strict::<mesos::internal::ResourceOffersMessage>(&holes) {
            Err(DecodeError::MissingRequired(f)) => {
                assert_eq!(
                    f,
                    vec!["offers[0].id", "offers[0].framework_id", "offers[0].slave_id", "offers[0].hostname"]
                );
                // The same answer as the dynamic walk over a decoded message.
                let desc = DESCRIPTOR_POOL.get_message_by_name("mesos.internal.ResourceOffersMessage").unwrap();
                let dynamic = DynamicMessage::decode(desc, &holes[..]).unwrap();
                assert_eq!(missing_required(&dynamic), f);
            }
            other => panic!("{other:?}"),
        }
        // A complete message round-trips.
        let ok = mesos::FrameworkId { value: "x".into() }.encode_to_vec();
        assert_eq!(decode_strict::<mesos::FrameworkId>(&ok).unwrap().value, "x");
        // Garbage is malformed, never a panic.
        assert!(matches!(decode_strict::<mesos::FrameworkInfo>(&[0xff, 0xff, 0xff]), Err(DecodeError::Malformed(_))));
    }
}
