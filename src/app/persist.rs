//! What the runtime writes to the store while it runs (PROTOCOL.md §6.9): each group's last
//! known peers (its DHT table), the last broadcast and direct-message numbers we spent, the
//! highest numbers accepted from each origin (so a restart refuses replays) and the nicks we
//! know.
//!
//! Written every [`super::runtime::PERSIST_EVERY`], soon after the members change (so a
//! kill -9 shortly after a join still comes back through the new peers), and on every clean
//! exit; our broadcast number also every [`NUMBER_STORE_EVERY`] messages.

use super::runtime::Runtime;
use crate::net::PersistState;
use crate::proto::GroupId;
use crate::store::{StoredHistory, StoredMark, StoredPeer};

/// Seconds since the unix epoch (0 if the clock is before it): stored history times.
pub(super) fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)] // the application layer reads the wall clock
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Our message numbers are stored at least this often (PROTOCOL.md §6.9).
pub(super) const NUMBER_STORE_EVERY: u32 = 100;

impl Runtime {
    /// Stores our table as each group's last known peers, the message numbers and the marks.
    pub async fn persist(&mut self) {
        self.persist_due = None;
        let groups: Vec<(GroupId, u64)> = self.groups.iter().map(|(g, j)| (*g, j.record)).collect();
        for (group, record) in groups {
            let Ok(Some(state)) = self.handle.persisted(group).await else {
                continue;
            };
            self.store_state(record, &state);
            self.store_nicks(group, record);
            self.store_number(group, state.last_number);
        }
    }

    /// Writes the peers (if any), the direct number and the marks of one group.
    fn store_state(&self, record: u64, state: &PersistState) {
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
        let _ = self.store.set_marks(record, &marks);
        let unix = unix_now();
        let history: Vec<StoredHistory> = (state.history.iter())
            .map(|r| StoredHistory {
                unix_secs: unix.saturating_sub(u64::from(r.age_secs)),
                origin: *r.origin.as_bytes(),
                number: r.number,
                plain: r.plain.clone(),
            })
            .collect();
        let _ = self.store.sync_history(record, &history);
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
