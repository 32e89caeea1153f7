//! The real-process churn of `tests/churn.rs` in the deterministic simulator: 20 members
//! under 5 % loss, 1 % duplication and 15 ms jitter; every 1-3 s one member up for 5 s stops,
//! half of them after a quit (SIGTERM) and half without (kill -9), and comes back 1-5 s
//! later on the **same address** (at most 5 down at once), while the joined ones chat every
//! 200-800 ms. A member comes back with what the application stores (PROTOCOL.md §6.9,
//! §6.13): its table, numbers, marks and history log, written every 10 s and on a clean exit
//! (so after a kill -9, as of up to 10 s before), its resumed number stored at once.
//!
//! Counted as `tests/churn_support/tally.rs` counts the real run: a (message, receiver)
//! pair is due when the receiver was joined and up 10 s past the later of the message and
//! its join; it is delivered live (`MessageReceived`) or as history (`HistoryMessage`).
//! Asserted: nothing due is missing. Duplicates are not counted here (the simulated kill -9
//! loses up to 10 s of marks and log, as the real one does: re-shows are the real test's
//! figure).

mod sim;

use std::time::Duration;

use dhtchat::proto::JoinString;
use dhtchat::proto::{Event, GroupSpec, HistoryRecord, Mark};
use dhtchat::wire::NodeInfo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim};

const N: usize = 20;
const WINDOW: Duration = Duration::from_secs(10);

fn spec(i: usize) -> GroupSpec {
    GroupSpec {
        identity_seed: Some([90 + i as u8; 32]),
        nick: format!("n{i}").into_bytes(),
        ..GroupSpec::default()
    }
}

/// What a member's store holds: its table, last number, marks and history log.
type Stored = (Vec<NodeInfo>, u32, Vec<Mark>, Vec<HistoryRecord>);

/// The store's write interval (`PERSIST_EVERY` of the application).
const PERSIST_EVERY: Duration = Duration::from_secs(10);

/// What node `i` would store now.
fn store(sim: &mut Sim, i: usize) -> Stored {
    sim.with_node(i, |node, now, g| {
        (
            node.table(g),
            node.last_number(g).unwrap(),
            node.marks(g).unwrap(),
            node.history_since(g, 0, now).unwrap(),
        )
    })
}

/// One run of a member: (up at, joined at, down at).
type Life = (Duration, Option<Duration>, Option<Duration>);

/// When node `i` was joined at or after `since` (the founder's first run: at once).
fn joined_since(sim: &Sim, i: usize, since: Duration) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(t, _, e)| *t >= since && matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t)
        .or((i == 0 && since == Duration::ZERO).then_some(since))
}

/// Every text node `i` showed, live or as history.
fn shown(sim: &Sim, i: usize) -> std::collections::HashSet<Vec<u8>> {
    (sim.nodes[i].events.iter())
        .filter_map(|(_, _, e)| match e {
            Event::MessageReceived { text, .. } | Event::HistoryMessage { text, .. } => {
                Some(text.clone())
            }
            _ => None,
        })
        .collect()
}

/// Runs the churn for `secs` seconds with `seed`; returns (messages, due pairs, missing).
fn churn(seed: u64, secs: u64) -> (usize, usize, Vec<(String, usize, usize)>) {
    let link = LinkModel {
        jitter: Duration::from_millis(15),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    for i in 0..N {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(0));
    let join0 = sim.join_string(0);
    for i in 1..N {
        sim.join(i, &join0, &spec(i));
    }
    sim.run_for(Duration::from_secs(10));
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut lives: Vec<Vec<Life>> = vec![vec![(Duration::ZERO, None, None)]; N];
    let mut down: Vec<Option<(Duration, Stored)>> = (0..N).map(|_| None).collect();
    let mut stored: Vec<Option<Stored>> = (0..N).map(|_| None).collect();
    let mut next_persist = sim.elapsed();
    let mut said: Vec<(usize, String, Duration)> = Vec::new();
    let begin = sim.elapsed();
    let (mut next_say, mut next_stop) = (begin, begin + Duration::from_secs(2));
    while sim.elapsed() < begin + Duration::from_secs(secs) {
        sim.run_for(Duration::from_millis(50));
        let now = sim.elapsed();
        for i in 0..N {
            if down[i].as_ref().is_some_and(|(at, _)| *at <= now) {
                let (_, mut kept) = down[i].take().unwrap();
                let side: Vec<bool> = down.iter().map(Option::is_some).collect();
                sim.partition = Some(side);
                restart(&mut sim, i, &join0, &kept);
                // The resumed number is stored at once (PROTOCOL.md §6.9).
                kept.1 += 1000;
                stored[i] = Some(kept);
                lives[i].push((now, None, None));
            }
        }
        let side: Vec<bool> = down.iter().map(Option::is_some).collect();
        sim.partition = Some(side);
        for (i, runs) in lives.iter_mut().enumerate() {
            let run = runs.last_mut().unwrap();
            if run.1.is_none() && down[i].is_none() {
                run.1 = joined_since(&sim, i, run.0);
            }
        }
        let live: Vec<usize> = (0..N)
            .filter(|&i| down[i].is_none() && lives[i].last().unwrap().1.is_some())
            .collect();
        if now >= next_persist {
            for &i in &live {
                stored[i] = Some(store(&mut sim, i));
            }
            next_persist = now + PERSIST_EVERY;
        }
        if now >= next_say && !live.is_empty() {
            let from = live[rng.random_range(0..live.len())];
            let text = format!("c{}", said.len());
            sim.with_node(from, |node, now, g| node.send_chat(now, g, text.as_bytes()))
                .unwrap();
            said.push((from, text, now));
            next_say = now + Duration::from_millis(rng.random_range(200..800));
        }
        let downs = down.iter().filter(|d| d.is_some()).count();
        if now >= next_stop && downs < 5 {
            let up_long: Vec<usize> = (live.iter().copied())
                .filter(|&i| lives[i].last().unwrap().0 + Duration::from_secs(5) <= now)
                .collect();
            if !up_long.is_empty() {
                let i = up_long[rng.random_range(0..up_long.len())];
                let quit = rng.random_bool(0.5);
                // SIGTERM stores everything and quits; kill -9 leaves the last store.
                if quit || stored[i].is_none() {
                    stored[i] = Some(store(&mut sim, i));
                }
                if quit {
                    sim.with_node(i, |node, now, g| node.leave_group(now, g).unwrap());
                }
                let kept = stored[i].take().unwrap();
                // The quit leaves before the member is cut off.
                sim.run_for(Duration::from_millis(1));
                lives[i].last_mut().unwrap().2 = Some(sim.elapsed());
                let back = now + Duration::from_millis(rng.random_range(1000..5000));
                down[i] = Some((back, kept));
                let side: Vec<bool> = down.iter().map(Option::is_some).collect();
                sim.partition = Some(side);
            }
            next_stop = now + Duration::from_millis(rng.random_range(1000..3000));
        }
    }
    sim.run_for(WINDOW + Duration::from_secs(1));
    let end = sim.elapsed();
    let shows: Vec<_> = (0..N).map(|i| shown(&sim, i)).collect();
    let (mut due, mut missing) = (0, Vec::new());
    for (from, text, at) in &said {
        for r in (0..N).filter(|r| r != from) {
            let owed = lives[r].iter().any(|(_, joined, gone)| {
                joined.is_some_and(|j| j.max(*at) + WINDOW <= gone.unwrap_or(end))
            });
            if owed {
                due += 1;
                if !shows[r].contains(text.as_bytes()) {
                    missing.push((text.clone(), *from, r));
                }
            }
        }
    }
    (said.len(), due, missing)
}

/// Node `i` comes back on its address with what its store held.
fn restart(sim: &mut Sim, i: usize, join: &JoinString, (table, last, marks, log): &Stored) {
    let mut c = sim.config(i);
    c.rng_seed = [sim.elapsed().as_millis() as u8; 32];
    let addr = sim.nodes[i].addr;
    sim.restart_at(i, c, addr);
    let mut join = *join;
    if let Some(first) = table.first() {
        join.contact = *first;
    }
    sim.join(i, &join, &spec(i));
    sim.with_node(i, |node, now, g| {
        node.restore_marks(g, marks).unwrap();
        node.resume_numbers(g, last + 1000).unwrap();
        node.restore_history(now, g, log).unwrap();
        node.add_contacts(now, g, table).unwrap();
    });
}

/// Each of these seeds lost pairs before the fixes: seeds 3, 4 and 8 when a returning
/// member's history requests went to peers that had restarted (or forgotten it after its
/// quit) and no longer held it as validated, which refused them without a word
/// (`Group::validate_asker` now asks the asker back); seed 8 also a message its sender sent
/// just before its quit, whose repaired copies were refused as `departed` (a message
/// numbered below the quit and not taken yet is now taken, `Member::check`). Seeds 1, 5, 6
/// and 8 lost 1-12 pairs when a returning member read one member's log, and that member had
/// itself missed what was said around the return (it was away, or had not got it live yet:
/// no gap shows, its chain of `prev` is whole), or when the fetch, reading 120 s before our
/// newest entry at one page per request, did not end within 10 s (a fetch now reads two
/// members' logs, from 30 s before our newest entry, PROTOCOL.md §6.13).
#[test]
fn members_restarting_on_their_address_lose_nothing() {
    assert_seeds(&[1, 2, 3, 4, 5, 6, 7, 8]);
}

/// Runs the seeds on as many threads as the machine has cores (each seed is independent).
fn assert_seeds(seeds: &[u64]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Vec<_> = std::thread::scope(|scope| {
        (seeds.chunks(seeds.len().div_ceil(threads)))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&s| (s, churn(s, 180)))
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().expect("a seed's run panicked"))
            .collect()
    });
    let mut failed = Vec::new();
    for (seed, (said, due, missing)) in results {
        println!(
            "seed {seed}: simulated same-address churn, {said} messages, {due} pairs due, {} \
             missing: {:?}",
            missing.len(),
            &missing[..missing.len().min(20)]
        );
        assert!(due > 1000, "the churn said something");
        if !missing.is_empty() {
            failed.push((seed, missing.len()));
        }
    }
    assert!(failed.is_empty(), "(seed, missing): {failed:?}");
}

/// The asking back of a history request from a member not validated at its address
/// (`Group::validate_asker`) cannot be turned into a reflector: 500 requests in the name of a
/// member, sealed with its key but from an address it never proved, get no page and at most
/// one get_nodes (114 bytes) towards that address while the first is outstanding (5 s).
#[test]
fn history_requests_from_an_unproven_address_get_one_small_request_back() {
    use dhtchat::crypto::{Identity, mac1_nonce, precompute, seal_packet};
    use dhtchat::wire::{HistoryRequest, Payload};
    let mut sim = Sim::new(5, LinkModel::default());
    for i in 0..2 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(0));
    let join = sim.join_string(0);
    sim.join(1, &join, &spec(1));
    sim.run_for(Duration::from_secs(5));
    let member = Identity::from_seed(&[91; 32]);
    let server = sim
        .with_node(0, |n, _, g| n.group_info(g).map(|i| i.own_key))
        .unwrap();
    let victim: std::net::SocketAddr = "127.9.9.9:4000".parse().unwrap();
    sim.listen(victim);
    let before = sim.nodes[0].node.stats().history.pages;
    let shared = precompute(member.keypair(), &server);
    let mut sent = 0;
    for r in 0..500u32 {
        let req = HistoryRequest {
            request_id: r,
            cursor: 0,
            within: u32::MAX,
            origin: None,
            padding: 800,
        };
        let mut counter = [0u8; 8];
        counter[..4].copy_from_slice(&r.to_be_bytes());
        let nonce = mac1_nonce(&counter, None, &server, &member.public_key());
        let mut d = Vec::new();
        let payload = Payload::HistoryRequest(req);
        seal_packet(
            &shared,
            &server,
            &member.public_key(),
            &nonce,
            &payload,
            &mut d,
        )
        .unwrap();
        sent += d.len();
        sim.inject(victim, 0, &d);
        sim.run_for(Duration::from_millis(4));
    }
    let back = sim.take_outbox(&victim);
    let bytes: usize = back.iter().map(Vec::len).sum();
    println!(
        "{sent} request bytes from an unproven address got {} datagrams, {bytes} bytes",
        back.len()
    );
    assert_eq!(sim.nodes[0].node.stats().history.pages, before, "no page");
    assert!(
        back.len() <= 1 && bytes <= 114,
        "{} datagrams, {bytes} bytes",
        back.len()
    );
}

/// More seeds than `cargo test` runs: `DHTCHAT_SEEDS=9-40 cargo test --release --test
/// churn_restart_sim -- --ignored`.
#[test]
#[ignore = "many seeds: DHTCHAT_SEEDS=9-40 cargo test --release --test churn_restart_sim -- --ignored"]
fn more_seeds() {
    let range = std::env::var("DHTCHAT_SEEDS").unwrap_or_else(|_| "9-24".into());
    let (a, b) = range.split_once('-').expect("DHTCHAT_SEEDS is FIRST-LAST");
    let seeds: Vec<u64> = (a.parse().unwrap()..=b.parse().unwrap()).collect();
    assert_seeds(&seeds);
}
