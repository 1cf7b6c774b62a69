//! `/files/browse`, `/files/read`, `/files/download`, `/files/debug`: the
//! sandboxes and logs a daemon exposes under virtual paths (Mesos's
//! `src/files/files.cpp`), for the web UI and the CLI.
//!
//! A daemon *mounts* real paths under virtual ones (the agent mounts every
//! sandbox at its real path, at `<work_dir>/.../runs/latest` and at
//! `/frameworks/<fw>/executors/<exec>/runs/latest`, and its log at
//! `/slave/log`). A request path is resolved by its longest mounted prefix;
//! the rest is joined under the mount, canonicalised (symlinks followed),
//! and refused unless it is still inside the mount, so `..` and symlinks
//! cannot reach outside a sandbox.
//!
//! `read` pages like Mesos: `offset` (default -1: just report the size)
//! and `length` (at most 16 pages, 64KiB), answering `{"data", "offset"}`.
//! All endpoints take `jsonp`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use futures::future::BoxFuture;
use http::{header, Response, StatusCode};
use serde_json::Value;

use crate::http_api::agent::model;

/// How much `/files/read` returns at most (`os::pagesize() * 16`).
pub const MAX_READ: u64 = 16 * 4096;

/// Where the current mounts come from (they change as sandboxes come and go).
pub trait Mounts: Send + Sync + 'static {
    /// Virtual path (no trailing `/`) -> real path.
    fn mounts(&self) -> BoxFuture<'_, BTreeMap<String, PathBuf>>;
}

/// Why a path did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesError {
    /// 400 with this text.
    Invalid(String),
    /// 404.
    NotFound,
}

/// Parses the query string into pairs (percent-decoded, `+` as space).
pub fn query_pairs(query: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k), decode(v));
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Normalises a virtual path: drops the trailing `/` (Mesos strips it).
fn clean(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Resolves a virtual path to a real one inside its mount.
pub fn resolve(mounts: &BTreeMap<String, PathBuf>, path: &str) -> Result<PathBuf, FilesError> {
    let path = clean(path);
    let tokens: Vec<&str> = path.split('/').collect();
    for n in (1..=tokens.len()).rev() {
        let prefix = tokens[..n].join("/");
        let Some(root) = mounts.get(&prefix) else { continue };
        let suffix: Vec<&str> = tokens[n..].to_vec();
        if !root.is_dir() {
            return if suffix.is_empty() { Ok(root.clone()) } else { Err(FilesError::NotFound) };
        }
        let mut joined = root.clone();
        for part in &suffix {
            joined.push(part);
        }
        let real = match std::fs::canonicalize(&joined) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FilesError::NotFound),
            Err(e) => {
                return Err(FilesError::Invalid(format!(
                    "Failed to determine canonical path of '{}': {e}",
                    joined.display()
                )))
            }
        };
        if !real.starts_with(root) {
            return Err(FilesError::Invalid(format!("'{}' is inaccessible", joined.display())));
        }
        return Ok(real);
    }
    Err(FilesError::NotFound)
}

/// A JSON answer, wrapped for `jsonp` when asked.
pub fn json_response(value: &Value, jsonp: Option<&str>) -> Response<Body> {
    match jsonp {
        Some(callback) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/javascript")
            .body(Body::from(format!("{callback}({value});")))
            .expect("static response"),
        None => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(value.to_string()))
            .expect("static response"),
    }
}

pub fn text_response(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(text.into()))
        .expect("static response")
}

fn error_response(error: FilesError) -> Response<Body> {
    match error {
        FilesError::Invalid(text) => text_response(StatusCode::BAD_REQUEST, format!("{text}.\n")),
        FilesError::NotFound => text_response(StatusCode::NOT_FOUND, ""),
    }
}

/// The `/files/*` endpoints over some [`Mounts`].
#[derive(Clone)]
pub struct Files {
    mounts: Arc<dyn Mounts>,
}

impl Files {
    pub fn new(mounts: Arc<dyn Mounts>) -> Files {
        Files { mounts }
    }

    /// Answers `/files/<endpoint>` (with the `.json` suffix removed).
    /// `None` for an unknown endpoint.
    pub async fn serve(&self, endpoint: &str, query: Option<&str>) -> Option<Response<Body>> {
        let params = query_pairs(query);
        let jsonp = params.get("jsonp").map(String::as_str);
        let response = match endpoint {
            "browse" => self.browse(&params, jsonp).await,
            "read" => self.read(&params, jsonp).await,
            "download" => self.download(&params).await,
            "debug" => {
                let mounts = self.mounts.mounts().await;
                let map: serde_json::Map<String, Value> =
                    mounts.into_iter().map(|(k, v)| (k, Value::String(v.display().to_string()))).collect();
                json_response(&Value::Object(map), jsonp)
            }
            _ => return None,
        };
        Some(response)
    }

    fn path_param(params: &BTreeMap<String, String>) -> Result<String, Box<Response<Body>>> {
        match params.get("path") {
            Some(p) if !p.is_empty() => Ok(p.clone()),
            _ => Err(Box::new(text_response(StatusCode::BAD_REQUEST, "Expecting 'path=value' in query.\n"))),
        }
    }

    /// The `path` parameter and the real path it resolves to, or the error
    /// response.
    async fn resolve_param(&self, params: &BTreeMap<String, String>) -> Result<(String, PathBuf), Box<Response<Body>>> {
        let path = Self::path_param(params)?;
        let mounts = self.mounts.mounts().await;
        let real = resolve(&mounts, &path).map_err(|e| Box::new(error_response(e)))?;
        Ok((path, real))
    }

    async fn browse(&self, params: &BTreeMap<String, String>, jsonp: Option<&str>) -> Response<Body> {
        let (path, real) = match self.resolve_param(params).await {
            Ok(found) => found,
            Err(r) => return *r,
        };
        let virtual_base = clean(&path);
        let listing = tokio::task::spawn_blocking(move || {
            let mut files: BTreeMap<PathBuf, Value> = BTreeMap::new();
            if let Ok(entries) = std::fs::read_dir(&real) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let full = real.join(&name);
                    let Ok(meta) = std::fs::metadata(&full) else { continue };
                    let virtual_path = if virtual_base.ends_with('/') {
                        format!("{virtual_base}{name}")
                    } else {
                        format!("{virtual_base}/{name}")
                    };
                    files.insert(full, model::file_info(&virtual_path, &meta));
                }
            }
            Value::Array(files.into_values().collect())
        })
        .await
        .unwrap_or(Value::Array(Vec::new()));
        json_response(&listing, jsonp)
    }

    async fn read(&self, params: &BTreeMap<String, String>, jsonp: Option<&str>) -> Response<Body> {
        if let Err(r) = Self::path_param(params) {
            return *r;
        }
        let mut offset: i64 = -1;
        if let Some(text) = params.get("offset") {
            match text.trim().parse::<i64>() {
                Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("Failed to parse offset: {e}.\n")),
                Ok(v) if v < -1 => {
                    return text_response(StatusCode::BAD_REQUEST, format!("Negative offset provided: {v}.\n"))
                }
                Ok(v) => offset = v,
            }
        }
        let mut length: Option<u64> = None;
        if let Some(text) = params.get("length") {
            match text.trim().parse::<i64>() {
                Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("Failed to parse length: {e}.\n")),
                Ok(v) if v < -1 => {
                    return text_response(StatusCode::BAD_REQUEST, format!("Negative length provided: {v}.\n"))
                }
                Ok(v) if v > -1 => length = Some(v as u64),
                Ok(_) => {}
            }
        }
        let (start, length) = if offset == -1 { (0u64, Some(0)) } else { (offset as u64, length) };
        let real = match self.resolve_param(params).await {
            Ok((_, real)) => real,
            Err(r) => return *r,
        };
        if real.is_dir() {
            return text_response(StatusCode::BAD_REQUEST, "Cannot read a directory.\n");
        }
        let result = tokio::task::spawn_blocking(move || read_chunk(&real, start, length)).await;
        match result {
            Ok(Ok((size, data))) => {
                let reported = if offset == -1 { size } else { offset as u64 };
                let value = serde_json::json!({"data": String::from_utf8_lossy(&data), "offset": reported});
                json_response(&value, jsonp)
            }
            Ok(Err(e)) => text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}.\n")),
            Err(e) => text_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }

    async fn download(&self, params: &BTreeMap<String, String>) -> Response<Body> {
        let real = match self.resolve_param(params).await {
            Ok((_, real)) => real,
            Err(r) => return *r,
        };
        if real.is_dir() {
            return text_response(StatusCode::BAD_REQUEST, "Cannot download a directory.\n");
        }
        let file = match tokio::fs::File::open(&real).await {
            Ok(f) => f,
            Err(e) => return text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("Failed to open file: {e}")),
        };
        let basename = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let content_type = mime_type(&real);
        let stream = tokio_util_stream(file);
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename={basename}"))
            .body(Body::from_stream(stream))
            .expect("static response")
    }
}

/// `(file size, bytes)` of `[offset, offset + length)`, at most [`MAX_READ`].
pub fn read_chunk(path: &Path, offset: u64, length: Option<u64>) -> Result<(u64, Vec<u8>), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("Failed to open file at '{}': {e}", path.display()))?;
    let size = file.seek(SeekFrom::End(0)).map_err(|e| format!("Failed to open file at '{}': {e}", path.display()))?;
    if offset >= size {
        return Ok((size, Vec::new()));
    }
    let length = length.unwrap_or(size - offset).min(MAX_READ);
    if length == 0 {
        return Ok((size, Vec::new()));
    }
    file.seek(SeekFrom::Start(offset)).map_err(|e| format!("Failed to seek file at '{}': {e}", path.display()))?;
    let mut data = Vec::with_capacity(length as usize);
    file.take(length)
        .read_to_end(&mut data)
        .map_err(|e| format!("Failed to read file at '{}': {e}", path.display()))?;
    Ok((size, data))
}

fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "json" => "application/json",
        "txt" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "gz" | "tgz" => "application/x-gzip",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// A file as a stream of chunks.
fn tokio_util_stream(file: tokio::fs::File) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(&dir).unwrap()
    }

    #[test]
    fn resolution_follows_the_longest_mount_and_refuses_escapes() {
        let dir = tmp("resolve");
        let sandbox = dir.join("sandbox");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(sandbox.join("stdout"), b"hello").unwrap();
        std::fs::write(dir.join("secret"), b"no").unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), sandbox.join("link")).unwrap();
        let mounts = BTreeMap::from([("/frameworks/F/executors/E/runs/latest".to_string(), sandbox.clone())]);
        let v = "/frameworks/F/executors/E/runs/latest";
        assert_eq!(resolve(&mounts, &format!("{v}/stdout")).unwrap(), sandbox.join("stdout"));
        assert_eq!(resolve(&mounts, &format!("{v}/")).unwrap(), sandbox);
        assert_eq!(resolve(&mounts, &format!("{v}/nope")), Err(FilesError::NotFound));
        assert!(matches!(
            resolve(&mounts, &format!("{v}/../../secret")),
            Err(FilesError::NotFound | FilesError::Invalid(_))
        ));
        assert!(matches!(resolve(&mounts, &format!("{v}/sub/../../secret")), Err(FilesError::Invalid(_))));
        assert!(matches!(resolve(&mounts, &format!("{v}/link")), Err(FilesError::Invalid(_))));
        assert_eq!(resolve(&mounts, "/etc/passwd"), Err(FilesError::NotFound));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn reads_page_like_mesos() {
        let dir = tmp("read");
        let file = dir.join("f");
        std::fs::write(&file, vec![b'x'; 100_000]).unwrap();
        assert_eq!(read_chunk(&file, 0, Some(0)).unwrap(), (100_000, vec![]));
        let (size, data) = read_chunk(&file, 10, None).unwrap();
        assert_eq!((size, data.len() as u64), (100_000, MAX_READ));
        assert_eq!(read_chunk(&file, 99_990, Some(50)).unwrap().1.len(), 10);
        assert!(read_chunk(&file, 200_000, None).unwrap().1.is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q = query_pairs(Some("path=%2Ffoo%2Fbar+baz&offset=-1&jsonp=cb"));
        assert_eq!(q["path"], "/foo/bar baz");
        assert_eq!(q["offset"], "-1");
        assert_eq!(
            query_pairs(Some("a=%zz&b=%4")),
            BTreeMap::from([("a".into(), "%zz".into()), ("b".into(), "%4".into())])
        );
    }
}
