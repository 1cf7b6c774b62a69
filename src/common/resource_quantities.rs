//! Resource quantities and limits: amounts by name, without any metadata.
//!
//! - [`ResourceQuantities`]: `cpus:10;mem:1024`, used for quota guarantees,
//!   `--min_allocatable_resources`, and allocator bookkeeping. Absent names
//!   mean zero; zero entries are dropped.
//! - [`ResourceLimits`]: quota limits. Absent names mean "no limit"; zero
//!   limits are kept.
//! - [`Quota`]: a role's guarantees and limits.

use std::fmt;

use super::resources::{Item, Resources, Value};
use super::values::{self, ParsedValue, Scalar};
use crate::proto::mesos::quota::{QuotaConfig, QuotaInfo};
use crate::proto::mesos::Resource;

/// Why quantity text was refused (Mesos's messages).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuantityError(pub String);

/// Amounts by resource name, sorted by name, never zero or negative.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceQuantities(Vec<(String, Scalar)>);

/// Splits `name:number;...` into (trimmed name, value text, parsed scalar).
fn parse_pairs<'a>(
    text: &'a str,
    what: &'a str,
) -> impl Iterator<Item = Result<(String, &'a str, Scalar), QuantityError>> + 'a {
    values::tokenize(text, &[';']).map(move |token| {
        let pair: Vec<&str> = values::tokenize(token, &[':']).collect();
        if pair.len() != 2 {
            return Err(QuantityError(format!("Failed to parse '{token}': missing or extra ':'")));
        }
        let value = values::parse(pair[1])
            .map_err(|e| QuantityError(format!("Failed to parse '{}' to {what}: {e}", pair[1])))?;
        let ParsedValue::Scalar(v) = value else {
            return Err(QuantityError(format!(
                "Failed to parse '{}' to {what}: only scalar values are allowed",
                pair[1]
            )));
        };
        if v < 0.0 {
            return Err(QuantityError(format!(
                "Failed to parse '{}' to {what}: negative values are not allowed",
                pair[1]
            )));
        }
        Ok((values::trim(pair[0]).to_string(), pair[1], Scalar::from_f64(v)))
    })
}

impl ResourceQuantities {
    /// Nothing.
    pub const fn new() -> ResourceQuantities {
        ResourceQuantities(Vec::new())
    }

    /// Parses `cpus:10;mem:1024` (duplicates are summed, zeros dropped).
    pub fn from_string(text: &str) -> Result<ResourceQuantities, QuantityError> {
        let mut result = ResourceQuantities::new();
        for pair in parse_pairs(text, "quantity") {
            let (name, _, value) = pair?;
            result.add(&name, value);
        }
        Ok(result)
    }

    /// From `(name, amount)` pairs.
    pub fn from_pairs<'a, I: IntoIterator<Item = (&'a str, Scalar)>>(pairs: I) -> ResourceQuantities {
        let mut result = ResourceQuantities::new();
        for (name, value) in pairs {
            result.add(name, value);
        }
        result
    }

    /// The scalar entries of `resources`, by name (other types are ignored).
    pub fn from_scalar_resources(resources: &Resources) -> ResourceQuantities {
        let mut result = ResourceQuantities::new();
        for item in resources {
            result += &ResourceQuantities::from_item(item);
        }
        result
    }

    /// One scalar entry (empty for a non-scalar).
    pub fn from_item(item: &Item) -> ResourceQuantities {
        let mut result = ResourceQuantities::new();
        if let Some(s) = item.scalar() {
            result.add(item.name(), s);
        }
        result
    }

    /// All entries: a scalar counts its value, ranges their numbers, a set
    /// its items.
    pub fn from_resources(resources: &Resources) -> ResourceQuantities {
        let mut result = ResourceQuantities::new();
        for item in resources {
            let amount = match item.value() {
                Value::Scalar(s) => *s,
                Value::Ranges(r) => Scalar::from_f64(r.count() as f64),
                Value::Set(s) => Scalar::from_int(s.len() as i64),
            };
            result.add(item.name(), amount);
        }
        result
    }

    /// Scalar resource protobufs (the legacy quota form).
    pub fn from_scalar_protos(resources: &[Resource]) -> ResourceQuantities {
        ResourceQuantities::from_scalar_resources(&Resources::from_protos(resources))
    }

    /// The amount for `name` (zero if absent).
    pub fn get(&self, name: &str) -> Scalar {
        self.0.iter().find(|(n, _)| n == name).map_or(Scalar::ZERO, |(_, v)| *v)
    }

    /// `(name, amount)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Scalar)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if every amount of `other` is reached here.
    pub fn contains(&self, other: &ResourceQuantities) -> bool {
        other.iter().all(|(name, v)| self.get(name) >= v)
    }

    /// Adds `value` to `name` (zero and negative amounts are ignored).
    pub fn add(&mut self, name: &str, value: Scalar) {
        if value.milli() <= 0 {
            return;
        }
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.0[i].1 += value,
            Err(i) => self.0.insert(i, (name.to_string(), value)),
        }
    }

    /// Sets `name` to exactly `value` (zero removes it).
    pub fn set(&mut self, name: &str, value: Scalar) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.milli() <= 0 => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(i) if value.milli() > 0 => self.0.insert(i, (name.to_string(), value)),
            Err(_) => {}
        }
    }
}

impl std::ops::AddAssign<&ResourceQuantities> for ResourceQuantities {
    fn add_assign(&mut self, rhs: &ResourceQuantities) {
        for (name, v) in rhs.iter() {
            self.add(name, v);
        }
    }
}

impl std::ops::SubAssign<&ResourceQuantities> for ResourceQuantities {
    /// Subtracts by name; amounts that reach zero or below disappear.
    fn sub_assign(&mut self, rhs: &ResourceQuantities) {
        for (name, v) in rhs.iter() {
            let left = self.get(name);
            if !left.is_zero() {
                self.set(name, left.saturating_sub_to_zero(v));
            }
        }
    }
}

impl std::ops::Add<&ResourceQuantities> for &ResourceQuantities {
    type Output = ResourceQuantities;
    fn add(self, rhs: &ResourceQuantities) -> ResourceQuantities {
        let mut r = self.clone();
        r += rhs;
        r
    }
}

impl std::ops::Sub<&ResourceQuantities> for &ResourceQuantities {
    type Output = ResourceQuantities;
    fn sub(self, rhs: &ResourceQuantities) -> ResourceQuantities {
        let mut r = self.clone();
        r -= rhs;
        r
    }
}

fn write_pairs(f: &mut fmt::Formatter<'_>, pairs: &[(String, Scalar)]) -> fmt::Result {
    if pairs.is_empty() {
        return f.write_str("{}");
    }
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{n}:{v}")?;
    }
    Ok(())
}

impl fmt::Display for ResourceQuantities {
    /// `cpus:10; mem:1024`, or `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pairs(f, &self.0)
    }
}

/// Limits by resource name; an absent name has no limit. Zero is a limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceLimits(Vec<(String, Scalar)>);

impl ResourceLimits {
    /// No limit on anything.
    pub const fn new() -> ResourceLimits {
        ResourceLimits(Vec::new())
    }

    /// Parses `cpus:10;mem:0` (duplicate names are refused).
    pub fn from_string(text: &str) -> Result<ResourceLimits, QuantityError> {
        let mut result = ResourceLimits::new();
        for pair in parse_pairs(text, "limit") {
            let (name, text, value) = pair?;
            if result.get(&name).is_some() {
                return Err(QuantityError(format!(
                    "Failed to parse '{text}' to limit: duplicate names are not allowed"
                )));
            }
            result.set(&name, value);
        }
        Ok(result)
    }

    /// From `(name, limit)` pairs (later pairs overwrite).
    pub fn from_pairs<'a, I: IntoIterator<Item = (&'a str, Scalar)>>(pairs: I) -> ResourceLimits {
        let mut result = ResourceLimits::new();
        for (name, value) in pairs {
            result.set(name, value);
        }
        result
    }

    /// The limit for `name`, `None` meaning unlimited.
    pub fn get(&self, name: &str) -> Option<Scalar> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Sets the limit for `name`.
    pub fn set(&mut self, name: &str, value: Scalar) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name.to_string(), value)),
        }
    }

    /// `(name, limit)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Scalar)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// True when nothing is limited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if these limits are at least as permissive as `other` for every
    /// name (an absent limit is infinite).
    pub fn contains(&self, other: &ResourceLimits) -> bool {
        self.iter().all(|(name, limit)| other.get(name).is_some_and(|o| limit >= o))
    }

    /// True if `quantities` fit within these limits.
    pub fn contains_quantities(&self, quantities: &ResourceQuantities) -> bool {
        quantities.iter().all(|(name, q)| self.get(name).is_none_or(|limit| limit >= q))
    }
}

impl std::ops::SubAssign<&ResourceQuantities> for ResourceLimits {
    /// Lowers finite limits by the quantities, never below zero.
    fn sub_assign(&mut self, rhs: &ResourceQuantities) {
        for (name, limit) in &mut self.0 {
            *limit = limit.saturating_sub_to_zero(rhs.get(name));
        }
    }
}

impl std::ops::Sub<&ResourceQuantities> for &ResourceLimits {
    type Output = ResourceLimits;
    fn sub(self, rhs: &ResourceQuantities) -> ResourceLimits {
        let mut r = self.clone();
        r -= rhs;
        r
    }
}

impl fmt::Display for ResourceLimits {
    /// `cpus:10; mem:1024`, or `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pairs(f, &self.0)
    }
}

/// A role's quota: guaranteed amounts and upper limits. The default quota
/// guarantees nothing and limits nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Amounts the role is guaranteed.
    pub guarantees: ResourceQuantities,
    /// Amounts the role may not exceed.
    pub limits: ResourceLimits,
}

impl Quota {
    /// True for the default quota.
    pub fn is_default(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }

    /// From the v1 `QuotaConfig` (UPDATE_QUOTA).
    pub fn from_config(config: &QuotaConfig) -> Quota {
        Quota {
            guarantees: ResourceQuantities::from_pairs(
                config.guarantees.iter().map(|(k, v)| (k.as_str(), Scalar::from_proto(v))),
            ),
            limits: ResourceLimits::from_pairs(config.limits.iter().map(|(k, v)| (k.as_str(), Scalar::from_proto(v)))),
        }
    }

    /// From the legacy `QuotaInfo` (SET_QUOTA): the guarantee is also the limit.
    pub fn from_info(info: &QuotaInfo) -> Quota {
        let guarantees = ResourceQuantities::from_scalar_protos(&info.guarantee);
        let limits = ResourceLimits::from_pairs(
            info.guarantee
                .iter()
                .map(|r| (r.name.as_str(), r.scalar.as_ref().map_or(Scalar::ZERO, Scalar::from_proto))),
        );
        Quota { guarantees, limits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> ResourceQuantities {
        ResourceQuantities::from_string(text).unwrap()
    }

    #[test]
    fn quantities_parse_merge_and_drop_zero() {
        let x = q("cpus:10; mem:1024;cpus:0.5;disk:0");
        assert_eq!(x.to_string(), "cpus:10.5; mem:1024");
        assert_eq!(x.get("disk"), Scalar::ZERO);
        assert_eq!(
            ResourceQuantities::from_string("cpus").unwrap_err().to_string(),
            "Failed to parse 'cpus': missing or extra ':'"
        );
        assert_eq!(
            ResourceQuantities::from_string("ports:[1-2]").unwrap_err().to_string(),
            "Failed to parse '[1-2]' to quantity: only scalar values are allowed"
        );
        assert!(ResourceQuantities::from_string("cpus:-1").unwrap_err().0.contains("Negative values"));
    }

    #[test]
    fn quantities_arithmetic() {
        let mut a = q("cpus:2;mem:10");
        a -= &q("cpus:3;disk:5;mem:4");
        assert_eq!(a, q("mem:6"));
        assert!(q("cpus:2;mem:10").contains(&q("cpus:1")));
        assert!(!q("cpus:2").contains(&q("cpus:1;mem:1")));
        assert_eq!(&q("cpus:1") + &q("mem:1"), q("mem:1;cpus:1"));
    }

    #[test]
    fn limits_absent_means_infinite() {
        let l = ResourceLimits::from_string("cpus:10;mem:0").unwrap();
        assert_eq!(l.get("mem"), Some(Scalar::ZERO));
        assert_eq!(l.get("disk"), None);
        assert!(l.contains_quantities(&q("cpus:10;disk:1000")));
        assert!(!l.contains_quantities(&q("mem:1")));
        assert!(ResourceLimits::new().contains(&l));
        assert!(!l.contains(&ResourceLimits::new()));
        let rest = &l - &q("cpus:4;mem:5");
        assert_eq!(rest.get("cpus"), Some(Scalar::from_int(6)));
        assert_eq!(rest.get("mem"), Some(Scalar::ZERO));
        assert!(ResourceLimits::from_string("cpus:1;cpus:2").unwrap_err().0.contains("duplicate names"));
    }
}
