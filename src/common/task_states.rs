//! Facts about task states that master, agent and executors share.

use crate::proto::mesos::TaskState;

/// Whether a task in `state` is done for good (Mesos's
/// `protobuf::isTerminalState`). TASK_UNREACHABLE and TASK_UNKNOWN are not
/// terminal: such a task may still come back.
pub fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

/// [`is_terminal`] for a v1 state (v0 and v1 number their states alike).
pub fn is_terminal_v1(state: crate::proto::mesos::v1::TaskState) -> bool {
    TaskState::try_from(state as i32).is_ok_and(is_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_and_running_are_not_terminal() {
        assert!(is_terminal(TaskState::TaskGoneByOperator));
        assert!(!is_terminal(TaskState::TaskUnreachable));
        assert!(!is_terminal(TaskState::TaskUnknown));
        assert!(!is_terminal(TaskState::TaskKilling));
        assert!(is_terminal_v1(crate::proto::mesos::v1::TaskState::TaskFinished));
        assert!(!is_terminal_v1(crate::proto::mesos::v1::TaskState::TaskRunning));
    }
}
