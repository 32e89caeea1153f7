//! The direct PM endpoint (PROTOCOL.md §8.14): a task of its own that owns one UDP socket
//! and the sans-IO [`DirectPms`], so a PM between two online accounts goes peer to peer
//! and neither waits on the index (nor on the worker, which may be waiting on it).
//!
//! - `/pm USER TEXT` comes here ([`DirectIn::Send`]). With USER's key and a live presence
//!   known, the PM goes direct; unknown, it waits (at most [`MAX_PARKED`]) while the worker
//!   looks USER up ([`Job::Resolve`]); offline, too long or unacknowledged, it goes to the
//!   worker's mailbox path (the unacknowledged one with the same sealed body,
//!   [`Job::StoreSealed`]).
//! - A PM from a name whose key we do not know makes the worker look it up; the sender's
//!   retry is then shown.
//! - The worker publishes our presence ([`DirectLink::node_key`], [`DirectLink::addr`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use super::gc_window::{GcDone, GcJob};
use super::{Done, Job};
use crate::crypto::Identity;
use crate::index::names::normalize_username;
use crate::index::presence::PresenceEntry;
use crate::index::presence::direct::{DirectEvent, DirectPms, Route};
use crate::index::writer::unix_now;
use crate::net::{now as clock_now, os_seed};
use crate::wire::PublicKey;

/// PMs waiting for a lookup at once.
const MAX_PARKED: usize = 64;
/// Messages queued to the endpoint.
const QUEUE: usize = 64;

/// What the runtime and the worker tell the endpoint.
#[derive(Debug)]
pub(in crate::app) enum DirectIn {
    /// `/pm`.
    Send { to: String, text: String },
    /// Logged in as `name` (normalised) with this identity seed.
    LoggedIn {
        name: String,
        seed: Zeroizing<[u8; 32]>,
    },
    /// Logged out: the PMs still waiting for an ack come back on `undelivered`, for the
    /// worker to store in the mailbox before its session ends.
    LoggedOut {
        undelivered: oneshot::Sender<Vec<Undelivered>>,
    },
    /// The index's answer about `name`: its account key and presence.
    Resolved {
        name: String,
        key: [u8; 32],
        entries: Vec<PresenceEntry>,
    },
    /// The lookup of `name` failed (no such user, index unreachable).
    ResolveFailed { name: String, error: String },
}

/// A direct PM nobody acknowledged: (recipient, client message id, sealed body).
pub(in crate::app) type Undelivered = (String, u64, Vec<u8>);

/// The endpoint as the others see it.
#[derive(Debug, Clone)]
pub(in crate::app) struct DirectLink {
    pub(in crate::app) tx: mpsc::Sender<DirectIn>,
    /// The node key published: [`DirectPms::node_key`].
    pub(in crate::app) node_key: PublicKey,
    /// The address published.
    pub(in crate::app) addr: SocketAddr,
}

/// Binds the endpoint on `ip` (any port; see [`bind`]) and starts its task.
pub(in crate::app) fn start(
    ip: IpAddr,
    index: PublicKey,
    index_addr: SocketAddr,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Sender<Done>,
) -> std::io::Result<DirectLink> {
    let socket = bind(ip, index_addr)?;
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let socket = UdpSocket::from_std(socket)?;
    let mut seeds = ChaCha20Rng::from_seed(os_seed()?);
    let mut secret = [0u8; 32];
    seeds.fill_bytes(&mut secret);
    let mut rng_seed = [0u8; 32];
    seeds.fill_bytes(&mut rng_seed);
    let pms = DirectPms::new(secret, index.0, rng_seed);
    let node_key = pms.node_key();
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = Endpoint {
        socket,
        pms,
        rx,
        jobs,
        done,
        me: String::new(),
        parked: Vec::new(),
        rng: seeds,
    };
    tokio::spawn(task.run());
    Ok(DirectLink { tx, node_key, addr })
}

/// Binds on `ip`; for an unspecified `ip`, or one that is not ours (an advertised address
/// behind NAT), on the local address that routes to the index.
fn bind(ip: IpAddr, index_addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    if !ip.is_unspecified() {
        if let Ok(s) = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)) {
            return Ok(s);
        }
    }
    let any: IpAddr = if index_addr.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    probe.connect(index_addr)?;
    std::net::UdpSocket::bind(SocketAddr::new(probe.local_addr()?.ip(), 0))
}

struct Endpoint {
    socket: UdpSocket,
    pms: DirectPms,
    rx: mpsc::Receiver<DirectIn>,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Sender<Done>,
    me: String,
    parked: Vec<(String, u64, String)>,
    rng: ChaCha20Rng,
}

impl Endpoint {
    async fn run(mut self) {
        let mut buf = vec![0u8; 2048];
        loop {
            let due = self.pms.poll_timeout();
            let wait = due.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(clock_now())
            });
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.pms.handle_datagram(clock_now(), from, &buf[..n]);
                    }
                }
                m = self.rx.recv() => match m {
                    None => return,
                    Some(m) => self.on_in(m).await,
                },
                () = tokio::time::sleep(wait) => self.pms.handle_timeout(clock_now()),
            }
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        while let Some((to, d)) = self.pms.poll_transmit() {
            if let Err(e) = self.socket.send_to(&d, to).await {
                tracing::debug!(error = %e, %to, "direct PM send failed");
            }
        }
        while let Some(ev) = self.pms.poll_event() {
            self.on_event(ev).await;
        }
    }

    async fn on_in(&mut self, m: DirectIn) {
        match m {
            DirectIn::Send { to, text } => self.send(to, text).await,
            DirectIn::LoggedIn { name, seed } => {
                self.pms.login(&name, Identity::from_seed(&seed));
                self.me = name;
            }
            DirectIn::LoggedOut { undelivered } => {
                self.pms.logout();
                self.me.clear();
                self.parked.clear();
                let mut out = Vec::new();
                while let Some(ev) = self.pms.poll_event() {
                    match ev {
                        DirectEvent::Undelivered {
                            to,
                            client_id,
                            body,
                        } => out.push((to, client_id, body)),
                        other => self.on_event(other).await,
                    }
                }
                let _ = undelivered.send(out);
            }
            DirectIn::Resolved { name, key, entries } => {
                self.pms
                    .learn(clock_now(), unix_secs(), &name, key, &entries);
                let (ready, rest) = std::mem::take(&mut self.parked)
                    .into_iter()
                    .partition(|(to, _, _)| *to == name);
                self.parked = rest;
                for (to, client_id, text) in ready {
                    self.route(to, client_id, text).await;
                }
            }
            DirectIn::ResolveFailed { name, error } => {
                let (failed, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                    .into_iter()
                    .partition(|(to, _, _)| *to == name);
                self.parked = rest;
                if !failed.is_empty() {
                    self.error(format!("PM to {name} not sent: {error}")).await;
                }
            }
        }
    }

    async fn send(&mut self, to: String, text: String) {
        let Some(to) = normalize_username(&to) else {
            return self.mailbox(to, text);
        };
        let client_id = self.rng.next_u64();
        if self.pms.route(clock_now(), &to) != Route::Unknown {
            return self.route(to, client_id, text).await;
        }
        if self.parked.len() >= MAX_PARKED {
            return self.mailbox(to, text);
        }
        let asked = self.parked.iter().any(|(t, _, _)| *t == to);
        self.parked.push((to.clone(), client_id, text));
        if !asked {
            self.ask(to);
        }
    }

    /// Direct if possible, else the worker's mailbox path.
    async fn route(&mut self, to: String, client_id: u64, text: String) {
        match self.pms.send(clock_now(), &to, client_id, &text) {
            Ok(()) => {
                let d = GcDone::Pm {
                    peer: to,
                    author: self.me.clone(),
                    text: Some(text),
                    sent: 0,
                    stored: false,
                    nonce: None,
                };
                let _ = self.done.send(Done::Gc(d)).await;
            }
            Err(_) => self.mailbox(to, text),
        }
    }

    fn mailbox(&self, to: String, text: String) {
        self.job(Job::Gc(GcJob::Pm { to, text }));
    }

    fn ask(&self, name: String) {
        self.job(Job::Resolve { name });
    }

    /// Never waits on the worker (it may be waiting on an unreachable index).
    fn job(&self, job: Job) {
        if let Err(e) = self.jobs.try_send(job) {
            tracing::debug!(error = %e, "worker queue full: direct PM job dropped");
        }
    }

    async fn error(&self, text: String) {
        let d = GcDone::Error {
            at: None,
            chat: None,
            text,
        };
        let _ = self.done.send(Done::Gc(d)).await;
    }

    async fn on_event(&mut self, ev: DirectEvent) {
        match ev {
            DirectEvent::Received {
                from, text, nonce, ..
            } => {
                let d = GcDone::Pm {
                    peer: from.clone(),
                    author: from,
                    text: Some(text),
                    sent: unix_secs(),
                    stored: false,
                    nonce: Some(nonce),
                };
                let _ = self.done.send(Done::Gc(d)).await;
            }
            DirectEvent::Delivered { to, client_id } => {
                tracing::debug!(%to, client_id, "direct PM acknowledged");
            }
            DirectEvent::Undelivered {
                to,
                client_id,
                body,
            } => self.job(Job::StoreSealed {
                to,
                client_id,
                body,
            }),
            DirectEvent::NeedKey(name) => self.ask(name),
        }
    }
}

fn unix_secs() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}
