//! What the runtime writes to the store while it runs (PROTOCOL.md §6.9): each group's last
//! known peers (its DHT table), the last broadcast and direct-message numbers we spent, the
//! highest numbers accepted from each origin (so a restart refuses replays) and the nicks we
//! know.
//!
//! Written every [`super::runtime::PERSIST_EVERY`], soon after the members change (so a
//! kill -9 shortly after a join still comes back through the new peers), and on every clean
//! exit; our broadcast number also every [`NUMBER_STORE_EVERY`] messages. Between those
//! stores, every message number accepted is appended to the marks journal before the message
//! is shown ([`Runtime::journal_shown`]), so a kill -9 shows nothing again; the journal is
//! emptied once every group's marks are stored.

use super::runtime::Runtime;
use crate::net::{NodeEvent, PersistState};
use crate::proto::{GroupId, HistoryChanges};
use crate::store::{
    JOURNAL_SOON, JournalCounter, StoredAdmission, StoredHistory, StoredMark, StoredPeer,
};
use crate::wire::PublicKey;

/// Seconds since the unix epoch (0 if the clock is before it): stored history times.
pub(super) fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)] // the application layer reads the wall clock
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Our message numbers are stored at least this often (PROTOCOL.md §6.9).
pub(super) const NUMBER_STORE_EVERY: u32 = 100;

/// A group's state as read for a store: (group, its record, the state if the driver had it).
pub(super) type ReadState = (GroupId, u64, Option<PersistState>);

impl Runtime {
    /// Stores our table as each group's last known peers, the message numbers and the marks
    /// (the driver's state now, see [`Runtime::read_state`]).
    pub async fn persist(&mut self) {
        let (states, next) = self.read_state().await;
        self.write_state(states);
        if let Some(ev) = next {
            self.on_node_event(ev).await;
        }
    }

    /// Reads every group's state from the driver, at one instant, for
    /// [`Runtime::write_state`]; also returns the first event made after it, if one was
    /// taken from the channel here (handle it after the write).
    ///
    /// The state holds messages whose events are still queued for us: they are handled here
    /// (journaled, and queued for the front end, which the event loop shows before it writes
    /// the state), so the store never says a message was taken that this process did not
    /// show. Otherwise a quit or a kill -9 right after the write loses it for good: the
    /// restarted member holds it in its log and does not fetch it again. No later event is
    /// handled before the write: the write empties the marks journal, which must then hold
    /// nothing the written marks lack.
    pub(super) async fn read_state(&mut self) -> (Vec<ReadState>, Option<NodeEvent>) {
        self.persist_due = None;
        let asked: Vec<(GroupId, u64, (u32, u64))> = (self.groups.iter())
            .map(|(g, j)| (*g, j.record, j.history_cursor))
            .collect();
        let groups = asked.iter().map(|(g, _, after)| (*g, *after)).collect();
        let Ok(snapshot) = self.handle.persisted(groups).await else {
            // No state read: every group counts as not stored, so the journal is kept.
            let none = asked.into_iter().map(|(g, record, _)| (g, record, None));
            return (none.collect(), None);
        };
        let states = (asked.into_iter().zip(snapshot.states))
            .map(|((group, record, _), state)| (group, record, state))
            .collect();
        (states, self.on_events_before(snapshot.events_before).await)
    }

    /// Writes what [`Runtime::read_state`] read.
    pub(super) fn write_state(&mut self, states: Vec<ReadState>) {
        let mut all_marks = true;
        for (group, record, state) in states {
            let Some(state) = state else {
                all_marks = false;
                continue;
            };
            all_marks &= self.store_state(record, &state);
            if self.store_history(record, &state.history) {
                if let Some(j) = self.groups.get_mut(&group) {
                    j.history_cursor = state.history.cursor;
                }
            }
            self.store_nicks(group, record);
            self.store_number(group, state.last_number);
        }
        if all_marks && self.keep_shown() {
            // Every number journaled so far is in the stored marks (fsynced), and every
            // number it says was shown is in the stored history or the stored shown list.
            let _ = self.store.journal_clear();
        }
    }

    /// Before the journal is emptied: its shown numbers join the stored ones, so a message
    /// shown before this restart is still known as shown after the next ones (PROTOCOL.md
    /// §6.9); true if every group's were stored. The journal is read once for all groups.
    fn keep_shown(&self) -> bool {
        let Ok(mut shown) = self.store.journal_shown_by_group() else {
            return false;
        };
        // A group with nothing journaled is not written (a redb commit each, every 10 s).
        self.groups.values().all(|j| {
            let s = shown.remove(&j.record).unwrap_or_default();
            s.is_empty() || self.store.add_shown(j.record, &s).is_ok()
        })
    }

    /// Notes in the marks journal that `number` of `origin` was accepted in `group`; call
    /// before the message is shown (PROTOCOL.md §6.9). A long (or full) journal asks for
    /// the marks to be stored soon, which empties it.
    pub(super) fn journal_shown(
        &mut self,
        group: GroupId,
        origin: &PublicKey,
        counter: JournalCounter,
        number: u32,
    ) {
        let Some(record) = self.groups.get(&group).map(|j| j.record) else {
            return;
        };
        let kept = self
            .store
            .journal_accept(record, origin.as_bytes(), counter, number);
        if kept.is_ok_and(|len| len < JOURNAL_SOON) {
            return;
        }
        self.persist_soon();
    }

    /// Writes the peers (if any), the direct number and the marks of one group; true if the
    /// marks were stored.
    fn store_state(&self, record: u64, state: &PersistState) -> bool {
        let peers: Vec<StoredPeer> = (state.table.iter())
            .map(|e| StoredPeer {
                key: *e.key.as_bytes(),
                addr: e.addr,
            })
            .collect();
        if !peers.is_empty() {
            let _ = self.store.set_peers(record, &peers);
        }
        let _ = self.store.set_last_direct(record, state.last_direct);
        let marks: Vec<StoredMark> = (state.marks.iter())
            .map(|m| StoredMark {
                key: *m.origin.as_bytes(),
                broadcast: m.broadcast,
                direct: m.direct,
            })
            .collect();
        self.store.set_marks(record, &marks).is_ok()
    }

    /// Writes what changed in a group's history since the last store: the new records, and
    /// the rows of the entries that went; true if it was stored.
    fn store_history(&self, record: u64, changes: &HistoryChanges) -> bool {
        let unix = unix_now();
        let new: Vec<StoredHistory> = (changes.records.iter())
            .map(|r| StoredHistory {
                unix_secs: unix.saturating_sub(u64::from(r.age_secs)),
                origin: *r.origin.as_bytes(),
                number: r.number,
                plain: r.plain.clone(),
            })
            .collect();
        let gone: Vec<([u8; 32], u32)> = (changes.evicted.iter())
            .map(|(o, n)| (*o.as_bytes(), *n))
            .collect();
        let admissions: Vec<StoredAdmission> = (changes.admissions.iter())
            .map(|a| (*a.key.as_bytes(), a.from.map(|(o, n)| (*o.as_bytes(), n))))
            .collect();
        let _ = self.store.set_admissions(record, &admissions);
        self.store.update_history(record, &new, &gone).is_ok()
    }

    /// Writes the nicks we know in `group` (not ours): a restarted node's marks refuse the
    /// old name broadcasts it would otherwise learn them from again.
    fn store_nicks(&self, group: GroupId, record: u64) {
        let Some(j) = self.groups.get(&group) else {
            return;
        };
        let own = j.own();
        let nicks: Vec<([u8; 32], String)> = (j.nicks.iter())
            .filter(|(k, n)| **k != own && !n.is_empty())
            .map(|(k, n)| (*k.as_bytes(), n.clone()))
            .collect();
        let _ = self.store.set_nicks(record, &nicks);
    }

    /// Writes our last message number when it moved past the stored one.
    fn store_number(&mut self, group: GroupId, last: u32) {
        let Some(j) = self.groups.get_mut(&group) else {
            return;
        };
        if last > j.stored_number {
            j.stored_number = last;
            let _ = self.store.set_last_number(j.record, last);
        }
    }

    /// Notes a number we just spent; stores it every [`NUMBER_STORE_EVERY`].
    pub(super) fn spent(&mut self, group: GroupId, number: u32) {
        let due = self
            .groups
            .get(&group)
            .is_some_and(|j| number >= j.stored_number.saturating_add(NUMBER_STORE_EVERY));
        if due {
            self.store_number(group, number);
        }
    }

    /// The members changed: store everything within [`PERSIST_SOON`] (one write for a burst
    /// of joins).
    pub(super) fn persist_soon(&mut self) {
        if self.persist_due.is_none() {
            self.persist_due = Some(crate::net::now() + PERSIST_SOON);
        }
    }
}

/// How soon after a change of members the state is stored.
pub(super) const PERSIST_SOON: std::time::Duration = std::time::Duration::from_secs(1);
