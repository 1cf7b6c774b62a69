//! The Mesos containerizer.

pub mod cgroups;
pub mod procfs;
