//! `mesos-docker-executor`: runs one command task as a Docker container
//! (Mesos's docker executor) over the v1 executor API. See
//! `mesos_rs::agent::executors::docker`.

fn main() {
    std::process::exit(mesos_rs::agent::executors::docker::main(std::env::args().skip(1)));
}
