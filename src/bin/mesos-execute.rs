//! `mesos-execute`: runs one command (or one task group, on the default
//! executor) as a framework over the v1 scheduler API, printing what
//! happens, as Apache's `src/cli/execute.cpp` does. Exits 0 when the task
//! (every task of the group) ends TASK_FINISHED, 1 otherwise.
//!
//! Flags are Mesos's (`--master`, `--name`, `--command`, `--resources`,
//! `--task`, `--task_group`, `--env`, `--shell`, `--docker_image`,
//! `--appc_image`, `--containerizer`, `--role`, `--checkpoint`,
//! `--kill_after`, `--networks`, `--principal`, `--content_type`,
//! `--partition_aware`, `--framework_capabilities`, `--tty`), also read
//! from `MESOS_*` variables.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use mesos_rs::common::flags::{FlagDef, Flags, Kind};
use mesos_rs::driver::v1::{resolve_master, Client, Format, Subscription};
use mesos_rs::http_api::json as pbjson;
use mesos_rs::proto::mesos::v1::scheduler::{call, event::Type as EventType, Call, Event};
use mesos_rs::proto::mesos::v1::{
    container_info, executor_info, framework_info, image, offer, resource, AgentId, CommandInfo, ContainerInfo,
    Environment, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Image, Offer, Resource, TaskGroupInfo, TaskId,
    TaskInfo, TaskState, TaskStatus,
};

const FLAGS: &[FlagDef] = &[
    FlagDef::new("master", Kind::String, None, "Mesos master (e.g., IP:PORT, or a zk:// URL)."),
    FlagDef::new("task", Kind::String, None, "A JSON TaskInfo (or a path to one); `agent_id` need not be set."),
    FlagDef::new(
        "task_group",
        Kind::String,
        None,
        "A JSON TaskGroupInfo (or a path to one), run on the default executor.",
    ),
    FlagDef::new("name", Kind::String, None, "Name for the command."),
    FlagDef::new("shell", Kind::Bool, Some("true"), "Whether the command is run by a shell."),
    FlagDef::new("command", Kind::String, None, "Command to launch."),
    FlagDef::new("env", Kind::String, None, "Environment variables for the command, as a JSON object."),
    FlagDef::new("resources", Kind::String, Some("cpus:1;mem:128"), "Resources for the command."),
    FlagDef::new("hadoop", Kind::String, Some("hadoop"), "Path to 'hadoop' script (used for copying packages)."),
    FlagDef::new("hdfs", Kind::String, Some("localhost:9000"), "The ip:port of the NameNode service."),
    FlagDef::new("package", Kind::String, None, "Package to upload into HDFS (not supported by mesos-rs)."),
    FlagDef::new("overwrite", Kind::Bool, Some("false"), "Overwrite the package in HDFS if it already exists."),
    FlagDef::new("checkpoint", Kind::Bool, Some("false"), "Enable checkpointing for the framework."),
    FlagDef::new("appc_image", Kind::String, None, "Appc image name."),
    FlagDef::new("docker_image", Kind::String, None, "Docker image that follows the Docker CLI naming <image>:<tag>."),
    FlagDef::new("framework_capabilities", Kind::String, None, "Comma-separated optional framework capabilities."),
    FlagDef::new("containerizer", Kind::String, Some("mesos"), "Containerizer to be used (i.e., docker, mesos)."),
    FlagDef::new("effective_capabilities", Kind::String, None, "JSON CapabilityInfo of effective capabilities."),
    FlagDef::new("bounding_capabilities", Kind::String, None, "JSON CapabilityInfo of the bounding set."),
    FlagDef::new("rlimits", Kind::String, None, "JSON RLimitInfo for the command."),
    FlagDef::new("role", Kind::String, Some("*"), "Role to use when registering."),
    FlagDef::new("kill_after", Kind::Duration, None, "Kill the task this long after it is running."),
    FlagDef::new("networks", Kind::String, None, "Comma-separated list of networks the container joins."),
    FlagDef::new("principal", Kind::String, None, "The principal to use for framework authentication."),
    FlagDef::new("secret", Kind::String, None, "The secret to use for framework authentication."),
    FlagDef::new("volumes", Kind::String, None, "JSON array of Volumes (or a path to one)."),
    FlagDef::new("content_type", Kind::String, Some("protobuf"), "'json' or 'protobuf' for scheduler messages."),
    FlagDef::new("tty", Kind::Bool, Some("false"), "Attach a TTY to the task being launched."),
    FlagDef::new("partition_aware", Kind::Bool, Some("true"), "Enable partition-awareness for the framework."),
];

/// A JSON flag value, or the file it names (`file://` is already read by
/// the flags loader; a bare absolute path is read here, as Mesos does).
fn json_flag(text: &str) -> anyhow::Result<serde_json::Value> {
    let text = if text.starts_with('/') {
        std::fs::read_to_string(text).with_context(|| format!("Failed to read '{text}'"))?
    } else {
        text.to_string()
    };
    serde_json::from_str(&text).context("Failed to parse JSON")
}

fn parse_json<M: prost_reflect::ReflectMessage + Default>(flag: &str, text: &str) -> anyhow::Result<M> {
    let value = json_flag(text).with_context(|| format!("Failed to load flag '{flag}'"))?;
    pbjson::from_value::<M>(&value).map_err(|e| anyhow!("Failed to load flag '{flag}': {e}"))
}

/// v0 → v1 by bytes (the field numbers are the same).
fn to_v1<A: prost::Message, B: prost::Message + Default>(a: &A) -> B {
    B::decode(a.encode_to_vec().as_slice()).unwrap_or_default()
}

fn scalar_resources(text: &str) -> anyhow::Result<Vec<Resource>> {
    let v0 = mesos_rs::common::resources::parse::from_string(text, "*")
        .map_err(|e| anyhow!("Failed to parse resources '{text}': {e}"))?;
    Ok(v0.iter().map(to_v1).collect())
}

/// `getContainerInfo`.
fn container_info(flags: &Flags) -> anyhow::Result<Option<ContainerInfo>> {
    let containerizer: String = flags.get("containerizer")?;
    if containerizer.is_empty() {
        return Ok(None);
    }
    let docker_image: Option<String> = flags.opt("docker_image")?;
    let appc_image: Option<String> = flags.opt("appc_image")?;
    let networks: Vec<String> = flags
        .opt::<String>("networks")?
        .map(|n| n.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let tty: bool = flags.get("tty")?;
    let mut info = ContainerInfo::default();
    if let Some(volumes) = flags.opt::<String>("volumes")? {
        let value = json_flag(&volumes)?;
        for v in value.as_array().ok_or_else(|| anyhow!("Failed to convert '--volumes' to protobuf: not an array"))? {
            info.volumes
                .push(pbjson::from_value(v).map_err(|e| anyhow!("Failed to convert '--volumes' to protobuf: {e}"))?);
        }
    }
    match containerizer.as_str() {
        "mesos" => {
            let plain = !tty
                && appc_image.is_none()
                && docker_image.is_none()
                && !flags.is_set("effective_capabilities")
                && !flags.is_set("bounding_capabilities")
                && !flags.is_set("rlimits")
                && networks.is_empty()
                && info.volumes.is_empty();
            if plain {
                return Ok(None);
            }
            info.set_type(container_info::Type::Mesos);
            if let Some(name) = docker_image {
                let mut image =
                    Image { docker: Some(image::Docker { name, ..Default::default() }), ..Default::default() };
                image.set_type(image::Type::Docker);
                info.mesos = Some(container_info::MesosInfo { image: Some(image) });
            } else if let Some(name) = appc_image {
                let label =
                    |k: &str, v: &str| mesos_rs::proto::mesos::v1::Label { key: k.into(), value: Some(v.into()) };
                let labels =
                    mesos_rs::proto::mesos::v1::Labels { labels: vec![label("os", "linux"), label("arch", "amd64")] };
                let mut image = Image {
                    appc: Some(image::Appc { name, labels: Some(labels), ..Default::default() }),
                    ..Default::default()
                };
                image.set_type(image::Type::Appc);
                info.mesos = Some(container_info::MesosInfo { image: Some(image) });
            }
            for name in networks {
                info.network_infos
                    .push(mesos_rs::proto::mesos::v1::NetworkInfo { name: Some(name), ..Default::default() });
            }
            if let Some(text) = flags.opt::<String>("effective_capabilities")? {
                info.linux_info.get_or_insert_with(Default::default).effective_capabilities =
                    Some(parse_json("effective_capabilities", &text)?);
            }
            if let Some(text) = flags.opt::<String>("bounding_capabilities")? {
                info.linux_info.get_or_insert_with(Default::default).bounding_capabilities =
                    Some(parse_json("bounding_capabilities", &text)?);
            }
            if let Some(text) = flags.opt::<String>("rlimits")? {
                info.rlimit_info = Some(parse_json("rlimits", &text)?);
            }
            if tty {
                info.tty_info = Some(Default::default());
            }
            Ok(Some(info))
        }
        "docker" => {
            let Some(image) = docker_image else { bail!("'Docker' containerizer requires docker image name") };
            info.set_type(container_info::Type::Docker);
            let mut docker = container_info::DockerInfo { image, ..Default::default() };
            if networks.len() > 1 {
                bail!("'Docker' containerizer can only support a single network");
            }
            if let Some(name) = networks.into_iter().next() {
                docker.set_network(container_info::docker_info::Network::User);
                info.network_infos
                    .push(mesos_rs::proto::mesos::v1::NetworkInfo { name: Some(name), ..Default::default() });
            }
            info.docker = Some(docker);
            if tty {
                bail!("'Docker' containerizer does not allow attaching a TTY");
            }
            Ok(Some(info))
        }
        other => bail!("Unsupported containerizer: {other}"),
    }
}

/// What to launch.
enum Work {
    Task(Box<TaskInfo>),
    Group(TaskGroupInfo),
}

struct Config {
    master: String,
    framework: FrameworkInfo,
    work: Work,
    /// `--role` (the framework subscribes with the single-role field, as
    /// Mesos's mesos-execute does).
    role: String,
    /// `--principal` and `--secret`, sent as HTTP basic credentials.
    credential: Option<(String, String)>,
    kill_after: Option<Duration>,
    format: Format,
}

fn config(flags: &Flags) -> anyhow::Result<Config> {
    let master: String = flags.opt("master")?.ok_or_else(|| anyhow!("Missing required option --master"))?;
    let task: Option<TaskInfo> = flags.opt::<String>("task")?.map(|t| parse_json("task", &t)).transpose()?;
    let group: Option<TaskGroupInfo> =
        flags.opt::<String>("task_group")?.map(|t| parse_json("task_group", &t)).transpose()?;
    let shell: bool = flags.get("shell")?;
    match (&task, &group) {
        (Some(_), Some(_)) => {
            bail!("Either task or task group should be set but not both. Provide either '--task' OR '--task_group'")
        }
        (None, None) => {
            if !flags.is_set("name") {
                bail!("Missing required option --name");
            }
            if shell && !flags.is_set("command") {
                bail!("Missing required option --command");
            }
        }
        _ => {
            if ["name", "command", "env", "appc_image", "docker_image", "volumes"].iter().any(|f| flags.is_set(f)) {
                bail!(
                    "'--name, --command, --env, --appc_image, --docker_image, --volumes' can only be set when both \
                     '--task' and '--task_group' are not set"
                );
            }
            if task.is_some() && flags.is_set("networks") {
                bail!("'--networks' can only be set when '--task' is not set");
            }
        }
    }
    let format = match flags.get::<String>("content_type")?.as_str() {
        "json" | "application/json" => Format::Json,
        "protobuf" | "application/x-protobuf" => Format::Protobuf,
        other => bail!("Invalid content type '{other}'"),
    };
    if flags.is_set("package") {
        bail!("'--package' (HDFS upload) is not supported by mesos-rs");
    }
    if flags.is_set("appc_image") && flags.is_set("docker_image") {
        bail!("Flags '--docker-image' and '--appc-image' are both set");
    }
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .ok_or_else(|| anyhow!("No username for uid {}", nix::unistd::getuid()))?;

    use framework_info::capability::Type as Cap;
    let mut caps = vec![Cap::ReservationRefinement, Cap::TaskKillingState, Cap::RevocableResources];
    if flags.get::<bool>("partition_aware")? {
        caps.push(Cap::PartitionAware);
    }
    if let Some(list) = flags.opt::<String>("framework_capabilities")? {
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(cap) = Cap::from_str_name(name) else {
                bail!("Flags '--framework_capabilities' specifies an unknown capability '{name}'");
            };
            if cap != Cap::GpuResources {
                bail!("Flags '--framework_capabilities' specifies an unsupported capability '{name}'");
            }
            caps.push(cap);
        }
    }
    let role: String = flags.get("role")?;
    #[allow(deprecated)]
    let mut framework = FrameworkInfo {
        user,
        name: "mesos-execute instance".into(),
        role: Some(role.clone()),
        checkpoint: Some(flags.get("checkpoint")?),
        principal: flags.opt("principal")?,
        ..Default::default()
    };
    for cap in caps {
        framework.capabilities.push(framework_info::Capability { r#type: Some(cap as i32) });
    }

    let work = match (task, group) {
        (Some(task), None) => Work::Task(Box::new(task)),
        (None, Some(group)) => Work::Group(group),
        _ => {
            let name: String = flags.get("name")?;
            let mut command = CommandInfo { shell: Some(shell), ..Default::default() };
            if shell {
                command.value = flags.opt("command")?;
            }
            if let Some(env) = flags.opt::<String>("env")? {
                let value = json_flag(&env).context("Failed to load flag 'env'")?;
                let object =
                    value.as_object().ok_or_else(|| anyhow!("Failed to load flag 'env': not a JSON object"))?;
                let mut environment = Environment::default();
                let sorted: BTreeMap<_, _> = object.iter().collect();
                for (name, value) in sorted {
                    let value = value.as_str().map(String::from).unwrap_or_else(|| value.to_string());
                    environment.variables.push(mesos_rs::proto::mesos::v1::environment::Variable {
                        name: name.clone(),
                        value: Some(value),
                        ..Default::default()
                    });
                }
                command.environment = Some(environment);
            }
            let resources: String = flags.get("resources")?;
            Work::Task(Box::new(TaskInfo {
                name: name.clone(),
                task_id: TaskId { value: name },
                resources: scalar_resources(&resources)?,
                command: Some(command),
                container: container_info(flags)?,
                ..Default::default()
            }))
        }
    };
    let credential = match (flags.opt::<String>("principal")?, flags.opt::<String>("secret")?) {
        (Some(principal), Some(secret)) => Some((principal, secret)),
        _ => None,
    };
    Ok(Config { master, framework, work, role, credential, kill_after: flags.opt("kill_after")?, format })
}

fn call(kind: call::Type, framework: &FrameworkInfo) -> Call {
    let mut call = Call { framework_id: framework.id.clone(), ..Default::default() };
    call.set_type(kind);
    call
}

/// The resources a task takes from `offer`: what it asks for, reserved to
/// the framework's role unless that is `*` (Mesos's `offered.find`).
fn task_resources(task: &[Resource], role: &str) -> Vec<Resource> {
    task.iter()
        .map(|r| {
            let mut r = r.clone();
            if role != "*" && r.reservations.is_empty() {
                let mut reservation = resource::ReservationInfo { role: Some(role.to_string()), ..Default::default() };
                reservation.set_type(resource::reservation_info::Type::Static);
                r.reservations.push(reservation);
            }
            r
        })
        .collect()
}

/// Whether `offer` holds `wanted` (reservations ignored, as Mesos's
/// `toUnreserved().contains`).
fn fits(offer: &Offer, wanted: &[Resource]) -> bool {
    use mesos_rs::common::resources::Resources;
    let v0 = |rs: &[Resource]| -> Vec<mesos_rs::proto::mesos::Resource> { rs.iter().map(to_v1).collect() };
    let mut offered = Resources::from_protos(&v0(&offer.resources));
    offered.unallocate();
    offered.to_unreserved().contains(&Resources::from_protos(&v0(wanted)))
}

struct Scheduler {
    client: Client,
    config: Config,
    launched: bool,
    terminated: usize,
    failed: bool,
    killer: Option<tokio::task::JoinHandle<()>>,
    kills: tokio::sync::mpsc::UnboundedSender<(TaskId, AgentId)>,
}

impl Scheduler {
    fn task_count(&self) -> usize {
        match &self.config.work {
            Work::Task(_) => 1,
            Work::Group(g) => g.tasks.len(),
        }
    }

    async fn send(&self, call: Call) {
        if let Err(e) = self.client.send(&call).await {
            eprintln!("Failed to send {}: {e}", call.r#type().as_str_name());
        }
    }

    async fn offers(&mut self, offers: Vec<Offer>) {
        let role = self.config.role.clone();
        for offer in offers {
            let wanted: Vec<Resource> = match &self.config.work {
                Work::Task(t) => t.resources.clone(),
                Work::Group(g) => g.tasks.iter().flat_map(|t| t.resources.clone()).collect(),
            };
            if !self.launched && fits(&offer, &wanted) {
                let mut accept = call(call::Type::Accept, &self.config.framework);
                let mut operation = offer::Operation::default();
                match &self.config.work {
                    Work::Task(task) => {
                        let mut task = (**task).clone();
                        task.agent_id = offer.agent_id.clone();
                        task.resources = task_resources(&task.resources, &role);
                        operation.set_type(offer::operation::Type::Launch);
                        operation.launch = Some(offer::operation::Launch { task_infos: vec![task] });
                        println!("Submitted task '{}' to agent '{}'", self.task_name(), offer.agent_id.value);
                    }
                    Work::Group(group) => {
                        let mut group = group.clone();
                        for task in &mut group.tasks {
                            task.agent_id = offer.agent_id.clone();
                            task.resources = task_resources(&task.resources, &role);
                        }
                        let mut executor = ExecutorInfo {
                            executor_id: ExecutorId { value: "default-executor".into() },
                            framework_id: self.config.framework.id.clone(),
                            resources: scalar_resources("cpus:0.1;mem:32;disk:32").unwrap_or_default(),
                            ..Default::default()
                        };
                        executor.set_type(executor_info::Type::Default);
                        let ids: Vec<String> = group.tasks.iter().map(|t| t.task_id.value.clone()).collect();
                        operation.set_type(offer::operation::Type::LaunchGroup);
                        operation.launch_group = Some(offer::operation::LaunchGroup { executor, task_group: group });
                        println!(
                            "Submitted task group with tasks [ {} ] to agent '{}'",
                            ids.join(", "),
                            offer.agent_id.value
                        );
                    }
                }
                accept.accept = Some(call::Accept {
                    offer_ids: vec![offer.id.clone()],
                    operations: vec![operation],
                    filters: None,
                });
                self.send(accept).await;
                self.launched = true;
            } else {
                let mut decline = call(call::Type::Decline, &self.config.framework);
                decline.decline = Some(call::Decline { offer_ids: vec![offer.id.clone()], filters: None });
                self.send(decline).await;
                self.send(call(call::Type::Suppress, &self.config.framework)).await;
            }
        }
    }

    fn task_name(&self) -> String {
        match &self.config.work {
            Work::Task(t) => t.name.clone(),
            Work::Group(_) => String::new(),
        }
    }

    /// Returns `true` once every task is terminal.
    async fn update(&mut self, status: TaskStatus) -> bool {
        let state = status.state();
        println!("Received status update {} for task '{}'", state.as_str_name(), status.task_id.value);
        if let Some(message) = &status.message {
            println!("  message: '{message}'");
        }
        if status.source.is_some() {
            println!("  source: {}", status.source().as_str_name());
        }
        if status.reason.is_some() {
            println!("  reason: {}", status.reason().as_str_name());
        }
        if let Some(healthy) = status.healthy {
            println!("  healthy?: {}", u8::from(healthy));
        }
        if let Some(uuid) = &status.uuid {
            let mut ack = call(call::Type::Acknowledge, &self.config.framework);
            ack.acknowledge = Some(call::Acknowledge {
                agent_id: status.agent_id.clone().unwrap_or_default(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            });
            self.send(ack).await;
        }
        if state == TaskState::TaskRunning {
            if let (Some(after), Some(agent)) = (self.config.kill_after, status.agent_id.clone()) {
                let kills = self.kills.clone();
                let task = status.task_id.clone();
                self.killer = Some(tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = kills.send((task, agent));
                }));
            }
        }
        if is_terminal(state) {
            if state != TaskState::TaskFinished {
                self.failed = true;
            }
            self.terminated += 1;
            return self.terminated >= self.task_count();
        }
        false
    }

    async fn kill(&self, task: TaskId, agent: AgentId) {
        println!("Asked to kill task '{}' on agent '{}'", task.value, agent.value);
        let mut kill = call(call::Type::Kill, &self.config.framework);
        kill.kill = Some(call::Kill { task_id: task, agent_id: Some(agent), kill_policy: None });
        self.send(kill).await;
    }
}

fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

/// Subscribes, retrying every second as Mesos's scheduler does.
async fn subscribe(scheduler: &Scheduler) -> Subscription {
    loop {
        let mut subscribe = call(call::Type::Subscribe, &scheduler.config.framework);
        subscribe.subscribe =
            Some(call::Subscribe { framework_info: scheduler.config.framework.clone(), ..Default::default() });
        match scheduler.client.subscribe(&subscribe).await {
            Ok(subscription) => return subscription,
            Err(e) => {
                tracing::warn!("Failed to subscribe: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn run(config: Config) -> anyhow::Result<i32> {
    let address = resolve_master(&config.master).await?;
    let (kills, mut kill_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut scheduler = Scheduler {
        client: match &config.credential {
            Some((principal, secret)) => Client::new(&address, config.format).with_credentials(principal, secret),
            None => Client::new(&address, config.format),
        },
        config,
        launched: false,
        terminated: 0,
        failed: false,
        killer: None,
        kills,
    };
    let mut events = subscribe(&scheduler).await;
    loop {
        let event: Event = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    tracing::warn!("Disconnected: {e}");
                    events = subscribe(&scheduler).await;
                    continue;
                }
                None => {
                    tracing::warn!("Disconnected from the master");
                    events = subscribe(&scheduler).await;
                    continue;
                }
            },
            Some((task, agent)) = kill_rx.recv() => {
                scheduler.kill(task, agent).await;
                continue;
            }
        };
        match event.r#type() {
            EventType::Subscribed => {
                let id = event.subscribed.map(|s| s.framework_id).unwrap_or_default();
                println!("Subscribed with ID {}", id.value);
                scheduler.config.framework.id = Some(FrameworkId { value: id.value });
            }
            EventType::Offers => scheduler.offers(event.offers.map(|o| o.offers).unwrap_or_default()).await,
            EventType::Update => {
                if let Some(update) = event.update {
                    if scheduler.update(update.status).await {
                        if let Some(killer) = scheduler.killer.take() {
                            killer.abort();
                        }
                        // Done: tear the framework down (Mesos's library does
                        // on terminate when the failover timeout is 0).
                        scheduler.send(call(call::Type::Teardown, &scheduler.config.framework)).await;
                        return Ok(if scheduler.failed { 1 } else { 0 });
                    }
                }
            }
            EventType::Error => {
                eprintln!("Received an ERROR event: {}", event.error.map(|e| e.message).unwrap_or_default());
                return Ok(1);
            }
            EventType::Unknown => tracing::warn!("Received an UNKNOWN event and ignored"),
            _ => {}
        }
    }
}

fn main() {
    let program = "mesos-execute";
    let flags = match Flags::load(program, FLAGS, std::env::args().skip(1), std::env::vars(), Some("MESOS_")) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("{}\n\n{}", e, mesos_rs::common::flags::usage(program, FLAGS));
            std::process::exit(1);
        }
    };
    if flags.help {
        println!("{}", flags.usage());
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    for warning in &flags.warnings {
        tracing::warn!("{warning}");
    }
    let config = match config(&flags) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e:#}\n\n{}", flags.usage());
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Failed to start: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(run(config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    };
    std::process::exit(code);
}
