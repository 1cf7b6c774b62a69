//! v0 wire benchmarks: protobuf encode/decode of a 1,000-offer
//! `ResourceOffersMessage`, and message throughput through our server on
//! loopback (one sender process, one receiving process, two nodes).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mesos_rs::proto::mesos::internal::{ResourceOffersMessage, StatusUpdateAcknowledgementMessage};
use mesos_rs::proto::mesos::resource::AllocationInfo;
use mesos_rs::proto::mesos::value::{self, Range, Ranges, Scalar, Text};
use mesos_rs::proto::mesos::{Attribute, ExecutorId, FrameworkId, Offer, OfferId, Resource, SlaveId, TaskId};
use mesos_rs::v0_compat::{serve, Decoding, Event, Message, MessageType, Node, Options, Process};
use prost::Message as _;

fn scalar(name: &str, value: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(Scalar { value }),
        allocation_info: Some(AllocationInfo { role: Some("analytics".into()) }),
        ..Default::default()
    }
}

fn text_attribute(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Text as i32,
        text: Some(Text { value: value.into() }),
        ..Default::default()
    }
}

/// 1,000 offers as a master sends them: one per agent, cpus/mem/disk/ports
/// allocated to a role, a few attributes, and the agents' pids.
fn offers_message() -> ResourceOffersMessage {
    let mut message = ResourceOffersMessage::default();
    for i in 0..1000u64 {
        let agent = format!("6f9c2b1e-8a4d-4a51-9c0e-{i:012}-S{}", i % 7);
        let ports = Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(Ranges {
                range: vec![Range { begin: 31000, end: 31999 }, Range { begin: 33000 + i, end: 33100 + i }],
            }),
            allocation_info: Some(AllocationInfo { role: Some("analytics".into()) }),
            ..Default::default()
        };
        message.offers.push(Offer {
            id: OfferId { value: format!("6f9c2b1e-8a4d-4a51-9c0e-5d2f1a7b3c90-O{i}") },
            framework_id: FrameworkId { value: "6f9c2b1e-8a4d-4a51-9c0e-5d2f1a7b3c90-0001".into() },
            slave_id: SlaveId { value: agent },
            hostname: format!("agent-{i:04}.dc1.example.com"),
            resources: vec![scalar("cpus", 15.5), scalar("mem", 63_488.0), scalar("disk", 917_504.0), ports],
            attributes: vec![
                text_attribute("rack", &format!("r{}", i % 40)),
                text_attribute("zone", ["a", "b", "c"][(i % 3) as usize]),
                Attribute {
                    name: "ssd".into(),
                    r#type: value::Type::Scalar as i32,
                    scalar: Some(Scalar { value: 1.0 }),
                    ..Default::default()
                },
            ],
            executor_ids: if i % 4 == 0 { vec![ExecutorId { value: format!("executor-{i}") }] } else { vec![] },
            ..Default::default()
        });
        message.pids.push(format!("slave(1)@10.{}.{}.{}:5051", i / 65536, (i / 256) % 256, i % 256));
    }
    message
}

fn protobuf(c: &mut Criterion) {
    let message = offers_message();
    let bytes = message.encode_to_vec();
    println!("ResourceOffersMessage with 1000 offers: {} bytes", bytes.len());
    let mut group = c.benchmark_group("resource_offers_1000");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| message.encode_to_vec()));
    group.bench_function("decode_prost", |b| b.iter(|| ResourceOffersMessage::decode(bytes.as_slice()).unwrap()));
    group.bench_function("decode_strict", |b| {
        b.iter(|| mesos_rs::proto::decode_strict::<ResourceOffersMessage>(&bytes).unwrap())
    });
    group.bench_function("registry_decode", |b| {
        b.iter(|| Message::decode(ResourceOffersMessage::NAME, &bytes).unwrap())
    });
    group.finish();
}

struct Pair {
    sender: Process,
    receiver: Process,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn served_node() -> (Node, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = Options { peer_queue_capacity: 1 << 16, mailbox_capacity: 1 << 16, ..Options::default() };
    let node = Node::new(listener.local_addr().unwrap(), options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, node.clone(), axum::Router::new(), async {
        let _ = stopped.await;
    }));
    (node, stop)
}

async fn pair(decoding: Decoding) -> Pair {
    let (a, stop_a) = served_node().await;
    let (b, stop_b) = served_node().await;
    Pair {
        sender: a.spawn("sender").unwrap(),
        receiver: b.spawn_with("receiver", decoding).unwrap(),
        _stops: vec![stop_a, stop_b],
    }
}

fn ack(i: u64) -> StatusUpdateAcknowledgementMessage {
    StatusUpdateAcknowledgementMessage {
        slave_id: SlaveId { value: "6f9c2b1e-8a4d-4a51-9c0e-5d2f1a7b3c90-S3".into() },
        framework_id: FrameworkId { value: "6f9c2b1e-8a4d-4a51-9c0e-5d2f1a7b3c90-0001".into() },
        task_id: TaskId { value: format!("task-{i}") },
        uuid: uuid::Uuid::new_v4().as_bytes().to_vec(),
    }
}

/// Sends `n` messages and waits until all arrived.
async fn burst(pair: &mut Pair, messages: &[StatusUpdateAcknowledgementMessage]) -> Duration {
    let start = Instant::now();
    let to = pair.receiver.pid().clone();
    for message in messages {
        pair.sender.handle().send(&to, message).unwrap();
    }
    for _ in 0..messages.len() {
        match pair.receiver.recv().await {
            Some(Event::Message { .. }) | Some(Event::Raw { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    const BURST: usize = 10_000;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let messages: Vec<_> = (0..BURST as u64).map(ack).collect();
    println!("StatusUpdateAcknowledgementMessage: {} bytes of body", messages[0].encoded_len());
    let mut group = c.benchmark_group("v0_loopback_one_sender");
    group.throughput(Throughput::Elements(BURST as u64));
    group.sample_size(20);
    for (label, decoding) in [("typed", Decoding::Typed), ("raw", Decoding::Raw)] {
        let mut pair = runtime.block_on(pair(decoding));
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += burst(&mut pair, &messages).await;
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, protobuf, throughput);
criterion_main!(benches);
