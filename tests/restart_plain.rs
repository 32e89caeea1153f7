//! Restarts that keep the group (issue #12, PROTOCOL.md §6.9), with real `dhtchat chat
//! --plain` processes on loopback: alice founds a group with `--bind 127.0.0.1:0`, bob and
//! carol join; alice is stopped (SIGTERM, then kill -9) and started again with only her
//! `--data-dir`, on a new port. Her next message must reach both within 5 s of her READY.
//! A restarted founder whose peers are all offline (stopped with SIGHUP and SIGINT) says so
//! and is READY, and lets them back in. A legacy group carries an 881-byte chat in one message.
//!
//! Every wait is bounded; a process that does not say what is expected within the bound
//! fails the test with everything it printed. The figures (time from send to delivery) are
//! printed with `--nocapture`.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod plain;

use std::path::Path;
use std::time::{Duration, Instant};

use plain::{Chat, field};

/// A restarted member's message reaches everyone within this (issue #12).
const DELIVERY: Duration = Duration::from_secs(5);

/// Alice founds a group (secure, or legacy with `--legacy`), bob and carol join; returns
/// the three with alice's READY fields once everyone has seen everyone.
fn three(dirs: &[tempfile::TempDir], extra: &[&str]) -> ([Chat; 3], Vec<(String, String)>) {
    let mut args = vec!["--create", "lobby", "--nick", "alice"];
    args.extend_from_slice(extra);
    let mut alice = Chat::start("alice", dirs[0].path(), &args);
    let (ready, _) = alice.expect_at("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect_at("READY", &[]).0, "pk").to_owned();
    alice.expect_at("JOIN", &[("pk", &bob_pk)]);
    let mut carol = Chat::start(
        "carol",
        dirs[2].path(),
        &["--join", &join, "--nick", "carol"],
    );
    let carol_pk = field(&carol.expect_at("READY", &[]).0, "pk").to_owned();
    for c in [&mut alice, &mut bob] {
        c.expect_at("JOIN", &[("pk", &carol_pk)]);
    }
    ([alice, bob, carol], ready)
}

/// Restarts alice (`dir`, no other argument) after `signal`; checks she is on a new port
/// with the same key and that her next message reaches bob and carol within [`DELIVERY`];
/// returns the slowest delivery.
fn restart_and_say(
    chats: &mut [Chat; 3],
    dir: &Path,
    signal: &str,
    was: &[(String, String)],
) -> Duration {
    let alice_pk = field(was, "pk").to_owned();
    chats[0].signal(signal);
    let started = Instant::now();
    let mut alice = Chat::start("alice again", dir, &[]);
    let (ready, ready_at) = alice.expect_at("READY", &[]);
    let took = ready_at.saturating_duration_since(started);
    println!("SIG{signal}: the restarted alice was READY {took:?} after she started");
    assert_eq!(
        field(&ready, "pk"),
        alice_pk,
        "same identity after {signal}"
    );
    assert_ne!(field(&ready, "addr"), field(was, "addr"), "a new port");
    let text = format!("back after SIG{signal}");
    let sent = Instant::now();
    alice.say(&text);
    let mut slowest = Duration::ZERO;
    for c in chats[1..].iter_mut() {
        let (_, at) = c.expect_at("MSG", &[("pk", &alice_pk), ("text", &text)]);
        let took = at.saturating_duration_since(sent);
        println!(
            "SIG{signal}: {} got alice's message {took:?} after she sent it",
            c.name
        );
        assert!(took <= DELIVERY, "{}: {took:?} > {DELIVERY:?}", c.name);
        slowest = slowest.max(took);
    }
    chats[0] = alice;
    slowest
}

#[test]
fn a_founder_restarted_after_sigterm_and_after_kill_9_reaches_everyone_within_5_s() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut chats, ready) = three(&dirs, &[]);
    // The new peers are stored about 1 s after they join (PROTOCOL.md §6.9).
    std::thread::sleep(Duration::from_secs(2));
    let term = restart_and_say(&mut chats, dirs[0].path(), "TERM", &ready);
    for c in chats[1..].iter_mut() {
        c.expect_at("PART", &[("pk", field(&ready, "pk")), ("reason", "quit")]);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (again, _) = chats[0].expect_at("READY", &[]);
    let kill = restart_and_say(&mut chats, dirs[0].path(), "KILL", &again);
    println!("slowest delivery: after SIGTERM {term:?}, after kill -9 {kill:?}");
    // Bob and carol still talk to her, with no part in between ...
    // ... and she still knows their nicks (stored), though their name broadcasts are old.
    chats[1].say("still here");
    chats[0].expect_at("MSG", &[("text", "still here"), ("nick", "bob")]);
    let parts = chats[1].count("PART", &[("pk", field(&ready, "pk"))]);
    assert_eq!(
        parts,
        1,
        "only the SIGTERM quit shows as a part:\n{}",
        chats[1].printed()
    );
}

#[test]
fn a_restarted_founder_whose_peers_are_offline_says_so_and_lets_them_back_in() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let (ready, _) = alice.expect_at("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let (bob_ready, _) = bob.expect_at("READY", &[]);
    let bob_pk = field(&bob_ready, "pk").to_owned();
    let bob_addr = field(&bob_ready, "addr").to_owned();
    alice.expect_at("JOIN", &[("pk", &bob_pk)]);
    std::thread::sleep(Duration::from_secs(2));
    // The other clean exits: the terminal went away (SIGHUP), Ctrl-C (SIGINT).
    bob.signal("HUP");
    alice.signal("INT");

    let mut alice = Chat::start("alice alone", dirs[0].path(), &[]);
    let started = Instant::now();
    let (_, ready_at) = alice.expect_at("READY", &[]);
    let said = alice.seen.iter().any(|l| {
        l.starts_with("INFO ") && l.contains("no peer of lobby answered") && l.contains("listening")
    });
    assert!(
        said,
        "the line saying so, before READY:\n{}",
        alice.printed()
    );
    println!(
        "the lonely founder was READY {:?} after it started",
        ready_at.saturating_duration_since(started)
    );

    // Bob comes back where alice remembers him (she is on a new port he cannot know).
    let mut bob = Chat::start_bound("bob again", dirs[1].path(), &bob_addr, &[]);
    bob.expect_at("READY", &[]);
    bob.say("anyone?");
    alice.expect_at("MSG", &[("pk", &bob_pk), ("text", "anyone?")]);
    alice.say("me");
    bob.expect_at("MSG", &[("pk", field(&ready, "pk")), ("text", "me")]);
}

#[test]
fn a_legacy_group_carries_an_881_byte_chat_in_one_message() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut chats, ready) = three(&dirs, &["--legacy"]);
    let alice_pk = field(&ready, "pk").to_owned();
    let text = "x".repeat(881);
    chats[0].say(&text);
    for c in chats[1..].iter_mut() {
        c.expect_at("MSG", &[("pk", &alice_pk), ("text", &text)]);
    }
    // One byte more is sent in two numbered parts.
    chats[0].say(&"y".repeat(882));
    let carol = &mut chats[2];
    carol.drain_for(Duration::from_secs(3));
    let parts: Vec<&str> = (carol.seen.iter())
        .filter(|l| l.starts_with("MSG ") && l.contains("yyy"))
        .map(String::as_str)
        .collect();
    assert_eq!(parts.len(), 2, "{}", carol.printed());
    assert!(
        parts[0].contains("(1/2) ") && parts[1].contains("(2/2) "),
        "{parts:?}"
    );
}
