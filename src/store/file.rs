//! The store's files: the private data directory, the 0600 database file, and creating a new
//! database atomically (built under a temporary name, then linked into place).

use std::path::Path;

use super::{FILE_NAME, Store, StoreError};

/// Suffix of a database being created (`dhtchat.redb.<pid>.tmp`).
const TEMP_SUFFIX: &str = ".tmp";

/// Creates `dir` and its missing parents; a created `dir` gets mode 0700 (unix).
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| io_err(dir, source))
}

/// Creates the file with mode 0600 if missing, and sets 0600 if it exists (unix).
pub(super) fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path).map_err(|e| io_err(path, e))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err(path, e))?;
    }
    #[cfg(not(unix))]
    options.open(path).map_err(|e| io_err(path, e))?;
    Ok(())
}

/// Creates a new database at `path`: initialised (schema and tables committed) under a
/// temporary name, then hard-linked to `path`, which fails if another process got there
/// first (then its file is used). The directory is synced so the new name is durable.
pub(super) fn create_database(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{FILE_NAME}.{}{TEMP_SUFFIX}", std::process::id()));
    // A leftover of a crashed process that had our pid: never linked, so never used.
    let _ = std::fs::remove_file(&tmp);
    create_private_file(&tmp)?;
    let db = redb::Database::create(&tmp).map_err(|e| StoreError::from_redb(&tmp, e))?;
    let store = Store {
        db: super::Db::Writer(db),
        path: tmp.clone(),
        journal: None,
    };
    store.check_schema()?;
    if let super::Db::Writer(db) = store.db {
        db.close().map_err(|e| StoreError::from_redb(&tmp, e))?;
    }
    let linked = match std::fs::hard_link(&tmp, path) {
        // Another process created it first (and may have removed our temporary file).
        Err(_) if path.exists() => Ok(()),
        // A file system without hard links.
        Err(_) => std::fs::rename(&tmp, path),
        Ok(()) => Ok(()),
    };
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| io_err(path, e))?;
    sync_dir(dir)
}

/// Removes temporary files of creations that crashed. Best effort; called while holding the
/// database lock, so a creation still running elsewhere fails to link and opens ours.
pub(super) fn remove_leftover_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{FILE_NAME}.");
    for entry in entries.flatten().take(1024) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes directory entries durable (unix; elsewhere a no-op).
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))?;
    Ok(())
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
