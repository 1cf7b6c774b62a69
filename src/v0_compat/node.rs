//! A [`Node`]: one libprocess instance (one advertised `ip:port`) and the
//! processes living in it.
//!
//! A process (the master, an agent, a scheduler driver) calls
//! [`Node::spawn`] with its id and gets a [`Process`]: a mailbox of
//! [`Event`]s (messages from peers, exits of linked peers, in arrival order,
//! like a libprocess process's event queue) and a cloneable
//! [`ProcessHandle`] that sends and links *as* that process, so sans-IO state
//! machines can hand their effects to it from any thread.
//!
//! Inbound messages reach the mailbox through [`crate::v0_compat::serve`];
//! outbound ones leave through a per-peer writer task (`peer.rs`). A message
//! to a process of this same node is delivered directly, without a socket, as
//! libprocess does for local UPIDs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::peer::{self, Control, PeerHandle};
use super::registry::{Message, RawMessage, WireMessage};
use super::upid::Upid;
use super::wire;

/// Tuning knobs. libprocess has none of these limits (its queues are
/// unbounded and it waits forever); ours bound memory and stalled peers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events a process's mailbox holds before inbound connections to it wait
    /// (TCP backpressure on the senders) and local sends to it fail.
    pub mailbox_capacity: usize,
    /// Messages queued per peer address before [`ProcessHandle::send`] fails
    /// with [`SendError::QueueFull`] (the message is dropped, as if lost).
    pub peer_queue_capacity: usize,
    /// Largest inbound message body; a bigger one is answered
    /// `413 Payload Too Large` and its connection closed.
    pub max_message_size: usize,
    /// From the first byte of an inbound request to its last, and for writing
    /// a response: a peer slower than this is disconnected (slowloris).
    /// Idle time *between* requests is unlimited, as libprocess peers keep
    /// their sockets open for the life of a link.
    pub request_timeout: Duration,
    /// How long an outbound connect may take before the peer counts as
    /// unreachable (exited, for links).
    pub connect_timeout: Duration,
    /// How long [`crate::v0_compat::serve`] waits for open connections after
    /// shutdown is signalled before dropping them.
    pub shutdown_grace: Duration,
    /// `LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH`: reject (400) a message whose
    /// sender UPID's IP is not the IP of the socket it came from.
    pub require_peer_address_ip_match: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mailbox_capacity: 4096,
            peer_queue_capacity: 4096,
            max_message_size: 256 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            require_peer_address_ip_match: false,
        }
    }
}

/// What a process receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A registered message, decoded (see [`Decoding::Typed`]).
    Message {
        /// The sender, from `Libprocess-From` (or the legacy `User-Agent`).
        from: Upid,
        /// The decoded body.
        message: Message,
    },
    /// A message for a process spawned with [`Decoding::Raw`].
    Raw {
        /// The sender.
        from: Upid,
        /// The message name and undecoded body.
        message: RawMessage,
    },
    /// The connection to a linked peer broke or could not be made, or a
    /// linked local process ended. The link is gone: link again to watch anew.
    Exited(Upid),
}

/// How inbound messages are handed to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// Decode through the registry before delivery; a message with an
    /// unknown name or a body that does not parse is logged and dropped,
    /// exactly where a libprocess `ProtobufProcess` would drop it (the
    /// sender still gets `202 Accepted`).
    Typed,
    /// Deliver every message as name + bytes ([`Event::Raw`]).
    Raw,
}

/// Why a process could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// Another live process already has this id.
    #[error("process id '{0}' is already in use")]
    Duplicate(String),
    /// Ids are path segments and UPID parts: non-empty, no `/`, `@`, `%`,
    /// whitespace or control characters.
    #[error("invalid process id '{0}'")]
    InvalidId(String),
}

/// Why a message was not queued. Sending is fire-and-forget as in
/// libprocess: `Ok` means queued, not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue to this peer (or the local mailbox) is full: the peer is not
    /// keeping up. The message was dropped.
    #[error("queue to {0} is full; message dropped")]
    QueueFull(SocketAddr),
    /// The node's runtime is gone (shutting down).
    #[error("the libprocess node has shut down")]
    NodeGone,
}

/// One libprocess instance. Cheap to clone; all clones share one process
/// table and one set of peer connections. Processes and handles refer to
/// the node weakly: it lives while some `Node` clone does ([`serve`] holds
/// one while serving), and once the last goes, sends fail with
/// [`SendError::NodeGone`] and every [`Process::recv`] ends.
///
/// [`serve`]: crate::v0_compat::serve
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    address: SocketAddr,
    pub(crate) options: Options,
    /// Where peer writer tasks are spawned, so sends work from threads
    /// outside the runtime (JNI callbacks in libmesos).
    runtime: tokio::runtime::Handle,
    processes: Mutex<HashMap<String, Entry>>,
    /// One writer task per peer address. Senders look up and enqueue under
    /// this lock, and a writer retires (removes itself) under it only when
    /// its queue is empty, so no message can slip into a retired queue.
    peers: Mutex<Peers>,
    /// Counters behind [`Node::generate_id`].
    ids: Mutex<HashMap<String, u64>>,
    /// Numbers spawned processes, so a dropped process can only ever
    /// unregister itself, never a later one with the same id.
    incarnations: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Peers {
    pub(crate) map: HashMap<SocketAddr, PeerHandle>,
    next_generation: u64,
}

struct Entry {
    /// The only long-lived strong sender: once the entry goes (process
    /// dropped, or node gone), `Process::recv` can end.
    mailbox: mpsc::Sender<Event>,
    incarnation: u64,
    decoding: Decoding,
    /// Mailboxes of local processes linked to this one: each gets
    /// `Exited(this pid)` when it ends.
    linkers: Vec<mpsc::Sender<Event>>,
}

/// Where an inbound message goes, decided before any waiting.
pub(crate) enum Route {
    /// Put this event into this mailbox.
    Deliver(mpsc::Sender<Event>, Event),
    /// The process exists but would drop the message (unknown name,
    /// unparsable body): libprocess still answers 202.
    Dropped,
    /// No such process: libprocess answers 404.
    NoProcess,
}

/// Locks a mutex, recovering from poisoning: the tables stay consistent
/// because no code panics while holding them.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    /// A node advertising `address` (the `ip:port` that goes into every UPID
    /// of its processes). Must be called inside a tokio runtime, whose handle
    /// it keeps for its writer tasks.
    pub fn new(address: SocketAddr, options: Options) -> Node {
        Node {
            inner: Arc::new(Inner {
                address,
                options,
                runtime: tokio::runtime::Handle::current(),
                processes: Mutex::new(HashMap::new()),
                peers: Mutex::new(Peers::default()),
                ids: Mutex::new(HashMap::new()),
                incarnations: AtomicU64::new(0),
            }),
        }
    }

    /// The advertised address.
    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// The options this node was built with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// A fresh id `prefix(N)`, counting per prefix from 1, the way libprocess
    /// names processes (`slave(1)`, `executor(3)`).
    pub fn generate_id(&self, prefix: &str) -> String {
        let mut ids = lock(&self.inner.ids);
        let n = ids.entry(prefix.to_string()).or_insert(0);
        *n += 1;
        format!("{prefix}({n})")
    }

    /// Registers process `id` with typed delivery ([`Decoding::Typed`]).
    pub fn spawn(&self, id: &str) -> Result<Process, SpawnError> {
        self.spawn_with(id, Decoding::Typed)
    }

    /// Registers process `id`; messages to `<id>` on this node's address now
    /// reach the returned [`Process`], until it is dropped.
    pub fn spawn_with(&self, id: &str, decoding: Decoding) -> Result<Process, SpawnError> {
        if !valid_id(id) {
            return Err(SpawnError::InvalidId(id.to_string()));
        }
        let (tx, rx) = mpsc::channel(self.inner.options.mailbox_capacity.max(1));
        let incarnation = self.inner.incarnations.fetch_add(1, Ordering::Relaxed);
        let mailbox = tx.downgrade();
        let mut processes = lock(&self.inner.processes);
        if processes.contains_key(id) {
            return Err(SpawnError::Duplicate(id.to_string()));
        }
        processes.insert(id.to_string(), Entry { mailbox: tx, incarnation, decoding, linkers: Vec::new() });
        drop(processes);
        let handle = ProcessHandle {
            pid: Upid::new(id, self.inner.address),
            mailbox,
            incarnation,
            node: Arc::downgrade(&self.inner),
        };
        Ok(Process { handle, mailbox: rx })
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(|c| c == '/' || c == '@' || c == '%' || c.is_whitespace() || c.is_control())
}

impl Inner {
    /// Finds process `to` and decodes `body` the way it asked for.
    pub(crate) fn route(&self, from: Upid, to: &str, name: &str, body: Bytes) -> Route {
        let (mailbox, decoding) = match lock(&self.processes).get(to) {
            Some(entry) => (entry.mailbox.clone(), entry.decoding),
            None => return Route::NoProcess,
        };
        match decoding {
            Decoding::Raw => {
                let message = RawMessage { name: name.to_string(), body };
                Route::Deliver(mailbox, Event::Raw { from, message })
            }
            Decoding::Typed => match Message::decode(name, &body) {
                Ok(message) => Route::Deliver(mailbox, Event::Message { from, message }),
                Err(e) => {
                    tracing::warn!(%from, to, error = %e, "dropping message");
                    Route::Dropped
                }
            },
        }
    }

    /// The pid `to` ended: forget it and tell its local linkers.
    fn deregister(&self, pid: &Upid, incarnation: u64) {
        let mut processes = lock(&self.processes);
        let ours = processes.get(pid.id()).is_some_and(|e| e.incarnation == incarnation);
        if !ours {
            return;
        }
        let linkers = processes.remove(pid.id()).map(|e| e.linkers).unwrap_or_default();
        drop(processes);
        for linker in linkers {
            self.notify(linker, Event::Exited(pid.clone()));
        }
    }

    /// Delivers an event that must not be lost (an exit) without blocking:
    /// directly if there is room, else from a task that waits for room.
    fn notify(&self, mailbox: mpsc::Sender<Event>, event: Event) {
        match mailbox.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.runtime.spawn(async move {
                    let _ = mailbox.send(event).await;
                });
            }
        }
    }

    /// Runs `f` on the writer of `addr`, starting one if there is none.
    fn with_peer<R>(self: &Arc<Self>, addr: SocketAddr, f: impl FnOnce(&PeerHandle) -> R) -> R {
        let mut peers = lock(&self.peers);
        let peers = &mut *peers;
        let handle = peers.map.entry(addr).or_insert_with(|| {
            peers.next_generation += 1;
            peer::spawn(Arc::downgrade(self), &self.runtime, addr, peers.next_generation)
        });
        f(handle)
    }

    /// Called by a writer with nothing to do: removes it from the table if
    /// its queues are still empty (checked under the table lock, which every
    /// sender holds while enqueueing). Returns whether it may exit.
    pub(crate) fn retire_peer(&self, addr: SocketAddr, generation: u64, idle: impl Fn() -> bool) -> bool {
        let mut peers = lock(&self.peers);
        let mine = peers.map.get(&addr).is_some_and(|h| h.generation == generation);
        if mine && idle() {
            peers.map.remove(&addr);
            return true;
        }
        // A writer that is no longer in the table may always go.
        !mine
    }
}

/// A spawned process: its mailbox, plus the [`ProcessHandle`] to act as it.
/// Dropping it unregisters the id (later messages to it are answered 404)
/// and sends `Exited` to local processes linked to it.
pub struct Process {
    handle: ProcessHandle,
    mailbox: mpsc::Receiver<Event>,
}

impl Process {
    /// This process's UPID (`id@advertised-address`).
    pub fn pid(&self) -> &Upid {
        &self.handle.pid
    }

    /// The next event; `None` once the node is gone (every [`Node`] clone
    /// dropped, e.g. after shutdown) and nothing is left to read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.mailbox.recv().await
    }

    /// The handle for sending and linking as this process.
    pub fn handle(&self) -> &ProcessHandle {
        &self.handle
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(node) = self.handle.node.upgrade() {
            node.deregister(&self.handle.pid, self.handle.incarnation);
        }
    }
}

/// Sends and links as one process. Cheap to clone, usable from any thread;
/// nothing here blocks or awaits.
#[derive(Clone)]
pub struct ProcessHandle {
    pid: Upid,
    /// The process's own mailbox, for exits of its links. Weak, so that
    /// handles do not keep a mailbox open after its node is gone.
    mailbox: mpsc::WeakSender<Event>,
    incarnation: u64,
    node: Weak<Inner>,
}

impl ProcessHandle {
    /// The UPID messages are sent from.
    pub fn pid(&self) -> &Upid {
        &self.pid
    }

    /// Queues `message` for `to`. Messages from one process to one peer
    /// arrive in the order sent, over one persistent connection per peer
    /// address. A message to a process of this node is delivered directly.
    pub fn send<M: WireMessage + ?Sized>(&self, to: &Upid, message: &M) -> Result<(), SendError> {
        let node = self.node.upgrade().ok_or(SendError::NodeGone)?;
        if to.addr() == node.address {
            return self.send_local(&node, to, message);
        }
        let frame = wire::encode_message(&self.pid, to, message);
        node.with_peer(to.addr(), |peer| peer.queue.try_send(frame)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                tracing::warn!(to = %to, name = message.message_name(), "peer queue full; dropping message");
                SendError::QueueFull(to.addr())
            }
            // A writer only closes its queue after leaving the table, and we
            // enqueue under the table lock, so this means the runtime died.
            mpsc::error::TrySendError::Closed(_) => SendError::NodeGone,
        })
    }

    fn send_local<M: WireMessage + ?Sized>(&self, node: &Inner, to: &Upid, message: &M) -> Result<(), SendError> {
        let mut body = Vec::with_capacity(message.body_len());
        message.write_body(&mut body);
        match node.route(self.pid.clone(), to.id(), message.message_name(), body.into()) {
            Route::Deliver(mailbox, event) => match mailbox.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => Err(SendError::QueueFull(to.addr())),
            },
            // libprocess drops a local message to a missing process silently.
            Route::NoProcess => {
                tracing::debug!(to = %to, "no local process; dropping message");
                Ok(())
            }
            Route::Dropped => Ok(()),
        }
    }

    /// Watches `to`: this process gets [`Event::Exited`]`(to)` once, when the
    /// connection to `to`'s address breaks or cannot be made (also when no
    /// message was ever sent: linking connects). For a local `to`, when that
    /// process ends, or at once if it does not exist. As in libprocess, a
    /// live address with no such process id does *not* count as exited.
    pub fn link(&self, to: &Upid) {
        self.link_with(to, false);
    }

    /// Like [`link`](Self::link), but first replaces any existing connection
    /// to `to`'s address with a new one (libprocess's `RECONNECT`), without
    /// an exit for the old one. Use it when a peer may have restarted behind
    /// a half-open socket (e.g. a framework re-registering).
    pub fn relink(&self, to: &Upid) {
        self.link_with(to, true);
    }

    fn link_with(&self, to: &Upid, reconnect: bool) {
        let (Some(node), Some(mailbox)) = (self.node.upgrade(), self.mailbox.upgrade()) else { return };
        if to.addr() == node.address {
            let mut processes = lock(&node.processes);
            match processes.get_mut(to.id()) {
                Some(entry) => entry.linkers.push(mailbox),
                None => {
                    drop(processes);
                    node.notify(mailbox, Event::Exited(to.clone()));
                }
            }
            return;
        }
        let control = Control::Link { linkee: to.clone(), linker: mailbox, reconnect };
        node.with_peer(to.addr(), |peer| {
            // Unbounded: links are few and must not be lost to a full queue.
            let _ = peer.control.send(control);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::internal as mi;

    fn addr() -> SocketAddr {
        "127.0.0.1:5050".parse().unwrap()
    }

    #[tokio::test]
    async fn ids_are_validated_unique_and_reusable_after_drop() {
        let node = Node::new(addr(), Options::default());
        assert!(matches!(node.spawn(""), Err(SpawnError::InvalidId(_))));
        assert!(matches!(node.spawn("a/b"), Err(SpawnError::InvalidId(_))));
        assert!(matches!(node.spawn("a b"), Err(SpawnError::InvalidId(_))));
        let p = node.spawn("master").unwrap();
        assert_eq!(p.pid().to_string(), "master@127.0.0.1:5050");
        assert!(matches!(node.spawn("master"), Err(SpawnError::Duplicate(_))));
        drop(p);
        assert!(node.spawn("master").is_ok());
        assert_eq!(node.generate_id("slave"), "slave(1)");
        assert_eq!(node.generate_id("slave"), "slave(2)");
        assert_eq!(node.generate_id("executor"), "executor(1)");
    }

    #[tokio::test]
    async fn local_messages_are_delivered_typed_or_raw_without_a_socket() {
        let node = Node::new(addr(), Options::default());
        let a = node.spawn("a").unwrap();
        let mut typed = node.spawn("typed").unwrap();
        let mut raw = node.spawn_with("raw", Decoding::Raw).unwrap();
        let msg = mi::PingSlaveMessage { connected: true };
        a.handle().send(typed.pid(), &msg).unwrap();
        a.handle().send(raw.pid(), &msg).unwrap();
        // Unknown names are dropped before a typed process sees them...
        let junk = RawMessage { name: "junk".into(), body: Bytes::from_static(b"x") };
        a.handle().send(typed.pid(), &junk).unwrap();
        a.handle().send(typed.pid(), &msg).unwrap();
        assert_eq!(typed.recv().await, Some(Event::Message { from: a.pid().clone(), message: msg.into() }));
        assert_eq!(typed.recv().await, Some(Event::Message { from: a.pid().clone(), message: msg.into() }));
        // ...but reach a raw one as they are.
        match raw.recv().await {
            Some(Event::Raw { from, message }) => {
                assert_eq!(&from, a.pid());
                assert_eq!(message.name, "mesos.internal.PingSlaveMessage");
                assert_eq!(Message::decode(&message.name, &message.body).unwrap(), msg.into());
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn local_links_fire_on_drop_and_at_once_for_missing_processes() {
        let node = Node::new(addr(), Options::default());
        let mut watcher = node.spawn("watcher").unwrap();
        let target = node.spawn("target").unwrap();
        let target_pid = target.pid().clone();
        watcher.handle().link(&target_pid);
        drop(target);
        assert_eq!(watcher.recv().await, Some(Event::Exited(target_pid.clone())));
        let ghost = Upid::new("ghost", addr());
        watcher.handle().link(&ghost);
        assert_eq!(watcher.recv().await, Some(Event::Exited(ghost)));
    }

    #[tokio::test]
    async fn recv_ends_once_the_node_is_gone() {
        let node = Node::new(addr(), Options::default());
        let mut process = node.spawn("p").unwrap();
        let handle = process.handle().clone();
        drop(node);
        assert_eq!(process.recv().await, None);
        // A handle outliving its node fails cleanly.
        assert_eq!(handle.send(process.pid(), &mi::PongSlaveMessage {}), Err(SendError::NodeGone));
        handle.link(&Upid::new("x", addr()));
    }

    #[test]
    fn events_stay_small_enough_to_queue_by_the_thousand() {
        // Unboxed, the largest message made this 7 KiB per mailbox slot.
        assert!(std::mem::size_of::<Event>() <= 192, "{}", std::mem::size_of::<Event>());
        assert_eq!(std::mem::size_of::<Message>(), 16);
    }

    #[tokio::test]
    async fn a_full_local_mailbox_is_reported() {
        let options = Options { mailbox_capacity: 1, ..Options::default() };
        let node = Node::new(addr(), options);
        let a = node.spawn("a").unwrap();
        let b = node.spawn("b").unwrap();
        let msg = mi::PongSlaveMessage {};
        a.handle().send(b.pid(), &msg).unwrap();
        assert_eq!(a.handle().send(b.pid(), &msg), Err(SendError::QueueFull(addr())));
    }
}
