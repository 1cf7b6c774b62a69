//! `mesos-default-executor`: Mesos's default executor (task groups) over the
//! v1 executor API. See `mesos_rs::agent::executors`.

use mesos_rs::agent::executors::{core::Flavor, flags};

fn main() {
    std::process::exit(flags::main("mesos-default-executor", Flavor::Default, std::env::args().skip(1)));
}
