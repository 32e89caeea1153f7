//! `dhtchat id` as a person runs it, with real processes on loopback: it reads the store while
//! a `dhtchat node` holds it, prints the address the node recorded, and `--advertise` wins
//! over both. Temp dirs, `127.0.0.1:0`, bounded waits; the node is killed if a test fails.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Duration;

use dhtchat::proto::{Dialect, JoinString, Privacy};
use dhtchat::store::{GroupRecord, Store};
use zeroize::Zeroizing;

const BIN: &str = env!("CARGO_BIN_EXE_dhtchat");
/// Longest wait for one expected log line.
const LINE_WAIT: Duration = Duration::from_secs(10);

/// A `dhtchat node` whose stderr lines arrive on a channel; killed and reaped on drop.
struct Node {
    child: Child,
    lines: Receiver<String>,
}

impl Node {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "node",
                "--create",
                "x",
                "--bind",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dhtchat node");
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The join string of the first `serving group` line.
    fn serving_join(&self) -> JoinString {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(LINE_WAIT) {
                Ok(line) if line.contains("serving group") => {
                    let text = line.split(" join=").nth(1).expect("join field");
                    let text = text.split(' ').next().unwrap_or_default();
                    return text.parse().expect("the logged join string parses");
                }
                Ok(line) => seen.push(line),
                Err(e) => panic!("no serving line ({e}); saw:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dhtchat id --data-dir DIR [extra]`; panics unless it succeeds; returns stdout.
fn id(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["id", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run dhtchat id");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The join strings `id` printed.
fn joins(text: &str) -> Vec<JoinString> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("join "))
        .map(|j| j.trim().parse().expect("a join string that parses"))
        .collect()
}

#[test]
fn id_reads_the_store_while_a_node_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let served = node.serving_join();
    let text = id(dir.path(), &[]);
    assert!(
        text.contains("group x (secure, public, founded by us)"),
        "{text}"
    );
    let printed = joins(&text);
    assert_eq!(printed.len(), 1, "{text}");
    assert_eq!(printed[0].chat_id, served.chat_id);
    assert_eq!(printed[0].contact.key, served.contact.key);
    // A founder's invite: the short form.
    assert!(printed[0].contact_is_founder());
    assert!(printed[0].to_string().len() <= 79, "{text}");
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node still runs"
    );
}

#[test]
fn id_prints_the_port_the_running_node_bound() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let served = node.serving_join();
    let text = id(dir.path(), &[]);
    assert_eq!(joins(&text)[0].contact.addr, served.contact.addr, "{text}");
    assert!(
        text.contains("(recorded by the node when it started)"),
        "{text}"
    );
}

#[test]
fn id_prints_the_recorded_address_and_advertise_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .put_group(&GroupRecord {
            id: GroupRecord::NEW,
            label: "lobby".into(),
            dialect: Dialect::Secure,
            privacy: Privacy::Private,
            chat_id: Some([0x11; 32]),
            identity_seed: Zeroizing::new([0xA7; 32]),
            nick: "alice".into(),
            join: String::new(),
            peers: Vec::new(),
            created_by_us: false,
        })
        .unwrap();
    store
        .set_advertised_addr("127.0.0.1:40001".parse().unwrap())
        .unwrap();
    // Printed while the writer is still open (as with a running node).
    let text = id(dir.path(), &[]);
    assert!(
        text.contains("address  127.0.0.1:40001 (recorded by the node when it started)"),
        "{text}"
    );
    let join = joins(&text)[0];
    assert_eq!(join.contact.addr, "127.0.0.1:40001".parse().unwrap());
    assert_eq!(join.privacy, Privacy::Private);
    drop(store);
    let text = id(dir.path(), &["--advertise", "192.0.2.7:5000"]);
    assert!(
        text.contains("address  192.0.2.7:5000 (--advertise)"),
        "{text}"
    );
    assert_eq!(
        joins(&text)[0].contact.addr,
        "192.0.2.7:5000".parse().unwrap()
    );
}
