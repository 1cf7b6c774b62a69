//! `org.apache.mesos.MesosExecutorDriver`: the Java executor driver.
//!
//! Shaped like the scheduler binding: `__executor` holds the [`Bridge`]
//! callbacks go through, `__driver` the Rust executor driver (configured from
//! the `MESOS_*` environment the agent gives executors). Each callback
//! attaches the driver's callback thread, calls the Java `Executor` with the
//! Java driver object, and detaches; a callback that throws aborts the driver.

use std::sync::Arc;

use jni::objects::JObject;
use jni::signature::MethodSignature;
use jni::strings::JNIStr;
use jni::{jni_sig, jni_str, Env, EnvUnowned};

use mesos_rs::driver::{Executor, ExecutorDriver, MesosExecutorDriver};
use mesos_rs::proto::mesos::{self, ExecutorInfo, FrameworkInfo, SlaveInfo, TaskId, TaskInfo, TaskStatus};

use crate::backend;
use crate::bridge::{self, obj, Args, Bridge};
use crate::error::{native, Result};
use crate::export::export;
use crate::jvm;
use crate::protos::{self, from_java, to_java, JavaProto};

const CLASS: &str = "org.apache.mesos.MesosExecutorDriver";

/// Classes the callbacks create objects of, resolved in `initialize`.
const CALLBACK_CLASSES: &[&str] = &[
    ExecutorInfo::JAVA_CLASS,
    FrameworkInfo::JAVA_CLASS,
    SlaveInfo::JAVA_CLASS,
    TaskInfo::JAVA_CLASS,
    TaskId::JAVA_CLASS,
    protos::STATUS_CLASS,
];

/// The Rust [`Executor`] the driver calls: each callback becomes a call of
/// the Java `Executor`.
pub struct JniExecutor {
    bridge: Arc<Bridge>,
}

impl JniExecutor {
    fn call(
        &self,
        driver: &dyn ExecutorDriver,
        method: &'static JNIStr,
        sig: &MethodSignature<'_, '_>,
        args: impl Args,
    ) {
        let delivery = self.bridge.deliver(jni_str!("executor"), "Lorg/apache/mesos/Executor;", method, sig, args);
        if delivery.aborts() {
            tracing::warn!("executor callback {} failed ({delivery:?}): aborting the driver", method.to_str());
            driver.abort();
        }
    }
}

impl Executor for JniExecutor {
    fn registered(
        &mut self,
        driver: &dyn ExecutorDriver,
        executor_info: &ExecutorInfo,
        framework_info: &FrameworkInfo,
        slave_info: &SlaveInfo,
    ) {
        self.call(
            driver,
            jni_str!("registered"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;Lorg/apache/mesos/Protos$ExecutorInfo;Lorg/apache/mesos/Protos$FrameworkInfo;Lorg/apache/mesos/Protos$SlaveInfo;)V"),
            |env, classes| {
                Ok(vec![
                    obj(to_java(env, classes, executor_info)?),
                    obj(to_java(env, classes, framework_info)?),
                    obj(to_java(env, classes, slave_info)?),
                ])
            },
        );
    }

    fn reregistered(&mut self, driver: &dyn ExecutorDriver, slave_info: &SlaveInfo) {
        self.call(
            driver,
            jni_str!("reregistered"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;Lorg/apache/mesos/Protos$SlaveInfo;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, slave_info)?)]),
        );
    }

    fn disconnected(&mut self, driver: &dyn ExecutorDriver) {
        self.call(driver, jni_str!("disconnected"), &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;)V"), |_, _| {
            Ok(vec![])
        });
    }

    fn launch_task(&mut self, driver: &dyn ExecutorDriver, task: &TaskInfo) {
        self.call(
            driver,
            jni_str!("launchTask"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;Lorg/apache/mesos/Protos$TaskInfo;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, task)?)]),
        );
    }

    fn kill_task(&mut self, driver: &dyn ExecutorDriver, task_id: &TaskId) {
        self.call(
            driver,
            jni_str!("killTask"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;Lorg/apache/mesos/Protos$TaskID;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, task_id)?)]),
        );
    }

    fn framework_message(&mut self, driver: &dyn ExecutorDriver, data: &[u8]) {
        self.call(
            driver,
            jni_str!("frameworkMessage"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;[B)V"),
            |env, _| Ok(vec![obj(jvm::new_bytes(env, data)?)]),
        );
    }

    fn shutdown(&mut self, driver: &dyn ExecutorDriver) {
        self.call(driver, jni_str!("shutdown"), &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;)V"), |_, _| Ok(vec![]));
    }

    fn error(&mut self, driver: &dyn ExecutorDriver, message: &str) {
        self.call(
            driver,
            jni_str!("error"),
            &jni_sig!("(Lorg/apache/mesos/ExecutorDriver;Ljava/lang/String;)V"),
            |env, _| Ok(vec![obj(env.new_string(message)?.into())]),
        );
    }
}

// --- natives -----------------------------------------------------------------

fn initialize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "MesosExecutorDriver.initialize", |env| {
        let bridge = Bridge::new(env, &this, CALLBACK_CLASSES)?;
        bridge::install(env, &this, jni_str!("__executor"), bridge, |bridge| {
            backend::executor_driver(Box::new(JniExecutor { bridge }))
        })
    })
}

fn finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "MesosExecutorDriver.finalize", |env| {
        bridge::release::<MesosExecutorDriver>(env, &this, jni_str!("__executor"))
    })
}

fn call<'l>(
    env: &mut Env<'l>,
    this: &JObject<'_>,
    call: impl FnOnce(&MesosExecutorDriver) -> mesos::Status,
) -> Result<JObject<'l>> {
    bridge::call_driver(env, this, CLASS, call)
}

fn start<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.start", |env| call(env, &this, |d| d.start()))
}

fn stop<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.stop", |env| call(env, &this, |d| d.stop()))
}

fn abort<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.abort", |env| call(env, &this, |d| d.abort()))
}

fn join<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.join", |env| call(env, &this, |d| d.join()))
}

fn send_status_update<'l>(env: EnvUnowned<'l>, this: JObject<'l>, status: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.sendStatusUpdate", |env| {
        let status: TaskStatus = from_java(env, &status, "status")?;
        call(env, &this, |d| d.send_status_update(&status))
    })
}

fn send_framework_message<'l>(env: EnvUnowned<'l>, this: JObject<'l>, data: JObject<'l>) -> JObject<'l> {
    native(env, "MesosExecutorDriver.sendFrameworkMessage", |env| {
        let data = jvm::bytes(env, &data, "data")?;
        call(env, &this, |d| d.send_framework_message(&data))
    })
}

type O<'l> = JObject<'l>;

export!(both "org.apache.mesos.MesosExecutorDriver" "initialize" "()V",
    initialize_s / initialize_l, () -> (), initialize);
export!(both "org.apache.mesos.MesosExecutorDriver" "finalize" "()V",
    finalize_s / finalize_l, () -> (), finalize);
export!(both "org.apache.mesos.MesosExecutorDriver" "start" "()Lorg/apache/mesos/Protos$Status;",
    start_s / start_l, () -> O<'local>, start);
export!(both "org.apache.mesos.MesosExecutorDriver" "stop" "()Lorg/apache/mesos/Protos$Status;",
    stop_s / stop_l, () -> O<'local>, stop);
export!(both "org.apache.mesos.MesosExecutorDriver" "abort" "()Lorg/apache/mesos/Protos$Status;",
    abort_s / abort_l, () -> O<'local>, abort);
export!(both "org.apache.mesos.MesosExecutorDriver" "join" "()Lorg/apache/mesos/Protos$Status;",
    join_s / join_l, () -> O<'local>, join);
export!(both "org.apache.mesos.MesosExecutorDriver" "sendStatusUpdate"
    "(Lorg/apache/mesos/Protos$TaskStatus;)Lorg/apache/mesos/Protos$Status;",
    send_status_update_s / send_status_update_l, (status: O<'local>) -> O<'local>, send_status_update);
export!(both "org.apache.mesos.MesosExecutorDriver" "sendFrameworkMessage" "([B)Lorg/apache/mesos/Protos$Status;",
    send_framework_message_s / send_framework_message_l, (data: O<'local>) -> O<'local>, send_framework_message);
