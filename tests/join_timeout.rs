//! Bounded joins (issue #11, PROTOCOL.md §6.3): a join that no member answers fails after
//! `Config::join_timeout` with `Event::JoinFailed`, and the join string's member is not a
//! member (no PeerJoined, not in `members()`) until it has answered.

mod sim;

use std::time::Duration;

use dhtchat::proto::{Dialect, DropReason, Event, GroupSpec, Privacy};
use dhtchat::wire::PublicKey;
use sim::{LinkModel, Sim};

fn spec(dialect: Dialect) -> GroupSpec {
    GroupSpec {
        dialect,
        privacy: Privacy::Public,
        ..GroupSpec::default()
    }
}

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// Node `i`'s virtual time of `Joined`.
fn joined_at(sim: &Sim, i: usize) -> Option<Duration> {
    let joined = |e: &Event| matches!(e, Event::Joined { .. });
    let events = sim.nodes[i].events.iter();
    events
        .filter(|(_, _, e)| joined(e))
        .map(|(t, _, _)| *t)
        .next()
}

fn peer_joined(sim: &Sim, i: usize, peer: PublicKey) -> Vec<Duration> {
    let hit = |e: &Event| matches!(e, Event::PeerJoined { peer: p, .. } if *p == peer);
    let events = sim.nodes[i].events.iter();
    events
        .filter(|(_, _, e)| hit(e))
        .map(|(t, _, _)| *t)
        .collect()
}

/// Node 1 joins through `key` at `addr` (node 0's address if `None`, where node 0 hosts a
/// group under another key); returns the sim after 25 s.
fn doomed_join(seed: u64, key: PublicKey, addr: Option<std::net::SocketAddr>) -> Sim {
    let mut sim = Sim::new(seed, LinkModel::default());
    for i in 0..2 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(Dialect::Secure));
    let mut join = sim.join_string(0);
    join.contact.key = key;
    join.contact.addr = addr.unwrap_or(join.contact.addr);
    let g = sim.join(1, &join, &spec(Dialect::Secure));
    assert!(
        sim.nodes[1].node.members(g).is_empty(),
        "the contact is not a member yet"
    );
    sim.run_for(Duration::from_secs(19));
    assert!(
        sim.nodes[1].node.group_info(g).is_some(),
        "still trying at 19 s"
    );
    assert!(sim.nodes[1].node.members(g).is_empty());
    assert_eq!(sim.nodes[1].node.group_info(g).unwrap().members, 0);
    sim.run_for(Duration::from_secs(6));
    sim
}

fn assert_join_failed(sim: &Sim, contact: std::net::SocketAddr) {
    let g = sim.nodes[1].group.unwrap();
    let failed: Vec<_> = sim.nodes[1]
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::JoinFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", sim.nodes[1].events);
    assert_eq!(failed[0].2, Event::JoinFailed { group: g, contact });
    assert!((Duration::from_secs(20)..=Duration::from_secs(22)).contains(&failed[0].0));
    assert!(
        sim.nodes[1].node.group_info(g).is_none(),
        "the group was dropped"
    );
    assert!(
        sim.nodes[1].node.poll_timeout().is_none(),
        "nothing left to retry"
    );
    let joined = |e: &Event| matches!(e, Event::PeerJoined { .. } | Event::Joined { .. });
    assert!(!sim.nodes[1].events.iter().any(|(_, _, e)| joined(e)));
}

#[test]
fn a_join_to_a_dead_address_fails_after_the_join_timeout() {
    let dead: std::net::SocketAddr = "127.99.0.1:33445".parse().unwrap();
    let sim = doomed_join(31, PublicKey([0x42; 32]), Some(dead));
    assert_join_failed(&sim, dead);
}

#[test]
fn a_join_with_a_wrong_key_fails_after_the_join_timeout() {
    let wrong = dhtchat::crypto::Identity::from_seed(&[0x5A; 32]).public_key();
    let sim = doomed_join(32, wrong, None);
    let addr = sim.nodes[0].addr;
    assert_join_failed(&sim, addr);
    assert!(sim.nodes[0].node.stats().dropped(DropReason::UnknownGroup) >= 4);
}

#[test]
fn a_contact_becomes_a_member_when_it_answers_and_joins_never_time_out_after() {
    let mut sim = Sim::new(33, LinkModel::default());
    for i in 0..2 {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(Dialect::Secure));
    let contact = key(&sim, 0);
    let join = sim.join_string(0);
    let g = sim.join(1, &join, &spec(Dialect::Secure));
    assert!(sim.nodes[1].node.members(g).is_empty());
    sim.run_for(Duration::from_secs(40));
    let when = peer_joined(&sim, 1, contact);
    assert_eq!(when.len(), 1, "one PeerJoined for the contact");
    assert!(when[0] > Duration::ZERO, "only once it answered");
    assert_eq!(joined_at(&sim, 1), Some(when[0]));
    let keys: Vec<PublicKey> = sim.nodes[1].node.members(g).iter().map(|m| m.key).collect();
    assert_eq!(keys, [contact]);
    assert!(
        !sim.nodes[1]
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::JoinFailed { .. }))
    );
}

#[test]
fn a_join_timeout_of_duration_max_keeps_trying() {
    let mut sim = Sim::new(34, LinkModel::default());
    let mut c = sim.config(0);
    c.join_timeout = Duration::MAX;
    sim.add_node(c);
    let dead: std::net::SocketAddr = "127.99.0.1:33445".parse().unwrap();
    let join = format!(
        "dhtchat:public:{}:{}@{dead}",
        PublicKey([1; 32]),
        PublicKey([0x42; 32])
    );
    let g = sim.join(0, &join.parse().unwrap(), &spec(Dialect::Secure));
    sim.run_for(Duration::from_secs(120));
    assert!(sim.nodes[0].node.group_info(g).is_some());
    assert!(sim.nodes[0].events.is_empty());
}

#[test]
fn every_event_names_its_group() {
    let dead: std::net::SocketAddr = "127.99.0.1:33445".parse().unwrap();
    let sim = doomed_join(35, PublicKey([0x42; 32]), Some(dead));
    let g = sim.nodes[1].group.unwrap();
    assert!(!sim.nodes[1].events.is_empty());
    assert!(sim.nodes[1].events.iter().all(|(_, _, e)| e.group() == g));
}
