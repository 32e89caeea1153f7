//! The demo's nodes: starting N drivers, forming the group, waiting for convergence,
//! publishing, waiting for deliveries, and shutting down.
//!
//! `dhtchat bench` ([`crate::cli::bench`]) reuses the node machinery: [`start_nodes_with`]
//! takes the task that consumes each node's events, and [`form_group`], [`wait_converged`],
//! [`traffic`] and [`shutdown`] work whatever that task returns.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::{DemoError, Options, POLL, QUERY_TIMEOUT};
use crate::net::{Driver, DriverError, DriverOptions, DriverStats, Handle, NodeEvent, now};
use crate::proto::{Config, Event, GroupId, GroupSpec, JoinString};
use crate::wire::PublicKey;

/// One started node; `C` is what its event collector returns when the events end.
#[derive(Debug)]
pub(crate) struct DemoNode<C = Vec<Received>> {
    pub(crate) handle: Handle,
    pub(crate) driver: JoinHandle<DriverStats>,
    pub(crate) collector: JoinHandle<C>,
    /// Set once the node has created or joined the group.
    pub(crate) member: Option<Member>,
}

/// A node's place in the group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) group: GroupId,
    pub(crate) key: PublicKey,
    pub(crate) join: JoinString,
}

/// A message as its publisher sent it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    pub(super) node: usize,
    pub(super) origin: PublicKey,
    pub(super) number: u32,
    pub(super) at: Instant,
}

/// A `MessageReceived` as a driver stamped it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub(crate) origin: PublicKey,
    pub(crate) number: u32,
    pub(crate) at: Instant,
}

/// What the phases measured before the shutdown.
#[derive(Debug)]
pub(super) struct Phases {
    pub(super) convergence: Convergence,
    pub(super) sent: Vec<Sent>,
    pub(super) send_failures: usize,
    pub(super) before_publish: (u64, u64),
    pub(super) after_publish: (u64, u64),
}

/// The group's state when the convergence wait ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Convergence {
    pub(crate) converged: bool,
    pub(crate) after: Duration,
    pub(crate) joined: usize,
    pub(crate) table: (usize, f64, usize),
}

/// Node `i`'s own IP: 127.0.0.2 onwards, 250 per third octet.
pub(crate) fn demo_ip(i: usize) -> Ipv4Addr {
    // i < MAX_NODES = 2000, so both octets fit: i / 250 ≤ 7 and 2 + i % 250 ≤ 251.
    Ipv4Addr::new(127, 0, (i / 250) as u8, (2 + i % 250) as u8)
}

/// Binds and spawns `n` drivers and their event collectors (each keeping at most `cap`).
pub(super) async fn start_nodes(
    n: usize,
    cap: usize,
    deliveries: &Arc<AtomicU64>,
) -> Result<Vec<DemoNode>, DemoError> {
    start_nodes_with(
        n,
        |_| {},
        |_, events| tokio::spawn(collect(events, Arc::clone(deliveries), cap)),
    )
    .await
}

/// Binds and spawns `n` drivers on [`demo_ip`]s, each with the default [`Config`] changed
/// by `configure`; `collector(i, events)` spawns the task that consumes node `i`'s events.
pub(crate) async fn start_nodes_with<C>(
    n: usize,
    configure: impl Fn(&mut Config),
    mut collector: impl FnMut(usize, mpsc::Receiver<NodeEvent>) -> JoinHandle<C>,
) -> Result<Vec<DemoNode<C>>, DemoError> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let addr = SocketAddr::from((demo_ip(i), 0));
        let bind = |source| DemoError::Bind { addr, source };
        let mut config = Config::new(crate::net::os_seed().map_err(|e| bind(e.into()))?);
        configure(&mut config);
        let (driver, handle, events) = Driver::bind(addr, config, &DriverOptions::default())
            .await
            .map_err(bind)?;
        nodes.push(DemoNode {
            handle,
            driver: tokio::spawn(driver.run()),
            collector: collector(i, events),
            member: None,
        });
    }
    Ok(nodes)
}

/// Keeps a node's `MessageReceived` events (at most `cap`) and counts them in `count`.
async fn collect(
    mut events: mpsc::Receiver<NodeEvent>,
    count: Arc<AtomicU64>,
    cap: usize,
) -> Vec<Received> {
    let mut got = Vec::new();
    while let Some(e) = events.recv().await {
        if let Event::MessageReceived { origin, number, .. } = e.event {
            count.fetch_add(1, Ordering::Relaxed);
            if got.len() < cap {
                got.push(Received {
                    origin,
                    number,
                    at: e.at,
                });
            }
        }
    }
    got
}

pub(super) async fn phases(
    options: &Options,
    nodes: &mut [DemoNode],
    deliveries: &AtomicU64,
    progress: &mut dyn FnMut(&str),
) -> Result<Phases, DemoError> {
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    let created = form_group(options.stagger, nodes, &mut rng, progress).await?;
    let convergence = wait_converged(nodes, created, options.converge_timeout).await;
    progress(&convergence_line(&convergence, nodes.len()));
    let before_publish = traffic(nodes).await;
    let publishers = options.publishers.min(nodes.len());
    progress(&format!(
        "sending {} messages from {publishers} publishers",
        options.messages
    ));
    let chosen = sample(&mut rng, nodes.len(), publishers).into_vec();
    let (sent, send_failures) = publish(options, nodes, &chosen).await;
    let expected = sent.len() as u64 * (nodes.len() as u64 - 1);
    let waited = wait_delivered(deliveries, expected, options.deliver_timeout).await;
    progress(&format!(
        "{} of {expected} deliveries {} s after the last send",
        deliveries.load(Ordering::Relaxed).min(expected),
        format_args!("{:.2}", waited.as_secs_f64())
    ));
    let after_publish = traffic(nodes).await;
    Ok(Phases {
        convergence,
        sent,
        send_failures,
        before_publish,
        after_publish,
    })
}

/// The progress line that reports [`wait_converged`]'s outcome.
pub(crate) fn convergence_line(c: &Convergence, n: usize) -> String {
    let (min, mean, max) = c.table;
    let verdict = if c.converged {
        "converged"
    } else {
        "not converged (publishing anyway)"
    };
    format!(
        "{verdict} in {:.2} s: {}/{n} joined, DHT tables {min}..{max} entries (mean {mean:.1})",
        c.after.as_secs_f64(),
        c.joined
    )
}

/// Node 0 creates the group, then node i joins through a random earlier node, `stagger`
/// after node i − 1. Returns when the group was created.
pub(crate) async fn form_group<C>(
    stagger: Duration,
    nodes: &mut [DemoNode<C>],
    rng: &mut ChaCha20Rng,
    progress: &mut dyn FnMut(&str),
) -> Result<Instant, DemoError> {
    let created = now();
    let group = ask(0, nodes[0].handle.create_group(GroupSpec::default())).await?;
    nodes[0].member = Some(member(nodes, 0, group).await?);
    progress("node 0 created a secure group");
    let n = nodes.len();
    let report_every = n.div_ceil(4).max(1);
    for i in 1..n {
        tokio::time::sleep(stagger).await;
        let via = rng.random_range(0..i);
        let join = nodes[via].member.map(|m| m.join).ok_or(DemoError::Node {
            index: via,
            source: DriverError::Stopped,
        })?;
        let group = ask(i, nodes[i].handle.join_group(join, GroupSpec::default())).await?;
        nodes[i].member = Some(member(nodes, i, group).await?);
        if i % report_every == 0 || i + 1 == n {
            progress(&format!("joining {}/{n}", i + 1));
        }
    }
    Ok(created)
}

/// Attributes a driver error to node `index`.
async fn ask<T>(
    index: usize,
    request: impl Future<Output = Result<T, DriverError>>,
) -> Result<T, DemoError> {
    request
        .await
        .map_err(|source| DemoError::Node { index, source })
}

async fn member<C>(nodes: &[DemoNode<C>], i: usize, group: GroupId) -> Result<Member, DemoError> {
    let snapshot = ask(i, nodes[i].handle.group(group))
        .await?
        .ok_or(DemoError::Node {
            index: i,
            source: DriverError::Stopped,
        })?;
    Ok(Member {
        group,
        key: snapshot.info.own_key,
        join: snapshot.join,
    })
}

/// Polls every node until all have joined with a full close set (6 entries, or N − 1 in a
/// smaller group), or until `timeout` after `created`.
pub(crate) async fn wait_converged<C>(
    nodes: &[DemoNode<C>],
    created: Instant,
    timeout: Duration,
) -> Convergence {
    let want = 6.min(nodes.len() - 1);
    let deadline = created + timeout;
    loop {
        let infos = ask_all(nodes, deadline, |handle, member| async move {
            handle.group(member.group).await
        })
        .await;
        let infos: Vec<_> = infos.iter().flatten().map(|s| &s.info).collect();
        let joined = infos.iter().filter(|i| i.joined).count();
        let tables: Vec<usize> = infos.iter().map(|i| i.table_len).collect();
        let at = now();
        let converged = joined == nodes.len() && tables.iter().all(|t| *t >= want);
        if converged || at >= deadline {
            let min = tables.iter().copied().min().unwrap_or(0);
            let max = tables.iter().copied().max().unwrap_or(0);
            let mean = tables.iter().sum::<usize>() as f64 / tables.len().max(1) as f64;
            return Convergence {
                converged,
                after: at.saturating_duration_since(created),
                joined,
                table: (min, mean, max),
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Datagrams and bytes sent so far by the nodes that answer within [`QUERY_TIMEOUT`].
pub(crate) async fn traffic<C>(nodes: &[DemoNode<C>]) -> (u64, u64) {
    let stats = ask_all(nodes, now() + QUERY_TIMEOUT, |handle, _| async move {
        handle.stats().await.map(Some)
    })
    .await;
    stats.iter().flatten().fold((0, 0), |(d, b), s| {
        (d + s.node.datagrams_out, b + s.node.bytes_out)
    })
}

/// Traffic by kind of the nodes that answer within [`QUERY_TIMEOUT`]: eager copies, lazy
/// announcements, repairs, and all datagrams (PROTOCOL.md §6.12).
pub(crate) async fn traffic_kinds<C>(nodes: &[DemoNode<C>]) -> [crate::proto::Traffic; 4] {
    let stats = ask_all(nodes, now() + QUERY_TIMEOUT, |handle, _| async move {
        handle.stats().await.map(Some)
    })
    .await;
    let mut sum = [crate::proto::Traffic::default(); 4];
    for n in stats.iter().flatten().map(|s| &s.node) {
        let all = crate::proto::Traffic {
            datagrams: n.datagrams_out,
            bytes: n.bytes_out,
        };
        for (slot, t) in sum.iter_mut().zip([n.eager, n.lazy, n.repair_traffic, all]) {
            slot.datagrams += t.datagrams;
            slot.bytes += t.bytes;
        }
    }
    sum
}

/// Asks every node in the group at once (`query` gets a clone of its handle); the answers
/// by index, `None` for a node that failed or did not answer by `deadline`. Asking all at
/// once keeps a busy group from making the demo wait N times over.
async fn ask_all<C, T, F, Fut>(nodes: &[DemoNode<C>], deadline: Instant, query: F) -> Vec<Option<T>>
where
    T: Send + 'static,
    F: Fn(Handle, Member) -> Fut,
    Fut: Future<Output = Result<Option<T>, DriverError>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for (i, node) in nodes.iter().enumerate() {
        if let Some(member) = node.member {
            let answer = query(node.handle.clone(), member);
            set.spawn(async move { (i, answer.await) });
        }
    }
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(nodes.len()).collect();
    let until = tokio::time::Instant::from_std(deadline);
    while let Ok(Some(done)) = tokio::time::timeout_at(until, set.join_next()).await {
        if let Ok((i, Ok(Some(answer)))) = done {
            out[i] = Some(answer);
        }
    }
    out
}

/// Sends the messages round robin from `publishers`, one every `send_gap`. Returns what was
/// sent and how many sends failed.
async fn publish(
    options: &Options,
    nodes: &[DemoNode],
    publishers: &[usize],
) -> (Vec<Sent>, usize) {
    let mut sent = Vec::with_capacity(options.messages);
    let mut failures = 0;
    let mut next = now();
    for k in 0..options.messages {
        let p = publishers[k % publishers.len()];
        let Some(m) = nodes[p].member else {
            failures += 1;
            continue;
        };
        let at = now();
        let text = format!("demo message {k} from node {p}");
        match nodes[p].handle.send_chat(m.group, text).await {
            Ok(number) => sent.push(Sent {
                node: p,
                origin: m.key,
                number,
                at,
            }),
            Err(e) => {
                tracing::warn!(node = p, error = %e, "send failed");
                failures += 1;
            }
        }
        next += options.send_gap;
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
    (sent, failures)
}

/// Waits until `count` reaches `expected` or `timeout` passes; returns the time waited.
async fn wait_delivered(count: &AtomicU64, expected: u64, timeout: Duration) -> Duration {
    let start = now();
    loop {
        let waited = now().saturating_duration_since(start);
        if count.load(Ordering::Relaxed) >= expected || waited >= timeout {
            return waited;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Quits every node (each leaves the group), then collects final counters and events. A
/// driver that does not stop within [`QUERY_TIMEOUT`] is aborted (its counters are lost).
pub(crate) async fn shutdown<C: Default>(nodes: Vec<DemoNode<C>>) -> (Vec<DriverStats>, Vec<C>) {
    let mut quits = JoinSet::new();
    for node in &nodes {
        let handle = node.handle.clone();
        quits.spawn(async move { handle.quit().await });
    }
    let deadline = tokio::time::Instant::from_std(now() + QUERY_TIMEOUT);
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, quits.join_next()).await {}
    let mut finals = Vec::with_capacity(nodes.len());
    let mut received = Vec::with_capacity(nodes.len());
    for mut node in nodes {
        drop(node.handle);
        let stats = match tokio::time::timeout_at(deadline, &mut node.driver).await {
            Ok(stats) => stats.unwrap_or_default(),
            Err(_) => {
                node.driver.abort();
                DriverStats::default()
            }
        };
        finals.push(stats);
        received.push(node.collector.await.unwrap_or_default());
    }
    (finals, received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::demo::MAX_NODES;

    #[test]
    fn ips_are_distinct_loopback_addresses() {
        assert_eq!(demo_ip(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(demo_ip(249), Ipv4Addr::new(127, 0, 0, 251));
        assert_eq!(demo_ip(250), Ipv4Addr::new(127, 0, 1, 2));
        assert_eq!(
            demo_ip(MAX_NODES as usize - 1),
            Ipv4Addr::new(127, 0, 7, 251)
        );
        let all: std::collections::HashSet<_> = (0..MAX_NODES as usize).map(demo_ip).collect();
        assert_eq!(all.len(), MAX_NODES as usize);
    }
}
