//! The Mesos containerizer with real processes and the host's cgroups (these
//! machines run cgroup v1 in a hybrid layout; the tests run as root). Each
//! test uses its own `--cgroups_root` and removes it; deadlines only guard
//! against hangs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mesos_rs::agent::containerizer::mesos::config::{Isolation, LauncherKind, MesosContainerizerConfig};
use mesos_rs::agent::containerizer::mesos::{procfs, MesosContainerizer};
use mesos_rs::agent::containerizer::{
    ContainerConfig, ContainerError, Containerizer, LaunchResult, RecoverableContainer, Termination,
};
use mesos_rs::agent::fetcher::FetcherConfig;
use mesos_rs::proto::mesos::{
    command_info::Uri, task_status::Reason, value, CommandInfo, ContainerId, ExecutorId, ExecutorInfo, Resource,
    TaskState,
};

const HIERARCHY: &str = "/sys/fs/cgroup";
const DEADLINE: Duration = Duration::from_secs(120);

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A test's cgroups root and scratch directory, removed at the end.
struct Scratch {
    root: String,
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let root = format!("mesos-rs-test-{}-{}", std::process::id(), SERIAL.fetch_add(1, Ordering::SeqCst));
        Scratch { root, dir: tempfile::tempdir().unwrap() }
    }

    fn config(&self, isolation: &str, launcher: LauncherKind) -> MesosContainerizerConfig {
        MesosContainerizerConfig {
            isolation: Isolation::parse(isolation).unwrap(),
            launcher: Some(launcher),
            cgroups_hierarchy: HIERARCHY.into(),
            cgroups_root: self.root.clone(),
            cgroups_destroy_timeout: Duration::from_secs(30),
            fetcher: FetcherConfig { cache_dir: self.dir.path().join("cache"), ..Default::default() },
            ..Default::default()
        }
    }

    fn sandbox(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cgroup(&self, subsystem: &str, id: &str) -> PathBuf {
        Path::new(HIERARCHY).join(subsystem).join(&self.root).join(id)
    }
}

impl Drop for Scratch {
    /// Whatever a failed test left behind: kill it, remove the cgroups.
    fn drop(&mut self) {
        for subsystem in ["cpu", "cpuacct", "memory", "freezer"] {
            let root = Path::new(HIERARCHY).join(subsystem).join(&self.root);
            let children: Vec<PathBuf> = std::fs::read_dir(&root)
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
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = std::fs::remove_dir(&child);
            }
            let _ = std::fs::remove_dir(&root);
        }
    }
}

fn resources(cpus: f64, mem: f64) -> Vec<Resource> {
    [("cpus", cpus), ("mem", mem)]
        .into_iter()
        .map(|(name, v)| Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            ..Default::default()
        })
        .collect()
}

fn container(id: &str, directory: PathBuf, command: &str) -> ContainerConfig {
    ContainerConfig {
        container_id: ContainerId { value: id.into(), parent: None },
        executor_info: ExecutorInfo {
            executor_id: ExecutorId { value: format!("{id}-executor") },
            ..Default::default()
        },
        task_info: None,
        command_info: CommandInfo { value: Some(command.into()), ..Default::default() },
        container_info: None,
        resources: resources(0.5, 64.0),
        directory: directory.clone(),
        user: None,
        environment: BTreeMap::from([("MESOS_SANDBOX".to_string(), directory.display().to_string())]),
        checkpoint: false,
    }
}

fn id(value: &str) -> ContainerId {
    ContainerId { value: value.into(), parent: None }
}

async fn wait(c: &MesosContainerizer, value: &str) -> Termination {
    tokio::time::timeout(DEADLINE, c.wait(id(value))).await.expect("container did not end").expect("unknown container")
}

async fn until(mut check: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("condition never held");
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runs_in_its_sandbox_with_its_environment_and_exit_status() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu,posix/mem", LauncherKind::Posix)).unwrap();
    // The command waits for a go-file, so the duplicate launch below surely
    // meets a live container (a finished one is forgotten).
    let mut config = container(
        "c1",
        s.sandbox("c1"),
        "while [ ! -e go ]; do sleep 0.02; done; echo out; echo err >&2; echo \"$MESOS_SANDBOX $FOO $PATH\"; pwd; exit 3",
    );
    config.command_info.environment = Some(mesos_rs::proto::mesos::Environment {
        variables: vec![mesos_rs::proto::mesos::environment::Variable {
            name: "FOO".into(),
            value: Some("bar".into()),
            ..Default::default()
        }],
    });
    let LaunchResult::Launched { pid } = c.launch(config).await.unwrap() else { panic!() };
    assert!(pid > 1);
    assert!(matches!(c.launch(container("c1", s.sandbox("c1"), "true")).await, Err(ContainerError::AlreadyExists(_))));
    std::fs::write(s.sandbox("c1").join("go"), "").unwrap();
    let termination = wait(&c, "c1").await;
    assert_eq!(termination.status.map(procfs::wstringify).as_deref(), Some("exited with status 3"));
    assert_eq!(termination.reason, None);
    let sandbox = s.sandbox("c1");
    let stdout = read(sandbox.join("stdout"));
    assert!(stdout.starts_with("out\n"), "{stdout}");
    assert!(stdout.contains(&format!("{} bar /usr/local/sbin:", sandbox.display())), "{stdout}");
    assert!(stdout.ends_with(&format!("{}\n", sandbox.display())), "{stdout}");
    assert_eq!(read(sandbox.join("stderr")), "err\n");
    // Finished containers are forgotten, but their termination is kept.
    assert!(c.containers().await.is_empty());
    assert_eq!(c.destroy(id("c1")).await, Some(termination));
    assert!(c.wait(id("nope")).await.is_none());
    assert!(matches!(c.usage(id("nope")).await, Err(ContainerError::Unknown(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_is_oom_killed_and_reported_as_the_limitation() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("cgroups/cpu,cgroups/mem", LauncherKind::Linux)).unwrap();
    // The top-level process (the "executor") survives; its child (the
    // "task") allocates 256MB under a 32MB limit and is OOM-killed: the
    // containerizer destroys the container with a memory limitation.
    let hog = "python3 -c 'b = b\"x\" * (256 * 1024 * 1024)'; sleep 600";
    let mut config = container("hog", s.sandbox("hog"), hog);
    config.resources = resources(0.1, 32.0);
    c.launch(config).await.unwrap();
    assert_eq!(read(s.cgroup("memory", "hog").join("memory.limit_in_bytes")).trim(), (32u64 << 20).to_string());
    let termination = wait(&c, "hog").await;
    assert_eq!(termination.state, Some(TaskState::TaskFailed));
    assert_eq!(termination.reason, Some(Reason::ContainerLimitationMemory));
    let message = termination.message.unwrap();
    assert!(message.starts_with("Memory limit exceeded: Requested: 32MB Maximum Used: "), "{message}");
    assert!(message.contains("MEMORY STATISTICS"), "{message}");
    assert_eq!(termination.limited_resources.len(), 1);
    assert_eq!(termination.limited_resources[0].name, "mem");
    assert!(termination.limited_resources[0].scalar.as_ref().unwrap().value > 0.0);
    // The surviving "executor" was killed by the destroy.
    assert_eq!(termination.status.map(procfs::wstringify).as_deref(), Some("terminated with signal Killed"));
    assert!(!s.cgroup("memory", "hog").exists());
    assert!(!s.cgroup("freezer", "hog").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_shares_and_cfs_quota_are_applied_and_usage_is_reported() {
    let s = Scratch::new();
    let mut cfg = s.config("cgroups/cpu,cgroups/mem", LauncherKind::Linux);
    cfg.cgroups_enable_cfs = true;
    let c = MesosContainerizer::new(cfg).unwrap();
    let mut config = container("cpu", s.sandbox("cpu"), "sleep 600");
    config.resources = resources(0.5, 64.0);
    c.launch(config).await.unwrap();
    let cpu = s.cgroup("cpu", "cpu");
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")).trim(), "100000");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "50000");
    assert_eq!(read(s.cgroup("memory", "cpu").join("memory.soft_limit_in_bytes")).trim(), (64u64 << 20).to_string());

    // More resources: shares follow, the hard limit is raised.
    c.update(id("cpu"), resources(2.0, 128.0)).await.unwrap();
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "2048");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "200000");
    assert_eq!(read(s.cgroup("memory", "cpu").join("memory.limit_in_bytes")).trim(), (128u64 << 20).to_string());
    // Fewer: the hard limit stays (lowering it could OOM the container).
    c.update(id("cpu"), resources(0.001, 16.0)).await.unwrap();
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "2");
    assert_eq!(read(s.cgroup("memory", "cpu").join("memory.limit_in_bytes")).trim(), (128u64 << 20).to_string());
    assert_eq!(read(s.cgroup("memory", "cpu").join("memory.soft_limit_in_bytes")).trim(), (32u64 << 20).to_string());

    let stats = c.usage(id("cpu")).await.unwrap();
    assert!(stats.timestamp > 1e9);
    assert!(stats.cpus_user_time_secs.is_some() && stats.cpus_system_time_secs.is_some());
    assert!(stats.mem_total_bytes.unwrap() > 0);
    assert!(stats.mem_rss_bytes.is_some());
    assert_eq!(stats.cpus_soft_limit, Some(0.001));
    assert_eq!(stats.cpus_limit, Some(0.001));
    assert_eq!(stats.mem_limit_bytes, Some(16 << 20));
    assert!(stats.cpus_nr_periods.is_some());

    let termination = tokio::time::timeout(DEADLINE, c.destroy(id("cpu"))).await.unwrap().unwrap();
    assert_eq!(termination.status.map(procfs::wstringify).as_deref(), Some("terminated with signal Killed"));
    assert!(!cpu.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_kills_the_whole_tree_including_a_daemonized_grandchild() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu", LauncherKind::Linux)).unwrap();
    // A grandchild that double-forks into its own session escapes any
    // process-tree or session kill: only the freezer cgroup still holds it.
    let script = "(setsid sleep 600 & echo $! > grandchild.pid) ; sleep 600 & echo $! > child.pid; wait";
    c.launch(container("tree", s.sandbox("tree"), script)).await.unwrap();
    let sandbox = s.sandbox("tree");
    until(|| {
        ["grandchild.pid", "child.pid"]
            .iter()
            .all(|f| std::fs::read_to_string(sandbox.join(f)).is_ok_and(|t| t.ends_with('\n')))
    })
    .await;
    let pid = |f: &str| read(sandbox.join(f)).trim().parse::<i32>().unwrap();
    let (grandchild, child) = (pid("grandchild.pid"), pid("child.pid"));
    assert!(procfs::is_alive(grandchild) && procfs::is_alive(child));
    // (`setsid` may not have run yet when the pid file appears.)
    let session = |pid: i32| procfs::process(pid).map(|p| p.session);
    until(|| session(grandchild).is_some() && session(grandchild) != session(child)).await;
    assert!(c.cgroups().unwrap().pids("tree").contains(&grandchild));

    let termination = tokio::time::timeout(DEADLINE, c.destroy(id("tree"))).await.unwrap().unwrap();
    assert!(termination.status.is_some());
    until(|| !procfs::is_alive(grandchild) && !procfs::is_alive(child)).await;
    assert!(!s.cgroup("freezer", "tree").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_posix_launcher_kills_the_executor_session_on_destroy() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu,posix/mem", LauncherKind::Posix)).unwrap();
    c.launch(container("p", s.sandbox("p"), "sleep 600 & echo $! > child.pid; wait")).await.unwrap();
    let sandbox = s.sandbox("p");
    until(|| std::fs::read_to_string(sandbox.join("child.pid")).is_ok_and(|t| t.ends_with('\n'))).await;
    let child: i32 = read(sandbox.join("child.pid")).trim().parse().unwrap();
    let stats = c.usage(id("p")).await.unwrap();
    assert!(stats.mem_rss_bytes.unwrap() > 0);
    assert_eq!(stats.cpus_limit, None);
    assert_eq!(stats.mem_limit_bytes, Some(64 << 20));
    tokio::time::timeout(DEADLINE, c.destroy(id("p"))).await.unwrap().unwrap();
    until(|| !procfs::is_alive(child)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uris_are_fetched_before_the_executor_starts() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu", LauncherKind::Posix)).unwrap();
    let source = s.sandbox("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    let mut config = container("f", s.sandbox("f"), "./run.sh");
    config.command_info.uris = vec![Uri {
        value: format!("file://{}", source.join("run.sh").display()),
        executable: Some(true),
        ..Default::default()
    }];
    c.launch(config).await.unwrap();
    let termination = wait(&c, "f").await;
    assert_eq!(termination.status, Some(0));
    assert_eq!(read(s.sandbox("f").join("stdout")), "ran\n");
    assert!(read(s.sandbox("f").join("stderr")).contains("Fetching URI 'file://"));

    let mut config = container("g", s.sandbox("g"), "true");
    config.command_info.uris = vec![Uri { value: "/does/not/exist.tgz".into(), ..Default::default() }];
    let err = c.launch(config).await.unwrap_err();
    let ContainerError::FetchFailed(message) = err else { panic!("{err:?}") };
    assert!(
        message.starts_with("Failed to fetch all URIs for container 'g': Failed to fetch '/does/not/exist.tgz': "),
        "{message}"
    );
    // The failed launch left nothing behind but its termination.
    assert!(c.containers().await.is_empty());
    assert!(wait(&c, "g").await.message.unwrap().starts_with("Failed to fetch all URIs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_switched_to_when_running_as_root() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu", LauncherKind::Posix)).unwrap();
    let mut config = container("u", s.sandbox("u"), "id -u; id -g; touch mine");
    config.user = Some("nobody".into());
    c.launch(config).await.unwrap();
    assert_eq!(wait(&c, "u").await.status, Some(0));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let lines: Vec<String> = read(s.sandbox("u").join("stdout")).lines().map(String::from).collect();
    assert_eq!(lines, vec![nobody.uid.to_string(), nobody.gid.to_string()]);

    let mut config = container("v", s.sandbox("v"), "true");
    config.user = Some("no-such-user-at-all".into());
    assert!(matches!(c.launch(config).await, Err(ContainerError::LaunchFailed(m)) if m.contains("no such user")));
}

#[test]
fn a_restarted_agent_reattaches_to_live_containers_and_kills_orphans() {
    let s = Scratch::new();
    let config = s.config("cgroups/cpu,cgroups/mem", LauncherKind::Linux);

    // The "old agent": its own runtime, shut down afterwards as if the agent
    // died (the processes keep running, they are not its children any more
    // in any way that matters).
    let old = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (kept, orphan) = {
        let config = config.clone();
        let keep = container("keep", s.sandbox("keep"), "sleep 600");
        let lose = container("orphan", s.sandbox("orphan"), "sleep 600");
        old.block_on(async move {
            let c = MesosContainerizer::new(config).unwrap();
            let LaunchResult::Launched { pid: kept } = c.launch(keep).await.unwrap() else { panic!() };
            let LaunchResult::Launched { pid: orphan } = c.launch(lose).await.unwrap() else { panic!() };
            (kept as i32, orphan as i32)
        })
    };
    old.shutdown_background();

    let new = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    new.block_on(recover_after_restart(&s, config, kept, orphan));
}

async fn recover_after_restart(s: &Scratch, config: MesosContainerizerConfig, kept: i32, orphan: i32) {
    let c = MesosContainerizer::new(config).unwrap();
    let known = vec![
        RecoverableContainer {
            container_id: id("keep"),
            executor_info: ExecutorInfo::default(),
            directory: s.sandbox("keep"),
            pid: Some(kept as u32),
        },
        // Checkpointed, but its process is long gone.
        RecoverableContainer {
            container_id: id("gone"),
            executor_info: ExecutorInfo::default(),
            directory: s.sandbox("gone"),
            pid: Some(999_999),
        },
    ];
    tokio::time::timeout(DEADLINE, c.recover(known)).await.unwrap().unwrap();
    // The orphan (not in the list) was killed and its cgroups removed.
    until(|| !procfs::is_alive(orphan)).await;
    assert!(!s.cgroup("freezer", "orphan").exists());
    // The gone one ended at once, without a status.
    assert_eq!(wait(&c, "gone").await, Termination::default());
    // The live one is ours again.
    assert_eq!(c.containers().await, vec![id("keep")]);
    assert!(procfs::is_alive(kept));
    assert!(c.usage(id("keep")).await.unwrap().mem_total_bytes.is_some());
    let termination = tokio::time::timeout(DEADLINE, c.destroy(id("keep"))).await.unwrap().unwrap();
    assert_eq!(termination.status, None, "not our child: no status");
    until(|| !procfs::is_alive(kept)).await;
    assert!(!s.cgroup("memory", "keep").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_during_fetch_stops_the_launch() {
    let s = Scratch::new();
    let c = MesosContainerizer::new(s.config("posix/cpu", LauncherKind::Posix)).unwrap();
    // A local HTTP server that never answers keeps the fetch busy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = container("slow", s.sandbox("slow"), "true");
    config.command_info.uris = vec![Uri { value: format!("http://127.0.0.1:{port}/x.tgz"), ..Default::default() }];
    let launch = {
        let c = c.clone();
        tokio::spawn(async move { c.launch(config).await })
    };
    until(|| std::fs::read_to_string(s.sandbox("slow").join("stderr")).is_ok_and(|t| t.contains("Fetching"))).await;
    let termination = tokio::time::timeout(DEADLINE, c.destroy(id("slow"))).await.unwrap().unwrap();
    assert_eq!(termination.message.as_deref(), Some("Container destroyed during fetching"));
    let result = launch.await.unwrap();
    assert!(matches!(result, Err(ContainerError::LaunchFailed(m)) if m == "Container destroyed during fetching"));
    drop(listener);
}
