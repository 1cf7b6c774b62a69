//! `MesosExecutorDriver`: Apache's executor driver (`src/exec/exec.cpp`).
//!
//! An executor launched by an agent finds its agent and identity in the
//! `MESOS_*` environment ([`env`]), registers as `executor(N)` on the
//! process's libprocess instance, and from then on turns agent messages into
//! [`Executor`] callbacks and its calls into messages. Updates stay with the
//! driver until the agent acknowledges them, and are resent when a restarted
//! agent asks the executor to reconnect (`MESOS_CHECKPOINT=1`).
//!
//! Threads, panics in callbacks and dropping work as for the scheduler
//! driver (see [`crate::driver::scheduler`]): one thread per driver runs the
//! [`ExecutorCore`] and the callbacks; a panicking callback aborts the driver.
//!
//! Told to shut down (by the agent, or because the agent is gone), the
//! driver calls `shutdown` and, unless `MESOS_LOCAL` is set, kills its own
//! process group after `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, as Apache's
//! does, in case the executor does not exit by itself.

pub mod core;
pub mod env;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::proto::mesos::{Status, TaskStatus};
use crate::v0_compat::{Event, ProcessHandle, Upid, WireMessage};

use super::flags;
use super::runtime::{self, lock, panic_text, unix_now, Latch};
use super::{Executor, ExecutorDriver};

pub use self::core::{Call, Callback, Config as CoreConfig, Effect, ExecutorCore, Input, Timer};
pub use self::env::{Environment, EnvironmentError};

enum Envelope {
    Input(Input),
    Terminate,
}

/// The executor driver.
pub struct MesosExecutorDriver {
    handle: Handle,
}

#[derive(Clone)]
struct Handle(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// Apache's `aborted`: set by `abort`, and once the executor is told to
    /// shut down; no message is handled after.
    aborted: AtomicBool,
    terminating: AtomicBool,
    latch: Latch,
    executor: Mutex<Option<Box<dyn Executor>>>,
}

struct State {
    status: Status,
    environment: HashMap<String, String>,
    seed: u64,
    inbox: Option<mpsc::Sender<Envelope>>,
    pid: Option<Upid>,
    thread: Option<JoinHandle<()>>,
    thread_id: Option<ThreadId>,
}

impl MesosExecutorDriver {
    /// A driver for `executor`, configured by this process's environment.
    pub fn new(executor: Box<dyn Executor>) -> MesosExecutorDriver {
        MesosExecutorDriver::with_environment(executor, flags::process_environment())
    }

    /// A driver configured by `environment` instead of the process's (Apache's
    /// two-argument constructor). As there, the logging flags are loaded now:
    /// if invalid, the driver is `DRIVER_ABORTED` and the executor's `error`
    /// has been called before this returns.
    pub fn with_environment(executor: Box<dyn Executor>, environment: HashMap<String, String>) -> MesosExecutorDriver {
        let logging = flags::initialize_logging(&environment);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                status: Status::DriverNotStarted,
                environment,
                seed: super::random::seed(),
                inbox: None,
                pid: None,
                thread: None,
                thread_id: None,
            }),
            aborted: AtomicBool::new(false),
            terminating: AtomicBool::new(false),
            latch: Latch::default(),
            executor: Mutex::new(Some(executor)),
        });
        let driver = MesosExecutorDriver { handle: Handle(shared) };
        if let Err(e) = logging {
            lock(&driver.handle.0.state).status = Status::DriverAborted;
            driver.handle.report_error(&e.to_string());
        }
        driver
    }

    /// The driver's current status.
    pub fn status(&self) -> Status {
        lock(&self.handle.0.state).status
    }

    /// The executor process's UPID, once started.
    pub fn pid(&self) -> Option<Upid> {
        lock(&self.handle.0.state).pid.clone()
    }
}

impl Drop for MesosExecutorDriver {
    fn drop(&mut self) {
        let (inbox, thread) = {
            let mut state = lock(&self.handle.0.state);
            (state.inbox.take(), state.thread.take())
        };
        if let Some(inbox) = inbox {
            self.handle.0.terminating.store(true, Ordering::SeqCst);
            let _ = inbox.send(Envelope::Terminate);
        }
        if let Some(thread) = thread {
            if thread.thread().id() == std::thread::current().id() {
                tracing::warn!("MesosExecutorDriver dropped inside its own callback; not waiting for its thread");
            } else {
                let _ = thread.join();
            }
        }
    }
}

impl ExecutorDriver for MesosExecutorDriver {
    fn start(&self) -> Status {
        self.handle.start()
    }
    fn stop(&self) -> Status {
        self.handle.stop()
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
    fn send_status_update(&self, status: &TaskStatus) -> Status {
        self.handle.send_status_update(status)
    }
    fn send_framework_message(&self, data: &[u8]) -> Status {
        self.handle.send_framework_message(data)
    }
}

impl Handle {
    fn report_error(&self, message: &str) {
        let taken = lock(&self.0.executor).take();
        let Some(mut executor) = taken else {
            tracing::error!("{message}");
            return;
        };
        invoke(executor.as_mut(), self, Callback::Error { message: message.to_string() });
        *lock(&self.0.executor) = Some(executor);
    }

    fn dispatch(&self, call: impl FnOnce() -> Call) -> Status {
        let state = lock(&self.0.state);
        if state.status != Status::DriverRunning {
            return state.status;
        }
        if let Some(inbox) = &state.inbox {
            let _ = inbox.send(Envelope::Input(Input::Call(call())));
        }
        state.status
    }

    fn launch(&self, state: &mut State) -> Result<(), String> {
        let environment = Environment::from_map(&state.environment).map_err(|e| e.to_string())?;
        let libprocess = runtime::libprocess().map_err(|e| e.to_string())?;
        let id = libprocess.node.generate_id("executor");
        let process = libprocess.node.spawn(&id).map_err(|e| e.to_string())?;
        let pid = process.pid().clone();
        let handle = process.handle().clone();
        let core = ExecutorCore::new(CoreConfig { pid: pid.clone(), environment, seed: state.seed });
        let (inbox, queue) = mpsc::channel();
        let rt = libprocess.runtime.handle().clone();
        let forwarder = runtime::forward(&rt, process, inbox.clone(), |event| match event {
            Event::Message { from, message } => Some(Envelope::Input(Input::Message { from, message })),
            Event::Exited(pid) => Some(Envelope::Input(Input::Exited(pid))),
            Event::Raw { .. } => None,
        });
        let _ = inbox.send(Envelope::Input(Input::Start));
        let io = Io { runtime: rt, process: handle, inbox: inbox.clone(), forwarder };
        let shared = self.0.clone();
        let thread = std::thread::Builder::new()
            .name(id)
            .spawn(move || drive(shared, core, queue, io))
            .map_err(|e| format!("Failed to start the driver's thread: {e}"))?;
        state.thread_id = Some(thread.thread().id());
        state.thread = Some(thread);
        state.inbox = Some(inbox);
        state.pid = Some(pid);
        Ok(())
    }
}

impl ExecutorDriver for Handle {
    fn start(&self) -> Status {
        let mut state = lock(&self.0.state);
        if state.status != Status::DriverNotStarted {
            return state.status;
        }
        match self.launch(&mut state) {
            Ok(()) => {
                state.status = Status::DriverRunning;
                Status::DriverRunning
            }
            Err(message) => {
                // Apache's driver exits the process here (EXIT(EXIT_FAILURE)).
                state.status = Status::DriverAborted;
                drop(state);
                tracing::error!("{message}");
                self.report_error(&message);
                Status::DriverAborted
            }
        }
    }

    fn stop(&self) -> Status {
        let mut state = lock(&self.0.state);
        if state.status != Status::DriverRunning && state.status != Status::DriverAborted {
            return state.status;
        }
        if let Some(inbox) = &state.inbox {
            let _ = inbox.send(Envelope::Input(Input::Call(Call::Stop)));
        }
        let aborted = state.status == Status::DriverAborted;
        state.status = Status::DriverStopped;
        if aborted {
            Status::DriverAborted
        } else {
            Status::DriverStopped
        }
    }

    fn abort(&self) -> Status {
        let mut state = lock(&self.0.state);
        if state.status != Status::DriverRunning {
            return state.status;
        }
        self.0.aborted.store(true, Ordering::SeqCst);
        if let Some(inbox) = &state.inbox {
            let _ = inbox.send(Envelope::Input(Input::Call(Call::Abort)));
        }
        state.status = Status::DriverAborted;
        Status::DriverAborted
    }

    fn join(&self) -> Status {
        {
            let state = lock(&self.0.state);
            if state.status != Status::DriverRunning {
                return state.status;
            }
            if state.thread_id == Some(std::thread::current().id()) {
                tracing::error!("join() called inside an executor callback would wait forever; returning");
                return state.status;
            }
        }
        self.0.latch.wait();
        lock(&self.0.state).status
    }

    fn run(&self) -> Status {
        let status = self.start();
        if status != Status::DriverRunning {
            return status;
        }
        self.join()
    }

    fn send_status_update(&self, status: &TaskStatus) -> Status {
        self.dispatch(|| Call::SendStatusUpdate(status.clone()))
    }

    fn send_framework_message(&self, data: &[u8]) -> Status {
        self.dispatch(|| Call::SendFrameworkMessage(data.to_vec()))
    }
}

struct Io {
    runtime: tokio::runtime::Handle,
    process: ProcessHandle,
    inbox: mpsc::Sender<Envelope>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Drop for Io {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

fn drive(shared: Arc<Shared>, mut core: ExecutorCore, queue: mpsc::Receiver<Envelope>, io: Io) {
    let mut executor = lock(&shared.executor).take();
    let driver = Handle(shared.clone());
    while let Ok(Envelope::Input(input)) = queue.recv() {
        if shared.terminating.load(Ordering::SeqCst) {
            break;
        }
        core.set_aborted(shared.aborted.load(Ordering::SeqCst));
        for effect in core.handle(unix_now(), input) {
            match effect {
                Effect::Send { to, message } => {
                    if let Err(e) = io.process.send(&to, &message) {
                        tracing::warn!("Failed to send {} to {to}: {e}", message.message_name());
                    }
                }
                Effect::Link(pid) => io.process.link(&pid),
                Effect::Relink(pid) => io.process.relink(&pid),
                Effect::SetTimer { timer, after } => {
                    runtime::set_timer(&io.runtime, io.inbox.clone(), after, Envelope::Input(Input::Timer(timer)))
                }
                Effect::Callback(callback) => {
                    if let Some(executor) = executor.as_mut() {
                        invoke(executor.as_mut(), &driver, callback);
                    }
                }
                Effect::Aborted => shared.aborted.store(true, Ordering::SeqCst),
                Effect::ScheduleKill { grace } => schedule_kill(grace),
                Effect::Terminate => {}
                Effect::Release => shared.latch.trigger(),
            }
        }
        if core.is_terminated() {
            break;
        }
    }
    drop(io);
    *lock(&shared.executor) = executor;
}

/// Apache's `ShutdownProcess`: after `grace`, kill this process group
/// (ourselves included); should that not end us, exit abnormally.
fn schedule_kill(grace: Duration) {
    tracing::debug!("Scheduling shutdown of the executor in {grace:?}");
    let spawned = std::thread::Builder::new().name("exec-shutdown".into()).spawn(move || {
        std::thread::sleep(grace);
        tracing::debug!("Committing suicide by killing the process group");
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(0), nix::sys::signal::Signal::SIGKILL);
        std::thread::sleep(Duration::from_secs(5));
        std::process::exit(1);
    });
    if let Err(e) = spawned {
        tracing::error!("Failed to schedule the executor's shutdown: {e}");
    }
}

fn invoke(executor: &mut dyn Executor, driver: &Handle, callback: Callback) {
    let name = match &callback {
        Callback::Registered { .. } => "registered",
        Callback::Reregistered { .. } => "reregistered",
        Callback::LaunchTask { .. } => "launchTask",
        Callback::KillTask { .. } => "killTask",
        Callback::FrameworkMessage { .. } => "frameworkMessage",
        Callback::Shutdown => "shutdown",
        Callback::Error { .. } => "error",
    };
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| match callback {
        Callback::Registered { executor_info, framework_info, slave_info } => {
            executor.registered(driver, &executor_info, &framework_info, &slave_info)
        }
        Callback::Reregistered { slave_info } => executor.reregistered(driver, &slave_info),
        Callback::LaunchTask { task } => executor.launch_task(driver, &task),
        Callback::KillTask { task_id } => executor.kill_task(driver, &task_id),
        Callback::FrameworkMessage { data } => executor.framework_message(driver, &data),
        Callback::Shutdown => executor.shutdown(driver),
        Callback::Error { message } => executor.error(driver, &message),
    }));
    tracing::debug!("Executor::{name} took {:?}", started.elapsed());
    if let Err(panic) = outcome {
        tracing::error!("Executor::{name} panicked: {}; aborting the driver", panic_text(&*panic));
        driver.abort();
    }
}

#[cfg(test)]
mod tests;
