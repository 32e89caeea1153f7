//! Three real `dhtchat chat --plain` processes on loopback (issue #5): one creates a group,
//! two join by the printed join string; messages, actions and nick changes from each reach
//! the other two; a `/quit` shows as a part on the others; restarting one with the same data
//! dir rejoins by itself (same key, and its new messages are not taken for replays). Before
//! anyone joins, the creator is sent garbage datagrams and must then chat normally.
//!
//! Every wait is bounded; a process that does not say what is expected within the bound
//! fails the test with everything it printed.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;

/// Longest wait for one expected line.
const WAIT: Duration = Duration::from_secs(20);

/// One `dhtchat chat --plain` process and the lines it printed so far.
struct Chat {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Chat {
    fn start(name: &'static str, data: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
            .arg("chat")
            .arg("--plain")
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dhtchat");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            name,
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to dhtchat");
        stdin.flush().unwrap();
    }

    /// Waits for a line of `kind` whose fields all match `fields`; returns its fields.
    fn expect(&mut self, kind: &str, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        let deadline = Instant::now() + WAIT;
        let matches = |line: &str| {
            let p = parse_plain(line)?;
            let ok = p.kind == kind
                && fields
                    .iter()
                    .all(|(k, v)| p.fields.iter().any(|(fk, fv)| fk == k && fv == v));
            ok.then_some(p.fields)
        };
        if let Some(f) = self.seen.iter().find_map(|l| matches(l)) {
            return f;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = matches(&line);
                    self.seen.push(line);
                    if let Some(f) = found {
                        return f;
                    }
                }
                Err(_) => panic!(
                    "{}: no {kind} {fields:?} within {WAIT:?}; it printed:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to exit by itself (after /quit); returns its exit status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}

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
