//! The store's open modes: one writer and read-only handles beside it (what lets `dhtchat id`
//! run while a chat or node holds the store), and the advertised address the writer records.

use dhtchat::proto::{Dialect, Privacy};
use dhtchat::store::{FILE_NAME, GroupRecord, Store, StoreError};
use tempfile::TempDir;
use zeroize::Zeroizing;

fn record(label: &str) -> GroupRecord {
    GroupRecord {
        id: GroupRecord::NEW,
        label: label.into(),
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        chat_id: Some([0x11; 32]),
        identity_seed: Zeroizing::new([0xA7; 32]),
        nick: "alice".into(),
        join: String::new(),
        peers: Vec::new(),
        created_by_us: true,
    }
}

#[test]
fn readers_open_beside_the_writer_and_see_its_commits() {
    let dir = TempDir::new().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    writer.put_group(&record("one")).unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    let second = Store::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(reader.groups().unwrap().len(), 1);
    // A commit after the reader opened is visible to its next read.
    writer.put_group(&record("two")).unwrap();
    writer
        .set_advertised_addr("127.0.0.1:40001".parse().unwrap())
        .unwrap();
    assert_eq!(second.groups().unwrap().len(), 2);
    assert_eq!(
        second.advertised_addr().unwrap(),
        Some("127.0.0.1:40001".parse().unwrap())
    );
    // Still one writer at a time, readers or not.
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
}

#[test]
fn a_read_only_store_refuses_writes_and_creates_nothing() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nothing");
    let err = Store::open_read_only(&missing).unwrap_err();
    assert!(matches!(err, StoreError::NoDatabase { .. }), "{err}");
    assert!(
        err.to_string().starts_with("no dhtchat database at "),
        "{err}"
    );
    assert!(!missing.exists());

    drop(Store::open(dir.path()).unwrap());
    let reader = Store::open_read_only(dir.path()).unwrap();
    let err = reader.put_group(&record("x")).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    let err = reader.set_advertised_addr("127.0.0.1:1".parse().unwrap());
    assert!(matches!(err, Err(StoreError::ReadOnly { .. })));
    assert_eq!(reader.advertised_addr().unwrap(), None);
    assert!(reader.groups().unwrap().is_empty());
    // The writer can open while a reader is open, and the reader never blocked it.
    let writer = Store::open(dir.path()).unwrap();
    writer.put_group(&record("y")).unwrap();
    assert_eq!(reader.groups().unwrap().len(), 1);
}

#[test]
fn a_foreign_file_is_refused_read_only_too() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join(FILE_NAME),
        b"not a database, just some bytes",
    )
    .unwrap();
    let err = Store::open_read_only(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Db { .. }),
        "{err}"
    );
}

#[test]
fn advertised_address_persists_across_reopen() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.advertised_addr().unwrap(), None);
    store
        .set_advertised_addr("[::1]:4000".parse().unwrap())
        .unwrap();
    store
        .set_advertised_addr("192.0.2.7:33446".parse().unwrap())
        .unwrap();
    drop(store);
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(
        reader.advertised_addr().unwrap(),
        Some("192.0.2.7:33446".parse().unwrap())
    );
}
