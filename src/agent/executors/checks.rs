//! Health checks (`TaskInfo.health_check`) and checks (`TaskInfo.check`), as
//! Mesos's `src/checks/` runs them for its executors.
//!
//! - [`Probe`]: what to run (command, HTTP GET, TCP connect) and when
//!   (`delay_seconds` 15, then every `interval_seconds` 10, each attempt cut
//!   at `timeout_seconds` 20: Mesos's defaults, from the protos). A health
//!   check is turned into the same probe, as Mesos's `toCheckInfo` does.
//! - [`HealthState`]: decides what a health result means (pure): failures
//!   within `grace_period_seconds` (10) of the start are ignored until the
//!   first success; each counted failure reports `healthy: false`; the
//!   `consecutive_failures`-th (3) asks for the task to be killed; a success
//!   reports `healthy: true` only the first time and after failures.
//! - [`CheckState`]: a check reports its result only when it changed; a
//!   failed attempt reports the empty result of its type.
//! - [`run_probes`]: the loop performing a probe on schedule (I/O).
//!
//! Differences from Mesos: the HTTP probe is made in-process (Mesos runs
//! `curl -s -S -L -k`; we also follow redirects and skip TLS verification),
//! the TCP probe too (Mesos runs `mesos-tcp-connect`), and probes run in the
//! executor's namespaces (we do not create others).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::agent::containerizer::mesos::{launcher, procfs};
use crate::common::units::format_duration;
use crate::proto::mesos::v1::{
    check_info, check_status_info, health_check, network_info, CheckInfo, CheckStatusInfo, CommandInfo, HealthCheck,
};

/// What a probe is.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    Command(CommandInfo),
    Http { scheme: String, port: u32, path: String, ipv6: bool },
    Tcp { port: u32, ipv6: bool },
}

/// A probe and its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub delay: Duration,
    pub interval: Duration,
    /// `None`: no timeout (`timeout_seconds` 0).
    pub timeout: Option<Duration>,
    /// For logs: "COMMAND health check", "HTTP check", ...
    pub name: String,
}

/// One attempt's outcome: the result, or why there is none.
pub type ProbeResult = Result<CheckStatusInfo, String>;

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("Expecting '{name}' to be non-negative"));
    }
    Ok(Duration::from_secs_f64(value))
}

fn timeout(value: f64) -> Result<Option<Duration>, String> {
    let timeout = seconds("timeout_seconds", value)?;
    Ok((!timeout.is_zero()).then_some(timeout))
}

fn command_probe(command: Option<&CommandInfo>, what: &str) -> Result<ProbeKind, String> {
    let command = command.ok_or_else(|| format!("Expecting 'command' to be set for COMMAND {what}"))?;
    if command.value.as_deref().unwrap_or_default().is_empty() {
        return Err(format!("Command {what} must contain 'shell command'"));
    }
    Ok(ProbeKind::Command(command.clone()))
}

fn http_path(path: Option<&str>, what: &str) -> Result<String, String> {
    let path = path.unwrap_or_default();
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!("The path '{path}' of HTTP {what} must start with '/'"));
    }
    Ok(path.to_string())
}

impl Probe {
    /// Validates a health check (Mesos's `validateHealthCheck`) into a probe.
    pub fn from_health_check(check: &HealthCheck) -> Result<Probe, String> {
        let what = "health check";
        let kind = match check.r#type() {
            health_check::Type::Unknown => return Err("HealthCheck must specify 'type'".into()),
            health_check::Type::Command => command_probe(check.command.as_ref(), what)?,
            health_check::Type::Http => {
                let http = check.http.as_ref().ok_or("Expecting 'http' to be set for HTTP health check")?;
                let scheme = http.scheme.clone().unwrap_or_else(|| "http".into());
                if scheme != "http" && scheme != "https" {
                    return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                }
                ProbeKind::Http {
                    scheme,
                    port: http.port,
                    path: http_path(http.path.as_deref(), what)?,
                    ipv6: http.protocol() == network_info::Protocol::IPv6,
                }
            }
            health_check::Type::Tcp => {
                let tcp = check.tcp.as_ref().ok_or("Expecting 'tcp' to be set for TCP health check")?;
                ProbeKind::Tcp { port: tcp.port, ipv6: tcp.protocol() == network_info::Protocol::IPv6 }
            }
        };
        seconds("grace_period_seconds", check.grace_period_seconds())?;
        Ok(Probe {
            name: format!("{} health check", check.r#type().as_str_name()),
            kind,
            delay: seconds("delay_seconds", check.delay_seconds())?,
            interval: seconds("interval_seconds", check.interval_seconds())?,
            timeout: timeout(check.timeout_seconds())?,
        })
    }

    /// Validates a check (Mesos's `validateCheckInfo`) into a probe.
    pub fn from_check(check: &CheckInfo) -> Result<Probe, String> {
        let what = "check";
        let kind = match check.r#type() {
            check_info::Type::Unknown => return Err("CheckInfo must specify 'type'".into()),
            check_info::Type::Command => {
                let command = check.command.as_ref().ok_or("Expecting 'command' to be set for COMMAND check")?;
                command_probe(Some(&command.command), what)?
            }
            check_info::Type::Http => {
                let http = check.http.as_ref().ok_or("Expecting 'http' to be set for HTTP check")?;
                ProbeKind::Http {
                    scheme: "http".into(),
                    port: http.port,
                    path: http_path(http.path.as_deref(), what)?,
                    ipv6: false,
                }
            }
            check_info::Type::Tcp => {
                let tcp = check.tcp.as_ref().ok_or("Expecting 'tcp' to be set for TCP check")?;
                ProbeKind::Tcp { port: tcp.port, ipv6: false }
            }
        };
        Ok(Probe {
            name: format!("{} check", check.r#type().as_str_name()),
            kind,
            delay: seconds("delay_seconds", check.delay_seconds())?,
            interval: seconds("interval_seconds", check.interval_seconds())?,
            timeout: timeout(check.timeout_seconds())?,
        })
    }

    pub fn check_type(&self) -> check_info::Type {
        match self.kind {
            ProbeKind::Command(_) => check_info::Type::Command,
            ProbeKind::Http { .. } => check_info::Type::Http,
            ProbeKind::Tcp { .. } => check_info::Type::Tcp,
        }
    }
}

/// The result of a check that has none yet (every status of a task with a
/// check carries one).
pub fn empty_check_status(kind: check_info::Type) -> CheckStatusInfo {
    let mut status = CheckStatusInfo { r#type: Some(kind as i32), ..Default::default() };
    match kind {
        check_info::Type::Command => status.command = Some(Default::default()),
        check_info::Type::Http => status.http = Some(Default::default()),
        check_info::Type::Tcp => status.tcp = Some(Default::default()),
        check_info::Type::Unknown => {}
    }
    status
}

/// Whether a result means healthy (Mesos's `interpretCheckStatusInfo`).
pub fn interpret(result: &ProbeResult) -> Result<(), String> {
    let status = result.as_ref().map_err(Clone::clone)?;
    if let Some(command) = &status.command {
        let code = command.exit_code.unwrap_or(0);
        if code != 0 {
            return Err(format!("Command exited with status {code}"));
        }
    }
    if let Some(http) = &status.http {
        let code = http.status_code.unwrap_or(0);
        if !(200..400).contains(&code) {
            let reason = http::StatusCode::from_u16(code as u16).ok().and_then(|c| c.canonical_reason()).unwrap_or("");
            return Err(format!("Unexpected HTTP response code: {code} {reason}").trim_end().to_string());
        }
    }
    if let Some(tcp) = &status.tcp {
        if !tcp.succeeded.unwrap_or(false) {
            return Err("TCP connection failed".into());
        }
    }
    Ok(())
}

/// What a health result changes (Mesos's `TaskHealthStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthUpdate {
    pub healthy: bool,
    /// Failures in a row (0 when healthy).
    pub consecutive_failures: u32,
    /// The limit was reached: kill the task.
    pub kill_task: bool,
}

/// A task's health (see the module docs).
#[derive(Debug, Clone)]
pub struct HealthState {
    limit: u32,
    grace: Duration,
    started: Instant,
    initializing: bool,
    failures: u32,
}

impl HealthState {
    pub fn new(check: &HealthCheck, now: Instant) -> HealthState {
        let grace = check.grace_period_seconds();
        HealthState {
            limit: check.consecutive_failures(),
            grace: if grace.is_finite() && grace > 0.0 { Duration::from_secs_f64(grace) } else { Duration::ZERO },
            started: now,
            initializing: true,
            failures: 0,
        }
    }

    /// The update to send for a result, if any.
    pub fn on_result(&mut self, now: Instant, result: &ProbeResult) -> Option<HealthUpdate> {
        match interpret(result) {
            Err(why) => {
                if self.initializing && !self.grace.is_zero() && now.duration_since(self.started) <= self.grace {
                    tracing::info!("Ignoring failure of health check: still in grace period ({why})");
                    return None;
                }
                self.failures += 1;
                tracing::warn!("Health check failed {} times consecutively: {why}", self.failures);
                Some(HealthUpdate {
                    healthy: false,
                    consecutive_failures: self.failures,
                    kill_task: self.failures >= self.limit,
                })
            }
            Ok(()) => {
                let update = (self.initializing || self.failures > 0).then_some(HealthUpdate {
                    healthy: true,
                    consecutive_failures: 0,
                    kill_task: false,
                });
                self.initializing = false;
                self.failures = 0;
                update
            }
        }
    }
}

/// A task's check (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckState {
    previous: CheckStatusInfo,
}

impl CheckState {
    pub fn new(kind: check_info::Type) -> CheckState {
        CheckState { previous: empty_check_status(kind) }
    }

    /// The new check status, if it differs from the last one reported.
    pub fn on_result(&mut self, result: ProbeResult) -> Option<CheckStatusInfo> {
        let kind = check_info::Type::try_from(self.previous.r#type.unwrap_or(0)).unwrap_or(check_info::Type::Unknown);
        let status = result.unwrap_or_else(|why| {
            tracing::warn!("Check failed: {why}");
            empty_check_status(kind)
        });
        if status == self.previous {
            return None;
        }
        self.previous = status;
        Some(status)
    }
}

/// Starts a task's health check and check (either may be absent) on their
/// schedules, reporting each result to the executor's state machine as
/// `Input::Health` / `Input::Check`. Aborting the handle stops both.
pub fn spawn_task_probes(
    inputs: tokio::sync::mpsc::UnboundedSender<super::core::Input>,
    task_id: String,
    health: Option<Probe>,
    check: Option<Probe>,
    environment: BTreeMap<String, String>,
) -> tokio::task::JoinHandle<()> {
    use super::core::Input;
    tokio::spawn(async move {
        let health = async {
            if let Some(probe) = health {
                let report = |result| {
                    let _ = inputs.send(Input::Health { task_id: task_id.clone(), result });
                };
                run_probes(probe, environment.clone(), report).await;
            }
        };
        let check = async {
            if let Some(probe) = check {
                let report = |result| {
                    let _ = inputs.send(Input::Check { task_id: task_id.clone(), result });
                };
                run_probes(probe, environment.clone(), report).await;
            }
        };
        tokio::join!(health, check);
    })
}

/// Runs `probe` on its schedule until the task is dropped, calling `report`
/// with each result. `environment` is the command probe's base environment.
pub async fn run_probes(probe: Probe, environment: BTreeMap<String, String>, report: impl Fn(ProbeResult)) {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build();
    tokio::time::sleep(probe.delay).await;
    loop {
        let result = match &http {
            Ok(client) => probe_once(&probe, &environment, client).await,
            Err(e) => Err(format!("Failed to create the HTTP client: {e}")),
        };
        report(result);
        tokio::time::sleep(probe.interval).await;
    }
}

/// One attempt of a probe.
pub async fn probe_once(probe: &Probe, environment: &BTreeMap<String, String>, http: &reqwest::Client) -> ProbeResult {
    let limit = probe.timeout.unwrap_or(Duration::from_secs(u32::MAX as u64));
    match &probe.kind {
        ProbeKind::Command(command) => command_once(command, environment, limit).await,
        ProbeKind::Http { scheme, port, path, ipv6 } => {
            let host = if *ipv6 { "[::1]" } else { "127.0.0.1" };
            let url = format!("{scheme}://{host}:{port}{path}");
            match tokio::time::timeout(limit, http.get(&url).send()).await {
                Err(_) => Err(format!("HTTP request to '{url}' timed out after {}", format_duration(limit))),
                Ok(Err(e)) => Err(format!("HTTP request to '{url}' failed: {e}")),
                Ok(Ok(response)) => Ok(CheckStatusInfo {
                    r#type: Some(check_info::Type::Http as i32),
                    http: Some(check_status_info::Http { status_code: Some(response.status().as_u16() as u32) }),
                    ..Default::default()
                }),
            }
        }
        ProbeKind::Tcp { port, ipv6 } => {
            let address = if *ipv6 { format!("[::1]:{port}") } else { format!("127.0.0.1:{port}") };
            match tokio::time::timeout(limit, tokio::net::TcpStream::connect(&address)).await {
                Err(_) => Err(format!("TCP connection to '{address}' timed out after {}", format_duration(limit))),
                Ok(connected) => Ok(CheckStatusInfo {
                    r#type: Some(check_info::Type::Tcp as i32),
                    tcp: Some(check_status_info::Tcp { succeeded: Some(connected.is_ok()) }),
                    ..Default::default()
                }),
            }
        }
    }
}

async fn command_once(command: &CommandInfo, environment: &BTreeMap<String, String>, limit: Duration) -> ProbeResult {
    let command_v0: crate::proto::mesos::CommandInfo = super::devolve(command);
    let (program, argv0, args) = launcher::command_line(&command_v0)?;
    let environment = launcher::merge_environment(environment, command_v0.environment.as_ref());
    let stderr = || {
        use std::os::fd::AsFd;
        std::io::stderr().as_fd().try_clone_to_owned().map(Stdio::from).unwrap_or_else(|_| Stdio::null())
    };
    let mut child = tokio::process::Command::new(&program)
        .arg0(argv0)
        .args(args)
        .env_clear()
        .envs(&environment)
        .stdin(Stdio::null())
        .stdout(stderr())
        .stderr(stderr())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("Failed to create subprocess: {e}"))?;
    let pid = child.id().map(|p| p as i32);
    match tokio::time::timeout(limit, child.wait()).await {
        Err(_) => {
            if let Some(pid) = pid {
                procfs::killtree(pid, Signal::SIGKILL, procfs::TreeScope { groups: true, sessions: false });
            }
            let _ = child.wait().await;
            Err(format!("Command timed out after {}", format_duration(limit)))
        }
        Ok(Err(e)) => Err(format!("Failed to reap the command process: {e}")),
        Ok(Ok(status)) => match status.code() {
            Some(code) => Ok(CheckStatusInfo {
                r#type: Some(check_info::Type::Command as i32),
                command: Some(check_status_info::Command { exit_code: Some(code) }),
                ..Default::default()
            }),
            None => Err(format!("Command {}", procfs::wstringify(procfs::raw_status(status)))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(kind: health_check::Type) -> HealthCheck {
        HealthCheck { r#type: Some(kind as i32), ..Default::default() }
    }

    fn command_result(code: i32) -> ProbeResult {
        Ok(CheckStatusInfo {
            r#type: Some(check_info::Type::Command as i32),
            command: Some(check_status_info::Command { exit_code: Some(code) }),
            ..Default::default()
        })
    }

    #[test]
    fn mesos_defaults_and_validation() {
        let mut check = health(health_check::Type::Command);
        assert_eq!(
            Probe::from_health_check(&check).unwrap_err(),
            "Expecting 'command' to be set for COMMAND health check"
        );
        check.command = Some(CommandInfo { value: Some("true".into()), ..Default::default() });
        let probe = Probe::from_health_check(&check).unwrap();
        assert_eq!(
            (probe.delay, probe.interval, probe.timeout),
            (Duration::from_secs(15), Duration::from_secs(10), Some(Duration::from_secs(20)))
        );
        assert_eq!(probe.name, "COMMAND health check");
        check.delay_seconds = Some(-1.0);
        assert_eq!(Probe::from_health_check(&check).unwrap_err(), "Expecting 'delay_seconds' to be non-negative");
        assert!(Probe::from_health_check(&HealthCheck::default()).is_err());
        let mut http = health(health_check::Type::Http);
        http.http = Some(health_check::HttpCheckInfo { port: 80, path: Some("x".into()), ..Default::default() });
        assert!(Probe::from_health_check(&http).unwrap_err().contains("must start with '/'"));
        let state = HealthState::new(&check, Instant::now());
        assert_eq!((state.limit, state.grace), (3, Duration::from_secs(10)));
    }

    #[test]
    fn health_follows_mesos_semantics() {
        let mut check = health(health_check::Type::Command);
        check.grace_period_seconds = Some(10.0);
        check.consecutive_failures = Some(2);
        let t0 = Instant::now();
        let mut state = HealthState::new(&check, t0);
        // Failures in the grace period, before any success, are ignored.
        assert_eq!(state.on_result(t0 + Duration::from_secs(5), &command_result(1)), None);
        // The first success is reported, later ones are not.
        let healthy = Some(HealthUpdate { healthy: true, consecutive_failures: 0, kill_task: false });
        assert_eq!(state.on_result(t0 + Duration::from_secs(6), &command_result(0)), healthy);
        assert_eq!(state.on_result(t0 + Duration::from_secs(7), &command_result(0)), None);
        // Once initialized, failures count even within the grace period.
        assert_eq!(
            state.on_result(t0 + Duration::from_secs(8), &Err("timed out".into())),
            Some(HealthUpdate { healthy: false, consecutive_failures: 1, kill_task: false })
        );
        assert_eq!(state.on_result(t0 + Duration::from_secs(9), &command_result(0)), healthy);
        state.on_result(t0 + Duration::from_secs(10), &command_result(3));
        assert_eq!(
            state.on_result(t0 + Duration::from_secs(11), &command_result(3)),
            Some(HealthUpdate { healthy: false, consecutive_failures: 2, kill_task: true })
        );
    }

    #[test]
    fn checks_report_changes_only() {
        let mut state = CheckState::new(check_info::Type::Command);
        assert_eq!(state.on_result(Err("timeout".into())), None, "empty, as before");
        assert_eq!(state.on_result(command_result(0)), command_result(0).ok());
        assert_eq!(state.on_result(command_result(0)), None);
        assert_eq!(state.on_result(command_result(1)), command_result(1).ok());
        assert_eq!(state.on_result(Err("x".into())), Some(empty_check_status(check_info::Type::Command)));
    }

    #[test]
    fn interpretation() {
        let http = |code| {
            Ok(CheckStatusInfo {
                http: Some(check_status_info::Http { status_code: Some(code) }),
                ..Default::default()
            })
        };
        assert!(interpret(&http(200)).is_ok() && interpret(&http(302)).is_ok());
        assert_eq!(interpret(&http(503)).unwrap_err(), "Unexpected HTTP response code: 503 Service Unavailable");
        assert_eq!(interpret(&command_result(2)).unwrap_err(), "Command exited with status 2");
    }

    #[tokio::test]
    async fn probes_run_commands_and_connect() {
        let client = reqwest::Client::new();
        let env = BTreeMap::from([("X".to_string(), "7".to_string())]);
        let probe = |kind| Probe {
            kind,
            delay: Duration::ZERO,
            interval: Duration::ZERO,
            timeout: Some(Duration::from_secs(30)),
            name: "t".into(),
        };
        let cmd = |v: &str| ProbeKind::Command(CommandInfo { value: Some(v.into()), ..Default::default() });
        assert_eq!(probe_once(&probe(cmd("exit $X")), &env, &client).await, command_result(7));
        let mut slow = probe(cmd("sleep 600"));
        slow.timeout = Some(Duration::from_millis(100));
        assert_eq!(probe_once(&slow, &env, &client).await.unwrap_err(), "Command timed out after 100ms");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port() as u32;
        let tcp = probe_once(&probe(ProbeKind::Tcp { port, ipv6: false }), &env, &client).await.unwrap();
        assert_eq!(tcp.tcp.unwrap().succeeded, Some(true));
        drop(listener);
        let tcp = probe_once(&probe(ProbeKind::Tcp { port, ipv6: false }), &env, &client).await.unwrap();
        assert_eq!(tcp.tcp.unwrap().succeeded, Some(false));
    }
}
