//! The records the store keeps and their postcard encodings.
//!
//! The public types ([`GroupRecord`], [`StoredPeer`]) use the protocol's own types where that
//! helps the caller ([`Dialect`], [`Privacy`]); the private `*Disk` types are what postcard
//! writes, with dialect and privacy as one byte each, so the file format does not move when
//! the protocol types do. Secret bytes are encoded into a zeroized buffer and the disk
//! types zeroize their seed on drop.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::proto::{Dialect, Privacy};

/// Last-known peers kept per group; the store keeps the first (most recent) ones.
pub const MAX_PEERS: usize = 32;
/// Longest group label, in bytes.
pub const MAX_LABEL_LEN: usize = 256;
/// Longest nick, in bytes (the wire allows 128).
pub const MAX_NICK_LEN: usize = 256;
/// Longest join string, in bytes.
pub const MAX_JOIN_LEN: usize = 512;
/// Upper bound of one encoded group record (all fields at their caps).
pub(super) const MAX_GROUP_BYTES: usize = 2048;

/// A peer we last saw in a group: its key and address, for rejoining without bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPeer {
    /// The peer's public key in the group.
    pub key: [u8; 32],
    /// Where it was reachable.
    pub addr: SocketAddr,
}

/// One group we are a member of, as the store keeps it across restarts.
///
/// `Debug` does not print `identity_seed`; the seed is zeroized when the record is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The store's id for this group; [`GroupRecord::NEW`] asks `put_group` to assign one.
    pub id: u64,
    /// A name for people: given at `--create`, or derived from the join string.
    pub label: String,
    /// The group's dialect.
    pub dialect: Dialect,
    /// Public or private.
    pub privacy: Privacy,
    /// The chat id (secure groups).
    pub chat_id: Option<[u8; 32]>,
    /// Seed of our identity in this group (secret).
    pub identity_seed: Zeroizing<[u8; 32]>,
    /// Our nick in the group.
    pub nick: String,
    /// The join string we joined with, or the group's own join string.
    pub join: String,
    /// Last known peers, most recent first (at most [`MAX_PEERS`] are kept).
    pub peers: Vec<StoredPeer>,
    /// Whether we created the group.
    pub created_by_us: bool,
}

impl GroupRecord {
    /// The `id` of a record not stored yet.
    pub const NEW: u64 = 0;

    /// Checks the length caps, naming the first field over its cap.
    pub(super) fn check(&self) -> Result<(), super::StoreError> {
        check_len("group label", self.label.len(), MAX_LABEL_LEN)?;
        check_len("nick", self.nick.len(), MAX_NICK_LEN)?;
        check_len("join string", self.join.len(), MAX_JOIN_LEN)
    }
}

/// Fails with `TooLarge` when `len > max`.
pub(super) fn check_len(
    what: &'static str,
    len: usize,
    max: usize,
) -> Result<(), super::StoreError> {
    if len > max {
        return Err(super::StoreError::TooLarge { what, len, max });
    }
    Ok(())
}

impl fmt::Debug for GroupRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupRecord")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("dialect", &self.dialect)
            .field("privacy", &self.privacy)
            .field("chat_id", &self.chat_id.map(hex::encode))
            .field("identity_seed", &"..")
            .field("nick", &self.nick)
            .field("join", &self.join)
            .field("peers", &self.peers)
            .field("created_by_us", &self.created_by_us)
            .finish()
    }
}

/// The stored form of a group (table `groups`), without its peers (table `peers`).
#[derive(Serialize, Deserialize)]
pub(super) struct GroupDisk {
    label: String,
    dialect: u8,
    privacy: u8,
    chat_id: Option<[u8; 32]>,
    seed: [u8; 32],
    nick: String,
    join: String,
    created_by_us: bool,
}

impl Drop for GroupDisk {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl GroupDisk {
    /// The stored form of `rec` (its id and peers are kept elsewhere).
    pub(super) fn from_record(rec: &GroupRecord) -> Self {
        Self {
            label: rec.label.clone(),
            dialect: match rec.dialect {
                Dialect::Legacy => 0,
                Dialect::Secure => 1,
            },
            privacy: match rec.privacy {
                Privacy::Public => 0,
                Privacy::Private => 1,
            },
            chat_id: rec.chat_id,
            seed: *rec.identity_seed,
            nick: rec.nick.clone(),
            join: rec.join.clone(),
            created_by_us: rec.created_by_us,
        }
    }

    /// The record with store id `id` and `peers`; `None` if a byte enum is out of range.
    pub(super) fn into_record(mut self, id: u64, peers: Vec<StoredPeer>) -> Option<GroupRecord> {
        let dialect = match self.dialect {
            0 => Dialect::Legacy,
            1 => Dialect::Secure,
            _ => return None,
        };
        let privacy = match self.privacy {
            0 => Privacy::Public,
            1 => Privacy::Private,
            _ => return None,
        };
        Some(GroupRecord {
            id,
            label: std::mem::take(&mut self.label),
            dialect,
            privacy,
            chat_id: self.chat_id,
            identity_seed: Zeroizing::new(self.seed),
            nick: std::mem::take(&mut self.nick),
            join: std::mem::take(&mut self.join),
            peers,
            created_by_us: self.created_by_us,
        })
    }

    /// Replaces the nick.
    pub(super) fn set_nick(&mut self, nick: &str) {
        nick.clone_into(&mut self.nick);
    }

    /// Encodes into a zeroized buffer sized once, so no copy of the seed is left behind by a
    /// reallocation.
    pub(super) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, postcard::Error> {
        let mut buf = Zeroizing::new(vec![0u8; MAX_GROUP_BYTES]);
        let len = postcard::to_slice(self, &mut buf[..])?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// Keeps the first [`MAX_PEERS`] peers with distinct keys, in order.
pub(super) fn capped_peers(peers: &[StoredPeer]) -> Vec<StoredPeer> {
    let mut out: Vec<StoredPeer> = Vec::with_capacity(peers.len().min(MAX_PEERS));
    for p in peers {
        if out.len() == MAX_PEERS {
            break;
        }
        if !out.iter().any(|q| q.key == p.key) {
            out.push(*p);
        }
    }
    out
}
