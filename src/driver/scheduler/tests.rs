//! The scheduler core against a scripted master: every message and callback
//! the driver produces, in each state (each test names the Apache handler
//! whose behaviour it pins).

use std::time::Duration;

use super::core::*;
use crate::common::authentication::{cram_md5, AuthenticatorSession, Credentials};
use crate::driver::detector::{master_info_from_upid, Leader};
use crate::driver::flags::SchedulerFlags;
use crate::proto::mesos::internal as mi;
use crate::proto::mesos::scheduler::{call, event, Call as SCall, Event as SEvent, OfferConstraints};
use crate::proto::mesos::{
    framework_info, offer, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo, Offer, OfferId, SlaveId,
    TaskId, TaskInfo, TaskState, TaskStatus,
};
use crate::v0_compat::{Message, Upid};

const NOW: f64 = 1_700_000_000.0;

fn upid(s: &str) -> Upid {
    s.parse().unwrap()
}

fn me() -> Upid {
    upid("scheduler-1@127.0.0.1:4000")
}

fn leader(pid: &str) -> Leader {
    let pid = upid(pid);
    let info = crate::proto::mesos::MasterInfo { id: format!("{pid}-id"), ..master_info_from_upid(&pid) };
    Leader { info, pid }
}

fn master() -> Leader {
    leader("master@127.0.0.1:5050")
}

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "fw".into(),
        roles: vec!["a".into(), "b".into()],
        hostname: Some("h".into()),
        ..Default::default()
    }
}

fn fid() -> FrameworkId {
    FrameworkId { value: "F1".into() }
}

fn config(framework: FrameworkInfo) -> Config {
    Config {
        pid: me(),
        framework,
        suppressed_roles: Vec::new(),
        credential: None,
        implicit_acknowledgements: true,
        flags: SchedulerFlags::default(),
        seed: 1,
    }
}

fn msg(from: &Leader, m: impl Into<Message>) -> Input {
    Input::Message { from: from.pid.clone(), message: m.into() }
}

/// The calls sent to `to`, decoded.
fn calls_to(effects: &[Effect], to: &Upid) -> Vec<SCall> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to: t, message: Message::SchedulerCall(c) } if t == to => Some((**c).clone()),
            Effect::SendIfRunning { to: t, message: Message::SchedulerCall(c) } if t == to => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

fn call_type(c: &SCall) -> call::Type {
    call::Type::try_from(c.r#type.unwrap()).unwrap()
}

fn callbacks(effects: &[Effect]) -> Vec<Callback> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Callback(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn registration_timer(effects: &[Effect]) -> Option<(Timer, Duration)> {
    effects.iter().find_map(|e| match e {
        Effect::SetTimer { timer: t @ Timer::Registration { .. }, after } => Some((t.clone(), *after)),
        _ => None,
    })
}

fn registered_message() -> mi::FrameworkRegisteredMessage {
    mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: master().info }
}

/// A core registered with [`master`] as framework `F1`.
fn registered(implicit: bool) -> SchedulerCore {
    let mut core = SchedulerCore::new(Config { implicit_acknowledgements: implicit, ..config(framework()) });
    core.handle(NOW, Input::Detected(Some(master())));
    let effects = core.handle(NOW, msg(&master(), registered_message()));
    assert!(matches!(callbacks(&effects)[..], [Callback::Registered { .. }]));
    assert!(core.is_connected());
    core
}

fn offer_with(id: &str, slave: &str) -> Offer {
    Offer {
        id: OfferId { value: id.into() },
        framework_id: fid(),
        slave_id: SlaveId { value: slave.into() },
        hostname: "agent".into(),
        ..Default::default()
    }
}

fn offers_message(offers: &[(&str, &str, &str)]) -> mi::ResourceOffersMessage {
    mi::ResourceOffersMessage {
        offers: offers.iter().map(|(o, s, _)| offer_with(o, s)).collect(),
        pids: offers.iter().map(|(_, _, p)| p.to_string()).collect(),
    }
}

fn task(id: &str, slave: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: slave.into() },
        ..Default::default()
    }
}

fn update(task: &str, uuid: Option<&[u8]>, pid: Option<&str>) -> mi::StatusUpdateMessage {
    let status = TaskStatus {
        task_id: TaskId { value: task.into() },
        state: TaskState::TaskRunning as i32,
        slave_id: Some(SlaveId { value: "S1".into() }),
        uuid: uuid.map(<[u8]>::to_vec),
        ..Default::default()
    };
    mi::StatusUpdateMessage {
        update: mi::StatusUpdate {
            framework_id: fid(),
            executor_id: None,
            slave_id: Some(SlaveId { value: "S1".into() }),
            status,
            timestamp: NOW,
            uuid: uuid.map(<[u8]>::to_vec),
            latest_state: None,
        },
        pid: pid.map(str::to_string),
    }
}

// ---- detected / doReliableRegistration ----

#[test]
fn a_detected_master_is_linked_and_subscribed_to_at_once_then_with_backoff() {
    let mut core = SchedulerCore::new(config(framework()));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    assert_eq!(effects[0], Effect::Link(master().pid));
    let calls = calls_to(&effects, &master().pid);
    assert_eq!(calls.len(), 1);
    let subscribe = &calls[0];
    assert_eq!(call_type(subscribe), call::Type::Subscribe);
    // A new framework: no id, no force.
    assert_eq!(subscribe.framework_id, None);
    let s = subscribe.subscribe.as_ref().unwrap();
    assert_eq!(s.force, None);
    assert_eq!(s.framework_info, framework());
    assert_eq!(s.offer_constraints, Some(OfferConstraints::default()));

    // The first retry is within [0, 2secs]; each later one doubles the
    // ceiling, up to one minute.
    let (mut timer, after) = registration_timer(&effects).unwrap();
    assert!(after <= Duration::from_secs(2));
    let mut ceilings = Vec::new();
    for _ in 0..8 {
        let Timer::Registration { max_backoff, .. } = &timer else { unreachable!() };
        ceilings.push(max_backoff.as_secs());
        let effects = core.handle(NOW, Input::Timer(timer.clone()));
        assert_eq!(calls_to(&effects, &master().pid).len(), 1);
        let (next, after) = registration_timer(&effects).unwrap();
        assert!(after <= Duration::from_secs(60));
        timer = next;
    }
    assert_eq!(ceilings, vec![4, 8, 16, 32, 64, 120, 120, 120]);
}

#[test]
fn the_failover_timeout_bounds_the_backoff() {
    let fw = FrameworkInfo { failover_timeout: Some(10.0), ..framework() };
    let mut core = SchedulerCore::new(config(fw));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    let (Timer::Registration { max_backoff, .. }, after) = registration_timer(&effects).unwrap() else {
        unreachable!()
    };
    assert!(after <= Duration::from_secs(1));
    assert_eq!(max_backoff, Duration::from_secs(2));
}

#[test]
fn registered_from_the_leader_connects_and_stops_the_retries() {
    let mut core = SchedulerCore::new(config(framework()));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    let (timer, _) = registration_timer(&effects).unwrap();
    let effects = core.handle(NOW, msg(&master(), registered_message()));
    assert_eq!(callbacks(&effects), vec![Callback::Registered { framework_id: fid(), master_info: master().info }]);
    assert_eq!(core.framework().id, Some(fid()));
    // The pending retry finds the driver connected and does nothing.
    assert!(core.handle(NOW, Input::Timer(timer)).is_empty());
    // A duplicate registration is ignored.
    assert!(core.handle(NOW, msg(&master(), registered_message())).is_empty());
}

#[test]
fn registrations_from_anyone_but_the_leader_are_dropped() {
    let mut core = SchedulerCore::new(config(framework()));
    // Before any master is detected.
    assert!(core.handle(NOW, msg(&master(), registered_message())).is_empty());
    core.handle(NOW, Input::Detected(Some(master())));
    let impostor = leader("master@127.0.0.1:5051");
    assert!(core.handle(NOW, msg(&impostor, registered_message())).is_empty());
    assert!(!core.is_connected());
    let rereg = mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: impostor.info.clone() };
    assert!(core.handle(NOW, msg(&impostor, rereg)).is_empty());
}

#[test]
fn a_known_framework_id_fails_over_with_force_then_reregisters_without() {
    let fw = FrameworkInfo { id: Some(fid()), ..framework() };
    let mut core = SchedulerCore::new(config(fw));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    let subscribe = &calls_to(&effects, &master().pid)[0];
    assert_eq!(subscribe.framework_id, Some(fid()));
    assert_eq!(subscribe.subscribe.as_ref().unwrap().force, Some(true));
    let effects = core.handle(NOW, msg(&master(), registered_message()));
    assert!(matches!(callbacks(&effects)[..], [Callback::Registered { .. }]));

    // A new leader: disconnected, then a plain resubscription.
    let next = leader("master@127.0.0.1:5051");
    let effects = core.handle(NOW, Input::Detected(Some(next.clone())));
    assert_eq!(callbacks(&effects), vec![Callback::Disconnected]);
    let subscribe = &calls_to(&effects, &next.pid)[0];
    assert_eq!(subscribe.subscribe.as_ref().unwrap().force, Some(false));
    // The old master is no longer listened to.
    assert!(core.handle(NOW, msg(&master(), offers_message(&[("o", "S1", "slave(1)@127.0.0.1:5051")]))).is_empty());
    let rereg = mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: next.info.clone() };
    let effects = core.handle(NOW, msg(&next, rereg));
    assert_eq!(callbacks(&effects), vec![Callback::Reregistered { master_info: next.info.clone() }]);
}

#[test]
fn a_reregistration_for_another_framework_is_dropped() {
    let fw = FrameworkInfo { id: Some(fid()), ..framework() };
    let mut core = SchedulerCore::new(config(fw));
    core.handle(NOW, Input::Detected(Some(master())));
    let wrong = mi::FrameworkReregisteredMessage {
        framework_id: FrameworkId { value: "F2".into() },
        master_info: master().info,
    };
    assert!(core.handle(NOW, msg(&master(), wrong)).is_empty());
    assert!(!core.is_connected());
}

#[test]
fn losing_the_leader_disconnects_and_waits_for_the_next() {
    let mut core = registered(true);
    let effects = core.handle(NOW, Input::Detected(None));
    assert_eq!(effects, vec![Effect::Callback(Callback::Disconnected)]);
    assert!(core.master().is_none());
    // Calls while disconnected send nothing.
    for call in [
        Call::KillTask(TaskId { value: "t".into() }),
        Call::RequestResources(vec![]),
        Call::DeclineOffer { offer_id: OfferId { value: "o".into() }, filters: Filters::default() },
        Call::ReconcileTasks(vec![]),
        Call::SendFrameworkMessage {
            executor_id: ExecutorId { value: "e".into() },
            slave_id: SlaveId { value: "S".into() },
            data: vec![],
        },
    ] {
        assert!(core.handle(NOW, Input::Call(call.clone())).is_empty(), "{call:?}");
    }
    // The same master again: a resubscription (Apache's "failed over to the same master").
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    assert!(callbacks(&effects).is_empty());
    assert_eq!(call_type(&calls_to(&effects, &master().pid)[0]), call::Type::Subscribe);
}

#[test]
fn a_stale_registration_timer_is_ignored_after_a_new_detection() {
    let mut core = SchedulerCore::new(config(framework()));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    let (stale, _) = registration_timer(&effects).unwrap();
    core.handle(NOW, Input::Detected(Some(leader("master@127.0.0.1:5051"))));
    assert!(core.handle(NOW, Input::Timer(stale)).is_empty());
}

// ---- offers and accept ----

#[test]
fn offers_are_delivered_only_from_the_leader_while_connected() {
    let mut core = SchedulerCore::new(config(framework()));
    core.handle(NOW, Input::Detected(Some(master())));
    let offers = offers_message(&[("o1", "S1", "slave(1)@127.0.0.1:5051")]);
    assert!(core.handle(NOW, msg(&master(), offers.clone())).is_empty(), "not yet registered");
    core.handle(NOW, msg(&master(), registered_message()));
    assert!(core.handle(NOW, msg(&leader("master@127.0.0.1:5051"), offers.clone())).is_empty());
    let effects = core.handle(NOW, msg(&master(), offers.clone()));
    assert_eq!(callbacks(&effects), vec![Callback::ResourceOffers { offers: offers.offers.clone() }]);
    // Inverse offers alone arrive as an empty list: nothing to say.
    assert!(core.handle(NOW, msg(&master(), offers_message(&[]))).is_empty());
    // A message whose pids do not match its offers is dropped.
    let mut bad = offers.clone();
    bad.pids.clear();
    assert!(core.handle(NOW, msg(&master(), bad)).is_empty());
}

#[test]
fn launching_remembers_the_agent_for_direct_framework_messages() {
    let mut core = registered(true);
    core.handle(NOW, msg(&master(), offers_message(&[("o1", "S1", "slave(1)@127.0.0.1:5051")])));
    let effects = core.handle(
        NOW,
        Input::Call(Call::LaunchTasks {
            offer_ids: vec![OfferId { value: "o1".into() }],
            tasks: vec![task("t1", "S1")],
            filters: Filters { refuse_seconds: Some(5.0) },
        }),
    );
    let accept = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(accept), call::Type::Accept);
    assert_eq!(accept.framework_id, Some(fid()));
    let a = accept.accept.as_ref().unwrap();
    assert_eq!(a.offer_ids, vec![OfferId { value: "o1".into() }]);
    assert_eq!(a.filters, Some(Filters { refuse_seconds: Some(5.0) }));
    assert_eq!(a.operations.len(), 1);
    assert_eq!(a.operations[0].r#type, Some(offer::operation::Type::Launch as i32));
    assert_eq!(a.operations[0].launch.as_ref().unwrap().task_infos, vec![task("t1", "S1")]);

    // Framework messages to S1 now go straight to its agent...
    let data = b"hello".to_vec();
    let to_executor = Call::SendFrameworkMessage {
        executor_id: ExecutorId { value: "e".into() },
        slave_id: SlaveId { value: "S1".into() },
        data: data.clone(),
    };
    let effects = core.handle(NOW, Input::Call(to_executor.clone()));
    assert_eq!(
        effects,
        vec![Effect::Send {
            to: upid("slave(1)@127.0.0.1:5051"),
            message: mi::FrameworkToExecutorMessage {
                slave_id: SlaveId { value: "S1".into() },
                framework_id: fid(),
                executor_id: ExecutorId { value: "e".into() },
                data: data.clone(),
            }
            .into(),
        }]
    );
    // ...to an agent never launched on, through the master...
    let elsewhere = Call::SendFrameworkMessage {
        executor_id: ExecutorId { value: "e".into() },
        slave_id: SlaveId { value: "S9".into() },
        data: data.clone(),
    };
    let effects = core.handle(NOW, Input::Call(elsewhere));
    let m = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(m), call::Type::Message);
    assert_eq!(m.message.as_ref().unwrap().data, data);
    // ...and once S1 is lost, through the master too.
    let effects = core.handle(NOW, msg(&master(), mi::LostSlaveMessage { slave_id: SlaveId { value: "S1".into() } }));
    assert_eq!(callbacks(&effects), vec![Callback::SlaveLost { slave_id: SlaveId { value: "S1".into() } }]);
    let effects = core.handle(NOW, Input::Call(to_executor));
    assert_eq!(call_type(&calls_to(&effects, &master().pid)[0]), call::Type::Message);
}

#[test]
fn accepting_unknown_offers_still_goes_to_the_master_and_declines_forget_offers() {
    let mut core = registered(true);
    let effects = core.handle(
        NOW,
        Input::Call(Call::AcceptOffers {
            offer_ids: vec![OfferId { value: "nope".into() }],
            operations: vec![],
            filters: Filters::default(),
        }),
    );
    assert_eq!(calls_to(&effects, &master().pid)[0].accept.as_ref().unwrap().filters, Some(Filters::default()));

    core.handle(NOW, msg(&master(), offers_message(&[("o1", "S1", "slave(1)@127.0.0.1:5051")])));
    let effects = core.handle(
        NOW,
        Input::Call(Call::DeclineOffer { offer_id: OfferId { value: "o1".into() }, filters: Filters::default() }),
    );
    let d = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(d), call::Type::Decline);
    assert_eq!(d.decline.as_ref().unwrap().offer_ids, vec![OfferId { value: "o1".into() }]);
    // Launching on the declined offer no longer records S1's pid.
    core.handle(
        NOW,
        Input::Call(Call::LaunchTasks {
            offer_ids: vec![OfferId { value: "o1".into() }],
            tasks: vec![task("t", "S1")],
            filters: Filters::default(),
        }),
    );
    let effects = core.handle(
        NOW,
        Input::Call(Call::SendFrameworkMessage {
            executor_id: ExecutorId::default(),
            slave_id: SlaveId { value: "S1".into() },
            data: vec![],
        }),
    );
    assert_eq!(call_type(&calls_to(&effects, &master().pid)[0]), call::Type::Message);
}

#[test]
fn a_rescinded_offer_is_forgotten_and_reported() {
    let mut core = registered(true);
    core.handle(NOW, msg(&master(), offers_message(&[("o1", "S1", "slave(1)@127.0.0.1:5051")])));
    let effects =
        core.handle(NOW, msg(&master(), mi::RescindResourceOfferMessage { offer_id: OfferId { value: "o1".into() } }));
    assert_eq!(callbacks(&effects), vec![Callback::OfferRescinded { offer_id: OfferId { value: "o1".into() } }]);
    core.handle(
        NOW,
        Input::Call(Call::LaunchTasks {
            offer_ids: vec![OfferId { value: "o1".into() }],
            tasks: vec![task("t", "S1")],
            filters: Filters::default(),
        }),
    );
    let effects = core.handle(
        NOW,
        Input::Call(Call::SendFrameworkMessage {
            executor_id: ExecutorId::default(),
            slave_id: SlaveId { value: "S1".into() },
            data: vec![],
        }),
    );
    assert_eq!(call_type(&calls_to(&effects, &master().pid)[0]), call::Type::Message);
}

#[test]
fn launching_while_disconnected_reports_the_tasks_lost_or_dropped() {
    let mut core = SchedulerCore::new(config(framework()));
    let launch = Call::LaunchTasks {
        offer_ids: vec![OfferId { value: "o".into() }],
        tasks: vec![task("t1", "S1"), task("t2", "S1")],
        filters: Filters::default(),
    };
    let effects = core.handle(NOW, Input::Call(launch.clone()));
    let cbs = callbacks(&effects);
    assert_eq!(cbs.len(), 2);
    let Callback::StatusUpdate { status } = &cbs[0] else { panic!("{cbs:?}") };
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert_eq!(status.reason, Some(crate::proto::mesos::task_status::Reason::MasterDisconnected as i32));
    assert_eq!(status.source, Some(crate::proto::mesos::task_status::Source::Master as i32));
    assert_eq!(status.message.as_deref(), Some("Master disconnected"));
    assert_eq!(status.timestamp, Some(NOW));
    assert_eq!(status.uuid, None);
    // No acknowledgement for the driver's own updates, and nothing sent.
    assert_eq!(effects.len(), 2);

    let aware = FrameworkInfo {
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        }],
        ..framework()
    };
    let mut core = SchedulerCore::new(config(aware));
    let effects = core.handle(NOW, Input::Call(launch));
    let Callback::StatusUpdate { status } = &callbacks(&effects)[0] else { unreachable!() };
    assert_eq!(status.state, TaskState::TaskDropped as i32);
}

#[test]
fn operations_with_ids_abort_the_driver() {
    let mut core = registered(true);
    let op =
        offer::Operation { id: Some(crate::proto::mesos::OperationId { value: "x".into() }), ..Default::default() };
    let effects = core.handle(
        NOW,
        Input::Call(Call::AcceptOffers { offer_ids: vec![], operations: vec![op], filters: Filters::default() }),
    );
    assert_eq!(effects[0], Effect::AbortDriver);
    assert!(matches!(&effects[1], Effect::Callback(Callback::Error { message }) if message.contains("'id' field")));
}

// ---- status updates and acknowledgements ----

#[test]
fn implicit_acknowledgements_follow_the_callback_and_go_to_the_master() {
    let mut core = registered(true);
    let uuid = [7u8; 16];
    let effects = core.handle(NOW, msg(&master(), update("t1", Some(&uuid), Some("slave(1)@127.0.0.1:5051"))));
    let Effect::Callback(Callback::StatusUpdate { status }) = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(status.uuid, Some(uuid.to_vec()));
    let Effect::SendIfRunning { to, message: Message::SchedulerCall(ack) } = &effects[1] else { panic!("{effects:?}") };
    assert_eq!(to, &master().pid);
    assert_eq!(call_type(ack), call::Type::Acknowledge);
    let a = ack.acknowledge.as_ref().unwrap();
    assert_eq!((a.task_id.value.as_str(), a.slave_id.value.as_str(), a.uuid.as_slice()), ("t1", "S1", &uuid[..]));
    assert_eq!(effects.len(), 2);
}

#[test]
fn an_update_without_sender_pid_hides_its_uuid_but_is_still_acknowledged() {
    let mut core = registered(true);
    let uuid = [7u8; 16];
    let effects = core.handle(NOW, msg(&master(), update("t1", Some(&uuid), None)));
    let Effect::Callback(Callback::StatusUpdate { status }) = &effects[0] else { panic!() };
    assert_eq!(status.uuid, None);
    assert_eq!(calls_to(&effects, &master().pid).len(), 1);
    // No uuid at all (a master-made update): nothing to acknowledge.
    let effects = core.handle(NOW, msg(&master(), update("t2", None, None)));
    assert_eq!(effects.len(), 1);
}

#[test]
fn explicit_acknowledgements_are_the_schedulers() {
    let mut core = registered(false);
    let uuid = [9u8; 16];
    let effects = core.handle(NOW, msg(&master(), update("t1", Some(&uuid), Some("slave(1)@127.0.0.1:5051"))));
    assert_eq!(effects.len(), 1, "no implicit acknowledgement");
    let Effect::Callback(Callback::StatusUpdate { status }) = &effects[0] else { panic!() };
    let effects = core.handle(NOW, Input::Call(Call::AcknowledgeStatusUpdate(status.clone())));
    let ack = &calls_to(&effects, &master().pid)[0];
    assert_eq!(ack.acknowledge.as_ref().unwrap().uuid, uuid.to_vec());
    // A status without uuid or agent needs no acknowledgement.
    let effects =
        core.handle(NOW, Input::Call(Call::AcknowledgeStatusUpdate(TaskStatus { uuid: None, ..status.clone() })));
    assert!(effects.is_empty());
}

#[test]
fn explicit_acknowledgement_with_implicit_ones_on_aborts() {
    let mut core = registered(true);
    let effects = core.handle(NOW, Input::Call(Call::AcknowledgeStatusUpdate(TaskStatus::default())));
    assert_eq!(effects[0], Effect::AbortDriver);
    assert!(
        matches!(&effects[1], Effect::Callback(Callback::Error { message }) if message.contains("Implicit acknowledgements"))
    );
}

#[test]
fn updates_are_dropped_when_not_for_us_not_from_the_leader_or_disconnected() {
    let mut core = registered(true);
    let mut other = update("t1", Some(&[1; 16]), Some("slave(1)@127.0.0.1:5051"));
    other.update.framework_id = FrameworkId { value: "F2".into() };
    assert!(core.handle(NOW, msg(&master(), other)).is_empty());
    let u = update("t1", Some(&[1; 16]), Some("slave(1)@127.0.0.1:5051"));
    assert!(core.handle(NOW, msg(&leader("master@127.0.0.1:5051"), u.clone())).is_empty());
    core.handle(NOW, Input::Detected(None));
    assert!(core.handle(NOW, msg(&master(), u)).is_empty());
}

#[test]
fn duplicate_updates_are_delivered_again() {
    // Apache lets duplicates through rather than risk losing one.
    let mut core = registered(true);
    let u = update("t1", Some(&[1; 16]), Some("slave(1)@127.0.0.1:5051"));
    assert_eq!(callbacks(&core.handle(NOW, msg(&master(), u.clone()))).len(), 1);
    assert_eq!(callbacks(&core.handle(NOW, msg(&master(), u))).len(), 1);
}

// ---- other messages ----

#[test]
fn lost_executors_and_framework_messages() {
    let mut core = registered(true);
    let exited = mi::ExitedExecutorMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: fid(),
        executor_id: ExecutorId { value: "e".into() },
        status: 9,
    };
    let effects = core.handle(NOW, msg(&master(), exited));
    assert_eq!(
        callbacks(&effects),
        vec![Callback::ExecutorLost {
            executor_id: ExecutorId { value: "e".into() },
            slave_id: SlaveId { value: "S1".into() },
            status: 9
        }]
    );
    // Framework messages come from agents: no sender check.
    let agent = leader("slave(1)@127.0.0.1:5051");
    let data = mi::ExecutorToFrameworkMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: fid(),
        executor_id: ExecutorId { value: "e".into() },
        data: b"hi".to_vec(),
    };
    let effects = core.handle(NOW, msg(&agent, data));
    assert_eq!(
        callbacks(&effects),
        vec![Callback::FrameworkMessage {
            executor_id: ExecutorId { value: "e".into() },
            slave_id: SlaveId { value: "S1".into() },
            data: b"hi".to_vec()
        }]
    );
}

#[test]
fn an_error_aborts_first_and_later_messages_are_ignored() {
    let mut core = registered(true);
    let effects = core.handle(NOW, msg(&master(), mi::FrameworkErrorMessage { message: "bad".into() }));
    assert_eq!(effects, vec![Effect::AbortDriver, Effect::Callback(Callback::Error { message: "bad".into() })]);
    // The front end clears `running` and queues the abort: a deactivation.
    core.set_running(false);
    let offers = offers_message(&[("o1", "S1", "slave(1)@127.0.0.1:5051")]);
    assert!(core.handle(NOW, msg(&master(), offers)).is_empty());
    let effects = core.handle(NOW, Input::Call(Call::Abort));
    assert_eq!(
        effects,
        vec![
            Effect::Send { to: master().pid, message: mi::DeactivateFrameworkMessage { framework_id: fid() }.into() },
            Effect::Release
        ]
    );
    // A second error is not reported.
    assert!(core.handle(NOW, msg(&master(), mi::FrameworkErrorMessage { message: "again".into() })).is_empty());
}

#[test]
fn stop_tears_down_unless_failing_over_and_ends_the_process() {
    let mut core = registered(true);
    core.set_running(false);
    let effects = core.handle(NOW, Input::Call(Call::Stop { failover: false }));
    assert_eq!(effects[0], Effect::Terminate);
    let teardown = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(teardown), call::Type::Teardown);
    assert_eq!(teardown.framework_id, Some(fid()));
    assert_eq!(effects.last(), Some(&Effect::Release));
    assert!(core.is_terminated());
    assert!(core.handle(NOW, Input::Detected(Some(master()))).is_empty());

    let mut core = registered(true);
    core.set_running(false);
    let effects = core.handle(NOW, Input::Call(Call::Stop { failover: true }));
    assert_eq!(effects, vec![Effect::Terminate, Effect::Release]);

    // Never connected: nothing to tear down or deactivate.
    let mut core = SchedulerCore::new(config(framework()));
    core.set_running(false);
    assert_eq!(core.handle(NOW, Input::Call(Call::Abort)), vec![Effect::Release]);
    assert_eq!(core.handle(NOW, Input::Call(Call::Stop { failover: false })), vec![Effect::Terminate, Effect::Release]);
}

#[test]
fn calls_made_before_a_stop_are_still_sent() {
    // Apache processes dispatched calls even once `running` is cleared.
    let mut core = registered(true);
    core.set_running(false);
    let effects = core.handle(NOW, Input::Call(Call::KillTask(TaskId { value: "t".into() })));
    let kill = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(kill), call::Type::Kill);
    assert_eq!(kill.kill.as_ref().unwrap().task_id.value, "t");
}

#[test]
fn messages_are_ignored_once_not_running() {
    let mut core = SchedulerCore::new(config(framework()));
    core.set_running(false);
    assert!(core.handle(NOW, Input::Detected(Some(master()))).is_empty());
    let mut core = registered(true);
    core.set_running(false);
    assert!(core.handle(NOW, msg(&master(), update("t", Some(&[1; 16]), Some("slave(1)@127.0.0.1:5051")))).is_empty());
    assert!(core.handle(NOW, Input::Detected(None)).is_empty());
}

// ---- revive, suppress, reconcile, request, update_framework ----

#[test]
fn revive_and_suppress_while_connected() {
    let mut core = registered(true);
    let effects = core.handle(NOW, Input::Call(Call::SuppressOffers(vec![])));
    let s = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(s), call::Type::Suppress);
    assert_eq!(s.suppress, None);
    let effects = core.handle(NOW, Input::Call(Call::ReviveOffers(vec!["a".into()])));
    let r = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(r), call::Type::Revive);
    assert_eq!(r.revive.as_ref().unwrap().roles, vec!["a".to_string()]);
    let effects = core.handle(
        NOW,
        Input::Call(Call::ReconcileTasks(vec![TaskStatus {
            task_id: TaskId { value: "t".into() },
            slave_id: Some(SlaveId { value: "S1".into() }),
            ..Default::default()
        }])),
    );
    let rec = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(rec), call::Type::Reconcile);
    assert_eq!(rec.reconcile.as_ref().unwrap().tasks[0].slave_id, Some(SlaveId { value: "S1".into() }));
    let effects = core.handle(NOW, Input::Call(Call::RequestResources(vec![Default::default()])));
    assert_eq!(calls_to(&effects, &master().pid)[0].request.as_ref().unwrap().requests.len(), 1);
}

#[test]
fn suppression_while_disconnected_is_sent_as_update_framework_on_registration() {
    let mut core = SchedulerCore::new(config(framework()));
    assert!(core.handle(NOW, Input::Call(Call::SuppressOffers(vec![]))).is_empty());
    assert!(core.handle(NOW, Input::Call(Call::ReviveOffers(vec!["b".into()]))).is_empty());
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    // The subscription carries the suppressed roles...
    let subscribe = &calls_to(&effects, &master().pid)[0];
    assert_eq!(subscribe.subscribe.as_ref().unwrap().suppressed_roles, vec!["a".to_string()]);
    // ...and on registration an UPDATE_FRAMEWORK goes before the callback.
    let effects = core.handle(NOW, msg(&master(), registered_message()));
    let update = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(update), call::Type::UpdateFramework);
    assert_eq!(update.update_framework.as_ref().unwrap().suppressed_roles, vec!["a".to_string()]);
    assert!(matches!(effects.last(), Some(Effect::Callback(Callback::Registered { .. }))));
    // Only once.
    core.handle(NOW, Input::Detected(Some(leader("master@127.0.0.1:5051"))));
    let next = leader("master@127.0.0.1:5051");
    let rereg = mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: next.info.clone() };
    let effects = core.handle(NOW, msg(&next, rereg));
    assert!(calls_to(&effects, &next.pid).is_empty());
}

#[test]
fn update_framework_needs_a_registered_matching_id() {
    let mut core = SchedulerCore::new(config(framework()));
    let update = |fw: FrameworkInfo| {
        Input::Call(Call::UpdateFramework {
            framework: fw,
            suppressed_roles: Default::default(),
            offer_constraints: OfferConstraints::default(),
        })
    };
    let effects = core.handle(NOW, update(framework()));
    assert!(
        matches!(&effects[1], Effect::Callback(Callback::Error { message }) if message.contains("prior to registration"))
    );

    let mut core = registered(true);
    let wrong = FrameworkInfo { id: Some(FrameworkId { value: "F2".into() }), ..framework() };
    let effects = core.handle(NOW, update(wrong));
    assert!(
        matches!(&effects[1], Effect::Callback(Callback::Error { message }) if message.contains("(F2)") && message.contains("(F1)"))
    );

    let mut core = registered(true);
    let renamed = FrameworkInfo { id: Some(fid()), name: "renamed".into(), ..framework() };
    let effects = core.handle(NOW, update(renamed.clone()));
    let u = &calls_to(&effects, &master().pid)[0];
    assert_eq!(call_type(u), call::Type::UpdateFramework);
    assert_eq!(u.update_framework.as_ref().unwrap().framework_info, renamed);
    assert_eq!(core.framework().name, "renamed");
}

// ---- the v1 Event form over libprocess ----

#[test]
fn scheduler_events_are_understood_too() {
    let mut core = SchedulerCore::new(config(framework()));
    core.handle(NOW, Input::Detected(Some(master())));
    let subscribed = SEvent {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: fid(),
            heartbeat_interval_seconds: None,
            master_info: None,
        }),
        ..Default::default()
    };
    let effects = core.handle(NOW, msg(&master(), subscribed));
    // The MasterInfo is the detector's.
    assert_eq!(callbacks(&effects), vec![Callback::Registered { framework_id: fid(), master_info: master().info }]);

    let mut o = offer_with("o1", "S1");
    o.url = Some(crate::proto::mesos::Url {
        scheme: "http".into(),
        address: crate::proto::mesos::Address { hostname: None, ip: Some("127.0.0.1".into()), port: 5051 },
        path: Some("/slave(1)".into()),
        ..Default::default()
    });
    let offers = SEvent {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers: vec![o.clone()] }),
        ..Default::default()
    };
    assert_eq!(
        callbacks(&core.handle(NOW, msg(&master(), offers))),
        vec![Callback::ResourceOffers { offers: vec![o] }]
    );
    core.handle(
        NOW,
        Input::Call(Call::LaunchTasks {
            offer_ids: vec![OfferId { value: "o1".into() }],
            tasks: vec![task("t", "S1")],
            filters: Filters::default(),
        }),
    );
    let effects = core.handle(
        NOW,
        Input::Call(Call::SendFrameworkMessage {
            executor_id: ExecutorId::default(),
            slave_id: SlaveId { value: "S1".into() },
            data: vec![],
        }),
    );
    assert!(matches!(&effects[0], Effect::Send { to, .. } if to == &upid("slave(1)@127.0.0.1:5051")));

    let status = TaskStatus {
        task_id: TaskId { value: "t".into() },
        state: TaskState::TaskRunning as i32,
        uuid: Some(vec![3; 16]),
        slave_id: Some(SlaveId { value: "S1".into() }),
        ..Default::default()
    };
    let update = SEvent {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status: status.clone() }),
        ..Default::default()
    };
    let effects = core.handle(NOW, msg(&master(), update));
    assert_eq!(callbacks(&effects), vec![Callback::StatusUpdate { status: TaskStatus { uuid: None, ..status } }]);
    assert_eq!(calls_to(&effects, &master().pid)[0].acknowledge.as_ref().unwrap().uuid, vec![3; 16]);

    let heartbeat = SEvent { r#type: Some(event::Type::Heartbeat as i32), ..Default::default() };
    assert!(core.handle(NOW, msg(&master(), heartbeat)).is_empty());
    let malformed = SEvent { r#type: Some(event::Type::Offers as i32), ..Default::default() };
    assert!(core.handle(NOW, msg(&master(), malformed)).is_empty());
    let failure = SEvent {
        r#type: Some(event::Type::Failure as i32),
        failure: Some(event::Failure {
            slave_id: Some(SlaveId { value: "S1".into() }),
            executor_id: None,
            status: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        callbacks(&core.handle(NOW, msg(&master(), failure))),
        vec![Callback::SlaveLost { slave_id: SlaveId { value: "S1".into() } }]
    );
    let error = SEvent {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error { message: "no".into() }),
        ..Default::default()
    };
    assert_eq!(core.handle(NOW, msg(&master(), error))[0], Effect::AbortDriver);
}

// ---- authentication ----

fn authenticating_core(secret: Option<&str>) -> SchedulerCore {
    let credential = Credential { principal: "fw".into(), secret: secret.map(str::to_string) };
    SchedulerCore::new(Config { credential: Some(credential), ..config(framework()) })
}

/// Plays the master's side of one authentication attempt with our
/// authenticator; returns the core's effects after the last message.
fn authenticate(core: &mut SchedulerCore, effects: Vec<Effect>, known_secret: &str) -> Vec<Effect> {
    let attempt = effects
        .iter()
        .find_map(|e| match e {
            Effect::SpawnAuthenticatee { attempt } => Some(*attempt),
            _ => None,
        })
        .expect("an authentication attempt");
    let hello = effects.iter().find_map(|e| match e {
        Effect::SendAsAuthenticatee { to, message: Message::AuthenticateMessage(m), .. } if to == &master().pid => {
            Some(m.clone())
        }
        _ => None,
    });
    assert_eq!(hello.unwrap().pid, me().to_string());
    let creds = Credentials::from_list(&[Credential { principal: "fw".into(), secret: Some(known_secret.into()) }]);
    let session_pid = upid("crammd5-authenticator-session(1)@127.0.0.1:5050");
    let (mut session, mechanisms) = AuthenticatorSession::new(cram_md5::challenge(1, 2, "m"));
    let mut next: Message = mechanisms.into();
    loop {
        let effects =
            core.handle(NOW, Input::Authentication { attempt, from: session_pid.clone(), message: next.clone() });
        let reply = effects.iter().find_map(|e| match e {
            Effect::SendAsAuthenticatee { to, message, .. } if to == &session_pid => Some(message.clone()),
            _ => None,
        });
        let Some(reply) = reply else { return effects };
        match session.handle(&reply, &creds).send {
            Some(m) => next = m,
            None => return effects,
        }
    }
}

#[test]
fn with_a_credential_the_driver_authenticates_before_subscribing() {
    let mut core = authenticating_core(Some("pw"));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    assert!(calls_to(&effects, &master().pid).is_empty(), "no SUBSCRIBE before authentication");
    assert!(effects.iter().any(|e| matches!(e, Effect::SetTimer { timer: Timer::Authentication { .. }, after }
        if *after >= Duration::from_secs(5) && *after <= Duration::from_secs(7))));
    let effects = authenticate(&mut core, effects, "pw");
    assert!(effects.iter().any(|e| matches!(e, Effect::EndAuthenticatee { attempt: 1 })));
    assert_eq!(call_type(&calls_to(&effects, &master().pid)[0]), call::Type::Subscribe);
}

#[test]
fn a_refused_credential_aborts_the_driver() {
    let mut core = authenticating_core(Some("wrong"));
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    let effects = authenticate(&mut core, effects, "pw");
    assert!(effects.contains(&Effect::AbortDriver));
    assert!(callbacks(&effects).contains(&Callback::Error { message: "Master refused authentication".into() }));

    // No secret at all: refused without a word to the master.
    let mut core = authenticating_core(None);
    let effects = core.handle(NOW, Input::Detected(Some(master())));
    assert!(!effects.iter().any(|e| matches!(e, Effect::SendAsAuthenticatee { .. })));
    assert!(callbacks(&effects).contains(&Callback::Error { message: "Master refused authentication".into() }));
}

#[test]
fn a_timed_out_or_superseded_authentication_is_retried_with_a_wider_timeout() {
    let mut core = authenticating_core(Some("pw"));
    core.handle(NOW, Input::Detected(Some(master())));
    let effects = core.handle(NOW, Input::Timer(Timer::Authentication { attempt: 1 }));
    assert!(effects.contains(&Effect::EndAuthenticatee { attempt: 1 }));
    assert!(effects.contains(&Effect::SpawnAuthenticatee { attempt: 2 }));
    // The range grew from [5, 7] to [5, 9] seconds.
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::SetTimer { timer: Timer::Authentication { attempt: 2 }, after }
        if *after <= Duration::from_secs(9))));
    // A stale timer of attempt 1 is ignored.
    assert!(core.handle(NOW, Input::Timer(Timer::Authentication { attempt: 1 })).is_empty());
    // Messages to the old authenticatee too.
    let stale =
        Input::Authentication { attempt: 1, from: master().pid, message: mi::AuthenticationCompletedMessage {}.into() };
    assert!(core.handle(NOW, stale).is_empty());
    // A new master while authenticating: the attempt is discarded and redone.
    let next = leader("master@127.0.0.1:5051");
    let effects = core.handle(NOW, Input::Detected(Some(next.clone())));
    assert!(effects.contains(&Effect::EndAuthenticatee { attempt: 2 }));
    assert!(effects.iter().any(|e| matches!(e, Effect::SendAsAuthenticatee { attempt: 3, to, .. } if to == &next.pid)));
    // Errors from the authenticator are retried, not fatal.
    let error = Input::Authentication {
        attempt: 3,
        from: next.pid.clone(),
        message: mi::AuthenticationErrorMessage { error: Some("x".into()) }.into(),
    };
    let effects = core.handle(NOW, error);
    assert!(effects.contains(&Effect::SpawnAuthenticatee { attempt: 4 }));
    assert!(callbacks(&effects).is_empty());
}

#[test]
fn authentication_ending_after_the_master_is_lost_waits_for_a_new_one() {
    let mut core = authenticating_core(Some("pw"));
    core.handle(NOW, Input::Detected(Some(master())));
    core.handle(NOW, Input::Detected(None));
    let effects = core.handle(NOW, Input::Timer(Timer::Authentication { attempt: 1 }));
    assert_eq!(effects, vec![Effect::EndAuthenticatee { attempt: 1 }]);
}
