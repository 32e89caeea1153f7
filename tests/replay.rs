//! Replay-proof across restarts and departures (issue #12, PROTOCOL.md §6.9), on one `Node`
//! driven with hand-built packets:
//!
//! - a captured broadcast (and a direct message) replayed to a member restarted with its
//!   stored marks is shown 0 times; without the marks it would be shown again;
//! - a departed (quit) member's broadcast re-sent by another member after the quit is
//!   forgotten is shown 0 times, and so is a kicked member's;
//! - our direct-message numbers resume past the stored ones like broadcast numbers.

mod peer;

use std::time::{Duration, Instant};

use dhtchat::crypto::Identity;
use dhtchat::proto::{Config, Dialect, DropReason, Event, GroupId, GroupSpec, Mark, Node, Privacy};
use dhtchat::wire::{Broadcast, Direct, Payload, PublicKey};
use peer::{Peer, admit_to, drain};

/// Our node: founder of a secure public group with a fixed identity.
struct Member {
    node: Node,
    group: GroupId,
    key: PublicKey,
    chat: [u8; 32],
    now: Instant,
}

fn spec() -> GroupSpec {
    GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        identity_seed: Some([42; 32]),
        nick: b"me".to_vec(),
    }
}

/// Starts (or restarts) our node at `now`, with `marks` restored.
fn start(now: Instant, marks: &[Mark]) -> Member {
    let mut node = Node::new(Config::new([9; 32])).unwrap();
    let group = node.create_group(now, &spec()).unwrap();
    node.restore_marks(group, marks).unwrap();
    let info = node.group_info(group).unwrap();
    Member {
        node,
        group,
        key: info.own_key,
        chat: info.chat_id.unwrap(),
        now,
    }
}

/// A broadcast of `origin`'s, signed by it, with message id `id`.
fn signed<'a>(origin: &Identity, chat: &[u8; 32], n: u32, id: u8, body: &'a [u8]) -> Broadcast<'a> {
    let mut b = Broadcast {
        origin: origin.public_key(),
        number: n,
        message_id: id,
        body,
        trailer: None,
    };
    b.trailer = Some(origin.sign_broadcast(chat, &b).unwrap());
    b
}

/// How many times each chat text was shown (MessageReceived) since the last call.
fn shown(node: &mut Node, text: &[u8]) -> usize {
    std::iter::from_fn(|| node.poll_event())
        .filter(|e| matches!(e, Event::MessageReceived { text: t, .. } if t.as_slice() == text))
        .count()
}

fn admit(m: &mut Member, peer: &mut Peer) {
    admit_to(&mut m.node, m.group, m.key, m.now, peer);
    drain(&mut m.node);
}

#[test]
fn a_captured_broadcast_replayed_to_a_restarted_member_is_shown_0_times() {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let t0 = Instant::now();
    let mut me = start(t0, &[]);
    let mut bob = Peer::new(1);
    admit(&mut me, &mut bob);
    let b = signed(&bob.id, &me.chat, 5, 64, b"captured");
    let captured = bob.packet(me.key, &Payload::Broadcast(b));
    me.node.handle_datagram(me.now, bob.addr, &captured);
    assert_eq!(shown(&mut me.node, b"captured"), 1);
    let dm = bob.packet(
        me.key,
        &Payload::Direct(Direct {
            number: 3,
            text: b"dm",
        }),
    );
    me.node.handle_datagram(me.now, bob.addr, &dm);
    drain(&mut me.node);
    let marks = me.node.marks(me.group).unwrap();
    assert_eq!(
        marks,
        [Mark {
            origin: bob.key(),
            broadcast: 5,
            direct: 3
        }]
    );

    // Restarted with the stored marks: the replay is refused before any signature work.
    let mut again = start(t0 + Duration::from_secs(60), &marks);
    again.node.handle_datagram(again.now, bob.addr, &captured);
    again.node.handle_datagram(again.now, bob.addr, &dm);
    assert_eq!(
        shown(&mut again.node, b"captured"),
        0,
        "replay shown after restart"
    );
    assert_eq!(again.node.stats().dropped(DropReason::TooOld), 2);
    // Bob's next messages still arrive once he is back in (membership is earned, §6.7: a
    // restarted member hears a key again after the rejoin handshake).
    admit(&mut again, &mut bob);
    let next = signed(&bob.id, &again.chat, 6, 64, b"next");
    let next = bob.packet(again.key, &Payload::Broadcast(next));
    again.node.handle_datagram(again.now, bob.addr, &next);
    assert_eq!(shown(&mut again.node, b"next"), 1);

    // Without the marks the same datagram would be shown again: the test is not vacuous.
    let mut amnesic = start(t0 + Duration::from_secs(60), &[]);
    admit(&mut amnesic, &mut bob);
    amnesic
        .node
        .handle_datagram(amnesic.now, bob.addr, &captured);
    assert_eq!(shown(&mut amnesic.node, b"captured"), 1);
}

#[test]
fn a_departed_members_broadcast_re_sent_by_another_member_is_shown_0_times() {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let t0 = Instant::now();
    let mut me = start(t0, &[]);
    let (mut bob, mut carol) = (Peer::new(1), Peer::new(2));
    admit(&mut me, &mut bob);
    admit(&mut me, &mut carol);
    let chat = signed(&bob.id, &me.chat, 10, 64, b"before I go");
    let first = bob.packet(me.key, &Payload::Broadcast(chat));
    me.node.handle_datagram(me.now, bob.addr, &first);
    assert_eq!(shown(&mut me.node, b"before I go"), 1);
    let quit = signed(&bob.id, &me.chat, 11, 24, b"bye");
    let quit = bob.packet(me.key, &Payload::Broadcast(quit));
    me.node.handle_datagram(me.now, bob.addr, &quit);

    // Long after the quit (bob is forgotten), carol re-sends bob's old chat.
    for s in 1..=10 {
        me.node.handle_timeout(t0 + Duration::from_secs(s));
    }
    let later = t0 + Duration::from_secs(10);
    let resent = carol.packet(me.key, &Payload::Broadcast(chat));
    me.node.handle_datagram(later, carol.addr, &resent);
    assert_eq!(
        shown(&mut me.node, b"before I go"),
        0,
        "shown again after the quit"
    );
    assert_eq!(me.node.stats().dropped(DropReason::TooOld), 1);

    // Bob coming back (numbers past his quit, after his rejoin handshake) is let in.
    drain(&mut me.node);
    admit_to(&mut me.node, me.group, me.key, later, &mut bob);
    drain(&mut me.node);
    let back = signed(&bob.id, &me.chat, 1012, 64, b"back");
    let back = bob.packet(me.key, &Payload::Broadcast(back));
    me.node.handle_datagram(later, bob.addr, &back);
    assert_eq!(shown(&mut me.node, b"back"), 1);
}

#[test]
fn direct_numbers_resume_past_the_stored_ones_after_a_restart() {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let t0 = Instant::now();
    let mut me = start(t0, &[]);
    let mut bob = Peer::new(1);
    admit(&mut me, &mut bob);
    assert_eq!(
        me.node.send_direct(me.now, me.group, bob.key(), b"one"),
        Ok(1)
    );
    assert_eq!(me.node.last_direct_number(me.group), Some(1));
    // The store gives back 1 + the resume gap (PROTOCOL.md §6.9).
    let mut again = start(t0 + Duration::from_secs(5), &[]);
    admit(&mut again, &mut bob);
    again
        .node
        .resume_direct_numbers(again.group, 1 + 1000)
        .unwrap();
    assert_eq!(
        again
            .node
            .send_direct(again.now, again.group, bob.key(), b"two"),
        Ok(1002)
    );
    let out = drain(&mut again.node);
    let plain = bob.open(&out.last().unwrap().1);
    assert!(matches!(
        Payload::decode(&plain),
        Ok(Payload::Direct(Direct { number: 1002, .. }))
    ));
}

#[test]
fn a_kicked_members_broadcast_re_sent_by_another_member_is_shown_0_times() {
    #[allow(clippy::disallowed_methods)] // a fixed epoch for hand-driven time
    let t0 = Instant::now();
    let mut me = start(t0, &[]);
    let (mut bob, mut carol) = (Peer::new(1), Peer::new(2));
    admit(&mut me, &mut bob);
    admit(&mut me, &mut carol);
    let chat = signed(&bob.id, &me.chat, 20, 64, b"rude");
    let first = bob.packet(me.key, &Payload::Broadcast(chat));
    me.node.handle_datagram(me.now, bob.addr, &first);
    assert_eq!(shown(&mut me.node, b"rude"), 1);
    me.node
        .moderate(
            me.now,
            me.group,
            dhtchat::proto::Moderation::Kick(bob.key()),
        )
        .unwrap();
    drain(&mut me.node);
    let resent = carol.packet(me.key, &Payload::Broadcast(chat));
    me.node.handle_datagram(me.now, carol.addr, &resent);
    assert_eq!(
        shown(&mut me.node, b"rude"),
        0,
        "shown again after the kick"
    );
    assert_eq!(me.node.stats().dropped(DropReason::TooOld), 1);
}
