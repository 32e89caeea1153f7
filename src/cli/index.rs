//! `dhtchat index`: run the account/room index on its own UDP socket (PROTOCOL.md §8).
//!
//! SQLite in `--data-dir` by default (nothing to set up), or PostgreSQL with
//! `--database postgres://…`. At start one line goes to stdout, `index key=<hex> addr=<ip:port>`
//! (what clients need: `KEY@IP:PORT`); logs go to stderr (`RUST_LOG`, default `info`), with a
//! stats line every `--stats-interval` seconds. Ctrl-C or SIGTERM stops it after the queued
//! writes are committed. `--calibrate` only measures the Argon2id parameters a client on this
//! machine would choose, and exits.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::index::client::calibrate;
use crate::index::driver::{IndexOptions, start};

/// Command line of `dhtchat index`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Directory of the SQLite database (`index.sqlite3`), created if missing; not needed
    /// with --database
    #[arg(long, value_name = "DIR", required_unless_present_any = ["calibrate", "database"])]
    pub data_dir: Option<PathBuf>,

    /// UDP address to listen on
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:33446")]
    pub bind: SocketAddr,

    /// PostgreSQL instead of SQLite: postgres://user:password@host/dbname
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// Only these rooms may be used (repeat the flag); default: any valid room name
    #[arg(long = "allow-room", value_name = "NAME")]
    pub allow_rooms: Vec<String>,

    /// Requests per second accepted from one IP address (burst: the same number); more are
    /// dropped
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub ip_rate: u32,

    /// Seconds between two stats lines in the log
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub stats_interval: u64,

    /// Measure the Argon2id parameters for about 1 s on this machine, print them and exit
    #[arg(long)]
    pub calibrate: bool,
}

/// Runs the index until Ctrl-C or SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.calibrate {
        let (params, took) = calibrate(Duration::from_secs(1)).context("calibration failed")?;
        println!(
            "calibrated m_kib={} t={} p={} hash_ms={}",
            params.m_kib,
            params.t,
            params.p,
            took.as_millis()
        );
        return Ok(());
    }
    init_tracing();
    for room in &args.allow_rooms {
        if let Some(why) = crate::index::names::room_name_problem(room) {
            anyhow::bail!("--allow-room {room:?}: {why}");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async_main(args))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn async_main(args: &Args) -> anyhow::Result<()> {
    let data_dir = match (&args.data_dir, &args.database) {
        (Some(dir), _) => dir.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => anyhow::bail!("--data-dir is required"),
    };
    let mut options = IndexOptions::new(args.bind, data_dir);
    options.database.clone_from(&args.database);
    options.ip_rate = Some((args.ip_rate, Duration::from_secs(1) / args.ip_rate.max(1)));
    options.stats_interval = Some(Duration::from_secs(args.stats_interval.max(1)));
    if !args.allow_rooms.is_empty() {
        options.allowed_rooms = Some(args.allow_rooms.clone());
    }
    let running = start(&options).await.context("cannot start the index")?;
    println!(
        "index key={} addr={}",
        hex::encode(running.key.0),
        running.addr
    );
    std::io::stdout().flush().context("stdout")?;
    let why = stop_signal().await;
    tracing::info!(signal = why, "stopping");
    let stats = running.stop().await;
    tracing::info!(
        replies = stats.replies,
        logins = stats.logins,
        login_failures = stats.login_failures,
        drops = ?stats.drops,
        "index stopped"
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "interrupt",
                _ = term.recv() => return "terminate",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupt"
}
