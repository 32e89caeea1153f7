//! The tokio driver on real loopback UDP sockets (ports :0, loopback addresses only).
//!
//! - the demo's logic as a library call: 8 nodes form a group and every message reaches every
//!   other node exactly once;
//! - garbage first: random bytes, a truncated envelope and a corrupted one are sent to a running
//!   driver, which counts and drops them; then a real node joins through it and chats both ways;
//! - the same join and chat over IPv6 (`[::1]`), skipped where the host has no IPv6 loopback.
//!
//! Every wait is bounded by `tokio::time::timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::cli::demo::{Options, run_demo};
use dhtchat::net::{Driver, DriverOptions, Handle, NodeEvent};
use dhtchat::proto::{Config, DropReason, Event, GroupSpec, LeaveReason, Node, TextKind};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Upper bound of any single wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Waits for the first event that `pred` accepts; panics after `WAIT`.
async fn expect_event(
    events: &mut mpsc::Receiver<NodeEvent>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    bounded(what, async {
        loop {
            let e = events.recv().await.expect("driver still running");
            if pred(&e.event) {
                return e.event;
            }
        }
    })
    .await
}

async fn start(addr: &str, seed: u8) -> (Handle, mpsc::Receiver<NodeEvent>) {
    let addr: SocketAddr = addr.parse().unwrap();
    let (driver, handle, events) =
        Driver::bind(addr, Config::new([seed; 32]), &DriverOptions::default())
            .await
            .expect("bind");
    tokio::spawn(driver.run());
    (handle, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_eight_nodes_delivers_every_message_once() {
    let options = Options {
        nodes: 8,
        messages: 20,
        publishers: 3,
        send_gap: Duration::from_millis(5),
        seed: 8,
        ..Options::default()
    };
    let mut lines = Vec::new();
    let summary = bounded(
        "the demo",
        run_demo(
            &options,
            &mut |l: &str| lines.push(l.to_owned()),
            std::future::pending(),
        ),
    )
    .await
    .expect("demo runs");
    println!("{}\n{summary}", lines.join("\n"));
    assert!(summary.converged, "{summary}");
    assert_eq!(summary.joined, 8);
    assert_eq!(summary.messages, 20);
    assert_eq!(summary.expected, 20 * 7);
    assert_eq!(summary.delivery_ratio(), 1.0, "{summary}");
    assert_eq!(summary.duplicates, 0);
    assert!(summary.latency.is_some());
    assert!(summary.traffic.0 > 0 && summary.publish_traffic.0 > 0);
    assert!(
        lines.iter().any(|l| l.starts_with("joining 8/8")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("sending 20 messages")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stops_cleanly_when_interrupted() {
    let options = Options {
        nodes: 4,
        ..Options::default()
    };
    let interrupt = tokio::time::sleep(Duration::from_millis(1));
    let result = bounded("the demo", run_demo(&options, &mut |_| {}, interrupt)).await;
    assert!(matches!(
        result,
        Err(dhtchat::cli::demo::DemoError::Interrupted)
    ));
}

/// Datagrams that no node should ever accept: random bytes of many sizes, a real envelope
/// cut short, and the same envelope with one sealed byte flipped.
fn garbage(target: &dhtchat::proto::JoinString) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let mut out: Vec<Vec<u8>> = [0usize, 1, 48, 105, 106, 300, 1024, 1025, 2000]
        .iter()
        .map(|&len| {
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            b
        })
        .collect();
    // Random bytes behind a valid outer id and our receiver key: they pass the length
    // check and the group lookup, and fail to open.
    for _ in 0..20 {
        let mut b = vec![0u8; rng.random_range(106..=1024)];
        rng.fill_bytes(&mut b);
        b[0] = 48;
        b[1..33].copy_from_slice(target.contact.key.as_bytes());
        out.push(b);
    }
    // A real join request from a sans-IO node, truncated and corrupted.
    let mut node = Node::new(Config::new([5; 32])).unwrap();
    let now = dhtchat::net::now();
    node.join_group(now, target, &GroupSpec::default()).unwrap();
    let real = node.poll_transmit().expect("a join request").payload;
    out.push(real[..real.len() / 2].to_vec());
    out.push(real[..105].to_vec());
    let mut flipped = real.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    out.push(flipped);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_first_then_a_real_node_joins_and_chats() {
    let (a, mut a_events) = start("127.0.0.1:0", 1).await;
    let group_a = a.create_group(GroupSpec::default()).await.unwrap();
    let join = a.group(group_a).await.unwrap().unwrap().join;
    assert_eq!(join.contact.addr, a.local_addr());

    let junk = garbage(&join);
    let attacker = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    for d in &junk {
        attacker.send_to(d, a.local_addr()).await.unwrap();
    }
    // The zero-length datagram reaches the node too; all are counted, none answered.
    let stats = bounded("the garbage to be read", async {
        loop {
            let s = a.stats().await.unwrap();
            if s.node.datagrams_in >= junk.len() as u64 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(stats.node.datagrams_in, junk.len() as u64);
    assert_eq!(stats.node.total_drops(), junk.len() as u64, "{stats:?}");
    assert!(stats.node.dropped(DropReason::Malformed) >= 8, "{stats:?}");
    // Random envelopes fail the secure dialect's mac1 (PROTOCOL.md §2.1), are refused as bad
    // keys or fail to open, before any payload parsing; the flipped real envelope (its mac1
    // covers the header only) fails to open.
    let unopened = stats.node.dropped(DropReason::Decrypt)
        + stats.node.dropped(DropReason::BadKey)
        + stats.node.dropped(DropReason::BadMac);
    assert!(unopened >= 21, "{stats:?}");
    assert!(stats.node.dropped(DropReason::Decrypt) >= 1, "{stats:?}");
    assert_eq!(
        stats.node.datagrams_out, 0,
        "garbage got an answer: {stats:?}"
    );
    let mut buf = [0u8; 2048];
    let answered = timeout(Duration::from_millis(200), attacker.recv_from(&mut buf[..])).await;
    assert!(answered.is_err(), "the attacker got a reply");

    let (b, mut b_events) = start("127.0.0.2:0", 2).await;
    let spec = GroupSpec {
        nick: b"bob".to_vec(),
        ..GroupSpec::default()
    };
    let group_b = b.join_group(join, spec).await.unwrap();
    expect_event(&mut b_events, "b joined", |e| {
        matches!(e, Event::Joined { .. })
    })
    .await;
    let key_b = b.group(group_b).await.unwrap().unwrap().info.own_key;
    let key_a = a.group(group_a).await.unwrap().unwrap().info.own_key;

    let n = b
        .send_chat(group_b, "hello through the garbage")
        .await
        .unwrap();
    let got = expect_event(&mut a_events, "a hears b", |e| {
        matches!(
            e,
            Event::MessageReceived {
                kind: TextKind::Chat,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        got,
        Event::MessageReceived {
            group: group_a,
            origin: key_b,
            number: n,
            kind: TextKind::Chat,
            text: b"hello through the garbage".to_vec(),
        }
    );
    a.send_action(group_a, "waves").await.unwrap();
    let got = expect_event(&mut b_events, "b hears a", |e| {
        matches!(e, Event::MessageReceived { .. })
    })
    .await;
    assert!(matches!(
        got,
        Event::MessageReceived { origin, kind: TextKind::Action, ref text, .. }
            if origin == key_a && text == b"waves"
    ));
    b.set_name(group_b, "robert").await.unwrap();
    expect_event(
        &mut a_events,
        "a sees the nick",
        |e| matches!(e, Event::NameChanged { name, .. } if name == b"robert"),
    )
    .await;

    let b_final = b.quit().await.unwrap();
    assert!(b_final.node.originated >= 3);
    expect_event(
        &mut a_events,
        "a sees b quit",
        |e| matches!(e, Event::PeerLeft { peer, reason: LeaveReason::Quit, .. } if *peer == key_b),
    )
    .await;
    let a_final = a.quit().await.unwrap();
    assert_eq!(a_final.send_errors, 0);
    assert!(a.stats().await.is_err(), "the driver has stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_chat_over_ipv6_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let (a, mut a_events) = start("[::1]:0", 3).await;
    let group_a = a.create_group(GroupSpec::default()).await.unwrap();
    let join = a.group(group_a).await.unwrap().unwrap().join;
    let contact = join.contact.addr;
    assert!(contact.is_ipv6() && contact.ip().is_loopback(), "{join}");
    let (b, mut b_events) = start("[::1]:0", 4).await;
    let group_b = b.join_group(join, GroupSpec::default()).await.unwrap();
    expect_event(&mut b_events, "b joined", |e| {
        matches!(e, Event::Joined { .. })
    })
    .await;
    b.send_chat(group_b, "over v6").await.unwrap();
    expect_event(
        &mut a_events,
        "a hears b",
        |e| matches!(e, Event::MessageReceived { text, .. } if text == b"over v6"),
    )
    .await;
    b.quit().await.unwrap();
    a.quit().await.unwrap();
}
