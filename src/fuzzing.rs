//! Bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/` and by `cargo test`,
//! which replays the committed corpus through them on stable Rust (`tests/fuzz_corpus.rs`).
//!
//! - [`envelope`]: any bytes into [`Envelope::new_checked`]; the accessors of a checked view
//!   agree with the raw bytes.
//! - [`payload_roundtrip`]: any bytes as a plaintext, a node entry and a peer message body;
//!   whatever decodes re-encodes to the same bytes and decodes to the same value.
//! - [`datagram`]: any bytes as a whole datagram for the fixed receiver key, then as a plaintext
//!   sealed from the fixed sender key, so the fuzzer reaches the payload decoder past the MAC,
//!   and a signed broadcast's signature check (for [`CHAT_ID`]).
//!
//! - [`index_message`]: the index's fragments, requests, replies and group-key records
//!   (`fuzzing/index.rs`).
//!
//! Every function takes arbitrary bytes and must never panic except through its own `assert!`s:
//! a failed assertion is a bug in [`crate::wire`] or [`crate::crypto`].

mod index;

pub use index::index_message;

use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock, PoisonError};

use crypto_box::SalsaBox;

use crate::crypto::{self, BoxKeypair, SharedKeys};
use crate::wire::node_info::FAMILY_IPV4;
use crate::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, ENVELOPE_ID, Envelope, KEY_LEN, MAC_LEN, MAX_DATAGRAM,
    MAX_PLAINTEXT, MIN_DATAGRAM, NODE_INFO_LEN, NONCE_LEN, NodeInfo, PING_ID_LEN, Payload,
    PeerMessage, envelope::emit_header,
};

/// X25519 secret of the fixed sender of [`datagram`] (public key `7B4E909B…`).
pub const SENDER_SECRET: [u8; KEY_LEN] = [0x11; KEY_LEN];
/// X25519 secret of the fixed receiver of [`datagram`] (public key `0FAA684E…`).
pub const RECEIVER_SECRET: [u8; KEY_LEN] = [0x22; KEY_LEN];
/// Nonce of every datagram that [`datagram`] seals.
pub const NONCE: [u8; NONCE_LEN] = [0x42; NONCE_LEN];
/// Chat id [`datagram`] verifies signed broadcasts for (the seed corpus is signed for it).
pub const CHAT_ID: [u8; KEY_LEN] = [0xC0; KEY_LEN];

/// Offsets inside a node entry: family byte, IPv4 padding (PROTOCOL.md §3.3).
const FAMILY_AT: usize = KEY_LEN;
const IPV4_PADDING: std::ops::Range<usize> = KEY_LEN + 1 + 4..KEY_LEN + 1 + 16;

/// Fuzz target `envelope`: a checked envelope's accessors agree with the raw bytes.
pub fn envelope(data: &[u8]) {
    let well_formed =
        (MIN_DATAGRAM..=MAX_DATAGRAM).contains(&data.len()) && data.first() == Some(&ENVELOPE_ID);
    let Ok(env) = Envelope::new_checked(data) else {
        assert!(!well_formed, "a well-formed envelope was rejected");
        return;
    };
    assert!(well_formed, "a malformed envelope was accepted");
    let (header, sealed) = data.split_at(ENVELOPE_HEADER_LEN);
    assert_eq!(env.receiver().as_bytes()[..], header[1..33]);
    assert_eq!(env.sender().as_bytes()[..], header[33..65]);
    assert_eq!(env.nonce()[..], header[65..89]);
    assert_eq!(env.sealed(), sealed);
    assert_eq!(env.sealed().len(), data.len() - ENVELOPE_HEADER_LEN);
    assert!(env.sealed().len() > MAC_LEN);
    assert_eq!(env.as_bytes(), data);
    let mut emitted = Vec::with_capacity(ENVELOPE_HEADER_LEN);
    emit_header(&mut emitted, &env.receiver(), &env.sender(), &env.nonce());
    assert_eq!(emitted, header);
}

/// Fuzz target `payload_roundtrip`: `data` as a plaintext, as one node entry, and as
/// `[message id][body]`; each value that decodes re-encodes to the input bytes (IPv4 padding
/// zeroed) and decodes again to itself.
pub fn payload_roundtrip(data: &[u8]) {
    if let Ok(payload) = Payload::decode(data) {
        check_payload(data, &payload);
    }
    node_info_roundtrip(data);
    if let Some((&id, body)) = data.split_first() {
        peer_message_roundtrip(id, body);
    }
}

/// Encodes a decoded `payload`, checks it against `data` and returns the encoding.
fn check_payload(data: &[u8], payload: &Payload<'_>) -> Vec<u8> {
    let mut encoded = Vec::new();
    assert_eq!(
        payload.encode(&mut encoded),
        Ok(()),
        "decoded payload must encode"
    );
    assert_eq!(encoded.len(), payload.encoded_len());
    assert_eq!(encoded, canonical_plaintext(data, payload));
    assert_eq!(Payload::decode(&encoded).as_ref(), Ok(payload));
    if let Payload::Broadcast(b) = payload {
        peer_message_roundtrip(b.message_id, b.body);
    }
    encoded
}

/// `data` with the undefined IPv4 padding of every send_nodes entry zeroed: the one place
/// where decode → encode may legitimately change bytes.
fn canonical_plaintext(data: &[u8], payload: &Payload<'_>) -> Vec<u8> {
    let mut out = data.to_vec();
    if let (Payload::SendNodes(_), Some(entries)) = (payload, out.get_mut(1 + PING_ID_LEN..)) {
        entries
            .chunks_exact_mut(NODE_INFO_LEN)
            .for_each(zero_ipv4_padding);
    }
    out
}

/// Zeroes the 12 padding bytes of a 51-byte IPv4 node entry; leaves other entries alone.
fn zero_ipv4_padding(entry: &mut [u8]) {
    if entry.len() == NODE_INFO_LEN && entry[FAMILY_AT] == FAMILY_IPV4 {
        entry[IPV4_PADDING].fill(0);
    }
}

/// A 51-byte entry decodes exactly when its family is 2 or 10, and re-encodes canonically.
fn node_info_roundtrip(data: &[u8]) {
    let decoded = NodeInfo::decode(data);
    let family_ok = data.get(FAMILY_AT).is_some_and(|f| [2, 10].contains(f));
    assert_eq!(decoded.is_ok(), data.len() == NODE_INFO_LEN && family_ok);
    let Ok(node) = decoded else { return };
    let mut encoded = Vec::with_capacity(NODE_INFO_LEN);
    node.encode(&mut encoded);
    let mut expected = data.to_vec();
    zero_ipv4_padding(&mut expected);
    assert_eq!(encoded, expected);
    assert_eq!(NodeInfo::decode(&encoded), Ok(node));
}

/// A peer message body that decodes re-encodes to exactly `body`, under the same id.
fn peer_message_roundtrip(id: u8, body: &[u8]) {
    let Ok(msg) = PeerMessage::decode(id, body) else {
        return;
    };
    assert_eq!(msg.id() as u8, id);
    assert_eq!(msg.encoded_len(), body.len());
    let Ok(encoded) = msg.to_vec() else {
        panic!("decoded peer message {msg:?} does not encode");
    };
    assert_eq!(encoded, body);
    assert_eq!(PeerMessage::decode(id, &encoded), Ok(msg));
}

/// Fuzz target `datagram`: (a) `data` as a raw datagram for the fixed receiver must not
/// panic; (b) `data` sealed as a plaintext from the fixed sender opens to itself, decodes as
/// `Payload::decode(data)` does, a decoded payload re-seals to the same datagram, and a
/// signed broadcast that verifies for [`CHAT_ID`] verifies for no other group.
pub fn datagram(data: &[u8]) {
    let fx = fixture();
    let mut keys = fx.keys.lock().unwrap_or_else(PoisonError::into_inner);
    let mut scratch = [0u8; MAX_PLAINTEXT];
    if let Ok((_, plain)) = crypto::open_datagram(&fx.receiver, &mut keys, data, &mut scratch) {
        assert_eq!(plain.len() + ENVELOPE_HEADER_LEN + MAC_LEN, data.len());
        let _ = Payload::decode(plain);
    }
    if !(1..=MAX_PLAINTEXT).contains(&data.len()) {
        return;
    }
    let sealed = fx.seal_raw(data);
    let opened = crypto::open_datagram(&fx.receiver, &mut keys, &sealed, &mut scratch);
    let Ok((sender, plain)) = opened else {
        panic!("a datagram sealed for the fixed receiver does not open: {opened:?}");
    };
    assert_eq!(sender, fx.sender.public_key());
    assert_eq!(plain, data);
    let decoded = Payload::decode(plain);
    assert_eq!(decoded, Payload::decode(data));
    let Ok(payload) = decoded else { return };
    let encoded = check_payload(data, &payload);
    if let Payload::Broadcast(b) = &payload {
        check_signature(b);
    }
    let mut resealed = Vec::new();
    let (receiver, sender) = (fx.receiver.public_key(), fx.sender.public_key());
    let res = crypto::seal_packet(
        &fx.shared,
        &receiver,
        &sender,
        &NONCE,
        &payload,
        &mut resealed,
    );
    assert_eq!(res, Ok(()));
    assert_eq!(resealed, fx.seal_raw(&encoded));
    if encoded == data {
        assert_eq!(resealed, sealed);
    }
}

/// A signed broadcast that verifies for [`CHAT_ID`] verifies for no other group; an
/// unsigned one never verifies.
fn check_signature(b: &Broadcast<'_>) {
    let verified = crypto::verify_broadcast(&CHAT_ID, b);
    if b.trailer.is_none() {
        assert_eq!(verified, Err(crypto::VerifyError::Unsigned));
    }
    if verified.is_ok() {
        let mut other = CHAT_ID;
        other[0] ^= 1;
        assert!(crypto::verify_broadcast(&other, b).is_err());
    }
}

/// The fixed keys of [`datagram`], computed once per process.
struct Fixture {
    sender: BoxKeypair,
    receiver: BoxKeypair,
    /// Shared key of sender and receiver.
    shared: SalsaBox,
    /// The receiver's cache; kept across inputs so each input does not pay an X25519 step.
    keys: Mutex<SharedKeys>,
}

impl Fixture {
    /// A whole datagram: header, then `plain` sealed with [`NONCE`], bypassing
    /// `Payload::check` so that any plaintext reaches the decoder.
    fn seal_raw(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + MAC_LEN + plain.len());
        let (receiver, sender) = (self.receiver.public_key(), self.sender.public_key());
        emit_header(&mut out, &receiver, &sender, &NONCE);
        let mut body = plain.to_vec();
        let mac = crypto::seal_in_place(&self.shared, &NONCE, &mut body);
        out.extend_from_slice(&mac);
        out.extend_from_slice(&body);
        out
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sender = BoxKeypair::from_secret_bytes(SENDER_SECRET);
        let receiver = BoxKeypair::from_secret_bytes(RECEIVER_SECRET);
        let shared = crypto::precompute(&sender, &receiver.public_key());
        let capacity = NonZeroUsize::MIN.saturating_add(15);
        let keys = Mutex::new(SharedKeys::new(capacity));
        Fixture {
            sender,
            receiver,
            shared,
            keys,
        }
    })
}
