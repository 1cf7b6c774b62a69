//! `mesos-agent` (also installed as `mesos-slave`): flags, wiring, and the
//! agent's driver. See `mesos_rs::agent`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use mesos_rs::agent::containerizer::composing::{ComposingContainerizer, Member};
use mesos_rs::agent::containerizer::docker::{DockerConfig, DockerContainerizer};
use mesos_rs::agent::containerizer::mesos::{MesosContainerizer, MesosContainerizerConfig};
use mesos_rs::agent::containerizer::Containerizer;
use mesos_rs::agent::core::{Agent, AgentConfig, Event, ReconfigurationPolicy, RecoverMode, MESOS_VERSION};
use mesos_rs::agent::resources::{agent_resources, parse_attributes, HostFacts};
use mesos_rs::agent::runtime::{recover_state, Clock, Driver};
use mesos_rs::agent::{detector, flags, state};
use mesos_rs::common::flags::Flags;
use mesos_rs::common::logging;
use mesos_rs::http_api::agent::state::StateContext;
use mesos_rs::http_api::agent::AgentHttp;
use mesos_rs::http_api::json;
use mesos_rs::proto::mesos::slave_info::{capability::Type as CapabilityType, Capability};
use mesos_rs::proto::mesos::{ContainerInfo, DomainInfo};
use mesos_rs::v0_compat::{serve, Config, Node};

/// `AGENT_CAPABILITIES()`: what a Mesos 1.11 agent advertises by default.
const DEFAULT_CAPABILITIES: &[CapabilityType] = &[
    CapabilityType::HierarchicalRole,
    CapabilityType::MultiRole,
    CapabilityType::ReservationRefinement,
    CapabilityType::ResourceProvider,
    CapabilityType::ResizeVolume,
    CapabilityType::AgentOperationFeedback,
    CapabilityType::AgentDraining,
    CapabilityType::TaskResourceLimits,
];

pub fn run() -> ExitCode {
    let program = std::env::args()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "mesos-agent".into());
    let defs = flags::all();
    let flags = match Flags::from_env(&program, &defs) {
        Ok(flags) => flags,
        Err(e) => {
            // `--help` and `--version` win over load errors, as in stout.
            let args: Vec<String> = std::env::args().collect();
            if args.iter().any(|a| a == "--help") {
                println!("{}", mesos_rs::common::flags::usage(&program, &defs));
                return ExitCode::SUCCESS;
            }
            if args.iter().any(|a| a == "--version") {
                println!("mesos {MESOS_VERSION}");
                return ExitCode::SUCCESS;
            }
            eprintln!("{e}\n\nSee `{program} --help` for a list of supported flags.");
            return ExitCode::FAILURE;
        }
    };
    if flags.help {
        println!("{}", flags.usage());
        return ExitCode::SUCCESS;
    }
    if flags.get::<bool>("version").unwrap_or(false) {
        println!("mesos {MESOS_VERSION}");
        return ExitCode::SUCCESS;
    }
    let logging = match logging::init(&program, &flags) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &flags.warnings {
        tracing::warn!("{warning}");
    }
    match start(flags, logging) {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(dead_code)]
fn main() -> ExitCode {
    run()
}

fn json_flag<T: prost_reflect::ReflectMessage + Default + prost::Message>(
    flags: &Flags,
    name: &str,
) -> Result<Option<T>> {
    match flags.opt::<String>(name)? {
        None => Ok(None),
        Some(text) => Ok(Some(json::from_str::<T>(&text).map_err(|e| anyhow!("Failed to load flag '{name}': {e}"))?)),
    }
}

fn executor_path(launcher_dir: &Path, name: &str) -> Result<PathBuf, String> {
    std::fs::canonicalize(launcher_dir.join(name)).map_err(|e| e.to_string())
}

fn start(flags: Flags, logging: logging::Logging) -> Result<i32> {
    let logging = Arc::new(logging);
    let accepted = flags::accepted_only(&flags);
    if !accepted.is_empty() {
        tracing::warn!("These flags are accepted but have no effect yet: {}", accepted.join(", "));
    }
    let master = match (flags.opt::<String>("master")?, flags.opt::<String>("master_detector")?) {
        (None, None) => bail!("Missing required option `--master` or `--master_detector`"),
        (Some(_), Some(_)) => bail!("Only one of `--master` or `--master_detector` should be specified"),
        (None, Some(_)) => bail!("Master detector modules (`--master_detector`) are not supported"),
        (Some(master), None) => master,
    };
    // A ZooKeeper detector starts following its group on the runtime.
    let runtime = tokio::runtime::Runtime::new()?;
    let zk_session_timeout = flags.get::<Duration>("zk_session_timeout")?;
    let detector: Arc<dyn detector::MasterDetector> = {
        let _context = runtime.enter();
        Arc::from(detector::create(&master, zk_session_timeout).map_err(|e| anyhow!(e))?)
    };

    // libprocess's address, from the flags as Mesos's main sets them.
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    if flags.is_set("ip_discovery_command") && flags.is_set("ip") {
        bail!("Only one of `--ip` or `--ip_discovery_command` should be specified");
    }
    if let Some(command) = flags.opt::<String>("ip_discovery_command")? {
        let output = std::process::Command::new("sh").arg("-c").arg(&command).output()?;
        if !output.status.success() {
            bail!("Failed to execute '{command}': {}", String::from_utf8_lossy(&output.stderr));
        }
        env.insert("LIBPROCESS_IP".into(), String::from_utf8_lossy(&output.stdout).trim().to_string());
    } else if let Some(ip) = flags.opt::<String>("ip")? {
        env.insert("LIBPROCESS_IP".into(), ip);
    }
    env.insert("LIBPROCESS_PORT".into(), flags.get::<u16>("port")?.to_string());
    if let Some(ip) = flags.opt::<String>("advertise_ip")? {
        env.insert("LIBPROCESS_ADVERTISE_IP".into(), ip);
    }
    if let Some(port) = flags.opt::<String>("advertise_port")? {
        env.insert("LIBPROCESS_ADVERTISE_PORT".into(), port);
    }
    let libprocess = Config::from_lookup(|k| env.get(k).cloned())?;

    let work_dir = flags.get::<PathBuf>("work_dir")?;
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("Failed to create agent work directory '{}'", work_dir.display()))?;
    let work_dir = std::fs::canonicalize(&work_dir)?;

    let default_role = flags.get::<String>("default_role")?;
    let facts = HostFacts::detect(&work_dir);
    let resources = agent_resources(flags.opt::<String>("resources")?.as_deref(), &default_role, &facts)
        .map_err(|e| anyhow!("Failed to determine agent resources: {e}"))?;
    let attributes = match flags.opt::<String>("attributes")? {
        Some(text) => parse_attributes(&text).map_err(|e| anyhow!(e))?,
        None => Vec::new(),
    };
    let capabilities: Vec<Capability> = match flags.opt::<String>("agent_features")? {
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            json::list_from_value::<Capability>(value.get("capabilities").unwrap_or(&serde_json::json!([])))
                .map_err(|e| anyhow!("Failed to load flag 'agent_features': {e}"))?
        }
        None => DEFAULT_CAPABILITIES.iter().map(|t| Capability { r#type: Some(*t as i32) }).collect(),
    };
    let domain = json_flag::<DomainInfo>(&flags, "domain")?;
    let default_container_info = json_flag::<ContainerInfo>(&flags, "default_container_info")?;
    let mut executor_environment = BTreeMap::new();
    if let Some(value) = flags.opt::<serde_json::Value>("executor_environment_variables")? {
        let object =
            value.as_object().ok_or_else(|| anyhow!("`executor_environment_variables` must be a JSON object"))?;
        for (k, v) in object {
            let v = v
                .as_str()
                .ok_or_else(|| anyhow!("`executor_environment_variables` must only contain string values"))?;
            executor_environment.insert(k.clone(), v.to_string());
        }
    }
    let recover = match flags.get::<String>("recover")?.as_str() {
        "reconnect" => RecoverMode::Reconnect,
        "cleanup" => RecoverMode::Cleanup,
        other => bail!(
            "Unknown option for 'recover' flag {other}. Please run the agent with '--help' to see the valid options"
        ),
    };
    let reconfiguration_policy = match flags.get::<String>("reconfiguration_policy")?.as_str() {
        "equal" => ReconfigurationPolicy::Equal,
        "additive" => ReconfigurationPolicy::Additive,
        other => bail!(
            "Unknown option for 'reconfiguration_policy' flag {other}. Please run the agent with '--help' to see the valid options."
        ),
    };
    let registration_backoff_factor = flags.get::<Duration>("registration_backoff_factor")?;
    if registration_backoff_factor > Duration::from_secs(60) {
        bail!("Invalid value '{registration_backoff_factor:?}' for --registration_backoff_factor: Must be less than 1mins");
    }
    let reregistration_timeout = flags.get::<Duration>("executor_reregistration_timeout")?;
    if reregistration_timeout > Duration::from_secs(15) {
        bail!("Expected `--executor_reregistration_timeout` to be not more than 15secs");
    }
    let launcher_dir = match flags.opt::<PathBuf>("launcher_dir")? {
        Some(dir) => dir,
        None => std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
    };
    let containerizers = flags.get::<String>("containerizers")?;
    let names: Vec<&str> = containerizers.split(',').map(str::trim).collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    if unique.len() != names.len() {
        bail!("Duplicate entries found in --containerizer flag '{containerizers}'");
    }
    for name in &names {
        if !matches!(*name, "mesos" | "docker") {
            bail!("Unknown or unsupported containerizer: {name}");
        }
    }
    let containerizer_config = MesosContainerizerConfig::from_flags(&flags)?;
    let switch_user = containerizer_config.switch_user;
    let mut members = Vec::new();
    for name in &names {
        let member = if *name == "mesos" {
            let mesos = MesosContainerizer::new(containerizer_config.clone())
                .map_err(|e| anyhow!("Could not create MesosContainerizer: {e}"))?;
            Member { name: "mesos", containerizer: Arc::new(mesos), claims: |c| !DockerContainerizer::claims(c) }
        } else {
            let docker = DockerContainerizer::new(DockerConfig::from_flags(&flags, &launcher_dir)?);
            Member { name: "docker", containerizer: Arc::new(docker), claims: DockerContainerizer::claims }
        };
        members.push(member);
    }
    let containerizer: Arc<dyn Containerizer> = if members.len() == 1 {
        members.remove(0).containerizer
    } else {
        Arc::new(ComposingContainerizer::new(members))
    };

    runtime.block_on(async move {
        let (listener, advertised) = libprocess.bind().await?;
        let hostname = match flags.opt::<String>("hostname")? {
            Some(h) => h,
            None if flags.get::<bool>("hostname_lookup")? => logging::hostname(),
            None => advertised.ip().to_string(),
        };
        let node = Node::new(advertised, libprocess.options());
        let process = node.spawn("slave(1)")?;
        let pid = process.pid().clone();
        tracing::info!("Mesos agent started on {}", pid.to_string().trim_start_matches("slave(1)@"));
        if advertised.ip().is_loopback() {
            tracing::warn!("Agent bound to loopback interface! Cannot communicate with remote master(s).");
        }
        let clock = Clock::new();
        let boot_id = state::boot_id();
        let strict = flags.get::<bool>("strict")?;
        let seed = clock.now().0.as_nanos() as u64 ^ u64::from(std::process::id());
        let config = AgentConfig {
            work_dir: work_dir.clone(),
            pid: pid.clone(),
            hostname,
            resources,
            attributes,
            domain,
            capabilities,
            recover,
            strict,
            reconfiguration_policy,
            registration_backoff_factor,
            executor_registration_timeout: flags.get("executor_registration_timeout")?,
            executor_reregistration_timeout: reregistration_timeout,
            executor_reregistration_retry_interval: flags.opt("executor_reregistration_retry_interval")?,
            executor_shutdown_grace_period: flags.get("executor_shutdown_grace_period")?,
            recovery_timeout: flags.get("recovery_timeout")?,
            gc_delay: flags.get("gc_delay")?,
            switch_user,
            executor_environment,
            libprocess_ip: env.get("LIBPROCESS_IP").cloned(),
            http_command_executor: flags.get("http_command_executor")?,
            launcher_dir: launcher_dir.display().to_string(),
            command_executor: executor_path(&launcher_dir, "mesos-executor"),
            default_executor: executor_path(&launcher_dir, "mesos-default-executor"),
            default_container_info,
            max_completed_executors_per_framework: flags.get("max_completed_executors_per_framework")?,
            containerizers: containerizers.clone(),
            boot_id: boot_id.clone(),
            seed,
        };
        tracing::info!(
            "Agent resources: {}",
            json::to_string(&mesos_rs::proto::mesos::SlaveInfo {
                resources: config.resources.clone(),
                ..Default::default()
            })
        );
        let agent = Agent::new(config, clock.now());
        let first = tokio::task::spawn_blocking(move || recover_state(&work_dir, strict, boot_id.as_deref())).await?;
        let (driver, handle) = Driver::new(agent, clock, process, containerizer.clone(), detector);

        let build_time = std::fs::metadata(std::env::current_exe()?)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let context = StateContext {
            flags: flags.effective(),
            log_dir: flags.opt::<String>("log_dir")?,
            external_log_file: flags.opt::<String>("external_log_file")?,
            master_hostname: None,
            build_date: String::new(),
            build_time,
            build_user: String::new(),
        };
        let http = AgentHttp {
            handle: handle.clone(),
            containerizer,
            clock,
            id: "slave(1)".into(),
            context: Arc::new(context),
            log_file: logging.log_file.clone(),
            work_dir: flags.get::<PathBuf>("work_dir")?,
            logging: Some(logging.clone()),
        };
        let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, node.clone(), http.router(), async {
            let _ = serving_stopped.await;
        }));

        // SIGTERM/SIGINT stop the agent and leave executors running (they
        // wait for it to come back); SIGUSR1 shuts everything down.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let signals_handle = handle.clone();
        tokio::spawn(async move {
            if usr1.recv().await.is_some() {
                signals_handle.event(Event::ShutdownRequested("Received SIGUSR1 signal".into()));
            }
        });
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("Received SIGTERM; stopping (executors keep running)"),
                _ = int.recv() => tracing::info!("Received SIGINT; stopping (executors keep running)"),
            }
        };
        let (status, message) = driver.run(first, stop).await;
        if status == 0 {
            tracing::info!("{message}");
        } else {
            tracing::error!("{message}");
            eprintln!("{message}");
        }
        let _ = stop_serving.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        Ok::<i32, anyhow::Error>(status)
    })
}
