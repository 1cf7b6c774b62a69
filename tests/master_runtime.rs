//! The I/O driver: leadership fed by an election (the door a ZooKeeper
//! contender and detector use), as Mesos's `Master::detected`:
//! a follower does not process messages, the elected master recovers the
//! registry, and losing the election aborts the process
//! (master_contender_detector_tests.cpp `ZooKeeperMasterContenderDetectorTest`
//! and master_tests.cpp `MasterTest.MasterLost`-like).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;

use mesos_rs::master::runtime::{self, RuntimeError};
use mesos_rs::master::store::InMemoryStore;
use mesos_rs::master::{Config, Master, Now};
use mesos_rs::proto::mesos::MasterInfo;
use mesos_rs::v0_compat::{Node, Options, Upid};

/// Polls the running master until `check` holds (bounded by a number of
/// polls, not by time).
async fn eventually(handle: &runtime::MasterHandle, check: fn(&Master) -> bool) -> bool {
    for _ in 0..500 {
        if handle.query(move |m, _| check(m)).await == Some(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test]
async fn leadership_comes_from_the_election_and_losing_it_aborts() {
    let addr: SocketAddr = "127.0.0.1:5050".parse().unwrap();
    let node = Node::new(addr, Options::default());
    let process = node.spawn("master").unwrap();
    let config = Config { pid: Upid::new("master", addr), ..Default::default() };
    let now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
    let master = Master::new(config, now);
    let own = master.info().clone();
    let other = MasterInfo { id: "another-master".into(), ..own.clone() };

    let (handle, queries) = runtime::query_channel();
    let (elections, leadership) = mpsc::channel(4);
    let driver = tokio::spawn(runtime::run(
        master,
        process,
        Box::new(InMemoryStore::default()),
        queries,
        Some(leadership),
        std::future::pending(),
    ));

    // Not told anything yet: a follower with no leader.
    assert_eq!(handle.query(|m, _| (m.is_elected(), m.is_recovered())).await, Some((false, false)));

    elections.send(Some(other)).await.unwrap();
    assert!(eventually(&handle, |m| m.leader().is_some_and(|l| l.id == "another-master")).await);
    assert_eq!(handle.query(|m, _| (m.is_elected(), m.is_recovered())).await, Some((false, false)));

    elections.send(Some(own)).await.unwrap();
    assert!(eventually(&handle, |m| m.is_elected() && m.is_recovered()).await);

    // The contender gives up: the elected master must not carry on.
    drop(elections);
    let result = driver.await.unwrap();
    match result {
        Err(RuntimeError::Fatal(message)) => assert!(message.contains("Lost leadership"), "{message}"),
        other => panic!("expected an abort, got {other:?}"),
    }
    drop(node);
}
