//! `mesos-master`: flags, wiring, and the master's I/O loop.
//!
//! Takes Mesos 1.11's master flags (`--flag=value`, `MESOS_<FLAG>`,
//! `file://` values); serves libprocess messages and the HTTP endpoints on
//! `--ip`:`--port`; keeps the registry in memory, under `--work_dir`, or
//! (with `--zk`) in ZooKeeper, where it contends for leadership.

use std::net::IpAddr;

use anyhow::{bail, Context as _};
use mesos_rs::common::flags::Flags;
use mesos_rs::common::logging;
use mesos_rs::master::flags::RegistryBackend;
use mesos_rs::master::ha::Election;
use mesos_rs::master::store::{FileStore, InMemoryStore, Store};
use mesos_rs::master::zk_store::ZkStore;
use mesos_rs::master::{flags, runtime, Master, Now, MESOS_VERSION};
use mesos_rs::v0_compat::{self, Node, Upid};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "--help=true") {
        println!("{}", mesos_rs::common::flags::usage("mesos-master", &flags::definitions()));
        return;
    }
    let loaded = match flags::load(&args, std::env::vars()) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("{e}\n\nSee `mesos-master --help` for a list of supported flags.");
            std::process::exit(1);
        }
    };
    if loaded.get::<bool>("version").unwrap_or(false) {
        println!("mesos {MESOS_VERSION}");
        return;
    }
    let logging = match logging::init("mesos-master", &loaded) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(loaded, logging)) {
        tracing::error!("{e:#}");
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}

/// `--ip` / `--ip_discovery_command` / `--port` / `--advertise_*` become the
/// libprocess settings, over `LIBPROCESS_*` from the environment (as the
/// Mesos master sets those variables from its flags).
fn wire_config(flags: &Flags) -> anyhow::Result<v0_compat::Config> {
    let mut config = v0_compat::Config::from_env()?;
    if flags.is_set("ip_discovery_command") && flags.is_set("ip") {
        bail!("Only one of `--ip` or `--ip_discovery_command` should be specified");
    }
    let ip = if let Some(command) = flags.raw("ip_discovery_command").filter(|_| flags.is_set("ip_discovery_command")) {
        let output = std::process::Command::new("sh").arg("-c").arg(command).output()?;
        if !output.status.success() {
            bail!("Failed to execute '{command}': {}", String::from_utf8_lossy(&output.stderr));
        }
        Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        flags.raw("ip").map(String::from)
    };
    if let Some(ip) = ip {
        config.ip = Some(ip.parse().with_context(|| format!("invalid IP address '{ip}'"))?);
    }
    config.port = Some(flags.get::<u16>("port").map_err(|e| anyhow::anyhow!(e.0))?);
    if let Some(ip) = flags.raw("advertise_ip") {
        config.advertise_ip = Some(ip.parse().with_context(|| format!("invalid --advertise_ip '{ip}'"))?);
    }
    if let Some(port) = flags.raw("advertise_port") {
        config.advertise_port = Some(port.parse().with_context(|| format!("invalid --advertise_port '{port}'"))?);
    }
    Ok(config)
}

/// The name `ip` resolves to (`net::getHostname`), or the IP itself.
fn hostname_of(ip: IpAddr) -> String {
    if ip.is_loopback() {
        return "localhost".into();
    }
    use nix::libc;
    let mut host = [0 as libc::c_char; 1025];
    let rc = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: an all-zero sockaddr_in is a valid value of the type.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.octets()) };
            // SAFETY: `sa` is a valid sockaddr_in of the length given, and
            // `host` a writable buffer of the length given; getnameinfo
            // writes a NUL-terminated string into it and touches nothing else.
            unsafe {
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
        IpAddr::V6(v6) => {
            // SAFETY: an all-zero sockaddr_in6 is a valid value of the type.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr = libc::in6_addr { s6_addr: v6.octets() };
            // SAFETY: as above, for a sockaddr_in6.
            unsafe {
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        tracing::warn!("Failed to get hostname for {ip}; using the IP address");
        return ip.to_string();
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) }.to_string_lossy().into_owned()
}

async fn run(flags: Flags, logging: logging::Logging) -> anyhow::Result<()> {
    for warning in &flags.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(reason) = flags::refused(&flags) {
        bail!("{reason}");
    }
    for warning in flags::unsupported(&flags) {
        tracing::warn!("{warning}");
    }
    let backend = flags::registry_backend(&flags).map_err(anyhow::Error::msg)?;
    let zk = flags.raw("zk").filter(|_| flags.is_set("zk")).map(String::from);
    let zk_session_timeout =
        flags.get::<std::time::Duration>("zk_session_timeout").map_err(|e| anyhow::anyhow!(e.0))?;
    if let RegistryBackend::Local { work_dir } | RegistryBackend::ZooKeeper { work_dir, .. } = &backend {
        std::fs::create_dir_all(work_dir).with_context(|| format!("Failed to create work directory '{work_dir}'"))?;
    }

    let wire = wire_config(&flags)?;
    let (listener, advertised) = wire.bind().await?;
    let hostname = match flags.raw("hostname") {
        Some(h) => h.to_string(),
        None if flags.get::<bool>("hostname_lookup").unwrap_or(true) => hostname_of(advertised.ip()),
        None => advertised.ip().to_string(),
    };
    let node = Node::new(advertised, wire.options());
    let process = node.spawn("master")?;
    let pid = Upid::new("master", advertised);
    let id = uuid::Uuid::new_v4();
    let seed = id.as_u64_pair().0;
    let config = flags::config(&flags, id.to_string(), pid, hostname, seed).map_err(anyhow::Error::msg)?;
    let now = Now {
        monotonic: std::time::Duration::ZERO,
        unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(),
    };
    tracing::info!("Flags at startup: {:?}", flags.effective());
    let mut master = Master::new(config, now);
    if let Some(whitelist) = flags::whitelist(&flags).map_err(anyhow::Error::msg)? {
        tracing::info!("Advertising offers for {} whitelisted agents", whitelist.len());
        master.set_whitelist(Some(whitelist));
    }

    let (handle, queries) = runtime::query_channel();
    let logging = std::sync::Arc::new(logging);
    let context = mesos_rs::http_api::master::Context {
        flags: flags.effective(),
        log_dir: flags.raw("log_dir").map(String::from),
        external_log_file: flags.raw("external_log_file").map(String::from),
        logging: Some(logging.clone()),
    };
    let router = mesos_rs::http_api::master::router(handle.clone(), context);
    // Last, over every route: only the leader serves (others redirect).
    let router = mesos_rs::http_api::master::leader_guard(router, handle);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(v0_compat::serve(listener, node.clone(), router, async {
        let _ = stop_rx.await;
    }));
    let _ = &logging;

    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("Shutting down");
    };
    let mut election = match &zk {
        Some(zk) => {
            Some(Election::start(zk, zk_session_timeout, master.info().clone()).await.map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let store: Box<dyn Store> = match (&backend, &election) {
        (RegistryBackend::InMemory, _) => Box::<InMemoryStore>::default(),
        (RegistryBackend::ZooKeeper { quorum, .. }, Some(election)) => {
            let store = ZkStore::new(
                tokio::runtime::Handle::current(),
                election.membership.clone(),
                &election.path,
                flags::registry_fetch_timeout(&flags),
                flags::registry_store_timeout(&flags),
            );
            tracing::info!(
                "Using the registry in ZooKeeper at '{}' (--quorum={quorum} accepted; ZooKeeper's own quorum keeps it)",
                store.root()
            );
            Box::new(store)
        }
        (RegistryBackend::Local { work_dir } | RegistryBackend::ZooKeeper { work_dir, .. }, _) => {
            let store = FileStore::open(std::path::Path::new(work_dir))
                .with_context(|| format!("Failed to create work directory '{work_dir}'"))?;
            tracing::info!("Using the registry in {}", store.path().display());
            Box::new(store)
        }
    };
    let leadership = election.as_mut().and_then(|e| e.leadership.take());
    let fatal = async {
        match election.as_mut() {
            Some(e) => e.fatal.recv().await.unwrap_or_else(|| "the leader election stopped".into()),
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = runtime::run(master, process, store, queries, leadership, shutdown) => result.map_err(|e| anyhow::anyhow!(e)),
        reason = fatal => Err(anyhow::anyhow!(reason)),
    };
    if result.is_ok() {
        // A graceful stop: delete our znode now rather than at the session timeout.
        if let Some(election) = election.take() {
            election.withdraw(std::time::Duration::from_secs(5)).await;
        }
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    drop(node);
    result
}
