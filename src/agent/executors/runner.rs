//! The executors' I/O loop: feeds the [`Executor`] machine with the agent
//! client's events, task process exits, probe results and timers, and
//! carries out its effects. No decision is taken here.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::agent::containerizer::mesos::{launcher, procfs};
use crate::agent::fetcher::{Fetcher, FetcherConfig};
use crate::proto::mesos::v1::CommandInfo;
use crate::proto::mesos::Environment;

use super::checks::spawn_task_probes;
use super::client::{optional, AgentClient, ClientConfig, ClientEvent};
use super::core::{Effect, Executor, Flavor, Input, LaunchTask, Now, Settings, Timer};
use super::env::{ContentType, ExecutorEnv};

/// How an executor binary was started (its flags).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub flavor: Flavor,
    pub content_type: ContentType,
    /// `--task_command` (command executor).
    pub task_command: Option<CommandInfo>,
    /// `--task_environment` (command executor), applied under the task's own.
    pub task_environment: Option<Environment>,
    /// `--user` (command executor): run the task as this user (needs root).
    pub user: Option<String>,
}

impl RunOptions {
    pub fn new(flavor: Flavor) -> RunOptions {
        RunOptions {
            flavor,
            content_type: ContentType::Protobuf,
            task_command: None,
            task_environment: None,
            user: None,
        }
    }
}

fn now() -> Now {
    let unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    Now { instant: Instant::now(), unix_secs }
}

/// Runs the executor until it decides to exit; returns the exit code.
/// Must run inside a tokio runtime.
pub async fn run(env: ExecutorEnv, options: RunOptions) -> i32 {
    let environment = launcher::merge_environment(&env.variables, options.task_environment.as_ref());
    let settings = Settings {
        flavor: options.flavor,
        framework_id: env.framework_id.clone(),
        executor_id: env.executor_id.clone(),
        sandbox: env.sandbox.clone(),
        shutdown_grace_period: env.shutdown_grace_period,
        environment,
        task_command: options.task_command.clone(),
        user: options.user.clone(),
        docker: false,
    };
    let mut executor = Executor::new(settings, Box::new(|| *uuid::Uuid::new_v4().as_bytes()));
    let (client, mut events) = AgentClient::start(ClientConfig::from_env(&env, options.content_type));
    let fetcher = match Fetcher::uncached(FetcherConfig::default()) {
        Ok(f) => std::sync::Arc::new(f),
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let (inputs, mut inputs_rx) = mpsc::unbounded_channel::<Input>();
    let mut timers: BinaryHeap<Reverse<(Instant, u64, Timer)>> = BinaryHeap::new();
    let mut sequence = 0u64;
    let mut probes: HashMap<String, JoinHandle<()>> = HashMap::new();

    loop {
        let next_timer = timers.peek().map(|Reverse((at, _, _))| *at);
        let input = tokio::select! {
            event = events.recv() => match event {
                Some(ClientEvent::Connected) => Input::Connected,
                Some(ClientEvent::Disconnected) => Input::Disconnected,
                Some(ClientEvent::Event(event)) => Input::Event(event),
                None => {
                    tracing::error!("The agent client stopped");
                    return 1;
                }
            },
            input = inputs_rx.recv() => match input {
                Some(input) => input,
                None => continue,
            },
            Some(()) = optional(next_timer.map(|at| tokio::time::sleep_until(at.into()))) => {
                match timers.pop() {
                    Some(Reverse((_, _, timer))) => Input::Timer(timer),
                    None => continue,
                }
            }
        };
        for effect in executor.handle(now(), input) {
            match effect {
                Effect::Send(call) => client.send(call),
                Effect::Launch(launch) => {
                    let inputs = inputs.clone();
                    let fetcher = fetcher.clone();
                    tokio::spawn(async move { run_task(launch, &fetcher, inputs).await });
                }
                Effect::Signal { task_id, signal } => {
                    if let Some(pid) = executor.pid(&task_id) {
                        let signalled = procfs::killtree(pid, signal, procfs::TreeScope::SESSION);
                        tracing::info!("Sent {signal} to the process tree of task '{task_id}': {signalled:?}");
                    }
                }
                Effect::SetTimer { timer, after } => {
                    sequence += 1;
                    timers.push(Reverse((Instant::now() + after, sequence, timer)));
                }
                Effect::StartProbes { task_id, health, check, environment } => {
                    if let Some(old) = probes.remove(&task_id) {
                        old.abort();
                    }
                    let handle = spawn_task_probes(inputs.clone(), task_id.clone(), health, check, environment);
                    probes.insert(task_id, handle);
                }
                Effect::StopProbes { task_id } => {
                    if let Some(handle) = probes.remove(&task_id) {
                        handle.abort();
                    }
                }
                Effect::Exit { code, reason } => {
                    tracing::info!("Exiting with status {code}: {reason}");
                    for (_, handle) in probes.drain() {
                        handle.abort();
                    }
                    // Let the last calls reach the agent.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return code;
                }
            }
        }
    }
}

/// Prepares and starts a task's process, then reports its exit.
async fn run_task(launch: LaunchTask, fetcher: &Fetcher, inputs: mpsc::UnboundedSender<Input>) {
    let task_id = launch.task_id.clone();
    match start_task(&launch, fetcher).await {
        Err(error) => {
            let _ = inputs.send(Input::LaunchFailed { task_id, error });
        }
        Ok(mut child) => {
            let Some(pid) = child.id() else {
                let _ = inputs.send(Input::Exited { task_id, status: None });
                return;
            };
            let _ = inputs.send(Input::Launched { task_id: task_id.clone(), pid: pid as i32 });
            let status = child.wait().await.ok().map(procfs::raw_status);
            let _ = inputs.send(Input::Exited { task_id, status });
        }
    }
}

async fn start_task(launch: &LaunchTask, fetcher: &Fetcher) -> Result<tokio::process::Child, String> {
    let directory = &launch.directory;
    std::fs::create_dir_all(directory)
        .map_err(|e| format!("Failed to create the sandbox '{}': {e}", directory.display()))?;
    if let Some(link) = &launch.link {
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("Unable to create task directory: {e}"))?;
        }
        match std::os::unix::fs::symlink(directory, link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("Unable to create symbolic link for task: {e}")),
        }
    }
    let (stdout, stderr) = if launch.own_output {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(directory.join(name))
                .map_err(|e| format!("Failed to create '{name}' file: {e}"))
        };
        (open("stdout")?, open("stderr")?)
    } else {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned().map(File::from).map_err(|e| format!("Failed to duplicate output: {e}"))
        };
        (dup(std::io::stdout().as_fd())?, dup(std::io::stderr().as_fd())?)
    };
    let command: crate::proto::mesos::CommandInfo = super::devolve(&launch.command);
    let root = nix::unistd::geteuid().is_root();
    let user = match launch.user.as_deref().filter(|_| root) {
        Some(name) => Some(launcher::resolve_user(name)?),
        None => None,
    };
    if launch.fetch && !command.uris.is_empty() {
        let log = directory.join("stderr");
        fetcher
            .fetch(&command.uris, directory, user.as_ref().map(|u| u.name.as_str()), Some(&log))
            .await
            .map_err(|e| format!("Failed to fetch URIs: {e}"))?;
    }
    if let (Some(user), true) = (&user, launch.own_output) {
        launcher::chown_tree(directory, user)?;
    }
    let mut environment: BTreeMap<String, String> =
        launcher::merge_environment(&launch.environment, command.environment.as_ref());
    if let Some(role) = &launch.allocation_role {
        environment.insert("MESOS_ALLOCATION_ROLE".into(), role.clone());
    }
    launcher::spawn(launcher::LaunchSpec {
        command: &command,
        environment,
        directory,
        user,
        cgroups: Vec::new(),
        stdout,
        stderr,
    })
}
