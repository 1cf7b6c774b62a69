//! A libprocess peer for interop tests (`compat-tests/tests/test_v0_wire.py`).
//!
//! Serves two nodes on `LIBPROCESS_IP` (default 127.0.0.1): `peer`, which
//! answers messages, and `doomed`, which exists only to be shut down so the
//! other side can watch a link break. Reports on stdout, one JSON object per
//! line:
//! - `{"event":"ready","peer":UPID,"doomed":UPID}` once both listen;
//! - `{"event":"message","from":UPID,"name":NAME,"fields":{...}}` per message
//!   `peer` receives, with the fields the test checks;
//! - `{"event":"exited","pid":UPID}` when a peer `peer` linked to goes away.
//!
//! Replies, sent to the message's sender (which `peer` links to on first
//! contact): `RegisterFrameworkMessage` -> `FrameworkRegisteredMessage`;
//! `FrameworkToExecutorMessage` -> `ExecutorToFrameworkMessage` with the data
//! reversed; `KillTaskMessage` -> a `TASK_KILLED` `StatusUpdateMessage`;
//! `ReviveOffersMessage` -> a two-offer `ResourceOffersMessage`;
//! `DeactivateFrameworkMessage` -> `FrameworkErrorMessage`;
//! `ShutdownMessage` -> stops the `doomed` node. Runs until stdin closes.

use std::collections::HashSet;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context as _;
use mesos_rs::proto::mesos as m;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::v0_compat::{serve, Config, Event, Message, Node, Upid};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

fn emit(line: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields of each message that the interop test checks.
fn fields(message: &Message) -> Value {
    match message {
        Message::RegisterFrameworkMessage(r) => json!({
            "user": r.framework.user, "name": r.framework.name,
            "failover_timeout": r.framework.failover_timeout, "checkpoint": r.framework.checkpoint,
        }),
        Message::FrameworkToExecutorMessage(f) => json!({
            "framework_id": f.framework_id.value, "executor_id": f.executor_id.value,
            "slave_id": f.slave_id.value, "data_len": f.data.len(),
            "data_head_hex": hex(&f.data[..f.data.len().min(16)]),
            "data_checksum": f.data.iter().fold(0u64, |acc, b| acc.wrapping_mul(31).wrapping_add(*b as u64)),
        }),
        Message::KillTaskMessage(k) => json!({"framework_id": k.framework_id.value, "task_id": k.task_id.value}),
        Message::StatusUpdateAcknowledgementMessage(a) => json!({
            "task_id": a.task_id.value, "slave_id": a.slave_id.value, "uuid_hex": hex(&a.uuid),
        }),
        Message::ReviveOffersMessage(r) => json!({"framework_id": r.framework_id.value}),
        Message::DeactivateFrameworkMessage(d) => json!({"framework_id": d.framework_id.value}),
        Message::ShutdownMessage(s) => json!({"message": s.message}),
        _ => json!({}),
    }
}

fn offer(i: u32, framework_id: &m::FrameworkId) -> m::Offer {
    let scalar = |name: &str, value: f64| m::Resource {
        name: name.into(),
        r#type: m::value::Type::Scalar as i32,
        scalar: Some(m::value::Scalar { value }),
        ..Default::default()
    };
    m::Offer {
        id: m::OfferId { value: format!("offer-{i}") },
        framework_id: framework_id.clone(),
        slave_id: m::SlaveId { value: format!("agent-{i}") },
        hostname: format!("host-{i}.example"),
        resources: vec![
            scalar("cpus", 4.0 + i as f64),
            scalar("mem", 1024.0),
            m::Resource {
                name: "ports".into(),
                r#type: m::value::Type::Ranges as i32,
                ranges: Some(m::value::Ranges { range: vec![m::value::Range { begin: 31000, end: 32000 }] }),
                ..Default::default()
            },
        ],
        attributes: vec![m::Attribute {
            name: "rack".into(),
            r#type: m::value::Type::Text as i32,
            text: Some(m::value::Text { value: format!("r{i}") }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The reply `peer` sends for `message`, if any.
fn reply(message: &Message, me: &Upid) -> Option<Message> {
    Some(match message {
        Message::RegisterFrameworkMessage(_) => mi::FrameworkRegisteredMessage {
            framework_id: m::FrameworkId { value: "interop-framework-1".into() },
            master_info: m::MasterInfo {
                id: "interop-master".into(),
                ip: u32::from(Ipv4Addr::new(127, 0, 0, 1)).to_be(),
                port: me.addr().port() as u32,
                pid: Some(me.to_string()),
                hostname: Some("localhost".into()),
                ..Default::default()
            },
        }
        .into(),
        Message::FrameworkToExecutorMessage(f) => mi::ExecutorToFrameworkMessage {
            slave_id: f.slave_id.clone(),
            framework_id: f.framework_id.clone(),
            executor_id: f.executor_id.clone(),
            data: f.data.iter().rev().copied().collect(),
        }
        .into(),
        Message::KillTaskMessage(k) => mi::StatusUpdateMessage {
            update: mi::StatusUpdate {
                framework_id: k.framework_id.clone(),
                status: m::TaskStatus {
                    task_id: k.task_id.clone(),
                    state: m::TaskState::TaskKilled as i32,
                    message: Some("killed by interop peer".into()),
                    ..Default::default()
                },
                timestamp: 1_700_000_000.5,
                // Required in the Mesos 0.22 schema compactor's side uses.
                uuid: Some(vec![7u8; 16]),
                ..Default::default()
            },
            pid: Some(me.to_string()),
        }
        .into(),
        Message::ReviveOffersMessage(r) => mi::ResourceOffersMessage {
            offers: vec![offer(1, &r.framework_id), offer(2, &r.framework_id)],
            pids: vec!["slave(1)@127.0.0.1:5051".into(), "slave(1)@127.0.0.1:5052".into()],
        }
        .into(),
        Message::DeactivateFrameworkMessage(d) => {
            mi::FrameworkErrorMessage { message: format!("deactivated {}", d.framework_id.value) }.into()
        }
        _ => return None,
    })
}

async fn serve_node(ip: IpAddr) -> anyhow::Result<(Node, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.context("bind")?;
    let node = Node::new(listener.local_addr()?, Config::from_env()?.options());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, node.clone(), axum::Router::new(), async {
        let _ = stopped.await;
    }));
    Ok((node, stop))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let ip = Config::from_env()?.ip.map(IpAddr::V4).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (node, _stop_peer) = serve_node(ip).await?;
    let (doomed_node, stop_doomed) = serve_node(ip).await?;
    let mut peer = node.spawn("peer")?;
    let doomed = doomed_node.spawn("doomed")?;
    let me = peer.pid().clone();
    emit(json!({"event": "ready", "peer": me.to_string(), "doomed": doomed.pid().to_string()}));

    // Ends the example when the test closes our stdin.
    let mut stdin_closed = tokio::spawn(async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    });
    let mut stop_doomed = Some(stop_doomed);
    let mut linked = HashSet::new();
    loop {
        let event = tokio::select! {
            event = peer.recv() => event.context("node gone")?,
            _ = &mut stdin_closed => break,
        };
        match event {
            Event::Message { from, message } => {
                emit(
                    json!({"event": "message", "from": from.to_string(), "name": message.name(), "fields": fields(&message)}),
                );
                if linked.insert(from.clone()) {
                    peer.handle().link(&from);
                }
                if let Message::ShutdownMessage(_) = message {
                    if let Some(stop) = stop_doomed.take() {
                        let _ = stop.send(());
                    }
                } else if let Some(answer) = reply(&message, &me) {
                    peer.handle().send(&from, &answer)?;
                }
            }
            Event::Exited(pid) => {
                linked.remove(&pid);
                emit(json!({"event": "exited", "pid": pid.to_string()}));
            }
            Event::Raw { .. } => {}
        }
    }
    drop(doomed);
    Ok(())
}
