//! What an executor learns from its environment: the contract between the
//! agent that launches `mesos-executor` / `mesos-default-executor` and the
//! executor (Mesos's `src/executor/executor.cpp` and the executors' `main`).
//!
//! | variable | meaning | if absent |
//! |---|---|---|
//! | `MESOS_FRAMEWORK_ID`, `MESOS_EXECUTOR_ID` | who we are | error |
//! | `MESOS_SLAVE_PID` | `slave(1)@ip:port`: API at `http://ip:port/slave(1)/api/v1/executor` | `MESOS_AGENT_ENDPOINT` |
//! | `MESOS_AGENT_ENDPOINT` | `ip:port`: API at `http://ip:port/api/v1/executor` | error if neither |
//! | `MESOS_SANDBOX` (else `MESOS_DIRECTORY`) | the sandbox | the working directory |
//! | `MESOS_CHECKPOINT` | `1`: survive agent restarts (resubscribe) | no: exit on disconnection |
//! | `MESOS_RECOVERY_TIMEOUT` | how long to wait for a restarted agent | 15mins |
//! | `MESOS_SUBSCRIPTION_BACKOFF_MAX` | reconnection backoff bound | 2secs |
//! | `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` | time from SHUTDOWN to forced exit | 5secs |
//! | `MESOS_EXECUTOR_AUTHENTICATION_TOKEN` | sent as `Authorization: Bearer ...`; hidden from tasks | none |
//!
//! Mesos's library insists on `MESOS_SLAVE_PID` and on the durations; we
//! default what can be defaulted so an agent that only sets
//! `MESOS_AGENT_ENDPOINT` works too. `MESOS_HTTP_COMMAND_EXECUTOR` is
//! ignored: our executors always speak the v1 HTTP API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::common::units::parse_duration;
use crate::proto::mesos::v1::{ExecutorId, FrameworkId};

/// Variables that are the executor's business only and are not passed on
/// to the tasks it runs.
pub const PRIVATE_VARIABLES: &[&str] = &["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"];

/// Wire format of calls and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Protobuf,
    Json,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Protobuf => "application/x-protobuf",
            ContentType::Json => "application/json",
        }
    }
}

/// Why the environment is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// The agent's executor API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEndpoint {
    /// `host:port` to connect to.
    pub address: String,
    /// The request path, e.g. `/slave(1)/api/v1/executor`.
    pub path: String,
}

impl AgentEndpoint {
    pub fn url(&self) -> String {
        format!("http://{}{}", self.address, self.path)
    }
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub endpoint: AgentEndpoint,
    pub sandbox: PathBuf,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
    pub authentication_token: Option<String>,
    /// The whole environment, for the tasks (minus [`PRIVATE_VARIABLES`]).
    pub variables: BTreeMap<String, String>,
}

pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

impl ExecutorEnv {
    /// This process's environment.
    pub fn from_process() -> Result<ExecutorEnv, EnvError> {
        ExecutorEnv::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<ExecutorEnv, EnvError> {
        let variables: BTreeMap<String, String> = vars.into_iter().collect();
        let get = |name: &str| variables.get(name).filter(|v| !v.is_empty()).cloned();
        let required =
            |name: &str| get(name).ok_or_else(|| EnvError(format!("Expecting '{name}' to be set in the environment")));
        let duration = |name: &str, default: Duration| match get(name) {
            None => Ok(default),
            Some(text) => {
                parse_duration(&text).map_err(|e| EnvError(format!("Failed to parse value '{text}' of '{name}': {e}")))
            }
        };
        let endpoint = match (get("MESOS_SLAVE_PID"), get("MESOS_AGENT_ENDPOINT")) {
            (Some(pid), _) => parse_upid(&pid)?,
            (None, Some(address)) => AgentEndpoint { address, path: "/api/v1/executor".into() },
            (None, None) => {
                return Err(EnvError(
                    "Expecting 'MESOS_SLAVE_PID' or 'MESOS_AGENT_ENDPOINT' to be set in the environment".into(),
                ))
            }
        };
        let sandbox = get("MESOS_SANDBOX")
            .or_else(|| get("MESOS_DIRECTORY"))
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut variables = variables.clone();
        let authentication_token = variables.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN").cloned();
        for private in PRIVATE_VARIABLES {
            variables.remove(*private);
        }
        Ok(ExecutorEnv {
            framework_id: FrameworkId { value: required("MESOS_FRAMEWORK_ID")? },
            executor_id: ExecutorId { value: required("MESOS_EXECUTOR_ID")? },
            endpoint,
            sandbox,
            checkpoint: get("MESOS_CHECKPOINT").as_deref() == Some("1"),
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", DEFAULT_SUBSCRIPTION_BACKOFF_MAX)?,
            shutdown_grace_period: duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", DEFAULT_SHUTDOWN_GRACE_PERIOD)?,
            authentication_token,
            variables,
        })
    }
}

/// `id@host:port` (libprocess UPID) -> the executor API under `/id`.
fn parse_upid(text: &str) -> Result<AgentEndpoint, EnvError> {
    let bad = || EnvError(format!("Failed to parse MESOS_SLAVE_PID '{text}'"));
    let (id, address) = text.split_once('@').ok_or_else(bad)?;
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if id.is_empty() || host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(AgentEndpoint { address: address.to_string(), path: format!("/{id}/api/v1/executor") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<ExecutorEnv, EnvError> {
        ExecutorEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn the_agent_pid_gives_the_endpoint() {
        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_SLAVE_PID", "slave(1)@10.0.0.1:5051"),
            ("MESOS_SANDBOX", "/sb"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "1mins"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "secret"),
        ])
        .unwrap();
        assert_eq!(e.endpoint.url(), "http://10.0.0.1:5051/slave(1)/api/v1/executor");
        assert_eq!(e.sandbox, PathBuf::from("/sb"));
        assert!(e.checkpoint);
        assert_eq!(e.recovery_timeout, Duration::from_secs(60));
        assert_eq!(e.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
        assert_eq!(e.authentication_token.as_deref(), Some("secret"));
        assert!(!e.variables.contains_key("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
        assert_eq!(e.variables["MESOS_SANDBOX"], "/sb");
    }

    #[test]
    fn the_endpoint_alone_works_and_errors_name_the_variable() {
        let e = env(&[
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ])
        .unwrap();
        assert_eq!(e.endpoint.url(), "http://127.0.0.1:5051/api/v1/executor");
        assert!(!e.checkpoint);
        assert_eq!(
            env(&[("MESOS_EXECUTOR_ID", "ex")]).unwrap_err().0,
            "Expecting 'MESOS_SLAVE_PID' or 'MESOS_AGENT_ENDPOINT' to be set in the environment"
        );
        assert_eq!(
            env(&[("MESOS_EXECUTOR_ID", "ex"), ("MESOS_AGENT_ENDPOINT", "h:1")]).unwrap_err().0,
            "Expecting 'MESOS_FRAMEWORK_ID' to be set in the environment"
        );
        assert!(
            env(&[("MESOS_FRAMEWORK_ID", "f"), ("MESOS_EXECUTOR_ID", "e"), ("MESOS_SLAVE_PID", "garbage")]).is_err()
        );
        let bad = env(&[
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_AGENT_ENDPOINT", "h:1"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5"),
        ]);
        assert!(bad.unwrap_err().0.starts_with("Failed to parse value '5' of 'MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD'"));
    }
}
