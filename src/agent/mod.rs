//! The mesos-agent: state machine, containerizers, executors, recovery.
//!
//! # Layout
//! - [`core`]: the agent's decisions, a sans-IO state machine;
//! - [`status_update_manager`]: reliable, ordered delivery of task status
//!   updates (used by `core`);
//! - [`paths`], [`state`]: the work_dir layout and checkpoints (Mesos's);
//! - [`flags`]: every Mesos 1.11 agent flag;
//! - [`resources`]: `--resources`, `--attributes` and auto-detection;
//! - [`detector`]: finding the leading master (`--master`);
//! - [`runtime`]: the driver: sockets, timers, the containerizer, files;
//! - [`containerizer`], [`fetcher`], [`executors`]: containers and our
//!   executors (the containerizer contract is `containerizer::Containerizer`).

pub mod containerizer;
pub mod core;
pub mod detector;
pub mod executors;
pub mod fetcher;
pub mod flags;
pub mod paths;
pub mod resources;
pub mod runtime;
pub mod state;
pub mod status_update_manager;
