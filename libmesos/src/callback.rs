//! Calling Java back from a driver thread.
//!
//! Drivers call their callbacks on threads the JVM did not start. Each call
//! attaches the thread for its duration (Apache's glue attaches and detaches
//! around every callback, so no thread of ours keeps the JVM alive), reads
//! the callback object from its field of the Java driver object (held weakly,
//! so a driver never keeps its Java object alive), converts the arguments and
//! calls the Java method. An exception the method throws is described on
//! stderr and cleared, and the caller aborts its driver, as Apache's glue does.

use jni::objects::{JObject, Weak};
use jni::signature::MethodSignature;
use jni::strings::JNIStr;
use jni::{Env, JValue, JValueOwned};

use crate::error::{Error, Result};
use crate::jvm::{self, ClassCache};

/// How a callback went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The Java method returned.
    Returned,
    /// The Java driver object was already collected: nobody to call.
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

/// Calls `target_field`'s `method` on `jobject` (through its field
/// `target_field` of type `target_sig`) with `jobject` itself first, then
/// the values `args` makes. Shared by the scheduler, executor and v1 glue.
pub fn deliver<F>(
    jobject: &Weak<JObject<'static>>,
    classes: &ClassCache,
    target_field: &JNIStr,
    target_sig: &str,
    method: &JNIStr,
    sig: &MethodSignature<'_, '_>,
    args: F,
) -> Delivery
where
    F: for<'l> FnOnce(&mut Env<'l>, &ClassCache) -> Result<Vec<JValueOwned<'l>>>,
{
    let result = jvm::with_attached(|env| {
        let Some(this) = jobject.upgrade_local(env)? else {
            return Ok(Delivery::Gone);
        };
        let outcome = (|| -> Result<Delivery> {
            let field_sig = jni::signature::RuntimeFieldSignature::from_str(target_sig)?;
            let target = env
                .get_field(
                    &this,
                    target_field,
                    jni::signature::FieldSignature::from(&field_sig),
                )?
                .l()?;
            if target.is_null() {
                return Err(Error::Null("the callback object"));
            }
            let extra = args(env, classes)?;
            let mut values: Vec<JValue<'_>> = Vec::with_capacity(extra.len() + 1);
            values.push(JValue::Object(&this));
            values.extend(extra.iter().map(|v| v.borrow()));
            match env.call_method(&target, method, sig, &values) {
                Ok(_) => Ok(Delivery::Returned),
                Err(jni::errors::Error::JavaException) => {
                    jvm::describe_and_clear(env);
                    Ok(Delivery::Threw)
                }
                Err(error) => Err(error.into()),
            }
        })();
        match outcome {
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
