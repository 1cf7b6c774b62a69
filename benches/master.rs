//! The master state machine under load, without I/O: registering 10,000
//! agents (with their registry operations completed at once), and one
//! allocation + offer round for 1,000 frameworks over 10,000 agents.
//!
//! `cargo bench --bench master` prints criterion's figures, plus the number
//! of offers and effects each round produced.

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mesos_rs::common::resources::parse::from_string;
use mesos_rs::master::{Config, Effect, Event, Master, Now, Timer};
use mesos_rs::proto::mesos::internal::RegisterSlaveMessage;
use mesos_rs::proto::mesos::scheduler::{call, Call};
use mesos_rs::proto::mesos::{FrameworkInfo, SlaveInfo};
use mesos_rs::v0_compat::{Message, Upid};

const AGENTS: usize = 10_000;
const FRAMEWORKS: usize = 1_000;

fn at(secs: f64) -> Now {
    let d = Duration::from_secs_f64(secs);
    Now { monotonic: d, unix: Duration::from_secs(1_700_000_000) + d }
}

/// Runs one event and completes the registry operations it asks for, like
/// an instantaneous store.
fn feed(master: &mut Master, now: Now, event: Event) -> usize {
    let mut pending = vec![event];
    let mut effects = 0;
    while let Some(event) = pending.pop() {
        for effect in master.handle(now, event) {
            effects += 1;
            match effect {
                Effect::Registry { id, .. } => pending.push(Event::RegistryApplied { id, result: Ok(true) }),
                Effect::RecoverRegistry { .. } => pending.push(Event::RegistryRecovered(Ok(Box::default()))),
                _ => {}
            }
        }
    }
    effects
}

fn recovered_master() -> Master {
    let mut master = Master::new(Config::default(), at(0.0));
    let info = master.info().clone();
    feed(&mut master, at(0.0), Event::Detected(Some(info)));
    master
}

fn agent_pid(i: usize) -> Upid {
    let addr = SocketAddr::from(([10, (i / 65536) as u8, ((i / 256) % 256) as u8, (i % 256) as u8], 5051));
    Upid::new("slave(1)", addr)
}

fn register_agents(master: &mut Master, count: usize) {
    let resources = from_string("cpus:16;mem:65536;disk:1000000;ports:[31000-32000]", "*").unwrap();
    for i in 0..count {
        let message = RegisterSlaveMessage {
            slave: SlaveInfo { hostname: format!("agent{i}"), resources: resources.clone(), ..Default::default() },
            version: Some("1.11.0".into()),
            ..Default::default()
        };
        feed(master, at(1.0), Event::Message { from: agent_pid(i), message: Message::from(message) });
    }
}

fn register_frameworks(master: &mut Master, count: usize) {
    for i in 0..count {
        #[allow(deprecated)]
        let info = FrameworkInfo {
            user: "u".into(),
            name: format!("fw{i}"),
            role: Some(format!("role{}", i % 5)),
            ..Default::default()
        };
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe { framework_info: info, ..Default::default() }),
            ..Default::default()
        };
        let pid =
            Upid::new(format!("scheduler-{i}"), SocketAddr::from(([10, 200, (i / 256) as u8, (i % 256) as u8], 40000)));
        feed(master, at(0.5), Event::Message { from: pid, message: Message::from(call) });
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("master");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    group.bench_function("register 10,000 agents", |b| {
        b.iter_batched(
            recovered_master,
            |mut master| {
                register_agents(&mut master, AGENTS);
                assert_eq!(master.agents().count(), AGENTS);
                master
            },
            BatchSize::PerIteration,
        )
    });

    let setup = || {
        let mut master = recovered_master();
        register_frameworks(&mut master, FRAMEWORKS);
        // No Idle yet: every agent is an allocation candidate, nothing is offered.
        register_agents(&mut master, AGENTS);
        master
    };
    let mut printed = false;
    group.bench_function("allocation + offers, 1,000 frameworks x 10,000 agents", |b| {
        b.iter_batched(
            || {
                let master = setup();
                let offers = master.offers().count();
                (master, offers)
            },
            |(mut master, before)| {
                let effects = feed(&mut master, at(2.0), Event::Timer(Timer::Allocation));
                if !printed {
                    printed = true;
                    println!(
                        "\n  outstanding offers before the round: {before}, after: {}; effects of the round: {effects}",
                        master.offers().count()
                    );
                }
                master
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // A plain wall-clock figure for the whole setup, once.
    let started = std::time::Instant::now();
    let mut master = recovered_master();
    register_frameworks(&mut master, FRAMEWORKS);
    let frameworks = started.elapsed();
    register_agents(&mut master, AGENTS);
    let agents = started.elapsed() - frameworks;
    let mut allocator = master.allocator().clone();
    let started = std::time::Instant::now();
    let plan = allocator.allocate_all(Duration::from_secs(2));
    println!(
        "\n  the allocator alone (allocate_all over the same state): {:?} for {} planned offers",
        started.elapsed(),
        plan.len()
    );
    let started = std::time::Instant::now();
    let effects = feed(&mut master, at(2.0), Event::Idle);
    println!(
        "\n  subscribe {FRAMEWORKS} frameworks: {frameworks:?}; register {AGENTS} agents (each allocated at once): \
         {agents:?}; a batched allocation after them: {:?} ({effects} effects, {} offers outstanding)",
        started.elapsed(),
        master.offers().count()
    );

    // What the web UI and CLIs poll, over the same cluster (run on the
    // master's loop, so it is time the master does not process messages).
    let context = mesos_rs::http_api::master::model::Context::default();
    let started = std::time::Instant::now();
    let state = mesos_rs::http_api::master::model::state(&master, &context);
    let built = started.elapsed();
    let bytes = state.to_string().len();
    let started = std::time::Instant::now();
    let summary = mesos_rs::http_api::master::model::state_summary(&master);
    println!(
        "\n  /master/state: built in {built:?} ({bytes} bytes of JSON); /master/state-summary: {:?} ({} agents)",
        started.elapsed(),
        summary["slaves"].as_array().map_or(0, Vec::len)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
