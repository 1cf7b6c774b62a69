//! What the agent offers: `--resources` (text or JSON, through the common
//! resource parser), completed by auto-detection of cpus, memory, disk and
//! ports minus Mesos's headroom (`Containerizer::resources` in
//! `src/slave/containerizer/containerizer.cpp`), and `--attributes`.

use std::path::Path;

use crate::common::resources::parse::{from_string, parse_resource};
use crate::common::resources::{validate_all, Resources};
use crate::common::values::{self, ParsedValue};
use crate::proto::mesos::value::{Scalar, Text, Type as ValueType};
use crate::proto::mesos::{Attribute, Resource};

/// `DEFAULT_CPUS`, `DEFAULT_MEM` (MB), `DEFAULT_DISK` (MB), `DEFAULT_PORTS`:
/// what is offered when detection fails.
pub const DEFAULT_CPUS: f64 = 1.0;
pub const DEFAULT_MEM_MB: u64 = 1024;
pub const DEFAULT_DISK_MB: u64 = 10 * 1024;
pub const DEFAULT_PORTS: &str = "[31000-32000]";

const MB: u64 = 1024 * 1024;
const GB: u64 = 1024 * MB;

/// What the host has, as detected (each `None` when detection failed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostFacts {
    pub cpus: Option<u64>,
    pub mem_total_bytes: Option<u64>,
    /// Size of the filesystem holding the work_dir.
    pub disk_total_bytes: Option<u64>,
}

impl HostFacts {
    /// Looks at this host: online cpus, `MemTotal`, the work_dir's filesystem.
    pub fn detect(work_dir: &Path) -> HostFacts {
        let cpus = std::thread::available_parallelism().ok().map(|n| n.get() as u64);
        let mem_total_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        });
        let disk_total_bytes = nix::sys::statvfs::statvfs(work_dir).ok().map(|s| s.blocks() * s.fragment_size());
        HostFacts { cpus, mem_total_bytes, disk_total_bytes }
    }
}

/// The memory offered: all but 1GB, or half of a host with less than 2GB.
pub fn mem_with_headroom(total: u64) -> u64 {
    if total >= 2 * GB {
        total - GB
    } else {
        total / 2
    }
}

/// The disk offered: all but 5GB, or half of a filesystem under 10GB.
pub fn disk_with_headroom(total: u64) -> u64 {
    if total >= 10 * GB {
        total - 5 * GB
    } else {
        total / 2
    }
}

/// The agent's total resources: `--resources` (`text`) with the default
/// role, plus detected cpus/mem/disk and the default ports for whatever it
/// does not name.
pub fn agent_resources(text: Option<&str>, default_role: &str, facts: &HostFacts) -> Result<Vec<Resource>, String> {
    let text = text.unwrap_or("");
    let mut resources = Resources::parse(text, default_role).map_err(|e| e.0)?;
    let listed = from_string(text, default_role).map_err(|e| e.0)?;
    let has = |name: &str| listed.iter().any(|r| r.name == name);
    let mut add = |name: &str, value: String| -> Result<(), String> {
        let r = parse_resource(name, &value, default_role).map_err(|e| e.0)?;
        resources.add_all(&Resources::from_protos([&r]));
        Ok(())
    };
    if !has("cpus") {
        let cpus = match facts.cpus {
            Some(n) => n as f64,
            None => {
                tracing::warn!("Failed to auto-detect the number of cpus to use; defaulting to {DEFAULT_CPUS}");
                DEFAULT_CPUS
            }
        };
        add("cpus", format!("{cpus}"))?;
    }
    // Memory and disk: what was detected minus the headroom, or a default.
    let sized = |detected: Option<u64>, headroom: fn(u64) -> u64, default_mb: u64, what: &str| match detected {
        Some(total) => headroom(total) / MB,
        None => {
            tracing::warn!("Failed to auto-detect the {what}; defaulting to {default_mb}MB");
            default_mb
        }
    };
    if !has("mem") {
        add("mem", sized(facts.mem_total_bytes, mem_with_headroom, DEFAULT_MEM_MB, "size of main memory").to_string())?;
    }
    if !has("disk") {
        add("disk", sized(facts.disk_total_bytes, disk_with_headroom, DEFAULT_DISK_MB, "disk space").to_string())?;
    }
    if !has("ports") {
        add("ports", DEFAULT_PORTS.to_string())?;
    }
    let protos = resources.to_protos();
    validate_all(&protos).map_err(|e| e.0)?;
    Ok(protos)
}

/// `--attributes`: `name:value` pairs separated by `;` or newlines; values
/// are scalars, ranges or text (Mesos's `Attributes::parse`).
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, String> {
    let mut out = Vec::new();
    for token in text.split([';', '\n']).filter(|t| !t.is_empty()) {
        let (name, value) = match token.split_once(':') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => (n, v),
            _ => return Err(format!("Invalid attribute key:value pair '{token}'")),
        };
        let mut attribute = Attribute { name: name.to_string(), ..Default::default() };
        match values::parse(value) {
            Ok(ParsedValue::Scalar(v)) => {
                attribute.set_type(ValueType::Scalar);
                attribute.scalar = Some(Scalar { value: v });
            }
            Ok(ParsedValue::Ranges(r)) => {
                attribute.set_type(ValueType::Ranges);
                attribute.ranges = Some(r.to_proto());
            }
            Ok(ParsedValue::Set(_)) => {
                return Err(format!("Bad type for attribute {name} text {value} type SET"));
            }
            Ok(ParsedValue::Text(t)) => {
                attribute.set_type(ValueType::Text);
                attribute.text = Some(Text { value: t });
            }
            Err(_) => {
                attribute.set_type(ValueType::Text);
                attribute.text = Some(Text { value: value.to_string() });
            }
        }
        out.push(attribute);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts { cpus: Some(8), mem_total_bytes: Some(16 * GB), disk_total_bytes: Some(100 * GB) }
    }

    #[test]
    fn detection_fills_what_resources_does_not_name_minus_headroom() {
        let r = Resources::from_protos(&agent_resources(None, "*", &facts()).unwrap());
        assert_eq!(r.cpus(), Some(8.0));
        assert_eq!(r.mem(), Some(15 * GB));
        assert_eq!(r.disk(), Some(95 * GB));
        assert_eq!(r.ports().unwrap().to_string(), "[31000-32000]");
        // Small hosts get half.
        let small = HostFacts { cpus: None, mem_total_bytes: Some(GB), disk_total_bytes: Some(4 * GB) };
        let r = Resources::from_protos(&agent_resources(None, "*", &small).unwrap());
        assert_eq!(r.cpus(), Some(1.0));
        assert_eq!(r.mem(), Some(GB / 2));
        assert_eq!(r.disk(), Some(2 * GB));
    }

    #[test]
    fn given_resources_win_and_carry_roles() {
        let text = "cpus(web):2;mem:512;ports:[8000-8010];gpus:0";
        let r = Resources::from_protos(&agent_resources(Some(text), "*", &facts()).unwrap());
        assert_eq!(r.cpus(), Some(2.0));
        assert_eq!(r.mem(), Some(512 * MB));
        assert_eq!(r.reserved(Some("web")).cpus(), Some(2.0));
        assert_eq!(r.ports().unwrap().to_string(), "[8000-8010]");
        // The default role applies to detected resources too.
        let r = Resources::from_protos(&agent_resources(Some("cpus:1"), "ops", &facts()).unwrap());
        assert_eq!(r.reserved(Some("ops")).mem(), Some(15 * GB));
        assert_eq!(r.unreserved().cpus(), None);
        // The JSON form.
        let json = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":3}}]"#;
        let r = Resources::from_protos(&agent_resources(Some(json), "*", &facts()).unwrap());
        assert_eq!(r.cpus(), Some(3.0));
        assert!(agent_resources(Some("cpus:x"), "*", &facts()).is_err());
    }

    #[test]
    fn attributes_parse_as_mesos_does() {
        let a = parse_attributes("rack:2;os:ubuntu;ports:[1-5]").unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].r#type(), ValueType::Scalar);
        assert_eq!(a[1].text.as_ref().unwrap().value, "ubuntu");
        assert_eq!(a[2].r#type(), ValueType::Ranges);
        assert!(parse_attributes("novalue").is_err());
        assert!(parse_attributes("").unwrap().is_empty());
    }
}
