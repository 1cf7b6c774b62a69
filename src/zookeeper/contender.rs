//! The master contender: a master's candidacy for leadership, in Mesos's
//! ZooKeeper layout.
//!
//! # What it does
//! [`MasterContender::contend`] starts a [`Candidacy`]: a task that connects to
//! ZooKeeper, creates the group path if needed, and joins the group with an
//! ephemeral sequential znode `<path>/json.info_<10-digit sequence>` holding the
//! master's `MasterInfo` as Mesos writes it ([`master_info::to_json`]). It then
//! watches the group's children and reports, as [`ContenderEvent`]s:
//! - [`ContenderEvent::Joined`] once the znode exists;
//! - [`ContenderEvent::Elected`] when ours is the member with the lowest
//!   sequence number (the same rule every detector applies, so what the
//!   contender says and what agents and frameworks detect agree), or
//!   [`ContenderEvent::Following`] naming the member that leads;
//! - [`ContenderEvent::Disconnected`] / [`ContenderEvent::Reconnected`] as the
//!   connection drops and comes back within the session (the znode lives on);
//! - [`ContenderEvent::Lost`] when the znode is gone: the session expired (on
//!   the server, or locally because the client could not reconnect in time),
//!   someone deleted it, or a failure retrying cannot fix. Terminal.
//!
//! [`Candidacy::withdraw`] deletes the znode (Mesos's `withdraw`); dropping the
//! `Candidacy` closes the session, which makes ZooKeeper delete it too.
//!
//! # What the master should do with them (operators' expectations)
//! Mesos's master learns "elected" from its detector, and on losing its
//! candidacy while leading it exits ("Lost candidacy as a leader... committing
//! suicide!") so that its supervisor restarts it as a fresh follower; a
//! follower that loses its candidacy just contends again. Operators run masters
//! under supervisors for exactly that reason, and expect a deposed leader to
//! stop serving at once. Our master should therefore:
//! - start leading on `Elected` (recover the registry, then serve);
//! - on `Lost { was_leader: true, .. }`, stop acting as leader immediately and
//!   exit with status 1 and Mesos's message (it may flush logs first, but must
//!   not write to the registry or answer as leader any more);
//! - on `Lost { was_leader: false, .. }`, call `contend` again (new znode);
//! - treat `Disconnected` as a warning: ZooKeeper keeps the session (and
//!   leadership) until the timeout, after which `Lost` follows. Registry writes
//!   fail while disconnected, so nothing durable happens in between.
//!
//! [`Candidacy::membership`] exposes the live session and our znode, so the
//! registry can fence its writes on our znode still existing (a multi-op with
//! a version check on it).
//!
//! Without `--zk` Mesos uses a standalone contender, elected at once and never
//! deposed: [`MasterContender::standalone`].

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zookeeper_client::CreateMode;

use crate::proto::mesos::MasterInfo;

use super::client::{retry, Backoff, Recovery, SessionEvent, SessionEvents, WatchOutcome, ZkClient, ZkConfig, ZkError};
use super::group::{self, MASTER_INFO_JSON_LABEL};
use super::master_info;
use super::url::{read_indirection, UrlError, ZkUrl};

/// Why a contender could not be made from `--zk`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContenderError {
    /// A bad `zk://` URL or an unreadable `file://`.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Neither `zk://` nor `file://`.
    #[error("Failed to parse '{0}'")]
    Unrecognized(String),
}

/// Why a candidacy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// The ZooKeeper session expired, so its ephemeral znode is gone.
    SessionExpired,
    /// Our znode (or the whole group path) was deleted by someone else.
    Deleted,
    /// An error retrying cannot fix (refused credentials, no permission...).
    Failed(ZkError),
}

/// What happens to a candidacy, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContenderEvent {
    /// Our znode exists: `path` is `<group>/json.info_<sequence>`.
    Joined { path: String, sequence: i64 },
    /// Our znode has the lowest sequence: we lead.
    Elected,
    /// Another member leads; `leader` is its znode's name.
    Following { leader: String },
    /// The connection to ZooKeeper dropped; the session and our znode live on
    /// until the session times out.
    Disconnected,
    /// Reconnected within the same session.
    Reconnected,
    /// Our znode is gone and the candidacy is over (no event follows).
    Lost { was_leader: bool, reason: LostReason },
}

/// Our membership while it lasts: the session that owns the znode, for
/// operations that must be fenced on it.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The session owning the znode.
    pub client: ZkClient,
    /// The znode: `<group>/json.info_<sequence>`.
    pub path: String,
    /// Its sequence number.
    pub sequence: i64,
}

/// Makes candidacies: standalone, or in a ZooKeeper group.
#[derive(Debug, Clone)]
pub struct MasterContender {
    zookeeper: Option<(ZkConfig, String)>,
}

impl MasterContender {
    /// Mesos's `MasterContender::create`: no `--zk` is standalone; `zk://...`
    /// contends under the URL's path (which must not be `/`); `file://path`
    /// reads the URL from a file. `session_timeout` is `--zk_session_timeout`
    /// (default 10 s; Mesos forgets it after a `file://` indirection, we keep it).
    pub fn create(zk: Option<&str>, session_timeout: Option<Duration>) -> Result<Self, ContenderError> {
        let Some(zk) = zk else {
            return Ok(MasterContender::standalone());
        };
        let zk = read_indirection(zk)?;
        if zk.starts_with(ZkUrl::SCHEME) {
            let url = ZkUrl::parse_for_election(&zk)?;
            Ok(MasterContender::zookeeper(&url, session_timeout.unwrap_or(super::DEFAULT_SESSION_TIMEOUT)))
        } else {
            Err(ContenderError::Unrecognized(zk))
        }
    }

    /// A contender that is elected at once and never deposed (no `--zk`).
    pub fn standalone() -> Self {
        MasterContender { zookeeper: None }
    }

    /// A contender in the group at `url`'s path.
    pub fn zookeeper(url: &ZkUrl, session_timeout: Duration) -> Self {
        MasterContender { zookeeper: Some((ZkConfig::from_url(url, session_timeout), url.znode().to_string())) }
    }

    /// True for the standalone contender.
    pub fn is_standalone(&self) -> bool {
        self.zookeeper.is_none()
    }

    /// Starts contending on behalf of the master described by `info`. Needs a
    /// tokio runtime. Each call is a new candidacy (a new znode), as Mesos's
    /// re-contending after a lost candidacy is.
    pub fn contend(&self, info: &MasterInfo) -> Candidacy {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (withdraw_tx, withdraw_rx) = oneshot::channel();
        let (membership_tx, membership) = watch::channel(None);
        match &self.zookeeper {
            None => {
                let _ = events_tx.send(ContenderEvent::Elected);
                Candidacy { events, standalone: Some(events_tx), withdraw: None, membership, task: None }
            }
            Some((config, group)) => {
                let run = Run {
                    config: config.clone(),
                    group: group.clone(),
                    data: master_info::to_json(info),
                    events: events_tx,
                    membership: membership_tx,
                    leading: false,
                };
                let task = tokio::spawn(run.run(withdraw_rx));
                Candidacy { events, standalone: None, withdraw: Some(withdraw_tx), membership, task: Some(task) }
            }
        }
    }
}

type WithdrawReply = oneshot::Sender<Result<bool, ZkError>>;

/// One candidacy: its events, and the means to withdraw it. Dropping it ends
/// the candidacy (the session closes and ZooKeeper removes the znode).
#[derive(Debug)]
pub struct Candidacy {
    events: mpsc::UnboundedReceiver<ContenderEvent>,
    /// Keeps `events` open for a standalone candidacy, which never ends (a
    /// ZooKeeper candidacy's task holds the only sender: its end closes them).
    standalone: Option<mpsc::UnboundedSender<ContenderEvent>>,
    withdraw: Option<oneshot::Sender<WithdrawReply>>,
    membership: watch::Receiver<Option<Membership>>,
    task: Option<JoinHandle<()>>,
}

impl Candidacy {
    /// The next event; `None` once the candidacy ended and its events were
    /// read. A standalone candidacy yields `Elected` and then nothing, ever.
    pub async fn next(&mut self) -> Option<ContenderEvent> {
        self.events.recv().await
    }

    /// True for a standalone candidacy.
    pub fn is_standalone(&self) -> bool {
        self.standalone.is_some()
    }

    /// Our znode and the session owning it, while we are a member.
    pub fn membership(&self) -> Option<Membership> {
        self.membership.borrow().clone()
    }

    /// Withdraws from the election: deletes our znode (retrying as Mesos does)
    /// and closes the session. `Ok(true)` if the znode was deleted, `Ok(false)`
    /// if there was none any more (or never was).
    pub async fn withdraw(mut self) -> Result<bool, ZkError> {
        let Some(task) = self.task.take() else {
            return Ok(true); // standalone: nothing to remove
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let sent = self.withdraw.take().map(|w| w.send(reply_tx).is_ok()).unwrap_or(false);
        let result = if sent { reply_rx.await.unwrap_or(Ok(false)) } else { Ok(false) };
        let _ = task.await;
        result
    }
}

impl Drop for Candidacy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The candidacy task's state.
struct Run {
    config: ZkConfig,
    group: String,
    data: String,
    events: mpsc::UnboundedSender<ContenderEvent>,
    membership: watch::Sender<Option<Membership>>,
    leading: bool,
}

/// How the watching phase ended.
enum End {
    Lost(LostReason),
    Withdraw(WithdrawReply),
}

impl Run {
    fn emit(&self, event: ContenderEvent) {
        tracing::info!(group = %self.group, "contender: {event:?}");
        let _ = self.events.send(event);
    }

    fn lose(&self, reason: LostReason) {
        self.membership.send_replace(None);
        self.emit(ContenderEvent::Lost { was_leader: self.leading, reason });
    }

    async fn run(mut self, mut withdraw: oneshot::Receiver<WithdrawReply>) {
        let mut pending_withdraw: Option<WithdrawReply> = None;
        // Join: a session, the group path, our znode. Before the znode exists
        // nothing is lost by starting over on a new session.
        let (client, path, sequence) = loop {
            if let Some(reply) = pending_withdraw.take() {
                // Withdrawn while a session was being replaced: no znode left.
                let _ = reply.send(Ok(false));
                return;
            }
            let connected = tokio::select! {
                connected = ZkClient::connect_retrying(&self.config) => connected,
                reply = &mut withdraw => {
                    if let Ok(reply) = reply { let _ = reply.send(Ok(false)); }
                    return;
                }
            };
            let client = match connected {
                Ok(client) => client,
                Err(e) => return self.lose(LostReason::Failed(e)),
            };
            let joined = {
                let join = self.join(&client);
                tokio::pin!(join);
                loop {
                    tokio::select! {
                        joined = &mut join => break joined,
                        // Mesos withdraws only once the join finished: wait for it.
                        reply = &mut withdraw, if pending_withdraw.is_none() => match reply {
                            Ok(reply) => pending_withdraw = Some(reply),
                            Err(_) => return,
                        },
                    }
                }
            };
            match joined {
                Ok((path, sequence)) => break (client, path, sequence),
                Err(e) if e.recovery() == Recovery::NewSession => {
                    tracing::warn!("{e}; joining again on a new session");
                }
                Err(e) => {
                    if let Some(reply) = pending_withdraw {
                        let _ = reply.send(Err(e));
                        return;
                    }
                    return self.lose(LostReason::Failed(e));
                }
            }
        };
        if let Some(reply) = pending_withdraw {
            let _ = reply.send(remove(&client, &path).await);
            return;
        }
        self.membership.send_replace(Some(Membership { client: client.clone(), path: path.clone(), sequence }));
        self.emit(ContenderEvent::Joined { path: path.clone(), sequence });

        match self.watch(&client, &path, &mut withdraw).await {
            End::Lost(reason) => self.lose(reason),
            End::Withdraw(reply) => {
                self.membership.send_replace(None);
                let _ = reply.send(remove(&client, &path).await);
            }
        }
    }

    /// Creates the group path and our member znode (retrying as Mesos does).
    /// After a connection loss while creating, the znode may exist without our
    /// knowing its name: look for one our session owns before creating again.
    async fn join(&self, client: &ZkClient) -> Result<(String, i64), ZkError> {
        let mut backoff = Backoff::default();
        retry(&mut backoff, || client.create_path(&self.group)).await?;
        let prefix = group::child_path(&self.group, &format!("{MASTER_INFO_JSON_LABEL}_"));
        loop {
            match client.create(&prefix, self.data.as_bytes(), CreateMode::EphemeralSequential).await {
                Ok(created) => return Ok(created),
                Err(e) if e.recovery() == Recovery::Retry => {
                    tracing::warn!("{e}; retrying");
                    backoff.wait().await;
                    if let Some(found) = retry(&mut backoff, || self.find_own(client)).await? {
                        return Ok(found);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A `json.info_` member of the group owned by `client`'s session.
    async fn find_own(&self, client: &ZkClient) -> Result<Option<(String, i64)>, ZkError> {
        for member in group::members(&client.children(&self.group).await?) {
            if member.label.as_deref() != Some(MASTER_INFO_JSON_LABEL) {
                continue;
            }
            let path = group::child_path(&self.group, &member.name);
            if let Some(stat) = client.exists(&path).await? {
                if stat.ephemeral_owner == client.session_id() {
                    return Ok(Some((path, i64::from(member.sequence))));
                }
            }
        }
        Ok(None)
    }

    /// Watches the group until our membership ends or is withdrawn.
    async fn watch(&mut self, client: &ZkClient, path: &str, withdraw: &mut oneshot::Receiver<WithdrawReply>) -> End {
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let mut session = client.session_events();
        let mut backoff = Backoff::default();
        let mut leader_seen: Option<String> = None;
        loop {
            let listing = client.children_and_watch(&self.group);
            let (children, watch) = match self.attend(listing, client, &mut session, withdraw).await {
                Err(end) => return end,
                Ok(Ok(listing)) => {
                    backoff.reset();
                    listing
                }
                Ok(Err(e)) => match e.recovery() {
                    Recovery::Retry => {
                        tracing::warn!("{e}; retrying");
                        match self.attend(backoff.wait(), client, &mut session, withdraw).await {
                            Ok(()) => continue,
                            Err(end) => return end,
                        }
                    }
                    Recovery::NewSession => return End::Lost(LostReason::SessionExpired),
                    Recovery::Fatal if e.is_no_node() => return End::Lost(LostReason::Deleted),
                    Recovery::Fatal => return End::Lost(LostReason::Failed(e)),
                },
            };
            match group::leader(&children) {
                Some(leader) if children.contains(&name) => {
                    if leader.name == name {
                        if !self.leading {
                            self.leading = true;
                            self.emit(ContenderEvent::Elected);
                        }
                    } else if self.leading || leader_seen.as_deref() != Some(leader.name.as_str()) {
                        // A lower sequence cannot appear after ours; if one
                        // ever does, say so and let the master decide.
                        self.leading = false;
                        self.emit(ContenderEvent::Following { leader: leader.name.clone() });
                    }
                    leader_seen = Some(leader.name);
                }
                _ => return End::Lost(LostReason::Deleted),
            }
            match self.attend(watch.fired(), client, &mut session, withdraw).await {
                Ok(WatchOutcome::Changed) => continue,
                Ok(WatchOutcome::SessionEnded(event)) => return End::Lost(session_end(client, event)),
                Err(end) => return end,
            }
        }
    }

    /// Awaits `future` while reporting the connection coming and going; stops
    /// early when the session ends or a withdrawal is asked for.
    async fn attend<F: std::future::Future>(
        &self,
        future: F,
        client: &ZkClient,
        session: &mut SessionEvents,
        withdraw: &mut oneshot::Receiver<WithdrawReply>,
    ) -> Result<F::Output, End> {
        tokio::pin!(future);
        loop {
            tokio::select! {
                output = &mut future => return Ok(output),
                event = session.next() => match event {
                    Some(SessionEvent::Disconnected) => self.emit(ContenderEvent::Disconnected),
                    Some(SessionEvent::Connected) => self.emit(ContenderEvent::Reconnected),
                    Some(event) => return Err(End::Lost(session_end(client, event))),
                    None => return Err(End::Lost(LostReason::SessionExpired)),
                },
                reply = &mut *withdraw => return Err(withdrawn(reply)),
            }
        }
    }
}

fn withdrawn(reply: Result<WithdrawReply, oneshot::error::RecvError>) -> End {
    match reply {
        Ok(reply) => End::Withdraw(reply),
        // The Candidacy is gone without withdrawing: end quietly (the session
        // closes when the client drops, which removes the znode).
        Err(_) => End::Lost(LostReason::Deleted),
    }
}

fn session_end(client: &ZkClient, event: SessionEvent) -> LostReason {
    match event {
        SessionEvent::AuthFailed => LostReason::Failed(ZkError::Connect {
            servers: client.config().servers.clone(),
            source: zookeeper_client::Error::AuthFailed,
            message: super::client::message(&zookeeper_client::Error::AuthFailed),
        }),
        _ => LostReason::SessionExpired,
    }
}

/// Deletes our znode, retrying connection losses. A session already gone took
/// the znode with it: `Ok(false)`.
async fn remove(client: &ZkClient, path: &str) -> Result<bool, ZkError> {
    tracing::info!("withdrawing: removing '{path}' from ZooKeeper");
    let mut backoff = Backoff::default();
    match retry(&mut backoff, || client.delete(path, None)).await {
        Err(e) if e.recovery() == Recovery::NewSession => Ok(false),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_follows_mesos_factory() {
        assert!(MasterContender::create(None, None).unwrap().is_standalone());
        let c = MasterContender::create(Some("zk://h1:2181,h2:2181/mesos/"), None).unwrap();
        let (config, group) = c.zookeeper.unwrap();
        assert_eq!(config.servers, "h1:2181,h2:2181");
        assert_eq!(config.session_timeout, super::super::DEFAULT_SESSION_TIMEOUT);
        assert_eq!(group, "/mesos");
        assert_eq!(
            MasterContender::create(Some("zk://h:1/"), None).unwrap_err().to_string(),
            "Expecting a (chroot) path for ZooKeeper ('/' is not supported)"
        );
        assert_eq!(
            MasterContender::create(Some("10.0.0.1:5050"), None).unwrap_err().to_string(),
            "Failed to parse '10.0.0.1:5050'"
        );
        assert_eq!(
            MasterContender::create(Some("file:///nonexistent/zk"), None).unwrap_err().to_string(),
            "Failed to read from file at '/nonexistent/zk'"
        );
    }

    #[tokio::test]
    async fn standalone_is_elected_and_stays_so() {
        let contender = MasterContender::standalone();
        let mut candidacy = contender.contend(&MasterInfo::default());
        assert_eq!(candidacy.next().await, Some(ContenderEvent::Elected));
        assert!(candidacy.is_standalone());
        let more = futures::FutureExt::now_or_never(candidacy.next());
        assert!(more.is_none(), "a standalone candidacy never ends: {more:?}");
        assert!(candidacy.membership().is_none());
        assert_eq!(candidacy.withdraw().await, Ok(true));
    }
}
