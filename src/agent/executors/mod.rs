//! Our executors: `mesos-executor` (the command executor, one task) and
//! `mesos-default-executor` (task groups), both speaking the v1 executor
//! HTTP API to the agent.
//!
//! # Layout
//! - [`env`](mod@env): the environment contract with the agent (`MESOS_*`);
//! - [`client`]: the v1 executor API client (SUBSCRIBE stream in RecordIO,
//!   calls, reconnection and resubscription across agent restarts);
//! - [`core`]: the executors' decisions as a state machine
//!   (`handle(now, input) -> effects`), with the differences between the two
//!   executors in one table;
//! - [`checks`]: health checks and checks (their rules, and the probes);
//! - [`runner`]: the I/O loop driving `core` (processes, timers, probes).
//!
//! The binaries (`src/bin/mesos-executor.rs`, `mesos-default-executor.rs`)
//! only parse flags and call [`runner::run`].

pub mod checks;
pub mod client;
pub mod core;
pub mod docker;
pub mod env;
pub mod flags;
pub mod runner;

use prost::Message;

/// Converts between the v1 and v0 forms of a message (the same wire
/// format, as Mesos's `evolve`/`devolve`); fields unknown to the target
/// are dropped.
pub fn devolve<A: Message, B: Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).unwrap_or_default()
}
