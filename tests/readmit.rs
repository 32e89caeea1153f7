//! A member restarted on a new address is re-admitted at once, and nothing else moves its
//! address (issue #12, PROTOCOL.md §6.9): one `Node` driven with hand-built packets.
//!
//! - bob, admitted at one address, asks again from a new one while a keep-alive to the old
//!   one is still outstanding: the node probes the new address at once, and bob's answer
//!   from there moves his table entry;
//! - the same when bob's first datagram from the new address is a history request (his
//!   fetch after the restart): probed at once, not after the keep-alive's 5 s;
//! - a copy of bob's get_nodes replayed from a third address only gets a probe that nobody
//!   there can answer, and a broadcast of bob's relayed by carol moves nothing.

mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::proto::{Dialect, Privacy};
use dhtchat::wire::{GetNodes, HistoryRequest, NodeList, Payload, PublicKey, SendNodes};
use peer::{Fixture, Peer, admit, drain, fixture};

fn bob_addr(f: &Fixture, bob: &PublicKey) -> Option<SocketAddr> {
    let table = f.node.table(f.group);
    table.iter().find(|n| n.key == *bob).map(|n| n.addr)
}

/// The get_nodes the node sent to `to` in `out`, opened by `peer`.
fn probe_to(peer: &mut Peer, out: &[(SocketAddr, Vec<u8>)], to: SocketAddr) -> Option<GetNodes> {
    let (_, bytes) = out.iter().find(|(a, _)| *a == to)?;
    match Payload::decode(&peer.open(bytes)).ok()? {
        Payload::GetNodes(g) => Some(g),
        _ => None,
    }
}

/// Bob admitted, then gone: a keep-alive goes out to his address and is never answered.
fn keep_alive_to_a_gone_bob() -> (Fixture, Peer) {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let mut bob = Peer::new(1);
    admit(&mut f, &mut bob);
    let old = bob.addr;
    f.now += Duration::from_secs(11);
    f.node.handle_timeout(f.now);
    let out = drain(&mut f.node);
    assert!(
        probe_to(&mut bob, &out, old).is_some(),
        "a keep-alive to {old}"
    );
    (f, bob)
}

#[test]
fn a_member_asking_from_a_new_address_is_probed_there_at_once_and_moved() {
    let (mut f, mut bob) = keep_alive_to_a_gone_bob();
    let old = bob.addr;

    // Bob restarted on a new port asks from there: probed at once.
    bob.addr = SocketAddr::from(([127, 0, 9, 1], 5999));
    let ask = bob.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [3; 8] }));
    f.node.handle_datagram(f.now, bob.addr, &ask);
    let out = drain(&mut f.node);
    let new = bob.addr;
    let probe = probe_to(&mut bob, &out, new).expect("a probe to the new address");
    assert_eq!(
        bob_addr(&f, &bob.key()),
        Some(old),
        "not moved before the answer"
    );
    let answer = SendNodes {
        ping_id: probe.ping_id,
        nodes: NodeList::new(),
    };
    let reply = bob.packet(f.key, &Payload::SendNodes(answer));
    f.node.handle_datagram(f.now, bob.addr, &reply);
    assert_eq!(
        bob_addr(&f, &bob.key()),
        Some(bob.addr),
        "moved by the round trip"
    );
    // Its owed answer goes to the new address too.
    let out = drain(&mut f.node);
    assert!(out.iter().any(|(a, _)| *a == bob.addr), "{out:?}");
}

#[test]
fn a_member_asking_for_history_from_a_new_address_is_probed_there_at_once() {
    let (mut f, mut bob) = keep_alive_to_a_gone_bob();

    bob.addr = SocketAddr::from(([127, 0, 9, 1], 5999));
    let req = HistoryRequest {
        request_id: 1,
        cursor: 0,
        within: u32::MAX,
        origin: None,
        padding: 800,
    };
    let ask = bob.packet(f.key, &Payload::HistoryRequest(req));
    f.node.handle_datagram(f.now, bob.addr, &ask);
    let out = drain(&mut f.node);
    let new = bob.addr;
    assert!(
        probe_to(&mut bob, &out, new).is_some(),
        "a probe to the new address while the keep-alive to the old one is out: {out:?}"
    );
}

#[test]
fn a_replayed_get_nodes_or_a_relayed_broadcast_does_not_move_an_address() {
    let mut f = fixture(Dialect::Secure, Privacy::Public);
    let (mut bob, mut carol) = (Peer::new(1), Peer::new(2));
    admit(&mut f, &mut bob);
    admit(&mut f, &mut carol);
    let home = bob.addr;
    // An attacker replays bob's get_nodes from elsewhere.
    let ask = bob.packet(f.key, &Payload::GetNodes(GetNodes { ping_id: [4; 8] }));
    let elsewhere = SocketAddr::from(([192, 0, 2, 66], 4444));
    f.node.handle_datagram(f.now, elsewhere, &ask);
    let out = drain(&mut f.node);
    assert!(
        out.iter()
            .all(|(a, b)| *a != elsewhere || b.len() <= ask.len()),
        "no amplification"
    );
    // Nobody at `elsewhere` holds bob's key, so nobody can answer; bob stays home.
    f.now += Duration::from_secs(6);
    f.node.handle_timeout(f.now);
    assert_eq!(bob_addr(&f, &bob.key()), Some(home));

    // A broadcast of bob's relayed by carol: delivered, but bob's address stays.
    let chat = f.node.group_info(f.group).unwrap().chat_id.unwrap();
    let mut b = dhtchat::wire::Broadcast {
        origin: bob.key(),
        number: 9,
        message_id: 64,
        body: b"via carol",
        trailer: None,
    };
    b.trailer = Some(bob.id.sign_broadcast(&chat, &b).unwrap());
    let relayed = carol.packet(f.key, &Payload::Broadcast(b));
    f.node.handle_datagram(f.now, carol.addr, &relayed);
    assert_eq!(bob_addr(&f, &bob.key()), Some(home));
}
