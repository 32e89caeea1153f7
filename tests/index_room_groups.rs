//! The index's node and the rooms' groups in one process (PROTOCOL.md §8.11), on SQLite and
//! (with `DHTCHAT_TEST_POSTGRES`) PostgreSQL: a join answers with the group's chat id and
//! the node's port; a member joining that group with an account's identity is counted, and
//! its chat is stored as the account's room history; after an index restart the room has
//! the same chat id and its group is founded again; the node founds more rooms than a chat
//! node hosts groups; a member's chat is stored by its member key (a column), with no login
//! of that account since the restart.

mod index_support;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::Lists;
use dhtchat::index::client::IndexClient;
use dhtchat::index::roomkey::founder_key;
use dhtchat::net::{Driver, DriverOptions};
use dhtchat::proto::{Config, Dialect, Event, GroupSpec, JoinString, Privacy};
use dhtchat::wire::NodeInfo;
use index_support::{FAST, backends, lobby_count, start_index_with, wait_for};

const PASSWORD: &str = "correct horse battery";

/// Waits up to 10 s for an event `pick` accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_node_counts_and_stores_a_rooms_group_and_refounds_it_after_a_restart() {
    for backend in backends("room_groups") {
        let with_node = |o: &mut dhtchat::index::driver::IndexOptions| {
            o.room_bind = Some("127.0.0.1:0".parse().unwrap());
        };
        let index = start_index_with(&backend, with_node).await;
        let node_addr = index.room_addr.expect("the index runs a node");
        let seed = [5; 32];
        let identity = Identity::from_seed(&seed);
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register("alice", PASSWORD, FAST, &identity, &Lists::default())
            .await
            .unwrap();
        c.login("alice", PASSWORD).await.unwrap();
        let join = c.join_room("LOBBY").await.unwrap();
        assert_eq!(join.port, node_addr.port());
        assert_eq!(join.members, 0);

        // A member with the account's identity, on an address of its own.
        let bind: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let (driver, member, mut events) =
            Driver::bind(bind, Config::new([7; 32]), &DriverOptions::default())
                .await
                .unwrap();
        tokio::spawn(driver.run());
        let string = JoinString {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            chat_id: Some(join.chat_id),
            contact: NodeInfo {
                key: founder_key(&join.chat_id).unwrap(),
                addr: SocketAddr::new(index.addr.ip(), join.port),
            },
        };
        let spec = GroupSpec {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            identity_seed: Some(seed),
            nick: b"alice".to_vec(),
        };
        let group = member.join_group(string, spec.clone()).await.unwrap();
        wait_for(&mut events, Duration::from_secs(10), |e| {
            matches!(e, Event::Joined { .. })
        })
        .await;
        lobby_count(&mut c, 1, 10).await;

        member.send_chat(group, "said peer to peer").await.unwrap();
        let mut stored = false;
        for _ in 0..100 {
            let history = c.room_history("LOBBY", 0, 50).await.unwrap();
            stored = history
                .iter()
                .any(|m| m.author == "alice" && m.text == "said peer to peer" && !m.server);
            if stored {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            stored,
            "{}: the node's copy is in the history",
            backend.name
        );

        member.leave_group(group, "bye").await.unwrap();
        lobby_count(&mut c, 0, 10).await;
        index.stop().await;

        // Restarted: the same chat id; the group is founded again at start.
        let index = start_index_with(&backend, with_node).await;
        // Logged in as bob: nothing tells this index process alice's key but the database.
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        let bob = Identity::from_seed(&[6; 32]);
        c.register("bob", PASSWORD, FAST, &bob, &Lists::default())
            .await
            .unwrap();
        c.login("bob", PASSWORD).await.unwrap();
        let again = c.join_room("LOBBY").await.unwrap();
        assert_eq!(again.chat_id, join.chat_id, "{}", backend.name);
        assert_eq!(again.port, index.room_addr.unwrap().port());

        // More rooms than a chat node hosts groups (16): the index's node founds them all.
        let mut last = again;
        for i in 1..=20 {
            last = c.join_room(&format!("ROOM {i}")).await.unwrap();
        }
        let string = JoinString {
            chat_id: Some(last.chat_id),
            contact: NodeInfo {
                key: founder_key(&last.chat_id).unwrap(),
                addr: SocketAddr::new(index.addr.ip(), last.port),
            },
            ..string
        };
        let group = member.join_group(string, spec.clone()).await.unwrap();
        wait_for(&mut events, Duration::from_secs(10), |e| {
            matches!(e, Event::Joined { .. })
        })
        .await;
        member.send_chat(group, "after the restart").await.unwrap();
        let mut stored = false;
        for _ in 0..100 {
            let history = c.room_history("ROOM 20", 0, 50).await.unwrap();
            stored = history
                .iter()
                .any(|m| m.author == "alice" && m.text == "after the restart");
            if stored {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(stored, "{}: stored by the member key column", backend.name);
        index.stop().await;
        let _ = member.quit().await;
    }
}
