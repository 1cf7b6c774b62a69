//! The libprocess wire: UPIDs, the message server and sender, links and exits.
//!
//! Mesos's daemons and its C++/Java/Python bindings talk "v0": each actor is a
//! libprocess process addressed by a UPID (`id@ip:port`), and a message is an
//! HTTP `POST /<to-id>/<message-name>` whose body is a protobuf and whose
//! sender rides in the `Libprocess-From` header. This module speaks that
//! protocol, and decides nothing: it turns sockets into per-process
//! [`Event`]s and sends into bytes on the right connection.
//!
//! # Layout
//! - [`upid`]: [`Upid`] parse/format (IPv4, IPv6, hostnames).
//! - [`config`]: `LIBPROCESS_IP`/`PORT`/`ADVERTISE_IP`/`ADVERTISE_PORT` as [`Config`].
//! - [`registry`]: message name <-> prost type ([`Message`], [`MessageType`]).
//! - `wire`: libprocess's framing without I/O (encoder, message recognition, answers).
//! - `http1`: a minimal HTTP/1.x request reader without I/O.
//! - `node`: [`Node`], its process table, [`Process`] mailboxes and [`ProcessHandle`]s.
//! - `server`, `connection`, `http_conn`: the listener; message connections;
//!   the hand-over of ordinary HTTP to an [`axum::Router`].
//! - `peer`: one writer task per peer address (ordering, reconnects, links).
//!
//! # Use
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mesos_rs::v0_compat::{serve, Config, Event, Node};
//! let config = Config::from_env()?;
//! let (listener, advertised) = config.bind().await?;
//! let node = Node::new(advertised, config.options());
//! let mut master = node.spawn("master")?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! tokio::spawn(serve(listener, node.clone(), axum::Router::new(), async { let _ = stopped.await; }));
//! while let Some(event) = master.recv().await {
//!     match event {
//!         Event::Message { from, message } => { /* feed the state machine */ let _ = (from, message); }
//!         Event::Exited(pid) => { /* a linked peer is gone */ let _ = pid; }
//!         Event::Raw { .. } => {}
//!     }
//! }
//! let _ = stop.send(());
//! # Ok(()) }
//! ```
//! Replies go out through [`ProcessHandle::send`] (`master.handle().send(&to, &msg)`),
//! which never blocks and may be called from any thread.

pub mod config;
mod connection;
mod http1;
mod http_conn;
mod node;
mod peer;
pub mod registry;
mod server;
pub mod upid;
mod wire;

pub use config::{Config, ConfigError};
pub use node::{Decoding, Event, Node, Options, Process, ProcessHandle, SendError, SpawnError};
pub use registry::{Message, MessageType, RawMessage, RegistryError, WireMessage};
pub use server::serve;
pub use upid::{Upid, UpidError};
pub use wire::encode_message;
