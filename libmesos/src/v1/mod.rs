//! `org.apache.mesos.v1.scheduler`: the v1 scheduler API for Java.
//!
//! - [`v1mesos`]: `V1Mesos`, a client of the master's v1 scheduler HTTP API
//!   (`/api/v1/scheduler`, protobuf over HTTP, events as RecordIO), as
//!   Apache's `mesos::v1::scheduler::Mesos` library is (Aurora's `V1_DRIVER`).
//! - [`v0mesos`]: `V0Mesos`, the same Java interface over the v0 scheduler
//!   driver: v1 calls become driver calls, driver callbacks become v1 events.
//!
//! Both deliver to the Java `Scheduler` (`connected`, `disconnected`,
//! `received`) from one thread of their own, one callback at a time.

pub mod v0mesos;
pub mod v1mesos;

use jni::objects::JObject;
use jni::{jni_sig, jni_str, Env};
use prost::Message;

use mesos_rs::proto::mesos::v1::scheduler::Event;
use mesos_rs::proto::mesos::v1::Credential;

use crate::bridge::{obj, Args, Bridge, Delivery};
use crate::error::Result;
use crate::jvm;
use crate::protos::{from_java, to_java, JavaProto};

/// The Java side of a `V0Mesos`/`V1Mesos`: its [`Bridge`] to the Java
/// `Scheduler` (`connected`, `disconnected`, `received`).
pub struct JavaMesos {
    bridge: Bridge,
}

impl JavaMesos {
    /// Captures `this` (a `V0Mesos` or `V1Mesos`) on the Java thread running
    /// its `initialize`.
    pub fn new(env: &mut Env<'_>, this: &JObject<'_>) -> Result<JavaMesos> {
        Ok(JavaMesos { bridge: Bridge::new(env, this, &[Event::JAVA_CLASS])? })
    }

    fn call(
        &self,
        method: &'static jni::strings::JNIStr,
        sig: &jni::signature::MethodSignature<'_, '_>,
        args: impl Args,
    ) -> Delivery {
        self.bridge.deliver(jni_str!("scheduler"), "Lorg/apache/mesos/v1/scheduler/Scheduler;", method, sig, args)
    }

    /// `scheduler.connected(mesos)`.
    pub fn connected(&self) -> Delivery {
        self.call(jni_str!("connected"), &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;)V"), |_, _| Ok(vec![]))
    }

    /// `scheduler.disconnected(mesos)`.
    pub fn disconnected(&self) -> Delivery {
        self.call(jni_str!("disconnected"), &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;)V"), |_, _| Ok(vec![]))
    }

    /// `scheduler.received(mesos, event)`.
    pub fn received(&self, event: &Event) -> Delivery {
        self.call(
            jni_str!("received"),
            &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;Lorg/apache/mesos/v1/scheduler/Protos$Event;)V"),
            |env, classes| Ok(vec![obj(to_java(env, classes, event)?)]),
        )
    }
}

/// The `master` and `credential` fields both v1 classes carry.
pub fn master_and_credential(env: &mut Env<'_>, this: &JObject<'_>) -> Result<(String, Option<Credential>)> {
    let jmaster = env.get_field(this, jni_str!("master"), jni_sig!("Ljava/lang/String;"))?.l()?;
    let master = jvm::string(env, &jmaster, "master")?;
    let jcredential =
        env.get_field(this, jni_str!("credential"), jni_sig!("Lorg/apache/mesos/v1/Protos$Credential;"))?.l()?;
    let credential = if jcredential.is_null() { None } else { Some(from_java(env, &jcredential, "credential")?) };
    Ok((master, credential))
}

/// A v0 message as its v1 twin (or back): Mesos keeps the two `.proto`
/// families wire-compatible (same field numbers and types), so the bytes of
/// one parse as the other, which is all Apache's `evolve`/`devolve` do.
pub fn convert<A: Message, B: Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).unwrap_or_default()
}
