//! What the two drivers' front ends share: Apache's `status` and the other
//! per-driver state under one lock (its `synchronized (mutex)`), the queue
//! into the driver's thread, the latch `join` waits on, the framework's
//! callbacks object while the driver's thread does not hold it, and the
//! status rules of `start`, `stop`, `abort`, `join` and of every other call,
//! which are the same in `sched.cpp` and `exec.cpp`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};

use crate::proto::mesos::Status;
use crate::v0_compat::Upid;

use super::runtime::{lock, Latch};

/// What a driver's thread takes from its queue.
pub(crate) enum Envelope<I> {
    Input(I),
    /// The driver was dropped.
    Terminate,
}

/// The lock-protected part.
pub(crate) struct State<I, X> {
    pub(crate) status: Status,
    /// Set once started: Apache's `process != nullptr`.
    pub(crate) inbox: Option<mpsc::Sender<Envelope<I>>>,
    pub(crate) pid: Option<Upid>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) thread_id: Option<ThreadId>,
    /// What only one of the drivers keeps.
    pub(crate) extra: X,
}

impl<I, X> State<I, X> {
    /// Queues `input` for the driver's thread, if it was started.
    pub(crate) fn send(&self, input: I) {
        if let Some(inbox) = &self.inbox {
            let _ = inbox.send(Envelope::Input(input));
        }
    }

    /// Records the driver's thread and queue (at `start`).
    pub(crate) fn started(&mut self, inbox: mpsc::Sender<Envelope<I>>, pid: Upid, thread: JoinHandle<()>) {
        self.thread_id = Some(thread.thread().id());
        self.thread = Some(thread);
        self.inbox = Some(inbox);
        self.pid = Some(pid);
    }
}

/// One driver's front end; `T` is the framework's `Scheduler` or `Executor`.
pub(crate) struct Shell<I, X, T: ?Sized> {
    state: Mutex<State<I, X>>,
    /// Set when the driver is dropped: its thread stops at once.
    terminating: AtomicBool,
    latch: Latch,
    user: Mutex<Option<Box<T>>>,
}

impl<I, X, T: ?Sized> Shell<I, X, T> {
    pub(crate) fn new(extra: X, user: Box<T>) -> Self {
        Shell {
            state: Mutex::new(State {
                status: Status::DriverNotStarted,
                inbox: None,
                pid: None,
                thread: None,
                thread_id: None,
                extra,
            }),
            terminating: AtomicBool::new(false),
            latch: Latch::default(),
            user: Mutex::new(Some(user)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<I, X>> {
        lock(&self.state)
    }

    pub(crate) fn status(&self) -> Status {
        self.lock().status
    }

    pub(crate) fn pid(&self) -> Option<Upid> {
        self.lock().pid.clone()
    }

    /// Every call but the lifecycle ones: queued only while running; the
    /// status either way.
    pub(crate) fn dispatch(&self, input: impl FnOnce() -> I) -> Status {
        let state = self.lock();
        if state.status == Status::DriverRunning {
            state.send(input());
        }
        state.status
    }

    /// `start`: only from `DRIVER_NOT_STARTED`. `launch` sets the driver's
    /// thread up (see [`State::started`]); if it fails the driver is aborted
    /// and `report` gets the reason, outside the lock.
    pub(crate) fn start(
        &self,
        launch: impl FnOnce(&mut State<I, X>) -> Result<(), String>,
        report: impl FnOnce(&str),
    ) -> Status {
        let mut state = self.lock();
        if state.status != Status::DriverNotStarted {
            return state.status;
        }
        match launch(&mut state) {
            Ok(()) => {
                state.status = Status::DriverRunning;
                Status::DriverRunning
            }
            Err(message) => {
                state.status = Status::DriverAborted;
                drop(state);
                tracing::error!("{message}");
                report(&message);
                Status::DriverAborted
            }
        }
    }

    /// `stop`: from running or aborted. `before` runs first when the driver
    /// was started (e.g. clearing `running`); the answer is
    /// `DRIVER_ABORTED` for an aborted driver, which is stopped all the same.
    pub(crate) fn stop(&self, before: impl FnOnce(), input: I) -> Status {
        let mut state = self.lock();
        if state.status != Status::DriverRunning && state.status != Status::DriverAborted {
            tracing::debug!("Ignoring stop because the status of the driver is {}", state.status.as_str_name());
            return state.status;
        }
        if state.inbox.is_some() {
            before();
            state.send(input);
        }
        let aborted = state.status == Status::DriverAborted;
        state.status = Status::DriverStopped;
        if aborted {
            Status::DriverAborted
        } else {
            Status::DriverStopped
        }
    }

    /// `abort`: only from running; `before` runs first (clearing `running`,
    /// or setting `aborted`).
    pub(crate) fn abort(&self, before: impl FnOnce(), input: I) -> Status {
        let mut state = self.lock();
        if state.status != Status::DriverRunning {
            tracing::debug!("Ignoring abort because the status of the driver is {}", state.status.as_str_name());
            return state.status;
        }
        before();
        state.send(input);
        state.status = Status::DriverAborted;
        Status::DriverAborted
    }

    /// `join`: returns at once when `wait_in` says so (each driver has its
    /// rule), or when called on the driver's own thread (where waiting could
    /// only deadlock); otherwise waits for the driver's thread to release it.
    pub(crate) fn join(&self, wait_in: impl FnOnce(&State<I, X>) -> bool) -> Status {
        {
            let state = self.lock();
            if !wait_in(&state) {
                return state.status;
            }
            if state.thread_id == Some(std::thread::current().id()) {
                tracing::error!("join() called inside a driver callback would wait forever; returning");
                return state.status;
            }
        }
        self.latch.wait();
        self.status()
    }

    /// Wakes `join` (the driver's thread, once stop or abort is handled).
    pub(crate) fn release(&self) {
        self.latch.trigger();
    }

    /// The driver's thread: the next input, unless the driver is gone.
    pub(crate) fn next(&self, queue: &mpsc::Receiver<Envelope<I>>) -> Option<I> {
        match queue.recv() {
            Ok(Envelope::Input(input)) if !self.terminating.load(Ordering::SeqCst) => Some(input),
            _ => None,
        }
    }

    /// Takes the framework's object (for the driver's thread, or a callback
    /// made from a call).
    pub(crate) fn take_user(&self) -> Option<Box<T>> {
        lock(&self.user).take()
    }

    /// Gives it back.
    pub(crate) fn put_user(&self, user: Option<Box<T>>) {
        if user.is_some() {
            *lock(&self.user) = user;
        }
    }

    /// Drop: ends the driver's thread without a word to the master or agent
    /// (Apache's destructor terminates the process) and waits for it, unless
    /// dropped on that very thread.
    pub(crate) fn shutdown(&self, what: &str) {
        let (inbox, thread) = {
            let mut state = self.lock();
            (state.inbox.take(), state.thread.take())
        };
        if let Some(inbox) = inbox {
            self.terminating.store(true, Ordering::SeqCst);
            let _ = inbox.send(Envelope::Terminate);
        }
        if let Some(thread) = thread {
            if thread.thread().id() == std::thread::current().id() {
                tracing::warn!("{what} dropped inside its own callback; not waiting for its thread");
            } else {
                let _ = thread.join();
            }
        }
    }
}
