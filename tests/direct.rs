//! Private messages (inner id 52, PROTOCOL.md §6.10) on one `Node` with hand-built packets.

mod peer;

use dhtchat::proto::{Dialect, DropReason, Event, Node, Privacy, SendError};
use dhtchat::wire::{Direct, EncodeError, Payload, PublicKey};
use peer::{Peer, admit, drain, fixture};

fn dm(peer: &mut Peer, to: PublicKey, number: u32, text: &[u8]) -> Vec<u8> {
    peer.packet(to, &Payload::Direct(Direct { number, text }))
}

/// The direct messages delivered so far, as (sender, text).
fn delivered(node: &mut Node) -> Vec<(PublicKey, Vec<u8>)> {
    std::iter::from_fn(|| node.poll_event())
        .filter_map(|e| match e {
            Event::DirectMessage { from, text, .. } => Some((from, text)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_direct_message_from_a_member_is_delivered_once_even_if_replayed() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    delivered(&mut f.node);
    let first = dm(&mut bob, f.key, 7, "psst ✓".as_bytes());
    f.node.handle_datagram(f.now, bob.addr, &first);
    f.node.handle_datagram(f.now, bob.addr, &first);
    let second = dm(&mut bob, f.key, 8, b"again");
    f.node.handle_datagram(f.now, bob.addr, &second);
    f.node.handle_datagram(f.now, bob.addr, &first);
    assert_eq!(
        delivered(&mut f.node),
        vec![
            (bob.key(), "psst ✓".as_bytes().to_vec()),
            (bob.key(), b"again".to_vec())
        ]
    );
    assert_eq!(f.node.stats().dropped(DropReason::Duplicate), 2);
    assert!(
        drain(&mut f.node).is_empty(),
        "a direct message is never relayed"
    );
}

#[test]
fn a_direct_message_from_a_stranger_or_with_a_bad_text_is_dropped_and_counted() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut stranger = Peer::new(50);
    let hello = dm(&mut stranger, f.key, 1, b"hello");
    f.node.handle_datagram(f.now, stranger.addr, &hello);
    assert_eq!(f.node.stats().dropped(DropReason::UnknownSender), 1);

    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    delivered(&mut f.node);
    let too_long = vec![b'x'; Direct::MAX_TEXT + 1];
    for (n, text) in [(1, &b""[..]), (2, &[0xC3, 0x28][..]), (3, &too_long[..])] {
        let bad = dm(&mut bob, f.key, n, text);
        f.node.handle_datagram(f.now, bob.addr, &bad);
    }
    assert_eq!(f.node.stats().dropped(DropReason::BadBody), 3);
    assert!(delivered(&mut f.node).is_empty());
    // A bad text spends no number: the same number with a good text is delivered.
    let good = dm(&mut bob, f.key, 1, b"ok");
    f.node.handle_datagram(f.now, bob.addr, &good);
    assert_eq!(delivered(&mut f.node), vec![(bob.key(), b"ok".to_vec())]);
}

#[test]
fn a_direct_message_in_a_legacy_group_is_dropped() {
    let mut f = fixture(Dialect::Legacy, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    delivered(&mut f.node);
    let hello = dm(&mut bob, f.key, 1, b"hello");
    f.node.handle_datagram(f.now, bob.addr, &hello);
    assert_eq!(f.node.stats().dropped(DropReason::WrongDialect), 1);
    assert!(delivered(&mut f.node).is_empty());
    assert_eq!(
        f.node.send_direct(f.now, f.group, bob.key(), b"hi"),
        Err(SendError::NotSecure)
    );
}

#[test]
fn a_direct_message_flood_is_held_to_the_origin_bucket() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    delivered(&mut f.node);
    let (burst, _) = dhtchat::proto::Config::new([1; 32]).origin_rate;
    for n in 1..=burst + 5 {
        let flood = dm(&mut bob, f.key, n, b"spam");
        f.node.handle_datagram(f.now, bob.addr, &flood);
    }
    assert_eq!(delivered(&mut f.node).len(), burst as usize);
    assert_eq!(f.node.stats().dropped(DropReason::OverLimit), 5);
}

#[test]
fn an_oversize_direct_message_fails_without_spending_a_number() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    drain(&mut f.node);
    let broadcast_number = f.node.last_number(f.group);
    let too_long = vec![b'x'; Direct::MAX_TEXT + 1];
    let err = f.node.send_direct(f.now, f.group, bob.key(), &too_long);
    assert_eq!(
        err,
        Err(SendError::Encode(EncodeError::TooLong {
            len: 786,
            max: 785
        }))
    );
    assert!(f.node.send_direct(f.now, f.group, bob.key(), b"").is_err());
    assert!(drain(&mut f.node).is_empty());
    let fits = vec![b'x'; Direct::MAX_TEXT];
    assert_eq!(f.node.send_direct(f.now, f.group, bob.key(), &fits), Ok(1));
    assert_eq!(f.node.send_direct(f.now, f.group, bob.key(), b"hi"), Ok(2));
    let out = drain(&mut f.node);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(to, _)| *to == bob.addr));
    let plain = bob.open(&out[1].1);
    assert_eq!(
        Payload::decode(&plain),
        Ok(Payload::Direct(Direct {
            number: 2,
            text: b"hi"
        }))
    );
    // The broadcast numbers are a separate counter.
    assert_eq!(f.node.last_number(f.group), broadcast_number);
}

#[test]
fn a_direct_message_to_a_key_without_an_address_fails() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let nobody = Peer::new(70).key();
    assert_eq!(
        f.node.send_direct(f.now, f.group, nobody, b"hi"),
        Err(SendError::NoRoute)
    );
    assert_eq!(
        f.node.send_direct(f.now, f.group, f.key, b"hi"),
        Err(SendError::NoRoute)
    );
    assert!(drain(&mut f.node).is_empty());
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    assert_eq!(f.node.send_direct(f.now, f.group, bob.key(), b"hi"), Ok(1));
}

#[test]
fn a_direct_message_from_a_banned_member_is_dropped() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    let ban = dhtchat::proto::Moderation::Ban(bob.key());
    f.node.moderate(f.now, f.group, ban).unwrap();
    delivered(&mut f.node);
    let hello = dm(&mut bob, f.key, 1, b"hello");
    f.node.handle_datagram(f.now, bob.addr, &hello);
    assert_eq!(f.node.stats().dropped(DropReason::Banned), 1);
    assert!(delivered(&mut f.node).is_empty());
}
