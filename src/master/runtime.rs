//! The master's I/O driver: a mechanical loop around the state machine.
//!
//! It reads the libprocess mailbox, registry completions, timers and HTTP
//! queries, feeds each to [`Master::handle`] as an [`Event`] with the
//! current time, and carries out the returned [`Effect`]s: sends and links
//! through the libprocess node, timers into a queue, registry operations to
//! the store thread. When every input queue is empty it delivers
//! [`Event::Idle`], which runs the batched allocation. It decides nothing.
//!
//! HTTP endpoints read the master through [`MasterHandle::query`]: a closure
//! run on the loop between events, so they see a consistent state. The
//! operator API's calls and SUBSCRIBE streams come in as
//! [`OperatorRequest`]s: the driver numbers them, hands them to the master
//! as [`Event::Operator`], and routes the master's operator effects (events
//! for the streams, answers to the calls) back to them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::proto::mesos::master::Event as OperatorEvent;
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::MasterInfo;
use crate::v0_compat::{Event as WireEvent, Message, Process, ProcessHandle};

use super::event::{Effect, Event, HttpAnswer, Now, SchedulerConn, Timer};
use super::operator::{OperatorCall, OperatorEffect, OperatorError};
use super::registry::RegistryOp;
use super::state::Master;
use super::store::{RegistryService, Store};

/// A read of the master's state, run on the driver's loop.
pub type Query = Box<dyn FnOnce(&Master, Now) + Send>;

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The master decided to abort, as Mesos would (`EXIT`/`LOG(FATAL)`).
    #[error("{0}")]
    Fatal(String),
    /// The libprocess node went away under the master.
    #[error("the libprocess node stopped")]
    NodeGone,
}

/// A cheap, cloneable way to read the running master and to hand it v1
/// scheduler calls.
#[derive(Clone)]
pub struct MasterHandle {
    queries: mpsc::Sender<Query>,
    http: mpsc::UnboundedSender<HttpInput>,
    operator: mpsc::UnboundedSender<OperatorRequest>,
}

/// An operator API request for the loop (see [`super::operator`]).
pub enum OperatorRequest {
    /// A call the master decides; answered once it is done (registry
    /// writes included).
    Call { call: OperatorCall, reply: oneshot::Sender<Result<(), OperatorError>> },
    /// SUBSCRIBE: `events` gets SUBSCRIBED, then every operator event; the
    /// reply carries the stream's number.
    Subscribe { events: mpsc::UnboundedSender<Arc<OperatorEvent>>, reply: oneshot::Sender<Result<u64, OperatorError>> },
    /// The subscriber behind stream `stream` went away.
    Closed { stream: u64 },
}

/// A v1 scheduler API request for the driver.
pub enum HttpInput {
    /// A parsed, validated call. A SUBSCRIBE brings the sending end of its
    /// stream; `stream_id` is then the stream's new `Mesos-Stream-Id`, else
    /// the request's header.
    Call {
        call: Box<Call>,
        stream_id: Option<String>,
        stream: Option<mpsc::UnboundedSender<Message>>,
        reply: oneshot::Sender<(HttpAnswer, u64)>,
    },
    /// The scheduler went away from stream `0`.
    Closed(u64),
}

impl MasterHandle {
    /// Runs `read` on the master's loop and returns its result; `None` if
    /// the master has stopped.
    pub async fn query<T, F>(&self, read: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Master, Now) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let query: Query = Box::new(move |master, now| {
            let _ = tx.send(read(master, now));
        });
        self.queries.send(query).await.ok()?;
        rx.await.ok()
    }

    /// Hands a v1 scheduler call to the master and waits for its answer.
    /// For SUBSCRIBE, `stream_id` is the new stream's id and the answer
    /// comes with the stream number and the receiving end of the
    /// framework's messages (used only if the answer is
    /// [`HttpAnswer::Stream`]). `None` if the master has stopped.
    pub async fn scheduler_call(
        &self,
        call: Call,
        stream_id: Option<String>,
    ) -> Option<(HttpAnswer, u64, mpsc::UnboundedReceiver<Message>)> {
        let subscribe = call.r#type() == crate::proto::mesos::scheduler::call::Type::Subscribe;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        let stream = subscribe.then_some(tx);
        self.http.send(HttpInput::Call { call: Box::new(call), stream_id, stream, reply }).ok()?;
        let (answer, request) = answer.await.ok()?;
        Some((answer, request, rx))
    }

    /// The scheduler hung up subscription stream `stream`.
    pub fn stream_closed(&self, stream: u64) {
        let _ = self.http.send(HttpInput::Closed(stream));
    }

    /// Runs an operator call on the master; `None` if it has stopped.
    pub async fn operator_call(&self, call: OperatorCall) -> Option<Result<(), OperatorError>> {
        let (reply, rx) = oneshot::channel();
        self.operator.send(OperatorRequest::Call { call, reply }).ok()?;
        rx.await.ok()
    }

    /// Subscribes to operator events: the stream's number and its events
    /// (SUBSCRIBED first); `None` if the master has stopped.
    pub async fn operator_subscribe(
        &self,
    ) -> Option<Result<(u64, mpsc::UnboundedReceiver<Arc<OperatorEvent>>), OperatorError>> {
        let (events, stream) = mpsc::unbounded_channel();
        let (reply, rx) = oneshot::channel();
        self.operator.send(OperatorRequest::Subscribe { events, reply }).ok()?;
        Some(rx.await.ok()?.map(|id| (id, stream)))
    }

    /// Tells the master an operator subscriber's stream is gone.
    pub fn operator_closed(&self, stream: u64) {
        let _ = self.operator.send(OperatorRequest::Closed { stream });
    }
}

/// The driver's ends of a [`MasterHandle`]'s channels.
pub struct Inbox {
    queries: mpsc::Receiver<Query>,
    http: mpsc::UnboundedReceiver<HttpInput>,
    operator: mpsc::UnboundedReceiver<OperatorRequest>,
}

impl Inbox {
    /// The next query (for drivers that serve queries only, e.g. tests).
    pub async fn recv(&mut self) -> Option<Query> {
        self.queries.recv().await
    }
}

/// A handle for HTTP endpoints and the receiving ends for the driver.
pub fn query_channel() -> (MasterHandle, Inbox) {
    let (tx, rx) = mpsc::channel(256);
    let (http_tx, http_rx) = mpsc::unbounded_channel();
    let (operator_tx, operator_rx) = mpsc::unbounded_channel();
    (
        MasterHandle { queries: tx, http: http_tx, operator: operator_tx },
        Inbox { queries: rx, http: http_rx, operator: operator_rx },
    )
}

enum StoreRequest {
    Recover(Box<MasterInfo>),
    Apply(u64, RegistryOp),
}

/// Runs the registrar on its own thread (file I/O and fsync must not stall
/// the loop), batching whatever queued up while it was writing.
fn spawn_store(store: Box<dyn Store>, events: mpsc::UnboundedSender<Event>) -> std::sync::mpsc::Sender<StoreRequest> {
    let (tx, rx) = std::sync::mpsc::channel::<StoreRequest>();
    std::thread::Builder::new()
        .name("registrar".into())
        .spawn(move || {
            let mut service = RegistryService::new(store);
            while let Ok(first) = rx.recv() {
                let mut batch = Vec::new();
                let mut request = Some(first);
                loop {
                    match request.take() {
                        Some(StoreRequest::Recover(info)) => {
                            let result = service.recover(&info).map(Box::new).map_err(|e| e.to_string());
                            let _ = events.send(Event::RegistryRecovered(result));
                        }
                        Some(StoreRequest::Apply(id, op)) => batch.push((id, op)),
                        None => break,
                    }
                    request = rx.try_recv().ok();
                }
                if !batch.is_empty() {
                    for (id, result) in service.apply(&batch) {
                        let _ = events.send(Event::RegistryApplied { id, result });
                    }
                }
            }
        })
        .expect("spawn the registrar thread");
    tx
}

struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    fn now(&self) -> Now {
        Now { monotonic: self.origin.elapsed(), unix: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() }
    }
}

struct Driver {
    master: Master,
    handle: ProcessHandle,
    clock: Clock,
    timers: BTreeMap<(Duration, u64), Timer>,
    timer_seq: u64,
    store: std::sync::mpsc::Sender<StoreRequest>,
    dirty: bool,
    /// Numbers v1 calls (and, for SUBSCRIBE, their streams).
    next_request: u64,
    /// v1 calls waiting for their [`Effect::HttpRespond`].
    pending: std::collections::HashMap<u64, oneshot::Sender<(HttpAnswer, u64)>>,
    /// Open v1 subscription streams.
    streams: std::collections::HashMap<u64, mpsc::UnboundedSender<Message>>,
    /// Streams found without a reader while carrying out effects.
    dead_streams: Vec<u64>,
    /// Operator event streams by number.
    subscribers: HashMap<u64, mpsc::UnboundedSender<Arc<OperatorEvent>>>,
    /// Operator calls waiting for their answer, by call id.
    replies: HashMap<u64, Reply>,
    /// Numbers for operator calls and streams.
    next_operator_id: u64,
    /// Operator streams found closed while sending; the master hears of it next.
    closed_streams: Vec<u64>,
}

enum Reply {
    Call(oneshot::Sender<Result<(), OperatorError>>),
    Subscribe(u64, oneshot::Sender<Result<u64, OperatorError>>),
}

impl Driver {
    fn handle(&mut self, event: Event) -> Result<(), RuntimeError> {
        let mut next = Some(event);
        while let Some(event) = next.take() {
            let now = self.clock.now();
            self.dirty = !matches!(event, Event::Idle);
            for effect in self.master.handle(now, event) {
                self.execute(effect)?;
            }
            // A stream whose reader is gone (e.g. the scheduler hung up
            // while its SUBSCRIBE was being handled, before the HTTP layer
            // could watch it) is a disconnection too.
            next = self.dead_streams.pop().map(|stream| Event::HttpClosed { stream });
        }
        while let Some(stream) = self.closed_streams.pop() {
            self.operator(OperatorRequest::Closed { stream })?;
        }
        Ok(())
    }

    /// Numbers an operator request and hands it to the master.
    fn operator(&mut self, request: OperatorRequest) -> Result<(), RuntimeError> {
        self.next_operator_id += 1;
        let id = self.next_operator_id;
        let call = match request {
            OperatorRequest::Call { call, reply } => {
                self.replies.insert(id, Reply::Call(reply));
                call
            }
            OperatorRequest::Subscribe { events, reply } => {
                self.subscribers.insert(id, events);
                self.replies.insert(id, Reply::Subscribe(id, reply));
                OperatorCall::Subscribe { stream: id }
            }
            OperatorRequest::Closed { stream } => {
                self.subscribers.remove(&stream);
                OperatorCall::Unsubscribe { stream }
            }
        };
        self.handle(Event::Operator { id, call })
    }

    fn execute_operator(&mut self, effect: OperatorEffect) {
        match effect {
            OperatorEffect::Event { stream: Some(stream), event } => {
                if let Some(tx) = self.subscribers.get(&stream) {
                    if tx.send(Arc::from(event)).is_err() {
                        self.subscribers.remove(&stream);
                        self.closed_streams.push(stream);
                    }
                }
            }
            OperatorEffect::Event { stream: None, event } => {
                let event: Arc<OperatorEvent> = Arc::from(event);
                let closed: Vec<u64> = self
                    .subscribers
                    .iter()
                    .filter(|(_, tx)| tx.send(event.clone()).is_err())
                    .map(|(id, _)| *id)
                    .collect();
                for stream in closed {
                    self.subscribers.remove(&stream);
                    self.closed_streams.push(stream);
                }
            }
            OperatorEffect::Done { id, result } => match self.replies.remove(&id) {
                Some(Reply::Call(reply)) => {
                    let _ = reply.send(result);
                }
                Some(Reply::Subscribe(stream, reply)) => {
                    if result.is_err() {
                        self.subscribers.remove(&stream);
                    }
                    let _ = reply.send(result.map(|()| stream));
                }
                None => {}
            },
        }
    }

    fn execute(&mut self, effect: Effect) -> Result<(), RuntimeError> {
        match effect {
            Effect::Send { to, message } | Effect::Scheduler { to: SchedulerConn::Pid(to), message } => {
                if let Err(e) = self.handle.send(&to, &message) {
                    tracing::warn!(to = %to, name = message.name(), error = %e, "message not sent");
                }
            }
            Effect::Scheduler { to: SchedulerConn::Http(stream), message } => match self.streams.get(&stream) {
                Some(sender) => {
                    if sender.send(message).is_err() {
                        self.streams.remove(&stream);
                        self.dead_streams.push(stream);
                    }
                }
                None => tracing::warn!(stream, name = message.name(), "no HTTP scheduler stream to send to"),
            },
            Effect::HttpRespond { request, answer } => {
                if answer != HttpAnswer::Stream {
                    self.streams.remove(&request);
                }
                if let Some(reply) = self.pending.remove(&request) {
                    let _ = reply.send((answer, request));
                }
            }
            Effect::CloseStream { stream } => {
                self.streams.remove(&stream);
            }
            Effect::Link(pid) => self.handle.link(&pid),
            Effect::Timer { at, timer } => {
                self.timer_seq += 1;
                self.timers.insert((at, self.timer_seq), timer);
            }
            Effect::RecoverRegistry { info } => {
                let _ = self.store.send(StoreRequest::Recover(info));
            }
            Effect::Registry { id, op } => {
                let _ = self.store.send(StoreRequest::Apply(id, op));
            }
            Effect::Operator(effect) => self.execute_operator(effect),
            Effect::Fatal(message) => return Err(RuntimeError::Fatal(message)),
        }
        Ok(())
    }

    fn http(&mut self, input: HttpInput) -> Result<(), RuntimeError> {
        match input {
            HttpInput::Call { call, stream_id, stream, reply } => {
                self.next_request += 1;
                let request = self.next_request;
                if let Some(sender) = stream {
                    self.streams.insert(request, sender);
                }
                self.pending.insert(request, reply);
                self.handle(Event::HttpCall { request, stream_id, call })?;
                // Every call gets an answer; a missing one is a bug.
                if let Some(reply) = self.pending.remove(&request) {
                    tracing::error!("No answer to v1 scheduler call {request}");
                    self.streams.remove(&request);
                    let _ = reply.send((HttpAnswer::Error { status: 500, message: "No answer".into() }, request));
                }
                Ok(())
            }
            HttpInput::Closed(stream) => {
                self.streams.remove(&stream);
                self.handle(Event::HttpClosed { stream })
            }
        }
    }

    fn due_timer(&mut self) -> Option<Timer> {
        let now = self.clock.now().monotonic;
        let (&key, _) = self.timers.first_key_value()?;
        if key.0 <= now {
            self.timers.remove(&key)
        } else {
            None
        }
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.timers.first_key_value().map(|(&(at, _), _)| self.clock.origin + at)
    }
}

/// Who leads, as an election reports it: `None` when no master is elected.
pub type Leadership = mpsc::Receiver<Option<MasterInfo>>;

/// Runs the master until `shutdown` completes or the master aborts.
/// `process` is the master's libprocess process (`master@ip:port`); the
/// caller serves the node. With `leadership` `None` the master is
/// standalone: the driver tells it it leads right away. Otherwise every
/// value received becomes [`Event::Detected`] (a ZooKeeper contender and
/// detector feed it); the channel closing is treated as losing the
/// election.
pub async fn run(
    master: Master,
    mut process: Process,
    store: Box<dyn Store>,
    inbox: Inbox,
    leadership: Option<Leadership>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let Inbox { mut queries, mut http, operator: mut operator_requests } = inbox;
    let (store_events_tx, mut store_events) = mpsc::unbounded_channel();
    let store = spawn_store(store, store_events_tx);
    let info = master.info().clone();
    let mut driver = Driver {
        master,
        handle: process.handle().clone(),
        clock: Clock { origin: tokio::time::Instant::now() },
        timers: BTreeMap::new(),
        timer_seq: 0,
        store,
        dirty: false,
        next_request: 0,
        pending: Default::default(),
        streams: Default::default(),
        dead_streams: Vec::new(),
        subscribers: HashMap::new(),
        replies: HashMap::new(),
        next_operator_id: 0,
        closed_streams: Vec::new(),
    };
    let mut leadership = leadership;
    if leadership.is_none() {
        driver.handle(Event::Detected(Some(info)))?;
    }
    tokio::pin!(shutdown);
    loop {
        // Everything ready now, then the timers due, then Idle.
        let mut budget = 1024;
        while budget > 0 {
            budget -= 1;
            if let Ok(event) = store_events.try_recv() {
                driver.handle(event)?;
                continue;
            }
            match process.recv().now_or_never() {
                Some(Some(event)) => {
                    wire_event(&mut driver, event)?;
                    continue;
                }
                Some(None) => return Err(RuntimeError::NodeGone),
                None => {}
            }
            if let Ok(query) = queries.try_recv() {
                query(&driver.master, driver.clock.now());
                continue;
            }
            if let Ok(input) = http.try_recv() {
                driver.http(input)?;
                continue;
            }
            if let Ok(request) = operator_requests.try_recv() {
                driver.operator(request)?;
                continue;
            }
            if let Some(channel) = &mut leadership {
                match channel.try_recv() {
                    Ok(leader) => {
                        driver.handle(Event::Detected(leader))?;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        leadership = None;
                        driver.handle(Event::Detected(None))?;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
            }
            break;
        }
        while let Some(timer) = driver.due_timer() {
            driver.handle(Event::Timer(timer))?;
        }
        if driver.dirty {
            driver.handle(Event::Idle)?;
        }
        if budget == 0 {
            continue;
        }
        let deadline = driver.next_deadline();
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            Some(event) = store_events.recv() => driver.handle(event)?,
            event = process.recv() => match event {
                Some(event) => wire_event(&mut driver, event)?,
                None => return Err(RuntimeError::NodeGone),
            },
            Some(query) = queries.recv() => query(&driver.master, driver.clock.now()),
            Some(input) = http.recv() => driver.http(input)?,
            Some(request) = operator_requests.recv() => driver.operator(request)?,
            leader = async {
                match &mut leadership {
                    Some(channel) => channel.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if leader.is_none() {
                    leadership = None;
                }
                driver.handle(Event::Detected(leader.flatten()))?;
            }
            _ = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
}

fn wire_event(driver: &mut Driver, event: WireEvent) -> Result<(), RuntimeError> {
    match event {
        WireEvent::Message { from, message } => driver.handle(Event::Message { from, message }),
        WireEvent::Exited(pid) => driver.handle(Event::Exited(pid)),
        WireEvent::Raw { .. } => Ok(()),
    }
}
