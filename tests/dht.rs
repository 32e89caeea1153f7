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
    let thin: Vec<_> = lens.iter().enumerate().filter(|(_, l)| **l < close_size).collect();
    assert!(thin.is_empty(), "nodes below {close_size} live entries: {thin:?}");
    for (i, n) in sim.nodes.iter().enumerate() {
        let joined = n.events.iter().any(|(_, _, e)| matches!(e, Event::Joined { .. }));
        assert!(i == 0 || joined, "node {i} never joined");
    }
    let min = lens.iter().min().unwrap();
    let max = lens.iter().max().unwrap();
    let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    println!("table sizes: min {min} mean {mean:.1} max {max}; {:?}", sim.counters);
}
