//! Unit tests of the request handlers: one service, hand-built datagrams, storage outcomes
//! fed by hand (no database, no socket, no clock).

use std::net::SocketAddr;
use std::time::Duration;

use crate::crypto::{self, BoxKeypair};
use crate::index::account::{KdfParams, PasswordKeys};
use crate::index::service::{RoomAction, Service, ServiceConfig};
use crate::index::store::{AuthRecord, Op, Outcome};
use crate::index::wire::{self, Credentials, Fragment, Reply, ReplyBody, Request, Status};
use crate::wire::MAX_PLAINTEXT;

const PEER: &str = "127.0.0.1:4000";

struct Harness {
    service: Service,
    client: BoxKeypair,
    now: std::time::Instant,
}

impl Harness {
    fn new() -> Self {
        let mut config = ServiceConfig::new([1; 32], [2; 32], [3; 32]);
        config.ip_rate = (10_000, Duration::from_micros(1));
        Self {
            service: Service::new(config),
            client: BoxKeypair::from_secret_bytes([9; 32]),
            now: crate::test_epoch(),
        }
    }

    fn send(&mut self, id: u64, request: &Request) {
        let index = self.service.public_key();
        let shared = crypto::precompute(&self.client, &index);
        for plain in wire::fragment(false, id, &request.encode()).unwrap() {
            let d = wire::seal(
                &shared,
                &index,
                &self.client.public_key(),
                &[id as u8; 24],
                &plain,
            );
            let peer: SocketAddr = PEER.parse().unwrap();
            self.service.handle_datagram(self.now, peer, &d);
        }
    }

    fn replies(&mut self) -> Vec<Reply> {
        let index = self.service.public_key();
        let shared = crypto::precompute(&self.client, &index);
        let mut out = Vec::new();
        while let Some(t) = self.service.poll_transmit() {
            let env = crate::wire::Envelope::new_checked(&t.payload[..]).unwrap();
            let mut scratch = [0u8; MAX_PLAINTEXT];
            let plain = crypto::open_packet(&shared, &env, &mut scratch).unwrap();
            out.push(Reply::decode(Fragment::decode(plain).unwrap().data).unwrap());
        }
        out
    }
}

#[test]
fn privilege_change_is_refused_without_touching_storage() {
    let mut h = Harness::new();
    h.send(
        1,
        &Request::SetPrivilege {
            name: "bob".into(),
            admin: true,
        },
    );
    assert!(h.service.poll_storage().is_none());
    assert_eq!(h.replies()[0].status, Status::Forbidden);
    assert_eq!(h.service.stats().privilege_refused, 1);
}

#[test]
fn bad_room_names_are_dropped_before_the_session_check() {
    let mut h = Harness::new();
    h.send(
        1,
        &Request::JoinRoom {
            room: "lobby".into(),
        },
    );
    assert!(h.replies().is_empty());
    assert_eq!(h.service.stats().drops.get("bad_room_name"), Some(&1));
    h.send(
        2,
        &Request::JoinRoom {
            room: "LOBBY".into(),
        },
    );
    assert_eq!(h.replies()[0].status, Status::NotLoggedIn);
}

#[test]
fn login_checks_the_signature_from_the_prelogin_challenge() {
    let mut h = Harness::new();
    let keys = PasswordKeys::derive(b"pw", &[4; 16], &KdfParams::FLOOR).unwrap();
    h.send(1, &Request::Prelogin { name: "Bob".into() });
    let (token, op) = h.service.poll_storage().unwrap();
    assert_eq!(op, Op::LookupAuth { name: "bob".into() });
    let record = AuthRecord {
        account: 7,
        credentials: Credentials {
            params: KdfParams::FLOOR,
            salt: [4; 16],
            verifier: keys.verifier_public(),
        },
    };
    h.service
        .handle_storage(h.now, token, Outcome::Auth(Some(record)));
    let ReplyBody::Prelogin { challenge, .. } = h.replies().remove(0).body else {
        panic!("no prelogin body");
    };
    // A wrong signature fails without storage; the challenge is spent.
    h.send(
        2,
        &Request::Login {
            name: "bob".into(),
            signature: [0; 64],
        },
    );
    assert!(h.service.poll_storage().is_none());
    assert_eq!(h.replies()[0].status, Status::AuthFailed);
    // The right one needs a fresh challenge.
    let index = h.service.public_key().0;
    let signature = keys.sign_login(&challenge, "bob", &index);
    h.send(
        3,
        &Request::Login {
            name: "bob".into(),
            signature,
        },
    );
    assert_eq!(
        h.replies()[0].status,
        Status::AuthFailed,
        "challenge was consumed"
    );
    h.send(4, &Request::Prelogin { name: "bob".into() });
    let (token, _) = h.service.poll_storage().unwrap();
    let record = AuthRecord {
        account: 7,
        credentials: Credentials {
            params: KdfParams::FLOOR,
            salt: [4; 16],
            verifier: keys.verifier_public(),
        },
    };
    h.service
        .handle_storage(h.now, token, Outcome::Auth(Some(record)));
    let ReplyBody::Prelogin { challenge, .. } = h.replies().remove(0).body else {
        panic!("no prelogin body");
    };
    h.now += Duration::from_secs(1);
    let signature = keys.sign_login(&challenge, "bob", &index);
    h.send(
        5,
        &Request::Login {
            name: "bob".into(),
            signature,
        },
    );
    let (_, op) = h.service.poll_storage().unwrap();
    assert_eq!(op, Op::Fetch { account: 7 });
    assert_eq!(h.service.stats().login_failures, 2);
}

#[test]
fn too_many_operations_in_flight_answer_busy() {
    let mut h = Harness::new();
    let cap = 256;
    for i in 0..=cap {
        h.send(i, &Request::ListRooms);
    }
    let mut queued = 0;
    while h.service.poll_storage().is_some() {
        queued += 1;
    }
    assert_eq!(queued, cap);
    assert_eq!(h.replies()[0].status, Status::Busy);
}

#[test]
fn a_replayed_request_from_another_address_gets_nothing() {
    let mut h = Harness::new();
    let index = h.service.public_key();
    let shared = crypto::precompute(&h.client, &index);
    let plain = &wire::fragment(false, 5, &Request::ListRooms.encode()).unwrap()[0];
    let d = wire::seal(&shared, &index, &h.client.public_key(), &[5; 24], plain);
    let peer: SocketAddr = PEER.parse().unwrap();
    h.service.handle_datagram(h.now, peer, &d);
    let (token, _) = h.service.poll_storage().unwrap();
    h.service
        .handle_storage(h.now, token, Outcome::Rooms(Vec::new()));
    assert_eq!(h.replies().len(), 1);
    let victim: SocketAddr = "192.0.2.9:53".parse().unwrap();
    h.service.handle_datagram(h.now, victim, &d);
    assert!(h.replies().is_empty());
    assert_eq!(
        h.service.stats().drops.get("replay_other_address"),
        Some(&1)
    );
    h.service.handle_datagram(h.now, peer, &d);
    assert_eq!(
        h.replies().len(),
        1,
        "the requester's own retry is answered"
    );
}

/// Logs `h`'s client in as account 7 whose identity is `Identity::from_seed([0x33; 32])`.
fn log_in(h: &mut Harness) -> crate::crypto::Identity {
    let keys = PasswordKeys::derive(b"pw", &[4; 16], &KdfParams::FLOOR).unwrap();
    h.send(1, &Request::Prelogin { name: "bob".into() });
    let (token, _) = h.service.poll_storage().unwrap();
    let record = AuthRecord {
        account: 7,
        credentials: Credentials {
            params: KdfParams::FLOOR,
            salt: [4; 16],
            verifier: keys.verifier_public(),
        },
    };
    h.service
        .handle_storage(h.now, token, Outcome::Auth(Some(record)));
    let ReplyBody::Prelogin { challenge, .. } = h.replies().remove(0).body else {
        panic!("no prelogin body");
    };
    let index = h.service.public_key().0;
    let signature = keys.sign_login(&challenge, "bob", &index);
    h.send(
        2,
        &Request::Login {
            name: "bob".into(),
            signature,
        },
    );
    let (token, _) = h.service.poll_storage().unwrap();
    let identity = crate::crypto::Identity::from_seed(&[0x33; 32]);
    let bundle = wire::AccountBundle {
        admin: false,
        params: KdfParams::FLOOR,
        salt: [4; 16],
        public_key: identity.signing_key(),
        wrapped_key: [0; 72],
        private_key: [0; 72],
        rooms: Vec::new(),
        chats: Vec::new(),
    };
    h.service
        .handle_storage(h.now, token, Outcome::Account(Some(Box::new(bundle))));
    assert_eq!(h.replies()[0].status, Status::Ok);
    identity
}

#[test]
fn a_room_join_founds_its_group_and_answers_with_its_chat_id_and_live_count() {
    let mut config = ServiceConfig::new([1; 32], [2; 32], [3; 32]);
    config.ip_rate = (10_000, Duration::from_micros(1));
    config.room_port = 40_000;
    let mut h = Harness {
        service: Service::new(config),
        client: BoxKeypair::from_secret_bytes([9; 32]),
        now: crate::test_epoch(),
    };
    let identity = log_in(&mut h);
    h.service.set_room_clients("LOBBY", 2);
    h.send(
        3,
        &Request::JoinRoom {
            room: "LOBBY".into(),
        },
    );
    let (token, op) = h.service.poll_storage().unwrap();
    assert_eq!(
        op,
        Op::JoinRoom {
            account: 7,
            room: "LOBBY".into()
        }
    );
    assert!(
        h.service.poll_room_action().is_none(),
        "nothing before the commit"
    );
    h.service.handle_storage(h.now, token, Outcome::Members(9));
    assert_eq!(
        h.service.poll_room_action(),
        Some(RoomAction::Found("LOBBY".into()))
    );
    let ReplyBody::RoomJoin(join) = h.replies().remove(0).body else {
        panic!("no room join body");
    };
    assert_eq!(join.members, 2, "the node's count, not the stored one");
    assert_eq!(join.port, 40_000);
    assert_eq!(
        join.chat_id,
        crate::index::roomkey::room_chat_id(&[1; 32], "LOBBY")
    );

    // A chat the node heard is stored as the account with that member key.
    h.service
        .handle_room_text("LOBBY", identity.public_key(), "waves", true);
    let (token, op) = h.service.poll_storage().unwrap();
    assert_eq!(
        op,
        Op::RoomChat {
            room: "LOBBY".into(),
            member_key: identity.public_key().0,
            text: "/me waves".into()
        }
    );
    h.service.handle_storage(h.now, token, Outcome::Posted(1));
    assert!(h.replies().is_empty(), "no client waits for it");
    // From a key no account has: not stored, counted.
    let stranger = crate::crypto::Identity::from_seed(&[0x44; 32]).public_key();
    h.service.handle_room_text("LOBBY", stranger, "spam", false);
    let (token, _) = h.service.poll_storage().unwrap();
    h.service.handle_storage(h.now, token, Outcome::NoSuchUser);
    assert!(h.replies().is_empty());
    assert_eq!(h.service.stats().drops.get("room_unknown_author"), Some(&1));

    // Moderators read from storage become member keys for the node.
    h.service.refresh_moderators();
    let (token, op) = h.service.poll_storage().unwrap();
    assert_eq!(op, Op::RoomModerators);
    let list = vec![("LOBBY".to_owned(), identity.signing_key())];
    h.service
        .handle_storage(h.now, token, Outcome::Moderators(list));
    let Some(RoomAction::Moderators(want)) = h.service.poll_room_action() else {
        panic!("no moderators action");
    };
    assert!(want["LOBBY"].contains(&identity.public_key()));
}
