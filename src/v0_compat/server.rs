//! The inbound server: one listener for libprocess messages and ordinary HTTP,
//! as libprocess multiplexes both on its one port.
//!
//! Each accepted connection starts in `connection.rs`, a small HTTP/1.x reader
//! of our own that handles libprocess messages; the first request that is not
//! a message hands the connection (and the bytes already read) to hyper and
//! the caller's [`axum::Router`] for the rest of its life (`http_conn.rs`).
//!
//! Why not hyper for everything: libprocess peers open one connection and
//! keep it idle for as long as they are linked to us (an agent's socket to the
//! master lives for days), and they read a closed socket as "the master
//! exited". hyper's only defence against slowloris, its header read timeout,
//! also runs while a keep-alive connection sits idle between requests, so it
//! would cut exactly those sockets; without it, a peer trickling a request
//! head would hold its connection forever. Our reader waits without limit
//! between requests, and bounds a request from its first byte to its last
//! ([`super::Options::request_timeout`]). It also reproduces libprocess's
//! exact behaviour: a malformed request closes the connection with no
//! response, and message answers (`202`, `404`, ...) are written in order.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection;
use super::node::{Node, Route};
use super::upid::Upid;
use super::wire::{Answer, MessageHead};

/// Serves `listener` until `shutdown` completes: libprocess messages go to
/// `node`'s processes, every other request to `router`. On shutdown it stops
/// accepting, lets open connections finish the request in hand (HTTP
/// connections finish in-flight responses), and after
/// [`super::Options::shutdown_grace`] drops whatever is still open (such as
/// long-lived streaming responses).
pub async fn serve(listener: TcpListener, node: Node, router: axum::Router, shutdown: impl Future<Output = ()>) {
    // Connection tasks watch this; it flips to true once, at shutdown.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::run(stream, peer, node.clone(), router.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // E.g. EMFILE: keep serving the connections we have, and
                    // retry shortly rather than spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(node.options().shutdown_grace, drain).await.is_err() {
        tracing::info!(open = connections.len(), "shutdown grace over; closing remaining connections");
    }
    connections.shutdown().await;
}

/// Delivers one inbound message and says what libprocess would answer.
pub(crate) async fn deliver(node: &Node, head: MessageHead, body: Bytes, client: SocketAddr) -> Answer {
    let from = match Upid::resolve(&head.from).await {
        Ok(from) => from,
        Err(e) => {
            tracing::warn!(%client, error = %e, "message with an unusable sender");
            return Answer::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to determine sender from request headers: {e}"),
            );
        }
    };
    if node.options().require_peer_address_ip_match && from.addr().ip() != client.ip() {
        tracing::warn!(%from, %client, "sender UPID does not match the peer address");
        return Answer::new(
            http::StatusCode::BAD_REQUEST,
            format!("UPID IP address validation failed: Message from {from} was sent from IP {client}"),
        );
    }
    let to = head.to;
    match node.inner().route(from, &to, &head.name, body) {
        Route::Deliver(mailbox, event) => match mailbox.send(event).await {
            Ok(()) => Answer::accepted(),
            // The process ended while we were routing.
            Err(_) => Answer::new(http::StatusCode::NOT_FOUND, ""),
        },
        Route::Dropped => Answer::accepted(),
        Route::NoProcess => {
            tracing::debug!(%client, to, name = head.name, "message for an unknown process");
            Answer::new(http::StatusCode::NOT_FOUND, "")
        }
    }
}
