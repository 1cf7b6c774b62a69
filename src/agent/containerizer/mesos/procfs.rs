//! Processes as `/proc` shows them: process trees, killing them, their usage,
//! and wait statuses written the way Mesos writes them.
//!
//! Shared by the posix launcher (destroy without cgroups), the posix isolators
//! (`usage` from `/proc`), the command and default executors (killing a task's
//! tree) and the health checkers (killing a timed-out check).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// `R`, `S`, `D`, `Z`, `T`, ...
    pub state: char,
    /// User and system CPU time in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

impl ProcessInfo {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// Parses the contents of `/proc/<pid>/stat`. `None` if malformed.
pub fn parse_stat(text: &str) -> Option<ProcessInfo> {
    // The command name is in parentheses and may itself contain spaces and
    // parentheses: everything after the *last* ')' is space-separated.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |i: usize| rest.get(i).copied();
    let num = |i: usize| field(i).and_then(|s| s.parse::<i64>().ok());
    Some(ProcessInfo {
        pid,
        state: field(0)?.chars().next()?,
        ppid: num(1)? as i32,
        pgrp: num(2)? as i32,
        session: num(3)? as i32,
        utime: num(11)?.max(0) as u64,
        stime: num(12)?.max(0) as u64,
        rss_pages: num(21)?.max(0) as u64,
    })
}

/// Reads one process; `None` if it does not exist (or vanished meanwhile).
pub fn process(pid: i32) -> Option<ProcessInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Every process currently visible in `/proc`.
pub fn processes() -> Vec<ProcessInfo> {
    processes_in(Path::new("/proc"))
}

fn processes_in(proc_root: &Path) -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir(proc_root) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(|pid| {
            let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
            parse_stat(&text)
        })
        .collect()
}

/// Whether `pid` exists and has not exited (a zombie counts as exited).
pub fn is_alive(pid: i32) -> bool {
    pid > 0 && process(pid).is_some_and(|p| !p.is_zombie())
}

/// `pid` and all its descendants (breadth first), from one snapshot.
pub fn tree(pid: i32) -> Vec<ProcessInfo> {
    let all = processes();
    let mut children: BTreeMap<i32, Vec<&ProcessInfo>> = BTreeMap::new();
    for p in &all {
        children.entry(p.ppid).or_default().push(p);
    }
    let Some(root) = all.iter().find(|p| p.pid == pid) else { return Vec::new() };
    let mut out = vec![root.clone()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].pid;
        if let Some(kids) = children.get(&parent) {
            out.extend(kids.iter().map(|p| (*p).clone()));
        }
        i += 1;
    }
    out
}

/// Which related processes [`killtree`] includes besides descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeScope {
    /// Also every process in the process group of a process in the tree.
    pub groups: bool,
    /// Also every process in the session of a process in the tree.
    pub sessions: bool,
}

impl TreeScope {
    pub const DESCENDANTS: TreeScope = TreeScope { groups: false, sessions: false };
    /// What Mesos uses for a task started in its own session.
    pub const SESSION: TreeScope = TreeScope { groups: true, sessions: true };
}

/// Sends `signal` to `pid`, its descendants and (per `scope`) their process
/// groups and sessions, as stout's `os::killtree` does: the processes are
/// stopped while the tree is walked so none can fork out of it, signalled,
/// then continued. Never signals this process or its own group/session.
/// Returns the pids signalled (empty if `pid` is gone).
pub fn killtree(pid: i32, signal: Signal, scope: TreeScope) -> Vec<i32> {
    let me = std::process::id() as i32;
    let my_pgrp = nix::unistd::getpgrp().as_raw();
    let my_sid = nix::unistd::getsid(None).map(|p| p.as_raw()).unwrap_or(-1);
    if pid <= 1 || pid == me {
        return Vec::new();
    }

    // Processes already stopped (and so unable to fork any more).
    let mut stopped: BTreeSet<i32> = BTreeSet::new();
    loop {
        let all = processes();
        if !all.iter().any(|p| p.pid == pid) && stopped.is_empty() {
            return Vec::new();
        }
        // Close the set over this snapshot: children of members, and (per
        // scope) members of their groups and sessions.
        let mut members: BTreeSet<i32> = stopped.clone();
        members.insert(pid);
        let mut groups = BTreeSet::new();
        let mut sessions = BTreeSet::new();
        let mut changed = true;
        while changed {
            changed = false;
            for p in all.iter().filter(|p| members.contains(&p.pid)) {
                if scope.groups && p.pgrp > 1 && p.pgrp != my_pgrp {
                    changed |= groups.insert(p.pgrp);
                }
                if scope.sessions && p.session > 1 && p.session != my_sid {
                    changed |= sessions.insert(p.session);
                }
            }
            for p in &all {
                if p.pid <= 1 || p.pid == me || members.contains(&p.pid) {
                    continue;
                }
                if members.contains(&p.ppid) || groups.contains(&p.pgrp) || sessions.contains(&p.session) {
                    members.insert(p.pid);
                    changed = true;
                }
            }
        }
        let mut added = false;
        for p in members {
            if stopped.insert(p) {
                let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    for &p in &stopped {
        let _ = kill(Pid::from_raw(p), signal);
    }
    for &p in &stopped {
        let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
    }
    stopped.into_iter().collect()
}

/// A `sysconf` value, or `fallback` if the system does not say.
fn sysconf(name: libc::c_int, fallback: u64) -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let value = unsafe { libc::sysconf(name) };
    if value > 0 {
        value as u64
    } else {
        fallback
    }
}

/// Clock ticks per second (`_SC_CLK_TCK`), for `/proc` CPU times.
pub fn clock_ticks() -> u64 {
    sysconf(libc::_SC_CLK_TCK, 100)
}

/// The page size in bytes, for `/proc` RSS.
pub fn page_size() -> u64 {
    sysconf(libc::_SC_PAGESIZE, 4096)
}

/// Summed usage of a process tree (what Mesos's `mesos::internal::usage` reports).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeUsage {
    pub user_secs: f64,
    pub system_secs: f64,
    pub rss_bytes: u64,
    pub processes: u32,
}

/// The CPU times and RSS of `pid` and its descendants; `None` if `pid` is gone.
pub fn tree_usage(pid: i32) -> Option<TreeUsage> {
    let members = tree(pid);
    if members.is_empty() {
        return None;
    }
    let ticks = clock_ticks() as f64;
    let page = page_size();
    let mut usage = TreeUsage::default();
    for p in members {
        usage.user_secs += p.utime as f64 / ticks;
        usage.system_secs += p.stime as f64 / ticks;
        usage.rss_bytes += p.rss_pages * page;
        usage.processes += 1;
    }
    Some(usage)
}

/// The description glibc's `strsignal` gives (e.g. "Killed", "Terminated").
pub fn signal_description(signal: i32) -> String {
    // SAFETY: strsignal accepts any int and returns a pointer to a
    // NUL-terminated string (static, or a thread-local buffer for unknown
    // signals) which we copy before anything else can overwrite it.
    unsafe {
        let ptr = libc::strsignal(signal);
        if ptr.is_null() {
            return format!("Unknown signal {signal}");
        }
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}

/// A wait status in words, as Mesos's `WSTRINGIFY` writes it: "exited with
/// status 1", "terminated with signal Killed" (plus " (core dumped)").
pub fn wstringify(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let core = if libc::WCOREDUMP(status) { " (core dumped)" } else { "" };
        format!("terminated with signal {}{core}", signal_description(libc::WTERMSIG(status)))
    } else if libc::WIFSTOPPED(status) {
        format!("stopped on signal {}", signal_description(libc::WSTOPSIG(status)))
    } else {
        format!("wait status {status}")
    }
}

/// Whether a wait status means a clean exit (`WSUCCEEDED`).
pub fn wsucceeded(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// The raw wait status of a `std::process::ExitStatus`.
pub fn raw_status(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 42 18446744073709551615";
        let p = parse_stat(line).unwrap();
        assert_eq!((p.pid, p.ppid, p.pgrp, p.session, p.state), (1234, 1, 1234, 1234, 'S'));
        assert_eq!((p.utime, p.stime, p.rss_pages), (7, 3, 42));
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("12 (x) S 1").is_none());
    }

    #[test]
    fn wait_statuses_read_like_mesos() {
        assert_eq!(wstringify(0), "exited with status 0");
        assert_eq!(wstringify(3 << 8), "exited with status 3");
        assert_eq!(wstringify(9), "terminated with signal Killed");
        assert_eq!(wstringify(15), "terminated with signal Terminated");
        assert!(wsucceeded(0) && !wsucceeded(1 << 8) && !wsucceeded(9));
    }

    #[test]
    fn this_process_is_visible() {
        let me = std::process::id() as i32;
        assert!(is_alive(me));
        assert!(tree(me).iter().any(|p| p.pid == me));
        let usage = tree_usage(me).unwrap();
        assert!(usage.rss_bytes > 0 && usage.processes >= 1);
        assert!(!is_alive(-5));
    }
}
