//! Property tests for the wire codecs (style.md §4.7): every packet kind and every peer message
//! round-trips (encode → decode gives the value back, decode → encode gives the bytes back), and
//! no decoder panics on arbitrary bytes.
//!
//! Failing cases are kept in `proptest-regressions/` and replayed first on every run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dhtchat::fuzzing;
use dhtchat::wire::message::{MAX_NAME_LEN, MAX_QUIT_REASON_LEN, MAX_TOPIC_LEN};
use dhtchat::wire::{
    Ban, BanAction, BloomBuilder, Broadcast, Direct, Envelope, GetNodes, Have, Lazy, LazyKind,
    MAX_DATAGRAM, MAX_FILTER_LEN, MAX_HASHES, MAX_NODES, MAX_PLAINTEXT, NodeInfo, NodeList,
    Payload, PeerMessage, Prune, PublicKey, SendNodes, SignatureTrailer, Status, Topic,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn bytes64() -> impl Strategy<Value = [u8; 64]> {
    vec(any::<u8>(), 64).prop_map(|v| v.try_into().unwrap())
}

fn node_info() -> impl Strategy<Value = NodeInfo> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ];
    (key(), ip, any::<u16>()).prop_map(|(key, ip, port)| NodeInfo {
        key,
        addr: SocketAddr::new(ip, port),
    })
}

/// An owned peer message, so a strategy can produce the data a `PeerMessage` borrows.
#[derive(Debug, Clone)]
enum Msg {
    Ping,
    NewPeer(PublicKey),
    Ban(PublicKey, u32, BanAction),
    Topic(u32, String),
    Quit(String),
    Name(Vec<u8>),
    Status(Status),
    Action(Vec<u8>),
    Chat(Vec<u8>),
    SeedAction(Vec<u8>),
}

impl Msg {
    fn view(&self) -> PeerMessage<'_> {
        match self {
            Self::Ping => PeerMessage::Ping,
            Self::NewPeer(k) => PeerMessage::NewPeer(*k),
            Self::Ban(target, version, action) => PeerMessage::Ban(Ban {
                target: *target,
                version: *version,
                action: *action,
            }),
            Self::Topic(version, text) => PeerMessage::Topic(Topic {
                version: *version,
                text,
            }),
            Self::Quit(r) => PeerMessage::Quit(r),
            Self::Name(n) => PeerMessage::Name(n),
            Self::Status(s) => PeerMessage::Status(*s),
            Self::Action(t) => PeerMessage::Action(t),
            Self::Chat(t) => PeerMessage::Chat(t),
            Self::SeedAction(t) => PeerMessage::SeedAction(t),
        }
    }
}

fn msg() -> impl Strategy<Value = Msg> {
    let action = prop_oneof![
        Just(BanAction::Unban),
        Just(BanAction::Ban),
        Just(BanAction::Kick)
    ];
    let status = prop_oneof![Just(Status::Online), Just(Status::Away), Just(Status::Busy)];
    // At most 128 chars of at most 4 bytes: never over the 512-byte topic limit.
    let topic = vec(any::<char>(), 0..=MAX_TOPIC_LEN / 4).prop_map(String::from_iter);
    let text = || vec(any::<u8>(), 0..=200);
    prop_oneof![
        Just(Msg::Ping),
        key().prop_map(Msg::NewPeer),
        (key(), any::<u32>(), action).prop_map(|(k, v, a)| Msg::Ban(k, v, a)),
        (any::<u32>(), topic).prop_map(|(v, t)| Msg::Topic(v, t)),
        vec(any::<char>(), 0..=MAX_QUIT_REASON_LEN / 4)
            .prop_map(|c| Msg::Quit(String::from_iter(c))),
        vec(any::<u8>(), 1..=MAX_NAME_LEN).prop_map(Msg::Name),
        status.prop_map(Msg::Status),
        text().prop_map(Msg::Action),
        text().prop_map(Msg::Chat),
        text().prop_map(Msg::SeedAction),
    ]
}

fn trailer() -> impl Strategy<Value = Option<SignatureTrailer>> {
    let some = (any::<[u8; 32]>(), bytes64())
        .prop_map(|(signer, signature)| SignatureTrailer { signer, signature });
    prop_oneof![Just(None), some.prop_map(Some)]
}

/// Encodes, checks length and id, decodes, and returns the bytes.
fn round_trip(payload: &Payload<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    payload.encode(&mut out).unwrap();
    assert_eq!(out.len(), payload.encoded_len());
    assert_eq!(out[0], payload.id() as u8);
    assert_eq!(Payload::decode(&out).as_ref(), Ok(payload));
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn get_nodes_round_trips(ping_id in any::<[u8; 8]>()) {
        let bytes = round_trip(&Payload::GetNodes(GetNodes { ping_id }));
        prop_assert_eq!(bytes.len(), 9);
    }

    #[test]
    fn send_nodes_round_trips(
        ping_id in any::<[u8; 8]>(),
        nodes in vec(node_info(), 0..=MAX_NODES),
    ) {
        let list: NodeList = nodes.iter().copied().collect();
        let bytes = round_trip(&Payload::SendNodes(SendNodes { ping_id, nodes: list }));
        prop_assert_eq!(bytes.len(), 9 + 51 * nodes.len());
        let Ok(Payload::SendNodes(back)) = Payload::decode(&bytes) else { panic!() };
        prop_assert_eq!(back.nodes.iter().copied().collect::<Vec<_>>(), nodes);
    }

    #[test]
    fn node_info_round_trips(node in node_info()) {
        let mut bytes = Vec::new();
        node.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), node.encoded_len());
        prop_assert_eq!(NodeInfo::decode(&bytes), Ok(node));
    }

    #[test]
    fn broadcast_with_any_body_round_trips(
        origin in key(),
        number in any::<u32>(),
        message_id in any::<u8>(),
        body in vec(any::<u8>(), 0..=Broadcast::max_body(false)),
        trailer in trailer(),
    ) {
        let max = Broadcast::max_body(trailer.is_some());
        let body = &body[..body.len().min(max)];
        let b = Broadcast { origin, number, message_id, body, trailer };
        let bytes = round_trip(&Payload::Broadcast(b));
        prop_assert_eq!(bytes[0], if trailer.is_some() { 51 } else { 50 });
    }

    #[test]
    fn direct_round_trips(number in any::<u32>(), text in ".{1,190}") {
        let text = text.as_bytes(); // at most 4 bytes a char: 760 <= 785
        prop_assert!(Direct::check_text(text).is_ok());
        let bytes = round_trip(&Payload::Direct(Direct { number, text }));
        prop_assert_eq!(bytes.len(), 5 + text.len());
        prop_assert_eq!(&bytes[1..5], &number.to_be_bytes());
    }

    #[test]
    fn have_round_trips_and_holds_what_was_inserted(
        flags in any::<u8>(),
        salt in any::<u64>(),
        items in vec((key(), any::<u32>()), 0..=256),
    ) {
        let mut bloom = BloomBuilder::new(items.len(), 10, 5, salt);
        items.iter().for_each(|(o, n)| bloom.insert(o, *n));
        let bytes = round_trip(&Payload::Have(bloom.have(flags, 8000)));
        prop_assert_eq!(bytes.len(), 13 + (items.len() * 10).div_ceil(8));
        let Ok(Payload::Have(back)) = Payload::decode(&bytes) else { panic!() };
        prop_assert!(items.iter().all(|(o, n)| back.holds(o, *n)));
    }

    #[test]
    fn have_with_any_filter_round_trips(
        flags in any::<u8>(),
        hashes in 1..=MAX_HASHES,
        span in any::<u16>(),
        salt in any::<u64>(),
        filter in vec(any::<u8>(), 0..=MAX_FILTER_LEN),
    ) {
        round_trip(&Payload::Have(Have::new(flags, (hashes, span), salt, &filter).unwrap()));
    }

    #[test]
    fn prune_with_any_flags_round_trips(flags in any::<u8>(), origin in any::<[u8; 32]>()) {
        let bytes = round_trip(&Payload::Prune(Prune { flags, origin: PublicKey(origin) }));
        prop_assert_eq!(&bytes[..2], &[58, flags]);
        prop_assert_eq!(&bytes[2..], &origin);
    }

    #[test]
    fn lazy_with_any_ids_round_trips(
        graft in any::<bool>(),
        ids in (1..=dhtchat::wire::MAX_LAZY_IDS).prop_flat_map(|n| vec(any::<u8>(), n * 36)),
    ) {
        let kind = if graft { LazyKind::Graft } else { LazyKind::IHave };
        let lazy = Lazy::new(kind, &ids).unwrap();
        let bytes = round_trip(&Payload::Lazy(lazy));
        prop_assert_eq!(bytes.len(), 3 + ids.len());
        prop_assert_eq!(lazy.ids().count(), ids.len() / 36);
    }

    #[test]
    fn direct_with_any_bytes_round_trips(
        number in any::<u32>(),
        text in vec(any::<u8>(), 0..=MAX_PLAINTEXT - 5),
    ) {
        round_trip(&Payload::Direct(Direct { number, text: &text }));
    }

    #[test]
    fn broadcast_of_every_message_round_trips(
        origin in key(),
        number in any::<u32>(),
        msg in msg(),
        trailer in trailer(),
    ) {
        let view = msg.view();
        let body = view.to_vec().unwrap();
        let b = Broadcast { origin, number, message_id: view.id() as u8, body: &body, trailer };
        let bytes = round_trip(&Payload::Broadcast(b));
        let Ok(Payload::Broadcast(back)) = Payload::decode(&bytes) else { panic!() };
        prop_assert_eq!(PeerMessage::decode(back.message_id, back.body), Ok(view));
    }

    #[test]
    fn peer_message_round_trips(msg in msg()) {
        let view = msg.view();
        let body = view.to_vec().unwrap();
        prop_assert_eq!(body.len(), view.encoded_len());
        prop_assert_eq!(PeerMessage::decode(view.id() as u8, &body), Ok(view));
    }

    #[test]
    fn envelope_never_panics(data in vec(any::<u8>(), 0..=MAX_DATAGRAM + 8)) {
        let _ = Envelope::new_checked(&data[..]);
        fuzzing::envelope(&data);
    }

    #[test]
    fn payload_decode_never_panics(
        id in 46u8..=53,
        data in vec(any::<u8>(), 0..=MAX_PLAINTEXT + 8),
    ) {
        let mut plain = vec![id];
        plain.extend_from_slice(&data);
        let _ = Payload::decode(&plain);
        fuzzing::payload_roundtrip(&plain);
    }

    #[test]
    fn peer_message_decode_never_panics(
        id in prop_oneof![any::<u8>(), Just(17u8), Just(18u8), Just(48u8), Just(49u8)],
        body in vec(any::<u8>(), 0..=600),
    ) {
        let _ = PeerMessage::decode(id, &body);
    }

    #[test]
    fn node_info_decode_never_panics(
        family in prop_oneof![any::<u8>(), Just(2u8), Just(10u8)],
        data in vec(any::<u8>(), 0..=60),
    ) {
        let mut bytes = data;
        if let Some(f) = bytes.get_mut(32) {
            *f = family;
        }
        let _ = NodeInfo::decode(&bytes);
        fuzzing::payload_roundtrip(&bytes);
    }

    #[test]
    fn datagram_never_panics(data in vec(any::<u8>(), 0..=MAX_DATAGRAM + 8)) {
        fuzzing::datagram(&data);
    }
}
