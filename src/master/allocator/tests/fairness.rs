//! DRF ordering: frameworks, roles, weights, hierarchical roles.

use super::harness::*;
use crate::master::allocator::Options;
use crate::proto::mesos::framework_info::capability::Type as FwCap;

#[test]
fn one_framework_gets_the_whole_agent_once() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024;disk:100;ports:[31000-32000]");
    h.framework("f1", &["r"]);
    let plan = h.pending();
    let o = only(&plan);
    assert_eq!(o.role, "r");
    // As in Mesos, the whole-offered part (non-scalars) comes first, then
    // the scalars that quota could have chopped.
    assert_eq!(
        o.resources.to_string(),
        "ports(allocated: r):[31000-32000]; cpus(allocated: r):4; mem(allocated: r):1024; disk(allocated: r):100"
    );
    // Everything is offered: the next cycle has nothing.
    assert!(h.cycle().is_empty());
}

#[test]
fn two_frameworks_converge_to_equal_shares() {
    let mut h = Harness::new();
    h.framework("f1", &["r"]);
    h.framework("f2", &["r"]);
    for i in 0..10 {
        h.agent(&format!("a{i}"), "cpus:1;mem:100");
    }
    let plan = h.cycle();
    let by = agents_by_framework(&plan);
    assert_eq!(by["f1"].len(), 5);
    assert_eq!(by["f2"].len(), 5);
}

#[test]
fn each_new_agent_goes_to_the_framework_with_the_lowest_share() {
    // DRF with equal shares alternates (ties break on how often a client
    // was allocated to, then on its id).
    let mut h = Harness::new();
    h.framework("f1", &["r"]);
    h.framework("f2", &["r"]);
    let mut winners = Vec::new();
    for i in 0..6 {
        h.agent(&format!("a{i}"), "cpus:1;mem:100");
        let plan = h.pending();
        winners.push(only(&plan).framework_id.value.clone());
    }
    assert_eq!(winners, ["f1", "f2", "f1", "f2", "f1", "f2"]);
}

#[test]
fn dominant_share_decides_not_the_sum() {
    // X-holder: cpus 1/10, mem 800/1100 -> dominant 0.727 (sum 0.83).
    // Y-holder: cpus 7/10, mem 300/1100 -> dominant 0.7 (sum 0.97).
    // DRF picks the Y-holder for the next agent; a sum would pick X's.
    let mut h = Harness::new();
    h.framework("f1", &["r"]);
    h.framework("f2", &["r"]);
    h.agent("x", "cpus:1;mem:800");
    h.agent("y", "cpus:7;mem:300");
    let plan = h.cycle();
    assert_eq!(plan.len(), 2);
    let y_holder = plan.offers.iter().find(|o| o.agent_id.value == "y").unwrap().framework_id.value.clone();
    h.agent("new", "cpus:2");
    assert_eq!(only(&h.pending()).framework_id.value, y_holder);
}

#[test]
fn roles_share_first_then_frameworks_within_a_role() {
    // Role "a" has one framework, role "b" three: the roles split the
    // cluster evenly, b's share is split among its frameworks.
    let mut h = Harness::new();
    h.framework("fa", &["a"]);
    for f in ["fb1", "fb2", "fb3"] {
        h.framework(f, &["b"]);
    }
    for i in 0..6 {
        h.agent(&format!("a{i}"), "cpus:1;mem:100");
    }
    let plan = h.cycle();
    let by = agents_by_framework(&plan);
    assert_eq!(by["fa"].len(), 3);
    assert_eq!(by["fb1"].len() + by["fb2"].len() + by["fb3"].len(), 3);
    assert!(["fb1", "fb2", "fb3"].iter().all(|f| by[*f].len() == 1));
}

#[test]
fn weights_scale_role_shares() {
    let mut h = Harness::new();
    h.alloc.update_weights(&[("heavy".into(), 2.0)]);
    assert_eq!((h.alloc.weight("heavy"), h.alloc.weight("light")), (2.0, 1.0));
    h.framework("f-heavy", &["heavy"]);
    h.framework("f-light", &["light"]);
    for i in 0..9 {
        h.agent(&format!("a{i}"), "cpus:1;mem:100");
    }
    let by = agents_by_framework(&h.cycle());
    assert_eq!(by["f-heavy"].len(), 6);
    assert_eq!(by["f-light"].len(), 3);
}

#[test]
fn hierarchical_roles_compete_within_their_parent() {
    // eng/ci and eng/web share eng's half; ops gets the other half.
    let mut h = Harness::new();
    h.framework("ci", &["eng/ci"]);
    h.framework("web", &["eng/web"]);
    h.framework("ops", &["ops"]);
    for i in 0..8 {
        h.agent(&format!("a{i}"), "cpus:1;mem:100");
    }
    let by = agents_by_framework(&h.cycle());
    assert_eq!(by["ops"].len(), 4);
    assert_eq!(by["ci"].len(), 2);
    assert_eq!(by["web"].len(), 2);
}

#[test]
fn hierarchical_roles_need_capable_agents() {
    let mut h = Harness::new();
    h.framework("ci", &["eng/ci"]);
    h.alloc.add_agent(agent_info("old"), &[], res("cpus:1;mem:100"), &Default::default()).unwrap();
    // The framework is MULTI_ROLE and the agent is not, and the role is
    // nested: both implicit filters apply.
    assert!(h.cycle().is_empty());
}

#[test]
fn excluded_resources_do_not_count_for_fairness() {
    // The holder of the gpu agent has a gpu share of 1.0; with gpus
    // excluded its share is 0.25 (cpus 1/4) against the other's 0.5.
    let winner = |excluded: bool| {
        let names = if excluded { ["gpus".to_string()].into() } else { Default::default() };
        let mut h = Harness::with(Options { seed: 1, fairness_excluded_resource_names: names, ..Options::default() });
        for f in ["f1", "f2"] {
            h.add(FrameworkSpec::new(f, &["r"]).cap(FwCap::GpuResources));
        }
        h.agent("gpu", "cpus:1;mem:10;gpus:4");
        h.agent("plain", "cpus:2;mem:20");
        let plan = h.cycle();
        let gpu_holder = plan.offers.iter().find(|o| o.agent_id.value == "gpu").unwrap().framework_id.value.clone();
        h.agent("c", "cpus:1;mem:10");
        let w = only(&h.pending()).framework_id.value.clone();
        w == gpu_holder
    };
    assert!(winner(true), "with gpus excluded the gpu holder is the poorer one");
    assert!(!winner(false), "with gpus counted the gpu holder is the richer one");
}

#[test]
fn same_seed_same_plan() {
    let build = |seed| {
        let mut h = Harness::with(Options { seed, ..Options::default() });
        for f in ["f1", "f2", "f3"] {
            h.framework(f, &["r"]);
        }
        for i in 0..30 {
            h.agent(&format!("a{i:02}"), "cpus:1;mem:100");
        }
        lines(&h.cycle())
    };
    assert_eq!(build(3), build(3));
    assert_ne!(build(3), build(4), "agents are shuffled with the seed");
}
