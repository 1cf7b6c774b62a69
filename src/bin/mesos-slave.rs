//! `mesos-slave`: the same program as `mesos-agent`, under its old name.

#[path = "mesos-agent.rs"]
mod agent;

fn main() -> std::process::ExitCode {
    agent::run()
}
