//! [`Summary`]: what the demo measured, computed from the publishers' send times, the
//! receivers' stamped events and the drivers' final counters, and how it prints.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::time::{Duration, Instant};

use super::Options;
use super::nodes::{Phases, Received, Sent};
use crate::net::{DriverStats, now};
use crate::proto::DropReason;
use crate::wire::PublicKey;

/// What the demo measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Nodes started.
    pub nodes: usize,
    /// Nodes that had joined when publishing started.
    pub joined: usize,
    /// Whether every node joined with a full close set within the bounded wait.
    pub converged: bool,
    /// From the group's creation until convergence (or the end of the wait).
    pub convergence: Duration,
    /// Smallest, mean and largest DHT table at that point.
    pub table: (usize, f64, usize),
    /// Messages sent (numbers spent).
    pub messages: usize,
    /// Sends the node refused.
    pub send_failures: usize,
    /// Deliveries expected: messages × (nodes − 1).
    pub expected: u64,
    /// (message, receiver) pairs delivered at least once.
    pub delivered: u64,
    /// Deliveries beyond the first of a (message, receiver) pair.
    pub duplicates: u64,
    /// Latency from the send call to a receiver's event: p50, p99, max.
    pub latency: Option<(Duration, Duration, Duration)>,
    /// Datagrams and bytes sent by all nodes during the whole run.
    pub traffic: (u64, u64),
    /// Datagrams and bytes sent by all nodes while the messages were published and relayed.
    pub publish_traffic: (u64, u64),
    /// Inbound drops of all nodes by reason (only non-zero ones).
    pub drops: Vec<(&'static str, u64)>,
    /// Events the drivers dropped because a channel was full, and failed `send_to` calls.
    pub lost_locally: (u64, u64),
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Summary {
    /// Deliveries / (messages × (nodes − 1)); 0 when nothing was expected.
    pub fn delivery_ratio(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.delivered as f64 / self.expected as f64
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tmin, tmean, tmax) = self.table;
        writeln!(
            f,
            "summary: {} nodes in one process, each on its own loopback UDP socket",
            self.nodes
        )?;
        let state = if self.converged {
            "converged"
        } else {
            "NOT converged"
        };
        writeln!(
            f,
            "  convergence  {} in {:.2} s: {}/{} joined, DHT tables {tmin}..{tmax} entries (mean {tmean:.1})",
            state,
            self.convergence.as_secs_f64(),
            self.joined,
            self.nodes
        )?;
        writeln!(
            f,
            "  delivery     {:.2} % ({} of {} = {} messages x {} receivers), {} duplicates{}",
            self.delivery_ratio() * 100.0,
            self.delivered,
            self.expected,
            self.messages,
            self.nodes - 1,
            self.duplicates,
            match self.send_failures {
                0 => String::new(),
                n => format!(", {n} sends refused"),
            }
        )?;
        match self.latency {
            Some((p50, p99, max)) => writeln!(
                f,
                "  latency      p50 {}, p99 {}, max {} (send call to each receiver's event)",
                ms(p50),
                ms(p99),
                ms(max)
            )?,
            None => writeln!(f, "  latency      none measured")?,
        }
        let per_delivery = self.publish_traffic.0 as f64 / self.delivered.max(1) as f64;
        writeln!(
            f,
            "  traffic      {} datagrams, {} in all; publishing: {} datagrams, {} ({per_delivery:.2} datagrams per delivery)",
            self.traffic.0,
            bytes(self.traffic.1),
            self.publish_traffic.0,
            bytes(self.publish_traffic.1)
        )?;
        let drops: Vec<String> = self.drops.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let drops = if drops.is_empty() {
            "none".to_owned()
        } else {
            drops.join(", ")
        };
        writeln!(
            f,
            "  drops        {drops} (duplicate: relayed copies stopped by dedup; departed: after a quit)"
        )?;
        if self.lost_locally != (0, 0) {
            writeln!(
                f,
                "  local loss   {} events dropped, {} send errors",
                self.lost_locally.0, self.lost_locally.1
            )?;
        }
        writeln!(f, "  total time   {:.2} s", self.elapsed.as_secs_f64())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 10 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 10 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub(super) fn summarize(
    options: &Options,
    phases: &Phases,
    finals: &[DriverStats],
    received: &[Vec<Received>],
    started: Instant,
) -> Summary {
    let (delivered, duplicates, mut latencies) = tally(&phases.sent, received);
    latencies.sort_unstable();
    let c = &phases.convergence;
    Summary {
        nodes: options.nodes,
        joined: c.joined,
        converged: c.converged,
        convergence: c.after,
        table: c.table,
        messages: phases.sent.len(),
        send_failures: phases.send_failures,
        expected: phases.sent.len() as u64 * (options.nodes as u64 - 1),
        delivered,
        duplicates,
        latency: latency(&latencies),
        traffic: finals.iter().fold((0, 0), |(d, b), s| {
            (d + s.node.datagrams_out, b + s.node.bytes_out)
        }),
        publish_traffic: (
            phases
                .after_publish
                .0
                .saturating_sub(phases.before_publish.0),
            phases
                .after_publish
                .1
                .saturating_sub(phases.before_publish.1),
        ),
        drops: drops(finals),
        lost_locally: finals.iter().fold((0, 0), |(e, s), f| {
            (e + f.events_dropped, s + f.send_errors)
        }),
        elapsed: now().saturating_duration_since(started),
    }
}

/// Deliveries to nodes other than the publisher, duplicates, and each first delivery's
/// latency.
fn tally(sent: &[Sent], received: &[Vec<Received>]) -> (u64, u64, Vec<Duration>) {
    let by_id: HashMap<(PublicKey, u32), &Sent> =
        sent.iter().map(|s| ((s.origin, s.number), s)).collect();
    let (mut delivered, mut duplicates) = (0, 0);
    let mut latencies = Vec::new();
    for (node, events) in received.iter().enumerate() {
        let mut seen: HashMap<(PublicKey, u32), ()> = HashMap::new();
        for r in events {
            let Some(s) = by_id.get(&(r.origin, r.number)) else {
                continue;
            };
            if s.node == node {
                continue;
            }
            match seen.entry((r.origin, r.number)) {
                Entry::Vacant(v) => {
                    v.insert(());
                    delivered += 1;
                    latencies.push(r.at.saturating_duration_since(s.at));
                }
                Entry::Occupied(_) => duplicates += 1,
            }
        }
    }
    (delivered, duplicates, latencies)
}

/// p50, p99 and max (nearest rank) of sorted latencies.
fn latency(sorted: &[Duration]) -> Option<(Duration, Duration, Duration)> {
    let rank = |q: f64| {
        let i = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1);
        sorted.get(i.min(sorted.len().saturating_sub(1))).copied()
    };
    Some((rank(0.50)?, rank(0.99)?, *sorted.last()?))
}

/// Non-zero drop counters summed over all nodes, largest first.
fn drops(finals: &[DriverStats]) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = DropReason::ALL
        .iter()
        .map(|r| (r.name(), finals.iter().map(|f| f.node.dropped(*r)).sum()))
        .filter(|(_, n)| *n > 0)
        .collect();
    out.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(latency(&sorted), Some((ms(50), ms(99), ms(100))));
        assert_eq!(latency(&[ms(7)]), Some((ms(7), ms(7), ms(7))));
        assert_eq!(latency(&[]), None);
    }
}
