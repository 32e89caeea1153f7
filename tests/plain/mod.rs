//! The real-process harness of the `dhtchat chat --plain` tests (`tests/chat_plain.rs`,
//! `tests/restart_plain.rs`): a child process, the stdout lines it printed (with when each
//! was read), parsed as plain lines; every wait is bounded and a failed wait prints
//! everything the process said.

#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;

/// Longest wait for one expected line.
pub const WAIT: Duration = Duration::from_secs(20);

/// One `dhtchat chat --plain` process and the lines it printed so far.
pub struct Chat {
    pub name: &'static str,
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line read so far, in order.
    pub seen: Vec<String>,
    /// When each line of `seen` was read.
    pub seen_at: Vec<Instant>,
}

impl Chat {
    /// `dhtchat chat --plain --bind 127.0.0.1:0 --data-dir data ARGS`.
    pub fn start(name: &'static str, data: &Path, args: &[&str]) -> Self {
        Self::start_bound(name, data, "127.0.0.1:0", args)
    }

    /// As [`Self::start`], bound to `bind`.
    pub fn start_bound(name: &'static str, data: &Path, bind: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
            .arg("chat")
            .arg("--plain")
            .args(["--bind", bind, "--data-dir"])
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
                if tx.send((Instant::now(), line)).is_err() {
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
            seen_at: Vec::new(),
        }
    }

    pub fn say(&mut self, line: &str) {
        self.say_bytes(line.as_bytes());
    }

    /// Writes `bytes` and a newline, whatever they are.
    pub fn say_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to dhtchat");
        stdin.write_all(b"\n").expect("write to dhtchat");
        stdin.flush().unwrap();
    }

    fn keep(&mut self, (at, line): (Instant, String)) {
        self.seen.push(line);
        self.seen_at.push(at);
    }

    /// The next line printed (not one seen before) that `pred` accepts.
    pub fn next_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.next_line();
            if pred(&line) {
                return line;
            }
        }
    }

    /// The next line printed (not one seen before).
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(read) => {
                let line = read.1.clone();
                self.keep(read);
                line
            }
            Err(_) => panic!(
                "{}: no line within {WAIT:?}; it printed:\n{}",
                self.name,
                self.printed()
            ),
        }
    }

    /// Waits for a line of `kind` whose fields all match `fields`; returns its fields.
    pub fn expect(&mut self, kind: &str, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        self.expect_at(kind, fields).0
    }

    /// [`Self::expect`], also returning when the line was read.
    pub fn expect_at(
        &mut self,
        kind: &str,
        fields: &[(&str, &str)],
    ) -> (Vec<(String, String)>, Instant) {
        let deadline = Instant::now() + WAIT;
        let matches = |line: &str| {
            let p = parse_plain(line)?;
            let ok = p.kind == kind
                && fields
                    .iter()
                    .all(|(k, v)| p.fields.iter().any(|(fk, fv)| fk == k && fv == v));
            ok.then_some(p.fields)
        };
        let earlier =
            (self.seen.iter().zip(&self.seen_at)).find_map(|(l, t)| Some((matches(l)?, *t)));
        if let Some(found) = earlier {
            return found;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(read) => {
                    let found = matches(&read.1).map(|f| (f, read.0));
                    self.keep(read);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(_) => panic!(
                    "{}: no {kind} {fields:?} within {WAIT:?}; it printed:\n{}",
                    self.name,
                    self.printed()
                ),
            }
        }
    }

    /// How many lines of `kind` with `fields` were printed so far.
    pub fn count(&self, kind: &str, fields: &[(&str, &str)]) -> usize {
        let hit = |line: &str| {
            parse_plain(line).is_some_and(|p| {
                p.kind == kind
                    && (fields.iter()).all(|(k, v)| p.fields.iter().any(|(a, b)| a == k && b == v))
            })
        };
        self.seen.iter().filter(|l| hit(l)).count()
    }

    /// Reads what was printed in the next `d`.
    pub fn drain_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while let Ok(read) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.keep(read);
        }
    }

    pub fn printed(&self) -> String {
        self.seen.join("\n")
    }

    /// Waits for the process to exit by itself (after /quit); returns its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`TERM`, `KILL`, …) and waits for the process to end.
    pub fn signal(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key` in a plain line's fields; panics if it is missing.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}
