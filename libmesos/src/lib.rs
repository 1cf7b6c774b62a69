//! `libmesos.so` for Apache Mesos's Java bindings (`org.apache.mesos.*`).
//!
//! The unmodified bindings jar (Apache's, or the shaded copy Spark ships)
//! loads this library through `MesosNativeLibrary.load()`
//! (`MESOS_NATIVE_JAVA_LIBRARY`, then `MESOS_NATIVE_LIBRARY`, then
//! `System.loadLibrary("mesos")`) and calls its natives. They convert bytes
//! and callbacks only: the driver logic is the Rust drivers'
//! (`mesos_rs::driver`).
//!
//! # Layout
//! - `export`: how natives are exported under the JNI names the JVM binds.
//! - [`error`]: the error type and the policy turning errors and panics into
//!   Java exceptions at every native boundary.
//! - [`jvm`]: handles in `long` fields, strings, arrays, collections, class
//!   lookup from driver threads, thread attachment for callbacks.
//! - [`protos`]: protobufs across the boundary as bytes (`toByteArray` /
//!   `parseFrom`).
//! - [`runtime`]: the tokio runtime of libmesos's own I/O.
//! - [`backend`]: the Rust drivers behind the bindings.
//! - [`bridge`]: the Java object behind a driver: callbacks from driver
//!   threads, and the native handles it carries.
//! - [`scheduler`], [`executor`]: `MesosSchedulerDriver`, `MesosExecutorDriver`.
//! - [`state`]: `org.apache.mesos.state.*` (`ZooKeeperState` over ZooKeeper
//!   with Apache's layout; `LevelDBState`, `LogState` unsupported).
//! - [`log`]: `org.apache.mesos.Log` (the replicated log: unsupported).
//! - [`v1`]: `V1Mesos` (the v1 scheduler HTTP API) and `V0Mesos` (v1 calls
//!   over the v0 driver).
//!
//! This file: `JNI_OnLoad` and `MesosNativeLibrary._version`.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::JObject;
use jni::sys::{jint, JNI_ERR, JNI_VERSION_1_6};
use jni::{jni_sig, jni_str, Env, EnvUnowned, JValue, JavaVM};

mod export;

pub mod backend;
pub mod bridge;
pub mod error;
pub mod executor;
pub mod jvm;
pub mod log;
pub mod protos;
pub mod runtime;
pub mod scheduler;
pub mod state;
pub mod v1;

use error::{native, Result};
use export::export;

/// The Mesos version this library reports to the bindings
/// (`MesosNativeLibrary.version()`): frameworks check it (Marathon refuses
/// anything before 1.5.0).
pub const MESOS_VERSION: (i64, i64, i64) = (1, 11, 0);

/// Called by the JVM when it loads the library: as Apache's, keeps the
/// loading thread's context class loader for lookups from driver threads and
/// sets `MesosNativeLibrary.loaded`, so a library loaded with `System.load`
/// is not loaded a second time by the bindings.
///
/// # Safety
/// Only the JVM calls this, with its own valid `JavaVM` pointer, on a thread
/// attached to it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _reserved: *mut c_void) -> jint {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the JVM passes its own, valid `JavaVM` pointer to JNI_OnLoad.
        let vm = unsafe { JavaVM::from_raw(vm) };
        vm.attach_current_thread(|env| -> Result<()> {
            on_load(env).inspect_err(|error| {
                jvm::describe_and_clear(env);
                tracing::error!("libmesos JNI_OnLoad: {error}");
            })
        })
    }));
    match loaded {
        Ok(Ok(())) => JNI_VERSION_1_6,
        _ => JNI_ERR,
    }
}

fn on_load(env: &mut Env<'_>) -> Result<()> {
    let thread = env
        .call_static_method(
            jni_str!("java/lang/Thread"),
            jni_str!("currentThread"),
            jni_sig!("()Ljava/lang/Thread;"),
            &[],
        )?
        .l()?;
    let loader =
        env.call_method(&thread, jni_str!("getContextClassLoader"), jni_sig!("()Ljava/lang/ClassLoader;"), &[])?.l()?;
    if !loader.is_null() {
        let loader = env.cast_local::<jni::objects::JClassLoader>(loader)?;
        jvm::set_loader(env.new_global_ref(loader)?);
    }
    let class = jvm::find_class(env, "org/apache/mesos/MesosNativeLibrary")?;
    env.set_static_field(&class, jni_str!("loaded"), jni_sig!("Z"), JValue::Bool(true))?;
    tracing::debug!("libmesos (mesos-rs) loaded");
    Ok(())
}

/// `MesosNativeLibrary._version()`: a new `MesosNativeLibrary.Version`.
fn version<'l>(env: EnvUnowned<'l>, _class: JObject<'l>) -> JObject<'l> {
    native(env, "MesosNativeLibrary._version", |env| {
        let class = jvm::find_class(env, "org/apache/mesos/MesosNativeLibrary$Version")?;
        let (major, minor, patch) = MESOS_VERSION;
        Ok(env.new_object(
            &class,
            jni_sig!("(JJJ)V"),
            &[JValue::Long(major), JValue::Long(minor), JValue::Long(patch)],
        )?)
    })
}

export!(both "org.apache.mesos.MesosNativeLibrary" "_version" "()Lorg/apache/mesos/MesosNativeLibrary$Version;",
    version_s / version_l, () -> JObject<'local>, version);
