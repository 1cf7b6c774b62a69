//! Simulation tests of the agent's state machine (no sockets, no processes,
//! virtual time): the master and the executors are played by the test, the
//! containerizer is the scripted mock. Each test names the Mesos behaviour it
//! pins down (`src/slave/slave.cpp` unless said otherwise).

#[path = "agent_sim/harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use mesos_rs::agent::containerizer::mock::{exited, MockBehavior};
use mesos_rs::agent::containerizer::{ContainerError, Termination};
use mesos_rs::agent::core::{AgentState, ApiResponse, RecoverMode};
use mesos_rs::agent::paths;
use mesos_rs::proto::mesos::executor;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{task_status::Reason, ExecutorId, FrameworkId, Resource, SlaveId, TaskId, TaskState};

// ---------------------------------------------------------------------------
// Registration (doReliableRegistration, registered, reregistered, ping)

#[test]
fn registers_with_backoff_and_checkpoints_the_agent_info() {
    let mut sim = Sim::start("register", 1);
    assert_eq!(sim.agent.state(), AgentState::Disconnected);
    // The first attempt comes within [0, backoff_factor]; unanswered ones
    // are retried with an exponentially growing bound (at most 1 minute).
    let t0 = sim.now;
    let first: mi::RegisterSlaveMessage = sim.run_until_sent(&master_pid());
    assert!(sim.now.since(t0) <= Duration::from_secs(1));
    assert_eq!(first.version.as_deref(), Some("1.11.0"));
    assert_eq!(first.slave.hostname, "agent.example");
    assert_eq!(first.slave.port, Some(5051));
    assert!(first.slave.id.is_none());
    let mut gaps = Vec::new();
    for _ in 0..8 {
        let before = sim.now;
        let _: mi::RegisterSlaveMessage = sim.run_until_sent(&master_pid());
        gaps.push(sim.now.since(before));
    }
    // Attempt n waits at most min(2^n, 60) seconds.
    for (n, gap) in gaps.iter().enumerate() {
        let bound = Duration::from_secs((2u64 << n).min(60));
        assert!(*gap <= bound, "attempt {n}: {gap:?} > {bound:?}");
    }
    assert!(sim.links.contains(&master_pid()));

    sim.master_sends(mi::SlaveRegisteredMessage { slave_id: SlaveId { value: AGENT_ID.into() }, connection: None });
    assert_eq!(sim.agent.state(), AgentState::Running);
    assert_eq!(sim.agent.info().id.as_ref().unwrap().value, AGENT_ID);
    let info_path = paths::agent_info_path(&sim.meta(), AGENT_ID);
    assert!(info_path.exists());
    assert_eq!(
        std::fs::read_link(paths::latest_agent_path(&sim.meta())).unwrap(),
        paths::agent_path(&sim.meta(), AGENT_ID)
    );
    // Mesos follows registration with an UpdateSlaveMessage.
    assert_eq!(sim.sent_to::<mi::UpdateSlaveMessage>(&master_pid()).len(), 1);
    // No more attempts once registered.
    let attempts = sim.sent::<mi::RegisterSlaveMessage>().len();
    sim.run_for(Duration::from_secs(30));
    assert_eq!(sim.sent::<mi::RegisterSlaveMessage>().len(), attempts);
    cleanup(sim);
}

#[test]
fn registration_replies_from_anyone_but_the_master_are_ignored() {
    let mut sim = Sim::start("register-impostor", 2);
    let _: mi::RegisterSlaveMessage = sim.run_until_sent(&master_pid());
    let impostor = other_master_pid();
    sim.peer_sends(&impostor, mi::SlaveRegisteredMessage { slave_id: SlaveId { value: "X".into() }, connection: None });
    assert_eq!(sim.agent.state(), AgentState::Disconnected);
    assert!(sim.agent.info().id.is_none());
    cleanup(sim);
}

#[test]
fn reregisters_with_a_new_master_after_failover_with_its_tasks() {
    let mut sim = Sim::start("failover", 3);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    sim.master_sends(run_task(&fw, command_task("T2", "sleep 100")));
    // The old master goes away; a new one is elected.
    sim.elect(Some(other_master_pid()));
    assert_eq!(sim.agent.state(), AgentState::Disconnected);
    let message: mi::ReregisterSlaveMessage = sim.run_until_sent(&other_master_pid());
    assert_eq!(message.slave.id.as_ref().unwrap().value, AGENT_ID);
    let mut tasks: Vec<(String, TaskState)> =
        message.tasks.iter().map(|t| (t.task_id.value.clone(), t.state())).collect();
    tasks.sort();
    assert_eq!(tasks, vec![("T1".into(), TaskState::TaskStaging), ("T2".into(), TaskState::TaskStaging)]);
    assert_eq!(message.frameworks.len(), 1);
    // Only the custom executor is reported; the command executor is the
    // agent's own business.
    let executors: Vec<&str> = message.executor_infos.iter().map(|e| e.executor_id.value.as_str()).collect();
    assert_eq!(executors, vec!["E1"]);
    assert_eq!(message.executor_infos[0].framework_id.as_ref().unwrap().value, "F1");

    sim.peer_sends(
        &other_master_pid(),
        mi::SlaveReregisteredMessage {
            slave_id: SlaveId { value: AGENT_ID.into() },
            reconciliations: vec![mi::ReconcileTasksMessage {
                framework_id: FrameworkId { value: "F1".into() },
                statuses: vec![mesos_rs::proto::mesos::TaskStatus {
                    task_id: TaskId { value: "ghost".into() },
                    ..Default::default()
                }],
                framework: Some(fw.clone()),
            }],
            connection: None,
        },
    );
    assert_eq!(sim.agent.state(), AgentState::Running);
    // A task the master knows and the agent does not is reported lost.
    let ghost = forwarded(&sim, "ghost");
    assert_eq!(ghost.len(), 1);
    assert_eq!(ghost[0].update.status.state(), TaskState::TaskLost);
    assert_eq!(ghost[0].update.status.reason(), Reason::Reconciliation);
    cleanup(sim);
}

#[test]
fn without_pings_the_agent_redetects_and_reregisters() {
    let mut sim = Sim::start("ping", 4);
    sim.register();
    // Pings keep it registered.
    for _ in 0..5 {
        sim.run_for(Duration::from_secs(15));
        sim.master_sends(mi::PingSlaveMessage { connected: true });
    }
    assert_eq!(sim.sent_to::<mi::PongSlaveMessage>(&master_pid()).len(), 5);
    assert_eq!(sim.agent.state(), AgentState::Running);
    // 75 seconds of silence: re-detect, then reregister (it has an id).
    sim.run_for(Duration::from_secs(76));
    assert_eq!(sim.agent.state(), AgentState::Disconnected);
    let _: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    // A master saying "you are not connected" forces reregistration too.
    sim.master_sends(reregistered());
    assert_eq!(sim.agent.state(), AgentState::Running);
    sim.master_sends(mi::PingSlaveMessage { connected: false });
    assert_eq!(sim.agent.state(), AgentState::Disconnected);
    let _: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    cleanup(sim);
}

#[test]
fn a_shutdown_message_from_the_master_shuts_executors_down_and_exits() {
    let mut sim = Sim::start("shutdown", 5);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    sim.master_sends(mi::ShutdownMessage { message: Some("removed".into()) });
    assert_eq!(sim.agent.state(), AgentState::Terminating);
    assert!(sim.exits.is_empty(), "waits for the executor to go");
    // The executor never registered: after the grace period it is killed.
    sim.run_for(Duration::from_secs(6));
    assert_eq!(sim.mock.destroyed().len(), 1);
    assert_eq!(sim.exits, vec![(0, "Agent terminating".to_string())]);
    cleanup(sim);
}

// ---------------------------------------------------------------------------
// Running tasks (runTask, launchExecutor, registerExecutor, ___run)

#[test]
fn a_command_task_gets_the_command_executor_the_sandbox_and_the_mesos_environment() {
    let mut sim = Sim::start("command-task", 6);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, command_task("T1", "echo hello world and more")));
    let launches = sim.mock.launches();
    assert_eq!(launches.len(), 1);
    let c = &launches[0];
    let exec = &c.executor_info;
    assert_eq!(exec.executor_id.value, "T1");
    assert_eq!(exec.name(), "Command Executor (Task: T1) (Command: sh -c 'echo hello w...')");
    let command = exec.command.as_ref().unwrap();
    assert_eq!(command.value(), "/usr/libexec/mesos/mesos-executor");
    assert_eq!(command.arguments, vec!["mesos-executor", "--launcher_dir=/usr/libexec/mesos"]);
    assert!(!command.shell());
    // The container gets the executor's overhead plus the task's resources.
    let total = mesos_rs::common::resources::Resources::from_protos(&c.resources);
    assert_eq!(total.cpus(), Some(1.1));
    assert_eq!(total.mem(), Some(160 * 1024 * 1024));
    assert_eq!(c.task_info.as_ref().unwrap().task_id.value, "T1");
    let run = paths::RunIds {
        agent: AGENT_ID.into(),
        framework: "F1".into(),
        executor: "T1".into(),
        container: c.container_id.value.clone(),
    };
    assert_eq!(c.directory, paths::run_path(&sim.work_dir, &run));
    let env = &c.environment;
    assert_eq!(env["MESOS_FRAMEWORK_ID"], "F1");
    assert_eq!(env["MESOS_EXECUTOR_ID"], "T1");
    assert_eq!(env["MESOS_SLAVE_ID"], AGENT_ID);
    assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@10.0.0.9:5051");
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "10.0.0.9:5051");
    assert_eq!(env["MESOS_DIRECTORY"], c.directory.display().to_string());
    assert_eq!(env["MESOS_SANDBOX"], c.directory.display().to_string());
    assert_eq!(env["MESOS_CHECKPOINT"], "1");
    assert_eq!(env["MESOS_RECOVERY_TIMEOUT"], "15mins");
    assert_eq!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "2secs");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "0");
    assert_eq!(env["LIBPROCESS_PORT"], "0");
    // Checkpoints: framework, executor, task (STAGING).
    let meta = sim.meta();
    assert!(paths::framework_info_path(&meta, AGENT_ID, "F1").exists());
    assert_eq!(
        std::fs::read_to_string(paths::framework_pid_path(&meta, AGENT_ID, "F1")).unwrap(),
        "scheduler(1)@10.0.0.5:7000"
    );
    assert!(paths::executor_info_path(&meta, AGENT_ID, "F1", "T1").exists());
    assert_eq!(
        std::fs::read_to_string(paths::generated_for_command_task_path(&meta, AGENT_ID, "F1", "T1")).unwrap(),
        "1"
    );
    assert!(paths::task_info_path(&meta, &run, "T1").exists());
    assert_eq!(std::fs::read_to_string(paths::forked_pid_path(&meta, &run)).unwrap(), "1000");
    cleanup(sim);
}

/// A registered agent running task T1 of framework F1 (checkpointing) on
/// a registered v0 executor E1, whose TASK_RUNNING was acknowledged.
fn running_v0_task(name: &str, seed: u64) -> (Sim, mesos_rs::v0_compat::Upid) {
    let mut sim = Sim::start(name, seed);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    let running = executor_update("F1", "E1", "T1", TaskState::TaskRunning, 1);
    sim.peer_sends(&pid, status_update_message(running.clone(), &pid));
    sim.master_sends(ack(&running));
    (sim, pid)
}

/// Plays a v0 executor through registration; returns its pid.
fn register_v0_executor(sim: &mut Sim, framework_id: &str, executor_id: &str, n: u16) -> mesos_rs::v0_compat::Upid {
    let pid = executor_pid(n);
    sim.peer_sends(
        &pid,
        mi::RegisterExecutorMessage {
            framework_id: FrameworkId { value: framework_id.into() },
            executor_id: ExecutorId { value: executor_id.into() },
        },
    );
    pid
}

#[test]
fn a_v0_executor_registers_runs_its_task_and_updates_flow_in_order_until_acknowledged() {
    let mut sim = Sim::start("v0-flow", 7);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    let registered = sim.sent_to::<mi::ExecutorRegisteredMessage>(&pid);
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].slave_id.value, AGENT_ID);
    assert_eq!(registered[0].framework_id.value, "F1");
    let runs = sim.sent_to::<mi::RunTaskMessage>(&pid);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].task.task_id.value, "T1");
    assert_eq!(runs[0].pid.as_deref(), Some("scheduler(1)@10.0.0.5:7000"));
    let run = paths::RunIds {
        agent: AGENT_ID.into(),
        framework: "F1".into(),
        executor: "E1".into(),
        container: sim.container_of("E1"),
    };
    assert_eq!(std::fs::read_to_string(paths::libprocess_pid_path(&sim.meta(), &run)).unwrap(), pid.to_string());

    // RUNNING, then FINISHED, and a duplicate RUNNING.
    let running = executor_update("F1", "E1", "T1", TaskState::TaskRunning, 1);
    let finished = executor_update("F1", "E1", "T1", TaskState::TaskFinished, 2);
    sim.peer_sends(&pid, status_update_message(running.clone(), &pid));
    sim.peer_sends(&pid, status_update_message(finished.clone(), &pid));
    sim.peer_sends(&pid, status_update_message(running.clone(), &pid));
    // The executor gets an ack for each (the agent has them safe)...
    let acks: Vec<u8> = sim.sent_to::<mi::StatusUpdateAcknowledgementMessage>(&pid).iter().map(|a| a.uuid[0]).collect();
    assert_eq!(acks, vec![1, 2, 1]);
    // ...the master only sees the head of the stream.
    assert_eq!(forwarded_states(&sim, "T1"), vec![TaskState::TaskRunning]);
    let forwarded = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(forwarded[0].pid.as_deref(), Some("slave(1)@10.0.0.9:5051"));
    // `latest_state` is the task's state when the update leaves.
    assert_eq!(forwarded[0].update.latest_state, Some(TaskState::TaskRunning as i32));
    assert_eq!(forwarded[0].update.status.source(), mesos_rs::proto::mesos::task_status::Source::Executor);
    // Unacknowledged, it is resent after 10s, then 20s.
    sim.run_for(Duration::from_secs(10));
    assert_eq!(forwarded_states(&sim, "T1"), vec![TaskState::TaskRunning; 2]);
    let retried = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid()).pop().unwrap();
    assert_eq!(retried.update.latest_state, Some(TaskState::TaskFinished as i32));
    sim.run_for(Duration::from_secs(19));
    assert_eq!(forwarded_states(&sim, "T1").len(), 2);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(forwarded_states(&sim, "T1").len(), 3);
    // The acknowledgement releases the next update at once.
    sim.master_sends(ack(&running));
    assert_eq!(forwarded_states(&sim, "T1").last(), Some(&TaskState::TaskFinished));
    // A duplicate acknowledgement changes nothing.
    sim.master_sends(ack(&running));
    assert_eq!(forwarded_states(&sim, "T1").len(), 4);
    sim.master_sends(ack(&finished));
    // The task is complete; the record file has 2 updates and 2 acks.
    let executor = sim.agent.executor("F1", "E1").unwrap();
    assert_eq!(executor.completed_tasks.len(), 1);
    assert!(executor.terminated_tasks.is_empty());
    let bytes = std::fs::read(paths::task_updates_path(&sim.meta(), &run, "T1")).unwrap();
    let mut records = 0;
    let mut at = 0;
    while at < bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + n;
        records += 1;
    }
    assert_eq!(records, 4);
    // Nothing more is sent for the task.
    sim.run_for(Duration::from_secs(600));
    assert_eq!(forwarded_states(&sim, "T1").len(), 4);
    cleanup(sim);
}

#[test]
fn kill_task_reaches_the_executor_and_queued_tasks_are_killed_by_the_agent() {
    let mut sim = Sim::start("kill", 8);
    sim.register();
    let fw = framework("F1", false);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    // Killed before the executor registers: TASK_KILLED from the agent.
    sim.master_sends(kill("F1", "T1"));
    let updates = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].update.status.state(), TaskState::TaskKilled);
    assert_eq!(updates[0].update.status.reason(), Reason::TaskKilledDuringLaunch);
    // The executor, when it registers with nothing to run, is shut down.
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    assert_eq!(sim.sent_to::<mi::ShutdownExecutorMessage>(&pid).len(), 1);
    assert!(sim.sent_to::<mi::ExecutorRegisteredMessage>(&pid).is_empty());

    // A second executor with a running task: the kill goes to it.
    sim.master_sends(run_task(&fw, custom_task("T2", "E2")));
    let pid2 = register_v0_executor(&mut sim, "F1", "E2", 2);
    sim.peer_sends(&pid2, status_update_message(executor_update("F1", "E2", "T2", TaskState::TaskRunning, 3), &pid2));
    sim.master_sends(kill("F1", "T2"));
    let kills = sim.sent_to::<mi::KillTaskMessage>(&pid2);
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].task_id.value, "T2");
    // Killing an unknown task: TASK_LOST (not partition aware).
    sim.master_sends(kill("F1", "nope"));
    let lost = forwarded(&sim, "nope");
    assert_eq!(lost[0].update.status.state(), TaskState::TaskLost);
    cleanup(sim);
}

#[test]
fn an_executor_that_never_registers_is_killed_and_its_tasks_fail() {
    let mut sim = Sim::start("reg-timeout", 9);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    sim.run_for(Duration::from_secs(59));
    assert!(sim.mock.destroyed().is_empty());
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.mock.destroyed().len(), 1);
    let updates = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(updates.len(), 1);
    let status = &updates[0].update.status;
    assert_eq!(status.state(), TaskState::TaskFailed);
    assert_eq!(status.reason(), Reason::ExecutorRegistrationTimeout);
    assert_eq!(status.message(), "Executor did not register within 1mins");
    // A custom executor's exit is reported to the master.
    let exited = sim.sent_to::<mi::ExitedExecutorMessage>(&master_pid());
    assert_eq!(exited.len(), 1);
    assert_eq!(exited[0].executor_id.value, "E1");
    cleanup(sim);
}

#[test]
fn container_limits_and_launch_failures_become_the_tasks_terminal_updates() {
    let mut sim = Sim::start("limits", 10);
    sim.register();
    let fw = framework("F1", false);
    // A launch failure (e.g. a fetch failure).
    sim.mock.script_next(MockBehavior::FailLaunch(ContainerError::FetchFailed("Failed to fetch all URIs".into())));
    sim.master_sends(run_task(&fw, command_task("T1", "true")));
    let updates = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(updates.len(), 1);
    let status = &updates[0].update.status;
    assert_eq!(status.state(), TaskState::TaskFailed);
    assert_eq!(status.reason(), Reason::ContainerLaunchFailed);
    assert!(
        status.message().starts_with("Failed to launch container: Failed to fetch all URIs"),
        "{}",
        status.message()
    );
    // Command executors' exits are not reported to the master.
    assert!(sim.sent::<mi::ExitedExecutorMessage>().is_empty());

    // An OOM kill reported by the containerizer.
    sim.master_sends(run_task(&fw, command_task("T2", "eat-memory")));
    let container = sim.container_of("T2");
    let mem = resources("mem:128");
    sim.mock.exit(
        &container,
        Termination {
            status: Some(9),
            state: Some(TaskState::TaskFailed),
            reason: Some(Reason::ContainerLimitationMemory),
            message: Some("Memory limit exceeded: Requested: 160MB Maximum Used: 161MB".into()),
            limited_resources: mem.clone(),
        },
    );
    sim.run_for(Duration::from_millis(1));
    let updates = forwarded(&sim, "T2");
    assert_eq!(updates.len(), 1);
    let status = &updates[0].update.status;
    assert_eq!(status.state(), TaskState::TaskFailed);
    assert_eq!(status.reason(), Reason::ContainerLimitationMemory);
    assert_eq!(status.limitation.as_ref().unwrap().resources, mem);
    assert!(status.message().contains("Memory limit exceeded"));
    cleanup(sim);
}

#[test]
fn shutdown_framework_shuts_its_executors_down_and_forgets_it() {
    let mut sim = Sim::start("shutdown-fw", 11);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    sim.master_sends(mi::ShutdownFrameworkMessage { framework_id: FrameworkId { value: "F1".into() } });
    assert_eq!(sim.sent_to::<mi::ShutdownExecutorMessage>(&pid).len(), 1);
    // The executor does not exit by itself: killed after the grace period.
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.mock.destroyed().len(), 1);
    assert!(sim.agent.frameworks().is_empty());
    assert_eq!(sim.agent.completed_frameworks().len(), 1);
    // The run is marked over in the checkpoints.
    let run = paths::RunIds {
        agent: AGENT_ID.into(),
        framework: "F1".into(),
        executor: "E1".into(),
        container: sim.container_of("E1"),
    };
    assert!(paths::sentinel_path(&sim.meta(), &run).exists());
    cleanup(sim);
}

#[test]
fn framework_messages_flow_both_ways() {
    let mut sim = Sim::start("messages", 12);
    sim.register();
    let fw = framework("F1", false);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    sim.master_sends(mi::FrameworkToExecutorMessage {
        slave_id: SlaveId { value: AGENT_ID.into() },
        framework_id: FrameworkId { value: "F1".into() },
        executor_id: ExecutorId { value: "E1".into() },
        data: b"ping".to_vec(),
    });
    assert_eq!(sim.sent_to::<mi::FrameworkToExecutorMessage>(&pid)[0].data, b"ping");
    sim.peer_sends(
        &pid,
        mi::ExecutorToFrameworkMessage {
            slave_id: SlaveId { value: AGENT_ID.into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId { value: "E1".into() },
            data: b"pong".to_vec(),
        },
    );
    // A v0 scheduler gets it directly.
    let scheduler: mesos_rs::v0_compat::Upid = "scheduler(1)@10.0.0.5:7000".parse().unwrap();
    assert_eq!(sim.sent_to::<mi::ExecutorToFrameworkMessage>(&scheduler)[0].data, b"pong");
    assert_eq!(sim.agent.metrics().valid_framework_messages, 2);
    cleanup(sim);
}

// ---------------------------------------------------------------------------
// The v1 executor API (Http::executor, Slave::subscribe)

fn subscribe_call(framework_id: &str, executor_id: &str, subscribe: executor::call::Subscribe) -> executor::Call {
    let mut call = executor::Call {
        executor_id: ExecutorId { value: executor_id.into() },
        framework_id: FrameworkId { value: framework_id.into() },
        subscribe: Some(subscribe),
        ..Default::default()
    };
    call.set_type(executor::call::Type::Subscribe);
    call
}

fn update_call(update: &mi::StatusUpdate) -> executor::Call {
    let mut call = executor::Call {
        executor_id: update.executor_id.clone().unwrap(),
        framework_id: update.framework_id.clone(),
        update: Some(executor::call::Update { status: update.status.clone() }),
        ..Default::default()
    };
    call.set_type(executor::call::Type::Update);
    call
}

#[test]
fn an_http_executor_subscribes_gets_its_tasks_and_acknowledgements() {
    use executor::event::Type as E;
    let mut sim = Sim::start("v1-flow", 13);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, command_task("T1", "sleep 1")));
    // Calls other than SUBSCRIBE are refused before subscribing.
    let (r, _) = sim.executor_call(update_call(&executor_update("F1", "T1", "T1", TaskState::TaskRunning, 1)));
    assert_eq!(sim.responses[&r], ApiResponse::Error(403, "Executor is not subscribed".into()));
    let (r, _) = sim.executor_call(subscribe_call("F9", "T1", Default::default()));
    assert_eq!(sim.responses[&r], ApiResponse::Error(400, "Framework cannot be found".into()));

    let (r, stream) = sim.executor_call(subscribe_call("F1", "T1", Default::default()));
    let stream = stream.unwrap();
    assert_eq!(sim.responses[&r], ApiResponse::Stream);
    assert_eq!(sim.stream_events(stream), vec![E::Subscribed, E::Launch]);
    let subscribed = sim.streams[&stream][0].subscribed.clone().unwrap();
    assert_eq!(subscribed.container_id.unwrap().value, sim.container_of("T1"));
    assert_eq!(subscribed.slave_info.id.unwrap().value, AGENT_ID);
    let run = paths::RunIds {
        agent: AGENT_ID.into(),
        framework: "F1".into(),
        executor: "T1".into(),
        container: sim.container_of("T1"),
    };
    assert!(paths::http_marker_path(&sim.meta(), &run).exists());

    let running = executor_update("F1", "T1", "T1", TaskState::TaskRunning, 1);
    let (r, _) = sim.executor_call(update_call(&running));
    assert_eq!(sim.responses[&r], ApiResponse::Accepted);
    assert_eq!(sim.stream_events(stream), vec![E::Subscribed, E::Launch, E::Acknowledged]);
    assert_eq!(sim.streams[&stream][2].acknowledged.as_ref().unwrap().uuid, vec![1; 16]);
    assert_eq!(forwarded_states(&sim, "T1"), vec![TaskState::TaskRunning]);

    // A kill becomes a KILL event; a message a MESSAGE event.
    sim.master_sends(kill("F1", "T1"));
    sim.master_sends(mi::FrameworkToExecutorMessage {
        slave_id: SlaveId { value: AGENT_ID.into() },
        framework_id: FrameworkId { value: "F1".into() },
        executor_id: ExecutorId { value: "T1".into() },
        data: b"hi".to_vec(),
    });
    assert_eq!(sim.stream_events(stream)[3..], [E::Kill, E::Message]);
    // A second SUBSCRIBE replaces the first stream.
    let (_, second) = sim.executor_call(subscribe_call("F1", "T1", Default::default()));
    assert!(sim.closed_streams.contains(&stream));
    assert_eq!(sim.stream_events(second.unwrap())[0], E::Subscribed);
    cleanup(sim);
}

// ---------------------------------------------------------------------------
// Recovery (Slave::recover, _recover, __recover)

#[test]
fn a_restarted_agent_recovers_its_tasks_and_delivers_updates_sent_meanwhile_exactly_once() {
    let (mut sim, pid) = running_v0_task("restart-v0", 14);
    // The executor sends FINISHED; the agent checkpoints it, forwards it,
    // acks the executor... and dies before the master's acknowledgement.
    let finished = executor_update("F1", "E1", "T1", TaskState::TaskFinished, 2);
    sim.peer_sends(&pid, status_update_message(finished.clone(), &pid));
    assert_eq!(forwarded_states(&sim, "T1"), vec![TaskState::TaskRunning, TaskState::TaskFinished]);
    let container = sim.container_of("E1");

    sim.restart();
    assert_eq!(sim.agent.state(), AgentState::Recovering);
    // The container was handed back to the containerizer.
    let recovered = sim.mock.recoveries().last().unwrap().clone();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].container_id.value, container);
    assert_eq!(recovered[0].pid, Some(1000));
    // The v0 executor is asked to reconnect.
    let reconnects = sim.sent_to::<mi::ReconnectExecutorMessage>(&pid);
    assert_eq!(reconnects.len(), 1);
    // It reregisters, resending the update it has no ack for... which it
    // had (so none), but let it resend FINISHED anyway (a duplicate).
    sim.peer_sends(
        &pid,
        mi::ReregisterExecutorMessage {
            executor_id: ExecutorId { value: "E1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            tasks: vec![],
            updates: vec![finished.clone()],
        },
    );
    assert_eq!(sim.sent_to::<mi::ExecutorReregisteredMessage>(&pid).len(), 1);
    // After the reregistration window, the agent reregisters with the
    // master and resends the unacknowledged FINISHED once.
    sim.run_for(Duration::from_secs(2));
    let reregister: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    assert_eq!(reregister.tasks.len(), 1);
    assert_eq!(reregister.tasks[0].state(), TaskState::TaskFinished);
    sim.master_sends(reregistered());
    let states = forwarded_states(&sim, "T1");
    assert_eq!(states, vec![TaskState::TaskRunning, TaskState::TaskFinished, TaskState::TaskFinished]);
    sim.master_sends(ack(&finished));
    sim.run_for(Duration::from_secs(1200));
    assert_eq!(forwarded_states(&sim, "T1").len(), 3, "nothing after the acknowledgement");
    // RUNNING (acknowledged before the restart) was never resent.
    assert_eq!(forwarded_states(&sim, "T1").iter().filter(|s| **s == TaskState::TaskRunning).count(), 1);
    // The container keeps running: the executor is alive.
    assert!(sim.mock.running().contains_key(&container));
    cleanup(sim);
}

#[test]
fn updates_an_http_executor_sent_while_the_agent_was_down_arrive_when_it_resubscribes() {
    use executor::event::Type as E;
    let mut sim = Sim::start("restart-v1", 15);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, command_task("T1", "sleep 100")));
    let (_, stream) = sim.executor_call(subscribe_call("F1", "T1", Default::default()));
    let running = executor_update("F1", "T1", "T1", TaskState::TaskRunning, 1);
    sim.executor_call(update_call(&running));
    sim.master_sends(ack(&running));
    assert!(sim.stream_events(stream.unwrap()).contains(&E::Acknowledged));

    sim.restart();
    // Before the containerizer recovered: 503.
    // (Recovery is synchronous in the simulation; it already happened.)
    assert!(sim.agent.executor_api_ready());
    // The executor resubscribes with the update it could not send.
    let finished = executor_update("F1", "T1", "T1", TaskState::TaskFinished, 2);
    let subscribe = executor::call::Subscribe {
        unacknowledged_tasks: vec![],
        unacknowledged_updates: vec![executor::call::Update { status: finished.status.clone() }],
    };
    let (r, stream) = sim.executor_call(subscribe_call("F1", "T1", subscribe));
    assert_eq!(sim.responses[&r], ApiResponse::Stream);
    let events = sim.stream_events(stream.unwrap());
    // The agent acknowledges the replayed update, then says SUBSCRIBED; no
    // task is relaunched.
    assert_eq!(events, vec![E::Acknowledged, E::Subscribed]);
    sim.run_for(Duration::from_secs(2));
    let _: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    sim.master_sends(reregistered());
    assert_eq!(forwarded_states(&sim, "T1"), vec![TaskState::TaskRunning, TaskState::TaskFinished]);
    sim.master_sends(ack(&finished));
    sim.run_for(Duration::from_secs(1200));
    assert_eq!(forwarded_states(&sim, "T1").len(), 2);
    cleanup(sim);
}

#[test]
fn executors_that_do_not_come_back_are_killed_and_their_tasks_reported_lost() {
    let (mut sim, _) = running_v0_task("restart-gone", 16);
    sim.restart();
    // No reregistration within 2 seconds.
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.mock.destroyed().len(), 1);
    let _: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    sim.master_sends(reregistered());
    let updates: Vec<_> = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    let last = &updates.last().unwrap().update.status;
    assert_eq!(last.state(), TaskState::TaskLost);
    assert_eq!(last.reason(), Reason::ExecutorReregistrationTimeout);
    assert_eq!(last.message(), "Executor did not reregister within 2secs");
    cleanup(sim);
}

#[test]
fn recover_cleanup_kills_executors_and_exits() {
    let mut sim = Sim::start("cleanup", 17);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    sim.restart_with(|c| c.recover = RecoverMode::Cleanup);
    assert_eq!(sim.sent_to::<mi::ShutdownExecutorMessage>(&pid).len(), 1);
    assert_eq!(sim.agent.state(), AgentState::Terminating);
    assert!(sim.exits.is_empty());
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.exits.len(), 1);
    assert_eq!(sim.exits[0].0, 0);
    // It never talked to a master.
    assert!(sim.sent::<mi::ReregisterSlaveMessage>().is_empty());
    cleanup(sim);
}

#[test]
fn an_incompatible_agent_info_is_refused_unless_cleanup_which_forgets_the_agent() {
    let mut sim = Sim::start("incompatible", 18);
    sim.register();
    let changed: Vec<Resource> = resources("cpus:8;mem:4096;disk:10000;ports:[31000-32000]");
    sim.restart_with(|c| c.resources = changed.clone());
    assert_eq!(sim.exits.len(), 1);
    assert_eq!(sim.exits[0].0, 1);
    assert!(sim.exits[0].1.contains("Incompatible agent info detected"), "{}", sim.exits[0].1);
    assert!(sim.exits[0].1.contains("rm -f"));
    // The additive policy accepts more resources and keeps the agent id.
    sim.restart_with(|c| {
        c.resources = changed.clone();
        c.reconfiguration_policy = mesos_rs::agent::core::ReconfigurationPolicy::Additive;
    });
    assert!(sim.exits.is_empty());
    assert_eq!(sim.agent.info().id.as_ref().unwrap().value, AGENT_ID);
    // With --recover=cleanup the old identity is cleaned up and forgotten:
    // the next start registers as a new agent.
    sim.restart_with(|c| {
        c.resources = resources("cpus:2;mem:1024");
        c.recover = RecoverMode::Cleanup;
    });
    assert_eq!(sim.exits.len(), 1);
    assert_eq!(sim.exits[0].0, 0);
    assert!(!paths::latest_agent_path(&sim.meta()).exists());
    sim.restart_with(|c| c.recover = RecoverMode::Reconnect);
    assert!(sim.exits.is_empty(), "{:?}", sim.exits);
    let _: mi::RegisterSlaveMessage = sim.run_until_sent(&master_pid());
    cleanup(sim);
}

#[test]
fn tasks_of_an_executor_that_exits_are_failed_and_the_executor_cleaned_up() {
    let (mut sim, _) = running_v0_task("executor-exit", 19);
    let container = sim.container_of("E1");
    sim.mock.exit(&container, exited(3));
    sim.run_for(Duration::from_millis(1));
    let update = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid()).last().unwrap().update.clone();
    assert_eq!(update.status.state(), TaskState::TaskFailed);
    assert_eq!(update.status.reason(), Reason::ExecutorTerminated);
    assert_eq!(update.status.message(), "Executor terminated");
    let exited = sim.sent_to::<mi::ExitedExecutorMessage>(&master_pid());
    assert_eq!(exited[0].status, 3 << 8);
    // Waits for the acknowledgement before cleaning up.
    assert!(sim.agent.executor("F1", "E1").is_some());
    sim.master_sends(ack(&update));
    assert!(sim.agent.frameworks().is_empty());
    cleanup(sim);
}

// ---------------------------------------------------------------------------
// Checkpointed resources and operations (checkpointResourceState,
// applyOperation)

/// `cpus:1` dynamically reserved to `web`.
fn reserved_cpu() -> Resource {
    use mesos_rs::proto::mesos::resource::{reservation_info::Type, ReservationInfo};
    let mut r = resources("cpus:1").remove(0);
    r.reservations.push(ReservationInfo {
        r#type: Some(Type::Dynamic as i32),
        role: Some("web".into()),
        principal: Some("ops".into()),
        labels: None,
    });
    r
}

#[test]
fn checkpointed_resources_are_persisted_applied_and_required_by_tasks() {
    let mut sim = Sim::start("checkpoint-resources", 20);
    sim.register();
    #[allow(deprecated)]
    let web = mesos_rs::proto::mesos::FrameworkInfo { role: Some("web".into()), ..framework("F1", true) };
    // A task using a reservation the agent does not know is refused.
    let mut task = command_task("T1", "true");
    task.resources = vec![reserved_cpu()];
    sim.master_sends(run_task(&web, task.clone()));
    let refused = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].update.status.reason(), Reason::ResourcesUnknown);
    assert_eq!(refused[0].update.status.state(), TaskState::TaskLost);
    assert!(sim.mock.launches().is_empty());

    sim.master_sends(mi::CheckpointResourcesMessage { resources: vec![reserved_cpu()] });
    let total = sim.agent.total_resources().clone();
    assert_eq!(total.reserved(Some("web")).cpus(), Some(1.0));
    assert_eq!(total.unreserved().cpus(), Some(3.0));
    assert!(paths::resources_info_path(&sim.meta()).exists());
    assert!(paths::resource_state_path(&sim.meta()).exists());
    task.task_id.value = "T2".into();
    sim.master_sends(run_task(&web, task));
    assert_eq!(sim.mock.launches().len(), 1);

    // A restarted agent recovers them (and sends them when reregistering).
    sim.restart();
    assert_eq!(sim.agent.total_resources().reserved(Some("web")).cpus(), Some(1.0));
    sim.run_for(Duration::from_secs(2));
    let reregister: mi::ReregisterSlaveMessage = sim.run_until_sent(&master_pid());
    assert_eq!(reregister.checkpointed_resources.len(), 1);
    cleanup(sim);
}

#[test]
fn speculative_operations_are_applied_and_reported_finished() {
    use mesos_rs::proto::mesos::offer::{operation, Operation};
    let mut sim = Sim::start("operations", 21);
    sim.register();
    let mut operation = Operation {
        id: Some(mesos_rs::proto::mesos::OperationId { value: "op-1".into() }),
        reserve: Some(operation::Reserve { source: vec![], resources: vec![reserved_cpu()] }),
        ..Default::default()
    };
    operation.set_type(operation::Type::Reserve);
    sim.master_sends(mi::ApplyOperationMessage {
        framework_id: Some(FrameworkId { value: "F1".into() }),
        operation_info: operation,
        operation_uuid: mesos_rs::proto::mesos::Uuid { value: vec![7; 16] },
        resource_version_uuid: Default::default(),
    });
    let updates = sim.sent_to::<mi::UpdateOperationStatusMessage>(&master_pid());
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].status.state(), mesos_rs::proto::mesos::OperationState::OperationFinished);
    assert_eq!(updates[0].operation_uuid.as_ref().unwrap().value, vec![7; 16]);
    assert_eq!(sim.agent.total_resources().reserved(Some("web")).cpus(), Some(1.0));
    // The reservation is checkpointed.
    let state = mesos_rs::agent::state::recover(&sim.meta(), true, None).unwrap();
    assert_eq!(state.resources.resources.len(), 1);
    cleanup(sim);
}

// ---------------------------------------------------------------------------
// Task groups, validation, scheduler failover

#[test]
fn a_task_group_is_launched_as_one_and_killed_as_one_before_delivery() {
    use executor::event::Type as E;
    use mesos_rs::proto::mesos::{executor_info::Type as ExecutorType, ExecutorInfo, TaskGroupInfo};
    let mut sim = Sim::start("task-group", 22);
    sim.register();
    let fw = framework("F1", true);
    let executor = ExecutorInfo {
        r#type: Some(ExecutorType::Default as i32),
        executor_id: ExecutorId { value: "E1".into() },
        framework_id: Some(FrameworkId { value: "F1".into() }),
        resources: resources("cpus:0.1;mem:32"),
        ..Default::default()
    };
    let group = |a: &str, b: &str| TaskGroupInfo { tasks: vec![command_task(a, "true"), command_task(b, "true")] };
    let run_group = |g: TaskGroupInfo| mi::RunTaskGroupMessage {
        framework: fw.clone(),
        executor: executor.clone(),
        task_group: g,
        resource_version_uuids: vec![],
        launch_executor: None,
    };
    sim.master_sends(run_group(group("A1", "A2")));
    sim.master_sends(run_group(group("B1", "B2")));
    // The default executor's command is filled in by the agent.
    let launch = &sim.mock.launches()[0];
    assert_eq!(launch.executor_info.command.as_ref().unwrap().value(), "/usr/libexec/mesos/mesos-default-executor");
    assert!(launch.task_info.is_none());
    // Killing one task of a queued group kills the group.
    sim.master_sends(kill("F1", "B2"));
    let killed: Vec<String> = sim
        .sent_to::<mi::StatusUpdateMessage>(&master_pid())
        .iter()
        .filter(|m| m.update.status.state() == TaskState::TaskKilled)
        .map(|m| m.update.status.task_id.value.clone())
        .collect();
    // Each task has its own stream: both kills go out at once.
    assert_eq!(killed, vec!["B1", "B2"]);
    let (_, stream) = sim.executor_call(subscribe_call("F1", "E1", Default::default()));
    let events = sim.streams[&stream.unwrap()].clone();
    let types: Vec<E> = events.iter().map(|e| e.r#type()).collect();
    assert_eq!(types, vec![E::Subscribed, E::LaunchGroup]);
    let launched: Vec<String> =
        events[1].launch_group.as_ref().unwrap().task_group.tasks.iter().map(|t| t.task_id.value.clone()).collect();
    assert_eq!(launched, vec!["A1", "A2"]);
    assert_eq!(forwarded_states(&sim, "B1"), vec![TaskState::TaskKilled]);
    assert_eq!(forwarded_states(&sim, "B2"), vec![TaskState::TaskKilled]);
    cleanup(sim);
}

#[test]
fn ids_that_are_not_directory_names_are_refused() {
    let mut sim = Sim::start("bad-ids", 23);
    sim.register();
    let fw = framework("F1", false);
    sim.master_sends(run_task(&fw, command_task("..", "true")));
    sim.master_sends(run_task(&fw, custom_task("T1", "a/b")));
    assert!(sim.mock.launches().is_empty());
    let updates = sim.sent_to::<mi::StatusUpdateMessage>(&master_pid());
    assert_eq!(updates.len(), 2);
    assert!(updates.iter().all(|u| u.update.status.reason() == Reason::TaskInvalid));
    cleanup(sim);
}

#[test]
fn a_failed_over_scheduler_gets_executor_messages_at_its_new_pid() {
    let mut sim = Sim::start("update-framework", 24);
    sim.register();
    let fw = framework("F1", true);
    sim.master_sends(run_task(&fw, custom_task("T1", "E1")));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    let new_scheduler: mesos_rs::v0_compat::Upid = "scheduler(2)@10.0.0.6:7001".parse().unwrap();
    sim.master_sends(mi::UpdateFrameworkMessage {
        framework_id: FrameworkId { value: "F1".into() },
        pid: Some(new_scheduler.to_string()),
        framework_info: None,
    });
    assert_eq!(
        std::fs::read_to_string(paths::framework_pid_path(&sim.meta(), AGENT_ID, "F1")).unwrap(),
        new_scheduler.to_string()
    );
    sim.peer_sends(
        &pid,
        mi::ExecutorToFrameworkMessage {
            slave_id: SlaveId { value: AGENT_ID.into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId { value: "E1".into() },
            data: b"hi".to_vec(),
        },
    );
    assert_eq!(sim.sent_to::<mi::ExecutorToFrameworkMessage>(&new_scheduler).len(), 1);
    // A v1 scheduler (no pid): through the master.
    sim.master_sends(mi::UpdateFrameworkMessage {
        framework_id: FrameworkId { value: "F1".into() },
        pid: Some(String::new()),
        framework_info: None,
    });
    sim.peer_sends(
        &pid,
        mi::ExecutorToFrameworkMessage {
            slave_id: SlaveId { value: AGENT_ID.into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId { value: "E1".into() },
            data: b"hi".to_vec(),
        },
    );
    assert_eq!(sim.sent_to::<mi::ExecutorToFrameworkMessage>(&master_pid()).len(), 1);
    cleanup(sim);
}

#[test]
fn an_executor_sending_staging_is_shut_down_with_its_own_grace_period() {
    let mut sim = Sim::start("staging", 25);
    sim.register();
    let fw = framework("F1", false);
    let mut task = custom_task("T1", "E1");
    task.executor.as_mut().unwrap().shutdown_grace_period =
        Some(mesos_rs::proto::mesos::DurationInfo { nanoseconds: 20_000_000_000 });
    sim.master_sends(run_task(&fw, task));
    let pid = register_v0_executor(&mut sim, "F1", "E1", 1);
    sim.peer_sends(&pid, status_update_message(executor_update("F1", "E1", "T1", TaskState::TaskStaging, 1), &pid));
    assert_eq!(sim.sent_to::<mi::ShutdownExecutorMessage>(&pid).len(), 1);
    assert!(forwarded_states(&sim, "T1").is_empty());
    // The executor's own grace period (20s), not the flag's (5s).
    sim.run_for(Duration::from_secs(19));
    assert!(sim.mock.destroyed().is_empty());
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.mock.destroyed().len(), 1);
    cleanup(sim);
}
