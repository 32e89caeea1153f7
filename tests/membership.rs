//! Membership as a joiner and a leaver see it (issue #11, PROTOCOL.md §5.2, §5.5, §6.5):
//! part and quit reasons, the group's signed name, and every member's nick, status and role
//! within 2 s of joining. Bounded joins are in `join_timeout.rs`.

mod sim;

use std::time::Duration;

use dhtchat::proto::{Dialect, DropReason, Event, GroupSpec, LeaveReason, Privacy, SendError};
use dhtchat::wire::{EncodeError, PublicKey};
use sim::{LinkModel, Sim, build_group};

fn spec(dialect: Dialect) -> GroupSpec {
    GroupSpec {
        dialect,
        privacy: Privacy::Public,
        ..GroupSpec::default()
    }
}

/// A settled group of `n` nodes; node 0 founded it.
fn group(seed: u64, n: usize, dialect: Dialect) -> Sim {
    group_with(seed, n, dialect, |_| {})
}

fn group_with(
    seed: u64,
    n: usize,
    dialect: Dialect,
    configure: fn(&mut dhtchat::proto::Config),
) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    let stagger = Duration::from_millis(300);
    build_group(&mut sim, n, &spec(dialect), stagger, configure);
    let full = sim.drive_until(Duration::from_secs(60), |s| {
        (0..n).all(|i| s.nodes[i].node.members(s.nodes[i].group.unwrap()).len() == n - 1)
    });
    assert!(full, "group of {n} did not settle");
    sim
}

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// The events node `i` logged about `peer`'s departure, in order.
fn departures(sim: &Sim, i: usize, peer: PublicKey) -> Vec<Event> {
    sim.nodes[i]
        .events
        .iter()
        .map(|(_, _, e)| e.clone())
        .filter(|e| {
            matches!(e, Event::PeerQuit { peer: p, .. } | Event::PeerLeft { peer: p, .. } if *p == peer)
        })
        .collect()
}

#[test]
fn a_quit_reason_reaches_every_member_just_before_peer_left() {
    let mut sim = group(11, 4, Dialect::Secure);
    let leaver = key(&sim, 2);
    sim.with_node(2, |n, now, g| {
        n.leave_group_with_reason(now, g, "gotta go".as_bytes())
    })
    .unwrap();
    sim.run_for(Duration::from_secs(1));
    for i in [0, 1, 3] {
        let group = sim.nodes[i].group.unwrap();
        let expected = vec![
            Event::PeerQuit {
                group,
                peer: leaver,
                reason: b"gotta go".to_vec(),
            },
            Event::PeerLeft {
                group,
                peer: leaver,
                reason: LeaveReason::Quit,
            },
        ];
        assert_eq!(departures(&sim, i, leaver), expected, "node {i}");
    }
}

#[test]
fn a_plain_leave_is_a_quit_without_reason() {
    let mut sim = group(12, 3, Dialect::Secure);
    let leaver = key(&sim, 1);
    sim.with_node(1, |n, now, g| n.leave_group(now, g)).unwrap();
    sim.run_for(Duration::from_secs(1));
    let got = departures(&sim, 0, leaver);
    assert!(
        matches!(&got[0], Event::PeerQuit { reason, .. } if reason.is_empty()),
        "{got:?}"
    );
}

#[test]
fn a_bad_reason_sends_nothing_and_keeps_the_group() {
    let mut sim = group(13, 2, Dialect::Secure);
    let leaver = key(&sim, 1);
    let long = vec![b'x'; 257];
    let err = sim.with_node(1, |n, now, g| n.leave_group_with_reason(now, g, &long));
    assert_eq!(
        err,
        Err(SendError::Encode(EncodeError::TooLong {
            len: 257,
            max: 256
        }))
    );
    let err = sim.with_node(1, |n, now, g| {
        n.leave_group_with_reason(now, g, &[0xFF, 0xFE])
    });
    assert!(matches!(err, Err(SendError::Encode(_))), "{err:?}");
    let g = sim.nodes[1].group.unwrap();
    assert!(sim.nodes[1].node.group_info(g).is_some(), "group kept");
    sim.run_for(Duration::from_secs(1));
    assert!(departures(&sim, 0, leaver).is_empty());
    let exact = "é".repeat(128);
    sim.with_node(1, |n, now, g| {
        n.leave_group_with_reason(now, g, exact.as_bytes())
    })
    .unwrap();
    sim.run_for(Duration::from_secs(1));
    let got = departures(&sim, 0, leaver);
    assert!(matches!(&got[0], Event::PeerQuit { reason, .. } if *reason == exact.as_bytes()));
}

#[test]
fn a_legacy_group_sends_the_empty_2014_quit_and_drops_a_reason() {
    let mut sim = group(14, 3, Dialect::Legacy);
    let leaver = key(&sim, 1);
    sim.with_node(1, |n, now, g| n.leave_group_with_reason(now, g, b"bye all"))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    let got = departures(&sim, 0, leaver);
    assert!(
        matches!(&got[0], Event::PeerQuit { reason, .. } if reason.is_empty()),
        "{got:?}"
    );
    assert_eq!(got.len(), 2);
    // A quit with a reason is not of the 2014 dialect: dropped, not delivered.
    let before = sim.nodes[2].node.stats().dropped(DropReason::BadBody);
    let forged = legacy_quit_with_reason(&sim, 0, 2);
    sim.with_node(2, |n, now, _| n.handle_datagram(now, forged.1, &forged.0));
    assert_eq!(
        sim.nodes[2].node.stats().dropped(DropReason::BadBody),
        before + 1
    );
    assert!(departures(&sim, 2, key(&sim, 0)).is_empty());
}

/// Node `from`'s quit with a reason, sealed to node `to` as a legacy broadcast (as a
/// misbehaving or newer peer could send it), and `from`'s address.
fn legacy_quit_with_reason(sim: &Sim, from: usize, to: usize) -> (Vec<u8>, std::net::SocketAddr) {
    use dhtchat::crypto::{Identity, precompute, seal_packet};
    use dhtchat::wire::{Broadcast, Payload};
    let n = &sim.nodes[from];
    let id = Identity::from_seed(&n.node.identity_seed(n.group.unwrap()).unwrap());
    let receiver = key(sim, to);
    let b = Broadcast {
        origin: id.public_key(),
        number: 1000,
        message_id: 24,
        body: b"bye all",
        trailer: None,
    };
    let shared = precompute(id.keypair(), &receiver);
    let mut out = Vec::new();
    let payload = Payload::Broadcast(b);
    seal_packet(
        &shared,
        &receiver,
        &id.public_key(),
        &dhtchat::crypto::mac1_nonce(&[7; 8], None, &receiver, &id.public_key()),
        &payload,
        &mut out,
    )
    .unwrap();
    (out, n.addr)
}

/// Node `i`'s virtual time of `Joined`.
fn joined_at(sim: &Sim, i: usize) -> Option<Duration> {
    let joined = |e: &Event| matches!(e, Event::Joined { .. });
    sim.nodes[i]
        .events
        .iter()
        .find(|(_, _, e)| joined(e))
        .map(|(t, _, _)| *t)
}

fn group_name(sim: &Sim, i: usize) -> Option<String> {
    let n = &sim.nodes[i];
    n.node.group_name(n.group?)
}

/// `n` nodes; node 0 founds a secure group and names it before anyone joins; node `i` then
/// joins through node `i - 1`, 300 ms apart.
fn named_group(seed: u64, n: usize, name: &str) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    for i in 0..n {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(Dialect::Secure));
    sim.with_node(0, |node, now, g| node.set_group_name(now, g, name))
        .unwrap();
    for i in 1..n {
        sim.run_for(Duration::from_millis(300));
        let join = sim.join_string(i - 1);
        sim.join(i, &join, &spec(Dialect::Secure));
    }
    sim
}

#[test]
fn joiners_learn_the_founders_group_name_as_they_join() {
    let mut sim = named_group(21, 4, "dhtchat devs");
    assert_eq!(group_name(&sim, 0).as_deref(), Some("dhtchat devs"));
    sim.run_for(Duration::from_secs(3));
    for i in 1..4 {
        let at = joined_at(&sim, i).expect("joined");
        let (when, _, _) = sim.nodes[i]
            .events
            .iter()
            .find(|(_, _, e)| matches!(e, Event::GroupNameChanged { name, .. } if name == "dhtchat devs"))
            .expect("GroupNameChanged");
        assert!(
            *when <= at + Duration::from_secs(2),
            "node {i}: {when:?} vs {at:?}"
        );
        assert_eq!(
            group_name(&sim, i).as_deref(),
            Some("dhtchat devs"),
            "node {i}"
        );
    }
    // A rename reaches everyone; an empty name clears it.
    sim.with_node(0, |n, now, g| n.set_group_name(now, g, "renamed"))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!((0..4).all(|i| group_name(&sim, i).as_deref() == Some("renamed")));
    sim.with_node(0, |n, now, g| n.set_group_name(now, g, ""))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!((0..4).all(|i| group_name(&sim, i).is_none()));
}

#[test]
fn only_the_founder_names_a_secure_group() {
    let mut sim = named_group(22, 3, "ours");
    sim.run_for(Duration::from_secs(3));
    let err = sim.with_node(1, |n, now, g| n.set_group_name(now, g, "mine"));
    assert_eq!(err, Err(SendError::NotPermitted));
    let long = "n".repeat(129);
    let err = sim.with_node(0, |n, now, g| n.set_group_name(now, g, &long));
    assert_eq!(
        err,
        Err(SendError::Encode(EncodeError::TooLong {
            len: 129,
            max: 128
        }))
    );
    let mut legacy = group(23, 2, Dialect::Legacy);
    let err = legacy.with_node(0, |n, now, g| n.set_group_name(now, g, "old"));
    assert_eq!(err, Err(SendError::NotSecure));
    assert_eq!(group_name(&legacy, 1), None);
}

#[test]
fn a_forged_or_replayed_group_name_is_refused() {
    use dhtchat::crypto::Identity;
    use dhtchat::wire::{Fact, FactValue};
    let mut sim = named_group(24, 3, "ours");
    sim.run_for(Duration::from_secs(3));
    let chat = sim.nodes[0]
        .node
        .group_info(sim.nodes[0].group.unwrap())
        .unwrap()
        .chat_id
        .unwrap();
    let sign = |by: &Identity, version: u32, name: &str| {
        let mut f = Fact {
            subject: PublicKey([0; 32]),
            version,
            value: FactValue::GroupName(name),
            signer: [0; 32],
            signature: [0; 64],
        };
        by.sign_fact(&chat, &mut f);
        f.to_vec().unwrap()
    };
    let n1 = &sim.nodes[1];
    let member = Identity::from_seed(&n1.node.identity_seed(n1.group.unwrap()).unwrap());
    let forged = sign(&member, 9, "hijacked");
    // The founder's own key signs an old version: stale once version 1 is held.
    let old_by_founder = sim.nodes[0].node.facts(sim.nodes[0].group.unwrap());
    let taken = sim.with_node(2, |n, now, g| n.restore_facts(now, g, &[forged]));
    assert_eq!(taken, 0);
    assert_eq!(
        sim.nodes[2].node.stats().dropped(DropReason::FactRejected),
        1
    );
    let taken = sim.with_node(2, |n, now, g| n.restore_facts(now, g, &old_by_founder));
    assert_eq!(taken, 0);
    assert!(sim.nodes[2].node.stats().dropped(DropReason::StaleFact) >= 1);
    assert_eq!(group_name(&sim, 2).as_deref(), Some("ours"));
}

/// A settled group of `n` nodes named `nick0..`, node 2 away, node 3 moderator (secure);
/// then node `n` joins through node `n - 1` (a random member would do). Returns the sim and
/// the virtual time of the joiner's `Joined`.
fn join_a_named_group(
    seed: u64,
    n: usize,
    dialect: Dialect,
    configure: fn(&mut dhtchat::proto::Config),
) -> (Sim, Duration) {
    let mut sim = Sim::new(seed, LinkModel::default());
    build_group(
        &mut sim,
        n,
        &spec(dialect),
        Duration::from_millis(300),
        configure,
    );
    let full = sim.drive_until(Duration::from_secs(60), |s| {
        (0..n).all(|i| s.nodes[i].node.members(s.nodes[i].group.unwrap()).len() == n - 1)
    });
    assert!(full);
    for i in 0..n {
        let nick = format!("nick{i}");
        sim.with_node(i, |node, now, g| node.set_name(now, g, nick.as_bytes()))
            .unwrap();
    }
    if dialect == Dialect::Secure {
        use dhtchat::proto::Moderation;
        use dhtchat::wire::{Role, Status};
        sim.with_node(2, |node, now, g| node.set_status(now, g, Status::Away))
            .unwrap();
        let m = key(&sim, 3);
        sim.with_node(0, |node, now, g| {
            node.moderate(now, g, Moderation::SetRole(m, Role::Moderator))
        })
        .unwrap();
    }
    // Long after every announcement: only the 180-s timer would repeat them.
    sim.run_for(Duration::from_secs(20));
    let mut c = sim.config(n);
    configure(&mut c);
    sim.add_node(c);
    let join = sim.join_string(n - 1);
    let mut s = spec(dialect);
    s.nick = b"newcomer".to_vec();
    sim.join(n, &join, &s);
    let done = sim.drive_until(Duration::from_secs(10), |s| joined_at(s, n).is_some());
    assert!(done, "the joiner never joined");
    let at = joined_at(&sim, n).unwrap();
    sim.run_until(at + Duration::from_secs(2));
    (sim, at)
}

/// What node `i` knows of the members: key → (nick, status, role).
fn roster(
    sim: &Sim,
    i: usize,
) -> std::collections::BTreeMap<PublicKey, (String, dhtchat::wire::Status, dhtchat::wire::Role)> {
    let n = &sim.nodes[i];
    n.node
        .members(n.group.unwrap())
        .into_iter()
        .map(|m| {
            (
                m.key,
                (String::from_utf8(m.name).unwrap(), m.status, m.role),
            )
        })
        .collect()
}

#[test]
fn a_joiner_knows_every_nick_status_and_role_within_2s_of_joining() {
    use dhtchat::wire::{Role, Status};
    let (sim, _) = join_a_named_group(41, 8, Dialect::Secure, |c| c.eager_tree = true);
    let got = roster(&sim, 8);
    assert_eq!(got.len(), 8, "{got:?}");
    for i in 0..8 {
        let (nick, status, role) = &got[&key(&sim, i)];
        assert_eq!(nick, &format!("nick{i}"), "node {i}");
        let want_status = if i == 2 { Status::Away } else { Status::Online };
        assert_eq!(*status, want_status, "node {i}");
        let want_role = match i {
            0 => Role::Founder,
            3 => Role::Moderator,
            _ => Role::User,
        };
        assert_eq!(*role, want_role, "node {i}");
    }
    // Only the member it joined through, and any other that validated it through a probe
    // before any broadcast of it arrived, sent it. Along the eager tree (the default) the
    // joiner's name takes more hops than its probes of the members it learns of, so every
    // member may (PROTOCOL.md Appendix A.4); with the random relay (the default) it
    // outruns them.
    let senders = |sim: &Sim| {
        (0..8)
            .filter(|&i| sim.nodes[i].node.stats().name_syncs > 0)
            .count()
    };
    let on_tree = senders(&sim);
    let (random, _) = join_a_named_group(41, 8, Dialect::Secure, |c| c.eager_tree = false);
    let off_tree = senders(&random);
    println!("members that sent a name sync: {on_tree} on the tree, {off_tree} off it");
    assert!((1..=8).contains(&on_tree), "{on_tree} on the tree");
    assert!((1..=3).contains(&off_tree), "{off_tree} off the tree");
    let most = (0..8).map(|i| sim.nodes[i].node.stats().name_syncs).max();
    assert!(
        most <= Some(2 * 8),
        "one sync per sender, two copies a member: {most:?}"
    );
}

#[test]
fn a_legacy_joiner_knows_every_nick_within_2s_of_joining() {
    let (sim, _) = join_a_named_group(42, 6, Dialect::Legacy, |_| {});
    let got = roster(&sim, 6);
    assert_eq!(got.len(), 6, "{got:?}");
    for i in 0..6 {
        assert_eq!(got[&key(&sim, i)].0, format!("nick{i}"), "node {i}");
    }
    assert!(
        (0..7).all(|i| sim.nodes[i].node.stats().name_syncs == 0),
        "no sync in 2014 groups"
    );
}

#[test]
fn the_name_sync_is_bounded_per_joiner_and_can_be_turned_off() {
    let (sim, _) = join_a_named_group(43, 8, Dialect::Secure, |c| c.name_sync_max = 3);
    let most = (0..8).map(|i| sim.nodes[i].node.stats().name_syncs).max();
    assert!(most.is_some_and(|m| (1..=6).contains(&m)), "{most:?}");
    let named = roster(&sim, 8)
        .values()
        .filter(|(n, _, _)| !n.is_empty())
        .count();
    assert!(named < 8, "a cap of 3 members cannot name all 8 ({named})");
    let (sim, _) = join_a_named_group(43, 8, Dialect::Secure, |c| c.name_sync_max = 0);
    assert!((0..9).all(|i| sim.nodes[i].node.stats().name_syncs == 0));
    let named = roster(&sim, 8)
        .values()
        .filter(|(n, _, _)| !n.is_empty())
        .count();
    assert!(
        named < 8,
        "without the sync the joiner waits for the name timer ({named})"
    );
}

#[test]
fn a_burst_of_legacy_new_peers_costs_one_name_broadcast() {
    use dhtchat::crypto::{Identity, precompute, seal_packet};
    use dhtchat::wire::{Broadcast, Payload};
    // No group pings: every own broadcast counted below is a nick.
    let quiet = |c: &mut dhtchat::proto::Config| {
        c.ping_interval = Duration::from_secs(3600);
        c.peer_timeout = Duration::from_secs(7200);
    };
    let mut sim = group_with(44, 3, Dialect::Legacy, quiet);
    sim.with_node(1, |n, now, g| n.set_name(now, g, b"bob"))
        .unwrap();
    sim.run_for(Duration::from_secs(5));
    let stranger = Identity::from_seed(&[0x77; 32]);
    let receiver = key(&sim, 1);
    let shared = precompute(stranger.keypair(), &receiver);
    let before = sim.nodes[1].node.stats().originated;
    for k in 0..10u8 {
        let announced = [k + 1; 32];
        let b = Broadcast {
            origin: stranger.public_key(),
            number: u32::from(k) + 1,
            message_id: 16,
            body: &announced,
            trailer: None,
        };
        let mut out = Vec::new();
        let payload = Payload::Broadcast(b);
        seal_packet(
            &shared,
            &receiver,
            &stranger.public_key(),
            &dhtchat::crypto::mac1_nonce(&[k; 8], None, &receiver, &stranger.public_key()),
            &payload,
            &mut out,
        )
        .unwrap();
        let from = "127.250.0.1:9".parse().unwrap();
        sim.with_node(1, |n, now, _| n.handle_datagram(now, from, &out));
        sim.run_for(Duration::from_millis(50));
    }
    let members = sim.nodes[1].node.members(sim.nodes[1].group.unwrap()).len();
    assert!(
        members >= 12,
        "the announced keys became members ({members})"
    );
    assert_eq!(
        sim.nodes[1].node.stats().originated,
        before + 1,
        "one nick, at once"
    );
    // ... and once more 15 s later, as the 2014 code does.
    sim.run_for(Duration::from_secs(16));
    assert_eq!(sim.nodes[1].node.stats().originated, before + 2);
}

#[test]
fn a_joiner_does_not_ask_again_for_what_the_name_sync_gave_it() {
    let mut sim = Sim::new(45, LinkModel::default());
    for i in 0..2 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    let mut s = spec(Dialect::Secure);
    s.nick = b"alice".to_vec();
    sim.create_group(0, &s);
    sim.with_node(0, |n, now, g| n.send_chat(now, g, b"hello"))
        .unwrap();
    sim.with_node(0, |n, now, g| n.set_name(now, g, b"alicia"))
        .unwrap();
    sim.run_for(Duration::from_millis(300));
    let join = sim.join_string(0);
    s.nick = b"bob".to_vec();
    sim.join(1, &join, &s);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(roster(&sim, 1)[&key(&sim, 0)].0, "alicia");
    // Its summaries list the synced name (and the new_peer that came before the join), so
    // alice re-sends only what bob really lacks (the chat), not those on every summary.
    let repairs = sim.nodes[0].node.stats().repairs;
    assert!(repairs <= 3, "alice re-sent {repairs} copies");
}
