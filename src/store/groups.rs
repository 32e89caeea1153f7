//! Groups we are a member of: insert, replace, list, remove, and the two fields that change
//! while we are in a group (last known peers, nick).

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::records::{GroupDisk, capped_peers, check_len};
use super::{
    GROUPS, GroupRecord, MAX_NICK_LEN, META, NEXT_GROUP_KEY, NUMBERS, PEERS, Store, StoreError,
    StoredPeer,
};

/// Most groups the store keeps.
pub const MAX_GROUPS: usize = 256;

impl Store {
    /// Stores `rec` and returns its id: a new group if `rec.id` is [`GroupRecord::NEW`] (the
    /// store assigns a fresh id, never reused), else replaces the group with that id.
    ///
    /// Keeps at most [`super::MAX_PEERS`] distinct peers, first ones first. Errors:
    /// [`StoreError::NoSuchGroup`] for an unknown non-zero id, [`StoreError::TooLarge`] for an
    /// over-long field, [`StoreError::TooMany`] past [`MAX_GROUPS`].
    pub fn put_group(&self, rec: &GroupRecord) -> Result<u64, StoreError> {
        rec.check()?;
        let disk = GroupDisk::from_record(rec);
        let bytes = disk.encode().map_err(|e| self.corrupt(e.to_string()))?;
        let peers = self.encode_peers(&rec.peers)?;
        self.write(|txn| {
            let id = if rec.id == GroupRecord::NEW {
                self.new_group_id(txn)?
            } else {
                self.require_group(txn, rec.id)?;
                rec.id
            };
            let mut groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
            groups.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            let mut table = txn.open_table(PEERS).map_err(|e| self.err(e))?;
            table.insert(id, &peers[..]).map_err(|e| self.err(e))?;
            Ok(id)
        })
    }

    /// Every stored group, in id order, with its peers.
    pub fn groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let txn = self.begin_read()?;
        let groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
        let peers = txn.open_table(PEERS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in groups.iter().map_err(|e| self.err(e))? {
            let (id, value) = entry.map_err(|e| self.err(e))?;
            let id = id.value();
            let stored = peers.get(id).map_err(|e| self.err(e))?;
            let peer_list = match stored {
                Some(v) => self.decode_peers(v.value())?,
                None => Vec::new(),
            };
            out.push(self.decode_group(id, value.value(), peer_list)?);
        }
        Ok(out)
    }

    /// Removes a group we left (`/part`) and its peers; its chat's facts (bans) are kept.
    /// Returns whether it was stored.
    pub fn remove_group(&self, id: u64) -> Result<bool, StoreError> {
        self.write(|txn| {
            let mut groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
            let removed = groups.remove(id).map_err(|e| self.err(e))?.is_some();
            let mut peers = txn.open_table(PEERS).map_err(|e| self.err(e))?;
            peers.remove(id).map_err(|e| self.err(e))?;
            let mut numbers = txn.open_table(NUMBERS).map_err(|e| self.err(e))?;
            numbers.remove(id).map_err(|e| self.err(e))?;
            let mut direct = txn
                .open_table(super::marks::DIRECT_NUMBERS)
                .map_err(|e| self.err(e))?;
            direct.remove(id).map_err(|e| self.err(e))?;
            let mut marks = txn
                .open_table(super::marks::MARKS)
                .map_err(|e| self.err(e))?;
            marks.remove(id).map_err(|e| self.err(e))?;
            let mut nicks = txn
                .open_table(super::marks::NICKS)
                .map_err(|e| self.err(e))?;
            nicks.remove(id).map_err(|e| self.err(e))?;
            let mut shown = txn
                .open_table(super::marks::SHOWN)
                .map_err(|e| self.err(e))?;
            shown.remove(id).map_err(|e| self.err(e))?;
            self.remove_history(txn, id)?;
            Ok(removed)
        })
    }

    /// Replaces a group's last known peers (most recent first; the first
    /// [`super::MAX_PEERS`] distinct keys are kept).
    pub fn set_peers(&self, id: u64, peers: &[StoredPeer]) -> Result<(), StoreError> {
        let bytes = self.encode_peers(peers)?;
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(PEERS).map_err(|e| self.err(e))?;
            table.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Records the last message number we spent in a group (PROTOCOL.md §6.9).
    pub fn set_last_number(&self, id: u64, number: u32) -> Result<(), StoreError> {
        self.write(|txn| {
            self.require_group(txn, id)?;
            let mut table = txn.open_table(NUMBERS).map_err(|e| self.err(e))?;
            table.insert(id, number).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// The last message number recorded for a group (0 if none).
    pub fn last_number(&self, id: u64) -> Result<u32, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(NUMBERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.err(e)),
        };
        let value = table.get(id).map_err(|e| self.err(e))?;
        Ok(value.map_or(0, |v| v.value()))
    }

    /// Replaces our nick in a group.
    pub fn set_nick(&self, id: u64, nick: &str) -> Result<(), StoreError> {
        check_len("nick", nick.len(), MAX_NICK_LEN)?;
        self.write(|txn| {
            let mut groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
            let mut disk = {
                let stored = groups.get(id).map_err(|e| self.err(e))?;
                let value = stored.ok_or(StoreError::NoSuchGroup(id))?;
                self.decode_disk(value.value())?
            };
            disk.set_nick(nick);
            let bytes = disk.encode().map_err(|e| self.corrupt(e.to_string()))?;
            groups.insert(id, &bytes[..]).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Takes the next group id from `meta` (ids start at 1 and are never reused).
    fn new_group_id(&self, txn: &WriteTransaction) -> Result<u64, StoreError> {
        let groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
        let count = groups.len().map_err(|e| self.err(e))?;
        if count >= MAX_GROUPS as u64 {
            return Err(StoreError::TooMany {
                what: "groups",
                max: MAX_GROUPS,
            });
        }
        let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let id = self.meta_u64(&meta, NEXT_GROUP_KEY)?.unwrap_or(1);
        let next = id
            .checked_add(1)
            .ok_or_else(|| self.corrupt("group ids exhausted".into()))?;
        meta.insert(NEXT_GROUP_KEY, &next.to_le_bytes()[..])
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Fails with `NoSuchGroup` unless group `id` is stored.
    pub(super) fn require_group(&self, txn: &WriteTransaction, id: u64) -> Result<(), StoreError> {
        let groups = txn.open_table(GROUPS).map_err(|e| self.err(e))?;
        match groups.get(id).map_err(|e| self.err(e))? {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchGroup(id)),
        }
    }

    fn encode_peers(&self, peers: &[StoredPeer]) -> Result<Vec<u8>, StoreError> {
        postcard::to_allocvec(&capped_peers(peers)).map_err(|e| self.corrupt(e.to_string()))
    }

    fn decode_peers(&self, bytes: &[u8]) -> Result<Vec<StoredPeer>, StoreError> {
        postcard::from_bytes(bytes).map_err(|e| self.corrupt(format!("peer list: {e}")))
    }

    fn decode_disk(&self, bytes: &[u8]) -> Result<GroupDisk, StoreError> {
        postcard::from_bytes(bytes).map_err(|e| self.corrupt(format!("group record: {e}")))
    }

    fn decode_group(
        &self,
        id: u64,
        bytes: &[u8],
        peers: Vec<StoredPeer>,
    ) -> Result<GroupRecord, StoreError> {
        self.decode_disk(bytes)?
            .into_record(id, peers)
            .ok_or_else(|| self.corrupt(format!("group {id}: unknown dialect or privacy")))
    }
}
