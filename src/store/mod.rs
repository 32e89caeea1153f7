//! The embedded database: what a restarted `dhtchat` needs to come back as the same node in
//! the same groups, and the moderation facts (bans) that must outlive a restart.
//!
//! One redb file, `<data dir>/dhtchat.redb` ([`Store::open`]; [`default_data_dir`] is
//! `$XDG_DATA_HOME/dhtchat`, else `$HOME/.local/share/dhtchat`). Every write is one redb write
//! transaction committed with the default durability (`Durability::Immediate`: fsynced before
//! the call returns), so a call that returned `Ok` survives kill -9. Reads use MVCC read
//! transactions and never wait for a writer. The file is opened with redb's integrity check,
//! so a damaged or foreign file is an error ([`StoreError::Corrupt`]), not a panic.
//!
//! **One writer, any number of readers** (redb's `ConcurrencyMode::SingleWriter`, byte-range
//! locks): the running `dhtchat chat` or `node` opens the store to write ([`Store::open`]); a
//! second writer, from this or another process, is [`StoreError::InUse`]. Any number of
//! processes may meanwhile open it read-only ([`Store::open_read_only`], what `dhtchat id`
//! does) and see every committed write; a write through a read-only store is
//! [`StoreError::ReadOnly`]. A dhtchat built with the earlier exclusive lock and this one
//! refuse each other ([`StoreError::InUse`]), never share the file unsafely. A new file
//! is initialised as `dhtchat.redb.<pid>.tmp` and hard-linked into place, so a crash during the
//! very first open does not leave an unopenable file (the kill -9 test found that).
//!
//! **Secrets are stored unencrypted**: the node seed and every group identity seed are plain
//! bytes in the file. They are protected by file permissions only: the directory is created
//! with mode 0700 and the file is set to 0600 at every open (unix).
//!
//! # Tables (schema version [`SCHEMA_VERSION`])
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | `&str` | `"schema"`: u32 little-endian; `"node_seed"`: 32 bytes; `"next_group_id"`: u64 little-endian; `"advertised"`: UTF-8 `IP:PORT` the running node puts into join strings (optional) |
//! | `groups` | `u64` group id (from 1) | postcard `GroupDisk`: label, dialect u8 (0 legacy, 1 secure), privacy u8 (0 public, 1 private), `Option<[u8;32]>` chat id, `[u8;32]` identity seed, nick, join string, created_by_us |
//! | `peers` | `u64` group id | postcard `Vec<StoredPeer>` (key `[u8;32]`, `SocketAddr`), ≤ [`MAX_PEERS`], most recent first |
//! | `facts` | `&[u8]`: chat id (32 bytes) ‖ fact key (≤ [`MAX_FACT_KEY_LEN`]) | opaque blob ≤ [`MAX_FACT_LEN`] |
//! | `numbers` | `u64` group id | `u32`: the last broadcast number we spent |
//! | `direct_numbers`, `marks` | `u64` group id | see `marks.rs`: the last direct number we spent; each origin's highest accepted numbers |
//!
//! Beside the file, `<data dir>/marks.journal` (`journal.rs`): the numbers shown since the
//! marks were last stored, appended before each is shown, so a kill -9 shows nothing again.
//!
//! Postcard strings are length-prefixed UTF-8, `Option` a 0/1 byte, integers varints. Facts
//! are keyed by chat id rather than group id, so removing a group ([`Store::remove_group`])
//! keeps its bans, which apply again when the group is rejoined. A file whose schema record
//! differs from [`SCHEMA_VERSION`] is refused ([`StoreError::Schema`]); there is no migration
//! yet because there is no older version.

mod address;
mod error;
mod facts;
mod file;
mod groups;
mod history;
mod journal;
mod marks;
mod records;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};
use zeroize::Zeroizing;

pub use error::StoreError;
pub use facts::{Fact, MAX_FACT_KEY_LEN, MAX_FACT_LEN, MAX_FACTS_PER_CHAT};
pub use groups::MAX_GROUPS;
pub use history::{MAX_ADMISSIONS, MAX_HISTORY_ROWS, StoredAdmission, StoredHistory};
pub use journal::{JOURNAL_MAX, JOURNAL_NAME, JOURNAL_SOON, JournalCounter, JournalStats};
pub use marks::{MAX_MARKS, StoredMark};
pub use records::{GroupRecord, MAX_JOIN_LEN, MAX_LABEL_LEN, MAX_NICK_LEN, MAX_PEERS, StoredPeer};

/// The schema this build reads and writes (the `meta` table's `"schema"` record).
pub const SCHEMA_VERSION: u32 = 1;
/// The database's file name inside the data directory.
pub const FILE_NAME: &str = "dhtchat.redb";

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const GROUPS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("groups");
const PEERS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("peers");
const FACTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("facts");
/// Group id → the last message number we spent in it (so a restart never reuses one).
const NUMBERS: TableDefinition<'_, u64, u32> = TableDefinition::new("numbers");

const SCHEMA_KEY: &str = "schema";
const NODE_SEED_KEY: &str = "node_seed";
const NEXT_GROUP_KEY: &str = "next_group_id";
const ADVERTISED_KEY: &str = "advertised";

/// `$XDG_DATA_HOME/dhtchat`, else `$HOME/.local/share/dhtchat`; `None` if neither is set
/// (empty or relative values are ignored, as the XDG spec asks).
pub fn default_data_dir() -> Option<PathBuf> {
    data_dir_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

/// [`default_data_dir`] given the two variables' values.
fn data_dir_from(xdg_data_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let abs = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = abs(xdg_data_home) {
        return Some(xdg.join("dhtchat"));
    }
    abs(home).map(|home| home.join(".local/share/dhtchat"))
}

/// The open database: one writer per data directory at a time, and any number of read-only
/// handles beside it. Share it by reference (`&self` methods; reads run beside a write).
#[derive(Debug)]
pub struct Store {
    db: Db,
    path: PathBuf,
    /// The marks journal (`journal.rs`); writer stores only.
    journal: Option<journal::Journal>,
}

/// The redb handle: the writer, or a read-only reader.
enum Db {
    Writer(Database),
    Reader(ReadOnlyDatabase),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Writer(_) => "Writer",
            Self::Reader(_) => "Reader",
        })
    }
}

/// How every process opens the file: one writer, readers beside it.
fn builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    builder
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: creates `dir` (mode 0700), opens or creates
    /// `dir/dhtchat.redb` (mode 0600), checks its integrity and schema version. A new file is
    /// built under a temporary name and linked into place, so a crash while creating it leaves
    /// no half-made database behind.
    ///
    /// Errors: [`StoreError::InUse`] if another `Store` has it open, [`StoreError::Corrupt`] for
    /// a damaged or foreign file, [`StoreError::Schema`] for a file from another version.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        file::create_private_dir(dir)?;
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            file::create_database(dir, &path)?;
        }
        file::create_private_file(&path)?;
        let db = builder()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| StoreError::from_redb(&path, e))?;
        file::remove_leftover_temp_files(dir);
        let journal = journal::Journal::open(dir).map_err(|source| StoreError::Io {
            path: dir.join(JOURNAL_NAME),
            source,
        })?;
        let store = Self {
            db: Db::Writer(db),
            path,
            journal: Some(journal),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Opens the existing store in `dir` read-only, beside a running writer if there is one
    /// (it then sees each of its commits). Creates nothing and changes nothing: no directory,
    /// file, permission or repair. Every write method fails with [`StoreError::ReadOnly`].
    ///
    /// Errors: [`StoreError::NoDatabase`] if `dir` holds no store, [`StoreError::InUse`] if a
    /// dhtchat with the older exclusive lock has it open, [`StoreError::Schema`] for a file
    /// from another version.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(StoreError::NoDatabase { path });
        }
        let db = builder()
            .open_read_only(&path)
            .map_err(|e| StoreError::from_redb(&path, e))?;
        let store = Self {
            db: Db::Reader(db),
            path,
            journal: None,
        };
        store.require_schema(store.read_schema()?)?;
        Ok(store)
    }

    /// Whether this handle was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.db, Db::Reader(_))
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Our node seed (for `Config::new`): the stored one, or `fresh()` stored durably first.
    pub fn load_or_create_node_seed(
        &self,
        fresh: impl FnOnce() -> [u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        if let Some(seed) = self.read_node_seed()? {
            return Ok(seed);
        }
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            if let Some(v) = meta.get(NODE_SEED_KEY).map_err(|e| self.err(e))? {
                return self.seed_from(v.value());
            }
            let seed = Zeroizing::new(fresh());
            meta.insert(NODE_SEED_KEY, &seed[..])
                .map_err(|e| self.err(e))?;
            Ok(seed)
        })
    }

    fn read_node_seed(&self) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let value = meta.get(NODE_SEED_KEY).map_err(|e| self.err(e))?;
        value.map(|v| self.seed_from(v.value())).transpose()
    }

    fn seed_from(&self, bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        if bytes.len() != seed.len() {
            return Err(self.corrupt(format!("node seed is {} bytes", bytes.len())));
        }
        seed.copy_from_slice(bytes);
        Ok(seed)
    }

    /// Writes the schema record into a new file, or checks the one already there.
    fn check_schema(&self) -> Result<(), StoreError> {
        self.write(|txn| {
            let fresh = txn.list_tables().map_err(|e| self.err(e))?.next().is_none();
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            if fresh {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes()[..])
                    .map_err(|e| self.err(e))?;
                drop(meta);
                for table in [GROUPS, PEERS] {
                    txn.open_table(table).map_err(|e| self.err(e))?;
                }
                txn.open_table(FACTS).map_err(|e| self.err(e))?;
                txn.open_table(NUMBERS).map_err(|e| self.err(e))?;
                return Ok(());
            }
            let found = self.schema_of(&meta)?;
            self.require_schema(found)
        })
    }

    /// The schema record, read without writing.
    fn read_schema(&self) -> Result<u32, StoreError> {
        let txn = self.begin_read()?;
        match txn.open_table(META) {
            Ok(meta) => self.schema_of(&meta),
            Err(redb::TableError::TableDoesNotExist(_)) => {
                Err(self.corrupt("no meta table".into()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    fn schema_of(
        &self,
        meta: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<u32, StoreError> {
        match meta.get(SCHEMA_KEY).map_err(|e| self.err(e))? {
            Some(v) => <[u8; 4]>::try_from(v.value())
                .map(u32::from_le_bytes)
                .map_err(|_| self.corrupt("schema record is not 4 bytes".into())),
            None => Err(self.corrupt("no schema record".into())),
        }
    }

    fn require_schema(&self, found: u32) -> Result<(), StoreError> {
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        Err(StoreError::Schema {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        })
    }

    /// A read transaction, on either kind of handle.
    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        match &self.db {
            Db::Writer(db) => db.begin_read(),
            Db::Reader(db) => db.begin_read(),
        }
        .map_err(|e| self.err(e))
    }

    /// Runs `f` in one write transaction and commits it (fsynced) if `f` succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Db::Writer(db) = &self.db else {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        };
        let txn = db.begin_write().map_err(|e| self.err(e))?;
        match f(&txn) {
            Ok(value) => {
                txn.commit().map_err(|e| self.err(e))?;
                Ok(value)
            }
            Err(e) => {
                txn.abort().map_err(|e| self.err(e))?;
                Err(e)
            }
        }
    }

    /// A redb error about this store's file.
    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::from_redb(&self.path, e)
    }

    /// A record that does not decode.
    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}

impl Store {
    /// Reads the `meta` record `key` as a little-endian `u64` (`None` if absent).
    fn meta_u64(
        &self,
        meta: &impl ReadableTable<&'static str, &'static [u8]>,
        key: &str,
    ) -> Result<Option<u64>, StoreError> {
        let Some(value) = meta.get(key).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        <[u8; 8]>::try_from(value.value())
            .map(|b| Some(u64::from_le_bytes(b)))
            .map_err(|_| self.corrupt(format!("meta record {key} is not 8 bytes")))
    }
}

/// A secure public group record not yet stored, for the store's own tests.
#[cfg(test)]
pub(crate) fn secure_group_for_test() -> GroupRecord {
    GroupRecord {
        id: GroupRecord::NEW,
        label: "g".into(),
        dialect: crate::proto::Dialect::Secure,
        privacy: crate::proto::Privacy::Public,
        chat_id: None,
        identity_seed: zeroize::Zeroizing::new([3; 32]),
        nick: String::new(),
        join: String::new(),
        peers: Vec::new(),
        created_by_us: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_xdg_then_home_and_ignores_relative_values() {
        let os = |s: &str| Some(OsString::from(s));
        let xdg = data_dir_from(os("/x"), os("/h"));
        assert_eq!(xdg, Some(PathBuf::from("/x/dhtchat")));
        let home = data_dir_from(os(""), os("/h"));
        assert_eq!(home, Some(PathBuf::from("/h/.local/share/dhtchat")));
        assert_eq!(data_dir_from(os("rel"), None), None);
        assert_eq!(data_dir_from(None, os("rel")), None);
    }
}
