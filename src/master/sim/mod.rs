//! Deterministic whole-cluster simulation: one [`Master`], scripted agents
//! ([`FakeAgent`]) and schedulers ([`FakeScheduler`]) exchanging v0
//! messages through a simulated network, on a virtual clock, with seeded
//! faults (drop, duplicate, delay/reorder, isolate), crashes and restarts.
//!
//! Like Mesos's own tests (`Clock::pause/advance`, `DROP_PROTOBUF`), but
//! with no process, socket or real time: a scenario runs in microseconds
//! and gives the same result for the same seed.
//!
//! ```
//! use mesos_rs::master::sim::{framework_info, AgentSpec, Dialect, SimCluster};
//! use std::time::Duration;
//! let mut sim = SimCluster::new(7);
//! let a = sim.add_agent(AgentSpec::default());
//! let f = sim.add_framework(framework_info("fw", false), Dialect::Calls);
//! sim.run_for(Duration::from_secs(2));
//! assert!(sim.agent(a).registered);
//! assert_eq!(sim.framework(f).offers.len(), 1);
//! ```

pub mod agent;
pub mod scheduler;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

pub use agent::{AgentSpec, AgentTimer, FakeAgent};
pub use scheduler::{command_task, framework_info, Dialect, FakeScheduler};

use super::registry::Registrar;
use super::{Config, Effect, Event, Master, Now, SchedulerConn, Timer};
use crate::proto::mesos::FrameworkInfo;
use crate::v0_compat::{Message, Upid};

/// Network faults, applied to every message with the simulation's RNG.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Probability a message is lost.
    pub drop: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Base one-way latency.
    pub latency: Duration,
    /// Extra random delay in `[0, jitter)`: messages on different links
    /// overtake each other (one link stays in order, as a connection does).
    pub jitter: Duration,
}

/// A message in flight or delivered.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: Upid,
    pub to: Upid,
    pub message: Message,
}

enum Input {
    Deliver(Envelope),
    MasterTimer {
        generation: u64,
        timer: Timer,
    },
    AgentTimer(usize, AgentTimer),
    /// A scheduler retries its subscription until acknowledged.
    SchedulerRetry(usize),
    Registry {
        generation: u64,
        id: u64,
        result: Result<bool, String>,
    },
    Recovered {
        generation: u64,
        registry: Box<crate::proto::mesos::internal::Registry>,
    },
    Exited {
        generation: u64,
        pid: Upid,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Agent(usize),
    Scheduler(usize),
}

type DropRule = Box<dyn FnMut(&Envelope) -> bool>;

/// The simulated cluster.
pub struct SimCluster {
    now: Now,
    config: Config,
    master: Master,
    master_pid: Upid,
    master_up: bool,
    generation: u64,
    registrar: Registrar,
    /// How long a registry operation takes to become durable.
    pub registry_latency: Duration,
    /// Make registry writes fail (the master must abort).
    pub registry_broken: bool,
    queue: BTreeMap<(Duration, u64), Input>,
    seq: u64,
    rng: Xoshiro256PlusPlus,
    pub faults: Faults,
    isolated: BTreeSet<String>,
    /// Last scheduled delivery per link: one link delivers in order, as
    /// one libprocess connection does; different links interleave freely.
    link_clock: BTreeMap<(String, String), Duration>,
    links: BTreeSet<String>,
    agents: Vec<FakeAgent>,
    schedulers: Vec<FakeScheduler>,
    actors: BTreeMap<String, Actor>,
    drop_rules: Vec<(DropRule, usize)>,
    /// What the master wrote to v1 subscription streams, in order.
    pub http_events: Vec<(u64, Message)>,
    /// The master's answers to v1 calls, by request number.
    pub http_answers: BTreeMap<u64, super::HttpAnswer>,
    /// Streams the master closed.
    pub closed_streams: Vec<u64>,
    next_http_request: u64,
    /// What the master asked to abort with (Mesos's EXIT/LOG(FATAL)).
    pub fatal: Vec<String>,
    /// Every delivered message: (time, from, to, name).
    pub trace: Vec<(Duration, String, String, &'static str)>,
    /// When set, every message delivered to the master is kept here too
    /// (a corpus to replay, e.g. perturbed, against another master).
    pub master_inbox: Option<Vec<Envelope>>,
    /// The master's operator API output, in order.
    pub operator_out: Vec<crate::master::operator::OperatorEffect>,
    next_operator_call: u64,
}

const EPOCH: Duration = Duration::from_secs(1_700_000_000);

impl SimCluster {
    /// A cluster with Mesos's default master configuration.
    pub fn new(seed: u64) -> SimCluster {
        SimCluster::with_config(seed, Config::default())
    }

    /// A cluster whose master runs with `config` (its allocator seed is
    /// taken from `seed`). The master is elected and recovered at once.
    pub fn with_config(seed: u64, mut config: Config) -> SimCluster {
        config.allocator.seed = seed;
        let now = Now { monotonic: Duration::ZERO, unix: EPOCH };
        let master_pid = config.pid.clone();
        let mut sim = SimCluster {
            now,
            master: Master::new(config.clone(), now),
            config,
            master_pid,
            master_up: true,
            generation: 0,
            registrar: Registrar::default(),
            registry_latency: Duration::from_millis(1),
            registry_broken: false,
            queue: BTreeMap::new(),
            seq: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            faults: Faults::default(),
            isolated: BTreeSet::new(),
            link_clock: BTreeMap::new(),
            links: BTreeSet::new(),
            agents: Vec::new(),
            schedulers: Vec::new(),
            actors: BTreeMap::new(),
            drop_rules: Vec::new(),
            http_events: Vec::new(),
            http_answers: BTreeMap::new(),
            closed_streams: Vec::new(),
            next_http_request: 0,
            fatal: Vec::new(),
            trace: Vec::new(),
            master_inbox: None,
            operator_out: Vec::new(),
            next_operator_call: 0,
        };
        sim.elect();
        sim.run_for(Duration::from_millis(10));
        sim
    }

    fn elect(&mut self) {
        let info = self.master.info().clone();
        let effects = self.master.handle(self.now, Event::Detected(Some(info)));
        self.apply(effects);
    }

    /// Hands an operator call to the master now; returns its id (its
    /// answer lands in [`SimCluster::operator_out`]).
    pub fn operator(&mut self, call: crate::master::operator::OperatorCall) -> u64 {
        self.next_operator_call += 1;
        let id = self.next_operator_call;
        self.deliver_to_master(Event::Operator { id, call });
        id
    }

    /// The answer to operator call `id`, once given.
    pub fn operator_result(&self, id: u64) -> Option<Result<(), crate::master::operator::OperatorError>> {
        self.operator_out.iter().find_map(|e| match e {
            crate::master::operator::OperatorEffect::Done { id: done, result } if *done == id => Some(result.clone()),
            _ => None,
        })
    }

    /// The operator events written so far (to any stream).
    pub fn operator_events(&self) -> Vec<crate::proto::mesos::master::Event> {
        self.operator_out
            .iter()
            .filter_map(|e| match e {
                crate::master::operator::OperatorEffect::Event { event, .. } => Some((**event).clone()),
                _ => None,
            })
            .collect()
    }

    /// The simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.monotonic
    }

    /// The current time as the master sees it.
    pub fn now(&self) -> Now {
        self.now
    }

    pub fn master(&self) -> &Master {
        &self.master
    }

    /// Ends the simulation, keeping the master (e.g. to serve its endpoints).
    pub fn into_master(self) -> Master {
        self.master
    }

    pub fn master_pid(&self) -> &Upid {
        &self.master_pid
    }

    pub fn agent(&self, i: usize) -> &FakeAgent {
        &self.agents[i]
    }

    pub fn agent_mut(&mut self, i: usize) -> &mut FakeAgent {
        &mut self.agents[i]
    }

    pub fn framework(&self, i: usize) -> &FakeScheduler {
        &self.schedulers[i]
    }

    pub fn framework_mut(&mut self, i: usize) -> &mut FakeScheduler {
        &mut self.schedulers[i]
    }

    /// The registry as the store holds it.
    pub fn registry(&self) -> &crate::proto::mesos::internal::Registry {
        self.registrar.registry()
    }

    fn push(&mut self, at: Duration, input: Input) {
        self.seq += 1;
        self.queue.insert((at, self.seq), input);
    }

    /// Adds and starts an agent; returns its index.
    pub fn add_agent(&mut self, mut spec: AgentSpec) -> usize {
        let i = self.agents.len();
        if spec.hostname == AgentSpec::default().hostname {
            spec.hostname = format!("agent{}", i + 1);
        }
        let addr = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 5051));
        let pid = Upid::new("slave(1)", addr);
        let mut agent = FakeAgent::new(pid.clone(), self.master_pid.clone(), spec);
        let out = agent.start(self.now);
        self.actors.insert(pid.to_string(), Actor::Agent(i));
        self.agents.push(agent);
        self.agent_out(i, out);
        i
    }

    /// Adds a scheduler and subscribes it; returns its index.
    pub fn add_framework(&mut self, info: FrameworkInfo, dialect: Dialect) -> usize {
        let i = self.schedulers.len();
        let addr = SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], 40000 + i as u16));
        let pid = Upid::new(format!("scheduler-{}", i + 1), addr);
        let scheduler = FakeScheduler::new(pid.clone(), self.master_pid.clone(), info, dialect);
        self.actors.insert(pid.to_string(), Actor::Scheduler(i));
        self.schedulers.push(scheduler);
        self.subscribe(i, false);
        i
    }

    /// Sends scheduler `i`'s subscription, retried every second until the
    /// master answers (Mesos's `doReliableRegistration`).
    fn subscribe(&mut self, i: usize, force: bool) {
        let scheduler = &mut self.schedulers[i];
        scheduler.subscribing = Some(force);
        let message = scheduler.subscribe(force);
        let from = scheduler.pid.clone();
        self.net(&from, &self.master_pid.clone(), message);
        self.push(self.now.monotonic + Duration::from_secs(1), Input::SchedulerRetry(i));
    }

    /// Sends a message from scheduler `i` to the master.
    pub fn send(&mut self, i: usize, message: Message) {
        let from = self.schedulers[i].pid.clone();
        self.net(&from, &self.master_pid.clone(), message);
    }

    /// Sends a message from agent `i` to the master.
    pub fn send_from_agent(&mut self, i: usize, message: Message) {
        let from = self.agents[i].pid.clone();
        self.net(&from, &self.master_pid.clone(), message);
    }

    /// Drops the next `count` messages matching `rule` (like `DROP_PROTOBUF`).
    pub fn drop_next(&mut self, count: usize, rule: impl FnMut(&Envelope) -> bool + 'static) {
        self.drop_rules.push((Box::new(rule), count));
    }

    /// Cuts every message to and from `pid` (no exit is reported: a
    /// partition, not a crash).
    pub fn isolate(&mut self, pid: &Upid) {
        self.isolated.insert(pid.to_string());
    }

    /// Ends the isolation of `pid`.
    pub fn heal(&mut self, pid: &Upid) {
        self.isolated.remove(&pid.to_string());
    }

    /// Crashes agent `i`: it stops, and the master (if linked) sees it exit.
    pub fn crash_agent(&mut self, i: usize) {
        self.agents[i].crash();
        let pid = self.agents[i].pid.clone();
        self.exited(&pid);
    }

    /// Restarts agent `i` with its tasks (it reregisters).
    pub fn restart_agent(&mut self, i: usize) {
        let out = self.agents[i].start(self.now);
        self.agent_out(i, out);
    }

    /// Scheduler `i` exits (the master, linked to it, sees it go).
    pub fn stop_framework(&mut self, i: usize) {
        let pid = self.schedulers[i].pid.clone();
        self.actors.remove(&pid.to_string());
        self.exited(&pid);
    }

    /// A second instance of scheduler `i` (new pid, same framework id)
    /// subscribes with `force`, as a failed-over scheduler does.
    pub fn failover_framework(&mut self, i: usize) -> usize {
        let old = self.schedulers[i].clone();
        let j = self.schedulers.len();
        let addr = SocketAddr::from(([10, 2, (j / 250) as u8, (j % 250) as u8 + 1], 41000 + j as u16));
        let pid = Upid::new(format!("scheduler-{}", j + 1), addr);
        let mut scheduler = FakeScheduler::new(pid.clone(), self.master_pid.clone(), old.info.clone(), old.dialect);
        scheduler.id = old.id.clone();
        self.actors.insert(pid.to_string(), Actor::Scheduler(j));
        self.schedulers.push(scheduler);
        self.subscribe(j, true);
        j
    }

    /// The master process restarts (a failover to a new master on the same
    /// address, new id): it recovers the registry; agents and schedulers
    /// detect it and reregister / resubscribe.
    pub fn restart_master(&mut self) {
        self.generation += 1;
        let mut config = self.config.clone();
        config.id = format!("{:08x}-0000-4000-8000-{:012x}", self.generation, self.generation);
        self.master = Master::new(config, self.now);
        self.master_up = true;
        self.links.clear();
        self.elect();
        for i in 0..self.agents.len() {
            if !self.agents[i].down {
                let master = self.master_pid.clone();
                let out = self.agents[i].detected(master);
                self.agent_out(i, out);
            }
        }
        for i in 0..self.schedulers.len() {
            let alive = self.actors.contains_key(&self.schedulers[i].pid.to_string());
            if alive && self.schedulers[i].id.is_some() && self.schedulers[i].errors.is_empty() {
                self.schedulers[i].connected = false;
                self.subscribe(i, false);
            }
        }
    }

    fn exited(&mut self, pid: &Upid) {
        if self.links.contains(&pid.to_string()) {
            let generation = self.generation;
            self.push(self.now.monotonic, Input::Exited { generation, pid: pid.clone() });
        }
    }

    fn net(&mut self, from: &Upid, to: &Upid, message: Message) {
        let envelope = Envelope { from: from.clone(), to: to.clone(), message };
        if self.isolated.contains(&from.to_string()) || self.isolated.contains(&to.to_string()) {
            return;
        }
        for (rule, count) in &mut self.drop_rules {
            if *count > 0 && rule(&envelope) {
                *count -= 1;
                return;
            }
        }
        self.drop_rules.retain(|(_, count)| *count > 0);
        if self.faults.drop > 0.0 && self.rng.random::<f64>() < self.faults.drop {
            return;
        }
        let copies =
            if self.faults.duplicate > 0.0 && self.rng.random::<f64>() < self.faults.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if self.faults.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.rng.random_range(0..self.faults.jitter.as_nanos() as u64))
            };
            let link = (from.to_string(), to.to_string());
            let earliest = self.link_clock.get(&link).copied().unwrap_or_default();
            let at = (self.now.monotonic + self.faults.latency + jitter).max(earliest);
            self.link_clock.insert(link, at);
            self.push(at, Input::Deliver(envelope.clone()));
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        let master = self.master_pid.clone();
        let generation = self.generation;
        for effect in effects {
            match effect {
                Effect::Send { to, message } => self.net(&master, &to, message),
                Effect::Scheduler { to: SchedulerConn::Pid(to), message } => self.net(&master, &to, message),
                Effect::Scheduler { to: SchedulerConn::Http(stream), message } => {
                    self.http_events.push((stream, message))
                }
                Effect::HttpRespond { request, answer } => {
                    self.http_answers.insert(request, answer);
                }
                Effect::CloseStream { stream } => self.closed_streams.push(stream),
                Effect::Link(pid) => {
                    self.links.insert(pid.to_string());
                    let down = match self.actors.get(&pid.to_string()) {
                        Some(Actor::Agent(i)) => self.agents[*i].down,
                        Some(Actor::Scheduler(_)) => false,
                        None => true,
                    };
                    if down {
                        self.push(self.now.monotonic, Input::Exited { generation, pid });
                    }
                }
                Effect::Timer { at, timer } => {
                    self.push(at.max(self.now.monotonic), Input::MasterTimer { generation, timer })
                }
                Effect::RecoverRegistry { info } => {
                    let _ = self.registrar.apply(&super::RegistryOp::Recover(info));
                    let registry = Box::new(self.registrar.registry().clone());
                    self.push(self.now.monotonic + self.registry_latency, Input::Recovered { generation, registry });
                }
                Effect::Registry { id, op } => {
                    let result = if self.registry_broken {
                        Err("simulated storage failure".to_string())
                    } else {
                        Ok(self.registrar.apply(&op).is_ok())
                    };
                    self.push(self.now.monotonic + self.registry_latency, Input::Registry { generation, id, result });
                }
                Effect::Operator(effect) => self.operator_out.push(effect),
                Effect::Fatal(message) => {
                    self.fatal.push(message);
                    self.master_up = false;
                }
            }
        }
    }

    /// A v1 scheduler call, as the HTTP layer hands it in (for SUBSCRIBE,
    /// `stream_id` is the new stream's id). Returns the request number
    /// (for SUBSCRIBE, the stream's) and the master's answer.
    pub fn http_call(
        &mut self,
        stream_id: Option<&str>,
        call: crate::proto::mesos::scheduler::Call,
    ) -> (u64, Option<super::HttpAnswer>) {
        self.next_http_request += 1;
        let request = self.next_http_request;
        let event = Event::HttpCall { request, stream_id: stream_id.map(String::from), call: Box::new(call) };
        self.deliver_to_master(event);
        self.deliver_to_master(Event::Idle);
        (request, self.http_answers.get(&request).cloned())
    }

    /// The v1 scheduler hung up `stream`.
    pub fn http_close(&mut self, stream: u64) {
        self.deliver_to_master(Event::HttpClosed { stream });
    }

    fn deliver_to_master(&mut self, event: Event) {
        if self.master_up {
            let effects = self.master.handle(self.now, event);
            self.apply(effects);
        }
    }

    fn agent_out(&mut self, i: usize, out: agent::Out) {
        let from = self.agents[i].pid.clone();
        for (to, message) in out.sends {
            self.net(&from, &to, message);
        }
        for (after, timer) in out.timers {
            self.push(self.now.monotonic + after, Input::AgentTimer(i, timer));
        }
    }

    fn deliver(&mut self, envelope: Envelope) {
        self.trace.push((
            self.now.monotonic,
            envelope.from.to_string(),
            envelope.to.to_string(),
            envelope.message.name(),
        ));
        if envelope.to == self.master_pid {
            if let Some(inbox) = &mut self.master_inbox {
                inbox.push(envelope.clone());
            }
            self.deliver_to_master(Event::Message { from: envelope.from, message: envelope.message });
            return;
        }
        match self.actors.get(&envelope.to.to_string()).copied() {
            Some(Actor::Agent(i)) => {
                let out = self.agents[i].handle(self.now, &envelope.from, envelope.message);
                self.agent_out(i, out);
            }
            Some(Actor::Scheduler(i)) => {
                let replies = self.schedulers[i].handle(&envelope.from, envelope.message);
                let from = self.schedulers[i].pid.clone();
                for (to, message) in replies {
                    self.net(&from, &to, message);
                }
            }
            None => {}
        }
    }

    /// Processes everything due up to `now + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now.monotonic + d;
        self.run_until_time(end);
    }

    fn run_until_time(&mut self, end: Duration) {
        while let Some((&(at, seq), _)) = self.queue.first_key_value() {
            if at > end {
                break;
            }
            let input = self.queue.remove(&(at, seq)).expect("present");
            self.set_time(at);
            self.process(input);
            let more_now = self.queue.first_key_value().is_some_and(|(&(t, _), _)| t <= self.now.monotonic);
            if !more_now {
                self.deliver_to_master(Event::Idle);
            }
        }
        self.set_time(end);
    }

    /// Runs until `done` holds (checked after every input) or `limit`
    /// passes; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&SimCluster) -> bool) -> bool {
        let end = self.now.monotonic + limit;
        loop {
            if done(self) {
                return true;
            }
            let next = self.queue.first_key_value().map(|(&(t, _), _)| t);
            match next {
                Some(t) if t <= end => {
                    let (key, input) = self.queue.pop_first().expect("present");
                    self.set_time(key.0);
                    self.process(input);
                    let more_now = self.queue.first_key_value().is_some_and(|(&(t, _), _)| t <= self.now.monotonic);
                    if !more_now {
                        self.deliver_to_master(Event::Idle);
                    }
                }
                _ => {
                    self.set_time(end);
                    return done(self);
                }
            }
        }
    }

    fn set_time(&mut self, at: Duration) {
        if at > self.now.monotonic {
            self.now = Now { monotonic: at, unix: EPOCH + at };
        }
    }

    fn process(&mut self, input: Input) {
        match input {
            Input::Deliver(envelope) => self.deliver(envelope),
            Input::MasterTimer { generation, timer } if generation == self.generation => {
                self.deliver_to_master(Event::Timer(timer))
            }
            Input::SchedulerRetry(i) => {
                let s = &self.schedulers[i];
                let alive = self.actors.contains_key(&s.pid.to_string());
                if let (Some(force), true, false, true) = (s.subscribing, alive, s.connected, s.errors.is_empty()) {
                    self.subscribe(i, force);
                }
            }
            Input::AgentTimer(i, timer) => {
                let out = self.agents[i].timer(self.now, timer);
                self.agent_out(i, out);
            }
            Input::Registry { generation, id, result } if generation == self.generation => {
                self.deliver_to_master(Event::RegistryApplied { id, result })
            }
            Input::Recovered { generation, registry } if generation == self.generation => {
                self.deliver_to_master(Event::RegistryRecovered(Ok(registry)))
            }
            Input::Exited { generation, pid } if generation == self.generation => {
                self.links.remove(&pid.to_string());
                self.deliver_to_master(Event::Exited(pid))
            }
            _ => {}
        }
    }

    /// How many times a message named `name` was delivered to `to`.
    pub fn delivered(&self, to: &Upid, name: &str) -> usize {
        let to = to.to_string();
        self.trace.iter().filter(|(_, _, t, n)| *t == to && *n == name).count()
    }
}
