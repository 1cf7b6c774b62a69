//! Getting a URI's bytes onto local disk: a copy for local paths, HTTP(S)
//! with Mesos's stall timeout, the Hadoop client for other schemes. Error
//! texts are those of Mesos's `mesos-fetcher`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

/// The HTTP client used for downloads (rustls with the system's roots;
/// redirects followed as curl's `-L` does for Mesos).
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("Failed to create the HTTP client: {e}"))
}

/// Copies a local file (following symlinks) to `destination`.
pub async fn copy_file(source: &Path, destination: &Path) -> Result<(), String> {
    let metadata = tokio::fs::metadata(source)
        .await
        .map_err(|e| format!("Failed to copy '{}' to '{}': {e}", source.display(), destination.display()))?;
    if metadata.is_dir() {
        return Err(format!(
            "Failed to copy '{}' to '{}': source is a directory",
            source.display(),
            destination.display()
        ));
    }
    tokio::fs::copy(source, destination)
        .await
        .map(|_| ())
        .map_err(|e| format!("Failed to copy '{}' to '{}': {e}", source.display(), destination.display()))
}

/// `chmod 755`, as Mesos does for `executable` URIs.
pub fn make_executable(path: &Path) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("Failed to chmod executable '{}': {e}", path.display()))
}

/// Downloads `uri` (http/https) into `destination`. A download that
/// receives nothing for `stall_timeout` is aborted; anything but 200 fails.
pub async fn net(
    client: &reqwest::Client,
    uri: &str,
    destination: &Path,
    stall_timeout: Duration,
) -> Result<(), String> {
    if uri.starts_with("ftp://") || uri.starts_with("ftps://") {
        return Err("Error downloading resource: FTP is not supported by this fetcher".into());
    }
    tracing::info!("Downloading resource from '{uri}' to '{}'", destination.display());
    let response = tokio::time::timeout(stall_timeout, client.get(uri).send())
        .await
        .map_err(|_| format!("Error downloading resource: no response within {stall_timeout:?}"))?
        .map_err(|e| format!("Error downloading resource: {}", error_chain(&e)))?;
    let code = response.status().as_u16();
    if code != 200 {
        return Err(format!("Error downloading resource, received HTTP return code {code}"));
    }
    let mut file = tokio::fs::File::create(destination)
        .await
        .map_err(|e| format!("Error downloading resource: failed to create '{}': {e}", destination.display()))?;
    let mut body = response.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout(stall_timeout, body.next()).await {
            Err(_) => return Err(format!("Error downloading resource: the download stalled for {stall_timeout:?}")),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(format!("Error downloading resource: {}", error_chain(&e))),
            Ok(Some(Ok(chunk))) => chunk,
        };
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("Error downloading resource: failed to write '{}': {e}", destination.display()))?;
    }
    file.flush().await.map_err(|e| format!("Error downloading resource: {e}"))?;
    Ok(())
}

/// How many bytes fetching `uri` will bring (for reserving cache space).
pub async fn size(client: &reqwest::Client, uri: &str, frameworks_home: Option<&Path>) -> Result<u64, String> {
    if let Some(path) = super::local_path(uri, frameworks_home)? {
        return tokio::fs::metadata(&path)
            .await
            .map(|m| m.len())
            .map_err(|e| format!("Could not determine file size for: '{}', error: {e}", path.display()));
    }
    if super::is_net_uri(uri) {
        let response = client
            .head(uri)
            .send()
            .await
            .map_err(|e| format!("Error requesting the size of '{uri}': {}", error_chain(&e)))?;
        if response.status().as_u16() != 200 {
            return Err(format!("HEAD of '{uri}' returned HTTP status code {}", response.status().as_u16()));
        }
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if length == 0 {
            return Err(format!("URI reported content-length 0: {uri}"));
        }
        return Ok(length);
    }
    Err("Hadoop client could not determine size: not supported".into())
}

/// `hadoop fs -copyToLocal <uri> <destination>` for schemes we do not speak
/// (hdfs, s3, ...), as Mesos hands them to its Hadoop client.
pub async fn hadoop(hadoop_home: Option<&Path>, uri: &str, destination: &Path) -> Result<(), String> {
    let program = match hadoop_home {
        Some(home) => home.join("bin").join("hadoop"),
        None => "hadoop".into(),
    };
    tracing::info!("Downloading resource with Hadoop client from '{uri}' to '{}'", destination.display());
    let output = tokio::process::Command::new(&program)
        .args(["fs", "-copyToLocal"])
        .arg(uri)
        .arg(destination)
        .output()
        .await
        .map_err(|e| format!("Failed to create HDFS client: failed to run '{}': {e}", program.display()))?;
    if !output.status.success() {
        return Err(format!("HDFS copyToLocal failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(())
}

/// reqwest's errors hide their cause; Mesos's (curl's) say it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
