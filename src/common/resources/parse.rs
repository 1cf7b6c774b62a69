//! The text forms of resources, as `--resources` and the operator API take
//! them:
//!
//! - simple: `cpus:4;mem(role1):1024;ports:[31000-32000];disks:{a,b}`, where
//!   a `(role)` makes a static reservation and resources without one get the
//!   default role (`*`: unreserved);
//! - JSON: `[{"name":"cpus","type":"SCALAR","scalar":{"value":8}}]`, where
//!   resources with neither `role` nor `reservations` get the default role.
//!
//! Text that is a JSON array is read as JSON, anything else as the simple
//! form. Error messages are Mesos's.

use std::collections::HashMap;

use super::format::upgrade_resource;
use super::validate::validate;
use super::{item_from_proto, Resources};
use crate::common::values::{self, trim, ParsedValue};
use crate::proto::mesos::resource::reservation_info::Type as ReservationType;
use crate::proto::mesos::resource::ReservationInfo;
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::Resource;

/// Why resource text was refused; the text is Mesos's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses one `name(role):value` resource (Mesos's `Resources::parse(name,
/// value, role)`): a role other than `*` becomes a static reservation. The
/// result is not validated.
pub fn parse_resource(name: &str, value: &str, role: &str) -> Result<Resource, ParseError> {
    let parsed = values::parse(value)
        .map_err(|e| ParseError(format!("Failed to parse resource {name} value {value} error {e}")))?;
    let mut resource = Resource { name: name.to_string(), ..Default::default() };
    if role != "*" {
        resource.reservations.push(ReservationInfo {
            r#type: Some(ReservationType::Static as i32),
            role: Some(role.to_string()),
            ..Default::default()
        });
    }
    match parsed {
        ParsedValue::Scalar(v) => {
            resource.set_type(ValueType::Scalar);
            resource.scalar = Some(crate::proto::mesos::value::Scalar { value: v });
        }
        ParsedValue::Ranges(r) => {
            resource.set_type(ValueType::Ranges);
            resource.ranges = Some(r.to_proto());
        }
        ParsedValue::Set(s) => {
            resource.set_type(ValueType::Set);
            resource.set = Some(s.to_proto());
        }
        ParsedValue::Text(_) => {
            return Err(ParseError(format!("Bad type for resource {name} value {value} type TEXT")));
        }
    }
    Ok(resource)
}

/// The simple form, `name(role):value;...` (`Resources::fromSimpleString`).
/// Results may be invalid or empty; [`parse`] checks them.
pub fn from_simple_string(text: &str, default_role: &str) -> Result<Vec<Resource>, ParseError> {
    let mut resources = Vec::new();
    for token in values::tokenize(text, &[';']) {
        let pair: Vec<&str> = values::tokenize(token, &[':']).collect();
        if pair.len() != 2 {
            return Err(ParseError(format!("Bad value for resources, missing or extra ':' in {token}")));
        }
        let (name, role) = match pair[0].find('(') {
            None => (trim(pair[0]), default_role),
            Some(open) => {
                let close = pair[0].find(')');
                match close {
                    Some(close) if close >= open => (trim(&pair[0][..open]), trim(&pair[0][open + 1..close])),
                    _ => return Err(ParseError(format!("Bad value for resources, mismatched parentheses in {token}"))),
                }
            }
        };
        let mut resource = parse_resource(name, pair[1], role)?;
        upgrade_resource(&mut resource);
        resources.push(resource);
    }
    Ok(resources)
}

/// The JSON array form (`Resources::fromJSON`). Results may be invalid.
pub fn from_json(json: &serde_json::Value, default_role: &str) -> Result<Vec<Resource>, ParseError> {
    let mut resources: Vec<Resource> = crate::http_api::json::list_from_value(json)
        .map_err(|e| ParseError(format!("Some JSON resources were not formatted properly: {e}")))?;
    for resource in &mut resources {
        #[allow(deprecated)]
        if resource.role.is_none() && resource.reservations.is_empty() {
            resource.role = Some(default_role.to_string());
        }
        upgrade_resource(resource);
    }
    Ok(resources)
}

/// JSON if the text is a JSON array, the simple form otherwise
/// (`Resources::fromString`). Results may be invalid.
pub fn from_string(text: &str, default_role: &str) -> Result<Vec<Resource>, ParseError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json @ serde_json::Value::Array(_)) => from_json(&json, default_role),
        _ => from_simple_string(text, default_role),
    }
}

/// Parses and validates resources given on a command line or in an agent's
/// `--resources` (`Resources::parse(text, defaultRole)`): every resource must
/// be valid, and command-line resources may not be persistent volumes,
/// revocable, dynamically reserved, or use one name with two types.
pub fn parse(text: &str, default_role: &str) -> Result<Resources, ParseError> {
    let mut result = Resources::new();
    for resource in from_string(text, default_role)? {
        validate(&resource).map_err(|e| ParseError(e.0))?;
        if let Ok(item) = item_from_proto(&resource) {
            result.add_item(item);
        }
    }
    validate_command_line(&result)?;
    Ok(result)
}

fn validate_command_line(resources: &Resources) -> Result<(), ParseError> {
    let mut types: HashMap<&str, ValueType> = HashMap::new();
    for item in resources {
        if item.is_persistent_volume() {
            return Err(ParseError("Persistent volumes cannot be specified at the command line".into()));
        }
        if item.is_revocable() {
            return Err(ParseError(
                "Revocable resources cannot be specified at the command line; do not include a 'revocable' key in the resources JSON".into(),
            ));
        }
        if item.is_dynamically_reserved() {
            return Err(ParseError(
                "Dynamic reservations cannot be specified at the command line; do not include a reservation with DYNAMIC type in the resources JSON".into(),
            ));
        }
        let kind = item.value().value_type();
        match types.get(item.name()) {
            Some(&known) if known != kind => {
                return Err(ParseError(format!(
                    "Resources with the same name ('{}') but different types are not allowed",
                    item.name()
                )))
            }
            Some(_) => {}
            None => {
                types.insert(item.name(), kind);
            }
        }
    }
    Ok(())
}

impl Resources {
    /// [`parse`]: Mesos's `Resources::parse(text, defaultRole)`.
    pub fn parse(text: &str, default_role: &str) -> Result<Resources, ParseError> {
        parse(text, default_role)
    }
}
