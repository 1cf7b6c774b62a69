//! Shared helpers for the v0 wire tests: a served node on loopback, typed
//! test messages carrying a sequence number, and a raw HTTP response reader.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use mesos_rs::proto::mesos::internal::FrameworkToExecutorMessage;
use mesos_rs::proto::mesos::{ExecutorId, FrameworkId, SlaveId};
use mesos_rs::v0_compat::{serve, Event, Message, Node, Options, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A node served on 127.0.0.1 with a small router beside it.
pub struct Served {
    pub node: Node,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// The router mounted next to the message server: `GET /health` says "ok",
/// `POST /echo` returns its body; anything else is axum's 404.
pub fn router() -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: bytes::Bytes| async move { body }))
}

impl Served {
    pub async fn start(options: Options) -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Served::on(listener, options).await
    }

    pub async fn on(listener: TcpListener, options: Options) -> Served {
        let addr = listener.local_addr().unwrap();
        let node = Node::new(addr, options);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, node.clone(), router(), async {
            let _ = stopped.await;
        }));
        Served { node, addr, stop: Some(stop), task }
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap();
    }
}

/// A message that carries `seq` in its body, so order can be checked.
pub fn numbered(seq: u64) -> FrameworkToExecutorMessage {
    FrameworkToExecutorMessage {
        slave_id: SlaveId { value: "S0".into() },
        framework_id: FrameworkId { value: "F0".into() },
        executor_id: ExecutorId { value: "E0".into() },
        data: seq.to_be_bytes().to_vec(),
    }
}

/// The sequence number of a [`numbered`] message event.
pub fn seq_of(event: &Event) -> Option<u64> {
    match event {
        Event::Message { message: Message::FrameworkToExecutorMessage(m), .. } => {
            Some(u64::from_be_bytes(m.data.as_slice().try_into().ok()?))
        }
        _ => None,
    }
}

/// Receives the next event, failing the test if the node is gone.
pub async fn next(process: &mut Process) -> Event {
    process.recv().await.expect("node alive")
}

/// Writes raw bytes to a fresh connection.
pub async fn connect_and_send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// A libprocess-style message request with a Content-Length body.
pub fn message_request(to_id: &str, name: &str, from: &str, body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("POST /{to_id}/{name} HTTP/1.1\r\nLibprocess-From: {from}\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads HTTP responses off `stream`: `Some((status, headers, body))`, or
/// `None` at EOF (or reset) before a complete response.
pub async fn read_response(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = response.parse(buf) {
            let status = response.code.unwrap();
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            let body_len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.parse::<usize>().unwrap())
                .unwrap_or(0);
            if buf.len() >= len + body_len {
                buf.advance(len);
                let body = buf.split_to(body_len).to_vec();
                return Some((status, headers, body));
            }
        }
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Waits until the server closes `stream` (EOF or reset), discarding input.
pub async fn wait_closed(stream: &mut TcpStream) {
    let mut scratch = [0u8; 1024];
    loop {
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A hang guard, not a measurement: everything awaited here takes
/// milliseconds, so a minute means the behaviour under test is missing.
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(std::time::Duration::from_secs(60), future).await {
        Ok(output) => output,
        Err(_) => panic!("never happened: {what}"),
    }
}
