//! Repair cost (issue #12, PROTOCOL.md §6.11), on the deterministic simulator: 20 members
//! chat at 5 messages per second with 0 % and with 5 % loss (and 1 % duplication and
//! reordering); every message reaches every member exactly once, and the bytes of have
//! summaries and re-sent broadcasts per delivered message are printed (run with
//! `--nocapture`). The figures are reported, not asserted: even without loss the 15 ms
//! jitter makes a summary overtake a relayed copy now and then, and the copy is re-sent.

mod sim;

use std::time::Duration;

use dhtchat::proto::{Event, GroupSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim, build_group};

const N: usize = 20;
const MESSAGES: usize = 300;

/// Chat messages shown by every member, and how many were shown twice.
fn shown(sim: &Sim) -> (u64, u64) {
    let mut total = 0;
    let mut twice = 0;
    for n in &sim.nodes {
        let mut seen = std::collections::HashSet::new();
        for (_, _, e) in &n.events {
            if let Event::MessageReceived { text, .. } = e {
                if text.starts_with(b"m ") {
                    total += 1;
                    if !seen.insert(text.clone()) {
                        twice += 1;
                    }
                }
            }
        }
    }
    (total, twice)
}

/// Runs the chat at `loss`; returns (delivered, summary bytes, repair bytes, all bytes out).
fn run(seed: u64, loss: f64) -> (u64, u64, u64, u64) {
    let link = LinkModel {
        jitter: Duration::from_millis(15),
        loss,
        duplicate: if loss > 0.0 { 0.01 } else { 0.0 },
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    build_group(
        &mut sim,
        N,
        &GroupSpec::default(),
        Duration::from_millis(200),
        |_| {},
    );
    sim.run_for(Duration::from_secs(30));
    let totals = |s: &Sim| {
        s.nodes.iter().fold((0, 0, 0), |(a, b, c), n| {
            let st = n.node.stats();
            (a + st.summary_bytes, b + st.repair_bytes, c + st.bytes_out)
        })
    };
    let before = totals(&sim);
    let (before_shown, _) = shown(&sim);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for k in 0..MESSAGES {
        let from = rng.random_range(0..N);
        let text = format!("m {k} {}", "x".repeat(80));
        sim.with_node(from, |node, now, g| node.send_chat(now, g, text.as_bytes()))
            .unwrap();
        sim.run_for(Duration::from_millis(200));
    }
    sim.run_for(Duration::from_secs(10));
    let (total, twice) = shown(&sim);
    let want = (MESSAGES * (N - 1)) as u64;
    assert_eq!(twice, 0, "loss {loss}: nothing shown twice");
    assert_eq!(
        total - before_shown,
        want,
        "loss {loss}: every message everywhere"
    );
    let after = totals(&sim);
    (
        total,
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
    )
}

#[test]
fn repair_bytes_per_delivered_message_at_0_and_5_percent_loss() {
    for loss in [0.0, 0.05] {
        let (delivered, summaries, repairs, all) = run(31, loss);
        let per = |b: u64| b as f64 / delivered as f64;
        println!(
            "loss {:>2.0} %: {delivered} deliveries; per delivered message: have summaries {:.1} B, \
             re-sent broadcasts {:.1} B, repair total {:.1} B, all traffic {:.1} B",
            loss * 100.0,
            per(summaries),
            per(repairs),
            per(summaries + repairs),
            per(all)
        );
    }
}
