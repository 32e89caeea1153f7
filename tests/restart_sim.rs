//! A member that crashes and comes back on a new address keeps the group (issue #12,
//! PROTOCOL.md §6.9), on the deterministic simulator: 12 members, one is killed (no quit)
//! and restarted with what its store held (identity, table, numbers, marks) at a new
//! address; every other member is shown its next message within 1 s of virtual time, nobody
//! shows it leaving, and it is shown the others' next messages.

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::proto::{Dialect, Event, GroupSpec, Privacy};
use dhtchat::wire::NodeInfo;
use sim::{LinkModel, Sim};

fn spec(i: usize) -> GroupSpec {
    GroupSpec {
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        identity_seed: Some([40 + i as u8; 32]),
        nick: format!("n{i}").into_bytes(),
    }
}

fn shown(sim: &Sim, i: usize, text: &str) -> usize {
    (sim.nodes[i].events.iter())
        .filter(|(_, _, e)| {
            matches!(e, Event::MessageReceived { text: t, .. } if t.as_slice() == text.as_bytes())
        })
        .count()
}

#[test]
fn a_member_killed_and_restarted_on_a_new_address_is_heard_by_all_within_1_s() {
    let link = LinkModel {
        jitter: Duration::from_millis(10),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(77, link);
    let n = 12;
    for i in 0..n {
        let c = sim.config(i);
        sim.add_node(c);
    }
    sim.create_group(0, &spec(0));
    for i in 1..n {
        sim.run_for(Duration::from_millis(300));
        let join = sim.join_string(i / 2);
        sim.join(i, &join, &spec(i));
    }
    sim.run_for(Duration::from_secs(20));
    let k = 7;
    sim.with_node(k, |node, now, g| node.send_chat(now, g, b"before"))
        .unwrap();
    sim.run_for(Duration::from_secs(2));

    // What its store held: the table, the numbers, the marks.
    let (table, last, marks, key) = sim.with_node(k, |node, _, g| {
        let info = node.group_info(g).unwrap();
        (
            node.table(g),
            node.last_number(g).unwrap(),
            node.marks(g).unwrap(),
            info.own_key,
        )
    });
    let mut c = sim.config(k);
    c.rng_seed = [99; 32];
    sim.restart_at(k, c, SocketAddr::from(([127, 9, 9, 9], 40000)));
    let restarted_at = sim.elapsed();
    let first: NodeInfo = table[0];
    let mut join = sim.join_string(0);
    join.contact = first;
    sim.join(k, &join, &spec(k));
    sim.with_node(k, |node, now, g| {
        node.restore_marks(g, &marks).unwrap();
        node.resume_numbers(g, last + 1000).unwrap();
        node.add_contacts(now, g, &table).unwrap();
        assert_eq!(node.group_info(g).unwrap().own_key, key, "same identity");
    });
    let joined = sim.drive_until(Duration::from_secs(5), |s| {
        s.nodes[k]
            .events
            .iter()
            .any(|(t, _, e)| *t >= restarted_at && matches!(e, Event::Joined { .. }))
    });
    assert!(joined, "a stored peer answered");
    let sent_at = sim.elapsed();
    sim.with_node(k, |node, now, g| node.send_chat(now, g, b"after"))
        .unwrap();
    let all = sim.drive_until(Duration::from_secs(1), |s| {
        (0..n)
            .filter(|&i| i != k)
            .all(|i| shown(s, i, "after") == 1)
    });
    let heard = |i: usize| {
        (sim.nodes[i].events.iter())
            .find(|(_, _, e)| matches!(e, Event::MessageReceived { text, .. } if text == b"after"))
            .map(|(t, _, _)| *t)
    };
    let last = (0..n).filter(|&i| i != k).filter_map(heard).max();
    let joined_at = (sim.nodes[k].events.iter())
        .find(|(t, _, e)| *t >= restarted_at && matches!(e, Event::Joined { .. }))
        .map(|(t, _, _)| *t - restarted_at);
    println!(
        "restarted member: joined {joined_at:?} after the restart; its next message shown by \
         the last of the other {} members {:?} after it was sent",
        n - 1,
        last.map(|t| t - sent_at)
    );
    assert!(all, "not every member showed it within 1 s");
    sim.with_node(3, |node, now, g| node.send_chat(now, g, b"welcome"))
        .unwrap();
    let back = sim.drive_until(Duration::from_secs(1), |s| shown(s, k, "welcome") == 1);
    assert!(back, "the restarted member hears the others");
    sim.run_for(Duration::from_secs(5));
    for i in (0..n).filter(|&i| i != k) {
        let left = (sim.nodes[i].events.iter())
            .any(|(_, _, e)| matches!(e, Event::PeerLeft { peer, .. } if *peer == key));
        assert!(!left, "node {i} showed the restarted member leaving");
        assert_eq!(shown(&sim, i, "before"), 1, "node {i}");
    }
}
