//! The Docker containerizer (Mesos's `DockerContainerizer`,
//! `src/slave/containerizer/docker.cpp`): executors and tasks whose
//! `ContainerInfo` is `DOCKER` run as containers of the local Docker Engine,
//! reached through its API (bollard) on `--docker_socket`.
//!
//! # Layout
//! - [`run`]: the pure construction of a container from `ContainerInfo` +
//!   `CommandInfo` + resources (Mesos's `Docker::RunOptions::create`), and
//!   the container names Mesos uses;
//! - [`engine`]: the engine calls (pull, run, wait, stop, kill, rm, ps,
//!   stats);
//! - this file: [`DockerContainerizer`], the [`Containerizer`].
//!
//! # Two kinds of containers, as in Mesos
//! - **a command task** (`TaskInfo.container.type = DOCKER`, no executor):
//!   the image is pulled (always with `force_pull_image`, else only when
//!   absent), then `mesos-docker-executor` runs *on the host* as the
//!   executor process; it creates the task's container `mesos-<container
//!   id>` itself, reports its statuses, and the container's output lands in
//!   the sandbox's `stdout`/`stderr`;
//! - **a custom executor** (`ExecutorInfo.container.type = DOCKER`): the
//!   containerizer runs the executor's command in the container
//!   `mesos-<container id>` (host network unless the `DockerInfo` says
//!   otherwise, so it reaches the agent), with the sandbox mapped at
//!   `--sandbox_directory` (`/mnt/mesos/sandbox`).
//!
//! A launch whose `ContainerInfo` is not `DOCKER` answers
//! [`LaunchResult::NotSupported`], so the composing containerizer hands it
//! to the next one (`--containerizers=docker,mesos`).
//!
//! # Recovery and orphans
//! At recovery, every engine container named `mesos-<uuid>` (or the 0.23-1.3
//! form `mesos-<agent id>.<uuid>`) whose id belongs to a checkpointed executor
//! is re-attached: command tasks through their executor's pid, custom
//! executors through the engine's wait. With `--docker_kill_orphans` (the
//! default), the other ones are stopped and removed. Several agents sharing
//! one engine must run with `--docker_kill_orphans=false`, as with Mesos.
//!
//! # Flags
//! `--docker_socket`, `--docker_stop_timeout` (the grace of `docker stop`
//! when a container is destroyed), `--docker_remove_delay` (how long a
//! finished container is kept before `docker rm`), `--docker_kill_orphans`
//! and `--sandbox_directory` are implemented; `--docker` (the CLI path) is
//! handed to `mesos-docker-executor`, which runs command health checks with
//! `docker exec` as Mesos does. With `--docker_mesos_image` (for agents that
//! themselves run in a container, as in `docker/docker-compose.yml`) the
//! docker executor runs in its own container `mesos-<container id>.executor`
//! of that image, with the agent container's volumes and network, so that
//! restarting the agent's container does not take command tasks' executors
//! with it; the agent recovers them through the engine.

pub mod engine;
pub mod run;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use nix::sys::signal::Signal;
use tokio::sync::{watch, OnceCell};

use crate::agent::containerizer::mesos::{launcher, procfs, scalar};
use crate::common::flags::{Flags, FlagsError};
use crate::common::units::format_duration;
use crate::proto::mesos::{container_info, CommandInfo, ContainerId, ContainerInfo, Resource, ResourceStatistics};

use super::{ContainerConfig, ContainerError, Containerizer, LaunchResult, RecoverableContainer, Termination};
use engine::Engine;
use run::{RunOptions, RunSpec};

/// Names of Docker containers Mesos launches start with this.
pub const NAME_PREFIX: &str = "mesos-";
/// The executor binary for command tasks in Docker.
pub const DOCKER_EXECUTOR: &str = "mesos-docker-executor";
/// How many finished containers' terminations are remembered.
const FINISHED_KEPT: usize = 1024;

/// The agent flags the Docker containerizer reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerConfig {
    /// `--docker`: the CLI, for the executor's `docker exec` health checks.
    pub docker: String,
    /// `--docker_socket`.
    pub socket: String,
    /// `--docker_stop_timeout`.
    pub stop_timeout: Duration,
    /// `--docker_remove_delay`.
    pub remove_delay: Duration,
    /// `--docker_kill_orphans`.
    pub kill_orphans: bool,
    /// `--docker_mesos_image` (accepted, see the module docs).
    pub mesos_image: Option<String>,
    /// `--sandbox_directory`: where the sandbox appears in the container.
    pub sandbox_directory: String,
    /// `--cgroups_enable_cfs`: a CFS quota from the cpu request.
    pub enable_cfs_quota: bool,
    /// Where `mesos-docker-executor` is (`--launcher_dir`).
    pub launcher_dir: PathBuf,
}

impl DockerConfig {
    pub fn from_flags(flags: &Flags, launcher_dir: &Path) -> Result<DockerConfig, FlagsError> {
        Ok(DockerConfig {
            docker: flags.get("docker")?,
            socket: flags.get("docker_socket")?,
            stop_timeout: flags.get("docker_stop_timeout")?,
            remove_delay: flags.get("docker_remove_delay")?,
            kill_orphans: flags.get("docker_kill_orphans")?,
            mesos_image: flags.opt("docker_mesos_image")?,
            sandbox_directory: flags.get::<PathBuf>("sandbox_directory")?.display().to_string(),
            enable_cfs_quota: flags.get("cgroups_enable_cfs")?,
            launcher_dir: launcher_dir.to_path_buf(),
        })
    }

    /// Defaults for tests: Mesos's flag defaults.
    pub fn new(socket: &str, launcher_dir: &Path) -> DockerConfig {
        DockerConfig {
            docker: "docker".into(),
            socket: socket.into(),
            stop_timeout: Duration::ZERO,
            remove_delay: Duration::from_secs(6 * 3600),
            kill_orphans: true,
            mesos_image: None,
            sandbox_directory: run::DEFAULT_MAPPED_DIRECTORY.into(),
            enable_cfs_quota: false,
            launcher_dir: launcher_dir.to_path_buf(),
        }
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct DockerContainerizer {
    inner: Arc<Inner>,
}

struct Inner {
    config: DockerConfig,
    engine: OnceCell<Engine>,
    /// The agent's own container, when it runs in one.
    home: OnceCell<Option<HomeContainer>>,
    state: Mutex<State>,
}

#[derive(Debug, Clone)]
struct HomeContainer {
    id: String,
    network: Option<String>,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, Container>,
    finished: VecDeque<(String, Termination)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `mesos-docker-executor` on the host runs the task's container.
    CommandTask,
    /// The executor itself runs in the container.
    Executor,
}

struct Container {
    name: String,
    kind: Kind,
    /// With `--docker_mesos_image`: the container the docker executor runs
    /// in (`<name>.executor`).
    executor_container: Option<String>,
    /// The executor's pid (command tasks) or the container's init pid.
    pid: Option<u32>,
    resources: Vec<Resource>,
    destroying: bool,
    termination: watch::Sender<Option<Termination>>,
}

/// A wait status for an exit code (what `docker run` exits with).
fn exit_status(code: i64) -> i32 {
    ((code.clamp(0, 255) as i32) & 0xff) << 8
}

fn is_docker(info: Option<&ContainerInfo>) -> bool {
    info.is_some_and(|c| c.r#type == container_info::Type::Docker as i32)
}

impl DockerContainerizer {
    pub fn new(config: DockerConfig) -> DockerContainerizer {
        DockerContainerizer {
            inner: Arc::new(Inner {
                config,
                engine: OnceCell::new(),
                home: OnceCell::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Whether a recovered container is the Docker containerizer's (its
    /// executor's `ContainerInfo` is `DOCKER`), as Mesos decides it.
    pub fn claims(container: &RecoverableContainer) -> bool {
        is_docker(container.executor_info.container.as_ref())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn engine(&self) -> Result<&Engine, ContainerError> {
        self.engine.get_or_try_init(|| Engine::connect(&self.config.socket)).await.map_err(ContainerError::LaunchFailed)
    }

    fn finished(&self, key: &str) -> Option<Termination> {
        self.lock().finished.iter().rev().find(|(k, _)| k == key).map(|(_, t)| t.clone())
    }

    /// Publishes a container's end and forgets it; the engine's container is
    /// stopped and, after `--docker_remove_delay`, removed.
    async fn terminated(self: &Arc<Self>, key: &str, termination: Termination) {
        let Some(container) = self.lock().containers.remove(key) else {
            return;
        };
        {
            let mut state = self.lock();
            state.finished.push_back((key.to_string(), termination.clone()));
            while state.finished.len() > FINISHED_KEPT {
                state.finished.pop_front();
            }
        }
        container.termination.send_replace(Some(termination));
        let name = container.name.clone();
        let Ok(engine) = self.engine().await.cloned() else {
            return;
        };
        if let Err(e) = engine.stop(&name, self.config.stop_timeout).await {
            tracing::debug!("Stopping container '{name}': {e}");
        }
        let delay = self.config.remove_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = engine.remove(&name).await {
                tracing::debug!("Removing container '{name}': {e}");
            }
        });
    }

    async fn launch(self: Arc<Self>, config: ContainerConfig) -> Result<LaunchResult, ContainerError> {
        let task_container = config.task_info.as_ref().and_then(|t| t.container.as_ref());
        let command_task = config.task_info.is_some();
        let container_info = if command_task { task_container } else { config.container_info.as_ref() };
        if !is_docker(container_info) {
            return Ok(LaunchResult::NotSupported);
        }
        let Some(container_info) = container_info.cloned() else {
            return Ok(LaunchResult::NotSupported);
        };
        let key = config.container_id.value.clone();
        let name = run::container_name(&key);
        {
            let mut state = self.lock();
            if state.containers.contains_key(&key) {
                return Err(ContainerError::AlreadyExists(key));
            }
            state.containers.insert(
                key.clone(),
                Container {
                    name: name.clone(),
                    kind: if command_task { Kind::CommandTask } else { Kind::Executor },
                    executor_container: None,
                    pid: None,
                    resources: config.resources.clone(),
                    destroying: false,
                    termination: watch::Sender::new(None),
                },
            );
        }
        let result = self.clone().start(&config, &container_info, &name, command_task).await;
        match result {
            Ok(pid) => {
                let destroyed = {
                    let mut state = self.lock();
                    match state.containers.get_mut(&key) {
                        Some(c) => {
                            c.pid = Some(pid);
                            c.destroying
                        }
                        None => true,
                    }
                };
                if destroyed {
                    self.kill(&key).await;
                }
                Ok(LaunchResult::Launched { pid })
            }
            Err(e) => {
                self.lock().containers.remove(&key);
                Err(e)
            }
        }
    }

    /// Pulls the image and starts the executor (process or container);
    /// returns the pid to checkpoint.
    async fn start(
        self: Arc<Self>,
        config: &ContainerConfig,
        container_info: &ContainerInfo,
        name: &str,
        command_task: bool,
    ) -> Result<u32, ContainerError> {
        let engine = self.engine().await?.clone();
        let docker = container_info
            .docker
            .as_ref()
            .ok_or_else(|| ContainerError::LaunchFailed("No docker info found in container info".into()))?;
        tracing::info!("Pulling image '{}' for container {name}", docker.image);
        engine
            .pull(&docker.image, docker.force_pull_image.unwrap_or(false))
            .await
            .map_err(ContainerError::LaunchFailed)?;
        let key = config.container_id.value.clone();
        let stdout = config.directory.join("stdout");
        let stderr = config.directory.join("stderr");
        if command_task && self.config.mesos_image.is_some() {
            return self.run_executor_container(&engine, config, name).await;
        }
        if command_task {
            let child = self.spawn_executor(config, name)?;
            let pid = child.id().ok_or_else(|| ContainerError::LaunchFailed("The executor exited at once".into()))?;
            let inner = self.clone();
            tokio::spawn(async move {
                let mut child = child;
                let status = child.wait().await.ok().map(procfs::raw_status);
                inner.executor_exited(&key, status).await;
            });
            return Ok(pid);
        }
        let spec = RunSpec {
            container: container_info,
            command: &config.command_info,
            name,
            sandbox: &config.directory,
            mapped_directory: &self.config.sandbox_directory,
            resources: Some(&config.resources),
            limits: None,
            enable_cfs_quota: self.config.enable_cfs_quota,
            env: Some(&config.environment),
            host_memory: host_memory(),
        };
        let options = RunOptions::create(&spec)
            .map_err(|e| ContainerError::LaunchFailed(format!("Failed to create docker run options: {e}")))?;
        let body = options.create_body().map_err(ContainerError::LaunchFailed)?;
        tracing::info!("Running {}", options.command_line());
        engine
            .run(name, body)
            .await
            .map_err(|e| ContainerError::LaunchFailed(format!("Failed to run container: {e}")))?;
        let logs = engine.clone();
        let logged = name.to_string();
        tokio::spawn(async move { logs.follow_logs(&logged, &stdout, &stderr).await });
        let pid = engine.pid(name).await.map_err(ContainerError::LaunchFailed)?.unwrap_or(0);
        self.watch_container(&key, name.to_string());
        Ok(pid)
    }

    /// Starts `mesos-docker-executor` for a command task, in the sandbox,
    /// with the flags Mesos's containerizer gives it.
    fn executor_arguments(&self, config: &ContainerConfig, name: &str) -> Vec<String> {
        let task_environment: serde_json::Map<String, serde_json::Value> =
            config.environment.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        vec![
            format!("--container={name}"),
            format!("--docker={}", self.config.docker),
            format!("--docker_socket={}", self.config.socket),
            format!("--sandbox_directory={}", config.directory.display()),
            format!("--mapped_directory={}", self.config.sandbox_directory),
            format!("--stop_timeout={}", format_duration(self.config.stop_timeout)),
            format!("--launcher_dir={}", self.config.launcher_dir.display()),
            format!("--cgroups_enable_cfs={}", self.config.enable_cfs_quota),
            format!("--task_environment={}", serde_json::Value::Object(task_environment)),
        ]
    }

    /// With `--docker_mesos_image`: runs the docker executor in its own
    /// container `<name>.executor` of that image (so it outlives an agent
    /// that itself runs in a container), with the agent container's volumes
    /// (sandboxes, socket) and network when the agent runs in one.
    async fn run_executor_container(
        self: &Arc<Self>,
        engine: &Engine,
        config: &ContainerConfig,
        name: &str,
    ) -> Result<u32, ContainerError> {
        let image = self.config.mesos_image.clone().unwrap_or_default();
        let executor_name = format!("{name}.executor");
        let home = self.agent_container().await;
        let mut environment = config.environment.clone();
        environment.entry("PATH".into()).or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
        let sandbox = config.directory.display().to_string();
        let host_config = bollard::models::HostConfig {
            volumes_from: home.as_ref().map(|h| vec![h.id.clone()]),
            binds: home.is_none().then(|| vec![format!("{sandbox}:{sandbox}"), format!("{0}:{0}", self.config.socket)]),
            network_mode: Some(home.as_ref().and_then(|h| h.network.clone()).unwrap_or_else(|| "host".into())),
            ..Default::default()
        };
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.clone()),
            entrypoint: Some(vec![self.config.launcher_dir.join(DOCKER_EXECUTOR).display().to_string()]),
            cmd: Some(self.executor_arguments(config, name)),
            env: Some(environment.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: Some(sandbox),
            host_config: Some(host_config),
            ..Default::default()
        };
        tracing::info!("Running the docker executor of {name} in container '{executor_name}' ({image})");
        engine
            .run(&executor_name, body)
            .await
            .map_err(|e| ContainerError::LaunchFailed(format!("Failed to run the docker executor container: {e}")))?;
        let (logs, logged) = (engine.clone(), executor_name.clone());
        let (stdout, stderr) = (config.directory.join("stdout"), config.directory.join("stderr"));
        tokio::spawn(async move { logs.follow_logs(&logged, &stdout, &stderr).await });
        let key = config.container_id.value.clone();
        if let Some(c) = self.lock().containers.get_mut(&key) {
            c.executor_container = Some(executor_name.clone());
        }
        let pid = engine.pid(&executor_name).await.map_err(ContainerError::LaunchFailed)?.unwrap_or(0);
        self.watch_executor_container(&key, executor_name);
        Ok(pid)
    }

    /// The agent's own container (by its hostname, Docker's default), if the
    /// agent runs in one: its id and first network.
    async fn agent_container(&self) -> Option<HomeContainer> {
        self.home
            .get_or_init(|| async {
                let engine = self.engine().await.ok()?;
                let hostname = crate::common::logging::hostname();
                let (id, networks) = engine.container_networks(&hostname).await.ok()?;
                Some(HomeContainer { id, network: networks.into_iter().next() })
            })
            .await
            .clone()
    }

    /// Turns the end of an executor container into the termination.
    fn watch_executor_container(self: &Arc<Self>, key: &str, executor_name: String) {
        let inner = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let status = match inner.engine().await {
                Ok(engine) => engine.wait(&executor_name).await.ok().map(exit_status),
                Err(_) => None,
            };
            inner.executor_exited(&key, status).await;
        });
    }

    fn spawn_executor(&self, config: &ContainerConfig, name: &str) -> Result<tokio::process::Child, ContainerError> {
        let path = self.config.launcher_dir.join(DOCKER_EXECUTOR);
        let mut arguments = vec![DOCKER_EXECUTOR.to_string()];
        arguments.extend(self.executor_arguments(config, name));
        let command = CommandInfo {
            shell: Some(false),
            value: Some(path.display().to_string()),
            arguments,
            ..Default::default()
        };
        let open = |file: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.directory.join(file))
                .map_err(|e| ContainerError::LaunchFailed(format!("Failed to create '{file}' file: {e}")))
        };
        let mut environment = config.environment.clone();
        if let Ok(path) = std::env::var("PATH") {
            environment.entry("PATH".into()).or_insert(path);
        }
        launcher::spawn(launcher::LaunchSpec {
            command: &command,
            environment,
            directory: &config.directory,
            user: None,
            cgroups: Vec::new(),
            stdout: open("stdout")?,
            stderr: open("stderr")?,
        })
        .map_err(ContainerError::LaunchFailed)
    }

    /// Turns the end of a custom executor's container into its termination.
    fn watch_container(self: &Arc<Self>, key: &str, name: String) {
        let inner = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let status = match inner.engine().await {
                Ok(engine) => engine.wait(&name).await.ok().map(exit_status),
                Err(_) => None,
            };
            let message = status.map(|s| format!("Container {}", procfs::wstringify(s)));
            inner.terminated(&key, Termination { status, message, ..Default::default() }).await;
        });
    }

    async fn executor_exited(self: &Arc<Self>, key: &str, status: Option<i32>) {
        let message = status.map(|s| format!("Executor {}", procfs::wstringify(s)));
        self.terminated(key, Termination { status, message, ..Default::default() }).await;
    }

    /// Kills the executor (command task) and stops the container.
    async fn kill(self: &Arc<Self>, key: &str) {
        let (name, kind, pid, executor_container) = {
            let mut state = self.lock();
            let Some(c) = state.containers.get_mut(key) else {
                return;
            };
            c.destroying = true;
            (c.name.clone(), c.kind, c.pid, c.executor_container.clone())
        };
        if let Some(executor) = executor_container {
            if let Ok(engine) = self.engine().await {
                if let Err(e) = engine.kill(&executor, "SIGKILL").await {
                    tracing::debug!("Killing executor container '{executor}': {e}");
                }
            }
        } else if let (Kind::CommandTask, Some(pid)) = (kind, pid) {
            let killed = procfs::killtree(pid as i32, Signal::SIGKILL, procfs::TreeScope::SESSION);
            tracing::info!("Killed the docker executor of container {key}: {killed:?}");
        }
        if let Ok(engine) = self.engine().await {
            if let Err(e) = engine.stop(&name, self.config.stop_timeout).await {
                tracing::debug!("Stopping container '{name}': {e}");
            }
        }
    }

    async fn wait(self: Arc<Self>, id: ContainerId) -> Option<Termination> {
        let receiver = {
            let state = self.lock();
            state.containers.get(&id.value).map(|c| c.termination.subscribe())
        };
        let Some(mut receiver) = receiver else {
            return self.finished(&id.value);
        };
        let termination = receiver.wait_for(Option::is_some).await.ok().and_then(|t| t.clone());
        termination.or_else(|| self.finished(&id.value))
    }

    async fn destroy(self: Arc<Self>, id: ContainerId) -> Option<Termination> {
        if !self.lock().containers.contains_key(&id.value) {
            return self.finished(&id.value);
        }
        let launched = self.lock().containers.get(&id.value).is_some_and(|c| c.pid.is_some());
        if launched {
            self.kill(&id.value).await;
        } else if let Some(c) = self.lock().containers.get_mut(&id.value) {
            // Still launching: `launch` kills it once it has started.
            c.destroying = true;
        }
        self.wait(id).await
    }

    async fn recover(self: Arc<Self>, known: Vec<RecoverableContainer>) -> Result<(), ContainerError> {
        let engine = match self.engine().await {
            Ok(engine) => engine.clone(),
            Err(e) if known.is_empty() => {
                tracing::warn!("Skipping Docker recovery: {e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let listed = engine.list(NAME_PREFIX).await.map_err(ContainerError::Io)?;
        let existing: BTreeMap<String, engine::Listed> =
            listed.iter().filter_map(|c| run::parse_name(&c.name).map(|id| (id, c.clone()))).collect();
        let mut known_ids = std::collections::BTreeSet::new();
        for container in known {
            let key = container.container_id.value.clone();
            known_ids.insert(key.clone());
            if self.lock().containers.contains_key(&key) {
                continue;
            }
            let command_task = container
                .executor_info
                .command
                .as_ref()
                .and_then(|c| c.value.as_deref())
                .is_some_and(|v| v.ends_with("/mesos-executor") || v == "mesos-executor");
            let name = existing.get(&key).map(|c| c.name.clone()).unwrap_or_else(|| run::container_name(&key));
            let kind = if command_task { Kind::CommandTask } else { Kind::Executor };
            let pid = container.pid.filter(|&p| procfs::is_alive(p as i32));
            self.lock().containers.insert(
                key.clone(),
                Container {
                    name: name.clone(),
                    kind,
                    executor_container: None,
                    pid,
                    resources: container.executor_info.resources.clone(),
                    destroying: false,
                    termination: watch::Sender::new(None),
                },
            );
            match kind {
                Kind::CommandTask if self.executor_container_running(&engine, &name).await => {
                    let executor_name = format!("{name}.executor");
                    tracing::info!("Recovered Docker container {key} (executor container '{executor_name}')");
                    if let Some(c) = self.lock().containers.get_mut(&key) {
                        c.executor_container = Some(executor_name.clone());
                    }
                    self.watch_executor_container(&key, executor_name);
                }
                Kind::CommandTask => match pid {
                    Some(pid) => {
                        tracing::info!("Recovered Docker container {key} (executor pid {pid})");
                        let inner = self.clone();
                        tokio::spawn(async move {
                            launcher::wait_pid(pid as i32).await;
                            inner.executor_exited(&key, None).await;
                        });
                    }
                    None => {
                        tracing::info!("Recovered Docker container {key} whose executor is gone");
                        self.terminated(&key, Termination::default()).await;
                    }
                },
                Kind::Executor => {
                    if existing.get(&key).is_some_and(|c| c.running) {
                        tracing::info!("Recovered Docker container {key} ('{name}')");
                        self.watch_container(&key, name);
                    } else {
                        tracing::info!("Recovered Docker container {key} whose container is gone");
                        self.terminated(&key, Termination::default()).await;
                    }
                }
            }
        }
        if self.config.kill_orphans {
            for (id, orphan) in existing.iter().filter(|(id, _)| !known_ids.contains(*id)) {
                tracing::info!("Removing orphaned Docker container '{}' (container {id})", orphan.name);
                if let Err(e) = engine.stop(&orphan.id, self.config.stop_timeout).await {
                    tracing::warn!("Failed to stop orphaned container '{}': {e}", orphan.name);
                }
                if let Err(e) = engine.remove(&orphan.id).await {
                    tracing::warn!("Failed to remove orphaned container '{}': {e}", orphan.name);
                }
            }
        }
        Ok(())
    }

    async fn executor_container_running(&self, engine: &Engine, name: &str) -> bool {
        let executor_name = format!("{name}.executor");
        engine.list(&executor_name).await.is_ok_and(|l| l.iter().any(|c| c.name == executor_name && c.running))
    }

    async fn update(self: Arc<Self>, id: ContainerId, resources: Vec<Resource>) -> Result<(), ContainerError> {
        let (name, started) = {
            let mut state = self.lock();
            let container =
                state.containers.get_mut(&id.value).ok_or_else(|| ContainerError::Unknown(id.value.clone()))?;
            container.resources = resources.clone();
            (container.name.clone(), container.pid.is_some())
        };
        if !started {
            // Still launching: the container is created with these resources.
            return Ok(());
        }
        let shares = scalar(&resources, "cpus")
            .map(|cpus| ((run::CPU_SHARES_PER_CPU as f64 * cpus) as u64).max(run::MIN_CPU_SHARES) as i64);
        let memory = scalar(&resources, "mem").map(|mb| ((mb * 1024.0 * 1024.0) as u64).max(run::MIN_MEMORY) as i64);
        let engine = self.engine().await?;
        match engine.update(&name, shares, memory).await {
            Ok(()) => Ok(()),
            // The task's container may not exist yet (the executor creates it)
            // or be gone already: nothing to resize.
            Err(e) if e.contains("No such container") => Ok(()),
            Err(e) => Err(ContainerError::Io(format!("Failed to update container '{name}': {e}"))),
        }
    }

    async fn usage(self: Arc<Self>, id: ContainerId) -> Result<ResourceStatistics, ContainerError> {
        let (name, resources) = {
            let state = self.lock();
            let c = state.containers.get(&id.value).ok_or_else(|| ContainerError::Unknown(id.value.clone()))?;
            (c.name.clone(), c.resources.clone())
        };
        let engine = self.engine().await?;
        let mut usage = engine.statistics(&name).await.map_err(ContainerError::Io)?;
        usage.cpus_limit = scalar(&resources, "cpus");
        if usage.mem_limit_bytes.is_none() {
            usage.mem_limit_bytes = scalar(&resources, "mem").map(|mb| (mb * 1024.0 * 1024.0) as u64);
        }
        Ok(usage)
    }
}

/// Total memory of the host (for the OOM score adjustment), 0 if unknown.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024))
        })
        .unwrap_or(0)
}

impl Containerizer for DockerContainerizer {
    fn recover(&self, known: Vec<RecoverableContainer>) -> BoxFuture<'_, Result<(), ContainerError>> {
        self.inner.clone().recover(known).boxed()
    }

    fn launch(&self, config: ContainerConfig) -> BoxFuture<'_, Result<LaunchResult, ContainerError>> {
        self.inner.clone().launch(config).boxed()
    }

    fn wait(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        self.inner.clone().wait(id).boxed()
    }

    fn destroy(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        self.inner.clone().destroy(id).boxed()
    }

    fn update(&self, id: ContainerId, resources: Vec<Resource>) -> BoxFuture<'_, Result<(), ContainerError>> {
        self.inner.clone().update(id, resources).boxed()
    }

    fn usage(&self, id: ContainerId) -> BoxFuture<'_, Result<ResourceStatistics, ContainerError>> {
        self.inner.clone().usage(id).boxed()
    }

    fn containers(&self) -> BoxFuture<'_, Vec<ContainerId>> {
        let ids = self.inner.lock().containers.keys().map(|k| ContainerId { value: k.clone(), parent: None }).collect();
        async move { ids }.boxed()
    }
}
