//! The fetcher against a local HTTP server and local files: downloads,
//! extraction, `executable`, `output_file`, the cache and its hits, and the
//! error texts.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mesos_rs::agent::fetcher::{FetchError, Fetcher, FetcherConfig};
use mesos_rs::proto::mesos::command_info::Uri;

/// Serves fixed files and counts requests as "METHOD /path".
struct FileServer {
    base: String,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl FileServer {
    async fn start(files: BTreeMap<&'static str, Vec<u8>>) -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let files: Arc<BTreeMap<&'static str, Vec<u8>>> = Arc::new(files);
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (files, counter) = (files.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let key = format!("{} {}", request.method(), request.uri().path());
                        *counter.lock().unwrap().entry(key).or_default() += 1;
                        let body = files.get(request.uri().path()).cloned();
                        let head = request.method() == hyper::Method::HEAD;
                        async move {
                            let response = match body {
                                Some(body) => {
                                    let length = body.len();
                                    let body = if head { Bytes::new() } else { Bytes::from(body) };
                                    hyper::Response::builder()
                                        .header("content-length", length)
                                        .body(Full::new(body))
                                        .unwrap()
                                }
                                None => hyper::Response::builder().status(404).body(Full::new(Bytes::new())).unwrap(),
                            };
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FileServer { base, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self, key: &str) -> usize {
        self.hits.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

fn tarball() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let script = b"#!/bin/sh\necho hi\n";
    header.set_size(script.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder.append_data(&mut header, "app/run.sh", &script[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn uri(value: &str) -> Uri {
    Uri { value: value.into(), ..Default::default() }
}

fn fetcher(dir: &Path, cache_size: u64) -> Fetcher {
    Fetcher::new(FetcherConfig { cache_dir: dir.join("cache"), cache_size, ..Default::default() }).unwrap()
}

#[tokio::test]
async fn an_http_tarball_is_downloaded_and_extracted() {
    let server =
        FileServer::start(BTreeMap::from([("/dist/app.tgz", tarball()), ("/bin/tool", b"#!/bin/sh\n".to_vec())])).await;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    let f = fetcher(dir.path(), 1 << 30);
    let uris = vec![
        uri(&server.url("/dist/app.tgz")),
        Uri { executable: Some(true), output_file: Some("bin/renamed".into()), ..uri(&server.url("/bin/tool")) },
    ];
    let log = sandbox.join("stderr");
    f.fetch(&uris, &sandbox, None, Some(&log)).await.unwrap();
    // Extracted next to the archive, which is kept.
    assert_eq!(std::fs::read_to_string(sandbox.join("app/run.sh")).unwrap(), "#!/bin/sh\necho hi\n");
    assert!(sandbox.join("app.tgz").exists());
    let mode = std::fs::metadata(sandbox.join("bin/renamed")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains(&format!("Fetching URI '{}'", server.url("/dist/app.tgz"))), "{log}");
    assert!(log.contains("Successfully fetched all URIs into"), "{log}");
    // No cache asked for: no cache used.
    assert_eq!(f.cache_entries(), 0);
    assert_eq!(server.hits("HEAD /dist/app.tgz"), 0);
}

#[tokio::test]
async fn file_uris_and_plain_paths_are_copied_and_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("app.tar.gz");
    std::fs::write(&source, tarball()).unwrap();
    for value in [format!("file://{}", source.display()), source.display().to_string()] {
        let sandbox = tempfile::tempdir().unwrap();
        let f = fetcher(dir.path(), 1 << 30);
        f.fetch(&[uri(&value)], sandbox.path(), None, None).await.unwrap();
        assert!(sandbox.path().join("app/run.sh").exists(), "{value}");
        assert!(sandbox.path().join("app.tar.gz").exists());
        // `extract: false` keeps the archive as is.
        let sandbox = tempfile::tempdir().unwrap();
        let no_extract = Uri { extract: Some(false), ..uri(&value) };
        f.fetch(&[no_extract], sandbox.path(), None, None).await.unwrap();
        assert!(!sandbox.path().join("app").exists());
    }
}

#[tokio::test]
async fn cached_uris_are_downloaded_once() {
    let server = FileServer::start(BTreeMap::from([("/dist/app.tgz", tarball())])).await;
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(dir.path(), 1 << 30);
    let cached = Uri { cache: Some(true), ..uri(&server.url("/dist/app.tgz")) };
    for round in 0..3 {
        let sandbox = tempfile::tempdir().unwrap();
        f.fetch(std::slice::from_ref(&cached), sandbox.path(), None, Some(&sandbox.path().join("stderr")))
            .await
            .unwrap();
        assert!(sandbox.path().join("app/run.sh").exists(), "round {round}");
        let log = std::fs::read_to_string(sandbox.path().join("stderr")).unwrap();
        assert!(log.contains("from cache"), "{log}");
    }
    assert_eq!(server.hits("GET /dist/app.tgz"), 1);
    assert_eq!(server.hits("HEAD /dist/app.tgz"), 1);
    assert_eq!(f.cache_entries(), 1);
    assert_eq!(f.cache_used(), tarball().len() as u64);
    // Cache files keep the URI's basename (and so its extension).
    let files: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, vec!["c1-app.tgz".to_string()]);

    // Another user gets their own entry, under their own directory.
    let sandbox = tempfile::tempdir().unwrap();
    f.fetch(std::slice::from_ref(&cached), sandbox.path(), Some("nobody"), None).await.unwrap();
    assert_eq!(server.hits("GET /dist/app.tgz"), 2);
    assert_eq!(f.cache_entries(), 2);
    assert!(dir.path().join("cache/nobody").is_dir());

    // A restarted agent starts with an empty cache directory.
    drop(f);
    let f = fetcher(dir.path(), 1 << 30);
    assert!(!dir.path().join("cache").exists());
    assert_eq!(f.cache_entries(), 0);
}

#[tokio::test]
async fn a_file_too_big_for_the_cache_is_fetched_directly_and_lru_entries_are_evicted() {
    let big = vec![7u8; 4096];
    let server = FileServer::start(BTreeMap::from([
        ("/a.bin", vec![1u8; 3000]),
        ("/b.bin", vec![2u8; 3000]),
        ("/big.bin", big),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(dir.path(), 4000);
    let cached = |path: &str| Uri { cache: Some(true), ..uri(&server.url(path)) };
    let sandbox = tempfile::tempdir().unwrap();
    f.fetch(&[cached("/big.bin")], sandbox.path(), None, None).await.unwrap();
    assert_eq!(std::fs::read(sandbox.path().join("big.bin")).unwrap().len(), 4096);
    assert_eq!(f.cache_entries(), 0, "did not fit");
    f.fetch(&[cached("/a.bin")], sandbox.path(), None, None).await.unwrap();
    f.fetch(&[cached("/b.bin")], sandbox.path(), None, None).await.unwrap();
    assert_eq!(f.cache_entries(), 1, "b evicted a");
    assert_eq!(f.cache_used(), 3000);
    f.fetch(&[cached("/b.bin")], sandbox.path(), None, None).await.unwrap();
    assert_eq!(server.hits("GET /b.bin"), 1);
}

#[tokio::test]
async fn failures_use_mesos_texts() {
    let server = FileServer::start(BTreeMap::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(dir.path(), 1 << 30);
    let missing = server.url("/missing.tgz");
    let err = f.fetch(&[uri(&missing)], dir.path(), None, None).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Uri {
            uri: missing.clone(),
            reason: "Error downloading resource, received HTTP return code 404".into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("Failed to fetch '{missing}': Error downloading resource, received HTTP return code 404")
    );
    // With the cache, the size cannot be had: fetched directly, same failure.
    let cached = Uri { cache: Some(true), ..uri(&missing) };
    assert!(matches!(f.fetch(&[cached], dir.path(), None, None).await, Err(FetchError::Uri { .. })));
    let err = f.fetch(&[uri("relative/path")], dir.path(), None, None).await.unwrap_err();
    assert!(err.to_string().contains("the Mesos framework home was not specified"), "{err}");
    let err = f.fetch(&[uri("hdfs://nn/x.jar")], dir.path(), None, None).await.unwrap_err();
    assert!(err.to_string().starts_with("Failed to fetch 'hdfs://nn/x.jar': "), "{err}");
    let err = f
        .fetch(&[Uri { output_file: Some("/etc/passwd".into()), ..uri(&missing) }], dir.path(), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Could not fetch: URI output file must be within the sandbox directory");
    let bad = dir.path().join("bad.tgz");
    std::fs::write(&bad, b"not a tarball").unwrap();
    let sandbox = dir.path().join("sb");
    std::fs::create_dir_all(&sandbox).unwrap();
    let err = f.fetch(&[uri(&bad.display().to_string())], &sandbox, None, None).await.unwrap_err();
    let prefix = format!(
        "Failed to fetch '{}': Failed to extract archive '{}'",
        bad.display(),
        sandbox.join("bad.tgz").display()
    );
    assert!(err.to_string().starts_with(&prefix), "{err}");
}

#[tokio::test]
async fn a_cancelled_fetch_gives_its_cache_claim_back() {
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stuck.tgz", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(dir.path(), 1 << 30);
    let cached = Uri { cache: Some(true), ..uri(&url) };
    let fetch = f.fetch(std::slice::from_ref(&cached), dir.path(), None, None);
    // The fetch can never finish; dropping it (as a destroyed container's
    // launch does) must not leave a half-made entry others would wait on.
    assert!(tokio::time::timeout(std::time::Duration::from_millis(200), fetch).await.is_err());
    assert_eq!(f.cache_entries(), 0);
    assert_eq!(f.cache_used(), 0);
    drop(listener);
}
