//! Anti-entropy repair (PROTOCOL.md §6.11): a broadcast whose every relayed copy to a node was
//! lost, or that the random relay draws passed by, still reaches it.
//!
//! - Every broadcast a group relays (and each of our own) is kept in [`Recent`], bounded by
//!   `recent_max` messages and `recent_ttl`, and its (origin, number) for `seen_ttl` (at
//!   most `seen_max`). A group whose newest kept broadcast is younger than `have_active` is
//!   *active*.
//! - An active group sends a have summary (id 53) every `have_interval` (jittered ±50 %;
//!   with the eager tree, paced by how many copies arrived in the last second; every
//!   `have_active` while those were all pings): a
//!   Bloom filter, freshly salted, of every id held. It goes to a random relay target among
//!   those that no broadcast went to or came from since our newest copy arrived (the peers
//!   likeliest to have missed it), or among all when there are none.
//! - The summary's span says how far back the filter is complete: `seen_ttl`, or less once
//!   the ids have had to drop their oldest at `seen_max`.
//! - A have from a validated peer is answered with the kept broadcasts that its filter does
//!   not hold, unchanged, oldest first: only those at least `have_grace` old (copies still
//!   in flight are not re-sent) and younger than its span less [`SPAN_MARGIN`] (the peer
//!   may have let an older copy go), at most `have_reply_max` per summary and `repair_rate`
//!   in all. A false positive of the filter (about 1 %) only defers a repair
//!   to the next summary, whose salt differs.
//! - An *inactive* group (it sends no summaries), or one that kept only pings in the last
//!   `have_active` (its summaries are a second apart), that is sent a non-empty summary also
//!   answers with its own, flagged `reply`, so the peer sends what it misses: this repairs
//!   the first message after a silence. A reply is never answered with a summary.
//! - A repaired broadcast goes through the normal checks (§6.4), and is relayed again.
//! - A duplicate whose id we no longer hold is listed again ([`Group::remember_duplicate`]):
//!   a peer that took it in seconds after us re-sent it, and others would too.
//! - In secure groups this is also the lazy half of the eager tree (`tree.rs`, §6.12): the
//!   pruned links are the peers summaries go to first, and answering a summary with missing
//!   copies grafts the asker's link.
//! - Secure groups only: a 2014 peer cannot read a have, so a legacy group neither sends
//!   one nor answers one (`wrong_dialect`), PROTOCOL.md §1.2.

mod copies;
mod ids;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::group::Group;
use super::io::Io;
use super::tree::{Kind, send_as};
use super::{Dialect, DropReason};
use crate::wire::{
    BloomBuilder, Broadcast, ENVELOPE_HEADER_LEN, Have, MAC_LEN, MessageId, Payload, PublicKey,
};

/// Bytes a datagram adds to its plaintext: envelope header and MAC.
const DATAGRAM_OVERHEAD: usize = ENVELOPE_HEADER_LEN + MAC_LEN;

/// Copies arrive at different nodes at different times: a kept broadcast is re-sent only if
/// it is at least this much younger than the asker's span.
const SPAN_MARGIN: Duration = Duration::from_millis(250);

/// With the eager tree, the summary interval grows by one `have_interval` per this many
/// copies kept in the last `have_active` (PROTOCOL.md §6.11).
const HAVE_PACE_STEP: usize = 10;

/// At most this many `have_interval`s between summaries (400 ms at the default 50 ms).
const HAVE_PACE_MAX: usize = 8;

/// Most peers whose last broadcast exchange is remembered; past it the record starts over.
const EXCHANGED_MAX: usize = 512;

/// Filter bits per id, and bits set per item: about 1 % false positives (the filter is
/// capped at 906 bytes, so above 724 ids there are fewer bits each and more of them).
const BITS_PER_ITEM: usize = 10;
const HASHES: u8 = 5;

/// One relayed broadcast, as sent: the plaintext `[inner id][data]`; `None` once the
/// history log holds it (`repair/copies.rs`).
#[derive(Debug, Clone)]
struct Cached {
    origin: PublicKey,
    number: u32,
    at: Instant,
    plain: Option<Box<[u8]>>,
}

/// The broadcasts a group relayed recently, oldest first: whole copies for `recent_ttl`
/// (what we can re-send), and their (origin, number) for the longer `seen_ttl` (what our
/// summaries say we hold, so a peer whose copy arrived seconds after ours does not send it
/// back to us once ours has expired). Both bounded by count and age.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recent {
    items: VecDeque<Cached>,
    /// The ids, 16 bytes each (`repair/ids.rs`).
    seen: ids::Ids,
    /// When a broadcast last went to or came from each peer (at most [`EXCHANGED_MAX`]).
    exchanged: HashMap<PublicKey, Instant>,
    /// Arrival of the newest kept copy that is not a ping (pings alone pace summaries
    /// slowly, PROTOCOL.md §6.11).
    newest_busy: Option<Instant>,
}

impl Recent {
    /// Keeps a copy of `b`, accepted at `now`; the oldest gives way at the caps.
    fn push(&mut self, now: Instant, b: &Broadcast<'_>, (max, seen_max): (usize, usize)) {
        let mut plain = Vec::new();
        if max == 0 || seen_max == 0 || Payload::Broadcast(*b).encode(&mut plain).is_err() {
            return;
        }
        if self.items.len() >= max {
            self.items.pop_front();
        }
        self.items.push_back(Cached {
            origin: b.origin,
            number: b.number,
            at: now,
            plain: Some(plain.into_boxed_slice()),
        });
        self.seen.push(now, &b.origin, b.number, seen_max);
        if b.message_id != MessageId::Ping as u8 {
            self.newest_busy = Some(now);
        }
    }

    /// Records only the (origin, number) of `b`, accepted at `now`: our summaries then say we
    /// hold it, but we never re-send it (the id gives way at the cap like any other).
    fn push_id(&mut self, now: Instant, b: &Broadcast<'_>, seen_max: usize) {
        self.seen.push(now, &b.origin, b.number, seen_max);
    }

    /// Forgets copies `ttl` old and ids `seen_ttl` old.
    fn expire(&mut self, now: Instant, (ttl, seen_ttl): (Duration, Duration)) {
        let old = |at: Instant, ttl| now.saturating_duration_since(at) >= ttl;
        while self.items.front().is_some_and(|c| old(c.at, ttl)) {
            self.items.pop_front();
        }
        self.seen.expire(now, seen_ttl);
    }

    /// How far back (from `now`) the ids hold everything that arrived, at most `seen_ttl`.
    fn span(&self, now: Instant, seen_ttl: Duration) -> Duration {
        self.seen.span(now, seen_ttl)
    }

    /// True while the newest copy is younger than `active`: the group sends summaries.
    fn active(&self, now: Instant, active: Duration) -> bool {
        self.items
            .back()
            .is_some_and(|c| now.saturating_duration_since(c.at) < active)
    }

    /// True while a kept copy that is not a ping arrived less than `active` ago.
    fn busy(&self, now: Instant, active: Duration) -> bool {
        self.newest_busy
            .is_some_and(|t| now.saturating_duration_since(t) < active)
    }

    /// Copies kept that arrived less than `window` before `now`.
    fn arrived_within(&self, now: Instant, window: Duration) -> usize {
        (self.items.iter().rev())
            .take_while(|c| now.saturating_duration_since(c.at) < window)
            .count()
    }

    /// Records that a broadcast went to or came from `peer` at `now`.
    fn note(&mut self, peer: PublicKey, now: Instant) {
        if self.exchanged.len() >= EXCHANGED_MAX && !self.exchanged.contains_key(&peer) {
            self.exchanged.clear();
        }
        self.exchanged.insert(peer, now);
    }

    /// True if a broadcast went to or came from `peer` since our newest copy arrived: it
    /// most likely holds that copy already.
    fn in_step(&self, peer: &PublicKey) -> bool {
        let newest = self.items.back().map(|c| c.at);
        newest.is_some_and(|n| self.exchanged.get(peer).is_some_and(|t| *t >= n))
    }

    /// The index of the kept copy of (origin, number), if any.
    pub(crate) fn find(&self, origin: &PublicKey, number: u32) -> Option<usize> {
        (self.items.iter()).position(|c| c.number == number && c.origin == *origin)
    }

    /// Copies at least `grace` old (they are in order of arrival).
    fn settled(&self, now: Instant, grace: Duration) -> impl Iterator<Item = &Cached> {
        self.items
            .iter()
            .take_while(move |c| now.saturating_duration_since(c.at) >= grace)
    }
}

impl Group {
    /// Keeps a relayed (or own) broadcast for repair and arms the summary timer.
    pub(crate) fn remember(&mut self, io: &mut Io<'_>, b: &Broadcast<'_>) {
        let caps = (io.config.recent_max, io.config.seen_max);
        let was_busy = self.recent.busy(io.now, io.config.have_active);
        self.recent.push(io.now, b, caps);
        // A 2014 peer cannot read a have (id 53): legacy groups never send one (§1.2).
        if self.dialect() != Dialect::Secure {
            return;
        }
        // The first copy after a silence, or the first that is not a ping while only pings
        // paced the summaries, is summarised after one interval.
        let woke = !was_busy && self.recent.busy(io.now, io.config.have_active);
        if self.next_have.is_none() || woke {
            let due = io.now + io.jittered(io.config.have_interval);
            self.next_have = Some(self.next_have.map_or(due, |t| t.min(due)));
        }
    }

    /// `b` was dropped as a duplicate (our dedup window holds its number). True if our
    /// summaries still said we hold it. If not (its id expired, or we took it in seconds
    /// before the peer that re-sent it), they say so again, so no peer re-sends it to us a
    /// second time; and the copy is an old one re-sent, not a redundant link of the tree.
    pub(crate) fn remember_duplicate(&mut self, io: &Io<'_>, b: &Broadcast<'_>) -> bool {
        self.expire_recent(io);
        let held = self.recent.seen.holds(&b.origin, b.number);
        if !held {
            self.recent.push_id(io.now, b, io.config.seen_max);
        }
        held || io.config.seen_max == 0
    }

    /// True while the group is active (its newest kept copy is younger than `have_active`).
    pub(crate) fn is_active(&self, io: &Io<'_>) -> bool {
        self.recent.active(io.now, io.config.have_active)
    }

    /// The (origin, number) of the newest `max` kept copies, newest first.
    pub(crate) fn newest_kept(&self, max: usize) -> Vec<(PublicKey, u32)> {
        let items = self.recent.items.iter().rev().take(max);
        items.map(|c| (c.origin, c.number)).collect()
    }

    /// Records that we hold `b` without keeping a copy to re-send: a broadcast accepted
    /// before we are joined (the fact and name syncs, PROTOCOL.md §6.5) is old, and our peers
    /// have it; its id in our summaries keeps them from re-sending it to us.
    pub(crate) fn remember_id(&mut self, io: &Io<'_>, b: &Broadcast<'_>) {
        self.recent.push_id(io.now, b, io.config.seen_max);
    }

    /// Sends the periodic summary if it is due; disarms the timer once the group is no longer
    /// active.
    pub(crate) fn on_have_timer(&mut self, io: &mut Io<'_>) {
        if self.next_have.is_none_or(|t| io.now < t) {
            return;
        }
        self.expire_recent(io);
        if !self.recent.active(io.now, io.config.have_active) {
            self.next_have = None;
            // The last broadcasts before a silence: announced to every lazy link (§6.12).
            self.announce_tail(io);
            return;
        }
        self.next_have = Some(io.now + io.jittered(self.have_pace(io)));
        let targets = self.relay_targets(io.now, io.config.bad_node_timeout);
        let behind: Vec<_> = targets
            .iter()
            .filter(|(k, _)| !self.recent.in_step(k))
            .copied()
            .collect();
        let pool = if behind.is_empty() { &targets } else { &behind };
        if pool.is_empty() {
            return;
        }
        let (key, addr) = pool[io.rng.random_range(0..pool.len())];
        self.send_summary(io, key, addr, 0);
    }

    /// The wait before the next summary: `have_interval`, and with the eager tree one more
    /// per [`HAVE_PACE_STEP`] copies kept in the last `have_active` (at most
    /// [`HAVE_PACE_MAX`] in all). A busy group's members hear IHAVEs for each id from
    /// their neighbours, and each summary covers more new ids, so it sends them more
    /// slowly; a quiet one keeps the full pace, its repair counting on summaries.
    fn have_pace(&self, io: &Io<'_>) -> Duration {
        if !self.recent.busy(io.now, io.config.have_active) {
            // Only pings keep the group active: their repair is not in a hurry (§6.11).
            return io.config.have_active;
        }
        if !self.uses_tree(io) {
            return io.config.have_interval;
        }
        let recent = self.recent.arrived_within(io.now, io.config.have_active);
        let steps = (recent / HAVE_PACE_STEP).clamp(1, HAVE_PACE_MAX);
        // At most HAVE_PACE_MAX (8): fits a u32.
        io.config.have_interval * steps as u32
    }

    /// Records that a broadcast went to or came from `peer` (summaries go first to peers
    /// that have exchanged none with us since our newest copy arrived).
    pub(crate) fn exchanged(&mut self, peer: PublicKey, now: Instant) {
        self.recent.note(peer, now);
    }

    /// A have summary from `hop` at `from`: send what it lacks; if nothing but pings arrived
    /// lately (or nothing at all), ask back.
    pub(crate) fn on_have(
        &mut self,
        io: &mut Io<'_>,
        hop: PublicKey,
        from: SocketAddr,
        have: &Have<'_>,
    ) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        if self.is_banned(&hop) {
            return Err(DropReason::Banned);
        }
        if !self.is_validated(&hop, &from) {
            return Err(DropReason::UnknownSender);
        }
        self.expire_recent(io);
        self.send_missing(io, hop, from, have);
        let asks = !have.has(Have::REPLY) && !have.filter().is_empty();
        // Not busy: nothing but pings lately, so our own summaries are a second apart.
        if asks && !self.recent.busy(io.now, io.config.have_active) {
            self.send_summary(io, hop, from, Have::REPLY);
        }
        Ok(())
    }

    /// Re-sends the kept broadcasts `have` does not hold, within its span and the caps.
    fn send_missing(&mut self, io: &mut Io<'_>, hop: PublicKey, to: SocketAddr, have: &Have<'_>) {
        let now = io.now;
        let span = Duration::from_millis(u64::from(have.span_ms));
        let window = span.saturating_sub(SPAN_MARGIN);
        let missing: Vec<usize> = self
            .recent
            .settled(now, self.repair_grace(io))
            .enumerate()
            .filter(|(_, c)| now.saturating_duration_since(c.at) < window)
            .filter(|(_, c)| c.origin != hop && !have.holds(&c.origin, c.number))
            .map(|(i, _)| i)
            .take(io.config.have_reply_max)
            .collect();
        let mut sent = false;
        for i in missing {
            if !self.resend_kept(io, (hop, to), i) {
                break;
            }
            sent = true;
            let origin = self.recent.items[i].origin;
            self.tree_repaired(io, &hop, origin);
        }
        if sent {
            self.recent.note(hop, now);
        }
    }

    /// How old a kept copy must be before a summary's answer re-sends it: `have_grace`, and
    /// with the tree's IHAVEs on also an IHAVE flush and a GRAFT timer (PROTOCOL.md §6.12),
    /// so the GRAFT that fixes the tree comes before a repair that would only patch it.
    fn repair_grace(&self, io: &Io<'_>) -> Duration {
        let c = io.config;
        match self.uses_tree(io) && c.lazy_fanout > 0 {
            true => c.have_grace + c.ihave_interval + c.graft_timeout,
            false => c.have_grace,
        }
    }

    /// Re-sends kept copy `i` to `hop` at `to` if its reply budget (PROTOCOL.md §6.2: a
    /// proven key gets no more bytes than it sends us beyond a small burst) and the group's
    /// repair budget pay for it; false if they do not (nothing sent).
    pub(crate) fn resend_kept(
        &mut self,
        io: &mut Io<'_>,
        (hop, to): (PublicKey, SocketAddr),
        i: usize,
    ) -> bool {
        let burst = io.config.reply_burst;
        let Some(plain) = self.kept_copy(i) else {
            return false;
        };
        let bytes = DATAGRAM_OVERHEAD + plain.len();
        let room = self.members.reply_room(&hop, burst).unwrap_or(0);
        if room < u32::try_from(bytes).unwrap_or(u32::MAX) {
            io.stats.repairs_withheld += 1;
            return false;
        }
        if !self.repair.take(io.now, io.config.repair_rate) {
            return false;
        }
        let Ok(payload) = Payload::decode(&plain) else {
            return false;
        };
        send_as(io, Kind::Repair, self.identity(), (&hop, to), &payload);
        self.members.spend_reply(&hop, bytes, burst);
        io.stats.repairs += 1;
        io.stats.repair_bytes += bytes as u64;
        true
    }

    fn expire_recent(&mut self, io: &Io<'_>) {
        let ttls = (io.config.recent_ttl, io.config.seen_ttl);
        self.recent.expire(io.now, ttls);
    }

    /// Sends `to` a summary of every broadcast we hold an id of, with `flags`.
    fn send_summary(&mut self, io: &mut Io<'_>, key: PublicKey, to: SocketAddr, flags: u8) {
        let salt = io.rng.random();
        let seen = &self.recent.seen;
        let mut bloom = BloomBuilder::new(seen.len(), BITS_PER_ITEM, HASHES, salt);
        seen.keys().for_each(|key| bloom.insert_key(key));
        let span = self.recent.span(io.now, io.config.seen_ttl).as_millis();
        let span = u16::try_from(span).unwrap_or(u16::MAX);
        io.stats.summaries += 1;
        let have = Payload::Have(bloom.have(flags, span));
        io.stats.summary_bytes += (DATAGRAM_OVERHEAD + have.encoded_len()) as u64;
        send_as(io, Kind::Lazy, self.identity(), (&key, to), &have);
    }
}
