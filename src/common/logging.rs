//! Logging set up the way Mesos operators configure it.
//!
//! Mesos logs through glog with `--quiet`, `--logging_level` (INFO, WARNING,
//! ERROR), `--log_dir` (files the web UI serves as `/master/log` or
//! `/slave/log`), `--logbufsecs`, `--external_log_file` and, at run time, a
//! verbosity toggle (`/logging/toggle`, `SET_LOGGING_LEVEL`). We log through
//! `tracing`; this module maps those flags onto a subscriber and keeps a handle
//! to change the verbosity while running. `GLOG_v`/`RUST_LOG` still win for
//! developers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Registry};

use super::flags::{FlagDef, Flags, Kind};

/// The logging flags every Mesos daemon accepts (`src/logging/flags.cpp`).
pub const FLAGS: &[FlagDef] = &[
    FlagDef::new("quiet", Kind::Bool, Some("false"), "Disable logging to stderr."),
    FlagDef::new(
        "logging_level",
        Kind::String,
        Some("INFO"),
        "Log message at or above this level.\nPossible values: `INFO`, `WARNING`, `ERROR`.\n\
         If `--quiet` is specified, this will only affect the logs\nwritten to `--log_dir`, if specified.",
    ),
    FlagDef::new(
        "log_dir",
        Kind::Path,
        None,
        "Location to put log files. By default, nothing is written to disk.\n\
         Does not affect logging to stderr. If specified, the log file\nappears in the web UI.",
    ),
    FlagDef::new("logbufsecs", Kind::Uint, Some("0"), "Maximum number of seconds that logs may be buffered for."),
    FlagDef::new(
        "initialize_driver_logging",
        Kind::Bool,
        Some("true"),
        "Whether to initialize logging for the scheduler and executor drivers.",
    ),
    FlagDef::new(
        "external_log_file",
        Kind::Path,
        None,
        "Location of an externally managed log file, exposed in the web UI and HTTP API.",
    ),
];

/// The glog level names Mesos accepts, as tracing levels.
pub fn level_directive(level: &str) -> Result<&'static str, String> {
    match level.to_ascii_uppercase().as_str() {
        "INFO" => Ok("info"),
        "WARNING" => Ok("warn"),
        "ERROR" => Ok("error"),
        other => Err(format!(
            "'{other}' is not a valid logging level. Possible values for 'logging_level' flag are: \
             'INFO', 'WARNING', 'ERROR'."
        )),
    }
}

/// A running logger: where its file is, and the knob for run-time verbosity.
pub struct Logging {
    /// The file under `--log_dir` (or `--external_log_file`), served as the log.
    pub log_file: Option<PathBuf>,
    base: String,
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    verbosity: Mutex<u32>,
    /// Bumped by every timed change, so only the latest one reverts.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Logging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logging").field("log_file", &self.log_file).field("verbosity", &self.verbosity()).finish()
    }
}

impl Logging {
    /// A handle that changes no subscriber (embedding, tests): it reports
    /// `log_file` and keeps the verbosity it is given.
    pub fn detached(log_file: Option<PathBuf>) -> Logging {
        Logging {
            log_file,
            base: "info".into(),
            handle: None,
            verbosity: Mutex::new(0),
            generation: Default::default(),
        }
    }

    /// The glog-style verbosity currently in force (0 = the flag's level).
    pub fn verbosity(&self) -> u32 {
        *self.verbosity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises (or restores, with 0) verbosity: 1 adds debug, 2+ adds trace,
    /// matching how glog's `v` levels are used by Mesos.
    pub fn set_verbosity(&self, level: u32) -> Result<(), String> {
        let directive = match level {
            0 => self.base.clone(),
            1 => "debug".to_string(),
            _ => "trace".to_string(),
        };
        if let Some(handle) = &self.handle {
            handle.reload(EnvFilter::new(directive)).map_err(|e| format!("Failed to change the logging level: {e}"))?;
        }
        *self.verbosity.lock().unwrap_or_else(|e| e.into_inner()) = level;
        Ok(())
    }

    /// `SET_LOGGING_LEVEL`: `level` now, and back to 0 once `duration` has
    /// passed, unless another timed change came in meanwhile (the revert
    /// belongs to the latest change, as libprocess's `Logging::set_level`).
    pub fn set_verbosity_for(
        self: &std::sync::Arc<Self>,
        level: u32,
        duration: std::time::Duration,
    ) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.set_verbosity(level)?;
        let this = self.clone();
        std::thread::Builder::new()
            .name("logging-revert".into())
            .spawn(move || {
                std::thread::sleep(duration);
                if this.generation.load(Ordering::SeqCst) == generation {
                    if let Err(e) = this.set_verbosity(0) {
                        tracing::warn!("Failed to revert the logging level: {e}");
                    }
                }
            })
            .map_err(|e| format!("Failed to schedule the logging level revert: {e}"))?;
        Ok(())
    }
}

/// Installs the global subscriber for `program` from its loaded flags.
/// Safe to call once per process; later calls return a handle without a knob.
pub fn init(program: &str, flags: &Flags) -> Result<Logging, String> {
    let level = flags.raw("logging_level").unwrap_or("INFO");
    let base = level_directive(level)?.to_string();
    let quiet = flags.get::<bool>("quiet").unwrap_or(false);
    let log_dir = flags.opt::<PathBuf>("log_dir").ok().flatten();
    let external = flags.opt::<PathBuf>("external_log_file").ok().flatten();

    let developer = std::env::var("RUST_LOG").ok().or_else(|| {
        std::env::var("GLOG_v").ok().and_then(|v| v.parse::<u32>().ok()).filter(|v| *v > 0).map(|v| {
            if v == 1 {
                "debug".to_string()
            } else {
                "trace".to_string()
            }
        })
    });
    let filter = EnvFilter::new(developer.unwrap_or_else(|| base.clone()));
    let (filter, handle) = reload::Layer::new(filter);

    let log_file = match &log_dir {
        Some(dir) => Some(open_log_file(dir, program)?),
        None => None,
    };
    let file_layer = log_file.as_ref().map(|(_, file)| {
        let file = file.try_clone().expect("clone log file handle");
        fmt::layer().with_ansi(false).with_writer(Mutex::new(file))
    });
    let stderr_layer = (!quiet).then(|| fmt::layer().with_writer(std::io::stderr));
    let installed = Registry::default().with(filter).with(file_layer).with(stderr_layer).try_init().is_ok();

    Ok(Logging {
        log_file: log_file.map(|(path, _)| path).or(if quiet { None } else { external }),
        base,
        handle: installed.then_some(handle),
        verbosity: Mutex::new(0),
        generation: Default::default(),
    })
}

/// Opens `<dir>/<program>.<host>.log.INFO.<stamp>.<pid>` and points the
/// `<program>.INFO` symlink at it, as glog names its files.
fn open_log_file(dir: &Path, program: &str) -> Result<(PathBuf, std::fs::File), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("Failed to create log directory '{}': {e}", dir.display()))?;
    let host = hostname();
    let stamp = chrono_like_stamp();
    let name = format!("{program}.{host}.log.INFO.{stamp}.{}", std::process::id());
    let path = dir.join(&name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("Failed to open log file '{}': {e}", path.display()))?;
    let link = dir.join(format!("{program}.INFO"));
    let _ = std::fs::remove_file(&link);
    let _ = std::os::unix::fs::symlink(&name, &link);
    Ok((path, file))
}

/// This host's name, as `gethostname(2)` gives it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `YYYYMMDD-HHMMSS` in UTC, as glog stamps file names.
fn chrono_like_stamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_and_bad_levels_are_refused() {
        assert_eq!(level_directive("warning").unwrap(), "warn");
        assert!(level_directive("DEBUG").unwrap_err().contains("not a valid logging level"));
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
    }

    #[test]
    fn log_dir_gets_a_glog_style_file_and_symlink() {
        let dir = std::env::temp_dir().join(format!("logging-test-{}", std::process::id()));
        let (path, _file) = open_log_file(&dir, "mesos-master").unwrap();
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("mesos-master."));
        let link = std::fs::read_link(dir.join("mesos-master.INFO")).unwrap();
        assert_eq!(dir.join(link), path);
        std::fs::remove_dir_all(dir).ok();
    }
}
