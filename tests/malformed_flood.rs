//! A flood of malformed datagrams against one node (threat-model.md §5 item 7; PROTOCOL.md
//! §2, §6.7), on a virtual clock.
//!
//! 60 virtual seconds at 2,000 datagrams a second (120,000 datagrams): random bytes,
//! truncated and oversized datagrams, wrong outer ids, unknown receivers, small-order sender
//! keys, and — from a pool of 2,000 attacker keys, more than the shared-key cache holds —
//! correctly sealed plaintexts that are malformed inside: unknown inner ids, get_nodes of the
//! wrong length, send_nodes with 7 entries or a partial entry, truncated broadcasts, signed
//! broadcasts with garbage signatures (three in ten sealed ones come from ten "loud" keys,
//! which get graylisted). Checked: no panic; every drop counted; the node's
//! bounded state (shared-key cache, limiter, requests, members, spam scores, queues) stays
//! within its caps, sampled every virtual second; the heap growth over the flood is small;
//! afterwards a fresh peer is admitted and a valid get_nodes gets its send_nodes.

mod peer;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use allocation_counter::measure;
use dhtchat::crypto::{Identity, SharedKeys, seal_in_place};
use dhtchat::proto::{Config, Dialect, DropReason, Privacy, StateSizes};
use dhtchat::wire::{GetNodes, Payload, PublicKey};
use peer::{Fixture, Peer, admit, drain, fixture};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const RATE: u64 = 2_000;
const SECONDS: u64 = 60;
const POOL: usize = 2_000;

/// The attacker: a pool of keys with their shared keys to the node precomputed.
struct Attacker {
    rng: ChaCha20Rng,
    ids: Vec<Identity>,
    keys: SharedKeys,
    target: PublicKey,
    valid: Vec<u8>,
}

impl Attacker {
    fn new(target: PublicKey, valid: Vec<u8>) -> Self {
        let ids = (0..POOL)
            .map(|i| {
                let mut seed = [0x77; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Identity::from_seed(&seed)
            })
            .collect();
        Self {
            rng: ChaCha20Rng::seed_from_u64(6),
            ids,
            keys: SharedKeys::new(NonZeroUsize::new(POOL).unwrap()),
            target,
            valid,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// `plain` sealed correctly to the node from a random pool key.
    fn sealed(&mut self, plain: &[u8]) -> Vec<u8> {
        // Three in ten from ten loud keys (they get graylisted), the rest from the whole pool.
        let i = match self.rng.random_bool(0.3) {
            true => self.rng.random_range(0..10),
            false => self.rng.random_range(0..POOL),
        };
        let id = &self.ids[i];
        let shared = self.keys.get(id.keypair(), &self.target).unwrap();
        let mut nonce = [0u8; 24];
        self.rng.fill_bytes(&mut nonce);
        let mut body = plain.to_vec();
        let mac = seal_in_place(shared, &nonce, &mut body);
        let mut out = vec![48];
        out.extend_from_slice(&self.target.0);
        out.extend_from_slice(&id.public_key().0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&mac);
        out.extend_from_slice(&body);
        out
    }

    /// A plaintext that opens but does not decode, or a broadcast that fails its checks.
    fn bad_plain(&mut self) -> Vec<u8> {
        let kind = self.rng.random_range(0..7);
        let mut p = match kind {
            0 => vec![self.rng.random_range(52..=255)],
            1 => vec![48, 1, 2, 3],
            2 => vec![49],
            3 => vec![50],
            4 => vec![51],
            5 => vec![self.rng.random_range(48..=51)],
            _ => vec![51],
        };
        let extra = match kind {
            0 => self.rng.random_range(1..900),
            1 => [0, 1, 7, 9, 16][self.rng.random_range(0..5)], // never the valid 8
            2 => 8 + 51 * 7,                                    // seven entries
            3 => self.rng.random_range(1..36),                  // truncated header
            4 => 37 + self.rng.random_range(0..95),             // trailer missing or cut
            5 => 0,                                             // only the inner id
            _ => 37 + 4 + 96, // whole but the signature is garbage
        };
        p.extend(self.bytes(extra));
        if kind == 2 && self.rng.random_bool(0.5) {
            p.truncate(8 + 51 + 20); // one entry and a partial one
        }
        p
    }

    fn next(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0 => {
                let n = self.rng.random_range(0..1400);
                self.bytes(n)
            }
            1 => {
                let n = self.rng.random_range(0..self.valid.len());
                self.valid[..n].to_vec()
            }
            2 => {
                let mut v = self.valid.clone();
                v.extend(self.bytes(1100));
                v
            }
            3 => {
                let mut v = self.valid.clone();
                v[0] = self.rng.random_range(0..48);
                v
            }
            4 => {
                let mut v = self.valid.clone();
                v[1..33].copy_from_slice(&self.bytes(32));
                v
            }
            5 => {
                let mut v = self.valid.clone();
                v[33..65].copy_from_slice(&[0; 32]); // small-order sender key
                v
            }
            _ => {
                let p = self.bad_plain();
                self.sealed(&p)
            }
        }
    }
}

fn within(s: &StateSizes, c: &Config) -> bool {
    s.shared_keys <= c.shared_key_cache
        && s.limiter_ips <= c.probe_ips
        && s.pending <= c.max_pending
        && s.members <= c.max_members
        && s.in_links <= c.max_in_links
        && s.scored_hops <= c.max_scored_peers
        && s.relay_pairs <= c.max_scored_peers
        && s.transmits == 0
        && s.events <= c.max_events
}

fn flood(f: &mut Fixture, attacker: &mut Attacker, worst: &mut StateSizes) {
    let config = Config::new([1; 32]);
    let from = SocketAddr::from(([127, 0, 66, 6], 6666));
    let start = f.now;
    for i in 0..RATE * SECONDS {
        let now = start + Duration::from_micros(i * 1_000_000 / RATE);
        let datagram = attacker.next();
        f.node.handle_datagram(now, from, &datagram);
        if f.node.poll_timeout().is_some_and(|t| t <= now) {
            f.node.handle_timeout(now);
        }
        drain(&mut f.node);
        while f.node.poll_event().is_some() {}
        if i % RATE == 0 {
            let s = f.node.state_sizes();
            assert!(within(&s, &config), "over a cap at {i}: {s:?}");
            worst.shared_keys = worst.shared_keys.max(s.shared_keys);
            worst.scored_hops = worst.scored_hops.max(s.scored_hops);
            worst.members = worst.members.max(s.members);
            worst.pending = worst.pending.max(s.pending);
            worst.limiter_ips = worst.limiter_ips.max(s.limiter_ips);
        }
    }
    f.now = start + Duration::from_secs(SECONDS);
}

#[test]
fn a_minute_of_malformed_datagrams_leaves_the_node_bounded_and_answering() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut friend = Peer::new(1);
    admit(&mut f, &mut friend);
    drain(&mut f.node);
    let valid = friend.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [3; 8] }));
    let mut attacker = Attacker::new(f.key, valid);
    let mut worst = StateSizes::default();
    let before = f.node.stats().clone();
    let mem = measure(|| flood(&mut f, &mut attacker, &mut worst));
    let st = f.node.stats();
    let sent = RATE * SECONDS;
    assert_eq!(st.datagrams_in - before.datagrams_in, sent);
    let dropped = st.total_drops() - before.total_drops();
    let names: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| st.dropped(**r) > before.dropped(**r))
        .map(|r| format!("{} {}", r.name(), st.dropped(*r) - before.dropped(*r)))
        .collect();
    println!(
        "{sent} malformed datagrams in {SECONDS} virtual s: {dropped} dropped ({})",
        names.join(", ")
    );
    println!(
        "largest state seen: {worst:?}; graylistings {}; heap net growth {} KB, peak {} KB",
        st.graylistings,
        mem.bytes_current / 1024,
        mem.bytes_max / 1024
    );
    assert_eq!(
        dropped, sent,
        "every malformed datagram was dropped and counted"
    );
    assert!(
        mem.bytes_current < 16 << 20,
        "heap growth {}",
        mem.bytes_current
    );
    assert!(mem.bytes_max < 32 << 20, "heap peak {}", mem.bytes_max);

    // The node still works: a fresh peer is admitted and its get_nodes is answered.
    let mut fresh = Peer::new(200);
    admit(&mut f, &mut fresh);
    let ask = fresh.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [4; 8] }));
    f.node.handle_datagram(f.now, fresh.addr, &ask);
    let out = drain(&mut f.node);
    assert_eq!(out.len(), 1);
    let plain = fresh.open(&out[0].1);
    let Ok(Payload::SendNodes(answer)) = Payload::decode(&plain) else {
        panic!("expected send_nodes");
    };
    assert_eq!(answer.ping_id, [4; 8]);
}
