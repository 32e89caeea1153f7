//! What a group needs besides its peers to come back after a restart without accepting a
//! replay or reusing a number (PROTOCOL.md §6.9): the last direct-message number we spent,
//! and the highest broadcast and direct numbers accepted from each origin; and the nicks we
//! knew, which the marks would otherwise keep us from learning again from old copies.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `direct_numbers` | `u64` group id | `u32`: the last direct-message number we spent |
//! | `marks` | `u64` group id | postcard `Vec<StoredMark>` (key `[u8;32]`, broadcast u32, direct u32), ≤ [`MAX_MARKS`] |
//! | `nicks` | `u64` group id | postcard `Vec<([u8;32], String)>`, ≤ [`MAX_MARKS`], each nick ≤ [`super::MAX_NICK_LEN`] bytes |
//! | `shown` | `u64` group id | postcard `Vec<([u8;32], u32)>`: broadcast numbers shown whose message is not in the stored history, oldest first, ≤ [`MAX_SHOWN`] |
//!
//! All go with the group ([`Store::remove_group`]).

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// Group id → the last direct-message number we spent in it.
pub(super) const DIRECT_NUMBERS: TableDefinition<'_, u64, u32> =
    TableDefinition::new("direct_numbers");
/// Group id → the high-water marks of its origins.
pub(super) const MARKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("marks");
/// Group id → the nicks of its members we knew.
pub(super) const NICKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("nicks");

/// Group id → the broadcast numbers shown that its stored history does not hold.
pub(super) const SHOWN: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("shown");

/// Most shown numbers kept per group (the node's bound, `history::SHOWN_MAX`).
pub(super) const MAX_SHOWN: usize = 16_384;

/// Most origins whose marks are kept per group (the node's member cap).
pub const MAX_MARKS: usize = 16384;

/// The highest numbers accepted from one origin of a group (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMark {
    /// The origin's key in the group.
    pub key: [u8; 32],
    /// Its highest accepted broadcast number.
    pub broadcast: u32,
    /// Its highest accepted direct-message number.
    pub direct: u32,
}

impl Store {
    /// Records the last direct-message number we spent in a group.
    pub fn set_last_direct(&self, id: u64, number: u32) -> Result<(), StoreError> {
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(DIRECT_NUMBERS).map_err(|e| self.err(e))?;
            table.insert(id, number).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// The last direct-message number recorded for a group (0 if none).
    pub fn last_direct(&self, id: u64) -> Result<u32, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(DIRECT_NUMBERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.err(e)),
        };
        let value = table.get(id).map_err(|e| self.err(e))?;
        Ok(value.map_or(0, |v| v.value()))
    }

    /// Replaces a group's marks (the first [`MAX_MARKS`] are kept).
    pub fn set_marks(&self, id: u64, marks: &[StoredMark]) -> Result<(), StoreError> {
        let marks = &marks[..marks.len().min(MAX_MARKS)];
        let bytes = postcard::to_allocvec(marks).map_err(|e| self.corrupt(e.to_string()))?;
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(MARKS).map_err(|e| self.err(e))?;
            table.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Replaces a group's known nicks (the first [`MAX_MARKS`]; longer nicks are skipped).
    pub fn set_nicks(&self, id: u64, nicks: &[([u8; 32], String)]) -> Result<(), StoreError> {
        let kept: Vec<&([u8; 32], String)> = (nicks.iter())
            .filter(|(_, n)| n.len() <= super::MAX_NICK_LEN)
            .take(MAX_MARKS)
            .collect();
        let bytes = postcard::to_allocvec(&kept).map_err(|e| self.corrupt(e.to_string()))?;
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(NICKS).map_err(|e| self.err(e))?;
            table.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// A group's stored nicks (none if never stored).
    pub fn nicks(&self, id: u64) -> Result<Vec<([u8; 32], String)>, StoreError> {
        self.group_list(NICKS, id)
    }

    /// Adds broadcast numbers shown in a group (the marks journal's, before it is emptied) to
    /// the stored ones, and keeps only those whose message the stored history does not hold
    /// (it knows those), the newest [`MAX_SHOWN`] (PROTOCOL.md §6.9).
    pub fn add_shown(&self, id: u64, new: &[([u8; 32], u32)]) -> Result<(), StoreError> {
        let mut list = self.shown(id)?;
        list.extend_from_slice(new);
        self.write(|txn| {
            self.require_group(txn, id)?;
            let history = txn
                .open_table(super::history::HISTORY)
                .map_err(|e| self.err(e))?;
            let mut seen = std::collections::HashSet::new();
            let mut kept = Vec::with_capacity(list.len().min(MAX_SHOWN));
            for (key, number) in list.iter().rev() {
                let row = super::history::row_key(key, *number);
                let held = history.get((id, &row[..])).map_err(|e| self.err(e))?;
                if held.is_none() && seen.insert((*key, *number)) && kept.len() < MAX_SHOWN {
                    kept.push((*key, *number));
                }
            }
            kept.reverse();
            let bytes = postcard::to_allocvec(&kept).map_err(|e| self.corrupt(e.to_string()))?;
            let mut table = txn.open_table(SHOWN).map_err(|e| self.err(e))?;
            table.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// A group's stored shown numbers, oldest first (none if never stored).
    pub fn shown(&self, id: u64) -> Result<Vec<([u8; 32], u32)>, StoreError> {
        self.group_list(SHOWN, id)
    }

    /// A group's stored marks (none if never stored).
    pub fn marks(&self, id: u64) -> Result<Vec<StoredMark>, StoreError> {
        self.group_list(MARKS, id)
    }
}

impl Store {
    /// A group's postcard-encoded list in `table` (none if the table or its row was never
    /// written); a row that does not decode is corruption named by the table.
    pub(super) fn group_list<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<'_, u64, &[u8]>,
        id: u64,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.begin_read()?;
        let opened = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let Some(value) = opened.get(id).map_err(|e| self.err(e))? else {
            return Ok(Vec::new());
        };
        let name = redb::TableHandle::name(&table);
        postcard::from_bytes(value.value()).map_err(|e| self.corrupt(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_direct_numbers_round_trip_and_go_with_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = crate::store::secure_group_for_test();
        let id = store.put_group(&rec).unwrap();
        assert_eq!(
            (store.last_direct(id).unwrap(), store.marks(id).unwrap()),
            (0, vec![])
        );
        let m = StoredMark {
            key: [9; 32],
            broadcast: 1234,
            direct: u32::MAX,
        };
        store.set_last_direct(id, 77).unwrap();
        store.set_marks(id, &[m]).unwrap();
        assert_eq!(store.last_direct(id).unwrap(), 77);
        let nicks = vec![([9; 32], "bob".to_owned()), ([8; 32], "x".repeat(300))];
        store.set_nicks(id, &nicks).unwrap();
        assert_eq!(
            store.nicks(id).unwrap(),
            nicks[..1],
            "an over-long nick is skipped"
        );
        assert_eq!(store.marks(id).unwrap(), [m]);
        assert!(store.set_marks(id + 1, &[m]).is_err(), "no such group");
        store.remove_group(id).unwrap();
        assert!(store.nicks(id).unwrap().is_empty());
        assert_eq!(
            (store.last_direct(id).unwrap(), store.marks(id).unwrap()),
            (0, vec![])
        );
    }

    #[test]
    fn shown_numbers_keep_only_what_the_stored_history_lacks_and_go_with_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .put_group(&crate::store::secure_group_for_test())
            .unwrap();
        store.add_shown(id, &[([1; 32], 5), ([2; 32], 7)]).unwrap();
        let row = crate::store::StoredHistory {
            unix_secs: 1,
            origin: [2; 32],
            number: 9,
            plain: vec![51],
        };
        store.update_history(id, &[row], &[]).unwrap();
        // A second store: one number again, one whose message the history holds now.
        store
            .add_shown(id, &[([1; 32], 5), ([2; 32], 9), ([3; 32], 1)])
            .unwrap();
        assert_eq!(
            store.shown(id).unwrap(),
            [([2; 32], 7), ([1; 32], 5), ([3; 32], 1)],
            "kept once, oldest first; the one the history holds is left out"
        );
        assert!(
            store.add_shown(id + 1, &[([1; 32], 1)]).is_err(),
            "no such group"
        );
        store.remove_group(id).unwrap();
        assert!(store.shown(id).unwrap().is_empty());
    }
}
