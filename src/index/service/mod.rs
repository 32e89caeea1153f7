//! [`Service`]: the index's sans-IO request logic (PROTOCOL.md §8.7).
//!
//! Inputs: [`Service::handle_datagram`] for each received datagram and
//! [`Service::handle_storage`] for each storage outcome (after its commit). Outputs, drained
//! after every input: [`Service::poll_transmit`] (datagrams to send) and
//! [`Service::poll_storage`] (operations for the writer). No clock, no IO, no thread RNG:
//! `now` is an argument and randomness comes from a seeded ChaCha20.
//!
//! Order of checks for a datagram, cheapest first; the first failure is a counted drop
//! (never a reply): per-IP token bucket → envelope and box → fragment → reassembly →
//! request decoding → username/room-name rules. A well-formed request then gets exactly one
//! reply (or the cached one again, for a retry with the same request id).

mod assembly;
mod chats;
mod devices;
mod presence;
mod requests;
mod rooms;

pub use rooms::RoomAction;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use self::assembly::{Assemblies, Refused, ReplyCache, Step};
use super::account::KdfParams;
use super::limits::{Rate, RateTable};
use super::presence::table::PresenceTable;
use super::store::{Op, Outcome};
use super::wire::{self, CHALLENGE_LEN, Fragment, Kind, Reply, Request, Status};
use crate::crypto::{self, BoxKeypair, Identity, SharedKeys};
use crate::wire::{MAX_PLAINTEXT, PublicKey};

/// Identifies one storage operation between the service and the writer.
pub type Token = u64;

/// Tunables of a [`Service`]. Every table and queue is bounded by one of these. The three
/// secrets print nothing in `Debug` and are wiped on drop.
#[derive(Clone)]
pub struct ServiceConfig {
    /// Seed of the index's envelope identity (its public key is the index key).
    pub identity_seed: [u8; 32],
    /// Key of the deterministic fake salts and parameters for unknown usernames.
    pub fake_secret: [u8; 32],
    /// Seed of the RNG for challenges and nonces.
    pub rng_seed: [u8; 32],
    /// Storage operations in progress at once; more get `busy`. Default 256.
    pub max_in_flight: usize,
    /// Sessions kept (LRU). Default 10,000.
    pub max_sessions: usize,
    /// A session ends after this long unused. Default 30 min.
    pub session_idle: Duration,
    /// Outstanding login challenges (LRU). Default 10,000.
    pub max_challenges: usize,
    /// A challenge must be answered within this. Default 60 s.
    pub challenge_ttl: Duration,
    /// Fragmented requests in reassembly at once. Default 64.
    pub max_assemblies: usize,
    /// Finished replies kept for retries: entries and bytes. Default 4096 and 8 MiB.
    pub reply_cache: (usize, usize),
    /// Requests per source IP: burst, then one per interval. Default 100, then one per 10 ms.
    pub ip_rate: (u32, Duration),
    /// Failed logins per username: burst, then one per interval. Default 5, then one per 12 s.
    pub login_rate: (u32, Duration),
    /// Rooms that may be used; `None` allows every valid name.
    pub allowed_rooms: Option<Vec<String>>,
    /// Datagrams waiting to be sent; more are dropped and counted. Default 8192.
    pub max_transmits: usize,
    /// UDP port of the index's node, founder of the rooms' groups (§8.11); 0 (the default):
    /// no node, room counts are the accounts stored as joined.
    pub room_port: u16,
}

impl ServiceConfig {
    /// Defaults around the given secrets.
    pub fn new(identity_seed: [u8; 32], fake_secret: [u8; 32], rng_seed: [u8; 32]) -> Self {
        Self {
            identity_seed,
            fake_secret,
            rng_seed,
            max_in_flight: 256,
            max_sessions: 10_000,
            session_idle: Duration::from_secs(30 * 60),
            max_challenges: 10_000,
            challenge_ttl: Duration::from_secs(60),
            max_assemblies: 64,
            reply_cache: (4096, 8 << 20),
            ip_rate: (100, Duration::from_millis(10)),
            login_rate: (5, Duration::from_secs(12)),
            allowed_rooms: None,
            max_transmits: 8192,
            room_port: 0,
        }
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("max_in_flight", &self.max_in_flight)
            .field("max_sessions", &self.max_sessions)
            .field("ip_rate", &self.ip_rate)
            .field("login_rate", &self.login_rate)
            .field("allowed_rooms", &self.allowed_rooms)
            .finish_non_exhaustive()
    }
}

impl Drop for ServiceConfig {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.identity_seed.zeroize();
        self.fake_secret.zeroize();
        self.rng_seed.zeroize();
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The whole datagram.
    pub payload: Vec<u8>,
}

/// Counters of a [`Service`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Datagrams handled.
    pub datagrams_in: u64,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Requests answered (one per reply, fragments not counted).
    pub replies: u64,
    /// Replies sent again from the cache for a retried request.
    pub replayed: u64,
    /// Successful logins.
    pub logins: u64,
    /// Failed logins (wrong password, unknown name, no challenge).
    pub login_failures: u64,
    /// Network requests to change a privilege (all refused).
    pub privilege_refused: u64,
    /// Dropped datagrams by reason.
    pub drops: BTreeMap<&'static str, u64>,
}

/// A logged-in client, keyed by its envelope key.
#[derive(Debug, Clone)]
struct Session {
    account: i64,
    last: Instant,
}

/// A challenge handed out by prelogin.
#[derive(Debug, Clone)]
struct Challenge {
    name: String,
    bytes: [u8; CHALLENGE_LEN],
    expires: Instant,
    /// The account and its verifier; `None` for an unknown name.
    account: Option<(i64, [u8; 32])>,
}

/// A request waiting for its storage outcome.
#[derive(Debug, Clone)]
struct Pending {
    peer: SocketAddr,
    client: PublicKey,
    request_id: u64,
    kind: Kind,
    /// Prelogin: the normalised name.
    name: String,
    /// Login: the account that gets a session when the fetch succeeds.
    login: Option<i64>,
    /// What the index's node does once the operation succeeded (join, server message).
    then: Option<RoomAction>,
}

/// The index's request logic; see the module docs for the call order.
pub struct Service {
    config: ServiceConfig,
    keypair: BoxKeypair,
    keys: SharedKeys,
    rng: ChaCha20Rng,
    /// A verifier key for unknown names, so a failed login costs what a real one costs.
    dummy_verifier: [u8; 32],
    assemblies: Assemblies,
    replies: ReplyCache,
    sessions: LruCache<PublicKey, Session>,
    challenges: LruCache<PublicKey, Challenge>,
    ip_limits: RateTable<IpAddr>,
    login_limits: RateTable<String>,
    pending: HashMap<Token, Pending>,
    in_flight: HashSet<(PublicKey, u64)>,
    next_token: Token,
    transmits: VecDeque<Transmit>,
    storage: VecDeque<(Token, Op)>,
    stats: ServiceStats,
    rooms: rooms::Rooms,
    presence: PresenceTable,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("key", &self.keypair.public_key().fmt_short())
            .field("config", &self.config)
            .field("pending", &self.pending.len())
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
}

impl Service {
    /// A service with the given configuration.
    pub fn new(config: ServiceConfig) -> Self {
        let identity = Identity::from_seed(&config.identity_seed);
        let keypair = BoxKeypair::from_secret_bytes(*identity.keypair().secret_bytes());
        let dummy = Identity::from_seed(&config.fake_secret).signing_key();
        let presence = PresenceTable::new(keypair.public_key().0, config.max_sessions);
        let (ip_burst, ip_every) = config.ip_rate;
        let (login_burst, login_every) = config.login_rate;
        Self {
            keypair,
            keys: SharedKeys::new(NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN)),
            rng: ChaCha20Rng::from_seed(config.rng_seed),
            dummy_verifier: dummy,
            assemblies: Assemblies::new(config.max_assemblies, Duration::from_secs(10)),
            replies: ReplyCache::new(config.reply_cache.0, config.reply_cache.1),
            sessions: lru(config.max_sessions),
            challenges: lru(config.max_challenges),
            ip_limits: RateTable::new(rate(ip_burst, ip_every), 10_000),
            login_limits: RateTable::new(rate(login_burst, login_every), 10_000),
            pending: HashMap::new(),
            in_flight: HashSet::new(),
            next_token: 0,
            transmits: VecDeque::new(),
            storage: VecDeque::new(),
            stats: ServiceStats::default(),
            rooms: rooms::Rooms::new(config.room_port),
            presence,
            config,
        }
    }

    /// The index key: clients address their envelopes to it.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public_key()
    }

    /// Counters.
    pub fn stats(&self) -> &ServiceStats {
        &self.stats
    }

    /// Handles one received datagram. Drain [`Self::poll_transmit`] and
    /// [`Self::poll_storage`] afterwards.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        if let Err(reason) = self.process(now, from, datagram) {
            *self.stats.drops.entry(reason).or_default() += 1;
        }
    }

    /// Hands back the outcome of the operation `token` (after its transaction committed).
    pub fn handle_storage(&mut self, now: Instant, token: Token, outcome: Outcome) {
        let Some(p) = self.pending.remove(&token) else {
            self.on_internal(token, outcome);
            return;
        };
        self.in_flight.remove(&(p.client, p.request_id));
        let reply = self.on_outcome(now, &p, outcome);
        self.reply(&p.peer, p.client, p.request_id, &reply);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next storage operation for the writer.
    pub fn poll_storage(&mut self) -> Option<(Token, Op)> {
        self.storage.pop_front()
    }

    fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), &'static str> {
        if !self.ip_limits.take(from.ip(), now) {
            return Err("ip_rate_limited");
        }
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let (client, plain) =
            crypto::open_datagram(&self.keypair, &mut self.keys, datagram, &mut scratch).map_err(
                |e| match e {
                    crypto::DatagramError::Malformed(_) => "malformed",
                    crypto::DatagramError::NotForUs => "not_for_us",
                    crypto::DatagramError::BadKey => "bad_key",
                    crypto::DatagramError::Open => "open",
                },
            )?;
        let fragment = Fragment::decode(plain).map_err(|_| "bad_fragment")?;
        if fragment.reply {
            return Err("unexpected_reply");
        }
        let request_id = fragment.request_id;
        // One answer per retry (on its first fragment), not one per fragment.
        if fragment.index != 0 && self.replies.contains(client, request_id) {
            return Ok(());
        }
        let cached = match fragment.index {
            0 => self.replies.resend(client, request_id, from),
            _ => None,
        };
        match cached {
            Some(Ok(cached)) => {
                self.stats.replayed += 1;
                self.send_message(&from, client, request_id, &cached);
                return Ok(());
            }
            Some(Err(Refused::OtherAddress)) => return Err("replay_other_address"),
            Some(Err(Refused::TooManyResends)) => return Err("replay_limit"),
            None => {}
        }
        let message = match self.assemblies.add(now, client, &fragment) {
            Step::Complete(m) => m,
            Step::Pending => return Ok(()),
            Step::Mismatch => return Err("bad_fragment"),
            Step::Full => return Err("assemblies_full"),
        };
        if self.in_flight.contains(&(client, request_id)) {
            return Err("in_flight");
        }
        let request = Request::decode(&message).map_err(|_| "bad_request")?;
        self.on_request(now, from, client, request_id, request)
    }

    /// Queues `op` for the writer, or answers `busy` when too many are in flight.
    fn submit(&mut self, p: Pending, op: Op) {
        if self.pending.len() >= self.config.max_in_flight {
            let reply = Reply::status(p.kind, Status::Busy);
            let message = reply.encode();
            self.send_message(&p.peer, p.client, p.request_id, &message);
            self.stats.replies += 1;
            return;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.in_flight.insert((p.client, p.request_id));
        self.pending.insert(token, p);
        self.storage.push_back((token, op));
    }

    /// Encodes, caches and sends a reply. `busy` is not cached: a retry should try again.
    fn reply(&mut self, peer: &SocketAddr, client: PublicKey, request_id: u64, reply: &Reply) {
        let message = reply.encode();
        self.send_message(peer, client, request_id, &message);
        self.stats.replies += 1;
        if reply.status != Status::Busy {
            self.replies.put(client, request_id, *peer, message);
        }
    }

    /// Fragments, seals and queues a reply message.
    fn send_message(
        &mut self,
        peer: &SocketAddr,
        client: PublicKey,
        request_id: u64,
        message: &[u8],
    ) {
        let Ok(parts) = wire::fragment(true, request_id, message) else {
            *self.stats.drops.entry("reply_too_long").or_default() += 1;
            return;
        };
        let ours = self.keypair.public_key();
        for plain in parts {
            if self.transmits.len() >= self.config.max_transmits {
                *self.stats.drops.entry("transmit_queue_full").or_default() += 1;
                return;
            }
            let mut nonce = [0u8; 24];
            self.rng.fill_bytes(&mut nonce);
            let Some(shared) = self.keys.get(&self.keypair, &client) else {
                return;
            };
            let payload = wire::seal(shared, &client, &ours, &nonce, &plain);
            self.transmits.push_back(Transmit {
                destination: *peer,
                payload,
            });
            self.stats.datagrams_out += 1;
        }
    }

    /// Deterministic fake salt and parameters for an unknown name: the same name always gets
    /// the same answer, and it looks like a calibrated account's.
    fn fake_credentials(&self, name: &str) -> (KdfParams, [u8; wire::SALT_LEN]) {
        let mut okm = [0u8; 17];
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(&self.config.fake_secret), name.as_bytes())
            .expand(b"dhtchat index v1 fake salt", &mut okm);
        let mut salt = [0u8; wire::SALT_LEN];
        salt.copy_from_slice(&okm[..16]);
        let params = KdfParams {
            m_kib: 64 * 1024,
            t: 2 + u32::from(okm[16] % 6),
            p: 1,
        };
        (params, salt)
    }

    /// Messages in reassembly, requests waiting for storage, live sessions.
    pub fn load(&self) -> (usize, usize, usize) {
        (
            self.assemblies.len(),
            self.pending.len(),
            self.sessions.len(),
        )
    }
}

fn rate(burst: u32, refill: Duration) -> Rate {
    Rate { burst, refill }
}
