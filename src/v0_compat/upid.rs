//! `Upid`: a libprocess process address, written `id@ip:port`.
//!
//! Every v0 message carries its sender as a UPID (the `Libprocess-From`
//! header), and Mesos messages embed UPIDs as strings (`MasterInfo.pid`,
//! `UpdateFrameworkMessage.pid`, ...), so the text form has to match what
//! libprocess writes and reads, byte for byte:
//!
//! - Formatting is `id@<ip>:<port>` with the IP as `inet_ntop` prints it. An
//!   IPv6 address is written *without* brackets (`master@::1:5050`), because
//!   that is what libprocess's `operator<<` produces.
//! - libprocess parses the id up to the first `@`, then the host up to the
//!   first `:` (so it cannot read its own IPv6 form at all). We accept
//!   everything it accepts, plus both IPv6 spellings (`id@::1:5050` by
//!   splitting at the last `:`, and the bracketed `id@[::1]:5050`).
//! - A host that is not an IP literal is a hostname, which libprocess
//!   resolves at parse time (IPv4 only) and remembers for TLS. Parsing here is
//!   I/O-free: [`Upid::from_str`] rejects hostnames with
//!   [`UpidError::Unresolved`], and [`Upid::resolve`] (async) or
//!   [`Upid::resolve_blocking`] do the lookup where libprocess would.
//! - Two UPIDs are equal when id and socket address are equal; the hostname
//!   they were resolved from does not count (as in libprocess).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// Why a string is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpidError {
    /// Nothing but whitespace.
    #[error("empty UPID")]
    Empty,
    /// libprocess reads a UPID as one whitespace-free token.
    #[error("UPID '{0}' contains whitespace")]
    Whitespace(String),
    /// No `@` separating the id from the address.
    #[error("UPID '{0}' has no '@'")]
    MissingAt(String),
    /// No `:` separating the host from the port.
    #[error("UPID '{0}' has no ':port'")]
    MissingPort(String),
    /// The port is not a decimal number in 0..=65535.
    #[error("UPID '{upid}' has an invalid port '{port}'")]
    BadPort { upid: String, port: String },
    /// The host part is empty or malformed (e.g. an unclosed `[`).
    #[error("UPID '{0}' has an invalid host")]
    BadHost(String),
    /// The host is a name, and this parser does no DNS: use [`Upid::resolve`].
    #[error("UPID '{upid}' names host '{host}', which needs resolving")]
    Unresolved { upid: String, host: String },
    /// DNS gave no address for the host.
    #[error("cannot resolve host '{host}': {reason}")]
    Resolve { host: String, reason: String },
}

/// A libprocess process id and the address it listens on.
#[derive(Debug, Clone)]
pub struct Upid {
    id: String,
    addr: SocketAddr,
    /// The hostname this UPID was resolved from, if any (libprocess keeps it
    /// for TLS server names). Not part of equality or the text form.
    host: Option<String>,
}

impl Upid {
    /// A UPID for process `id` at `addr`.
    pub fn new(id: impl Into<String>, addr: SocketAddr) -> Self {
        Upid { id: id.into(), addr, host: None }
    }

    /// The process id (the part before `@`), e.g. `master` or `slave(1)`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The address the process's libprocess instance listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hostname the address was resolved from, if it was.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Parses `s`, resolving a hostname with the system resolver as libprocess
    /// does (IPv4 preferred). Blocks the thread: for flags and configuration.
    pub fn resolve_blocking(s: &str) -> Result<Upid, UpidError> {
        match split(s)? {
            Parts { id, host: Host::Ip(ip), port } => Ok(Upid::new(id, SocketAddr::new(ip, port))),
            Parts { id, host: Host::Name(name), port } => {
                let addrs = (name, port)
                    .to_socket_addrs()
                    .map_err(|e| UpidError::Resolve { host: name.to_string(), reason: e.to_string() })?;
                finish_resolve(id, name, addrs)
            }
        }
    }

    /// Parses `s`, resolving a hostname asynchronously (IPv4 preferred).
    pub async fn resolve(s: &str) -> Result<Upid, UpidError> {
        match split(s)? {
            Parts { id, host: Host::Ip(ip), port } => Ok(Upid::new(id, SocketAddr::new(ip, port))),
            Parts { id, host: Host::Name(name), port } => {
                let addrs = tokio::net::lookup_host((name, port))
                    .await
                    .map_err(|e| UpidError::Resolve { host: name.to_string(), reason: e.to_string() })?;
                finish_resolve(id, name, addrs)
            }
        }
    }
}

/// Picks the first IPv4 result (libprocess resolves with `AF_INET`), falling
/// back to the first IPv6 one rather than failing on a v6-only name.
fn finish_resolve(id: &str, name: &str, addrs: impl Iterator<Item = SocketAddr>) -> Result<Upid, UpidError> {
    let addrs: Vec<SocketAddr> = addrs.collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| UpidError::Resolve { host: name.to_string(), reason: "no addresses".to_string() })?;
    Ok(Upid { id: id.to_string(), addr, host: Some(name.to_string()) })
}

enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

struct Parts<'a> {
    id: &'a str,
    host: Host<'a>,
    port: u16,
}

/// Splits `id@host:port` without any I/O.
fn split(s: &str) -> Result<Parts<'_>, UpidError> {
    // libprocess reads the UPID with `istream >> string`, which skips
    // surrounding whitespace; headers are trimmed too.
    let s = s.trim();
    if s.is_empty() {
        return Err(UpidError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(UpidError::Whitespace(s.to_string()));
    }
    let (id, rest) = s.split_once('@').ok_or_else(|| UpidError::MissingAt(s.to_string()))?;

    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| UpidError::BadHost(s.to_string()))?;
        let port = after.strip_prefix(':').ok_or_else(|| UpidError::MissingPort(s.to_string()))?;
        let ip: IpAddr = host.parse().map_err(|_| UpidError::BadHost(s.to_string()))?;
        (Host::Ip(ip), port)
    } else {
        // The last ':' separates the port, which also reads libprocess's
        // unbracketed IPv6 form; for IPv4 and names it is the only ':'.
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| UpidError::MissingPort(s.to_string()))?;
        if host.is_empty() {
            return Err(UpidError::BadHost(s.to_string()));
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => (Host::Ip(ip), port),
            Err(_) if host.contains(':') || host.contains('[') || host.contains(']') => {
                return Err(UpidError::BadHost(s.to_string()));
            }
            Err(_) => (Host::Name(host), port),
        }
    };

    let bad_port = || UpidError::BadPort { upid: s.to_string(), port: port.to_string() };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_port());
    }
    let port: u16 = port.parse().map_err(|_| bad_port())?;
    Ok(Parts { id, host, port })
}

impl FromStr for Upid {
    type Err = UpidError;

    /// Parses an `id@ip:port` UPID without DNS; see the module docs.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match split(s)? {
            Parts { id, host: Host::Ip(ip), port } => Ok(Upid::new(id, SocketAddr::new(ip, port))),
            Parts { host: Host::Name(name), .. } => {
                Err(UpidError::Unresolved { upid: s.trim().to_string(), host: name.to_string() })
            }
        }
    }
}

impl fmt::Display for Upid {
    /// `id@ip:port`, IPv6 without brackets, exactly as libprocess writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.id, self.addr.ip(), self.addr.port())
    }
}

impl PartialEq for Upid {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.addr == other.addr
    }
}

impl Eq for Upid {}

impl Hash for Upid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.addr.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
    }

    #[test]
    fn parses_and_formats_ipv4() {
        let pid: Upid = "slave(1)@10.0.0.7:5051".parse().unwrap();
        assert_eq!(pid.id(), "slave(1)");
        assert_eq!(pid.addr(), v4(10, 0, 0, 7, 5051));
        assert_eq!(pid.to_string(), "slave(1)@10.0.0.7:5051");
    }

    #[test]
    fn ipv6_is_written_without_brackets_and_read_both_ways() {
        let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5050);
        let pid = Upid::new("master", addr);
        assert_eq!(pid.to_string(), "master@::1:5050");
        assert_eq!("master@::1:5050".parse::<Upid>().unwrap(), pid);
        assert_eq!("master@[::1]:5050".parse::<Upid>().unwrap(), pid);
        let full: Upid = "m@fe80::1:2:3:4:80".parse().unwrap();
        assert_eq!(full.addr().port(), 80);
        assert_eq!(full.addr().ip(), "fe80::1:2:3:4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ids_may_be_empty_or_contain_colons_but_stop_at_the_first_at() {
        assert_eq!("@1.2.3.4:5".parse::<Upid>().unwrap().id(), "");
        let pid: Upid = "a:b@1.2.3.4:5".parse().unwrap();
        assert_eq!(pid.id(), "a:b");
        // Everything after the first '@' is the address, as in libprocess.
        assert!(matches!("a@b@1.2.3.4:5".parse::<Upid>(), Err(UpidError::Unresolved { .. })));
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_inner_whitespace_rejected() {
        assert_eq!(" m@1.2.3.4:5 \r\n".parse::<Upid>().unwrap().to_string(), "m@1.2.3.4:5");
        assert!(matches!("m @1.2.3.4:5".parse::<Upid>(), Err(UpidError::Whitespace(_))));
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!("".parse::<Upid>(), Err(UpidError::Empty));
        assert!(matches!("master".parse::<Upid>(), Err(UpidError::MissingAt(_))));
        assert!(matches!("master@1.2.3.4".parse::<Upid>(), Err(UpidError::MissingPort(_))));
        assert!(matches!("m@1.2.3.4:".parse::<Upid>(), Err(UpidError::BadPort { .. })));
        assert!(matches!("m@1.2.3.4:70000".parse::<Upid>(), Err(UpidError::BadPort { .. })));
        assert!(matches!("m@1.2.3.4:+5".parse::<Upid>(), Err(UpidError::BadPort { .. })));
        assert!(matches!("m@:5".parse::<Upid>(), Err(UpidError::BadHost(_))));
        assert!(matches!("m@[::1:5".parse::<Upid>(), Err(UpidError::BadHost(_))));
        assert!(matches!("m@[nothost]:5".parse::<Upid>(), Err(UpidError::BadHost(_))));
        assert!(matches!("m@::zz:5".parse::<Upid>(), Err(UpidError::BadHost(_))));
        assert_eq!(
            "m@example.invalid:5".parse::<Upid>(),
            Err(UpidError::Unresolved { upid: "m@example.invalid:5".into(), host: "example.invalid".into() })
        );
    }

    #[test]
    fn hostnames_resolve_and_keep_the_name() {
        let pid = Upid::resolve_blocking("master@localhost:5050").unwrap();
        assert!(pid.addr().ip().is_loopback());
        assert_eq!(pid.host(), Some("localhost"));
        // Equality ignores the name, as libprocess compares addresses.
        assert_eq!(pid, Upid::new("master", pid.addr()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let async_pid = rt.block_on(Upid::resolve("master@localhost:5050")).unwrap();
        assert_eq!(async_pid, pid);
        // IP literals need no resolver.
        assert_eq!(Upid::resolve_blocking("m@1.2.3.4:5").unwrap().host(), None);
    }

    fn any_id() -> impl Strategy<Value = String> {
        // libprocess ids: anything without '@' or whitespace.
        "[a-zA-Z0-9()_.:/%+-]{0,24}"
    }

    proptest! {
        #[test]
        fn roundtrip_v4(id in any_id(), ip in any::<[u8; 4]>(), port in any::<u16>()) {
            let pid = Upid::new(id, v4(ip[0], ip[1], ip[2], ip[3], port));
            let text = pid.to_string();
            let back: Upid = text.parse().unwrap();
            prop_assert_eq!(&back, &pid);
            prop_assert_eq!(back.to_string(), text);
        }

        #[test]
        fn roundtrip_v6(id in any_id(), ip in any::<[u16; 8]>(), port in any::<u16>()) {
            let ip = IpAddr::V6(Ipv6Addr::from(ip));
            let pid = Upid::new(id, SocketAddr::new(ip, port));
            let back: Upid = pid.to_string().parse().unwrap();
            prop_assert_eq!(&back, &pid);
            let bracketed: Upid = format!("{}@[{}]:{}", pid.id(), ip, port).parse().unwrap();
            prop_assert_eq!(bracketed, pid);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Upid>();
        }
    }
}
