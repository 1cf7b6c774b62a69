//! Mesos-style JSON, RecordIO, the v1 HTTP APIs and the HTTP endpoints.

pub mod json;
pub mod master;
pub mod recordio;
