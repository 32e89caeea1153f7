//! Churn with real processes (issue #12): 20 `dhtchat chat --plain` members behind a
//! loopback proxy that loses 5 %, duplicates 1 % and reorders 2 % of the datagrams; once the
//! group has formed (10 s), each is repeatedly stopped (SIGTERM or kill -9) and restarted
//! from its data directory on the same address while the live ones chat. Every message a
//! live member sent reaches every member that was READY 2 s before it was sent and stayed up
//! 5 s after; no member exits unless stopped, and none panics; no member shows a message
//! twice, except one it showed in a run ended by kill -9 and was brought again by repair
//! after the restart (its marks are stored every 10 s, PROTOCOL.md §6.9 and C.1: counted
//! and printed, the "0 duplicates" is not met there).
//!
//! Ignored until it passes (see the reason); `cargo test --test churn -- --ignored` runs 30 s
//! of churn, `DHTCHAT_CHURN_SECS=180` the 3 minutes. The figures (deliveries, delays, proxy counts, restarts) are printed
//! with `--nocapture`.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod churn_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use churn_support::{Impairment, Member, Proxy, field, matches};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const N: usize = 20;
/// A receiver counts if it was READY this long before a message was sent ...
const READY_BEFORE: Duration = Duration::from_secs(2);
/// ... and stayed up this long after.
const UP_AFTER: Duration = Duration::from_secs(5);
/// The group forms for this long before the churn starts.
const SETTLE: Duration = Duration::from_secs(10);
/// At most this many members are down at once.
const MAX_DOWN: usize = 5;

fn churn_time() -> Duration {
    let secs = std::env::var("DHTCHAT_CHURN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Starts the group: member 0 founds it, the others join through its front; returns the
/// members' keys once all are READY.
fn start_all(members: &mut [Member], proxy: &Proxy) -> Vec<String> {
    members[0].start(&["--create", "churn", "--nick", "m0"]);
    let ready = members[0].expect("READY", &[]);
    let join = proxy.rewrite(field(&ready, "join"), 0);
    let mut keys = vec![field(&ready, "pk").to_owned()];
    for (i, m) in members.iter_mut().enumerate().skip(1) {
        m.start(&["--join", &join, "--nick", &format!("m{i}")]);
    }
    for m in members.iter_mut().skip(1) {
        keys.push(field(&m.expect("READY", &[]), "pk").to_owned());
    }
    keys
}

/// A message sent: its text, sender, and when the sender showed it.
struct Sent {
    text: String,
    from: usize,
    at: Instant,
}

/// Every `c…` message each member showed as its own.
fn sent(members: &[Member], keys: &[String]) -> Vec<Sent> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        for (_, at, line) in &m.seen {
            if let Some(f) = matches(line, "MSG", &[("pk", &keys[i])]) {
                let text = field(&f, "text");
                if text.starts_with('c') {
                    out.push(Sent {
                        text: text.to_owned(),
                        from: i,
                        at: *at,
                    });
                }
            }
        }
    }
    out
}

/// The run of `r` that was READY [`READY_BEFORE`] before `at` and up [`UP_AFTER`] after.
fn eligible_run(r: &Member, at: Instant, end: Instant) -> Option<usize> {
    r.lives.iter().position(|l| {
        l.ready.is_some_and(|t| t + READY_BEFORE <= at) && l.ended.unwrap_or(end) >= at + UP_AFTER
    })
}

#[test]
#[ignore = "issue #12 not met yet: about 1-2 % of (message, receiver) pairs are lost (a \
            message from a member stopped soon after, once none of 14 receivers) and kill -9 \
            restarts show repaired messages again; run with -- --ignored --nocapture"]
fn twenty_members_churning_under_loss_lose_nothing_and_show_nothing_twice() {
    let imp = Impairment {
        loss: 0.05,
        duplicate: 0.01,
        reorder: 0.02,
    };
    let mut members: Vec<Member> = (0..N).map(|i| Member::new(&format!("m{i}"))).collect();
    let reals: Vec<_> = members.iter().map(|m| m.bind).collect();
    let proxy = Proxy::start(&reals, imp, 12);
    let keys = start_all(&mut members, &proxy);
    println!("{N} members READY");
    // The group forms first (a burst of 20 joins under loss takes a few seconds to spread:
    // a member whose announcement a node has not taken yet is not heard there, §6.7).
    let settle = Instant::now() + SETTLE;
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
        members.iter_mut().for_each(Member::pump);
    }

    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let mut restart_at: HashMap<usize, Instant> = HashMap::new();
    let (mut seq, mut stops, mut kills) = (0u32, 0u32, 0u32);
    let mut crashed = Vec::new();
    let begin = Instant::now();
    let (mut next_say, mut next_stop) = (begin, begin + Duration::from_secs(2));
    while begin.elapsed() < churn_time() {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        for (i, m) in members.iter_mut().enumerate() {
            m.pump();
            if let Some(status) = m.exited() {
                crashed.push((i, status));
                restart_at.insert(i, now + Duration::from_secs(2));
            }
        }
        for (i, at) in restart_at.clone() {
            if at <= now {
                members[i].start(&[]);
                restart_at.remove(&i);
            }
        }
        let live: Vec<usize> = (0..N)
            .filter(|&i| members[i].running() && members[i].lives.last().unwrap().ready.is_some())
            .collect();
        if now >= next_say && !live.is_empty() {
            let from = live[rng.random_range(0..live.len())];
            members[from].say(&format!("c{seq}"));
            seq += 1;
            next_say = now + Duration::from_millis(rng.random_range(200..800));
        }
        if now >= next_stop && restart_at.len() < MAX_DOWN {
            let up_long: Vec<usize> = (live.iter().copied())
                .filter(|&i| members[i].lives.last().unwrap().started + UP_AFTER <= now)
                .collect();
            if !up_long.is_empty() {
                let i = up_long[rng.random_range(0..up_long.len())];
                let kill = rng.random_bool(0.5);
                members[i].stop(if kill { "KILL" } else { "TERM" });
                if kill {
                    kills += 1;
                } else {
                    stops += 1;
                }
                let down = Duration::from_millis(rng.random_range(1000..5000));
                restart_at.insert(i, Instant::now() + down);
            }
            next_stop = now + Duration::from_millis(rng.random_range(1000..3000));
        }
    }
    // Let the last messages arrive; the members that are down stay down.
    let quiet = Instant::now() + UP_AFTER + Duration::from_secs(2);
    while Instant::now() < quiet {
        std::thread::sleep(Duration::from_millis(100));
        members.iter_mut().for_each(Member::pump);
    }
    let end = Instant::now();
    check(&members, &keys, end, &crashed);
    let [fwd, lost, dup, reord, unknown] = proxy.count();
    println!(
        "churn {:?}: {seq} messages said, {stops} SIGTERM + {kills} kill -9 restarts; proxy: \
         {fwd} forwarded, {lost} lost, {dup} duplicated, {reord} reordered, {unknown} unknown",
        churn_time()
    );
}

/// The assertions over everything printed: deliveries, duplicates, crashes.
fn check(
    members: &[Member],
    keys: &[String],
    end: Instant,
    crashed: &[(usize, std::process::ExitStatus)],
) {
    let all = sent(members, keys);
    let (mut due, mut missing, mut delays) = (0usize, Vec::new(), Vec::new());
    for s in &all {
        for (r, m) in members.iter().enumerate().filter(|(r, _)| *r != s.from) {
            let Some(run) = eligible_run(m, s.at, end) else {
                continue;
            };
            due += 1;
            let got = (m.seen.iter())
                .find(|(rr, _, l)| *rr == run && matches(l, "MSG", &[("text", &s.text)]).is_some());
            match got {
                Some((_, at, _)) => delays.push(at.saturating_duration_since(s.at)),
                None => {
                    let lives = &members[s.from].lives;
                    let k = lives
                        .iter()
                        .position(|l| l.started <= s.at && l.ended.is_none_or(|e| e >= s.at));
                    // How long the sender stayed up after, how it ended, how long it had
                    // been READY, and how its previous run ended.
                    let sender_up = k.map(|k| {
                        let l = &lives[k];
                        let after = l.ended.unwrap_or(end).saturating_duration_since(s.at);
                        let was_ready = l.ready.map(|t| s.at.saturating_duration_since(t));
                        let before = k.checked_sub(1).and_then(|p| lives[p].signal);
                        (after, l.signal, was_ready, before)
                    });
                    let ready = m.lives[run]
                        .ready
                        .map(|t| s.at.saturating_duration_since(t));
                    missing.push((s.text.clone(), s.from, r, sender_up, ready));
                }
            }
        }
    }
    delays.sort();
    let pct = |p: usize| {
        delays
            .get(delays.len() * p / 100)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} messages shown by their senders; {due} (message, receiver) pairs due, {} \
         delivered; delay p50 {:?} p99 {:?} max {:?}",
        all.len(),
        delays.len(),
        pct(50),
        pct(99),
        delays.last().copied().unwrap_or_default()
    );
    let mut dups = Vec::new();
    for (r, m) in members.iter().enumerate() {
        let mut shown: HashMap<String, Vec<usize>> = HashMap::new();
        for (run, _, l) in &m.seen {
            if let Some(p) = dhtchat::app::plain::parse_plain(l).filter(|p| p.kind == "MSG") {
                let text = p.fields.iter().find(|(k, _)| k == "text").map(|(_, v)| v);
                if let Some(t) = text.filter(|t| t.starts_with('c')) {
                    shown.entry(t.clone()).or_default().push(*run);
                }
            }
        }
        // (member, text, the runs that showed it)
        let twice = shown.into_iter().filter(|(_, runs)| runs.len() > 1);
        dups.extend(twice.map(|(t, runs)| (r, t, runs)));
    }
    let panics: Vec<usize> = (0..N)
        .filter(|&i| members[i].stderr().contains("panicked"))
        .collect();
    let why: Vec<String> = (crashed.iter().take(3))
        .map(|(i, _)| format!("m{i}: {}", members[*i].stderr()))
        .collect();
    assert!(
        crashed.is_empty(),
        "members exited by themselves: {:?}\n{why:#?}",
        &crashed[..crashed.len().min(5)]
    );
    assert!(panics.is_empty(), "members panicked: {panics:?}");
    let how: Vec<String> = (dups.iter())
        .map(|(r, t, _)| {
            let m = &members[*r];
            let lives: Vec<String> = (m.lives.iter())
                .map(|l| format!("{:?} {:?}", l.ended.map(|e| e - l.started), l.signal))
                .collect();
            let when: Vec<String> = (m.seen.iter())
                .filter(|(_, _, l)| matches(l, "MSG", &[("text", t)]).is_some())
                .map(|(run, at, l)| format!("run {run} +{:?}: {l}", *at - m.lives[*run].started))
                .collect();
            format!("m{r} lives {lives:?}; {when:#?}")
        })
        .collect();
    // A run ended by kill -9 stored its marks up to 10 s before (PROTOCOL.md §6.9, C.1): a
    // message it showed since then and that repair brings again after the restart is shown
    // again. Counted and printed; every other duplicate fails the test.
    let after_kill = |(r, _, runs): &&(usize, String, Vec<usize>)| {
        let lives = &members[*r].lives;
        runs.windows(2)
            .all(|w| w[0] != w[1] && lives[w[0]].signal == Some("KILL"))
    };
    let (killed, other): (Vec<_>, Vec<_>) = dups.iter().partition(after_kill);
    println!(
        "shown again after a kill -9 restart: {} (member, message) pairs; any other duplicate: \
         {}",
        killed.len(),
        other.len()
    );
    println!("missing: {missing:?}");
    // A member that missed many: what else it printed (parts, joins, notices) and when.
    for (r, m) in members.iter().enumerate() {
        if missing.iter().filter(|x| x.2 == r).count() >= 5 {
            for (run, at, l) in m.seen.iter().filter(|(_, _, l)| !l.starts_with("MSG ")) {
                let t = at.saturating_duration_since(m.lives[0].started);
                println!("m{r} [{run}] +{t:.1?} {}", &l[..l.len().min(120)]);
            }
        }
    }
    assert!(
        other.is_empty(),
        "shown twice (member, text, runs): {other:?}\n{how:#?}"
    );
    assert!(due > 0 && all.len() > 10, "the churn said something");
    assert!(
        missing.is_empty(),
        "{} of {due} not delivered (text, from, to, (sender up after, its end, \
         READY before, its previous end), receiver READY before): \
         {:?}",
        missing.len(),
        &missing[..missing.len().min(30)]
    );
}
