//! Two joiners never make a group of their own (PROTOCOL.md §6.3, "A joiner answers
//! strangers once it is in"). A joins through B while B is itself still joining: before
//! the rule, B probed A, each took the other's answer as a member's and both were
//! "joined" in an island of two, deaf to the group and unheard by it until their tables
//! met the rest (the demo's shape once lost 566 of 2,900 deliveries that way).

mod sim;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use dhtchat::proto::{DropReason, Event, GroupSpec};
use sim::{LinkModel, Sim, Tamper};

fn joined_at(sim: &Sim, i: usize) -> Option<Duration> {
    (sim.nodes[i].events.iter())
        .find(|(_, _, e)| matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t)
}

fn shows(sim: &Sim, i: usize, text: &[u8]) -> bool {
    (sim.nodes[i].events.iter()).any(
        |(_, _, e)| matches!(e, Event::MessageReceived { text: t, .. } if t.as_slice() == text),
    )
}

/// A simulation of `n` nodes (none in a group yet) and the group spec they all use.
fn nodes(seed: u64, n: usize) -> (Sim, GroupSpec) {
    let mut sim = Sim::new(seed, LinkModel::default());
    for i in 0..n {
        let c = sim.config(i);
        sim.add_node(c);
    }
    let spec = GroupSpec {
        nick: b"n".to_vec(),
        ..GroupSpec::default()
    };
    (sim, spec)
}

#[test]
fn a_joiner_asked_by_another_joiner_answers_it_only_once_it_is_in() {
    let (mut sim, spec) = nodes(5, 3);
    let (founder, b, a) = (0, 1, 2);
    sim.create_group(founder, &spec);
    // B cannot reach the founder, its contact, for the first 3 s.
    let cut = Rc::new(Cell::new(true));
    let gate = cut.clone();
    sim.tamper = Some(Tamper(Box::new(move |from, to, _| {
        let between = (from, to) == (founder, b) || (from, to) == (b, founder);
        !(gate.get() && between)
    })));
    let via_founder = sim.join_string(founder);
    sim.join(b, &via_founder, &spec);
    sim.run_for(Duration::from_millis(100));
    let via_b = sim.join_string(b);
    sim.join(a, &via_b, &spec);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(joined_at(&sim, b), None, "B is cut off from every member");
    assert_eq!(joined_at(&sim, a), None, "A was not let in by a joiner");
    let refused = sim.nodes[b].node.stats().dropped(DropReason::NotJoinedYet);
    assert!(refused >= 1, "B kept A waiting ({refused})");

    cut.set(false);
    let both = |s: &Sim| joined_at(s, a).is_some() && joined_at(s, b).is_some();
    assert!(sim.drive_until(Duration::from_secs(20), both), "both join");
    assert!(
        joined_at(&sim, b) <= joined_at(&sim, a),
        "B was in before A"
    );
    sim.run_for(Duration::from_secs(2));
    sim.with_node(founder, |n, now, g| n.send_chat(now, g, b"welcome"))
        .expect("send");
    sim.with_node(a, |n, now, g| n.send_chat(now, g, b"hi from A"))
        .expect("send");
    sim.run_for(Duration::from_secs(3));
    assert!(shows(&sim, a, b"welcome") && shows(&sim, b, b"welcome"));
    assert!(shows(&sim, founder, b"hi from A"));
}

/// A joiner whose first request is lost asks again after the 1 s back-off of §6.3, not when
/// that request's 5 s ping id runs out.
#[test]
fn a_lost_join_request_is_retried_after_one_second() {
    let (mut sim, spec) = nodes(6, 2);
    sim.create_group(0, &spec);
    let lost = Rc::new(Cell::new(0u32));
    let count = lost.clone();
    sim.tamper = Some(Tamper(Box::new(move |from, to, _| {
        // The joiner's first datagram to its contact is its join request: lose it.
        let first = (from, to) == (1, 0) && count.get() == 0;
        if first {
            count.set(1);
        }
        !first
    })));
    let js = sim.join_string(0);
    sim.join(1, &js, &spec);
    assert!(sim.drive_until(Duration::from_secs(10), |s| joined_at(s, 1).is_some()));
    assert_eq!(lost.get(), 1, "the first request was lost");
    let took = joined_at(&sim, 1).unwrap();
    assert!(
        took < Duration::from_secs(2),
        "joined {took:?} after the start, not after the lost request's 5 s"
    );
}

/// The rule is for first joins only: a member restarted while every other member is away
/// (it holds the group: its numbers resumed) still lets a newcomer in, so the two can talk
/// before the others come back.
#[test]
fn a_restarted_member_alone_still_lets_a_newcomer_in() {
    let (mut sim, spec) = nodes(7, 3);
    let (founder, bob, carol) = (0, 1, 2);
    sim.create_group(founder, &spec);
    let js = sim.join_string(founder);
    sim.join(bob, &js, &spec);
    assert!(sim.drive_until(Duration::from_secs(10), |s| joined_at(s, bob).is_some()));
    sim.run_for(Duration::from_secs(2));
    let (table, last) = sim.with_node(bob, |n, _, g| (n.table(g), n.last_number(g).unwrap()));
    // The founder goes away; bob restarts on a new address with what he stored.
    let away = Rc::new(Cell::new(true));
    let gate = away.clone();
    sim.tamper = Some(Tamper(Box::new(move |from, to, _| {
        !(gate.get() && (from == founder || to == founder))
    })));
    let mut c = sim.config(bob);
    c.rng_seed = [42; 32];
    sim.restart_at(bob, c, std::net::SocketAddr::from(([127, 9, 9, 8], 40001)));
    let restarted = sim.elapsed();
    sim.join(bob, &js, &spec);
    sim.with_node(bob, |n, now, g| {
        n.resume_numbers(g, last + 1000).unwrap();
        n.add_contacts(now, g, &table).unwrap();
    });
    sim.run_for(Duration::from_millis(500));
    let via_bob = sim.join_string(bob);
    sim.join(carol, &via_bob, &spec);
    let in_ = sim.drive_until(Duration::from_secs(5), |s| joined_at(s, carol).is_some());
    assert!(in_, "carol let in by bob while the founder is away");
    assert!(joined_at(&sim, carol).unwrap() >= restarted);
    sim.run_for(Duration::from_secs(1));
    sim.with_node(carol, |n, now, g| n.send_chat(now, g, b"hi bob"))
        .expect("send");
    sim.run_for(Duration::from_secs(2));
    assert!(shows(&sim, bob, b"hi bob"));
}
