//! A thin async ZooKeeper client over the `zookeeper-client` crate (tokio),
//! with Mesos's conventions: session timeout, digest authentication, the ACLs
//! Mesos puts on its znodes, recursive path creation, Mesos's retry rules, and
//! the session's state changes as a stream of [`SessionEvent`]s.
//!
//! # Sessions
//! [`ZkClient::connect`] makes one attempt (it fails after about the session
//! timeout with no server reachable); [`ZkClient::connect_retrying`] tries
//! until a session is established or the failure cannot improve by retrying,
//! as Mesos's group does (it makes a fresh ZooKeeper handle whenever a
//! connection attempt outlives the session timeout). Requests made while the
//! connection is down wait for the client to reconnect. A session that ends
//! ([`SessionEvent::Expired`], which the client also declares by itself when it
//! could not reconnect within 7/5 of the negotiated timeout, as Mesos's group
//! does after the timeout) is over for good: every later request fails and the
//! owner makes a new client, exactly as Mesos replaces its handle.
//!
//! # ACLs
//! Without credentials every znode is created `world:anyone` with all
//! permissions (`ZOO_OPEN_ACL_UNSAFE`). With digest credentials, Mesos uses
//! `EVERYONE_READ_CREATOR_ALL`: `world:anyone` may read, and the authenticated
//! identity (`auth`) may do everything. Both the group path (and any parent it
//! creates) and the members get the same ACL, as in Mesos.
//!
//! # Retries
//! Mesos retries an operation that failed with a connection loss, an operation
//! timeout, a moved or expired session, waiting 2 s and doubling up to 60 s,
//! and gives up on anything else. [`ZkError::recovery`] classifies errors that
//! way, and [`Backoff`] is the schedule.

use std::future::Future;
use std::time::Duration;

use futures::Stream;
use zookeeper_client as zk;
use zookeeper_client::{Acl, Acls, CreateMode, Permission, SessionState, Stat};

use super::url::{Authentication, ZkUrl};

/// `--zk_session_timeout`'s default in the master and the agent.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Mesos's wait after a retryable failure (`GroupProcess::RETRY_INTERVAL`).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// The longest wait between retries (Mesos doubles the interval up to this).
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// `EVERYONE_READ_CREATOR_ALL`: anyone reads, the authenticated creator does all.
static EVERYONE_READ_CREATOR_ALL: [Acl; 2] =
    [Acl::new_const(Permission::READ, "world", "anyone"), Acl::new_const(Permission::ALL, "auth", "")];

/// Where to connect and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConfig {
    /// Connect string: `host1:port1,host2:port2,...`.
    pub servers: String,
    /// Digest credentials, sent on every (re)connection.
    pub authentication: Option<Authentication>,
    /// The session timeout we ask the servers for (they may clamp it to their
    /// `minSessionTimeout`/`maxSessionTimeout`).
    pub session_timeout: Duration,
}

impl ZkConfig {
    /// A config for `servers` with no credentials.
    pub fn new(servers: impl Into<String>, session_timeout: Duration) -> Self {
        ZkConfig { servers: servers.into(), authentication: None, session_timeout }
    }

    /// The servers and credentials of a `zk://` URL.
    pub fn from_url(url: &ZkUrl, session_timeout: Duration) -> Self {
        ZkConfig { servers: url.servers.clone(), authentication: url.authentication.clone(), session_timeout }
    }

    /// The ACL Mesos gives every znode it creates with this config.
    pub fn acls(&self) -> Acls<'static> {
        if self.authentication.is_some() {
            Acls::new(&EVERYONE_READ_CREATOR_ALL)
        } else {
            Acls::anyone_all()
        }
    }
}

/// What to do about a failed operation, by Mesos's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Try again on the same session, after a [`Backoff`] wait (connection
    /// loss, timeout, throttling).
    Retry,
    /// The session is gone (expired, moved, closed): make a new client.
    NewSession,
    /// Retrying cannot help (no such node, not authorised, bad arguments...).
    Fatal,
}

/// A failed ZooKeeper operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    /// No session could be established.
    #[error("Failed to connect to ZooKeeper at '{servers}': {message}")]
    Connect { servers: String, source: zk::Error, message: String },
    /// An operation on a path failed.
    #[error("Failed to {op} '{path}' in ZooKeeper: {message}")]
    Op { op: &'static str, path: String, source: zk::Error, message: String },
}

impl ZkError {
    fn op(op: &'static str, path: &str, source: zk::Error) -> Self {
        ZkError::Op { op, path: path.to_string(), message: message(&source), source }
    }

    /// The client library's error.
    pub fn source_error(&self) -> &zk::Error {
        match self {
            ZkError::Connect { source, .. } | ZkError::Op { source, .. } => source,
        }
    }

    /// How Mesos would react to this failure.
    pub fn recovery(&self) -> Recovery {
        recovery(self.source_error())
    }

    /// True when the znode did not exist.
    pub fn is_no_node(&self) -> bool {
        *self.source_error() == zk::Error::NoNode
    }
}

/// Mesos's classification of a client error (see [`Recovery`]).
pub fn recovery(error: &zk::Error) -> Recovery {
    use zk::Error::*;
    match error {
        ConnectionLoss | Timeout | Throttled | NoHosts => Recovery::Retry,
        SessionExpired | SessionMoved | ClientClosed => Recovery::NewSession,
        _ => Recovery::Fatal,
    }
}

/// The ZooKeeper C client's text for an error (what Mesos puts in its
/// messages), or the crate's own where C has no equivalent.
pub fn message(error: &zk::Error) -> String {
    use zk::Error::*;
    let text = match error {
        NoNode => "no node",
        NoAuth => "not authenticated",
        BadVersion => "bad version",
        NoChildrenForEphemerals => "no children for ephemerals",
        NodeExists => "node exists",
        NotEmpty => "not empty",
        SessionExpired => "session expired",
        InvalidAcl => "invalid acl",
        AuthFailed => "authentication failed",
        SessionMoved => "session moved to another server, so operation is ignored",
        NotReadOnly => "state-changing request is passed to read-only server",
        ConnectionLoss => "connection loss",
        Timeout => "operation timeout",
        MarshallingError => "marshalling error",
        Unimplemented => "unimplemented",
        BadArguments(_) => "bad arguments",
        ClientClosed => "zookeeper is closing",
        Throttled => "Operation was throttled and not executed at all. please, retry!",
        other => return other.to_string(),
    };
    text.to_string()
}

/// Mesos's retry schedule: 2 s, then doubling, at most 60 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(RETRY_INTERVAL, MAX_RETRY_INTERVAL)
    }
}

impl Backoff {
    /// A schedule starting at `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, next: first, max }
    }

    /// The next wait (and doubles the one after).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Sleeps for the next wait.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts over from the first wait (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A change of the session's state, as Mesos's watcher sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// (Re)connected: the session is usable.
    Connected,
    /// The connection dropped; the session lives on the server until it
    /// expires, and the client is trying to reconnect.
    Disconnected,
    /// The session is over (the server expired it, or the client gave up
    /// reconnecting in time); its ephemeral znodes are gone. Terminal.
    Expired,
    /// The server refused our credentials. Terminal.
    AuthFailed,
    /// The client closed the session. Terminal.
    Closed,
}

impl SessionEvent {
    fn from_state(state: SessionState) -> Self {
        match state {
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => SessionEvent::Connected,
            SessionState::Disconnected => SessionEvent::Disconnected,
            SessionState::Expired => SessionEvent::Expired,
            SessionState::AuthFailed => SessionEvent::AuthFailed,
            SessionState::Closed => SessionEvent::Closed,
        }
    }

    /// True for the events after which the session is unusable.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionEvent::Expired | SessionEvent::AuthFailed | SessionEvent::Closed)
    }
}

/// The session's future state changes.
#[derive(Debug, Clone)]
pub struct SessionEvents {
    watcher: zk::StateWatcher,
    done: bool,
}

impl SessionEvents {
    /// The next state change; `None` after a terminal one.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        if self.done {
            return None;
        }
        let event = SessionEvent::from_state(self.watcher.changed().await);
        self.done = event.is_terminal();
        Some(event)
    }

    /// The changes as a `Stream`.
    pub fn into_stream(self) -> impl Stream<Item = SessionEvent> + Send + 'static {
        futures::stream::unfold(self, |mut events| async move { events.next().await.map(|e| (e, events)) })
    }
}

/// What ended a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    /// The watched znode (or its children) changed, or it was deleted.
    Changed,
    /// The session ended ([`SessionEvent::Expired`], `AuthFailed` or `Closed`).
    SessionEnded(SessionEvent),
}

/// A one-shot watch, set by a read.
#[derive(Debug)]
pub struct Watch(zk::OneshotWatcher);

impl Watch {
    /// Waits until the watch fires. A dropped connection does not fire it: the
    /// client sets it again when it reconnects within the session.
    pub async fn fired(self) -> WatchOutcome {
        let event = self.0.changed().await;
        if event.event_type == zk::EventType::Session {
            WatchOutcome::SessionEnded(SessionEvent::from_state(event.session_state))
        } else {
            WatchOutcome::Changed
        }
    }
}

/// One ZooKeeper session. Cheap to clone (clones share the session); the
/// session is closed when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ZkClient {
    client: zk::Client,
    config: ZkConfig,
}

impl ZkClient {
    /// Establishes a session (one attempt; see the module docs).
    pub async fn connect(config: &ZkConfig) -> Result<ZkClient, ZkError> {
        let connect_error =
            |source: zk::Error| ZkError::Connect { servers: config.servers.clone(), message: message(&source), source };
        if config.servers.trim().is_empty() {
            return Err(connect_error(zk::Error::BadArguments(&"no servers")));
        }
        let mut connector = zk::Client::connector().with_session_timeout(config.session_timeout);
        if let Some(auth) = &config.authentication {
            connector = connector.with_auth(&auth.scheme, auth.credentials.as_bytes());
        }
        let client = connector.connect(&config.servers).await.map_err(connect_error)?;
        tracing::info!(
            session = %client.session_id(),
            timeout_ms = client.session_timeout().as_millis() as u64,
            "connected to ZooKeeper at {}",
            config.servers
        );
        Ok(ZkClient { client, config: config.clone() })
    }

    /// Establishes a session, retrying until one is, or until an error that
    /// retrying cannot fix (bad connect string, refused credentials).
    pub async fn connect_retrying(config: &ZkConfig) -> Result<ZkClient, ZkError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), RETRY_INTERVAL);
        loop {
            match ZkClient::connect(config).await {
                Ok(client) => return Ok(client),
                Err(e) if e.recovery() == Recovery::Fatal => return Err(e),
                Err(e) => {
                    tracing::warn!("{e}; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    /// The config this client was made from.
    pub fn config(&self) -> &ZkConfig {
        &self.config
    }

    /// The session id (what ZooKeeper records as an ephemeral znode's owner).
    pub fn session_id(&self) -> i64 {
        self.client.session_id().0
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        self.client.session_timeout()
    }

    /// The session's current state.
    pub fn state(&self) -> SessionEvent {
        SessionEvent::from_state(self.client.state())
    }

    /// The session's state changes from now on.
    pub fn session_events(&self) -> SessionEvents {
        SessionEvents { watcher: self.client.state_watcher(), done: false }
    }

    /// The underlying client, for what this wrapper does not cover (multi-ops
    /// for the registry, for instance). Create znodes with [`ZkConfig::acls`].
    pub fn raw(&self) -> &zk::Client {
        &self.client
    }

    /// Creates `path` and any missing parent, empty, with Mesos's ACL; `Ok(false)`
    /// when `path` already existed (Mesos's `create(..., recursive=true)`).
    pub async fn create_path(&self, path: &str) -> Result<bool, ZkError> {
        let path = path.trim_end_matches('/');
        // As Mesos: check each level from the bottom up, then create the
        // missing ones from the top down (checking first also avoids asking for
        // CREATE permission on parents that already exist).
        let mut missing = Vec::new();
        let mut level = path;
        while !level.is_empty() && self.exists(level).await?.is_none() {
            missing.push(level);
            level = &level[..level.rfind('/').unwrap_or(0)];
        }
        for level in missing.iter().rev() {
            match self.client.create(level, b"", &CreateMode::Persistent.with_acls(self.config.acls())).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(ZkError::op("create", level, e)),
            }
        }
        Ok(!missing.is_empty())
    }

    /// Creates a znode with Mesos's ACL; returns its path (with the sequence
    /// number for sequential modes) and its sequence number (`-1` otherwise).
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<(String, i64), ZkError> {
        let (_, sequence) = self
            .client
            .create(path, data, &mode.with_acls(self.config.acls()))
            .await
            .map_err(|e| ZkError::op("create", path, e))?;
        if sequence.into_i64() < 0 {
            return Ok((path.to_string(), -1));
        }
        Ok((format!("{path}{sequence}"), sequence.into_i64()))
    }

    /// Reads a znode; `None` when it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Stat)>, ZkError> {
        match self.client.get_data(path).await {
            Ok(found) => Ok(Some(found)),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(ZkError::op("get", path, e)),
        }
    }

    /// Reads a znode and watches it for changes; `None` when it does not exist.
    pub async fn get_and_watch(&self, path: &str) -> Result<Option<(Vec<u8>, Stat, Watch)>, ZkError> {
        match self.client.get_and_watch_data(path).await {
            Ok((data, stat, watcher)) => Ok(Some((data, stat, Watch(watcher)))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(ZkError::op("get", path, e)),
        }
    }

    /// The znode's stat; `None` when it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>, ZkError> {
        self.client.check_stat(path).await.map_err(|e| ZkError::op("check", path, e))
    }

    /// Replaces a znode's data; with `version`, only if it still has that
    /// version (compare-and-set: [`zk::Error::BadVersion`] otherwise).
    pub async fn set(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat, ZkError> {
        self.client.set_data(path, data, version).await.map_err(|e| ZkError::op("set", path, e))
    }

    /// Deletes a znode; `Ok(false)` when it did not exist.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<bool, ZkError> {
        match self.client.delete(path, version).await {
            Ok(()) => Ok(true),
            Err(zk::Error::NoNode) => Ok(false),
            Err(e) => Err(ZkError::op("remove", path, e)),
        }
    }

    /// The names of a znode's children.
    pub async fn children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        self.client.list_children(path).await.map_err(|e| ZkError::op("get children of", path, e))
    }

    /// The names of a znode's children, and a watch that fires when they change.
    pub async fn children_and_watch(&self, path: &str) -> Result<(Vec<String>, Watch), ZkError> {
        self.client
            .list_and_watch_children(path)
            .await
            .map(|(children, watcher)| (children, Watch(watcher)))
            .map_err(|e| ZkError::op("get children of", path, e))
    }
}

/// Runs `op` until it succeeds or fails in a way [`Recovery::Retry`] does not
/// cover, waiting by `backoff` in between (Mesos's group retry loop).
pub async fn retry<T, F, Fut>(backoff: &mut Backoff, mut op: F) -> Result<T, ZkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ZkError>>,
{
    loop {
        match op().await {
            Err(e) if e.recovery() == Recovery::Retry => {
                tracing::warn!("{e}; retrying");
                backoff.wait().await;
            }
            result => {
                backoff.reset();
                return result;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors_like_mesos() {
        assert_eq!(recovery(&zk::Error::ConnectionLoss), Recovery::Retry);
        assert_eq!(recovery(&zk::Error::Timeout), Recovery::Retry);
        assert_eq!(recovery(&zk::Error::SessionExpired), Recovery::NewSession);
        assert_eq!(recovery(&zk::Error::SessionMoved), Recovery::NewSession);
        for fatal in [zk::Error::NoNode, zk::Error::NoAuth, zk::Error::NodeExists, zk::Error::AuthFailed] {
            assert_eq!(recovery(&fatal), Recovery::Fatal, "{fatal:?}");
        }
    }

    #[test]
    fn errors_read_like_mesos() {
        let e = ZkError::op("create", "/mesos", zk::Error::NoAuth);
        assert_eq!(e.to_string(), "Failed to create '/mesos' in ZooKeeper: not authenticated");
        assert_eq!(e.recovery(), Recovery::Fatal);
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), RETRY_INTERVAL);
    }

    #[test]
    fn acls_follow_credentials() {
        let open = ZkConfig::new("h:1", DEFAULT_SESSION_TIMEOUT);
        assert_eq!(&*open.acls(), &*Acls::anyone_all());
        let url = ZkUrl::parse("zk://u:p@h:1/mesos").unwrap();
        let secured = ZkConfig::from_url(&url, DEFAULT_SESSION_TIMEOUT);
        let acls = secured.acls();
        let acls: Vec<(u32, &str, &str)> =
            acls.iter().map(|a| (perm_bits(a.permission()), a.scheme(), a.id())).collect();
        assert_eq!(acls, [(1, "world", "anyone"), (31, "auth", "")]);
    }

    fn perm_bits(p: Permission) -> u32 {
        [Permission::READ, Permission::WRITE, Permission::CREATE, Permission::DELETE, Permission::ADMIN]
            .iter()
            .enumerate()
            .filter(|(_, bit)| p.has(**bit))
            .map(|(i, _)| 1 << i)
            .sum()
    }
}
