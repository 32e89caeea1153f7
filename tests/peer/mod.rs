//! A hand-driven peer for tests that drive one `Node` with hand-built packets.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part; `pub` is the API

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Instant;

use dhtchat::crypto::{Identity, SharedKeys, mac1_nonce, open_datagram, seal_packet};
use dhtchat::proto::{Config, Dialect, GroupId, GroupSpec, Node, Privacy};
use dhtchat::wire::{GetNodes, MAX_PLAINTEXT, NodeList, Payload, PublicKey, SendNodes};

/// A hand-driven peer with its own key and address.
pub struct Peer {
    pub id: Identity,
    pub addr: SocketAddr,
    pub keys: SharedKeys,
}

impl Peer {
    pub fn new(i: u8) -> Self {
        Self {
            id: Identity::from_seed(&[i; 32]),
            addr: SocketAddr::from(([127, 0, 9, i], 4000 + u16::from(i))),
            keys: SharedKeys::new(NonZeroUsize::new(4).unwrap()),
        }
    }

    pub fn key(&self) -> PublicKey {
        self.id.public_key()
    }

    pub fn packet(&mut self, to: PublicKey, payload: &Payload<'_>) -> Vec<u8> {
        // The secure dialect's nonce (random part, mac1); legacy groups take it as any nonce.
        let nonce = mac1_nonce(&[7; 8], None, &to, &self.id.public_key());
        let shared = self.keys.get(self.id.keypair(), &to).unwrap();
        let mut out = Vec::new();
        seal_packet(
            shared,
            &to,
            &self.id.public_key(),
            &nonce,
            payload,
            &mut out,
        )
        .unwrap();
        out
    }

    /// Opens a datagram the node sent us and returns its plaintext.
    pub fn open(&mut self, datagram: &[u8]) -> Vec<u8> {
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let (_, plain) =
            open_datagram(self.id.keypair(), &mut self.keys, datagram, &mut scratch).unwrap();
        plain.to_vec()
    }
}

pub struct Fixture {
    pub node: Node,
    pub group: GroupId,
    pub key: PublicKey,
    pub now: Instant,
}

pub fn fixture(dialect: Dialect, privacy: Privacy) -> Fixture {
    fixture_with(dialect, privacy, |_| {})
}

/// As [`fixture`], with the node's configuration changed first.
pub fn fixture_with(dialect: Dialect, privacy: Privacy, configure: fn(&mut Config)) -> Fixture {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let now = Instant::now();
    let mut config = Config::new([1; 32]);
    configure(&mut config);
    let mut node = Node::new(config).unwrap();
    let spec = GroupSpec {
        dialect,
        privacy,
        ..GroupSpec::default()
    };
    let group = node.create_group(now, &spec).unwrap();
    let key = node.group_info(group).unwrap().own_key;
    Fixture {
        node,
        group,
        key,
        now,
    }
}

pub fn drain(node: &mut Node) -> Vec<(SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| node.poll_transmit())
        .map(|t| (t.destination, t.payload))
        .collect()
}

/// Walks `peer` through the join handshake: get_nodes, our probe, its answer, our answer.
pub fn admit(f: &mut Fixture, peer: &mut Peer) {
    admit_to(&mut f.node, f.group, f.key, f.now, peer);
}

/// [`admit`] on the parts of any fixture: the node, its group and key in it, and the time.
pub fn admit_to(node: &mut Node, group: GroupId, key: PublicKey, now: Instant, peer: &mut Peer) {
    let ask = peer.packet(key, &Payload::GetNodes(GetNodes { ping_id: [1; 8] }));
    node.handle_datagram(now, peer.addr, &ask);
    let out = drain(node);
    assert_eq!(out.len(), 1, "one probe");
    let plain = peer.open(&out[0].1);
    let Payload::GetNodes(probe) = Payload::decode(&plain).unwrap() else {
        panic!("expected a probe");
    };
    let answer = SendNodes {
        ping_id: probe.ping_id,
        nodes: NodeList::new(),
    };
    let reply = peer.packet(key, &Payload::SendNodes(answer));
    node.handle_datagram(now, peer.addr, &reply);
    drain(node);
    assert!(node.table(group).iter().any(|n| n.key == peer.key()));
}
