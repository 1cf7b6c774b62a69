//! `mesos-executor` and `mesos-default-executor` (the real binaries, with
//! real task processes) against a fake agent serving `/api/v1/executor`.
//! Deadlines only guard against hangs; nothing asserts on timing.

mod fake_agent;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fake_agent::{FakeAgent, DEADLINE};
use mesos_rs::agent::executors::core::Flavor;
use mesos_rs::agent::executors::env::{ContentType, ExecutorEnv};
use mesos_rs::agent::executors::runner::{self, RunOptions};
use mesos_rs::proto::mesos::v1::executor::{call, event, Event};
use mesos_rs::proto::mesos::v1::{
    health_check, CommandInfo, DurationInfo, HealthCheck, KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskState,
    TaskStatus,
};

/// A running executor binary with its sandbox.
struct Executor {
    child: tokio::process::Child,
    sandbox: tempfile::TempDir,
}

impl Executor {
    fn spawn(flavor: Flavor, agent: &FakeAgent, extra_env: &[(&str, &str)]) -> Executor {
        let sandbox = tempfile::tempdir().unwrap();
        let binary = match flavor {
            Flavor::Command => env!("CARGO_BIN_EXE_mesos-executor"),
            Flavor::Default => env!("CARGO_BIN_EXE_mesos-default-executor"),
        };
        let log = |name: &str| std::fs::File::create(sandbox.path().join(name)).unwrap();
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("--launcher_dir=/usr/libexec/mesos")
            .current_dir(sandbox.path())
            .env("MESOS_FRAMEWORK_ID", "framework-1")
            .env("MESOS_EXECUTOR_ID", "executor-1")
            .env("MESOS_AGENT_ENDPOINT", agent.address.to_string())
            .env("MESOS_SANDBOX", sandbox.path())
            .env("MESOS_DIRECTORY", sandbox.path())
            .env("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms")
            .env("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "secret-token")
            .stdin(Stdio::null())
            .stdout(log("stdout"))
            .stderr(log("stderr"))
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        Executor { child: command.spawn().expect("start the executor"), sandbox }
    }

    fn path(&self) -> &Path {
        self.sandbox.path()
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(DEADLINE, self.child.wait()).await.expect("the executor did not exit").unwrap().code()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Executor {
    /// A failed test must not leave its tasks behind (they run in their own
    /// sessions, so killing the executor alone would not reach them).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            mesos_rs::agent::containerizer::mesos::procfs::killtree(
                pid as i32,
                nix::sys::signal::Signal::SIGKILL,
                mesos_rs::agent::containerizer::mesos::procfs::TreeScope::DESCENDANTS,
            );
        }
    }
}

fn task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        command: Some(CommandInfo { value: Some(command.into()), ..Default::default() }),
        ..Default::default()
    }
}

fn launch(task: TaskInfo) -> Event {
    Event { r#type: Some(event::Type::Launch as i32), launch: Some(event::Launch { task }), ..Default::default() }
}

fn launch_group(tasks: Vec<TaskInfo>) -> Event {
    Event {
        r#type: Some(event::Type::LaunchGroup as i32),
        launch_group: Some(event::LaunchGroup { task_group: TaskGroupInfo { tasks } }),
        ..Default::default()
    }
}

fn kill(id: &str, grace: Option<Duration>) -> Event {
    Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId { value: id.into() },
            kill_policy: grace
                .map(|g| KillPolicy { grace_period: Some(DurationInfo { nanoseconds: g.as_nanos() as i64 }) }),
        }),
        ..Default::default()
    }
}

/// Receives updates, acknowledging each, until `id` reaches a terminal state.
async fn until_terminal(agent: &mut FakeAgent, id: &str) -> Vec<TaskStatus> {
    let mut seen = Vec::new();
    loop {
        let status = agent.next_update().await;
        agent.ack(&status);
        let done = status.task_id.value == id
            && matches!(status.state(), TaskState::TaskFinished | TaskState::TaskFailed | TaskState::TaskKilled);
        seen.push(status);
        if done {
            return seen;
        }
    }
}

/// Waits for a task to write a line to `path`; returns the contents.
async fn until_written(path: &Path) -> String {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match std::fs::read_to_string(path) {
                Ok(text) if text.ends_with('\n') => return text,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the task never wrote the file")
}

fn states(updates: &[TaskStatus]) -> Vec<TaskState> {
    updates.iter().map(|s| s.state()).collect()
}

fn localhost() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_task_finishes_and_the_executor_exits_after_the_ack() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut executor = Executor::spawn(Flavor::Command, &agent, &[]);
    let subscribe = agent.subscribed().await;
    assert_eq!(subscribe.framework_id.value, "framework-1");
    assert_eq!(subscribe.executor_id.value, "executor-1");
    assert!(subscribe.subscribe.unwrap().unacknowledged_updates.is_empty());

    let mut t = task("t1", "echo hello from $MESOS_SANDBOX; echo token=$MESOS_EXECUTOR_AUTHENTICATION_TOKEN; echo role=$MESOS_ALLOCATION_ROLE");
    t.command.as_mut().unwrap().environment = Some(mesos_rs::proto::mesos::v1::Environment {
        variables: vec![mesos_rs::proto::mesos::v1::environment::Variable {
            name: "UNUSED".into(),
            value: Some("x".into()),
            ..Default::default()
        }],
    });
    agent.send(launch(t));
    let updates = until_terminal(&mut agent, "t1").await;
    assert_eq!(states(&updates), vec![TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished]);
    let finished = updates.last().unwrap();
    assert_eq!(finished.message.as_deref(), Some("Command exited with status 0"));
    assert_eq!(finished.executor_id.as_ref().unwrap().value, "executor-1");
    assert_eq!(executor.exit_code().await, Some(0));
    let stdout = std::fs::read_to_string(executor.path().join("stdout")).unwrap();
    assert!(stdout.contains(&format!("hello from {}", executor.path().display())), "{stdout}");
    assert!(stdout.contains("token=\n"), "the token is not passed on: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_is_reported_with_its_exit_status() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut executor = Executor::spawn(Flavor::Command, &agent, &[]);
    agent.subscribed().await;
    agent.send(launch(task("t1", "exit 3")));
    let updates = until_terminal(&mut agent, "t1").await;
    let failed = updates.last().unwrap();
    assert_eq!(failed.state(), TaskState::TaskFailed);
    assert_eq!(failed.message.as_deref(), Some("Command exited with status 3"));
    assert_eq!(executor.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_sends_task_killing_then_task_killed() {
    let mut agent = FakeAgent::start(localhost(), true).await;
    let mut executor = Executor::spawn(Flavor::Command, &agent, &[]);
    agent.subscribed().await;
    agent.send(launch(task("t1", "sleep 600")));
    for expected in [TaskState::TaskStarting, TaskState::TaskRunning] {
        let status = agent.next_update().await;
        assert_eq!(status.state(), expected);
        agent.ack(&status);
    }
    agent.send(kill("t1", None));
    let updates = until_terminal(&mut agent, "t1").await;
    assert_eq!(states(&updates), vec![TaskState::TaskKilling, TaskState::TaskKilled]);
    assert_eq!(updates[1].message.as_deref(), Some("Command terminated with signal Terminated"));
    assert_eq!(executor.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_ignoring_sigterm_is_killed_after_the_kill_policy_grace_period() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut executor = Executor::spawn(Flavor::Command, &agent, &[]);
    agent.subscribed().await;
    let mut t = task("t1", "trap '' TERM; echo ready > ready; sleep 600");
    t.kill_policy = Some(KillPolicy { grace_period: Some(DurationInfo { nanoseconds: 60_000_000_000 }) });
    agent.send(launch(t));
    for _ in 0..2 {
        let status = agent.next_update().await;
        agent.ack(&status);
    }
    until_written(&executor.path().join("ready")).await;
    // The KILL's policy overrides the task's 60 seconds.
    agent.send(kill("t1", Some(Duration::from_millis(500))));
    let updates = until_terminal(&mut agent, "t1").await;
    let killed = updates.last().unwrap();
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(killed.message.as_deref(), Some("Command terminated with signal Killed"));
    assert_eq!(executor.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_kill_the_task() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut executor = Executor::spawn(Flavor::Command, &agent, &[]);
    agent.subscribed().await;
    let mut t = task("t1", "sleep 600");
    t.health_check = Some(HealthCheck {
        r#type: Some(health_check::Type::Command as i32),
        command: Some(CommandInfo { value: Some("test -f healthy".into()), ..Default::default() }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(2),
        ..Default::default()
    });
    // Healthy first: the check passes while the file exists.
    std::fs::write(executor.path().join("healthy"), "").unwrap();
    agent.send(launch(t));
    let mut seen = Vec::new();
    loop {
        let status = agent.next_update().await;
        agent.ack(&status);
        if status.healthy == Some(true) {
            std::fs::remove_file(executor.path().join("healthy")).unwrap();
        }
        let terminal = status.state() == TaskState::TaskKilled;
        seen.push((status.state(), status.healthy));
        if terminal {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            (TaskState::TaskStarting, None),
            (TaskState::TaskRunning, None),
            (TaskState::TaskRunning, Some(true)),
            (TaskState::TaskRunning, Some(false)),
            (TaskState::TaskRunning, Some(false)),
            (TaskState::TaskKilled, Some(false)),
        ]
    );
    assert_eq!(executor.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointing_executor_resubscribes_after_an_agent_restart() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let address = agent.address;
    let mut executor =
        Executor::spawn(Flavor::Command, &agent, &[("MESOS_CHECKPOINT", "1"), ("MESOS_RECOVERY_TIMEOUT", "1mins")]);
    agent.subscribed().await;
    agent.send(launch(task("t1", "sleep 600")));
    let starting = agent.next_update().await;
    let running = agent.next_update().await;
    // The agent dies before acknowledging anything, and comes back.
    agent.stop();
    drop(agent);
    let mut agent = FakeAgent::start(address, false).await;
    let subscribe = agent.subscribed().await.subscribe.unwrap();
    let resent: Vec<TaskState> = subscribe.unacknowledged_updates.iter().map(|u| u.status.state()).collect();
    assert_eq!(resent, vec![TaskState::TaskStarting, TaskState::TaskRunning]);
    assert_eq!(subscribe.unacknowledged_updates[1].status.uuid, running.uuid);
    let tasks: Vec<&str> = subscribe.unacknowledged_tasks.iter().map(|t| t.task_id.value.as_str()).collect();
    assert_eq!(tasks, vec!["t1"]);
    agent.ack(&starting);
    agent.ack(&running);
    agent.send(kill("t1", None));
    let updates = until_terminal(&mut agent, "t1").await;
    assert_eq!(states(&updates), vec![TaskState::TaskKilled]);
    assert_eq!(executor.exit_code().await, Some(0));
}

/// Loses the agent for good while a task runs: the task is killed and the
/// executor exits on its own.
async fn losing_the_agent_shuts_the_executor_down(extra_env: &[(&str, &str)]) {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut env = vec![("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs")];
    env.extend_from_slice(extra_env);
    let mut executor = Executor::spawn(Flavor::Command, &agent, &env);
    agent.subscribed().await;
    agent.send(launch(task("t1", "echo $$ > task.pid; exec sleep 600")));
    agent.next_update().await;
    agent.next_update().await;
    let task_pid: i32 = until_written(&executor.path().join("task.pid")).await.trim().parse().unwrap();
    agent.stop();
    let code = executor.exit_code().await;
    assert!(code.is_some(), "exited: {code:?}");
    assert!(!mesos_rs::agent::containerizer::mesos::procfs::is_alive(task_pid));
    assert!(executor.stderr().contains("Shutting down"), "{}", executor.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpointing_losing_the_agent_shuts_the_executor_down() {
    losing_the_agent_shuts_the_executor_down(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointing_executor_gives_up_after_the_recovery_timeout() {
    losing_the_agent_shuts_the_executor_down(&[("MESOS_CHECKPOINT", "1"), ("MESOS_RECOVERY_TIMEOUT", "1secs")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_executor_runs_a_group_in_task_sandboxes_and_kills_it_when_one_fails() {
    let mut agent = FakeAgent::start(localhost(), true).await;
    let mut executor = Executor::spawn(Flavor::Default, &agent, &[]);
    agent.subscribed().await;
    agent.send(launch_group(vec![
        task("fails", "echo sandbox=$MESOS_SANDBOX; sleep 1; exit 2"),
        task("sleeps", "sleep 600"),
    ]));
    let mut finals = BTreeMap::new();
    let mut all = Vec::new();
    while finals.len() < 2 {
        let status = agent.next_update().await;
        agent.ack(&status);
        assert!(status.container_status.as_ref().and_then(|c| c.container_id.as_ref()).is_some());
        all.push((status.task_id.value.clone(), status.state()));
        if matches!(status.state(), TaskState::TaskFailed | TaskState::TaskKilled | TaskState::TaskFinished) {
            finals.insert(status.task_id.value.clone(), (status.state(), status.message.clone()));
        }
    }
    assert_eq!(finals["fails"], (TaskState::TaskFailed, Some("Command exited with status 2".into())));
    assert_eq!(finals["sleeps"], (TaskState::TaskKilled, Some("Command terminated with signal Terminated".into())));
    assert!(all.contains(&("sleeps".into(), TaskState::TaskKilling)));
    assert_eq!(executor.exit_code().await, Some(0));

    // Each task ran in `containers/<id>`, reachable as `tasks/<task id>`.
    let task_sandbox = executor.path().join("tasks").join("fails");
    let target = std::fs::read_link(&task_sandbox).unwrap();
    assert!(target.starts_with(executor.path().join("containers")));
    let stdout = std::fs::read_to_string(task_sandbox.join("stdout")).unwrap();
    assert_eq!(stdout, format!("sandbox={}\n", target.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_executor_finishes_a_group_and_fetches_its_uris() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let mut executor = Executor::spawn(Flavor::Default, &agent, &[]);
    agent.subscribed().await;
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("data.txt"), "fetched\n").unwrap();
    let mut a = task("a", "cat data.txt");
    a.command.as_mut().unwrap().uris = vec![mesos_rs::proto::mesos::v1::command_info::Uri {
        value: source.path().join("data.txt").display().to_string(),
        ..Default::default()
    }];
    agent.send(launch_group(vec![a, task("b", "true")]));
    let mut finished = 0;
    while finished < 2 {
        let status = agent.next_update().await;
        agent.ack(&status);
        assert_ne!(status.state(), TaskState::TaskFailed, "{:?}", status.message);
        if status.state() == TaskState::TaskFinished {
            finished += 1;
        }
    }
    assert_eq!(executor.exit_code().await, Some(0));
    assert_eq!(std::fs::read_to_string(executor.path().join("tasks/a/stdout")).unwrap(), "fetched\n");
}

/// The client and executor in-process, speaking JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_works_too() {
    let mut agent = FakeAgent::start(localhost(), false).await;
    let sandbox = tempfile::tempdir().unwrap();
    let env = ExecutorEnv::from_vars([
        ("MESOS_FRAMEWORK_ID".to_string(), "fw".to_string()),
        ("MESOS_EXECUTOR_ID".to_string(), "ex".to_string()),
        ("MESOS_AGENT_ENDPOINT".to_string(), agent.address.to_string()),
        ("MESOS_SANDBOX".to_string(), sandbox.path().display().to_string()),
        ("PATH".to_string(), std::env::var("PATH").unwrap_or_default()),
    ])
    .unwrap();
    let options = RunOptions { content_type: ContentType::Json, ..RunOptions::new(Flavor::Command) };
    let run = tokio::spawn(runner::run(env, options));
    let subscribe = agent.subscribed().await;
    assert_eq!(subscribe.r#type(), call::Type::Subscribe);
    agent.send(launch(task("t1", "true")));
    let updates = until_terminal(&mut agent, "t1").await;
    assert_eq!(states(&updates), vec![TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished]);
    let code = tokio::time::timeout(DEADLINE, run).await.unwrap().unwrap();
    assert_eq!(code, 0);
}
