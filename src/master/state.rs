//! The master's books: frameworks, agents, tasks, executors and offers, and
//! the bookkeeping every handler shares (Mesos's `Framework`, `Slave`,
//! `addTask`, `removeTask`, `updateTask`, `removeOffer`, ...).
//!
//! Ownership follows Mesos: an agent owns the tasks running on it; a
//! framework indexes its tasks by id (a framework that has not reregistered
//! after a failover has no entry, while its tasks live on their agents).
//! Maps iterate in insertion order (`IndexMap`), so everything the master
//! does is deterministic for a given sequence of events.

use std::collections::{BTreeSet, VecDeque};

use indexmap::{IndexMap, IndexSet};

use crate::common::resources::Resources;
use crate::master::allocator::Allocator;
use crate::proto::mesos::framework_info::capability::Type as FrameworkCapability;
use crate::proto::mesos::scheduler::OfferConstraints;
use crate::proto::mesos::slave_info::capability::Type as AgentCapability;
use crate::proto::mesos::slave_info::Capability as AgentCapabilityInfo;
use crate::proto::mesos::{
    DrainInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, SlaveId, SlaveInfo,
    Task, TaskId, TaskState, TimeInfo, Uuid,
};
use crate::v0_compat::Upid;

use super::config::Config;
use super::event::{Effect, SchedulerConn};
use super::metrics::Metrics;
use super::registry::RegistryOp;

/// Insertion-ordered map used for every collection the master iterates.
pub type Map<K, V> = IndexMap<K, V>;
/// Insertion-ordered set.
pub type Set<T> = IndexSet<T>;

/// The capabilities of a framework the master acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameworkCaps {
    pub partition_aware: bool,
    pub multi_role: bool,
    pub reservation_refinement: bool,
    pub task_killing_state: bool,
    pub gpu_resources: bool,
    pub shared_resources: bool,
    pub region_aware: bool,
    pub revocable_resources: bool,
}

impl FrameworkCaps {
    /// Reads `FrameworkInfo.capabilities`.
    pub fn of(info: &FrameworkInfo) -> FrameworkCaps {
        let mut caps = FrameworkCaps::default();
        for c in &info.capabilities {
            match c.r#type() {
                FrameworkCapability::PartitionAware => caps.partition_aware = true,
                FrameworkCapability::MultiRole => caps.multi_role = true,
                FrameworkCapability::ReservationRefinement => caps.reservation_refinement = true,
                FrameworkCapability::TaskKillingState => caps.task_killing_state = true,
                FrameworkCapability::GpuResources => caps.gpu_resources = true,
                FrameworkCapability::SharedResources => caps.shared_resources = true,
                FrameworkCapability::RegionAware => caps.region_aware = true,
                FrameworkCapability::RevocableResources => caps.revocable_resources = true,
                FrameworkCapability::Unknown => {}
            }
        }
        caps
    }
}

/// The capabilities of an agent the master acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentCaps {
    pub multi_role: bool,
    pub hierarchical_role: bool,
    pub reservation_refinement: bool,
    pub resource_provider: bool,
    pub agent_operation_feedback: bool,
    pub task_resource_limits: bool,
}

impl AgentCaps {
    /// Reads the agent's capability list.
    pub fn of(capabilities: &[AgentCapabilityInfo]) -> AgentCaps {
        let mut caps = AgentCaps::default();
        for c in capabilities {
            match c.r#type() {
                AgentCapability::MultiRole => caps.multi_role = true,
                AgentCapability::HierarchicalRole => caps.hierarchical_role = true,
                AgentCapability::ReservationRefinement => caps.reservation_refinement = true,
                AgentCapability::ResourceProvider => caps.resource_provider = true,
                AgentCapability::AgentOperationFeedback => caps.agent_operation_feedback = true,
                AgentCapability::TaskResourceLimits => caps.task_resource_limits = true,
                _ => {}
            }
        }
        caps
    }
}

/// Where a framework stands (Mesos's `Framework::State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameworkState {
    /// Known only from agents' reregistrations after a master failover; the
    /// scheduler has not resubscribed yet.
    Recovered,
    /// Subscribed, with a live connection.
    Connected,
    /// The connection broke; the framework has `failover_timeout` to come back.
    Disconnected,
}

/// A framework the master knows (registered, recovered or completed).
#[derive(Clone, Debug)]
pub struct Framework {
    pub info: FrameworkInfo,
    /// `roles` with MULTI_ROLE, else `role` (default `*`).
    pub roles: BTreeSet<String>,
    pub caps: FrameworkCaps,
    pub state: FrameworkState,
    /// Receiving offers (Mesos's `active`).
    pub active: bool,
    /// How to reach the scheduler. A v0 framework keeps its pid while
    /// disconnected (Mesos still sends to it); an HTTP stream is dropped.
    pub conn: Option<SchedulerConn>,
    pub registered_time: f64,
    pub reregistered_time: f64,
    pub unregistered_time: f64,
    /// Changes whenever the failover timer is superseded (resubscription).
    pub failover_epoch: u64,
    /// Active tasks: id → the agent holding the `Task`.
    pub tasks: Map<TaskId, SlaveId>,
    /// The latest terminal tasks, at most `--max_completed_tasks_per_framework`.
    pub completed_tasks: VecDeque<Task>,
    /// Tasks on unreachable agents, at most `--max_unreachable_tasks_per_framework`.
    pub unreachable_tasks: Map<TaskId, Task>,
    pub offers: Set<OfferId>,
    pub executors: Map<SlaveId, Map<ExecutorId, ExecutorInfo>>,
    pub total_used: Resources,
    pub used: Map<SlaveId, Resources>,
    pub total_offered: Resources,
    pub offered: Map<SlaveId, Resources>,
    pub suppressed_roles: BTreeSet<String>,
    pub offer_constraints: OfferConstraints,
    pub offers_sent: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
}

impl Framework {
    /// A framework with `info` (which must carry an id), in `state`.
    pub fn new(info: FrameworkInfo, state: FrameworkState, conn: Option<SchedulerConn>, time: f64) -> Framework {
        Framework {
            roles: crate::master::allocator::framework_roles(&info),
            caps: FrameworkCaps::of(&info),
            info,
            active: state == FrameworkState::Connected,
            state,
            conn,
            registered_time: time,
            reregistered_time: time,
            unregistered_time: 0.0,
            failover_epoch: 0,
            tasks: Map::new(),
            completed_tasks: VecDeque::new(),
            unreachable_tasks: Map::new(),
            offers: Set::new(),
            executors: Map::new(),
            total_used: Resources::new(),
            used: Map::new(),
            total_offered: Resources::new(),
            offered: Map::new(),
            suppressed_roles: BTreeSet::new(),
            offer_constraints: OfferConstraints::default(),
            offers_sent: 0,
            offers_accepted: 0,
            offers_declined: 0,
            offers_rescinded: 0,
        }
    }

    /// The framework id.
    pub fn id(&self) -> FrameworkId {
        self.info.id.clone().unwrap_or_default()
    }

    pub fn connected(&self) -> bool {
        self.state == FrameworkState::Connected
    }

    pub fn recovered(&self) -> bool {
        self.state == FrameworkState::Recovered
    }

    /// The v0 pid, if the scheduler speaks v0.
    pub fn pid(&self) -> Option<&Upid> {
        match &self.conn {
            Some(SchedulerConn::Pid(pid)) => Some(pid),
            _ => None,
        }
    }

    pub fn has_executor(&self, agent: &SlaveId, executor: &ExecutorId) -> bool {
        self.executors.get(agent).is_some_and(|m| m.contains_key(executor))
    }

    /// Keeps a terminal task, dropping the oldest beyond `limit`.
    pub fn add_completed_task(&mut self, task: Task, limit: usize) {
        if limit == 0 {
            return;
        }
        while self.completed_tasks.len() >= limit {
            self.completed_tasks.pop_front();
        }
        self.completed_tasks.push_back(task);
    }

    /// Keeps a task of an unreachable agent, dropping the oldest beyond `limit`.
    pub fn add_unreachable_task(&mut self, task: Task, limit: usize) {
        if limit == 0 {
            return;
        }
        self.unreachable_tasks.shift_remove(&task.task_id);
        while self.unreachable_tasks.len() >= limit {
            self.unreachable_tasks.shift_remove_index(0);
        }
        self.unreachable_tasks.insert(task.task_id.clone(), task);
    }

    fn add_used(&mut self, agent: &SlaveId, resources: &Resources) {
        self.total_used += resources;
        *self.used.entry(agent.clone()).or_default() += resources;
    }

    fn sub_used(&mut self, agent: &SlaveId, resources: &Resources) {
        self.total_used -= resources;
        if let Some(used) = self.used.get_mut(agent) {
            *used -= resources;
            if used.is_empty() {
                self.used.swap_remove(agent);
            }
        }
    }
}

/// The agent observer (Mesos's `SlaveObserver`): pings every
/// `--agent_ping_timeout`, counts unanswered pings.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    /// Changes when the observer is replaced (reregistration, removal).
    pub epoch: u64,
    pub timeouts: u32,
    pub pinged: bool,
}

/// A registered agent (Mesos's `Slave`).
#[derive(Clone, Debug)]
pub struct Agent {
    pub id: SlaveId,
    pub info: SlaveInfo,
    pub pid: Upid,
    pub version: String,
    pub capabilities: Vec<AgentCapabilityInfo>,
    pub caps: AgentCaps,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub connected: bool,
    pub active: bool,
    /// Changes whenever the reregistration timer is superseded.
    pub reregister_epoch: u64,
    pub observer: Observer,
    pub executors: Map<FrameworkId, Map<ExecutorId, ExecutorInfo>>,
    pub tasks: Map<FrameworkId, Map<TaskId, Task>>,
    /// Tasks a framework asked to kill; killed again if the agent reports
    /// them alive after a reconnection.
    pub killed_tasks: Map<FrameworkId, Set<TaskId>>,
    pub offers: Set<OfferId>,
    pub used: Map<FrameworkId, Resources>,
    pub offered: Resources,
    pub checkpointed: Resources,
    pub total: Resources,
    pub resource_version: Option<Uuid>,
}

/// What an agent (re)registers with.
pub(crate) struct AgentRegistration {
    pub info: SlaveInfo,
    pub pid: Upid,
    pub version: Option<String>,
    pub capabilities: Vec<AgentCapabilityInfo>,
    pub checkpointed: Resources,
    pub total: Resources,
    pub resource_version: Option<Uuid>,
}

impl Agent {
    /// A connected, active agent with no tasks, executors or offers yet.
    pub(crate) fn new(id: SlaveId, r: AgentRegistration, time: f64, reregistered: bool) -> Agent {
        Agent {
            id,
            info: r.info,
            pid: r.pid,
            version: r.version.unwrap_or_default(),
            caps: AgentCaps::of(&r.capabilities),
            capabilities: r.capabilities,
            registered_time: time,
            reregistered_time: reregistered.then_some(time),
            connected: true,
            active: true,
            reregister_epoch: 0,
            observer: Observer::default(),
            executors: Map::new(),
            tasks: Map::new(),
            killed_tasks: Map::new(),
            offers: Set::new(),
            used: Map::new(),
            offered: Resources::new(),
            checkpointed: r.checkpointed,
            total: r.total,
            resource_version: r.resource_version,
        }
    }

    pub fn task(&self, framework: &FrameworkId, task: &TaskId) -> Option<&Task> {
        self.tasks.get(framework).and_then(|t| t.get(task))
    }

    pub fn task_mut(&mut self, framework: &FrameworkId, task: &TaskId) -> Option<&mut Task> {
        self.tasks.get_mut(framework).and_then(|t| t.get_mut(task))
    }

    pub fn has_executor(&self, framework: &FrameworkId, executor: &ExecutorId) -> bool {
        self.executors.get(framework).is_some_and(|m| m.contains_key(executor))
    }

    fn add_used(&mut self, framework: &FrameworkId, resources: &Resources) {
        *self.used.entry(framework.clone()).or_default() += resources;
    }

    fn sub_used(&mut self, framework: &FrameworkId, resources: &Resources) {
        if let Some(used) = self.used.get_mut(framework) {
            *used -= resources;
            if used.is_empty() {
                self.used.swap_remove(framework);
            }
        }
    }

    /// All resources in use, summed over frameworks.
    pub fn total_used(&self) -> Resources {
        let mut sum = Resources::new();
        for r in self.used.values() {
            sum += r;
        }
        sum
    }
}

/// An outstanding offer.
#[derive(Clone, Debug)]
pub struct OfferEntry {
    /// The offer as the master keeps it (post-refinement resources, with
    /// allocation info), before per-framework adaptation for sending.
    pub offer: Offer,
    pub resources: Resources,
}

/// The frameworks (Mesos's `Master::Frameworks`).
#[derive(Debug, Default)]
pub struct Frameworks {
    pub registered: Map<FrameworkId, Framework>,
    /// Removed frameworks, at most `--max_completed_frameworks`, oldest first.
    pub completed: Map<FrameworkId, Framework>,
    /// v0 scheduler pid → framework.
    pub by_pid: Map<Upid, FrameworkId>,
    /// Open v1 subscription streams: number → `Mesos-Stream-Id`.
    pub http_streams: Map<u64, String>,
}

/// The agents (Mesos's `Master::Slaves`).
#[derive(Debug, Default)]
pub struct Agents {
    pub registered: Map<SlaveId, Agent>,
    pub by_pid: Map<Upid, SlaveId>,
    /// Admitted in the registry, not yet reregistered since the failover.
    pub recovered: Map<SlaveId, SlaveInfo>,
    pub registering: Set<Upid>,
    pub reregistering: Set<SlaveId>,
    pub removing: Set<SlaveId>,
    pub marking_unreachable: Set<SlaveId>,
    pub marking_gone: Set<SlaveId>,
    /// Recently removed agents, whose late messages are dropped.
    pub removed: Set<SlaveId>,
    /// Unreachable agents and when they became so, oldest first.
    pub unreachable: Map<SlaveId, TimeInfo>,
    pub gone: Map<SlaveId, TimeInfo>,
    /// Tasks of unreachable agents, so their frameworks' records can be
    /// cleaned when the agent comes back or is garbage collected.
    pub unreachable_tasks: Map<SlaveId, Map<FrameworkId, Vec<TaskId>>>,
    pub draining: Map<SlaveId, DrainInfo>,
    pub deactivated: Set<SlaveId>,
}

impl Agents {
    /// Remembers a removed agent (bounded like Mesos's cache).
    pub fn mark_removed(&mut self, id: SlaveId) {
        if self.removed.len() >= super::config::MAX_REMOVED_SLAVES {
            self.removed.shift_remove_index(0);
        }
        self.removed.insert(id);
    }
}

/// Work waiting for a registry operation to be durable.
#[derive(Clone, Debug)]
pub enum Pending {
    /// `_registerSlave` → `__registerSlave`.
    AdmitAgent { pid: Upid, message: Box<crate::proto::mesos::internal::RegisterSlaveMessage> },
    /// `__reregisterSlave` (recovered or unreachable agent coming back).
    ReadmitAgent { pid: Upid, message: Box<crate::proto::mesos::internal::ReregisterSlaveMessage> },
    /// `___reregisterSlave` (a registered agent reregistering).
    UpdateAgent { pid: Upid, message: Box<crate::proto::mesos::internal::ReregisterSlaveMessage> },
    /// `_removeSlave`.
    RemoveAgent { agent: SlaveId, cause: String, reason: RemovalReason },
    /// `_markUnreachable`.
    MarkUnreachable { info: Box<SlaveInfo>, time: TimeInfo, during_failover: bool, message: String },
    /// `_doRegistryGc`.
    Prune { unreachable: Vec<SlaveId>, gone: Vec<SlaveId> },
    /// UPDATE_WEIGHTS operator call `id`.
    Weights { id: u64, infos: Vec<crate::proto::mesos::WeightInfo> },
    /// DEACTIVATE_AGENT operator call `id`.
    DeactivateAgent { id: u64, agent: SlaveId },
    /// REACTIVATE_AGENT operator call `id`.
    ReactivateAgent { id: u64, agent: SlaveId },
    /// UPDATE_MAINTENANCE_SCHEDULE operator call `id`.
    Schedule { id: u64, schedule: crate::proto::mesos::maintenance::Schedule },
    /// START_MAINTENANCE operator call `id`.
    StartMaintenance { id: u64, machines: Vec<crate::proto::mesos::MachineId> },
    /// STOP_MAINTENANCE operator call `id`.
    StopMaintenance { id: u64, machines: Vec<crate::proto::mesos::MachineId> },
    /// UPDATE_QUOTA operator call `id`.
    Quota { id: u64, configs: Vec<crate::proto::mesos::quota::QuotaConfig> },
    /// MARK_AGENT_GONE operator call `id` (`_markAgentGone` → `markGone`).
    MarkGone { id: u64, agent: SlaveId, time: TimeInfo },
    /// Nothing to continue with (e.g. weights).
    Nothing,
}

/// Why an agent was removed, for `master/slave_removals/reason_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    Registered,
    Unregistered,
}

/// The master: the state machine of the `mesos-master` process. See the
/// module documentation of [`crate::master`] for how to drive it.
pub struct Master {
    pub(crate) config: Config,
    pub(crate) info: MasterInfo,
    pub(crate) allocator: Allocator,
    pub(crate) leader: Option<MasterInfo>,
    pub(crate) elected: bool,
    /// The registry has been recovered: messages are processed.
    pub(crate) recovered: bool,
    pub(crate) start_time: f64,
    pub(crate) elected_time: Option<f64>,
    pub(crate) frameworks: Frameworks,
    pub(crate) agents: Agents,
    pub(crate) offers: Map<OfferId, OfferEntry>,
    /// Role → frameworks tracked under it (subscribed, or holding resources).
    pub(crate) roles: Map<String, Set<FrameworkId>>,
    pub(crate) weights: Map<String, f64>,
    pub(crate) pending: Map<u64, Pending>,
    /// Operator API event streams (SUBSCRIBE), by the driver's number.
    pub(crate) operator_streams: Set<u64>,
    /// Maintenance schedule, machines and inverse offers.
    pub(crate) maintenance: super::maintenance::Maintenance,
    /// Quota configurations by role (UPDATE_QUOTA, the registry).
    pub(crate) quota_configs: Map<String, crate::proto::mesos::quota::QuotaConfig>,
    pub(crate) metrics: Metrics,
    pub(crate) next_registry_op: u64,
    pub(crate) next_framework_id: u64,
    pub(crate) next_agent_id: u64,
    pub(crate) next_offer_id: u64,
    pub(crate) next_epoch: u64,
    /// The recovered-agents timer's epoch (one per failover).
    pub(crate) recovered_epoch: u64,
    /// The time of the event being handled.
    pub(crate) now: super::Now,
    /// Effects of the event being handled.
    pub(crate) out: Vec<Effect>,
}

pub use crate::common::task_states::is_terminal;

pub(crate) fn task_state(task: &Task) -> TaskState {
    TaskState::try_from(task.state).unwrap_or(TaskState::TaskStaging)
}

impl Master {
    pub(crate) fn emit(&mut self, effect: Effect) {
        self.out.push(effect);
    }

    pub(crate) fn send(&mut self, to: &Upid, message: impl Into<crate::v0_compat::Message>) {
        self.out.push(Effect::Send { to: to.clone(), message: message.into() });
    }

    pub(crate) fn epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// Starts a registry operation; `then` runs when it is durable.
    pub(crate) fn registry(&mut self, op: RegistryOp, then: Pending) {
        self.next_registry_op += 1;
        let id = self.next_registry_op;
        tracing::debug!(id, op = op.name(), "applying registry operation");
        self.pending.insert(id, then);
        self.out.push(Effect::Registry { id, op });
    }

    /// Sends to a framework's scheduler (Mesos's `Framework::send`): to its
    /// connection even while disconnected, as Mesos does for v0 pids.
    pub(crate) fn send_framework(&mut self, framework: &FrameworkId, message: crate::v0_compat::Message) {
        let Some(fw) = self.frameworks.registered.get(framework) else { return };
        if !fw.connected() {
            tracing::warn!("Master attempting to send message to disconnected framework {}", framework.value);
        }
        match &fw.conn {
            Some(conn) => {
                let to = conn.clone();
                self.metrics.count_event(&message);
                self.out.push(Effect::Scheduler { to, message });
            }
            None => tracing::warn!(
                "Unable to send message to framework {}: framework is recovered but has not reregistered",
                framework.value
            ),
        }
    }

    pub(crate) fn framework_label(&self, id: &FrameworkId) -> String {
        match self.frameworks.registered.get(id) {
            Some(fw) => match fw.pid() {
                Some(pid) => format!("{} ({}) at {}", id.value, fw.info.name, pid),
                None => format!("{} ({})", id.value, fw.info.name),
            },
            None => id.value.clone(),
        }
    }

    pub(crate) fn agent_label(&self, id: &SlaveId) -> String {
        match self.agents.registered.get(id) {
            Some(a) => format!("{} at {} ({})", id.value, a.pid, a.info.hostname),
            None => id.value.clone(),
        }
    }

    // ---------------------------------------------------------------
    // Roles

    pub(crate) fn track_under_role(&mut self, framework: &FrameworkId, role: &str) {
        self.roles.entry(role.to_string()).or_default().insert(framework.clone());
    }

    pub(crate) fn untrack_under_role(&mut self, framework: &FrameworkId, role: &str) {
        if let Some(set) = self.roles.get_mut(role) {
            set.shift_remove(framework);
            if set.is_empty() {
                self.roles.shift_remove(role);
            }
        }
    }

    /// Untracks `role` for the framework if it neither subscribes to it nor
    /// holds resources allocated to it (Mesos's `recoverResources` check).
    pub(crate) fn maybe_untrack_role(&mut self, framework: &FrameworkId, role: &str) {
        let Some(fw) = self.frameworks.registered.get(framework) else { return };
        if fw.roles.contains(role) {
            return;
        }
        let holds = fw.total_used.iter().any(|i| i.allocation_role() == Some(role))
            || fw.total_offered.iter().any(|i| i.allocation_role() == Some(role));
        if !holds {
            self.untrack_under_role(framework, role);
        }
    }

    // ---------------------------------------------------------------
    // Tasks and executors

    /// Adds a task to its agent and framework (Mesos's `Master::addTask`
    /// and the `Framework`/`Slave` `addTask`s).
    pub(crate) fn add_task_record(&mut self, task: Task) {
        let fid = task.framework_id.clone();
        let aid = task.slave_id.clone();
        let resources = Resources::from_protos(&task.resources);
        let terminal = is_terminal(task_state(&task));
        let role = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
        if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
            fw.tasks.insert(task.task_id.clone(), aid.clone());
            if !terminal {
                fw.add_used(&aid, &resources);
            }
        }
        if !terminal {
            if let Some(role) = role {
                if self.frameworks.registered.contains_key(&fid) {
                    self.track_under_role(&fid, &role);
                }
            }
        }
        if self.frameworks.registered.contains_key(&fid) {
            self.task_added_event(&task);
        }
        if let Some(agent) = self.agents.registered.get_mut(&aid) {
            if !terminal {
                agent.add_used(&fid, &resources);
            }
            agent.tasks.entry(fid).or_default().insert(task.task_id.clone(), task);
        }
    }

    /// Adds an executor to its agent and framework.
    pub(crate) fn add_executor_record(&mut self, agent: &SlaveId, framework: &FrameworkId, executor: ExecutorInfo) {
        let resources = Resources::from_protos(&executor.resources);
        let role = executor.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
        if let Some(fw) = self.frameworks.registered.get_mut(framework) {
            fw.add_used(agent, &resources);
            fw.executors.entry(agent.clone()).or_default().insert(executor.executor_id.clone(), executor.clone());
            if let Some(role) = role {
                self.track_under_role(framework, &role);
            }
        }
        if let Some(a) = self.agents.registered.get_mut(agent) {
            a.add_used(framework, &resources);
            a.executors.entry(framework.clone()).or_default().insert(executor.executor_id.clone(), executor);
        }
    }

    /// Removes an executor and gives its resources back (`removeExecutor`).
    pub(crate) fn remove_executor(
        &mut self,
        now: super::Now,
        agent: &SlaveId,
        framework: &FrameworkId,
        executor: &ExecutorId,
    ) {
        let Some(a) = self.agents.registered.get_mut(agent) else { return };
        let Some(info) = a.executors.get_mut(framework).and_then(|m| m.shift_remove(executor)) else { return };
        if a.executors.get(framework).is_some_and(|m| m.is_empty()) {
            a.executors.shift_remove(framework);
        }
        let resources = Resources::from_protos(&info.resources);
        a.sub_used(framework, &resources);
        tracing::info!(
            "Removing executor '{}' with resources {} of framework {} on agent {}",
            executor.value,
            resources,
            framework.value,
            agent.value
        );
        self.allocator.recover_resources(now.monotonic, framework, agent, &resources, None, true);
        if let Some(fw) = self.frameworks.registered.get_mut(framework) {
            if let Some(m) = fw.executors.get_mut(agent) {
                m.shift_remove(executor);
                if m.is_empty() {
                    fw.executors.shift_remove(agent);
                }
            }
            fw.sub_used(agent, &resources);
            let role = info.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
            if let Some(role) = role {
                self.maybe_untrack_role(framework, &role);
            }
        }
    }

    /// Records a status update on a task (Mesos's `updateTask`): its state,
    /// its latest statuses, and the resources it gives back once it becomes
    /// terminal or unreachable.
    pub(crate) fn update_task(
        &mut self,
        now: super::Now,
        agent: &SlaveId,
        framework: &FrameworkId,
        task_id: &TaskId,
        update: &crate::proto::mesos::internal::StatusUpdate,
    ) {
        let status = &update.status;
        let status_state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskStaging);
        let update_state = update.latest_state.and_then(|s| TaskState::try_from(s).ok()).unwrap_or(status_state);
        let terminal_or_unreachable = |s: TaskState| is_terminal(s) || s == TaskState::TaskUnreachable;
        let subscribed = self.has_operator_subscribers();
        let Some(a) = self.agents.registered.get_mut(agent) else { return };
        let Some(task) = a.task_mut(framework, task_id) else { return };
        let old_state = task_state(task);
        let transitioned = !terminal_or_unreachable(old_state) && terminal_or_unreachable(update_state);
        if !is_terminal(old_state) {
            task.state = update_state as i32;
        }
        let repeated = task.statuses.last().is_some_and(|last| last.state == status.state);
        if repeated {
            task.statuses.pop();
        }
        let mut kept = status.clone();
        kept.data = None;
        task.statuses.push(kept);
        // Mesos sends TASK_UPDATED for every new task state.
        let changed = (!repeated && subscribed).then(|| task.clone());
        let resources = Resources::from_protos(&task.resources);
        let role = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
        tracing::info!(
            "Updating the state of task {} of framework {} (latest state: {}, status update state: {})",
            task_id.value,
            framework.value,
            TaskState::try_from(task.state).map(|s| s.as_str_name()).unwrap_or("?"),
            status_state.as_str_name()
        );
        if transitioned {
            self.allocator.recover_resources(now.monotonic, framework, agent, &resources, None, true);
            if let Some(a) = self.agents.registered.get_mut(agent) {
                a.sub_used(framework, &resources);
            }
            if let Some(fw) = self.frameworks.registered.get_mut(framework) {
                fw.sub_used(agent, &resources);
                if let Some(role) = role {
                    self.maybe_untrack_role(framework, &role);
                }
            }
            self.metrics.task_terminated(status_state, status.source, status.reason);
        }
        if let Some(task) = changed {
            self.task_updated_event(&task, status.clone());
        }
    }

    /// Removes a task from its agent and framework (Mesos's `removeTask`);
    /// the framework keeps it as completed, or as unreachable.
    pub(crate) fn remove_task(
        &mut self,
        now: super::Now,
        agent: &SlaveId,
        framework: &FrameworkId,
        task_id: &TaskId,
        unreachable: bool,
    ) {
        let Some(a) = self.agents.registered.get_mut(agent) else { return };
        let Some(task) = a.tasks.get_mut(framework).and_then(|m| m.shift_remove(task_id)) else { return };
        if a.tasks.get(framework).is_some_and(|m| m.is_empty()) {
            a.tasks.shift_remove(framework);
        }
        if let Some(killed) = a.killed_tasks.get_mut(framework) {
            killed.shift_remove(task_id);
            if killed.is_empty() {
                a.killed_tasks.shift_remove(framework);
            }
        }
        let state = task_state(&task);
        let resources = Resources::from_protos(&task.resources);
        let live = !is_terminal(state) && state != TaskState::TaskUnreachable;
        if live {
            tracing::warn!(
                "Removing task {} with resources {} of framework {} on agent {} in non-terminal state {}",
                task_id.value,
                resources,
                framework.value,
                agent.value,
                state.as_str_name()
            );
            a.sub_used(framework, &resources);
            self.allocator.recover_resources(now.monotonic, framework, agent, &resources, None, true);
        } else {
            tracing::info!(
                "Removing task {} with resources {} of framework {} on agent {}",
                task_id.value,
                resources,
                framework.value,
                agent.value
            );
        }
        if unreachable {
            self.agents
                .unreachable_tasks
                .entry(agent.clone())
                .or_default()
                .entry(framework.clone())
                .or_default()
                .push(task_id.clone());
        }
        let role = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone());
        let (completed_limit, unreachable_limit) =
            (self.config.max_completed_tasks_per_framework, self.config.max_unreachable_tasks_per_framework);
        if let Some(fw) = self.frameworks.registered.get_mut(framework) {
            fw.tasks.shift_remove(task_id);
            if live {
                fw.sub_used(agent, &resources);
            }
            if unreachable {
                fw.add_unreachable_task(task, unreachable_limit);
            } else {
                fw.add_completed_task(task, completed_limit);
            }
            if live {
                if let Some(role) = role {
                    self.maybe_untrack_role(framework, &role);
                }
            }
        }
    }

    // ---------------------------------------------------------------
    // Offers

    /// Takes an offer out of the books (`_removeOffer`), without telling
    /// the allocator.
    pub(crate) fn take_offer(&mut self, id: &OfferId) -> Option<OfferEntry> {
        let entry = self.offers.shift_remove(id)?;
        let fid = &entry.offer.framework_id;
        let aid = &entry.offer.slave_id;
        if let Some(fw) = self.frameworks.registered.get_mut(fid) {
            fw.offers.shift_remove(id);
            fw.total_offered -= &entry.resources;
            if let Some(o) = fw.offered.get_mut(aid) {
                *o -= &entry.resources;
                if o.is_empty() {
                    fw.offered.swap_remove(aid);
                }
            }
        }
        if let Some(a) = self.agents.registered.get_mut(aid) {
            a.offers.shift_remove(id);
            a.offered -= &entry.resources;
        }
        tracing::info!("Removing offer {}", id.value);
        Some(entry)
    }

    /// Gives an offer back to the allocator and forgets it (`discardOffer`).
    pub(crate) fn discard_offer(
        &mut self,
        now: super::Now,
        id: &OfferId,
        filters: Option<&crate::proto::mesos::Filters>,
    ) {
        if let Some(entry) = self.take_offer(id) {
            self.allocator.recover_resources(
                now.monotonic,
                &entry.offer.framework_id,
                &entry.offer.slave_id,
                &entry.resources,
                filters,
                false,
            );
            let role = entry.offer.allocation_info.as_ref().and_then(|a| a.role.clone());
            if let Some(role) = role {
                self.maybe_untrack_role(&entry.offer.framework_id, &role);
            }
        }
    }

    /// Tells the framework the offer is gone, then discards it (`rescindOffer`).
    pub(crate) fn rescind_offer(
        &mut self,
        now: super::Now,
        id: &OfferId,
        filters: Option<&crate::proto::mesos::Filters>,
    ) {
        let Some(entry) = self.offers.get(id) else { return };
        let fid = entry.offer.framework_id.clone();
        let message = crate::proto::mesos::internal::RescindResourceOfferMessage { offer_id: id.clone() };
        if let Some(fw) = self.frameworks.registered.get_mut(&fid) {
            fw.offers_rescinded += 1;
        }
        self.send_framework(&fid, message.into());
        self.discard_offer(now, id, filters);
    }
}

/// Read-only views, for endpoints, the v1 operator API and tests.
impl Master {
    /// Registered (and recovered) frameworks.
    pub fn frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks.registered.values()
    }

    /// A registered framework.
    pub fn framework(&self, id: &FrameworkId) -> Option<&Framework> {
        self.frameworks.registered.get(id)
    }

    /// Removed frameworks still remembered, oldest first.
    pub fn completed_frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks.completed.values()
    }

    /// A removed framework, if still remembered.
    pub fn completed_framework(&self, id: &FrameworkId) -> Option<&Framework> {
        self.frameworks.completed.get(id)
    }

    /// Registered agents.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.registered.values()
    }

    /// A registered agent.
    pub fn agent(&self, id: &SlaveId) -> Option<&Agent> {
        self.agents.registered.get(id)
    }

    /// Agents admitted before a failover that have not reregistered yet.
    pub fn recovered_agents(&self) -> impl Iterator<Item = &SlaveInfo> {
        self.agents.recovered.values()
    }

    /// Unreachable agents and when they became so.
    pub fn unreachable_agents(&self) -> impl Iterator<Item = (&SlaveId, &TimeInfo)> {
        self.agents.unreachable.iter()
    }

    /// Gone agents and when they were marked so.
    pub fn gone_agents(&self) -> impl Iterator<Item = (&SlaveId, &TimeInfo)> {
        self.agents.gone.iter()
    }

    /// Whether an agent is deactivated (maintenance, draining).
    pub fn is_deactivated(&self, id: &SlaveId) -> bool {
        self.agents.deactivated.contains(id)
    }

    /// Outstanding offers.
    pub fn offers(&self) -> impl Iterator<Item = &OfferEntry> {
        self.offers.values()
    }

    /// An outstanding offer.
    pub fn offer(&self, id: &OfferId) -> Option<&OfferEntry> {
        self.offers.get(id)
    }

    /// A task the master tracks as active, with the agent it runs on.
    pub fn task(&self, framework: &FrameworkId, task: &TaskId) -> Option<&Task> {
        let agent = self.frameworks.registered.get(framework)?.tasks.get(task)?;
        self.agents.registered.get(agent)?.task(framework, task)
    }

    /// Roles known to the master: with frameworks, reservations, weights, quota,
    /// and their ancestors (or the `--roles` whitelist), sorted.
    pub fn known_roles(&self) -> Vec<String> {
        let mut roles = BTreeSet::new();
        let add = |role: &str, roles: &mut BTreeSet<String>| {
            roles.insert(role.to_string());
            for ancestor in crate::common::roles::ancestors(role) {
                roles.insert(ancestor.to_string());
            }
        };
        if let Some(whitelist) = self.config.roles.roles() {
            for role in whitelist {
                add(role, &mut roles);
            }
            return roles.into_iter().collect();
        }
        for role in self.roles.keys() {
            add(role, &mut roles);
        }
        for agent in self.agents.registered.values() {
            for role in agent.total.reservations().keys() {
                add(role, &mut roles);
            }
        }
        for role in self.weights.keys() {
            add(role, &mut roles);
        }
        for role in self.quota_configs.keys() {
            add(role, &mut roles);
        }
        roles.into_iter().collect()
    }

    /// A role's weight (`--weights` or the registry), default 1.
    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    /// Frameworks tracked under a role.
    pub fn role_frameworks(&self, role: &str) -> Vec<FrameworkId> {
        self.roles.get(role).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// When the master started and was elected (seconds since the epoch).
    pub fn start_time(&self) -> f64 {
        self.start_time
    }

    pub fn elected_time(&self) -> Option<f64> {
        self.elected_time
    }
}
