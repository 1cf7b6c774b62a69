//! A connection handed over to hyper: ordinary HTTP for the caller's
//! [`axum::Router`] (Mesos endpoints, the v1 APIs with their long-lived
//! streaming responses), plus any libprocess message that still arrives on
//! it, answered exactly as on the message path.
//!
//! HTTP clients get hyper's usual protection: a request head must arrive
//! within `request_timeout`, idle keep-alive included (HTTP clients reconnect;
//! only libprocess peers treat a close as a death, and they never get here
//! unless they mix in ordinary requests).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

use super::node::Node;
use super::server;
use super::wire::{self, Answer, Classified};

/// Serves the rest of a connection with hyper; `prefix` holds bytes already
/// read (the request that caused the hand-over, and anything after it).
pub(crate) async fn run(
    stream: TcpStream,
    prefix: Bytes,
    peer: SocketAddr,
    node: Node,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = node.options().request_timeout;
    let service = hyper::service::service_fn(move |request| {
        let node = node.clone();
        let router = router.clone();
        async move { Ok::<_, Infallible>(handle(request, peer, node, router).await) }
    });
    let io = TokioIo::new(Rewind { prefix, inner: stream });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.changed() => {
            // Finish the response in flight, take no new request.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

async fn handle(
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    node: Node,
    router: axum::Router,
) -> hyper::Response<axum::body::Body> {
    let headers = request.headers();
    let classified = wire::classify(
        request.method().as_str(),
        &request.uri().to_string(),
        headers.get("libprocess-from").map(|v| v.as_bytes()),
        headers.get(::http::header::USER_AGENT).map(|v| v.as_bytes()),
    );
    let message = match classified {
        Classified::Http => return router.oneshot(request).await.unwrap_or_else(|never| match never {}),
        Classified::Refused(answer) => return respond(answer, false),
        Classified::Message(message) => message,
    };
    let options = node.options();
    let body = Limited::new(request.into_body(), options.max_message_size).collect();
    let body = match tokio::time::timeout(options.request_timeout, body).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            tracing::warn!(%peer, "message body too large; closing connection");
            let max = options.max_message_size;
            let answer =
                Answer::new(::http::StatusCode::PAYLOAD_TOO_LARGE, format!("Message body larger than {max} bytes"));
            return respond(answer, true);
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "failed to read message body");
            return respond(Answer::new(::http::StatusCode::BAD_REQUEST, "Failed to read body"), true);
        }
        Err(_) => {
            tracing::warn!(%peer, "message body not received in time; closing connection");
            return respond(Answer::new(::http::StatusCode::REQUEST_TIMEOUT, ""), true);
        }
    };
    respond(server::deliver(&node, message, body, peer).await, false)
}

fn respond(answer: Answer, close: bool) -> hyper::Response<axum::body::Body> {
    let mut response = hyper::Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = answer.status;
    if close {
        response.headers_mut().insert(::http::header::CONNECTION, ::http::HeaderValue::from_static("close"));
    }
    response
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
