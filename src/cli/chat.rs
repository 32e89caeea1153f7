//! `dhtchat chat`: the interactive chat (terminal UI) and its `--plain` mode for scripts.
//!
//! Start-up, in order: read the local UTC offset (before any thread exists), open the store
//! under the data dir, bind the UDP socket (the well-known port or the next free one), start
//! the driver, then create, join or restore groups and hand over to a front end.
//!
//! - `session`: the runtime state between the driver and a front end: groups, nicks, store
//!   writes, and the translation of node events into [`ChatEvent`]s.
//! - `commands`: what each `/command` does.
//! - `moderation`: roles, bans and the other signed facts: commands, events, storing them.
//! - `persist`: the table and message numbers written to the store while we run.
//! - `front`: the two front ends' loops (`--plain` lines, the ratatui terminal).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::app::event::LocalTime;
use crate::net::{Driver, DriverError, DriverOptions, Handle, NodeEvent, now, os_seed};
use crate::proto::Config;
use crate::store::{Store, default_data_dir};

mod commands;
mod front;
mod moderation;
mod persist;
mod session;

pub use session::Session;

/// The port a chat node binds by default; the next free one is taken if it is busy.
pub const DEFAULT_PORT: u16 = 33445;
/// How many ports past [`DEFAULT_PORT`] are tried.
const PORT_TRIES: u16 = 100;

/// The group and network options that `dhtchat chat` and `dhtchat node` share.
#[derive(Debug, Clone, clap::Args)]
pub struct GroupArgs {
    /// Found a new group with this name (secure and public unless --legacy / --private)
    #[arg(long, value_name = "NAME", conflicts_with = "join")]
    pub create: Option<String>,

    /// Join a group through a join string (dhtchat:public:CHATID:KEY@IP:PORT or KEY@IP:PORT)
    #[arg(long, value_name = "JOIN_STRING")]
    pub join: Option<String>,

    /// With --create: speak the unsigned 2014 dialect, so 2014 peers can join
    #[arg(long, requires = "create")]
    pub legacy: bool,

    /// With --create: invite-only group (members let others in with /invite KEY)
    #[arg(long, requires = "create")]
    pub private: bool,

    /// Our nick in the groups we create or join
    #[arg(long, value_name = "NICK")]
    pub nick: Option<String>,

    /// Address to bind (default: 0.0.0.0:33445, or the next free port up to 33544)
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<SocketAddr>,

    /// Address others should use to reach us, put into join strings (default: the bound
    /// IP, or the IP of the interface that routes outwards when bound to 0.0.0.0)
    #[arg(long, value_name = "IP:PORT")]
    pub advertise: Option<SocketAddr>,

    /// Where identity and groups are kept (default: $XDG_DATA_HOME/dhtchat)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl GroupArgs {
    /// `--data-dir`, else the XDG default.
    pub(crate) fn data_dir(&self) -> anyhow::Result<PathBuf> {
        data_dir_or_default(self.data_dir.as_ref())
    }
}

/// The data dir given on the command line, else the XDG default.
pub(crate) fn data_dir_or_default(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => default_data_dir().context("no data dir: set --data-dir, XDG_DATA_HOME or HOME"),
    }
}

/// Command line of `dhtchat chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Groups, addresses and data dir.
    #[command(flatten)]
    pub group: GroupArgs,

    /// Line mode for bots and scripts: stdin lines are messages or /commands, stdout one
    /// event per line (docs/plain-mode.md)
    #[arg(long)]
    pub plain: bool,
}

/// A running driver as a chat runtime starts it: the node seed from the store, the socket
/// bound as `args` asks, the driver task spawned.
pub(crate) struct Started {
    pub(crate) task: tokio::task::JoinHandle<crate::net::DriverStats>,
    pub(crate) handle: Handle,
    pub(crate) events: tokio::sync::mpsc::Receiver<NodeEvent>,
    pub(crate) advertised: SocketAddr,
}

/// Loads (or creates) the node seed, binds the socket and spawns the driver.
pub(crate) async fn start_driver(args: &GroupArgs, store: &Store) -> anyhow::Result<Started> {
    let seed = store.load_or_create_node_seed(|| os_seed().unwrap_or_else(|_| fallback_seed()))?;
    let (driver, handle, events) = bind(args.bind, Config::new(*seed)).await?;
    let advertised = advertised_addr(args.advertise, handle.local_addr());
    let task = tokio::spawn(driver.run());
    Ok(Started {
        task,
        handle,
        events,
        advertised,
    })
}

/// Runs `dhtchat chat`. Must be called before any other thread is started (the local time
/// offset can only be read safely then).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let data_dir = args.group.data_dir()?;
    let store = Store::open(&data_dir)?;
    init_logging(args.plain, &data_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async_main(args, store, offset))
}

async fn async_main(args: &Args, store: Store, offset: time::UtcOffset) -> anyhow::Result<()> {
    let started = start_driver(&args.group, &store).await?;
    let mut session = Session::new(started.handle, store, started.advertised, offset);
    let result = match session.start(&args.group).await {
        Ok(()) if args.plain => front::run_plain(&mut session, started.events).await,
        Ok(()) => front::run_tui(&mut session, started.events).await,
        Err(e) => Err(e),
    };
    session.shutdown().await;
    let _ = started.task.await;
    result
}

/// `RUST_LOG` (default `warn`) goes to stderr in `--plain` mode; the terminal UI owns the
/// screen, so there it goes to `chat.log` in the data dir.
fn init_logging(plain: bool, data_dir: &std::path::Path) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if plain {
        let _ = builder.with_writer(std::io::stderr).try_init();
        return;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("chat.log"));
    if let Ok(file) = file {
        let _ = builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    }
}

/// Binds the socket: `addr` if given, else the default port or the next free one.
async fn bind(
    addr: Option<SocketAddr>,
    config: Config,
) -> anyhow::Result<(Driver, Handle, tokio::sync::mpsc::Receiver<NodeEvent>)> {
    let options = DriverOptions::default();
    if let Some(addr) = addr {
        return Driver::bind(addr, config, &options)
            .await
            .with_context(|| format!("cannot bind {addr}"));
    }
    for port in DEFAULT_PORT..DEFAULT_PORT + PORT_TRIES {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        match Driver::bind(addr, config.clone(), &options).await {
            Err(DriverError::Io(e)) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            other => return other.with_context(|| format!("cannot bind {addr}")),
        }
    }
    bail!(
        "ports {DEFAULT_PORT}..{} are all in use; pick one with --bind IP:PORT",
        DEFAULT_PORT + PORT_TRIES - 1
    )
}

/// The address to put in join strings: `--advertise`, else the bound address, with an
/// unspecified IP replaced by the one the routing table would use outwards (a UDP
/// `connect` sends nothing), or loopback if there is no route.
pub(crate) fn advertised_addr(explicit: Option<SocketAddr>, bound: SocketAddr) -> SocketAddr {
    if let Some(a) = explicit {
        return a;
    }
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let probe = || -> std::io::Result<IpAddr> {
        let s = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
        Ok(s.local_addr()?.ip())
    };
    let ip = probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, bound.port())
}

/// A seed from the clock and the process id, only if the OS random source fails (it is
/// used for the node's RNG seed, never for keys when the OS source works).
fn fallback_seed() -> [u8; 32] {
    use sha2::Digest;
    let t = format!("{:?}{}", now(), std::process::id());
    sha2::Sha256::digest(t.as_bytes()).into()
}

/// The local wall-clock time as `HH:MM`, from the offset read at start-up.
pub(crate) fn local_time(offset: time::UtcOffset) -> LocalTime {
    #[allow(clippy::disallowed_methods)] // the front end's wall clock, for timestamps only
    let t = time::OffsetDateTime::from(std::time::SystemTime::now()).to_offset(offset);
    LocalTime {
        hour: t.hour(),
        minute: t.minute(),
    }
}
