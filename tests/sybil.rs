//! Sybil and eclipse (threat-model.md §1.2, catalogue item 8) and the join rate (§1.9).
//!
//! **Sybil run** (simulator): a target T founds a public secure group, 30 honest nodes join,
//! then 40 Sybil identities whose keys are ground to share at least 8 leading bits with T's
//! key join through T, from 10 loopback IPs in 127.0.0.2–127.0.0.60 (4 identities per IP on
//! different ports, so the per-IP cap has something to hold). After 60 virtual seconds:
//!
//! - every table (T's and the honest nodes') holds at most 2 entries per IP;
//! - **lookups**: 100 iterative lookups from T of a random honest node's key H. A lookup
//!   keeps a shortlist ordered by XOR distance to H, seeded with T's whole table; each round
//!   it queries the 3 closest unqueried entries among the 8 closest. An honest node answers
//!   with the 4 entries of its table closest to H (the deterministic part of a real
//!   send_nodes); a Sybil answers adversarially, with the 4 Sybils closest to H and nothing
//!   else. The lookup succeeds if H's key *with H's real address* enters the shortlist within
//!   10 rounds. Required: ≥ 95 % success.
//!
//! **Join rate** (hand-driven peer): join handshakes from fresh keys are bounded by the
//! probe buckets (per source IP burst 20, 10/s; node-wide burst 200, 100/s), because a key
//! that is not yet validated gets nothing but a probe, and only a probe's answer admits it.

mod peer;
mod sim;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use dhtchat::crypto::{Identity, SharedKeys};
use dhtchat::proto::dht::{common_prefix, distance};
use dhtchat::proto::{Dialect, DropReason, Event, GroupSpec, Privacy};
use dhtchat::wire::{GetNodes, NodeInfo, NodeList, Payload, PublicKey, SendNodes};
use peer::{Peer, drain, fixture};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{LinkModel, Sim};

const HONEST: usize = 30;
const SYBILS: usize = 40;
const PER_IP: usize = 4;
const TARGET_SEED: [u8; 32] = [9; 32];

/// Seeds whose X25519 keys share at least `bits` leading bits with `target`.
fn grind(target: &PublicKey, n: usize, bits: usize) -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < n {
        let mut seed = [0x5b; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        i += 1;
        let key = Identity::from_seed(&seed).public_key();
        if common_prefix(&key, target).is_some_and(|p| p >= bits) {
            out.push(seed);
        }
    }
    out
}

fn max_per_ip(table: &[NodeInfo]) -> usize {
    let mut per: HashMap<IpAddr, usize> = HashMap::new();
    for e in table {
        *per.entry(e.addr.ip()).or_default() += 1;
    }
    per.values().copied().max().unwrap_or(0)
}

struct World {
    sim: Sim,
    keys: Vec<PublicKey>,
    sybil: HashSet<PublicKey>,
}

fn build(per_ip: usize) -> World {
    let mut sim = Sim::new(17, LinkModel::default());
    let spec = GroupSpec::default();
    for i in 0..HONEST + 1 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    let target_spec = GroupSpec {
        identity_seed: Some(TARGET_SEED),
        ..spec.clone()
    };
    sim.create_group(0, &target_spec);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for i in 1..=HONEST {
        sim.run_for(Duration::from_millis(300));
        let via = sim.join_string(rng.random_range(0..i));
        sim.join(i, &via, &spec);
    }
    sim.run_for(Duration::from_secs(20));
    let target = Identity::from_seed(&TARGET_SEED).public_key();
    for (k, seed) in grind(&target, SYBILS, 8).into_iter().enumerate() {
        let ip = [127, 0, 0, 2 + (k / per_ip) as u8];
        let addr = SocketAddr::from((ip, 40_000 + k as u16));
        let c = sim.config(HONEST + 1 + k);
        let i = sim.add_node_at(c, addr);
        sim.run_for(Duration::from_millis(100));
        let via = sim.join_string(0);
        let s = GroupSpec {
            identity_seed: Some(seed),
            ..spec.clone()
        };
        sim.join(i, &via, &s);
    }
    sim.run_for(Duration::from_secs(60));
    let keys: Vec<PublicKey> = sim
        .nodes
        .iter()
        .map(|n| n.node.group_info(n.group.unwrap()).unwrap().own_key)
        .collect();
    let sybil = keys[HONEST + 1..].iter().copied().collect();
    World { sim, keys, sybil }
}

impl World {
    fn table(&self, i: usize) -> Vec<NodeInfo> {
        let n = &self.sim.nodes[i];
        n.node.table(n.group.unwrap())
    }

    /// What node `q` answers to a lookup of `h` (see the module docs).
    fn answer(&self, q: &PublicKey, h: &PublicKey) -> Vec<NodeInfo> {
        let i = self.keys.iter().position(|k| k == q).unwrap();
        let mut pool: Vec<NodeInfo> = if self.sybil.contains(q) {
            (HONEST + 1..self.keys.len())
                .map(|j| NodeInfo {
                    key: self.keys[j],
                    addr: self.sim.nodes[j].addr,
                })
                .collect()
        } else {
            self.table(i)
        };
        pool.sort_by_key(|e| distance(&e.key, h));
        pool.truncate(4);
        pool
    }

    /// One lookup of honest node `h` from the target; true if found with its address.
    fn lookup(&self, h: usize) -> bool {
        let want = NodeInfo {
            key: self.keys[h],
            addr: self.sim.nodes[h].addr,
        };
        let mut short: BTreeMap<[u8; 32], NodeInfo> = BTreeMap::new();
        for e in self.table(0) {
            short.insert(distance(&e.key, &want.key), e);
        }
        let mut asked = HashSet::new();
        for _round in 0..10 {
            if short.values().any(|e| *e == want) {
                return true;
            }
            let next: Vec<NodeInfo> = short
                .values()
                .take(8)
                .filter(|e| !asked.contains(&e.key))
                .take(3)
                .copied()
                .collect();
            if next.is_empty() {
                return false;
            }
            for q in next {
                asked.insert(q.key);
                for e in self.answer(&q.key, &want.key) {
                    short.insert(distance(&e.key, &want.key), e);
                }
            }
        }
        short.values().any(|e| *e == want)
    }
}

#[test]
fn forty_ground_sybils_are_held_to_two_entries_per_ip_and_honest_lookups_succeed() {
    forty_sybils(PER_IP);
}

/// The same 40 Sybils, one per address on 127.0.0.2–127.0.0.41: the per-IP cap does not bind,
/// so this measures eclipse resistance of the table itself.
#[test]
fn forty_ground_sybils_on_forty_addresses_do_not_stop_honest_lookups() {
    forty_sybils(1);
}

fn forty_sybils(per_ip: usize) {
    let w = build(per_ip);
    let t = w.table(0);
    let sybil_in_t = t.iter().filter(|e| w.sybil.contains(&e.key)).count();
    let sybil_close = t
        .iter()
        .take(6)
        .filter(|e| w.sybil.contains(&e.key))
        .count();
    let worst_ip = (0..=HONEST).map(|i| max_per_ip(&w.table(i))).max().unwrap();
    println!(
        "{per_ip} Sybil(s) per IP; target table: {} entries, {sybil_in_t} Sybil ({sybil_close} of the 6 closest), \
         most entries per IP in T's table {}, in any honest table {worst_ip}",
        t.len(),
        max_per_ip(&t)
    );
    assert!(max_per_ip(&t) <= 2);
    assert!(worst_ip <= 2);
    assert!(
        sybil_in_t <= 2 * SYBILS.div_ceil(per_ip),
        "the cap holds Sybils per IP"
    );

    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let found = (0..100)
        .filter(|_| w.lookup(rng.random_range(1..=HONEST)))
        .count();
    println!("lookups of honest keys from the target: {found} of 100 succeeded");
    assert!(found >= 95, "{found} of 100 lookups succeeded");
}

/// A fresh key at `addr` that joins by hand: get_nodes, then answers the node's probe.
fn try_join(f: &mut peer::Fixture, k: u32, addr: SocketAddr, at: Duration) -> bool {
    let mut seed = [0x3c; 32];
    seed[..4].copy_from_slice(&k.to_le_bytes());
    let mut p = Peer {
        id: Identity::from_seed(&seed),
        addr,
        keys: SharedKeys::new(NonZeroUsize::new(2).unwrap()),
    };
    let now = f.now + at;
    let ask = p.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [1; 8] }));
    f.node.handle_datagram(now, p.addr, &ask);
    let probes: Vec<_> = drain(&mut f.node)
        .into_iter()
        .filter(|(to, d)| *to == addr && d[0] == 48) // not a cookie reply (PROTOCOL.md §2.1)
        .collect();
    let Some((_, probe)) = probes.first() else {
        return false;
    };
    let Ok(Payload::GetNodes(g)) = Payload::decode(&p.open(probe)) else {
        return false;
    };
    let answer = SendNodes {
        ping_id: g.ping_id,
        nodes: NodeList::new(),
    };
    let reply = p.packet(f.key, &Payload::SendNodes(answer));
    f.node.handle_datagram(now, p.addr, &reply);
    drain(&mut f.node);
    true
}

fn joined(f: &mut peer::Fixture) -> usize {
    std::iter::from_fn(|| f.node.poll_event())
        .filter(|e| matches!(e, Event::PeerJoined { .. }))
        .count()
}

#[test]
fn a_join_flood_is_held_to_the_probe_buckets() {
    // 1,000 fresh keys from one IP within one second.
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let one_ip = (0..1000u32)
        .filter(|&k| {
            let addr = SocketAddr::from(([127, 0, 0, 77], 10_000 + k as u16));
            try_join(&mut f, k, addr, Duration::from_millis(u64::from(k)))
        })
        .count();
    let admitted = joined(&mut f);
    let table = f.node.table(f.group);
    println!(
        "1,000 joins from one IP in 1 s: {one_ip} probed, {admitted} admitted, {} in the table, \
         {} refused (rate_limited)",
        table.len(),
        f.node.stats().dropped(DropReason::RateLimited)
    );
    assert!(
        (20..=31).contains(&admitted),
        "per-IP burst 20 + 10/s: {admitted}"
    );
    assert!(table.len() <= 2, "per-IP table cap");

    // 2,000 fresh keys from 2,000 IPs within one second: the node-wide bucket.
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    for k in 0..2000u32 {
        let [_, _, a, b] = k.to_be_bytes();
        let addr = SocketAddr::from(([127, 10, a, b], 10_000));
        try_join(&mut f, k, addr, Duration::from_micros(u64::from(k) * 500));
    }
    let admitted = joined(&mut f);
    println!("2,000 joins from 2,000 IPs in 1 s: {admitted} admitted");
    assert!(
        (200..=301).contains(&admitted),
        "node-wide burst 200 + 100/s: {admitted}"
    );
}
