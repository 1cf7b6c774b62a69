//! `LIBPROCESS_*` configuration: where to listen and what to advertise.
//!
//! libprocess reads (at `process::initialize`):
//! - `LIBPROCESS_IP`: the IP to bind (IPv4 only; default `0.0.0.0`).
//! - `LIBPROCESS_PORT`: the port to bind (0..=65535; default 0, any free port).
//! - `LIBPROCESS_ADVERTISE_IP`: the IP written into UPIDs instead of the
//!   bound one (e.g. behind NAT or in a container).
//! - `LIBPROCESS_ADVERTISE_PORT`: likewise for the port (1..=65535; it is not
//!   bound, forwarding is the operator's business).
//! - `LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH`: reject messages whose sender
//!   UPID's IP differs from the socket's peer IP.
//!
//! After binding, the advertised address is the bound one with the advertise
//! overrides applied; if its IP is still `0.0.0.0`, libprocess resolves the
//! machine's hostname and takes the first IPv4 address, and so do we.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::node::Options;

/// Why the `LIBPROCESS_*` settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable's value does not parse or is out of range.
    #[error("{var}={value}: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
    /// Binding the listener failed.
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The bound IP is unspecified and the hostname does not resolve.
    #[error("cannot find an IP for hostname '{host}': {reason}")]
    Hostname { host: String, reason: String },
}

/// The `LIBPROCESS_*` settings. Binaries fill it with [`Config::from_env`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `LIBPROCESS_IP`.
    pub ip: Option<Ipv4Addr>,
    /// `LIBPROCESS_PORT`.
    pub port: Option<u16>,
    /// `LIBPROCESS_ADVERTISE_IP`.
    pub advertise_ip: Option<IpAddr>,
    /// `LIBPROCESS_ADVERTISE_PORT`.
    pub advertise_port: Option<u16>,
    /// `LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH`.
    pub require_peer_address_ip_match: bool,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |var: &'static str| lookup(var).map(|v| (var, v));
        let invalid = |var: &'static str, value: &str, reason: &str| ConfigError::Invalid {
            var,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let ip = match get("LIBPROCESS_IP") {
            None => None,
            Some((var, v)) => match v.trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => Some(ip),
                // The same restriction libprocess's flag validation makes.
                Ok(IpAddr::V6(_)) => return Err(invalid(var, &v, "only an IPv4 address can be bound")),
                Err(e) => return Err(invalid(var, &v, &e.to_string())),
            },
        };
        let port = match get("LIBPROCESS_PORT") {
            None => None,
            Some((var, v)) => Some(v.trim().parse::<u16>().map_err(|_| invalid(var, &v, "not a valid port"))?),
        };
        let advertise_ip = match get("LIBPROCESS_ADVERTISE_IP") {
            None => None,
            Some((var, v)) => Some(v.trim().parse::<IpAddr>().map_err(|e| invalid(var, &v, &e.to_string()))?),
        };
        let advertise_port = match get("LIBPROCESS_ADVERTISE_PORT") {
            None => None,
            Some((var, v)) => match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(invalid(var, &v, "not a valid port")),
            },
        };
        let require_peer_address_ip_match = match get("LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH") {
            None => false,
            Some((var, v)) => parse_bool(&v).ok_or_else(|| invalid(var, &v, "expected true or false"))?,
        };
        Ok(Config { ip, port, advertise_ip, advertise_port, require_peer_address_ip_match })
    }

    /// The address to bind: `LIBPROCESS_IP`/`LIBPROCESS_PORT`, defaulting to
    /// all interfaces and any free port.
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), self.port.unwrap_or(0))
    }

    /// The address to advertise, given the one actually bound.
    pub fn advertised(&self, bound: SocketAddr) -> Result<SocketAddr, ConfigError> {
        let ip = self.advertise_ip.unwrap_or(bound.ip());
        let port = self.advertise_port.unwrap_or(bound.port());
        let ip = if ip.is_unspecified() { hostname_ip()? } else { ip };
        Ok(SocketAddr::new(ip, port))
    }

    /// [`Options`] with the settings that come from the environment applied.
    pub fn options(&self) -> Options {
        Options { require_peer_address_ip_match: self.require_peer_address_ip_match, ..Options::default() }
    }

    /// Binds the listener and works out the advertised address.
    pub async fn bind(&self) -> Result<(tokio::net::TcpListener, SocketAddr), ConfigError> {
        let addr = self.bind_addr();
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| ConfigError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| ConfigError::Bind { addr, source })?;
        let advertised = self.advertised(bound)?;
        Ok((listener, advertised))
    }
}

/// libprocess flags accept `true`/`false` and `1`/`0`.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The first IPv4 address of this machine's hostname (libprocess's fallback
/// for an unspecified IP), else the first address of any family.
fn hostname_ip() -> Result<IpAddr, ConfigError> {
    let host = nix::unistd::gethostname()
        .map_err(|e| ConfigError::Hostname { host: String::new(), reason: e.to_string() })?
        .to_string_lossy()
        .into_owned();
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
        .map_err(|e| ConfigError::Hostname { host: host.clone(), reason: e.to_string() })?
        .map(|a| a.ip())
        .collect::<Vec<_>>();
    resolved
        .iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| ConfigError::Hostname { host, reason: "no addresses".to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_every_variable() {
        let c = from(&[
            ("LIBPROCESS_IP", "127.0.0.1"),
            ("LIBPROCESS_PORT", "5050"),
            ("LIBPROCESS_ADVERTISE_IP", "10.1.2.3"),
            ("LIBPROCESS_ADVERTISE_PORT", "15050"),
            ("LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH", "true"),
        ])
        .unwrap();
        assert_eq!(c.bind_addr(), "127.0.0.1:5050".parse().unwrap());
        assert_eq!(c.advertised("127.0.0.1:5050".parse().unwrap()).unwrap(), "10.1.2.3:15050".parse().unwrap());
        assert!(c.options().require_peer_address_ip_match);
        assert_eq!(from(&[]).unwrap(), Config::default());
        assert_eq!(Config::default().bind_addr(), "0.0.0.0:0".parse().unwrap());
    }

    #[test]
    fn rejects_what_libprocess_rejects() {
        for (var, value) in [
            ("LIBPROCESS_IP", "::1"),
            ("LIBPROCESS_IP", "nope"),
            ("LIBPROCESS_PORT", "70000"),
            ("LIBPROCESS_PORT", "-1"),
            ("LIBPROCESS_ADVERTISE_PORT", "0"),
            ("LIBPROCESS_ADVERTISE_IP", "host.name"),
            ("LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH", "yes"),
        ] {
            match from(&[(var, value)]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
        // IPv6 may be advertised, just not bound (as in libprocess).
        assert!(from(&[("LIBPROCESS_ADVERTISE_IP", "::1")]).is_ok());
    }

    #[test]
    fn only_the_overridden_parts_change_and_unspecified_ips_resolve() {
        let c = Config { advertise_port: Some(9), ..Config::default() };
        assert_eq!(c.advertised("127.0.0.1:5".parse().unwrap()).unwrap(), "127.0.0.1:9".parse().unwrap());
        let resolved = Config::default().advertised("0.0.0.0:7".parse().unwrap()).unwrap();
        assert!(!resolved.ip().is_unspecified());
        assert_eq!(resolved.port(), 7);
    }

    #[tokio::test]
    async fn binds_and_advertises_the_bound_port() {
        let c = Config { ip: Some(Ipv4Addr::LOCALHOST), ..Config::default() };
        let (listener, advertised) = c.bind().await.unwrap();
        assert_eq!(listener.local_addr().unwrap(), advertised);
        assert_ne!(advertised.port(), 0);
    }
}
