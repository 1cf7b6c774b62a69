//! The scheduler driver over the real wire, against fake masters and agents
//! played by the test: registration, offers, launches, acknowledgements,
//! direct framework messages, master failover (a restart on the same
//! address, then a second master), authentication, errors, and the status
//! every call returns in every state.

mod driver_support;

use std::collections::HashMap;

use driver_support::*;
use mesos_rs::common::authentication::{cram_md5, AuthenticatorSession, Credentials};
use mesos_rs::driver::detector::master_info_from_upid;
use mesos_rs::driver::{Detector, MesosSchedulerDriver, SchedulerDriver};
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::scheduler::call::Type as CallType;
use mesos_rs::proto::mesos::{
    Credential, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, SlaveId, Status, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_rs::v0_compat::{Message, Upid};

fn framework() -> FrameworkInfo {
    FrameworkInfo { user: "tester".into(), name: "driver-test".into(), ..Default::default() }
}

fn fid() -> FrameworkId {
    FrameworkId { value: "F1".into() }
}

fn info(pid: &Upid) -> MasterInfo {
    master_info_from_upid(pid)
}

fn offer(id: &str, slave: &str) -> Offer {
    Offer {
        id: OfferId { value: id.into() },
        framework_id: fid(),
        slave_id: SlaveId { value: slave.into() },
        hostname: "agent".into(),
        ..Default::default()
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

fn status_update(task: &str, state: TaskState, uuid: [u8; 16], agent: &Upid) -> mi::StatusUpdateMessage {
    let status = TaskStatus {
        task_id: TaskId { value: task.into() },
        state: state as i32,
        slave_id: Some(SlaveId { value: "S1".into() }),
        uuid: Some(uuid.to_vec()),
        ..Default::default()
    };
    mi::StatusUpdateMessage {
        update: mi::StatusUpdate {
            framework_id: fid(),
            executor_id: None,
            slave_id: Some(SlaveId { value: "S1".into() }),
            status,
            timestamp: 1.0,
            uuid: Some(uuid.to_vec()),
            latest_state: None,
        },
        pid: Some(agent.to_string()),
    }
}

/// Environment for drivers under test: quick registration retries.
fn env() -> HashMap<String, String> {
    [("MESOS_REGISTRATION_BACKOFF_FACTOR", "50ms"), ("MESOS_INITIALIZE_DRIVER_LOGGING", "false")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Registration, comparing MasterInfo without its random id.
fn expect_registered(rx: &std::sync::mpsc::Receiver<Seen>, master: &Upid) {
    match next(rx) {
        Seen::Registered(id, m) => {
            assert_eq!(id, fid());
            assert_eq!(m.pid.as_deref(), Some(master.to_string().as_str()));
        }
        other => panic!("expected registered, saw {other:?}"),
    }
}

#[test]
fn registers_launches_acknowledges_and_messages_over_the_wire() {
    init();
    let master_node = FakeNode::bind("127.0.0.1:0");
    let mut master = master_node.spawn("master");
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let mut agent = agent_node.spawn("slave(1)");

    let (scheduler, rx) = Recorder::new(|driver, seen| match seen {
        Seen::Offers(offers) => {
            let ids: Vec<OfferId> = offers.iter().map(|o| o.id.clone()).collect();
            assert_eq!(driver.launch_tasks(&ids, &[task("t1", "S1")], None), Status::DriverRunning);
        }
        Seen::Status(s) if s.state == TaskState::TaskRunning as i32 => {
            let executor = ExecutorId { value: "E1".into() };
            driver.send_framework_message(&executor, &SlaveId { value: "S1".into() }, b"ping");
        }
        _ => {}
    });
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), &master_node.addr().to_string())
        .environment(env())
        .build();
    assert_eq!(driver.status(), Status::DriverNotStarted);
    assert_eq!(driver.start(), Status::DriverRunning);
    let pid = driver.pid().unwrap();
    assert!(pid.id().starts_with("scheduler-"), "{pid}");

    let (from, subscribe) = master.recv_call(CallType::Subscribe);
    assert_eq!(from, pid);
    let s = subscribe.subscribe.unwrap();
    assert_eq!(s.framework_info.name, "driver-test");
    assert_eq!(s.framework_info.user, "tester");
    assert!(s.framework_info.hostname.is_some(), "the driver fills the hostname in");
    assert_eq!(subscribe.framework_id, None);

    master.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: info(&master.pid()) });
    expect_registered(&rx, &master.pid());

    master
        .send(&pid, mi::ResourceOffersMessage { offers: vec![offer("o1", "S1")], pids: vec![agent.pid().to_string()] });
    assert_eq!(next(&rx), Seen::Offers(vec![offer("o1", "S1")]));
    let (_, accept) = master.recv_call(CallType::Accept);
    assert_eq!(accept.framework_id, Some(fid()));
    let accept = accept.accept.unwrap();
    assert_eq!(accept.offer_ids, vec![OfferId { value: "o1".into() }]);
    assert_eq!(accept.operations[0].launch.as_ref().unwrap().task_infos, vec![task("t1", "S1")]);

    let uuid = *uuid::Uuid::new_v4().as_bytes();
    master.send(&pid, status_update("t1", TaskState::TaskRunning, uuid, &agent.pid()));
    match next(&rx) {
        Seen::Status(s) => assert_eq!(s.uuid, Some(uuid.to_vec())),
        other => panic!("{other:?}"),
    }
    // The implicit acknowledgement goes to the master.
    let (_, ack) = master.recv_call(CallType::Acknowledge);
    let ack = ack.acknowledge.unwrap();
    assert_eq!((ack.task_id.value.as_str(), ack.uuid.as_slice()), ("t1", &uuid[..]));

    // The framework message went straight to the agent the task runs on.
    let (from, message) = agent.recv_where(|m| match m {
        Message::FrameworkToExecutorMessage(f) => Some((**f).clone()),
        _ => None,
    });
    assert_eq!(from, pid);
    assert_eq!((message.executor_id.value.as_str(), message.data.as_slice()), ("E1", &b"ping"[..]));
    agent.send(
        &pid,
        mi::ExecutorToFrameworkMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: fid(),
            executor_id: ExecutorId { value: "E1".into() },
            data: b"pong".to_vec(),
        },
    );
    assert_eq!(
        next(&rx),
        Seen::FrameworkMessage(ExecutorId { value: "E1".into() }, SlaveId { value: "S1".into() }, b"pong".to_vec())
    );

    assert_eq!(driver.stop(false), Status::DriverStopped);
    let (_, teardown) = master.recv_call(CallType::Teardown);
    assert_eq!(teardown.framework_id, Some(fid()));
    assert_eq!(driver.join(), Status::DriverStopped);
    assert_eq!(driver.launch_tasks(&[], &[], None), Status::DriverStopped);
}

#[test]
fn master_failover_during_a_run_disconnects_then_reregisters() {
    init();
    let a_node = FakeNode::bind("127.0.0.1:0");
    let address = a_node.addr();
    let mut a = a_node.spawn("master");
    let a_info = info(&a.pid());
    let detector = Detector::standalone(Some(a_info.clone()));
    let (scheduler, rx) = Recorder::new(|driver, seen| {
        if let Seen::Offers(offers) = seen {
            driver.launch_tasks(&[offers[0].id.clone()], &[task("t1", "S1")], None);
        }
    });
    let fw = FrameworkInfo { failover_timeout: Some(3600.0), checkpoint: Some(true), ..framework() };
    let driver =
        MesosSchedulerDriver::builder(scheduler, fw, "unused").detector(detector.clone()).environment(env()).build();
    assert_eq!(driver.start(), Status::DriverRunning);
    let pid = driver.pid().unwrap();

    let (_, _) = a.recv_call(CallType::Subscribe);
    a.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: a_info.clone() });
    assert_eq!(next(&rx), Seen::Registered(fid(), a_info.clone()));
    a.send(
        &pid,
        mi::ResourceOffersMessage { offers: vec![offer("o1", "S1")], pids: vec!["slave(1)@127.0.0.1:1".into()] },
    );
    assert!(matches!(next(&rx), Seen::Offers(_)));
    a.recv_call(CallType::Accept);
    let agent: Upid = "slave(1)@127.0.0.1:1".parse().unwrap();
    a.send(&pid, status_update("t1", TaskState::TaskRunning, [1; 16], &agent));
    assert!(matches!(next(&rx), Seen::Status(s) if s.state == TaskState::TaskRunning as i32));
    a.recv_call(CallType::Acknowledge);

    // The master dies and comes back on the same address; the detector
    // reports the new incarnation.
    a_node.kill();
    let b_node = bind_retrying(address);
    let mut b = b_node.spawn("master");
    let b_info = info(&b.pid());
    assert_ne!(a_info.id, b_info.id);
    detector.appoint(Some(b_info.clone()));
    assert_eq!(next(&rx), Seen::Disconnected);
    let (from, subscribe) = b.recv_call(CallType::Subscribe);
    assert_eq!(from, pid);
    assert_eq!(subscribe.framework_id, Some(fid()));
    assert_eq!(subscribe.subscribe.as_ref().unwrap().force, Some(false));
    assert_eq!(subscribe.subscribe.unwrap().framework_info.id, Some(fid()));
    b.send(&pid, mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: b_info.clone() });
    assert_eq!(next(&rx), Seen::Reregistered(b_info.clone()));

    // The task kept its state: its next update arrives and is acknowledged
    // to the new master.
    b.send(&pid, status_update("t1", TaskState::TaskFinished, [2; 16], &agent));
    assert!(matches!(next(&rx), Seen::Status(s) if s.state == TaskState::TaskFinished as i32));
    let (_, ack) = b.recv_call(CallType::Acknowledge);
    assert_eq!(ack.acknowledge.unwrap().uuid, vec![2; 16]);

    // Then a second master elsewhere takes over; the old one is ignored.
    let c_node = FakeNode::bind("127.0.0.1:0");
    let mut c = c_node.spawn("master");
    let c_info = info(&c.pid());
    detector.appoint(Some(c_info.clone()));
    assert_eq!(next(&rx), Seen::Disconnected);
    c.recv_call(CallType::Subscribe);
    b.send(&pid, mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: b_info.clone() });
    c.send(&pid, mi::FrameworkReregisteredMessage { framework_id: fid(), master_info: c_info.clone() });
    assert_eq!(next(&rx), Seen::Reregistered(c_info.clone()));
    assert_eq!(driver.reconcile_tasks(&[]), Status::DriverRunning);
    c.recv_call(CallType::Reconcile);

    // Failing over: no TEARDOWN; the driver ends.
    assert_eq!(driver.stop(true), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
}

#[test]
fn every_call_returns_apaches_status_in_every_state() {
    init();
    let (scheduler, rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "unused")
        .detector(Detector::standalone(None))
        .environment(env())
        .build();
    let calls = |d: &MesosSchedulerDriver| -> Vec<Status> {
        let task_id = TaskId { value: "t".into() };
        vec![
            d.request_resources(&[]),
            d.launch_tasks(&[], &[], None),
            d.kill_task(&task_id),
            d.accept_offers(&[], &[], None),
            d.decline_offer(&OfferId { value: "o".into() }, None),
            d.revive_offers(&[]),
            d.suppress_offers(&[]),
            d.send_framework_message(&ExecutorId::default(), &SlaveId::default(), b""),
            d.reconcile_tasks(&[]),
            d.update_framework(&framework(), &[], None),
        ]
    };
    assert!(calls(&driver).iter().all(|s| *s == Status::DriverNotStarted));
    assert_eq!(driver.join(), Status::DriverNotStarted, "join before start returns at once");
    assert_eq!(driver.abort(), Status::DriverNotStarted);
    assert_eq!(driver.stop(false), Status::DriverNotStarted);

    assert_eq!(driver.start(), Status::DriverRunning);
    assert_eq!(driver.start(), Status::DriverRunning);
    assert!(calls(&driver).iter().all(|s| *s == Status::DriverRunning));
    assert_eq!(driver.revive_offers_for_roles(&[]), Status::DriverRunning);

    assert_eq!(driver.abort(), Status::DriverAborted);
    assert_eq!(driver.abort(), Status::DriverAborted);
    assert!(calls(&driver).iter().all(|s| *s == Status::DriverAborted));
    assert_eq!(driver.start(), Status::DriverAborted);
    assert_eq!(driver.join(), Status::DriverAborted);
    // Stopping an aborted driver says so, and leaves it stopped.
    assert_eq!(driver.stop(false), Status::DriverAborted);
    assert_eq!(driver.status(), Status::DriverStopped);
    assert_eq!(driver.stop(false), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
    assert_eq!(driver.abort(), Status::DriverStopped);
    assert!(calls(&driver).iter().all(|s| *s == Status::DriverStopped));
    drop(driver);
    // Nothing was ever registered, so no callback ran.
    assert!(rx.try_recv().is_err());

    // Running, then stopped: join returns once the stop is processed.
    let (scheduler, _rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "unused")
        .detector(Detector::standalone(None))
        .environment(env())
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);
    let joiner = std::thread::scope(|s| {
        let j = s.spawn(|| driver.join());
        assert_eq!(driver.stop(true), Status::DriverStopped);
        j.join().unwrap()
    });
    assert_eq!(joiner, Status::DriverStopped);
}

#[test]
fn a_bad_master_or_bad_flags_abort_with_an_error_callback() {
    init();
    let (scheduler, rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "nonsense").environment(env()).build();
    assert_eq!(driver.start(), Status::DriverAborted);
    assert_eq!(
        next(&rx),
        Seen::Error("Failed to create a master detector for 'nonsense': Failed to parse 'nonsense'".into())
    );
    assert_eq!(driver.join(), Status::DriverAborted);
    assert_eq!(driver.run(), Status::DriverAborted);

    let mut bad = env();
    bad.insert("MESOS_REGISTRATION_BACKOFF_FACTOR".into(), "often".into());
    let (scheduler, rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "127.0.0.1:5050").environment(bad).build();
    assert_eq!(driver.run(), Status::DriverAborted);
    assert!(matches!(next(&rx), Seen::Error(e) if e.contains("registration_backoff_factor")));

    // Logging flags are read by the constructor, as Apache's are.
    let mut bad = env();
    bad.insert("MESOS_QUIET".into(), "LOUD".into());
    let (scheduler, rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "127.0.0.1:5050").environment(bad).build();
    assert_eq!(driver.status(), Status::DriverAborted);
    assert!(matches!(next(&rx), Seen::Error(e) if e.contains("LOUD")));
}

#[test]
fn a_panicking_callback_aborts_the_driver_and_deactivates_the_framework() {
    init();
    let master_node = FakeNode::bind("127.0.0.1:0");
    let mut master = master_node.spawn("master");
    let (scheduler, _rx) = Recorder::new(|_, seen| {
        if matches!(seen, Seen::Registered(..)) {
            panic!("the scheduler fails");
        }
    });
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), &master_node.addr().to_string())
        .environment(env())
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);
    let (pid, _) = master.recv_call(CallType::Subscribe);
    master.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: info(&master.pid()) });
    let (_, deactivate) = master.recv_where(|m| match m {
        Message::DeactivateFrameworkMessage(d) => Some((**d).clone()),
        _ => None,
    });
    assert_eq!(deactivate.framework_id, fid());
    assert_eq!(driver.join(), Status::DriverAborted);
    assert_eq!(driver.stop(false), Status::DriverAborted);
}

#[test]
fn a_scheduler_that_aborts_in_status_update_sends_no_acknowledgement() {
    init();
    let master_node = FakeNode::bind("127.0.0.1:0");
    let mut master = master_node.spawn("master");
    let (scheduler, rx) = Recorder::new(|driver, seen| {
        if matches!(seen, Seen::Status(_)) {
            assert_eq!(driver.abort(), Status::DriverAborted);
        }
    });
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), &master_node.addr().to_string())
        .environment(env())
        .build();
    driver.start();
    let (pid, _) = master.recv_call(CallType::Subscribe);
    master.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: info(&master.pid()) });
    expect_registered(&rx, &master.pid());
    let agent: Upid = "slave(1)@127.0.0.1:1".parse().unwrap();
    master.send(&pid, status_update("t1", TaskState::TaskRunning, [5; 16], &agent));
    assert!(matches!(next(&rx), Seen::Status(_)));
    // The next thing the master hears is the deactivation, not an ACK.
    let (_, message) = recv_after_registration(&mut master);
    assert!(matches!(message, Message::DeactivateFrameworkMessage(_)), "{message:?}");
    assert_eq!(driver.join(), Status::DriverAborted);
}

#[test]
fn explicit_acknowledgements_and_framework_errors() {
    init();
    let master_node = FakeNode::bind("127.0.0.1:0");
    let mut master = master_node.spawn("master");
    let (scheduler, rx) = Recorder::new(|driver, seen| {
        if let Seen::Status(status) = seen {
            assert_eq!(driver.acknowledge_status_update(status), Status::DriverRunning);
        }
    });
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), &format!("master@{}", master_node.addr()))
        .implicit_acknowledgements(false)
        .environment(env())
        .build();
    driver.start();
    let (pid, _) = master.recv_call(CallType::Subscribe);
    master.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: info(&master.pid()) });
    expect_registered(&rx, &master.pid());
    let agent: Upid = "slave(1)@127.0.0.1:1".parse().unwrap();
    master.send(&pid, status_update("t1", TaskState::TaskRunning, [6; 16], &agent));
    assert!(matches!(next(&rx), Seen::Status(_)));
    let (_, ack) = master.recv_call(CallType::Acknowledge);
    assert_eq!(ack.acknowledge.unwrap().uuid, vec![6; 16]);

    master.send(&pid, mi::FrameworkErrorMessage { message: "Framework has been removed".into() });
    assert_eq!(next(&rx), Seen::Error("Framework has been removed".into()));
    assert_eq!(driver.status(), Status::DriverAborted);
    assert_eq!(driver.join(), Status::DriverAborted);
    let (_, message) = recv_after_registration(&mut master);
    assert!(matches!(message, Message::DeactivateFrameworkMessage(_)), "{message:?}");
}

/// The next message other than a (late, retried) SUBSCRIBE.
fn recv_after_registration(master: &mut FakeProcess) -> (Upid, Message) {
    master.recv_where(|m| match m {
        Message::SchedulerCall(c) if c.r#type == Some(CallType::Subscribe as i32) => None,
        other => Some(other.clone()),
    })
}

#[test]
fn authenticates_with_cram_md5_before_subscribing() {
    init();
    let master_node = FakeNode::bind("127.0.0.1:0");
    let mut master = master_node.spawn("master");
    let credential = Credential { principal: "fw-principal".into(), secret: Some("fw-secret".into()) };
    let (scheduler, rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), &master_node.addr().to_string())
        .credential(Some(credential.clone()))
        .environment(env())
        .build();
    driver.start();
    let pid = driver.pid().unwrap();

    // The authenticatee, a process of its own, asks to authenticate `pid`.
    let (authenticatee, hello) = master.recv_where(|m| match m {
        Message::AuthenticateMessage(a) => Some((**a).clone()),
        _ => None,
    });
    assert_eq!(hello.pid, pid.to_string());
    assert!(authenticatee.id().starts_with("crammd5-authenticatee("), "{authenticatee}");
    let mut session_process = master_node.spawn("crammd5-authenticator-session(1)");
    let credentials = Credentials::from_list(&[credential]);
    let (mut session, mechanisms) = AuthenticatorSession::new(cram_md5::challenge(7, 1_700_000_000, "master"));
    session_process.send(&authenticatee, mechanisms);
    let outcome = loop {
        let (from, message) = session_process.recv();
        assert_eq!(from, authenticatee);
        let step = session.handle(&message, &credentials);
        if let Some(Message::AuthenticationStepMessage(s)) = &step.send {
            session_process.send(&authenticatee, (**s).clone());
        } else if let Some(Message::AuthenticationCompletedMessage(c)) = &step.send {
            session_process.send(&authenticatee, **c);
        }
        if let Some(outcome) = step.outcome {
            break outcome;
        }
    };
    assert_eq!(outcome, mesos_rs::common::authentication::SessionOutcome::Authenticated("fw-principal".into()));
    let (from, _) = master.recv_call(CallType::Subscribe);
    assert_eq!(from, pid);
    master.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid(), master_info: info(&master.pid()) });
    expect_registered(&rx, &master.pid());
    driver.stop(false);
    driver.join();
}

#[test]
fn dropping_a_running_driver_ends_it() {
    init();
    let (scheduler, _rx) = Recorder::passive();
    let driver = MesosSchedulerDriver::builder(scheduler, framework(), "unused")
        .detector(Detector::standalone(None))
        .environment(env())
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);
    drop(driver);
}
