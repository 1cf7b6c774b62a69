//! What goes into the master and what comes out of it.
//!
//! The master is a sans-IO state machine: [`Master::handle`](super::Master::handle)
//! takes the current time and one [`Event`] and returns the [`Effect`]s the
//! I/O driver must carry out, in order. Nothing here touches a socket, a
//! clock or a file.
//!
//! # Doors
//! - v0 schedulers and agents: [`Event::Message`] / [`Event::Exited`] in,
//!   [`Effect::Send`] (agents, any UPID) and [`Effect::Scheduler`] out.
//! - v1 HTTP schedulers reuse the same handlers (calls below): a stream
//!   is a [`SchedulerConn::Http`], and every framework-bound message is an
//!   [`Effect::Scheduler`] the HTTP layer turns into a v1 `Event`.
//! - The v1 operator API: [`Event::Operator`] in, [`Effect::Operator`] out
//!   (events for SUBSCRIBE streams, answers to calls); see
//!   [`super::operator`].
//! - Leader election (standalone, or ZooKeeper through [`super::ha`]): [`Event::Detected`].
//! - Durability: [`Effect::RecoverRegistry`] / [`Event::RegistryRecovered`],
//!   [`Effect::Registry`] / [`Event::RegistryApplied`].
//! - Time: [`Effect::Timer`] / [`Event::Timer`]. Timers are never cancelled;
//!   a timer that is no longer relevant is ignored when it fires.
//! - v1 scheduler calls: [`Event::HttpCall`] in, answered by one
//!   [`Effect::HttpRespond`]; [`Effect::CloseStream`] ends a subscription
//!   stream, [`Event::HttpClosed`] reports one the scheduler left.

use std::time::Duration;

use crate::proto::mesos::internal::Registry;
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::{FrameworkId, MasterInfo, OfferId, SlaveId};
use crate::v0_compat::{Message, Upid};

use super::operator::{OperatorCall, OperatorEffect};
use super::registry::RegistryOp;

/// The time, as the driver reads it: a monotonic clock for timers, and the
/// wall clock for what Mesos reports (registration times, status update
/// timestamps, unreachable times).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Since any fixed origin (the master's start); never goes back.
    pub monotonic: Duration,
    /// Since the Unix epoch.
    pub unix: Duration,
}

impl Now {
    /// Seconds since the epoch, as Mesos's `Clock::now().secs()`.
    pub fn secs(&self) -> f64 {
        self.unix.as_secs_f64()
    }

    /// Nanoseconds since the epoch, for `TimeInfo`.
    pub fn nanos(&self) -> i64 {
        i64::try_from(self.unix.as_nanos()).unwrap_or(i64::MAX)
    }

    /// `d` later.
    pub fn after(&self, d: Duration) -> Duration {
        self.monotonic.saturating_add(d)
    }
}

/// How a scheduler is reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SchedulerConn {
    /// A v0 scheduler driver at this UPID.
    Pid(Upid),
    /// A v1 HTTP subscription stream, numbered by the HTTP layer.
    Http(u64),
}

impl std::fmt::Display for SchedulerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchedulerConn::Pid(pid) => write!(f, "{pid}"),
            SchedulerConn::Http(stream) => write!(f, "http stream {stream}"),
        }
    }
}

/// One input.
#[derive(Debug, Clone)]
pub enum Event {
    /// The leading master is (now) `leader`, or none is elected. The master
    /// becomes leader when `leader` is its own `MasterInfo` (matched by id);
    /// a standalone master is told so once at start.
    Detected(Option<MasterInfo>),
    /// The registry as recovered (and with this master's info persisted),
    /// in answer to [`Effect::RecoverRegistry`].
    RegistryRecovered(Result<Box<Registry>, String>),
    /// A v0 message from `from`.
    Message { from: Upid, message: Message },
    /// A linked peer (agent or scheduler) went away.
    Exited(Upid),
    /// A v1 scheduler call (`POST /api/v1/scheduler`), already parsed,
    /// devolved and validated by the HTTP layer. `request` numbers it for
    /// the one [`Effect::HttpRespond`] it gets. For SUBSCRIBE, `request` is
    /// also the number of the stream the HTTP layer opened, and
    /// `stream_id` the `Mesos-Stream-Id` it will carry; for other calls,
    /// `stream_id` is the request's `Mesos-Stream-Id` header.
    HttpCall { request: u64, stream_id: Option<String>, call: Box<Call> },
    /// The subscription stream `stream` is gone (the scheduler hung up).
    HttpClosed { stream: u64 },
    /// A timer set with [`Effect::Timer`] is due.
    Timer(Timer),
    /// The outcome of [`Effect::Registry`] `id`: `Ok(true)` if the
    /// operation was permitted and is durable, `Ok(false)` if the registry
    /// refused it (e.g. an agent already admitted), `Err` if storage failed.
    RegistryApplied { id: u64, result: Result<bool, String> },
    /// An operator API call (`/api/v1`) the master must decide or order;
    /// answered with [`OperatorEffect::Done`] carrying the same `id`.
    Operator { id: u64, call: OperatorCall },
    /// The driver has no more input for now: run the allocation triggered
    /// by the events so far (Mesos batches allocation requests the same way).
    Idle,
}

/// The master's answer to an [`Event::HttpCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAnswer {
    /// `202 Accepted`, empty body.
    Accepted,
    /// `200 OK`, empty body (UPDATE_FRAMEWORK).
    Ok,
    /// `200 OK` and the SUBSCRIBE stream stays open: events follow as
    /// [`Effect::Scheduler`] to [`SchedulerConn::Http`]`(request)`.
    Stream,
    /// This master does not lead: redirect to the leader, or 503 if none.
    NotLeader(Option<Box<MasterInfo>>),
    /// An error status with its message.
    Error { status: u16, message: String },
}

/// One output. The driver must carry these out in order.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send a v0 message (to an agent, or to any UPID that wrote to us).
    Send { to: Upid, message: Message },
    /// Send to a scheduler. For [`SchedulerConn::Pid`] this is exactly the
    /// v0 message Mesos sends; the HTTP door maps it to a v1 event.
    Scheduler { to: SchedulerConn, message: Message },
    /// The answer to [`Event::HttpCall`] `request`.
    HttpRespond { request: u64, answer: HttpAnswer },
    /// End the subscription stream `stream` (Mesos's `http.close()`).
    CloseStream { stream: u64 },
    /// Watch `to`: report [`Event::Exited`] once it goes away.
    Link(Upid),
    /// Deliver [`Event::Timer`]`(timer)` once the monotonic clock reaches `at`.
    Timer { at: Duration, timer: Timer },
    /// Load the registry and persist `info` in it as the current master,
    /// then answer with [`Event::RegistryRecovered`].
    RecoverRegistry { info: Box<MasterInfo> },
    /// Apply `op` to the durable registry, then answer with
    /// [`Event::RegistryApplied`] carrying the same `id`. Operations must be
    /// applied in the order they were issued.
    Registry { id: u64, op: RegistryOp },
    /// Operator API output: an event for the subscribers' streams, or the
    /// answer to an [`Event::Operator`].
    Operator(OperatorEffect),
    /// Mesos would abort the process here (`EXIT`/`LOG(FATAL)`): the driver
    /// logs the message and exits with a failure status.
    Fatal(String),
}

/// A timer. Each carries what it needs to be checked for relevance when it
/// fires (an epoch that changes when the timer is superseded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A full allocation cycle (`--allocation_interval`).
    Allocation,
    /// `--offer_timeout` for this offer.
    OfferTimeout(OfferId),
    /// The agent observer's ping period (`--agent_ping_timeout`).
    Ping { agent: SlaveId, epoch: u64 },
    /// A disconnected agent must reregister within `--agent_reregister_timeout`.
    AgentReregister { agent: SlaveId, epoch: u64 },
    /// A disconnected framework's `failover_timeout`.
    FrameworkFailover { framework: FrameworkId, epoch: u64 },
    /// Agents recovered from the registry must reregister within
    /// `--agent_reregister_timeout` after a failover.
    RecoveredAgents { epoch: u64 },
    /// Periodic registry garbage collection (`--registry_gc_interval`).
    RegistryGc,
}
