//! The Java object behind a driver: calling it back from driver threads, and
//! the native handles it carries.
//!
//! Every binding with callbacks (`MesosSchedulerDriver`, `MesosExecutorDriver`,
//! `V0Mesos`, `V1Mesos`) keeps a [`Bridge`]: a weak reference to its Java
//! object (a running driver must not keep the object alive, as in Apache's
//! glue) and the classes its callbacks create objects of, resolved on the
//! Java thread that ran `initialize`, where lookups see the bindings.
//!
//! Drivers call their callbacks on threads the JVM did not start. Each call
//! attaches the thread for its duration (Apache's glue attaches and detaches
//! around every callback, so no thread of ours keeps the JVM from exiting),
//! reads the callback object from its field of the Java object, converts the
//! arguments and calls the Java method with the Java object first. An
//! exception the method throws is described on stderr and cleared, and the
//! caller aborts its driver, as Apache's glue does.
//!
//! The drivers' Java classes hold a [`Handle`] in `__driver`: the Rust driver
//! and the bridge, whose classes the driver calls convert their status with.

use std::sync::Arc;

use jni::objects::{JObject, Weak};
use jni::signature::{FieldSignature, MethodSignature, RuntimeFieldSignature};
use jni::strings::JNIStr;
use jni::{jni_str, Env, JValue, JValueOwned};

use mesos_rs::proto::mesos;

use crate::error::{Error, Result};
use crate::jvm::{self, ClassCache};
use crate::protos;

/// The Java object of a binding, as its callbacks need it.
pub struct Bridge {
    object: Weak<JObject<'static>>,
    classes: ClassCache,
}

/// How a callback went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The Java method returned.
    Returned,
    /// The Java object was already collected: nobody to call.
    Gone,
    /// The Java method threw (described on stderr and cleared).
    Threw,
    /// The call could not be made (a conversion or JNI failure).
    Failed,
}

impl Delivery {
    /// Apache's glue aborts the driver when a callback throws; we do the same
    /// when a callback could not be delivered at all.
    pub fn aborts(self) -> bool {
        matches!(self, Delivery::Threw | Delivery::Failed)
    }
}

/// The arguments of a callback after the Java object, made on the callback
/// thread.
pub trait Args: for<'l> FnOnce(&mut Env<'l>, &ClassCache) -> Result<Vec<JValueOwned<'l>>> {}
impl<F> Args for F where F: for<'l> FnOnce(&mut Env<'l>, &ClassCache) -> Result<Vec<JValueOwned<'l>>> {}

/// An object argument.
pub fn obj(value: JObject<'_>) -> JValueOwned<'_> {
    JValueOwned::Object(value)
}

impl Bridge {
    /// Captures `this` on the Java thread running its `initialize`, with the
    /// classes (internal names) its callbacks convert to.
    pub fn new(env: &mut Env<'_>, this: &JObject<'_>, classes: &[&'static str]) -> Result<Bridge> {
        Ok(Bridge { object: env.new_weak_ref(this)?, classes: ClassCache::resolve(env, classes)? })
    }

    /// Calls `method` (of signature `sig`) on the object in the Java object's
    /// field `target` (of type `target_sig`), with the Java object, then the
    /// values `args` makes.
    pub fn deliver(
        &self,
        target: &JNIStr,
        target_sig: &str,
        method: &JNIStr,
        sig: &MethodSignature<'_, '_>,
        args: impl Args,
    ) -> Delivery {
        let result = jvm::with_attached(|env| {
            let Some(this) = self.object.upgrade_local(env)? else {
                return Ok(Delivery::Gone);
            };
            match self.call(env, &this, target, target_sig, method, sig, args) {
                Ok(delivery) => Ok(delivery),
                Err(error) => {
                    jvm::describe_and_clear(env);
                    tracing::error!("cannot call {}: {error}", method.to_str());
                    Ok(Delivery::Failed)
                }
            }
        });
        result.unwrap_or_else(|error: Error| {
            tracing::error!("cannot attach a driver thread to the JVM: {error}");
            Delivery::Failed
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        env: &mut Env<'_>,
        this: &JObject<'_>,
        target: &JNIStr,
        target_sig: &str,
        method: &JNIStr,
        sig: &MethodSignature<'_, '_>,
        args: impl Args,
    ) -> Result<Delivery> {
        let field_sig = RuntimeFieldSignature::from_str(target_sig)?;
        let target = env.get_field(this, target, FieldSignature::from(&field_sig))?.l()?;
        if target.is_null() {
            return Err(Error::Null("the callback object"));
        }
        let extra = args(env, &self.classes)?;
        let mut values: Vec<JValue<'_>> = Vec::with_capacity(extra.len() + 1);
        values.push(JValue::Object(this));
        values.extend(extra.iter().map(|v| v.borrow()));
        match env.call_method(&target, method, sig, &values) {
            Ok(_) => Ok(Delivery::Returned),
            Err(jni::errors::Error::JavaException) => {
                jvm::describe_and_clear(env);
                Ok(Delivery::Threw)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The `__driver` handle of a driver binding.
pub struct Handle<D> {
    pub driver: D,
    pub bridge: Arc<Bridge>,
}

/// Runs `call` on the driver in `this`'s `__driver` (a `Handle<D>`) and
/// returns its status as a Java `Protos.Status`.
pub fn call_driver<'l, D: Send + Sync + 'static>(
    env: &mut Env<'l>,
    this: &JObject<'_>,
    class: &'static str,
    call: impl FnOnce(&D) -> mesos::Status,
) -> Result<JObject<'l>> {
    let handle: Arc<Handle<D>> = jvm::handle(env, this, class, "__driver")?;
    let status = call(&handle.driver);
    protos::status(env, &handle.bridge.classes, status)
}

/// Stores a new driver binding in `this`: the bridge in `bridge_field`, then
/// the driver `make` builds (with its callbacks going through the bridge) in
/// `__driver`.
pub fn install<D: Send + Sync + 'static>(
    env: &mut Env<'_>,
    this: &JObject<'_>,
    bridge_field: &JNIStr,
    bridge: Bridge,
    make: impl FnOnce(Arc<Bridge>) -> D,
) -> Result<()> {
    let bridge = Arc::new(bridge);
    jvm::set_handle(env, this, bridge_field, bridge.clone())?;
    let driver = make(bridge.clone());
    jvm::set_handle(env, this, jni_str!("__driver"), Arc::new(Handle { driver, bridge }))
}

/// Releases a driver binding: dropping the driver ends it. Neither stop nor
/// abort: the framework might read either as an answer (Apache's glue says
/// the same).
pub fn release<D: Send + Sync + 'static>(env: &mut Env<'_>, this: &JObject<'_>, bridge_field: &JNIStr) -> Result<()> {
    drop(jvm::take_handle::<Handle<D>>(env, this, jni_str!("__driver"))?);
    drop(jvm::take_handle::<Bridge>(env, this, bridge_field)?);
    Ok(())
}
