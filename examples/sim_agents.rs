//! N simulated agents over the real libprocess wire, for end-to-end tests
//! and load (e.g. 1,000 agents against a master failover).
//!
//! Each agent is a [`FakeAgent`] (the simulation's scripted agent): it
//! registers with the master, answers pings, reports TASK_RUNNING for every
//! task it is given and TASK_FINISHED after `--task_duration`, honours kills
//! and framework shutdowns, and retries status updates until acknowledged.
//! All agents live in one libprocess node (`slave(1)`, `slave(2)`, ... on one
//! port), each with its own hostname.
//!
//! ```text
//! sim_agents --master=127.0.0.1:5050|zk://host:port/path [--agents=1] [--ip=127.0.0.1] [--port=0]
//!            [--resources=cpus:4;mem:4096;disk:10000;ports:[31000-32000]]
//!            [--task_duration=5secs] [--hostname=sim-agent]
//! ```
//! Prints one JSON line per agent registration (`{"registered":i,"id":...}`)
//! and `{"all_registered":n}` once every agent is registered.
//!
//! With `--master=zk://...` (or `file://`) the agents follow the leading
//! master through ZooKeeper, as real agents do: on each new leader they all
//! reregister with it, and `{"leader":"master@...","round":k}` then
//! `{"all_registered":n,"round":k}` are printed for each leader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures::StreamExt;
use mesos_rs::common::units::parse_duration;
use mesos_rs::master::sim::{AgentSpec, AgentTimer, FakeAgent};
use mesos_rs::master::Now;
use mesos_rs::v0_compat::{self, Event, Node, Options, Process, Upid};
use mesos_rs::zookeeper::MasterDetector;
use tokio::sync::mpsc;

struct Args {
    master: String,
    agents: usize,
    ip: std::net::Ipv4Addr,
    port: u16,
    resources: String,
    task_duration: Option<Duration>,
    hostname: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        master: "127.0.0.1:5050".into(),
        agents: 1,
        ip: std::net::Ipv4Addr::LOCALHOST,
        port: 0,
        resources: AgentSpec::default().resources,
        task_duration: Some(Duration::from_secs(5)),
        hostname: "sim-agent".into(),
    };
    for arg in std::env::args().skip(1) {
        let (name, value) = arg.split_once('=').unwrap_or((&arg, ""));
        match name {
            "--master" => args.master = value.strip_prefix("master@").unwrap_or(value).to_string(),
            "--agents" => args.agents = value.parse()?,
            "--ip" => args.ip = value.parse()?,
            "--port" => args.port = value.parse()?,
            "--resources" => args.resources = value.to_string(),
            "--task_duration" => {
                args.task_duration = if value == "forever" {
                    None
                } else {
                    Some(parse_duration(value).map_err(|e| anyhow::anyhow!(e.0))?)
                }
            }
            "--hostname" => args.hostname = value.to_string(),
            _ => bail!("unknown argument '{arg}'"),
        }
    }
    Ok(args)
}

fn now(origin: tokio::time::Instant) -> Now {
    Now {
        monotonic: origin.elapsed(),
        unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(),
    }
}

/// One agent's loop: its mailbox and its timers.
async fn run_agent(
    mut agent: FakeAgent,
    mut process: Process,
    index: usize,
    registered: mpsc::UnboundedSender<(usize, String)>,
    mut leader: tokio::sync::watch::Receiver<Option<Upid>>,
) {
    let origin = tokio::time::Instant::now();
    let handle = process.handle().clone();
    let mut timers: BTreeMap<(Duration, u64), AgentTimer> = BTreeMap::new();
    let mut seq = 0u64;
    let mut was_registered = false;
    let mut apply = |out: mesos_rs::master::sim::agent::Out, timers: &mut BTreeMap<(Duration, u64), AgentTimer>| {
        for (to, message) in out.sends {
            if let Err(e) = handle.send(&to, &message) {
                eprintln!("agent {index}: cannot send {}: {e}", message.name());
            }
        }
        let at = origin.elapsed();
        for (after, timer) in out.timers {
            seq += 1;
            timers.insert((at + after, seq), timer);
        }
    };
    let out = agent.start(now(origin));
    apply(out, &mut timers);
    loop {
        if agent.registered && !was_registered {
            was_registered = true;
            let _ = registered.send((index, agent.id.clone().map(|i| i.value).unwrap_or_default()));
        }
        if !agent.registered {
            was_registered = false;
        }
        let deadline = timers.first_key_value().map(|(&(at, _), _)| origin + at);
        tokio::select! {
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let next = leader.borrow_and_update().clone();
                if let Some(master) = next {
                    let out = agent.detected(master);
                    apply(out, &mut timers);
                }
            }
            event = process.recv() => match event {
                Some(Event::Message { from, message }) => {
                    let out = agent.handle(now(origin), &from, message);
                    apply(out, &mut timers);
                }
                Some(Event::Exited(pid)) => eprintln!("agent {index}: {pid} exited"),
                Some(Event::Raw { .. }) => {}
                None => return,
            },
            _ = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                while let Some((&key, _)) = timers.first_key_value() {
                    if key.0 > origin.elapsed() {
                        break;
                    }
                    let timer = timers.remove(&key).expect("present");
                    let out = agent.timer(now(origin), timer);
                    apply(out, &mut timers);
                }
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let config = v0_compat::Config { ip: Some(args.ip), port: Some(args.port), ..Default::default() };
        let (listener, advertised) = config.bind().await?;
        let node = Node::new(advertised, Options::default());
        // The leader: fixed, or followed through ZooKeeper.
        let (leader_tx, leader_rx) = tokio::sync::watch::channel::<Option<Upid>>(None);
        let (round_tx, mut rounds) = mpsc::unbounded_channel::<Upid>();
        let master = if args.master.starts_with("zk://") || args.master.starts_with("file://") {
            let detector =
                MasterDetector::create(Some(&args.master), None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut stream = Box::pin(detector.into_stream());
            let first = loop {
                match stream.next().await {
                    Some(Ok(Some(info))) => break info,
                    Some(_) => continue,
                    None => bail!("the detector stopped"),
                }
            };
            let pid =
                |info: &mesos_rs::proto::mesos::MasterInfo| info.pid.as_deref().and_then(|p| p.parse::<Upid>().ok());
            let first = pid(&first).context("the leader's MasterInfo has no pid")?;
            let _ = round_tx.send(first.clone());
            let mut current = Some(first.clone());
            tokio::spawn(async move {
                while let Some(detection) = stream.next().await {
                    if let Ok(Some(info)) = detection {
                        let next = pid(&info);
                        if next.is_some() && next != current {
                            current = next.clone();
                            if let Some(p) = next {
                                let _ = round_tx.send(p.clone());
                                let _ = leader_tx.send(Some(p));
                            }
                        }
                    }
                }
            });
            first
        } else {
            let address: SocketAddr = tokio::net::lookup_host(&args.master)
                .await
                .with_context(|| format!("cannot resolve --master={}", args.master))?
                .next()
                .with_context(|| format!("no address for --master={}", args.master))?;
            drop(round_tx);
            Upid::new("master", address)
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 1..=args.agents {
            let process = node.spawn(&format!("slave({i})"))?;
            let spec = AgentSpec {
                hostname: format!("{}-{i}", args.hostname),
                resources: args.resources.clone(),
                task_duration: args.task_duration,
                ..Default::default()
            };
            let agent = FakeAgent::new(process.pid().clone(), master.clone(), spec);
            tokio::spawn(run_agent(agent, process, i, tx.clone(), leader_rx.clone()));
        }
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(v0_compat::serve(listener, node.clone(), axum::Router::new(), async {
            let _ = stop_rx.await;
        }));
        eprintln!("{} simulated agents on {advertised}, master {master}", args.agents);
        let mut seen = std::collections::BTreeSet::new();
        let mut round = 0;
        loop {
            tokio::select! {
                biased;
                Some(leader) = rounds.recv() => {
                    round += 1;
                    seen.clear();
                    println!("{{\"leader\":\"{leader}\",\"round\":{round}}}");
                }
                Some((i, id)) = rx.recv() => {
                    println!("{{\"registered\":{i},\"id\":\"{id}\"}}");
                    seen.insert(i);
                    if seen.len() == args.agents {
                        println!("{{\"all_registered\":{},\"round\":{round}}}", args.agents);
                    }
                }
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let _ = stop_tx.send(());
        let _ = server.await;
        Ok(())
    })
}
