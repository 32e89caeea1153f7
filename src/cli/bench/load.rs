//! The bench's phases on started nodes: form the group, warm up, publish open loop for the
//! window, drain, and turn the [`Ledger`] and counters into a [`Report`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha20Rng;
use tokio::task::JoinSet;

use super::ledger::{Ledger, payload};
use super::reference::Reference;
use super::report::{Kinds, Latency, Report};
use super::{BenchError, Options, procfs};
use crate::cli::demo::nodes::{self, DemoNode};
use crate::net::{DriverError, now};

/// How often a progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often the drain checks the deliveries.
const DRAIN_POLL: Duration = Duration::from_millis(5);
/// What the scheduler saw, and the publish calls still in flight.
#[derive(Debug, Default)]
struct Schedule {
    failures: u64,
    max_lag: Duration,
    sends: JoinSet<Result<u32, DriverError>>,
}

impl Schedule {
    /// Counts the publish calls that have finished (a refusal is a failure).
    fn reap(&mut self) {
        while let Some(done) = self.sends.try_join_next() {
            self.failures += u64::from(!matches!(done, Ok(Ok(_))));
        }
    }
}

/// Prints a progress line at most once per [`PROGRESS_EVERY`].
struct Ticker<'a> {
    start: Instant,
    next: Instant,
    receivers: u64,
    progress: &'a mut dyn FnMut(&str),
}

impl Ticker<'_> {
    fn tick(&mut self, ledger: &Ledger, phase: &str) {
        let at = now();
        if at < self.next {
            return;
        }
        self.next = at + PROGRESS_EVERY;
        let (sent, delivered) = ledger.progress();
        let p99 = match ledger.quantile(0.99) {
            Some(d) => format!("{:.3} ms", d.as_secs_f64() * 1e3),
            None => "-".to_owned(),
        };
        (self.progress)(&format!(
            "[{phase} {:5.1} s] sent {sent}, delivered {delivered} of {}, p99 {p99}",
            at.saturating_duration_since(self.start).as_secs_f64(),
            sent * self.receivers
        ));
    }
}

/// Phases 1–4 of the module docs on `nodes` (started, not yet in a group).
pub(super) async fn measure(
    options: &Options,
    nodes: &mut [DemoNode<()>],
    (ledger, reference): (&Arc<Ledger>, Option<Reference>),
    progress: &mut dyn FnMut(&str),
) -> Result<Report, BenchError> {
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    nodes::form_group(options.stagger, nodes, &mut rng, progress).await?;
    // The bounded wait starts after the last join (not at the group's creation, as in the
    // demo), so a slow join phase on a busy machine does not eat it.
    let convergence = nodes::wait_converged(nodes, now(), options.converge_timeout).await;
    progress(&nodes::convergence_line(&convergence, nodes.len()));
    if !options.warmup.is_zero() {
        progress(&format!("warming up {} s", options.warmup.as_secs_f64()));
        tokio::time::sleep(options.warmup).await;
    }
    let publishers = sample(&mut rng, nodes.len(), options.publishers).into_vec();
    progress(&format!(
        "publishing {} msg/s of {} B from {} publishers for {} s",
        options.rate, options.size, options.publishers, options.duration_s
    ));
    let before = nodes::traffic_kinds(nodes).await;
    let cpu_before = procfs::cpu_time();
    let start = now();
    let mut ticker = Ticker {
        start,
        next: start + PROGRESS_EVERY,
        receivers: nodes.len() as u64 - 1,
        progress,
    };
    let mut schedule = publish(options, nodes, &publishers, ledger, start, &mut ticker).await;
    drain(options, ledger, &mut schedule, &mut ticker).await;
    // The cut: what has not been delivered now is lost.
    let cpu = cpu_before
        .zip(procfs::cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    let s = ledger.snapshot();
    // An overloaded group answers the counter query late, and deliveries go on meanwhile:
    // the datagrams are divided by the deliveries counted when the answers are in.
    let after = nodes::traffic_kinds(nodes).await;
    let (_, traffic_deliveries) = ledger.progress();
    let latency = s.latency.max().and_then(|max| {
        Some(Latency {
            p50: s.latency.quantile(0.50)?,
            p90: s.latency.quantile(0.90)?,
            p99: s.latency.quantile(0.99)?,
            max,
        })
    });
    let defaults = crate::proto::Config::new([0; 32]);
    Ok(Report {
        nodes: nodes.len(),
        publishers: publishers.len(),
        rate: options.rate,
        size: options.size,
        duration_s: options.duration_s,
        sent: s.sent,
        send_failures: schedule.failures,
        expected: s.sent * (nodes.len() as u64 - 1),
        delivered: s.delivered,
        duplicates: s.duplicates,
        latency,
        cpu,
        peak_rss: procfs::peak_rss(),
        datagrams: after[3].datagrams.saturating_sub(before[3].datagrams),
        kinds: Kinds::between(&before, &after),
        traffic_deliveries,
        max_send_lag: schedule.max_lag,
        converged: convergence.converged,
        seed: options.seed,
        eager_tree: options.eager_tree.unwrap_or(defaults.eager_tree),
        history_messages: (options.history_messages).unwrap_or(defaults.history.max_messages),
        reference,
    })
}

/// The open-loop scheduler: message k is issued at `start + k / rate`, round robin over
/// `publishers`, whatever happened to the earlier ones. Each publish call runs on its own
/// task, so a slow driver delays only its own message, never the schedule. The calls still
/// in flight at the end are left to [`drain`].
async fn publish(
    options: &Options,
    nodes: &[DemoNode<()>],
    publishers: &[usize],
    ledger: &Ledger,
    start: Instant,
    ticker: &mut Ticker<'_>,
) -> Schedule {
    let mut out = Schedule::default();
    for k in 0..options.messages() {
        let due = start + due_after(k, options.rate);
        tokio::time::sleep_until(due.into()).await;
        let p = publishers[(k % publishers.len() as u64) as usize];
        let at = now();
        out.max_lag = out.max_lag.max(at.saturating_duration_since(due));
        let seq = ledger.publish(p, at);
        match nodes[p].member {
            Some(m) => {
                let handle = nodes[p].handle.clone();
                let text = payload(seq, options.size);
                out.sends
                    .spawn(async move { handle.send_chat(m.group, text).await });
            }
            None => out.failures += 1,
        }
        out.reap();
        ticker.tick(ledger, "publish");
    }
    out
}

/// When message `k` is due, counted from the window's start.
fn due_after(k: u64, rate: u32) -> Duration {
    let nanos = u128::from(k) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Waits until every message reached every node but its publisher, or `options.drain`.
/// A publish call that the publisher's driver has not answered by then counts as failed.
async fn drain(
    options: &Options,
    ledger: &Ledger,
    schedule: &mut Schedule,
    ticker: &mut Ticker<'_>,
) {
    let start = now();
    loop {
        schedule.reap();
        let (sent, delivered) = ledger.progress();
        if delivered >= sent * ticker.receivers
            || now().saturating_duration_since(start) >= options.drain
        {
            schedule.failures += schedule.sends.len() as u64;
            schedule.sends.abort_all();
            return;
        }
        ticker.tick(ledger, "drain");
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_due_evenly_over_each_second() {
        assert_eq!(due_after(0, 50), Duration::ZERO);
        assert_eq!(due_after(1, 50), Duration::from_millis(20));
        assert_eq!(due_after(50, 50), Duration::from_secs(1));
        assert_eq!(due_after(999, 50), Duration::from_millis(19_980));
        assert_eq!(due_after(1, 3), Duration::from_nanos(333_333_333));
        assert_eq!(due_after(3, 3), Duration::from_secs(1));
    }
}
