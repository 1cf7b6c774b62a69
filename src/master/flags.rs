//! The flags of Mesos 1.11's `mesos-master` (`src/master/flags.cpp` plus the
//! logging flags), with their names, defaults and deprecated aliases, and
//! the translation into a [`Config`].
//!
//! Every flag is accepted. Those this master cannot honour are of two kinds:
//! harmless ones (modules, hooks, sorters, ...) are reported in `/flags` and
//! a warning says they have no effect; security ones (authentication,
//! authorization, HA) refuse to start, because silently ignoring them would
//! leave the cluster open or split-brained. See [`unsupported`].

use std::time::Duration;

use crate::common::flags::{FlagDef, Flags, Kind};
use crate::common::logging;
use crate::common::units::{format_duration, parse_duration};
use crate::master::allocator::{self, parse_min_allocatable_resources, parse_weights, RoleWhitelist};
use crate::proto::mesos::DomainInfo;
use crate::v0_compat::Upid;

use super::config::{Config, MIN_AGENT_REREGISTER_TIMEOUT};

const MASTER_FLAGS: &[FlagDef] = &[
    FlagDef::new("version", Kind::Bool, Some("false"), "Show version and exit."),
    FlagDef::new(
        "hostname",
        Kind::String,
        None,
        "The hostname the master should advertise in ZooKeeper.\nIf left unset, the hostname is resolved from the IP \
         address\nthat the master advertises; unless the user explicitly prevents\nthat, using `--no-hostname_lookup`, \
         in which case the IP itself\nis used.",
    ),
    FlagDef::new(
        "hostname_lookup",
        Kind::Bool,
        Some("true"),
        "Whether we should execute a lookup to find out the server's hostname,\nif not explicitly set (via, e.g., \
         `--hostname`).",
    ),
    FlagDef::new("root_submissions", Kind::Bool, Some("true"), "Can root submit frameworks?"),
    FlagDef::new(
        "work_dir",
        Kind::Path,
        None,
        "Path of the master work directory. This is where the persistent\ninformation of the cluster will be stored.",
    ),
    FlagDef::new(
        "registry",
        Kind::String,
        Some("replicated_log"),
        "Persistence strategy for the registry;\navailable options are `replicated_log`, `in_memory` (for testing).",
    ),
    FlagDef::new(
        "quorum",
        Kind::Int,
        None,
        "The size of the quorum of replicas when using `replicated_log` based\nregistry.",
    ),
    FlagDef::new("zk_session_timeout", Kind::Duration, Some("10secs"), "ZooKeeper session timeout."),
    FlagDef::new(
        "registry_strict",
        Kind::Bool,
        Some("false"),
        "Whether the master will take actions based on the persistent\ninformation stored in the Registry.\nNOTE: \
         This flag is *disabled*.",
    ),
    FlagDef::new(
        "registry_fetch_timeout",
        Kind::Duration,
        Some("1mins"),
        "Duration of time to wait in order to fetch data from the registry\nafter which the operation is considered \
         a failure.",
    ),
    FlagDef::new(
        "registry_store_timeout",
        Kind::Duration,
        Some("20secs"),
        "Duration of time to wait in order to store data in the registry\nafter which the operation is considered \
         a failure.",
    ),
    FlagDef::new(
        "log_auto_initialize",
        Kind::Bool,
        Some("true"),
        "Whether to automatically initialize the replicated log used for the\nregistry.",
    ),
    FlagDef::new(
        "agent_reregister_timeout",
        Kind::Duration,
        Some("10mins"),
        "The timeout within which an agent is expected to reregister.\nNOTE: This value has to be at least 10mins.",
    )
    .aliases(&["slave_reregister_timeout"]),
    FlagDef::new(
        "recovery_agent_removal_limit",
        Kind::String,
        Some("100%"),
        "For failovers, limit on the percentage of agents that can be removed\nfrom the registry *and* shutdown \
         after the re-registration timeout\nelapses.\nValues: [0%-100%]",
    )
    .aliases(&["recovery_slave_removal_limit"]),
    FlagDef::new(
        "agent_removal_rate_limit",
        Kind::String,
        None,
        "The maximum rate (e.g., `1/10mins`, `2/3hrs`, etc) at which agents\nwill be removed from the master when \
         they fail health checks.",
    )
    .aliases(&["slave_removal_rate_limit"]),
    FlagDef::new(
        "webui_dir",
        Kind::Path,
        Some("/usr/local/share/mesos/webui"),
        "Directory path of the webui files/assets",
    ),
    FlagDef::new(
        "whitelist",
        Kind::Path,
        None,
        "Path to a file which contains a list of agents (one per line) to\nadvertise offers for.",
    ),
    FlagDef::new(
        "role_sorter",
        Kind::String,
        Some("drf"),
        "Policy to use for allocating resources between roles. May be one of: [drf, random]",
    )
    .aliases(&["user_sorter"]),
    FlagDef::new(
        "framework_sorter",
        Kind::String,
        Some("drf"),
        "Policy to use for allocating resources between a given role's\nframeworks.",
    ),
    FlagDef::new(
        "allocation_interval",
        Kind::Duration,
        Some("1secs"),
        "Amount of time to wait between performing\n (batch) allocations (e.g., 500ms, 1sec, etc).",
    ),
    FlagDef::new("cluster", Kind::String, None, "Human readable name for the cluster, displayed in the webui."),
    FlagDef::new(
        "roles",
        Kind::String,
        None,
        "A comma-separated list of the allocation roles that frameworks\nin this cluster may belong to. This flag is \
         deprecated.",
    ),
    FlagDef::new(
        "weights",
        Kind::String,
        None,
        "A comma-separated list of role/weight pairs of the form\n`role=weight,role=weight`.",
    ),
    FlagDef::new(
        "authenticate_frameworks",
        Kind::Bool,
        Some("false"),
        "If `true`, only authenticated frameworks are allowed to register.",
    )
    .aliases(&["authenticate"]),
    FlagDef::new(
        "authenticate_agents",
        Kind::Bool,
        Some("false"),
        "If `true`, only authenticated agents are allowed to register.",
    )
    .aliases(&["authenticate_slaves"]),
    FlagDef::new(
        "authentication_v0_timeout",
        Kind::Duration,
        Some("15secs"),
        "The timeout within which an authentication is expected\nto complete against a v0 framework or agent.",
    ),
    FlagDef::new(
        "authenticate_http_readwrite",
        Kind::Bool,
        Some("false"),
        "If `true`, only authenticated requests for read-write HTTP endpoints\nsupporting authentication are allowed.",
    )
    .aliases(&["authenticate_http"]),
    FlagDef::new(
        "authenticate_http_readonly",
        Kind::Bool,
        Some("false"),
        "If `true`, only authenticated requests for read-only HTTP endpoints\nsupporting authentication are allowed.",
    ),
    FlagDef::new(
        "authenticate_http_frameworks",
        Kind::Bool,
        Some("false"),
        "If `true`, only authenticated HTTP frameworks are allowed to register.",
    ),
    FlagDef::new("credentials", Kind::Path, None, "Path to a JSON-formatted file containing credentials."),
    FlagDef::new("acls", Kind::String, None, "The value could be a JSON-formatted string of ACLs\nor a file path."),
    FlagDef::new(
        "firewall_rules",
        Kind::String,
        None,
        "The value could be a JSON-formatted string of rules or a\nfile path containing the JSON-formatted rules.",
    ),
    FlagDef::new(
        "rate_limits",
        Kind::String,
        None,
        "The value could be a JSON-formatted string of rate limits\nor a file path.",
    ),
    FlagDef::new(
        "offer_timeout",
        Kind::Duration,
        None,
        "Duration of time before an offer is rescinded from a framework.\nIf not set, offers do not timeout.",
    ),
    FlagDef::new(
        "modules",
        Kind::String,
        None,
        "List of modules to be loaded and be available to the internal\nsubsystems.",
    ),
    FlagDef::new("modules_dir", Kind::Path, None, "Directory path of the module manifest files."),
    FlagDef::new(
        "authenticators",
        Kind::String,
        Some("crammd5"),
        "Authenticator implementation to use when authenticating frameworks\nand/or agents.",
    ),
    FlagDef::new(
        "allocator",
        Kind::String,
        Some("hierarchical"),
        "Allocator to use for resource allocation to frameworks.",
    ),
    FlagDef::new(
        "allocator_agent_recovery_factor",
        Kind::Float,
        Some("0.8"),
        "Minimum fraction of known agents re-registered after leader election\nfor the allocator to start \
         generating offers.",
    ),
    FlagDef::new(
        "allocator_recovery_timeout",
        Kind::Duration,
        Some("10mins"),
        "Maximum time to wait before sending offers after a leader\nre-election.",
    ),
    FlagDef::new(
        "fair_sharing_excluded_resource_names",
        Kind::String,
        None,
        "A comma-separated list of the resource names (e.g. 'gpus')\nthat will be excluded from fair sharing \
         constraints.",
    ),
    FlagDef::new(
        "filter_gpu_resources",
        Kind::Bool,
        Some("true"),
        "When set to true, offers from agents with GPU resources are only sent\nto frameworks that opt into the \
         `GPU_RESOURCES` capability.",
    ),
    FlagDef::new(
        "min_allocatable_resources",
        Kind::String,
        Some("cpus:0.01|mem:32"),
        "One or more sets of resource quantities that define the minimum\nallocatable resources for the allocator.",
    ),
    FlagDef::new("hooks", Kind::String, None, "A comma-separated list of hook modules to be\ninstalled inside master."),
    FlagDef::new(
        "agent_ping_timeout",
        Kind::Duration,
        Some("15secs"),
        "The timeout within which an agent is expected to respond to a\nping from the master.",
    )
    .aliases(&["slave_ping_timeout"]),
    FlagDef::new(
        "max_agent_ping_timeouts",
        Kind::Uint,
        Some("5"),
        "The number of times an agent can fail to respond to a\nping from the master.",
    )
    .aliases(&["max_slave_ping_timeouts"]),
    FlagDef::new(
        "authorizers",
        Kind::String,
        Some("local"),
        "Authorizer implementation to use when authorizing actions that\nrequire it.",
    ),
    FlagDef::new(
        "http_authenticators",
        Kind::String,
        Some("basic"),
        "HTTP authenticator implementation to use when handling requests to\nauthenticated endpoints.",
    ),
    FlagDef::new(
        "http_framework_authenticators",
        Kind::String,
        None,
        "HTTP authenticator implementation to use when authenticating HTTP\nframeworks.",
    ),
    FlagDef::new(
        "max_operator_event_stream_subscribers",
        Kind::Uint,
        Some("1000"),
        "Maximum number of simultaneous subscribers to the master's operator\nevent stream.",
    ),
    FlagDef::new(
        "max_completed_frameworks",
        Kind::Uint,
        Some("50"),
        "Maximum number of completed frameworks to store in memory.",
    ),
    FlagDef::new(
        "max_completed_tasks_per_framework",
        Kind::Uint,
        Some("1000"),
        "Maximum number of completed tasks per framework to store in memory.",
    ),
    FlagDef::new(
        "max_unreachable_tasks_per_framework",
        Kind::Uint,
        Some("1000"),
        "Maximum number of unreachable tasks per framework to store in memory.",
    ),
    FlagDef::new("master_contender", Kind::String, None, "The symbol name of the master contender to use."),
    FlagDef::new("master_detector", Kind::String, None, "The symbol name of the master detector to use."),
    FlagDef::new("registry_gc_interval", Kind::Duration, Some("15mins"), "How often to garbage collect the registry."),
    FlagDef::new(
        "registry_max_agent_age",
        Kind::Duration,
        Some("2weeks"),
        "Maximum length of time to store information in the registry about\nagents that are not currently connected \
         to the cluster.",
    ),
    FlagDef::new(
        "registry_max_agent_count",
        Kind::Uint,
        Some("102400"),
        "Maximum number of partitioned/gone agents to store in the\nregistry.",
    ),
    FlagDef::new("ip", Kind::String, None, "IP address to listen on."),
    FlagDef::new("port", Kind::Uint, Some("5050"), "Port to listen on."),
    FlagDef::new("advertise_ip", Kind::String, None, "IP address advertised to reach this Mesos master."),
    FlagDef::new("advertise_port", Kind::String, None, "Port advertised to reach Mesos master."),
    FlagDef::new("memory_profiling", Kind::Bool, Some("false"), "Whether memory profiling of libprocess is exposed."),
    FlagDef::new("zk", Kind::String, None, "ZooKeeper URL (used for leader election amongst masters)."),
    FlagDef::new(
        "ip_discovery_command",
        Kind::String,
        None,
        "Optional IP discovery binary: if set, it is expected to emit\nthe IP address which the master will try to \
         bind to.",
    ),
    FlagDef::new(
        "require_agent_domain",
        Kind::Bool,
        Some("false"),
        "If true, only agents with a configured domain can register.",
    ),
    FlagDef::new(
        "publish_per_framework_metrics",
        Kind::Bool,
        Some("true"),
        "If true, an extensive set of metrics for each active framework will\nbe published.",
    ),
    FlagDef::new("domain", Kind::Json, None, "Domain that the master belongs to."),
    FlagDef::new(
        "offer_constraints_re2_max_mem",
        Kind::Bytes,
        Some("4KB"),
        "Limit on the memory usage of each RE2 regular expression in\nframework's offer constraints.",
    ),
    FlagDef::new(
        "offer_constraints_re2_max_program_size",
        Kind::Int,
        Some("100"),
        "Limit on the RE2 program size of each regular expression in\nframework's offer constraints.",
    ),
];

/// Every flag `mesos-master` accepts: the master's and the logging ones.
pub fn definitions() -> Vec<FlagDef> {
    let mut defs: Vec<FlagDef> = MASTER_FLAGS.to_vec();
    defs.extend(logging::FLAGS.iter().cloned());
    defs
}

/// Loads the flags from the command line and `MESOS_*` environment.
pub fn load<A: IntoIterator<Item = S>, S: AsRef<str>>(
    args: A,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Flags, crate::common::flags::FlagsError> {
    Flags::load("mesos-master", &definitions(), args, env, Some("MESOS_"))
}

/// Flags this master accepts but does not act on (when set to anything but
/// their default), with what happens instead.
pub fn unsupported(flags: &Flags) -> Vec<String> {
    let mut out = Vec::new();
    let ignored = [
        ("agent_removal_rate_limit", "agents are removed without rate limiting"),
        ("firewall_rules", "no endpoint is disabled"),
        ("rate_limits", "frameworks are not rate limited"),
        ("modules", "modules cannot be loaded"),
        ("modules_dir", "modules cannot be loaded"),
        ("hooks", "hooks cannot be installed"),
        ("http_framework_authenticators", "the v1 scheduler API is not served yet"),
        ("master_contender", "modules cannot be loaded"),
        ("master_detector", "modules cannot be loaded"),
        ("webui_dir", "the web UI is not served"),
    ];
    for (name, effect) in ignored {
        if flags.is_set(name) {
            out.push(format!("--{name} is not supported by this master and has no effect: {effect}"));
        }
    }
    for (name, default) in [
        ("allocator", "hierarchical"),
        ("role_sorter", "drf"),
        ("framework_sorter", "drf"),
        ("authenticators", "crammd5"),
        ("http_authenticators", "basic"),
    ] {
        if flags.raw(name).is_some_and(|v| v != default) {
            out.push(format!(
                "--{name}={} is not supported by this master; using '{default}'",
                flags.raw(name).unwrap_or("")
            ));
        }
    }
    out
}

/// Settings whose effect this master cannot provide and must not fake:
/// authentication, authorization and ZooKeeper leader election.
pub fn refused(flags: &Flags) -> Option<String> {
    for name in [
        "authenticate_frameworks",
        "authenticate_agents",
        "authenticate_http_readwrite",
        "authenticate_http_readonly",
        "authenticate_http_frameworks",
    ] {
        if flags.get::<bool>(name).unwrap_or(false) {
            return Some(format!(
                "--{name} is set, but this master cannot authenticate (no CRAM-MD5 or HTTP authenticator); refusing \
                 to start rather than accept unauthenticated peers"
            ));
        }
    }
    if flags.is_set("acls") || flags.raw("authorizers").is_some_and(|a| a != "local") {
        return Some("--acls/--authorizers are set, but this master has no authorizer; refusing to start".into());
    }
    None
}

/// Where the registry lives, as `--registry`, `--work_dir`, `--zk` and
/// `--quorum` select it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryBackend {
    /// `--registry=in_memory`: lost when the master exits.
    InMemory,
    /// `--registry=replicated_log` without `--zk`: a file under `--work_dir`.
    Local { work_dir: String },
    /// `--registry=replicated_log` with `--zk`: in ZooKeeper, under
    /// `<zk path>/log_replicas/registry` (see `master::zk_store`).
    ZooKeeper { work_dir: String, quorum: usize },
}

/// Mesos's startup checks on the registry and election flags (its
/// `master/main.cpp`), with its messages: `--zk` excludes the
/// `--master_contender`/`--master_detector` pair, and a replicated-log
/// registry needs `--work_dir`, plus `--quorum` when `--zk` is given.
/// `--quorum` is accepted and checked but has no further effect: the
/// registry is kept in ZooKeeper, whose own quorum makes it durable.
pub fn registry_backend(flags: &Flags) -> Result<RegistryBackend, String> {
    if flags.is_set("zk") && (flags.is_set("master_contender") || flags.is_set("master_detector")) {
        return Err("Only one of --zk or the --master_contender/--master_detector pair should be specified.".into());
    }
    let quorum = match flags.raw("quorum") {
        Some(q) => Some(
            q.trim()
                .parse::<usize>()
                .map_err(|_| format!("Failed to load flag 'quorum': Failed to convert '{q}' to number"))?,
        ),
        None => None,
    };
    match flags.raw("registry").unwrap_or("replicated_log") {
        "in_memory" => Ok(RegistryBackend::InMemory),
        "replicated_log" | "log_storage" => {
            let Some(work_dir) = flags.raw("work_dir") else {
                return Err("--work_dir needed for replicated log based registry".into());
            };
            let work_dir = work_dir.to_string();
            if !flags.is_set("zk") {
                return Ok(RegistryBackend::Local { work_dir });
            }
            let Some(quorum) = quorum else {
                return Err("Need to specify --quorum for replicated log based registry when using ZooKeeper".into());
            };
            Ok(RegistryBackend::ZooKeeper { work_dir, quorum })
        }
        other => Err(format!("'{other}' is not a supported option for registry persistence")),
    }
}

/// Builds the state machine's [`Config`] from validated flags, with Mesos's
/// startup checks and their messages. `pid` is the advertised master pid,
/// `hostname` as resolved by the caller, `id` a fresh UUID.
pub fn config(flags: &Flags, id: String, pid: Upid, hostname: String, seed: u64) -> Result<Config, String> {
    let get_duration = |name: &str| flags.get::<Duration>(name).map_err(|e| e.0);
    let agent_reregister_timeout = get_duration("agent_reregister_timeout")?;
    if agent_reregister_timeout < MIN_AGENT_REREGISTER_TIMEOUT {
        return Err(format!(
            "Invalid value '{}' for --agent_reregister_timeout: Must be at least {}",
            format_duration(agent_reregister_timeout),
            format_duration(MIN_AGENT_REREGISTER_TIMEOUT)
        ));
    }
    let limit_text = flags.raw("recovery_agent_removal_limit").unwrap_or("100%");
    let Some(number) = limit_text.strip_suffix('%') else {
        return Err(format!("Invalid value '{limit_text}' for --recovery_agent_removal_percent_limit: missing '%'"));
    };
    let limit: f64 = number.trim().parse().map_err(|_| {
        format!("Invalid value '{limit_text}' for --recovery_agent_removal_percent_limit: Failed to convert '{number}' to number")
    })?;
    if !(0.0..=100.0).contains(&limit) {
        return Err(format!(
            "Invalid value '{limit_text}' for --recovery_agent_removal_percent_limit: Must be within [0%-100%]"
        ));
    }
    let offer_timeout = flags.opt::<Duration>("offer_timeout").map_err(|e| e.0)?;
    if offer_timeout.is_some_and(|t| t.is_zero()) {
        return Err(format!(
            "Invalid value '{}' for --offer_timeout: Must be greater than zero",
            flags.raw("offer_timeout").unwrap_or("")
        ));
    }
    let agent_ping_timeout = get_duration("agent_ping_timeout")?;
    if agent_ping_timeout < Duration::from_secs(1) || agent_ping_timeout > Duration::from_secs(15 * 60) {
        return Err("Expected `--agent_ping_timeout` to be between 1secs and 15mins".into());
    }
    let max_agent_ping_timeouts = flags.get::<u32>("max_agent_ping_timeouts").map_err(|e| e.0)?;
    if max_agent_ping_timeouts < 1 {
        return Err("Expected `--max_agent_ping_timeouts` to be at least 1".into());
    }
    if flags.get::<bool>("registry_strict").unwrap_or(false) {
        return Err(
            "Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos".into(),
        );
    }
    let registry = flags.raw("registry").unwrap_or("replicated_log");
    if !matches!(registry, "in_memory" | "replicated_log" | "log_storage") {
        return Err(format!("'{registry}' is not a supported option for registry persistence"));
    }
    let roles = RoleWhitelist::parse(flags.raw("roles"))?;
    let weights = match flags.raw("weights") {
        Some(w) => parse_weights(w, &roles)?,
        None => Vec::new(),
    };
    let domain = match flags.raw("domain") {
        None => None,
        Some(text) => {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("Failed to load flag 'domain': {e}"))?;
            let domain: DomainInfo =
                crate::http_api::json::from_value(&json).map_err(|e| format!("Failed to load flag 'domain': {e}"))?;
            if domain.fault_domain.is_none() {
                return Err("Failed to load flag 'domain': `domain` must define `fault_domain`".into());
            }
            Some(domain)
        }
    };
    let min_allocatable = parse_min_allocatable_resources(flags.raw("min_allocatable_resources").unwrap_or(""))?;
    let excluded = flags
        .raw("fair_sharing_excluded_resource_names")
        .map(|s| s.split(',').filter(|n| !n.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let allocation_interval = get_duration("allocation_interval")?;
    let allocator = allocator::Options {
        allocation_interval,
        fairness_excluded_resource_names: excluded,
        filter_gpu_resources: flags.get::<bool>("filter_gpu_resources").unwrap_or(true),
        domain: domain.clone(),
        min_allocatable_resources: min_allocatable,
        recovery_timeout: get_duration("allocator_recovery_timeout")?,
        agent_recovery_factor: flags.get::<f64>("allocator_agent_recovery_factor").map_err(|e| e.0)?,
        seed,
    };
    Ok(Config {
        id,
        pid,
        hostname,
        domain,
        cluster: flags.raw("cluster").map(String::from),
        root_submissions: flags.get::<bool>("root_submissions").unwrap_or(true),
        roles,
        weights,
        offer_timeout,
        agent_ping_timeout,
        max_agent_ping_timeouts,
        agent_reregister_timeout,
        recovery_agent_removal_limit: limit / 100.0,
        max_completed_frameworks: flags.get::<usize>("max_completed_frameworks").map_err(|e| e.0)?,
        max_completed_tasks_per_framework: flags.get::<usize>("max_completed_tasks_per_framework").map_err(|e| e.0)?,
        max_unreachable_tasks_per_framework: flags
            .get::<usize>("max_unreachable_tasks_per_framework")
            .map_err(|e| e.0)?,
        registry_gc_interval: get_duration("registry_gc_interval")?,
        registry_max_agent_age: get_duration("registry_max_agent_age")?,
        registry_max_agent_count: flags.get::<usize>("registry_max_agent_count").map_err(|e| e.0)?,
        require_agent_domain: flags.get::<bool>("require_agent_domain").unwrap_or(false),
        authenticate_frameworks: flags.get::<bool>("authenticate_frameworks").unwrap_or(false),
        authenticate_agents: flags.get::<bool>("authenticate_agents").unwrap_or(false),
        allocator,
    })
}

/// Reads `--whitelist`: one hostname per line (Mesos re-reads it every
/// 5 seconds; this master reads it at start).
pub fn whitelist(flags: &Flags) -> Result<Option<std::collections::HashSet<String>>, String> {
    let Some(path) = flags.raw("whitelist") else { return Ok(None) };
    let path = path.strip_prefix("file://").unwrap_or(path);
    let text = std::fs::read_to_string(path).map_err(|e| format!("Failed to read whitelist file '{path}': {e}"))?;
    Ok(Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()))
}

/// `--registry_store_timeout`, for the store.
pub fn registry_store_timeout(flags: &Flags) -> Duration {
    flags.raw("registry_store_timeout").and_then(|v| parse_duration(v).ok()).unwrap_or(Duration::from_secs(20))
}

/// `--registry_fetch_timeout`, for the store.
pub fn registry_fetch_timeout(flags: &Flags) -> Duration {
    flags.raw("registry_fetch_timeout").and_then(|v| parse_duration(v).ok()).unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_args(args: &[&str]) -> Result<Flags, String> {
        load(args, Vec::<(String, String)>::new()).map_err(|e| e.0)
    }

    fn cfg(args: &[&str]) -> Result<Config, String> {
        let flags = load_args(args)?;
        config(&flags, "id".into(), "master@127.0.0.1:5050".parse().unwrap(), "h".into(), 0)
    }

    #[test]
    fn defaults_are_mesos_defaults() {
        let flags = load_args(&[]).unwrap();
        let effective = flags.effective();
        assert_eq!(effective["port"], "5050");
        assert_eq!(effective["agent_reregister_timeout"], "10mins");
        assert_eq!(effective["allocation_interval"], "1secs");
        assert_eq!(effective["registry"], "replicated_log");
        assert_eq!(effective["registry_max_agent_age"], "2weeks");
        assert_eq!(effective["min_allocatable_resources"], "cpus:0.01|mem:32");
        assert_eq!(effective["logging_level"], "INFO");
        assert!(!effective.contains_key("offer_timeout"));
        let config = cfg(&[]).unwrap();
        assert_eq!(config.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(config.max_agent_ping_timeouts, 5);
        assert_eq!(config.recovery_agent_removal_limit, 1.0);
    }

    #[test]
    fn aliases_and_environment() {
        let env = vec![("MESOS_OFFER_TIMEOUT".to_string(), "30secs".to_string())];
        let flags = load(["--slave_ping_timeout=20secs"], env).unwrap();
        assert_eq!(flags.get::<Duration>("agent_ping_timeout").unwrap(), Duration::from_secs(20));
        assert_eq!(flags.get::<Duration>("offer_timeout").unwrap(), Duration::from_secs(30));
        assert!(load_args(&["--no_such_flag=1"]).unwrap_err().contains("Failed to load unknown flag 'no_such_flag'"));
    }

    #[test]
    fn startup_checks_have_mesos_messages() {
        assert_eq!(
            cfg(&["--agent_reregister_timeout=1mins"]).unwrap_err(),
            "Invalid value '1mins' for --agent_reregister_timeout: Must be at least 10mins"
        );
        assert_eq!(
            cfg(&["--recovery_agent_removal_limit=50"]).unwrap_err(),
            "Invalid value '50' for --recovery_agent_removal_percent_limit: missing '%'"
        );
        assert!(cfg(&["--recovery_agent_removal_limit=150%"]).unwrap_err().ends_with("Must be within [0%-100%]"));
        assert_eq!(
            cfg(&["--offer_timeout=0secs"]).unwrap_err(),
            "Invalid value '0secs' for --offer_timeout: Must be greater than zero"
        );
        assert_eq!(
            cfg(&["--agent_ping_timeout=1hrs"]).unwrap_err(),
            "Expected `--agent_ping_timeout` to be between 1secs and 15mins"
        );
        assert_eq!(cfg(&["--registry=etcd"]).unwrap_err(), "'etcd' is not a supported option for registry persistence");
        assert!(cfg(&["--weights=a"]).unwrap_err().starts_with("Invalid weight: 'a'"));
        assert_eq!(cfg(&["--recovery_agent_removal_limit=50%"]).unwrap().recovery_agent_removal_limit, 0.5);
        let domain = r#"--domain={"fault_domain":{"region":{"name":"r"},"zone":{"name":"z"}}}"#;
        assert!(cfg(&[domain]).unwrap().domain.is_some());
        assert!(cfg(&[r#"--domain={}"#]).unwrap_err().contains("must define `fault_domain`"));
    }

    #[test]
    fn unsupported_and_refused_flags_are_named() {
        let flags = load_args(&["--hooks=a", "--role_sorter=random"]).unwrap();
        let warnings = unsupported(&flags);
        assert_eq!(warnings.len(), 2);
        assert!(refused(&flags).is_none());
        let flags = load_args(&["--authenticate_frameworks"]).unwrap();
        assert!(refused(&flags).unwrap().starts_with("--authenticate_frameworks is set"));
        let flags = load_args(&["--zk=zk://127.0.0.1:2181/mesos"]).unwrap();
        assert!(refused(&flags).is_none());
    }

    #[test]
    fn registry_backends_are_checked_like_mesos() {
        let backend = |args: &[&str]| registry_backend(&load_args(args).unwrap());
        assert_eq!(backend(&["--registry=in_memory", "--zk=zk://h:1/m"]), Ok(RegistryBackend::InMemory));
        assert_eq!(backend(&[]).unwrap_err(), "--work_dir needed for replicated log based registry");
        assert_eq!(backend(&["--work_dir=/w"]), Ok(RegistryBackend::Local { work_dir: "/w".into() }));
        assert_eq!(
            backend(&["--work_dir=/w", "--zk=zk://h:1/m"]).unwrap_err(),
            "Need to specify --quorum for replicated log based registry when using ZooKeeper"
        );
        assert_eq!(
            backend(&["--work_dir=/w", "--zk=zk://h:1/m", "--quorum=2"]),
            Ok(RegistryBackend::ZooKeeper { work_dir: "/w".into(), quorum: 2 })
        );
        assert!(backend(&["--work_dir=/w", "--zk=zk://h:1/m", "--quorum=-1"]).is_err());
        assert!(backend(&["--zk=zk://h:1/m", "--master_detector=x"]).unwrap_err().starts_with("Only one of --zk"));
    }
}
