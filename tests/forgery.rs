//! Forgery, sequence poisoning and replay against one node of a secure group
//! (threat-model.md §1.4, §1.6, §1.7), with hand-built packets.

mod peer;

use dhtchat::crypto::Identity;
use dhtchat::proto::{Dialect, DropReason, Event, Privacy};
use dhtchat::wire::{Broadcast, Payload, PublicKey};
use peer::{Fixture, Peer, admit, drain, fixture};

/// A chat broadcast from `origin`, signed by `signer`.
fn signed<'a>(
    signer: &Identity,
    origin: PublicKey,
    chat: &[u8; 32],
    n: u32,
    text: &'a [u8],
) -> Broadcast<'a> {
    let mut b = Broadcast {
        origin,
        number: n,
        message_id: 64,
        body: text,
        trailer: None,
    };
    b.trailer = Some(signer.sign_broadcast(chat, &b).unwrap());
    b
}

/// Alice's and the relay's signing identities (the seeds `Peer::new(1)` and `(2)` use).
fn ids() -> (Identity, Identity) {
    (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]))
}

fn setup() -> (Fixture, Peer, Peer, [u8; 32]) {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let (mut alice, mut relay) = (Peer::new(1), Peer::new(2));
    admit(&mut f, &mut alice);
    admit(&mut f, &mut relay);
    drain(&mut f.node);
    let chat = f.node.group_info(f.group).unwrap().chat_id.unwrap();
    (f, alice, relay, chat)
}

fn deliveries(f: &mut Fixture) -> Vec<(PublicKey, u32, Vec<u8>)> {
    std::iter::from_fn(|| f.node.poll_event())
        .filter_map(|e| match e {
            Event::MessageReceived {
                origin,
                number,
                text,
                ..
            } => Some((origin, number, text)),
            _ => None,
        })
        .collect()
}

fn inject(f: &mut Fixture, hop: &mut Peer, b: Broadcast<'_>) {
    let bytes = hop.packet(f.key, &Payload::Broadcast(b));
    f.node.handle_datagram(f.now, hop.addr, &bytes);
}

#[test]
fn a_relay_forging_a_broadcast_as_alice_is_dropped_and_alice_still_gets_through() {
    let (mut f, mut alice, mut relay, chat) = setup();
    deliveries(&mut f);
    let forged = signed(&ids().1, alice.key(), &chat, 1, b"pwned");
    inject(&mut f, &mut relay, forged);
    assert!(drain(&mut f.node).is_empty(), "a forgery is never relayed");
    assert!(deliveries(&mut f).is_empty());
    assert_eq!(f.node.stats().dropped(DropReason::BadSignature), 1);
    let genuine = signed(&ids().0, alice.key(), &chat, 1, b"hello");
    let key = alice.key();
    inject(&mut f, &mut alice, genuine);
    assert_eq!(deliveries(&mut f), [(key, 1, b"hello".to_vec())]);
}

#[test]
fn sequence_poisoning_cannot_silence_alice() {
    let (mut f, mut alice, mut relay, chat) = setup();
    let key = alice.key();
    inject(
        &mut f,
        &mut alice,
        signed(&ids().0, key, &chat, 1, b"first"),
    );
    deliveries(&mut f);
    let far = 1 + (1u32 << 31);
    let mut unsigned = signed(&ids().0, key, &chat, far, b"x");
    unsigned.trailer = None;
    inject(&mut f, &mut relay, unsigned);
    inject(&mut f, &mut relay, signed(&ids().1, key, &chat, far, b"x"));
    let mut bad = signed(&ids().0, key, &chat, far, b"x");
    if let Some(t) = bad.trailer.as_mut() {
        t.signature[0] ^= 1;
    }
    inject(&mut f, &mut relay, bad);
    for n in 2..12 {
        inject(&mut f, &mut alice, signed(&ids().0, key, &chat, n, b"next"));
    }
    let got: Vec<u32> = deliveries(&mut f).iter().map(|d| d.1).collect();
    assert_eq!(
        got,
        (2..12).collect::<Vec<_>>(),
        "all 10 genuine messages arrive"
    );
    // A genuinely signed jump beyond the forward cap is refused and does not move the window.
    inject(
        &mut f,
        &mut alice,
        signed(&ids().0, key, &chat, 11 + (1 << 17), b"jump"),
    );
    assert_eq!(f.node.stats().dropped(DropReason::TooFarAhead), 1);
    inject(
        &mut f,
        &mut alice,
        signed(&ids().0, key, &chat, 12, b"still here"),
    );
    assert_eq!(deliveries(&mut f).len(), 1);
}

#[test]
fn one_broadcast_replayed_100_times_is_delivered_and_relayed_once() {
    let (mut f, mut alice, mut relay, chat) = setup();
    let key = alice.key();
    let b = signed(&ids().0, key, &chat, 1, b"once");
    let bytes = alice.packet(f.key, &Payload::Broadcast(b));
    f.node.handle_datagram(f.now, alice.addr, &bytes);
    let first_relays = drain(&mut f.node).len();
    assert!(first_relays >= 1, "relayed to the other member");
    for i in 0..100 {
        if i % 2 == 0 {
            f.node.handle_datagram(f.now, alice.addr, &bytes); // byte-identical
        } else {
            inject(&mut f, &mut relay, b); // re-wrapped in a fresh envelope by a relay
        }
    }
    // No further relays; the relay's duplicates prune its link (PROTOCOL.md §6.12): one
    // prune in the shared tree per duplicate (Plumtree's rule) and one in the origin's tree
    // per two in a row, only to the relay (its proven address), each smaller than what it
    // sent.
    let after = drain(&mut f.node);
    assert!(after.len() <= 50 + 25, "{} datagrams", after.len());
    for (to, d) in after {
        assert_eq!(to, relay.addr);
        let prune = matches!(Payload::decode(&relay.open(&d)), Ok(Payload::Prune(_)));
        assert!(prune && d.len() < bytes.len(), "only prunes");
    }
    assert_eq!(deliveries(&mut f).len(), 1);
    assert_eq!(f.node.stats().dropped(DropReason::Duplicate), 100);
}
