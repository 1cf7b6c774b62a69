//! Protobufs across the boundary, as bytes.
//!
//! Java to Rust: `obj.toByteArray()`, then our prost decoder (with the
//! required-field check C++'s `ParseFromString` does). Rust to Java: our
//! encoder, then the static `Protos$X.parseFrom(byte[])` of the class the
//! bindings use. No Java protobuf runtime is touched directly, so the
//! bindings' shaded protobuf (`org.apache.mesos.protobuf`, pyspark's jar)
//! works exactly as a plain one.

use jni::objects::JObject;
use jni::signature::{MethodSignature, RuntimeMethodSignature};
use jni::{jni_sig, jni_str, Env, JValue};
use prost::Message;
use prost_reflect::ReflectMessage;

use mesos_rs::proto::mesos;

use crate::error::{Error, Result};
use crate::jvm::{self, ClassCache};

/// A message type of ours and the Java class of the bindings that holds it.
pub trait JavaProto: Message + ReflectMessage + Default {
    /// Internal name of the generated Java class.
    const JAVA_CLASS: &'static str;
}

macro_rules! java_protos {
    ($($ty:ty => $class:literal,)*) => {
        $(impl JavaProto for $ty { const JAVA_CLASS: &'static str = $class; })*
    };
}

java_protos! {
    mesos::FrameworkInfo => "org/apache/mesos/Protos$FrameworkInfo",
    mesos::FrameworkId => "org/apache/mesos/Protos$FrameworkID",
    mesos::MasterInfo => "org/apache/mesos/Protos$MasterInfo",
    mesos::Credential => "org/apache/mesos/Protos$Credential",
    mesos::Filters => "org/apache/mesos/Protos$Filters",
    mesos::ExecutorId => "org/apache/mesos/Protos$ExecutorID",
    mesos::ExecutorInfo => "org/apache/mesos/Protos$ExecutorInfo",
    mesos::TaskId => "org/apache/mesos/Protos$TaskID",
    mesos::TaskInfo => "org/apache/mesos/Protos$TaskInfo",
    mesos::TaskStatus => "org/apache/mesos/Protos$TaskStatus",
    mesos::SlaveId => "org/apache/mesos/Protos$SlaveID",
    mesos::SlaveInfo => "org/apache/mesos/Protos$SlaveInfo",
    mesos::OfferId => "org/apache/mesos/Protos$OfferID",
    mesos::Offer => "org/apache/mesos/Protos$Offer",
    mesos::offer::Operation => "org/apache/mesos/Protos$Offer$Operation",
    mesos::Request => "org/apache/mesos/Protos$Request",
    mesos::scheduler::OfferConstraints => "org/apache/mesos/scheduler/Protos$OfferConstraints",
    mesos::v1::FrameworkInfo => "org/apache/mesos/v1/Protos$FrameworkInfo",
    mesos::v1::Credential => "org/apache/mesos/v1/Protos$Credential",
    mesos::v1::scheduler::Call => "org/apache/mesos/v1/scheduler/Protos$Call",
    mesos::v1::scheduler::Event => "org/apache/mesos/v1/scheduler/Protos$Event",
}

/// The Java class of `Protos.Status`, the value every driver call returns.
pub const STATUS_CLASS: &str = "org/apache/mesos/Protos$Status";

/// Parses Java protobuf object `obj` (of `M`'s Java class) into `M`; `what`
/// names the argument when it is `null`.
pub fn from_java<M: JavaProto>(env: &mut Env<'_>, obj: &JObject<'_>, what: &'static str) -> Result<M> {
    if obj.is_null() {
        return Err(Error::Null(what));
    }
    let array = env.call_method(obj, jni_str!("toByteArray"), jni_sig!("()[B"), &[])?.l()?;
    let bytes = jvm::bytes(env, &array, what)?;
    decode(&bytes)
}

/// Decodes `bytes` as `M` with C++ protobuf's strictness.
pub fn decode<M: JavaProto>(bytes: &[u8]) -> Result<M> {
    mesos_rs::proto::decode_strict::<M>(bytes)
        .map_err(|source| Error::Protobuf { message: M::default().descriptor().full_name().to_string(), source })
}

/// Every element of a Java `Collection<M>`.
pub fn list_from_java<M: JavaProto>(env: &mut Env<'_>, collection: &JObject<'_>, what: &'static str) -> Result<Vec<M>> {
    let items = jvm::elements(env, collection, what)?;
    items.iter().map(|item| from_java(env, item, what)).collect()
}

/// A new Java object of `M`'s class holding `msg`, through `parseFrom(byte[])`
/// of the class found in `classes` (or looked up now).
pub fn to_java<'local, M: JavaProto>(env: &mut Env<'local>, classes: &ClassCache, msg: &M) -> Result<JObject<'local>> {
    bytes_to_java(env, classes, M::JAVA_CLASS, &msg.encode_to_vec())
}

/// A new Java protobuf object of class `class` (internal name) parsed from
/// `bytes`.
pub fn bytes_to_java<'local>(
    env: &mut Env<'local>,
    classes: &ClassCache,
    class: &str,
    bytes: &[u8],
) -> Result<JObject<'local>> {
    let class_ref = classes.get(env, class)?;
    let data = jvm::new_bytes(env, bytes)?;
    let sig = RuntimeMethodSignature::from_str(format!("([B)L{class};"))?;
    let obj = env
        .call_static_method(&class_ref, jni_str!("parseFrom"), MethodSignature::from(&sig), &[JValue::Object(&data)])?
        .l()?;
    Ok(obj)
}

/// `Protos.Status.valueOf(status)`.
pub fn status<'local>(env: &mut Env<'local>, classes: &ClassCache, status: mesos::Status) -> Result<JObject<'local>> {
    let class = classes.get(env, STATUS_CLASS)?;
    let sig = RuntimeMethodSignature::from_str(format!("(I)L{STATUS_CLASS};"))?;
    Ok(env
        .call_static_method(&class, jni_str!("valueOf"), MethodSignature::from(&sig), &[JValue::Int(status as i32)])?
        .l()?)
}
