//! The golden vectors of PROTOCOL.md §8.14, byte for byte: a signed presence entry in a
//! publish request and a lookup reply, a withdraw, and a direct PM and its ack (inner ids
//! 54 and 55) with a sealed body from the §8.9 keys.

use dhtchat::crypto::{BoxKeypair, Identity};
use dhtchat::index::client::seal_pm;
use dhtchat::index::presence::direct::{encode_ack, encode_pm};
use dhtchat::index::presence::{PresenceEntry, PresenceReply, PresenceRequest, signing_input};
use dhtchat::index::wire::{Kind, Reply, ReplyBody, Request, Status};

/// The §8.9 index key (X25519 public of `22…22`).
const INDEX_SECRET: [u8; 32] = [0x22; 32];
const NODE_KEY: [u8; 32] = [0x44; 32];
const EXPIRES: u64 = 1_800_000_000;
const ENTRY_HEAD: &str = concat!(
    "4444444444444444444444444444444444444444444444444444444444444444",
    "04",
    "7F000002",
    "82A5",
    "000000006B49D200",
);
/// Reproduced independently with Python `cryptography` (Ed25519 is deterministic).
const SIGNATURE: &str = concat!(
    "B6E3C099D24B292F28B2DAB323BAD06FAA39384452A99B14C13036F58B804998",
    "1F74236B762ACDBE2CBFEE3A3C573FCD4546868E6F3228AE830BFD4A6526C208",
);
/// `[nonce 33×24][MAC 16][ciphertext of "hi"]`, alice (`11…11`) to bob (`55…55`).
const SEALED: &str = concat!(
    "333333333333333333333333333333333333333333333333",
    "E47FE20EE2F87D28F2B42886B548242A",
    "8748",
);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn entry() -> PresenceEntry {
    let index = BoxKeypair::from_secret_bytes(INDEX_SECRET).public_key().0;
    let alice = Identity::from_seed(&[0x11; 32]);
    let addr = "127.0.0.2:33445".parse().unwrap();
    PresenceEntry::sign(&alice, "alice", NODE_KEY, addr, EXPIRES, &index)
}

#[test]
fn presence_publish_lookup_and_withdraw() {
    let e = entry();
    let index = BoxKeypair::from_secret_bytes(INDEX_SECRET).public_key().0;
    let alice = Identity::from_seed(&[0x11; 32]);
    assert!(e.verify("alice", &alice.signing_key(), &index));
    let input = signing_input("alice", &NODE_KEY, &e.addr, EXPIRES, &index);
    assert!(hex(&input).starts_with("646874636861742070726573656E63652076310005616C696365"));
    assert_eq!(hex(&e.signature), SIGNATURE);
    let publish = Request::Presence(PresenceRequest::Publish(e));
    assert_eq!(hex(&publish.encode()), format!("1A{ENTRY_HEAD}{SIGNATURE}"));
    let lookup = Request::Presence(PresenceRequest::Lookup { name: "bob".into() });
    assert_eq!(hex(&lookup.encode()), "1B03626F62");
    let withdraw = Request::Presence(PresenceRequest::Withdraw { node_key: NODE_KEY });
    assert_eq!(hex(&withdraw.encode()), format!("1C{}", "44".repeat(32)));
    for r in [publish, lookup, withdraw] {
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
    }
    let reply = Reply {
        kind: Kind::LookupPresence,
        status: Status::Ok,
        body: ReplyBody::Presence(PresenceReply::Entries(vec![e])),
    };
    assert_eq!(
        hex(&reply.encode()),
        format!("1B0001{ENTRY_HEAD}{SIGNATURE}")
    );
    assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
    let limited = Reply::status(Kind::LookupPresence, Status::RateLimited);
    assert_eq!(hex(&limited.encode()), "1B03");
}

#[test]
fn direct_pm_and_ack() {
    let alice = Identity::from_seed(&[0x11; 32]);
    let bob = Identity::from_seed(&[0x55; 32]);
    let body = seal_pm(&alice, &bob.signing_key(), [0x33; 24], "hi").unwrap();
    assert_eq!(hex(&body), SEALED);
    let pm = encode_pm(7, "alice", &body);
    assert_eq!(
        hex(&pm),
        format!("36000000000000000705616C696365002A{SEALED}")
    );
    assert_eq!(hex(&encode_ack(7)), "370000000000000007");
}
