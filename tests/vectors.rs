//! The golden vectors of PROTOCOL.md §7, checked byte for byte against the crate.
//!
//! PROTOCOL.md is read at compile time; every ```` ```vector ```` block is parsed and checked
//! both ways: sealing the plaintext must give the datagram (encoding), and opening the
//! datagram must give the plaintext, which must decode and re-encode to itself (decoding).
//! The set of vector names is fixed here, so a vector cannot silently disappear.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;

use dhtchat::crypto::{
    BoxKeypair, Identity, SharedKeys, VerifyError, open_datagram, precompute, seal_packet,
    verify_broadcast, verify_fact,
};
use dhtchat::wire::{
    Broadcast, Fact, LazyKind, MAX_PLAINTEXT, MessageId, NODE_INFO_LEN, Payload, PeerMessage,
    PublicKey,
};

const PROTOCOL: &str = include_str!("../PROTOCOL.md");

/// Every kind of datagram PROTOCOL.md §7 must have a vector for.
const REQUIRED: [&str; 22] = [
    "get_nodes",
    "have",
    "prune",
    "ihave",
    "graft",
    "send_nodes_0",
    "send_nodes_2",
    "broadcast_ping",
    "broadcast_new_peer",
    "broadcast_ban",
    "broadcast_topic",
    "broadcast_quit",
    "broadcast_name",
    "broadcast_status",
    "broadcast_action",
    "broadcast_chat",
    "broadcast_seed_action",
    "signed_broadcast_chat",
    "signed_broadcast_quit",
    "direct",
    "history_request",
    "history_page",
];

/// wire-2014.md §5: the public keys of the secrets 0x11×32 and 0x22×32.
const PK_11: &str = "7B4E909BBE7FFE44C465A220037D608EE35897D31EF972F07F74892CB0F73F13";
const PK_22: &str = "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20";

/// One parsed vector: field name to value, comments removed, continuation lines joined.
#[derive(Debug)]
struct Vector {
    fields: BTreeMap<String, String>,
}

impl Vector {
    fn name(&self) -> &str {
        self.text("name")
    }

    fn text(&self, field: &str) -> &str {
        match self.fields.get(field) {
            Some(value) => value,
            None => panic!("vector {:?} has no field {field}", self.fields.get("name")),
        }
    }

    fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    fn hex(&self, field: &str) -> Vec<u8> {
        let digits: String = self.text(field).split_whitespace().collect();
        hex::decode(&digits).unwrap_or_else(|e| panic!("{}: {field}: {e}", self.name()))
    }

    fn key(&self, field: &str) -> [u8; 32] {
        self.hex(field)
            .try_into()
            .unwrap_or_else(|_| panic!("{}: {field} is not 32 bytes", self.name()))
    }

    fn sender(&self) -> BoxKeypair {
        BoxKeypair::from_secret_bytes(self.key("sender-secret"))
    }

    fn receiver(&self) -> BoxKeypair {
        BoxKeypair::from_secret_bytes(self.key("receiver-secret"))
    }

    fn nonce(&self) -> [u8; 24] {
        self.hex("nonce").try_into().unwrap()
    }
}

/// Extracts every ```vector block of a markdown document.
fn parse(doc: &str) -> Vec<Vector> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```vector" {
            let body = lines.by_ref().take_while(|l| l.trim_end() != "```");
            out.push(parse_block(body));
        }
    }
    out
}

fn parse_block<'a>(lines: impl Iterator<Item = &'a str>) -> Vector {
    let mut fields = BTreeMap::new();
    let mut current: Option<String> = None;
    for raw in lines {
        let line = raw.split('#').next().unwrap_or_default();
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let key = current
                .as_ref()
                .expect("continuation line before any field");
            let value: &mut String = fields.get_mut(key).unwrap();
            value.push(' ');
            value.push_str(line.trim());
        } else {
            let (key, value) = line.split_once(':').expect("a field line is `key: value`");
            let key = key.trim().to_owned();
            assert!(!fields.contains_key(&key), "field {key} given twice");
            fields.insert(key.clone(), value.trim().to_owned());
            current = Some(key);
        }
    }
    Vector { fields }
}

fn vectors() -> Vec<Vector> {
    parse(PROTOCOL)
}

/// The message id a broadcast vector's name promises.
fn expected_message_id(name: &str) -> Option<MessageId> {
    let message = name
        .strip_prefix("signed_broadcast_")
        .or_else(|| name.strip_prefix("broadcast_"))?;
    Some(match message {
        "ping" => MessageId::Ping,
        "new_peer" => MessageId::NewPeer,
        "ban" => MessageId::Ban,
        "topic" => MessageId::Topic,
        "quit" => MessageId::Quit,
        "name" => MessageId::Name,
        "status" => MessageId::Status,
        "action" => MessageId::Action,
        "chat" => MessageId::Chat,
        "seed_action" => MessageId::SeedAction,
        other => panic!("{name}: unknown message {other}"),
    })
}

fn open(v: &Vector) -> (PublicKey, Vec<u8>) {
    let mut keys = SharedKeys::new(NonZeroUsize::MIN);
    let mut scratch = [0u8; MAX_PLAINTEXT];
    let datagram = v.hex("datagram");
    let (sender, plain) = open_datagram(&v.receiver(), &mut keys, &datagram, &mut scratch)
        .unwrap_or_else(|e| panic!("{}: {e}", v.name()));
    (sender, plain.to_vec())
}

#[test]
fn every_kind_has_exactly_one_vector() {
    let all = vectors();
    let names: Vec<&str> = all.iter().map(Vector::name).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate vector names: {names:?}"
    );
    let required: BTreeSet<&str> = REQUIRED.into_iter().collect();
    assert_eq!(
        unique, required,
        "PROTOCOL.md §7 must have exactly these vectors"
    );
}

/// The mac1 vectors of PROTOCOL.md §2.1 (```` ```mac1 ```` blocks).
fn mac1_vectors() -> Vec<Vector> {
    let doc = PROTOCOL.replace("```mac1\n", "```vector\n");
    let all = parse(&doc);
    all.into_iter()
        .filter(|v| v.name().starts_with("mac1_") || v.name() == "cookie_reply")
        .collect()
}

#[test]
fn mac1_vectors_derive_the_key_the_macs_and_the_nonce() {
    use dhtchat::crypto::{
        MAC1_COVERS, MAC2_COVERS, check_mac1, check_mac2, mac1, mac1_key, mac1_nonce,
    };
    let vs = mac1_vectors();
    let names: Vec<&str> = vs.iter().map(Vector::name).collect();
    assert_eq!(names, ["mac1_11_to_22", "mac1_22_to_11", "cookie_reply"]);
    for v in vs.iter().filter(|v| v.name() != "cookie_reply") {
        let (rx, tx) = (
            PublicKey(v.key("receiver-public")),
            PublicKey(v.key("sender-public")),
        );
        let counter: [u8; 8] = v.hex("counter").try_into().unwrap();
        let cookie: Option<[u8; 16]> = v.has("cookie").then(|| v.hex("cookie").try_into().unwrap());
        assert_eq!(mac1_key(&rx).to_vec(), v.hex("mac1-key"), "{}", v.name());
        let nonce = mac1_nonce(&counter, cookie.as_ref(), &rx, &tx);
        assert_eq!(nonce.to_vec(), v.hex("nonce"), "{}", v.name());
        let mut d = vec![0x30];
        d.extend_from_slice(&rx.0);
        d.extend_from_slice(&tx.0);
        d.extend_from_slice(&nonce);
        d.extend_from_slice(&[0; 25]);
        assert_eq!(
            d[MAC2_COVERS..MAC1_COVERS],
            v.hex("mac2")[..],
            "{}",
            v.name()
        );
        assert_eq!(
            mac1(&rx, &d[..MAC1_COVERS]).to_vec(),
            v.hex("mac1"),
            "{}",
            v.name()
        );
        // The datagram passes; a changed header byte, mac2 or mac1 does not.
        assert!(check_mac1(&rx, &d));
        assert!(!check_mac1(&tx, &d), "keyed by the receiver");
        for i in [0, 40, 70, MAC2_COVERS + 1, MAC1_COVERS + 3] {
            let mut bad = d.clone();
            bad[i] ^= 1;
            assert!(!check_mac1(&rx, &bad), "{}: byte {i}", v.name());
        }
        if let Some(c) = cookie {
            assert!(check_mac2(&c, &d));
            assert!(!check_mac2(&[0; 16], &d));
        }
    }
}

#[test]
fn cookie_reply_vector_seals_and_opens() {
    use dhtchat::crypto::{cookie, cookie_reply_receiver, open_cookie_reply, seal_cookie_reply};
    let v = mac1_vectors()
        .into_iter()
        .find(|v| v.name() == "cookie_reply")
        .unwrap();
    let secret = v.key("secret");
    let addr = v.text("address").parse().unwrap();
    let c = cookie(&secret, addr);
    assert_eq!(c.to_vec(), v.hex("cookie"));
    let (node, rx) = (
        PublicKey(v.key("node-public")),
        PublicKey(v.key("receiver-public")),
    );
    let mac1: [u8; 8] = v.hex("answered-mac1").try_into().unwrap();
    let nonce: [u8; 24] = v.hex("nonce").try_into().unwrap();
    let reply = seal_cookie_reply(&node, (&rx, &mac1), &nonce, &c);
    assert_eq!(hex::encode_upper(&reply), hex::encode_upper(v.hex("reply")));
    assert_eq!(reply.len(), 89);
    assert_eq!(cookie_reply_receiver(&reply), Some(rx));
    assert_eq!(open_cookie_reply(&node, &mac1, &reply), Some(c));
    assert_eq!(
        open_cookie_reply(&rx, &mac1, &reply),
        None,
        "another node's key"
    );
    assert_eq!(
        open_cookie_reply(&node, &[0; 8], &reply),
        None,
        "another datagram"
    );
}

#[test]
fn parser_reads_comments_and_continuation_lines() {
    let doc = "x\n```vector\nname: t  # c\nplaintext:  # layout\n  30 # id\n\n  0102\n```\n";
    let v = parse(doc);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].name(), "t");
    assert_eq!(v[0].hex("plaintext"), [0x30, 1, 2]);
}

#[test]
fn public_keys_derive_from_the_secrets() {
    for v in vectors() {
        let name = v.name();
        let sender = v.sender().public_key();
        assert_eq!(sender, PublicKey(v.key("sender-public")), "{name}: sender");
        let receiver = v.receiver().public_key();
        assert_eq!(
            receiver,
            PublicKey(v.key("receiver-public")),
            "{name}: receiver"
        );
        if !v.has("sender-seed") {
            assert_eq!(
                sender.to_string(),
                PK_11,
                "{name}: sender is wire-2014 0x11"
            );
        }
        assert_eq!(
            receiver.to_string(),
            PK_22,
            "{name}: receiver is wire-2014 0x22"
        );
    }
}

#[test]
fn identity_keys_derive_from_the_seeds() {
    let signed: Vec<Vector> = vectors()
        .into_iter()
        .filter(|v| v.has("sender-seed"))
        .collect();
    assert_eq!(signed.len(), 2);
    for v in signed {
        let id = Identity::from_seed(&v.key("sender-seed"));
        assert_eq!(*id.keypair().secret_bytes(), v.key("sender-secret"));
        assert_eq!(id.public_key(), PublicKey(v.key("sender-public")));
        assert_eq!(id.signing_key(), v.key("signer"));
        let chat = Identity::from_seed(&v.key("chat-seed"));
        assert_eq!(chat.signing_key(), v.key("chat-id"));
    }
}

#[test]
fn sealing_the_plaintext_gives_the_datagram() {
    for v in vectors() {
        let plain = v.hex("plaintext");
        let payload = Payload::decode(&plain).unwrap_or_else(|e| panic!("{}: {e}", v.name()));
        let (sender, receiver) = (v.sender(), v.receiver());
        let shared = precompute(&sender, &receiver.public_key());
        let mut out = Vec::new();
        let (to, from) = (receiver.public_key(), sender.public_key());
        seal_packet(&shared, &to, &from, &v.nonce(), &payload, &mut out).unwrap();
        assert_eq!(
            hex::encode_upper(out),
            hex::encode_upper(v.hex("datagram")),
            "{}",
            v.name()
        );
    }
}

#[test]
fn opening_the_datagram_gives_the_plaintext() {
    for v in vectors() {
        let (sender, plain) = open(&v);
        assert_eq!(sender, v.sender().public_key(), "{}", v.name());
        assert_eq!(plain, v.hex("plaintext"), "{}", v.name());
        let payload = Payload::decode(&plain).unwrap();
        let mut again = Vec::new();
        payload.encode(&mut again).unwrap();
        assert_eq!(again, plain, "{}: re-encoding", v.name());
    }
}

#[test]
fn envelope_header_is_in_the_clear() {
    for v in vectors() {
        let d = v.hex("datagram");
        assert_eq!(d[0], 48, "{}", v.name());
        assert_eq!(d[1..33], v.key("receiver-public"), "{}", v.name());
        assert_eq!(d[33..65], v.key("sender-public"), "{}", v.name());
        assert_eq!(d[65..89], v.nonce(), "{}", v.name());
        assert_eq!(d.len(), 89 + 16 + v.hex("plaintext").len(), "{}", v.name());
    }
}

#[test]
fn datagram_sizes() {
    for v in vectors() {
        let len = v.hex("datagram").len();
        let plain = v.hex("plaintext");
        let expected = match Payload::decode(&plain).unwrap() {
            Payload::GetNodes(_) => 114,
            Payload::SendNodes(s) => 114 + NODE_INFO_LEN * s.nodes.len(),
            Payload::Broadcast(b) if b.trailer.is_some() => 143 + b.body.len() + 96,
            Payload::Broadcast(b) => 143 + b.body.len(),
            Payload::Direct(d) => 110 + d.text.len(),
            Payload::Have(h) => 118 + h.filter().len(),
            Payload::HistoryRequest(q) => 158 + q.padding,
            Payload::HistoryPage(p) => {
                119 + p
                    .entries()
                    .flatten()
                    .map(|e| e.encoded_len())
                    .sum::<usize>()
            }
            Payload::Prune(_) => 139,
            Payload::Lazy(l) => 108 + 36 * l.len(),
        };
        assert_eq!(len, expected, "{}", v.name());
    }
    let sizes: BTreeMap<String, usize> = vectors()
        .iter()
        .map(|v| (v.name().to_owned(), v.hex("datagram").len()))
        .collect();
    assert_eq!(sizes["get_nodes"], 114);
    assert_eq!(sizes["send_nodes_0"], 114);
    assert_eq!(sizes["send_nodes_2"], 114 + 2 * 51);
    assert_eq!(sizes["broadcast_ping"], 143);
}

#[test]
fn kinds_match_the_names() {
    for v in vectors() {
        let plain = v.hex("plaintext");
        let payload = Payload::decode(&plain).unwrap();
        let name = v.name();
        match payload {
            Payload::GetNodes(_) => assert_eq!(name, "get_nodes"),
            Payload::SendNodes(s) => assert_eq!(name, format!("send_nodes_{}", s.nodes.len())),
            Payload::Broadcast(b) if b.trailer.is_some() => {
                assert!(name.starts_with("signed_broadcast_"), "{name}")
            }
            Payload::Broadcast(_) => assert!(name.starts_with("broadcast_"), "{name}"),
            Payload::Direct(d) => {
                assert_eq!(name, "direct");
                assert_eq!((d.number, d.text), (11, "psst ✓".as_bytes()));
            }
            Payload::Have(h) => {
                assert_eq!(name, "have");
                let origin = PublicKey(v.key("sender-public"));
                assert_eq!((h.flags, h.hashes, h.span_ms), (0, 5, 8000));
                assert_eq!(h.salt, 0x0102_0304_0506_0708);
                assert!(h.holds(&origin, 10) && !h.holds(&origin, 11));
            }
            Payload::HistoryRequest(q) => {
                assert_eq!(name, "history_request");
                let fields = (q.request_id, q.cursor, q.within, q.origin, q.padding);
                assert_eq!(fields, (0x0001_0002, 0, u32::MAX, None, 4));
            }
            Payload::HistoryPage(p) => {
                assert_eq!(name, "history_page");
                assert_eq!(
                    (p.request_id, p.from, p.next, p.flags),
                    (0x0001_0002, 0, 8, 3)
                );
                let entries: Vec<_> = p.entries().collect::<Result<_, _>>().unwrap();
                let [e] = entries[..] else {
                    panic!("one entry")
                };
                assert_eq!((e.age, e.prev, e.number, e.body), (90, 1, 3, &b"hi"[..]));
                // The origin is the signer's X25519 form, and the signature is the author's.
                let origin = dhtchat::crypto::x25519_of(&e.trailer.signer).unwrap();
                assert_eq!(origin, PublicKey(v.key("origin")));
                verify_broadcast(&v.key("chat-id"), &e.broadcast(origin)).unwrap();
            }
            Payload::Prune(p) => {
                assert_eq!(name, "prune");
                assert_eq!((p.flags, p.origin), (0, PublicKey(v.key("origin"))));
            }
            Payload::Lazy(l) => {
                let origin = PublicKey(v.key("origin"));
                let ids: Vec<_> = l.ids().collect();
                match l.kind {
                    LazyKind::IHave => {
                        assert_eq!(name, "ihave");
                        let other = PublicKey(v.key("sender-public"));
                        assert_eq!(ids, [(origin, 10), (other, 0x0102_0304)]);
                    }
                    LazyKind::Graft => {
                        assert_eq!(name, "graft");
                        assert_eq!(ids, [(origin, 10)]);
                    }
                }
            }
        }
    }
}

#[test]
fn send_nodes_2_has_one_ipv4_and_one_ipv6_node() {
    let v = vectors().into_iter().find(|v| v.name() == "send_nodes_2");
    let plain = v.unwrap().hex("plaintext");
    let Ok(Payload::SendNodes(s)) = Payload::decode(&plain) else {
        panic!("send_nodes_2 is not a send_nodes");
    };
    let families: Vec<bool> = s.nodes.iter().map(|n| n.addr.is_ipv4()).collect();
    assert_eq!(families, [true, false]);
    assert_eq!(plain[9 + 37..9 + 49], [0; 12], "IPv4 padding is zeroed");
}

fn broadcast<'a>(v: &Vector, plain: &'a [u8]) -> Option<Broadcast<'a>> {
    match Payload::decode(plain) {
        Ok(Payload::Broadcast(b)) => Some(b),
        Ok(_) => None,
        Err(e) => panic!("{}: {e}", v.name()),
    }
}

#[test]
fn broadcast_bodies_decode_to_the_named_message() {
    for v in vectors() {
        let plain = v.hex("plaintext");
        let Some(b) = broadcast(&v, &plain) else {
            assert!(!v.has("message-id"), "{}", v.name());
            continue;
        };
        let expected = expected_message_id(v.name()).unwrap();
        assert_eq!(
            v.text("message-id"),
            (expected as u8).to_string(),
            "{}",
            v.name()
        );
        assert_eq!(b.message_id, expected as u8, "{}", v.name());
        let msg = PeerMessage::decode(b.message_id, b.body).unwrap();
        assert_eq!(msg.id(), expected, "{}", v.name());
        assert_eq!(
            msg.to_vec().unwrap(),
            b.body,
            "{}: body re-encoding",
            v.name()
        );
    }
}

#[test]
fn signed_broadcast_verifies_for_its_chat_only() {
    for v in vectors() {
        let plain = v.hex("plaintext");
        let Some(b) = broadcast(&v, &plain) else {
            continue;
        };
        let Some(trailer) = b.trailer else {
            assert_eq!(verify_broadcast(&[0; 32], &b), Err(VerifyError::Unsigned));
            continue;
        };
        let chat_id = v.key("chat-id");
        assert_eq!(verify_broadcast(&chat_id, &b), Ok(()), "{}", v.name());
        assert_eq!(trailer.signer, v.key("signer"), "{}", v.name());
        let mut input = Vec::new();
        b.write_signing_input(&chat_id, &mut input);
        assert_eq!(input, v.hex("signing-input"), "{}", v.name());
        let other = Identity::from_seed(&[0x55; 32]).signing_key();
        assert_eq!(verify_broadcast(&other, &b), Err(VerifyError::BadSignature));
    }
}

/// The ```fact-vector blocks of §7.1.
fn fact_vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut lines = PROTOCOL.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```fact-vector" {
            let body = lines.by_ref().take_while(|l| l.trim_end() != "```");
            out.push(parse_block(body));
        }
    }
    out
}

#[test]
fn fact_vectors_sign_verify_and_round_trip() {
    let all = fact_vectors();
    assert_eq!(all.len(), 4, "fact vectors in §7.1");
    for v in &all {
        let name = v.name();
        let signer = Identity::from_seed(&v.key("signer-seed"));
        assert_eq!(signer.signing_key(), v.key("signer"), "{name}: signer");
        let chat = v.key("chat-id");
        let bytes = v.hex("fact");
        let fact = Fact::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fact.to_vec().unwrap(), bytes, "{name}: re-encoding");
        assert_eq!(fact.signing_input(&chat), v.hex("signing-input"), "{name}");
        let mut again = fact;
        again.signature = [0; 64];
        signer.sign_fact(&chat, &mut again);
        assert_eq!(again, fact, "{name}: signature");
        let member = verify_fact(&chat, &fact).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(member, signer.public_key(), "{name}: member key");
        let other = Identity::from_seed(&[0x55; 32]).signing_key();
        assert!(verify_fact(&other, &fact).is_err(), "{name}: other group");
    }
}

#[test]
fn signed_quit_vector_carries_its_reason() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name() == "signed_broadcast_quit");
    let plain = v.unwrap().hex("plaintext");
    let Ok(Payload::Broadcast(b)) = Payload::decode(&plain) else {
        panic!("signed_broadcast_quit is not a broadcast");
    };
    assert_eq!(b.number, 2);
    let msg = PeerMessage::decode(b.message_id, b.body).unwrap();
    assert_eq!(msg, PeerMessage::Quit("bye all"));
}
