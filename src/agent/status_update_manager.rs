//! The task status update manager (Mesos's `TaskStatusUpdateManager`): every
//! task status update reaches the master, in order per task, exactly as
//! often as it takes until the framework acknowledges it.
//!
//! One *stream* per task holds the updates not yet acknowledged, oldest
//! first. Only the head is in flight: it is forwarded at once, and again
//! after 10s, 20s, 40s, ... (at most 10 minutes between tries) until its
//! acknowledgement arrives; then the next one goes. Updates are de-duplicated
//! by UUID (a retransmitting executor, a replay after restart). When the
//! framework checkpoints, each update and each acknowledgement is appended to
//! the task's `task.updates` before it counts, so a restarted agent replays
//! the stream and resumes with the first unacknowledged update.
//!
//! Sans-IO: every method returns [`Output`]s for the agent to carry out (an
//! append to `task.updates`, a forward to the master, a retry timer).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::core::framework::is_terminal;
use super::paths::RunIds;
use super::state::{self, FsOp};
use crate::proto::mesos::internal::{status_update_record, StatusUpdate, StatusUpdateRecord};

/// First retry interval (`STATUS_UPDATE_RETRY_INTERVAL_MIN`).
pub const RETRY_INTERVAL_MIN: Duration = Duration::from_secs(10);
/// Retry interval bound (`STATUS_UPDATE_RETRY_INTERVAL_MAX`).
pub const RETRY_INTERVAL_MAX: Duration = Duration::from_secs(600);

/// What the manager asks the agent to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Append a record to `task.updates` (before anything depends on it).
    Checkpoint(FsOp),
    /// Send this update to the master now.
    Forward(Box<StatusUpdate>),
    /// Call [`StatusUpdateManager::timeout`] with these arguments after `after`.
    Retry { framework_id: String, task_id: String, generation: u64, after: Duration },
}

/// A task's stream (`TaskStatusUpdateStream`).
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Where the stream is checkpointed; `None` for frameworks that do not
    /// checkpoint.
    pub checkpoint: Option<RunIds>,
    received: BTreeSet<Vec<u8>>,
    acknowledged: BTreeSet<Vec<u8>>,
    pending: VecDeque<StatusUpdate>,
    /// The terminal update was acknowledged.
    terminated: bool,
    /// The in-flight retry: its generation and current interval.
    retry: Option<(u64, Duration)>,
}

impl Stream {
    /// Updates received but not acknowledged, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &StatusUpdate> {
        self.pending.iter()
    }
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct StatusUpdateManager {
    paused: bool,
    meta: PathBuf,
    next_generation: u64,
    streams: BTreeMap<(String, String), Stream>,
}

fn uuid_of(update: &StatusUpdate) -> Vec<u8> {
    update.uuid.clone().unwrap_or_default()
}

impl StatusUpdateManager {
    /// A manager checkpointing under `meta` (`<work_dir>/meta`). It starts
    /// paused: nothing is forwarded until the agent (re)registers.
    pub fn new(meta: &Path) -> StatusUpdateManager {
        StatusUpdateManager { paused: true, meta: meta.to_path_buf(), ..Default::default() }
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The stream of a task, if any.
    pub fn stream(&self, framework_id: &str, task_id: &str) -> Option<&Stream> {
        self.streams.get(&(framework_id.to_string(), task_id.to_string()))
    }

    /// Every stream, by (framework, task).
    pub fn streams(&self) -> impl Iterator<Item = (&(String, String), &Stream)> {
        self.streams.iter()
    }

    /// Stops forwarding (the agent lost its master).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Resumes forwarding: the head of every stream is sent again now.
    pub fn resume(&mut self) -> Vec<Output> {
        self.paused = false;
        let mut out = Vec::new();
        let keys: Vec<(String, String)> = self.streams.keys().cloned().collect();
        for key in keys {
            self.forward_head(&key, RETRY_INTERVAL_MIN, &mut out);
        }
        out
    }

    fn forward_head(&mut self, key: &(String, String), interval: Duration, out: &mut Vec<Output>) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let Some(stream) = self.streams.get_mut(key) else { return };
        let Some(head) = stream.pending.front() else {
            stream.retry = None;
            return;
        };
        stream.retry = Some((generation, interval));
        out.push(Output::Forward(Box::new(head.clone())));
        out.push(Output::Retry { framework_id: key.0.clone(), task_id: key.1.clone(), generation, after: interval });
    }

    /// A new update for a task. `checkpoint` names the run whose
    /// `task.updates` holds the stream (frameworks that checkpoint).
    /// Returns whether the update was new (not a duplicate) and the outputs.
    pub fn update(&mut self, update: StatusUpdate, checkpoint: Option<RunIds>) -> Result<(bool, Vec<Output>), String> {
        let key = (update.framework_id.value.clone(), update.status.task_id.value.clone());
        let uuid = update.uuid.clone().ok_or_else(|| "Task status update is missing 'uuid'".to_string())?;
        let stream = self
            .streams
            .entry(key.clone())
            .or_insert_with(|| Stream { checkpoint: checkpoint.clone(), ..Default::default() });
        if stream.checkpoint.is_some() != checkpoint.is_some() {
            return Err(format!(
                "Mismatched checkpoint value for task status update of task {} (expected checkpoint={} actual checkpoint={})",
                key.1,
                stream.checkpoint.is_some(),
                checkpoint.is_some()
            ));
        }
        if stream.acknowledged.contains(&uuid) {
            tracing::warn!(task = %key.1, "Ignoring task status update that has already been acknowledged by the framework");
            return Ok((false, Vec::new()));
        }
        if stream.received.contains(&uuid) {
            tracing::warn!(task = %key.1, "Ignoring duplicate task status update");
            return Ok((false, Vec::new()));
        }
        let mut out = Vec::new();
        if let Some(run) = &stream.checkpoint {
            let record = StatusUpdateRecord {
                r#type: status_update_record::Type::Update as i32,
                update: Some(update.clone()),
                uuid: None,
            };
            out.push(Output::Checkpoint(state::append_update_record(&self.meta, run, &key.1, &record)));
        }
        stream.received.insert(uuid);
        stream.pending.push_back(update);
        if !self.paused && stream.pending.len() == 1 {
            self.forward_head(&key, RETRY_INTERVAL_MIN, &mut out);
        }
        Ok((true, out))
    }

    /// The framework acknowledged `uuid`. `Ok(true)` if the stream goes on,
    /// `Ok(false)` if this acknowledged its terminal update (the stream is
    /// gone); `Err` for an acknowledgement that matches nothing pending.
    pub fn acknowledgement(
        &mut self,
        framework_id: &str,
        task_id: &str,
        uuid: &[u8],
    ) -> Result<(bool, Vec<Output>), String> {
        let key = (framework_id.to_string(), task_id.to_string());
        let Some(stream) = self.streams.get_mut(&key) else {
            return Err(format!(
                "Cannot find the task status update stream for task {task_id} of framework {framework_id}"
            ));
        };
        let Some(head) = stream.pending.front().cloned() else {
            return Err(format!(
                "Unexpected task status update acknowledgment for task {task_id} of framework {framework_id}"
            ));
        };
        if stream.acknowledged.contains(uuid) {
            return Err("Duplicate task status acknowledgement".into());
        }
        if uuid_of(&head) != uuid {
            tracing::warn!(task = task_id, "Unexpected task status update acknowledgement (not for the head update)");
            return Err("Duplicate task status acknowledgement".into());
        }
        let mut out = Vec::new();
        if let Some(run) = &stream.checkpoint {
            let record = StatusUpdateRecord {
                r#type: status_update_record::Type::Ack as i32,
                update: None,
                uuid: Some(uuid.to_vec()),
            };
            out.push(Output::Checkpoint(state::append_update_record(&self.meta, run, task_id, &record)));
        }
        stream.acknowledged.insert(uuid.to_vec());
        stream.pending.pop_front();
        if !stream.terminated {
            stream.terminated = is_terminal(head.status.state());
        }
        stream.retry = None;
        if stream.terminated {
            if !stream.pending.is_empty() {
                tracing::warn!(
                    task = task_id,
                    "Acknowledged a terminal task status update but updates are still pending"
                );
            }
            self.streams.remove(&key);
            return Ok((false, out));
        }
        if !self.paused {
            self.forward_head(&key, RETRY_INTERVAL_MIN, &mut out);
        }
        Ok((true, out))
    }

    /// A retry timer fired: resend the head if it is still the one in flight.
    pub fn timeout(&mut self, framework_id: &str, task_id: &str, generation: u64) -> Vec<Output> {
        let key = (framework_id.to_string(), task_id.to_string());
        let mut out = Vec::new();
        if self.paused {
            return out;
        }
        let interval = match self.streams.get(&key) {
            Some(stream) if !stream.pending.is_empty() => match stream.retry {
                Some((g, interval)) if g == generation => interval,
                _ => return out,
            },
            _ => return out,
        };
        tracing::warn!(task = task_id, "Resending task status update");
        self.forward_head(&key, (interval * 2).min(RETRY_INTERVAL_MAX), &mut out);
        out
    }

    /// Rebuilds a stream from `task.updates` after a restart (no outputs:
    /// the manager is paused until registration).
    pub fn replay(
        &mut self,
        framework_id: &str,
        task_id: &str,
        run: RunIds,
        updates: &[StatusUpdate],
        acks: &BTreeSet<Vec<u8>>,
    ) {
        let key = (framework_id.to_string(), task_id.to_string());
        let mut stream = Stream { checkpoint: Some(run), ..Default::default() };
        for update in updates {
            let uuid = uuid_of(update);
            stream.received.insert(uuid.clone());
            stream.pending.push_back(update.clone());
            if acks.contains(&uuid) {
                stream.acknowledged.insert(uuid);
                stream.pending.pop_front();
                if !stream.terminated {
                    stream.terminated = is_terminal(update.status.state());
                }
            }
        }
        if !stream.terminated {
            self.streams.insert(key, stream);
        }
    }

    /// Drops every stream of a framework (it is gone from the agent).
    pub fn cleanup(&mut self, framework_id: &str) {
        self.streams.retain(|(fw, _), _| fw != framework_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::{FrameworkId, TaskId, TaskState, TaskStatus};

    fn update(task: &str, n: u8, state: TaskState) -> StatusUpdate {
        let mut status =
            TaskStatus { task_id: TaskId { value: task.into() }, uuid: Some(vec![n; 16]), ..Default::default() };
        status.set_state(state);
        StatusUpdate {
            framework_id: FrameworkId { value: "F".into() },
            status,
            timestamp: 0.0,
            uuid: Some(vec![n; 16]),
            ..Default::default()
        }
    }

    fn forwarded(out: &[Output]) -> Vec<u8> {
        out.iter()
            .filter_map(|o| match o {
                Output::Forward(u) => Some(u.uuid.as_ref().unwrap()[0]),
                _ => None,
            })
            .collect()
    }

    fn retry(out: &[Output]) -> (u64, Duration) {
        out.iter()
            .find_map(|o| match o {
                Output::Retry { generation, after, .. } => Some((*generation, *after)),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn one_update_in_flight_per_task_in_order_with_backoff() {
        let mut m = StatusUpdateManager::new(Path::new("/meta"));
        // Paused: nothing goes out, but updates are kept.
        let (new, out) = m.update(update("T", 1, TaskState::TaskRunning), None).unwrap();
        assert!(new && out.is_empty());
        let out = m.resume();
        assert_eq!(forwarded(&out), vec![1]);
        let (g1, d1) = retry(&out);
        assert_eq!(d1, RETRY_INTERVAL_MIN);
        // A second update waits behind the first.
        let (_, out) = m.update(update("T", 2, TaskState::TaskFinished), None).unwrap();
        assert!(forwarded(&out).is_empty());
        // Duplicates are ignored.
        let (new, out) = m.update(update("T", 1, TaskState::TaskRunning), None).unwrap();
        assert!(!new && out.is_empty());
        // The retry doubles, up to the bound; stale generations do nothing.
        let out = m.timeout("F", "T", g1);
        assert_eq!(forwarded(&out), vec![1]);
        let (g2, d2) = retry(&out);
        assert_eq!(d2, 2 * RETRY_INTERVAL_MIN);
        assert!(m.timeout("F", "T", g1).is_empty());
        let mut g = g2;
        for _ in 0..10 {
            let out = m.timeout("F", "T", g);
            g = retry(&out).0;
            assert!(retry(&out).1 <= RETRY_INTERVAL_MAX);
        }
        assert_eq!(retry(&m.timeout("F", "T", g)).1, RETRY_INTERVAL_MAX);
        // An acknowledgement for anything but the head is refused.
        assert!(m.acknowledgement("F", "T", &[2; 16]).is_err());
        let (more, out) = m.acknowledgement("F", "T", &[1; 16]).unwrap();
        assert!(more);
        assert_eq!(forwarded(&out), vec![2]);
        assert!(m.acknowledgement("F", "T", &[1; 16]).is_err());
        // Acknowledging the terminal update ends the stream.
        let (more, out) = m.acknowledgement("F", "T", &[2; 16]).unwrap();
        assert!(!more && out.is_empty());
        assert!(m.stream("F", "T").is_none());
    }

    #[test]
    fn checkpointed_streams_append_records_and_replay() {
        let meta = Path::new("/meta");
        let run = RunIds { agent: "S".into(), framework: "F".into(), executor: "E".into(), container: "C".into() };
        let mut m = StatusUpdateManager::new(meta);
        m.resume();
        let (_, out) = m.update(update("T", 1, TaskState::TaskRunning), Some(run.clone())).unwrap();
        assert!(
            matches!(&out[0], Output::Checkpoint(FsOp::Append { path, .. }) if path.ends_with("tasks/T/task.updates"))
        );
        assert_eq!(forwarded(&out), vec![1]);
        // The checkpoint precedes the forward.
        assert!(matches!(out[1], Output::Forward(_)));
        assert!(m.update(update("T", 2, TaskState::TaskRunning), None).is_err());
        let (_, out) = m.acknowledgement("F", "T", &[1; 16]).unwrap();
        assert!(matches!(&out[0], Output::Checkpoint(FsOp::Append { .. })));

        let mut r = StatusUpdateManager::new(meta);
        let u1 = update("T", 1, TaskState::TaskRunning);
        let u2 = update("T", 2, TaskState::TaskFinished);
        r.replay("F", "T", run.clone(), &[u1.clone(), u2.clone()], &BTreeSet::from([vec![1u8; 16]]));
        assert_eq!(forwarded(&r.resume()), vec![2]);
        // A replayed, acknowledged update is not taken again.
        assert!(!r.update(u1, Some(run.clone())).unwrap().0);
        // A fully acknowledged terminal stream is not recreated.
        let mut done = StatusUpdateManager::new(meta);
        done.replay("F", "T", run, &[u2], &BTreeSet::from([vec![2u8; 16]]));
        assert!(done.stream("F", "T").is_none());
    }
}
