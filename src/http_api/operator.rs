//! What the master's and the agent's v1 operator APIs (`POST /api/v1`)
//! share: the request checks in Mesos's order and with its texts (405,
//! 400, 415, 406), decoding the `Call` from JSON or protobuf, encoding the
//! `Response` in the accepted media type, and the calls both daemons answer
//! alike (GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS,
//! GET_LOGGING_LEVEL, SET_LOGGING_LEVEL, LIST_FILES, READ_FILE).
//!
//! The shared calls are answered as `mesos.v1.master.Response`; the agent's
//! `Response` numbers those fields identically, so the agent re-reads the
//! same bytes as its own type. Nothing here decides anything about the
//! cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Response, StatusCode};
use prost::Message;
use prost_reflect::ReflectMessage;

use crate::common::logging::Logging;
use crate::http_api::agent::executor::{accepts, ContentType, APPLICATION_JSON, APPLICATION_PROTOBUF};
use crate::http_api::files::{read_chunk, resolve, text_response, FilesError};
use crate::http_api::json as pbjson;
use crate::http_api::recordio;
use crate::proto::mesos::v1::master::response as v1r;
use crate::proto::mesos::v1::master::{response::Type as ResponseType, Response as V1Response};
use crate::proto::mesos::v1::{FileInfo, Flag, Metric, TimeInfo, VersionInfo};

/// Largest call body accepted.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Re-reads a message as another type with the same field numbers (Mesos's
/// `evolve`/`devolve` do exactly this through the bytes).
pub fn transcode<A: Message, B: Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).unwrap_or_default()
}

/// An error response in Mesos's plain-text form.
pub fn error(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    text_response(status, text)
}

/// 501 for a call this daemon does not implement, naming it.
pub fn not_implemented(call: &str) -> Response<Body> {
    error(StatusCode::NOT_IMPLEMENTED, format!("Call '{call}' is not implemented"))
}

/// A request's method, headers and body, decoded into `C` after Mesos's
/// checks: 405 for anything but POST, 400 without `Content-Type` or with a
/// body that does not parse (JSON or protobuf), 415 for another media type.
pub fn decode_call<C>(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<C, Box<Response<Body>>>
where
    C: Message + ReflectMessage + Default,
{
    if method != Method::POST {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{method}'."),
        );
        response.headers_mut().insert(header::ALLOW, http::HeaderValue::from_static("POST"));
        return Err(Box::new(response));
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "Expecting 'Content-Type' to be present")));
    };
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media == APPLICATION_PROTOBUF {
        mesos_proto::decode_strict::<C>(body)
            .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "Failed to parse body into Call protobuf")))
    } else if media == APPLICATION_JSON {
        let value: serde_json::Value = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
            .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, format!("Failed to parse body into JSON: {e}"))))?;
        pbjson::from_value::<C>(&value).map_err(|e| {
            Box::new(error(StatusCode::BAD_REQUEST, format!("Failed to convert JSON into Call protobuf: {e}")))
        })
    } else {
        Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"),
        )))
    }
}

/// The response media type: JSON if accepted, else protobuf, else 406.
pub fn accept_type(headers: &HeaderMap) -> Result<ContentType, Box<Response<Body>>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if accepts(accept, APPLICATION_JSON) {
        Ok(ContentType::Json)
    } else if accepts(accept, APPLICATION_PROTOBUF) {
        Ok(ContentType::Protobuf)
    } else {
        Err(Box::new(error(
            StatusCode::NOT_ACCEPTABLE,
            format!("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"),
        )))
    }
}

/// The bytes of a v1 message in `content_type`.
pub fn serialize<M: Message + ReflectMessage>(message: &M, content_type: ContentType) -> Bytes {
    match content_type {
        ContentType::Protobuf => Bytes::from(message.encode_to_vec()),
        ContentType::Json => Bytes::from(pbjson::to_string(message)),
    }
}

/// `200 OK` carrying a v1 message.
pub fn ok<M: Message + ReflectMessage>(message: &M, content_type: ContentType) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type.mime())
        .body(Body::from(serialize(message, content_type)))
        .expect("a valid response")
}

/// `200 OK` with no body (calls that answer nothing).
pub fn ok_empty() -> Response<Body> {
    Response::builder().status(StatusCode::OK).body(Body::empty()).expect("a valid response")
}

/// One RecordIO record of a v1 event.
pub fn record<M: Message + ReflectMessage>(event: &M, content_type: ContentType) -> Bytes {
    recordio::encode(&serialize(event, content_type))
}

/// `200 OK` streaming RecordIO records.
pub fn stream_response<S>(content_type: ContentType, records: S) -> Response<Body>
where
    S: futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type.mime())
        .body(Body::from_stream(records))
        .expect("a valid response")
}

fn response(kind: ResponseType) -> V1Response {
    V1Response { r#type: Some(kind as i32), ..Default::default() }
}

/// GET_HEALTH.
pub fn get_health() -> V1Response {
    let mut out = response(ResponseType::GetHealth);
    out.get_health = Some(v1r::GetHealth { healthy: true });
    out
}

/// GET_FLAGS from the daemon's effective flags.
pub fn get_flags(flags: &BTreeMap<String, String>) -> V1Response {
    let mut out = response(ResponseType::GetFlags);
    out.get_flags = Some(v1r::GetFlags {
        flags: flags.iter().map(|(name, value)| Flag { name: name.clone(), value: Some(value.clone()) }).collect(),
    });
    out
}

/// What GET_VERSION reports.
#[derive(Clone, Debug, Default)]
pub struct Version {
    pub version: String,
    pub build_date: String,
    pub build_time: f64,
    pub build_user: String,
}

/// GET_VERSION.
pub fn get_version(v: &Version) -> V1Response {
    let mut out = response(ResponseType::GetVersion);
    out.get_version = Some(v1r::GetVersion {
        version_info: VersionInfo {
            version: v.version.clone(),
            build_date: Some(v.build_date.clone()),
            build_time: Some(v.build_time),
            build_user: Some(v.build_user.clone()),
            ..Default::default()
        },
    });
    out
}

/// GET_METRICS from a `/metrics/snapshot` document.
pub fn get_metrics(snapshot: &serde_json::Map<String, serde_json::Value>) -> V1Response {
    let mut out = response(ResponseType::GetMetrics);
    out.get_metrics = Some(v1r::GetMetrics {
        metrics: snapshot.iter().map(|(name, value)| Metric { name: name.clone(), value: value.as_f64() }).collect(),
    });
    out
}

/// GET_LOGGING_LEVEL: the verbosity in force.
pub fn get_logging_level(logging: Option<&Logging>) -> V1Response {
    let mut out = response(ResponseType::GetLoggingLevel);
    out.get_logging_level = Some(v1r::GetLoggingLevel { level: logging.map(|l| l.verbosity()).unwrap_or(0) });
    out
}

/// SET_LOGGING_LEVEL: `level` for `duration`, then back to the level the
/// daemon started with (a later SET_LOGGING_LEVEL supersedes the revert).
pub fn set_logging_level(logging: Option<&Arc<Logging>>, level: u32, duration: Duration) -> Response<Body> {
    let Some(logging) = logging else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Logging is not initialized");
    };
    match logging.set_verbosity_for(level, duration) {
        Ok(()) => ok_empty(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn files_error(e: FilesError) -> Response<Body> {
    match e {
        FilesError::Invalid(text) => error(StatusCode::BAD_REQUEST, text),
        FilesError::NotFound => error(StatusCode::NOT_FOUND, "File not found"),
    }
}

fn file_info(path: &str, meta: &std::fs::Metadata) -> FileInfo {
    use std::os::unix::fs::MetadataExt;
    let user = |uid: u32| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| uid.to_string())
    };
    let group = |gid: u32| {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .map(|g| g.name)
            .unwrap_or_else(|| gid.to_string())
    };
    FileInfo {
        path: path.to_string(),
        nlink: Some(meta.nlink() as i32),
        size: Some(meta.size()),
        mtime: Some(TimeInfo { nanoseconds: meta.mtime().saturating_mul(1_000_000_000) }),
        mode: Some(meta.mode()),
        uid: Some(user(meta.uid())),
        gid: Some(group(meta.gid())),
    }
}

/// LIST_FILES over virtual `mounts`: a directory's entries, or the file
/// itself.
pub async fn list_files(mounts: BTreeMap<String, PathBuf>, path: String) -> Response<Body> {
    let real = match resolve(&mounts, &path) {
        Ok(real) => real,
        Err(e) => return files_error(e),
    };
    let base = path.trim_end_matches('/').to_string();
    let listing = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&real).map_err(|_| FilesError::NotFound)?;
        if !meta.is_dir() {
            return Ok(vec![file_info(&base, &meta)]);
        }
        let mut files = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&real) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(meta) = std::fs::metadata(real.join(&name)) else {
                    continue;
                };
                files.insert(name.clone(), file_info(&format!("{base}/{name}"), &meta));
            }
        }
        Ok(files.into_values().collect())
    })
    .await;
    match listing {
        Ok(Ok(file_infos)) => {
            let mut out = response(ResponseType::ListFiles);
            out.list_files = Some(v1r::ListFiles { file_infos });
            ok_parts(out)
        }
        Ok(Err(e)) => files_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// READ_FILE over virtual `mounts`: the file's size and the bytes at
/// `[offset, offset + length)` (at most a page batch, as `/files/read`).
pub async fn read_file(
    mounts: BTreeMap<String, PathBuf>,
    path: String,
    offset: u64,
    length: Option<u64>,
) -> Response<Body> {
    let real = match resolve(&mounts, &path) {
        Ok(real) => real,
        Err(e) => return files_error(e),
    };
    if real.is_dir() {
        return error(StatusCode::BAD_REQUEST, "Cannot read a directory");
    }
    match tokio::task::spawn_blocking(move || read_chunk(&real, offset, length)).await {
        Ok(Ok((size, data))) => {
            let mut out = response(ResponseType::ReadFile);
            out.read_file = Some(v1r::ReadFile { size, data });
            ok_parts(out)
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The file calls answer before the media type is known to them: the
/// response travels in an extension and is serialized by the caller.
fn ok_parts(out: V1Response) -> Response<Body> {
    let mut response = ok_empty();
    response.extensions_mut().insert(Pending(out));
    response
}

/// A master-typed response waiting to be serialized (see [`finish`]).
#[derive(Clone)]
pub struct Pending(pub V1Response);

/// Serializes a [`Pending`] response as `R` (the daemon's own `Response`
/// type) in `content_type`; other responses pass through.
pub fn finish<R: Message + ReflectMessage + Default>(
    mut response: Response<Body>,
    content_type: ContentType,
) -> Response<Body> {
    match response.extensions_mut().remove::<Pending>() {
        Some(Pending(out)) => ok(&transcode::<_, R>(&out), content_type),
        None => response,
    }
}

/// DurationInfo nanoseconds as a `Duration` (negative: zero).
pub fn duration(nanoseconds: i64) -> Duration {
    Duration::from_nanos(nanoseconds.max(0) as u64)
}
