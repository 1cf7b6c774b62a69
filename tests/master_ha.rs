//! Master high availability against a real ZooKeeper 3.8: the registry in
//! ZooKeeper (chunked round trip of 10,000 agents, fencing of a deposed
//! leader's writes), and `mesos-master --zk` processes (election, redirects
//! from a follower, step-down on session loss, failover to the follower).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos_rs::master::registry::RegistryOp;
use mesos_rs::master::store::{RegistryService, Store};
use mesos_rs::master::zk_store::{self, ZkStore, CHUNK_MAX};
use mesos_rs::proto::mesos::internal::Registry;
use mesos_rs::proto::mesos::{value, MasterInfo, Resource, SlaveId, SlaveInfo, TimeInfo, WeightInfo};
use mesos_rs::v0_compat::Upid;
use mesos_rs::zookeeper::contender::{Candidacy, ContenderEvent, MasterContender, Membership};
use mesos_rs::zookeeper::{master_info, ZkClient, ZkConfig, DEFAULT_SESSION_TIMEOUT};
use support::zookeeper::{free_port, within, TcpProxy, ZkServer};

fn master(n: u16) -> MasterInfo {
    let pid: Upid = format!("master@127.0.0.1:{}", 5050 + n).parse().unwrap();
    master_info::for_master(&format!("00000000-0000-4000-8000-00000000000{n}"), &pid, &format!("m{n}"))
}

/// An agent as a real one registers: resources and a few attributes.
fn agent(i: usize) -> Box<SlaveInfo> {
    let scalar = |name: &str, value: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        ..Default::default()
    };
    let ports = Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges { range: vec![value::Range { begin: 31000, end: 32000 }] }),
        ..Default::default()
    };
    let attributes = mesos_rs::agent::resources::parse_attributes(&format!(
        "rack:rack-{};zone:zone-{};os:debian-12;instance_type:m5.2xlarge",
        i % 40,
        i % 3
    ))
    .unwrap();
    Box::new(SlaveInfo {
        hostname: format!("agent-{i}.rack-{}.example.com", i % 40),
        port: Some(5051),
        id: Some(SlaveId { value: format!("7c4e5a2b-1f3d-4e8a-9b6c-0d2e4f6a8b0c-S{i}") }),
        resources: vec![scalar("cpus", 8.0), scalar("mem", 31_000.0), scalar("disk", 400_000.0), ports],
        attributes,
        ..Default::default()
    })
}

/// Joins the group at `url` and returns the candidacy (kept alive) and our membership.
async fn member(url: &str, n: u16) -> (Candidacy, Membership) {
    let contender = MasterContender::create(Some(url), Some(DEFAULT_SESSION_TIMEOUT)).unwrap();
    let mut candidacy = contender.contend(&master(n));
    loop {
        match within("a contender event", candidacy.next()).await.expect("the candidacy ended") {
            ContenderEvent::Joined { .. } => break,
            ContenderEvent::Disconnected | ContenderEvent::Reconnected => continue,
            other => panic!("expected Joined, got {other:?}"),
        }
    }
    let membership = candidacy.membership().expect("a member");
    (candidacy, membership)
}

fn store_for(membership: Membership) -> ZkStore {
    ZkStore::new(
        tokio::runtime::Handle::current(),
        Arc::new(Mutex::new(Some(membership))),
        "/mesos",
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
}

/// Runs `f` on a plain thread (the store blocks on the runtime, as it does
/// on the master's registrar thread).
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::spawn(f);
    tokio::task::spawn_blocking(move || thread.join().expect("the store thread panicked")).await.unwrap()
}

fn ids(registry: &Registry) -> Vec<String> {
    let mut ids: Vec<String> =
        registry.slaves.iter().flat_map(|s| &s.slaves).filter_map(|s| s.info.id.clone()).map(|i| i.value).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_round_trips_ten_thousand_agents_in_chunks_under_the_znode_limit() {
    let zk = ZkServer::start();
    let url = zk.url("/mesos");
    let (_a, membership) = member(&url, 1).await;
    let store = store_for(membership);
    let info = master(1);
    let written = off_runtime(move || {
        let mut service = RegistryService::new(Box::new(store));
        service.recover(&info).expect("recover an empty registry");
        let admits: Vec<(u64, RegistryOp)> =
            (0..10_000).map(|i| (i as u64, RegistryOp::AdmitSlave(agent(i)))).collect();
        let started = Instant::now();
        let results = service.apply(&admits);
        assert!(results.iter().all(|(_, r)| *r == Ok(true)), "every admission is permitted and durable");
        eprintln!("10,000 admissions in one batch written in {:?}", started.elapsed());
        // Then single operations, each its own write (one bucket changes).
        let unreachable = RegistryOp::MarkSlaveUnreachable { info: agent(7), time: TimeInfo { nanoseconds: 11 } };
        let gone = RegistryOp::MarkSlaveGone { id: agent(8).id.unwrap(), time: TimeInfo { nanoseconds: 12 } };
        let weights = RegistryOp::UpdateWeights(vec![WeightInfo { role: Some("web".into()), weight: 2.5 }]);
        let started = Instant::now();
        for (id, op) in [(10_001, unreachable), (10_002, gone), (10_003, weights)] {
            assert_eq!(service.apply(&[(id, op)]), vec![(id, Ok(true))]);
        }
        eprintln!("3 single operations written in {:?}", started.elapsed());
        service.registry().clone()
    })
    .await;
    assert_eq!(ids(&written).len(), 9_998);

    // The znodes: a root naming chunks, each under ZooKeeper's 1 MB limit,
    // together well over it.
    let observer = ZkClient::connect(&ZkConfig::new(zk.hostport(), DEFAULT_SESSION_TIMEOUT)).await.unwrap();
    let root = zk_store::root_path("/mesos");
    let (data, _) = observer.get(&root).await.unwrap().expect("the root exists");
    let root_json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    let names: Vec<String> = serde_json::from_value(root_json["chunks"].clone()).unwrap();
    let children = observer.children(&root).await.unwrap();
    assert_eq!(children.len(), names.len(), "superseded chunks were deleted");
    let mut total = 0;
    for name in &names {
        let (bytes, _) = observer.get(&format!("{root}/{name}")).await.unwrap().expect("the chunk exists");
        assert!(bytes.len() <= CHUNK_MAX, "{name} is {} bytes", bytes.len());
        total += bytes.len();
    }
    assert!(names.len() > 4 && total > 1024 * 1024, "{} chunks, {total} bytes", names.len());
    // Nothing under the election path but the members and log_replicas.
    let group = observer.children("/mesos").await.unwrap();
    assert!(group.iter().all(|c| c.starts_with("json.info_") || c == "log_replicas"), "{group:?}");

    // Another master recovers the same registry.
    let (_b, membership) = member(&url, 2).await;
    let mut store = store_for(membership);
    let read = off_runtime(move || store.load().unwrap()).await;
    assert_eq!(ids(&read), ids(&written));
    assert_eq!(read.unreachable, written.unreachable);
    assert_eq!(read.gone, written.gone);
    assert_eq!(read.weights, written.weights);
    assert_eq!(read.master.unwrap().info.id, master(1).id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_registry_writes_are_fenced() {
    let zk = ZkServer::start();
    let url = zk.url("/mesos");
    let (_a, membership_a) = member(&url, 1).await;
    let (b, membership_b) = member(&url, 2).await;
    let (mut store_a, mut store_b) = (store_for(membership_a), store_for(membership_b));
    let (info_a, info_b) = (master(1), master(2));

    let (store_a, store_b, outcome) = off_runtime(move || {
        // A leads and writes; then B takes over (recovery writes the root).
        let mut registry = store_a.load().unwrap();
        registry.master = Some(mesos_rs::proto::mesos::internal::registry::Master { info: info_a });
        store_a.store(&registry).unwrap();
        let mut recovered = store_b.load().unwrap();
        recovered.master = Some(mesos_rs::proto::mesos::internal::registry::Master { info: info_b });
        store_b.store(&recovered).unwrap();
        // A, unaware, writes again: refused by the compare-and-set.
        let mut stale = registry.clone();
        stale.slaves = Some(Default::default());
        stale
            .slaves
            .as_mut()
            .unwrap()
            .slaves
            .push(mesos_rs::proto::mesos::internal::registry::Slave { info: *agent(1), ..Default::default() });
        let outcome = store_a.store(&stale);
        (store_a, store_b, outcome)
    })
    .await;
    let error = outcome.expect_err("a deposed leader's write must fail").to_string();
    assert!(error.contains("fenced") && error.contains("written by another master"), "{error}");

    // B loses its candidacy (its znode is deleted): its next write fails too.
    within("withdraw", b.withdraw()).await.unwrap();
    let (mut store_a, mut store_b) = (store_a, store_b);
    let outcome = off_runtime(move || {
        let registry = store_b.load();
        let outcome = registry.and_then(|r| store_b.store(&r));
        // What is stored is B's recovery, not A's stale write.
        let stored = store_a.load().unwrap();
        (outcome, stored)
    })
    .await;
    let error = outcome.0.expect_err("a write without our election znode must fail").to_string();
    assert!(error.contains("fenced") && error.contains("election znode"), "{error}");
    assert_eq!(outcome.1.master.unwrap().info.id, master(2).id);
    assert!(outcome.1.slaves.is_none_or(|s| s.slaves.is_empty()));
}

/// `GET path` on 127.0.0.1:port: (status, Location).
fn get(port: u16, path: &str) -> Option<(u16, Option<String>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
        .map(String::from);
    Some((status, location))
}

struct MasterProcess {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl MasterProcess {
    fn start(zk_url: &str, dir: &std::path::Path, name: &str) -> MasterProcess {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mesos-master"))
            .args([
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                "--hostname=127.0.0.1".into(),
                format!("--zk={zk_url}"),
                "--quorum=1".into(),
                format!("--work_dir={}", dir.join(name).display()),
                "--zk_session_timeout=2secs".into(),
            ])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start mesos-master");
        MasterProcess { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masters_elect_redirect_and_the_leader_steps_down_when_its_session_is_lost() {
    let zk = ZkServer::start();
    let proxy = TcpProxy::start(zk.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    // The first master reaches ZooKeeper through a proxy we can cut.
    let mut first = MasterProcess::start(&proxy.url("/mesos"), dir.path(), "first");
    eventually("the first master to lead", || get(first.port, "/master/state").filter(|(s, _)| *s == 200)).await;
    // The second reads its URL from a file (`--zk=file://`), as Mesos allows.
    let url_file = dir.path().join("zk_url");
    std::fs::write(&url_file, format!("{}\n", zk.url("/mesos"))).unwrap();
    let second = MasterProcess::start(&format!("file://{}", url_file.display()), dir.path(), "second");
    // A follower redirects leader-only endpoints to the leader, as Mesos does.
    let (status, location) =
        eventually("the follower to redirect", || get(second.port, "/master/state?jsonp=f").filter(|(s, _)| *s == 307))
            .await;
    assert_eq!(
        (status, location.as_deref()),
        (307, Some(&*format!("//127.0.0.1:{}/master/state?jsonp=f", first.port)))
    );
    let (status, location) = get(second.port, "/master/redirect").unwrap();
    assert_eq!((status, location.as_deref()), (307, Some(&*format!("//127.0.0.1:{}", first.port))));
    assert_eq!(get(second.port, "/api/v1/scheduler").unwrap().0, 307);
    assert_eq!(get(second.port, "/version").unwrap().0, 200, "any master serves /version");

    // Partition the leader from ZooKeeper: its session expires, it exits
    // non-zero (a supervisor restarts it), and the follower takes over.
    let cut = Instant::now();
    proxy.block();
    let status = eventually("the deposed leader to exit", || first.child.try_wait().ok().flatten()).await;
    assert!(!status.success(), "the deposed leader must exit with a failure status");
    assert!(first.log().contains("committing suicide"), "{}", first.log());
    eventually("the follower to lead", || get(second.port, "/master/state").filter(|(s, _)| *s == 200)).await;
    eprintln!("the follower serves as leader {:?} after the leader's ZooKeeper connection was cut", cut.elapsed());
    assert!(second.log().contains("Recovered 0 agents from the registry"), "{}", second.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_write_rides_out_a_short_disconnection_from_zookeeper() {
    let zk = ZkServer::start();
    let proxy = TcpProxy::start(zk.addr()).await;
    // Our session reaches ZooKeeper through the proxy; it outlives the cut.
    let (_a, membership) = member(&proxy.url("/mesos"), 1).await;
    let mut store = store_for(membership);
    let mut registry = off_runtime(move || {
        let registry = store.load().unwrap();
        (store, registry)
    })
    .await;
    registry.1.master = Some(mesos_rs::proto::mesos::internal::registry::Master { info: master(1) });
    proxy.block();
    let writer = std::thread::spawn(move || {
        let (mut store, registry) = registry;
        store.store(&registry).map(|_| store)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.unblock();
    let store = tokio::task::spawn_blocking(move || writer.join().unwrap()).await.unwrap();
    let mut store = store.expect("the write succeeds once ZooKeeper is reachable again");
    let read = off_runtime(move || store.load().unwrap()).await;
    assert_eq!(read.master.unwrap().info.id, master(1).id);
}
