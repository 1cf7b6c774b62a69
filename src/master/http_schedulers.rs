//! The v1 scheduler API's door into the master (Mesos's `Http::scheduler`
//! after the body is parsed, `subscribe(StreamingHttpConnection, ...)` and
//! `exited(frameworkId, http)`).
//!
//! The HTTP layer parses, devolves and validates the call, then hands it in
//! as [`Event::HttpCall`](super::Event::HttpCall). What needs the master's
//! books is checked here: leadership and recovery, the framework, its
//! connection and its `Mesos-Stream-Id`. The call then runs through exactly
//! the handlers a v0 `mesos.scheduler.Call` reaches ([`Master::dispatch_call`],
//! [`Master::subscribe`]); the framework's messages leave as
//! [`Effect::Scheduler`] to [`SchedulerConn::Http`], which the HTTP layer
//! evolves into v1 events.

use crate::proto::mesos::internal::UpdateOperationStatusMessage;
use crate::proto::mesos::scheduler::call::{self, Type as CallType};
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::{FrameworkId, OperationState, OperationStatus};

use super::event::{Effect, HttpAnswer, Now, SchedulerConn};
use super::state::Master;

fn error(status: u16, message: impl Into<String>) -> HttpAnswer {
    HttpAnswer::Error { status, message: message.into() }
}

impl Master {
    fn respond(&mut self, request: u64, answer: HttpAnswer) {
        self.emit(Effect::HttpRespond { request, answer });
    }

    /// Ends a subscription stream and forgets its id.
    pub(crate) fn close_stream(&mut self, stream: u64) {
        self.frameworks.http_streams.shift_remove(&stream);
        self.emit(Effect::CloseStream { stream });
    }

    /// A v1 call (Mesos's `Master::Http::scheduler`, from the leadership
    /// check on, minus the parsing the HTTP layer did).
    pub(crate) fn on_http_call(&mut self, now: Now, request: u64, stream_id: Option<String>, call: Call) {
        if !self.elected {
            let leader = self.leader.clone().map(Box::new);
            self.respond(request, HttpAnswer::NotLeader(leader));
            return;
        }
        if !self.recovered {
            self.respond(request, error(503, "Master has not finished recovery"));
            return;
        }
        let kind = CallType::try_from(call.r#type.unwrap_or(0)).unwrap_or(CallType::Unknown);
        if kind == CallType::Subscribe {
            let Some(stream_id) = stream_id else {
                self.respond(request, error(500, "No stream for the subscription"));
                return;
            };
            tracing::info!(
                "Received subscription request for HTTP framework '{}'",
                call.subscribe.as_ref().map(|s| s.framework_info.name.as_str()).unwrap_or("")
            );
            // The response (and its stream) exists before any event is
            // written to it, as Mesos's pipe does.
            self.respond(request, HttpAnswer::Stream);
            self.frameworks.http_streams.insert(request, stream_id);
            self.subscribe(now, SchedulerConn::Http(request), call.subscribe.unwrap_or_default());
            return;
        }

        let fid = call.framework_id.clone().unwrap_or_default();
        let Some(fw) = self.frameworks.registered.get(&fid) else {
            self.respond(request, error(400, "Framework cannot be found"));
            return;
        };
        if !fw.connected() {
            self.respond(request, error(403, "Framework is not subscribed"));
            return;
        }
        let Some(SchedulerConn::Http(stream)) = fw.conn.clone() else {
            self.respond(request, error(403, "Framework is not connected via HTTP"));
            return;
        };
        let Some(given) = stream_id else {
            self.respond(request, error(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"));
            return;
        };
        if self.frameworks.http_streams.get(&stream) != Some(&given) {
            let message = format!(
                "The stream ID '{given}' included in this request didn't match the stream ID currently associated \
                 with framework ID {}",
                fid.value
            );
            self.respond(request, error(400, message));
            return;
        }
        match kind {
            CallType::Unknown => {
                tracing::warn!("Received 'UNKNOWN' call");
                self.respond(request, error(501, ""));
            }
            CallType::UpdateFramework => {
                match self.update_framework_call(now, call.update_framework.unwrap_or_default()) {
                    Ok(()) => self.respond(request, HttpAnswer::Ok),
                    Err(message) => self.respond(request, error(400, message)),
                }
            }
            _ => {
                self.respond(request, HttpAnswer::Accepted);
                self.dispatch_call(now, &fid, call);
            }
        }
    }

    /// The scheduler hung up its stream (Mesos's `exited(frameworkId,
    /// http)`): the framework is disconnected and its failover timeout
    /// starts, unless it has already resubscribed on another stream.
    pub(crate) fn on_http_closed(&mut self, now: Now, stream: u64) {
        self.frameworks.http_streams.shift_remove(&stream);
        let conn = SchedulerConn::Http(stream);
        let fid =
            self.frameworks.registered.iter().find(|(_, f)| f.conn.as_ref() == Some(&conn)).map(|(id, _)| id.clone());
        match fid {
            Some(fid) => self.framework_exited(now, &fid),
            None => tracing::debug!("Ignoring the close of HTTP stream {stream}: no framework uses it"),
        }
    }

    /// Whether `fid` is subscribed over HTTP.
    pub(crate) fn is_http(&self, fid: &FrameworkId) -> bool {
        self.frameworks.registered.get(fid).is_some_and(|f| matches!(f.conn, Some(SchedulerConn::Http(_))))
    }

    /// `Master::reconcileOperations`. This master keeps no operation with
    /// feedback (offer operations apply at once), so an implicit
    /// reconciliation has nothing to report and an explicit one answers
    /// from what it knows of the agent, with Mesos's states and messages.
    pub(crate) fn reconcile_operations(&mut self, fid: &FrameworkId, reconcile: call::ReconcileOperations) {
        self.metrics.messages_reconcile_operations += 1;
        tracing::info!(
            "Performing explicit operation state reconciliation for {} operations of framework {}",
            reconcile.operations.len(),
            fid.value
        );
        for op in reconcile.operations {
            let agent = op.slave_id.clone();
            let (state, message) = match &agent {
                Some(a) if self.agents.recovered.contains_key(a) => (
                    OperationState::OperationRecovering,
                    "Reconciliation: Agent is recovered but has not re-registered",
                ),
                Some(a) if self.agents.registered.contains_key(a) => {
                    (OperationState::OperationUnknown, "Reconciliation: Operation is unknown")
                }
                Some(a) if self.agents.unreachable.contains_key(a) => {
                    (OperationState::OperationUnreachable, "Reconciliation: Agent is unreachable")
                }
                Some(a) if self.agents.gone.contains_key(a) => {
                    (OperationState::OperationGoneByOperator, "Reconciliation: Agent marked gone by operator")
                }
                Some(_) => (OperationState::OperationUnknown, "Reconciliation: Both operation and agent are unknown"),
                None => (
                    OperationState::OperationUnknown,
                    "Reconciliation: Operation is unknown and no 'agent_id' was provided",
                ),
            };
            let status = OperationStatus {
                operation_id: Some(op.operation_id),
                state: state as i32,
                message: Some(message.into()),
                slave_id: agent.clone(),
                resource_provider_id: op.resource_provider_id,
                ..Default::default()
            };
            let message = UpdateOperationStatusMessage {
                framework_id: Some(fid.clone()),
                slave_id: agent,
                status,
                latest_status: None,
                operation_uuid: None,
            };
            self.send_framework(fid, message.into());
        }
    }
}
