//! Churn and repair cost on the deterministic simulator (issue #12). Churn: 20 members stop
//! and come back on new addresses under loss while the others chat (see the test). Repair
//! cost (PROTOCOL.md §6.11): 20 members
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

/// The text of a message shown, live or as history (PROTOCOL.md §6.13): both are a showing.
fn shown_text(e: &Event) -> Option<&[u8]> {
    match e {
        Event::MessageReceived { text, .. } | Event::HistoryMessage { text, .. } => Some(text),
        _ => None,
    }
}

/// Chat messages shown by every member, and how many were shown twice.
fn shown(sim: &Sim) -> (u64, u64) {
    let mut total = 0;
    let mut twice = 0;
    for n in &sim.nodes {
        let mut seen = std::collections::HashSet::new();
        for (_, _, e) in &n.events {
            if let Some(text) = shown_text(e) {
                if text.starts_with(b"m ") {
                    total += 1;
                    if !seen.insert(text) {
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

/// A member counts as up this long after it joined (again).
const SETTLED: Duration = Duration::from_secs(2);

/// When node `i` was joined after `since` (its first `Joined` then; the founder at `since`).
fn joined_since(sim: &Sim, i: usize, since: Duration) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(t, _, e)| *t >= since && matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t)
        .or((i == 0 && since == Duration::ZERO).then_some(since))
}

/// Node `i`'s spec: a fixed identity, so a restart keeps its key.
fn spec(i: usize) -> GroupSpec {
    GroupSpec {
        identity_seed: Some([60 + i as u8; 32]),
        nick: format!("n{i}").into_bytes(),
        ..GroupSpec::default()
    }
}

/// What a stopped node's store held: its table, last number and marks.
type Stored = (
    Vec<dhtchat::wire::NodeInfo>,
    u32,
    Vec<dhtchat::proto::Mark>,
    Vec<dhtchat::proto::HistoryRecord>,
);

/// Churn in the simulator: 20 members under 5 % loss, 1 % duplication and 15 ms jitter; every
/// 1.5 s one of them stops (its store written as on SIGTERM, no quit sent: a crash after
/// the last store) and comes back 1–5 s later on a new address; the live ones chat. Every
/// message reaches every member that was up 2 s before it and 5 s after, exactly once, live or
/// as history (a message shown once live and once as history is shown twice).
#[test]
fn twenty_members_churning_in_the_simulator_lose_nothing_and_show_nothing_twice() {
    let link = LinkModel {
        jitter: Duration::from_millis(15),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    };
    let mut sim = Sim::new(91, link);
    for i in 0..N {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(0));
    for i in 1..N {
        sim.run_for(Duration::from_millis(200));
        let join = sim.join_string(i / 2);
        sim.join(i, &join, &spec(i));
    }
    sim.run_for(Duration::from_secs(15));
    let mut rng = ChaCha20Rng::seed_from_u64(91);
    // Per node: (up since, down until) in virtual time; `None` while up.
    let mut up_since = vec![Duration::ZERO; N];
    let mut down: Vec<Option<(Duration, Stored)>> = (0..N).map(|_| None).collect();
    let mut lives: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); N];
    let mut said: Vec<(usize, String, Duration)> = Vec::new();
    let mut restarts = 0u32;
    let start = sim.elapsed();
    let mut k = 0;
    while sim.elapsed() < start + Duration::from_secs(60) {
        let now = sim.elapsed();
        for i in 0..N {
            if let Some((until, _)) = &down[i] {
                if *until <= now {
                    let (_, (table, last, marks, log)) = down[i].take().unwrap();
                    let mut c = sim.config(i);
                    c.rng_seed = [restarts as u8; 32];
                    let addr =
                        std::net::SocketAddr::from(([127, 50, restarts as u8, i as u8], 40000));
                    sim.restart_at(i, c, addr);
                    let mut join = sim.join_string(if i == 0 { 1 } else { 0 });
                    join.contact = table[0];
                    sim.join(i, &join, &spec(i));
                    sim.with_node(i, |node, now, g| {
                        node.restore_marks(g, &marks).unwrap();
                        node.resume_numbers(g, last + 1000).unwrap();
                        node.restore_history(now, g, &log).unwrap();
                        node.add_contacts(now, g, &table).unwrap();
                    });
                    up_since[i] = sim.elapsed();
                    restarts += 1;
                }
            }
        }
        sim.partition = Some((0..N).map(|j| down[j].is_some()).collect());
        let live: Vec<usize> = (0..N).filter(|&i| down[i].is_none()).collect();
        if k % 5 == 4 && live.len() > N - 4 {
            let i = live[rng.random_range(0..live.len())];
            // What the application stores at a clean stop: the table, numbers, marks and
            // history log (PROTOCOL.md §6.9, §6.13).
            let stored = sim.with_node(i, |node, now, g| {
                (
                    node.table(g),
                    node.last_number(g).unwrap(),
                    node.marks(g).unwrap(),
                    node.history_since(g, 0, now).unwrap(),
                )
            });
            if !stored.0.is_empty() {
                lives[i].push((up_since[i], now));
                let back = now + Duration::from_millis(rng.random_range(1000..5000));
                down[i] = Some((back, stored));
                sim.partition = Some((0..N).map(|j| down[j].is_some()).collect());
            }
        }
        // Speakers: members up and joined again for 2 s.
        let live: Vec<usize> = (0..N)
            .filter(|&i| down[i].is_none())
            .filter(|&i| joined_since(&sim, i, up_since[i]).is_some_and(|t| t + SETTLED <= now))
            .collect();
        let from = live[rng.random_range(0..live.len())];
        let text = format!("c {k}");
        sim.with_node(from, |node, now, g| node.send_chat(now, g, text.as_bytes()))
            .unwrap();
        said.push((from, text, sim.elapsed()));
        k += 1;
        sim.partition = Some((0..N).map(|j| down[j].is_some()).collect());
        sim.run_for(Duration::from_millis(300));
    }
    sim.partition = Some((0..N).map(|j| down[j].is_some()).collect());
    sim.run_for(Duration::from_secs(8));
    let end = sim.elapsed();
    for i in 0..N {
        if down[i].is_none() {
            lives[i].push((up_since[i], end));
        }
    }
    // A stopped member is only cut off here (its node runs on, and may hear another stopped
    // one): what it shows while stopped does not count, a process would show nothing.
    let ran = lives.clone();
    // A run counts from when it was joined again (a member answered).
    for (i, runs) in lives.iter_mut().enumerate() {
        for run in runs.iter_mut() {
            run.0 = joined_since(&sim, i, run.0).unwrap_or(end);
        }
    }
    let (mut due, mut missing, mut twice) = (0, Vec::new(), 0);
    for (from, text, at) in &said {
        for r in (0..N).filter(|r| r != from) {
            let up = lives[r].iter().any(|(a, b)| {
                *a + Duration::from_secs(2) <= *at && *b >= *at + Duration::from_secs(5)
            });
            let times = (sim.nodes[r].events.iter())
                .filter(|(t, _, e)| {
                    // A run starts just after its restart: what the stopped node showed
                    // at that very instant, before it was replaced, is not the new one's.
                    *t >= *at
                        && ran[r].iter().any(|(a, b)| *a < *t && *t <= *b)
                        && shown_text(e) == Some(text.as_bytes())
                })
                .count();
            twice += times.saturating_sub(1);
            if up {
                due += 1;
                if times == 0 {
                    missing.push((text.clone(), *from, r));
                }
            }
        }
    }
    println!(
        "simulated churn: {} messages, {restarts} restarts, {due} (message, receiver) pairs due, \
         {} missing, {twice} shown twice",
        said.len(),
        missing.len()
    );
    assert_eq!(twice, 0, "nothing shown twice");
    assert!(missing.is_empty(), "{missing:?}");
}
