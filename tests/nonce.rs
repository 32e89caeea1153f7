//! Nonce uniqueness on the production send path (threat-model.md §1.5, catalogue item 6).
//!
//! Every datagram a `Node` sends is sealed by `Io::send` with `crypto::random_nonce` drawn
//! from the node's ChaCha20 RNG, which the driver seeds from the OS (`net::os_seed`).
//! These tests drive a real `Node` seeded that way and read the nonce (envelope bytes 65..89)
//! of every datagram it queues. A legacy group is used so that the million sends cost a seal
//! each and no signature: the seal path is the same in both dialects.

mod peer;

use std::collections::HashSet;
use std::time::Instant;

use dhtchat::net::os_seed;
use dhtchat::proto::{Config, Dialect, GroupSpec, Node};
use dhtchat::wire::{ENVELOPE_HEADER_LEN, NONCE_LEN};
use peer::{Peer, admit_to, drain};

const NONCE_AT: usize = ENVELOPE_HEADER_LEN - NONCE_LEN;

/// A node seeded from the OS, with a fixed identity, hosting a legacy group whose table holds `peer` alone.
fn node_with_one_peer(peer: &mut Peer) -> (Node, dhtchat::proto::GroupId, Instant) {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let now = Instant::now();
    let mut node = Node::new(Config::new(os_seed().unwrap())).unwrap();
    let spec = GroupSpec {
        dialect: Dialect::Legacy,
        // The identity a restart reloads from the store: same keys, so the same shared key.
        identity_seed: Some([5; 32]),
        ..GroupSpec::default()
    };
    let group = node.create_group(now, &spec).unwrap();
    let key = node.group_info(group).unwrap().own_key;
    admit_to(&mut node, group, key, now, peer);
    drain(&mut node);
    (node, group, now)
}

/// Sends `n` chats and inserts each datagram's nonce into `seen`; returns the repeats.
fn seal_many(
    node: &mut Node,
    group: dhtchat::proto::GroupId,
    now: Instant,
    n: usize,
    seen: &mut HashSet<[u8; NONCE_LEN]>,
) -> usize {
    let mut repeats = 0;
    for _ in 0..n {
        node.send_chat(now, group, b"n").unwrap();
        while let Some(t) = node.poll_transmit() {
            let nonce: [u8; NONCE_LEN] =
                t.payload[NONCE_AT..ENVELOPE_HEADER_LEN].try_into().unwrap();
            if !seen.insert(nonce) {
                repeats += 1;
            }
        }
    }
    repeats
}

#[test]
fn a_million_seals_to_one_peer_repeat_no_nonce() {
    let mut peer = Peer::new(3);
    let (mut node, group, now) = node_with_one_peer(&mut peer);
    let mut seen = HashSet::with_capacity(1_000_100);
    let repeats = seal_many(&mut node, group, now, 1_000_000, &mut seen);
    let out = node.stats().datagrams_out;
    println!(
        "{} datagrams sealed to one peer: {} distinct nonces, {repeats} repeats",
        seen.len(),
        seen.len()
    );
    assert_eq!(
        seen.len(),
        1_000_000,
        "one datagram per send, to the one peer"
    );
    assert!(out >= 1_000_000);
    assert_eq!(repeats, 0);
}

#[test]
fn a_restarted_node_draws_a_fresh_seed_so_no_nonce_reappears() {
    assert_ne!(
        os_seed().unwrap(),
        os_seed().unwrap(),
        "the OS seed is fresh"
    );
    let mut seen = HashSet::new();
    let mut repeats = 0;
    for _run in 0..2 {
        // A restart keeps the identity (so the shared key with the peer is the same) and
        // draws a new RNG seed from the OS, so nonces must not repeat across runs.
        let mut peer = Peer::new(4);
        let (mut node, group, now) = node_with_one_peer(&mut peer);
        repeats += seal_many(&mut node, group, now, 100_000, &mut seen);
    }
    println!("2 runs × 100,000 seals: {repeats} repeated nonces");
    assert_eq!(repeats, 0);
    assert_eq!(seen.len(), 200_000);
}
