//! The executor core against a scripted agent (each test names the Apache
//! `ExecutorProcess` handler whose behaviour it pins).

use std::collections::HashMap;
use std::time::Duration;

use super::core::*;
use super::env::Environment;
use crate::proto::mesos::internal as mi;
use crate::proto::mesos::{
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use crate::v0_compat::{Message, Upid};

const NOW: f64 = 1_700_000_000.5;

fn upid(s: &str) -> Upid {
    s.parse().unwrap()
}

fn agent() -> Upid {
    upid("slave(1)@127.0.0.1:5051")
}

fn me() -> Upid {
    upid("executor(1)@127.0.0.1:4001")
}

fn environment(extra: &[(&str, &str)]) -> Environment {
    let mut env: HashMap<String, String> = [
        ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
        ("MESOS_SLAVE_ID", "S1"),
        ("MESOS_FRAMEWORK_ID", "F1"),
        ("MESOS_EXECUTOR_ID", "E1"),
        ("MESOS_DIRECTORY", "/sandbox"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Environment::from_map(&env).unwrap()
}

fn core(extra: &[(&str, &str)]) -> ExecutorCore {
    ExecutorCore::new(Config { pid: me(), environment: environment(extra), seed: 3 })
}

fn from_agent(m: impl Into<Message>) -> Input {
    Input::Message { from: agent(), message: m.into() }
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

fn registered(extra: &[(&str, &str)]) -> ExecutorCore {
    let mut core = core(extra);
    core.handle(NOW, Input::Start);
    let effects = core.handle(NOW, from_agent(registered_message()));
    assert!(matches!(effects[..], [Effect::Callback(Callback::Registered { .. })]));
    core
}

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: "S1".into() },
        ..Default::default()
    }
}

fn run_task(id: &str) -> mi::RunTaskMessage {
    mi::RunTaskMessage { task: task(id), ..Default::default() }
}

fn running(id: &str) -> TaskStatus {
    TaskStatus { task_id: TaskId { value: id.into() }, state: TaskState::TaskRunning as i32, ..Default::default() }
}

/// The update the core just sent.
fn sent_update(effects: &[Effect]) -> mi::StatusUpdateMessage {
    match effects {
        [Effect::Send { to, message: Message::StatusUpdateMessage(m) }] if to == &agent() => (**m).clone(),
        other => panic!("{other:?}"),
    }
}

fn ack_for(update: &mi::StatusUpdate) -> mi::StatusUpdateAcknowledgementMessage {
    mi::StatusUpdateAcknowledgementMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: FrameworkId { value: "F1".into() },
        task_id: update.status.task_id.clone(),
        uuid: update.uuid.clone().unwrap(),
    }
}

#[test]
fn start_links_and_registers_once() {
    let mut core = core(&[]);
    let effects = core.handle(NOW, Input::Start);
    assert_eq!(
        effects,
        vec![
            Effect::Link(agent()),
            Effect::Send {
                to: agent(),
                message: mi::RegisterExecutorMessage {
                    framework_id: FrameworkId { value: "F1".into() },
                    executor_id: ExecutorId { value: "E1".into() },
                }
                .into(),
            },
        ]
    );
    let effects = core.handle(NOW, from_agent(registered_message()));
    let m = registered_message();
    assert_eq!(
        effects,
        vec![Effect::Callback(Callback::Registered {
            executor_info: m.executor_info,
            framework_info: m.framework_info,
            slave_info: m.slave_info,
        })]
    );
    assert!(core.is_connected());
}

#[test]
fn tasks_are_launched_only_once_registered_and_never_twice() {
    let mut core = core(&[]);
    core.handle(NOW, Input::Start);
    assert!(core.handle(NOW, from_agent(run_task("t1"))).is_empty(), "not registered yet");
    core.handle(NOW, from_agent(registered_message()));
    assert_eq!(
        core.handle(NOW, from_agent(run_task("t1"))),
        vec![Effect::Callback(Callback::LaunchTask { task: task("t1") })]
    );
    assert!(core.handle(NOW, from_agent(run_task("t1"))).is_empty(), "duplicate");
}

#[test]
fn status_updates_are_stamped_and_kept_until_acknowledged() {
    let mut core = registered(&[]);
    core.handle(NOW, from_agent(run_task("t1")));
    let sent = sent_update(&core.handle(NOW, Input::Call(Call::SendStatusUpdate(running("t1")))));
    assert_eq!(sent.pid.as_deref(), Some("executor(1)@127.0.0.1:4001"));
    let u = &sent.update;
    assert_eq!(u.framework_id.value, "F1");
    assert_eq!(u.executor_id.as_ref().unwrap().value, "E1");
    assert_eq!(u.slave_id.as_ref().unwrap().value, "S1");
    assert_eq!(u.timestamp, NOW);
    assert_eq!(u.status.timestamp, Some(NOW));
    assert_eq!(u.status.slave_id.as_ref().unwrap().value, "S1");
    let uuid = u.uuid.clone().unwrap();
    assert_eq!(uuid.len(), 16);
    assert_eq!(u.status.uuid.as_ref(), Some(&uuid));
    assert_eq!(uuid::Uuid::from_slice(&uuid).unwrap().get_version_num(), 4);
    assert_eq!(core.unacknowledged_updates().count(), 1);

    // Unknown and malformed acknowledgements change nothing.
    let mut unknown = ack_for(u);
    unknown.uuid = vec![0; 16];
    assert!(core.handle(NOW, from_agent(unknown)).is_empty());
    let mut malformed = ack_for(u);
    malformed.uuid = vec![1, 2, 3];
    assert!(core.handle(NOW, from_agent(malformed)).is_empty());
    assert_eq!(core.unacknowledged_updates().count(), 1);

    assert!(core.handle(NOW, from_agent(ack_for(u))).is_empty());
    assert_eq!(core.unacknowledged_updates().count(), 0);
}

#[test]
fn a_restarted_agent_gets_the_unacknowledged_updates_and_tasks_back() {
    let mut core = registered(&[("MESOS_CHECKPOINT", "1"), ("MESOS_RECOVERY_TIMEOUT", "10secs")]);
    core.handle(NOW, from_agent(run_task("t1")));
    core.handle(NOW, from_agent(run_task("t2")));
    let first = sent_update(&core.handle(NOW, Input::Call(Call::SendStatusUpdate(running("t1"))))).update;
    let second = sent_update(&core.handle(NOW, Input::Call(Call::SendStatusUpdate(running("t2"))))).update;
    core.handle(NOW, from_agent(ack_for(&first)));

    // The agent dies: with checkpointing, wait for it (no callback).
    let effects = core.handle(NOW, Input::Exited(agent()));
    let [Effect::SetTimer { timer, after }] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!(*after, Duration::from_secs(10));
    assert!(!core.is_connected());
    // Meanwhile messages that need a connection are ignored.
    assert!(core.handle(NOW, from_agent(run_task("t3"))).is_empty());

    // It comes back under a new pid and asks us to reconnect.
    let restarted = upid("slave(1)@127.0.0.1:5052");
    let reconnect = mi::ReconnectExecutorMessage { slave_id: SlaveId { value: "S1".into() } };
    let effects = core.handle(NOW, Input::Message { from: restarted.clone(), message: reconnect.into() });
    assert_eq!(effects[0], Effect::Relink(restarted.clone()));
    let Effect::Send { to, message: Message::ReregisterExecutorMessage(r) } = &effects[1] else {
        panic!("{effects:?}")
    };
    assert_eq!(to, &restarted);
    assert_eq!(r.updates, vec![second.clone()]);
    assert_eq!(r.tasks, vec![task("t2")]);
    assert_eq!(core.slave(), &restarted);

    let rereg =
        mi::ExecutorReregisteredMessage { slave_id: SlaveId { value: "S1".into() }, slave_info: SlaveInfo::default() };
    let effects = core.handle(NOW, Input::Message { from: restarted.clone(), message: rereg.into() });
    assert_eq!(effects, vec![Effect::Callback(Callback::Reregistered { slave_info: SlaveInfo::default() })]);
    // The old connection's recovery timer is now stale.
    assert!(core.handle(NOW, Input::Timer(timer.clone())).is_empty());
    // Later updates go to the new pid.
    let sent = core.handle(NOW, Input::Call(Call::SendStatusUpdate(running("t2"))));
    assert!(matches!(&sent[0], Effect::Send { to, .. } if to == &restarted));
}

#[test]
fn an_agent_that_does_not_come_back_in_time_means_shutdown() {
    let mut core = registered(&[("MESOS_CHECKPOINT", "1")]);
    let effects = core.handle(NOW, Input::Exited(agent()));
    let [Effect::SetTimer { timer, after }] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!(*after, Duration::from_secs(15 * 60));
    let effects = core.handle(NOW, Input::Timer(timer.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::ScheduleKill { grace: Duration::from_secs(3) },
            Effect::Callback(Callback::Shutdown),
            Effect::Aborted
        ]
    );
    assert!(core.handle(NOW, from_agent(registered_message())).is_empty());
}

#[test]
fn without_checkpointing_a_lost_agent_means_shutdown_at_once() {
    let mut core = registered(&[]);
    let effects = core.handle(NOW, Input::Exited(agent()));
    assert_eq!(
        effects,
        vec![
            Effect::ScheduleKill { grace: Duration::from_secs(3) },
            Effect::Callback(Callback::Shutdown),
            Effect::Aborted
        ]
    );
    // Before registering, checkpointing does not help either.
    let mut unregistered = self::core(&[("MESOS_CHECKPOINT", "1"), ("MESOS_LOCAL", "1")]);
    unregistered.handle(NOW, Input::Start);
    let effects = unregistered.handle(NOW, Input::Exited(agent()));
    assert_eq!(effects, vec![Effect::Callback(Callback::Shutdown), Effect::Aborted]);
}

#[test]
fn shutdown_arms_the_kill_outside_local_mode_and_ends_message_handling() {
    let mut core = registered(&[]);
    let effects = core.handle(NOW, from_agent(mi::ShutdownExecutorMessage::default()));
    assert_eq!(
        effects,
        vec![
            Effect::ScheduleKill { grace: Duration::from_secs(3) },
            Effect::Callback(Callback::Shutdown),
            Effect::Aborted
        ]
    );
    assert!(core.handle(NOW, from_agent(mi::ShutdownExecutorMessage::default())).is_empty());
    assert!(core.handle(NOW, from_agent(run_task("t"))).is_empty());
    // Calls still go out (Apache does not check `aborted` for them).
    assert_eq!(core.handle(NOW, Input::Call(Call::SendStatusUpdate(running("t")))).len(), 1);

    let mut local = registered(&[("MESOS_LOCAL", "1")]);
    let effects = local.handle(NOW, from_agent(mi::ShutdownExecutorMessage::default()));
    assert_eq!(effects, vec![Effect::Callback(Callback::Shutdown), Effect::Aborted]);
}

#[test]
fn kills_are_delivered_even_while_disconnected_framework_messages_are_not() {
    let mut core = core(&[]);
    core.handle(NOW, Input::Start);
    let kill = mi::KillTaskMessage {
        framework_id: FrameworkId { value: "F1".into() },
        task_id: TaskId { value: "t".into() },
        kill_policy: None,
    };
    assert_eq!(
        core.handle(NOW, from_agent(kill)),
        vec![Effect::Callback(Callback::KillTask { task_id: TaskId { value: "t".into() } })]
    );
    let data = mi::FrameworkToExecutorMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: FrameworkId { value: "F1".into() },
        executor_id: ExecutorId { value: "E1".into() },
        data: b"x".to_vec(),
    };
    assert!(core.handle(NOW, from_agent(data.clone())).is_empty());
    core.handle(NOW, from_agent(registered_message()));
    assert_eq!(
        core.handle(NOW, from_agent(data)),
        vec![Effect::Callback(Callback::FrameworkMessage { data: b"x".to_vec() })]
    );
}

#[test]
fn framework_messages_go_to_the_agent() {
    let mut core = registered(&[]);
    let effects = core.handle(NOW, Input::Call(Call::SendFrameworkMessage(b"out".to_vec())));
    assert_eq!(
        effects,
        vec![Effect::Send {
            to: agent(),
            message: mi::ExecutorToFrameworkMessage {
                slave_id: SlaveId { value: "S1".into() },
                framework_id: FrameworkId { value: "F1".into() },
                executor_id: ExecutorId { value: "E1".into() },
                data: b"out".to_vec(),
            }
            .into(),
        }]
    );
}

#[test]
fn abort_stops_message_handling_and_stop_ends_the_process() {
    let mut core = registered(&[]);
    assert_eq!(core.handle(NOW, Input::Call(Call::Abort)), vec![Effect::Release]);
    assert!(core.handle(NOW, from_agent(run_task("t"))).is_empty());
    assert_eq!(core.handle(NOW, Input::Call(Call::Stop)), vec![Effect::Terminate, Effect::Release]);
    assert!(core.is_terminated());
    assert!(core.handle(NOW, Input::Call(Call::SendFrameworkMessage(vec![]))).is_empty());

    // The front end's abort flag is mirrored in.
    let mut core = registered(&[]);
    core.set_aborted(true);
    assert!(core.handle(NOW, from_agent(run_task("t"))).is_empty());
}
