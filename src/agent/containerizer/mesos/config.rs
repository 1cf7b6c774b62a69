//! The Mesos containerizer's flags and configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::agent::fetcher::{self, FetcherConfig};
use crate::common::flags::{FlagDef, Flags, FlagsError, Kind};

use super::cgroups;

/// The agent flags the Mesos containerizer reads (names, defaults and help as
/// in Mesos's `slave/flags.cpp`). The agent's flag table includes these and
/// [`fetcher::FLAGS`] (see [`all_flags`]).
pub const FLAGS: &[FlagDef] = &[
    FlagDef::new(
        "isolation",
        Kind::String,
        Some("posix/cpu,posix/mem"),
        "Isolation mechanisms to use, e.g., `posix/cpu,posix/mem` (or\n\
         `windows/cpu,windows/mem` if you are on Windows), or\n\
         `cgroups/cpu,cgroups/mem`, or network/port_mapping\n\
         (configure with flag: `--with-network-isolator` to enable),\n\
         or `gpu/nvidia` for nvidia specific gpu isolation,\n\
         or load an alternate isolator module using the `--modules`\n\
         flag. if `cgroups/all` is specified, any other cgroups related\n\
         isolation options (e.g., `cgroups/cpu`) will be ignored, and all\n\
         the local enabled cgroups subsystems on the agent host will be\n\
         automatically loaded by the cgroups isolator.",
    ),
    FlagDef::new(
        "launcher",
        Kind::String,
        None,
        "The launcher to be used for Mesos containerizer. It could either be\n\
         `linux` or `posix`. The Linux launcher is required for cgroups\n\
         isolation and for any isolators that require Linux namespaces such as\n\
         network, pid, etc. If unspecified, the agent will choose the Linux\n\
         launcher if it's running as root on Linux.",
    ),
    FlagDef::new(
        "cgroups_hierarchy",
        Kind::Path,
        Some(cgroups::DEFAULT_HIERARCHY),
        "The path to the cgroups hierarchy root",
    ),
    FlagDef::new("cgroups_root", Kind::String, Some(cgroups::DEFAULT_ROOT), "Name of the root cgroup"),
    FlagDef::new(
        "cgroups_enable_cfs",
        Kind::Bool,
        Some("false"),
        "Cgroups feature flag to enable hard limits on CPU resources\n\
         via the CFS bandwidth limiting subfeature.",
    ),
    FlagDef::new(
        "cgroups_limit_swap",
        Kind::Bool,
        Some("false"),
        "Cgroups feature flag to enable memory limits on both memory and\n\
         swap instead of just memory.",
    ),
    FlagDef::new(
        "cgroups_destroy_timeout",
        Kind::Duration,
        Some("1mins"),
        "Amount of time allowed to destroy a cgroup hierarchy. If the cgroup\n\
         hierarchy is not destroyed within the timeout, the corresponding\n\
         container destroy is considered failed.",
    ),
    FlagDef::new(
        "switch_user",
        Kind::Bool,
        Some("true"),
        "If set to `true`, the agent will attempt to run tasks as\n\
         the `user` who submitted them (as defined in `FrameworkInfo`)\n\
         (this requires `setuid` permission and that the given `user`\n\
         exists on the agent).\n\
         If the user does not exist, an error occurs and the task will fail.\n\
         If set to `false`, tasks will be run as the same user as the Mesos\n\
         agent process.",
    ),
];

/// [`FLAGS`] and the fetcher's, for an agent's flag table.
pub fn all_flags() -> Vec<FlagDef> {
    FLAGS.iter().chain(fetcher::FLAGS).cloned().collect()
}

/// Which isolators `--isolation` turns on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isolation {
    /// CPU usage from `/proc` (no enforcement).
    pub posix_cpu: bool,
    /// Memory usage from `/proc` (no enforcement).
    pub posix_mem: bool,
    /// cpu shares / weight, CFS quota with `--cgroups_enable_cfs`, cpu usage.
    pub cgroups_cpu: bool,
    /// Memory limits, OOM detection, memory usage.
    pub cgroups_mem: bool,
    /// Isolators Mesos knows that we accept but do not implement.
    pub ignored: Vec<String>,
}

/// Mesos isolator names we accept without implementing them, so operators
/// can keep their `--isolation` flag (each is logged once at start).
const ACCEPTED_UNIMPLEMENTED: &[&str] = &[
    "filesystem/posix",
    "filesystem/linux",
    "filesystem/shared",
    "filesystem/windows",
    "posix/disk",
    "posix/rlimits",
    "disk/du",
    "disk/xfs",
    "docker/runtime",
    "docker/volume",
    "appc/runtime",
    "environment_secret",
    "gpu/nvidia",
    "linux/capabilities",
    "linux/devices",
    "linux/nnp",
    "linux/seccomp",
    "namespaces/ipc",
    "namespaces/pid",
    "network/cni",
    "network/port_mapping",
    "network/ports",
    "volume/csi",
    "volume/host_path",
    "volume/image",
    "volume/sandbox_path",
    "volume/secret",
    "cgroups/blkio",
    "cgroups/cpuset",
    "cgroups/devices",
    "cgroups/hugetlb",
    "cgroups/net_cls",
    "cgroups/net_prio",
    "cgroups/perf_event",
    "cgroups/pids",
];

impl Isolation {
    /// Parses `--isolation` (comma separated). Unknown names are an error,
    /// as in Mesos; `cgroups/all` means every cgroups isolator we have.
    pub fn parse(text: &str) -> Result<Isolation, String> {
        let mut isolation = Isolation::default();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "posix/cpu" | "windows/cpu" => isolation.posix_cpu = true,
                "posix/mem" | "windows/mem" => isolation.posix_mem = true,
                "cgroups/cpu" => isolation.cgroups_cpu = true,
                "cgroups/mem" => isolation.cgroups_mem = true,
                "cgroups/all" => {
                    isolation.cgroups_cpu = true;
                    isolation.cgroups_mem = true;
                }
                other if ACCEPTED_UNIMPLEMENTED.contains(&other) => isolation.ignored.push(other.to_string()),
                other => return Err(format!("Unknown or unsupported isolator '{other}'")),
            }
        }
        Ok(isolation)
    }

    /// Whether any cgroups isolator is on.
    pub fn uses_cgroups(&self) -> bool {
        self.cgroups_cpu || self.cgroups_mem
    }
}

/// How container processes are started and found again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LauncherKind {
    /// Every container gets a cgroup (freezer on v1) holding all its
    /// processes: destroy finds even daemonized grandchildren.
    Linux,
    /// The executor's session and process tree (what `--launcher=posix` does).
    Posix,
}

/// Everything the Mesos containerizer needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct MesosContainerizerConfig {
    pub isolation: Isolation,
    /// `None`: Linux when running as root with cgroups available, else posix.
    pub launcher: Option<LauncherKind>,
    pub cgroups_hierarchy: PathBuf,
    pub cgroups_root: String,
    pub cgroups_enable_cfs: bool,
    pub cgroups_limit_swap: bool,
    pub cgroups_destroy_timeout: Duration,
    /// Run containers as their user when the agent is root.
    pub switch_user: bool,
    pub fetcher: FetcherConfig,
}

impl Default for MesosContainerizerConfig {
    fn default() -> Self {
        MesosContainerizerConfig {
            isolation: Isolation { posix_cpu: true, posix_mem: true, ..Default::default() },
            launcher: None,
            cgroups_hierarchy: PathBuf::from(cgroups::DEFAULT_HIERARCHY),
            cgroups_root: cgroups::DEFAULT_ROOT.to_string(),
            cgroups_enable_cfs: false,
            cgroups_limit_swap: false,
            cgroups_destroy_timeout: Duration::from_secs(60),
            switch_user: true,
            fetcher: FetcherConfig::default(),
        }
    }
}

impl MesosContainerizerConfig {
    /// Reads [`all_flags`] from loaded flags.
    pub fn from_flags(flags: &Flags) -> Result<MesosContainerizerConfig, FlagsError> {
        let isolation = Isolation::parse(&flags.get::<String>("isolation")?).map_err(FlagsError)?;
        let launcher = match flags.opt::<String>("launcher")?.as_deref() {
            None | Some("") => None,
            Some("linux") => Some(LauncherKind::Linux),
            Some("posix") => Some(LauncherKind::Posix),
            Some(other) => return Err(FlagsError(format!("Unknown launcher '{other}'"))),
        };
        Ok(MesosContainerizerConfig {
            isolation,
            launcher,
            cgroups_hierarchy: flags.get("cgroups_hierarchy")?,
            cgroups_root: flags.get("cgroups_root")?,
            cgroups_enable_cfs: flags.get("cgroups_enable_cfs")?,
            cgroups_limit_swap: flags.get("cgroups_limit_swap")?,
            cgroups_destroy_timeout: flags.get("cgroups_destroy_timeout")?,
            switch_user: flags.get("switch_user")?,
            fetcher: FetcherConfig::from_flags(flags)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_names_are_mesos_names() {
        let i = Isolation::parse("cgroups/cpu, cgroups/mem,filesystem/linux,docker/runtime").unwrap();
        assert!(i.cgroups_cpu && i.cgroups_mem && !i.posix_cpu);
        assert_eq!(i.ignored, vec!["filesystem/linux", "docker/runtime"]);
        assert!(Isolation::parse("cgroups/all").unwrap().uses_cgroups());
        assert_eq!(Isolation::parse("posix/cpu,bogus/x").unwrap_err(), "Unknown or unsupported isolator 'bogus/x'");
    }

    #[test]
    fn flags_load_with_mesos_defaults() {
        let env: Vec<(String, String)> = Vec::new();
        let flags =
            Flags::load("mesos-agent", &all_flags(), ["--isolation=cgroups/mem", "--launcher=posix"], env, None)
                .unwrap();
        let config = MesosContainerizerConfig::from_flags(&flags).unwrap();
        assert!(config.isolation.cgroups_mem);
        assert_eq!(config.launcher, Some(LauncherKind::Posix));
        assert_eq!(config.cgroups_root, "mesos");
        assert_eq!(config.fetcher.cache_size, 2 * crate::common::units::Bytes::GB);
        assert_eq!(config.fetcher.stall_timeout, Duration::from_secs(60));
        let bad = Flags::load("mesos-agent", &all_flags(), ["--launcher=docker"], Vec::new(), None).unwrap();
        assert!(MesosContainerizerConfig::from_flags(&bad).is_err());
    }
}
