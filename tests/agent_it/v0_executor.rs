//! A custom executor speaking the v0 executor driver protocol, the way
//! Mesos's `src/exec/exec.cpp` does: register with `MESOS_SLAVE_PID`, run
//! tasks, send updates until acknowledged, answer framework messages,
//! reregister when a restarted agent asks, wait for the agent for the
//! recovery timeout, exit on shutdown.
//!
//! What a task does is its `data`: `finish`, `fail`, or `wait` (until
//! killed, or until the file `finish-<task id>` appears in the sandbox).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesos_rs::common::units::parse_duration;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{
    task_status::Source, ExecutorId, FrameworkId, SlaveId, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_rs::v0_compat::{serve, Event, Message, Node, Options, Upid};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

struct Executor {
    slave: Upid,
    slave_id: String,
    framework_id: String,
    executor_id: String,
    sandbox: PathBuf,
    tasks: BTreeMap<String, (TaskInfo, Option<TaskState>)>,
    unacked: BTreeMap<Vec<u8>, mi::StatusUpdate>,
    seq: u8,
    connected: bool,
}

impl Executor {
    fn update(&mut self, task_id: &str, state: TaskState) -> mi::StatusUpdate {
        self.seq = self.seq.wrapping_add(1);
        let mut uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        uuid[15] = self.seq;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let mut status = TaskStatus {
            task_id: TaskId { value: task_id.into() },
            slave_id: Some(SlaveId { value: self.slave_id.clone() }),
            executor_id: Some(ExecutorId { value: self.executor_id.clone() }),
            timestamp: Some(now),
            uuid: Some(uuid.clone()),
            message: Some(format!("from the v0 test executor: {}", state.as_str_name())),
            ..Default::default()
        };
        status.set_state(state);
        status.set_source(Source::Executor);
        let update = mi::StatusUpdate {
            framework_id: FrameworkId { value: self.framework_id.clone() },
            executor_id: Some(ExecutorId { value: self.executor_id.clone() }),
            slave_id: Some(SlaveId { value: self.slave_id.clone() }),
            status,
            timestamp: now,
            uuid: Some(uuid.clone()),
            latest_state: None,
        };
        self.unacked.insert(uuid, update.clone());
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.1 = Some(state);
        }
        update
    }

    fn done(&self) -> bool {
        !self.tasks.is_empty()
            && self.unacked.is_empty()
            && self.tasks.values().all(|(_, s)| s.is_some_and(mesos_rs_is_terminal))
    }
}

fn mesos_rs_is_terminal(s: TaskState) -> bool {
    matches!(s, TaskState::TaskFinished | TaskState::TaskFailed | TaskState::TaskKilled)
}

/// Runs the executor to completion.
pub async fn run() {
    let slave: Upid = env("MESOS_SLAVE_PID").parse().unwrap();
    let checkpoint = std::env::var("MESOS_CHECKPOINT").as_deref() == Ok("1");
    let recovery_timeout = std::env::var("MESOS_RECOVERY_TIMEOUT")
        .ok()
        .and_then(|t| parse_duration(&t).ok())
        .unwrap_or(Duration::from_secs(900));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = Node::new(listener.local_addr().unwrap(), Options::default());
    let mut process = node.spawn("executor(1)").unwrap();
    let me = process.pid().clone();
    let handle = process.handle().clone();
    tokio::spawn(serve(listener, node.clone(), axum::Router::new(), std::future::pending()));
    let mut ex = Executor {
        slave: slave.clone(),
        slave_id: env("MESOS_SLAVE_ID"),
        framework_id: env("MESOS_FRAMEWORK_ID"),
        executor_id: env("MESOS_EXECUTOR_ID"),
        sandbox: PathBuf::from(env("MESOS_DIRECTORY")),
        tasks: BTreeMap::new(),
        unacked: BTreeMap::new(),
        seq: 0,
        connected: false,
    };
    handle.link(&slave);
    let register = mi::RegisterExecutorMessage {
        framework_id: FrameworkId { value: ex.framework_id.clone() },
        executor_id: ExecutorId { value: ex.executor_id.clone() },
    };
    handle.send(&slave, &register).unwrap();
    let send_update = |ex: &Executor, update: &mi::StatusUpdate| {
        let message = mi::StatusUpdateMessage { update: update.clone(), pid: Some(me.to_string()) };
        let _ = handle.send(&ex.slave, &message);
    };
    let mut disconnected_at: Option<Instant> = None;
    loop {
        if ex.done() {
            eprintln!("v0 test executor: all tasks done");
            return;
        }
        if let Some(since) = disconnected_at {
            if since.elapsed() > recovery_timeout {
                eprintln!("v0 test executor: the agent did not come back");
                return;
            }
        }
        // Tasks told to finish through their sandbox.
        let finishing: Vec<String> = ex
            .tasks
            .iter()
            .filter(|(id, (_, s))| {
                *s == Some(TaskState::TaskRunning) && ex.sandbox.join(format!("finish-{id}")).exists()
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in finishing {
            let update = ex.update(&id, TaskState::TaskFinished);
            if ex.connected {
                send_update(&ex, &update);
            }
        }
        let event = match tokio::time::timeout(Duration::from_millis(100), process.recv()).await {
            Err(_) => continue,
            Ok(None) => return,
            Ok(Some(event)) => event,
        };
        match event {
            Event::Exited(pid) if pid == ex.slave => {
                ex.connected = false;
                if !checkpoint {
                    return;
                }
                eprintln!("v0 test executor: agent exited; waiting for it to come back");
                disconnected_at = Some(Instant::now());
            }
            Event::Message { from, message } => match message {
                Message::ExecutorRegisteredMessage(_) => ex.connected = true,
                Message::ExecutorReregisteredMessage(_) => {
                    ex.connected = true;
                    disconnected_at = None;
                }
                Message::ReconnectExecutorMessage(_) => {
                    ex.slave = from.clone();
                    handle.relink(&from);
                    let reregister = mi::ReregisterExecutorMessage {
                        executor_id: ExecutorId { value: ex.executor_id.clone() },
                        framework_id: FrameworkId { value: ex.framework_id.clone() },
                        tasks: ex
                            .tasks
                            .values()
                            .filter(|(t, _)| ex.unacked.values().any(|u| u.status.task_id == t.task_id))
                            .map(|(t, _)| t.clone())
                            .collect(),
                        updates: ex.unacked.values().cloned().collect(),
                    };
                    let _ = handle.send(&from, &reregister);
                }
                Message::RunTaskMessage(m) => {
                    let task = m.task;
                    let id = task.task_id.value.clone();
                    let what = String::from_utf8_lossy(task.data()).into_owned();
                    ex.tasks.insert(id.clone(), (task, None));
                    let running = ex.update(&id, TaskState::TaskRunning);
                    send_update(&ex, &running);
                    let end = match what.as_str() {
                        "finish" => Some(TaskState::TaskFinished),
                        "fail" => Some(TaskState::TaskFailed),
                        _ => None,
                    };
                    if let Some(end) = end {
                        let update = ex.update(&id, end);
                        send_update(&ex, &update);
                    }
                }
                Message::KillTaskMessage(m) => {
                    let id = m.task_id.value;
                    if ex.tasks.contains_key(&id) {
                        let update = ex.update(&id, TaskState::TaskKilled);
                        send_update(&ex, &update);
                    }
                }
                Message::StatusUpdateAcknowledgementMessage(m) => {
                    ex.unacked.remove(&m.uuid);
                }
                Message::FrameworkToExecutorMessage(m) => {
                    let mut data = b"echo:".to_vec();
                    data.extend(m.data);
                    let reply = mi::ExecutorToFrameworkMessage {
                        slave_id: SlaveId { value: ex.slave_id.clone() },
                        framework_id: FrameworkId { value: ex.framework_id.clone() },
                        executor_id: ExecutorId { value: ex.executor_id.clone() },
                        data,
                    };
                    let _ = handle.send(&ex.slave, &reply);
                }
                Message::ShutdownExecutorMessage(_) => {
                    eprintln!("v0 test executor: shut down");
                    return;
                }
                _ => {}
            },
            _ => {}
        }
    }
}
