//! Young entries (PROTOCOL.md §6.13, "Young entries"): a history fetch takes only what was
//! said before it began.
//!
//! A fetch begins when it is triggered (we joined, came back from a stall or a cut-off, or
//! the application asked). An entry the server stored after that instant was said while we
//! were here: its live copy is on its way, or lost and waiting for repair. Taken as history,
//! the live copy would later be dropped as a duplicate and the message shown as history
//! instead of live. So an entry whose server age is below the time since the fetch began
//! (`age < now − began`, whole seconds: everything stored after `began` and some of the
//! second before it) is *young*: it is not shown, not kept and not counted as received;
//! it waits here. When its live copy arrives it is shown live and kept as any live message.
//! One still missing `recent_ttl` after we got it (3 s: no member keeps a copy for repair
//! any longer) is shown as history then, so nothing said around the trigger is lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::proto::{Event, TextKind};
use crate::wire::{Broadcast, MessageId, Payload, PublicKey};

/// A young entry waiting for its live copy.
#[derive(Debug, Clone)]
struct Waiting {
    /// When it is shown as history if still missing.
    due: Instant,
    /// When we got it, and the age the server gave then.
    got_at: Instant,
    age: u32,
    plain: Box<[u8]>,
}

/// The young entries of one group, by (origin, number).
#[derive(Debug, Default)]
pub(crate) struct Young {
    waiting: BTreeMap<(PublicKey, u32), Waiting>,
}

impl Young {
    pub(crate) fn contains(&self, key: &(PublicKey, u32)) -> bool {
        self.waiting.contains_key(key)
    }

    /// The highest number of `origin` waiting here below `number`.
    pub(crate) fn below(&self, origin: &PublicKey, number: u32) -> Option<u32> {
        let range = (*origin, 0)..(*origin, number);
        self.waiting.range(range).next_back().map(|((_, n), _)| *n)
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

impl Group {
    /// True if `number` of `origin` was shown before: it is in our log, or it was shown since
    /// the last store before a restart (the marks journal, §6.9), or it is ours and at or
    /// below the last number we spent (we showed it when we sent it, before a restart too:
    /// the stored number is a reservation above it). Not the origin's mark: a mark is a
    /// high-water mark, and a number below it that was never shown (lost live, then a
    /// restart before repair) must still come as history. Not the live dedup window either.
    pub(crate) fn accepted_before(&self, origin: &PublicKey, number: u32) -> bool {
        (*origin == self.own() && number <= self.numbers.last())
            || self.history.holds(origin, number)
            || self.history.shown_before(origin, number)
    }

    /// True if an entry of server age `age` may have been stored after this fetch began.
    pub(crate) fn is_young(&self, now: Instant, age: u32) -> bool {
        (self.fetch.began)
            .is_some_and(|b| Duration::from_secs(u64::from(age)) < now.saturating_duration_since(b))
    }

    /// Leaves a checked young entry to the live path (see the module docs).
    pub(crate) fn defer_young(
        &mut self,
        io: &mut Io<'_>,
        key: (PublicKey, u32),
        age: u32,
        plain: Box<[u8]>,
    ) {
        if self.fetch.young.len() >= self.history.limits.max_messages {
            return;
        }
        io.stats.history.young += 1;
        let w = Waiting {
            due: io.now + io.config.recent_ttl,
            got_at: io.now,
            age,
            plain,
        };
        self.fetch.young.waiting.insert(key, w);
    }

    /// Young entries past their time: those that arrived live are dropped, the others are
    /// shown as history.
    pub(crate) fn expire_young(&mut self, io: &mut Io<'_>) {
        let now = io.now;
        let due: Vec<_> = (self.fetch.young.waiting.iter())
            .filter(|(_, w)| now >= w.due)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(w) = self.fetch.young.waiting.remove(&key) else {
                continue;
            };
            if self.accepted_before(&key.0, key.1) {
                continue;
            }
            let Ok(Payload::Broadcast(b)) = Payload::decode(&w.plain) else {
                continue;
            };
            let age = w.age.saturating_add(super::age_secs(now, w.got_at));
            if self.show_history(io, &b, age) {
                io.stats.history.young_late += 1;
            }
        }
    }

    /// Keeps a checked history message in our log and shows it; false if held already.
    pub(crate) fn show_history(&mut self, io: &mut Io<'_>, b: &Broadcast<'_>, age: u32) -> bool {
        let held = Duration::from_secs(u64::from(age));
        if self.accepted_before(&b.origin, b.number) || !self.history.push(io.now, held, b) {
            return false;
        }
        let kind = match MessageId::try_from(b.message_id) {
            Ok(MessageId::Chat) => TextKind::Chat,
            _ => TextKind::Action,
        };
        io.emit(Event::HistoryMessage {
            group: self.id(),
            origin: b.origin,
            number: b.number,
            kind,
            text: b.body.to_vec(),
            age_secs: age,
        });
        true
    }
}
