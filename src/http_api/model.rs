//! JSON writers shared by the master's and the agent's endpoints: Mesos's
//! `json(writer, ...)` overloads in `src/common/http.cpp` (resources as a
//! `{name: value}` object, attributes likewise, labels, commands, tasks and
//! their statuses). Doubles print as doubles (`0.0`), as rapidjson does.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::common::resources::{Resources, Value as ResourceValue};
use crate::http_api::json::to_value;
use crate::proto::mesos::{Attribute, CommandInfo, Labels, Task, TaskState, TaskStatus};

/// A double as Mesos writes it (non-finite values become `null`).
pub fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
}

/// `json(writer, Resources)`: scalars summed by name (`cpus`, `gpus`, `mem`,
/// `disk` always present), ranges and sets as text; revocable ones with a
/// `_revocable` suffix.
pub fn resources(resources: &Resources) -> Value {
    let mut scalars: BTreeMap<String, f64> =
        ["cpus", "gpus", "mem", "disk"].iter().map(|n| (n.to_string(), 0.0)).collect();
    let mut ranges: BTreeMap<String, crate::common::values::Ranges> = BTreeMap::new();
    let mut sets: BTreeMap<String, crate::common::values::Set> = BTreeMap::new();
    for item in resources {
        let name = if item.is_revocable() { format!("{}_revocable", item.name()) } else { item.name().to_string() };
        match item.value() {
            ResourceValue::Scalar(s) => *scalars.entry(name).or_default() += s.to_f64(),
            ResourceValue::Ranges(r) => ranges.entry(name).or_default().add(r),
            ResourceValue::Set(s) => sets.entry(name).or_default().add(s),
        }
    }
    let mut out = Map::new();
    for (name, v) in scalars {
        out.insert(name, number(v));
    }
    for (name, r) in ranges {
        out.insert(name, Value::String(r.to_string()));
    }
    for (name, s) in sets {
        out.insert(name, Value::String(s.to_string()));
    }
    Value::Object(out)
}

/// `json(writer, Resources)` over protobuf resources.
pub fn resource_protos(protos: &[crate::proto::mesos::Resource]) -> Value {
    resources(&Resources::from_protos(protos))
}

/// `json(writer, Labels)`.
pub fn labels(labels: &Labels) -> Value {
    Value::Array(labels.labels.iter().map(to_value).collect())
}

/// Attributes as `{"rack": 2, "os": "ubuntu", "ports": "[1-5]"}`.
pub fn attributes(attrs: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attrs {
        let value = if let Some(s) = &a.scalar {
            number(s.value)
        } else if let Some(r) = &a.ranges {
            Value::String(crate::common::values::Ranges::from_proto(r).to_string())
        } else if let Some(s) = &a.set {
            Value::String(crate::common::values::Set::from_proto(s).to_string())
        } else if let Some(t) = &a.text {
            Value::String(t.value.clone())
        } else {
            continue;
        };
        out.insert(a.name.clone(), value);
    }
    Value::Object(out)
}

/// `json(writer, TaskStatus)`.
pub fn task_status(status: &TaskStatus) -> Value {
    let mut out = Map::new();
    let state = TaskState::try_from(status.state).map(|s| s.as_str_name()).unwrap_or("TASK_UNKNOWN");
    out.insert("state".into(), json!(state));
    out.insert("timestamp".into(), number(status.timestamp.unwrap_or(0.0)));
    if let Some(l) = &status.labels {
        out.insert("labels".into(), labels(l));
    }
    if let Some(cs) = &status.container_status {
        let mut c = Map::new();
        if let Some(id) = &cs.container_id {
            c.insert("container_id".into(), to_value(id));
        }
        if !cs.network_infos.is_empty() {
            c.insert("network_infos".into(), Value::Array(cs.network_infos.iter().map(to_value).collect()));
        }
        if let Some(cg) = &cs.cgroup_info {
            c.insert("cgroup_info".into(), to_value(cg));
        }
        out.insert("container_status".into(), Value::Object(c));
    }
    if let Some(h) = status.healthy {
        out.insert("healthy".into(), json!(h));
    }
    Value::Object(out)
}

/// `json(writer, Task)`.
pub fn task(task: &Task) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(task.task_id.value));
    out.insert("name".into(), json!(task.name));
    out.insert("framework_id".into(), json!(task.framework_id.value));
    out.insert("executor_id".into(), json!(task.executor_id.as_ref().map(|e| e.value.as_str()).unwrap_or("")));
    out.insert("slave_id".into(), json!(task.slave_id.value));
    let state = TaskState::try_from(task.state).map(|s| s.as_str_name()).unwrap_or("TASK_UNKNOWN");
    out.insert("state".into(), json!(state));
    out.insert("resources".into(), resource_protos(&task.resources));
    if !task.limits.is_empty() {
        let limits: Map<String, Value> = task.limits.iter().map(|(k, v)| (k.clone(), number(v.value))).collect();
        out.insert("limits".into(), Value::Object(limits));
    }
    let role = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
    out.insert("role".into(), json!(role.unwrap_or_default()));
    out.insert("statuses".into(), Value::Array(task.statuses.iter().map(task_status).collect()));
    if let Some(u) = &task.user {
        out.insert("user".into(), json!(u));
    }
    if let Some(l) = &task.labels {
        out.insert("labels".into(), labels(l));
    }
    if let Some(d) = &task.discovery {
        out.insert("discovery".into(), to_value(d));
    }
    if let Some(c) = &task.container {
        out.insert("container".into(), to_value(c));
    }
    if let Some(h) = &task.health_check {
        out.insert("health_check".into(), to_value(h));
    }
    Value::Object(out)
}

/// `json(writer, CommandInfo)`.
pub fn command(command: &CommandInfo) -> Value {
    let mut out = Map::new();
    if let Some(s) = command.shell {
        out.insert("shell".into(), json!(s));
    }
    if let Some(v) = &command.value {
        out.insert("value".into(), json!(v));
    }
    out.insert("argv".into(), json!(command.arguments));
    if let Some(e) = &command.environment {
        out.insert("environment".into(), to_value(e));
    }
    let uris: Vec<Value> =
        command.uris.iter().map(|u| json!({"value": u.value, "executable": u.executable.unwrap_or(false)})).collect();
    out.insert("uris".into(), Value::Array(uris));
    Value::Object(out)
}
