//! CPU per garbage datagram (issue 16, PROTOCOL.md §2.1): what `Node::handle_datagram` costs
//! for datagrams an attacker can send without being a member, at 100,000 datagrams per
//! (virtual) second, next to one X25519 (`crypto::precompute`), the cost they used to have.
//!
//! Groups (`garbage/*`, one secure public group; the node's clock advances 10 µs per datagram,
//! so the X25519 budget refills as it would under a real 100,000/s flood):
//! - `random_bytes`: 106..=1024 random bytes (dropped: malformed or unknown group);
//! - `bad_mac1`: a well-formed envelope to the node's key from a random key, random nonce
//!   (a generic flood; dropped by the mac1 check, no X25519);
//! - `good_mac1_many_ips`: the same with a correct mac1 (an attacker who knows the node's
//!   key) from 4,096 source IPs (as many as the limiter tracks): the node-wide X25519 budget (`dh_rate`) lets about 2 % cost
//!   an X25519, the rest is dropped (`dh_over_limit`) before it;
//! - `mixed`: the three in turn;
//! - `x25519_precompute`: the baseline, one shared-key computation.
//!
//! Target (issue 16): ≤ 5 µs per garbage datagram. `GARBAGE_BENCH_QUICK=1` shortens the run.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dhtchat::crypto::{Identity, MAC1_COVERS, mac1, precompute};
use dhtchat::proto::{Config, Dialect, GroupSpec, Node, Privacy};
use dhtchat::wire::PublicKey;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Pre-built datagrams per kind.
const POOL: usize = 4096;

struct Flood {
    node: Node,
    now: Instant,
    pool: Vec<(SocketAddr, Vec<u8>)>,
    next: usize,
}

impl Flood {
    fn new(kinds: &[u8]) -> Self {
        #[allow(clippy::disallowed_methods, reason = "one epoch for the virtual clock")]
        let now = Instant::now();
        let mut node = Node::new(Config::new([2; 32])).unwrap();
        let spec = GroupSpec {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            identity_seed: Some([0xB0; 32]),
            nick: Vec::new(),
        };
        let group = node.create_group(now, &spec).unwrap();
        let to = node.group_info(group).unwrap().own_key;
        while node.poll_transmit().is_some() {}
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let pool = (0..POOL)
            .map(|i| {
                let kind = kinds[i % kinds.len()];
                let ip = [10, 77, (i >> 8) as u8, i as u8];
                (SocketAddr::from((ip, 9)), garbage(&mut rng, &to, kind))
            })
            .collect();
        Self {
            node,
            now,
            pool,
            next: 0,
        }
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "a benchmark reads the wall clock"
    )]
    fn run(&mut self, n: u64) -> Duration {
        let t = Instant::now();
        for _ in 0..n {
            let (from, d) = &self.pool[self.next % POOL];
            self.next += 1;
            self.now += Duration::from_micros(10);
            self.node.handle_datagram(self.now, *from, black_box(d));
            while self.node.poll_transmit().is_some() {}
        }
        t.elapsed()
    }
}

/// Kind 0: random bytes; 1: envelope, random nonce; 2: envelope with a good mac1.
fn garbage(rng: &mut ChaCha20Rng, to: &PublicKey, kind: u8) -> Vec<u8> {
    let mut d = vec![0u8; rng.random_range(106..=1024)];
    rng.fill_bytes(&mut d);
    if kind == 0 {
        return d;
    }
    d[0] = 48;
    d[1..33].copy_from_slice(&to.0);
    d[64] &= 0x7f;
    if kind == 2 {
        let mac = mac1(to, &d[..MAC1_COVERS]);
        d[MAC1_COVERS..MAC1_COVERS + mac.len()].copy_from_slice(&mac);
    }
    d
}

fn main() {
    let quick = std::env::var_os("GARBAGE_BENCH_QUICK").is_some();
    let secs = if quick { 1 } else { 3 };
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(secs))
        .sample_size(20)
        .configure_from_args();
    let mut g = c.benchmark_group("garbage");
    for (name, kinds) in [
        ("random_bytes", &[0u8][..]),
        ("bad_mac1", &[1]),
        ("good_mac1_many_ips", &[2]),
        ("mixed", &[0, 1, 2]),
    ] {
        let mut flood = Flood::new(kinds);
        g.bench_function(name, |b| b.iter_custom(|n| flood.run(n)));
    }
    let ours = Identity::from_seed(&[0xB0; 32]);
    let theirs = Identity::from_seed(&[0xB1; 32]).public_key();
    g.bench_function("x25519_precompute", |b| {
        b.iter(|| precompute(ours.keypair(), black_box(&theirs)))
    });
    g.finish();
    c.final_summary();
}
