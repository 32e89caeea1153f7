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

#[test]
fn messages_shown_before_a_kill_9_are_shown_0_further_times() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let join = field(&alice.expect_at("READY", &[]).0, "join").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect_at("READY", &[]).0, "pk").to_owned();
    alice.expect_at("JOIN", &[("pk", &bob_pk)]);
    // The new peer is stored about 1 s after it joined (PROTOCOL.md §6.9).
    std::thread::sleep(Duration::from_secs(2));
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
