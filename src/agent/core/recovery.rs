//! Recovery after a restart (Mesos's `Slave::recover`, `_recover`,
//! `__recover`, `recoverFramework`, `Framework::recoverExecutor`,
//! `Executor::recoverTask`, `reregisterExecutorTimeout`, and
//! `compatibility.cpp`).
//!
//! 1. [`Event::StateRecovered`]: the checkpointed agent info is checked
//!    against this start's (`--reconfiguration_policy`); frameworks,
//!    executors, tasks and status update streams are rebuilt; live
//!    containers are handed to the containerizer.
//! 2. [`Event::ContainersRecovered`]: executors are waited on; with
//!    `--recover=reconnect` v0 executors get `ReconnectExecutorMessage` and
//!    HTTP executors may resubscribe for `--executor_reregistration_timeout`;
//!    with `--recover=cleanup` they are shut down.
//! 3. Executors that did not come back are destroyed; the agent looks for
//!    its master (reconnect) or exits once everything is gone (cleanup).

use std::path::PathBuf;

use super::framework::{is_terminal, Executor, ExecutorState, Framework};
use super::{Agent, AgentState, Channel, Effect, ReconfigurationPolicy, RecoverMode, TimerId};
use crate::agent::containerizer::{RecoverableContainer, Termination};
use crate::agent::paths::{self, RunIds};
use crate::agent::state::{
    self, AgentState as CheckpointedAgent, ExecutorState as CheckpointedExecutor,
    FrameworkState as CheckpointedFramework, FsOp, State,
};
use crate::common::resources::ops::apply_checkpointed_resources;
use crate::common::resources::Resources;
use crate::common::units::format_duration;
use crate::proto::mesos::internal::ReconnectExecutorMessage;
use crate::proto::mesos::value::Type as ValueType;
use crate::proto::mesos::{task_status::Reason, Attribute, ContainerId, SlaveInfo};

/// The text Mesos prints when recovery fails.
fn recovery_failure(error: &str, meta: &std::path::Path) -> String {
    format!(
        "Failed to perform recovery: {error}\n\
         If recovery failed due to a change in configuration and you want to\n\
         keep the current agent id, you might want to change the\n\
         `--reconfiguration_policy` flag to a more permissive value.\n\n\
         To restart this agent with a new agent id instead, do as follows:\n\
         rm -f {}\n\
         This ensures that the agent does not recover old live executors.\n\n\
         Finally, restart the agent.",
        paths::latest_agent_path(meta).display()
    )
}

fn json(info: &SlaveInfo) -> String {
    crate::http_api::json::to_string(info)
}

fn same_resources(a: &[crate::proto::mesos::Resource], b: &[crate::proto::mesos::Resource]) -> bool {
    let (a, b) = (Resources::from_protos(a), Resources::from_protos(b));
    a.contains(&b) && b.contains(&a)
}

fn sorted_attributes(attributes: &[Attribute]) -> Vec<String> {
    let mut out: Vec<String> = attributes.iter().map(crate::http_api::json::to_string).collect();
    out.sort();
    out
}

/// Mesos's `SlaveInfo` equality (resources and attributes as sets).
pub(crate) fn same_agent_info(a: &SlaveInfo, b: &SlaveInfo) -> bool {
    a.hostname == b.hostname
        && a.port() == b.port()
        && a.id == b.id
        && a.checkpoint() == b.checkpoint()
        && a.domain == b.domain
        && same_resources(&a.resources, &b.resources)
        && sorted_attributes(&a.attributes) == sorted_attributes(&b.attributes)
}

/// `--reconfiguration_policy=additive`: only additions are allowed.
pub(crate) fn additive(previous: &SlaveInfo, current: &SlaveInfo) -> Result<(), String> {
    let refuse = |what: String| Err(format!("Configuration change not permitted under `additive` policy: {what}"));
    if previous.hostname != current.hostname {
        return refuse(format!("Hostname changed from {} to {}", previous.hostname, current.hostname));
    }
    if previous.port() != current.port() {
        return refuse(format!("Port changed from {} to {}", previous.port(), current.port()));
    }
    if previous.domain.is_some() && previous.domain != current.domain {
        return refuse("Domain changed".into());
    }
    let old = Resources::from_protos(&previous.resources);
    let new = Resources::from_protos(&current.resources);
    for item in &old {
        let single = Resources::from_item(item.clone());
        if !new.contains(&single) {
            return refuse(format!(
                "Resource not found or decreased: {}",
                crate::common::resources::format::display_proto(&item.to_proto())
            ));
        }
    }
    for attribute in &previous.attributes {
        let Some(matching) = current.attributes.iter().find(|a| a.name == attribute.name) else {
            return refuse(format!("Couldn't find attribute {}", attribute.name));
        };
        if matching.r#type != attribute.r#type {
            return refuse(format!("Type of attribute '{}' changed", attribute.name));
        }
        let same = match attribute.r#type() {
            ValueType::Scalar => matching.scalar == attribute.scalar,
            ValueType::Text => matching.text == attribute.text,
            ValueType::Ranges => {
                let (old, new) =
                    (attribute.ranges.clone().unwrap_or_default(), matching.ranges.clone().unwrap_or_default());
                let old = crate::common::values::Ranges::from_proto(&old);
                let new = crate::common::values::Ranges::from_proto(&new);
                new.contains(&old)
            }
            ValueType::Set => matching.set == attribute.set,
        };
        if !same {
            return refuse(format!("Value of attribute '{}' changed", attribute.name));
        }
    }
    Ok(())
}

impl Agent {
    fn compatible(&self, previous: &SlaveInfo, current: &SlaveInfo) -> Result<(), String> {
        match self.config.reconfiguration_policy {
            ReconfigurationPolicy::Equal => {
                if same_agent_info(previous, current) {
                    Ok(())
                } else {
                    Err(format!(
                        "Incompatible agent info detected. \n------------------------------------------------------------\n\
                         Old agent info:\n{}\n------------------------------------------------------------\n\
                         New agent info:\n{}\n------------------------------------------------------------",
                        json(previous),
                        json(current)
                    ))
                }
            }
            ReconfigurationPolicy::Additive => additive(previous, current),
        }
    }

    /// Step 1: the checkpoints were read.
    pub(crate) fn on_state_recovered(&mut self, state: Result<State, String>, fx: &mut Vec<Effect>) {
        if self.state != AgentState::Recovering {
            return;
        }
        let state = match state {
            Ok(state) => state,
            Err(error) => {
                fx.push(Effect::Exit { status: 1, message: recovery_failure(&error, &self.meta) });
                return;
            }
        };
        tracing::info!(
            "Finished recovering checkpointed state from '{}', beginning agent recovery",
            self.meta.display()
        );
        self.metrics.recovery_errors += u64::from(state.errors);

        // Checkpointed resources; a target left by a crash wins.
        let mut checkpointed = state.resources.resources.clone();
        if let Some(target) = state.resources.target.clone() {
            fx.extend(
                state::write_checkpointed_resources(&self.meta, &target, &state.resources.operations)
                    .into_iter()
                    .map(Effect::Fs),
            );
            fx.push(Effect::Fs(FsOp::Remove { path: paths::resources_target_path(&self.meta) }));
            fx.push(Effect::Fs(FsOp::Remove { path: paths::resource_state_target_path(&self.meta) }));
            checkpointed = target;
        }
        match apply_checkpointed_resources(
            &Resources::from_protos(&self.info.resources),
            &Resources::from_protos(&checkpointed),
        ) {
            Ok(total) => self.total_resources = total,
            Err(e) => {
                let error = format!("Checkpointed resources are incompatible with agent resources: {e}");
                fx.push(Effect::Exit { status: 1, message: recovery_failure(&error, &self.meta) });
                return;
            }
        }
        self.checkpointed_resources = checkpointed;

        let mut agent = state.agent.clone();
        if let Some(checkpointed_agent) = agent.as_ref() {
            if let Some(old_info) = checkpointed_agent.info.as_ref() {
                self.info.id = old_info.id.clone();
                match self.compatible(old_info, &self.info.clone()) {
                    Ok(()) => self.info_changed = !same_agent_info(old_info, &self.info),
                    Err(error) if state.rebooted => {
                        tracing::warn!("Falling back to recover as a new agent due to error: {error}");
                        self.info.id = None;
                        agent = None;
                        fx.push(Effect::Fs(FsOp::Remove { path: paths::latest_agent_path(&self.meta) }));
                    }
                    Err(error) if self.config.recover == RecoverMode::Cleanup => {
                        // Kill what runs under the old identity, then start
                        // afresh next time.
                        tracing::warn!(
                            "{error}\nCleaning up the old agent's executors; the next start registers a new agent"
                        );
                        self.recovery.forget_agent = true;
                    }
                    Err(error) => {
                        fx.push(Effect::Exit { status: 1, message: recovery_failure(&error, &self.meta) });
                        return;
                    }
                }
            }
        }

        let mut containers = Vec::new();
        if let Some(agent) = agent.as_ref().filter(|a| a.info.is_some()) {
            self.replay_status_updates(agent);
            for framework in agent.frameworks.values() {
                self.recover_framework(framework, fx);
            }
            for framework in self.frameworks.values() {
                for executor in framework.executors.values() {
                    containers.push(RecoverableContainer {
                        container_id: ContainerId { value: executor.container_id.clone(), parent: None },
                        executor_info: executor.info.clone(),
                        directory: executor.directory.clone(),
                        pid: executor.pid,
                    });
                }
            }
        }
        // Old agents' sandboxes go away (after the gc delay).
        let keep = self.agent_id();
        for other in &state.agent_sandboxes {
            if *other != keep || self.info.id.is_none() {
                fx.push(Effect::GarbageCollect {
                    path: paths::agent_path(&self.config.work_dir, other),
                    delay: self.config.gc_delay,
                });
                fx.push(Effect::GarbageCollect {
                    path: paths::agent_path(&self.meta, other),
                    delay: self.config.gc_delay,
                });
            }
        }
        fx.push(Effect::RecoverContainers { containers });
    }

    fn replay_status_updates(&mut self, agent: &CheckpointedAgent) {
        for framework in agent.frameworks.values() {
            for executor in framework.executors.values() {
                if executor.info.is_none() {
                    continue;
                }
                let Some(latest) = &executor.latest else { continue };
                let Some(run) = executor.runs.get(latest) else { continue };
                if run.completed {
                    continue;
                }
                for task in run.tasks.values() {
                    if task.updates.is_empty() {
                        continue;
                    }
                    let ids = RunIds {
                        agent: agent.id.clone(),
                        framework: framework.id.clone(),
                        executor: executor.id.clone(),
                        container: latest.clone(),
                    };
                    self.tsum.replay(&framework.id, &task.id, ids, &task.updates, &task.acks);
                }
            }
        }
    }

    fn recover_framework(&mut self, state: &CheckpointedFramework, fx: &mut Vec<Effect>) {
        tracing::info!("Recovering framework {}", state.id);
        let agent_id = self.agent_id();
        if state.executors.is_empty() {
            for root in [self.config.work_dir.clone(), self.meta.clone()] {
                fx.push(Effect::GarbageCollect {
                    path: paths::framework_path(&root, &agent_id, &state.id),
                    delay: self.config.gc_delay,
                });
            }
            return;
        }
        let Some(mut info) = state.info.clone() else {
            tracing::warn!("Skipping recovery of framework {} whose info cannot be recovered", state.id);
            return;
        };
        let recheckpoint = info.id.is_none();
        if recheckpoint {
            info.id = Some(crate::proto::mesos::FrameworkId { value: state.id.clone() });
        }
        let pid = state.pid.clone().flatten();
        let framework = Framework::new(info, pid);
        if recheckpoint {
            fx.extend(
                state::write_framework(&self.meta, &agent_id, &framework.info, framework.pid.as_ref())
                    .into_iter()
                    .map(Effect::Fs),
            );
        }
        self.frameworks.insert(state.id.clone(), framework);
        for executor in state.executors.values() {
            self.recover_executor(&state.id, executor, fx);
        }
        self.remove_framework_if_idle(&state.id, fx);
    }

    fn recover_executor(&mut self, framework_id: &str, state: &CheckpointedExecutor, fx: &mut Vec<Effect>) {
        tracing::info!("Recovering executor '{}' of framework {framework_id}", state.id);
        let agent_id = self.agent_id();
        let gc = self.config.gc_delay;
        let (work_dir, meta) = (self.config.work_dir.clone(), self.meta.clone());
        let (Some(latest), Some(info)) = (state.latest.clone(), state.info.clone()) else {
            tracing::warn!(
                "Skipping recovery of executor '{}' of framework {framework_id} because its latest run or executor info cannot be recovered",
                state.id
            );
            for root in [&work_dir, &meta] {
                fx.push(Effect::GarbageCollect {
                    path: paths::executor_path(root, &agent_id, framework_id, &state.id),
                    delay: gc,
                });
            }
            return;
        };
        let Some(run) = state.runs.get(&latest) else {
            tracing::warn!("Cannot find latest run {latest} of executor '{}'", state.id);
            return;
        };
        for other in state.runs.keys().filter(|c| **c != latest) {
            let ids = RunIds {
                agent: agent_id.clone(),
                framework: framework_id.into(),
                executor: state.id.clone(),
                container: other.clone(),
            };
            fx.push(Effect::GarbageCollect { path: paths::run_path(&work_dir, &ids), delay: gc });
            fx.push(Effect::GarbageCollect { path: paths::run_path(&meta, &ids), delay: gc });
        }
        let framework = self.frameworks.get_mut(framework_id).expect("recovered framework");
        let ids = RunIds {
            agent: agent_id.clone(),
            framework: framework_id.into(),
            executor: state.id.clone(),
            container: latest.clone(),
        };
        let directory: PathBuf = paths::run_path(&work_dir, &ids);
        let channel = match run.http {
            Some(false) => run.libprocess_pid.clone().map(Channel::V0).unwrap_or(Channel::Unknown),
            Some(true) => Channel::Http(None),
            None => Channel::Unknown,
        };
        let user = self.config.switch_user.then(|| framework.info.user.clone());
        let checkpoint = framework.info.checkpoint();
        let generated = state.generated_for_command_task;
        let mut executor =
            Executor::new(framework_id, info, latest.clone(), directory, user, checkpoint, channel, generated);
        executor.pid = run.forked_pid;
        for task in run.tasks.values() {
            let Some(info) = task.info.clone() else {
                tracing::warn!("Skipping recovery of task {} because its info cannot be recovered", task.id);
                continue;
            };
            executor.launched_tasks.insert(task.id.clone(), info);
            for update in &task.updates {
                if let Err(e) = executor.update_task_state(&update.status) {
                    tracing::error!("Failed to update state of recovered task '{}': {e}", task.id);
                    continue;
                }
                if is_terminal(update.status.state()) {
                    if update.uuid.as_ref().is_some_and(|u| task.acks.contains(u)) {
                        executor.complete_task(&task.id);
                    }
                    break;
                }
            }
        }
        if run.completed {
            self.metrics.executors_terminated += 1;
            executor.state = ExecutorState::Terminated;
            let launched: Vec<_> = std::mem::take(&mut executor.launched_tasks).into_iter().collect();
            executor.terminated_tasks.extend(launched);
            fx.push(Effect::GarbageCollect { path: paths::run_path(&work_dir, &ids), delay: gc });
            fx.push(Effect::GarbageCollect { path: paths::run_path(&meta, &ids), delay: gc });
            fx.push(Effect::GarbageCollect {
                path: paths::executor_path(&work_dir, &agent_id, framework_id, &state.id),
                delay: gc,
            });
            fx.push(Effect::GarbageCollect {
                path: paths::executor_path(&meta, &agent_id, framework_id, &state.id),
                delay: gc,
            });
            let max = self.config.max_completed_executors_per_framework;
            let framework = self.frameworks.get_mut(framework_id).expect("recovered framework");
            framework.executors.insert(executor.id.clone(), executor);
            framework.destroy_executor(&state.id, max);
            return;
        }
        framework.executors.insert(executor.id.clone(), executor);
    }

    /// Step 2: the containerizer knows which containers live.
    pub(crate) fn on_containers_recovered(&mut self, result: Result<(), String>, fx: &mut Vec<Effect>) {
        if self.state != AgentState::Recovering || self.recovery.reconnect {
            return;
        }
        if let Err(error) = result {
            fx.push(Effect::Exit { status: 1, message: recovery_failure(&error, &self.meta) });
            return;
        }
        tracing::info!("Recovering executors");
        self.recovery.reconnect = true;
        let executors: Vec<(String, String, String, Channel)> = self
            .frameworks
            .values()
            .flat_map(|f| {
                f.executors.values().map(|e| (f.id.clone(), e.id.clone(), e.container_id.clone(), e.channel.clone()))
            })
            .collect();
        for (framework_id, executor_id, container_id, channel) in executors {
            fx.push(Effect::Wait {
                framework_id: framework_id.clone(),
                executor_id: executor_id.clone(),
                container_id: ContainerId { value: container_id.clone(), parent: None },
            });
            match self.config.recover {
                RecoverMode::Reconnect => match channel {
                    Channel::V0(pid) => {
                        tracing::info!("Sending reconnect request to executor '{executor_id}' of framework {framework_id} at {pid}");
                        self.send(&pid, ReconnectExecutorMessage { slave_id: self.slave_id() }, fx);
                        if let Some(interval) = self.config.executor_reregistration_retry_interval {
                            self.timer(TimerId::ExecutorReconnectRetry { framework_id, executor_id }, interval, fx);
                        }
                    }
                    Channel::Http(_) => tracing::info!("Waiting for executor '{executor_id}' of framework {framework_id} to subscribe"),
                    Channel::Unknown => tracing::info!(
                        "Unable to reconnect to executor '{executor_id}' of framework {framework_id} because no pid or http checkpoint file was found"
                    ),
                },
                RecoverMode::Cleanup => match channel {
                    Channel::V0(_) | Channel::Http(_) => {
                        tracing::info!("Sending shutdown to executor '{executor_id}' of framework {framework_id}");
                        self.shutdown_executor(&framework_id, &executor_id, fx);
                    }
                    Channel::Unknown => {
                        tracing::info!("Killing executor '{executor_id}' of framework {framework_id} because no pid or http checkpoint file was found");
                        fx.push(Effect::Destroy { container_id: ContainerId { value: container_id, parent: None } });
                    }
                },
            }
        }
        if !self.frameworks.is_empty() && self.config.recover == RecoverMode::Reconnect {
            self.recovery.waiting_for_executors = true;
            self.timer(TimerId::ExecutorReregistration, self.config.executor_reregistration_timeout, fx);
            return;
        }
        self.finish_recovery(fx);
    }

    pub(crate) fn on_reconnect_retry(&mut self, framework_id: &str, executor_id: &str, fx: &mut Vec<Effect>) {
        if self.state != AgentState::Recovering {
            return;
        }
        let Some(executor) = self.executor(framework_id, executor_id) else { return };
        if executor.state != ExecutorState::Registering {
            return;
        }
        if let Channel::V0(pid) = executor.channel.clone() {
            tracing::info!("Re-sending reconnect request to executor '{executor_id}' of framework {framework_id}");
            self.send(&pid, ReconnectExecutorMessage { slave_id: self.slave_id() }, fx);
            if let Some(interval) = self.config.executor_reregistration_retry_interval {
                let id = TimerId::ExecutorReconnectRetry {
                    framework_id: framework_id.into(),
                    executor_id: executor_id.into(),
                };
                self.timer(id, interval, fx);
            }
        }
    }

    /// The reregistration window closed: executors that did not come back
    /// are killed.
    pub(crate) fn on_reregister_executor_timeout(&mut self, fx: &mut Vec<Effect>) {
        if !self.recovery.waiting_for_executors {
            return;
        }
        self.recovery.waiting_for_executors = false;
        tracing::info!("Cleaning up un-reregistered executors");
        let timeout = self.config.executor_reregistration_timeout;
        for framework in self.frameworks.values_mut() {
            let partition_aware = framework.partition_aware();
            for executor in framework.executors.values_mut() {
                if executor.state != ExecutorState::Registering {
                    continue;
                }
                tracing::info!("Killing un-reregistered executor '{}' of framework {}", executor.id, framework.id);
                fx.push(Effect::Destroy {
                    container_id: ContainerId { value: executor.container_id.clone(), parent: None },
                });
                executor.state = ExecutorState::Terminating;
                executor.pending_termination = Some(Termination {
                    state: Some(Self::gone_or_lost(partition_aware)),
                    reason: Some(Reason::ExecutorReregistrationTimeout),
                    message: Some(format!("Executor did not reregister within {}", format_duration(timeout))),
                    ..Default::default()
                });
            }
        }
        if self.state == AgentState::Recovering {
            self.finish_recovery(fx);
        }
    }

    /// Step 3 (Mesos's `__recover`).
    fn finish_recovery(&mut self, fx: &mut Vec<Effect>) {
        tracing::info!("Finished recovery");
        if let Some(boot_id) = &self.config.boot_id {
            fx.push(Effect::Fs(FsOp::Write {
                path: paths::boot_id_path(&self.meta),
                data: boot_id.clone().into_bytes(),
            }));
        }
        if self.recovery.forget_agent {
            fx.push(Effect::Fs(FsOp::Remove { path: paths::latest_agent_path(&self.meta) }));
        }
        self.metrics.recovery_time_secs = Some(self.now.since(self.start_time).as_secs_f64());
        match self.config.recover {
            RecoverMode::Reconnect => {
                self.state = AgentState::Disconnected;
                fx.push(Effect::DetectMaster { previous: None });
            }
            RecoverMode::Cleanup => {
                self.state = AgentState::Terminating;
                if self.frameworks.is_empty() {
                    fx.push(Effect::Exit { status: 0, message: "Agent terminating: recovery cleanup done".into() });
                }
            }
        }
    }
}
