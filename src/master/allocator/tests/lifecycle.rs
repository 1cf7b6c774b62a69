//! Agents and frameworks coming and going, failover accounting,
//! multi-role frameworks.

use std::collections::HashMap;

use super::harness::*;
use crate::master::allocator::FrameworkOptions;

#[test]
fn removing_an_agent_frees_its_holders_share() {
    let mut h = Harness::new();
    h.framework("f1", &["r"]);
    h.framework("f2", &["r"]);
    h.agent("a1", "cpus:4;mem:400");
    h.agent("a2", "cpus:4;mem:400");
    let plan = h.cycle();
    let holder_of_a1 = plan.offers.iter().find(|o| o.agent_id.value == "a1").unwrap().framework_id.clone();
    h.alloc.remove_agent(&agent_id("a1")).unwrap();
    assert_eq!(h.alloc.agent_count(), 1);
    // The holder of a1 now has nothing: it gets the next agent.
    h.agent("a3", "cpus:4;mem:400");
    assert_eq!(only(&h.pending()).framework_id, holder_of_a1);
}

#[test]
fn a_removed_agent_is_never_offered() {
    let mut h = Harness::new();
    h.framework("f", &["r"]);
    h.agent("a1", "cpus:4;mem:400");
    assert!(h.alloc.has_pending());
    h.alloc.remove_agent(&agent_id("a1")).unwrap();
    assert!(h.pending().is_empty());
    assert!(h.cycle().is_empty());
    assert!(h.alloc.remove_agent(&agent_id("a1")).is_err());
}

#[test]
fn removing_a_framework_returns_its_resources() {
    let mut h = Harness::new();
    let f1 = h.framework("f1", &["r"]);
    h.agent("a1", "cpus:4;mem:400");
    assert_eq!(only(&h.pending()).framework_id, f1);
    h.framework("f2", &["r"]);
    assert!(h.pending().is_empty(), "a1 is offered to f1");
    h.alloc.remove_framework(&f1).unwrap();
    assert_eq!(only(&h.cycle()).framework_id.value, "f2");
    assert_eq!(h.alloc.framework_count(), 1);
}

#[test]
fn agents_report_usage_of_frameworks_not_yet_added() {
    // After a master failover agents reregister first, with the resources
    // their tasks use, and frameworks come back later.
    let mut h = Harness::new();
    let mut used = res("cpus:3;mem:300");
    used.allocate("r");
    let usage = HashMap::from([(framework_id("f1"), used.clone())]);
    h.alloc.add_agent(agent_info("a1"), &agent_caps(), res("cpus:4;mem:400"), &usage).unwrap();
    h.framework("f2", &["r"]);
    assert_eq!(only(&h.pending()).resources.cpus(), Some(1.0));
    // f1 comes back holding 3 cpus: a new agent goes to f2 (1 cpu).
    let spec = FrameworkSpec::new("f1", &["r"]);
    h.alloc
        .add_framework(spec.info(), &HashMap::from([(agent_id("a1"), used)]), true, FrameworkOptions::default())
        .unwrap();
    h.agent("a2", "cpus:4;mem:400");
    assert_eq!(only(&h.pending()).framework_id.value, "f2");
    // f1's task ends: its resources come back.
    let mut ended = res("cpus:3;mem:300");
    ended.allocate("r");
    h.alloc.recover_resources(h.now, &framework_id("f1"), &agent_id("a1"), &ended, None, true);
    assert_eq!(h.alloc.available(&agent_id("a1")).unwrap().cpus(), Some(3.0));
}

#[test]
fn frameworks_report_usage_on_known_agents() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    let mut used = res("cpus:4;mem:400");
    used.allocate("r");
    let spec = FrameworkSpec::new("f1", &["r"]);
    h.alloc.add_framework(spec.info(), &HashMap::from([(agent_id("a1"), used)]), true, Default::default()).unwrap();
    assert!(h.cycle().is_empty(), "the agent is fully used");
    assert_eq!(
        h.alloc.quota_consumed("r"),
        crate::common::resource_quantities::ResourceQuantities::from_string("cpus:4;mem:400").unwrap()
    );
}

#[test]
fn multi_role_frameworks_get_offers_per_role() {
    let mut h = Harness::new();
    h.framework("f", &["a", "b"]);
    h.agent("a1", "cpus:4;mem:400");
    h.agent("a2", "cpus:4;mem:400");
    let plan = h.cycle();
    let mut roles: Vec<&str> = plan.offers.iter().map(|o| o.role.as_str()).collect();
    roles.sort();
    assert_eq!(roles, ["a", "b"], "each role is its own DRF client");
    for o in &plan.offers {
        assert!(o.resources.iter().all(|i| i.allocation_role() == Some(o.role.as_str())));
    }
}

#[test]
fn updating_roles_starts_and_stops_offers() {
    let mut h = Harness::new();
    h.framework("f", &["a"]);
    h.agent("a1", "cpus:4;mem:400");
    let plan = h.pending();
    assert_eq!(only(&plan).role, "a");
    h.decline_all(&plan, None);
    let spec = FrameworkSpec::new("f", &["b"]);
    h.alloc.update_framework(spec.info(), FrameworkOptions::default()).unwrap();
    assert_eq!(only(&h.cycle()).role, "b");
    assert_eq!(h.alloc.roles().keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn a_role_left_with_resources_stays_tracked_until_they_return() {
    let mut h = Harness::new();
    h.framework("f", &["a"]);
    h.agent("a1", "cpus:4;mem:400");
    let plan = h.pending();
    let spec = FrameworkSpec::new("f", &["b"]);
    h.alloc.update_framework(spec.info(), FrameworkOptions::default()).unwrap();
    assert!(h.alloc.roles().contains_key("a"), "still holds resources in a");
    h.decline_all(&plan, None);
    assert!(!h.alloc.roles().contains_key("a"));
}

#[test]
fn suppressing_through_update_framework() {
    let mut h = Harness::new();
    h.framework("f", &["a"]);
    h.agent("a1", "cpus:4;mem:400");
    let plan = h.pending();
    h.decline_all(&plan, Some(1000.0));
    let spec = FrameworkSpec::new("f", &["a"]);
    let suppress = FrameworkOptions { suppressed_roles: ["a".to_string()].into() };
    h.alloc.update_framework(spec.info(), suppress).unwrap();
    h.advance(2000.0);
    assert!(h.cycle().is_empty());
    h.alloc.update_framework(spec.info(), FrameworkOptions::default()).unwrap();
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn duplicate_and_unknown_ids_are_errors() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:1;mem:100");
    h.framework("f", &["r"]);
    assert!(h.alloc.add_agent(agent_info("a1"), &[], res("cpus:1"), &HashMap::new()).is_err());
    let spec = FrameworkSpec::new("f", &["r"]);
    assert!(h.alloc.add_framework(spec.info(), &HashMap::new(), true, Default::default()).is_err());
    assert!(h.alloc.deactivate_framework(&framework_id("nope")).is_err());
    assert!(h.alloc.activate_agent(&agent_id("nope")).is_err());
    // Resources for unknown parties are ignored, as in Mesos.
    h.alloc.recover_resources(h.now, &framework_id("nope"), &agent_id("a1"), &res("cpus:1"), None, false);
}

#[test]
fn agent_total_updates_change_offers() {
    let mut h = Harness::new();
    h.framework("f", &["r"]);
    h.agent("a1", "cpus:1;mem:100");
    let plan = h.pending();
    h.decline_all(&plan, None);
    h.alloc.update_agent(agent_info("a1"), Some(res("cpus:8;mem:800")), None).unwrap();
    assert!(h.alloc.has_pending());
    assert_eq!(only(&h.pending()).resources.cpus(), Some(8.0));
    assert_eq!(
        h.alloc.total_quantities(),
        crate::common::resource_quantities::ResourceQuantities::from_string("cpus:8;mem:800").unwrap()
    );
}

#[test]
fn launched_resources_count_as_consumed_quota() {
    let mut h = Harness::new();
    h.framework("f", &["r"]);
    h.agent("a1", "cpus:4;mem:400");
    let plan = h.pending();
    assert!(h.alloc.quota_consumed("r").is_empty(), "offered is not consumed");
    assert_eq!(h.alloc.role_offered_or_allocated("r").get("cpus").to_f64(), 4.0);
    h.launch(only(&plan));
    assert_eq!(h.alloc.quota_consumed("r").get("cpus").to_f64(), 4.0);
    let o = only(&plan).clone();
    h.alloc.recover_resources(h.now, &o.framework_id, &o.agent_id, &o.resources, None, true);
    assert!(h.alloc.quota_consumed("r").is_empty());
    assert!(h.alloc.role_offered_or_allocated("r").is_empty());
}
