//! `MasterInfo` in the group's znodes: the exact bytes Mesos writes, and the
//! three formats its detector reads.
//!
//! **Writing** (`json.info_` znodes): Mesos's contender stores
//! `stringify(JSON::protobuf(masterInfo))`. `JSON::protobuf` builds a
//! `JSON::Object`, whose members live in a `std::map`, so keys come out sorted
//! bytewise at every level; `stringify` writes it compactly with rapidjson (no
//! spaces; `"` `\` and control characters escaped, `\u00XX` in upper-case hex;
//! no other escaping). Which fields appear follows stout: set fields, unset
//! fields with a non-deprecated `[default]`, repeated fields when non-empty;
//! enums by name. [`to_json`] produces exactly that. For a master at
//! 127.0.0.1:5050 (capabilities are Mesos 1.11's):
//!
//! ```text
//! {"address":{"hostname":"m1","ip":"127.0.0.1","port":5050},"capabilities":[{"type":"AGENT_UPDATE"},
//! {"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}],"hostname":"m1","id":"<uuid>","ip":16777343,
//! "pid":"master@127.0.0.1:5050","port":5050,"version":"1.11.0"}
//! ```
//! (one line in the znode). `ip` is the IPv4 address as `in_addr.s_addr`,
//! i.e. network byte order read as a native (little-endian) integer:
//! 127.0.0.1 is 0x0100007F = 16777343 (MESOS-1201 keeps it that way).
//!
//! **Reading** ([`decode`]): by the member's label, as Mesos's detector does:
//! `json.info` is parsed with stout's JSON rules, `info` as a protobuf
//! (required fields enforced, as `ParseFromString` does), no label as a UPID
//! string, from which Mesos makes a MasterInfo ([`from_upid`]).

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value as Json;

use crate::proto::mesos::master_info::{capability, Capability};
use crate::proto::mesos::{Address, MasterInfo};
use crate::v0_compat::Upid;

use super::group::{MASTER_INFO_JSON_LABEL, MASTER_INFO_LABEL};

/// The version our masters report (`MasterInfo.version`, `/version`).
pub const MESOS_VERSION: &str = "1.11.0";

/// Why a leader's znode data is not a MasterInfo. Texts are Mesos's detector's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// An `info_` znode that is not a valid serialized MasterInfo.
    #[error("Failed to parse data into MasterInfo")]
    Protobuf,
    /// A `json.info_` znode that is not a JSON object.
    #[error("Failed to parse data into valid JSON: {0}")]
    Json(String),
    /// JSON that does not make a MasterInfo (missing `id`, a string for `port`...).
    #[error("Failed to parse JSON into a valid MasterInfo protocol buffer: {0}")]
    MasterInfo(String),
    /// A label-less znode whose data is not a UPID.
    #[error("Failed to parse data into a UPID: {0}")]
    Upid(String),
    /// A member with a label Mesos does not know.
    #[error("Failed to parse data of unknown label '{0}'")]
    UnknownLabel(String),
}

/// The capabilities a Mesos 1.11 master advertises (`MASTER_CAPABILITIES()`),
/// in Mesos's order.
pub fn master_capabilities() -> Vec<Capability> {
    [capability::Type::AgentUpdate, capability::Type::AgentDraining, capability::Type::QuotaV2]
        .into_iter()
        .map(|t| Capability { r#type: Some(t as i32) })
        .collect()
}

/// `MasterInfo.ip` for an IPv4 address: the bytes in network order, read as a
/// little-endian integer (what `in_addr.s_addr` is on the x86 and ARM hosts
/// Mesos runs on). 127.0.0.1 gives 16777343.
pub fn ip_field(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// The address a `MasterInfo.ip` field holds (inverse of [`ip_field`]).
pub fn ip_from_field(ip: u32) -> Ipv4Addr {
    Ipv4Addr::from(ip.to_le_bytes())
}

/// The MasterInfo Mesos's master builds for itself (`Master::Master`): `id`
/// (a fresh UUID), `ip`/`port`/`pid` from its UPID, `version`, the 1.11
/// capabilities, `hostname` and `address` (ip, port, hostname). `hostname` is
/// `--hostname`, or what `--hostname_lookup` found, or the IP: the caller
/// decides. An IPv6 UPID leaves `ip` 0 (Mesos only supports IPv4 there).
pub fn for_master(id: &str, pid: &Upid, hostname: &str) -> MasterInfo {
    let addr = pid.addr();
    MasterInfo {
        id: id.to_string(),
        ip: match addr.ip() {
            IpAddr::V4(v4) => ip_field(v4),
            IpAddr::V6(_) => 0,
        },
        port: u32::from(addr.port()),
        pid: Some(pid.to_string()),
        hostname: Some(hostname.to_string()),
        version: Some(MESOS_VERSION.to_string()),
        address: Some(Address {
            hostname: Some(hostname.to_string()),
            ip: Some(addr.ip().to_string()),
            port: i32::from(addr.port()),
        }),
        domain: None,
        capabilities: master_capabilities(),
    }
}

/// The MasterInfo Mesos makes from a bare UPID (`protobuf::createMasterInfo`):
/// for `--master=host:port` and for label-less znodes. `id` is
/// `<pid>-<random UUID>`; no `version`. Mesos sets `hostname` from a reverse
/// lookup of the IP; we set it only when the UPID was resolved from a name
/// (that name), and leave it out otherwise.
pub fn from_upid(pid: &Upid) -> MasterInfo {
    let addr = pid.addr();
    let hostname = pid.host().map(str::to_string);
    MasterInfo {
        id: format!("{pid}-{}", uuid::Uuid::new_v4()),
        ip: match addr.ip() {
            IpAddr::V4(v4) => ip_field(v4),
            IpAddr::V6(_) => 0,
        },
        port: u32::from(addr.port()),
        pid: Some(pid.to_string()),
        hostname: hostname.clone(),
        version: None,
        address: Some(Address { hostname, ip: Some(addr.ip().to_string()), port: i32::from(addr.port()) }),
        domain: None,
        capabilities: master_capabilities(),
    }
}

/// The bytes Mesos's contender writes into a `json.info_` znode for `info`.
pub fn to_json(info: &MasterInfo) -> String {
    let mut out = String::new();
    write_sorted(&crate::http_api::json::to_value(info), &mut out);
    out
}

/// Decodes a member's data according to its label. A label-less member holds a
/// UPID, which may name a host: that case is [`Decoded::Pid`], for the caller
/// to resolve (with [`Upid::resolve`]) and turn into a MasterInfo with
/// [`from_upid`], as Mesos does.
pub fn decode(label: Option<&str>, data: &[u8]) -> Result<Decoded, DataError> {
    match label {
        Some(MASTER_INFO_JSON_LABEL) => {
            let json: Json = serde_json::from_slice(data).map_err(|e| DataError::Json(e.to_string()))?;
            if !json.is_object() {
                return Err(DataError::Json("not a JSON object".to_string()));
            }
            crate::http_api::json::from_value::<MasterInfo>(&json)
                .map(|info| Decoded::Info(Box::new(info)))
                .map_err(|e| DataError::MasterInfo(e.to_string()))
        }
        Some(MASTER_INFO_LABEL) => mesos_proto::decode_strict::<MasterInfo>(data)
            .map(|info| Decoded::Info(Box::new(info)))
            .map_err(|_| DataError::Protobuf),
        Some(other) => Err(DataError::UnknownLabel(other.to_string())),
        None => {
            let text = String::from_utf8_lossy(data).trim().to_string();
            if text.is_empty() || !text.contains('@') {
                return Err(DataError::Upid(format!("'{text}' is not a UPID")));
            }
            Ok(Decoded::Pid(text))
        }
    }
}

/// What a member's data holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A MasterInfo (`json.info_` and `info_` members).
    Info(Box<MasterInfo>),
    /// A UPID string (label-less members, before Mesos 0.23).
    Pid(String),
}

/// The MasterInfo JSON in Mesos's byte form, from its JSON value.
fn write_sorted(value: &Json, out: &mut String) {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            // std::map<std::string, _> orders keys bytewise.
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_sorted(value, out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        Json::String(s) => write_string(s, out),
        // Integers print plainly in both; MasterInfo has no floating-point field.
        Json::Number(_) | Json::Bool(_) | Json::Null => out.push_str(&value.to_string()),
    }
}

/// A string as rapidjson's `Writer` escapes it.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{domain_info, DomainInfo};
    use prost::Message as _;

    fn sample() -> MasterInfo {
        let pid: Upid = "master@127.0.0.1:5050".parse().unwrap();
        for_master("4a7c9e2e-5a0e-4a45-9c51-0b1bd0a4e1d1", &pid, "m1")
    }

    #[test]
    fn json_is_byte_for_byte_what_mesos_writes() {
        assert_eq!(
            to_json(&sample()),
            concat!(
                r#"{"address":{"hostname":"m1","ip":"127.0.0.1","port":5050},"#,
                r#""capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}],"#,
                r#""hostname":"m1","id":"4a7c9e2e-5a0e-4a45-9c51-0b1bd0a4e1d1","ip":16777343,"#,
                r#""pid":"master@127.0.0.1:5050","port":5050,"version":"1.11.0"}"#
            )
        );
    }

    #[test]
    fn domain_keys_are_sorted_too() {
        let mut info = sample();
        info.domain = Some(DomainInfo {
            fault_domain: Some(domain_info::FaultDomain {
                region: domain_info::fault_domain::RegionInfo { name: "eu".into() },
                zone: domain_info::fault_domain::ZoneInfo { name: "eu-1a".into() },
            }),
        });
        let json = to_json(&info);
        assert!(
            json.contains(r#""domain":{"fault_domain":{"region":{"name":"eu"},"zone":{"name":"eu-1a"}}},"hostname""#),
            "{json}"
        );
    }

    #[test]
    fn escapes_like_rapidjson() {
        let mut out = String::new();
        write_string("a\"b\\c/d\u{1}\u{1f}\n\té", &mut out);
        assert_eq!(out, r#""a\"b\\c/d\u0001\u001F\n\té""#);
    }

    #[test]
    fn ip_is_network_order_as_little_endian() {
        assert_eq!(ip_field(Ipv4Addr::new(127, 0, 0, 1)), 16_777_343);
        assert_eq!(ip_field(Ipv4Addr::new(10, 0, 0, 2)), 0x0200_000A);
        assert_eq!(ip_from_field(16_777_343), Ipv4Addr::new(127, 0, 0, 1));
    }

    #[test]
    fn decodes_all_three_formats() {
        let info = sample();
        let json = to_json(&info);
        let boxed = Decoded::Info(Box::new(info.clone()));
        assert_eq!(decode(Some("json.info"), json.as_bytes()).unwrap(), boxed);
        assert_eq!(decode(Some("info"), &info.encode_to_vec()).unwrap(), boxed);
        assert_eq!(decode(None, b"master@10.0.0.1:5050\n").unwrap(), Decoded::Pid("master@10.0.0.1:5050".to_string()));
    }

    #[test]
    fn bad_data_gives_mesos_errors() {
        let err = |label: Option<&str>, data: &[u8]| decode(label, data).unwrap_err().to_string();
        assert!(err(Some("json.info"), b"{nope").starts_with("Failed to parse data into valid JSON: "));
        assert!(err(Some("json.info"), b"[1]").starts_with("Failed to parse data into valid JSON: "));
        assert_eq!(
            err(Some("json.info"), br#"{"ip":1,"port":5050}"#),
            "Failed to parse JSON into a valid MasterInfo protocol buffer: Missing required fields: id"
        );
        assert_eq!(err(Some("info"), b"\xff\xff\xff"), "Failed to parse data into MasterInfo");
        // Well-formed protobuf lacking the required id/ip: ParseFromString fails too.
        let mut bytes = Vec::new();
        prost::encoding::string::encode(4, &"master@10.0.0.1:5050".to_string(), &mut bytes);
        assert_eq!(err(Some("info"), &bytes), "Failed to parse data into MasterInfo");
        assert_eq!(err(Some("other"), b"{}"), "Failed to parse data of unknown label 'other'");
        assert!(err(None, b"not a pid").starts_with("Failed to parse data into a UPID"));
    }

    #[test]
    fn from_upid_is_create_master_info() {
        let pid: Upid = "master@10.0.0.7:5050".parse().unwrap();
        let info = from_upid(&pid);
        assert!(info.id.starts_with("master@10.0.0.7:5050-"), "{}", info.id);
        assert_eq!(info.ip, ip_field(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(info.port, 5050);
        assert_eq!(info.pid.as_deref(), Some("master@10.0.0.7:5050"));
        assert_eq!(info.address.as_ref().unwrap().ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(info.capabilities.len(), 3);
    }
}
