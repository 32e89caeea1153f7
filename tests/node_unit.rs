//! One `Node`, hand-built packets, assertions on `poll_transmit`.

mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::proto::{Dialect, DropReason, Privacy, SendError};
use dhtchat::wire::{EncodeError, GetNodes, NodeList, Payload, PublicKey, SendNodes};
use peer::{Peer, admit, drain, fixture};

/// Runs the node's timers at `at` and returns the ping id of the keep-alive it sends `peer`.
fn keepalive_ping_id(f: &mut peer::Fixture, peer: &mut Peer, at: std::time::Instant) -> [u8; 8] {
    f.node.handle_timeout(at);
    let out = drain(&mut f.node);
    let keepalive = out
        .iter()
        .find(|(to, _)| *to == peer.addr)
        .expect("keep-alive");
    let Ok(Payload::GetNodes(g)) = Payload::decode(&peer.open(&keepalive.1)) else {
        panic!("keep-alive is a get_nodes");
    };
    g.ping_id
}

#[test]
fn a_stranger_gets_one_probe_no_bigger_than_its_request() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut stranger = Peer::new(50);
    let ask = stranger.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [9; 8] }));
    f.node.handle_datagram(f.now, stranger.addr, &ask);
    let out = drain(&mut f.node);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, stranger.addr);
    assert!(
        out[0].1.len() <= ask.len(),
        "{} > {}",
        out[0].1.len(),
        ask.len()
    );
    let plain = stranger.open(&out[0].1);
    assert!(matches!(Payload::decode(&plain), Ok(Payload::GetNodes(_))));
}

#[test]
fn send_nodes_answer_has_at_most_six_good_entries_and_echoes_the_ping_id() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut peers: Vec<Peer> = (1..=9).map(Peer::new).collect();
    for p in &mut peers {
        admit(&mut f, p);
    }
    let table: Vec<PublicKey> = f.node.table(f.group).iter().map(|n| n.key).collect();
    assert!(table.len() >= 7, "table has {}", table.len());
    let asker = &mut peers[0];
    let ask = asker.packet(
        f.key,
        &Payload::GetNodes(GetNodes {
            ping_id: *b"pingid42",
        }),
    );
    f.node.handle_datagram(f.now, asker.addr, &ask);
    let out = drain(&mut f.node);
    let answers: Vec<_> = out.iter().filter(|(to, _)| *to == asker.addr).collect();
    assert_eq!(answers.len(), 1);
    let plain = asker.open(&answers[0].1);
    let Ok(Payload::SendNodes(s)) = Payload::decode(&plain) else {
        panic!("expected send_nodes");
    };
    assert_eq!(&s.ping_id, b"pingid42");
    assert!(s.nodes.len() <= 6 && !s.nodes.is_empty());
    for n in s.nodes.iter() {
        assert!(table.contains(&n.key), "only table entries");
        assert_ne!(n.key, asker.key(), "never the asker itself");
        assert_ne!(n.key, f.key, "never ourselves");
    }
}

#[test]
fn a_send_nodes_with_an_unknown_stale_or_replayed_ping_id_changes_nothing() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut peer = Peer::new(1);
    admit(&mut f, &mut peer);
    let table_before = f.node.table(f.group);
    let members_before = f.node.members(f.group);
    let lure = NodeList::from_iter([dhtchat::wire::NodeInfo {
        key: Peer::new(2).key(),
        addr: Peer::new(2).addr,
    }]);
    let unknown = peer.packet(
        f.key,
        &Payload::SendNodes(SendNodes {
            ping_id: [0xEE; 8],
            nodes: lure,
        }),
    );
    f.node.handle_datagram(f.now, peer.addr, &unknown);
    assert!(
        drain(&mut f.node).is_empty(),
        "no request to a node named by an unsolicited list"
    );
    assert_eq!(f.node.stats().dropped(DropReason::UnsolicitedSendNodes), 1);

    // A keep-alive goes out after 10 s; its answer arrives 6 s later: stale.
    let t1 = f.now + Duration::from_secs(11);
    let ping_id = keepalive_ping_id(&mut f, &mut peer, t1);
    let answer = peer.packet(
        f.key,
        &Payload::SendNodes(SendNodes {
            ping_id,
            nodes: lure,
        }),
    );
    f.node
        .handle_datagram(t1 + Duration::from_secs(6), peer.addr, &answer);
    assert_eq!(f.node.stats().dropped(DropReason::UnsolicitedSendNodes), 2);
    assert!(drain(&mut f.node).is_empty());
    assert_eq!(f.node.table(f.group), table_before);
    assert_eq!(f.node.members(f.group), members_before);
}

#[test]
fn a_replayed_send_nodes_is_used_once() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut peer = Peer::new(1);
    admit(&mut f, &mut peer);
    let t1 = f.now + Duration::from_secs(11);
    let ping_id = keepalive_ping_id(&mut f, &mut peer, t1);
    let answer = peer.packet(
        f.key,
        &Payload::SendNodes(SendNodes {
            ping_id,
            nodes: NodeList::new(),
        }),
    );
    f.node.handle_datagram(t1, peer.addr, &answer);
    assert_eq!(f.node.stats().dropped(DropReason::UnsolicitedSendNodes), 0);
    let table = f.node.table(f.group);
    f.node.handle_datagram(t1, peer.addr, &answer);
    assert_eq!(f.node.stats().dropped(DropReason::UnsolicitedSendNodes), 1);
    assert_eq!(f.node.table(f.group), table);
}

#[test]
fn an_oversize_broadcast_fails_without_consuming_a_number() {
    for (dialect, max) in [(Dialect::Secure, 785), (Dialect::Legacy, 881)] {
        let mut f = fixture(dialect, Privacy::Public);
        let mut peer = Peer::new(1);
        admit(&mut f, &mut peer);
        let before = f.node.send_chat(f.now, f.group, b"before").unwrap();
        drain(&mut f.node);
        let too_long = vec![b'x'; max + 1];
        let err = f.node.send_chat(f.now, f.group, &too_long).unwrap_err();
        assert_eq!(
            err,
            SendError::Encode(EncodeError::TooLong { len: max + 1, max })
        );
        assert!(drain(&mut f.node).is_empty());
        let fits = vec![b'x'; max];
        assert_eq!(f.node.send_chat(f.now, f.group, &fits), Ok(before + 1));
        assert_eq!(f.node.send_chat(f.now, f.group, b"hi"), Ok(before + 2));
    }
}

#[test]
fn a_private_group_ignores_uninvited_joiners_and_admits_invited_ones() {
    let mut f = fixture(Dialect::Secure, Privacy::Private);
    let mut stranger = Peer::new(60);
    let ask = stranger.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [3; 8] }));
    f.node.handle_datagram(f.now, stranger.addr, &ask);
    assert!(drain(&mut f.node).is_empty());
    assert_eq!(f.node.stats().dropped(DropReason::NotInvited), 1);
    f.node.invite(f.now, f.group, stranger.key()).unwrap();
    admit(&mut f, &mut stranger);
}

#[test]
fn garbage_is_counted_never_answered() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let from = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut junk = vec![48u8; 200];
    f.node.handle_datagram(f.now, from, &junk);
    junk[1..33].copy_from_slice(f.key.as_bytes());
    f.node.handle_datagram(f.now, from, &junk);
    f.node.handle_datagram(f.now, from, &[1, 2, 3]);
    f.node.handle_datagram(f.now, from, &[48; 2000]);
    assert!(drain(&mut f.node).is_empty());
    let s = f.node.stats();
    assert_eq!(s.dropped(DropReason::UnknownGroup), 1);
    // Our key, but no mac1 (PROTOCOL.md §2.1): dropped before any X25519.
    assert_eq!(s.dropped(DropReason::BadMac), 1);
    assert_eq!(s.dropped(DropReason::Malformed), 2);
}
