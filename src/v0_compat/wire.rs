//! libprocess's message framing, without I/O: how a message becomes an HTTP
//! request, how an inbound request is recognised as a message, and the
//! responses libprocess sends back.
//!
//! Facts this encodes (libprocess `encoder.hpp`, `process.cpp`):
//! - Outbound: `POST /<to.id>/<name> HTTP/1.1`, then exactly
//!   `User-Agent: libprocess/<from>`, `Libprocess-From: <from>`,
//!   `Connection: Keep-Alive`, `Host: <to ip:port>`; a non-empty body goes as
//!   one chunk (`Transfer-Encoding: chunked`, lowercase hex size, body,
//!   `0\r\n\r\n`), an empty body as no body at all (no `Content-Length`).
//!   The id is written unescaped; an empty id leaves only `/<name>`.
//! - Inbound: a request is a message iff it is a `POST` and has a
//!   `Libprocess-From` header or a `User-Agent` starting with `libprocess/`
//!   (`Libprocess-From` wins when both are there). The path must start with
//!   `/`; its first segment, percent-decoded (`+` is a space), is the process
//!   id, and everything after the next `/`, undecoded, is the message name.
//! - Answers: `202 Accepted` once delivered to an existing process, whether
//!   or not that process understands the message; `404 Not Found` when no
//!   such process; `500 Internal Server Error` when the sender or path cannot
//!   be parsed; `400 Bad Request` when the path does not start with `/` or
//!   the sender's IP fails the optional peer-address check.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::registry::WireMessage;
use super::upid::Upid;

/// Encodes a message as libprocess's `MessageEncoder` does, byte for byte
/// (modulo IPv6 `Host`, which we bracket as HTTP requires).
pub fn encode_message<M: WireMessage + ?Sized>(from: &Upid, to: &Upid, message: &M) -> Vec<u8> {
    let body_len = message.body_len();
    let mut out = Vec::with_capacity(160 + body_len);
    let mut head = String::with_capacity(160);
    head.push_str("POST ");
    if !to.id().is_empty() {
        head.push('/');
        head.push_str(to.id());
    }
    // `write!` into a String cannot fail.
    let _ = write!(
        head,
        "/{} HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\n\
         Connection: Keep-Alive\r\nHost: {}\r\n",
        message.message_name(),
        host_header(to.addr()),
    );
    if body_len > 0 {
        let _ = write!(head, "Transfer-Encoding: chunked\r\n\r\n{body_len:x}\r\n");
        out.extend_from_slice(head.as_bytes());
        let before = out.len();
        message.write_body(&mut out);
        debug_assert_eq!(out.len() - before, body_len, "WireMessage::body_len lied");
        out.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
    }
    out
}

fn host_header(addr: SocketAddr) -> String {
    // `SocketAddr`'s Display brackets IPv6 (`[::1]:5050`), which is what an
    // HTTP Host header needs; for IPv4 it is libprocess's `ip:port`.
    addr.to_string()
}

/// A request recognised as a libprocess message (before its body is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageHead {
    /// The sender as the headers spell it, not yet parsed (parsing may need
    /// DNS for a hostname, which libprocess would do).
    pub from: String,
    /// The destination process id (percent-decoded).
    pub to: String,
    /// The message name.
    pub name: String,
}

/// What an inbound request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Classified {
    /// Not a message: an ordinary HTTP request for the router.
    Http,
    /// A message to deliver.
    Message(MessageHead),
    /// A message libprocess would refuse with this answer (its body must
    /// still be read, to keep the connection in step).
    Refused(Answer),
}

/// A response libprocess would send for a message: status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: http::StatusCode,
    pub body: String,
}

impl Answer {
    pub(crate) fn new(status: http::StatusCode, body: impl Into<String>) -> Self {
        Answer { status, body: body.into() }
    }

    pub(crate) fn accepted() -> Self {
        Answer::new(http::StatusCode::ACCEPTED, "")
    }
}

/// Classifies a request from its method, request-target and the two
/// libprocess headers (raw bytes, as they arrived).
pub(crate) fn classify(
    method: &str,
    target: &str,
    libprocess_from: Option<&[u8]>,
    user_agent: Option<&[u8]>,
) -> Classified {
    let legacy_agent = user_agent.filter(|ua| ua.starts_with(b"libprocess/"));
    if method != "POST" || (libprocess_from.is_none() && legacy_agent.is_none()) {
        return Classified::Http;
    }
    let from = match (libprocess_from, legacy_agent) {
        (Some(header), _) => header,
        (None, Some(ua)) => &ua[b"libprocess/".len()..],
        (None, None) => return Classified::Http,
    };
    let Ok(from) = std::str::from_utf8(from) else {
        return Classified::Refused(Answer::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to determine sender from request headers",
        ));
    };
    let path = path_of(target);
    if !path.starts_with('/') {
        return Classified::Refused(Answer::new(http::StatusCode::BAD_REQUEST, "Request URL path must start with '/'"));
    }
    let rest = &path[1..];
    let (to, name) = rest.split_once('/').unwrap_or((rest, ""));
    match percent_decode(to) {
        Ok(to) => Classified::Message(MessageHead { from: from.trim().to_string(), to, name: name.to_string() }),
        Err(e) => Classified::Refused(Answer::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to decode URL path: {e}"),
        )),
    }
}

/// The path of a request-target: origin-form up to `?`/`#`, or the path of an
/// absolute-form URI (`http://host/path`). Anything else is returned as is
/// (and fails the leading-`/` check).
fn path_of(target: &str) -> &str {
    let target = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let after = &target[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "/",
            }
        }
        _ => target,
    };
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

/// Why a path segment could not be percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PercentError {
    /// `%` not followed by two hex digits.
    #[error("malformed % escape in '{0}'")]
    BadEscape(String),
    /// The decoded bytes are not UTF-8 (process ids are text).
    #[error("'{0}' does not decode to UTF-8")]
    NotUtf8(String),
}

/// libprocess's `http::decode`: `%XX` escapes and `+` as space.
pub(crate) fn percent_decode(s: &str) -> Result<String, PercentError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let value = hex
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| PercentError::BadEscape(s.to_string()))?;
                out.push(value);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8(s.to_string()))
}

/// An HTTP/1.1 response as libprocess's `HttpResponseEncoder` writes it:
/// status line, `Date`, `Content-Length`, plus `Connection: close` when we
/// are about to close.
pub(crate) fn encode_answer(answer: &Answer, close: bool) -> Vec<u8> {
    let mut out = String::with_capacity(128 + answer.body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nDate: {}\r\n",
        answer.status.as_u16(),
        answer.status.canonical_reason().unwrap_or(""),
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    if close {
        out.push_str("Connection: close\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", answer.body.len());
    out.push_str(&answer.body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v0_compat::registry::RawMessage;
    use bytes::Bytes;
    use http::StatusCode;

    fn pid(s: &str) -> Upid {
        s.parse().unwrap()
    }

    fn raw(name: &str, body: &'static [u8]) -> RawMessage {
        RawMessage { name: name.into(), body: Bytes::from_static(body) }
    }

    #[test]
    fn encodes_exactly_like_libprocess() {
        let from = pid("scheduler-1@10.0.0.1:4000");
        let to = pid("master@10.0.0.2:5050");
        let bytes = encode_message(&from, &to, &raw("mesos.internal.X", b"0123456789abcdefg"));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /master/mesos.internal.X HTTP/1.1\r\n\
             User-Agent: libprocess/scheduler-1@10.0.0.1:4000\r\n\
             Libprocess-From: scheduler-1@10.0.0.1:4000\r\n\
             Connection: Keep-Alive\r\n\
             Host: 10.0.0.2:5050\r\n\
             Transfer-Encoding: chunked\r\n\
             \r\n\
             11\r\n0123456789abcdefg\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn an_empty_body_and_an_empty_id_are_framed_like_libprocess() {
        let from = pid("a@1.1.1.1:1");
        let bytes = encode_message(&from, &pid("@2.2.2.2:2"), &raw("ping", b""));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /ping HTTP/1.1\r\nUser-Agent: libprocess/a@1.1.1.1:1\r\n\
             Libprocess-From: a@1.1.1.1:1\r\nConnection: Keep-Alive\r\nHost: 2.2.2.2:2\r\n\r\n"
        );
        let v6 = encode_message(&from, &pid("m@::1:5050"), &raw("p", b""));
        assert!(String::from_utf8(v6).unwrap().contains("Host: [::1]:5050\r\n"));
    }

    #[test]
    fn recognises_messages_by_method_and_headers() {
        let from = Some(&b"a@1.2.3.4:5"[..]);
        assert_eq!(classify("GET", "/master/x", from, None), Classified::Http);
        assert_eq!(classify("POST", "/master/x", None, None), Classified::Http);
        assert_eq!(classify("POST", "/master/x", None, Some(b"curl/8")), Classified::Http);
        let head = MessageHead { from: "a@1.2.3.4:5".into(), to: "master".into(), name: "x".into() };
        assert_eq!(classify("POST", "/master/x", from, None), Classified::Message(head.clone()));
        assert_eq!(
            classify("POST", "/master/x", None, Some(b"libprocess/a@1.2.3.4:5")),
            Classified::Message(head.clone())
        );
        // Libprocess-From wins over the legacy User-Agent.
        assert_eq!(
            classify("POST", "/master/x", Some(b" a@1.2.3.4:5 "), Some(b"libprocess/b@9.9.9.9:9")),
            Classified::Message(head)
        );
    }

    #[test]
    fn splits_paths_as_libprocess_does() {
        let from = Some(&b"a@1.2.3.4:5"[..]);
        let parts = |target: &str| match classify("POST", target, from, None) {
            Classified::Message(h) => (h.to, h.name),
            other => panic!("{target}: {other:?}"),
        };
        assert_eq!(
            parts("/slave(1)/mesos.internal.RunTaskMessage"),
            ("slave(1)".into(), "mesos.internal.RunTaskMessage".into())
        );
        assert_eq!(parts("/slave%281%29/n"), ("slave(1)".into(), "n".into()));
        assert_eq!(parts("/a+b/n"), ("a b".into(), "n".into()));
        assert_eq!(parts("/master"), ("master".into(), "".into()));
        assert_eq!(parts("/master/a/b"), ("master".into(), "a/b".into()));
        assert_eq!(parts("/master/n?x=1"), ("master".into(), "n".into()));
        assert_eq!(parts("http://h:1/master/n"), ("master".into(), "n".into()));
        match classify("POST", "*", from, None) {
            Classified::Refused(a) => assert_eq!(a.status, StatusCode::BAD_REQUEST),
            other => panic!("{other:?}"),
        }
        match classify("POST", "/ma%zzster/n", from, None) {
            Classified::Refused(a) => assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR),
            other => panic!("{other:?}"),
        }
        match classify("POST", "/m/n", Some(b"\xff@1.2.3.4:5"), None) {
            Classified::Refused(a) => assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn percent_decoding_matches_libprocess() {
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b c");
        assert_eq!(percent_decode("%41").unwrap(), "A");
        assert!(matches!(percent_decode("%4"), Err(PercentError::BadEscape(_))));
        assert!(matches!(percent_decode("%"), Err(PercentError::BadEscape(_))));
        assert!(matches!(percent_decode("%g1"), Err(PercentError::BadEscape(_))));
        assert!(matches!(percent_decode("%ff"), Err(PercentError::NotUtf8(_))));
    }

    #[test]
    fn answers_carry_length_and_close() {
        let text = String::from_utf8(encode_answer(&Answer::accepted(), false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 202 Accepted\r\nDate: "));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let text = String::from_utf8(encode_answer(&Answer::new(StatusCode::NOT_FOUND, "no"), true)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.ends_with("Connection: close\r\nContent-Length: 2\r\n\r\nno"));
    }
}
