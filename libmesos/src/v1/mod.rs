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

use jni::objects::{JObject, Weak};
use jni::{jni_sig, jni_str, Env, JValueOwned};
use prost::Message;

use mesos_rs::proto::mesos::v1::scheduler::Event;

use crate::callback::{deliver, Delivery};
use crate::error::Result;
use crate::jvm::ClassCache;
use crate::protos::{to_java, JavaProto};

/// The Java side of a `V0Mesos`/`V1Mesos`: the object (weakly) and the
/// classes events are converted to.
pub struct JavaMesos {
    jmesos: Weak<JObject<'static>>,
    classes: ClassCache,
}

impl JavaMesos {
    /// Captures `this` (a `V0Mesos` or `V1Mesos`) on the Java thread running
    /// its `initialize`.
    pub fn new(env: &mut Env<'_>, this: &JObject<'_>) -> Result<JavaMesos> {
        Ok(JavaMesos {
            jmesos: env.new_weak_ref(this)?,
            classes: ClassCache::resolve(env, &[Event::JAVA_CLASS])?,
        })
    }

    fn call<F>(
        &self,
        method: &'static jni::strings::JNIStr,
        sig: &jni::signature::MethodSignature<'_, '_>,
        args: F,
    ) -> Delivery
    where
        F: for<'l> FnOnce(&mut Env<'l>, &ClassCache) -> Result<Vec<JValueOwned<'l>>>,
    {
        deliver(
            &self.jmesos,
            &self.classes,
            jni_str!("scheduler"),
            "Lorg/apache/mesos/v1/scheduler/Scheduler;",
            method,
            sig,
            args,
        )
    }

    /// `scheduler.connected(mesos)`.
    pub fn connected(&self) -> Delivery {
        self.call(
            jni_str!("connected"),
            &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;)V"),
            |_, _| Ok(vec![]),
        )
    }

    /// `scheduler.disconnected(mesos)`.
    pub fn disconnected(&self) -> Delivery {
        self.call(
            jni_str!("disconnected"),
            &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;)V"),
            |_, _| Ok(vec![]),
        )
    }

    /// `scheduler.received(mesos, event)`.
    pub fn received(&self, event: &Event) -> Delivery {
        self.call(
            jni_str!("received"),
            &jni_sig!("(Lorg/apache/mesos/v1/scheduler/Mesos;Lorg/apache/mesos/v1/scheduler/Protos$Event;)V"),
            |env, classes| Ok(vec![JValueOwned::Object(to_java(env, classes, event)?)]),
        )
    }
}

/// A v0 message as its v1 twin (or back): Mesos keeps the two `.proto`
/// families wire-compatible (same field numbers and types), so the bytes of
/// one parse as the other, which is all Apache's `evolve`/`devolve` do.
pub fn convert<A: Message, B: Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).unwrap_or_default()
}
