//! Real processes over the real wire: a fake master (a v0 process in the
//! test, speaking the master's side of the agent protocol), the real
//! `mesos-agent` binary, the real `mesos-executor` / `mesos-default-executor`,
//! and a v0 custom executor that is this very test binary re-invoked
//! (`v0_executor_entry`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mesos_rs::agent::core::framework::is_terminal;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{
    CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, TaskId, TaskInfo, TaskState,
};
use mesos_rs::v0_compat::{serve, Event, Message, MessageType, Node, Options, ProcessHandle, Upid};
use tokio::sync::mpsc;

/// A hang guard, not a measurement.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(v) => v,
        Err(_) => panic!("never happened: {what}"),
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn decode<T: MessageType + Clone>(message: &Message) -> Option<T> {
    if message.name() != T::NAME {
        return None;
    }
    <T as prost::Message>::decode(message.encode().as_slice()).ok()
}

/// The master's side of the agent protocol, scripted by the test.
pub struct FakeMaster {
    pub pid: Upid,
    pub handle: ProcessHandle,
    events: mpsc::UnboundedReceiver<(Upid, Message)>,
    /// Everything received, in order.
    pub received: Vec<(Upid, Message)>,
    /// Status updates received (acknowledged automatically when `auto_ack`).
    pub updates: Vec<mi::StatusUpdate>,
    pub auto_ack: bool,
    pub agent: Option<Upid>,
    pub agent_id: String,
    _node: Node,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeMaster {
    pub async fn start() -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let node = Node::new(addr, Options::default());
        let mut process = node.spawn("master").unwrap();
        let pid = process.pid().clone();
        let handle = process.handle().clone();
        let server = tokio::spawn(serve(listener, node.clone(), axum::Router::new(), std::future::pending()));
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = process.recv().await {
                if let Event::Message { from, message } = event {
                    if tx.send((from, message)).is_err() {
                        return;
                    }
                }
            }
        });
        FakeMaster {
            pid,
            handle,
            events,
            received: Vec::new(),
            updates: Vec::new(),
            auto_ack: true,
            agent: None,
            agent_id: "S-it-1".into(),
            _node: node,
            _server: server,
        }
    }

    pub fn address(&self) -> String {
        format!("{}:{}", self.pid.addr().ip(), self.pid.addr().port())
    }

    /// Takes one message off the wire, answering what a master answers
    /// without thinking (pongs are not needed: the master pings).
    async fn next(&mut self) -> (Upid, Message) {
        let (from, message) = within("a message to the master", self.events.recv()).await.expect("master alive");
        if let Some(update) = decode::<mi::StatusUpdateMessage>(&message) {
            self.updates.push(update.update.clone());
            if self.auto_ack {
                self.ack(&from, &update.update);
            }
        }
        self.received.push((from.clone(), message.clone()));
        (from, message)
    }

    pub fn ack(&self, agent: &Upid, update: &mi::StatusUpdate) {
        let ack = mi::StatusUpdateAcknowledgementMessage {
            slave_id: update.slave_id.clone().unwrap_or_default(),
            framework_id: update.framework_id.clone(),
            task_id: update.status.task_id.clone(),
            uuid: update.uuid.clone().unwrap_or_default(),
        };
        self.handle.send(agent, &ack).unwrap();
    }

    /// Waits for a message of type `T` (earlier ones of other types are kept).
    pub async fn expect<T: MessageType + Clone>(&mut self) -> (Upid, T) {
        loop {
            let (from, message) = self.next().await;
            if let Some(m) = decode::<T>(&message) {
                return (from, m);
            }
        }
    }

    /// Waits until `done(self)` holds, processing messages meanwhile.
    pub async fn until(&mut self, what: &str, mut done: impl FnMut(&FakeMaster) -> bool) {
        while !done(self) {
            let _ = within(what, self.next()).await;
        }
    }

    /// Accepts the agent's registration.
    pub async fn accept_registration(&mut self) -> Upid {
        let (agent, _register) = self.expect::<mi::RegisterSlaveMessage>().await;
        let reply = mi::SlaveRegisteredMessage {
            slave_id: SlaveId { value: self.agent_id.clone() },
            connection: Some(mi::MasterSlaveConnection { total_ping_timeout_seconds: Some(600.0) }),
        };
        self.handle.send(&agent, &reply).unwrap();
        self.agent = Some(agent.clone());
        agent
    }

    /// Accepts a reregistration; returns the message.
    pub async fn accept_reregistration(&mut self) -> mi::ReregisterSlaveMessage {
        let (agent, message) = self.expect::<mi::ReregisterSlaveMessage>().await;
        let reply = mi::SlaveReregisteredMessage {
            slave_id: SlaveId { value: self.agent_id.clone() },
            reconciliations: vec![],
            connection: Some(mi::MasterSlaveConnection { total_ping_timeout_seconds: Some(600.0) }),
        };
        self.handle.send(&agent, &reply).unwrap();
        self.agent = Some(agent);
        message
    }

    pub fn send<M: MessageType>(&self, message: M) {
        self.handle.send(self.agent.as_ref().expect("registered agent"), &message).unwrap();
    }

    pub fn run_task(&self, framework: &FrameworkInfo, task: TaskInfo) {
        self.send(mi::RunTaskMessage {
            framework: framework.clone(),
            task,
            pid: Some(self.pid.to_string()),
            ..Default::default()
        });
    }

    pub fn kill_task(&self, framework_id: &str, task_id: &str) {
        self.send(mi::KillTaskMessage {
            framework_id: FrameworkId { value: framework_id.into() },
            task_id: TaskId { value: task_id.into() },
            kill_policy: None,
        });
    }

    /// The states received for a task, in order.
    pub fn states(&self, task_id: &str) -> Vec<TaskState> {
        self.updates.iter().filter(|u| u.status.task_id.value == task_id).map(|u| u.status.state()).collect()
    }

    pub fn terminal(&self, task_id: &str) -> Option<mi::StatusUpdate> {
        self.updates.iter().find(|u| u.status.task_id.value == task_id && is_terminal(u.status.state())).cloned()
    }

    /// Waits for a terminal update of `task_id`.
    pub async fn terminal_of(&mut self, task_id: &str) -> mi::StatusUpdate {
        let id = task_id.to_string();
        self.until(&format!("a terminal update for {id}"), |m| m.terminal(&id).is_some()).await;
        self.terminal(task_id).unwrap()
    }
}

/// A running `mesos-agent` on a temporary work_dir.
pub struct AgentProcess {
    pub child: Option<Child>,
    pub work_dir: PathBuf,
    pub port: u16,
    pub args: Vec<String>,
    pub log: PathBuf,
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "mesos-agent" => PathBuf::from(env!("CARGO_BIN_EXE_mesos-agent")),
        "mesos-executor" => PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor")),
        _ => panic!("{name}"),
    }
}

impl AgentProcess {
    pub fn start(name: &str, master: &FakeMaster, extra: &[&str]) -> AgentProcess {
        let work_dir = std::env::temp_dir().join(format!("agent-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work_dir);
        std::fs::create_dir_all(&work_dir).unwrap();
        let port = free_port();
        let launcher_dir = bin("mesos-executor").parent().unwrap().display().to_string();
        let mut args: Vec<String> = vec![
            format!("--master={}", master.address()),
            format!("--work_dir={}", work_dir.display()),
            format!("--port={port}"),
            "--ip=127.0.0.1".into(),
            "--hostname=localhost".into(),
            "--resources=cpus:4;mem:2048;disk:2048;ports:[31000-31100]".into(),
            format!("--launcher_dir={launcher_dir}"),
            "--launcher=posix".into(),
            "--isolation=posix/cpu,posix/mem".into(),
            "--switch_user=false".into(),
            "--registration_backoff_factor=10ms".into(),
            "--executor_reregistration_timeout=5secs".into(),
            "--recovery_timeout=2mins".into(),
            format!("--fetcher_cache_dir={}/fetch", work_dir.display()),
        ];
        for e in extra {
            let name = e.split('=').next().unwrap_or(e);
            args.retain(|a| a.split('=').next() != Some(name));
            args.push(e.to_string());
        }
        let mut agent =
            AgentProcess { child: None, work_dir: work_dir.clone(), port, args, log: work_dir.join("agent.log") };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(bin("mesos-agent"))
            .args(&self.args)
            .env_remove("MESOS_MASTER")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: the agent dies mid-flight; executors live on.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again on the same work_dir and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the agent to exit; its status code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.take().and_then(|mut c| c.wait().ok()).and_then(|s| s.code())
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
        kill_strays(&self.work_dir);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        } else {
            eprintln!("--- agent log ({}) ---\n{}", self.log.display(), self.log());
        }
    }
}

/// Kills every process whose `MESOS_DIRECTORY` is under `work_dir`
/// (executors and their tasks left by a failed test).
pub fn kill_strays(work_dir: &Path) {
    let needle = format!("MESOS_DIRECTORY={}", work_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if environ.split(|b| *b == 0).any(|var| var.starts_with(needle.as_bytes())) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// A GET on the agent, waiting for it to serve.
pub async fn get(url: &str) -> (u16, String) {
    within(&format!("GET {url}"), async {
        loop {
            match http_get(url).await {
                Ok(r) => return r,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
}

async fn http_get(url: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no head")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

pub fn framework(id: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: format!("it {id}"),
        id: Some(FrameworkId { value: id.into() }),
        checkpoint: Some(true),
        ..Default::default()
    }
}

pub fn resources(text: &str) -> Vec<mesos_rs::proto::mesos::Resource> {
    mesos_rs::common::resources::Resources::parse(text, "*").unwrap().to_protos()
}

pub fn command_task(agent_id: &str, id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: agent_id.into() },
        resources: resources("cpus:0.1;mem:32"),
        command: Some(CommandInfo { value: Some(command.into()), shell: Some(true), ..Default::default() }),
        ..Default::default()
    }
}

/// A task for the v0 test executor: `data` says what it does.
pub fn v0_task(agent_id: &str, id: &str, executor_id: &str, data: &str) -> TaskInfo {
    let exe = std::env::current_exe().unwrap().display().to_string();
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: agent_id.into() },
        resources: resources("cpus:0.1;mem:32"),
        data: Some(data.as_bytes().to_vec()),
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId { value: executor_id.into() },
            command: Some(CommandInfo {
                shell: Some(false),
                value: Some(exe.clone()),
                arguments: vec![exe, "--exact".into(), "v0_executor_entry".into(), "--nocapture".into()],
                environment: Some(mesos_rs::proto::mesos::Environment {
                    variables: vec![mesos_rs::proto::mesos::environment::Variable {
                        name: "AGENT_IT_V0_EXECUTOR".into(),
                        value: Some("1".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            resources: resources("cpus:0.1;mem:32"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Counts UPDATE and ACK records in a `task.updates` file.
pub fn update_records(path: &Path) -> (usize, usize) {
    let Ok(bytes) = std::fs::read(path) else { return (0, 0) };
    let (mut updates, mut acks, mut at) = (0, 0, 0);
    while at + 4 <= bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if at + 4 + n > bytes.len() {
            break;
        }
        let record = <mi::StatusUpdateRecord as prost::Message>::decode(&bytes[at + 4..at + 4 + n]).unwrap();
        if record.r#type() == mi::status_update_record::Type::Update {
            updates += 1;
        } else {
            acks += 1;
        }
        at += 4 + n;
    }
    (updates, acks)
}

/// The `task.updates` files under a work_dir, by task id.
pub fn update_files(work_dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![work_dir.join("meta")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "latest") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "task.updates") {
                let task = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
                out.insert(task, path);
            }
        }
    }
    out
}
