//! A small v1 scheduler HTTP API client (what Apache's
//! `mesos::v1::scheduler::Mesos` library is to C++ frameworks), used by
//! `mesos-execute` and usable by any Rust framework.
//!
//! [`Client::subscribe`] POSTs a SUBSCRIBE call and returns the
//! [`Subscription`]: the RecordIO event stream, decoded into v1 `Event`s.
//! [`Client::send`] POSTs any other call with the stream's
//! `Mesos-Stream-Id`. Calls and events travel as JSON or protobuf
//! ([`Format`]). A `307` from a master that does not lead is followed once.
//! Finding the leader (`host:port` or `zk://`) is [`resolve_master`].

use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use prost::Message as _;

use crate::http_api::json as pbjson;
use crate::http_api::recordio;
use crate::proto::mesos::v1::scheduler::{Call, Event};

/// The media type of calls and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/x-protobuf",
        }
    }
}

/// What can go wrong talking to the master.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The master answered with an unexpected status.
    #[error("Received unexpected '{status}' ({body}) for {call}")]
    Status { call: String, status: u16, body: String },
    #[error("Failed to decode event: {0}")]
    Decode(String),
    #[error("Failed to detect a master: {0}")]
    Detect(String),
}

/// A connection to one master's `/api/v1/scheduler`.
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, updated when a redirect names the leader.
    base: Mutex<String>,
    format: Format,
    stream_id: Mutex<Option<String>>,
    /// `Authorization: Basic ...` for every call, when credentials are set.
    authorization: Option<String>,
}

/// The events of a subscription, in order.
pub struct Subscription {
    records: Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>,
    format: Format,
}

impl Subscription {
    /// The next event; `None` once the master closed the stream.
    pub async fn next(&mut self) -> Option<Result<Event, ClientError>> {
        let record = match self.records.next().await? {
            Ok(record) => record,
            Err(e) => return Some(Err(ClientError::Decode(e))),
        };
        Some(decode_event(&record, self.format))
    }
}

/// One event record in `format`.
pub fn decode_event(record: &[u8], format: Format) -> Result<Event, ClientError> {
    match format {
        Format::Protobuf => Event::decode(record).map_err(|e| ClientError::Decode(e.to_string())),
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(record).map_err(|e| ClientError::Decode(e.to_string()))?;
            pbjson::from_value::<Event>(&value).map_err(|e| ClientError::Decode(e.to_string()))
        }
    }
}

/// One call's body in `format`.
pub fn encode_call(call: &Call, format: Format) -> Vec<u8> {
    match format {
        Format::Protobuf => call.encode_to_vec(),
        Format::Json => pbjson::to_string(call).into_bytes(),
    }
}

fn call_name(call: &Call) -> String {
    call.r#type().as_str_name().to_string()
}

impl Client {
    /// A client for the master at `address` (`host:port`).
    pub fn new(address: &str, format: Format) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Client {
            http,
            base: Mutex::new(format!("http://{address}")),
            format,
            stream_id: Mutex::new(None),
            authorization: None,
        }
    }

    /// Sends HTTP basic credentials with every call (what Mesos's scheduler
    /// library does with a `Credential`).
    pub fn with_credentials(mut self, principal: &str, secret: &str) -> Client {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    fn url(&self) -> String {
        format!("{}/api/v1/scheduler", self.base.lock().map(|b| b.clone()).unwrap_or_default())
    }

    /// The stream id of the current subscription.
    pub fn stream_id(&self) -> Option<String> {
        self.stream_id.lock().ok().and_then(|s| s.clone())
    }

    async fn post(&self, call: &Call, stream_id: Option<String>) -> Result<reqwest::Response, ClientError> {
        let body = encode_call(call, self.format);
        for _ in 0..2 {
            let mut request = self
                .http
                .post(self.url())
                .header(http::header::CONTENT_TYPE, self.format.mime())
                .header(http::header::ACCEPT, self.format.mime())
                .body(body.clone());
            if let Some(auth) = &self.authorization {
                request = request.header(http::header::AUTHORIZATION, auth);
            }
            if let Some(id) = &stream_id {
                request = request.header(crate::http_api::master::scheduler::STREAM_ID, id);
            }
            let response = request.send().await?;
            if response.status() == http::StatusCode::TEMPORARY_REDIRECT {
                // `//host:port/...` (protocol-relative, as Mesos writes it).
                let location = response.headers().get(http::header::LOCATION).and_then(|l| l.to_str().ok());
                if let Some(host) =
                    location.and_then(|l| l.trim_start_matches("http:").trim_start_matches("//").split('/').next())
                {
                    tracing::info!("Redirected to the leading master at {host}");
                    if let Ok(mut base) = self.base.lock() {
                        *base = format!("http://{host}");
                    }
                    continue;
                }
            }
            return Ok(response);
        }
        Err(ClientError::Status { call: call_name(call), status: 307, body: "redirected twice".into() })
    }

    /// Subscribes (`call` must be a SUBSCRIBE) and returns the event stream.
    pub async fn subscribe(&self, call: &Call) -> Result<Subscription, ClientError> {
        let response = self.post(call, None).await?;
        let status = response.status();
        if status != http::StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            return Err(ClientError::Status { call: call_name(call), status: status.as_u16(), body });
        }
        let stream_id = response
            .headers()
            .get(crate::http_api::master::scheduler::STREAM_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Ok(mut current) = self.stream_id.lock() {
            *current = stream_id;
        }
        let body = response.bytes_stream().map(|chunk| chunk.map_err(|e| e.to_string()));
        let records = recordio::records(Box::pin(body), 64 * 1024 * 1024).map(|r| r.map_err(|e| e.to_string()));
        Ok(Subscription { records: Box::pin(records), format: self.format })
    }

    /// Sends a non-SUBSCRIBE call on the current subscription; `Ok` on
    /// `202 Accepted` (or `200 OK`).
    pub async fn send(&self, call: &Call) -> Result<(), ClientError> {
        let response = self.post(call, self.stream_id()).await?;
        let status = response.status();
        if status == http::StatusCode::ACCEPTED || status == http::StatusCode::OK {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(ClientError::Status { call: call_name(call), status: status.as_u16(), body })
    }
}

/// The leading master's `host:port` for a `--master` value: `host:port`,
/// `master@host:port`, or a `zk://` URL (the leader is looked up there).
pub async fn resolve_master(master: &str) -> Result<String, ClientError> {
    let master = master.trim();
    if master.starts_with(crate::zookeeper::ZkUrl::SCHEME) {
        let url =
            crate::zookeeper::ZkUrl::parse_for_election(master).map_err(|e| ClientError::Detect(e.to_string()))?;
        let mut detector = crate::zookeeper::detector::MasterDetector::zookeeper(&url, Duration::from_secs(10));
        loop {
            match detector.detect(None).await {
                Ok(Some(info)) => {
                    let address = info.address.as_ref();
                    let host = address
                        .and_then(|a| a.ip.clone().or(a.hostname.clone()))
                        .or(info.hostname.clone())
                        .unwrap_or_else(|| std::net::Ipv4Addr::from(info.ip.swap_bytes()).to_string());
                    let port = address.map(|a| a.port).unwrap_or(info.port as i32);
                    return Ok(format!("{host}:{port}"));
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => return Err(ClientError::Detect(e.to_string())),
            }
        }
    }
    Ok(master.strip_prefix("master@").unwrap_or(master).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::v1::scheduler::{call, event};
    use crate::proto::mesos::v1::FrameworkId;

    #[test]
    fn calls_and_events_round_trip_in_both_formats() {
        let mut call = Call { framework_id: Some(FrameworkId { value: "f".into() }), ..Default::default() };
        call.set_type(call::Type::Revive);
        let json: serde_json::Value = serde_json::from_slice(&encode_call(&call, Format::Json)).unwrap();
        assert_eq!(json["type"], "REVIVE");
        assert_eq!(json["framework_id"]["value"], "f");
        assert_eq!(Call::decode(encode_call(&call, Format::Protobuf).as_slice()).unwrap(), call);

        let mut event = Event::default();
        event.set_type(event::Type::Error);
        event.error = Some(event::Error { message: "no".into() });
        assert_eq!(decode_event(&event.encode_to_vec(), Format::Protobuf).unwrap(), event);
        let text = br#"{"type":"ERROR","error":{"message":"no"}}"#;
        assert_eq!(decode_event(text, Format::Json).unwrap(), event);
        assert!(decode_event(b"{", Format::Json).is_err());
        assert!(decode_event(&[0xff, 0xff], Format::Protobuf).is_err());
    }

    #[tokio::test]
    async fn credentials_travel_as_basic_authorization() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            socket.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&seen).to_lowercase()
        });
        let client = Client::new(&address, Format::Json).with_credentials("p", "s");
        let mut call = Call::default();
        call.set_type(call::Type::Revive);
        client.send(&call).await.unwrap();
        let request = server.await.unwrap();
        assert!(request.starts_with("post /api/v1/scheduler "), "{request}");
        assert!(request.contains("authorization: basic cdpz\r\n"), "{request}");
        assert!(request.contains("content-type: application/json\r\n"), "{request}");
    }

    #[tokio::test]
    async fn plain_addresses_need_no_detection() {
        assert_eq!(resolve_master("10.0.0.1:5050").await.unwrap(), "10.0.0.1:5050");
        assert_eq!(resolve_master("master@10.0.0.1:5050").await.unwrap(), "10.0.0.1:5050");
    }
}
