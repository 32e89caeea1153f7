//! The built binary's `node` and `id` subcommands, end to end on loopback: a headless node
//! founds a group and logs its join string and stats, a `chat --plain` process joins through
//! that string, SIGTERM makes the node leave (the chat sees the quit) and exit 0, and `id`
//! then prints the same chat id and key from the store. Temp dirs, `:0` ports, bounded
//! waits; children are killed when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Duration;

use dhtchat::proto::JoinString;

const BIN: &str = env!("CARGO_BIN_EXE_dhtchat");
/// Longest wait for one expected line.
const LINE_WAIT: Duration = Duration::from_secs(8);

/// A child process killed (and reaped) on drop, with its output lines on a channel.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    /// Kept open: `chat --plain` quits when stdin closes.
    _stdin: Option<ChildStdin>,
}

impl Proc {
    /// Starts `BIN args`, reading lines from stderr (`from_stderr`) or stdout.
    fn spawn(args: &[&str], from_stderr: bool) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("RUST_LOG", "info")
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::piped());
        if from_stderr {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        }
        let mut child = cmd.spawn().expect("spawn dhtchat");
        let stdin = child.stdin.take();
        let out: Box<dyn Read + Send> = if from_stderr {
            Box::new(child.stderr.take().expect("stderr"))
        } else {
            Box::new(child.stdout.take().expect("stdout"))
        };
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            _stdin: stdin,
        }
    }

    /// The first line (read from now on) that `pred` accepts; panics after [`LINE_WAIT`]
    /// or if the output ends, listing what was seen.
    fn expect_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(LINE_WAIT) {
                Ok(line) if pred(&line) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("no {what} line ({e}); saw:\n{}", seen.join("\n")),
            }
        }
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let steps = limit.as_millis() / 50;
        for _ in 0..steps {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("process did not exit within {limit:?}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in a log or plain line, up to the next space.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!(" {key}=");
    let start = line.find(&pat).map(|i| i + pat.len()).expect("field");
    line[start..].split(' ').next().unwrap_or_default()
}

/// Runs `dhtchat id` on `dir` and returns its output.
fn id(dir: &Path) -> Output {
    Command::new(BIN)
        .args(["id", "--data-dir"])
        .arg(dir)
        .args(["--advertise", "127.0.0.1:33445"])
        .stdin(Stdio::null())
        .output()
        .expect("run dhtchat id")
}

#[test]
fn node_serves_a_group_logs_stats_leaves_on_sigterm_and_id_prints_it() {
    let node_dir = tempfile::tempdir().unwrap();
    let chat_dir = tempfile::tempdir().unwrap();
    let node_path = node_dir.path().to_str().unwrap();
    let mut node = Proc::spawn(
        &[
            "node",
            "--create",
            "relay",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            node_path,
            "--stats-interval",
            "1",
        ],
        true,
    );
    let serving = node.expect_line("serving group", |l| l.contains("serving group"));
    let join_text = field(&serving, "join").to_owned();
    let join: JoinString = join_text.parse().expect("the logged join string parses");
    assert!(serving.contains("group=relay"), "{serving}");
    let stats = node.expect_line("stats", |l| l.contains(" stats "));
    assert!(stats.contains("groups=1"), "{stats}");
    assert!(stats.contains("datagrams_in="), "{stats}");
    assert!(stats.contains("drops="), "{stats}");

    let chat_path = chat_dir.path().to_str().unwrap();
    let chat = Proc::spawn(
        &[
            "chat",
            "--plain",
            "--join",
            &join_text,
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            chat_path,
        ],
        false,
    );
    chat.expect_line("READY", |l| l.starts_with("READY "));
    // The node counts the member and the datagrams it took in.
    let stats = node.expect_line("stats with a member", |l| {
        l.contains(" stats ") && l.contains("members 1")
    });
    assert!(!stats.contains("datagrams_in=0 "), "{stats}");

    let term = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    let status = node.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "node exit status {status}");
    let part = chat.expect_line("PART", |l| l.starts_with("PART "));
    assert_eq!(field(&part, "pk"), join.contact.key.to_string(), "{part}");
    assert_eq!(field(&part, "reason"), "quit", "{part}");
    drop(chat);

    let out = id(node_dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("group relay (secure, public"), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("join "))
        .expect("a join line");
    let again: JoinString = line.trim_start()["join".len()..].trim().parse().unwrap();
    assert_eq!(again.chat_id, join.chat_id);
    assert_eq!(again.contact.key, join.contact.key);
    assert_eq!(again.contact.addr, "127.0.0.1:33445".parse().unwrap());
}

#[test]
fn id_without_a_store_prints_a_hint_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("nothing-here");
    let out = id(&empty);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("no group stored in "), "{text}");
    assert!(text.contains("--create NAME"), "{text}");
    assert!(!empty.exists(), "id must not create the data dir");
}

#[test]
fn node_without_groups_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["node", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run dhtchat node");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--create NAME or --join JOIN_STRING"), "{err}");
}

#[test]
fn node_stops_cleanly_on_sighup_and_keeps_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let mut node = Proc::spawn(
        &[
            "node",
            "--create",
            "relay",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            path,
        ],
        true,
    );
    node.expect_line("serving group", |l| l.contains("serving group"));
    let hup = Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(hup.success());
    let stopping = node.expect_line("stopping", |l| l.contains("stopping"));
    assert!(stopping.contains("SIGHUP"), "{stopping}");
    node.expect_line("final stats", |l| l.contains("final stats"));
    let status = node.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "node exit status {status}");
    let out = id(dir.path());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("group relay"), "{text}");
}
