//! Cost of `Node::handle_datagram` on three hot paths, each next to the bare crypto it cannot
//! avoid on the same bytes, so every group reads as a ratio (see benches/README.md, "Node").
//!
//! Groups (secure public group; every peer is hand-driven as in tests/node_unit.rs):
//! - `node/new_chat200_relay6`: a new signed chat with a 200-byte text arrives from a member
//!   (the hop) that is not in the relay set; the relay set is exactly the 6 table entries, so
//!   the node verifies, delivers one event and seals 6 copies. Baseline: `verify_strict` of the
//!   same signing input with a decompressed key, one open of the same datagram and 6 seals of
//!   the same plaintext length (334 bytes).
//! - `node/duplicate_chat200`: a copy of an already accepted broadcast relayed by a table peer.
//!   Baseline: one open of the same datagram and one `HashMap<([u8; 32], u32), ()>` lookup
//!   keyed by (origin, number) read from the plaintext.
//! - `node/get_nodes_answer6`: a get_nodes from a validated peer, answered with a send_nodes
//!   of 6 nodes. Baseline: one open of the 114-byte get_nodes and one seal of the 315-byte
//!   send_nodes plaintext.
//!
//! Every candidate iteration is `handle_datagram` followed by draining `poll_transmit` and
//! `poll_event` (dropping what they return is part of the cost). A new chat must carry a new
//! number, so a batch of signed datagrams is built once, outside the timing; when a node has
//! seen the whole batch, a fresh node in the same state is built (outside the timing too) and
//! the batch is replayed to it. The node's time is one fixed `Instant`.
//!
//! With `NODE_BENCH_PAIRED=1` (or `WIRE_BENCH_PAIRED=1`) the binary skips criterion and times
//! each candidate against its baseline in alternating short blocks (0.5 ms by default,
//! `NODE_BENCH_BLOCK_US`), printing the median and quartiles of the per-round ratios, as
//! benches/wire.rs does. `NODE_BENCH_RUN=<group>/<name>:<n>` runs one path `n` times and
//! nothing else, for instruction counts under cachegrind.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dhtchat::crypto::{Identity, open_in_place, precompute, seal_in_place};
use dhtchat::proto::{
    BatchScratch, Config, Dialect, DropReason, Event, GroupId, GroupSpec, Node, Privacy, TextKind,
};
use dhtchat::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, GetNodes, MAC_LEN, MAX_PLAINTEXT, Payload, PublicKey,
};
use ed25519_dalek::{Signature, VerifyingKey};

/// The node's own identity seed: a rebuilt node has the same key, so a pre-built batch of
/// datagrams stays valid for it.
const NODE_SEED: [u8; 32] = [0xA0; 32];
const NODE_RNG: [u8; 32] = [1; 32];
/// The chat text: 200 bytes.
static TEXT: [u8; 200] = [0x63; 200];
/// Signed chats per batch (numbers 2..2 + BATCH; 1 is the warm-up message).
const BATCH: usize = 2048;
/// Peers in the table of the relay and duplicate fixtures (the relay set).
const RELAY_PEERS: u8 = 6;
/// Peers admitted in the get_nodes fixture: the asker and at least 6 others.
const DHT_PEERS: u8 = 8;
/// Plaintext of a signed 200-byte chat: inner id, broadcast header, text, signature trailer.
const CHAT_PLAINTEXT: usize = 1 + 37 + 200 + 96;
/// Plaintext of a send_nodes with 6 nodes.
const SEND_NODES6_PLAINTEXT: usize = 1 + 8 + 6 * 51;

/// The hand-driven peer of the test suite (a key, an address, a shared-key cache).
#[path = "node/harness.rs"]
mod harness;
use harness::{Case, criterion_benches, paired_report, run_one, timed};

#[path = "../tests/peer/mod.rs"]
mod peer;
use peer::{Peer, drain};

/// One node hosting one secure public group, in a deterministic state.
struct Fixture {
    node: Node,
    group: GroupId,
    key: PublicKey,
    chat_id: [u8; 32],
    now: Instant,
}

fn fixture(now: Instant) -> Fixture {
    let mut config = Config::new(NODE_RNG);
    // The timed loops replay thousands of one origin's chats at one instant: lift the
    // per-origin and per-relay buckets so they time the accept-and-relay path, not drops.
    config.origin_rate = (u32::MAX, u32::MAX);
    let mut node = Node::new(config).unwrap();
    let spec = GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        identity_seed: Some(NODE_SEED),
        nick: Vec::new(),
    };
    let group = node.create_group(now, &spec).unwrap();
    let info = node.group_info(group).unwrap();
    Fixture {
        node,
        group,
        key: info.own_key,
        chat_id: info.chat_id.unwrap(),
        now,
    }
}

/// What the timed loops do after each datagram: take and drop every output.
fn discard_outputs(node: &mut Node) {
    while let Some(t) = node.poll_transmit() {
        black_box(&t);
    }
    while let Some(e) = node.poll_event() {
        black_box(&e);
    }
}

/// The test suite's join handshake, then the node's events are dropped.
fn admit(f: &mut Fixture, peer: &mut Peer) {
    peer::admit_to(&mut f.node, f.group, f.key, f.now, peer);
    while f.node.poll_event().is_some() {}
}

/// A signed chat from `origin`, number `number`, sealed by `hop` for the node.
fn signed_chat(
    origin: &Identity,
    hop: &mut Peer,
    node: PublicKey,
    chat_id: &[u8; 32],
    number: u32,
) -> (Vec<u8>, Broadcast<'static>) {
    let mut b = Broadcast {
        origin: origin.public_key(),
        number,
        message_id: 64,
        body: &TEXT,
        trailer: None,
    };
    b.trailer = Some(origin.sign_broadcast(chat_id, &b).unwrap());
    (hop.packet(node, &Payload::Broadcast(b)), b)
}

/// The relay fixture: 6 admitted peers (the table, which is the whole relay set), a hop that
/// is a member but neither in the table nor an in-link, and an origin known from one earlier
/// chat (number 1, relayed by the hop), so its `SignerKey` is cached.
struct Relay {
    f: Fixture,
    table: Vec<Peer>,
    hop: Peer,
    origin: Identity,
}

impl Relay {
    fn new(now: Instant) -> Self {
        let mut relay = Self {
            f: fixture(now),
            table: (1..=RELAY_PEERS).map(Peer::new).collect(),
            hop: Peer::new(100),
            origin: Identity::from_seed(&[101; 32]),
        };
        relay.reset();
        relay
    }

    /// Brings a fresh node to the state the benchmarks start from: the table admitted, the
    /// hop made a member, chat 1 of the origin accepted.
    fn reset(&mut self) {
        let now = self.f.now;
        self.f = fixture(now);
        for p in &mut self.table {
            admit(&mut self.f, p);
        }
        let f = &mut self.f;
        // `invite` only makes the hop a member (and broadcasts new_peer to the table); it
        // gives the hop no table slot and no in-link, so the relay set stays the 6 peers.
        f.node.invite(now, f.group, self.hop.key()).unwrap();
        assert_eq!(drain(&mut f.node).len(), usize::from(RELAY_PEERS));
        // The origin is invited too: since membership is earned (PROTOCOL.md §6.7), an
        // unknown origin is heard only through a hop that may vouch for it, which an invited
        // hop without a proven address may not (`not_member`).
        f.node
            .invite(now, f.group, self.origin.public_key())
            .unwrap();
        assert_eq!(drain(&mut f.node).len(), usize::from(RELAY_PEERS));
        let (first, _) = signed_chat(&self.origin, &mut self.hop, f.key, &f.chat_id, 1);
        f.node.handle_datagram(now, self.hop.addr, &first);
        assert_eq!(drain(&mut f.node).len(), usize::from(RELAY_PEERS));
        while f.node.poll_event().is_some() {}
        assert_eq!(f.node.stats().delivered, 1);
        assert_eq!(f.node.stats().total_drops(), 0);
        let targets = f.node.relay_targets(f.group, now);
        assert_eq!(targets.len(), usize::from(RELAY_PEERS), "relay set");
        assert!(targets.iter().all(|t| t.key != self.hop.key()));
        assert!(targets.iter().all(|t| t.key != self.origin.public_key()));
    }
}

const NEW_CHAT: &str = "node/new_chat200_relay6";
const DUPLICATE: &str = "node/duplicate_chat200";
const GET_NODES: &str = "node/get_nodes_answer6";
const IN_SIXTEENS: &str = "node/new_chat200_relay6_in16";

/// Datagrams per receive chunk in `node/new_chat200_relay6_in16` (the driver's chunk).
const CHUNK: usize = 16;

/// The bare parts of one chat: its signing input and signature, its nonce, MAC and
/// ciphertext.
struct BareChat {
    input: Vec<u8>,
    sig: Signature,
    nonce: [u8; 24],
    tag: [u8; MAC_LEN],
    cipher: Vec<u8>,
}

/// `node/new_chat200_relay6`.
fn new_chat_cases(now: Instant) -> Vec<Case> {
    let mut relay = Relay::new(now);
    let (node_key, chat_id) = (relay.f.key, relay.f.chat_id);
    let batch: Vec<(Vec<u8>, Broadcast<'static>)> = (0..BATCH as u32)
        .map(|i| signed_chat(&relay.origin, &mut relay.hop, node_key, &chat_id, 2 + i))
        .collect();
    assert_eq!(
        batch[0].0.len(),
        ENVELOPE_HEADER_LEN + MAC_LEN + CHAT_PLAINTEXT
    );

    // Checked once, outside the timing: a new chat is delivered once and relayed 6 times.
    {
        let f = &mut relay.f;
        f.node.handle_datagram(now, relay.hop.addr, &batch[0].0);
        let out = drain(&mut f.node);
        assert_eq!(out.len(), usize::from(RELAY_PEERS), "6 copies");
        let mut to: Vec<_> = out.iter().map(|(a, _)| *a).collect();
        to.sort();
        let mut want: Vec<_> = relay.table.iter().map(|p| p.addr).collect();
        want.sort();
        assert_eq!(to, want, "one copy to each table peer");
        for (addr, d) in &out {
            let p = relay.table.iter_mut().find(|p| p.addr == *addr).unwrap();
            let plain = p.open(d);
            assert!(
                matches!(Payload::decode(&plain), Ok(Payload::Broadcast(b)) if b == batch[0].1),
                "the broadcast, unchanged"
            );
        }
        let events: Vec<Event> = std::iter::from_fn(|| f.node.poll_event()).collect();
        assert!(
            matches!(&events[..], [Event::MessageReceived { number: 2, kind: TextKind::Chat, text, .. }] if text[..] == TEXT[..]),
            "{events:?}"
        );
        assert_eq!(f.node.stats().relayed, 2 * u64::from(RELAY_PEERS));
        assert_eq!(f.node.stats().total_drops(), 0);
    }
    relay.reset();

    // Bare parts on the same bytes: the signing inputs, the ciphertexts, one shared key.
    let hop_shared = precompute(Identity::from_seed(&NODE_SEED).keypair(), &relay.hop.key());
    let key = VerifyingKey::from_bytes(&batch[0].1.trailer.unwrap().signer).unwrap();
    let bare_items: Vec<BareChat> = batch
        .iter()
        .map(|(d, b)| {
            let mut input = Vec::new();
            b.write_signing_input(&chat_id, &mut input);
            let sig = Signature::from_bytes(&b.trailer.unwrap().signature);
            key.verify_strict(&input, &sig).unwrap();
            BareChat {
                input,
                sig,
                nonce: d[ENVELOPE_HEADER_LEN - 24..ENVELOPE_HEADER_LEN]
                    .try_into()
                    .unwrap(),
                tag: d[ENVELOPE_HEADER_LEN..][..MAC_LEN].try_into().unwrap(),
                cipher: d[ENVELOPE_HEADER_LEN + MAC_LEN..].to_vec(),
            }
        })
        .collect();
    let out_shared = precompute(
        Identity::from_seed(&NODE_SEED).keypair(),
        &relay.table[0].key(),
    );
    let bare = {
        let mut i = 0;
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let mut out = [0u8; CHAT_PLAINTEXT];
        move |n| {
            timed(n, || {
                let BareChat {
                    input,
                    sig,
                    nonce,
                    tag,
                    cipher,
                } = &bare_items[i];
                i = (i + 1) % bare_items.len();
                key.verify_strict(black_box(input), black_box(sig)).unwrap();
                let buf = &mut scratch[..cipher.len()];
                buf.copy_from_slice(black_box(cipher));
                open_in_place(&hop_shared, nonce, tag, buf).unwrap();
                for k in 0..6u8 {
                    out[0] = k;
                    black_box(seal_in_place(&out_shared, black_box(&[k; 24]), &mut out));
                }
            })
        }
    };

    let datagrams: Vec<Vec<u8>> = batch.into_iter().map(|(d, _)| d).collect();
    let node = {
        let mut next = 0;
        let hop = relay.hop.addr;
        move |n: u64| {
            let mut total = Duration::ZERO;
            let mut left = n;
            while left > 0 {
                if next == datagrams.len() {
                    relay.reset();
                    next = 0;
                }
                let chunk = left.min((datagrams.len() - next) as u64);
                let node = &mut relay.f.node;
                total += timed(chunk, || {
                    node.handle_datagram(now, hop, black_box(&datagrams[next]));
                    discard_outputs(node);
                    next += 1;
                });
                left -= chunk;
            }
            total
        }
    };
    vec![
        Case::new(NEW_CHAT, "bare_verify_open_6seals", bare),
        Case::new(NEW_CHAT, "handle_datagram", node),
    ]
}

/// `node/duplicate_chat200`.
fn duplicate_cases(now: Instant) -> Vec<Case> {
    let mut relay = Relay::new(now);
    let (node_key, chat_id) = (relay.f.key, relay.f.chat_id);
    for number in 2..=3 {
        let (d, _) = signed_chat(&relay.origin, &mut relay.hop, node_key, &chat_id, number);
        relay.f.node.handle_datagram(now, relay.hop.addr, &d);
        discard_outputs(&mut relay.f.node);
    }
    assert_eq!(relay.f.node.stats().delivered, 3);
    // Chat 2 again, as relayed by a table peer (a second copy from another neighbour).
    let hop = &mut relay.table[0];
    let (dup, b) = signed_chat(&relay.origin, hop, node_key, &chat_id, 2);
    let (hop_addr, hop_key) = (hop.addr, hop.key());
    let mut f = relay.f;
    f.node.handle_datagram(now, hop_addr, &dup);
    assert!(drain(&mut f.node).is_empty(), "a duplicate is not relayed");
    assert!(f.node.poll_event().is_none(), "nor delivered");
    assert_eq!(f.node.stats().dropped(DropReason::Duplicate), 1);
    assert_eq!(f.node.stats().total_drops(), 1);

    let bare = {
        let shared = precompute(Identity::from_seed(&NODE_SEED).keypair(), &hop_key);
        let nonce: [u8; 24] = dup[ENVELOPE_HEADER_LEN - 24..ENVELOPE_HEADER_LEN]
            .try_into()
            .unwrap();
        let tag: [u8; MAC_LEN] = dup[ENVELOPE_HEADER_LEN..][..MAC_LEN].try_into().unwrap();
        let cipher = dup[ENVELOPE_HEADER_LEN + MAC_LEN..].to_vec();
        // A dedup set keyed by (origin, number) holding a window of 1024 numbers, 2 among them.
        let seen: HashMap<([u8; 32], u32), ()> =
            (1..=1024u32).map(|n| ((b.origin.0, n), ())).collect();
        assert!(seen.contains_key(&(b.origin.0, b.number)));
        let mut scratch = [0u8; MAX_PLAINTEXT];
        move |n| {
            timed(n, || {
                let buf = &mut scratch[..cipher.len()];
                buf.copy_from_slice(black_box(&cipher));
                open_in_place(&shared, &nonce, &tag, buf).unwrap();
                let origin: [u8; 32] = buf[1..33].try_into().unwrap();
                let number = u32::from_be_bytes(buf[33..37].try_into().unwrap());
                assert!(seen.contains_key(black_box(&(origin, number))));
            })
        }
    };
    let node = move |n| {
        timed(n, || {
            f.node.handle_datagram(now, hop_addr, black_box(&dup));
            discard_outputs(&mut f.node);
        })
    };
    vec![
        Case::new(DUPLICATE, "bare_open_hashmap", bare),
        Case::new(DUPLICATE, "handle_datagram", node),
    ]
}

/// `node/get_nodes_answer6`.
fn get_nodes_cases(now: Instant) -> Vec<Case> {
    let mut f = fixture(now);
    let mut peers: Vec<Peer> = (1..=DHT_PEERS).map(Peer::new).collect();
    for p in &mut peers {
        admit(&mut f, p);
    }
    let table = f.node.table(f.group);
    assert!(table.len() >= 7, "the asker and 6 others: {}", table.len());
    let asker = &mut peers[0];
    assert!(table.iter().any(|n| n.key == asker.key()));
    let ask = asker.packet(
        f.key,
        &Payload::GetNodes(GetNodes {
            ping_id: *b"pingid42",
        }),
    );
    assert_eq!(ask.len(), 114);
    let asker_addr = asker.addr;
    f.node.handle_datagram(now, asker_addr, &ask);
    let out = drain(&mut f.node);
    assert_eq!(out.len(), 1, "one answer, nothing else");
    assert_eq!(out[0].0, asker_addr);
    assert_eq!(
        out[0].1.len(),
        ENVELOPE_HEADER_LEN + MAC_LEN + SEND_NODES6_PLAINTEXT
    );
    let Ok(Payload::SendNodes(s)) = Payload::decode(&asker.open(&out[0].1)) else {
        panic!("expected send_nodes");
    };
    assert_eq!(s.nodes.len(), 6);
    assert!(f.node.poll_event().is_none());

    let bare = {
        let shared = precompute(Identity::from_seed(&NODE_SEED).keypair(), &asker.key());
        let nonce: [u8; 24] = ask[ENVELOPE_HEADER_LEN - 24..ENVELOPE_HEADER_LEN]
            .try_into()
            .unwrap();
        let tag: [u8; MAC_LEN] = ask[ENVELOPE_HEADER_LEN..][..MAC_LEN].try_into().unwrap();
        let cipher = ask[ENVELOPE_HEADER_LEN + MAC_LEN..].to_vec();
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let mut answer = [0u8; SEND_NODES6_PLAINTEXT];
        move |n| {
            timed(n, || {
                let buf = &mut scratch[..cipher.len()];
                buf.copy_from_slice(black_box(&cipher));
                open_in_place(&shared, &nonce, &tag, buf).unwrap();
                answer[1..9].copy_from_slice(&buf[1..9]);
                black_box(seal_in_place(&shared, black_box(&[9; 24]), &mut answer));
            })
        }
    };
    let node = move |n| {
        timed(n, || {
            f.node.handle_datagram(now, asker_addr, black_box(&ask));
            discard_outputs(&mut f.node);
        })
    };
    vec![
        Case::new(GET_NODES, "bare_open_seal", bare),
        Case::new(GET_NODES, "handle_datagram", node),
    ]
}

/// `node/new_chat200_relay6_in16`: the new chats of `node/new_chat200_relay6`, 16 at a time,
/// as the driver hands them over: one `handle_datagram` after another (the baseline) against
/// one `handle_datagrams` of 16, which checks their signatures in one batch
/// (src/proto/verify.rs). Per packet; outputs drained after each 16.
fn batch_cases(now: Instant) -> Vec<Case> {
    let side = |batched: bool| {
        let mut relay = Relay::new(now);
        let (key, chat_id) = (relay.f.key, relay.f.chat_id);
        let datagrams: Vec<Vec<u8>> = (0..BATCH as u32)
            .map(|i| signed_chat(&relay.origin, &mut relay.hop, key, &chat_id, 2 + i).0)
            .collect();
        let hop = relay.hop.addr;
        let mut scratch = BatchScratch::default();
        // Checked once, outside the timing: 16 delivered, 96 copies, all 16 in one batch.
        let input = datagrams[..CHUNK].iter().map(|d| (hop, d.as_slice()));
        let counts = relay.f.node.handle_datagrams(now, input, &mut scratch);
        assert_eq!(counts.batched, CHUNK as u64);
        assert_eq!(
            drain(&mut relay.f.node).len(),
            CHUNK * usize::from(RELAY_PEERS)
        );
        assert_eq!(relay.f.node.stats().delivered, 1 + CHUNK as u64);
        assert_eq!(relay.f.node.stats().total_drops(), 0);
        relay.reset();
        let mut next = 0;
        move |n: u64| {
            let chunks = n.div_ceil(CHUNK as u64);
            let mut total = Duration::ZERO;
            for _ in 0..chunks {
                if next + CHUNK > datagrams.len() {
                    relay.reset();
                    next = 0;
                }
                let chunk = &datagrams[next..next + CHUNK];
                let node = &mut relay.f.node;
                total += timed(1, || {
                    if batched {
                        let input = chunk.iter().map(|d| (hop, black_box(d.as_slice())));
                        black_box(node.handle_datagrams(now, input, &mut scratch));
                    } else {
                        for d in chunk {
                            node.handle_datagram(now, hop, black_box(d));
                        }
                    }
                    discard_outputs(node);
                });
                next += CHUNK;
            }
            total.mul_f64(n as f64 / (chunks * CHUNK as u64) as f64)
        }
    };
    vec![
        Case::new(IN_SIXTEENS, "handle_datagram_x16", side(false)),
        Case::new(IN_SIXTEENS, "handle_datagrams_16", side(true)),
    ]
}

fn all_cases(now: Instant) -> Vec<Case> {
    let mut cases = new_chat_cases(now);
    cases.extend(batch_cases(now));
    cases.extend(duplicate_cases(now));
    cases.extend(get_nodes_cases(now));
    cases
}

fn main() {
    #[allow(
        clippy::disallowed_methods,
        reason = "one fixed epoch for the nodes' hand-driven time"
    )]
    let now = Instant::now();
    let cases = all_cases(now);
    if let Some(spec) = std::env::var_os("NODE_BENCH_RUN") {
        run_one(cases, spec.to_str().unwrap());
        return;
    }
    if std::env::var_os("NODE_BENCH_PAIRED").is_some()
        || std::env::var_os("WIRE_BENCH_PAIRED").is_some()
    {
        paired_report(cases);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    criterion_benches(&mut c, cases);
    c.final_summary();
}
