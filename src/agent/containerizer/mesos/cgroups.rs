//! A thin layer over the cgroup filesystem (v1 and v2), enough for the Linux
//! launcher and the `cgroups/cpu` and `cgroups/mem` isolators.
//!
//! Layout, as Mesos lays it out (`containerizer/mesos/paths.cpp`):
//! - v1: `<hierarchy>/<subsystem>/<root>/<container id>` for each subsystem
//!   used (`freezer` for the launcher, `cpu` + `cpuacct`, `memory`); the same
//!   directory when subsystems share a mount (`cpu,cpuacct`).
//! - v2 (unified): `<hierarchy>/<root>/<container id>` carries the limits and
//!   `<hierarchy>/<root>/<container id>/leaf` the processes (a cgroup with
//!   processes cannot delegate controllers).
//!
//! `<hierarchy>` (`--cgroups_hierarchy`) and `<root>` (`--cgroups_root`) are
//! parameters, so tests can point this module at a plain directory tree; on a
//! directory that is not a cgroup filesystem, removal deletes the files the
//! test wrote instead of failing with `ENOTEMPTY`.
//!
//! We write the files ourselves instead of using `cgroups-rs` (which pulls a
//! D-Bus stack); the operations are the ones Mesos's `src/linux/cgroups.cpp`
//! and `cgroups2.cpp` perform.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::common::units::Bytes;
use crate::proto::mesos::ResourceStatistics;

use super::procfs;

/// `--cgroups_hierarchy`'s default.
pub const DEFAULT_HIERARCHY: &str = "/sys/fs/cgroup";
/// `--cgroups_root`'s default.
pub const DEFAULT_ROOT: &str = "mesos";

/// Linux constants Mesos uses (`isolators/cgroups/constants.hpp`).
pub const CPU_SHARES_PER_CPU: f64 = 1024.0;
pub const MIN_CPU_SHARES: u64 = 2;
pub const CPU_WEIGHT_PER_CPU: f64 = 100.0;
pub const MIN_CPU_WEIGHT: u64 = 1;
pub const MAX_CPU_WEIGHT: u64 = 10_000;
pub const CPU_CFS_PERIOD_US: u64 = 100_000;
pub const MIN_CPU_CFS_QUOTA_US: u64 = 1_000;
pub const MIN_MEMORY: u64 = 32 * Bytes::MB;

/// Why a cgroup operation failed; the text names the file, as Mesos's do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CgroupsError(pub String);

fn io_err(what: impl std::fmt::Display, e: io::Error) -> CgroupsError {
    CgroupsError(format!("{what}: {e}"))
}

/// Which cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One mount per subsystem (legacy or hybrid layout).
    V1,
    /// The unified hierarchy.
    V2,
}

/// What the containerizer asks cgroups for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Controller {
    /// `cpu` + `cpuacct` on v1, `cpu` on v2.
    Cpu,
    Memory,
    /// A cgroup per container to find and kill its processes: `freezer` on
    /// v1; on v2 every cgroup can do that.
    Freezer,
}

impl Controller {
    fn v1_subsystems(self) -> &'static [&'static str] {
        match self {
            Controller::Cpu => &["cpu", "cpuacct"],
            Controller::Memory => &["memory"],
            Controller::Freezer => &["freezer"],
        }
    }

    fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Memory => Some("memory"),
            Controller::Freezer => None,
        }
    }
}

/// The cgroups of every container of one containerizer.
#[derive(Debug, Clone)]
pub struct Cgroups {
    hierarchy: PathBuf,
    root: String,
    version: Version,
    controllers: BTreeSet<Controller>,
    /// v1: subsystem -> the mount directory it lives in.
    mounts: BTreeMap<&'static str, PathBuf>,
}

impl Cgroups {
    /// Detects the layout under `hierarchy` (v2 when it has
    /// `cgroup.controllers`), checks the controllers are there, and creates
    /// `<root>` (enabling the v2 controllers for its children).
    pub fn prepare(hierarchy: &Path, root: &str, controllers: &[Controller]) -> Result<Cgroups, CgroupsError> {
        let root = root.trim_matches('/').to_string();
        if root.is_empty() || root.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(CgroupsError(format!("Invalid cgroups root '{root}'")));
        }
        let controllers: BTreeSet<Controller> = controllers.iter().copied().collect();
        if hierarchy.join("cgroup.controllers").is_file() {
            let cgroups = Cgroups {
                hierarchy: hierarchy.to_path_buf(),
                root,
                version: Version::V2,
                controllers,
                mounts: BTreeMap::new(),
            };
            cgroups.prepare_v2()?;
            return Ok(cgroups);
        }
        let mut mounts = BTreeMap::new();
        for controller in &controllers {
            for &subsystem in controller.v1_subsystems() {
                let mount = hierarchy.join(subsystem);
                if !mount.join("cgroup.procs").is_file() {
                    return Err(CgroupsError(format!(
                        "Failed to prepare hierarchy for the subsystem '{subsystem}': \
                         '{}' is not a mounted cgroup hierarchy",
                        mount.display()
                    )));
                }
                let mount = fs::canonicalize(&mount).unwrap_or(mount);
                let dir = mount.join(&root);
                fs::create_dir_all(&dir).map_err(|e| io_err(format!("Failed to create '{}'", dir.display()), e))?;
                mounts.insert(subsystem, mount);
            }
        }
        Ok(Cgroups { hierarchy: hierarchy.to_path_buf(), root, version: Version::V1, controllers, mounts })
    }

    fn prepare_v2(&self) -> Result<(), CgroupsError> {
        let available = read(&self.hierarchy.join("cgroup.controllers"))?;
        let available: BTreeSet<&str> = available.split_whitespace().collect();
        let wanted: Vec<&str> = self.controllers.iter().filter_map(|c| c.v2_name()).collect();
        for name in &wanted {
            if !available.contains(name) {
                return Err(CgroupsError(format!(
                    "The '{name}' controller is not available in '{}'",
                    self.hierarchy.display()
                )));
            }
        }
        // Enable the controllers along the path from the hierarchy to <root>
        // so that each container cgroup under <root> gets them.
        let mut dir = self.hierarchy.clone();
        let components: Vec<&str> = self.root.split('/').collect();
        for component in components {
            enable_v2_controllers(&dir, &wanted)?;
            dir = dir.join(component);
            if !dir.exists() {
                fs::create_dir(&dir).map_err(|e| io_err(format!("Failed to create '{}'", dir.display()), e))?;
            }
        }
        enable_v2_controllers(&dir, &wanted)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn has(&self, controller: Controller) -> bool {
        self.controllers.contains(&controller)
    }

    /// The container's cgroup in a v1 subsystem, or the v2 container cgroup.
    fn dir(&self, subsystem: &str, id: &str) -> Option<PathBuf> {
        match self.version {
            Version::V2 => Some(self.hierarchy.join(&self.root).join(id)),
            Version::V1 => self.mounts.get(subsystem).map(|m| m.join(&self.root).join(id)),
        }
    }

    /// Every directory of the container, one per distinct hierarchy.
    fn dirs(&self, id: &str) -> Vec<PathBuf> {
        match self.version {
            Version::V2 => vec![self.hierarchy.join(&self.root).join(id)],
            Version::V1 => {
                let unique: BTreeSet<&PathBuf> = self.mounts.values().collect();
                unique.into_iter().map(|m| m.join(&self.root).join(id)).collect()
            }
        }
    }

    /// Creates the container's cgroups.
    pub fn create(&self, id: &str) -> Result<(), CgroupsError> {
        check_id(id)?;
        for dir in self.dirs(id) {
            fs::create_dir_all(&dir).map_err(|e| io_err(format!("Failed to create cgroup '{}'", dir.display()), e))?;
        }
        if self.version == Version::V2 {
            let leaf = self.hierarchy.join(&self.root).join(id).join("leaf");
            fs::create_dir_all(&leaf)
                .map_err(|e| io_err(format!("Failed to create cgroup '{}'", leaf.display()), e))?;
        }
        Ok(())
    }

    /// Whether any of the container's cgroups exists.
    pub fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.dirs(id).iter().any(|d| d.is_dir())
    }

    /// The `cgroup.procs` files a process writes itself into to join the
    /// container (the launcher opens them before forking; the child writes
    /// `0`, i.e. "me", before it execs).
    pub fn procs_files(&self, id: &str) -> Vec<PathBuf> {
        match self.version {
            Version::V2 => vec![self.hierarchy.join(&self.root).join(id).join("leaf").join("cgroup.procs")],
            Version::V1 => self.dirs(id).into_iter().map(|d| d.join("cgroup.procs")).collect(),
        }
    }

    /// Moves an existing process into the container's cgroups.
    pub fn assign(&self, id: &str, pid: i32) -> Result<(), CgroupsError> {
        for file in self.procs_files(id) {
            write(&file, &pid.to_string())?;
        }
        Ok(())
    }

    /// Every process in the container's cgroups (all hierarchies, v2 subtree).
    pub fn pids(&self, id: &str) -> BTreeSet<i32> {
        let mut pids = BTreeSet::new();
        if check_id(id).is_err() {
            return pids;
        }
        for dir in self.dirs(id) {
            collect_pids(&dir, self.version == Version::V2, &mut pids);
        }
        pids
    }

    /// The container ids that have a cgroup under `<root>`.
    pub fn containers(&self) -> BTreeSet<String> {
        let mut bases: BTreeSet<PathBuf> = BTreeSet::new();
        match self.version {
            Version::V2 => {
                bases.insert(self.hierarchy.join(&self.root));
            }
            Version::V1 => bases.extend(self.mounts.values().map(|m| m.join(&self.root))),
        }
        let mut ids = BTreeSet::new();
        for base in bases {
            let Ok(entries) = fs::read_dir(&base) else { continue };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                let name = entry.file_name().to_string_lossy().into_owned();
                // `slave`/`agent` are where Mesos puts the agent itself.
                if is_dir && name != "slave" && name != "agent" {
                    ids.insert(name);
                }
            }
        }
        ids
    }

    /// Sets cpu shares (v1) or weight (v2) for `cpus`, and the CFS bandwidth
    /// to `quota_cpus` (None: unlimited), as Mesos's cpu subsystem does.
    pub fn set_cpu(&self, id: &str, cpus: f64, quota_cpus: Option<f64>) -> Result<(), CgroupsError> {
        let Some(dir) = self.dir("cpu", id) else { return Ok(()) };
        let cpus = if cpus.is_finite() && cpus > 0.0 { cpus } else { 0.0 };
        let quota_us = quota_cpus
            .filter(|q| q.is_finite())
            .map(|q| ((q.max(0.0) * CPU_CFS_PERIOD_US as f64) as u64).max(MIN_CPU_CFS_QUOTA_US));
        match self.version {
            Version::V1 => {
                let shares = ((CPU_SHARES_PER_CPU * cpus) as u64).max(MIN_CPU_SHARES);
                write(&dir.join("cpu.shares"), &shares.to_string())?;
                if quota_cpus.is_some() {
                    write(&dir.join("cpu.cfs_period_us"), &CPU_CFS_PERIOD_US.to_string())?;
                    let quota = quota_us.map_or("-1".to_string(), |q| q.to_string());
                    write(&dir.join("cpu.cfs_quota_us"), &quota)?;
                }
            }
            Version::V2 => {
                let weight = ((CPU_WEIGHT_PER_CPU * cpus) as u64).clamp(MIN_CPU_WEIGHT, MAX_CPU_WEIGHT);
                write(&dir.join("cpu.weight"), &weight.to_string())?;
                let max = match quota_us {
                    Some(q) => format!("{q} {CPU_CFS_PERIOD_US}"),
                    None => format!("max {CPU_CFS_PERIOD_US}"),
                };
                write(&dir.join("cpu.max"), &max)?;
            }
        }
        Ok(())
    }

    /// Sets the soft limit, and the hard limit when `raise_hard` (the first
    /// time, or when it grows: lowering it could OOM the container), as
    /// Mesos's memory subsystem does. `hard` None means unlimited.
    pub fn set_memory(
        &self,
        id: &str,
        soft: u64,
        hard: Option<u64>,
        raise_hard: bool,
        limit_swap: bool,
    ) -> Result<(), CgroupsError> {
        let Some(dir) = self.dir("memory", id) else { return Ok(()) };
        match self.version {
            Version::V1 => {
                write(&dir.join("memory.soft_limit_in_bytes"), &soft.to_string())?;
                if !raise_hard {
                    return Ok(());
                }
                let value = hard.map_or("-1".to_string(), |h| h.to_string());
                let current = read_u64(&dir.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
                let lowering = hard.is_some_and(|h| h < current);
                // memory.limit_in_bytes must stay <= memory.memsw.limit_in_bytes.
                if limit_swap && !lowering {
                    write(&dir.join("memory.memsw.limit_in_bytes"), &value)?;
                }
                write(&dir.join("memory.limit_in_bytes"), &value)?;
                if limit_swap && lowering {
                    write(&dir.join("memory.memsw.limit_in_bytes"), &value)?;
                }
            }
            Version::V2 => {
                write(&dir.join("memory.low"), &soft.to_string())?;
                if raise_hard {
                    write(&dir.join("memory.max"), &hard.map_or("max".to_string(), |h| h.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// The current hard memory limit in bytes (`None`: unlimited or unknown).
    pub fn memory_limit(&self, id: &str) -> Option<u64> {
        let dir = self.dir("memory", id)?;
        match self.version {
            Version::V1 => read_u64(&dir.join("memory.limit_in_bytes")).filter(|&v| v < (1 << 62)),
            Version::V2 => read_u64(&dir.join("memory.max")),
        }
    }

    /// CPU statistics (`cpuacct.stat` + `cpu.stat`, or v2 `cpu.stat`).
    pub fn cpu_statistics(&self, id: &str, cfs: bool, stats: &mut ResourceStatistics) -> Result<(), CgroupsError> {
        match self.version {
            Version::V1 => {
                let Some(acct) = self.dir("cpuacct", id) else { return Ok(()) };
                let stat = read_stat(&acct.join("cpuacct.stat"))?;
                let ticks = procfs::clock_ticks() as f64;
                if let (Some(user), Some(system)) = (stat.get("user"), stat.get("system")) {
                    stats.cpus_user_time_secs = Some(*user as f64 / ticks);
                    stats.cpus_system_time_secs = Some(*system as f64 / ticks);
                }
                if cfs {
                    if let Some(cpu) = self.dir("cpu", id) {
                        let stat = read_stat(&cpu.join("cpu.stat"))?;
                        stats.cpus_nr_periods = stat.get("nr_periods").map(|v| *v as u32);
                        stats.cpus_nr_throttled = stat.get("nr_throttled").map(|v| *v as u32);
                        stats.cpus_throttled_time_secs = stat.get("throttled_time").map(|v| *v as f64 / 1e9);
                    }
                }
            }
            Version::V2 => {
                let Some(dir) = self.dir("cpu", id) else { return Ok(()) };
                let stat = read_stat(&dir.join("cpu.stat"))?;
                stats.cpus_user_time_secs = stat.get("user_usec").map(|v| *v as f64 / 1e6);
                stats.cpus_system_time_secs = stat.get("system_usec").map(|v| *v as f64 / 1e6);
                stats.cpus_nr_periods = stat.get("nr_periods").map(|v| *v as u32);
                stats.cpus_nr_throttled = stat.get("nr_throttled").map(|v| *v as u32);
                stats.cpus_throttled_time_secs = stat.get("throttled_usec").map(|v| *v as f64 / 1e6);
            }
        }
        Ok(())
    }

    /// Memory statistics (`memory.usage_in_bytes` + `memory.stat`, or v2
    /// `memory.current` + `memory.stat`).
    pub fn memory_statistics(
        &self,
        id: &str,
        limit_swap: bool,
        stats: &mut ResourceStatistics,
    ) -> Result<(), CgroupsError> {
        let Some(dir) = self.dir("memory", id) else { return Ok(()) };
        match self.version {
            Version::V1 => {
                stats.mem_total_bytes = Some(
                    read_u64(&dir.join("memory.usage_in_bytes"))
                        .ok_or_else(|| CgroupsError("Failed to parse 'memory.usage_in_bytes'".into()))?,
                );
                if limit_swap {
                    stats.mem_total_memsw_bytes = read_u64(&dir.join("memory.memsw.usage_in_bytes"));
                }
                let stat = read_stat(&dir.join("memory.stat"))?;
                stats.mem_file_bytes = stat.get("total_cache").copied();
                stats.mem_cache_bytes = stat.get("total_cache").copied();
                stats.mem_anon_bytes = stat.get("total_rss").copied();
                stats.mem_rss_bytes = stat.get("total_rss").copied();
                stats.mem_mapped_file_bytes = stat.get("total_mapped_file").copied();
                stats.mem_swap_bytes = stat.get("total_swap").copied();
                stats.mem_unevictable_bytes = stat.get("total_unevictable").copied();
            }
            Version::V2 => {
                stats.mem_total_bytes = Some(
                    read_u64(&dir.join("memory.current"))
                        .ok_or_else(|| CgroupsError("Failed to parse 'memory.current'".into()))?,
                );
                let stat = read_stat(&dir.join("memory.stat"))?;
                stats.mem_file_bytes = stat.get("file").copied();
                stats.mem_cache_bytes = stat.get("file").copied();
                stats.mem_anon_bytes = stat.get("anon").copied();
                stats.mem_rss_bytes = stat.get("anon").copied();
                stats.mem_mapped_file_bytes = stat.get("file_mapped").copied();
                stats.mem_unevictable_bytes = stat.get("unevictable").copied();
            }
        }
        Ok(())
    }

    /// How many times the kernel OOM-killed a process of the container
    /// (`oom_kill` in `memory.oom_control` / `memory.events`). Reading it
    /// does not consume anything, so the reaper and the OOM watcher can both
    /// look.
    pub fn oom_kills(&self, id: &str) -> Option<u64> {
        let dir = self.dir("memory", id)?;
        let file = match self.version {
            Version::V1 => dir.join("memory.oom_control"),
            Version::V2 => dir.join("memory.events"),
        };
        let stat = read_stat(&file).ok()?;
        stat.get("oom_kill").copied()
    }

    /// What Mesos reports when the container hit its memory limit: the
    /// message, and the `mem` (MB) to put in the limitation's resources.
    pub fn oom_report(&self, id: &str) -> (String, f64) {
        let Some(dir) = self.dir("memory", id) else { return ("Memory limit exceeded".into(), 0.0) };
        match self.version {
            Version::V1 => {
                let mut message = String::from("Memory limit exceeded: ");
                if let Some(limit) = read_u64(&dir.join("memory.limit_in_bytes")) {
                    message.push_str(&format!("Requested: {} ", Bytes(limit)));
                }
                let max_used = read_u64(&dir.join("memory.max_usage_in_bytes"));
                if let Some(used) = max_used {
                    message.push_str(&format!("Maximum Used: {}\n", Bytes(used)));
                }
                if let Ok(stat) = fs::read_to_string(dir.join("memory.stat")) {
                    message.push_str(&format!("\nMEMORY STATISTICS: \n{stat}\n"));
                }
                (message, max_used.map_or(0.0, |b| Bytes(b).megabytes()))
            }
            Version::V2 => {
                let mut message = String::from("Memory limit exceeded: ");
                if let Ok(stat) = read_stat(&dir.join("memory.stat")) {
                    let get = |k: &str| Bytes(stat.get(k).copied().unwrap_or(0));
                    message.push_str(&format!(
                        "\nMEMORY STATISTICS post-OOM: \nanon: {}\nfile: {}\nkernel: {}\n",
                        get("anon"),
                        get("file"),
                        get("kernel")
                    ));
                }
                let limit = read_u64(&dir.join("memory.max"));
                (message, limit.map_or(0.0, |b| Bytes(b).megabytes()))
            }
        }
    }

    /// Starts listening for OOM events of the container.
    pub fn oom_notifier(&self, id: &str) -> Result<OomNotifier, CgroupsError> {
        let dir = self.dir("memory", id).ok_or_else(|| CgroupsError("No memory cgroup".into()))?;
        match self.version {
            Version::V1 => {
                // cgroup v1 notification API: register "<eventfd> <fd of
                // memory.oom_control>" in cgroup.event_control.
                let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                    .map_err(|e| CgroupsError(format!("Failed to create eventfd: {e}")))?;
                let control = fs::File::open(dir.join("memory.oom_control"))
                    .map_err(|e| io_err("Failed to open 'memory.oom_control'", e))?;
                let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
                write(&dir.join("cgroup.event_control"), &line)?;
                // SAFETY: the EventFd owns its descriptor (an OwnedFd) until it
                // is dropped with the AsyncFd, and always reports that same fd.
                let fd = unsafe { AsyncFd::register_with_interest(efd, Interest::READABLE) }
                    .map_err(|e| CgroupsError(format!("Failed to watch the eventfd: {e}")))?;
                Ok(OomNotifier { kind: NotifierKind::EventFd { fd, _control: control } })
            }
            Version::V2 => {
                let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
                    .map_err(|e| CgroupsError(format!("Failed to create inotify: {e}")))?;
                inotify
                    .add_watch(&dir.join("memory.events"), AddWatchFlags::IN_MODIFY)
                    .map_err(|e| CgroupsError(format!("Failed to watch 'memory.events': {e}")))?;
                // SAFETY: the Inotify owns its descriptor until it is dropped with
                // the AsyncFd, and `Watched` always reports that same fd.
                let fd = unsafe { AsyncFd::register_with_interest(Watched(inotify), Interest::READABLE) }
                    .map_err(|e| CgroupsError(format!("Failed to watch inotify: {e}")))?;
                Ok(OomNotifier { kind: NotifierKind::Inotify(fd) })
            }
        }
    }

    /// Kills every process in the container's cgroups and removes them,
    /// giving up after `timeout`. v1: freeze, SIGKILL, thaw (so nothing forks
    /// meanwhile); v2: `cgroup.kill`, or the same freeze dance without it.
    pub async fn destroy(&self, id: &str, timeout: Duration) -> Result<(), CgroupsError> {
        check_id(id)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let freezer = match self.version {
            Version::V1 => self.dir("freezer", id).filter(|d| d.join("freezer.state").exists()),
            Version::V2 => Some(self.hierarchy.join(&self.root).join(id)),
        };
        let container_dir = self.hierarchy.join(&self.root).join(id);
        loop {
            let pids = self.pids(id);
            if pids.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CgroupsError(format!(
                    "Timed out after {timeout:?} killing the processes of container {id}: {pids:?} remain"
                )));
            }
            if self.version == Version::V2 && container_dir.join("cgroup.kill").exists() {
                write(&container_dir.join("cgroup.kill"), "1")?;
            } else if let Some(dir) = &freezer {
                self.freeze_and_kill(dir, id).await;
            } else {
                for pid in &pids {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.remove(id, deadline).await
    }

    async fn freeze_and_kill(&self, dir: &Path, id: &str) {
        let (file, frozen, thawed) = match self.version {
            Version::V1 => ("freezer.state", "FROZEN", "THAWED"),
            Version::V2 => ("cgroup.freeze", "1", "0"),
        };
        let _ = write(&dir.join(file), frozen);
        // Wait (briefly) for the freeze to take; kill anyway if it does not.
        for _ in 0..100 {
            let state = match self.version {
                Version::V1 => read(&dir.join("freezer.state")).unwrap_or_default(),
                Version::V2 => read_stat(&dir.join("cgroup.events"))
                    .ok()
                    .and_then(|s| s.get("frozen").copied())
                    .map_or_else(String::new, |v| if v == 1 { "1".into() } else { "0".into() }),
            };
            if state.trim() == frozen {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for pid in self.pids(id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = write(&dir.join(file), thawed);
    }

    async fn remove(&self, id: &str, deadline: tokio::time::Instant) -> Result<(), CgroupsError> {
        let mut dirs = Vec::new();
        if self.version == Version::V2 {
            dirs.push(self.hierarchy.join(&self.root).join(id).join("leaf"));
        }
        dirs.extend(self.dirs(id));
        for dir in dirs {
            loop {
                match remove_cgroup_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // The kernel may still be tearing down exited tasks.
                    Err(e) if tokio::time::Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => return Err(io_err(format!("Failed to remove cgroup '{}'", dir.display()), e)),
                }
            }
        }
        Ok(())
    }
}

/// Wakes up when the kernel may have OOM-killed something in a container.
pub struct OomNotifier {
    kind: NotifierKind,
}

enum NotifierKind {
    EventFd { fd: AsyncFd<EventFd>, _control: fs::File },
    Inotify(AsyncFd<Watched>),
}

/// `Inotify` only implements `AsFd`; `AsyncFd` wants `AsRawFd`.
struct Watched(Inotify);

impl AsRawFd for Watched {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl OomNotifier {
    /// Resolves at the next notification: `true` when it is itself an OOM
    /// event (v1: the eventfd fires when the cgroup hits OOM, before the
    /// killer has bumped `oom_kill`), `false` when the caller must re-read
    /// the counter (v2: `memory.events` changed, maybe for another event).
    pub async fn notified(&mut self) -> io::Result<bool> {
        match &mut self.kind {
            NotifierKind::EventFd { fd, .. } => loop {
                let mut guard = fd.readable().await?;
                match guard.try_io(|inner| inner.get_ref().read().map_err(io::Error::from)) {
                    Ok(Ok(_)) => return Ok(true),
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => continue,
                }
            },
            NotifierKind::Inotify(fd) => loop {
                let mut guard = fd.readable().await?;
                match guard.try_io(|inner| inner.get_ref().0.read_events().map_err(io::Error::from)) {
                    Ok(Ok(_)) => return Ok(false),
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => continue,
                }
            },
        }
    }
}

fn check_id(id: &str) -> Result<(), CgroupsError> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(CgroupsError(format!("Invalid container id for a cgroup: '{id}'")));
    }
    Ok(())
}

fn enable_v2_controllers(dir: &Path, names: &[&str]) -> Result<(), CgroupsError> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).unwrap_or_default();
    let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
    for name in names {
        if !enabled.contains(name) {
            write(&file, &format!("+{name}"))?;
        }
    }
    Ok(())
}

fn collect_pids(dir: &Path, recursive: bool, out: &mut BTreeSet<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
    }
    if recursive {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    collect_pids(&entry.path(), true, out);
                }
            }
        }
    }
}

/// `rmdir` on a cgroup filesystem; a plain directory (a test's fake tree)
/// also loses the files the test wrote into it.
fn remove_cgroup_dir(dir: &Path) -> io::Result<()> {
    let on_cgroupfs = nix::sys::statfs::statfs(dir)
        .map(|s| {
            let t = s.filesystem_type();
            t == nix::sys::statfs::CGROUP_SUPER_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
        })
        .map_err(io::Error::from)?;
    if on_cgroupfs {
        fs::remove_dir(dir)
    } else {
        fs::remove_dir_all(dir)
    }
}

fn read(path: &Path) -> Result<String, CgroupsError> {
    fs::read_to_string(path).map_err(|e| io_err(format!("Failed to read '{}'", path.display()), e))
}

fn write(path: &Path, value: &str) -> Result<(), CgroupsError> {
    fs::write(path, value).map_err(|e| io_err(format!("Failed to write '{value}' to '{}'", path.display()), e))
}

/// A single-number control file; `max` (v2) reads as `None`.
fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`, ...).
fn read_stat(path: &Path) -> Result<BTreeMap<String, u64>, CgroupsError> {
    let text = read(path)?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?;
            let value = parts.next()?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory laid out like a v2 unified hierarchy.
    fn fake_v2() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        fs::write(dir.path().join("cgroup.subtree_control"), "").unwrap();
        dir
    }

    fn v2_container(base: &Path, id: &str) -> PathBuf {
        let dir = base.join("mesos").join(id);
        for (file, text) in [
            ("cgroup.procs", ""),
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("memory.low", "0"),
            ("memory.max", "max"),
            ("memory.current", "1048576"),
            ("cpu.stat", "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 500000\n"),
            ("memory.stat", "anon 4096\nfile 8192\nkernel 1024\nsock 0\nfile_mapped 2048\nunevictable 0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
        ] {
            fs::write(dir.join(file), text).unwrap();
        }
        fs::write(dir.join("leaf").join("cgroup.procs"), "").unwrap();
        dir
    }

    #[test]
    fn v2_prepare_enables_controllers_down_to_the_root() {
        let base = fake_v2();
        let cg = Cgroups::prepare(base.path(), "mesos", &[Controller::Cpu, Controller::Memory, Controller::Freezer])
            .unwrap();
        assert_eq!(cg.version(), Version::V2);
        // Written one at a time; the fake file keeps the last write.
        assert_eq!(fs::read_to_string(base.path().join("cgroup.subtree_control")).unwrap(), "+memory");
        assert_eq!(fs::read_to_string(base.path().join("mesos/cgroup.subtree_control")).unwrap(), "+memory");

        let missing = tempfile::tempdir().unwrap();
        fs::write(missing.path().join("cgroup.controllers"), "pids\n").unwrap();
        let err = Cgroups::prepare(missing.path(), "mesos", &[Controller::Memory]).unwrap_err();
        assert!(err.0.contains("'memory' controller is not available"), "{err}");
        assert!(Cgroups::prepare(base.path(), "../escape", &[]).is_err());
    }

    #[test]
    fn v2_limits_stats_and_oom_on_a_fake_tree() {
        let base = fake_v2();
        let cg = Cgroups::prepare(base.path(), "mesos", &[Controller::Cpu, Controller::Memory]).unwrap();
        cg.create("c1").unwrap();
        let dir = v2_container(base.path(), "c1");
        assert_eq!(cg.procs_files("c1"), vec![dir.join("leaf/cgroup.procs")]);
        assert!(cg.exists("c1") && !cg.exists("c2"));
        assert!(cg.create("../x").is_err());

        cg.set_cpu("c1", 0.5, None).unwrap();
        assert_eq!(fs::read_to_string(dir.join("cpu.weight")).unwrap(), "50");
        assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap(), "max 100000");
        cg.set_cpu("c1", 2.0, Some(2.0)).unwrap();
        assert_eq!(fs::read_to_string(dir.join("cpu.weight")).unwrap(), "200");
        assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap(), "200000 100000");
        cg.set_cpu("c1", 0.001, Some(0.001)).unwrap();
        assert_eq!(fs::read_to_string(dir.join("cpu.weight")).unwrap(), "1");
        assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap(), "1000 100000");

        cg.set_memory("c1", 64 * Bytes::MB, Some(64 * Bytes::MB), true, false).unwrap();
        assert_eq!(fs::read_to_string(dir.join("memory.low")).unwrap(), (64 * Bytes::MB).to_string());
        assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), (64 * Bytes::MB).to_string());
        assert_eq!(cg.memory_limit("c1"), Some(64 * Bytes::MB));
        cg.set_memory("c1", 32 * Bytes::MB, Some(32 * Bytes::MB), false, false).unwrap();
        assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), (64 * Bytes::MB).to_string());

        let mut stats = ResourceStatistics::default();
        cg.cpu_statistics("c1", false, &mut stats).unwrap();
        cg.memory_statistics("c1", false, &mut stats).unwrap();
        assert_eq!(stats.cpus_user_time_secs, Some(2.0));
        assert_eq!(stats.cpus_system_time_secs, Some(1.0));
        assert_eq!(stats.cpus_nr_throttled, Some(2));
        assert_eq!(stats.cpus_throttled_time_secs, Some(0.5));
        assert_eq!(stats.mem_total_bytes, Some(1048576));
        assert_eq!(stats.mem_rss_bytes, Some(4096));
        assert_eq!(stats.mem_cache_bytes, Some(8192));
        assert_eq!(stats.mem_mapped_file_bytes, Some(2048));

        assert_eq!(cg.oom_kills("c1"), Some(0));
        fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(cg.oom_kills("c1"), Some(1));
        let (message, mb) = cg.oom_report("c1");
        assert!(
            message.starts_with("Memory limit exceeded: \nMEMORY STATISTICS post-OOM: \nanon: 4KB\nfile: 8KB"),
            "{message}"
        );
        assert_eq!(mb, 64.0);

        assert_eq!(cg.containers(), BTreeSet::from(["c1".to_string()]));
    }

    #[test]
    fn v2_oom_notifier_wakes_on_memory_events_changes() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let base = fake_v2();
            let cg = Cgroups::prepare(base.path(), "mesos", &[Controller::Memory]).unwrap();
            cg.create("c1").unwrap();
            let dir = v2_container(base.path(), "c1");
            let mut notifier = cg.oom_notifier("c1").unwrap();
            fs::write(dir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
            assert!(!tokio::time::timeout(Duration::from_secs(30), notifier.notified()).await.unwrap().unwrap());
            assert_eq!(cg.oom_kills("c1"), Some(1));
        });
    }

    #[test]
    fn v2_destroy_uses_cgroup_kill_and_removes_the_tree() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let base = fake_v2();
            let cg = Cgroups::prepare(base.path(), "mesos", &[Controller::Cpu]).unwrap();
            cg.create("c1").unwrap();
            let dir = v2_container(base.path(), "c1");
            fs::write(dir.join("cgroup.kill"), "").unwrap();
            cg.destroy("c1", Duration::from_secs(5)).await.unwrap();
            assert!(!dir.exists());
            assert!(cg.containers().is_empty());
            // Destroying what is gone is fine.
            cg.destroy("c1", Duration::from_secs(5)).await.unwrap();
        });
    }

    #[test]
    fn v1_layout_on_a_fake_tree() {
        let base = tempfile::tempdir().unwrap();
        for sub in ["cpu,cpuacct", "memory", "freezer"] {
            fs::create_dir_all(base.path().join(sub)).unwrap();
            fs::write(base.path().join(sub).join("cgroup.procs"), "").unwrap();
        }
        std::os::unix::fs::symlink("cpu,cpuacct", base.path().join("cpu")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", base.path().join("cpuacct")).unwrap();
        let cg = Cgroups::prepare(base.path(), "mesos", &[Controller::Cpu, Controller::Memory, Controller::Freezer])
            .unwrap();
        assert_eq!(cg.version(), Version::V1);
        cg.create("c1").unwrap();
        // cpu and cpuacct share a mount: three directories, not four.
        assert_eq!(cg.procs_files("c1").len(), 3);
        cg.set_cpu("c1", 1.5, Some(1.5)).unwrap();
        let cpu = base.path().join("cpu,cpuacct/mesos/c1");
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap(), "1536");
        assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap(), "150000");
        cg.set_cpu("c1", 0.0, None).unwrap();
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap(), "2");

        let err = Cgroups::prepare(base.path(), "mesos", &[Controller::Memory, Controller::Cpu]);
        assert!(err.is_ok());
        let empty = tempfile::tempdir().unwrap();
        let err = Cgroups::prepare(empty.path(), "mesos", &[Controller::Memory]).unwrap_err();
        assert!(err.0.starts_with("Failed to prepare hierarchy for the subsystem 'memory'"), "{err}");
    }
}
