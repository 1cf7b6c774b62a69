//! The agent's work directory, laid out exactly as Mesos lays it out
//! (`src/slave/paths.hpp`), so a work_dir written by Apache's agent is read
//! by ours and the other way round:
//!
//! ```text
//! <work_dir>
//! |-- slaves/<agent_id>/frameworks/<fw>/executors/<exec>/runs/<container>   sandboxes
//! |                                                    /runs/latest -> ...
//! `-- meta
//!     |-- boot_id
//!     |-- resources/resources.info, resources_and_operations.state
//!     `-- slaves
//!         |-- latest -> <agent_id>
//!         `-- <agent_id>
//!             |-- slave.info
//!             `-- frameworks/<fw>
//!                 |-- framework.info, framework.pid
//!                 `-- executors/<exec>
//!                     |-- executor.info, executor_generated_for_command_task
//!                     `-- runs
//!                         |-- latest -> <container>
//!                         `-- <container>
//!                             |-- executor.sentinel (once the run is over)
//!                             |-- http.marker (an HTTP executor subscribed)
//!                             |-- pids/forked.pid, pids/libprocess.pid
//!                             `-- tasks/<task>/task.info, task.updates
//! ```
//!
//! Every function is pure string work; the `root` argument is the work_dir
//! for sandboxes and `<work_dir>/meta` ([`meta_root`]) for checkpoints, as in
//! Mesos, where the same helpers serve both trees.

use std::path::{Path, PathBuf};

pub const LATEST: &str = "latest";
pub const BOOT_ID_FILE: &str = "boot_id";
pub const SLAVE_INFO_FILE: &str = "slave.info";
pub const FRAMEWORK_INFO_FILE: &str = "framework.info";
pub const FRAMEWORK_PID_FILE: &str = "framework.pid";
pub const EXECUTOR_INFO_FILE: &str = "executor.info";
pub const EXECUTOR_SENTINEL_FILE: &str = "executor.sentinel";
pub const GENERATED_FOR_COMMAND_TASK_FILE: &str = "executor_generated_for_command_task";
pub const HTTP_MARKER_FILE: &str = "http.marker";
pub const FORKED_PID_FILE: &str = "forked.pid";
pub const LIBPROCESS_PID_FILE: &str = "libprocess.pid";
pub const TASK_INFO_FILE: &str = "task.info";
pub const TASK_UPDATES_FILE: &str = "task.updates";
pub const RESOURCES_INFO_FILE: &str = "resources.info";
pub const RESOURCES_TARGET_FILE: &str = "resources.target";
pub const RESOURCE_STATE_FILE: &str = "resources_and_operations.state";
pub const RESOURCE_STATE_TARGET_FILE: &str = "resources_and_operations.target";

/// The identifiers of one executor run (one container).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunIds {
    pub agent: String,
    pub framework: String,
    pub executor: String,
    pub container: String,
}

pub fn meta_root(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

pub fn boot_id_path(meta: &Path) -> PathBuf {
    meta.join(BOOT_ID_FILE)
}

pub fn latest_agent_path(root: &Path) -> PathBuf {
    root.join("slaves").join(LATEST)
}

pub fn agent_path(root: &Path, agent: &str) -> PathBuf {
    root.join("slaves").join(agent)
}

pub fn agent_info_path(meta: &Path, agent: &str) -> PathBuf {
    agent_path(meta, agent).join(SLAVE_INFO_FILE)
}

pub fn frameworks_dir(root: &Path, agent: &str) -> PathBuf {
    agent_path(root, agent).join("frameworks")
}

pub fn framework_path(root: &Path, agent: &str, framework: &str) -> PathBuf {
    frameworks_dir(root, agent).join(framework)
}

pub fn framework_info_path(meta: &Path, agent: &str, framework: &str) -> PathBuf {
    framework_path(meta, agent, framework).join(FRAMEWORK_INFO_FILE)
}

pub fn framework_pid_path(meta: &Path, agent: &str, framework: &str) -> PathBuf {
    framework_path(meta, agent, framework).join(FRAMEWORK_PID_FILE)
}

pub fn executors_dir(root: &Path, agent: &str, framework: &str) -> PathBuf {
    framework_path(root, agent, framework).join("executors")
}

pub fn executor_path(root: &Path, agent: &str, framework: &str, executor: &str) -> PathBuf {
    executors_dir(root, agent, framework).join(executor)
}

pub fn executor_info_path(meta: &Path, agent: &str, framework: &str, executor: &str) -> PathBuf {
    executor_path(meta, agent, framework, executor).join(EXECUTOR_INFO_FILE)
}

pub fn generated_for_command_task_path(meta: &Path, agent: &str, framework: &str, executor: &str) -> PathBuf {
    executor_path(meta, agent, framework, executor).join(GENERATED_FOR_COMMAND_TASK_FILE)
}

pub fn runs_dir(root: &Path, agent: &str, framework: &str, executor: &str) -> PathBuf {
    executor_path(root, agent, framework, executor).join("runs")
}

pub fn latest_run_path(root: &Path, agent: &str, framework: &str, executor: &str) -> PathBuf {
    runs_dir(root, agent, framework, executor).join(LATEST)
}

pub fn run_path(root: &Path, run: &RunIds) -> PathBuf {
    runs_dir(root, &run.agent, &run.framework, &run.executor).join(&run.container)
}

pub fn sentinel_path(meta: &Path, run: &RunIds) -> PathBuf {
    run_path(meta, run).join(EXECUTOR_SENTINEL_FILE)
}

pub fn http_marker_path(meta: &Path, run: &RunIds) -> PathBuf {
    run_path(meta, run).join(HTTP_MARKER_FILE)
}

pub fn forked_pid_path(meta: &Path, run: &RunIds) -> PathBuf {
    run_path(meta, run).join("pids").join(FORKED_PID_FILE)
}

pub fn libprocess_pid_path(meta: &Path, run: &RunIds) -> PathBuf {
    run_path(meta, run).join("pids").join(LIBPROCESS_PID_FILE)
}

pub fn tasks_dir(meta: &Path, run: &RunIds) -> PathBuf {
    run_path(meta, run).join("tasks")
}

pub fn task_path(meta: &Path, run: &RunIds, task: &str) -> PathBuf {
    tasks_dir(meta, run).join(task)
}

pub fn task_info_path(meta: &Path, run: &RunIds, task: &str) -> PathBuf {
    task_path(meta, run, task).join(TASK_INFO_FILE)
}

pub fn task_updates_path(meta: &Path, run: &RunIds, task: &str) -> PathBuf {
    task_path(meta, run, task).join(TASK_UPDATES_FILE)
}

pub fn resources_dir(meta: &Path) -> PathBuf {
    meta.join("resources")
}

pub fn resources_info_path(meta: &Path) -> PathBuf {
    resources_dir(meta).join(RESOURCES_INFO_FILE)
}

pub fn resources_target_path(meta: &Path) -> PathBuf {
    resources_dir(meta).join(RESOURCES_TARGET_FILE)
}

pub fn resource_state_path(meta: &Path) -> PathBuf {
    resources_dir(meta).join(RESOURCE_STATE_FILE)
}

pub fn resource_state_target_path(meta: &Path) -> PathBuf {
    resources_dir(meta).join(RESOURCE_STATE_TARGET_FILE)
}

/// The sandbox's virtual path in `/files` (`getExecutorVirtualPath`).
pub fn executor_virtual_path(framework: &str, executor: &str) -> String {
    format!("/frameworks/{framework}/executors/{executor}/runs/{LATEST}")
}

/// The directory name of an id as Mesos validates ids for use in paths: no
/// `/`, not `.` or `..`, nothing empty, no NUL (so ids from the wire can
/// never climb out of the work_dir).
pub fn is_safe_component(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_mesos() {
        let work = Path::new("/var/lib/mesos");
        let meta = meta_root(work);
        let run = RunIds { agent: "S1".into(), framework: "F1".into(), executor: "E1".into(), container: "C1".into() };
        assert_eq!(run_path(work, &run), Path::new("/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/C1"));
        assert_eq!(
            task_updates_path(&meta, &run, "T1"),
            Path::new("/var/lib/mesos/meta/slaves/S1/frameworks/F1/executors/E1/runs/C1/tasks/T1/task.updates")
        );
        assert_eq!(
            forked_pid_path(&meta, &run),
            Path::new("/var/lib/mesos/meta/slaves/S1/frameworks/F1/executors/E1/runs/C1/pids/forked.pid")
        );
        assert_eq!(latest_agent_path(&meta), Path::new("/var/lib/mesos/meta/slaves/latest"));
        assert_eq!(
            generated_for_command_task_path(&meta, "S1", "F1", "E1"),
            Path::new("/var/lib/mesos/meta/slaves/S1/frameworks/F1/executors/E1/executor_generated_for_command_task")
        );
        assert_eq!(
            resource_state_path(&meta),
            Path::new("/var/lib/mesos/meta/resources/resources_and_operations.state")
        );
        assert_eq!(executor_virtual_path("F1", "E1"), "/frameworks/F1/executors/E1/runs/latest");
        assert!(!is_safe_component("..") && !is_safe_component("a/b") && is_safe_component("task-1.x"));
    }
}
