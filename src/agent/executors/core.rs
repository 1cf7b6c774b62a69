//! The decisions of the command executor and the default executor, without
//! I/O: `handle(now, input) -> effects` (the shape of the agent's state
//! machine, seen from the other side of the executor API).
//!
//! One machine serves both executors; [`Flavor`] switches the few rules in
//! which Mesos's `launcher/executor.cpp` and `launcher/default_executor.cpp`
//! differ:
//!
//! | | command executor | default executor |
//! |---|---|---|
//! | accepts | one `LAUNCH` (a second one: TASK_FAILED) | `LAUNCH_GROUP`s |
//! | the other launch event | shuts down | shuts down |
//! | a second `KILL` | may only shorten the grace period | ignored |
//! | task sandbox | the executor's | `containers/<id>`, linked from `tasks/<task id>` |
//! | a task fails or is killed | - | the rest of its group is killed |
//! | exits | when its task's terminal update is acknowledged (fail-safe: 60s) | when no task is left and every update is acknowledged (else after 60s) |
//!
//! Both report TASK_STARTING, TASK_RUNNING once the process runs, then
//! TASK_FINISHED / TASK_FAILED ("Command exited with status N", "Command
//! terminated with signal Killed") / TASK_KILLED; TASK_KILLING first when
//! the framework has the `TASK_KILLING_STATE` capability. A kill sends
//! SIGTERM to the task's process tree and SIGKILL after the grace period
//! (the `KILL` event's kill policy, else the task's, else 3 seconds).
//! `max_completion_time` kills with no grace and fails the task with
//! `REASON_MAX_COMPLETION_TIME_REACHED`. Health and check results are
//! turned into updates by [`super::checks`]; a health check that reaches
//! its consecutive failures kills the task, whose terminal update then says
//! `healthy: false`. `SHUTDOWN` kills the tasks within the shutdown grace
//! period, after which the executor kills what is left and exits.
//!
//! The default executor runs each task as a child process (in its own
//! session, sandbox and environment with `MESOS_SANDBOX` pointing there),
//! not as a nested container launched through the agent's API as Mesos
//! does: tasks share the executor's cgroups.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::agent::containerizer::mesos::procfs;

use super::checks::{empty_check_status, CheckState, HealthState, Probe, ProbeResult};
use crate::proto::mesos::v1::executor::{call, event, Call, Event};
use crate::proto::mesos::v1::{
    framework_info, task_status, CommandInfo, ContainerId, ContainerStatus, ExecutorId, FrameworkId, FrameworkInfo,
    KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// Which executor this is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Command,
    Default,
}

/// Grace period when neither the `KILL` nor the task says one.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// How long the command executor waits for the ack of its terminal update,
/// and the default executor for its last acks, before exiting anyway.
pub const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often SUBSCRIBE is resent until the agent answers.
pub const SUBSCRIBE_RETRY: Duration = Duration::from_secs(1);
/// What the command executor keeps of the shutdown grace period for itself
/// (Mesos: the reaper interval plus one second).
const SHUTDOWN_BUFFER: Duration = Duration::from_secs(2);

/// What the executor is told at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub flavor: Flavor,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub sandbox: PathBuf,
    pub shutdown_grace_period: Duration,
    /// The environment tasks start from (the executor's own, without its
    /// private variables, with `--task_environment` applied).
    pub environment: BTreeMap<String, String>,
    /// The command executor's `--task_command`: run this instead of the task's.
    pub task_command: Option<CommandInfo>,
    /// Run tasks as this user (`--user`; needs root).
    pub user: Option<String>,
    /// `mesos-docker-executor`: the task is a Docker container, and its
    /// end is reported as Mesos's docker executor words it ("Container
    /// exited with status N").
    pub docker: bool,
}

/// The time of an input: a monotonic instant for timers, the wall clock
/// for status timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub instant: Instant,
    pub unix_secs: f64,
}

/// What happens to the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The client connected to the agent.
    Connected,
    Disconnected,
    Event(Box<Event>),
    Launched {
        task_id: String,
        pid: i32,
    },
    LaunchFailed {
        task_id: String,
        error: String,
    },
    /// A task's process ended (`status`: its wait status, if known).
    Exited {
        task_id: String,
        status: Option<i32>,
    },
    Timer(Timer),
    Health {
        task_id: String,
        result: ProbeResult,
    },
    Check {
        task_id: String,
        result: ProbeResult,
    },
}

/// The executor's timers; a stale one (superseded generation, finished
/// task) is ignored when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    Subscribe,
    Escalate {
        task_id: String,
        generation: u64,
    },
    MaxCompletion {
        task_id: String,
    },
    /// The command executor's terminal update was not acknowledged.
    TerminalAck,
    /// The default executor's last updates were not acknowledged.
    Linger,
    /// The shutdown grace period is over.
    ShutdownDeadline,
}

/// Starting a task's process.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchTask {
    pub task_id: String,
    pub command: CommandInfo,
    /// The environment before the command's own variables.
    pub environment: BTreeMap<String, String>,
    /// `MESOS_ALLOCATION_ROLE`, set after the command's variables.
    pub allocation_role: Option<String>,
    /// Working directory; with `own_output`, where `stdout`/`stderr` go.
    pub directory: PathBuf,
    /// Write `<directory>/stdout` and `stderr` (else share the executor's).
    pub own_output: bool,
    /// A symlink to create pointing at `directory` (`tasks/<task id>`).
    pub link: Option<PathBuf>,
    /// Fetch `command.uris` into `directory` first.
    pub fetch: bool,
    pub user: Option<String>,
}

/// What the executor does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Call),
    Launch(LaunchTask),
    /// Signal the task's process tree (its session and groups).
    Signal {
        task_id: String,
        signal: Signal,
    },
    SetTimer {
        timer: Timer,
        after: Duration,
    },
    /// Start probing the task (health and/or check) on their schedules.
    StartProbes {
        task_id: String,
        health: Option<Probe>,
        check: Option<Probe>,
        environment: BTreeMap<String, String>,
    },
    StopProbes {
        task_id: String,
    },
    Exit {
        code: i32,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Disconnected,
    Connected,
    Subscribed,
}

#[derive(Debug)]
struct Task {
    info: TaskInfo,
    /// Default executor: the ids of the tasks of its group.
    group: Vec<String>,
    /// Default executor: the (pretend) child container id.
    container_id: Option<ContainerId>,
    pid: Option<i32>,
    launched: bool,
    acknowledged: bool,
    terminated: bool,
    killing: bool,
    /// A kill that arrived before the process existed.
    kill_pending: Option<Duration>,
    killed_by_health: bool,
    killed_by_max_completion: bool,
    killing_group: bool,
    kill_started: Option<Instant>,
    escalate_at: Option<Instant>,
    generation: u64,
    last_status: Option<TaskStatus>,
    health: Option<(Probe, HealthState)>,
    check: Option<(Probe, CheckState)>,
    probing: bool,
    environment: BTreeMap<String, String>,
}

/// The executor (see the module docs).
pub struct Executor {
    settings: Settings,
    uuids: Box<dyn FnMut() -> [u8; 16] + Send>,
    connection: Connection,
    framework_info: Option<FrameworkInfo>,
    /// Updates sent and not acknowledged, oldest first.
    unacked: Vec<([u8; 16], call::Update)>,
    tasks: BTreeMap<String, Task>,
    /// The command executor's one task.
    own_task: Option<String>,
    shutting_down: bool,
    shutdown_deadline_set: bool,
    /// Default executor: a health check killed a task.
    unhealthy: bool,
    exited: bool,
    effects: Vec<Effect>,
}

impl Executor {
    /// `uuids` makes status update UUIDs (random in production; a sequence
    /// in tests).
    pub fn new(settings: Settings, uuids: Box<dyn FnMut() -> [u8; 16] + Send>) -> Executor {
        Executor {
            settings,
            uuids,
            connection: Connection::Disconnected,
            framework_info: None,
            unacked: Vec::new(),
            tasks: BTreeMap::new(),
            own_task: None,
            shutting_down: false,
            shutdown_deadline_set: false,
            unhealthy: false,
            exited: false,
            effects: Vec::new(),
        }
    }

    /// Whether the executor has decided to exit.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// The pid of a task's process, if it runs.
    pub fn pid(&self, task_id: &str) -> Option<i32> {
        self.tasks.get(task_id).and_then(|t| t.pid)
    }

    /// Pids of every task still running.
    pub fn running_pids(&self) -> Vec<(String, i32)> {
        self.tasks.iter().filter(|(_, t)| !t.terminated).filter_map(|(id, t)| t.pid.map(|p| (id.clone(), p))).collect()
    }

    pub fn handle(&mut self, now: Now, input: Input) -> Vec<Effect> {
        if self.exited {
            return Vec::new();
        }
        match input {
            Input::Connected => {
                self.connection = Connection::Connected;
                self.subscribe();
            }
            Input::Disconnected => {
                self.connection = Connection::Disconnected;
                if self.settings.flavor == Flavor::Default {
                    // Checks pause while the agent is away (Mesos pauses them).
                    let probing: Vec<String> =
                        self.tasks.iter().filter(|(_, t)| t.probing).map(|(id, _)| id.clone()).collect();
                    for id in probing {
                        self.stop_probes(&id);
                    }
                }
            }
            Input::Event(event) => self.on_event(now, *event),
            Input::Launched { task_id, pid } => self.on_launched(now, &task_id, pid),
            Input::LaunchFailed { task_id, error } => {
                tracing::error!("Failed to launch task '{task_id}': {error}");
                self.on_exited(now, &task_id, None, Some(error));
            }
            Input::Exited { task_id, status } => self.on_exited(now, &task_id, status, None),
            Input::Timer(timer) => self.on_timer(now, timer),
            Input::Health { task_id, result } => self.on_health(now, &task_id, result),
            Input::Check { task_id, result } => self.on_check(now, &task_id, result),
        }
        std::mem::take(&mut self.effects)
    }

    fn emit(&mut self, effect: Effect) {
        if let Effect::Exit { .. } = effect {
            if self.exited {
                return;
            }
            self.exited = true;
        }
        self.effects.push(effect);
    }

    fn exit(&mut self, code: i32, reason: impl Into<String>) {
        self.emit(Effect::Exit { code, reason: reason.into() });
    }

    fn timer(&mut self, timer: Timer, after: Duration) {
        self.emit(Effect::SetTimer { timer, after });
    }

    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.settings.executor_id.clone(),
            framework_id: self.settings.framework_id.clone(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// SUBSCRIBE with what the agent may have missed; resent every second
    /// until subscribed.
    fn subscribe(&mut self) {
        if self.connection != Connection::Connected {
            return;
        }
        let unacknowledged_tasks = self
            .tasks
            .values()
            .filter(|t| !t.acknowledged && (self.settings.flavor == Flavor::Command || t.launched))
            .map(|t| t.info.clone())
            .collect();
        let unacknowledged_updates = self.unacked.iter().map(|(_, u)| u.clone()).collect();
        let mut call = self.call(call::Type::Subscribe);
        call.subscribe = Some(call::Subscribe { unacknowledged_tasks, unacknowledged_updates });
        self.emit(Effect::Send(call));
        self.timer(Timer::Subscribe, SUBSCRIBE_RETRY);
    }

    fn on_event(&mut self, now: Now, event: Event) {
        let kind = event::Type::try_from(event.r#type.unwrap_or(0)).unwrap_or(event::Type::Unknown);
        tracing::info!("Received {} event", kind.as_str_name());
        match kind {
            event::Type::Subscribed => {
                let Some(subscribed) = event.subscribed else { return };
                tracing::info!("Subscribed executor on {}", subscribed.agent_info.hostname);
                self.framework_info = Some(subscribed.framework_info);
                self.connection = Connection::Subscribed;
                if self.settings.flavor == Flavor::Default {
                    let paused: Vec<String> = self
                        .tasks
                        .iter()
                        .filter(|(_, t)| t.launched && !t.probing && !t.killing && !t.terminated)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in paused {
                        self.start_probes(&id, true);
                    }
                }
            }
            event::Type::Launch => match (self.settings.flavor, event.launch) {
                (Flavor::Command, Some(launch)) => self.launch(now, launch.task),
                (Flavor::Default, _) => {
                    tracing::error!("LAUNCH event is not supported");
                    self.shutdown(now);
                }
                _ => {}
            },
            event::Type::LaunchGroup => match (self.settings.flavor, event.launch_group) {
                (Flavor::Default, Some(group)) => self.launch_group(now, group.task_group.tasks),
                (Flavor::Command, _) => {
                    tracing::error!("LAUNCH_GROUP event is not supported");
                    self.shutdown(now);
                }
                _ => {}
            },
            event::Type::Kill => {
                if let Some(kill) = event.kill {
                    self.on_kill(now, &kill.task_id.value, kill.kill_policy.as_ref());
                }
            }
            event::Type::Acknowledged => {
                if let Some(ack) = event.acknowledged {
                    self.on_acknowledged(&ack.task_id.value, &ack.uuid);
                }
            }
            event::Type::Shutdown => self.shutdown(now),
            event::Type::Error => {
                tracing::error!("Error: {}", event.error.map(|e| e.message).unwrap_or_default());
            }
            event::Type::Message | event::Type::Heartbeat => {}
            event::Type::Unknown => tracing::warn!("Received an UNKNOWN event and ignored"),
        }
    }

    fn new_task(&self, info: TaskInfo) -> Task {
        Task {
            info,
            group: Vec::new(),
            container_id: None,
            pid: None,
            launched: false,
            acknowledged: false,
            terminated: false,
            killing: false,
            kill_pending: None,
            killed_by_health: false,
            killed_by_max_completion: false,
            killing_group: false,
            kill_started: None,
            escalate_at: None,
            generation: 0,
            last_status: None,
            health: None,
            check: None,
            probing: false,
            environment: self.settings.environment.clone(),
        }
    }

    fn allocation_role(task: &TaskInfo) -> Option<String> {
        task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone())
    }

    /// The command executor's LAUNCH.
    fn launch(&mut self, now: Now, info: TaskInfo) {
        let task_id = info.task_id.value.clone();
        if self.own_task.is_some() {
            let status = self.status(
                now,
                &task_id,
                TaskState::TaskFailed,
                None,
                Some("Attempted to run multiple tasks using a \"command\" executor".into()),
            );
            self.forward(status);
            return;
        }
        self.own_task = Some(task_id.clone());
        let command = self.settings.task_command.clone().or_else(|| info.command.clone());
        let task = self.new_task(info.clone());
        self.tasks.insert(task_id.clone(), task);
        let starting = self.status(now, &task_id, TaskState::TaskStarting, None, None);
        self.forward(starting);

        let what = if command.as_ref().is_some_and(|c| c.shell()) { "Shell command" } else { "Executable" };
        let Some(command) = command.filter(|c| c.value.as_deref().is_some_and(|v| !v.is_empty())) else {
            let message = format!("{what} of task '{task_id}' is not specified");
            self.on_exited(now, &task_id, None, Some(message));
            return;
        };
        self.arm_max_completion(&info);
        self.emit(Effect::Launch(LaunchTask {
            task_id: task_id.clone(),
            command,
            environment: self.settings.environment.clone(),
            allocation_role: Self::allocation_role(&info),
            directory: self.settings.sandbox.clone(),
            own_output: false,
            link: None,
            fetch: false,
            user: self.settings.user.clone(),
        }));
    }

    fn arm_max_completion(&mut self, info: &TaskInfo) {
        if let Some(max) = info.max_completion_time.as_ref().filter(|d| d.nanoseconds > 0) {
            let duration = Duration::from_nanos(max.nanoseconds as u64);
            tracing::info!("Task {} has a max completion time of {duration:?}", info.task_id.value);
            self.timer(Timer::MaxCompletion { task_id: info.task_id.value.clone() }, duration);
        }
    }

    /// The default executor's LAUNCH_GROUP.
    fn launch_group(&mut self, now: Now, infos: Vec<TaskInfo>) {
        if self.shutting_down {
            tracing::warn!("Ignoring the launch group operation as the executor is shutting down");
            return;
        }
        let group: Vec<String> = infos.iter().map(|t| t.task_id.value.clone()).collect();
        for info in infos {
            let task_id = info.task_id.value.clone();
            if self.tasks.contains_key(&task_id) {
                tracing::warn!("Ignoring the launch of task '{task_id}': it is already known");
                continue;
            }
            let container = uuid::Uuid::from_bytes((self.uuids)()).to_string();
            let directory = self.settings.sandbox.join("containers").join(&container);
            let mut task = self.new_task(info.clone());
            task.group = group.clone();
            task.container_id = Some(ContainerId { value: container, parent: None });
            task.environment.insert("MESOS_SANDBOX".into(), directory.display().to_string());
            if let Some(ip) = self.settings.environment.get("LIBPROCESS_IP") {
                task.environment.insert("MESOS_CONTAINER_IP".into(), ip.clone());
            }
            let environment = task.environment.clone();
            self.tasks.insert(task_id.clone(), task);
            let starting = self.status(now, &task_id, TaskState::TaskStarting, None, None);
            self.forward(starting);
            self.arm_max_completion(&info);
            self.emit(Effect::Launch(LaunchTask {
                task_id: task_id.clone(),
                command: info.command.clone().unwrap_or_default(),
                environment,
                allocation_role: Self::allocation_role(&info),
                directory,
                own_output: true,
                link: Some(self.settings.sandbox.join("tasks").join(&task_id)),
                fetch: true,
                user: self.settings.user.clone(),
            }));
        }
    }

    fn on_launched(&mut self, now: Now, task_id: &str, pid: i32) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        tracing::info!("Forked command of task '{task_id}' at {pid}");
        task.pid = Some(pid);
        task.launched = true;
        let pending = task.kill_pending.take();
        let running = self.status(now, task_id, TaskState::TaskRunning, None, None);
        self.forward(running);
        self.prepare_probes(now, task_id);
        if let Some(grace) = pending {
            self.kill(now, task_id, grace);
        } else {
            self.start_probes(task_id, false);
        }
    }

    fn prepare_probes(&mut self, now: Now, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if let Some(check) = &task.info.health_check {
            match Probe::from_health_check(check) {
                Ok(probe) => task.health = Some((probe, HealthState::new(check, now.instant))),
                Err(e) => tracing::error!("Failed to create health checker: {e}"),
            }
        }
        if let Some(check) = &task.info.check {
            match Probe::from_check(check) {
                Ok(probe) => {
                    let state = CheckState::new(probe.check_type());
                    task.check = Some((probe, state));
                }
                Err(e) => tracing::error!("Failed to create checker: {e}"),
            }
        }
    }

    /// Starts the task's probes (`resume`: right away, as Mesos resumes).
    fn start_probes(&mut self, task_id: &str, resume: bool) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.health.is_none() && task.check.is_none() {
            return;
        }
        let schedule = |probe: &Probe| {
            let mut probe = probe.clone();
            if resume {
                probe.delay = Duration::ZERO;
            }
            probe
        };
        task.probing = true;
        let effect = Effect::StartProbes {
            task_id: task_id.to_string(),
            health: task.health.as_ref().map(|(p, _)| schedule(p)),
            check: task.check.as_ref().map(|(p, _)| schedule(p)),
            environment: task.environment.clone(),
        };
        self.emit(effect);
    }

    fn stop_probes(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.probing {
            task.probing = false;
            self.emit(Effect::StopProbes { task_id: task_id.to_string() });
        }
    }

    fn on_kill(&mut self, now: Now, task_id: &str, policy: Option<&KillPolicy>) {
        if self.settings.flavor == Flavor::Default && self.shutting_down {
            tracing::warn!("Ignoring kill for task '{task_id}' since the executor is shutting down");
            return;
        }
        let Some(task) = self.tasks.get(task_id).filter(|t| !t.terminated) else {
            tracing::warn!("Ignoring kill for task '{task_id}' as it is no longer active");
            return;
        };
        let grace = policy
            .and_then(|p| p.grace_period.as_ref())
            .or_else(|| task.info.kill_policy.as_ref().and_then(|p| p.grace_period.as_ref()))
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(DEFAULT_KILL_GRACE);
        tracing::info!("Received kill for task {task_id} with grace period of {grace:?}");
        self.kill(now, task_id, grace);
    }

    /// SIGTERM now, SIGKILL after `grace` (see the module docs).
    fn kill(&mut self, now: Now, task_id: &str, grace: Duration) {
        let flavor = self.settings.flavor;
        let killing_state = self.framework_has_killing_state();
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.terminated {
            return;
        }
        if task.killing {
            if flavor == Flavor::Default {
                tracing::warn!("Ignoring kill for task '{task_id}' as it is in the process of getting killed");
                return;
            }
            // A later kill may shorten the grace period, never extend it.
            let (Some(started), Some(deadline)) = (task.kill_started, task.escalate_at) else { return };
            if started + grace > deadline {
                return;
            }
            let at = (started + grace).max(now.instant);
            task.escalate_at = Some(at);
            task.generation += 1;
            let timer = Timer::Escalate { task_id: task_id.to_string(), generation: task.generation };
            tracing::info!("Rescheduling escalation to SIGKILL in {:?} from now", at - now.instant);
            self.timer(timer, at - now.instant);
            return;
        }
        if !task.launched {
            // The process is being started; kill it as soon as it is.
            task.kill_pending = Some(task.kill_pending.map_or(grace, |g| g.min(grace)));
            return;
        }
        task.killing = true;
        task.kill_started = Some(now.instant);
        task.escalate_at = Some(now.instant + grace);
        task.generation += 1;
        let generation = task.generation;
        let by_max_completion = task.killed_by_max_completion;
        if killing_state && !by_max_completion {
            let status = self.status(now, task_id, TaskState::TaskKilling, None, None);
            self.forward(status);
        }
        self.stop_probes(task_id);
        tracing::info!("Sending SIGTERM to process tree of task '{task_id}'; escalating to SIGKILL in {grace:?}");
        self.emit(Effect::Signal { task_id: task_id.to_string(), signal: Signal::SIGTERM });
        self.timer(Timer::Escalate { task_id: task_id.to_string(), generation }, grace);
    }

    fn framework_has_killing_state(&self) -> bool {
        self.framework_info.as_ref().is_some_and(|f| {
            f.capabilities.iter().any(|c| c.r#type == Some(framework_info::capability::Type::TaskKillingState as i32))
        })
    }

    fn on_exited(&mut self, now: Now, task_id: &str, status: Option<i32>, launch_error: Option<String>) {
        let flavor = self.settings.flavor;
        let docker = self.settings.docker;
        let unhealthy = self.unhealthy;
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.terminated {
            return;
        }
        task.terminated = true;
        task.generation += 1;
        let (killing, by_max, by_health) = (task.killing, task.killed_by_max_completion, task.killed_by_health);
        self.stop_probes(task_id);

        let mut reason = None;
        let (state, message) = match (launch_error, status) {
            (Some(error), _) => (TaskState::TaskFailed, error),
            (None, None) => (
                TaskState::TaskFailed,
                match flavor {
                    Flavor::Command if docker => "Failed to get exit status of container".to_string(),
                    Flavor::Command => "Failed to get exit status for Command".to_string(),
                    Flavor::Default => "Command terminated with unknown status".to_string(),
                },
            ),
            (None, Some(status)) => {
                let state = if by_max {
                    reason = Some(task_status::Reason::MaxCompletionTimeReached);
                    TaskState::TaskFailed
                } else if killing {
                    TaskState::TaskKilled
                } else if procfs::wsucceeded(status) {
                    TaskState::TaskFinished
                } else {
                    TaskState::TaskFailed
                };
                let noun = if docker { "Container" } else { "Command" };
                (state, format!("{noun} {}", procfs::wstringify(status)))
            }
        };
        tracing::info!("Task '{task_id}': {message}");
        let mut update = self.status(now, task_id, state, reason, Some(message));
        let health_killed = match flavor {
            Flavor::Command => killing && by_health,
            Flavor::Default => unhealthy,
        };
        if health_killed {
            update.healthy = Some(false);
        }
        self.forward(update);

        match flavor {
            Flavor::Command => self.timer(Timer::TerminalAck, TERMINAL_ACK_TIMEOUT),
            Flavor::Default => {
                let killing_group = self.tasks.get(task_id).is_some_and(|t| t.killing_group);
                if !self.shutting_down
                    && !killing_group
                    && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled)
                {
                    self.kill_group(now, task_id);
                }
                self.tasks.remove(task_id);
                if self.tasks.is_empty() {
                    self.finish();
                }
            }
        }
    }

    /// Default executor: one task failed or was killed, so is its group.
    fn kill_group(&mut self, now: Now, task_id: &str) {
        let group = self.tasks.get(task_id).map(|t| t.group.clone()).unwrap_or_default();
        tracing::info!("Killing task group containing tasks {group:?}");
        for id in &group {
            if let Some(task) = self.tasks.get_mut(id) {
                task.killing_group = true;
            }
        }
        for id in group.iter().filter(|id| id.as_str() != task_id) {
            let killing = self.tasks.get(id).is_none_or(|t| t.killing || t.terminated);
            if !killing {
                let grace = self.policy_grace(id);
                self.kill(now, id, grace);
            }
        }
    }

    fn policy_grace(&self, task_id: &str) -> Duration {
        self.tasks
            .get(task_id)
            .and_then(|t| t.info.kill_policy.as_ref())
            .and_then(|p| p.grace_period.as_ref())
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(DEFAULT_KILL_GRACE)
    }

    /// Default executor: no task left; exit once the agent has every update.
    fn finish(&mut self) {
        if self.unacked.is_empty() {
            self.exit(0, "All tasks have terminated and their updates are acknowledged");
        } else {
            tracing::info!("Terminating after {TERMINAL_ACK_TIMEOUT:?}");
            self.timer(Timer::Linger, TERMINAL_ACK_TIMEOUT);
        }
    }

    fn on_acknowledged(&mut self, task_id: &str, uuid: &[u8]) {
        let Some(index) = self.unacked.iter().position(|(u, _)| u.as_slice() == uuid) else {
            tracing::warn!("Received acknowledgement {} for unknown status update", hex(uuid));
            return;
        };
        let (_, update) = self.unacked.remove(index);
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.acknowledged = true;
        }
        let terminal = is_terminal(update.status.state());
        match self.settings.flavor {
            Flavor::Command => {
                if terminal && self.own_task.as_deref() == Some(update.status.task_id.value.as_str()) {
                    self.exit(0, "The terminal status update was acknowledged");
                }
            }
            Flavor::Default => {
                if self.tasks.is_empty() && self.unacked.is_empty() {
                    self.exit(0, "All tasks have terminated and their updates are acknowledged");
                }
            }
        }
    }

    fn shutdown(&mut self, now: Now) {
        if !self.shutdown_deadline_set {
            // Mesos's library kills everything once the grace period is over.
            self.shutdown_deadline_set = true;
            self.timer(Timer::ShutdownDeadline, self.settings.shutdown_grace_period);
        }
        match self.settings.flavor {
            Flavor::Command => {
                tracing::info!("Shutting down");
                match self.own_task.clone() {
                    Some(task_id) if self.tasks.get(&task_id).is_some_and(|t| !t.terminated) => {
                        let grace = self.settings.shutdown_grace_period.saturating_sub(SHUTDOWN_BUFFER);
                        self.kill(now, &task_id, grace);
                    }
                    Some(_) => {}
                    None => self.exit(0, "Shut down before any task was launched"),
                }
            }
            Flavor::Default => {
                if self.shutting_down {
                    tracing::warn!("Ignoring shutdown since it is in progress");
                    return;
                }
                tracing::info!("Shutting down");
                self.shutting_down = true;
                if self.tasks.is_empty() || self.connection != Connection::Subscribed {
                    let ids: Vec<(String, i32)> = self.running_pids();
                    for (id, _) in ids {
                        self.emit(Effect::Signal { task_id: id, signal: Signal::SIGKILL });
                    }
                    self.finish();
                    return;
                }
                let ids: Vec<String> =
                    self.tasks.iter().filter(|(_, t)| !t.killing).map(|(id, _)| id.clone()).collect();
                for id in ids {
                    let grace = self.policy_grace(&id);
                    self.kill(now, &id, grace);
                }
            }
        }
    }

    fn on_timer(&mut self, now: Now, timer: Timer) {
        match timer {
            Timer::Subscribe => self.subscribe(),
            Timer::Escalate { task_id, generation } => {
                let Some(task) = self.tasks.get(&task_id) else { return };
                if task.terminated || task.generation != generation {
                    return;
                }
                tracing::info!("Task '{task_id}' did not terminate after its grace period, sending SIGKILL");
                self.emit(Effect::Signal { task_id, signal: Signal::SIGKILL });
            }
            Timer::MaxCompletion { task_id } => {
                let Some(task) = self.tasks.get_mut(&task_id) else { return };
                if task.terminated || task.killing {
                    return;
                }
                tracing::info!("Killing task {task_id} which exceeded its maximum completion time");
                task.killed_by_max_completion = true;
                self.kill(now, &task_id, Duration::ZERO);
            }
            Timer::TerminalAck => {
                self.exit(1, "Did not receive ACK for the terminal status update from the agent");
            }
            Timer::Linger => self.exit(0, "Terminating after waiting for acknowledgements"),
            Timer::ShutdownDeadline => {
                for (task_id, _) in self.running_pids() {
                    self.emit(Effect::Signal { task_id, signal: Signal::SIGKILL });
                }
                self.exit(1, "Committing suicide: the shutdown grace period is over");
            }
        }
    }

    fn on_health(&mut self, now: Now, task_id: &str, result: ProbeResult) {
        if self.settings.flavor == Flavor::Default && self.connection == Connection::Disconnected {
            return;
        }
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.killing || task.terminated || !task.probing {
            return;
        }
        let Some((_, health)) = task.health.as_mut() else { return };
        let Some(update) = health.on_result(now.instant, &result) else { return };
        let Some(mut status) = task.last_status.clone() else { return };
        tracing::info!("Task '{task_id}' is {}", if update.healthy { "healthy" } else { "not healthy" });
        status.uuid = Some((self.uuids)().to_vec());
        status.timestamp = Some(now.unix_secs);
        status.reason = Some(task_status::Reason::TaskHealthCheckStatusUpdated as i32);
        status.healthy = Some(update.healthy);
        self.forward(status);
        if update.kill_task {
            match self.settings.flavor {
                Flavor::Command => {
                    if let Some(task) = self.tasks.get_mut(task_id) {
                        task.killed_by_health = true;
                    }
                }
                Flavor::Default => self.unhealthy = true,
            }
            let grace = self.policy_grace(task_id);
            self.kill(now, task_id, grace);
        }
    }

    fn on_check(&mut self, now: Now, task_id: &str, result: ProbeResult) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        if task.killing || task.terminated || !task.probing {
            return;
        }
        let Some((_, check)) = task.check.as_mut() else { return };
        let Some(check_status) = check.on_result(result) else { return };
        let Some(mut status) = task.last_status.clone() else { return };
        status.uuid = Some((self.uuids)().to_vec());
        status.timestamp = Some(now.unix_secs);
        status.reason = Some(task_status::Reason::TaskCheckStatusUpdated as i32);
        status.check_status = Some(check_status);
        self.forward(status);
    }

    /// A fresh status for a task (no data of earlier ones carried over).
    fn status(
        &mut self,
        now: Now,
        task_id: &str,
        state: TaskState,
        reason: Option<task_status::Reason>,
        message: Option<String>,
    ) -> TaskStatus {
        let task = self.tasks.get(task_id);
        let check_status = task.and_then(|t| t.info.check.as_ref()).map(|c| empty_check_status(c.r#type()));
        let container_status = task
            .and_then(|t| t.container_id.clone())
            .map(|id| ContainerStatus { container_id: Some(id), ..Default::default() });
        TaskStatus {
            task_id: TaskId { value: task_id.to_string() },
            state: state as i32,
            message,
            source: Some(task_status::Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            executor_id: Some(self.settings.executor_id.clone()),
            timestamp: Some(now.unix_secs),
            uuid: Some((self.uuids)().to_vec()),
            check_status,
            container_status,
            ..Default::default()
        }
    }

    /// Sends an update and keeps it until acknowledged.
    fn forward(&mut self, status: TaskStatus) {
        let mut uuid = [0u8; 16];
        let bytes = status.uuid.clone().unwrap_or_default();
        uuid[..bytes.len().min(16)].copy_from_slice(&bytes[..bytes.len().min(16)]);
        if let Some(task) = self.tasks.get_mut(&status.task_id.value) {
            task.last_status = Some(status.clone());
        }
        let update = call::Update { status };
        self.unacked.push((uuid, update.clone()));
        let mut call = self.call(call::Type::Update);
        call.update = Some(update);
        self.emit(Effect::Send(call));
    }
}

pub use crate::common::task_states::is_terminal_v1 as is_terminal;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::v1::{health_check, AgentInfo, DurationInfo, ExecutorInfo, HealthCheck};

    /// An executor with deterministic UUIDs and a clock the test moves.
    struct Harness {
        executor: Executor,
        t0: Instant,
        elapsed: Duration,
    }

    impl Harness {
        fn new(flavor: Flavor) -> Harness {
            let mut counter = 0u8;
            let settings = Settings {
                flavor,
                framework_id: FrameworkId { value: "fw".into() },
                executor_id: ExecutorId { value: "ex".into() },
                sandbox: "/sandbox".into(),
                shutdown_grace_period: Duration::from_secs(5),
                environment: BTreeMap::from([("LIBPROCESS_IP".into(), "10.1.2.3".into())]),
                task_command: None,
                user: None,
                docker: false,
            };
            let executor = Executor::new(
                settings,
                Box::new(move || {
                    counter = counter.wrapping_add(1);
                    [counter; 16]
                }),
            );
            Harness { executor, t0: Instant::now(), elapsed: Duration::ZERO }
        }

        fn at(&mut self, secs: u64) -> Now {
            self.elapsed = Duration::from_secs(secs);
            Now { instant: self.t0 + self.elapsed, unix_secs: 1e9 + secs as f64 }
        }

        fn handle(&mut self, input: Input) -> Vec<Effect> {
            let now = Now { instant: self.t0 + self.elapsed, unix_secs: 1e9 + self.elapsed.as_secs_f64() };
            self.executor.handle(now, input)
        }

        fn event(&mut self, event: Event) -> Vec<Effect> {
            self.handle(Input::Event(Box::new(event)))
        }

        fn subscribed(&mut self, killing_capability: bool) -> Vec<Effect> {
            self.handle(Input::Connected);
            let mut framework_info = FrameworkInfo::default();
            if killing_capability {
                framework_info.capabilities.push(framework_info::Capability {
                    r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
                });
            }
            self.event(Event {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    executor_info: ExecutorInfo::default(),
                    framework_info,
                    agent_info: AgentInfo { hostname: "agent".into(), ..Default::default() },
                    container_id: None,
                }),
                ..Default::default()
            })
        }
    }

    fn task(id: &str, command: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            command: Some(CommandInfo { value: Some(command.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn launch(task: TaskInfo) -> Event {
        Event { r#type: Some(event::Type::Launch as i32), launch: Some(event::Launch { task }), ..Default::default() }
    }

    fn kill(id: &str, grace: Option<u64>) -> Event {
        Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: TaskId { value: id.into() },
                kill_policy: grace.map(|s| KillPolicy {
                    grace_period: Some(DurationInfo { nanoseconds: (s * 1_000_000_000) as i64 }),
                }),
            }),
            ..Default::default()
        }
    }

    fn ack(status: &TaskStatus) -> Event {
        Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().unwrap(),
            }),
            ..Default::default()
        }
    }

    /// The updates among effects, as (task, state, message).
    fn updates(effects: &[Effect]) -> Vec<TaskStatus> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(call) => call.update.as_ref().map(|u| u.status.clone()),
                _ => None,
            })
            .collect()
    }

    fn states(effects: &[Effect]) -> Vec<(String, TaskState)> {
        updates(effects).iter().map(|s| (s.task_id.value.clone(), s.state())).collect()
    }

    fn signals(effects: &[Effect]) -> Vec<(String, Signal)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Signal { task_id, signal } => Some((task_id.clone(), *signal)),
                _ => None,
            })
            .collect()
    }

    fn timers(effects: &[Effect]) -> Vec<(Timer, Duration)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::SetTimer { timer, after } => Some((timer.clone(), *after)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn command_task_runs_to_completion_and_exits_on_ack() {
        let mut h = Harness::new(Flavor::Command);
        let effects = h.handle(Input::Connected);
        let Effect::Send(subscribe) = &effects[0] else { panic!() };
        assert_eq!(subscribe.r#type(), call::Type::Subscribe);
        assert_eq!(timers(&effects), vec![(Timer::Subscribe, SUBSCRIBE_RETRY)]);
        // Resent every second until subscribed, not after.
        assert_eq!(h.handle(Input::Timer(Timer::Subscribe)).len(), 2);
        h.subscribed(false);
        assert!(h.handle(Input::Timer(Timer::Subscribe)).is_empty());

        let effects = h.event(launch(task("t1", "echo hi")));
        assert_eq!(states(&effects), vec![("t1".into(), TaskState::TaskStarting)]);
        let Some(Effect::Launch(l)) = effects.iter().find(|e| matches!(e, Effect::Launch(_))) else { panic!() };
        assert_eq!((l.directory.to_str(), l.own_output, l.fetch), (Some("/sandbox"), false, false));
        let effects = h.handle(Input::Launched { task_id: "t1".into(), pid: 42 });
        assert_eq!(states(&effects), vec![("t1".into(), TaskState::TaskRunning)]);

        let effects = h.handle(Input::Exited { task_id: "t1".into(), status: Some(0) });
        let finished = &updates(&effects)[0];
        assert_eq!(finished.state(), TaskState::TaskFinished);
        assert_eq!(finished.message.as_deref(), Some("Command exited with status 0"));
        assert_eq!(finished.source(), task_status::Source::Executor);
        assert_eq!(timers(&effects), vec![(Timer::TerminalAck, TERMINAL_ACK_TIMEOUT)]);
        // A second LAUNCH is refused.
        let effects = h.event(launch(task("t2", "true")));
        assert_eq!(
            updates(&effects)[0].message.as_deref(),
            Some("Attempted to run multiple tasks using a \"command\" executor")
        );
        assert!(!h.executor.exited());
        let effects = h.event(ack(finished));
        assert!(matches!(effects.last(), Some(Effect::Exit { code: 0, .. })));
    }

    #[test]
    fn failures_and_signals_are_reported_like_mesos() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        h.event(launch(task("t", "exit 3")));
        h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let effects = h.handle(Input::Exited { task_id: "t".into(), status: Some(3 << 8) });
        let failed = &updates(&effects)[0];
        assert_eq!(
            (failed.state(), failed.message.as_deref()),
            (TaskState::TaskFailed, Some("Command exited with status 3"))
        );
        // Without an ack the executor gives up after a minute.
        let effects = h.handle(Input::Timer(Timer::TerminalAck));
        assert!(matches!(effects.as_slice(), [Effect::Exit { code: 1, .. }]));

        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        h.event(launch(task("t", "sleep 1")));
        h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let effects = h.handle(Input::Exited { task_id: "t".into(), status: Some(9) });
        assert_eq!(updates(&effects)[0].message.as_deref(), Some("Command terminated with signal Killed"));
        assert_eq!(updates(&effects)[0].state(), TaskState::TaskFailed);
    }

    #[test]
    fn kill_escalates_after_the_grace_period_which_may_only_shrink() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(true);
        let mut t = task("t", "sleep 100");
        t.kill_policy = Some(KillPolicy { grace_period: Some(DurationInfo { nanoseconds: 10_000_000_000 }) });
        h.event(launch(t));
        h.handle(Input::Launched { task_id: "t".into(), pid: 42 });

        h.at(100);
        let effects = h.event(kill("t", None));
        assert_eq!(states(&effects), vec![("t".into(), TaskState::TaskKilling)]);
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGTERM)]);
        assert_eq!(
            timers(&effects),
            vec![(Timer::Escalate { task_id: "t".into(), generation: 1 }, Duration::from_secs(10))]
        );
        // A longer grace period is ignored; a shorter one reschedules from the start.
        h.at(102);
        assert!(h.event(kill("t", Some(30))).is_empty());
        let effects = h.event(kill("t", Some(5)));
        assert_eq!(
            timers(&effects),
            vec![(Timer::Escalate { task_id: "t".into(), generation: 2 }, Duration::from_secs(3))]
        );
        assert!(signals(&effects).is_empty(), "no second SIGTERM, no second TASK_KILLING");
        // The superseded timer does nothing; the current one sends SIGKILL.
        assert!(h.handle(Input::Timer(Timer::Escalate { task_id: "t".into(), generation: 1 })).is_empty());
        let effects = h.handle(Input::Timer(Timer::Escalate { task_id: "t".into(), generation: 2 }));
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGKILL)]);
        let effects = h.handle(Input::Exited { task_id: "t".into(), status: Some(9) });
        let killed = &updates(&effects)[0];
        assert_eq!(
            (killed.state(), killed.message.as_deref()),
            (TaskState::TaskKilled, Some("Command terminated with signal Killed"))
        );
        assert_eq!(killed.healthy, None);
    }

    #[test]
    fn no_task_killing_without_the_capability_and_max_completion_fails_the_task() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        let mut t = task("t", "sleep 100");
        t.max_completion_time = Some(DurationInfo { nanoseconds: 2_000_000_000 });
        let effects = h.event(launch(t));
        assert_eq!(timers(&effects), vec![(Timer::MaxCompletion { task_id: "t".into() }, Duration::from_secs(2))]);
        h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let effects = h.handle(Input::Timer(Timer::MaxCompletion { task_id: "t".into() }));
        assert!(states(&effects).is_empty());
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGTERM)]);
        assert_eq!(timers(&effects)[0].1, Duration::ZERO);
        let effects = h.handle(Input::Exited { task_id: "t".into(), status: Some(15) });
        let failed = &updates(&effects)[0];
        assert_eq!(failed.state(), TaskState::TaskFailed);
        assert_eq!(failed.reason(), task_status::Reason::MaxCompletionTimeReached);
    }

    #[test]
    fn failing_health_checks_kill_the_task_and_mark_it_unhealthy() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        let mut t = task("t", "sleep 100");
        t.health_check = Some(HealthCheck {
            r#type: Some(health_check::Type::Command as i32),
            command: Some(CommandInfo { value: Some("false".into()), ..Default::default() }),
            consecutive_failures: Some(2),
            grace_period_seconds: Some(0.0),
            ..Default::default()
        });
        h.event(launch(t));
        let effects = h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let Some(Effect::StartProbes { health: Some(probe), check: None, .. }) =
            effects.iter().find(|e| matches!(e, Effect::StartProbes { .. }))
        else {
            panic!("{effects:?}")
        };
        assert_eq!(probe.delay, Duration::from_secs(15));
        let failure = || Input::Health { task_id: "t".into(), result: Err("Command exited with status 1".into()) };
        let effects = h.handle(failure());
        let unhealthy = &updates(&effects)[0];
        assert_eq!((unhealthy.state(), unhealthy.healthy), (TaskState::TaskRunning, Some(false)));
        assert_eq!(unhealthy.reason(), task_status::Reason::TaskHealthCheckStatusUpdated);
        let effects = h.handle(failure());
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGTERM)]);
        assert!(effects.contains(&Effect::StopProbes { task_id: "t".into() }));
        let effects = h.handle(Input::Exited { task_id: "t".into(), status: Some(15) });
        let killed = &updates(&effects)[0];
        assert_eq!((killed.state(), killed.healthy), (TaskState::TaskKilled, Some(false)));
    }

    #[test]
    fn check_results_are_reported_when_they_change() {
        use crate::proto::mesos::v1::{check_info, check_status_info, CheckInfo, CheckStatusInfo};
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        let mut t = task("t", "sleep 100");
        t.check = Some(CheckInfo {
            r#type: Some(check_info::Type::Command as i32),
            command: Some(check_info::Command {
                command: CommandInfo { value: Some("exit 2".into()), ..Default::default() },
            }),
            ..Default::default()
        });
        let starting = updates(&h.event(launch(t)))[0].clone();
        // Every status of a task with a check carries a (maybe empty) result.
        assert_eq!(starting.check_status, Some(empty_check_status(check_info::Type::Command)));
        let effects = h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        assert!(effects.iter().any(|e| matches!(e, Effect::StartProbes { check: Some(_), health: None, .. })));
        let result = CheckStatusInfo {
            r#type: Some(check_info::Type::Command as i32),
            command: Some(check_status_info::Command { exit_code: Some(2) }),
            ..Default::default()
        };
        let effects = h.handle(Input::Check { task_id: "t".into(), result: Ok(result) });
        let update = &updates(&effects)[0];
        assert_eq!(update.state(), TaskState::TaskRunning);
        assert_eq!(update.reason(), task_status::Reason::TaskCheckStatusUpdated);
        assert_eq!(update.check_status, Some(result));
        assert!(h.handle(Input::Check { task_id: "t".into(), result: Ok(result) }).is_empty());
    }

    #[test]
    fn resubscription_carries_unacknowledged_updates_and_task() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        h.event(launch(task("t", "sleep 100")));
        let running = h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let running = updates(&running)[0].clone();
        h.handle(Input::Disconnected);
        // Updates made while disconnected are kept too.
        h.handle(Input::Exited { task_id: "t".into(), status: Some(0) });
        let effects = h.handle(Input::Connected);
        let Effect::Send(call) = &effects[0] else { panic!() };
        let subscribe = call.subscribe.as_ref().unwrap();
        let sent: Vec<TaskState> = subscribe.unacknowledged_updates.iter().map(|u| u.status.state()).collect();
        assert_eq!(sent, vec![TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished]);
        assert_eq!(subscribe.unacknowledged_tasks.len(), 1);
        h.subscribed(false);
        h.event(ack(&running));
        let effects = h.handle(Input::Connected);
        let Effect::Send(call) = &effects[0] else { panic!() };
        let subscribe = call.subscribe.as_ref().unwrap();
        assert_eq!(subscribe.unacknowledged_updates.len(), 2);
        assert!(subscribe.unacknowledged_tasks.is_empty(), "an ack was received for the task");
    }

    #[test]
    fn shutdown_kills_within_the_grace_period_then_gives_up() {
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        h.event(launch(task("t", "sleep 100")));
        h.handle(Input::Launched { task_id: "t".into(), pid: 42 });
        let effects = h.event(Event { r#type: Some(event::Type::Shutdown as i32), ..Default::default() });
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGTERM)]);
        let timers = timers(&effects);
        assert!(timers.contains(&(Timer::ShutdownDeadline, Duration::from_secs(5))));
        assert!(timers.contains(&(Timer::Escalate { task_id: "t".into(), generation: 1 }, Duration::from_secs(3))));
        let effects = h.handle(Input::Timer(Timer::ShutdownDeadline));
        assert_eq!(signals(&effects), vec![("t".into(), Signal::SIGKILL)]);
        assert!(matches!(effects.last(), Some(Effect::Exit { code: 1, .. })));
        assert!(h.handle(Input::Exited { task_id: "t".into(), status: Some(9) }).is_empty());

        // Before any task: exit at once.
        let mut h = Harness::new(Flavor::Command);
        h.subscribed(false);
        let effects = h.event(Event { r#type: Some(event::Type::Shutdown as i32), ..Default::default() });
        assert!(matches!(effects.last(), Some(Effect::Exit { code: 0, .. })));
    }

    fn launch_group(tasks: Vec<TaskInfo>) -> Event {
        Event {
            r#type: Some(event::Type::LaunchGroup as i32),
            launch_group: Some(event::LaunchGroup { task_group: crate::proto::mesos::v1::TaskGroupInfo { tasks } }),
            ..Default::default()
        }
    }

    #[test]
    fn default_executor_kills_the_group_when_a_task_fails() {
        let mut h = Harness::new(Flavor::Default);
        h.subscribed(true);
        let effects = h.event(launch_group(vec![task("a", "exit 1"), task("b", "sleep 100")]));
        assert_eq!(
            states(&effects),
            vec![("a".into(), TaskState::TaskStarting), ("b".into(), TaskState::TaskStarting)]
        );
        let launches: Vec<&LaunchTask> =
            effects.iter().filter_map(|e| if let Effect::Launch(l) = e { Some(l) } else { None }).collect();
        assert_eq!(launches.len(), 2);
        assert!(launches[0].directory.starts_with("/sandbox/containers/"));
        assert_eq!(launches[0].link.as_deref(), Some(std::path::Path::new("/sandbox/tasks/a")));
        assert_eq!(launches[0].environment["MESOS_SANDBOX"], launches[0].directory.display().to_string());
        assert_eq!(launches[0].environment["MESOS_CONTAINER_IP"], "10.1.2.3");
        assert!(launches[0].own_output && launches[0].fetch);
        let running_a = h.handle(Input::Launched { task_id: "a".into(), pid: 10 });
        assert!(updates(&running_a)[0].container_status.as_ref().unwrap().container_id.is_some());
        h.handle(Input::Launched { task_id: "b".into(), pid: 11 });

        let effects = h.handle(Input::Exited { task_id: "a".into(), status: Some(1 << 8) });
        assert_eq!(states(&effects), vec![("a".into(), TaskState::TaskFailed), ("b".into(), TaskState::TaskKilling)]);
        assert_eq!(signals(&effects), vec![("b".into(), Signal::SIGTERM)]);
        let effects = h.handle(Input::Exited { task_id: "b".into(), status: Some(15) });
        assert_eq!(states(&effects), vec![("b".into(), TaskState::TaskKilled)]);
        // No task left, but updates are not acknowledged yet.
        assert_eq!(timers(&effects), vec![(Timer::Linger, TERMINAL_ACK_TIMEOUT)]);
        assert!(!h.executor.exited());
        // A LAUNCH (not a group) makes the default executor shut down.
        let effects = h.event(launch(task("c", "true")));
        assert!(timers(&effects).contains(&(Timer::ShutdownDeadline, Duration::from_secs(5))));
        assert!(states(&effects).is_empty());
    }

    #[test]
    fn default_executor_exits_when_everything_is_acknowledged() {
        let mut h = Harness::new(Flavor::Default);
        h.subscribed(false);
        let mut all = updates(&h.event(launch_group(vec![task("a", "true")])));
        all.extend(updates(&h.handle(Input::Launched { task_id: "a".into(), pid: 10 })));
        all.extend(updates(&h.handle(Input::Exited { task_id: "a".into(), status: Some(0) })));
        assert_eq!(all.last().unwrap().state(), TaskState::TaskFinished);
        let (last, rest) = all.split_last().unwrap();
        for status in rest {
            assert!(h.event(ack(status)).is_empty());
        }
        let effects = h.event(ack(last));
        assert!(matches!(effects.as_slice(), [Effect::Exit { code: 0, .. }]));
    }

    #[test]
    fn a_kill_before_the_process_exists_waits_for_it() {
        let mut h = Harness::new(Flavor::Default);
        h.subscribed(false);
        h.event(launch_group(vec![task("a", "sleep 100")]));
        assert!(signals(&h.event(kill("a", Some(1)))).is_empty());
        let effects = h.handle(Input::Launched { task_id: "a".into(), pid: 10 });
        assert_eq!(states(&effects), vec![("a".into(), TaskState::TaskRunning)]);
        assert_eq!(signals(&effects), vec![("a".into(), Signal::SIGTERM)]);
        assert_eq!(timers(&effects)[0].1, Duration::from_secs(1));
    }
}
