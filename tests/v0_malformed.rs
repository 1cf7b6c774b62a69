//! The malformed-input battery: while a well-behaved peer streams messages,
//! hostile and broken clients hit the same server concurrently. Every case
//! must get libprocess's answer (or a close), nothing bad may reach the
//! process, and the good peer must lose nothing.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::v0_compat::{Event, MessageType, Options};
use prost::Message as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const MAX_BODY: usize = 64 * 1024;
const NAME: &str = mi::FrameworkToExecutorMessage::NAME;
/// The battery's own deliverable messages use sequence numbers from here.
const BATTERY_SEQ: u64 = 1_000_000;

fn options() -> Options {
    Options {
        max_message_size: MAX_BODY,
        // Short, so slow clients are cut quickly; idle connections must
        // outlive it (checked at the end).
        request_timeout: Duration::from_millis(300),
        ..Options::default()
    }
}

fn body(seq: u64) -> Vec<u8> {
    numbered(seq).encode_to_vec()
}

/// Sends `bytes` on a fresh connection and returns the first response.
async fn answer(addr: std::net::SocketAddr, bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = connect_and_send(addr, bytes).await;
    read_response(&mut stream, &mut BytesMut::new()).await.expect("a response")
}

/// Sends `bytes` and expects the server to close without answering.
async fn closed_without_answer(addr: std::net::SocketAddr, bytes: impl AsRef<[u8]>) {
    let bytes = bytes.as_ref();
    let mut stream = connect_and_send(addr, bytes).await;
    let mut buf = BytesMut::new();
    assert!(
        read_response(&mut stream, &mut buf).await.is_none(),
        "unexpected response to {:?}",
        String::from_utf8_lossy(bytes)
    );
    assert!(buf.is_empty(), "partial response {buf:?}");
}

/// Sends a partial request and expects the server to give up on it.
async fn stalled_then_closed(addr: std::net::SocketAddr, bytes: impl AsRef<[u8]>) {
    let mut stream = connect_and_send(addr, bytes.as_ref()).await;
    wait_closed(&mut stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_do_not_disturb_a_good_peer() {
    const GOOD: u64 = 2_000;
    let server = Served::start(options()).await;
    let addr = server.addr;
    let mut master = server.node.spawn("master").unwrap();
    let master_pid = master.pid().clone();

    // Idle libprocess-style connections, opened first and used last.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }

    // The good peer: another node streaming numbered messages.
    let peer = Served::start(Options { peer_queue_capacity: 1 << 14, ..Options::default() }).await;
    let good = peer.node.spawn("good-peer").unwrap();
    let good_handle = good.handle().clone();
    let to = master_pid.clone();
    let streaming = tokio::spawn(async move {
        for seq in 0..GOOD {
            good_handle.send(&to, &numbered(seq)).unwrap();
            if seq % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    let from = "battery@127.0.0.1:1";
    let big = vec![0u8; MAX_BODY + 1];
    let mut chunked_big =
        format!("POST /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for _ in 0..3 {
        chunked_big.extend_from_slice(format!("{:x}\r\n", MAX_BODY / 2).as_bytes());
        chunked_big.extend_from_slice(&vec![b'x'; MAX_BODY / 2]);
        chunked_big.extend_from_slice(b"\r\n");
    }
    let truncated = {
        let mut b = body(0);
        b.pop();
        b
    };
    let mut pipelined = Vec::new();
    for seq in 1..=3 {
        pipelined.extend(message_request("master", NAME, from, &body(BATTERY_SEQ + seq)));
    }
    let mut chunked_good =
        format!("POST /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    let b = body(BATTERY_SEQ + 7);
    let (x, y) = b.split_at(5);
    for part in [x, y] {
        chunked_good.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked_good.extend_from_slice(part);
        chunked_good.extend_from_slice(b"\r\n");
    }
    chunked_good.extend_from_slice(b"0\r\n\r\n");

    let battery = async {
        tokio::join!(
            // Garbage, oversized heads and contradictory framing: closed
            // without a response, as libprocess's decoder failure does.
            closed_without_answer(addr, b"\x00\x01\x02 garbage\r\n\r\n"),
            closed_without_answer(addr, format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(90 * 1024))),
            closed_without_answer(
                addr,
                format!("POST /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            ),
            async {
                // Unknown process: 404. Unknown name, garbage, truncated or
                // incomplete bodies: 202 and dropped, as libprocess does.
                assert_eq!(answer(addr, &message_request("nobody", NAME, from, &body(0))).await.0, 404);
                assert_eq!(answer(addr, &message_request("master", "mesos.internal.Nope", from, &body(0))).await.0, 202);
                assert_eq!(answer(addr, &message_request("master", NAME, from, b"\xff\xfe garbage")).await.0, 202);
                assert_eq!(answer(addr, &message_request("master", NAME, from, &truncated)).await.0, 202);
                assert_eq!(answer(addr, &message_request("master", NAME, from, b"")).await.0, 202);
            },
            async {
                // Unparsable sender or path: 500; a path without '/': 400.
                assert_eq!(answer(addr, &message_request("master", NAME, "garbage", &body(0))).await.0, 500);
                assert_eq!(answer(addr, &message_request("ma%zz", NAME, from, &body(0))).await.0, 500);
                let star = format!("POST * HTTP/1.1\r\nLibprocess-From: {from}\r\nContent-Length: 0\r\n\r\n");
                assert_eq!(answer(addr, star.as_bytes()).await.0, 400);
            },
            async {
                // Not messages: wrong method, or no sender. The router answers.
                let put = format!("PUT /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nContent-Length: 0\r\n\r\n");
                assert_eq!(answer(addr, put.as_bytes()).await.0, 404);
                let anonymous = format!("POST /master/{NAME} HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
                assert_eq!(answer(addr, anonymous.as_bytes()).await.0, 404);
            },
            async {
                // Oversize bodies, declared or chunked: 413, then closed.
                let (status, headers, _) = answer(addr, &message_request("master", NAME, from, &big)).await;
                assert_eq!(status, 413);
                assert!(headers.contains(&("connection".into(), "close".into())));
                let mut stream = connect_and_send(addr, &chunked_big).await;
                let mut buf = BytesMut::new();
                assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 413);
                wait_closed(&mut stream).await;
            },
            // Slowloris: a head or a body that never completes is cut.
            stalled_then_closed(addr, format!("POST /master/{NAME} HTTP/1.1\r\nLibprocess-")),
            stalled_then_closed(
                addr,
                format!("POST /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nContent-Length: 100\r\n\r\n0123456789"),
            ),
            async {
                // ...also once the connection has gone over to hyper.
                let mut stream = connect_and_send(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
                let mut buf = BytesMut::new();
                assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 200);
                stream.write_all(b"GET /health HTTP/1.1\r\nHo").await.unwrap();
                wait_closed(&mut stream).await;
            },
            async {
                // Abrupt closes mid-head and mid-body.
                drop(connect_and_send(addr, b"POST /master/x HTTP/1.1\r\nLibpro").await);
                let mut half = message_request("master", NAME, from, &body(0));
                half.truncate(half.len() - 3);
                drop(connect_and_send(addr, &half).await);
            },
            async {
                // Pipelined messages: answered in order, all delivered.
                let mut stream = connect_and_send(addr, &pipelined).await;
                let mut buf = BytesMut::new();
                for _ in 0..3 {
                    assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 202);
                }
            },
            async {
                // The legacy sender header, HTTP/1.0 (answered, then closed),
                // `Expect: 100-continue`, and a chunked body in two chunks.
                let legacy = format!(
                    "POST /master/{NAME} HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nContent-Length: {}\r\n\r\n",
                    body(0).len()
                );
                let mut bytes = legacy.into_bytes();
                bytes.extend(body(BATTERY_SEQ + 4));
                assert_eq!(answer(addr, &bytes).await.0, 202);

                let mut old = format!("POST /master/{NAME} HTTP/1.0\r\nLibprocess-From: {from}\r\nContent-Length: {}\r\n\r\n", body(0).len()).into_bytes();
                old.extend(body(BATTERY_SEQ + 5));
                let mut stream = connect_and_send(addr, &old).await;
                let mut buf = BytesMut::new();
                assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 202);
                wait_closed(&mut stream).await;

                let head = format!(
                    "POST /master/{NAME} HTTP/1.1\r\nLibprocess-From: {from}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                    body(0).len()
                );
                let mut stream = connect_and_send(addr, head.as_bytes()).await;
                let mut buf = BytesMut::new();
                assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 100);
                stream.write_all(&body(BATTERY_SEQ + 6)).await.unwrap();
                assert_eq!(read_response(&mut stream, &mut buf).await.unwrap().0, 202);

                assert_eq!(answer(addr, &chunked_good).await.0, 202);
            },
        )
    };
    within("the battery completes", battery).await;
    within("the good peer finishes sending", streaming).await.unwrap();

    // Idle connections outlived several request timeouts and still work.
    for (i, stream) in idle.iter_mut().enumerate() {
        stream.write_all(&message_request("master", NAME, from, &body(BATTERY_SEQ + 100 + i as u64))).await.unwrap();
        assert_eq!(
            within("idle connection answers", read_response(stream, &mut BytesMut::new())).await.unwrap().0,
            202
        );
    }

    // A final marker from the good peer; everything before it is accounted for.
    good.handle().send(&master_pid, &numbered(GOOD)).unwrap();
    let mut good_next = 0;
    let mut battery_seqs = Vec::new();
    loop {
        let event = within("events", next(&mut master)).await;
        let Event::Message { ref from, .. } = event else { panic!("unexpected {event:?}") };
        let seq = seq_of(&event).expect("only numbered messages are delivered");
        match from.id() {
            "good-peer" => {
                assert_eq!(seq, good_next, "the good peer's messages arrive in order");
                good_next += 1;
                if seq == GOOD {
                    break;
                }
            }
            "battery" => battery_seqs.push(seq - BATTERY_SEQ),
            other => panic!("message from {other}"),
        }
    }
    battery_seqs.sort_unstable();
    let mut expected: Vec<u64> = (1..=7).collect();
    expected.extend(100..120);
    assert_eq!(battery_seqs, expected);
    peer.stop().await;
    server.stop().await;
}
