//! The scheduler driver with `zk://` master detection against a real
//! ZooKeeper 3.8: two fake masters contend with the real contender (Mesos's
//! `json.info_` layout); the driver registers with the leader, and when the
//! leader withdraws, sees `disconnected`, resubscribes with the new leader
//! and sees `reregistered`.

mod driver_support;
mod support;

use std::collections::HashMap;

use driver_support::*;
use mesos_rs::driver::{MesosSchedulerDriver, SchedulerDriver};
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::scheduler::call::Type as CallType;
use mesos_rs::proto::mesos::{FrameworkId, FrameworkInfo, MasterInfo, Status};
use mesos_rs::zookeeper::contender::{Candidacy, ContenderEvent};
use mesos_rs::zookeeper::{master_info, MasterContender};
use support::zookeeper::{within, ZkServer};

fn info(process: &FakeProcess, n: u8) -> MasterInfo {
    master_info::for_master(&format!("00000000-0000-4000-8000-00000000000{n}"), &process.pid(), &format!("m{n}"))
}

/// Contends for `info` and waits until its znode exists.
async fn contend(contender: &MasterContender, info: &MasterInfo) -> Candidacy {
    let mut candidacy = contender.contend(info);
    loop {
        match within("a contender event", candidacy.next()).await {
            Some(ContenderEvent::Joined { .. }) => return candidacy,
            Some(ContenderEvent::Disconnected | ContenderEvent::Reconnected) => continue,
            other => panic!("expected Joined, got {other:?}"),
        }
    }
}

#[test]
fn the_driver_follows_the_leading_master_in_zookeeper() {
    init();
    let zk = ZkServer::start();
    let url = zk.url("/mesos");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let contender = MasterContender::create(Some(&url), None).unwrap();

    let a_node = FakeNode::bind("127.0.0.1:0");
    let mut a = a_node.spawn("master");
    let b_node = FakeNode::bind("127.0.0.1:0");
    let mut b = b_node.spawn("master");
    let a_candidacy = rt.block_on(contend(&contender, &info(&a, 1)));
    let _b_candidacy = rt.block_on(contend(&contender, &info(&b, 2)));

    let (scheduler, rx) = Recorder::passive();
    let env: HashMap<String, String> =
        [("MESOS_REGISTRATION_BACKOFF_FACTOR", "50ms"), ("MESOS_INITIALIZE_DRIVER_LOGGING", "false")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let driver = MesosSchedulerDriver::builder(
        scheduler,
        FrameworkInfo { user: "u".into(), name: "zk".into(), ..Default::default() },
        &url,
    )
    .environment(env)
    .build();
    assert_eq!(driver.start(), Status::DriverRunning);

    let fid = FrameworkId { value: "F-zk".into() };
    let (pid, _) = a.recv_call(CallType::Subscribe);
    a.send(&pid, mi::FrameworkRegisteredMessage { framework_id: fid.clone(), master_info: info(&a, 1) });
    match next(&rx) {
        Seen::Registered(id, m) => {
            assert_eq!(id, fid);
            assert_eq!(m.pid, info(&a, 1).pid);
        }
        other => panic!("{other:?}"),
    }

    // The leader steps down; the follower's znode now has the lowest sequence.
    assert!(rt.block_on(a_candidacy.withdraw()).unwrap());
    assert_eq!(next(&rx), Seen::Disconnected);
    let (from, subscribe) = b.recv_call(CallType::Subscribe);
    assert_eq!(from, pid);
    assert_eq!(subscribe.framework_id, Some(fid.clone()));
    assert_eq!(subscribe.subscribe.unwrap().force, Some(false));
    b.send(&pid, mi::FrameworkReregisteredMessage { framework_id: fid.clone(), master_info: info(&b, 2) });
    match next(&rx) {
        Seen::Reregistered(m) => assert_eq!(m.pid, info(&b, 2).pid),
        other => panic!("{other:?}"),
    }

    assert_eq!(driver.stop(false), Status::DriverStopped);
    let (_, teardown) = b.recv_call(CallType::Teardown);
    assert_eq!(teardown.framework_id, Some(fid));
    assert_eq!(driver.join(), Status::DriverStopped);
}
