//! Broadcast relay scenarios on the simulator: reach, exactly-once delivery, fan-out bounds
//! (eager tree and random relay), delivery under loss, duplication and reordering, with and
//! without repair; and the prune rules of the eager tree (PROTOCOL.md §6.12) on a
//! hand-driven node.
//!
//! These scenarios measure the relay of chat messages only, so the group's periodic ping is
//! set to an hour: every broadcast in flight is one the test sent. Convergence with default
//! timers is covered in `dht.rs`.

mod peer;
mod sim;

use std::collections::HashMap;
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::proto::{Config, Dialect, DropReason, Event, GroupSpec, Privacy, Stats};
use dhtchat::wire::{Broadcast, Payload, Prune, PublicKey};
use peer::{Fixture, Peer, admit, drain, fixture, fixture_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim, build_group};

fn quiet(c: &mut Config) {
    // The tree is on by default (PROTOCOL.md §6.12); set here so these tests exercise it
    // whatever the default, unless they switch it off again.
    c.eager_tree = true;
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

/// Sum of one counter over every node.
fn total(sim: &Sim, f: impl Fn(&Stats) -> u64) -> u64 {
    sim.nodes.iter().map(|n| f(n.node.stats())).sum()
}

/// Datagrams per delivery since `before` (total, eager, lazy, repair), and the deliveries.
fn per_delivery(sim: &Sim, before: &[u64; 5]) -> ([f64; 4], u64) {
    let now = counters(sim);
    let d = (now[4] - before[4]).max(1);
    let r = |i: usize| (now[i] - before[i]) as f64 / d as f64;
    ([r(0), r(1), r(2), r(3)], now[4] - before[4])
}

fn counters(sim: &Sim) -> [u64; 5] {
    [
        total(sim, |s| s.datagrams_out),
        total(sim, |s| s.eager.datagrams),
        total(sim, |s| s.lazy.datagrams),
        total(sim, |s| s.repair_traffic.datagrams),
        total(sim, |s| s.delivered),
    ]
}

/// One message sent into a quiet group whose tree has formed; checks every node's relay
/// count against its eager targets (lower bound) and relay targets (upper bound), and that
/// the broadcasts took fewer than 2.5 eager copies per delivery (a flood: 25).
#[test]
fn on_the_eager_tree_each_node_relays_to_its_eager_targets_and_the_tree_is_sparse() {
    let silent = |c: &mut Config| {
        quiet(c);
        c.announce_new_peers = false;
    };
    let mut sim = converged_200_with(3, LinkModel::default(), silent);
    // Warm-up: the first broadcasts flood every link; their duplicates prune the tree.
    send_chats(&mut sim, 40, Duration::from_millis(100), 5);
    sim.run_for(Duration::from_secs(5));
    let before: Vec<u64> = sim.nodes.iter().map(|n| n.node.stats().relayed).collect();
    let accepted: Vec<u64> = sim.nodes.iter().map(|n| n.node.stats().delivered).collect();

    let base = counters(&sim);
    let now = sim.now();
    // The sender `send_chats` will draw with seed 11, and its key: eager targets are per
    // origin.
    let next = ChaCha20Rng::seed_from_u64(11).random_range(0..sim.nodes.len());
    let origin = sim.with_node(next, |node, _, g| node.group_info(g).unwrap().own_key);
    let eager: Vec<usize> = (sim.nodes.iter())
        .map(|n| n.node.eager_targets(n.group.unwrap(), now, &origin).len())
        .collect();

    let targets: Vec<usize> = (sim.nodes.iter())
        .map(|n| n.node.relay_targets(n.group.unwrap(), now).len())
        .collect();
    let sent = send_chats(&mut sim, 1, Duration::from_secs(5), 11);
    let from = sent[0].0;
    assert_eq!(from, next);
    let later = sim.now();
    let targets_after: Vec<usize> = (sim.nodes.iter())
        .map(|n| n.node.relay_targets(n.group.unwrap(), later).len())
        .collect();
    let (ratio, dups) = score(&sim, &sent);
    assert_eq!((ratio, dups), (1.0, 0), "the tree alone reaches everyone");
    for (i, n) in sim.nodes.iter().enumerate().filter(|(i, _)| *i != from) {
        let relayed = (n.node.stats().relayed - before[i]) as usize;
        // Never to the hop or the origin: at most two eager targets are left out. Never
        // beyond the relay targets: in-links come and go (a new one starts eager), so the
        // bound is the larger target list of before and after.
        // A member's first broadcast (its name) may cross the window too: the upper bound
        // is per accepted broadcast.
        let most = targets[i].max(targets_after[i]);
        let accepted_now = (n.node.stats().delivered - accepted[i]) as usize;
        assert!(
            relayed <= most * accepted_now && relayed + 2 >= eager[i],
            "node {i} relayed {relayed}, eager targets {}, relay targets {most}, accepted {}",
            eager[i],
            accepted_now
        );
    }
    let ([all, copies, lazy, repair], delivered) = per_delivery(&sim, &base);
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    println!(
        "eager tree, 200 nodes, one message: eager targets mean {:.2} (relay targets {:.2}); \
         per delivery: datagrams {all:.2}, eager copies {copies:.2}, lazy {lazy:.2}, repair \
         {repair:.2} ({delivered} deliveries)",
        mean(&eager),
        mean(&targets)
    );
    assert!(delivered >= 199, "{delivered}");
    // The random relay sends about 6 copies per delivery, a flood one per relay target (25
    // here). After the silence the origin's tree is a fresh copy of the shared tree
    // (PROTOCOL.md §6.12), pruned at the first duplicate: 2.75 measured (issue #15); the
    // per-origin trees before that kept 3.5. Since links new while origins' trees exist
    // join those lazy (2026-12-07), the shared tree's new links carry no warm-up
    // duplicates, and this first fresh copy tests them: 2.99-3.02 measured.
    assert!(
        copies < 3.25,
        "the tree is pruned: {copies:.2} copies per delivery"
    );
}

/// The legacy relay (and the secure one with the tree off): each node relays to
/// `relay_fanout` targets drawn at random, never fewer unless it has fewer targets.
#[test]
fn the_random_relay_sends_exactly_relay_fanout_copies_per_node() {
    let random = |c: &mut Config| {
        quiet(c);
        c.announce_new_peers = false;
        c.eager_tree = false;
    };
    let mut sim = converged_200_with(3, LinkModel::default(), random);
    let before: Vec<u64> = sim.nodes.iter().map(|n| n.node.stats().relayed).collect();

    let now = sim.now();
    let fan_out: Vec<usize> = sim
        .nodes
        .iter()
        .map(|n| n.node.relay_targets(n.group.unwrap(), now).len())
        .collect();
    let fanout = sim.config(0).relay_fanout;
    let sent = send_chats(&mut sim, 1, Duration::from_secs(5), 11);
    let mut worst = 0.0f64;
    for (i, n) in sim
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != sent[0].0)
    {
        let relayed = (n.node.stats().relayed - before[i]) as usize;
        let low = fanout.min(fan_out[i].saturating_sub(2));
        assert!(
            (low..=fanout.min(fan_out[i])).contains(&relayed),
            "node {i} relayed {relayed}, fan-out {}, relay_fanout {fanout}",
            fan_out[i]
        );
        worst = worst.max(relayed as f64 / fan_out[i].max(1) as f64);
    }
    println!("random relay: max relays / fan-out = {worst:.2}");
}

fn lossy() -> LinkModel {
    LinkModel {
        jitter: Duration::from_millis(30),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    }
}

#[test]
fn with_5pct_loss_1pct_duplication_and_reordering_the_tree_and_repair_deliver_all_exactly_once() {
    let mut sim = converged_200(4, lossy());
    let base = counters(&sim);
    let (prunes, grafts) = (total(&sim, |s| s.prunes), total(&sim, |s| s.grafts));
    let sent = send_chats(&mut sim, 100, Duration::from_millis(200), 13);
    sim.run_for(Duration::from_secs(5));
    let (ratio, dups) = score(&sim, &sent);
    let ([all, copies, lazy, repair], _) = per_delivery(&sim, &base);
    println!(
        "200 nodes, tree + repair, 5% loss, 1% dup, 30 ms jitter, 100 messages: delivered \
         {ratio:.5}, duplicates {dups}; per delivery: datagrams {all:.2}, eager {copies:.2}, \
         lazy {lazy:.2}, repair {repair:.2}; prunes {}, grafts {} (while sending); {:?}",
        total(&sim, |s| s.prunes) - prunes,
        total(&sim, |s| s.grafts) - grafts,
        sim.counters
    );
    assert_eq!(ratio, 1.0);
    assert_eq!(dups, 0);
}

/// Repair off: no summary is ever sent, so every delivery is the relay's own.
fn no_repair(c: &mut Config) {
    quiet(c);
    c.have_active = Duration::ZERO;
}

#[test]
fn with_5pct_loss_1pct_duplication_and_reordering_99pct_arrive_by_random_relay_alone() {
    let random_alone = |c: &mut Config| {
        no_repair(c);
        c.eager_tree = false;
    };
    let mut sim = converged_200_with(4, lossy(), random_alone);
    let sent = send_chats(&mut sim, 100, Duration::from_millis(200), 13);
    sim.run_for(Duration::from_secs(5));
    let (ratio, dups) = score(&sim, &sent);
    println!(
        "200 nodes, random relay alone (no repair), 5% loss, 1% dup, 30 ms jitter, 100 \
         messages: delivered {ratio:.5}, duplicates {dups}, {:?}",
        sim.counters
    );
    assert_eq!(total(&sim, |s| s.summaries + s.repairs), 0, "repair is off");
    assert!(ratio >= 0.99, "delivered {ratio}");
    assert_eq!(dups, 0);
}

/// A chat from `origin` numbered `n`, signed, as a relay would forward it.
fn signed(origin: &Identity, chat: &[u8; 32], n: u32) -> Broadcast<'static> {
    let mut b = Broadcast {
        origin: origin.public_key(),
        number: n,
        message_id: 64,
        body: b"tree",
        trailer: None,
    };
    b.trailer = Some(origin.sign_broadcast(chat, &b).unwrap());
    b
}

/// The keys of the broadcasts and prunes the node sent, in order.
fn sent_kinds(f: &mut Fixture, peers: &mut [&mut Peer]) -> Vec<(PublicKey, &'static str)> {
    drain(&mut f.node)
        .into_iter()
        .map(|(to, d)| {
            let p = peers.iter_mut().find(|p| p.addr == to).expect("to a peer");
            let kind = match Payload::decode(&p.open(&d)).unwrap() {
                Payload::Broadcast(_) => "copy",
                Payload::Prune(p) if p.origin == PublicKey([0; 32]) => "prune shared",
                Payload::Prune(_) => "prune",
                _ => "other",
            };
            (p.key(), kind)
        })
        .collect()
}

fn eager(f: &Fixture, origin: &PublicKey) -> Vec<PublicKey> {
    let mut keys: Vec<_> = (f.node.eager_targets(f.group, f.now, origin).iter())
        .map(|n| n.key)
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_duplicate_prunes_the_shared_tree_two_in_a_row_the_origin_s_and_a_network_duplicate_nothing() {
    let mut f = fixture_with(Dialect::Secure, Privacy::Public, |c| c.eager_tree = true);
    let (mut a, mut b, mut c) = (Peer::new(1), Peer::new(2), Peer::new(3));
    admit(&mut f, &mut a);
    admit(&mut f, &mut b);
    admit(&mut f, &mut c);
    drain(&mut f.node);
    let chat = f.node.group_info(f.group).unwrap().chat_id.unwrap();
    let origin = Identity::from_seed(&[42; 32]);
    let mut all = [&mut a, &mut b, &mut c];
    let from = |f: &mut Fixture, i: usize, n: u32, all: &mut [&mut Peer; 3]| {
        let d = all[i].packet(f.key, &Payload::Broadcast(signed(&origin, &chat, n)));
        f.node.handle_datagram(f.now, all[i].addr, &d);
        sent_kinds(f, all)
    };
    let (ka, kb, kc) = (all[0].key(), all[1].key(), all[2].key());
    let ko = origin.public_key();
    let copies = from(&mut f, 0, 1, &mut all);
    assert_eq!(
        copies.len(),
        2,
        "a first copy goes to every eager target but the hop"
    );
    assert!(copies.iter().all(|(k, kind)| *k != ka && *kind == "copy"));
    assert!(
        from(&mut f, 0, 1, &mut all).is_empty(),
        "a network duplicate"
    );
    assert_eq!(
        from(&mut f, 1, 1, &mut all),
        [(kb, "prune shared")],
        "one duplicate from b: pruned in the shared tree (Plumtree's rule)"
    );
    assert_eq!(f.node.stats().prunes, 1);
    assert_eq!(
        from(&mut f, 0, 2, &mut all).len(),
        2,
        "b is still eager in the origin's tree"
    );
    assert_eq!(
        from(&mut f, 1, 2, &mut all),
        [(kb, "prune"), (kb, "prune shared")],
        "two in a row: pruned in the origin's tree and the shared tree"
    );
    assert_eq!(f.node.stats().dropped(DropReason::Duplicate), 3);
    assert!(!eager(&f, &ko).contains(&kb));
    assert_eq!(from(&mut f, 0, 3, &mut all), [(kc, "copy")], "b is lazy");
    // A prune from c: it gets no copies either.
    let prune = Payload::Prune(Prune {
        flags: 0,
        origin: ko,
    });
    let prune = all[2].packet(f.key, &prune);
    f.node.handle_datagram(f.now, all[2].addr, &prune);
    assert!(from(&mut f, 0, 4, &mut all).is_empty(), "b and c are lazy");
    // A first copy from a pruned link (what a repair does) does not graft while IHAVEs are
    // on: only a GRAFT does (tests/plumtree.rs).
    assert_eq!(from(&mut f, 1, 5, &mut all), [(ka, "copy")]);
    assert_eq!(f.node.stats().grafts, 0);
    assert_eq!(eager(&f, &ko), [ka]);
}

#[test]
fn a_prune_from_a_stranger_or_in_a_legacy_group_changes_nothing() {
    let mut f = fixture_with(Dialect::Secure, Privacy::Public, |c| c.eager_tree = true);
    let mut a = Peer::new(1);
    admit(&mut f, &mut a);
    let mut stranger = Peer::new(60);
    let ka = a.key();
    let prune = Payload::Prune(Prune {
        flags: 0,
        origin: ka,
    });
    let prune = &prune;
    let prune = stranger.packet(f.key, prune);
    f.node.handle_datagram(f.now, stranger.addr, &prune);
    assert_eq!(f.node.stats().dropped(DropReason::UnknownSender), 1);
    // A's key from another address is not A.
    let mut moved = Peer::new(1);
    moved.addr = stranger.addr;
    let prune = moved.packet(
        f.key,
        &Payload::Prune(Prune {
            flags: 0,
            origin: ka,
        }),
    );
    f.node.handle_datagram(f.now, moved.addr, &prune);
    assert_eq!(f.node.stats().dropped(DropReason::UnknownSender), 2);
    assert_eq!(eager(&f, &ka), [a.key()]);

    let mut legacy = fixture(Dialect::Legacy, Privacy::Public);
    let mut b = Peer::new(2);
    admit(&mut legacy, &mut b);
    let prune = Payload::Prune(Prune {
        flags: 0,
        origin: b.key(),
    });
    let prune = b.packet(legacy.key, &prune);
    legacy.node.handle_datagram(legacy.now, b.addr, &prune);
    assert_eq!(legacy.node.stats().dropped(DropReason::WrongDialect), 1);
    assert_eq!(
        eager(&legacy, &b.key()),
        [b.key()],
        "legacy groups have no tree"
    );
}

/// Publishes from `publishers` (node indices), round robin, `rate` messages per second for
/// `secs` seconds; returns (sender, origin, number).
fn publish(
    sim: &mut Sim,
    publishers: &[usize],
    rate: u32,
    secs: u32,
) -> Vec<(usize, PublicKey, u32)> {
    let mut sent = Vec::new();
    for k in 0..(rate * secs) as usize {
        let from = publishers[k % publishers.len()];
        let (origin, number) = sim.with_node(from, |node, now, g| {
            let number = node.send_chat(now, g, b"steady").unwrap();
            (node.group_info(g).unwrap().own_key, number)
        });
        sent.push((from, origin, number));
        sim.run_for(Duration::from_secs(1) / rate);
    }
    sent
}

/// The bench's load on the simulator (10 publishers, 50 messages per second, 50 nodes, tree
/// on): every message reaches every node exactly once; prints datagrams per delivery by kind,
/// prunes, grafts, IHAVEs, summaries and the delivery delays (issue #15: counts that do not
/// depend on the machine), and at most 1.5 datagrams of all kinds per delivery.
#[test]
fn under_steady_load_the_tree_settles_at_about_one_copy_per_delivery() {
    let mut sim = Sim::new(5, LinkModel::default());
    // The tree's tuned summary interval (benches/README.md, "Tuning the eager tree").
    let configure = |c: &mut Config| {
        quiet(c);
        c.have_interval = Duration::from_millis(250);
    };
    build_group(
        &mut sim,
        50,
        &GroupSpec::default(),
        Duration::from_millis(100),
        configure,
    );
    sim.run_until(Duration::from_secs(30));
    let publishers: Vec<usize> = (0..10).map(|i| i * 5).collect();
    let warm = publish(&mut sim, &publishers, 50, 4);
    let base = counters(&sim);
    let ctl = |sim: &Sim| {
        [
            total(sim, |s| s.prunes),
            total(sim, |s| s.grafts),
            total(sim, |s| s.grafts_sent),
            total(sim, |s| s.ihaves),
            total(sim, |s| s.summaries),
        ]
    };
    let c0 = ctl(&sim);
    let start = sim.elapsed();
    let sent = publish(&mut sim, &publishers, 50, 6);
    // Counted 500 ms after the last send (every copy has arrived: max delay 178 ms): the
    // IHAVEs every node sends when its group falls silent, 1 s later, are not steady load
    // (about 0.06 datagrams per delivery of this 6 s window).
    sim.run_for(Duration::from_millis(500));
    let ([all, copies, lazy, repair], delivered) = per_delivery(&sim, &base);
    let c1 = ctl(&sim);
    sim.run_for(Duration::from_millis(2500));
    let lat = latencies(&sim, &sent, start, 50);
    let d: Vec<u64> = c0.iter().zip(c1).map(|(a, b)| b - a).collect();
    let (ratio, dups) = score(&sim, &[warm, sent].concat());
    println!(
        "steady: delivered {ratio:.5}, duplicates {dups}; per delivery: datagrams {all:.3}, \
         eager {copies:.3}, lazy {lazy:.3}, repair {repair:.3} ({delivered} deliveries); \
         prunes {}, grafts {}, grafts_sent {}, ihaves {}, summaries {}; latency p99 {:?} max {:?}",
        d[0],
        d[1],
        d[2],
        d[3],
        d[4],
        lat[lat.len() * 99 / 100],
        lat[lat.len() - 1]
    );
    assert_eq!((ratio, dups), (1.0, 0));
    // Measured 1.372 (eager 1.033, lazy 0.262, repair 0.002): issue #15's 1.5.
    assert!(all <= 1.5, "{all:.3} datagrams per delivery");
}

/// Delivery delays of `sent` (published from `start`, `rate` per second, in order), sorted.
fn latencies(
    sim: &Sim,
    sent: &[(usize, PublicKey, u32)],
    start: Duration,
    rate: u32,
) -> Vec<Duration> {
    let at: HashMap<(PublicKey, u32), Duration> = (sent.iter().enumerate())
        .map(|(k, (_, o, n))| ((*o, *n), start + Duration::from_secs(1) / rate * k as u32))
        .collect();
    let mut out: Vec<Duration> = (sim.nodes.iter())
        .flat_map(|n| n.events.iter())
        .filter_map(|(t, _, e)| match e {
            Event::MessageReceived { origin, number, .. } => {
                at.get(&(*origin, *number)).map(|s| t.saturating_sub(*s))
            }
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out
}
