//! The executors' command-line flags (Mesos's `launcher/executor.cpp` and
//! `default_executor.cpp` `Flags`, plus the logging flags). As in Mesos they
//! are read from the command line only (no `MESOS_` environment prefix):
//! the agent sets `MESOS_*` variables for other purposes.

use crate::common::flags::{FlagDef, Flags, Kind};
use crate::common::logging;
use crate::http_api::json;
use crate::proto::mesos::v1::CommandInfo;
use crate::proto::mesos::Environment;

use super::core::Flavor;
use super::env::ExecutorEnv;
use super::runner::RunOptions;

const LAUNCHER_DIR: FlagDef = FlagDef::new("launcher_dir", Kind::Path, None, "Directory path of Mesos binaries.");

/// `mesos-executor`'s own flags.
pub const COMMAND_EXECUTOR_FLAGS: &[FlagDef] = &[
    FlagDef::new("rootfs", Kind::Path, None, "The path to the root filesystem for the task"),
    FlagDef::new(
        "sandbox_directory",
        Kind::Path,
        None,
        "The absolute path for the directory in the container where the\nsandbox is mapped to",
    ),
    FlagDef::new("working_directory", Kind::Path, None, "The working directory for the task in the container."),
    FlagDef::new("user", Kind::String, None, "The user that the task should be running as."),
    FlagDef::new(
        "task_command",
        Kind::Json,
        None,
        "If specified, this is the overrided command for launching the\ntask (instead of the command from TaskInfo).",
    ),
    FlagDef::new(
        "task_environment",
        Kind::Json,
        None,
        "If specified, this is a JSON-ified `Environment` protobuf that\nshould be added to the executor's environment before launching\nthe task.",
    ),
    FlagDef::new("effective_capabilities", Kind::Json, None, "Capabilities granted to the command at launch."),
    FlagDef::new("bounding_capabilities", Kind::Json, None, "The bounding set of capabilities the command can use."),
    FlagDef::new("task_launch_info", Kind::Json, None, "The launch info to run the task."),
    FlagDef::new("tty_slave_path", Kind::Path, None, "A path to the slave end of the attached TTY if there is one."),
    FlagDef::new(
        "task_supplementary_groups",
        Kind::String,
        None,
        "Comma-separated list of supplementary groups to run the task with.",
    ),
    LAUNCHER_DIR,
];

/// Every flag of `mesos-executor` or `mesos-default-executor`.
pub fn flag_table(flavor: Flavor) -> Vec<FlagDef> {
    let own: &[FlagDef] = match flavor {
        Flavor::Command => COMMAND_EXECUTOR_FLAGS,
        Flavor::Default => std::slice::from_ref(&LAUNCHER_DIR),
    };
    own.iter().chain(logging::FLAGS).cloned().collect()
}

/// Loads the flags from the command line (no environment, as Mesos).
pub fn load(program: &str, flavor: Flavor, args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
    Flags::load(program, &flag_table(flavor), args, Vec::<(String, String)>::new(), None).map_err(|e| e.0)
}

/// What the flags ask of the run.
pub fn options(flavor: Flavor, flags: &Flags) -> Result<RunOptions, String> {
    let mut options = RunOptions::new(flavor);
    if flavor == Flavor::Default {
        return Ok(options);
    }
    if flags.is_set("rootfs") {
        return Err("Running a task in its own root filesystem (--rootfs) is not supported".into());
    }
    for unsupported in ["effective_capabilities", "bounding_capabilities", "task_launch_info", "tty_slave_path"] {
        if flags.is_set(unsupported) {
            tracing::warn!("Ignoring --{unsupported}: not supported by this executor");
        }
    }
    let raw = |name: &str| flags.raw(name).filter(|v| !v.is_empty());
    if let Some(text) = raw("task_command") {
        options.task_command =
            Some(json::from_str::<CommandInfo>(text).map_err(|e| format!("Failed to parse --task_command: {e}"))?);
    }
    if let Some(text) = raw("task_environment") {
        options.task_environment =
            Some(json::from_str::<Environment>(text).map_err(|e| format!("Failed to parse --task_environment: {e}"))?);
    }
    options.user = raw("user").map(String::from);
    Ok(options)
}

/// What an executor binary does: flags, logging, environment, run; the
/// process exit code.
pub fn main(program: &str, flavor: Flavor, args: impl IntoIterator<Item = String>) -> i32 {
    let flags = match load(program, flavor, args) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("{e}\n\n{}", crate::common::flags::usage(program, &flag_table(flavor)));
            return 1;
        }
    };
    if flags.help {
        println!("{}", flags.usage());
        return 0;
    }
    let _logging = match logging::init(program, &flags) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for warning in &flags.warnings {
        tracing::warn!("{warning}");
    }
    let prepared = options(flavor, &flags).and_then(|o| Ok((o, ExecutorEnv::from_process().map_err(|e| e.0)?)));
    let (options, env) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("Failed to start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(super::runner::run(env, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mesos_flags_are_accepted() {
        let flags = load(
            "mesos-executor",
            Flavor::Command,
            args(&[
                "--launcher_dir=/usr/libexec/mesos",
                r#"--task_command={"shell":true,"value":"echo overridden"}"#,
                r#"--task_environment={"variables":[{"name":"A","value":"1"}]}"#,
                "--user=nobody",
                "--logging_level=WARNING",
            ]),
        )
        .unwrap();
        let parsed = options(Flavor::Command, &flags).unwrap();
        assert_eq!(parsed.task_command.unwrap().value.as_deref(), Some("echo overridden"));
        assert_eq!(parsed.task_environment.unwrap().variables[0].name, "A");
        assert_eq!(parsed.user.as_deref(), Some("nobody"));
        assert!(load("mesos-executor", Flavor::Command, args(&["--bogus=1"])).is_err());
        let flags = load("mesos-executor", Flavor::Command, args(&["--rootfs=/x"])).unwrap();
        assert!(options(Flavor::Command, &flags).is_err());
        assert!(load("mesos-default-executor", Flavor::Default, args(&["--launcher_dir=/x"])).is_ok());
        assert!(load("mesos-default-executor", Flavor::Default, args(&["--user=x"])).is_err());
    }
}
