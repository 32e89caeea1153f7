//! `dhtchat demo`: N nodes in one process form a group over real loopback UDP, exchange
//! messages and print a short summary.
//!
//! Every node is a real [`Driver`](crate::net::Driver) with its own socket on its own loopback IP (127.0.0.2,
//! 127.0.0.3, …; 127.0.1.2, … past 250 nodes), because the DHT table keeps at most two
//! entries per IP. The run has five phases, each announced with one progress line:
//!
//! 1. start N drivers;
//! 2. node 0 creates a secure public group; node i joins through the join string of a random
//!    earlier node, a few milliseconds after node i − 1;
//! 3. wait (bounded) until every node has joined and has a full close set in its table;
//! 4. a few random publishers send the messages, round robin, at a fixed total rate; every
//!    driver reports its `MessageReceived` events, stamped by the driver;
//! 5. wait (bounded) for the deliveries, then every node leaves the group and stops.
//!
//! [`run_demo`] is the library entry (tests/demo_loopback.rs calls it); [`run`] is the
//! subcommand, which prints the progress lines and the [`Summary`].
//!
//! - `nodes`: starting the drivers and the phases above.
//! - `summary`: the [`Summary`] and how it is computed from the nodes' events.

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::net::{DriverError, now};

pub(crate) mod nodes;
mod summary;

pub use summary::Summary;

/// Most nodes one demo starts (one socket each).
pub const MAX_NODES: u32 = 2000;

/// How long the demo waits for the group to converge before it publishes anyway.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the demo waits for the last deliveries after the last message was sent.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the nodes' answers to a query (counters) and for them to quit.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the demo polls the nodes while it waits.
const POLL: Duration = Duration::from_millis(25);

/// Command line of `dhtchat demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Nodes to start, each with its own UDP socket on its own loopback IP
    #[arg(long, short = 'n', default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_NODES)))]
    pub nodes: u32,

    /// Chat messages to send in total
    #[arg(long, short = 'm', default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub messages: u32,

    /// Members that send them (round robin), chosen at random
    #[arg(long, short = 'p', default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_NODES)))]
    pub publishers: u32,

    /// Messages per second, all publishers together
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,

    /// Milliseconds between two joins
    #[arg(long, value_name = "MS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub stagger: u64,

    /// Seed of the demo's choices (who joins through whom, who publishes); random if absent
    #[arg(long)]
    pub seed: Option<u64>,
}

/// The demo's parameters, as a library caller gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Nodes, 2..=[`MAX_NODES`].
    pub nodes: usize,
    /// Messages to send in total.
    pub messages: usize,
    /// Publishers (capped at `nodes`).
    pub publishers: usize,
    /// Gap between two sends (all publishers together).
    pub send_gap: Duration,
    /// Gap between two joins.
    pub stagger: Duration,
    /// Longest wait for convergence before publishing anyway.
    pub converge_timeout: Duration,
    /// Longest wait for deliveries after the last send.
    pub deliver_timeout: Duration,
    /// Seed of the demo's own choices (not of the nodes' keys, which come from the OS).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 50,
            messages: 100,
            publishers: 5,
            send_gap: Duration::from_millis(20),
            stagger: Duration::from_millis(5),
            converge_timeout: CONVERGE_TIMEOUT,
            deliver_timeout: DELIVER_TIMEOUT,
            seed: 0,
        }
    }
}

impl Options {
    /// The options of a command line; a random seed unless `--seed` is given.
    pub fn from_args(args: &Args) -> io::Result<Self> {
        let seed = seed_or_random(args.seed)?;
        Ok(Self {
            nodes: args.nodes as usize,
            messages: args.messages as usize,
            publishers: args.publishers as usize,
            send_gap: Duration::from_secs(1) / args.rate.max(1),
            stagger: Duration::from_millis(args.stagger),
            seed,
            ..Self::default()
        })
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A node's socket could not be bound.
    #[error(
        "cannot bind {addr}: {source} (the demo gives every node its own IP in 127.0.0.0/8, \
         which Linux routes to loopback)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        source: DriverError,
    },
    /// A driver stopped or refused a command.
    #[error("node {index}: {source}")]
    Node {
        /// The node's index.
        index: usize,
        /// What went wrong.
        source: DriverError,
    },
    /// The options are out of range.
    #[error("bad options: {0}")]
    Options(&'static str),
    /// Ctrl-C: the nodes left the group and stopped.
    #[error("interrupted")]
    Interrupted,
    /// The runtime could not start, or output failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

/// Runs `dhtchat demo`: prints a progress line per phase, then the summary. Ctrl-C stops
/// the run early: the nodes still leave the group, and it is not an error.
pub fn run(args: &Args) -> Result<(), DemoError> {
    init_tracing();
    let options = Options::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = io::stdout();
    let mut progress = |line: &str| {
        let _ = writeln!(out, "{line}");
    };
    let summary = match runtime.block_on(run_demo(&options, &mut progress, ctrl_c())) {
        Err(DemoError::Interrupted) => {
            let _ = writeln!(io::stdout(), "interrupted: every node has left the group");
            return Ok(());
        }
        other => other?,
    };
    let mut out = io::stdout().lock();
    write!(out, "{summary}")?;
    out.flush()?;
    Ok(())
}

/// `RUST_LOG` controls logging (to stderr); warnings only by default.
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

/// `--seed` if given, else a random one from the OS.
pub(crate) fn seed_or_random(given: Option<u64>) -> io::Result<u64> {
    match given {
        Some(s) => Ok(s),
        None => {
            let b = crate::net::os_seed()?;
            Ok(u64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ]))
        }
    }
}

/// Resolves on Ctrl-C; never if signals cannot be watched.
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs the demo: `progress` gets one line per phase; `interrupt` resolving stops the phases
/// early (the nodes still leave the group and stop) and gives [`DemoError::Interrupted`].
pub async fn run_demo(
    options: &Options,
    progress: &mut dyn FnMut(&str),
    interrupt: impl Future<Output = ()>,
) -> Result<Summary, DemoError> {
    check(options)?;
    let started = now();
    let deliveries = Arc::new(AtomicU64::new(0));
    progress(&format!(
        "starting {} nodes on {}..{}",
        options.nodes,
        nodes::demo_ip(0),
        nodes::demo_ip(options.nodes - 1)
    ));
    // Each node delivers a message once, so the demo's messages plus slack bound its events.
    let cap = options.messages.saturating_mul(2).saturating_add(1024);
    let mut nodes = nodes::start_nodes(options.nodes, cap, &deliveries).await?;
    let outcome = tokio::select! {
        r = nodes::phases(options, &mut nodes, &deliveries, progress) => r,
        () = interrupt => Err(DemoError::Interrupted),
    };
    progress("leaving the group");
    let (finals, received) = nodes::shutdown(nodes).await;
    let phases = outcome?;
    Ok(summary::summarize(
        options, &phases, &finals, &received, started,
    ))
}

fn check(options: &Options) -> Result<(), DemoError> {
    if !(2..=MAX_NODES as usize).contains(&options.nodes) {
        return Err(DemoError::Options("nodes must be 2..=2000"));
    }
    if options.messages == 0 || options.publishers == 0 {
        return Err(DemoError::Options(
            "messages and publishers must be positive",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_out_of_range_are_refused() {
        let bad = |o: Options| matches!(check(&o), Err(DemoError::Options(_)));
        assert!(bad(Options {
            nodes: 1,
            ..Options::default()
        }));
        assert!(bad(Options {
            nodes: 2001,
            ..Options::default()
        }));
        assert!(bad(Options {
            messages: 0,
            ..Options::default()
        }));
        assert!(check(&Options::default()).is_ok());
    }
}
