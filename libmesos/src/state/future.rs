//! The futures behind `AbstractState`'s Java futures: a result a background
//! task fills in, which Java threads wait for.
//!
//! Semantics follow Apache's glue over libprocess futures: `cancel` only asks
//! for a discard (and answers `false`); `isCancelled` is always `false`;
//! `isDone` is true once the result is in or a discard was asked for; `get`
//! waits, then returns the value, throws `ExecutionException` with the
//! failure, or `CancellationException` when the operation was discarded.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::error::Error;
use crate::runtime;

/// Where an operation stands.
#[derive(Debug)]
enum Outcome<T> {
    Pending,
    Ready(T),
    Failed(String),
    Discarded,
}

#[derive(Debug)]
struct Inner<T> {
    outcome: Outcome<T>,
    discard_requested: bool,
    abort: Option<AbortHandle>,
}

/// An operation running on libmesos's runtime, and its result.
#[derive(Debug)]
pub struct Promise<T> {
    inner: Mutex<Inner<T>>,
    done: Condvar,
}

/// Completes the promise as discarded if the task is dropped (aborted)
/// before it answered.
struct Completion<T> {
    promise: Arc<Promise<T>>,
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.promise.complete(Outcome::Discarded);
    }
}

impl<T: Send + 'static> Promise<T> {
    /// Starts `operation` and returns its promise.
    pub fn spawn<F>(operation: F) -> Result<Arc<Promise<T>>, Error>
    where
        F: Future<Output = Result<T, String>> + Send + 'static,
    {
        let promise = Arc::new(Promise {
            inner: Mutex::new(Inner { outcome: Outcome::Pending, discard_requested: false, abort: None }),
            done: Condvar::new(),
        });
        let completion = Completion { promise: promise.clone() };
        let task = runtime::get()?.spawn(async move {
            let outcome = match operation.await {
                Ok(value) => Outcome::Ready(value),
                Err(message) => Outcome::Failed(message),
            };
            completion.promise.complete(outcome);
        });
        promise.lock().abort = Some(task.abort_handle());
        Ok(promise)
    }
}

impl<T> Promise<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the outcome (the first one wins) and wakes the waiters.
    fn complete(&self, outcome: Outcome<T>) {
        let mut inner = self.lock();
        if matches!(inner.outcome, Outcome::Pending) {
            inner.outcome = outcome;
            inner.abort = None;
            self.done.notify_all();
        }
    }

    /// Asks for the operation to be discarded; never reports it cancelled.
    pub fn cancel(&self) -> bool {
        let mut inner = self.lock();
        if matches!(inner.outcome, Outcome::Pending) {
            inner.discard_requested = true;
            if let Some(abort) = inner.abort.take() {
                abort.abort();
            }
        }
        false
    }

    /// Apache's answer: never.
    pub fn is_cancelled(&self) -> bool {
        false
    }

    /// Done, or a discard was asked for.
    pub fn is_done(&self) -> bool {
        let inner = self.lock();
        !matches!(inner.outcome, Outcome::Pending) || inner.discard_requested
    }
}

impl<T: Clone> Promise<T> {
    /// Waits for the result (at most `timeout`, if given).
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.lock();
        while matches!(inner.outcome, Outcome::Pending) {
            inner = match deadline {
                None => self.done.wait(inner).unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    self.done.wait_timeout(inner, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0
                }
            };
        }
        match &inner.outcome {
            Outcome::Ready(value) => Ok(value.clone()),
            Outcome::Failed(message) => Err(Error::Execution(message.clone())),
            Outcome::Discarded => Err(Error::Cancelled),
            Outcome::Pending => unreachable!("left the wait loop while pending"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_value_is_returned_to_every_get() {
        let promise = Promise::spawn(async { Ok::<_, String>(7) }).unwrap();
        assert_eq!(promise.get(None).unwrap(), 7);
        assert_eq!(promise.get(Some(Duration::ZERO)).unwrap(), 7);
        assert!(promise.is_done());
        assert!(!promise.is_cancelled());
    }

    #[test]
    fn failure_is_an_execution_exception() {
        let promise = Promise::<u8>::spawn(async { Err("no node".to_string()) }).unwrap();
        assert!(matches!(promise.get(None), Err(Error::Execution(m)) if m == "no node"));
    }

    #[test]
    fn cancel_discards_a_pending_operation() {
        let promise = Promise::<u8>::spawn(futures::future::pending()).unwrap();
        assert!(matches!(promise.get(Some(Duration::from_millis(1))), Err(Error::Timeout)));
        assert!(!promise.is_done());
        assert!(!promise.cancel(), "Apache's cancel never reports success");
        assert!(promise.is_done(), "a requested discard counts as done");
        assert!(matches!(promise.get(None), Err(Error::Cancelled)));
        assert!(!promise.is_cancelled());
    }
}
