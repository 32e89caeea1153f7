//! The real-process harness of the index front-end tests (`tests/index_chat.rs`,
//! `tests/index_rooms.rs`): `dhtchat index` and `dhtchat chat --plain --index KEY@IP:PORT`
//! children, their stdout lines parsed as plain lines, every wait bounded.

#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;

/// The last byte of the next client's loopback address (127.0.0.2 and up).
static NEXT_IP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Longest wait for one expected line.
pub const WAIT: Duration = Duration::from_secs(20);

pub type Fields = Vec<(String, String)>;

/// A child process and the stdout lines it printed so far.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("DHTCHAT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
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
    pub fn chat(name: &'static str, data: &Path, target: &str) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
        // A loopback address of its own per client: a group's table keeps at most 2 peers
        // per IP address (`max_per_ip`), so 3 clients on 127.0.0.1 would not all be relayed to.
        let n = NEXT_IP.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 250 + 2;
        let bind = format!("127.0.0.{n}:0");
        cmd.args(["chat", "--plain", "--bind", &bind, "--index", target])
            .arg("--index-kdf-floor")
            .arg("--data-dir")
            .arg(data);
        Self::spawn(name, &mut cmd)
    }

    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn next_line(&mut self, deadline: Instant) -> String {
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
    pub fn expect(&mut self, kind: &str, text: &str, fields: &[(&str, &str)]) -> Fields {
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
    pub fn account(&mut self, command: &str, name: &str, password: &str) -> Fields {
        self.say(&format!("/{command} {name}"));
        self.expect("INFO", "(not shown)", &[]);
        self.say(password);
        let canonical = name.to_ascii_lowercase();
        self.expect("INFO", &format!("logged in as {canonical}"), &[])
    }

    pub fn printed(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(fields: &Fields) -> &str {
    fields
        .iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The account key in a `logged in as …: account key HEX; …` line.
pub fn account_key(fields: &Fields) -> String {
    let t = text(fields);
    let at = t.find("account key ").expect("account key") + "account key ".len();
    t[at..at + 64].to_owned()
}

/// Starts `dhtchat index` on loopback; returns it and its `KEY@IP:PORT`.
pub fn start_index(dir: &Path) -> (Proc, String) {
    start_index_with(dir, &[])
}

/// [`start_index`] with more arguments (`--allow-room NAME`, …).
pub fn start_index_with(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
    cmd.args(["index", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra);
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

/// Asks `/rooms` until `line` is printed (counts follow the index node's member list,
/// which learns of a join or a quit within a round trip).
pub fn rooms_until(p: &mut Proc, line: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        p.say("/rooms");
        let got = p.expect("INFO", "clients)", &[]);
        if text(&got) == line {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: never saw {line:?}:\n{}",
            p.name,
            p.printed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
