//! The agent's HTTP endpoints, served on the libprocess port next to the v0
//! messages: `/state`, `/flags`, `/health`, `/version`, `/metrics/snapshot`,
//! `/monitor/statistics`, `/files/*` and `/api/v1/executor`.
//!
//! As libprocess routes them, each is reachable as `/<endpoint>` and as
//! `/slave(1)/<endpoint>` (the agent is libprocess's default process), and
//! with a `.json` suffix. `jsonp` is honoured where Mesos honours it.
//!
//! # Layout
//! - this file: the dispatch, and the small endpoints;
//! - [`state`]: the `/state` document and the `slave/*` metrics;
//! - [`model`]: Mesos's JSON shapes (resources, tasks, ...);
//! - [`executor`]: the v1 executor API server.

pub mod executor;
pub mod model;
pub mod operator;
pub mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use futures::future::BoxFuture;
use futures::FutureExt;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::agent::containerizer::Containerizer;
use crate::agent::core::{Agent, Time, MESOS_VERSION};
use crate::agent::paths;
use crate::agent::runtime::{AgentHandle, Clock};
use crate::http_api::files::{json_response, query_pairs, text_response, Files, Mounts};
use crate::http_api::json as pbjson;
use crate::proto::mesos::ContainerId;

/// The virtual path of the agent's log (`AGENT_LOG_VIRTUAL_PATH`).
pub const LOG_VIRTUAL_PATH: &str = "/slave/log";

/// What the endpoints need.
#[derive(Clone)]
pub struct AgentHttp {
    pub handle: AgentHandle,
    pub containerizer: Arc<dyn Containerizer>,
    pub clock: Clock,
    /// The libprocess id (`slave(1)`).
    pub id: String,
    pub context: Arc<state::StateContext>,
    /// The log file served at `/slave/log`.
    pub log_file: Option<PathBuf>,
    pub work_dir: PathBuf,
    /// The running logger (GET/SET_LOGGING_LEVEL).
    pub logging: Option<Arc<crate::common::logging::Logging>>,
}

/// The agent's sandboxes (and log) as `/files` mounts.
struct AgentMounts {
    handle: AgentHandle,
    log_file: Option<PathBuf>,
    work_dir: PathBuf,
}

impl Mounts for AgentMounts {
    fn mounts(&self) -> BoxFuture<'_, BTreeMap<String, PathBuf>> {
        async move {
            let work_dir = self.work_dir.clone();
            let sandboxes = self
                .handle
                .query(move |agent: &Agent| {
                    let agent_id = agent.info().id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
                    (agent_id, agent.sandboxes())
                })
                .await;
            let mut mounts = BTreeMap::new();
            if let Some(log) = &self.log_file {
                if let Ok(real) = std::fs::canonicalize(log) {
                    mounts.insert(LOG_VIRTUAL_PATH.to_string(), real);
                }
            }
            if let Some((agent_id, sandboxes)) = sandboxes {
                for (framework, executor, directory, _live) in sandboxes {
                    // Only directories that exist can be mounted (Mesos
                    // attaches the realpath).
                    let Ok(real) = std::fs::canonicalize(&directory) else { continue };
                    mounts.insert(directory.display().to_string(), real.clone());
                    let latest = paths::latest_run_path(&work_dir, &agent_id, &framework, &executor);
                    mounts.insert(latest.display().to_string(), real.clone());
                    mounts.insert(paths::executor_virtual_path(&framework, &executor), real);
                }
            }
            mounts
        }
        .boxed()
    }
}

impl AgentHttp {
    /// The router: everything goes through [`AgentHttp::dispatch`].
    pub fn router(self) -> axum::Router {
        let this = Arc::new(self);
        axum::Router::new().fallback(move |request: Request<Body>| {
            let this = this.clone();
            async move { this.dispatch(request).await }
        })
    }

    fn files(&self) -> Files {
        Files::new(Arc::new(AgentMounts {
            handle: self.handle.clone(),
            log_file: self.log_file.clone(),
            work_dir: self.work_dir.clone(),
        }))
    }

    /// The endpoint a path names: without the `/slave(1)` prefix and the
    /// `.json` suffix.
    fn endpoint(&self, path: &str) -> String {
        let prefix = format!("/{}", self.id);
        let path = path.strip_prefix(&prefix).filter(|p| p.is_empty() || p.starts_with('/')).unwrap_or(path);
        let path = path.strip_suffix(".json").unwrap_or(path);
        path.to_string()
    }

    pub async fn dispatch(&self, request: Request<Body>) -> Response<Body> {
        let endpoint = self.endpoint(request.uri().path());
        let query = request.uri().query().map(str::to_string);
        let params = query_pairs(query.as_deref());
        let jsonp = params.get("jsonp").cloned();
        let jsonp = jsonp.as_deref();
        match endpoint.as_str() {
            "/api/v1/executor" => executor::serve(&self.handle, request).await,
            "/state" => self.state(jsonp).await,
            "/flags" => json_response(&json!({ "flags": self.context.flags }), jsonp),
            "/health" => text_response(StatusCode::OK, ""),
            "/version" => json_response(&self.version(), jsonp),
            "/metrics/snapshot" => self.metrics(jsonp).await,
            "/monitor/statistics" => self.statistics(jsonp).await,
            "/api/v1" => operator::serve(self, request).await,
            _ => match endpoint.strip_prefix("/files/") {
                Some(name) => match self.files().serve(name, query.as_deref()).await {
                    Some(response) => response,
                    None => text_response(StatusCode::NOT_FOUND, ""),
                },
                None => text_response(StatusCode::NOT_FOUND, ""),
            },
        }
    }

    fn version(&self) -> Value {
        json!({
            "version": MESOS_VERSION,
            "build_date": self.context.build_date,
            "build_time": model::number(self.context.build_time),
            "build_user": self.context.build_user,
        })
    }

    async fn state(&self, jsonp: Option<&str>) -> Response<Body> {
        let context = self.context.clone();
        let answer = self
            .handle
            .query(move |agent: &Agent| {
                if agent.state() == crate::agent::core::AgentState::Recovering {
                    None
                } else {
                    Some(state::state(agent, &context))
                }
            })
            .await;
        match answer {
            Some(Some(value)) => json_response(&value, jsonp),
            Some(None) => text_response(StatusCode::SERVICE_UNAVAILABLE, "Agent has not finished recovery"),
            None => text_response(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
        }
    }

    async fn metrics(&self, jsonp: Option<&str>) -> Response<Body> {
        let now: Time = self.clock.now();
        let mut values =
            self.handle.query(move |agent: &Agent| state::metrics(agent, now.secs())).await.unwrap_or_default();
        for (k, v) in system_metrics() {
            values.insert(k, v);
        }
        json_response(&Value::Object(values), jsonp)
    }

    /// `/monitor/statistics`: usage of every live executor's container.
    async fn statistics(&self, jsonp: Option<&str>) -> Response<Body> {
        let executors = self
            .handle
            .query(|agent: &Agent| {
                agent
                    .live_executors()
                    .map(|e| (e.info.clone(), e.framework_id.clone(), e.container_id.clone()))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        let mut out = Vec::new();
        for (info, framework_id, container_id) in executors {
            let usage = self.containerizer.usage(ContainerId { value: container_id, parent: None }).await;
            let Ok(statistics) = usage else { continue };
            #[allow(deprecated)]
            out.push(json!({
                "framework_id": info.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or(framework_id),
                "executor_id": info.executor_id.value,
                "executor_name": info.name(),
                "source": info.source(),
                "statistics": pbjson::to_value(&statistics),
            }));
        }
        json_response(&Value::Array(out), jsonp)
    }
}

/// `system/*` metrics from `/proc`.
pub(crate) fn system_metrics() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Ok(n) = std::thread::available_parallelism() {
        out.push(("system/cpus_total".to_string(), json!(n.get())));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/loadavg") {
        let fields: Vec<f64> = text.split_whitespace().take(3).filter_map(|f| f.parse().ok()).collect();
        for (name, v) in ["load_1min", "load_5min", "load_15min"].iter().zip(fields) {
            out.push((format!("system/{name}"), json!(v)));
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        };
        if let Some(total) = field("MemTotal:") {
            out.push(("system/mem_total_bytes".to_string(), json!(total)));
        }
        if let Some(free) = field("MemFree:") {
            out.push(("system/mem_free_bytes".to_string(), json!(free)));
        }
    }
    out
}
