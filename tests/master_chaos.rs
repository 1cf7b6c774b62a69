//! Lying and confused peers: the messages of a real workload, replayed
//! against a fresh master in a perturbed order, duplicated, dropped and
//! from the wrong senders (an agent's message from a scheduler's pid, a
//! scheduler's call from another scheduler, ...), with timers firing and
//! peers exiting at random. Mesos's answer to such input is to drop or
//! refuse it; the master must never panic, and its books must balance
//! after every event.
//!
//! This mirrors no single Mesos test: it generalises the spoofing checks
//! of master_tests.cpp (`MasterTest.LaunchTaskFromOtherFramework`-style
//! "not from registered framework" drops, `SlaveTest`'s messages from
//! unknown agents) to every message the master handles.

use std::time::Duration;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use mesos_rs::common::resources::Resources;
use mesos_rs::master::registry::Registrar;
use mesos_rs::master::sim::{command_task, framework_info, AgentSpec, Dialect, Envelope, Faults, SimCluster};
use mesos_rs::master::{Config, Effect, Event, Master, Now, Timer};
use mesos_rs::v0_compat::Upid;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Everything the master received during a busy, faulty workload: two
/// frameworks (v1 calls and legacy messages, one partition-aware) launching
/// and killing tasks on three agents, reconciling, failing over, an agent
/// crashing and coming back.
fn corpus(seed: u64) -> Vec<Envelope> {
    let config = Config { offer_timeout: Some(secs(5)), ..Default::default() };
    let mut sim = SimCluster::with_config(seed, config);
    sim.master_inbox = Some(Vec::new());
    sim.faults =
        Faults { drop: 0.02, duplicate: 0.1, latency: Duration::from_millis(5), jitter: Duration::from_millis(30) };
    let spec = AgentSpec { task_duration: Some(secs(3)), ..Default::default() };
    for _ in 0..3 {
        sim.add_agent(spec.clone());
    }
    let f1 = sim.add_framework(framework_info("calls", true), Dialect::Calls);
    let f2 = sim.add_framework(framework_info("legacy", false), Dialect::Legacy);
    let mut launched = Vec::new();
    for round in 0..12 {
        sim.run_for(secs(1));
        for f in [f1, f2] {
            let offers = std::mem::take(&mut sim.framework_mut(f).offers);
            for (i, offer) in offers.iter().enumerate() {
                if i % 3 == 2 {
                    let decline = sim.framework(f).decline(std::slice::from_ref(&offer.id), Some(1.0));
                    sim.send(f, decline);
                    continue;
                }
                let task = format!("t{round}-{f}-{i}");
                let launch = sim.framework(f).launch(
                    std::slice::from_ref(&offer.id),
                    vec![command_task(&task, offer, "cpus:0.5;mem:32")],
                    Some(0.0),
                );
                sim.send(f, launch);
                launched.push((f, task));
            }
        }
        if round == 3 {
            for (f, task) in launched.iter().step_by(3) {
                let kill = sim.framework(*f).kill(task);
                sim.send(*f, kill);
            }
            let reconcile = sim.framework(f1).reconcile(&[]);
            sim.send(f1, reconcile);
        }
        if round == 5 {
            sim.crash_agent(1);
            sim.failover_framework(f2);
        }
    }
    sim.restart_agent(1);
    sim.run_for(secs(30));
    sim.master_inbox.take().unwrap_or_default()
}

/// The master's books must agree with themselves and with the allocator.
fn check_books(master: &Master, step: usize) {
    for entry in master.offers() {
        let offer = &entry.offer;
        let fw =
            master.framework(&offer.framework_id).unwrap_or_else(|| panic!("step {step}: offer of unknown framework"));
        assert!(fw.offers.contains(&offer.id), "step {step}: framework does not index offer {}", offer.id.value);
        let agent = master.agent(&offer.slave_id).unwrap_or_else(|| panic!("step {step}: offer on unknown agent"));
        assert!(agent.offers.contains(&offer.id), "step {step}: agent does not index offer {}", offer.id.value);
    }
    for fw in master.frameworks() {
        for id in &fw.offers {
            assert!(master.offer(id).is_some(), "step {step}: dangling offer {}", id.value);
        }
        for (task, agent) in &fw.tasks {
            let held = master.agent(agent).is_some_and(|a| a.task(&fw.id(), task).is_some());
            assert!(held, "step {step}: task {} of {} not on its agent", task.value, fw.id().value);
        }
    }
    for agent in master.agents() {
        // Everything on an agent is free in the allocator, offered or used.
        let mut sum: Resources = master.allocator().available(&agent.id).cloned().unwrap_or_default();
        sum += &agent.offered;
        sum += &agent.total_used();
        sum.unallocate();
        assert_eq!(sum, agent.total, "step {step}: agent {} does not balance", agent.id.value);
    }
}

/// Feeds `inbox`, perturbed with `seed`, to a fresh master. Returns the
/// most tasks and offers the master held at once (so a replay that
/// exercised nothing shows).
fn replay(inbox: &[Envelope], seed: u64) -> (usize, usize) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let config = Config { offer_timeout: Some(secs(5)), ..Default::default() };
    let mut now = Now { monotonic: Duration::ZERO, unix: Duration::from_secs(1_700_000_000) };
    let mut master = Master::new(config, now);
    let mut registrar = Registrar::default();
    let mut timers: Vec<(Duration, Timer)> = Vec::new();
    let mut events: std::collections::VecDeque<Event> = std::collections::VecDeque::new();
    let info = master.info().clone();
    events.push_back(Event::Detected(Some(info)));

    let senders: Vec<Upid> = {
        let mut v: Vec<Upid> = inbox.iter().map(|e| e.from.clone()).collect();
        v.sort_by_key(|p| p.to_string());
        v.dedup();
        v
    };
    // Perturb: swap neighbours, duplicate, drop, spoof the sender.
    let mut messages: Vec<Envelope> = Vec::new();
    for envelope in inbox {
        let roll: f64 = rng.random();
        if roll < 0.05 {
            continue;
        }
        let mut envelope = envelope.clone();
        if rng.random::<f64>() < 0.15 {
            envelope.from = senders[rng.random_range(0..senders.len())].clone();
        }
        if roll > 0.9 {
            messages.push(envelope.clone());
        }
        messages.push(envelope);
        let n = messages.len();
        if n >= 2 && rng.random::<f64>() < 0.2 {
            messages.swap(n - 1, n - 2);
        }
    }

    let mut step = 0;
    let mut most = (0, 0);
    let mut next = messages.into_iter();
    loop {
        let event = match events.pop_front() {
            Some(event) => event,
            None => {
                let r: f64 = rng.random();
                if r < 0.1 && !timers.is_empty() {
                    // A timer fires (time jumps to it).
                    let (at, timer) = timers.swap_remove(rng.random_range(0..timers.len()));
                    if at > now.monotonic {
                        now.unix += at - now.monotonic;
                        now.monotonic = at;
                    }
                    Event::Timer(timer)
                } else if r < 0.13 {
                    Event::Exited(senders[rng.random_range(0..senders.len())].clone())
                } else {
                    match next.next() {
                        Some(envelope) => {
                            now.monotonic += Duration::from_millis(7);
                            now.unix += Duration::from_millis(7);
                            Event::Message { from: envelope.from, message: envelope.message }
                        }
                        None => break,
                    }
                }
            }
        };
        let mut effects = master.handle(now, event);
        if events.is_empty() {
            effects.extend(master.handle(now, Event::Idle));
        }
        for effect in effects {
            match effect {
                Effect::Timer { at, timer } => timers.push((at, timer)),
                Effect::RecoverRegistry { info } => {
                    registrar.apply(&mesos_rs::master::RegistryOp::Recover(info)).unwrap();
                    events.push_back(Event::RegistryRecovered(Ok(Box::new(registrar.registry().clone()))));
                }
                Effect::Registry { id, op } => {
                    let result = Ok(registrar.apply(&op).is_ok());
                    events.push_back(Event::RegistryApplied { id, result });
                }
                Effect::HttpRespond { .. } | Effect::CloseStream { .. } => {}
                Effect::Fatal(message) => panic!("seed {seed} step {step}: master aborted: {message}"),
                Effect::Send { .. } | Effect::Scheduler { .. } | Effect::Link(_) | Effect::Operator(_) => {}
            }
        }
        check_books(&master, step);
        let tasks = master.frameworks().map(|f| f.tasks.len()).sum::<usize>();
        most = (most.0.max(tasks), most.1.max(master.offers().count()));
        step += 1;
    }
    // The same books are still readable by every endpoint.
    let _ = master.metrics_snapshot(now);
    most
}

#[test]
fn perturbed_and_spoofed_messages_never_break_the_books() {
    for corpus_seed in [3, 4] {
        let inbox = corpus(corpus_seed);
        assert!(inbox.len() > 60, "the workload produced {} messages", inbox.len());
        let mut most = (0, 0);
        for seed in 0..15 {
            let (tasks, offers) = replay(&inbox, corpus_seed * 100 + seed);
            most = (most.0.max(tasks), most.1.max(offers));
        }
        assert!(most.0 > 0 && most.1 > 0, "the replays never held a task or an offer: {most:?}");
    }
}
