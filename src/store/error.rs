//! The store's one error type: every variant reads as one line for a person and names the file.

use std::io;
use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Creating the data directory, setting permissions or opening the file failed.
    #[error("data dir {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another process (or another `Store` in this one) has the database open.
    #[error("data dir {path} in use by another dhtchat")]
    InUse {
        /// The data directory.
        path: PathBuf,
    },
    /// The file is not a redb database, is truncated, or a checksum or record does not verify.
    #[error("database {path} is damaged or not a dhtchat database: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was found wrong.
        detail: String,
    },
    /// The file was written by a newer (or unknown) dhtchat.
    #[error("database {path} has schema version {found}; this dhtchat reads version {supported}")]
    Schema {
        /// The database file.
        path: PathBuf,
        /// The version the file says it has.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Any other database failure (disk full, I/O error under redb).
    #[error("database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        source: redb::Error,
    },
    /// [`super::Store::open_read_only`] found no database file.
    #[error("no dhtchat database at {path}")]
    NoDatabase {
        /// The file looked for.
        path: PathBuf,
    },
    /// A write through a store opened read-only.
    #[error("database {path} is open read-only")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// No group with this store id.
    #[error("no stored group with id {0}")]
    NoSuchGroup(u64),
    /// A field or blob is longer than the store accepts.
    #[error("{what} is {len} bytes; the store accepts at most {max}")]
    TooLarge {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A table is full (groups, or facts of one chat).
    #[error("too many {what}: the store keeps at most {max}")]
    TooMany {
        /// What is full.
        what: &'static str,
        /// The cap.
        max: usize,
    },
}

impl StoreError {
    /// Classifies a redb error for the database file at `path`.
    pub(super) fn from_redb(path: &std::path::Path, err: impl Into<redb::Error>) -> Self {
        let path = path.to_path_buf();
        match err.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                let dir = path
                    .parent()
                    .map_or(path.clone(), std::path::Path::to_path_buf);
                Self::InUse { path: dir }
            }
            redb::Error::Corrupted(detail) => Self::Corrupt { path, detail },
            // A foreign or short file: redb reports it as an I/O error of these kinds.
            redb::Error::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                Self::Corrupt {
                    path,
                    detail: e.to_string(),
                }
            }
            redb::Error::UpgradeRequired(v) => Self::Corrupt {
                path,
                detail: format!("old redb file format {v}"),
            },
            source => Self::Db { path, source },
        }
    }
}
