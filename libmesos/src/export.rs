//! Exporting natives under the names the JVM looks up.
//!
//! For `native T m(args)` of class `C`, HotSpot first looks for the short
//! name `Java_C_m`, then for the long name `Java_C_m__<mangled args>`. So:
//! - a native that is never overloaded (in any version of the bindings we
//!   serve) is exported under both names (`both`);
//! - a native overloaded in some version is exported under its long names
//!   only (`long`): a short name would be found first for every overload.
//!   `reviveOffers()` is a single native in 1.4.3 and overloaded in 1.11, so
//!   it is long-only: the 1.4.3 JVM finds `reviveOffers__` after missing the
//!   short name.
//!
//! `jni_mangle` (from the `jni` crate) does the JNI mangling (`_1`, `_00024`
//! for `$`, ...); the symbol test in compat-tests checks the exported names
//! against `javap`'s view of the real jar.

/// `export!(both|long "class" "method" "(args)R", short_fn/long_fn,
/// (arg: Type, ...) -> Ret, implementation)` exports wrappers calling
/// `implementation(env, this, arg, ...)`.
macro_rules! export {
    (both $class:literal $method:literal $sig:literal, $short:ident / $long:ident,
     ($($arg:ident: $ty:ty),*) -> $ret:ty, $imp:path) => {
        export!(@fn [$class, $method], $short, ($($arg: $ty),*) -> $ret, $imp);
        export!(@fn [$class, $method, $sig], $long, ($($arg: $ty),*) -> $ret, $imp);
    };
    (long $class:literal $method:literal $sig:literal, $long:ident,
     ($($arg:ident: $ty:ty),*) -> $ret:ty, $imp:path) => {
        export!(@fn [$class, $method, $sig], $long, ($($arg: $ty),*) -> $ret, $imp);
    };
    (@fn [$($mangle:literal),+], $name:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $imp:path) => {
        #[jni::jni_mangle($($mangle),+)]
        pub fn $name<'local>(
            env: jni::EnvUnowned<'local>,
            this: jni::objects::JObject<'local>,
            $($arg: $ty),*
        ) -> $ret {
            $imp(env, this, $($arg),*)
        }
    };
}

pub(crate) use export;
