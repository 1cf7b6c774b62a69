//! The drivers' I/O: one libprocess instance per OS process, shared by every
//! driver in it (as Apache's `process::initialize` makes one), and the
//! pieces each driver's loop is built from.
//!
//! The instance lives on a tokio runtime of its own (two worker threads named
//! `libprocess`), so drivers work when called from threads that know nothing
//! of tokio (a JVM's). It binds where `LIBPROCESS_IP`/`LIBPROCESS_PORT` say and
//! advertises what `LIBPROCESS_ADVERTISE_*` say, once, at the first driver's
//! start, or earlier through [`initialize`]. Besides the drivers' processes it
//! serves `GET /version`, as Apache's drivers do.
//!
//! Each driver runs its state machine on a dedicated OS thread that takes its
//! inputs (messages, detections, timers, calls) from one channel, in order,
//! and invokes the framework's callbacks there, one at a time.

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::v0_compat::{Config, Event, Node, Process};

/// The Mesos version the drivers report (`MESOS_VERSION`).
pub const VERSION: &str = "1.11.0";

/// Why the drivers' libprocess instance could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibprocessError {
    #[error("Failed to initialize libprocess: {0}")]
    Init(String),
}

/// The process-wide libprocess instance.
pub(crate) struct Libprocess {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) node: Node,
}

static CONFIG: Mutex<Option<Config>> = Mutex::new(None);
static LIBPROCESS: OnceLock<Result<Libprocess, LibprocessError>> = OnceLock::new();

/// Sets up the drivers' libprocess instance with `config` instead of the
/// `LIBPROCESS_*` environment, and returns its advertised address. Only the
/// first initialization counts (as with libprocess): later calls, and drivers
/// started later, share the instance already made.
pub fn initialize(config: Config) -> Result<SocketAddr, LibprocessError> {
    *lock(&CONFIG) = Some(config);
    libprocess().map(|l| l.node.address())
}

/// The advertised address of the drivers' libprocess instance, starting it
/// from the `LIBPROCESS_*` environment if need be.
pub fn address() -> Result<SocketAddr, LibprocessError> {
    libprocess().map(|l| l.node.address())
}

pub(crate) fn libprocess() -> Result<&'static Libprocess, LibprocessError> {
    LIBPROCESS.get_or_init(start).as_ref().map_err(Clone::clone)
}

fn start() -> Result<Libprocess, LibprocessError> {
    let init = |e: &dyn std::fmt::Display| LibprocessError::Init(e.to_string());
    let config = match lock(&CONFIG).clone() {
        Some(config) => config,
        None => Config::from_env().map_err(|e| init(&e))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("libprocess")
        .enable_all()
        .build()
        .map_err(|e| init(&e))?;
    // Bind with std so this works from inside another runtime too.
    let bind = config.bind_addr();
    let listener = std::net::TcpListener::bind(bind).map_err(|e| init(&format!("cannot bind {bind}: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| init(&e))?;
    let bound = listener.local_addr().map_err(|e| init(&e))?;
    let advertised = config.advertised(bound).map_err(|e| init(&e))?;
    let node = {
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| init(&e))?;
        let node = Node::new(advertised, config.options());
        let router = axum::Router::new().route("/version", axum::routing::get(version));
        runtime.spawn(crate::v0_compat::serve(listener, node.clone(), router, std::future::pending()));
        node
    };
    if advertised.ip().is_loopback() {
        tracing::warn!(
            "\n**************************************************\n\
             Scheduler driver bound to loopback interface! Cannot communicate with remote master(s). \
             You might want to set 'LIBPROCESS_IP' environment variable to use a routable IP address.\n\
             **************************************************"
        );
    }
    tracing::info!("libprocess is initialized on {advertised}");
    Ok(Libprocess { runtime, node })
}

async fn version() -> ([(http::header::HeaderName, &'static str); 1], String) {
    let body = serde_json::json!({ "version": VERSION }).to_string();
    ([(http::header::CONTENT_TYPE, "application/json")], body)
}

/// Apache's `Latch`: triggered once, awaited by any number of threads.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    triggered: Mutex<bool>,
    cond: Condvar,
}

impl Latch {
    pub(crate) fn trigger(&self) {
        *lock(&self.triggered) = true;
        self.cond.notify_all();
    }

    pub(crate) fn wait(&self) {
        let mut triggered = lock(&self.triggered);
        while !*triggered {
            triggered = self.cond.wait(triggered).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Locks a mutex, recovering from poisoning: no driver code panics while
/// holding one (callbacks run with no lock held).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The wall clock as Mesos timestamps it: seconds since the Unix epoch.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// Puts `input` into `inbox` after `after`, on the libprocess runtime.
pub(crate) fn set_timer<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    inbox: std::sync::mpsc::Sender<T>,
    after: Duration,
    input: T,
) {
    runtime.spawn(async move {
        tokio::time::sleep(after).await;
        let _ = inbox.send(input);
    });
}

/// Forwards `process`'s events, as `map` turns them into queue items, into
/// a driver's queue until the queue closes. The task owns the process:
/// aborting it ends the process and frees its id.
pub(crate) fn forward<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    mut process: Process,
    inbox: std::sync::mpsc::Sender<T>,
    map: impl Fn(Event) -> Option<T> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    runtime.spawn(async move {
        while let Some(event) = process.recv().await {
            match map(event) {
                Some(item) => {
                    if inbox.send(item).is_err() {
                        break;
                    }
                }
                None => tracing::trace!("Ignoring an event the driver does not act on"),
            }
        }
    })
}

/// Runs one framework callback (`who`, e.g. `Scheduler::registered`) on a
/// driver's thread: timed in the debug log as Apache's drivers do, and with
/// a panic caught, logged and answered by `abort` (as Apache's JNI layer
/// aborts the driver when a Java callback throws) instead of unwinding
/// further.
pub(crate) fn guarded(who: &str, callback: impl FnOnce(), abort: impl FnOnce()) {
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback));
    tracing::debug!("{who} took {:?}", started.elapsed());
    if let Err(panic) = outcome {
        tracing::error!("{who} panicked: {}; aborting the driver", panic_text(&*panic));
        abort();
    }
}

/// The text of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn latch_releases_every_waiter_once_triggered() {
        let latch = Arc::new(Latch::default());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let latch = latch.clone();
                std::thread::spawn(move || latch.wait())
            })
            .collect();
        latch.trigger();
        for w in waiters {
            w.join().unwrap();
        }
        latch.wait(); // already triggered: returns at once
    }

    #[test]
    fn panic_texts() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_text(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_text(&*p), "static");
    }
}
