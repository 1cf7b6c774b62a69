//! mesos-rs: the Apache Mesos master, agent and drivers, in Rust.
//!
//! # Layout
//! - [`proto`]: Mesos 1.11's protobuf types (the `mesos-proto` crate).
//! - [`v0_compat`]: the libprocess wire (UPIDs, message server and sender, links).
//! - [`http_api`]: Mesos-style JSON, RecordIO, the v1 APIs and HTTP endpoints.
//! - [`common`]: what master, agent and drivers share (resources, flags, logging).
//! - [`master`], [`agent`]: sans-IO state machines plus the I/O loops that drive them.
//! - [`driver`]: the scheduler and executor drivers (a framework's side of v0).
//! - [`zookeeper`]: Mesos's ZooKeeper layout: URLs, the master contender and the
//!   master detector.
//!
//! State machines take `(now, event)` and return effects; they never touch a
//! socket, a clock or an unseeded RNG. See `../shared/docs/architecture.md`.

pub use mesos_proto as proto;

pub mod agent;
pub mod common;
pub mod driver;
pub mod http_api;
pub mod master;
pub mod v0_compat;
pub mod zookeeper;
