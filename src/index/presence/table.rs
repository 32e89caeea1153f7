//! The index's presence table (PROTOCOL.md §8.14): in memory, bounded, sans-IO (`now` is an
//! argument). One owner: the [`crate::index::service::Service`].
//!
//! - At login the service notes the session account's name and identity key
//!   ([`PresenceTable::note_login`]); a publish is checked against them, so an account can
//!   publish only its own presence, signed by its own identity.
//! - At most [`MAX_DEVICES`] entries per account (by node key; a new device replaces the
//!   entry that expires first), [`MAX_NAMES`] accounts (LRU), each entry kept
//!   [`PRESENCE_TTL`] after its last publish.
//! - Lookups are for logged-in accounts only, [`LOOKUP_RATE`] per asking account.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::{MAX_DEVICES, PRESENCE_TTL, PresenceEntry};
use crate::index::limits::{Rate, RateTable};

/// Most accounts with presence at once.
pub const MAX_NAMES: usize = 10_000;
/// Lookups per asking account: a burst of 20, then one per 500 ms.
pub const LOOKUP_RATE: (u32, Duration) = (20, Duration::from_millis(500));

/// Why a presence request is refused (the reply status is `forbidden` or `rate_limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The session's account was not noted at login (cannot happen for a live session).
    Unknown,
    /// The entry is not signed by the session account's identity for this index.
    BadSignature,
    /// The asking account spent its lookups.
    RateLimited,
}

/// Counters of the table (reported with the index's stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceStats {
    /// Entries published (first or refreshed).
    pub published: u64,
    /// Publishes refused for their signature.
    pub forged: u64,
    /// Lookups answered.
    pub lookups: u64,
    /// Lookups refused by the rate limit.
    pub rate_limited: u64,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    entry: PresenceEntry,
    until: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub struct PresenceTable {
    accounts: LruCache<i64, (String, [u8; 32])>,
    entries: LruCache<String, Vec<Live>>,
    lookups: RateTable<i64>,
    index_key: [u8; 32],
    stats: PresenceStats,
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
}

impl PresenceTable {
    /// A table for the index whose X25519 key is `index_key`, noting up to `sessions`
    /// logged-in accounts.
    pub fn new(index_key: [u8; 32], sessions: usize) -> Self {
        let (burst, refill) = LOOKUP_RATE;
        Self {
            accounts: lru(sessions),
            entries: lru(MAX_NAMES),
            lookups: RateTable::new(Rate { burst, refill }, sessions),
            index_key,
            stats: PresenceStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> PresenceStats {
        self.stats
    }

    /// Notes the account that just logged in: its normalised name and identity key.
    pub fn note_login(&mut self, account: i64, name: &str, key: [u8; 32]) {
        self.accounts.put(account, (name.to_owned(), key));
    }

    /// Stores (or refreshes) `entry` for the session's `account`.
    pub fn publish(
        &mut self,
        now: Instant,
        account: i64,
        entry: PresenceEntry,
    ) -> Result<(), Refused> {
        let (name, key) = self
            .accounts
            .get(&account)
            .cloned()
            .ok_or(Refused::Unknown)?;
        if !entry.verify(&name, &key, &self.index_key) {
            self.stats.forged += 1;
            return Err(Refused::BadSignature);
        }
        let list = self.entries.get_or_insert_mut(name, Vec::new);
        list.retain(|l| l.until > now && l.entry.node_key != entry.node_key);
        if list.len() >= MAX_DEVICES {
            list.sort_by_key(|l| l.until);
            list.remove(0);
        }
        list.push(Live {
            entry,
            until: now + PRESENCE_TTL,
        });
        self.stats.published += 1;
        Ok(())
    }

    /// Removes the session account's entry for `node_key`.
    pub fn withdraw(&mut self, account: i64, node_key: &[u8; 32]) {
        let Some((name, _)) = self.accounts.get(&account).cloned() else {
            return;
        };
        if let Some(list) = self.entries.get_mut(&name) {
            list.retain(|l| l.entry.node_key != *node_key);
            if list.is_empty() {
                self.entries.pop(&name);
            }
        }
    }

    /// The live entries of the account `name` (normalised), for the logged-in `asker`.
    pub fn lookup(
        &mut self,
        now: Instant,
        asker: i64,
        name: &str,
    ) -> Result<Vec<PresenceEntry>, Refused> {
        if !self.lookups.take(asker, now) {
            self.stats.rate_limited += 1;
            return Err(Refused::RateLimited);
        }
        self.stats.lookups += 1;
        let Some(list) = self.entries.get_mut(name) else {
            return Ok(Vec::new());
        };
        list.retain(|l| l.until > now);
        Ok(list.iter().map(|l| l.entry).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    const INDEX: [u8; 32] = [9; 32];

    fn signed(id: &Identity, name: &str, node: u8) -> PresenceEntry {
        let addr = format!("127.0.0.{node}:4000").parse().unwrap();
        PresenceEntry::sign(id, name, [node; 32], addr, 1, &INDEX)
    }

    #[test]
    fn an_account_cannot_publish_presence_for_another_account() {
        let alice = Identity::from_seed(&[1; 32]);
        let mallory = Identity::from_seed(&[2; 32]);
        let mut t = PresenceTable::new(INDEX, 16);
        let now = crate::test_epoch();
        t.note_login(1, "alice", alice.signing_key());
        t.note_login(2, "mallory", mallory.signing_key());
        // Mallory's session sends alice's name signed with mallory's key: refused.
        let forged = signed(&mallory, "alice", 66);
        assert_eq!(t.publish(now, 2, forged), Err(Refused::BadSignature));
        // A replay of alice's own signed entry from mallory's session is refused too: it
        // is checked against mallory's name and key.
        let alices = signed(&alice, "alice", 3);
        assert_eq!(t.publish(now, 2, alices), Err(Refused::BadSignature));
        assert_eq!(t.lookup(now, 2, "alice"), Ok(Vec::new()));
        assert_eq!(t.stats().forged, 2);
        // Alice's own session publishes it.
        assert_eq!(t.publish(now, 1, alices), Ok(()));
        assert_eq!(t.lookup(now, 2, "alice"), Ok(vec![alices]));
        // An unnoted session publishes nothing.
        assert_eq!(t.publish(now, 3, alices), Err(Refused::Unknown));
    }

    #[test]
    fn entries_expire_are_bounded_per_account_and_withdrawn() {
        let alice = Identity::from_seed(&[1; 32]);
        let mut t = PresenceTable::new(INDEX, 16);
        let now = crate::test_epoch();
        t.note_login(1, "alice", alice.signing_key());
        for n in 1..=6u8 {
            let at = now + Duration::from_secs(u64::from(n));
            t.publish(at, 1, signed(&alice, "alice", n)).unwrap();
        }
        let later = now + Duration::from_secs(7);
        let live = t.lookup(later, 1, "alice").unwrap();
        assert_eq!(live.len(), MAX_DEVICES, "the oldest devices made room");
        assert!(live.iter().all(|e| e.node_key[0] >= 3));
        t.withdraw(1, &[6; 32]);
        assert_eq!(t.lookup(later, 1, "alice").unwrap().len(), MAX_DEVICES - 1);
        let gone = now + PRESENCE_TTL + Duration::from_secs(7);
        assert_eq!(t.lookup(gone, 1, "alice"), Ok(Vec::new()), "expired");
    }

    #[test]
    fn lookups_are_rate_limited_per_asker() {
        let mut t = PresenceTable::new(INDEX, 16);
        let now = crate::test_epoch();
        let (burst, _) = LOOKUP_RATE;
        for _ in 0..burst {
            assert!(t.lookup(now, 1, "bob").is_ok());
        }
        assert_eq!(t.lookup(now, 1, "bob"), Err(Refused::RateLimited));
        assert!(
            t.lookup(now, 2, "bob").is_ok(),
            "another asker has its own bucket"
        );
        assert_eq!(t.stats().rate_limited, 1);
    }
}
