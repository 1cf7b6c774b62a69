//! `/api/v1/executor`: the v1 executor HTTP API (Mesos's `Http::executor`).
//!
//! Requests are POSTed `Call`s in JSON or protobuf (`Content-Type`).
//! SUBSCRIBE answers `200 OK` with a RecordIO stream of `Event`s in the
//! media type the executor accepts (JSON unless it only accepts protobuf),
//! heartbeats included; other calls answer `202 Accepted`. Errors use
//! Mesos's status codes and texts (400, 403, 405, 406, 415, 503). This
//! module only parses, validates and encodes; the agent decides.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use prost::Message as _;

use crate::agent::core::{ApiResponse, ConnId};
use crate::agent::runtime::AgentHandle;
use crate::http_api::files::text_response;
use crate::http_api::json as pbjson;
use crate::http_api::recordio;
use crate::proto::mesos::executor::{self, call::Type as CallType, event::Type as EventType};
use crate::proto::mesos::v1::executor as v1;
use crate::proto::mesos::{task_status::Source, TaskState};

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// Largest call body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Protobuf,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }
}

/// Whether an `Accept` header admits `mime` (absent: everything).
pub fn accepts(accept: Option<&str>, mime: &str) -> bool {
    let Some(accept) = accept else { return true };
    let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q_zero = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f64>().map(|q| q == 0.0).unwrap_or(false))
        });
        !q_zero && (media == mime || media == "*/*" || media == format!("{kind}/*"))
    })
}

/// Mesos's `validateExecutorCall`.
pub fn validate(call: &executor::Call) -> Result<(), String> {
    if call.r#type.is_none() {
        return Err("Expecting 'type' to be present".into());
    }
    match call.r#type() {
        CallType::Subscribe => {
            if call.subscribe.is_none() {
                return Err("Expecting 'subscribe' to be present".into());
            }
        }
        CallType::Update => {
            let Some(update) = &call.update else { return Err("Expecting 'update' to be present".into()) };
            let status = &update.status;
            let Some(uuid) = &status.uuid else { return Err("Expecting 'uuid' to be present".into()) };
            if uuid.len() != 16 {
                return Err(format!("Not a valid UUID: {} bytes", uuid.len()));
            }
            if let Some(executor_id) = &status.executor_id {
                if executor_id.value != call.executor_id.value {
                    return Err(format!(
                        "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                        call.executor_id.value, executor_id.value
                    ));
                }
            }
            if status.source() != Source::Executor {
                return Err(format!(
                    "Received Call from executor {} of framework {} with invalid source, expecting 'SOURCE_EXECUTOR'",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            if status.state() == TaskState::TaskStaging {
                return Err(format!(
                    "Received TASK_STAGING from executor {} of framework {} which is not allowed",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            if let Some(check) = &status.check_status {
                if check.r#type.is_none() {
                    return Err("CheckStatusInfo must specify 'type'".into());
                }
                let ok = match check.r#type() {
                    crate::proto::mesos::check_info::Type::Command => check.command.is_some(),
                    crate::proto::mesos::check_info::Type::Http => check.http.is_some(),
                    crate::proto::mesos::check_info::Type::Tcp => check.tcp.is_some(),
                    crate::proto::mesos::check_info::Type::Unknown => {
                        return Err("'UNKNOWN' is not a valid check's status type".into())
                    }
                };
                if !ok {
                    let name = match check.r#type() {
                        crate::proto::mesos::check_info::Type::Command => "command",
                        crate::proto::mesos::check_info::Type::Http => "http",
                        _ => "tcp",
                    };
                    return Err(format!(
                        "Expecting '{name}' to be set for {} check's status",
                        check.r#type().as_str_name()
                    ));
                }
            }
        }
        CallType::Message => {
            if call.message.is_none() {
                return Err("Expecting 'message' to be present".into());
            }
        }
        CallType::Heartbeat | CallType::Unknown => {}
    }
    Ok(())
}

/// Parses a call in the request's content type (the v1 form, devolved to
/// the v0 one the agent uses), or the error response.
pub fn parse_call(content_type: Option<&str>, body: &[u8]) -> Result<executor::Call, Box<Response<Body>>> {
    let Some(content_type) = content_type else {
        return Err(Box::new(text_response(StatusCode::BAD_REQUEST, "Expecting 'Content-Type' to be present")));
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    let v1_call: v1::Call = if media == APPLICATION_PROTOBUF {
        mesos_proto::decode_strict::<v1::Call>(body)
            .map_err(|_| Box::new(text_response(StatusCode::BAD_REQUEST, "Failed to parse body into Call protobuf")))?
    } else if media == APPLICATION_JSON {
        let text = std::str::from_utf8(body).map_err(|e| {
            Box::new(text_response(StatusCode::BAD_REQUEST, format!("Failed to parse body into JSON: {e}")))
        })?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Box::new(text_response(StatusCode::BAD_REQUEST, format!("Failed to parse body into JSON: {e}")))
        })?;
        pbjson::from_value::<v1::Call>(&value).map_err(|e| {
            Box::new(text_response(StatusCode::BAD_REQUEST, format!("Failed to convert JSON into Call protobuf: {e}")))
        })?
    } else {
        return Err(Box::new(text_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"),
        )));
    };
    // v1 and v0 share field numbers: the bytes are the devolution.
    executor::Call::decode(v1_call.encode_to_vec().as_slice()).map_err(|e| {
        Box::new(text_response(StatusCode::BAD_REQUEST, format!("Failed to parse body into Call protobuf: {e}")))
    })
}

/// One event as a RecordIO record in the stream's media type.
pub fn encode_event(event: &executor::Event, content_type: ContentType) -> Bytes {
    let bytes = event.encode_to_vec();
    match content_type {
        ContentType::Protobuf => recordio::encode(&bytes),
        ContentType::Json => {
            let v1_event = v1::Event::decode(bytes.as_slice()).unwrap_or_default();
            recordio::encode(pbjson::to_string(&v1_event).as_bytes())
        }
    }
}

/// Tells the agent when the executor's stream is gone.
struct StreamGuard {
    handle: AgentHandle,
    conn: ConnId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.handle.stream_closed(self.conn);
    }
}

/// Serves one request on `/api/v1/executor`.
pub async fn serve(handle: &AgentHandle, request: Request<Body>) -> Response<Body> {
    if !handle.query(|a| a.executor_api_ready()).await.unwrap_or(false) {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, "Agent has not finished recovery");
    }
    if request.method() != Method::POST {
        let mut response = text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting one of {{ 'POST' }}, but received '{}'", request.method()),
        );
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("Failed to read body: {e}")),
    };
    let call = match parse_call(content_type.as_deref(), &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    if let Err(e) = validate(&call) {
        return text_response(StatusCode::BAD_REQUEST, format!("Failed to validate Executor::Call: {e}"));
    }
    let stream_type = match call.r#type() {
        CallType::Subscribe => {
            if accepts(accept.as_deref(), APPLICATION_JSON) {
                ContentType::Json
            } else if accepts(accept.as_deref(), APPLICATION_PROTOBUF) {
                ContentType::Protobuf
            } else {
                return text_response(
                    StatusCode::NOT_ACCEPTABLE,
                    format!("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"),
                );
            }
        }
        CallType::Heartbeat => return text_response(StatusCode::ACCEPTED, ""),
        _ => ContentType::Json,
    };
    let Some((response, stream)) = handle.executor_call(call).await else {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down");
    };
    match response {
        ApiResponse::Accepted => text_response(StatusCode::ACCEPTED, ""),
        ApiResponse::Error(code, message) => {
            text_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), message)
        }
        ApiResponse::Stream => {
            let Some((conn, rx)) = stream else {
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, "No stream");
            };
            let guard = StreamGuard { handle: handle.clone(), conn };
            let body = event_stream(rx, stream_type, guard);
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, stream_type.mime())
                .body(Body::from_stream(body))
                .expect("static response")
        }
    }
}

/// The SUBSCRIBE response body: the agent's events, and a HEARTBEAT every
/// [`HEARTBEAT_INTERVAL`] of silence.
fn event_stream(
    rx: tokio::sync::mpsc::UnboundedReceiver<executor::Event>,
    content_type: ContentType,
    guard: StreamGuard,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold((rx, guard), move |(mut rx, guard)| async move {
        let next = tokio::time::timeout(HEARTBEAT_INTERVAL, rx.recv()).await;
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return None,
            Err(_) => {
                let mut heartbeat = executor::Event::default();
                heartbeat.set_type(EventType::Heartbeat);
                heartbeat
            }
        };
        Some((Ok(encode_event(&event, content_type)), (rx, guard)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{ExecutorId, FrameworkId, TaskId, TaskStatus};

    fn update_call(source: Source, state: TaskState) -> executor::Call {
        let mut status =
            TaskStatus { task_id: TaskId { value: "t".into() }, uuid: Some(vec![1; 16]), ..Default::default() };
        status.set_source(source);
        status.set_state(state);
        let mut call = executor::Call {
            executor_id: ExecutorId { value: "e".into() },
            framework_id: FrameworkId { value: "f".into() },
            update: Some(executor::call::Update { status }),
            ..Default::default()
        };
        call.set_type(CallType::Update);
        call
    }

    #[test]
    fn calls_are_validated_as_mesos_does() {
        assert!(validate(&update_call(Source::Executor, TaskState::TaskRunning)).is_ok());
        assert!(validate(&update_call(Source::Slave, TaskState::TaskRunning)).unwrap_err().contains("invalid source"));
        assert!(validate(&update_call(Source::Executor, TaskState::TaskStaging)).unwrap_err().contains("TASK_STAGING"));
        let mut no_type = update_call(Source::Executor, TaskState::TaskRunning);
        no_type.r#type = None;
        assert_eq!(validate(&no_type).unwrap_err(), "Expecting 'type' to be present");
        let mut subscribe = update_call(Source::Executor, TaskState::TaskRunning);
        subscribe.set_type(CallType::Subscribe);
        assert_eq!(validate(&subscribe).unwrap_err(), "Expecting 'subscribe' to be present");
    }

    #[test]
    fn calls_parse_from_json_and_protobuf_and_bad_bodies_are_refused() {
        let json = br#"{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{}}"#;
        let call = parse_call(Some("application/json"), json).unwrap();
        assert_eq!(call.r#type(), CallType::Subscribe);
        let v1_call = v1::Call::decode(call.encode_to_vec().as_slice()).unwrap();
        assert_eq!(parse_call(Some(APPLICATION_PROTOBUF), &v1_call.encode_to_vec()).unwrap(), call);
        assert_eq!(parse_call(None, json).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_call(Some("text/plain"), json).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(parse_call(Some("application/json"), b"{").unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            parse_call(Some("application/json"), br#"{"type":"SUBSCRIBE"}"#).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_call(Some(APPLICATION_PROTOBUF), &[0xff, 0xff]).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn accept_headers_choose_the_stream_type() {
        assert!(accepts(None, APPLICATION_JSON));
        assert!(accepts(Some("*/*"), APPLICATION_JSON));
        assert!(!accepts(Some(APPLICATION_PROTOBUF), APPLICATION_JSON));
        assert!(accepts(Some("application/x-protobuf, application/json;q=0.5"), APPLICATION_JSON));
        assert!(!accepts(Some("application/json;q=0"), APPLICATION_JSON));
    }

    #[test]
    fn events_are_framed_in_the_requested_media_type() {
        let mut event = executor::Event::default();
        event.set_type(EventType::Shutdown);
        let json = encode_event(&event, ContentType::Json);
        assert_eq!(&json[..], b"19\n{\"type\":\"SHUTDOWN\"}");
        let proto = encode_event(&event, ContentType::Protobuf);
        assert_eq!(&proto[..], b"2\n\x08\x07");
    }
}
