//! The fetcher: puts a container's `CommandInfo.uris` into its sandbox before
//! the executor starts (Mesos's `slave/containerizer/fetcher.cpp` and
//! `launcher/fetcher.cpp`).
//!
//! # Layout
//! - this file: configuration and flags, the URI rules Mesos applies
//!   (basename, validation, local paths, `frameworks_home`), and
//!   [`Fetcher::fetch`], which walks the URIs in order;
//! - [`download`]: getting bytes: local copy, HTTP(S) with a stall timeout,
//!   and the Hadoop client for any other scheme;
//! - [`extract`]: tar (plain, gzip, bzip2, xz), zip and bare `.gz`;
//! - [`cache`]: the size-bounded LRU cache under `--fetcher_cache_dir`.
//!
//! # Per URI (as Mesos)
//! The file lands at `<sandbox>/<output_file>` (default: the URI's basename).
//! `executable` makes it `rwxr-xr-x` (and is never extracted); otherwise
//! `extract` (true by default) unpacks a recognised archive into the sandbox,
//! keeping the archive. With `cache`, the download goes to the cache first
//! (keyed by `user@uri`) and later fetches copy or extract from there; when
//! the cache cannot take the file (size unknown, no room) the URI is fetched
//! directly.
//!
//! Unlike Mesos, the fetch runs inside the agent (no `mesos-fetcher`
//! subprocess): its log lines go to the sandbox's `stderr` as Mesos's fetcher
//! output does, and it fetches as the agent's user; the caller gives the
//! sandbox to the task's user afterwards (Mesos fetches as that user, so a
//! local file the user may not read would fail there and succeeds here).

pub mod cache;
pub mod download;
pub mod extract;

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::common::flags::{FlagDef, Flags, FlagsError, Kind};
use crate::common::units::Bytes;
use crate::proto::mesos::command_info::Uri;

use cache::{Cache, Claim};

/// The agent flags the fetcher reads (`slave/flags.cpp`).
pub const FLAGS: &[FlagDef] = &[
    FlagDef::new("fetcher_cache_size", Kind::Bytes, Some("2GB"), "Size of the fetcher cache in Bytes."),
    FlagDef::new(
        "fetcher_cache_dir",
        Kind::Path,
        Some("/tmp/mesos/fetch"),
        "Directory for the fetcher cache. The agent will clear this directory\non startup.",
    ),
    FlagDef::new(
        "fetcher_stall_timeout",
        Kind::Duration,
        Some("1mins"),
        "Amount of time for the fetcher to wait before considering a download\n\
         being too slow and abort it when the download stalls.",
    ),
    FlagDef::new("frameworks_home", Kind::Path, None, "Directory path prepended to relative executor URIs"),
    FlagDef::new(
        "hadoop_home",
        Kind::Path,
        None,
        "Path to find Hadoop installed (for\nfetching framework executors from HDFS)",
    ),
];

/// How the fetcher behaves (from the agent's flags).
#[derive(Debug, Clone, PartialEq)]
pub struct FetcherConfig {
    pub cache_dir: PathBuf,
    /// Bytes the cache may hold.
    pub cache_size: u64,
    /// Abort a download that receives nothing for this long.
    pub stall_timeout: Duration,
    /// Prepended to relative URIs.
    pub frameworks_home: Option<PathBuf>,
    /// Where `bin/hadoop` is, for URIs of other schemes (else `$PATH`).
    pub hadoop_home: Option<PathBuf>,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            cache_dir: PathBuf::from("/tmp/mesos/fetch"),
            cache_size: 2 * Bytes::GB,
            stall_timeout: Duration::from_secs(60),
            frameworks_home: None,
            hadoop_home: None,
        }
    }
}

impl FetcherConfig {
    /// Reads [`FLAGS`] from loaded flags.
    pub fn from_flags(flags: &Flags) -> Result<FetcherConfig, FlagsError> {
        let empty_is_none = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        Ok(FetcherConfig {
            cache_dir: flags.get("fetcher_cache_dir")?,
            cache_size: flags.get::<Bytes>("fetcher_cache_size")?.0,
            stall_timeout: flags.get("fetcher_stall_timeout")?,
            frameworks_home: empty_is_none(flags.opt("frameworks_home")?),
            hadoop_home: empty_is_none(flags.opt("hadoop_home")?),
        })
    }
}

/// Why fetching failed. Texts are Mesos's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// A URI or output file failed validation; nothing was fetched.
    #[error("Could not fetch: {0}")]
    Invalid(String),
    /// One URI could not be fetched (the ones before it were).
    #[error("Failed to fetch '{uri}': {reason}")]
    Uri { uri: String, reason: String },
    /// The fetcher itself could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// The last path component of a URI, as Mesos's `Fetcher::basename` takes it
/// (query strings are not special: `http://h/a?x=1` gives `a?x=1`).
pub fn basename(uri: &str) -> Result<String, String> {
    if uri.contains(['\\', '\'', '\0']) {
        return Err("Illegal characters in URI".into());
    }
    if let Some(index) = uri.find("://").filter(|&i| i > 1) {
        let path = &uri[index + 3..];
        match path.find('/') {
            Some(slash) if path.len() > slash + 1 => {
                return Ok(path[path.rfind('/').unwrap_or(0) + 1..].to_string());
            }
            _ => return Err(format!("Malformed URI (missing path): {uri}")),
        }
    }
    Ok(path_basename(uri))
}

/// stout's `Path::basename`: trailing slashes ignored, "/" for the root,
/// "." for the empty path.
fn path_basename(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

fn validate_output_file(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("URI output file path is empty".into());
    }
    if path.starts_with('/') {
        return Err("URI output file must be within the sandbox directory".into());
    }
    // Mesos only checks the leading '/'; a `..` would still escape.
    if Path::new(path).components().any(|c| c == Component::ParentDir) {
        return Err("URI output file must be within the sandbox directory".into());
    }
    Ok(())
}

/// Checks every URI (and output file) before anything is fetched.
pub fn validate(uris: &[Uri]) -> Result<(), FetchError> {
    for uri in uris {
        basename(uri.value.trim_start()).map_err(FetchError::Invalid)?;
        if let Some(output) = &uri.output_file {
            validate_output_file(output).map_err(FetchError::Invalid)?;
        }
    }
    Ok(())
}

/// Where a URI is on this machine: `Ok(Some)` for `file://` and scheme-less
/// paths (relative ones under `frameworks_home`), `Ok(None)` for other schemes.
pub fn local_path(uri: &str, frameworks_home: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let file_uri = uri.starts_with("file://");
    if !file_uri && uri.contains("://") {
        return Ok(None);
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    let path = path.strip_prefix("localhost").unwrap_or(path);
    if path.starts_with('/') {
        return Ok(Some(PathBuf::from(path)));
    }
    if file_uri {
        return Err("File URI only supports absolute paths".into());
    }
    match frameworks_home {
        Some(home) if !home.as_os_str().is_empty() => Ok(Some(home.join(path))),
        _ => Err("A relative path was passed for the resource but the Mesos framework home was not \
                  specified. Please either provide this config option or avoid using a relative path"
            .into()),
    }
}

/// Whether a URI is fetched over the network (`http`, `https`, `ftp`, `ftps`).
pub fn is_net_uri(uri: &str) -> bool {
    ["http://", "https://", "ftp://", "ftps://"].iter().any(|p| uri.starts_with(p))
}

/// Fetches URIs into sandboxes, sharing one cache. Cheap to share (`&self`).
pub struct Fetcher {
    config: FetcherConfig,
    cache: Cache,
    /// False for a fetcher without a cache (`cache` URIs fetched directly).
    caching: bool,
    http: reqwest::Client,
}

impl Fetcher {
    /// Creates the fetcher and, as Mesos does at agent start, empties the
    /// cache directory (cached files do not survive a restart).
    pub fn new(config: FetcherConfig) -> Result<Fetcher, FetchError> {
        if config.cache_dir.exists() {
            std::fs::remove_dir_all(&config.cache_dir).map_err(|e| {
                FetchError::Setup(format!(
                    "Could not delete fetcher cache directory '{}': {e}",
                    config.cache_dir.display()
                ))
            })?;
        }
        let http = download::http_client().map_err(FetchError::Setup)?;
        let cache = Cache::new(config.cache_size);
        Ok(Fetcher { config, cache, caching: true, http })
    }

    /// A fetcher that never touches a cache directory (URIs asking for the
    /// cache are fetched directly): for executors fetching their tasks' URIs.
    pub fn uncached(config: FetcherConfig) -> Result<Fetcher, FetchError> {
        let http = download::http_client().map_err(FetchError::Setup)?;
        Ok(Fetcher { config, cache: Cache::new(0), caching: false, http })
    }

    pub fn config(&self) -> &FetcherConfig {
        &self.config
    }

    /// Bytes the cache holds (or has reserved for downloads in progress).
    pub fn cache_used(&self) -> u64 {
        self.cache.used()
    }

    /// Entries in the cache.
    pub fn cache_entries(&self) -> usize {
        self.cache.len()
    }

    /// Fetches `uris` in order into `sandbox`. `user` (the command's, else
    /// the container's) separates cache entries.
    /// Progress lines are appended to `log` (the sandbox's `stderr`).
    pub async fn fetch(
        &self,
        uris: &[Uri],
        sandbox: &Path,
        user: Option<&str>,
        log: Option<&Path>,
    ) -> Result<(), FetchError> {
        validate(uris)?;
        if uris.is_empty() {
            return Ok(());
        }
        let cache_dir = match user {
            Some(user) => self.config.cache_dir.join(user),
            None => self.config.cache_dir.clone(),
        };
        for uri in uris {
            let value = uri.value.trim_start();
            note(log, &format!("Fetching URI '{value}'"));
            let result = if uri.cache() && self.caching {
                self.fetch_through_cache(uri, value, &cache_dir, sandbox, user, log).await
            } else {
                self.fetch_directly(uri, value, sandbox, log).await
            };
            match result {
                Ok(fetched) => note(log, &format!("Fetched '{value}' to '{}'", fetched.display())),
                Err(reason) => {
                    let error = FetchError::Uri { uri: value.to_string(), reason };
                    note(log, &error.to_string());
                    return Err(error);
                }
            }
        }
        note(log, &format!("Successfully fetched all URIs into '{}'", sandbox.display()));
        Ok(())
    }

    /// Where a URI's file goes in the sandbox (creating `output_file`'s
    /// directories).
    fn destination(uri: &Uri, value: &str, sandbox: &Path) -> Result<PathBuf, String> {
        if let Some(output) = &uri.output_file {
            if let Some(parent) = Path::new(output).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(sandbox.join(parent))
                    .map_err(|e| format!("Unable to create subdirectory {} in sandbox: {e}", parent.display()))?;
            }
            return Ok(sandbox.join(output));
        }
        Ok(sandbox.join(basename(value)?))
    }

    async fn fetch_directly(
        &self,
        uri: &Uri,
        value: &str,
        sandbox: &Path,
        log: Option<&Path>,
    ) -> Result<PathBuf, String> {
        note(log, &format!("Fetching '{value}' directly into the sandbox directory"));
        let path = Self::destination(uri, value, sandbox)?;
        self.download(value, &path).await?;
        if uri.executable() {
            download::make_executable(&path)?;
        } else if uri.extract() {
            let extracted = extract::extract_blocking(path.clone(), sandbox.to_path_buf()).await?;
            if !extracted {
                note(
                    log,
                    &format!(
                        "Copying instead of extracting resource from URI with 'extract' flag, \
                         because it does not seem to be an archive: {value}"
                    ),
                );
            }
        }
        Ok(path)
    }

    async fn fetch_through_cache(
        &self,
        uri: &Uri,
        value: &str,
        cache_dir: &Path,
        sandbox: &Path,
        user: Option<&str>,
        log: Option<&Path>,
    ) -> Result<PathBuf, String> {
        let key = match user {
            Some(user) => format!("{user}@{value}"),
            None => value.to_string(),
        };
        let claimed = match self.cache.claim(&key, cache_dir, &basename(value)?) {
            Claim::Download(entry) => {
                let mut claimed = Claimed { cache: &self.cache, entry, downloading: true };
                let size = download::size(&self.http, value, self.config.frameworks_home.as_deref()).await;
                match size.and_then(|size| self.cache.reserve(&claimed.entry, size)) {
                    Ok(()) => {
                        std::fs::create_dir_all(cache_dir)
                            .map_err(|e| format!("Could not create the fetcher cache directory: {e}"))?;
                        self.download(value, &claimed.entry.path()).await?;
                        self.cache.downloaded(&claimed.entry);
                        claimed.downloading = false;
                        Some(claimed)
                    }
                    Err(e) => {
                        note(
                            log,
                            &format!(
                                "Reverting to fetching directly into the sandbox for '{value}', \
                                            due to failure to fetch through the cache, with error: {e}"
                            ),
                        );
                        None
                    }
                }
            }
            Claim::Wait(entry) => {
                let claimed = Claimed { cache: &self.cache, entry, downloading: false };
                if self.cache.wait(&claimed.entry).await {
                    Some(claimed)
                } else {
                    note(
                        log,
                        &format!(
                            "Reverting to fetching directly into the sandbox for '{value}', \
                                        due to failure to fetch through the cache"
                        ),
                    );
                    None
                }
            }
        };
        let Some(claimed) = claimed else {
            return self.fetch_directly(uri, value, sandbox, log).await;
        };
        note(log, &format!("Fetching URI '{value}' from cache"));
        self.retrieve(uri, value, &claimed.entry.path(), sandbox, log).await
    }

    /// Copies (or extracts) a cached file into the sandbox.
    async fn retrieve(
        &self,
        uri: &Uri,
        value: &str,
        cached: &Path,
        sandbox: &Path,
        log: Option<&Path>,
    ) -> Result<PathBuf, String> {
        let destination = Self::destination(uri, value, sandbox)?;
        if uri.executable() {
            download::copy_file(cached, &destination).await?;
            download::make_executable(&destination)?;
            return Ok(destination);
        }
        if uri.extract() {
            // The cache file keeps the URI's extension, so the same rules apply.
            if extract::extract_blocking(cached.to_path_buf(), sandbox.to_path_buf()).await? {
                return Ok(sandbox.to_path_buf());
            }
            note(
                log,
                &format!(
                    "Copying instead of extracting resource from URI with 'extract' flag, \
                     because it does not seem to be an archive: {value}"
                ),
            );
        }
        download::copy_file(cached, &destination).await?;
        Ok(destination)
    }

    /// Gets `uri` into `destination`: local copy, net download or Hadoop.
    async fn download(&self, uri: &str, destination: &Path) -> Result<(), String> {
        if let Some(source) = local_path(uri, self.config.frameworks_home.as_deref())? {
            return download::copy_file(&source, destination).await;
        }
        if is_net_uri(uri) {
            return download::net(&self.http, uri, destination, self.config.stall_timeout).await;
        }
        download::hadoop(self.config.hadoop_home.as_deref(), uri, destination).await
    }
}

/// A claim on a cache entry, given back however the fetch ends (an error,
/// or the fetch being dropped when its container is destroyed): a download
/// that did not finish fails the entry, so that waiters fall back to
/// fetching directly.
struct Claimed<'a> {
    cache: &'a Cache,
    entry: std::sync::Arc<cache::Entry>,
    downloading: bool,
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        if self.downloading {
            self.cache.failed(&self.entry);
        } else {
            self.cache.release(&self.entry);
        }
    }
}

/// Appends a line to the fetch log (best effort) and to the agent's log.
fn note(log: Option<&Path>, line: &str) {
    tracing::info!("{line}");
    if let Some(path) = log {
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames_follow_mesos() {
        assert_eq!(basename("http://host/path/to/file.tar.gz").unwrap(), "file.tar.gz");
        assert_eq!(basename("http://host/a?x=1").unwrap(), "a?x=1");
        assert_eq!(basename("hdfs://nn:8020/apps/x.zip").unwrap(), "x.zip");
        assert_eq!(basename("/abs/path/run.sh").unwrap(), "run.sh");
        assert_eq!(basename("relative/dir/").unwrap(), "dir");
        assert_eq!(basename("http://host").unwrap_err(), "Malformed URI (missing path): http://host");
        assert_eq!(basename("http://host/").unwrap_err(), "Malformed URI (missing path): http://host/");
        assert_eq!(basename("/a/b'c").unwrap_err(), "Illegal characters in URI");
    }

    #[test]
    fn local_paths_and_frameworks_home() {
        assert_eq!(local_path("file:///x/y", None).unwrap(), Some(PathBuf::from("/x/y")));
        assert_eq!(local_path("file://localhost/x", None).unwrap(), Some(PathBuf::from("/x")));
        assert_eq!(local_path("/x/y", None).unwrap(), Some(PathBuf::from("/x/y")));
        assert_eq!(local_path("http://h/x", None).unwrap(), None);
        assert_eq!(local_path("file://x", None).unwrap_err(), "File URI only supports absolute paths");
        assert!(local_path("x/y", None).unwrap_err().starts_with("A relative path was passed"));
        assert_eq!(local_path("x/y", Some(Path::new("/home"))).unwrap(), Some(PathBuf::from("/home/x/y")));
        assert!(is_net_uri("https://h/x") && is_net_uri("ftp://h/x") && !is_net_uri("hdfs://h/x"));
    }

    #[test]
    fn validation_rejects_escapes() {
        let uri = |value: &str, output: Option<&str>| Uri {
            value: value.into(),
            output_file: output.map(Into::into),
            ..Default::default()
        };
        assert!(validate(&[uri("http://h/x", Some("sub/x"))]).is_ok());
        assert_eq!(
            validate(&[uri("http://h/x", Some("/etc/x"))]).unwrap_err().to_string(),
            "Could not fetch: URI output file must be within the sandbox directory"
        );
        assert!(validate(&[uri("http://h/x", Some("../x"))]).is_err());
        assert_eq!(
            validate(&[uri("http://h/x", Some(""))]).unwrap_err().to_string(),
            "Could not fetch: URI output file path is empty"
        );
        assert!(validate(&[uri("http://h", None)]).is_err());
    }
}
