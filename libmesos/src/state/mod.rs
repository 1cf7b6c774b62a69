//! `org.apache.mesos.state.*`: Apache's state abstraction (`AbstractState`,
//! `Variable`, `ZooKeeperState`) over [`zookeeper::ZooKeeperStorage`].
//!
//! A `Variable` is a `mesos.internal.state.Entry` (name, UUID, value). Its
//! life, as in Apache's `State` (`include/mesos/state/state.hpp`):
//! - `fetch(name)` returns the stored entry, or a new one (fresh UUID, empty
//!   value) when nothing is stored under the name;
//! - `store(v)` writes `v`'s name and value under a fresh UUID *if* the
//!   stored entry still has `v`'s UUID, and answers the new `Variable`, or
//!   `null` when `v` is stale (someone stored in between);
//! - `expunge(v)` removes the entry if it still has `v`'s UUID (`true`), else
//!   leaves it (`false`);
//! - `names()` iterates over the stored names.
//!
//! Each operation runs on libmesos's runtime; Java gets a `Future` whose
//! natives wait on a [`future::Promise`]. Handles: `AbstractState.__state`
//! holds the [`State`], `Variable.__variable` its entry, and each future's
//! `long` (returned by `__fetch` & co., kept in `FetchFuture.future` & co.)
//! its promise.

pub mod future;
pub mod zookeeper;

use std::sync::Arc;

use jni::objects::JObject;
use jni::sys::{jboolean, jlong};
use jni::{jni_sig, jni_str, Env, EnvUnowned, JValue};

use mesos_rs::proto::mesos::internal::state::Entry;
use mesos_rs::zookeeper::Authentication;

use crate::error::{native, Error, Result};
use crate::export::export;
use crate::jvm;
use future::Promise;
use zookeeper::ZooKeeperStorage;

const ABSTRACT_STATE: &str = "org.apache.mesos.state.AbstractState";
const VARIABLE: &str = "org.apache.mesos.state.Variable";
const VARIABLE_CLASS: &str = "org/apache/mesos/state/Variable";

/// Apache's `State` over a storage.
pub struct State {
    storage: ZooKeeperStorage,
}

impl State {
    pub fn new(storage: ZooKeeperStorage) -> State {
        State { storage }
    }

    pub async fn fetch(&self, name: String) -> Result<Entry, String> {
        Ok(match self.storage.get(&name).await? {
            Some(entry) => entry,
            None => Entry { name, uuid: new_uuid(), value: Vec::new() },
        })
    }

    pub async fn store(&self, variable: Entry) -> Result<Option<Entry>, String> {
        // Even an unchanged value is written: the UUID changes.
        let entry = Entry { name: variable.name, uuid: new_uuid(), value: variable.value };
        Ok(self.storage.set(&entry, &variable.uuid).await?.then_some(entry))
    }

    pub async fn expunge(&self, variable: Entry) -> Result<bool, String> {
        self.storage.expunge(&variable).await
    }

    pub async fn names(&self) -> Result<Vec<String>, String> {
        Ok(self.storage.names().await?.into_iter().collect())
    }
}

fn new_uuid() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

// --- Variable -------------------------------------------------------------------

/// A new Java `Variable` holding `entry`.
fn new_variable<'l>(env: &mut Env<'l>, entry: Entry) -> Result<JObject<'l>> {
    let class = jvm::find_class(env, VARIABLE_CLASS)?;
    let variable = env.new_object(&class, jni_sig!("()V"), &[])?;
    jvm::set_handle(env, &variable, jni_str!("__variable"), Arc::new(entry))?;
    Ok(variable)
}

fn variable_entry(env: &mut Env<'_>, variable: &JObject<'_>) -> Result<Arc<Entry>> {
    if variable.is_null() {
        return Err(Error::Null("variable"));
    }
    jvm::handle(env, variable, VARIABLE, "__variable")
}

fn variable_value<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, "Variable.value", |env| {
        let entry = variable_entry(env, &this)?;
        jvm::new_bytes(env, &entry.value)
    })
}

fn variable_mutate<'l>(env: EnvUnowned<'l>, this: JObject<'l>, value: JObject<'l>) -> JObject<'l> {
    native(env, "Variable.mutate", |env| {
        let entry = variable_entry(env, &this)?;
        let value = jvm::bytes(env, &value, "value")?;
        new_variable(env, Entry { value, ..(*entry).clone() })
    })
}

fn variable_finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "Variable.finalize", |env| {
        drop(jvm::take_handle::<Entry>(env, &this, jni_str!("__variable"))?);
        Ok(())
    })
}

// --- AbstractState and its futures -------------------------------------------

fn state(env: &mut Env<'_>, this: &JObject<'_>) -> Result<Arc<State>> {
    jvm::handle(env, this, ABSTRACT_STATE, "__state")
}

fn state_finalize<'l>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, "AbstractState.finalize", |env| {
        drop(jvm::take_handle::<State>(env, &this, jni_str!("__state"))?);
        Ok(())
    })
}

/// One of the four operations: what its promise holds and how Java sees it.
pub trait Op: 'static {
    type Value: Clone + Send + 'static;
    const NAME: &'static str;
    fn to_java<'l>(env: &mut Env<'l>, value: Self::Value) -> Result<JObject<'l>>;
}

pub enum Fetch {}
pub enum Store {}
pub enum Expunge {}
pub enum Names {}

impl Op for Fetch {
    type Value = Entry;
    const NAME: &'static str = "fetch";
    fn to_java<'l>(env: &mut Env<'l>, value: Entry) -> Result<JObject<'l>> {
        new_variable(env, value)
    }
}

impl Op for Store {
    type Value = Option<Entry>;
    const NAME: &'static str = "store";
    fn to_java<'l>(env: &mut Env<'l>, value: Option<Entry>) -> Result<JObject<'l>> {
        match value {
            Some(entry) => new_variable(env, entry),
            None => Ok(JObject::null()),
        }
    }
}

impl Op for Expunge {
    type Value = bool;
    const NAME: &'static str = "expunge";
    fn to_java<'l>(env: &mut Env<'l>, value: bool) -> Result<JObject<'l>> {
        Ok(env
            .call_static_method(
                jni_str!("java/lang/Boolean"),
                jni_str!("valueOf"),
                jni_sig!("(Z)Ljava/lang/Boolean;"),
                &[JValue::Bool(value)],
            )?
            .l()?)
    }
}

impl Op for Names {
    type Value = Vec<String>;
    const NAME: &'static str = "names";
    fn to_java<'l>(env: &mut Env<'l>, value: Vec<String>) -> Result<JObject<'l>> {
        let names =
            value.iter().map(|n| env.new_string(n).map(JObject::from)).collect::<jni::errors::Result<Vec<_>>>()?;
        let list = jvm::array_list(env, &names)?;
        Ok(env.call_method(&list, jni_str!("iterator"), jni_sig!("()Ljava/util/Iterator;"), &[])?.l()?)
    }
}

/// Hands a promise to Java as a `long`.
fn into_java_handle<T>(promise: Arc<Promise<T>>) -> jlong {
    Arc::into_raw(promise) as jlong
}

/// The promise behind a `long` Java got from [`into_java_handle`].
fn promise<O: Op>(raw: jlong) -> Result<Arc<Promise<O::Value>>> {
    if raw == 0 {
        return Err(Error::NotInitialized { class: ABSTRACT_STATE, field: "future" });
    }
    let ptr = raw as *const Promise<O::Value>;
    // SAFETY: non-zero future handles are made only by `into_java_handle` for
    // this operation's value type (each Java future class holds one kind) and
    // released only by `release`, from the future's `finalize`, which the JVM
    // runs once the future is unreachable, so no call can race with it.
    unsafe {
        Arc::increment_strong_count(ptr);
        Ok(Arc::from_raw(ptr))
    }
}

fn release<O: Op>(raw: jlong) {
    if raw != 0 {
        // SAFETY: see `promise`; this gives back the reference Java held.
        drop(unsafe { Arc::from_raw(raw as *const Promise<O::Value>) });
    }
}

/// The `future` field of an inner future object (`FetchFuture`, ...).
fn future_field(env: &mut Env<'_>, this: &JObject<'_>) -> Result<jlong> {
    Ok(env.get_field(this, jni_str!("future"), jni_sig!("J"))?.j()?)
}

/// Starts `op` on the `State` of `this` and hands its promise to Java.
fn start<T, Fut>(env: &mut Env<'_>, this: &JObject<'_>, op: impl FnOnce(Arc<State>) -> Fut) -> Result<jlong>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let state = state(env, this)?;
    Ok(into_java_handle(Promise::spawn(op(state))?))
}

fn start_fetch<'l>(env: EnvUnowned<'l>, this: JObject<'l>, name: JObject<'l>) -> jlong {
    native(env, "AbstractState.__fetch", |env| {
        let name = jvm::string(env, &name, "name")?;
        start(env, &this, |state| async move { state.fetch(name).await })
    })
}

fn start_store<'l>(env: EnvUnowned<'l>, this: JObject<'l>, variable: JObject<'l>) -> jlong {
    native(env, "AbstractState.__store", |env| {
        let entry = (*variable_entry(env, &variable)?).clone();
        start(env, &this, |state| async move { state.store(entry).await })
    })
}

fn start_expunge<'l>(env: EnvUnowned<'l>, this: JObject<'l>, variable: JObject<'l>) -> jlong {
    native(env, "AbstractState.__expunge", |env| {
        let entry = (*variable_entry(env, &variable)?).clone();
        start(env, &this, |state| async move { state.expunge(entry).await })
    })
}

fn start_names<'l>(env: EnvUnowned<'l>, this: JObject<'l>) -> jlong {
    native(env, "AbstractState.__names", |env| start(env, &this, |state| async move { state.names().await }))
}

// The pre-0.22.1 natives, taking the future's `long` (`__fetch_get(future)`).

fn handle_cancel<'l, O: Op>(env: EnvUnowned<'l>, _this: JObject<'l>, future: jlong) -> jboolean {
    native(env, O::NAME, |_| Ok(promise::<O>(future)?.cancel()))
}

fn handle_is_cancelled<'l, O: Op>(env: EnvUnowned<'l>, _this: JObject<'l>, future: jlong) -> jboolean {
    native(env, O::NAME, |_| Ok(promise::<O>(future)?.is_cancelled()))
}

fn handle_is_done<'l, O: Op>(env: EnvUnowned<'l>, _this: JObject<'l>, future: jlong) -> jboolean {
    native(env, O::NAME, |_| Ok(promise::<O>(future)?.is_done()))
}

fn handle_get<'l, O: Op>(env: EnvUnowned<'l>, _this: JObject<'l>, future: jlong) -> JObject<'l> {
    native(env, O::NAME, |env| {
        let value = promise::<O>(future)?.get(None)?;
        O::to_java(env, value)
    })
}

fn handle_get_timeout<'l, O: Op>(
    env: EnvUnowned<'l>,
    _this: JObject<'l>,
    future: jlong,
    timeout: jlong,
    unit: JObject<'l>,
) -> JObject<'l> {
    native(env, O::NAME, |env| {
        let timeout = jvm::duration(env, timeout, &unit)?;
        let value = promise::<O>(future)?.get(Some(timeout))?;
        O::to_java(env, value)
    })
}

fn handle_finalize<'l, O: Op>(env: EnvUnowned<'l>, _this: JObject<'l>, future: jlong) {
    native(env, O::NAME, |_| {
        release::<O>(future);
        Ok(())
    })
}

// The future classes' own natives (`FetchFuture.get()`), reading `future`.

fn future_cancel<'l, O: Op>(env: EnvUnowned<'l>, this: JObject<'l>, may_interrupt: jboolean) -> jboolean {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        // Not interrupting a running operation is all Apache's answer to
        // `cancel(false)`: nothing happens.
        Ok(may_interrupt && promise::<O>(future)?.cancel())
    })
}

fn future_is_cancelled<'l, O: Op>(env: EnvUnowned<'l>, this: JObject<'l>) -> jboolean {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        Ok(promise::<O>(future)?.is_cancelled())
    })
}

fn future_is_done<'l, O: Op>(env: EnvUnowned<'l>, this: JObject<'l>) -> jboolean {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        Ok(promise::<O>(future)?.is_done())
    })
}

fn future_get<'l, O: Op>(env: EnvUnowned<'l>, this: JObject<'l>) -> JObject<'l> {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        let value = promise::<O>(future)?.get(None)?;
        O::to_java(env, value)
    })
}

fn future_get_timeout<'l, O: Op>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    timeout: jlong,
    unit: JObject<'l>,
) -> JObject<'l> {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        let timeout = jvm::duration(env, timeout, &unit)?;
        let value = promise::<O>(future)?.get(Some(timeout))?;
        O::to_java(env, value)
    })
}

fn future_finalize<'l, O: Op>(env: EnvUnowned<'l>, this: JObject<'l>) {
    native(env, O::NAME, |env| {
        let future = future_field(env, &this)?;
        env.set_field(&this, jni_str!("future"), jni_sig!("J"), JValue::Long(0))?;
        release::<O>(future);
        Ok(())
    })
}

// --- ZooKeeperState -----------------------------------------------------------

/// `ZooKeeperState(servers, timeout, unit, znode)`: no credentials.
fn zk_state_init<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    servers: JObject<'l>,
    timeout: jlong,
    unit: JObject<'l>,
    znode: JObject<'l>,
) {
    zk_state_init_auth(env, this, servers, timeout, unit, znode, JObject::null(), JObject::null())
}

/// `ZooKeeperState(servers, timeout, unit, znode, scheme, credentials)`; as
/// in Apache's glue, a `null` scheme or credentials means none.
#[allow(clippy::too_many_arguments)]
fn zk_state_init_auth<'l>(
    env: EnvUnowned<'l>,
    this: JObject<'l>,
    servers: JObject<'l>,
    timeout: jlong,
    unit: JObject<'l>,
    znode: JObject<'l>,
    scheme: JObject<'l>,
    credentials: JObject<'l>,
) {
    native(env, "ZooKeeperState.initialize", |env| {
        crate::backend::ensure_logging();
        let servers = jvm::string(env, &servers, "servers")?;
        let timeout = jvm::duration(env, timeout, &unit)?;
        let znode = jvm::string(env, &znode, "znode")?;
        let auth = if scheme.is_null() || credentials.is_null() {
            None
        } else {
            let scheme = jvm::string(env, &scheme, "scheme")?;
            let credentials = jvm::bytes(env, &credentials, "credentials")?;
            Some(Authentication { scheme, credentials: String::from_utf8_lossy(&credentials).into_owned() })
        };
        tracing::info!(%servers, %znode, "ZooKeeperState");
        let storage = ZooKeeperStorage::new(&servers, timeout, &znode, auth);
        jvm::set_handle(env, &this, jni_str!("__state"), Arc::new(State::new(storage)))
    })
}

// --- exports ------------------------------------------------------------------

type O<'l> = JObject<'l>;
type Z = jboolean;
type J = jlong;

export!(both "org.apache.mesos.state.Variable" "value" "()[B", variable_value_s / variable_value_l, () -> O<'local>,
    variable_value);
export!(both "org.apache.mesos.state.Variable" "mutate" "([B)Lorg/apache/mesos/state/Variable;",
    variable_mutate_s / variable_mutate_l, (value: O<'local>) -> O<'local>, variable_mutate);
export!(both "org.apache.mesos.state.Variable" "finalize" "()V", variable_finalize_s / variable_finalize_l, () -> (),
    variable_finalize);

export!(long "org.apache.mesos.state.ZooKeeperState" "initialize"
    "(Ljava/lang/String;JLjava/util/concurrent/TimeUnit;Ljava/lang/String;)V",
    zk_initialize_l, (servers: O<'local>, timeout: J, unit: O<'local>, znode: O<'local>) -> (), zk_state_init);
export!(long "org.apache.mesos.state.ZooKeeperState" "initialize"
    "(Ljava/lang/String;JLjava/util/concurrent/TimeUnit;Ljava/lang/String;Ljava/lang/String;[B)V",
    zk_initialize_auth_l,
    (servers: O<'local>, timeout: J, unit: O<'local>, znode: O<'local>, scheme: O<'local>, credentials: O<'local>) -> (),
    zk_state_init_auth);

export!(both "org.apache.mesos.state.AbstractState" "finalize" "()V", state_finalize_s / state_finalize_l, () -> (),
    state_finalize);
export!(both "org.apache.mesos.state.AbstractState" "__fetch" "(Ljava/lang/String;)J", fetch_s / fetch_l,
    (name: O<'local>) -> J, start_fetch);
export!(both "org.apache.mesos.state.AbstractState" "__store" "(Lorg/apache/mesos/state/Variable;)J", store_s / store_l,
    (variable: O<'local>) -> J, start_store);
export!(both "org.apache.mesos.state.AbstractState" "__expunge" "(Lorg/apache/mesos/state/Variable;)J",
    expunge_s / expunge_l, (variable: O<'local>) -> J, start_expunge);
export!(both "org.apache.mesos.state.AbstractState" "__names" "()J", names_s / names_l, () -> J, start_names);

/// The six `long`-handle natives of one operation (`__fetch_cancel`, ...).
macro_rules! handle_natives {
    ($op:ty, $cancel:literal, $is_cancelled:literal, $is_done:literal, $get:literal, $get_timeout:literal,
     $finalize:literal, $ret:literal, [$a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
     $i:ident, $j:ident, $k:ident, $l:ident]) => {
        export!(both "org.apache.mesos.state.AbstractState" $cancel "(J)Z", $a / $b, (future: J) -> Z,
            handle_cancel::<$op>);
        export!(both "org.apache.mesos.state.AbstractState" $is_cancelled "(J)Z", $c / $d, (future: J) -> Z,
            handle_is_cancelled::<$op>);
        export!(both "org.apache.mesos.state.AbstractState" $is_done "(J)Z", $e / $f, (future: J) -> Z,
            handle_is_done::<$op>);
        export!(both "org.apache.mesos.state.AbstractState" $get $ret, $g / $h, (future: J) -> O<'local>,
            handle_get::<$op>);
        export!(both "org.apache.mesos.state.AbstractState" $get_timeout "(JJLjava/util/concurrent/TimeUnit;)V", $i / $j,
            (future: J, timeout: J, unit: O<'local>) -> O<'local>, handle_get_timeout::<$op>);
        export!(both "org.apache.mesos.state.AbstractState" $finalize "(J)V", $k / $l, (future: J) -> (),
            handle_finalize::<$op>);
    };
}

handle_natives!(
    Fetch,
    "__fetch_cancel",
    "__fetch_is_cancelled",
    "__fetch_is_done",
    "__fetch_get",
    "__fetch_get_timeout",
    "__fetch_finalize",
    "(J)V",
    [fc_s, fc_l, fic_s, fic_l, fid_s, fid_l, fg_s, fg_l, fgt_s, fgt_l, ff_s, ff_l]
);
handle_natives!(
    Store,
    "__store_cancel",
    "__store_is_cancelled",
    "__store_is_done",
    "__store_get",
    "__store_get_timeout",
    "__store_finalize",
    "(J)V",
    [sc_s, sc_l, sic_s, sic_l, sid_s, sid_l, sg_s, sg_l, sgt_s, sgt_l, sf_s, sf_l]
);
handle_natives!(
    Expunge,
    "__expunge_cancel",
    "__expunge_is_cancelled",
    "__expunge_is_done",
    "__expunge_get",
    "__expunge_get_timeout",
    "__expunge_finalize",
    "(J)V",
    [ec_s, ec_l, eic_s, eic_l, eid_s, eid_l, eg_s, eg_l, egt_s, egt_l, ef_s, ef_l]
);
handle_natives!(
    Names,
    "__names_cancel",
    "__names_is_cancelled",
    "__names_is_done",
    "__names_get",
    "__names_get_timeout",
    "__names_finalize",
    "(J)V",
    [nc_s, nc_l, nic_s, nic_l, nid_s, nid_l, ng_s, ng_l, ngt_s, ngt_l, nf_s, nf_l]
);

/// The natives of one future class (`AbstractState$FetchFuture`, ...): `get`
/// is overloaded, so only its long names are exported.
macro_rules! future_natives {
    ($op:ty, $class:literal, [$a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
     $i:ident, $j:ident]) => {
        export!(both $class "cancel" "(Z)Z", $a / $b, (may_interrupt: Z) -> Z, future_cancel::<$op>);
        export!(both $class "isCancelled" "()Z", $c / $d, () -> Z, future_is_cancelled::<$op>);
        export!(both $class "isDone" "()Z", $e / $f, () -> Z, future_is_done::<$op>);
        export!(long $class "get" "()V", $g, () -> O<'local>, future_get::<$op>);
        export!(long $class "get" "(JLjava/util/concurrent/TimeUnit;)V", $h, (timeout: J, unit: O<'local>) -> O<'local>,
            future_get_timeout::<$op>);
        export!(both $class "finalize" "()V", $i / $j, () -> (), future_finalize::<$op>);
    };
}

future_natives!(
    Fetch,
    "org.apache.mesos.state.AbstractState$FetchFuture",
    [ffc_s, ffc_l, ffic_s, ffic_l, ffid_s, ffid_l, ffg_l, ffgt_l, fff_s, fff_l]
);
future_natives!(
    Store,
    "org.apache.mesos.state.AbstractState$StoreFuture",
    [sfc_s, sfc_l, sfic_s, sfic_l, sfid_s, sfid_l, sfg_l, sfgt_l, sff_s, sff_l]
);
future_natives!(
    Expunge,
    "org.apache.mesos.state.AbstractState$ExpungeFuture",
    [efc_s, efc_l, efic_s, efic_l, efid_s, efid_l, efg_l, efgt_l, eff_s, eff_l]
);
future_natives!(
    Names,
    "org.apache.mesos.state.AbstractState$NamesFuture",
    [nfc_s, nfc_l, nfic_s, nfic_l, nfid_s, nfid_l, nfg_l, nfgt_l, nff_s, nff_l]
);
