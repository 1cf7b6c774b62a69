//! Scheduler and executor drivers: the framework side of the v0 protocol.
//!
//! These are what Apache's `src/sched/sched.cpp` and `src/exec/exec.cpp` do for
//! every framework that links libmesos: register with the (detected) master,
//! turn driver calls into messages, and turn messages into callbacks, one at a
//! time, in Apache's order. They are usable from Rust directly and are what
//! `libmesos.so` (the JNI glue for Apache's Java bindings) wraps.
//!
//! This file is the contract between the drivers and their users (Rust code,
//! the JNI layer): the callback traits a framework implements, and the driver
//! traits it calls, shaped exactly like Apache's C++ `Scheduler` /
//! `SchedulerDriver` and `Executor` / `ExecutorDriver`
//! (`include/mesos/scheduler.hpp`, `include/mesos/executor.hpp`). Every call
//! returns the driver's [`Status`] after the call, as Apache's do.
//!
//! # Layout
//! - [`scheduler`]: [`MesosSchedulerDriver`] and its sans-IO core.
//! - [`executor`]: [`MesosExecutorDriver`] and its sans-IO core.
//! - [`detector`]: master detection (`host:port`, `zk://`, `file://`).
//! - [`flags`]: the `MESOS_*` settings the drivers read.
//! - [`runtime`]: the process-wide libprocess instance the drivers share.
//! - [`v1`]: a v1 scheduler HTTP API client (`mesos-execute` uses it).
//! - `shell`: what both front ends share (status rules, queue, latch, drop).

pub mod command_tasks;
pub mod detector;
pub mod executor;
pub mod flags;
mod random;
pub mod runtime;
pub mod scheduler;
mod shell;
pub mod v1;

pub use detector::{Detector, DetectorError, Leader};
pub use executor::MesosExecutorDriver;
pub use scheduler::MesosSchedulerDriver;

use crate::proto::mesos::{
    offer, scheduler::OfferConstraints, ExecutorId, ExecutorInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo,
    Offer, OfferId, Request, SlaveId, SlaveInfo, Status, TaskId, TaskInfo, TaskStatus,
};

/// What a framework's scheduler is told. Callbacks run on the driver's own
/// callback thread, one at a time, never concurrently with each other; they may
/// call back into the driver they are handed.
pub trait Scheduler: Send + 'static {
    fn registered(&mut self, driver: &dyn SchedulerDriver, framework_id: &FrameworkId, master_info: &MasterInfo);
    fn reregistered(&mut self, driver: &dyn SchedulerDriver, master_info: &MasterInfo);
    fn disconnected(&mut self, driver: &dyn SchedulerDriver);
    fn resource_offers(&mut self, driver: &dyn SchedulerDriver, offers: &[Offer]);
    fn offer_rescinded(&mut self, driver: &dyn SchedulerDriver, offer_id: &OfferId);
    fn status_update(&mut self, driver: &dyn SchedulerDriver, status: &TaskStatus);
    fn framework_message(
        &mut self,
        driver: &dyn SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    );
    fn slave_lost(&mut self, driver: &dyn SchedulerDriver, slave_id: &SlaveId);
    fn executor_lost(
        &mut self,
        driver: &dyn SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        status: i32,
    );
    fn error(&mut self, driver: &dyn SchedulerDriver, message: &str);
}

/// What a scheduler can ask of its driver (Apache's `SchedulerDriver`).
pub trait SchedulerDriver: Send + Sync {
    fn start(&self) -> Status;
    fn stop(&self, failover: bool) -> Status;
    fn abort(&self) -> Status;
    /// Blocks until the driver is stopped or aborted.
    fn join(&self) -> Status;
    /// `start` then `join`.
    fn run(&self) -> Status;
    fn request_resources(&self, requests: &[Request]) -> Status;
    fn launch_tasks(&self, offer_ids: &[OfferId], tasks: &[TaskInfo], filters: Option<&Filters>) -> Status;
    fn kill_task(&self, task_id: &TaskId) -> Status;
    fn accept_offers(
        &self,
        offer_ids: &[OfferId],
        operations: &[offer::Operation],
        filters: Option<&Filters>,
    ) -> Status;
    fn decline_offer(&self, offer_id: &OfferId, filters: Option<&Filters>) -> Status;
    /// An empty list means all of the framework's roles.
    fn revive_offers(&self, roles: &[String]) -> Status;
    /// An empty list means all of the framework's roles.
    fn suppress_offers(&self, roles: &[String]) -> Status;
    fn acknowledge_status_update(&self, status: &TaskStatus) -> Status;
    fn send_framework_message(&self, executor_id: &ExecutorId, slave_id: &SlaveId, data: &[u8]) -> Status;
    fn reconcile_tasks(&self, statuses: &[TaskStatus]) -> Status;
    fn update_framework(
        &self,
        framework_info: &FrameworkInfo,
        suppressed_roles: &[String],
        offer_constraints: Option<&OfferConstraints>,
    ) -> Status;
}

/// What an executor is told (Apache's `Executor`), on the driver's callback
/// thread, one at a time.
pub trait Executor: Send + 'static {
    fn registered(
        &mut self,
        driver: &dyn ExecutorDriver,
        executor_info: &ExecutorInfo,
        framework_info: &FrameworkInfo,
        slave_info: &SlaveInfo,
    );
    fn reregistered(&mut self, driver: &dyn ExecutorDriver, slave_info: &SlaveInfo);
    fn disconnected(&mut self, driver: &dyn ExecutorDriver);
    fn launch_task(&mut self, driver: &dyn ExecutorDriver, task: &TaskInfo);
    fn kill_task(&mut self, driver: &dyn ExecutorDriver, task_id: &TaskId);
    fn framework_message(&mut self, driver: &dyn ExecutorDriver, data: &[u8]);
    fn shutdown(&mut self, driver: &dyn ExecutorDriver);
    fn error(&mut self, driver: &dyn ExecutorDriver, message: &str);
}

/// What an executor can ask of its driver (Apache's `ExecutorDriver`).
pub trait ExecutorDriver: Send + Sync {
    fn start(&self) -> Status;
    fn stop(&self) -> Status;
    fn abort(&self) -> Status;
    fn join(&self) -> Status;
    fn run(&self) -> Status;
    fn send_status_update(&self, status: &TaskStatus) -> Status;
    fn send_framework_message(&self, data: &[u8]) -> Status;
}
