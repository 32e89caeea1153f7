//! Cost of the wire codecs and the crypto layer, each next to a bare-crypto baseline on the
//! same bytes, so every group reads as a ratio (see benches/README.md).
//!
//! Groups:
//! - `envelope`: `Envelope::new_checked` and the accessors on a 114-byte get_nodes datagram.
//! - `nonce`: one 24-byte nonce from a seeded ChaCha20 RNG.
//! - `receive/<packet>`: `bare_open` (copy the ciphertext to a scratch buffer, then
//!   XSalsa20-Poly1305 open in place with a precomputed key) against the library's receive path
//!   `Envelope::new_checked` → shared key → `open_packet` → `Payload::decode`, with the shared
//!   key from a warm `SharedKeys` (`open_decode_cached`), held directly
//!   (`open_decode_precomputed`) or computed per packet (`open_decode_uncached`).
//! - `send/<packet>`: `bare_seal` (XSalsa20-Poly1305 seal in place of the same plaintext
//!   length) against `seal_packet` (encode + seal into a reused `Vec`), with the same three key
//!   sources.
//! - `sign/<packet>`: Ed25519 over the broadcast signing input: bare `verify_strict` and bare
//!   `sign` against `SignerKey::verify` (cached signer), `verify_broadcast` (no prior state)
//!   and `Identity::sign_broadcast`.
//!
//! Throughput is the datagram length (the signing-input length for `sign/`).
//!
//! With `WIRE_BENCH_PAIRED=1` the binary skips criterion and times each candidate against its
//! baseline in alternating short blocks, printing the median of the per-round ratios: on a
//! shared, loaded machine that ratio is stable where two sequential criterion medians are not.

use std::hint::black_box;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use dhtchat::crypto::{
    BoxKeypair, Identity, SharedKeys, SignerKey, open_in_place, open_packet, precompute,
    random_nonce, seal_in_place, seal_packet, verify_broadcast,
};
use dhtchat::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, Envelope, GetNodes, MAC_LEN, MAX_PLAINTEXT, NodeInfo, NodeList,
    Payload, PublicKey, SendNodes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NONCE: [u8; 24] = [0x42; 24];
const CHAT_ID: [u8; 32] = [0xC4; 32];
const SEED: [u8; 32] = [0x5E; 32];
static LEGACY_BODY: [u8; 881] = [0x61; 881];
static SIGNED_BODY: [u8; 785] = [0x62; 785];

/// One benchmarked path: `run` does one packet's work and owns everything it needs.
struct Case {
    group: String,
    name: &'static str,
    bytes: u64,
    run: Box<dyn FnMut()>,
}

impl Case {
    fn new(group: &str, name: &'static str, bytes: usize, run: impl FnMut() + 'static) -> Self {
        Self {
            group: group.to_owned(),
            name,
            bytes: bytes as u64,
            run: Box::new(run),
        }
    }
}

/// (group, baseline, candidate): the ratios benches/README.md reports.
fn pairs() -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for packet in PACKETS.map(|(name, _)| name) {
        for (base, cand) in [
            ("bare_open", "open_decode_cached"),
            ("bare_open", "open_decode_precomputed"),
            ("open_decode_cached", "open_decode_uncached"),
        ] {
            out.push((format!("receive/{packet}"), base, cand));
        }
        for (base, cand) in [
            ("bare_seal", "encode_seal_cached"),
            ("bare_seal", "encode_seal_precomputed"),
            ("encode_seal_cached", "encode_seal_uncached"),
        ] {
            out.push((format!("send/{packet}"), base, cand));
        }
    }
    for (base, cand) in [
        ("bare_ed25519_verify", "signer_key_verify_cached"),
        ("bare_ed25519_verify", "verify_broadcast_no_state"),
        ("bare_ed25519_sign", "sign_broadcast"),
    ] {
        out.push((SIGN_GROUP.to_owned(), base, cand));
    }
    out
}

/// Alice (0x11) sends, Bob (0x22) receives.
fn alice() -> BoxKeypair {
    BoxKeypair::from_secret_bytes([0x11; 32])
}

fn bob() -> BoxKeypair {
    BoxKeypair::from_secret_bytes([0x22; 32])
}

/// A datagram from Alice to Bob.
fn seal(payload: &Payload<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let shared = precompute(&alice(), &bob().public_key());
    seal_packet(
        &shared,
        &bob().public_key(),
        &alice().public_key(),
        &NONCE,
        payload,
        &mut out,
    )
    .unwrap();
    out
}

const PACKETS: [(&str, usize); 3] = [
    ("get_nodes_114B", 114),
    ("send_nodes6_420B", 420),
    ("broadcast881_1024B", 1024),
];

fn payload(packet: &str) -> Payload<'static> {
    match packet {
        "get_nodes_114B" => Payload::GetNodes(GetNodes { ping_id: [7; 8] }),
        "send_nodes6_420B" => Payload::SendNodes(SendNodes {
            ping_id: [7; 8],
            nodes: six_nodes(),
        }),
        _ => Payload::Broadcast(Broadcast {
            origin: alice().public_key(),
            number: 7,
            message_id: 64,
            body: &LEGACY_BODY,
            trailer: None,
        }),
    }
}

fn six_nodes() -> NodeList {
    (1..=6u8)
        .map(|i| NodeInfo {
            key: PublicKey([i; 32]),
            addr: match i % 2 {
                0 => SocketAddr::from(([10, 0, 0, i], 33_000 + u16::from(i))),
                _ => SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)], 443)),
            },
        })
        .collect()
}

/// `receive/<packet>`: Bob opens and decodes Alice's datagram.
fn receive_cases(packet: &'static str, expect_len: usize) -> Vec<Case> {
    let datagram = seal(&payload(packet));
    assert_eq!(datagram.len(), expect_len, "{packet}");
    let group = format!("receive/{packet}");
    let len = datagram.len();
    let warm_keys = || {
        let mut keys = SharedKeys::new(NonZeroUsize::new(64).unwrap());
        keys.get(&bob(), &alice().public_key()).unwrap();
        keys
    };

    let bare = {
        let shared = precompute(&bob(), &alice().public_key());
        let tag: [u8; MAC_LEN] = datagram[ENVELOPE_HEADER_LEN..][..MAC_LEN]
            .try_into()
            .unwrap();
        let cipher = datagram[ENVELOPE_HEADER_LEN + MAC_LEN..].to_vec();
        let mut scratch = [0u8; MAX_PLAINTEXT];
        move || {
            let buf = &mut scratch[..cipher.len()];
            buf.copy_from_slice(black_box(&cipher));
            open_in_place(&shared, black_box(&NONCE), &tag, buf).unwrap();
            black_box(buf[0]);
        }
    };
    let cached = {
        let (datagram, bob, mut keys) = (datagram.clone(), bob(), warm_keys());
        let mut scratch = [0u8; MAX_PLAINTEXT];
        move || {
            let env = Envelope::new_checked(black_box(&datagram[..])).unwrap();
            let shared = keys.get(&bob, &env.sender()).unwrap();
            let plain = open_packet(shared, &env, &mut scratch).unwrap();
            black_box(Payload::decode(plain).unwrap());
        }
    };
    let precomputed = {
        let datagram = datagram.clone();
        let shared = precompute(&bob(), &alice().public_key());
        let mut scratch = [0u8; MAX_PLAINTEXT];
        move || {
            let env = Envelope::new_checked(black_box(&datagram[..])).unwrap();
            let plain = open_packet(&shared, &env, &mut scratch).unwrap();
            black_box(Payload::decode(plain).unwrap());
        }
    };
    let uncached = {
        let bob = bob();
        let mut scratch = [0u8; MAX_PLAINTEXT];
        move || {
            let env = Envelope::new_checked(black_box(&datagram[..])).unwrap();
            let shared = precompute(&bob, &env.sender());
            let plain = open_packet(&shared, &env, &mut scratch).unwrap();
            black_box(Payload::decode(plain).unwrap());
        }
    };
    vec![
        Case::new(&group, "bare_open", len, bare),
        Case::new(&group, "open_decode_cached", len, cached),
        Case::new(&group, "open_decode_precomputed", len, precomputed),
        Case::new(&group, "open_decode_uncached", len, uncached),
    ]
}

/// `send/<packet>`: Alice encodes and seals into a reused `Vec` (no allocation per packet).
fn send_cases(packet: &'static str, expect_len: usize) -> Vec<Case> {
    let payload = payload(packet);
    let expected = seal(&payload);
    assert_eq!(expected.len(), expect_len, "{packet}");
    let group = format!("send/{packet}");
    let len = expected.len();
    let (alice_pk, bob_pk) = (alice().public_key(), bob().public_key());

    let bare = {
        let shared = precompute(&alice(), &bob_pk);
        let mut plain = Vec::new();
        payload.encode(&mut plain).unwrap();
        move || {
            black_box(seal_in_place(&shared, black_box(&NONCE), &mut plain));
        }
    };
    let cached = {
        let (alice, mut keys) = (alice(), SharedKeys::new(NonZeroUsize::new(64).unwrap()));
        keys.get(&alice, &bob_pk).unwrap();
        checked_send(&expected, move |out| {
            let shared = keys.get(&alice, &bob_pk).unwrap();
            seal_packet(shared, &bob_pk, &alice_pk, &NONCE, black_box(&payload), out).unwrap();
        })
    };
    let precomputed = {
        let shared = precompute(&alice(), &bob_pk);
        checked_send(&expected, move |out| {
            seal_packet(
                &shared,
                &bob_pk,
                &alice_pk,
                &NONCE,
                black_box(&payload),
                out,
            )
            .unwrap();
        })
    };
    let uncached = {
        let alice = alice();
        checked_send(&expected, move |out| {
            let shared = precompute(&alice, black_box(&bob_pk));
            seal_packet(
                &shared,
                &bob_pk,
                &alice_pk,
                &NONCE,
                black_box(&payload),
                out,
            )
            .unwrap();
        })
    };
    vec![
        Case::new(&group, "bare_seal", len, bare),
        Case::new(&group, "encode_seal_cached", len, cached),
        Case::new(&group, "encode_seal_precomputed", len, precomputed),
        Case::new(&group, "encode_seal_uncached", len, uncached),
    ]
}

/// Checks once, outside the timing, that `build` makes `expected`; returns the timed path,
/// which rebuilds the datagram into the same `Vec` (no allocation per packet).
fn checked_send(
    expected: &[u8],
    mut build: impl FnMut(&mut Vec<u8>) + 'static,
) -> impl FnMut() + 'static {
    let mut out = Vec::with_capacity(expected.len());
    build(&mut out);
    assert_eq!(
        out, expected,
        "the benchmarked send path builds the same datagram"
    );
    move || {
        out.clear();
        build(&mut out);
        black_box(out.len());
    }
}

const SIGN_GROUP: &str = "sign/signed_broadcast785_1024B";

/// `sign/...`: a signed broadcast with the largest signed body (a 1024-byte datagram).
fn sign_cases() -> Vec<Case> {
    let id = Identity::from_seed(&SEED);
    let mut b = Broadcast {
        origin: id.public_key(),
        number: 7,
        message_id: 64,
        body: &SIGNED_BODY,
        trailer: None,
    };
    b.trailer = Some(id.sign_broadcast(&CHAT_ID, &b).unwrap());
    let trailer = b.trailer.unwrap();
    verify_broadcast(&CHAT_ID, &b).unwrap();
    let signer = SignerKey::new(b.origin, &trailer.signer).unwrap();

    // The same signing input and signature, used with ed25519-dalek directly.
    let mut input = Vec::new();
    b.write_signing_input(&CHAT_ID, &mut input);
    let key = VerifyingKey::from_bytes(&trailer.signer).unwrap();
    let sig = Signature::from_bytes(&trailer.signature);
    key.verify_strict(&input, &sig).unwrap();
    let signing = SigningKey::from_bytes(&SEED);
    assert_eq!(signing.sign(&input).to_bytes(), trailer.signature);

    let len = input.len();
    let input2 = input.clone();
    vec![
        Case::new(SIGN_GROUP, "bare_ed25519_verify", len, move || {
            key.verify_strict(black_box(&input), black_box(&sig))
                .unwrap();
        }),
        Case::new(SIGN_GROUP, "signer_key_verify_cached", len, move || {
            signer.verify(&CHAT_ID, black_box(&b)).unwrap();
        }),
        Case::new(SIGN_GROUP, "verify_broadcast_no_state", len, move || {
            verify_broadcast(&CHAT_ID, black_box(&b)).unwrap();
        }),
        Case::new(SIGN_GROUP, "bare_ed25519_sign", len, move || {
            black_box(signing.sign(black_box(&input2)));
        }),
        Case::new(SIGN_GROUP, "sign_broadcast", len, move || {
            black_box(id.sign_broadcast(&CHAT_ID, black_box(&b)).unwrap());
        }),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (packet, len) in PACKETS {
        cases.extend(receive_cases(packet, len));
        cases.extend(send_cases(packet, len));
    }
    cases.extend(sign_cases());
    cases
}

/// The two tiny paths, benchmarked without the `Case` indirection.
fn envelope_and_nonce(c: &mut Criterion) {
    let datagram = seal(&payload("get_nodes_114B"));
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Bytes(datagram.len() as u64));
    g.bench_function("parse_get_nodes_114B", |b| {
        b.iter(|| {
            let env = Envelope::new_checked(black_box(&datagram[..])).unwrap();
            black_box((
                env.receiver(),
                env.sender(),
                env.nonce(),
                env.sealed().len(),
            ))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("nonce");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    g.bench_function("random_nonce_chacha20", |b| {
        b.iter(|| random_nonce(&mut rng));
    });
    g.finish();
}

fn criterion_benches(c: &mut Criterion) {
    envelope_and_nonce(c);
    let cases = all_cases();
    let mut i = 0;
    let mut cases = cases.into_iter().peekable();
    while let Some(first) = cases.next() {
        let mut g = c.benchmark_group(first.group.clone());
        g.throughput(Throughput::Bytes(first.bytes));
        let mut run = |mut case: Case| {
            g.bench_function(case.name, |b| b.iter(&mut case.run));
        };
        let group = first.group.clone();
        run(first);
        while let Some(case) = cases.next_if(|c| c.group == group) {
            run(case);
        }
        g.finish();
        i += 1;
    }
    assert_eq!(
        i,
        2 * PACKETS.len() + 1,
        "one criterion group per group name"
    );
}

/// Times `base` and `cand` in alternating blocks of about `block_ns`; returns the median
/// per-packet nanoseconds of each and the median of the per-round ratios `cand / base`.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the wall clock"
)]
fn paired(base: &mut dyn FnMut(), cand: &mut dyn FnMut(), rounds: usize) -> (f64, f64, f64) {
    use std::time::Instant;
    let block = Duration::from_millis(2);
    let time = |f: &mut dyn FnMut(), n: u32| {
        let t = Instant::now();
        (0..n).for_each(|_| f());
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let iters = |f: &mut dyn FnMut()| {
        let est = time(f, 20).max(1.0);
        ((block.as_nanos() as f64 / est) as u32).max(1)
    };
    let (nb, nc) = (iters(base), iters(cand));
    let (mut tb, mut tc, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (b, c) = (time(base, nb), time(cand, nc));
        tb.push(b);
        tc.push(c);
        ratio.push(c / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut tb), median(&mut tc), median(&mut ratio))
}

fn paired_report() {
    let mut cases = all_cases();
    println!("| group | baseline | candidate | baseline ns | candidate ns | ratio |");
    println!("|---|---|---|---:|---:|---:|");
    for (group, base, cand) in pairs() {
        let find = |cases: &[Case], name| {
            cases
                .iter()
                .position(|c| c.group == group && c.name == name)
                .unwrap()
        };
        let (ib, ic) = (find(&cases, base), find(&cases, cand));
        let mut b = std::mem::replace(&mut cases[ib].run, Box::new(|| {}));
        let (nb, nc, r) = paired(&mut b, &mut cases[ic].run, 201);
        cases[ib].run = b;
        println!("| {group} | {base} | {cand} | {nb:.0} | {nc:.0} | {r:.3} |");
    }
}

fn main() {
    if std::env::var_os("WIRE_BENCH_PAIRED").is_some() {
        paired_report();
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
