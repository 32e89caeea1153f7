//! The redb store: round trips, persistence across reopen, caps, damaged files, locking,
//! permissions, and no acknowledged write lost to kill -9.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use dhtchat::proto::{Dialect, Privacy};
use dhtchat::store::{
    FILE_NAME, GroupRecord, MAX_FACT_LEN, MAX_FACTS_PER_CHAT, MAX_PEERS, Store, StoreError,
    StoredPeer,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use zeroize::Zeroizing;

const SEED: [u8; 32] = [0xA7; 32];
const CHAT: [u8; 32] = [0x11; 32];

fn peer(i: u8) -> StoredPeer {
    StoredPeer {
        key: [i; 32],
        addr: format!("127.0.0.{}:{}", i.max(1), 30000 + u16::from(i))
            .parse()
            .unwrap(),
    }
}

fn record(label: &str) -> GroupRecord {
    GroupRecord {
        id: GroupRecord::NEW,
        label: label.into(),
        dialect: Dialect::Secure,
        privacy: Privacy::Private,
        chat_id: Some(CHAT),
        identity_seed: Zeroizing::new(SEED),
        nick: "alice".into(),
        join: format!(
            "dhtchat:private:{}:{}@127.0.0.1:33445",
            "AB".repeat(32),
            "CD".repeat(32)
        ),
        peers: vec![peer(1), peer(2)],
        created_by_us: true,
    }
}

#[test]
fn store_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let store = &store;
            s.spawn(move || store.put_fact(&CHAT, &[t], &[t; 8]).unwrap());
        }
    });
    assert_eq!(store.facts(&CHAT).unwrap().len(), 4);
}

#[test]
fn node_seed_is_created_once_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let first = Store::open(dir.path())
        .unwrap()
        .load_or_create_node_seed(|| [3; 32])
        .unwrap();
    assert_eq!(*first, [3; 32]);
    let store = Store::open(dir.path()).unwrap();
    let again = store
        .load_or_create_node_seed(|| panic!("a stored seed exists"))
        .unwrap();
    assert_eq!(*again, [3; 32]);
}

#[test]
fn groups_round_trip_and_survive_reopen() {
    let dir = TempDir::new().unwrap();
    let (a, b) = {
        let store = Store::open(dir.path()).unwrap();
        let a = store.put_group(&record("ours")).unwrap();
        let mut legacy = record("legacy");
        legacy.dialect = Dialect::Legacy;
        legacy.privacy = Privacy::Public;
        legacy.chat_id = None;
        legacy.created_by_us = false;
        legacy.peers.clear();
        let b = store.put_group(&legacy).unwrap();
        (a, b)
    };
    assert_ne!(a, b);
    let store = Store::open(dir.path()).unwrap();
    let groups = store.groups().unwrap();
    let mut want_a = record("ours");
    want_a.id = a;
    assert_eq!(groups[0], want_a);
    assert_eq!(groups[1].id, b);
    assert_eq!(groups[1].dialect, Dialect::Legacy);
    assert_eq!(groups[1].chat_id, None);
    assert!(groups[1].peers.is_empty());
    assert_eq!(*groups[1].identity_seed, SEED);
}

#[test]
fn put_group_replaces_and_setters_update() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.put_group(&record("g")).unwrap();
    let mut rec = store.groups().unwrap().remove(0);
    rec.label = "renamed".into();
    assert_eq!(store.put_group(&rec).unwrap(), id);
    store.set_nick(id, "bob").unwrap();
    store.set_peers(id, &[peer(9)]).unwrap();
    let got = store.groups().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].label, "renamed");
    assert_eq!(got[0].nick, "bob");
    assert_eq!(got[0].peers, vec![peer(9)]);
    assert!(matches!(
        store.set_nick(id + 1, "x"),
        Err(StoreError::NoSuchGroup(_))
    ));
    rec.id = id + 1;
    assert!(matches!(
        store.put_group(&rec),
        Err(StoreError::NoSuchGroup(_))
    ));
}

#[test]
fn peers_are_capped_to_the_most_recent_distinct_keys() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.put_group(&record("g")).unwrap();
    let mut peers: Vec<StoredPeer> = (0..50).map(peer).collect();
    peers.insert(1, peer(0)); // a duplicate key counts once
    store.set_peers(id, &peers).unwrap();
    let got = store.groups().unwrap().remove(0).peers;
    assert_eq!(got.len(), MAX_PEERS);
    assert_eq!(got, (0..MAX_PEERS as u8).map(peer).collect::<Vec<_>>());
}

#[test]
fn remove_group_keeps_facts_and_ids_are_not_reused() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.put_group(&record("g")).unwrap();
    store.put_fact(&CHAT, b"ban:1", b"signed ban").unwrap();
    assert!(store.remove_group(id).unwrap());
    assert!(!store.remove_group(id).unwrap());
    assert!(store.groups().unwrap().is_empty());
    assert!(matches!(
        store.set_peers(id, &[]),
        Err(StoreError::NoSuchGroup(_))
    ));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.facts(&CHAT).unwrap(),
        vec![(b"ban:1".to_vec(), b"signed ban".to_vec())]
    );
    assert!(store.put_group(&record("again")).unwrap() > id);
}

#[test]
fn facts_replace_remove_and_stay_per_chat() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let other = [0x12; 32];
    store.put_fact(&CHAT, b"b", b"one").unwrap();
    store.put_fact(&CHAT, b"a", b"two").unwrap();
    store.put_fact(&CHAT, b"b", b"three").unwrap();
    store.put_fact(&other, b"a", b"other chat").unwrap();
    let want = vec![
        (b"a".to_vec(), b"two".to_vec()),
        (b"b".to_vec(), b"three".to_vec()),
    ];
    assert_eq!(store.facts(&CHAT).unwrap(), want);
    assert!(store.remove_fact(&CHAT, b"a").unwrap());
    assert!(!store.remove_fact(&CHAT, b"a").unwrap());
    assert_eq!(store.facts(&CHAT).unwrap().len(), 1);
    assert_eq!(store.facts(&other).unwrap().len(), 1);
    assert!(store.facts(&[0x13; 32]).unwrap().is_empty());
}

#[test]
fn facts_are_bounded_in_size_and_number() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let big = vec![0u8; MAX_FACT_LEN + 1];
    assert!(matches!(
        store.put_fact(&CHAT, b"k", &big),
        Err(StoreError::TooLarge { .. })
    ));
    assert!(matches!(
        store.put_fact(&CHAT, &[0; 65], b""),
        Err(StoreError::TooLarge { .. })
    ));
    let keys: Vec<[u8; 4]> = (0..MAX_FACTS_PER_CHAT as u32)
        .map(u32::to_be_bytes)
        .collect();
    let batch: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b""[..])).collect();
    store.put_facts(&CHAT, &batch[..10]).unwrap();
    store.put_facts(&CHAT, &batch).unwrap(); // 10 replaced, the rest new: exactly at the cap
    let over = [(&b"one more"[..], &b""[..])];
    let err = store.put_facts(&CHAT, &over).unwrap_err();
    assert!(matches!(err, StoreError::TooMany { .. }), "{err}");
    assert_eq!(store.facts(&CHAT).unwrap().len(), MAX_FACTS_PER_CHAT);
    let err = store.put_fact(&CHAT, b"one more", b"").unwrap_err();
    assert!(matches!(err, StoreError::TooMany { .. }), "{err}");
    assert_eq!(store.facts(&CHAT).unwrap().len(), MAX_FACTS_PER_CHAT);
    store
        .put_fact(&CHAT, &0u32.to_be_bytes(), b"replacing is fine")
        .unwrap();
    store
        .put_fact(&[0x12; 32], b"other chat is fine", b"")
        .unwrap();
}

#[test]
fn debug_of_a_group_does_not_print_the_seed() {
    let text = format!("{:?}", record("g"));
    assert!(!text.contains(&hex::encode(SEED)), "{text}");
    assert!(!text.contains("167, 167"), "{text}"); // the seed's bytes in decimal
    assert!(text.contains("identity_seed"), "{text}");
}

#[test]
fn over_long_fields_are_refused() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rec = record("g");
    rec.join = "x".repeat(513);
    assert!(matches!(
        store.put_group(&rec),
        Err(StoreError::TooLarge { .. })
    ));
    let id = store.put_group(&record("g")).unwrap();
    assert!(matches!(
        store.set_nick(id, &"n".repeat(257)),
        Err(StoreError::TooLarge { .. })
    ));
}

#[test]
fn junk_file_is_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join(FILE_NAME), &junk).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(FILE_NAME), "{err}");
}

#[test]
fn truncated_file_is_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_group(&record("g")).unwrap();
    }
    let path = dir.path().join(FILE_NAME);
    let bytes = std::fs::read(&path).unwrap();
    for len in [100, 600, bytes.len() / 2] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{len}: {err}");
        assert!(err.to_string().contains(FILE_NAME), "{len}: {err}");
    }
}

#[test]
fn flipped_bytes_are_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_group(&record("g")).unwrap();
        store.put_fact(&CHAT, b"k", &[5; 200]).unwrap();
    }
    let path = dir.path().join(FILE_NAME);
    let good = std::fs::read(&path).unwrap();
    // Flip bytes the file actually uses (non-zero ones), spread over the file.
    let used: Vec<usize> = (0..good.len()).filter(|&i| good[i] != 0).collect();
    let mut damaged_opens = 0;
    for &at in used.iter().step_by(used.len().div_ceil(40)) {
        let mut bytes = good.clone();
        bytes[at] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        // Either redb notices (checksum, header) or the byte was not load-bearing; no panic.
        match Store::open(dir.path()) {
            Err(err) => {
                assert!(err.to_string().contains(FILE_NAME), "{at}: {err}");
                damaged_opens += 1;
            }
            // Opened: what it returns is the data as written (checksums cover live pages).
            Ok(store) => {
                assert_eq!(store.groups().unwrap()[0].label, "g", "{at}");
                assert_eq!(store.facts(&CHAT).unwrap()[0].1, [5; 200], "{at}");
            }
        }
    }
    println!("{damaged_opens} of 40 damaged files refused");
    assert!(damaged_opens > 0);
}

#[test]
fn newer_schema_and_foreign_databases_are_refused() {
    let dir = TempDir::new().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let path = dir.path().join(FILE_NAME);
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(meta)
            .unwrap()
            .insert("schema", &2u32.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );

    let foreign = TempDir::new().unwrap();
    {
        let db = redb::Database::create(foreign.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        let other: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("other");
        txn.open_table(other).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(foreign.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn leftover_temp_files_of_a_crashed_creation_are_removed() {
    let dir = TempDir::new().unwrap();
    let tmp = dir.path().join(format!("{FILE_NAME}.999999.tmp"));
    std::fs::write(&tmp, b"half a database").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!tmp.exists());
    store.put_fact(&CHAT, b"k", b"v").unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    // The database and the marks journal beside it (PROTOCOL.md §6.9).
    assert_eq!(names, [FILE_NAME, dhtchat::store::JOURNAL_NAME]);
}

#[test]
fn second_open_while_open_is_in_use() {
    let dir = TempDir::new().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another dhtchat"),
        "{err}"
    );
    drop(first);
    Store::open(dir.path()).unwrap();
}

#[cfg(unix)]
#[test]
fn data_dir_is_0700_and_file_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("a/dhtchat");
    let _store = Store::open(&dir).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
}

const CHILD_ENV: &str = "DHTCHAT_STORE_KILL9_DIR";

/// The writer for `acknowledged_facts_survive_kill_9`: run only by that test (re-invoking this
/// binary); writes facts until killed, printing `ACK i` after each returned `Ok`.
#[test]
#[ignore = "child process of acknowledged_facts_survive_kill_9"]
fn kill9_writer_child() {
    let dir = std::env::var_os(CHILD_ENV).expect("run by acknowledged_facts_survive_kill_9");
    let mut out = std::io::stdout().lock();
    // After libtest's "test kill9_writer_child ... " (no newline). A kill from here on lands
    // in the first open, which creates the file.
    writeln!(out, "\nSTART").unwrap();
    out.flush().unwrap();
    let store = Store::open(Path::new(&dir)).unwrap();
    for i in 0..MAX_FACTS_PER_CHAT as u32 {
        store.put_fact(&CHAT, &i.to_be_bytes(), &blob(i)).unwrap();
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
}

/// Record `i`: i ‖ 512 pseudo-random bytes ‖ SHA-256 of both.
fn blob(i: u32) -> Vec<u8> {
    let mut b = i.to_be_bytes().to_vec();
    b.extend((0..512u32).map(|j| {
        (i.wrapping_mul(31)
            .wrapping_add(j)
            .wrapping_mul(2_654_435_761)
            >> 24) as u8
    }));
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}

#[test]
fn acknowledged_facts_survive_kill_9() {
    let exe = std::env::current_exe().unwrap();
    for (round, acks_before_kill) in [1usize, 7, 0, 20, 3, 40, 0, 12, 0, 29, 5, 0, 16, 2, 0, 33]
        .into_iter()
        .enumerate()
    {
        let dir = TempDir::new().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill9_writer_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = Vec::new();
        let mut started = false;
        while !started || acked.len() < acks_before_kill {
            let line = lines.next().expect("child ended early").unwrap();
            started |= line == "START";
            if let Some(i) = line.strip_prefix("ACK ") {
                acked.push(i.parse::<u32>().unwrap());
            }
        }
        if !acked.is_empty() {
            // The writer holds the file: a second dhtchat (this process) must be refused.
            let err = Store::open(dir.path()).unwrap_err();
            assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        }
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        let store = Store::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}, {} acks: {e}", acked.len()));
        let facts = store.facts(&CHAT).unwrap();
        for (key, value) in &facts {
            let i = u32::from_be_bytes(key[..].try_into().unwrap());
            assert_eq!(value, &blob(i), "round {round}: record {i} torn");
        }
        let stored: Vec<u32> = facts
            .iter()
            .map(|(k, _)| u32::from_be_bytes(k[..].try_into().unwrap()))
            .collect();
        println!(
            "round {round}: {} acked, {} stored",
            acked.len(),
            stored.len()
        );
        for i in &acked {
            assert!(
                stored.contains(i),
                "round {round}: acknowledged record {i} lost"
            );
        }
    }
}
