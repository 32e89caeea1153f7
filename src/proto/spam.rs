//! Spam control of one group (PROTOCOL.md §6.7): the per-origin token bucket that every relay
//! applies, the per-(hop, origin) relay check, and the graylist of hops that keep sending
//! invalid or over-limit traffic.
//!
//! - **Origin bucket** (held in each `Member`, so it goes when the member goes): an origin's
//!   broadcasts pass at most `origin_rate` (burst, per second) at every node, taken after the
//!   signature verified, so a forger cannot drain an honest origin's bucket.
//! - **Relay check**: a hop forwards one origin's messages to us at most at twice the origin
//!   burst and the origin rate. An honest relay forwards only what passed its own origin
//!   bucket, so it stays inside this check; only a hop that exceeds it is penalised. Being
//!   over *our* origin bucket is never the relay's fault (different relays admit different
//!   messages of a flood) and is never penalised by itself.
//! - **Rate classes** ([`Class`]): new_peer, sent on others' behalf, has its own buckets
//!   (`announce_rate`) and is never penalised, so a join flood through a member slows joins
//!   but never its own chat nor graylists it; quit is not limited.
//! - **Hop score**: points for provable misbehaviour of the hop (see [`weight`]), decaying
//!   linearly; at `graylist_threshold` the hop is graylisted for `graylist_cooldown`: all its
//!   datagrams are dropped before the shared key is even looked up.
//!
//! A relay bucket is keyed by a 64-bit keyed hash of (hop, origin, class) rather than the
//! 65-byte triple, and holds its last refill as nanoseconds after the guard's first use
//! ([`RelayBucket`], 16 bytes instead of 24): 24 bytes an entry (benches/README.md, "Memory
//! per node"). The key is
//! the process's random `RandomState`, so no one can aim two triples at one bucket; an
//! accidental collision (about 2^-64 per pair) only makes two pairs share one limit.
//!
//! All maps are bounded by `max_scored_peers`; when full, entries that hold no information
//! (score decayed to zero, bucket refilled) are forgotten first, and if none can be, the new
//! key is simply not tracked (no penalty rather than unbounded state).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use super::{Config, DropReason};
use crate::wire::PublicKey;

/// One token, in the bucket's unit (billionths of a token). Any burst up to `u32::MAX`
/// doubled fits a `u64` of billionths (8.6e18 < 1.8e19).
const ONE: u64 = 1_000_000_000;

/// Points per score unit (scores are kept in thousandths so decay is not rounded away).
const MILLI: u64 = 1000;

/// Points a drop reason adds to the score of the hop that sent the datagram. Only reasons an
/// honest hop never causes weigh: it relays only broadcasts that passed its own checks (right
/// dialect, good signature, decodable body) and only seals payloads that decode. A bad body
/// weighs little: a newer relay may forward a message id we do not know yet.
pub(crate) fn weight(reason: DropReason) -> u32 {
    match reason {
        DropReason::BadSignature | DropReason::WrongDialect | DropReason::BadPayload => 10,
        DropReason::BadBody | DropReason::RelayOverLimit => 1,
        _ => 0,
    }
}

/// A token bucket of `burst` tokens refilled at `rate` per second; starts full.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bucket {
    /// Tokens spent below full, in billionths (0 = full), so a new bucket needs no burst.
    deficit: u64,
    /// Last refill; `None` while untouched.
    last: Option<Instant>,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: u32) {
        let ns = self
            .last
            .map_or(0, |t| now.saturating_duration_since(t).as_nanos());
        let ns = u64::try_from(ns).unwrap_or(u64::MAX);
        self.deficit = (self.deficit).saturating_sub(ns.saturating_mul(u64::from(rate)));
        self.last = Some(now);
    }

    /// Refills, then takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant, (burst, rate): (u32, u32)) -> bool {
        self.refill(now, rate);
        let ok = self.deficit + ONE <= u64::from(burst) * ONE;
        if ok {
            self.deficit += ONE;
        }
        ok
    }

    /// Refills, then says whether a token is there, taking none.
    pub(crate) fn has(&mut self, now: Instant, (burst, rate): (u32, u32)) -> bool {
        self.refill(now, rate);
        self.deficit + ONE <= u64::from(burst) * ONE
    }

    /// Refills, then says whether the bucket is full (as good as a new one).
    pub(crate) fn is_full(&mut self, now: Instant, rate: u32) -> bool {
        self.refill(now, rate);
        self.deficit == 0
    }
}

/// A [`Bucket`] kept in 16 bytes: its last refill as nanoseconds after the guard's epoch
/// (its first `now`; the node's clock never goes back), [`RelayBucket::UNTOUCHED`] for none.
#[derive(Debug, Clone, Copy)]
struct RelayBucket {
    deficit: u64,
    last: u64,
}

impl RelayBucket {
    const UNTOUCHED: u64 = u64::MAX;
    const NEW: Self = Self {
        deficit: 0,
        last: Self::UNTOUCHED,
    };

    fn load(self, epoch: Instant) -> Bucket {
        let at = |ns| epoch.checked_add(Duration::from_nanos(ns)).unwrap_or(epoch);
        Bucket {
            deficit: self.deficit,
            last: (self.last != Self::UNTOUCHED).then(|| at(self.last)),
        }
    }

    fn store(b: Bucket, epoch: Instant) -> Self {
        let ns = |t: Instant| t.saturating_duration_since(epoch).as_nanos();
        let last = b.last.map_or(Self::UNTOUCHED, |t| {
            u64::try_from(ns(t)).map_or(Self::UNTOUCHED - 1, |n| n.min(Self::UNTOUCHED - 1))
        });
        Self {
            deficit: b.deficit,
            last,
        }
    }

    /// Runs `f` on the bucket as a [`Bucket`] and keeps what it changed.
    fn with<T>(&mut self, epoch: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut b = self.load(epoch);
        let out = f(&mut b);
        *self = Self::store(b, epoch);
        out
    }
}

/// The misbehaviour score of one hop.
#[derive(Debug, Clone, Copy)]
struct Score {
    milli: u64,
    last: Instant,
    /// Graylisted until then.
    until: Option<Instant>,
}

impl Score {
    fn decay(&mut self, now: Instant, per_sec: u32) {
        let ms = now.saturating_duration_since(self.last).as_millis();
        let gone = u64::try_from(ms.saturating_mul(u128::from(per_sec))).unwrap_or(u64::MAX);
        self.milli = self.milli.saturating_sub(gone);
        self.last = now;
    }
}

/// Hop scores and relay buckets of one group. See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpamGuard {
    scores: HashMap<PublicKey, Score>,
    /// Keyed by `hasher`'s hash of (hop, origin, class).
    relays: HashMap<u64, RelayBucket>,
    hasher: RandomState,
    /// The relay buckets' time origin: the first `now` they saw.
    epoch: Option<Instant>,
}

impl SpamGuard {
    /// True while `hop` is graylisted. An expired graylisting is forgotten with its score.
    pub(crate) fn is_graylisted(&mut self, hop: &PublicKey, now: Instant) -> bool {
        match self.scores.get(hop).and_then(|s| s.until) {
            Some(until) if now < until => true,
            Some(_) => {
                self.scores.remove(hop);
                false
            }
            None => false,
        }
    }

    /// True while `hop` is graylisted (read-only).
    pub(crate) fn graylisted(&self, hop: &PublicKey, now: Instant) -> bool {
        self.scores
            .get(hop)
            .and_then(|s| s.until)
            .is_some_and(|until| now < until)
    }

    /// Adds the weight of `reason` to `hop`'s score; true if this graylisted it.
    pub(crate) fn penalise(
        &mut self,
        hop: PublicKey,
        reason: DropReason,
        now: Instant,
        config: &Config,
    ) -> bool {
        let points = u64::from(weight(reason)) * MILLI;
        if points == 0 || !self.make_room_for_score(&hop, now, config) {
            return false;
        }
        let score = self.scores.entry(hop).or_insert(Score {
            milli: 0,
            last: now,
            until: None,
        });
        if score.until.is_some() {
            return false;
        }
        score.decay(now, config.graylist_decay);
        score.milli = score.milli.saturating_add(points);
        if score.milli >= u64::from(config.graylist_threshold) * MILLI {
            score.until = Some(now + config.graylist_cooldown);
            return true;
        }
        false
    }

    /// Takes a token from `hop`'s relay bucket for `origin`'s messages of `class` (twice the
    /// class's burst, its rate). Over it: `relay_over_limit` for the origin's own messages
    /// (penalised: an honest relay forwards only what passed its own bucket); for
    /// announcements `announce_over_limit`, never penalised, so a join flood through a member
    /// graylists no relay. An untracked triple (tables full) passes.
    pub(crate) fn relay_within(
        &mut self,
        (hop, origin, class): (PublicKey, PublicKey, Class),
        now: Instant,
        config: &Config,
    ) -> Result<(), DropReason> {
        let (burst, rate, reason) = match class {
            Class::Free => return Ok(()),
            Class::Own => (
                config.origin_rate.0,
                config.origin_rate.1,
                DropReason::RelayOverLimit,
            ),
            Class::Announce => (
                config.announce_rate.0,
                config.announce_rate.1,
                DropReason::AnnounceOverLimit,
            ),
        };
        let cap = config.max_scored_peers;
        let id = self.hasher.hash_one((hop, origin, class));
        let epoch = *self.epoch.get_or_insert(now);
        if !self.relays.contains_key(&id) && self.relays.len() >= cap {
            (self.relays).retain(|_, b| !b.with(epoch, |b| b.is_full(now, rate)));
            if self.relays.len() >= cap {
                return Ok(());
            }
        }
        let bucket = self.relays.entry(id).or_insert(RelayBucket::NEW);
        match bucket.with(epoch, |b| b.take(now, (burst.saturating_mul(2), rate))) {
            true => Ok(()),
            false => Err(reason),
        }
    }

    /// Whether a score for `hop` can be kept, forgetting spent scores if the map is full.
    fn make_room_for_score(&mut self, hop: &PublicKey, now: Instant, config: &Config) -> bool {
        if self.scores.contains_key(hop) || self.scores.len() < config.max_scored_peers {
            return true;
        }
        let per_sec = config.graylist_decay;
        self.scores.retain(|_, s| {
            s.decay(now, per_sec);
            s.milli > 0 || s.until.is_some_and(|u| now < u)
        });
        self.scores.len() < config.max_scored_peers
    }

    /// (scored hops, tracked relay pairs), for [`super::StateSizes`].
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.scores.len(), self.relays.len())
    }
}

/// Sizes of a node's bounded state, summed over its groups: what an attacker could try to
/// grow. From [`super::Node::state_sizes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSizes {
    /// Precomputed shared keys cached.
    pub shared_keys: usize,
    /// Source IPs tracked by the probe limiter.
    pub limiter_ips: usize,
    /// Outstanding get_nodes requests.
    pub pending: usize,
    /// Members remembered.
    pub members: usize,
    /// In-links remembered.
    pub in_links: usize,
    /// Hops with a spam score.
    pub scored_hops: usize,
    /// (hop, origin) relay buckets.
    pub relay_pairs: usize,
    /// Datagrams waiting in `poll_transmit`.
    pub transmits: usize,
    /// Events waiting in `poll_event`.
    pub events: usize,
}

/// The rate class of a message id (PROTOCOL.md §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// The origin's own messages (chat, name, ping, topic, facts, …): `Config::origin_rate`.
    Own,
    /// Sent on others' behalf (new_peer): `Config::announce_rate`, a bucket of its own.
    Announce,
    /// Not rate limited: quit, which each member sends once per membership and which others
    /// must see to stop relaying to it.
    Free,
}

/// The rate class of `message_id`.
pub(crate) fn class(message_id: u8) -> Class {
    use crate::wire::message::MessageId;
    match message_id {
        id if id == MessageId::Quit as u8 => Class::Free,
        id if id == MessageId::NewPeer as u8 => Class::Announce,
        _ => Class::Own,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(i: u8) -> PublicKey {
        PublicKey([i; 32])
    }

    #[test]
    fn bucket_gives_burst_then_rate() {
        let t0 = crate::test_epoch();
        let mut b = Bucket::default();
        assert_eq!((0..100).filter(|_| b.take(t0, (20, 5))).count(), 20);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!((0..100).filter(|_| b.take(t1, (20, 5))).count(), 10);
    }

    #[test]
    fn offences_graylist_and_the_graylisting_expires() {
        let t0 = crate::test_epoch();
        let c = Config::new([0; 32]);
        let mut g = SpamGuard::default();
        let n = c.graylist_threshold / weight(DropReason::BadSignature);
        for i in 0..n {
            let hit = g.penalise(key(1), DropReason::BadSignature, t0, &c);
            assert_eq!(hit, i + 1 == n);
        }
        assert!(g.is_graylisted(&key(1), t0));
        assert!(!g.is_graylisted(&key(2), t0));
        assert!(!g.is_graylisted(&key(1), t0 + c.graylist_cooldown));
        assert_eq!(g.sizes().0, 0, "an expired graylisting is forgotten");
    }

    #[test]
    fn harmless_reasons_weigh_nothing_and_scores_decay() {
        let t0 = crate::test_epoch();
        let c = Config::new([0; 32]);
        let mut g = SpamGuard::default();
        for r in [
            DropReason::Duplicate,
            DropReason::OverLimit,
            DropReason::Decrypt,
        ] {
            assert!(!g.penalise(key(1), r, t0, &c));
        }
        assert_eq!(g.sizes().0, 0);
        // One bad signature a second (10 points) never outgrows a decay of 10 points a second.
        for s in 0..100u64 {
            let t = t0 + Duration::from_secs(s);
            assert!(!g.penalise(key(1), DropReason::BadSignature, t, &c));
        }
        assert!(!g.is_graylisted(&key(1), t0 + Duration::from_secs(100)));
    }

    #[test]
    fn announcements_have_their_own_relay_bucket_and_cost_no_points() {
        let t0 = crate::test_epoch();
        let c = Config::new([0; 32]);
        let mut g = SpamGuard::default();
        let ann = (key(1), key(2), Class::Announce);
        let refused = (0..1000)
            .filter(|_| g.relay_within(ann, t0, &c).is_err())
            .count();
        assert_eq!(refused, 1000 - 2 * c.announce_rate.0 as usize);
        assert_eq!(weight(DropReason::AnnounceOverLimit), 0);
        let own = (key(1), key(2), Class::Own);
        assert_eq!(g.relay_within(own, t0, &c), Ok(()), "chat unaffected");
        assert_eq!(
            class(crate::wire::message::MessageId::NewPeer as u8),
            Class::Announce
        );
    }

    #[test]
    fn relay_pairs_are_bounded() {
        let t0 = crate::test_epoch();
        let mut c = Config::new([0; 32]);
        c.max_scored_peers = 8;
        let mut g = SpamGuard::default();
        for i in 0..100 {
            let id = (key(i), key(0), Class::Own);
            assert_eq!(g.relay_within(id, t0, &c), Ok(()));
        }
        assert!(g.sizes().1 <= 8);
    }

    #[test]
    fn a_relay_bucket_in_16_bytes_answers_as_a_bucket() {
        assert_eq!(std::mem::size_of::<RelayBucket>(), 16);
        let t0 = crate::test_epoch();
        let mut plain = Bucket::default();
        let mut packed = RelayBucket::NEW;
        let mut now = t0;
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Steps of 0 to about 4 ms, with odd nanoseconds, and now and then a long pause.
            let step = match x % 97 {
                0 => Duration::from_secs(x % 40),
                _ => Duration::from_nanos(x % 4_000_007),
            };
            now += step;
            let limits = (4 + (x >> 40) as u32 % 8, 50 + (x >> 50) as u32 % 100);
            let (a, b) = match i % 5 {
                0 => (
                    plain.is_full(now, limits.1),
                    packed.with(t0, |b| b.is_full(now, limits.1)),
                ),
                _ => (
                    plain.take(now, limits),
                    packed.with(t0, |b| b.take(now, limits)),
                ),
            };
            assert_eq!(a, b, "step {i}");
            assert_eq!(plain.deficit, packed.deficit, "step {i}");
        }
    }
}
