//! Two devices of one account in one room (PROTOCOL.md §8.13, issue #13), with real
//! processes on loopback: one `dhtchat index` (SQLite, and PostgreSQL with
//! `DHTCHAT_TEST_POSTGRES`) and `dhtchat chat --plain --index KEY@IP:PORT` clients.
//!
//! alice logs in on two data dirs; each registers a device key of its own and joins the room
//! with it, so the group has two members for her. Both devices receive every message of a
//! third user and each other's; the index stores both devices' messages as alice's; `/rooms`
//! counts devices (3 clients: two of alice's, one of bob's); a moderator's `/kick alice`
//! removes both devices.

#![allow(clippy::disallowed_methods)]

mod index_procs;
mod index_support;

use std::time::{Duration, Instant};

use dhtchat::index::sql::Sql;
use dhtchat::index::store::devices::device_keys;
use index_procs::{Proc, WAIT, account_key, rooms_until, start_index_with};
use index_support::backends;

const PASSWORD: &str = "alice's password 123";

/// The authors of the stored room messages with these texts, once all are stored.
fn stored_authors(backend: &index_support::Backend, texts: &[&str]) -> Vec<(String, String)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows: Vec<(String, String)> = backend.with_db(|db: &mut dyn Sql| {
            db.query(
                "SELECT a.name, m.body FROM room_messages m \
                 JOIN accounts a ON a.id = m.account_id ORDER BY m.id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r[0].text().to_owned(), r[1].text().to_owned()))
            .collect()
        });
        let found: Vec<_> = rows
            .into_iter()
            .filter(|(_, body)| texts.contains(&body.as_str()))
            .collect();
        if found.len() >= texts.len() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_devices_of_one_account_in_one_room_each_get_every_message() {
    for backend in backends("devices_procs") {
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let extra: Vec<&str> = match backend.url.as_deref() {
            Some(url) => vec!["--database", url],
            None => Vec::new(),
        };
        let (_index, target) = start_index_with(backend.dir.path(), &extra);

        let mut a1 = Proc::chat("alice-1", dirs[0].path(), &target);
        let login = a1.account("register", "alice", PASSWORD);
        let account = account_key(&login);
        assert!(
            a1.printed()
                .contains("registered (1 devices on this account)")
        );
        a1.say("/room LOBBY");
        a1.expect("INFO", "room LOBBY: ", &[]);
        a1.expect("READY", "", &[]);

        // The second device: the login opens LOBBY again from the account's room list.
        let mut a2 = Proc::chat("alice-2", dirs[1].path(), &target);
        a2.account("login", "alice", PASSWORD);
        assert!(
            a2.printed()
                .contains("registered (2 devices on this account)"),
            "{}",
            a2.printed()
        );
        a2.expect("INFO", "room LOBBY: ", &[]);
        a2.expect("READY", "", &[]);

        let mut b = Proc::chat("bob", dirs[2].path(), &target);
        b.account("register", "bob", "bob's password 123");
        b.say("/room LOBBY");
        b.expect("INFO", "room LOBBY: ", &[]);
        b.expect("READY", "", &[]);
        // Clients are devices: alice's two and bob's one.
        rooms_until(&mut b, "LOBBY (3 clients)");

        b.say("from bob to both devices");
        a1.expect("MSG", "from bob to both devices", &[("nick", "bob")]);
        a2.expect("MSG", "from bob to both devices", &[("nick", "bob")]);
        a1.say("from alice's first device");
        a2.expect("MSG", "from alice's first device", &[("nick", "alice")]);
        b.expect("MSG", "from alice's first device", &[("nick", "alice")]);
        a2.say("from alice's second device");
        a1.expect("MSG", "from alice's second device", &[("nick", "alice")]);
        b.expect("MSG", "from alice's second device", &[("nick", "alice")]);

        // The index stored both devices' messages as alice's.
        let texts = [
            "from bob to both devices",
            "from alice's first device",
            "from alice's second device",
        ];
        let stored = stored_authors(&backend, &texts);
        let expect = vec![
            ("bob".to_owned(), texts[0].to_owned()),
            ("alice".to_owned(), texts[1].to_owned()),
            ("alice".to_owned(), texts[2].to_owned()),
        ];
        assert_eq!(stored, expect, "{}", backend.name);
        // Two device keys, neither of them the account's.
        let keys = backend.with_db(|db: &mut dyn Sql| device_keys(db, "alice").unwrap());
        assert_eq!(keys.len(), 2, "{}", backend.name);
        assert_ne!(keys[0], keys[1]);
        assert!(keys.iter().all(|k| hex::encode(k) != account));

        // A moderator's kick of the account reaches both devices.
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dhtchat"));
        cmd.args(["admin", "moderator", "LOBBY", "bob", "--data-dir"])
            .arg(backend.dir.path());
        if let Some(url) = backend.url.as_deref() {
            cmd.args(["--database", url]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        b.expect("ROLE", "", &[("nick", "bob"), ("role", "moderator")]);
        b.say("/kick alice");
        a1.expect("CLOSED", "", &[]);
        a2.expect("CLOSED", "", &[]);
    }
}
