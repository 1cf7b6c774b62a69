//! mesos-rs: the Apache Mesos master, agent and drivers in Rust.
pub use mesos_proto as proto;
