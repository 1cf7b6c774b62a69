//! Simulation scenarios for v1 (HTTP) schedulers: the same state machine as
//! v0 ones, reached through `Event::HttpCall`. Each names the Mesos test
//! (`src/tests/`) it mirrors.

use std::time::Duration;

use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, SimCluster};
use mesos_rs::master::HttpAnswer;
use mesos_rs::proto::mesos::scheduler::call::{self, Type as CallType};
use mesos_rs::proto::mesos::scheduler::Call;
use mesos_rs::proto::mesos::{FrameworkId, FrameworkInfo, Offer, OfferId, TaskState, TaskStatus};
use mesos_rs::v0_compat::Message;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn subscribe_call(info: FrameworkInfo) -> Call {
    let mut call = Call {
        framework_id: info.id.clone(),
        subscribe: Some(call::Subscribe { framework_info: info, ..Default::default() }),
        ..Default::default()
    };
    call.set_type(CallType::Subscribe);
    call
}

fn call(fid: &FrameworkId, kind: CallType) -> Call {
    let mut call = Call { framework_id: Some(fid.clone()), ..Default::default() };
    call.set_type(kind);
    call
}

/// A v1 scheduler, driven by hand: its stream number and id.
struct V1 {
    stream: u64,
    stream_id: String,
    fid: FrameworkId,
}

fn subscribe(sim: &mut SimCluster, info: FrameworkInfo, stream_id: &str) -> V1 {
    let (stream, answer) = sim.http_call(Some(stream_id), subscribe_call(info));
    assert_eq!(answer, Some(HttpAnswer::Stream));
    sim.run_for(secs(1));
    let fid = messages(sim, stream)
        .iter()
        .find_map(|m| match m {
            Message::FrameworkRegisteredMessage(r) => Some(r.framework_id.clone()),
            Message::FrameworkReregisteredMessage(r) => Some(r.framework_id.clone()),
            _ => None,
        })
        .expect("SUBSCRIBED on the stream");
    V1 { stream, stream_id: stream_id.into(), fid }
}

fn messages(sim: &SimCluster, stream: u64) -> Vec<Message> {
    sim.http_events.iter().filter(|(s, _)| *s == stream).map(|(_, m)| m.clone()).collect()
}

fn offers(sim: &SimCluster, stream: u64) -> Vec<Offer> {
    messages(sim, stream)
        .into_iter()
        .filter_map(|m| match m {
            Message::ResourceOffersMessage(o) => Some(o.offers),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Status updates on the stream, with the pid they name as acknowledgee.
fn updates(sim: &SimCluster, stream: u64) -> Vec<(TaskStatus, Option<Vec<u8>>)> {
    messages(sim, stream)
        .into_iter()
        .filter_map(|m| match m {
            Message::StatusUpdateMessage(u) => Some((u.update.status, u.update.uuid)),
            _ => None,
        })
        .collect()
}

fn errors(sim: &SimCluster, stream: u64) -> Vec<String> {
    messages(sim, stream)
        .into_iter()
        .filter_map(|m| match m {
            Message::FrameworkErrorMessage(e) => Some(e.message),
            _ => None,
        })
        .collect()
}

fn send(sim: &mut SimCluster, v1: &V1, call: Call) -> Option<HttpAnswer> {
    sim.http_call(Some(&v1.stream_id), call).1
}

fn launch(sim: &mut SimCluster, v1: &V1, offer: &Offer, task: &str) -> Option<HttpAnswer> {
    let mut accept = call(&v1.fid, CallType::Accept);
    let task = command_task(task, offer, "cpus:1;mem:128");
    let mut op = mesos_rs::proto::mesos::offer::Operation::default();
    op.set_type(mesos_rs::proto::mesos::offer::operation::Type::Launch);
    op.launch = Some(mesos_rs::proto::mesos::offer::operation::Launch { task_infos: vec![task] });
    accept.accept = Some(call::Accept { offer_ids: vec![offer.id.clone()], operations: vec![op], filters: None });
    send(sim, v1, accept)
}

fn acknowledge(sim: &mut SimCluster, v1: &V1, status: &TaskStatus, uuid: Vec<u8>) -> Option<HttpAnswer> {
    let mut ack = call(&v1.fid, CallType::Acknowledge);
    ack.acknowledge = Some(call::Acknowledge {
        slave_id: status.slave_id.clone().unwrap_or_default(),
        task_id: status.task_id.clone(),
        uuid,
    });
    send(sim, v1, ack)
}

/// http_api_tests.cpp `HttpApiTest.Subscribe` + scheduler_tests.cpp
/// `SchedulerTest.TaskRunning`: a v1 framework subscribes, is offered,
/// launches, sees TASK_RUNNING, and its ACKNOWLEDGE reaches the agent.
#[test]
fn a_v1_framework_launches_and_acknowledges() {
    let mut sim = SimCluster::new(11);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let v1 = subscribe(&mut sim, framework_info("v1", false), "stream-a");
    sim.run_for(secs(2));
    let offer = offers(&sim, v1.stream).first().cloned().expect("an offer on the stream");
    assert_eq!(offer.framework_id, v1.fid);
    assert_eq!(launch(&mut sim, &v1, &offer, "t1"), Some(HttpAnswer::Accepted));
    sim.run_for(secs(1));
    let (status, uuid) = updates(&sim, v1.stream).pop().expect("an update");
    assert_eq!(status.state(), TaskState::TaskRunning);
    let uuid = uuid.expect("agent updates carry a uuid");
    // Not acknowledged yet: the agent keeps retrying.
    assert_eq!(sim.agent(a).unacknowledged(), 1);
    assert_eq!(acknowledge(&mut sim, &v1, &status, uuid), Some(HttpAnswer::Accepted));
    sim.run_for(secs(1));
    assert_eq!(sim.agent(a).unacknowledged(), 0);
    assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
}

/// http_api_tests.cpp `HttpApiTest.*` call checks: the master's answers to
/// calls that do not belong to a subscribed HTTP framework's stream.
#[test]
fn calls_are_checked_against_the_framework_and_its_stream() {
    let mut sim = SimCluster::new(12);
    let v1 = subscribe(&mut sim, framework_info("v1", false), "stream-b");
    let bad = |status: u16, text: &str| Some(HttpAnswer::Error { status, message: text.to_string() });

    let unknown = call(&FrameworkId { value: "nope".into() }, CallType::Revive);
    assert_eq!(sim.http_call(Some("stream-b"), unknown).1, bad(400, "Framework cannot be found"));
    let no_header = call(&v1.fid, CallType::Revive);
    assert_eq!(
        sim.http_call(None, no_header).1,
        bad(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    );
    let wrong = call(&v1.fid, CallType::Revive);
    let expected = format!(
        "The stream ID 'other' included in this request didn't match the stream ID currently associated with \
         framework ID {}",
        v1.fid.value
    );
    assert_eq!(sim.http_call(Some("other"), wrong).1, bad(400, &expected));
    assert_eq!(sim.http_call(Some("stream-b"), call(&v1.fid, CallType::Unknown)).1, bad(501, ""));
    assert_eq!(send(&mut sim, &v1, call(&v1.fid, CallType::Revive)), Some(HttpAnswer::Accepted));

    // A v0 framework cannot be driven over HTTP.
    let f = sim.add_framework(framework_info("v0", false), Dialect::Calls);
    sim.run_for(secs(1));
    let v0_id = sim.framework(f).framework_id();
    assert_eq!(
        sim.http_call(Some("stream-b"), call(&v0_id, CallType::Revive)).1,
        bad(403, "Framework is not connected via HTTP")
    );
}

/// http_api_tests.cpp `HttpApiTest.UpdateHttpToPidScheduler`-like and
/// master_tests.cpp `MasterTest.FailoverAgentReregisterFirst`-like: a
/// disconnected v1 framework keeps its tasks within its failover timeout
/// and gets them back on resubscription; the old stream id is dead.
#[test]
fn resubscription_within_the_failover_timeout_keeps_tasks() {
    let mut sim = SimCluster::new(13);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let mut info = framework_info("v1", false);
    info.failover_timeout = Some(60.0);
    let v1 = subscribe(&mut sim, info.clone(), "first");
    sim.run_for(secs(2));
    let offer = offers(&sim, v1.stream)[0].clone();
    launch(&mut sim, &v1, &offer, "t1");
    sim.run_for(secs(1));

    sim.http_close(v1.stream);
    sim.run_for(secs(30));
    let fw = sim.master().frameworks().find(|f| f.info.id.as_ref() == Some(&v1.fid)).expect("still registered");
    assert!(!fw.connected());
    assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));

    info.id = Some(v1.fid.clone());
    let again = subscribe(&mut sim, info, "second");
    assert_eq!(again.fid, v1.fid);
    // The old stream id is refused; the new one works.
    assert!(matches!(
        send(&mut sim, &v1, call(&v1.fid, CallType::Revive)),
        Some(HttpAnswer::Error { status: 400, .. })
    ));
    let mut reconcile = call(&again.fid, CallType::Reconcile);
    reconcile.reconcile = Some(call::Reconcile::default());
    assert_eq!(send(&mut sim, &again, reconcile), Some(HttpAnswer::Accepted));
    sim.run_for(secs(1));
    let (status, uuid) = updates(&sim, again.stream).pop().expect("reconciliation");
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert!(uuid.is_none_or(|u| u.is_empty()), "master-generated updates need no acknowledgement");
    sim.run_for(secs(120));
    assert_eq!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
}

/// fault_tolerance_tests.cpp `FaultToleranceTest.FrameworkReregister`
/// (HTTP): without a resubscription the failover timeout removes the
/// framework and its tasks are killed.
#[test]
fn the_failover_timeout_removes_a_disconnected_v1_framework() {
    let mut sim = SimCluster::new(14);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let mut info = framework_info("v1", false);
    info.failover_timeout = Some(5.0);
    let v1 = subscribe(&mut sim, info, "only");
    sim.run_for(secs(2));
    let offer = offers(&sim, v1.stream)[0].clone();
    launch(&mut sim, &v1, &offer, "t1");
    sim.run_for(secs(1));
    sim.http_close(v1.stream);
    sim.run_for(secs(10));
    assert_eq!(sim.master().frameworks().count(), 0);
    assert_ne!(sim.agent(a).task_state("t1"), Some(TaskState::TaskRunning));
}

/// http_api_tests.cpp `HttpApiTest.SubscribeWithStreamId`-like and
/// scheduler_tests.cpp `SchedulerTest.SchedulerReconnect`: a resubscription
/// while connected replaces the stream; the old one gets ERROR and is
/// closed; TEARDOWN closes the new one.
#[test]
fn a_resubscription_replaces_the_stream_and_teardown_closes_it() {
    let mut sim = SimCluster::new(15);
    sim.add_agent(AgentSpec::default());
    let mut info = framework_info("v1", false);
    info.failover_timeout = Some(60.0);
    let v1 = subscribe(&mut sim, info.clone(), "one");
    sim.run_for(secs(2));
    let first_offer: OfferId = offers(&sim, v1.stream)[0].id.clone();
    info.id = Some(v1.fid.clone());
    let second = subscribe(&mut sim, info, "two");
    assert_eq!(errors(&sim, v1.stream), vec!["Framework failed over".to_string()]);
    assert!(sim.closed_streams.contains(&v1.stream));
    sim.run_for(secs(2));
    // Offers continue on the new stream (the old offer is gone).
    let new_offers = offers(&sim, second.stream);
    assert!(!new_offers.is_empty());
    assert!(new_offers.iter().all(|o| o.id != first_offer));
    // The old stream closing later changes nothing.
    sim.http_close(v1.stream);
    assert!(sim.master().frameworks().next().unwrap().connected());

    assert_eq!(send(&mut sim, &second, call(&second.fid, CallType::Teardown)), Some(HttpAnswer::Accepted));
    assert!(sim.closed_streams.contains(&second.stream));
    assert_eq!(sim.master().frameworks().count(), 0);
}

/// master_validation_tests.cpp `FrameworkInfoValidationTest`-like: a
/// refused subscription gets ERROR on its stream, which is then closed.
#[test]
fn a_refused_subscription_gets_error_and_a_closed_stream() {
    let mut sim = SimCluster::new(16);
    let mut info = framework_info("v1", false);
    info.failover_timeout = Some(1e300);
    let (stream, answer) = sim.http_call(Some("s"), subscribe_call(info));
    assert_eq!(answer, Some(HttpAnswer::Stream));
    let errors = errors(&sim, stream);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("failover_timeout"), "{errors:?}");
    assert!(sim.closed_streams.contains(&stream));
    assert_eq!(sim.master().frameworks().count(), 0);
}

/// master_tests.cpp `MasterTest.OperationReconciliation*`-like: explicit
/// operation reconciliation answers from what the master knows of the agent.
#[test]
fn operation_reconciliation_answers_from_the_agents_state() {
    use mesos_rs::proto::mesos::{OperationId, OperationState, SlaveId};
    let mut sim = SimCluster::new(17);
    let a = sim.add_agent(AgentSpec::default());
    sim.run_for(secs(1));
    let v1 = subscribe(&mut sim, framework_info("v1", false), "ops");
    let agent = sim.agent(a).id.clone().unwrap();
    let op = |id: &str, agent: Option<SlaveId>| call::reconcile_operations::Operation {
        operation_id: OperationId { value: id.into() },
        slave_id: agent,
        resource_provider_id: None,
    };
    let mut reconcile = call(&v1.fid, CallType::ReconcileOperations);
    reconcile.reconcile_operations = Some(call::ReconcileOperations {
        operations: vec![
            op("known-agent", Some(agent)),
            op("no-agent", None),
            op("lost-agent", Some(SlaveId { value: "nope".into() })),
        ],
    });
    assert_eq!(send(&mut sim, &v1, reconcile), Some(HttpAnswer::Accepted));
    let statuses: Vec<_> = messages(&sim, v1.stream)
        .into_iter()
        .filter_map(|m| match m {
            Message::UpdateOperationStatusMessage(u) => Some(u.status),
            _ => None,
        })
        .collect();
    let got: Vec<_> = statuses
        .iter()
        .map(|s| (s.operation_id.as_ref().unwrap().value.as_str(), s.state(), s.message.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("known-agent", OperationState::OperationUnknown, "Reconciliation: Operation is unknown".to_string()),
            (
                "no-agent",
                OperationState::OperationUnknown,
                "Reconciliation: Operation is unknown and no 'agent_id' was provided".to_string()
            ),
            (
                "lost-agent",
                OperationState::OperationUnknown,
                "Reconciliation: Both operation and agent are unknown".to_string()
            ),
        ]
    );
}

/// http_api_tests.cpp `HttpApiTest.NotLeader`-like: a master that does not
/// lead redirects to the leader (or answers that none is elected) and books
/// nothing.
#[test]
fn a_master_that_does_not_lead_redirects() {
    use mesos_rs::master::{Config, Effect, Event, Master, Now};
    let now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
    let mut master = Master::new(Config::default(), now);
    let answer = |effects: Vec<Effect>| {
        effects.into_iter().find_map(|e| match e {
            Effect::HttpRespond { request: 7, answer } => Some(answer),
            _ => None,
        })
    };
    let event = || Event::HttpCall {
        request: 7,
        stream_id: Some("s".into()),
        call: Box::new(subscribe_call(framework_info("v1", false))),
    };
    assert_eq!(answer(master.handle(now, event())), Some(HttpAnswer::NotLeader(None)));
    let leader = mesos_rs::proto::mesos::MasterInfo { id: "other".into(), port: 5050, ..master.info().clone() };
    master.handle(now, Event::Detected(Some(leader.clone())));
    assert_eq!(answer(master.handle(now, event())), Some(HttpAnswer::NotLeader(Some(Box::new(leader)))));
    assert_eq!(master.frameworks().count(), 0);
}

/// hierarchical_allocator_tests.cpp `HierarchicalAllocatorTest.DRF`-like,
/// across doors: a v0 framework and a v1 framework that take every offer
/// end up with equal shares of identical agents (the same allocator sees
/// the same frameworks, whatever the door).
#[test]
fn v0_and_v1_frameworks_get_equal_shares() {
    let mut sim = SimCluster::new(18);
    // Both subscribe before there is anything to offer (offers are not
    // preempted: whoever came alone first would hold everything).
    let f = sim.add_framework(framework_info("v0", false), Dialect::Calls);
    let v1 = subscribe(&mut sim, framework_info("v1", false), "drf");
    for _ in 0..6 {
        sim.add_agent(AgentSpec { resources: "cpus:1;mem:256".into(), ..Default::default() });
    }
    let mut used_v1 = std::collections::BTreeSet::new();
    let mut used_v0 = std::collections::BTreeSet::new();
    for round in 0..6 {
        sim.run_for(secs(2));
        let pending: Vec<Offer> =
            offers(&sim, v1.stream).into_iter().filter(|o| !used_v1.contains(&o.id.value)).collect();
        for offer in pending {
            used_v1.insert(offer.id.value.clone());
            launch(&mut sim, &v1, &offer, &format!("v1-{round}-{}", offer.id.value));
        }
        let pending: Vec<Offer> =
            sim.framework(f).offers.iter().filter(|o| !used_v0.contains(&o.id.value)).cloned().collect();
        for offer in pending {
            used_v0.insert(offer.id.value.clone());
            let task = command_task(&format!("v0-{round}-{}", offer.id.value), &offer, "cpus:1;mem:128");
            let message = sim.framework(f).launch(std::slice::from_ref(&offer.id), vec![task], None);
            sim.send(f, message);
        }
    }
    sim.run_for(secs(2));
    let running = |name: &str| sim.master().frameworks().find(|fw| fw.info.name == name).map(|fw| fw.tasks.len());
    assert_eq!((running("v0"), running("v1")), (Some(3), Some(3)));
    let agents_running: usize = (0..6).map(|i| sim.agent(i).running_tasks()).sum();
    assert_eq!(agents_running, 6);
}
