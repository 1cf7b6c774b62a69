//! `mesos-docker-executor` (Mesos's `src/docker/executor.cpp`): the command
//! executor for a task whose `ContainerInfo` is `DOCKER`. It runs the
//! command executor's state machine ([`super::core`], the same rules for
//! statuses, kill policy and health checks) and carries its effects out on
//! the Docker Engine instead of local processes:
//!
//! | effect | command executor | docker executor |
//! |---|---|---|
//! | launch | fork/exec in the sandbox | create + start `--container` from the task's `ContainerInfo` ([`run`](crate::agent::containerizer::docker::run)), output appended to the sandbox's `stdout`/`stderr` |
//! | exit status | `waitpid` | the container's exit code ("Container exited with status N") |
//! | SIGTERM, then SIGKILL after the grace period | to the process tree | `docker kill --signal` to the container |
//! | command health check / check | run in the executor's namespaces | wrapped in `docker exec <container> sh -c ...` with `--docker`, as Mesos does |
//!
//! As in Mesos, a container killed by its memory limit is reported as a
//! plain failure with its exit status (137): Mesos's docker executor sets
//! no `REASON_CONTAINER_LIMITATION_MEMORY` (that comes from the Mesos
//! containerizer's memory isolator, which Docker tasks do not have).
//! HTTP and TCP probes are made from the executor's network namespace (the
//! agent host), not the container's.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::agent::containerizer::docker::engine::Engine;
use crate::agent::containerizer::docker::host_memory;
use crate::agent::containerizer::docker::run::{RunOptions, RunSpec};
use crate::common::flags::{FlagDef, Flags, Kind};
use crate::common::logging;
use crate::proto::mesos::v1::executor::event::Type as EventType;
use crate::proto::mesos::v1::CommandInfo;
use crate::proto::mesos::{container_info, TaskInfo};

use super::checks::{spawn_task_probes, Probe, ProbeKind};
use super::client::{optional, AgentClient, ClientConfig, ClientEvent};
use super::core::{Effect, Executor, Flavor, Input, LaunchTask, Now, Settings, Timer};
use super::env::{ContentType, ExecutorEnv};

/// Mesos's `mesos-docker-executor` flags, plus the logging flags.
pub const FLAGS: &[FlagDef] = &[
    FlagDef::new("container", Kind::String, None, "The name of the docker container to run."),
    FlagDef::new("docker", Kind::String, None, "The path to the docker executable."),
    FlagDef::new("docker_socket", Kind::String, None, "Resource used by the agent and the executor to provide CLI access\nto the Docker daemon."),
    FlagDef::new("sandbox_directory", Kind::Path, None, "The path to the container sandbox holding stdout and stderr files\ninto which docker container logs will be redirected."),
    FlagDef::new("mapped_directory", Kind::Path, None, "The sandbox directory path that is mapped in the docker container."),
    FlagDef::new("stop_timeout", Kind::Duration, None, "The duration for docker to wait after stopping a running container\nbefore it kills that container."),
    FlagDef::new("launcher_dir", Kind::Path, None, "Directory path of Mesos binaries."),
    FlagDef::new("task_environment", Kind::Json, None, "A JSON map of environment variables and values that should\nbe passed into the task launched by this executor."),
    FlagDef::new("default_container_dns", Kind::Json, None, "JSON-formatted DNS information for the container."),
    FlagDef::new("cgroups_enable_cfs", Kind::Bool, Some("false"), "Cgroups feature flag to enable hard limits on CPU resources\nvia the CFS bandwidth limiting subfeature."),
];

/// What the flags say.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    pub container: String,
    /// The `docker` CLI, resolved to a path when it can be.
    pub docker: String,
    pub socket: String,
    pub sandbox: PathBuf,
    pub mapped_directory: String,
    pub task_environment: BTreeMap<String, String>,
    pub enable_cfs_quota: bool,
}

fn flag_table() -> Vec<FlagDef> {
    FLAGS.iter().chain(logging::FLAGS).cloned().collect()
}

/// Reads the flags (command line only, as Mesos).
pub fn options(flags: &Flags) -> Result<DockerOptions, String> {
    let required = |name: &str| {
        flags
            .raw(name)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .ok_or_else(|| format!("Missing required option --{name}"))
    };
    let task_environment = match flags.raw("task_environment").filter(|v| !v.is_empty()) {
        Some(text) => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("Failed to parse --task_environment: {e}"))?;
            let object = value.as_object().ok_or("Failed to parse --task_environment: not a JSON object")?;
            object
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => Ok((k.clone(), s.to_string())),
                    None => Err(format!("Failed to parse --task_environment: '{k}' is not a string")),
                })
                .collect::<Result<_, String>>()?
        }
        None => BTreeMap::new(),
    };
    Ok(DockerOptions {
        container: required("container")?,
        docker: resolve(&required("docker")?),
        socket: required("docker_socket")?,
        sandbox: PathBuf::from(required("sandbox_directory")?),
        mapped_directory: required("mapped_directory")?,
        task_environment,
        enable_cfs_quota: flags.get("cgroups_enable_cfs").map_err(|e| e.0)?,
    })
}

/// An executable name looked up in `PATH` (probes run with a cleared
/// environment).
fn resolve(program: &str) -> String {
    if program.contains('/') {
        return program.to_string();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| program.to_string())
}

/// The binary's `main`: flags, logging, environment, run; the exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let program = "mesos-docker-executor";
    let flags = match Flags::load(program, &flag_table(), args, Vec::<(String, String)>::new(), None) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("{}\n\n{}", e.0, crate::common::flags::usage(program, &flag_table()));
            return 1;
        }
    };
    if flags.help {
        println!("{}", flags.usage());
        return 0;
    }
    let _logging = match logging::init(program, &flags) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let prepared = options(&flags).and_then(|o| Ok((o, ExecutorEnv::from_process().map_err(|e| e.0)?)));
    let (options, env) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("Failed to start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(run(env, options))
}

fn now() -> Now {
    let unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    Now { instant: Instant::now(), unix_secs }
}

/// A wait status for a container's exit code.
fn exit_status(code: i64) -> i32 {
    ((code.clamp(0, 255) as i32) & 0xff) << 8
}

/// A command probe, run inside the container with `docker exec`.
fn in_container(probe: Probe, options: &DockerOptions) -> Probe {
    let ProbeKind::Command(command) = &probe.kind else {
        return probe;
    };
    let socket =
        if options.socket.contains("://") { options.socket.clone() } else { format!("unix://{}", options.socket) };
    let mut arguments = vec!["docker".to_string(), "-H".into(), socket, "exec".into(), options.container.clone()];
    if command.shell.unwrap_or(true) {
        arguments.extend(["sh".to_string(), "-c".into(), command.value.clone().unwrap_or_default()]);
    } else {
        arguments.extend(command.value.clone());
        arguments.extend(command.arguments.iter().skip(1).cloned());
    }
    let wrapped = CommandInfo {
        shell: Some(false),
        value: Some(options.docker.clone()),
        arguments,
        environment: command.environment.clone(),
        ..Default::default()
    };
    Probe { kind: ProbeKind::Command(wrapped), ..probe }
}

/// Runs the executor until it decides to exit; returns the exit code.
pub async fn run(env: ExecutorEnv, options: DockerOptions) -> i32 {
    let settings = Settings {
        flavor: Flavor::Command,
        framework_id: env.framework_id.clone(),
        executor_id: env.executor_id.clone(),
        sandbox: env.sandbox.clone(),
        shutdown_grace_period: env.shutdown_grace_period,
        environment: options.task_environment.clone(),
        task_command: None,
        user: None,
        docker: true,
    };
    let engine = match Engine::connect(&options.socket).await {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let mut executor = Executor::new(settings, Box::new(|| *uuid::Uuid::new_v4().as_bytes()));
    let (client, mut events) = AgentClient::start(ClientConfig::from_env(&env, ContentType::Protobuf));
    let (inputs, mut inputs_rx) = mpsc::unbounded_channel::<Input>();
    let mut timers: BinaryHeap<Reverse<(Instant, u64, Timer)>> = BinaryHeap::new();
    let mut sequence = 0u64;
    let mut probes: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut tasks: HashMap<String, TaskInfo> = HashMap::new();

    loop {
        let next_timer = timers.peek().map(|Reverse((at, _, _))| *at);
        let input = tokio::select! {
            event = events.recv() => match event {
                Some(ClientEvent::Connected) => Input::Connected,
                Some(ClientEvent::Disconnected) => Input::Disconnected,
                Some(ClientEvent::Event(event)) => {
                    if event.r#type() == EventType::Launch {
                        if let Some(task) = event.launch.as_ref().map(|l| &l.task) {
                            let task: TaskInfo = super::devolve(task);
                            tasks.insert(task.task_id.value.clone(), task);
                        }
                    }
                    Input::Event(event)
                }
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
                    let task = tasks.get(&launch.task_id).cloned();
                    let (engine, options, inputs) = (engine.clone(), options.clone(), inputs.clone());
                    tokio::spawn(async move { run_container(launch, task, engine, options, inputs).await });
                }
                Effect::Signal { task_id, signal } => {
                    let name = match signal {
                        Signal::SIGKILL => "SIGKILL",
                        _ => "SIGTERM",
                    };
                    let (engine, container) = (engine.clone(), options.container.clone());
                    tokio::spawn(async move {
                        match engine.kill(&container, name).await {
                            Ok(()) => tracing::info!("Sent {name} to container '{container}' of task '{task_id}'"),
                            Err(e) => tracing::warn!("Failed to send {name} to container '{container}': {e}"),
                        }
                    });
                }
                Effect::SetTimer { timer, after } => {
                    sequence += 1;
                    timers.push(Reverse((Instant::now() + after, sequence, timer)));
                }
                Effect::StartProbes { task_id, health, check, environment } => {
                    if let Some(old) = probes.remove(&task_id) {
                        old.abort();
                    }
                    let health = health.map(|p| in_container(p, &options));
                    let check = check.map(|p| in_container(p, &options));
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
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return code;
                }
            }
        }
    }
}

/// Creates and starts the task's container, follows its output into the
/// sandbox and reports its exit.
async fn run_container(
    launch: LaunchTask,
    task: Option<TaskInfo>,
    engine: Engine,
    options: DockerOptions,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let task_id = launch.task_id.clone();
    let failed = |error: String| {
        tracing::error!("{error}");
        let _ = inputs.send(Input::LaunchFailed { task_id: task_id.clone(), error });
    };
    let Some(task) = task else {
        return failed("Failed to run docker container: the task is unknown".into());
    };
    let Some(container) = task.container.clone().filter(|c| c.r#type == container_info::Type::Docker as i32) else {
        return failed("Failed to create docker run options: No docker info found in container info".into());
    };
    let command: crate::proto::mesos::CommandInfo = super::devolve(&launch.command);
    let limits = (!task.limits.is_empty()).then_some(&task.limits);
    let spec = RunSpec {
        container: &container,
        command: &command,
        name: &options.container,
        sandbox: &options.sandbox,
        mapped_directory: &options.mapped_directory,
        resources: Some(&task.resources),
        limits,
        enable_cfs_quota: options.enable_cfs_quota,
        env: Some(&options.task_environment),
        host_memory: host_memory(),
    };
    let body = match RunOptions::create(&spec) {
        Ok(run) => {
            tracing::info!("Running {}", run.command_line());
            run.create_body()
        }
        Err(e) => Err(e),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return failed(format!("Failed to create docker run options: {e}")),
    };
    if let Err(e) = engine.run(&options.container, body).await {
        return failed(format!("Failed to run docker container: {e}"));
    }
    let logs = engine.clone();
    let (name, stdout, stderr) =
        (options.container.clone(), options.sandbox.join("stdout"), options.sandbox.join("stderr"));
    let follow = tokio::spawn(async move { logs.follow_logs(&name, &stdout, &stderr).await });
    let pid = engine.pid(&options.container).await.ok().flatten().unwrap_or(0);
    let _ = inputs.send(Input::Launched { task_id: task_id.clone(), pid: pid as i32 });
    let status = match engine.wait(&options.container).await {
        Ok(code) => Some(exit_status(code)),
        Err(e) => {
            tracing::error!("Failed to wait for container '{}': {e}", options.container);
            None
        }
    };
    // Let the last output reach the sandbox before the terminal update.
    let _ = tokio::time::timeout(Duration::from_secs(2), follow).await;
    let _ = inputs.send(Input::Exited { task_id, status });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DockerOptions {
        DockerOptions {
            container: "mesos-c1".into(),
            docker: "/usr/bin/docker".into(),
            socket: "/var/run/docker.sock".into(),
            sandbox: "/s".into(),
            mapped_directory: "/mnt/mesos/sandbox".into(),
            task_environment: BTreeMap::new(),
            enable_cfs_quota: false,
        }
    }

    fn probe(command: CommandInfo) -> Probe {
        Probe {
            kind: ProbeKind::Command(command),
            delay: Duration::ZERO,
            interval: Duration::from_secs(1),
            timeout: None,
            name: "COMMAND health check".into(),
        }
    }

    #[test]
    fn command_probes_run_inside_the_container() {
        let shell = CommandInfo { shell: Some(true), value: Some("test -f /ok".into()), ..Default::default() };
        let ProbeKind::Command(wrapped) = in_container(probe(shell), &opts()).kind else { panic!("not a command") };
        assert_eq!(wrapped.value.as_deref(), Some("/usr/bin/docker"));
        assert_eq!(
            wrapped.arguments,
            ["docker", "-H", "unix:///var/run/docker.sock", "exec", "mesos-c1", "sh", "-c", "test -f /ok"]
        );
        let argv = CommandInfo {
            shell: Some(false),
            value: Some("/bin/true".into()),
            arguments: vec!["true".into(), "x".into()],
            ..Default::default()
        };
        let ProbeKind::Command(wrapped) = in_container(probe(argv), &opts()).kind else { panic!("not a command") };
        assert_eq!(&wrapped.arguments[3..], ["exec", "mesos-c1", "/bin/true", "x"]);
    }

    #[test]
    fn flags_as_the_containerizer_passes_them() {
        let args = [
            "--container=mesos-c1",
            "--docker=docker",
            "--docker_socket=/var/run/docker.sock",
            "--sandbox_directory=/s",
            "--mapped_directory=/mnt/mesos/sandbox",
            "--stop_timeout=0ns",
            "--launcher_dir=/usr/libexec/mesos",
            r#"--task_environment={"A":"1"}"#,
        ]
        .map(String::from);
        let flags =
            Flags::load("mesos-docker-executor", &flag_table(), args, Vec::<(String, String)>::new(), None).unwrap();
        let o = options(&flags).unwrap();
        assert_eq!(o.container, "mesos-c1");
        assert_eq!(o.task_environment["A"], "1");
        assert_eq!(o.mapped_directory, "/mnt/mesos/sandbox");
        let flags = Flags::load(
            "mesos-docker-executor",
            &flag_table(),
            ["--docker=x".to_string()],
            Vec::<(String, String)>::new(),
            None,
        )
        .unwrap();
        assert_eq!(options(&flags).unwrap_err(), "Missing required option --container");
    }

    #[test]
    fn exit_codes_become_wait_statuses() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(137), 137 << 8);
        assert_eq!(crate::agent::containerizer::mesos::procfs::wstringify(exit_status(137)), "exited with status 137");
    }
}
