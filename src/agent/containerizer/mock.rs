//! A scripted containerizer for the agent's simulation tests (Nomad's mock
//! driver, Mesos's `MockContainerizer`): no process, no clock, no runtime.
//!
//! Every future it returns is either ready at once or completed by a call
//! the test makes (`exit`, `destroy`), so a simulation stays deterministic
//! and can poll them with any executor (`futures::executor::block_on`,
//! `now_or_never`, tokio).
//!
//! ```
//! use mesos_rs::agent::containerizer::mock::{exited, MockBehavior, MockContainerizer};
//! # use mesos_rs::agent::containerizer::{Containerizer, ContainerConfig, LaunchResult};
//! # use futures::FutureExt;
//! let mock = MockContainerizer::new();
//! mock.script("c2", MockBehavior::Exit(exited(1))); // this one ends at once
//! # let config = |id: &str| ContainerConfig {
//! #     container_id: mesos_rs::proto::mesos::ContainerId { value: id.into(), parent: None },
//! #     executor_info: Default::default(), task_info: None, command_info: Default::default(),
//! #     container_info: None, resources: vec![], directory: "/tmp/x".into(), user: None,
//! #     environment: Default::default(), checkpoint: false,
//! # };
//! let launched = mock.launch(config("c1")).now_or_never().unwrap().unwrap();
//! assert_eq!(launched, LaunchResult::Launched { pid: 1000 });
//! let wait = mock.wait(MockContainerizer::id("c1"));   // pending...
//! mock.exit("c1", exited(0));        // ...until the test says so
//! assert_eq!(wait.now_or_never().unwrap().unwrap().status, Some(0));
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use futures::channel::oneshot;
use futures::future::{self, BoxFuture};
use futures::FutureExt;

use super::{ContainerConfig, ContainerError, Containerizer, LaunchResult, RecoverableContainer, Termination};
use crate::proto::mesos::{ContainerId, Resource, ResourceStatistics};

/// The wait status `destroy` reports: killed by SIGKILL.
pub const KILLED_STATUS: i32 = 9;

/// What a launched container does.
#[derive(Debug, Clone, PartialEq)]
pub enum MockBehavior {
    /// Runs until the test calls [`MockContainerizer::exit`] or the agent
    /// destroys it (the default).
    Run,
    /// Launches, then terminates at once with this termination.
    Exit(Termination),
    /// `launch` fails with this error (e.g. `FetchFailed`).
    FailLaunch(ContainerError),
    /// `launch` answers [`LaunchResult::NotSupported`].
    NotSupported,
}

/// The termination of a process that exited with `code` (as a wait status).
pub fn exited(code: i32) -> Termination {
    Termination { status: Some((code & 0xff) << 8), ..Default::default() }
}

#[derive(Default)]
struct Running {
    pid: u32,
    waiters: Vec<oneshot::Sender<Termination>>,
}

struct State {
    next_pid: u32,
    default: MockBehavior,
    by_id: HashMap<String, MockBehavior>,
    queued: VecDeque<MockBehavior>,
    running: BTreeMap<String, Running>,
    finished: HashMap<String, Termination>,
    usage: HashMap<String, ResourceStatistics>,
    recover_error: Option<ContainerError>,
    launches: Vec<ContainerConfig>,
    destroyed: Vec<ContainerId>,
    updates: Vec<(ContainerId, Vec<Resource>)>,
    recoveries: Vec<Vec<RecoverableContainer>>,
}

/// See the module docs.
pub struct MockContainerizer {
    state: Mutex<State>,
}

impl Default for MockContainerizer {
    fn default() -> Self {
        MockContainerizer::new()
    }
}

impl MockContainerizer {
    pub fn new() -> MockContainerizer {
        MockContainerizer {
            state: Mutex::new(State {
                next_pid: 1000,
                default: MockBehavior::Run,
                by_id: HashMap::new(),
                queued: VecDeque::new(),
                running: BTreeMap::new(),
                finished: HashMap::new(),
                usage: HashMap::new(),
                recover_error: None,
                launches: Vec::new(),
                destroyed: Vec::new(),
                updates: Vec::new(),
                recoveries: Vec::new(),
            }),
        }
    }

    /// A top-level container id.
    pub fn id(value: &str) -> ContainerId {
        ContainerId { value: value.into(), parent: None }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- scripting ----

    /// What launches do when nothing more specific is scripted.
    pub fn set_default(&self, behavior: MockBehavior) {
        self.lock().default = behavior;
    }

    /// What the launch of this container id does (kept for relaunches).
    pub fn script(&self, container_id: &str, behavior: MockBehavior) {
        self.lock().by_id.insert(container_id.to_string(), behavior);
    }

    /// What the next launch (whatever its id) does; queued in order, and
    /// consulted after per-id scripts.
    pub fn script_next(&self, behavior: MockBehavior) {
        self.lock().queued.push_back(behavior);
    }

    /// Ends a running container now: its waiters get `termination`.
    /// False if it was not running.
    pub fn exit(&self, container_id: &str, termination: Termination) -> bool {
        let mut state = self.lock();
        finish(&mut state, container_id, termination)
    }

    /// Makes `recover` fail once with `error`.
    pub fn fail_next_recover(&self, error: ContainerError) {
        self.lock().recover_error = Some(error);
    }

    /// What `usage` returns for the container (default: a timestamp only).
    pub fn set_usage(&self, container_id: &str, statistics: ResourceStatistics) {
        self.lock().usage.insert(container_id.to_string(), statistics);
    }

    /// Pretends a process survived an agent restart: the container is
    /// running before `recover` is called (use with a fresh mock).
    pub fn add_running(&self, container_id: &str, pid: u32) {
        self.lock().running.insert(container_id.to_string(), Running { pid, waiters: Vec::new() });
    }

    // ---- observing ----

    /// Every launch, in order.
    pub fn launches(&self) -> Vec<ContainerConfig> {
        self.lock().launches.clone()
    }

    /// Every destroy call, in order.
    pub fn destroyed(&self) -> Vec<ContainerId> {
        self.lock().destroyed.clone()
    }

    /// Every update call, in order.
    pub fn updates(&self) -> Vec<(ContainerId, Vec<Resource>)> {
        self.lock().updates.clone()
    }

    /// Every recover call's list, in order.
    pub fn recoveries(&self) -> Vec<Vec<RecoverableContainer>> {
        self.lock().recoveries.clone()
    }

    /// The running containers and their pids.
    pub fn running(&self) -> BTreeMap<String, u32> {
        self.lock().running.iter().map(|(k, r)| (k.clone(), r.pid)).collect()
    }
}

fn finish(state: &mut State, key: &str, termination: Termination) -> bool {
    let Some(running) = state.running.remove(key) else { return false };
    for waiter in running.waiters {
        let _ = waiter.send(termination.clone());
    }
    state.finished.insert(key.to_string(), termination);
    true
}

impl Containerizer for MockContainerizer {
    fn recover(&self, known: Vec<RecoverableContainer>) -> BoxFuture<'_, Result<(), ContainerError>> {
        let mut state = self.lock();
        state.recoveries.push(known.clone());
        if let Some(error) = state.recover_error.take() {
            return future::ready(Err(error)).boxed();
        }
        for container in &known {
            let key = &container.container_id.value;
            if !state.running.contains_key(key) && !state.finished.contains_key(key) {
                // Checkpointed, but its process did not survive.
                state.finished.insert(key.clone(), Termination::default());
            }
        }
        let orphans: Vec<String> =
            state.running.keys().filter(|k| !known.iter().any(|c| &c.container_id.value == *k)).cloned().collect();
        for orphan in orphans {
            state.destroyed.push(MockContainerizer::id(&orphan));
            finish(&mut state, &orphan, Termination { status: Some(KILLED_STATUS), ..Default::default() });
        }
        future::ready(Ok(())).boxed()
    }

    fn launch(&self, config: ContainerConfig) -> BoxFuture<'_, Result<LaunchResult, ContainerError>> {
        let mut state = self.lock();
        let key = config.container_id.value.clone();
        state.launches.push(config);
        if state.running.contains_key(&key) {
            return future::ready(Err(ContainerError::AlreadyExists(key))).boxed();
        }
        let behavior = match state.by_id.get(&key).cloned() {
            Some(b) => b,
            None => match state.queued.pop_front() {
                Some(b) => b,
                None => state.default.clone(),
            },
        };
        let result = match behavior {
            MockBehavior::NotSupported => Ok(LaunchResult::NotSupported),
            MockBehavior::FailLaunch(error) => {
                state.finished.insert(key, Termination { message: Some(error.to_string()), ..Default::default() });
                Err(error)
            }
            MockBehavior::Run | MockBehavior::Exit(_) => {
                let pid = state.next_pid;
                state.next_pid += 1;
                state.finished.remove(&key);
                state.running.insert(key.clone(), Running { pid, waiters: Vec::new() });
                if let MockBehavior::Exit(termination) = behavior {
                    finish(&mut state, &key, termination);
                }
                Ok(LaunchResult::Launched { pid })
            }
        };
        future::ready(result).boxed()
    }

    fn wait(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        let mut state = self.lock();
        if let Some(running) = state.running.get_mut(&id.value) {
            let (tx, rx) = oneshot::channel();
            running.waiters.push(tx);
            return rx.map(Result::ok).boxed();
        }
        future::ready(state.finished.get(&id.value).cloned()).boxed()
    }

    fn destroy(&self, id: ContainerId) -> BoxFuture<'_, Option<Termination>> {
        let mut state = self.lock();
        state.destroyed.push(id.clone());
        let key = id.value;
        finish(&mut state, &key, Termination { status: Some(KILLED_STATUS), ..Default::default() });
        future::ready(state.finished.get(&key).cloned()).boxed()
    }

    fn update(&self, id: ContainerId, resources: Vec<Resource>) -> BoxFuture<'_, Result<(), ContainerError>> {
        let mut state = self.lock();
        let known = state.running.contains_key(&id.value);
        state.updates.push((id.clone(), resources));
        let result = if known { Ok(()) } else { Err(ContainerError::Unknown(id.value)) };
        future::ready(result).boxed()
    }

    fn usage(&self, id: ContainerId) -> BoxFuture<'_, Result<ResourceStatistics, ContainerError>> {
        let state = self.lock();
        let result = if state.running.contains_key(&id.value) {
            Ok(state.usage.get(&id.value).cloned().unwrap_or_default())
        } else {
            Err(ContainerError::Unknown(id.value))
        };
        future::ready(result).boxed()
    }

    fn containers(&self) -> BoxFuture<'_, Vec<ContainerId>> {
        let ids = self.lock().running.keys().map(|k| MockContainerizer::id(k)).collect();
        future::ready(ids).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str) -> ContainerConfig {
        ContainerConfig {
            container_id: MockContainerizer::id(id),
            executor_info: Default::default(),
            task_info: None,
            command_info: Default::default(),
            container_info: None,
            resources: vec![],
            directory: "/tmp/sandbox".into(),
            user: None,
            environment: Default::default(),
            checkpoint: true,
        }
    }

    fn now<T>(f: BoxFuture<'_, T>) -> T {
        f.now_or_never().expect("the mock's futures are ready")
    }

    #[test]
    fn scripted_launches_in_order() {
        let mock = MockContainerizer::new();
        mock.script("b", MockBehavior::FailLaunch(ContainerError::FetchFailed("nope".into())));
        mock.script_next(MockBehavior::NotSupported);
        mock.script_next(MockBehavior::Exit(exited(2)));
        assert_eq!(now(mock.launch(config("a"))), Ok(LaunchResult::NotSupported));
        assert_eq!(now(mock.launch(config("b"))), Err(ContainerError::FetchFailed("nope".into())));
        assert_eq!(now(mock.launch(config("c"))), Ok(LaunchResult::Launched { pid: 1000 }));
        assert_eq!(now(mock.wait(MockContainerizer::id("c"))).unwrap().status, Some(2 << 8));
        assert_eq!(now(mock.launch(config("d"))), Ok(LaunchResult::Launched { pid: 1001 }));
        assert_eq!(mock.launches().len(), 4);
        assert_eq!(now(mock.launch(config("d"))), Err(ContainerError::AlreadyExists("d".into())));
    }

    #[test]
    fn waits_complete_on_exit_or_destroy() {
        let mock = MockContainerizer::new();
        now(mock.launch(config("a"))).unwrap();
        now(mock.launch(config("b"))).unwrap();
        let mut wait_a = mock.wait(MockContainerizer::id("a"));
        assert!((&mut wait_a).now_or_never().is_none());
        assert!(mock.exit("a", exited(0)));
        assert_eq!(now(wait_a).unwrap().status, Some(0));
        assert!(!mock.exit("a", exited(0)));
        let wait_b = mock.wait(MockContainerizer::id("b"));
        assert_eq!(now(mock.destroy(MockContainerizer::id("b"))).unwrap().status, Some(KILLED_STATUS));
        assert_eq!(now(wait_b).unwrap().status, Some(KILLED_STATUS));
        assert_eq!(now(mock.destroy(MockContainerizer::id("zz"))), None);
        assert_eq!(now(mock.wait(MockContainerizer::id("zz"))), None);
        assert!(now(mock.containers()).is_empty());
    }

    #[test]
    fn recovery_keeps_survivors_and_destroys_orphans() {
        let mock = MockContainerizer::new();
        mock.add_running("alive", 4242);
        mock.add_running("orphan", 4243);
        let known = |id: &str| RecoverableContainer {
            container_id: MockContainerizer::id(id),
            executor_info: Default::default(),
            directory: "/tmp/x".into(),
            pid: Some(1),
        };
        now(mock.recover(vec![known("alive"), known("gone")])).unwrap();
        assert_eq!(mock.running(), BTreeMap::from([("alive".to_string(), 4242)]));
        assert_eq!(mock.destroyed(), vec![MockContainerizer::id("orphan")]);
        assert_eq!(now(mock.wait(MockContainerizer::id("gone"))), Some(Termination::default()));
        assert!(now(mock.usage(MockContainerizer::id("alive"))).is_ok());
        assert!(now(mock.update(MockContainerizer::id("gone"), vec![])).is_err());
        mock.fail_next_recover(ContainerError::Io("disk".into()));
        assert!(now(mock.recover(vec![])).is_err());
        assert!(now(mock.recover(vec![])).is_ok());
    }
}
