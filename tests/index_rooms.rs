//! Rooms as groups in the overlay founded by the index (issue #13, PROTOCOL.md §8.11), with
//! real processes on loopback: one `dhtchat index` (its node on a second port) and
//! `dhtchat chat --plain --index KEY@IP:PORT` clients on their own data dirs.
//!
//! - Two clients join a room through the index and chat peer to peer; the index's node is a
//!   member, stores what it hears, and a third client joining later gets it as history
//!   (`ROOMMSG … history=1`); `/rooms` counts 1 → 2 → 3 → 2 as members join and one quits.
//! - A moderator appointed with the local `dhtchat admin moderator ROOM NAME` gets the role
//!   from the founder (the index's node) and can silence and kick in the room.
//! - An allow-list is enforced; a name breaking the rule is refused before sending.
//! - Too many wrong passwords: one `rate limited` line.
//!
//! Clients use `--index-kdf-floor`, so a key derivation takes tens of milliseconds.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;

use std::process::Command;
use std::time::{Duration, Instant};

use index_procs::{Proc, WAIT, rooms_until, start_index, start_index_with};

/// Registers `name` on a fresh client in `dir` and opens `room`; waits for READY there.
fn member(name: &'static str, dir: &std::path::Path, target: &str, room: &str) -> Proc {
    let mut p = Proc::chat(name, dir, target);
    p.account("register", name, &format!("{name}'s password 123"));
    p.say(&format!("/room {room}"));
    p.expect("INFO", &format!("room {room}: "), &[]);
    p.expect("READY", "", &[]);
    p
}

fn admin(index_dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(index_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn room_chat_goes_peer_to_peer_and_the_index_keeps_it_as_history_and_counts_members() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());

    let mut a = member("alice", dirs[1].path(), &target, "LOBBY");
    rooms_until(&mut a, "LOBBY (1 clients)");
    let mut b = member("bob", dirs[2].path(), &target, "LOBBY");
    rooms_until(&mut a, "LOBBY (2 clients)");

    // Live messages are group messages (MSG), not index posts.
    a.say("hello bob, this goes peer to peer");
    b.expect(
        "MSG",
        "hello bob, this goes peer to peer",
        &[("nick", "alice")],
    );
    b.say("hi alice");
    a.expect("MSG", "hi alice", &[("nick", "bob")]);

    // A later joiner gets both from the index, marked as history, then the count is 3.
    let mut c = Proc::chat("carol", dirs[3].path(), &target);
    c.account("register", "carol", "carol's password 123");
    // The index stored what its node heard: wait until it shows in history.
    c.say("/room LOBBY");
    c.expect("INFO", "room LOBBY: 2 clients", &[]);
    c.expect(
        "ROOMMSG",
        "hello bob, this goes peer to peer",
        &[("nick", "alice"), ("history", "1")],
    );
    c.expect("ROOMMSG", "hi alice", &[("nick", "bob"), ("history", "1")]);
    c.expect("READY", "", &[]);
    rooms_until(&mut a, "LOBBY (3 clients)");
    c.say("carol here");
    a.expect("MSG", "carol here", &[("nick", "carol")]);
    a.say("welcome carol");
    c.expect("MSG", "welcome carol", &[("nick", "alice")]);
    b.expect("MSG", "carol here", &[("nick", "carol")]);

    // One quits: the node sees the quit and the count drops.
    c.say("/quit");
    let deadline = Instant::now() + WAIT;
    while c.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "carol did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    rooms_until(&mut b, "LOBBY (2 clients)");
}

#[test]
fn a_moderator_appointed_on_the_index_silences_and_kicks_in_the_room() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut a = member("alice", dirs[1].path(), &target, "HELP DESK");
    let mut b = member("bob", dirs[2].path(), &target, "HELP DESK");
    let mut c = member("carol", dirs[3].path(), &target, "HELP DESK");
    rooms_until(&mut a, "HELP DESK (3 clients)");

    // Before: bob may not kick.
    b.say("/kick carol");
    b.expect("ERROR", "", &[]);

    // The local command on the index's data; the index's node signs the role as founder.
    admin(dirs[0].path(), &["moderator", "HELP DESK", "bob"]);
    b.expect("ROLE", "", &[("nick", "bob"), ("role", "moderator")]);
    a.expect("ROLE", "", &[("nick", "bob"), ("role", "moderator")]);

    // Mute: alice becomes an observer; what she sends reaches nobody.
    b.say("/silence alice");
    a.expect("ROLE", "", &[("nick", "alice"), ("role", "observer")]);
    c.expect("ROLE", "", &[("nick", "alice"), ("role", "observer")]);
    a.say("can anyone hear me");
    c.say("marker after the mute");
    b.expect("MSG", "marker after the mute", &[("nick", "carol")]);
    assert!(
        !b.printed().contains("can anyone hear me"),
        "{}",
        b.printed()
    );

    // Kick: carol is removed from the room's group. (Not asserted on the index's count: a
    // broadcast of carol's still in flight when the kick lands may announce her again at
    // the index's node, which then counts her until the member timeout.)
    b.say("/kick carol");
    c.expect("CLOSED", "", &[]);
    a.expect("KICK", "", &[("nick", "carol"), ("by_nick", "bob")]);

    // Unmoderator: the role goes back to user.
    admin(dirs[0].path(), &["unmoderator", "HELP DESK", "bob"]);
    a.expect("ROLE", "", &[("nick", "bob"), ("role", "user")]);
}

#[test]
fn the_allow_list_and_the_room_name_rule_hold_from_the_chat_front_end() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index_with(dirs[0].path(), &["--allow-room", "LOBBY"]);
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", "alice's password 123");
    a.say("/room lobby");
    let e = a.expect("ERROR", "only A-Z, 0-9 and spaces", &[]);
    assert!(index_procs::text(&e).contains("not sent"), "{e:?}");
    a.say("/room OTHER");
    a.expect("ERROR", "room OTHER: not allowed by the index", &[]);
    a.say("/room LOBBY");
    a.expect("READY", "", &[]);
    rooms_until(&mut a, "LOBBY (1 clients)");
    a.say("/rooms");
    let listed = a.expect("INFO", "clients)", &[]);
    assert!(!index_procs::text(&listed).contains("OTHER"));
}

#[test]
fn too_many_wrong_passwords_give_one_rate_limited_line() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", "alice's password 123");
    let mut m = Proc::chat("mallory", dirs[2].path(), &target);
    // The index allows 5 failed logins per username, then answers rate_limited.
    for _ in 0..5 {
        m.say("/login alice");
        m.expect("INFO", "(not shown)", &[]);
        m.say("guess");
        m.expect("ERROR", "wrong username or password", &[]);
    }
    m.say("/login alice");
    m.expect("INFO", "(not shown)", &[]);
    m.say("guess again");
    let e = m.expect("ERROR", "rate limited", &[]);
    assert_eq!(
        index_procs::text(&e),
        "rate limited: too many attempts, try again in a minute"
    );
    let errors: Vec<&String> = m.seen.iter().filter(|l| l.starts_with("ERROR")).collect();
    assert_eq!(errors.len(), 6, "{}", m.printed());
    assert!(!m.printed().contains("guess"), "{}", m.printed());
}
