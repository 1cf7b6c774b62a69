//! The JSON shapes of Mesos's endpoints (`src/common/http.cpp`: the
//! `json(writer, ...)` overloads and `model(...)`): resources as a
//! `{name: value}` object, attributes likewise, tasks, statuses, executor
//! and command infos. The master's endpoints use the same shapes, so this
//! module knows nothing about the agent.

use serde_json::{json, Map, Value};

use crate::common::resources::Resources;
use crate::common::values::{Ranges, Set};
use crate::http_api::json as pbjson;
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::{Attribute, CommandInfo, Labels, Resource, Task, TaskInfo, TaskStatus};

/// A number the way Mesos's JSON writer prints a double: integral values
/// without a fraction.
pub fn number(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Resources as `{"cpus": 1, "gpus": 0, "mem": 128, "disk": 0, "ports":
/// "[31000-31005]"}`: scalars summed, ranges and sets merged per name,
/// revocable ones under `<name>_revocable` (Mesos's `json(writer, Resources)`).
pub fn resources<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Value {
    let mut scalars: Map<String, Value> = Map::new();
    let mut sums: std::collections::BTreeMap<String, f64> =
        ["cpus", "gpus", "mem", "disk"].iter().map(|n| (n.to_string(), 0.0)).collect();
    let mut ranges: std::collections::BTreeMap<String, Ranges> = Default::default();
    let mut sets: std::collections::BTreeMap<String, Set> = Default::default();
    for r in resources {
        let name = if r.revocable.is_some() { format!("{}_revocable", r.name) } else { r.name.clone() };
        match r.r#type() {
            ValueType::Scalar => *sums.entry(name).or_default() += r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0),
            ValueType::Ranges => {
                let add = Ranges::from_proto(&r.ranges.clone().unwrap_or_default());
                ranges.entry(name).or_default().add(&add);
            }
            ValueType::Set => {
                let add = Set::from_proto(&r.set.clone().unwrap_or_default());
                sets.entry(name).or_default().add(&add);
            }
            ValueType::Text => {}
        }
    }
    for (name, v) in sums {
        // Mesos sums in fixed point; round to thousandths likewise.
        scalars.insert(name, number((v * 1000.0).round() / 1000.0));
    }
    for (name, r) in ranges {
        scalars.insert(name, json!(r.to_string()));
    }
    for (name, s) in sets {
        scalars.insert(name, json!(s.to_string()));
    }
    Value::Object(scalars)
}

pub fn resources_of(r: &Resources) -> Value {
    resources(r.to_protos().iter())
}

/// Attributes as `{"rack": 2, "os": "ubuntu", "ports": "[1-5]"}`.
pub fn attributes(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attributes {
        let v = match a.r#type() {
            ValueType::Scalar => number(a.scalar.as_ref().map(|s| s.value).unwrap_or(0.0)),
            ValueType::Ranges => json!(Ranges::from_proto(&a.ranges.clone().unwrap_or_default()).to_string()),
            ValueType::Set => json!(Set::from_proto(&a.set.clone().unwrap_or_default()).to_string()),
            ValueType::Text => json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default()),
        };
        out.insert(a.name.clone(), v);
    }
    Value::Object(out)
}

pub fn labels(labels: &Labels) -> Value {
    Value::Array(labels.labels.iter().map(pbjson::to_value).collect())
}

/// The role of the first resource, as Mesos reports a task's role.
fn role(resources: &[Resource]) -> Option<String> {
    resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone())
}

pub fn command(command: &CommandInfo) -> Value {
    let mut out = Map::new();
    if let Some(shell) = command.shell {
        out.insert("shell".into(), json!(shell));
    }
    if let Some(value) = &command.value {
        out.insert("value".into(), json!(value));
    }
    out.insert("argv".into(), json!(command.arguments));
    if let Some(env) = &command.environment {
        out.insert("environment".into(), pbjson::to_value(env));
    }
    let uris: Vec<Value> = command
        .uris
        .iter()
        .map(|u| json!({"value": u.value, "executable": u.executable.unwrap_or(false)}))
        .collect();
    out.insert("uris".into(), Value::Array(uris));
    Value::Object(out)
}

pub fn task_status(status: &TaskStatus) -> Value {
    let mut out = Map::new();
    out.insert("state".into(), json!(status.state().as_str_name()));
    out.insert("timestamp".into(), number(status.timestamp.unwrap_or(0.0)));
    if let Some(l) = &status.labels {
        out.insert("labels".into(), labels(l));
    }
    if let Some(cs) = &status.container_status {
        let mut c = Map::new();
        if let Some(id) = &cs.container_id {
            c.insert("container_id".into(), pbjson::to_value(id));
        }
        if !cs.network_infos.is_empty() {
            c.insert("network_infos".into(), Value::Array(cs.network_infos.iter().map(pbjson::to_value).collect()));
        }
        if let Some(cg) = &cs.cgroup_info {
            c.insert("cgroup_info".into(), pbjson::to_value(cg));
        }
        out.insert("container_status".into(), Value::Object(c));
    }
    if let Some(h) = status.healthy {
        out.insert("healthy".into(), json!(h));
    }
    Value::Object(out)
}

/// A task the agent runs (Mesos's `json(writer, Task)`).
pub fn task(task: &Task) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(task.task_id.value));
    out.insert("name".into(), json!(task.name));
    out.insert("framework_id".into(), json!(task.framework_id.value));
    out.insert("executor_id".into(), json!(task.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default()));
    out.insert("slave_id".into(), json!(task.slave_id.value));
    out.insert("state".into(), json!(task.state().as_str_name()));
    out.insert("resources".into(), resources(task.resources.iter()));
    if !task.limits.is_empty() {
        let limits: Map<String, Value> = task.limits.iter().map(|(k, v)| (k.clone(), number(v.value))).collect();
        out.insert("limits".into(), Value::Object(limits));
    }
    if let Some(role) = role(&task.resources) {
        out.insert("role".into(), json!(role));
    }
    out.insert("statuses".into(), Value::Array(task.statuses.iter().map(task_status).collect()));
    if let Some(user) = &task.user {
        out.insert("user".into(), json!(user));
    }
    if let Some(l) = &task.labels {
        out.insert("labels".into(), labels(l));
    }
    if let Some(d) = &task.discovery {
        out.insert("discovery".into(), pbjson::to_value(d));
    }
    if let Some(c) = &task.container {
        out.insert("container".into(), pbjson::to_value(c));
    }
    if let Some(h) = &task.health_check {
        out.insert("health_check".into(), pbjson::to_value(h));
    }
    Value::Object(out)
}

/// A task not yet given to its executor (Mesos's `json(writer, TaskInfo)`
/// in `slave/http.cpp`).
pub fn queued_task(task: &TaskInfo) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(task.task_id.value));
    out.insert("name".into(), json!(task.name));
    out.insert("slave_id".into(), json!(task.slave_id.value));
    out.insert("resources".into(), resources(task.resources.iter()));
    if let Some(role) = role(&task.resources) {
        out.insert("role".into(), json!(role));
    }
    if let Some(c) = &task.command {
        out.insert("command".into(), command(c));
    }
    if let Some(e) = &task.executor {
        out.insert("executor_id".into(), json!(e.executor_id.value));
    }
    if let Some(d) = &task.discovery {
        out.insert("discovery".into(), pbjson::to_value(d));
    }
    Value::Object(out)
}

/// `path`, `nlink`, `size`, `mtime`, `mode` (`drwxr-xr-x`), `uid`, `gid`, as
/// `/files/browse` lists a file (Mesos's `model(FileInfo)`).
pub fn file_info(path: &str, meta: &std::fs::Metadata) -> Value {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o120000 => 'l',
        0o140000 => 's',
        _ => '-',
    };
    let mut text = String::with_capacity(10);
    text.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let uid = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(meta.uid()))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| meta.uid().to_string());
    let gid = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| meta.gid().to_string());
    json!({
        "path": path,
        "nlink": meta.nlink(),
        "size": meta.size(),
        "mtime": meta.mtime(),
        "mode": text,
        "uid": uid,
        "gid": gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_summed_by_name_with_the_big_four_always_present() {
        let r = crate::common::resources::Resources::parse("cpus:1.5;mem:128;ports:[31000-31005];cpus(web):0.5", "*")
            .unwrap()
            .to_protos();
        let v = resources(r.iter());
        assert_eq!(v["cpus"], json!(2));
        assert_eq!(v["mem"], json!(128));
        assert_eq!(v["disk"], json!(0));
        assert_eq!(v["gpus"], json!(0));
        assert_eq!(v["ports"], json!("[31000-31005]"));
    }

    #[test]
    fn modes_print_like_ls() {
        let dir = std::env::temp_dir();
        let meta = std::fs::metadata(&dir).unwrap();
        let v = file_info("/tmp", &meta);
        assert!(v["mode"].as_str().unwrap().starts_with('d'));
        assert_eq!(v["mode"].as_str().unwrap().len(), 10);
    }
}
