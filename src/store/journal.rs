//! The marks journal (PROTOCOL.md §6.9): every message number accepted and shown since the
//! last store of the marks, appended to `<data dir>/marks.journal` before the message is
//! shown, so a kill -9 does not let a replay or a history fetch show it again.
//!
//! One fixed-size record per number, appended with one plain `write` (no fsync: it
//! survives the process, through the page cache, not a power cut):
//!
//! | offset | size | content |
//! | --- | --- | --- |
//! | 0 | 8 | group id, u64 BE |
//! | 8 | 32 | origin key |
//! | 40 | 1 | counter: 0 broadcast, 1 direct message |
//! | 41 | 4 | number, u32 BE |
//! | 45 | 8 | check: the first 8 bytes of BLAKE2s-256 of bytes 0..45 |
//!
//! Folded into the stored marks at restore ([`Store::journal_marks`]); emptied
//! ([`Store::journal_clear`]) once the marks are stored in redb (fsynced). A record whose
//! check fails is skipped and counted; a torn tail (a length not a multiple of
//! [`RECORD_LEN`]) is cut off at open. At most [`JOURNAL_MAX`] bytes: past it nothing is
//! appended (counted) until the next store of the marks empties it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use blake2::{Blake2s256, Digest};

use super::marks::StoredMark;
use super::{Store, StoreError};

/// The journal's file name inside the data directory.
pub const JOURNAL_NAME: &str = "marks.journal";
/// Bytes of one record.
const RECORD_LEN: usize = 53;
/// Most bytes the journal grows to (about 79,000 records).
pub const JOURNAL_MAX: u64 = 4 << 20;
/// The runtime stores the marks early once the journal is this long.
pub const JOURNAL_SOON: u64 = 1 << 20;

/// The broadcast numbers a journal says were shown: (origin key, number).
pub(crate) type Shown = Vec<([u8; 32], u32)>;

/// One record as read: (origin key, counter, number).
type Record = ([u8; 32], JournalCounter, u32);

/// Which of an origin's counters a journal record raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalCounter {
    /// Broadcast numbers.
    Broadcast,
    /// Direct-message numbers.
    Direct,
}

/// What reading the journal found besides the marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records read whose check held.
    pub records: u64,
    /// Records skipped: their check failed.
    pub bad: u64,
}

/// The open journal (writer stores only).
#[derive(Debug)]
pub(super) struct Journal {
    file: File,
    path: std::path::PathBuf,
}

impl Journal {
    /// Opens (creating, mode 0600) the journal in `dir` and cuts a torn tail off.
    pub(super) fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(JOURNAL_NAME);
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path)?;
        let len = file.metadata()?.len();
        let whole = len - len % RECORD_LEN as u64;
        if whole != len {
            file.set_len(whole)?;
        }
        Ok(Self { file, path })
    }
}

fn check(body: &[u8]) -> [u8; 8] {
    let digest = Blake2s256::digest(body);
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// One record's bytes.
fn encode(group: u64, key: &[u8; 32], counter: JournalCounter, number: u32) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..8].copy_from_slice(&group.to_be_bytes());
    r[8..40].copy_from_slice(key);
    r[40] = u8::from(counter == JournalCounter::Direct);
    r[41..45].copy_from_slice(&number.to_be_bytes());
    let c = check(&r[..45]);
    r[45..].copy_from_slice(&c);
    r
}

/// A record's (group, key, counter, number), or `None` if its check fails.
fn decode(r: &[u8]) -> Option<(u64, [u8; 32], JournalCounter, u32)> {
    let (body, sum) = r.split_at(45);
    if check(body)[..] != *sum || body[40] > 1 {
        return None;
    }
    let group = u64::from_be_bytes(body[..8].try_into().ok()?);
    let key: [u8; 32] = body[8..40].try_into().ok()?;
    let counter = match body[40] {
        0 => JournalCounter::Broadcast,
        _ => JournalCounter::Direct,
    };
    let number = u32::from_be_bytes(body[41..45].try_into().ok()?);
    Some((group, key, counter, number))
}

/// The later of two numbers modulo 2^32 (0: none), as the node compares marks.
fn later(a: u32, b: u32) -> u32 {
    if a == 0 || (b != 0 && (b.wrapping_sub(a) as i32) > 0) {
        b
    } else {
        a
    }
}

impl Store {
    fn journal(&self) -> Result<&Journal, StoreError> {
        (self.journal.as_ref()).ok_or_else(|| StoreError::ReadOnly {
            path: self.path.clone(),
        })
    }

    fn io_err(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.with_file_name(JOURNAL_NAME),
            source,
        }
    }

    /// Appends that `number` of `key`'s `counter` was accepted in group `id` (call before
    /// the message is shown). Returns the journal's length after it.
    pub fn journal_accept(
        &self,
        id: u64,
        key: &[u8; 32],
        counter: JournalCounter,
        number: u32,
    ) -> Result<u64, StoreError> {
        let j = self.journal()?;
        let len = j.file.metadata().map_err(|e| self.io_err(e))?.len();
        if len + RECORD_LEN as u64 > JOURNAL_MAX {
            return Err(StoreError::TooMany {
                what: "marks journal records",
                max: JOURNAL_MAX as usize / RECORD_LEN,
            });
        }
        let record = encode(id, key, counter, number);
        (&j.file).write_all(&record).map_err(|e| self.io_err(e))?;
        Ok(len + RECORD_LEN as u64)
    }

    /// Every record in the journal with its group, in order; and what reading it found.
    fn journal_all(&self) -> Result<(Vec<(u64, Record)>, JournalStats), StoreError> {
        let j = self.journal()?;
        let mut bytes = Vec::new();
        // A handle of its own: the appending one stands at the end.
        File::open(&j.path)
            .map_err(|e| self.io_err(e))?
            .take(JOURNAL_MAX)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_err(e))?;
        let mut stats = JournalStats::default();
        let mut records = Vec::new();
        for r in bytes.chunks_exact(RECORD_LEN) {
            let Some((group, key, counter, number)) = decode(r) else {
                stats.bad += 1;
                continue;
            };
            stats.records += 1;
            records.push((group, (key, counter, number)));
        }
        Ok((records, stats))
    }

    /// The records of group `id` in the journal, in order; and what reading it found.
    fn journal_records(&self, id: u64) -> Result<(Vec<Record>, JournalStats), StoreError> {
        let (all, stats) = self.journal_all()?;
        let records = (all.into_iter()).filter(|(group, _)| *group == id);
        Ok((records.map(|(_, r)| r).collect(), stats))
    }

    /// The broadcast numbers the journal says were shown, per group (only groups with
    /// some), the whole journal read once: what is kept before it is emptied (§6.9).
    pub fn journal_shown_by_group(
        &self,
    ) -> Result<std::collections::BTreeMap<u64, Shown>, StoreError> {
        let mut out: std::collections::BTreeMap<u64, Shown> = Default::default();
        for (group, (key, counter, number)) in self.journal_all()?.0 {
            if counter == JournalCounter::Broadcast {
                out.entry(group).or_default().push((key, number));
            }
        }
        Ok(out)
    }

    /// What the journal holds for group `id`, read once: the marks (per origin the highest
    /// number of each counter), the broadcast numbers shown (origin key, number: a history
    /// fetch after a restart does not show them again), and what reading it found.
    pub fn journal_fold(
        &self,
        id: u64,
    ) -> Result<(Vec<StoredMark>, Shown, JournalStats), StoreError> {
        let (records, stats) = self.journal_records(id)?;
        let mut marks: std::collections::BTreeMap<[u8; 32], (u32, u32)> = Default::default();
        let mut shown = Vec::new();
        for (key, counter, number) in records {
            let e = marks.entry(key).or_default();
            match counter {
                JournalCounter::Broadcast => {
                    e.0 = later(e.0, number);
                    shown.push((key, number));
                }
                JournalCounter::Direct => e.1 = later(e.1, number),
            }
        }
        let marks = (marks.into_iter())
            .map(|(key, (broadcast, direct))| StoredMark {
                key,
                broadcast,
                direct,
            })
            .collect();
        Ok((marks, shown, stats))
    }

    /// The marks the journal holds for group `id`, and what reading it found.
    pub fn journal_marks(&self, id: u64) -> Result<(Vec<StoredMark>, JournalStats), StoreError> {
        let (marks, _, stats) = self.journal_fold(id)?;
        Ok((marks, stats))
    }

    /// Empties the journal: call once every group's marks are stored.
    pub fn journal_clear(&self) -> Result<(), StoreError> {
        self.journal()?.file.set_len(0).map_err(|e| self.io_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_folds_to_the_highest_numbers_and_survives_a_torn_or_corrupt_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let k = [7; 32];
            store
                .journal_accept(1, &k, JournalCounter::Broadcast, 5)
                .unwrap();
            store
                .journal_accept(1, &k, JournalCounter::Broadcast, 9)
                .unwrap();
            store
                .journal_accept(1, &k, JournalCounter::Broadcast, 7)
                .unwrap();
            store
                .journal_accept(1, &k, JournalCounter::Direct, 3)
                .unwrap();
            store
                .journal_accept(2, &[8; 32], JournalCounter::Broadcast, 4)
                .unwrap();
            let (marks, stats) = store.journal_marks(1).unwrap();
            assert!(!store.journal_fold(1).unwrap().1.is_empty());
            let want = StoredMark {
                key: k,
                broadcast: 9,
                direct: 3,
            };
            assert_eq!((marks, stats.records, stats.bad), (vec![want], 5, 0));
        }
        // A flipped byte in the second record and a torn half record at the end.
        let path = dir.path().join(JOURNAL_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[RECORD_LEN + 44] ^= 1;
        bytes.extend_from_slice(&[0xAB; RECORD_LEN / 2]);
        std::fs::write(&path, &bytes).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (marks, stats) = store.journal_marks(1).unwrap();
        assert_eq!(
            (stats.records, stats.bad),
            (4, 1),
            "torn tail cut off at open"
        );
        assert_eq!(
            (marks[0].broadcast, marks[0].direct),
            (7, 3),
            "9 was the corrupt one"
        );
        store
            .journal_accept(1, &[7; 32], JournalCounter::Broadcast, 11)
            .unwrap();
        assert_eq!(
            store.journal_marks(1).unwrap().0[0].broadcast,
            11,
            "aligned after the cut"
        );
        store.journal_clear().unwrap();
        assert_eq!(
            store.journal_marks(1).unwrap(),
            (vec![], JournalStats::default())
        );
    }

    #[test]
    fn the_journal_stops_at_its_cap_and_a_read_only_store_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join(JOURNAL_NAME);
        let full = JOURNAL_MAX - JOURNAL_MAX % RECORD_LEN as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(full)
            .unwrap();
        let r = store.journal_accept(1, &[1; 32], JournalCounter::Broadcast, 1);
        assert!(matches!(r, Err(StoreError::TooMany { .. })));
        drop(store);
        let ro = Store::open_read_only(dir.path()).unwrap();
        assert!(
            ro.journal_accept(1, &[1; 32], JournalCounter::Broadcast, 1)
                .is_err()
        );
    }
}
