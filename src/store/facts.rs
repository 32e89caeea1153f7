//! Moderation facts: opaque signed blobs (bans and the like) the protocol layer hands out,
//! kept per chat id so they outlive the group's record, a restart and an empty group.

use redb::ReadableTable;

use super::records::check_len;
use super::{FACTS, Store, StoreError};

/// Largest fact blob, in bytes.
pub const MAX_FACT_LEN: usize = 1024;
/// Longest fact key, in bytes.
pub const MAX_FACT_KEY_LEN: usize = 64;
/// Most facts kept per chat id.
pub const MAX_FACTS_PER_CHAT: usize = 4096;

/// One stored fact: (key, blob).
pub type Fact = (Vec<u8>, Vec<u8>);

impl Store {
    /// Stores `blob` under (`chat_id`, `key`), replacing what was there.
    ///
    /// Errors: [`StoreError::TooLarge`] past [`MAX_FACT_KEY_LEN`] or [`MAX_FACT_LEN`],
    /// [`StoreError::TooMany`] for a new key once the chat has [`MAX_FACTS_PER_CHAT`].
    pub fn put_fact(&self, chat_id: &[u8; 32], key: &[u8], blob: &[u8]) -> Result<(), StoreError> {
        check_len("fact key", key.len(), MAX_FACT_KEY_LEN)?;
        check_len("fact", blob.len(), MAX_FACT_LEN)?;
        let full = fact_key(chat_id, key);
        self.write(|txn| {
            let mut facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
            let exists = facts.get(&full[..]).map_err(|e| self.err(e))?.is_some();
            if !exists && self.count_facts(&facts, chat_id)? >= MAX_FACTS_PER_CHAT {
                return Err(too_many());
            }
            facts.insert(&full[..], blob).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Stores several facts of `chat_id` in one transaction: all are stored or none.
    ///
    /// Same caps and errors as [`Store::put_fact`], checked for the batch as a whole.
    pub fn put_facts(
        &self,
        chat_id: &[u8; 32],
        facts: &[(&[u8], &[u8])],
    ) -> Result<(), StoreError> {
        for (key, blob) in facts {
            check_len("fact key", key.len(), MAX_FACT_KEY_LEN)?;
            check_len("fact", blob.len(), MAX_FACT_LEN)?;
        }
        self.write(|txn| {
            let mut table = txn.open_table(FACTS).map_err(|e| self.err(e))?;
            let mut count = self.count_facts(&table, chat_id)?;
            for (key, blob) in facts {
                let full = fact_key(chat_id, key);
                let previous = table.insert(&full[..], *blob).map_err(|e| self.err(e))?;
                if previous.is_none() {
                    count += 1;
                }
                if count > MAX_FACTS_PER_CHAT {
                    return Err(too_many());
                }
            }
            Ok(())
        })
    }

    /// Removes the fact under (`chat_id`, `key`); returns whether there was one.
    pub fn remove_fact(&self, chat_id: &[u8; 32], key: &[u8]) -> Result<bool, StoreError> {
        let full = fact_key(chat_id, key);
        self.write(|txn| {
            let mut facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
            let removed = facts.remove(&full[..]).map_err(|e| self.err(e))?;
            Ok(removed.is_some())
        })
    }

    /// Every fact of `chat_id` as (key, blob), in key order.
    pub fn facts(&self, chat_id: &[u8; 32]) -> Result<Vec<Fact>, StoreError> {
        let txn = self.begin_read()?;
        let facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in facts.range(&chat_id[..]..).map_err(|e| self.err(e))? {
            let (key, blob) = entry.map_err(|e| self.err(e))?;
            let Some(key) = key.value().strip_prefix(&chat_id[..]) else {
                break;
            };
            out.push((key.to_vec(), blob.value().to_vec()));
        }
        Ok(out)
    }

    /// How many facts `chat_id` has (stops counting at the cap).
    fn count_facts(
        &self,
        facts: &impl ReadableTable<&'static [u8], &'static [u8]>,
        chat_id: &[u8; 32],
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        for entry in facts.range(&chat_id[..]..).map_err(|e| self.err(e))? {
            let (key, _) = entry.map_err(|e| self.err(e))?;
            if !key.value().starts_with(&chat_id[..]) || n == MAX_FACTS_PER_CHAT {
                break;
            }
            n += 1;
        }
        Ok(n)
    }
}

/// The error for a chat whose facts are at the cap.
fn too_many() -> StoreError {
    StoreError::TooMany {
        what: "moderation facts for this chat",
        max: MAX_FACTS_PER_CHAT,
    }
}

/// The `facts` table key: chat id ‖ fact key.
fn fact_key(chat_id: &[u8; 32], key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(chat_id.len() + key.len());
    full.extend_from_slice(chat_id);
    full.extend_from_slice(key);
    full
}
