//! ZooKeeper URLs as Mesos reads them, and the `file://` indirection of its
//! `--zk` / `--master` values.
//!
//! A URL is `zk://[credentials@]servers[/path]`:
//! - `servers` is the ZooKeeper connect string, `host1:port1,host2:port2,...`;
//!   Mesos does not check it when parsing (the client library does, when it
//!   connects), and neither do we;
//! - `credentials`, when present, are `user:password` for the `digest` scheme
//!   (the only one Mesos supports); everything before the *last* `@` of the
//!   part before the path, so a password may contain `@` but not `/`;
//! - `path` starts at the *first* `/` after `zk://` and defaults to `/`.
//!
//! The master's contender and the detectors refuse the root path (Mesos's
//! factories do: "Expecting a (chroot) path for ZooKeeper ('/' is not
//! supported)"); plain parsing accepts it, as Mesos's `URL::parse` does.
//!
//! `file:///path` names a file whose trimmed contents are the real value (for
//! example a `zk://` URL kept out of the process list because it holds a
//! password). Mesos's factories read it and start over with the contents;
//! [`read_indirection`] does that, with a depth limit Mesos lacks (a file
//! naming itself would make Mesos recurse until it crashes).

use std::fmt;

/// Why a `zk://` URL or a `file://` value could not be used. Texts are Mesos's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The value does not start with `zk://`.
    #[error("Expecting 'zk://' at the beginning of the URL")]
    NotZk,
    /// A contender or detector was given the root path.
    #[error("Expecting a (chroot) path for ZooKeeper ('/' is not supported)")]
    RootPath,
    /// The URL names no server.
    #[error("No ZooKeeper servers in '{0}'")]
    NoServers(String),
    /// A `file://` value whose file cannot be read.
    #[error("Failed to read from file at '{path}'")]
    File { path: String, reason: String },
    /// `file://` files naming further `file://` files, too deep to be anything
    /// but a loop.
    #[error("Too many levels of 'file://' indirection at '{0}'")]
    TooDeep(String),
}

/// Credentials for ZooKeeper's `digest` scheme (`user:password`).
///
/// `Debug` hides the password; [`fmt::Display`] writes the credentials as
/// Mesos does (they are part of the URL's text form).
#[derive(Clone, PartialEq, Eq)]
pub struct Authentication {
    /// Always `digest`: the only scheme Mesos's URLs carry.
    pub scheme: String,
    /// `user:password`, sent as is in ZooKeeper's `addauth` packet.
    pub credentials: String,
}

impl Authentication {
    /// Digest credentials, `user:password`.
    pub fn digest(credentials: impl Into<String>) -> Self {
        Authentication { scheme: "digest".to_string(), credentials: credentials.into() }
    }

    /// The user part (before the first `:`), for logs.
    pub fn user(&self) -> &str {
        self.credentials.split(':').next().unwrap_or("")
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Authentication({}, {}:***)", self.scheme, self.user())
    }
}

impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.credentials)
    }
}

/// A parsed `zk://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// Digest credentials, when the URL has `user:password@`.
    pub authentication: Option<Authentication>,
    /// The connect string, `host1:port1,host2:port2,...`.
    pub servers: String,
    /// The znode path, as written (`/` when the URL has none).
    pub path: String,
}

impl ZkUrl {
    /// The scheme every ZooKeeper URL starts with.
    pub const SCHEME: &'static str = "zk://";

    /// Parses `url` exactly as Mesos's `zookeeper::URL::parse` does
    /// (surrounding whitespace is ignored).
    pub fn parse(url: &str) -> Result<ZkUrl, UrlError> {
        let rest = url.trim().strip_prefix(Self::SCHEME).ok_or(UrlError::NotZk)?;
        let (before_path, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (authentication, servers) = match before_path.rfind('@') {
            Some(i) => (Some(Authentication::digest(&before_path[..i])), &before_path[i + 1..]),
            None => (None, before_path),
        };
        Ok(ZkUrl { authentication, servers: servers.to_string(), path: path.to_string() })
    }

    /// Parses `url` for a master contender or detector: as [`ZkUrl::parse`],
    /// and the path must not be the root (Mesos's factories refuse it).
    pub fn parse_for_election(url: &str) -> Result<ZkUrl, UrlError> {
        let parsed = Self::parse(url)?;
        if parsed.path == "/" {
            return Err(UrlError::RootPath);
        }
        if parsed.servers.trim().is_empty() {
            return Err(UrlError::NoServers(parsed.redacted()));
        }
        Ok(parsed)
    }

    /// The group znode: the path without its trailing `/`s (`/mesos/` and
    /// `/mesos` name the same group; the root becomes the empty string, as in
    /// Mesos).
    pub fn znode(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// The URL with the password replaced by `***`, for logs and errors.
    pub fn redacted(&self) -> String {
        match &self.authentication {
            Some(auth) => format!("{}{}:***@{}{}", Self::SCHEME, auth.user(), self.servers, self.path),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for ZkUrl {
    /// The URL's text form, credentials included (as Mesos prints it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::SCHEME)?;
        if let Some(auth) = &self.authentication {
            write!(f, "{auth}@")?;
        }
        write!(f, "{}{}", self.servers, self.path)
    }
}

impl std::str::FromStr for ZkUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZkUrl::parse(s)
    }
}

/// How many `file://` hops [`read_indirection`] follows before giving up.
pub const MAX_FILE_INDIRECTIONS: usize = 8;

/// Follows `file://` values: while `value` starts with `file://`, replaces it
/// with the trimmed contents of the file it names (Mesos's contender and
/// detector factories do this; they also log that it is deprecated). Any other
/// value comes back unchanged. Reads the file system: call it where flags are
/// loaded, not in a state machine.
pub fn read_indirection(value: &str) -> Result<String, UrlError> {
    let mut current = value.to_string();
    for _ in 0..=MAX_FILE_INDIRECTIONS {
        let Some(path) = current.strip_prefix("file://") else {
            return Ok(current);
        };
        let path = path.to_string();
        tracing::warn!(
            "Specifying the ZooKeeper URL or master address to be read out of a file via \
             'file://' is deprecated inside Mesos (reading '{path}')"
        );
        let text =
            std::fs::read_to_string(&path).map_err(|e| UrlError::File { path: path.clone(), reason: e.to_string() })?;
        current = text.trim().to_string();
    }
    Err(UrlError::TooDeep(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, credentials, servers, path): Mesos's own `ZooKeeperURLTest.URL`
    /// cases, then the corners of its algorithm.
    const VALID: &[(&str, Option<&str>, &str, &str)] = &[
        ("zk://host1:port1", None, "host1:port1", "/"),
        ("zk://jake:1@host1:port1", Some("jake:1"), "host1:port1", "/"),
        ("zk://jake:1@host1:port1/", Some("jake:1"), "host1:port1", "/"),
        ("zk://jake:1@host1:port1,host2:port2", Some("jake:1"), "host1:port1,host2:port2", "/"),
        ("zk://jake:1@host1:port1,host2:port2/", Some("jake:1"), "host1:port1,host2:port2", "/"),
        (
            "zk://jake:1@host1:port1,host2:port2/path/to/znode",
            Some("jake:1"),
            "host1:port1,host2:port2",
            "/path/to/znode",
        ),
        // Whitespace around the URL is trimmed.
        ("  zk://127.0.0.1:2181/mesos\n", None, "127.0.0.1:2181", "/mesos"),
        // The path starts at the first '/', trailing ones included.
        ("zk://h:1/a/b/", None, "h:1", "/a/b/"),
        ("zk://h:1//mesos", None, "h:1", "//mesos"),
        // Credentials end at the last '@' before the path.
        ("zk://u:p@ss@h:1/m", Some("u:p@ss"), "h:1", "/m"),
        // An '@' after the first '/' belongs to the path.
        ("zk://h:1/m@x", None, "h:1", "/m@x"),
        ("zk://@h:1/m", Some(""), "h:1", "/m"),
        ("zk://", None, "", "/"),
    ];

    #[test]
    fn parses_like_mesos() {
        for (input, creds, servers, path) in VALID {
            let url = ZkUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.authentication.as_ref().map(|a| a.credentials.as_str()), *creds, "{input}");
            if let Some(auth) = &url.authentication {
                assert_eq!(auth.scheme, "digest");
            }
            assert_eq!(url.servers, *servers, "{input}");
            assert_eq!(url.path, *path, "{input}");
        }
    }

    #[test]
    fn refuses_other_schemes_with_mesos_text() {
        for input in ["", "host:2181/mesos", "zk:/h/m", "ZK://h:1/m", "zoo://h:1/m", "file:///x"] {
            let err = ZkUrl::parse(input).unwrap_err();
            assert_eq!(err, UrlError::NotZk, "{input}");
            assert_eq!(err.to_string(), "Expecting 'zk://' at the beginning of the URL");
        }
    }

    #[test]
    fn election_needs_a_path_and_servers() {
        for input in ["zk://h:1", "zk://h:1/", "zk://u:p@h:1/"] {
            let err = ZkUrl::parse_for_election(input).unwrap_err();
            assert_eq!(err.to_string(), "Expecting a (chroot) path for ZooKeeper ('/' is not supported)");
        }
        assert!(matches!(ZkUrl::parse_for_election("zk:///mesos"), Err(UrlError::NoServers(_))));
        assert_eq!(ZkUrl::parse_for_election("zk://h:1/mesos").unwrap().znode(), "/mesos");
    }

    #[test]
    fn znode_drops_trailing_slashes() {
        assert_eq!(ZkUrl::parse("zk://h:1/mesos/").unwrap().znode(), "/mesos");
        assert_eq!(ZkUrl::parse("zk://h:1/a/b//").unwrap().znode(), "/a/b");
        assert_eq!(ZkUrl::parse("zk://h:1/").unwrap().znode(), "");
    }

    #[test]
    fn displays_round_trip_and_redacts() {
        for (input, ..) in VALID {
            let url = ZkUrl::parse(input).unwrap();
            assert_eq!(ZkUrl::parse(&url.to_string()).unwrap(), url, "{input}");
        }
        let url = ZkUrl::parse("zk://jake:secret@h1:1,h2:2/mesos").unwrap();
        assert_eq!(url.to_string(), "zk://jake:secret@h1:1,h2:2/mesos");
        assert_eq!(url.redacted(), "zk://jake:***@h1:1,h2:2/mesos");
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn file_indirection_reads_trims_and_follows() {
        let dir = std::env::temp_dir().join(format!("zk-url-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inner = dir.join("inner");
        std::fs::write(&inner, "  zk://h:1/mesos \n").unwrap();
        let outer = dir.join("outer");
        std::fs::write(&outer, format!("file://{}\n", inner.display())).unwrap();
        let looping = dir.join("loop");
        std::fs::write(&looping, format!("file://{}", looping.display())).unwrap();

        assert_eq!(read_indirection("zk://x:1/m").unwrap(), "zk://x:1/m");
        assert_eq!(read_indirection("10.0.0.1:5050").unwrap(), "10.0.0.1:5050");
        let inner_value = format!("file://{}", inner.display());
        assert_eq!(read_indirection(&inner_value).unwrap(), "zk://h:1/mesos");
        assert_eq!(read_indirection(&format!("file://{}", outer.display())).unwrap(), "zk://h:1/mesos");

        let missing = dir.join("missing");
        let err = read_indirection(&format!("file://{}", missing.display())).unwrap_err();
        assert_eq!(err.to_string(), format!("Failed to read from file at '{}'", missing.display()));
        let looped = format!("file://{}", looping.display());
        assert_eq!(read_indirection(&looped).unwrap_err(), UrlError::TooDeep(looped.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
