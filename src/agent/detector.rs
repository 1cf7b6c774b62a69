//! Finding the leading master (Mesos's `MasterDetector`).
//!
//! The agent asks "who leads, if not `previous`?" and gets an answer once
//! it changes. `--master=host:port` (or `master@host:port`, or a
//! `file:///path` holding either, which the flag loader already read) is a
//! [`StandaloneDetector`]: one fixed master, so a detection with that master
//! as `previous` never completes. `zk://` URLs are refused until the
//! ZooKeeper detector lands (issue 6); it will implement the same trait.

use futures::future::{self, BoxFuture};
use futures::FutureExt;

use crate::v0_compat::Upid;

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

/// Builds the detector for a `--master` value.
pub fn create(master: &str) -> Result<Box<dyn MasterDetector>, String> {
    let master = master.trim();
    if master.starts_with("zk://") {
        return Err(format!(
            "Failed to create a master detector for '{master}': ZooKeeper master detection is not supported yet"
        ));
    }
    let text = if master.starts_with("master@") { master.to_string() } else { format!("master@{master}") };
    let pid = Upid::resolve_blocking(&text)
        .map_err(|e| format!("Failed to create a master detector for '{master}': {e}"))?;
    Ok(Box::new(StandaloneDetector::new(Some(pid))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_detector_answers_once_per_change() {
        let d = create("127.0.0.1:5050").unwrap();
        let leader = d.detect(None).now_or_never().unwrap().unwrap().unwrap();
        assert_eq!(leader.to_string(), "master@127.0.0.1:5050");
        assert!(d.detect(Some(leader)).now_or_never().is_none());
        let d = create("master@10.1.2.3:5051").unwrap();
        assert_eq!(d.detect(None).now_or_never().unwrap().unwrap().unwrap().to_string(), "master@10.1.2.3:5051");
        assert!(create("zk://h:2181/mesos").err().unwrap().contains("ZooKeeper"));
        assert!(create("nonsense").is_err());
    }
}
