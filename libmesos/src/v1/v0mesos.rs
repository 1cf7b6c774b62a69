//! `org.apache.mesos.v1.scheduler.V0Mesos`: the v1 scheduler interface over
//! the v0 scheduler driver, with the behaviour of Apache's adapter
//! (`org_apache_mesos_v1_scheduler_V0Mesos.cpp`):
//!
//! - the driver is created (explicit acknowledgements) and started by the
//!   constructor; when it registers, the scheduler is told `connected`, and
//!   `SUBSCRIBED` (then a `HEARTBEAT`) are queued;
//! - events are queued until the scheduler sends `SUBSCRIBE`, then delivered
//!   in order; from then on a `HEARTBEAT` is injected every 15 s (the
//!   master's default interval), as a v1 master would send one;
//! - a disconnection drops the queue and tells the scheduler `disconnected`;
//! - an error before `SUBSCRIBE` connects the scheduler implicitly so the
//!   `ERROR` event can be delivered;
//! - calls map to driver calls (`ACCEPT` to `acceptOffers`, `DECLINE` to
//!   `declineOffer` per offer, `TEARDOWN` to `stop()`, ...); the calls a
//!   driver cannot make (inverse offers, `SHUTDOWN`, `UPDATE_FRAMEWORK`,
//!   operation feedback) are logged and dropped.
//!
//! All of it runs on one thread of the adapter's (the "actor"), fed by the
//! driver's callbacks and by `send`; it alone calls the Java scheduler.
//! Where Apache's adapter aborts the process when the Java scheduler throws,
//! ours aborts the driver and stops delivering.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jni::objects::JObject;
use jni::{jni_sig, jni_str, EnvUnowned};

use mesos_rs::driver::{Scheduler, SchedulerDriver};
use mesos_rs::proto::mesos::scheduler::{call, Call};
use mesos_rs::proto::mesos::v1::scheduler::{event, Event};
use mesos_rs::proto::mesos::{
    self, v1, Credential, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, SlaveId, TaskState,
    TaskStatus,
};

use super::{convert, master_and_credential, JavaMesos};
use crate::backend::{self, SchedulerConfig};
use crate::error::{native, Error};
use crate::export::export;
use crate::jvm;
use crate::protos::from_java;

const CLASS: &str = "org.apache.mesos.v1.scheduler.V0Mesos";

/// The master's default heartbeat interval (`DEFAULT_HEARTBEAT_INTERVAL`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// What the actor is told.
enum Input {
    Registered(FrameworkId, Box<MasterInfo>),
    Reregistered(Box<MasterInfo>),
    Disconnected,
    Event(Box<Event>),
    Error(String),
    Send(Box<Call>),
    Shutdown,
}

/// The v0 [`Scheduler`] the driver calls: every callback goes to the actor.
struct Forwarder {
    actor: Sender<Input>,
}

impl Forwarder {
    fn forward(&self, input: Input) {
        // The actor is gone only after the V0Mesos was finalized.
        let _ = self.actor.send(input);
    }

    fn event(&self, event: Event) {
        self.forward(Input::Event(Box::new(event)));
    }
}

fn typed(kind: event::Type) -> Event {
    Event { r#type: Some(kind as i32), ..Default::default() }
}

impl Scheduler for Forwarder {
    fn registered(&mut self, _: &dyn SchedulerDriver, framework_id: &FrameworkId, master_info: &MasterInfo) {
        self.forward(Input::Registered(framework_id.clone(), Box::new(master_info.clone())));
    }

    fn reregistered(&mut self, _: &dyn SchedulerDriver, master_info: &MasterInfo) {
        self.forward(Input::Reregistered(Box::new(master_info.clone())));
    }

    fn disconnected(&mut self, _: &dyn SchedulerDriver) {
        self.forward(Input::Disconnected);
    }

    fn resource_offers(&mut self, _: &dyn SchedulerDriver, offers: &[Offer]) {
        let mut e = typed(event::Type::Offers);
        e.offers = Some(event::Offers { offers: offers.iter().map(convert).collect() });
        self.event(e);
    }

    fn offer_rescinded(&mut self, _: &dyn SchedulerDriver, offer_id: &OfferId) {
        let mut e = typed(event::Type::Rescind);
        e.rescind = Some(event::Rescind { offer_id: convert(offer_id) });
        self.event(e);
    }

    fn status_update(&mut self, _: &dyn SchedulerDriver, status: &TaskStatus) {
        let mut e = typed(event::Type::Update);
        e.update = Some(event::Update { status: convert(status) });
        self.event(e);
    }

    fn framework_message(
        &mut self,
        _: &dyn SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    ) {
        let mut e = typed(event::Type::Message);
        e.message = Some(event::Message {
            agent_id: convert(slave_id),
            executor_id: convert(executor_id),
            data: data.to_vec(),
        });
        self.event(e);
    }

    fn slave_lost(&mut self, _: &dyn SchedulerDriver, slave_id: &SlaveId) {
        let mut e = typed(event::Type::Failure);
        e.failure = Some(event::Failure { agent_id: Some(convert(slave_id)), ..Default::default() });
        self.event(e);
    }

    fn executor_lost(&mut self, _: &dyn SchedulerDriver, executor_id: &ExecutorId, slave_id: &SlaveId, status: i32) {
        let mut e = typed(event::Type::Failure);
        e.failure = Some(event::Failure {
            agent_id: Some(convert(slave_id)),
            executor_id: Some(convert(executor_id)),
            status: Some(status),
        });
        self.event(e);
    }

    fn error(&mut self, _: &dyn SchedulerDriver, message: &str) {
        self.forward(Input::Error(message.to_string()));
    }
}

/// The adapter's state, owned by its thread.
struct Actor {
    java: JavaMesos,
    driver: Arc<dyn SchedulerDriver>,
    /// The scheduler has sent `SUBSCRIBE` (since the last disconnection).
    subscribed: bool,
    pending: VecDeque<Event>,
    framework_id: Option<FrameworkId>,
    next_heartbeat: Option<Instant>,
    /// The Java scheduler threw: nothing more is delivered.
    broken: bool,
}

impl Actor {
    fn run(mut self, inputs: Receiver<Input>) {
        loop {
            let input = match self.next_heartbeat {
                None => inputs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => inputs.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match input {
                Ok(Input::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {
                    self.next_heartbeat = Some(Instant::now() + HEARTBEAT_INTERVAL);
                    self.received(typed(event::Type::Heartbeat));
                }
            }
        }
        tracing::debug!("V0Mesos adapter stops");
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Registered(framework_id, master_info) => self.registered(framework_id, *master_info),
            Input::Reregistered(master_info) => match self.framework_id.clone() {
                Some(framework_id) => self.registered(framework_id, *master_info),
                None => tracing::warn!("V0Mesos: reregistered before registered"),
            },
            Input::Disconnected => {
                tracing::info!(
                    "V0Mesos: dropping {} pending event(s): disconnected from the master",
                    self.pending.len()
                );
                self.pending.clear();
                self.subscribed = false;
                self.next_heartbeat = None;
                self.deliver(|java| java.disconnected());
            }
            Input::Event(event) => self.received(*event),
            Input::Error(message) => {
                if !self.subscribed {
                    // The v1 contract: events come only after `connected`.
                    self.deliver(|java| java.connected());
                }
                let mut e = typed(event::Type::Error);
                e.error = Some(event::Error { message });
                self.received(e);
            }
            Input::Send(call) => self.send(*call),
            Input::Shutdown => {}
        }
    }

    fn registered(&mut self, framework_id: FrameworkId, master_info: MasterInfo) {
        self.deliver(|java| java.connected());
        let mut subscribed = typed(event::Type::Subscribed);
        subscribed.subscribed = Some(event::Subscribed {
            framework_id: convert(&framework_id),
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
            master_info: Some(convert(&master_info)),
        });
        self.framework_id = Some(framework_id);
        self.received(subscribed);
        self.received(typed(event::Type::Heartbeat));
    }

    /// Queues `event`, delivering the queue if the scheduler has subscribed.
    fn received(&mut self, event: Event) {
        self.pending.push_back(event);
        if self.subscribed {
            self.flush();
        }
    }

    fn flush(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            self.deliver(|java| java.received(&event));
        }
    }

    fn deliver(&mut self, call: impl FnOnce(&JavaMesos) -> crate::bridge::Delivery) {
        if self.broken {
            return;
        }
        if call(&self.java).aborts() {
            tracing::error!("the V0Mesos scheduler threw: aborting the driver, no more events");
            self.broken = true;
            self.driver.abort();
        }
    }

    fn send(&mut self, call: Call) {
        if apply(&*self.driver, call) == Applied::Subscribe {
            // The driver subscribed by itself; this releases what it got.
            self.subscribed = true;
            self.next_heartbeat = Some(Instant::now() + HEARTBEAT_INTERVAL);
            self.flush();
        }
    }
}

/// What [`apply`] did with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// `SUBSCRIBE`: nothing for the driver (it subscribed by itself).
    Subscribe,
    /// Handed to the driver.
    Called,
    /// Logged and dropped.
    Dropped,
}

/// Carries out a v1 call (already devolved) on the v0 driver, as Apache's
/// adapter does.
fn apply(driver: &dyn SchedulerDriver, call: Call) -> Applied {
    let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok()).unwrap_or(call::Type::Unknown);
    let dropped = |why: &str| {
        tracing::warn!("V0Mesos: dropping {}: {why}", kind.as_str_name());
        Applied::Dropped
    };
    match kind {
        call::Type::Subscribe => return Applied::Subscribe,
        call::Type::Teardown => {
            driver.stop(false);
        }
        call::Type::Accept => match call.accept {
            Some(accept) => {
                driver.accept_offers(&accept.offer_ids, &accept.operations, accept.filters.as_ref());
            }
            None => return dropped("no 'accept'"),
        },
        call::Type::Decline => match call.decline {
            Some(decline) => {
                for offer_id in &decline.offer_ids {
                    driver.decline_offer(offer_id, decline.filters.as_ref());
                }
            }
            None => return dropped("no 'decline'"),
        },
        call::Type::Revive => {
            driver.revive_offers(&call.revive.map(|r| r.roles).unwrap_or_default());
        }
        call::Type::Suppress => {
            driver.suppress_offers(&call.suppress.map(|s| s.roles).unwrap_or_default());
        }
        call::Type::Kill => match call.kill {
            Some(kill) => {
                driver.kill_task(&kill.task_id);
            }
            None => return dropped("no 'kill'"),
        },
        call::Type::Acknowledge => match call.acknowledge {
            Some(ack) => {
                // The driver acknowledges with the task, agent and uuid alone.
                let status = TaskStatus {
                    task_id: ack.task_id,
                    slave_id: Some(ack.slave_id),
                    uuid: Some(ack.uuid),
                    state: TaskState::TaskRunning as i32,
                    ..Default::default()
                };
                driver.acknowledge_status_update(&status);
            }
            None => return dropped("no 'acknowledge'"),
        },
        call::Type::Reconcile => {
            let statuses: Vec<TaskStatus> = call
                .reconcile
                .map(|r| r.tasks)
                .unwrap_or_default()
                .into_iter()
                .map(|task| TaskStatus {
                    task_id: task.task_id,
                    slave_id: task.slave_id,
                    state: TaskState::TaskStaging as i32,
                    ..Default::default()
                })
                .collect();
            driver.reconcile_tasks(&statuses);
        }
        call::Type::Message => match call.message {
            Some(message) => {
                driver.send_framework_message(&message.executor_id, &message.slave_id, &message.data);
            }
            None => return dropped("no 'message'"),
        },
        call::Type::Request => {
            driver.request_resources(&call.request.map(|r| r.requests).unwrap_or_default());
        }
        call::Type::AcknowledgeOperationStatus | call::Type::ReconcileOperations => {
            return dropped("operation feedback is not supported by the driver");
        }
        call::Type::AcceptInverseOffers
        | call::Type::DeclineInverseOffers
        | call::Type::Shutdown
        | call::Type::UpdateFramework => {
            tracing::error!("V0Mesos: received an unexpected {} call", kind.as_str_name());
            return Applied::Dropped;
        }
        call::Type::Unknown => {
            tracing::error!("V0Mesos: received an UNKNOWN call");
            return Applied::Dropped;
        }
    }
    Applied::Called
}

/// The `__mesos` handle.
struct Handle {
    actor: Mutex<Sender<Input>>,
}

impl Handle {
    fn tell(&self, input: Input) {
        let actor = self.actor.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = actor.send(input);
    }
}

fn initialize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "V0Mesos.initialize", |env| {
        let jframework =
            env.get_field(&this, jni_str!("framework"), jni_sig!("Lorg/apache/mesos/v1/Protos$FrameworkInfo;"))?.l()?;
        let framework: FrameworkInfo = convert(&from_java::<v1::FrameworkInfo>(env, &jframework, "framework")?);
        let (master, credential) = master_and_credential(env, &this)?;
        let credential: Option<Credential> = credential.as_ref().map(convert);
        let java = JavaMesos::new(env, &this)?;

        let (tx, rx) = mpsc::channel();
        let driver: Arc<dyn SchedulerDriver> = Arc::new(backend::scheduler_driver(
            Box::new(Forwarder { actor: tx.clone() }),
            SchedulerConfig {
                framework,
                suppressed_roles: Vec::new(),
                master,
                implicit_acknowledgements: false,
                credential,
            },
        ));
        let actor = Actor {
            java,
            driver: driver.clone(),
            subscribed: false,
            pending: VecDeque::new(),
            framework_id: None,
            next_heartbeat: None,
            broken: false,
        };
        std::thread::Builder::new()
            .name("V0Mesos".into())
            .spawn(move || actor.run(rx))
            .map_err(|e| Error::Driver(format!("cannot start the V0Mesos thread: {e}")))?;
        jvm::set_handle(env, &this, jni_str!("__mesos"), Arc::new(Handle { actor: Mutex::new(tx) }))?;
        let status = driver.start();
        if status != mesos::Status::DriverRunning {
            tracing::warn!("V0Mesos: the driver did not start ({})", status.as_str_name());
        }
        Ok(())
    })
}

fn finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "V0Mesos.finalize", |env| {
        if let Some(handle) = jvm::take_handle::<Handle>(env, &this, jni_str!("__mesos"))? {
            handle.tell(Input::Shutdown);
        }
        Ok(())
    })
}

fn send<'l>(env: EnvUnowned<'l>, this: JObject<'l>, jcall: JObject<'l>) {
    native(env, "V0Mesos.send", |env| {
        let call: v1::scheduler::Call = from_java(env, &jcall, "call")?;
        let call: Call = convert(&call);
        let handle: Arc<Handle> = jvm::handle(env, &this, CLASS, "__mesos")?;
        handle.tell(Input::Send(Box::new(call)));
        Ok(())
    })
}

type O<'l> = JObject<'l>;

export!(both "org.apache.mesos.v1.scheduler.V0Mesos" "initialize" "()V", initialize_s / initialize_l, () -> (),
    initialize);
export!(both "org.apache.mesos.v1.scheduler.V0Mesos" "finalize" "()V", finalize_s / finalize_l, () -> (), finalize);
export!(both "org.apache.mesos.v1.scheduler.V0Mesos" "send" "(Lorg/apache/mesos/v1/scheduler/Protos$Call;)V",
    send_s / send_l, (call: O<'local>) -> (), send);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use mesos_rs::proto::mesos::{offer, Filters, OfferId, Request, TaskId, TaskInfo};

    use super::*;

    /// A driver that records what it is asked.
    #[derive(Default)]
    struct Recording(Mutex<Vec<String>>);

    impl Recording {
        fn log(&self, what: String) -> mesos::Status {
            self.0.lock().unwrap().push(what);
            mesos::Status::DriverRunning
        }
        fn calls(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl SchedulerDriver for Recording {
        fn start(&self) -> mesos::Status {
            self.log("start".into())
        }
        fn stop(&self, failover: bool) -> mesos::Status {
            self.log(format!("stop {failover}"))
        }
        fn abort(&self) -> mesos::Status {
            self.log("abort".into())
        }
        fn join(&self) -> mesos::Status {
            self.log("join".into())
        }
        fn run(&self) -> mesos::Status {
            self.log("run".into())
        }
        fn request_resources(&self, requests: &[Request]) -> mesos::Status {
            self.log(format!("request {}", requests.len()))
        }
        fn launch_tasks(&self, offer_ids: &[OfferId], tasks: &[TaskInfo], _: Option<&Filters>) -> mesos::Status {
            self.log(format!("launch {} {}", offer_ids.len(), tasks.len()))
        }
        fn kill_task(&self, task_id: &TaskId) -> mesos::Status {
            self.log(format!("kill {}", task_id.value))
        }
        fn accept_offers(&self, offer_ids: &[OfferId], ops: &[offer::Operation], f: Option<&Filters>) -> mesos::Status {
            self.log(format!("accept {} {} {:?}", offer_ids[0].value, ops.len(), f.and_then(|f| f.refuse_seconds)))
        }
        fn decline_offer(&self, offer_id: &OfferId, _: Option<&Filters>) -> mesos::Status {
            self.log(format!("decline {}", offer_id.value))
        }
        fn revive_offers(&self, roles: &[String]) -> mesos::Status {
            self.log(format!("revive {roles:?}"))
        }
        fn suppress_offers(&self, roles: &[String]) -> mesos::Status {
            self.log(format!("suppress {roles:?}"))
        }
        fn acknowledge_status_update(&self, status: &TaskStatus) -> mesos::Status {
            self.log(format!("ack {} {:?}", status.task_id.value, status.uuid))
        }
        fn send_framework_message(&self, e: &ExecutorId, s: &SlaveId, data: &[u8]) -> mesos::Status {
            self.log(format!("message {} {} {}", e.value, s.value, String::from_utf8_lossy(data)))
        }
        fn reconcile_tasks(&self, statuses: &[TaskStatus]) -> mesos::Status {
            self.log(format!("reconcile {:?}", statuses.iter().map(|s| s.task_id.value.clone()).collect::<Vec<_>>()))
        }
        fn update_framework(
            &self,
            _: &FrameworkInfo,
            _: &[String],
            _: Option<&mesos::scheduler::OfferConstraints>,
        ) -> mesos::Status {
            self.log("update".into())
        }
    }

    fn id<T: Default + prost::Message>(value: &str) -> T {
        // Every Mesos ID message is `{ required string value = 1; }`.
        let mut bytes = vec![0x0a, value.len() as u8];
        bytes.extend_from_slice(value.as_bytes());
        T::decode(bytes.as_slice()).unwrap()
    }

    fn call(kind: call::Type) -> Call {
        Call { r#type: Some(kind as i32), framework_id: Some(id("fw")), ..Default::default() }
    }

    #[test]
    fn v1_calls_become_driver_calls_as_in_apaches_adapter() {
        let driver = Recording::default();
        assert_eq!(apply(&driver, call(call::Type::Subscribe)), Applied::Subscribe);

        let mut accept = call(call::Type::Accept);
        accept.accept = Some(call::Accept {
            offer_ids: vec![id("o1")],
            operations: vec![offer::Operation::default()],
            filters: Some(Filters { refuse_seconds: Some(5.0) }),
        });
        let mut decline = call(call::Type::Decline);
        decline.decline = Some(call::Decline { offer_ids: vec![id("o2"), id("o3")], filters: None });
        let mut ack = call(call::Type::Acknowledge);
        ack.acknowledge = Some(call::Acknowledge { slave_id: id("a1"), task_id: id("t1"), uuid: vec![7; 16] });
        let mut reconcile = call(call::Type::Reconcile);
        reconcile.reconcile =
            Some(call::Reconcile { tasks: vec![call::reconcile::Task { task_id: id("t1"), slave_id: None }] });
        let mut message = call(call::Type::Message);
        message.message = Some(call::Message { slave_id: id("a1"), executor_id: id("e1"), data: b"hi".to_vec() });
        let mut revive = call(call::Type::Revive);
        revive.revive = Some(call::Revive { roles: vec!["r".into()] });
        let mut kill = call(call::Type::Kill);
        kill.kill = Some(call::Kill { task_id: id("t2"), slave_id: None, kill_policy: None });

        for c in [
            accept,
            decline,
            ack,
            reconcile,
            message,
            revive,
            call(call::Type::Suppress),
            kill,
            call(call::Type::Teardown),
        ] {
            assert_eq!(apply(&driver, c), Applied::Called);
        }
        assert_eq!(
            driver.calls(),
            vec![
                "accept o1 1 Some(5.0)",
                "decline o2",
                "decline o3",
                "ack t1 Some([7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7])",
                "reconcile [\"t1\"]",
                "message e1 a1 hi",
                "revive [\"r\"]",
                "suppress []",
                "kill t2",
                "stop false",
            ]
        );
    }

    #[test]
    fn calls_the_driver_cannot_make_are_dropped() {
        let driver = Recording::default();
        for kind in [
            call::Type::AcceptInverseOffers,
            call::Type::Shutdown,
            call::Type::UpdateFramework,
            call::Type::AcknowledgeOperationStatus,
            call::Type::Unknown,
        ] {
            assert_eq!(apply(&driver, call(kind)), Applied::Dropped, "{kind:?}");
        }
        // A call missing its body is dropped too (Apache's validation).
        assert_eq!(apply(&driver, call(call::Type::Accept)), Applied::Dropped);
        assert!(driver.calls().is_empty());
    }

    #[test]
    fn driver_callbacks_become_v1_events() {
        let (tx, rx) = mpsc::channel();
        let mut forwarder = Forwarder { actor: tx };
        let driver = Recording::default();
        let offer = Offer {
            id: id("o1"),
            framework_id: id("fw"),
            slave_id: id("a1"),
            hostname: "h".into(),
            ..Default::default()
        };
        forwarder.resource_offers(&driver, &[offer]);
        forwarder.executor_lost(&driver, &id("e1"), &id("a1"), 3);
        forwarder.framework_message(&driver, &id("e1"), &id("a1"), b"data");
        let events: Vec<Event> = rx
            .try_iter()
            .map(|input| match input {
                Input::Event(event) => *event,
                _ => panic!("not an event"),
            })
            .collect();
        assert_eq!(events[0].r#type, Some(event::Type::Offers as i32));
        let offer = &events[0].offers.as_ref().unwrap().offers[0];
        assert_eq!(
            (offer.id.value.as_str(), offer.agent_id.value.as_str(), offer.hostname.as_str()),
            ("o1", "a1", "h")
        );
        let failure = events[1].failure.as_ref().unwrap();
        assert_eq!(
            (
                failure.agent_id.as_ref().unwrap().value.as_str(),
                failure.executor_id.as_ref().unwrap().value.as_str(),
                failure.status
            ),
            ("a1", "e1", Some(3))
        );
        let message = events[2].message.as_ref().unwrap();
        assert_eq!((message.agent_id.value.as_str(), message.data.as_slice()), ("a1", &b"data"[..]));
    }
}
