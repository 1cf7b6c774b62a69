//! Integration tests with real processes over the real wire: the real
//! `mesos-agent` against a fake master in this process, running the real
//! `mesos-executor` (v1 HTTP API), `mesos-default-executor` (task groups),
//! and a v0 custom executor (this test binary, re-invoked). Tasks finish,
//! fail and are killed; the agent is SIGKILLed while tasks run and
//! restarted; `/files` refuses paths outside sandboxes; with
//! `--master=zk://...` the agent follows the leader a real ZooKeeper elects.

#[path = "agent_it/harness.rs"]
mod harness;
mod support;
#[path = "agent_it/v0_executor.rs"]
mod v0_executor;

use harness::*;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{
    executor_info::Type as ExecutorType, task_status::Reason, ExecutorId, ExecutorInfo, FrameworkId, SlaveId,
    TaskGroupInfo, TaskState,
};

/// Not a test: the entry point of the v0 custom executor, when this binary
/// is launched by the agent as an executor (see `harness::v0_task`).
#[test]
fn v0_executor_entry() {
    if std::env::var("AGENT_IT_V0_EXECUTOR").is_err() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(v0_executor::run());
    std::process::exit(0);
}

fn sandbox_of(agent: &AgentProcess, framework: &str, executor: &str, agent_id: &str) -> std::path::PathBuf {
    let latest = agent
        .work_dir
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework)
        .join("executors")
        .join(executor)
        .join("runs")
        .join("latest");
    std::fs::canonicalize(latest).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_tasks_finish_fail_and_are_killed_through_the_real_command_executor() {
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start("command", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-cmd");
    let id = master.agent_id.clone();
    master.run_task(&fw, command_task(&id, "ok", "echo hello from the task"));
    master.run_task(&fw, command_task(&id, "bad", "echo oops >&2; exit 3"));
    master.run_task(&fw, command_task(&id, "slow", "sleep 600"));

    let ok = master.terminal_of("ok").await;
    assert_eq!(ok.status.state(), TaskState::TaskFinished);
    assert!(master.states("ok").contains(&TaskState::TaskRunning));
    let bad = master.terminal_of("bad").await;
    assert_eq!(bad.status.state(), TaskState::TaskFailed);
    assert!(bad.status.message().contains('3'), "{}", bad.status.message());

    master.until("slow to run", |m| m.states("slow").contains(&TaskState::TaskRunning)).await;
    master.kill_task("F-cmd", "slow");
    let slow = master.terminal_of("slow").await;
    assert_eq!(slow.status.state(), TaskState::TaskKilled);

    // The sandbox holds the task's output, and /files serves it.
    let sandbox = sandbox_of(&agent, "F-cmd", "ok", &id);
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hello from the task"), "{stdout}");
    let virtual_path = "/frameworks/F-cmd/executors/ok/runs/latest/stdout";
    let (code, body) = get(&agent.url(&format!("/files/read?path={virtual_path}&offset=0"))).await;
    assert_eq!(code, 200, "{body}");
    let read: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(read["data"].as_str().unwrap().contains("hello from the task"));
    assert_eq!(read["offset"], 0);
    let (code, body) = get(&agent.url(&format!("/files/browse?path={}", sandbox.display()))).await;
    assert_eq!(code, 200);
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(listing.as_array().unwrap().iter().any(|f| f["path"].as_str().unwrap().ends_with("/stdout")));

    // /state has the frameworks, executors and tasks with Mesos's keys.
    let (code, body) = get(&agent.url("/slave(1)/state.json")).await;
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["version"], "1.11.0");
    assert_eq!(state["resources"]["cpus"], 4.0);
    let frameworks = state["frameworks"].as_array().unwrap();
    let completed = state["completed_frameworks"].as_array().unwrap();
    let all: Vec<&serde_json::Value> = frameworks.iter().chain(completed.iter()).collect();
    assert!(all.iter().any(|f| f["id"] == "F-cmd"));
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_custom_executor_runs_tasks_and_exchanges_framework_messages() {
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start("v0", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-v0");
    let id = master.agent_id.clone();
    master.run_task(&fw, v0_task(&id, "t-finish", "E-v0", "finish"));
    master.run_task(&fw, v0_task(&id, "t-fail", "E-v0", "fail"));
    master.run_task(&fw, v0_task(&id, "t-wait", "E-v0", "wait"));
    assert_eq!(master.terminal_of("t-finish").await.status.state(), TaskState::TaskFinished);
    assert_eq!(master.terminal_of("t-fail").await.status.state(), TaskState::TaskFailed);
    master.until("t-wait to run", |m| m.states("t-wait").contains(&TaskState::TaskRunning)).await;

    // A framework message reaches the executor; its reply comes back
    // (to the scheduler pid of the RunTaskMessage: here, the master).
    master.send(mi::FrameworkToExecutorMessage {
        slave_id: SlaveId { value: id.clone() },
        framework_id: FrameworkId { value: "F-v0".into() },
        executor_id: ExecutorId { value: "E-v0".into() },
        data: b"ping".to_vec(),
    });
    let (_, reply) = master.expect::<mi::ExecutorToFrameworkMessage>().await;
    assert_eq!(reply.data, b"echo:ping");

    master.kill_task("F-v0", "t-wait");
    assert_eq!(master.terminal_of("t-wait").await.status.state(), TaskState::TaskKilled);
    // Each update reached the master once, in order per task.
    for task in ["t-finish", "t-fail", "t-wait"] {
        let states = master.states(task);
        assert_eq!(states.first(), Some(&TaskState::TaskRunning), "{task}: {states:?}");
        assert_eq!(states.len(), 2, "{task}: {states:?}");
    }
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_runs_on_the_default_executor() {
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start("group", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-group");
    let id = master.agent_id.clone();
    let executor = ExecutorInfo {
        r#type: Some(ExecutorType::Default as i32),
        executor_id: ExecutorId { value: "E-group".into() },
        framework_id: Some(FrameworkId { value: "F-group".into() }),
        resources: resources("cpus:0.1;mem:32"),
        ..Default::default()
    };
    let group = TaskGroupInfo { tasks: vec![command_task(&id, "g1", "true"), command_task(&id, "g2", "echo two")] };
    master.send(mi::RunTaskGroupMessage {
        framework: fw,
        executor,
        task_group: group,
        resource_version_uuids: vec![],
        launch_executor: None,
    });
    assert_eq!(master.terminal_of("g1").await.status.state(), TaskState::TaskFinished);
    assert_eq!(master.terminal_of("g2").await.status.state(), TaskState::TaskFinished);
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_while_tasks_run_recovers_them_and_delivers_every_update_exactly_once() {
    let mut master = FakeMaster::start().await;
    let mut agent = AgentProcess::start("restart", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-restart");
    let id = master.agent_id.clone();
    // A command task that ends while the agent is down (v1 executor), and
    // v0 tasks that end while it is down and after it is back.
    master.run_task(&fw, command_task(&id, "cmd", "while [ ! -e finish-now ]; do sleep 0.1; done"));
    master.run_task(&fw, v0_task(&id, "v0-down", "E-restart", "wait"));
    master.run_task(&fw, v0_task(&id, "v0-after", "E-restart", "wait"));
    for task in ["cmd", "v0-down", "v0-after"] {
        master.until("tasks to run", |m| m.states(task).contains(&TaskState::TaskRunning)).await;
    }
    // Kill the agent only once every RUNNING acknowledgement is on disk, so
    // nothing is legitimately resent.
    let work_dir = agent.work_dir.clone();
    within("acknowledgements checkpointed", async {
        loop {
            let files = update_files(&work_dir);
            let done = files.len() == 3
                && files.values().all(|p| {
                    let (u, a) = update_records(p);
                    u >= 1 && u == a
                });
            if done {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    agent.kill();

    // While the agent is down, two tasks finish.
    let cmd_sandbox = sandbox_of(&agent, "F-restart", "cmd", &id);
    std::fs::write(cmd_sandbox.join("finish-now"), b"").unwrap();
    let v0_sandbox = sandbox_of(&agent, "F-restart", "E-restart", &id);
    std::fs::write(v0_sandbox.join("finish-v0-down"), b"").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    agent.restart();
    let reregister = master.accept_reregistration().await;
    let mut tasks: Vec<String> = reregister.tasks.iter().map(|t| t.task_id.value.clone()).collect();
    tasks.sort();
    assert_eq!(tasks, vec!["cmd", "v0-after", "v0-down"]);
    assert_eq!(master.terminal_of("cmd").await.status.state(), TaskState::TaskFinished);
    assert_eq!(master.terminal_of("v0-down").await.status.state(), TaskState::TaskFinished);
    // The executor that stayed up is still usable.
    std::fs::write(v0_sandbox.join("finish-v0-after"), b"").unwrap();
    assert_eq!(master.terminal_of("v0-after").await.status.state(), TaskState::TaskFinished);

    // Exactly once: no update (by UUID) arrived twice, nothing was lost.
    let mut seen = std::collections::BTreeSet::new();
    for update in &master.updates {
        assert!(seen.insert(update.uuid.clone()), "duplicate update {:?}", update.status.state());
        assert!(
            !matches!(update.status.state(), TaskState::TaskLost | TaskState::TaskGone | TaskState::TaskFailed),
            "{:?}",
            update.status
        );
    }
    for task in ["cmd", "v0-down", "v0-after"] {
        let states = master.states(task);
        assert_eq!(states.iter().filter(|s| **s == TaskState::TaskFinished).count(), 1, "{task}: {states:?}");
    }
    // Both executors came back to the new agent: the v0 one reregistered,
    // the v1 one resubscribed.
    let log = agent.log();
    assert!(log.contains("Received re-registration message from executor 'E-restart'"), "{log}");
    assert_eq!(log.matches("Received Subscribe request for HTTP executor 'cmd'").count(), 2, "{log}");
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_refuses_paths_outside_the_sandbox() {
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start("files", &master, &[]);
    master.accept_registration().await;
    let fw = framework("F-files");
    let id = master.agent_id.clone();
    master.run_task(&fw, command_task(&id, "leaky", "ln -s /etc/passwd leak; mkdir sub; echo inside > sub/file"));
    assert_eq!(master.terminal_of("leaky").await.status.state(), TaskState::TaskFinished);
    let base = "/frameworks/F-files/executors/leaky/runs/latest";
    let (code, body) = get(&agent.url(&format!("/files/read?path={base}/sub/file&offset=0"))).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("inside"));
    for escape in [
        format!("{base}/../../../../../../../etc/passwd"),
        format!("{base}/sub/../../../../../../../../etc/passwd"),
        format!("{base}/leak"),
        format!("{base}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        "/etc/passwd".to_string(),
    ] {
        for endpoint in ["read", "download", "browse"] {
            let (code, body) = get(&agent.url(&format!("/files/{endpoint}?path={escape}&offset=0"))).await;
            assert!(code == 400 || code == 404, "{endpoint} {escape}: {code} {body}");
            assert!(!body.contains("root:"), "{endpoint} {escape} leaked /etc/passwd");
        }
    }
    let (code, _) = get(&agent.url("/files/read?offset=0")).await;
    assert_eq!(code, 400);
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_that_cannot_start_fails_its_task_with_the_launch_reason() {
    let mut master = FakeMaster::start().await;
    // No executors where the agent looks for them.
    let agent = AgentProcess::start("no-executor", &master, &["--launcher_dir=/nonexistent"]);
    master.accept_registration().await;
    let fw = framework("F-none");
    let id = master.agent_id.clone();
    master.run_task(&fw, command_task(&id, "t", "true"));
    let update = master.terminal_of("t").await;
    assert_eq!(update.status.state(), TaskState::TaskFailed);
    assert_eq!(update.status.reason(), Reason::ExecutorTerminated);
    drop(agent);
}

/// Removes a cgroups root (and kills what is left in it) when dropped.
struct CgroupsRoot(String);

impl Drop for CgroupsRoot {
    fn drop(&mut self) {
        for subsystem in ["cpu", "cpuacct", "memory", "freezer"] {
            let root = std::path::Path::new("/sys/fs/cgroup").join(subsystem).join(&self.0);
            let children: Vec<std::path::PathBuf> = std::fs::read_dir(&root)
                .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
                .unwrap_or_default();
            for child in children {
                for _ in 0..100 {
                    let procs = std::fs::read_to_string(child.join("cgroup.procs")).unwrap_or_default();
                    if procs.trim().is_empty() {
                        break;
                    }
                    for pid in procs.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                        let _ =
                            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let _ = std::fs::remove_dir(&child);
            }
            let _ = std::fs::remove_dir(&root);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_memory_limit_fails_with_the_memory_limitation_and_usage_is_monitored() {
    if !nix::unistd::geteuid().is_root() || !std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() {
        eprintln!("skipped: needs root and the cgroup v1 memory hierarchy");
        return;
    }
    let root = CgroupsRoot(format!("mesos-rs-agent-it-{}", std::process::id()));
    let mut master = FakeMaster::start().await;
    let agent = AgentProcess::start(
        "oom",
        &master,
        &["--launcher=linux", "--isolation=cgroups/cpu,cgroups/mem", &format!("--cgroups_root={}", root.0)],
    );
    master.accept_registration().await;
    let fw = framework("F-oom");
    let id = master.agent_id.clone();
    master.run_task(&fw, command_task(&id, "calm", "sleep 600"));
    master.run_task(&fw, command_task(&id, "hog", "python3 -c 'b = b\"x\" * (512 * 1024 * 1024)'; sleep 600"));
    let hog = master.terminal_of("hog").await;
    assert_eq!(hog.status.state(), TaskState::TaskFailed);
    assert_eq!(hog.status.reason(), Reason::ContainerLimitationMemory);
    assert!(hog.status.message().contains("Memory limit exceeded"), "{}", hog.status.message());
    assert_eq!(hog.status.limitation.as_ref().unwrap().resources[0].name, "mem");

    // The calm task's container is monitored.
    master.until("calm to run", |m| m.states("calm").contains(&TaskState::TaskRunning)).await;
    let (code, body) = get(&agent.url("/monitor/statistics.json")).await;
    assert_eq!(code, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    let calm = stats.as_array().unwrap().iter().find(|e| e["executor_id"] == "calm").expect("calm is monitored");
    assert_eq!(calm["framework_id"], "F-oom");
    assert!(calm["statistics"]["mem_limit_bytes"].as_u64().unwrap() > 0, "{calm}");
    assert!(calm["statistics"]["timestamp"].as_f64().unwrap() > 0.0);
    let (_, body) = get(&agent.url("/metrics/snapshot")).await;
    let metrics: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metrics["slave/registered"], 1.0);
    assert_eq!(metrics["slave/tasks_failed"], 1.0);
    assert_eq!(metrics["slave/tasks_running"], 1.0);
    master.kill_task("F-oom", "calm");
    assert_eq!(master.terminal_of("calm").await.status.state(), TaskState::TaskKilled);
    drop(agent);
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_zookeeper_master_url_the_agent_follows_the_elected_leader() {
    use mesos_rs::zookeeper::contender::{Candidacy, ContenderEvent, MasterContender};
    use mesos_rs::zookeeper::master_info;

    async fn until_joined(candidacy: &mut Candidacy) {
        loop {
            match within("a contender event", candidacy.next()).await {
                Some(ContenderEvent::Joined { .. }) => return,
                Some(_) => continue,
                None => panic!("the candidacy ended"),
            }
        }
    }

    let zk = support::zookeeper::ZkServer::start();
    let url = zk.url("/mesos");
    let mut first = FakeMaster::start().await;
    let mut second = FakeMaster::start().await;
    let contender = MasterContender::create(Some(&url), None).unwrap();
    let mut leading = contender.contend(&master_info::for_master("m-1", &first.pid, "m1"));
    until_joined(&mut leading).await;

    let master_flag = format!("--master={url}");
    let agent = AgentProcess::start("zk", &first, &[&master_flag]);
    first.accept_registration().await;
    // Let the agent take its ID before the leader changes: a registration still
    // in flight when a new leader appears is (as in Mesos) a new registration.
    within("the agent to take its ID", async {
        loop {
            let (code, body) = get(&agent.url("/state")).await;
            if code == 200 && body.contains(&first.agent_id) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;

    // A second master joins behind the first; the first withdraws, so the
    // second leads and the agent reregisters there with its agent ID.
    let mut next = contender.contend(&master_info::for_master("m-2", &second.pid, "m2"));
    until_joined(&mut next).await;
    assert!(leading.withdraw().await.unwrap());
    let reregister = second.accept_reregistration().await;
    assert_eq!(reregister.slave.id.as_ref().map(|id| id.value.as_str()), Some(first.agent_id.as_str()));
    assert!(
        !second.received.iter().any(|(_, m)| decode::<mi::RegisterSlaveMessage>(m).is_some()),
        "the agent reregisters, it does not register anew"
    );
    drop(agent);
}
