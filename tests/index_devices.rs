//! Device keys (PROTOCOL.md §8.13, issue #13) on SQLite and (with `DHTCHAT_TEST_POSTGRES`)
//! PostgreSQL, through the real request path (UDP, service, writer, SQL):
//!
//! - a certificate signed by another account, one whose device did not sign, one for the
//!   account's own key, and a stale one are refused `bad_certificate` and store nothing;
//! - a replayed (identical or older) certificate changes nothing; a device key another
//!   account holds is refused `device_taken`;
//! - the 17th device evicts the least recently used one (16 kept); remove (kind 25) deletes
//!   only the account's own keys; without a session nothing is stored;
//! - a chat from a device's member key is stored as the account's room history, and a
//!   moderator appointed by account is granted to every device key.

// Real sockets and a real database: the certificate times read the wall clock.
#![allow(clippy::disallowed_methods)]

mod index_support;

use std::time::Duration;

use dhtchat::crypto::{Identity, x25519_of};
use dhtchat::index::account::Lists;
use dhtchat::index::client::{ClientError, IndexClient};
use dhtchat::index::devices::{Certificate, MAX_DEVICES, MAX_SKEW, device_identity};
use dhtchat::index::sql::Sql;
use dhtchat::index::store::{self, Limits, Op, Outcome, devices::device_keys};
use index_support::{Backend, FAST, backends, start_index, start_index_with};

const PASSWORD: &str = "correct horse battery";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Registers and logs in `name` with the identity of `seed`.
async fn account(
    index: &dhtchat::index::driver::Running,
    name: &str,
    seed: u8,
) -> (IndexClient, Identity) {
    let identity = Identity::from_seed(&[seed; 32]);
    let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
    c.register(name, PASSWORD, FAST, &identity, &Lists::default())
        .await
        .unwrap();
    c.login(name, PASSWORD).await.unwrap();
    (c, identity)
}

/// `(device key, issued)` of every stored device row, by key.
fn rows(backend: &Backend) -> Vec<(Vec<u8>, i64)> {
    backend.with_db(|db: &mut dyn Sql| {
        db.query(
            "SELECT device_key, issued FROM devices ORDER BY device_key",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r[0].blob().to_vec(), r[1].int()))
        .collect()
    })
}

fn keys_of(backend: &Backend, name: &str) -> Vec<[u8; 32]> {
    let name = name.to_owned();
    backend.with_db(move |db: &mut dyn Sql| device_keys(db, &name).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_taken_and_surplus_device_certificates_are_handled() {
    for backend in backends("devices") {
        let index = start_index(&backend).await;
        let ikey = index.key.0;
        let (mut alice, alice_id) = account(&index, "alice", 1).await;
        let (mut bob, bob_id) = account(&index, "bob", 2).await;
        let now = unix_now();

        // Without a session: refused, nothing stored.
        let device = device_identity(&[9; 32], &ikey, "alice");
        let good = Certificate::sign("alice", &alice_id, &device, now, &ikey);
        let mut anon = IndexClient::connect(index.key, index.addr).await.unwrap();
        let e = anon.register_certificate(good).await.unwrap_err();
        assert!(matches!(e, ClientError::NotLoggedIn), "{e:?}");
        assert!(rows(&backend).is_empty());

        // Signed by another account (bob's key, alice's name): refused in alice's session.
        let by_bob = Certificate::sign("alice", &bob_id, &device, now, &ikey);
        let e = alice.register_certificate(by_bob).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        // Bob's valid certificate for his own name, sent in alice's session: refused too.
        let bobs = Certificate::sign("bob", &bob_id, &device, now, &ikey);
        let e = alice.register_certificate(bobs).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        // A device key claimed without its secret (the device signature is another key's).
        let mut claimed = good;
        claimed.device = Identity::from_seed(&[3; 32]).signing_key();
        let e = alice.register_certificate(claimed).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        // The account's own key as a device; a certificate older than the allowed skew.
        let own = Certificate::sign("alice", &alice_id, &alice_id, now, &ikey);
        let e = alice.register_certificate(own).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        let stale = Certificate::sign("alice", &alice_id, &device, now - MAX_SKEW - 60, &ikey);
        let e = alice.register_certificate(stale).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        // Bound to this index: a certificate for another index key is refused.
        let elsewhere = Certificate::sign("alice", &alice_id, &device, now, &[0x55; 32]);
        let e = alice.register_certificate(elsewhere).await.unwrap_err();
        assert!(matches!(e, ClientError::BadCertificate), "{e:?}");
        assert!(
            rows(&backend).is_empty(),
            "{}: refused = nothing stored",
            backend.name
        );

        // The real one is stored; the same again, or an older one, changes nothing.
        assert_eq!(alice.register_certificate(good).await.unwrap(), 1);
        let stored = rows(&backend);
        assert_eq!(stored, vec![(device.signing_key().to_vec(), now as i64)]);
        assert_eq!(alice.register_certificate(good).await.unwrap(), 1);
        let older = Certificate::sign("alice", &alice_id, &device, now - 5, &ikey);
        assert_eq!(alice.register_certificate(older).await.unwrap(), 1);
        assert_eq!(
            rows(&backend),
            stored,
            "{}: replay changed a row",
            backend.name
        );

        // Bob cannot take alice's device key, even holding its secret.
        let taken = Certificate::sign("bob", &bob_id, &device, now, &ikey);
        let e = bob.register_certificate(taken).await.unwrap_err();
        assert!(matches!(e, ClientError::DeviceTaken), "{e:?}");
        // Nor remove it: removal deletes only the session account's keys.
        assert!(!bob.remove_device(device.signing_key()).await.unwrap());
        assert_eq!(rows(&backend), stored);

        // Past the bound: the least recently used device goes, 16 stay.
        let mut added = vec![device.signing_key()];
        for i in 1..=MAX_DEVICES {
            let d = device_identity(&[100 + i; 32], &ikey, "alice");
            let cert = Certificate::sign("alice", &alice_id, &d, now, &ikey);
            let n = alice.register_certificate(cert).await.unwrap();
            assert_eq!(u32::from(n), u32::from(i + 1).min(u32::from(MAX_DEVICES)));
            added.push(d.signing_key());
        }
        let kept = keys_of(&backend, "alice");
        assert_eq!(kept.len(), usize::from(MAX_DEVICES), "{}", backend.name);
        assert!(
            !kept.contains(&added[0]),
            "{}: the oldest is evicted",
            backend.name
        );
        assert!(added[1..].iter().all(|k| kept.contains(k)));

        // Removal of one's own device.
        assert!(alice.remove_device(added[1]).await.unwrap());
        assert_eq!(
            keys_of(&backend, "alice").len(),
            usize::from(MAX_DEVICES) - 1
        );
        index.stop().await;
    }
}

/// Joins the room's group as a member with identity seed `seed` on its own address.
async fn member_in(
    join: &dhtchat::index::wire::RoomJoin,
    index_ip: std::net::IpAddr,
    bind: &str,
    seed: [u8; 32],
) -> (
    dhtchat::net::Handle,
    dhtchat::proto::GroupId,
    tokio::sync::mpsc::Receiver<dhtchat::net::NodeEvent>,
) {
    let bind = bind.parse().unwrap();
    index_support::join_room_group(join, index_ip, bind, ([7; 32], seed), "alice").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_chat_is_stored_as_its_account_and_moderators_cover_every_device() {
    for backend in backends("devices_rooms") {
        let with_node = |o: &mut dhtchat::index::driver::IndexOptions| {
            o.room_bind = Some("127.0.0.1:0".parse().unwrap());
        };
        let index = start_index_with(&backend, with_node).await;
        let (mut alice, _) = account(&index, "alice", 1).await;
        let (device, n) = alice.register_device(&[9; 32], unix_now()).await.unwrap();
        assert_eq!(n, 1);
        let join = alice.join_room("LOBBY").await.unwrap();

        // A member with the device's key (not the account's) chats; the index's node stores
        // it as alice's.
        let (member, group, _events) =
            member_in(&join, index.addr.ip(), "127.0.0.2:0", *device.seed()).await;
        let mut stored = false;
        for _ in 0..100 {
            let _ = member.send_chat(group, "from a device").await;
            let history = alice.room_history("LOBBY", 0, 50).await.unwrap();
            stored = history
                .iter()
                .any(|m| m.author == "alice" && m.text == "from a device");
            if stored {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(stored, "{}: a device's chat is the account's", backend.name);

        // A moderator appointed by account: the role list holds the device key too.
        let moderators = backend.with_db(|db: &mut dyn Sql| {
            store::migrate(db).unwrap();
            let limits = Limits::default();
            assert!(store::set_moderator(db, "LOBBY", "alice", true, &limits, 0).unwrap());
            db.begin().unwrap();
            let out = store::apply(db, &Op::RoomModerators, &limits, 0).unwrap();
            db.batch("COMMIT").unwrap();
            out
        });
        let Outcome::Moderators(list) = moderators else {
            panic!("{moderators:?}");
        };
        let keys: Vec<[u8; 32]> = list.iter().map(|(_, k)| *k).collect();
        assert!(keys.contains(&device.signing_key()), "{}", backend.name);
        assert!(keys.contains(&Identity::from_seed(&[1; 32]).signing_key()));
        // … and the index's node grants it to the device's member key in the group.
        let device_member = x25519_of(&device.signing_key()).unwrap();
        let mut granted = false;
        for _ in 0..100 {
            if member.role(group, device_member).await.ok().flatten()
                == Some(dhtchat::wire::Role::Moderator)
            {
                granted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(granted, "{}: the device became moderator", backend.name);
        let _ = member.quit().await;
        index.stop().await;
    }
}
