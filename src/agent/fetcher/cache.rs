//! The fetcher cache: downloaded files kept under `--fetcher_cache_dir`, at
//! most `--fetcher_cache_size` bytes, evicting the least recently used
//! entries that no fetch is using (Mesos's `FetcherProcess::Cache`).
//!
//! An entry is claimed by every fetch that wants it. The first claim
//! downloads ([`Claim::Download`]): it reserves the announced size, evicting
//! as needed, then fills the file; later claims ([`Claim::Wait`]) wait for
//! that download and copy from the file, or fall back to fetching directly if
//! it failed. Each claim is balanced by exactly one [`Cache::release`] or
//! [`Cache::failed`] (the fetcher does it from a drop guard, so a cancelled
//! fetch gives its claim back too).
//!
//! Cache files are named `c<serial>-<basename>` (the basename shortened to
//! its first and last 10 characters), keeping the URI's extension so the
//! extraction rules still apply to them.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Ready,
    Failed,
}

/// One cached file.
#[derive(Debug)]
pub struct Entry {
    /// `uri` or `user@uri`.
    pub key: String,
    dir: PathBuf,
    pub filename: String,
    /// Bytes claimed in the cache's tally (0 until reserved).
    size: AtomicU64,
    /// Fetches currently using the entry; referenced entries are never evicted.
    refs: AtomicUsize,
    state: watch::Sender<State>,
}

impl Entry {
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.filename)
    }

    fn state(&self) -> State {
        *self.state.borrow()
    }
}

/// What a fetch must do with a cache entry.
pub enum Claim {
    /// Nobody has it: reserve space, download it, call [`Cache::downloaded`].
    Download(Arc<Entry>),
    /// It exists (maybe still downloading): [`Cache::wait`] for it.
    Wait(Arc<Entry>),
}

#[derive(Debug)]
struct Inner {
    space: u64,
    tally: u64,
    serial: u64,
    table: HashMap<String, Arc<Entry>>,
    /// Least recently used first.
    lru: VecDeque<Arc<Entry>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Cache {
    inner: Mutex<Inner>,
}

impl Cache {
    pub fn new(space: u64) -> Cache {
        Cache { inner: Mutex::new(Inner { space, tally: 0, serial: 0, table: HashMap::new(), lru: VecDeque::new() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes claimed by entries.
    pub fn used(&self) -> u64 {
        self.lock().tally
    }

    pub fn len(&self) -> usize {
        self.lock().table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Claims the entry for `key`, creating it (in `dir`) if needed.
    pub fn claim(&self, key: &str, dir: &Path, basename: &str) -> Claim {
        let mut inner = self.lock();
        if let Some(entry) = inner.table.get(key).cloned() {
            // A finished entry whose file vanished is dropped and redone.
            if entry.state() == State::Ready && !entry.path().exists() {
                tracing::warn!("Cache file does not exist: {}; removing cache entry", entry.filename);
                inner.remove(&entry);
            } else {
                entry.refs.fetch_add(1, Ordering::SeqCst);
                inner.touch(&entry);
                return Claim::Wait(entry);
            }
        }
        inner.serial += 1;
        let entry = Arc::new(Entry {
            key: key.to_string(),
            dir: dir.to_path_buf(),
            filename: format!("c{}-{}", inner.serial, shorten(basename)),
            size: AtomicU64::new(0),
            refs: AtomicUsize::new(1),
            state: watch::Sender::new(State::Pending),
        });
        inner.table.insert(key.to_string(), entry.clone());
        inner.lru.push_back(entry.clone());
        Claim::Download(entry)
    }

    /// Reserves `size` bytes for a download, evicting unreferenced entries,
    /// least recently used first.
    pub fn reserve(&self, entry: &Arc<Entry>, size: u64) -> Result<(), String> {
        let mut inner = self.lock();
        let available = inner.space.saturating_sub(inner.tally);
        if available < size {
            let missing = size - available;
            let mut victims = Vec::new();
            let mut freed = 0;
            for candidate in &inner.lru {
                if freed >= missing {
                    break;
                }
                if candidate.refs.load(Ordering::SeqCst) == 0 {
                    freed += candidate.size.load(Ordering::SeqCst);
                    victims.push(candidate.clone());
                }
            }
            if freed < missing {
                return Err("Failed to reserve space in the cache: Could not free up enough fetcher cache space".into());
            }
            for victim in victims {
                tracing::info!("Evicting fetcher cache entry '{}'", victim.key);
                inner.remove(&victim);
            }
        }
        inner.tally += size;
        entry.size.store(size, Ordering::SeqCst);
        Ok(())
    }

    /// The download finished: adjusts the tally to the file's real size and
    /// lets waiters use it. A file larger than announced is kept; the
    /// overflow is evicted by later reservations (Mesos tolerates it too).
    pub fn downloaded(&self, entry: &Arc<Entry>) {
        let mut inner = self.lock();
        let claimed = entry.size.load(Ordering::SeqCst);
        let actual = std::fs::metadata(entry.path()).map(|m| m.len()).unwrap_or(claimed);
        if actual != claimed {
            tracing::warn!(
                "URI download result for '{}' is {} than expected ({actual} vs {claimed} bytes)",
                entry.key,
                if actual < claimed { "smaller" } else { "larger" }
            );
        }
        inner.tally = inner.tally.saturating_sub(claimed) + actual;
        entry.size.store(actual, Ordering::SeqCst);
        entry.state.send_replace(State::Ready);
    }

    /// The entry could not be (reserved or) downloaded: waiters fall back to
    /// direct fetching, the entry and its partial file go. Releases the claim.
    pub fn failed(&self, entry: &Arc<Entry>) {
        let mut inner = self.lock();
        entry.state.send_replace(State::Failed);
        entry.refs.fetch_sub(1, Ordering::SeqCst);
        inner.remove(entry);
    }

    /// Waits for a claimed entry's download: true if the file is usable. A
    /// false result still needs a [`Cache::release`].
    pub async fn wait(&self, entry: &Arc<Entry>) -> bool {
        let mut state = entry.state.subscribe();
        let result = state.wait_for(|s| *s != State::Pending).await.map(|s| *s);
        matches!(result, Ok(State::Ready)) && entry.path().exists()
    }

    /// The fetch is done with the entry.
    pub fn release(&self, entry: &Arc<Entry>) {
        let _inner = self.lock();
        let _ = entry.refs.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1));
    }
}

impl Inner {
    fn touch(&mut self, entry: &Arc<Entry>) {
        self.lru.retain(|e| !Arc::ptr_eq(e, entry));
        self.lru.push_back(entry.clone());
    }

    /// Forgets the entry, deletes its file and returns its bytes.
    fn remove(&mut self, entry: &Arc<Entry>) {
        if self.table.get(&entry.key).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            self.table.remove(&entry.key);
        }
        let before = self.lru.len();
        self.lru.retain(|e| !Arc::ptr_eq(e, entry));
        if before == self.lru.len() {
            return; // Already removed.
        }
        let path = entry.path();
        if path.exists() {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("Could not delete fetcher cache file '{}': {e}", path.display());
            }
        }
        self.tally = self.tally.saturating_sub(entry.size.swap(0, Ordering::SeqCst));
    }
}

/// Keeps cache file names short but recognisable, extension included.
fn shorten(basename: &str) -> String {
    let chars: Vec<char> = basename.chars().collect();
    if chars.len() <= 20 {
        return basename.to_string();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 10..].iter().collect();
    format!("{head}_{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(cache: &Cache, dir: &Path, key: &str, bytes: usize) -> Result<Arc<Entry>, String> {
        let Claim::Download(entry) = cache.claim(key, dir, key) else { panic!("expected a new entry") };
        if let Err(e) = cache.reserve(&entry, bytes as u64) {
            cache.failed(&entry);
            return Err(e);
        }
        std::fs::write(entry.path(), vec![0u8; bytes]).unwrap();
        cache.downloaded(&entry);
        cache.release(&entry);
        Ok(entry)
    }

    #[test]
    fn names_keep_the_extension() {
        assert_eq!(shorten("app.tar.gz"), "app.tar.gz");
        assert_eq!(shorten("a-very-long-application-name.tar.gz"), "a-very-lon_ame.tar.gz");
    }

    #[test]
    fn evicts_least_recently_used_unreferenced_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(100);
        let a = download(&cache, dir.path(), "a", 40).unwrap();
        let b = download(&cache, dir.path(), "b", 40).unwrap();
        assert_eq!(cache.used(), 80);
        // Using `a` makes `b` the least recently used.
        let Claim::Wait(again) = cache.claim("a", dir.path(), "a") else { panic!() };
        assert!(Arc::ptr_eq(&again, &a));
        cache.release(&again);
        download(&cache, dir.path(), "c", 40).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(!b.path().exists() && a.path().exists());
        assert_eq!(cache.used(), 80);

        // Referenced entries are never evicted.
        let Claim::Wait(held) = cache.claim("a", dir.path(), "a") else { panic!() };
        let err = download(&cache, dir.path(), "d", 100).unwrap_err();
        assert!(err.contains("Could not free up enough fetcher cache space"));
        cache.release(&held);
        assert_eq!(cache.len(), 2);
        download(&cache, dir.path(), "e", 100).unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.used(), 100);
    }

    #[test]
    fn failed_downloads_release_waiters() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(100);
        let Claim::Download(first) = cache.claim("x", dir.path(), "x") else { panic!() };
        let Claim::Wait(second) = cache.claim("x", dir.path(), "x") else { panic!() };
        cache.failed(&first);
        assert!(!rt.block_on(cache.wait(&second)));
        cache.release(&second);
        assert!(cache.is_empty());
        // The next claim starts over.
        assert!(matches!(cache.claim("x", dir.path(), "x"), Claim::Download(_)));
    }

    #[test]
    fn vanished_files_are_downloaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(100);
        let entry = download(&cache, dir.path(), "x", 10).unwrap();
        std::fs::remove_file(entry.path()).unwrap();
        assert!(matches!(cache.claim("x", dir.path(), "x"), Claim::Download(_)));
        assert_eq!(cache.used(), 0);
    }
}
