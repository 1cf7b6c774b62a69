//! What the drivers read from `MESOS_*` environment variables, as Apache's
//! drivers load their flags (`flags.load("MESOS_")`): the scheduler driver's
//! own flags (`src/sched/flags.hpp`) and the logging flags both drivers take.
//! Unknown `MESOS_*` variables are ignored; a known one with a bad value makes
//! the driver abort with the flags library's message.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::flags::{FlagDef, Flags, FlagsError, Kind};
use crate::common::logging;

/// The default (and, in mesos-rs, only) authenticatee.
pub const DEFAULT_AUTHENTICATEE: &str = "crammd5";

/// The ceiling of the registration backoff (`REGISTRATION_RETRY_INTERVAL_MAX`).
pub const REGISTRATION_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);

const SCHEDULER_FLAGS: &[FlagDef] = &[
    FlagDef::new(
        "registration_backoff_factor",
        Kind::Duration,
        Some("2secs"),
        "Scheduler driver (re-)registration retries are exponentially backed off based on 'b', the \
         registration backoff factor (1st retry within [0, b], 2nd within [0, b * 2^1], ...) up to \
         the smaller of (framework failover timeout / 10) and 1mins",
    ),
    FlagDef::new("modules", Kind::Json, None, "List of modules to be loaded (not supported by mesos-rs)."),
    FlagDef::new("modules_dir", Kind::Path, None, "Directory of module manifests (not supported by mesos-rs)."),
    FlagDef::new(
        "authenticatee",
        Kind::String,
        Some(DEFAULT_AUTHENTICATEE),
        "Authenticatee implementation to use when authenticating against the master.",
    ),
    FlagDef::new(
        "authentication_backoff_factor",
        Kind::Duration,
        Some("1secs"),
        "Authentication timeouts are chosen within [min, min + factor*2^n] after n failed attempts.",
    ),
    FlagDef::new(
        "authentication_timeout_min",
        Kind::Duration,
        Some("5secs"),
        "The minimum time the scheduler waits before retrying authentication.",
    )
    .aliases(&["authentication_timeout"]),
    FlagDef::new(
        "authentication_timeout_max",
        Kind::Duration,
        Some("1mins"),
        "The maximum time the scheduler waits before retrying authentication.",
    ),
];

/// The scheduler driver's flags (`internal::scheduler::Flags`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerFlags {
    pub registration_backoff_factor: Duration,
    pub authenticatee: String,
    pub authentication_backoff_factor: Duration,
    pub authentication_timeout_min: Duration,
    pub authentication_timeout_max: Duration,
    /// Whether `MESOS_MODULES` or `MESOS_MODULES_DIR` was given.
    pub modules: bool,
}

impl Default for SchedulerFlags {
    fn default() -> Self {
        SchedulerFlags {
            registration_backoff_factor: Duration::from_secs(2),
            authenticatee: DEFAULT_AUTHENTICATEE.to_string(),
            authentication_backoff_factor: Duration::from_secs(1),
            authentication_timeout_min: Duration::from_secs(5),
            authentication_timeout_max: Duration::from_secs(60),
            modules: false,
        }
    }
}

fn load(defs: &[&[FlagDef]], env: &HashMap<String, String>) -> Result<Flags, FlagsError> {
    let defs: Vec<FlagDef> = defs.iter().flat_map(|d| d.iter().cloned()).collect();
    let env = env.iter().map(|(k, v)| (k.clone(), v.clone()));
    Flags::load("mesos", &defs, std::iter::empty::<&str>(), env, Some("MESOS_"))
}

impl SchedulerFlags {
    /// Loads the flags from `MESOS_*` entries of `env`.
    pub fn load(env: &HashMap<String, String>) -> Result<SchedulerFlags, FlagsError> {
        let flags = load(&[SCHEDULER_FLAGS, logging::FLAGS], env)?;
        for warning in &flags.warnings {
            tracing::warn!("{warning}");
        }
        if flags.is_set("modules") && flags.is_set("modules_dir") {
            return Err(FlagsError("Only one of MESOS_MODULES or MESOS_MODULES_DIR should be specified".into()));
        }
        Ok(SchedulerFlags {
            registration_backoff_factor: flags.get("registration_backoff_factor")?,
            authenticatee: flags.get("authenticatee")?,
            authentication_backoff_factor: flags.get("authentication_backoff_factor")?,
            authentication_timeout_min: flags.get("authentication_timeout_min")?,
            authentication_timeout_max: flags.get("authentication_timeout_max")?,
            modules: flags.is_set("modules") || flags.is_set("modules_dir"),
        })
    }
}

/// Loads the logging flags from `env` and, if `MESOS_INITIALIZE_DRIVER_LOGGING`
/// (default true) allows, installs the process's log subscriber the first
/// time a driver does (as Apache's drivers initialize glog). A subscriber the
/// application installed first is left alone.
pub fn initialize_logging(env: &HashMap<String, String>) -> Result<(), FlagsError> {
    let flags = load(&[logging::FLAGS], env)?;
    if flags.get::<bool>("initialize_driver_logging")? {
        logging::init("mesos", &flags).map_err(FlagsError)?;
    } else {
        tracing::debug!("Disabling initialization of GLOG logging");
    }
    for warning in &flags.warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// The process environment as a map (what the drivers read by default).
pub fn process_environment() -> HashMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_apaches() {
        assert_eq!(SchedulerFlags::load(&env(&[])).unwrap(), SchedulerFlags::default());
    }

    #[test]
    fn mesos_variables_override_and_aliases_work() {
        let f = SchedulerFlags::load(&env(&[
            ("MESOS_REGISTRATION_BACKOFF_FACTOR", "10ms"),
            ("MESOS_AUTHENTICATION_TIMEOUT", "3secs"),
            ("MESOS_AUTHENTICATION_BACKOFF_FACTOR", "2secs"),
            ("MESOS_UNRELATED_FLAG", "whatever"),
            ("OTHER", "x"),
        ]))
        .unwrap();
        assert_eq!(f.registration_backoff_factor, Duration::from_millis(10));
        assert_eq!(f.authentication_timeout_min, Duration::from_secs(3));
        assert_eq!(f.authentication_backoff_factor, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_errors() {
        let e = SchedulerFlags::load(&env(&[("MESOS_REGISTRATION_BACKOFF_FACTOR", "soon")])).unwrap_err();
        assert!(e.0.contains("registration_backoff_factor"), "{e}");
        let e = SchedulerFlags::load(&env(&[("MESOS_QUIET", "maybe")])).unwrap_err();
        assert!(e.0.contains("quiet"), "{e}");
        let e = SchedulerFlags::load(&env(&[("MESOS_MODULES", "{}"), ("MESOS_MODULES_DIR", "/x")])).unwrap_err();
        assert_eq!(e.0, "Only one of MESOS_MODULES or MESOS_MODULES_DIR should be specified");
    }
}
