//! A deterministic multi-node simulator for `dhtchat::proto::Node`.
//!
//! N nodes live in one process on virtual loopback addresses (127.x.y.z, one IP each). A
//! virtual clock jumps to the next datagram arrival or node timer; nothing sleeps. Links have a
//! seeded per-link latency, random jitter (which reorders), loss, duplication, and an optional
//! partition. The same seed always gives the same run.
#![allow(dead_code, unreachable_pub)] // each scenario file uses a different part; `pub` is the harness API

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dhtchat::proto::{Config, Event, GroupId, GroupSpec, JoinString, Node};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// How datagrams travel between nodes.
#[derive(Debug, Clone)]
pub struct LinkModel {
    /// Smallest one-way latency; each link gets a fixed latency in `min..max`.
    pub min_latency: Duration,
    /// Largest one-way latency.
    pub max_latency: Duration,
    /// Extra random delay per datagram, `0..jitter` (reorders datagrams).
    pub jitter: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self {
            min_latency: Duration::from_millis(5),
            max_latency: Duration::from_millis(40),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// One simulated node.
#[derive(Debug)]
pub struct SimNode {
    /// The protocol state machine.
    pub node: Node,
    /// Its virtual address.
    pub addr: SocketAddr,
    /// Its group (the scenarios use one group per node).
    pub group: Option<GroupId>,
    /// Every event, with the virtual time it happened and the index of the node whose
    /// datagram caused it (`None` for timers and commands).
    pub events: Vec<(Duration, Option<usize>, Event)>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flight {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

/// The simulator.
#[derive(Debug)]
pub struct Sim {
    /// The nodes, by index.
    pub nodes: Vec<SimNode>,
    /// Link behaviour (may be changed between steps).
    pub link: LinkModel,
    /// Side of each node when partitioned; datagrams between sides are dropped.
    pub partition: Option<Vec<bool>>,
    /// Datagrams delivered, lost, and cut by the partition.
    pub counters: Counters,
    /// When set, every datagram a node sends is recorded here (sender, receiver, bytes),
    /// before the link model loses or duplicates it.
    pub capture: Option<Vec<(usize, usize, Vec<u8>)>>,
    /// When set, every datagram a node sends to another node passes through it first
    /// (sender, receiver, bytes): an attacker on the path may change it, or drop it by
    /// returning false.
    pub tamper: Option<Tamper>,
    seed: u64,
    start: Instant,
    now: Instant,
    rng: ChaCha20Rng,
    flights: BinaryHeap<Reverse<Flight>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    timer_at: Vec<Option<Instant>>,
    by_addr: HashMap<SocketAddr, usize>,
    /// Addresses outside the simulation whose datagrams are kept (see [`Sim::listen`]).
    outside: HashMap<SocketAddr, Vec<Vec<u8>>>,
    seq: u64,
}

/// Rewrites (or, returning false, drops) one datagram: (sender, receiver, bytes).
pub type Rewrite = dyn FnMut(usize, usize, &mut Vec<u8>) -> bool;

/// A datagram rewriter on the path (see [`Sim::tamper`]).
pub struct Tamper(pub Box<Rewrite>);

impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tamper")
    }
}

/// Traffic counters of a run.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams lost by the link model.
    pub lost: u64,
    /// Datagrams dropped by the partition.
    pub cut: u64,
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, link: LinkModel) -> Self {
        #[allow(clippy::disallowed_methods)] // the one real clock read: the virtual epoch
        let start = Instant::now();
        Self {
            nodes: Vec::new(),
            link,
            partition: None,
            counters: Counters::default(),
            capture: None,
            tamper: None,
            seed,
            start,
            now: start,
            rng: ChaCha20Rng::seed_from_u64(seed),
            flights: BinaryHeap::new(),
            timers: BinaryHeap::new(),
            timer_at: Vec::new(),
            by_addr: HashMap::new(),
            outside: HashMap::new(),
            seq: 0,
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A default config with a per-node seed.
    pub fn config(&self, index: usize) -> Config {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&(index as u64).to_le_bytes());
        Config::new(seed)
    }

    /// Adds a node with `config`; returns its index.
    pub fn add_node(&mut self, config: Config) -> usize {
        let i = self.nodes.len();
        let addr = SocketAddr::from(([127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8], 33445));
        self.add_node_at(config, addr)
    }

    /// Adds a node with `config` at a chosen address (unique); returns its index.
    pub fn add_node_at(&mut self, config: Config, addr: SocketAddr) -> usize {
        let i = self.nodes.len();
        let node = Node::new(config).expect("valid config");
        assert!(self.by_addr.insert(addr, i).is_none(), "address in use");
        self.nodes.push(SimNode {
            node,
            addr,
            group: None,
            events: Vec::new(),
        });
        self.timer_at.push(None);
        i
    }

    /// Node `i` crashes and starts again at `addr` with `config` (no group yet: the caller
    /// restores it). Datagrams in flight to it are lost; its old address goes dead.
    pub fn restart_at(&mut self, i: usize, config: Config, addr: SocketAddr) {
        self.by_addr.remove(&self.nodes[i].addr);
        assert!(self.by_addr.insert(addr, i).is_none(), "address in use");
        let flights = std::mem::take(&mut self.flights);
        self.flights = flights.into_iter().filter(|Reverse(f)| f.to != i).collect();
        let n = &mut self.nodes[i];
        n.node = Node::new(config).expect("valid config");
        n.addr = addr;
        n.group = None;
        self.timer_at[i] = None;
    }

    /// Node `i` founds a group.
    pub fn create_group(&mut self, i: usize, spec: &GroupSpec) -> GroupId {
        let now = self.now;
        let g = self.nodes[i].node.create_group(now, spec).expect("create");
        self.nodes[i].group = Some(g);
        self.flush(i, None);
        g
    }

    /// Node `i` joins through `join`.
    pub fn join(&mut self, i: usize, join: &JoinString, spec: &GroupSpec) -> GroupId {
        let now = self.now;
        let g = self.nodes[i]
            .node
            .join_group(now, join, spec)
            .expect("join");
        self.nodes[i].group = Some(g);
        self.flush(i, None);
        g
    }

    /// The join string of node `i`'s group, through node `i`.
    pub fn join_string(&self, i: usize) -> JoinString {
        let n = &self.nodes[i];
        n.node
            .join_string(n.group.expect("in a group"), n.addr)
            .expect("group")
    }

    /// Runs `f` on node `i` at the current time, then collects its output.
    pub fn with_node<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Node, Instant, GroupId) -> T,
    ) -> T {
        let now = self.now;
        let group = self.nodes[i].group.expect("in a group");
        let out = f(&mut self.nodes[i].node, now, group);
        self.flush(i, None);
        out
    }

    /// Hands `bytes` from `from`, an address outside the simulation (an attacker or a
    /// hand-driven peer), to node `to` at the current time.
    pub fn inject(&mut self, from: SocketAddr, to: usize, bytes: &[u8]) {
        let now = self.now;
        self.nodes[to].node.handle_datagram(now, from, bytes);
        self.flush(to, None);
    }

    /// Keeps the datagrams the nodes send to `addr` (outside the simulation), at most 100,000
    /// at a time, for [`Sim::take_outbox`].
    pub fn listen(&mut self, addr: SocketAddr) {
        self.outside.entry(addr).or_default();
    }

    /// The datagrams sent to `addr` since the last call.
    pub fn take_outbox(&mut self, addr: &SocketAddr) -> Vec<Vec<u8>> {
        self.outside
            .get_mut(addr)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Bytes of the datagrams in flight (the simulator's own memory, not the nodes').
    pub fn in_flight_bytes(&self) -> u64 {
        self.flights
            .iter()
            .map(|Reverse(f)| f.bytes.capacity() as u64 + 64)
            .sum()
    }

    /// Processes the next datagram or timer. False when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let next_flight = self.flights.peek().map(|Reverse(f)| f.at);
        let next_timer = self.next_live_timer();
        match (next_flight, next_timer) {
            (None, None) => false,
            (Some(f), t) if t.is_none_or(|t| f <= t) => {
                let Some(Reverse(flight)) = self.flights.pop() else {
                    return false;
                };
                self.now = self.now.max(flight.at);
                self.deliver(flight);
                true
            }
            (_, Some(t)) => {
                let Some(Reverse((_, i))) = self.timers.pop() else {
                    return false;
                };
                self.now = self.now.max(t);
                self.timer_at[i] = None;
                let now = self.now;
                self.nodes[i].node.handle_timeout(now);
                self.flush(i, None);
                true
            }
            _ => false,
        }
    }

    /// Runs until `elapsed() >= until` (virtual) or nothing is left.
    pub fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        while self.next_event_at().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.elapsed() + d;
        self.run_until(until);
    }

    /// Runs until `done` holds or `limit` virtual time has passed; true if `done` held.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.elapsed() + limit;
        while !done(self) {
            if self.elapsed() >= end {
                return false;
            }
            let step = Duration::from_millis(100).min(end - self.elapsed());
            self.run_for(step);
        }
        true
    }

    fn next_event_at(&mut self) -> Option<Instant> {
        let f = self.flights.peek().map(|Reverse(f)| f.at);
        let t = self.next_live_timer();
        match (f, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops stale timer entries and returns the earliest live one.
    fn next_live_timer(&mut self) -> Option<Instant> {
        while let Some(Reverse((t, i))) = self.timers.peek().copied() {
            if self.timer_at[i] == Some(t) {
                return Some(t);
            }
            self.timers.pop();
        }
        None
    }

    fn deliver(&mut self, f: Flight) {
        self.counters.delivered += 1;
        let now = self.now;
        let from = self.nodes[f.from].addr;
        self.nodes[f.to].node.handle_datagram(now, from, &f.bytes);
        self.flush(f.to, Some(f.from));
    }

    /// Moves node `i`'s output into the network and its event log; re-arms its timer.
    fn flush(&mut self, i: usize, cause: Option<usize>) {
        while let Some(t) = self.nodes[i].node.poll_transmit() {
            self.send(i, t.destination, t.payload);
        }
        let elapsed = self.elapsed();
        while let Some(e) = self.nodes[i].node.poll_event() {
            self.nodes[i].events.push((elapsed, cause, e));
        }
        let next = self.nodes[i].node.poll_timeout();
        if next != self.timer_at[i] {
            self.timer_at[i] = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, i)));
            }
        }
    }

    fn send(&mut self, from: usize, to: SocketAddr, mut bytes: Vec<u8>) {
        let Some(&to) = self.by_addr.get(&to) else {
            if let Some(q) = self.outside.get_mut(&to) {
                if q.len() < 100_000 {
                    q.push(bytes);
                }
            }
            return;
        };
        if let Some(c) = &mut self.capture {
            c.push((from, to, bytes.clone()));
        }
        if let Some(Tamper(t)) = &mut self.tamper {
            if !t(from, to, &mut bytes) {
                return;
            }
        }
        if let Some(side) = &self.partition {
            if side[from] != side[to] {
                self.counters.cut += 1;
                return;
            }
        }
        if self.rng.random_bool(self.link.loss) {
            self.counters.lost += 1;
            return;
        }
        let copies = if self.rng.random_bool(self.link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + self.latency(from, to) + self.jitter();
            self.seq += 1;
            let seq = self.seq;
            let bytes = bytes.clone();
            self.flights.push(Reverse(Flight {
                at,
                seq,
                from,
                to,
                bytes,
            }));
        }
    }

    /// A fixed latency per ordered pair of nodes, from the seed.
    fn latency(&self, a: usize, b: usize) -> Duration {
        let span = self.link.max_latency.saturating_sub(self.link.min_latency);
        let h = splitmix(self.seed ^ ((a as u64) << 32 | b as u64));
        let extra = span.as_micros() as u64;
        self.link.min_latency + Duration::from_micros(if extra == 0 { 0 } else { h % extra })
    }

    fn jitter(&mut self) -> Duration {
        let j = self.link.jitter.as_micros() as u64;
        match j {
            0 => Duration::ZERO,
            j => Duration::from_micros(self.rng.random_range(0..j)),
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Builds a group of `n` nodes: node 0 founds it with `spec`, node `i` joins at `i × stagger`
/// through a random earlier node. `configure` adjusts each node's config.
pub fn build_group(
    sim: &mut Sim,
    n: usize,
    spec: &GroupSpec,
    stagger: Duration,
    mut configure: impl FnMut(&mut Config),
) {
    for i in 0..n {
        let mut c = sim.config(i);
        configure(&mut c);
        sim.add_node(c);
    }
    sim.create_group(0, spec);
    for i in 1..n {
        sim.run_until(stagger * i as u32);
        let via = sim.rng.random_range(0..i);
        let join = sim.join_string(via);
        let mut s = spec.clone();
        s.identity_seed = None;
        sim.join(i, &join, &s);
    }
}
