//! Both drivers on a real cluster of ours: `mesos-master` and `mesos-agent`
//! as processes. The scheduler driver runs command tasks (the agent's
//! command executor), and a custom executor built on the executor driver:
//! the agent launches this very test binary in the `executor` role (see
//! [`executor_role`]), which registers through `MesosExecutorDriver`, runs
//! the task, answers framework messages and shuts down when told.

mod driver_support;

use std::collections::HashMap;

use driver_support::*;
use mesos_rs::driver::{ExecutorDriver, MesosExecutorDriver, MesosSchedulerDriver, SchedulerDriver};
use mesos_rs::proto::mesos::{
    environment, CommandInfo, Environment, ExecutorId, ExecutorInfo, Filters, FrameworkInfo, Offer, Status, TaskId,
    TaskInfo, TaskState, TaskStatus,
};

/// Set in the environment of the executor the agent launches.
const ROLE: &str = "MESOS_RS_DRIVER_TEST_ROLE";

/// A master and an agent on loopback, in a temporary directory.
struct Cluster {
    port: u16,
    _agent: Daemon,
    _master: Daemon,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let master = Daemon::master(env!("CARGO_BIN_EXE_mesos-master"), port, &dir.path().join("master"));
        let agent_port = free_port();
        let args = [
            format!("--master=127.0.0.1:{port}"),
            format!("--work_dir={}", dir.path().join("agent").display()),
            format!("--port={agent_port}"),
            "--ip=127.0.0.1".to_string(),
            "--hostname=localhost".to_string(),
            "--resources=cpus:4;mem:2048;disk:1024;ports:[31000-31100]".to_string(),
            "--launcher=posix".to_string(),
            "--isolation=posix/cpu,posix/mem".to_string(),
            "--switch_user=false".to_string(),
            "--registration_backoff_factor=10ms".to_string(),
            format!("--fetcher_cache_dir={}", dir.path().join("fetch").display()),
            "--quiet".to_string(),
        ];
        let agent = Daemon::start(env!("CARGO_BIN_EXE_mesos-agent"), &args, agent_port, "/slave(1)/health");
        wait_until("the agent to register", || {
            master_state(port)["slaves"].as_array().is_some_and(|agents| agents.len() == 1)
        });
        Cluster { port, _agent: agent, _master: master, _dir: dir }
    }

    fn master(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn env() -> HashMap<String, String> {
    [("MESOS_INITIALIZE_DRIVER_LOGGING", "false")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn framework(name: &str) -> FrameworkInfo {
    FrameworkInfo { user: String::new(), name: name.into(), ..Default::default() }
}

/// Launches `make(offer)` into the first offer, declines every other one.
fn launch_once(
    mut make: impl FnMut(&Offer) -> Vec<TaskInfo> + Send + 'static,
) -> impl FnMut(&dyn SchedulerDriver, &Seen) + Send + 'static {
    let mut launched = false;
    move |driver, seen| {
        if let Seen::Offers(offers) = seen {
            for offer in offers {
                if launched {
                    driver.decline_offer(&offer.id, Some(&Filters { refuse_seconds: Some(60.0) }));
                } else {
                    launched = true;
                    driver.launch_tasks(std::slice::from_ref(&offer.id), &make(offer), None);
                }
            }
        }
    }
}

#[test]
fn command_tasks_run_to_completion() {
    init();
    let cluster = Cluster::start();
    let (scheduler, rx) = Recorder::new(launch_once(|offer| {
        (0..3)
            .map(|i| TaskInfo {
                name: format!("cmd-{i}"),
                task_id: TaskId { value: format!("cmd-{i}") },
                slave_id: offer.slave_id.clone(),
                resources: vec![scalar("cpus", 0.5), scalar("mem", 32.0)],
                command: Some(CommandInfo { value: Some("exit 0".into()), ..Default::default() }),
                ..Default::default()
            })
            .collect()
    }));
    let driver = MesosSchedulerDriver::builder(scheduler, framework("driver-commands"), &cluster.master())
        .environment(env())
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);
    let mut finished = 0;
    while finished < 3 {
        match next(&rx) {
            Seen::Status(s) if s.state == TaskState::TaskFinished as i32 => finished += 1,
            Seen::Status(s) => {
                let ok = [TaskState::TaskStarting, TaskState::TaskRunning].map(|t| t as i32);
                assert!(ok.contains(&s.state), "{s:?}");
            }
            Seen::Error(e) => panic!("{e}"),
            _ => {}
        }
    }
    assert_eq!(driver.stop(false), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
}

#[test]
fn a_custom_executor_on_the_executor_driver_talks_to_its_scheduler() {
    init();
    let cluster = Cluster::start();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let (scheduler, rx) = Recorder::new(launch_once(move |offer| {
        let variables = [(ROLE, "executor"), ("LIBPROCESS_IP", "127.0.0.1")]
            .iter()
            .map(|(name, value)| environment::Variable {
                name: name.to_string(),
                value: Some(value.to_string()),
                ..Default::default()
            })
            .collect();
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "echo".into() },
            name: Some("echo executor".into()),
            command: Some(CommandInfo {
                value: Some(exe.clone()),
                arguments: vec![exe.clone(), "executor_role".into(), "--exact".into(), "--nocapture".into()],
                shell: Some(false),
                environment: Some(Environment { variables }),
                ..Default::default()
            }),
            resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
            ..Default::default()
        };
        vec![TaskInfo {
            name: "echo-task".into(),
            task_id: TaskId { value: "echo-task".into() },
            slave_id: offer.slave_id.clone(),
            resources: vec![scalar("cpus", 0.5), scalar("mem", 32.0)],
            executor: Some(executor),
            ..Default::default()
        }]
    }));
    let driver = MesosSchedulerDriver::builder(scheduler, framework("driver-executor"), &cluster.master())
        .environment(env())
        .build();
    assert_eq!(driver.start(), Status::DriverRunning);
    let running = next_matching(&rx, "the task running", |s| matches!(s, Seen::Status(_)));
    let Seen::Status(status) = running else { unreachable!() };
    assert_eq!(status.state, TaskState::TaskRunning as i32, "{status:?}");
    assert_eq!(status.executor_id.as_ref().map(|e| e.value.as_str()), Some("echo"));
    let agent = status.slave_id.clone().unwrap();
    let echo = ExecutorId { value: "echo".into() };

    // Both ways: scheduler -> agent -> executor, and back.
    assert_eq!(driver.send_framework_message(&echo, &agent, b"ping"), Status::DriverRunning);
    match next_matching(&rx, "the echo", |s| matches!(s, Seen::FrameworkMessage(..))) {
        Seen::FrameworkMessage(executor, from, data) => {
            assert_eq!((executor, from, data), (echo.clone(), agent.clone(), b"gnip".to_vec()));
        }
        _ => unreachable!(),
    }
    driver.send_framework_message(&echo, &agent, b"finish");
    next_matching(&rx, "the task finished", |s| is_state(s, "echo-task", TaskState::TaskFinished));

    // Tearing the framework down shuts the executor down; it stops its
    // driver and exits.
    assert_eq!(driver.stop(false), Status::DriverStopped);
    assert_eq!(driver.join(), Status::DriverStopped);
    wait_until("the executor to be gone", || {
        let state = master_state(cluster.port);
        state["frameworks"].as_array().is_some_and(|f| f.is_empty())
            && state["slaves"][0]["used_resources"]["cpus"].as_f64() == Some(0.0)
    });
}

/// The executor the agent launches in the test above (a no-op in a normal
/// test run): runs one task until told to finish it, echoes framework
/// messages reversed, stops its driver on shutdown.
#[test]
fn executor_role() {
    if std::env::var(ROLE).as_deref() != Ok("executor") {
        return;
    }
    let (executor, _seen) = ExecRecorder::new(|driver, seen| {
        static TASK: std::sync::Mutex<Option<TaskId>> = std::sync::Mutex::new(None);
        let update = |task: &TaskId, state: TaskState| TaskStatus {
            task_id: task.clone(),
            state: state as i32,
            ..Default::default()
        };
        match seen {
            ExecSeen::Launch(task) => {
                *TASK.lock().unwrap() = Some(task.task_id.clone());
                driver.send_status_update(&update(&task.task_id, TaskState::TaskRunning));
            }
            ExecSeen::FrameworkMessage(data) if data == b"finish" => {
                if let Some(task) = TASK.lock().unwrap().as_ref() {
                    driver.send_status_update(&update(task, TaskState::TaskFinished));
                }
            }
            ExecSeen::FrameworkMessage(data) => {
                let reversed: Vec<u8> = data.iter().rev().copied().collect();
                driver.send_framework_message(&reversed);
            }
            ExecSeen::Shutdown => {
                driver.stop();
            }
            _ => {}
        }
    });
    let driver = MesosExecutorDriver::new(executor);
    assert_eq!(driver.run(), Status::DriverStopped);
}
