//! The index end to end over loopback UDP (PROTOCOL.md §8), on SQLite and, when
//! `DHTCHAT_TEST_POSTGRES` is set, on PostgreSQL: accounts across devices, wrong passwords,
//! what the database and the wire hold, privilege, rooms, retries.

mod index_support;

use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, ChatEntry, KdfParams, Lists, PasswordKeys};
use dhtchat::index::client::{ClientError, IndexClient};
use dhtchat::index::store;
use dhtchat::index::wire::{Kind, Reply, ReplyBody, Request, Status};
use index_support::{FAST, Raw, backends, contains, start_index, start_index_with, stored_bytes};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const PASSWORD: &str = "correct horse battery staple 7Qz!";

fn lists() -> Lists {
    Lists {
        // Large enough that the registration and the login reply take several fragments.
        rooms: (0..150).map(|i| format!("ROOM NUMBER {i:04}")).collect(),
        chats: (0..40u8)
            .map(|i| ChatEntry {
                chat_id: [i; 32],
                key: [i ^ 0x5A; 32],
                epoch: u64::from(i),
                name: format!("chat {i}"),
            })
            .collect(),
    }
}

fn identity(seed: u8) -> Identity {
    Identity::from_seed(&[seed; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_on_device_a_then_log_in_on_device_b() {
    for backend in backends("device_b") {
        let index = start_index(&backend).await;
        let me = identity(7);
        let mut a = IndexClient::connect(index.key, index.addr).await.unwrap();
        a.register("Alice", PASSWORD, FAST, &me, &lists())
            .await
            .unwrap();
        // Device B: another socket, another envelope key, nothing shared with A.
        let mut b = IndexClient::connect(index.key, index.addr).await.unwrap();
        let started = dhtchat::net::now();
        let opened = b.login("alice", PASSWORD).await.unwrap();
        let took = started.elapsed();
        assert_eq!(*opened.identity.seed(), *me.seed(), "{}", backend.name);
        assert_eq!(opened.lists, lists());
        assert!(!opened.admin);
        // Both devices online: A logs in too and updates; B sees the change.
        let mut a2 = IndexClient::connect(index.key, index.addr).await.unwrap();
        a2.login("ALICE", PASSWORD).await.unwrap();
        let mut changed = lists();
        changed.rooms.push("NEW ROOM".into());
        a2.update_lists(&changed).await.unwrap();
        assert_eq!(
            b.refresh_lists().await.unwrap(),
            changed,
            "B sees A's change"
        );
        let again = b.login("alice", PASSWORD).await.unwrap();
        assert_eq!(again.lists, changed);
        eprintln!(
            "{}: login (prelogin + Argon2id floor + login) took {took:?}",
            backend.name
        );
        index.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_name_get_one_answer() {
    for backend in backends("wrong_pw") {
        let index = start_index(&backend).await;
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("bob", PASSWORD, FAST, &identity(2), &Lists::default())
            .await
            .unwrap();
        let err = c.login("bob", "wrong").await.unwrap_err();
        assert!(matches!(err, ClientError::AuthFailed), "{err:?}");
        let err = c.login("nobody", "wrong").await.unwrap_err();
        assert!(matches!(err, ClientError::AuthFailed), "{err:?}");
        assert_eq!(err.to_string(), "wrong username or password");
        // Prelogin answers have one shape; the fake salt of an unknown name is stable.
        let raw = Raw::new(&index, 9).await;
        let mut shapes = Vec::new();
        for (id, name) in [(1, "bob"), (2, "nobody"), (3, "nobody")] {
            raw.send(id, &Request::Prelogin { name: name.into() }).await;
            let (_, reply) = raw.reply(Duration::from_secs(5)).await.unwrap();
            let ReplyBody::Prelogin { params, salt, .. } = reply.body else {
                panic!("{reply:?}");
            };
            params.check().unwrap();
            shapes.push((reply.status, reply.encode().len(), salt));
        }
        assert_eq!(shapes[0].0, shapes[1].0);
        assert_eq!(shapes[0].1, shapes[1].1);
        assert_eq!(shapes[1].2, shapes[2].2, "fake salt is deterministic");
        let stats = index.stop().await;
        assert_eq!(stats.login_failures, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_rows_decrypt_nothing_without_the_password() {
    for backend in backends("rows") {
        let index = start_index(&backend).await;
        let me = identity(3);
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("carol", PASSWORD, FAST, &me, &lists())
            .await
            .unwrap();
        index.stop().await;
        let (values, row) = backend.with_db(|db| {
            let values = stored_bytes(db);
            let row = db
            .query(
                "SELECT salt, wrapped_key, private_key, rooms, chats, kdf_m, kdf_t FROM accounts",
                &[],
            )
            .unwrap()
            .remove(0);
            (values, row)
        });
        // No secret in the clear: not the password, the identity seed, a chat key, a room name.
        for v in &values {
            assert!(!contains(v, PASSWORD.as_bytes()), "{}", backend.name);
            assert!(!contains(v, me.seed().as_ref()));
            assert!(!contains(v, &[0x5A ^ 1; 32]));
            assert!(!contains(v, b"ROOM NUMBER"));
        }
        // Every 32-byte window of everything stored, tried as a key, opens none of the boxes.
        let wrapped: [u8; 72] = row[1].blob().try_into().unwrap();
        let mut candidates: Vec<[u8; 32]> = Vec::new();
        for v in &values {
            for w in v.windows(32) {
                candidates.push(w.try_into().unwrap());
            }
        }
        let sealed_seed: [u8; 72] = row[2].blob().try_into().unwrap();
        for key in &candidates {
            assert!(account::open_with_kek(key, &wrapped).is_err());
            let as_account_key = account::AccountKey::from_bytes(*key);
            assert!(as_account_key.open_seed(&sealed_seed).is_err());
            assert!(
                as_account_key
                    .open_lists(row[3].blob(), row[4].blob())
                    .is_err()
            );
        }
        let salt: [u8; 16] = row[0].blob().try_into().unwrap();
        let params = KdfParams {
            m_kib: row[5].int() as u32,
            t: row[6].int() as u32,
            p: 1,
        };
        assert!(
            PasswordKeys::derive(b"not it", &salt, &params)
                .unwrap()
                .unwrap(&wrapped)
                .is_err()
        );
        // With the password everything opens.
        let keys = PasswordKeys::derive(PASSWORD.as_bytes(), &salt, &params).unwrap();
        let ak = keys.unwrap(&wrapped).unwrap();
        assert_eq!(
            *ak.open_seed(&row[2].blob().try_into().unwrap()).unwrap(),
            *me.seed()
        );
        assert_eq!(
            ak.open_lists(row[3].blob(), row[4].blob()).unwrap(),
            lists()
        );
        eprintln!(
            "{}: {} stored values, {} candidate keys refused",
            backend.name,
            values.len(),
            candidates.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_appears_on_the_wire() {
    for backend in backends("wire") {
        let index = start_index(&backend).await;
        let me = identity(4);
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.capture();
        c.register("dave", PASSWORD, FAST, &me, &lists())
            .await
            .unwrap();
        let opened = c.login("dave", PASSWORD).await.unwrap();
        c.change_password("another password", FAST).await.unwrap();
        let captured = c.captured();
        assert!(captured.len() > 20, "{}", captured.len());
        for bytes in captured {
            assert!(!contains(bytes, PASSWORD.as_bytes()));
            assert!(!contains(bytes, b"another password"));
            assert!(!contains(bytes, me.seed().as_ref()));
            assert!(!contains(bytes, &[0x5A ^ 3; 32]), "a chat key in the clear");
        }
        drop(opened);
        index.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_local_command_makes_an_admin() {
    for backend in backends("admin") {
        let index = start_index(&backend).await;
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("erin", PASSWORD, FAST, &identity(5), &Lists::default())
            .await
            .unwrap();
        c.login("erin", PASSWORD).await.unwrap();
        let reply = c
            .request(&Request::SetPrivilege {
                name: "erin".into(),
                admin: true,
            })
            .await
            .unwrap();
        assert_eq!(reply, Reply::status(Kind::SetPrivilege, Status::Forbidden));
        assert!(!c.login("erin", PASSWORD).await.unwrap().admin);
        // A registration cannot carry a privilege: the byte after the last field is a drop.
        let raw = Raw::new(&index, 11).await;
        let (reg, _) = account::register(
            "mallory",
            b"pw",
            &FAST,
            &identity(6),
            &Lists::default(),
            &mut ChaCha20Rng::from_seed([1; 32]),
        )
        .unwrap();
        let mut message = Request::Register(Box::new(reg)).encode();
        message.push(1);
        for d in raw.datagrams(1, &message) {
            raw.socket.send_to(&d, raw.addr).await.unwrap();
        }
        assert!(raw.reply(Duration::from_millis(300)).await.is_none());
        // The local change (what `dhtchat admin promote` runs) works.
        assert!(
            backend
                .with_db(|db| store::set_privilege(db, "erin", true))
                .unwrap()
        );
        assert!(c.login("erin", PASSWORD).await.unwrap().admin);
        let stats = index.stop().await;
        assert_eq!(stats.privilege_refused, 1);
        assert_eq!(stats.drops.get("bad_request"), Some(&1));
        let admins = backend
            .with_db(|db| db.query("SELECT name FROM accounts WHERE privilege = 'admin'", &[]))
            .unwrap();
        assert_eq!(admins.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_count_members_and_ignore_bad_names() {
    for backend in backends("rooms") {
        let index = start_index(&backend).await;
        let mut clients = Vec::new();
        for (i, name) in ["fay", "gus", "hal"].iter().enumerate() {
            let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
            c.register(
                name,
                PASSWORD,
                FAST,
                &identity(20 + i as u8),
                &Lists::default(),
            )
            .await
            .unwrap();
            c.login(name, PASSWORD).await.unwrap();
            clients.push(c);
        }
        for c in &mut clients {
            c.join_room("LOBBY").await.unwrap();
        }
        assert_eq!(clients[0].join_room("ROOM 2").await.unwrap().members, 1);
        assert_eq!(clients[2].leave_room("LOBBY").await.unwrap(), 2);
        let rooms = clients[1].list_rooms().await.unwrap();
        let counts: Vec<(String, u32)> = rooms.into_iter().map(|r| (r.name, r.members)).collect();
        assert_eq!(counts, vec![("LOBBY".into(), 2), ("ROOM 2".into(), 1)]);
        assert!(clients[0].post_room("LOBBY", "hello").await.unwrap() > 0);
        // The client refuses a bad name before sending; the index ignores one that is sent.
        assert!(matches!(
            clients[0].join_room("lobby").await,
            Err(ClientError::BadRoom(_))
        ));
        let raw = Raw::new(&index, 12).await;
        for (id, room) in [(1, "lobby"), (2, "LOBBY!"), (3, "Lobby")] {
            raw.send(id, &Request::JoinRoom { room: room.into() }).await;
        }
        raw.send(
            4,
            &Request::PostRoom {
                room: "l.o.b.b.y".into(),
                text: "x".into(),
            },
        )
        .await;
        assert!(
            raw.reply(Duration::from_millis(300)).await.is_none(),
            "no reply to a bad room name"
        );
        let stats = index.stop().await;
        assert_eq!(stats.drops.get("bad_room_name"), Some(&4));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_is_enforced() {
    for backend in backends("allow") {
        let index =
            start_index_with(&backend, |o| o.allowed_rooms = Some(vec!["LOBBY".into()])).await;
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("ivy", PASSWORD, FAST, &identity(30), &Lists::default())
            .await
            .unwrap();
        c.login("ivy", PASSWORD).await.unwrap();
        assert_eq!(c.join_room("LOBBY").await.unwrap().members, 1);
        assert!(matches!(
            c.join_room("OTHER").await,
            Err(ClientError::Forbidden)
        ));
        index.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_rewraps_and_old_password_fails() {
    for backend in backends("passwd") {
        let index = start_index(&backend).await;
        let me = identity(8);
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("jan", PASSWORD, FAST, &me, &lists())
            .await
            .unwrap();
        c.login("jan", PASSWORD).await.unwrap();
        let before = backend
            .with_db(|db| db.query("SELECT private_key, rooms, chats FROM accounts", &[]))
            .unwrap();
        c.change_password("new secret", FAST).await.unwrap();
        let after = backend
            .with_db(|db| db.query("SELECT private_key, rooms, chats FROM accounts", &[]))
            .unwrap();
        assert_eq!(before, after, "only the key wrap changes");
        let mut d = IndexClient::connect(index.key, index.addr).await.unwrap();
        assert!(matches!(
            d.login("jan", PASSWORD).await,
            Err(ClientError::AuthFailed)
        ));
        let opened = d.login("jan", "new secret").await.unwrap();
        assert_eq!(*opened.identity.seed(), *me.seed());
        assert_eq!(opened.lists, lists());
        index.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_gets_the_same_answer_and_stores_once() {
    for backend in backends("retry") {
        let index = start_index(&backend).await;
        let raw = Raw::new(&index, 13).await;
        let (reg, _) = account::register(
            "kim",
            b"pw",
            &FAST,
            &identity(9),
            &lists(),
            &mut ChaCha20Rng::from_seed([2; 32]),
        )
        .unwrap();
        let request = Request::Register(Box::new(reg.clone()));
        raw.send(77, &request).await;
        let first = raw.reply(Duration::from_secs(5)).await.unwrap();
        raw.send(77, &request).await;
        let second = raw.reply(Duration::from_secs(5)).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first.1.status, Status::Ok);
        // A new request id with the same registration (a retry after an index restart) is
        // recognised by content: still ok, still one row.
        raw.send(78, &request).await;
        assert_eq!(
            raw.reply(Duration::from_secs(5)).await.unwrap().1.status,
            Status::Ok
        );
        // The same name with other keys is taken.
        let (other, _) = account::register(
            "kim",
            b"pw2",
            &FAST,
            &identity(10),
            &Lists::default(),
            &mut ChaCha20Rng::from_seed([3; 32]),
        )
        .unwrap();
        raw.send(79, &Request::Register(Box::new(other))).await;
        assert_eq!(
            raw.reply(Duration::from_secs(5)).await.unwrap().1.status,
            Status::NameTaken
        );
        let stats = index.stop().await;
        assert!(stats.replayed >= 1);
        let rows = backend
            .with_db(|db| db.query("SELECT COUNT(*) FROM accounts", &[]))
            .unwrap();
        assert_eq!(rows[0][0].int(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_weak_parameters_are_dropped_without_reply() {
    for backend in backends("garbage") {
        let index = start_index(&backend).await;
        let raw = Raw::new(&index, 14).await;
        raw.socket
            .send_to(b"not an envelope", raw.addr)
            .await
            .unwrap();
        raw.socket.send_to(&[48; 300], raw.addr).await.unwrap();
        raw.socket
            .send_to(&raw.datagrams(1, &[200, 1, 2])[0], raw.addr)
            .await
            .unwrap();
        let weak = KdfParams { t: 1, ..FAST };
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let (mut reg, _) = account::register(
            "lee",
            b"pw",
            &FAST,
            &identity(11),
            &Lists::default(),
            &mut rng,
        )
        .unwrap();
        reg.credentials.params = weak;
        raw.send(2, &Request::Register(Box::new(reg))).await;
        assert!(raw.reply(Duration::from_millis(300)).await.is_none());
        // Still serving.
        raw.send(3, &Request::ListRooms).await;
        assert_eq!(
            raw.reply(Duration::from_secs(5)).await.unwrap().1.status,
            Status::Ok
        );
        let stats = index.stop().await;
        let dropped: u64 = stats.drops.values().sum();
        assert_eq!(dropped, 4, "{:?}", stats.drops);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiners_read_history_and_only_admins_post_server_messages() {
    for backend in backends("history") {
        let index = start_index(&backend).await;
        let mut alice = IndexClient::connect(index.key, index.addr).await.unwrap();
        let mut bob = IndexClient::connect(index.key, index.addr).await.unwrap();
        for (c, name, seed) in [(&mut alice, "alice", 40), (&mut bob, "bob", 41)] {
            c.register(name, PASSWORD, FAST, &identity(seed), &Lists::default())
                .await
                .unwrap();
            c.login(name, PASSWORD).await.unwrap();
        }
        alice.join_room("LOBBY").await.unwrap();
        alice.join_room("HELP").await.unwrap();
        for i in 0..5 {
            alice
                .post_room("LOBBY", &format!("line {i}"))
                .await
                .unwrap();
        }
        // Not an admin: refused, nothing stored.
        assert!(matches!(
            bob.server_message(None, "fake notice").await,
            Err(ClientError::Forbidden)
        ));
        assert!(
            backend
                .with_db(|db| store::set_privilege(db, "alice", true))
                .unwrap()
        );
        assert_eq!(
            alice
                .server_message(None, "maintenance at 10")
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            alice
                .server_message(Some("HELP"), "ask here")
                .await
                .unwrap(),
            1
        );
        // A joiner reads the history, newest 3 first page, then the page before it.
        bob.join_room("LOBBY").await.unwrap();
        let page = bob.room_history("LOBBY", 0, 3).await.unwrap();
        let texts: Vec<(&str, bool)> = page.iter().map(|m| (m.text.as_str(), m.server)).collect();
        assert_eq!(
            texts,
            vec![
                ("line 3", false),
                ("line 4", false),
                ("maintenance at 10", true)
            ]
        );
        assert!(page.iter().all(|m| m.author == "alice" && m.at > 0));
        let older = bob.room_history("LOBBY", page[0].id, 50).await.unwrap();
        assert_eq!(older.len(), 3);
        assert_eq!(older[0].text, "line 0");
        let help = bob.room_history("HELP", 0, 50).await.unwrap();
        let help: Vec<&str> = help.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(help, vec!["maintenance at 10", "ask here"]);
        index.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refuses_parameters_below_the_floor() {
    for backend in backends("downgrade") {
        let index = start_index(&backend).await;
        // A compromised index (or database) serves weak parameters for an account: written
        // straight into the database, past the index's own check.
        let mut rng = ChaCha20Rng::from_seed([6; 32]);
        let (mut reg, _) = account::register(
            "nia",
            b"pw",
            &FAST,
            &identity(50),
            &Lists::default(),
            &mut rng,
        )
        .unwrap();
        reg.credentials.params = KdfParams {
            m_kib: 1024,
            t: 1,
            p: 1,
        };
        let op = store::Op::Register(Box::new(reg));
        backend.with_db(|db| {
            db.begin().unwrap();
            store::apply(db, &op, &store::Limits::default(), 0).unwrap();
            db.batch("COMMIT").unwrap();
        });
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        let err = c.login("nia", "pw").await.unwrap_err();
        assert!(
            matches!(err, ClientError::Account(account::AccountError::WeakParams)),
            "{err:?}"
        );
        index.stop().await;
    }
}
