//! The master detector: who leads, for agents, scheduler drivers, CLIs, and
//! the masters themselves.
//!
//! [`MasterDetector::create`] takes what `--master` (agents, drivers) or
//! `--zk` (masters) hold, as Mesos's `MasterDetector::create` does:
//! - `zk://[user:pass@]host:port[,host:port]/path`: follow the group there;
//! - `file:///path`: the trimmed contents of the file, read again;
//! - anything else is a master's address, `host:port` or `master@host:port`
//!   (host names resolved once, here): a fixed leader, with the MasterInfo Mesos
//!   makes from a UPID ([`master_info::from_upid`]);
//! - nothing: a standalone detector with no leader until one is
//!   [appointed](MasterDetector::appoint) (the master without `--zk`).
//!
//! # Following a ZooKeeper group
//! A task keeps a session (reconnecting, and replacing it when it expires),
//! creates the group path if it is missing (Mesos's group does), lists the
//! group's children with a watch, elects the member with the lowest sequence
//! whatever its label ([`group::leader`]), reads that member's data and turns it
//! into a MasterInfo by its label: `json.info` as JSON, `info` as a protobuf,
//! none as a UPID ([`master_info::decode`]). The result is published when the
//! leading *member* changes, as in Mesos (a master's data never changes while
//! it is a member).
//!
//! What is published, a [`Detection`], is:
//! - `Ok(Some(info))`: a leader;
//! - `Ok(None)`: no leader (no member; the leader's znode vanished before it
//!   could be read; or our session expired, during which Mesos's group also
//!   reports an empty membership, until the new session lists the group again);
//! - `Err(_)`: the leading member's data cannot be read (Mesos's detector fails
//!   its callers then, and agents exit), or ZooKeeper refuses us (bad
//!   credentials, no permission). The task keeps watching: the next change of
//!   leader, or a retry, replaces it.
//!
//! A dropped connection publishes nothing (the session and its members live
//! on); everything is retried with Mesos's backoff.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::proto::mesos::MasterInfo;
use crate::v0_compat::Upid;

use super::client::{retry, Backoff, Recovery, WatchOutcome, ZkClient, ZkConfig, ZkError};
use super::group::{self, Member};
use super::master_info::{self, DataError, Decoded};
use super::url::{read_indirection, UrlError, ZkUrl};

/// The leader as a detector sees it (see the module docs).
pub type Detection = Result<Option<MasterInfo>, DetectError>;

/// Why the leader is unknown although the group has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    /// The leading member's znode holds something that is not a MasterInfo.
    #[error("{error} (in '{node}')")]
    LeaderData { node: String, error: DataError },
    /// ZooKeeper refused an operation retrying cannot fix.
    #[error(transparent)]
    ZooKeeper(#[from] ZkError),
}

/// Why a detector could not be made from `--master` / `--zk`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectorError {
    /// A bad `zk://` URL or an unreadable `file://`.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Not a URL and not a master's address.
    #[error("Failed to parse '{0}'")]
    Unrecognized(String),
}

/// Aborts the detection task when the last detector handle is dropped.
#[derive(Debug)]
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Detects the leading master. Clones share one detection.
#[derive(Debug, Clone)]
pub struct MasterDetector {
    leader: watch::Receiver<Detection>,
    /// Set for a standalone detector, whose leader is appointed.
    appointer: Option<Arc<watch::Sender<Detection>>>,
    /// The ZooKeeper task, for a ZooKeeper detector.
    _task: Option<Arc<TaskGuard>>,
    /// Whether this handle has returned anything yet (see [`Self::detect`]).
    reported: bool,
}

impl MasterDetector {
    /// Mesos's `MasterDetector::create` (see the module docs).
    /// `session_timeout` is `--zk_session_timeout` (default 10 s; Mesos
    /// forgets it after a `file://` indirection, we keep it). Resolves a host
    /// name in a master address; needs a tokio runtime for ZooKeeper.
    pub async fn create(master: Option<&str>, session_timeout: Option<Duration>) -> Result<Self, DetectorError> {
        let Some(master) = master else {
            return Ok(MasterDetector::standalone(None));
        };
        let master = read_indirection(master)?;
        if master.starts_with(ZkUrl::SCHEME) {
            let url = ZkUrl::parse_for_election(&master)?;
            return Ok(MasterDetector::zookeeper(&url, session_timeout.unwrap_or(super::DEFAULT_SESSION_TIMEOUT)));
        }
        let pid = if master.starts_with("master@") { master.clone() } else { format!("master@{master}") };
        match Upid::resolve(&pid).await {
            Ok(pid) => Ok(MasterDetector::standalone(Some(master_info::from_upid(&pid)))),
            Err(_) => Err(DetectorError::Unrecognized(master)),
        }
    }

    /// A detector whose leader is whatever was last appointed.
    pub fn standalone(leader: Option<MasterInfo>) -> Self {
        let (tx, rx) = watch::channel(Ok(leader));
        MasterDetector { leader: rx, appointer: Some(Arc::new(tx)), _task: None, reported: false }
    }

    /// A detector following the group at `url`'s path. Needs a tokio runtime.
    pub fn zookeeper(url: &ZkUrl, session_timeout: Duration) -> Self {
        let (tx, rx) = watch::channel(Ok(None));
        let follower =
            Follower { config: ZkConfig::from_url(url, session_timeout), group: url.znode().to_string(), tx };
        let task = tokio::spawn(follower.run());
        MasterDetector { leader: rx, appointer: None, _task: Some(Arc::new(TaskGuard(task))), reported: false }
    }

    /// Appoints the leader of a standalone detector (Mesos's
    /// `StandaloneMasterDetector::appoint`); `false` for a ZooKeeper detector.
    pub fn appoint(&self, leader: Option<MasterInfo>) -> bool {
        match &self.appointer {
            Some(tx) => {
                let _ = tx.send_replace(Ok(leader));
                true
            }
            None => false,
        }
    }

    /// The leader as currently known.
    pub fn leader(&self) -> Detection {
        self.leader.borrow().clone()
    }

    /// Mesos's `detect(previous)`: returns as soon as the leader differs from
    /// `previous` (at once if it already does). An error is returned once per
    /// occurrence: calling again with the same `previous` waits for the next
    /// change rather than returning the same error again.
    pub async fn detect(&mut self, previous: Option<&MasterInfo>) -> Detection {
        let mut fresh = !self.reported || self.leader.has_changed().unwrap_or(false);
        self.reported = true;
        loop {
            let current = self.leader.borrow_and_update().clone();
            let differs = match &current {
                Ok(leader) => leader.as_ref() != previous,
                Err(_) => fresh,
            };
            if differs {
                return current;
            }
            if self.leader.changed().await.is_err() {
                // The task is gone (cannot happen while a handle lives).
                return std::future::pending().await;
            }
            fresh = true;
        }
    }

    /// Waits for the next change and returns it.
    pub async fn changed(&mut self) -> Detection {
        self.reported = true;
        if self.leader.changed().await.is_err() {
            return std::future::pending().await;
        }
        self.leader.borrow_and_update().clone()
    }

    /// The current detection, then every change.
    pub fn into_stream(mut self) -> impl Stream<Item = Detection> + Send + 'static {
        let first = self.leader.borrow_and_update().clone();
        futures::stream::unfold((Some(first), self), |(first, mut me)| async move {
            match first {
                Some(value) => Some((value, (None, me))),
                None => {
                    let value = me.changed().await;
                    Some((value, (None, me)))
                }
            }
        })
    }
}

/// The ZooKeeper detection task.
struct Follower {
    config: ZkConfig,
    group: String,
    tx: watch::Sender<Detection>,
}

/// Why reading the leader's data failed.
enum ReadError {
    ZooKeeper(ZkError),
    Data(DataError),
}

impl Follower {
    fn publish(&self, detection: Detection) {
        let changed = self.tx.send_if_modified(|current| {
            if *current == detection {
                return false;
            }
            *current = detection.clone();
            true
        });
        if changed {
            match &detection {
                Ok(Some(info)) => tracing::info!(
                    "A new leading master (UPID={}) is detected",
                    info.pid.as_deref().unwrap_or("unknown")
                ),
                Ok(None) => tracing::info!("No leading master detected under '{}'", self.group),
                Err(e) => tracing::error!("Failed to detect the leading master: {e}"),
            }
        }
    }

    async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            let client = match ZkClient::connect_retrying(&self.config).await {
                Ok(client) => client,
                Err(e) => {
                    self.publish(Err(e.into()));
                    backoff.wait().await;
                    continue;
                }
            };
            match retry(&mut Backoff::default(), || client.create_path(&self.group)).await {
                Ok(_) => {}
                Err(e) if e.recovery() == Recovery::NewSession => continue,
                Err(e) => {
                    self.publish(Err(e.into()));
                    backoff.wait().await;
                    continue;
                }
            }
            backoff.reset();
            self.follow(&client).await;
            tracing::info!("ZooKeeper session ended; detecting on a new session");
        }
    }

    /// Follows the group on one session; returns when the session ends.
    async fn follow(&self, client: &ZkClient) {
        let mut backoff = Backoff::default();
        // The member whose outcome is published.
        let mut current: Option<String> = None;
        loop {
            let (children, watch) = match client.children_and_watch(&self.group).await {
                Ok(listing) => listing,
                Err(e) => match e.recovery() {
                    Recovery::Retry => {
                        backoff.wait().await;
                        continue;
                    }
                    Recovery::NewSession => return self.publish(Ok(None)),
                    Recovery::Fatal if e.is_no_node() => {
                        // The group path was deleted: make it again and go on.
                        if let Err(e) = retry(&mut backoff, || client.create_path(&self.group)).await {
                            if e.recovery() == Recovery::NewSession {
                                return self.publish(Ok(None));
                            }
                            self.publish(Err(e.into()));
                            backoff.wait().await;
                        }
                        continue;
                    }
                    Recovery::Fatal => {
                        self.publish(Err(e.into()));
                        backoff.wait().await;
                        continue;
                    }
                },
            };
            backoff.reset();
            let leader = group::leader(&children);
            if leader.as_ref().map(|m| &m.name) != current.as_ref() {
                match leader {
                    None => {
                        current = None;
                        self.publish(Ok(None));
                    }
                    Some(member) => match self.read(client, &member).await {
                        Ok(info) => {
                            current = info.is_some().then(|| member.name.clone());
                            self.publish(Ok(info));
                        }
                        Err(ReadError::Data(error)) => {
                            current = Some(member.name.clone());
                            self.publish(Err(DetectError::LeaderData { node: member.name, error }));
                        }
                        Err(ReadError::ZooKeeper(e)) => match e.recovery() {
                            Recovery::NewSession => return self.publish(Ok(None)),
                            Recovery::Retry => {
                                backoff.wait().await;
                                continue;
                            }
                            Recovery::Fatal => {
                                current = Some(member.name);
                                self.publish(Err(e.into()));
                            }
                        },
                    },
                }
            }
            if let WatchOutcome::SessionEnded(_) = watch.fired().await {
                return self.publish(Ok(None));
            }
        }
    }

    /// The leading member's MasterInfo; `None` if its znode is already gone.
    async fn read(&self, client: &ZkClient, member: &Member) -> Result<Option<MasterInfo>, ReadError> {
        let path = group::child_path(&self.group, &member.name);
        let Some((data, _)) = client.get(&path).await.map_err(ReadError::ZooKeeper)? else {
            return Ok(None);
        };
        match master_info::decode(member.label.as_deref(), &data).map_err(ReadError::Data)? {
            Decoded::Info(info) => Ok(Some(*info)),
            Decoded::Pid(pid) => {
                tracing::warn!("Leading master {pid} has data in old format");
                match Upid::resolve(&pid).await {
                    Ok(pid) => Ok(Some(master_info::from_upid(&pid))),
                    Err(e) => Err(ReadError::Data(DataError::Upid(e.to_string()))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{FutureExt, StreamExt};

    #[tokio::test]
    async fn create_reads_addresses_like_mesos() {
        let d = MasterDetector::create(Some("127.0.0.1:5050"), None).await.unwrap();
        let info = d.leader().unwrap().unwrap();
        assert_eq!(info.pid.as_deref(), Some("master@127.0.0.1:5050"));
        assert_eq!(info.ip, 16_777_343);
        assert_eq!(info.port, 5050);

        let d = MasterDetector::create(Some("master@10.1.2.3:5051"), None).await.unwrap();
        assert_eq!(d.leader().unwrap().unwrap().pid.as_deref(), Some("master@10.1.2.3:5051"));

        let d = MasterDetector::create(Some("localhost:5050"), None).await.unwrap();
        let info = d.leader().unwrap().unwrap();
        assert_eq!(info.port, 5050);
        assert_eq!(info.hostname.as_deref(), Some("localhost"));

        for bad in ["", "nohostport", "10.0.0.1", "10.0.0.1:notaport", "slave@10.0.0.1:5051x"] {
            let err = MasterDetector::create(Some(bad), None).await.unwrap_err();
            assert_eq!(err.to_string(), format!("Failed to parse '{bad}'"));
        }
        let err = MasterDetector::create(Some("zk://h:2181"), None).await.unwrap_err();
        assert_eq!(err.to_string(), "Expecting a (chroot) path for ZooKeeper ('/' is not supported)");
        let err = MasterDetector::create(Some("file:///nonexistent/master"), None).await.unwrap_err();
        assert_eq!(err.to_string(), "Failed to read from file at '/nonexistent/master'");
    }

    #[tokio::test]
    async fn file_holds_an_address() {
        let path = std::env::temp_dir().join(format!("zk-detector-test-{}", std::process::id()));
        std::fs::write(&path, "10.9.8.7:5050\n").unwrap();
        let d = MasterDetector::create(Some(&format!("file://{}", path.display())), None).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(d.leader().unwrap().unwrap().pid.as_deref(), Some("master@10.9.8.7:5050"));
    }

    #[tokio::test]
    async fn standalone_detect_follows_appointments() {
        let mut d = MasterDetector::create(None, None).await.unwrap();
        assert_eq!(d.leader(), Ok(None));
        assert!(d.detect(None).now_or_never().is_none(), "no leader yet: detect(None) waits");
        let info = master_info::from_upid(&"master@10.0.0.1:5050".parse().unwrap());
        assert!(d.appoint(Some(info.clone())));
        assert_eq!(d.detect(None).await, Ok(Some(info.clone())));
        assert!(d.detect(Some(&info)).now_or_never().is_none());
        let mut stream = Box::pin(d.clone().into_stream());
        assert_eq!(stream.next().await, Some(Ok(Some(info.clone()))));
        d.appoint(None);
        assert_eq!(d.detect(Some(&info)).await, Ok(None));
        assert_eq!(stream.next().await, Some(Ok(None)));
    }
}
