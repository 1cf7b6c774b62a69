//! One inbound connection, while it carries libprocess messages.
//!
//! Reads requests one after another (pipelined ones included), delivers each
//! message, and queues its answer; answers are flushed whenever the input
//! runs dry, so a burst of messages costs one write. Idle time between
//! requests is unlimited; a started request must complete within
//! `request_timeout`. The first non-message request hands the connection to
//! hyper (`http_conn.rs`). Every failure ends only this connection, logged.

use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::http1::{self, BodyReader, Head, ParseError};
use super::node::Node;
use super::wire::{self, Answer, Classified};
use super::{http_conn, server};

/// Why a connection ended early (for the log).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("peer closed the connection mid-request")]
    Eof,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request not completed within {0:?}")]
    TimedOut(std::time::Duration),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    node: Node,
    /// Bytes read and not yet consumed.
    input: BytesMut,
    /// Answers not yet written.
    output: Vec<u8>,
}

/// Serves one accepted connection until it closes, fails, or shutdown.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    node: Node,
    router: axum::Router,
    shutdown: watch::Receiver<bool>,
) {
    let mut conn = Conn { stream, peer, node, input: BytesMut::with_capacity(16 * 1024), output: Vec::new() };
    match conn.serve_messages(shutdown.clone()).await {
        Ok(None) => {}
        Ok(Some(head_len)) => {
            let Conn { stream, input, node, .. } = conn;
            tracing::trace!(%peer, head_len, "handing connection to the HTTP router");
            http_conn::run(stream, input.freeze(), peer, node, router, shutdown).await;
        }
        Err(Closed::Parse(ParseError::TooLarge(max))) => {
            // libprocess has no limit; we answer before closing so the sender
            // can tell why (it will not, being libprocess, but curl will).
            tracing::warn!(%peer, max, "message body too large; closing connection");
            let answer =
                Answer::new(::http::StatusCode::PAYLOAD_TOO_LARGE, format!("Message body larger than {max} bytes"));
            conn.output.extend_from_slice(&wire::encode_answer(&answer, true));
            if conn.flush().await.is_ok() {
                conn.linger().await;
            }
        }
        Err(e) => tracing::warn!(%peer, error = %e, "closing libprocess connection"),
    }
}

impl Conn {
    /// Handles messages until the connection ends (`Ok(None)`) or a request
    /// that is not a message arrives (`Ok(Some(_))`, left unconsumed in
    /// `input` for hyper).
    async fn serve_messages(&mut self, mut shutdown: watch::Receiver<bool>) -> Result<Option<usize>, Closed> {
        let timeout = self.node.options().request_timeout;
        loop {
            if self.input.is_empty() {
                // Idle: answer everything so far, then wait as long as it
                // takes for the next request, or for shutdown.
                self.flush().await?;
                tokio::select! {
                    read = self.stream.read_buf(&mut self.input) => if read? == 0 {
                        return Ok(None);
                    },
                    _ = shutdown.changed() => return Ok(None),
                }
            }
            let deadline = Instant::now() + timeout;
            let head = self.read_head(deadline).await?;
            let message = match wire::classify(
                &head.method,
                &head.target,
                head.header("libprocess-from"),
                head.header("user-agent"),
            ) {
                Classified::Http => {
                    self.flush().await?;
                    return Ok(Some(head.len));
                }
                Classified::Message(message) => Ok(message),
                Classified::Refused(answer) => Err(answer),
            };
            self.input.advance(head.len);
            let body = self.read_body(&head, deadline).await?;
            let answer = match message {
                Ok(message) => server::deliver(&self.node, message, body.freeze(), self.peer).await,
                Err(refused) => {
                    tracing::warn!(peer = %self.peer, status = %refused.status, reason = refused.body, target = head.target, "refusing message");
                    refused
                }
            };
            let keep_alive = head.keep_alive();
            self.output.extend_from_slice(&wire::encode_answer(&answer, !keep_alive));
            if !keep_alive {
                self.flush().await?;
                let _ = self.stream.shutdown().await;
                return Ok(None);
            }
        }
    }

    /// Reads until `input` starts with a complete request head.
    async fn read_head(&mut self, deadline: Instant) -> Result<Head, Closed> {
        // Only re-parse once a blank line may have arrived, so a peer that
        // trickles bytes cannot make us re-scan its head for every byte.
        let mut scanned: usize = 0;
        loop {
            let from = scanned.saturating_sub(3);
            let window = &self.input[from..];
            if window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n") {
                if let Some(head) = http1::parse_head(&self.input)? {
                    return Ok(head);
                }
            } else if self.input.len() > http1::MAX_HEAD {
                return Err(ParseError::HeadTooLarge.into());
            }
            scanned = self.input.len();
            self.read_more(deadline).await?;
        }
    }

    /// Reads a message body (consuming its framing from `input`).
    async fn read_body(&mut self, head: &Head, deadline: Instant) -> Result<BytesMut, Closed> {
        let framing = head.framing()?;
        let mut reader = BodyReader::new(framing, self.node.options().max_message_size)?;
        let mut body = BytesMut::new();
        if let http1::Framing::Length(n) = framing {
            // Trust a declared length only so far: a lie must not make us
            // allocate the whole limit up front.
            body.reserve((n as usize).min(1 << 20));
        }
        let mut asked_to_continue = false;
        while !reader.advance(&mut self.input, &mut body)? {
            if head.expects_continue() && !asked_to_continue {
                self.output.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                self.flush().await?;
                asked_to_continue = true;
            }
            self.read_more(deadline).await?;
        }
        Ok(body)
    }

    async fn read_more(&mut self, deadline: Instant) -> Result<(), Closed> {
        // Answers to earlier pipelined requests go out before we wait.
        self.flush().await?;
        self.input.reserve(16 * 1024);
        let timeout = self.node.options().request_timeout;
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.input)).await {
            Ok(Ok(0)) => Err(Closed::Eof),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Closed::TimedOut(timeout)),
        }
    }

    /// Closes our side, then reads and discards what the peer still sends
    /// (for at most `request_timeout`): closing with unread input would reset
    /// the connection and could destroy the answer before the peer reads it.
    async fn linger(&mut self) {
        let _ = self.stream.shutdown().await;
        let timeout = self.node.options().request_timeout;
        let mut scratch = vec![0u8; 16 * 1024];
        let drain = async { while matches!(self.stream.read(&mut scratch).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(timeout, drain).await;
    }

    /// Writes queued answers; a peer that does not read them within
    /// `request_timeout` is dropped.
    async fn flush(&mut self) -> Result<(), Closed> {
        if self.output.is_empty() {
            return Ok(());
        }
        let timeout = self.node.options().request_timeout;
        match tokio::time::timeout(timeout, self.stream.write_all(&self.output)).await {
            Ok(result) => result?,
            Err(_) => return Err(Closed::TimedOut(timeout)),
        }
        self.output.clear();
        Ok(())
    }
}
