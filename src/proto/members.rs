//! The members of one group: what we know of each (name, status, address, dedup windows,
//! signing key, token bucket, kept name-sync copies) and the rules for adding, listing,
//! validating, departing and forgetting them. [`Members`] owns the map and [`Member`] its
//! fields; the handlers call methods named for what they do and never write a field.
//!
//! A member is *listed* once it answered or broadcast (or a member vouched for it): only
//! listed members are shown to the application. A bootstrap contact is not listed until then,
//! but its address is used. A member that quit is kept `quit_delay` longer, *departed*, so
//! late copies of its broadcasts are recognised; one that rejoins is live again.
//!
//! Under member-list pressure the least valuable entry goes first (`Members::evict_one`):
//! never an active member (signed traffic or a proven answer within the idle time) nor one
//! with a role; unproven entries before the longest silent. Each member also carries its
//! announcement and introduction buckets and its reply budget (PROTOCOL.md §6.2, §6.7).

mod seen;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::DropReason;
use super::intro::Intro;
use super::marks::Mark;
use super::spam::Bucket;
use super::window::SeenWindow;
use crate::crypto::SignerKey;
use crate::wire::{Broadcast, PublicKey, Status};
use seen::Seen;

/// A member silent this long lets its decompressed signing key go; its next broadcast checks
/// the key afresh (PROTOCOL.md §4.3, about 20 % more than a cached check) and caches it
/// again. Members that speak keep theirs; the many that only ping every 30 s do not hold
/// one each (benches/README.md, "Memory per node").
const SIGNER_IDLE: Duration = Duration::from_secs(10);

/// What we know of one member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    name: Vec<u8>,
    status: Status,
    /// Last accepted broadcast from it (or when it was validated/announced).
    last_seen: Instant,
    /// Its dedup window; `None` until its first broadcast. Compact while it holds no number
    /// more than 63 below its newest ([`Seen`]).
    window: Option<Seen>,
    /// Its checked signing key (secure groups), cached after the first good signature and
    /// let go after [`SIGNER_IDLE`] of silence (boxed: about 220 bytes).
    signer: Option<Box<SignerKey>>,
    /// When it quit; it is forgotten `quit_delay` later.
    departed_at: Option<Instant>,
    /// Its address, if known.
    addr: Option<SocketAddr>,
    /// True when `addr` was proven by a round trip that we started.
    validated: bool,
    /// Its broadcasts' token bucket (`Config::origin_rate`), also taken by its direct messages.
    rate: Bucket,
    /// Its announcements' token bucket (`Config::announce_rate`): new_peer, sent on others'
    /// behalf, is a class of its own so a join flood through it never spends `rate`.
    announce: Bucket,
    /// Origins it may still introduce to us as a hop (`Config::vouch_rate`, secure groups).
    vouch: Bucket,
    /// Bytes of replies sent to it beyond what it sent us, 0 ..= `Config::reply_burst`
    /// (PROTOCOL.md §6.2, reply budget): 0 is a full budget.
    replied: u32,
    /// Its direct messages' dedup window; `None` until its first one (boxed: most members
    /// never send us one).
    direct: Option<Box<SeenWindow>>,
    /// False for a bootstrap contact (the join string's member, or one given to
    /// `add_contacts`) that has not answered nor broadcast yet: not shown to the application
    /// (no PeerJoined, not in `members()`), but usable as an address and a hop.
    listed: bool,
    /// Its latest name and status broadcasts, for the name sync (secure groups).
    intro: Intro,
}

impl Member {
    fn new(now: Instant) -> Self {
        Self {
            name: Vec::new(),
            status: Status::Online,
            last_seen: now,
            window: None,
            signer: None,
            departed_at: None,
            addr: None,
            validated: false,
            rate: Bucket::default(),
            announce: Bucket::default(),
            vouch: Bucket::default(),
            replied: 0,
            direct: None,
            listed: true,
            intro: Intro::default(),
        }
    }

    /// A bootstrap contact at `addr`: not listed until it answers or broadcasts.
    fn contact(now: Instant, addr: SocketAddr) -> Self {
        Self {
            addr: Some(addr),
            listed: false,
            ..Self::new(now)
        }
    }

    /// Its nick (empty until it sent one).
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    /// Its presence.
    pub(crate) fn status(&self) -> Status {
        self.status
    }

    /// Its cached signing key, if one of its signatures was checked.
    pub(crate) fn signer(&self) -> Option<&SignerKey> {
        self.signer.as_deref()
    }

    /// The tops of its windows, as a high-water mark of `key` (0: no window).
    fn mark(&self, key: PublicKey) -> Mark {
        Mark {
            origin: key,
            broadcast: self.window.as_ref().map_or(0, |w| w.top()),
            direct: self.direct.as_ref().map_or(0, |w| w.top()),
        }
    }

    fn is_live(&self) -> bool {
        self.departed_at.is_none() && self.listed
    }

    /// True if `number` is newer than everything it sent before it quit: it rejoined (a
    /// restarted node resumes numbering past its quit, PROTOCOL.md §6.9).
    fn came_back(&self, number: u32) -> bool {
        self.window
            .as_ref()
            .is_some_and(|w| (number.wrapping_sub(w.top()) as i32) > 0)
    }

    /// True if `number` is below its quit's and not taken yet: a message it sent before it
    /// quit, arriving late (repaired, or reordered behind the quit).
    fn sent_before_quit(&self, number: u32, forward_cap: u32) -> bool {
        self.window.as_ref().is_some_and(|w| {
            (w.top().wrapping_sub(number) as i32) > 0 && w.check(number, forward_cap).is_ok()
        })
    }

    /// May its broadcast `number` be taken? Not if it quit, unless this is a rejoin or a
    /// message it sent before its quit that we have not taken; nor if its dedup window
    /// refuses it. Changes nothing.
    pub(crate) fn check(&self, number: u32, forward_cap: u32) -> Result<(), DropReason> {
        let late = |n| self.sent_before_quit(n, forward_cap);
        if self.departed_at.is_some() && !self.came_back(number) && !late(number) {
            return Err(DropReason::Departed);
        }
        match &self.window {
            Some(w) => w.check(number, forward_cap),
            None => Ok(()),
        }
    }

    /// Lists it if it was an unlisted contact; true if that happened (or `is_new`): the
    /// application must hear PeerJoined.
    pub(crate) fn list(&mut self, is_new: bool) -> bool {
        let first = is_new || !self.listed;
        self.listed = true;
        first
    }

    /// Its broadcast `number` was taken: if it numbers past its quit, it came back and is
    /// live again (true); one sent before its quit changes nothing.
    pub(crate) fn rejoin(&mut self, number: u32) -> bool {
        self.departed_at.is_some() && self.came_back(number) && self.departed_at.take().is_some()
    }

    /// Caches the signing key of its signed broadcast `b`, unless one is cached already.
    pub(crate) fn cache_signer(&mut self, b: &Broadcast<'_>) {
        if self.signer.is_none() {
            self.signer = (b.trailer)
                .and_then(|t| SignerKey::new(b.origin, &t.signer).ok())
                .map(Box::new);
        }
    }

    /// Its broadcast `number` was accepted at `now`: it is seen, its window moves.
    pub(crate) fn heard(&mut self, now: Instant, number: u32) {
        self.last_seen = now;
        match &mut self.window {
            Some(w) => w.mark(number),
            None => self.window = Some(Seen::new(number)),
        }
    }

    /// Takes one token of its bucket; false if it is over `rate` (burst, per second).
    pub(crate) fn take_rate(&mut self, now: Instant, rate: (u32, u32)) -> bool {
        self.rate.take(now, rate)
    }

    /// Takes one token of its announcement bucket; false if it is over `rate`.
    pub(crate) fn take_announce(&mut self, now: Instant, rate: (u32, u32)) -> bool {
        self.announce.take(now, rate)
    }

    /// Whether it should be kept over others when the list is full: it sent a signed broadcast
    /// within `idle`, or answered us and was seen within `idle`.
    fn is_active(&self, now: Instant, idle: Duration) -> bool {
        let recent = now.saturating_duration_since(self.last_seen) < idle;
        recent && (self.window.is_some() || self.validated)
    }

    /// It proved `addr` by answering us. Returns (no broadcast of it heard yet, first proof).
    pub(crate) fn prove(&mut self, addr: SocketAddr) -> (bool, bool) {
        self.addr = Some(addr);
        let fresh = self.window.is_none();
        let newly_validated = !self.validated;
        self.validated = true;
        (fresh, newly_validated)
    }

    /// Takes its direct message `number` at `now`: the direct window's check, then its
    /// token bucket (shared with its broadcasts), then the window records it.
    pub(crate) fn take_direct(
        &mut self,
        number: u32,
        now: Instant,
        forward_cap: u32,
        rate: (u32, u32),
    ) -> Result<(), DropReason> {
        if let Some(w) = &self.direct {
            w.check(number, forward_cap)?;
        }
        if !self.rate.take(now, rate) {
            return Err(DropReason::OverLimit);
        }
        match &mut self.direct {
            Some(w) => w.mark(number),
            None => self.direct = Some(Box::new(SeenWindow::new(number))),
        }
        Ok(())
    }
}

/// The members of one group, by key (ourselves never among them). Each entry is boxed: a
/// `Member` is about 600 bytes and a B-tree leaf holds room for 11 entries whether used or
/// not, so unboxed entries cost about 1.5 times their size (benches/README.md, "Memory per
/// node").
#[derive(Debug, Default)]
pub(crate) struct Members(BTreeMap<PublicKey, Box<Member>>);

impl Members {
    /// How many are remembered (contacts and departed ones included).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// True if `key` is remembered (contacts and departed ones included).
    pub(crate) fn contains(&self, key: &PublicKey) -> bool {
        self.0.contains_key(key)
    }

    /// What we know of `key`.
    pub(crate) fn get(&self, key: &PublicKey) -> Option<&Member> {
        self.0.get(key).map(|m| &**m)
    }

    /// How many are listed (shown to the application; departed ones included).
    pub(crate) fn listed_count(&self) -> usize {
        self.0.values().filter(|m| m.listed).count()
    }

    /// The listed members that have not quit, by key.
    pub(crate) fn live(&self) -> impl Iterator<Item = (&PublicKey, &Member)> + '_ {
        (self.0.iter())
            .filter(|(_, m)| m.is_live())
            .map(|(k, m)| (k, &**m))
    }

    /// The members that have not quit and have a known address, by key.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = (PublicKey, SocketAddr)> + '_ {
        (self.0.iter())
            .filter(|(_, m)| m.departed_at.is_none())
            .filter_map(|(k, m)| m.addr.map(|a| (*k, a)))
    }

    /// The address we know for `key`, proven or not.
    pub(crate) fn addr(&self, key: &PublicKey) -> Option<SocketAddr> {
        self.0.get(key).and_then(|m| m.addr)
    }

    /// True if `key` proved `addr` to us by answering one of our requests.
    pub(crate) fn is_validated(&self, key: &PublicKey, addr: &SocketAddr) -> bool {
        (self.0.get(key)).is_some_and(|m| m.validated && m.addr == Some(*addr))
    }

    /// The entry of `key`, created (listed, seen `now`) if there is room below `max`; with
    /// true if it was created.
    pub(crate) fn admit(
        &mut self,
        key: PublicKey,
        now: Instant,
        max: usize,
    ) -> Result<(&mut Member, bool), DropReason> {
        let is_new = !self.0.contains_key(&key);
        if is_new && self.0.len() >= max {
            return Err(DropReason::MemberLimit);
        }
        Ok((
            self.0
                .entry(key)
                .or_insert_with(|| Box::new(Member::new(now))),
            is_new,
        ))
    }

    /// May `hop`, which sealed a datagram that came from `from`, introduce an origin we do
    /// not know (secure groups)? Only a member whose address `from` we proved, or a bootstrap
    /// contact we are joining through at the address we were given.
    pub(crate) fn may_vouch(&self, hop: &PublicKey, from: &SocketAddr) -> bool {
        (self.0.get(hop)).is_some_and(|m| m.addr == Some(*from) && (m.validated || !m.listed))
    }

    /// Takes one of `hop`'s introduction tokens (`rate`); false if it has none left.
    pub(crate) fn take_vouch(&mut self, hop: &PublicKey, now: Instant, rate: (u32, u32)) -> bool {
        (self.0.get_mut(hop)).is_some_and(|m| m.vouch.take(now, rate))
    }

    /// `key` sent us a datagram of `bytes` that opened: its reply budget grows by as much.
    pub(crate) fn credit(&mut self, key: &PublicKey, bytes: usize) {
        if let Some(m) = self.0.get_mut(key) {
            m.replied = m
                .replied
                .saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
        }
    }

    /// Bytes of reply `key` may still get (`burst` for a full budget); `None` if it is not a
    /// member (then only the reflection rules bound replies to it).
    pub(crate) fn reply_room(&self, key: &PublicKey, burst: u32) -> Option<u32> {
        (self.0.get(key)).map(|m| burst.saturating_sub(m.replied))
    }

    /// A reply of `bytes` went to `key`: its budget shrinks, down to empty.
    pub(crate) fn spend_reply(&mut self, key: &PublicKey, bytes: usize, burst: u32) {
        if let Some(m) = self.0.get_mut(key) {
            let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            m.replied = m.replied.saturating_add(bytes).min(burst);
        }
    }

    /// Under member-list pressure: forgets the least valuable member, never one that is active
    /// (signed traffic or a proven answer within `idle`) nor one `keep` protects (roles).
    /// Unproven entries go first (never answered, never broadcast), then the longest silent.
    /// Returns the key, with whether it was listed.
    pub(crate) fn evict_one(
        &mut self,
        now: Instant,
        idle: Duration,
        keep: impl Fn(&PublicKey) -> bool,
    ) -> Option<(PublicKey, bool)> {
        let (key, _) = (self.0.iter())
            .filter(|(k, m)| !m.is_active(now, idle) && !keep(k))
            .min_by_key(|(_, m)| (m.validated || m.window.is_some(), m.last_seen))?;
        let key = *key;
        let listed = self.0.remove(&key).is_some_and(|m| m.listed);
        Some((key, listed))
    }

    /// Lets `key` in (an invitation), whatever the member limit.
    pub(crate) fn invite(&mut self, key: PublicKey, now: Instant) {
        self.0
            .entry(key)
            .or_insert_with(|| Box::new(Member::new(now)));
    }

    /// A bootstrap contact at `addr`: a new one is unlisted; a known one keeps its address
    /// if it has one.
    pub(crate) fn add_contact(&mut self, key: PublicKey, addr: SocketAddr, now: Instant) {
        let member = (self.0.entry(key)).or_insert_with(|| Box::new(Member::contact(now, addr)));
        if member.addr.is_none() {
            member.addr = Some(addr);
        }
    }

    /// Another node told us `key` is at `addr`: taken unless its address is proven.
    pub(crate) fn heard_of(&mut self, key: &PublicKey, addr: SocketAddr) {
        if let Some(m) = self.0.get_mut(key) {
            if !m.validated {
                m.addr = Some(addr);
            }
        }
    }

    /// A member vouched for `key` (new_peer): `None` if we do not know it, else true if it
    /// was an unlisted contact and is listed now.
    pub(crate) fn vouch(&mut self, key: &PublicKey) -> Option<bool> {
        self.0.get_mut(key).map(|m| m.list(false))
    }

    /// The member `key` may send us a direct message: known and not quit.
    pub(crate) fn direct_from(&mut self, key: &PublicKey) -> Result<&mut Member, DropReason> {
        let member = self.0.get_mut(key).ok_or(DropReason::UnknownSender)?;
        if member.departed_at.is_some() {
            return Err(DropReason::Departed);
        }
        Ok(member)
    }

    /// `key` quit at `now`. Its direct window stays: a restarted member resumes its direct
    /// numbers past the stored ones, like its broadcast numbers (PROTOCOL.md §6.9).
    pub(crate) fn depart(&mut self, key: &PublicKey, now: Instant) {
        if let Some(m) = self.0.get_mut(key) {
            m.departed_at = Some(now);
        }
    }

    /// The tops of every member's windows, for the store (PROTOCOL.md §6.9).
    pub(crate) fn marks(&self) -> impl Iterator<Item = Mark> + '_ {
        self.0.iter().map(|(k, m)| m.mark(*k))
    }

    /// Sets the nick of `key`; true if it changed.
    pub(crate) fn rename(&mut self, key: &PublicKey, name: &[u8]) -> bool {
        let Some(m) = self.0.get_mut(key) else {
            return false;
        };
        let changed = m.name != name;
        if changed {
            m.name = name.to_vec();
        }
        changed
    }

    /// Sets the presence of `key`; true if it changed.
    pub(crate) fn set_status(&mut self, key: &PublicKey, status: Status) -> bool {
        let Some(m) = self.0.get_mut(key) else {
            return false;
        };
        let changed = m.status != status;
        m.status = status;
        changed
    }

    /// Keeps the name or status broadcast `b` of its origin for the name sync.
    pub(crate) fn keep_intro(&mut self, b: &Broadcast<'_>) {
        if let Some(m) = self.0.get_mut(&b.origin) {
            m.intro.keep(b);
        }
    }

    /// The kept name and status broadcasts of `key`.
    pub(crate) fn intro(&self, key: &PublicKey) -> Option<&Intro> {
        self.0.get(key).map(|m| &m.intro)
    }

    /// For the name sync to `to`: every other live member that broadcast, most recently
    /// seen first, with the top of its window and its kept copies.
    pub(crate) fn intros(&self, to: &PublicKey) -> Vec<(u32, &Intro)> {
        let mut others: Vec<_> = (self.live())
            .filter(|(k, _)| *k != to)
            .filter_map(|(_, m)| Some((m.last_seen, m.window.as_ref()?.top(), &m.intro)))
            .collect();
        others.sort_by_key(|(seen, _, _)| std::cmp::Reverse(*seen));
        (others.into_iter())
            .map(|(_, top, intro)| (top, intro))
            .collect()
    }

    /// Forgets `key` at once (banned or kicked); returns the tops of its windows.
    pub(crate) fn forget(&mut self, key: &PublicKey) -> Option<Mark> {
        self.0.remove(key).map(|m| m.mark(*key))
    }

    /// Forgets the members that quit `quit_delay` ago and those silent for `timeout`; returns
    /// the silent ones, each with whether it was listed. The tops of every forgotten
    /// member's windows go to `gone`. Members silent for [`SIGNER_IDLE`] let their cached
    /// signing key go.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        (quit_delay, timeout): (Duration, Duration),
        gone: &mut Vec<Mark>,
    ) -> Vec<(PublicKey, bool)> {
        let mut timed_out = Vec::new();
        self.0.retain(|key, m| {
            let keep = match m.departed_at {
                Some(t) => now.saturating_duration_since(t) < quit_delay,
                None if now.saturating_duration_since(m.last_seen) >= timeout => {
                    timed_out.push((*key, m.listed));
                    false
                }
                None => true,
            };
            if !keep {
                gone.push(m.mark(*key));
            } else if now.saturating_duration_since(m.last_seen) >= SIGNER_IDLE {
                m.signer = None;
            }
            keep
        });
        timed_out
    }
}

#[cfg(test)]
mod tests;
