//! Unpacking fetched archives into the sandbox.
//!
//! Which files are archives is decided by name, as Mesos decides: `.tar`,
//! `.tgz`, `.tar.gz`, `.tbz2`, `.tar.bz2`, `.txz`, `.tar.xz` and `.zip` are
//! unpacked into the sandbox; a bare `.gz` is gunzipped next to it (without
//! the extension); anything else is left as is. Like libarchive (which Mesos
//! uses), the compression and the tar/zip format are then recognised from
//! the content, so a misnamed `.tar.gz` that is really a plain tar still
//! unpacks. Entries that would land outside the sandbox are refused.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const ARCHIVE_SUFFIXES: &[&str] = &[".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"];

/// Extracts `source` into `directory` if its name says it is an archive.
/// `Ok(false)`: not an archive (nothing done).
pub fn extract(source: &Path, directory: &Path) -> Result<bool, String> {
    let name = source.to_string_lossy();
    if ARCHIVE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        unpack(source, directory).map_err(|e| {
            format!("Failed to extract archive '{}' to '{}': {e}", source.display(), directory.display())
        })?;
        tracing::info!("Extracted '{}' into '{}'", source.display(), directory.display());
        return Ok(true);
    }
    if let Some(stem) = name.strip_suffix(".gz") {
        let file_name = Path::new(stem).file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(stem));
        let destination = directory.join(file_name);
        gunzip(source, &destination)
            .map_err(|e| format!("Failed to extract '{}': 'gunzip -d -c' failed: {e}", source.display()))?;
        tracing::info!("Extracted '{}' into '{}'", source.display(), directory.display());
        return Ok(true);
    }
    Ok(false)
}

/// [`extract`] on the blocking pool.
pub async fn extract_blocking(source: PathBuf, directory: PathBuf) -> Result<bool, String> {
    tokio::task::spawn_blocking(move || extract(&source, &directory))
        .await
        .map_err(|e| format!("Extraction of the archive failed: {e}"))?
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Gzip,
    Bzip2,
    Xz,
    Zip,
    Tar,
}

fn sniff(file: &mut File) -> std::io::Result<Format> {
    let mut magic = [0u8; 6];
    let mut read = 0;
    while read < magic.len() {
        let n = file.read(&mut magic[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    file.seek(SeekFrom::Start(0))?;
    let magic = &magic[..read];
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if magic.starts_with(b"BZh") {
        Format::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Format::Xz
    } else if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        Format::Zip
    } else {
        Format::Tar
    })
}

fn unpack(source: &Path, directory: &Path) -> Result<(), String> {
    let mut file = File::open(source).map_err(|e| e.to_string())?;
    let format = sniff(&mut file).map_err(|e| e.to_string())?;
    let reader = BufReader::new(file);
    match format {
        Format::Zip => {
            let mut archive = zip::ZipArchive::new(reader).map_err(|e| e.to_string())?;
            archive.extract(directory).map_err(|e| e.to_string())
        }
        Format::Gzip => untar(flate2::read::MultiGzDecoder::new(reader), directory),
        Format::Bzip2 => untar(bzip2::read::MultiBzDecoder::new(reader), directory),
        Format::Xz => untar(lzma_rust2::XzReader::new(reader, true), directory),
        Format::Tar => untar(reader, directory),
    }
}

fn untar(reader: impl Read, directory: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        // `unpack_in` refuses paths escaping `directory` (returns false).
        let inside = entry.unpack_in(directory).map_err(|e| e.to_string())?;
        if !inside {
            let path = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(format!("Entry '{path}' would be extracted outside of the directory"));
        }
    }
    Ok(())
}

fn gunzip(source: &Path, destination: &Path) -> std::io::Result<()> {
    let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(File::open(source)?));
    let mut out = File::create(destination)?;
    std::io::copy(&mut decoder, &mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn tar_bytes() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let data = b"#!/bin/sh\necho hi\n";
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, "app/run.sh", &data[..]).unwrap();
        builder.into_inner().unwrap()
    }

    fn check(dir: &Path) {
        let path = dir.join("app/run.sh");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "#!/bin/sh\necho hi\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn every_tar_flavour_unpacks() {
        let tar = tar_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        xz.write_all(&tar).unwrap();
        let xz = xz.finish().unwrap();
        for (name, bytes) in [
            ("a.txz", xz.clone()),
            ("a.tar.xz", xz),
            ("a.tar", tar.clone()),
            ("a.tgz", gz.clone()),
            ("a.tar.gz", gz.clone()),
            ("a.tbz2", bz.clone()),
            ("a.tar.bz2", bz),
            // Misnamed: libarchive (and we) look at the content.
            ("b.tar.gz", tar.clone()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let source = dir.path().join(name);
            std::fs::write(&source, bytes).unwrap();
            assert!(extract(&source, dir.path()).unwrap(), "{name}");
            check(dir.path());
        }
    }

    #[test]
    fn zip_and_bare_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.zip");
        let mut zip = zip::ZipWriter::new(File::create(&source).unwrap());
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        zip.start_file("app/run.sh", options).unwrap();
        zip.write_all(b"#!/bin/sh\necho hi\n").unwrap();
        zip.finish().unwrap();
        assert!(extract(&source, dir.path()).unwrap());
        check(dir.path());

        let source = dir.path().join("notes.txt.gz");
        let mut gz = flate2::write::GzEncoder::new(File::create(&source).unwrap(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        gz.finish().unwrap();
        assert!(extract(&source, dir.path()).unwrap());
        assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "hello");
    }

    #[test]
    fn non_archives_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("run.sh");
        std::fs::write(&plain, "x").unwrap();
        assert!(!extract(&plain, dir.path()).unwrap());
        let bad = dir.path().join("bad.tar.gz");
        std::fs::write(&bad, [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
        let err = extract(&bad, dir.path()).unwrap_err();
        assert!(err.starts_with(&format!("Failed to extract archive '{}'", bad.display())), "{err}");
    }
}
