//! `/gc` and `/pm` in the chat front end (issue #14 item 3) with real processes on loopback:
//! one `dhtchat index` and `dhtchat chat --plain --index KEY@IP:PORT` clients on their own
//! data dirs. Alice creates a group chat, adds bob (who finds it within a poll and reads
//! it), renames it (bob may not; he sees her new name), adds carol while carol is offline, removes bob (his window closes and he reads
//! nothing of the new epoch); a PM to carol while she is offline is delivered after her
//! login, marked with its send time, exactly once; carol reads the chat from the epoch she
//! was added in. Group-chat messages between online users go through the index too (polled
//! every 2 s); PMs between online users go direct (`tests/index_pm_direct.rs`). The harness
//! is `tests/index_procs`.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;

use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;
use index_procs::{Proc, start_index, text as text_of};

const PW: &str = "a long enough secret 9Xq";

/// True if a line of `kind` containing `text` shows up within `wait`.
fn sees(p: &mut Proc, kind: &str, text: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = p.lines.recv_timeout(left) else {
            return false;
        };
        p.seen.push(line.clone());
        if let Some(parsed) = parse_plain(&line) {
            if parsed.kind == kind && text_of(&parsed.fields).contains(text) {
                return true;
            }
        }
    }
}

/// Asks `/gc list` each second until it prints `line` (a leave record made by whoever
/// polls first), for at most 20 s; else fails with `why` and what `p` printed.
fn list_until(p: &mut Proc, line: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        p.say("/gc list");
        if sees(p, "INFO", line, Duration::from_secs(1)) {
            return;
        }
        assert!(Instant::now() < deadline, "{why}:\n{}", p.printed());
    }
}

#[test]
fn group_chat_add_remove_and_offline_pm_through_the_front_end() {
    let dirs: Vec<tempfile::TempDir> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    // Carol has an account but is offline for most of the test.
    let mut c = Proc::chat("carol", dirs[3].path(), &target);
    c.account("register", "carol", PW);
    c.say("/quit");
    let _ = c.child.wait();
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);

    a.say("/gc create devs");
    a.expect("INFO", "group chat devs created", &[]);
    a.say("/gc add bob");
    a.expect("INFO", "added bob: the chat's key rotated to epoch 1", &[]);
    a.say("hello devs");
    a.expect(
        "GCMSG",
        "hello devs",
        &[("chat", "devs"), ("nick", "alice")],
    );
    // Bob finds the chat at his next poll and reads it.
    b.expect(
        "GCMSG",
        "hello devs",
        &[("chat", "devs"), ("nick", "alice")],
    );
    // Only an admin renames the chat; the signed name reaches the other member's window.
    b.say("/gc rename bobs chat");
    b.expect("ERROR", "only an admin of the chat may rename it", &[]);
    a.say("/gc rename dev ops");
    a.expect("NAME", "", &[("name", "dev ops")]);
    b.expect("NAME", "", &[("name", "dev ops")]);
    a.say("after the rename");
    b.expect(
        "GCMSG",
        "after the rename",
        &[("chat", "dev ops"), ("nick", "alice")],
    );

    // Carol is added while offline, then bob is removed: his window closes.
    a.say("/gc add carol");
    a.expect(
        "INFO",
        "added carol: the chat's key rotated to epoch 2",
        &[],
    );
    a.say("/gc remove bob");
    a.expect(
        "INFO",
        "removed bob: the chat's key rotated to epoch 3",
        &[],
    );
    b.expect("CLOSED", "", &[]);
    a.say("after bob left");
    a.expect("GCMSG", "after bob left", &[("nick", "alice")]);
    a.say("/gc list");
    a.expect("INFO", "dev ops (2 members, key epoch 3)", &[]);

    // A PM to carol while she is offline goes to her mailbox.
    a.say("/pm carol see you tomorrow");
    a.expect(
        "PM",
        "see you tomorrow",
        &[("chat", "carol"), ("nick", "alice")],
    );

    // Carol logs in on another device: the PM (with its send time) and the chat from the
    // epoch she was added in.
    let mut c2 = Proc::chat("carol device 2", dirs[4].path(), &target);
    c2.account("login", "carol", PW);
    c2.expect(
        "GCMSG",
        "after bob left",
        &[("chat", "dev ops"), ("nick", "alice")],
    );
    let pm = c2.expect(
        "PM",
        "see you tomorrow",
        &[("chat", "alice"), ("nick", "alice")],
    );
    let sent: u64 = pm
        .iter()
        .find(|(k, _)| k == "sent")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a PM from the mailbox carries its send time");
    assert!(sent > 1_700_000_000, "{sent}");
    assert!(
        !c2.printed().contains("hello devs"),
        "carol read an epoch she was not in:\n{}",
        c2.printed()
    );
    // Bob reads nothing of the epoch he was removed from.
    assert!(!sees(
        &mut b,
        "GCMSG",
        "after bob left",
        Duration::from_secs(3)
    ));

    // Online PM: bob to alice, direct (PROTOCOL.md §8.14).
    b.say("/pm alice still around?");
    a.expect("PM", "still around?", &[("chat", "bob"), ("nick", "bob")]);

    // Exactly once: carol's next login does not get the PM again.
    c2.say("/quit");
    let _ = c2.child.wait();
    let mut c3 = Proc::chat("carol device 3", dirs[5].path(), &target);
    c3.account("login", "carol", PW);
    c3.expect("GCMSG", "after bob left", &[("chat", "dev ops")]);
    assert!(!sees(
        &mut c3,
        "PM",
        "see you tomorrow",
        Duration::from_secs(3)
    ));
    for p in [&a, &b, &c3] {
        assert!(!p.printed().contains(PW), "{}: password printed", p.name);
    }
}

/// `/gc leave` (issue #14): bob leaves; his window closes, a remaining member makes the
/// leave record at its next poll (the key rotates, as for a removal), and bob reads nothing
/// of the new epoch while carol does.
#[test]
fn a_member_leaves_and_the_others_rotate() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);
    let mut c = Proc::chat("carol", dirs[3].path(), &target);
    c.account("register", "carol", PW);

    a.say("/gc create crew");
    a.expect("INFO", "group chat crew created", &[]);
    a.say("/gc add bob");
    a.expect("INFO", "added bob: the chat's key rotated to epoch 1", &[]);
    a.say("/gc add carol");
    a.expect(
        "INFO",
        "added carol: the chat's key rotated to epoch 2",
        &[],
    );
    a.say("before bob leaves");
    b.expect("GCMSG", "before bob leaves", &[("chat", "crew")]);
    c.expect("GCMSG", "before bob leaves", &[("chat", "crew")]);

    b.say("/gc leave");
    b.expect("CLOSED", "", &[]);
    // Alice or carol (whoever polls first) makes the leave record; the other sees epoch 3.
    list_until(&mut a, "crew (2 members, key epoch 3)", "nobody rotated");
    a.say("after bob left");
    c.expect(
        "GCMSG",
        "after bob left",
        &[("chat", "crew"), ("nick", "alice")],
    );
    assert!(!sees(
        &mut b,
        "GCMSG",
        "after bob left",
        Duration::from_secs(3)
    ));
    // Bob's next poll does not bring the chat back.
    assert!(!sees(&mut b, "INFO", "crew", Duration::from_secs(3)));
}

/// `/gc leave` while no other member is online (nobody can make the leave record yet): the
/// leaver's own signed note on the index keeps the chat left across a restart of the
/// leaver, instead of the chat coming back with its backlog; once alice is back she makes
/// the record.
#[test]
fn a_left_chat_stays_left_across_a_restart() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);
    a.say("/gc create lonely");
    a.expect("INFO", "group chat lonely created", &[]);
    a.say("/gc add bob");
    a.expect("INFO", "added bob: the chat's key rotated to epoch 1", &[]);
    a.say("before bob leaves");
    b.expect("GCMSG", "before bob leaves", &[("chat", "lonely")]);
    a.say("/quit");
    let _ = a.child.wait();

    b.say("/gc leave");
    b.expect("CLOSED", "", &[]);
    b.say("/quit");
    let _ = b.child.wait();
    let mut b = Proc::chat("bob again", dirs[2].path(), &target);
    b.account("login", "bob", PW);
    // Two polls and more: the chat does not come back.
    assert!(!sees(
        &mut b,
        "GCMSG",
        "before bob leaves",
        Duration::from_secs(5)
    ));

    let mut a = Proc::chat("alice again", dirs[1].path(), &target);
    a.account("login", "alice", PW);
    list_until(
        &mut a,
        "lonely (1 members, key epoch 2)",
        "alice made no leave record",
    );
    assert!(!sees(&mut b, "GCMSG", "", Duration::from_secs(3)));
}
