//! The executor driver over the real wire, against a fake agent played by
//! the test: registration, tasks, updates kept until acknowledged, framework
//! messages both ways, an agent restart with reconnection, and shutdown.
//!
//! Every environment here sets `MESOS_LOCAL`: without it a shut-down executor
//! driver kills its whole process group after the grace period, as Apache's
//! does, and that group would be the test runner's.

mod driver_support;

use std::collections::HashMap;

use driver_support::*;
use mesos_rs::driver::{ExecutorDriver, MesosExecutorDriver};
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, Status, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use mesos_rs::v0_compat::{Message, Upid};

fn env(agent: &Upid, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("MESOS_LOCAL", "1"),
        ("MESOS_SLAVE_ID", "S1"),
        ("MESOS_FRAMEWORK_ID", "F1"),
        ("MESOS_EXECUTOR_ID", "E1"),
        ("MESOS_DIRECTORY", "/tmp"),
        ("MESOS_INITIALIZE_DRIVER_LOGGING", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert("MESOS_SLAVE_PID".into(), agent.to_string());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

fn registered_message() -> mi::ExecutorRegisteredMessage {
    mi::ExecutorRegisteredMessage {
        executor_info: ExecutorInfo { executor_id: ExecutorId { value: "E1".into() }, ..Default::default() },
        framework_id: FrameworkId { value: "F1".into() },
        framework_info: FrameworkInfo { user: "u".into(), name: "fw".into(), ..Default::default() },
        slave_id: SlaveId { value: "S1".into() },
        slave_info: SlaveInfo { hostname: "agent".into(), ..Default::default() },
    }
}

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: "S1".into() },
        ..Default::default()
    }
}

fn recv_update(agent: &mut FakeProcess) -> (Upid, mi::StatusUpdateMessage) {
    agent.recv_where(|m| match m {
        Message::StatusUpdateMessage(u) => Some((**u).clone()),
        _ => None,
    })
}

fn ack(update: &mi::StatusUpdate) -> mi::StatusUpdateAcknowledgementMessage {
    mi::StatusUpdateAcknowledgementMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: FrameworkId { value: "F1".into() },
        task_id: update.status.task_id.clone(),
        uuid: update.uuid.clone().unwrap(),
    }
}

/// Runs tasks by answering each launch with TASK_RUNNING, and echoes
/// framework messages back reversed.
fn echoing_executor() -> (Box<ExecRecorder>, std::sync::mpsc::Receiver<ExecSeen>) {
    ExecRecorder::new(|driver, seen| match seen {
        ExecSeen::Launch(task) => {
            let status = TaskStatus {
                task_id: task.task_id.clone(),
                state: TaskState::TaskRunning as i32,
                ..Default::default()
            };
            assert_eq!(driver.send_status_update(&status), Status::DriverRunning);
        }
        ExecSeen::FrameworkMessage(data) => {
            let reversed: Vec<u8> = data.iter().rev().copied().collect();
            driver.send_framework_message(&reversed);
        }
        ExecSeen::Shutdown => {
            driver.stop();
        }
        _ => {}
    })
}

#[test]
fn registers_runs_tasks_and_exchanges_messages_with_its_agent() {
    init();
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let mut agent = agent_node.spawn("slave(1)");
    let (executor, rx) = echoing_executor();
    let driver = MesosExecutorDriver::with_environment(executor, env(&agent.pid(), &[]));
    assert_eq!(driver.start(), Status::DriverRunning);
    let pid = driver.pid().unwrap();
    assert!(pid.id().starts_with("executor("), "{pid}");

    let (from, register) = agent.recv_where(|m| match m {
        Message::RegisterExecutorMessage(r) => Some((**r).clone()),
        _ => None,
    });
    assert_eq!(from, pid);
    assert_eq!((register.framework_id.value.as_str(), register.executor_id.value.as_str()), ("F1", "E1"));
    agent.send(&pid, registered_message());
    let m = registered_message();
    assert_eq!(next(&rx), ExecSeen::Registered(m.executor_info, m.framework_info, m.slave_info));

    agent.send(&pid, mi::RunTaskMessage { task: task("t1"), ..Default::default() });
    assert_eq!(next(&rx), ExecSeen::Launch(task("t1")));
    let (_, update) = recv_update(&mut agent);
    assert_eq!(update.pid, Some(pid.to_string()));
    assert_eq!(update.update.status.state, TaskState::TaskRunning as i32);
    assert_eq!(update.update.status.slave_id, Some(SlaveId { value: "S1".into() }));
    agent.send(&pid, ack(&update.update));

    agent.send(
        &pid,
        mi::FrameworkToExecutorMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId { value: "E1".into() },
            data: b"abc".to_vec(),
        },
    );
    assert_eq!(next(&rx), ExecSeen::FrameworkMessage(b"abc".to_vec()));
    let (_, reply) = agent.recv_where(|m| match m {
        Message::ExecutorToFrameworkMessage(e) => Some((**e).clone()),
        _ => None,
    });
    assert_eq!(reply.data, b"cba".to_vec());
    assert_eq!(reply.executor_id.value, "E1");

    agent.send(
        &pid,
        mi::KillTaskMessage {
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            kill_policy: None,
        },
    );
    assert_eq!(next(&rx), ExecSeen::Kill(TaskId { value: "t1".into() }));

    // Shutdown: the executor stops its driver from the callback.
    agent.send(&pid, mi::ShutdownExecutorMessage::default());
    assert_eq!(next(&rx), ExecSeen::Shutdown);
    assert_eq!(driver.join(), Status::DriverStopped);
}

#[test]
fn a_restarted_agent_gets_unacknowledged_updates_back() {
    init();
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let address = agent_node.addr();
    let mut agent = agent_node.spawn("slave(1)");
    let (executor, rx) = echoing_executor();
    let driver = MesosExecutorDriver::with_environment(
        executor,
        env(&agent.pid(), &[("MESOS_CHECKPOINT", "1"), ("MESOS_RECOVERY_TIMEOUT", "15mins")]),
    );
    driver.start();
    let pid = driver.pid().unwrap();
    agent.recv_where(|m| matches!(m, Message::RegisterExecutorMessage(_)).then_some(()));
    agent.send(&pid, registered_message());
    assert!(matches!(next(&rx), ExecSeen::Registered(..)));
    agent.send(&pid, mi::RunTaskMessage { task: task("t1"), ..Default::default() });
    assert_eq!(next(&rx), ExecSeen::Launch(task("t1")));
    let (_, unacked) = recv_update(&mut agent);

    // The agent dies before acknowledging, and comes back on the same address.
    agent_node.kill();
    let restarted = bind_retrying(address);
    let mut agent = restarted.spawn("slave(1)");
    agent.send(&pid, mi::ReconnectExecutorMessage { slave_id: SlaveId { value: "S1".into() } });
    let (from, reregister) = agent.recv_where(|m| match m {
        Message::ReregisterExecutorMessage(r) => Some((**r).clone()),
        _ => None,
    });
    assert_eq!(from, pid);
    assert_eq!(reregister.updates, vec![unacked.update.clone()]);
    assert_eq!(reregister.tasks, vec![task("t1")]);
    agent.send(
        &pid,
        mi::ExecutorReregisteredMessage { slave_id: SlaveId { value: "S1".into() }, slave_info: SlaveInfo::default() },
    );
    assert_eq!(next(&rx), ExecSeen::Reregistered(SlaveInfo::default()));

    // Once acknowledged, an update is not resent.
    agent.send(&pid, ack(&unacked.update));
    agent.send(&pid, mi::ReconnectExecutorMessage { slave_id: SlaveId { value: "S1".into() } });
    let (_, reregister) = agent.recv_where(|m| match m {
        Message::ReregisterExecutorMessage(r) => Some((**r).clone()),
        _ => None,
    });
    assert!(reregister.updates.is_empty() && reregister.tasks.is_empty());

    assert_eq!(driver.stop(), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
}

#[test]
fn an_agent_that_dies_without_checkpointing_shuts_the_executor_down() {
    init();
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let mut agent = agent_node.spawn("slave(1)");
    let (executor, rx) = echoing_executor();
    let driver = MesosExecutorDriver::with_environment(executor, env(&agent.pid(), &[]));
    driver.start();
    let pid = driver.pid().unwrap();
    agent.recv_where(|m| matches!(m, Message::RegisterExecutorMessage(_)).then_some(()));
    agent.send(&pid, registered_message());
    assert!(matches!(next(&rx), ExecSeen::Registered(..)));
    agent_node.kill();
    assert_eq!(next(&rx), ExecSeen::Shutdown);
    assert_eq!(driver.join(), Status::DriverStopped);
}

#[test]
fn every_call_returns_apaches_status_in_every_state() {
    init();
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let agent = agent_node.spawn("slave(1)");
    let (executor, _rx) = ExecRecorder::new(|_, _| {});
    let driver = MesosExecutorDriver::with_environment(executor, env(&agent.pid(), &[]));
    let status = TaskStatus::default();
    assert_eq!(driver.send_status_update(&status), Status::DriverNotStarted);
    assert_eq!(driver.send_framework_message(b""), Status::DriverNotStarted);
    assert_eq!(driver.join(), Status::DriverNotStarted);
    assert_eq!(driver.stop(), Status::DriverNotStarted);
    assert_eq!(driver.abort(), Status::DriverNotStarted);
    assert_eq!(driver.start(), Status::DriverRunning);
    assert_eq!(driver.start(), Status::DriverRunning);
    assert_eq!(driver.send_status_update(&status), Status::DriverRunning);
    assert_eq!(driver.abort(), Status::DriverAborted);
    assert_eq!(driver.abort(), Status::DriverAborted);
    assert_eq!(driver.send_framework_message(b""), Status::DriverAborted);
    // Unlike the scheduler driver's, join returns at once unless running.
    assert_eq!(driver.join(), Status::DriverAborted);
    assert_eq!(driver.stop(), Status::DriverAborted);
    assert_eq!(driver.status(), Status::DriverStopped);
    assert_eq!(driver.stop(), Status::DriverStopped);
    assert_eq!(driver.send_status_update(&status), Status::DriverStopped);
}

#[test]
fn a_missing_environment_aborts_with_an_error_callback() {
    init();
    let (executor, rx) = ExecRecorder::new(|_, _| {});
    let mut vars = env(&"slave(1)@127.0.0.1:1".parse().unwrap(), &[]);
    vars.remove("MESOS_SLAVE_PID");
    let driver = MesosExecutorDriver::with_environment(executor, vars);
    assert_eq!(driver.run(), Status::DriverAborted);
    assert_eq!(next(&rx), ExecSeen::Error("Expecting 'MESOS_SLAVE_PID' to be set in the environment".into()));
}

#[test]
fn a_panicking_callback_aborts_the_driver() {
    init();
    let agent_node = FakeNode::bind("127.0.0.1:0");
    let mut agent = agent_node.spawn("slave(1)");
    let (executor, _rx) = ExecRecorder::new(|_, seen| {
        if matches!(seen, ExecSeen::Registered(..)) {
            panic!("the executor fails");
        }
    });
    let driver = MesosExecutorDriver::with_environment(executor, env(&agent.pid(), &[]));
    driver.start();
    let pid = driver.pid().unwrap();
    agent.recv_where(|m| matches!(m, Message::RegisterExecutorMessage(_)).then_some(()));
    agent.send(&pid, registered_message());
    // The abort wakes join.
    let status = std::thread::scope(|s| s.spawn(|| driver.join()).join().unwrap());
    assert!(status == Status::DriverAborted, "{status:?}");
}
