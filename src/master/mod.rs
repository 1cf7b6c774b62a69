//! The mesos-master: a sans-IO state machine, its allocator and registrar,
//! and the I/O loop that drives them.
//!
//! # Layout
//! - [`event`]: [`Event`]s in, [`Effect`]s out, [`Timer`]s, [`Now`].
//! - `handle.rs`: [`Master::new`], [`Master::handle`], leadership, registry
//!   recovery, timers and registry completions.
//! - `frameworks.rs`: subscription (v0 messages are turned into
//!   `scheduler::Call`s first, as Mesos does), failover, teardown, update.
//! - `agents.rs`: (re)registration, health checks, unreachable/removed agents.
//! - `offers.rs`: the allocator's plan into offers, DECLINE, ACCEPT and its
//!   operations, rescinds, revive/suppress.
//! - `http_schedulers.rs`: the v1 scheduler API's door (Mesos's
//!   `Http::scheduler` checks after parsing, stream bookkeeping).
//! - `tasks.rs`: status updates and acknowledgements, kill, reconciliation,
//!   framework messages both ways, executors.
//! - [`state`]: the books (frameworks, agents, tasks, offers) and shared
//!   bookkeeping; [`validation`]: Mesos's validation and its messages.
//! - [`registry`]: registry operations; [`store`]: where the registry lives
//!   ([`zk_store`]: in ZooKeeper, for masters run with `--zk`).
//! - [`metrics`], [`config`], [`flags`] (the `mesos-master` flags).
//! - [`runtime`]: the tokio driver (libprocess node, timers, registry store,
//!   HTTP queries). [`sim`]: a deterministic whole-cluster simulation.
//! - [`allocator`]: the hierarchical DRF allocator (pure).
//!
//! # Driving the master
//! ```
//! use mesos_rs::master::{Config, Event, Master, Now};
//! use std::time::Duration;
//! let now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
//! let mut master = Master::new(Config::default(), now);
//! // A standalone master is the leader from the start; it then asks for the registry.
//! let info = master.info().clone();
//! let effects = master.handle(now, Event::Detected(Some(info)));
//! assert!(matches!(effects[0], mesos_rs::master::Effect::RecoverRegistry { .. }));
//! ```
//! Every effect must be carried out in order; replies come back as events
//! (`RegistryRecovered`, `RegistryApplied`, `Timer`, messages). Send
//! [`Event::Idle`] whenever the input queues are drained: it runs the
//! allocation the preceding events asked for, batched.

mod agents;
pub mod allocator;
pub mod config;
pub mod event;
pub mod flags;
mod frameworks;
pub mod ha;
mod handle;
mod http_schedulers;
pub mod maintenance;
pub mod metrics;
mod offers;
pub mod operator;
pub mod registry;
pub mod runtime;
pub mod sim;
pub mod state;
pub mod store;
mod tasks;
pub mod validation;
pub mod zk_store;

pub use config::{Config, MESOS_VERSION};
pub use event::{Effect, Event, HttpAnswer, Now, SchedulerConn, Timer};
pub use frameworks::EMPTY_UPID;
pub use registry::RegistryOp;
pub use state::Master;
