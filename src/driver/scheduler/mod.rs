//! `MesosSchedulerDriver`: Apache's scheduler driver (`src/sched/sched.cpp`).
//!
//! # Shape
//! - [`core`]: every decision, sans-IO ([`SchedulerCore`]).
//! - This file: the front end (the [`SchedulerDriver`] calls, their status
//!   checks and the `Status` each returns, under one lock as Apache's
//!   `synchronized (mutex)`), and the driver's thread, which feeds the core
//!   and carries out its effects.
//!
//! # Threads
//! A started driver owns one OS thread (named after its process id,
//! `scheduler-<uuid>`). Everything that happens to the driver becomes an input
//! on that thread's queue, in arrival order: messages to its libprocess
//! process, leader changes from the detector, timers, and the calls made on
//! the driver (from any thread; a call made inside a callback is queued
//! behind the callback, as Apache's `dispatch` is). The thread hands each
//! input to the core and invokes the [`Scheduler`] callbacks the core asks for,
//! one at a time. Calls never block, except [`SchedulerDriver::join`] (and
//! `run`), which waits until the driver has stopped or aborted.
//!
//! # Failures inside callbacks
//! A callback that panics is caught on the driver's thread (it never unwinds
//! into the caller of the driver, e.g. a JVM), logged, and the driver is
//! aborted, as Apache's JNI layer aborts the driver when a Java callback
//! throws. A binding that catches its own exceptions does the same by calling
//! `driver.abort()` from the callback.
//!
//! # Dropping
//! Dropping a started driver ends its process without a TEARDOWN or a
//! deactivation (as Apache's destructor terminates the `SchedulerProcess`)
//! and waits for its thread, unless dropped from inside one of its own
//! callbacks.

pub mod core;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use crate::proto::mesos::scheduler::OfferConstraints;
use crate::proto::mesos::{
    offer, Credential, ExecutorId, Filters, FrameworkInfo, OfferId, Request, SlaveId, Status, TaskId, TaskInfo,
    TaskStatus,
};
use crate::v0_compat::{Event, Message, Node, Process, ProcessHandle, Upid, WireMessage};

use super::detector::{Detector, Leader};
use super::flags::{self, SchedulerFlags, DEFAULT_AUTHENTICATEE};
use super::runtime::{self, unix_now, Libprocess};
use super::shell::{Envelope, Shell, State};
use super::{Scheduler, SchedulerDriver};

pub use self::core::{Call, Callback, Config as CoreConfig, Effect, Input, SchedulerCore, Timer};

/// Builds a [`MesosSchedulerDriver`] with Apache's optional arguments.
pub struct SchedulerDriverBuilder {
    scheduler: Box<dyn Scheduler>,
    framework: FrameworkInfo,
    master: String,
    implicit_acknowledgements: bool,
    credential: Option<Credential>,
    suppressed_roles: Vec<String>,
    detector: Option<Detector>,
    environment: Option<HashMap<String, String>>,
    seed: Option<u64>,
}

impl SchedulerDriverBuilder {
    /// Whether the driver acknowledges status updates itself after the
    /// `status_update` callback (Apache's default, `true`), or the scheduler
    /// does with `acknowledge_status_update`.
    pub fn implicit_acknowledgements(mut self, implicit: bool) -> Self {
        self.implicit_acknowledgements = implicit;
        self
    }

    /// Authenticate with CRAM-MD5 before registering.
    pub fn credential(mut self, credential: Option<Credential>) -> Self {
        self.credential = credential;
        self
    }

    /// Roles to subscribe with offers suppressed.
    pub fn suppressed_roles(mut self, roles: Vec<String>) -> Self {
        self.suppressed_roles = roles;
        self
    }

    /// Follow this detector instead of one made from the master string
    /// (Apache's tests do this with an appointable standalone detector).
    pub fn detector(mut self, detector: Detector) -> Self {
        self.detector = Some(detector);
        self
    }

    /// Read `MESOS_*` settings from this map instead of the process
    /// environment.
    pub fn environment(mut self, environment: HashMap<String, String>) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Seed the backoff jitter (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The driver, not yet started. As Apache's constructor, this loads the
    /// logging flags from `MESOS_*` and sets logging up; if they are invalid
    /// the driver is `DRIVER_ABORTED` and the scheduler's `error` has been
    /// called with the reason before this returns.
    pub fn build(self) -> MesosSchedulerDriver {
        let environment = self.environment.unwrap_or_else(flags::process_environment);
        let logging = flags::initialize_logging(&environment);
        let mut framework = self.framework;
        fill_missing_framework_info_fields(&mut framework);
        let config = Config {
            framework,
            master: self.master,
            detector: self.detector,
            credential: self.credential,
            implicit_acknowledgements: self.implicit_acknowledgements,
            suppressed_roles: self.suppressed_roles,
            environment,
            seed: self.seed.unwrap_or_else(super::random::seed),
            scheduler_id: format!("scheduler-{}", uuid::Uuid::new_v4()),
        };
        let shared = Arc::new(Shared { shell: Shell::new(config, self.scheduler), running: AtomicBool::new(true) });
        let driver = MesosSchedulerDriver { handle: Handle(shared) };
        if let Err(e) = logging {
            driver.handle.0.shell.lock().status = Status::DriverAborted;
            driver.handle.report_error(&e.to_string());
        }
        driver
    }
}

/// Apache's `fillMissingFrameworkInfoFields`: the current user and this
/// host's name where the framework left them empty.
pub fn fill_missing_framework_info_fields(framework: &mut FrameworkInfo) {
    if framework.user.is_empty() {
        let uid = nix::unistd::getuid();
        match nix::unistd::User::from_uid(uid) {
            Ok(Some(user)) => framework.user = user.name,
            _ => framework.user = std::env::var("USER").unwrap_or_default(),
        }
    }
    if framework.hostname.as_deref().unwrap_or_default().is_empty() {
        framework.hostname = Some(crate::common::logging::hostname());
    }
}

/// The scheduler driver. See the module docs for threads and lifetimes.
pub struct MesosSchedulerDriver {
    handle: Handle,
}

/// What callbacks receive as their driver: the same driver, by reference.
#[derive(Clone)]
struct Handle(Arc<Shared>);

struct Shared {
    shell: Shell<Input, Config, dyn Scheduler>,
    /// Apache's `running`: cleared by `stop` and `abort` before they queue
    /// their call, read by the driver's thread before every input.
    running: AtomicBool,
}

/// The constructor's arguments, kept until `start`.
struct Config {
    framework: FrameworkInfo,
    master: String,
    detector: Option<Detector>,
    credential: Option<Credential>,
    implicit_acknowledgements: bool,
    suppressed_roles: Vec<String>,
    environment: HashMap<String, String>,
    seed: u64,
    scheduler_id: String,
}

impl MesosSchedulerDriver {
    /// A driver for `scheduler` registering `framework` with the master at
    /// `master` (`host:port`, `master@host:port`, `zk://...`, `file://...`),
    /// as Apache's five-argument constructor.
    pub fn new(
        scheduler: Box<dyn Scheduler>,
        framework: FrameworkInfo,
        master: &str,
        implicit_acknowledgements: bool,
        credential: Option<Credential>,
    ) -> MesosSchedulerDriver {
        MesosSchedulerDriver::builder(scheduler, framework, master)
            .implicit_acknowledgements(implicit_acknowledgements)
            .credential(credential)
            .build()
    }

    /// A builder for the other optional arguments (suppressed roles, a
    /// detector, an environment).
    pub fn builder(scheduler: Box<dyn Scheduler>, framework: FrameworkInfo, master: &str) -> SchedulerDriverBuilder {
        SchedulerDriverBuilder {
            scheduler,
            framework,
            master: master.to_string(),
            implicit_acknowledgements: true,
            credential: None,
            suppressed_roles: Vec::new(),
            detector: None,
            environment: None,
            seed: None,
        }
    }

    /// The driver's current status.
    pub fn status(&self) -> Status {
        self.handle.0.shell.status()
    }

    /// The scheduler process's UPID, once started.
    pub fn pid(&self) -> Option<Upid> {
        self.handle.0.shell.pid()
    }

    /// Apache's `reviveOffers(roles)` overload: an empty list does nothing
    /// (whereas [`SchedulerDriver::revive_offers`] with an empty list is the
    /// no-argument `reviveOffers()`, all roles).
    pub fn revive_offers_for_roles(&self, roles: &[String]) -> Status {
        if roles.is_empty() {
            return self.status();
        }
        self.handle.revive_offers(roles)
    }

    /// Apache's `suppressOffers(roles)` overload: an empty list does nothing.
    pub fn suppress_offers_for_roles(&self, roles: &[String]) -> Status {
        if roles.is_empty() {
            return self.status();
        }
        self.handle.suppress_offers(roles)
    }
}

impl Drop for MesosSchedulerDriver {
    fn drop(&mut self) {
        self.handle.0.shell.shutdown("MesosSchedulerDriver");
    }
}

impl SchedulerDriver for MesosSchedulerDriver {
    fn start(&self) -> Status {
        self.handle.start()
    }
    fn stop(&self, failover: bool) -> Status {
        self.handle.stop(failover)
    }
    fn abort(&self) -> Status {
        self.handle.abort()
    }
    fn join(&self) -> Status {
        self.handle.join()
    }
    fn run(&self) -> Status {
        self.handle.run()
    }
    fn request_resources(&self, requests: &[Request]) -> Status {
        self.handle.request_resources(requests)
    }
    fn launch_tasks(&self, offer_ids: &[OfferId], tasks: &[TaskInfo], filters: Option<&Filters>) -> Status {
        self.handle.launch_tasks(offer_ids, tasks, filters)
    }
    fn kill_task(&self, task_id: &TaskId) -> Status {
        self.handle.kill_task(task_id)
    }
    fn accept_offers(
        &self,
        offer_ids: &[OfferId],
        operations: &[offer::Operation],
        filters: Option<&Filters>,
    ) -> Status {
        self.handle.accept_offers(offer_ids, operations, filters)
    }
    fn decline_offer(&self, offer_id: &OfferId, filters: Option<&Filters>) -> Status {
        self.handle.decline_offer(offer_id, filters)
    }
    fn revive_offers(&self, roles: &[String]) -> Status {
        self.handle.revive_offers(roles)
    }
    fn suppress_offers(&self, roles: &[String]) -> Status {
        self.handle.suppress_offers(roles)
    }
    fn acknowledge_status_update(&self, status: &TaskStatus) -> Status {
        self.handle.acknowledge_status_update(status)
    }
    fn send_framework_message(&self, executor_id: &ExecutorId, slave_id: &SlaveId, data: &[u8]) -> Status {
        self.handle.send_framework_message(executor_id, slave_id, data)
    }
    fn reconcile_tasks(&self, statuses: &[TaskStatus]) -> Status {
        self.handle.reconcile_tasks(statuses)
    }
    fn update_framework(
        &self,
        framework_info: &FrameworkInfo,
        suppressed_roles: &[String],
        offer_constraints: Option<&OfferConstraints>,
    ) -> Status {
        self.handle.update_framework(framework_info, suppressed_roles, offer_constraints)
    }
}

impl Handle {
    /// Calls the scheduler's `error` on this thread, outside the driver's
    /// thread (a failure in `start` or the constructor).
    fn report_error(&self, message: &str) {
        let Some(mut scheduler) = self.0.shell.take_user() else {
            tracing::error!("{message}");
            return;
        };
        invoke(scheduler.as_mut(), self, Callback::Error { message: message.to_string() });
        self.0.shell.put_user(Some(scheduler));
    }

    fn dispatch(&self, call: impl FnOnce() -> Call) -> Status {
        self.0.shell.dispatch(|| Input::Call(call()))
    }

    fn launch(&self, state: &mut State<Input, Config>) -> Result<(), String> {
        let config = &mut state.extra;
        let detector = match &config.detector {
            Some(detector) => detector.clone(),
            None => Detector::create(&config.master)
                .map_err(|e| format!("Failed to create a master detector for '{}': {e}", config.master))?,
        };
        config.detector = Some(detector.clone());
        let flags = SchedulerFlags::load(&config.environment).map_err(|e| e.to_string())?;
        if flags.modules {
            tracing::warn!("Ignoring MESOS_MODULES / MESOS_MODULES_DIR: modules are not supported by mesos-rs");
        }
        if config.credential.is_some() && flags.authenticatee != DEFAULT_AUTHENTICATEE {
            return Err(format!(
                "Could not create authenticatee module '{}': modules are not supported by mesos-rs",
                flags.authenticatee
            ));
        }
        let libprocess = runtime::libprocess().map_err(|e| e.to_string())?;
        let process = libprocess.node.spawn(&config.scheduler_id).map_err(|e| e.to_string())?;
        let pid = process.pid().clone();
        let core = SchedulerCore::new(CoreConfig {
            pid: pid.clone(),
            framework: config.framework.clone(),
            suppressed_roles: config.suppressed_roles.clone(),
            credential: config.credential.clone(),
            implicit_acknowledgements: config.implicit_acknowledgements,
            flags,
            seed: config.seed,
        });
        let (inbox, queue) = mpsc::channel();
        let io = Io::start(libprocess, process, inbox.clone(), detector);
        let shared = self.0.clone();
        let thread = std::thread::Builder::new()
            .name(config.scheduler_id.clone())
            .spawn(move || drive(shared, core, queue, io))
            .map_err(|e| format!("Failed to start the driver's thread: {e}"))?;
        state.started(inbox, pid, thread);
        Ok(())
    }
}

impl SchedulerDriver for Handle {
    fn start(&self) -> Status {
        self.0.shell.start(|state| self.launch(state), |message| self.report_error(message))
    }

    fn stop(&self, failover: bool) -> Status {
        tracing::info!("Asked to stop the driver");
        self.0.shell.stop(|| self.0.running.store(false, Ordering::SeqCst), Input::Call(Call::Stop { failover }))
    }

    fn abort(&self) -> Status {
        tracing::info!("Asked to abort the driver");
        self.0.shell.abort(|| self.0.running.store(false, Ordering::SeqCst), Input::Call(Call::Abort))
    }

    fn join(&self) -> Status {
        // A driver that never started (or failed to) returns at once.
        self.0.shell.join(|state| state.thread_id.is_some())
    }

    fn run(&self) -> Status {
        let status = self.start();
        if status != Status::DriverRunning {
            return status;
        }
        self.join()
    }

    fn request_resources(&self, requests: &[Request]) -> Status {
        self.dispatch(|| Call::RequestResources(requests.to_vec()))
    }

    fn launch_tasks(&self, offer_ids: &[OfferId], tasks: &[TaskInfo], filters: Option<&Filters>) -> Status {
        self.dispatch(|| Call::LaunchTasks {
            offer_ids: offer_ids.to_vec(),
            tasks: tasks.to_vec(),
            filters: filters.cloned().unwrap_or_default(),
        })
    }

    fn kill_task(&self, task_id: &TaskId) -> Status {
        self.dispatch(|| Call::KillTask(task_id.clone()))
    }

    fn accept_offers(
        &self,
        offer_ids: &[OfferId],
        operations: &[offer::Operation],
        filters: Option<&Filters>,
    ) -> Status {
        self.dispatch(|| Call::AcceptOffers {
            offer_ids: offer_ids.to_vec(),
            operations: operations.to_vec(),
            filters: filters.cloned().unwrap_or_default(),
        })
    }

    fn decline_offer(&self, offer_id: &OfferId, filters: Option<&Filters>) -> Status {
        self.dispatch(|| Call::DeclineOffer {
            offer_id: offer_id.clone(),
            filters: filters.cloned().unwrap_or_default(),
        })
    }

    fn revive_offers(&self, roles: &[String]) -> Status {
        self.dispatch(|| Call::ReviveOffers(roles.to_vec()))
    }

    fn suppress_offers(&self, roles: &[String]) -> Status {
        self.dispatch(|| Call::SuppressOffers(roles.to_vec()))
    }

    fn acknowledge_status_update(&self, status: &TaskStatus) -> Status {
        let implicit = self.0.shell.lock().extra.implicit_acknowledgements;
        if implicit {
            // Apache's driver ABORTs the whole process here; ours aborts
            // the driver and reports the misuse to the scheduler's `error`.
            return self.dispatch(|| {
                Call::Misuse("Cannot call acknowledgeStatusUpdate: Implicit acknowledgements are enabled".to_string())
            });
        }
        self.dispatch(|| Call::AcknowledgeStatusUpdate(status.clone()))
    }

    fn send_framework_message(&self, executor_id: &ExecutorId, slave_id: &SlaveId, data: &[u8]) -> Status {
        self.dispatch(|| Call::SendFrameworkMessage {
            executor_id: executor_id.clone(),
            slave_id: slave_id.clone(),
            data: data.to_vec(),
        })
    }

    fn reconcile_tasks(&self, statuses: &[TaskStatus]) -> Status {
        self.dispatch(|| Call::ReconcileTasks(statuses.to_vec()))
    }

    fn update_framework(
        &self,
        framework_info: &FrameworkInfo,
        suppressed_roles: &[String],
        offer_constraints: Option<&OfferConstraints>,
    ) -> Status {
        let mut state = self.0.shell.lock();
        if state.status != Status::DriverRunning {
            return state.status;
        }
        let mut framework = framework_info.clone();
        fill_missing_framework_info_fields(&mut framework);
        state.extra.framework = framework.clone();
        let roles: BTreeSet<String> = suppressed_roles.iter().cloned().collect();
        if roles.len() != suppressed_roles.len() {
            // Apache CHECK-fails (crashes) on duplicates; the set is what counts.
            tracing::warn!(
                "Invalid suppressed role list: contains {} duplicates {suppressed_roles:?}",
                suppressed_roles.len() - roles.len()
            );
        }
        state.send(Input::Call(Call::UpdateFramework {
            framework,
            suppressed_roles: roles,
            offer_constraints: offer_constraints.cloned().unwrap_or_default(),
        }));
        state.status
    }
}

/// The driver's I/O: its process, the tasks feeding its queue, and the
/// authenticatee processes of authentication attempts.
struct Io {
    runtime: tokio::runtime::Handle,
    node: Node,
    process: ProcessHandle,
    inbox: mpsc::Sender<Envelope<Input>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    authenticatees: HashMap<u64, (ProcessHandle, tokio::task::JoinHandle<()>)>,
}

impl Io {
    fn start(
        libprocess: &Libprocess,
        process: Process,
        inbox: mpsc::Sender<Envelope<Input>>,
        detector: Detector,
    ) -> Io {
        let runtime = libprocess.runtime.handle().clone();
        let handle = process.handle().clone();
        let forwarder = runtime::forward(&runtime, process, inbox.clone(), |event| match event {
            Event::Message { from, message } => Some(Envelope::Input(Input::Message { from, message })),
            _ => None,
        });
        let detections = inbox.clone();
        let detection = runtime.spawn(detector.follow(move |info| {
            let leader = info.and_then(|info| {
                let leader = tokio::task::block_in_place(|| Leader::from_info(info.clone()));
                if leader.is_none() {
                    tracing::error!("Cannot find the UPID of the detected master {info:?}");
                }
                leader
            });
            detections.send(Envelope::Input(Input::Detected(leader))).is_ok()
        }));
        Io {
            runtime,
            node: libprocess.node.clone(),
            process: handle,
            inbox,
            tasks: vec![forwarder, detection],
            authenticatees: HashMap::new(),
        }
    }

    fn send(&self, from: &ProcessHandle, to: &Upid, message: &Message) {
        if let Err(e) = from.send(to, message) {
            tracing::warn!("Failed to send {} to {to}: {e}", message.message_name());
        }
    }

    fn spawn_authenticatee(&mut self, attempt: u64) {
        let id = self.node.generate_id("crammd5-authenticatee");
        match self.node.spawn(&id) {
            Ok(process) => {
                let handle = process.handle().clone();
                let task = runtime::forward(&self.runtime, process, self.inbox.clone(), move |event| match event {
                    Event::Message { from, message } => {
                        Some(Envelope::Input(Input::Authentication { attempt, from, message }))
                    }
                    _ => None,
                });
                self.authenticatees.insert(attempt, (handle, task));
            }
            Err(e) => tracing::error!("Failed to spawn the authenticatee: {e}"),
        }
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for (_, task) in self.authenticatees.values() {
            task.abort();
        }
    }
}

/// The driver's thread: feeds the core and carries out its effects.
fn drive(shared: Arc<Shared>, mut core: SchedulerCore, queue: mpsc::Receiver<Envelope<Input>>, mut io: Io) {
    let mut scheduler = shared.shell.take_user();
    let driver = Handle(shared.clone());
    while let Some(input) = shared.shell.next(&queue) {
        core.set_running(shared.running.load(Ordering::SeqCst));
        for effect in core.handle(unix_now(), input) {
            match effect {
                Effect::Send { to, message } => io.send(&io.process, &to, &message),
                Effect::SendIfRunning { to, message } => {
                    if shared.running.load(Ordering::SeqCst) {
                        io.send(&io.process, &to, &message);
                    } else {
                        tracing::debug!(
                            "Not sending status update acknowledgment message because the driver is not running!"
                        );
                    }
                }
                Effect::Link(pid) => io.process.link(&pid),
                Effect::SetTimer { timer, after } => {
                    runtime::set_timer(&io.runtime, io.inbox.clone(), after, Envelope::Input(Input::Timer(timer)))
                }
                Effect::Callback(callback) => {
                    if let Some(scheduler) = scheduler.as_mut() {
                        invoke(scheduler.as_mut(), &driver, callback);
                    }
                }
                Effect::AbortDriver => {
                    driver.abort();
                }
                Effect::SpawnAuthenticatee { attempt } => io.spawn_authenticatee(attempt),
                Effect::SendAsAuthenticatee { attempt, to, message } => match io.authenticatees.get(&attempt) {
                    Some((handle, _)) => io.send(handle, &to, &message),
                    None => tracing::warn!("No authenticatee process for attempt {attempt}"),
                },
                Effect::EndAuthenticatee { attempt } => {
                    if let Some((_, task)) = io.authenticatees.remove(&attempt) {
                        task.abort();
                    }
                }
                Effect::Terminate => {}
                Effect::Release => shared.shell.release(),
            }
        }
        if core.is_terminated() {
            break;
        }
    }
    drop(io);
    shared.shell.put_user(scheduler);
}

/// Invokes one callback, catching a panic (which aborts the driver).
fn invoke(scheduler: &mut dyn Scheduler, driver: &Handle, callback: Callback) {
    let name = callback_name(&callback);
    let run = || match callback {
        Callback::Registered { framework_id, master_info } => scheduler.registered(driver, &framework_id, &master_info),
        Callback::Reregistered { master_info } => scheduler.reregistered(driver, &master_info),
        Callback::Disconnected => scheduler.disconnected(driver),
        Callback::ResourceOffers { offers } => scheduler.resource_offers(driver, &offers),
        Callback::OfferRescinded { offer_id } => scheduler.offer_rescinded(driver, &offer_id),
        Callback::StatusUpdate { status } => scheduler.status_update(driver, &status),
        Callback::FrameworkMessage { executor_id, slave_id, data } => {
            scheduler.framework_message(driver, &executor_id, &slave_id, &data)
        }
        Callback::SlaveLost { slave_id } => scheduler.slave_lost(driver, &slave_id),
        Callback::ExecutorLost { executor_id, slave_id, status } => {
            scheduler.executor_lost(driver, &executor_id, &slave_id, status)
        }
        Callback::Error { message } => scheduler.error(driver, &message),
    };
    runtime::guarded(&format!("Scheduler::{name}"), run, || {
        driver.abort();
    });
}

fn callback_name(callback: &Callback) -> &'static str {
    match callback {
        Callback::Registered { .. } => "registered",
        Callback::Reregistered { .. } => "reregistered",
        Callback::Disconnected => "disconnected",
        Callback::ResourceOffers { .. } => "resourceOffers",
        Callback::OfferRescinded { .. } => "offerRescinded",
        Callback::StatusUpdate { .. } => "statusUpdate",
        Callback::FrameworkMessage { .. } => "frameworkMessage",
        Callback::SlaveLost { .. } => "slaveLost",
        Callback::ExecutorLost { .. } => "executorLost",
        Callback::Error { .. } => "error",
    }
}

#[cfg(test)]
mod tests;
