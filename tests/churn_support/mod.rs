//! The real-process harness of the churn and freeze tests (`tests/churn.rs`,
//! `tests/sigstop.rs`): `dhtchat chat --plain` processes that can be stopped, killed,
//! frozen and restarted on the same address with the same data directory, and a loopback
//! UDP impairment proxy that loses, duplicates and reorders their datagrams.
//!
//! **The proxy.** Each process `i` binds a real address `R_i`; the proxy binds a front
//! address `F_i` for it, on an IP of its own (127.0.1.`i+1`: a node keeps at most 2 table
//! entries per IP and meters X25519 work per IP, PROTOCOL.md §6.1-6.2, so members all seen
//! from one IP would each keep 2 peers and share one DH budget, unlike members on hosts of
//! their own), and the processes only ever learn fronts (join strings are rewritten
//! to the front, and every datagram arrives from one). A datagram from `R_j` to `F_i` is
//! forwarded to `R_i` from `F_j`, so `i` sees it from `j`'s front and answers there. On the
//! way it is lost, duplicated or held back behind the next datagram (reordered) with the
//! given probabilities, from a seeded generator. A datagram from an address that is no
//! process's real address is dropped and counted.

#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dhtchat::app::plain::parse_plain;
use dhtchat::proto::JoinString;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub mod tally;

/// Longest wait for one expected line.
pub const WAIT: Duration = Duration::from_secs(30);

/// What the proxy does to each datagram.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram is held back and sent after the next one (or 20 ms later).
    pub reorder: f64,
}

/// Datagrams the proxy forwarded, lost, duplicated, reordered, and dropped as unknown.
#[derive(Debug, Default)]
pub struct ProxyCounts {
    pub forwarded: AtomicU64,
    pub lost: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
    pub unknown: AtomicU64,
}

/// The impairment proxy: one front socket and one thread per process.
pub struct Proxy {
    fronts: Vec<Arc<UdpSocket>>,
    reals: Arc<RwLock<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub counts: Arc<ProxyCounts>,
}

impl Proxy {
    /// A proxy for processes at `reals` (index = process).
    pub fn start(reals: &[SocketAddr], imp: Impairment, seed: u64) -> Self {
        assert!(reals.len() < 255, "one loopback IP per front");
        let fronts: Vec<Arc<UdpSocket>> = (0..reals.len())
            .map(|i| {
                let ip = std::net::Ipv4Addr::new(127, 0, 1, i as u8 + 1);
                let s = UdpSocket::bind((ip, 0)).expect("bind a front");
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                Arc::new(s)
            })
            .collect();
        let reals = Arc::new(RwLock::new(reals.to_vec()));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(ProxyCounts::default());
        let threads = (0..fronts.len())
            .map(|i| {
                let lane = Lane {
                    me: i,
                    fronts: fronts.clone(),
                    reals: reals.clone(),
                    stop: stop.clone(),
                    counts: counts.clone(),
                    imp,
                    rng: ChaCha20Rng::seed_from_u64(seed ^ ((i as u64) << 32)),
                    held: None,
                };
                std::thread::spawn(move || lane.run())
            })
            .collect();
        Self {
            fronts,
            reals,
            stop,
            threads,
            counts,
        }
    }

    /// Process `i`'s front address (the one the others know it by).
    pub fn front(&self, i: usize) -> SocketAddr {
        self.fronts[i].local_addr().unwrap()
    }

    /// `join` with its contact's address replaced by that contact's front (`i`).
    pub fn rewrite(&self, join: &str, i: usize) -> String {
        let mut j: JoinString = join.parse().expect("a join string");
        j.contact.addr = self.front(i);
        j.to_string()
    }

    pub fn count(&self) -> [u64; 5] {
        let c = &self.counts;
        [
            &c.forwarded,
            &c.lost,
            &c.duplicated,
            &c.reordered,
            &c.unknown,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The thread of one front: what arrives at `F_me` goes to `R_me`.
struct Lane {
    me: usize,
    fronts: Vec<Arc<UdpSocket>>,
    reals: Arc<RwLock<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    counts: Arc<ProxyCounts>,
    imp: Impairment,
    rng: ChaCha20Rng,
    /// A datagram held back: (sender index, bytes).
    held: Option<(usize, Vec<u8>)>,
}

impl Lane {
    fn run(mut self) {
        let mut buf = [0u8; 2048];
        while !self.stop.load(Ordering::Relaxed) {
            match self.fronts[self.me].recv_from(&mut buf) {
                Ok((len, src)) => self.on_datagram(src, &buf[..len]),
                Err(_) => self.release(), // a quiet 20 ms: send what was held back
            }
        }
    }

    fn on_datagram(&mut self, src: SocketAddr, bytes: &[u8]) {
        let from = self.reals.read().unwrap().iter().position(|a| *a == src);
        let Some(from) = from else {
            self.counts.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.rng.random_bool(self.imp.loss) {
            self.counts.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.held.is_none() && self.rng.random_bool(self.imp.reorder) {
            self.counts.reordered.fetch_add(1, Ordering::Relaxed);
            self.held = Some((from, bytes.to_vec()));
            return;
        }
        self.forward(from, bytes);
        if self.rng.random_bool(self.imp.duplicate) {
            self.counts.duplicated.fetch_add(1, Ordering::Relaxed);
            self.forward(from, bytes);
        }
        self.release();
    }

    fn release(&mut self) {
        if let Some((from, bytes)) = self.held.take() {
            self.forward(from, &bytes);
        }
    }

    fn forward(&self, from: usize, bytes: &[u8]) {
        let to = self.reals.read().unwrap()[self.me];
        let _ = self.fronts[from].send_to(bytes, to);
        self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
    }
}

/// A free loopback UDP address (bound, then released for the process to take), on
/// 127.0.0.2 so that no proxy front (127.0.1.x) takes it meanwhile, and below the kernel's
/// ephemeral range (32768 and up on Linux), so that no socket bound to port 0 elsewhere on
/// the machine takes it while its member is stopped (a restart then could not bind it).
pub fn free_addr() -> SocketAddr {
    free_addr_on(std::net::Ipv4Addr::new(127, 0, 0, 2))
}

/// [`free_addr`] on `ip` (a loopback address of the member's own, as a host of its own).
pub fn free_addr_on(ip: std::net::Ipv4Addr) -> SocketAddr {
    // Each port once per test process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    let seed = u64::from(std::process::id()) << 20 | given.len() as u64;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for _ in 0..1000 {
        let port = rng.random_range(20_000..32_000);
        if given.contains(&port) {
            continue;
        }
        if let Ok(s) = UdpSocket::bind((ip, port)) {
            given.push(port);
            return s.local_addr().unwrap();
        }
    }
    panic!("no free port on {ip} in 20000..32000");
}

/// One run of a process: when it started, was READY, and ended (if it did).
#[derive(Debug, Clone, Copy)]
pub struct Life {
    pub started: Instant,
    pub ready: Option<Instant>,
    pub ended: Option<Instant>,
    /// The signal that ended it (`TERM`, `KILL`), if we sent one.
    pub signal: Option<&'static str>,
}

/// One `dhtchat chat --plain` member that may be restarted any number of times on the same
/// address and data directory. Every line of every run is kept with its run's index.
pub struct Member {
    pub name: String,
    pub bind: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Option<Receiver<(Instant, String)>>,
    /// Every line read: (run, when, line).
    pub seen: Vec<(usize, Instant, String)>,
    pub lives: Vec<Life>,
    pub stopped: bool,
}

impl Member {
    pub fn new(name: &str) -> Self {
        Self::bound(name, free_addr())
    }

    /// A member that binds `bind` (see [`free_addr_on`]).
    pub fn bound(name: &str, bind: SocketAddr) -> Self {
        Self {
            name: name.to_owned(),
            bind,
            dir: tempfile::tempdir().unwrap(),
            child: None,
            stdin: None,
            lines: None,
            seen: Vec::new(),
            lives: Vec::new(),
            stopped: false,
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Starts a run: `dhtchat chat --plain --bind BIND --data-dir DIR ARGS` (no args after
    /// the first run: the store brings the group back).
    pub fn start(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let err = File::options()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
            .arg("chat")
            .arg("--plain")
            .args(["--bind", &self.bind.to_string(), "--data-dir"])
            .arg(self.dir.path())
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("DHTCHAT_CHURN_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start dhtchat");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        self.stdin = child.stdin.take();
        self.child = Some(child);
        self.lines = Some(rx);
        self.stopped = false;
        self.lives.push(Life {
            started: Instant::now(),
            ready: None,
            ended: None,
            signal: None,
        });
    }

    /// Reads every line printed so far without waiting.
    pub fn pump(&mut self) {
        let run = self.lives.len().saturating_sub(1);
        let Some(rx) = &self.lines else { return };
        while let Ok((at, line)) = rx.try_recv() {
            if line.starts_with("READY ") {
                let life = self.lives.last_mut().unwrap();
                life.ready.get_or_insert(at);
            }
            self.seen.push((run, at, line));
        }
    }

    /// Waits (bounded) for a line of `kind` with `fields` in the current run.
    pub fn expect(&mut self, kind: &str, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        let deadline = Instant::now() + WAIT;
        loop {
            self.pump();
            let run = self.lives.len() - 1;
            let found = (self.seen.iter())
                .filter(|(r, _, _)| *r == run)
                .find_map(|(_, _, l)| matches(l, kind, fields));
            if let Some(f) = found {
                return f;
            }
            let status = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                status.is_none(),
                "{} exited ({status:?}) waiting for {kind}; stderr:\n{}",
                self.name,
                self.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "{}: no {kind} {fields:?} within {WAIT:?}; it printed:\n{}",
                self.name,
                self.printed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes a line to the running process.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("running");
        let _ = writeln!(stdin, "{line}");
        let _ = stdin.flush();
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the run to end.
    pub fn stop(&mut self, signal: &'static str) -> std::process::ExitStatus {
        self.signal(signal);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(10));
        };
        self.pump();
        self.stdin = None;
        let life = self.lives.last_mut().unwrap();
        life.ended = Some(Instant::now());
        life.signal = Some(signal);
        status
    }

    /// Sends `signal` without waiting (`STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// The exit status if the current run ended by itself (the run is then over).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.pump();
        self.child = None;
        self.stdin = None;
        self.lives.last_mut().unwrap().ended = Some(Instant::now());
        Some(status)
    }

    /// What it wrote on stderr over all runs.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Writes what it printed (`NAME.out`, each line with its run and seconds since its
    /// first start) and its stderr (`NAME.err`) into `dir`.
    pub fn save_logs(&self, dir: &std::path::Path) {
        let t0 = self.lives.first().map(|l| l.started);
        let lines: Vec<String> = (self.seen.iter())
            .map(|(r, at, l)| {
                let t = t0.map(|t| at.saturating_duration_since(t).as_secs_f64());
                format!("[{r}] +{:.2} {l}", t.unwrap_or(0.0))
            })
            .collect();
        let runs: Vec<String> = (self.lives.iter().enumerate())
            .map(|(i, l)| {
                let s = |x: Option<Instant>| {
                    let t = t0.zip(x).map(|(t, x)| x.saturating_duration_since(t));
                    t.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64()))
                };
                let (start, ready, end) = (s(Some(l.started)), s(l.ready), s(l.ended));
                format!(
                    "run {i}: start {start} ready {ready} end {end} {:?}",
                    l.signal
                )
            })
            .collect();
        let out = format!("{}\n{}\n", runs.join("\n"), lines.join("\n"));
        let _ = std::fs::write(dir.join(format!("{}.out", self.name)), out);
        let _ = std::fs::write(dir.join(format!("{}.err", self.name)), self.stderr());
    }

    pub fn printed(&self) -> String {
        let lines: Vec<String> = (self.seen.iter())
            .map(|(r, _, l)| format!("[{r}] {l}"))
            .collect();
        lines.join("\n")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The fields of `line` if it is of `kind` and has every one of `fields`.
pub fn matches(line: &str, kind: &str, fields: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    let p = parse_plain(line)?;
    let ok = p.kind == kind
        && (fields.iter()).all(|(k, v)| p.fields.iter().any(|(fk, fv)| fk == k && fv == v));
    ok.then_some(p.fields)
}

/// The value of `key` in a plain line's fields; panics if it is missing.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}
