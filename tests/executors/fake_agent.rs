//! A small stand-in for the agent's `/api/v1/executor`: answers SUBSCRIBE
//! with a RecordIO event stream (starting with SUBSCRIBED), records every
//! call, and lets the test push events (LAUNCH, KILL, ACKNOWLEDGED, ...).
//! It can be stopped and started again on the same port, as an agent
//! restart looks to an executor.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mesos_rs::agent::executors::env::ContentType;
use mesos_rs::http_api::{json, recordio};
use mesos_rs::proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_rs::proto::mesos::v1::{framework_info, AgentInfo, ExecutorInfo, FrameworkInfo, TaskStatus};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Shared {
    /// Pushes records onto the current SUBSCRIBE stream.
    stream: Option<mpsc::UnboundedSender<Bytes>>,
    content_type: Option<ContentType>,
    killing_capability: bool,
    connections: Vec<JoinHandle<()>>,
}

pub struct FakeAgent {
    pub address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    calls: mpsc::UnboundedReceiver<Call>,
    server: JoinHandle<()>,
}

fn encode(content_type: ContentType, event: &Event) -> Bytes {
    let body: Vec<u8> = match content_type {
        ContentType::Protobuf => event.encode_to_vec(),
        ContentType::Json => json::to_string(event).into_bytes(),
    };
    recordio::encode(&body)
}

impl FakeAgent {
    /// Listens on `address` (port 0: any).
    pub async fn start(address: SocketAddr, killing_capability: bool) -> FakeAgent {
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared { killing_capability, ..Default::default() }));
        let mut bound = None;
        for _ in 0..200 {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                // The previous "agent" may still hold the port for a moment.
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
        let listener = bound.expect("bind the fake agent");
        let address = listener.local_addr().unwrap();
        let server = {
            let (shared, calls_tx) = (shared.clone(), calls_tx.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    let (shared2, calls_tx) = (shared.clone(), calls_tx.clone());
                    let connection = tokio::spawn(async move {
                        let service = service_fn(move |request| handle(request, shared2.clone(), calls_tx.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    shared.lock().unwrap().connections.push(connection);
                }
            })
        };
        FakeAgent { address, shared, calls, server }
    }

    /// Stops serving and drops every connection (an agent crash).
    pub fn stop(&mut self) {
        self.server.abort();
        let mut shared = self.shared.lock().unwrap();
        shared.stream = None;
        for connection in shared.connections.drain(..) {
            connection.abort();
        }
    }

    /// Pushes an event onto the subscription stream.
    pub fn send(&self, event: Event) {
        let shared = self.shared.lock().unwrap();
        let content_type = shared.content_type.unwrap_or(ContentType::Protobuf);
        let stream = shared.stream.as_ref().expect("the executor has subscribed");
        stream.send(encode(content_type, &event)).expect("stream open");
    }

    /// The next call the executor made (HEARTBEATs skipped).
    pub async fn next_call(&mut self) -> Call {
        loop {
            let call =
                tokio::time::timeout(DEADLINE, self.calls.recv()).await.expect("no call from the executor").unwrap();
            if call.r#type() != call::Type::Heartbeat {
                return call;
            }
        }
    }

    /// Waits for SUBSCRIBE (skipping resent ones that raced our answer).
    pub async fn subscribed(&mut self) -> Call {
        loop {
            let call = self.next_call().await;
            if call.r#type() == call::Type::Subscribe {
                // Give the stream a moment to be registered before events are pushed.
                for _ in 0..100 {
                    if self.shared.lock().unwrap().stream.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return call;
            }
        }
    }

    /// The next status update (other calls skipped).
    pub async fn next_update(&mut self) -> TaskStatus {
        loop {
            let call = self.next_call().await;
            if let Some(update) = call.update {
                return update.status;
            }
        }
    }

    /// Acknowledges an update, as the agent does once it has it.
    pub fn ack(&self, status: &TaskStatus) {
        self.send(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().unwrap_or_default(),
            }),
            ..Default::default()
        });
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn respond(status: u16, body: &str) -> hyper::Response<BoxBody<Bytes, Infallible>> {
    hyper::Response::builder().status(status).body(Full::new(Bytes::from(body.to_string())).boxed()).unwrap()
}

async fn handle(
    request: hyper::Request<hyper::body::Incoming>,
    shared: Arc<Mutex<Shared>>,
    calls: mpsc::UnboundedSender<Call>,
) -> Result<hyper::Response<BoxBody<Bytes, Infallible>>, Infallible> {
    if !request.uri().path().ends_with("/api/v1/executor") {
        return Ok(respond(404, ""));
    }
    let content_type = match request.headers().get("content-type").and_then(|v| v.to_str().ok()) {
        Some("application/json") => ContentType::Json,
        _ => ContentType::Protobuf,
    };
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let call = match content_type {
        ContentType::Protobuf => Call::decode(body),
        ContentType::Json => match json::from_str::<Call>(&String::from_utf8_lossy(&body)) {
            Ok(call) => Ok(call),
            Err(e) => return Ok(respond(400, &e.to_string())),
        },
    };
    let Ok(call) = call else { return Ok(respond(400, "bad call")) };
    let kind = call.r#type();
    let _ = calls.send(call.clone());
    if kind != call::Type::Subscribe {
        return Ok(respond(202, ""));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let killing = {
        let mut shared = shared.lock().unwrap();
        shared.stream = Some(tx.clone());
        shared.content_type = Some(content_type);
        shared.killing_capability
    };
    let mut framework_info = FrameworkInfo { user: "root".into(), name: "test".into(), ..Default::default() };
    if killing {
        framework_info.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
        });
    }
    let subscribed = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo { executor_id: call.executor_id.clone(), ..Default::default() },
            framework_info,
            agent_info: AgentInfo { hostname: "fake-agent".into(), ..Default::default() },
            container_id: Some(mesos_rs::proto::mesos::v1::ContainerId {
                value: "executor-container".into(),
                parent: None,
            }),
        }),
        ..Default::default()
    };
    tx.send(encode(content_type, &subscribed)).unwrap();
    let stream =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(|b| Ok::<_, Infallible>(Frame::data(b)))));
    let mime = match content_type {
        ContentType::Protobuf => "application/x-protobuf",
        ContentType::Json => "application/json",
    };
    Ok(hyper::Response::builder()
        .status(200)
        .header("content-type", mime)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap())
}
