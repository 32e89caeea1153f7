//! Direct PMs between two online accounts (PROTOCOL.md §8.14), sans-IO: `now` (and the
//! Unix time where a signed expiry is checked) are arguments, randomness is a seeded
//! ChaCha20, datagrams and events are drained with [`DirectPms::poll_transmit`] and
//! [`DirectPms::poll_event`].
//!
//! Inner payloads, in the standard envelope (§2) between two direct endpoints' node keys:
//!
//! | inner id | payload | body                                                         |
//! |----------|---------|--------------------------------------------------------------|
//! | 54       | PM      | `[client message id u64][sender name][len u16][sealed body]` |
//! | 55       | PM ack  | `[client message id u64]`                                    |
//!
//! The sealed body is the mailbox's (§8.10): crypto_box from the sender's account identity
//! to the recipient's. A PM is shown only if its sender's account key is one the index gave
//! us for that name ([`DirectPms::learn`]) and the body opens under it; otherwise it is a
//! counted drop. A PM from a name we have no key for is held (at most [`MAX_HELD`], for
//! [`HOLD`]) while the app looks the key up ([`DirectEvent::NeedKey`]); a held PM is shown
//! only once that key opens it.
//! A sender re-sends every [`RETRY`] up to [`TRIES`] times to every live device of the
//! recipient; without an ack it reports [`DirectEvent::Undelivered`] with the same client id
//! and sealed body, for the mailbox.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{MAX_DEVICES, PresenceEntry};
use crate::crypto::{self, BoxKeypair, Identity, SharedKeys};
use crate::index::client::{open_pm, seal_pm};
use crate::index::limits::{Rate, RateTable};
use crate::index::names::{MAX_USERNAME, normalize_username};
use crate::index::wire::{BOX_OVERHEAD, put_name, put_short_bytes, read_name};
use crate::wire::{MAX_PLAINTEXT, NONCE_LEN, PublicKey, Reader};

/// Inner id of a direct PM.
pub const DIRECT_PM: u8 = 54;
/// Inner id of its acknowledgement.
pub const DIRECT_ACK: u8 = 55;
/// Wait for an ack before sending again.
pub const RETRY: Duration = Duration::from_millis(700);
/// Sends per PM before it goes to the mailbox (3 × 700 ms: about 2 s).
pub const TRIES: u32 = 3;
/// Longest sealed body that fits one datagram: 919 − 1 − 8 − 33 − 2 = 875 bytes.
pub const MAX_DIRECT_BODY: usize = MAX_PLAINTEXT - 1 - 8 - (1 + MAX_USERNAME) - 2;
/// Longest text sent direct (longer PMs go to the mailbox): 835 bytes.
pub const MAX_DIRECT_TEXT: usize = MAX_DIRECT_BODY - BOX_OVERHEAD;
/// PMs waiting for an ack at once.
pub const MAX_PENDING: usize = 64;
/// Account keys and presences remembered.
pub const MAX_ACCOUNTS: usize = 256;
/// A looked-up presence is used this long, then looked up again.
pub const PRESENCE_CACHE: Duration = Duration::from_secs(30);
/// PMs held while their sender's key is looked up.
pub const MAX_HELD: usize = 32;
/// A held PM is shown if the key arrives within this; later, the sender's retry or the
/// mailbox brings it.
pub const HOLD: Duration = Duration::from_secs(5);
/// Key lookups asked for unknown senders, in all: a burst of 8, then one per second (a
/// flood under made-up names cannot make us flood the index).
pub const ASK_RATE: (u32, Duration) = (8, Duration::from_secs(1));
/// Datagrams per source IP: a burst of 64, then one per 10 ms (before any X25519).
pub const IP_RATE: (u32, Duration) = (64, Duration::from_millis(10));

/// The plaintext of a direct PM (inner id 54).
pub fn encode_pm(client_id: u64, sender: &str, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(1 + 8 + 1 + sender.len() + 2 + body.len());
    plain.push(DIRECT_PM);
    plain.extend_from_slice(&client_id.to_be_bytes());
    put_name(&mut plain, sender);
    put_short_bytes(&mut plain, body);
    plain
}

/// The plaintext of an ack (inner id 55).
pub fn encode_ack(client_id: u64) -> Vec<u8> {
    let mut plain = vec![DIRECT_ACK];
    plain.extend_from_slice(&client_id.to_be_bytes());
    plain
}

/// What the app hears from [`DirectPms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectEvent {
    /// An authenticated PM (shown by the app, de-duplicated by `nonce` with the mailbox).
    Received {
        /// The sender's username.
        from: String,
        /// The sender's client message id.
        client_id: u64,
        /// The text.
        text: String,
        /// The sealed body's nonce: the same in a mailbox copy of this PM.
        nonce: [u8; NONCE_LEN],
    },
    /// A device of the recipient acknowledged the PM.
    Delivered {
        /// Recipient.
        to: String,
        /// Client message id.
        client_id: u64,
    },
    /// No ack after [`TRIES`] sends: store `body` in the mailbox under `client_id`.
    Undelivered {
        /// Recipient.
        to: String,
        /// Client message id.
        client_id: u64,
        /// The sealed body sent (the same nonce, so the recipient shows it once).
        body: Vec<u8>,
    },
    /// A PM came from a name whose key we do not know: look it up (the sender retries).
    NeedKey(String),
}

/// How a PM to an account can go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Its key and a live presence are known.
    Direct,
    /// Its key is known and it has no live presence: the mailbox.
    Offline,
    /// Look it up first.
    Unknown,
}

/// Why [`DirectPms::send`] did not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// Not logged in, no key or no presence: use the mailbox (or look up first).
    NoRoute,
    /// Longer than [`MAX_DIRECT_TEXT`]: use the mailbox.
    TooLong,
    /// [`MAX_PENDING`] PMs wait for acks.
    Busy,
}

#[derive(Debug, Clone)]
struct Known {
    key: [u8; 32],
    entries: Vec<PresenceEntry>,
    until: Instant,
}

/// A PM from a sender whose key is being looked up.
#[derive(Debug)]
struct Held {
    name: String,
    from: SocketAddr,
    sender: PublicKey,
    client_id: u64,
    body: Vec<u8>,
    at: Instant,
}

#[derive(Debug)]
struct Pending {
    to: String,
    client_id: u64,
    body: Vec<u8>,
    targets: Vec<(PublicKey, SocketAddr)>,
    tries: u32,
    next: Instant,
}

/// The direct endpoint's protocol state; see the module docs. One per running client.
pub struct DirectPms {
    keypair: BoxKeypair,
    index: [u8; 32],
    shared: SharedKeys,
    me: Option<(String, Identity)>,
    known: LruCache<String, Known>,
    asked: LruCache<String, Instant>,
    pending: Vec<Pending>,
    held: VecDeque<Held>,
    limits: RateTable<IpAddr>,
    asks: RateTable<()>,
    rng: ChaCha20Rng,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DirectEvent>,
    drops: BTreeMap<&'static str, u64>,
}

impl std::fmt::Debug for DirectPms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPms")
            .field("node_key", &self.keypair.public_key().fmt_short())
            .field("pending", &self.pending.len())
            .field("drops", &self.drops)
            .finish_non_exhaustive()
    }
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
}

impl DirectPms {
    /// An endpoint with the X25519 secret `secret` (its node key), for the index `index`.
    pub fn new(secret: [u8; 32], index: [u8; 32], rng_seed: [u8; 32]) -> Self {
        let (burst, refill) = IP_RATE;
        Self {
            keypair: BoxKeypair::from_secret_bytes(secret),
            index,
            shared: SharedKeys::new(NonZeroUsize::new(MAX_ACCOUNTS).unwrap_or(NonZeroUsize::MIN)),
            me: None,
            known: lru(MAX_ACCOUNTS),
            asked: lru(MAX_ACCOUNTS),
            pending: Vec::new(),
            held: VecDeque::new(),
            limits: RateTable::new(Rate { burst, refill }, 1024),
            asks: RateTable::new(
                Rate {
                    burst: ASK_RATE.0,
                    refill: ASK_RATE.1,
                },
                1,
            ),
            rng: ChaCha20Rng::from_seed(rng_seed),
            out: VecDeque::new(),
            events: VecDeque::new(),
            drops: BTreeMap::new(),
        }
    }

    /// The node key this device publishes and receives direct PMs on: the one accessor.
    pub fn node_key(&self) -> PublicKey {
        self.keypair.public_key()
    }

    /// Dropped datagrams by reason.
    pub fn drops(&self) -> &BTreeMap<&'static str, u64> {
        &self.drops
    }

    /// The account now logged in (`name` normalised) and its identity.
    pub fn login(&mut self, name: &str, identity: Identity) {
        self.me = Some((name.to_owned(), identity));
    }

    /// Logged out: PMs waiting for acks go to [`DirectEvent::Undelivered`] at once.
    pub fn logout(&mut self) {
        self.me = None;
        for p in std::mem::take(&mut self.pending) {
            self.undelivered(p);
        }
    }

    /// What the index said about `name`: its account key (Ed25519) and presence. Entries
    /// not signed by that key for this index, or expired at `unix_now`, are ignored.
    pub fn learn(
        &mut self,
        now: Instant,
        unix_now: u64,
        name: &str,
        key: [u8; 32],
        entries: &[PresenceEntry],
    ) {
        let entries: Vec<PresenceEntry> = entries
            .iter()
            .filter(|e| e.expires > unix_now && e.verify(name, &key, &self.index))
            .filter(|e| crypto::is_acceptable_key(&PublicKey(e.node_key)))
            .take(MAX_DEVICES)
            .copied()
            .collect();
        let until = now + PRESENCE_CACHE;
        self.known.put(
            name.to_owned(),
            Known {
                key,
                entries,
                until,
            },
        );
        self.release(now, name);
    }

    /// Forgets the presence of `name` (its key stays known).
    pub fn forget_presence(&mut self, name: &str) {
        if let Some(k) = self.known.get_mut(name) {
            k.entries.clear();
        }
    }

    /// How a PM to `name` can go now.
    pub fn route(&mut self, now: Instant, name: &str) -> Route {
        match self.known.get(name) {
            Some(k) if k.until <= now => Route::Unknown,
            Some(k) if k.entries.is_empty() => Route::Offline,
            Some(_) => Route::Direct,
            None => Route::Unknown,
        }
    }

    /// Seals `text` to `to` and sends it to each of its live devices.
    pub fn send(
        &mut self,
        now: Instant,
        to: &str,
        client_id: u64,
        text: &str,
    ) -> Result<(), NotSent> {
        if text.is_empty() || text.len() > MAX_DIRECT_TEXT {
            return Err(NotSent::TooLong);
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(NotSent::Busy);
        }
        if self.route(now, to) != Route::Direct {
            return Err(NotSent::NoRoute);
        }
        let Some(k) = self.known.peek(to) else {
            return Err(NotSent::NoRoute);
        };
        let key = k.key;
        let targets: Vec<(PublicKey, SocketAddr)> = k
            .entries
            .iter()
            .map(|e| (PublicKey(e.node_key), e.addr))
            .collect();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        let Some((_, identity)) = &self.me else {
            return Err(NotSent::NoRoute);
        };
        let body = seal_pm(identity, &key, nonce, text).ok_or(NotSent::NoRoute)?;
        self.pending.push(Pending {
            to: to.to_owned(),
            client_id,
            body,
            targets,
            tries: 0,
            next: now,
        });
        let last = self.pending.len() - 1;
        let plain = self.pm_plain(&self.pending[last]);
        self.transmit_pending(last, now, &plain);
        Ok(())
    }

    fn pm_plain(&self, p: &Pending) -> Vec<u8> {
        let me = self
            .me
            .as_ref()
            .map(|(n, _)| n.as_str())
            .unwrap_or_default();
        encode_pm(p.client_id, me, &p.body)
    }

    fn transmit_pending(&mut self, i: usize, now: Instant, plain: &[u8]) {
        let targets = self.pending[i].targets.clone();
        for (key, addr) in targets {
            self.seal_to(&key, addr, plain);
        }
        let p = &mut self.pending[i];
        p.tries += 1;
        p.next = now + RETRY;
    }

    fn seal_to(&mut self, key: &PublicKey, addr: SocketAddr, plain: &[u8]) {
        let Some(shared) = self.shared.get(&self.keypair, key) else {
            return;
        };
        let nonce = crypto::random_nonce(&mut self.rng);
        let ours = self.keypair.public_key();
        let d = crate::index::wire::seal(shared, key, &ours, &nonce, plain);
        self.out.push_back((addr, d));
    }

    /// When [`Self::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.next).min()
    }

    /// Re-sends what is due; gives up on PMs sent [`TRIES`] times.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].next > now {
                i += 1;
            } else if self.pending[i].tries >= TRIES {
                let p = self.pending.remove(i);
                self.forget_presence(&p.to.clone());
                self.undelivered(p);
            } else {
                let plain = self.pm_plain(&self.pending[i]);
                self.transmit_pending(i, now, &plain);
                i += 1;
            }
        }
    }

    fn undelivered(&mut self, p: Pending) {
        self.events.push_back(DirectEvent::Undelivered {
            to: p.to,
            client_id: p.client_id,
            body: p.body,
        });
    }

    fn drop_as(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if !self.limits.take(from.ip(), now) {
            return self.drop_as("over_limit");
        }
        let mut scratch = [0u8; MAX_PLAINTEXT];
        let Ok((sender, plain)) =
            crypto::open_datagram(&self.keypair, &mut self.shared, datagram, &mut scratch)
        else {
            return self.drop_as("bad_envelope");
        };
        let plain = plain.to_vec();
        let mut r = Reader::new(&plain);
        let result = match r.u8() {
            Ok(DIRECT_PM) => self.on_pm(now, from, sender, &mut r),
            Ok(DIRECT_ACK) => self.on_ack(sender, &mut r),
            _ => Err("unknown_payload"),
        };
        if let Err(reason) = result {
            self.drop_as(reason);
        }
    }

    fn on_pm(
        &mut self,
        now: Instant,
        from: SocketAddr,
        sender: PublicKey,
        r: &mut Reader<'_>,
    ) -> Result<(), &'static str> {
        let client_id = r.u64_be().map_err(|_| "bad_payload")?;
        let name = read_name(r, MAX_USERNAME).map_err(|_| "bad_payload")?;
        let body =
            crate::index::wire::read_short_bytes(r, (BOX_OVERHEAD + 1, MAX_DIRECT_BODY), "body")
                .map_err(|_| "bad_payload")?;
        if r.remaining() != 0 {
            return Err("bad_payload");
        }
        let name = normalize_username(&name).ok_or("bad_payload")?;
        if self.me.is_none() {
            return Err("logged_out");
        }
        let pm = Held {
            name,
            from,
            sender,
            client_id,
            body,
            at: now,
        };
        if !self.known.contains(&pm.name) {
            self.ask(now, pm.name.clone());
            if self.held.len() >= MAX_HELD {
                self.held.pop_front();
                self.drop_as("held_evicted");
            }
            self.held.push_back(pm);
            return Err("unknown_sender");
        }
        self.accept(pm)
    }

    /// Opens a PM from a sender whose key we know, acknowledges and reports it.
    fn accept(&mut self, pm: Held) -> Result<(), &'static str> {
        let (Some((_, identity)), Some(known)) = (&self.me, self.known.peek(&pm.name)) else {
            return Err("logged_out");
        };
        let text = open_pm(identity, &known.key, &pm.body).ok_or("bad_seal")?;
        let nonce: [u8; NONCE_LEN] = pm.body[..NONCE_LEN].try_into().map_err(|_| "bad_payload")?;
        self.seal_to(&pm.sender, pm.from, &encode_ack(pm.client_id));
        self.events.push_back(DirectEvent::Received {
            from: pm.name,
            client_id: pm.client_id,
            text,
            nonce,
        });
        Ok(())
    }

    /// The PMs held for `name` (not older than [`HOLD`]), now that its key is known.
    fn release(&mut self, now: Instant, name: &str) {
        let (ready, rest): (VecDeque<Held>, VecDeque<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.name == name);
        self.held = rest;
        for pm in ready {
            if now.saturating_duration_since(pm.at) > HOLD {
                self.drop_as("held_expired");
            } else if let Err(reason) = self.accept(pm) {
                self.drop_as(reason);
            }
        }
    }

    /// Asks the app to look `name` up, at most once per [`RETRY`] and within [`ASK_RATE`].
    fn ask(&mut self, now: Instant, name: String) {
        if let Some(at) = self.asked.get(&name) {
            if now < *at + RETRY {
                return;
            }
        }
        if !self.asks.take((), now) {
            return self.drop_as("ask_limited");
        }
        self.asked.put(name.clone(), now);
        self.events.push_back(DirectEvent::NeedKey(name));
    }

    fn on_ack(&mut self, sender: PublicKey, r: &mut Reader<'_>) -> Result<(), &'static str> {
        let client_id = r.u64_be().map_err(|_| "bad_payload")?;
        if r.remaining() != 0 {
            return Err("bad_payload");
        }
        let i = self
            .pending
            .iter()
            .position(|p| p.client_id == client_id && p.targets.iter().any(|(k, _)| *k == sender))
            .ok_or("unexpected_ack")?;
        let p = self.pending.remove(i);
        self.events.push_back(DirectEvent::Delivered {
            to: p.to,
            client_id,
        });
        Ok(())
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    /// The next event for the app.
    pub fn poll_event(&mut self) -> Option<DirectEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
