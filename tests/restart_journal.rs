//! No re-shows after a kill -9 (PROTOCOL.md §6.9, the marks journal), with real `dhtchat
//! chat --plain` processes on loopback: bob says ten messages, alice shows each and is
//! killed (-9) at once, before the marks she stores every 10 s can hold them; she is started
//! again with only her `--data-dir`. Neither a history fetch (bob keeps all ten) nor bob's
//! repair re-sending the copies it still holds may show them to her again: each is shown
//! 0 further times. A message bob says afterwards still reaches her, once.
//!
//! Every wait is bounded; a failed wait prints everything the process said.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod plain;

use std::time::Duration;

use plain::{Chat, field};

/// How many times `c` showed a message with `text`, live (`MSG`) or as history (`HIST`).
fn showings(c: &Chat, text: &str) -> usize {
    c.count("MSG", &[("text", text)]) + c.count("HIST", &[("text", text)])
}

/// Alice creates a group in `dirs[0]`, bob joins it from `dirs[1]`; returns both and bob's
/// READY fields, once alice saw him join and had time to store him as a peer.
fn alice_and_bob(dirs: &[tempfile::TempDir]) -> (Chat, Chat, Vec<(String, String)>) {
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let join = field(&alice.expect_at("READY", &[]).0, "join").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_ready = bob.expect_at("READY", &[]).0;
    alice.expect_at("JOIN", &[("pk", field(&bob_ready, "pk"))]);
    // The new peer is stored about 1 s after it joined (PROTOCOL.md §6.9).
    std::thread::sleep(Duration::from_secs(2));
    (alice, bob, bob_ready)
}

#[test]
fn messages_shown_before_a_kill_9_are_shown_0_further_times() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, mut bob, bob_ready) = alice_and_bob(&dirs);
    let bob_pk = field(&bob_ready, "pk").to_owned();
    let texts: Vec<String> = (0..10)
        .map(|k| format!("said before the crash {k}"))
        .collect();
    for t in &texts {
        bob.say(t);
    }
    for t in &texts {
        alice.expect_at("MSG", &[("pk", &bob_pk), ("text", t)]);
    }
    alice.signal("KILL");

    let mut alice = Chat::start("alice again", dirs[0].path(), &[]);
    alice.expect_at("READY", &[]);
    // The history fetch ends with HISTEND; young entries wait up to 3 s more.
    alice.expect_at("HISTEND", &[]);
    alice.drain_for(Duration::from_secs(5));
    let again: Vec<(&String, usize)> = (texts.iter())
        .map(|t| (t, showings(&alice, t)))
        .filter(|(_, n)| *n > 0)
        .collect();
    println!(
        "after kill -9: {} of {} messages shown again",
        again.len(),
        texts.len()
    );
    assert!(
        again.is_empty(),
        "shown again: {again:?}\n{}",
        alice.printed()
    );
    bob.say("after the restart");
    alice.expect_at("MSG", &[("pk", &bob_pk), ("text", "after the restart")]);
    alice.drain_for(Duration::from_secs(1));
    assert_eq!(
        showings(&alice, "after the restart"),
        1,
        "{}",
        alice.printed()
    );
}

/// Shown in run 1, not fetched in run 2 (no member that holds it is up), fetched in run 3:
/// shown 0 further times. Alice shows bob's message and is killed (-9) before her store
/// (the journal holds its number, her stored log does not); bob quits (his log holds it);
/// alice runs alone and quits, and her store empties the journal; then bob and alice come
/// back and her fetch brings it from bob's log. The numbers shown before a restart are
/// stored with the marks when the journal is emptied (PROTOCOL.md §6.9), so she knows it.
#[test]
fn a_message_shown_before_two_restarts_is_not_shown_again() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, mut bob, bob_ready) = alice_and_bob(&dirs);
    let (bob_pk, bob_addr) = (field(&bob_ready, "pk"), field(&bob_ready, "addr"));
    let text = "said before two restarts";
    bob.say(text);
    alice.expect_at("MSG", &[("pk", bob_pk), ("text", text)]);
    alice.signal("KILL");
    bob.signal("TERM");
    bob.wait_exit();

    // Run 2: alone; her clean exit stores the marks and empties the journal.
    let mut alice = Chat::start("alice run 2", dirs[0].path(), &[]);
    alice.expect_at("READY", &[]);
    alice.drain_for(Duration::from_secs(2));
    assert_eq!(showings(&alice, text), 0, "{}", alice.printed());
    alice.signal("TERM");
    alice.wait_exit();

    // Run 3: bob is back where she remembers him, with the message in his log.
    // He waits for a member to answer: alice, who finds him at his stored address.
    let mut bob = Chat::start_bound("bob again", dirs[1].path(), bob_addr, &[]);
    let mut alice = Chat::start("alice run 3", dirs[0].path(), &[]);
    alice.expect_at("READY", &[]);
    bob.expect_at("READY", &[]);
    alice.expect_at("HISTEND", &[]);
    alice.drain_for(Duration::from_secs(4));
    let shown = showings(&alice, text);
    println!("shown in run 1, fetched in run 3: shown {shown} further times");
    assert_eq!(shown, 0, "{}", alice.printed());
    bob.say("after two restarts");
    alice.expect_at("MSG", &[("pk", bob_pk), ("text", "after two restarts")]);
}
