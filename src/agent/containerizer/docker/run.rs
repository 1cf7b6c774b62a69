//! How a `docker run` is built from a `ContainerInfo` and a `CommandInfo`:
//! a pure function ([`RunOptions::create`]) following the rules of Mesos's
//! `Docker::RunOptions::create` (`src/docker/docker.cpp`), and the
//! translation of the result into an Engine API create request
//! ([`RunOptions::create_body`]), since we talk to the engine directly
//! instead of running the `docker` CLI.
//!
//! The rules, in Mesos's order:
//! - `privileged` from `DockerInfo.privileged`;
//! - cpu shares = 1024 per cpu (at least 2); a CFS quota of 100ms per cpu
//!   (at least 1ms) from the `cpus` limit, else from the request with
//!   `--cgroups_enable_cfs`; memory = the `mem` limit (unless infinite) with
//!   the request as reservation, else the request (both at least 32MB);
//!   an OOM score adjustment when the limit exceeds the request;
//! - environment: the given map, then the command's variables that the map
//!   does not set, then `MESOS_SANDBOX` (the mapped directory),
//!   `MESOS_CONTAINER_NAME` and `MESOS_ALLOCATION_ROLE`;
//! - volumes `host:container:mode` (a relative container path is under the
//!   mapped sandbox, a relative host path under the host sandbox; Docker
//!   named volumes from `source.docker_volume`), then the sandbox itself;
//! - network HOST (the default), BRIDGE, NONE or USER (the single
//!   `network_infos` name); `hostname` only off the host network; port
//!   mappings only on bridge/user networks and only for host ports inside
//!   the task's `ports` resources;
//! - `parameters` become extra `--key=value` options, except the first
//!   `net`/`network`, which replaces the network;
//! - no container labels: Mesos passes none (`TaskInfo.labels` stay Mesos
//!   labels); a `label` parameter sets one, as `docker run --label` would;
//! - a shell command runs as entrypoint `/bin/sh` with `-c <value>`;
//!   otherwise the image's entrypoint gets `value` (if any) then `arguments`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, ResourcesUlimits};

use crate::proto::mesos::{container_info::docker_info, value, volume, CommandInfo, ContainerInfo, Resource};

/// Shares per cpu, the lowest share Linux accepts, CFS period and minimum
/// quota, minimum memory: Mesos's cgroups constants.
pub const CPU_SHARES_PER_CPU: u64 = 1024;
pub const MIN_CPU_SHARES: u64 = 2;
pub const CPU_CFS_PERIOD_US: u64 = 100_000;
pub const MIN_CPU_CFS_QUOTA_US: u64 = 1_000;
pub const MIN_MEMORY: u64 = 32 * 1024 * 1024;

/// Where the sandbox appears in a Docker container unless
/// `--sandbox_directory` says otherwise.
pub const DEFAULT_MAPPED_DIRECTORY: &str = "/mnt/mesos/sandbox";

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u32,
    pub container_port: u32,
    pub protocol: Option<String>,
}

/// What a `docker run` is made of (Mesos's `Docker::RunOptions`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOptions {
    pub name: String,
    pub image: String,
    pub privileged: bool,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<u64>,
    pub memory: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub oom_score_adj: Option<i64>,
    pub env: BTreeMap<String, String>,
    /// `host:container:mode` (or `name:container:mode` for a named volume).
    pub volumes: Vec<String>,
    pub volume_driver: Option<String>,
    pub network: Option<String>,
    pub hostname: Option<String>,
    pub port_mappings: Vec<PortMapping>,
    pub entrypoint: Option<String>,
    pub arguments: Vec<String>,
    /// `DockerInfo.parameters` other than the network, in order.
    pub parameters: Vec<(String, String)>,
}

/// The inputs of [`RunOptions::create`].
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub container: &'a ContainerInfo,
    pub command: &'a CommandInfo,
    /// The container's name (`mesos-<container id>`).
    pub name: &'a str,
    /// The sandbox on the host.
    pub sandbox: &'a Path,
    /// The sandbox inside the container.
    pub mapped_directory: &'a str,
    /// The task's (and executor's) resources, if any.
    pub resources: Option<&'a [Resource]>,
    /// `TaskInfo.limits`.
    pub limits: Option<&'a HashMap<String, value::Scalar>>,
    pub enable_cfs_quota: bool,
    /// Environment that takes precedence over the command's.
    pub env: Option<&'a BTreeMap<String, String>>,
    /// Total memory of the host, for the OOM score adjustment.
    pub host_memory: u64,
}

fn scalar(resources: &[Resource], name: &str) -> Option<f64> {
    crate::agent::containerizer::mesos::scalar(resources, name)
}

fn ports(resources: &[Resource]) -> Option<Vec<(u64, u64)>> {
    let ranges: Vec<(u64, u64)> = resources
        .iter()
        .filter(|r| r.name == "ports" && r.r#type == value::Type::Ranges as i32)
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end)))
        .collect();
    let any = resources.iter().any(|r| r.name == "ports" && r.r#type == value::Type::Ranges as i32);
    any.then_some(ranges)
}

fn mode_suffix(mode: i32) -> Result<&'static str, String> {
    match volume::Mode::try_from(mode) {
        Ok(volume::Mode::Rw) => Ok(":rw"),
        Ok(volume::Mode::Ro) => Ok(":ro"),
        _ => Err("Unsupported volume mode".into()),
    }
}

fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

impl RunOptions {
    /// Mesos's `Docker::RunOptions::create` (see the module docs); the error
    /// texts are Mesos's.
    pub fn create(spec: &RunSpec<'_>) -> Result<RunOptions, String> {
        let docker = spec.container.docker.as_ref().ok_or("No docker info found in container info")?;
        let mut options = RunOptions { privileged: docker.privileged.unwrap_or(false), ..Default::default() };

        let cpu_request = spec.resources.and_then(|r| scalar(r, "cpus"));
        let mem_request =
            spec.resources.and_then(|r| scalar(r, "mem")).map(|mb| (mb.max(0.0) * 1024.0 * 1024.0) as u64);
        let limit = |name: &str| spec.limits.and_then(|l| l.get(name)).map(|s| s.value);
        let (cpu_limit, mem_limit) = (limit("cpus"), limit("mem"));

        if let Some(cpus) = cpu_request {
            options.cpu_shares = Some(((CPU_SHARES_PER_CPU as f64 * cpus) as u64).max(MIN_CPU_SHARES));
        }
        let quota = |cpus: f64| ((CPU_CFS_PERIOD_US as f64 * cpus) as u64).max(MIN_CPU_CFS_QUOTA_US);
        match (cpu_limit, cpu_request) {
            (Some(l), _) if l.is_infinite() => {}
            (Some(l), _) => options.cpu_quota = Some(quota(l)),
            (None, Some(r)) if spec.enable_cfs_quota => options.cpu_quota = Some(quota(r)),
            _ => {}
        }
        match (mem_limit, mem_request) {
            (Some(l), request) => {
                let limit_bytes = (l.max(0.0) as u64).saturating_mul(1024 * 1024);
                if !l.is_infinite() {
                    options.memory = Some(limit_bytes.max(MIN_MEMORY));
                }
                if let Some(request) = request {
                    options.memory_reservation = Some(request.max(MIN_MEMORY));
                    if (l.is_infinite() || request < limit_bytes) && spec.host_memory > 0 {
                        let adj = 1000 - (1000u128 * request as u128 / spec.host_memory as u128) as i64;
                        options.oom_score_adj = Some(adj);
                    }
                }
            }
            (None, Some(request)) => options.memory = Some(request.max(MIN_MEMORY)),
            (None, None) => {}
        }

        if let Some(env) = spec.env {
            options.env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(environment) = &spec.command.environment {
            for variable in &environment.variables {
                if spec.env.is_some_and(|e| e.contains_key(&variable.name)) {
                    continue;
                }
                options.env.insert(variable.name.clone(), variable.value.clone().unwrap_or_default());
            }
        }
        options.env.insert("MESOS_SANDBOX".into(), spec.mapped_directory.to_string());
        options.env.insert("MESOS_CONTAINER_NAME".into(), spec.name.to_string());
        if let Some(first) = spec.resources.and_then(|r| r.first()) {
            let role = first.allocation_info.as_ref().and_then(|a| a.role.clone()).unwrap_or_default();
            options.env.insert("MESOS_ALLOCATION_ROLE".into(), role);
        }

        let sandbox = spec.sandbox.display().to_string();
        #[allow(deprecated)]
        let docker_volume_driver = docker.volume_driver.clone();
        let mut volume_driver: Option<String> = None;
        for v in &spec.container.volumes {
            let in_container = if v.container_path.starts_with('/') {
                v.container_path.clone()
            } else {
                join(spec.mapped_directory, &v.container_path)
            };
            let config = if let Some(host) = &v.host_path {
                if !host.starts_with('/') && !v.container_path.starts_with('/') {
                    return Err(format!(
                        "Both host_path '{host}' and container_path '{}' of a volume are relative",
                        v.container_path
                    ));
                }
                let host = if !host.starts_with('/') && docker_volume_driver.is_none() {
                    join(&sandbox, host)
                } else {
                    host.clone()
                };
                format!("{host}:{in_container}{}", mode_suffix(v.mode)?)
            } else if let Some(source) = &v.source {
                if source.r#type() != volume::source::Type::DockerVolume {
                    tracing::debug!("Ignoring volume type {:?} for container '{}'", source.r#type(), spec.name);
                    continue;
                }
                let Some(named) = &source.docker_volume else {
                    return Err("Host path or volume source is required".into());
                };
                if let Some(driver) = &named.driver {
                    if volume_driver.as_ref().is_some_and(|d| d != driver) {
                        return Err("Only one volume driver is supported".into());
                    }
                    volume_driver = Some(driver.clone());
                }
                format!("{}:{in_container}{}", named.name, mode_suffix(v.mode)?)
            } else {
                return Err("Host path or volume source is required".into());
            };
            options.volumes.push(config);
        }
        options.volumes.push(format!("{sandbox}:{}", spec.mapped_directory));
        if let Some(driver) = docker_volume_driver {
            if volume_driver.as_ref().is_some_and(|d| *d != driver) {
                return Err("Only one volume driver per task is supported".into());
            }
            volume_driver = Some(driver);
        }
        options.volume_driver = volume_driver;

        let network = docker_info::Network::try_from(docker.network.unwrap_or(docker_info::Network::Host as i32))
            .map_err(|_| format!("Unsupported Network mode: {}", docker.network.unwrap_or_default()))?;
        options.network = Some(match network {
            docker_info::Network::Host => "host".into(),
            docker_info::Network::Bridge => "bridge".into(),
            docker_info::Network::None => "none".into(),
            docker_info::Network::User => {
                let infos = &spec.container.network_infos;
                if infos.is_empty() {
                    return Err("No network info found in container info".into());
                }
                if infos.len() > 1 {
                    return Err("Only a single network can be defined in Docker run".into());
                }
                infos[0].name.clone().ok_or("No network name found in network info")?
            }
        });
        if let Some(hostname) = &spec.container.hostname {
            if options.network.as_deref() == Some("host") {
                return Err("Unable to set hostname with host network mode".into());
            }
            options.hostname = Some(hostname.clone());
        }
        if !docker.port_mappings.is_empty() {
            if matches!(options.network.as_deref(), Some("host") | Some("none")) {
                return Err("Port mappings are only supported for bridge and user-defined networks".into());
            }
            let resources = spec.resources.ok_or("Port mappings require resources")?;
            let ranges = ports(resources).ok_or("Port mappings require port resources")?;
            for mapping in &docker.port_mappings {
                let host = u64::from(mapping.host_port);
                if !ranges.iter().any(|(b, e)| host >= *b && host <= *e) {
                    return Err(format!("Port [{}] not included in resources", mapping.host_port));
                }
                options.port_mappings.push(PortMapping {
                    host_port: mapping.host_port,
                    container_port: mapping.container_port,
                    protocol: mapping.protocol.clone(),
                });
            }
        }

        options.name = spec.name.to_string();
        let mut network_given = false;
        for p in &docker.parameters {
            if !network_given && (p.key == "net" || p.key == "network") {
                options.network = Some(p.value.clone());
                network_given = true;
            } else {
                options.parameters.push((p.key.clone(), p.value.clone()));
            }
        }

        options.image = docker.image.clone();
        if spec.command.shell.unwrap_or(true) {
            options.entrypoint = Some("/bin/sh".into());
            let value = spec.command.value.clone().ok_or("Shell specified but no command value provided")?;
            options.arguments = vec!["-c".into(), value];
        } else {
            options.arguments.extend(spec.command.value.clone());
            options.arguments.extend(spec.command.arguments.iter().cloned());
        }
        Ok(options)
    }

    /// The `docker run` command line these options stand for (for logs).
    pub fn command_line(&self) -> String {
        let mut argv = vec!["docker".to_string(), "run".into()];
        if self.privileged {
            argv.push("--privileged".into());
        }
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                argv.push(name.into());
                argv.push(value);
            }
        };
        flag("--cpu-shares", self.cpu_shares.map(|v| v.to_string()));
        flag("--cpu-quota", self.cpu_quota.map(|v| v.to_string()));
        flag("--memory-reservation", self.memory_reservation.map(|v| v.to_string()));
        flag("--memory", self.memory.map(|v| v.to_string()));
        flag("--oom-score-adj", self.oom_score_adj.map(|v| v.to_string()));
        for (k, v) in &self.env {
            flag("-e", Some(format!("{k}={v}")));
        }
        for v in &self.volumes {
            flag("-v", Some(v.clone()));
        }
        flag("--net", self.network.clone());
        flag("--hostname", self.hostname.clone());
        for p in &self.port_mappings {
            flag("-p", Some(port_text(p)));
        }
        flag("--entrypoint", self.entrypoint.clone());
        flag("--name", Some(self.name.clone()));
        for (k, v) in &self.parameters {
            argv.push(format!("--{k}={v}"));
        }
        argv.push(self.image.clone());
        argv.extend(self.arguments.iter().cloned());
        argv.join(" ")
    }

    /// The Engine API request for these options. `parameters` are mapped to
    /// the fields their `docker run` options set; one the API has no field
    /// for is an error (the CLI would refuse an unknown option too).
    pub fn create_body(&self) -> Result<ContainerCreateBody, String> {
        let mut host = HostConfig {
            privileged: Some(self.privileged),
            cpu_shares: self.cpu_shares.map(|v| v as i64),
            cpu_quota: self.cpu_quota.map(|v| v as i64),
            cpu_period: self.cpu_quota.map(|_| CPU_CFS_PERIOD_US as i64),
            memory: self.memory.map(|v| v as i64),
            memory_reservation: self.memory_reservation.map(|v| v as i64),
            oom_score_adj: self.oom_score_adj,
            binds: Some(self.volumes.clone()),
            volume_driver: self.volume_driver.clone(),
            network_mode: self.network.clone(),
            ..Default::default()
        };
        let mut body = ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            entrypoint: self.entrypoint.clone().map(|e| vec![e]),
            cmd: (!self.arguments.is_empty()).then(|| self.arguments.clone()),
            hostname: self.hostname.clone(),
            ..Default::default()
        };
        if !self.port_mappings.is_empty() {
            let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
            let mut exposed = Vec::new();
            for p in &self.port_mappings {
                let key = format!("{}/{}", p.container_port, p.protocol.as_deref().unwrap_or("tcp").to_lowercase());
                exposed.push(key.clone());
                bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding { host_ip: None, host_port: Some(p.host_port.to_string()) });
            }
            body.exposed_ports = Some(exposed);
            host.port_bindings = Some(bindings);
        }
        for (key, value) in &self.parameters {
            apply_parameter(&mut body, &mut host, key, value)?;
        }
        body.host_config = Some(host);
        Ok(body)
    }
}

fn port_text(p: &PortMapping) -> String {
    match &p.protocol {
        Some(proto) => format!("{}:{}/{}", p.host_port, p.container_port, proto.to_lowercase()),
        None => format!("{}:{}", p.host_port, p.container_port),
    }
}

fn push(list: &mut Option<Vec<String>>, value: &str) {
    list.get_or_insert_with(Vec::new).push(value.to_string());
}

fn bytes(key: &str, value: &str) -> Result<i64, String> {
    let text = value.trim().to_ascii_lowercase();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let n: f64 = digits.parse().map_err(|_| format!("Invalid value '{value}' for docker parameter '{key}'"))?;
    let factor: f64 = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("Invalid value '{value}' for docker parameter '{key}'")),
    };
    Ok((n * factor) as i64)
}

fn number(key: &str, value: &str) -> Result<i64, String> {
    value.trim().parse().map_err(|_| format!("Invalid value '{value}' for docker parameter '{key}'"))
}

fn boolean(value: &str) -> bool {
    !matches!(value.trim(), "false" | "0")
}

/// One `--key=value` of `docker run`, as the create request field it sets.
fn apply_parameter(
    body: &mut ContainerCreateBody,
    host: &mut HostConfig,
    key: &str,
    value: &str,
) -> Result<(), String> {
    match key {
        "label" | "l" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            body.labels.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "env" | "e" => push(&mut body.env, value),
        "user" | "u" => body.user = Some(value.to_string()),
        "workdir" | "w" => body.working_dir = Some(value.to_string()),
        "hostname" | "h" => body.hostname = Some(value.to_string()),
        "entrypoint" => body.entrypoint = Some(vec![value.to_string()]),
        "stop-signal" => body.stop_signal = Some(value.to_string()),
        "tty" | "t" => body.tty = Some(boolean(value)),
        "interactive" | "i" => body.open_stdin = Some(boolean(value)),
        "volume" | "v" => push(&mut host.binds, value),
        "add-host" => push(&mut host.extra_hosts, value),
        "cap-add" => push(&mut host.cap_add, value),
        "cap-drop" => push(&mut host.cap_drop, value),
        "dns" => push(&mut host.dns, value),
        "dns-search" => push(&mut host.dns_search, value),
        "dns-opt" | "dns-option" => push(&mut host.dns_options, value),
        "security-opt" => push(&mut host.security_opt, value),
        "group-add" => push(&mut host.group_add, value),
        "volumes-from" => push(&mut host.volumes_from, value),
        "link" => push(&mut host.links, value),
        "device" => {
            let mut parts = value.splitn(3, ':');
            let on_host = parts.next().unwrap_or_default().to_string();
            let inside = parts.next().map(String::from).unwrap_or_else(|| on_host.clone());
            let permissions = parts.next().unwrap_or("rwm").to_string();
            host.devices.get_or_insert_with(Vec::new).push(bollard::models::DeviceMapping {
                path_on_host: Some(on_host),
                path_in_container: Some(inside),
                cgroup_permissions: Some(permissions),
            });
        }
        "ulimit" => {
            let (name, limits) = value.split_once('=').ok_or_else(|| format!("Invalid ulimit '{value}'"))?;
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            host.ulimits.get_or_insert_with(Vec::new).push(ResourcesUlimits {
                name: Some(name.to_string()),
                soft: Some(number(key, soft)?),
                hard: Some(number(key, hard)?),
            });
        }
        "sysctl" => {
            let (k, v) = value.split_once('=').ok_or_else(|| format!("Invalid sysctl '{value}'"))?;
            host.sysctls.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "tmpfs" => {
            let (path, opts) = value.split_once(':').unwrap_or((value, ""));
            host.tmpfs.get_or_insert_with(HashMap::new).insert(path.to_string(), opts.to_string());
        }
        "memory-swap" => host.memory_swap = Some(bytes(key, value)?),
        "memory-swappiness" => host.memory_swappiness = Some(number(key, value)?),
        "memory" | "m" => host.memory = Some(bytes(key, value)?),
        "memory-reservation" => host.memory_reservation = Some(bytes(key, value)?),
        "shm-size" => host.shm_size = Some(bytes(key, value)?),
        "cpu-shares" | "c" => host.cpu_shares = Some(number(key, value)?),
        "cpu-quota" => host.cpu_quota = Some(number(key, value)?),
        "cpu-period" => host.cpu_period = Some(number(key, value)?),
        "cpuset-cpus" => host.cpuset_cpus = Some(value.to_string()),
        "cpuset-mems" => host.cpuset_mems = Some(value.to_string()),
        "pids-limit" => host.pids_limit = Some(number(key, value)?),
        "oom-kill-disable" => host.oom_kill_disable = Some(boolean(value)),
        "oom-score-adj" => host.oom_score_adj = Some(number(key, value)?),
        "init" => host.init = Some(boolean(value)),
        "read-only" => host.readonly_rootfs = Some(boolean(value)),
        "privileged" => host.privileged = Some(boolean(value)),
        "pid" => host.pid_mode = Some(value.to_string()),
        "ipc" => host.ipc_mode = Some(value.to_string()),
        "uts" => host.uts_mode = Some(value.to_string()),
        "userns" => host.userns_mode = Some(value.to_string()),
        "runtime" => host.runtime = Some(value.to_string()),
        "cgroup-parent" => host.cgroup_parent = Some(value.to_string()),
        "log-driver" => {
            host.log_config.get_or_insert_with(Default::default).typ = Some(value.to_string());
        }
        "log-opt" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            host.log_config
                .get_or_insert_with(Default::default)
                .config
                .get_or_insert_with(HashMap::new)
                .insert(k.to_string(), v.to_string());
        }
        "publish-all" | "P" => host.publish_all_ports = Some(boolean(value)),
        "rm" => host.auto_remove = Some(boolean(value)),
        other => return Err(format!("Unsupported docker parameter '--{other}={value}'")),
    }
    Ok(())
}

/// `mesos-<container id>`: the name of a container Mesos launches.
pub fn container_name(container_id: &str) -> String {
    format!("{}{container_id}", super::NAME_PREFIX)
}

/// The container id in the name of a container Mesos launched, in the
/// current form `mesos-<container id>`, the 0.23-1.3 form
/// `mesos-<agent id>.<container id>` or with an `.executor` suffix; `None`
/// for other containers or when the id is not a UUID (as Mesos's `parse`).
pub fn parse_name(name: &str) -> Option<String> {
    let rest = name.trim_start_matches('/').strip_prefix(super::NAME_PREFIX)?;
    let id = if !rest.contains('.') {
        rest
    } else {
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() == 2 || parts.len() == 3 {
            parts[1]
        } else {
            return None;
        }
    };
    uuid::Uuid::parse_str(id).ok().map(|_| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{
        container_info, environment, resource::AllocationInfo, value::Range, value::Ranges, value::Scalar, Environment,
        NetworkInfo, Parameter, Volume,
    };
    use std::path::PathBuf;

    fn scalar_resource(name: &str, v: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(Scalar { value: v }),
            allocation_info: Some(AllocationInfo { role: Some("web".into()) }),
            ..Default::default()
        }
    }

    fn ports_resource(begin: u64, end: u64) -> Resource {
        Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(Ranges { range: vec![Range { begin, end }] }),
            ..Default::default()
        }
    }

    fn docker(image: &str) -> ContainerInfo {
        ContainerInfo {
            r#type: container_info::Type::Docker as i32,
            docker: Some(container_info::DockerInfo { image: image.into(), ..Default::default() }),
            ..Default::default()
        }
    }

    struct Case {
        container: ContainerInfo,
        command: CommandInfo,
        resources: Option<Vec<Resource>>,
        limits: Option<HashMap<String, Scalar>>,
        cfs: bool,
        env: Option<BTreeMap<String, String>>,
        sandbox: PathBuf,
    }

    impl Case {
        fn new(container: ContainerInfo, command: CommandInfo) -> Case {
            Case {
                container,
                command,
                resources: None,
                limits: None,
                cfs: false,
                env: None,
                sandbox: PathBuf::from("/var/lib/mesos/slaves/S/frameworks/F/executors/E/runs/C"),
            }
        }

        fn run(&self) -> Result<RunOptions, String> {
            RunOptions::create(&RunSpec {
                container: &self.container,
                command: &self.command,
                name: "mesos-c1",
                sandbox: &self.sandbox,
                mapped_directory: DEFAULT_MAPPED_DIRECTORY,
                resources: self.resources.as_deref(),
                limits: self.limits.as_ref(),
                enable_cfs_quota: self.cfs,
                env: self.env.as_ref(),
                host_memory: 8 * 1024 * 1024 * 1024,
            })
        }
    }

    fn shell(cmd: &str) -> CommandInfo {
        CommandInfo { shell: Some(true), value: Some(cmd.into()), ..Default::default() }
    }

    #[test]
    fn shell_command_runs_through_bin_sh_on_the_host_network() {
        let o = Case::new(docker("busybox"), shell("echo hi")).run().unwrap();
        assert_eq!(o.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(o.arguments, vec!["-c", "echo hi"]);
        assert_eq!(o.network.as_deref(), Some("host"));
        assert_eq!(o.image, "busybox");
        assert_eq!(o.name, "mesos-c1");
        assert_eq!(o.volumes, vec!["/var/lib/mesos/slaves/S/frameworks/F/executors/E/runs/C:/mnt/mesos/sandbox"]);
        assert_eq!(o.env["MESOS_SANDBOX"], "/mnt/mesos/sandbox");
        assert_eq!(o.env["MESOS_CONTAINER_NAME"], "mesos-c1");
        assert!(!o.env.contains_key("MESOS_ALLOCATION_ROLE"));
        assert_eq!(o.cpu_shares, None);
        assert_eq!(o.memory, None);
        let body = o.create_body().unwrap();
        assert_eq!(body.entrypoint, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(body.cmd, Some(vec!["-c".to_string(), "echo hi".to_string()]));
        assert_eq!(body.host_config.unwrap().network_mode.as_deref(), Some("host"));
    }

    #[test]
    fn shell_without_value_is_refused() {
        let command = CommandInfo { shell: Some(true), ..Default::default() };
        assert_eq!(Case::new(docker("x"), command).run().unwrap_err(), "Shell specified but no command value provided");
    }

    #[test]
    fn non_shell_keeps_the_image_entrypoint_and_passes_value_then_arguments() {
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".into()),
            arguments: vec!["a".into(), "b c".into()],
            ..Default::default()
        };
        let o = Case::new(docker("x"), command).run().unwrap();
        assert_eq!(o.entrypoint, None);
        assert_eq!(o.arguments, vec!["/bin/echo", "a", "b c"]);
        let body = o.create_body().unwrap();
        assert_eq!(body.entrypoint, None);
        // Without value nor arguments the image's command is left alone.
        let o = Case::new(docker("x"), CommandInfo { shell: Some(false), ..Default::default() }).run().unwrap();
        assert_eq!(o.create_body().unwrap().cmd, None);
    }

    #[test]
    fn resources_become_shares_memory_and_optional_cfs_quota() {
        let mut case = Case::new(docker("x"), shell("true"));
        case.resources = Some(vec![scalar_resource("cpus", 0.5), scalar_resource("mem", 64.0)]);
        let o = case.run().unwrap();
        assert_eq!(o.cpu_shares, Some(512));
        assert_eq!(o.cpu_quota, None);
        assert_eq!(o.memory, Some(64 * 1024 * 1024));
        assert_eq!(o.memory_reservation, None);
        assert_eq!(o.env["MESOS_ALLOCATION_ROLE"], "web");
        case.cfs = true;
        assert_eq!(case.run().unwrap().cpu_quota, Some(50_000));
        // Minimums: 2 shares, 1ms quota, 32MB.
        case.resources = Some(vec![scalar_resource("cpus", 0.001), scalar_resource("mem", 1.0)]);
        let o = case.run().unwrap();
        assert_eq!((o.cpu_shares, o.cpu_quota, o.memory), (Some(2), Some(1_000), Some(MIN_MEMORY)));
        let host = o.create_body().unwrap().host_config.unwrap();
        assert_eq!((host.cpu_shares, host.cpu_period, host.memory), (Some(2), Some(100_000), Some(MIN_MEMORY as i64)));
    }

    #[test]
    fn limits_take_over_from_requests() {
        let mut case = Case::new(docker("x"), shell("true"));
        case.resources = Some(vec![scalar_resource("cpus", 1.0), scalar_resource("mem", 1024.0)]);
        case.limits = Some(HashMap::from([
            ("cpus".to_string(), Scalar { value: 2.0 }),
            ("mem".to_string(), Scalar { value: 2048.0 }),
        ]));
        let o = case.run().unwrap();
        assert_eq!(o.cpu_shares, Some(1024));
        assert_eq!(o.cpu_quota, Some(200_000));
        assert_eq!(o.memory, Some(2048 * 1024 * 1024));
        assert_eq!(o.memory_reservation, Some(1024 * 1024 * 1024));
        // 1 GB of 8 GB: 1000 - 125.
        assert_eq!(o.oom_score_adj, Some(875));
        case.limits = Some(HashMap::from([
            ("cpus".to_string(), Scalar { value: f64::INFINITY }),
            ("mem".to_string(), Scalar { value: f64::INFINITY }),
        ]));
        let o = case.run().unwrap();
        assert_eq!((o.cpu_quota, o.memory), (None, None));
        assert_eq!(o.memory_reservation, Some(1024 * 1024 * 1024));
    }

    #[test]
    fn given_environment_wins_over_the_command_and_mesos_variables_win_over_both() {
        let mut command = shell("true");
        command.environment = Some(Environment {
            variables: vec![
                environment::Variable { name: "A".into(), value: Some("from-command".into()), ..Default::default() },
                environment::Variable { name: "B".into(), value: Some("b".into()), ..Default::default() },
                environment::Variable { name: "MESOS_SANDBOX".into(), value: Some("/x".into()), ..Default::default() },
            ],
        });
        let mut case = Case::new(docker("x"), command);
        case.env = Some(BTreeMap::from([("A".to_string(), "given".to_string())]));
        let o = case.run().unwrap();
        assert_eq!(o.env["A"], "given");
        assert_eq!(o.env["B"], "b");
        assert_eq!(o.env["MESOS_SANDBOX"], "/mnt/mesos/sandbox");
    }

    #[test]
    fn volumes_follow_the_sandbox_rules() {
        let mut container = docker("x");
        let vol = |c: &str, h: Option<&str>, mode: volume::Mode| Volume {
            container_path: c.into(),
            host_path: h.map(String::from),
            mode: mode as i32,
            ..Default::default()
        };
        container.volumes = vec![
            vol("/data", Some("/srv/data"), volume::Mode::Ro),
            vol("cache", Some("/srv/cache"), volume::Mode::Rw),
            vol("/logs", Some("logs"), volume::Mode::Rw),
        ];
        let o = Case::new(container.clone(), shell("true")).run().unwrap();
        let sandbox = "/var/lib/mesos/slaves/S/frameworks/F/executors/E/runs/C";
        assert_eq!(
            o.volumes,
            vec![
                "/srv/data:/data:ro".to_string(),
                "/srv/cache:/mnt/mesos/sandbox/cache:rw".to_string(),
                format!("{sandbox}/logs:/logs:rw"),
                format!("{sandbox}:/mnt/mesos/sandbox"),
            ]
        );
        container.volumes = vec![vol("rel", Some("rel"), volume::Mode::Rw)];
        assert_eq!(
            Case::new(container.clone(), shell("true")).run().unwrap_err(),
            "Both host_path 'rel' and container_path 'rel' of a volume are relative"
        );
        container.volumes = vec![vol("/x", None, volume::Mode::Rw)];
        assert_eq!(Case::new(container, shell("true")).run().unwrap_err(), "Host path or volume source is required");
    }

    #[test]
    fn named_docker_volumes() {
        let mut container = docker("x");
        container.volumes = vec![Volume {
            container_path: "/v".into(),
            mode: volume::Mode::Rw as i32,
            source: Some(volume::Source {
                r#type: Some(volume::source::Type::DockerVolume as i32),
                docker_volume: Some(volume::source::DockerVolume {
                    driver: Some("local".into()),
                    name: "vol1".into(),
                    driver_options: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }];
        let o = Case::new(container, shell("true")).run().unwrap();
        assert_eq!(o.volumes[0], "vol1:/v:rw");
        assert_eq!(o.volume_driver.as_deref(), Some("local"));
    }

    fn with_network(network: docker_info::Network) -> ContainerInfo {
        let mut c = docker("x");
        if let Some(d) = c.docker.as_mut() {
            d.network = Some(network as i32);
        }
        c
    }

    #[test]
    fn networks() {
        for (network, name) in [
            (docker_info::Network::Bridge, "bridge"),
            (docker_info::Network::None, "none"),
            (docker_info::Network::Host, "host"),
        ] {
            let o = Case::new(with_network(network), shell("true")).run().unwrap();
            assert_eq!(o.network.as_deref(), Some(name));
        }
        let mut user = with_network(docker_info::Network::User);
        assert_eq!(
            Case::new(user.clone(), shell("true")).run().unwrap_err(),
            "No network info found in container info"
        );
        user.network_infos = vec![NetworkInfo { name: Some("overlay1".into()), ..Default::default() }];
        assert_eq!(Case::new(user.clone(), shell("true")).run().unwrap().network.as_deref(), Some("overlay1"));
        user.network_infos.push(NetworkInfo::default());
        assert_eq!(
            Case::new(user, shell("true")).run().unwrap_err(),
            "Only a single network can be defined in Docker run"
        );
        let mut host = docker("x");
        host.hostname = Some("h".into());
        assert_eq!(Case::new(host, shell("true")).run().unwrap_err(), "Unable to set hostname with host network mode");
        let mut bridge = with_network(docker_info::Network::Bridge);
        bridge.hostname = Some("h".into());
        assert_eq!(Case::new(bridge, shell("true")).run().unwrap().hostname.as_deref(), Some("h"));
    }

    #[test]
    fn port_mappings_need_bridge_and_offered_ports() {
        let mut container = with_network(docker_info::Network::Bridge);
        if let Some(d) = container.docker.as_mut() {
            d.port_mappings = vec![
                docker_info::PortMapping { host_port: 31001, container_port: 80, protocol: None },
                docker_info::PortMapping { host_port: 31002, container_port: 53, protocol: Some("UDP".into()) },
            ];
        }
        let mut case = Case::new(container.clone(), shell("true"));
        assert_eq!(case.run().unwrap_err(), "Port mappings require resources");
        case.resources = Some(vec![scalar_resource("cpus", 1.0)]);
        assert_eq!(case.run().unwrap_err(), "Port mappings require port resources");
        case.resources = Some(vec![ports_resource(31001, 31001)]);
        assert_eq!(case.run().unwrap_err(), "Port [31002] not included in resources");
        case.resources = Some(vec![ports_resource(31000, 31005)]);
        let o = case.run().unwrap();
        assert_eq!(o.port_mappings.len(), 2);
        assert!(o.command_line().contains("-p 31002:53/udp"));
        let body = o.create_body().unwrap();
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("31001"));
        assert_eq!(bindings["53/udp"].as_ref().unwrap()[0].host_port.as_deref(), Some("31002"));
        let mut host = container;
        if let Some(d) = host.docker.as_mut() {
            d.network = Some(docker_info::Network::Host as i32);
        }
        assert_eq!(
            Case::new(host, shell("true")).run().unwrap_err(),
            "Port mappings are only supported for bridge and user-defined networks"
        );
    }

    #[test]
    fn parameters_and_privileged() {
        let mut container = docker("x");
        if let Some(d) = container.docker.as_mut() {
            d.privileged = Some(true);
            d.parameters = vec![
                Parameter { key: "net".into(), value: "mynet".into() },
                Parameter { key: "network".into(), value: "ignored-second".into() },
                Parameter { key: "label".into(), value: "team=infra".into() },
                Parameter { key: "env".into(), value: "EXTRA=1".into() },
                Parameter { key: "memory-swap".into(), value: "256m".into() },
            ];
        }
        let o = Case::new(container.clone(), shell("true")).run().unwrap();
        assert!(o.privileged);
        assert_eq!(o.network.as_deref(), Some("mynet"));
        assert_eq!(o.parameters[0], ("network".to_string(), "ignored-second".to_string()));
        let mut trimmed = o.clone();
        trimmed.parameters.remove(0);
        let body = trimmed.create_body().unwrap();
        assert_eq!(body.labels.unwrap()["team"], "infra");
        assert!(body.env.unwrap().contains(&"EXTRA=1".to_string()));
        let host = body.host_config.unwrap();
        assert_eq!(host.memory_swap, Some(256 * 1024 * 1024));
        assert_eq!(host.privileged, Some(true));
        // A second network option is not something the API can take.
        assert!(o.create_body().unwrap_err().contains("--network=ignored-second"));
    }

    #[test]
    fn names_mesos_gives_and_recognises() {
        let id = "a3a5ff8f-95d2-4d0c-8b3c-3b5a1c0ad7e1";
        assert_eq!(container_name(id), format!("mesos-{id}"));
        assert_eq!(parse_name(&format!("mesos-{id}")).as_deref(), Some(id));
        assert_eq!(parse_name(&format!("/mesos-{id}")).as_deref(), Some(id));
        assert_eq!(parse_name(&format!("mesos-S1.{id}")).as_deref(), Some(id));
        assert_eq!(parse_name(&format!("mesos-S1.{id}.executor")).as_deref(), Some(id));
        assert_eq!(parse_name("mesos-not-a-uuid"), None);
        assert_eq!(parse_name(&format!("other-{id}")), None);
    }
}
