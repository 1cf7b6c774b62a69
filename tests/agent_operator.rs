//! The agent's v1 operator API (`POST /api/v1`) on the real `mesos-agent`
//! (against a fake master in this process): every implemented call in JSON
//! and protobuf, Mesos's status codes and texts, 501 naming the calls the
//! agent does not implement, and KILL_CONTAINER ending a task's container.

#[path = "agent_it/harness.rs"]
mod harness;
mod support;

use harness::*;
use mesos_rs::proto::mesos::v1::agent::{call, Call, Response};
use mesos_rs::proto::mesos::TaskState;
use prost::Message;
use serde_json::{json, Value};

/// POSTs `body` to `/api/v1`: (status, content type, body).
async fn post(port: u16, content_type: Option<&str>, accept: Option<&str>, body: &[u8]) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = content_type {
        head.push_str(&format!("Content-Type: {c}\r\n"));
    }
    if let Some(a) = accept {
        head.push_str(&format!("Accept: {a}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 4 + n..];
        }
        body = out;
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type =
        head.lines().find_map(|l| l.strip_prefix("content-type:")).map(|v| v.trim().to_string()).unwrap_or_default();
    (status, content_type, body)
}

async fn json_call(port: u16, call: Value) -> (u16, Value) {
    let (status, _, body) =
        post(port, Some("application/json"), Some("application/json"), call.to_string().as_bytes()).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn proto_call(port: u16, call: Call) -> (u16, Response) {
    let (status, content_type, body) =
        post(port, Some("application/x-protobuf"), Some("application/x-protobuf"), &call.encode_to_vec()).await;
    if status == 200 && !body.is_empty() {
        assert_eq!(content_type, "application/x-protobuf");
    }
    (status, Response::decode(body.as_slice()).unwrap_or_default())
}

fn typed(kind: call::Type) -> Call {
    Call { r#type: Some(kind as i32), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_operator_api_answers_in_json_and_protobuf() {
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start("operator", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-op");
    let id = master.agent_id.clone();
    master.run_task(&fw, command_task(&id, "done", "echo written by done"));
    master.run_task(&fw, command_task(&id, "long", "sleep 600"));
    assert_eq!(master.terminal_of("done").await.status.state(), TaskState::TaskFinished);
    master.until("long to run", |m| m.states("long").contains(&TaskState::TaskRunning)).await;
    let port = agent.port;
    // The finished task's executor exits on its own: wait until the agent
    // has it among the completed ones (bounded by polls).
    let mut done_completed = false;
    for _ in 0..200 {
        let (_, body) = json_call(port, json!({"type": "GET_EXECUTORS"})).await;
        let completed = body["get_executors"]["completed_executors"].as_array().cloned().unwrap_or_default();
        if completed.iter().any(|e| e["executor_info"]["executor_id"]["value"] == "done") {
            done_completed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(done_completed, "the finished task's executor never completed");

    // Mesos's checks and texts.
    let (status, _, body) = post(port, None, None, b"{}").await;
    assert_eq!((status, String::from_utf8(body).unwrap().as_str()), (400, "Expecting 'Content-Type' to be present"));
    let (status, _, _) = post(port, Some("text/plain"), None, b"{}").await;
    assert_eq!(status, 415);
    let (status, _, _) = post(port, Some("application/json"), Some("text/html"), br#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(status, 406);
    let (status, body) = json_call(port, json!({"type": "GET_METRICS"})).await;
    assert_eq!((status, body), (400, json!("Failed to validate agent::Call: Expecting 'get_metrics' to be present")));
    for name in [
        "LAUNCH_NESTED_CONTAINER_SESSION",
        "ATTACH_CONTAINER_OUTPUT",
        "PRUNE_IMAGES",
        "GET_RESOURCE_PROVIDERS",
        "UNKNOWN",
    ] {
        let payload = match name {
            "LAUNCH_NESTED_CONTAINER_SESSION" => {
                json!({"type": name, "launch_nested_container_session": {"container_id": {"value": "x"}}})
            }
            "ATTACH_CONTAINER_OUTPUT" => {
                json!({"type": name, "attach_container_output": {"container_id": {"value": "x"}}})
            }
            _ => json!({"type": name}),
        };
        let (status, body) = json_call(port, payload).await;
        assert_eq!((status, body), (501, json!(format!("Call '{name}' is not implemented"))), "{name}");
    }

    // The shared calls.
    let (_, body) = json_call(port, json!({"type": "GET_HEALTH"})).await;
    assert_eq!(body, json!({"type": "GET_HEALTH", "get_health": {"healthy": true}}));
    let (_, r) = proto_call(port, typed(call::Type::GetFlags)).await;
    assert!(r.get_flags.unwrap().flags.iter().any(|f| f.name == "work_dir"));
    let (_, body) = json_call(port, json!({"type": "GET_VERSION"})).await;
    assert_eq!(body["get_version"]["version_info"]["version"], "1.11.0");
    let (_, body) = json_call(port, json!({"type": "GET_METRICS", "get_metrics": {}})).await;
    let metrics = body["get_metrics"]["metrics"].as_array().unwrap();
    assert!(metrics.iter().any(|m| m["name"] == "slave/tasks_running" && m["value"] == 1.0), "{metrics:?}");
    let (_, body) = json_call(
        port,
        json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1, "duration": {"nanoseconds": 60000000000u64}}}),
    )
    .await;
    assert_eq!(body, json!(""));
    let (_, r) = proto_call(port, typed(call::Type::GetLoggingLevel)).await;
    assert_eq!(r.get_logging_level.unwrap().level, 1);

    // The books.
    let (_, body) = json_call(port, json!({"type": "GET_STATE"})).await;
    let state = &body["get_state"];
    assert_eq!(state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"], "F-op");
    let launched = state["get_tasks"]["launched_tasks"].as_array().unwrap();
    assert_eq!(launched.len(), 1);
    assert_eq!(
        (launched[0]["task_id"]["value"].clone(), launched[0]["state"].clone()),
        (json!("long"), json!("TASK_RUNNING"))
    );
    assert_eq!(state["get_tasks"]["completed_tasks"][0]["task_id"]["value"], "done");
    let (_, r) = proto_call(port, typed(call::Type::GetTasks)).await;
    assert_eq!(r.get_tasks.unwrap().launched_tasks[0].task_id.value, "long");
    let (_, r) = proto_call(port, typed(call::Type::GetFrameworks)).await;
    assert_eq!(r.get_frameworks.unwrap().frameworks[0].framework_info.name, "it F-op");
    let (_, body) = json_call(port, json!({"type": "GET_EXECUTORS"})).await;
    let executors = &body["get_executors"];
    assert_eq!(executors["executors"][0]["executor_info"]["executor_id"]["value"], "long");
    assert_eq!(executors["completed_executors"][0]["executor_info"]["executor_id"]["value"], "done");
    let (_, body) = json_call(port, json!({"type": "GET_AGENT"})).await;
    assert_eq!(body["get_agent"]["agent_info"]["id"]["value"], id.as_str());
    assert_eq!(body["get_agent"]["agent_info"]["hostname"], "localhost");
    let (_, r) = proto_call(port, typed(call::Type::GetAgent)).await;
    assert_eq!(r.get_agent.unwrap().agent_info.unwrap().hostname, "localhost");

    // Containers: the live executor's, with its usage.
    let (_, body) = json_call(port, json!({"type": "GET_CONTAINERS"})).await;
    let containers = body["get_containers"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{body}");
    assert_eq!(containers[0]["executor_id"]["value"], "long");
    assert_eq!(containers[0]["framework_id"]["value"], "F-op");
    assert!(containers[0]["resource_statistics"]["timestamp"].as_f64().unwrap() > 0.0, "{body}");
    let container_id = containers[0]["container_id"]["value"].as_str().unwrap().to_string();

    // Files in the sandbox.
    let sandbox = "/frameworks/F-op/executors/done/runs/latest";
    let (status, body) = json_call(port, json!({"type": "LIST_FILES", "list_files": {"path": sandbox}})).await;
    assert_eq!(status, 200, "{body}");
    let paths: Vec<&str> =
        body["list_files"]["file_infos"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&format!("{sandbox}/stdout").as_str()), "{paths:?}");
    let mut read = typed(call::Type::ReadFile);
    read.read_file = Some(call::ReadFile { path: format!("{sandbox}/stdout"), offset: 0, length: None });
    let (status, r) = proto_call(port, read).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&r.read_file.unwrap().data).contains("written by done"));
    let (status, _) =
        json_call(port, json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}})).await;
    assert!(status == 400 || status == 404, "{status}");

    // KILL_CONTAINER: unknown is 404; the long task's container ends, and
    // the master hears the task is over.
    let (status, body) =
        json_call(port, json!({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "nope"}}})).await;
    assert_eq!((status, body), (404, json!("Container 'nope' cannot be found (or is already killed)")));
    let mut kill = typed(call::Type::KillContainer);
    kill.kill_container = Some(call::KillContainer {
        container_id: mesos_rs::proto::mesos::v1::ContainerId { value: container_id, parent: None },
        signal: None,
    });
    let (status, _) = proto_call(port, kill).await;
    assert_eq!(status, 200);
    let long = master.terminal_of("long").await;
    assert!(matches!(long.status.state(), TaskState::TaskFailed | TaskState::TaskKilled), "{:?}", long.status.state());
    drop(agent);
}
