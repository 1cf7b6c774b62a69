//! The master contender against a real ZooKeeper 3.8: election order, leader
//! changes on withdrawal, deletion, session expiry, partitions and server
//! restarts, and digest-protected groups.

mod support;

use std::time::Duration;

use mesos_rs::proto::mesos::MasterInfo;
use mesos_rs::v0_compat::Upid;
use mesos_rs::zookeeper::contender::{Candidacy, ContenderEvent, LostReason, MasterContender};
use mesos_rs::zookeeper::{master_info, MasterDetector, ZkClient, ZkConfig, DEFAULT_SESSION_TIMEOUT};
use support::zookeeper::{within, TcpProxy, ZkServer};
use zookeeper_client::Permission;

fn master(n: u16) -> MasterInfo {
    let pid: Upid = format!("master@127.0.0.1:{}", 5050 + n).parse().unwrap();
    master_info::for_master(&format!("00000000-0000-4000-8000-00000000000{n}"), &pid, &format!("m{n}"))
}

fn member(n: u32) -> String {
    format!("json.info_{n:010}")
}

async fn next(candidacy: &mut Candidacy) -> ContenderEvent {
    within("a contender event", candidacy.next()).await.expect("the candidacy ended")
}

/// The next event that is not about the connection coming and going.
async fn next_state(candidacy: &mut Candidacy) -> ContenderEvent {
    loop {
        match next(candidacy).await {
            ContenderEvent::Disconnected | ContenderEvent::Reconnected => continue,
            event => return event,
        }
    }
}

/// Contends and waits until the znode exists; returns the candidacy and its path.
async fn join(contender: &MasterContender, info: &MasterInfo) -> (Candidacy, String) {
    let mut candidacy = contender.contend(info);
    match next(&mut candidacy).await {
        ContenderEvent::Joined { path, .. } => (candidacy, path),
        other => panic!("expected Joined, got {other:?}"),
    }
}

async fn observer(zk: &ZkServer) -> ZkClient {
    ZkClient::connect(&ZkConfig::new(zk.hostport(), DEFAULT_SESSION_TIMEOUT)).await.unwrap()
}

#[tokio::test]
async fn three_contenders_are_elected_in_sequence_order() {
    let zk = ZkServer::start();
    let contender = MasterContender::create(Some(&zk.url("/mesos")), None).unwrap();

    let (mut a, path_a) = join(&contender, &master(1)).await;
    assert_eq!(path_a, format!("/mesos/{}", member(0)));
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);
    let (mut b, path_b) = join(&contender, &master(2)).await;
    assert_eq!(path_b, format!("/mesos/{}", member(1)));
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });
    let (mut c, _) = join(&contender, &master(3)).await;
    assert_eq!(next(&mut c).await, ContenderEvent::Following { leader: member(0) });

    // The znodes: ephemeral, open ACL, each holding exactly Mesos's JSON.
    let zk_client = observer(&zk).await;
    let mut children = zk_client.children("/mesos").await.unwrap();
    children.sort();
    assert_eq!(children, [member(0), member(1), member(2)]);
    for (i, name) in children.iter().enumerate() {
        let (data, stat) = zk_client.get(&format!("/mesos/{name}")).await.unwrap().unwrap();
        assert_eq!(String::from_utf8(data).unwrap(), master_info::to_json(&master(i as u16 + 1)));
        assert_ne!(stat.ephemeral_owner, 0, "{name} is ephemeral");
        let (acl, _) = zk_client.raw().get_acl(&format!("/mesos/{name}")).await.unwrap();
        assert_eq!(acl.len(), 1);
        assert_eq!((acl[0].scheme(), acl[0].id(), acl[0].permission()), ("world", "anyone", Permission::ALL));
    }
    assert_eq!(a.membership().unwrap().path, path_a);

    // The leader withdraws: the next in line leads, the last follows it.
    assert_eq!(a.withdraw().await, Ok(true));
    assert_eq!(next(&mut b).await, ContenderEvent::Elected);
    assert_eq!(next(&mut c).await, ContenderEvent::Following { leader: member(1) });

    // The new leader's process goes away (its session closes): the last leads.
    drop(b);
    assert_eq!(next(&mut c).await, ContenderEvent::Elected);
    assert_eq!(zk_client.children("/mesos").await.unwrap(), [member(2)]);

    // Withdrawing twice is harmless: the second finds nothing.
    let membership = c.membership().unwrap();
    assert!(zk_client.delete(&membership.path, None).await.unwrap());
    assert_eq!(next(&mut c).await, ContenderEvent::Lost { was_leader: true, reason: LostReason::Deleted });
    assert_eq!(c.withdraw().await, Ok(false));
}

#[tokio::test]
async fn deleting_the_leaders_znode_deposes_it() {
    let zk = ZkServer::start();
    let contender = MasterContender::create(Some(&zk.url("/mesos")), None).unwrap();
    let (mut a, path_a) = join(&contender, &master(1)).await;
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);
    let (mut b, _) = join(&contender, &master(2)).await;
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });

    // An operator removes the leader's znode by hand.
    assert!(observer(&zk).await.delete(&path_a, None).await.unwrap());
    assert_eq!(next(&mut a).await, ContenderEvent::Lost { was_leader: true, reason: LostReason::Deleted });
    assert_eq!(a.next().await, None, "a lost candidacy says nothing more");
    assert!(a.membership().is_none());
    assert_eq!(next(&mut b).await, ContenderEvent::Elected);
}

#[tokio::test]
async fn session_expiry_deposes_the_leader_and_a_follower_contends_again() {
    let zk = ZkServer::start();
    // Expiring a session on purpose needs its client behind a proxy.
    let (proxy_a, proxy_c) = (TcpProxy::start(zk.addr()).await, TcpProxy::start(zk.addr()).await);
    let via = |proxy: &TcpProxy| MasterContender::create(Some(&proxy.url("/mesos")), None).unwrap();
    let contender = MasterContender::create(Some(&zk.url("/mesos")), None).unwrap();
    let (mut a, _) = join(&via(&proxy_a), &master(1)).await;
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);
    let (mut b, _) = join(&contender, &master(2)).await;
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });
    let (mut c, _) = join(&via(&proxy_c), &master(3)).await;
    assert_eq!(next(&mut c).await, ContenderEvent::Following { leader: member(0) });

    // The leader's session expires: it is told, and the next in line leads.
    proxy_a.expire_session(&a.membership().unwrap().client).await;
    assert_eq!(next_state(&mut a).await, ContenderEvent::Lost { was_leader: true, reason: LostReason::SessionExpired });
    assert_eq!(next(&mut b).await, ContenderEvent::Elected);
    assert_eq!(next(&mut c).await, ContenderEvent::Following { leader: member(1) });

    // A follower's session expires: it is told it was not leading, and
    // contends again (as Mesos's master does) with a new znode.
    proxy_c.expire_session(&c.membership().unwrap().client).await;
    assert_eq!(
        next_state(&mut c).await,
        ContenderEvent::Lost { was_leader: false, reason: LostReason::SessionExpired }
    );
    let (mut c, path) = join(&via(&proxy_c), &master(3)).await;
    assert_eq!(path, format!("/mesos/{}", member(3)));
    assert_eq!(next(&mut c).await, ContenderEvent::Following { leader: member(1) });
    let mut children = observer(&zk).await.children("/mesos").await.unwrap();
    children.sort();
    assert_eq!(children, [member(1), member(3)]);
}

#[tokio::test]
async fn a_partitioned_leader_learns_it_lost_and_another_is_elected() {
    let zk = ZkServer::start();
    let proxy = TcpProxy::start(zk.addr()).await;
    let timeout = Some(Duration::from_secs(2));
    let partitioned = MasterContender::create(Some(&proxy.url("/mesos")), timeout).unwrap();
    let direct = MasterContender::create(Some(&zk.url("/mesos")), timeout).unwrap();
    let (mut a, _) = join(&partitioned, &master(1)).await;
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);
    let (mut b, _) = join(&direct, &master(2)).await;
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });

    // The leader is cut off from ZooKeeper: it first sees the connection drop
    // (still a member), then gives its session up when it cannot reconnect in
    // time, while the server expires the session and elects the follower.
    proxy.block();
    assert_eq!(next(&mut a).await, ContenderEvent::Disconnected);
    assert_eq!(next(&mut a).await, ContenderEvent::Lost { was_leader: true, reason: LostReason::SessionExpired });
    assert_eq!(next(&mut b).await, ContenderEvent::Elected);
    proxy.unblock();
    assert_eq!(observer(&zk).await.children("/mesos").await.unwrap(), [member(1)]);
}

#[tokio::test]
async fn leadership_and_detection_survive_a_zookeeper_restart() {
    let mut zk = ZkServer::start();
    let contender = MasterContender::create(Some(&zk.url("/mesos")), None).unwrap();
    let (mut a, _) = join(&contender, &master(1)).await;
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);
    let (mut b, _) = join(&contender, &master(2)).await;
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });
    let mut detector = MasterDetector::create(Some(&zk.url("/mesos")), None).await.unwrap();
    assert_eq!(within("detection", detector.detect(None)).await, Ok(Some(master(1))));

    // ZooKeeper crashes and comes back well within the session timeout:
    // sessions, members and watches all survive.
    zk.kill();
    assert_eq!(next(&mut a).await, ContenderEvent::Disconnected);
    assert_eq!(next(&mut b).await, ContenderEvent::Disconnected);
    zk.start_again();
    assert_eq!(next(&mut a).await, ContenderEvent::Reconnected);
    assert_eq!(next(&mut b).await, ContenderEvent::Reconnected);
    assert_eq!(detector.leader(), Ok(Some(master(1))));

    // The watches set before the crash still fire.
    assert_eq!(a.withdraw().await, Ok(true));
    assert_eq!(next(&mut b).await, ContenderEvent::Elected);
    assert_eq!(within("new leader detected", detector.detect(Some(&master(1)))).await, Ok(Some(master(2))));
}

#[tokio::test]
async fn digest_credentials_protect_the_group_but_everyone_can_read_it() {
    let zk = ZkServer::start();
    let secured = format!("zk://alice:secret@{}/secure/mesos", zk.hostport());
    let contender = MasterContender::create(Some(&secured), None).unwrap();
    let (mut a, path_a) = join(&contender, &master(1)).await;
    assert_eq!(next(&mut a).await, ContenderEvent::Elected);

    // Every znode Mesos made: world may read, alice's digest may do all.
    let anonymous = observer(&zk).await;
    for path in ["/secure", "/secure/mesos", path_a.as_str()] {
        let (acl, _) = anonymous.raw().get_acl(path).await.unwrap();
        let acl: Vec<(&str, &str, Permission)> = acl.iter().map(|a| (a.scheme(), a.id(), a.permission())).collect();
        assert_eq!(acl.len(), 2, "{path}: {acl:?}");
        assert_eq!(acl[0], ("world", "anyone", Permission::READ), "{path}");
        assert_eq!((acl[1].0, acl[1].2), ("digest", Permission::ALL), "{path}");
        assert!(acl[1].1.starts_with("alice:"), "{path}: {acl:?}");
    }

    // Anyone reads: a detector without credentials finds the leader.
    let mut detector =
        MasterDetector::create(Some(&format!("zk://{}/secure/mesos", zk.hostport())), None).await.unwrap();
    assert_eq!(within("detection", detector.detect(None)).await, Ok(Some(master(1))));

    // Nobody else writes: no deleting the leader, no joining.
    let no_auth = |e: mesos_rs::zookeeper::ZkError| *e.source_error() == zookeeper_client::Error::NoAuth;
    assert!(no_auth(anonymous.delete(&path_a, None).await.unwrap_err()));
    let mallory = ZkConfig {
        authentication: Some(mesos_rs::zookeeper::Authentication::digest("alice:guess")),
        ..ZkConfig::new(zk.hostport(), DEFAULT_SESSION_TIMEOUT)
    };
    let mallory = ZkClient::connect(&mallory).await.unwrap();
    assert!(no_auth(mallory.delete(&path_a, None).await.unwrap_err()));
    let err = mallory
        .create("/secure/mesos/json.info_", b"{}", zookeeper_client::CreateMode::EphemeralSequential)
        .await
        .unwrap_err();
    assert!(no_auth(err.clone()), "{err}");
    assert_eq!(err.to_string(), "Failed to create '/secure/mesos/json.info_' in ZooKeeper: not authenticated");

    // A contender with the wrong password cannot join: it says why and stops.
    let intruder =
        MasterContender::create(Some(&format!("zk://alice:guess@{}/secure/mesos", zk.hostport())), None).unwrap();
    let mut intrusion = intruder.contend(&master(9));
    match next(&mut intrusion).await {
        ContenderEvent::Lost { was_leader: false, reason: LostReason::Failed(e) } => assert!(no_auth(e)),
        other => panic!("expected a failed candidacy, got {other:?}"),
    }

    // The same credentials may: another alice joins behind the leader.
    let (mut b, _) = join(&contender, &master(2)).await;
    assert_eq!(next(&mut b).await, ContenderEvent::Following { leader: member(0) });
}
