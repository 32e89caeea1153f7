//! The chat front end of the index (issue #13 item 6) with real processes on loopback: one
//! `dhtchat index` and `dhtchat chat --plain --index KEY@IP:PORT` clients on their own data
//! dirs. Register on one data dir, log in from another (the same account key and room list
//! come back, the rooms are opened again); a wrong password is exactly one ERROR line; a
//! lower-case room name is refused before sending, with the rule; `/rooms` counts follow two
//! accounts joining and leaving the room's group; a message in a room reaches the other
//! client's room window (peer to peer, `tests/index_rooms.rs` has more); an admin's server
//! message is a SERVER line. Passwords are never printed.
//!
//! Clients use `--index-kdf-floor` (the weakest Argon2id parameters the index accepts), so
//! a key derivation takes tens of milliseconds. Every wait is bounded.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;

use std::process::Command;
use std::time::{Duration, Instant};

use index_procs::{Proc, WAIT, account_key, start_index, text};

const ALICE_PW: &str = "alice's long secret 9Xq";

#[test]
fn an_account_follows_its_owner_to_a_second_data_dir() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());

    let mut a = Proc::chat("device A", dirs[1].path(), &target);
    let key_a = account_key(&a.account("register", "alice", ALICE_PW));
    a.say("/room LOBBY");
    a.expect("INFO", "room LOBBY: 0 clients", &[]);
    a.expect("READY", "", &[]);
    a.say("hello from device A");
    a.expect("MSG", "hello from device A", &[("nick", "alice")]);
    // The index's node heard it and stored it (history below).
    std::thread::sleep(Duration::from_millis(500));

    // Device B: another data dir, nothing shared but the index.
    let mut b = Proc::chat("device B", dirs[2].path(), &target);
    let login = b.account("login", "Alice", ALICE_PW);
    assert_eq!(account_key(&login), key_a, "the same identity comes back");
    assert!(text(&login).contains("rooms: LOBBY"), "{}", text(&login));
    // The room in the account's list is opened again, with its history.
    b.expect("INFO", "room LOBBY: 1 clients", &[]);
    b.expect(
        "ROOMMSG",
        "hello from device A",
        &[("nick", "alice"), ("history", "1")],
    );

    // A wrong password: exactly one ERROR line, and the session goes on.
    let mut c = Proc::chat("device C", dirs[3].path(), &target);
    c.say("/login alice");
    c.expect("INFO", "(not shown)", &[]);
    c.say("not the password");
    c.expect("ERROR", "wrong username or password", &[]);
    c.say("/room lobby");
    let refused = c.expect("ERROR", "only A-Z, 0-9 and spaces", &[]);
    assert!(text(&refused).contains("not sent"), "{refused:?}");
    c.say("/rooms");
    // Both devices are in the room's group with the account's one key.
    c.expect("INFO", "LOBBY (", &[]);
    let errors = c.seen.iter().filter(|l| l.starts_with("ERROR")).count();
    assert_eq!(
        errors,
        2,
        "one for the password, one for the room:\n{}",
        c.printed()
    );

    for p in [&a, &b, &c] {
        assert!(
            !p.printed().contains("alice's long secret"),
            "{}",
            p.printed()
        );
        assert!(!p.printed().contains("not the password"), "{}", p.printed());
    }
}

#[test]
fn rooms_count_members_and_carry_posts_and_server_messages() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    a.account("register", "alice", ALICE_PW);
    b.account("register", "bob", "bob's secret 1234");
    b.say("/register alice");
    b.expect("INFO", "(not shown)", &[]);
    b.say("another password");
    b.expect("ERROR", "name taken", &[]);

    a.say("/room LOBBY");
    a.expect("INFO", "room LOBBY: 0 clients", &[]);
    a.expect("READY", "", &[]);
    b.say("/rooms");
    b.expect("INFO", "LOBBY (1 clients)", &[]);
    b.say("/room LOBBY");
    b.expect("INFO", "room LOBBY: 1 clients", &[]);
    b.expect("READY", "", &[]);
    b.say("/rooms");
    b.expect("INFO", "LOBBY (2 clients)", &[]);

    b.say("hi alice, bob here");
    a.expect("MSG", "hi alice, bob here", &[("nick", "bob")]);

    // An admin (promoted on the index's own database) sends a server message.
    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .args(["admin", "promote", "alice", "--data-dir"])
        .arg(dirs[0].path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    a.say("/admin say LOBBY restart at six");
    a.expect("INFO", "server message stored in 1 room", &[]);
    b.expect(
        "SERVER",
        "restart at six",
        &[("room", "LOBBY"), ("history", "0")],
    );
    b.say("/admin say hello");
    b.expect("ERROR", "only an index admin", &[]);

    a.say("/part");
    a.expect("INFO", "left room LOBBY", &[]);
    b.say("/rooms");
    b.expect("INFO", "LOBBY (1 clients)", &[]);
    b.say("/quit");
    let deadline = Instant::now() + WAIT;
    while b.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "bob did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Quitting leaves the room on the index (the account's list keeps it).
    a.say("/rooms");
    a.expect("INFO", "LOBBY (0 clients)", &[]);
}

#[test]
fn an_index_that_does_not_answer_is_one_error_naming_its_address() {
    let dir = tempfile::tempdir().unwrap();
    // A socket that reads nothing: requests go unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let target = format!("{}@{addr}", "0f".repeat(32));
    let mut c = Proc::chat("client", dir.path(), &target);
    c.say("/rooms");
    let e = c.expect("ERROR", "index unreachable", &[]);
    assert!(text(&e).contains(&addr.to_string()), "{e:?}");
    c.say("/room lobby");
    c.expect("ERROR", "only A-Z, 0-9 and spaces", &[]);
    let errors = c.seen.iter().filter(|l| l.starts_with("ERROR")).count();
    assert_eq!(errors, 2, "{}", c.printed());
}
