//! Every flag of Mesos 1.11's `mesos-agent` (`src/slave/flags.cpp`, the
//! logging flags, and what the Mesos containerizer and fetcher read), with
//! Mesos's names, defaults and deprecated aliases, so operators keep their
//! command lines and `MESOS_*` environments.
//!
//! Flags fall in two groups:
//! - **implemented**: read by the agent, the containerizer or the fetcher
//!   ([`IMPLEMENTED`] names them, plus the containerizer's and fetcher's own
//!   tables);
//! - **accepted**: loaded, validated by kind and reported on `/flags`, but
//!   without effect yet (authentication, modules, Docker, network isolators,
//!   ...). The binary logs them once at start when they are set.
//!
//! Help texts are ours; the names, kinds, defaults and aliases are Mesos's.

use crate::agent::containerizer::mesos::config as containerizer_config;
use crate::common::flags::{FlagDef, Kind};
use crate::common::logging;

const fn f(name: &'static str, kind: Kind, default: Option<&'static str>, help: &'static str) -> FlagDef {
    FlagDef::new(name, kind, default, help)
}

/// The agent's own flags (without the containerizer's, fetcher's and
/// logging flags; see [`all`]).
pub const AGENT_FLAGS: &[FlagDef] = &[
    f("version", Kind::Bool, Some("false"), "Show version and exit."),
    f("hostname", Kind::String, None, "The hostname the agent reports to the master (default: looked up from --ip)."),
    f("hostname_lookup", Kind::Bool, Some("true"), "Whether to look up the hostname when --hostname is not set;\nwhen false the IP address is used."),
    f("resources", Kind::String, None, "Total consumable resources of this agent, in the text form\n(`cpus:4;mem(role):1024;ports:[31000-32000]`) or as a JSON array."),
    f("resource_provider_config_dir", Kind::Path, None, "Directory of local resource provider configurations."),
    f("csi_plugin_config_dir", Kind::Path, None, "Directory of CSI plugin configurations."),
    f("disk_profile_adaptor", Kind::String, None, "Name of the disk profile adaptor module."),
    f("image_providers", Kind::String, None, "Container image providers (e.g. `docker,appc`)."),
    f("image_provisioner_backend", Kind::String, None, "Root filesystem backend of the image provisioner."),
    f("image_gc_config", Kind::Json, None, "Image garbage collection configuration (JSON)."),
    f("appc_simple_discovery_uri_prefix", Kind::String, Some("http://"), "URI prefix for simple discovery of appc images."),
    f("appc_store_dir", Kind::Path, Some("/tmp/mesos/store/appc"), "Directory of the appc image store."),
    f("docker_registry", Kind::String, Some("https://registry-1.docker.io"), "Default Docker registry for the image provisioner."),
    f("docker_store_dir", Kind::Path, Some("/tmp/mesos/store/docker"), "Directory of the Docker image store."),
    f("docker_volume_checkpoint_dir", Kind::Path, Some("/var/run/mesos/isolators/docker/volume"), "Where Docker volume information is checkpointed."),
    f("docker_volume_chown", Kind::Bool, Some("false"), "Whether to chown Docker volumes to the task user."),
    f("docker_ignore_runtime", Kind::Bool, Some("false"), "Whether to ignore the runtime configuration of Docker images."),
    f("default_role", Kind::String, Some("*"), "Role of resources given without one in --resources, and of\nauto-detected resources."),
    f("attributes", Kind::String, None, "Attributes of the agent: `rack:2;os:ubuntu` (scalars, ranges, sets, text)."),
    f("work_dir", Kind::Path, None, "Directory for sandboxes and checkpointed state (e.g. /var/lib/mesos/agent).").required(),
    f("runtime_dir", Kind::Path, Some("/var/run/mesos"), "Directory for runtime state that must not survive a reboot."),
    f("launcher_dir", Kind::Path, None, "Directory of the Mesos helper binaries (mesos-executor,\nmesos-default-executor); default: the directory of this binary."),
    f("max_completed_executors_per_framework", Kind::Uint, Some("150"), "Completed executors kept in memory per framework."),
    f("volume_gid_range", Kind::String, None, "Range of gids for volumes shared by containers of different users."),
    f("http_heartbeat_interval", Kind::Duration, Some("30secs"), "Heartbeat interval of streaming agent API responses."),
    f("registration_backoff_factor", Kind::Duration, Some("1secs"), "Initial (re)registration delay is random in [0, factor]; retries back\noff exponentially up to 1mins."),
    f("authentication_backoff_factor", Kind::Duration, Some("1secs"), "Backoff factor of authentication retries."),
    f("authentication_timeout_min", Kind::Duration, Some("5secs"), "Minimum authentication timeout."),
    f("authentication_timeout_max", Kind::Duration, Some("1mins"), "Maximum authentication timeout."),
    f("executor_environment_variables", Kind::Json, None, "JSON object of environment variables (string values) given to executors."),
    f("executor_registration_timeout", Kind::Duration, Some("1mins"), "How long an executor may take to register before the agent kills it."),
    f("executor_reregistration_timeout", Kind::Duration, Some("2secs"), "After an agent restart, how long executors may take to reregister\n(at most 15secs)."),
    f("executor_reregistration_retry_interval", Kind::Duration, None, "Interval at which reconnect requests are resent to v0 executors during recovery."),
    f("executor_shutdown_grace_period", Kind::Duration, Some("5secs"), "Time from a shutdown request to the executor being killed."),
    f("jwt_secret_key", Kind::Path, None, "File with the key signing executor authentication tokens.").aliases(&["executor_secret_key"]),
    f("gc_delay", Kind::Duration, Some("1weeks"), "Maximum time before a finished sandbox is garbage collected."),
    f("gc_disk_headroom", Kind::Float, Some("0.1"), "Disk headroom used to shorten the garbage collection delay (0.0 to 1.0)."),
    f("gc_non_executor_container_sandboxes", Kind::Bool, Some("false"), "Whether to garbage collect sandboxes of nested containers."),
    f("disk_watch_interval", Kind::Duration, Some("1mins"), "Interval of disk usage checks."),
    f("container_logger", Kind::String, None, "Name of the container logger module."),
    f("recover", Kind::String, Some("reconnect"), "`reconnect`: reattach to live executors after a restart;\n`cleanup`: kill them and exit."),
    f("recovery_timeout", Kind::Duration, Some("15mins"), "How long executors wait for a restarted agent before exiting."),
    f("reconfiguration_policy", Kind::String, Some("equal"), "Which agent info changes are accepted at recovery: `equal` or `additive`."),
    f("strict", Kind::Bool, Some("true"), "Whether errors while reading checkpoints abort recovery."),
    f("cgroups_cpu_enable_pids_and_tids_count", Kind::Bool, Some("false"), "Whether to count processes and threads in cpu statistics."),
    f("cgroups_net_cls_primary_handle", Kind::String, None, "Primary handle of net_cls cgroups."),
    f("cgroups_net_cls_secondary_handles", Kind::String, None, "Range of secondary net_cls handles."),
    f("allowed_devices", Kind::Json, None, "Devices containers may access (JSON)."),
    f("agent_subsystems", Kind::String, None, "Cgroup subsystems the agent itself is limited by.").aliases(&["slave_subsystems"]),
    f("host_path_volume_force_creation", Kind::String, None, "Directories under which host path volumes may be created."),
    f("nvidia_gpu_devices", Kind::String, None, "GPU device ids to expose."),
    f("perf_events", Kind::String, None, "perf events sampled by the perf_event isolator."),
    f("perf_interval", Kind::Duration, Some("1mins"), "Interval between perf samples."),
    f("perf_duration", Kind::Duration, Some("10secs"), "Duration of one perf sample."),
    f("revocable_cpu_low_priority", Kind::Bool, Some("true"), "Run containers with revocable cpus at a lower priority."),
    f("systemd_enable_support", Kind::Bool, Some("true"), "Whether to integrate with systemd."),
    f("systemd_runtime_directory", Kind::Path, Some("/run/systemd/system"), "The systemd runtime directory."),
    f("effective_capabilities", Kind::Json, None, "Effective Linux capabilities of containers.").aliases(&["allowed_capabilities"]),
    f("bounding_capabilities", Kind::Json, None, "Bounding Linux capabilities of containers."),
    f("default_container_shm_size", Kind::Bytes, None, "Default size of /dev/shm in containers."),
    f("disallow_sharing_agent_ipc_namespace", Kind::Bool, Some("false"), "Refuse containers sharing the agent's IPC namespace."),
    f("disallow_sharing_agent_pid_namespace", Kind::Bool, Some("false"), "Refuse containers sharing the agent's PID namespace."),
    f("agent_features", Kind::Json, None, "Agent capabilities to advertise (JSON `{\"capabilities\": [...]}`)."),
    f("firewall_rules", Kind::Json, None, "Endpoints to disable (JSON)."),
    f("credential", Kind::Path, None, "File with the credential used to authenticate with the master."),
    f("acls", Kind::Json, None, "Access control lists (JSON)."),
    f("containerizers", Kind::String, Some("mesos"), "Containerizers to use, in order (`mesos`, `docker`)."),
    f("docker", Kind::String, Some("docker"), "Path of the docker executable."),
    f("docker_remove_delay", Kind::Duration, Some("6hrs"), "Delay before removing finished Docker containers."),
    f("docker_kill_orphans", Kind::Bool, Some("true"), "Whether to kill orphaned Docker containers."),
    f("docker_mesos_image", Kind::String, None, "Docker image the agent runs in, if any."),
    f("docker_socket", Kind::String, Some("/var/run/docker.sock"), "The Docker daemon socket."),
    f("docker_config", Kind::Json, None, "Docker credentials configuration (JSON)."),
    f("sandbox_directory", Kind::Path, Some("/mnt/mesos/sandbox"), "Where the sandbox is mapped inside containers with their own root filesystem."),
    f("domain_socket_location", Kind::Path, None, "Unix domain socket for HTTP executors."),
    f("default_container_dns", Kind::Json, None, "Default DNS of containers (JSON)."),
    f("default_container_info", Kind::Json, None, "ContainerInfo given to executors that have none (JSON)."),
    f("docker_stop_timeout", Kind::Duration, Some("0ns"), "Grace period of `docker stop`."),
    f("ephemeral_ports_per_container", Kind::Uint, Some("1024"), "Ephemeral ports per container (port mapping isolator)."),
    f("eth0_name", Kind::String, None, "Name of the public interface (port mapping isolator)."),
    f("lo_name", Kind::String, None, "Name of the loopback interface (port mapping isolator)."),
    f("egress_rate_limit_per_container", Kind::Bytes, None, "Egress rate limit per container (port mapping isolator)."),
    f("egress_unique_flow_per_container", Kind::Bool, Some("false"), "One egress flow per container (port mapping isolator)."),
    f("egress_flow_classifier_parent", Kind::String, Some("root"), "Parent of the egress flow classifier (port mapping isolator)."),
    f("network_enable_socket_statistics_summary", Kind::Bool, Some("false"), "Collect socket statistics summaries."),
    f("network_enable_socket_statistics_details", Kind::Bool, Some("false"), "Collect detailed socket statistics."),
    f("network_enable_snmp_statistics", Kind::Bool, Some("false"), "Collect SNMP statistics."),
    f("container_ports_watch_interval", Kind::Duration, Some("30secs"), "Interval of the network/ports isolator's scans."),
    f("check_agent_port_range_only", Kind::Bool, Some("false"), "Only police ports within the agent's port range."),
    f("enforce_container_ports", Kind::Bool, Some("false"), "Kill containers listening on ports they were not given."),
    f("container_ports_isolated_range", Kind::String, None, "Port range the network/ports isolator polices."),
    f("network_cni_plugins_dir", Kind::String, None, "Directories of CNI plugins."),
    f("network_cni_config_dir", Kind::Path, None, "Directory of CNI network configurations."),
    f("network_cni_root_dir_persist", Kind::Bool, Some("false"), "Keep the CNI root directory across reboots."),
    f("network_cni_metrics", Kind::Bool, Some("true"), "Collect CNI network statistics."),
    f("container_disk_watch_interval", Kind::Duration, Some("15secs"), "Interval of container disk usage checks."),
    f("enforce_container_disk_quota", Kind::Bool, Some("false"), "Kill containers exceeding their disk quota."),
    f("modules", Kind::Json, None, "Modules to load (JSON)."),
    f("modules_dir", Kind::Path, None, "Directory of module configuration files."),
    f("authenticatee", Kind::String, Some("crammd5"), "Authenticatee used with the master."),
    f("authorizer", Kind::String, Some("local"), "Authorizer used for agent actions."),
    f("http_authenticators", Kind::String, None, "HTTP authenticators (comma separated)."),
    f("authenticate_http_readwrite", Kind::Bool, Some("false"), "Require authentication for read-write endpoints."),
    f("authenticate_http_readonly", Kind::Bool, Some("false"), "Require authentication for read-only endpoints."),
    f("authenticate_http_executors", Kind::Bool, Some("false"), "Require authentication of HTTP executors."),
    f("http_executor_domain_sockets", Kind::Bool, Some("false"), "Serve HTTP executors on a Unix domain socket."),
    f("http_credentials", Kind::Path, None, "File with credentials for HTTP authentication."),
    f("hooks", Kind::String, None, "Hook modules to install."),
    f("secret_resolver", Kind::String, None, "Secret resolver module."),
    f("resource_estimator", Kind::String, None, "Resource estimator module (oversubscription)."),
    f("qos_controller", Kind::String, None, "QoS controller module (oversubscription)."),
    f("qos_correction_interval_min", Kind::Duration, Some("0ns"), "Minimum interval of QoS corrections."),
    f("oversubscribed_resources_interval", Kind::Duration, Some("15secs"), "Interval of oversubscribed resource updates."),
    f("master_detector", Kind::String, None, "Master detector module (instead of --master)."),
    f("xfs_project_range", Kind::String, Some("[5000-10000]"), "XFS project ids used for disk quotas."),
    f("xfs_kill_containers", Kind::Bool, Some("false"), "Kill containers exceeding their XFS quota."),
    f("seccomp_config_dir", Kind::Path, None, "Directory of Seccomp profiles."),
    f("seccomp_profile_name", Kind::String, None, "Default Seccomp profile."),
    f("http_command_executor", Kind::Bool, Some("false"), "Launch the command executor with the HTTP API (ours always uses it)."),
    f("domain", Kind::Json, None, "Fault domain of the agent (JSON DomainInfo)."),
    f("ip", Kind::String, None, "IP address to listen on (LIBPROCESS_IP)."),
    f("ip6", Kind::String, None, "IPv6 address to listen on."),
    f("port", Kind::Uint, Some("5051"), "Port to listen on."),
    f("advertise_ip", Kind::String, None, "IP address advertised to reach the agent (LIBPROCESS_ADVERTISE_IP)."),
    f("advertise_port", Kind::String, None, "Port advertised to reach the agent (LIBPROCESS_ADVERTISE_PORT)."),
    f("master", Kind::String, None, "The master: `host:port`, `zk://host1:port1,.../path`,\n`zk://user:pass@host1:port1,.../path`, or `file:///path` holding one of these."),
    f("zk_session_timeout", Kind::Duration, Some("10secs"), "ZooKeeper session timeout."),
    f("ip_discovery_command", Kind::String, None, "Command printing the IP address to listen on."),
    f("ip6_discovery_command", Kind::String, None, "Command printing the IPv6 address to listen on."),
    f("memory_profiling", Kind::Bool, Some("false"), "Enable memory profiling."),
];

/// Agent flags with an effect today (beyond the containerizer's and the
/// fetcher's, which implement their own). Everything else is accepted only.
pub const IMPLEMENTED: &[&str] = &[
    "version",
    "hostname",
    "hostname_lookup",
    "resources",
    "default_role",
    "attributes",
    "work_dir",
    "launcher_dir",
    "max_completed_executors_per_framework",
    "docker",
    "docker_socket",
    "docker_stop_timeout",
    "docker_remove_delay",
    "docker_kill_orphans",
    "docker_mesos_image",
    "sandbox_directory",
    "registration_backoff_factor",
    "executor_environment_variables",
    "executor_registration_timeout",
    "executor_reregistration_timeout",
    "executor_reregistration_retry_interval",
    "executor_shutdown_grace_period",
    "gc_delay",
    "recover",
    "recovery_timeout",
    "reconfiguration_policy",
    "strict",
    "agent_features",
    "containerizers",
    "default_container_info",
    "http_command_executor",
    "domain",
    "ip",
    "port",
    "advertise_ip",
    "advertise_port",
    "master",
    "zk_session_timeout",
    "ip_discovery_command",
    "quiet",
    "logging_level",
    "log_dir",
    "logbufsecs",
    "external_log_file",
    "initialize_driver_logging",
];

/// The complete table: the agent's flags, the Mesos containerizer's and the
/// fetcher's, and the logging flags every Mesos daemon takes.
pub fn all() -> Vec<FlagDef> {
    let mut defs: Vec<FlagDef> = AGENT_FLAGS.to_vec();
    defs.extend(containerizer_config::all_flags());
    defs.extend(logging::FLAGS.iter().cloned());
    defs
}

/// Names of flags the operator set that have no effect yet.
pub fn accepted_only(flags: &crate::common::flags::Flags) -> Vec<&'static str> {
    let implemented_elsewhere: Vec<&'static str> = containerizer_config::all_flags().iter().map(|d| d.name).collect();
    AGENT_FLAGS
        .iter()
        .map(|d| d.name)
        .filter(|n| !IMPLEMENTED.contains(n) && !implemented_elsewhere.contains(n))
        .filter(|n| flags.is_set(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::flags::Flags;
    use std::collections::BTreeSet;

    fn load(args: &[&str]) -> Result<Flags, crate::common::flags::FlagsError> {
        Flags::load("mesos-agent", &all(), args, Vec::<(String, String)>::new(), Some("MESOS_"))
    }

    #[test]
    fn names_are_unique_and_every_implemented_name_exists() {
        let defs = all();
        let names: BTreeSet<&str> = defs.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), defs.len(), "duplicate flag names");
        for name in IMPLEMENTED {
            assert!(names.contains(name), "{name}");
        }
        // Mesos 1.11's 143 agent flags (slave/flags.cpp on Linux, with the
        // optional isolators) and the six logging flags.
        assert_eq!(defs.len(), 149, "{}", defs.len());
    }

    #[test]
    fn mesos_defaults_aliases_and_required_work_dir() {
        let e = load(&[]).unwrap_err().0;
        assert_eq!(e, "Flag 'work_dir' is required, but it was not provided");
        let f = load(&["--work_dir=/w", "--slave_subsystems=cpu", "--executor_secret_key=/k"]).unwrap();
        assert_eq!(f.get::<u16>("port").unwrap(), 5051);
        assert_eq!(f.get::<String>("recover").unwrap(), "reconnect");
        assert_eq!(f.get::<String>("default_role").unwrap(), "*");
        assert_eq!(f.get::<String>("isolation").unwrap(), "posix/cpu,posix/mem");
        assert_eq!(f.get::<String>("agent_subsystems").unwrap(), "cpu");
        assert_eq!(f.warnings.len(), 2);
        let effective = f.effective();
        assert_eq!(effective["executor_registration_timeout"], "1mins");
        assert_eq!(effective["executor_reregistration_timeout"], "2secs");
        assert_eq!(effective["gc_delay"], "1weeks");
        assert_eq!(load(&["--work_dir=/w", "--bogus"]).unwrap_err().0, "Failed to load unknown flag 'bogus'");
    }

    #[test]
    fn accepted_only_lists_what_is_set_but_unused() {
        let f = load(&["--work_dir=/w", "--docker_config={}", "--docker_remove_delay=1hrs", "--port=1"]).unwrap();
        assert_eq!(accepted_only(&f), vec!["docker_config"]);
    }
}
