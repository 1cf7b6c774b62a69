//! ZooKeeper storage for state entries, with Apache's layout and semantics
//! (`src/state/zookeeper.cpp`):
//!
//! ```text
//! <znode>                 persistent, empty (parents created as needed)
//!   <name>                persistent: a serialized mesos.internal.state.Entry
//!                         { name, uuid (16 bytes), value }
//! ```
//!
//! A write is a compare-and-set: it succeeds only if the stored entry still
//! has the UUID the writer read (checked, then written with the znode's
//! version, so a concurrent writer loses with `BadVersion`); creating a name
//! races on `NodeExists`. Losing either race answers `false`, not an error.
//! With credentials, znodes are created readable by anyone and writable by
//! their creator (`EVERYONE_READ_CREATOR_ALL`), as Apache's storage does.
//!
//! Operations wait out disconnections and retry on errors Mesos retries
//! (connection loss, timeouts); an expired session is replaced by a new one;
//! other errors fail the operation with Mesos's message.

use std::collections::BTreeSet;
use std::future::Future;

use prost::Message;
use tokio::sync::Mutex;
use zookeeper_client::CreateMode;

use mesos_rs::proto::mesos::internal::state::Entry;
use mesos_rs::zookeeper::client::{Backoff, Recovery};
use mesos_rs::zookeeper::{Authentication, ZkClient, ZkConfig, ZkError};

/// The most a serialized entry may weigh (ZooKeeper's default `jute.maxbuffer`).
pub const MAX_ENTRY_SIZE: usize = 1024 * 1024;

/// Entries under one znode of one ZooKeeper ensemble.
pub struct ZooKeeperStorage {
    config: ZkConfig,
    /// The parent znode, without a trailing `/`.
    znode: String,
    /// The current session; replaced when it ends.
    session: Mutex<Option<ZkClient>>,
}

impl ZooKeeperStorage {
    /// Storage under `znode` of the ensemble `servers` (`host:port,...`),
    /// asking for `session_timeout`; `auth` is sent on every connection.
    pub fn new(
        servers: &str,
        session_timeout: std::time::Duration,
        znode: &str,
        auth: Option<Authentication>,
    ) -> ZooKeeperStorage {
        let mut config = ZkConfig::new(servers, session_timeout);
        config.authentication = auth;
        ZooKeeperStorage { config, znode: znode.trim_end_matches('/').to_string(), session: Mutex::new(None) }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{}", self.znode, name)
    }

    async fn client(&self) -> Result<ZkClient, String> {
        let mut session = self.session.lock().await;
        if let Some(client) = session.as_ref() {
            if !client.state().is_terminal() {
                return Ok(client.clone());
            }
        }
        let client = ZkClient::connect_retrying(&self.config).await.map_err(|e| e.to_string())?;
        *session = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self, client: &ZkClient) {
        let mut session = self.session.lock().await;
        if session.as_ref().map(ZkClient::session_id) == Some(client.session_id()) {
            *session = None;
        }
    }

    /// Runs `op` until it answers or fails in a way retrying cannot fix.
    async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, String>
    where
        F: FnMut(ZkClient) -> Fut,
        Fut: Future<Output = Result<T, ZkError>>,
    {
        let mut backoff = Backoff::default();
        loop {
            let client = self.client().await?;
            match op(client.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => match error.recovery() {
                    Recovery::Retry => {
                        tracing::debug!("{error}; retrying");
                        backoff.wait().await;
                    }
                    Recovery::NewSession => {
                        tracing::info!("{error}; starting a new ZooKeeper session");
                        self.forget(&client).await;
                    }
                    Recovery::Fatal => return Err(error.to_string()),
                },
            }
        }
    }

    /// The entry stored for `name`, if any.
    pub async fn get(&self, name: &str) -> Result<Option<Entry>, String> {
        Ok(self.read(&self.path(name)).await?.map(|(entry, _)| entry))
    }

    /// The entry at `path` and its znode's version, if there is one.
    async fn read(&self, path: &str) -> Result<Option<(Entry, i32)>, String> {
        let found = self
            .run(|client| {
                let path = path.to_string();
                async move { client.get(&path).await }
            })
            .await?;
        match found {
            None => Ok(None),
            Some((data, stat)) => Ok(Some((parse(&data)?, stat.version))),
        }
    }

    /// Stores `entry` if the stored entry (if any) has UUID `expected`:
    /// `Ok(false)` when another writer got there first.
    pub async fn set(&self, entry: &Entry, expected: &[u8]) -> Result<bool, String> {
        let data = entry.encode_to_vec();
        if data.len() > MAX_ENTRY_SIZE {
            return Err("Serialized data is too big (> 1 MB)".to_string());
        }
        let path = self.path(&entry.name);
        let Some((current, version)) = self.read(&path).await? else {
            // A new name: create the parents, then race to create it.
            if !self.znode.is_empty() {
                let znode = self.znode.clone();
                self.run(|client| {
                    let znode = znode.clone();
                    async move { client.create_path(&znode).await }
                })
                .await?;
            }
            let created = self
                .run(|client| {
                    let (path, data) = (path.clone(), data.clone());
                    async move {
                        match client.create(&path, &data, CreateMode::Persistent).await {
                            Ok(_) => Ok(true),
                            Err(e) if *e.source_error() == zookeeper_client::Error::NodeExists => Ok(false),
                            Err(e) => Err(e),
                        }
                    }
                })
                .await?;
            return Ok(created);
        };
        if current.uuid != expected {
            return Ok(false);
        }
        self.run(|client| {
            let (path, data) = (path.clone(), data.clone());
            async move {
                match client.set(&path, &data, Some(version)).await {
                    Ok(_) => Ok(true),
                    Err(e)
                        if matches!(
                            e.source_error(),
                            zookeeper_client::Error::BadVersion | zookeeper_client::Error::NoNode
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// Removes `entry` if the stored one still has its UUID: `Ok(false)` when
    /// it is gone or was replaced.
    pub async fn expunge(&self, entry: &Entry) -> Result<bool, String> {
        let path = self.path(&entry.name);
        let Some((current, version)) = self.read(&path).await? else {
            return Ok(false);
        };
        if current.uuid != entry.uuid {
            return Ok(false);
        }
        self.run(|client| {
            let path = path.clone();
            async move {
                match client.delete(&path, Some(version)).await {
                    Ok(deleted) => Ok(deleted),
                    Err(e) if *e.source_error() == zookeeper_client::Error::BadVersion => Ok(false),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// The names stored. A znode nobody has stored under yet holds none
    /// (Apache's storage fails with "no node" there; an empty answer is what
    /// its callers want).
    pub async fn names(&self) -> Result<BTreeSet<String>, String> {
        let znode = if self.znode.is_empty() { "/".to_string() } else { self.znode.clone() };
        self.run(|client| {
            let znode = znode.clone();
            async move {
                match client.children(&znode).await {
                    Ok(children) => Ok(children.into_iter().collect()),
                    Err(e) if e.is_no_node() => Ok(BTreeSet::new()),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }
}

fn parse(data: &[u8]) -> Result<Entry, String> {
    mesos_rs::proto::decode_strict::<Entry>(data).map_err(|_| "Failed to deserialize Entry".to_string())
}
