//! `/api/v1/scheduler`: the v1 scheduler HTTP API (Mesos's
//! `Master::Http::scheduler`).
//!
//! Calls are POSTed in JSON or protobuf (`Content-Type`). This module
//! parses them, devolves them to `mesos.scheduler.Call` (v1 and v0 share
//! field numbers), runs Mesos's call validation and the media type checks,
//! and hands the call to the master; everything that needs the master's
//! books (framework, stream id, subscription) is decided there. SUBSCRIBE
//! answers `200 OK` with a `Mesos-Stream-Id` header and a RecordIO stream
//! of events in the accepted media type: the master's v0 messages evolved
//! into v1 events, and a HEARTBEAT every [`HEARTBEAT_INTERVAL`]. Other
//! calls answer `202 Accepted` (UPDATE_FRAMEWORK `200 OK`) or Mesos's error.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use prost::Message as _;

use crate::http_api::agent::executor::{accepts, ContentType, APPLICATION_JSON, APPLICATION_PROTOBUF};
use crate::http_api::files::text_response;
use crate::http_api::json as pbjson;
use crate::http_api::recordio;
use crate::master::runtime::MasterHandle;
use crate::master::HttpAnswer;
use crate::proto::mesos::scheduler::{self, call::Type as CallType, event, event::Type as EventType};
use crate::proto::mesos::v1::scheduler as v1;
use crate::v0_compat::Message;

/// Largest call body read; a bigger one is refused with 413.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Mesos's `DEFAULT_HEARTBEAT_INTERVAL`, announced in SUBSCRIBED.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// The stream id header.
pub const STREAM_ID: &str = "Mesos-Stream-Id";

/// Reads the whole body, keeping at most `limit` bytes: a too large body is
/// still drained (up to 16 times the limit), so the client reads our answer
/// instead of a reset.
async fn read_body(body: Body, limit: usize) -> Result<Result<Bytes, usize>, String> {
    let mut body = body;
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= limit {
                kept.extend_from_slice(&data);
            } else if total > limit.saturating_mul(16) {
                break;
            }
        }
    }
    Ok(if total > limit { Err(total) } else { Ok(Bytes::from(kept)) })
}

/// Parses a call in the request's content type, devolved to the v0 form the
/// master uses, or the error response (Mesos's texts).
pub fn parse_call(content_type: Option<&str>, body: &[u8]) -> Result<scheduler::Call, Box<Response<Body>>> {
    let bad = |text: String| Box::new(text_response(StatusCode::BAD_REQUEST, text));
    let Some(content_type) = content_type else {
        return Err(bad("Expecting 'Content-Type' to be present".into()));
    };
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let v1_call: v1::Call = if media == APPLICATION_PROTOBUF {
        mesos_proto::decode_strict::<v1::Call>(body)
            .map_err(|_| bad("Failed to parse body into Call protobuf".into()))?
    } else if media == APPLICATION_JSON {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("Failed to parse body into JSON: {e}")))?;
        pbjson::from_value::<v1::Call>(&value)
            .map_err(|e| bad(format!("Failed to convert JSON into Call protobuf: {e}")))?
    } else {
        return Err(Box::new(text_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"),
        )));
    };
    scheduler::Call::decode(v1_call.encode_to_vec().as_slice())
        .map_err(|_| bad("Failed to parse body into Call protobuf".into()))
}

/// The master's info as a v1 message carries it: capabilities the v1
/// enum does not know become unset, as protobuf's parser leaves them.
fn v1_master_info(mut info: crate::proto::mesos::MasterInfo) -> crate::proto::mesos::MasterInfo {
    use crate::proto::mesos::v1::master_info::capability::Type as V1Capability;
    for capability in &mut info.capabilities {
        if capability.r#type.is_some_and(|t| V1Capability::try_from(t).is_err()) {
            capability.r#type = None;
        }
    }
    info
}

/// Mesos's `evolve()` of a message the master sends a framework into the
/// v1 event (in its v0 form: the field numbers are the same).
pub fn evolve(message: Message) -> Option<scheduler::Event> {
    let mut event = scheduler::Event::default();
    match message {
        Message::FrameworkRegisteredMessage(m) => {
            event.set_type(EventType::Subscribed);
            event.subscribed = Some(event::Subscribed {
                framework_id: m.framework_id,
                heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
                master_info: Some(v1_master_info(m.master_info)),
            });
        }
        Message::FrameworkReregisteredMessage(m) => {
            event.set_type(EventType::Subscribed);
            event.subscribed = Some(event::Subscribed {
                framework_id: m.framework_id,
                heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
                master_info: Some(v1_master_info(m.master_info)),
            });
        }
        Message::ResourceOffersMessage(m) => {
            event.set_type(EventType::Offers);
            event.offers = Some(event::Offers { offers: m.offers });
        }
        Message::InverseOffersMessage(m) => {
            event.set_type(EventType::InverseOffers);
            event.inverse_offers = Some(event::InverseOffers { inverse_offers: m.inverse_offers });
        }
        Message::RescindResourceOfferMessage(m) => {
            event.set_type(EventType::Rescind);
            event.rescind = Some(event::Rescind { offer_id: m.offer_id });
        }
        Message::RescindInverseOfferMessage(m) => {
            event.set_type(EventType::RescindInverseOffer);
            event.rescind_inverse_offer = Some(event::RescindInverseOffer { inverse_offer_id: m.inverse_offer_id });
        }
        Message::StatusUpdateMessage(m) => {
            let update = m.update;
            let mut status = update.status;
            if update.slave_id.is_some() {
                status.slave_id = update.slave_id;
            }
            if update.executor_id.is_some() {
                status.executor_id = update.executor_id;
            }
            status.timestamp = Some(update.timestamp);
            // Only updates an agent will retry need acknowledging.
            let from_agent = m.pid.as_deref().is_some_and(|p| !p.is_empty() && p != crate::master::EMPTY_UPID);
            match update.uuid {
                Some(uuid) if !uuid.is_empty() && from_agent => status.uuid = Some(uuid),
                _ => status.uuid = None,
            }
            event.set_type(EventType::Update);
            event.update = Some(event::Update { status });
        }
        Message::UpdateOperationStatusMessage(m) => {
            event.set_type(EventType::UpdateOperationStatus);
            event.update_operation_status = Some(event::UpdateOperationStatus { status: m.status });
        }
        Message::ExecutorToFrameworkMessage(m) => {
            event.set_type(EventType::Message);
            event.message = Some(event::Message { slave_id: m.slave_id, executor_id: m.executor_id, data: m.data });
        }
        Message::ExitedExecutorMessage(m) => {
            event.set_type(EventType::Failure);
            event.failure = Some(event::Failure {
                slave_id: Some(m.slave_id),
                executor_id: Some(m.executor_id),
                status: Some(m.status),
            });
        }
        Message::LostSlaveMessage(m) => {
            event.set_type(EventType::Failure);
            event.failure = Some(event::Failure { slave_id: Some(m.slave_id), executor_id: None, status: None });
        }
        Message::FrameworkErrorMessage(m) => {
            event.set_type(EventType::Error);
            event.error = Some(event::Error { message: m.message });
        }
        other => {
            tracing::warn!("No v1 scheduler event for '{}'", other.name());
            return None;
        }
    }
    Some(event)
}

/// One event as a RecordIO record in the stream's media type.
pub fn encode_event(event: &scheduler::Event, content_type: ContentType) -> Bytes {
    let bytes = event.encode_to_vec();
    match content_type {
        ContentType::Protobuf => recordio::encode(&bytes),
        ContentType::Json => {
            let v1_event = v1::Event::decode(bytes.as_slice()).unwrap_or_default();
            recordio::encode(pbjson::to_string(&v1_event).as_bytes())
        }
    }
}

/// Tells the master when the scheduler's stream is gone.
struct StreamGuard {
    handle: MasterHandle,
    stream: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.handle.stream_closed(self.stream);
    }
}

fn answer_response(answer: HttpAnswer, uri: &http::Uri) -> Response<Body> {
    match answer {
        HttpAnswer::Accepted => text_response(StatusCode::ACCEPTED, ""),
        HttpAnswer::Ok | HttpAnswer::Stream => text_response(StatusCode::OK, ""),
        HttpAnswer::Error { status, message } => {
            text_response(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), message)
        }
        HttpAnswer::NotLeader(None) => text_response(StatusCode::SERVICE_UNAVAILABLE, "No leader elected"),
        HttpAnswer::NotLeader(Some(leader)) => {
            let host = leader
                .hostname
                .clone()
                .unwrap_or_else(|| leader.address.as_ref().and_then(|a| a.ip.clone()).unwrap_or_default());
            let location = format!("//{}:{}{}", host, leader.port, uri.path());
            let mut response = text_response(StatusCode::TEMPORARY_REDIRECT, "");
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
    }
}

/// Serves one request on `/api/v1/scheduler`.
pub async fn serve(handle: MasterHandle, request: Request<Body>) -> Response<Body> {
    let uri = request.uri().clone();
    // Leadership and recovery come first, as in Mesos (the master checks
    // again when the call arrives).
    let Some((elected, recovered, leader)) =
        handle.query(|m, _| (m.is_elected(), m.is_recovered(), m.leader().cloned())).await
    else {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down");
    };
    if !elected {
        return answer_response(HttpAnswer::NotLeader(leader.map(Box::new)), &uri);
    }
    if !recovered {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, "Master has not finished recovery");
    }
    if request.method() != Method::POST {
        let mut response = text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting one of {{ 'POST' }}, but received '{}'", request.method()),
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (content_type, accept, stream_header) = {
        let headers = request.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        (text(header::CONTENT_TYPE.as_str()), text(header::ACCEPT.as_str()), text(STREAM_ID))
    };
    let body = match read_body(request.into_body(), MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(size)) => {
            return text_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body of {size} bytes exceeds the limit of {MAX_BODY} bytes"),
            )
        }
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("Failed to read body: {e}")),
    };
    let call = match parse_call(content_type.as_deref(), &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    if let Err(e) = crate::master::validation::validate_call(&call) {
        return text_response(StatusCode::BAD_REQUEST, format!("Failed to validate scheduler::Call: {e}"));
    }
    let kind = call.r#type();
    let mut stream_type = ContentType::Json;
    if matches!(kind, CallType::Subscribe | CallType::ReconcileOperations) {
        stream_type = if accepts(accept.as_deref(), APPLICATION_JSON) {
            ContentType::Json
        } else if accepts(accept.as_deref(), APPLICATION_PROTOBUF) {
            ContentType::Protobuf
        } else {
            return text_response(
                StatusCode::NOT_ACCEPTABLE,
                format!("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"),
            );
        };
    }
    if kind != CallType::Subscribe {
        return match handle.scheduler_call(call, stream_header).await {
            Some((answer, _, _)) => answer_response(answer, &uri),
            None => text_response(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down"),
        };
    }
    if stream_header.is_some() {
        return text_response(
            StatusCode::BAD_REQUEST,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
        );
    }
    let stream_id = uuid::Uuid::new_v4().to_string();
    let Some((answer, stream, rx)) = handle.scheduler_call(call, Some(stream_id.clone())).await else {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down");
    };
    if answer != HttpAnswer::Stream {
        return answer_response(answer, &uri);
    }
    let guard = StreamGuard { handle, stream };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, stream_type.mime())
        .header(STREAM_ID, stream_id)
        .body(Body::from_stream(event_stream(rx, stream_type, guard)))
        .expect("static response")
}

/// The SUBSCRIBE response body: the master's messages as v1 events, and a
/// HEARTBEAT every [`HEARTBEAT_INTERVAL`] once subscribed. It ends when the
/// master closes the stream; dropping it (the scheduler hung up) tells the
/// master through the guard.
fn event_stream(
    rx: tokio::sync::mpsc::UnboundedReceiver<Message>,
    content_type: ContentType,
    guard: StreamGuard,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    struct State {
        rx: tokio::sync::mpsc::UnboundedReceiver<Message>,
        /// Held for its `Drop`: the stream's end tells the master.
        _guard: StreamGuard,
        next_heartbeat: Option<tokio::time::Instant>,
    }
    fn heartbeat(state: &mut State, content_type: ContentType) -> Bytes {
        state.next_heartbeat = Some(tokio::time::Instant::now() + HEARTBEAT_INTERVAL);
        let mut event = scheduler::Event::default();
        event.set_type(EventType::Heartbeat);
        encode_event(&event, content_type)
    }
    let state = State { rx, _guard: guard, next_heartbeat: None };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if state.next_heartbeat.is_some_and(|at| at <= tokio::time::Instant::now()) {
                let record = heartbeat(&mut state, content_type);
                return Some((Ok(record), state));
            }
            let due = async {
                match state.next_heartbeat {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // A due heartbeat goes first: the one right after SUBSCRIBED
            // precedes any offer, as Mesos's heartbeater (started when
            // SUBSCRIBED is sent) makes it.
            let message = tokio::select! {
                biased;
                _ = due => {
                    let record = heartbeat(&mut state, content_type);
                    return Some((Ok(record), state));
                }
                message = state.rx.recv() => message,
            };
            let message = message?;
            let Some(event) = evolve(message) else { continue };
            if event.r#type() == EventType::Subscribed && state.next_heartbeat.is_none() {
                // Mesos starts the heartbeat right after SUBSCRIBED, with one
                // at once.
                state.next_heartbeat = Some(tokio::time::Instant::now());
            }
            return Some((Ok(encode_event(&event, content_type)), state));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::internal::{FrameworkErrorMessage, StatusUpdate, StatusUpdateMessage};
    use crate::proto::mesos::{FrameworkId, TaskId, TaskStatus};

    #[test]
    fn calls_parse_from_json_and_protobuf_and_bad_bodies_get_mesos_answers() {
        let json = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#;
        let call = parse_call(Some("application/json"), json).unwrap();
        assert_eq!(call.r#type(), CallType::Subscribe);
        assert_eq!(call.subscribe.as_ref().unwrap().framework_info.name, "n");
        let v1_call = v1::Call::decode(call.encode_to_vec().as_slice()).unwrap();
        assert_eq!(parse_call(Some(APPLICATION_PROTOBUF), &v1_call.encode_to_vec()).unwrap(), call);
        assert_eq!(parse_call(None, json).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_call(Some("text/plain"), json).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(parse_call(Some("application/json"), b"{").unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            parse_call(Some(APPLICATION_PROTOBUF), &[0xff, 0xff]).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        // A missing required field names it.
        let missing = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}"#;
        assert_eq!(parse_call(Some("application/json"), missing).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn updates_carry_a_uuid_only_when_an_agent_will_retry_them() {
        let update = |uuid: Option<Vec<u8>>, pid: &str| {
            Message::from(StatusUpdateMessage {
                update: StatusUpdate {
                    framework_id: FrameworkId { value: "f".into() },
                    status: TaskStatus { task_id: TaskId { value: "t".into() }, ..Default::default() },
                    timestamp: 12.5,
                    uuid,
                    ..Default::default()
                },
                pid: Some(pid.into()),
            })
        };
        let from_agent = evolve(update(Some(vec![7; 16]), "slave(1)@127.0.0.1:5051")).unwrap();
        assert_eq!(from_agent.r#type(), EventType::Update);
        let status = from_agent.update.unwrap().status;
        assert_eq!(status.uuid, Some(vec![7; 16]));
        assert_eq!(status.timestamp, Some(12.5));
        let from_master = evolve(update(Some(vec![7; 16]), crate::master::EMPTY_UPID)).unwrap();
        assert_eq!(from_master.update.unwrap().status.uuid, None);
        let without = evolve(update(None, "slave(1)@127.0.0.1:5051")).unwrap();
        assert_eq!(without.update.unwrap().status.uuid, None);
    }

    #[test]
    fn events_are_framed_in_the_requested_media_type() {
        let event = evolve(FrameworkErrorMessage { message: "bye".into() }.into()).unwrap();
        let json = encode_event(&event, ContentType::Json);
        let text = std::str::from_utf8(&json).unwrap();
        let (len, record) = text.split_once('\n').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), record.len());
        let value: serde_json::Value = serde_json::from_str(record).unwrap();
        assert_eq!(value["type"], "ERROR");
        assert_eq!(value["error"]["message"], "bye");
        let proto = encode_event(&event, ContentType::Protobuf);
        let (len, record) = proto.split_at(proto.iter().position(|b| *b == b'\n').unwrap());
        let record = &record[1..];
        assert_eq!(std::str::from_utf8(len).unwrap().parse::<usize>().unwrap(), record.len());
        assert_eq!(v1::Event::decode(record).unwrap().error.unwrap().message, "bye");
    }
}
