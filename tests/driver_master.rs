//! The Rust scheduler driver against our `mesos-master` binary, with the
//! master simulation's scripted agent over the real wire: a task launched
//! through the driver survives a master failover during the run (the master
//! is killed and restarted on the same address with its durable registry;
//! the detector reports the new incarnation), the driver reregisters under
//! the same framework id, the task's state is still known, and the driver
//! can kill it and tear the framework down afterwards.

mod driver_support;

use driver_support::*;
use mesos_rs::driver::detector::master_info_from_upid;
use mesos_rs::driver::{Detector, MesosSchedulerDriver, SchedulerDriver};
use mesos_rs::master::sim::AgentSpec;
use mesos_rs::proto::mesos::{task_status, Filters, FrameworkInfo, Status, TaskId, TaskInfo, TaskState, TaskStatus};
use mesos_rs::v0_compat::Upid;

#[test]
fn a_task_survives_a_master_failover_during_the_run() {
    init();
    let work_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let master_pid: Upid = format!("master@127.0.0.1:{port}").parse().unwrap();
    let first = Daemon::master(env!("CARGO_BIN_EXE_mesos-master"), port, work_dir.path());

    let spec = AgentSpec { hostname: "sim-agent".into(), resources: "cpus:2;mem:1024".into(), ..Default::default() };
    let agent = SimAgent::start(&master_pid, spec);
    wait_until("the agent to register", || agent.registered());

    // Launch one task into the first offer; decline the rest.
    let (scheduler, rx) = Recorder::new(|driver, seen| {
        if let Seen::Offers(offers) = seen {
            for offer in offers {
                let launched = TaskId { value: "t1".into() };
                let already = offer.executor_ids.iter().any(|e| e.value == launched.value);
                if offer.hostname == "sim-agent"
                    && !already
                    && !LAUNCHED.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let task = TaskInfo {
                        name: "t1".into(),
                        task_id: launched,
                        slave_id: offer.slave_id.clone(),
                        resources: vec![scalar("cpus", 1.0), scalar("mem", 128.0)],
                        command: Some(mesos_rs::proto::mesos::CommandInfo {
                            value: Some("sleep 1000".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    driver.launch_tasks(std::slice::from_ref(&offer.id), &[task], None);
                } else {
                    driver.decline_offer(&offer.id, Some(&Filters { refuse_seconds: Some(1.0) }));
                }
            }
        }
    });
    static LAUNCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let detector = Detector::standalone(Some(master_info_from_upid(&master_pid)));
    let framework = FrameworkInfo {
        user: "tester".into(),
        name: "failover-test".into(),
        failover_timeout: Some(3600.0),
        checkpoint: Some(true),
        ..Default::default()
    };
    let env = [("MESOS_REGISTRATION_BACKOFF_FACTOR", "100ms"), ("MESOS_INITIALIZE_DRIVER_LOGGING", "false")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let driver = MesosSchedulerDriver::builder(scheduler, framework, "unused")
        .detector(detector.clone())
        .environment(env)
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);

    let framework_id = match next(&rx) {
        Seen::Registered(id, info) => {
            assert_eq!(info.pid.as_deref(), Some(master_pid.to_string().as_str()));
            assert_eq!(info.version.as_deref(), Some("1.11.0"));
            id
        }
        other => panic!("expected registered, saw {other:?}"),
    };
    next_matching(&rx, "t1 running", |s| is_state(s, "t1", TaskState::TaskRunning));

    // The master dies mid-run and comes back on the same address.
    first.kill();
    let _second = Daemon::master(env!("CARGO_BIN_EXE_mesos-master"), port, work_dir.path());
    detector.appoint(Some(master_info_from_upid(&master_pid)));
    assert_eq!(next_matching(&rx, "disconnected", |s| !matches!(s, Seen::Offers(_))), Seen::Disconnected);
    // Mesos's master answers a v0 framework it recovers with
    // FrameworkRegisteredMessage (MESOS-786), so the callback is
    // `registered`; a master that already knew it would send `reregistered`.
    match next_matching(&rx, "re-registration", |s| !matches!(s, Seen::Offers(_))) {
        Seen::Registered(id, _) => assert_eq!(id, framework_id),
        Seen::Reregistered(info) => assert_eq!(info.pid.as_deref(), Some(master_pid.to_string().as_str())),
        other => panic!("expected (re)registered, saw {other:?}"),
    }

    // The agent reregisters with the new master, bringing the task back.
    agent.detected(&master_pid);
    wait_until("the agent to reregister", || agent.registered());
    wait_until("the master to know t1", || {
        master_state(port)["frameworks"].as_array().is_some_and(|fws| {
            fws.iter().any(|f| f["tasks"].as_array().is_some_and(|ts| ts.iter().any(|t| t["id"] == "t1")))
        })
    });

    // Reconciliation says the task is still running (updates the agent
    // resends to the new master may come first).
    let t1 = TaskStatus { task_id: TaskId { value: "t1".into() }, ..Default::default() };
    assert_eq!(driver.reconcile_tasks(&[t1]), Status::DriverRunning);
    let reconciliation = Some(task_status::Reason::Reconciliation as i32);
    match next_matching(&rx, "t1 reconciled", |s| matches!(s, Seen::Status(st) if st.reason == reconciliation)) {
        Seen::Status(status) => {
            assert_eq!(status.task_id.value, "t1");
            assert_eq!(status.state, TaskState::TaskRunning as i32);
        }
        other => panic!("{other:?}"),
    }

    // The new master carries the kill to the agent.
    assert_eq!(driver.kill_task(&TaskId { value: "t1".into() }), Status::DriverRunning);
    next_matching(&rx, "t1 killed", |s| is_state(s, "t1", TaskState::TaskKilled));

    assert_eq!(driver.stop(false), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
    wait_until("the framework to be completed", || {
        master_state(port)["completed_frameworks"]
            .as_array()
            .is_some_and(|fws| fws.iter().any(|f| f["id"] == framework_id.value.as_str()))
    });
    drop(agent);
}
