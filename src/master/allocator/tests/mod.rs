//! Allocator behaviour, each test naming the Mesos behaviour it checks.

mod harness;

mod fairness;
mod filters;
mod lifecycle;
mod quota;
mod reservations;
