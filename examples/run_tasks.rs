//! A small framework on the Rust scheduler driver: runs N shell commands as
//! tasks on a Mesos cluster, then stops. Useful as a smoke test of a cluster
//! (ours or Apache's).
//!
//! ```text
//! cargo run --example run_tasks -- --master=127.0.0.1:5050 --tasks=5 \
//!     --command='echo hello from $MESOS_TASK_ID' [--cpus=0.1] [--mem=32] \
//!     [--role=*] [--name=run-tasks] [--principal=p --secret=s]
//! ```
//! `--master` takes anything the driver does (`host:port`,
//! `master@host:port`, `zk://...`, `file://...`). Prints one line per status
//! update; exits 0 once every task finished, 1 if any ended otherwise or the
//! driver aborted.

use std::collections::HashMap;

use anyhow::{bail, Context as _};
use mesos_rs::driver::command_tasks::{self, Spec};
use mesos_rs::proto::mesos::Credential;

fn parse_options() -> anyhow::Result<Spec> {
    let mut flags: HashMap<String, String> = HashMap::new();
    for arg in std::env::args().skip(1) {
        let Some(rest) = arg.strip_prefix("--") else { bail!("unexpected argument '{arg}'") };
        let (name, value) = rest.split_once('=').with_context(|| format!("--{rest} needs a value"))?;
        flags.insert(name.to_string(), value.to_string());
    }
    let get = |name: &str, default: &str| flags.get(name).cloned().unwrap_or_else(|| default.to_string());
    let credential = match (flags.get("principal"), flags.get("secret")) {
        (Some(principal), secret) => Some(Credential { principal: principal.clone(), secret: secret.cloned() }),
        (None, _) => None,
    };
    Ok(Spec {
        master: flags.get("master").cloned().context("--master is required")?,
        tasks: get("tasks", "1").parse().context("--tasks")?,
        command: get("command", "echo hello"),
        cpus: get("cpus", "0.1").parse().context("--cpus")?,
        mem: get("mem", "32").parse().context("--mem")?,
        role: get("role", "*"),
        name: get("name", "run-tasks"),
        credential,
    })
}

fn main() -> anyhow::Result<()> {
    let spec = parse_options()?;
    let outcome = command_tasks::run(spec.clone(), |line| println!("{line}"));
    println!(
        "driver ended {}: {}/{} finished, {} failed",
        outcome.driver.map(|s| s.as_str_name()).unwrap_or("?"),
        outcome.finished,
        spec.tasks,
        outcome.failed
    );
    if outcome.success(&spec) {
        Ok(())
    } else {
        std::process::exit(1)
    }
}
