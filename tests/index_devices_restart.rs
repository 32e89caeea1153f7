//! Moderator roles heal after an index restart (PROTOCOL.md §8.11 "Restart", issue #13), on
//! SQLite and (with `DHTCHAT_TEST_POSTGRES`) PostgreSQL: a moderator appointed with the local
//! table gets the role from the index's node; the index stops (its node's facts are not
//! stored) and starts again on the same node port; both members come back to the node
//! (count 2 again: a stopping index does not quit its rooms' groups, so the members keep the
//! founder's address); the moderator can still kick, and the kicked member and the index's
//! count (2 → 1) both follow the kick. Before that fix the members never came back (count 0
//! for 150 s): the quit made them forget the founder, which knew no member to ask.

#![allow(clippy::disallowed_methods)]

mod index_support;

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::crypto::Identity;
use dhtchat::index::account::Lists;
use dhtchat::index::client::IndexClient;
use dhtchat::index::driver::{IndexOptions, Running};
use dhtchat::index::sql::Sql;
use dhtchat::index::store::{self, Limits};
use dhtchat::net::{Handle, NodeEvent};
use dhtchat::proto::{Event, GroupId, Moderation};
use dhtchat::wire::{PublicKey, Role};
use index_support::{
    Backend, FAST, backends, join_room_group, lobby_count, start_index_with, wait_for,
};
use tokio::sync::mpsc;

const PASSWORD: &str = "correct horse battery";

/// Waits up to 20 s for an event `pick` accepts.
/// A port free on loopback now (the node binds it in both runs).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(backend: &Backend, node: SocketAddr) -> Running {
    start_index_with(backend, |o: &mut IndexOptions| o.room_bind = Some(node)).await
}

/// Registers `name` (identity of `seed`), joins LOBBY on the index and its group from `bind`.
async fn member(
    index: &Running,
    name: &str,
    seed: u8,
    bind: &str,
) -> (
    IndexClient,
    Handle,
    mpsc::Receiver<NodeEvent>,
    GroupId,
    PublicKey,
) {
    let identity = Identity::from_seed(&[seed; 32]);
    let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
    c.register(name, PASSWORD, FAST, &identity, &Lists::default())
        .await
        .unwrap();
    c.login(name, PASSWORD).await.unwrap();
    let join = c.join_room("LOBBY").await.unwrap();
    let bind = bind.parse().unwrap();
    let seeds = ([seed; 32], [seed; 32]);
    let (handle, group, mut events) =
        join_room_group(&join, index.addr.ip(), bind, seeds, name).await;
    wait_for(&mut events, Duration::from_secs(20), |e| {
        matches!(e, Event::Joined { .. })
    })
    .await;
    (c, handle, events, group, identity.public_key())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_moderator_still_kicks_after_the_index_restarts() {
    for backend in backends("moderator_restart") {
        let node: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let index = start(&backend, node).await;
        let (_ca, alice, mut a_events, ga, akey) = member(&index, "alice", 1, "127.0.0.2:0").await;
        let (mut cb, _bob, mut b_events, _gb, bkey) = member(&index, "bob", 2, "127.0.0.3:0").await;
        lobby_count(&mut cb, 2, 20).await;

        backend.with_db(|db: &mut dyn Sql| {
            let limits = Limits::default();
            assert!(store::set_moderator(db, "LOBBY", "alice", true, &limits, 0).unwrap());
        });
        let is_alice_mod = |e: &Event| matches!(e, Event::RoleChanged { peer, role: Role::Moderator, .. } if *peer == akey);
        wait_for(&mut a_events, Duration::from_secs(20), is_alice_mod).await;
        wait_for(&mut b_events, Duration::from_secs(20), is_alice_mod).await;

        // The index restarts: its node forgets every fact it signed.
        index.stop().await;
        let index = start(&backend, node).await;
        let mut c = IndexClient::connect(index.key, index.addr).await.unwrap();
        c.register(
            "carol",
            PASSWORD,
            FAST,
            &Identity::from_seed(&[3; 32]),
            &Lists::default(),
        )
        .await
        .unwrap();
        // Both members find the restarted founder again (§6.9): at most 150 s, past the
        // 120 s member timeout.
        let t0 = std::time::Instant::now();
        lobby_count(&mut c, 2, 150).await;
        eprintln!(
            "{}: both members back at the restarted founder after {:?}",
            backend.name,
            t0.elapsed()
        );
        // Give the 2 s moderator check a round to run against the relearnt facts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            alice.role(ga, akey).await.unwrap(),
            Some(Role::Moderator),
            "{}: alice is still moderator in her own view",
            backend.name
        );

        alice.moderate(ga, Moderation::Kick(bkey)).await.unwrap();
        wait_for(
            &mut b_events,
            Duration::from_secs(20),
            |e| matches!(e, Event::Kicked { peer, .. } if *peer == bkey),
        )
        .await;
        lobby_count(&mut c, 1, 20).await;
        let _ = alice.quit().await;
        index.stop().await;
    }
}
