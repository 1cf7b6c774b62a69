//! The tokio runtime libmesos's own background work runs on (state storage,
//! the v1 scheduler HTTP client): created on first use, two worker threads,
//! living as long as the process.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::Error;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// A handle to the runtime.
pub fn get() -> Result<Handle, Error> {
    let runtime = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("libmesos-io")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start libmesos's I/O threads: {error}"))
    });
    match runtime {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(message) => Err(Error::Driver(message.clone())),
    }
}
