//! Refusal filters and their expiry, SUPPRESS and REVIVE, trigger
//! coalescing.

use super::harness::*;
use crate::master::allocator::Options;

#[test]
fn declined_resources_are_filtered_until_refuse_seconds_pass() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(10.0));
    assert!(h.cycle().is_empty(), "filtered right after the decline");
    h.advance(9.9);
    assert!(h.cycle().is_empty(), "still filtered before refuse_seconds");
    h.advance(0.1);
    assert_eq!(h.cycle().len(), 1, "offered again once the filter expired");
}

#[test]
fn default_refusal_is_five_seconds() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    let filters = crate::proto::mesos::Filters::default();
    h.alloc.recover_resources(
        h.now,
        &plan.offers[0].framework_id,
        &plan.offers[0].agent_id,
        &plan.offers[0].resources,
        Some(&filters),
        false,
    );
    h.advance(4.0);
    assert!(h.cycle().is_empty());
    h.advance(1.0);
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn refusals_last_at_least_an_allocation_interval() {
    let mut h = Harness::with(Options { allocation_interval: std::time::Duration::from_secs(3), ..Options::default() });
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(0.5));
    h.advance(1.0);
    assert!(h.cycle().is_empty());
    h.advance(2.0);
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn zero_refuse_seconds_installs_no_filter() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(0.0));
    let plan = h.cycle();
    assert_eq!(plan.len(), 1);
    // Negative values fall back to the 5 s default.
    h.decline_all(&plan, Some(-1.0));
    h.advance(4.0);
    assert!(h.cycle().is_empty());
    h.advance(1.0);
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn filters_only_cover_what_was_refused() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r"]);
    let plan = h.pending();
    // Launch on half, decline the other half with a long filter.
    let offer = only(&plan).clone();
    let mut half = res("cpus:2;mem:200");
    half.allocate("r");
    h.alloc.transition_offered_to_allocated(&agent, &half).unwrap();
    let rest = &offer.resources - &half;
    h.alloc.recover_resources(
        h.now,
        &fw,
        &agent,
        &rest,
        Some(&crate::proto::mesos::Filters { refuse_seconds: Some(100.0) }),
        false,
    );
    assert!(h.cycle().is_empty(), "the refused half is filtered");
    // The task ends: more than what was refused is available, a superset
    // of the filter, so it is offered again.
    h.alloc.recover_resources(h.now, &fw, &agent, &half, None, true);
    assert_eq!(only(&h.cycle()).resources.cpus(), Some(4.0));
}

#[test]
fn filters_are_per_framework_and_role() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f1", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(100.0));
    h.framework("f2", &["r"]);
    assert_eq!(only(&h.pending()).framework_id.value, "f2");
}

#[test]
fn suppress_stops_offers_and_revive_restores_them_clearing_filters() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r1", "r2"]);
    let plan = h.pending();
    assert_eq!(plan.len(), 1);
    h.decline_all(&plan, Some(1000.0));
    h.alloc.suppress_offers(&fw, &["r1", "r2"]).unwrap();
    h.advance(2000.0);
    assert!(h.cycle().is_empty(), "suppressed");
    h.alloc.revive_offers(&fw, &["r2"]).unwrap();
    assert!(h.alloc.has_pending(), "REVIVE triggers a cycle");
    let plan = h.pending();
    assert_eq!(only(&plan).role, "r2");
    h.decline_all(&plan, Some(1000.0));
    assert!(h.cycle().is_empty());
    h.alloc.revive_offers(&fw, &[]).unwrap();
    let plan = h.pending();
    assert_eq!(only(&plan).framework_id, fw, "REVIVE cleared the filter at once");
}

#[test]
fn suppressed_roles_at_subscription() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    let mut spec = FrameworkSpec::new("f", &["r1", "r2"]);
    spec.suppressed = vec!["r1".into()];
    h.add(spec);
    assert_eq!(only(&h.pending()).role, "r2");
}

#[test]
fn deactivated_frameworks_and_agents_get_nothing() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r"]);
    h.alloc.deactivate_framework(&fw).unwrap();
    assert!(h.cycle().is_empty());
    h.alloc.activate_framework(&fw).unwrap();
    h.alloc.deactivate_agent(&agent).unwrap();
    assert!(h.cycle().is_empty());
    h.alloc.activate_agent(&agent).unwrap();
    assert_eq!(h.cycle().len(), 1);
}

#[test]
fn deactivation_drops_filters() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(1000.0));
    h.alloc.deactivate_framework(&fw).unwrap();
    h.alloc.activate_framework(&fw).unwrap();
    assert_eq!(h.pending().len(), 1);
}

#[test]
fn triggers_only_look_at_marked_agents() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, None);
    assert!(!h.alloc.has_pending(), "recovering resources does not trigger");
    h.agent("a2", "cpus:4;mem:400");
    // Only the new agent is looked at; a1 waits for the periodic cycle.
    assert_eq!(only(&h.pending()).agent_id.value, "a2");
    assert_eq!(only(&h.cycle()).agent_id.value, "a1");
}

#[test]
fn changed_attributes_clear_filters_on_the_agent() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    let plan = h.pending();
    h.decline_all(&plan, Some(1000.0));
    let mut info = agent_info("a1");
    info.attributes.push(crate::proto::mesos::Attribute {
        name: "rack".into(),
        r#type: crate::proto::mesos::value::Type::Text as i32,
        text: Some(crate::proto::mesos::value::Text { value: "r1".into() }),
        ..Default::default()
    });
    h.alloc.update_agent(info, None, None).unwrap();
    assert_eq!(h.pending().len(), 1);
}

#[test]
fn agent_whitelist_limits_offers_to_listed_hostnames() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:400");
    h.agent("a2", "cpus:4;mem:400");
    h.framework("f", &["r"]);
    h.alloc.update_whitelist(Some(["a2.example".to_string()].into()));
    assert_eq!(only(&h.pending()).agent_id.value, "a2");
}
