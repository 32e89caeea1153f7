//! Key-compromise impersonation, pinned as a known limit (threat-model.md §1.1, catalogue
//! item 25; ARCHITECTURE.md §4; PROTOCOL.md §2 "Known limits").
//!
//! The envelope is the seed's static-key crypto_box: the shared key of A and B is
//! X25519(a, B) = X25519(b, A). Whoever learns **B's** secret can therefore seal envelopes
//! that B opens as coming from **A**. These tests document today's behaviour:
//!
//! - `..._envelope_accepts_a_forged_sender`: B accepts a get_nodes "from A" sealed with B's
//!   secret alone, and answers it as it would answer A. When an ephemeral-key handshake
//!   replaces the static box, this test must be flipped to expect a rejection.
//! - `..._legacy_groups_deliver_forged_chat`: in a legacy (unsigned) group the same forgery
//!   delivers a chat message "from A" to B.
//! - `..._signature_still_stops_forged_broadcasts`: in a secure group the broadcast
//!   signature (A's Ed25519 key, which B's secret does not give) still stops a message forged
//!   as A's: not delivered, not relayed.
//!
//! The attack is against B only: B's secret opens and forges nothing towards other members.

mod peer;

use std::num::NonZeroUsize;

use dhtchat::crypto::{Identity, SharedKeys, seal_packet};
use dhtchat::proto::{Dialect, DropReason, Event, Privacy};
use dhtchat::wire::{Broadcast, GetNodes, Payload, PublicKey};
use peer::{Fixture, Peer, admit, drain, fixture};

/// B's compromised identity, as an attacker who stole B's stored secret has it.
fn stolen(f: &Fixture) -> Identity {
    Identity::from_seed(&f.node.identity_seed(f.group).unwrap())
}

/// A datagram to B that claims to come from `claimed`, sealed with B's secret alone.
fn forge(b: &Identity, claimed: PublicKey, payload: &Payload<'_>) -> Vec<u8> {
    let mut keys = SharedKeys::new(NonZeroUsize::new(1).unwrap());
    let shared = keys.get(b.keypair(), &claimed).unwrap();
    let mut out = Vec::new();
    seal_packet(
        shared,
        &b.public_key(),
        &claimed,
        &dhtchat::crypto::mac1_nonce(&[0x5a; 8], None, &b.public_key(), &claimed),
        payload,
        &mut out,
    )
    .unwrap();
    out
}

fn setup(dialect: Dialect) -> (Fixture, Peer, Peer) {
    let mut f = fixture(dialect, Privacy::Public);
    let (mut alice, mut carol) = (Peer::new(1), Peer::new(2));
    admit(&mut f, &mut alice);
    admit(&mut f, &mut carol);
    drain(&mut f.node);
    while f.node.poll_event().is_some() {}
    (f, alice, carol)
}

fn chats(f: &mut Fixture) -> Vec<(PublicKey, Vec<u8>)> {
    std::iter::from_fn(|| f.node.poll_event())
        .filter_map(|e| match e {
            Event::MessageReceived { origin, text, .. } => Some((origin, text)),
            _ => None,
        })
        .collect()
}

#[test]
fn known_limit_key_compromise_impersonation_envelope_accepts_a_forged_sender() {
    let (mut f, mut alice, _) = setup(Dialect::Secure);
    let b = stolen(&f);
    let ask = Payload::GetNodes(GetNodes { ping_id: [9; 8] });
    let forged = forge(&b, alice.key(), &ask);
    f.node.handle_datagram(f.now, alice.addr, &forged);
    let out = drain(&mut f.node);
    // Today: B opened it as Alice's and answered Alice (validated at that address).
    assert_eq!(out.len(), 1, "B answered the forged get_nodes");
    assert_eq!(out[0].0, alice.addr);
    let plain = alice.open(&out[0].1);
    let Ok(Payload::SendNodes(answer)) = Payload::decode(&plain) else {
        panic!("expected send_nodes");
    };
    assert_eq!(answer.ping_id, [9; 8]);
    assert_eq!(f.node.stats().dropped(DropReason::Decrypt), 0);
    println!("KCI (known limit): a get_nodes forged as Alice with B's secret alone was accepted");
}

#[test]
fn known_limit_key_compromise_impersonation_legacy_groups_deliver_forged_chat() {
    let (mut f, alice, _) = setup(Dialect::Legacy);
    let b = stolen(&f);
    let chat = Broadcast {
        origin: alice.key(),
        number: 1,
        message_id: 64,
        body: b"forged",
        trailer: None,
    };
    let forged = forge(&b, alice.key(), &Payload::Broadcast(chat));
    f.node.handle_datagram(f.now, alice.addr, &forged);
    assert_eq!(chats(&mut f), [(alice.key(), b"forged".to_vec())]);
    println!("KCI (known limit): legacy group delivered a chat forged as Alice's");
}

#[test]
fn known_limit_key_compromise_impersonation_signature_still_stops_forged_broadcasts() {
    let (mut f, alice, _) = setup(Dialect::Secure);
    let b = stolen(&f);
    let chat_id = f.node.group_info(f.group).unwrap().chat_id.unwrap();
    let mut chat = Broadcast {
        origin: alice.key(),
        number: 1,
        message_id: 64,
        body: b"forged",
        trailer: None,
    };
    // The best the attacker can sign with: B's own Ed25519 key.
    chat.trailer = Some(b.sign_broadcast(&chat_id, &chat).unwrap());
    let forged = forge(&b, alice.key(), &Payload::Broadcast(chat));
    f.node.handle_datagram(f.now, alice.addr, &forged);
    assert!(chats(&mut f).is_empty(), "not delivered");
    assert!(drain(&mut f.node).is_empty(), "not relayed");
    assert_eq!(f.node.stats().dropped(DropReason::BadSignature), 1);
    println!("KCI: in a secure group the signature check stopped the forged broadcast");
}
