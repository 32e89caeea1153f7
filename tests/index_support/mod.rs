//! Shared helpers of the index tests: the backends to run against, a started index, raw
//! datagrams, and reading every stored row.
//!
//! SQLite always runs. PostgreSQL runs when `DHTCHAT_TEST_POSTGRES` holds a URL (`.ci/run`
//! sets it after starting a throw-away server); each test then gets its own schema. Without
//! it the PostgreSQL side is skipped and says so on stderr.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dhtchat::crypto::{self, BoxKeypair};
use dhtchat::index::driver::{IndexOptions, Running, start};
use dhtchat::index::sql::{self, Row, Sql, Value};
use dhtchat::index::wire::{self, Fragment, Reply, Request};
use dhtchat::wire::{Envelope, MAX_PLAINTEXT, PublicKey};
use tokio::net::UdpSocket;

/// Floor parameters: tests derive keys in ~50 ms instead of ~1 s.
pub const FAST: dhtchat::index::account::KdfParams = dhtchat::index::account::KdfParams::FLOOR;

/// One database to run a test against.
#[derive(Debug)]
pub struct Backend {
    /// "sqlite" or "postgres".
    pub name: &'static str,
    /// `None` for SQLite in `dir`.
    pub url: Option<String>,
    /// The data dir (SQLite file; unused by PostgreSQL).
    pub dir: tempfile::TempDir,
}

impl Backend {
    /// Runs `f` with a connection to this backend's database, on a plain thread: the
    /// connections are blocking (the PostgreSQL one runs its own runtime) and must not run on
    /// an async task.
    pub fn with_db<T: Send>(&self, f: impl FnOnce(&mut dyn Sql) -> T + Send) -> T {
        let url = self.url.clone();
        let dir = self.dir.path().to_path_buf();
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut db = sql::open(url.as_deref(), &dir).expect("open database");
                f(db.as_mut())
            })
            .join()
            .expect("database thread")
        })
    }
}

/// Starts a `dhtchat index` process on `backend` (no per-IP limit, for the kill -9 tests) and
/// reads its key and address from its first line.
pub fn spawn_index(backend: &Backend) -> (Child, PublicKey, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
    cmd.args([
        "index",
        "--bind",
        "127.0.0.1:0",
        "--ip-rate",
        "1000000",
        "--data-dir",
    ])
    .arg(backend.dir.path())
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(url) = &backend.url {
        cmd.args(["--database", url]);
    }
    let mut child = cmd.spawn().expect("spawn dhtchat index");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the index line");
    // "index key=<hex> addr=<ip:port>"
    let mut key = [0u8; 32];
    let mut addr = None;
    for field in line.split_whitespace() {
        if let Some(k) = field.strip_prefix("key=") {
            hex::decode_to_slice(k, &mut key).expect("key hex");
        }
        if let Some(a) = field.strip_prefix("addr=") {
            addr = Some(a.parse().expect("address"));
        }
    }
    (child, PublicKey(key), addr.expect("addr in the first line"))
}

/// SQLite, plus PostgreSQL when `DHTCHAT_TEST_POSTGRES` is set (one fresh schema each).
pub fn backends(test: &str) -> Vec<Backend> {
    let mut out = vec![Backend {
        name: "sqlite",
        url: None,
        dir: tempfile::tempdir().expect("temp dir"),
    }];
    match std::env::var("DHTCHAT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => out.push(postgres_backend(&url, test)),
        _ => say_skipped(test),
    }
    out
}

/// Tells the person running plain `cargo test` that PostgreSQL was not tested. Written to
/// the stderr handle directly, not through `eprintln!`, which the test harness captures.
fn say_skipped(test: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE index tests ({test}, …): SQLite only, the PostgreSQL side was SKIPPED \
             (set DHTCHAT_TEST_POSTGRES=postgres://… to run it; .ci/run does)"
        );
    });
}

fn postgres_backend(url: &str, test: &str) -> Backend {
    let mut rnd = [0u8; 4];
    getrandom::fill(&mut rnd).expect("random");
    let schema = format!("t_{}_{}", test.replace('-', "_"), hex::encode(rnd));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut admin = sql::open(Some(url), Path::new(".")).expect("connect to PostgreSQL");
            admin
                .batch(&format!("CREATE SCHEMA {schema}"))
                .expect("create schema");
        })
        .join()
        .expect("schema thread");
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    Backend {
        name: "postgres",
        url: Some(format!("{url}{sep}options=-csearch_path%3D{schema}")),
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

/// Starts an index on 127.0.0.1:0 over `backend`.
pub async fn start_index(backend: &Backend) -> Running {
    start_index_with(backend, |_| {}).await
}

/// Starts an index with changed options.
pub async fn start_index_with(
    backend: &Backend,
    change: impl FnOnce(&mut IndexOptions),
) -> Running {
    let mut options = IndexOptions::new(
        "127.0.0.1:0".parse().expect("address"),
        backend.dir.path().to_path_buf(),
    );
    options.database.clone_from(&backend.url);
    change(&mut options);
    start(&options).await.expect("start index")
}

/// Every row of every table, as `table: values`.
pub fn all_rows(sql: &mut dyn Sql) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    for table in [
        "meta",
        "accounts",
        "rooms",
        "room_members",
        "room_messages",
        "pms",
        "room_moderators",
        "devices",
    ] {
        for row in sql
            .query(&format!("SELECT * FROM {table}"), &[])
            .expect("select")
        {
            out.push((table.to_owned(), row));
        }
    }
    out
}

/// Every byte string stored (text as bytes, integers as 8 big-endian bytes).
pub fn stored_bytes(sql: &mut dyn Sql) -> Vec<Vec<u8>> {
    all_rows(sql)
        .into_iter()
        .flat_map(|(_, row)| row)
        .map(|v| match v {
            Value::Int(i) => i.to_be_bytes().to_vec(),
            Value::Text(t) => t.into_bytes(),
            Value::Blob(b) => b,
        })
        .collect()
}

/// True if `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A hand-driven client socket: sends raw requests, reads raw replies.
pub struct Raw {
    pub socket: UdpSocket,
    pub keypair: BoxKeypair,
    pub index: PublicKey,
    pub addr: SocketAddr,
}

impl Raw {
    pub async fn new(running: &Running, seed: u8) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            keypair: BoxKeypair::from_secret_bytes([seed; 32]),
            index: running.key,
            addr: running.addr,
        }
    }

    /// The datagrams of a request message.
    pub fn datagrams(&self, id: u64, message: &[u8]) -> Vec<Vec<u8>> {
        let shared = crypto::precompute(&self.keypair, &self.index);
        wire::fragment(false, id, message)
            .expect("fits")
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let nonce = [i as u8 ^ id as u8; 24];
                wire::seal(&shared, &self.index, &self.keypair.public_key(), &nonce, p)
            })
            .collect()
    }

    pub async fn send(&self, id: u64, request: &Request) {
        for d in self.datagrams(id, &request.encode()) {
            self.socket.send_to(&d, self.addr).await.expect("send");
        }
    }

    /// The next reply within `wait`, or `None`.
    pub async fn reply(&self, wait: Duration) -> Option<(u64, Reply)> {
        let shared = crypto::precompute(&self.keypair, &self.index);
        let mut buf = [0u8; 2048];
        let mut parts: Vec<Vec<u8>> = Vec::new();
        loop {
            let (len, _) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .expect("recv");
            let env = Envelope::new_checked(&buf[..len]).expect("envelope");
            let mut scratch = [0u8; MAX_PLAINTEXT];
            let plain = crypto::open_packet(&shared, &env, &mut scratch).expect("open");
            let f = Fragment::decode(plain).expect("fragment");
            parts.push(f.data.to_vec());
            if usize::from(f.index) + 1 == usize::from(f.count) {
                return Some((f.request_id, Reply::decode(&parts.concat()).expect("reply")));
            }
        }
    }
}

/// Waits up to `within` for the node event `pick` accepts; panics if none comes.
pub async fn wait_for(
    events: &mut tokio::sync::mpsc::Receiver<dhtchat::net::NodeEvent>,
    within: Duration,
    pick: impl Fn(&dhtchat::proto::Event) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("event in time")
            .expect("driver running");
        if pick(&ev.event) {
            return;
        }
    }
}

/// Lists the rooms every 100 ms for up to `secs` seconds until LOBBY has `n` clients.
pub async fn lobby_count(c: &mut dhtchat::index::client::IndexClient, n: u32, secs: u32) {
    for _ in 0..secs * 10 {
        let rooms = c.list_rooms().await.unwrap();
        if rooms.iter().any(|r| r.name == "LOBBY" && r.members == n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("LOBBY never had {n} clients");
}

/// Joins the room's group (`join`, the index's answer to join room) as a plain node bound at
/// `bind` with node seed `node_seed`, member identity seed `seed` and nick `nick`.
pub async fn join_room_group(
    join: &dhtchat::index::wire::RoomJoin,
    index_ip: std::net::IpAddr,
    bind: SocketAddr,
    (node_seed, seed): ([u8; 32], [u8; 32]),
    nick: &str,
) -> (
    dhtchat::net::Handle,
    dhtchat::proto::GroupId,
    tokio::sync::mpsc::Receiver<dhtchat::net::NodeEvent>,
) {
    use dhtchat::proto::{Config, Dialect, GroupSpec, JoinString, Privacy};
    let options = dhtchat::net::DriverOptions::default();
    let (driver, member, events) =
        dhtchat::net::Driver::bind(bind, Config::new(node_seed), &options)
            .await
            .unwrap();
    tokio::spawn(driver.run());
    let string = JoinString {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        chat_id: Some(join.chat_id),
        contact: dhtchat::wire::NodeInfo {
            key: dhtchat::index::roomkey::founder_key(&join.chat_id).unwrap(),
            addr: SocketAddr::new(index_ip, join.port),
        },
    };
    let spec = GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        identity_seed: Some(seed),
        nick: nick.as_bytes().to_vec(),
    };
    let group = member.join_group(string, spec).await.unwrap();
    (member, group, events)
}
