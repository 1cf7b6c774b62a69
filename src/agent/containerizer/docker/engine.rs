//! The Docker Engine, through its API (bollard): the few calls the Docker
//! containerizer and `mesos-docker-executor` make, with errors turned into
//! the engine's own message text. Mesos drives the `docker` CLI instead; the
//! operations and their order are the same (`pull`, `run`, `inspect`,
//! `stop`, `kill`, `rm`, `ps`).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StatsOptions, StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;

use crate::proto::mesos::ResourceStatistics;

/// Seconds an API request may take before failing (waits and log streams
/// are long-lived responses whose headers come at once).
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// A connection to the engine, its API version negotiated.
#[derive(Clone, Debug)]
pub struct Engine {
    docker: Docker,
}

/// A container the engine has whose name says Mesos launched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub running: bool,
}

fn message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    }
}

impl Engine {
    /// Connects to the engine at `socket` (a path or `unix://` URL) and
    /// negotiates the API version (bollard's default is newer than 1.41).
    pub async fn connect(socket: &str) -> Result<Engine, String> {
        let docker = Docker::connect_with_unix(socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| format!("Failed to connect to the Docker daemon at '{socket}': {e}"))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| format!("Failed to get the Docker daemon's version at '{socket}': {}", message(e)))?;
        Ok(Engine { docker })
    }

    /// Mesos's `Docker::pull` as the containerizer calls it: with
    /// `force` always pull, else only when the image is not present.
    pub async fn pull(&self, image: &str, force: bool) -> Result<(), String> {
        if !force && self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let (name, tag) = split_image(image);
        let options = CreateImageOptions { from_image: Some(name), tag: Some(tag), ..Default::default() };
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                return Err(format!("Failed to pull image '{image}': {}", message(e)));
            }
        }
        if self.docker.inspect_image(image).await.is_err() {
            return Err(format!("Failed to pull image '{image}': the image is still not present"));
        }
        Ok(())
    }

    /// Creates and starts a container; returns its id.
    pub async fn run(&self, name: &str, body: ContainerCreateBody) -> Result<String, String> {
        let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        let created = self.docker.create_container(Some(options), body).await.map_err(message)?;
        if let Err(e) = self.docker.start_container(name, None).await {
            let _ = self.remove(name).await;
            return Err(message(e));
        }
        Ok(created.id)
    }

    /// Appends the container's output to `stdout` and `stderr` until it
    /// exits (what the `docker run` CLI does for Mesos's sandbox files).
    pub async fn follow_logs(&self, name: &str, stdout: &Path, stderr: &Path) {
        let open = |path: &Path| std::fs::OpenOptions::new().create(true).append(true).open(path);
        let (mut out, mut err) = match (open(stdout), open(stderr)) {
            (Ok(o), Ok(e)) => (o, e),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("Failed to open the sandbox output of container '{name}': {e}");
                return;
            }
        };
        let options =
            LogsOptions { follow: true, stdout: true, stderr: true, tail: "all".into(), ..Default::default() };
        let mut stream = self.docker.logs(name, Some(options));
        while let Some(item) = stream.next().await {
            let written = match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => out.write_all(&message),
                Ok(LogOutput::StdErr { message }) => err.write_all(&message),
                Ok(LogOutput::StdIn { .. }) => Ok(()),
                Err(e) => {
                    tracing::debug!("Log stream of container '{name}' ended: {}", message(e));
                    break;
                }
            };
            if let Err(e) = written {
                tracing::warn!("Failed to write the output of container '{name}': {e}");
            }
        }
    }

    /// Waits for the container to stop; its exit code.
    pub async fn wait(&self, name: &str) -> Result<i64, String> {
        let options = WaitContainerOptions { condition: "not-running".into() };
        let mut stream = self.docker.wait_container(name, Some(options));
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(message(e)),
            None => Err(format!("The wait for container '{name}' ended without a status")),
        }
    }

    /// The pid of the container's first process, if it runs.
    pub async fn pid(&self, name: &str) -> Result<Option<u32>, String> {
        let inspect = self.docker.inspect_container(name, None).await.map_err(message)?;
        Ok(inspect.state.and_then(|s| s.pid).filter(|p| *p > 0).map(|p| p as u32))
    }

    /// The container's IP addresses, one per network it is on.
    pub async fn addresses(&self, name: &str) -> Result<Vec<String>, String> {
        let inspect = self.docker.inspect_container(name, None).await.map_err(message)?;
        let networks = inspect.network_settings.and_then(|n| n.networks).unwrap_or_default();
        Ok(networks.values().filter_map(|n| n.ip_address.clone()).filter(|ip| !ip.is_empty()).collect())
    }

    /// A container's full id and the names of the networks it is on.
    pub async fn container_networks(&self, name: &str) -> Result<(String, Vec<String>), String> {
        let inspect = self.docker.inspect_container(name, None).await.map_err(message)?;
        let mut networks: Vec<String> =
            inspect.network_settings.and_then(|n| n.networks).map(|n| n.into_keys().collect()).unwrap_or_default();
        networks.sort();
        Ok((inspect.id.unwrap_or_default(), networks))
    }

    /// Sets cpu shares and the memory reservation, and raises (never
    /// lowers) the memory limit, as Mesos's containerizer updates a running
    /// Docker container's cgroups.
    pub async fn update(&self, name: &str, cpu_shares: Option<i64>, memory: Option<i64>) -> Result<(), String> {
        let inspect = self.docker.inspect_container(name, None).await.map_err(message)?;
        let current = inspect.host_config.and_then(|h| h.memory).unwrap_or(0);
        let body = bollard::models::ContainerUpdateBody {
            cpu_shares,
            memory_reservation: memory,
            memory: memory.filter(|m| current > 0 && *m > current),
            memory_swap: memory.filter(|m| current > 0 && *m > current).map(|_| -1),
            ..Default::default()
        };
        self.docker.update_container(name, body).await.map_err(message)
    }

    /// `docker stop -t <timeout>` (SIGTERM, SIGKILL after the timeout).
    pub async fn stop(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let options = StopContainerOptions { t: Some(timeout.as_secs().min(i32::MAX as u64) as i32), signal: None };
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            // Already stopped.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(message(e)),
        }
    }

    /// `docker kill --signal <signal>`.
    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), String> {
        let options = KillContainerOptions { signal: signal.to_string() };
        self.docker.kill_container(name, Some(options)).await.map_err(message)
    }

    /// `docker rm -f -v`.
    pub async fn remove(&self, name: &str) -> Result<(), String> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        self.docker.remove_container(name, Some(options)).await.map_err(message)
    }

    /// `docker ps -a` restricted to names starting with `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, String> {
        let filters = HashMap::from([("name".to_string(), vec![prefix.to_string()])]);
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let listed = self.docker.list_containers(Some(options)).await.map_err(message)?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let name = c.names.unwrap_or_default().into_iter().next()?.trim_start_matches('/').to_string();
                let running = c.state.map(|s| s.to_string() == "running").unwrap_or(false);
                name.starts_with(prefix).then(|| Listed { id: c.id.unwrap_or_default(), name, running })
            })
            .collect())
    }

    /// Usage of a running container from the engine's stats.
    pub async fn statistics(&self, name: &str) -> Result<ResourceStatistics, String> {
        let options = StatsOptions { stream: false, one_shot: false };
        let mut stream = self.docker.stats(name, Some(options));
        let stats = match stream.next().await {
            Some(Ok(stats)) => stats,
            Some(Err(e)) => return Err(message(e)),
            None => return Err(format!("No statistics for container '{name}'")),
        };
        let mut usage = ResourceStatistics {
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Some(cpu) = stats.cpu_stats.as_ref().and_then(|c| c.cpu_usage.as_ref()) {
            usage.cpus_user_time_secs = cpu.usage_in_usermode.map(|ns| ns as f64 / 1e9);
            usage.cpus_system_time_secs = cpu.usage_in_kernelmode.map(|ns| ns as f64 / 1e9);
        }
        if let Some(throttling) = stats.cpu_stats.as_ref().and_then(|c| c.throttling_data.as_ref()) {
            usage.cpus_nr_periods = throttling.periods.map(|v| v as u32);
            usage.cpus_nr_throttled = throttling.throttled_periods.map(|v| v as u32);
            usage.cpus_throttled_time_secs = throttling.throttled_time.map(|ns| ns as f64 / 1e9);
        }
        if let Some(memory) = &stats.memory_stats {
            let detail = memory.stats.clone().unwrap_or_default();
            usage.mem_total_bytes = memory.usage;
            usage.mem_limit_bytes = memory.limit;
            usage.mem_rss_bytes = detail.get("rss").or_else(|| detail.get("anon")).copied().or(memory.usage);
            usage.mem_cache_bytes = detail.get("cache").or_else(|| detail.get("file")).copied();
        }
        if let Some(networks) = &stats.networks {
            let sum = |f: fn(&bollard::models::ContainerNetworkStats) -> Option<u64>| {
                Some(networks.values().filter_map(f).sum::<u64>())
            };
            usage.net_rx_bytes = sum(|n| n.rx_bytes);
            usage.net_tx_bytes = sum(|n| n.tx_bytes);
            usage.net_rx_packets = sum(|n| n.rx_packets);
            usage.net_tx_packets = sum(|n| n.tx_packets);
            usage.net_rx_errors = sum(|n| n.rx_errors);
            usage.net_tx_errors = sum(|n| n.tx_errors);
            usage.net_rx_dropped = sum(|n| n.rx_dropped);
            usage.net_tx_dropped = sum(|n| n.tx_dropped);
        }
        usage.processes = stats.pids_stats.as_ref().and_then(|p| p.current).map(|v| v as u32);
        Ok(usage)
    }
}

/// `repo[:tag]` (a `:` inside the registry's `host:port` is not a tag).
fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_references() {
        assert_eq!(split_image("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_image("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(split_image("reg:5000/team/app"), ("reg:5000/team/app".into(), "latest".into()));
        assert_eq!(split_image("reg:5000/app:v2"), ("reg:5000/app".into(), "v2".into()));
    }
}
