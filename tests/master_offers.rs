//! Simulation scenarios for offers: filters, rescinds, timeouts,
//! suppress/revive, and frameworks that lie in their ACCEPTs. Each names the
//! Mesos test (in `src/tests/`) it mirrors.

use std::time::Duration;

use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::master::Config;
use mesos_rs::proto::mesos::offer::operation::Type as OperationType;
use mesos_rs::proto::mesos::offer::{operation, Operation};
use mesos_rs::proto::mesos::scheduler::call::Type as CallType;
use mesos_rs::proto::mesos::task_status::Reason;
use mesos_rs::proto::mesos::{ExecutorId, ExecutorInfo, TaskState};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn one_agent_one_framework(seed: u64, partition_aware: bool) -> (SimCluster, usize, usize) {
    let mut sim = SimCluster::new(seed);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", partition_aware), Dialect::Calls);
    sim.run_for(secs(2));
    assert_eq!(sim.framework(f).offers.len(), 1);
    (sim, a, f)
}

/// master_tests.cpp `MasterTest.DeclineOffers...` and
/// hierarchical_allocator_tests.cpp filter tests: a declined offer comes back
/// once `refuse_seconds` (at least the allocation interval) has passed.
#[test]
fn declined_offers_come_back_after_the_filter() {
    let (mut sim, _a, f) = one_agent_one_framework(21, false);
    let offer = sim.framework(f).offers[0].id.clone();
    let decline = sim.framework(f).decline(&[offer], Some(30.0));
    sim.framework_mut(f).offers.clear();
    sim.send(f, decline);
    sim.run_for(secs(25));
    assert!(sim.framework(f).offers.is_empty(), "filtered for 30 s");
    sim.run_for(secs(7));
    assert_eq!(sim.framework(f).offers.len(), 1);
    // The default filter is 5 seconds.
    let offer = sim.framework(f).offers[0].id.clone();
    let decline = sim.framework(f).decline(&[offer], None);
    sim.framework_mut(f).offers.clear();
    sim.send(f, decline);
    sim.run_for(secs(4));
    assert!(sim.framework(f).offers.is_empty());
    sim.run_for(secs(3));
    assert_eq!(sim.framework(f).offers.len(), 1);
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/messages_decline_offers"], 2.0);
}

/// master_tests.cpp `MasterTest.OfferTimeout`: with --offer_timeout an
/// unanswered offer is rescinded, then offered again.
#[test]
fn offers_time_out() {
    let config = Config { offer_timeout: Some(secs(30)), ..Config::default() };
    let mut sim = SimCluster::with_config(22, config);
    sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
    sim.run_for(secs(2));
    let first = sim.framework(f).offers[0].id.clone();
    sim.run_for(secs(31));
    assert_eq!(sim.framework(f).rescinded, vec![first.clone()]);
    assert_eq!(sim.framework(f).offers.len(), 1);
    assert_ne!(sim.framework(f).offers[0].id, first);
}

/// master_tests.cpp `MasterTest.SuppressOffers` / `ReviveOffers`.
#[test]
fn suppress_and_revive() {
    let (mut sim, _a, f) = one_agent_one_framework(23, false);
    let suppress = sim.framework(f).simple(CallType::Suppress);
    sim.send(f, suppress);
    let offer = sim.framework(f).offers[0].id.clone();
    let decline = sim.framework(f).decline(&[offer], Some(0.0));
    sim.framework_mut(f).offers.clear();
    sim.send(f, decline);
    sim.run_for(secs(10));
    assert!(sim.framework(f).offers.is_empty(), "suppressed");
    let revive = sim.framework(f).simple(CallType::Revive);
    sim.send(f, revive);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).offers.len(), 1);
}

/// Offers carry `allocation_info` only for MULTI_ROLE frameworks
/// (MESOS-8237), and the pre-refinement format for the others.
#[test]
fn offers_are_adapted_to_the_framework() {
    let (sim, _a, f) = one_agent_one_framework(24, false);
    let offer = &sim.framework(f).offers[0];
    assert!(offer.allocation_info.is_none());
    #[allow(deprecated)]
    let roles: Vec<_> = offer.resources.iter().map(|r| r.role.clone()).collect();
    assert!(roles.iter().all(|r| r.as_deref() == Some("*")));
    assert!(offer.resources.iter().all(|r| r.allocation_info.is_none()));
    let url = offer.url.as_ref().unwrap();
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));

    let mut sim = SimCluster::new(24);
    sim.add_agent(AgentSpec::default());
    let mut info = framework_info("multi", false);
    info.roles = vec!["web".into()];
    info.capabilities.push(mesos_rs::proto::mesos::framework_info::Capability {
        r#type: Some(mesos_rs::proto::mesos::framework_info::capability::Type::MultiRole as i32),
    });
    let g = sim.add_framework(info, Dialect::Calls);
    sim.run_for(secs(2));
    let offer = &sim.framework(g).offers[0];
    assert_eq!(offer.allocation_info.as_ref().unwrap().role.as_deref(), Some("web"));
    assert!(offer.resources.iter().all(|r| r.allocation_info.is_some()));
}

/// master_tests.cpp `MasterTest.LaunchWithInvalidOffer...` / the
/// "framework that lies" cases of master_validation_tests.cpp
/// (`TaskValidationTest.*`, `OfferValidationTest.*`).
#[test]
fn a_framework_that_lies_gets_the_answers_mesos_gives() {
    for partition_aware in [false, true] {
        let mut sim = SimCluster::new(25);
        let a = sim.add_agent(AgentSpec::default());
        let f = sim.add_framework(framework_info("honest", false), Dialect::Calls);
        sim.run_for(secs(2));
        let g = sim.add_framework(framework_info("liar", partition_aware), Dialect::Calls);
        sim.run_for(secs(2));
        assert_eq!(sim.framework(f).offers.len(), 1);
        let theirs = sim.framework(f).offers[0].clone();

        // 1. Launch on someone else's offer.
        let launch = sim.framework(g).launch(
            std::slice::from_ref(&theirs.id),
            vec![command_task("x1", &theirs, "cpus:1;mem:32")],
            None,
        );
        sim.send(g, launch);
        sim.run_for(secs(1));
        let status = sim.framework(g).updates_for("x1")[0].clone();
        let expected = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
        assert_eq!(status.state, expected as i32);
        assert_eq!(status.reason, Some(Reason::InvalidOffers as i32));
        let fid = sim.framework(f).framework_id();
        let gid = sim.framework(g).framework_id();
        assert_eq!(
            status.message.as_deref().unwrap(),
            format!(
                "Task launched with invalid offers: Offer {} has invalid framework {} while framework {} is expected",
                theirs.id.value, fid.value, gid.value
            )
        );
        // The honest framework keeps its offer and can use it.
        assert!(sim.master().offers().any(|o| o.offer.id == theirs.id));
        let launch = sim.framework(f).launch(
            std::slice::from_ref(&theirs.id),
            vec![command_task("t1", &theirs, "cpus:1;mem:32")],
            None,
        );
        sim.send(f, launch);
        sim.run_for(secs(1));
        assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskRunning));

        // 2. An offer that is no longer valid.
        let launch = sim.framework(g).launch(
            std::slice::from_ref(&theirs.id),
            vec![command_task("x2", &theirs, "cpus:1;mem:32")],
            None,
        );
        sim.send(g, launch);
        sim.run_for(secs(1));
        let status = sim.framework(g).updates_for("x2")[0].clone();
        assert_eq!(status.state, expected as i32);
        assert_eq!(
            status.message.as_deref().unwrap(),
            format!("Task launched with invalid offers: Offer {} is no longer valid", theirs.id.value)
        );
        let _ = a;
    }
}

/// master_validation_tests.cpp `TaskValidationTest.*`: invalid TaskInfos are
/// TASK_ERROR (REASON_TASK_INVALID) with Mesos's messages; valid tasks of
/// the same ACCEPT still launch.
#[test]
fn invalid_tasks_are_task_error() {
    let (mut sim, _a, f) = one_agent_one_framework(26, false);
    let offer = sim.framework(f).offers[0].clone();
    let good = command_task("good", &offer, "cpus:1;mem:64");
    let duplicate = command_task("good", &offer, "cpus:1;mem:64");
    let too_big = command_task("big", &offer, "cpus:100;mem:64");
    let mut no_resources = command_task("none", &offer, "cpus:1");
    no_resources.resources.clear();
    let mut both = command_task("both", &offer, "cpus:1;mem:32");
    both.executor = Some(ExecutorInfo {
        executor_id: ExecutorId { value: "e".into() },
        command: Some(Default::default()),
        ..Default::default()
    });
    let bad_id = command_task("a/b", &offer, "cpus:1;mem:32");
    let tasks = vec![good, duplicate, too_big, no_resources, both, bad_id];
    let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), tasks, None);
    sim.send(f, launch);
    sim.run_for(secs(1));
    let fw = sim.framework(f);
    let message = |task: &str| {
        let s = fw.updates_for(task)[0];
        assert_eq!(s.state, TaskState::TaskError as i32, "{task}");
        assert_eq!(s.reason, Some(Reason::TaskInvalid as i32), "{task}");
        s.message.clone().unwrap()
    };
    assert_eq!(fw.last_state("good"), Some(TaskState::TaskRunning));
    // The duplicate reached the framework first (it is refused at once).
    assert_eq!(fw.updates_for("good")[0].message.as_deref(), Some("Task has duplicate ID: good"));
    assert!(message("big").starts_with("Total resources cpus(allocated: *):100; mem(allocated: *):64 required by task and its executor is more than available"), "{}", message("big"));
    assert_eq!(message("none"), "Task uses no resources");
    assert_eq!(message("both"), "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present");
    assert_eq!(message("a/b"), "'a/b' contains invalid characters");
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/tasks_error"], 5.0);
    assert_eq!(metrics["master/task_error/source_master/reason_task_invalid"], 5.0);
    // Only what the valid task uses stays allocated.
    let fid = sim.framework(f).framework_id();
    let used = &sim.master().framework(&fid).unwrap().total_used;
    assert_eq!(used.cpus(), Some(1.0));
}

/// master_tests.cpp `MasterTest.LaunchDuplicateOfferTest` and
/// `OfferValidationTest.AcrossSlaves`: an ACCEPT naming one offer twice.
#[test]
fn the_same_offer_twice_is_refused() {
    let (mut sim, _a, f) = one_agent_one_framework(27, false);
    let offer = sim.framework(f).offers[0].clone();
    let ids = [offer.id.clone(), offer.id.clone()];
    let launch = sim.framework(f).launch(&ids, vec![command_task("t", &offer, "cpus:1;mem:32")], None);
    sim.send(f, launch);
    sim.run_for(secs(1));
    let status = sim.framework(f).updates_for("t")[0].clone();
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert_eq!(
        status.message.as_deref().unwrap(),
        format!("Task launched with invalid offers: Duplicate offer {} in offer list", offer.id.value)
    );
}

/// master_tests.cpp `MasterTest.LaunchGroup...`: LAUNCH_GROUP runs every
/// task of the group on one executor.
#[test]
fn launch_group() {
    let (mut sim, a, f) = one_agent_one_framework(28, false);
    let offer = sim.framework(f).offers[0].clone();
    let mut executor_resources =
        mesos_rs::common::resources::parse::from_string("cpus:0.1;mem:32;disk:32", "*").unwrap();
    for r in &mut executor_resources {
        r.allocation_info = None;
    }
    let executor = ExecutorInfo {
        r#type: Some(mesos_rs::proto::mesos::executor_info::Type::Default as i32),
        executor_id: ExecutorId { value: "default".into() },
        framework_id: Some(sim.framework(f).framework_id()),
        resources: executor_resources,
        ..Default::default()
    };
    let mut t1 = command_task("g1", &offer, "cpus:1;mem:64");
    let mut t2 = command_task("g2", &offer, "cpus:1;mem:64");
    t1.command = Some(Default::default());
    t2.command = Some(Default::default());
    let op = Operation {
        r#type: Some(OperationType::LaunchGroup as i32),
        launch_group: Some(operation::LaunchGroup {
            executor,
            task_group: mesos_rs::proto::mesos::TaskGroupInfo { tasks: vec![t1, t2] },
        }),
        ..Default::default()
    };
    let accept = sim.framework(f).accept(std::slice::from_ref(&offer.id), vec![op], None);
    sim.send(f, accept);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).last_state("g1"), Some(TaskState::TaskRunning));
    assert_eq!(sim.framework(f).last_state("g2"), Some(TaskState::TaskRunning));
    assert_eq!(sim.agent(a).running_tasks(), 2);
    let pid = sim.agent(a).pid.clone();
    assert_eq!(sim.delivered(&pid, "mesos.internal.RunTaskGroupMessage"), 1);
}

/// master_tests.cpp / reservation_tests.cpp `ReservationTest.ReserveThenUnreserve`:
/// RESERVE in an ACCEPT checkpoints the reservation on the agent and the
/// next offers carry it.
#[test]
fn reserve_through_accept() {
    let mut sim = SimCluster::new(29);
    let a = sim.add_agent(AgentSpec { resources: "cpus:2;mem:1024".into(), ..Default::default() });
    let mut info = framework_info("fw", false);
    #[allow(deprecated)]
    {
        info.role = Some("web".into());
    }
    info.principal = Some("ops".into());
    let f = sim.add_framework(info, Dialect::Calls);
    sim.run_for(secs(2));
    let offer = sim.framework(f).offers[0].clone();
    let mut reserved = mesos_rs::common::resources::parse::from_string("cpus:1", "*").unwrap();
    for r in &mut reserved {
        r.reservations.push(mesos_rs::proto::mesos::resource::ReservationInfo {
            r#type: Some(mesos_rs::proto::mesos::resource::reservation_info::Type::Dynamic as i32),
            role: Some("web".into()),
            principal: Some("ops".into()),
            ..Default::default()
        });
    }
    let op = Operation {
        r#type: Some(OperationType::Reserve as i32),
        reserve: Some(operation::Reserve { resources: reserved, ..Default::default() }),
        ..Default::default()
    };
    let accept = sim.framework(f).accept(std::slice::from_ref(&offer.id), vec![op], Some(0.0));
    sim.framework_mut(f).offers.clear();
    sim.send(f, accept);
    sim.run_for(secs(2));
    let pid = sim.agent(a).pid.clone();
    assert_eq!(sim.delivered(&pid, "mesos.internal.CheckpointResourcesMessage"), 1);
    assert_eq!(sim.agent(a).checkpointed.len(), 1);
    let offer = &sim.framework(f).offers[0];
    #[allow(deprecated)]
    let reserved_cpus = offer.resources.iter().find(|r| r.name == "cpus" && r.role.as_deref() == Some("web"));
    assert!(reserved_cpus.is_some(), "{:?}", offer.resources);
}
