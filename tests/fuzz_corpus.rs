//! Replays the committed fuzz corpus through the fuzz target bodies in `dhtchat::fuzzing`, so a
//! plain `cargo test` on stable Rust covers every input the fuzzer kept.
//!
//! - `fuzz/corpus/<target>/` must exist and hold at least one file for every target;
//! - `fuzz/regressions/<target>/` (crashes found by fuzzing, kept forever) is replayed when
//!   present;
//! - the `seed-*` files in the corpus are generated here: after a wire format change, rewrite
//!   them with `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use dhtchat::crypto::{self, BoxKeypair, Identity};
use dhtchat::fuzzing::{self, CHAT_ID, NONCE, RECEIVER_SECRET, SENDER_SECRET};
use dhtchat::wire::envelope::emit_header;
use dhtchat::wire::{
    Ban, BanAction, BloomBuilder, Broadcast, Direct, GetNodes, NodeInfo, NodeList, Payload,
    PeerMessage, PublicKey, SendNodes, Status, Topic,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[path = "fuzz_corpus/index_seeds.rs"]
mod index_seeds;

/// A fuzz target body from `dhtchat::fuzzing`.
type Body = fn(&[u8]);

/// The fuzz targets: directory name and body.
const TARGETS: &[(&str, Body)] = &[
    ("envelope", fuzzing::envelope),
    ("payload_roundtrip", fuzzing::payload_roundtrip),
    ("datagram", fuzzing::datagram),
    ("index_message", fuzzing::index_message),
];

fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

/// Every file in `dir`, sorted; `None` if the directory does not exist.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).ok()?;
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Some(out)
}

/// Runs every file through `body`; returns the names of the files that panicked.
fn replay(files: &[PathBuf], body: Body) -> Vec<String> {
    let mut failed = Vec::new();
    for path in files {
        let data = fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    failed
}

#[test]
fn corpus_replays_without_panic() {
    for (target, body) in TARGETS {
        let dir = fuzz_dir("corpus", target);
        let files = files(&dir).unwrap_or_else(|| panic!("{} is missing", dir.display()));
        assert!(!files.is_empty(), "{} is empty", dir.display());
        let failed = replay(&files, *body);
        assert!(failed.is_empty(), "{target}: failing inputs {failed:#?}");
    }
}

#[test]
fn regressions_replay_without_panic() {
    for (target, body) in TARGETS {
        let files = files(&fuzz_dir("regressions", target)).unwrap_or_default();
        let failed = replay(&files, *body);
        assert!(failed.is_empty(), "{target}: failing inputs {failed:#?}");
    }
}

#[test]
fn seed_files_are_committed() {
    for (target, name, bytes) in seeds() {
        let path = fuzz_dir("corpus", target).join(format!("seed-{name}"));
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} is missing or stale; rewrite the seeds with \
             `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`",
            path.display()
        );
    }
}

/// A stable-Rust stand-in for a short fuzzing run: every committed corpus file, mutated 200
/// times by a fixed-seed RNG (bit flips, byte sets, truncation, duplication of a slice), goes
/// through its target body without a failed invariant.
#[test]
fn mutated_corpus_replays_without_panic() {
    let mut rng = ChaCha20Rng::from_seed([0x5E; 32]);
    for (target, body) in TARGETS {
        let files = files(&fuzz_dir("corpus", target)).unwrap_or_default();
        let mut failed = Vec::new();
        for path in files {
            let data = fs::read(&path).unwrap();
            for _ in 0..200 {
                let input = mutate(&mut rng, &data);
                if catch_unwind(AssertUnwindSafe(|| body(&input))).is_err() {
                    failed.push((path.display().to_string(), input));
                }
            }
        }
        assert!(
            failed.is_empty(),
            "{target}: failing mutations {failed:02x?}"
        );
    }
}

/// One to four random edits of `data`.
fn mutate(rng: &mut ChaCha20Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=out.len());
        match rng.random_range(0..4) {
            0 if at < out.len() => out[at] ^= 1 << rng.random_range(0..8),
            1 if at < out.len() => out[at] = rng.random(),
            2 => out.truncate(at),
            _ => {
                let end = (at + rng.random_range(1..=16)).min(out.len());
                let slice = out[at..end].to_vec();
                out.splice(at..at, slice);
            }
        }
    }
    out
}

#[test]
fn signed_seeds_carry_valid_signatures() {
    let signed: Vec<_> = plaintexts()
        .into_iter()
        .filter(|(name, _)| name.starts_with("signed_"))
        .collect();
    assert_eq!(signed.len(), 11);
    for (name, bytes) in signed {
        let Ok(Payload::Broadcast(b)) = Payload::decode(&bytes) else {
            panic!("{name} does not decode");
        };
        assert_eq!(crypto::verify_broadcast(&CHAT_ID, &b), Ok(()), "{name}");
    }
}

/// Writes the seed files into `fuzz/corpus/<target>/` (run by hand, see the module docs).
#[test]
#[ignore = "writes files; run by hand after a wire format change"]
fn write_seed_corpus() {
    for (target, name, bytes) in seeds() {
        let dir = fuzz_dir("corpus", target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

/// (target, seed name, bytes) for every seed file.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let plain = plaintexts();
    let mut out = Vec::new();
    for (name, bytes) in &plain {
        out.push(("payload_roundtrip", name.clone(), bytes.clone()));
        out.push(("datagram", format!("plain-{name}"), bytes.clone()));
        if Payload::decode(bytes).is_ok() {
            out.push(("datagram", format!("sealed-{name}"), seal(bytes)));
        }
    }
    for name in [
        "get_nodes",
        "send_nodes_0",
        "send_nodes_6",
        "broadcast_chat",
        "signed_chat",
    ] {
        let bytes = plain.iter().find(|(n, _)| n == name).unwrap().1.clone();
        out.push(("envelope", format!("sealed-{name}"), seal(&bytes)));
    }
    for (name, bytes) in malformed_datagrams(&plain[0].1) {
        out.push(("envelope", name.clone(), bytes.clone()));
        out.push(("datagram", name, bytes));
    }
    for (name, bytes) in raw_entries_and_bodies() {
        out.push(("payload_roundtrip", name, bytes));
    }
    for (name, bytes) in index_seeds::seeds() {
        out.push(("index_message", name, bytes));
    }
    out
}

/// A datagram from the fixed sender to the fixed receiver, sealing `plain` as it is.
fn seal(plain: &[u8]) -> Vec<u8> {
    let sender = BoxKeypair::from_secret_bytes(SENDER_SECRET);
    let receiver = BoxKeypair::from_secret_bytes(RECEIVER_SECRET);
    let shared = crypto::precompute(&sender, &receiver.public_key());
    let mut out = Vec::new();
    emit_header(
        &mut out,
        &receiver.public_key(),
        &sender.public_key(),
        &NONCE,
    );
    let mut body = plain.to_vec();
    out.extend_from_slice(&crypto::seal_in_place(&shared, &NONCE, &mut body));
    out.extend_from_slice(&body);
    out
}

fn node(i: u8) -> NodeInfo {
    let addr = match i % 2 {
        0 => format!("10.0.{i}.1:{}", 33445 + u16::from(i)),
        _ => format!("[2001:db8::{i}]:{}", 33445 + u16::from(i)),
    };
    NodeInfo {
        key: PublicKey([i; 32]),
        addr: addr.parse().unwrap(),
    }
}

fn encode(payload: &Payload<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    payload.encode(&mut out).unwrap();
    out
}

/// One message of every id, with a typical body.
fn messages() -> Vec<(&'static str, PeerMessage<'static>)> {
    let ban = Ban {
        target: PublicKey([0x44; 32]),
        version: 7,
        action: BanAction::Ban,
    };
    vec![
        ("ping", PeerMessage::Ping),
        ("new_peer", PeerMessage::NewPeer(PublicKey([0x33; 32]))),
        ("ban", PeerMessage::Ban(ban)),
        (
            "topic",
            PeerMessage::Topic(Topic {
                version: 2,
                text: "fuzzing",
            }),
        ),
        ("quit", PeerMessage::Quit("")),
        ("name", PeerMessage::Name(b"alice")),
        ("status", PeerMessage::Status(Status::Away)),
        ("action", PeerMessage::Action(b"waves")),
        ("chat", PeerMessage::Chat(b"hello, group")),
        ("seed_action", PeerMessage::SeedAction(b"waves")),
    ]
}

/// Plaintexts (`[inner id][data]`): every valid packet kind, then malformed ones.
fn plaintexts() -> Vec<(String, Vec<u8>)> {
    let get_nodes = Payload::GetNodes(GetNodes {
        ping_id: *b"pingid01",
    });
    let send = |n: u8| {
        let nodes: NodeList = (1..=n).map(node).collect();
        Payload::SendNodes(SendNodes {
            ping_id: [n; 8],
            nodes,
        })
    };
    let mut out = vec![
        ("get_nodes".to_string(), encode(&get_nodes)),
        ("send_nodes_0".to_string(), encode(&send(0))),
        ("send_nodes_1".to_string(), encode(&send(1))),
        ("send_nodes_6".to_string(), encode(&send(6))),
    ];
    let max_text = vec![b'z'; Direct::MAX_TEXT];
    for (name, number, text) in [("direct", 1, &b"psst"[..]), ("direct_max", 2, &max_text)] {
        out.push((
            name.to_string(),
            encode(&Payload::Direct(Direct { number, text })),
        ));
    }
    for (name, n) in [("have_0", 0u8), ("have_256", 255)] {
        let mut bloom = BloomBuilder::new(usize::from(n) + 1, 10, 5, u64::from(n));
        for i in 0..=n {
            bloom.insert(&PublicKey([i; 32]), u32::from(i) * 7);
        }
        out.push((
            name.to_string(),
            encode(&Payload::Have(bloom.have(0, 8000))),
        ));
    }
    out.extend(broadcasts());
    out.extend(malformed_plaintexts(&out));
    out
}

/// A legacy and a signed broadcast of every message id, and the largest of each dialect.
fn broadcasts() -> Vec<(String, Vec<u8>)> {
    let author = Identity::from_seed(&SENDER_SECRET);
    let mut out = Vec::new();
    let max_legacy = vec![b'x'; Broadcast::max_body(false)];
    let max_signed = vec![b'y'; Broadcast::max_body(true)];
    let mut bodies: Vec<(String, u8, Vec<u8>)> = messages()
        .into_iter()
        .map(|(name, msg)| (name.to_string(), msg.id() as u8, msg.to_vec().unwrap()))
        .collect();
    bodies.push(("chat_max".into(), 64, max_legacy));
    for (number, (name, message_id, body)) in (1..).zip(&bodies) {
        let mut b = Broadcast {
            origin: author.public_key(),
            number,
            message_id: *message_id,
            body,
            trailer: None,
        };
        out.push((format!("broadcast_{name}"), encode(&Payload::Broadcast(b))));
        b.body = if name == "chat_max" {
            max_signed.as_slice()
        } else {
            body.as_slice()
        };
        b.trailer = Some(author.sign_broadcast(&CHAT_ID, &b).unwrap());
        out.push((format!("signed_{name}"), encode(&Payload::Broadcast(b))));
    }
    out
}

/// Plaintexts every decoder must reject (or, for the last ones, accept only at one layer).
fn malformed_plaintexts(valid: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let get = |name: &str| valid.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let mut seven = get("send_nodes_6");
    node(7).encode(&mut seven);
    let mut partial = get("send_nodes_1");
    partial.pop();
    let mut bad_family = get("send_nodes_1");
    bad_family[9 + 32] = 3;
    let mut padded = get("send_nodes_6");
    padded[9 + 51 + 37..9 + 51 + 49].fill(0xFF);
    let mut trailing = get("get_nodes");
    trailing.push(0);
    let mut short_trailer = get("signed_chat");
    short_trailer.truncate(1 + 37 + 95);
    let mut bad_topic = get("broadcast_topic");
    bad_topic.push(0xFF);
    let mut long_name = get("broadcast_name");
    long_name.extend_from_slice(&[b'n'; 128]);
    let mut bad_status = get("broadcast_status");
    *bad_status.last_mut().unwrap() = 3;
    let mut bad_ban = get("broadcast_ban");
    *bad_ban.last_mut().unwrap() = 3;
    [
        ("bad_empty", vec![]),
        ("bad_id_only", vec![48]),
        ("bad_unknown_id", vec![47, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("bad_get_nodes_trailing", trailing),
        ("bad_direct_short_number", vec![52, 0, 0, 1]),
        ("bad_send_nodes_7", seven),
        ("bad_send_nodes_partial", partial),
        ("bad_send_nodes_family", bad_family),
        ("send_nodes_ipv4_padding", padded),
        ("bad_signed_short_trailer", short_trailer),
        ("bad_topic_utf8", bad_topic),
        ("bad_name_129", long_name),
        ("bad_status_3", bad_status),
        ("bad_ban_action_3", bad_ban),
    ]
    .into_iter()
    .map(|(n, b)| (n.to_string(), b))
    .collect()
}

/// Datagrams that fail at each step of `open_datagram`, built from a valid plaintext.
fn malformed_datagrams(plain: &[u8]) -> Vec<(String, Vec<u8>)> {
    let good = seal(plain);
    let mut wrong_id = good.clone();
    wrong_id[0] = 32;
    let mut not_for_us = good.clone();
    not_for_us[1] ^= 1;
    let mut low_order = good.clone();
    low_order[33..65].fill(0);
    let mut bad_mac = good.clone();
    bad_mac[89] ^= 1;
    let mut long = good.clone();
    long.resize(1025, 0);
    [
        ("bad_dg_empty", vec![]),
        ("bad_dg_105", good[..105].to_vec()),
        ("bad_dg_1025", long),
        ("bad_dg_outer_id", wrong_id),
        ("bad_dg_not_for_us", not_for_us),
        ("bad_dg_low_order_sender", low_order),
        ("bad_dg_mac", bad_mac),
    ]
    .into_iter()
    .map(|(n, b)| (n.to_string(), b))
    .collect()
}

/// Raw node entries and `[message id][body]` inputs for `payload_roundtrip`.
fn raw_entries_and_bodies() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in [1, 2] {
        let mut entry = Vec::new();
        node(i).encode(&mut entry);
        out.push((format!("node_entry_{i}"), entry));
    }
    for (name, msg) in messages() {
        let mut raw = vec![msg.id() as u8];
        msg.encode(&mut raw).unwrap();
        out.push((format!("message_{name}"), raw));
    }
    out
}
