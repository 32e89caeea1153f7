//! `dhtchat bench`: N nodes in one process on loopback UDP under an open-loop chat load,
//! ending with one machine-readable line (benches/README.md, "Loopback load").
//!
//! The nodes are the demo's ([`crate::cli::demo`]): real [`Driver`](crate::net::Driver)s,
//! each with its own socket on its own loopback IP, forming one secure group. The run:
//!
//! 1. start N drivers; node 0 creates the group, the others join through random earlier
//!    members, 5 ms apart; wait (bounded) until all have joined with a full close set;
//! 2. warm up (`--warmup` seconds of an idle group), then pick `--publishers` random members;
//! 3. measure: a scheduler issues `--rate` messages per second in total, round robin over
//!    the publishers, at fixed instants whatever the deliveries do (open loop), for
//!    `--duration` seconds; every message is `--size` bytes and starts with its sequence
//!    number, so each receiver's `MessageReceived` is attributed to its publish call;
//! 4. drain: wait until every message reached every other node, at most `--drain` seconds;
//!    what has not arrived by then is lost;
//! 5. report: delivery ratio, latency percentiles, deliveries per second, process CPU per
//!    delivery and peak RSS ([`Report`]); then every node leaves and stops.
//!
//! Progress goes to stderr once per second; the [`Report`] line is the only stdout output.
//!
//! - `ledger`: the shared record of sends and deliveries, and the payload format.
//! - `load`: phases 1–4.
//! - `histogram`: the bounded latency histogram.
//! - `procfs`: CPU time and peak RSS from `/proc`.
//! - `reference`: the machine's speed (one Ed25519 check, one seal and open) at the run.
//! - `report`: the [`Report`] and its `BENCH` and JSON lines.

use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use super::demo::{DemoError, MAX_NODES, ctrl_c, init_tracing, nodes};
use crate::wire::MAX_SIGNED_PAYLOAD;

mod histogram;
mod ledger;
mod load;
mod procfs;
mod reference;
mod report;

pub use reference::Reference;
pub use report::{Latency, Report};

/// Most messages one run may send (`rate × duration`).
pub const MAX_MESSAGES: u64 = 1_000_000;
/// Most deliveries one run may expect (`rate × duration × (nodes − 1)`); this bounds the
/// receivers' duplicate bitsets to about 12 MiB in all.
pub const MAX_DELIVERIES: u64 = 100_000_000;
/// Largest `--rate`.
pub const MAX_RATE: u32 = 10_000;
/// Longest `--duration`, `--warmup` and `--drain`, in seconds.
pub const MAX_SECONDS: u32 = 3600;
/// Smallest `--size`: the sequence number that starts every message.
pub const MIN_SIZE: usize = ledger::SEQ_LEN;
/// Largest `--size`: the longest chat text a signed broadcast carries.
pub const MAX_SIZE: usize = MAX_SIGNED_PAYLOAD;
/// Largest `--history-messages` (the `/history keep` limit).
pub const MAX_HISTORY: usize = 100_000;

/// Command line of `dhtchat bench`. The ranges are checked by [`Options::check`], so a bad
/// value gives a one-line error.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Nodes to start, each with its own UDP socket on its own loopback IP (2..=2000)
    #[arg(long, short = 'n', default_value_t = 50)]
    pub nodes: u32,

    /// Messages per second, all publishers together (1..=10000)
    #[arg(long, default_value_t = 50)]
    pub rate: u32,

    /// Seconds of publishing (the measured window)
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub duration: u32,

    /// Payload bytes per message (8..=785): an 8-digit hex sequence number, then padding
    #[arg(long, value_name = "BYTES", default_value_t = 200)]
    pub size: usize,

    /// Members that publish (1..=nodes), chosen at random, round robin
    #[arg(long, short = 'p', default_value_t = 10)]
    pub publishers: u32,

    /// Seconds of an idle, converged group before measuring
    #[arg(long, value_name = "S", default_value_t = 2)]
    pub warmup: u32,

    /// Most seconds to wait for the last deliveries after the window
    #[arg(long, value_name = "S", default_value_t = 2)]
    pub drain: u32,

    /// Seed of the bench's choices (who joins through whom, who publishes); random if absent
    #[arg(long)]
    pub seed: Option<u64>,

    /// Relay along the eager tree (PROTOCOL.md §6.12): true or false; the node's default if
    /// absent
    #[arg(long, value_name = "BOOL")]
    pub eager_tree: Option<bool>,

    /// Messages each node keeps in its group history (PROTOCOL.md §6.13, 0..=100000); the
    /// node's default (1000) if absent. 0 keeps none: to measure what the rest of a node
    /// holds (benches/README.md, "Memory per node")
    #[arg(long, value_name = "N")]
    pub history_messages: Option<usize>,

    /// Print the result as one JSON object instead of the BENCH line
    #[arg(long)]
    pub json: bool,
}

/// The bench's parameters, as a library caller gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Nodes, 2..=[`MAX_NODES`].
    pub nodes: usize,
    /// Messages per second in total, 1..=[`MAX_RATE`].
    pub rate: u32,
    /// Seconds of publishing, 1..=[`MAX_SECONDS`].
    pub duration_s: u32,
    /// Payload bytes, [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub size: usize,
    /// Publishers, 1..=`nodes`.
    pub publishers: usize,
    /// Idle time between convergence and measuring.
    pub warmup: Duration,
    /// Longest wait for deliveries after the window.
    pub drain: Duration,
    /// Longest wait for the group to converge before measuring anyway.
    pub converge_timeout: Duration,
    /// Gap between two joins.
    pub stagger: Duration,
    /// Seed of the bench's own choices (not of the nodes' keys, which come from the OS).
    pub seed: u64,
    /// `Config::eager_tree` of every node; `None` keeps the default.
    pub eager_tree: Option<bool>,
    /// `Config::history.max_messages` of every node, at most [`MAX_HISTORY`]; `None` keeps
    /// the default.
    pub history_messages: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 50,
            rate: 50,
            duration_s: 20,
            size: 200,
            publishers: 10,
            warmup: Duration::from_secs(2),
            drain: Duration::from_secs(2),
            converge_timeout: Duration::from_secs(30),
            stagger: Duration::from_millis(5),
            seed: 0,
            eager_tree: None,
            history_messages: None,
        }
    }
}

impl Options {
    /// The options of a command line; a random seed unless `--seed` is given.
    pub fn from_args(args: &Args) -> io::Result<Self> {
        let seed = crate::cli::demo::seed_or_random(args.seed)?;
        Ok(Self {
            nodes: args.nodes as usize,
            rate: args.rate,
            duration_s: args.duration,
            size: args.size,
            publishers: args.publishers as usize,
            warmup: Duration::from_secs(args.warmup.into()),
            drain: Duration::from_secs(args.drain.into()),
            seed,
            eager_tree: args.eager_tree,
            history_messages: args.history_messages,
            ..Self::default()
        })
    }

    /// Messages the run sends: `rate × duration`.
    pub fn messages(&self) -> u64 {
        u64::from(self.rate) * u64::from(self.duration_s)
    }

    /// Checks every range; the error says which value is wrong and what would do.
    pub fn check(&self) -> Result<(), BenchError> {
        let bad = |m: String| Err(BenchError::Options(m));
        let n = self.nodes;
        if !(2..=MAX_NODES as usize).contains(&n) {
            return bad(format!("--nodes must be 2..={MAX_NODES}, got {n}"));
        }
        if !(1..=n).contains(&self.publishers) {
            let p = self.publishers;
            return bad(format!("--publishers must be 1..=nodes (1..={n}), got {p}"));
        }
        if !(1..=MAX_RATE).contains(&self.rate) {
            return bad(format!("--rate must be 1..={MAX_RATE}, got {}", self.rate));
        }
        let secs = |d: Duration| d.as_secs() <= u64::from(MAX_SECONDS);
        if !(1..=MAX_SECONDS).contains(&self.duration_s) || !secs(self.warmup) || !secs(self.drain)
        {
            return bad(format!(
                "--duration must be 1..={MAX_SECONDS} s, --warmup and --drain 0..={MAX_SECONDS} s"
            ));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return bad(format!(
                "--size must be {MIN_SIZE}..={MAX_SIZE} bytes (an 8-digit sequence number \
                 first; a signed chat text holds at most {MAX_SIZE}), got {}",
                self.size
            ));
        }
        if self.history_messages.is_some_and(|h| h > MAX_HISTORY) {
            return bad(format!("--history-messages must be 0..={MAX_HISTORY}"));
        }
        let deliveries = self.messages().saturating_mul(n as u64 - 1);
        if self.messages() > MAX_MESSAGES || deliveries > MAX_DELIVERIES {
            return bad(format!(
                "rate x duration must be at most {MAX_MESSAGES} messages and times (nodes - 1) \
                 at most {MAX_DELIVERIES} deliveries, got {} and {deliveries}",
                self.messages()
            ));
        }
        Ok(())
    }

    /// A warning when each publisher would send more than a node accepts from one origin
    /// (`Config::origin_rate`, a flood defence): relays drop the excess, so the run measures
    /// that limit, not the relay's capacity.
    pub fn origin_rate_warning(&self) -> Option<String> {
        let (burst, per_s) = crate::proto::Config::new([0; 32]).origin_rate;
        let each = f64::from(self.rate) / self.publishers as f64;
        let need = self.rate.div_ceil(per_s);
        let most = u64::from(per_s) * self.nodes as u64;
        let fix = match need as usize <= self.nodes {
            true => format!("give --publishers of at least {need}"),
            false => format!("{} nodes carry at most {most} msg/s", self.nodes),
        };
        (each > f64::from(per_s)).then(|| {
            format!(
                "warning: {each:.1} msg/s per publisher is above the {per_s}/s (burst {burst}) \
                 a node accepts from one origin: relays drop the excess; for capacity, {fix}"
            )
        })
    }
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An option is out of range.
    #[error("bad options: {0}")]
    Options(String),
    /// Starting the nodes or forming the group failed.
    #[error(transparent)]
    Nodes(#[from] DemoError),
    /// Ctrl-C: the nodes left the group and stopped; no result.
    #[error("interrupted")]
    Interrupted,
    /// The runtime could not start, or output failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

/// Runs `dhtchat bench`: progress lines on stderr, then the [`Report`] on stdout as a
/// `BENCH` line (or JSON with `--json`).
pub fn run(args: &Args) -> Result<(), BenchError> {
    let options = Options::from_args(args)?;
    options.check()?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut err = io::stderr();
    let mut progress = |line: &str| {
        let _ = writeln!(err, "{line}");
    };
    let report = runtime.block_on(run_bench(&options, &mut progress, ctrl_c()))?;
    let mut out = io::stdout().lock();
    match args.json {
        true => writeln!(out, "{}", report.json())?,
        false => writeln!(out, "{report}")?,
    }
    out.flush()?;
    Ok(())
}

/// Runs the bench: `progress` gets the phase and once-a-second lines; `interrupt` resolving
/// stops it early (the nodes still leave the group and stop) with
/// [`BenchError::Interrupted`].
pub async fn run_bench(
    options: &Options,
    progress: &mut dyn FnMut(&str),
    interrupt: impl Future<Output = ()>,
) -> Result<Report, BenchError> {
    options.check()?;
    progress(&format!(
        "starting {} nodes on {}..{}",
        options.nodes,
        nodes::demo_ip(0),
        nodes::demo_ip(options.nodes - 1)
    ));
    if let Some(warning) = options.origin_rate_warning() {
        progress(&warning);
    }
    // Before any node runs, so the figure is the machine's, not what the nodes leave of it
    // (on a blocking thread: it takes about 50 ms).
    let reference = tokio::task::spawn_blocking(Reference::measure)
        .await
        .ok()
        .flatten();
    let ledger = Arc::new(ledger::Ledger::default());
    let (tree, history) = (options.eager_tree, options.history_messages);
    if let Some(h) = history {
        progress(&format!("every node keeps at most {h} history messages"));
    }
    let configure = |c: &mut crate::proto::Config| {
        if let Some(on) = tree {
            c.eager_tree = on;
        }
        if let Some(h) = history {
            c.history.max_messages = h;
        }
    };
    let mut nodes = nodes::start_nodes_with(options.nodes, configure, |i, events| {
        tokio::spawn(ledger::collect(i, events, Arc::clone(&ledger)))
    })
    .await?;
    let outcome = tokio::select! {
        r = load::measure(options, &mut nodes, (&ledger, reference), progress) => r,
        () = interrupt => Err(BenchError::Interrupted),
    };
    progress("leaving the group");
    nodes::shutdown(nodes).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_s_load_and_pass_the_check() {
        let o = Options::default();
        assert_eq!((o.nodes, o.rate, o.duration_s, o.size), (50, 50, 20, 200));
        assert_eq!(o.publishers, 10);
        assert_eq!(o.messages(), 1000);
        assert!(o.check().is_ok());
    }

    #[test]
    fn a_rate_above_what_one_origin_may_send_is_warned_about() {
        // The default load: 5 msg/s per publisher, the origin limit itself.
        assert_eq!(Options::default().origin_rate_warning(), None);
        let over = Options {
            rate: 100,
            ..Options::default()
        };
        let w = over.origin_rate_warning().unwrap();
        assert!(
            w.contains("10.0 msg/s per publisher") && w.contains("at least 20"),
            "{w}"
        );
        assert!(!w.contains('\n'));
        let spread = Options {
            rate: 100,
            publishers: 20,
            ..Options::default()
        };
        assert_eq!(spread.origin_rate_warning(), None);
        let few = Options {
            nodes: 5,
            publishers: 5,
            rate: 100,
            ..Options::default()
        };
        let w = few.origin_rate_warning().unwrap();
        assert!(w.contains("5 nodes carry at most 25 msg/s"), "{w}");
    }

    #[test]
    fn out_of_range_options_are_refused_with_a_one_line_reason() {
        let d = Options::default;
        for o in [
            Options { nodes: 1, ..d() },
            Options { nodes: 2001, ..d() },
            Options {
                publishers: 0,
                ..d()
            },
            Options {
                publishers: 51,
                ..d()
            },
            Options { rate: 0, ..d() },
            Options {
                rate: 10_001,
                ..d()
            },
            Options {
                duration_s: 0,
                ..d()
            },
            Options { size: 7, ..d() },
            Options { size: 786, ..d() },
            Options {
                size: 100_000,
                ..d()
            },
            Options {
                drain: Duration::from_secs(3601),
                ..d()
            },
            Options {
                history_messages: Some(100_001),
                ..d()
            },
            Options {
                rate: 10_000,
                duration_s: 3600,
                ..d()
            },
            Options {
                nodes: 2000,
                rate: 1000,
                duration_s: 60,
                publishers: 10,
                ..d()
            },
        ] {
            match o.check() {
                Err(BenchError::Options(m)) => assert!(!m.contains('\n'), "{m}"),
                other => panic!("{o:?} gave {other:?}"),
            }
        }
        assert!(Options { size: 8, ..d() }.check().is_ok());
        assert!(Options { size: 785, ..d() }.check().is_ok());
        assert!(
            Options {
                publishers: 50,
                ..d()
            }
            .check()
            .is_ok()
        );
    }
}
