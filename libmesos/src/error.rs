//! What can go wrong in a native method, and how it reaches Java.
//!
//! Every native runs its body through [`native`], which catches panics and
//! turns an [`Error`] into the Java exception named by [`Error::java_class`]
//! (or leaves an already pending Java exception alone), then returns the JNI
//! default value (`null`, `0`, `false`). Nothing unwinds into the JVM.

use jni::errors::ErrorPolicy;
use jni::strings::JNIString;
use jni::{Env, EnvUnowned};

use mesos_rs::proto::DecodeError;

/// Why a native method could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JNI call failed; `JavaException` means a Java exception is pending
    /// and will be what the caller sees.
    #[error("JNI: {0}")]
    Jni(#[from] jni::errors::Error),
    /// The Java object's native handle field is 0: `initialize` never ran or
    /// failed, or `finalize` already released it.
    #[error("{class}: the native handle '{field}' is not set (initialize failed or finalize ran)")]
    NotInitialized { class: &'static str, field: &'static str },
    /// A protobuf from Java did not parse as the message libmesos expects.
    #[error("cannot parse the bytes of a {message} given by Java: {source}")]
    Protobuf { message: String, source: DecodeError },
    /// A required argument was `null`.
    #[error("{0} must not be null")]
    Null(&'static str),
    /// A feature of Apache's bindings that mesos-rs does not provide.
    #[error("{0}")]
    Unsupported(String),
    /// A future failed (`java.util.concurrent.ExecutionException`).
    #[error("{0}")]
    Execution(String),
    /// A future was discarded (`java.util.concurrent.CancellationException`).
    #[error("Future was discarded")]
    Cancelled,
    /// A bounded wait ran out (`java.util.concurrent.TimeoutException`).
    #[error("Failed to wait for future within timeout")]
    Timeout,
    /// Creating a driver failed.
    #[error("{0}")]
    Driver(String),
}

impl Error {
    /// The Java exception class this error is thrown as.
    pub fn java_class(&self) -> &'static str {
        match self {
            Error::Jni(_) | Error::Driver(_) => "java/lang/RuntimeException",
            Error::NotInitialized { .. } => "java/lang/IllegalStateException",
            Error::Protobuf { .. } => "java/lang/IllegalArgumentException",
            Error::Null(_) => "java/lang/NullPointerException",
            Error::Unsupported(_) => "java/lang/UnsupportedOperationException",
            Error::Execution(_) => "java/util/concurrent/ExecutionException",
            Error::Cancelled => "java/util/concurrent/CancellationException",
            Error::Timeout => "java/util/concurrent/TimeoutException",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Throws `error` as its Java exception unless one is already pending.
pub fn throw(env: &mut Env<'_>, error: &Error) {
    if env.exception_check() {
        return;
    }
    tracing::debug!(class = error.java_class(), "native method throws: {error}");
    let class = JNIString::from(error.java_class());
    let message = JNIString::from(format!("mesos-rs libmesos: {error}"));
    // `throw_new` reports the exception it just made pending as an error:
    // that is the intended outcome here.
    let _ = env.throw_new(&class, &message);
}

/// The [`ErrorPolicy`] of every native: errors become Java exceptions, panics
/// become `java.lang.RuntimeException`s, and the JNI default value is returned.
#[derive(Debug, Default)]
pub struct ThrowJava;

impl<T: Default> ErrorPolicy<T, Error> for ThrowJava {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = &'static str;

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _native: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: Error,
    ) -> jni::errors::Result<T> {
        throw(env, &err);
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        native: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let what = panic_message(payload);
        tracing::error!(native = *native, "panic in a native method: {what}");
        if !env.exception_check() {
            let message = JNIString::from(format!("mesos-rs libmesos: panic in {native}: {what}"));
            let _ = env.throw_new(jni::jni_str!("java/lang/RuntimeException"), &message);
        }
        Ok(T::default())
    }
}

/// The text of a panic payload; dropping the payload can itself panic, so it
/// is leaked when it is not a string.
pub fn panic_message(payload: Box<dyn std::any::Any + Send + 'static>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        return (*s).to_string();
    }
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(other) => {
            std::mem::forget(other);
            "a non-string panic payload".to_string()
        }
    }
}

/// Runs the body of the native method `name` with an [`Env`]: panics are
/// caught, errors thrown as Java exceptions, and the JNI default returned.
pub fn native<'local, T, F>(mut env: EnvUnowned<'local>, name: &'static str, body: F) -> T
where
    T: Default,
    F: FnOnce(&mut Env<'local>) -> Result<T>,
{
    env.with_env(body).resolve_with::<ThrowJava, _>(|| name)
}
