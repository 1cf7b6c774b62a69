//! Simulation scenarios for framework registration, failover and removal.
//! Each names the Mesos test (in `src/tests/`) it mirrors.

use std::time::Duration;

use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::proto::mesos::scheduler::call::Type as CallType;
use mesos_rs::proto::mesos::TaskState;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// master_tests.cpp `MasterTest.TaskRunning` + `FrameworkRegistered`:
/// a framework registers, gets an offer, launches, sees TASK_RUNNING.
#[test]
fn register_offer_launch_run() {
    for dialect in [Dialect::Calls, Dialect::Legacy] {
        let mut sim = SimCluster::new(1);
        let a = sim.add_agent(AgentSpec::default());
        let f = sim.add_framework(framework_info("fw", false), dialect);
        sim.run_for(secs(2));
        let fw = sim.framework(f);
        assert_eq!(fw.registered.len(), 1, "{dialect:?}");
        let master_info = &fw.registered[0];
        assert_eq!(master_info.version.as_deref(), Some("1.11.0"));
        assert!(fw.id.as_ref().unwrap().value.starts_with(&format!("{}-0000", master_info.id)));
        assert_eq!(fw.offers.len(), 1);
        let offer = fw.offers[0].clone();
        assert_eq!(offer.slave_id, sim.agent(a).id.clone().unwrap());
        assert!(offer.id.value.starts_with(&format!("{}-O", master_info.id)));
        assert_eq!(fw.offer_pids[0].1, sim.agent(a).pid.to_string());
        let task = command_task("t1", &offer, "cpus:1;mem:128");
        let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), vec![task], None);
        sim.send(f, launch);
        sim.run_for(secs(1));
        assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskRunning), "{dialect:?}");
        assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
        // The scheduler acknowledged through the master; the agent has no
        // update left to retry.
        assert_eq!(sim.agent(a).unacknowledged(), 0, "{dialect:?}");
        // Updates from the agent name the agent as the acknowledgee.
        assert_eq!(sim.framework(f).update_pids[0], sim.agent(a).pid.to_string());
    }
}

/// master_tests.cpp `MasterTest.FrameworkReregister`-like: a retried
/// registration from the same pid gets the same id back.
#[test]
fn duplicate_registration_is_acknowledged_again() {
    let mut sim = SimCluster::new(2);
    let f = sim.add_framework(framework_info("fw", false), Dialect::Legacy);
    sim.run_for(secs(1));
    let again = sim.framework(f).subscribe(false);
    // Still unregistered from the scheduler's point of view: resend the
    // *registration* (no id).
    let mut fresh = sim.framework(f).clone();
    fresh.id = None;
    let register = fresh.subscribe(false);
    sim.send(f, register);
    sim.run_for(secs(1));
    let fw = sim.framework(f);
    assert_eq!(fw.registered.len(), 2);
    assert_eq!(sim.master().frameworks().count(), 1);
    drop(again);
}

/// fault_tolerance_tests.cpp `FaultToleranceTest.SchedulerFailover`: a
/// second scheduler instance takes over with `force`; the first is told
/// "Framework failed over".
#[test]
fn scheduler_failover_sends_the_old_instance_an_error() {
    let mut sim = SimCluster::new(3);
    sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
    sim.run_for(secs(2));
    let old_offer = sim.framework(f).offers[0].id.clone();
    let g = sim.failover_framework(f);
    sim.run_for(secs(2));
    assert_eq!(sim.framework(f).errors, vec!["Framework failed over".to_string()]);
    assert_eq!(sim.framework(g).registered.len(), 1);
    assert_eq!(sim.framework(g).framework_id(), sim.framework(f).framework_id());
    // The old instance's offer was discarded and re-offered to the new one.
    assert_eq!(sim.framework(g).offers.len(), 1);
    assert_ne!(sim.framework(g).offers[0].id, old_offer);
    // The old instance's calls are no longer accepted.
    let decline = sim.framework(f).decline(&[old_offer], None);
    sim.send(f, decline);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(g).offers.len(), 1);
}

/// fault_tolerance_tests.cpp `FaultToleranceTest.SchedulerFailoverRetriedReregistration`
/// and `MasterTest.FrameworkReregisterWithoutForce`-like: a resubscription
/// with the same id from another pid and without `force` is refused.
#[test]
fn resubscription_from_another_pid_without_force_is_refused() {
    let mut sim = SimCluster::new(4);
    let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
    sim.run_for(secs(1));
    let g = sim.failover_framework(f);
    sim.run_for(secs(1));
    // A third instance without force.
    let mut third = sim.framework(g).clone();
    third.pid = sim.framework(f).pid.clone();
    let subscribe = third.subscribe(false);
    sim.send(f, subscribe);
    sim.run_for(secs(1));
    assert!(sim.framework(f).errors.contains(&"Framework failed over".to_string()));
}

/// master_tests.cpp `MasterTest.FrameworkFailoverTimeout`-like: a
/// disconnected framework's tasks survive until `failover_timeout`, then
/// the framework is removed and its tasks killed.
#[test]
fn failover_timeout_keeps_tasks_then_removes_the_framework() {
    let mut sim = SimCluster::new(5);
    let a = sim.add_agent(AgentSpec::default());
    let mut info = framework_info("fw", false);
    info.failover_timeout = Some(60.0);
    let f = sim.add_framework(info, Dialect::Calls);
    sim.run_for(secs(2));
    let offer = sim.framework(f).offers[0].clone();
    let launch = sim.framework(f).launch(
        std::slice::from_ref(&offer.id),
        vec![command_task("t1", &offer, "cpus:1;mem:64")],
        None,
    );
    sim.send(f, launch);
    sim.run_for(secs(1));
    sim.stop_framework(f);
    sim.run_for(secs(30));
    let fid = sim.framework(f).framework_id();
    assert!(sim.master().framework(&fid).is_some_and(|fw| !fw.connected()));
    assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
    // A new instance within the timeout keeps the task.
    let g = sim.failover_framework(f);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(g).registered.len(), 1);
    sim.stop_framework(g);
    sim.run_for(secs(61));
    assert!(sim.master().framework(&fid).is_none());
    assert!(sim.master().completed_framework(&fid).is_some());
    assert_eq!(sim.agent(a).running_tasks(), 0, "the agent shut the framework down");
    // A removed framework cannot come back.
    let h = sim.failover_framework(f);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(h).errors, vec!["Framework has been removed".to_string()]);
}

/// master_tests.cpp `MasterTest.ShutdownFrameworkWhileTaskRunning` /
/// TEARDOWN: tasks are killed, the framework completes.
#[test]
fn teardown_kills_tasks_and_completes_the_framework() {
    let mut sim = SimCluster::new(6);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
    sim.run_for(secs(2));
    let offer = sim.framework(f).offers[0].clone();
    let launch = sim.framework(f).launch(
        std::slice::from_ref(&offer.id),
        vec![command_task("t1", &offer, "cpus:1;mem:64")],
        None,
    );
    sim.send(f, launch);
    sim.run_for(secs(1));
    let teardown = sim.framework(f).simple(CallType::Teardown);
    sim.send(f, teardown);
    sim.run_for(secs(1));
    let fid = sim.framework(f).framework_id();
    let completed = sim.master().completed_framework(&fid).expect("completed");
    assert_eq!(completed.completed_tasks.len(), 1);
    assert_eq!(completed.completed_tasks[0].state, TaskState::TaskKilled as i32);
    assert_eq!(sim.agent(a).running_tasks(), 0);
    // The agent's resources are offered again to the next framework.
    let g = sim.add_framework(framework_info("next", false), Dialect::Calls);
    sim.run_for(secs(2));
    assert_eq!(sim.framework(g).offers.len(), 1);
}

/// master_validation_tests.cpp `FrameworkInfoValidationTest.*` and
/// `MasterTest.RoleWhitelist`-like: invalid subscriptions are refused
/// with Mesos's messages.
#[test]
fn invalid_subscriptions_are_refused_with_mesos_messages() {
    let config = mesos_rs::master::Config {
        roles: mesos_rs::master::allocator::RoleWhitelist::parse(Some("web")).unwrap(),
        root_submissions: false,
        ..Default::default()
    };
    let mut sim = SimCluster::with_config(7, config);
    let mut bad_role = framework_info("a", false);
    #[allow(deprecated)]
    {
        bad_role.role = Some("batch".into());
    }
    let a = sim.add_framework(bad_role, Dialect::Calls);
    let mut root = framework_info("b", false);
    root.user = "root".into();
    let b = sim.add_framework(root, Dialect::Calls);
    let mut bad_timeout = framework_info("c", false);
    bad_timeout.failover_timeout = Some(1e12);
    let c = sim.add_framework(bad_timeout, Dialect::Calls);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(a).errors, vec!["Roles { batch } are not present in the master's --roles"]);
    assert_eq!(
        sim.framework(b).errors,
        vec!["User 'root' is not allowed to run frameworks without --root_submissions set"]
    );
    assert_eq!(sim.framework(c).errors, vec!["The framework failover_timeout (1e+12) is invalid"]);
    assert_eq!(sim.master().frameworks().count(), 0);
}
