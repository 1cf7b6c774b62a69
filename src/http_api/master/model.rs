//! The JSON the master's read-only endpoints return, key for key as Mesos
//! 1.11 writes it (`src/master/readonly_handler.cpp`'s writers and the
//! `json()` overloads of `src/common/http.cpp`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use crate::common::resource_quantities::ResourceQuantities;
use crate::common::resources::format::{convert_resource_format, ResourceFormat};
use crate::common::resources::Resources;
use crate::http_api::json::to_value;
pub use crate::http_api::model::{attributes, command, labels, number, resource_protos, resources, task, task_status};
use crate::master::state::{Agent, Framework, OfferEntry};
use crate::master::{Master, Now, MESOS_VERSION};
use crate::proto::mesos::{DomainInfo, ExecutorInfo, MasterInfo, SlaveId, SlaveInfo, Task, TaskState};

/// What the endpoints report beyond the state machine's books.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `/flags`: every flag with a value, stout-formatted.
    pub flags: BTreeMap<String, String>,
    pub log_dir: Option<String>,
    pub external_log_file: Option<String>,
    /// The running logger (GET/SET_LOGGING_LEVEL, the log file).
    pub logging: Option<std::sync::Arc<crate::common::logging::Logging>>,
}

/// `json(writer, ResourceQuantities)`.
pub fn quantities(q: &ResourceQuantities) -> Value {
    let mut out = Map::new();
    for (name, value) in q.iter() {
        out.insert(name.to_string(), number(value.to_f64()));
    }
    Value::Object(out)
}

/// Resources in the endpoint format, one protobuf JSON object each.
fn resources_full(resources: &Resources) -> Value {
    Value::Array(
        resources
            .to_protos()
            .into_iter()
            .map(|mut r| {
                let _ = convert_resource_format(&mut r, ResourceFormat::Endpoint);
                to_value(&r)
            })
            .collect(),
    )
}

fn domain(domain: &DomainInfo) -> Value {
    let mut out = Map::new();
    if let Some(fault) = &domain.fault_domain {
        out.insert(
            "fault_domain".into(),
            json!({"region": {"name": fault.region.name}, "zone": {"name": fault.zone.name}}),
        );
    }
    Value::Object(out)
}

/// `json(writer, SlaveInfo)`.
pub fn slave_info(info: &SlaveInfo) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("")));
    out.insert("hostname".into(), json!(info.hostname));
    out.insert("port".into(), json!(info.port.unwrap_or(5051)));
    out.insert("attributes".into(), attributes(&info.attributes));
    if let Some(d) = &info.domain {
        out.insert("domain".into(), domain(d));
    }
    out
}

/// `json(writer, MasterInfo)` (as `leader_info`).
pub fn master_info(info: &MasterInfo) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(info.id));
    out.insert("pid".into(), json!(info.pid.clone().unwrap_or_default()));
    out.insert("port".into(), json!(info.port));
    out.insert("hostname".into(), json!(info.hostname.clone().unwrap_or_default()));
    if let Some(d) = &info.domain {
        out.insert("domain".into(), domain(d));
    }
    Value::Object(out)
}

/// `json(writer, ExecutorInfo)`, plus `slave_id` as the framework writer adds.
pub fn executor(info: &ExecutorInfo, agent: &SlaveId) -> Value {
    let mut out = Map::new();
    out.insert("executor_id".into(), json!(info.executor_id.value));
    out.insert("name".into(), json!(info.name.clone().unwrap_or_default()));
    out.insert("framework_id".into(), json!(info.framework_id.as_ref().map(|f| f.value.as_str()).unwrap_or("")));
    out.insert("command".into(), command(&info.command.clone().unwrap_or_default()));
    out.insert("resources".into(), resource_protos(&info.resources));
    if let Some(role) = info.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone()) {
        out.insert("role".into(), json!(role));
    }
    if let Some(l) = &info.labels {
        out.insert("labels".into(), labels(l));
    }
    if let Some(t) = info.r#type {
        let name = crate::proto::mesos::executor_info::Type::try_from(t).map(|t| t.as_str_name()).unwrap_or("UNKNOWN");
        out.insert("type".into(), json!(name));
    }
    out.insert("slave_id".into(), json!(agent.value));
    Value::Object(out)
}

/// `json(writer, Offer)`.
pub fn offer(entry: &OfferEntry) -> Value {
    let o = &entry.offer;
    json!({
        "id": o.id.value,
        "framework_id": o.framework_id.value,
        "allocation_info": o.allocation_info.as_ref().map(to_value).unwrap_or_else(|| json!({})),
        "slave_id": o.slave_id.value,
        "resources": resources(&entry.resources),
    })
}

/// `json(writer, Summary<Framework>)`.
pub fn framework_summary(fw: &Framework) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(fw.id().value));
    out.insert("name".into(), json!(fw.info.name));
    if let Some(pid) = fw.pid() {
        out.insert("pid".into(), json!(pid.to_string()));
    }
    out.insert("used_resources".into(), resources(&fw.total_used));
    out.insert("offered_resources".into(), resources(&fw.total_offered));
    let caps: Vec<&str> = fw.info.capabilities.iter().map(|c| c.r#type().as_str_name()).collect();
    out.insert("capabilities".into(), json!(caps));
    out.insert("hostname".into(), json!(fw.info.hostname.clone().unwrap_or_default()));
    out.insert("webui_url".into(), json!(fw.info.webui_url.clone().unwrap_or_default()));
    out.insert("active".into(), json!(fw.active));
    out.insert("connected".into(), json!(fw.connected()));
    out.insert("recovered".into(), json!(fw.recovered()));
    out
}

/// `FullFrameworkWriter`.
#[allow(deprecated)]
pub fn framework_full(master: &Master, fw: &Framework) -> Value {
    let mut out = framework_summary(fw);
    out.insert("user".into(), json!(fw.info.user));
    out.insert("failover_timeout".into(), number(fw.info.failover_timeout()));
    out.insert("checkpoint".into(), json!(fw.info.checkpoint()));
    out.insert("registered_time".into(), number(fw.registered_time));
    out.insert("unregistered_time".into(), number(fw.unregistered_time));
    if let Some(p) = &fw.info.principal {
        out.insert("principal".into(), json!(p));
    }
    let total = fw.total_used.clone() + &fw.total_offered;
    out.insert("resources".into(), resources(&total));
    if fw.registered_time != fw.reregistered_time {
        out.insert("reregistered_time".into(), number(fw.reregistered_time));
    }
    if fw.caps.multi_role {
        out.insert("roles".into(), json!(fw.info.roles));
    } else {
        out.insert("role".into(), json!(fw.info.role()));
    }
    let tasks: Vec<Value> = fw
        .tasks
        .iter()
        .filter_map(|(t, a)| master.agent(a).and_then(|agent| agent.task(&fw.id(), t)))
        .map(task)
        .collect();
    out.insert("tasks".into(), Value::Array(tasks));
    out.insert("unreachable_tasks".into(), Value::Array(fw.unreachable_tasks.values().map(task).collect()));
    out.insert("completed_tasks".into(), Value::Array(fw.completed_tasks.iter().map(task).collect()));
    let offers: Vec<Value> = fw.offers.iter().filter_map(|id| master.offer(id)).map(offer).collect();
    out.insert("offers".into(), Value::Array(offers));
    let executors: Vec<Value> =
        fw.executors.iter().flat_map(|(agent, m)| m.values().map(move |e| executor(e, agent))).collect();
    out.insert("executors".into(), Value::Array(executors));
    if let Some(l) = &fw.info.labels {
        out.insert("labels".into(), labels(l));
    }
    out.insert("offer_constraints".into(), to_value(&fw.offer_constraints));
    Value::Object(out)
}

/// `SlaveWriter`.
pub fn agent(master: &Master, agent: &Agent) -> Map<String, Value> {
    let mut out = slave_info(&agent.info);
    out.insert("pid".into(), json!(agent.pid.to_string()));
    out.insert("registered_time".into(), number(agent.registered_time));
    if let Some(t) = agent.reregistered_time {
        out.insert("reregistered_time".into(), number(t));
    }
    out.insert("resources".into(), resources(&agent.total));
    out.insert("used_resources".into(), resources(&agent.total_used()));
    out.insert("offered_resources".into(), resources(&agent.offered));
    let reserved: Map<String, Value> =
        agent.total.reservations().iter().map(|(role, r)| (role.clone(), resources(r))).collect();
    out.insert("reserved_resources".into(), Value::Object(reserved));
    out.insert("unreserved_resources".into(), resources(&agent.total.unreserved()));
    out.insert("active".into(), json!(agent.active));
    out.insert("deactivated".into(), json!(master.is_deactivated(&agent.id)));
    out.insert("version".into(), json!(agent.version));
    let caps: Vec<&str> = agent.capabilities.iter().map(|c| c.r#type().as_str_name()).collect();
    out.insert("capabilities".into(), json!(caps));
    out
}

fn agent_full(master: &Master, a: &Agent) -> Value {
    let mut out = agent(master, a);
    let reserved: Map<String, Value> =
        a.total.reservations().iter().map(|(role, r)| (role.clone(), resources_full(r))).collect();
    out.insert("reserved_resources_full".into(), Value::Object(reserved));
    out.insert("unreserved_resources_full".into(), resources_full(&a.total.unreserved()));
    out.insert("used_resources_full".into(), resources_full(&a.total_used()));
    out.insert("offered_resources_full".into(), resources_full(&a.offered));
    Value::Object(out)
}

fn capabilities(info: &MasterInfo) -> Value {
    json!(info.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>())
}

/// `/master/state`.
pub fn state(master: &Master, ctx: &Context) -> Value {
    let info = master.info();
    let mut out = Map::new();
    out.insert("version".into(), json!(MESOS_VERSION));
    out.insert("build_date".into(), json!(option_env!("MESOS_RS_BUILD_DATE").unwrap_or("")));
    out.insert("build_time".into(), number(0.0));
    out.insert("build_user".into(), json!("mesos-rs"));
    out.insert("start_time".into(), number(master.start_time()));
    if let Some(t) = master.elected_time() {
        out.insert("elected_time".into(), number(t));
    }
    out.insert("id".into(), json!(info.id));
    out.insert("pid".into(), json!(info.pid.clone().unwrap_or_default()));
    out.insert("hostname".into(), json!(info.hostname.clone().unwrap_or_default()));
    out.insert("capabilities".into(), capabilities(info));
    let active = master.agents().filter(|a| a.active).count();
    let inactive = master.agents().count() - active;
    out.insert("activated_slaves".into(), number(active as f64));
    out.insert("deactivated_slaves".into(), number(inactive as f64));
    out.insert("unreachable_slaves".into(), number(master.unreachable_agents().count() as f64));
    if let Some(d) = &info.domain {
        out.insert("domain".into(), domain(d));
    }
    if let Some(leader) = master.leader() {
        out.insert("leader".into(), json!(leader.pid.clone().unwrap_or_default()));
        out.insert("leader_info".into(), master_info(leader));
    }
    if let Some(c) = &master.config().cluster {
        out.insert("cluster".into(), json!(c));
    }
    if let Some(d) = &ctx.log_dir {
        out.insert("log_dir".into(), json!(d));
    }
    if let Some(f) = &ctx.external_log_file {
        out.insert("external_log_file".into(), json!(f));
    }
    out.insert("flags".into(), json!(ctx.flags));
    out.insert("slaves".into(), Value::Array(master.agents().map(|a| Value::Object(agent(master, a))).collect()));
    out.insert(
        "recovered_slaves".into(),
        Value::Array(master.recovered_agents().map(|i| Value::Object(slave_info(i))).collect()),
    );
    out.insert("frameworks".into(), Value::Array(master.frameworks().map(|f| framework_full(master, f)).collect()));
    out.insert(
        "completed_frameworks".into(),
        Value::Array(master.completed_frameworks().map(|f| framework_full(master, f)).collect()),
    );
    out.insert("orphan_tasks".into(), json!([]));
    out.insert("unregistered_frameworks".into(), json!([]));
    Value::Object(out)
}

/// `/master/frameworks` (`?framework_id=` selects one).
pub fn frameworks(master: &Master, framework_id: Option<&str>) -> Value {
    let select = |f: &&Framework| framework_id.is_none_or(|id| f.id().value == id);
    json!({
        "frameworks": master.frameworks().filter(select).map(|f| framework_full(master, f)).collect::<Vec<_>>(),
        "completed_frameworks": master.completed_frameworks().filter(select).map(|f| framework_full(master, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `/master/slaves` (`?slave_id=` selects one).
pub fn slaves(master: &Master, slave_id: Option<&str>) -> Value {
    json!({
        "slaves": master.agents().filter(|a| slave_id.is_none_or(|id| a.id.value == id)).map(|a| agent_full(master, a)).collect::<Vec<_>>(),
        "recovered_slaves": master
            .recovered_agents()
            .filter(|i| slave_id.is_none_or(|id| i.id.as_ref().is_some_and(|x| x.value == id)))
            .map(|i| Value::Object(slave_info(i)))
            .collect::<Vec<_>>(),
    })
}

/// `/master/tasks`: `limit` (100), `offset`, `order` (`des`/`asc` by the
/// first status timestamp), `framework_id`, `task_id`.
pub fn tasks(master: &Master, query: &HashMap<String, String>) -> Value {
    let limit = query.get("limit").and_then(|v| v.parse::<usize>().ok()).unwrap_or(100);
    let offset = query.get("offset").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let ascending = query.get("order").map(String::as_str) == Some("asc");
    let framework_id = query.get("framework_id");
    let task_id = query.get("task_id");
    let mut all: Vec<Task> = Vec::new();
    let frameworks = master.frameworks().chain(master.completed_frameworks());
    for fw in frameworks.filter(|f| framework_id.is_none_or(|id| &f.id().value == id)) {
        let active = fw.tasks.iter().filter_map(|(t, a)| master.agent(a).and_then(|agent| agent.task(&fw.id(), t)));
        for t in active.chain(fw.unreachable_tasks.values()).chain(fw.completed_tasks.iter()) {
            if task_id.is_none_or(|id| &t.task_id.value == id) {
                all.push(t.clone());
            }
        }
    }
    let first = |t: &Task| t.statuses.first().and_then(|s| s.timestamp);
    all.sort_by(|a, b| {
        let (x, y) = (first(a), first(b));
        let ordering = match (x, y) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        };
        if ascending {
            ordering
        } else {
            ordering.reverse()
        }
    });
    let page: Vec<Value> = all.iter().skip(offset).take(limit).map(task).collect();
    json!({ "tasks": page })
}

/// `/master/roles`.
pub fn roles(master: &Master) -> Value {
    let mut roles = Vec::new();
    for name in master.known_roles() {
        let allocator = master.allocator();
        let quota = allocator.quota(&name);
        let mut allocated = ResourceQuantities::new();
        let mut offered = ResourceQuantities::new();
        for fw in master.frameworks() {
            allocated += &ResourceQuantities::from_resources(&fw.total_used.allocated_to_role_subtree(&name));
            offered += &ResourceQuantities::from_resources(&fw.total_offered.allocated_to_role_subtree(&name));
        }
        let mut reserved = ResourceQuantities::new();
        for a in master.agents() {
            reserved += &ResourceQuantities::from_resources(&a.total.reserved_to_role_subtree(&name));
        }
        let frameworks: Vec<String> = master.role_frameworks(&name).into_iter().map(|f| f.value).collect();
        let limits: Map<String, Value> =
            quota.limits.iter().map(|(n, v)| (n.to_string(), number(v.to_f64()))).collect();
        roles.push(json!({
            "name": name,
            "weight": number(master.weight(&name)),
            "quota": {
                "role": name,
                "guarantee": quantities(&quota.guarantees),
                "limit": Value::Object(limits),
                "consumed": quantities(&allocator.quota_consumed(&name)),
            },
            "resources": quantities(&(&allocated + &offered)),
            "allocated": quantities(&allocated),
            "offered": quantities(&offered),
            "reserved": quantities(&reserved),
            "frameworks": frameworks,
        }));
    }
    json!({ "roles": roles })
}

#[derive(Default)]
struct Summary([u64; 10]);

impl Summary {
    fn count(&mut self, task: &Task) {
        let i = match TaskState::try_from(task.state).unwrap_or(TaskState::TaskUnknown) {
            TaskState::TaskStaging => 0,
            TaskState::TaskStarting => 1,
            TaskState::TaskRunning => 2,
            TaskState::TaskKilling => 3,
            TaskState::TaskFinished => 4,
            TaskState::TaskKilled => 5,
            TaskState::TaskFailed => 6,
            TaskState::TaskLost => 7,
            TaskState::TaskError => 8,
            TaskState::TaskUnreachable => 9,
            _ => return,
        };
        self.0[i] += 1;
    }

    fn write(&self, out: &mut Map<String, Value>) {
        let names = [
            "TASK_STAGING",
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_FINISHED",
            "TASK_KILLED",
            "TASK_FAILED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_UNREACHABLE",
        ];
        for (name, n) in names.iter().zip(self.0) {
            out.insert(name.to_string(), json!(n));
        }
    }
}

/// `/master/state-summary`.
pub fn state_summary(master: &Master) -> Value {
    let mut by_agent: HashMap<String, (Summary, BTreeSet<String>)> = HashMap::new();
    let mut by_framework: HashMap<String, (Summary, BTreeSet<String>)> = HashMap::new();
    for fw in master.frameworks() {
        let fid = fw.id().value;
        let active = fw.tasks.iter().filter_map(|(t, a)| master.agent(a).and_then(|agent| agent.task(&fw.id(), t)));
        for t in active.chain(fw.unreachable_tasks.values()).chain(fw.completed_tasks.iter()) {
            let a = by_agent.entry(t.slave_id.value.clone()).or_default();
            a.0.count(t);
            a.1.insert(fid.clone());
            let f = by_framework.entry(fid.clone()).or_default();
            f.0.count(t);
            f.1.insert(t.slave_id.value.clone());
        }
    }
    let empty = (Summary::default(), BTreeSet::new());
    let slaves: Vec<Value> = master
        .agents()
        .map(|a| {
            let mut out = agent(master, a);
            let (summary, frameworks) = by_agent.get(&a.id.value).unwrap_or(&empty);
            summary.write(&mut out);
            out.insert("framework_ids".into(), json!(frameworks));
            Value::Object(out)
        })
        .collect();
    let frameworks: Vec<Value> = master
        .frameworks()
        .map(|f| {
            let mut out = framework_summary(f);
            let (summary, agents) = by_framework.get(&f.id().value).unwrap_or(&empty);
            summary.write(&mut out);
            out.insert("slave_ids".into(), json!(agents));
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    out.insert("hostname".into(), json!(master.info().hostname.clone().unwrap_or_default()));
    if let Some(c) = &master.config().cluster {
        out.insert("cluster".into(), json!(c));
    }
    out.insert("slaves".into(), Value::Array(slaves));
    out.insert("frameworks".into(), Value::Array(frameworks));
    Value::Object(out)
}

/// `/version`.
pub fn version() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": option_env!("MESOS_RS_BUILD_DATE").unwrap_or(""),
        "build_time": 0,
        "build_user": "mesos-rs",
    })
}

/// What `/version` reports, for GET_VERSION.
pub fn version_info() -> crate::http_api::operator::Version {
    crate::http_api::operator::Version {
        version: MESOS_VERSION.to_string(),
        build_date: option_env!("MESOS_RS_BUILD_DATE").unwrap_or("").to_string(),
        build_time: 0.0,
        build_user: "mesos-rs".to_string(),
    }
}

/// `/metrics/snapshot`.
pub fn metrics(master: &Master, now: Now) -> Value {
    let snapshot = master.metrics_snapshot(now);
    let mut out = Map::new();
    for (k, v) in snapshot {
        out.insert(k, number(v));
    }
    Value::Object(out)
}
