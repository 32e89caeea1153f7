//! Batch signature verification (src/proto/verify.rs, `Node::handle_datagrams`) under attack:
//! a receive batch that holds forged signatures among good ones delivers exactly the good
//! ones, and a verdict on one copy never covers another copy with different bytes.
//!
//! One node hosts a secure public group; a hop (a member) relays signed chats of several
//! origins, each known from one earlier chat so its signing key is cached (what makes a
//! broadcast a batch candidate).

mod peer;

use std::net::SocketAddr;
use std::time::Instant;

use dhtchat::crypto::Identity;
use dhtchat::proto::{
    BatchCounts, BatchScratch, Config, Dialect, DropReason, Event, GroupId, GroupSpec, Node,
    Privacy,
};
use dhtchat::wire::{Broadcast, Payload, PublicKey, SignatureTrailer};
use peer::{Peer, drain};

const ORIGINS: u8 = 6;

struct Setup {
    node: Node,
    group: GroupId,
    key: PublicKey,
    chat_id: [u8; 32],
    now: Instant,
    hop: Peer,
    origins: Vec<Identity>,
}

fn setup() -> Setup {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let now = Instant::now();
    let mut node = Node::new(Config::new([3; 32])).unwrap();
    let spec = GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        ..GroupSpec::default()
    };
    let group = node.create_group(now, &spec).unwrap();
    let info = node.group_info(group).unwrap();
    let mut s = Setup {
        node,
        group,
        key: info.own_key,
        chat_id: info.chat_id.unwrap(),
        now,
        hop: Peer::new(100),
        origins: (1..=ORIGINS)
            .map(|i| Identity::from_seed(&[0x40 + i; 32]))
            .collect(),
    };
    peer::admit_to(&mut s.node, s.group, s.key, s.now, &mut s.hop);
    // Chat 1 of each origin, one at a time: its signing key is cached from then on.
    for i in 0..s.origins.len() {
        let first = s.chat(i, 1, b"hello");
        s.node.handle_datagram(s.now, s.hop.addr, &first);
    }
    drain(&mut s.node);
    while s.node.poll_event().is_some() {}
    assert_eq!(s.delivered(), u64::from(ORIGINS));
    assert_eq!(s.node.stats().total_drops(), 0);
    s
}

impl Setup {
    fn signed(&self, origin: usize, number: u32, text: &[u8]) -> SignatureTrailer {
        let b = Broadcast {
            origin: self.origins[origin].public_key(),
            number,
            message_id: 64,
            body: text,
            trailer: None,
        };
        self.origins[origin]
            .sign_broadcast(&self.chat_id, &b)
            .unwrap()
    }

    /// A datagram of the hop carrying `text` as chat `number` of `origin`, with `trailer`.
    fn sealed(&mut self, origin: usize, number: u32, text: &[u8], t: SignatureTrailer) -> Vec<u8> {
        let b = Broadcast {
            origin: self.origins[origin].public_key(),
            number,
            message_id: 64,
            body: text,
            trailer: Some(t),
        };
        self.hop.packet(self.key, &Payload::Broadcast(b))
    }

    fn chat(&mut self, origin: usize, number: u32, text: &[u8]) -> Vec<u8> {
        let t = self.signed(origin, number, text);
        self.sealed(origin, number, text, t)
    }

    fn delivered(&self) -> u64 {
        self.node.stats().delivered
    }

    /// Hands `datagrams` to the node as one receive batch; returns the texts delivered, in
    /// order, and the batch counters.
    fn batch(&mut self, datagrams: &[Vec<u8>]) -> (Vec<Vec<u8>>, BatchCounts) {
        let from: SocketAddr = self.hop.addr;
        let mut scratch = BatchScratch::default();
        let input = datagrams.iter().map(|d| (from, d.as_slice()));
        let counts = self.node.handle_datagrams(self.now, input, &mut scratch);
        drain(&mut self.node);
        let texts = std::iter::from_fn(|| self.node.poll_event())
            .filter_map(|e| match e {
                Event::MessageReceived { text, .. } => Some(text),
                _ => None,
            })
            .collect();
        (texts, counts)
    }
}

fn text(i: usize) -> Vec<u8> {
    format!("message {i}").into_bytes()
}

#[test]
fn a_good_batch_is_verified_at_once_and_delivered_in_order() {
    let mut s = setup();
    let batch: Vec<Vec<u8>> = (0..usize::from(ORIGINS))
        .map(|i| s.chat(i, 2, &text(i)))
        .collect();
    let (texts, counts) = s.batch(&batch);
    let expected: Vec<Vec<u8>> = (0..usize::from(ORIGINS)).map(text).collect();
    assert_eq!(texts, expected);
    assert_eq!(
        counts,
        BatchCounts {
            batched: u64::from(ORIGINS),
            failed_batches: 0
        }
    );
    assert_eq!(s.node.stats().total_drops(), 0);
}

#[test]
fn one_forged_signature_among_good_ones_delivers_exactly_the_good_ones() {
    for forged in 0..usize::from(ORIGINS) {
        let mut s = setup();
        let batch: Vec<Vec<u8>> = (0..usize::from(ORIGINS))
            .map(|i| match i == forged {
                // Signed over another text: a valid signature, but not of these bytes.
                true => {
                    let t = s.signed(i, 2, b"what was really signed");
                    s.sealed(i, 2, &text(i), t)
                }
                false => s.chat(i, 2, &text(i)),
            })
            .collect();
        let (texts, counts) = s.batch(&batch);
        let good: Vec<Vec<u8>> = (0..usize::from(ORIGINS))
            .filter(|&i| i != forged)
            .map(text)
            .collect();
        assert_eq!(texts, good, "forged item {forged}");
        assert_eq!(counts.batched, 0, "the batch failed as a whole");
        assert_eq!(counts.failed_batches, 1);
        assert_eq!(s.node.stats().dropped(DropReason::BadSignature), 1);
        assert_eq!(s.node.stats().total_drops(), 1);
        // The forged number was not spent: the origin's real chat 2 still arrives.
        let real = s.chat(forged, 2, &text(forged));
        assert_eq!(s.batch(&[real]).0, [text(forged)]);
    }
}

#[test]
fn several_forgeries_and_a_garbled_signature_are_all_dropped() {
    let mut s = setup();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    for i in 0..usize::from(ORIGINS) {
        let mut t = s.signed(i, 2, &text(i));
        if i % 2 == 1 {
            t.signature[10] ^= 0x01;
        }
        batch.push(s.sealed(i, 2, &text(i), t));
    }
    let (texts, counts) = s.batch(&batch);
    assert_eq!(texts, [text(0), text(2), text(4)]);
    assert_eq!(counts.failed_batches, 1);
    assert_eq!(s.node.stats().dropped(DropReason::BadSignature), 3);
}

#[test]
fn a_good_verdict_never_covers_a_copy_with_other_bytes() {
    // The good chat 2 of origin 0, then the same origin, number and signature over another
    // text: the second is a duplicate by number (never delivered), and in the other order
    // the forged copy is refused and the good one still delivered.
    let mut s = setup();
    let good_sig = s.signed(0, 2, b"the real text");
    let good = s.sealed(0, 2, b"the real text", good_sig);
    let forged = s.sealed(0, 2, b"a forged text", good_sig);
    let other = s.chat(1, 2, &text(1));
    let (texts, _) = s.batch(&[good.clone(), forged.clone(), other.clone()]);
    assert_eq!(texts, [b"the real text".to_vec(), text(1)]);
    assert_eq!(s.node.stats().dropped(DropReason::Duplicate), 1);

    let mut s = setup();
    let other = s.chat(1, 2, &text(1));
    let (texts, _) = s.batch(&[forged, other, good]);
    assert_eq!(texts, [text(1), b"the real text".to_vec()]);
    assert_eq!(s.node.stats().dropped(DropReason::BadSignature), 1);
}

#[test]
fn a_batch_is_the_same_as_one_datagram_after_another() {
    // The same mixed input (good, forged, duplicate, unknown origin) through both paths.
    let build = |s: &mut Setup| -> Vec<Vec<u8>> {
        let mut out = vec![s.chat(0, 2, &text(0)), s.chat(1, 2, &text(1))];
        let t = s.signed(2, 2, b"signed");
        out.push(s.sealed(2, 2, b"not signed", t));
        out.push(s.chat(0, 2, &text(0)));
        out.push(s.chat(3, 3, &text(3)));
        out.push(vec![0x30; 40]);
        out
    };
    let mut batched = setup();
    let input = build(&mut batched);
    let (texts, _) = batched.batch(&input);

    let mut single = setup();
    let input = build(&mut single);
    let mut one_by_one = Vec::new();
    for d in &input {
        one_by_one.extend(single.batch(std::slice::from_ref(d)).0);
    }
    assert_eq!(texts, one_by_one);
    assert_eq!(batched.node.stats(), single.node.stats());
}
