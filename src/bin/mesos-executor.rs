//! `mesos-executor`: Mesos's command executor (one command task) over the
//! v1 executor API. See `mesos_rs::agent::executors`.

use mesos_rs::agent::executors::{core::Flavor, flags};

fn main() {
    std::process::exit(flags::main("mesos-executor", Flavor::Command, std::env::args().skip(1)));
}
