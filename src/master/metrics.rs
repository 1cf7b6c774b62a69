//! The master's metrics, named as Mesos names them (`master/*`, from
//! `src/master/metrics.cpp`), for `/metrics/snapshot`. Counters live here;
//! gauges are computed from the master's books when a snapshot is taken.

use std::collections::BTreeMap;

use crate::common::resources::Resources;
use crate::proto::mesos::task_status::{Reason, Source};
use crate::proto::mesos::TaskState;
use crate::v0_compat::Message;

use super::event::Now;
use super::state::{task_state, Master};

macro_rules! counters {
    ($( $field:ident = $name:literal ),* $(,)?) => {
        /// Counters, one field per Mesos counter.
        #[derive(Clone, Debug, Default)]
        pub struct Metrics {
            $( pub $field: u64, )*
            /// `master/<state>/<source>/<reason>` counters.
            pub task_states: BTreeMap<String, u64>,
            /// Allocation cycles run (`allocator/mesos/allocation_runs`).
            pub allocation_runs: u64,
        }

        impl Metrics {
            fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![ $( ($name, self.$field), )* ]
            }
        }
    };
}

counters! {
    dropped_messages = "master/dropped_messages",
    messages_register_framework = "master/messages_register_framework",
    messages_reregister_framework = "master/messages_reregister_framework",
    messages_unregister_framework = "master/messages_unregister_framework",
    messages_deactivate_framework = "master/messages_deactivate_framework",
    messages_kill_task = "master/messages_kill_task",
    messages_status_update_acknowledgement = "master/messages_status_update_acknowledgement",
    messages_resource_request = "master/messages_resource_request",
    messages_launch_tasks = "master/messages_launch_tasks",
    messages_decline_offers = "master/messages_decline_offers",
    messages_revive_offers = "master/messages_revive_offers",
    messages_suppress_offers = "master/messages_suppress_offers",
    messages_reconcile_operations = "master/messages_reconcile_operations",
    messages_reconcile_tasks = "master/messages_reconcile_tasks",
    messages_framework_to_executor = "master/messages_framework_to_executor",
    messages_operation_status_update_acknowledgement = "master/messages_operation_status_update_acknowledgement",
    messages_executor_to_framework = "master/messages_executor_to_framework",
    messages_register_slave = "master/messages_register_slave",
    messages_reregister_slave = "master/messages_reregister_slave",
    messages_unregister_slave = "master/messages_unregister_slave",
    messages_status_update = "master/messages_status_update",
    messages_operation_status_update = "master/messages_operation_status_update",
    messages_exited_executor = "master/messages_exited_executor",
    messages_update_slave = "master/messages_update_slave",
    messages_authenticate = "master/messages_authenticate",
    valid_framework_to_executor_messages = "master/valid_framework_to_executor_messages",
    invalid_framework_to_executor_messages = "master/invalid_framework_to_executor_messages",
    valid_executor_to_framework_messages = "master/valid_executor_to_framework_messages",
    invalid_executor_to_framework_messages = "master/invalid_executor_to_framework_messages",
    valid_status_updates = "master/valid_status_updates",
    invalid_status_updates = "master/invalid_status_updates",
    valid_status_update_acknowledgements = "master/valid_status_update_acknowledgements",
    invalid_status_update_acknowledgements = "master/invalid_status_update_acknowledgements",
    valid_operation_status_updates = "master/valid_operation_status_updates",
    invalid_operation_status_updates = "master/invalid_operation_status_updates",
    valid_operation_status_update_acknowledgements = "master/valid_operation_status_update_acknowledgements",
    invalid_operation_status_update_acknowledgements = "master/invalid_operation_status_update_acknowledgements",
    recovery_slave_removals = "master/recovery_slave_removals",
    slave_registrations = "master/slave_registrations",
    slave_reregistrations = "master/slave_reregistrations",
    slave_removals = "master/slave_removals",
    slave_removals_reason_unhealthy = "master/slave_removals/reason_unhealthy",
    slave_removals_reason_unregistered = "master/slave_removals/reason_unregistered",
    slave_removals_reason_registered = "master/slave_removals/reason_registered",
    slave_shutdowns_scheduled = "master/slave_shutdowns_scheduled",
    slave_shutdowns_completed = "master/slave_shutdowns_completed",
    slave_shutdowns_canceled = "master/slave_shutdowns_canceled",
    slave_unreachable_scheduled = "master/slave_unreachable_scheduled",
    slave_unreachable_completed = "master/slave_unreachable_completed",
    slave_unreachable_canceled = "master/slave_unreachable_canceled",
    tasks_finished = "master/tasks_finished",
    tasks_failed = "master/tasks_failed",
    tasks_killed = "master/tasks_killed",
    tasks_lost = "master/tasks_lost",
    tasks_error = "master/tasks_error",
    tasks_dropped = "master/tasks_dropped",
    tasks_gone = "master/tasks_gone",
    tasks_gone_by_operator = "master/tasks_gone_by_operator",
    http_cache_hits = "master/http_cache_hits",
}

impl Metrics {
    /// Counts a master-issued or forwarded terminal state (`updateTask`'s
    /// switch and `incrementTasksStates`).
    pub fn task_terminated(&mut self, state: TaskState, source: Option<i32>, reason: Option<i32>) {
        match state {
            TaskState::TaskFinished => self.tasks_finished += 1,
            TaskState::TaskFailed => self.tasks_failed += 1,
            TaskState::TaskKilled => self.tasks_killed += 1,
            TaskState::TaskLost => self.tasks_lost += 1,
            TaskState::TaskError => self.tasks_error += 1,
            TaskState::TaskDropped => self.tasks_dropped += 1,
            TaskState::TaskGone => self.tasks_gone += 1,
            TaskState::TaskGoneByOperator => self.tasks_gone_by_operator += 1,
            _ => {}
        }
        if let Some(reason) = reason {
            self.count_state_reason(state, source, reason);
        }
    }

    /// A master-generated update for a task the master never tracked
    /// (invalid launch): the state counter and its reason.
    pub fn task_refused(&mut self, state: TaskState, reason: Reason) {
        self.task_terminated(state, Some(Source::Master as i32), Some(reason as i32));
    }

    fn count_state_reason(&mut self, state: TaskState, source: Option<i32>, reason: i32) {
        let source = Source::try_from(source.unwrap_or(0)).unwrap_or(Source::Master);
        let reason = Reason::try_from(reason).map(|r| r.as_str_name()).unwrap_or("REASON_UNKNOWN");
        let name = format!(
            "master/{}/{}/{}",
            state.as_str_name().to_lowercase(),
            source.as_str_name().to_lowercase(),
            reason.to_lowercase()
        );
        *self.task_states.entry(name).or_default() += 1;
    }

    /// Per-message accounting for messages to schedulers (Mesos counts
    /// per-framework events; we keep none of those yet).
    pub fn count_event(&mut self, _message: &Message) {}
}

impl Master {
    /// A snapshot of every master metric, as `/metrics/snapshot` reports it.
    pub fn metrics_snapshot(&self, now: Now) -> BTreeMap<String, f64> {
        let m = &self.metrics;
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (name, value) in m.counters() {
            out.insert(name.to_string(), value as f64);
        }
        for (name, value) in &m.task_states {
            out.insert(name.clone(), *value as f64);
        }
        let mut put = |name: &str, value: f64| {
            out.insert(name.to_string(), value);
        };
        put("master/uptime_secs", (now.secs() - self.start_time).max(0.0));
        put("master/elected", if self.elected { 1.0 } else { 0.0 });

        let agents = &self.agents.registered;
        put("master/slaves_connected", agents.values().filter(|a| a.connected).count() as f64);
        put("master/slaves_disconnected", agents.values().filter(|a| !a.connected).count() as f64);
        put("master/slaves_active", agents.values().filter(|a| a.active).count() as f64);
        put("master/slaves_inactive", agents.values().filter(|a| !a.active).count() as f64);
        put("master/slaves_unreachable", self.agents.unreachable.len() as f64);

        let frameworks = &self.frameworks.registered;
        put("master/frameworks_connected", frameworks.values().filter(|f| f.connected()).count() as f64);
        put("master/frameworks_disconnected", frameworks.values().filter(|f| !f.connected()).count() as f64);
        put("master/frameworks_active", frameworks.values().filter(|f| f.active).count() as f64);
        put("master/frameworks_inactive", frameworks.values().filter(|f| !f.active).count() as f64);
        put("master/outstanding_offers", self.offers.len() as f64);
        put("master/operator_event_stream_subscribers", self.operator_streams.len() as f64);
        put("master/event_queue_messages", 0.0);
        put("master/event_queue_dispatches", 0.0);
        put("master/event_queue_http_requests", 0.0);

        let mut counts: BTreeMap<TaskState, f64> = BTreeMap::new();
        for agent in agents.values() {
            for tasks in agent.tasks.values() {
                for task in tasks.values() {
                    *counts.entry(task_state(task)).or_default() += 1.0;
                }
            }
        }
        let count = |s: TaskState| counts.get(&s).copied().unwrap_or(0.0);
        put("master/tasks_staging", count(TaskState::TaskStaging));
        put("master/tasks_starting", count(TaskState::TaskStarting));
        put("master/tasks_running", count(TaskState::TaskRunning));
        put("master/tasks_killing", count(TaskState::TaskKilling));
        let unreachable = frameworks
            .values()
            .flat_map(|f| f.unreachable_tasks.values())
            .filter(|t| task_state(t) == TaskState::TaskUnreachable)
            .count();
        put("master/tasks_unreachable", unreachable as f64);

        for name in ["cpus", "gpus", "mem", "disk"] {
            for revocable in [false, true] {
                let (total, used) = self.resource_totals(name, revocable);
                let suffix = if revocable { "_revocable" } else { "" };
                put(&format!("master/{name}{suffix}_total"), total);
                put(&format!("master/{name}{suffix}_used"), used);
                put(&format!("master/{name}{suffix}_percent"), if total == 0.0 { 0.0 } else { used / total });
            }
        }

        put("allocator/mesos/allocation_runs", m.allocation_runs as f64);
        put("allocator/mesos/event_queue_dispatches", 0.0);
        put("registrar/queued_operations", self.pending.len() as f64);
        out
    }

    /// Total and used scalar `name` over registered agents, non-revocable
    /// (from the agents' static resources, as Mesos counts) or revocable
    /// (from their current totals).
    fn resource_totals(&self, name: &str, revocable: bool) -> (f64, f64) {
        let mut total = 0.0;
        let mut used = 0.0;
        for agent in self.agents.registered.values() {
            if revocable {
                total += agent.total.revocable().get_scalar(name).map_or(0.0, |s| s.to_f64());
            } else {
                total += agent
                    .info
                    .resources
                    .iter()
                    .filter(|r| r.name == name && r.scalar.is_some())
                    .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
                    .sum::<f64>();
            }
            let mut agent_used = Resources::new();
            for r in agent.used.values() {
                agent_used += &if revocable { r.revocable() } else { r.non_revocable() };
            }
            used += agent_used.get_scalar(name).map_or(0.0, |s| s.to_f64());
        }
        (total, used)
    }
}
