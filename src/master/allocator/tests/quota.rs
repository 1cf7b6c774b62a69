//! Quota guarantees (stage 1), headroom, limits.

use std::collections::BTreeMap;

use super::harness::*;
use crate::common::resource_quantities::{Quota, ResourceLimits, ResourceQuantities};

fn guarantee(text: &str) -> Quota {
    Quota { guarantees: ResourceQuantities::from_string(text).unwrap(), limits: ResourceLimits::new() }
}

fn limit(text: &str) -> Quota {
    Quota { guarantees: ResourceQuantities::new(), limits: ResourceLimits::from_string(text).unwrap() }
}

fn four_agents(h: &mut Harness) {
    for i in 0..4 {
        h.agent(&format!("a{i}"), "cpus:2;mem:100");
    }
}

#[test]
fn guarantees_are_met_before_fair_sharing() {
    let mut h = Harness::new();
    h.alloc.update_quota("q", guarantee("cpus:6"));
    h.framework("fq", &["q"]);
    h.framework("fo", &["o"]);
    four_agents(&mut h);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fq"), 6.0);
    assert_eq!(cpus_of(&plan, "fo"), 2.0);
}

#[test]
fn without_quota_the_same_cluster_is_split_evenly() {
    let mut h = Harness::new();
    h.framework("fq", &["q"]);
    h.framework("fo", &["o"]);
    four_agents(&mut h);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fq"), 4.0);
    assert_eq!(cpus_of(&plan, "fo"), 4.0);
}

#[test]
fn headroom_is_held_back_for_unsatisfied_guarantees() {
    // q has a guarantee but no framework yet: 4 of the 8 cpus stay free.
    let mut h = Harness::new();
    h.alloc.update_quota("q", guarantee("cpus:4"));
    h.framework("fo", &["o"]);
    four_agents(&mut h);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fo"), 4.0);
    // When q's framework arrives it gets the held-back cpus.
    h.framework("fq", &["q"]);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fq"), 4.0);
}

#[test]
fn reservations_count_towards_guarantees() {
    let mut h = Harness::new();
    h.alloc.update_quota("q", guarantee("cpus:4"));
    h.agent("reserved", "cpus(q):4;mem(q):100");
    four_agents(&mut h);
    h.framework("fo", &["o"]);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fo"), 8.0, "no headroom needed: q's reservation covers it");
    assert_eq!(h.alloc.quota_consumed("q"), ResourceQuantities::from_string("cpus:4;mem:100").unwrap());
}

#[test]
fn limits_cap_a_role_by_chopping_offers() {
    let mut h = Harness::new();
    h.alloc.update_quota("q", limit("cpus:3"));
    h.framework("fq", &["q"]);
    four_agents(&mut h);
    let plan = h.cycle();
    assert_eq!(cpus_of(&plan, "fq"), 3.0);
    // Declined resources free the room again.
    h.decline_all(&plan, None);
    assert_eq!(cpus_of(&h.cycle(), "fq"), 3.0);
}

#[test]
fn zero_limit_stops_a_role() {
    let mut h = Harness::new();
    h.alloc.update_quota("q", limit("cpus:0;mem:0"));
    h.framework("fq", &["q"]);
    four_agents(&mut h);
    assert!(h.cycle().is_empty());
}

#[test]
fn recovery_with_quota_pauses_until_agents_return() {
    let mut h = Harness::new();
    let quotas = BTreeMap::from([("q".to_string(), guarantee("cpus:2"))]);
    h.alloc.recover(h.now, 5, &quotas);
    assert!(h.alloc.is_paused());
    h.framework("f", &["q"]);
    // 80% of 5 = 4 agents are needed.
    for i in 0..3 {
        h.agent(&format!("a{i}"), "cpus:2;mem:100");
    }
    assert!(h.cycle().is_empty(), "paused with 3 of 4 agents");
    h.agent("a3", "cpus:2;mem:100");
    assert!(!h.alloc.is_paused());
    assert_eq!(h.cycle().len(), 4);
}

#[test]
fn recovery_resumes_after_the_timeout() {
    let mut h = Harness::new();
    let quotas = BTreeMap::from([("q".to_string(), guarantee("cpus:2"))]);
    h.alloc.recover(h.now, 100, &quotas);
    h.framework("f", &["q"]);
    h.agent("a0", "cpus:2;mem:100");
    h.advance(599.0);
    assert!(h.cycle().is_empty());
    h.advance(1.0);
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn recovery_without_quota_does_not_pause() {
    let mut h = Harness::new();
    h.alloc.recover(h.now, 100, &BTreeMap::new());
    assert!(!h.alloc.is_paused());
}
