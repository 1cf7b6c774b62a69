//! Checkpoints: writing the agent's durable state under `meta/` and reading it
//! back at recovery, in Mesos's formats (`src/slave/state.{hpp,cpp}`).
//!
//! # Formats
//! - A protobuf checkpoint (`slave.info`, `framework.info`, `executor.info`,
//!   `task.info`, `resources_and_operations.state`) is one record: a 4-byte
//!   little-endian length followed by the message, as stout's
//!   `protobuf::write` lays it out. `resources.info` is several such records.
//!   Resources are written in the pre-refinement format when they can be
//!   (Mesos downgrades on checkpoint) and upgraded when read.
//! - `task.updates` is a stream of `StatusUpdateRecord`s (UPDATE or ACK),
//!   appended; a torn last record is dropped and the file truncated, as Mesos
//!   does.
//! - Pids (`framework.pid`, `libprocess.pid`, `forked.pid`), `boot_id` and
//!   `executor_generated_for_command_task` are plain text. An unset UPID is
//!   written as libprocess prints it: `@0.0.0.0:0`.
//! - Every file except `task.updates` is written to a temporary file in the
//!   same directory and renamed over the target (atomic replace).
//!
//! # Layout of this file
//! - [`FsOp`] and [`apply`]: the durable writes the agent's state machine
//!   emits, executed by its driver (and by the simulation, against a temp dir);
//! - [`recover`] and the `*State` types: what a restarted agent finds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

use super::paths::{self, RunIds};
use crate::common::resources::format::{downgrade_message, upgrade_message};
use crate::proto::mesos::internal::{slave::ResourceState, status_update_record, StatusUpdate, StatusUpdateRecord};
use crate::proto::mesos::{ExecutorInfo, FrameworkInfo, Operation, Resource, SlaveInfo, Task};
use crate::v0_compat::Upid;

/// How libprocess prints an unset UPID.
pub const EMPTY_UPID: &str = "@0.0.0.0:0";

/// Why a checkpoint could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("{op} '{path}': {reason}")]
    Io { op: &'static str, path: String, reason: String },
    #[error("Failed to read '{path}': {reason}")]
    Corrupt { path: String, reason: String },
    #[error("{0}")]
    Other(String),
}

fn io_err(op: &'static str, path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Io { op, path: path.display().to_string(), reason: e.to_string() }
}

// ---------------------------------------------------------------------------
// Writing

/// One durable filesystem change. The agent's state machine emits these as
/// effects; a driver executes them in order, each finished (on disk) before
/// the next effect runs.
#[derive(Debug, Clone, PartialEq)]
pub enum FsOp {
    /// Atomically replace `path` with `data` (creating parent directories).
    Write { path: PathBuf, data: Vec<u8> },
    /// Append `data` to `path` (creating it and its parents).
    Append { path: PathBuf, data: Vec<u8> },
    /// Create an empty file if missing (markers, sentinels).
    Touch { path: PathBuf },
    /// Create a directory and its parents.
    Mkdir { path: PathBuf },
    /// Point the symlink `link` at `target`, replacing what was there.
    Symlink { target: PathBuf, link: PathBuf },
    /// Remove a file or symlink if present.
    Remove { path: PathBuf },
}

/// A protobuf as one length-prefixed record.
pub fn record<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A checkpoint of a message whose resources are downgraded first.
pub fn resource_record<M: Message + prost_reflect::ReflectMessage + Default + Clone>(message: &M) -> Vec<u8> {
    let mut copy = message.clone();
    // As Mesos: a refined reservation cannot be downgraded and is written
    // as it is.
    let _ = downgrade_message(&mut copy);
    record(&copy)
}

/// The checkpoint of `SlaveInfo`.
pub fn write_agent_info(meta: &Path, info: &SlaveInfo) -> Vec<FsOp> {
    let id = info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
    let dir = paths::agent_path(meta, &id);
    vec![
        FsOp::Mkdir { path: dir.clone() },
        FsOp::Symlink { target: dir, link: paths::latest_agent_path(meta) },
        FsOp::Write { path: paths::agent_info_path(meta, &id), data: resource_record(info) },
    ]
}

/// The checkpoint of a framework and its scheduler pid.
pub fn write_framework(meta: &Path, agent: &str, info: &FrameworkInfo, pid: Option<&Upid>) -> Vec<FsOp> {
    let id = info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
    vec![
        FsOp::Write { path: paths::framework_info_path(meta, agent, &id), data: resource_record(info) },
        FsOp::Write {
            path: paths::framework_pid_path(meta, agent, &id),
            data: pid.map(|p| p.to_string()).unwrap_or_else(|| EMPTY_UPID.to_string()).into_bytes(),
        },
    ]
}

/// The checkpoint of an executor and the meta directory of its new run.
pub fn write_executor(meta: &Path, run: &RunIds, info: &ExecutorInfo, generated_for_command_task: bool) -> Vec<FsOp> {
    let run_dir = paths::run_path(meta, run);
    vec![
        FsOp::Write {
            path: paths::executor_info_path(meta, &run.agent, &run.framework, &run.executor),
            data: resource_record(info),
        },
        FsOp::Write {
            path: paths::generated_for_command_task_path(meta, &run.agent, &run.framework, &run.executor),
            data: if generated_for_command_task { b"1".to_vec() } else { b"0".to_vec() },
        },
        FsOp::Mkdir { path: run_dir.clone() },
        FsOp::Symlink {
            target: run_dir,
            link: paths::latest_run_path(meta, &run.agent, &run.framework, &run.executor),
        },
    ]
}

pub fn write_task(meta: &Path, run: &RunIds, task: &Task) -> FsOp {
    FsOp::Write { path: paths::task_info_path(meta, run, &task.task_id.value), data: resource_record(task) }
}

/// One UPDATE or ACK record appended to a task's `task.updates`.
pub fn append_update_record(meta: &Path, run: &RunIds, task: &str, rec: &StatusUpdateRecord) -> FsOp {
    FsOp::Append { path: paths::task_updates_path(meta, run, task), data: resource_record(rec) }
}

pub fn write_checkpointed_resources(meta: &Path, resources: &[Resource], operations: &[Operation]) -> Vec<FsOp> {
    let mut info = Vec::new();
    for r in resources {
        info.extend(resource_record(r));
    }
    let state = ResourceState { resources: resources.to_vec(), operations: operations.to_vec() };
    vec![
        FsOp::Write { path: paths::resources_info_path(meta), data: info },
        FsOp::Write { path: paths::resource_state_path(meta), data: resource_record(&state) },
    ]
}

/// Executes one [`FsOp`]. As Mesos's `state::checkpoint` (whose `sync`
/// defaults to false), files are not fsynced: a checkpoint survives the
/// agent's crash (the page cache is the kernel's), and the rename makes
/// every replacement atomic; surviving a power loss is not promised, as in
/// Mesos.
pub fn apply(op: &FsOp) -> Result<(), StateError> {
    match op {
        FsOp::Write { path, data } => write_atomic(path, data),
        FsOp::Append { path, data } => {
            mkdir_parent(path)?;
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| io_err("Failed to open", path, e))?;
            file.write_all(data).map_err(|e| io_err("Failed to append to", path, e))
        }
        FsOp::Touch { path } => {
            mkdir_parent(path)?;
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|_| ())
                .map_err(|e| io_err("Failed to touch", path, e))
        }
        FsOp::Mkdir { path } => fs::create_dir_all(path).map_err(|e| io_err("Failed to create directory", path, e)),
        FsOp::Symlink { target, link } => {
            mkdir_parent(link)?;
            let tmp = temp_name(link);
            std::os::unix::fs::symlink(target, &tmp).map_err(|e| io_err("Failed to symlink", &tmp, e))?;
            fs::rename(&tmp, link).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                io_err("Failed to rename symlink onto", link, e)
            })
        }
        FsOp::Remove { path } => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("Failed to remove", path, e)),
        },
    }
}

fn mkdir_parent(path: &Path) -> Result<(), StateError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| io_err("Failed to create directory", parent, e)),
        None => Ok(()),
    }
}

/// A name next to `path` for a temporary file (same directory, so the rename
/// stays on one filesystem, as Mesos's `base/XXXXXX`).
fn temp_name(path: &Path) -> PathBuf {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!(".{}.{suffix}", path.file_name().and_then(|n| n.to_str()).unwrap_or("tmp")))
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    mkdir_parent(path)?;
    let tmp = temp_name(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp).map_err(|e| io_err("Failed to create", &tmp, e))?;
        file.write_all(data).map_err(|e| io_err("Failed to write", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| io_err("Failed to rename onto", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------
// Reading

/// Everything found under `meta/` (Mesos's `state::State`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub resources: ResourcesState,
    pub agent: Option<AgentState>,
    /// The boot id differs from the checkpointed one: no process survived.
    pub rebooted: bool,
    /// Non-fatal read errors (with `--strict=false`).
    pub errors: u32,
    /// Agent ids with a sandbox tree under `<work_dir>/slaves` (see
    /// [`list_agent_sandboxes`]); old ones are garbage collected.
    pub agent_sandboxes: Vec<String>,
}

/// The agent ids that have a directory under `<work_dir>/slaves`.
pub fn list_agent_sandboxes(work_dir: &Path) -> Vec<String> {
    list_dirs(&work_dir.join("slaves"))
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.is_dir() && fs::symlink_metadata(p).map(|m| !m.file_type().is_symlink()).unwrap_or(false))
        .map(|p| basename(&p))
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourcesState {
    pub resources: Vec<Resource>,
    /// A target checkpoint left by an agent that died while applying it.
    pub target: Option<Vec<Resource>>,
    pub operations: Vec<Operation>,
    pub errors: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    pub id: String,
    pub info: Option<SlaveInfo>,
    pub frameworks: BTreeMap<String, FrameworkState>,
    pub errors: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameworkState {
    pub id: String,
    pub info: Option<FrameworkInfo>,
    /// `None`: not found; `Some(None)`: the empty UPID (no v0 scheduler).
    pub pid: Option<Option<Upid>>,
    pub executors: BTreeMap<String, ExecutorState>,
    pub errors: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutorState {
    pub id: String,
    pub info: Option<ExecutorInfo>,
    /// The container id `runs/latest` points at.
    pub latest: Option<String>,
    pub runs: BTreeMap<String, RunState>,
    pub generated_for_command_task: bool,
    pub errors: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    pub id: String,
    pub tasks: BTreeMap<String, TaskState>,
    pub forked_pid: Option<u32>,
    pub libprocess_pid: Option<Upid>,
    /// `Some(true)`: an HTTP executor; `Some(false)`: v0 (pid known);
    /// `None`: unknown (the executor never registered).
    pub http: Option<bool>,
    /// The sentinel exists: the agent was done with this run.
    pub completed: bool,
    pub errors: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskState {
    pub id: String,
    pub info: Option<Task>,
    pub updates: Vec<StatusUpdate>,
    /// UUIDs (bytes) of acknowledged updates.
    pub acks: BTreeSet<Vec<u8>>,
    pub errors: u32,
}

/// What to do with a read error: fail under `--strict`, count it otherwise.
struct Reader {
    strict: bool,
}

impl Reader {
    fn soft(&self, errors: &mut u32, e: StateError) -> Result<(), StateError> {
        if self.strict {
            return Err(e);
        }
        tracing::warn!("{e}");
        *errors += 1;
        Ok(())
    }

    /// Reads the `what` checkpoint at `path`: `None` when it is missing,
    /// empty, or (without `--strict`) unreadable.
    fn checkpoint<M: Message + Default + prost_reflect::ReflectMessage>(
        &self,
        path: &Path,
        what: &str,
        errors: &mut u32,
    ) -> Result<Option<M>, StateError> {
        if !path.exists() {
            tracing::warn!("Failed to find {what} file '{}'", path.display());
            return Ok(None);
        }
        match read_message::<M>(path) {
            Ok(Some(m)) => Ok(Some(m)),
            Ok(None) => {
                tracing::warn!("Found empty {what} file '{}'", path.display());
                Ok(None)
            }
            Err(e) => {
                self.soft(errors, e)?;
                Ok(None)
            }
        }
    }
}

/// Reads one checkpointed protobuf; `Ok(None)` for an empty file (a hard
/// reboot after create, before sync).
pub fn read_message<M: Message + Default + prost_reflect::ReflectMessage>(
    path: &Path,
) -> Result<Option<M>, StateError> {
    let bytes = fs::read(path).map_err(|e| io_err("Failed to read", path, e))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let (message, _) =
        parse_record::<M>(&bytes).map_err(|reason| StateError::Corrupt { path: path.display().to_string(), reason })?;
    Ok(Some(message))
}

/// Parses the record at the start of `bytes`: the message and the bytes used.
fn parse_record<M: Message + Default + prost_reflect::ReflectMessage>(bytes: &[u8]) -> Result<(M, usize), String> {
    if bytes.len() < 4 {
        return Err("hit EOF unexpectedly reading the size, possible corruption".into());
    }
    let size = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let body = bytes.get(4..4 + size).ok_or_else(|| {
        format!("Failed to read message of size {size} bytes: hit EOF unexpectedly, possible corruption")
    })?;
    let mut message = mesos_proto::decode_strict::<M>(body).map_err(|e| e.to_string())?;
    upgrade_message(&mut message);
    Ok((message, 4 + size))
}

/// All records of a file (e.g. `resources.info`).
fn read_records<M: Message + Default + prost_reflect::ReflectMessage>(path: &Path) -> Result<Vec<M>, StateError> {
    let bytes = fs::read(path).map_err(|e| io_err("Failed to read", path, e))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (m, used) = parse_record::<M>(&bytes[at..])
            .map_err(|reason| StateError::Corrupt { path: path.display().to_string(), reason })?;
        out.push(m);
        at += used;
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, StateError> {
    fs::read_to_string(path).map_err(|e| io_err("Failed to read", path, e))
}

fn basename(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>, StateError> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            out.sort();
            Ok(out)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("Failed to list", dir, e)),
    }
}

/// Parses a checkpointed UPID; the empty UPID is `None`.
pub fn parse_pid(text: &str) -> Result<Option<Upid>, String> {
    let text = text.trim();
    if text.is_empty() || text == EMPTY_UPID || text.starts_with('@') {
        return Ok(None);
    }
    Upid::resolve_blocking(text).map(Some).map_err(|e| e.to_string())
}

/// Reads everything under `meta` (Mesos's `state::recover`). `boot_id` is
/// this boot's id, compared with the checkpointed one.
pub fn recover(meta: &Path, strict: bool, boot_id: Option<&str>) -> Result<State, StateError> {
    let reader = Reader { strict };
    let mut state = State::default();
    if !meta.exists() {
        return Ok(state);
    }
    state.resources = recover_resources(meta, &reader)?;

    let boot_path = paths::boot_id_path(meta);
    if boot_path.exists() {
        match read_text(&boot_path) {
            Ok(old) => {
                if let Some(current) = boot_id {
                    if current.trim() != old.trim() {
                        tracing::info!("Agent host rebooted");
                        state.rebooted = true;
                    }
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    let latest = paths::latest_agent_path(meta);
    if fs::symlink_metadata(&latest).is_err() {
        tracing::info!("Failed to find the latest agent from '{}'", meta.display());
        return Ok(state);
    }
    let target =
        fs::canonicalize(&latest).map_err(|e| StateError::Other(format!("Failed to find latest agent: {e}")))?;
    let id = basename(&target);
    let agent = recover_agent(meta, &id, &reader, state.rebooted)?;
    state.errors += agent.errors + state.resources.errors;
    state.agent = Some(agent);
    Ok(state)
}

fn recover_resources(meta: &Path, reader: &Reader) -> Result<ResourcesState, StateError> {
    let mut state = ResourcesState::default();
    let state_path = paths::resource_state_path(meta);
    let target_path = paths::resource_state_target_path(meta);
    if state_path.exists() {
        match read_message::<ResourceState>(&state_path) {
            Ok(Some(rs)) => {
                state.resources = rs.resources;
                state.operations = rs.operations;
            }
            Ok(None) => {}
            Err(e) => {
                reader.soft(&mut state.errors, e)?;
                return Ok(state);
            }
        }
        if target_path.exists() {
            match read_message::<ResourceState>(&target_path) {
                Ok(Some(rs)) => state.target = Some(rs.resources),
                Ok(None) => {}
                Err(e) => reader.soft(&mut state.errors, e)?,
            }
        }
        return Ok(state);
    }
    // The pre-operation-feedback format: resources only.
    let info = paths::resources_info_path(meta);
    if info.exists() {
        match read_records::<Resource>(&info) {
            Ok(resources) => state.resources = resources,
            Err(e) => reader.soft(&mut state.errors, e)?,
        }
    }
    let target = paths::resources_target_path(meta);
    if target.exists() {
        match read_records::<Resource>(&target) {
            Ok(resources) => state.target = Some(resources),
            Err(e) => reader.soft(&mut state.errors, e)?,
        }
    }
    Ok(state)
}

fn recover_agent(meta: &Path, id: &str, reader: &Reader, rebooted: bool) -> Result<AgentState, StateError> {
    let mut state = AgentState { id: id.to_string(), ..Default::default() };
    let path = paths::agent_info_path(meta, id);
    state.info = reader.checkpoint::<SlaveInfo>(&path, "agent info", &mut state.errors)?;
    if state.info.is_none() {
        return Ok(state);
    }
    for dir in list_dirs(&paths::frameworks_dir(meta, id))? {
        let fw = basename(&dir);
        let framework = recover_framework(meta, id, &fw, reader, rebooted)
            .map_err(|e| StateError::Other(format!("Failed to recover framework {fw}: {e}")))?;
        state.errors += framework.errors;
        state.frameworks.insert(fw, framework);
    }
    Ok(state)
}

fn recover_framework(
    meta: &Path,
    agent: &str,
    id: &str,
    reader: &Reader,
    rebooted: bool,
) -> Result<FrameworkState, StateError> {
    let mut state = FrameworkState { id: id.to_string(), ..Default::default() };
    let path = paths::framework_info_path(meta, agent, id);
    state.info = reader.checkpoint::<FrameworkInfo>(&path, "framework info", &mut state.errors)?;
    if state.info.is_none() {
        return Ok(state);
    }
    let path = paths::framework_pid_path(meta, agent, id);
    if !path.exists() {
        tracing::warn!("Failed to find framework pid file '{}'", path.display());
        return Ok(state);
    }
    match read_text(&path) {
        Ok(text) if text.is_empty() => return Ok(state),
        Ok(text) => match parse_pid(&text) {
            Ok(pid) => state.pid = Some(pid),
            Err(reason) => {
                let e = StateError::Corrupt { path: path.display().to_string(), reason };
                reader.soft(&mut state.errors, e)?;
                return Ok(state);
            }
        },
        Err(e) => {
            reader.soft(&mut state.errors, e)?;
            return Ok(state);
        }
    }
    for dir in list_dirs(&paths::executors_dir(meta, agent, id))? {
        let exec = basename(&dir);
        let executor = recover_executor(meta, agent, id, &exec, reader, rebooted)
            .map_err(|e| StateError::Other(format!("Failed to recover executor '{exec}': {e}")))?;
        state.errors += executor.errors;
        state.executors.insert(exec, executor);
    }
    Ok(state)
}

fn recover_executor(
    meta: &Path,
    agent: &str,
    framework: &str,
    id: &str,
    reader: &Reader,
    rebooted: bool,
) -> Result<ExecutorState, StateError> {
    let mut state = ExecutorState { id: id.to_string(), ..Default::default() };
    for path in list_dirs(&paths::runs_dir(meta, agent, framework, id))? {
        let name = basename(&path);
        if name == paths::LATEST {
            match fs::canonicalize(&path) {
                Ok(target) => state.latest = Some(basename(&target)),
                Err(_) => tracing::warn!("Dangling 'latest' run symlink of executor '{id}'"),
            }
            continue;
        }
        if name.starts_with('.') {
            continue; // a temporary symlink left by a crash
        }
        let run =
            RunIds { agent: agent.into(), framework: framework.into(), executor: id.into(), container: name.clone() };
        let run_state = recover_run(meta, &run, reader, rebooted)
            .map_err(|e| StateError::Other(format!("Failed to recover run {name} of executor '{id}': {e}")))?;
        state.errors += run_state.errors;
        state.runs.insert(name, run_state);
    }
    if state.latest.is_none() {
        tracing::warn!("Failed to find the latest run of executor '{id}' of framework {framework}");
        return Ok(state);
    }
    let path = paths::executor_info_path(meta, agent, framework, id);
    state.info = reader.checkpoint::<ExecutorInfo>(&path, "executor info", &mut state.errors)?;
    if state.info.is_none() {
        return Ok(state);
    }
    let generated = paths::generated_for_command_task_path(meta, agent, framework, id);
    state.generated_for_command_task = if generated.exists() {
        let text = read_text(&generated)?;
        text.trim()
            .parse::<i32>()
            .map_err(|e| StateError::Other(format!("Could not parse '{}': {e}", generated.display())))?
            != 0
    } else {
        // The heuristic Mesos uses for checkpoints of old agents.
        let info = state.info.as_ref();
        info.is_some_and(|i| {
            i.command.as_ref().and_then(|c| c.value.as_deref()).unwrap_or("").ends_with("mesos-executor")
                && i.name().starts_with("Command Executor")
        })
    };
    Ok(state)
}

fn recover_run(meta: &Path, run: &RunIds, reader: &Reader, rebooted: bool) -> Result<RunState, StateError> {
    let mut state = RunState { id: run.container.clone(), ..Default::default() };
    state.completed = paths::sentinel_path(meta, run).exists();
    for dir in list_dirs(&paths::tasks_dir(meta, run))? {
        let task = basename(&dir);
        let task_state = recover_task(meta, run, &task, reader)
            .map_err(|e| StateError::Other(format!("Failed to recover task {task}: {e}")))?;
        state.errors += task_state.errors;
        state.tasks.insert(task, task_state);
    }
    let forked = paths::forked_pid_path(meta, run);
    if rebooted {
        // Pids of a previous boot mean nothing; forget them for good.
        if forked.exists() {
            fs::remove_file(&forked).map_err(|e| io_err("Failed to remove", &forked, e))?;
        }
        return Ok(state);
    }
    if !forked.exists() {
        tracing::warn!("Failed to find executor forked pid file '{}'", forked.display());
        return Ok(state);
    }
    match read_text(&forked) {
        Ok(text) if text.trim().is_empty() => return Ok(state),
        Ok(text) => {
            state.forked_pid = Some(text.trim().parse::<u32>().map_err(|e| {
                StateError::Other(format!(
                    "Failed to parse forked pid '{text}' from pid file '{}': {e}",
                    forked.display()
                ))
            })?);
        }
        Err(e) => {
            reader.soft(&mut state.errors, e)?;
            return Ok(state);
        }
    }
    let libprocess = paths::libprocess_pid_path(meta, run);
    if libprocess.exists() {
        match read_text(&libprocess) {
            Ok(text) if text.trim().is_empty() => return Ok(state),
            Ok(text) => match parse_pid(&text) {
                Ok(pid) => {
                    state.libprocess_pid = pid;
                    state.http = Some(false);
                }
                Err(reason) => {
                    let e = StateError::Corrupt { path: libprocess.display().to_string(), reason };
                    reader.soft(&mut state.errors, e)?;
                }
            },
            Err(e) => reader.soft(&mut state.errors, e)?,
        }
        return Ok(state);
    }
    if paths::http_marker_path(meta, run).exists() {
        state.http = Some(true);
    } else {
        tracing::warn!(
            "Failed to find '{}' or '{}' for container {} of executor '{}' of framework {}",
            paths::LIBPROCESS_PID_FILE,
            paths::HTTP_MARKER_FILE,
            run.container,
            run.executor,
            run.framework
        );
    }
    Ok(state)
}

fn recover_task(meta: &Path, run: &RunIds, id: &str, reader: &Reader) -> Result<TaskState, StateError> {
    let mut state = TaskState { id: id.to_string(), ..Default::default() };
    let path = paths::task_info_path(meta, run, id);
    state.info = reader.checkpoint::<Task>(&path, "task info", &mut state.errors)?;
    if state.info.is_none() {
        return Ok(state);
    }
    let path = paths::task_updates_path(meta, run, id);
    if !path.exists() {
        tracing::warn!("Failed to find status updates file '{}'", path.display());
        return Ok(state);
    }
    let bytes = fs::read(&path).map_err(|e| io_err("Failed to read", &path, e))?;
    let mut at = 0;
    let mut error = None;
    while at < bytes.len() {
        let rest = &bytes[at..];
        // A torn last record (size or body cut short) is ignored, as Mesos
        // reads with `ignorePartial`.
        if rest.len() < 4 {
            break;
        }
        let size = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() < 4 + size {
            break;
        }
        match parse_record::<StatusUpdateRecord>(rest) {
            Ok((rec, used)) => {
                if rec.r#type() == status_update_record::Type::Update {
                    if let Some(update) = rec.update {
                        state.updates.push(update);
                    }
                } else if let Some(uuid) = rec.uuid {
                    state.acks.insert(uuid);
                }
                at += used;
            }
            Err(reason) => {
                error = Some(reason);
                break;
            }
        }
    }
    if at < bytes.len() {
        // Keep only the valid prefix.
        let file = fs::OpenOptions::new().write(true).open(&path).map_err(|e| io_err("Failed to open", &path, e))?;
        file.set_len(at as u64).map_err(|e| io_err("Failed to truncate", &path, e))?;
    }
    if let Some(reason) = error {
        let e = StateError::Corrupt { path: path.display().to_string(), reason };
        reader.soft(&mut state.errors, e)?;
    }
    Ok(state)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{
        internal::status_update_record::Type as RecordType, task_status::Source, FrameworkId, SlaveId, TaskId,
        TaskStatus,
    };

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agent-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn update(task: &str, uuid: u8, state: crate::proto::mesos::TaskState) -> StatusUpdate {
        let mut status = TaskStatus { task_id: TaskId { value: task.into() }, ..Default::default() };
        status.set_state(state);
        status.set_source(Source::Executor);
        status.uuid = Some(vec![uuid; 16]);
        StatusUpdate {
            framework_id: FrameworkId { value: "F".into() },
            status,
            timestamp: 1.0,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn a_checkpointed_agent_reads_back_whole_and_torn_updates_are_dropped() {
        let dir = tmp("roundtrip");
        let meta = paths::meta_root(&dir);
        let run = RunIds { agent: "S1".into(), framework: "F".into(), executor: "E".into(), container: "C".into() };
        let info = SlaveInfo { hostname: "h".into(), id: Some(SlaveId { value: "S1".into() }), ..Default::default() };
        let fw = FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            id: Some(FrameworkId { value: "F".into() }),
            checkpoint: Some(true),
            ..Default::default()
        };
        let exec =
            ExecutorInfo { executor_id: crate::proto::mesos::ExecutorId { value: "E".into() }, ..Default::default() };
        let task = Task {
            name: "t".into(),
            task_id: TaskId { value: "T".into() },
            framework_id: FrameworkId { value: "F".into() },
            slave_id: SlaveId { value: "S1".into() },
            ..Default::default()
        };
        let pid: Upid = "executor(1)@127.0.0.1:4000".parse().unwrap();
        let mut ops = write_agent_info(&meta, &info);
        ops.extend(write_framework(&meta, "S1", &fw, None));
        ops.extend(write_executor(&meta, &run, &exec, true));
        ops.push(write_task(&meta, &run, &task));
        let u1 = update("T", 1, crate::proto::mesos::TaskState::TaskRunning);
        let rec = |t: RecordType, u: &StatusUpdate| StatusUpdateRecord {
            r#type: t as i32,
            update: (t == RecordType::Update).then(|| u.clone()),
            uuid: (t == RecordType::Ack).then(|| u.uuid.clone().unwrap()),
        };
        ops.push(append_update_record(&meta, &run, "T", &rec(RecordType::Update, &u1)));
        ops.push(append_update_record(&meta, &run, "T", &rec(RecordType::Ack, &u1)));
        ops.push(FsOp::Write { path: paths::forked_pid_path(&meta, &run), data: b"4242".to_vec() });
        ops.push(FsOp::Write { path: paths::libprocess_pid_path(&meta, &run), data: pid.to_string().into_bytes() });
        for op in &ops {
            apply(op).unwrap();
        }
        // A torn record: half a size prefix.
        let updates = paths::task_updates_path(&meta, &run, "T");
        let good_len = fs::metadata(&updates).unwrap().len();
        fs::OpenOptions::new().append(true).open(&updates).unwrap().write_all(&[7, 0]).unwrap();

        let state = recover(&meta, true, None).unwrap();
        let agent = state.agent.unwrap();
        assert_eq!(agent.id, "S1");
        assert_eq!(agent.info.unwrap().hostname, "h");
        let f = &agent.frameworks["F"];
        assert_eq!(f.pid, Some(None));
        let e = &f.executors["E"];
        assert_eq!(e.latest.as_deref(), Some("C"));
        assert!(e.generated_for_command_task);
        let r = &e.runs["C"];
        assert_eq!(r.forked_pid, Some(4242));
        assert_eq!(r.libprocess_pid, Some(pid));
        assert_eq!(r.http, Some(false));
        assert!(!r.completed);
        let t = &r.tasks["T"];
        assert_eq!(t.updates, vec![u1.clone()]);
        assert!(t.acks.contains(&vec![1u8; 16]));
        assert_eq!(fs::metadata(&updates).unwrap().len(), good_len, "torn tail truncated");

        // After a reboot the forked pid is forgotten (and removed).
        let state = recover(&meta, true, Some("another-boot")).unwrap();
        assert!(!state.rebooted, "no boot id was checkpointed");
        apply(&FsOp::Write { path: paths::boot_id_path(&meta), data: b"boot-1".to_vec() }).unwrap();
        let state = recover(&meta, true, Some("boot-2")).unwrap();
        assert!(state.rebooted);
        let r = &state.agent.unwrap().frameworks["F"].executors["E"].runs["C"];
        assert_eq!(r.forked_pid, None);
        assert!(!paths::forked_pid_path(&meta, &run).exists());
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn corrupt_checkpoints_fail_strict_recovery_and_are_counted_otherwise() {
        let dir = tmp("corrupt");
        let meta = paths::meta_root(&dir);
        let info = SlaveInfo { hostname: "h".into(), id: Some(SlaveId { value: "S1".into() }), ..Default::default() };
        for op in write_agent_info(&meta, &info) {
            apply(&op).unwrap();
        }
        let fw_info = paths::framework_info_path(&meta, "S1", "F");
        apply(&FsOp::Write { path: fw_info, data: vec![9, 0, 0, 0, 1, 2] }).unwrap();
        assert!(recover(&meta, true, None).is_err());
        let state = recover(&meta, false, None).unwrap();
        assert_eq!(state.errors, 1);
        assert_eq!(state.agent.unwrap().frameworks["F"].info, None);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn records_use_a_little_endian_length_prefix() {
        let id = SlaveId { value: "x".into() };
        let bytes = record(&id);
        assert_eq!(&bytes[..4], &[3, 0, 0, 0]);
        assert_eq!(&bytes[4..], &id.encode_to_vec()[..]);
        assert_eq!(parse_pid(EMPTY_UPID).unwrap(), None);
        assert_eq!(parse_pid("slave(1)@10.0.0.1:5051").unwrap().unwrap().id(), "slave(1)");
    }
}
