//! The v1 executor API client: the connection half of Mesos's
//! `mesos::v1::executor::Mesos` library (`src/executor/executor.cpp`).
//!
//! It keeps two HTTP connections to the agent's `/api/v1/executor`: one for
//! the `SUBSCRIBE` call, whose response is the RecordIO stream of events,
//! and one for every other call (sent in order, one at a time). It reports
//! [`ClientEvent::Connected`] (time to SUBSCRIBE), [`ClientEvent::Disconnected`]
//! and the agent's events, and enforces Mesos's rules:
//! - `SUBSCRIBE` is only sent while connected and not subscribed, other calls
//!   only while subscribed; anything else is dropped (the executor keeps
//!   unacknowledged updates and resends them when it resubscribes);
//! - a broken connection is retried with a random backoff up to
//!   `MESOS_SUBSCRIPTION_BACKOFF_MAX` when the framework checkpoints, for up
//!   to `MESOS_RECOVERY_TIMEOUT` (an agent restart); otherwise, or when that
//!   runs out, or if the first connection fails, a `SHUTDOWN` event is
//!   injected, as Mesos's library does;
//! - a `HEARTBEAT` call goes out every 30 minutes.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Future, Stream, StreamExt};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::http_api::{json, recordio};
use crate::proto::mesos::v1::executor::{call, event, Call, Event};
use crate::proto::mesos::v1::{ExecutorId, FrameworkId};

use super::env::{AgentEndpoint, ContentType, ExecutorEnv};

/// How often Mesos's library sends a `HEARTBEAT` call.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Give up on one connection attempt after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the client tells the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Connected to the agent: send `SUBSCRIBE` (and keep resending it).
    Connected,
    /// Lost the agent; the client is reconnecting (or has injected `SHUTDOWN`).
    Disconnected,
    /// An event from the agent, or one injected by the client.
    Event(Box<Event>),
}

/// Connection settings (from [`ExecutorEnv`]).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: AgentEndpoint,
    pub content_type: ContentType,
    pub authentication_token: Option<String>,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
}

impl ClientConfig {
    pub fn from_env(env: &ExecutorEnv, content_type: ContentType) -> ClientConfig {
        ClientConfig {
            endpoint: env.endpoint.clone(),
            content_type,
            authentication_token: env.authentication_token.clone(),
            checkpoint: env.checkpoint,
            recovery_timeout: env.recovery_timeout,
            subscription_backoff_max: env.subscription_backoff_max,
        }
    }
}

/// A handle to send calls; events arrive on the receiver from [`AgentClient::start`].
#[derive(Debug, Clone)]
pub struct AgentClient {
    calls: mpsc::UnboundedSender<Call>,
}

impl AgentClient {
    /// Starts connecting (in a tokio task).
    pub fn start(config: ClientConfig) -> (AgentClient, mpsc::UnboundedReceiver<ClientEvent>) {
        let (calls_tx, calls_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let driver = Driver { config, events: events_tx, state: State::Disconnected };
        tokio::spawn(driver.run(calls_rx));
        (AgentClient { calls: calls_tx }, events_rx)
    }

    /// Queues a call (dropped by the client if the connection state does
    /// not allow it, see the module docs).
    pub fn send(&self, call: Call) {
        let _ = self.calls.send(call);
    }
}

/// Encodes a call in the wire format.
pub fn encode_call(content_type: ContentType, call: &Call) -> Bytes {
    match content_type {
        ContentType::Protobuf => call.encode_to_vec().into(),
        ContentType::Json => json::to_string(call).into(),
    }
}

/// A POST of `call` to the executor API.
fn request(config: &ClientConfig, call: &Call) -> hyper::Request<Full<Bytes>> {
    let mime = config.content_type.mime();
    let mut request = hyper::Request::post(config.endpoint.path.as_str())
        .header(http::header::HOST, config.endpoint.address.as_str())
        .header(http::header::CONTENT_TYPE, mime)
        .header(http::header::ACCEPT, mime);
    if let Some(token) = &config.authentication_token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request
        .body(Full::new(encode_call(config.content_type, call)))
        .unwrap_or_else(|_| hyper::Request::new(Full::new(Bytes::new())))
}

/// Decodes an event record.
pub fn decode_event(content_type: ContentType, record: &[u8]) -> Result<Event, String> {
    match content_type {
        ContentType::Protobuf => mesos_proto::decode_strict::<Event>(record).map_err(|e| e.to_string()),
        ContentType::Json => {
            let text = std::str::from_utf8(record).map_err(|e| e.to_string())?;
            json::from_str::<Event>(text).map_err(|e| e.to_string())
        }
    }
}

/// Awaits the future if there is one; never resolves otherwise (a
/// `select!` branch that is off).
pub(crate) async fn optional<F: Future>(future: Option<F>) -> Option<F::Output> {
    match future {
        Some(future) => Some(future.await),
        None => std::future::pending().await,
    }
}

fn event_of(kind: event::Type) -> Event {
    Event { r#type: Some(kind as i32), ..Default::default() }
}

fn error_event(message: String) -> Event {
    Event { error: Some(event::Error { message }), ..event_of(event::Type::Error) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connected,
    Subscribing,
    Subscribed,
    /// `SHUTDOWN` was injected: no more connecting.
    Gone,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<Bytes, recordio::StreamError<hyper::Error>>> + Send>>;
type SubscribeResponse =
    Pin<Box<dyn Future<Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>> + Send>>;

/// The two connections of one connected period.
struct Connection {
    subscribe: http1::SendRequest<Full<Bytes>>,
    /// Calls for the non-subscribe connection's sender task.
    others: mpsc::UnboundedSender<Call>,
    /// Reports that a connection closed or a call failed badly.
    broken: mpsc::UnboundedReceiver<Broken>,
}

enum Broken {
    /// The connection is gone.
    Closed(String),
    /// The agent answered a call unexpectedly: inject an ERROR event.
    Unexpected(String),
}

struct Driver {
    config: ClientConfig,
    events: mpsc::UnboundedSender<ClientEvent>,
    state: State,
}

impl Driver {
    async fn run(mut self, mut calls: mpsc::UnboundedReceiver<Call>) {
        let mut connection: Option<Connection> = None;
        let mut subscribing: Option<SubscribeResponse> = None;
        let mut stream: Option<EventStream> = None;
        // Set while recovering from a lost connection (checkpointing only).
        let mut recovery_deadline: Option<Instant> = None;
        let mut reconnect_at: Option<Instant> = Some(Instant::now());
        let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL);

        loop {
            if self.state == State::Gone {
                // Nothing left to wait for but the executor's last calls.
                reconnect_at = None;
                recovery_deadline = None;
            }
            if self.state == State::Disconnected && reconnect_at.is_some_and(|t| t <= Instant::now()) {
                match self.connect().await {
                    Ok(c) => {
                        tracing::info!("Connected with the agent at {}", self.config.endpoint.url());
                        connection = Some(c);
                        recovery_deadline = None;
                        reconnect_at = None;
                        self.state = State::Connected;
                        self.emit(ClientEvent::Connected);
                    }
                    Err(e) if recovery_deadline.is_some() => {
                        tracing::debug!("Reconnecting to the agent failed: {e}");
                        reconnect_at = Some(Instant::now() + self.backoff());
                    }
                    Err(e) => {
                        tracing::info!("Failed to connect to the agent: {e}; Shutting down");
                        self.shutdown();
                    }
                }
            }
            let sleep_until = match (reconnect_at, recovery_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };

            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else { return };
                    self.send(call, connection.as_mut(), &mut subscribing);
                }
                Some(response) = optional(subscribing.as_mut()) => {
                    subscribing = None;
                    stream = self.subscribed(response).await;
                }
                Some(record) = optional(stream.as_mut().map(|s| s.next())) => {
                    match record {
                        Some(Ok(bytes)) => match decode_event(self.config.content_type, &bytes) {
                            Ok(event) => self.emit(ClientEvent::Event(Box::new(event))),
                            Err(e) => self.emit(ClientEvent::Event(Box::new(error_event(format!("Failed to de-serialize event: {e}"))))),
                        },
                        Some(Err(e)) => {
                            tracing::error!("Failed to decode the stream of events: {e}");
                            self.disconnected(&mut connection, &mut subscribing, &mut stream, &mut recovery_deadline, &mut reconnect_at);
                        }
                        None => {
                            tracing::error!("End-Of-File received from agent. The agent closed the event stream");
                            self.disconnected(&mut connection, &mut subscribing, &mut stream, &mut recovery_deadline, &mut reconnect_at);
                        }
                    }
                }
                Some(broken) = optional(connection.as_mut().map(|c| c.broken.recv())) => {
                    match broken {
                        Some(Broken::Unexpected(message)) => self.emit(ClientEvent::Event(Box::new(error_event(message)))),
                        Some(Broken::Closed(why)) => {
                            tracing::info!("Disconnected from agent: {why}");
                            self.disconnected(&mut connection, &mut subscribing, &mut stream, &mut recovery_deadline, &mut reconnect_at);
                        }
                        None => self.disconnected(&mut connection, &mut subscribing, &mut stream, &mut recovery_deadline, &mut reconnect_at),
                    }
                }
                Some(()) = optional(sleep_until.map(tokio::time::sleep_until)) => {
                    if recovery_deadline.is_some_and(|d| d <= Instant::now()) && self.state == State::Disconnected {
                        tracing::info!(
                            "Recovery timeout of {:?} exceeded following the first connection failure; Shutting down",
                            self.config.recovery_timeout
                        );
                        recovery_deadline = None;
                        reconnect_at = None;
                        self.shutdown();
                    }
                }
                _ = heartbeat.tick() => {
                    let call = Call {
                        executor_id: ExecutorId { value: "unused".into() },
                        framework_id: FrameworkId { value: "unused".into() },
                        r#type: Some(call::Type::Heartbeat as i32),
                        ..Default::default()
                    };
                    self.send(call, connection.as_mut(), &mut subscribing);
                }
            }
        }
    }

    fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(event);
    }

    /// Injects SHUTDOWN and stops connecting.
    fn shutdown(&mut self) {
        self.state = State::Gone;
        self.emit(ClientEvent::Event(Box::new(event_of(event::Type::Shutdown))));
    }

    fn backoff(&self) -> Duration {
        let max = self.config.subscription_backoff_max.as_secs_f64();
        let fraction = (uuid::Uuid::new_v4().as_u128() % 10_000) as f64 / 10_000.0;
        Duration::from_secs_f64(max * fraction)
    }

    fn disconnected(
        &mut self,
        connection: &mut Option<Connection>,
        subscribing: &mut Option<SubscribeResponse>,
        stream: &mut Option<EventStream>,
        recovery_deadline: &mut Option<Instant>,
        reconnect_at: &mut Option<Instant>,
    ) {
        *connection = None;
        *subscribing = None;
        *stream = None;
        let was_connected = matches!(self.state, State::Connected | State::Subscribing | State::Subscribed);
        if self.state == State::Gone {
            return;
        }
        self.state = State::Disconnected;
        if was_connected {
            self.emit(ClientEvent::Disconnected);
        }
        if recovery_deadline.is_some() {
            *reconnect_at = Some(Instant::now() + self.backoff());
        } else if self.config.checkpoint && was_connected {
            *recovery_deadline = Some(Instant::now() + self.config.recovery_timeout);
            *reconnect_at = Some(Instant::now());
        } else {
            tracing::info!("Disconnected from agent; Shutting down");
            self.shutdown();
        }
    }

    fn send(&mut self, call: Call, connection: Option<&mut Connection>, subscribing: &mut Option<SubscribeResponse>) {
        let kind = call::Type::try_from(call.r#type.unwrap_or(0)).unwrap_or(call::Type::Unknown);
        let allowed = match kind {
            call::Type::Subscribe => self.state == State::Connected,
            _ => self.state == State::Subscribed,
        };
        let Some(connection) = connection.filter(|_| allowed) else {
            tracing::warn!("Dropping {} call: executor is in state {:?}", kind.as_str_name(), self.state);
            return;
        };
        tracing::debug!("Sending {} call to {}", kind.as_str_name(), self.config.endpoint.url());
        if kind == call::Type::Subscribe {
            self.state = State::Subscribing;
            let request = request(&self.config, &call);
            *subscribing = Some(Box::pin(connection.subscribe.send_request(request)));
        } else {
            let _ = connection.others.send(call);
        }
    }

    /// Handles the SUBSCRIBE response: the event stream on 200.
    async fn subscribed(
        &mut self,
        response: Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
    ) -> Option<EventStream> {
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("Request for call type SUBSCRIBE failed: {e}");
                self.state = State::Connected;
                return None;
            }
        };
        let status = response.status();
        if status == http::StatusCode::OK {
            self.state = State::Subscribed;
            let body = BodyStream::new(response.into_body()).filter_map(|frame| async move {
                match frame {
                    Ok(frame) => frame.into_data().ok().map(Ok),
                    Err(e) => Some(Err(e)),
                }
            });
            return Some(Box::pin(recordio::records(Box::pin(body), recordio::DEFAULT_MAX_RECORD_LEN)));
        }
        self.state = State::Connected;
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        let text = format!("'{status}' ({body}) for SUBSCRIBE");
        if status == http::StatusCode::SERVICE_UNAVAILABLE || status == http::StatusCode::NOT_FOUND {
            tracing::warn!("Received {text}");
        } else {
            self.emit(ClientEvent::Event(Box::new(error_event(format!("Received unexpected {text}")))));
        }
        None
    }

    async fn connect(&self) -> Result<Connection, String> {
        let (broken_tx, broken) = mpsc::unbounded_channel();
        let subscribe = self.open(broken_tx.clone()).await?;
        let mut others_sender = self.open(broken_tx.clone()).await?;
        let (others, mut others_rx) = mpsc::unbounded_channel::<Call>();
        let config = self.config.clone();
        tokio::spawn(async move {
            // One call at a time, in order, on the non-subscribe connection.
            while let Some(call) = others_rx.recv().await {
                let kind = call::Type::try_from(call.r#type.unwrap_or(0)).unwrap_or(call::Type::Unknown);
                if others_sender.ready().await.is_err() {
                    let _ = broken_tx.send(Broken::Closed("Non-subscribe connection interrupted".into()));
                    return;
                }
                match others_sender.send_request(request(&config, &call)).await {
                    Err(e) => {
                        tracing::error!("Request for call type {} failed: {e}", kind.as_str_name());
                        let _ = broken_tx.send(Broken::Closed("Non-subscribe connection interrupted".into()));
                        return;
                    }
                    Ok(response) => {
                        let status = response.status();
                        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        if status == http::StatusCode::ACCEPTED || status == http::StatusCode::OK {
                            continue;
                        }
                        let text =
                            format!("'{status}' ({}) for {}", String::from_utf8_lossy(&body), kind.as_str_name());
                        if status == http::StatusCode::SERVICE_UNAVAILABLE || status == http::StatusCode::NOT_FOUND {
                            tracing::warn!("Received {text}");
                        } else {
                            let _ = broken_tx.send(Broken::Unexpected(format!("Received unexpected {text}")));
                        }
                    }
                }
            }
        });
        Ok(Connection { subscribe, others, broken })
    }

    /// One HTTP/1.1 connection; its end is reported on `broken`.
    async fn open(&self, broken: mpsc::UnboundedSender<Broken>) -> Result<http1::SendRequest<Full<Bytes>>, String> {
        let address = &self.config.endpoint.address;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address.as_str()))
            .await
            .map_err(|_| format!("Timed out connecting to {address}"))?
            .map_err(|e| format!("Failed to connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("Failed to connect to {address}: {e}"))?;
        tokio::spawn(async move {
            let why = match connection.await {
                Ok(()) => "connection closed".to_string(),
                Err(e) => e.to_string(),
            };
            let _ = broken.send(Broken::Closed(why));
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_events_round_trip_in_both_formats() {
        let call = Call {
            executor_id: ExecutorId { value: "e".into() },
            framework_id: FrameworkId { value: "f".into() },
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe::default()),
            ..Default::default()
        };
        let json = encode_call(ContentType::Json, &call);
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains("\"type\":\"SUBSCRIBE\""), "{text}");
        let proto = encode_call(ContentType::Protobuf, &call);
        assert_eq!(Call::decode(proto).unwrap(), call);

        let event = error_event("boom".into());
        assert_eq!(decode_event(ContentType::Protobuf, &event.encode_to_vec()).unwrap(), event);
        assert_eq!(decode_event(ContentType::Json, json::to_string(&event).as_bytes()).unwrap(), event);
        assert!(decode_event(ContentType::Json, b"{not json").is_err());
        // A required field missing (Error.message) is an error, as in C++.
        assert!(decode_event(ContentType::Json, br#"{"type":"ERROR","error":{}}"#).is_err());
    }
}
