//! What the attack tests share (tests/defence.rs, tests/defence_replies.rs): a settled
//! secure group on the simulator, fresh keys, hand-driven join handshakes through the
//! simulator's outside addresses, signed chats sealed with a good mac1, delivery counts.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use dhtchat::crypto::{Identity, SharedKeys, mac1_nonce, open_datagram, seal_packet};
use dhtchat::proto::{DropReason, Event, GroupSpec};
use dhtchat::wire::{
    Broadcast, GetNodes, MAX_PLAINTEXT, NodeList, Payload, PeerMessage, PublicKey, SendNodes,
};

use crate::peer::Peer;
use crate::sim::{LinkModel, Sim, build_group};

pub fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// A secure public group of `n` nodes, settled for 20 s.
pub fn group(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    let step = Duration::from_millis(300);
    build_group(&mut sim, n, &GroupSpec::default(), step, |_| {});
    sim.run_for(Duration::from_secs(20));
    sim
}

/// A fresh key `k` at `addr`.
pub fn fresh(k: u32, addr: SocketAddr) -> Peer {
    let mut seed = [0xd5; 32];
    seed[..4].copy_from_slice(&k.to_le_bytes());
    Peer {
        id: Identity::from_seed(&seed),
        addr,
        keys: SharedKeys::new(NonZeroUsize::new(4).unwrap()),
    }
}

/// The plaintexts of the datagrams sent to `p` since the last call.
pub fn inbox(sim: &mut Sim, p: &mut Peer) -> Vec<Vec<u8>> {
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let mut out = Vec::new();
    for d in sim.take_outbox(&p.addr) {
        if d.get(1..33) != Some(&p.key().0[..]) {
            continue;
        }
        if let Ok((_, plain)) = open_datagram(p.id.keypair(), &mut p.keys, &d, &mut scratch) {
            out.push(plain.to_vec());
        }
    }
    out
}

/// `p` joins through node `to` by hand: get_nodes, then it answers the probe. True if the node
/// probed it (the per-IP and node-wide probe buckets may refuse).
pub fn handshake(sim: &mut Sim, to: usize, p: &mut Peer) -> bool {
    sim.listen(p.addr);
    let to_key = key(sim, to);
    let ask = p.packet(to_key, &Payload::GetNodes(GetNodes { ping_id: [1; 8] }));
    sim.inject(p.addr, to, &ask);
    for plain in inbox(sim, p) {
        if let Ok(Payload::GetNodes(g)) = Payload::decode(&plain) {
            let answer = SendNodes {
                ping_id: g.ping_id,
                nodes: NodeList::new(),
            };
            let reply = p.packet(to_key, &Payload::SendNodes(answer));
            sim.inject(p.addr, to, &reply);
            return true;
        }
    }
    false
}

/// A signed chat by `author` (also the hop) to `receiver`, sealed with a good mac1.
pub fn signed_chat(
    chat: &[u8; 32],
    author: &Identity,
    receiver: PublicKey,
    text: &[u8],
) -> Vec<u8> {
    let msg = PeerMessage::Chat(text);
    let body = msg.to_vec().unwrap();
    let mut b = Broadcast {
        origin: author.public_key(),
        number: 1,
        message_id: msg.id() as u8,
        body: &body,
        trailer: None,
    };
    b.trailer = Some(author.sign_broadcast(chat, &b).unwrap());
    seal(author, receiver, &Payload::Broadcast(b))
}

pub fn seal(from: &Identity, to: PublicKey, payload: &Payload<'_>) -> Vec<u8> {
    let shared = dhtchat::crypto::precompute(from.keypair(), &to);
    let nonce = mac1_nonce(&[3; 8], None, &to, &from.public_key());
    let mut out = Vec::new();
    seal_packet(&shared, &to, &from.public_key(), &nonce, payload, &mut out).unwrap();
    out
}

/// Numbers of node `j`'s received chats from `origin`, with when they arrived.
pub fn received(sim: &Sim, j: usize, origin: &PublicKey) -> HashMap<u32, Duration> {
    (sim.nodes[j].events.iter())
        .filter_map(|(at, _, e)| match e {
            Event::MessageReceived {
                origin: o, number, ..
            } if o == origin => Some((*number, *at)),
            _ => None,
        })
        .collect()
}

pub fn total_dropped(sim: &Sim, reason: DropReason) -> u64 {
    sim.nodes
        .iter()
        .map(|n| n.node.stats().dropped(reason))
        .sum()
}
