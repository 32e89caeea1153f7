//! The index's tokio driver: one task owns the UDP socket and the [`Service`]; the database is
//! on the [`Writer`] thread (same shape as [`crate::net::Driver`]).
//!
//! Loop: send every queued datagram, hand every queued storage operation to the writer, then
//! wait for one of: the socket is readable (read up to 64 datagrams), an outcome came back
//! from the writer (committed), or the stop signal. The clock is read here and passed in.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

mod rooms;

use self::rooms::RoomNode;
use super::service::{Service, ServiceConfig, ServiceStats, Token};
use super::sql::{self, SqlError};
use super::store::{self, Limits, Outcome};
use super::writer::{Job, Writer};
use crate::net::{now, os_seed};
use crate::wire::PublicKey;

/// Datagrams read per wake-up before queued output is sent.
const RECV_BATCH: usize = 64;

/// How to run an index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// UDP address to bind (port 0: any free port).
    pub bind: SocketAddr,
    /// `postgres://…` URL; `None` for SQLite in `data_dir`.
    pub database: Option<String>,
    /// Directory of the SQLite database.
    pub data_dir: PathBuf,
    /// Table bounds.
    pub limits: Limits,
    /// Rooms that may be used; `None` allows every valid name.
    pub allowed_rooms: Option<Vec<String>>,
    /// Override of the per-IP request bucket (burst, refill interval).
    pub ip_rate: Option<(u32, std::time::Duration)>,
    /// Override of the per-username failed-login bucket (burst, refill interval).
    pub login_rate: Option<(u32, std::time::Duration)>,
    /// Log one stats line this often (`None`: never).
    pub stats_interval: Option<std::time::Duration>,
    /// UDP address of the index's node, founder of the rooms' groups (§8.11); `None`: no
    /// node (rooms are then only stored message lists, counted by accounts joined).
    pub room_bind: Option<SocketAddr>,
    /// How often the moderator table is read (the node grants and revokes the role).
    pub moderator_poll: std::time::Duration,
}

impl IndexOptions {
    /// SQLite in `data_dir`, default limits.
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            bind,
            database: None,
            data_dir,
            limits: Limits::default(),
            allowed_rooms: None,
            ip_rate: None,
            login_rate: None,
            stats_interval: None,
            room_bind: None,
            moderator_poll: std::time::Duration::from_secs(2),
        }
    }
}

/// Why an index could not start.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database failed to open or migrate.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Socket, thread or random source.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A running index.
#[derive(Debug)]
pub struct Running {
    /// Bound address.
    pub addr: SocketAddr,
    /// The index key (clients address it).
    pub key: PublicKey,
    /// The address of the index's node (rooms' founder), if it runs one.
    pub room_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ServiceStats>,
}

impl Running {
    /// Stops the index; queued writes finish first. Returns the counters.
    pub async fn stop(self) -> ServiceStats {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// Opens the database (migrating it), loads or creates the index's secrets, binds the socket
/// and starts the driver task and the writer thread.
pub async fn start(options: &IndexOptions) -> Result<Running, IndexError> {
    let database = options.database.clone();
    let dir = options.data_dir.clone();
    // A plain thread, not spawn_blocking: the PostgreSQL client runs its own runtime and
    // refuses to start inside tokio's context.
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("index-open".into())
        .spawn(move || {
            let _ = tx.send(open_store(database.as_deref(), &dir));
        })?;
    let (sql, identity, fake, room_names) = rx.await.map_err(io::Error::other)??;
    let mut node = match options.room_bind {
        Some(bind) => {
            let max = usize::try_from(options.limits.max_rooms).unwrap_or(usize::MAX);
            let node = RoomNode::start(bind, identity, max)
                .await
                .map_err(io::Error::other)?;
            Some(node)
        }
        None => None,
    };
    let room_addr = node.as_ref().map(RoomNode::addr);
    let mut config = ServiceConfig::new(identity, fake, os_seed()?);
    config.room_port = room_addr.map_or(0, |a| a.port());
    config.allowed_rooms.clone_from(&options.allowed_rooms);
    if let Some(rate) = options.ip_rate {
        config.ip_rate = rate;
    }
    if let Some(rate) = options.login_rate {
        config.login_rate = rate;
    }
    let max_in_flight = config.max_in_flight;
    let mut service = Service::new(config);
    if let Some(node) = node.as_mut() {
        for room in &room_names {
            node.found(&mut service, room).await;
        }
        service.refresh_moderators();
    }
    let (outcome_tx, outcomes) = mpsc::channel(max_in_flight * 2 + 8);
    let writer = Writer::spawn(
        sql,
        options.limits.clone(),
        max_in_flight * 2,
        256,
        move |t, o| {
            let _ = outcome_tx.blocking_send((t, o));
        },
    )?;
    let socket = UdpSocket::bind(options.bind).await?;
    let addr = socket.local_addr()?;
    let key = service.public_key();
    info!(%addr, key = %hex::encode(key.0), rooms = ?room_addr, "index listening");
    let (stop, stopped) = oneshot::channel();
    let driver = Driver {
        socket,
        service,
        writer,
        outcomes,
        buf: vec![0; 2048],
        stats_interval: options.stats_interval,
        node,
        moderator_poll: options.moderator_poll,
    };
    let task = tokio::spawn(driver.run(stopped));
    Ok(Running {
        addr,
        key,
        room_addr,
        stop,
        task,
    })
}

/// A migrated database, the index's identity seed, its fake-salt key and the rooms' names.
type OpenedStore = (Box<dyn sql::Sql>, [u8; 32], [u8; 32], Vec<String>);

/// Opens and migrates the database; returns it with the identity seed and fake-salt key.
fn open_store(database: Option<&str>, dir: &std::path::Path) -> Result<OpenedStore, IndexError> {
    if database.is_none() {
        std::fs::create_dir_all(dir)?;
    }
    let mut sql = sql::open(database, dir)?;
    let found = store::migrate(sql.as_mut())?;
    debug!(found, to = store::SCHEMA_VERSION, "schema migrated");
    let identity = store::meta_secret(sql.as_mut(), "identity_seed", os_seed()?)?;
    let fake = store::meta_secret(sql.as_mut(), "fake_salt_key", os_seed()?)?;
    let filled = store::fill_member_keys(sql.as_mut())?;
    if filled > 0 {
        info!(
            filled,
            "member keys computed for accounts stored before schema 4"
        );
    }
    let rooms = store::room_names(sql.as_mut())?;
    Ok((sql, identity, fake, rooms))
}

struct Driver {
    socket: UdpSocket,
    service: Service,
    writer: Writer,
    outcomes: mpsc::Receiver<(Token, Outcome)>,
    buf: Vec<u8>,
    stats_interval: Option<std::time::Duration>,
    node: Option<RoomNode>,
    moderator_poll: std::time::Duration,
}

impl Driver {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) -> ServiceStats {
        let every = self
            .stats_interval
            .unwrap_or(std::time::Duration::from_secs(3600));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let poll = self.moderator_poll;
        let mut moderators = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
        moderators.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.flush().await;
            tokio::select! {
                _ = ticks.tick(), if self.stats_interval.is_some() => self.log_stats(),
                _ = moderators.tick(), if self.node.is_some() => self.service.refresh_moderators(),
                ev = RoomNode::recv(self.node.as_mut()) => match (ev, self.node.as_mut()) {
                    (Some(ev), Some(node)) => node.on_event(&mut self.service, ev).await,
                    _ => {
                        warn!("the index's node stopped");
                        self.node = None;
                    }
                },
                ready = self.socket.readable() => {
                    if let Err(e) = ready {
                        warn!(error = %e, "socket not readable");
                    }
                    self.read_batch();
                }
                outcome = self.outcomes.recv() => {
                    if let Some((token, outcome)) = outcome {
                        self.service.handle_storage(now(), token, outcome);
                    }
                }
                _ = &mut stop => break,
            }
        }
        let stats = self.service.stats().clone();
        let commits = self
            .writer
            .stats()
            .commits
            .load(std::sync::atomic::Ordering::Relaxed);
        info!(?stats, commits, "index stopped");
        if let Some(node) = self.node.take() {
            node.stop().await;
        }
        self.writer.shutdown();
        stats
    }

    /// One line: requests, logins, drops, load, commits (group commit: ops per commit).
    fn log_stats(&self) {
        let s = self.service.stats();
        let (assembling, pending, sessions) = self.service.load();
        let w = self.writer.stats();
        info!(
            datagrams_in = s.datagrams_in,
            replies = s.replies,
            logins = s.logins,
            login_failures = s.login_failures,
            privilege_refused = s.privilege_refused,
            drops = ?s.drops,
            assembling,
            pending,
            sessions,
            commits = w.commits.load(std::sync::atomic::Ordering::Relaxed),
            ops = w.ops.load(std::sync::atomic::Ordering::Relaxed),
            failed_commits = w.failed.load(std::sync::atomic::Ordering::Relaxed),
            "index stats"
        );
    }

    fn read_batch(&mut self) {
        for _ in 0..RECV_BATCH {
            match self.socket.try_recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                    self.service.handle_datagram(now(), from, &self.buf[..len]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!(error = %e, "recv_from failed");
                    return;
                }
            }
        }
    }

    /// Sends queued datagrams and hands queued operations to the writer.
    async fn flush(&mut self) {
        while let Some(action) = self.service.poll_room_action() {
            if let Some(node) = self.node.as_mut() {
                node.act(&mut self.service, action).await;
            }
        }
        while let Some((token, op)) = self.service.poll_storage() {
            if let Err(job) = self.writer.try_submit(Job { token, op }) {
                self.service.handle_storage(now(), job, Outcome::Failed);
            }
        }
        let v6 = self.socket.local_addr().is_ok_and(|a| a.is_ipv6());
        while let Some(t) = self.service.poll_transmit() {
            let to = match t.destination {
                SocketAddr::V4(a) if v6 => {
                    SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port())
                }
                other => other,
            };
            if let Err(e) = self.socket.send_to(&t.payload, to).await {
                debug!(to = %t.destination, error = %e, "send_to failed");
            }
        }
    }
}
