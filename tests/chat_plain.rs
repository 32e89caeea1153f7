//! Three real `dhtchat chat --plain` processes on loopback (issue #5): one creates a group,
//! two join by the printed join string; messages, actions and nick changes from each reach
//! the other two; a `/quit` shows as a part on the others; restarting one with the same data
//! dir rejoins by itself (same key, and its new messages are not taken for replays). Before
//! anyone joins, the creator is sent garbage datagrams and must then chat normally.
//!
//! More cases (issue #11): input a script can get wrong (a non-UTF-8 line, an empty line, a
//! 5,000-character line sent in numbered parts), presence, roles and invites shown to us,
//! a second group that keeps our nick and closes on /part, joins that nobody answers (a dead
//! address, a wrong key) ending in one error line, and the nick rule and bind errors at start.
//!
//! Every wait is bounded; a process that does not say what is expected within the bound
//! fails the test with everything it printed.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod plain;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plain::{Chat, field};

/// Sends `n` datagrams of assorted garbage to `addr`: empty, short, wrong ids, random
/// bytes, over-size, and well-formed-looking envelopes with junk inside.
fn send_garbage(addr: &str, n: usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = match i % 5 {
            0 => 0,
            1 => (x % 8) as usize,
            2 => 114,
            3 => 1500,
            _ => (x % 1024) as usize,
        };
        let mut datagram: Vec<u8> = (0..len).map(|j| (x >> (j % 57)) as u8).collect();
        if i % 2 == 0 && !datagram.is_empty() {
            datagram[0] = 48; // the envelope's id, so parsing goes deeper
        }
        let _ = socket.send_to(&datagram, addr);
    }
}

#[test]
fn three_plain_processes_chat_quit_and_one_rejoins_after_restart() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let ready = alice.expect("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let addr = field(&ready, "addr").to_owned();
    let alice_pk = field(&ready, "pk").to_owned();

    send_garbage(&addr, 2000);

    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect("READY", &[]), "pk").to_owned();
    let mut carol = Chat::start(
        "carol",
        dirs[2].path(),
        &["--join", &join, "--nick", "carol"],
    );
    let carol_pk = field(&carol.expect("READY", &[]), "pk").to_owned();
    for c in [&mut alice, &mut bob] {
        c.expect("JOIN", &[("pk", &carol_pk)]);
    }
    bob.expect("NICK", &[("pk", &alice_pk), ("new", "alice")]);

    let people = [
        ("alice", alice_pk.clone()),
        ("bob", bob_pk.clone()),
        ("carol", carol_pk.clone()),
    ];
    let mut chats = [alice, bob, carol];
    for (i, (name, _)) in people.iter().enumerate() {
        chats[i].say(&format!("hello from {name}"));
        chats[i].say(&format!("/me waves, says {name}"));
        chats[i].say(&format!("/nick {name}2"));
    }
    for (i, (name, pk)) in people.iter().enumerate() {
        for (j, other) in chats.iter_mut().enumerate() {
            if i == j {
                continue;
            }
            let text = format!("hello from {name}");
            other.expect("MSG", &[("pk", pk), ("text", &text)]);
            let action = format!("waves, says {name}");
            other.expect("ACTION", &[("pk", pk), ("text", &action)]);
            other.expect("NICK", &[("pk", pk), ("new", &format!("{name}2"))]);
        }
    }

    let [alice, bob, carol] = &mut chats;
    // A private message reaches bob only.
    alice.say("/msg bob2 psst");
    bob.expect("PRIVMSG", &[("pk", &alice_pk), ("text", "psst")]);
    alice.say("after psst");
    carol.expect("MSG", &[("pk", &alice_pk), ("text", "after psst")]);
    assert!(
        !carol.seen.iter().any(|l| l.starts_with("PRIVMSG")),
        "carol must not see alice's private message"
    );

    carol.say("/quit");
    assert!(carol.wait_exit().success(), "carol exits cleanly");
    for c in [&mut *alice, &mut *bob] {
        c.expect("PART", &[("pk", &carol_pk), ("reason", "quit")]);
    }

    // Restart carol with no group arguments: she rejoins by herself, with the same key.
    let mut carol2 = Chat::start("carol again", dirs[2].path(), &[]);
    let again = carol2.expect("READY", &[]);
    assert_eq!(field(&again, "pk"), carol_pk, "same identity after restart");
    carol2.say("back again");
    for c in [&mut *alice, &mut *bob] {
        c.expect("MSG", &[("pk", &carol_pk), ("text", "back again")]);
    }
    alice.say("welcome back");
    carol2.expect("MSG", &[("pk", &alice_pk), ("text", "welcome back")]);
}

/// Starts `alice`, who founds a group, and `bob`, who joins it; returns both with alice's
/// READY fields.
fn alice_and_bob(dirs: &[tempfile::TempDir]) -> (Chat, Chat, Vec<(String, String)>) {
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "lobby", "--nick", "alice"],
    );
    let ready = alice.expect("READY", &[]);
    let join = field(&ready, "join").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect("READY", &[]), "pk").to_owned();
    alice.expect("JOIN", &[("pk", &bob_pk)]);
    (alice, bob, ready)
}

#[test]
fn bad_empty_and_long_input_lines_then_presence_roles_and_invite() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, mut bob, ready) = alice_and_bob(&dirs);
    let alice_pk = field(&ready, "pk").to_owned();

    // A line that is not UTF-8 is one ERROR line; an empty line prints nothing; the
    // process answers the next line.
    alice.say_bytes(b"caf\xe9 \xff");
    let err = alice.next_matching(|l| l.starts_with("ERROR "));
    assert!(err.contains("not UTF-8"), "{err}");
    alice.say("");
    alice.say("/help nick");
    // Peer events (bob's nick) may come in between, but nothing for the empty line.
    let mut between = Vec::new();
    let help = loop {
        let line = alice.next_line();
        if line.starts_with("INFO ") || line.starts_with("ERROR ") || line.starts_with("MSG ") {
            break line;
        }
        between.push(line);
    };
    assert!(
        help.starts_with("INFO text=/nick <name>"),
        "{help} after {between:?}"
    );

    // 5,000 characters (6,250 bytes) go out in numbered parts that bob puts back together.
    let text = format!("{}zoë!", "zoë ".repeat(1249));
    assert_eq!(text.chars().count(), 5000);
    alice.say(&text);
    let first = bob.expect("MSG", &[("pk", &alice_pk)]);
    let first = field(&first, "text").to_owned();
    let (head, _) = first.split_once(") ").expect("a numbered part");
    let n: usize = head.split_once('/').unwrap().1.parse().unwrap();
    assert!(n >= 8, "6,250 bytes need at least 8 parts of 785: {first}");
    let mut parts = vec![first];
    for i in 2..=n {
        let prefix = format!("({i}/{n}) ");
        let line = bob.next_matching(|l| l.starts_with("MSG ") && l.contains(&prefix));
        let p = dhtchat::app::plain::parse_plain(&line).unwrap();
        parts.push(p.get("text").unwrap().to_owned());
    }
    let body: Vec<&str> = parts
        .iter()
        .map(|p| p.split_once(") ").unwrap().1)
        .collect();
    assert_eq!(body.join(" "), text);

    // Bidi controls from a peer arrive escaped, never raw.
    alice.say("abc\u{202E}def");
    let line = bob.expect("MSG", &[("pk", &alice_pk), ("text", "abc\u{202E}def")]);
    assert!(!bob.seen.iter().any(|l| l.contains('\u{202E}')), "{line:?}");

    // Our own presence is shown to us; /names and /whois show roles.
    alice.say("/status away");
    alice.expect("STATUS", &[("pk", &alice_pk), ("status", "away")]);
    alice.say("/names");
    alice.expect("INFO", &[("text", "2 members: ~alice (you), bob")]);
    alice.say("/whois bob");
    let whois = alice.next_matching(|l| l.contains(" role="));
    assert!(
        whois.contains("role=user") && whois.contains("status=online"),
        "{whois}"
    );

    // /invite alone prints the join string through us on a line of its own.
    alice.say("/invite");
    let invite = alice.expect("INVITE", &[]);
    assert_eq!(field(&invite, "join"), field(&ready, "join"));
}

#[test]
fn a_second_group_keeps_the_nick_and_part_closes_it() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, mut bob, ready) = alice_and_bob(&dirs);
    let alice_pk = field(&ready, "pk").to_owned();

    alice.say("/create second");
    let second = alice.expect("READY", &[("group", "second")]);
    let second_pk = field(&second, "pk").to_owned();
    assert_ne!(second_pk, alice_pk, "a fresh identity per group");
    alice.say("hello second");
    alice.expect(
        "MSG",
        &[
            ("pk", &second_pk),
            ("nick", "alice"),
            ("text", "hello second"),
        ],
    );

    alice.say("/part gotta go");
    alice.expect("INFO", &[("text", "left second (gotta go)")]);
    alice.expect("CLOSED", &[("reason", "gotta go")]);
    // Input goes back to the group still open.
    alice.say("back in the lobby");
    bob.expect("MSG", &[("pk", &alice_pk), ("text", "back in the lobby")]);
    assert!(
        !bob.seen.iter().any(|l| l.contains("hello second")),
        "bob is not in the second group"
    );
}

/// A `--join` nobody answers: text typed meanwhile is refused, not echoed; after the
/// join timeout one ERROR line names the address tried and the group is closed; the
/// process goes on answering, and the failed group is not stored.
fn join_that_nobody_answers(name: &'static str, join: &str, addr: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--join", join, "--nick", "dave", "--join-timeout", "2"];
    let mut dave = Chat::start(name, dir.path(), &args);
    let started = Instant::now();
    dave.say("too early");
    let refused = dave.expect("ERROR", &[]);
    let refused = field(&refused, "text").to_owned();
    assert!(refused.starts_with("not sent: still joining"), "{refused}");
    assert!(
        !dave.seen.iter().any(|l| l.starts_with("MSG ")),
        "nothing echoed"
    );
    let failed = dave.next_matching(|l| l.starts_with("ERROR "));
    assert!(
        failed.contains("cannot join") && failed.contains(addr),
        "{failed}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "bounded");
    let closed = dave.next_line();
    assert!(closed.starts_with("CLOSED reason=join failed"), "{closed}");
    dave.say("/help quit");
    let help = dave.next_line();
    assert!(help.starts_with("INFO text=/quit"), "{help}");
    dave.say("/quit");
    assert!(dave.wait_exit().success());

    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .args(["chat", "--plain", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no group to rejoin"),
        "{err}"
    );
}

#[test]
fn joins_to_a_dead_address_or_with_a_wrong_key_end_in_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Chat::start("alice", dir.path(), &["--create", "lobby"]);
    let ready = alice.expect("READY", &[]);
    let join: dhtchat::proto::JoinString = field(&ready, "join").parse().unwrap();

    // A bound socket that never answers: datagrams to it vanish without an ICMP error.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut dead = join;
    dead.contact.addr = hole.local_addr().unwrap();
    let mut wrong_key = join;
    wrong_key.contact.key = dhtchat::wire::PublicKey([7; 32]);

    let dead_addr = dead.contact.addr.to_string();
    let alice_addr = join.contact.addr.to_string();
    let (dead, wrong_key) = (dead.to_string(), wrong_key.to_string());
    let a = std::thread::spawn(move || join_that_nobody_answers("dave", &dead, &dead_addr));
    join_that_nobody_answers("erin", &wrong_key, &alice_addr);
    a.join().expect("the dead-address join");
}

#[test]
fn bad_nick_and_busy_address_fail_at_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
            .args(["chat", "--plain", "--create", "x", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let long = "n".repeat(200);
    let err = run(&["--nick", &long]);
    assert!(
        err.contains("at most 128 bytes") && err.contains("has 200"),
        "{err}"
    );
    let err = run(&["--nick", "evil\u{1b}[2J"]);
    assert!(err.contains("U+001B"), "{err}");

    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = run(&["--bind", &addr]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot bind {addr}: ")), "{err}");
    assert_eq!(err.matches("in use").count(), 1, "printed once: {err}");
}

#[test]
fn joining_a_stored_group_again_by_its_join_string_keeps_the_identity() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, mut bob, ready) = alice_and_bob(&dirs);
    let bob_pk = field(&bob.expect("READY", &[]), "pk").to_owned();
    bob.say("/quit");
    assert!(bob.wait_exit().success());
    alice.expect("PART", &[("pk", &bob_pk)]);

    let join = field(&ready, "join");
    let args = ["--join", join, "--join-timeout", "5"];
    let mut again = Chat::start("bob again", dirs[1].path(), &args);
    let ready_again = again.expect("READY", &[]);
    assert_eq!(field(&ready_again, "pk"), bob_pk, "the stored identity");
    again.say("same bob");
    alice.expect("MSG", &[("pk", &bob_pk), ("text", "same bob")]);
}

#[test]
fn a_joiner_hears_every_nick_role_and_the_group_name_at_once_and_part_reasons_arrive() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = Chat::start(
        "alice",
        dirs[0].path(),
        &["--create", "tea room", "--nick", "alice"],
    );
    let ready = alice.expect("READY", &[("group", "tea room")]);
    let join = field(&ready, "join").to_owned();
    let alice_pk = field(&ready, "pk").to_owned();
    let mut bob = Chat::start("bob", dirs[1].path(), &["--join", &join, "--nick", "bob"]);
    let bob_pk = field(&bob.expect("READY", &[]), "pk").to_owned();
    bob.say("/status away");
    alice.expect("STATUS", &[("pk", &bob_pk), ("status", "away")]);

    // Carol hears both members with nick, role and presence, and the group's signed name,
    // from the join itself: no name timer (180 s) is waited for.
    let mut carol = Chat::start(
        "carol",
        dirs[2].path(),
        &["--join", &join, "--nick", "carol"],
    );
    let carol_ready = carol.expect("READY", &[]);
    let ready_at = Instant::now();
    // Alice answered carol's join, so she may be listed a moment before her signed name
    // arrives (JOIN nick= then NICK new=alice); either way both come before READY.
    carol.expect("JOIN", &[("pk", &alice_pk), ("role", "founder")]);
    let alice_named = |l: &String| {
        l.contains(alice_pk.as_str())
            && ((l.starts_with("JOIN ") && l.contains(" nick=alice "))
                || (l.starts_with("NICK ") && l.contains(" new=alice")))
    };
    let bob_joined = [
        ("pk", bob_pk.as_str()),
        ("role", "user"),
        ("status", "away"),
    ];
    carol.expect("JOIN", &bob_joined);
    carol.expect("NAME", &[("name", "tea room")]);
    println!(
        "carol's READY label: {:?}; members and name known {:?} after READY",
        field(&carol_ready, "group"),
        ready_at.elapsed()
    );
    // They came with the join itself (the name and fact syncs precede Joined), not after a
    // timer: every one of those lines was printed before READY.
    let seen = &carol.seen;
    let ready_line = seen.iter().position(|l| l.starts_with("READY "));
    let before_ready = |i: Option<usize>| i.zip(ready_line).is_some_and(|(i, r)| i < r);
    let bob_named = |l: &String| {
        l.starts_with("JOIN ") && l.contains(bob_pk.as_str()) && l.contains(" nick=bob ")
    };
    assert!(before_ready(seen.iter().position(alice_named)), "{seen:#?}");
    assert!(before_ready(seen.iter().position(bob_named)), "{seen:#?}");

    // Part and quit reasons travel on the wire.
    bob.say("/part gotta go");
    for c in [&mut alice, &mut carol] {
        c.expect("PART", &[("pk", &bob_pk), ("reason", "gotta go")]);
    }
    carol.say("/quit bye all");
    assert!(carol.wait_exit().success());
    alice.expect("PART", &[("reason", "bye all")]);
}
