//! The agent's own endpoint shapes (queued tasks, `/files` entries); the
//! writers shared with the master live in [`crate::http_api::model`].

use serde_json::{json, Map, Value};

use crate::common::resources::Resources;
use crate::http_api::json as pbjson;
pub use crate::http_api::model::{attributes, command, labels, number, resource_protos, resources, task, task_status};
use crate::proto::mesos::TaskInfo;

/// `json(writer, Resources)` for a resource collection.
pub fn resources_of(r: &Resources) -> Value {
    resources(r)
}

/// The role of the first resource, as Mesos reports a task's role.
fn role(resources: &[crate::proto::mesos::Resource]) -> Option<String> {
    resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone())
}

/// A task not yet given to its executor (Mesos's `json(writer, TaskInfo)`
/// in `slave/http.cpp`).
pub fn queued_task(task: &TaskInfo) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(task.task_id.value));
    out.insert("name".into(), json!(task.name));
    out.insert("slave_id".into(), json!(task.slave_id.value));
    out.insert("resources".into(), resource_protos(&task.resources));
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
        let v = resource_protos(&r);
        assert_eq!(v["cpus"], json!(2.0));
        assert_eq!(v["mem"], json!(128.0));
        assert_eq!(v["disk"], json!(0.0));
        assert_eq!(v["gpus"], json!(0.0));
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
