use clap::Parser;

use super::*;
use crate::crypto::{Identity, seal_in_place};
use crate::wire::envelope;

const PROTOCOL: &str = include_str!("../../../PROTOCOL.md");
const PK_11: &str = "7B4E909BBE7FFE44C465A220037D608EE35897D31EF972F07F74892CB0F73F13";
const PK_22: &str = "0FAA684ED28867B97F4A6A2DEE5DF8CE974E76B7018E3F22A1C4CF2678570F20";
const PK_33: &str = "7B0D47D93427F8311160781C7C733FD89F88970AEF490D8AA0EE19A4CB8A1B14";
const PK_44: &str = "FF2EE45601EC1B67310C7790404585AE697331EEE1C1F8CF2419731C1FFF3E6B";
/// X25519 key of `Identity::from_seed([0x33; 32])`, origin of the signed vector.
const ORIGIN: &str = "4EB4FAFEE2BD3018A24E310DE8106333C2B364EAED029A7F05D7B45CCC77683A";
/// Ed25519 key of the same identity.
const SIGNER: &str = "17CB79FB2B4120F2B1EC65E4198D6E08B28E813FEB01E4A400839B85E18080CE";
const NONCE: &str = "000102030405060708090A0B0C0D0E0F1011121314151617";
const RECEIVER: [u8; 32] = [0x22; 32];

/// The hex value of `field` in the PROTOCOL.md §7 vector `name`.
fn vector(name: &str, field: &str) -> Vec<u8> {
    let start = PROTOCOL.find(&format!("name: {name}\n")).unwrap();
    let block = PROTOCOL[start..].split("```").next().unwrap();
    let (mut digits, mut inside) = (String::new(), false);
    for line in block.lines().map(|l| l.split('#').next().unwrap()) {
        if line.starts_with(char::is_whitespace) {
            if inside {
                digits.push_str(line.trim());
            }
            continue;
        }
        inside = line.starts_with(&format!("{field}:"));
        if inside {
            digits.push_str(line[field.len() + 1..].trim());
        }
    }
    hex::decode(digits).unwrap()
}

fn chat_id() -> [u8; 32] {
    Identity::from_seed(&[0x44; 32]).signing_key()
}

fn prefix(sender: &str, len: usize) -> String {
    format!("outer=48 receiver={PK_22} sender={sender} nonce={NONCE} len={len}")
}

fn expected(name: &str) -> String {
    let ping = "ping_id=0123456789ABCDEF";
    let b = |n: u32, id: u8, msg: &str| {
        format!("inner=50 kind=broadcast origin={PK_11} number={n} message_id={id} message={msg}")
    };
    match name {
        "get_nodes" => format!("inner=48 kind=get_nodes {ping}"),
        "send_nodes_0" => format!("inner=49 kind=send_nodes {ping} nodes=0"),
        "send_nodes_2" => format!(
            "inner=49 kind=send_nodes {ping} nodes=2 node={PK_33}@192.0.2.1:33445 \
             node={PK_44}@[2001:db8::1]:33446"
        ),
        "broadcast_ping" => b(1, 0, "ping"),
        "broadcast_new_peer" => format!("{} peer={PK_33}", b(2, 16, "new_peer")),
        "broadcast_ban" => format!("{} target={PK_44} version=1 action=ban", b(3, 17, "ban")),
        "broadcast_topic" => {
            format!("{} topic_version=2 topic=\"Rust & Tox\"", b(4, 18, "topic"))
        }
        "broadcast_quit" => b(5, 24, "quit"),
        "broadcast_name" => format!("{} text=\"alice\"", b(6, 48, "name")),
        "broadcast_status" => format!("{} status=away", b(7, 49, "status")),
        "broadcast_action" => format!("{} text=\"waves\"", b(8, 63, "action")),
        "broadcast_chat" => format!("{} text=\"hello, world\"", b(9, 64, "chat")),
        "broadcast_seed_action" => format!("{} text=\"waves\"", b(10, 65, "seed_action")),
        _ => panic!("no expectation for {name}"),
    }
}

const LEGACY: [&str; 13] = [
    "get_nodes",
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
];

#[test]
fn every_legacy_vector_as_receiver() {
    for name in LEGACY {
        let d = vector(name, "datagram");
        let line = format!("{} {}", prefix(PK_11, d.len()), expected(name));
        assert_eq!(dissect(&RECEIVER, Some(&chat_id()), &d), line, "{name}");
    }
}

#[test]
fn every_legacy_vector_as_sender() {
    for name in LEGACY {
        let d = vector(name, "datagram");
        let line = format!("{} {}", prefix(PK_11, d.len()), expected(name));
        assert_eq!(dissect(&[0x11; 32], None, &d), line, "{name}");
    }
}

fn signed_line(signature: &str) -> String {
    format!(
        "{} inner=51 kind=signed_broadcast origin={ORIGIN} number=1 message_id=64 \
         message=chat text=\"hello, secure world\" signer={SIGNER} \
         signer_matches_origin=yes signature={signature}",
        prefix(ORIGIN, 258)
    )
}

#[test]
fn signed_broadcast() {
    let d = vector("signed_broadcast_chat", "datagram");
    let chat = chat_id();
    assert_eq!(dissect(&RECEIVER, Some(&chat), &d), signed_line("valid"));
    let unchecked = signed_line("unchecked(no --chat-id)");
    assert_eq!(dissect(&RECEIVER, None, &d), unchecked);
    let sender = vector("signed_broadcast_chat", "sender-secret");
    let sender: [u8; 32] = sender.try_into().unwrap();
    assert_eq!(dissect(&sender, None, &d), unchecked);
}

#[test]
fn signed_broadcast_for_another_chat_is_invalid() {
    let d = vector("signed_broadcast_chat", "datagram");
    let other = Identity::from_seed(&[0x55; 32]).signing_key();
    assert_eq!(dissect(&RECEIVER, Some(&other), &d), signed_line("invalid"));
}

/// A datagram from 0x11 to 0x22 around any plaintext, valid or not.
fn seal_raw(plain: &[u8]) -> Vec<u8> {
    let sender = BoxKeypair::from_secret_bytes([0x11; 32]);
    let receiver = BoxKeypair::from_secret_bytes(RECEIVER).public_key();
    let nonce: [u8; 24] = hex::decode(NONCE).unwrap().try_into().unwrap();
    let mut out = Vec::new();
    envelope::emit_header(&mut out, &receiver, &sender.public_key(), &nonce);
    let mut body = plain.to_vec();
    let tag = seal_in_place(&precompute(&sender, &receiver), &nonce, &mut body);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&body);
    out
}

#[test]
fn direct_vector_as_receiver_and_sender() {
    let d = vector("direct", "datagram");
    let line = format!(
        "{} inner=52 kind=direct number=11 text=\"psst ✓\"",
        prefix(PK_11, 118)
    );
    assert_eq!(dissect(&RECEIVER, None, &d), line);
    assert_eq!(dissect(&[0x11; 32], Some(&chat_id()), &d), line);
}

#[test]
fn direct_with_bad_text_is_shown_escaped_and_a_short_one_is_malformed() {
    let d = seal_raw(&[52, 0, 0, 0, 9, b'a', 0xFF]);
    let line = dissect(&RECEIVER, None, &d);
    assert!(
        line.ends_with(r#"inner=52 kind=direct number=9 text="a\xff""#),
        "{line}"
    );
    let d = seal_raw(&[52, 0, 0, 9]);
    let line = dissect(&RECEIVER, None, &d);
    assert!(line.starts_with("error=malformed"), "{line}");
    assert!(line.ends_with("inner=52 plaintext=34000009"), "{line}");
}

#[test]
fn signer_that_does_not_map_to_the_origin() {
    let id = Identity::from_seed(&[0x33; 32]);
    let origin = BoxKeypair::from_secret_bytes([0x11; 32]).public_key();
    let mut b = Broadcast {
        origin,
        number: 7,
        message_id: 0,
        body: &[],
        trailer: None,
    };
    b.trailer = Some(id.sign_broadcast(&chat_id(), &b).unwrap());
    let mut plain = Vec::new();
    Payload::Broadcast(b).encode(&mut plain).unwrap();
    let d = seal_raw(&plain);
    let head = format!(
        "{} inner=51 kind=signed_broadcast origin={PK_11} number=7 message_id=0 \
         message=ping signer={SIGNER} signer_matches_origin=no",
        prefix(PK_11, d.len())
    );
    let line = dissect(&RECEIVER, Some(&chat_id()), &d);
    assert_eq!(line, format!("{head} signature=invalid"));
    let line = dissect(&RECEIVER, None, &d);
    assert_eq!(line, format!("{head} signature=unchecked(no --chat-id)"));
}

#[test]
fn bad_hex() {
    let line = dissect_hex(&RECEIVER, None, "30 zz");
    assert_eq!(
        line,
        "error=bad-hex reason=\"Invalid character 'z' at position 2\""
    );
    let line = dissect_hex(&RECEIVER, None, "303");
    assert_eq!(line, "error=bad-hex reason=\"Odd number of digits\"");
}

#[test]
fn hex_input_ignores_whitespace_and_case() {
    let d = hex::encode(vector("get_nodes", "datagram"));
    let spaced: String = d.chars().flat_map(|c| [c, ' ']).collect();
    let line = format!("{} {}", prefix(PK_11, 114), expected("get_nodes"));
    assert_eq!(dissect_hex(&RECEIVER, None, &format!(" {spaced}\t")), line);
}

#[test]
fn malformed_envelope() {
    let line = dissect(&RECEIVER, None, &[48; 10]);
    let reason = "too short: need 106 more bytes, got 10";
    assert_eq!(
        line,
        format!("error=malformed reason=\"{reason}\" outer=48 len=10")
    );
    let line = dissect(&RECEIVER, None, &[]);
    let reason = "too short: need 106 more bytes, got 0";
    assert_eq!(line, format!("error=malformed reason=\"{reason}\" len=0"));
    let reason = "too long: 1025 bytes, at most 1024";
    let line = dissect(&RECEIVER, None, &[48; 1025]);
    assert_eq!(
        line,
        format!("error=malformed reason=\"{reason}\" outer=48 len=1025")
    );
    let mut d = vector("get_nodes", "datagram");
    d[0] = 32;
    let line = dissect(&RECEIVER, None, &d);
    let reason = "outer id 32 is not 48";
    assert_eq!(
        line,
        format!("error=malformed reason=\"{reason}\" outer=32 len=114")
    );
}

#[test]
fn not_ours() {
    let d = vector("get_nodes", "datagram");
    let line = dissect(&[0x33; 32], None, &d);
    let known = prefix(PK_11, 114);
    assert_eq!(line, format!("error=not-ours {known} ours={PK_33}"));
}

#[test]
fn bad_key() {
    let mut d = vector("get_nodes", "datagram");
    for key in [[0u8; 32], [0xFF; 32]] {
        d[33..65].copy_from_slice(&key);
        let known = prefix(&hex::encode_upper(key), 114);
        let reason = "sender key is of small order or not canonical";
        let line = dissect(&RECEIVER, None, &d);
        assert_eq!(line, format!("error=bad-key reason=\"{reason}\" {known}"));
    }
}

#[test]
fn cannot_open() {
    let mut d = vector("get_nodes", "datagram");
    d[113] ^= 1;
    let line = dissect(&RECEIVER, None, &d);
    assert_eq!(line, format!("error=cannot-open {}", prefix(PK_11, 114)));
}

#[test]
fn malformed_plaintext() {
    let d = seal_raw(&[47, 0]);
    let line = dissect(&RECEIVER, None, &d);
    let known = prefix(PK_11, 107);
    let reason = "unknown inner packet id 47";
    let want = format!("error=malformed reason=\"{reason}\" {known} inner=47 plaintext=2F00");
    assert_eq!(line, want);
    let d = seal_raw(&[48, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let line = dissect(&RECEIVER, None, &d);
    let known = prefix(PK_11, 115);
    let want = format!(
        "error=malformed reason=\"1 trailing bytes\" {known} inner=48 \
         plaintext=30010203040506070809"
    );
    assert_eq!(line, want);
}

fn legacy_broadcast(message_id: u8, body: &[u8]) -> Vec<u8> {
    let b = Broadcast {
        origin: BoxKeypair::from_secret_bytes([0x11; 32]).public_key(),
        number: 1,
        message_id,
        body,
        trailer: None,
    };
    let mut plain = Vec::new();
    Payload::Broadcast(b).encode(&mut plain).unwrap();
    seal_raw(&plain)
}

#[test]
fn malformed_body() {
    let d = legacy_broadcast(22, &[]);
    let line = dissect(&RECEIVER, None, &d);
    let known = format!(
        "{} inner=50 kind=broadcast origin={PK_11} number=1 message_id=22",
        prefix(PK_11, 143)
    );
    let reason = "unknown message id 22";
    assert_eq!(
        line,
        format!("error=malformed reason=\"{reason}\" {known} body=")
    );
    let d = legacy_broadcast(49, &[3]);
    let line = dissect(&RECEIVER, None, &d);
    let known = format!(
        "{} inner=50 kind=broadcast origin={PK_11} number=1 message_id=49 message=status",
        prefix(PK_11, 144)
    );
    let reason = "bad value for status";
    assert_eq!(
        line,
        format!("error=malformed reason=\"{reason}\" {known} body=03")
    );
}

#[test]
fn text_is_quoted_and_escaped() {
    assert_eq!(quoted(b"say \"hi\"\n"), r#""say \"hi\"\n""#);
    assert_eq!(quoted("héllo".as_bytes()), "\"héllo\"");
    assert_eq!(quoted(b"a\xFFb c"), r#""a\xffb c""#);
    let line = dissect(&RECEIVER, None, &legacy_broadcast(64, b"a b\x00"));
    assert!(line.ends_with(r#"message=chat text="a b\0""#), "{line}");
}

fn args(datagrams: &[&str]) -> Args {
    Args {
        secret_key: SecretKeyArg::new(RECEIVER),
        chat_id: None,
        datagrams: datagrams.iter().map(|s| s.to_string()).collect(),
    }
}

fn run_to_string(args: &Args, input: &str) -> String {
    let mut out = Vec::new();
    run_with(args, input.as_bytes(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn run_reads_stdin_lines_and_skips_blank_ones() {
    let d = hex::encode(vector("get_nodes", "datagram"));
    let input = format!("\n  {d}  \n\n\t\nnot hex\n{d}");
    let ok = format!("{} {}", prefix(PK_11, 114), expected("get_nodes"));
    let bad = "error=bad-hex reason=\"Invalid character 'n' at position 0\"";
    let out = run_to_string(&args(&[]), &input);
    assert_eq!(out, format!("{ok}\n{bad}\n{ok}\n"));
}

#[test]
fn run_prefers_positional_datagrams() {
    let d = hex::encode(vector("broadcast_quit", "datagram"));
    let out = run_to_string(&args(&[&d, "", "00"]), "ignored\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].ends_with("message=quit"), "{}", lines[0]);
    assert!(lines[1].starts_with("error=malformed"), "{}", lines[1]);
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[test]
fn key_arguments_are_checked_and_the_secret_is_not_printed() {
    let secret = "22".repeat(32);
    let cli = Cli::try_parse_from(["x", "--secret-key", &secret, "--chat-id", PK_44, "00"]);
    let cli = cli.unwrap();
    assert_eq!(cli.args.secret_key.bytes(), &RECEIVER);
    assert_eq!(hex::encode_upper(cli.args.chat_id.unwrap()), PK_44);
    assert!(!format!("{cli:?}").contains("2222"));
    assert!(Cli::try_parse_from(["x", "--secret-key", "22"]).is_err());
    assert!(Cli::try_parse_from(["x", "--secret-key", &secret, "--chat-id", "zz"]).is_err());
    assert!(Cli::try_parse_from(["x"]).is_err());
}
