//! The v0 wire over real loopback sockets: typed round trips, ordering under
//! load, links and exits, reconnects, relinks, and HTTP sharing the port.

mod common;

use bytes::BytesMut;
use common::*;
use mesos_rs::proto::mesos::internal as mi;
use mesos_rs::proto::mesos::{FrameworkId, FrameworkInfo, MasterInfo};
use mesos_rs::v0_compat::{Event, Message, MessageType, Options, Process, RawMessage, SendError, Upid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn big_queues() -> Options {
    Options { peer_queue_capacity: 1 << 16, mailbox_capacity: 1 << 16, ..Options::default() }
}

#[tokio::test]
async fn typed_messages_round_trip_between_two_nodes() {
    let a = Served::start(Options::default()).await;
    let b = Served::start(Options::default()).await;
    let mut scheduler = a.node.spawn("scheduler-1").unwrap();
    let mut master = b.node.spawn("master").unwrap();

    let register = mi::RegisterFrameworkMessage {
        framework: FrameworkInfo { user: "root".into(), name: "fw".into(), ..Default::default() },
    };
    scheduler.handle().send(master.pid(), &register).unwrap();
    let (from, message) = match within("registration arrives", next(&mut master)).await {
        Event::Message { from, message } => (from, message),
        other => panic!("{other:?}"),
    };
    assert_eq!(&from, scheduler.pid());
    assert_eq!(message, Message::from(register));

    let registered = mi::FrameworkRegisteredMessage {
        framework_id: FrameworkId { value: "fw-1".into() },
        master_info: MasterInfo { id: "m".into(), ip: 1, port: 5050, ..Default::default() },
    };
    master.handle().send(&from, &Message::from(registered.clone())).unwrap();
    assert_eq!(
        within("reply arrives", next(&mut scheduler)).await,
        Event::Message { from: master.pid().clone(), message: registered.into() }
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_under_load_arrives_in_order() {
    const N: u64 = 20_000;
    let a = Served::start(big_queues()).await;
    let b = Served::start(big_queues()).await;
    let sender = a.node.spawn("sender").unwrap();
    let mut receiver = b.node.spawn("receiver").unwrap();
    for seq in 0..N {
        sender.handle().send(receiver.pid(), &numbered(seq)).unwrap();
    }
    for expected in 0..N {
        let event = within("every message arrives", next(&mut receiver)).await;
        assert_eq!(seq_of(&event), Some(expected));
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_each_keep_their_order() {
    const SENDERS: usize = 4;
    const N: u64 = 3_000;
    let a = Served::start(big_queues()).await;
    let b = Served::start(big_queues()).await;
    let mut receiver = b.node.spawn("receiver").unwrap();
    let to = receiver.pid().clone();
    let mut tasks = Vec::new();
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let process = a.node.spawn(&format!("sender{i}")).unwrap();
        let handle = process.handle().clone();
        senders.push(process);
        let to = to.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..N {
                handle.send(&to, &numbered(seq)).unwrap();
                if seq % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let mut next_seq = std::collections::HashMap::new();
    for _ in 0..(SENDERS as u64 * N) {
        let event = within("every message arrives", next(&mut receiver)).await;
        let Event::Message { ref from, .. } = event else { panic!("{event:?}") };
        let expected = next_seq.entry(from.id().to_string()).or_insert(0u64);
        assert_eq!(seq_of(&event), Some(*expected), "from {from}");
        *expected += 1;
    }
    assert_eq!(next_seq.len(), SENDERS);
    for task in tasks {
        task.await.unwrap();
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_linked_peer_that_dies_exits_and_a_restarted_one_is_reached_again() {
    let a = Served::start(Options::default()).await;
    let b = Served::start(Options::default()).await;
    let b_addr = b.addr;
    let mut framework = a.node.spawn("framework").unwrap();
    let mut master = b.node.spawn("master").unwrap();
    let master_pid = master.pid().clone();

    framework.handle().link(&master_pid);
    framework.handle().send(&master_pid, &numbered(1)).unwrap();
    assert_eq!(seq_of(&within("first message", next(&mut master)).await), Some(1));

    // The master's node goes away: its connections close.
    drop(master);
    b.stop().await;
    assert_eq!(within("exit notice", next(&mut framework)).await, Event::Exited(master_pid.clone()));

    // A new master on the same address: the next send reconnects.
    let listener = TcpListener::bind(b_addr).await.unwrap();
    let b2 = Served::on(listener, Options::default()).await;
    let mut master2 = b2.node.spawn("master").unwrap();
    framework.handle().send(&master_pid, &numbered(2)).unwrap();
    assert_eq!(seq_of(&within("message after restart", next(&mut master2)).await), Some(2));
    a.stop().await;
    b2.stop().await;
}

#[tokio::test]
async fn linking_to_an_address_nobody_listens_on_exits() {
    let a = Served::start(Options::default()).await;
    let vacant = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut process = a.node.spawn("p").unwrap();
    let ghost = Upid::new("master", vacant);
    process.handle().link(&ghost);
    assert_eq!(within("exit for a peer that never connected", next(&mut process)).await, Event::Exited(ghost));
    // Sending there is silently dropped (queued, then lost), as in libprocess.
    assert_eq!(process.handle().send(&Upid::new("master", vacant), &numbered(0)), Ok(()));
    a.stop().await;
}

/// Reads one request (head plus chunked body) off a fake peer's socket.
async fn read_request(stream: &mut tokio::net::TcpStream, buf: &mut BytesMut) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(5).position(|w| w == b"0\r\n\r\n") {
            return Some(buf.split_to(end + 5).to_vec());
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// A served node with one process, and a bare listener posing as a peer.
async fn node_and_fake_peer(id: &str) -> (Served, Process, TcpListener, std::net::SocketAddr) {
    let a = Served::start(Options::default()).await;
    let process = a.node.spawn(id).unwrap();
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    (a, process, fake, fake_addr)
}

/// Asserts that no event is waiting: a marker sent to ourselves comes next.
async fn assert_no_pending_events(process: &mut Process) {
    process.handle().send(&process.pid().clone(), &mi::PongSlaveMessage {}).unwrap();
    assert!(matches!(
        within("marker", next(process)).await,
        Event::Message { message: Message::PongSlaveMessage(_), .. }
    ));
}

#[tokio::test]
async fn the_sender_writes_libprocess_bytes_and_ignores_what_comes_back() {
    let (a, mut process, fake, fake_addr) = node_and_fake_peer("scheduler").await;
    // Two linkees at one address: one connection breaking exits both.
    let one = Upid::new("one", fake_addr);
    let two = Upid::new("two", fake_addr);
    process.handle().link(&one);
    process.handle().link(&two);
    let message = RawMessage { name: "greet".into(), body: bytes::Bytes::from_static(b"hello") };
    process.handle().send(&one, &message).unwrap();

    let (mut socket, _) = fake.accept().await.unwrap();
    let mut buf = BytesMut::new();
    let request = within("request arrives", read_request(&mut socket, &mut buf)).await.unwrap();
    let from = process.pid().to_string();
    let expected = format!(
        "POST /one/greet HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\n\
         Connection: Keep-Alive\r\nHost: {fake_addr}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    assert_eq!(String::from_utf8(request).unwrap(), expected);

    // Responses (and junk) from a non-C++ peer are read and discarded.
    socket.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n\x00\xffjunk").await.unwrap();
    process.handle().send(&two, &message).unwrap();
    let second = within("second request on the same socket", read_request(&mut socket, &mut buf)).await.unwrap();
    assert!(second.starts_with(b"POST /two/greet HTTP/1.1\r\n"));

    drop(socket);
    let mut exited =
        vec![within("first exit", next(&mut process)).await, within("second exit", next(&mut process)).await];
    exited.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(exited, vec![Event::Exited(one.clone()), Event::Exited(two)]);

    // Exactly two.
    assert_no_pending_events(&mut process).await;
    a.stop().await;
}

#[tokio::test]
async fn relink_replaces_the_connection_without_an_exit() {
    let (a, mut process, fake, fake_addr) = node_and_fake_peer("master").await;
    let framework = Upid::new("framework", fake_addr);

    process.handle().link(&framework);
    let (mut first, _) = within("link connects", fake.accept()).await.unwrap();
    process.handle().relink(&framework);
    let (mut second, _) = within("relink connects again", fake.accept()).await.unwrap();
    // The old socket is closed by us...
    within("old socket closed", wait_closed(&mut first)).await;
    // ...and the new one carries traffic.
    process.handle().send(&framework, &numbered(7)).unwrap();
    let mut buf = BytesMut::new();
    let request = within("message on the new socket", read_request(&mut second, &mut buf)).await.unwrap();
    assert!(request.starts_with(b"POST /framework/mesos.internal.FrameworkToExecutorMessage "));

    // Only the new connection's end is an exit, and only one.
    drop(second);
    assert_eq!(within("exit", next(&mut process)).await, Event::Exited(framework));
    assert_no_pending_events(&mut process).await;
    a.stop().await;
}

#[tokio::test]
async fn a_full_peer_queue_drops_and_reports() {
    // Single-threaded runtime: the writer cannot drain until we yield.
    let options = Options { peer_queue_capacity: 1, ..Options::default() };
    let a = Served::start(options).await;
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Upid::new("x", fake.local_addr().unwrap());
    let process = a.node.spawn("p").unwrap();
    assert_eq!(process.handle().send(&to, &numbered(0)), Ok(()));
    assert_eq!(process.handle().send(&to, &numbered(1)), Err(SendError::QueueFull(to.addr())));
    a.stop().await;
}

#[tokio::test]
async fn http_requests_share_the_port_with_messages() {
    let served = Served::start(Options::default()).await;
    let mut master = served.node.spawn("master").unwrap();
    let mut buf = BytesMut::new();

    let mut stream = connect_and_send(served.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (status, _, body) = within("health", read_response(&mut stream, &mut buf)).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));

    // A POST without a libprocess sender is plain HTTP.
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping").await.unwrap();
    let (status, _, body) = within("echo", read_response(&mut stream, &mut buf)).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"ping"[..]));

    // A GET with a sender is not a message either: the router answers.
    stream.write_all(b"GET /master/x HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\n\r\n").await.unwrap();
    let (status, _, _) = within("router 404", read_response(&mut stream, &mut buf)).await.unwrap();
    assert_eq!(status, 404);

    // A message on the same, now-HTTP connection is still a message.
    let body = prost::Message::encode_to_vec(&numbered(5));
    stream
        .write_all(&message_request("master", mi::FrameworkToExecutorMessage::NAME, "a@127.0.0.1:1", &body))
        .await
        .unwrap();
    let (status, _, _) = within("202", read_response(&mut stream, &mut buf)).await.unwrap();
    assert_eq!(status, 202);
    let event = within("delivered", next(&mut master)).await;
    assert_eq!(seq_of(&event), Some(5));
    served.stop().await;
}

#[tokio::test]
async fn the_peer_address_check_rejects_spoofed_senders() {
    let options = Options { require_peer_address_ip_match: true, ..Options::default() };
    let served = Served::start(options).await;
    let mut master = served.node.spawn("master").unwrap();
    let body = prost::Message::encode_to_vec(&numbered(1));
    let name = mi::FrameworkToExecutorMessage::NAME;
    let mut request = message_request("master", name, "evil@10.9.9.9:1", &body);
    request.extend(message_request("master", name, "good@127.0.0.1:1", &body));
    let mut stream = connect_and_send(served.addr, &request).await;
    let mut buf = BytesMut::new();
    assert_eq!(within("400", read_response(&mut stream, &mut buf)).await.unwrap().0, 400);
    assert_eq!(within("202", read_response(&mut stream, &mut buf)).await.unwrap().0, 202);
    match within("only the good one", next(&mut master)).await {
        Event::Message { from, .. } => assert_eq!(from.id(), "good"),
        other => panic!("{other:?}"),
    }
    served.stop().await;
}
