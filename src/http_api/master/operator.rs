//! The master's v1 operator API, `POST /api/v1` (Mesos's `Master::Http::api`).
//!
//! Order of checks, as Mesos: a master that does not lead redirects (307)
//! to the leader, one still recovering answers 503; then 405 / 400 / 415
//! (see [`crate::http_api::operator::decode_call`]), the call's own
//! validation (400 `Failed to validate master::Call: ...`), then 406 for an
//! `Accept` that allows neither JSON nor protobuf.
//!
//! Reads are served from the master's books on its loop (the builders of
//! [`crate::master::operator`]); calls that change something or need the
//! event order (SUBSCRIBE) go to the state machine as
//! [`OperatorCall`]s. Every call this master does not implement answers 501
//! naming it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Response, StatusCode};

use super::Shared;
use crate::http_api::agent::executor::ContentType;
use crate::http_api::operator::{self as common, transcode};
use crate::master::operator::{self as books, OperatorCall, OperatorError};
use crate::proto::mesos::master::Response as V0Response;
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::v1::master::call::Type as CallType;
use crate::proto::mesos::v1::master::response::Type as ResponseType;
use crate::proto::mesos::v1::master::{Call, Event as V1Event, Response as V1Response};
use crate::proto::mesos::{FrameworkId, SlaveId, WeightInfo};

/// The virtual path of the master's log (`MASTER_LOG_VIRTUAL_PATH`).
pub const LOG_VIRTUAL_PATH: &str = "/master/log";

/// Mesos's `validation::master::call::validate`: the call's payload must
/// be present for the calls that take one.
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
        CallType::UpdateWeights => missing(call.update_weights.is_some(), "update_weights"),
        CallType::ReserveResources => missing(call.reserve_resources.is_some(), "reserve_resources"),
        CallType::UnreserveResources => missing(call.unreserve_resources.is_some(), "unreserve_resources"),
        CallType::CreateVolumes => missing(call.create_volumes.is_some(), "create_volumes"),
        CallType::DestroyVolumes => missing(call.destroy_volumes.is_some(), "destroy_volumes"),
        CallType::GrowVolume => missing(call.grow_volume.is_some(), "grow_volume"),
        CallType::ShrinkVolume => missing(call.shrink_volume.is_some(), "shrink_volume"),
        CallType::UpdateMaintenanceSchedule => {
            missing(call.update_maintenance_schedule.is_some(), "update_maintenance_schedule")
        }
        CallType::StartMaintenance => missing(call.start_maintenance.is_some(), "start_maintenance"),
        CallType::StopMaintenance => missing(call.stop_maintenance.is_some(), "stop_maintenance"),
        CallType::DrainAgent => missing(call.drain_agent.is_some(), "drain_agent"),
        CallType::DeactivateAgent => missing(call.deactivate_agent.is_some(), "deactivate_agent"),
        CallType::ReactivateAgent => missing(call.reactivate_agent.is_some(), "reactivate_agent"),
        CallType::UpdateQuota => missing(call.update_quota.is_some(), "update_quota"),
        CallType::Teardown => missing(call.teardown.is_some(), "teardown"),
        CallType::MarkAgentGone => missing(call.mark_agent_gone.is_some(), "mark_agent_gone"),
        _ => Ok(()),
    }
}

fn operator_error(e: OperatorError) -> Response<Body> {
    match e {
        OperatorError::BadRequest(text) => common::error(StatusCode::BAD_REQUEST, text),
        OperatorError::NotFound(text) => common::error(StatusCode::NOT_FOUND, text),
        OperatorError::Unavailable(text) => common::error(StatusCode::SERVICE_UNAVAILABLE, text),
        OperatorError::Conflict(text) => common::error(StatusCode::CONFLICT, text),
    }
}

fn stopping() -> Response<Body> {
    common::error(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down")
}

/// The master's `/files` mounts: its log, when it writes one.
fn mounts(shared: &Shared) -> BTreeMap<String, PathBuf> {
    let mut mounts = BTreeMap::new();
    if let Some(log) = shared.context.logging.as_ref().and_then(|l| l.log_file.clone()) {
        if let Ok(real) = std::fs::canonicalize(log) {
            mounts.insert(LOG_VIRTUAL_PATH.to_string(), real);
        }
    }
    mounts
}

/// A read of the books, answered as `kind`.
async fn read(
    shared: &Shared,
    content_type: ContentType,
    build: impl FnOnce(&crate::master::Master) -> V0Response + Send + 'static,
) -> Response<Body> {
    match shared.master.query(move |m, _| build(m)).await {
        Some(out) => common::ok(&transcode::<_, V1Response>(&out), content_type),
        None => stopping(),
    }
}

fn v0(kind: ResponseType) -> V0Response {
    V0Response { r#type: Some(kind as i32), ..Default::default() }
}

/// Serves `/api/v1`.
pub(crate) async fn serve(shared: &Shared, method: Method, headers: HeaderMap, body: Bytes) -> Response<Body> {
    // (The router's leader guard answers these first in the daemon; the
    // same checks here keep the module right on its own.)
    let status = shared.master.query(|m, _| (m.is_elected(), m.is_recovered(), m.leader().cloned())).await;
    match status {
        None => return stopping(),
        Some((false, _, leader)) => return super::redirect_to(leader.as_ref(), &http::Uri::from_static("/api/v1")),
        Some((true, false, _)) => {
            return common::error(StatusCode::SERVICE_UNAVAILABLE, "Master has not finished recovery")
        }
        Some((true, true, _)) => {}
    }
    let call: Call = match common::decode_call(&method, &headers, &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    if let Err(e) = validate(&call) {
        return common::error(StatusCode::BAD_REQUEST, format!("Failed to validate master::Call: {e}"));
    }
    let content_type = match common::accept_type(&headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let kind = call.r#type();
    tracing::info!("Processing call {}", kind.as_str_name());
    let response = dispatch(shared, call, content_type).await;
    common::finish::<V1Response>(response, content_type)
}

async fn dispatch(shared: &Shared, call: Call, content_type: ContentType) -> Response<Body> {
    let context = &shared.context;
    match call.r#type() {
        CallType::GetHealth => common::ok(&common::get_health(), content_type),
        CallType::GetFlags => common::ok(&common::get_flags(&context.flags), content_type),
        CallType::GetVersion => common::ok(&common::get_version(&super::model::version_info()), content_type),
        CallType::GetMetrics => {
            // Every master metric is computed from the books at once, so
            // the timeout can never cut the snapshot short.
            match shared.master.query(|m, now| super::model::metrics(m, now)).await {
                Some(serde_json::Value::Object(snapshot)) => common::ok(&common::get_metrics(&snapshot), content_type),
                _ => stopping(),
            }
        }
        CallType::GetLoggingLevel => common::ok(&common::get_logging_level(context.logging.as_deref()), content_type),
        CallType::SetLoggingLevel => {
            let Some(set) = call.set_logging_level else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            common::set_logging_level(context.logging.as_ref(), set.level, common::duration(set.duration.nanoseconds))
        }
        CallType::ListFiles => {
            let path = call.list_files.map(|l| l.path).unwrap_or_default();
            common::list_files(mounts(shared), path).await
        }
        CallType::ReadFile => {
            let Some(read) = call.read_file else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            common::read_file(mounts(shared), read.path, read.offset, read.length).await
        }
        CallType::GetState => {
            read(shared, content_type, |m| V0Response {
                get_state: Some(books::get_state(m)),
                ..v0(ResponseType::GetState)
            })
            .await
        }
        CallType::GetAgents => {
            read(shared, content_type, |m| V0Response {
                get_agents: Some(books::get_agents(m)),
                ..v0(ResponseType::GetAgents)
            })
            .await
        }
        CallType::GetFrameworks => {
            read(shared, content_type, |m| V0Response {
                get_frameworks: Some(books::get_frameworks(m)),
                ..v0(ResponseType::GetFrameworks)
            })
            .await
        }
        CallType::GetExecutors => {
            read(shared, content_type, |m| V0Response {
                get_executors: Some(books::get_executors(m)),
                ..v0(ResponseType::GetExecutors)
            })
            .await
        }
        CallType::GetTasks => {
            read(shared, content_type, |m| V0Response {
                get_tasks: Some(books::get_tasks(m)),
                ..v0(ResponseType::GetTasks)
            })
            .await
        }
        CallType::GetRoles => {
            read(shared, content_type, |m| V0Response {
                get_roles: Some(books::get_roles(m)),
                ..v0(ResponseType::GetRoles)
            })
            .await
        }
        CallType::GetWeights => {
            read(shared, content_type, |m| V0Response {
                get_weights: Some(books::get_weights(m)),
                ..v0(ResponseType::GetWeights)
            })
            .await
        }
        CallType::GetMaster => {
            read(shared, content_type, |m| V0Response {
                get_master: Some(books::get_master(m)),
                ..v0(ResponseType::GetMaster)
            })
            .await
        }
        CallType::Subscribe => subscribe(shared, content_type).await,
        CallType::UpdateWeights => {
            let infos: Vec<WeightInfo> =
                call.update_weights.map(|u| u.weight_infos.iter().map(transcode).collect()).unwrap_or_default();
            change(shared, OperatorCall::UpdateWeights(infos)).await
        }
        CallType::Teardown => {
            let Some(teardown) = call.teardown else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            change(shared, OperatorCall::Teardown(FrameworkId { value: teardown.framework_id.value })).await
        }
        CallType::MarkAgentGone => {
            let Some(gone) = call.mark_agent_gone else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            change(shared, OperatorCall::MarkAgentGone(SlaveId { value: gone.agent_id.value })).await
        }
        CallType::GetMaintenanceSchedule => {
            read(shared, content_type, |m| V0Response {
                get_maintenance_schedule: Some(crate::proto::mesos::master::response::GetMaintenanceSchedule {
                    schedule: m.maintenance_schedule(),
                }),
                ..v0(ResponseType::GetMaintenanceSchedule)
            })
            .await
        }
        CallType::GetMaintenanceStatus => {
            read(shared, content_type, |m| V0Response {
                get_maintenance_status: Some(crate::proto::mesos::master::response::GetMaintenanceStatus {
                    status: m.maintenance_status(),
                }),
                ..v0(ResponseType::GetMaintenanceStatus)
            })
            .await
        }
        CallType::UpdateMaintenanceSchedule => {
            let Some(update) = call.update_maintenance_schedule else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            change(shared, OperatorCall::UpdateMaintenanceSchedule(transcode(&update.schedule))).await
        }
        CallType::StartMaintenance => {
            let machines =
                call.start_maintenance.map(|s| s.machines.iter().map(transcode).collect()).unwrap_or_default();
            change(shared, OperatorCall::StartMaintenance(machines)).await
        }
        CallType::StopMaintenance => {
            let machines =
                call.stop_maintenance.map(|s| s.machines.iter().map(transcode).collect()).unwrap_or_default();
            change(shared, OperatorCall::StopMaintenance(machines)).await
        }
        CallType::DeactivateAgent | CallType::ReactivateAgent => {
            let deactivate = call.r#type() == CallType::DeactivateAgent;
            let agent = if deactivate {
                call.deactivate_agent.map(|d| d.agent_id.value)
            } else {
                call.reactivate_agent.map(|r| r.agent_id.value)
            };
            let Some(agent) = agent else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            let agent = SlaveId { value: agent };
            let call =
                if deactivate { OperatorCall::DeactivateAgent(agent) } else { OperatorCall::ReactivateAgent(agent) };
            change(shared, call).await
        }
        CallType::GetQuota => {
            read(shared, content_type, |m| V0Response {
                get_quota: Some(books::get_quota(m)),
                ..v0(ResponseType::GetQuota)
            })
            .await
        }
        CallType::UpdateQuota => {
            let Some(update) = call.update_quota else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            let configs = update.quota_configs.iter().map(transcode).collect();
            change(shared, OperatorCall::UpdateQuota { force: update.force.unwrap_or(false), configs }).await
        }
        CallType::ReserveResources
        | CallType::UnreserveResources
        | CallType::CreateVolumes
        | CallType::DestroyVolumes => {
            let Some((agent, operation)) = operation_of(&call) else {
                return common::error(StatusCode::BAD_REQUEST, "");
            };
            // Mesos answers these 202 Accepted once the master applied them.
            match shared.master.operator_call(OperatorCall::Operation { agent, operation: Box::new(operation) }).await {
                Some(Ok(())) => common::error(StatusCode::ACCEPTED, ""),
                Some(Err(e)) => operator_error(e),
                None => stopping(),
            }
        }
        other => common::not_implemented(other.as_str_name()),
    }
}

/// The `Offer.Operation` an operator call asks for, on its agent.
fn operation_of(call: &Call) -> Option<(SlaveId, Operation)> {
    use crate::proto::mesos::offer::operation::{Create, Destroy, Reserve, Type, Unreserve};
    let list = |resources: &[crate::proto::mesos::v1::Resource]| -> Vec<crate::proto::mesos::Resource> {
        resources.iter().map(transcode).collect()
    };
    let mut op = Operation::default();
    let agent = match call.r#type() {
        CallType::ReserveResources => {
            let r = call.reserve_resources.as_ref()?;
            op.set_type(Type::Reserve);
            op.reserve = Some(Reserve { source: list(&r.source), resources: list(&r.resources) });
            &r.agent_id
        }
        CallType::UnreserveResources => {
            let r = call.unreserve_resources.as_ref()?;
            op.set_type(Type::Unreserve);
            op.unreserve = Some(Unreserve { resources: list(&r.resources) });
            &r.agent_id
        }
        CallType::CreateVolumes => {
            let r = call.create_volumes.as_ref()?;
            op.set_type(Type::Create);
            op.create = Some(Create { volumes: list(&r.volumes) });
            &r.agent_id
        }
        CallType::DestroyVolumes => {
            let r = call.destroy_volumes.as_ref()?;
            op.set_type(Type::Destroy);
            op.destroy = Some(Destroy { volumes: list(&r.volumes) });
            &r.agent_id
        }
        _ => return None,
    };
    Some((SlaveId { value: agent.value.clone() }, op))
}

/// A call the state machine decides: 200 with no body once it is done.
async fn change(shared: &Shared, call: OperatorCall) -> Response<Body> {
    match shared.master.operator_call(call).await {
        Some(Ok(())) => common::ok_empty(),
        Some(Err(e)) => operator_error(e),
        None => stopping(),
    }
}

/// Tells the master when the subscriber's connection goes away.
struct StreamGuard {
    master: crate::master::runtime::MasterHandle,
    stream: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.master.operator_closed(self.stream);
    }
}

/// SUBSCRIBE: 200 with a RecordIO stream: SUBSCRIBED (the state), then the
/// master's events in order, and a HEARTBEAT every 15 seconds.
async fn subscribe(shared: &Shared, content_type: ContentType) -> Response<Body> {
    let (stream, mut events) = match shared.master.operator_subscribe().await {
        Some(Ok(subscription)) => subscription,
        Some(Err(e)) => return operator_error(e),
        None => return stopping(),
    };
    let guard = StreamGuard { master: shared.master.clone(), stream };
    let heartbeat = {
        let mut e = V1Event::default();
        e.set_type(crate::proto::mesos::v1::master::event::Type::Heartbeat);
        common::record(&e, content_type)
    };
    let period = std::time::Duration::from_secs_f64(books::HEARTBEAT_INTERVAL_SECS);
    let encode = move |event: std::sync::Arc<crate::proto::mesos::master::Event>| {
        let v1: V1Event = transcode(event.as_ref());
        common::record(&v1, content_type)
    };
    // SUBSCRIBED is queued before the subscription is answered; the first
    // HEARTBEAT follows it at once, as Mesos's heartbeater starts.
    let Some(subscribed) = events.recv().await else {
        return stopping();
    };
    let first = futures::stream::iter([encode(subscribed), heartbeat.clone()]);
    let events = tokio_stream_of(events).map(encode);
    let heartbeats = futures::stream::unfold((), move |()| {
        let heartbeat = heartbeat.clone();
        async move {
            tokio::time::sleep(period).await;
            Some((heartbeat, ()))
        }
    });
    // The event stream ends the response when the master drops it; the
    // heartbeats never end on their own.
    let merged = first
        .map(Some)
        .chain(futures::stream::select(
            events.map(Some).chain(futures::stream::once(async { None })),
            heartbeats.map(Some),
        ))
        .take_while(|item| futures::future::ready(item.is_some()))
        .filter_map(futures::future::ready)
        .map(move |record| {
            let _ = &guard;
            Ok::<_, std::convert::Infallible>(record)
        });
    common::stream_response(content_type, merged)
}

fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
