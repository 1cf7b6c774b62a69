//! Shared by master, agent and drivers: resources, flags, logging, time.

pub mod authentication;
pub mod flags;
pub mod logging;
pub mod resource_quantities;
pub mod resources;
pub mod roles;
pub mod task_states;
pub mod units;
pub mod values;
