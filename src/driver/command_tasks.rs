//! A small ready-made framework: run N shell commands as tasks, then stop.
//!
//! Used by `mesos-local` (the README's run command) and the `run_tasks`
//! example to smoke-test a cluster, ours or Apache's. It launches into offers
//! until every task is launched, suppresses offers, prints one line per status
//! update and stops the driver once every task has ended.

use std::sync::{Arc, Mutex};

use crate::common::task_states::is_terminal;
use crate::driver::{MesosSchedulerDriver, Scheduler, SchedulerDriver};
use crate::proto::mesos::{
    framework_info, resource, value, CommandInfo, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo,
    MasterInfo, Offer, OfferId, Resource, SlaveId, Status, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The master, in any form the driver takes (`host:port`, `zk://...`).
    pub master: String,
    pub tasks: usize,
    /// Run with `sh -c`.
    pub command: String,
    pub cpus: f64,
    pub mem: f64,
    pub role: String,
    pub name: String,
    pub credential: Option<Credential>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            master: "127.0.0.1:5050".into(),
            tasks: 1,
            command: "echo hello".into(),
            cpus: 0.1,
            mem: 32.0,
            role: "*".into(),
            name: "run-tasks".into(),
            credential: None,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub framework_id: Option<FrameworkId>,
    pub finished: usize,
    /// Ended in any terminal state other than TASK_FINISHED.
    pub failed: usize,
    /// The last status of each task, in the order they ended.
    pub terminal: Vec<TaskStatus>,
    /// The driver's status once `run` returned.
    pub driver: Option<Status>,
}

impl Outcome {
    /// Every task finished and the driver stopped normally.
    pub fn success(&self, spec: &Spec) -> bool {
        self.driver == Some(Status::DriverStopped) && self.finished == spec.tasks
    }
}

/// Runs `spec` to the end (blocking), printing progress with `print`.
pub fn run(spec: Spec, print: impl Fn(&str) + Send + 'static) -> Outcome {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let framework = FrameworkInfo {
        user: String::new(), // the driver fills in the current user
        name: spec.name.clone(),
        roles: vec![spec.role.clone()],
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::MultiRole as i32),
        }],
        principal: spec.credential.as_ref().map(|c| c.principal.clone()),
        ..Default::default()
    };
    let master = spec.master.clone();
    let credential = spec.credential.clone();
    let scheduler = CommandTasks { spec, launched: 0, outcome: outcome.clone(), print: Box::new(print) };
    let driver = MesosSchedulerDriver::new(Box::new(scheduler), framework, &master, true, credential);
    let status = driver.run();
    let mut out = outcome.lock().unwrap_or_else(|e| e.into_inner()).clone();
    out.driver = Some(status);
    out
}

struct CommandTasks {
    spec: Spec,
    launched: usize,
    outcome: Arc<Mutex<Outcome>>,
    print: Box<dyn Fn(&str) + Send>,
}

fn scalar(resources: &[Resource], name: &str) -> f64 {
    resources.iter().filter(|r| r.name == name).filter_map(|r| r.scalar.as_ref()).map(|s| s.value).sum()
}

fn resource(name: &str, amount: f64, role: &str) -> Resource {
    Resource {
        name: name.to_string(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        allocation_info: Some(resource::AllocationInfo { role: Some(role.to_string()) }),
        ..Default::default()
    }
}

impl Scheduler for CommandTasks {
    fn registered(&mut self, _: &dyn SchedulerDriver, framework_id: &FrameworkId, master: &MasterInfo) {
        (self.print)(&format!("registered as {} with {}", framework_id.value, master.pid.as_deref().unwrap_or("?")));
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).framework_id = Some(framework_id.clone());
    }

    fn reregistered(&mut self, _: &dyn SchedulerDriver, master: &MasterInfo) {
        (self.print)(&format!("reregistered with {}", master.pid.as_deref().unwrap_or("?")));
    }

    fn disconnected(&mut self, _: &dyn SchedulerDriver) {
        (self.print)("disconnected");
    }

    fn resource_offers(&mut self, driver: &dyn SchedulerDriver, offers: &[Offer]) {
        for offer in offers {
            let role =
                offer.allocation_info.as_ref().and_then(|a| a.role.clone()).unwrap_or_else(|| self.spec.role.clone());
            let (mut cpus, mut mem) = (scalar(&offer.resources, "cpus"), scalar(&offer.resources, "mem"));
            let mut tasks = Vec::new();
            while self.launched < self.spec.tasks && cpus >= self.spec.cpus && mem >= self.spec.mem {
                let id = format!("task-{}", self.launched);
                tasks.push(TaskInfo {
                    name: id.clone(),
                    task_id: TaskId { value: id },
                    slave_id: offer.slave_id.clone(),
                    resources: vec![resource("cpus", self.spec.cpus, &role), resource("mem", self.spec.mem, &role)],
                    command: Some(CommandInfo {
                        value: Some(self.spec.command.clone()),
                        shell: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                self.launched += 1;
                cpus -= self.spec.cpus;
                mem -= self.spec.mem;
            }
            if tasks.is_empty() {
                driver.decline_offer(&offer.id, Some(&Filters { refuse_seconds: Some(5.0) }));
            } else {
                (self.print)(&format!("launching {} task(s) on {}", tasks.len(), offer.hostname));
                driver.launch_tasks(std::slice::from_ref(&offer.id), &tasks, None);
            }
        }
        if self.launched == self.spec.tasks {
            driver.suppress_offers(&[]);
        }
    }

    fn offer_rescinded(&mut self, _: &dyn SchedulerDriver, offer_id: &OfferId) {
        (self.print)(&format!("offer {} rescinded", offer_id.value));
    }

    fn status_update(&mut self, driver: &dyn SchedulerDriver, status: &TaskStatus) {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        (self.print)(&format!(
            "{} {}{}",
            status.task_id.value,
            state.as_str_name(),
            status.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        ));
        if !is_terminal(state) {
            return;
        }
        let done = {
            let mut out = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
            if state == TaskState::TaskFinished {
                out.finished += 1;
            } else {
                out.failed += 1;
            }
            out.terminal.push(status.clone());
            out.finished + out.failed == self.spec.tasks
        };
        if done {
            driver.stop(false);
        }
    }

    fn framework_message(&mut self, _: &dyn SchedulerDriver, executor_id: &ExecutorId, _: &SlaveId, data: &[u8]) {
        (self.print)(&format!("message from {}: {}", executor_id.value, String::from_utf8_lossy(data)));
    }

    fn slave_lost(&mut self, _: &dyn SchedulerDriver, slave_id: &SlaveId) {
        (self.print)(&format!("agent {} lost", slave_id.value));
    }

    fn executor_lost(&mut self, _: &dyn SchedulerDriver, executor_id: &ExecutorId, _: &SlaveId, status: i32) {
        (self.print)(&format!("executor {} exited with {status}", executor_id.value));
    }

    fn error(&mut self, _: &dyn SchedulerDriver, message: &str) {
        (self.print)(&format!("error: {message}"));
    }
}
