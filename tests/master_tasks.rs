//! Simulation scenarios for tasks: status updates and acknowledgements,
//! kill, reconciliation, framework messages, and a faulty network. Each
//! names the Mesos test (in `src/tests/`) it mirrors.

use std::time::Duration;

use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, Faults, SimCluster};
use mesos_rs::proto::mesos::task_status::Reason;
use mesos_rs::proto::mesos::{SlaveId, TaskState};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn setup(seed: u64, spec: AgentSpec, partition_aware: bool, dialect: Dialect) -> (SimCluster, usize, usize) {
    let mut sim = SimCluster::new(seed);
    let a = sim.add_agent(spec);
    let f = sim.add_framework(framework_info("fw", partition_aware), dialect);
    sim.run_for(secs(2));
    (sim, a, f)
}

fn launch(sim: &mut SimCluster, f: usize, tasks: &[&str]) {
    let offer = sim.framework(f).offers[0].clone();
    let infos = tasks.iter().map(|t| command_task(t, &offer, "cpus:0.5;mem:32")).collect();
    let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), infos, None);
    sim.framework_mut(f).offers.clear();
    sim.send(f, launch);
    sim.run_for(secs(1));
}

/// status_update_manager_tests.cpp / master_tests.cpp `MasterTest.StatusUpdateAck`:
/// a task that finishes is TASK_FINISHED at the framework; once its
/// terminal update is acknowledged the master moves it to completed and
/// the agent stops retrying.
#[test]
fn finished_tasks_are_completed_after_acknowledgement() {
    let spec = AgentSpec { task_duration: Some(secs(5)), ..Default::default() };
    let (mut sim, a, f) = setup(31, spec, false, Dialect::Calls);
    launch(&mut sim, f, &["t1"]);
    sim.run_for(secs(6));
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskFinished));
    assert_eq!(sim.agent(a).unacknowledged(), 0);
    let fid = sim.framework(f).framework_id();
    let fw = sim.master().framework(&fid).unwrap();
    assert!(fw.tasks.is_empty());
    assert_eq!(fw.completed_tasks.len(), 1);
    assert_eq!(fw.completed_tasks[0].state, TaskState::TaskFinished as i32);
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/tasks_finished"], 1.0);
    assert_eq!(metrics["master/valid_status_updates"], 2.0);
    assert_eq!(metrics["master/valid_status_update_acknowledgements"], 2.0);
    // The resources were offered again.
    sim.run_for(secs(2));
    assert_eq!(sim.framework(f).offers.len(), 1);
    assert_eq!(
        sim.framework(f).offers[0].resources.iter().find(|r| r.name == "cpus").unwrap().scalar.unwrap().value,
        4.0
    );
}

/// An unacknowledged update is retried by the agent and forwarded again
/// (`StatusUpdateManagerTest.RetryStatusUpdate`-like); the framework gets a
/// duplicate and the master's view stays consistent.
#[test]
fn lost_acknowledgements_are_retried() {
    let (mut sim, a, f) = setup(32, AgentSpec::default(), false, Dialect::Calls);
    sim.drop_next(1, |e| e.message.name() == "mesos.internal.StatusUpdateAcknowledgementMessage");
    launch(&mut sim, f, &["t1"]);
    assert_eq!(sim.agent(a).unacknowledged(), 1);
    sim.run_for(secs(11));
    assert_eq!(sim.agent(a).unacknowledged(), 0);
    assert_eq!(sim.framework(f).updates_for("t1").len(), 2, "the retry was forwarded");
}

/// master_tests.cpp `MasterTest.KillTask` and `MasterTest.KillUnknownTask`:
/// a kill reaches the agent (TASK_KILLED); killing an unknown task is a
/// reconciliation (TASK_LOST, or TASK_UNKNOWN for partition-aware frameworks).
#[test]
fn kill_known_and_unknown_tasks() {
    for partition_aware in [false, true] {
        let (mut sim, _a, f) = setup(33, AgentSpec::default(), partition_aware, Dialect::Calls);
        launch(&mut sim, f, &["t1"]);
        let kill = sim.framework(f).kill("t1");
        sim.send(f, kill);
        sim.run_for(secs(1));
        assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskKilled));
        let kill = sim.framework(f).kill("nope");
        sim.send(f, kill);
        sim.run_for(secs(1));
        let status = sim.framework(f).updates_for("nope")[0].clone();
        let expected = if partition_aware { TaskState::TaskUnknown } else { TaskState::TaskLost };
        assert_eq!(status.state, expected as i32);
        assert_eq!(status.reason, Some(Reason::Reconciliation as i32));
        assert_eq!(status.message.as_deref(), Some("Reconciliation: Task is unknown"));
    }
}

/// reconciliation_tests.cpp `ReconciliationTest.ImplicitNonTerminalTask`,
/// `TaskStateMatch`, `UnknownTask`, `UnknownSlave`, `SlaveInTransition`...:
/// the exact states Mesos reports.
#[test]
fn reconciliation_reports_the_states_mesos_reports() {
    for partition_aware in [false, true] {
        let (mut sim, a, f) = setup(34, AgentSpec::default(), partition_aware, Dialect::Calls);
        launch(&mut sim, f, &["t1", "t2"]);
        let before = sim.framework(f).updates.len();
        // Implicit: the latest state of every task.
        let reconcile = sim.framework(f).reconcile(&[]);
        sim.send(f, reconcile);
        sim.run_for(secs(1));
        let new: Vec<_> = sim.framework(f).updates[before..].to_vec();
        assert_eq!(new.len(), 2);
        for status in &new {
            assert_eq!(status.state, TaskState::TaskRunning as i32);
            assert_eq!(status.reason, Some(Reason::Reconciliation as i32));
            assert_eq!(status.message.as_deref(), Some("Reconciliation: Latest task state"));
        }
        // Master-generated updates carry no uuid: nothing was acknowledged.
        let metrics = sim.master().metrics_snapshot(sim.now());
        assert_eq!(metrics["master/messages_status_update_acknowledgement"], 2.0);

        // Explicit.
        let agent = sim.agent(a).id.clone().unwrap();
        let stranger = SlaveId { value: "unknown-agent".into() };
        let reconcile =
            sim.framework(f).reconcile(&[("t1", None), ("ghost", Some(&agent)), ("phantom", Some(&stranger))]);
        sim.send(f, reconcile);
        sim.run_for(secs(1));
        let fw = sim.framework(f);
        assert_eq!(fw.last_state("t1"), Some(TaskState::TaskRunning));
        let (gone, unknown) = if partition_aware {
            (TaskState::TaskGone, TaskState::TaskUnknown)
        } else {
            (TaskState::TaskLost, TaskState::TaskLost)
        };
        assert_eq!(fw.last_state("ghost"), Some(gone));
        assert_eq!(fw.updates_for("ghost")[0].message.as_deref(), Some("Reconciliation: Task is unknown to the agent"));
        assert_eq!(fw.last_state("phantom"), Some(unknown));
        assert_eq!(fw.updates_for("phantom")[0].message.as_deref(), Some("Reconciliation: Task is unknown"));
    }
}

/// Legacy drivers (pesos, Mesos 0.22) require `StatusUpdate.uuid`: master
/// updates to them carry an empty one, which 1.x drivers read as "none".
#[test]
fn legacy_schedulers_get_an_empty_uuid_on_master_updates() {
    let (mut sim, _a, f) = setup(35, AgentSpec::default(), false, Dialect::Legacy);
    let reconcile = mesos_rs::proto::mesos::internal::ReconcileTasksMessage {
        framework_id: sim.framework(f).framework_id(),
        statuses: vec![mesos_rs::proto::mesos::TaskStatus {
            task_id: mesos_rs::proto::mesos::TaskId { value: "x".into() },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        }],
        framework: None,
    };
    sim.send(f, reconcile.into());
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).last_state("x"), Some(TaskState::TaskLost));
    // The driver did not acknowledge an update without a uuid.
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/invalid_status_update_acknowledgements"], 0.0);
    // And legacy launches (LaunchTasksMessage) work end to end.
    launch(&mut sim, f, &["t1"]);
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskRunning));
    assert_eq!(metrics["master/valid_status_update_acknowledgements"], 0.0);
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/valid_status_update_acknowledgements"], 1.0);
}

/// master_tests.cpp `MasterTest.FrameworkMessage`: scheduler → executor
/// through the master and agent, and back.
#[test]
fn framework_messages_both_ways() {
    let (mut sim, a, f) = setup(36, AgentSpec::default(), false, Dialect::Calls);
    launch(&mut sim, f, &["t1"]);
    let agent = sim.agent(a).id.clone().unwrap();
    let message = sim.framework(f).message(&agent, "t1", b"hello");
    sim.send(f, message);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).executor_messages, vec![b"hello".to_vec()]);
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/valid_framework_to_executor_messages"], 1.0);
    assert_eq!(metrics["master/valid_executor_to_framework_messages"], 1.0);
}

/// Out-of-order, duplicated and lost messages (the network faults Mesos's
/// tests inject one at a time with DROP_PROTOBUF / FUTURE_PROTOBUF): a
/// workload still converges, and the master's books balance.
#[test]
fn a_faulty_network_still_converges() {
    for seed in 40..60 {
        // Lost offers come back through --offer_timeout, as Mesos advises.
        let config = mesos_rs::master::Config { offer_timeout: Some(secs(10)), ..Default::default() };
        let mut sim = SimCluster::with_config(seed, config);
        sim.faults =
            Faults { drop: 0.05, duplicate: 0.2, latency: Duration::from_millis(5), jitter: Duration::from_millis(50) };
        let spec = AgentSpec { task_duration: Some(secs(3)), ..Default::default() };
        for _ in 0..3 {
            sim.add_agent(spec.clone());
        }
        let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
        let mut launched = Vec::new();
        for round in 0..20 {
            sim.run_for(secs(1));
            let offers = std::mem::take(&mut sim.framework_mut(f).offers);
            for offer in offers {
                let task = format!("t{round}-{}", offer.slave_id.value);
                let launch = sim.framework(f).launch(
                    std::slice::from_ref(&offer.id),
                    vec![command_task(&task, &offer, "cpus:1;mem:64")],
                    None,
                );
                sim.send(f, launch);
                launched.push(task);
            }
        }
        sim.faults = Faults::default();
        sim.run_for(secs(60));
        // What a careful scheduler does after trouble: reconcile, and kill
        // what is still not running.
        let reconcile = sim.framework(f).reconcile(&[]);
        sim.send(f, reconcile);
        sim.run_for(secs(1));
        for task in &launched {
            if sim.framework(f).last_state(task) == Some(TaskState::TaskStaging) {
                let kill = sim.framework(f).kill(task);
                sim.send(f, kill);
            }
        }
        sim.run_for(secs(30));
        // A launch lost on its way to an agent that never heard of the
        // framework stays TASK_STAGING at the master (as in Mesos) until
        // the agent reregisters and the master reconciles it: TASK_LOST.
        for i in 0..3 {
            sim.crash_agent(i);
            sim.restart_agent(i);
        }
        sim.run_for(secs(60));
        assert!(sim.fatal.is_empty());
        assert!(!launched.is_empty());
        // Every task the master accepted ended FINISHED, or was lost to the
        // network before reaching the agent (reconciled by the agent).
        let fid = sim.framework(f).framework_id();
        let fw = sim.master().framework(&fid).unwrap();
        assert!(fw.tasks.is_empty(), "seed {seed}: {:?}", fw.tasks.keys().collect::<Vec<_>>());
        assert!(fw.total_used.is_empty(), "seed {seed}");
        for agent in sim.master().agents() {
            assert!(agent.used.is_empty(), "seed {seed}");
            let available = sim.master().allocator().available(&agent.id).unwrap();
            let mut sum = available.clone() + &agent.offered;
            sum.unallocate();
            assert_eq!(sum, agent.total, "seed {seed}");
        }
    }
}

/// master_tests.cpp `MasterTest.RecoverResources`-like: an executor that
/// exits gives its resources back and its framework is told.
#[test]
fn exited_executors_are_removed_and_reported() {
    let (mut sim, a, f) = setup(37, AgentSpec::default(), false, Dialect::Calls);
    let offer = sim.framework(f).offers[0].clone();
    let mut task = command_task("t1", &offer, "cpus:1;mem:64");
    task.command = None;
    let mut executor_resources = mesos_rs::common::resources::parse::from_string("cpus:0.5;mem:32", "*").unwrap();
    executor_resources.iter_mut().for_each(|r| r.allocation_info = None);
    task.executor = Some(mesos_rs::proto::mesos::ExecutorInfo {
        executor_id: mesos_rs::proto::mesos::ExecutorId { value: "exec".into() },
        command: Some(mesos_rs::proto::mesos::CommandInfo { value: Some("./executor".into()), ..Default::default() }),
        resources: executor_resources,
        ..Default::default()
    });
    let launch = sim.framework(f).launch(std::slice::from_ref(&offer.id), vec![task], None);
    sim.send(f, launch);
    sim.run_for(secs(1));
    let fid = sim.framework(f).framework_id();
    assert_eq!(sim.master().framework(&fid).unwrap().total_used.cpus(), Some(1.5));
    let agent = sim.agent(a).id.clone().unwrap();
    let exited = mesos_rs::proto::mesos::internal::ExitedExecutorMessage {
        slave_id: agent.clone(),
        framework_id: fid.clone(),
        executor_id: mesos_rs::proto::mesos::ExecutorId { value: "exec".into() },
        status: 0,
    };
    sim.send_from_agent(a, exited.into());
    sim.run_for(secs(1));
    assert!(sim.framework(f).received.contains(&"mesos.internal.ExitedExecutorMessage"));
    let fw = sim.master().framework(&fid).unwrap();
    assert!(fw.executors.is_empty());
    assert_eq!(fw.total_used.cpus(), Some(1.0), "only the task remains");
}

/// master_tests.cpp `MasterTest.DeactivateFramework`-like: an aborting
/// driver deactivates its framework; its offers are rescinded and no new
/// ones come until it resubscribes.
#[test]
fn a_deactivated_framework_gets_no_offers() {
    let (mut sim, _a, f) = setup(38, AgentSpec::default(), false, Dialect::Legacy);
    let fid = sim.framework(f).framework_id();
    let message = mesos_rs::proto::mesos::internal::DeactivateFrameworkMessage { framework_id: fid.clone() };
    sim.send(f, message.into());
    sim.run_for(secs(5));
    assert_eq!(sim.framework(f).rescinded.len(), 1);
    assert!(sim.framework(f).offers.is_empty());
    assert!(!sim.master().framework(&fid).unwrap().active);
}
