//! The `MESOS_*` environment an agent gives a v0 executor, read as Apache's
//! `MesosExecutorDriver::start` reads it.
//!
//! | variable | meaning |
//! |---|---|
//! | `MESOS_LOCAL` | present: a test cluster in one process (no self-kill on shutdown) |
//! | `MESOS_SLAVE_PID` | the agent's UPID (required) |
//! | `MESOS_SLAVE_ID` | the agent's id (required) |
//! | `MESOS_FRAMEWORK_ID` | required |
//! | `MESOS_EXECUTOR_ID` | required |
//! | `MESOS_DIRECTORY` | the sandbox (required) |
//! | `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` | time between `shutdown` and the kill (default 5secs; agents < 0.28 do not set it) |
//! | `MESOS_CHECKPOINT` | `1`: the framework checkpoints, so wait for a restarting agent |
//! | `MESOS_RECOVERY_TIMEOUT` | how long to wait for it (read only with checkpointing; default 15mins) |

use std::collections::HashMap;
use std::time::Duration;

use crate::common::units::parse_duration;
use crate::proto::mesos::{ExecutorId, FrameworkId, SlaveId};
use crate::v0_compat::Upid;

/// Apache's `DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
pub const DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Apache's `RECOVERY_TIMEOUT`.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why the environment is not an executor's (texts as Apache's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    #[error("Expecting '{0}' to be set in the environment")]
    Missing(&'static str),
    #[error("Cannot parse MESOS_SLAVE_PID '{0}'")]
    SlavePid(String),
    #[error("Failed to parse value '{value}' of '{var}': {reason}")]
    Duration { var: &'static str, value: String, reason: String },
}

/// What the agent told the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub local: bool,
    pub slave_pid: Upid,
    pub slave_id: SlaveId,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub directory: String,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub shutdown_grace_period: Duration,
}

impl Environment {
    /// Reads `env` (resolving a host name in `MESOS_SLAVE_PID`).
    pub fn from_map(env: &HashMap<String, String>) -> Result<Environment, EnvironmentError> {
        let required = |var: &'static str| env.get(var).cloned().ok_or(EnvironmentError::Missing(var));
        let duration = |var: &'static str, default: Duration| match env.get(var) {
            None => Ok(default),
            Some(value) => {
                parse_duration(value).map_err(|e| EnvironmentError::Duration { var, value: value.clone(), reason: e.0 })
            }
        };
        let local = env.contains_key("MESOS_LOCAL");
        let pid = required("MESOS_SLAVE_PID")?;
        let slave_pid = Upid::resolve_blocking(&pid).map_err(|_| EnvironmentError::SlavePid(pid.clone()))?;
        let slave_id = SlaveId { value: required("MESOS_SLAVE_ID")? };
        let framework_id = FrameworkId { value: required("MESOS_FRAMEWORK_ID")? };
        let executor_id = ExecutorId { value: required("MESOS_EXECUTOR_ID")? };
        let directory = required("MESOS_DIRECTORY")?;
        let shutdown_grace_period =
            duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD)?;
        let checkpoint = env.get("MESOS_CHECKPOINT").is_some_and(|v| v == "1");
        let recovery_timeout = if checkpoint {
            duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?
        } else {
            DEFAULT_RECOVERY_TIMEOUT
        };
        Ok(Environment {
            local,
            slave_pid,
            slave_id,
            framework_id,
            executor_id,
            directory,
            checkpoint,
            recovery_timeout,
            shutdown_grace_period,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
        ("MESOS_SLAVE_ID", "S1"),
        ("MESOS_FRAMEWORK_ID", "F1"),
        ("MESOS_EXECUTOR_ID", "E1"),
        ("MESOS_DIRECTORY", "/sandbox"),
    ];

    #[test]
    fn reads_the_agents_variables_with_apaches_defaults() {
        let e = Environment::from_map(&env(BASE)).unwrap();
        assert_eq!(e.slave_pid.to_string(), "slave(1)@127.0.0.1:5051");
        assert_eq!((e.slave_id.value.as_str(), e.framework_id.value.as_str()), ("S1", "F1"));
        assert_eq!((e.executor_id.value.as_str(), e.directory.as_str()), ("E1", "/sandbox"));
        assert!(!e.local && !e.checkpoint);
        assert_eq!(e.shutdown_grace_period, DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD);
        assert_eq!(e.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
    }

    #[test]
    fn checkpointing_enables_the_recovery_timeout() {
        let mut vars = env(BASE);
        vars.insert("MESOS_RECOVERY_TIMEOUT".into(), "3secs".into());
        assert_eq!(Environment::from_map(&vars).unwrap().recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        vars.insert("MESOS_CHECKPOINT".into(), "1".into());
        vars.insert("MESOS_LOCAL".into(), "".into());
        vars.insert("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(), "250ms".into());
        let e = Environment::from_map(&vars).unwrap();
        assert!(e.checkpoint && e.local);
        assert_eq!(e.recovery_timeout, Duration::from_secs(3));
        assert_eq!(e.shutdown_grace_period, Duration::from_millis(250));
        vars.insert("MESOS_CHECKPOINT".into(), "true".into()); // only "1" counts
        assert!(!Environment::from_map(&vars).unwrap().checkpoint);
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        for (i, (var, _)) in BASE.iter().enumerate() {
            let mut vars = env(BASE);
            vars.remove(*var);
            assert_eq!(Environment::from_map(&vars), Err(EnvironmentError::Missing(BASE[i].0)));
        }
        let mut vars = env(BASE);
        vars.insert("MESOS_SLAVE_PID".into(), "nonsense".into());
        assert_eq!(Environment::from_map(&vars), Err(EnvironmentError::SlavePid("nonsense".into())));
        let mut vars = env(BASE);
        vars.insert("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(), "soon".into());
        assert!(matches!(Environment::from_map(&vars), Err(EnvironmentError::Duration { .. })));
    }
}
