//! `MesosExecutorDriver`: Apache's executor driver (`src/exec/exec.cpp`).
//!
//! An executor launched by an agent finds its agent and identity in the
//! `MESOS_*` environment ([`mod@env`]), registers as `executor(N)` on the
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::proto::mesos::{Status, TaskStatus};
use crate::v0_compat::{Event, ProcessHandle, Upid, WireMessage};

use super::flags;
use super::runtime::{self, unix_now};
use super::shell::{Envelope, Shell, State};
use super::{Executor, ExecutorDriver};

pub use self::core::{Call, Callback, Config as CoreConfig, Effect, ExecutorCore, Input, Timer};
pub use self::env::{Environment, EnvironmentError};

/// The executor driver.
pub struct MesosExecutorDriver {
    handle: Handle,
}

#[derive(Clone)]
struct Handle(Arc<Shared>);

struct Shared {
    shell: Shell<Input, Config, dyn Executor>,
    /// Apache's `aborted`: set by `abort`, and once the executor is told to
    /// shut down; no message is handled after.
    aborted: AtomicBool,
}

/// The constructor's arguments, kept until `start`.
struct Config {
    environment: HashMap<String, String>,
    seed: u64,
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
        let config = Config { environment, seed: super::random::seed() };
        let shared = Arc::new(Shared { shell: Shell::new(config, executor), aborted: AtomicBool::new(false) });
        let driver = MesosExecutorDriver { handle: Handle(shared) };
        if let Err(e) = logging {
            driver.handle.0.shell.lock().status = Status::DriverAborted;
            driver.handle.report_error(&e.to_string());
        }
        driver
    }

    /// The driver's current status.
    pub fn status(&self) -> Status {
        self.handle.0.shell.status()
    }

    /// The executor process's UPID, once started.
    pub fn pid(&self) -> Option<Upid> {
        self.handle.0.shell.pid()
    }
}

impl Drop for MesosExecutorDriver {
    fn drop(&mut self) {
        self.handle.0.shell.shutdown("MesosExecutorDriver");
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
        let Some(mut executor) = self.0.shell.take_user() else {
            tracing::error!("{message}");
            return;
        };
        invoke(executor.as_mut(), self, Callback::Error { message: message.to_string() });
        self.0.shell.put_user(Some(executor));
    }

    fn launch(&self, state: &mut State<Input, Config>) -> Result<(), String> {
        let environment = Environment::from_map(&state.extra.environment).map_err(|e| e.to_string())?;
        let libprocess = runtime::libprocess().map_err(|e| e.to_string())?;
        let id = libprocess.node.generate_id("executor");
        let process = libprocess.node.spawn(&id).map_err(|e| e.to_string())?;
        let pid = process.pid().clone();
        let handle = process.handle().clone();
        let core = ExecutorCore::new(CoreConfig { pid: pid.clone(), environment, seed: state.extra.seed });
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
        state.started(inbox, pid, thread);
        Ok(())
    }
}

impl ExecutorDriver for Handle {
    fn start(&self) -> Status {
        // Where Apache's driver exits the process for a bad environment,
        // ours aborts and tells the executor's `error`.
        self.0.shell.start(|state| self.launch(state), |message| self.report_error(message))
    }

    fn stop(&self) -> Status {
        self.0.shell.stop(|| {}, Input::Call(Call::Stop))
    }

    fn abort(&self) -> Status {
        self.0.shell.abort(|| self.0.aborted.store(true, Ordering::SeqCst), Input::Call(Call::Abort))
    }

    fn join(&self) -> Status {
        // Unlike the scheduler driver's, only a running driver waits.
        self.0.shell.join(|state| state.status == Status::DriverRunning)
    }

    fn run(&self) -> Status {
        let status = self.start();
        if status != Status::DriverRunning {
            return status;
        }
        self.join()
    }

    fn send_status_update(&self, status: &TaskStatus) -> Status {
        self.0.shell.dispatch(|| Input::Call(Call::SendStatusUpdate(status.clone())))
    }

    fn send_framework_message(&self, data: &[u8]) -> Status {
        self.0.shell.dispatch(|| Input::Call(Call::SendFrameworkMessage(data.to_vec())))
    }
}

struct Io {
    runtime: tokio::runtime::Handle,
    process: ProcessHandle,
    inbox: mpsc::Sender<Envelope<Input>>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Drop for Io {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

fn drive(shared: Arc<Shared>, mut core: ExecutorCore, queue: mpsc::Receiver<Envelope<Input>>, io: Io) {
    let mut executor = shared.shell.take_user();
    let driver = Handle(shared.clone());
    while let Some(input) = shared.shell.next(&queue) {
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
                Effect::Release => shared.shell.release(),
            }
        }
        if core.is_terminated() {
            break;
        }
    }
    drop(io);
    shared.shell.put_user(executor);
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
    let run = || match callback {
        Callback::Registered { executor_info, framework_info, slave_info } => {
            executor.registered(driver, &executor_info, &framework_info, &slave_info)
        }
        Callback::Reregistered { slave_info } => executor.reregistered(driver, &slave_info),
        Callback::LaunchTask { task } => executor.launch_task(driver, &task),
        Callback::KillTask { task_id } => executor.kill_task(driver, &task_id),
        Callback::FrameworkMessage { data } => executor.framework_message(driver, &data),
        Callback::Shutdown => executor.shutdown(driver),
        Callback::Error { message } => executor.error(driver, &message),
    };
    runtime::guarded(&format!("Executor::{name}"), run, || {
        driver.abort();
    });
}

#[cfg(test)]
mod tests;
