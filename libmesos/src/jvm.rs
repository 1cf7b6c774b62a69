//! JVM plumbing shared by every binding: native handles in `long` fields,
//! strings, byte arrays, collections, `TimeUnit`s, class lookup from driver
//! threads, and attaching those threads for callbacks.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jni::objects::{Global, JByteArray, JClass, JClassLoader, JObject, JString, LoaderContext};
use jni::strings::{JNIStr, JNIString};
use jni::{jni_sig, jni_str, Env, JValue, JavaVM};

use crate::error::{Error, Result};

/// The context class loader of the thread that loaded libmesos (Apache's
/// `JNI_OnLoad` keeps it too): `MesosNativeLibrary.load` sets it to the loader
/// of the bindings, so classes of the bindings can be found from threads the
/// JVM did not start, whose class loader may not see the Mesos jar.
static LOADER: OnceLock<Global<JClassLoader<'static>>> = OnceLock::new();

/// Remembers the class loader [`find_class`] tries first.
pub fn set_loader(loader: Global<JClassLoader<'static>>) {
    let _ = LOADER.set(loader);
}

/// Finds a class by its internal name (`org/apache/mesos/Protos$Offer`): with
/// the class loader kept at load time if there is one, else `FindClass`
/// (which, inside a native method, uses the loader of the method's class).
pub fn find_class<'local>(env: &mut Env<'local>, internal_name: &str) -> Result<JClass<'local>> {
    if let Some(loader) = LOADER.get() {
        let binary = JNIString::from(internal_name.replace('/', "."));
        match LoaderContext::Loader(loader).load_class(env, &binary, false) {
            Ok(class) => return Ok(class),
            Err(error) => {
                env.exception_clear();
                tracing::debug!("class loader of libmesos's load cannot load {internal_name}: {error}");
            }
        }
    }
    Ok(env.find_class(JNIString::from(internal_name))?)
}

/// Classes resolved once, on a Java thread (where lookups see the bindings),
/// for use on driver threads.
#[derive(Debug, Default)]
pub struct ClassCache {
    classes: Vec<(&'static str, Global<JClass<'static>>)>,
}

impl ClassCache {
    /// Resolves every class in `names` (internal names).
    pub fn resolve(env: &mut Env<'_>, names: &[&'static str]) -> Result<ClassCache> {
        let mut classes = Vec::with_capacity(names.len());
        for &name in names {
            let class = find_class(env, name)?;
            classes.push((name, env.new_global_ref(class)?));
        }
        Ok(ClassCache { classes })
    }

    /// The class named `name`: from the cache, else looked up now.
    pub fn get<'local>(&self, env: &mut Env<'local>, name: &str) -> Result<JClass<'local>> {
        match self.classes.iter().find(|(n, _)| *n == name) {
            Some((_, class)) => Ok(env.new_local_ref(class)?),
            None => find_class(env, name),
        }
    }
}

/// Runs `f` on the current thread attached to the JVM, as Apache's callbacks
/// do (attach, call, detach): a thread of ours that stayed attached would keep
/// the JVM from exiting after `main` returns.
pub fn with_attached<T>(f: impl FnOnce(&mut Env<'_>) -> Result<T>) -> Result<T> {
    let vm = JavaVM::singleton()?;
    vm.attach_current_thread_for_scope(f)
}

// --- native handles ------------------------------------------------------

/// Stores `value` in the `long` field `field` of `obj` (a handle the Java
/// object carries, as Apache's `__driver`, `__state`, ...).
pub fn set_handle<T: Send + Sync>(env: &mut Env<'_>, obj: &JObject<'_>, field: &JNIStr, value: Arc<T>) -> Result<()> {
    let raw = Arc::into_raw(value) as jni::sys::jlong;
    if let Err(error) = env.set_field(obj, field, jni_sig!("J"), JValue::Long(raw)) {
        // SAFETY: `raw` came from `Arc::into_raw` just above and was not stored.
        drop(unsafe { Arc::from_raw(raw as *const T) });
        return Err(error.into());
    }
    Ok(())
}

/// A new reference to the value behind the handle `field` of `obj`.
///
/// The handle must have been stored by [`set_handle`] with the same `T`: each
/// binding keeps one type per field.
pub fn handle<T: Send + Sync>(
    env: &mut Env<'_>,
    obj: &JObject<'_>,
    class: &'static str,
    field: &'static str,
) -> Result<Arc<T>> {
    let raw = env.get_field(obj, JNIString::from(field), jni_sig!("J"))?.j()?;
    if raw == 0 {
        return Err(Error::NotInitialized { class, field });
    }
    let ptr = raw as *const T;
    // SAFETY: a non-zero handle was stored by `set_handle::<T>` (the field is
    // private to the bindings and written only by us) and is released only by
    // `take_handle`, which zeroes the field first; the JVM runs `finalize`
    // only once the object is unreachable, so no native call on the object
    // can race with it. Taking a new strong count keeps the value alive for
    // the caller independently of the field.
    unsafe {
        Arc::increment_strong_count(ptr);
        Ok(Arc::from_raw(ptr))
    }
}

/// Removes the handle `field` from `obj` (zeroing the field), giving back the
/// reference it held; `None` when it was not set.
pub fn take_handle<T: Send + Sync>(env: &mut Env<'_>, obj: &JObject<'_>, field: &JNIStr) -> Result<Option<Arc<T>>> {
    let raw = env.get_field(obj, field, jni_sig!("J"))?.j()?;
    if raw == 0 {
        return Ok(None);
    }
    env.set_field(obj, field, jni_sig!("J"), JValue::Long(0))?;
    // SAFETY: as in `handle`; the field no longer refers to the value, so this
    // reference is the one the field held.
    Ok(Some(unsafe { Arc::from_raw(raw as *const T) }))
}

// --- values ---------------------------------------------------------------

/// A Java `String` as a Rust string; `what` names it in the error for `null`.
pub fn string(env: &mut Env<'_>, obj: &JObject<'_>, what: &'static str) -> Result<String> {
    if obj.is_null() {
        return Err(Error::Null(what));
    }
    let s = env.as_cast::<JString>(obj)?;
    Ok(s.try_to_string(env)?)
}

/// The contents of a Java `byte[]`; `what` names it in the error for `null`.
pub fn bytes(env: &mut Env<'_>, obj: &JObject<'_>, what: &'static str) -> Result<Vec<u8>> {
    if obj.is_null() {
        return Err(Error::Null(what));
    }
    let array = env.as_cast::<JByteArray>(obj)?;
    Ok(env.convert_byte_array(&*array)?)
}

/// A new Java `byte[]` holding `data`.
pub fn new_bytes<'local>(env: &mut Env<'local>, data: &[u8]) -> Result<JObject<'local>> {
    Ok(env.byte_array_from_slice(data)?.into())
}

/// The elements of a Java `Iterable` (a `Collection`, a `Set`), in iteration
/// order; `what` names it in the error for `null`.
pub fn elements<'local>(
    env: &mut Env<'local>,
    iterable: &JObject<'_>,
    what: &'static str,
) -> Result<Vec<JObject<'local>>> {
    if iterable.is_null() {
        return Err(Error::Null(what));
    }
    let iterator = env.call_method(iterable, jni_str!("iterator"), jni_sig!("()Ljava/util/Iterator;"), &[])?.l()?;
    let mut out = Vec::new();
    while env.call_method(&iterator, jni_str!("hasNext"), jni_sig!("()Z"), &[])?.z()? {
        out.push(env.call_method(&iterator, jni_str!("next"), jni_sig!("()Ljava/lang/Object;"), &[])?.l()?);
    }
    Ok(out)
}

/// A `Collection<String>` as strings.
pub fn strings(env: &mut Env<'_>, collection: &JObject<'_>, what: &'static str) -> Result<Vec<String>> {
    let items = elements(env, collection, what)?;
    items.iter().map(|item| string(env, item, what)).collect()
}

/// A new `java.util.ArrayList` holding `items`.
pub fn array_list<'local>(env: &mut Env<'local>, items: &[JObject<'_>]) -> Result<JObject<'local>> {
    let list = env.new_object(jni_str!("java/util/ArrayList"), jni_sig!("()V"), &[])?;
    for item in items {
        env.call_method(&list, jni_str!("add"), jni_sig!("(Ljava/lang/Object;)Z"), &[JValue::Object(item)])?;
    }
    Ok(list)
}

/// `timeout` in `unit` (a `java.util.concurrent.TimeUnit`) as a duration;
/// negative timeouts are zero.
pub fn duration(env: &mut Env<'_>, timeout: jni::sys::jlong, unit: &JObject<'_>) -> Result<Duration> {
    if unit.is_null() {
        return Err(Error::Null("unit"));
    }
    let nanos = env.call_method(unit, jni_str!("toNanos"), jni_sig!("(J)J"), &[JValue::Long(timeout)])?.j()?;
    Ok(Duration::from_nanos(nanos.max(0) as u64))
}

/// An object field `name` of type `sig` of `obj`; `None` when the class has no
/// such field (older bindings lack some, as Apache's glue allows).
pub fn optional_object_field<'local>(
    env: &mut Env<'local>,
    obj: &JObject<'_>,
    name: &JNIStr,
    sig: &str,
) -> Result<Option<JObject<'local>>> {
    let sig = jni::signature::RuntimeFieldSignature::from_str(sig)?;
    match env.get_field(obj, name, jni::signature::FieldSignature::from(&sig)) {
        Ok(value) => Ok(Some(value.l()?)),
        Err(jni::errors::Error::FieldNotFound { .. }) => {
            env.exception_clear();
            Ok(None)
        }
        Err(jni::errors::Error::JavaException) => {
            // A NoSuchFieldError is the "absent" answer; anything else is real.
            if is_pending(env, "java/lang/NoSuchFieldError")? {
                env.exception_clear();
                Ok(None)
            } else {
                Err(Error::Jni(jni::errors::Error::JavaException))
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Whether the pending exception is an instance of `class`.
fn is_pending(env: &mut Env<'_>, class: &str) -> Result<bool> {
    let Some(exception) = env.exception_occurred() else {
        return Ok(false);
    };
    env.exception_clear();
    let class_ref = env.find_class(JNIString::from(class))?;
    let is = env.is_instance_of(&exception, &class_ref)?;
    // Re-raise it: `throw` reports the now pending exception as an error.
    let _ = env.throw(exception);
    Ok(is)
}

/// The pending Java exception, described on stderr (as Apache's glue does with
/// `ExceptionDescribe`) and cleared; true if there was one.
pub fn describe_and_clear(env: &mut Env<'_>) -> bool {
    if env.exception_check() {
        env.exception_describe();
        env.exception_clear();
        true
    } else {
        false
    }
}
