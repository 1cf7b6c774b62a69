//! Finding the leading master (Mesos's `MasterDetector`).
//!
//! The agent asks "who leads, if not `previous`?" and gets an answer once
//! it changes. `--master=host:port` (or `master@host:port`, or a
//! `file:///path` holding either, which the flag loader already read) is a
//! [`StandaloneDetector`]: one fixed master, so a detection with that master
//! as `previous` never completes. A `zk://` URL (or a `file://` holding one)
//! is a [`ZooKeeperDetector`], following the group with
//! [`crate::zookeeper::detector`].

use std::time::Duration;

use futures::future::{self, BoxFuture};
use futures::FutureExt;

use crate::proto::mesos::MasterInfo;
use crate::v0_compat::Upid;
use crate::zookeeper::detector as zk;
use crate::zookeeper::url::{read_indirection, ZkUrl};

/// See the module docs.
pub trait MasterDetector: Send + Sync + 'static {
    /// Resolves with the leading master once it differs from `previous`
    /// (`Ok(None)`: no leader). An error is permanent (Mesos exits).
    fn detect(&self, previous: Option<Upid>) -> BoxFuture<'static, Result<Option<Upid>, String>>;
}

/// A fixed master.
#[derive(Debug, Clone)]
pub struct StandaloneDetector {
    leader: Option<Upid>,
}

impl StandaloneDetector {
    pub fn new(leader: Option<Upid>) -> StandaloneDetector {
        StandaloneDetector { leader }
    }
}

impl MasterDetector for StandaloneDetector {
    fn detect(&self, previous: Option<Upid>) -> BoxFuture<'static, Result<Option<Upid>, String>> {
        if previous != self.leader {
            future::ready(Ok(self.leader.clone())).boxed()
        } else {
            future::pending().boxed()
        }
    }
}

/// The leader of a ZooKeeper group.
#[derive(Debug, Clone)]
pub struct ZooKeeperDetector {
    inner: zk::MasterDetector,
}

impl ZooKeeperDetector {
    pub fn new(inner: zk::MasterDetector) -> ZooKeeperDetector {
        ZooKeeperDetector { inner }
    }
}

/// The libprocess address of a detected master: its `pid`, else its address.
fn leader_pid(info: &MasterInfo) -> Result<Upid, String> {
    if let Some(pid) = info.pid.as_deref() {
        return pid.parse::<Upid>().map_err(|e| format!("Bad master pid '{pid}': {e}"));
    }
    let ip = match info.address.as_ref().and_then(|a| a.ip.clone()) {
        Some(ip) => ip,
        None => crate::zookeeper::master_info::ip_from_field(info.ip).to_string(),
    };
    let text = format!("master@{ip}:{}", info.port);
    text.parse::<Upid>().map_err(|e| format!("Bad master address '{text}': {e}"))
}

impl MasterDetector for ZooKeeperDetector {
    fn detect(&self, previous: Option<Upid>) -> BoxFuture<'static, Result<Option<Upid>, String>> {
        let mut inner = self.inner.clone();
        async move {
            loop {
                let leader = match inner.leader() {
                    Err(e) => return Err(e.to_string()),
                    Ok(None) => None,
                    Ok(Some(info)) => Some(leader_pid(&info)?),
                };
                if leader != previous {
                    return Ok(leader);
                }
                // A change since this clone last looked (possibly one
                // already seen above) or the next one; then look again.
                let _ = inner.changed().await;
            }
        }
        .boxed()
    }
}

/// Builds the detector for a `--master` value; `zk_session_timeout` is the
/// flag of that name. A ZooKeeper detector needs a tokio runtime.
pub fn create(master: &str, zk_session_timeout: Duration) -> Result<Box<dyn MasterDetector>, String> {
    let master = read_indirection(master.trim()).map_err(|e| format!("Failed to create a master detector: {e}"))?;
    let master = master.trim();
    if master.starts_with(ZkUrl::SCHEME) {
        let url = ZkUrl::parse_for_election(master)
            .map_err(|e| format!("Failed to create a master detector for '{master}': {e}"))?;
        return Ok(Box::new(ZooKeeperDetector::new(zk::MasterDetector::zookeeper(&url, zk_session_timeout))));
    }
    let text = if master.starts_with("master@") { master.to_string() } else { format!("master@{master}") };
    let pid =
        Upid::resolve_blocking(&text).map_err(|e| format!("Failed to create a master detector for '{master}': {e}"))?;
    Ok(Box::new(StandaloneDetector::new(Some(pid))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_detector_answers_once_per_change() {
        let create = |m: &str| create(m, Duration::from_secs(10));
        let d = create("127.0.0.1:5050").unwrap();
        let leader = d.detect(None).now_or_never().unwrap().unwrap().unwrap();
        assert_eq!(leader.to_string(), "master@127.0.0.1:5050");
        assert!(d.detect(Some(leader)).now_or_never().is_none());
        let d = create("master@10.1.2.3:5051").unwrap();
        assert_eq!(d.detect(None).now_or_never().unwrap().unwrap().unwrap().to_string(), "master@10.1.2.3:5051");
        assert!(create("zk://h:2181").is_err(), "a group path is required");
        assert!(create("nonsense").is_err());
    }

    #[test]
    fn a_zookeeper_detector_reports_each_leader_change_as_a_pid() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // A standalone inner detector stands in for the group: the
            // adapter only sees its published leaders.
            let inner = zk::MasterDetector::standalone(None);
            let d = ZooKeeperDetector::new(inner.clone());
            assert!(d.detect(None).now_or_never().is_none(), "no leader yet");
            let first: Upid = "master@10.0.0.1:5050".parse().unwrap();
            inner.appoint(Some(crate::zookeeper::master_info::from_upid(&first)));
            assert_eq!(d.detect(None).await.unwrap(), Some(first.clone()));
            let pending = d.detect(Some(first.clone()));
            let second: Upid = "master@10.0.0.2:5050".parse().unwrap();
            let mut info = crate::zookeeper::master_info::from_upid(&second);
            info.pid = None; // Found from the address then.
            inner.appoint(Some(info));
            assert_eq!(pending.await.unwrap(), Some(second.clone()));
            inner.appoint(None);
            assert_eq!(d.detect(Some(second)).await.unwrap(), None);
        });
    }
}
