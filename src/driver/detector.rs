//! Who leads: the master detection a scheduler driver follows.
//!
//! [`Detector::create`] reads the driver's `master` string the way Apache's
//! `MasterDetector::create` does:
//! - `zk://[user:pass@]host:port[,host:port...]/path`: follow the ZooKeeper group;
//! - `file:///path`: the trimmed contents of the file, read again (deprecated
//!   in Mesos, still honoured);
//! - `master@host:port` or `host:port`: a fixed leader, with the `MasterInfo`
//!   Mesos makes from a UPID (host names resolved once, here).
//!
//! A standalone detector can also be [appointed](Detector::appoint) a new
//! leader, as Mesos's `StandaloneMasterDetector` is in its tests: that is how
//! a master failover is simulated without ZooKeeper.
//!
//! As in Mesos, a fixed `host:port` leader never changes: if that master
//! restarts, the driver does not notice (Mesos's scheduler driver has no
//! `exited` handler); only a detector change makes it re-register.
//!
//! ZooKeeper detection is [`crate::zookeeper::MasterDetector`], started on
//! the drivers' runtime when the driver starts following. Where Mesos's
//! driver exits the process when the leader's znode cannot be read, ours logs
//! the error and keeps following (the detector retries).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::proto::mesos::MasterInfo;
use crate::v0_compat::{Upid, UpidError};
use crate::zookeeper::url::{read_indirection, UrlError};
use crate::zookeeper::{MasterDetector, ZkUrl, DEFAULT_SESSION_TIMEOUT};

/// The `MasterInfo` Mesos builds for a master known only by its UPID
/// (`protobuf::createMasterInfo`).
pub use crate::zookeeper::master_info::from_upid as master_info_from_upid;

/// Why a detector could not be made from a `master` string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectorError {
    /// A `zk://` URL Mesos would refuse, or an unreadable `file://`.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Neither a URL nor a master's address.
    #[error("Failed to parse '{0}'")]
    Unrecognized(String),
    /// A form mesos-rs does not support (e.g. `local`, which starts an
    /// in-process cluster in Apache's libmesos).
    #[error("{0}")]
    Unsupported(String),
}

/// The leading master as the driver uses it: its info, and its UPID resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Leader {
    pub info: MasterInfo,
    pub pid: Upid,
}

impl Leader {
    /// The leader described by `info`: its `pid`, or failing that
    /// `master@<address>` (resolved if it names a host). `None` when neither
    /// gives a UPID.
    pub fn from_info(info: MasterInfo) -> Option<Leader> {
        let pid = match info.pid.as_deref().filter(|p| !p.is_empty()) {
            Some(pid) => Upid::resolve_blocking(pid).ok()?,
            None => {
                let address = info.address.as_ref()?;
                let host = address.ip.as_deref().or(address.hostname.as_deref())?;
                Upid::resolve_blocking(&format!("master@{host}:{}", address.port)).ok()?
            }
        };
        Some(Leader { info, pid })
    }
}

/// Parses a master's address as Mesos reads one: `master@host:port`, or
/// `host:port` with `master@` put in front.
pub fn parse_master_pid(master: &str) -> Result<Upid, UpidError> {
    let text = if master.starts_with("master@") { master.to_string() } else { format!("master@{master}") };
    Upid::resolve_blocking(&text)
}

/// A leader detector. Clones follow the same detection.
#[derive(Clone)]
pub struct Detector {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// A leader that changes only when appointed.
    Standalone(Arc<watch::Sender<Option<MasterInfo>>>),
    /// The group at a ZooKeeper URL, followed once the driver starts.
    ZooKeeper { url: ZkUrl, session_timeout: Duration },
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Standalone(tx) => f.debug_tuple("Detector::Standalone").field(&*tx.borrow()).finish(),
            Inner::ZooKeeper { url, .. } => f.debug_tuple("Detector::ZooKeeper").field(&url.redacted()).finish(),
        }
    }
}

impl Detector {
    /// Apache's `MasterDetector::create(master)` (see the module docs).
    pub fn create(master: &str) -> Result<Detector, DetectorError> {
        let master = master.trim();
        if master == "local" || master == "localquiet" {
            return Err(DetectorError::Unsupported(
                "'local' (an in-process Mesos cluster) is not supported by mesos-rs; run mesos-master and \
                 mesos-agent and give the master's address"
                    .to_string(),
            ));
        }
        if master.starts_with("file://") {
            tracing::warn!(
                "Specifying master detection mechanism / ZooKeeper URL to be read out of a file via \
                 'file://' is deprecated inside Mesos and will be removed in a future release."
            );
        }
        let master = read_indirection(master)?;
        if master.starts_with(ZkUrl::SCHEME) {
            let url = ZkUrl::parse_for_election(&master)?;
            return Ok(Detector::zookeeper(url, DEFAULT_SESSION_TIMEOUT));
        }
        let pid = parse_master_pid(&master).map_err(|_| DetectorError::Unrecognized(master.clone()))?;
        Ok(Detector::standalone(Some(master_info_from_upid(&pid))))
    }

    /// A detector following the ZooKeeper group at `url` (with this session
    /// timeout; Mesos's drivers use 10 seconds).
    pub fn zookeeper(url: ZkUrl, session_timeout: Duration) -> Detector {
        Detector { inner: Inner::ZooKeeper { url, session_timeout } }
    }

    /// A detector whose leader is `leader` until [appointed](Self::appoint) otherwise.
    pub fn standalone(leader: Option<MasterInfo>) -> Detector {
        let (tx, _) = watch::channel(leader);
        Detector { inner: Inner::Standalone(Arc::new(tx)) }
    }

    /// Makes `leader` the detected leader (`None`: no leader). Returns
    /// `false` for a detector that follows ZooKeeper and cannot be appointed.
    pub fn appoint(&self, leader: Option<MasterInfo>) -> bool {
        match &self.inner {
            Inner::Standalone(tx) => {
                tx.send_replace(leader);
                true
            }
            Inner::ZooKeeper { .. } => false,
        }
    }

    /// The leader of a standalone detector (`None` for a ZooKeeper one,
    /// whose leader is only known once followed).
    pub fn leader(&self) -> Option<MasterInfo> {
        match &self.inner {
            Inner::Standalone(tx) => tx.borrow().clone(),
            Inner::ZooKeeper { .. } => None,
        }
    }

    /// Calls `report` with the current leader and then with every change
    /// (Apache's `detect(previous)` loop: a repeat of the same leader is not
    /// reported), until `report` returns `false`. Runs on the driver's runtime.
    pub(crate) async fn follow(self, mut report: impl FnMut(Option<MasterInfo>) -> bool) {
        match self.inner {
            Inner::Standalone(tx) => {
                let mut rx = tx.subscribe();
                let mut previous = rx.borrow_and_update().clone();
                if !report(previous.clone()) {
                    return;
                }
                // Our sender lives as long as `tx`, which we hold.
                while rx.changed().await.is_ok() {
                    let current = rx.borrow_and_update().clone();
                    if current != previous {
                        previous = current.clone();
                        if !report(current) {
                            return;
                        }
                    }
                }
            }
            Inner::ZooKeeper { url, session_timeout } => {
                let mut detector = MasterDetector::zookeeper(&url, session_timeout);
                let mut previous: Option<MasterInfo> = None;
                loop {
                    match detector.detect(previous.as_ref()).await {
                        Ok(leader) => {
                            previous = leader.clone();
                            if !report(leader) {
                                return;
                            }
                        }
                        // Mesos's driver exits the process here.
                        Err(e) => tracing::error!("Failed to detect a master: {e}"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_strings_in_every_standalone_form() {
        for form in ["127.0.0.1:5050", "master@127.0.0.1:5050", " master@127.0.0.1:5050 "] {
            let d = Detector::create(form).unwrap();
            let info = d.leader().unwrap();
            assert_eq!(info.pid.as_deref(), Some("master@127.0.0.1:5050"));
            assert_eq!(info.port, 5050);
            assert_eq!(info.ip, u32::from_le_bytes([127, 0, 0, 1]));
            assert!(info.id.starts_with("master@127.0.0.1:5050-"));
            assert_eq!(info.address.as_ref().unwrap().ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(info.capabilities.len(), 3);
        }
        assert_eq!(Detector::create("nonsense").unwrap_err(), DetectorError::Unrecognized("nonsense".into()));
        assert!(matches!(Detector::create("local"), Err(DetectorError::Unsupported(_))));
        assert_eq!(Detector::create("zk://127.0.0.1:2181/").unwrap_err(), DetectorError::Url(UrlError::RootPath));
        assert!(format!("{:?}", Detector::create("zk://127.0.0.1:2181/mesos").unwrap()).contains("/mesos"));
    }

    #[test]
    fn file_urls_are_read_and_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master");
        std::fs::write(&path, "  127.0.0.1:5051\n").unwrap();
        let d = Detector::create(&format!("file://{}", path.display())).unwrap();
        assert_eq!(d.leader().unwrap().port, 5051);
        let missing = format!("file://{}", dir.path().join("nope").display());
        assert!(matches!(Detector::create(&missing), Err(DetectorError::Url(UrlError::File { .. }))));
        std::fs::write(&path, "zk://127.0.0.1:2181/mesos").unwrap();
        let zk = Detector::create(&format!("file://{}", path.display())).unwrap();
        assert!(!zk.appoint(None), "a ZooKeeper detector cannot be appointed");
    }

    #[test]
    fn leaders_come_from_pid_or_address() {
        let info = master_info_from_upid(&"master@127.0.0.1:5050".parse().unwrap());
        assert_eq!(Leader::from_info(info.clone()).unwrap().pid.to_string(), "master@127.0.0.1:5050");
        let no_pid = MasterInfo { pid: None, ..info };
        assert_eq!(Leader::from_info(no_pid.clone()).unwrap().pid.to_string(), "master@127.0.0.1:5050");
        assert_eq!(Leader::from_info(MasterInfo { address: None, ..no_pid }), None);
    }

    #[tokio::test]
    async fn follow_reports_changes_only() {
        let d = Detector::standalone(None);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(d.clone().follow(move |leader| tx.send(leader).is_ok()));
        assert_eq!(rx.recv().await.unwrap(), None);
        let a = master_info_from_upid(&"master@127.0.0.1:1".parse().unwrap());
        d.appoint(Some(a.clone()));
        assert_eq!(rx.recv().await.unwrap(), Some(a.clone()));
        d.appoint(Some(a.clone())); // the same leader again: nothing
        let b = master_info_from_upid(&"master@127.0.0.1:1".parse().unwrap()); // same pid, new id
        d.appoint(Some(b.clone()));
        assert_eq!(rx.recv().await.unwrap(), Some(b));
        drop(rx);
        d.appoint(None);
        task.await.unwrap();
    }
}
