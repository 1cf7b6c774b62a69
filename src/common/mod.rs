//! Shared by master, agent and drivers: resources, flags, logging, time.

pub mod flags;
pub mod logging;
pub mod units;
