//! DHT scenarios on the simulator: convergence of a 200-node group and a partition that heals.

mod sim;

use std::time::Duration;

use dhtchat::proto::{Event, GroupSpec};
use sim::{LinkModel, Sim, build_group};

fn table_lens(sim: &Sim) -> Vec<usize> {
    sim.nodes
        .iter()
        .map(|n| n.node.table(n.group.unwrap()).len())
        .collect()
}

#[test]
fn two_hundred_nodes_converge_within_60_virtual_seconds() {
    let mut sim = Sim::new(1, LinkModel::default());
    let spec = GroupSpec::default();
    build_group(&mut sim, 200, &spec, Duration::from_millis(100), |_| {});
    sim.run_until(Duration::from_secs(60));
    let lens = table_lens(&sim);
    let close_size = sim.config(0).close_size;
    let thin: Vec<_> = lens
        .iter()
        .enumerate()
        .filter(|(_, l)| **l < close_size)
        .collect();
    assert!(
        thin.is_empty(),
        "nodes below {close_size} live entries: {thin:?}"
    );
    for (i, n) in sim.nodes.iter().enumerate() {
        let joined = n
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::Joined { .. }));
        assert!(i == 0 || joined, "node {i} never joined");
    }
    let min = lens.iter().min().unwrap();
    let max = lens.iter().max().unwrap();
    let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    println!(
        "table sizes: min {min} mean {mean:.1} max {max}; {:?}",
        sim.counters
    );
}

/// Sends one chat from node `from`; returns (origin, number).
fn chat(sim: &mut Sim, from: usize, text: &str) -> (dhtchat::wire::PublicKey, u32) {
    sim.with_node(from, |node, now, g| {
        let n = node.send_chat(now, g, text.as_bytes()).unwrap();
        (node.group_info(g).unwrap().own_key, n)
    })
}

/// Nodes (other than the sender) that delivered (origin, number).
fn receivers(sim: &Sim, msg: (dhtchat::wire::PublicKey, u32)) -> Vec<usize> {
    sim.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            n.events.iter().any(|(_, _, e)| {
                matches!(e, Event::MessageReceived { origin, number, .. } if (*origin, *number) == msg)
            })
        })
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_50_50_partition_keeps_both_halves_chatting_and_heals() {
    let n = 100;
    let mut sim = Sim::new(5, LinkModel::default());
    build_group(
        &mut sim,
        n,
        &GroupSpec::default(),
        Duration::from_millis(100),
        |_| {},
    );
    sim.run_until(Duration::from_secs(40));
    let side: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
    sim.partition = Some(side.clone());
    let half = |s: bool| (0..n).filter(|i| side[*i] == s).collect::<Vec<_>>();
    for t in 0..6 {
        sim.run_for(Duration::from_secs(10));
        for s in [false, true] {
            let from = half(s)[t * 7 % (n / 2)];
            let msg = chat(&mut sim, from, "during the partition");
            sim.run_for(Duration::from_secs(2));
            let mut want = half(s);
            want.retain(|i| *i != from);
            assert_eq!(
                receivers(&sim, msg),
                want,
                "side {s} at {:?}",
                sim.elapsed()
            );
        }
    }
    sim.partition = None;
    let merged = sim.drive_until(Duration::from_secs(60), |sim| {
        sim.nodes.iter().enumerate().all(|(i, node)| {
            let table = node.node.table(node.group.unwrap());
            table.iter().any(|e| {
                sim.nodes
                    .iter()
                    .position(|m| m.addr == e.addr)
                    .is_some_and(|j| side[j] != side[i])
            })
        })
    });
    println!("healed after {:?}", sim.elapsed());
    assert!(
        merged,
        "every table holds a peer from the other half after healing"
    );
    for from in [0, 1, 42, 77] {
        let msg = chat(&mut sim, from, "after healing");
        sim.run_for(Duration::from_secs(3));
        let mut all: Vec<usize> = (0..n).collect();
        all.retain(|i| *i != from);
        assert_eq!(
            receivers(&sim, msg),
            all,
            "message from {from} after healing"
        );
    }
}

/// Everything observable about a run: events with their virtual times, tables, counters.
fn fingerprint(seed: u64) -> Vec<String> {
    let link = LinkModel {
        jitter: Duration::from_millis(20),
        loss: 0.05,
        duplicate: 0.01,
        ..LinkModel::default()
    };
    let mut sim = Sim::new(seed, link);
    build_group(
        &mut sim,
        30,
        &GroupSpec::default(),
        Duration::from_millis(50),
        |_| {},
    );
    sim.run_until(Duration::from_secs(20));
    chat(&mut sim, 7, "determinism");
    sim.run_for(Duration::from_secs(5));
    sim.nodes
        .iter()
        .map(|n| {
            let g = n.group.unwrap();
            format!("{:?} {:?} {:?}", n.events, n.node.table(g), n.node.stats())
        })
        .collect()
}

#[test]
fn the_simulator_is_deterministic_for_a_seed() {
    let a = fingerprint(9);
    assert_eq!(a, fingerprint(9));
    assert_ne!(a, fingerprint(10));
}
