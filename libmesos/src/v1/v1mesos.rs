//! `org.apache.mesos.v1.scheduler.V1Mesos`: a client of the master's v1
//! scheduler API, with the behaviour of Apache's library
//! (`src/scheduler/scheduler.cpp`, `mesos::v1::scheduler::Mesos`):
//!
//! 1. Detect the leading master (`host:port`, `zk://`, `file://`); on a new
//!    leader wait a random time in `[0, MESOS_CONNECTION_DELAY_MAX]`
//!    (default 500 ms), then open two HTTP/1.1 connections to
//!    `http://<ip>:<port>/<id>/api/v1/scheduler`: one for `SUBSCRIBE` and its
//!    event stream, one for every other call. With both up, the scheduler is
//!    told `connected`.
//! 2. `send(SUBSCRIBE)` (only when connected, not subscribing or subscribed)
//!    posts the call; `200 OK` starts the RecordIO stream of protobuf events
//!    and gives the `Mesos-Stream-Id` every later call carries. Other calls
//!    (only when subscribed) go out in order on the second connection and
//!    expect `202 Accepted`. `503`, `404` and `307` are logged (the master is
//!    not ready, or not the leader yet); any other answer becomes an `ERROR`
//!    event; a failed `SUBSCRIBE` returns to "connected", so the scheduler
//!    can retry.
//! 3. A broken connection, the end of the event stream, a lost or changed
//!    leader, or `reconnect()` tears both connections down, tells the
//!    scheduler `disconnected` (if it was connected) and starts over at 1.
//! 4. `TEARDOWN` is sent and waited for (at most 10 minutes) before `send`
//!    returns, so it goes out even if the Java object is collected right
//!    after.
//!
//! Protobuf is the content type; a `Credential` becomes HTTP basic
//! authentication. The Java scheduler is called from one thread of the
//! client's, one callback at a time. Where Apache's library aborts the
//! process when the Java scheduler throws, ours stops the client.

use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use jni::objects::JObject;
use jni::{jni_str, EnvUnowned};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use mesos_rs::proto::mesos::v1::scheduler::{call, event, Call, Event};
use mesos_rs::proto::mesos::MasterInfo;
use mesos_rs::v0_compat::Upid;
use mesos_rs::zookeeper::MasterDetector;

use super::{master_and_credential, JavaMesos};
use crate::error::{native, Error, Result};
use crate::export::export;
use crate::jvm;
use crate::protos::from_java;
use crate::runtime;

const CLASS: &str = "org.apache.mesos.v1.scheduler.V1Mesos";
const CONTENT_TYPE: &str = "application/x-protobuf";
/// Apache's `DEFAULT_CONNECTION_DELAY_MAX`.
pub const DEFAULT_CONNECTION_DELAY_MAX: Duration = Duration::from_millis(500);
/// How long `send(TEARDOWN)` waits for the master's answer.
pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest event we accept (an `OFFERS` event of a big cluster).
const MAX_EVENT_SIZE: usize = 256 * 1024 * 1024;

/// What the Java side asks of the client.
enum Command {
    Send(Box<Call>, Option<oneshot::Sender<()>>),
    Reconnect,
}

/// What the client tells the Java scheduler, in order.
enum Callback {
    Connected,
    Disconnected,
    Received(Box<Event>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connecting,
    Connected,
    Subscribing,
    Subscribed,
}

/// The `__mesos` handle: the way to the client task (dropping it ends the
/// task, which ends the callback thread).
struct Handle {
    commands: mpsc::UnboundedSender<Command>,
}

/// Settings of one client.
struct Settings {
    master: String,
    authorization: Option<String>,
    connection_delay_max: Duration,
}

/// Why the current connection ended.
type Ended = String;

/// The live connection to a master.
struct Connection {
    url_path: String,
    authority: String,
    /// Lent to the `SUBSCRIBE` in flight, given back with its answer.
    subscribe: Option<SendRequest<Full<Bytes>>>,
    /// Requests for the non-subscribe connection, sent in order by its worker.
    calls: mpsc::UnboundedSender<QueuedCall>,
    stream_id: Option<String>,
}

/// The records of a `SUBSCRIBE` response, as they arrive.
type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// A call ready to go on the non-subscribe connection.
type QueuedCall = (call::Type, Request<Full<Bytes>>, Option<oneshot::Sender<()>>);

/// A result the client task gets from its helpers.
enum Note {
    Connected(u64, std::result::Result<Connection, String>),
    ConnectionEnded(u64, Ended),
    Subscribed(u64, std::result::Result<(String, hyper::body::Incoming), Option<String>>, SendRequest<Full<Bytes>>),
    CallFailed(u64, call::Type, Option<String>),
}

struct Client {
    settings: Settings,
    state: State,
    /// Identifies the current (attempt at a) connection: notes about older
    /// ones are ignored.
    generation: u64,
    connection: Option<Connection>,
    events: Option<EventStream>,
    callbacks: std_mpsc::Sender<Callback>,
    notes_tx: mpsc::UnboundedSender<Note>,
    notes: mpsc::UnboundedReceiver<Note>,
    /// A connection attempt waiting for its random delay.
    pending_connect: Option<(u64, MasterInfo, tokio::time::Instant)>,
}

impl Client {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut detector = match MasterDetector::create(Some(&self.settings.master), None).await {
            Ok(detector) => detector,
            Err(error) => {
                self.error(format!("Failed to create a master detector: {error}"));
                // Without a detector nothing can ever connect; keep serving
                // (and dropping) calls until the Java object goes away.
                while commands.recv().await.is_some() {}
                return;
            }
        };
        let mut leader: Option<MasterInfo> = None;
        loop {
            let connect_at = self.pending_connect.as_ref().map(|(_, _, at)| *at);
            tokio::select! {
                detection = detector.detect(leader.as_ref()) => {
                    match detection {
                        Ok(latest) => {
                            leader = latest.clone();
                            self.detected(latest);
                        }
                        Err(error) => self.error(format!("Failed to detect a master: {error}")),
                    }
                }
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Send(call, done)) => self.send(*call, done),
                    Some(Command::Reconnect) => {
                        if self.state != State::Disconnected {
                            self.lost("Received reconnect request from scheduler".into());
                            self.detected(leader.clone());
                        }
                    }
                },
                Some(note) = self.notes.recv() => {
                    if let Some(redetect) = self.note(note) {
                        tracing::info!("V1Mesos: {redetect}; re-detecting the master");
                        self.detected(leader.clone());
                    }
                }
                Some(event) = next_event(&mut self.events) => match event {
                    Ok(bytes) => match Event::decode(bytes) {
                        Ok(event) => self.received(event),
                        Err(error) => self.error(format!("Failed to de-serialize event: {error}")),
                    },
                    Err(error) => {
                        self.lost(error);
                        self.detected(leader.clone());
                    }
                },
                _ = sleep_until(connect_at) => {
                    if let Some((generation, info, _)) = self.pending_connect.take() {
                        self.connect(generation, info);
                    }
                }
            }
        }
        tracing::debug!("V1Mesos client stops");
    }

    /// A (new, or re-detected) leader: drop what we have, connect anew.
    fn detected(&mut self, leader: Option<MasterInfo>) {
        if matches!(self.state, State::Connected | State::Subscribing | State::Subscribed) {
            self.callback(Callback::Disconnected);
        }
        self.disconnect();
        let Some(info) = leader else {
            tracing::info!("V1Mesos: no leading master");
            return;
        };
        let delay = self.settings.connection_delay_max.mul_f64(rand_fraction());
        self.generation += 1;
        self.pending_connect = Some((self.generation, info, tokio::time::Instant::now() + delay));
    }

    fn disconnect(&mut self) {
        self.state = State::Disconnected;
        self.connection = None;
        self.events = None;
        self.pending_connect = None;
        self.generation += 1;
    }

    /// The connection broke: the caller re-detects (which reports it).
    fn lost(&mut self, why: String) {
        tracing::warn!("V1Mesos: {why}");
    }

    fn connect(&mut self, generation: u64, info: MasterInfo) {
        self.state = State::Connecting;
        let notes = self.notes_tx.clone();
        tokio::spawn(async move {
            let result = open(generation, &info, notes.clone()).await;
            let _ = notes.send(Note::Connected(generation, result));
        });
    }

    /// Handles a helper's note; `Some(why)` when the connection is gone and
    /// the master must be detected again.
    fn note(&mut self, note: Note) -> Option<String> {
        match note {
            Note::Connected(generation, result) if generation == self.generation => match result {
                Ok(connection) => {
                    tracing::info!("V1Mesos: connected with the master at {}", connection.authority);
                    self.connection = Some(connection);
                    self.state = State::Connected;
                    self.callback(Callback::Connected);
                    None
                }
                Err(error) => Some(format!("cannot connect: {error}")),
            },
            Note::ConnectionEnded(generation, why) if generation == self.generation => Some(why),
            Note::Subscribed(generation, result, sender) if generation == self.generation => {
                if let Some(connection) = self.connection.as_mut() {
                    connection.subscribe = Some(sender);
                }
                match result {
                    Ok((stream_id, body)) => {
                        self.state = State::Subscribed;
                        if let Some(connection) = self.connection.as_mut() {
                            connection.stream_id = Some(stream_id);
                        }
                        self.events = Some(Box::pin(events(body)));
                    }
                    Err(error) => {
                        self.state = State::Connected;
                        if let Some(error) = error {
                            self.error(error);
                        }
                    }
                }
                None
            }
            Note::CallFailed(generation, kind, error) if generation == self.generation => {
                if let Some(error) = error {
                    tracing::warn!("V1Mesos: {} failed: {error}", kind.as_str_name());
                    self.error(error);
                }
                None
            }
            _ => None, // about an older connection
        }
    }

    fn send(&mut self, call: Call, done: Option<oneshot::Sender<()>>) {
        let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok()).unwrap_or(call::Type::Unknown);
        if let Err(why) = validate(&call, kind) {
            tracing::warn!("V1Mesos: dropping {}: {why}", kind.as_str_name());
            return;
        }
        if kind == call::Type::Subscribe && self.state != State::Connected {
            tracing::warn!("V1Mesos: dropping SUBSCRIBE: scheduler is in state {:?}", self.state);
            return;
        }
        if kind != call::Type::Subscribe && self.state != State::Subscribed {
            tracing::warn!("V1Mesos: dropping {}: scheduler is in state {:?}", kind.as_str_name(), self.state);
            return;
        }
        let Some(connection) = self.connection.as_mut() else {
            tracing::warn!("V1Mesos: dropping {}: connection to master interrupted", kind.as_str_name());
            return;
        };
        if kind == call::Type::Subscribe {
            let Some(mut sender) = connection.subscribe.take() else {
                tracing::warn!("V1Mesos: dropping SUBSCRIBE: one is in flight");
                return;
            };
            let request = request(connection, &self.settings, &call, None);
            self.state = State::Subscribing;
            let (notes, generation) = (self.notes_tx.clone(), self.generation);
            tokio::spawn(async move {
                let result = subscribe(&mut sender, request).await;
                let _ = notes.send(Note::Subscribed(generation, result, sender));
            });
        } else {
            let request = request(connection, &self.settings, &call, connection.stream_id.as_deref());
            let _ = connection.calls.send((kind, request, done));
        }
    }

    fn received(&mut self, event: Event) {
        if self.state != State::Subscribed {
            tracing::warn!("V1Mesos: ignoring an event: no longer subscribed");
            return;
        }
        self.callback(Callback::Received(Box::new(event)));
    }

    /// An `ERROR` event made here.
    fn error(&mut self, message: String) {
        let event = Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error { message }),
            ..Default::default()
        };
        self.callback(Callback::Received(Box::new(event)));
    }

    fn callback(&self, callback: Callback) {
        let _ = self.callbacks.send(callback);
    }
}

async fn next_event(events: &mut Option<EventStream>) -> Option<Result<Bytes, String>> {
    match events {
        Some(stream) => Some(stream.next().await.unwrap_or_else(|| {
            Err("End-Of-File received from master. The master closed the event stream".to_string())
        })),
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn rand_fraction() -> f64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0
}

/// The checks Apache's library makes before sending (the master makes the
/// rest).
fn validate(call: &Call, kind: call::Type) -> std::result::Result<(), &'static str> {
    match kind {
        call::Type::Unknown => Err("unknown call type"),
        call::Type::Subscribe if call.subscribe.is_none() => Err("Expecting 'subscribe' to be present"),
        call::Type::Subscribe => Ok(()),
        _ if call.framework_id.is_none() => Err("Expecting 'framework_id' to be present"),
        call::Type::Accept if call.accept.is_none() => Err("Expecting 'accept' to be present"),
        call::Type::Decline if call.decline.is_none() => Err("Expecting 'decline' to be present"),
        call::Type::Kill if call.kill.is_none() => Err("Expecting 'kill' to be present"),
        call::Type::Shutdown if call.shutdown.is_none() => Err("Expecting 'shutdown' to be present"),
        call::Type::Acknowledge if call.acknowledge.is_none() => Err("Expecting 'acknowledge' to be present"),
        call::Type::Reconcile if call.reconcile.is_none() => Err("Expecting 'reconcile' to be present"),
        call::Type::Message if call.message.is_none() => Err("Expecting 'message' to be present"),
        call::Type::Request if call.request.is_none() => Err("Expecting 'request' to be present"),
        _ => Ok(()),
    }
}

/// Where a master's scheduler API is: `(authority, path)`.
fn endpoint(info: &MasterInfo) -> std::result::Result<(String, String), String> {
    if let Some(pid) = info.pid.as_deref() {
        if let Ok(upid) = pid.parse::<Upid>() {
            return Ok((upid.addr().to_string(), format!("/{}/api/v1/scheduler", upid.id())));
        }
    }
    match &info.address {
        Some(address) => {
            let host = address.ip.clone().or_else(|| address.hostname.clone()).unwrap_or_default();
            Ok((format!("{host}:{}", address.port), "/master/api/v1/scheduler".to_string()))
        }
        None => {
            let ip = std::net::Ipv4Addr::from(u32::from_be(info.ip));
            Ok((format!("{ip}:{}", info.port), "/master/api/v1/scheduler".to_string()))
        }
    }
}

/// Opens the two connections and starts the non-subscribe worker.
async fn open(
    generation: u64,
    info: &MasterInfo,
    notes: mpsc::UnboundedSender<Note>,
) -> std::result::Result<Connection, String> {
    let (authority, url_path) = endpoint(info)?;
    let subscribe = dial(&authority, generation, "Subscribe", notes.clone()).await?;
    let non_subscribe = dial(&authority, generation, "Non-subscribe", notes.clone()).await?;
    let (calls, queue) = mpsc::unbounded_channel();
    tokio::spawn(call_worker(generation, non_subscribe, queue, notes));
    Ok(Connection { url_path, authority, subscribe: Some(subscribe), calls, stream_id: None })
}

/// One HTTP/1.1 connection; its end is reported as a note.
async fn dial(
    authority: &str,
    generation: u64,
    name: &'static str,
    notes: mpsc::UnboundedSender<Note>,
) -> std::result::Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| format!("{authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let why = match connection.await {
            Ok(()) => format!("{name} connection closed"),
            Err(e) => format!("{name} connection interrupted: {e}"),
        };
        let _ = notes.send(Note::ConnectionEnded(generation, why));
    });
    Ok(sender)
}

fn request(connection: &Connection, settings: &Settings, call: &Call, stream_id: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::post(connection.url_path.as_str())
        .header(hyper::header::HOST, connection.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(hyper::header::ACCEPT, CONTENT_TYPE)
        .header(hyper::header::CONNECTION, "keep-alive");
    if let Some(authorization) = &settings.authorization {
        builder = builder.header(hyper::header::AUTHORIZATION, authorization.as_str());
    }
    if let Some(stream_id) = stream_id {
        builder = builder.header("Mesos-Stream-Id", stream_id);
    }
    builder.body(Full::new(Bytes::from(call.encode_to_vec()))).unwrap_or_else(|_| Request::new(Full::default()))
}

/// Posts `SUBSCRIBE`: `Ok((stream id, event stream))` on `200 OK`;
/// `Err(Some(message))` for an answer worth an `ERROR` event.
async fn subscribe(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> std::result::Result<(String, hyper::body::Incoming), Option<String>> {
    let response = match sender.ready().await {
        Ok(()) => sender.send_request(request).await,
        Err(e) => Err(e),
    };
    let response = response.map_err(|e| {
        tracing::error!("V1Mesos: request for call type SUBSCRIBE failed: {e}");
        None
    })?;
    if response.status() == StatusCode::OK {
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Some("The SUBSCRIBE response has no 'Mesos-Stream-Id'".to_string()))?;
        return Ok((stream_id, response.into_body()));
    }
    Err(unexpected(call::Type::Subscribe, response).await)
}

/// What a non-OK answer to `kind` means: `None` for the answers Apache's
/// library only logs, else the text of an `ERROR` event.
async fn unexpected(kind: call::Type, response: hyper::Response<hyper::body::Incoming>) -> Option<String> {
    let status = response.status();
    let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    let line = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    if matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::NOT_FOUND | StatusCode::TEMPORARY_REDIRECT) {
        tracing::warn!("V1Mesos: received '{line}' ({body}) for {}", kind.as_str_name());
        return None;
    }
    Some(format!("Received unexpected '{line}' ({body}) for {}", kind.as_str_name()))
}

/// Sends the non-subscribe calls one after another, in order.
async fn call_worker(
    generation: u64,
    mut sender: SendRequest<Full<Bytes>>,
    mut queue: mpsc::UnboundedReceiver<QueuedCall>,
    notes: mpsc::UnboundedSender<Note>,
) {
    while let Some((kind, request, done)) = queue.recv().await {
        let outcome = match sender.ready().await {
            Ok(()) => sender.send_request(request).await,
            Err(e) => Err(e),
        };
        let error = match outcome {
            Ok(response) if response.status() == StatusCode::ACCEPTED || response.status() == StatusCode::OK => None,
            Ok(response) => unexpected(kind, response).await,
            Err(e) => {
                tracing::error!("V1Mesos: request for call type {} failed: {e}", kind.as_str_name());
                None
            }
        };
        if error.is_some() {
            let _ = notes.send(Note::CallFailed(generation, kind, error));
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

/// The RecordIO records of the event stream.
fn events(body: hyper::body::Incoming) -> impl Stream<Item = Result<Bytes, String>> + Send {
    let chunks = BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(e.to_string())),
        }
    });
    mesos_rs::http_api::recordio::records(Box::pin(chunks), MAX_EVENT_SIZE).map(|r| r.map_err(|e| e.to_string()))
}

/// Delivers callbacks to Java, in order, until the client is gone or the
/// scheduler throws.
fn callback_thread(java: JavaMesos, callbacks: std_mpsc::Receiver<Callback>) {
    for callback in callbacks {
        let delivery = match &callback {
            Callback::Connected => java.connected(),
            Callback::Disconnected => java.disconnected(),
            Callback::Received(event) => java.received(event),
        };
        if delivery.aborts() {
            tracing::error!("the V1Mesos scheduler threw: no more callbacks");
            return;
        }
    }
}

fn connection_delay_max() -> Duration {
    std::env::var("MESOS_CONNECTION_DELAY_MAX")
        .ok()
        .and_then(|v| mesos_rs::common::units::parse_duration(&v).ok())
        .unwrap_or(DEFAULT_CONNECTION_DELAY_MAX)
}

fn initialize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "V1Mesos.initialize", |env| {
        crate::backend::ensure_logging();
        let (master, credential) = master_and_credential(env, &this)?;
        let authorization = credential.map(|credential| {
            let pair = format!("{}:{}", credential.principal, credential.secret.unwrap_or_default());
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
        });
        let java = JavaMesos::new(env, &this)?;
        let (callbacks_tx, callbacks_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("V1Mesos".into())
            .spawn(move || callback_thread(java, callbacks_rx))
            .map_err(|e| Error::Driver(format!("cannot start the V1Mesos thread: {e}")))?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (notes_tx, notes) = mpsc::unbounded_channel();
        let client = Client {
            settings: Settings { master, authorization, connection_delay_max: connection_delay_max() },
            state: State::Disconnected,
            generation: 0,
            connection: None,
            events: None,
            callbacks: callbacks_tx,
            notes_tx,
            notes,
            pending_connect: None,
        };
        runtime::get()?.spawn(client.run(commands_rx));
        jvm::set_handle(env, &this, jni_str!("__mesos"), Arc::new(Handle { commands }))?;
        Ok(())
    })
}

fn finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "V1Mesos.finalize", |env| {
        drop(jvm::take_handle::<Handle>(env, &this, jni_str!("__mesos"))?);
        Ok(())
    })
}

fn send<'l>(env: EnvUnowned<'l>, this: JObject<'l>, jcall: JObject<'l>) {
    native(env, "V1Mesos.send", |env| {
        let call: Call = from_java(env, &jcall, "call")?;
        let handle: Arc<Handle> = jvm::handle(env, &this, CLASS, "__mesos")?;
        let teardown = call.r#type == Some(call::Type::Teardown as i32);
        if !teardown {
            let _ = handle.commands.send(Command::Send(Box::new(call), None));
            return Ok(());
        }
        let (done, answered) = oneshot::channel();
        let _ = handle.commands.send(Command::Send(Box::new(call), Some(done)));
        let waited = runtime::get()?.block_on(async { tokio::time::timeout(TEARDOWN_TIMEOUT, answered).await });
        if waited.is_err() {
            tracing::error!("V1Mesos: received no response to call TEARDOWN for {TEARDOWN_TIMEOUT:?}");
        }
        Ok(())
    })
}

fn reconnect<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "V1Mesos.reconnect", |env| {
        let handle: Arc<Handle> = jvm::handle(env, &this, CLASS, "__mesos")?;
        let _ = handle.commands.send(Command::Reconnect);
        Ok(())
    })
}

type O<'l> = JObject<'l>;

export!(both "org.apache.mesos.v1.scheduler.V1Mesos" "initialize" "()V", initialize_s / initialize_l, () -> (),
    initialize);
export!(both "org.apache.mesos.v1.scheduler.V1Mesos" "finalize" "()V", finalize_s / finalize_l, () -> (), finalize);
export!(both "org.apache.mesos.v1.scheduler.V1Mesos" "send" "(Lorg/apache/mesos/v1/scheduler/Protos$Call;)V",
    send_s / send_l, (call: O<'local>) -> (), send);
export!(both "org.apache.mesos.v1.scheduler.V1Mesos" "reconnect" "()V", reconnect_s / reconnect_l, () -> (), reconnect);

#[cfg(test)]
mod tests {
    use mesos_rs::proto::mesos::Address;

    use super::*;

    #[test]
    fn the_scheduler_api_lives_under_the_masters_process_id() {
        let info = MasterInfo { pid: Some("master@10.0.0.7:5050".into()), ..Default::default() };
        assert_eq!(endpoint(&info).unwrap(), ("10.0.0.7:5050".into(), "/master/api/v1/scheduler".into()));
        let renamed = MasterInfo { pid: Some("leader@127.0.0.1:5051".into()), ..Default::default() };
        assert_eq!(endpoint(&renamed).unwrap().1, "/leader/api/v1/scheduler");
        // Without a pid: the address, then the packed IPv4 of old masters.
        let address = MasterInfo {
            address: Some(Address { ip: Some("10.0.0.8".into()), port: 5052, hostname: None }),
            ..Default::default()
        };
        assert_eq!(endpoint(&address).unwrap().0, "10.0.0.8:5052");
        let packed = MasterInfo { ip: u32::from_be_bytes([1, 0, 0, 127]), port: 5053, ..Default::default() };
        assert_eq!(endpoint(&packed).unwrap().0, "127.0.0.1:5053");
    }

    #[test]
    fn calls_are_checked_before_they_are_sent() {
        let call = |kind: call::Type, framework: bool| Call {
            r#type: Some(kind as i32),
            framework_id: framework.then(Default::default),
            ..Default::default()
        };
        assert!(validate(&call(call::Type::Subscribe, false), call::Type::Subscribe).is_err());
        assert!(validate(&call(call::Type::Revive, false), call::Type::Revive).is_err());
        assert!(validate(&call(call::Type::Revive, true), call::Type::Revive).is_ok());
        assert!(validate(&call(call::Type::Accept, true), call::Type::Accept).is_err());
        assert!(validate(&call(call::Type::Unknown, true), call::Type::Unknown).is_err());
    }
}
