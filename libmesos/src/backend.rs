//! Where the bindings get their drivers: the Rust scheduler and executor
//! drivers of `mesos_rs::driver` (Apache's `sched.cpp` / `exec.cpp` in Rust).
//! The bindings only ever see the contract traits.

use mesos_rs::driver::{Executor, ExecutorDriver, Scheduler, SchedulerDriver};
use mesos_rs::proto::mesos::{Credential, FrameworkInfo};

use crate::error::{Error, Result};

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

/// A scheduler driver calling back `scheduler`.
pub fn scheduler_driver(scheduler: Box<dyn Scheduler>, config: SchedulerConfig) -> Result<Box<dyn SchedulerDriver>> {
    let _ = (scheduler, config);
    Err(Error::Driver(
        "this libmesos was built without the Rust scheduler driver (mesos_rs::driver::MesosSchedulerDriver)".into(),
    ))
}

/// An executor driver calling back `executor`, configured from the `MESOS_*`
/// environment the agent gives an executor.
pub fn executor_driver(executor: Box<dyn Executor>) -> Result<Box<dyn ExecutorDriver>> {
    let _ = executor;
    Err(Error::Driver(
        "this libmesos was built without the Rust executor driver (mesos_rs::driver::MesosExecutorDriver)".into(),
    ))
}
