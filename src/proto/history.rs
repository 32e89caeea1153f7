//! Signed history (secure groups, PROTOCOL.md §6.13): every member keeps the group's recent
//! text messages (chat and action) as the full signed broadcasts it accepted, and serves them
//! to a member that asks (a late joiner, or one back from offline).
//!
//! - [`Log`] (`log.rs`): the kept broadcasts in the order we stored them, each with a log
//!   position (`seq`, the cursor of the wire), bounded by [`HistoryLimits`] (count, age,
//!   bytes); held compactly in byte pages (`arena.rs`).
//! - Serving (`on_history_request`): only to a validated member at its proven address; with
//!   visibility `joined` only entries stored since that member was admitted; at most
//!   `history_page` datagrams per request, each paid by the page buckets (`allowance.rs`)
//!   or the asker's reply budget (PROTOCOL.md §6.2); they go only to the proven address, so a
//!   request cannot be reflected at anyone else.
//! - Fetching (`fetch.rs`): the asker pages through one member's log, checks every entry
//!   against its original signature, finds the gaps in each origin's numbers from the
//!   `prev` links and asks another member for them, then shows the result in display order.
//!
//! The application persists the log (`Node::history_since`) and gives it back after a
//! restart (`Node::restore_history`); every restored entry is checked again.

mod allowance;
mod arena;
mod fetch;
mod log;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) use allowance::Allowance;
use arena::Entry;
pub(crate) use fetch::Fetch;
pub(crate) use log::Log;

use super::group::Group;
use super::io::Io;
use super::{Dialect, DropReason};
use crate::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, HistoryEntry, HistoryPage, HistoryRequest, MAC_LEN, MAX_DATA,
    MessageId, Payload, PeerMessage, PublicKey,
};

/// Bytes a datagram adds to its plaintext: envelope header and MAC.
const DATAGRAM_OVERHEAD: usize = ENVELOPE_HEADER_LEN + MAC_LEN;

/// Offset of the flags byte in a page's plaintext (after the inner id, request id, from and
/// next).
const FLAGS_AT: usize = 13;

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
        if self.history.push(io.now, Duration::ZERO, b) {
            // Repair reads its copy of it from the log from now on.
            self.share_copy(io, b);
        }
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
        let first = log.entries.first_from(scan.start);
        let mut matching = (first..log.entries.len())
            .filter_map(|i| Some((i, log.entries.get(i)?)))
            .filter(|(_, e)| scan.wants(e, io.now));
        let mut pages = Vec::new();
        let mut from = scan.start;
        let mut pending = matching.next();
        while pages.len() < io.config.history_page {
            let mut body = Vec::with_capacity(MAX_DATA);
            while let Some((i, e)) = pending {
                let Some(entry) = self.entry_of(i, &e, scan.view_from, io.now) else {
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
            let next = pending.map_or(log.next_seq(), |(_, e)| e.seq);
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

    /// The wire entry of entry `i` (`e`): its `prev` is the number of our previous entry of
    /// its origin that the asker may see.
    fn entry_of(&self, i: usize, e: &Entry, view_from: u32, now: Instant) -> Option<Vec<u8>> {
        let entries = &self.history.entries;
        let b = entries.broadcast(i)?;
        let prev = entries.prev_visible(&e.origin, e.number, view_from);
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
        let fit = self.pages_paid_for(io, &hop, &pages);
        io.stats.history.withheld += (pages.len() - fit) as u64;
        pages.truncate(fit);
        if let Some(flags) = pages.last_mut().and_then(|p| p.get_mut(FLAGS_AT)) {
            // The budget cut the page short: its last datagram says so, the asker asks on.
            *flags |= HistoryPage::LAST;
        }
        for plain in pages {
            let Ok(payload) = Payload::decode(&plain) else {
                continue;
            };
            io.send(self.identity(), &hop, to, &payload);
            io.stats.history.pages += 1;
            io.stats.history.page_bytes += (DATAGRAM_OVERHEAD + plain.len()) as u64;
        }
    }

    /// How many of `pages`, from the first, go to `hop`: each is paid by the page buckets
    /// (the asker's and the group's) or, when they are empty, by the asker's reply budget
    /// (§6.2), which it then takes from.
    fn pages_paid_for(&mut self, io: &Io<'_>, hop: &PublicKey, pages: &[Vec<u8>]) -> usize {
        let burst = io.config.reply_burst;
        let rates = (io.config.history_rate, io.config.history_rate_group);
        let mut fit = 0;
        for p in pages {
            let bytes = DATAGRAM_OVERHEAD + p.len();
            if self.allowance.take(io.now, hop, rates.0, rates.1) {
                fit += 1;
                continue;
            }
            let room = self.members.reply_room(hop, burst).unwrap_or(0) as usize;
            if room < bytes {
                break;
            }
            self.members.spend_reply(hop, bytes, burst);
            fit += 1;
        }
        fit
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
