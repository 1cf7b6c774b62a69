//! Allocator configuration, and the master flags that feed it:
//! `--allocation_interval`, `--min_allocatable_resources`,
//! `--fair_sharing_excluded_resource_names`, `--filter_gpu_resources`,
//! `--weights` and the role whitelist `--roles`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::resource_quantities::ResourceQuantities;
use crate::common::roles;
use crate::common::values::Scalar;
use crate::proto::mesos::framework_info::capability::Type as FrameworkCapability;
use crate::proto::mesos::{DomainInfo, FrameworkInfo};

/// How the allocator behaves. `Default` gives Mesos master's defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--allocation_interval` (1 s): the master runs a full cycle this
    /// often; refusal filters last at least this long.
    pub allocation_interval: Duration,
    /// `--fair_sharing_excluded_resource_names`: left out of DRF shares.
    pub fairness_excluded_resource_names: BTreeSet<String>,
    /// `--filter_gpu_resources` (true): agents with GPUs are only offered to
    /// frameworks with the `GPU_RESOURCES` capability.
    pub filter_gpu_resources: bool,
    /// The master's fault domain; agents in another region are offered only
    /// to `REGION_AWARE` frameworks.
    pub domain: Option<DomainInfo>,
    /// `--min_allocatable_resources` (`cpus:0.01|mem:32`): an offer must
    /// reach one of these sets. Empty: anything non-empty is offered.
    pub min_allocatable_resources: Vec<ResourceQuantities>,
    /// How long allocation stays paused after [`recover`] at most (10 min).
    ///
    /// [`recover`]: super::Allocator::recover
    pub recovery_timeout: Duration,
    /// Fraction of the registered agents that must come back before
    /// allocation resumes after a failover with quota (0.8).
    pub agent_recovery_factor: f64,
    /// Seed of the agent shuffling and of quota chopping.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allocation_interval: Duration::from_secs(1),
            fairness_excluded_resource_names: BTreeSet::new(),
            filter_gpu_resources: true,
            domain: None,
            min_allocatable_resources: default_min_allocatable_resources(),
            recovery_timeout: Duration::from_secs(600),
            agent_recovery_factor: 0.8,
            seed: 0,
        }
    }
}

/// `cpus:0.01|mem:32`, the master's default `--min_allocatable_resources`.
pub fn default_min_allocatable_resources() -> Vec<ResourceQuantities> {
    vec![
        ResourceQuantities::from_pairs([("cpus", Scalar::from_milli(10))]),
        ResourceQuantities::from_pairs([("mem", Scalar::from_int(32))]),
    ]
}

/// Parses `--min_allocatable_resources` (`disk:1|cpus:1;mem:32;ports:1`).
pub fn parse_min_allocatable_resources(flag: &str) -> Result<Vec<ResourceQuantities>, String> {
    flag.split('|')
        .filter(|s| !s.is_empty())
        .map(|token| {
            ResourceQuantities::from_string(token)
                .map_err(|e| format!("Error parsing min_allocatable_resources '{flag}': {e}"))
        })
        .collect()
}

/// What the allocator needs about a framework beyond its `FrameworkInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameworkOptions {
    /// Roles for which the framework does not want offers (SUPPRESS, or
    /// `suppressed_roles` on SUBSCRIBE / UPDATE_FRAMEWORK).
    pub suppressed_roles: BTreeSet<String>,
}

/// The roles of a framework: `roles` with `MULTI_ROLE`, else `role`
/// (default `*`).
pub fn framework_roles(info: &FrameworkInfo) -> BTreeSet<String> {
    let multi_role = info.capabilities.iter().any(|c| c.r#type() == FrameworkCapability::MultiRole);
    if multi_role {
        info.roles.iter().cloned().collect()
    } else {
        BTreeSet::from([info.role().to_string()])
    }
}

/// The `--roles` whitelist (deprecated in Mesos, still honoured): when set,
/// frameworks may only use the listed roles and `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleWhitelist(Option<BTreeSet<String>>);

impl RoleWhitelist {
    /// No whitelist: every valid role is allowed.
    pub fn allow_all() -> RoleWhitelist {
        RoleWhitelist(None)
    }

    /// Parses `--roles` (`a,b,c`); `*` is always added.
    pub fn parse(flag: Option<&str>) -> Result<RoleWhitelist, String> {
        let Some(flag) = flag else { return Ok(RoleWhitelist(None)) };
        let list = roles::parse(flag).map_err(|e| format!("Failed to parse roles: {e}"))?;
        let mut set: BTreeSet<String> = list.into_iter().collect();
        set.insert("*".to_string());
        Ok(RoleWhitelist(Some(set)))
    }

    /// True if `role` may be used.
    pub fn allows(&self, role: &str) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(role))
    }

    /// The listed roles, if a whitelist is set.
    pub fn roles(&self) -> Option<&BTreeSet<String>> {
        self.0.as_ref()
    }

    /// Refuses a framework using roles outside the whitelist, with Mesos's
    /// message (`Roles { a, b } are not present in the master's --roles`).
    pub fn check_framework(&self, info: &FrameworkInfo) -> Result<(), String> {
        let invalid: Vec<String> = framework_roles(info).into_iter().filter(|r| !self.allows(r)).collect();
        if invalid.is_empty() {
            return Ok(());
        }
        Err(format!("Roles {{ {} }} are not present in the master's --roles", invalid.join(", ")))
    }
}

/// C's `atof`: the longest numeric prefix, 0 if there is none.
fn atof(s: &str) -> f64 {
    let s = s.trim_start();
    (1..=s.len()).rev().filter(|&i| s.is_char_boundary(i)).find_map(|i| s[..i].parse::<f64>().ok()).unwrap_or(0.0)
}

/// Parses `--weights` (`role1=2,role2=3.5`) with Mesos's checks and messages.
pub fn parse_weights(flag: &str, whitelist: &RoleWhitelist) -> Result<Vec<(String, f64)>, String> {
    let mut weights = Vec::new();
    for token in flag.split(',').filter(|t| !t.is_empty()) {
        let pair: Vec<&str> = token.split('=').filter(|t| !t.is_empty()).collect();
        if pair.len() != 2 {
            return Err(format!(
                "Invalid weight: '{token}'. --weights should be of the form 'role=weight,role=weight'"
            ));
        }
        if !whitelist.allows(pair[0]) {
            return Err(format!("Invalid weight: '{token}'. {} is not a valid role", pair[0]));
        }
        let weight = atof(pair[1]);
        if weight <= 0.0 || weight.is_nan() {
            return Err(format!("Invalid weight: '{token}'. Weights must be positive"));
        }
        weights.retain(|(r, _): &(String, f64)| r != pair[0]);
        weights.push((pair[0].to_string(), weight));
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::framework_info::Capability;

    #[test]
    fn weights_flag() {
        let all = RoleWhitelist::allow_all();
        assert_eq!(parse_weights("a=2,b=0.5", &all).unwrap(), vec![("a".to_string(), 2.0), ("b".to_string(), 0.5)]);
        assert_eq!(
            parse_weights("a", &all).unwrap_err(),
            "Invalid weight: 'a'. --weights should be of the form 'role=weight,role=weight'"
        );
        assert_eq!(parse_weights("a=0", &all).unwrap_err(), "Invalid weight: 'a=0'. Weights must be positive");
        assert_eq!(parse_weights("a=x", &all).unwrap_err(), "Invalid weight: 'a=x'. Weights must be positive");
        assert_eq!(parse_weights("a=2.5abc", &all).unwrap(), vec![("a".to_string(), 2.5)]);
        let listed = RoleWhitelist::parse(Some("a")).unwrap();
        assert_eq!(parse_weights("b=1", &listed).unwrap_err(), "Invalid weight: 'b=1'. b is not a valid role");
    }

    #[test]
    fn role_whitelist() {
        let w = RoleWhitelist::parse(Some("a,b/c")).unwrap();
        assert!(w.allows("a") && w.allows("*") && w.allows("b/c") && !w.allows("b"));
        assert!(RoleWhitelist::parse(Some("a,.")).unwrap_err().starts_with("Failed to parse roles: "));
        let multi = FrameworkInfo {
            roles: vec!["a".into(), "x".into(), "y".into()],
            capabilities: vec![Capability { r#type: Some(FrameworkCapability::MultiRole as i32) }],
            ..Default::default()
        };
        assert_eq!(w.check_framework(&multi).unwrap_err(), "Roles { x, y } are not present in the master's --roles");
        let legacy = FrameworkInfo::default();
        assert!(w.check_framework(&legacy).is_ok(), "the default role '*' is always allowed");
        assert!(RoleWhitelist::allow_all().check_framework(&multi).is_ok());
    }

    #[test]
    fn min_allocatable_flag() {
        let parsed = parse_min_allocatable_resources("cpus:0.01|mem:32").unwrap();
        assert_eq!(parsed, default_min_allocatable_resources());
        assert!(parse_min_allocatable_resources("cpus:x")
            .unwrap_err()
            .starts_with("Error parsing min_allocatable_resources 'cpus:x': "));
    }
}
