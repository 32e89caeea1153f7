//! `dhtchat inspect`: the operator's datagram dissector.
//!
//! Given the X25519 secret key of one end of a datagram (its receiver *or* its sender), it
//! opens the datagram and prints one line describing every field, or why it could not. It
//! reads hex datagrams from the command line, or one per line from stdin when none are given
//! (blank lines are skipped, whitespace inside a datagram is ignored). `docs/inspect.md` has
//! the same description with examples.
//!
//! The secret is tried as the receiver's first; if the datagram's receiver key is not ours
//! but its sender key is, the box is opened with (our secret, receiver key), which works
//! because crypto_box is symmetric.
//!
//! # Output format
//!
//! One line per datagram: `name=value` fields separated by single spaces, always in the
//! order below. Keys, nonces, ping ids and other raw bytes are upper-case hex; numbers are
//! decimal; text is in double quotes with Rust debug escaping (invalid UTF-8 is shown with
//! `\xNN` escapes), so a value never contains an unquoted space.
//!
//! Common prefix, every opened datagram:
//!
//! | field      | value                                                               |
//! |------------|---------------------------------------------------------------------|
//! | `outer`    | outer id, always `48`                                               |
//! | `receiver` | receiver's X25519 public key                                        |
//! | `sender`   | sender's X25519 public key                                          |
//! | `nonce`    | the 24-byte nonce                                                   |
//! | `len`      | datagram length in bytes                                            |
//! | `inner`    | inner id: `48`, `49`, `50` or `51`                                  |
//! | `kind`     | `get_nodes`, `send_nodes`, `broadcast` or `signed_broadcast`        |
//!
//! Then, by kind:
//!
//! - `get_nodes`: `ping_id=<hex>`.
//! - `send_nodes`: `ping_id=<hex> nodes=<n>`, then one `node=<KEY>@<IP:PORT>` per entry, in
//!   order (IPv6 as `[addr]:port`).
//! - `broadcast` and `signed_broadcast`: `origin=<hex> number=<u32> message_id=<id>
//!   message=<name>`, where name is `ping`, `new_peer`, `ban`, `topic`, `quit`, `name`,
//!   `status`, `action` (63), `chat` or `seed_action` (65); then the body:
//!
//!   | message                              | body fields                                  |
//!   |--------------------------------------|----------------------------------------------|
//!   | `ping`, `quit`                       | none                                         |
//!   | `new_peer`                           | `peer=<hex>`                                 |
//!   | `ban`                                | `target=<hex> version=<n> action=ban\|unban\|kick` |
//!   | `topic`                              | `topic_version=<n> topic="..."`              |
//!   | `name`, `action`, `chat`, `seed_action` | `text="..."`                              |
//!   | `status`                             | `status=online\|away\|busy`                  |
//!
//! - `signed_broadcast` only, after the body: `signer=<hex>` (the Ed25519 key of the
//!   trailer), `signer_matches_origin=yes|no` (does the signer map to the origin; `no` also
//!   when the signer is not a valid Ed25519 key), and `signature=valid|invalid` when
//!   `--chat-id` is given, `signature=unchecked(no --chat-id)` otherwise.
//!
//! # Errors
//!
//! A datagram that cannot be fully decoded gives `error=<reason>` first, then
//! `reason="<detail>"` where there is one, then every field known so far, in the order above:
//!
//! | error         | meaning                                                     | fields after it |
//! |---------------|-------------------------------------------------------------|-----------------|
//! | `bad-hex`     | the input is not an even number of hex digits               | `reason`        |
//! | `malformed`   | envelope: wrong length (not 106..=1024) or outer id not 48  | `reason`, `outer` (if ≥ 1 byte), `len` |
//! | `not-ours`    | neither the receiver nor the sender key is ours             | prefix up to `len`, `ours=<our public key>` |
//! | `bad-key`     | the other side's key is of small order or not canonical     | `reason`, prefix up to `len` |
//! | `cannot-open` | the box does not authenticate with our key                  | prefix up to `len` |
//! | `malformed`   | the plaintext does not decode (inner id, length, node entry) | `reason`, prefix up to `inner`, `plaintext=<hex>` |
//! | `malformed`   | the broadcast body does not decode (unknown message id, bad body) | `reason`, prefix, broadcast fields up to `message_id` (and `message` if the id is known), `body=<hex>` |
//!
//! [`run`] prints one line per datagram and fails only on I/O errors; an undecodable datagram
//! is an output line, not a failure. A bad `--secret-key` or `--chat-id` is a usage error
//! reported by the argument parser.

use std::fmt;
use std::io::{self, BufRead, Write};

use zeroize::Zeroizing;

use crate::crypto::{BoxKeypair, SignerKey, is_acceptable_key, open_packet, precompute};
use crate::wire::{
    BanAction, Broadcast, DecodeError, ENVELOPE_ID, Envelope, KEY_LEN, MAX_PLAINTEXT, MessageId,
    NodeList, Payload, PeerMessage, PublicKey, Status,
};

/// Arguments of `dhtchat inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// X25519 secret key (64 hex digits) of the datagrams' receiver or sender
    #[arg(long, value_name = "HEX", value_parser = parse_secret)]
    pub secret_key: SecretKeyArg,

    /// Chat id (the founder's Ed25519 public key, 64 hex digits) to verify signed broadcasts
    #[arg(long, value_name = "HEX", value_parser = parse_key)]
    pub chat_id: Option<[u8; KEY_LEN]>,

    /// Datagrams as hex; when none are given, read one per line from stdin
    #[arg(value_name = "DATAGRAM")]
    pub datagrams: Vec<String>,
}

/// A 32-byte secret key from the command line: wiped on drop, never printed.
#[derive(Clone)]
pub struct SecretKeyArg(Zeroizing<[u8; KEY_LEN]>);

impl SecretKeyArg {
    /// Wraps secret key bytes.
    pub fn new(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret key bytes.
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKeyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyArg(..)")
    }
}

fn parse_key(s: &str) -> Result<[u8; KEY_LEN], String> {
    let mut out = [0u8; KEY_LEN];
    hex::decode_to_slice(s.trim(), &mut out)
        .map_err(|e| format!("expected 64 hex digits (32 bytes): {e}"))?;
    Ok(out)
}

fn parse_secret(s: &str) -> Result<SecretKeyArg, String> {
    parse_key(s).map(SecretKeyArg::new)
}

/// Dissects every datagram named by `args` (or read from stdin) and prints one line each to
/// stdout. Fails only on I/O errors; a closed stdout (`| head`) ends the run quietly.
pub fn run(args: &Args) -> io::Result<()> {
    let result = run_with(args, io::stdin().lock(), io::stdout().lock());
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// [`run`] over any input and output: the positional datagrams if there are any, otherwise
/// one datagram per line of `input`. Blank inputs are skipped.
pub fn run_with(args: &Args, input: impl BufRead, mut out: impl Write) -> io::Result<()> {
    let secret = args.secret_key.bytes();
    let chat_id = args.chat_id.as_ref();
    let mut emit = |text: &str| -> io::Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        writeln!(out, "{}", dissect_hex(secret, chat_id, text))
    };
    if args.datagrams.is_empty() {
        for line in input.split(b'\n') {
            emit(&String::from_utf8_lossy(&line?))?;
        }
    } else {
        args.datagrams.iter().try_for_each(|d| emit(d))?;
    }
    out.flush()
}

/// Dissects one datagram given as hex (whitespace ignored); `error=bad-hex` if it is not hex.
pub fn dissect_hex(secret: &[u8; KEY_LEN], chat_id: Option<&[u8; KEY_LEN]>, text: &str) -> String {
    let digits: String = text.split_whitespace().collect();
    match hex::decode(digits) {
        Ok(bytes) => dissect(secret, chat_id, &bytes),
        Err(e) => render(&Fields::default(), Some(&Failure::new("bad-hex", e))),
    }
}

/// Dissects one datagram with our X25519 `secret` (receiver's or sender's) into one line of
/// `name=value` fields (see the module documentation for every field, in order).
pub fn dissect(secret: &[u8; KEY_LEN], chat_id: Option<&[u8; KEY_LEN]>, datagram: &[u8]) -> String {
    let mut fields = Fields::default();
    let failure = dissect_into(&mut fields, secret, chat_id, datagram).err();
    render(&fields, failure.as_ref())
}

/// The fields found so far, in output order.
#[derive(Debug, Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    fn push(&mut self, name: &'static str, value: impl fmt::Display) {
        self.0.push((name, value.to_string()));
    }
}

/// Why dissection stopped: the `error=` value and an optional `reason=` detail.
#[derive(Debug)]
struct Failure {
    error: &'static str,
    reason: Option<String>,
}

impl Failure {
    fn new(error: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            error,
            reason: Some(reason.to_string()),
        }
    }

    fn bare(error: &'static str) -> Self {
        Self {
            error,
            reason: None,
        }
    }
}

fn render(fields: &Fields, failure: Option<&Failure>) -> String {
    let mut parts = Vec::with_capacity(fields.0.len() + 2);
    if let Some(f) = failure {
        parts.push(format!("error={}", f.error));
        if let Some(reason) = &f.reason {
            parts.push(format!("reason={reason:?}"));
        }
    }
    parts.extend(
        fields
            .0
            .iter()
            .map(|(name, value)| format!("{name}={value}")),
    );
    parts.join(" ")
}

fn dissect_into(
    f: &mut Fields,
    secret: &[u8; KEY_LEN],
    chat_id: Option<&[u8; KEY_LEN]>,
    datagram: &[u8],
) -> Result<(), Failure> {
    let env = match Envelope::new_checked(datagram) {
        Ok(env) => env,
        Err(e) => return Err(malformed_envelope(f, datagram, e)),
    };
    f.push("outer", ENVELOPE_ID);
    f.push("receiver", env.receiver());
    f.push("sender", env.sender());
    f.push("nonce", hex::encode_upper(env.nonce()));
    f.push("len", datagram.len());
    let mut scratch = Zeroizing::new([0u8; MAX_PLAINTEXT]);
    let plain = open(f, secret, &env, &mut scratch)?;
    f.push("inner", plain.first().copied().unwrap_or_default());
    let payload = Payload::decode(plain).map_err(|e| {
        f.push("plaintext", hex::encode_upper(plain));
        Failure::new("malformed", e)
    })?;
    describe_payload(f, chat_id, &payload)
}

fn malformed_envelope(f: &mut Fields, datagram: &[u8], e: DecodeError) -> Failure {
    if let Some(outer) = datagram.first() {
        f.push("outer", outer);
    }
    f.push("len", datagram.len());
    Failure::new("malformed", e)
}

/// Opens the box with our secret as the receiver's, or else as the sender's.
fn open<'s>(
    f: &mut Fields,
    secret: &[u8; KEY_LEN],
    env: &Envelope<&[u8]>,
    scratch: &'s mut [u8; MAX_PLAINTEXT],
) -> Result<&'s [u8], Failure> {
    let ours = BoxKeypair::from_secret_bytes(*secret);
    let (peer, side) = if env.receiver() == ours.public_key() {
        (env.sender(), "sender")
    } else if env.sender() == ours.public_key() {
        (env.receiver(), "receiver")
    } else {
        f.push("ours", ours.public_key());
        return Err(Failure::bare("not-ours"));
    };
    if !is_acceptable_key(&peer) {
        let reason = format!("{side} key is of small order or not canonical");
        return Err(Failure::new("bad-key", reason));
    }
    let shared = precompute(&ours, &peer);
    open_packet(&shared, env, scratch).map_err(|_| Failure::bare("cannot-open"))
}

fn describe_payload(
    f: &mut Fields,
    chat_id: Option<&[u8; KEY_LEN]>,
    payload: &Payload<'_>,
) -> Result<(), Failure> {
    match payload {
        Payload::GetNodes(g) => {
            f.push("kind", "get_nodes");
            f.push("ping_id", hex::encode_upper(g.ping_id));
        }
        Payload::SendNodes(s) => {
            f.push("kind", "send_nodes");
            f.push("ping_id", hex::encode_upper(s.ping_id));
            describe_nodes(f, &s.nodes);
        }
        Payload::Broadcast(b) => describe_broadcast(f, chat_id, b)?,
    }
    Ok(())
}

fn describe_nodes(f: &mut Fields, nodes: &NodeList) {
    f.push("nodes", nodes.len());
    for node in nodes.iter() {
        f.push("node", format_args!("{}@{}", node.key, node.addr));
    }
}

fn describe_broadcast(
    f: &mut Fields,
    chat_id: Option<&[u8; KEY_LEN]>,
    b: &Broadcast<'_>,
) -> Result<(), Failure> {
    let kind = match b.trailer {
        Some(_) => "signed_broadcast",
        None => "broadcast",
    };
    f.push("kind", kind);
    f.push("origin", b.origin);
    f.push("number", b.number);
    f.push("message_id", b.message_id);
    if let Ok(id) = MessageId::try_from(b.message_id) {
        f.push("message", message_name(id));
    }
    let message = PeerMessage::decode(b.message_id, b.body).map_err(|e| {
        f.push("body", hex::encode_upper(b.body));
        Failure::new("malformed", e)
    })?;
    describe_message(f, &message);
    describe_signature(f, chat_id, b);
    Ok(())
}

fn message_name(id: MessageId) -> &'static str {
    match id {
        MessageId::Ping => "ping",
        MessageId::NewPeer => "new_peer",
        MessageId::Ban => "ban",
        MessageId::Topic => "topic",
        MessageId::Quit => "quit",
        MessageId::Name => "name",
        MessageId::Status => "status",
        MessageId::Action => "action",
        MessageId::Chat => "chat",
        MessageId::SeedAction => "seed_action",
    }
}

fn describe_message(f: &mut Fields, message: &PeerMessage<'_>) {
    match message {
        PeerMessage::Ping | PeerMessage::Quit => {}
        PeerMessage::NewPeer(key) => f.push("peer", key),
        PeerMessage::Ban(ban) => {
            f.push("target", ban.target);
            f.push("version", ban.version);
            f.push("action", ban_action(ban.action));
        }
        PeerMessage::Topic(topic) => {
            f.push("topic_version", topic.version);
            f.push("topic", format_args!("{:?}", topic.text));
        }
        PeerMessage::Status(status) => f.push("status", status_name(*status)),
        PeerMessage::Name(text)
        | PeerMessage::Action(text)
        | PeerMessage::Chat(text)
        | PeerMessage::SeedAction(text) => f.push("text", quoted(text)),
    }
}

fn ban_action(action: BanAction) -> &'static str {
    match action {
        BanAction::Unban => "unban",
        BanAction::Ban => "ban",
        BanAction::Kick => "kick",
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Online => "online",
        Status::Away => "away",
        Status::Busy => "busy",
    }
}

/// Text in double quotes: Rust debug escaping if it is UTF-8, `\xNN` escapes otherwise.
fn quoted(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("\"{}\"", bytes.escape_ascii()),
    }
}

fn describe_signature(f: &mut Fields, chat_id: Option<&[u8; KEY_LEN]>, b: &Broadcast<'_>) {
    let Some(trailer) = b.trailer else {
        return;
    };
    f.push("signer", PublicKey(trailer.signer));
    let signer = SignerKey::new(b.origin, &trailer.signer);
    f.push(
        "signer_matches_origin",
        if signer.is_ok() { "yes" } else { "no" },
    );
    let verdict = match (chat_id, signer) {
        (None, _) => "unchecked(no --chat-id)",
        (Some(chat_id), Ok(signer)) if signer.verify(chat_id, b).is_ok() => "valid",
        (Some(_), _) => "invalid",
    };
    f.push("signature", verdict);
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::crypto::{Identity, seal_in_place};
    use crate::wire::envelope;

    const PROTOCOL: &str = include_str!("../../PROTOCOL.md");
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
            format!(
                "inner=50 kind=broadcast origin={PK_11} number={n} message_id={id} message={msg}"
            )
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
        let d = legacy_broadcast(19, &[]);
        let line = dissect(&RECEIVER, None, &d);
        let known = format!(
            "{} inner=50 kind=broadcast origin={PK_11} number=1 message_id=19",
            prefix(PK_11, 143)
        );
        let reason = "unknown message id 19";
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
}
