//! `dhtchat index`: run the account/room index on its own UDP socket (PROTOCOL.md §8).
//!
//! SQLite in `--data-dir` by default (nothing to set up), or PostgreSQL: the URL from the
//! `DHTCHAT_DATABASE` environment variable, the first line of `--database-file PATH`, or the
//! `database` / `database_file` keys of the config file (`dhtchat.toml` in `--data-dir`, or
//! `--config PATH`), none of which `ps` shows (`--database URL` works too, with a warning when
//! the URL holds a password; so does a config file holding a password that others can read). The index's node, founder of the rooms' groups, listens on `--room-bind`
//! (default: the index's address, port + 1). At start one line goes to stdout,
//! `index key=<hex> addr=<ip:port> rooms=<ip:port>` (what clients need: `KEY@IP:PORT`); logs go to stderr (`RUST_LOG`, default `info`), with a
//! stats line every `--stats-interval` seconds. Ctrl-C or SIGTERM stops it after the queued
//! writes are committed. `--calibrate` only measures the Argon2id parameters a client on this
//! machine would choose, and exits.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::cli::config::{self, FileConfig};
use crate::index::client::calibrate;
use crate::index::driver::{IndexOptions, start};

/// Command line of `dhtchat index`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Directory of the SQLite database (`index.sqlite3`), created if missing; not needed
    /// with --database
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// UDP address to listen on
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:33446")]
    pub bind: SocketAddr,

    /// PostgreSQL instead of SQLite: postgres://user:password@host/dbname. Visible to
    /// every local user in `ps`: prefer DHTCHAT_DATABASE or --database-file
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// Read the PostgreSQL URL from the first line of this file (keep it mode 600)
    #[arg(long, value_name = "PATH", conflicts_with = "database")]
    pub database_file: Option<PathBuf>,

    /// Config file (docs/config.md; its `database` and `database_file` keys); default:
    /// dhtchat.toml in --data-dir, if there
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// UDP address of the index's node, founder of the rooms' groups; default: the
    /// --bind address with the next port (any free port when --bind has port 0)
    #[arg(long, value_name = "IP:PORT")]
    pub room_bind: Option<SocketAddr>,

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

/// The environment variable that may hold the PostgreSQL URL (not shown by `ps`).
pub const DATABASE_ENV: &str = "DHTCHAT_DATABASE";

/// The PostgreSQL URL, if any: `--database`, else the first line of `--database-file`, else
/// `DHTCHAT_DATABASE`. Warns on stderr when the command line's URL holds a password.
pub fn database_url(
    flag: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    if let Some(url) = flag {
        if url_has_password(url) {
            eprintln!(
                "warning: --database holds a password, which `ps` shows to every local user; \
                 put the URL in {DATABASE_ENV} or in a file named by --database-file"
            );
        }
        return Ok(Some(url.to_owned()));
    }
    if let Some(path) = file {
        return read_url_file(path, "--database-file").map(Some);
    }
    Ok(std::env::var(DATABASE_ENV)
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty()))
}

/// The index's database URL from every source, strongest first: `--database`,
/// `--database-file`, `DHTCHAT_DATABASE` ([`database_url`]), then the config file
/// (`explicit`, else `dhtchat.toml` in `data_dir`; [`config_database_url`]).
pub fn resolve_database(
    flag: Option<&str>,
    file: Option<&Path>,
    data_dir: Option<&Path>,
    explicit: Option<&Path>,
) -> anyhow::Result<Option<String>> {
    if let Some(url) = database_url(flag, file)? {
        return Ok(Some(url));
    }
    let path = match (explicit, data_dir) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(dir)) => dir.join(config::FILE_NAME),
        (None, None) => return Ok(None),
    };
    let dir = data_dir.unwrap_or_else(|| Path::new("."));
    match FileConfig::load(dir, explicit)? {
        Some(config) => config_database_url(&config, &path),
        None => Ok(None),
    }
}

/// The URL a config file names: its `database` key, or the first line of its
/// `database_file` (relative to the config file's directory); both at once is an error.
/// Warns on stderr when the file holds a password and users other than its owner can read it.
pub fn config_database_url(config: &FileConfig, path: &Path) -> anyhow::Result<Option<String>> {
    match (&config.database, &config.database_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "config file {}: give database or database_file, not both",
            path.display()
        ),
        (Some(url), None) => {
            if url_has_password(url) && readable_by_others(path) {
                eprintln!(
                    "warning: config file {} holds a database password and other users can \
                     read it; chmod 600 it, or use database_file or {DATABASE_ENV}",
                    path.display()
                );
            }
            Ok(Some(url.clone()))
        }
        (None, Some(file)) => {
            let file = path.parent().unwrap_or_else(|| Path::new(".")).join(file);
            read_url_file(&file, "database_file").map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// The first line of a URL file, which must not be empty; `what` names it in errors.
fn read_url_file(path: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let url = text.lines().next().unwrap_or_default().trim().to_owned();
    anyhow::ensure!(!url.is_empty(), "{} holds no database URL", path.display());
    Ok(url)
}

/// True if the file's mode lets its group or others read it (Unix; elsewhere false).
fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// True if a PostgreSQL URL or key=value connection string carries a password.
pub fn url_has_password(url: &str) -> bool {
    if url.contains("password=") {
        return true;
    }
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
}

/// The node's default address: the index's IP, the next port (any free port for port 0).
fn default_room_bind(bind: SocketAddr) -> SocketAddr {
    let port = match bind.port() {
        0 => 0,
        p => p.wrapping_add(1),
    };
    SocketAddr::new(bind.ip(), port)
}

async fn async_main(args: &Args) -> anyhow::Result<()> {
    let database = resolve_database(
        args.database.as_deref(),
        args.database_file.as_deref(),
        args.data_dir.as_deref(),
        args.config.as_deref(),
    )?;
    let data_dir = match (&args.data_dir, &database) {
        (Some(dir), _) => dir.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => anyhow::bail!(
            "--data-dir is required (or a PostgreSQL URL: {DATABASE_ENV}, --database-file, \
             or database in --config)"
        ),
    };
    let mut options = IndexOptions::new(args.bind, data_dir);
    options.database = database;
    options.room_bind = Some(
        args.room_bind
            .unwrap_or_else(|| default_room_bind(args.bind)),
    );
    options.ip_rate = Some((args.ip_rate, Duration::from_secs(1) / args.ip_rate.max(1)));
    options.stats_interval = Some(Duration::from_secs(args.stats_interval.max(1)));
    if !args.allow_rooms.is_empty() {
        options.allowed_rooms = Some(args.allow_rooms.clone());
    }
    let running = start(&options).await.context("cannot start the index")?;
    let rooms = running
        .room_addr
        .map_or_else(|| "none".to_owned(), |a| a.to_string());
    println!(
        "index key={} addr={} rooms={rooms}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_noticed() {
        assert!(url_has_password("postgres://u:secret@db/idx"));
        assert!(url_has_password("host=db user=u password=secret"));
        assert!(!url_has_password("postgres://u@db/idx"));
        assert!(!url_has_password("postgres://db:5432/idx"));
        assert!(!url_has_password("postgresql:///idx?host=/run/postgresql"));
    }

    #[test]
    fn the_node_takes_the_next_port() {
        let b: SocketAddr = "0.0.0.0:33446".parse().unwrap();
        assert_eq!(default_room_bind(b), "0.0.0.0:33447".parse().unwrap());
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(default_room_bind(any), any);
    }
}
