//! The golden vectors of PROTOCOL.md §8.9, byte for byte: a sealed prelogin request, a
//! prelogin reply plaintext, fragment headers, the Argon2id + HKDF login verifier, the signed
//! login message and its Ed25519 signature; and those of §8.12, the group-chat requests and
//! replies around the Appendix B G9 chat.

use dhtchat::crypto::{self, BoxKeypair};
use dhtchat::index::account::{KdfParams, PasswordKeys, login_message, verify_login};
use dhtchat::index::wire::{self, Fragment, Kind, Reply, ReplyBody, Request, Status};

const CLIENT_SECRET: [u8; 32] = [0x11; 32];
const INDEX_SECRET: [u8; 32] = [0x22; 32];
const NONCE: [u8; 24] = [0x33; 24];

const PRELOGIN_PLAIN: &str = "60000000000000000100010205616C696365";
const PRELOGIN_DATAGRAM: &str = concat!(
    "30",
    "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20",
    "7B4E909BBE7FFE44C465A220037D608EE35897D31EF972F07F74892CB0F73F13",
    "333333333333333333333333333333333333333333333333",
    "B6D476AF5979F8ABF3101D0503E8DB82561CCE99BEE9ED5CA1B21A219C95AA2C9E72",
);
const PRELOGIN_REPLY_PLAIN: &str = "610000000000000001000102000001000000000003\
01AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const INDEX_KEY: &str = "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20";
const VERIFIER: &str = "8C1535CC468ED8C67A2FC5D8D5ABF3A7437F256FAE4FEB67AB9EBFB69A19785B";
const LOGIN_MESSAGE: &str = "6468746368617420696E646578206C6F67696E20763100\
BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB05616C696365\
0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20";
const SIGNATURE: &str = "5F5BA8DEBD6CBF22EA8F5FE0988C1BC8BE6E1A9C0FC076043F01E8304D4F36BE\
EBCA344D4E9F3F2AD325E4219AAA96DC0423CCA432883175C6C3AF379502650E";

fn index() -> BoxKeypair {
    BoxKeypair::from_secret_bytes(INDEX_SECRET)
}

#[test]
fn prelogin_request_datagram() {
    let client = BoxKeypair::from_secret_bytes(CLIENT_SECRET);
    let message = Request::Prelogin {
        name: "alice".into(),
    }
    .encode();
    let plain = &wire::fragment(false, 1, &message).unwrap()[0];
    assert_eq!(hex::encode_upper(plain), PRELOGIN_PLAIN);
    let shared = crypto::precompute(&client, &index().public_key());
    let datagram = wire::seal(
        &shared,
        &index().public_key(),
        &client.public_key(),
        &NONCE,
        plain,
    );
    assert_eq!(hex::encode_upper(&datagram), PRELOGIN_DATAGRAM);
    assert_eq!(datagram.len(), 105 + plain.len());
    assert_eq!(hex::encode_upper(index().public_key().0), INDEX_KEY);
}

#[test]
fn prelogin_reply_plaintext() {
    let reply = Reply {
        kind: Kind::Prelogin,
        status: Status::Ok,
        body: ReplyBody::Prelogin {
            params: KdfParams {
                m_kib: 65536,
                t: 3,
                p: 1,
            },
            salt: [0xAA; 16],
            challenge: [0xBB; 32],
        },
    };
    let plain = &wire::fragment(true, 1, &reply.encode()).unwrap()[0];
    assert_eq!(hex::encode_upper(plain), PRELOGIN_REPLY_PLAIN);
    let f = Fragment::decode(plain).unwrap();
    assert_eq!(Reply::decode(f.data).unwrap(), reply);
}

#[test]
fn fragment_headers_of_a_1000_byte_message() {
    let parts = wire::fragment(false, 2, &[0xCC; 1000]).unwrap();
    let heads: Vec<(String, usize)> = parts
        .iter()
        .map(|p| (hex::encode_upper(&p[..11]), p.len()))
        .collect();
    assert_eq!(
        heads,
        vec![
            ("6000000000000000020002".to_owned(), 919),
            ("6000000000000000020102".to_owned(), 103),
        ]
    );
}

#[test]
fn login_verifier_message_and_signature() {
    let keys = PasswordKeys::derive(b"pw", &[0x01; 16], &KdfParams::FLOOR).unwrap();
    assert_eq!(hex::encode_upper(keys.verifier_public()), VERIFIER);
    let index_key = index().public_key().0;
    let message = login_message(&[0xBB; 32], "alice", &index_key);
    assert_eq!(hex::encode_upper(&message), LOGIN_MESSAGE);
    let signature = keys.sign_login(&[0xBB; 32], "alice", &index_key);
    assert_eq!(hex::encode_upper(signature), SIGNATURE);
    assert!(verify_login(
        &keys.verifier_public(),
        &[0xBB; 32],
        "alice",
        &index_key,
        &signature
    ));
}

/// §8.9: the join room reply (kind 8) carries the room group's chat id and the node's port.
#[test]
fn join_room_reply_with_the_rooms_group() {
    let reply = Reply {
        kind: Kind::JoinRoom,
        status: Status::Ok,
        body: ReplyBody::RoomJoin(wire::RoomJoin {
            members: 3,
            chat_id: [0xCC; 32],
            port: 33447,
        }),
    };
    let bytes = reply.encode();
    let want = format!("080000000003{}82A7", "CC".repeat(32));
    assert_eq!(hex::encode_upper(&bytes), want);
    assert_eq!(Reply::decode(&bytes).unwrap(), reply);
}

/// §8.11: a room's chat id is derived from the index's identity seed and the room's name.
#[test]
fn room_chat_id_of_lobby() {
    let id = dhtchat::index::roomkey::room_chat_id(&[0x22; 32], "LOBBY");
    assert_eq!(hex::encode_upper(id), ROOM_CHAT_ID);
}

const ROOM_CHAT_ID: &str = "8920230080E66FFE1055034C29B8F9FAA4CB1696892E3CAC982ACC16486DAF68";

/// PROTOCOL.md §8.12: the group-chat requests and replies around the Appendix B G9 chat
/// (creator seed `11…`, member seed `22…`, RNG seed `33…`), before fragmenting.
mod group_chats {
    use dhtchat::crypto::Identity;
    use dhtchat::index::groupkey::{GroupKeySchedule, Keyring, message};
    use dhtchat::index::wire::{ChatReply, ChatRequest, Kind, Reply, ReplyBody, Request, Status};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const CHAT: &str = "A3DAFE8CCE9A0C8C353C49B9F30D8DB0308DA510E132E1B2F7038E6747549676";

    /// The G9 create record (430 bytes) and message (94 bytes).
    fn golden() -> ([u8; 32], Vec<u8>, Vec<u8>) {
        let mut rng = ChaCha20Rng::from_seed([0x33; 32]);
        let mut a = Keyring::new(Identity::from_seed(&[0x11; 32]));
        let member = Identity::from_seed(&[0x22; 32]).signing_key();
        let created = a.create_chat(&mut rng, &[member], &[]).unwrap();
        let key = a.epoch_key(&created.chat_id, 0).unwrap().clone();
        let nonce = [0x44; 24];
        let msg = message::seal_with_nonce(&key, &created.chat_id, 0, &nonce, b"hello, epoch 0");
        (created.chat_id, created.record, msg.unwrap())
    }

    fn hex(b: &[u8]) -> String {
        hex::encode_upper(b)
    }

    #[test]
    fn requests() {
        let (chat, record, msg) = golden();
        assert_eq!(hex(&chat), CHAT);
        let put = Request::Chat(ChatRequest::PutRecord {
            record: record.clone(),
        });
        assert_eq!(hex(&put.encode()), format!("1301AE{}", hex(&record)));
        let fetch = Request::Chat(ChatRequest::FetchRecords {
            chat,
            from: 0,
            max: 16,
        });
        assert_eq!(hex(&fetch.encode()), format!("14{CHAT}000000000000000010"));
        let post = Request::Chat(ChatRequest::PostChat {
            client_id: 1,
            message: msg.clone(),
        });
        assert_eq!(
            hex(&post.encode()),
            format!("150000000000000001005E{}", hex(&msg))
        );
        let read = Request::Chat(ChatRequest::FetchChat {
            chat,
            after: 0,
            max: 50,
        });
        assert_eq!(hex(&read.encode()), format!("16{CHAT}000000000000000032"));
        assert_eq!(hex(&Request::Chat(ChatRequest::MyChats).encode()), "17");
        for r in [put, fetch, post, read] {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn replies() {
        let (chat, record, _) = golden();
        let reply = |kind, status, body| Reply { kind, status, body };
        let stored = reply(
            Kind::PutRecord,
            Status::Ok,
            ReplyBody::Chat(ChatReply::Stored(0)),
        );
        assert_eq!(hex(&stored.encode()), "13000000000000000000");
        let lost = ReplyBody::Chat(ChatReply::Lost(record.clone()));
        let lost = reply(Kind::PutRecord, Status::RotationLost, lost);
        assert_eq!(hex(&lost.encode()), format!("130B01AE{}", hex(&record)));
        let bad = Reply::status(Kind::PutRecord, Status::BadRecord);
        assert_eq!(hex(&bad.encode()), "130C");
        let mine = ReplyBody::Chat(ChatReply::Chats(vec![(chat, 0)]));
        let mine = reply(Kind::MyChats, Status::Ok, mine);
        assert_eq!(
            hex(&mine.encode()),
            format!("17000001{CHAT}0000000000000000")
        );
        for r in [stored, lost, bad, mine] {
            assert_eq!(Reply::decode(&r.encode()).unwrap(), r);
        }
    }
}

/// PROTOCOL.md §8.13: a device certificate and its request (kind 24) and replies; also
/// computed independently with Python `cryptography` (HKDF-SHA256, Ed25519).
mod devices {
    use dhtchat::crypto::{BoxKeypair, Identity};
    use dhtchat::index::devices::{Certificate, certificate_message, device_identity};
    use dhtchat::index::wire::{
        DeviceReply, DeviceRequest, Kind, Reply, ReplyBody, Request, Status,
    };

    const DEVICE_KEY: &str = "61F5CA0BBA11EEF5685262B4AFF70C39BF1491CD7C00CF8F031B0E73503C42C9";
    const ACCOUNT_KEY: &str = "8A88E3DD7409F195FD52DB2D3CBA5D72CA6709BF1D94121BF3748801B40F6F5C";
    const ACCOUNT_SIG: &str = "8081747F7B6CBB018A12B538FDC0B109B94A08BF15A730C89F0797A7F0DB058E\
D93EAB5F0947F852490AE214EA1254DAD40C4F611ED1510A92B63FF13AA0DC0C";
    const DEVICE_SIG: &str = "879849C90B2EFF5A2FC121EBB77416DA35EBEDDD87C9A2734632FB80146A786D\
B68C9B5C5151762B2C26BB9F7B0FD936F2629011BC61C9F136DD43F9C7811308";
    const ISSUED: u64 = 1_800_000_000;

    #[test]
    fn certificate_and_register_device_request() {
        let index = BoxKeypair::from_secret_bytes(super::INDEX_SECRET)
            .public_key()
            .0;
        let account = Identity::from_seed(&[0x01; 32]);
        let device = device_identity(&[0x09; 32], &index, "alice");
        assert_eq!(hex::encode_upper(account.signing_key()), ACCOUNT_KEY);
        assert_eq!(hex::encode_upper(device.signing_key()), DEVICE_KEY);
        let message = certificate_message(
            "alice",
            &account.signing_key(),
            &device.signing_key(),
            ISSUED,
            &index,
        );
        let want = format!(
            "6468746368617420696E646578206465766963652076310005616C696365\
             {ACCOUNT_KEY}{DEVICE_KEY}000000006B49D200{}",
            super::INDEX_KEY
        );
        assert_eq!(hex::encode_upper(&message), want);
        let cert = Certificate::sign("alice", &account, &device, ISSUED, &index);
        assert_eq!(hex::encode_upper(cert.account_sig), ACCOUNT_SIG);
        assert_eq!(hex::encode_upper(cert.device_sig), DEVICE_SIG);
        assert_eq!(
            cert.verify("alice", &account.signing_key(), &index, ISSUED),
            Ok(())
        );
        let request = Request::Device(DeviceRequest::Register(cert));
        let bytes = request.encode();
        assert_eq!(
            hex::encode_upper(&bytes),
            format!("18{DEVICE_KEY}000000006B49D200{ACCOUNT_SIG}{DEVICE_SIG}")
        );
        assert_eq!(Request::decode(&bytes).unwrap(), request);
        let remove = Request::Device(DeviceRequest::Remove {
            device: device.signing_key(),
        });
        assert_eq!(
            hex::encode_upper(remove.encode()),
            format!("19{DEVICE_KEY}")
        );
    }

    #[test]
    fn device_replies() {
        let ok = Reply {
            kind: Kind::RegisterDevice,
            status: Status::Ok,
            body: ReplyBody::Device(DeviceReply::Registered {
                devices: 2,
                evicted: 0,
            }),
        };
        assert_eq!(hex::encode_upper(ok.encode()), "18000200");
        let removed = Reply {
            kind: Kind::RemoveDevice,
            status: Status::Ok,
            body: ReplyBody::Device(DeviceReply::Removed(1)),
        };
        assert_eq!(hex::encode_upper(removed.encode()), "190001");
        let bad = Reply::status(Kind::RegisterDevice, Status::BadCertificate);
        assert_eq!(hex::encode_upper(bad.encode()), "180D");
        let taken = Reply::status(Kind::RegisterDevice, Status::DeviceTaken);
        assert_eq!(hex::encode_upper(taken.encode()), "180E");
        for r in [ok, removed, bad, taken] {
            assert_eq!(Reply::decode(&r.encode()).unwrap(), r);
        }
    }
}
