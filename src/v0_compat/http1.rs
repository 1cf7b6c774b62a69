//! Just enough HTTP/1.x request parsing for libprocess messages, without I/O:
//! a request head, and a body framed by `Content-Length` or chunked
//! `Transfer-Encoding` (libprocess sends chunked, compactor sends
//! `Content-Length` over HTTP/1.0).
//!
//! Parsers take the bytes read so far and say "complete", "need more" or
//! "malformed"; the connection task in `connection.rs` does the reading.

use bytes::{Buf, BytesMut};

/// Largest request head accepted: http_parser's (and so libprocess's) limit.
pub(crate) const MAX_HEAD: usize = 80 * 1024;
/// More headers than this is treated as malformed.
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (size plus extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Why a request cannot be read. libprocess closes the connection without a
/// response on a decoder error; so do we, except for an oversize body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// Not HTTP/1.x.
    #[error("malformed request head: {0}")]
    Head(String),
    /// The head is larger than [`MAX_HEAD`].
    #[error("request head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// Conflicting or unparsable body framing.
    #[error("bad body framing: {0}")]
    Framing(String),
    /// A malformed chunk.
    #[error("malformed chunked body: {0}")]
    Chunk(String),
    /// The body is longer than allowed.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the head, including the blank line.
    pub len: usize,
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes (0 for a request with neither header).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).flat_map(|(_, v)| {
            String::from_utf8_lossy(v).split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>()
        })
    }

    /// Whether the connection stays open after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`
    /// (http_parser's `http_should_keep_alive`, which libprocess uses).
    pub(crate) fn keep_alive(&self) -> bool {
        let mut tokens = self.tokens("connection");
        if self.minor_version >= 1 {
            !tokens.any(|t| t == "close")
        } else {
            tokens.any(|t| t == "keep-alive")
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) fn expects_continue(&self) -> bool {
        self.minor_version >= 1 && self.tokens("expect").any(|t| t == "100-continue")
    }

    /// The body framing (RFC 7230 3.3.3): chunked if it is the final
    /// transfer coding, else `Content-Length`, else empty.
    pub(crate) fn framing(&self) -> Result<Framing, ParseError> {
        let codings: Vec<String> = self.tokens("transfer-encoding").collect();
        if let Some(last) = codings.last() {
            return if last == "chunked" {
                Ok(Framing::Chunked)
            } else {
                Err(ParseError::Framing(format!("unsupported transfer coding '{last}'")))
            };
        }
        let mut length = None;
        for (_, value) in self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
            let text =
                std::str::from_utf8(value).map_err(|_| ParseError::Framing("non-ASCII Content-Length".into()))?;
            for part in text.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::Framing(format!("bad Content-Length '{text}'")));
                }
                let n: u64 = part.parse().map_err(|_| ParseError::Framing(format!("bad Content-Length '{text}'")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ParseError::Framing("conflicting Content-Length values".into()));
                }
                length = Some(n);
            }
        }
        Ok(Framing::Length(length.unwrap_or(0)))
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` if incomplete.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>, ParseError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            if len > MAX_HEAD {
                return Err(ParseError::HeadTooLarge);
            }
            let head = Head {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                minor_version: req.version.unwrap_or(1),
                headers: req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
                len,
            };
            Ok(Some(head))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Err(ParseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(ParseError::Head(e.to_string())),
    }
}

/// Reads a body out of a stream of input, under a size limit.
#[derive(Debug)]
pub(crate) struct BodyReader {
    state: State,
    max: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A fixed number of bytes remain.
    Fixed(u64),
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Expecting trailer lines up to an empty one.
    Trailers {
        seen: usize,
    },
    Done,
}

impl BodyReader {
    /// A reader for `framing`; a declared length over `max` fails at once,
    /// before anything is buffered.
    pub(crate) fn new(framing: Framing, max: usize) -> Result<Self, ParseError> {
        let state = match framing {
            Framing::Length(n) if n > max as u64 => return Err(ParseError::TooLarge(max)),
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Fixed(n),
            Framing::Chunked => State::Size,
        };
        Ok(BodyReader { state, max })
    }

    /// Moves body bytes from `input` to `body`, consuming framing. Returns
    /// `Ok(true)` when the body is complete (anything left in `input` is the
    /// next request), `Ok(false)` when more input is needed.
    pub(crate) fn advance(&mut self, input: &mut BytesMut, body: &mut BytesMut) -> Result<bool, ParseError> {
        loop {
            match self.state {
                State::Done => return Ok(true),
                State::Fixed(remaining) => {
                    let n = take(input, body, remaining);
                    self.state = if n == remaining { State::Done } else { State::Fixed(remaining - n) };
                    if n < remaining {
                        return Ok(false);
                    }
                }
                State::Size => match httparse::parse_chunk_size(input) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        input.advance(used);
                        if body.len() as u64 + size > self.max as u64 {
                            return Err(ParseError::TooLarge(self.max));
                        }
                        self.state = if size == 0 { State::Trailers { seen: 0 } } else { State::Data(size) };
                    }
                    Ok(httparse::Status::Partial) if input.len() > MAX_CHUNK_LINE => {
                        return Err(ParseError::Chunk("chunk-size line too long".into()));
                    }
                    Ok(httparse::Status::Partial) => return Ok(false),
                    Err(_) => return Err(ParseError::Chunk("bad chunk size".into())),
                },
                State::Data(remaining) => {
                    let n = take(input, body, remaining);
                    if n < remaining {
                        self.state = State::Data(remaining - n);
                        return Ok(false);
                    }
                    self.state = State::DataEnd;
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(ParseError::Chunk("chunk data not followed by CRLF".into()));
                    }
                    input.advance(2);
                    self.state = State::Size;
                }
                State::Trailers { seen } => {
                    let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
                        if seen + input.len() > MAX_HEAD {
                            return Err(ParseError::Chunk("trailers too large".into()));
                        }
                        return Ok(false);
                    };
                    input.advance(end + 2);
                    // An empty line ends the trailers (and the body); other
                    // lines are trailer fields, which nothing here needs.
                    self.state = if end == 0 { State::Done } else { State::Trailers { seen: seen + end + 2 } };
                }
            }
        }
    }
}

/// Moves up to `limit` bytes from `input` to `body`; returns how many.
fn take(input: &mut BytesMut, body: &mut BytesMut, limit: u64) -> u64 {
    let n = (input.len() as u64).min(limit) as usize;
    body.extend_from_slice(&input[..n]);
    input.advance(n);
    n as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    /// Feeds `input` in pieces of `step` bytes; returns the body and leftover.
    fn read_body(framing: Framing, input: &[u8], step: usize, max: usize) -> Result<(Vec<u8>, Vec<u8>), ParseError> {
        let mut reader = BodyReader::new(framing, max)?;
        let mut buf = BytesMut::new();
        let mut body = BytesMut::new();
        let mut fed = 0;
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            fed += piece.len();
            if reader.advance(&mut buf, &mut body)? {
                // Buffered leftovers plus the unfed input: the next request.
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return Ok((body.to_vec(), rest));
            }
        }
        Err(ParseError::Chunk("incomplete".into()))
    }

    #[test]
    fn heads_parse_incrementally_and_report_framing() {
        let text = "POST /m/n HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\nhello";
        assert!(parse_head(&text.as_bytes()[..20]).unwrap().is_none());
        let h = head(text);
        assert_eq!((h.method.as_str(), h.target.as_str(), h.minor_version), ("POST", "/m/n", 0));
        assert_eq!(h.len, text.len() - 5);
        assert_eq!(h.framing().unwrap(), Framing::Length(5));
        assert!(h.keep_alive());
        assert_eq!(h.header("content-length"), Some(&b"5"[..]));

        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.framing().unwrap(), Framing::Chunked);
        assert!(h.keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n").framing().unwrap(), Framing::Length(0));
        assert!(head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expects_continue());
    }

    #[test]
    fn bad_heads_and_framing_are_errors() {
        assert!(matches!(parse_head(b"\x00\x01garbage\r\n\r\n"), Err(ParseError::Head(_))));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(big.as_bytes()).unwrap_err(), ParseError::HeadTooLarge);
        let bad = |t: &str| head(t).framing().is_err();
        assert!(bad("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"));
        assert!(bad("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
        assert!(bad("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"));
        assert!(!bad("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n"));
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (body, rest) = read_body(Framing::Chunked, input, 1000, 100).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(rest, b"NEXT");
        assert!(matches!(read_body(Framing::Chunked, b"zz\r\n", 100, 100), Err(ParseError::Chunk(_))));
        assert!(matches!(read_body(Framing::Chunked, b"2\r\nabXY", 100, 100), Err(ParseError::Chunk(_))));
        assert_eq!(read_body(Framing::Chunked, b"65\r\n", 100, 100).unwrap_err(), ParseError::TooLarge(100));
        assert_eq!(BodyReader::new(Framing::Length(101), 100).unwrap_err(), ParseError::TooLarge(100));
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert!(matches!(read_body(Framing::Chunked, &long, 100, usize::MAX), Err(ParseError::Chunk(_))));
    }

    proptest! {
        #[test]
        fn chunked_and_fixed_agree_however_input_is_split(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            chunk in 1usize..50,
            step in 1usize..40,
        ) {
            let mut chunked = Vec::new();
            for piece in body.chunks(chunk) {
                chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                chunked.extend_from_slice(piece);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\nrest");
            let (decoded, rest) = read_body(Framing::Chunked, &chunked, step, 1000).unwrap();
            prop_assert_eq!(&decoded, &body);
            prop_assert_eq!(rest, b"rest".to_vec());

            let mut fixed = body.clone();
            fixed.extend_from_slice(b"rest");
            let (decoded, rest) = read_body(Framing::Length(body.len() as u64), &fixed, step, 1000).unwrap();
            prop_assert_eq!(decoded, body);
            prop_assert_eq!(rest, b"rest".to_vec());
        }

        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_head(&input);
            let mut reader = BodyReader::new(Framing::Chunked, 1000).unwrap();
            let mut buf = BytesMut::from(&input[..]);
            let _ = reader.advance(&mut buf, &mut BytesMut::new());
        }
    }
}
