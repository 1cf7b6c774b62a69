//! The registry in ZooKeeper (`--zk` with `--registry=replicated_log`).
//!
//! Mesos keeps its registry in a replicated log among the masters. We keep it
//! in ZooKeeper itself, whose quorum already makes it durable: no consensus of
//! our own.
//!
//! # Layout
//! ```text
//! <zk path>/log_replicas                 persistent, empty (Mesos's log group path)
//! <zk path>/log_replicas/registry        the root: JSON naming the chunks in order
//! <zk path>/log_replicas/registry/<b>-<hash>-<len>   one chunk: a partial Registry
//! ```
//! `log_replicas` is where Mesos keeps its log replicas, and the name every
//! detector (Mesos's, pymesos's) skips when it looks for the leader among the
//! children of `<zk path>`, so nothing here is mistaken for a master.
//!
//! # Chunks
//! A znode holds at most 1 MB, and 10,000 agents take several. The registry is
//! cut into chunks that are each an encoded `Registry` carrying part of it:
//! chunk `0000` has everything but the agent lists, and the agents
//! (admitted, unreachable, gone) are spread over `B` buckets by a hash of their
//! id, `B` a power of two chosen so that a bucket stays near
//! [`CHUNK_TARGET`]. Protobuf merges concatenated encodings of a message
//! (repeated fields append), so the registry is the concatenation of its
//! chunks. A chunk is named by its bucket and a hash of its bytes, so a
//! write only creates the chunks whose content changed (admitting an agent
//! rewrites one bucket, not the registry).
//!
//! # Writes: atomic and fenced
//! A write first creates the new chunks (invisible until referenced), then
//! commits with one ZooKeeper `multi`: a check that this master's election
//! znode still exists, and a compare-and-set of the root on the version this
//! master last read or wrote. A master that lost its session or its
//! leadership fails the check; a deposed leader that still believes it leads
//! fails the compare-and-set once the new leader has recovered (recovery
//! writes the root). Either way the write fails, and the master aborts, as
//! Mesos's registrar does when its log write fails. Chunks no longer
//! referenced are deleted after a successful commit; chunks left by a failed
//! write are deleted by the next leader's recovery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use zookeeper_client as zk;

use crate::proto::mesos::internal::Registry;
use crate::zookeeper::client::{recovery, Backoff, Recovery};
use crate::zookeeper::contender::Membership;
use crate::zookeeper::{ZkClient, ZkError};

use super::store::{Store, StoreError};

/// What a bucket of agents should weigh, at most, on average.
pub const CHUNK_TARGET: usize = 256 * 1024;

/// No chunk may exceed this (ZooKeeper's default `jute.maxbuffer` is 1 MB
/// for a whole request).
pub const CHUNK_MAX: usize = 900 * 1024;

const FORMAT: &str = "mesos-rs-registry/1";

/// The membership the registry writes are fenced on: the contender sets it
/// when its znode exists.
pub type SharedMembership = Arc<Mutex<Option<Membership>>>;

/// The root znode's content.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Root {
    format: String,
    /// The total size of the chunks, checked on load.
    size: usize,
    chunks: Vec<String>,
}

/// The registry under `<zk path>/log_replicas/registry`.
pub struct ZkStore {
    runtime: tokio::runtime::Handle,
    membership: SharedMembership,
    root: String,
    fetch_timeout: Duration,
    store_timeout: Duration,
    /// The root's version as last read or written (`None`: not yet read).
    version: Option<i32>,
    /// The chunks the root names at `version`.
    chunks: Vec<String>,
}

/// The root znode for an election path (`/mesos` gives
/// `/mesos/log_replicas/registry`).
pub fn root_path(election_path: &str) -> String {
    format!("{}/log_replicas/registry", election_path.trim_end_matches('/'))
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Cuts `registry` into named chunks (see the module docs).
pub fn split(registry: &Registry) -> Vec<(String, Vec<u8>)> {
    let mut head = registry.clone();
    let slaves = head.slaves.take().map(|s| s.slaves).unwrap_or_default();
    let unreachable = head.unreachable.take().map(|s| s.slaves).unwrap_or_default();
    let gone = head.gone.take().map(|s| s.slaves).unwrap_or_default();
    let agent_bytes: usize = slaves.iter().map(|s| s.encoded_len() + 4).sum::<usize>()
        + unreachable.iter().map(|s| s.encoded_len() + 4).sum::<usize>()
        + gone.iter().map(|s| s.encoded_len() + 4).sum::<usize>();
    let mut buckets = (agent_bytes / CHUNK_TARGET + 1).next_power_of_two();
    loop {
        let mut parts: Vec<Registry> = vec![Registry::default(); buckets];
        let bucket = |id: &str| (fnv(id.as_bytes()) % buckets as u64) as usize;
        for s in &slaves {
            let id = s.info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("");
            parts[bucket(id)].slaves.get_or_insert_with(Default::default).slaves.push(s.clone());
        }
        for s in &unreachable {
            parts[bucket(&s.id.value)].unreachable.get_or_insert_with(Default::default).slaves.push(s.clone());
        }
        for s in &gone {
            parts[bucket(&s.id.value)].gone.get_or_insert_with(Default::default).slaves.push(s.clone());
        }
        let encoded: Vec<Vec<u8>> = parts.iter().map(|p| p.encode_to_vec()).collect();
        if buckets < 1 << 16 && encoded.iter().any(|e| e.len() > CHUNK_MAX) {
            buckets *= 2;
            continue;
        }
        let mut out = Vec::with_capacity(buckets + 1);
        let head = head.encode_to_vec();
        out.push((format!("0000-{:016x}-{}", fnv(&head), head.len()), head));
        for (i, bytes) in encoded.into_iter().enumerate() {
            if bytes.is_empty() {
                continue;
            }
            out.push((format!("{:04}-{:016x}-{}", i + 1, fnv(&bytes), bytes.len()), bytes));
        }
        return out;
    }
}

/// The registry from its chunks, in order.
pub fn join(chunks: &[Vec<u8>]) -> Result<Registry, prost::DecodeError> {
    let mut bytes = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for c in chunks {
        bytes.extend_from_slice(c);
    }
    Registry::decode(bytes.as_slice())
}

fn zk_error(what: String) -> StoreError {
    StoreError::ZooKeeper(what)
}

/// A failed attempt, and whether trying again on the same session may help
/// (connection loss, timeouts: the session and our znode live on).
#[derive(Debug)]
struct Failure {
    retry: bool,
    message: String,
}

impl Failure {
    fn fatal(message: String) -> Failure {
        Failure { retry: false, message }
    }

    fn of(what: String, e: &zk::Error) -> Failure {
        Failure { retry: recovery(e) == Recovery::Retry, message: format!("{what}: {e}") }
    }

    fn of_op(what: &str, e: &ZkError) -> Failure {
        Failure { retry: e.recovery() == Recovery::Retry, message: format!("failed to {what}: {e}") }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `timeout` passes,
/// retrying with a backoff while ZooKeeper is unreachable.
async fn with_retries<T, F, Fut>(what: &str, timeout: Duration, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(f)) if f.retry && tokio::time::Instant::now() < deadline => {
                tracing::warn!("{}; retrying", f.message);
                backoff.wait().await;
            }
            Ok(Err(f)) => return Err(zk_error(f.message)),
            Err(_) => return Err(zk_error(format!("timed out after {timeout:?} {what}"))),
        }
    }
}

impl ZkStore {
    /// A store under `<election path>/log_replicas/registry`, whose writes
    /// are fenced on `membership`. Its operations run on `runtime` (the
    /// store is called from the registrar's own thread).
    pub fn new(
        runtime: tokio::runtime::Handle,
        membership: SharedMembership,
        election_path: &str,
        fetch_timeout: Duration,
        store_timeout: Duration,
    ) -> ZkStore {
        ZkStore {
            runtime,
            membership,
            root: root_path(election_path),
            fetch_timeout,
            store_timeout,
            version: None,
            chunks: Vec::new(),
        }
    }

    /// The root znode's path.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Our membership, waiting a little for the contender to report it (the
    /// detector can see our znode before the contender has told us about it).
    fn member(&self) -> Result<Membership, StoreError> {
        for _ in 0..100 {
            if let Ok(guard) = self.membership.lock() {
                if let Some(m) = guard.as_ref() {
                    return Ok(m.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(zk_error("this master is not a member of the ZooKeeper group".into()))
    }

    /// Loads the registry as of the root's current version; see [`Store::load`].
    async fn fetch(client: &ZkClient, root: &str) -> Result<(Registry, i32, Vec<String>), Failure> {
        client.create_path(root).await.map_err(|e| Failure::of_op("create the registry root", &e))?;
        let Some((data, stat)) = client.get(root).await.map_err(|e| Failure::of_op("read the registry root", &e))?
        else {
            return Err(Failure { retry: true, message: format!("'{root}' vanished while reading it") });
        };
        let parsed: Root = if data.is_empty() {
            Root::default()
        } else {
            serde_json::from_slice(&data).map_err(|e| Failure::fatal(format!("failed to parse '{root}': {e}")))?
        };
        if !data.is_empty() && parsed.format != FORMAT {
            return Err(Failure::fatal(format!("'{root}' holds an unknown registry format '{}'", parsed.format)));
        }
        let mut chunks = Vec::with_capacity(parsed.chunks.len());
        for name in &parsed.chunks {
            let path = format!("{root}/{name}");
            match client.get(&path).await.map_err(|e| Failure::of_op("read a registry chunk", &e))? {
                Some((bytes, _)) => chunks.push(bytes),
                None => return Err(Failure::fatal(format!("the registry chunk '{path}' is missing"))),
            }
        }
        let size: usize = chunks.iter().map(Vec::len).sum();
        if size != parsed.size {
            return Err(Failure::fatal(format!(
                "the registry in '{root}' is {size} bytes, its root says {}",
                parsed.size
            )));
        }
        let registry =
            join(&chunks).map_err(|e| Failure::fatal(format!("failed to decode the registry in '{root}': {e}")))?;
        // Chunks nobody references: left by a write that failed to commit.
        if let Ok(children) = client.children(root).await {
            for child in children.iter().filter(|c| !parsed.chunks.contains(c)) {
                let _ = client.delete(&format!("{root}/{child}"), None).await;
            }
        }
        Ok((registry, stat.version, parsed.chunks))
    }

    /// One attempt at writing `registry` over the root at `version`. Safe
    /// to repeat: chunks are named by content, and a commit that did land
    /// makes the repeat fail its compare-and-set (the master then aborts).
    async fn write(
        client: &ZkClient,
        fence: &str,
        root: &str,
        version: i32,
        previous: &[String],
        chunks: &[(String, Vec<u8>)],
    ) -> Result<(i32, Vec<String>), Failure> {
        let acls = client.config().acls();
        for (name, bytes) in chunks.iter().filter(|(n, _)| !previous.contains(n)) {
            let path = format!("{root}/{name}");
            match client.raw().create(&path, bytes, &zk::CreateMode::Persistent.with_acls(acls.clone())).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(Failure::of(format!("failed to create '{path}'"), &e)),
            }
        }
        let names: Vec<String> = chunks.iter().map(|(n, _)| n.clone()).collect();
        let root_data = serde_json::to_vec(&Root {
            format: FORMAT.into(),
            size: chunks.iter().map(|(_, b)| b.len()).sum(),
            chunks: names.clone(),
        })
        .map_err(|e| Failure::fatal(e.to_string()))?;
        let mut multi = client.raw().new_multi_writer();
        multi.add_check_version(fence, -1).map_err(|e| Failure::fatal(e.to_string()))?;
        multi.add_set_data(root, &root_data, Some(version)).map_err(|e| Failure::fatal(e.to_string()))?;
        let results = multi.commit().await.map_err(|e| match e {
            zk::MultiWriteError::OperationFailed { index: 0, .. } => Failure::fatal(format!(
                "fenced: this master's election znode '{fence}' is gone (not the leader any more)"
            )),
            zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::BadVersion } => {
                Failure::fatal(format!(
                    "fenced: '{root}' was written by another master since version {version} (not the leader any \
                     more)"
                ))
            }
            zk::MultiWriteError::RequestFailed { source } => {
                Failure::of(format!("failed to commit the registry to '{root}'"), &source)
            }
            other => Failure::fatal(format!("failed to commit the registry to '{root}': {other}")),
        })?;
        let new_version = match results.get(1) {
            Some(zk::MultiWriteResult::SetData { stat }) => stat.version,
            _ => version + 1,
        };
        for old in previous.iter().filter(|n| !names.contains(n)) {
            let _ = client.delete(&format!("{root}/{old}"), None).await;
        }
        Ok((new_version, names))
    }
}

impl Store for ZkStore {
    fn load(&mut self) -> Result<Registry, StoreError> {
        let member = self.member()?;
        let root = self.root.clone();
        let timeout = self.fetch_timeout;
        let (registry, version, chunks) = self.runtime.block_on(async move {
            let what = format!("reading the registry from '{root}'");
            with_retries(&what, timeout, || ZkStore::fetch(&member.client, &root)).await
        })?;
        tracing::info!(
            "Read the registry from ZooKeeper '{}' (version {}, {} chunks)",
            self.root,
            version,
            chunks.len()
        );
        self.version = Some(version);
        self.chunks = chunks;
        Ok(registry)
    }

    fn store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let Some(version) = self.version else {
            return Err(zk_error("the registry was written before it was read".into()));
        };
        let member = self.member()?;
        let root = self.root.clone();
        let previous = self.chunks.clone();
        let timeout = self.store_timeout;
        let chunks = split(registry);
        let (version, names) = self.runtime.block_on(async move {
            let what = format!("writing the registry to '{root}'");
            with_retries(&what, timeout, || {
                ZkStore::write(&member.client, &member.path, &root, version, &previous, &chunks)
            })
            .await
        })?;
        self.version = Some(version);
        self.chunks = names;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::internal::registry;
    use crate::proto::mesos::{SlaveId, SlaveInfo, TimeInfo};

    fn registry(agents: usize) -> Registry {
        let mut r = Registry::default();
        r.master =
            Some(registry::Master { info: crate::proto::mesos::MasterInfo { id: "m".into(), ..Default::default() } });
        let slaves = (0..agents)
            .map(|i| registry::Slave {
                info: SlaveInfo {
                    hostname: format!("agent-{i}.example.com"),
                    id: Some(SlaveId { value: format!("0c1d2e3f-0000-4000-8000-{i:012}-S{i}") }),
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        r.slaves = Some(registry::Slaves { slaves });
        r.gone = Some(registry::GoneSlaves {
            slaves: vec![registry::GoneSlave {
                id: SlaveId { value: "gone".into() },
                timestamp: TimeInfo { nanoseconds: 5 },
            }],
        });
        r
    }

    fn sorted_ids(r: &Registry) -> Vec<String> {
        let mut ids: Vec<String> =
            r.slaves.iter().flat_map(|s| &s.slaves).filter_map(|s| s.info.id.clone()).map(|i| i.value).collect();
        ids.sort();
        ids
    }

    #[test]
    fn chunks_join_back_into_the_registry() {
        let r = registry(20_000);
        let chunks = split(&r);
        assert!(chunks.len() > 4, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|(_, b)| b.len() <= CHUNK_MAX));
        let joined = join(&chunks.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>()).unwrap();
        assert_eq!(sorted_ids(&joined), sorted_ids(&r));
        assert_eq!(joined.master, r.master);
        assert_eq!(joined.gone, r.gone);
    }

    #[test]
    fn one_more_agent_changes_one_bucket() {
        let r = registry(5_000);
        let mut more = r.clone();
        more.slaves.as_mut().unwrap().slaves.push(registry::Slave {
            info: SlaveInfo {
                hostname: "new".into(),
                id: Some(SlaveId { value: "new-S1".into() }),
                ..Default::default()
            },
            ..Default::default()
        });
        let before: Vec<String> = split(&r).into_iter().map(|(n, _)| n).collect();
        let after: Vec<String> = split(&more).into_iter().map(|(n, _)| n).collect();
        let changed = after.iter().filter(|n| !before.contains(n)).count();
        assert_eq!(before.len(), after.len());
        assert_eq!(changed, 1);
    }

    #[test]
    fn an_empty_registry_is_one_small_chunk() {
        let chunks = split(&Registry::default());
        assert_eq!(chunks.len(), 1);
        assert_eq!(join(&[chunks[0].1.clone()]).unwrap(), Registry::default());
    }
}
