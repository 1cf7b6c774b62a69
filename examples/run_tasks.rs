//! A small framework on the Rust scheduler driver: runs N shell commands as
//! tasks on a Mesos cluster, then stops. Useful as a smoke test of a cluster
//! (ours or Apache's).
//!
//! ```text
//! cargo run --example run_tasks -- --master=127.0.0.1:5050 --tasks=5 \
//!     --command='echo hello from $MESOS_TASK_ID' [--cpus=0.1] [--mem=32] \
//!     [--role=*] [--name=run-tasks] [--principal=p --secret=s]
//! ```
//! `--master` takes anything the driver does (`host:port`,
//! `master@host:port`, `zk://...`, `file://...`). Prints one line per status
//! update; exits 0 once every task finished, 1 if any ended otherwise or the
//! driver aborted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use mesos_rs::driver::{MesosSchedulerDriver, Scheduler, SchedulerDriver};
use mesos_rs::proto::mesos::{
    value, CommandInfo, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId,
    Resource, SlaveId, Status, TaskId, TaskInfo, TaskState, TaskStatus,
};

struct Options {
    master: String,
    tasks: usize,
    command: String,
    cpus: f64,
    mem: f64,
    role: String,
    name: String,
    credential: Option<Credential>,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut flags: HashMap<String, String> = HashMap::new();
    for arg in std::env::args().skip(1) {
        let Some(rest) = arg.strip_prefix("--") else { bail!("unexpected argument '{arg}'") };
        let (name, value) = rest.split_once('=').with_context(|| format!("--{rest} needs a value"))?;
        flags.insert(name.to_string(), value.to_string());
    }
    let get = |name: &str, default: &str| flags.get(name).cloned().unwrap_or_else(|| default.to_string());
    let credential = match (flags.get("principal"), flags.get("secret")) {
        (Some(principal), secret) => Some(Credential { principal: principal.clone(), secret: secret.cloned() }),
        (None, _) => None,
    };
    Ok(Options {
        master: flags.get("master").cloned().context("--master is required")?,
        tasks: get("tasks", "1").parse().context("--tasks")?,
        command: get("command", "echo hello"),
        cpus: get("cpus", "0.1").parse().context("--cpus")?,
        mem: get("mem", "32").parse().context("--mem")?,
        role: get("role", "*"),
        name: get("name", "run-tasks"),
        credential,
    })
}

/// Launches tasks into offers until `total` are launched; counts the ends.
struct RunTasks {
    options: Options,
    launched: usize,
    finished: usize,
    failed: usize,
    /// `(finished, failed)`, for `main` once the driver is done (the driver
    /// owns the scheduler).
    outcome: Arc<Mutex<(usize, usize)>>,
}

fn scalar(resources: &[Resource], name: &str) -> f64 {
    resources.iter().filter(|r| r.name == name).filter_map(|r| r.scalar.as_ref()).map(|s| s.value).sum()
}

fn resource(name: &str, amount: f64, role: &str) -> Resource {
    Resource {
        name: name.to_string(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        allocation_info: Some(mesos_rs::proto::mesos::resource::AllocationInfo { role: Some(role.to_string()) }),
        ..Default::default()
    }
}

impl RunTasks {
    fn done(&self) -> bool {
        self.finished + self.failed == self.options.tasks
    }
}

impl Scheduler for RunTasks {
    fn registered(&mut self, _: &dyn SchedulerDriver, framework_id: &FrameworkId, master: &MasterInfo) {
        println!("registered as {} with {}", framework_id.value, master.pid.as_deref().unwrap_or("?"));
    }

    fn reregistered(&mut self, _: &dyn SchedulerDriver, master: &MasterInfo) {
        println!("reregistered with {}", master.pid.as_deref().unwrap_or("?"));
    }

    fn disconnected(&mut self, _: &dyn SchedulerDriver) {
        println!("disconnected");
    }

    fn resource_offers(&mut self, driver: &dyn SchedulerDriver, offers: &[Offer]) {
        for offer in offers {
            let role = offer
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.clone())
                .unwrap_or_else(|| self.options.role.clone());
            let (mut cpus, mut mem) = (scalar(&offer.resources, "cpus"), scalar(&offer.resources, "mem"));
            let mut tasks = Vec::new();
            while self.launched < self.options.tasks && cpus >= self.options.cpus && mem >= self.options.mem {
                let id = format!("task-{}", self.launched);
                tasks.push(TaskInfo {
                    name: id.clone(),
                    task_id: TaskId { value: id },
                    slave_id: offer.slave_id.clone(),
                    resources: vec![resource("cpus", self.options.cpus, &role), resource("mem", self.options.mem, &role)],
                    command: Some(CommandInfo {
                        value: Some(self.options.command.clone()),
                        shell: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                self.launched += 1;
                cpus -= self.options.cpus;
                mem -= self.options.mem;
            }
            if tasks.is_empty() {
                driver.decline_offer(&offer.id, Some(&Filters { refuse_seconds: Some(5.0) }));
            } else {
                println!("launching {} task(s) on {}", tasks.len(), offer.hostname);
                driver.launch_tasks(std::slice::from_ref(&offer.id), &tasks, None);
            }
        }
        if self.launched == self.options.tasks {
            driver.suppress_offers(&[]);
        }
    }

    fn offer_rescinded(&mut self, _: &dyn SchedulerDriver, offer_id: &OfferId) {
        println!("offer {} rescinded", offer_id.value);
    }

    fn status_update(&mut self, driver: &dyn SchedulerDriver, status: &TaskStatus) {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        println!(
            "{} {}{}",
            status.task_id.value,
            state.as_str_name(),
            status.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        );
        match state {
            TaskState::TaskFinished => self.finished += 1,
            TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator => self.failed += 1,
            _ => {}
        }
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = (self.finished, self.failed);
        if self.done() {
            driver.stop(false);
        }
    }

    fn framework_message(&mut self, _: &dyn SchedulerDriver, executor_id: &ExecutorId, _: &SlaveId, data: &[u8]) {
        println!("message from {}: {}", executor_id.value, String::from_utf8_lossy(data));
    }

    fn slave_lost(&mut self, _: &dyn SchedulerDriver, slave_id: &SlaveId) {
        println!("agent {} lost", slave_id.value);
    }

    fn executor_lost(&mut self, _: &dyn SchedulerDriver, executor_id: &ExecutorId, _: &SlaveId, status: i32) {
        println!("executor {} exited with {status}", executor_id.value);
    }

    fn error(&mut self, _: &dyn SchedulerDriver, message: &str) {
        eprintln!("error: {message}");
    }
}

fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let framework = FrameworkInfo {
        user: String::new(), // the driver fills in the current user
        name: options.name.clone(),
        roles: vec![options.role.clone()],
        capabilities: vec![mesos_rs::proto::mesos::framework_info::Capability {
            r#type: Some(mesos_rs::proto::mesos::framework_info::capability::Type::MultiRole as i32),
        }],
        principal: options.credential.as_ref().map(|c| c.principal.clone()),
        ..Default::default()
    };
    let master = options.master.clone();
    let credential = options.credential.clone();
    let total = options.tasks;
    let outcome = Arc::new(Mutex::new((0, 0)));
    let scheduler = RunTasks { options, launched: 0, finished: 0, failed: 0, outcome: outcome.clone() };
    let driver = MesosSchedulerDriver::new(Box::new(scheduler), framework, &master, true, credential);
    let status = driver.run();
    let (finished, failed) = *outcome.lock().unwrap_or_else(|e| e.into_inner());
    println!("driver ended {}: {finished}/{total} finished, {failed} failed", status.as_str_name());
    if status == Status::DriverStopped && finished == total {
        Ok(())
    } else {
        std::process::exit(1)
    }
}
