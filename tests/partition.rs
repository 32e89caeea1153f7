//! A 3/3 partition for 30 s, then heal (issue #12): each side changes the group's signed
//! state and chats while cut off; within 10 s of the heal every node holds the same topic,
//! roles and bans, and has shown every message, once: those said in the last seconds before
//! the heal or after it by repair (PROTOCOL.md §6.11), those said earlier in the cut by the
//! heal fetch (§6.13: a table peer dropped for silence answers again).

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dhtchat::proto::{Event, GroupSpec, Moderation};
use dhtchat::wire::{PublicKey, Role};
use sim::{LinkModel, Sim, build_group};

const N: usize = 6;
/// How long the two sides are cut off.
const CUT: Duration = Duration::from_secs(30);
/// Everything must agree this soon after the heal.
const CONVERGE: Duration = Duration::from_secs(10);

fn key(sim: &Sim, i: usize) -> PublicKey {
    let n = &sim.nodes[i];
    n.node.group_info(n.group.unwrap()).unwrap().own_key
}

/// What node `i` holds of the signed state: topic, every member's role, bans.
type State = (
    Option<String>,
    BTreeMap<PublicKey, Role>,
    BTreeSet<PublicKey>,
);

fn state(sim: &Sim, i: usize) -> State {
    let n = &sim.nodes[i];
    let g = n.group.unwrap();
    let topic = n.node.group_info(g).unwrap().topic;
    let everyone: Vec<PublicKey> = (0..N).map(|j| key(sim, j)).collect();
    let roles = (everyone.iter())
        .filter_map(|k| n.node.role(g, k).map(|r| (*k, r)))
        .collect();
    (topic, roles, n.node.bans(g).into_iter().collect())
}

/// The texts node `i` showed, live or as history (its own included), each with how often.
fn texts(sim: &Sim, i: usize) -> BTreeMap<Vec<u8>, usize> {
    let mut out = BTreeMap::new();
    for (_, _, e) in &sim.nodes[i].events {
        if let Event::MessageReceived { text, .. } | Event::HistoryMessage { text, .. } = e {
            *out.entry(text.clone()).or_insert(0) += 1;
        }
    }
    out
}

fn chat(sim: &mut Sim, from: usize, text: &str) {
    let sent = sim.with_node(from, |node, now, g| node.send_chat(now, g, text.as_bytes()));
    sent.unwrap_or_else(|e| panic!("node {from} says {text}: {e:?}"));
}

fn moderate(sim: &mut Sim, by: usize, m: Moderation) {
    sim.with_node(by, |node, now, g| node.moderate(now, g, m))
        .unwrap();
}

/// A settled group of six, node 0 founder and node 3 moderator, each node named.
fn settled(seed: u64) -> Sim {
    let link = LinkModel {
        jitter: Duration::from_millis(10),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    let stagger = Duration::from_millis(200);
    build_group(&mut sim, N, &GroupSpec::default(), stagger, |_| {});
    let full = sim.drive_until(Duration::from_secs(60), |s| {
        (0..N).all(|i| s.nodes[i].node.members(s.nodes[i].group.unwrap()).len() == N - 1)
    });
    assert!(full, "the group settled");
    let m = key(&sim, 3);
    moderate(&mut sim, 0, Moderation::SetRole(m, Role::Moderator));
    sim.run_for(Duration::from_secs(5));
    sim
}

#[test]
fn a_3_3_partition_for_30_s_converges_within_10_s_of_the_heal() {
    let mut sim = settled(61);
    let everyone_agrees = |s: &Sim| (1..N).all(|i| state(s, i) == state(s, 0));
    assert!(everyone_agrees(&sim), "agreed before the cut");

    sim.partition = Some((0..N).map(|i| i >= 3).collect());
    let cut_at = sim.elapsed();
    // Side A (0, 1, 2): the founder sets the topic, bans an outsider, silences node 4.
    sim.run_for(Duration::from_secs(2));
    sim.with_node(1, |node, now, g| node.set_topic(now, g, "from side A"))
        .unwrap();
    moderate(&mut sim, 0, Moderation::Ban(PublicKey([0xA1; 32])));
    let four = key(&sim, 4);
    moderate(&mut sim, 0, Moderation::SetRole(four, Role::Observer));
    // Side B (3, 4, 5): the moderator bans another outsider; a later topic from node 5.
    moderate(&mut sim, 3, Moderation::Ban(PublicKey([0xB2; 32])));
    sim.run_for(Duration::from_secs(3));
    sim.with_node(5, |node, now, g| node.set_topic(now, g, "from side B"))
        .unwrap();
    // Node 4 is not among the speakers: side A silences it, so A drops what it said.
    let mut early = Vec::new();
    let mut late = Vec::new();
    while sim.elapsed() < cut_at + CUT {
        let k = early.len() + late.len();
        let from = [1, 5, 2, 3][k % 4];
        let text = (from, format!("cut {k}"));
        chat(&mut sim, from, &text.1);
        // Within 2 s of the heal, inside the repair window (PROTOCOL.md §6.11).
        let near_heal = sim.elapsed() + Duration::from_secs(2) >= cut_at + CUT;
        if near_heal { &mut late } else { &mut early }.push(text);
        sim.run_for(Duration::from_millis(700));
    }
    assert!(!everyone_agrees(&sim), "the sides differ while cut off");

    sim.partition = None;
    let healed_at = sim.elapsed();
    // Node 4 is an observer now (side A silenced it): it may not speak.
    let after: Vec<(usize, String)> = [0, 1, 2, 3, 5]
        .into_iter()
        .map(|k| (k, format!("healed {k}")))
        .collect();
    for (from, text) in &after {
        chat(&mut sim, *from, text);
        sim.run_for(Duration::from_millis(200));
    }
    // Everything: what was said long before the heal comes by the heal fetch (§6.13).
    let wanted: Vec<&(usize, String)> = early.iter().chain(&late).chain(&after).collect();
    let has_all = |s: &Sim, i: usize, of: &[&(usize, String)]| {
        let got = texts(s, i);
        (of.iter()).all(|(from, t)| *from == i || got.contains_key(t.as_bytes()))
    };
    let converged = |s: &Sim| everyone_agrees(s) && (0..N).all(|i| has_all(s, i, &wanted));
    let ok = sim.drive_until(CONVERGE - (sim.elapsed() - healed_at), converged);
    let took = sim.elapsed() - healed_at;
    for i in 0..N {
        let got = texts(&sim, i);
        let lacks: Vec<&String> = (wanted.iter())
            .filter(|(from, t)| *from != i && !got.contains_key(t.as_bytes()))
            .map(|(_, t)| t)
            .collect();
        println!(
            "node {i}: agrees {}, lacks {lacks:?}",
            state(&sim, i) == state(&sim, 0)
        );
    }
    assert!(ok, "converged within {CONVERGE:?} of the heal");
    println!("converged {took:?} after the heal");

    let (topic, roles, bans) = state(&sim, 0);
    assert!(topic.is_some_and(|t| t.starts_with("from side")));
    assert_eq!(roles.get(&key(&sim, 3)), Some(&Role::Moderator));
    assert_eq!(roles.get(&key(&sim, 4)), Some(&Role::Observer));
    let both: BTreeSet<PublicKey> = [PublicKey([0xA1; 32]), PublicKey([0xB2; 32])].into();
    assert_eq!(bans, both, "both sides' bans");
    sim.run_for(Duration::from_secs(5));
    for i in 0..N {
        let got = texts(&sim, i);
        assert!(got.values().all(|&c| c == 1), "node {i}: no duplicates");
    }
    let heals: u64 = (0..N)
        .map(|i| sim.nodes[i].node.stats().history.heals)
        .sum();
    println!(
        "{} messages said while cut off more than 2 s before the heal, all delivered; {heals} \
         heal fetches",
        early.len()
    );
}
