//! Signed history with real `dhtchat chat --plain` processes on loopback (issue #12,
//! PROTOCOL.md §6.13): bob is in alice's group, hears "before", and is stopped (SIGTERM);
//! alice says three messages while he is away; bob is started again with only his
//! `--data-dir`. He prints the three as `HIST` lines (fetched from alice, each checked
//! against her signature), then the `HISTEND` divider "— new since you left —", and alice's
//! next message as a live `MSG`. "before", which his store kept, is not shown again.
//!
//! A late joiner gets only what alice keeps: `--history 2` keeps her last two messages, and
//! `/history keep 2` keeps two in that group only, across a restart.
//!
//! Every wait is bounded; a process that does not say what is expected within the bound
//! fails the test with everything it printed.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod plain;

use std::time::{Duration, Instant};

use plain::{Chat, field};

#[test]
fn a_member_back_from_offline_gets_what_it_missed_marked_as_history() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let (ready, _) = alice.expect_at("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let alice_pk = field(&ready, "pk").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect_at("READY", &[]).0, "pk").to_owned();
    alice.expect_at("JOIN", &[("pk", &bob_pk)]);
    alice.say("before");
    bob.expect("MSG", &[("pk", &alice_pk), ("text", "before")]);
    bob.signal("TERM");
    let missed = [
        "while you were out 1",
        "while you were out 2",
        "while you were out 3",
    ];
    for text in missed {
        alice.say(text);
    }
    // Longer than anti-entropy repair keeps copies (3 s, §6.11): only history can bring them.
    alice.drain_for(Duration::from_secs(4));
    let started = Instant::now();
    let mut bob = Chat::start("bob again", dirs[1].path(), &[]);
    bob.expect_at("READY", &[]);
    for text in missed {
        bob.expect(
            "HIST",
            &[("pk", &alice_pk), ("kind", "chat"), ("text", text)],
        );
    }
    let (end, at) = bob.expect_at("HISTEND", &[]);
    println!(
        "bob had the history {:?} after he started ({} messages)",
        at.saturating_duration_since(started),
        field(&end, "messages")
    );
    assert_eq!(field(&end, "text"), "— new since you left —");
    assert_eq!(field(&end, "gaps"), "0");
    let order: Vec<usize> = (missed.iter())
        .map(|t| bob.seen.iter().position(|l| l.ends_with(t)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in the order said");
    let end_line = bob
        .seen
        .iter()
        .position(|l| l.starts_with("HISTEND"))
        .unwrap();
    assert!(
        order.iter().all(|i| *i < end_line),
        "history before the divider"
    );
    alice.say("live now");
    bob.expect("MSG", &[("pk", &alice_pk), ("text", "live now")]);
    bob.drain_for(Duration::from_millis(500));
    assert_eq!(
        bob.count("HIST", &[("text", "before")]),
        0,
        "kept, not shown again"
    );
    assert_eq!(
        bob.count("MSG", &[("text", "while you were out 1")]),
        0,
        "not live too"
    );
}

#[test]
fn a_late_joiner_gets_the_history_alice_keeps_within_her_history_option() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--create", "lobby", "--nick", "alice", "--history", "2"];
    let mut alice = Chat::start("alice", dirs[0].path(), &args);
    let (ready, _) = alice.expect_at("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let alice_pk = field(&ready, "pk").to_owned();
    for text in ["one", "two", "three"] {
        alice.say(text);
    }
    // Past anti-entropy repair's 3 s (§6.11), which would bring them live.
    alice.drain_for(Duration::from_secs(4));
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    bob.expect_at("READY", &[]);
    for text in ["two", "three"] {
        bob.expect(
            "HIST",
            &[("pk", &alice_pk), ("nick", "alice"), ("text", text)],
        );
    }
    let end = bob.expect("HISTEND", &[]);
    assert_eq!(
        field(&end, "messages"),
        "2",
        "alice keeps two (--history 2)"
    );
    bob.drain_for(Duration::from_millis(500));
    assert_eq!(bob.count("HIST", &[("text", "one")]), 0);
    assert_eq!(bob.count("MSG", &[("text", "one")]), 0);
}

/// `/history keep N` (issue #12: history limits per group): alice's group keeps its last
/// two messages, the limit is stored with the group, and after a restart she still keeps
/// (and serves) only those two.
#[test]
fn a_group_keeps_its_own_history_limits_across_a_restart() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--create", "lobby", "--nick", "alice"];
    let mut alice = Chat::start("alice", dirs[0].path(), &args);
    let (ready, _) = alice.expect_at("READY", &[]);
    let alice_pk = field(&ready, "pk").to_owned();
    for text in ["one", "two", "three", "four"] {
        alice.say(text);
    }
    alice.say("/history keep 2");
    let set = alice.expect("INFO", &[]);
    assert!(
        field(&set, "text").contains("keeps its last 2 messages for 7 days"),
        "{set:?}"
    );
    alice.say("/history keep 200000");
    alice.expect("ERROR", &[]);
    alice.signal("TERM");
    assert!(alice.wait_exit().success());

    let mut alice = Chat::start("alice again", dirs[0].path(), &[]);
    let (ready, _) = alice.expect_at("READY", &[]);
    // A new port: the join string through her now.
    let join = field(&ready, "join").to_owned();
    alice.say("/history");
    let shown = alice.expect("INFO", &[]);
    let text = field(&shown, "text");
    assert!(
        text.contains("last 2 messages") && text.contains("own"),
        "{text}"
    );
    // The restored node applies the limit too: "five" pushes "three" out.
    alice.say("five");
    alice.drain_for(Duration::from_secs(4));
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    bob.expect_at("READY", &[]);
    for text in ["four", "five"] {
        bob.expect("HIST", &[("pk", &alice_pk), ("text", text)]);
    }
    let end = bob.expect("HISTEND", &[]);
    assert_eq!(field(&end, "messages"), "2", "the group's own limit");
    bob.drain_for(Duration::from_millis(500));
    assert_eq!(bob.count("HIST", &[("text", "three")]), 0);
}
