//! The signed history of each group (PROTOCOL.md §6.13): the accepted text broadcasts, kept
//! whole so each can be checked again against its author's signature after a restart.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `history` | (`u64` group id, origin key ‖ number u32 BE, 36 bytes) | unix seconds u64 BE ‖ the broadcast's plaintext |
//! | `admissions` | `u64` group id | postcard `Vec<([u8;32], Option<([u8;32], u32)>)>`: each member and the first entry it may see (visibility `joined`), ≤ [`MAX_ADMISSIONS`] |
//! | `history_keep` | `u64` group id | `u64`: messages (high 32 bits) ‖ days (low 32 bits), the group's own limits (`/history keep`) |
//!
//! [`Store::update_history`] writes what changed since the last store (the runtime's every
//! 10 s): the new messages, and deletes the rows of those the node let go (its limits:
//! 1,000 messages, 7 days, 1 MiB by default), so the table follows the node's limits.
//! [`Store::sync_history`] makes a group's rows equal to a whole list.
//! The rows go with the group ([`Store::remove_group`]).

use std::collections::HashSet;

use redb::{ReadableTable, TableDefinition};

use super::{Store, StoreError};

/// (group id, origin ‖ number) → unix seconds ‖ plaintext.
pub(super) const HISTORY: TableDefinition<'_, (u64, &[u8]), &[u8]> =
    TableDefinition::new("history");

/// Group id → postcard `Vec<([u8;32], Option<([u8;32], u32)>)>`: each member's admission
/// (visibility `joined`): the first entry it may see, by origin and number.
pub(super) const ADMISSIONS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("admissions");

/// Group id → the group's own history limits: messages << 32 | days (`/history keep`).
pub(super) const HISTORY_KEEP: TableDefinition<'_, u64, u64> = TableDefinition::new("history_keep");

/// Most admissions kept per group (the node's cap).
pub const MAX_ADMISSIONS: usize = 16_384;

/// One stored admission: the member's key and the first entry it may see.
pub type StoredAdmission = ([u8; 32], Option<([u8; 32], u32)>);

/// Most rows kept per group, whatever the node says.
pub const MAX_HISTORY_ROWS: usize = 10_000;

/// One kept message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHistory {
    /// When it was said (stored), in unix seconds.
    pub unix_secs: u64,
    /// Its author's key.
    pub origin: [u8; 32],
    /// Its author's number.
    pub number: u32,
    /// The signed broadcast's plaintext, as accepted.
    pub plain: Vec<u8>,
}

impl StoredHistory {
    fn key(&self) -> [u8; 36] {
        row_key(&self.origin, self.number)
    }

    /// The row's value: unix seconds u64 BE ‖ plaintext.
    fn value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(8 + self.plain.len());
        value.extend_from_slice(&self.unix_secs.to_be_bytes());
        value.extend_from_slice(&self.plain);
        value
    }
}

/// A row's key within its group: origin ‖ number u32 BE.
pub(super) fn row_key(origin: &[u8; 32], number: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(origin);
    k[32..].copy_from_slice(&number.to_be_bytes());
    k
}

impl Store {
    /// Makes the group's stored history equal to `rows` (at most [`MAX_HISTORY_ROWS`]):
    /// new rows are written, rows the node no longer keeps are deleted.
    pub fn sync_history(&self, id: u64, rows: &[StoredHistory]) -> Result<(), StoreError> {
        let rows = &rows[rows.len().saturating_sub(MAX_HISTORY_ROWS)..];
        let keep: HashSet<[u8; 36]> = rows.iter().map(StoredHistory::key).collect();
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(HISTORY).map_err(|e| self.err(e))?;
            let mut stored = HashSet::new();
            let mut gone = Vec::new();
            let lo: (u64, &[u8]) = (id, &[]);
            let hi: (u64, &[u8]) = (id, &[0xFF; 37]);
            for row in table.range(lo..hi).map_err(|e| self.err(e))? {
                let (k, _) = row.map_err(|e| self.err(e))?;
                let key: [u8; 36] = match k.value().1.try_into() {
                    Ok(key) => key,
                    Err(_) => continue,
                };
                match keep.contains(&key) {
                    true => stored.insert(key),
                    false => {
                        gone.push(key);
                        false
                    }
                };
            }
            for key in gone {
                table.remove((id, &key[..])).map_err(|e| self.err(e))?;
            }
            for r in rows.iter().filter(|r| !stored.contains(&r.key())) {
                table
                    .insert((id, &r.key()[..]), &r.value()[..])
                    .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Writes what changed in a group's history in one transaction: `new` rows are written
    /// (a row held already is written again), the rows of `gone` (origin, number) deleted.
    pub fn update_history(
        &self,
        id: u64,
        new: &[StoredHistory],
        gone: &[([u8; 32], u32)],
    ) -> Result<(), StoreError> {
        let new = &new[new.len().saturating_sub(MAX_HISTORY_ROWS)..];
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(HISTORY).map_err(|e| self.err(e))?;
            for (origin, number) in gone {
                let key = row_key(origin, *number);
                table.remove((id, &key[..])).map_err(|e| self.err(e))?;
            }
            for r in new {
                table
                    .insert((id, &r.key()[..]), &r.value()[..])
                    .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Replaces a group's admissions (the first [`MAX_ADMISSIONS`]).
    pub fn set_admissions(&self, id: u64, list: &[StoredAdmission]) -> Result<(), StoreError> {
        let list = &list[..list.len().min(MAX_ADMISSIONS)];
        let bytes = postcard::to_allocvec(list).map_err(|e| self.corrupt(e.to_string()))?;
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(ADMISSIONS).map_err(|e| self.err(e))?;
            table.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// A group's stored admissions (none if never stored).
    pub fn admissions(&self, id: u64) -> Result<Vec<StoredAdmission>, StoreError> {
        self.group_list(ADMISSIONS, id)
    }

    /// A group's stored history, oldest first (none if never stored).
    pub fn history(&self, id: u64) -> Result<Vec<StoredHistory>, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(HISTORY) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let lo: (u64, &[u8]) = (id, &[]);
        let hi: (u64, &[u8]) = (id, &[0xFF; 37]);
        let mut out = Vec::new();
        for row in table.range(lo..hi).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let (key, value) = (k.value().1, v.value());
            let (Some(origin), Some(number), Some(unix), Some(plain)) = (
                key.get(..32).and_then(|o| <[u8; 32]>::try_from(o).ok()),
                key.get(32..36).and_then(|n| <[u8; 4]>::try_from(n).ok()),
                value.get(..8).and_then(|u| <[u8; 8]>::try_from(u).ok()),
                value.get(8..),
            ) else {
                return Err(self.corrupt("history row".to_owned()));
            };
            out.push(StoredHistory {
                unix_secs: u64::from_be_bytes(unix),
                origin,
                number: u32::from_be_bytes(number),
                plain: plain.to_vec(),
            });
        }
        out.sort_by_key(|r| r.unix_secs);
        Ok(out)
    }

    /// Deletes a group's history rows (inside [`Store::remove_group`]'s transaction).
    pub(super) fn remove_history(
        &self,
        txn: &redb::WriteTransaction,
        id: u64,
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(HISTORY).map_err(|e| self.err(e))?;
        let lo: (u64, &[u8]) = (id, &[]);
        let hi: (u64, &[u8]) = (id, &[0xFF; 37]);
        let keys: Vec<Vec<u8>> = (table.range(lo..hi).map_err(|e| self.err(e))?)
            .filter_map(|row| row.ok().map(|(k, _)| k.value().1.to_vec()))
            .collect();
        for key in keys {
            table.remove((id, &key[..])).map_err(|e| self.err(e))?;
        }
        let mut admissions = txn.open_table(ADMISSIONS).map_err(|e| self.err(e))?;
        admissions.remove(id).map_err(|e| self.err(e))?;
        let mut keep = txn.open_table(HISTORY_KEEP).map_err(|e| self.err(e))?;
        keep.remove(id).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a group's own history limits: (messages, days).
    pub fn set_history_keep(
        &self,
        id: u64,
        (messages, days): (u32, u32),
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(HISTORY_KEEP).map_err(|e| self.err(e))?;
            let value = (u64::from(messages) << 32) | u64::from(days);
            table.insert(id, value).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// A group's own history limits (messages, days), if it has any.
    pub fn history_keep(&self, id: u64) -> Result<Option<(u32, u32)>, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(HISTORY_KEEP) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        let value = table.get(id).map_err(|e| self.err(e))?;
        Ok(value.map(|v| {
            let v = v.value();
            ((v >> 32) as u32, v as u32)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32, unix: u64) -> StoredHistory {
        StoredHistory {
            unix_secs: unix,
            origin: [7; 32],
            number: n,
            plain: vec![51, n as u8],
        }
    }

    #[test]
    fn history_rows_follow_the_node_and_go_with_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = crate::store::secure_group_for_test();
        let id = store.put_group(&rec).unwrap();
        assert!(store.history(id).unwrap().is_empty());
        store.sync_history(id, &[row(2, 20), row(1, 10)]).unwrap();
        assert_eq!(
            store.history(id).unwrap(),
            [row(1, 10), row(2, 20)],
            "oldest first"
        );
        store.sync_history(id, &[row(2, 20), row(3, 30)]).unwrap();
        assert_eq!(
            store.history(id).unwrap(),
            [row(2, 20), row(3, 30)],
            "1 was trimmed"
        );
        assert!(
            store.sync_history(id + 1, &[row(1, 1)]).is_err(),
            "no such group"
        );
        store.remove_group(id).unwrap();
        assert!(store.history(id).unwrap().is_empty());
    }

    #[test]
    fn history_updates_write_the_new_rows_and_delete_the_gone_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .put_group(&crate::store::secure_group_for_test())
            .unwrap();
        store
            .update_history(id, &[row(1, 10), row(2, 20)], &[])
            .unwrap();
        store
            .update_history(id, &[row(3, 30)], &[([7; 32], 1), ([9; 32], 5)])
            .unwrap();
        assert_eq!(store.history(id).unwrap(), [row(2, 20), row(3, 30)]);
        assert!(
            store.update_history(id + 1, &[], &[]).is_err(),
            "no such group"
        );
        let list = [([1; 32], Some(([7; 32], 3))), ([2; 32], None)];
        store.set_admissions(id, &list).unwrap();
        assert_eq!(store.admissions(id).unwrap(), list);
        assert_eq!(store.history_keep(id).unwrap(), None);
        store.set_history_keep(id, (50, 2)).unwrap();
        store.set_history_keep(id, (u32::MAX, 3650)).unwrap();
        assert_eq!(store.history_keep(id).unwrap(), Some((u32::MAX, 3650)));
        assert!(
            store.set_history_keep(id + 1, (1, 1)).is_err(),
            "no such group"
        );
        store.remove_group(id).unwrap();
        assert_eq!(
            store.history_keep(id).unwrap(),
            None,
            "it goes with the group"
        );
        assert!(
            store.admissions(id).unwrap().is_empty(),
            "they go with the group"
        );
    }
}
