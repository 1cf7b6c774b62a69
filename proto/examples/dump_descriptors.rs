//! Writes the serialized `FileDescriptorSet` of every `.proto` file mesos-proto
//! compiles (`mesos_proto::FILE_DESCRIPTOR_SET`), to the file named by the first
//! argument, or to stdout when there is none or it is `-`.
//!
//! The compat-tests schema check diffs this against Apache Mesos 1.11's own
//! compiled descriptors: `cargo run -p mesos-proto --example dump_descriptors -- out.bin`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let bytes = mesos_proto::FILE_DESCRIPTOR_SET;
    match std::env::args_os().nth(1) {
        Some(path) if path != "-" => std::fs::write(path, bytes),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
    }
}
