//! The asking side of a history fetch (PROTOCOL.md §6.13).
//!
//! 1. When we are joined and hold the group's state (`StateSynced`), at most `history_delay`
//!    after joining (a later fetch: `history_delay` after it is asked for), ask one relay
//!    target for every entry it may show us (a member back from offline: only those at most
//!    as old as our newest entry, plus [`OVERLAP`]), page by page: each request is padded to
//!    a full datagram, which pays for the answer under the server's reply budget; a page
//!    ends with `last`, the whole answer with `end`. A lost datagram leaves the cursor
//!    behind: the next request asks again from there. No progress for `history_timeout`: ask
//!    again, after [`TRIES`] another member.
//! 2. Every entry is checked against its original signature (the origin is the signer's
//!    X25519 form). One that fails is counted, and its (origin, number) is asked of another
//!    member. Every entry's `prev` names the server's previous entry of that origin: a `prev`
//!    we hold neither in our log nor in this fetch is a gap (a dropped range), asked of
//!    another member by origin and number range. Its answer may show further gaps.
//! 3. When no gap is left to ask, the new messages are shown in display order (see
//!    [`Fetch::display_order`]) as [`Event::HistoryMessage`], kept in our own log, and
//!    [`Event::HistoryDone`] follows.
//! 4. Only what was said before the fetch began is history: an entry stored after it is
//!    *young* and left to the live path (`young.rs`); one accepted before (in our log, at
//!    or below its origin's mark, or in its live window) is not taken again.
//!
//! It fetches again by itself when its ticks stalled for [`STALL`] (the process was stopped)
//! or its table emptied and filled again (it was cut off); and, from that peer, when a table
//! peer it dropped for silence answers again (a heal: the two were cut apart, and each holds
//! what the other's side said meanwhile).

mod young;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng;

use super::{Group, age_secs, is_text};
use crate::proto::Config;
use crate::proto::io::Io;
use crate::proto::{Dialect, DropReason, Event};
use crate::wire::{
    HistoryEntry, HistoryPage, HistoryRequest, MAX_DATA, Payload, PublicKey,
    history::HISTORY_REQUEST_LEN,
};

/// A returning member also asks for entries this much older than its newest one, so what
/// arrived around its departure is not missed.
const OVERLAP: u32 = 30;
/// Members whose logs a main pass reads, one after the other: a member that was itself away
/// (or missed a message live) when something was said lacks it without a visible gap.
const MAIN_PASSES: u8 = 2;
/// A tick this long after the previous one means we were stopped: fetch again.
const STALL: std::time::Duration = std::time::Duration::from_secs(10);
/// Requests without progress before the next member is asked.
const TRIES: u32 = 3;
/// Most gap requests per fetch (each asks one origin's range of another member), and most
/// entries that failed their check remembered per fetch.
const GAPS_MAX: usize = 64;
/// Most pages kept waiting for the one before them (a page is at most 16 datagrams).
const AHEAD_MAX: usize = 16;
/// Most table peers remembered as dropped for silence (for a heal fetch).
const SILENT_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Not joined yet.
    #[default]
    Idle,
    /// Asked for at this instant; the fetch starts `history_delay` later, or earlier
    /// ([`Fetch::on_sync`]).
    Waiting(Instant),
    /// Paging through the first member's log.
    Main,
    /// Asking other members for gaps.
    Gaps,
    /// Finished.
    Done,
}

/// A checked entry waiting to be shown.
#[derive(Debug, Clone)]
struct Got {
    age: u32,
    plain: Box<[u8]>,
}

/// One fetch's state (one per group).
#[derive(Debug, Default)]
pub(crate) struct Fetch {
    phase: Phase,
    /// The member asked now, and the one that answered the main pass.
    server: Option<(PublicKey, SocketAddr)>,
    main_server: Option<PublicKey>,
    /// Main passes begun in this fetch (at most [`MAIN_PASSES`]).
    mains: u8,
    tried: Vec<PublicKey>,
    /// `None`: every origin; else one origin's range (a gap).
    target: Option<(PublicKey, u32, u32)>,
    within: u32,
    cursor: u32,
    /// Pages that arrived ahead of the cursor: (from, next, end).
    ahead: Vec<(u32, u32, bool)>,
    /// Request ids are `pass << 16 | n`: a page of an earlier pass never moves the cursor.
    pass: u16,
    counter: u16,
    sent_at: Option<Instant>,
    tries: u32,
    got: BTreeMap<(PublicKey, u32), Got>,
    /// (origin, number, prev) of every checked entry.
    claims: Vec<(PublicKey, u32, u32)>,
    /// (origin, number) claimed by entries that failed their check.
    suspects: Vec<(PublicKey, u32)>,
    gaps: VecDeque<(PublicKey, u32, u32)>,
    asked: HashSet<(PublicKey, u32)>,
    /// The last tick, and whether our table was empty since the last fetch.
    last_tick: Option<Instant>,
    cut_off: bool,
    /// When this fetch was triggered: entries stored after it are young.
    began: Option<Instant>,
    /// Young entries waiting for their live copies; outlive the fetch that found them.
    young: young::Young,
    /// Table peers dropped for silence, with when we last heard them (at most
    /// [`SILENT_MAX`]); outlive fetches.
    silent: Vec<(PublicKey, Instant)>,
    /// A heal fetch to run next: the peer to read and the window (seconds).
    heal: Option<((PublicKey, SocketAddr), u32)>,
    /// The last instant the fetch's own timer ran for (it runs once per instant).
    looked: Option<Instant>,
    /// The fetch of a fresh join: it starts as soon as the state is synced, if that comes
    /// before `history_delay`.
    on_sync: bool,
}

impl Fetch {
    /// Asks again from the start (the application's `/history`, or a test).
    pub(crate) fn restart(&mut self, now: Instant) {
        *self = Self {
            phase: Phase::Waiting(now),
            began: Some(now),
            young: std::mem::take(&mut self.young),
            silent: std::mem::take(&mut self.silent),
            heal: self.heal.take(),
            ..Self::default()
        };
    }

    /// The fetch of a fresh join: as [`Fetch::restart`], but it may start at `StateSynced`.
    pub(crate) fn restart_joined(&mut self, now: Instant) {
        self.restart(now);
        self.on_sync = true;
    }

    fn request_id(&self) -> u32 {
        u32::from(self.pass) << 16 | u32::from(self.counter)
    }

    /// Display order: each origin's messages in number order, none shown older than the
    /// one before it (the server's ages are unsigned hints, clamped to `max_age`), then
    /// oldest first across origins, ties by origin and number.
    fn display_order(&self, max_age: u32) -> Vec<(PublicKey, u32, u32)> {
        let mut out = Vec::with_capacity(self.got.len());
        let mut last: Option<(PublicKey, u32)> = None;
        for ((origin, number), g) in &self.got {
            let mut age = g.age.min(max_age);
            if let Some((o, a)) = last.filter(|(o, _)| o == origin) {
                age = age.min(a);
                last = Some((o, age));
            } else {
                last = Some((*origin, age));
            }
            out.push((*origin, *number, age));
        }
        out.sort_by_key(|(o, n, a)| (std::cmp::Reverse(*a), *o, *n));
        out
    }
}

impl Group {
    /// True when the group keeps no history: legacy, or a limit of 0 messages.
    fn history_off(&self) -> bool {
        self.dialect() != Dialect::Secure || self.history.limits.max_messages == 0
    }

    /// When the fetch's own timer is due: its start `history_delay` after joining, or its
    /// re-ask `history_timeout` after the last request (not at the next 1 s tick); `None`
    /// when it waits for nothing or already ran for that instant.
    pub(crate) fn fetch_due(&self, config: &Config) -> Option<Instant> {
        if self.history_off() || !self.is_joined() {
            return None;
        }
        let f = &self.fetch;
        let at = match f.phase {
            Phase::Waiting(at) => self.fetch_start(at, config),
            Phase::Main | Phase::Gaps => f.sent_at? + config.history_timeout,
            Phase::Idle | Phase::Done => return None,
        };
        (f.looked != Some(at)).then_some(at)
    }

    /// When a fetch waiting since `at` starts: `history_delay` later, or at once when it is
    /// a fresh join's and the state is synced (the fact and name syncs are in).
    fn fetch_start(&self, at: Instant, config: &Config) -> Instant {
        if self.fetch.on_sync && self.state_synced() {
            at
        } else {
            at + config.history_delay
        }
    }

    /// Runs the fetch's own timer if it is due.
    pub(crate) fn on_fetch_timer(&mut self, io: &mut Io<'_>) {
        if let Some(at) = self.fetch_due(io.config).filter(|at| io.now >= *at) {
            self.fetch.looked = Some(at);
            self.on_history_tick(io);
        }
    }

    /// Drives the fetch from the tick: starts it once joined, re-asks on silence.
    pub(crate) fn on_history_tick(&mut self, io: &mut Io<'_>) {
        if self.history_off() {
            return;
        }
        self.expire_young(io);
        if !self.is_joined() {
            return;
        }
        // Back from a stop (no tick for STALL: SIGSTOP, a suspended laptop) or from being cut
        // off (our table emptied and filled again): what was said meanwhile is history.
        let f = &mut self.fetch;
        let stalled = f.last_tick.is_some_and(|t| io.now >= t + STALL);
        let back = f.cut_off && !self.table.is_empty();
        f.last_tick = Some(io.now);
        f.cut_off |= self.table.is_empty();
        if f.phase == Phase::Done && (stalled || back) {
            f.restart(io.now);
        }
        match self.fetch.phase {
            Phase::Idle => self.fetch.restart(io.now),
            Phase::Waiting(at) if io.now >= self.fetch_start(at, io.config) => self.start_main(io),
            Phase::Main | Phase::Gaps => self.on_fetch_silence(io),
            Phase::Waiting(_) | Phase::Done => {}
        }
    }

    fn start_main(&mut self, io: &mut Io<'_>) {
        let heal = self.fetch.heal.take();
        let Some(server) = heal.map(|h| h.0).or_else(|| self.pick_server(io, None)) else {
            return;
        };
        let f = &mut self.fetch;
        f.phase = Phase::Main;
        f.cut_off = false;
        f.within = match (heal, self.history.entries.back()) {
            (Some((_, within)), _) => within,
            (None, Some(e)) => age_secs(io.now, e.at).saturating_add(OVERLAP),
            (None, None) => u32::MAX,
        };
        f.main_server = Some(server.0);
        f.mains = 1;
        self.begin_pass(io, server, None);
    }

    /// A relay target we have not asked in this fetch, other than `except`.
    fn pick_server(
        &self,
        io: &mut Io<'_>,
        except: Option<PublicKey>,
    ) -> Option<(PublicKey, SocketAddr)> {
        let targets: Vec<_> = (self.relay_targets(io.now, io.config.bad_node_timeout))
            .into_iter()
            .filter(|(k, _)| Some(*k) != except && !self.fetch.tried.contains(k))
            .collect();
        (!targets.is_empty()).then(|| targets[io.rng.random_range(0..targets.len())])
    }

    fn begin_pass(
        &mut self,
        io: &mut Io<'_>,
        server: (PublicKey, SocketAddr),
        target: Option<(PublicKey, u32, u32)>,
    ) {
        let f = &mut self.fetch;
        f.tried.push(server.0);
        f.server = Some(server);
        f.target = target;
        f.cursor = 0;
        f.ahead.clear();
        f.pass = f.pass.wrapping_add(1);
        f.tries = 0;
        self.send_history_request(io);
    }

    fn send_history_request(&mut self, io: &mut Io<'_>) {
        let Some((key, addr)) = self.fetch.server else {
            return;
        };
        let f = &mut self.fetch;
        f.counter = f.counter.wrapping_add(1);
        f.sent_at = Some(io.now);
        let req = HistoryRequest {
            request_id: f.request_id(),
            cursor: f.cursor,
            within: if f.target.is_some() {
                u32::MAX
            } else {
                f.within
            },
            origin: f.target,
            padding: MAX_DATA - HISTORY_REQUEST_LEN,
        };
        io.stats.history.requests += 1;
        let before = io.stats.bytes_out;
        io.send(self.identity(), &key, addr, &Payload::HistoryRequest(req));
        io.stats.history.request_bytes += io.stats.bytes_out - before;
    }

    /// No progress for `history_timeout`: ask again, or another member.
    fn on_fetch_silence(&mut self, io: &mut Io<'_>) {
        let quiet = (self.fetch.sent_at).is_none_or(|t| io.now >= t + io.config.history_timeout);
        if !quiet {
            return;
        }
        self.fetch.tries += 1;
        if self.fetch.tries < TRIES {
            self.send_history_request(io);
            return;
        }
        let target = self.fetch.target;
        let except = self.fetch.main_server.filter(|_| target.is_some());
        match self.pick_server(io, except) {
            Some(server) => self.begin_pass(io, server, target),
            None if target.is_some() => self.next_gap(io),
            None => self.complete_fetch(io),
        }
    }

    /// A page of a history answer from `hop` at `from`.
    pub(crate) fn on_history_page(
        &mut self,
        io: &mut Io<'_>,
        hop: PublicKey,
        from: SocketAddr,
        page: &HistoryPage<'_>,
    ) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        let asked = matches!(self.fetch.phase, Phase::Main | Phase::Gaps);
        if !asked || self.fetch.server != Some((hop, from)) {
            return Err(DropReason::UnknownSender);
        }
        for entry in page.entries() {
            match entry {
                Ok(e) => self.take_history_entry(io, &e),
                Err(_) => {
                    io.stats.history.rejected += 1;
                    break;
                }
            }
        }
        if (page.request_id >> 16) as u16 != self.fetch.pass {
            return Ok(());
        }
        if self.fetch.ahead.len() >= AHEAD_MAX {
            // Pages far ahead of a lost one: the next request asks for them again.
            self.fetch.ahead.remove(0);
        }
        let end = page.has(HistoryPage::END);
        self.fetch.ahead.push((page.from, page.next, end));
        if self.chain_pages(io.now) {
            self.finish_pass(io);
        } else if page.has(HistoryPage::LAST) && page.request_id == self.fetch.request_id() {
            self.fetch.tries = 0;
            self.send_history_request(io);
        }
        Ok(())
    }

    /// Moves the cursor over the pages that join it; true once the `end` page joined.
    fn chain_pages(&mut self, now: Instant) -> bool {
        let f = &mut self.fetch;
        while let Some(i) = f.ahead.iter().position(|(from, _, _)| *from == f.cursor) {
            let (_, next, end) = f.ahead.swap_remove(i);
            f.cursor = next;
            f.sent_at = Some(now);
            f.tries = 0;
            if end {
                return true;
            }
        }
        false
    }

    /// Checks one entry; keeps it if it is new to us.
    fn take_history_entry(&mut self, io: &mut Io<'_>, e: &HistoryEntry<'_>) {
        let Some(origin) = crate::crypto::x25519_of(&e.trailer.signer) else {
            io.stats.history.rejected += 1;
            return;
        };
        let b = e.broadcast(origin);
        match self.check_entry(&b) {
            Ok(()) if is_text(b.message_id) => {}
            Err(DropReason::Banned) => return,
            _ => {
                io.stats.history.rejected += 1;
                if self.fetch.suspects.len() < GAPS_MAX {
                    self.fetch.suspects.push((origin, e.number));
                }
                return;
            }
        }
        let cap = self.history.limits.max_messages.saturating_mul(4);
        if self.fetch.claims.len() < cap {
            self.fetch.claims.push((origin, e.number, e.prev));
        }
        let key = (origin, e.number);
        if self.known(&origin, e.number) {
            return;
        }
        if self.accepted_before(&origin, e.number) {
            // Shown before a restart (or ours): kept, checked, so the log serves it and
            // remembers it across the next restart; not shown again.
            let age = std::time::Duration::from_secs(u64::from(e.age));
            self.history.push(io.now, age, &b);
            return;
        }
        let mut plain = Vec::with_capacity(1 + b.encoded_len());
        if Payload::Broadcast(b).encode(&mut plain).is_err() {
            return;
        }
        let plain = plain.into_boxed_slice();
        if self.is_young(io.now, e.age) {
            self.defer_young(io, key, e.age, plain);
        } else if self.fetch.got.len() < self.history.limits.max_messages {
            io.stats.history.accepted += 1;
            self.fetch.got.insert(key, Got { age: e.age, plain });
        }
    }

    /// True if we hold `number` of `origin`, in our log or in this fetch (young or not).
    fn known(&self, origin: &PublicKey, number: u32) -> bool {
        let key = (*origin, number);
        self.history.holds(origin, number)
            || self.fetch.got.contains_key(&key)
            || self.fetch.young.contains(&key)
    }

    /// The highest number of `origin` we hold below `number`, in our log or this fetch.
    fn known_below(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        let in_log = self.history.below(origin, number);
        let range = (*origin, 0)..(*origin, number);
        let in_got = self
            .fetch
            .got
            .range(range)
            .next_back()
            .map(|((_, n), _)| *n);
        in_log
            .max(in_got)
            .max(self.fetch.young.below(origin, number))
    }

    /// A pass ended: queue the gaps it showed, then ask the next one or finish.
    fn finish_pass(&mut self, io: &mut Io<'_>) {
        self.fetch.sent_at = None;
        let mut found = Vec::new();
        for &(origin, _, prev) in &self.fetch.claims {
            if prev != 0 && !self.known(&origin, prev) {
                let lo = self
                    .known_below(&origin, prev)
                    .map_or(1, |n| n.saturating_add(1));
                found.push((origin, lo, prev));
            }
        }
        for &(origin, number) in &self.fetch.suspects {
            if !self.known(&origin, number) {
                found.push((origin, number, number));
            }
        }
        for (origin, lo, hi) in found {
            if self.fetch.asked.len() < GAPS_MAX && self.fetch.asked.insert((origin, hi)) {
                io.stats.history.gaps_found += 1;
                self.fetch.gaps.push_back((origin, lo, hi));
            }
        }
        // A main pass ended: read one more member's log, if another member is there.
        if self.fetch.target.is_none() && self.fetch.mains < MAIN_PASSES {
            if let Some(server) = self.pick_server(io, None) {
                self.fetch.mains += 1;
                self.begin_pass(io, server, None);
                return;
            }
        }
        // A gap this member did not fill either: ask the next member for it.
        if let Some(gap) = self.fetch.target.filter(|g| !self.known(&g.0, g.2)) {
            let except = self.fetch.main_server;
            if let Some(server) = self.pick_server(io, except) {
                self.begin_pass(io, server, Some(gap));
                return;
            }
        }
        self.next_gap(io);
    }

    /// Asks another member for the next gap, or finishes.
    fn next_gap(&mut self, io: &mut Io<'_>) {
        while let Some(gap) = self.fetch.gaps.pop_front() {
            if self.known(&gap.0, gap.2) {
                continue;
            }
            self.fetch.tried.clear();
            let except = self.fetch.main_server;
            if let Some(server) = self.pick_server(io, except) {
                self.fetch.phase = Phase::Gaps;
                self.begin_pass(io, server, Some(gap));
                return;
            }
        }
        self.complete_fetch(io);
    }

    /// Shows the new messages in display order, keeps them, and says the fetch is done.
    fn complete_fetch(&mut self, io: &mut Io<'_>) {
        let max_age = u32::try_from(self.history.limits.max_age.as_secs()).unwrap_or(u32::MAX);
        let order = self.fetch.display_order(max_age);
        let mut shown = 0u32;
        for (origin, number, age) in order {
            let Some(got) = self.fetch.got.remove(&(origin, number)) else {
                continue;
            };
            let Ok(Payload::Broadcast(b)) = Payload::decode(&got.plain) else {
                continue;
            };
            shown += u32::from(self.show_history(io, &b, age));
        }
        let gaps = (self.fetch.asked.iter())
            .filter(|(o, n)| !self.known(o, *n))
            .count();
        self.fetch = Fetch {
            phase: Phase::Done,
            last_tick: self.fetch.last_tick,
            young: std::mem::take(&mut self.fetch.young),
            silent: std::mem::take(&mut self.fetch.silent),
            heal: self.fetch.heal.take(),
            ..Fetch::default()
        };
        if self.fetch.heal.is_some() {
            self.fetch.restart(io.now);
        }
        io.emit(Event::HistoryDone {
            group: self.id(),
            messages: shown,
            gaps: u32::try_from(gaps).unwrap_or(u32::MAX),
        });
    }
}

impl Group {
    /// A table peer was dropped for silence; `heard` is when it last answered.
    pub(crate) fn note_silent(&mut self, key: PublicKey, heard: Instant) {
        let silent = &mut self.fetch.silent;
        silent.retain(|(k, _)| *k != key);
        if silent.len() >= SILENT_MAX {
            silent.remove(0);
        }
        silent.push((key, heard));
    }

    /// `key` answered us at `addr`: if it is a peer we dropped for silence (the two of us
    /// were cut apart), read its log for what was said meanwhile (PROTOCOL.md §6.13, "Heal").
    pub(crate) fn heal_from(&mut self, io: &mut Io<'_>, key: PublicKey, addr: SocketAddr) {
        let Some(i) = self.fetch.silent.iter().position(|(k, _)| *k == key) else {
            return;
        };
        let (_, heard) = self.fetch.silent.swap_remove(i);
        if self.history_off() || !self.is_joined() {
            return;
        }
        io.stats.history.heals += 1;
        let within = age_secs(io.now, heard).saturating_add(OVERLAP);
        self.fetch.heal = Some(((key, addr), within));
        if self.fetch.phase == Phase::Done {
            self.fetch.restart(io.now);
        }
    }
}

#[cfg(test)]
impl Fetch {
    /// A checked entry of `age` seconds, for the display-order test.
    pub(super) fn insert_for_test(&mut self, key: (PublicKey, u32), age: u32) {
        let plain = Box::new([]);
        self.got.insert(key, Got { age, plain });
    }

    pub(super) fn order_for_test(&self, max_age: u32) -> Vec<(PublicKey, u32, u32)> {
        self.display_order(max_age)
    }
}
