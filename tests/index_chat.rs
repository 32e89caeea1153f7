//! The chat front end of the index (issue #13 item 6) with real processes on loopback: one
//! `dhtchat index` and `dhtchat chat --plain --index KEY@IP:PORT` clients on their own data
//! dirs. Register on one data dir, log in from another (the same account key and room list
//! come back, the rooms are opened again); a wrong password is exactly one ERROR line; a
//! lower-case room name is refused before sending, with the rule; `/rooms` counts follow two
//! accounts joining and leaving; a post in a room reaches the other client's room window;
//! an admin's server message is a SERVER line. Passwords are never printed.
//!
//! Clients use `--index-kdf-floor` (the weakest Argon2id parameters the index accepts), so
//! a key derivation takes tens of milliseconds. Every wait is bounded.
// Real processes run in real time: the bounded waits below read the clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;

/// Longest wait for one expected line.
const WAIT: Duration = Duration::from_secs(20);

type Fields = Vec<(String, String)>;

/// A child process and the stdout lines it printed so far.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let mut child = cmd
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

    /// `dhtchat chat --plain` on `data` with `--index target`.
    fn chat(name: &'static str, data: &Path, target: &str) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
        cmd.args([
            "chat",
            "--plain",
            "--bind",
            "127.0.0.1:0",
            "--index",
            target,
        ])
        .arg("--index-kdf-floor")
        .arg("--data-dir")
        .arg(data);
        Self::spawn(name, &mut cmd)
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn next_line(&mut self, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(_) => panic!(
                "{}: nothing expected within {WAIT:?}; it printed:\n{}",
                self.name,
                self.seen.join("\n")
            ),
        }
    }

    /// Waits for a new line of `kind` whose `text` field contains `text` (`""`: any line of
    /// that kind) and whose other fields match `fields`; returns its fields.
    fn expect(&mut self, kind: &str, text: &str, fields: &[(&str, &str)]) -> Fields {
        let deadline = Instant::now() + WAIT;
        loop {
            let line = self.next_line(deadline);
            let Some(p) = parse_plain(&line) else {
                continue;
            };
            let has = |k: &str, v: &str| p.fields.iter().any(|(fk, fv)| fk == k && fv == v);
            let text_ok = text.is_empty()
                || p.fields
                    .iter()
                    .any(|(k, v)| k == "text" && v.contains(text));
            if p.kind == kind && text_ok && fields.iter().all(|(k, v)| has(k, v)) {
                return p.fields;
            }
        }
    }

    /// Logs in (or registers) `name` with `password` typed on the line after the command.
    fn account(&mut self, command: &str, name: &str, password: &str) -> Fields {
        self.say(&format!("/{command} {name}"));
        self.expect("INFO", "(not shown)", &[]);
        self.say(password);
        let canonical = name.to_ascii_lowercase();
        self.expect("INFO", &format!("logged in as {canonical}"), &[])
    }

    fn printed(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(fields: &Fields) -> &str {
    fields
        .iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The account key in a `logged in as …: account key HEX; …` line.
fn account_key(fields: &Fields) -> String {
    let t = text(fields);
    let at = t.find("account key ").expect("account key") + "account key ".len();
    t[at..at + 64].to_owned()
}

/// Starts `dhtchat index` on loopback; returns it and its `KEY@IP:PORT`.
fn start_index(dir: &Path) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
    cmd.args(["index", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    let mut index = Proc::spawn("index", &mut cmd);
    let line = index.next_line(Instant::now() + WAIT);
    let key = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("key="))
        .expect("key=");
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .expect("addr=");
    let target = format!("{key}@{addr}");
    (index, target)
}

const ALICE_PW: &str = "alice's long secret 9Xq";

#[test]
fn an_account_follows_its_owner_to_a_second_data_dir() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_index, target) = start_index(dirs[0].path());

    let mut a = Proc::chat("device A", dirs[1].path(), &target);
    let key_a = account_key(&a.account("register", "alice", ALICE_PW));
    a.say("/room LOBBY");
    a.expect("INFO", "room LOBBY: 1 clients", &[]);
    a.say("hello from device A");
    a.expect("ROOMMSG", "hello from device A", &[("nick", "alice")]);

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
    c.expect("INFO", "LOBBY (1 clients)", &[]);
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
    a.expect("INFO", "room LOBBY: 1 clients", &[]);
    b.say("/rooms");
    b.expect("INFO", "LOBBY (1 clients)", &[]);
    b.say("/room LOBBY");
    b.expect("INFO", "room LOBBY: 2 clients", &[]);
    b.say("/rooms");
    b.expect("INFO", "LOBBY (2 clients)", &[]);

    b.say("hi alice, bob here");
    a.expect(
        "ROOMMSG",
        "hi alice, bob here",
        &[("nick", "bob"), ("history", "0")],
    );

    // An admin (promoted on the index's own database) sends a server message.
    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .args(["admin", "promote", "alice", "--data-dir"])
        .arg(dirs[0].path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    a.say("/admin say LOBBY restart at six");
    a.expect("INFO", "server message stored in 1 room", &[]);
    b.expect("SERVER", "restart at six", &[("room", "LOBBY")]);
    b.say("/admin say hello");
    b.expect("ERROR", "only an index admin", &[]);

    a.say("/part");
    a.expect("INFO", "left room LOBBY (1 clients now)", &[]);
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
