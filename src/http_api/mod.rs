//! Mesos-style JSON, RecordIO, the v1 HTTP APIs and the HTTP endpoints.

pub mod json;
pub mod recordio;
pub mod master;
