//! A scripted scheduler driver, sans-IO: it records what the master sends
//! and, like Mesos's driver, acknowledges status updates. Tests decide
//! what it sends (subscribe, accept, decline, kill, ...), through the
//! builders here.

use crate::proto::mesos::internal::{RegisterFrameworkMessage, StatusUpdateAcknowledgementMessage};
use crate::proto::mesos::offer::operation::Type as OperationType;
use crate::proto::mesos::offer::{operation, Operation};
use crate::proto::mesos::scheduler::call::{self, Type as CallType};
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::{
    CommandInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, SlaveId, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use crate::v0_compat::{Message, Upid};

/// How the scheduler talks: the 1.x driver (`scheduler::Call`s) or an old
/// one (legacy messages, as pesos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Calls,
    Legacy,
}

/// The fake scheduler.
#[derive(Clone, Debug)]
pub struct FakeScheduler {
    pub pid: Upid,
    pub master: Upid,
    pub info: FrameworkInfo,
    pub dialect: Dialect,
    pub id: Option<FrameworkId>,
    pub connected: bool,
    /// Acknowledge status updates that carry a uuid (as drivers do).
    pub auto_ack: bool,
    /// Outstanding offers (rescinded ones removed).
    pub offers: Vec<Offer>,
    /// Agent pids sent with the offers, by offer id.
    pub offer_pids: Vec<(OfferId, String)>,
    pub rescinded: Vec<OfferId>,
    pub updates: Vec<TaskStatus>,
    /// The `pid` field of each `StatusUpdateMessage` received.
    pub update_pids: Vec<String>,
    pub errors: Vec<String>,
    pub lost_agents: Vec<SlaveId>,
    pub executor_messages: Vec<Vec<u8>>,
    pub registered: Vec<MasterInfo>,
    pub reregistered: usize,
    /// Every message received, by name, in order.
    pub received: Vec<&'static str>,
    /// A subscription in progress (with its `force`), retried until answered.
    pub subscribing: Option<bool>,
}

impl FakeScheduler {
    pub fn new(pid: Upid, master: Upid, info: FrameworkInfo, dialect: Dialect) -> FakeScheduler {
        FakeScheduler {
            pid,
            master,
            info,
            dialect,
            id: None,
            connected: false,
            auto_ack: true,
            offers: Vec::new(),
            offer_pids: Vec::new(),
            rescinded: Vec::new(),
            updates: Vec::new(),
            update_pids: Vec::new(),
            errors: Vec::new(),
            lost_agents: Vec::new(),
            executor_messages: Vec::new(),
            registered: Vec::new(),
            reregistered: 0,
            received: Vec::new(),
            subscribing: None,
        }
    }

    /// The framework id (after registration).
    pub fn framework_id(&self) -> FrameworkId {
        self.id.clone().unwrap_or_default()
    }

    /// The latest state reported for a task.
    pub fn last_state(&self, task: &str) -> Option<TaskState> {
        self.updates.iter().rev().find(|s| s.task_id.value == task).and_then(|s| TaskState::try_from(s.state).ok())
    }

    /// Every update reported for a task, in order.
    pub fn updates_for(&self, task: &str) -> Vec<&TaskStatus> {
        self.updates.iter().filter(|s| s.task_id.value == task).collect()
    }

    fn call(&self, kind: CallType) -> Call {
        Call { framework_id: self.id.clone(), r#type: Some(kind as i32), ..Default::default() }
    }

    /// SUBSCRIBE (or `RegisterFrameworkMessage`), with `force` for a failover.
    pub fn subscribe(&self, force: bool) -> Message {
        let mut info = self.info.clone();
        info.id = self.id.clone();
        match (self.dialect, &self.id) {
            (Dialect::Legacy, None) => RegisterFrameworkMessage { framework: info }.into(),
            (Dialect::Legacy, Some(_)) => {
                crate::proto::mesos::internal::ReregisterFrameworkMessage { framework: info, failover: force }.into()
            }
            (Dialect::Calls, _) => {
                let mut call = self.call(CallType::Subscribe);
                call.subscribe =
                    Some(call::Subscribe { framework_info: info, force: Some(force), ..Default::default() });
                call.into()
            }
        }
    }

    /// ACCEPT with LAUNCH of `tasks` on `offers`.
    pub fn launch(&self, offers: &[OfferId], tasks: Vec<TaskInfo>, refuse_seconds: Option<f64>) -> Message {
        let filters = refuse_seconds.map(|s| crate::proto::mesos::Filters { refuse_seconds: Some(s) });
        match self.dialect {
            Dialect::Legacy => crate::proto::mesos::internal::LaunchTasksMessage {
                framework_id: self.framework_id(),
                tasks,
                filters: filters.unwrap_or_default(),
                offer_ids: offers.to_vec(),
            }
            .into(),
            Dialect::Calls => {
                let op = Operation {
                    r#type: Some(OperationType::Launch as i32),
                    launch: Some(operation::Launch { task_infos: tasks }),
                    ..Default::default()
                };
                self.accept(offers, vec![op], refuse_seconds)
            }
        }
    }

    /// ACCEPT with arbitrary operations.
    pub fn accept(&self, offers: &[OfferId], operations: Vec<Operation>, refuse_seconds: Option<f64>) -> Message {
        let mut call = self.call(CallType::Accept);
        call.accept = Some(call::Accept {
            offer_ids: offers.to_vec(),
            operations,
            filters: refuse_seconds.map(|s| crate::proto::mesos::Filters { refuse_seconds: Some(s) }),
        });
        call.into()
    }

    /// DECLINE.
    pub fn decline(&self, offers: &[OfferId], refuse_seconds: Option<f64>) -> Message {
        let mut call = self.call(CallType::Decline);
        call.decline = Some(call::Decline {
            offer_ids: offers.to_vec(),
            filters: refuse_seconds.map(|s| crate::proto::mesos::Filters { refuse_seconds: Some(s) }),
        });
        call.into()
    }

    /// KILL.
    pub fn kill(&self, task: &str) -> Message {
        let mut call = self.call(CallType::Kill);
        call.kill = Some(call::Kill { task_id: TaskId { value: task.into() }, ..Default::default() });
        call.into()
    }

    /// RECONCILE: implicit when `tasks` is empty.
    pub fn reconcile(&self, tasks: &[(&str, Option<&SlaveId>)]) -> Message {
        let mut call = self.call(CallType::Reconcile);
        call.reconcile = Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|(t, a)| call::reconcile::Task { task_id: TaskId { value: t.to_string() }, slave_id: a.cloned() })
                .collect(),
        });
        call.into()
    }

    /// REVIVE / SUPPRESS / TEARDOWN and other field-less calls.
    pub fn simple(&self, kind: CallType) -> Message {
        self.call(kind).into()
    }

    /// MESSAGE to an executor.
    pub fn message(&self, agent: &SlaveId, executor: &str, data: &[u8]) -> Message {
        let mut call = self.call(CallType::Message);
        call.message = Some(call::Message {
            slave_id: agent.clone(),
            executor_id: crate::proto::mesos::ExecutorId { value: executor.into() },
            data: data.to_vec(),
        });
        call.into()
    }

    /// A message arrived; returns what the driver sends back.
    pub fn handle(&mut self, from: &Upid, message: Message) -> Vec<(Upid, Message)> {
        let mut out = Vec::new();
        self.received.push(message.name());
        if from != &self.master {
            return out;
        }
        match message {
            Message::FrameworkRegisteredMessage(m) => {
                self.id = Some(m.framework_id);
                self.connected = true;
                self.registered.push(m.master_info);
                self.subscribing = None;
            }
            Message::FrameworkReregisteredMessage(_) => {
                self.connected = true;
                self.subscribing = None;
                self.reregistered += 1;
            }
            Message::ResourceOffersMessage(m) => {
                for (offer, pid) in m.offers.iter().zip(m.pids.iter()) {
                    self.offer_pids.push((offer.id.clone(), pid.clone()));
                }
                self.offers.extend(m.offers);
            }
            Message::RescindResourceOfferMessage(m) => {
                self.offers.retain(|o| o.id != m.offer_id);
                self.rescinded.push(m.offer_id);
            }
            Message::StatusUpdateMessage(m) => {
                let update = m.update;
                self.update_pids.push(m.pid.unwrap_or_default());
                self.updates.push(update.status.clone());
                let uuid = update.uuid.clone().unwrap_or_default();
                if self.auto_ack && !uuid.is_empty() {
                    let message: Message = match self.dialect {
                        Dialect::Legacy => StatusUpdateAcknowledgementMessage {
                            slave_id: update.slave_id.clone().unwrap_or_default(),
                            framework_id: self.framework_id(),
                            task_id: update.status.task_id.clone(),
                            uuid,
                        }
                        .into(),
                        Dialect::Calls => {
                            let mut call = self.call(CallType::Acknowledge);
                            call.acknowledge = Some(call::Acknowledge {
                                slave_id: update.slave_id.clone().unwrap_or_default(),
                                task_id: update.status.task_id.clone(),
                                uuid,
                            });
                            call.into()
                        }
                    };
                    out.push((self.master.clone(), message));
                }
            }
            Message::LostSlaveMessage(m) => self.lost_agents.push(m.slave_id),
            Message::ExecutorToFrameworkMessage(m) => self.executor_messages.push(m.data),
            Message::FrameworkErrorMessage(m) => {
                self.errors.push(m.message);
                self.connected = false;
                self.subscribing = None;
            }
            _ => {}
        }
        out
    }
}

/// A command task for an offer: `resources` in Mesos text, on the offer's agent.
pub fn command_task(id: &str, offer: &Offer, resources: &str) -> TaskInfo {
    let mut resources = crate::common::resources::parse::from_string(resources, "*").unwrap_or_default();
    if let Some(role) = offer.allocation_info.as_ref() {
        for r in &mut resources {
            r.allocation_info = Some(role.clone());
        }
    }
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: offer.slave_id.clone(),
        resources,
        command: Some(CommandInfo { value: Some("sleep 10".into()), ..Default::default() }),
        ..Default::default()
    }
}

/// A framework info with a user and name, optionally partition aware.
pub fn framework_info(name: &str, partition_aware: bool) -> FrameworkInfo {
    use crate::proto::mesos::framework_info::capability::Type;
    let mut capabilities = Vec::new();
    if partition_aware {
        capabilities
            .push(crate::proto::mesos::framework_info::Capability { r#type: Some(Type::PartitionAware as i32) });
    }
    FrameworkInfo {
        user: "user".into(),
        name: name.into(),
        failover_timeout: Some(0.0),
        checkpoint: Some(true),
        capabilities,
        ..Default::default()
    }
}
