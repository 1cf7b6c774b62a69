//! The master's side of ZooKeeper leader election (`--zk`): Mesos's
//! `MasterContender` plus `MasterDetector` pair, wired for the driver.
//!
//! [`Election::start`] contends (our `json.info_` znode) and follows the
//! group. What the detector reports becomes the driver's [`Leadership`]
//! stream ([`Event::Detected`](super::Event::Detected) for the state
//! machine, which recovers the registry once it sees itself elected and
//! aborts if it stops leading). The contender's membership is shared with the
//! registry store ([`SharedMembership`]), whose writes are fenced on our
//! znode. Mesos's rules for the rest:
//! - a leader that loses its candidacy (session expired, znode deleted)
//!   aborts: "Lost candidacy as a leader... committing suicide!";
//! - a follower that loses its candidacy contends again (a new znode);
//! - a detector failure aborts: "Failed to detect the leading master";
//! - a graceful stop withdraws (deletes our znode at once, so the next
//!   master is elected without waiting for the session timeout).
//!
//! Aborting is reported on [`Election::fatal`]; the binary exits non-zero
//! so that a supervisor restarts the master as a fresh follower.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::proto::mesos::MasterInfo;
use crate::zookeeper::{ContenderEvent, MasterContender, MasterDetector, ZkUrl};

use super::runtime::Leadership;
use super::zk_store::SharedMembership;

/// A running candidacy and detector.
pub struct Election {
    /// What the detector sees, for [`runtime::run`](super::runtime::run).
    pub leadership: Option<Leadership>,
    /// Completes with Mesos's message when the master must abort.
    pub fatal: mpsc::UnboundedReceiver<String>,
    /// Our znode and its session while we are a member (for the registry).
    pub membership: SharedMembership,
    /// The election path (`/mesos`).
    pub path: String,
    stop: Option<oneshot::Sender<()>>,
    contender: Option<JoinHandle<()>>,
    detector: JoinHandle<()>,
}

impl Election {
    /// Contends and detects in the group `zk` names (`zk://...` or
    /// `file://`), as the master described by `info`. Needs a tokio runtime.
    pub async fn start(zk: &str, session_timeout: Duration, info: MasterInfo) -> Result<Election, String> {
        let contender = MasterContender::create(Some(zk), Some(session_timeout))
            .map_err(|e| format!("Failed to create a master contender: {e}"))?;
        let detector = MasterDetector::create(Some(zk), Some(session_timeout))
            .await
            .map_err(|e| format!("Failed to create a master detector: {e}"))?;
        let url = crate::zookeeper::url::read_indirection(zk)
            .map_err(|e| e.to_string())
            .and_then(|u| ZkUrl::parse_for_election(&u).map_err(|e| e.to_string()))
            .map_err(|e| format!("Error parsing ZooKeeper URL: {e}"))?;
        let path = url.znode().to_string();
        let membership: SharedMembership = Arc::new(Mutex::new(None));
        let (fatal_tx, fatal) = mpsc::unbounded_channel();
        let (leader_tx, leader_rx) = mpsc::channel(16);
        let (stop_tx, stop_rx) = oneshot::channel();

        let contender = tokio::spawn(contend(contender, info, membership.clone(), fatal_tx.clone(), stop_rx));
        let detector = tokio::spawn(async move {
            let mut stream = Box::pin(detector.into_stream());
            while let Some(detection) = stream.next().await {
                match detection {
                    Ok(leader) => {
                        if leader_tx.send(leader).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = fatal_tx.send(format!("Failed to detect the leading master: {e}; committing suicide!"));
                        return;
                    }
                }
            }
        });
        Ok(Election {
            leadership: Some(leader_rx),
            fatal,
            membership,
            path,
            stop: Some(stop_tx),
            contender: Some(contender),
            detector,
        })
    }

    /// Withdraws from the election (deleting our znode) and stops
    /// following; waits at most `timeout` for ZooKeeper.
    pub async fn withdraw(mut self, timeout: Duration) {
        self.detector.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.contender.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.detector.abort();
        if let Some(task) = self.contender.take() {
            task.abort();
        }
    }
}

async fn contend(
    contender: MasterContender,
    info: MasterInfo,
    membership: SharedMembership,
    fatal: mpsc::UnboundedSender<String>,
    mut stop: oneshot::Receiver<()>,
) {
    let set = |m| {
        if let Ok(mut slot) = membership.lock() {
            *slot = m;
        }
    };
    loop {
        let mut candidacy = contender.contend(&info);
        let mut leading = false;
        loop {
            let event = tokio::select! {
                _ = &mut stop => {
                    set(None);
                    match candidacy.withdraw().await {
                        Ok(_) => tracing::info!("Withdrew from the leader election"),
                        Err(e) => tracing::warn!("Failed to withdraw from the leader election: {e}"),
                    }
                    return;
                }
                event = candidacy.next() => event,
            };
            match event {
                Some(ContenderEvent::Joined { path, sequence }) => {
                    tracing::info!("Contending for leadership as {path} (sequence {sequence})");
                    set(candidacy.membership());
                }
                Some(ContenderEvent::Elected) => {
                    leading = true;
                    tracing::info!("This master's candidacy has the lowest sequence in the group");
                }
                Some(ContenderEvent::Following { leader }) => {
                    tracing::info!("Following the leader {leader}")
                }
                Some(ContenderEvent::Disconnected) => {
                    tracing::warn!("Disconnected from ZooKeeper; the session lives on until its timeout")
                }
                Some(ContenderEvent::Reconnected) => tracing::info!("Reconnected to ZooKeeper"),
                Some(ContenderEvent::Lost { was_leader, reason }) => {
                    set(None);
                    if was_leader || leading {
                        let _ = fatal.send(format!("Lost candidacy as a leader ({reason:?})... committing suicide!"));
                        return;
                    }
                    tracing::info!("Lost candidacy as a follower ({reason:?}); contending again");
                    break;
                }
                None => {
                    set(None);
                    if leading {
                        let _ = fatal.send("Lost candidacy as a leader... committing suicide!".to_string());
                        return;
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
