//! A frozen member (issue #12): one of eight `dhtchat chat --plain` members is stopped with
//! SIGSTOP for 30 s while the others chat. The others lose nothing between themselves and
//! their messages keep arriving promptly (they route around it); nobody shows it as gone.
//! When it resumes (SIGCONT) it catches up: every message the others sent while it was frozen
//! is shown by it exactly once, live (what still waits in its socket buffer, or repair) or
//! as history (its stalled ticks start a history fetch, PROTOCOL.md §6.13), and it and the
//! others talk again at once.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod churn_support;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use churn_support::{Member, field, free_addr_on, matches};

const N: usize = 8;
const FROZEN: usize = 5;
const FREEZE: Duration = Duration::from_secs(30);
/// A message between live members arrives within this while one is frozen.
const PROMPT: Duration = Duration::from_secs(3);

/// When `m` showed `text` (first time), if it did.
fn shown_at(m: &Member, text: &str) -> Option<Instant> {
    (m.seen.iter())
        .find(|(_, _, l)| matches(l, "MSG", &[("text", text)]).is_some())
        .map(|(_, at, _)| *at)
}

/// How many times `m` showed `text`, live (`MSG`) or as history (`HIST`).
fn times_shown(m: &Member, text: &str) -> usize {
    (m.seen.iter())
        .filter(|(_, _, l)| {
            matches(l, "MSG", &[("text", text)]).is_some()
                || matches(l, "HIST", &[("text", text)]).is_some()
        })
        .count()
}

/// Longest wait after SIGCONT for the frozen member to show everything: the stall is seen
/// at its first tick, the fetch starts 1 s later, young entries wait 3 s for their live copy.
const CATCH_UP: Duration = Duration::from_secs(15);

/// Pumps every member for `d`.
fn pump_for(members: &mut [Member], d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        members.iter_mut().for_each(Member::pump);
    }
}

#[test]
fn a_member_frozen_for_30_s_is_routed_around_and_catches_up_when_it_resumes() {
    // Each member on a loopback IP of its own, as on hosts of their own: a node keeps at
    // most 2 table peers per IP (PROTOCOL.md §6.1), so eight members on one IP would form
    // a sparse overlay (2 peers each) in which freezing one can leave another without a
    // path for seconds; that is the one-IP limit's concern, not a frozen member's.
    let mut members: Vec<Member> = (0..N)
        .map(|i| {
            let ip = Ipv4Addr::new(127, 0, 3, 1 + i as u8);
            Member::bound(&format!("m{i}"), free_addr_on(ip))
        })
        .collect();
    members[0].start(&["--create", "frost", "--nick", "m0"]);
    let ready = members[0].expect("READY", &[]);
    let join = field(&ready, "join").to_owned();
    for (i, m) in members.iter_mut().enumerate().skip(1) {
        m.start(&["--join", &join, "--nick", &format!("m{i}")]);
    }
    let mut keys = vec![field(&ready, "pk").to_owned()];
    for m in members.iter_mut().skip(1) {
        keys.push(field(&m.expect("READY", &[]), "pk").to_owned());
    }
    // Everyone has seen everyone join.
    for (i, m) in members.iter_mut().enumerate() {
        for (_, key) in keys.iter().enumerate().filter(|(k, _)| *k != i) {
            m.expect("JOIN", &[("pk", key)]);
        }
    }

    // ... and every joiner finished its join (its history fetch ended): the group is
    // settled. A joiner still being wired in when the freeze starts can get a message of
    // its first seconds late, or only from history (the join's own concern, not a frozen
    // member's: tests/history_live.rs).
    for m in members.iter_mut().skip(1) {
        m.expect("HISTEND", &[]);
    }

    members[FROZEN].signal("STOP");
    let frozen_at = Instant::now();
    let live: Vec<usize> = (0..N).filter(|&i| i != FROZEN).collect();
    let mut said: Vec<(usize, String, Instant)> = Vec::new();
    let mut k = 0;
    while frozen_at.elapsed() < FREEZE {
        let from = live[k % live.len()];
        let text = format!("frozen {k}");
        members[from].say(&text);
        said.push((from, text, Instant::now()));
        k += 1;
        pump_for(&mut members, Duration::from_millis(750));
    }
    pump_for(&mut members, Duration::from_secs(2));
    let mut slowest = Duration::ZERO;
    for (from, text, at) in &said {
        for &r in live.iter().filter(|r| **r != *from) {
            let got = shown_at(&members[r], text);
            let took = got.map(|t| t.saturating_duration_since(*at));
            assert!(
                took.is_some_and(|t| t <= PROMPT),
                "m{r}: {text} from m{from} took {took:?}:\n{}",
                members[r].printed()
            );
            slowest = slowest.max(took.unwrap());
        }
    }
    for &r in &live {
        let gone = (members[r].seen.iter())
            .any(|(_, _, l)| matches(l, "PART", &[("pk", &keys[FROZEN])]).is_some());
        assert!(!gone, "m{r} showed the frozen member as gone");
    }
    println!(
        "while m{FROZEN} was frozen: {} messages, every one at the other {} members, slowest \
         {slowest:?}",
        said.len(),
        live.len() - 1
    );

    if std::env::var("SIGSTOP_DEBUG").is_ok() {
        let port = format!("sport = :{}", members[FROZEN].bind.port());
        let ss = std::process::Command::new("ss")
            .args(["-uanm", &port])
            .output();
        println!(
            "{}",
            ss.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        );
    }
    members[FROZEN].signal("CONT");
    let resumed = Instant::now();
    pump_for(&mut members, Duration::from_secs(3));
    let live_soon = (said.iter())
        .filter(|(_, t, _)| shown_at(&members[FROZEN], t).is_some())
        .count();
    let all_shown = |m: &Member| (said.iter()).all(|(_, t, _)| times_shown(m, t) > 0);
    while !all_shown(&members[FROZEN]) && resumed.elapsed() < CATCH_UP {
        pump_for(&mut members, Duration::from_millis(500));
    }
    let caught_at = resumed.elapsed();
    let as_history = (said.iter())
        .filter(|(_, t, _)| matches_hist(&members[FROZEN], t))
        .count();
    if std::env::var("SIGSTOP_DEBUG").is_ok() {
        println!("{}", members[FROZEN].printed());
    }
    // It talks with everyone again at once ...
    members[FROZEN].say("thawed");
    members[1].say("welcome back");
    pump_for(&mut members, Duration::from_secs(3));
    for &r in &live {
        let got = shown_at(&members[r], "thawed");
        assert!(
            got.is_some_and(|t| t.saturating_duration_since(resumed) <= Duration::from_secs(6)),
            "m{r} got the thawed member's message"
        );
    }
    assert!(shown_at(&members[FROZEN], "welcome back").is_some());
    // ... and shows every message sent while it was frozen exactly once.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, t, _) in &said {
        counts.insert(t, times_shown(&members[FROZEN], t));
    }
    println!(
        "after SIGCONT m{FROZEN} showed all {} messages sent while it was frozen within \
         {caught_at:?}: {live_soon} live within 3 s (socket buffer, repair), {as_history} as \
         history",
        said.len(),
    );
    assert!(
        counts.values().all(|&c| c == 1),
        "each exactly once: {counts:?}\n{}",
        members[FROZEN].printed()
    );
}

/// True if `m` showed `text` as history.
fn matches_hist(m: &Member, text: &str) -> bool {
    (m.seen.iter()).any(|(_, _, l)| matches(l, "HIST", &[("text", text)]).is_some())
}
