//! Anti-entropy repair (have, inner id 53; PROTOCOL.md §6.11): a node that every relayed copy
//! of a broadcast missed still gets it, exactly once; and a have is answered only within its
//! rules.

mod peer;
mod sim;

use std::time::Duration;

use dhtchat::proto::{Config, Dialect, DropReason, Event, GroupSpec, Privacy};
use dhtchat::wire::{BloomBuilder, Have, Payload, PublicKey};
use peer::{Fixture, Peer, admit, drain, fixture, fixture_with};
use sim::{LinkModel, Sim, build_group};

fn quiet(c: &mut Config) {
    c.ping_interval = Duration::from_secs(3600);
    c.peer_timeout = Duration::from_secs(7200);
}

/// A group of `n` configured by `configure`, converged 30 s after its first join.
fn settled_group(seed: u64, n: usize, configure: fn(&mut Config)) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    build_group(
        &mut sim,
        n,
        &GroupSpec::default(),
        Duration::from_millis(50),
        configure,
    );
    sim.run_until(Duration::from_secs(30));
    sim
}

/// A converged group of `n` with no broadcast in the last seconds (every repair cache empty).
fn idle_group(seed: u64, n: usize) -> Sim {
    settled_group(seed, n, quiet)
}

/// A converged group of `n` whose members ping every 0.2–0.6 s: always active (§6.11), and
/// nothing but pings.
fn pinging_group(seed: u64, n: usize) -> Sim {
    settled_group(seed, n, |c| c.ping_interval = Duration::from_millis(400))
}

/// How many times node `i` delivered the chat `text`.
fn got(sim: &Sim, i: usize, text: &str) -> usize {
    sim.nodes[i]
        .events
        .iter()
        .filter(|(_, _, e)| {
            matches!(e, Event::MessageReceived { text: t, .. } if t.as_slice() == text.as_bytes())
        })
        .count()
}

fn chat(sim: &mut Sim, from: usize, text: &str) {
    sim.with_node(from, |node, now, g| node.send_chat(now, g, text.as_bytes()))
        .unwrap();
}

/// Cuts node `x` off, sends `text` from node 0, lets every relayed copy die, then heals.
fn miss_then_heal(sim: &mut Sim, x: usize, text: &str) {
    let n = sim.nodes.len();
    sim.partition = Some((0..n).map(|i| i == x).collect());
    chat(sim, 0, text);
    sim.run_for(Duration::from_millis(500));
    assert_eq!(got(sim, x, text), 0, "the cut-off node saw no copy");
    sim.partition = None;
}

#[test]
fn the_first_broadcast_after_a_silence_reaches_a_node_that_missed_every_copy() {
    let mut sim = idle_group(11, 20);
    let x = 7;
    let repairs = |s: &Sim| s.nodes.iter().map(|n| n.node.stats().repairs).sum::<u64>();
    let before = repairs(&sim);
    miss_then_heal(&mut sim, x, "after the silence");
    // Node x holds nothing recent, so it sends no summaries: it is repaired by asking back
    // when an active node's summary lists what it lacks.
    let ok = sim.drive_until(Duration::from_secs(2), |s| {
        got(s, x, "after the silence") == 1
    });
    assert!(ok, "repaired within 2 s");
    sim.run_for(Duration::from_secs(4));
    for i in 1..20 {
        assert_eq!(
            got(&sim, i, "after the silence"),
            1,
            "node {i} exactly once"
        );
    }
    let resent = repairs(&sim) - before;
    assert!((1..=10).contains(&resent), "{resent} re-sent copies");
}

#[test]
fn an_active_node_pulls_a_broadcast_it_missed() {
    let mut sim = idle_group(12, 20);
    let x = 5;
    chat(&mut sim, 3, "warm up");
    sim.run_for(Duration::from_millis(300));
    assert_eq!(got(&sim, x, "warm up"), 1);
    miss_then_heal(&mut sim, x, "missed");
    let ok = sim.drive_until(Duration::from_secs(1), |s| got(s, x, "missed") == 1);
    assert!(ok, "pulled within 1 s");
    sim.run_for(Duration::from_secs(4));
    assert_eq!(got(&sim, x, "missed"), 1, "exactly once");
    let summaries: u64 = sim.nodes.iter().map(|n| n.node.stats().summaries).sum();
    assert!(summaries > 0);
}

#[test]
fn an_idle_group_sends_no_summaries() {
    let mut sim = idle_group(13, 10);
    chat(&mut sim, 0, "one");
    sim.run_for(Duration::from_secs(10));
    let before: u64 = sim.nodes.iter().map(|n| n.node.stats().summaries).sum();
    sim.run_for(Duration::from_secs(20));
    let after: u64 = sim.nodes.iter().map(|n| n.node.stats().summaries).sum();
    assert!(before > 0, "summaries while the message was recent");
    assert_eq!(after, before, "none once every cache expired");
}

/// Sends `n` chats from the fixture's node and drops the datagrams they caused.
fn own_chats(f: &mut Fixture, n: usize) {
    for k in 0..n {
        f.node
            .send_chat(f.now, f.group, format!("chat {k}").as_bytes())
            .unwrap();
    }
    drain(&mut f.node);
}

fn secure() -> Fixture {
    fixture(Dialect::Secure, Privacy::Public)
}

/// A have from `peer` holding `items` (origin, number), complete for the last 8 s.
fn have(peer: &mut Peer, to: PublicKey, flags: u8, items: &[(PublicKey, u32)]) -> Vec<u8> {
    have_span(peer, to, (flags, 8000), items)
}

fn have_span(
    peer: &mut Peer,
    to: PublicKey,
    (flags, span_ms): (u8, u16),
    items: &[(PublicKey, u32)],
) -> Vec<u8> {
    let mut bloom = BloomBuilder::new(items.len(), 10, 5, 42);
    items.iter().for_each(|(o, n)| bloom.insert(o, *n));
    peer.packet(to, &Payload::Have(bloom.have(flags, span_ms)))
}

#[test]
fn a_have_from_a_stranger_is_dropped_and_answered_with_nothing() {
    let mut f = secure();
    own_chats(&mut f, 3);
    let node = &mut f.node;
    let mut stranger = Peer::new(60);
    let later = f.now + Duration::from_secs(1);
    let ask = have(&mut stranger, f.key, 0, &[]);
    node.handle_datagram(later, stranger.addr, &ask);
    assert_eq!(node.stats().dropped(DropReason::UnknownSender), 1);
    assert!(drain(node).is_empty());
}

#[test]
fn a_have_is_answered_with_what_it_lacks_within_the_caps() {
    let mut f = secure();
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    own_chats(&mut f, 20);
    let node = &mut f.node;
    let own = f.key;
    // Kept: number 1 (the new_peer that announced bob), then the chats 2..=21. Half a second
    // later the group is still active, so it never asks back.
    let later = f.now + Duration::from_millis(500);

    // Holding 1..=21 but 17: only 17 comes back.
    let holds: Vec<_> = (1..=21).filter(|&n| n != 17).map(|n| (own, n)).collect();
    let ask = have(&mut bob, f.key, 0, &holds);
    node.handle_datagram(later, bob.addr, &ask);
    let out = drain(node);
    assert_eq!(out.len(), 1, "one broadcast, and no summary back");
    let plain = bob.open(&out[0].1);
    let Payload::Broadcast(b) = Payload::decode(&plain).unwrap() else {
        panic!("expected a broadcast");
    };
    assert_eq!((b.origin, b.number), (own, 17));

    // An empty summary gets the cap (16 of the 21 kept), oldest first.
    let ask = have(&mut bob, f.key, 0, &[]);
    node.handle_datagram(later, bob.addr, &ask);
    let numbers: Vec<u32> = drain(node)
        .iter()
        .filter_map(|(_, d)| match Payload::decode(&bob.open(d)) {
            Ok(Payload::Broadcast(b)) => Some(b.number),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());

    // A summary complete for only 600 ms gets nothing older than 600 − 250 ms.
    let ask = have_span(&mut bob, f.key, (0, 600), &[]);
    node.handle_datagram(later, bob.addr, &ask);
    assert!(drain(node).is_empty());
    assert_eq!(node.stats().repairs, 17);
}

#[test]
fn broadcasts_younger_than_the_grace_are_not_re_sent() {
    // The grace is 30 ms; with the eager tree's IHAVEs on, 30 ms + IHAVE batch (100 ms) +
    // GRAFT timer (20 ms), so the GRAFT comes first (PROTOCOL.md §6.11).
    let random_relay: fn(&mut Config) = |c| c.eager_tree = false;
    let tree: fn(&mut Config) = |c| c.eager_tree = true;
    for (configure, grace) in [(random_relay, 30), (tree, 150)] {
        let mut f = fixture_with(Dialect::Secure, Privacy::Public, configure);
        let mut bob = Peer::new(1);
        admit(&mut f, &mut bob);
        own_chats(&mut f, 2);
        let node = &mut f.node;
        let ask = have(&mut bob, f.key, 0, &[]);
        node.handle_datagram(f.now + Duration::from_millis(grace - 1), bob.addr, &ask);
        assert!(drain(node).is_empty(), "still in flight ({grace} ms)");
        let ask = have(&mut bob, f.key, 0, &[]);
        node.handle_datagram(f.now + Duration::from_millis(grace), bob.addr, &ask);
        let out = drain(node);
        assert_eq!(
            out.len(),
            3,
            "the new_peer for bob and the 2 chats ({grace} ms)"
        );
    }
}

#[test]
fn an_inactive_node_asks_back_once_and_never_answers_a_reply() {
    let mut f = secure();
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    let node = &mut f.node;
    // The new_peer that announced bob is more than 1 s old: we are no longer active.
    let later = f.now + Duration::from_secs(4);
    let someone = (PublicKey([0x77; 32]), 3);
    let reply = have(&mut bob, f.key, Have::REPLY, &[someone]);
    node.handle_datagram(later, bob.addr, &reply);
    assert!(drain(node).is_empty(), "a reply is never answered");
    let ask = have(&mut bob, f.key, 0, &[someone]);
    node.handle_datagram(later, bob.addr, &ask);
    let out = drain(node);
    assert_eq!(out.len(), 1);
    let plain = bob.open(&out[0].1);
    let Payload::Have(back) = Payload::decode(&plain).unwrap() else {
        panic!("expected a summary back");
    };
    assert!(back.has(Have::REPLY));
    assert!(
        back.holds(&f.key, 1),
        "the new_peer for bob is still listed (8 s)"
    );
    let empty = have(&mut bob, f.key, 0, &[]);
    node.handle_datagram(later, bob.addr, &empty);
    assert!(
        drain(node).is_empty(),
        "an empty summary shows nothing to ask for"
    );
}

/// Summaries `f`'s node sends in the `ms` milliseconds after `chats` own chats, its timers
/// run every 5 ms.
fn summaries_after(chats: usize, ms: u64) -> u64 {
    let mut f = secure();
    for i in 1..=3 {
        admit(&mut f, &mut Peer::new(i));
    }
    drain(&mut f.node);
    let before = f.node.stats().summaries;
    own_chats(&mut f, chats);
    for _ in 0..ms / 5 {
        f.now += Duration::from_millis(5);
        f.node.handle_timeout(f.now);
        drain(&mut f.node);
    }
    f.node.stats().summaries - before
}

#[test]
fn with_the_eager_tree_a_busy_group_paces_its_summaries() {
    // `have_interval` 50 ms jittered to 25–75 ms while the group is active (1 s); with 40
    // copies kept in the last second the wait is 4 intervals (100–300 ms).
    let quiet = summaries_after(1, 900);
    let busy = summaries_after(40, 900);
    assert!(quiet >= 12, "one chat: the full pace, {quiet} summaries");
    assert!((2..=9).contains(&busy), "40 chats: paced, {busy} summaries");
}

#[test]
fn pings_alone_pace_summaries_to_about_one_a_second_and_a_chat_restores_the_pace() {
    let mut sim = pinging_group(17, 10);
    let summaries = |sim: &Sim| -> u64 { sim.nodes.iter().map(|n| n.node.stats().summaries).sum() };
    let before = summaries(&sim);
    sim.run_for(Duration::from_secs(10));
    // Each node pings every 0.2–0.6 s, so the group is always active (§6.11). At the full
    // pace (25–75 ms) that was about 2,000 summaries in 10 s; with pings alone about one a
    // second a node, each answered by asking back (about 200 in all), and still some: a
    // lost ping is still repaired.
    let pinged = summaries(&sim) - before;
    assert!((50..=300).contains(&pinged), "{pinged} summaries in 10 s");
    let before = summaries(&sim);
    chat(&mut sim, 0, "wake");
    sim.run_for(Duration::from_millis(300));
    let woke = summaries(&sim) - before;
    assert!(
        woke >= 20,
        "a chat is summarised at the full pace: {woke} in 300 ms"
    );
    assert!((1..10).all(|i| got(&sim, i, "wake") == 1));
}

#[test]
fn a_node_that_hears_only_pings_asks_back_for_a_chat_it_missed() {
    // Pings keep every node active (§6.11) but pace its own summaries at 1 s: a node that
    // missed a chat after a silence is repaired by asking back when a neighbour's summary
    // lists what it lacks, as an idle node is, not a second later by its own summary.
    let mut sim = pinging_group(19, 20);
    let x = 7;
    miss_then_heal(&mut sim, x, "after the pings");
    let mut waited = 0;
    while got(&sim, x, "after the pings") == 0 && waited < 3000 {
        sim.run_for(Duration::from_millis(10));
        waited += 10;
    }
    println!("repaired after {waited} ms");
    assert!(waited <= 400, "repaired {waited} ms after the heal");
    sim.run_for(Duration::from_secs(2));
    assert!((1..20).all(|i| got(&sim, i, "after the pings") == 1));
}
