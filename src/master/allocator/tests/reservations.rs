//! Reservations go to their role subtree only; capabilities strip what a
//! framework cannot use; operations on offers update totals.

use std::collections::HashMap;

use super::harness::*;
use crate::common::resources::ResourceConversion;
use crate::proto::mesos::framework_info::capability::Type as FwCap;
use crate::proto::mesos::offer::operation::{Reserve, Type as OpType};
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::resource::reservation_info::Type as ResType;
use crate::proto::mesos::resource::ReservationInfo;

#[test]
fn static_reservations_only_go_to_their_role() {
    let mut h = Harness::new();
    h.agent("a1", "cpus(r1):2;mem(r1):200;cpus:1;mem:100");
    h.framework("other", &["r2"]);
    let plan = h.pending();
    let o = only(&plan);
    assert_eq!(o.resources.to_string(), "cpus(allocated: r2):1; mem(allocated: r2):100");
    h.framework("owner", &["r1"]);
    let plan = h.pending();
    let o = only(&plan);
    assert_eq!(o.framework_id.value, "owner");
    assert_eq!(o.resources.cpus(), Some(2.0));
    assert!(o.resources.iter().all(|i| i.is_reserved_to("r1")));
}

#[test]
fn ancestor_reservations_are_offered_to_descendant_roles() {
    let mut h = Harness::new();
    h.agent("a1", "cpus(eng):2;mem(eng):200");
    h.framework("sibling", &["ops"]);
    assert!(h.pending().is_empty());
    h.framework("ci", &["eng/ci"]);
    let plan = h.pending();
    let o = only(&plan);
    assert_eq!((o.framework_id.value.as_str(), o.role.as_str()), ("ci", "eng/ci"));
    assert!(o.resources.iter().all(|i| i.is_reserved_to("eng") && i.allocation_role() == Some("eng/ci")));
}

#[test]
fn descendant_reservations_are_not_offered_to_ancestors() {
    let mut h = Harness::new();
    h.agent("a1", "cpus(eng/ci):2;mem(eng/ci):200");
    h.framework("eng", &["eng"]);
    assert!(h.pending().is_empty());
}

#[test]
fn reserved_resources_are_offered_even_to_a_role_with_a_higher_share() {
    // r1 holds a whole agent; the next agent is all r1-reserved: it still
    // goes to r1 (r2 cannot use it).
    let mut h = Harness::new();
    h.framework("f1", &["r1"]);
    h.framework("f2", &["r2"]);
    h.agent("plain", "cpus:4;mem:400");
    let first = only(&h.pending()).framework_id.value.clone();
    assert_eq!(first, "f1", "equal shares: ties break on the role name");
    h.agent("reserved", "cpus(r1):4;mem(r1):400");
    assert_eq!(only(&h.pending()).framework_id.value, "f1");
}

#[test]
fn gpu_agents_only_go_to_gpu_frameworks() {
    let mut h = Harness::new();
    h.framework("plain", &["r"]);
    h.agent("gpu", "cpus:4;mem:400;gpus:1");
    assert!(h.pending().is_empty(), "--filter_gpu_resources hides the whole agent");
    h.add(FrameworkSpec::new("ml", &["r"]).cap(FwCap::GpuResources));
    assert_eq!(only(&h.pending()).framework_id.value, "ml");

    let mut h = Harness::with(crate::master::allocator::Options { filter_gpu_resources: false, ..Default::default() });
    h.framework("plain", &["r"]);
    h.agent("gpu", "cpus:4;mem:400;gpus:1");
    assert_eq!(only(&h.pending()).resources.gpus(), Some(1.0));
}

#[test]
fn revocable_resources_need_the_capability() {
    let mut h = Harness::new();
    let revocable = res("cpus:2;mem:200")
        .iter()
        .map(|i| {
            let mut p = i.to_proto();
            p.revocable = Some(Default::default());
            p
        })
        .collect::<Vec<_>>();
    let mut total = res("cpus:1;mem:100");
    total += &crate::common::resources::Resources::from(revocable);
    h.alloc.add_agent(agent_info("a1"), &agent_caps(), total, &HashMap::new()).unwrap();
    h.framework("plain", &["r"]);
    let plan = h.pending();
    assert!(only(&plan).resources.revocable().is_empty());
    h.add(FrameworkSpec::new("rev", &["r"]).cap(FwCap::RevocableResources));
    let plan = h.pending();
    assert_eq!(only(&plan).resources.revocable().cpus(), Some(2.0));
}

#[test]
fn refined_reservations_need_the_capability() {
    let mut h = Harness::new();
    let refined = res("cpus:2;mem:200")
        .push_reservation(&ReservationInfo {
            r#type: Some(ResType::Dynamic as i32),
            role: Some("a".into()),
            principal: Some("p".into()),
            labels: None,
        })
        .unwrap()
        .push_reservation(&ReservationInfo {
            r#type: Some(ResType::Dynamic as i32),
            role: Some("a/b".into()),
            principal: Some("p".into()),
            labels: None,
        })
        .unwrap();
    h.alloc.add_agent(agent_info("a1"), &agent_caps(), refined, &HashMap::new()).unwrap();
    // MULTI_ROLE but no RESERVATION_REFINEMENT: the resources are stripped.
    h.framework("old", &["a/b"]);
    assert!(h.pending().is_empty());
    h.add(FrameworkSpec::new("new", &["a/b"]).cap(FwCap::ReservationRefinement));
    assert_eq!(only(&h.pending()).framework_id.value, "new");
}

#[test]
fn min_allocatable_resources_hold_back_crumbs() {
    let mut h = Harness::new();
    h.framework("f", &["r"]);
    // Default `cpus:0.01|mem:32`: 0.005 cpus and 16 MB is not worth offering.
    h.agent("crumbs", "cpus:0.005;mem:16;disk:100");
    assert!(h.pending().is_empty());
    h.agent("enough", "cpus:0.005;mem:32");
    assert_eq!(only(&h.pending()).agent_id.value, "enough");
}

#[test]
fn framework_offer_filters_override_the_master_minimum() {
    use crate::proto::mesos::offer_filters::{MinAllocatableResources, ResourceQuantities as Q};
    use crate::proto::mesos::value::Scalar;
    use crate::proto::mesos::OfferFilters;
    let mut h = Harness::new();
    let spec = FrameworkSpec::new("big", &["r"]);
    let mut info = spec.info();
    info.offer_filters.insert(
        "r".into(),
        OfferFilters {
            min_allocatable_resources: Some(MinAllocatableResources {
                quantities: vec![Q { quantities: [("cpus".to_string(), Scalar { value: 8.0 })].into() }],
            }),
        },
    );
    h.alloc.add_framework(info, &HashMap::new(), true, Default::default()).unwrap();
    h.agent("small", "cpus:4;mem:400");
    assert!(h.pending().is_empty());
    h.agent("large", "cpus:8;mem:400");
    assert_eq!(only(&h.pending()).agent_id.value, "large");
}

#[test]
fn reserve_in_accept_updates_allocation_and_total() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r"]);
    let offer = only(&h.pending()).clone();
    // RESERVE cpus:2 for role r, through an ACCEPT.
    let mut reserved = res("cpus:2")
        .push_reservation(&ReservationInfo {
            r#type: Some(ResType::Dynamic as i32),
            role: Some("r".into()),
            principal: Some("p".into()),
            labels: None,
        })
        .unwrap();
    reserved.allocate("r");
    let op = Operation {
        r#type: Some(OpType::Reserve as i32),
        reserve: Some(Reserve { resources: reserved.to_protos(), source: vec![] }),
        ..Default::default()
    };
    let conversions = crate::common::resources::ops::conversions(&op).unwrap();
    h.alloc.update_allocation(&fw, &agent, &offer.resources, &conversions).unwrap();
    let total = h.alloc.agent_total(&agent).unwrap().clone();
    assert_eq!(total.reserved(Some("r")).cpus(), Some(2.0));
    assert_eq!(total.unreserved().cpus(), Some(2.0));
    // The framework now holds the reserved cpus; declining returns them.
    let held = h.alloc.offered_or_allocated(&fw, &agent);
    assert_eq!(held.reserved(Some("r")).cpus(), Some(2.0));
    h.alloc.recover_resources(h.now, &fw, &agent, &held, None, false);
    assert_eq!(h.alloc.available(&agent).unwrap(), &total);
    // Another role only sees the unreserved half.
    h.alloc.suppress_offers(&fw, &[]).unwrap();
    h.framework("g", &["other"]);
    assert_eq!(only(&h.pending()).resources.cpus(), Some(2.0));
}

#[test]
fn bad_conversions_are_refused() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:400");
    let fw = h.framework("f", &["r"]);
    let offer = only(&h.pending()).clone();
    let mut too_much = res("cpus:8");
    too_much.allocate("r");
    let bad = ResourceConversion::new(too_much.clone(), too_much);
    assert!(h.alloc.update_allocation(&fw, &agent, &offer.resources, &[bad]).is_err());
    assert_eq!(h.alloc.offered_or_allocated(&fw, &agent), offer.resources);
}

#[test]
fn operator_reservations_change_available_resources() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:400");
    let reserved = res("cpus:1")
        .push_reservation(&ReservationInfo {
            r#type: Some(ResType::Dynamic as i32),
            role: Some("r".into()),
            principal: Some("op".into()),
            labels: None,
        })
        .unwrap();
    let op = Operation {
        r#type: Some(OpType::Reserve as i32),
        reserve: Some(Reserve { resources: reserved.to_protos(), source: vec![] }),
        ..Default::default()
    };
    h.alloc.update_available(&agent, std::slice::from_ref(&op)).unwrap();
    assert_eq!(h.alloc.agent_total(&agent).unwrap().reserved(Some("r")).cpus(), Some(1.0));
    // Once offered, the same operation no longer fits the available part.
    h.framework("f", &["r"]);
    let _ = h.pending();
    assert!(h.alloc.update_available(&agent, &[op]).is_err());
}

#[test]
fn shared_volumes_are_offered_once_per_cycle_and_stay_offerable() {
    use crate::proto::mesos::resource::disk_info::Persistence;
    use crate::proto::mesos::resource::{DiskInfo, SharedInfo};
    use crate::proto::mesos::Volume;
    let mut volume = res("disk(r):100").to_protos().remove(0);
    volume.disk = Some(DiskInfo {
        persistence: Some(Persistence { id: "v1".into(), principal: None }),
        volume: Some(Volume { container_path: "data".into(), mode: 1, ..Default::default() }),
        source: None,
    });
    volume.shared = Some(SharedInfo {});
    let mut total = res("cpus:4;mem:400");
    total += &crate::common::resources::Resources::from(&volume);
    // A disk alone is below the default minimum offer: allow any offer.
    let mut h =
        Harness::with(crate::master::allocator::Options { min_allocatable_resources: vec![], ..Default::default() });
    h.alloc.add_agent(agent_info("a1"), &agent_caps(), total, &HashMap::new()).unwrap();
    h.framework("plain", &["r"]);
    let plan = h.pending();
    assert!(only(&plan).resources.shared().is_empty(), "no SHARED_RESOURCES capability");
    h.add(FrameworkSpec::new("s1", &["r"]).cap(FwCap::SharedResources));
    h.add(FrameworkSpec::new("s2", &["r"]).cap(FwCap::SharedResources));
    let plan = h.cycle();
    let with_volume: Vec<_> = plan.offers.iter().filter(|o| !o.resources.shared().is_empty()).collect();
    assert_eq!(with_volume.len(), 1, "one copy per cycle: {:?}", lines(&plan));
    let first = with_volume[0].framework_id.clone();
    // In use by one framework, the volume is still offered to another.
    let plan = h.cycle();
    let again = plan.offers.iter().find(|o| !o.resources.shared().is_empty()).expect("offered again");
    assert_ne!(again.framework_id, first);
}

#[test]
fn agents_in_other_regions_need_region_aware_frameworks() {
    use crate::proto::mesos::domain_info::fault_domain::{RegionInfo, ZoneInfo};
    use crate::proto::mesos::domain_info::FaultDomain;
    use crate::proto::mesos::DomainInfo;
    let domain = |region: &str| DomainInfo {
        fault_domain: Some(FaultDomain {
            region: RegionInfo { name: region.into() },
            zone: ZoneInfo { name: "z".into() },
        }),
    };
    let mut h = Harness::with(crate::master::allocator::Options { domain: Some(domain("home")), ..Default::default() });
    let mut info = agent_info("far");
    info.domain = Some(domain("away"));
    h.alloc.add_agent(info, &agent_caps(), res("cpus:1;mem:100"), &HashMap::new()).unwrap();
    let mut info = agent_info("near");
    info.domain = Some(domain("home"));
    h.alloc.add_agent(info, &agent_caps(), res("cpus:1;mem:100"), &HashMap::new()).unwrap();
    h.framework("local", &["r"]);
    assert_eq!(only(&h.cycle()).agent_id.value, "near");
    h.add(FrameworkSpec::new("global", &["r"]).cap(FwCap::RegionAware));
    assert_eq!(only(&h.cycle()).agent_id.value, "far");
}
