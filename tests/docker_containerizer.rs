//! The Docker containerizer against the real engine: the real `mesos-agent`
//! with `--containerizers=docker,mesos` under a fake master in this process,
//! the real `mesos-docker-executor`, and the image `mesos-rs-task` built by
//! `docker/build.sh` (no registry). A Docker command task survives the
//! agent's SIGKILL and restart (its container is recovered, not treated as
//! an orphan) while a stray `mesos-<uuid>` container is removed; a Docker
//! task is killed; a custom executor (this test binary, mounted into the
//! container) runs inside `mesos-<container id>`.

#[path = "agent_it/harness.rs"]
mod harness;
#[path = "agent_it/v0_executor.rs"]
mod v0_executor;

use std::time::Duration;

use bollard::models::ContainerCreateBody;
use harness::*;
use mesos_rs::agent::containerizer::docker::engine::Engine;
use mesos_rs::proto::mesos::{
    container_info, health_check, volume, CommandInfo, ContainerInfo, HealthCheck, TaskInfo, TaskState, Volume,
};

const IMAGE: &str = "mesos-rs-task";
const SOCKET: &str = "/var/run/docker.sock";

/// Not a test: the v0 custom executor's entry point (see `harness::v0_task`).
#[test]
fn v0_executor_entry() {
    if std::env::var("AGENT_IT_V0_EXECUTOR").is_err() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(v0_executor::run());
    std::process::exit(0);
}

/// The tests share the engine, and one of them removes every stray
/// `mesos-<uuid>` container: they run one at a time.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds the task image (a no-op when it is up to date).
fn build_image() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/build.sh");
        let status = std::process::Command::new(script).arg("task").status().expect("docker/build.sh");
        assert!(status.success(), "docker/build.sh task failed");
    });
}

fn docker_container(image: &str) -> ContainerInfo {
    ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo { image: image.into(), ..Default::default() }),
        ..Default::default()
    }
}

fn docker_task(agent_id: &str, id: &str, command: &str) -> TaskInfo {
    TaskInfo { container: Some(docker_container(IMAGE)), ..command_task(agent_id, id, command) }
}

fn docker_agent(name: &str, master: &FakeMaster, kill_orphans: bool) -> AgentProcess {
    let orphans = format!("--docker_kill_orphans={kill_orphans}");
    AgentProcess::start(
        name,
        master,
        &[
            "--containerizers=docker,mesos",
            "--docker_socket=/var/run/docker.sock",
            &orphans,
            "--docker_stop_timeout=1secs",
        ],
    )
}

/// The docker container ids of an agent's executor runs.
fn container_names(agent: &AgentProcess) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(slaves) = std::fs::read_dir(agent.work_dir.join("slaves")) else {
        return names;
    };
    for slave in slaves.flatten() {
        let Ok(frameworks) = std::fs::read_dir(slave.path().join("frameworks")) else {
            continue;
        };
        for framework in frameworks.flatten() {
            let Ok(executors) = std::fs::read_dir(framework.path().join("executors")) else {
                continue;
            };
            for executor in executors.flatten() {
                let Ok(runs) = std::fs::read_dir(executor.path().join("runs")) else {
                    continue;
                };
                for run in runs.flatten() {
                    let name = run.file_name().to_string_lossy().to_string();
                    if name != "latest" {
                        names.push(format!("mesos-{name}"));
                    }
                }
            }
        }
    }
    names
}

async fn cleanup(engine: &Engine, agent: &AgentProcess) {
    for name in container_names(agent) {
        let _ = engine.remove(&name).await;
    }
}

fn sandbox(agent: &AgentProcess, framework: &str, executor: &str, agent_id: &str) -> std::path::PathBuf {
    let latest =
        agent.work_dir.join(format!("slaves/{agent_id}/frameworks/{framework}/executors/{executor}/runs/latest"));
    std::fs::canonicalize(latest).unwrap()
}

async fn running(engine: &Engine, name: &str) -> bool {
    engine.list(name).await.unwrap().iter().any(|c| c.name == name && c.running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_survives_an_agent_restart_and_orphans_are_removed() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    build_image();
    let engine = Engine::connect(SOCKET).await.unwrap();
    // A container a previous agent left behind: Mesos's name, an unknown id.
    let orphan = format!("mesos-{}", uuid::Uuid::new_v4());
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        ..Default::default()
    };
    engine.run(&orphan, body).await.unwrap();
    assert!(running(&engine, &orphan).await);

    let mut master = FakeMaster::start().await;
    let mut agent = docker_agent("docker-restart", &master, true);
    master.accept_registration().await;
    let fw = framework("F-docker-restart");
    let id = master.agent_id.clone();
    master.run_task(
        &fw,
        docker_task(
            &id,
            "d-wait",
            "while [ ! -e $MESOS_SANDBOX/finish-now ]; do sleep 0.1; done; echo finished-in-docker",
        ),
    );
    master.until("d-wait to run", |m| m.states("d-wait").contains(&TaskState::TaskRunning)).await;
    // The agent's recovery at start removed the orphan.
    within("the orphan to be removed", async {
        while !engine.list(&orphan).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let names = container_names(&agent);
    assert_eq!(names.len(), 1, "{names:?}");
    let task_container = names[0].clone();
    assert!(running(&engine, &task_container).await);

    // SIGKILL the agent: the container and its executor live on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(running(&engine, &task_container).await, "the task's container died with the agent");
    agent.restart();
    master.accept_reregistration().await;
    // Recovered, not an orphan: still running after the restart's recovery.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(running(&engine, &task_container).await, "the recovered container was removed");
    let dir = sandbox(&agent, "F-docker-restart", "d-wait", &id);
    std::fs::write(dir.join("finish-now"), b"").unwrap();
    let terminal = master.terminal_of("d-wait").await;
    assert_eq!(terminal.status.state(), TaskState::TaskFinished, "{:?}", terminal.status);
    assert_eq!(terminal.status.message.as_deref(), Some("Container exited with status 0"));
    let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
    assert!(out.contains("finished-in-docker"), "{out}");
    let finished = master.states("d-wait").iter().filter(|s| **s == TaskState::TaskFinished).count();
    assert_eq!(finished, 1);
    cleanup(&engine, &agent).await;
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_is_killed_and_a_custom_executor_runs_in_its_container() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    build_image();
    let engine = Engine::connect(SOCKET).await.unwrap();
    let mut master = FakeMaster::start().await;
    let agent = docker_agent("docker-kill", &master, false);
    master.accept_registration().await;
    let fw = framework("F-docker-kill");
    let id = master.agent_id.clone();

    // A command task with a health check that can only pass inside its
    // container (the file exists in the container's filesystem alone): run
    // with `docker exec`, as Mesos does. Then SIGTERM ends it: TASK_KILLED.
    let mut task = docker_task(&id, "d-kill", "touch /tmp/healthy-inside; exec sleep 300");
    task.health_check = Some(HealthCheck {
        r#type: Some(health_check::Type::Command as i32),
        command: Some(CommandInfo { value: Some("test -f /tmp/healthy-inside".into()), ..Default::default() }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(1.0),
        grace_period_seconds: Some(0.0),
        ..Default::default()
    });
    master.run_task(&fw, task);
    master
        .until("d-kill to be reported healthy", |m| {
            m.updates.iter().any(|u| u.status.task_id.value == "d-kill" && u.status.healthy == Some(true))
        })
        .await;
    master.kill_task("F-docker-kill", "d-kill");
    let terminal = master.terminal_of("d-kill").await;
    assert_eq!(terminal.status.state(), TaskState::TaskKilled, "{:?}", terminal.status);

    // A custom executor in a Docker container: this test binary, mounted at
    // the same path, on the host network so it reaches the agent.
    let mut task = v0_task(&id, "t-in-docker", "E-docker", "finish");
    let exe_dir = std::env::current_exe().unwrap().parent().unwrap().display().to_string();
    if let Some(executor) = task.executor.as_mut() {
        let mut container = docker_container(IMAGE);
        container.volumes = vec![Volume {
            container_path: exe_dir.clone(),
            host_path: Some(exe_dir.clone()),
            mode: volume::Mode::Ro as i32,
            ..Default::default()
        }];
        executor.container = Some(container);
    }
    master.run_task(&fw, task);
    let terminal = master.terminal_of("t-in-docker").await;
    assert_eq!(terminal.status.state(), TaskState::TaskFinished, "{:?}", terminal.status);
    // The executor ran as the container named after its container id.
    let run = sandbox(&agent, "F-docker-kill", "E-docker", &id);
    let executor_container = format!("mesos-{}", run.file_name().unwrap().to_string_lossy());
    assert!(container_names(&agent).contains(&executor_container));
    let listed = engine.list(&executor_container).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    cleanup(&engine, &agent).await;
    drop(agent);
}
