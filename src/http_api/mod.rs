//! Mesos-style JSON, RecordIO, the v1 HTTP APIs and the HTTP endpoints.

pub mod agent;
pub mod files;
pub mod json;
pub mod master;
pub mod model;
pub mod operator;
pub mod recordio;
