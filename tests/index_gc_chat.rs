//! `/gc` and `/pm` in the chat front end (issue #14 item 3) with real processes on loopback:
//! one `dhtchat index` and `dhtchat chat --plain --index KEY@IP:PORT` clients on their own
//! data dirs. Alice creates a group chat, adds bob (who finds it within a poll and reads
//! it), adds carol while carol is offline, removes bob (his window closes and he reads
//! nothing of the new epoch); a PM to carol while she is offline is delivered after her
//! login, marked with its send time, exactly once; carol reads the chat from the epoch she
//! was added in. Group-chat messages and PMs between online users go through the index too
//! (polled every 2 s).
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

fn text_of(fields: &Fields) -> &str {
    fields
        .iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
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
    a.expect("INFO", "devs (2 members, key epoch 3)", &[]);

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
        &[("chat", "devs"), ("nick", "alice")],
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

    // Online PM: bob to alice, through the index within a poll.
    b.say("/pm alice still around?");
    a.expect("PM", "still around?", &[("chat", "bob"), ("nick", "bob")]);

    // Exactly once: carol's next login does not get the PM again.
    c2.say("/quit");
    let _ = c2.child.wait();
    let mut c3 = Proc::chat("carol device 3", dirs[5].path(), &target);
    c3.account("login", "carol", PW);
    c3.expect("GCMSG", "after bob left", &[("chat", "devs")]);
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
