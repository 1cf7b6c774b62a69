//! `mesos-local`: a one-machine cluster on embedded defaults, like Apache
//! Mesos's `mesos-local`. Starts one `mesos-master` (in-memory registry, no
//! ZooKeeper) and one `mesos-agent` from this binary's directory, waits until
//! the agent is registered, runs a sample command task through the Rust
//! scheduler driver, prints the task's output and where to look, and keeps the
//! cluster up until Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mesos_rs::common::flags::{FlagDef, Flags, Kind};
use mesos_rs::driver::command_tasks::{self, Spec};
use serde_json::Value;

const FLAGS: &[FlagDef] = &[
    FlagDef::new("ip", Kind::String, Some("127.0.0.1"), "IP address the master and agent listen on."),
    FlagDef::new("port", Kind::Uint, Some("5050"), "Port of the master."),
    FlagDef::new("agent_port", Kind::Uint, Some("5051"), "Port of the agent."),
    FlagDef::new(
        "work_dir",
        Kind::Path,
        None,
        "Where the master and agent keep their state, sandboxes and logs\n(default: <temp dir>/mesos-local-<uid>).",
    ),
    FlagDef::new("resources", Kind::String, None, "The agent's --resources (default: detected)."),
    FlagDef::new(
        "command",
        Kind::String,
        Some("echo \"Hello from mesos-rs: task $MESOS_EXECUTOR_ID on $(hostname)\"; uname -sr"),
        "The sample task's shell command.",
    ),
    FlagDef::new("tasks", Kind::Uint, Some("1"), "How many sample tasks to run."),
];

/// The child daemons; killed (TERM, then KILL) when dropped.
struct Daemons {
    children: Vec<(&'static str, Child)>,
}

impl Daemons {
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited early ({status}); see its log");
            }
        }
        Ok(())
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, child) in &mut self.children {
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(name: &'static str, binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {} (build it with `cargo build --bins`)", binary.display()))
        .inspect(|_| println!("started {name}: {} {}", binary.display(), args.join(" ")))
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// The sandbox directory of the executor that ran `framework_id`'s task,
/// from the agent's `/state`.
fn sandbox_of(state: &Value, framework_id: &str) -> Option<PathBuf> {
    let frameworks = ["frameworks", "completed_frameworks"].iter().filter_map(|k| state[k].as_array()).flatten();
    for fw in frameworks.filter(|f| f["id"] == framework_id) {
        for key in ["executors", "completed_executors"] {
            if let Some(dir) = fw[key].as_array().and_then(|e| e.first()).and_then(|e| e["directory"].as_str()) {
                return Some(PathBuf::from(dir));
            }
        }
    }
    None
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env("mesos-local", FLAGS)?;
    if flags.help {
        print!("{}", flags.usage());
        return Ok(());
    }
    let ip: String = flags.get("ip")?;
    let port: u16 = flags.get("port")?;
    let agent_port: u16 = flags.get("agent_port")?;
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let work_dir: PathBuf =
        flags.opt::<PathBuf>("work_dir")?.unwrap_or_else(|| std::env::temp_dir().join(format!("mesos-local-{uid}")));
    let bin_dir = std::env::current_exe()?.parent().context("locating this binary's directory")?.to_path_buf();
    std::fs::create_dir_all(&work_dir)?;

    let master_args = vec![
        format!("--ip={ip}"),
        format!("--port={port}"),
        "--registry=in_memory".to_string(),
        format!("--work_dir={}", work_dir.join("master").display()),
        format!("--log_dir={}", work_dir.join("logs").display()),
    ];
    let mut agent_args = vec![
        format!("--master={ip}:{port}"),
        format!("--ip={ip}"),
        format!("--port={agent_port}"),
        format!("--work_dir={}", work_dir.join("agent").display()),
        format!("--launcher_dir={}", bin_dir.display()),
        format!("--log_dir={}", work_dir.join("logs").display()),
    ];
    if let Some(resources) = flags.opt::<String>("resources")? {
        agent_args.push(format!("--resources={resources}"));
    }

    let mut daemons = Daemons { children: Vec::new() };
    let master_log = work_dir.join("mesos-master.log");
    let agent_log = work_dir.join("mesos-agent.log");
    daemons
        .children
        .push(("mesos-master", spawn("mesos-master", &bin_dir.join("mesos-master"), &master_args, &master_log)?));
    daemons
        .children
        .push(("mesos-agent", spawn("mesos-agent", &bin_dir.join("mesos-agent"), &agent_args, &agent_log)?));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let master_url = format!("http://{ip}:{port}");
    let agent_url = format!("http://{ip}:{agent_port}");

    // Wait for the agent to be registered with the master.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        daemons.check_alive()?;
        let slaves = runtime.block_on(get_json(&client, &format!("{master_url}/master/slaves")));
        if slaves.as_ref().and_then(|s| s["slaves"].as_array()).is_some_and(|a| !a.is_empty()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the agent did not register within 60s; see {} and {}", master_log.display(), agent_log.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("agent registered with the master at {master_url}");

    let spec = Spec {
        master: format!("{ip}:{port}"),
        tasks: flags.get("tasks")?,
        command: flags.get("command")?,
        name: "mesos-local sample".into(),
        ..Spec::default()
    };
    // The daemons log to files; keep the in-process driver's log off the
    // terminal unless the user asked for it.
    if std::env::var_os("MESOS_QUIET").is_none() && std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("MESOS_QUIET", "true");
    }
    let outcome = command_tasks::run(spec.clone(), |line| println!("  {line}"));
    if let Some(fid) = &outcome.framework_id {
        let state = runtime.block_on(get_json(&client, &format!("{agent_url}/state")));
        if let Some(dir) = state.as_ref().and_then(|s| sandbox_of(s, &fid.value)) {
            let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
            println!("task output ({}):", dir.join("stdout").display());
            for line in stdout.lines() {
                println!("  | {line}");
            }
        }
    }
    if !outcome.success(&spec) {
        eprintln!("the sample task did not finish: {} finished, {} failed", outcome.finished, outcome.failed);
    }

    println!();
    println!("The cluster keeps running. Look around:");
    println!("  master state     {master_url}/master/state");
    println!("  master metrics   {master_url}/metrics/snapshot");
    println!("  agent state      {agent_url}/state");
    println!("  sandboxes        {agent_url}/files/debug");
    println!("  logs             {}", work_dir.display());
    println!("  run a framework  --master={ip}:{port}");
    println!("Press Ctrl-C to stop.");

    let stopped = runtime.block_on(async {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok::<bool, anyhow::Error>(true),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if let Err(e) = daemons.check_alive() {
                eprintln!("{e}");
                return Ok(false);
            }
        }
    })?;
    println!("stopping the cluster");
    drop(daemons);
    if stopped {
        Ok(())
    } else {
        std::process::exit(1)
    }
}
