//! The scheduler driver's decisions, sans-IO: what Apache's
//! `SchedulerProcess` (`src/sched/sched.cpp`) does, as a state machine.
//!
//! [`SchedulerCore::handle`] takes one [`Input`] (a detection, a message to
//! the scheduler process or to its authenticatee, a timer, or a driver call
//! dispatched by the front end) and returns the [`Effect`]s, in order: sends,
//! links, timers, and the scheduler [`Callback`]s, which the runtime invokes
//! one at a time on the driver's callback thread exactly where they appear.
//!
//! Two flags are shared with the front end and read at handling time, as
//! Apache's atomics are: `running` (false once `stop` or `abort` was called;
//! the front end clears it before queueing the call, and the runtime
//! mirrors it into the core with [`SchedulerCore::set_running`] before each
//! input), and `terminated` (after `stop` the core handles nothing more).
//!
//! Where Apache `CHECK`s a peer's message (and would crash the framework on a
//! master bug), the core logs and drops the message instead.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::common::authentication::{Authenticatee, AuthenticateeStep, Outcome};
use crate::proto::mesos::internal as mi;
use crate::proto::mesos::scheduler::{call, event, Call as SchedulerCall, Event as SchedulerEvent, OfferConstraints};
use crate::proto::mesos::{
    framework_info, offer, task_status, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer,
    OfferId, Request, SlaveId, TaskId, TaskInfo, TaskState, TaskStatus,
};
use crate::v0_compat::{Message, Upid};

use super::super::detector::Leader;
use super::super::flags::{SchedulerFlags, REGISTRATION_RETRY_INTERVAL_MAX};
use super::super::random::Rng;

/// What the core is built from (the driver's constructor arguments).
#[derive(Debug, Clone)]
pub struct Config {
    /// The scheduler process's own UPID (`scheduler-<uuid>@ip:port`).
    pub pid: Upid,
    /// The framework, with `user`/`hostname` already filled in.
    pub framework: FrameworkInfo,
    /// Roles to subscribe suppressed.
    pub suppressed_roles: Vec<String>,
    pub credential: Option<Credential>,
    pub implicit_acknowledgements: bool,
    pub flags: SchedulerFlags,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

/// A driver call, queued by the front end after its status check (Apache's
/// `dispatch`es to the `SchedulerProcess`).
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Stop {
        failover: bool,
    },
    Abort,
    KillTask(TaskId),
    RequestResources(Vec<Request>),
    LaunchTasks {
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        filters: Filters,
    },
    AcceptOffers {
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Filters,
    },
    DeclineOffer {
        offer_id: OfferId,
        filters: Filters,
    },
    /// An empty list: every role.
    ReviveOffers(Vec<String>),
    /// An empty list: every role of the framework.
    SuppressOffers(Vec<String>),
    AcknowledgeStatusUpdate(TaskStatus),
    SendFrameworkMessage {
        executor_id: ExecutorId,
        slave_id: SlaveId,
        data: Vec<u8>,
    },
    ReconcileTasks(Vec<TaskStatus>),
    UpdateFramework {
        framework: FrameworkInfo,
        suppressed_roles: BTreeSet<String>,
        offer_constraints: OfferConstraints,
    },
    /// A call Apache's driver answers by crashing the process (e.g. an
    /// explicit acknowledgement with implicit acknowledgements on): here the
    /// driver aborts and the scheduler's `error` gets the text.
    Misuse(String),
}

/// The driver's timers. Each carries what identifies it, so a stale one
/// (cancelled, superseded) is recognised and ignored when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    /// Retry registration with this backoff ceiling.
    Registration { generation: u64, max_backoff: Duration },
    /// The authentication attempt `attempt` took too long.
    Authentication { attempt: u64 },
}

/// Everything the core reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The detector's leader changed (`None`: no leader).
    Detected(Option<Leader>),
    /// A message to the scheduler process.
    Message { from: Upid, message: Message },
    /// A message to the authenticatee process of attempt `attempt`.
    Authentication { attempt: u64, from: Upid, message: Message },
    /// A timer the core set fired.
    Timer(Timer),
    /// A driver call.
    Call(Call),
}

/// A scheduler callback, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    Registered { framework_id: FrameworkId, master_info: MasterInfo },
    Reregistered { master_info: MasterInfo },
    Disconnected,
    ResourceOffers { offers: Vec<Offer> },
    OfferRescinded { offer_id: OfferId },
    StatusUpdate { status: TaskStatus },
    FrameworkMessage { executor_id: ExecutorId, slave_id: SlaveId, data: Vec<u8> },
    SlaveLost { slave_id: SlaveId },
    ExecutorLost { executor_id: ExecutorId, slave_id: SlaveId, status: i32 },
    Error { message: String },
}

#[allow(clippy::large_enum_variant)] // short-lived values, handled one at a time: boxing buys nothing
/// What the runtime must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send as the scheduler process.
    Send { to: Upid, message: Message },
    /// Send as the scheduler process, unless the driver stopped running
    /// meanwhile (an implicit acknowledgement after its `statusUpdate`
    /// callback: a scheduler that aborts in the callback sends none).
    SendIfRunning { to: Upid, message: Message },
    /// Link to a peer (its exit is not acted on: Apache's driver has no
    /// `exited` handler; the link keeps one socket to the master).
    Link(Upid),
    /// Fire `timer` after `after`.
    SetTimer { timer: Timer, after: Duration },
    /// Invoke the scheduler.
    Callback(Callback),
    /// Abort the driver as `MesosSchedulerDriver::abort()` does (status
    /// `DRIVER_ABORTED`, `running` cleared, an `Abort` call queued), before
    /// the callback that follows.
    AbortDriver,
    /// Spawn the authenticatee process for `attempt`.
    SpawnAuthenticatee { attempt: u64 },
    /// Send as the authenticatee process of `attempt`.
    SendAsAuthenticatee { attempt: u64, to: Upid, message: Message },
    /// The authenticatee of `attempt` is done; its process can go.
    EndAuthenticatee { attempt: u64 },
    /// The process is done (after `stop`): handle nothing more.
    Terminate,
    /// Wake `join()` (Apache's latch).
    Release,
}

/// One authentication attempt in flight (Apache's `authenticating`).
#[derive(Debug)]
struct Attempt {
    id: u64,
    authenticatee: Authenticatee,
    /// The timeout range this attempt was started with.
    min: Duration,
    max: Duration,
}

/// The scheduler driver's state machine.
#[derive(Debug)]
pub struct SchedulerCore {
    pid: Upid,
    framework: FrameworkInfo,
    suppressed_roles: BTreeSet<String>,
    offer_constraints: OfferConstraints,
    credential: Option<Credential>,
    implicit_acknowledgements: bool,
    flags: SchedulerFlags,
    /// Registering with a known framework id: a failover (SUBSCRIBE with
    /// `force`), until the first registration.
    failover: bool,
    master: Option<Leader>,
    /// Registered with the current master.
    connected: bool,
    send_update_framework_on_connect: bool,
    running: bool,
    terminated: bool,
    /// The generation of the live registration timer; bumping it cancels.
    registration_generation: u64,
    /// Agent pids by offer, to message executors directly.
    saved_offers: HashMap<OfferId, HashMap<SlaveId, Upid>>,
    /// Agent pids where tasks were launched.
    saved_slave_pids: HashMap<SlaveId, Upid>,
    authenticating: Option<Attempt>,
    attempts: u64,
    authenticated: bool,
    reauthenticate: bool,
    rng: Rng,
    effects: Vec<Effect>,
}

fn has_id(framework: &FrameworkInfo) -> bool {
    framework.id.as_ref().is_some_and(|id| !id.value.is_empty())
}

fn call(framework: &FrameworkInfo, kind: call::Type) -> SchedulerCall {
    SchedulerCall { framework_id: framework.id.clone(), r#type: Some(kind as i32), ..Default::default() }
}

impl SchedulerCore {
    pub fn new(config: Config) -> SchedulerCore {
        let failover = has_id(&config.framework);
        tracing::info!("Version: 1.11.0");
        SchedulerCore {
            pid: config.pid,
            framework: config.framework,
            suppressed_roles: config.suppressed_roles.into_iter().collect(),
            offer_constraints: OfferConstraints::default(),
            credential: config.credential,
            implicit_acknowledgements: config.implicit_acknowledgements,
            flags: config.flags,
            failover,
            master: None,
            connected: false,
            send_update_framework_on_connect: false,
            running: true,
            terminated: false,
            registration_generation: 0,
            saved_offers: HashMap::new(),
            saved_slave_pids: HashMap::new(),
            authenticating: None,
            attempts: 0,
            authenticated: false,
            reauthenticate: false,
            rng: Rng::new(config.seed),
            effects: Vec::new(),
        }
    }

    /// The framework as the driver knows it (its id once registered).
    pub fn framework(&self) -> &FrameworkInfo {
        &self.framework
    }

    /// Whether the driver is registered with the current master.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The current leader, if any.
    pub fn master(&self) -> Option<&Leader> {
        self.master.as_ref()
    }

    /// Whether the core has stopped handling inputs.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// Mirrors the front end's `running` flag (only ever cleared).
    pub fn set_running(&mut self, running: bool) {
        self.running = self.running && running;
    }

    /// Handles one input. `now` is the wall clock in seconds since the Unix
    /// epoch (Mesos's timestamps), used for updates the driver makes itself.
    pub fn handle(&mut self, now: f64, input: Input) -> Vec<Effect> {
        if self.terminated {
            return Vec::new();
        }
        match input {
            Input::Detected(leader) => self.detected(leader),
            Input::Message { from, message } => self.message(from, message),
            Input::Authentication { attempt, from, message } => self.authentication_message(attempt, from, message),
            Input::Timer(Timer::Registration { generation, max_backoff }) => {
                if generation == self.registration_generation {
                    self.do_reliable_registration(max_backoff);
                }
            }
            Input::Timer(Timer::Authentication { attempt }) => self.authentication_timeout(attempt),
            Input::Call(call) => self.call(now, call),
        }
        std::mem::take(&mut self.effects)
    }

    fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    fn callback(&mut self, callback: Callback) {
        self.effects.push(Effect::Callback(callback));
    }

    fn send_to_master(&mut self, message: impl Into<Message>) {
        if let Some(master) = &self.master {
            let to = master.pid.clone();
            self.effects.push(Effect::Send { to, message: message.into() });
        }
    }

    fn is_leader(&self, from: &Upid) -> bool {
        self.master.as_ref().is_some_and(|m| &m.pid == from)
    }

    fn leader_text(&self) -> String {
        self.master.as_ref().map(|m| m.pid.to_string()).unwrap_or_default()
    }

    // ---- Detection, authentication, registration ----

    fn detected(&mut self, leader: Option<Leader>) {
        if !self.running {
            tracing::debug!("Ignoring the master change because the driver is not running!");
            return;
        }
        self.master = leader;
        if self.connected {
            // The master failed, or failed over to another (or the same)
            // master: either way the driver reconnects.
            self.callback(Callback::Disconnected);
        }
        self.connected = false;
        match self.master.clone() {
            Some(master) => {
                tracing::info!("New master detected at {}", master.pid);
                self.emit(Effect::Link(master.pid.clone()));
                // Cancel a pending registration retry.
                self.registration_generation += 1;
                if self.credential.is_some() {
                    let min = self.flags.authentication_timeout_min;
                    let max =
                        (min + self.flags.authentication_backoff_factor * 2).min(self.flags.authentication_timeout_max);
                    self.authenticate(min, max);
                } else {
                    tracing::info!("No credentials provided. Attempting to register without authentication");
                    self.do_reliable_registration(self.flags.registration_backoff_factor);
                }
            }
            None => tracing::info!("No master detected"),
        }
    }

    fn authenticate(&mut self, min: Duration, max: Duration) {
        if !self.running {
            tracing::debug!("Ignoring authenticate because the driver is not running!");
            return;
        }
        self.authenticated = false;
        let Some(master) = self.master.clone() else { return };
        if let Some(mut attempt) = self.authenticating.take() {
            // An attempt is under way: discard it; its end retries.
            self.reauthenticate = true;
            let outcome = attempt.authenticatee.discard();
            self.authentication_finished(attempt, outcome);
            return;
        }
        tracing::info!("Authenticating with master {}", master.pid);
        tracing::info!("Using default CRAM-MD5 authenticatee");
        let credential = self.credential.clone().unwrap_or_default();
        self.attempts += 1;
        let id = self.attempts;
        let mut authenticatee = Authenticatee::new(credential, self.pid.clone());
        let timeout = min + (max.saturating_sub(min)).mul_f64(self.rng.unit());
        match authenticatee.start() {
            Ok(hello) => {
                self.emit(Effect::SpawnAuthenticatee { attempt: id });
                self.emit(Effect::SendAsAuthenticatee { attempt: id, to: master.pid, message: hello.into() });
                self.emit(Effect::SetTimer { timer: Timer::Authentication { attempt: id }, after: timeout });
                self.authenticating = Some(Attempt { id, authenticatee, min, max });
            }
            Err(outcome) => {
                let attempt = Attempt { id, authenticatee, min, max };
                self.authentication_finished(attempt, outcome);
            }
        }
    }

    fn authentication_message(&mut self, attempt: u64, from: Upid, message: Message) {
        let Some(current) = self.authenticating.as_mut().filter(|a| a.id == attempt) else {
            tracing::debug!("Ignoring {} for a finished authentication attempt", message.name());
            return;
        };
        match current.authenticatee.handle(&message) {
            AuthenticateeStep::Reply(reply) => {
                self.emit(Effect::SendAsAuthenticatee { attempt, to: from, message: reply });
            }
            AuthenticateeStep::Finished(outcome) => {
                if let Some(attempt) = self.authenticating.take() {
                    self.authentication_finished(attempt, outcome);
                }
            }
            AuthenticateeStep::Ignored => {}
        }
    }

    fn authentication_timeout(&mut self, attempt: u64) {
        if self.authenticating.as_ref().is_some_and(|a| a.id == attempt) {
            tracing::warn!("Authentication timed out");
            if let Some(mut current) = self.authenticating.take() {
                let outcome = current.authenticatee.discard();
                self.authentication_finished(current, outcome);
            }
        }
    }

    /// Apache's `_authenticate`: what to do once an attempt is over.
    fn authentication_finished(&mut self, attempt: Attempt, outcome: Outcome) {
        if !self.running {
            tracing::debug!("Ignoring _authenticate because the driver is not running!");
            return;
        }
        self.emit(Effect::EndAuthenticatee { attempt: attempt.id });
        let Some(master) = self.master.clone() else {
            tracing::info!("Ignoring _authenticate because the master is lost");
            self.reauthenticate = false;
            return;
        };
        if self.reauthenticate || matches!(outcome, Outcome::Failed(_)) {
            let why = match &outcome {
                _ if self.reauthenticate => "master changed".to_string(),
                Outcome::Failed(e) => e.clone(),
                _ => "future discarded".to_string(),
            };
            tracing::info!("Failed to authenticate with master {}: {why}", master.pid);
            self.reauthenticate = false;
            // Grow the timeout range: [min, min + factor*2^n], up to max.
            let grown = attempt.min + attempt.max.saturating_sub(attempt.min) * 2;
            self.authenticate(attempt.min, grown.min(self.flags.authentication_timeout_max));
            return;
        }
        if outcome == Outcome::Refused {
            tracing::error!("Master {} refused authentication", master.pid);
            self.error("Master refused authentication".to_string());
            return;
        }
        tracing::info!("Successfully authenticated with master {}", master.pid);
        self.authenticated = true;
        self.do_reliable_registration(self.flags.registration_backoff_factor);
    }

    fn do_reliable_registration(&mut self, max_backoff: Duration) {
        if !self.running || self.connected {
            return;
        }
        let Some(master) = self.master.clone() else { return };
        if self.credential.is_some() && !self.authenticated {
            return;
        }
        tracing::debug!("Sending SUBSCRIBE call to {}", master.pid);
        let mut subscribe = call::Subscribe {
            framework_info: self.framework.clone(),
            force: None,
            suppressed_roles: self.suppressed_roles.iter().cloned().collect(),
            offer_constraints: Some(self.offer_constraints.clone()),
        };
        let mut message = call(&self.framework, call::Type::Subscribe);
        if has_id(&self.framework) {
            subscribe.force = Some(self.failover);
        } else {
            message.framework_id = None;
        }
        message.subscribe = Some(subscribe);
        self.emit(Effect::Send { to: master.pid, message: message.into() });

        let mut max_backoff = max_backoff.min(REGISTRATION_RETRY_INTERVAL_MAX);
        if let Some(timeout) = self.framework.failover_timeout {
            if let Ok(timeout) = Duration::try_from_secs_f64(timeout) {
                if !timeout.is_zero() {
                    max_backoff = max_backoff.min(timeout / 10);
                }
            }
        }
        let delay = max_backoff.mul_f64(self.rng.unit());
        tracing::debug!("Will retry registration in {delay:?} if necessary");
        let timer = Timer::Registration { generation: self.registration_generation, max_backoff: max_backoff * 2 };
        self.emit(Effect::SetTimer { timer, after: delay });
    }

    // ---- Messages from the master (and executors) ----

    fn message(&mut self, from: Upid, message: Message) {
        match message {
            Message::SchedulerEvent(event) => self.event(from, *event),
            Message::FrameworkRegisteredMessage(m) => self.registered(&from, m.framework_id, m.master_info),
            Message::FrameworkReregisteredMessage(m) => self.reregistered(&from, m.framework_id, m.master_info),
            Message::ResourceOffersMessage(m) => {
                let m = *m;
                self.resource_offers(&from, m.offers, m.pids)
            }
            Message::RescindResourceOfferMessage(m) => self.rescind_offer(&from, m.offer_id),
            Message::StatusUpdateMessage(m) => {
                let m = *m;
                let pid = m.pid.as_deref().and_then(|p| p.parse::<Upid>().ok());
                self.status_update(Some(&from), m.update, pid.as_ref());
            }
            Message::LostSlaveMessage(m) => self.lost_slave(&from, m.slave_id),
            Message::ExitedExecutorMessage(m) => self.lost_executor(&from, m.executor_id, m.slave_id, m.status),
            Message::ExecutorToFrameworkMessage(m) => {
                let m = *m;
                self.framework_message(m.slave_id, m.executor_id, m.data)
            }
            Message::FrameworkErrorMessage(m) => self.error(m.message),
            other => tracing::debug!("Dropping unexpected {} from {from}", other.name()),
        }
    }

    fn drop_event(&self, event: &SchedulerEvent, why: &str) {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok()).unwrap_or(event::Type::Unknown);
        tracing::warn!("Dropping {}: {why}", kind.as_str_name());
    }

    /// A `mesos.scheduler.Event` (what a master sends a subscriber that
    /// speaks the v1 protocol over libprocess).
    fn event(&mut self, from: Upid, event: SchedulerEvent) {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok()).unwrap_or(event::Type::Unknown);
        match kind {
            event::Type::Subscribed => {
                let Some(subscribed) = &event.subscribed else {
                    return self.drop_event(&event, "Expecting 'subscribed' to be present");
                };
                let Some(master) = &self.master else {
                    return self.drop_event(&event, "No master detected");
                };
                let info = master.info.clone();
                let framework_id = subscribed.framework_id.clone();
                self.registration_generation += 1;
                if !has_id(&self.framework) || self.failover {
                    self.registered(&from, framework_id, info);
                } else {
                    self.reregistered(&from, framework_id, info);
                }
            }
            event::Type::Offers => {
                let Some(offers) = &event.offers else {
                    return self.drop_event(&event, "Expecting 'offers' to be present");
                };
                let mut pids = Vec::with_capacity(offers.offers.len());
                for offer in &offers.offers {
                    let Some(url) = &offer.url else {
                        return self.drop_event(&event, "Offer.url required for Event support");
                    };
                    let Some(path) = &url.path else {
                        return self.drop_event(&event, "Offer.url.path required for Event support");
                    };
                    let Some(ip) = url.address.ip.as_deref().and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
                    else {
                        return self.drop_event(&event, "Failed to parse Offer.url.address.ip");
                    };
                    let Ok(port) = u16::try_from(url.address.port) else {
                        return self.drop_event(&event, "Offer.url.address.port out of range");
                    };
                    let id = path.trim_matches('/');
                    pids.push(format!("{id}@{ip}:{port}"));
                }
                let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                self.resource_offers(&from, offers, pids);
            }
            event::Type::Rescind => match event.rescind {
                Some(rescind) => self.rescind_offer(&from, rescind.offer_id),
                None => self.drop_event(&event, "Expecting 'rescind' to be present"),
            },
            event::Type::Update => {
                let Some(update) = &event.update else {
                    return self.drop_event(&event, "Expecting 'update' to be present");
                };
                let status = update.status.clone();
                let update = mi::StatusUpdate {
                    framework_id: self.framework.id.clone().unwrap_or_default(),
                    executor_id: status.executor_id.clone(),
                    slave_id: status.slave_id.clone(),
                    timestamp: status.timestamp.unwrap_or_default(),
                    uuid: status.uuid.clone(),
                    status,
                    latest_state: None,
                };
                // No pid: the uuid's presence alone decides acknowledgement.
                self.status_update(Some(&from), update, None);
            }
            event::Type::UpdateOperationStatus => {}
            event::Type::Message => match event.message {
                Some(m) => self.framework_message(m.slave_id, m.executor_id, m.data),
                None => self.drop_event(&event, "Expecting 'message' to be present"),
            },
            event::Type::Failure => {
                let Some(failure) = &event.failure else {
                    return self.drop_event(&event, "Expecting 'failure' to be present");
                };
                match (&failure.slave_id, &failure.executor_id, failure.status) {
                    (Some(slave_id), Some(executor_id), Some(status)) => {
                        self.lost_executor(&from, executor_id.clone(), slave_id.clone(), status)
                    }
                    (Some(_), Some(_), None) => self.drop_event(&event, "Expecting 'status' to be present"),
                    (Some(slave_id), None, _) => self.lost_slave(&from, slave_id.clone()),
                    (None, _, _) => self.drop_event(&event, "Expecting 'slave_id' to be present"),
                }
            }
            event::Type::Error => match event.error {
                Some(e) => self.error(e.message),
                None => self.drop_event(&event, "Expecting 'error' to be present"),
            },
            event::Type::InverseOffers | event::Type::RescindInverseOffer | event::Type::Heartbeat => {}
            event::Type::Unknown => self.drop_event(&event, "Unknown event"),
        }
    }

    fn registered(&mut self, from: &Upid, framework_id: FrameworkId, master_info: MasterInfo) {
        if !self.running {
            tracing::debug!("Ignoring framework registered message because the driver is not running!");
            return;
        }
        if self.connected {
            tracing::debug!("Ignoring framework registered message because the driver is already connected!");
            return;
        }
        if !self.is_leader(from) {
            tracing::warn!(
                "Ignoring framework registered message because it was sent from '{from}' instead of the leading master '{}'",
                self.leader_text()
            );
            return;
        }
        tracing::info!("Framework registered with {}", framework_id.value);
        self.framework.id = Some(framework_id.clone());
        self.connected = true;
        self.failover = false;
        if self.send_update_framework_on_connect {
            self.send_update_framework();
        }
        self.send_update_framework_on_connect = false;
        self.callback(Callback::Registered { framework_id, master_info });
    }

    fn reregistered(&mut self, from: &Upid, framework_id: FrameworkId, master_info: MasterInfo) {
        if !self.running {
            tracing::debug!("Ignoring framework reregistered message because the driver is not running!");
            return;
        }
        if self.connected {
            tracing::debug!("Ignoring framework reregistered message because the driver is already connected!");
            return;
        }
        if !self.is_leader(from) {
            tracing::warn!(
                "Ignoring framework reregistered message because it was sent from '{from}' instead of the leading master '{}'",
                self.leader_text()
            );
            return;
        }
        if self.framework.id.as_ref() != Some(&framework_id) {
            tracing::error!(
                "Ignoring framework reregistered message for framework {} (this framework is {})",
                framework_id.value,
                self.framework.id.as_ref().map(|id| id.value.as_str()).unwrap_or_default()
            );
            return;
        }
        tracing::info!("Framework reregistered with {}", framework_id.value);
        self.connected = true;
        self.failover = false;
        if self.send_update_framework_on_connect {
            self.send_update_framework();
        }
        self.send_update_framework_on_connect = false;
        self.callback(Callback::Reregistered { master_info });
    }

    /// The checks every message from the master passes: running, connected,
    /// from the leading master.
    fn accept_from_master(&self, from: &Upid, what: &str) -> bool {
        if !self.running {
            tracing::debug!("Ignoring {what} message because the driver is not running!");
            return false;
        }
        if !self.connected {
            tracing::debug!("Ignoring {what} message because the driver is disconnected!");
            return false;
        }
        if !self.is_leader(from) {
            tracing::debug!(
                "Ignoring {what} message because it was sent from '{from}' instead of the leading master '{}'",
                self.leader_text()
            );
            return false;
        }
        true
    }

    fn resource_offers(&mut self, from: &Upid, offers: Vec<Offer>, pids: Vec<String>) {
        if !self.accept_from_master(from, "resource offers") {
            return;
        }
        // Inverse offers alone come as an empty list: v0 has no callback for them.
        if offers.is_empty() {
            return;
        }
        if offers.len() != pids.len() {
            tracing::warn!("Dropping resource offers: {} offers but {} agent pids", offers.len(), pids.len());
            return;
        }
        tracing::trace!("Received {} offers", offers.len());
        for (offer, pid) in offers.iter().zip(&pids) {
            match pid.parse::<Upid>() {
                Ok(pid) => {
                    self.saved_offers.entry(offer.id.clone()).or_default().insert(offer.slave_id.clone(), pid);
                }
                Err(_) => tracing::debug!("Failed to parse PID '{pid}'"),
            }
        }
        self.callback(Callback::ResourceOffers { offers });
    }

    fn rescind_offer(&mut self, from: &Upid, offer_id: OfferId) {
        if !self.accept_from_master(from, "rescind offer") {
            return;
        }
        tracing::debug!("Rescinded offer {}", offer_id.value);
        self.saved_offers.remove(&offer_id);
        self.callback(Callback::OfferRescinded { offer_id });
    }

    /// `from`/`pid` `None` are Apache's empty `UPID()`: an update the driver
    /// made itself, or one without a sender pid.
    fn status_update(&mut self, from: Option<&Upid>, update: mi::StatusUpdate, pid: Option<&Upid>) {
        if !self.running {
            tracing::debug!("Ignoring task status update message because the driver is not running!");
            return;
        }
        if let Some(from) = from {
            if !self.accept_from_master(from, "status update") {
                return;
            }
        }
        let ours = self.framework.id.clone().unwrap_or_default();
        if update.framework_id != ours {
            tracing::warn!(
                "Ignoring status update for framework {} (this framework is {})",
                update.framework_id.value,
                ours.value
            );
            return;
        }
        let has_uuid = update.uuid.as_ref().is_some_and(|u| !u.is_empty());
        let mut status = update.status.clone();
        // Only an update that needs acknowledging shows its uuid.
        status.uuid = if has_uuid && from.is_some() && pid.is_some() { update.uuid.clone() } else { None };
        self.callback(Callback::StatusUpdate { status });

        if self.implicit_acknowledgements && (has_uuid || (from.is_some() && pid.is_some())) {
            let Some(master) = &self.master else { return };
            let to = master.pid.clone();
            let mut ack = call(&self.framework, call::Type::Acknowledge);
            ack.acknowledge = Some(call::Acknowledge {
                slave_id: update.slave_id.clone().unwrap_or_default(),
                task_id: update.status.task_id.clone(),
                uuid: update.uuid.clone().unwrap_or_default(),
            });
            tracing::trace!("Sending ACK for status update of task {} to {to}", update.status.task_id.value);
            self.emit(Effect::SendIfRunning { to, message: ack.into() });
        }
    }

    fn lost_slave(&mut self, from: &Upid, slave_id: SlaveId) {
        if !self.accept_from_master(from, "lost agent") {
            return;
        }
        tracing::debug!("Lost agent {}", slave_id.value);
        self.saved_slave_pids.remove(&slave_id);
        self.callback(Callback::SlaveLost { slave_id });
    }

    fn lost_executor(&mut self, from: &Upid, executor_id: ExecutorId, slave_id: SlaveId, status: i32) {
        if !self.accept_from_master(from, "lost executor") {
            return;
        }
        tracing::debug!("Executor {} on agent {} exited with status {status}", executor_id.value, slave_id.value);
        self.callback(Callback::ExecutorLost { executor_id, slave_id, status });
    }

    /// Framework messages come straight from executors' agents, so no
    /// sender or connection check applies (as in Apache).
    fn framework_message(&mut self, slave_id: SlaveId, executor_id: ExecutorId, data: Vec<u8>) {
        if !self.running {
            tracing::debug!("Ignoring framework message because the driver is not running!");
            return;
        }
        tracing::trace!("Received framework message");
        self.callback(Callback::FrameworkMessage { executor_id, slave_id, data });
    }

    /// An error ends the driver: abort, then tell the scheduler. Apache
    /// accepts `FrameworkErrorMessage` from any sender, and so do we.
    fn error(&mut self, message: String) {
        if !self.running {
            tracing::debug!("Ignoring error message because the driver is not running!");
            return;
        }
        tracing::info!("Got error '{message}'");
        self.emit(Effect::AbortDriver);
        self.running = false;
        self.callback(Callback::Error { message });
    }

    // ---- Driver calls ----

    fn call(&mut self, now: f64, call: Call) {
        match call {
            Call::Stop { failover } => self.stop(failover),
            Call::Abort => self.abort(),
            Call::KillTask(task_id) => {
                if !self.connected {
                    tracing::debug!("Ignoring kill task message as master is disconnected");
                    return;
                }
                let mut m = self::call(&self.framework, call::Type::Kill);
                m.kill = Some(call::Kill { task_id, slave_id: None, kill_policy: None });
                self.send_to_master(m);
            }
            Call::RequestResources(requests) => {
                if !self.connected {
                    tracing::debug!("Ignoring request resources message as master is disconnected");
                    return;
                }
                let mut m = self::call(&self.framework, call::Type::Request);
                m.request = Some(call::Request { requests });
                self.send_to_master(m);
            }
            Call::LaunchTasks { offer_ids, tasks, filters } => {
                let launch = offer::Operation {
                    r#type: Some(offer::operation::Type::Launch as i32),
                    launch: Some(offer::operation::Launch { task_infos: tasks }),
                    ..Default::default()
                };
                self.accept_offers(now, offer_ids, vec![launch], filters);
            }
            Call::AcceptOffers { offer_ids, operations, filters } => {
                self.accept_offers(now, offer_ids, operations, filters)
            }
            Call::DeclineOffer { offer_id, filters } => self.decline_offer(offer_id, filters),
            Call::ReviveOffers(roles) => self.revive_offers(roles),
            Call::SuppressOffers(roles) => self.suppress_offers(roles),
            Call::AcknowledgeStatusUpdate(status) => self.acknowledge_status_update(status),
            Call::SendFrameworkMessage { executor_id, slave_id, data } => {
                self.send_framework_message(executor_id, slave_id, data)
            }
            Call::ReconcileTasks(statuses) => {
                if !self.connected {
                    tracing::debug!("Ignoring task reconciliation as master is disconnected");
                    return;
                }
                let mut m = self::call(&self.framework, call::Type::Reconcile);
                let tasks = statuses
                    .into_iter()
                    .map(|s| call::reconcile::Task { task_id: s.task_id, slave_id: s.slave_id })
                    .collect();
                m.reconcile = Some(call::Reconcile { tasks });
                self.send_to_master(m);
            }
            Call::UpdateFramework { framework, suppressed_roles, offer_constraints } => {
                self.update_framework(framework, suppressed_roles, offer_constraints)
            }
            Call::Misuse(message) => self.error(message),
        }
    }

    fn stop(&mut self, failover: bool) {
        tracing::info!("Stopping framework {}", self.framework.id.as_ref().map(|i| i.value.as_str()).unwrap_or(""));
        self.terminated = true;
        self.emit(Effect::Terminate);
        if self.connected && !failover {
            let m = call(&self.framework, call::Type::Teardown);
            self.send_to_master(m);
        }
        self.emit(Effect::Release);
    }

    fn abort(&mut self) {
        tracing::info!("Aborting framework {}", self.framework.id.as_ref().map(|i| i.value.as_str()).unwrap_or(""));
        self.running = false;
        if !self.connected {
            tracing::debug!("Not sending a deactivate message as master is disconnected");
        } else {
            let m = mi::DeactivateFrameworkMessage { framework_id: self.framework.id.clone().unwrap_or_default() };
            self.send_to_master(m);
        }
        self.emit(Effect::Release);
    }

    fn accept_offers(
        &mut self,
        now: f64,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Filters,
    ) {
        let is_launch = |op: &offer::Operation| op.r#type == Some(offer::operation::Type::Launch as i32);
        if !self.connected {
            tracing::debug!("Ignoring accept offers message as master is disconnected");
            // Tasks the master never saw: TASK_DROPPED (TASK_LOST for
            // frameworks that are not partition-aware), from the driver.
            let partition_aware = self
                .framework
                .capabilities
                .iter()
                .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32));
            let state = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
            for op in operations.iter().filter(|op| is_launch(op)) {
                for task in op.launch.iter().flat_map(|l| &l.task_infos) {
                    let update = driver_update(&self.framework, task.task_id.clone(), state, now);
                    self.status_update(None, update, None);
                }
            }
            return;
        }
        if operations.iter().any(|op| op.id.is_some()) {
            self.error(
                "An offer operation's 'id' field was set, which is disallowed because the SchedulerDriver \
                 cannot handle offer operation status updates"
                    .to_string(),
            );
            return;
        }
        for offer_id in &offer_ids {
            match self.saved_offers.remove(offer_id) {
                None => tracing::warn!("Attempting to accept an unknown offer {}", offer_id.value),
                Some(pids) => {
                    // Keep the pids of agents where tasks run, for direct messages.
                    for op in operations.iter().filter(|op| is_launch(op)) {
                        for task in op.launch.iter().flat_map(|l| &l.task_infos) {
                            match pids.get(&task.slave_id) {
                                Some(pid) => {
                                    self.saved_slave_pids.insert(task.slave_id.clone(), pid.clone());
                                }
                                None => tracing::warn!(
                                    "Attempting to launch task {} with the wrong agent id {}",
                                    task.task_id.value,
                                    task.slave_id.value
                                ),
                            }
                        }
                    }
                }
            }
        }
        let mut m = call(&self.framework, call::Type::Accept);
        m.accept = Some(call::Accept { offer_ids, operations, filters: Some(filters) });
        self.send_to_master(m);
    }

    fn decline_offer(&mut self, offer_id: OfferId, filters: Filters) {
        if !self.connected {
            tracing::debug!("Ignoring decline offer message as master is disconnected");
            return;
        }
        if self.saved_offers.remove(&offer_id).is_none() {
            tracing::warn!("Attempting to decline an unknown offer {}", offer_id.value);
        }
        let mut m = call(&self.framework, call::Type::Decline);
        m.decline = Some(call::Decline { offer_ids: vec![offer_id], filters: Some(filters) });
        self.send_to_master(m);
    }

    fn revive_offers(&mut self, roles: Vec<String>) {
        if roles.is_empty() {
            self.suppressed_roles.clear();
        } else {
            for role in &roles {
                self.suppressed_roles.remove(role);
            }
        }
        if !self.connected {
            tracing::debug!(
                "Ignoring REVIVE as master is disconnected; the set of suppressed roles in the driver has been \
                 updated and will be sent to the master during re-registration"
            );
            self.send_update_framework_on_connect = true;
            return;
        }
        let mut m = call(&self.framework, call::Type::Revive);
        if !roles.is_empty() {
            m.revive = Some(call::Revive { roles });
        }
        self.send_to_master(m);
    }

    fn suppress_offers(&mut self, roles: Vec<String>) {
        if roles.is_empty() {
            self.suppressed_roles = self.framework.roles.iter().cloned().collect();
        } else {
            self.suppressed_roles.extend(roles.iter().cloned());
        }
        if !self.connected {
            tracing::debug!(
                "Ignoring SUPPRESS as master is disconnected; the set of suppressed roles in the driver has been \
                 updated and will be sent to the master during re-registration"
            );
            self.send_update_framework_on_connect = true;
            return;
        }
        let mut m = call(&self.framework, call::Type::Suppress);
        if !roles.is_empty() {
            m.suppress = Some(call::Suppress { roles });
        }
        self.send_to_master(m);
    }

    fn acknowledge_status_update(&mut self, status: TaskStatus) {
        if self.implicit_acknowledgements {
            self.error("Cannot call acknowledgeStatusUpdate: Implicit acknowledgements are enabled".to_string());
            return;
        }
        if !self.connected {
            tracing::debug!("Ignoring explicit status update acknowledgement because the driver is disconnected");
            return;
        }
        // Acknowledgements requested before a stop or abort still go out,
        // so `running` is deliberately not consulted here.
        match (&status.uuid, &status.slave_id) {
            (Some(uuid), Some(slave_id)) => {
                let mut m = call(&self.framework, call::Type::Acknowledge);
                m.acknowledge = Some(call::Acknowledge {
                    slave_id: slave_id.clone(),
                    task_id: status.task_id.clone(),
                    uuid: uuid.clone(),
                });
                tracing::trace!("Sending ACK for status update of task {}", status.task_id.value);
                self.send_to_master(m);
            }
            _ => tracing::trace!("Received ACK for status update of task {}", status.task_id.value),
        }
    }

    fn send_framework_message(&mut self, executor_id: ExecutorId, slave_id: SlaveId, data: Vec<u8>) {
        if !self.connected {
            tracing::debug!("Ignoring send framework message as master is disconnected");
            return;
        }
        tracing::trace!("Asked to send framework message to agent {}", slave_id.value);
        match self.saved_slave_pids.get(&slave_id).cloned() {
            Some(agent) => {
                let m = mi::FrameworkToExecutorMessage {
                    slave_id,
                    framework_id: self.framework.id.clone().unwrap_or_default(),
                    executor_id,
                    data,
                };
                self.emit(Effect::Send { to: agent, message: m.into() });
            }
            None => {
                tracing::debug!("Cannot send directly to agent {}; sending through master", slave_id.value);
                let mut m = call(&self.framework, call::Type::Message);
                m.message = Some(call::Message { slave_id, executor_id, data });
                self.send_to_master(m);
            }
        }
    }

    fn update_framework(
        &mut self,
        framework: FrameworkInfo,
        suppressed: BTreeSet<String>,
        constraints: OfferConstraints,
    ) {
        if !has_id(&self.framework) {
            self.error(
                "MesosSchedulerDriver::updateFramework() must not be called prior to registration with the master"
                    .to_string(),
            );
            return;
        }
        if framework.id != self.framework.id {
            let given = framework.id.as_ref().map(|id| id.value.as_str()).unwrap_or_default();
            let known = self.framework.id.as_ref().map(|id| id.value.as_str()).unwrap_or_default();
            self.error(format!(
                "The 'FrameworkInfo.id' provided to MesosSchedulerDriver::updateFramework() ({given}) must be equal \
                 to the value known to the MesosSchedulerDriver ({known})"
            ));
            return;
        }
        self.framework = framework;
        self.suppressed_roles = suppressed;
        self.offer_constraints = constraints;
        if self.connected {
            self.send_update_framework();
        } else {
            tracing::debug!("Postponing UPDATE_FRAMEWORK call: not registered with master");
            self.send_update_framework_on_connect = true;
        }
    }

    fn send_update_framework(&mut self) {
        let mut m = call(&self.framework, call::Type::UpdateFramework);
        m.update_framework = Some(call::UpdateFramework {
            framework_info: self.framework.clone(),
            suppressed_roles: self.suppressed_roles.iter().cloned().collect(),
            offer_constraints: Some(self.offer_constraints.clone()),
        });
        tracing::debug!("Sending UPDATE_FRAMEWORK message");
        self.send_to_master(m);
    }
}

/// A status update the driver makes itself for a task the master never saw
/// (`protobuf::createStatusUpdate` with source MASTER and no uuid).
fn driver_update(framework: &FrameworkInfo, task_id: TaskId, state: TaskState, now: f64) -> mi::StatusUpdate {
    let status = TaskStatus {
        task_id,
        state: state as i32,
        source: Some(task_status::Source::Master as i32),
        message: Some("Master disconnected".to_string()),
        reason: Some(task_status::Reason::MasterDisconnected as i32),
        timestamp: Some(now),
        ..Default::default()
    };
    mi::StatusUpdate {
        framework_id: framework.id.clone().unwrap_or_default(),
        executor_id: None,
        slave_id: None,
        status,
        timestamp: now,
        uuid: None,
        latest_state: None,
    }
}
