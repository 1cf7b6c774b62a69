//! Allocator benchmarks: one allocation cycle over 10,000 agents and 1,000
//! frameworks in 5 roles (cpus, mem, disk, ports; a fifth of the agents
//! carry static reservations for one role), from an idle cluster and in a
//! steady state where most resources are already in use.
//!
//! Run with `cargo bench --bench allocator`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mesos_rs::common::resources::Resources;
use mesos_rs::master::allocator::{Allocator, FrameworkOptions, Options};
use mesos_rs::proto::mesos::framework_info::capability::Type as FwCap;
use mesos_rs::proto::mesos::framework_info::Capability as FwCapability;
use mesos_rs::proto::mesos::slave_info::capability::Type as AgentCap;
use mesos_rs::proto::mesos::slave_info::Capability as AgentCapability;
use mesos_rs::proto::mesos::{Filters, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo};

const AGENTS: usize = 10_000;
const FRAMEWORKS: usize = 1_000;
const ROLES: usize = 5;

fn agent_resources(i: usize) -> Resources {
    let ports = if i % 3 == 0 { "[31000-31500, 32000-32500]" } else { "[31000-32000]" };
    let text = if i % 5 == 0 {
        let role = format!("role{}", i % ROLES);
        format!("cpus({role}):4;mem({role}):16384;disk({role}):102400;cpus:12;mem:49152;disk:921600;ports:{ports}")
    } else {
        format!("cpus:16;mem:65536;disk:1024000;ports:{ports}")
    };
    Resources::parse(&text, "*").expect("valid resources")
}

fn cluster() -> Allocator {
    let mut a = Allocator::new(Options { seed: 42, ..Options::default() });
    let caps: Vec<AgentCapability> = [AgentCap::MultiRole, AgentCap::HierarchicalRole, AgentCap::ReservationRefinement]
        .into_iter()
        .map(|c| AgentCapability { r#type: Some(c as i32) })
        .collect();
    for i in 0..FRAMEWORKS {
        let info = FrameworkInfo {
            id: Some(FrameworkId { value: format!("fw-{i:04}") }),
            name: format!("framework {i}"),
            roles: vec![format!("role{}", i % ROLES)],
            capabilities: vec![FwCapability { r#type: Some(FwCap::MultiRole as i32) }],
            ..Default::default()
        };
        a.add_framework(info, &HashMap::new(), true, FrameworkOptions::default()).unwrap();
    }
    for i in 0..AGENTS {
        let info = SlaveInfo {
            id: Some(SlaveId { value: format!("agent-{i:05}") }),
            hostname: format!("host{i}.example"),
            ..Default::default()
        };
        a.add_agent(info, &caps, agent_resources(i), &HashMap::new()).unwrap();
    }
    a
}

/// After a first cycle, tasks use 90% of what was offered; half of the
/// rest is declined with the default 5 s filter, half without a filter.
fn steady_state(now: Duration) -> Allocator {
    let mut a = cluster();
    let plan = a.allocate_all(now);
    for (i, offer) in plan.offers.iter().enumerate() {
        match i % 20 {
            0 => a.recover_resources(
                now,
                &offer.framework_id,
                &offer.agent_id,
                &offer.resources,
                Some(&Filters::default()),
                false,
            ),
            1 => a.recover_resources(now, &offer.framework_id, &offer.agent_id, &offer.resources, None, false),
            _ => a.transition_offered_to_allocated(&offer.agent_id, &offer.resources).unwrap(),
        }
    }
    a
}

/// The fastest of `runs` cycles: on a shared machine the minimum is the
/// figure least disturbed by other load.
fn min_of(base: &Allocator, now: Duration, runs: usize) -> Duration {
    (0..runs)
        .map(|_| {
            let mut a = base.clone();
            let start = std::time::Instant::now();
            let plan = a.allocate_all(now);
            let took = start.elapsed();
            drop(black_box(plan));
            took
        })
        .min()
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let now = Duration::from_secs(100);
    if std::env::var_os("ALLOCATOR_BENCH_ONCE").is_some() {
        // One cycle of each kind, for instruction counting under callgrind
        // (`--toggle-collect=*allocate_all*`), which load does not disturb.
        let idle = black_box(cluster().allocate_all(now));
        let steady = black_box(steady_state(now).allocate_all(now + Duration::from_secs(1)));
        eprintln!("offers: idle {}, steady {}", idle.len(), steady.len());
        return;
    }
    bench_cycle(c, "idle cluster", &cluster(), now);
    bench_cycle(c, "steady state", &steady_state(now), now + Duration::from_secs(1));
}

/// Benchmarks one full cycle at `now` from the state `base`.
fn bench_cycle(c: &mut Criterion, label: &str, base: &Allocator, now: Duration) {
    let plan = base.clone().allocate_all(now);
    eprintln!("{label}: {} offers per cycle; fastest of 20 cycles: {:?}", plan.len(), min_of(base, now, 20));
    c.bench_function(&format!("allocate_all 10k agents x 1k frameworks ({label})"), |b| {
        b.iter_batched(
            || base.clone(),
            |mut a| {
                // Returned, so that dropping happens outside the timing.
                let plan = a.allocate_all(black_box(now));
                (a, plan)
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(20));
    targets = bench
}
criterion_main!(benches);
