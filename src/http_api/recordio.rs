//! RecordIO: the framing of Mesos's streaming HTTP responses.
//!
//! The v1 scheduler, executor and operator `SUBSCRIBE` streams (and the agent's
//! `ATTACH_CONTAINER_OUTPUT`) send a sequence of records, each prefixed by its
//! length in bytes written as a base-10 integer and a newline:
//!
//! ```text
//! 5\nhello6\nworld!
//! ```
//!
//! (`docs/recordio.md` in Mesos.) Records are whole protobuf or JSON messages;
//! this module only frames bytes.
//!
//! - [`encode`] / [`encode_into`] frame one record (stateless).
//! - [`Decoder`] is incremental: feed it chunks as they arrive from the socket
//!   and it returns every record completed by that chunk. It never allocates
//!   more than `max_record_len` for one record, and once it has seen a bad
//!   header it stays failed (the stream cannot be resynchronised), as stout's
//!   decoder does.
//! - [`records`] adapts a stream of body chunks into a stream of records.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// The largest record a [`Decoder`] accepts unless told otherwise (64 MiB: far
/// above any Mesos event, below what would hurt a small executor).
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// A length header longer than this (in bytes, without the newline) cannot be
/// a valid `usize` and is rejected instead of being buffered forever.
const MAX_HEADER_LEN: usize = 20;

/// Why a RecordIO stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// The length header is not a base-10 integer.
    #[error("Failed to decode length '{header}': {reason}")]
    InvalidLength { header: String, reason: String },
    /// The header announces a record larger than the decoder's limit.
    #[error("Record length {len} exceeds the maximum of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    /// The stream ended in the middle of a header or a record.
    #[error("Unexpected end of stream: {0}")]
    Truncated(String),
    /// A previous call failed; the decoder cannot find the next header.
    #[error("Decoder is in a FAILED state")]
    Failed,
}

/// Frames one record: `<len>\n<record>`.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(record.len() + 12);
    encode_into(record, &mut out);
    out.into()
}

/// Appends the framed record to `out`.
pub fn encode_into(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the length digits up to the newline.
    Header,
    /// Reading `remaining` more bytes of the current record.
    Record {
        remaining: usize,
    },
    Failed,
}

/// An incremental RecordIO decoder (see the module docs).
#[derive(Debug)]
pub struct Decoder {
    state: State,
    header: Vec<u8>,
    record: BytesMut,
    max_record_len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder accepting records up to [`DEFAULT_MAX_RECORD_LEN`].
    pub fn new() -> Decoder {
        Decoder::with_max_record_len(DEFAULT_MAX_RECORD_LEN)
    }

    /// A decoder rejecting any record longer than `max` bytes.
    pub fn with_max_record_len(max: usize) -> Decoder {
        Decoder { state: State::Header, header: Vec::new(), record: BytesMut::new(), max_record_len: max }
    }

    /// Feeds `data`; returns the records it completed, in order. A zero-length
    /// record is returned as an empty `Bytes`.
    pub fn decode(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        if self.state == State::Failed {
            return Err(RecordIoError::Failed);
        }
        let mut records = Vec::new();
        while !data.is_empty() {
            match self.state {
                State::Failed => return Err(RecordIoError::Failed),
                State::Header => {
                    let Some(newline) = data.iter().position(|&b| b == b'\n') else {
                        self.header.extend_from_slice(data);
                        self.check_header_len()?;
                        break;
                    };
                    self.header.extend_from_slice(&data[..newline]);
                    data = &data[newline + 1..];
                    self.check_header_len()?;
                    let len = self.parse_header()?;
                    self.header.clear();
                    if len == 0 {
                        records.push(Bytes::new());
                    } else {
                        self.record.reserve(len.min(64 * 1024));
                        self.state = State::Record { remaining: len };
                    }
                }
                State::Record { remaining } => {
                    let take = remaining.min(data.len());
                    self.record.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if take == remaining {
                        records.push(self.record.split().freeze());
                        self.state = State::Header;
                    } else {
                        self.state = State::Record { remaining: remaining - take };
                    }
                }
            }
        }
        Ok(records)
    }

    /// Call at end of stream: an error if a header or record was cut short.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match self.state {
            State::Failed => Err(RecordIoError::Failed),
            State::Header if self.header.is_empty() => Ok(()),
            State::Header => Err(RecordIoError::Truncated(format!(
                "incomplete length header '{}'",
                String::from_utf8_lossy(&self.header)
            ))),
            State::Record { remaining } => {
                Err(RecordIoError::Truncated(format!("record is missing its last {remaining} bytes")))
            }
        }
    }

    fn check_header_len(&mut self) -> Result<(), RecordIoError> {
        if self.header.len() > MAX_HEADER_LEN {
            return Err(self.fail(RecordIoError::InvalidLength {
                header: String::from_utf8_lossy(&self.header[..MAX_HEADER_LEN]).into_owned() + "...",
                reason: "length header is too long".into(),
            }));
        }
        Ok(())
    }

    fn parse_header(&mut self) -> Result<usize, RecordIoError> {
        let text = String::from_utf8_lossy(&self.header).into_owned();
        let digits = text.trim_matches(|c: char| c == '\r' || c == ' ');
        let parsed = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<usize>().map_err(|e| e.to_string())
        } else {
            Err("not a base-10 integer".to_string())
        };
        match parsed {
            Ok(len) if len > self.max_record_len => {
                Err(self.fail(RecordIoError::RecordTooLarge { len, max: self.max_record_len }))
            }
            Ok(len) => Ok(len),
            Err(reason) => Err(self.fail(RecordIoError::InvalidLength { header: text, reason })),
        }
    }

    fn fail(&mut self, error: RecordIoError) -> RecordIoError {
        self.state = State::Failed;
        self.header.clear();
        self.record.clear();
        error
    }
}

/// An error from [`records`]: the body stream failed or the framing was bad.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E> {
    #[error("{0}")]
    Body(E),
    #[error("{0}")]
    Decode(#[from] RecordIoError),
}

/// Turns a stream of body chunks into a stream of records. The stream ends
/// after the first error; a body that ends mid-record yields
/// [`RecordIoError::Truncated`].
pub fn records<S, E>(body: S, max_record_len: usize) -> impl Stream<Item = Result<Bytes, StreamError<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let decoder = Decoder::with_max_record_len(max_record_len);
    futures::stream::unfold(
        (body, decoder, std::collections::VecDeque::<Bytes>::new(), false),
        |(mut body, mut decoder, mut ready, mut done)| async move {
            loop {
                if let Some(record) = ready.pop_front() {
                    return Some((Ok(record), (body, decoder, ready, done)));
                }
                if done {
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => match decoder.decode(&chunk) {
                        Ok(records) => ready.extend(records),
                        Err(e) => {
                            done = true;
                            return Some((Err(e.into()), (body, decoder, ready, done)));
                        }
                    },
                    Some(Err(e)) => {
                        done = true;
                        return Some((Err(StreamError::Body(e)), (body, decoder, ready, done)));
                    }
                    None => {
                        done = true;
                        if let Err(e) = decoder.finish() {
                            return Some((Err(e.into()), (body, decoder, ready, done)));
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_like_the_mesos_docs() {
        assert_eq!(&encode(b"hello")[..], b"5\nhello");
        assert_eq!(&encode(b"")[..], b"0\n");
        let mut out = Vec::new();
        encode_into(b"hello", &mut out);
        encode_into(b"world!", &mut out);
        assert_eq!(out, b"5\nhello6\nworld!");
        let mut d = Decoder::new();
        assert_eq!(d.decode(&out).unwrap(), vec![Bytes::from("hello"), Bytes::from("world!")]);
        assert!(d.finish().is_ok());
    }

    #[test]
    fn decodes_across_arbitrary_chunk_boundaries() {
        let stream = b"5\nhello0\n11\nhello world";
        for split in 0..stream.len() {
            let mut d = Decoder::new();
            let mut got = d.decode(&stream[..split]).unwrap();
            got.extend(d.decode(&stream[split..]).unwrap());
            assert_eq!(got, vec![Bytes::from("hello"), Bytes::new(), Bytes::from("hello world")], "split at {split}");
        }
    }

    #[test]
    fn bad_headers_fail_for_good() {
        let mut d = Decoder::new();
        let err = d.decode(b"abc\nxyz").unwrap_err();
        assert!(matches!(err, RecordIoError::InvalidLength { ref header, .. } if header == "abc"), "{err}");
        assert!(err.to_string().starts_with("Failed to decode length 'abc'"));
        assert_eq!(d.decode(b"3\nabc").unwrap_err(), RecordIoError::Failed);

        let mut d = Decoder::new();
        assert!(matches!(d.decode(b"-1\n").unwrap_err(), RecordIoError::InvalidLength { .. }));
        let mut d = Decoder::new();
        assert!(matches!(d.decode(b"\n").unwrap_err(), RecordIoError::InvalidLength { .. }));
        let mut d = Decoder::new();
        assert!(matches!(d.decode(&[b'1'; 40]).unwrap_err(), RecordIoError::InvalidLength { .. }));
    }

    #[test]
    fn limits_and_truncation() {
        let mut d = Decoder::with_max_record_len(4);
        assert_eq!(d.decode(b"5\n").unwrap_err(), RecordIoError::RecordTooLarge { len: 5, max: 4 });
        let mut d = Decoder::new();
        assert!(d.decode(b"5\nhel").unwrap().is_empty());
        assert!(matches!(d.finish(), Err(RecordIoError::Truncated(_))));
        let mut d = Decoder::new();
        d.decode(b"12").unwrap();
        assert!(matches!(d.finish(), Err(RecordIoError::Truncated(_))));
    }

    #[test]
    fn stream_adapter_yields_records_then_errors() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"2\nab1")), Ok(Bytes::from_static(b"\nc3\nde"))];
        let out: Vec<_> = futures::executor::block_on(records(futures::stream::iter(chunks), 1024).collect::<Vec<_>>());
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().unwrap(), &Bytes::from("ab"));
        assert_eq!(out[1].as_ref().unwrap(), &Bytes::from("c"));
        assert!(matches!(out[2], Err(StreamError::Decode(RecordIoError::Truncated(_)))));
    }

    proptest! {
        #[test]
        fn round_trips(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
                       chunk in 1usize..17) {
            let mut wire = Vec::new();
            for r in &records {
                encode_into(r, &mut wire);
            }
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                got.extend(d.decode(piece).unwrap());
            }
            prop_assert!(d.finish().is_ok());
            let got: Vec<Vec<u8>> = got.into_iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, records);
        }

        #[test]
        fn never_panics_on_garbage(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = Decoder::with_max_record_len(100);
            let _ = d.decode(&data);
            let _ = d.finish();
        }
    }
}
