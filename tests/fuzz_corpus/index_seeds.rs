//! Seeds of the `index_message` target: one request and one reply of each common shape, a
//! fragment header, and a signed group-key create record (PROTOCOL.md §8, Appendix B).

use dhtchat::crypto::Identity;
use dhtchat::index::account::KdfParams;
use dhtchat::index::groupkey::{GroupKeySchedule, Keyring};
use dhtchat::index::wire::{
    self, Kind, MailboxReply, MailboxRequest, Reply, ReplyBody, Request, RoomInfo, RoomMessage,
    Status, StoredPm,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// (seed name, bytes) for the `index_message` target.
pub(crate) fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, request) in requests() {
        out.push((format!("request-{name}"), request.encode()));
    }
    for (name, reply) in replies() {
        out.push((format!("reply-{name}"), reply.encode()));
    }
    let message = Request::Prelogin {
        name: "alice".into(),
    }
    .encode();
    let fragments = wire::fragment(false, 0x0102_0304_0506_0708, &message).unwrap();
    out.push(("fragment-prelogin".into(), fragments[0].clone()));
    out.push(("record-create".into(), create_record()));
    out
}

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "prelogin",
            Request::Prelogin {
                name: "alice".into(),
            },
        ),
        (
            "login",
            Request::Login {
                name: "alice".into(),
                signature: [7; 64],
            },
        ),
        ("fetch", Request::Fetch),
        (
            "post_room",
            Request::PostRoom {
                room: "LOBBY".into(),
                text: "hello".into(),
            },
        ),
        (
            "room_history",
            Request::RoomHistory {
                room: "LOBBY".into(),
                before: 0,
                max: 50,
            },
        ),
        (
            "store_pm",
            Request::Mailbox(MailboxRequest::StorePm {
                recipient: "bob".into(),
                client_id: 9,
                body: vec![0xAB; 80],
            }),
        ),
        (
            "ack_pms",
            Request::Mailbox(MailboxRequest::AckPms { ids: vec![1, 2, 3] }),
        ),
    ]
}

fn replies() -> Vec<(&'static str, Reply)> {
    let ok = |kind, body| Reply {
        kind,
        status: Status::Ok,
        body,
    };
    let rooms = vec![RoomInfo {
        name: "LOBBY".into(),
        members: 3,
    }];
    let history = vec![RoomMessage {
        id: 4,
        author: "alice".into(),
        server: false,
        at: 1_700_000_000,
        text: "hi".into(),
    }];
    let pm = StoredPm {
        id: 1,
        sender: "alice".into(),
        sender_key: [5; 32],
        at: 1_700_000_000,
        body: vec![0xCD; 64],
    };
    let prelogin = ReplyBody::Prelogin {
        params: KdfParams::FLOOR,
        salt: [1; 16],
        challenge: [2; 32],
    };
    vec![
        ("prelogin", ok(Kind::Prelogin, prelogin)),
        ("rooms", ok(Kind::ListRooms, ReplyBody::Rooms(rooms))),
        (
            "history",
            ok(Kind::RoomHistory, ReplyBody::History(history)),
        ),
        (
            "pms",
            ok(
                Kind::FetchPms,
                ReplyBody::Mailbox(MailboxReply::Pms(vec![pm])),
            ),
        ),
        (
            "auth_failed",
            Reply::status(Kind::Login, Status::AuthFailed),
        ),
    ]
}

/// A create record of a chat of three, signed by a fixed identity with a fixed RNG.
fn create_record() -> Vec<u8> {
    let id = |n: u8| Identity::from_seed(&[n; 32]);
    let mut keyring = Keyring::new(id(1));
    let members = [id(2).signing_key(), id(3).signing_key()];
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    keyring.create_chat(&mut rng, &members, &[]).unwrap().record
}
