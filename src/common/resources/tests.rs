//! Cases taken from Mesos's documented resource behaviour (its resources
//! tests and docs), plus property tests for the arithmetic laws.

use proptest::prelude::*;

use super::format::{convert_resource_format, display_proto, upgrade_message, ResourceFormat};
use super::ops::{apply_checkpointed_resources, reservation_ancestor, shrink_to_limits, shrink_to_quantities};
use super::parse::{from_simple_string, from_string};
use super::validate::{validate_allocated_to_single_role, validate_for_master, validate_unique_persistence_id};
use super::*;
use crate::common::resource_quantities::{ResourceLimits, ResourceQuantities};
use crate::proto::mesos::offer::operation::{self as op, Type as OpType};
use crate::proto::mesos::offer::Operation;
use crate::proto::mesos::resource::disk_info::source::{Mount, Type as SourceType};
use crate::proto::mesos::resource::disk_info::{Persistence, Source};
use crate::proto::mesos::resource::reservation_info::Type as ResType;
use crate::proto::mesos::resource::{AllocationInfo, DiskInfo, RevocableInfo, SharedInfo};
use crate::proto::mesos::value::{Range, Ranges as PbRanges, Scalar as PbScalar, Set as PbSet};
use crate::proto::mesos::{Label, Labels, ResourceProviderId, TaskInfo, Volume};

fn r(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Scalar as i32,
        scalar: Some(PbScalar { value: v }),
        ..Default::default()
    }
}

fn ranges(name: &str, v: &[(u64, u64)]) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Ranges as i32,
        ranges: Some(PbRanges { range: v.iter().map(|&(begin, end)| Range { begin, end }).collect() }),
        ..Default::default()
    }
}

fn set(name: &str, v: &[&str]) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Set as i32,
        set: Some(PbSet { item: v.iter().map(|s| s.to_string()).collect() }),
        ..Default::default()
    }
}

fn reservation(kind: ResType, role: &str, principal: Option<&str>) -> ReservationInfo {
    ReservationInfo {
        r#type: Some(kind as i32),
        role: Some(role.into()),
        principal: principal.map(Into::into),
        labels: None,
    }
}

fn dynamic(mut res: Resource, role: &str, principal: &str) -> Resource {
    res.reservations.push(reservation(ResType::Dynamic, role, Some(principal)));
    res
}

fn volume(size: f64, role: &str, id: &str, path: &str, shared: bool) -> Resource {
    let mut d = scalar("disk", size);
    d.reservations.push(reservation(ResType::Static, role, None));
    d.disk = Some(DiskInfo {
        persistence: Some(Persistence { id: id.into(), principal: None }),
        volume: Some(Volume { container_path: path.into(), mode: 1, ..Default::default() }),
        source: None,
    });
    if shared {
        d.shared = Some(SharedInfo {});
    }
    d
}

fn mount_disk(size: f64, root: &str) -> Resource {
    let mut d = scalar("disk", size);
    d.disk = Some(DiskInfo {
        source: Some(Source {
            r#type: SourceType::Mount as i32,
            mount: Some(Mount { root: Some(root.into()) }),
            ..Default::default()
        }),
        ..Default::default()
    });
    d
}

fn of<'a>(protos: impl IntoIterator<Item = &'a Resource>) -> Resources {
    Resources::from_protos(protos)
}

fn operation(kind: OpType) -> Operation {
    Operation { r#type: Some(kind as i32), ..Default::default() }
}

// ----------------------------------------------------------------------------
// Parsing

#[test]
fn parses_simple_text_with_all_value_types() {
    let cpus = parse::parse_resource("cpus", "45.55", "*").unwrap();
    assert_eq!(cpus.scalar.unwrap().value, 45.55);
    let ports = parse::parse_resource("ports", "[10000-20000, 30000-50000]", "*").unwrap();
    assert_eq!(ports.ranges.unwrap().range.len(), 2);
    let parsed = r("cpus:45.55;ports:[10000-20000, 30000-50000];disks:{sda1}");
    let built =
        of(&[scalar("cpus", 45.55), ranges("ports", &[(10000, 20000), (30000, 50000)]), set("disks", &["sda1"])]);
    assert_eq!(parsed, built);
    assert_eq!(parsed.to_string(), "cpus:45.55; ports:[10000-20000, 30000-50000]; disks:{sda1}");
}

#[test]
fn roles_in_text_are_static_reservations_and_default_role_applies() {
    let parsed = r("cpus(role1):2;mem(role1):3");
    let mut cpus = scalar("cpus", 2.0);
    cpus.reservations.push(reservation(ResType::Static, "role1", None));
    let mut mem = scalar("mem", 3.0);
    mem.reservations.push(reservation(ResType::Static, "role1", None));
    assert_eq!(parsed, of(&[cpus, mem]));
    assert_eq!(
        Resources::parse("cpus:2.5;ports(role2):[0-100]", "role1").unwrap(),
        r("cpus(role1):2.5;ports(role2):[0-100]")
    );
    assert_eq!(r("cpus(*):1"), r("cpus:1"));
    assert!(r("cpus( role1 ):1").iter().next().unwrap().is_reserved_to("role1"));
}

#[test]
fn parse_errors_have_mesos_messages() {
    let err = |t: &str| Resources::parse(t, "*").unwrap_err().0;
    assert_eq!(err("cpus(role1)"), "Bad value for resources, missing or extra ':' in cpus(role1)");
    assert_eq!(err("cpus(role1:1"), "Bad value for resources, mismatched parentheses in cpus(role1:1");
    assert_eq!(err("cpus)(role1:1"), "Bad value for resources, mismatched parentheses in cpus)(role1:1");
    assert_eq!(
        err("foo(role1):1;foo(role2):[0-1]"),
        "Resources with the same name ('foo') but different types are not allowed"
    );
    assert_eq!(err("cpus:abc"), "Bad type for resource cpus value abc type TEXT");
    assert_eq!(
        err("cpus:-1"),
        "Failed to parse resource cpus value -1 error Invalid scalar value '-1':Negative values not supported"
    );
    assert_eq!(err("ports:[5-1]"), "Invalid ranges resource: begin > end");
    assert_eq!(err("disks:{a,a}"), "Invalid set resource: duplicated elements");
    assert_eq!(err("cpus():1"), "Role names cannot be the empty string");
    assert_eq!(err(":1"), "Bad value for resources, missing or extra ':' in :1");
    assert_eq!(err(" :1"), "Empty resource name");
    assert_eq!(err("cpus:0.0001"), "Invalid scalar resource: value <= 0");
}

#[test]
fn parse_accepts_zero_and_drops_it() {
    assert!(r("cpus:0").is_empty());
    assert!(r("").is_empty());
    assert_eq!(r("cpus:1;;mem:2"), r("mem:2;cpus:1"));
}

#[test]
fn parses_json_array_with_default_role() {
    let json = r#"[
        {"name":"cpus","type":"SCALAR","scalar":{"value":45.55}},
        {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":10000,"end":20000}]}},
        {"name":"disks","type":"SET","set":{"item":["sda1"]},"role":"role2"},
        {"name":"mem","type":"SCALAR","scalar":{"value":1},
         "reservations":[{"type":"STATIC","role":"role3"}]}
    ]"#;
    let parsed = Resources::parse(json, "role1").unwrap();
    assert_eq!(parsed, r("cpus(role1):45.55;ports(role1):[10000-20000];disks(role2):{sda1};mem(role3):1"));
    let raw = from_string(json, "*").unwrap();
    assert!(raw[0].reservations.is_empty());
    #[allow(deprecated)]
    {
        assert!(raw.iter().all(|x| x.role.is_none()), "upgraded to the post format");
    }
}

#[test]
fn json_errors_are_reported() {
    // Not an array: read as simple text, which fails.
    assert!(Resources::parse(r#"{"name":"cpus","type":"SCALAR","scalar":{"value":1}}"#, "*").is_err());
    let e = Resources::parse(r#"[{"name":"cpus","type":"SCALAR"}]"#, "*").unwrap_err();
    assert_eq!(e.0, "Invalid scalar resource");
    let e = Resources::parse(r#"[{"type":"SCALAR","scalar":{"value":1}}]"#, "*").unwrap_err();
    assert!(e.0.starts_with("Some JSON resources were not formatted properly: "), "{e}");
    let e = Resources::parse(r#"[[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]]"#, "*").unwrap_err();
    assert!(e.0.starts_with("Some JSON resources were not formatted properly"), "{e}");
}

#[test]
fn command_line_refuses_dynamic_revocable_and_volumes() {
    let dynamic_json = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},
        "reservations":[{"type":"DYNAMIC","role":"r","principal":"p"}]}]"#;
    assert!(Resources::parse(dynamic_json, "*").unwrap_err().0.starts_with("Dynamic reservations cannot"));
    let revocable = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"revocable":{}}]"#;
    assert!(Resources::parse(revocable, "*").unwrap_err().0.starts_with("Revocable resources cannot"));
    let vol = r#"[{"name":"disk","type":"SCALAR","scalar":{"value":1},"role":"r",
        "disk":{"persistence":{"id":"v"},"volume":{"container_path":"p","mode":"RW"}}}]"#;
    assert_eq!(Resources::parse(vol, "*").unwrap_err().0, "Persistent volumes cannot be specified at the command line");
}

#[test]
fn simple_string_keeps_invalid_entries_for_callers() {
    let raw = from_simple_string("cpus:0;ports:[3-1]", "*").unwrap();
    assert_eq!(raw.len(), 2);
    assert!(validate(&raw[1]).is_err());
}

// ----------------------------------------------------------------------------
// Printing

#[test]
fn prints_extended_attributes_like_mesos() {
    let mut disk = scalar("disk", 1.0);
    assert_eq!(display_proto(&disk), "disk:1");
    disk.reservations.push(reservation(ResType::Static, "alice", None));
    assert_eq!(display_proto(&disk), "disk(reservations: [(STATIC,alice)]):1");
    disk.allocation_info = Some(AllocationInfo { role: Some("role".into()) });
    assert_eq!(display_proto(&disk), "disk(allocated: role)(reservations: [(STATIC,alice)]):1");
    disk.allocation_info = None;
    disk.revocable = Some(RevocableInfo {});
    assert_eq!(display_proto(&disk), "disk(reservations: [(STATIC,alice)]){REV}:1");
    disk.revocable = None;
    disk.disk = Some(DiskInfo {
        persistence: Some(Persistence { id: "hadoop".into(), principal: None }),
        volume: Some(Volume { container_path: "/data".into(), mode: 1, ..Default::default() }),
        source: None,
    });
    assert_eq!(display_proto(&disk), "disk(reservations: [(STATIC,alice)])[hadoop:/data]:1");
    disk.disk.as_mut().unwrap().volume.as_mut().unwrap().host_path = Some("/hdfs".into());
    disk.disk.as_mut().unwrap().source = Some(Source {
        r#type: SourceType::Mount as i32,
        mount: Some(Mount { root: Some("/mnt1".into()) }),
        ..Default::default()
    });
    assert_eq!(display_proto(&disk), "disk(reservations: [(STATIC,alice)])[MOUNT:/mnt1,hadoop:/hdfs:/data:rw]:1");
    disk.disk.as_mut().unwrap().source = None;
    let mut refined = reservation(ResType::Dynamic, "alice/refined", Some("hdfs-p"));
    refined.labels = Some(Labels {
        labels: vec![Label { key: "foo".into(), value: Some("bar".into()) }, Label { key: "foo".into(), value: None }],
    });
    disk.reservations.push(refined);
    assert_eq!(
        display_proto(&disk),
        "disk(reservations: [(STATIC,alice),(DYNAMIC,alice/refined,hdfs-p,{foo: bar, foo})])[hadoop:/hdfs:/data:rw]:1"
    );
}

#[test]
fn prints_scalars_with_three_decimals() {
    for (v, text) in [(1.234, "1.234"), (1.2345, "1.235"), (1.2344, "1.234"), (1.1, "1.1"), (1000001.0, "1000001")] {
        assert_eq!(display_proto(&scalar("cpus", v)), format!("cpus:{text}"));
    }
    assert_eq!(display_proto(&scalar("cpus", 99999999999.9994)), "cpus:99999999999.999");
    assert_eq!(Resources::new().to_string(), "{}");
}

#[test]
fn prints_shared_counts() {
    let v = volume(64.0, "role1", "id1", "path1", true);
    let one = of([&v]);
    assert_eq!(one.to_string(), "disk(reservations: [(STATIC,role1)])[id1:path1]<SHARED>:64<1>");
    assert_eq!((&one + &one).to_string(), "disk(reservations: [(STATIC,role1)])[id1:path1]<SHARED>:64<2>");
}

// ----------------------------------------------------------------------------
// Arithmetic

#[test]
fn scalar_arithmetic_and_precision() {
    let a = r("cpus:1;mem:5");
    let b = r("cpus:2;mem:10");
    assert!(b.contains(&a) && !a.contains(&b));
    let sum = &a + &b;
    assert_eq!(sum.get_scalar("cpus").unwrap().to_f64(), 3.0);
    assert_eq!(sum.get_scalar("mem").unwrap().to_f64(), 15.0);
    let diff = &b - &a;
    assert_eq!(diff, r("cpus:1;mem:5"));
    assert!((&a - &a).is_empty());
    // Subtracting more than is there removes the entry.
    assert!((&a - &b).is_empty());

    let mut x = r("cpus:0.1");
    for _ in 0..9 {
        x += &r("cpus:0.1");
    }
    assert_eq!(x, r("cpus:1"));
    for _ in 0..10 {
        x -= &r("cpus:0.1");
    }
    assert!(x.is_empty(), "precision is not lost: {x}");
    // 0.1 + 0.2 - 0.3 is zero in fixed point.
    assert!((&(&r("cpus:0.1") + &r("cpus:0.2")) - &r("cpus:0.3")).is_empty());
    // Very small values round to nothing.
    assert!(of(&[scalar("cpus", 0.0001)]).is_empty());
}

#[test]
fn ranges_arithmetic() {
    let a = r("ports:[20000-40000]");
    let b = r("ports:[30000-50000, 10000-20000]");
    assert_eq!(&a + &b, r("ports:[10000-50000]"));
    assert_eq!(&b - &a, r("ports:[10000-19999, 40001-50000]"));
    assert!(r("ports:[1-10]").contains(&r("ports:[2-3, 5-6]")));
    assert!(!r("ports:[1-10]").contains(&r("ports:[9-11]")));
    assert_eq!(r("ports:[1-2, 3-4]"), r("ports:[1-4]"));
    let mut p = r("ports:[50000-60000]");
    p -= &r("ports:[50000-50001]");
    p -= &r("ports:[50008-50008]");
    assert_eq!(p, r("ports:[50002-50007, 50009-60000]"));
    assert!((&r("ports:[1-4]") - &r("ports:[1-4]")).is_empty());
    assert_eq!(r("ports:[1-10]").ports().unwrap().count(), 10);
}

#[test]
fn set_arithmetic() {
    let a = r("disks:{sda1,sda2}");
    let b = r("disks:{sda2,sda3}");
    assert_eq!(&a + &b, r("disks:{sda1,sda2,sda3}"));
    assert_eq!(&a - &b, r("disks:{sda1}"));
    assert!(a.contains(&r("disks:{sda2}")));
    assert!(!a.contains(&b));
    assert_eq!(r("disks:{a,b}"), r("disks:{b,a}"));
}

#[test]
fn empty_is_not_equal_to_non_empty() {
    assert_ne!(Resources::new(), r("cpus:1"));
    assert_eq!(Resources::new(), Resources::new());
}

#[test]
fn reservations_keep_entries_apart() {
    let res = r("cpus:1;cpus(role1):2;cpus(role2):3;cpus(role1):1");
    assert_eq!(res.len(), 3);
    assert_eq!(res.reserved(Some("role1")), r("cpus(role1):3"));
    assert_eq!(res.unreserved(), r("cpus:1"));
    assert_eq!(res.reserved(None), r("cpus(role1):3;cpus(role2):3"));
    let by_role = res.reservations();
    assert_eq!(by_role.keys().collect::<Vec<_>>(), vec!["role1", "role2"]);
    assert_eq!(res.cpus(), Some(7.0));
    assert!(!r("cpus(role1):3").contains(&r("cpus:1")));
}

#[test]
fn hierarchical_reservations_are_allocatable_to_descendants() {
    let res = r("cpus(a):1;cpus(a/b):2;cpus(a/b/c):4;cpus(ab):8;cpus:16");
    assert_eq!(res.allocatable_to("a/b").cpus(), Some(19.0));
    assert_eq!(res.allocatable_to("a").cpus(), Some(17.0));
    assert_eq!(res.allocatable_to("x").cpus(), Some(16.0));
    assert_eq!(res.reserved_to_role_subtree("a").cpus(), Some(7.0));
    assert_eq!(res.reserved_to_role_subtree("a/b").cpus(), Some(6.0));
}

#[test]
fn dynamic_reservations_compare_principal_and_labels() {
    let a = dynamic(scalar("cpus", 1.0), "r", "p1");
    let b = dynamic(scalar("cpus", 1.0), "r", "p2");
    assert_eq!(of(&[a.clone(), a.clone()]).len(), 1);
    assert_eq!(of(&[a.clone(), b.clone()]).len(), 2);
    let mut labelled = a.clone();
    labelled.reservations[0].labels = Some(Labels { labels: vec![Label { key: "k".into(), value: Some("v".into()) }] });
    assert_eq!(of(&[a.clone(), labelled.clone()]).len(), 2);
    let mut reordered = labelled.clone();
    reordered.reservations[0].labels.as_mut().unwrap().labels.push(Label { key: "x".into(), value: None });
    let mut reordered2 = reordered.clone();
    reordered2.reservations[0].labels.as_mut().unwrap().labels.reverse();
    assert_eq!(of(&[reordered, reordered2]).len(), 1, "label order does not matter");
    assert!(of([&a]).iter().next().unwrap().is_dynamically_reserved());
}

#[test]
fn resource_provider_ids_keep_entries_apart() {
    let mut a = scalar("disk", 10.0);
    a.provider_id = Some(ResourceProviderId { value: "rp1".into() });
    let mut b = a.clone();
    b.provider_id = Some(ResourceProviderId { value: "rp2".into() });
    let both = of(&[a.clone(), b.clone(), scalar("disk", 10.0)]);
    assert_eq!(both.len(), 3);
    assert!(!of([&a]).contains(&of(&[b])));
    assert_eq!((&both - &of(&[a])).len(), 2);
}

#[test]
fn revocable_resources_are_distinct() {
    let mut rev = scalar("cpus", 1.0);
    rev.revocable = Some(RevocableInfo {});
    let res = of(&[rev.clone(), scalar("cpus", 1.0)]);
    assert_eq!(res.len(), 2);
    assert_eq!(res.revocable(), of([&rev]));
    assert_eq!(res.non_revocable(), r("cpus:1"));
    assert!(!r("cpus:4").contains(&of(&[rev])));
}

#[test]
fn allocated_resources_group_by_role() {
    let mut a = r("cpus:1;mem:2");
    a.allocate("role1");
    let mut b = r("cpus:2");
    b.allocate("role2");
    let all = &a + &b;
    assert_eq!(all.len(), 3);
    assert!(!all.contains(&r("cpus:1")), "allocation is part of identity");
    let by_role = all.allocations();
    assert_eq!(by_role["role1"], a);
    assert_eq!(by_role["role2"], b);
    let mut plain = all.clone();
    plain.unallocate();
    assert_eq!(plain, r("cpus:3;mem:2"));
    assert_eq!(plain.len(), 2, "entries merge once the allocation is gone");
    assert_eq!(all.allocated_to_role_subtree("role1"), a);
}

#[test]
fn persistent_volumes_are_never_merged_and_come_out_whole() {
    let v1 = volume(10.0, "r", "id1", "p", false);
    let v2 = volume(10.0, "r", "id2", "p", false);
    let res = of(&[v1.clone(), v2.clone()]);
    assert_eq!(res.len(), 2);
    assert_eq!(res.persistent_volumes().len(), 2);
    // Two copies of the same non-shared volume are two entries, and a
    // collection holding one does not contain two.
    let twice = of(&[v1.clone(), v1.clone()]);
    assert_eq!(twice.len(), 2);
    assert!(!of([&v1]).contains(&twice));
    // A part of a volume is not contained and cannot be taken out.
    let half = volume(5.0, "r", "id1", "p", false);
    assert!(!res.contains(&of([&half])));
    assert_eq!((&res - &of(&[half])).len(), 2);
    assert_eq!(&res - &of(&[v1]), of(&[v2]));
}

#[test]
fn mount_disks_are_exclusive() {
    let m1 = mount_disk(100.0, "/mnt1");
    let res = of(&[m1.clone(), m1.clone()]);
    assert_eq!(res.len(), 2, "two MOUNT disks never merge");
    let part = mount_disk(50.0, "/mnt1");
    assert!(!res.contains(&of([&part])));
    assert_eq!((&res - &of(&[part])).len(), 2);
    assert_eq!((&res - &of(&[m1])).len(), 1);
}

#[test]
fn shared_volumes_count_copies() {
    let v = volume(100.0, "role1", "id1", "path1", true);
    let one = of([&v]);
    let two = &one + &one;
    assert_eq!(two.len(), 1);
    assert_eq!(two.iter().next().unwrap().shared_count(), 2);
    assert!(two.contains(&one) && !one.contains(&two));
    assert_eq!(&two - &one, one);
    assert!((&one - &one).is_empty());
    assert_eq!(two.count(one.iter().next().unwrap()), 2);
    assert_eq!(two.shared(), two);
    assert!(two.non_shared().is_empty());
    let mixed = &two + &r("cpus:1");
    assert_eq!(mixed.non_shared(), r("cpus:1"));
}

#[test]
fn contains_quantities_counts_ranges_and_sets() {
    let res = r("cpus:2;ports:[1-5];disks:{a,b}");
    let q = |s: &str| ResourceQuantities::from_string(s).unwrap();
    assert!(res.contains_quantities(&q("cpus:2;ports:5;disks:2")));
    assert!(!res.contains_quantities(&q("ports:6")));
    assert!(!res.contains_quantities(&q("mem:1")));
    assert!(res.contains_quantities(&q("")));
    assert_eq!(ResourceQuantities::from_resources(&res), q("cpus:2;ports:5;disks:2"));
}

#[test]
fn getters_and_names() {
    let res = r("cpus:1;mem(role1):1024;disk:2048;ports:[1-2];gpus:1");
    assert_eq!(res.mem(), Some(1024 * 1024 * 1024));
    assert_eq!(res.disk(), Some(2048 * 1024 * 1024));
    assert_eq!(res.gpus(), Some(1.0));
    assert_eq!(res.ports().unwrap().to_string(), "[1-2]");
    assert_eq!(res.get("mem"), r("mem(role1):1024"));
    assert_eq!(res.names().into_iter().collect::<Vec<_>>(), vec!["cpus", "disk", "gpus", "mem", "ports"]);
    assert_eq!(res.types()["ports"], ValueType::Ranges);
    assert_eq!(res.scalars().len(), 4);
    assert!(r("cpus:1").get_ranges("ports").is_none());
    assert_eq!(r("cpus(r):1;cpus:2;ports:[1-2]").create_stripped_scalar_quantity(), r("cpus:3"));
}

#[test]
fn push_and_pop_reservations() {
    let base = r("cpus:2;mem:10");
    let foo = base.push_reservation(&reservation(ResType::Dynamic, "foo", Some("p"))).unwrap();
    assert!(foo.iter().all(|i| i.is_reserved_to("foo")));
    let bar = foo.push_reservation(&reservation(ResType::Dynamic, "foo/bar", Some("p"))).unwrap();
    assert!(bar.iter().all(|i| i.has_refined_reservations()));
    assert_eq!(bar.pop_reservation(), foo);
    assert_eq!(bar.to_unreserved(), base);
    let e = foo.push_reservation(&reservation(ResType::Dynamic, "other", Some("p"))).unwrap_err();
    assert_eq!(e.0, "Invalid refined reservation: role 'other' is not a refinement of 'foo'");
    assert!(foo.push_reservation(&reservation(ResType::Static, "foo/x", None)).is_err());

    let item = |res: &Resources| res.iter().next().unwrap().clone();
    let base1 = r("cpus:2");
    let f1 = base1.push_reservation(&reservation(ResType::Dynamic, "foo", Some("p"))).unwrap();
    let fb = f1.push_reservation(&reservation(ResType::Dynamic, "foo/bar", Some("p"))).unwrap();
    let fz = f1.push_reservation(&reservation(ResType::Dynamic, "foo/baz", Some("p"))).unwrap();
    assert!(reservation_ancestor(&item(&fb), &item(&fz)).same_resource(&item(&f1)));
    assert!(reservation_ancestor(&item(&fb), &item(&base1)).same_resource(&item(&base1)));
    assert!(reservation_ancestor(&item(&fb), &item(&fb)).same_resource(&item(&fb)));
}

#[test]
fn find_prefers_own_role_then_unreserved_then_others() {
    let found = r("cpus(role1):2;mem(role1):10;cpus:4;mem:20").find(&r("cpus(role1):3;mem(role1):15"));
    assert_eq!(found.unwrap(), r("cpus(role1):2;mem(role1):10;cpus:1;mem:5"));
    let found =
        r("cpus(role1):1;mem(role1):5;cpus(role2):2;mem(role2):8;cpus:1;mem:7").find(&r("cpus(role1):3;mem(role1):15"));
    assert_eq!(found.unwrap(), r("cpus(role1):1;mem(role1):5;cpus:1;mem:7;cpus(role2):1;mem(role2):3"));
    let found = r("cpus(role1):5;mem(role1):5;cpus:5;mem:5").find(&r("cpus:6;mem:6"));
    assert_eq!(found.unwrap(), r("cpus:5;mem:5;cpus(role1):1;mem(role1):1"));
    assert!(r("cpus(role1):1;mem(role1):1").find(&r("cpus(role1):2;mem(role1):2")).is_none());
}

#[test]
fn shrink_to_quantities_and_limits() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    let q = |s: &str| ResourceQuantities::from_string(s).unwrap();
    let res = r("cpus:4;mem:100");
    assert_eq!(shrink_to_quantities(&res, &q("cpus:1;mem:200"), &mut rng), r("cpus:1;mem:100"));
    assert!(shrink_to_quantities(&res, &q(""), &mut rng).is_empty());
    assert_eq!(shrink_to_quantities(&res, &q("cpus:2"), &mut rng), r("cpus:2"));
    // An indivisible MOUNT disk that does not fit is dropped.
    let m = of(&[mount_disk(100.0, "/m")]);
    assert!(shrink_to_quantities(&m, &q("disk:50"), &mut rng).is_empty());
    let l = ResourceLimits::from_string("cpus:1").unwrap();
    assert_eq!(shrink_to_limits(&res, &l, &mut rng), r("cpus:1;mem:100"));
    assert_eq!(shrink_to_limits(&res, &ResourceLimits::new(), &mut rng), res);
    // Split across two entries of the same name, the total is respected.
    let two = r("cpus:2;cpus(x):2");
    let got = shrink_to_limits(&two, &ResourceLimits::from_string("cpus:3").unwrap(), &mut rng);
    assert_eq!(got.cpus(), Some(3.0));
}

// ----------------------------------------------------------------------------
// Operations

fn reserve(resources: Vec<Resource>) -> Operation {
    Operation { reserve: Some(op::Reserve { resources, source: vec![] }), ..operation(OpType::Reserve) }
}

fn unreserve(resources: Vec<Resource>) -> Operation {
    Operation { unreserve: Some(op::Unreserve { resources }), ..operation(OpType::Unreserve) }
}

fn create(volumes: Vec<Resource>) -> Operation {
    Operation { create: Some(op::Create { volumes }), ..operation(OpType::Create) }
}

fn destroy(volumes: Vec<Resource>) -> Operation {
    Operation { destroy: Some(op::Destroy { volumes }), ..operation(OpType::Destroy) }
}

#[test]
fn reserve_and_unreserve() {
    let total = r("cpus:1;mem:512;disk:1000");
    let reserved = dynamic(scalar("cpus", 1.0), "role", "principal");
    let after = total.apply_operation(&reserve(vec![reserved.clone()])).unwrap();
    assert_eq!(after, &r("mem:512;disk:1000") + &of([&reserved]));
    let back = after.apply_operation(&unreserve(vec![reserved.clone()])).unwrap();
    assert_eq!(back, total);
    let too_much = dynamic(scalar("cpus", 2.0), "role", "principal");
    let e = total.apply_operation(&reserve(vec![too_much])).unwrap_err();
    assert_eq!(e.0, "cpus:1; mem:512; disk:1000 does not contain cpus:2");
    // With an explicit source, a reservation can be moved to another role.
    let moved_to = dynamic(scalar("cpus", 1.0), "other", "p");
    let mut op = reserve(vec![moved_to.clone()]);
    op.reserve.as_mut().unwrap().source = vec![reserved.clone()];
    let moved = after.apply_operation(&op).unwrap();
    assert_eq!(moved, &r("mem:512;disk:1000") + &of(&[moved_to]));
    // Without a source, RESERVE refines: it pops one reservation to find
    // what it consumes.
    let refined = dynamic(dynamic(scalar("cpus", 1.0), "role", "principal"), "role/child", "p");
    let after2 = after.apply_operation(&reserve(vec![refined.clone()])).unwrap();
    assert_eq!(after2, &r("mem:512;disk:1000") + &of(&[refined]));
}

#[test]
fn create_and_destroy_volumes() {
    let total = r("cpus:1;mem:512;disk(role):1000");
    let v = volume(200.0, "role", "1", "path", true);
    let created = total.apply_operation(&create(vec![v.clone()])).unwrap();
    assert_eq!(created, &r("cpus:1;mem:512;disk(role):800") + &of([&v]));
    assert_eq!(created.apply_operation(&destroy(vec![v.clone()])).unwrap(), total);
    let big = volume(2000.0, "role", "1", "path", true);
    assert!(total.apply_operation(&create(vec![big])).is_err());

    // Two copies of a shared volume: DESTROY is refused.
    let mut two = r("cpus:1;mem:512;disk(role):800");
    two += &of([&v]);
    two += &of([&v]);
    let e = two.apply_operation(&destroy(vec![v])).unwrap_err();
    assert!(e.0.starts_with("Persistent volume disk(reservations: [(STATIC,role)])[1:path]<SHARED>:200"), "{e}");
    assert!(e.0.ends_with("cannot be removed due to additional shared copies"));
}

#[test]
fn create_from_mount_takes_the_whole_disk() {
    let mut m = mount_disk(100.0, "/mnt");
    m.reservations.push(reservation(ResType::Static, "role", None));
    let total = of([&m]);
    let mut v = m.clone();
    v.disk.as_mut().unwrap().persistence = Some(Persistence { id: "id".into(), principal: None });
    v.disk.as_mut().unwrap().volume = Some(Volume { container_path: "p".into(), mode: 1, ..Default::default() });
    assert_eq!(total.apply_operation(&create(vec![v.clone()])).unwrap(), of([&v]));
    let mut half = v.clone();
    half.scalar = Some(PbScalar { value: 50.0 });
    assert!(total.apply_operation(&create(vec![half])).is_err());
}

#[test]
fn launch_is_not_a_conversion() {
    let launch = Operation { launch: Some(op::Launch { task_infos: vec![] }), ..operation(OpType::Launch) };
    assert_eq!(r("cpus:1").apply_operation(&launch).unwrap_err().0, "Cannot get conversions: Operation not supported");
    assert_eq!(
        r("cpus:1").apply_operation(&Operation::default()).unwrap_err().0,
        "Cannot get conversions: Unknown operation"
    );
}

#[test]
fn checkpointed_resources_are_applied_to_agent_resources() {
    let total = r("cpus:2;mem:1024;disk(role):1000");
    let dyn_cpus = dynamic(scalar("cpus", 1.0), "role2", "p");
    let v = volume(100.0, "role", "id", "p", false);
    let result = apply_checkpointed_resources(&total, &of(&[dyn_cpus.clone(), v.clone()])).unwrap();
    assert_eq!(result, &r("cpus:1;mem:1024;disk(role):900") + &of(&[dyn_cpus, v]));
    let e = apply_checkpointed_resources(&total, &r("cpus:1")).unwrap_err();
    assert_eq!(e.0, "Unexpected checkpointed resources cpus:1");
    let too_big = dynamic(scalar("cpus", 5.0), "r", "p");
    assert!(apply_checkpointed_resources(&total, &of(&[too_big]))
        .unwrap_err()
        .0
        .starts_with("Incompatible agent resources"));
}

// ----------------------------------------------------------------------------
// Formats and validation

#[test]
#[allow(deprecated)]
fn upgrade_and_downgrade_between_formats() {
    // Pre format: static reservation.
    let mut pre = scalar("cpus", 1.0);
    pre.role = Some("role".into());
    let mut post = pre.clone();
    upgrade_resource(&mut post);
    assert!(post.role.is_none());
    assert_eq!(post.reservations, vec![reservation(ResType::Static, "role", None)]);
    let mut down = post.clone();
    downgrade_resource(&mut down).unwrap();
    assert_eq!(down, pre);

    // Pre format: dynamic reservation with principal.
    let mut pre = scalar("cpus", 1.0);
    pre.role = Some("role".into());
    pre.reservation = Some(ReservationInfo { principal: Some("p".into()), ..Default::default() });
    let mut post = pre.clone();
    upgrade_resource(&mut post);
    assert_eq!(post.reservations, vec![reservation(ResType::Dynamic, "role", Some("p"))]);
    assert!(post.reservation.is_none());
    let mut down = post.clone();
    downgrade_resource(&mut down).unwrap();
    assert_eq!(down, pre);

    // Unreserved: the role becomes "*".
    let mut plain = scalar("cpus", 1.0);
    downgrade_resource(&mut plain).unwrap();
    assert_eq!(plain.role.as_deref(), Some("*"));
    upgrade_resource(&mut plain);
    assert_eq!(plain, scalar("cpus", 1.0));

    // Refined reservations cannot be downgraded, but can be shown.
    let mut refined = dynamic(dynamic(scalar("cpus", 1.0), "a", "p"), "a/b", "p");
    assert_eq!(
        downgrade_resource(&mut refined.clone()).unwrap_err().0,
        "Cannot downgrade resources containing refined reservations"
    );
    convert_resource_format(&mut refined, ResourceFormat::Endpoint).unwrap();
    assert_eq!(refined.reservations.len(), 2);

    // The endpoint format keeps both.
    let mut endpoint = dynamic(scalar("cpus", 1.0), "role", "p");
    convert_resource_format(&mut endpoint, ResourceFormat::Endpoint).unwrap();
    assert_eq!(endpoint.role.as_deref(), Some("role"));
    assert!(validate(&endpoint).is_ok());
    upgrade_resource(&mut endpoint);
    assert_eq!(endpoint, dynamic(scalar("cpus", 1.0), "role", "p"));
}

#[test]
#[allow(deprecated)]
fn resources_accept_the_pre_format() {
    let mut pre = scalar("cpus", 1.0);
    pre.role = Some("role1".into());
    assert_eq!(of(&[pre]), r("cpus(role1):1"));
}

#[test]
#[allow(deprecated)]
fn messages_are_upgraded_deeply() {
    let mut pre = scalar("cpus", 1.0);
    pre.role = Some("role1".into());
    let mut task = TaskInfo { resources: vec![pre.clone()], ..Default::default() };
    task.executor = Some(crate::proto::mesos::ExecutorInfo { resources: vec![pre], ..Default::default() });
    upgrade_message(&mut task);
    assert!(task.resources[0].role.is_none());
    assert_eq!(task.resources[0].reservations.len(), 1);
    assert_eq!(task.executor.as_ref().unwrap().resources[0].reservations.len(), 1);
    super::format::downgrade_message(&mut task).unwrap();
    assert_eq!(task.resources[0].role.as_deref(), Some("role1"));
}

#[test]
#[allow(deprecated)]
fn validation_messages() {
    let check = |r: &Resource| validate(r).map_err(|e| e.0);
    let mut x = scalar("cpus", 1.0);
    x.ranges = Some(PbRanges::default());
    assert_eq!(check(&x).unwrap_err(), "Invalid scalar resource");
    assert_eq!(check(&scalar("cpus", -1.0)).unwrap_err(), "Invalid scalar resource: value <= 0");
    assert_eq!(
        check(&ranges("ports", &[(1, 10), (5, 20)])).unwrap_err(),
        "Invalid ranges resource: overlapping ranges"
    );
    let mut text = scalar("x", 1.0);
    text.r#type = ValueType::Text as i32;
    assert_eq!(check(&text).unwrap_err(), "Unsupported resource type");
    let mut d = scalar("cpus", 1.0);
    d.disk = Some(DiskInfo::default());
    assert_eq!(check(&d).unwrap_err(), "DiskInfo should not be set for cpus resource");
    let mut star = scalar("cpus", 1.0);
    star.role = Some("*".into());
    star.reservation = Some(ReservationInfo::default());
    assert_eq!(check(&star).unwrap_err(), "Invalid reservation: role \"*\" cannot be dynamically reserved");
    let mut reserved_star = scalar("cpus", 1.0);
    reserved_star.reservations.push(reservation(ResType::Static, "*", None));
    assert_eq!(check(&reserved_star).unwrap_err(), "Invalid reservation: role \"*\" cannot be reserved");
    let mut untyped = scalar("cpus", 1.0);
    untyped.reservations.push(ReservationInfo { role: Some("r".into()), ..Default::default() });
    assert_eq!(check(&untyped).unwrap_err(), "Invalid reservation: 'Resource.ReservationInfo.type' field must be set.");
    let mut mismatch = dynamic(scalar("cpus", 1.0), "r", "p");
    mismatch.role = Some("other".into());
    mismatch.reservation = Some(ReservationInfo { principal: Some("p".into()), ..Default::default() });
    assert_eq!(
        check(&mismatch).unwrap_err(),
        "Invalid resource format: 'Resource.role' field with 'other' does not match the role 'r' in 'Resource.reservations'"
    );
    let mut shared_cpus = scalar("cpus", 1.0);
    shared_cpus.shared = Some(SharedInfo {});
    assert_eq!(check(&shared_cpus).unwrap_err(), "Resource cpus cannot be shared");
    let mut shared_disk = scalar("disk", 1.0);
    shared_disk.shared = Some(SharedInfo {});
    assert_eq!(check(&shared_disk).unwrap_err(), "Only persistent volumes can be shared");
    assert_eq!(
        validate_all(&[scalar("cpus", 1.0), scalar("mem", -2.0)]).unwrap_err().0,
        "Resource 'mem:-2' is invalid: Invalid scalar resource: value <= 0"
    );
}

#[test]
fn master_resource_checks() {
    let mut unreserved_volume = volume(1.0, "r", "id", "p", false);
    unreserved_volume.reservations.clear();
    assert_eq!(
        validate_for_master(&[unreserved_volume]).unwrap_err().0,
        "Invalid DiskInfo: Persistent volumes cannot be created from unreserved resources"
    );
    assert_eq!(
        validate_for_master(&[scalar("gpus", 1.5)]).unwrap_err().0,
        "Invalid 'gpus' resource: The 'gpus' resource must be an unsigned integer"
    );
    let mut rev = dynamic(scalar("cpus", 1.0), "r", "p");
    rev.revocable = Some(RevocableInfo {});
    assert!(validate_for_master(&[rev])
        .unwrap_err()
        .0
        .starts_with("Invalid ReservationInfo: Dynamically reserved resource"));
    let bad_id = volume(1.0, "r", "a/b", "p", false);
    assert_eq!(
        validate_for_master(&[bad_id]).unwrap_err().0,
        "Invalid DiskInfo: Invalid persistence ID for persistent volume: 'a/b' contains invalid characters"
    );
    let dup = of(&[volume(1.0, "r", "id", "p", false), volume(2.0, "r", "id", "q", false)]);
    assert_eq!(validate_unique_persistence_id(&dup).unwrap_err().0, "Persistence ID 'id' is not unique");
    let mut mixed = r("cpus:1");
    mixed.allocate("a");
    let mut other = r("mem:1");
    other.allocate("b");
    mixed += &other;
    assert!(validate_allocated_to_single_role(&mixed).unwrap_err().0.contains("multiple allocation roles"));
    assert!(validate_allocated_to_single_role(&r("cpus:1")).is_err());
}

// ----------------------------------------------------------------------------
// Properties

fn arb_item() -> impl Strategy<Value = Resource> {
    let role = prop_oneof![Just(None), Just(Some("r1")), Just(Some("r2/x"))];
    let value = prop_oneof![
        (prop_oneof![Just("cpus"), Just("mem")], 0u32..5000u32).prop_map(|(n, v)| scalar(n, f64::from(v) / 1000.0)),
        proptest::collection::vec((0u64..200, 0u64..20), 1..4).prop_map(|v| {
            let intervals: Vec<(u64, u64)> = v.into_iter().map(|(b, l)| (b, b + l)).collect();
            let normal = crate::common::values::Ranges::from_intervals(
                intervals.iter().map(|&(b, e)| crate::common::values::Range::new(b, e)),
            );
            Resource {
                name: "ports".into(),
                r#type: ValueType::Ranges as i32,
                ranges: Some(normal.to_proto()),
                ..Default::default()
            }
        }),
        proptest::collection::btree_set(prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")], 1..4)
            .prop_map(|s| set("disks", &s.into_iter().collect::<Vec<_>>())),
    ];
    (value, role).prop_map(|(mut res, role)| {
        if let Some(role) = role {
            res.reservations.push(reservation(ResType::Static, role, None));
        }
        res
    })
}

fn arb_resources() -> impl Strategy<Value = Resources> {
    proptest::collection::vec(arb_item(), 0..6).prop_map(|v| of(&v))
}

proptest! {
    #[test]
    fn adding_then_subtracting_gives_back_the_original(a in arb_resources(), b in arb_resources()) {
        let sum = &a + &b;
        prop_assert!(sum.contains(&a));
        prop_assert!(sum.contains(&b));
        // Sets and ranges are idempotent under `+` (overlaps are counted
        // once), so only scalars are guaranteed to come back exactly.
        let back = &sum - &b;
        prop_assert_eq!(back.scalars(), a.scalars());
        if a.iter().all(Item::is_scalar) && b.iter().all(Item::is_scalar) {
            prop_assert_eq!(back, a.clone());
        }
    }

    #[test]
    fn addition_commutes(a in arb_resources(), b in arb_resources()) {
        prop_assert_eq!(&a + &b, &b + &a);
    }

    #[test]
    fn addition_associates(a in arb_resources(), b in arb_resources(), c in arb_resources()) {
        prop_assert_eq!(&(&a + &b) + &c, &a + &(&b + &c));
    }

    #[test]
    fn contains_is_reflexive_and_empty_is_contained(a in arb_resources()) {
        prop_assert!(a.contains(&a));
        prop_assert!(a.contains(&Resources::new()));
        prop_assert!((&a - &a).is_empty());
    }

    #[test]
    fn subtraction_never_adds(a in arb_resources(), b in arb_resources()) {
        prop_assert!(a.contains(&(&a - &b)));
    }

    #[test]
    fn disjoint_difference_and_intersection_rebuild(a in arb_resources(), b in arb_resources()) {
        // (a - b) + (a - (a - b)) == a: what is taken out plus what is left.
        let left = &a - &b;
        let taken = &a - &left;
        prop_assert_eq!(&left + &taken, a.clone());
    }

    #[test]
    fn ranges_stay_coalesced(a in arb_resources(), b in arb_resources()) {
        let sum = &a + &b;
        for item in sum.iter() {
            if let Value::Ranges(r) = item.value() {
                for w in r.intervals().windows(2) {
                    prop_assert!(w[0].end + 1 < w[1].begin, "{} not coalesced", r);
                }
            }
        }
    }

    #[test]
    fn proto_round_trip(a in arb_resources()) {
        prop_assert_eq!(of(&a.to_protos()), a.clone());
    }

    #[test]
    fn text_round_trip(a in arb_resources()) {
        // What Mesos prints for unallocated, statically reserved resources
        // is not its input syntax, but each entry's value is.
        for item in a.iter() {
            let value = match item.value() {
                Value::Scalar(s) => s.to_string(),
                Value::Ranges(r) => r.to_string(),
                Value::Set(s) => s.to_string(),
            };
            let role = item.reservation_role().unwrap_or("*");
            let text = format!("{}({}):{}", item.name(), role, value);
            prop_assert!(r(&text).iter().next().unwrap().same_resource(item), "{}", text);
        }
    }
}
