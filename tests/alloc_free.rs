//! The receive path of get_nodes and send_nodes does no heap allocation (crypto.rs: "no heap
//! allocation on the open path"; payload.rs: "decoding a get_nodes or send_nodes never
//! allocates").
//!
//! Measured path, with a warm shared-key cache: `Envelope::new_checked` → `SharedKeys::get` →
//! `open_packet` into a stack scratch buffer → `Payload::decode` → iterating the nodes.
//!
//! The relay path (`relay_path` below): accepting a signed chat and relaying its copies, with
//! the driver's `Node::recycle`, allocates the same whether it relays 2 copies or 6: nothing
//! per datagram.
//!
//! The counting global allocator is `allocation_counter`'s (a dev-dependency): it wraps
//! `System` and counts, per thread, only inside `allocation_counter::measure`, so the test
//! harness and other tests running on other threads never pollute a count. It is a dependency
//! rather than code in this file because `unsafe_code = "forbid"` in Cargo.toml's `[lints]`
//! applies to every target of the package and is passed as `-F unsafe_code`, which a
//! `#![allow(unsafe_code)]` here cannot override (E0453), and `GlobalAlloc` is an unsafe trait.

use std::hint::black_box;
use std::net::SocketAddr;
use std::num::NonZeroUsize;

use allocation_counter::{AllocationInfo, measure};

mod peer;
use dhtchat::crypto::{BoxKeypair, SharedKeys, open_packet, seal_packet};
use dhtchat::wire::{
    Broadcast, Envelope, GetNodes, MAX_PLAINTEXT, NodeInfo, NodeList, Payload, PublicKey, SendNodes,
};

const PING_ID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn alice() -> BoxKeypair {
    BoxKeypair::from_secret_bytes([0x11; 32])
}

fn bob() -> BoxKeypair {
    BoxKeypair::from_secret_bytes([0x22; 32])
}

fn six_nodes() -> NodeList {
    (1..=6u8)
        .map(|i| NodeInfo {
            key: PublicKey([i; 32]),
            addr: match i % 2 {
                0 => SocketAddr::from(([10, 0, 0, i], 33_000 + u16::from(i))),
                _ => SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)], 443)),
            },
        })
        .collect()
}

/// A datagram from alice to bob (set up outside any measurement).
fn datagram(payload: &Payload<'_>) -> Vec<u8> {
    let (alice, bob) = (alice(), bob());
    let shared = dhtchat::crypto::precompute(&alice, &bob.public_key());
    let mut out = Vec::new();
    seal_packet(
        &shared,
        &bob.public_key(),
        &alice.public_key(),
        &[0x42; 24],
        payload,
        &mut out,
    )
    .unwrap();
    out
}

/// What the receive path saw, so the measured closure's work is checked afterwards.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    ping_id: [u8; 8],
    nodes: usize,
    port_sum: u32,
    body_len: usize,
}

/// The whole receive path for bob, with `keys` already warm. Allocates nothing.
fn receive(bob: &BoxKeypair, keys: &mut SharedKeys, datagram: &[u8], seen: &mut Seen) {
    let env = Envelope::new_checked(datagram).unwrap();
    assert_eq!(env.receiver(), bob.public_key());
    let shared = keys.get(bob, &env.sender()).unwrap();
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let plain = open_packet(shared, &env, &mut scratch).unwrap();
    match Payload::decode(black_box(plain)).unwrap() {
        Payload::GetNodes(g) => seen.ping_id = g.ping_id,
        Payload::SendNodes(s) => {
            seen.ping_id = s.ping_id;
            for node in s.nodes.iter() {
                seen.nodes += 1;
                seen.port_sum += u32::from(black_box(node).addr.port());
            }
        }
        Payload::Broadcast(b) => seen.body_len = b.body.len(),
        Payload::Direct(d) => seen.body_len = d.text.len(),
        Payload::Have(h) => seen.body_len = h.filter().len(),
        Payload::HistoryRequest(q) => seen.body_len = q.padding,
        Payload::HistoryPage(p) => seen.body_len = p.encoded_len(),
        Payload::Prune(p) => seen.body_len = usize::from(p.flags),
        Payload::Lazy(l) => seen.body_len = l.len(),
    }
}

/// Receives `datagram` once to warm the cache, then counts the allocations of a second receive.
fn count_receive(datagram: &[u8]) -> (AllocationInfo, Seen) {
    let bob = bob();
    let mut keys = SharedKeys::new(NonZeroUsize::new(16).unwrap());
    receive(&bob, &mut keys, datagram, &mut Seen::default());
    assert_eq!(keys.counters(), (0, 1), "the first receive fills the cache");
    let mut seen = Seen::default();
    let info = measure(|| receive(&bob, &mut keys, black_box(datagram), &mut seen));
    assert_eq!(
        keys.counters(),
        (1, 1),
        "the measured receive hit the warm cache"
    );
    (info, seen)
}

#[test]
fn the_counter_sees_allocations() {
    let info = measure(|| {
        let mut v: Vec<u8> = black_box(Vec::new());
        v.push(black_box(1));
        black_box(&v);
    });
    assert!(
        info.count_total >= 1,
        "a Vec push must be counted: {info:?}"
    );
}

#[test]
fn get_nodes_receive_path_does_not_allocate() {
    let bytes = datagram(&Payload::GetNodes(GetNodes { ping_id: PING_ID }));
    assert_eq!(bytes.len(), 114);
    let (info, seen) = count_receive(&bytes);
    assert_eq!(seen.ping_id, PING_ID);
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(info.bytes_total, 0, "{info:?}");
}

#[test]
fn send_nodes_receive_path_does_not_allocate() {
    let nodes = six_nodes();
    let expected_ports: u32 = nodes.iter().map(|n| u32::from(n.addr.port())).sum();
    let bytes = datagram(&Payload::SendNodes(SendNodes {
        ping_id: PING_ID,
        nodes,
    }));
    assert_eq!(bytes.len(), 420);
    let (info, seen) = count_receive(&bytes);
    assert_eq!(
        seen,
        Seen {
            ping_id: PING_ID,
            nodes: 6,
            port_sum: expected_ports,
            body_len: 0
        }
    );
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(info.bytes_total, 0, "{info:?}");
}

#[test]
fn legacy_broadcast_receive_path_does_not_allocate() {
    let body = [0x61; 881];
    let bytes = datagram(&Payload::Broadcast(Broadcast {
        origin: alice().public_key(),
        number: 7,
        message_id: 64,
        body: &body,
        trailer: None,
    }));
    assert_eq!(bytes.len(), 1024);
    let (info, seen) = count_receive(&bytes);
    assert_eq!(seen.body_len, 881);
    assert_eq!(info.count_total, 0, "{info:?}");
}

/// The relay hot path: a node accepts a new signed chat and relays it to every table peer,
/// and the driver hands each sent payload back (`Node::recycle`). The allocations of one
/// such message must not depend on how many copies are relayed: no allocation per datagram
/// (what is left is per message: the delivered text, the copy kept for repair, the target
/// list).
mod relay_path {
    use super::*;
    use dhtchat::crypto::Identity;
    use dhtchat::proto::{Config, Dialect, GroupId, GroupSpec, Node, Privacy};
    use std::time::Instant;

    use super::peer::{self, Peer};

    const TEXT: [u8; 200] = [0x63; 200];

    struct Relay {
        node: Node,
        key: PublicKey,
        chat_id: [u8; 32],
        now: Instant,
        hop: Peer,
        origin: Identity,
        relayed: usize,
    }

    impl Relay {
        /// A node with `table` admitted peers (its whole relay set) and a hop that is a
        /// member but not a relay target.
        fn new(table: u8) -> Self {
            #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
            let now = Instant::now();
            let mut config = Config::new([5; 32]);
            config.origin_rate = (u32::MAX, u32::MAX);
            let mut node = Node::new(config).unwrap();
            let spec = GroupSpec {
                dialect: Dialect::Secure,
                privacy: Privacy::Public,
                ..GroupSpec::default()
            };
            let group: GroupId = node.create_group(now, &spec).unwrap();
            let info = node.group_info(group).unwrap();
            let key = info.own_key;
            for i in 1..=table {
                peer::admit_to(&mut node, group, key, now, &mut Peer::new(i));
            }
            let hop = Peer::new(100);
            let origin = Identity::from_seed(&[101; 32]);
            // Members by invitation, neither in the table: the relay set stays the table.
            node.invite(now, group, hop.key()).unwrap();
            node.invite(now, group, origin.public_key()).unwrap();
            let mut relay = Self {
                node,
                key,
                chat_id: info.chat_id.unwrap(),
                now,
                hop,
                origin,
                relayed: 0,
            };
            relay.flush();
            relay
        }

        fn chat(&mut self, number: u32) -> Vec<u8> {
            let mut b = Broadcast {
                origin: self.origin.public_key(),
                number,
                message_id: 64,
                body: &TEXT,
                trailer: None,
            };
            b.trailer = Some(self.origin.sign_broadcast(&self.chat_id, &b).unwrap());
            self.hop.packet(self.key, &Payload::Broadcast(b))
        }

        /// What a driver does with the outputs: send (here: count) and recycle.
        fn flush(&mut self) {
            while let Some(t) = self.node.poll_transmit() {
                self.relayed += 1;
                self.node.recycle(t.payload);
            }
            while let Some(e) = self.node.poll_event() {
                black_box(e);
            }
        }

        /// Takes the outputs without recycling (as a caller that ignores `recycle` does).
        fn drop_outputs(&mut self) {
            while let Some(t) = self.node.poll_transmit() {
                black_box(t.payload);
            }
            while let Some(e) = self.node.poll_event() {
                black_box(e);
            }
        }

        /// Relays chats 1..=warm, then counts the allocations of chat `warm + 1`.
        fn measure_one(&mut self, warm: u32) -> (AllocationInfo, usize) {
            let chats: Vec<Vec<u8>> = (1..=warm + 1).map(|n| self.chat(n)).collect();
            for c in &chats[..chats.len() - 1] {
                self.node.handle_datagram(self.now, self.hop.addr, c);
                self.flush();
            }
            let last = chats.last().unwrap();
            let before = self.relayed;
            let info = measure(|| {
                self.node
                    .handle_datagram(self.now, self.hop.addr, black_box(last));
                self.flush();
            });
            let stats = self.node.stats();
            assert_eq!(stats.total_drops(), 0, "{stats:?}");
            (info, self.relayed - before)
        }
    }

    #[test]
    fn relaying_allocates_nothing_per_datagram() {
        let (two, copies_two) = Relay::new(2).measure_one(40);
        let (six, copies_six) = Relay::new(6).measure_one(40);
        assert_eq!(
            (copies_two, copies_six),
            (2, 6),
            "every table peer gets a copy"
        );
        eprintln!("one relayed chat: 2 copies {two:?}; 6 copies {six:?}");
        assert_eq!(
            two.count_total, six.count_total,
            "four more copies, no more allocations: {two:?} vs {six:?}"
        );
    }

    #[test]
    fn without_recycling_each_copy_allocates() {
        // The counter-check: a caller that drops the payloads pays one allocation a copy, so
        // the test above would see the difference.
        let mut counts = Vec::new();
        for table in [2, 6] {
            let mut r = Relay::new(table);
            let chats: Vec<Vec<u8>> = (1..=41).map(|n| r.chat(n)).collect();
            for c in &chats[..40] {
                r.node.handle_datagram(r.now, r.hop.addr, c);
                r.drop_outputs();
            }
            let info = measure(|| {
                r.node
                    .handle_datagram(r.now, r.hop.addr, black_box(&chats[40]));
                r.drop_outputs();
            });
            counts.push(info.count_total);
        }
        assert!(counts[1] >= counts[0] + 4, "{counts:?}");
    }
}
