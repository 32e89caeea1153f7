//! History and the live path together (PROTOCOL.md §6.13, "young entries"): a member that
//! joins while others are talking fetches what was said before it came, and gets what is said
//! after it came live. A history fetch must not take a message said after the fetch was
//! triggered (its live copy may still be on its way or lost and waiting for repair): shown as
//! history, the live copy would then be dropped as a duplicate and the message would never
//! be shown as live (README's demo counted 4,898 of 4,900 and waited for the rest).

mod sim;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use dhtchat::crypto::{Identity, open_packet, precompute};
use dhtchat::proto::{Event, GroupSpec};
use dhtchat::wire::{Envelope, MAX_PLAINTEXT, Payload};
use sim::{LinkModel, Sim, Tamper, build_group};

/// Members that talk, and joiners that come while they do.
const TALKERS: usize = 4;
const JOINERS: usize = 8;

fn spec() -> GroupSpec {
    GroupSpec {
        nick: b"n".to_vec(),
        ..GroupSpec::default()
    }
}

/// How node `i` showed each text: (live, as history).
fn showings(sim: &Sim, i: usize) -> HashMap<String, (u32, u32)> {
    let mut out: HashMap<String, (u32, u32)> = HashMap::new();
    for (_, _, e) in &sim.nodes[i].events {
        let (text, live) = match e {
            Event::MessageReceived { text, .. } => (text, true),
            Event::HistoryMessage { text, .. } => (text, false),
            _ => continue,
        };
        let e = out
            .entry(String::from_utf8_lossy(text).into_owned())
            .or_default();
        match live {
            true => e.0 += 1,
            false => e.1 += 1,
        }
    }
    out
}

/// When node `i` first printed `Joined`.
fn joined_at(sim: &Sim, i: usize) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(_, _, e)| matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t)
}

/// Four members talk (each a message every 400 ms, staggered) while eight members join one
/// after the other under 5 % loss, 1 % duplication, 20–150 ms latency and 30 ms jitter. For every joiner: every
/// message said after it was joined is shown live exactly once and never as history; every
/// message said before is shown exactly once (live or as history).
#[test]
fn joiners_get_what_is_said_after_they_joined_live_exactly_once() {
    let link = LinkModel {
        min_latency: Duration::from_millis(20),
        max_latency: Duration::from_millis(150),
        loss: 0.05,
        duplicate: 0.01,
        jitter: Duration::from_millis(30),
    };
    let mut sim = Sim::new(77, link);
    build_group(
        &mut sim,
        1 + TALKERS,
        &spec(),
        Duration::from_millis(200),
        |_| {},
    );
    sim.run_for(Duration::from_secs(5));
    let first_joiner = sim.nodes.len();
    for j in 0..JOINERS {
        let c = sim.config(first_joiner + j);
        sim.add_node(c);
    }
    let mut said: Vec<(String, Duration)> = Vec::new();
    let mut k = 0;
    // 20 s of talk; a joiner every 1.3 s from 0.5 s on.
    while sim.elapsed() < Duration::from_secs(25) {
        let talker = 1 + k % TALKERS;
        let text = format!("t{talker}-{k}");
        sim.with_node(talker, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        said.push((text, sim.elapsed()));
        let j = k / 13;
        if k % 13 == 5 && j < JOINERS {
            let via = 1 + j % TALKERS;
            let js = sim.join_string(via);
            sim.join(first_joiner + j, &js, &spec());
        }
        k += 1;
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(10));
    let (mut after, mut as_history, mut not_once, mut missing) = (0, Vec::new(), Vec::new(), 0);
    for j in 0..JOINERS {
        let i = first_joiner + j;
        let joined = joined_at(&sim, i).expect("joined");
        let shown = showings(&sim, i);
        for (text, at) in &said {
            let (live, hist) = shown.get(text).copied().unwrap_or_default();
            if live + hist == 0 {
                missing += 1;
            } else if live + hist > 1 {
                not_once.push((i, text.clone(), live, hist));
            }
            if *at >= joined {
                after += 1;
                if hist > 0 || live != 1 {
                    as_history.push((i, text.clone(), live, hist));
                }
            }
        }
    }
    println!(
        "{} messages, {JOINERS} joiners: {after} (message, joiner) pairs said after the join; \
         {} of them not shown live exactly once; {} shown more than once; {missing} never shown",
        said.len(),
        as_history.len(),
        not_once.len()
    );
    assert!(not_once.is_empty(), "shown more than once: {not_once:?}");
    assert_eq!(missing, 0, "every message reaches every joiner");
    assert!(
        as_history.is_empty(),
        "said after the join but not shown live exactly once: {as_history:?}"
    );
}

/// The demo's shape (README's first command, `dhtchat demo`), four seeds: 30 nodes join a few
/// milliseconds apart, and 5 publishers send 100 messages at 50 a second as soon as the last
/// one is joined. Every message is shown live exactly once by every other node, never as history:
/// the last joiners' history fetches (1 s after their joins) find messages said after the
/// join whose live copies are still on their way, and must leave them to the live path.
#[test]
fn the_demo_right_after_its_joins_shows_every_message_live_exactly_once() {
    let (mut young, mut bad) = (0, Vec::new());
    for seed in 1..=4 {
        let (y, as_history, other) = demo_shape(seed);
        young += y;
        if (as_history, other) != (0, 0) {
            bad.push((seed, as_history, other));
        }
    }
    println!("demo shape, 4 runs: {young} young entries left to the live path");
    assert!(
        bad.is_empty(),
        "(seed, as history, missing or twice): {bad:?}"
    );
}

/// One run of the demo's shape; returns (young entries, deliveries shown as history,
/// deliveries missing or shown twice).
fn demo_shape(seed: u64) -> (u64, u32, u32) {
    const N: usize = 30;
    let link = LinkModel {
        loss: 0.02,
        jitter: Duration::from_millis(10),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    build_group(&mut sim, N, &spec(), Duration::from_millis(20), |_| {});
    // As the demo: publish once every node is joined (the demo also waits for full tables).
    let all_joined = |s: &Sim| (1..N).all(|i| joined_at(s, i).is_some());
    assert!(
        sim.drive_until(Duration::from_secs(30), all_joined),
        "every node joined"
    );
    let mut said = Vec::new();
    for k in 0..100 {
        let from = 1 + k % 5;
        let text = format!("d{k}");
        sim.with_node(from, |n, now, g| n.send_chat(now, g, text.as_bytes()))
            .expect("send");
        said.push((from, text));
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_secs(10));
    let (mut live_once, mut as_history, mut other) = (0, 0, 0);
    for i in 0..N {
        let shown = showings(&sim, i);
        for (from, text) in &said {
            if *from == i {
                continue;
            }
            match shown.get(text).copied().unwrap_or_default() {
                (1, 0) => live_once += 1,
                (0, 1) => as_history += 1,
                _ => other += 1,
            }
        }
    }
    let young: u64 = (sim.nodes.iter())
        .map(|n| n.node.stats().history.young)
        .sum();
    println!(
        "demo shape, seed {seed}: {live_once} of {} deliveries live exactly once, {as_history} \
         as history, {other} missing or twice; {young} young",
        100 * (N - 1)
    );
    (young, as_history, other)
}

/// Drops, while `block` is set, every datagram to node `j` that carries a broadcast whose
/// body contains `text` (relayed or re-sent by repair).
fn hold_back(joiner: Identity, j: usize, text: &'static [u8], block: Rc<Cell<bool>>) -> Tamper {
    Tamper(Box::new(move |_, to, bytes: &mut Vec<u8>| {
        if to != j || !block.get() {
            return true;
        }
        let Ok(env) = Envelope::new_checked(bytes.as_slice()) else {
            return true;
        };
        let shared = precompute(joiner.keypair(), &env.sender());
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let Ok(plain) = open_packet(&shared, &env, &mut scratch) else {
            return true;
        };
        match Payload::decode(plain) {
            Ok(Payload::Broadcast(b)) => !b.body.windows(text.len()).any(|w| w == text),
            _ => true,
        }
    }))
}

/// The failure the demo showed, made certain: a member says something just after a joiner
/// was joined, and every live copy to the joiner is held back until its history fetch is
/// over (the server it asks holds the message). The fetch must leave that message to the
/// live path: when the copies get through (repair, once the joiner speaks and so sends have
/// summaries), it is shown live, once, never as history. Before the rule, the fetch showed it as history and the live copy was then
/// dropped as a duplicate.
#[test]
fn a_message_said_after_the_join_and_late_live_is_shown_live_not_as_history() {
    let mut sim = Sim::new(9, LinkModel::default());
    build_group(&mut sim, 5, &spec(), Duration::from_millis(200), |_| {});
    sim.run_for(Duration::from_secs(3));
    sim.with_node(1, |n, now, g| n.send_chat(now, g, b"before the join"))
        .expect("send");
    sim.run_for(Duration::from_secs(5));
    let joiner = Identity::from_seed(&[0x5A; 32]);
    let c = sim.config(5);
    let j = sim.add_node(c);
    let block = Rc::new(Cell::new(false));
    let tamper_key = Identity::from_seed(&[0x5A; 32]);
    sim.tamper = Some(hold_back(tamper_key, j, b"late", block.clone()));
    let js = sim.join_string(2);
    let spec = GroupSpec {
        identity_seed: Some(*joiner.seed()),
        ..spec()
    };
    sim.join(j, &js, &spec);
    assert!(sim.drive_until(Duration::from_secs(20), |s| joined_at(s, j).is_some()));
    block.set(true);
    sim.with_node(1, |n, now, g| n.send_chat(now, g, b"late but live"))
        .expect("send");
    let done = |s: &Sim| {
        (s.nodes[j].events.iter()).any(|(_, _, e)| matches!(e, Event::HistoryDone { .. }))
    };
    assert!(
        sim.drive_until(Duration::from_secs(10), done),
        "the fetch ended"
    );
    block.set(false);
    // The joiner speaks: its have summaries (§6.11) bring what it misses.
    sim.with_node(j, |n, now, g| n.send_chat(now, g, b"hello"))
        .expect("send");
    sim.run_for(Duration::from_secs(6));
    let shown = showings(&sim, j);
    let young = sim.nodes[j].node.stats().history.young;
    println!(
        "held back until the fetch ended: shown (live, history) {:?}; before the join {:?}; \
         {young} young",
        shown.get("late but live"),
        shown.get("before the join")
    );
    assert_eq!(shown.get("before the join"), Some(&(0, 1)), "history");
    assert_eq!(shown.get("late but live"), Some(&(1, 0)), "live, once");
}
