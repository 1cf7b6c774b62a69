//! `/api/v1/scheduler` through the real driver loop and router, without a
//! socket (http_api_tests.cpp `HttpApiTest.Subscribe`,
//! `HttpApiTest.TeardownWithoutStreamId`-like, scheduler_tests.cpp
//! `SchedulerTest.Teardown`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use tower::ServiceExt;

use mesos_rs::http_api::master::{router, Context};
use mesos_rs::http_api::recordio;
use mesos_rs::master::runtime::{self, MasterHandle};
use mesos_rs::master::store::InMemoryStore;
use mesos_rs::master::{Config, Master, Now};
use mesos_rs::v0_compat::{Node, Options, Upid};

fn start() -> (axum::Router, MasterHandle, Node) {
    let addr: SocketAddr = "127.0.0.1:5050".parse().unwrap();
    let node = Node::new(addr, Options::default());
    let process = node.spawn("master").unwrap();
    let config = Config { pid: Upid::new("master", addr), ..Default::default() };
    let now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
    let master = Master::new(config, now);
    let (handle, inbox) = runtime::query_channel();
    tokio::spawn(runtime::run(
        master,
        process,
        Box::new(InMemoryStore::default()),
        inbox,
        None,
        std::future::pending(),
    ));
    (router(handle.clone(), Context::default()), handle, node)
}

fn post(body: &str, stream_id: Option<&str>) -> http::Request<Body> {
    let mut request = http::Request::post("/api/v1/scheduler")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    if let Some(id) = stream_id {
        request = request.header("Mesos-Stream-Id", id);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

async fn text(response: http::Response<Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn until_recovered(handle: &MasterHandle) {
    for _ in 0..500 {
        if handle.query(|m, _| m.is_recovered()).await == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the master never recovered");
}

const SUBSCRIBE: &str =
    r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":60}}}"#;

#[tokio::test]
async fn subscribe_stream_calls_teardown_and_disconnection() {
    let (app, handle, _node) = start();
    until_recovered(&handle).await;

    let (status, body) =
        text(app.clone().oneshot(http::Request::get("/api/v1/scheduler").body(Body::empty()).unwrap()).await.unwrap())
            .await;
    assert_eq!((status, body.as_str()), (405, "Expecting one of { 'POST' }, but received 'GET'"));

    let response = app.clone().oneshot(post(SUBSCRIBE, None)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let stream_id = response.headers()["mesos-stream-id"].to_str().unwrap().to_string();
    let mut events = Box::pin(recordio::records(response.into_body().into_data_stream(), 1 << 20));
    let mut next = async || -> serde_json::Value {
        let record = events.next().await.expect("an event").expect("a record");
        serde_json::from_slice(&record).unwrap()
    };
    let subscribed = next().await;
    assert_eq!(subscribed["type"], "SUBSCRIBED");
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert_eq!(subscribed["subscribed"]["master_info"]["version"], "1.11.0");
    let fid = subscribed["subscribed"]["framework_id"]["value"].as_str().unwrap().to_string();
    assert_eq!(next().await["type"], "HEARTBEAT");

    let revive = format!(r#"{{"type":"REVIVE","framework_id":{{"value":"{fid}"}}}}"#);
    assert_eq!(text(app.clone().oneshot(post(&revive, Some(&stream_id))).await.unwrap()).await, (202, String::new()));
    let (status, body) = text(app.clone().oneshot(post(&revive, Some("other"))).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body.contains("didn't match the stream ID"), "{body}");

    // A second framework hangs up: it is disconnected, not removed.
    let other = app.clone().oneshot(post(SUBSCRIBE, None)).await.unwrap();
    let mut other_events = Box::pin(recordio::records(other.into_body().into_data_stream(), 1 << 20));
    let first = other_events.next().await.unwrap().unwrap();
    let other_id = serde_json::from_slice::<serde_json::Value>(&first).unwrap()["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    drop(other_events);
    let mut disconnected = false;
    for _ in 0..500 {
        let id = other_id.clone();
        let state = handle
            .query(move |m, _| {
                m.frameworks().find(|f| f.info.id.as_ref().is_some_and(|i| i.value == id)).map(|f| f.connected())
            })
            .await
            .flatten();
        if state == Some(false) {
            disconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(disconnected, "the hung-up framework is still connected");

    // TEARDOWN ends the first stream.
    let teardown = format!(r#"{{"type":"TEARDOWN","framework_id":{{"value":"{fid}"}}}}"#);
    assert_eq!(text(app.clone().oneshot(post(&teardown, Some(&stream_id))).await.unwrap()).await.0, 202);
    loop {
        match events.next().await {
            None => break,
            Some(Ok(record)) => {
                let event: serde_json::Value = serde_json::from_slice(&record).unwrap();
                assert_eq!(event["type"], "HEARTBEAT", "{event}");
            }
            Some(Err(e)) => panic!("{e}"),
        }
    }
    let left: Vec<String> = handle.query(|m, _| m.frameworks().map(|f| f.info.name.clone()).collect()).await.unwrap();
    assert_eq!(left.len(), 1);
}

/// A scheduler that hangs up before the HTTP layer watches its stream is
/// found out by the next event the master writes to it: disconnected.
#[tokio::test]
async fn a_stream_without_a_reader_disconnects_its_framework() {
    use mesos_rs::master::HttpAnswer;
    use mesos_rs::proto::mesos::scheduler::{call, Call};
    use mesos_rs::proto::mesos::{FrameworkInfo, TaskId};
    let (_app, handle, _node) = start();
    until_recovered(&handle).await;
    let info =
        FrameworkInfo { user: "u".into(), name: "gone".into(), failover_timeout: Some(60.0), ..Default::default() };
    let mut subscribe =
        Call { subscribe: Some(call::Subscribe { framework_info: info, ..Default::default() }), ..Default::default() };
    subscribe.set_type(call::Type::Subscribe);
    let (answer, _stream, rx) = handle.scheduler_call(subscribe, Some("s1".into())).await.unwrap();
    assert_eq!(answer, HttpAnswer::Stream);
    drop(rx);
    let fid = handle.query(|m, _| m.frameworks().next().and_then(|f| f.info.id.clone())).await.flatten().unwrap();
    assert_eq!(handle.query(|m, _| m.frameworks().next().map(|f| f.connected())).await.flatten(), Some(true));
    // An explicit reconciliation of an unknown task makes the master write.
    let mut reconcile = Call { framework_id: Some(fid), ..Default::default() };
    reconcile.set_type(call::Type::Reconcile);
    reconcile.reconcile = Some(call::Reconcile {
        tasks: vec![call::reconcile::Task { task_id: TaskId { value: "t".into() }, slave_id: None }],
    });
    let (answer, _, _) = handle.scheduler_call(reconcile, Some("s1".into())).await.unwrap();
    assert_eq!(answer, HttpAnswer::Accepted);
    assert_eq!(handle.query(|m, _| m.frameworks().next().map(|f| f.connected())).await.flatten(), Some(false));
}
