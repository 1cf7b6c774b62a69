//! `org.apache.mesos.MesosSchedulerDriver`: the Java scheduler driver.
//!
//! The Java object carries two handles, as Apache's does: `__scheduler`, the
//! [`Bridge`] callbacks go through, and `__driver`, the Rust driver. The
//! Rust driver owns a [`JniScheduler`] and calls it on its callback thread,
//! one callback at a time; each callback attaches that thread to the JVM,
//! calls the Java `Scheduler` with the Java driver object, and detaches. A
//! callback that throws is described on stderr and aborts the driver, as in
//! Apache's glue.

use std::sync::Arc;

use jni::objects::JObject;
use jni::signature::MethodSignature;
use jni::strings::JNIStr;
use jni::{jni_sig, jni_str, Env, EnvUnowned, JValueOwned};

use mesos_rs::driver::{MesosSchedulerDriver, Scheduler, SchedulerDriver};
use mesos_rs::proto::mesos::{
    self, scheduler::OfferConstraints, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer,
    OfferId, Request, SlaveId, TaskId, TaskInfo, TaskStatus,
};

use crate::backend::{self, SchedulerConfig};
use crate::bridge::{self, obj, Args, Bridge};
use crate::error::{native, Result};
use crate::export::export;
use crate::jvm;
use crate::protos::{self, from_java, list_from_java, to_java, JavaProto};

const CLASS: &str = "org.apache.mesos.MesosSchedulerDriver";

/// Classes the callbacks create objects of, resolved in `initialize`.
const CALLBACK_CLASSES: &[&str] = &[
    FrameworkId::JAVA_CLASS,
    MasterInfo::JAVA_CLASS,
    Offer::JAVA_CLASS,
    OfferId::JAVA_CLASS,
    TaskStatus::JAVA_CLASS,
    ExecutorId::JAVA_CLASS,
    SlaveId::JAVA_CLASS,
    protos::STATUS_CLASS,
];

/// The Rust [`Scheduler`] the driver calls: each callback becomes a call of
/// the Java `Scheduler`.
pub struct JniScheduler {
    bridge: Arc<Bridge>,
}

impl JniScheduler {
    fn call(
        &self,
        driver: &dyn SchedulerDriver,
        method: &'static JNIStr,
        sig: &MethodSignature<'_, '_>,
        args: impl Args,
    ) {
        let delivery = self.bridge.deliver(jni_str!("scheduler"), "Lorg/apache/mesos/Scheduler;", method, sig, args);
        if delivery.aborts() {
            tracing::warn!("scheduler callback {} failed ({delivery:?}): aborting the driver", method.to_str());
            driver.abort();
        }
    }
}

impl Scheduler for JniScheduler {
    fn registered(&mut self, driver: &dyn SchedulerDriver, framework_id: &FrameworkId, master_info: &MasterInfo) {
        self.call(
            driver,
            jni_str!("registered"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$FrameworkID;Lorg/apache/mesos/Protos$MasterInfo;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, framework_id)?), obj(to_java(env, classes, master_info)?)]),
        );
    }

    fn reregistered(&mut self, driver: &dyn SchedulerDriver, master_info: &MasterInfo) {
        self.call(
            driver,
            jni_str!("reregistered"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$MasterInfo;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, master_info)?)]),
        );
    }

    fn disconnected(&mut self, driver: &dyn SchedulerDriver) {
        self.call(driver, jni_str!("disconnected"), &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;)V"), |_, _| {
            Ok(vec![])
        });
    }

    fn resource_offers(&mut self, driver: &dyn SchedulerDriver, offers: &[Offer]) {
        self.call(
            driver,
            jni_str!("resourceOffers"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Ljava/util/List;)V"),
            |env, classes| {
                let items = offers.iter().map(|o| to_java(env, classes, o)).collect::<Result<Vec<_>>>()?;
                Ok(vec![obj(jvm::array_list(env, &items)?)])
            },
        );
    }

    fn offer_rescinded(&mut self, driver: &dyn SchedulerDriver, offer_id: &OfferId) {
        self.call(
            driver,
            jni_str!("offerRescinded"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$OfferID;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, offer_id)?)]),
        );
    }

    fn status_update(&mut self, driver: &dyn SchedulerDriver, status: &TaskStatus) {
        self.call(
            driver,
            jni_str!("statusUpdate"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$TaskStatus;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, status)?)]),
        );
    }

    fn framework_message(
        &mut self,
        driver: &dyn SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    ) {
        self.call(
            driver,
            jni_str!("frameworkMessage"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$ExecutorID;Lorg/apache/mesos/Protos$SlaveID;[B)V"),
            |env, classes| {
                Ok(vec![
                    obj(to_java(env, classes, executor_id)?),
                    obj(to_java(env, classes, slave_id)?),
                    obj(jvm::new_bytes(env, data)?),
                ])
            },
        );
    }

    fn slave_lost(&mut self, driver: &dyn SchedulerDriver, slave_id: &SlaveId) {
        self.call(
            driver,
            jni_str!("slaveLost"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$SlaveID;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, slave_id)?)]),
        );
    }

    fn executor_lost(
        &mut self,
        driver: &dyn SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        status: i32,
    ) {
        self.call(
            driver,
            jni_str!("executorLost"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Lorg/apache/mesos/Protos$ExecutorID;Lorg/apache/mesos/Protos$SlaveID;I)V"),
            |env, classes| {
                Ok(vec![
                    obj(to_java(env, classes, executor_id)?),
                    obj(to_java(env, classes, slave_id)?),
                    JValueOwned::Int(status),
                ])
            },
        );
    }

    fn error(&mut self, driver: &dyn SchedulerDriver, message: &str) {
        self.call(
            driver,
            jni_str!("error"),
            &jni_sig!("(Lorg/apache/mesos/SchedulerDriver;Ljava/lang/String;)V"),
            |env, _| Ok(vec![obj(env.new_string(message)?.into())]),
        );
    }
}

// --- natives -----------------------------------------------------------------

/// A boolean field that older bindings may lack (`implicitAcknowledgements`
/// came in 0.22): `default` when absent.
fn optional_bool_field(env: &mut Env<'_>, obj: &JObject<'_>, name: &JNIStr, default: bool) -> Result<bool> {
    match env.get_field(obj, name, jni_sig!("Z")) {
        Ok(value) => Ok(value.z()?),
        Err(jni::errors::Error::FieldNotFound { .. }) => Ok(default),
        Err(jni::errors::Error::JavaException) => {
            env.exception_clear();
            Ok(default)
        }
        Err(error) => Err(error.into()),
    }
}

fn initialize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "MesosSchedulerDriver.initialize", |env| {
        let jframework =
            env.get_field(&this, jni_str!("framework"), jni_sig!("Lorg/apache/mesos/Protos$FrameworkInfo;"))?.l()?;
        let framework: FrameworkInfo = from_java(env, &jframework, "framework")?;
        let jmaster = env.get_field(&this, jni_str!("master"), jni_sig!("Ljava/lang/String;"))?.l()?;
        let master = jvm::string(env, &jmaster, "master")?;
        let implicit_acknowledgements = optional_bool_field(env, &this, jni_str!("implicitAcknowledgements"), true)?;
        let credential = match jvm::optional_object_field(
            env,
            &this,
            jni_str!("credential"),
            "Lorg/apache/mesos/Protos$Credential;",
        )? {
            Some(c) if !c.is_null() => Some(from_java::<Credential>(env, &c, "credential")?),
            _ => None,
        };
        let suppressed_roles =
            match jvm::optional_object_field(env, &this, jni_str!("suppressedRoles"), "Ljava/util/Collection;")? {
                Some(roles) if !roles.is_null() => jvm::strings(env, &roles, "suppressedRoles")?,
                _ => Vec::new(),
            };

        tracing::info!(master = %master, framework = %framework.name, "creating the scheduler driver");
        let config = SchedulerConfig { framework, suppressed_roles, master, implicit_acknowledgements, credential };
        let bridge = Bridge::new(env, &this, CALLBACK_CLASSES)?;
        bridge::install(env, &this, jni_str!("__scheduler"), bridge, |bridge| {
            backend::scheduler_driver(Box::new(JniScheduler { bridge }), config)
        })
    })
}

fn finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "MesosSchedulerDriver.finalize", |env| {
        bridge::release::<MesosSchedulerDriver>(env, &this, jni_str!("__scheduler"))
    })
}

/// Runs `call` on the driver of `this` and returns its status as a Java
/// `Protos.Status`.
fn call<'l>(
    env: &mut Env<'l>,
    this: &JObject<'_>,
    call: impl FnOnce(&MesosSchedulerDriver) -> mesos::Status,
) -> Result<JObject<'l>> {
    bridge::call_driver(env, this, CLASS, call)
}

/// `Filters` arguments: Java's wrappers always pass one; `null` means none.
fn filters(env: &mut Env<'_>, jfilters: &JObject<'_>) -> Result<Option<Filters>> {
    if jfilters.is_null() {
        return Ok(None);
    }
    Ok(Some(from_java(env, jfilters, "filters")?))
}

fn start<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.start", |env| call(env, &this, |d| d.start()))
}

fn stop<'l>(env: EnvUnowned<'l>, this: JObject<'l>, failover: jni::sys::jboolean) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.stop", |env| call(env, &this, |d| d.stop(failover)))
}

fn abort<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.abort", |env| call(env, &this, |d| d.abort()))
}

fn join<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.join", |env| call(env, &this, |d| d.join()))
}

fn request_resources<'l>(env: EnvUnowned<'l>, this: JObject<'l>, requests: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.requestResources", |env| {
        let requests = list_from_java::<Request>(env, &requests, "requests")?;
        call(env, &this, |d| d.request_resources(&requests))
    })
}

fn launch_tasks_on_offer<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    offer_id: JObject<'l>,
    tasks: JObject<'l>,
    jfilters: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.launchTasks", |env| {
        let offer_id: OfferId = from_java(env, &offer_id, "offerId")?;
        let tasks = list_from_java::<TaskInfo>(env, &tasks, "tasks")?;
        let filters = filters(env, &jfilters)?;
        call(env, &this, |d| d.launch_tasks(&[offer_id], &tasks, filters.as_ref()))
    })
}

fn launch_tasks<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    offer_ids: JObject<'l>,
    tasks: JObject<'l>,
    jfilters: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.launchTasks", |env| {
        let offer_ids = list_from_java::<OfferId>(env, &offer_ids, "offerIds")?;
        let tasks = list_from_java::<TaskInfo>(env, &tasks, "tasks")?;
        let filters = filters(env, &jfilters)?;
        call(env, &this, |d| d.launch_tasks(&offer_ids, &tasks, filters.as_ref()))
    })
}

fn kill_task<'l>(env: EnvUnowned<'l>, this: JObject<'l>, task_id: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.killTask", |env| {
        let task_id: TaskId = from_java(env, &task_id, "taskId")?;
        call(env, &this, |d| d.kill_task(&task_id))
    })
}

fn accept_offers<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    offer_ids: JObject<'l>,
    operations: JObject<'l>,
    jfilters: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.acceptOffers", |env| {
        let offer_ids = list_from_java::<OfferId>(env, &offer_ids, "offerIds")?;
        let operations = list_from_java::<mesos::offer::Operation>(env, &operations, "operations")?;
        let filters = filters(env, &jfilters)?;
        call(env, &this, |d| d.accept_offers(&offer_ids, &operations, filters.as_ref()))
    })
}

fn decline_offer<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    offer_id: JObject<'l>,
    jfilters: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.declineOffer", |env| {
        let offer_id: OfferId = from_java(env, &offer_id, "offerId")?;
        let filters = filters(env, &jfilters)?;
        call(env, &this, |d| d.decline_offer(&offer_id, filters.as_ref()))
    })
}

fn revive_offers<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.reviveOffers", |env| call(env, &this, |d| d.revive_offers(&[])))
}

fn revive_offers_for<'l>(env: EnvUnowned<'l>, this: JObject<'l>, roles: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.reviveOffers", |env| {
        let roles = jvm::strings(env, &roles, "roles")?;
        call(env, &this, |d| d.revive_offers_for_roles(&roles))
    })
}

fn suppress_offers<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.suppressOffers", |env| call(env, &this, |d| d.suppress_offers(&[])))
}

fn suppress_offers_for<'l>(env: EnvUnowned<'l>, this: JObject<'l>, roles: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.suppressOffers", |env| {
        let roles = jvm::strings(env, &roles, "roles")?;
        call(env, &this, |d| d.suppress_offers_for_roles(&roles))
    })
}

fn acknowledge_status_update<'l>(env: EnvUnowned<'l>, this: JObject<'l>, status: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.acknowledgeStatusUpdate", |env| {
        let status: TaskStatus = from_java(env, &status, "status")?;
        call(env, &this, |d| d.acknowledge_status_update(&status))
    })
}

fn send_framework_message<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    executor_id: JObject<'l>,
    slave_id: JObject<'l>,
    data: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.sendFrameworkMessage", |env| {
        let executor_id: ExecutorId = from_java(env, &executor_id, "executorId")?;
        let slave_id: SlaveId = from_java(env, &slave_id, "slaveId")?;
        let data = jvm::bytes(env, &data, "data")?;
        call(env, &this, |d| d.send_framework_message(&executor_id, &slave_id, &data))
    })
}

fn reconcile_tasks<'l>(env: EnvUnowned<'l>, this: JObject<'l>, statuses: JObject<'l>) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.reconcileTasks", |env| {
        let statuses = list_from_java::<TaskStatus>(env, &statuses, "statuses")?;
        call(env, &this, |d| d.reconcile_tasks(&statuses))
    })
}

fn update_framework<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    framework: JObject<'l>,
    roles: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.updateFramework", |env| {
        let framework: FrameworkInfo = from_java(env, &framework, "frameworkInfo")?;
        let roles = jvm::strings(env, &roles, "suppressedRoles")?;
        call(env, &this, |d| d.update_framework(&framework, &roles, None))
    })
}

fn update_framework_with_constraints<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    framework: JObject<'l>,
    roles: JObject<'l>,
    constraints: JObject<'l>,
) -> JObject<'l> {
    native(env, "MesosSchedulerDriver.updateFrameworkWithConstraints", |env| {
        let framework: FrameworkInfo = from_java(env, &framework, "frameworkInfo")?;
        let roles = jvm::strings(env, &roles, "suppressedRoles")?;
        let constraints: OfferConstraints = from_java(env, &constraints, "offerConstraints")?;
        call(env, &this, |d| d.update_framework(&framework, &roles, Some(&constraints)))
    })
}

type O<'l> = JObject<'l>;
type Z = jni::sys::jboolean;

export!(both "org.apache.mesos.MesosSchedulerDriver" "initialize" "()V",
    initialize_s / initialize_l, () -> (), initialize);
export!(both "org.apache.mesos.MesosSchedulerDriver" "finalize" "()V",
    finalize_s / finalize_l, () -> (), finalize);
export!(both "org.apache.mesos.MesosSchedulerDriver" "start" "()Lorg/apache/mesos/Protos$Status;",
    start_s / start_l, () -> O<'local>, start);
export!(both "org.apache.mesos.MesosSchedulerDriver" "stop" "(Z)Lorg/apache/mesos/Protos$Status;",
    stop_s / stop_l, (failover: Z) -> O<'local>, stop);
export!(both "org.apache.mesos.MesosSchedulerDriver" "abort" "()Lorg/apache/mesos/Protos$Status;",
    abort_s / abort_l, () -> O<'local>, abort);
export!(both "org.apache.mesos.MesosSchedulerDriver" "join" "()Lorg/apache/mesos/Protos$Status;",
    join_s / join_l, () -> O<'local>, join);
export!(both "org.apache.mesos.MesosSchedulerDriver" "requestResources"
    "(Ljava/util/Collection;)Lorg/apache/mesos/Protos$Status;",
    request_resources_s / request_resources_l, (requests: O<'local>) -> O<'local>, request_resources);
export!(long "org.apache.mesos.MesosSchedulerDriver" "launchTasks"
    "(Lorg/apache/mesos/Protos$OfferID;Ljava/util/Collection;Lorg/apache/mesos/Protos$Filters;)Lorg/apache/mesos/Protos$Status;",
    launch_tasks_offer_l, (offer_id: O<'local>, tasks: O<'local>, filters: O<'local>) -> O<'local>, launch_tasks_on_offer);
export!(long "org.apache.mesos.MesosSchedulerDriver" "launchTasks"
    "(Ljava/util/Collection;Ljava/util/Collection;Lorg/apache/mesos/Protos$Filters;)Lorg/apache/mesos/Protos$Status;",
    launch_tasks_offers_l, (offer_ids: O<'local>, tasks: O<'local>, filters: O<'local>) -> O<'local>, launch_tasks);
export!(both "org.apache.mesos.MesosSchedulerDriver" "killTask"
    "(Lorg/apache/mesos/Protos$TaskID;)Lorg/apache/mesos/Protos$Status;",
    kill_task_s / kill_task_l, (task_id: O<'local>) -> O<'local>, kill_task);
export!(both "org.apache.mesos.MesosSchedulerDriver" "acceptOffers"
    "(Ljava/util/Collection;Ljava/util/Collection;Lorg/apache/mesos/Protos$Filters;)Lorg/apache/mesos/Protos$Status;",
    accept_offers_s / accept_offers_l, (offer_ids: O<'local>, operations: O<'local>, filters: O<'local>) -> O<'local>,
    accept_offers);
export!(both "org.apache.mesos.MesosSchedulerDriver" "declineOffer"
    "(Lorg/apache/mesos/Protos$OfferID;Lorg/apache/mesos/Protos$Filters;)Lorg/apache/mesos/Protos$Status;",
    decline_offer_s / decline_offer_l, (offer_id: O<'local>, filters: O<'local>) -> O<'local>, decline_offer);
export!(long "org.apache.mesos.MesosSchedulerDriver" "reviveOffers" "()Lorg/apache/mesos/Protos$Status;",
    revive_offers_l, () -> O<'local>, revive_offers);
export!(long "org.apache.mesos.MesosSchedulerDriver" "reviveOffers"
    "(Ljava/util/Collection;)Lorg/apache/mesos/Protos$Status;",
    revive_offers_roles_l, (roles: O<'local>) -> O<'local>, revive_offers_for);
export!(long "org.apache.mesos.MesosSchedulerDriver" "suppressOffers" "()Lorg/apache/mesos/Protos$Status;",
    suppress_offers_l, () -> O<'local>, suppress_offers);
export!(long "org.apache.mesos.MesosSchedulerDriver" "suppressOffers"
    "(Ljava/util/Collection;)Lorg/apache/mesos/Protos$Status;",
    suppress_offers_roles_l, (roles: O<'local>) -> O<'local>, suppress_offers_for);
export!(both "org.apache.mesos.MesosSchedulerDriver" "acknowledgeStatusUpdate"
    "(Lorg/apache/mesos/Protos$TaskStatus;)Lorg/apache/mesos/Protos$Status;",
    acknowledge_status_update_s / acknowledge_status_update_l, (status: O<'local>) -> O<'local>,
    acknowledge_status_update);
export!(both "org.apache.mesos.MesosSchedulerDriver" "sendFrameworkMessage"
    "(Lorg/apache/mesos/Protos$ExecutorID;Lorg/apache/mesos/Protos$SlaveID;[B)Lorg/apache/mesos/Protos$Status;",
    send_framework_message_s / send_framework_message_l,
    (executor_id: O<'local>, slave_id: O<'local>, data: O<'local>) -> O<'local>, send_framework_message);
export!(both "org.apache.mesos.MesosSchedulerDriver" "reconcileTasks"
    "(Ljava/util/Collection;)Lorg/apache/mesos/Protos$Status;",
    reconcile_tasks_s / reconcile_tasks_l, (statuses: O<'local>) -> O<'local>, reconcile_tasks);
export!(both "org.apache.mesos.MesosSchedulerDriver" "updateFramework"
    "(Lorg/apache/mesos/Protos$FrameworkInfo;Ljava/util/Collection;)Lorg/apache/mesos/Protos$Status;",
    update_framework_s / update_framework_l, (framework: O<'local>, roles: O<'local>) -> O<'local>, update_framework);
export!(both "org.apache.mesos.MesosSchedulerDriver" "updateFrameworkWithConstraints"
    "(Lorg/apache/mesos/Protos$FrameworkInfo;Ljava/util/Collection;Lorg/apache/mesos/scheduler/Protos$OfferConstraints;)Lorg/apache/mesos/Protos$Status;",
    update_framework_with_constraints_s / update_framework_with_constraints_l,
    (framework: O<'local>, roles: O<'local>, constraints: O<'local>) -> O<'local>, update_framework_with_constraints);
