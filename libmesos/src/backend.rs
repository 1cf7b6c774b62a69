//! Where the bindings get their drivers: the Rust scheduler and executor
//! drivers of `mesos_rs::driver` (Apache's `sched.cpp` / `exec.cpp` in Rust).
//! The bindings call them through the contract traits, plus the few
//! overloads only the concrete drivers have.

use std::sync::Once;

use mesos_rs::driver::flags;
use mesos_rs::driver::{Executor, MesosExecutorDriver, MesosSchedulerDriver, Scheduler};
use mesos_rs::proto::mesos::{Credential, FrameworkInfo};

/// What `MesosSchedulerDriver`'s constructors hand to the driver.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub framework: FrameworkInfo,
    /// Roles the framework subscribes with offers suppressed (1.9+ bindings).
    pub suppressed_roles: Vec<String>,
    /// `host:port`, `zk://...`, `file://...` (as `--master`).
    pub master: String,
    pub implicit_acknowledgements: bool,
    pub credential: Option<Credential>,
}

/// A scheduler driver calling back `scheduler` (not started).
pub fn scheduler_driver(scheduler: Box<dyn Scheduler>, config: SchedulerConfig) -> MesosSchedulerDriver {
    MesosSchedulerDriver::builder(scheduler, config.framework, &config.master)
        .implicit_acknowledgements(config.implicit_acknowledgements)
        .credential(config.credential)
        .suppressed_roles(config.suppressed_roles)
        .build()
}

/// An executor driver calling back `executor`, configured from the `MESOS_*`
/// environment the agent gives an executor (not started).
pub fn executor_driver(executor: Box<dyn Executor>) -> MesosExecutorDriver {
    MesosExecutorDriver::new(executor)
}

/// Sets logging up as the drivers do (the `MESOS_*` logging flags, `GLOG_v`,
/// `RUST_LOG`), for the bindings that run no driver (state, `V1Mesos`).
pub fn ensure_logging() {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(|| {
        if let Err(error) = flags::initialize_logging(&flags::process_environment()) {
            eprintln!("libmesos: logging flags: {error}");
        }
    });
}
