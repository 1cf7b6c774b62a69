//! The mesos-agent: state machine, containerizers, executors, recovery.

pub mod containerizer;
pub mod executors;
pub mod fetcher;
