//! The receive path of get_nodes and send_nodes does no heap allocation (crypto.rs: "no heap
//! allocation on the open path"; payload.rs: "decoding a get_nodes or send_nodes never
//! allocates").
//!
//! Measured path, with a warm shared-key cache: `Envelope::new_checked` → `SharedKeys::get` →
//! `open_packet` into a stack scratch buffer → `Payload::decode` → iterating the nodes.
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
        Payload::Prune(p) => seen.body_len = usize::from(p.flags),
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
