//! The mesos-master: state machine, allocator, registrar and their I/O loops.

pub mod allocator;
