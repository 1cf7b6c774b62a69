//! The outbound side: one writer task per peer address, owning the one
//! persistent connection to it, the queue of encoded messages, and the links
//! that watch it.
//!
//! Semantics follow libprocess's `SocketManager`:
//! - Messages to one address go out in the order queued, over one socket.
//!   Whatever the peer writes back (libprocess's `202`s, compactor's and our
//!   own responses) is read and discarded by a companion reader task, which
//!   is also how a closed or reset connection is noticed.
//! - When the connection breaks, or cannot be made, queued messages are
//!   dropped (libprocess deletes the socket's pending encoders), every link
//!   to any process at that address gets one `Exited`, and the links are
//!   gone. The next send or link connects afresh.
//! - Linking connects even with nothing to send, so linking to an address
//!   nobody listens on yields `Exited` as soon as the connect fails.
//!   A relink (`RECONNECT`) swaps in a new connection without exits for the
//!   old one.
//! - The queue is bounded ([`super::Options::peer_queue_capacity`]); when it
//!   is full, `send` fails and the message is dropped, instead of growing
//!   without limit behind a peer that has stopped reading.
//!
//! A writer with no connection, no links and an empty queue retires (see
//! [`Inner::retire_peer`]), so peers that went away cost nothing.

use std::io;
use std::net::SocketAddr;
use std::sync::Weak;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::node::{Event, Inner};
use super::upid::Upid;

/// Requests from process handles to a writer that are not messages.
pub(crate) enum Control {
    /// Deliver `Exited(linkee)` to `linker` when this address goes away.
    Link { linkee: Upid, linker: mpsc::Sender<Event>, reconnect: bool },
}

/// The senders' side of a writer task.
pub(crate) struct PeerHandle {
    /// Encoded HTTP requests, in order.
    pub(crate) queue: mpsc::Sender<Vec<u8>>,
    /// Links; unbounded so a link is never lost to a full message queue.
    pub(crate) control: mpsc::UnboundedSender<Control>,
    /// Distinguishes this writer from a later one for the same address.
    pub(crate) generation: u64,
}

/// Starts the writer for `addr`.
pub(crate) fn spawn(
    node: Weak<Inner>,
    runtime: &tokio::runtime::Handle,
    addr: SocketAddr,
    generation: u64,
) -> PeerHandle {
    let (capacity, connect_timeout) = match node.upgrade() {
        Some(inner) => (inner.options.peer_queue_capacity.max(1), inner.options.connect_timeout),
        None => (1, std::time::Duration::ZERO),
    };
    let (queue_tx, queue) = mpsc::channel(capacity);
    let (control_tx, control) = mpsc::unbounded_channel();
    let writer = Writer { addr, node, generation, queue, control, links: Vec::new(), conn: None, connect_timeout };
    runtime.spawn(writer.run());
    PeerHandle { queue: queue_tx, control: control_tx, generation }
}

struct Link {
    linkee: Upid,
    linker: mpsc::Sender<Event>,
}

struct Connection {
    writer: BufWriter<OwnedWriteHalf>,
    /// Fires (with a reason) when the reader sees EOF or an error.
    closed: oneshot::Receiver<String>,
    /// The reader task; aborted when the connection is dropped.
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Writer {
    addr: SocketAddr,
    node: Weak<Inner>,
    generation: u64,
    queue: mpsc::Receiver<Vec<u8>>,
    control: mpsc::UnboundedReceiver<Control>,
    links: Vec<Link>,
    conn: Option<Connection>,
    connect_timeout: std::time::Duration,
}

enum Next {
    Control(Control),
    Send(Vec<u8>),
    Broken(String),
    /// The node is gone: every handle to this writer was dropped.
    Stop,
}

/// Most messages written per flush: bounds how long a burst keeps the
/// writer from noticing links and breakage.
const BATCH: usize = 256;

impl Writer {
    async fn run(mut self) {
        loop {
            if self.conn.is_none() && self.links.is_empty() && self.retire() {
                tracing::debug!(peer = %self.addr, "idle peer writer retired");
                return;
            }
            match self.next().await {
                Next::Stop => return,
                Next::Control(Control::Link { linkee, linker, reconnect }) => {
                    if !self.links.iter().any(|l| l.linkee == linkee && l.linker.same_channel(&linker)) {
                        self.links.push(Link { linkee, linker });
                    }
                    if reconnect {
                        // Replaced, not broken: no exits for the old socket.
                        self.conn = None;
                    }
                    if self.conn.is_none() {
                        self.connect().await;
                    }
                }
                Next::Send(frame) => {
                    if self.conn.is_none() && !self.connect().await {
                        // `connect` already dropped the queue; this one too.
                        continue;
                    }
                    self.write(frame).await;
                }
                Next::Broken(reason) => self.fail(reason).await,
            }
        }
    }

    /// Leaves the peer table if nothing is queued; true if this task may end.
    fn retire(&self) -> bool {
        let Some(node) = self.node.upgrade() else { return true };
        node.retire_peer(self.addr, self.generation, || self.queue.is_empty() && self.control.is_empty())
    }

    async fn next(&mut self) -> Next {
        let conn = &mut self.conn;
        let closed = async move {
            match conn.as_mut() {
                Some(conn) => (&mut conn.closed).await.unwrap_or_else(|_| "reader ended".to_string()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            c = self.control.recv() => c.map_or(Next::Stop, Next::Control),
            reason = closed => Next::Broken(reason),
            m = self.queue.recv() => m.map_or(Next::Stop, Next::Send),
        }
    }

    /// Opens the connection; on failure runs [`Self::fail`] and returns false.
    async fn connect(&mut self) -> bool {
        let attempt = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr)).await;
        let stream = match attempt {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                self.fail(format!("connect: {e}")).await;
                return false;
            }
            Err(_) => {
                self.fail(format!("connect: timed out after {:?}", self.connect_timeout)).await;
                return false;
            }
        };
        // As libprocess: no Nagle delay for small pipelined messages.
        let _ = stream.set_nodelay(true);
        let (mut read, write) = stream.into_split();
        let (closed_tx, closed) = oneshot::channel();
        let reader = tokio::spawn(async move {
            let mut scratch = vec![0u8; 16 * 1024];
            let reason = loop {
                match read.read(&mut scratch).await {
                    Ok(0) => break "closed by peer".to_string(),
                    Ok(_) => continue,
                    Err(e) => break format!("recv: {e}"),
                }
            };
            let _ = closed_tx.send(reason);
        });
        tracing::debug!(peer = %self.addr, "connected");
        self.conn = Some(Connection { writer: BufWriter::with_capacity(64 * 1024, write), closed, reader });
        true
    }

    /// Writes `first` and whatever else is queued (up to [`BATCH`]), then
    /// flushes. Racing the reader: a peer that closes mid-write is noticed.
    async fn write(&mut self, first: Vec<u8>) {
        let Some(conn) = self.conn.as_mut() else { return };
        let outcome = tokio::select! {
            r = write_batch(&mut conn.writer, first, &mut self.queue) => r.map_err(|e| format!("send: {e}")),
            reason = &mut conn.closed => Err(reason.unwrap_or_else(|_| "reader ended".to_string())),
        };
        if let Err(reason) = outcome {
            self.fail(reason).await;
        }
    }

    /// The connection is gone: drop it and what was queued for it, and tell
    /// every linker that its linkee at this address exited.
    async fn fail(&mut self, reason: String) {
        self.conn = None;
        let mut dropped = 0;
        while self.queue.try_recv().is_ok() {
            dropped += 1;
        }
        tracing::warn!(peer = %self.addr, %reason, dropped, links = self.links.len(), "connection to peer lost");
        for link in std::mem::take(&mut self.links) {
            // Waits for room: an exit must not be lost to a full mailbox. A
            // linker that has ended is skipped (its mailbox is closed).
            let _ = link.linker.send(Event::Exited(link.linkee)).await;
        }
    }
}

async fn write_batch(
    writer: &mut BufWriter<OwnedWriteHalf>,
    first: Vec<u8>,
    queue: &mut mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    writer.write_all(&first).await?;
    for _ in 1..BATCH {
        match queue.try_recv() {
            Ok(frame) => writer.write_all(&frame).await?,
            Err(_) => break,
        }
    }
    writer.flush().await
}
