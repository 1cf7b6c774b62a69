//! The agent's v1 operator API, `POST /api/v1` (Mesos's `slave/http.cpp`
//! `Http::api`).
//!
//! Checks in Mesos's order: 503 while the agent recovers, then 405 / 400 /
//! 415 (see [`crate::http_api::operator::decode_call`]), the call's own
//! validation (400 `Failed to validate agent::Call: ...`), then 406.
//! The calls both daemons share come from [`crate::http_api::operator`];
//! the rest read the agent's books (`GET_STATE`, `GET_FRAMEWORKS`,
//! `GET_EXECUTORS`, `GET_TASKS`, `GET_AGENT`), ask the containerizer
//! (`GET_CONTAINERS`, `KILL_CONTAINER`), or answer 501 naming the call
//! (nested container sessions, standalone containers, resource providers,
//! image pruning, operations).

use std::collections::BTreeMap;

use axum::body::Body;
use http::{Request, Response, StatusCode};

use super::AgentHttp;
use crate::agent::core::{Agent, AgentState, Executor, Framework};
use crate::http_api::agent::executor::ContentType;
use crate::http_api::operator::{self as common, transcode};
use crate::proto::mesos::agent::response::{get_containers, get_executors, get_frameworks};
use crate::proto::mesos::agent::response::{GetAgent, GetExecutors, GetFrameworks, GetState, GetTasks};
use crate::proto::mesos::agent::Response as V0Response;
use crate::proto::mesos::v1::agent::call::Type as CallType;
use crate::proto::mesos::v1::agent::response::Type as ResponseType;
use crate::proto::mesos::v1::agent::{Call, Response as V1Response};
use crate::proto::mesos::{ContainerId, ContainerStatus, TaskState};

/// Mesos's `validation::agent::call::validate` for the calls served here.
pub fn validate(call: &Call) -> Result<(), String> {
    if call.r#type.is_none() {
        return Err("Expecting 'type' to be present".into());
    }
    let missing = |present: bool, name: &str| {
        if present {
            Ok(())
        } else {
            Err(format!("Expecting '{name}' to be present"))
        }
    };
    match call.r#type() {
        CallType::GetMetrics => missing(call.get_metrics.is_some(), "get_metrics"),
        CallType::SetLoggingLevel => missing(call.set_logging_level.is_some(), "set_logging_level"),
        CallType::ListFiles => missing(call.list_files.is_some(), "list_files"),
        CallType::ReadFile => missing(call.read_file.is_some(), "read_file"),
        CallType::KillContainer => missing(call.kill_container.is_some(), "kill_container"),
        _ => Ok(()),
    }
}

fn v0(kind: ResponseType) -> V0Response {
    V0Response { r#type: Some(kind as i32), ..Default::default() }
}

fn executors_of<'a>(frameworks: &[&'a Framework]) -> (Vec<&'a Executor>, Vec<&'a Executor>) {
    let mut live = Vec::new();
    let mut completed = Vec::new();
    for f in frameworks {
        live.extend(f.executors.values());
        completed.extend(f.completed_executors.iter());
    }
    (live, completed)
}

fn all_frameworks(agent: &Agent) -> Vec<&Framework> {
    agent.frameworks().values().chain(agent.completed_frameworks().iter()).collect()
}

/// GET_FRAMEWORKS.
pub fn get_frameworks(agent: &Agent) -> GetFrameworks {
    let entry = |f: &Framework| get_frameworks::Framework { framework_info: f.info.clone() };
    GetFrameworks {
        frameworks: agent.frameworks().values().map(entry).collect(),
        completed_frameworks: agent.completed_frameworks().iter().map(entry).collect(),
    }
}

/// GET_EXECUTORS: live executors, and those that terminated.
pub fn get_executors(agent: &Agent) -> GetExecutors {
    let (live, completed) = executors_of(&all_frameworks(agent));
    let entry = |e: &&Executor| get_executors::Executor { executor_info: e.info.clone() };
    GetExecutors {
        executors: live.iter().map(entry).collect(),
        completed_executors: completed.iter().map(entry).collect(),
    }
}

/// GET_TASKS: queued (not yet given to their executor), launched,
/// terminated (not yet acknowledged) and completed tasks.
pub fn get_tasks(agent: &Agent) -> GetTasks {
    let mut out = GetTasks::default();
    let (live, completed) = executors_of(&all_frameworks(agent));
    for e in live.iter().chain(completed.iter()) {
        for task in &e.queued_tasks {
            out.queued_tasks.push(crate::agent::core::framework::create_task(
                task,
                TaskState::TaskStaging,
                &e.framework_id,
            ));
        }
        out.launched_tasks.extend(e.launched_tasks.values().cloned());
        out.terminated_tasks.extend(e.terminated_tasks.values().cloned());
        out.completed_tasks.extend(e.completed_tasks.iter().cloned());
    }
    out
}

/// GET_STATE.
pub fn get_state(agent: &Agent) -> GetState {
    GetState {
        get_tasks: Some(get_tasks(agent)),
        get_executors: Some(get_executors(agent)),
        get_frameworks: Some(get_frameworks(agent)),
    }
}

/// Serves `/api/v1` on the agent.
pub async fn serve(http: &AgentHttp, request: Request<Body>) -> Response<Body> {
    match http.handle.query(|a: &Agent| a.state()).await {
        None => return common::error(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
        Some(AgentState::Recovering) => {
            return common::error(StatusCode::SERVICE_UNAVAILABLE, "Agent has not finished recovery")
        }
        Some(_) => {}
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, common::MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return common::error(StatusCode::BAD_REQUEST, format!("Failed to read body: {e}")),
    };
    let call: Call = match common::decode_call(&parts.method, &parts.headers, &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    if let Err(e) = validate(&call) {
        return common::error(StatusCode::BAD_REQUEST, format!("Failed to validate agent::Call: {e}"));
    }
    let content_type = match common::accept_type(&parts.headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    tracing::info!("Processing call {}", call.r#type().as_str_name());
    let response = dispatch(http, call, content_type).await;
    common::finish::<V1Response>(response, content_type)
}

/// A read of the agent's books, answered in the agent's `Response`.
async fn read(
    http: &AgentHttp,
    content_type: ContentType,
    build: impl FnOnce(&Agent) -> V0Response + Send + 'static,
) -> Response<Body> {
    match http.handle.query(build).await {
        Some(out) => common::ok(&transcode::<_, V1Response>(&out), content_type),
        None => common::error(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
    }
}

async fn dispatch(http: &AgentHttp, call: Call, content_type: ContentType) -> Response<Body> {
    let agent_response =
        |r: crate::proto::mesos::v1::master::Response| common::ok(&transcode::<_, V1Response>(&r), content_type);
    match call.r#type() {
        CallType::GetHealth => agent_response(common::get_health()),
        CallType::GetFlags => agent_response(common::get_flags(&http.context.flags)),
        CallType::GetVersion => agent_response(common::get_version(&common::Version {
            version: crate::agent::core::MESOS_VERSION.to_string(),
            build_date: http.context.build_date.clone(),
            build_time: http.context.build_time,
            build_user: http.context.build_user.clone(),
        })),
        CallType::GetMetrics => {
            let now = http.clock.now();
            let mut snapshot =
                http.handle.query(move |a: &Agent| super::state::metrics(a, now.secs())).await.unwrap_or_default();
            for (k, v) in super::system_metrics() {
                snapshot.insert(k, v);
            }
            agent_response(common::get_metrics(&snapshot))
        }
        CallType::GetLoggingLevel => agent_response(common::get_logging_level(http.logging.as_deref())),
        CallType::SetLoggingLevel => match call.set_logging_level {
            Some(set) => {
                common::set_logging_level(http.logging.as_ref(), set.level, common::duration(set.duration.nanoseconds))
            }
            None => common::error(StatusCode::BAD_REQUEST, "Expecting 'set_logging_level' to be present"),
        },
        CallType::ListFiles => {
            let mounts = http.mounts().await;
            common::list_files(mounts, call.list_files.map(|l| l.path).unwrap_or_default()).await
        }
        CallType::ReadFile => match call.read_file {
            Some(read) => common::read_file(http.mounts().await, read.path, read.offset, read.length).await,
            None => common::error(StatusCode::BAD_REQUEST, "Expecting 'read_file' to be present"),
        },
        CallType::GetState => {
            read(http, content_type, |a| V0Response { get_state: Some(get_state(a)), ..v0(ResponseType::GetState) })
                .await
        }
        CallType::GetFrameworks => {
            read(http, content_type, |a| V0Response {
                get_frameworks: Some(get_frameworks(a)),
                ..v0(ResponseType::GetFrameworks)
            })
            .await
        }
        CallType::GetExecutors => {
            read(http, content_type, |a| V0Response {
                get_executors: Some(get_executors(a)),
                ..v0(ResponseType::GetExecutors)
            })
            .await
        }
        CallType::GetTasks => {
            read(http, content_type, |a| V0Response { get_tasks: Some(get_tasks(a)), ..v0(ResponseType::GetTasks) })
                .await
        }
        CallType::GetAgent => {
            read(http, content_type, |a| V0Response {
                get_agent: Some(GetAgent { slave_info: Some(a.info().clone()), ..Default::default() }),
                ..v0(ResponseType::GetAgent)
            })
            .await
        }
        CallType::GetContainers => get_containers(http, content_type).await,
        CallType::KillContainer => match call.kill_container {
            Some(kill) => kill_container(http, transcode(&kill.container_id), kill.signal).await,
            None => common::error(StatusCode::BAD_REQUEST, "Expecting 'kill_container' to be present"),
        },
        other => common::not_implemented(other.as_str_name()),
    }
}

/// GET_CONTAINERS: every executor's container, with its status and usage
/// (a container whose usage cannot be read is listed without it, as Mesos).
async fn get_containers(http: &AgentHttp, content_type: ContentType) -> Response<Body> {
    let executors = http
        .handle
        .query(|a: &Agent| {
            a.live_executors()
                .map(|e| (e.info.clone(), e.framework_id.clone(), e.container_id.clone(), e.pid))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
    let mut containers = Vec::new();
    for (info, framework_id, container_id, pid) in executors {
        let id = ContainerId { value: container_id, parent: None };
        let usage = http.containerizer.usage(id.clone()).await.ok();
        containers.push(get_containers::Container {
            framework_id: Some(crate::proto::mesos::FrameworkId { value: framework_id }),
            executor_id: Some(info.executor_id.clone()),
            executor_name: info.name.clone(),
            container_status: Some(ContainerStatus {
                container_id: Some(id.clone()),
                executor_pid: pid,
                ..Default::default()
            }),
            container_id: id,
            resource_statistics: usage,
        });
    }
    let out = V0Response {
        get_containers: Some(crate::proto::mesos::agent::response::GetContainers { containers }),
        ..v0(ResponseType::GetContainers)
    };
    common::ok(&transcode::<_, V1Response>(&out), content_type)
}

/// KILL_CONTAINER: SIGKILL (the default) destroys the container; another
/// signal goes to the executor's process. 404 for an unknown container.
async fn kill_container(http: &AgentHttp, id: ContainerId, signal: Option<i32>) -> Response<Body> {
    let not_found = || {
        common::error(StatusCode::NOT_FOUND, format!("Container '{}' cannot be found (or is already killed)", id.value))
    };
    if !http.containerizer.containers().await.iter().any(|c| c.value == id.value && c.parent == id.parent) {
        return not_found();
    }
    let signal = signal.unwrap_or(libc_sigkill());
    if signal == libc_sigkill() {
        tracing::info!("Killing container {}", id.value);
        return match http.containerizer.destroy(id.clone()).await {
            Some(_) => common::ok_empty(),
            None => not_found(),
        };
    }
    let wanted = id.value.clone();
    let pid = http
        .handle
        .query(move |a: &Agent| a.live_executors().find(|e| e.container_id == wanted).and_then(|e| e.pid))
        .await
        .flatten();
    let Some(pid) = pid else { return not_found() };
    let Ok(sig) = nix::sys::signal::Signal::try_from(signal) else {
        return common::error(StatusCode::BAD_REQUEST, format!("Invalid signal {signal}"));
    };
    tracing::info!("Sending signal {} to container {}", signal, id.value);
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig) {
        Ok(()) => common::ok_empty(),
        Err(_) => not_found(),
    }
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

impl AgentHttp {
    /// The `/files` mounts as they are now.
    pub(crate) async fn mounts(&self) -> BTreeMap<String, std::path::PathBuf> {
        use crate::http_api::files::Mounts;
        super::AgentMounts {
            handle: self.handle.clone(),
            log_file: self.log_file.clone(),
            work_dir: self.work_dir.clone(),
        }
        .mounts()
        .await
    }
}
