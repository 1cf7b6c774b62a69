//! The master's endpoints: the JSON keys and nesting Mesos 1.11 writes
//! (`readonly_handler.cpp`, `common/http.cpp`), jsonp, redirects, over a
//! master whose state comes from a simulation.

use std::collections::BTreeSet;
use std::time::Duration;

use http_body_util::BodyExt;
use mesos_rs::http_api::master::{model, router, Context};
use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::master::{runtime, Master, Now};
use serde_json::Value;
use tower::ServiceExt;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// One agent, one framework with a running task and a finished one.
fn cluster() -> SimCluster {
    let mut sim = SimCluster::new(51);
    sim.add_agent(AgentSpec { task_duration: None, ..Default::default() });
    let f = sim.add_framework(framework_info("web", false), Dialect::Calls);
    sim.run_for(Duration::from_secs(2));
    let offer = sim.framework(f).offers[0].clone();
    let tasks = vec![command_task("running", &offer, "cpus:1;mem:64"), command_task("done", &offer, "cpus:1;mem:64")];
    let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), tasks, None);
    sim.send(f, launch);
    sim.run_for(Duration::from_secs(1));
    let kill = sim.framework(f).kill("done");
    sim.send(f, kill);
    sim.run_for(Duration::from_secs(2));
    sim
}

const FRAMEWORK_KEYS: &[&str] = &[
    "id",
    "name",
    "pid",
    "used_resources",
    "offered_resources",
    "capabilities",
    "hostname",
    "webui_url",
    "active",
    "connected",
    "recovered",
    "user",
    "failover_timeout",
    "checkpoint",
    "registered_time",
    "unregistered_time",
    "resources",
    "role",
    "tasks",
    "unreachable_tasks",
    "completed_tasks",
    "offers",
    "executors",
    "offer_constraints",
];

const AGENT_KEYS: &[&str] = &[
    "id",
    "hostname",
    "port",
    "attributes",
    "pid",
    "registered_time",
    "resources",
    "used_resources",
    "offered_resources",
    "reserved_resources",
    "unreserved_resources",
    "active",
    "deactivated",
    "version",
    "capabilities",
];

#[test]
fn state_has_mesos_keys() {
    let sim = cluster();
    let ctx = Context { flags: [("port".to_string(), "5050".to_string())].into(), ..Default::default() };
    let state = model::state(sim.master(), &ctx);
    assert_eq!(
        keys(&state),
        set(&[
            "version",
            "build_date",
            "build_time",
            "build_user",
            "start_time",
            "elected_time",
            "id",
            "pid",
            "hostname",
            "capabilities",
            "activated_slaves",
            "deactivated_slaves",
            "unreachable_slaves",
            "leader",
            "leader_info",
            "flags",
            "slaves",
            "recovered_slaves",
            "frameworks",
            "completed_frameworks",
            "orphan_tasks",
            "unregistered_frameworks",
        ])
    );
    assert_eq!(state["activated_slaves"], 1.0);
    assert_eq!(keys(&state["leader_info"]), set(&["id", "pid", "port", "hostname"]));
    let framework = &state["frameworks"][0];
    assert_eq!(keys(framework), set(FRAMEWORK_KEYS));
    assert_eq!(framework["capabilities"], serde_json::json!([]));
    let task = &framework["tasks"][0];
    assert_eq!(
        keys(task),
        set(&["id", "name", "framework_id", "executor_id", "slave_id", "state", "resources", "role", "statuses"])
    );
    assert_eq!(task["state"], "TASK_RUNNING");
    assert_eq!(task["role"], "*");
    assert_eq!(keys(&task["resources"]), set(&["cpus", "gpus", "mem", "disk"]));
    assert_eq!(keys(&task["statuses"][0]), set(&["state", "timestamp"]));
    assert_eq!(framework["completed_tasks"][0]["state"], "TASK_KILLED");
    let agent = &state["slaves"][0];
    assert_eq!(keys(agent), set(AGENT_KEYS));
    assert_eq!(agent["resources"]["ports"], "[31000-32000]");
    assert_eq!(agent["used_resources"]["cpus"], 1.0);
    assert_eq!(agent["attributes"], serde_json::json!({}));
}

#[test]
fn other_endpoints_have_mesos_keys() {
    let sim = cluster();
    let master = sim.master();
    let frameworks = model::frameworks(master, None);
    assert_eq!(keys(&frameworks), set(&["frameworks", "completed_frameworks", "unregistered_frameworks"]));
    assert_eq!(model::frameworks(master, Some("nope"))["frameworks"], serde_json::json!([]));
    let slaves = model::slaves(master, None);
    assert_eq!(keys(&slaves), set(&["slaves", "recovered_slaves"]));
    let mut full = set(AGENT_KEYS);
    full.extend(set(&[
        "reserved_resources_full",
        "unreserved_resources_full",
        "used_resources_full",
        "offered_resources_full",
    ]));
    assert_eq!(keys(&slaves["slaves"][0]), full);
    let used = &slaves["slaves"][0]["used_resources_full"];
    assert_eq!(used[0]["allocation_info"]["role"], "*");
    let tasks = model::tasks(master, &[("order".to_string(), "asc".to_string())].into());
    let names: Vec<&str> = tasks["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    let limited = model::tasks(master, &[("limit".to_string(), "1".to_string())].into());
    assert_eq!(limited["tasks"].as_array().unwrap().len(), 1);
    let summary = model::state_summary(master);
    assert_eq!(keys(&summary), set(&["hostname", "slaves", "frameworks"]));
    let agent = &summary["slaves"][0];
    assert_eq!(agent["TASK_RUNNING"], 1);
    assert_eq!(agent["TASK_KILLED"], 1);
    assert_eq!(agent["framework_ids"].as_array().unwrap().len(), 1);
    assert_eq!(summary["frameworks"][0]["slave_ids"].as_array().unwrap().len(), 1);
    let roles = model::roles(master);
    let star = &roles["roles"][0];
    assert_eq!(
        keys(star),
        set(&["name", "weight", "quota", "resources", "allocated", "offered", "reserved", "frameworks"])
    );
    assert_eq!(star["name"], "*");
    assert_eq!(keys(&star["quota"]), set(&["role", "guarantee", "limit", "consumed"]));
    assert_eq!(star["allocated"]["cpus"], 1.0);
    let metrics = model::metrics(master, sim.now());
    for name in [
        "master/tasks_running",
        "master/tasks_killed",
        "master/slaves_active",
        "master/uptime_secs",
        "master/elected",
        "master/cpus_used",
    ] {
        assert!(metrics.get(name).is_some(), "{name}");
    }
}

async fn serve(master: Master) -> axum::Router {
    let (handle, mut queries) = runtime::query_channel();
    let now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
    tokio::spawn(async move {
        while let Some(query) = queries.recv().await {
            query(&master, now);
        }
    });
    router(handle, Context::default())
}

async fn get(app: &axum::Router, uri: &str) -> (http::StatusCode, http::HeaderMap, String) {
    let request = http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_router_serves_every_alias_jsonp_and_redirects() {
    let master = cluster().into_master();
    let pid = master.info().pid.clone().unwrap();
    let app = serve(master).await;
    for path in ["/master/state", "/state", "/state.json", "/master/state.json"] {
        let (status, _, body) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["pid"], pid, "{path}");
    }
    let (_, headers, body) = get(&app, "/master/state-summary?jsonp=callback").await;
    assert_eq!(headers["content-type"], "text/javascript");
    assert!(body.starts_with("callback({") && body.ends_with("});"));
    let (status, _, body) = get(&app, "/master/health").await;
    assert_eq!((status.as_u16(), body.as_str()), (200, ""));
    let (status, _, body) = get(&app, "/version").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["version"], "1.11.0");
    let (status, headers, _) = get(&app, "/master/redirect").await;
    assert_eq!(status, 307);
    assert_eq!(headers["location"], "//127.0.0.1:5050");
    let (status, _, _) = get(&app, "/master/redirect/loop").await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&app, "/metrics/snapshot").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["master/tasks_running"], 1.0);
    let (status, _, body) = get(&app, "/master/tasks?limit=1&order=asc").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["tasks"].as_array().unwrap().len(), 1);
}
