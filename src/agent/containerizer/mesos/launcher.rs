//! Starting a container's top-level process, and waiting for one we did not
//! start (after an agent restart).
//!
//! [`spawn`] is one straight line: everything that can fail or allocate is
//! done in the agent first; between `fork` and `exec` the child only makes
//! system calls (new session, join the cgroups, drop privileges).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::proto::mesos::{environment::variable::Type as VariableType, CommandInfo, Environment};

use super::procfs;

/// `PATH` for a container whose environment has none (Mesos's
/// `os::host_default_path()`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A user to run as, resolved in the agent (the child cannot look it up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Supplementary groups (from the group database), the primary included.
    pub groups: Vec<libc::gid_t>,
}

/// Looks a user up in the password and group databases.
pub fn resolve_user(name: &str) -> Result<UserIds, String> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| format!("Failed to get user information for '{name}': {e}"))?
        .ok_or_else(|| format!("Failed to get user information for '{name}': no such user"))?;
    let cname = CString::new(name).map_err(|_| format!("Invalid user name '{name}'"))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| format!("Failed to get supplementary groups of '{name}': {e}"))?;
    Ok(UserIds {
        name: name.to_string(),
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups: groups.into_iter().map(|g| g.as_raw()).collect(),
    })
}

/// Gives `user` everything under `path` (`chown -R`, not following
/// symlinks): the sandbox, with what was fetched into it.
pub fn chown_tree(path: &Path, user: &UserIds) -> Result<(), String> {
    fn walk(path: &Path, uid: libc::uid_t, gid: libc::gid_t) -> std::io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        if std::fs::symlink_metadata(path)?.is_dir() {
            for entry in std::fs::read_dir(path)? {
                walk(&entry?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(path, user.uid, user.gid).map_err(|e| format!("Failed to chown sandbox to user '{}': {e}", user.name))
}

/// The program, `argv[0]` and the other arguments of a `CommandInfo`, as
/// Mesos runs it: `shell` (the default) is `/bin/sh -c <value>`; otherwise
/// `value` is the program and `arguments` the whole argv, `argv[0]` included.
pub fn command_line(command: &CommandInfo) -> Result<(PathBuf, String, Vec<String>), String> {
    let value = command.value.clone().unwrap_or_default();
    if command.shell() {
        if command.value.is_none() {
            return Err("Shell command is not specified".into());
        }
        return Ok((PathBuf::from("/bin/sh"), "sh".into(), vec!["-c".into(), value]));
    }
    if value.is_empty() {
        return Err("Executable is not specified".into());
    }
    let mut argv = command.arguments.iter().cloned();
    let argv0 = argv.next().unwrap_or_else(|| value.clone());
    Ok((PathBuf::from(value), argv0, argv.collect()))
}

/// `base`, overridden by the command's own variables (secrets are not
/// resolved here and are skipped), with a default `PATH`.
pub fn merge_environment(base: &BTreeMap<String, String>, command: Option<&Environment>) -> BTreeMap<String, String> {
    let mut env = base.clone();
    for variable in command.map(|e| e.variables.as_slice()).unwrap_or_default() {
        if variable.r#type() == VariableType::Secret {
            continue;
        }
        env.insert(variable.name.clone(), variable.value.clone().unwrap_or_default());
    }
    env.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
    env
}

/// What [`spawn`] starts.
#[derive(Debug)]
pub struct LaunchSpec<'a> {
    pub command: &'a CommandInfo,
    /// The complete environment (nothing is inherited from the agent).
    pub environment: BTreeMap<String, String>,
    /// Working directory (the sandbox).
    pub directory: &'a Path,
    /// Switch to this user (requires root).
    pub user: Option<UserIds>,
    /// `cgroup.procs` files the child joins before exec.
    pub cgroups: Vec<PathBuf>,
    pub stdout: File,
    pub stderr: File,
}

/// Starts the process; it runs in its own session, inside its cgroups, as
/// its user. The returned child is reaped asynchronously by tokio (so this
/// must run inside a tokio runtime).
pub fn spawn(spec: LaunchSpec<'_>) -> Result<tokio::process::Child, String> {
    // 1. What to exec: resolved now so a bad command fails here, not in the child.
    let (program, argv0, args) = command_line(spec.command)?;
    let mut command = std::process::Command::new(&program);
    command.arg0(argv0).args(args);

    // 2. Exactly the environment we were given.
    command.env_clear().envs(&spec.environment);

    // 3. stdin from /dev/null, stdout/stderr into the sandbox files.
    command.stdin(Stdio::null()).stdout(spec.stdout).stderr(spec.stderr);
    command.current_dir(spec.directory);

    // 4. The cgroups to join, opened by the agent: the child only writes
    //    to the descriptors (they are close-on-exec, so the task never sees
    //    them).
    let procs_files: Vec<File> = spec
        .cgroups
        .iter()
        .map(|path| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("Failed to open '{}': {e}", path.display()))
        })
        .collect::<Result<_, _>>()?;
    let procs_fds: Vec<RawFd> = procs_files.iter().map(|f| f.as_raw_fd()).collect();

    // 5. The ids to switch to, copied so the child does not allocate.
    let user = spec.user.map(|u| (u.uid, u.gid, u.groups));

    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed. It makes plain system calls
    // (setsid, write, setgroups, setgid, setuid) on values prepared above
    // (descriptors owned by `procs_files`, which outlives the spawn; a
    // vector allocated before the fork), allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            // a. Own session and process group, so the executor and its tasks
            //    can be found (and killed) together, and the agent's terminal
            //    signals do not reach them.
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // b. Join the container's cgroups before exec, so everything the
            //    process ever allocates is charged there ("0" means "me").
            for &fd in &procs_fds {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // c. Drop privileges last: joining cgroups needs root.
            if let Some((uid, gid, groups)) = &user {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(*gid) != 0
                    || libc::setuid(*uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }

    // 6. Fork and exec; tokio reaps the child and hands us its status.
    let child = tokio::process::Command::from(command)
        .spawn()
        .map_err(|e| format!("Failed to fork a child process: '{}': {e}", program.display()));
    drop(procs_files);
    child
}

/// Waits until `pid` (not our child: its status cannot be had) has exited,
/// using a pidfd when the kernel has them, polling `/proc` otherwise.
pub async fn wait_pid(pid: i32) {
    if let Some(fd) = pidfd_open(pid) {
        // SAFETY: `fd` is an OwnedFd kept inside the AsyncFd for its whole
        // life, so the registered descriptor stays open and unchanged.
        if let Ok(async_fd) = unsafe { AsyncFd::register_with_interest(PidFd(fd), Interest::READABLE) } {
            // A pidfd becomes readable once the process has terminated.
            let _ = async_fd.readable().await;
            return;
        }
    }
    while procfs::is_alive(pid) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct PidFd(OwnedFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mesos::environment::Variable;

    #[test]
    fn command_lines_follow_mesos() {
        let shell = CommandInfo { value: Some("echo hi".into()), ..Default::default() };
        assert_eq!(
            command_line(&shell).unwrap(),
            (PathBuf::from("/bin/sh"), "sh".into(), vec!["-c".into(), "echo hi".into()])
        );
        let argv = CommandInfo {
            shell: Some(false),
            value: Some("/usr/bin/mesos-executor".into()),
            arguments: vec!["mesos-executor".into(), "--launcher_dir=/x".into()],
            ..Default::default()
        };
        let (program, argv0, args) = command_line(&argv).unwrap();
        assert_eq!(
            (program, argv0, args),
            (PathBuf::from("/usr/bin/mesos-executor"), "mesos-executor".into(), vec!["--launcher_dir=/x".into()])
        );
        assert!(command_line(&CommandInfo::default()).is_err());
        assert!(command_line(&CommandInfo { shell: Some(false), ..Default::default() }).is_err());
    }

    #[test]
    fn command_environment_wins_and_secrets_are_skipped() {
        let base = BTreeMap::from([("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())]);
        let env = Environment {
            variables: vec![
                Variable { name: "B".into(), value: Some("3".into()), ..Default::default() },
                Variable { name: "S".into(), r#type: Some(VariableType::Secret as i32), ..Default::default() },
            ],
        };
        let merged = merge_environment(&base, Some(&env));
        assert_eq!(merged["A"], "1");
        assert_eq!(merged["B"], "3");
        assert!(!merged.contains_key("S"));
        assert_eq!(merged["PATH"], DEFAULT_PATH);
    }

    #[test]
    fn users_resolve() {
        let root = resolve_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(resolve_user("no-such-user-here").unwrap_err().contains("no such user"));
    }
}
