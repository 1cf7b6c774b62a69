//! Compiles `proto/mesos/**/*.proto` with protox (pure Rust, no `protoc`) and
//! generates prost types that also implement `prost_reflect::ReflectMessage`
//! (the reflection powers Mesos-style JSON).

use std::path::{Path, PathBuf};

fn protos(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read proto dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            protos(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    protos(&root.join("mesos"), &mut files);
    files.sort();
    println!("cargo:rerun-if-changed=mesos");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let fds = protox::compile(&files, [&root]).unwrap_or_else(|e| panic!("{e:?}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let fds_path = out.join("file_descriptor_set.bin");
    std::fs::write(&fds_path, prost::Message::encode_to_vec(&fds)).unwrap();

    let mut config = prost_build::Config::new();
    config.skip_protoc_run();
    config.include_file("_includes.rs");
    // Mesos has enum values and message names that clash once camel-cased in a
    // few places; prost handles it, but keep generated code quiet.
    config.enum_attribute(".", "#[allow(clippy::enum_variant_names)]");
    prost_reflect_build::Builder::new()
        .file_descriptor_set_path(&fds_path)
        .descriptor_pool("crate::DESCRIPTOR_POOL")
        .compile_protos_with_config(config, &files, &[&root])
        .unwrap_or_else(|e| panic!("{e:?}"));
}
