//! Command-line flags the way Mesos's binaries take them (stout's `FlagsBase`).
//!
//! Operators swap our binaries in with their existing flags and `MESOS_*`
//! environment, so loading follows stout exactly:
//! - `--name=value`, `--name` (boolean true) and `--no-name` (boolean false);
//!   names are lower-cased; anything not starting with `--` is skipped; `--`
//!   stops flag parsing;
//! - environment variables `<PREFIX><NAME>` (any case after the prefix) fill
//!   flags the command line did not set; unknown names there are ignored;
//! - an unknown flag on the command line, a flag given twice, a value for
//!   `--no-name`, and a missing value for a non-boolean flag are errors with
//!   stout's messages;
//! - a value `file:///path` is replaced by the file's contents (whitespace
//!   trimmed), except for path flags;
//! - deprecated aliases (e.g. `--slave_ping_timeout` for
//!   `--agent_ping_timeout`) load the flag and produce a warning.
//!
//! Each binary declares its flags as a table of [`FlagDef`]s; typed values are
//! read with [`Flags::get`] / [`Flags::opt`], and [`Flags::effective`] gives the
//! string values `/flags` and `GET_FLAGS` report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::units::{format_duration, parse_duration, Bytes};

/// What a flag holds; decides how its value is validated and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    /// A filesystem path: `file://` is not fetched for it.
    Path,
    Int,
    Uint,
    Float,
    Duration,
    Bytes,
    /// A JSON object or array (e.g. `--acls`, `--resources` in JSON form is a String).
    Json,
}

/// One flag a binary accepts.
#[derive(Debug, Clone)]
pub struct FlagDef {
    pub name: &'static str,
    pub kind: Kind,
    /// The default, written as an operator would (`"5secs"`), or `None`.
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Deprecated alternative names.
    pub aliases: &'static [&'static str],
    pub required: bool,
}

impl FlagDef {
    pub const fn new(name: &'static str, kind: Kind, default: Option<&'static str>, help: &'static str) -> Self {
        FlagDef { name, kind, default, help, aliases: &[], required: false }
    }

    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// Why flags could not be loaded or read. Texts are stout's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagsError(pub String);

/// Loaded flags: values as strings (defaults included), validated per [`Kind`].
#[derive(Debug, Clone)]
pub struct Flags {
    program: String,
    defs: Vec<FlagDef>,
    values: BTreeMap<String, String>,
    loaded: BTreeSet<String>,
    /// Deprecation warnings to log once logging is up.
    pub warnings: Vec<String>,
    /// `--help` was given: print [`Flags::usage`] and exit 0.
    pub help: bool,
}

impl Flags {
    /// Loads `args` (without the program name) and the environment with `prefix`
    /// (e.g. `Some("MESOS_")`), command line first.
    pub fn load<A, E>(
        program: &str,
        defs: &[FlagDef],
        args: A,
        env: E,
        prefix: Option<&str>,
    ) -> Result<Flags, FlagsError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        E: IntoIterator<Item = (String, String)>,
    {
        let mut defs: Vec<FlagDef> = defs.to_vec();
        if !defs.iter().any(|d| d.name == "help") {
            defs.push(FlagDef::new("help", Kind::Bool, Some("false"), "Prints this help message"));
        }
        let lookup =
            |name: &str| -> Option<usize> { defs.iter().position(|d| d.name == name || d.aliases.contains(&name)) };

        // (name as written, value) in command-line order, then the environment.
        let mut given: Vec<(String, Option<String>)> = Vec::new();
        for arg in args {
            let arg = arg.as_ref().trim();
            if arg == "--" {
                break;
            }
            let Some(rest) = arg.strip_prefix("--") else { continue };
            match rest.split_once('=') {
                Some((name, value)) => given.push((name.to_lowercase(), Some(value.to_string()))),
                None => given.push((rest.to_lowercase(), None)),
            }
        }
        if let Some(prefix) = prefix {
            let mut from_env: BTreeMap<String, String> = BTreeMap::new();
            for (key, value) in env {
                let Some(name) = key.strip_prefix(prefix) else { continue };
                let name = name.to_lowercase();
                let bare = name.strip_prefix("no-").unwrap_or(&name);
                if lookup(bare).is_some() {
                    from_env.insert(name, value);
                }
            }
            for (name, value) in from_env {
                if !given.iter().any(|(n, _)| *n == name) {
                    given.push((name, Some(value)));
                }
            }
        }

        let mut values = BTreeMap::new();
        let mut loaded: BTreeMap<String, String> = BTreeMap::new(); // flag -> name loaded via
        let mut warnings = Vec::new();
        for (name, value) in given {
            let negated = name.starts_with("no-");
            let flag_name = if negated { &name[3..] } else { name.as_str() };
            let Some(idx) = lookup(flag_name) else {
                let via = if negated { format!(" via '{name}'") } else { String::new() };
                return Err(FlagsError(format!("Failed to load unknown flag '{flag_name}'{via}")));
            };
            let def = &defs[idx];
            if let Some(via) = loaded.get(def.name) {
                return Err(FlagsError(format!("Flag '{flag_name}' is already loaded via name '{via}'")));
            }
            let raw = if def.kind != Kind::Bool {
                if negated {
                    return Err(FlagsError(format!("Failed to load non-boolean flag '{flag_name}' via '{name}'")));
                }
                value.ok_or_else(|| {
                    FlagsError(format!("Failed to load non-boolean flag '{flag_name}': Missing value"))
                })?
            } else {
                match value {
                    None => (!negated).to_string(),
                    Some(v) if v.is_empty() => (!negated).to_string(),
                    Some(v) if !negated => v,
                    Some(v) => {
                        return Err(FlagsError(format!(
                            "Failed to load boolean flag '{flag_name}' via '{name}' with value '{v}'"
                        )))
                    }
                }
            };
            let raw =
                fetch(def.kind, raw).map_err(|e| FlagsError(format!("Failed to load flag '{flag_name}': {e}")))?;
            validate(def.kind, &raw).map_err(|e| FlagsError(format!("Failed to load flag '{flag_name}': {e}")))?;
            if flag_name != def.name {
                warnings.push(format!("Loaded deprecated flag '{flag_name}'"));
            }
            loaded.insert(def.name.to_string(), flag_name.to_string());
            values.insert(def.name.to_string(), raw);
        }
        for def in &defs {
            if values.contains_key(def.name) {
                continue;
            }
            if def.required {
                return Err(FlagsError(format!("Flag '{}' is required, but it was not provided", def.name)));
            }
            if let Some(default) = def.default {
                values.insert(def.name.to_string(), default.to_string());
            }
        }
        let help = values.get("help").is_some_and(|v| v == "true" || v == "1");
        Ok(Flags { program: program.to_string(), defs, values, loaded: loaded.into_keys().collect(), warnings, help })
    }

    /// Loads from this process's arguments and environment with prefix `MESOS_`.
    pub fn from_env(program: &str, defs: &[FlagDef]) -> Result<Flags, FlagsError> {
        Flags::load(program, defs, std::env::args().skip(1), std::env::vars(), Some("MESOS_"))
    }

    /// The raw value (after `file://` fetching), default included.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether the operator set the flag (command line or environment).
    pub fn is_set(&self, name: &str) -> bool {
        self.loaded.contains(name)
    }

    /// Typed value of a flag that has a value (set or default).
    pub fn get<T: FlagValue>(&self, name: &str) -> Result<T, FlagsError> {
        self.opt(name)?.ok_or_else(|| FlagsError(format!("Flag '{name}' has no value")))
    }

    /// Typed value, or `None` when neither set nor defaulted.
    pub fn opt<T: FlagValue>(&self, name: &str) -> Result<Option<T>, FlagsError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(raw) => {
                T::parse_flag(raw).map(Some).map_err(|e| FlagsError(format!("Failed to load flag '{name}': {e}")))
            }
        }
    }

    /// Every flag with a value, as `/flags` reports it (durations and sizes in
    /// stout's canonical form).
    pub fn effective(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for def in &self.defs {
            if def.name == "help" {
                continue;
            }
            let Some(raw) = self.values.get(def.name) else { continue };
            let shown = match def.kind {
                Kind::Duration => parse_duration(raw).map(format_duration).unwrap_or_else(|_| raw.clone()),
                Kind::Bytes => Bytes::parse(raw).map(|b| b.to_string()).unwrap_or_else(|_| raw.clone()),
                Kind::Bool => parse_bool(raw).map(|b| b.to_string()).unwrap_or_else(|_| raw.clone()),
                _ => raw.clone(),
            };
            out.insert(def.name.to_string(), shown);
        }
        out
    }

    /// The usage text printed for `--help` and after a load error.
    pub fn usage(&self) -> String {
        usage(&self.program, &self.defs)
    }
}

/// The usage text for `program` with `defs`, as stout lays it out.
pub fn usage(program: &str, defs: &[FlagDef]) -> String {
    let mut out = format!("Usage: {program} [options]\n\n");
    let mut defs: Vec<&FlagDef> = defs.iter().collect();
    defs.sort_by_key(|d| d.name);
    let left: Vec<String> = defs
        .iter()
        .map(|d| match d.kind {
            Kind::Bool => format!("  --[no-]{}", d.name),
            _ => format!("  --{}=VALUE", d.name),
        })
        .collect();
    let width = left.iter().map(String::len).max().unwrap_or(0) + 3;
    for (def, head) in defs.iter().zip(left) {
        let mut help = def.help.to_string();
        if let Some(default) = def.default {
            help.push_str(&format!(" (default: {default})"));
        }
        let mut lines = help.lines();
        out.push_str(&format!("{head:width$}{}\n", lines.next().unwrap_or("")));
        for line in lines {
            out.push_str(&format!("{:width$}{line}\n", ""));
        }
    }
    out
}

fn fetch(kind: Kind, raw: String) -> Result<String, String> {
    match raw.strip_prefix("file://") {
        Some(path) if kind != Kind::Path => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("Error reading file '{path}': {e}")),
        _ => Ok(raw),
    }
}

fn validate(kind: Kind, raw: &str) -> Result<(), String> {
    match kind {
        Kind::Bool => parse_bool(raw).map(|_| ()),
        Kind::String | Kind::Path => Ok(()),
        Kind::Int => raw.parse::<i64>().map(|_| ()).map_err(|_| CONVERT.into()),
        Kind::Uint => raw.parse::<u64>().map(|_| ()).map_err(|_| CONVERT.into()),
        Kind::Float => raw.parse::<f64>().map(|_| ()).map_err(|_| CONVERT.into()),
        Kind::Duration => parse_duration(raw).map(|_| ()).map_err(|e| e.0),
        Kind::Bytes => Bytes::parse(raw).map(|_| ()).map_err(|e| e.0),
        Kind::Json => {
            serde_json::from_str::<serde_json::Value>(raw).map(|_| ()).map_err(|e| format!("Failed to parse JSON: {e}"))
        }
    }
}

const CONVERT: &str = "Failed to convert into required type";

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("Expecting a boolean (e.g., true or false), got '{raw}'")),
    }
}

/// A type a flag's string can be read as.
pub trait FlagValue: Sized {
    fn parse_flag(raw: &str) -> Result<Self, String>;
}

impl FlagValue for String {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        Ok(raw.to_string())
    }
}

impl FlagValue for bool {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        parse_bool(raw)
    }
}

impl FlagValue for Duration {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        parse_duration(raw).map_err(|e| e.0)
    }
}

impl FlagValue for Bytes {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        Bytes::parse(raw).map_err(|e| e.0)
    }
}

impl FlagValue for serde_json::Value {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        serde_json::from_str(raw).map_err(|e| format!("Failed to parse JSON: {e}"))
    }
}

impl FlagValue for std::path::PathBuf {
    fn parse_flag(raw: &str) -> Result<Self, String> {
        Ok(raw.into())
    }
}

macro_rules! numeric_flag {
    ($($t:ty),*) => {$(
        impl FlagValue for $t {
            fn parse_flag(raw: &str) -> Result<Self, String> {
                raw.trim().parse().map_err(|_| CONVERT.to_string())
            }
        }
    )*};
}
numeric_flag!(u16, u32, u64, usize, i32, i64, f64);

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &[FlagDef] = &[
        FlagDef::new("port", Kind::Uint, Some("5050"), "Port to listen on."),
        FlagDef::new("quiet", Kind::Bool, Some("false"), "Disable logging to stderr."),
        FlagDef::new("work_dir", Kind::Path, None, "Where to store state."),
        FlagDef::new("zk", Kind::String, None, "ZooKeeper URL."),
        FlagDef::new("agent_ping_timeout", Kind::Duration, Some("15secs"), "Ping timeout.")
            .aliases(&["slave_ping_timeout"]),
        FlagDef::new("max_completed_frameworks", Kind::Uint, Some("50"), "How many to keep."),
    ];

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Flags, FlagsError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Flags::load("mesos-master", DEFS, args, env, Some("MESOS_"))
    }

    #[test]
    fn values_defaults_and_booleans() {
        let f = load(&["--port=5051", "--quiet", "positional", "--work_dir=/tmp/x"], &[]).unwrap();
        assert_eq!(f.get::<u16>("port").unwrap(), 5051);
        assert!(f.get::<bool>("quiet").unwrap());
        assert_eq!(f.get::<Duration>("agent_ping_timeout").unwrap(), Duration::from_secs(15));
        assert_eq!(f.opt::<String>("zk").unwrap(), None);
        assert!(f.is_set("port") && !f.is_set("agent_ping_timeout"));
        let f = load(&["--no-quiet"], &[]).unwrap();
        assert!(!f.get::<bool>("quiet").unwrap());
    }

    #[test]
    fn environment_fills_what_the_command_line_did_not() {
        let f =
            load(&["--port=1"], &[("MESOS_PORT", "2"), ("MESOS_ZK", "zk://h/mesos"), ("MESOS_UNKNOWN", "x")]).unwrap();
        assert_eq!(f.get::<u16>("port").unwrap(), 1);
        assert_eq!(f.get::<String>("zk").unwrap(), "zk://h/mesos");
        let f = load(&[], &[("MESOS_quiet", "true")]).unwrap();
        assert!(f.get::<bool>("quiet").unwrap());
    }

    #[test]
    fn errors_use_stout_messages() {
        let e = |args: &[&str]| load(args, &[]).unwrap_err().0;
        assert_eq!(e(&["--nope=1"]), "Failed to load unknown flag 'nope'");
        assert_eq!(e(&["--no-nope"]), "Failed to load unknown flag 'nope' via 'no-nope'");
        assert_eq!(e(&["--port=1", "--port=2"]), "Flag 'port' is already loaded via name 'port'");
        assert_eq!(e(&["--no-port"]), "Failed to load non-boolean flag 'port' via 'no-port'");
        assert_eq!(e(&["--port"]), "Failed to load non-boolean flag 'port': Missing value");
        assert_eq!(e(&["--no-quiet=true"]), "Failed to load boolean flag 'quiet' via 'no-quiet' with value 'true'");
        assert_eq!(e(&["--port=abc"]), "Failed to load flag 'port': Failed to convert into required type");
        assert!(e(&["--agent_ping_timeout=5"]).starts_with("Failed to load flag 'agent_ping_timeout': Invalid"));
    }

    #[test]
    fn aliases_warn_and_file_values_are_read() {
        let dir = std::env::temp_dir().join(format!("flags-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("zk");
        std::fs::write(&path, "zk://10.0.0.1:2181/mesos\n").unwrap();
        let zk = format!("--zk=file://{}", path.display());
        let wd = format!("--work_dir=file://{}", path.display());
        let f = load(&["--slave_ping_timeout=30secs", &zk, &wd], &[]).unwrap();
        assert_eq!(f.get::<Duration>("agent_ping_timeout").unwrap(), Duration::from_secs(30));
        assert_eq!(f.warnings, vec!["Loaded deprecated flag 'slave_ping_timeout'".to_string()]);
        assert_eq!(f.get::<String>("zk").unwrap(), "zk://10.0.0.1:2181/mesos");
        // Path flags are not fetched.
        assert!(f.get::<String>("work_dir").unwrap().starts_with("file://"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn effective_values_are_canonical() {
        let f = load(&["--agent_ping_timeout=60secs", "--quiet=1"], &[]).unwrap();
        let e = f.effective();
        assert_eq!(e["agent_ping_timeout"], "1mins");
        assert_eq!(e["quiet"], "true");
        assert_eq!(e["port"], "5050");
        assert!(!e.contains_key("zk"));
        assert!(f.usage().contains("--[no-]quiet"));
        assert!(f.usage().contains("--port=VALUE"));
        assert!(load(&["--help"], &[]).unwrap().help);
    }
}
