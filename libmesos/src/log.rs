//! `org.apache.mesos.Log` (Mesos's replicated log, Aurora's storage) and the
//! state classes built on local storage or on that log (`LevelDBState`,
//! `LogState`): exported so that no JVM ever meets an `UnsatisfiedLinkError`,
//! but not implemented. Constructing any of them throws
//! `java.lang.UnsupportedOperationException` naming what is missing; their
//! `finalize` natives do nothing, so the half-built objects are collected
//! quietly.

use jni::objects::JObject;
use jni::sys::{jint, jlong};
use jni::EnvUnowned;

use crate::error::{native, Error};
use crate::export::export;

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!(
        "{what} is not supported: mesos-rs does not implement Mesos's replicated log or LevelDB storage \
         (use org.apache.mesos.state.ZooKeeperState, or Apache's libmesos for these classes)"
    ))
}

/// A native that always throws `UnsupportedOperationException` naming `what`.
macro_rules! unsupported_native {
    ($name:ident, $what:literal, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        // The arguments are the Java method's: JNI fixes the signature.
        #[allow(clippy::too_many_arguments)]
        fn $name<'l>(env: EnvUnowned<'l>, _this: JObject<'l>, $($arg: $ty),*) -> $ret {
            $(let _ = $arg;)*
            native(env, $what, |_| Err(unsupported($what)))
        }
    };
}

/// A `finalize` that releases nothing (nothing was ever allocated).
fn finalize_nothing<'l>(env: EnvUnowned<'l>, _this: JObject<'l>) {
    native(env, "finalize", |_| Ok(()))
}

type O<'l> = JObject<'l>;

unsupported_native!(log_init_local, "org.apache.mesos.Log (replicated log)",
    (quorum: jint, path: O<'l>, pids: O<'l>) -> ());
unsupported_native!(log_init_zk, "org.apache.mesos.Log (replicated log)",
    (quorum: jint, path: O<'l>, servers: O<'l>, timeout: jlong, unit: O<'l>, znode: O<'l>) -> ());
unsupported_native!(log_init_zk_auth, "org.apache.mesos.Log (replicated log)",
    (quorum: jint, path: O<'l>, servers: O<'l>, timeout: jlong, unit: O<'l>, znode: O<'l>, scheme: O<'l>,
     credentials: O<'l>) -> ());
unsupported_native!(reader_init, "org.apache.mesos.Log.Reader (replicated log)", (log: O<'l>) -> ());
unsupported_native!(reader_read, "org.apache.mesos.Log.Reader.read (replicated log)",
    (from: O<'l>, to: O<'l>, timeout: jlong, unit: O<'l>) -> O<'l>);
unsupported_native!(reader_beginning, "org.apache.mesos.Log.Reader.beginning (replicated log)", () -> O<'l>);
unsupported_native!(reader_ending, "org.apache.mesos.Log.Reader.ending (replicated log)", () -> O<'l>);
unsupported_native!(reader_catchup, "org.apache.mesos.Log.Reader.catchup (replicated log)",
    (timeout: jlong, unit: O<'l>) -> O<'l>);
unsupported_native!(writer_init, "org.apache.mesos.Log.Writer (replicated log)",
    (log: O<'l>, timeout: jlong, unit: O<'l>, retries: jint) -> ());
unsupported_native!(writer_append, "org.apache.mesos.Log.Writer.append (replicated log)",
    (data: O<'l>, timeout: jlong, unit: O<'l>) -> O<'l>);
unsupported_native!(writer_truncate, "org.apache.mesos.Log.Writer.truncate (replicated log)",
    (to: O<'l>, timeout: jlong, unit: O<'l>) -> O<'l>);
unsupported_native!(leveldb_state_init, "org.apache.mesos.state.LevelDBState (LevelDB storage)", (path: O<'l>) -> ());
unsupported_native!(log_state_init, "org.apache.mesos.state.LogState (replicated-log storage)",
    (servers: O<'l>, timeout: jlong, unit: O<'l>, znode: O<'l>, quorum: jlong, path: O<'l>, diffs: jint) -> ());

export!(long "org.apache.mesos.Log" "initialize" "(ILjava/lang/String;Ljava/util/Set;)V",
    log_initialize_local_l, (quorum: jint, path: O<'local>, pids: O<'local>) -> (), log_init_local);
export!(long "org.apache.mesos.Log" "initialize"
    "(ILjava/lang/String;Ljava/lang/String;JLjava/util/concurrent/TimeUnit;Ljava/lang/String;)V",
    log_initialize_zk_l,
    (quorum: jint, path: O<'local>, servers: O<'local>, timeout: jlong, unit: O<'local>, znode: O<'local>) -> (),
    log_init_zk);
export!(long "org.apache.mesos.Log" "initialize"
    "(ILjava/lang/String;Ljava/lang/String;JLjava/util/concurrent/TimeUnit;Ljava/lang/String;Ljava/lang/String;[B)V",
    log_initialize_zk_auth_l,
    (quorum: jint, path: O<'local>, servers: O<'local>, timeout: jlong, unit: O<'local>, znode: O<'local>,
     scheme: O<'local>, credentials: O<'local>) -> (),
    log_init_zk_auth);
export!(both "org.apache.mesos.Log" "finalize" "()V", log_finalize_s / log_finalize_l, () -> (), finalize_nothing);

export!(both "org.apache.mesos.Log$Reader" "initialize" "(Lorg/apache/mesos/Log;)V",
    reader_initialize_s / reader_initialize_l, (log: O<'local>) -> (), reader_init);
export!(both "org.apache.mesos.Log$Reader" "read"
    "(Lorg/apache/mesos/Log$Position;Lorg/apache/mesos/Log$Position;JLjava/util/concurrent/TimeUnit;)Ljava/util/List;",
    reader_read_s / reader_read_l, (from: O<'local>, to: O<'local>, timeout: jlong, unit: O<'local>) -> O<'local>,
    reader_read);
export!(both "org.apache.mesos.Log$Reader" "beginning" "()Lorg/apache/mesos/Log$Position;",
    reader_beginning_s / reader_beginning_l, () -> O<'local>, reader_beginning);
export!(both "org.apache.mesos.Log$Reader" "ending" "()Lorg/apache/mesos/Log$Position;",
    reader_ending_s / reader_ending_l, () -> O<'local>, reader_ending);
export!(both "org.apache.mesos.Log$Reader" "catchup" "(JLjava/util/concurrent/TimeUnit;)Lorg/apache/mesos/Log$Position;",
    reader_catchup_s / reader_catchup_l, (timeout: jlong, unit: O<'local>) -> O<'local>, reader_catchup);
export!(both "org.apache.mesos.Log$Reader" "finalize" "()V",
    reader_finalize_s / reader_finalize_l, () -> (), finalize_nothing);

export!(both "org.apache.mesos.Log$Writer" "initialize" "(Lorg/apache/mesos/Log;JLjava/util/concurrent/TimeUnit;I)V",
    writer_initialize_s / writer_initialize_l, (log: O<'local>, timeout: jlong, unit: O<'local>, retries: jint) -> (),
    writer_init);
export!(both "org.apache.mesos.Log$Writer" "append" "([BJLjava/util/concurrent/TimeUnit;)Lorg/apache/mesos/Log$Position;",
    writer_append_s / writer_append_l, (data: O<'local>, timeout: jlong, unit: O<'local>) -> O<'local>, writer_append);
export!(both "org.apache.mesos.Log$Writer" "truncate"
    "(Lorg/apache/mesos/Log$Position;JLjava/util/concurrent/TimeUnit;)Lorg/apache/mesos/Log$Position;",
    writer_truncate_s / writer_truncate_l, (to: O<'local>, timeout: jlong, unit: O<'local>) -> O<'local>,
    writer_truncate);
export!(both "org.apache.mesos.Log$Writer" "finalize" "()V",
    writer_finalize_s / writer_finalize_l, () -> (), finalize_nothing);

export!(both "org.apache.mesos.state.LevelDBState" "initialize" "(Ljava/lang/String;)V",
    leveldb_initialize_s / leveldb_initialize_l, (path: O<'local>) -> (), leveldb_state_init);
export!(both "org.apache.mesos.state.LogState" "initialize"
    "(Ljava/lang/String;JLjava/util/concurrent/TimeUnit;Ljava/lang/String;JLjava/lang/String;I)V",
    log_state_initialize_s / log_state_initialize_l,
    (servers: O<'local>, timeout: jlong, unit: O<'local>, znode: O<'local>, quorum: jlong, path: O<'local>,
     diffs: jint) -> (),
    log_state_init);
export!(both "org.apache.mesos.state.LogState" "finalize" "()V",
    log_state_finalize_s / log_state_finalize_l, () -> (), finalize_nothing);
