//! The master detector and the client wrapper against a real ZooKeeper 3.8:
//! following leader changes, the legacy `info_` and label-less formats,
//! unreadable leaders, session expiry, and the client's own operations.

mod support;

use std::time::Duration;

use futures::StreamExt;
use mesos_rs::proto::mesos::MasterInfo;
use mesos_rs::v0_compat::Upid;
use mesos_rs::zookeeper::client::{Recovery, SessionEvent};
use mesos_rs::zookeeper::contender::{ContenderEvent, MasterContender};
use mesos_rs::zookeeper::detector::DetectError;
use mesos_rs::zookeeper::master_info::{self, DataError};
use mesos_rs::zookeeper::{MasterDetector, ZkClient, ZkConfig, DEFAULT_SESSION_TIMEOUT};
use prost::Message as _;
use support::zookeeper::{within, TcpProxy, ZkServer};
use zookeeper_client::CreateMode;

fn master(n: u16) -> MasterInfo {
    let pid: Upid = format!("master@127.0.0.1:{}", 5050 + n).parse().unwrap();
    master_info::for_master(&format!("00000000-0000-4000-8000-00000000000{n}"), &pid, &format!("m{n}"))
}

async fn client(zk: &ZkServer) -> ZkClient {
    ZkClient::connect(&ZkConfig::new(zk.hostport(), DEFAULT_SESSION_TIMEOUT)).await.unwrap()
}

async fn elected(contender: &MasterContender, info: &MasterInfo) -> mesos_rs::zookeeper::Candidacy {
    let mut candidacy = contender.contend(info);
    loop {
        match within("contender event", candidacy.next()).await.expect("candidacy ended") {
            ContenderEvent::Elected | ContenderEvent::Following { .. } => return candidacy,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn detector_follows_the_leader_through_changes() {
    let zk = ZkServer::start();
    let url = zk.url("/mesos");
    let mut detector = MasterDetector::create(Some(&url), None).await.unwrap();
    let mut changes = Box::pin(detector.clone().into_stream());
    assert_eq!(detector.leader(), Ok(None));
    assert_eq!(within("first state", changes.next()).await, Some(Ok(None)));

    let contender = MasterContender::create(Some(&url), None).unwrap();
    let a = elected(&contender, &master(1)).await;
    assert_eq!(within("leader a", detector.detect(None)).await, Ok(Some(master(1))));
    assert_eq!(within("stream: a", changes.next()).await, Some(Ok(Some(master(1)))));
    let b = elected(&contender, &master(2)).await;

    a.withdraw().await.unwrap();
    assert_eq!(within("leader b", detector.detect(Some(&master(1)))).await, Ok(Some(master(2))));
    assert_eq!(within("stream: b", changes.next()).await, Some(Ok(Some(master(2)))));
    b.withdraw().await.unwrap();
    assert_eq!(within("no leader", detector.detect(Some(&master(2)))).await, Ok(None));
    assert_eq!(within("stream: none", changes.next()).await, Some(Ok(None)));
}

#[tokio::test]
async fn detector_reads_legacy_formats_and_reports_unreadable_leaders() {
    let zk = ZkServer::start();
    let zk_client = client(&zk).await;
    zk_client.create_path("/mesos").await.unwrap();
    // Not a member: ignored throughout (Mesos's replicated log keeps it here).
    zk_client.create("/mesos/log_replicas", b"", CreateMode::Persistent).await.unwrap();
    let member = |prefix: &'static str, data: Vec<u8>| {
        let zk_client = zk_client.clone();
        async move { zk_client.create(&format!("/mesos/{prefix}"), &data, CreateMode::EphemeralSequential).await.unwrap().0 }
    };

    // Before Mesos 0.24 masters wrote MasterInfo as a protobuf under `info_`.
    let info_0 = member("info_", master(1).encode_to_vec()).await;
    assert!(info_0.starts_with("/mesos/info_"), "{info_0}");
    let mut detector = MasterDetector::create(Some(&zk.url("/mesos")), None).await.unwrap();
    assert_eq!(within("protobuf leader", detector.detect(None)).await, Ok(Some(master(1))));

    // The lowest sequence leads, whatever the label.
    let json_1 = member("json.info_", master_info::to_json(&master(2)).into_bytes()).await;
    let bare_2 = member("", b"master@127.0.0.1:5053".to_vec()).await;
    assert!(bare_2["/mesos/".len()..].bytes().all(|b| b.is_ascii_digit()), "{bare_2}");
    zk_client.delete(&info_0, None).await.unwrap();
    assert_eq!(within("json leader", detector.detect(Some(&master(1)))).await, Ok(Some(master(2))));

    // Before 0.23, a bare sequence number holding the master's UPID.
    zk_client.delete(&json_1, None).await.unwrap();
    let from_pid = within("upid leader", detector.detect(Some(&master(2)))).await.unwrap().unwrap();
    assert_eq!(from_pid.pid.as_deref(), Some("master@127.0.0.1:5053"));
    assert!(from_pid.id.starts_with("master@127.0.0.1:5053-"), "{}", from_pid.id);
    assert_eq!(from_pid.ip, master_info::ip_field([127, 0, 0, 1].into()));
    assert_eq!(from_pid.port, 5053);

    // A leader whose data is not a MasterInfo: Mesos's error, naming the node.
    let garbage_3 = member("json.info_", b"{\"id\": ".to_vec()).await;
    zk_client.delete(&bare_2, None).await.unwrap();
    match within("unreadable leader", detector.detect(Some(&from_pid))).await {
        Err(DetectError::LeaderData { node, error: DataError::Json(_) }) => {
            assert_eq!(format!("/mesos/{node}"), garbage_3)
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
    let unknown_4 = member("custom_", b"{}".to_vec()).await;
    zk_client.delete(&garbage_3, None).await.unwrap();
    let err = within("unknown label", detector.detect(None)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Failed to parse data of unknown label 'custom' (in '{}')", &unknown_4["/mesos/".len()..])
    );

    // The next readable leader replaces the error.
    member("json.info_", master_info::to_json(&master(6)).into_bytes()).await;
    zk_client.delete(&unknown_4, None).await.unwrap();
    assert_eq!(within("readable again", detector.detect(None)).await, Ok(Some(master(6))));
}

#[tokio::test]
async fn detector_survives_its_session_expiring() {
    let zk = ZkServer::start();
    let proxy = TcpProxy::start(zk.addr()).await;
    let contender = MasterContender::create(Some(&zk.url("/mesos")), None).unwrap();
    let _a = elected(&contender, &master(1)).await;
    let mut detector = MasterDetector::create(Some(&proxy.url("/mesos")), Some(Duration::from_secs(2))).await.unwrap();
    assert_eq!(within("leader", detector.detect(None)).await, Ok(Some(master(1))));

    // Cut off past its session timeout, the detector's session expires: as in
    // Mesos, no leader is known until a new session has listed the group.
    proxy.block();
    assert_eq!(within("session lost", detector.detect(Some(&master(1)))).await, Ok(None));
    proxy.unblock();
    assert_eq!(within("leader again", detector.detect(None)).await, Ok(Some(master(1))));
}

#[tokio::test]
async fn detector_makes_the_group_path_and_waits_for_members() {
    let zk = ZkServer::start();
    let mut detector = MasterDetector::create(Some(&zk.url("/a/b/mesos")), None).await.unwrap();
    let zk_client = client(&zk).await;
    // Mesos's group creates its path whoever it serves, detectors included.
    within("the path exists", async {
        while zk_client.exists("/a/b/mesos").await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let contender = MasterContender::create(Some(&zk.url("/a/b/mesos/")), None).unwrap();
    let _a = elected(&contender, &master(1)).await;
    assert_eq!(within("leader", detector.detect(None)).await, Ok(Some(master(1))));
}

#[tokio::test]
async fn client_creates_paths_and_compares_and_sets() {
    let zk = ZkServer::start();
    let c = client(&zk).await;
    assert!(c.create_path("/state/a/b").await.unwrap());
    assert!(!c.create_path("/state/a/b/").await.unwrap(), "already there");
    assert!(!c.create_path("/").await.unwrap());
    assert_eq!(c.get("/state/a/b").await.unwrap().unwrap().0, b"");

    // Compare-and-set by version, as ZooKeeperState's entries need.
    let (path, seq) = c.create("/state/entry", b"one", CreateMode::Persistent).await.unwrap();
    assert_eq!((path.as_str(), seq), ("/state/entry", -1));
    let (data, stat) = c.get("/state/entry").await.unwrap().unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"one"[..], 0));
    assert_eq!(c.set("/state/entry", b"two", Some(0)).await.unwrap().version, 1);
    let stale = c.set("/state/entry", b"three", Some(0)).await.unwrap_err();
    assert_eq!(*stale.source_error(), zookeeper_client::Error::BadVersion);
    assert_eq!(stale.recovery(), Recovery::Fatal);
    assert_eq!(stale.to_string(), "Failed to set '/state/entry' in ZooKeeper: bad version");
    assert_eq!(c.get("/state/entry").await.unwrap().unwrap().0, b"two");

    let mut children = c.children("/state").await.unwrap();
    children.sort();
    assert_eq!(children, ["a", "entry"]);
    assert!(c.delete("/state/entry", Some(1)).await.unwrap());
    assert!(!c.delete("/state/entry", None).await.unwrap());
    assert_eq!(c.get("/state/entry").await.unwrap(), None);
    assert!(c.get("/nothing/here").await.unwrap().is_none());
    assert!(c.children("/nothing").await.unwrap_err().is_no_node());

    // A data watch fires on change.
    c.create("/state/watched", b"x", CreateMode::Persistent).await.unwrap();
    let (_, _, watch) = c.get_and_watch("/state/watched").await.unwrap().unwrap();
    c.set("/state/watched", b"y", None).await.unwrap();
    assert_eq!(within("watch", watch.fired()).await, mesos_rs::zookeeper::client::WatchOutcome::Changed);
}

#[tokio::test]
async fn client_reports_its_session_coming_and_going() {
    let mut zk = ZkServer::start();
    let proxy = TcpProxy::start(zk.addr()).await;
    let c = ZkClient::connect(&ZkConfig::new(proxy.hostport(), DEFAULT_SESSION_TIMEOUT)).await.unwrap();
    assert_eq!(c.state(), SessionEvent::Connected);
    let mut events = c.session_events();
    zk.kill();
    assert_eq!(within("disconnected", events.next()).await, Some(SessionEvent::Disconnected));
    zk.start_again();
    assert_eq!(within("reconnected", events.next()).await, Some(SessionEvent::Connected));
    c.create_path("/still/usable").await.unwrap();

    proxy.expire_session(&c).await;
    let mut last = None;
    while let Some(event) = within("expiry", events.next()).await {
        last = Some(event);
    }
    assert_eq!(last, Some(SessionEvent::Expired));
    let err = c.get("/still/usable").await.unwrap_err();
    assert_eq!(err.recovery(), Recovery::NewSession);
}
