//! The master's v1 operator API (`/api/v1`): the state machine's side over
//! a simulated cluster (events for subscribers, calls that change things,
//! their registry writes), and the HTTP door over the real driver (status
//! codes and texts, JSON and protobuf for every implemented call, 501 for
//! the rest), as Mesos's `master/http.cpp` and `api_tests.cpp` describe.

use std::time::Duration;

use http_body_util::BodyExt;
use mesos_rs::http_api::master::{router, Context};
use mesos_rs::master::operator::{OperatorCall, OperatorEffect, OperatorError};
use mesos_rs::master::runtime;
use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::master::store::InMemoryStore;
use mesos_rs::proto::mesos::master::event::Type as EventType;
use mesos_rs::proto::mesos::v1::master::{call, Call, Event as V1Event, Response as V1Response};
use mesos_rs::proto::mesos::{FrameworkId, SlaveId, TaskState, WeightInfo};
use mesos_rs::v0_compat::{Node, Options};
use prost::Message;
use serde_json::{json, Value};
use tower::ServiceExt;

/// One agent, one partition-aware framework; `tasks` tasks launched on the
/// first offer, each finishing after a second.
fn cluster(tasks: &[&str], task_duration: Option<Duration>) -> SimCluster {
    let mut sim = SimCluster::new(7);
    sim.add_agent(AgentSpec { task_duration, ..Default::default() });
    let f = sim.add_framework(framework_info("web", true), Dialect::Calls);
    sim.run_for(Duration::from_secs(2));
    if !tasks.is_empty() {
        let offer = sim.framework(f).offers[0].clone();
        let infos = tasks.iter().map(|t| command_task(t, &offer, "cpus:0.5;mem:32")).collect();
        let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), infos, None);
        sim.send(f, launch);
        sim.run_for(Duration::from_millis(500));
    }
    sim
}

fn types(events: &[mesos_rs::proto::mesos::master::Event]) -> Vec<EventType> {
    events.iter().map(|e| e.r#type()).collect()
}

#[test]
fn a_subscriber_gets_the_state_then_every_change_in_order() {
    let mut sim = SimCluster::new(3);
    let id = sim.operator(OperatorCall::Subscribe { stream: 1 });
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    match &sim.operator_out[0] {
        OperatorEffect::Event { stream: Some(1), event } => {
            assert_eq!(event.r#type(), EventType::Subscribed);
            let subscribed = event.subscribed.as_ref().unwrap();
            assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
            assert!(subscribed.get_state.as_ref().unwrap().get_agents.as_ref().unwrap().agents.is_empty());
        }
        other => panic!("expected SUBSCRIBED to stream 1, got {other:?}"),
    }

    sim.add_agent(AgentSpec { task_duration: Some(Duration::from_secs(1)), ..Default::default() });
    let f = sim.add_framework(framework_info("web", false), Dialect::Legacy);
    sim.run_for(Duration::from_secs(2));
    let offer = sim.framework(f).offers[0].clone();
    let tasks = vec![command_task("a", &offer, "cpus:0.5;mem:32"), command_task("b", &offer, "cpus:0.5;mem:32")];
    let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), tasks, None);
    sim.send(f, launch);
    sim.run_for(Duration::from_secs(3));
    let teardown = sim.operator(OperatorCall::Teardown(sim.framework(f).framework_id()));
    assert_eq!(sim.operator_result(teardown), Some(Ok(())));

    let events = sim.operator_events();
    let kinds = types(&events[1..]);
    // Both register during the same second: either may come first.
    let mut first_two = kinds[..2].to_vec();
    first_two.sort_by_key(|k| *k as i32);
    assert_eq!(first_two, [EventType::AgentAdded, EventType::FrameworkAdded]);
    assert_eq!(*kinds.last().unwrap(), EventType::FrameworkRemoved);
    // Per task: TASK_ADDED (staging), then RUNNING, then FINISHED.
    for task in ["a", "b"] {
        let mut seen = Vec::new();
        for e in &events {
            if let Some(added) = &e.task_added {
                if added.task.task_id.value == task {
                    seen.push(TaskState::try_from(added.task.state).unwrap());
                }
            }
            if let Some(updated) = &e.task_updated {
                if updated.status.task_id.value == task {
                    seen.push(updated.status.state());
                    assert_eq!(updated.framework_id, sim.framework(f).framework_id());
                }
            }
        }
        assert_eq!(seen, [TaskState::TaskStaging, TaskState::TaskRunning, TaskState::TaskFinished], "task {task}");
    }
    let added = events.iter().find_map(|e| e.framework_added.as_ref()).unwrap();
    assert_eq!(added.framework.framework_info.name, "web");
    assert!(added.framework.connected && added.framework.active);

    // Gone subscribers get nothing more; nobody subscribed, nothing built.
    sim.operator(OperatorCall::Unsubscribe { stream: 1 });
    let before = sim.operator_events().len();
    sim.add_agent(AgentSpec::default());
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.operator_events().len(), before);
}

#[test]
fn teardown_of_an_unknown_framework_is_a_bad_request() {
    let mut sim = cluster(&[], None);
    let id = sim.operator(OperatorCall::Teardown(FrameworkId { value: "nope".into() }));
    assert_eq!(
        sim.operator_result(id),
        Some(Err(OperatorError::BadRequest("No framework found with specified ID".into())))
    );
}

#[test]
fn teardown_kills_the_tasks_and_completes_the_framework() {
    let mut sim = cluster(&["t1"], None);
    let fid = sim.framework(0).framework_id();
    assert!(sim.master().task(&fid, &mesos_rs::proto::mesos::TaskId { value: "t1".into() }).is_some());
    let id = sim.operator(OperatorCall::Teardown(fid.clone()));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.master().framework(&fid).is_none());
    let completed = sim.master().completed_framework(&fid).unwrap();
    assert_eq!(completed.completed_tasks[0].state(), TaskState::TaskKilled);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.delivered(&sim.agent(0).pid.clone(), "mesos.internal.ShutdownFrameworkMessage") >= 1);
}

#[test]
fn weights_are_validated_then_persisted_before_they_apply() {
    let mut sim = cluster(&[], None);
    let bad = sim.operator(OperatorCall::UpdateWeights(vec![WeightInfo { role: Some("dev".into()), weight: -1.0 }]));
    match sim.operator_result(bad) {
        Some(Err(OperatorError::BadRequest(text))) => {
            assert!(text.contains("weights must be positive"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    let bad_role = sim.operator(OperatorCall::UpdateWeights(vec![WeightInfo { role: Some("/x".into()), weight: 1.0 }]));
    assert!(matches!(sim.operator_result(bad_role), Some(Err(OperatorError::BadRequest(_)))));

    let id = sim.operator(OperatorCall::UpdateWeights(vec![WeightInfo { role: Some("dev".into()), weight: 2.5 }]));
    // Not answered before the registry has it.
    assert_eq!(sim.operator_result(id), None);
    assert_eq!(sim.master().weight("dev"), 1.0);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert_eq!(sim.master().weight("dev"), 2.5);
    assert_eq!(sim.registry().weights.len(), 1);
    assert_eq!(sim.registry().weights[0].info.weight, 2.5);
}

#[test]
fn mark_agent_gone_persists_then_shuts_the_agent_down() {
    let mut sim = cluster(&["t1"], None);
    let unknown = sim.operator(OperatorCall::MarkAgentGone(SlaveId { value: "nope".into() }));
    assert_eq!(sim.operator_result(unknown), Some(Err(OperatorError::NotFound("Agent 'nope' not found".into()))));

    let agent = sim.master().agents().next().unwrap().id.clone();
    let id = sim.operator(OperatorCall::MarkAgentGone(agent.clone()));
    let again = sim.operator(OperatorCall::MarkAgentGone(agent.clone()));
    match sim.operator_result(again) {
        Some(Err(OperatorError::Unavailable(text))) => {
            assert!(text.contains("already being transitioned to gone"))
        }
        other => panic!("{other:?}"),
    }
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.master().agent(&agent).is_none());
    assert!(sim.master().gone_agents().any(|(id, _)| *id == agent));
    assert_eq!(sim.registry().gone.as_ref().map(|g| g.slaves.len()), Some(1));
    assert_eq!(sim.framework(0).last_state("t1"), Some(TaskState::TaskGoneByOperator));
    assert!(sim.delivered(&sim.agent(0).pid.clone(), "mesos.internal.ShutdownMessage") >= 1);
    // Already gone: OK again.
    let third = sim.operator(OperatorCall::MarkAgentGone(agent));
    assert_eq!(sim.operator_result(third), Some(Ok(())));
}

// ---------------------------------------------------------------------
// The HTTP door, over the real driver.

struct Api {
    app: axum::Router,
    _node: Node,
}

async fn api(sim: SimCluster, context: Context) -> Api {
    let master = sim.into_master();
    let addr = master.info().pid.clone().unwrap().split('@').nth(1).unwrap().parse().unwrap();
    let node = Node::new(addr, Options::default());
    let process = node.spawn("master").unwrap();
    let (handle, inbox) = runtime::query_channel();
    tokio::spawn(runtime::run(
        master,
        process,
        Box::new(InMemoryStore::default()),
        inbox,
        None,
        std::future::pending(),
    ));
    Api { app: router(handle, context), _node: node }
}

async fn post(api: &Api, content_type: Option<&str>, accept: Option<&str>, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let mut request = http::Request::builder().method("POST").uri("/api/v1");
    if let Some(c) = content_type {
        request = request.header("content-type", c);
    }
    if let Some(a) = accept {
        request = request.header("accept", a);
    }
    let response = api.app.clone().oneshot(request.body(axum::body::Body::from(body)).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let ct = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, ct, body)
}

/// A call in JSON, answered in JSON: (status, parsed body or the text).
async fn json_call(api: &Api, call: Value) -> (u16, Value) {
    let (status, _, body) =
        post(api, Some("application/json"), Some("application/json"), call.to_string().into_bytes()).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A call in protobuf, answered in protobuf.
async fn proto_call(api: &Api, call: Call) -> (u16, V1Response) {
    let (status, ct, body) =
        post(api, Some("application/x-protobuf"), Some("application/x-protobuf"), call.encode_to_vec()).await;
    if status == 200 && !body.is_empty() {
        assert_eq!(ct, "application/x-protobuf");
    }
    (status, V1Response::decode(body.as_slice()).unwrap_or_default())
}

fn typed(kind: call::Type) -> Call {
    Call { r#type: Some(kind as i32), ..Default::default() }
}

#[tokio::test]
async fn requests_are_checked_in_mesos_order_with_its_texts() {
    let api = api(cluster(&[], None), Context::default()).await;
    let get = http::Request::builder().method("GET").uri("/api/v1").body(axum::body::Body::empty()).unwrap();
    let response = api.app.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let (status, _, body) = post(&api, None, None, b"{}".to_vec()).await;
    assert_eq!((status, String::from_utf8(body).unwrap().as_str()), (400, "Expecting 'Content-Type' to be present"));
    let (status, _, body) = post(&api, Some("text/plain"), None, b"{}".to_vec()).await;
    assert_eq!(status, 415);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "Expecting 'Content-Type' of application/json or application/x-protobuf"
    );
    let (status, _, body) = post(&api, Some("application/json"), None, b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8(body).unwrap().starts_with("Failed to parse body into JSON"));
    let (status, _, body) = post(&api, Some("application/x-protobuf"), None, vec![0xff, 0xff, 0xff]).await;
    assert_eq!((status, String::from_utf8(body).unwrap().as_str()), (400, "Failed to parse body into Call protobuf"));
    let (status, body) = json_call(&api, json!({"type": "GET_METRICS"})).await;
    assert_eq!(status, 400);
    assert_eq!(body, "Failed to validate master::Call: Expecting 'get_metrics' to be present");
    let (status, body) = json_call(&api, json!({"type": "TEARDOWN", "teardown": {}})).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("framework_id"), "{body}");
    let (status, _, body) =
        post(&api, Some("application/json"), Some("text/html"), br#"{"type":"GET_HEALTH"}"#.to_vec()).await;
    assert_eq!(status, 406);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"
    );
    // No Accept: JSON.
    let (status, ct, _) = post(&api, Some("application/json"), None, br#"{"type":"GET_HEALTH"}"#.to_vec()).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
}

#[tokio::test]
async fn unimplemented_calls_answer_501_naming_the_call() {
    let api = api(cluster(&[], None), Context::default()).await;
    for (name, payload) in [
        ("UNKNOWN", json!({})),
        ("GET_OPERATIONS", json!({})),
        (
            "GROW_VOLUME",
            json!({"grow_volume": {"volume": {"name": "disk", "type": "SCALAR", "scalar": {"value": 1}}, "addition": {"name": "disk", "type": "SCALAR", "scalar": {"value": 1}}}}),
        ),
        ("DRAIN_AGENT", json!({"drain_agent": {"agent_id": {"value": "a"}}})),
        ("SET_QUOTA", json!({"set_quota": {"quota_request": {"role": "dev", "guarantee": []}}})),
    ] {
        let mut call = payload;
        call["type"] = json!(name);
        let (status, body) = json_call(&api, call).await;
        assert_eq!(status, 501, "{name}: {body}");
        assert_eq!(body, format!("Call '{name}' is not implemented"));
    }
}

#[tokio::test]
async fn read_calls_answer_in_json_and_protobuf() {
    let sim = cluster(&["t1", "t2"], None);
    let fid = sim.framework(0).framework_id().value;
    let context = Context { flags: [("port".to_string(), "5050".to_string())].into(), ..Default::default() };
    let api = api(sim, context).await;

    let (status, body) = json_call(&api, json!({"type": "GET_HEALTH"})).await;
    assert_eq!((status, body), (200, json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})));
    let (_, r) = proto_call(&api, typed(call::Type::GetHealth)).await;
    assert!(r.get_health.unwrap().healthy);

    let (_, body) = json_call(&api, json!({"type": "GET_FLAGS"})).await;
    assert_eq!(body["get_flags"]["flags"], json!([{"name": "port", "value": "5050"}]));
    let (_, r) = proto_call(&api, typed(call::Type::GetFlags)).await;
    assert_eq!(r.get_flags.unwrap().flags[0].name, "port");

    let (_, body) = json_call(&api, json!({"type": "GET_VERSION"})).await;
    assert_eq!(body["get_version"]["version_info"]["version"], "1.11.0");
    let (_, r) = proto_call(&api, typed(call::Type::GetVersion)).await;
    assert_eq!(r.get_version.unwrap().version_info.version, "1.11.0");

    let (_, body) =
        json_call(&api, json!({"type": "GET_METRICS", "get_metrics": {"timeout": {"nanoseconds": 5000000000u64}}}))
            .await;
    let metrics = body["get_metrics"]["metrics"].as_array().unwrap();
    let running = metrics.iter().find(|m| m["name"] == "master/tasks_running").unwrap();
    assert_eq!(running["value"], 2.0);
    let mut metrics_call = typed(call::Type::GetMetrics);
    metrics_call.get_metrics = Some(call::GetMetrics { timeout: None });
    let (_, r) = proto_call(&api, metrics_call).await;
    assert!(r.get_metrics.unwrap().metrics.iter().any(|m| m.name == "master/slaves_active" && m.value == Some(1.0)));

    let (_, body) = json_call(&api, json!({"type": "GET_STATE"})).await;
    let state = &body["get_state"];
    assert_eq!(state["get_agents"]["agents"].as_array().unwrap().len(), 1);
    assert_eq!(state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"], fid);
    assert_eq!(state["get_tasks"]["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(state["get_tasks"]["tasks"][0]["state"], "TASK_RUNNING");
    // v1 names: agent_id, not slave_id.
    assert!(state["get_tasks"]["tasks"][0]["agent_id"]["value"].is_string());
    let (_, r) = proto_call(&api, typed(call::Type::GetState)).await;
    let s = r.get_state.unwrap();
    assert_eq!(s.get_tasks.unwrap().tasks.len(), 2);
    assert_eq!(s.get_executors.unwrap().executors.len(), 0);

    let (_, body) = json_call(&api, json!({"type": "GET_AGENTS"})).await;
    let agent = &body["get_agents"]["agents"][0];
    assert_eq!(agent["active"], true);
    assert_eq!(agent["version"], "1.11.0");
    assert!(agent["total_resources"].as_array().unwrap().iter().any(|r| r["name"] == "cpus"));
    assert!(agent["allocated_resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "cpus" && r["scalar"]["value"] == 1.0));
    let (_, r) = proto_call(&api, typed(call::Type::GetAgents)).await;
    assert_eq!(r.get_agents.unwrap().agents[0].agent_info.hostname, "agent1");

    let (_, body) = json_call(&api, json!({"type": "GET_FRAMEWORKS"})).await;
    let fw = &body["get_frameworks"]["frameworks"][0];
    assert_eq!(
        (fw["active"].clone(), fw["connected"].clone(), fw["recovered"].clone()),
        (json!(true), json!(true), json!(false))
    );
    assert!(fw["registered_time"]["nanoseconds"].as_i64().unwrap() > 0);
    let (_, r) = proto_call(&api, typed(call::Type::GetFrameworks)).await;
    assert_eq!(r.get_frameworks.unwrap().frameworks[0].framework_info.name, "web");

    let (_, body) = json_call(&api, json!({"type": "GET_EXECUTORS"})).await;
    assert_eq!(body, json!({"type": "GET_EXECUTORS", "get_executors": {}}));
    let (status, r) = proto_call(&api, typed(call::Type::GetExecutors)).await;
    assert_eq!((status, r.r#type()), (200, mesos_rs::proto::mesos::v1::master::response::Type::GetExecutors));

    let (_, body) = json_call(&api, json!({"type": "GET_TASKS"})).await;
    let ids: Vec<&str> = body["get_tasks"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t1", "t2"]);
    let (_, r) = proto_call(&api, typed(call::Type::GetTasks)).await;
    assert_eq!(r.get_tasks.unwrap().tasks[1].task_id.value, "t2");

    let (_, body) = json_call(&api, json!({"type": "GET_ROLES"})).await;
    let star = &body["get_roles"]["roles"][0];
    assert_eq!((star["name"].clone(), star["weight"].clone()), (json!("*"), json!(1.0)));
    assert_eq!(star["frameworks"][0]["value"], fid);
    let (_, r) = proto_call(&api, typed(call::Type::GetRoles)).await;
    assert_eq!(r.get_roles.unwrap().roles[0].name, "*");

    let (_, body) = json_call(&api, json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(body, json!({"type": "GET_WEIGHTS", "get_weights": {}}));

    let (_, body) = json_call(&api, json!({"type": "GET_MASTER"})).await;
    assert!(body["get_master"]["master_info"]["id"].is_string());
    assert!(body["get_master"]["start_time"].as_f64().unwrap() > 0.0);
    let (_, r) = proto_call(&api, typed(call::Type::GetMaster)).await;
    assert!(r.get_master.unwrap().elected_time.is_some());

    let (_, body) = json_call(&api, json!({"type": "GET_LOGGING_LEVEL"})).await;
    assert_eq!(body, json!({"type": "GET_LOGGING_LEVEL", "get_logging_level": {"level": 0}}));
}

#[tokio::test]
async fn changes_through_http_answer_once_applied() {
    let api = api(cluster(&["t1"], None), Context::default()).await;
    let (status, body) = json_call(
        &api,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "dev", "weight": 3.0}]}}),
    )
    .await;
    assert_eq!((status, body), (200, json!("")));
    let (_, r) = proto_call(&api, typed(call::Type::GetWeights)).await;
    let weights = r.get_weights.unwrap().weight_infos;
    assert_eq!((weights[0].role.as_deref(), weights[0].weight), (Some("dev"), 3.0));

    let (status, body) = json_call(
        &api,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "dev", "weight": 0}]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) =
        json_call(&api, json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "x"}}})).await;
    assert_eq!((status, body), (400, json!("No framework found with specified ID")));
    let (status, body) =
        json_call(&api, json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "x"}}})).await;
    assert_eq!((status, body), (404, json!("Agent 'x' not found")));

    let (_, body) = json_call(&api, json!({"type": "GET_FRAMEWORKS"})).await;
    let fid = body["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"].clone();
    let mut teardown = typed(call::Type::Teardown);
    teardown.teardown = Some(call::Teardown {
        framework_id: mesos_rs::proto::mesos::v1::FrameworkId { value: fid.as_str().unwrap().into() },
    });
    let (status, _) = proto_call(&api, teardown).await;
    assert_eq!(status, 200);
    let (_, body) = json_call(&api, json!({"type": "GET_FRAMEWORKS"})).await;
    assert_eq!(body["get_frameworks"]["completed_frameworks"][0]["framework_info"]["id"]["value"], fid);
    assert!(body["get_frameworks"].get("frameworks").is_none());
}

/// Reads RecordIO records from a response body until `n` are in.
async fn records(body: &mut axum::body::Body, n: usize) -> Vec<Vec<u8>> {
    let mut decoder = mesos_rs::http_api::recordio::Decoder::new();
    let mut out = Vec::new();
    while out.len() < n {
        let frame = body.frame().await.expect("the stream stays open").unwrap();
        if let Ok(data) = frame.into_data() {
            out.extend(decoder.decode(&data).unwrap().into_iter().map(|b| b.to_vec()));
        }
    }
    out
}

#[tokio::test]
async fn subscribe_streams_subscribed_then_a_heartbeat_then_events() {
    let api = api(cluster(&["t1"], None), Context::default()).await;
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1")
        .header("content-type", "application/json")
        .header("accept", "application/x-protobuf")
        .body(axum::body::Body::from(r#"{"type":"SUBSCRIBE"}"#))
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let mut body = response.into_body();
    let first = records(&mut body, 2).await;
    let subscribed = V1Event::decode(first[0].as_slice()).unwrap();
    assert_eq!(subscribed.r#type(), mesos_rs::proto::mesos::v1::master::event::Type::Subscribed);
    let state = subscribed.subscribed.unwrap().get_state.unwrap();
    assert_eq!(state.get_tasks.unwrap().tasks[0].task_id.value, "t1");
    assert_eq!(
        V1Event::decode(first[1].as_slice()).unwrap().r#type(),
        mesos_rs::proto::mesos::v1::master::event::Type::Heartbeat
    );

    // A change made through the API shows up on the stream.
    let (status, body_json) = json_call(&api, json!({"type": "GET_FRAMEWORKS"})).await;
    assert_eq!(status, 200);
    let fid =
        body_json["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"].as_str().unwrap().to_string();
    let (status, _) = json_call(&api, json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid}}})).await;
    assert_eq!(status, 200);
    let mut kinds = Vec::new();
    while !kinds.contains(&mesos_rs::proto::mesos::v1::master::event::Type::FrameworkRemoved) {
        let next = records(&mut body, 1).await;
        kinds.push(V1Event::decode(next[0].as_slice()).unwrap().r#type());
    }
    // The task was killed by the teardown before the framework went.
    assert_eq!(kinds[0], mesos_rs::proto::mesos::v1::master::event::Type::TaskUpdated);

    // The master counts the stream; a closed stream is forgotten.
    async fn subscribers(api: &Api) -> f64 {
        let (_, body) = json_call(api, json!({"type": "GET_METRICS", "get_metrics": {}})).await;
        body["get_metrics"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "master/operator_event_stream_subscribers")
            .and_then(|m| m["value"].as_f64())
            .unwrap()
    }
    assert_eq!(subscribers(&api).await, 1.0);
    drop(body);
    let mut forgotten = false;
    for _ in 0..200 {
        if subscribers(&api).await == 0.0 {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(forgotten, "the closed stream is still counted");
}

#[tokio::test]
async fn files_and_logging_level_need_the_daemon_logger() {
    let dir = std::env::temp_dir().join(format!("master-operator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("mesos-master.INFO");
    std::fs::write(&log, "line one\nline two\n").unwrap();
    let logging = std::sync::Arc::new(mesos_rs::common::logging::Logging::detached(Some(log.clone())));
    let api = api(cluster(&[], None), Context { logging: Some(logging.clone()), ..Default::default() }).await;

    let (status, body) = json_call(&api, json!({"type": "LIST_FILES", "list_files": {"path": "/master/log"}})).await;
    assert_eq!(status, 200, "{body}");
    let info = &body["list_files"]["file_infos"][0];
    assert_eq!((info["path"].clone(), info["size"].clone()), (json!("/master/log"), json!(18)));
    let (status, _) = json_call(&api, json!({"type": "LIST_FILES", "list_files": {"path": "/nowhere"}})).await;
    assert_eq!(status, 404);

    let mut read = typed(call::Type::ReadFile);
    read.read_file = Some(call::ReadFile { path: "/master/log".into(), offset: 5, length: Some(3) });
    let (status, r) = proto_call(&api, read).await;
    assert_eq!(status, 200);
    let file = r.read_file.unwrap();
    assert_eq!((file.size, file.data.as_slice()), (18, b"one".as_slice()));
    let (_, body) =
        json_call(&api, json!({"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0}})).await;
    // bytes are base64 in JSON.
    assert_eq!(body["read_file"]["data"], "bGluZSBvbmUKbGluZSB0d28K");

    let (status, _) = json_call(
        &api,
        json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 2, "duration": {"nanoseconds": 200000000}}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = json_call(&api, json!({"type": "GET_LOGGING_LEVEL"})).await;
    assert_eq!(body["get_logging_level"]["level"], 2);
    // Back to the start level once the duration is over.
    let mut reverted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if logging.verbosity() == 0 {
            reverted = true;
            break;
        }
    }
    assert!(reverted, "the level did not revert");
    std::fs::remove_dir_all(dir).ok();
}

// ---------------------------------------------------------------------
// RESERVE / UNRESERVE / CREATE / DESTROY from the operator.

fn dynamic(name: &str, amount: f64, role: &str) -> mesos_rs::proto::mesos::Resource {
    use mesos_rs::proto::mesos::resource::{reservation_info::Type as ReservationType, ReservationInfo};
    use mesos_rs::proto::mesos::{value, Resource};
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        reservations: vec![ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some(role.into()),
            principal: Some("ops".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn operation(
    kind: mesos_rs::proto::mesos::offer::operation::Type,
    resources: Vec<mesos_rs::proto::mesos::Resource>,
) -> mesos_rs::proto::mesos::offer::Operation {
    use mesos_rs::proto::mesos::offer::operation::{Create, Destroy, Reserve, Type, Unreserve};
    let mut op = mesos_rs::proto::mesos::offer::Operation::default();
    op.set_type(kind);
    match kind {
        Type::Reserve => op.reserve = Some(Reserve { resources, ..Default::default() }),
        Type::Unreserve => op.unreserve = Some(Unreserve { resources }),
        Type::Create => op.create = Some(Create { volumes: resources }),
        _ => op.destroy = Some(Destroy { volumes: resources }),
    }
    op
}

fn volume(id: &str, mb: f64, role: &str) -> mesos_rs::proto::mesos::Resource {
    use mesos_rs::proto::mesos::resource::{disk_info::Persistence, DiskInfo};
    use mesos_rs::proto::mesos::{volume::Mode, Volume};
    let mut disk = dynamic("disk", mb, role);
    disk.disk = Some(DiskInfo {
        persistence: Some(Persistence { id: id.into(), principal: Some("ops".into()) }),
        volume: Some(Volume { container_path: "data".into(), mode: Mode::Rw as i32, ..Default::default() }),
        ..Default::default()
    });
    disk
}

/// The latest offer's resources reserved for `role`, by name.
fn reserved_in_offers(sim: &SimCluster, f: usize, role: &str) -> Vec<(String, f64, bool)> {
    let Some(offer) = sim.framework(f).offers.last() else {
        return Vec::new();
    };
    offer
        .resources
        .iter()
        .filter(|r| {
            // A framework without RESERVATION_REFINEMENT gets the
            // pre-refinement format (`role`), others `reservations`.
            #[allow(deprecated)]
            let old = r.role.as_deref();
            r.reservations.last().and_then(|x| x.role.as_deref()).or(old) == Some(role)
        })
        .map(|r| {
            let volume = r.disk.as_ref().is_some_and(|d| d.persistence.is_some());
            (r.name.clone(), r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0), volume)
        })
        .collect()
}

#[test]
fn operator_reservations_and_volumes_change_the_agent_and_later_offers() {
    use mesos_rs::proto::mesos::offer::operation::Type;
    let mut sim = SimCluster::new(11);
    sim.add_agent(AgentSpec { resources: "cpus:4;mem:1024;disk:1000".into(), ..Default::default() });
    let mut info = framework_info("dev-fw", false);
    #[allow(deprecated)]
    {
        info.role = Some("dev".into());
    }
    let f = sim.add_framework(info, Dialect::Calls);
    sim.run_for(Duration::from_secs(2));
    assert!(!sim.framework(f).offers.is_empty());
    let agent = sim.master().agents().next().unwrap().id.clone();

    let unknown = sim.operator(OperatorCall::Operation {
        agent: SlaveId { value: "nope".into() },
        operation: Box::new(operation(Type::Reserve, vec![dynamic("cpus", 1.0, "dev")])),
    });
    assert_eq!(
        sim.operator_result(unknown),
        Some(Err(OperatorError::BadRequest("No agent found with specified ID".into())))
    );
    let too_much = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(Type::Reserve, vec![dynamic("cpus", 40.0, "dev")])),
    });
    assert!(
        matches!(sim.operator_result(too_much), Some(Err(OperatorError::Conflict(_)))),
        "{:?}",
        sim.operator_result(too_much)
    );

    // RESERVE: the offer holding the cpus is rescinded; the agent is told
    // its new checkpointed resources; the next offer carries the reservation.
    let before = sim.delivered(&sim.agent(0).pid.clone(), "mesos.internal.CheckpointResourcesMessage");
    let reserve = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(Type::Reserve, vec![dynamic("cpus", 1.0, "dev"), dynamic("disk", 200.0, "dev")])),
    });
    assert_eq!(sim.operator_result(reserve), Some(Ok(())));
    // Rescinded offers come back after their 5 second filter (Mesos's
    // default `Filters`, so the operation wins the race with allocation).
    sim.run_for(Duration::from_secs(6));
    assert!(!sim.framework(f).rescinded.is_empty());
    assert_eq!(sim.delivered(&sim.agent(0).pid.clone(), "mesos.internal.CheckpointResourcesMessage"), before + 1);
    let total = &sim.master().agent(&agent).unwrap().total;
    assert_eq!(
        total.reservations()["dev"].to_string(),
        "cpus(reservations: [(DYNAMIC,dev,ops)]):1; disk(reservations: [(DYNAMIC,dev,ops)]):200"
    );
    let mut reserved = reserved_in_offers(&sim, f, "dev");
    reserved.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(reserved, [("cpus".into(), 1.0, false), ("disk".into(), 200.0, false)]);

    // CREATE a volume on the reserved disk; it shows in the next offer.
    let create = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(Type::Create, vec![volume("vol-1", 100.0, "dev")])),
    });
    assert_eq!(sim.operator_result(create), Some(Ok(())));
    sim.run_for(Duration::from_secs(6));
    assert!(reserved_in_offers(&sim, f, "dev").contains(&("disk".into(), 100.0, true)));
    let duplicate = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(Type::Create, vec![volume("vol-1", 50.0, "dev")])),
    });
    assert!(matches!(sim.operator_result(duplicate), Some(Err(OperatorError::BadRequest(_)))));

    // DESTROY it, then UNRESERVE everything: the offers are unreserved again.
    let destroy = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(Type::Destroy, vec![volume("vol-1", 100.0, "dev")])),
    });
    assert_eq!(sim.operator_result(destroy), Some(Ok(())));
    let unreserve = sim.operator(OperatorCall::Operation {
        agent: agent.clone(),
        operation: Box::new(operation(
            Type::Unreserve,
            vec![dynamic("cpus", 1.0, "dev"), dynamic("disk", 200.0, "dev")],
        )),
    });
    assert_eq!(sim.operator_result(unreserve), Some(Ok(())));
    sim.run_for(Duration::from_secs(6));
    assert!(sim.master().agent(&agent).unwrap().total.reservations().is_empty());
    assert!(reserved_in_offers(&sim, f, "dev").is_empty());
    assert!(sim.master().agent(&agent).unwrap().checkpointed.is_empty());
}

#[tokio::test]
async fn reserve_over_http_answers_202_and_shows_in_get_agents() {
    let mut sim = SimCluster::new(5);
    sim.add_agent(AgentSpec { resources: "cpus:4;mem:1024;disk:1000".into(), ..Default::default() });
    sim.run_for(Duration::from_secs(1));
    let agent = sim.master().agents().next().unwrap().id.value.clone();
    let api = api(sim, Context::default()).await;
    // The pre-refinement format an operator (or Mesos's docs) would send.
    let resources = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "dev",
                            "reservation": {"principal": "ops"}}]);
    let (status, body) = json_call(
        &api,
        json!({"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": agent}, "resources": resources}}),
    )
    .await;
    assert_eq!((status, body), (202, json!("")));
    let (_, body) = json_call(&api, json!({"type": "GET_AGENTS"})).await;
    let total = body["get_agents"]["agents"][0]["total_resources"].as_array().unwrap().clone();
    let cpus: Vec<&Value> = total.iter().filter(|r| r["name"] == "cpus").collect();
    let reserved = cpus.iter().find(|r| r.get("reservations").is_some()).expect("a reserved cpus resource");
    assert_eq!(reserved["scalar"]["value"], 2.0);
    assert_eq!(reserved["reservations"][0]["role"], "dev");
    assert_eq!(reserved["reservations"][0]["type"], "DYNAMIC");
    // Endpoint format: the single reservation also as role + reservation.
    assert_eq!(reserved["role"], "dev");
    let (status, body) = json_call(
        &api,
        json!({"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": agent},
               "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 10}, "role": "dev", "reservation": {}}]}}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = json_call(
        &api,
        json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {"agent_id": {"value": "x"}, "resources": resources}}),
    )
    .await;
    assert_eq!((status, body), (400, json!("No agent found with specified ID")));
    let (status, body) = json_call(
        &api,
        json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {"agent_id": {"value": agent}, "resources": resources}}),
    )
    .await;
    assert_eq!((status, body), (202, json!("")));
    let (_, body) = json_call(&api, json!({"type": "GET_AGENTS"})).await;
    let total = body["get_agents"]["agents"][0]["total_resources"].as_array().unwrap().clone();
    assert!(total.iter().all(|r| r.get("reservations").is_none()), "{total:?}");
}

// ---------------------------------------------------------------------
// Quota.

fn quota(role: &str, guarantees: &[(&str, f64)], limits: &[(&str, f64)]) -> mesos_rs::proto::mesos::quota::QuotaConfig {
    use mesos_rs::proto::mesos::value::Scalar;
    mesos_rs::proto::mesos::quota::QuotaConfig {
        role: role.into(),
        guarantees: guarantees.iter().map(|(n, v)| (n.to_string(), Scalar { value: *v })).collect(),
        limits: limits.iter().map(|(n, v)| (n.to_string(), Scalar { value: *v })).collect(),
    }
}

fn offered_cpus(sim: &SimCluster, f: usize) -> f64 {
    sim.framework(f)
        .offers
        .iter()
        .flat_map(|o| &o.resources)
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0))
        .sum()
}

#[test]
fn quota_is_validated_persisted_and_limits_later_offers() {
    let mut sim = SimCluster::new(13);
    sim.add_agent(AgentSpec { resources: "cpus:4;mem:1024;disk:1000".into(), ..Default::default() });
    let mut info = framework_info("dev-fw", false);
    #[allow(deprecated)]
    {
        info.role = Some("dev".into());
    }
    let f = sim.add_framework(info, Dialect::Calls);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(offered_cpus(&sim, f), 4.0);

    let refused = |sim: &mut SimCluster, config, force| {
        let id = sim.operator(OperatorCall::UpdateQuota { force, configs: vec![config] });
        match sim.operator_result(id) {
            Some(Err(OperatorError::BadRequest(text))) => text,
            other => panic!("{other:?}"),
        }
    };
    let text = refused(&mut sim, quota("dev", &[("cpus", 2.0)], &[("cpus", 1.0)]), false);
    assert!(text.contains("is not contained within the 'QuotaConfig.limits'"), "{text}");
    let text = refused(&mut sim, quota("dev", &[("cpus", 100.0)], &[]), false);
    assert!(text.contains("exceed cluster capacity") && text.contains("use 'force'"), "{text}");
    let text = refused(&mut sim, quota("a/b", &[], &[("cpus", 1.0)]), false);
    assert_eq!(text, "Updating quota on nested role 'a/b' is not supported yet");
    let text = refused(&mut sim, quota("dev", &[("cpus", -1.0)], &[]), false);
    assert!(text.starts_with("Invalid QuotaConfig: Invalid guarantee configuration"), "{text}");
    // Offered is not consumed (Mesos's `consumedQuota`: allocated and
    // reserved), so a limit below the outstanding offer is accepted.
    let id =
        sim.operator(OperatorCall::UpdateQuota { force: false, configs: vec![quota("dev", &[], &[("cpus", 1.0)])] });
    assert_eq!(sim.operator_result(id), None, "answered before the registry has it");
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert_eq!(sim.registry().quota_configs.len(), 1);
    assert_eq!(sim.registry().quota_configs[0].role, "dev");
    let status = mesos_rs::master::operator::get_quota(sim.master()).status;
    assert_eq!(status.configs[0].limits["cpus"].value, 1.0);

    // Offers given back come again within the limit.
    let offers: Vec<_> = sim.framework(f).offers.iter().map(|o| o.id.clone()).collect();
    let decline = sim.framework(f).decline(&offers, Some(0.0));
    sim.send(f, decline);
    sim.run_for(Duration::from_secs(2));
    let last = sim.framework(f).offers.last().unwrap();
    let cpus: f64 = last
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0))
        .sum();
    assert_eq!(cpus, 1.0);

    // An empty configuration removes the quota.
    let id = sim.operator(OperatorCall::UpdateQuota { force: false, configs: vec![quota("dev", &[], &[])] });
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.registry().quota_configs.is_empty());
    assert!(mesos_rs::master::operator::get_quota(sim.master()).status.configs.is_empty());
}

#[tokio::test]
async fn quota_over_http() {
    let mut sim = SimCluster::new(5);
    sim.add_agent(AgentSpec { resources: "cpus:4;mem:1024".into(), ..Default::default() });
    sim.run_for(Duration::from_secs(1));
    let api = api(sim, Context::default()).await;
    let (status, body) = json_call(
        &api,
        json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
            {"role": "dev", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 2}, "mem": {"value": 512}}}
        ]}}),
    )
    .await;
    assert_eq!((status, body), (200, json!("")));
    let (_, body) = json_call(&api, json!({"type": "GET_QUOTA"})).await;
    let config = &body["get_quota"]["status"]["configs"][0];
    assert_eq!(config["role"], "dev");
    assert_eq!(config["guarantees"]["cpus"]["value"], 1.0);
    assert_eq!(config["limits"]["mem"]["value"], 512.0);
    assert_eq!(body["get_quota"]["status"]["infos"][0]["guarantee"][0]["name"], "cpus");
    let (_, r) = proto_call(&api, typed(call::Type::GetQuota)).await;
    assert_eq!(r.get_quota.unwrap().status.configs[0].role, "dev");
    let (status, body) = json_call(
        &api,
        json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": "dev", "guarantees": {"cpus": {"value": 64}}}]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = json_call(
        &api,
        json!({"type": "UPDATE_QUOTA", "update_quota": {"force": true, "quota_configs": [{"role": "dev", "guarantees": {"cpus": {"value": 64}}}]}}),
    )
    .await;
    assert_eq!(status, 200);
    // /master/roles shows the new quota.
    let (_, body) = json_call(&api, json!({"type": "GET_ROLES"})).await;
    assert!(body["get_roles"]["roles"].as_array().unwrap().iter().any(|r| r["name"] == "dev"), "{body}");
}

// ---------------------------------------------------------------------
// Maintenance.

fn machine_of(sim: &SimCluster) -> mesos_rs::proto::mesos::MachineId {
    let agent = sim.master().agents().next().unwrap();
    mesos_rs::proto::mesos::MachineId {
        hostname: Some(agent.info.hostname.to_uppercase()),
        ip: Some(agent.pid.addr().ip().to_string()),
    }
}

fn schedule(
    machines: Vec<mesos_rs::proto::mesos::MachineId>,
    start_nanos: i64,
) -> mesos_rs::proto::mesos::maintenance::Schedule {
    use mesos_rs::proto::mesos::maintenance::{Schedule, Window};
    use mesos_rs::proto::mesos::{DurationInfo, TimeInfo, Unavailability};
    Schedule {
        windows: vec![Window {
            machine_ids: machines,
            unavailability: Unavailability {
                start: TimeInfo { nanoseconds: start_nanos },
                duration: Some(DurationInfo { nanoseconds: 3_600_000_000_000 }),
            },
        }],
    }
}

#[test]
fn maintenance_drains_with_inverse_offers_then_takes_the_machine_down_and_up() {
    use mesos_rs::proto::mesos::allocator::inverse_offer_status::Status;
    let mut sim = cluster(&["t1"], None);
    let machine = machine_of(&sim);
    let f = 0;
    let fid = sim.framework(f).framework_id();
    let start = sim.now().nanos() + 3_600_000_000_000;

    let bad = sim.operator(OperatorCall::StartMaintenance(vec![machine.clone()]));
    match sim.operator_result(bad) {
        Some(Err(OperatorError::BadRequest(text))) => {
            assert!(text.ends_with("is not part of a maintenance schedule"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    let empty = mesos_rs::proto::mesos::MachineId::default();
    let bad = sim.operator(OperatorCall::UpdateMaintenanceSchedule(schedule(vec![empty], start)));
    assert_eq!(
        sim.operator_result(bad),
        Some(Err(OperatorError::BadRequest("Both 'hostname' and 'ip' for a machine are empty".into())))
    );

    // DRAINING: persisted; the framework with a task there gets an inverse
    // offer; the next offers from the agent carry the unavailability.
    let id = sim.operator(OperatorCall::UpdateMaintenanceSchedule(schedule(vec![machine.clone()], start)));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert_eq!(sim.registry().schedules.len(), 1);
    assert_eq!(
        sim.registry().machines.as_ref().unwrap().machines[0].info.mode(),
        mesos_rs::proto::mesos::machine_info::Mode::Draining
    );
    assert_eq!(sim.delivered(&sim.framework(f).pid.clone(), "mesos.internal.InverseOffersMessage"), 1);
    let status = sim.master().maintenance_status();
    assert_eq!(status.draining_machines.len(), 1);
    assert_eq!(status.draining_machines[0].statuses[0].status(), Status::Unknown);
    assert_eq!(status.draining_machines[0].statuses[0].framework_id, fid);
    // (The rest of the first offer was declined for 5 seconds by the launch.)
    sim.run_for(Duration::from_secs(5));
    let offer = sim.framework(f).offers.last().expect("a new offer");
    assert_eq!(offer.unavailability.as_ref().map(|u| u.start.nanoseconds), Some(start));
    assert_eq!(sim.master().maintenance_schedule().windows.len(), 1);

    let frameworks = mesos_rs::master::operator::get_frameworks(sim.master()).frameworks;
    assert_eq!(frameworks[0].inverse_offers.len(), 1);
    assert_eq!(frameworks[0].inverse_offers[0].unavailability.start.nanoseconds, start);

    // The framework declines the inverse offer: the status says so, and no
    // new inverse offer is sent for it.
    let (inverse, _, _) = sim.master().inverse_offers()[0].clone();
    let mut decline = mesos_rs::proto::mesos::scheduler::Call {
        framework_id: Some(fid.clone()),
        r#type: Some(mesos_rs::proto::mesos::scheduler::call::Type::DeclineInverseOffers as i32),
        ..Default::default()
    };
    decline.decline_inverse_offers = Some(mesos_rs::proto::mesos::scheduler::call::DeclineInverseOffers {
        inverse_offer_ids: vec![inverse],
        filters: None,
    });
    sim.send(f, decline.into());
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.master().maintenance_status().draining_machines[0].statuses[0].status(), Status::Decline);
    assert_eq!(sim.delivered(&sim.framework(f).pid.clone(), "mesos.internal.InverseOffersMessage"), 1);
    let frameworks = mesos_rs::master::operator::get_frameworks(sim.master()).frameworks;
    assert!(frameworks[0].inverse_offers.is_empty());

    let bad = sim.operator(OperatorCall::StopMaintenance(vec![machine.clone()]));
    assert!(
        matches!(sim.operator_result(bad), Some(Err(OperatorError::BadRequest(t))) if t.ends_with("is not in DOWN mode and cannot be brought up"))
    );

    // DOWN: the agent is told to shut down and removed; its registration
    // is refused while the machine is down; the machine cannot leave the
    // schedule.
    let id = sim.operator(OperatorCall::StartMaintenance(vec![machine.clone()]));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.master().agents().next().is_none());
    assert!(sim.delivered(&sim.agent(0).pid.clone(), "mesos.internal.ShutdownMessage") >= 1);
    assert_eq!(sim.master().maintenance_status().down_machines, vec![machine.clone()]);
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskLost));
    let bad = sim.operator(OperatorCall::UpdateMaintenanceSchedule(Default::default()));
    assert!(
        matches!(sim.operator_result(bad), Some(Err(OperatorError::BadRequest(t))) if t.ends_with("is deactivated and cannot be removed from the schedule"))
    );
    sim.restart_agent(0);
    sim.run_for(Duration::from_secs(3));
    assert!(sim.master().agents().next().is_none(), "an agent on a DOWN machine registered");

    // UP again: out of the schedule and the registry; the agent may come back.
    let id = sim.operator(OperatorCall::StopMaintenance(vec![machine]));
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.registry().schedules.is_empty());
    assert!(sim.registry().machines.as_ref().unwrap().machines.is_empty());
    assert!(sim.master().maintenance_schedule().windows.is_empty());
    sim.restart_agent(0);
    sim.run_for(Duration::from_secs(3));
    assert!(sim.master().agents().next().is_some(), "the agent did not come back after STOP_MAINTENANCE");
}

#[tokio::test]
async fn maintenance_over_http() {
    let sim = cluster(&[], None);
    let machine = machine_of(&sim);
    let (hostname, ip) = (machine.hostname.clone().unwrap(), machine.ip.clone().unwrap());
    let api = api(sim, Context::default()).await;
    let window = json!({"machine_ids": [{"hostname": hostname, "ip": ip}],
                        "unavailability": {"start": {"nanoseconds": 1}, "duration": {"nanoseconds": 3600000000000u64}}});
    let (status, body) = json_call(
        &api,
        json!({"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": {"windows": [window]}}}),
    )
    .await;
    assert_eq!((status, body), (200, json!("")));
    let (_, body) = json_call(&api, json!({"type": "GET_MAINTENANCE_SCHEDULE"})).await;
    assert_eq!(body["get_maintenance_schedule"]["schedule"]["windows"][0]["machine_ids"][0]["ip"], ip.as_str());
    let (_, body) = json_call(&api, json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    assert_eq!(body["get_maintenance_status"]["status"]["draining_machines"][0]["id"]["hostname"], hostname.as_str());
    let (status, _) = json_call(
        &api,
        json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{"hostname": hostname, "ip": ip}]}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, r) = proto_call(&api, typed(call::Type::GetMaintenanceStatus)).await;
    assert_eq!(r.get_maintenance_status.unwrap().status.down_machines[0].ip.as_deref(), Some(ip.as_str()));
    // (The agent's removal goes through the registry, which this harness
    // does not hold agents in: the simulated test above checks it.)
    let (status, body) =
        json_call(&api, json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": []}})).await;
    assert_eq!((status, body), (400, json!("List of machines is empty")));
    let (status, _) = json_call(
        &api,
        json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [{"hostname": hostname, "ip": ip}]}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = json_call(&api, json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    assert_eq!(body["get_maintenance_status"]["status"], json!({}));
}

#[test]
fn deactivate_and_reactivate_agent_stop_and_resume_its_offers() {
    let mut sim = cluster(&[], None);
    let agent = sim.master().agents().next().unwrap().id.clone();
    let id = sim.operator(OperatorCall::DeactivateAgent(SlaveId { value: "nope".into() }));
    assert_eq!(sim.operator_result(id), Some(Err(OperatorError::BadRequest("Unknown agent".into()))));
    let id = sim.operator(OperatorCall::ReactivateAgent(agent.clone()));
    assert_eq!(sim.operator_result(id), Some(Err(OperatorError::BadRequest("Agent is not deactivated".into()))));

    let id = sim.operator(OperatorCall::DeactivateAgent(agent.clone()));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(sim.master().is_deactivated(&agent));
    assert!(!sim.master().agent(&agent).unwrap().active);
    assert_eq!(sim.registry().slaves.as_ref().unwrap().slaves[0].deactivated, Some(true));
    assert!(sim.framework(0).offers.is_empty(), "the agent's offers were not rescinded");
    sim.run_for(Duration::from_secs(10));
    assert!(sim.framework(0).offers.is_empty(), "a deactivated agent was offered");

    let id = sim.operator(OperatorCall::ReactivateAgent(agent.clone()));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.operator_result(id), Some(Ok(())));
    assert!(!sim.master().is_deactivated(&agent));
    assert_eq!(sim.registry().slaves.as_ref().unwrap().slaves[0].deactivated, None);
    assert!(!sim.framework(0).offers.is_empty(), "no offers after reactivation");
}
