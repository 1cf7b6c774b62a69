//! The Mesos containerizer: executors as plain processes, isolated with
//! cgroups (or just watched through `/proc`), with their URIs fetched first.
//!
//! # Layout
//! - [`config`]: flags (`--isolation`, `--launcher`, `--cgroups_*`,
//!   `--switch_user`) and [`MesosContainerizerConfig`];
//! - [`launcher`]: the fork/exec straight line and waiting for recovered pids;
//! - [`cgroups`]: the cgroup filesystem, v1 and v2;
//! - [`procfs`]: process trees, `killtree`, `/proc` usage, wait statuses;
//! - this file: [`MesosContainerizer`], the [`Containerizer`] implementation
//!   tying them together.
//!
//! # A launch, in order (Mesos's `MesosContainerizerProcess::launch`)
//! 1. isolate: create the container's cgroups (a freezer cgroup for the Linux
//!    launcher even without cgroups isolation, as Mesos's `LinuxLauncher`),
//!    apply cpu/memory limits, start listening for OOM;
//! 2. create the sandbox's `stdout`/`stderr`, fetch `CommandInfo.uris` into
//!    the sandbox (the fetcher's log goes to `stderr`);
//! 3. fork/exec the executor in its own session, inside its cgroups, as its
//!    user, in the sandbox;
//! 4. reap it: when it exits the container is destroyed (every remaining
//!    process killed, cgroups removed) and the termination published.
//!
//! A memory limitation (cgroups OOM) destroys the container at once and its
//! termination says `TASK_FAILED` / `REASON_CONTAINER_LIMITATION_MEMORY`
//! with `limited_resources` = `mem`, as Mesos's memory isolator reports it.
//!
//! Terminations of the last [`FINISHED_KEPT`] containers are kept, so `wait`
//! or `destroy` right after an executor exited still return them.
//!
//! Everything here runs inside a tokio runtime (child reaping, OOM
//! notification and pidfds use its reactor).

pub mod cgroups;
pub mod config;
pub mod launcher;
pub mod procfs;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::FutureExt;
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::agent::fetcher::Fetcher;
use crate::common::units::Bytes;
use crate::proto::mesos::{task_status::Reason, value, ContainerId, Resource, ResourceStatistics, TaskState};

use super::{ContainerConfig, ContainerError, Containerizer, LaunchResult, RecoverableContainer, Termination};
use cgroups::{Cgroups, Controller};
pub use config::{Isolation, LauncherKind, MesosContainerizerConfig};

/// How many finished containers' terminations are remembered.
pub const FINISHED_KEPT: usize = 1024;

/// See the module docs.
#[derive(Clone)]
pub struct MesosContainerizer {
    inner: Arc<Inner>,
}

struct Inner {
    config: MesosContainerizerConfig,
    launcher: LauncherKind,
    /// Present when the Linux launcher or a cgroups isolator is in use.
    cgroups: Option<Cgroups>,
    fetcher: Fetcher,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, Container>,
    finished: VecDeque<(String, Termination)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Isolating and fetching; no process yet.
    Launching,
    Running,
    /// Being killed; the termination follows when the process is reaped.
    Destroying,
}

struct Container {
    phase: Phase,
    pid: Option<i32>,
    /// Requests (what `update` last set) and limits (from `TaskInfo.limits`).
    resources: Vec<Resource>,
    cpu_limit: Option<f64>,
    mem_limit_mb: Option<f64>,
    hard_limit_set: bool,
    /// OOM kills already counted when we started watching.
    oom_baseline: u64,
    /// Set when an isolator limit killed the container.
    limitation: Option<Termination>,
    /// Set by `destroy` while launching: stop before exec.
    cancel: watch::Sender<bool>,
    termination: watch::Sender<Option<Termination>>,
    oom_watch: Option<JoinHandle<()>>,
}

impl Container {
    fn new(phase: Phase, resources: Vec<Resource>) -> Container {
        Container {
            phase,
            pid: None,
            resources,
            cpu_limit: None,
            mem_limit_mb: None,
            hard_limit_set: false,
            oom_baseline: 0,
            limitation: None,
            cancel: watch::Sender::new(false),
            termination: watch::Sender::new(None),
            oom_watch: None,
        }
    }
}

impl MesosContainerizer {
    /// Sets up cgroups and the fetcher (emptying its cache directory).
    pub fn new(config: MesosContainerizerConfig) -> Result<MesosContainerizer, ContainerError> {
        let root = nix::unistd::geteuid().is_root();
        let launcher = match config.launcher {
            Some(kind) => kind,
            None if root && linux_launcher_available(&config.cgroups_hierarchy) => LauncherKind::Linux,
            None => LauncherKind::Posix,
        };
        if launcher == LauncherKind::Linux && !root {
            return Err(ContainerError::LaunchFailed(
                "Failed to create Linux launcher: the agent is not running as root".into(),
            ));
        }
        let mut controllers = Vec::new();
        if launcher == LauncherKind::Linux {
            controllers.push(Controller::Freezer);
        }
        if config.isolation.cgroups_cpu {
            controllers.push(Controller::Cpu);
        }
        if config.isolation.cgroups_mem {
            controllers.push(Controller::Memory);
        }
        let cgroups = if controllers.is_empty() {
            None
        } else {
            Some(
                Cgroups::prepare(&config.cgroups_hierarchy, &config.cgroups_root, &controllers)
                    .map_err(|e| ContainerError::LaunchFailed(format!("Failed to create isolator: {e}")))?,
            )
        };
        for ignored in &config.isolation.ignored {
            tracing::warn!("Isolator '{ignored}' is accepted but not implemented; ignoring it");
        }
        let fetcher = Fetcher::new(config.fetcher.clone()).map_err(|e| ContainerError::Io(e.to_string()))?;
        tracing::info!(
            "Using the {launcher:?} launcher{}",
            cgroups.as_ref().map_or(String::new(), |c| format!(" with cgroups {:?}", c.version()))
        );
        Ok(MesosContainerizer {
            inner: Arc::new(Inner { config, launcher, cgroups, fetcher, state: Mutex::new(State::default()) }),
        })
    }

    pub fn launcher(&self) -> LauncherKind {
        self.inner.launcher
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// The cgroups in use, if any.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.inner.cgroups.as_ref()
    }
}

/// Root plus either a v2 hierarchy or a v1 freezer mount.
fn linux_launcher_available(hierarchy: &Path) -> bool {
    hierarchy.join("cgroup.controllers").is_file() || hierarchy.join("freezer").join("cgroup.procs").is_file()
}

/// The sum of a scalar resource (e.g. `cpus`, `mem`), if any is present.
pub fn scalar(resources: &[Resource], name: &str) -> Option<f64> {
    let values: Vec<f64> = resources
        .iter()
        .filter(|r| r.name == name && r.r#type == value::Type::Scalar as i32)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A `mem` resource of `megabytes` (for a limitation).
fn mem_resource(megabytes: f64) -> Resource {
    Resource {
        name: "mem".into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: megabytes }),
        ..Default::default()
    }
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finished(&self, key: &str) -> Option<Termination> {
        self.lock().finished.iter().rev().find(|(k, _)| k == key).map(|(_, t)| t.clone())
    }

    /// Writes cpu and memory limits for the container's resources.
    fn apply_limits(&self, key: &str) -> Result<(), ContainerError> {
        let Some(cg) = &self.cgroups else { return Ok(()) };
        let (resources, cpu_limit, mem_limit, first) = {
            let state = self.lock();
            let Some(c) = state.containers.get(key) else { return Ok(()) };
            (c.resources.clone(), c.cpu_limit, c.mem_limit_mb, !c.hard_limit_set)
        };
        let failed =
            |e: cgroups::CgroupsError| ContainerError::LaunchFailed(format!("Failed to update isolation: {e}"));
        if self.config.isolation.cgroups_cpu {
            if let Some(cpus) = scalar(&resources, "cpus") {
                // CFS quota: the limit if any, else the request with --cgroups_enable_cfs.
                let quota = cpu_limit.or(self.config.cgroups_enable_cfs.then_some(cpus));
                cg.set_cpu(key, cpus, quota).map_err(failed)?;
            }
        }
        if self.config.isolation.cgroups_mem {
            if let Some(mem) = scalar(&resources, "mem") {
                let soft = ((mem.max(0.0) * Bytes::MB as f64) as u64).max(cgroups::MIN_MEMORY);
                let hard = match mem_limit {
                    Some(limit) if limit.is_infinite() => None,
                    Some(limit) => Some(((limit.max(0.0) * Bytes::MB as f64) as u64).max(cgroups::MIN_MEMORY)),
                    None => Some(soft),
                };
                // Only raise the hard limit after the first time: lowering it
                // below current usage would OOM the container.
                let raise = first || hard.is_none_or(|h| cg.memory_limit(key).is_none_or(|current| h > current));
                cg.set_memory(key, soft, hard, raise, self.config.cgroups_limit_swap).map_err(failed)?;
                if let Some(c) = self.lock().containers.get_mut(key) {
                    c.hard_limit_set = true;
                }
            }
        }
        Ok(())
    }

    /// Starts a task that turns the container's OOM events into a limitation.
    fn watch_oom(self: &Arc<Self>, key: &str) {
        let Some(cg) = self.cgroups.as_ref().filter(|c| self.config.isolation.cgroups_mem && c.has(Controller::Memory))
        else {
            return;
        };
        let mut notifier = match cg.oom_notifier(key) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("Failed to listen for OOM events for container {key}: {e}");
                return;
            }
        };
        let baseline = cg.oom_kills(key).unwrap_or(0);
        let weak: Weak<Inner> = Arc::downgrade(self);
        let id = key.to_string();
        let task = tokio::spawn(async move {
            tracing::info!("Started listening for OOM events for container {id}");
            while let Ok(definite) = notifier.notified().await {
                let Some(inner) = weak.upgrade() else { return };
                if inner.check_oom(&id, definite) {
                    inner.kill(&id).await;
                    return;
                }
            }
        });
        if let Some(c) = self.lock().containers.get_mut(key) {
            c.oom_baseline = baseline;
            c.oom_watch = Some(task);
        } else {
            task.abort();
        }
    }

    /// Records a memory limitation if the kernel OOM-killed in the container
    /// (`definite`: an OOM event arrived, whatever the counter says yet).
    /// True if the container is limited.
    fn check_oom(&self, key: &str, definite: bool) -> bool {
        let Some(cg) = self.cgroups.as_ref().filter(|_| self.config.isolation.cgroups_mem) else { return false };
        let kills = cg.oom_kills(key);
        let mut state = self.lock();
        let Some(c) = state.containers.get_mut(key) else { return false };
        if c.limitation.is_some() {
            return true;
        }
        let oom = definite || kills.is_some_and(|n| n > c.oom_baseline);
        if !oom {
            return false;
        }
        drop(state);
        let (message, megabytes) = cg.oom_report(key);
        tracing::info!("OOM detected for container {key}: {}", message.trim());
        let limitation = Termination {
            status: None,
            state: Some(TaskState::TaskFailed),
            reason: Some(Reason::ContainerLimitationMemory),
            message: Some(message),
            limited_resources: vec![mem_resource(megabytes)],
        };
        let mut state = self.lock();
        let Some(c) = state.containers.get_mut(key) else { return false };
        c.limitation.get_or_insert(limitation);
        true
    }

    /// Kills every process of the container: through its cgroups with the
    /// Linux launcher, else its executor's session and process tree (and
    /// then whatever its cgroups still hold).
    async fn kill(&self, key: &str) {
        let pid = {
            let mut state = self.lock();
            let Some(c) = state.containers.get_mut(key) else { return };
            if c.phase == Phase::Running {
                c.phase = Phase::Destroying;
            }
            c.pid
        };
        let cgroup = self.cgroups.as_ref().filter(|cg| cg.exists(key));
        if self.launcher == LauncherKind::Posix || cgroup.is_none() {
            if let Some(pid) = pid {
                procfs::killtree(pid, Signal::SIGKILL, procfs::TreeScope::SESSION);
            }
        }
        if let Some(cg) = cgroup {
            if let Err(e) = cg.destroy(key, self.config.cgroups_destroy_timeout).await {
                tracing::error!("Failed to destroy cgroups of container {key}: {e}");
            }
        }
    }

    /// The top-level process is gone: destroy the rest, publish the end.
    async fn reaped(&self, key: &str, status: Option<i32>) {
        match status {
            Some(s) => tracing::info!("Container {key} has exited: {}", procfs::wstringify(s)),
            None => tracing::info!("Container {key} has exited"),
        }
        self.check_oom(key, false);
        let oom_watch = {
            let mut state = self.lock();
            let Some(c) = state.containers.get_mut(key) else { return };
            c.phase = Phase::Destroying;
            c.oom_watch.take()
        };
        if let Some(task) = oom_watch {
            task.abort();
        }
        self.kill(key).await;
        let termination = {
            let mut state = self.lock();
            let Some(c) = state.containers.remove(key) else { return };
            let mut termination = c.limitation.unwrap_or_default();
            termination.status = status;
            c.termination.send_replace(Some(termination.clone()));
            state.finished.push_back((key.to_string(), termination.clone()));
            while state.finished.len() > FINISHED_KEPT {
                state.finished.pop_front();
            }
            termination
        };
        tracing::info!("Container {key} destroyed: {termination:?}");
    }

    /// Undoes a launch that did not get to exec, and publishes `message` as
    /// the termination.
    async fn abandon(&self, key: &str, message: &str) {
        if let Some(cg) = &self.cgroups {
            if let Err(e) = cg.destroy(key, self.config.cgroups_destroy_timeout).await {
                tracing::error!("Failed to destroy cgroups of container {key}: {e}");
            }
        }
        let mut state = self.lock();
        if let Some(c) = state.containers.remove(key) {
            if let Some(task) = c.oom_watch {
                task.abort();
            }
            let termination = Termination { message: Some(message.to_string()), ..Default::default() };
            c.termination.send_replace(Some(termination.clone()));
            state.finished.push_back((key.to_string(), termination));
            while state.finished.len() > FINISHED_KEPT {
                state.finished.pop_front();
            }
        }
    }

    async fn launch(self: Arc<Self>, config: ContainerConfig) -> Result<LaunchResult, ContainerError> {
        let key = config.container_id.value.clone();
        let mut cancelled = {
            let mut state = self.lock();
            if state.containers.contains_key(&key) {
                return Err(ContainerError::AlreadyExists(key));
            }
            let mut container = Container::new(Phase::Launching, config.resources.clone());
            if let Some(task) = &config.task_info {
                for (name, v) in &task.limits {
                    match name.as_str() {
                        "cpus" => container.cpu_limit = Some(v.value),
                        "mem" => container.mem_limit_mb = Some(v.value),
                        _ => {}
                    }
                }
            }
            let cancelled = container.cancel.subscribe();
            state.containers.insert(key.clone(), container);
            cancelled
        };
        match self.clone().start(&key, &config, &mut cancelled).await {
            Ok(pid) => Ok(LaunchResult::Launched { pid: pid as u32 }),
            Err(error) => {
                tracing::error!("Failed to launch container {key}: {error}");
                self.abandon(&key, &error.to_string()).await;
                Err(error)
            }
        }
    }

    /// Steps 1-4 of a launch (see the module docs); returns the pid.
    async fn start(
        self: Arc<Self>,
        key: &str,
        config: &ContainerConfig,
        cancelled: &mut watch::Receiver<bool>,
    ) -> Result<i32, ContainerError> {
        let launch_failed = ContainerError::LaunchFailed;

        // Who runs it: the command's user, else the container's, if we may switch.
        let user_name = config.command_info.user.clone().or_else(|| config.user.clone());
        let may_switch = self.config.switch_user && nix::unistd::geteuid().is_root();
        let user = match user_name.as_deref().filter(|_| may_switch) {
            Some(name) => Some(launcher::resolve_user(name).map_err(launch_failed)?),
            None => None,
        };

        // 1. Isolate.
        if let Some(cg) = &self.cgroups {
            cg.create(key).map_err(|e| launch_failed(format!("Failed to prepare isolation: {e}")))?;
        }
        self.apply_limits(key)?;
        self.watch_oom(key);

        // 2. Sandbox, logs, fetch.
        let dir = &config.directory;
        std::fs::create_dir_all(dir)
            .map_err(|e| launch_failed(format!("Failed to create sandbox '{}': {e}", dir.display())))?;
        let open_log = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| launch_failed(format!("Failed to create '{name}' file: {e}")))
        };
        let stdout = open_log("stdout")?;
        let stderr = open_log("stderr")?;
        let uris = &config.command_info.uris;
        let log = dir.join("stderr");
        let fetch = self.fetcher.fetch(uris, dir, user_name.as_deref().filter(|_| may_switch), Some(&log));
        tokio::select! {
            result = fetch => result.map_err(|e| ContainerError::FetchFailed(
                format!("Failed to fetch all URIs for container '{key}': {e}")))?,
            _ = cancelled.wait_for(|c| *c) => return Err(launch_failed("Container destroyed during fetching".into())),
        }
        if let Some(user) = &user {
            launcher::chown_tree(dir, user).map_err(launch_failed)?;
        }
        if *cancelled.borrow() {
            return Err(launch_failed("Container destroyed during fetching".into()));
        }

        // 3. Fork and exec inside the isolation.
        let environment = launcher::merge_environment(&config.environment, config.command_info.environment.as_ref());
        let child = launcher::spawn(launcher::LaunchSpec {
            command: &config.command_info,
            environment,
            directory: dir,
            user,
            cgroups: self.cgroups.as_ref().map(|c| c.procs_files(key)).unwrap_or_default(),
            stdout,
            stderr,
        })
        .map_err(launch_failed)?;
        let pid = child.id().map(|p| p as i32).ok_or_else(|| launch_failed("The child exited at once".into()))?;
        tracing::info!("Launched container {key} with pid {pid}");

        // 4. Reap it.
        let destroy_now = {
            let mut state = self.lock();
            let c = state.containers.get_mut(key).ok_or_else(|| ContainerError::Unknown(key.to_string()))?;
            c.pid = Some(pid);
            c.phase = Phase::Running;
            let cancelled = *c.cancel.borrow();
            cancelled
        };
        let inner = self.clone();
        let id = key.to_string();
        tokio::spawn(async move {
            let mut child = child;
            let status = child.wait().await.ok().map(procfs::raw_status);
            inner.reaped(&id, status).await;
        });
        if destroy_now {
            self.kill(key).await;
        }
        Ok(pid)
    }

    async fn destroy(self: Arc<Self>, id: ContainerId) -> Option<Termination> {
        let key = id.value;
        let (mut termination, kill) = {
            let mut state = self.lock();
            let Some(c) = state.containers.get_mut(&key) else {
                drop(state);
                return self.finished(&key);
            };
            let kill = match c.phase {
                Phase::Launching => {
                    c.cancel.send_replace(true);
                    false
                }
                Phase::Running => true,
                Phase::Destroying => false,
            };
            (c.termination.subscribe(), kill)
        };
        tracing::info!("Destroying container {key}");
        if kill {
            self.kill(&key).await;
        }
        let result = termination.wait_for(|t| t.is_some()).await.ok().and_then(|t| t.clone());
        result
    }

    async fn wait(self: Arc<Self>, id: ContainerId) -> Option<Termination> {
        let receiver = self.lock().containers.get(&id.value).map(|c| c.termination.subscribe());
        match receiver {
            Some(mut rx) => rx.wait_for(|t| t.is_some()).await.ok().and_then(|t| t.clone()),
            None => self.finished(&id.value),
        }
    }

    fn usage(&self, id: &ContainerId) -> Result<ResourceStatistics, ContainerError> {
        let key = &id.value;
        let (pid, resources, cpu_limit, mem_limit) = {
            let state = self.lock();
            let c = state.containers.get(key).ok_or_else(|| ContainerError::Unknown(key.clone()))?;
            (c.pid, c.resources.clone(), c.cpu_limit, c.mem_limit_mb)
        };
        let isolation = &self.config.isolation;
        let mut stats = ResourceStatistics { timestamp: now_secs(), ..Default::default() };
        let tree = if isolation.posix_cpu || isolation.posix_mem { pid.and_then(procfs::tree_usage) } else { None };
        if let Some(tree) = tree {
            if isolation.posix_cpu {
                stats.cpus_user_time_secs = Some(tree.user_secs);
                stats.cpus_system_time_secs = Some(tree.system_secs);
            }
            if isolation.posix_mem {
                stats.mem_rss_bytes = Some(tree.rss_bytes);
            }
        }
        if let Some(cg) = &self.cgroups {
            if isolation.cgroups_cpu {
                if let Err(e) = cg.cpu_statistics(key, self.config.cgroups_enable_cfs, &mut stats) {
                    tracing::warn!("Skipping cpu statistics for container {key}: {e}");
                }
            }
            if isolation.cgroups_mem {
                if let Err(e) = cg.memory_statistics(key, self.config.cgroups_limit_swap, &mut stats) {
                    tracing::warn!("Skipping memory statistics for container {key}: {e}");
                }
            }
        }
        // Requests and limits, as Mesos's `_usage` adds them.
        let cpus = scalar(&resources, "cpus");
        let mem = scalar(&resources, "mem").map(|m| (m.max(0.0) * Bytes::MB as f64) as u64);
        stats.cpus_soft_limit = cpus;
        stats.cpus_limit = match cpu_limit {
            Some(l) if l.is_infinite() => Some(num_cpus()),
            Some(l) => Some(l),
            None if self.config.cgroups_enable_cfs => cpus,
            None => None,
        };
        stats.mem_soft_limit_bytes = mem;
        stats.mem_limit_bytes = match mem_limit {
            Some(l) if l.is_infinite() => total_memory(),
            Some(l) => Some((l.max(0.0) * Bytes::MB as f64) as u64),
            None => mem,
        };
        Ok(stats)
    }

    async fn recover(self: Arc<Self>, known: Vec<RecoverableContainer>) -> Result<(), ContainerError> {
        let mut known_ids = std::collections::BTreeSet::new();
        for container in known {
            let key = container.container_id.value.clone();
            known_ids.insert(key.clone());
            if self.lock().containers.contains_key(&key) {
                continue;
            }
            let pid = container.pid.map(|p| p as i32).filter(|&p| procfs::is_alive(p));
            // A live pid must also be in the container's cgroup (it may be a
            // reused pid after a reboot).
            let pid = pid.filter(|&p| match &self.cgroups {
                Some(cg) if cg.exists(&key) => cg.pids(&key).contains(&p),
                _ => true,
            });
            let mut entry = Container::new(Phase::Running, Vec::new());
            entry.pid = pid;
            entry.hard_limit_set = true;
            self.lock().containers.insert(key.clone(), entry);
            match pid {
                Some(pid) => {
                    tracing::info!("Recovered container {key} with pid {pid}");
                    if self.cgroups.as_ref().is_some_and(|c| c.exists(&key)) {
                        self.watch_oom(&key);
                    }
                    let inner = self.clone();
                    tokio::spawn(async move {
                        launcher::wait_pid(pid).await;
                        inner.reaped(&key, None).await;
                    });
                }
                None => {
                    tracing::info!("Recovered container {key} whose executor is gone");
                    self.reaped(&key, None).await;
                }
            }
        }
        if let Some(cg) = &self.cgroups {
            for orphan in cg.containers().into_iter().filter(|id| !known_ids.contains(id)) {
                tracing::info!("Cleaning up unknown orphaned container {orphan}");
                // As Mesos, a failure here is logged, not a failed recovery.
                if let Err(e) = cg.destroy(&orphan, self.config.cgroups_destroy_timeout).await {
                    tracing::error!("Failed to destroy orphan container {orphan}: {e}");
                }
            }
        }
        Ok(())
    }
}

fn num_cpus() -> f64 {
    std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0)
}

fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Containerizer for MesosContainerizer {
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
        let inner = self.inner.clone();
        async move {
            {
                let mut state = inner.lock();
                let c = state.containers.get_mut(&id.value).ok_or_else(|| ContainerError::Unknown(id.value.clone()))?;
                if c.phase == Phase::Destroying {
                    return Ok(());
                }
                c.resources = resources;
            }
            inner.apply_limits(&id.value)
        }
        .boxed()
    }

    fn usage(&self, id: ContainerId) -> BoxFuture<'_, Result<ResourceStatistics, ContainerError>> {
        let inner = self.inner.clone();
        async move {
            tokio::task::spawn_blocking(move || inner.usage(&id))
                .await
                .map_err(|e| ContainerError::Io(e.to_string()))?
        }
        .boxed()
    }

    fn containers(&self) -> BoxFuture<'_, Vec<ContainerId>> {
        let ids = self.inner.lock().containers.keys().map(|k| ContainerId { value: k.clone(), parent: None }).collect();
        futures::future::ready(ids).boxed()
    }
}
