//! The settings the master state machine decides with, already validated.
//! `mesos-master` builds one from its flags ([`super::flags`]); tests and
//! simulations start from [`Config::default`] (Mesos's defaults).

use std::time::Duration;

use crate::master::allocator::{self, RoleWhitelist};
use crate::proto::mesos::master_info::capability::Type as MasterCapability;
use crate::proto::mesos::master_info::Capability;
use crate::proto::mesos::{Address, DomainInfo, MasterInfo};
use crate::v0_compat::Upid;

/// The version this master reports (`MasterInfo.version`, `/version`,
/// `/state`). Marathon and pymesos parse it as `X.Y.Z`.
pub const MESOS_VERSION: &str = "1.11.0";

/// Agents older than this are ignored (Mesos's `MINIMUM_AGENT_VERSION`).
pub const MINIMUM_AGENT_VERSION: (u64, u64, u64) = (1, 0, 0);

/// Mesos's `MIN_AGENT_REREGISTER_TIMEOUT`: the smallest
/// `--agent_reregister_timeout` allowed (agents bound their retries by it).
pub const MIN_AGENT_REREGISTER_TIMEOUT: Duration = Duration::from_secs(600);

/// Removed agents remembered (to drop their late messages): `MAX_REMOVED_SLAVES`.
pub const MAX_REMOVED_SLAVES: usize = 100_000;

/// What the master needs to know to decide.
#[derive(Clone, Debug)]
pub struct Config {
    /// The master's id (a random UUID in Mesos).
    pub id: String,
    /// `master@<advertised ip>:<advertised port>`.
    pub pid: Upid,
    /// `--hostname`, or the name the IP resolves to, or the IP.
    pub hostname: String,
    /// `--domain`.
    pub domain: Option<DomainInfo>,
    /// `--cluster`, shown in `/state`.
    pub cluster: Option<String>,
    /// `--root_submissions`.
    pub root_submissions: bool,
    /// `--roles` (deprecated whitelist).
    pub roles: RoleWhitelist,
    /// `--weights`.
    pub weights: Vec<(String, f64)>,
    /// `--offer_timeout`.
    pub offer_timeout: Option<Duration>,
    /// `--agent_ping_timeout`.
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`.
    pub max_agent_ping_timeouts: u32,
    /// `--agent_reregister_timeout`.
    pub agent_reregister_timeout: Duration,
    /// `--recovery_agent_removal_limit`, as a fraction (1.0 = 100%).
    pub recovery_agent_removal_limit: f64,
    /// `--max_completed_frameworks`.
    pub max_completed_frameworks: usize,
    /// `--max_completed_tasks_per_framework`.
    pub max_completed_tasks_per_framework: usize,
    /// `--max_unreachable_tasks_per_framework`.
    pub max_unreachable_tasks_per_framework: usize,
    /// `--registry_gc_interval`.
    pub registry_gc_interval: Duration,
    /// `--registry_max_agent_age`.
    pub registry_max_agent_age: Duration,
    /// `--registry_max_agent_count`.
    pub registry_max_agent_count: usize,
    /// `--require_agent_domain`.
    pub require_agent_domain: bool,
    /// `--authenticate_frameworks`. No authenticator is implemented, so with
    /// this set every v0 framework is refused as unauthenticated.
    pub authenticate_frameworks: bool,
    /// `--authenticate_agents`. As above, for agents (they are ignored).
    pub authenticate_agents: bool,
    /// The allocator's options (`--allocation_interval` and friends, the seed).
    pub allocator: allocator::Options,
}

impl Default for Config {
    fn default() -> Self {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 5050));
        Config {
            id: "00000000-0000-4000-8000-000000000000".into(),
            pid: Upid::new("master", addr),
            hostname: "127.0.0.1".into(),
            domain: None,
            cluster: None,
            root_submissions: true,
            roles: RoleWhitelist::allow_all(),
            weights: Vec::new(),
            offer_timeout: None,
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            agent_reregister_timeout: MIN_AGENT_REREGISTER_TIMEOUT,
            recovery_agent_removal_limit: 1.0,
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            max_unreachable_tasks_per_framework: 1000,
            registry_gc_interval: Duration::from_secs(15 * 60),
            registry_max_agent_age: Duration::from_secs(14 * 24 * 3600),
            registry_max_agent_count: 100 * 1024,
            require_agent_domain: false,
            authenticate_frameworks: false,
            authenticate_agents: false,
            allocator: allocator::Options::default(),
        }
    }
}

impl Config {
    /// This master's `MasterInfo`, filled as Mesos fills it: `ip` is the
    /// IPv4 address as `in_addr.s_addr` read as a host integer (network byte
    /// order, MESOS-1201), `address` the new-style equivalent, `version`
    /// and the capabilities this master has.
    pub fn master_info(&self) -> MasterInfo {
        let addr = self.pid.addr();
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
            std::net::IpAddr::V6(_) => 0,
        };
        let capabilities = [MasterCapability::AgentUpdate, MasterCapability::AgentDraining, MasterCapability::QuotaV2]
            .into_iter()
            .map(|t| Capability { r#type: Some(t as i32) })
            .collect();
        MasterInfo {
            id: self.id.clone(),
            ip,
            port: u32::from(addr.port()),
            pid: Some(self.pid.to_string()),
            hostname: Some(self.hostname.clone()),
            version: Some(MESOS_VERSION.to_string()),
            address: Some(Address {
                hostname: Some(self.hostname.clone()),
                ip: Some(addr.ip().to_string()),
                port: i32::from(addr.port()),
            }),
            domain: self.domain.clone(),
            capabilities,
        }
    }

    /// `--agent_ping_timeout` × `--max_agent_ping_timeouts`, in whole
    /// seconds, as `MasterSlaveConnection.total_ping_timeout_seconds`.
    pub fn total_ping_timeout_secs(&self) -> f64 {
        (self.agent_ping_timeout * self.max_agent_ping_timeouts).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_info_is_filled_like_mesos() {
        let config = Config {
            pid: Upid::new("master", "10.0.0.1:5050".parse().unwrap()),
            hostname: "m1".into(),
            ..Config::default()
        };
        let info = config.master_info();
        // 10.0.0.1 in network order, read as a little-endian integer.
        assert_eq!(info.ip, 0x0100_000a);
        assert_eq!(info.port, 5050);
        assert_eq!(info.pid.as_deref(), Some("master@10.0.0.1:5050"));
        assert_eq!(info.version.as_deref(), Some("1.11.0"));
        let address = info.address.unwrap();
        assert_eq!(
            (address.ip.as_deref(), address.port, address.hostname.as_deref()),
            (Some("10.0.0.1"), 5050, Some("m1"))
        );
        assert_eq!(info.capabilities.len(), 3);
        assert_eq!(config.total_ping_timeout_secs(), 75.0);
    }
}
