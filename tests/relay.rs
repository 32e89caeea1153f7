//! Broadcast relay scenarios on the simulator: reach, exactly-once delivery, fan-out bound,
//! and delivery under loss, duplication and reordering.
//!
//! These scenarios measure the relay of chat messages only, so the group's periodic ping is
//! set to an hour: every broadcast in flight is one the test sent. Convergence with default
//! timers is covered in `dht.rs`.

mod sim;

use std::collections::HashMap;
use std::time::Duration;

use dhtchat::proto::{Config, Event, GroupSpec};
use dhtchat::wire::PublicKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim, build_group};

fn quiet(c: &mut Config) {
    c.ping_interval = Duration::from_secs(3600);
    c.peer_timeout = Duration::from_secs(7200);
}

/// 200 nodes joined one by one (100 ms apart) and left to settle until 60 virtual seconds.
fn converged_200(seed: u64, link: LinkModel) -> Sim {
    converged_200_with(seed, link, quiet)
}

fn converged_200_with(seed: u64, link: LinkModel, configure: fn(&mut Config)) -> Sim {
    let mut sim = Sim::new(seed, link);
    let spec = GroupSpec::default();
    build_group(&mut sim, 200, &spec, Duration::from_millis(100), configure);
    sim.run_until(Duration::from_secs(60));
    sim
}

/// (origin, number) → how many times each node delivered it.
fn deliveries(sim: &Sim) -> Vec<HashMap<(PublicKey, u32), usize>> {
    sim.nodes
        .iter()
        .map(|n| {
            let mut seen = HashMap::new();
            for (_, _, e) in &n.events {
                if let Event::MessageReceived { origin, number, .. } = e {
                    *seen.entry((*origin, *number)).or_insert(0) += 1;
                }
            }
            seen
        })
        .collect()
}

/// Sends `count` chats from random nodes, one every `gap`; returns (sender, origin, number).
fn send_chats(
    sim: &mut Sim,
    count: usize,
    gap: Duration,
    seed: u64,
) -> Vec<(usize, PublicKey, u32)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = sim.nodes.len();
    let mut sent = Vec::new();
    for k in 0..count {
        let from = rng.random_range(0..n);
        let text = format!("message {k} from {from}");
        let (origin, number) = sim.with_node(from, |node, now, g| {
            let number = node.send_chat(now, g, text.as_bytes()).unwrap();
            (node.group_info(g).unwrap().own_key, number)
        });
        sent.push((from, origin, number));
        sim.run_for(gap);
    }
    sent
}

/// Fraction of (message, other node) pairs delivered, and the number of duplicates.
fn score(sim: &Sim, sent: &[(usize, PublicKey, u32)]) -> (f64, usize) {
    let got = deliveries(sim);
    let (mut ok, mut want, mut dups) = (0, 0, 0);
    for (from, origin, number) in sent {
        for (i, seen) in got.iter().enumerate() {
            if i == *from {
                continue;
            }
            want += 1;
            match seen.get(&(*origin, *number)) {
                Some(1) => ok += 1,
                Some(k) => {
                    ok += 1;
                    dups += k - 1;
                }
                None => {}
            }
        }
    }
    (ok as f64 / want as f64, dups)
}

#[test]
fn a_broadcast_from_any_node_reaches_all_200_exactly_once() {
    let mut sim = converged_200(2, LinkModel::default());
    let sent = send_chats(&mut sim, 20, Duration::from_secs(1), 7);
    sim.run_for(Duration::from_secs(5));
    let (ratio, dups) = score(&sim, &sent);
    println!(
        "200 nodes, 20 messages: delivered {:.4}, duplicates {dups}",
        ratio
    );
    assert_eq!(ratio, 1.0);
    assert_eq!(dups, 0);
}

#[test]
fn relays_per_message_per_node_stay_within_the_table_fan_out() {
    // No new_peer announcements either: the window must hold this one message only.
    let silent = |c: &mut Config| {
        quiet(c);
        c.announce_new_peers = false;
    };
    let mut sim = converged_200_with(3, LinkModel::default(), silent);
    let before: Vec<u64> = sim.nodes.iter().map(|n| n.node.stats().relayed).collect();
    let now = sim.now();
    let fan_out: Vec<usize> = sim
        .nodes
        .iter()
        .map(|n| n.node.relay_targets(n.group.unwrap(), now).len())
        .collect();
    send_chats(&mut sim, 1, Duration::from_secs(5), 11);
    let mut worst = 0.0f64;
    for (i, n) in sim.nodes.iter().enumerate() {
        let relayed = n.node.stats().relayed - before[i];
        assert!(
            relayed as usize <= fan_out[i],
            "node {i} relayed {relayed} > fan-out {}",
            fan_out[i]
        );
        worst = worst.max(relayed as f64 / fan_out[i].max(1) as f64);
    }
    println!("max relays / fan-out = {worst:.2}");
}

#[test]
fn with_5pct_loss_1pct_duplication_and_reordering_99pct_arrive_by_relay_alone() {
    let link = LinkModel {
        jitter: Duration::from_millis(30),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    };
    let mut sim = converged_200(4, link);
    let sent = send_chats(&mut sim, 100, Duration::from_millis(200), 13);
    sim.run_for(Duration::from_secs(5));
    let (ratio, dups) = score(&sim, &sent);
    println!(
        "200 nodes, 5% loss, 1% dup, 30 ms jitter, 100 messages: delivered {:.5}, duplicates {dups}, {:?}",
        ratio, sim.counters
    );
    assert!(ratio >= 0.99, "delivered {ratio}");
    assert_eq!(dups, 0);
}
