//! What the runtime writes to the store while it runs: each group's last known peers (its
//! DHT table) and the last message number we spent (PROTOCOL.md §6.9).

use super::runtime::Runtime;
use crate::proto::GroupId;
use crate::store::StoredPeer;

/// Our message numbers are stored at least this often (PROTOCOL.md §6.9).
pub(super) const NUMBER_STORE_EVERY: u32 = 100;

impl Runtime {
    /// Stores our table as each group's last known peers, and the message numbers.
    pub async fn persist(&mut self) {
        let groups: Vec<(GroupId, u64)> = self.groups.iter().map(|(g, j)| (*g, j.record)).collect();
        for (group, record) in groups {
            let Ok(Some(state)) = self.handle.persisted(group).await else {
                continue;
            };
            let peers: Vec<StoredPeer> = state
                .table
                .iter()
                .map(|e| StoredPeer {
                    key: *e.key.as_bytes(),
                    addr: e.addr,
                })
                .collect();
            if !peers.is_empty() {
                let _ = self.store.set_peers(record, &peers);
            }
            self.store_number(group, state.last_number);
        }
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
}
