//! Where the registry lives: in memory (`--registry=in_memory`) or in a
//! local file under `--work_dir` (`--registry=replicated_log` without
//! ZooKeeper). The registry in ZooKeeper (`--zk`) is [`super::zk_store::ZkStore`].
//!
//! The file is the `mesos.internal.Registry` protobuf, replaced atomically:
//! written to a temporary file, fsynced, renamed over the old one, and the
//! directory fsynced, so a crash leaves either the old or the new registry.
//!
//! [`RegistryService`] is what the master's driver talks to: it recovers
//! the registry (recording the new leader), and applies operations in
//! batches, persisting once per batch, like Mesos's registrar.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message as _;

use crate::proto::mesos::internal::Registry;
use crate::proto::mesos::MasterInfo;

use super::registry::{Registrar, RegistryOp};

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to read the registry from '{path}': {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("failed to write the registry to '{path}': {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the registry in '{path}' is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// Reading or writing the registry in ZooKeeper failed (or was fenced).
    #[error("{0}")]
    ZooKeeper(String),
}

/// Durable storage for one registry.
pub trait Store: Send {
    /// The stored registry (empty if none was ever stored).
    fn load(&mut self) -> Result<Registry, StoreError>;
    /// Replaces the stored registry.
    fn store(&mut self, registry: &Registry) -> Result<(), StoreError>;
}

/// `--registry=in_memory`: lost when the master exits.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    bytes: Vec<u8>,
}

impl Store for InMemoryStore {
    fn load(&mut self) -> Result<Registry, StoreError> {
        Registry::decode(self.bytes.as_slice())
            .map_err(|e| StoreError::Corrupt { path: PathBuf::from("<memory>"), reason: e.to_string() })
    }

    fn store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        self.bytes = registry.encode_to_vec();
        Ok(())
    }
}

/// The registry in `<work_dir>/registry.pb`.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store in `work_dir` (created if missing).
    pub fn open(work_dir: &Path) -> Result<FileStore, StoreError> {
        std::fs::create_dir_all(work_dir)
            .map_err(|source| StoreError::Write { path: work_dir.to_path_buf(), source })?;
        Ok(FileStore { path: work_dir.join("registry.pb") })
    }

    /// The file holding the registry.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for FileStore {
    fn load(&mut self) -> Result<Registry, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Registry::decode(bytes.as_slice())
                .map_err(|e| StoreError::Corrupt { path: self.path.clone(), reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(source) => Err(StoreError::Read { path: self.path.clone(), source }),
        }
    }

    fn store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let err = |source| StoreError::Write { path: self.path.clone(), source };
        let tmp = self.path.with_extension("pb.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&registry.encode_to_vec()).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        }
        Ok(())
    }
}

/// The registrar: the in-memory registry plus its store.
pub struct RegistryService {
    registrar: Registrar,
    store: Box<dyn Store>,
}

impl RegistryService {
    pub fn new(store: Box<dyn Store>) -> RegistryService {
        RegistryService { registrar: Registrar::default(), store }
    }

    /// Loads the registry, records `info` as the leading master, persists
    /// it, and returns it.
    pub fn recover(&mut self, info: &MasterInfo) -> Result<Registry, StoreError> {
        let registry = self.store.load()?;
        tracing::info!("Successfully fetched the registry ({} bytes)", registry.encoded_len());
        self.registrar = Registrar::new(registry);
        let _ = self.registrar.apply(&RegistryOp::Recover(Box::new(info.clone())));
        self.store.store(self.registrar.registry())?;
        tracing::info!("Successfully recovered registrar");
        Ok(self.registrar.registry().clone())
    }

    /// Applies a batch in order and persists once: each operation gets
    /// `Ok(permitted)`, or every one the storage error.
    pub fn apply(&mut self, ops: &[(u64, RegistryOp)]) -> Vec<(u64, Result<bool, String>)> {
        let mut results = Vec::with_capacity(ops.len());
        let mut mutated = false;
        for (id, op) in ops {
            match self.registrar.apply(op) {
                Ok(changed) => {
                    mutated |= changed;
                    results.push((*id, Ok(true)));
                }
                Err(e) => {
                    tracing::warn!("Registry operation {} refused: {}", op.name(), e);
                    results.push((*id, Ok(false)));
                }
            }
        }
        if mutated {
            if let Err(e) = self.store.store(self.registrar.registry()) {
                let message = e.to_string();
                return ops.iter().map(|(id, _)| (*id, Err(message.clone()))).collect();
            }
        }
        tracing::debug!("Applied {} registry operations", ops.len());
        results
    }

    /// The registry as last applied (for `/registrar(1)/registry`).
    pub fn registry(&self) -> &Registry {
        self.registrar.registry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{SlaveId, SlaveInfo};

    fn admit(id: &str) -> RegistryOp {
        RegistryOp::AdmitSlave(Box::new(SlaveInfo {
            hostname: "h".into(),
            id: Some(SlaveId { value: id.into() }),
            ..Default::default()
        }))
    }

    #[test]
    fn the_file_store_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("registry-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let info = MasterInfo { id: "m1".into(), ..Default::default() };
        let mut service = RegistryService::new(Box::new(FileStore::open(&dir).unwrap()));
        let registry = service.recover(&info).unwrap();
        assert_eq!(registry.master.unwrap().info.id, "m1");
        let results = service.apply(&[(1, admit("S0")), (2, admit("S0")), (3, admit("S1"))]);
        assert_eq!(results, vec![(1, Ok(true)), (2, Ok(false)), (3, Ok(true))]);
        assert!(!dir.join("registry.pb.tmp").exists());

        let info2 = MasterInfo { id: "m2".into(), ..Default::default() };
        let mut again = RegistryService::new(Box::new(FileStore::open(&dir).unwrap()));
        let registry = again.recover(&info2).unwrap();
        assert_eq!(registry.slaves.unwrap().slaves.len(), 2);
        assert_eq!(registry.master.unwrap().info.id, "m2");
        std::fs::write(dir.join("registry.pb"), b"\xff\xff\xff").unwrap();
        let mut corrupt = RegistryService::new(Box::new(FileStore::open(&dir).unwrap()));
        assert!(matches!(corrupt.recover(&info2), Err(StoreError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn in_memory_starts_empty() {
        let mut service = RegistryService::new(Box::<InMemoryStore>::default());
        let registry = service.recover(&MasterInfo::default()).unwrap();
        assert!(registry.slaves.is_none());
        assert_eq!(service.apply(&[(7, admit("S0"))]), vec![(7, Ok(true))]);
        assert_eq!(service.registry().slaves.as_ref().unwrap().slaves.len(), 1);
    }
}
