//! The master's validation, with Mesos's error texts
//! (`src/master/validation.cpp`, `src/common/validation.cpp`): framework
//! infos, scheduler calls, agent (re)registrations, tasks, executors, task
//! groups, the offers an ACCEPT names, and offer operations.
//!
//! Every function returns `Err(message)` with the text Mesos reports (in a
//! `FrameworkErrorMessage`, a `TASK_ERROR` status or a log line).

use std::collections::{BTreeSet, HashSet};

use crate::common::resources::validate::{
    detect_overlapping_set_and_range_resources, validate_allocated_to_single_role, validate_for_master,
    validate_persistent_volume, validate_revocable_and_non_revocable, validate_single_resource_provider,
    validate_unique_persistence_id,
};
use crate::common::resources::{validate_all, Resources};
use crate::common::roles;
use crate::proto::mesos::container_info::Type as ContainerType;
use crate::proto::mesos::environment::variable::Type as VariableType;
use crate::proto::mesos::executor_info::Type as ExecutorType;
use crate::proto::mesos::health_check::Type as HealthCheckType;
use crate::proto::mesos::internal::{RegisterSlaveMessage, ReregisterSlaveMessage};
use crate::proto::mesos::offer::operation::Type as OperationType;
use crate::proto::mesos::offer::{operation, Operation};
use crate::proto::mesos::scheduler::call::Type as CallType;
use crate::proto::mesos::scheduler::Call;
use crate::proto::mesos::volume::source::Type as VolumeSourceType;
use crate::proto::mesos::{
    CheckInfo, CommandInfo, ContainerInfo, ExecutorInfo, FrameworkInfo, HealthCheck, Resource, SlaveInfo,
    TaskGroupInfo, TaskInfo, TaskState,
};

use super::state::{AgentCaps, Framework, FrameworkCaps};

/// Mesos's `MIN_CPUS`.
pub const MIN_CPUS: f64 = 0.01;
/// Mesos's `MIN_MEM`, in megabytes.
pub const MIN_MEM_MB: f64 = 32.0;

type Result<T = ()> = std::result::Result<T, String>;

/// Formats a double as C++'s `stringify(double)` (`ostream <<`, six
/// significant digits, `%g` style).
pub fn cpp_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if (-5..6).contains(&exp) {
        let decimals = (5 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        s
    } else {
        let s = format!("{v:.5e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            mantissa.to_string()
        };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// Mesos's `stringify(set<string>)`: `{ a, b }`.
pub fn string_set<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.into_iter().map(String::as_str).collect();
    format!("{{ {} }}", items.join(", "))
}

// -------------------------------------------------------------------
// Common (src/common/validation.cpp)

/// `validateID`: task, executor, agent, framework and persistence ids.
pub fn validate_id(id: &str) -> Result {
    crate::common::resources::validate::validate_id(id).map_err(|e| e.0)
}

fn validate_environment(command: &CommandInfo) -> Result {
    let Some(env) = &command.environment else { return Ok(()) };
    for var in &env.variables {
        match var.r#type() {
            VariableType::Secret => {
                if var.secret.is_none() {
                    return Err(format!("Environment variable '{}' of type 'SECRET' must have a secret set", var.name));
                }
                if var.value.is_some() {
                    return Err(format!(
                        "Environment variable '{}' of type 'SECRET' must not have a value set",
                        var.name
                    ));
                }
            }
            VariableType::Value => {
                if var.value.is_none() {
                    return Err(format!("Environment variable '{}' of type 'VALUE' must have a value set", var.name));
                }
                if var.secret.is_some() {
                    return Err(format!(
                        "Environment variable '{}' of type 'VALUE' must not have a secret set",
                        var.name
                    ));
                }
            }
            VariableType::Unknown => return Err("Environment variable of type 'UNKNOWN' is not allowed".into()),
        }
    }
    Ok(())
}

/// `validateCommandInfo`.
pub fn validate_command_info(command: &CommandInfo) -> Result {
    validate_environment(command)
}

/// `validateContainerInfo`.
pub fn validate_container_info(container: &ContainerInfo) -> Result {
    for volume in &container.volumes {
        let count = [volume.host_path.is_some(), volume.image.is_some(), volume.source.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if count != 1 {
            return Err("Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'".into());
        }
        if let Some(source) = &volume.source {
            let missing = match source.r#type() {
                VolumeSourceType::DockerVolume => source
                    .docker_volume
                    .is_none()
                    .then_some("'source.docker_volume' is not set for DOCKER_VOLUME volume"),
                VolumeSourceType::HostPath => {
                    source.host_path.is_none().then_some("'source.host_path' is not set for HOST_PATH volume")
                }
                VolumeSourceType::SandboxPath => {
                    source.sandbox_path.is_none().then_some("'source.sandbox_path' is not set for SANDBOX_PATH volume")
                }
                VolumeSourceType::Secret => {
                    source.secret.is_none().then_some("'source.secret' is not set for SECRET volume")
                }
                VolumeSourceType::CsiVolume => match &source.csi_volume {
                    None => Some("'source.csi_volume' is not set for CSI volume"),
                    Some(csi) if csi.static_provisioning.is_none() => {
                        Some("'source.csi_volume.static_provisioning' is not set for CSI volume")
                    }
                    Some(_) => None,
                },
                _ => Some("'source.type' is unknown"),
            };
            if let Some(missing) = missing {
                return Err(format!("Invalid volume: {missing}"));
            }
        }
    }
    if container.r#type() == ContainerType::Docker {
        let Some(docker) = &container.docker else {
            return Err("DockerInfo 'docker' is not set for DOCKER typed ContainerInfo".into());
        };
        if docker.parameters.iter().any(|p| p.key == "name") {
            return Err("Parameter in DockerInfo must not be 'name'".into());
        }
    }
    Ok(())
}

/// `validateHealthCheck`.
pub fn validate_health_check(check: &HealthCheck) -> Result {
    let Some(kind) = check.r#type else { return Err("HealthCheck must specify 'type'".into()) };
    match HealthCheckType::try_from(kind).unwrap_or(HealthCheckType::Unknown) {
        HealthCheckType::Command => {
            let Some(command) = &check.command else {
                return Err("Expecting 'command' to be set for COMMAND health check".into());
            };
            if command.value.is_none() {
                let kind = if command.shell.unwrap_or(true) { "'shell command'" } else { "'executable path'" };
                return Err(format!("Command health check must contain {kind}"));
            }
            validate_command_info(command).map_err(|e| format!("Health check's `CommandInfo` is invalid: {e}"))?;
        }
        HealthCheckType::Http => {
            let Some(http) = &check.http else { return Err("Expecting 'http' to be set for HTTP health check".into()) };
            if let Some(scheme) = &http.scheme {
                if scheme != "http" && scheme != "https" {
                    return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                }
            }
            if let Some(path) = &http.path {
                if !path.starts_with('/') {
                    return Err(format!("The path '{path}' of HTTP health check must start with '/'"));
                }
            }
        }
        HealthCheckType::Tcp => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP health check".into());
            }
        }
        HealthCheckType::Unknown => return Err("'UNKNOWN' is not a valid health check type".into()),
    }
    for (value, name) in [
        (check.delay_seconds, "delay_seconds"),
        (check.grace_period_seconds, "grace_period_seconds"),
        (check.interval_seconds, "interval_seconds"),
        (check.timeout_seconds, "timeout_seconds"),
    ] {
        if value.is_some_and(|v| v < 0.0) {
            return Err(format!("Expecting '{name}' to be non-negative"));
        }
    }
    Ok(())
}

/// `validateCheckInfo` (the essentials: type and its matching field).
pub fn validate_check_info(check: &CheckInfo) -> Result {
    use crate::proto::mesos::check_info::Type as CheckType;
    let Some(kind) = check.r#type else { return Err("CheckInfo must specify 'type'".into()) };
    match CheckType::try_from(kind).unwrap_or(CheckType::Unknown) {
        CheckType::Command => {
            let Some(command) = check.command.as_ref().map(|c| &c.command) else {
                return Err("Expecting 'command' to be set for COMMAND check".into());
            };
            if command.value.is_none() {
                let kind = if command.shell.unwrap_or(true) { "'shell command'" } else { "'executable path'" };
                return Err(format!("Command check must contain {kind}"));
            }
            validate_command_info(command).map_err(|e| format!("Check's `CommandInfo` is invalid: {e}"))?;
        }
        CheckType::Http => {
            if check.http.is_none() {
                return Err("Expecting 'http' to be set for HTTP check".into());
            }
        }
        CheckType::Tcp => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP check".into());
            }
        }
        CheckType::Unknown => return Err("'UNKNOWN' is not a valid check type".into()),
    }
    for (value, name) in [
        (check.delay_seconds, "delay_seconds"),
        (check.interval_seconds, "interval_seconds"),
        (check.timeout_seconds, "timeout_seconds"),
    ] {
        if value.is_some_and(|v| v < 0.0) {
            return Err(format!("Expecting '{name}' to be non-negative"));
        }
    }
    Ok(())
}

fn validate_input_scalar(value: f64) -> Result {
    if value.is_infinite() {
        return Err("Infinite values not supported".into());
    }
    if value.is_nan() {
        return Err("NaN not supported".into());
    }
    if value != 0.0 && value.is_subnormal() {
        return Err("Subnormal values not supported".into());
    }
    if value < 0.0 {
        return Err("Negative values not supported".into());
    }
    Ok(())
}

// -------------------------------------------------------------------
// Frameworks

/// `validation::framework::validate`: roles, id, offer filters.
#[allow(deprecated)]
pub fn validate_framework_info(info: &FrameworkInfo) -> Result {
    let multi_role = FrameworkCaps::of(info).multi_role;
    if multi_role {
        if info.role.is_some() {
            return Err("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable".into());
        }
    } else if !info.roles.is_empty() {
        return Err("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable".into());
    }
    if multi_role {
        let mut seen = HashSet::new();
        let mut duplicates = BTreeSet::new();
        for role in &info.roles {
            if !seen.insert(role) {
                duplicates.insert(role.clone());
            }
        }
        if !duplicates.is_empty() {
            return Err(format!("'FrameworkInfo.roles' contains duplicate items: {}", string_set(&duplicates)));
        }
        for role in &info.roles {
            roles::validate(role).map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {}", e.0))?;
        }
    } else {
        roles::validate(info.role()).map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {}", e.0))?;
    }
    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
        validate_id(&id.value)?;
    }
    for filters in info.offer_filters.values() {
        if let Some(min) = &filters.min_allocatable_resources {
            for quantities in &min.quantities {
                if quantities.quantities.is_empty() {
                    return Err("Resource quantities must contain at least one quantity".into());
                }
                let mut names: Vec<&String> = quantities.quantities.keys().collect();
                names.sort();
                for name in names {
                    validate_input_scalar(quantities.quantities[name].value)
                        .map_err(|e| format!("Invalid resource quantity for '{name}': {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// `validation::framework::validateUpdate`: fields a resubscription or
/// UPDATE_FRAMEWORK may not change.
pub fn validate_framework_update(old: &FrameworkInfo, new: &FrameworkInfo) -> Result {
    if old.principal != new.principal {
        tracing::warn!(
            "Framework {} which had a principal '{}' tried to (re)subscribe with a new principal '{}'",
            old.id.as_ref().map(|i| i.value.as_str()).unwrap_or(""),
            old.principal.as_deref().unwrap_or("<NONE>"),
            new.principal.as_deref().unwrap_or("<NONE>")
        );
        return Err("Changing framework's principal is not allowed.".into());
    }
    if new.user != old.user {
        return Err(format!(
            "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
            old.user, new.user
        ));
    }
    if new.checkpoint() != old.checkpoint() {
        return Err(format!(
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
            old.checkpoint(),
            new.checkpoint()
        ));
    }
    Ok(())
}

/// `validation::framework::preserveImmutableFields`: a resubscription
/// keeps the user and checkpointing the framework registered with.
pub fn preserve_immutable_fields(old: &FrameworkInfo, new: &mut FrameworkInfo) {
    if new.user != old.user {
        tracing::warn!(
            "Cannot update 'FrameworkInfo.user' to '{}' for framework {:?}; see MESOS-703",
            new.user,
            old.id
        );
        new.user = old.user.clone();
    }
    if new.checkpoint() != old.checkpoint() {
        tracing::warn!(
            "Cannot update FrameworkInfo.checkpoint to '{}' for framework {:?}; see MESOS-703",
            new.checkpoint(),
            old.id
        );
        new.checkpoint = old.checkpoint;
    }
}

/// `Duration::create(failover_timeout)` succeeds.
pub fn valid_failover_timeout(info: &FrameworkInfo) -> bool {
    let secs = info.failover_timeout();
    secs.is_finite() && (secs * 1e9).abs() <= i64::MAX as f64
}

/// `validation::scheduler::call::validate`.
pub fn validate_call(call: &Call) -> Result {
    let Some(kind) = call.r#type else { return Err("Expecting 'type' to be present".into()) };
    let kind = CallType::try_from(kind).unwrap_or(CallType::Unknown);
    if kind == CallType::Subscribe {
        let Some(subscribe) = &call.subscribe else { return Err("Expecting 'subscribe' to be present".into()) };
        if subscribe.framework_info.id != call.framework_id {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        return Ok(());
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    let missing =
        |present: bool, field: &str| if present { Ok(()) } else { Err(format!("Expecting '{field}' to be present")) };
    match kind {
        CallType::Accept => missing(call.accept.is_some(), "accept"),
        CallType::Decline => missing(call.decline.is_some(), "decline"),
        CallType::AcceptInverseOffers => missing(call.accept_inverse_offers.is_some(), "accept_inverse_offers"),
        CallType::DeclineInverseOffers => missing(call.decline_inverse_offers.is_some(), "decline_inverse_offers"),
        CallType::Kill => missing(call.kill.is_some(), "kill"),
        CallType::Shutdown => missing(call.shutdown.is_some(), "shutdown"),
        CallType::Acknowledge => {
            let Some(ack) = &call.acknowledge else { return Err("Expecting 'acknowledge' to be present".into()) };
            parse_uuid(&ack.uuid).map(|_| ())
        }
        CallType::AcknowledgeOperationStatus => {
            let Some(ack) = &call.acknowledge_operation_status else {
                return Err("Expecting 'acknowledge_operation_status' to be present".into());
            };
            parse_uuid(&ack.uuid)?;
            missing(ack.slave_id.is_some(), "agent_id")
        }
        CallType::Reconcile => missing(call.reconcile.is_some(), "reconcile"),
        CallType::ReconcileOperations => missing(call.reconcile_operations.is_some(), "reconcile_operations"),
        CallType::Message => missing(call.message.is_some(), "message"),
        CallType::Request => missing(call.request.is_some(), "request"),
        CallType::UpdateFramework => {
            let Some(update) = &call.update_framework else {
                return Err("Expecting 'update_framework' to be present".into());
            };
            if call.framework_id != update.framework_info.id {
                return Err("'framework_id' differs from 'update_framework.framework_info.id'".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `id::UUID::fromBytes`: exactly 16 bytes.
pub fn parse_uuid(bytes: &[u8]) -> Result<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes).map_err(|_| format!("Invalid UUID of size {}", bytes.len()))
}

// -------------------------------------------------------------------
// Agents

fn validate_slave_info(info: &SlaveInfo) -> Result {
    if let Some(id) = &info.id {
        validate_id(&id.value)?;
    }
    validate_all(&info.resources).map_err(|e| e.0)
}

/// `validation::master::message::registerSlave`.
pub fn validate_register_slave(message: &RegisterSlaveMessage) -> Result {
    validate_slave_info(&message.slave)?;
    if !message.checkpointed_resources.is_empty() && !message.slave.checkpoint() {
        return Err("Checkpointed resources provided when checkpointing is not enabled".into());
    }
    for r in &message.checkpointed_resources {
        crate::common::resources::validate(r).map_err(|e| e.0)?;
    }
    Ok(())
}

/// `validation::master::message::reregisterSlave`.
pub fn validate_reregister_slave(message: &ReregisterSlaveMessage) -> Result {
    validate_slave_info(&message.slave)?;
    for r in &message.checkpointed_resources {
        crate::common::resources::validate(r).map_err(|e| e.0)?;
    }
    let mut frameworks = HashSet::new();
    for framework in &message.frameworks {
        validate_framework_info(framework)?;
        let id = framework.id.clone().unwrap_or_default();
        if !frameworks.insert(id.clone()) {
            return Err(format!("Framework has a duplicate FrameworkID: '{}'", id.value));
        }
    }
    let mut executors = HashSet::new();
    for executor in &message.executor_infos {
        validate_executor_info(executor)?;
        validate_all(&executor.resources).map_err(|e| e.0)?;
        let fid = executor.framework_id.clone().unwrap_or_default();
        if !frameworks.contains(&fid) {
            return Err(format!("Executor has an invalid FrameworkID '{}'", fid.value));
        }
        if !executors.insert((fid.clone(), executor.executor_id.clone())) {
            return Err(format!(
                "Framework '{}' has a duplicate ExecutorID '{}'",
                fid.value, executor.executor_id.value
            ));
        }
    }
    let agent_id = message.slave.id.clone().unwrap_or_default();
    for task in &message.tasks {
        validate_id(&task.task_id.value).map_err(|e| format!("Task has an invalid TaskID: {e}"))?;
        if task.slave_id != agent_id {
            return Err(format!("Task has an invalid SlaveID '{}'", task.slave_id.value));
        }
        if !frameworks.contains(&task.framework_id) {
            return Err(format!("Task has an invalid FrameworkID '{}'", task.framework_id.value));
        }
        if let Some(executor) = &task.executor_id {
            if task.state == TaskState::TaskRunning as i32
                && !executors.contains(&(task.framework_id.clone(), executor.clone()))
            {
                return Err(format!("Task has an invalid ExecutorID '{}'", executor.value));
            }
        }
        validate_all(&task.resources).map_err(|e| format!("Task uses invalid resources: {}", e.0))?;
    }
    Ok(())
}

// -------------------------------------------------------------------
// Executors

/// `validation::executor::validate` (the checks independent of the master's state).
pub fn validate_executor_info(executor: &ExecutorInfo) -> Result {
    match executor.r#type.map(|t| ExecutorType::try_from(t).unwrap_or(ExecutorType::Unknown)) {
        Some(ExecutorType::Default) => {
            if executor.command.is_some() {
                return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into());
            }
            if let Some(container) = &executor.container {
                if container.r#type() != ContainerType::Mesos {
                    return Err("'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor".into());
                }
                if container.mesos.as_ref().is_some_and(|m| m.image.is_some()) {
                    return Err("'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor".into());
                }
            }
        }
        Some(ExecutorType::Custom) if executor.command.is_none() => {
            return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into());
        }
        Some(ExecutorType::Custom) => {}
        // Unset means CUSTOM in the proto default; UNKNOWN is let through.
        None => {}
        Some(ExecutorType::Unknown) => {}
    }
    validate_id(&executor.executor_id.value)?;
    if executor.shutdown_grace_period.is_some_and(|d| d.nanoseconds < 0) {
        return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
    }
    if let Some(command) = &executor.command {
        validate_command_info(command).map_err(|e| format!("Executor's `CommandInfo` is invalid: {e}"))?;
    }
    if let Some(container) = &executor.container {
        validate_container_info(container).map_err(|e| format!("Executor's `ContainerInfo` is invalid: {e}"))?;
    }
    Ok(())
}

/// `validation::executor::internal::validate`: also against the framework
/// and the executor already running on the agent, if any.
pub fn validate_executor(executor: &ExecutorInfo, framework: &Framework, existing: Option<&ExecutorInfo>) -> Result {
    validate_executor_info(executor)?;
    let Some(fid) = &executor.framework_id else {
        return Err("'ExecutorInfo.framework_id' must be set".into());
    };
    if *fid != framework.id() {
        return Err(format!(
            "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
            fid.value,
            framework.id().value
        ));
    }
    validate_for_master(&executor.resources).map_err(|e| format!("Executor uses invalid resources: {}", e.0))?;
    let resources = Resources::from_protos(&executor.resources);
    validate_unique_persistence_id(&resources)
        .map_err(|e| format!("Executor uses duplicate persistence ID: {}", e.0))?;
    validate_allocated_to_single_role(&resources).map_err(|e| format!("Invalid executor resources: {}", e.0))?;
    validate_revocable_and_non_revocable(&resources)
        .map_err(|e| format!("Executor mixes revocable and non-revocable resources: {}", e.0))?;
    if let Some(existing) = existing {
        if existing != executor {
            return Err(format!(
                "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID.\n\
                 ------------------------------------------------------------\n\
                 Existing ExecutorInfo:\n{existing:?}\n\
                 ------------------------------------------------------------\n\
                 ExecutorInfo:\n{executor:?}\n\
                 ------------------------------------------------------------\n"
            ));
        }
    }
    Ok(())
}

// -------------------------------------------------------------------
// Tasks

/// What task validation needs to know about the agent the task goes to.
pub struct AgentView<'a> {
    pub id: &'a crate::proto::mesos::SlaveId,
    pub caps: AgentCaps,
    /// The framework's executor of that id already on the agent, if any.
    pub existing_executor: Option<&'a ExecutorInfo>,
}

fn validate_task_resources(task: &TaskInfo) -> Result {
    if task.resources.is_empty() {
        return Err("Task uses no resources".into());
    }
    validate_for_master(&task.resources).map_err(|e| format!("Task uses invalid resources: {}", e.0))?;
    let resources = Resources::from_protos(&task.resources);
    validate_unique_persistence_id(&resources).map_err(|e| format!("Task uses duplicate persistence ID: {}", e.0))?;
    validate_allocated_to_single_role(&resources).map_err(|e| format!("Invalid task resources: {}", e.0))?;
    validate_revocable_and_non_revocable(&resources)
        .map_err(|e| format!("Task mixes revocable and non-revocable resources: {}", e.0))
}

fn validate_resource_limits(task: &TaskInfo, agent: &AgentView<'_>) -> Result {
    if task.limits.is_empty() {
        return Ok(());
    }
    if !agent.caps.task_resource_limits {
        return Err("Agent is not capable of handling task resource limits".into());
    }
    if task.limits.keys().any(|k| k != "cpus" && k != "mem") {
        return Err("Only cpus and mem may be included in a task's resource limits".into());
    }
    let resources = Resources::from_protos(&task.resources);
    if let Some(limit) = task.limits.get("cpus") {
        let Some(cpus) = resources.cpus() else {
            return Err("When a CPU limit is specified, a CPU request must also be specified".into());
        };
        if limit.value < cpus {
            return Err("The cpu limit must be greater than or equal to the cpu request".into());
        }
    }
    if let Some(limit) = task.limits.get("mem") {
        let Some(mem) = resources.mem() else {
            return Err("When a memory limit is specified, a memory request must also be specified".into());
        };
        if !limit.value.is_infinite() && limit.value * 1024.0 * 1024.0 < mem as f64 {
            return Err("The memory limit must be greater than or equal to the memory request".into());
        }
    }
    Ok(())
}

/// `task::internal::validateTask`: the task itself, not its executor.
pub fn validate_task_fields(task: &TaskInfo, framework: &Framework, agent: &AgentView<'_>) -> Result {
    validate_id(&task.task_id.value)?;
    if framework.tasks.contains_key(&task.task_id) {
        return Err(format!("Task has duplicate ID: {}", task.task_id.value));
    }
    if framework.unreachable_tasks.contains_key(&task.task_id) {
        return Err(format!("Task reuses the ID of an unreachable task: {}", task.task_id.value));
    }
    if &task.slave_id != agent.id {
        return Err(format!(
            "Task uses invalid agent {} while agent {} is expected",
            task.slave_id.value, agent.id.value
        ));
    }
    if task.kill_policy.as_ref().and_then(|k| k.grace_period).is_some_and(|d| d.nanoseconds < 0) {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
    }
    if task.max_completion_time.is_some_and(|d| d.nanoseconds < 0) {
        return Err("Task's `max_completion_time` must be non-negative".into());
    }
    if let Some(check) = &task.check {
        validate_check_info(check).map_err(|e| format!("Task uses invalid check: {e}"))?;
    }
    if let Some(check) = &task.health_check {
        validate_health_check(check).map_err(|e| format!("Task uses invalid health check: {e}"))?;
    }
    validate_task_resources(task)?;
    if let Some(command) = &task.command {
        validate_command_info(command).map_err(|e| format!("Task's `CommandInfo` is invalid: {e}"))?;
    }
    if let Some(container) = &task.container {
        validate_container_info(container).map_err(|e| format!("Task's `ContainerInfo` is invalid: {e}"))?;
    }
    validate_resource_limits(task, agent)
}

fn share_cgroups(container: Option<&ContainerInfo>) -> Option<bool> {
    container.and_then(|c| c.linux_info.as_ref()).and_then(|l| l.share_cgroups)
}

/// `task::validate`: a LAUNCH task with its executor, against the
/// resources still available in the accepted offers.
pub fn validate_task(task: &TaskInfo, framework: &Framework, agent: &AgentView<'_>, offered: &Resources) -> Result {
    validate_task_fields(task, framework, agent)?;
    if task.executor.is_some() == task.command.is_some() {
        return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into());
    }
    let mut total = Resources::from_protos(&task.resources);
    if let Some(executor) = &task.executor {
        validate_executor(executor, framework, agent.existing_executor)?;
        if executor.r#type.is_some() && executor.r#type() != ExecutorType::Custom {
            return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
        }
        if executor.command.is_none() {
            return Err("'ExecutorInfo.command' must be set".into());
        }
        let executor_resources = Resources::from_protos(&executor.resources);
        if !executor_resources.shared().is_empty() {
            return Err(format!("Executor resources {executor_resources} should not contain any shared resources"));
        }
        if executor_resources.cpus().is_none_or(|c| c < MIN_CPUS) {
            tracing::warn!(
                "Executor '{}' for task '{}' uses less CPUs ({}) than the minimum required ({}). Please update \
                 your executor, as this will be mandatory in future releases.",
                executor.executor_id.value,
                task.task_id.value,
                executor_resources.cpus().map(cpp_double).unwrap_or_else(|| "None".into()),
                MIN_CPUS
            );
        }
        if executor_resources.mem().is_none_or(|m| (m as f64) < MIN_MEM_MB * 1024.0 * 1024.0) {
            tracing::warn!(
                "Executor '{}' for task '{}' uses less memory than the minimum required (32MB). Please update \
                 your executor, as this will be mandatory in future releases.",
                executor.executor_id.value,
                task.task_id.value
            );
        }
        if share_cgroups(executor.container.as_ref()) == Some(true) {
            return Err("The 'share_cgroups' field cannot be set to 'true' on executor containers".into());
        }
        if agent.existing_executor.is_none() {
            total += &executor_resources;
        }
    }
    validate_task_and_executor_resources(task)?;
    if !offered.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task and its executor is more than available {offered}"
        ));
    }
    if share_cgroups(task.container.as_ref()) == Some(false) {
        return Err("Only tasks in a task group may have 'share_cgroups' set to 'false'".into());
    }
    Ok(())
}

fn validate_task_and_executor_resources(task: &TaskInfo) -> Result {
    let task_resources = Resources::from_protos(&task.resources);
    let mut all: Vec<Resource> = task.resources.clone();
    if let Some(executor) = &task.executor {
        all.extend(executor.resources.iter().cloned());
    }
    validate_for_master(&all).map_err(|e| format!("Task and its executor use invalid resources: {}", e.0))?;
    let total = Resources::from_protos(&all);
    if let Some(executor) = &task.executor {
        let executor_resources = Resources::from_protos(&executor.resources);
        if detect_overlapping_set_and_range_resources(&[task_resources.clone(), executor_resources.clone()]) {
            return Err(format!(
                "There are overlapping resources in the task resources {task_resources} and executor resources {executor_resources}"
            ));
        }
    }
    validate_unique_persistence_id(&total)
        .map_err(|e| format!("Task and its executor use duplicate persistence ID: {}", e.0))?;
    validate_revocable_and_non_revocable(&total)
        .map_err(|e| format!("Task and its executor mix revocable and non-revocable resources: {}", e.0))
}

/// `task::group::validate`: a LAUNCH_GROUP.
pub fn validate_task_group(
    group: &TaskGroupInfo,
    executor: &ExecutorInfo,
    framework: &Framework,
    agent: &AgentView<'_>,
    offered: &Resources,
) -> Result {
    for task in &group.tasks {
        validate_group_task(task, framework, agent)
            .map_err(|e| format!("Task '{}' is invalid: {e}", task.task_id.value))?;
    }
    validate_executor(executor, framework, agent.existing_executor)?;
    let Some(kind) = executor.r#type else { return Err("'ExecutorInfo.type' must be set".into()) };
    if ExecutorType::try_from(kind).unwrap_or(ExecutorType::Unknown) == ExecutorType::Unknown {
        return Err("Unknown executor type".into());
    }
    if executor.container.as_ref().is_some_and(|c| c.r#type() == ContainerType::Docker) {
        return Err("Docker ContainerInfo is not supported on the executor".into());
    }
    for task in &group.tasks {
        if task.executor.as_ref().is_some_and(|e| e != executor) {
            return Err(format!(
                "The `ExecutorInfo` of task '{}' is different from executor '{}'",
                task.task_id.value, executor.executor_id.value
            ));
        }
    }
    let executor_resources = Resources::from_protos(&executor.resources);
    match executor_resources.cpus() {
        Some(c) if c >= MIN_CPUS => {}
        other => {
            return Err(format!(
                "Executor '{}' uses less CPUs ({}) than the minimum required ({})",
                executor.executor_id.value,
                other.map(cpp_double).unwrap_or_else(|| "None".into()),
                cpp_double(MIN_CPUS)
            ))
        }
    }
    match executor_resources.mem() {
        Some(m) if m as f64 >= MIN_MEM_MB * 1024.0 * 1024.0 => {}
        other => {
            return Err(format!(
                "Executor '{}' uses less memory ({}) than the minimum required (32MB)",
                executor.executor_id.value,
                other.map(|m| format!("{}MB", m / (1024 * 1024))).unwrap_or_else(|| "None".into())
            ))
        }
    }
    if executor_resources.disk().is_none() {
        return Err(format!("Executor '{}' uses no disk", executor.executor_id.value));
    }
    let mut total_all = executor_resources.clone();
    let mut per_task = Vec::new();
    for task in &group.tasks {
        let r = Resources::from_protos(&task.resources);
        total_all += &r;
        per_task.push(r);
    }
    validate_unique_persistence_id(&total_all)
        .map_err(|e| format!("Task group and executor use duplicate persistence ID: {}", e.0))?;
    validate_revocable_and_non_revocable(&total_all)
        .map_err(|e| format!("Task group and executor mix revocable and non-revocable resources: {}", e.0))?;
    let mut all = per_task.clone();
    all.push(executor_resources.clone());
    if detect_overlapping_set_and_range_resources(&all) {
        let tasks: Vec<String> = per_task.iter().map(|r| r.to_string()).collect();
        return Err(format!(
            "There are overlapping resources in the task group's task resources [ {} ] and/or executor resources {}",
            tasks.join(", "),
            executor_resources
        ));
    }
    let mut total = Resources::new();
    for r in &per_task {
        total += r;
    }
    if agent.existing_executor.is_none() {
        total += &executor_resources;
    }
    if !offered.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task group and its executor are more than available {offered}"
        ));
    }
    if let Some(command) = &executor.command {
        validate_command_info(command)
            .map_err(|e| format!("Executor '{}'contains an invalid command: {e}", executor.executor_id.value))?;
    }
    if share_cgroups(executor.container.as_ref()) == Some(true) {
        return Err("The 'share_cgroups' field cannot be set to 'true' on executor containers".into());
    }
    let mut shared: Option<bool> = None;
    for task in &group.tasks {
        let value = share_cgroups(task.container.as_ref()).unwrap_or(true);
        match shared {
            None => shared = Some(value),
            Some(v) if v != value => {
                return Err("If set, the value of 'share_cgroups' must be the same for all tasks in each task \
                            group and under a single executor"
                    .into())
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_group_task(task: &TaskInfo, framework: &Framework, agent: &AgentView<'_>) -> Result {
    validate_task_fields(task, framework, agent)?;
    if task.executor.is_none() {
        return Err("'TaskInfo.executor' must be set".into());
    }
    if let Some(container) = &task.container {
        if !container.network_infos.is_empty() {
            if let Some(check) = &task.health_check {
                if matches!(check.r#type(), HealthCheckType::Http | HealthCheckType::Tcp) {
                    return Err("HTTP and TCP health checks are not supported for nested containers not joining \
                                parent's network"
                        .into());
                }
            }
        }
        if container.r#type() == ContainerType::Docker {
            return Err("Docker ContainerInfo is not supported on the task".into());
        }
    }
    if !task.limits.is_empty() && share_cgroups(task.container.as_ref()) != Some(false) {
        return Err("Resource limits may only be set for tasks within a task group when the 'share_cgroups' \
                    field is set to 'false'."
            .into());
    }
    Ok(())
}

// -------------------------------------------------------------------
// Operations

/// `validateAndUpgradeResources` (the validation half): the operation has
/// its field, and its resources are well formed.
pub fn validate_operation_resources(op: &Operation) -> Result {
    let check = |r: &[Resource]| validate_all(r).map_err(|e| e.0);
    match op.r#type() {
        OperationType::Reserve => {
            let Some(reserve) = &op.reserve else {
                return Err("A RESERVE offer operation must have the Offer.Operation.reserve field set.".into());
            };
            check(&reserve.resources)?;
            check(&reserve.source)
        }
        OperationType::Unreserve => {
            let Some(unreserve) = &op.unreserve else {
                return Err("An UNRESERVE offer operation must have the Offer.Operation.unreserve field set.".into());
            };
            check(&unreserve.resources)
        }
        OperationType::Create => {
            let Some(create) = &op.create else {
                return Err("A CREATE offer operation must have the Offer.Operation.create field set.".into());
            };
            check(&create.volumes)
        }
        OperationType::Destroy => {
            let Some(destroy) = &op.destroy else {
                return Err("A DESTROY offer operation must have the Offer.Operation.destroy field set.".into());
            };
            check(&destroy.volumes)
        }
        OperationType::GrowVolume => {
            let Some(grow) = &op.grow_volume else {
                return Err("A GROW_VOLUME operation must have the Offer.Operation.grow_volume field set".into());
            };
            check(std::slice::from_ref(&grow.volume))?;
            check(std::slice::from_ref(&grow.addition))
        }
        OperationType::ShrinkVolume => {
            let Some(shrink) = &op.shrink_volume else {
                return Err(
                    "A SHRINK_VOLUME offer operation must have the Offer.Operation.shrink_volume field set".into()
                );
            };
            check(std::slice::from_ref(&shrink.volume))
        }
        OperationType::Launch => {
            let Some(launch) = &op.launch else {
                return Err("A LAUNCH offer operation must have the Offer.Operation.launch field set.".into());
            };
            for task in &launch.task_infos {
                check(&task.resources)?;
                if let Some(executor) = &task.executor {
                    check(&executor.resources)?;
                }
            }
            Ok(())
        }
        OperationType::LaunchGroup => {
            let Some(group) = &op.launch_group else {
                return Err(
                    "A LAUNCH_GROUP offer operation must have the Offer.Operation.launch_group field set.".into()
                );
            };
            check(&group.executor.resources)?;
            for task in &group.task_group.tasks {
                check(&task.resources)?;
                if let Some(executor) = &task.executor {
                    check(&executor.resources)?;
                }
            }
            Ok(())
        }
        OperationType::CreateDisk => match &op.create_disk {
            None => Err("A CREATE_DISK offer operation must have the Offer.Operation.create_disk field set.".into()),
            Some(c) => check(std::slice::from_ref(&c.source)),
        },
        OperationType::DestroyDisk => match &op.destroy_disk {
            None => Err("A DESTROY_DISK offer operation must have the Offer.Operation.destroy_disk field set.".into()),
            Some(d) => check(std::slice::from_ref(&d.source)),
        },
        OperationType::Unknown => Ok(()),
    }
}

fn reservation_role(r: &Resource) -> Option<&str> {
    r.reservations.last().and_then(|res| res.role.as_deref())
}

fn is_dynamically_reserved(r: &Resource) -> bool {
    use crate::proto::mesos::resource::reservation_info::Type;
    r.reservations.last().is_some_and(|res| res.r#type() == Type::Dynamic)
}

fn display(r: &Resource) -> String {
    crate::common::resources::format::display_proto(r)
}

/// `operation::validate(Reserve)`: for a framework's ACCEPT, or with no
/// framework for the operator API (then the allocation checks are skipped).
pub fn validate_reserve(
    reserve: &operation::Reserve,
    principal: Option<&str>,
    agent: AgentCaps,
    framework: Option<&FrameworkInfo>,
) -> Result {
    validate_for_master(&reserve.resources).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_for_master(&reserve.source).map_err(|e| format!("Invalid source: {}", e.0))?;
    validate_single_resource_provider(&reserve.resources).map_err(|e| format!("Invalid resources: {}", e.0))?;
    let roles = framework.map(crate::master::allocator::framework_roles).unwrap_or_default();
    let role_list = || string_set(roles.iter());
    for r in &reserve.resources {
        if !is_dynamically_reserved(r) {
            return Err(format!("Resource {} is not dynamically reserved", display(r)));
        }
        let role = reservation_role(r).unwrap_or("");
        if !agent.hierarchical_role && role.contains('/') {
            return Err(format!(
                "Resource {} with reservation for hierarchical role '{role}' cannot be reserved on an agent \
                 without HIERARCHICAL_ROLE capability",
                display(r)
            ));
        }
        if !agent.reservation_refinement && r.reservations.len() > 1 {
            return Err(format!(
                "Resource {} with reservation refinement cannot be reserved on an agent without \
                 RESERVATION_REFINEMENT capability",
                display(r)
            ));
        }
        if let Some(principal) = principal {
            let last = r.reservations.last();
            match last.and_then(|l| l.principal.as_deref()) {
                None => {
                    return Err(format!(
                        "A reserve operation was attempted by principal '{principal}', but there is a reserved \
                         resource in the request with no principal set"
                    ))
                }
                Some(p) if p != principal => {
                    return Err(format!(
                        "A reserve operation was attempted by authenticated principal '{principal}', which does \
                         not match a reserved resource in the request with principal '{p}'"
                    ))
                }
                _ => {}
            }
        }
        if framework.is_none() {
            continue;
        }
        let Some(allocated) = r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) else {
            return Err(format!(
                "A reserve operation was attempted on unallocated resource {}, but frameworks can only perform \
                 reservations on allocated resources",
                display(r)
            ));
        };
        if allocated != role {
            return Err(format!(
                "A reserve operation was attempted for a resource with role '{role}', but the resource was \
                 allocated to role '{allocated}'"
            ));
        }
        if !roles.contains(allocated) {
            return Err(format!(
                "A reserve operation was attempted for a resource allocated to role '{allocated}', but the \
                 framework only has roles '{}'",
                role_list()
            ));
        }
        if !roles.contains(role) {
            return Err(format!(
                "A reserve operation was attempted for a resource with role '{role}', but the framework can only \
                 reserve resources with roles '{}'",
                role_list()
            ));
        }
    }
    if framework.is_none() {
        return Ok(());
    }
    validate_allocated_to_single_role(&Resources::from_protos(&reserve.resources))
        .map_err(|e| format!("Invalid reservation resources: {}", e.0))
}

/// `operation::validate(Unreserve)`.
pub fn validate_unreserve(unreserve: &operation::Unreserve) -> Result {
    validate_for_master(&unreserve.resources).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_single_resource_provider(&unreserve.resources).map_err(|e| format!("Invalid resources: {}", e.0))?;
    for r in &unreserve.resources {
        if !is_dynamically_reserved(r) {
            return Err(format!("Resource {} is not dynamically reserved", display(r)));
        }
        if r.disk.as_ref().is_some_and(|d| d.persistence.is_some()) {
            return Err(format!(
                "A dynamically reserved persistent volume {} cannot be unreserved directly. Please destroy the \
                 persistent volume first then unreserve the resource",
                display(r)
            ));
        }
    }
    Ok(())
}

/// `operation::validate(Create)`.
pub fn validate_create(
    create: &operation::Create,
    checkpointed: &Resources,
    principal: Option<&str>,
    agent: AgentCaps,
    framework: Option<&FrameworkInfo>,
) -> Result {
    validate_for_master(&create.volumes).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_single_resource_provider(&create.volumes).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_persistent_volume(&create.volumes).map_err(|e| format!("Not a persistent volume: {}", e.0))?;
    let mut all = checkpointed.clone();
    all += &Resources::from_protos(&create.volumes);
    validate_unique_persistence_id(&all).map_err(|e| e.0)?;
    let shared_capable = framework.is_none_or(|f| FrameworkCaps::of(f).shared_resources);
    for volume in &create.volumes {
        if volume.shared.is_some() && !shared_capable {
            return Err(format!(
                "Create volume operation for '{}' has been attempted by framework '{}' with no SHARED_RESOURCES \
                 capability",
                display(volume),
                framework.and_then(|f| f.id.as_ref()).map(|i| i.value.as_str()).unwrap_or("")
            ));
        }
        let role = reservation_role(volume).unwrap_or("");
        if !agent.hierarchical_role && role.contains('/') {
            return Err(format!(
                "Volume {} with reservation for hierarchical role '{role}' cannot be created on an agent without \
                 HIERARCHICAL_ROLE capability",
                display(volume)
            ));
        }
        if !agent.reservation_refinement && volume.reservations.len() > 1 {
            return Err(format!(
                "Volume {} with reservation refinement cannot be created on an agent without \
                 RESERVATION_REFINEMENT capability",
                display(volume)
            ));
        }
        if let Some(principal) = principal {
            let persistence = volume.disk.as_ref().and_then(|d| d.persistence.as_ref());
            match persistence.and_then(|p| p.principal.as_deref()) {
                None => {
                    return Err(format!(
                        "Create volume operation attempted by principal '{principal}', but there is a volume in \
                         the operation with no principal set in 'disk.persistence'"
                    ))
                }
                Some(p) if p != principal => {
                    return Err(format!(
                        "Create volume operation attempted by authenticated principal '{principal}', which does \
                         not match a volume in the operation with principal '{p}' set in 'disk.persistence'"
                    ))
                }
                _ => {}
            }
        }
    }
    if framework.is_none() {
        return Ok(());
    }
    validate_allocated_to_single_role(&Resources::from_protos(&create.volumes))
        .map_err(|e| format!("Invalid volume resources: {}", e.0))
}

/// `operation::validate(Destroy)`.
pub fn validate_destroy(destroy: &operation::Destroy, checkpointed: &Resources, used: &[Resources]) -> Result {
    let mut volumes = Resources::from_protos(&destroy.volumes);
    volumes.unallocate();
    let protos = volumes.to_protos();
    validate_for_master(&protos).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_single_resource_provider(&protos).map_err(|e| format!("Invalid resources: {}", e.0))?;
    validate_persistent_volume(&protos).map_err(|e| format!("Not a persistent volume: {}", e.0))?;
    for volume in volumes.iter() {
        if volume.has_resource_provider() {
            continue;
        }
        if !checkpointed.contains_item(volume) {
            return Err("Persistent volumes not found".into());
        }
    }
    for resources in used {
        let mut resources = resources.clone();
        resources.unallocate();
        if volumes.iter().any(|v| resources.contains_item(v)) {
            return Err("Persistent volumes in use".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::framework_info::Capability;
    use crate::proto::mesos::FrameworkId;

    #[allow(deprecated)]
    fn framework(role: Option<&str>, roles: &[&str], multi: bool) -> FrameworkInfo {
        FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            role: role.map(String::from),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            capabilities: if multi {
                vec![Capability {
                    r#type: Some(crate::proto::mesos::framework_info::capability::Type::MultiRole as i32),
                }]
            } else {
                vec![]
            },
            ..Default::default()
        }
    }

    #[test]
    fn framework_roles_follow_the_multi_role_capability() {
        assert!(validate_framework_info(&framework(Some("a"), &[], false)).is_ok());
        assert_eq!(
            validate_framework_info(&framework(Some("a"), &["b"], true)).unwrap_err(),
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        );
        assert_eq!(
            validate_framework_info(&framework(None, &["b"], false)).unwrap_err(),
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
        );
        assert_eq!(
            validate_framework_info(&framework(None, &["b", "b", "c"], true)).unwrap_err(),
            "'FrameworkInfo.roles' contains duplicate items: { b }"
        );
        assert!(validate_framework_info(&framework(Some(".."), &[], false))
            .unwrap_err()
            .starts_with("'FrameworkInfo.role' is not a valid role: "));
        let mut bad_id = framework(None, &[], false);
        bad_id.id = Some(FrameworkId { value: "a/b".into() });
        assert_eq!(validate_framework_info(&bad_id).unwrap_err(), "'a/b' contains invalid characters");
    }

    #[test]
    fn immutable_fields_and_updates() {
        let old = framework(None, &[], false);
        let mut new = old.clone();
        new.user = "other".into();
        new.checkpoint = Some(true);
        assert!(validate_framework_update(&old, &new).unwrap_err().starts_with("Updating 'FrameworkInfo.user'"));
        preserve_immutable_fields(&old, &mut new);
        assert_eq!(validate_framework_update(&old, &new), Ok(()));
        new.principal = Some("p".into());
        assert_eq!(
            validate_framework_update(&old, &new).unwrap_err(),
            "Changing framework's principal is not allowed."
        );
    }

    #[test]
    fn failover_timeouts_must_fit_a_duration() {
        let mut info = framework(None, &[], false);
        info.failover_timeout = Some(1e12);
        assert!(!valid_failover_timeout(&info));
        info.failover_timeout = Some(f64::NAN);
        assert!(!valid_failover_timeout(&info));
        info.failover_timeout = Some(604800.0);
        assert!(valid_failover_timeout(&info));
    }

    #[test]
    fn doubles_print_like_cpp() {
        assert_eq!(cpp_double(1e12), "1e+12");
        assert_eq!(cpp_double(0.01), "0.01");
        assert_eq!(cpp_double(3600.0), "3600");
        assert_eq!(cpp_double(1234567.0), "1.23457e+06");
        assert_eq!(cpp_double(0.5), "0.5");
    }

    #[test]
    fn calls_need_their_fields() {
        use crate::proto::mesos::scheduler::call::Type;
        let call = |t: Type| Call {
            r#type: Some(t as i32),
            framework_id: Some(FrameworkId { value: "f".into() }),
            ..Default::default()
        };
        assert_eq!(validate_call(&call(Type::Accept)).unwrap_err(), "Expecting 'accept' to be present");
        assert_eq!(validate_call(&call(Type::Revive)), Ok(()));
        let mut ack = call(Type::Acknowledge);
        ack.acknowledge = Some(Default::default());
        assert_eq!(validate_call(&ack).unwrap_err(), "Invalid UUID of size 0");
        let no_fw = Call { r#type: Some(Type::Teardown as i32), ..Default::default() };
        assert_eq!(validate_call(&no_fw).unwrap_err(), "Expecting 'framework_id' to be present");
        assert_eq!(validate_call(&Call::default()).unwrap_err(), "Expecting 'type' to be present");
    }
}
