//! A master contender and nothing else, for interop tests
//! (`compat-tests/tests/test_zk.py`): contends in ZooKeeper as a mesos-rs
//! master would, so that third-party tools can be pointed at the group.
//!
//! Flags (Mesos's names; `MESOS_*` environment variables work too):
//! `--zk` (`zk://...` or `file://...`, required), `--zk_session_timeout`
//! (default 10secs), `--ip` (default 127.0.0.1) and `--port` (default 5050)
//! of the master it pretends to be, `--hostname` (default: the IP), `--id`
//! (default: a random UUID).
//!
//! Reports on stdout, one JSON object per line:
//! - `{"event":"info","json":TEXT}`: the MasterInfo JSON it will write;
//! - `{"event":"joined","path":PATH,"sequence":N}`;
//! - `{"event":"elected"}`, `{"event":"following","leader":NAME}`;
//! - `{"event":"disconnected"}`, `{"event":"reconnected"}`;
//! - `{"event":"lost","was_leader":BOOL,"reason":TEXT}`, after which it exits
//!   with status 1 if it was leading (as a Mesos master does) and 0 otherwise;
//! - `{"event":"withdrawn","removed":BOOL}` on SIGTERM or SIGINT, after which
//!   it exits 0.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use mesos_rs::common::flags::{FlagDef, Flags, Kind};
use mesos_rs::v0_compat::Upid;
use mesos_rs::zookeeper::contender::{ContenderEvent, LostReason, MasterContender};
use mesos_rs::zookeeper::master_info;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};

const FLAGS: &[FlagDef] = &[
    FlagDef::new("zk", Kind::String, None, "ZooKeeper URL (zk:// or file://)").required(),
    FlagDef::new("zk_session_timeout", Kind::Duration, Some("10secs"), "ZooKeeper session timeout"),
    FlagDef::new("ip", Kind::String, Some("127.0.0.1"), "IP of the master advertised"),
    FlagDef::new("port", Kind::Uint, Some("5050"), "Port of the master advertised"),
    FlagDef::new("hostname", Kind::String, None, "Hostname advertised (default: the IP)"),
    FlagDef::new("id", Kind::String, None, "MasterInfo.id (default: a random UUID)"),
];

fn emit(line: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let flags = Flags::from_env("zk_contend", FLAGS)?;
    let ip: String = flags.get("ip")?;
    let port: u64 = flags.get("port")?;
    let addr: SocketAddr = format!("{ip}:{port}").parse().context("--ip/--port")?;
    let hostname: String = flags.opt("hostname")?.unwrap_or_else(|| ip.clone());
    let id: String = flags.opt("id")?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let info = master_info::for_master(&id, &Upid::new("master", addr), &hostname);
    let timeout: Duration = flags.get("zk_session_timeout")?;
    let zk: String = flags.get("zk")?;

    let contender = MasterContender::create(Some(&zk), Some(timeout))?;
    emit(json!({"event": "info", "json": master_info::to_json(&info)}));
    let mut candidacy = contender.contend(&info);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            event = candidacy.next() => match event {
                Some(ContenderEvent::Joined { path, sequence }) => {
                    emit(json!({"event": "joined", "path": path, "sequence": sequence}))
                }
                Some(ContenderEvent::Elected) => emit(json!({"event": "elected"})),
                Some(ContenderEvent::Following { leader }) => emit(json!({"event": "following", "leader": leader})),
                Some(ContenderEvent::Disconnected) => emit(json!({"event": "disconnected"})),
                Some(ContenderEvent::Reconnected) => emit(json!({"event": "reconnected"})),
                Some(ContenderEvent::Lost { was_leader, reason }) => {
                    let reason = match reason {
                        LostReason::SessionExpired => "session expired".to_string(),
                        LostReason::Deleted => "znode deleted".to_string(),
                        LostReason::Failed(e) => e.to_string(),
                    };
                    emit(json!({"event": "lost", "was_leader": was_leader, "reason": reason}));
                    std::process::exit(if was_leader { 1 } else { 0 });
                }
                None => anyhow::bail!("the candidacy ended without a word"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    let removed = candidacy.withdraw().await?;
    emit(json!({"event": "withdrawn", "removed": removed}));
    Ok(())
}
