//! Direct PMs between online accounts (PROTOCOL.md §8.14, issue #14) with real processes on
//! loopback: one `dhtchat index` and `dhtchat chat --plain` clients (harness
//! `tests/index_procs`).
//!
//! - Both online: PMs go peer to peer and the index stores none (its `pms` table never got
//!   a row: SQLite's `sqlite_sequence` has no `pms` entry); they still arrive after the
//!   index process is killed (the lookups were made before).
//! - Recipient offline: the PM goes to the mailbox and is read at its login, once.
//! - Recipient stopped (SIGSTOP) so no ack comes: the sender stores the same sealed body in
//!   the mailbox; once the recipient runs again it has the PM both ways and shows it once.
//!
//! Delivery times are printed (not asserted): `cargo test --test index_pm_direct --
//! --nocapture`.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

mod index_procs;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;
use index_procs::{Proc, start_index, text as text_of};

const PW: &str = "a long enough secret 9Xq";

/// Highest PM id the index ever gave (0: it never stored one), read from SQLite's
/// AUTOINCREMENT counter while the index runs (WAL: a reader does not block it).
fn pms_ever_stored(dir: &Path) -> i64 {
    let mut db = dhtchat::index::sql::open(None, dir).expect("open the index database");
    let rows = db
        .query("SELECT seq FROM sqlite_sequence WHERE name = 'pms'", &[])
        .expect("query");
    rows.first().map_or(0, |r| r[0].int())
}

/// How many lines of `kind` containing `text` `p` prints within `wait`.
fn count(p: &mut Proc, kind: &str, text: &str, wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    let mut n = p
        .seen
        .iter()
        .filter_map(|l| parse_plain(l))
        .filter(|l| l.kind == kind && text_of(&l.fields).contains(text))
        .count();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = p.lines.recv_timeout(left) else {
            return n;
        };
        p.seen.push(line.clone());
        if let Some(l) = parse_plain(&line) {
            if l.kind == kind && text_of(&l.fields).contains(text) {
                n += 1;
            }
        }
    }
}

fn signal(p: &Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &p.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn online_pms_go_direct_store_nothing_and_survive_the_index() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut index, target) = start_index(dirs[0].path());
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);

    let mut times = Vec::new();
    for i in 0..5 {
        let text = format!("direct hello {i}");
        let t0 = Instant::now();
        a.say(&format!("/pm bob {text}"));
        b.expect("PM", &text, &[("chat", "alice"), ("nick", "alice")]);
        times.push(t0.elapsed());
    }
    eprintln!("direct PM delivery, first (includes both lookups) then warm: {times:?}");
    // Bob answers: his first PM to alice needs a lookup; alice knows his key already.
    let t0 = Instant::now();
    b.say("/pm alice hi alice");
    a.expect("PM", "hi alice", &[("chat", "bob"), ("nick", "bob")]);
    eprintln!("reply delivered in {:?}", t0.elapsed());
    assert_eq!(
        pms_ever_stored(dirs[0].path()),
        0,
        "the index stored a PM between two online accounts"
    );

    // The index dies: the lookups are cached, the PMs still go through, once each.
    index.child.kill().unwrap();
    index.child.wait().unwrap();
    let t0 = Instant::now();
    a.say("/pm bob the index is gone");
    b.expect("PM", "the index is gone", &[("chat", "alice")]);
    eprintln!("PM with the index killed delivered in {:?}", t0.elapsed());
    b.say("/pm alice still here");
    a.expect("PM", "still here", &[("chat", "bob")]);
    for i in 0..5 {
        let text = format!("direct hello {i}");
        assert_eq!(count(&mut b, "PM", &text, Duration::ZERO), 1, "{text}");
    }
    assert_eq!(
        count(&mut b, "PM", "the index is gone", Duration::from_secs(3)),
        1
    );
    assert!(!a.printed().contains(PW) && !b.printed().contains(PW));
}

#[test]
fn offline_and_unacknowledged_pms_fall_back_to_the_mailbox_and_show_once() {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());
    let mut c = Proc::chat("carol", dirs[3].path(), &target);
    c.account("register", "carol", PW);
    c.say("/quit");
    let _ = c.child.wait();
    let mut a = Proc::chat("alice", dirs[1].path(), &target);
    a.account("register", "alice", PW);
    let mut b = Proc::chat("bob", dirs[2].path(), &target);
    b.account("register", "bob", PW);

    // Carol is offline (she withdrew her presence when she quit): the mailbox.
    a.say("/pm carol offline note");
    a.expect("PM", "offline note", &[("chat", "carol")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pms_ever_stored(dirs[0].path()) == 0 {
        assert!(Instant::now() < deadline, "the offline PM was not stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pms_ever_stored(dirs[0].path()), 1);
    let mut c2 = Proc::chat("carol again", dirs[4].path(), &target);
    c2.account("login", "carol", PW);
    c2.expect(
        "PM",
        "offline note",
        &[("chat", "alice"), ("nick", "alice")],
    );

    // Warm up alice → bob (lookups done, bob knows alice's key), then stop bob: alice's
    // PM gets no ack and goes to the mailbox with the same sealed body.
    a.say("/pm bob warm up");
    b.expect("PM", "warm up", &[("chat", "alice")]);
    assert_eq!(pms_ever_stored(dirs[0].path()), 1, "warm-up went direct");
    signal(&b, "-STOP");
    a.say("/pm bob are you frozen");
    let deadline = Instant::now() + Duration::from_secs(15);
    while pms_ever_stored(dirs[0].path()) < 2 {
        assert!(
            Instant::now() < deadline,
            "no mailbox fallback without an ack"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&b, "-CONT");
    // Bob now has it direct (queued in his socket) and in his mailbox: shown once, and
    // his next polls acknowledge the mailbox copy.
    assert_eq!(
        count(&mut b, "PM", "are you frozen", Duration::from_secs(6)),
        1,
        "bob printed:\n{}",
        b.printed()
    );
    let left = {
        let mut db = dhtchat::index::sql::open(None, dirs[0].path()).unwrap();
        db.query("SELECT id FROM pms", &[]).unwrap().len()
    };
    assert_eq!(left, 0, "the mailbox copy was acknowledged");
    assert_eq!(
        count(&mut c2, "PM", "offline note", Duration::from_secs(1)),
        1
    );
}
