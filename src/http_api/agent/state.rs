//! `/state` and `/metrics/snapshot` of the agent, with Mesos 1.11's keys
//! (`Http::state` in `src/slave/http.cpp`, `src/slave/metrics.cpp`).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::model;
use crate::agent::core::{Agent, AgentState, Executor, ExecutorState, Framework, MESOS_VERSION};
use crate::common::resources::format::{convert_resource_format, ResourceFormat};
use crate::common::resources::Resources;
use crate::http_api::json as pbjson;
use crate::proto::mesos::framework_info::capability::Type as FrameworkCapability;
use crate::proto::mesos::TaskState;

/// What the endpoint needs besides the agent.
#[derive(Debug, Clone, Default)]
pub struct StateContext {
    /// `/flags` values.
    pub flags: BTreeMap<String, String>,
    pub log_dir: Option<String>,
    pub external_log_file: Option<String>,
    /// The master's hostname, if it resolves.
    pub master_hostname: Option<String>,
    pub build_date: String,
    pub build_time: f64,
    pub build_user: String,
}

fn executor_json(e: &Executor) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(e.id));
    out.insert("name".into(), json!(e.info.name()));
    #[allow(deprecated)]
    out.insert("source".into(), json!(e.info.source()));
    out.insert("container".into(), json!(e.container_id));
    out.insert("directory".into(), json!(e.directory.display().to_string()));
    out.insert("resources".into(), model::resources_of(&e.allocated_resources()));
    if let Some(role) = e.info.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone()) {
        out.insert("role".into(), json!(role));
    }
    if let Some(l) = &e.info.labels {
        out.insert("labels".into(), model::labels(l));
    }
    if e.info.r#type.is_some() {
        out.insert("type".into(), json!(e.info.r#type().as_str_name()));
    }
    out.insert("tasks".into(), Value::Array(e.launched_tasks.values().map(model::task).collect()));
    out.insert("queued_tasks".into(), Value::Array(e.queued_tasks.iter().map(model::queued_task).collect()));
    let mut completed: Vec<Value> = e.completed_tasks.iter().map(model::task).collect();
    completed.extend(e.terminated_tasks.values().map(model::task));
    out.insert("completed_tasks".into(), Value::Array(completed));
    Value::Object(out)
}

#[allow(deprecated)]
fn framework_json(f: &Framework) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(f.id));
    out.insert("name".into(), json!(f.info.name));
    out.insert("user".into(), json!(f.info.user));
    out.insert("failover_timeout".into(), model::number(f.info.failover_timeout.unwrap_or(0.0)));
    out.insert("checkpoint".into(), json!(f.info.checkpoint()));
    out.insert("hostname".into(), json!(f.info.hostname.clone().unwrap_or_default()));
    if let Some(p) = &f.info.principal {
        out.insert("principal".into(), json!(p));
    }
    if f.has_capability(FrameworkCapability::MultiRole) {
        out.insert("roles".into(), json!(f.info.roles));
    } else {
        out.insert("role".into(), json!(f.info.role.clone().unwrap_or_else(|| "*".into())));
    }
    out.insert("executors".into(), Value::Array(f.executors.values().map(executor_json).collect()));
    out.insert("completed_executors".into(), Value::Array(f.completed_executors.iter().map(executor_json).collect()));
    Value::Object(out)
}

fn full(resources: &Resources) -> Value {
    Value::Array(
        resources
            .to_protos()
            .into_iter()
            .map(|mut r| {
                let _ = convert_resource_format(&mut r, ResourceFormat::Endpoint);
                pbjson::to_value(&r)
            })
            .collect(),
    )
}

/// The `/state` document.
pub fn state(agent: &Agent, ctx: &StateContext) -> Value {
    let info = agent.info();
    let total = agent.total_resources();
    let mut out = Map::new();
    out.insert("version".into(), json!(MESOS_VERSION));
    out.insert("build_date".into(), json!(ctx.build_date));
    out.insert("build_time".into(), model::number(ctx.build_time));
    out.insert("build_user".into(), json!(ctx.build_user));
    out.insert("start_time".into(), model::number(agent.start_time().secs()));
    out.insert("id".into(), json!(info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default()));
    out.insert("pid".into(), json!(agent.config().pid.to_string()));
    out.insert("hostname".into(), json!(info.hostname));
    out.insert(
        "capabilities".into(),
        Value::Array(agent.config().capabilities.iter().map(|c| json!(c.r#type().as_str_name())).collect()),
    );
    if let Some(domain) = &info.domain {
        out.insert("domain".into(), pbjson::to_value(domain));
    }
    out.insert("resources".into(), model::resources_of(total));
    let reservations = total.reservations();
    out.insert(
        "reserved_resources".into(),
        Value::Object(reservations.iter().map(|(role, r)| (role.clone(), model::resources_of(r))).collect()),
    );
    out.insert("unreserved_resources".into(), model::resources_of(&total.unreserved()));
    out.insert(
        "reserved_resources_full".into(),
        Value::Object(reservations.iter().map(|(role, r)| (role.clone(), full(r))).collect()),
    );
    out.insert("unreserved_resources_full".into(), full(&total.unreserved()));
    let mut allocated = Resources::new();
    for f in agent.frameworks().values() {
        allocated.add_all(&f.allocated_resources());
    }
    out.insert(
        "reserved_resources_allocated".into(),
        Value::Object(
            allocated.reservations().iter().map(|(role, r)| (role.clone(), model::resources_of(r))).collect(),
        ),
    );
    out.insert("unreserved_resources_allocated".into(), model::resources_of(&allocated.unreserved()));
    out.insert("resource_providers".into(), json!([]));
    out.insert("attributes".into(), model::attributes(&info.attributes));
    if let Some(h) = &ctx.master_hostname {
        out.insert("master_hostname".into(), json!(h));
    }
    if let Some(d) = &ctx.log_dir {
        out.insert("log_dir".into(), json!(d));
    }
    if let Some(f) = &ctx.external_log_file {
        out.insert("external_log_file".into(), json!(f));
    }
    out.insert("flags".into(), json!(ctx.flags));
    out.insert("frameworks".into(), Value::Array(agent.frameworks().values().map(framework_json).collect()));
    out.insert(
        "completed_frameworks".into(),
        Value::Array(agent.completed_frameworks().iter().map(framework_json).collect()),
    );
    Value::Object(out)
}

/// The agent's `slave/*` metrics.
pub fn metrics(agent: &Agent, now_secs: f64) -> Map<String, Value> {
    let m = agent.metrics();
    let mut out = Map::new();
    let mut put = |k: &str, v: f64| {
        out.insert(format!("slave/{k}"), model::number(v));
    };
    put("uptime_secs", now_secs - agent.start_time().secs());
    put("registered", if agent.state() == AgentState::Running { 1.0 } else { 0.0 });
    put("recovery_errors", m.recovery_errors as f64);
    if let Some(t) = m.recovery_time_secs {
        put("recovery_time_secs", t);
    }
    let frameworks = agent.frameworks();
    put("frameworks_active", frameworks.len() as f64);
    let executors: Vec<&Executor> = frameworks.values().flat_map(|f| f.executors.values()).collect();
    let count_state = |s: TaskState| {
        executors.iter().map(|e| e.launched_tasks.values().filter(|t| t.state() == s).count()).sum::<usize>() as f64
    };
    let queued: f64 = executors.iter().map(|e| e.queued_tasks.len()).sum::<usize>() as f64;
    put("tasks_staging", queued + count_state(TaskState::TaskStaging));
    put("tasks_starting", count_state(TaskState::TaskStarting));
    put("tasks_running", count_state(TaskState::TaskRunning));
    put("tasks_killing", count_state(TaskState::TaskKilling));
    put("tasks_finished", m.tasks_finished as f64);
    put("tasks_failed", m.tasks_failed as f64);
    put("tasks_killed", m.tasks_killed as f64);
    put("tasks_lost", m.tasks_lost as f64);
    put("tasks_gone", m.tasks_gone as f64);
    let count_executors = |s: ExecutorState| executors.iter().filter(|e| e.state == s).count() as f64;
    put("executors_registering", count_executors(ExecutorState::Registering));
    put("executors_running", count_executors(ExecutorState::Running));
    put("executors_terminating", count_executors(ExecutorState::Terminating));
    put("executors_terminated", m.executors_terminated as f64);
    put("executors_preempted", m.executors_preempted as f64);
    put("valid_status_updates", m.valid_status_updates as f64);
    put("invalid_status_updates", m.invalid_status_updates as f64);
    put("valid_framework_messages", m.valid_framework_messages as f64);
    put("invalid_framework_messages", m.invalid_framework_messages as f64);
    put("executor_directory_max_allowed_age_secs", agent.config().gc_delay.as_secs_f64());
    put("container_launch_errors", m.container_launch_errors as f64);
    let total = agent.total_resources();
    let mut used = Resources::new();
    for f in frameworks.values() {
        used.add_all(&f.allocated_resources());
    }
    for name in ["cpus", "gpus", "mem", "disk"] {
        for revocable in [false, true] {
            let pick = |r: &Resources| {
                let r = if revocable { r.revocable() } else { r.non_revocable() };
                r.get_scalar(name).map(|s| s.to_f64()).unwrap_or(0.0)
            };
            let (t, u) = (pick(total), pick(&used));
            let key = if revocable { format!("{name}_revocable") } else { name.to_string() };
            put(&format!("{key}_total"), t);
            put(&format!("{key}_used"), u);
            put(&format!("{key}_percent"), if t == 0.0 { 0.0 } else { u / t });
        }
    }
    out
}
