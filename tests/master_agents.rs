//! Simulation scenarios for agents: registration, health checks, loss,
//! reregistration, restarts and master failover. Each names the Mesos test
//! (in `src/tests/`) it mirrors.

use std::time::Duration;

use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::proto::mesos::task_status::Reason;
use mesos_rs::proto::mesos::TaskState;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Launches one task of framework `f` on the first offer.
fn launch_one(sim: &mut SimCluster, f: usize, task: &str) {
    let offer = sim.framework(f).offers[0].clone();
    launch(sim, f, offer, task);
}

/// Launches one task of framework `f` on the offer for agent `a`.
fn launch_on(sim: &mut SimCluster, f: usize, a: usize, task: &str) {
    let agent = sim.agent(a).id.clone().unwrap();
    let offer = sim.framework(f).offers.iter().find(|o| o.slave_id == agent).unwrap().clone();
    launch(sim, f, offer, task);
}

fn launch(sim: &mut SimCluster, f: usize, offer: mesos_rs::proto::mesos::Offer, task: &str) {
    let launch = sim.framework(f).launch(
        std::slice::from_ref(&offer.id),
        vec![command_task(task, &offer, "cpus:1;mem:64")],
        None,
    );
    sim.send(f, launch);
    sim.run_for(secs(1));
}

/// master_tests.cpp `MasterTest.SlaveRegistration`-like: ids in Mesos's
/// format, admitted in the registry, pinged.
#[test]
fn agents_register_with_mesos_ids_and_are_admitted() {
    let mut sim = SimCluster::new(11);
    let a = sim.add_agent(AgentSpec::default());
    let b = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let master_id = sim.master().info().id.clone();
    assert_eq!(sim.agent(a).id.as_ref().unwrap().value, format!("{master_id}-S0"));
    assert_eq!(sim.agent(b).id.as_ref().unwrap().value, format!("{master_id}-S1"));
    assert_eq!(sim.registry().slaves.as_ref().unwrap().slaves.len(), 2);
    assert!(sim.agent(a).received.contains(&"mesos.internal.PingSlaveMessage"));
    // A duplicate registration from the same pid gets the same id back.
    let register = mesos_rs::proto::mesos::internal::RegisterSlaveMessage {
        slave: sim.agent(a).info.clone(),
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    let before = sim.delivered(&sim.agent(a).pid.clone(), "mesos.internal.SlaveRegisteredMessage");
    sim.send_from_agent(a, register.into());
    sim.run_for(secs(1));
    let pid = sim.agent(a).pid.clone();
    assert_eq!(sim.delivered(&pid, "mesos.internal.SlaveRegisteredMessage"), before + 1);
    assert_eq!(sim.master().agents().count(), 2);
}

/// master_tests.cpp `MasterTest.IgnoreOldAgentRegistration`-like: agents
/// older than 1.0 (or without a version) are ignored.
#[test]
fn old_agents_are_ignored() {
    let mut sim = SimCluster::new(12);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let mut info = sim.agent(a).info.clone();
    info.hostname = "old".into();
    let register = mesos_rs::proto::mesos::internal::RegisterSlaveMessage {
        slave: info,
        version: Some("0.28.0".into()),
        ..Default::default()
    };
    // From another pid, so it is not a retry.
    sim.drop_next(1, |e| e.message.name() == "mesos.internal.RegisterSlaveMessage");
    let b = sim.add_agent(AgentSpec { hostname: "other".into(), ..Default::default() });
    sim.agent_mut(b).crash();
    sim.send_from_agent(b, register.into());
    sim.run_for(secs(1));
    assert_eq!(sim.master().agents().count(), 1);
}

/// partition_tests.cpp `PartitionTest.PartitionedSlave`: an agent that
/// stops answering pings is marked unreachable after
/// `max_agent_ping_timeouts`; tasks of a non-partition-aware framework
/// become TASK_LOST (REASON_SLAVE_REMOVED), those of a partition-aware one
/// TASK_UNREACHABLE; frameworks hear LostSlaveMessage.
#[test]
fn ping_timeouts_make_an_agent_unreachable() {
    for partition_aware in [false, true] {
        let mut sim = SimCluster::new(13);
        let a = sim.add_agent(AgentSpec::default());
        let f = sim.add_framework(framework_info("fw", partition_aware), Dialect::Calls);
        sim.run_for(secs(2));
        launch_one(&mut sim, f, "t1");
        sim.agent_mut(a).mute_pings = true;
        // 5 pings of 15 s unanswered: unreachable between 60 and 90 s.
        sim.run_for(secs(60));
        assert_eq!(sim.master().agents().count(), 1, "not yet");
        sim.run_for(secs(30));
        assert_eq!(sim.master().agents().count(), 0);
        let agent_id = sim.agent(a).id.clone().unwrap();
        assert!(sim.master().unreachable_agents().any(|(id, _)| *id == agent_id));
        let expected = if partition_aware { TaskState::TaskUnreachable } else { TaskState::TaskLost };
        let fw = sim.framework(f);
        assert_eq!(fw.last_state("t1"), Some(expected), "partition_aware={partition_aware}");
        let status = fw.updates_for("t1").last().cloned().cloned().unwrap();
        assert_eq!(status.reason, Some(Reason::SlaveRemoved as i32));
        assert_eq!(status.message.as_deref(), Some("health check timed out"));
        assert!(status.unreachable_time.is_some());
        assert_eq!(fw.lost_agents, vec![agent_id.clone()]);
        assert_eq!(sim.registry().unreachable.as_ref().unwrap().slaves.len(), 1);
        let metrics = sim.master().metrics_snapshot(sim.now());
        assert_eq!(metrics["master/slave_removals/reason_unhealthy"], 1.0);
        assert_eq!(metrics["master/slave_unreachable_completed"], 1.0);
    }
}

/// partition_tests.cpp `PartitionTest.ReregisterSlavePartitionAware`: the
/// unreachable agent comes back; its partition-aware task is reported
/// TASK_RUNNING again (REASON_SLAVE_REREGISTERED) and is active again.
#[test]
fn an_unreachable_agent_comes_back_with_its_tasks() {
    let mut sim = SimCluster::new(14);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
    sim.run_for(secs(2));
    launch_one(&mut sim, f, "t1");
    let pid = sim.agent(a).pid.clone();
    sim.isolate(&pid);
    sim.run_for(secs(100));
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskUnreachable));
    let fid = sim.framework(f).framework_id();
    assert!(sim.master().framework(&fid).unwrap().unreachable_tasks.len() == 1);
    sim.heal(&pid);
    // The agent notices no pings for a while and reregisters (the master
    // would also tell it it is disconnected); here: after a restart.
    sim.restart_agent(a);
    sim.run_for(secs(2));
    assert_eq!(sim.master().agents().count(), 1);
    let last = sim.framework(f).updates_for("t1").last().cloned().cloned().unwrap();
    assert_eq!(last.state, TaskState::TaskRunning as i32);
    assert_eq!(last.reason, Some(Reason::SlaveReregistered as i32));
    assert_eq!(last.message.as_deref(), Some("Unreachable agent re-reregistered"));
    let fw = sim.master().framework(&fid).unwrap();
    assert!(fw.unreachable_tasks.is_empty());
    assert_eq!(fw.tasks.len(), 1);
    assert!(sim.registry().unreachable.as_ref().unwrap().slaves.is_empty());
}

/// master_tests.cpp `MasterTest.SlaveDisconnect...` /
/// fault_tolerance_tests.cpp `FaultToleranceTest.SlaveReregisterTimeout`-like:
/// a crashed agent is deactivated (offers rescinded), and marked
/// unreachable if it does not come back within --agent_reregister_timeout.
#[test]
fn a_disconnected_agent_must_reregister_in_time() {
    let mut sim = SimCluster::new(15);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
    sim.run_for(secs(2));
    assert_eq!(sim.framework(f).offers.len(), 1);
    sim.crash_agent(a);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).rescinded.len(), 1, "the offer is rescinded");
    let agent_id = sim.agent(a).id.clone().unwrap();
    let agent = sim.master().agent(&agent_id).unwrap();
    assert!(!agent.connected && !agent.active);
    // Pings (to a dead agent) time out first, at ~75 s.
    sim.run_for(secs(120));
    assert!(sim.master().agent(&agent_id).is_none());
    assert!(sim.master().unreachable_agents().any(|(id, _)| *id == agent_id));
}

/// fault_tolerance_tests.cpp `FaultToleranceTest.SlaveReliableRegistration`
/// (an agent restart): the agent reregisters with its tasks and is active
/// again; the master resends its checkpointed resources.
#[test]
fn a_restarted_agent_reregisters_with_its_tasks() {
    let mut sim = SimCluster::new(16);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
    sim.run_for(secs(2));
    launch_one(&mut sim, f, "t1");
    sim.crash_agent(a);
    sim.run_for(secs(5));
    sim.restart_agent(a);
    sim.run_for(secs(2));
    let agent_id = sim.agent(a).id.clone().unwrap();
    let agent = sim.master().agent(&agent_id).unwrap();
    assert!(agent.connected && agent.active);
    assert!(agent.reregistered_time.is_some());
    let pid = sim.agent(a).pid.clone();
    assert_eq!(sim.delivered(&pid, "mesos.internal.SlaveReregisteredMessage"), 1);
    assert_eq!(sim.delivered(&pid, "mesos.internal.CheckpointResourcesMessage"), 1);
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskRunning));
    let fid = sim.framework(f).framework_id();
    assert!(sim.master().task(&fid, &mesos_rs::proto::mesos::TaskId { value: "t1".into() }).is_some());
}

/// master_tests.cpp `MasterTest.SlaveReregisterDifferentHostname`-like:
/// an agent cannot reregister with another hostname; it is shut down.
#[test]
fn reregistration_with_another_hostname_is_refused() {
    let mut sim = SimCluster::new(17);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    sim.agent_mut(a).info.hostname = "elsewhere".into();
    sim.restart_agent(a);
    sim.run_for(secs(1));
    assert_eq!(
        sim.agent(a).shutdown_reason.as_deref(),
        Some("Agent attempted to reregister with different IP / hostname")
    );
}

/// master_tests.cpp `MasterTest.UnregisterSlave`-like: an agent that
/// unregisters is removed; its tasks are lost.
#[test]
fn an_unregistered_agent_is_removed() {
    let mut sim = SimCluster::new(18);
    let a = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
    sim.run_for(secs(2));
    launch_one(&mut sim, f, "t1");
    let agent_id = sim.agent(a).id.clone().unwrap();
    let message = mesos_rs::proto::mesos::internal::UnregisterSlaveMessage { slave_id: agent_id.clone() };
    sim.send_from_agent(a, message.into());
    sim.run_for(secs(1));
    assert!(sim.master().agent(&agent_id).is_none());
    let last = sim.framework(f).updates_for("t1").last().cloned().cloned().unwrap();
    assert_eq!(last.state, TaskState::TaskLost as i32);
    assert_eq!(last.message.as_deref(), Some("Agent agent1 removed: the agent unregistered"));
    assert!(sim.registry().slaves.as_ref().unwrap().slaves.is_empty());
    let metrics = sim.master().metrics_snapshot(sim.now());
    assert_eq!(metrics["master/slave_removals/reason_unregistered"], 1.0);
}

/// master_tests.cpp `MasterTest.RecoveredSlaveReregisters` /
/// `MasterTest.RecoveredSlaveDoesNotReregister`: after a master failover,
/// agents in the registry that come back are readmitted with their tasks;
/// those that do not are marked unreachable after
/// --agent_reregister_timeout.
#[test]
fn master_failover_readmits_agents_and_marks_the_missing_unreachable() {
    let mut sim = SimCluster::new(19);
    let a = sim.add_agent(AgentSpec::default());
    let b = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
    sim.run_for(secs(2));
    launch_on(&mut sim, f, a, "t1");
    sim.crash_agent(b);
    sim.restart_master();
    sim.run_for(secs(5));
    assert_eq!(sim.master().agents().count(), 1);
    assert_eq!(sim.master().recovered_agents().count(), 1);
    let fid = sim.framework(f).framework_id();
    // The framework resubscribed; its task is known again from the agent.
    let fw = sim.master().framework(&fid).unwrap();
    assert!(fw.connected());
    assert_eq!(fw.tasks.len(), 1);
    assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
    // Explicit reconciliation of a task on the missing agent: no answer
    // while it may still come back (case 2).
    let b_id = sim.agent(b).id.clone().unwrap();
    let before = sim.framework(f).updates.len();
    let reconcile = sim.framework(f).reconcile(&[("t9", Some(&b_id))]);
    sim.send(f, reconcile);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).updates.len(), before);
    sim.run_for(secs(600));
    assert_eq!(sim.master().recovered_agents().count(), 0);
    assert!(sim.master().unreachable_agents().any(|(id, _)| *id == b_id));
    assert!(sim.framework(f).lost_agents.contains(&b_id));
    // Now it is unreachable (case 4).
    let reconcile = sim.framework(f).reconcile(&[("t9", Some(&b_id))]);
    sim.send(f, reconcile);
    sim.run_for(secs(1));
    assert_eq!(sim.framework(f).last_state("t9"), Some(TaskState::TaskUnreachable));
    assert!(sim.fatal.is_empty());
}

/// registrar_tests.cpp / master_tests.cpp: a registry that cannot be
/// written makes the master abort (Mesos LOG(FATAL)s).
#[test]
fn a_broken_registry_aborts_the_master() {
    let mut sim = SimCluster::new(20);
    sim.registry_broken = true;
    sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    assert_eq!(sim.fatal.len(), 1);
    assert!(sim.fatal[0].starts_with("Failed to update the registry"));
}

/// master_validation_tests.cpp `TaskValidationTest.TaskReusesUnreachableTaskID`:
/// the id of a task on an unreachable agent cannot be reused.
#[test]
fn an_unreachable_tasks_id_cannot_be_reused() {
    let mut sim = SimCluster::new(21);
    let a = sim.add_agent(AgentSpec::default());
    let b = sim.add_agent(AgentSpec::default());
    let f = sim.add_framework(framework_info("fw", true), Dialect::Calls);
    sim.run_for(secs(2));
    launch_on(&mut sim, f, a, "t1");
    sim.agent_mut(a).mute_pings = true;
    sim.run_for(secs(100));
    assert_eq!(sim.framework(f).last_state("t1"), Some(TaskState::TaskUnreachable));
    sim.run_for(secs(5));
    let agent_b = sim.agent(b).id.clone().unwrap();
    let offer = sim.framework(f).offers.iter().find(|o| o.slave_id == agent_b).unwrap().clone();
    let launch = sim.framework(f).launch(
        std::slice::from_ref(&offer.id),
        vec![command_task("t1", &offer, "cpus:1;mem:64")],
        None,
    );
    sim.send(f, launch);
    sim.run_for(secs(1));
    let status = sim.framework(f).updates_for("t1").last().cloned().cloned().unwrap();
    assert_eq!(status.state, TaskState::TaskError as i32);
    assert_eq!(status.message.as_deref(), Some("Task reuses the ID of an unreachable task: t1"));
}
