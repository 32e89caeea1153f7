//! Signed history (secure groups, PROTOCOL.md §6.13): every member keeps the group's recent
//! text messages (chat and action) as the full signed broadcasts it accepted, and serves them
//! to a member that asks (a late joiner, or one back from offline).
//!
//! - [`Log`]: the kept broadcasts in the order we stored them, each with a log position
//!   (`seq`, the cursor of the wire), bounded by [`HistoryLimits`] (count, age, bytes).
//! - Serving (`on_history_request`): only to a validated member at its proven address; with
//!   visibility `joined` only entries stored since that member was admitted; at most
//!   `history_page` datagrams per request, and only while the asker's reply budget
//!   (PROTOCOL.md §6.2) pays for them, so a request cannot be used for amplification.
//! - Fetching (`fetch.rs`): the asker pages through one member's log, checks every entry
//!   against its original signature, finds the gaps in each origin's numbers from the
//!   `prev` links and asks another member for them, then shows the result in display order.
//!
//! The application persists the log (`Node::history_since`) and gives it back after a
//! restart (`Node::restore_history`); every restored entry is checked again.

mod fetch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) use fetch::Fetch;

use super::group::Group;
use super::io::Io;
use super::{Dialect, DropReason};
use crate::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, HistoryEntry, HistoryPage, HistoryRequest, HistoryVisibility,
    MAC_LEN, MAX_DATA, MessageId, Payload, PeerMessage, PublicKey,
};

/// Bytes a datagram adds to its plaintext: envelope header and MAC.
const DATAGRAM_OVERHEAD: usize = ENVELOPE_HEADER_LEN + MAC_LEN;

/// Offset of the flags byte in a page's plaintext (after the inner id, request id, from and
/// next).
const FLAGS_AT: usize = 13;

/// Most members whose admission position we remember (for visibility `joined`).
const ADMITTED_MAX: usize = 16_384;

/// Most evictions remembered for the store (`Log::evicted_since`); older ones are lost and
/// their rows stay stored until a restart's limits drop them.
const EVICTED_MAX: usize = 4096;

/// How much history a member keeps for one group (PROTOCOL.md §6.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages kept. Default 1,000; 0 keeps none (and serves none).
    pub max_messages: usize,
    /// Messages older than this are dropped. Default 7 days.
    pub max_age: Duration,
    /// Most bytes of kept broadcasts (their plaintexts). Default 1 MiB.
    pub max_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 20,
        }
    }
}

/// When a member was admitted (visibility `joined`), for the application to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The member.
    pub key: PublicKey,
    /// The first kept entry (origin, number) it may see; `None`: only what came after.
    pub from: Option<(PublicKey, u32)>,
}

/// One kept message, for the application to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Its log position (increasing; persist records after the last one you stored).
    pub seq: u32,
    /// Seconds since it was stored (for a fetched one: since the server stored it).
    pub age_secs: u32,
    /// Its author.
    pub origin: PublicKey,
    /// The author's number.
    pub number: u32,
    /// The signed broadcast's plaintext (`[51][data]`), exactly as accepted.
    pub plain: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u32,
    at: Instant,
    origin: PublicKey,
    number: u32,
    plain: Box<[u8]>,
}

/// The kept messages of one group.
#[derive(Debug)]
pub(crate) struct Log {
    limits: HistoryLimits,
    entries: VecDeque<Entry>,
    /// Per origin: number → seq of what we hold.
    by_origin: HashMap<PublicKey, BTreeMap<u32, u32>>,
    bytes: usize,
    next_seq: u32,
    /// Log position at which each member was admitted (visibility `joined`).
    admitted: HashMap<PublicKey, u32>,
    /// The entries that went (limits), numbered, for the store to delete their rows.
    evicted: VecDeque<(u64, PublicKey, u32)>,
    evictions: u64,
    /// Numbers shown since the last store before a restart (the marks journal, §6.9), at most
    /// [`SHOWN_MAX`]: a fetch does not show them again.
    shown: HashSet<(PublicKey, u32)>,
}

/// Most restored shown numbers kept per group (the journal's size bounds them too).
pub(crate) const SHOWN_MAX: usize = 16_384;

impl Log {
    pub(crate) fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            by_origin: HashMap::new(),
            bytes: 0,
            next_seq: 1,
            admitted: HashMap::new(),
            evicted: VecDeque::new(),
            evictions: 0,
            shown: HashSet::new(),
        }
    }

    pub(crate) fn set_limits(&mut self, limits: HistoryLimits, now: Instant) {
        self.limits = limits;
        self.trim(now);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn holds(&self, origin: &PublicKey, number: u32) -> bool {
        (self.by_origin.get(origin)).is_some_and(|m| m.contains_key(&number))
    }

    /// Takes the numbers shown since the last store (the marks journal at a restart).
    pub(crate) fn restore_shown(&mut self, list: &[(PublicKey, u32)]) {
        let room = SHOWN_MAX.saturating_sub(self.shown.len());
        self.shown.extend(list.iter().copied().take(room));
    }

    /// True if `number` of `origin` was shown before the restart without being stored in
    /// the log.
    pub(crate) fn shown_before(&self, origin: &PublicKey, number: u32) -> bool {
        self.shown.contains(&(*origin, number))
    }

    /// The highest number we hold of `origin` below `number`, if any.
    fn below(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        let m = self.by_origin.get(origin)?;
        m.range(..number).next_back().map(|(n, _)| *n)
    }

    /// Keeps a signed text broadcast stored `age` ago; false if held already or not kept.
    pub(crate) fn push(&mut self, now: Instant, age: Duration, b: &Broadcast<'_>) -> bool {
        if self.limits.max_messages == 0 || age >= self.limits.max_age {
            return false;
        }
        if self.holds(&b.origin, b.number) || b.trailer.is_none() {
            return false;
        }
        let mut plain = Vec::with_capacity(1 + b.encoded_len());
        if Payload::Broadcast(*b).encode(&mut plain).is_err() {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.bytes += plain.len();
        let origin_map = self.by_origin.entry(b.origin).or_default();
        origin_map.insert(b.number, seq);
        self.entries.push_back(Entry {
            seq,
            at: now.checked_sub(age).unwrap_or(now),
            origin: b.origin,
            number: b.number,
            plain: plain.into_boxed_slice(),
        });
        self.trim(now);
        true
    }

    /// Drops the oldest entries beyond the count and byte limits, and those past the age.
    pub(crate) fn trim(&mut self, now: Instant) {
        let max_age = self.limits.max_age;
        let too_old = |e: &Entry| now.saturating_duration_since(e.at) >= max_age;
        while let Some(front) = self.entries.front() {
            let over =
                self.entries.len() > self.limits.max_messages || self.bytes > self.limits.max_bytes;
            if !over && !too_old(front) {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        self.bytes -= e.plain.len();
        self.evictions += 1;
        if self.evicted.len() >= EVICTED_MAX {
            self.evicted.pop_front();
        }
        (self.evicted).push_back((self.evictions, e.origin, e.number));
        if let Some(m) = self.by_origin.get_mut(&e.origin) {
            m.remove(&e.number);
            if m.is_empty() {
                self.by_origin.remove(&e.origin);
            }
        }
    }

    /// Records that `key` became a member now: with visibility `joined` it is served only
    /// what is stored from here on. The first admission counts.
    pub(crate) fn admit(&mut self, key: PublicKey) {
        if self.admitted.len() >= ADMITTED_MAX && !self.admitted.contains_key(&key) {
            // Forget the earliest admissions: they are served from further back anyway.
            let cut = self.admitted.values().copied().min().unwrap_or(0);
            self.admitted.retain(|_, s| *s > cut);
        }
        let seq = self.next_seq;
        self.admitted.entry(key).or_insert(seq);
    }

    /// Every admission (visibility `joined`) for the store: the member and the first entry
    /// it may see (`None`: none held yet, only what comes next). Positions are renumbered
    /// by a restart; the entries are not.
    pub(crate) fn admissions(&self) -> Vec<Admission> {
        (self.admitted.iter())
            .map(|(key, seq)| {
                let first = self.entries.partition_point(|e| e.seq < *seq);
                let from = self.entries.get(first).map(|e| (e.origin, e.number));
                Admission { key: *key, from }
            })
            .collect()
    }

    /// Takes back stored admissions (after the log was restored): a member sees from its
    /// entry on; if that entry is not held (any more), only what comes next, which shows
    /// less, never more. An admission made since counts.
    pub(crate) fn restore_admissions(&mut self, list: &[Admission]) {
        for a in list.iter().take(ADMITTED_MAX) {
            let held = a
                .from
                .and_then(|(o, n)| self.by_origin.get(&o)?.get(&n).copied());
            let seq = held.unwrap_or(self.next_seq);
            self.admitted.entry(a.key).or_insert(seq);
        }
    }

    /// Where `key`'s view of the log starts under `visibility`; `None`: it sees nothing.
    fn start_for(&self, key: &PublicKey, visibility: HistoryVisibility) -> Option<u32> {
        match visibility {
            HistoryVisibility::Shared => Some(0),
            HistoryVisibility::Joined => self.admitted.get(key).copied(),
        }
    }

    /// The (origin, number) of the entries that went after eviction `after` (the count
    /// [`Self::evictions`] gave), and the count now.
    pub(crate) fn evicted_since(&self, after: u64) -> (Vec<(PublicKey, u32)>, u64) {
        let gone = (self.evicted.iter())
            .filter(|(n, _, _)| *n > after)
            .map(|(_, o, k)| (*o, *k))
            .collect();
        (gone, self.evictions)
    }

    /// The position of the newest entry (0: none yet).
    pub(crate) fn last_seq(&self) -> u32 {
        self.next_seq - 1
    }

    /// Records with a position after `after`, oldest first, with their ages at `now`.
    pub(crate) fn since(&self, after: u32, now: Instant) -> Vec<HistoryRecord> {
        let first = self.entries.partition_point(|e| e.seq <= after);
        (self.entries.range(first..))
            .map(|e| HistoryRecord {
                seq: e.seq,
                age_secs: age_secs(now, e.at),
                origin: e.origin,
                number: e.number,
                plain: e.plain.to_vec(),
            })
            .collect()
    }
}

/// Whole seconds from `at` to `now`, saturated.
pub(crate) fn age_secs(now: Instant, at: Instant) -> u32 {
    u32::try_from(now.saturating_duration_since(at).as_secs()).unwrap_or(u32::MAX)
}

/// True for the message ids history keeps: chat and the two action ids.
pub(crate) fn is_text(message_id: u8) -> bool {
    matches!(
        MessageId::try_from(message_id),
        Ok(MessageId::Chat | MessageId::Action | MessageId::SeedAction)
    )
}

/// One request's scan of the log, as the server answers it.
struct Scan {
    start: u32,
    within: u32,
    origin: Option<(PublicKey, u32, u32)>,
    view_from: u32,
}

impl Scan {
    fn wants(&self, e: &Entry, now: Instant) -> bool {
        if e.seq < self.start || e.seq < self.view_from || age_secs(now, e.at) > self.within {
            return false;
        }
        match self.origin {
            Some((key, lo, hi)) => key == e.origin && (lo..=hi).contains(&e.number),
            None => true,
        }
    }
}

impl Group {
    /// Keeps an accepted text message (live, or our own) in the history; false if we held it
    /// already (it was fetched as history): then it must not be shown again.
    pub(crate) fn keep_history(&mut self, io: &Io<'_>, b: &Broadcast<'_>) -> bool {
        if self.dialect() != Dialect::Secure || !is_text(b.message_id) {
            return true;
        }
        if self.history.holds(&b.origin, b.number) {
            return false;
        }
        self.history.push(io.now, Duration::ZERO, b);
        true
    }

    /// A history request from `hop` at `from` (PROTOCOL.md §6.13).
    pub(crate) fn on_history_request(
        &mut self,
        io: &mut Io<'_>,
        hop: PublicKey,
        from: SocketAddr,
        req: &HistoryRequest,
    ) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        if self.is_banned(&hop) {
            return Err(DropReason::Banned);
        }
        if !self.is_validated(&hop, &from) {
            // Not validated here (we restarted, or forgot it after its quit): ask it, so
            // its next try is served (PROTOCOL.md §6.13).
            self.validate_asker(io, hop, from);
            return Err(DropReason::UnknownSender);
        }
        self.history.trim(io.now);
        let visibility = self.authority.history_visibility();
        let Some(view_from) = self.history.start_for(&hop, visibility) else {
            io.stats.history.refused += 1;
            self.send_pages(io, (hop, from), req, Vec::new());
            return Ok(());
        };
        let scan = Scan {
            start: req.cursor,
            within: req.within,
            origin: req.origin,
            view_from,
        };
        let pages = self.build_pages(io, req.request_id, &scan);
        self.send_pages(io, (hop, from), req, pages);
        Ok(())
    }

    /// Up to `history_page` datagrams of entries matching `scan`.
    fn build_pages(&self, io: &Io<'_>, request_id: u32, scan: &Scan) -> Vec<Vec<u8>> {
        let log = &self.history;
        let first = log.entries.partition_point(|e| e.seq < scan.start);
        let mut matching = (log.entries.range(first..)).filter(|e| scan.wants(e, io.now));
        let mut pages = Vec::new();
        let mut from = scan.start;
        let mut pending = matching.next();
        while pages.len() < io.config.history_page {
            let mut body = Vec::with_capacity(MAX_DATA);
            while let Some(e) = pending {
                let Some(entry) = self.entry_of(e, scan.view_from, io.now) else {
                    pending = matching.next();
                    continue;
                };
                if body.len() + entry.len()
                    > MAX_DATA - crate::wire::history::HISTORY_PAGE_HEADER_LEN
                {
                    break;
                }
                body.extend_from_slice(&entry);
                pending = matching.next();
            }
            let next = pending.map_or(log.next_seq, |e| e.seq);
            let end = pending.is_none();
            let last = end || pages.len() + 1 == io.config.history_page;
            let flags = u8::from(end) * HistoryPage::END + u8::from(last) * HistoryPage::LAST;
            let mut plain = Vec::with_capacity(1 + MAX_DATA);
            if let Ok(page) = HistoryPage::new((request_id, from, next, flags), &body) {
                if Payload::HistoryPage(page).encode(&mut plain).is_ok() {
                    pages.push(plain);
                }
            }
            from = next;
            if end {
                break;
            }
        }
        pages
    }

    /// The wire entry of `e`: its `prev` is the number of our previous entry of its origin
    /// that the asker may see.
    fn entry_of(&self, e: &Entry, view_from: u32, now: Instant) -> Option<Vec<u8>> {
        let Ok(Payload::Broadcast(b)) = Payload::decode(&e.plain) else {
            return None;
        };
        let m = self.history.by_origin.get(&e.origin)?;
        let prev = (m.range(..e.number).rev())
            .find(|(_, seq)| **seq >= view_from)
            .map_or(0, |(n, _)| *n);
        let entry = HistoryEntry::of(&b, age_secs(now, e.at), prev)?;
        let mut out = Vec::with_capacity(entry.encoded_len());
        entry.write(&mut out).ok()?;
        Some(out)
    }

    /// Sends the pages (an empty page with `end` when there are none) while the asker's
    /// reply budget pays for them.
    fn send_pages(
        &mut self,
        io: &mut Io<'_>,
        (hop, to): (PublicKey, SocketAddr),
        req: &HistoryRequest,
        mut pages: Vec<Vec<u8>>,
    ) {
        if pages.is_empty() {
            let flags = HistoryPage::END | HistoryPage::LAST;
            let page = HistoryPage::new((req.request_id, req.cursor, req.cursor, flags), &[]);
            let mut plain = Vec::new();
            if let Ok(p) = page {
                let _ = Payload::HistoryPage(p).encode(&mut plain);
                pages.push(plain);
            }
        }
        let burst = io.config.reply_burst;
        let mut room = self.members.reply_room(&hop, burst).unwrap_or(0) as usize;
        let fit = (pages.iter())
            .take_while(|p| {
                let ok = room >= DATAGRAM_OVERHEAD + p.len();
                room = room.saturating_sub(DATAGRAM_OVERHEAD + p.len());
                ok
            })
            .count();
        io.stats.history.withheld += (pages.len() - fit) as u64;
        pages.truncate(fit);
        if let Some(flags) = pages.last_mut().and_then(|p| p.get_mut(FLAGS_AT)) {
            // The budget cut the page short: its last datagram says so, the asker asks on.
            *flags |= HistoryPage::LAST;
        }
        for plain in pages {
            let bytes = DATAGRAM_OVERHEAD + plain.len();
            let Ok(payload) = Payload::decode(&plain) else {
                continue;
            };
            io.send(self.identity(), &hop, to, &payload);
            self.members.spend_reply(&hop, bytes, burst);
            io.stats.history.pages += 1;
            io.stats.history.page_bytes += bytes as u64;
        }
    }

    /// Takes back the history stored before a restart: each record is checked against its
    /// signature again; bad ones are skipped. Returns how many were kept.
    pub(crate) fn restore_history(&mut self, now: Instant, records: &[HistoryRecord]) -> usize {
        let mut kept = 0;
        for r in records {
            let Ok(Payload::Broadcast(b)) = Payload::decode(&r.plain) else {
                continue;
            };
            if !is_text(b.message_id) || self.check_entry(&b).is_err() {
                continue;
            }
            let age = Duration::from_secs(u64::from(r.age_secs));
            kept += usize::from(self.history.push(now, age, &b));
        }
        kept
    }

    /// Checks a history broadcast as a live one is checked, signature first (§4.3); a
    /// banned origin's messages are not shown.
    pub(crate) fn check_entry(&self, b: &Broadcast<'_>) -> Result<(), DropReason> {
        crate::crypto::verify_broadcast(&self.chat_id(), b)
            .map_err(|_| DropReason::BadSignature)?;
        if self.is_banned(&b.origin) {
            return Err(DropReason::Banned);
        }
        PeerMessage::decode(b.message_id, b.body).map_err(|_| DropReason::BadBody)?;
        Ok(())
    }
}
