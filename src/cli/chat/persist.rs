//! What the chat runtime writes to the store while it runs: each group's last known peers
//! (our DHT table) and the last message number we spent (PROTOCOL.md §6.9).

use super::session::{NUMBER_STORE_EVERY, Session};
use crate::proto::GroupId;
use crate::store::StoredPeer;

impl Session {
    /// Stores our table as each group's last known peers, and the message numbers.
    pub async fn persist(&mut self) {
        let groups: Vec<(GroupId, u64)> = self.groups.iter().map(|(g, j)| (*g, j.record)).collect();
        for (group, record) in groups {
            let state = self
                .handle
                .call(move |n, _| (n.table(group), n.last_number(group)))
                .await;
            let Ok((table, last)) = state else {
                return;
            };
            let peers: Vec<StoredPeer> = table
                .iter()
                .map(|e| StoredPeer {
                    key: *e.key.as_bytes(),
                    addr: e.addr,
                })
                .collect();
            if !peers.is_empty() {
                let _ = self.store.set_peers(record, &peers);
            }
            self.store_number(group, last.unwrap_or(0));
        }
    }

    /// Writes our last message number when it moved far enough (or `force`).
    pub(super) fn store_number(&mut self, group: GroupId, last: u32) {
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

    /// The groups we are in and their labels, in local id order.
    pub fn labels(&self) -> Vec<(GroupId, String)> {
        self.groups
            .iter()
            .map(|(g, j)| (*g, j.label.clone()))
            .collect()
    }
}
