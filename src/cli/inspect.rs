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
//! | `inner`    | inner id: `48`, `49`, `50`, `51` or `52`                            |
//! | `kind`     | `get_nodes`, `send_nodes`, `broadcast`, `signed_broadcast`, `direct` |
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
//! - `direct`: `number=<u32> text="..."` (the sender is the envelope's `sender`).
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
        Payload::Direct(d) => {
            f.push("kind", "direct");
            f.push("number", d.number);
            f.push("text", quoted(d.text));
        }
        Payload::Have(h) => {
            f.push("kind", "have");
            f.push("flags", h.flags);
            f.push("hashes", h.hashes);
            f.push("span_ms", h.span_ms);
            f.push("salt", format_args!("{:016X}", h.salt));
            f.push("filter_bits", h.filter().len() * 8);
        }
        Payload::HistoryRequest(q) => {
            f.push("kind", "history_request");
            f.push("request_id", q.request_id);
            f.push("cursor", q.cursor);
            f.push("within", q.within);
            if let Some((origin, lo, hi)) = q.origin {
                f.push("origin", format_args!("{origin} {lo}..={hi}"));
            }
        }
        Payload::HistoryPage(p) => {
            f.push("kind", "history_page");
            f.push("request_id", p.request_id);
            f.push("from", p.from);
            f.push("next", p.next);
            f.push("flags", p.flags);
            f.push("entries", p.entries().count());
        }
        Payload::Prune(p) => {
            f.push("kind", "prune");
            f.push("flags", p.flags);
            f.push("origin", p.origin);
        }
        Payload::Lazy(l) => {
            let kind = match l.kind {
                crate::wire::LazyKind::IHave => "ihave",
                crate::wire::LazyKind::Graft => "graft",
            };
            f.push("kind", kind);
            let ids: Vec<String> = l.ids().map(|(o, n)| format!("{o}#{n}")).collect();
            f.push("ids", ids.join(","));
        }
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
        MessageId::Facts => "facts",
        MessageId::FactSync => "fact_sync",
        MessageId::FactDigest => "fact_digest",
    }
}

fn describe_message(f: &mut Fields, message: &PeerMessage<'_>) {
    match message {
        PeerMessage::Ping | PeerMessage::Quit(_) => {}
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
        PeerMessage::Facts(list) | PeerMessage::FactSync(list) => {
            f.push("facts", list.iter().count())
        }
        PeerMessage::FactDigest(d) => match d {
            crate::wire::FactDigest::Summary(_) => f.push("digest", "summary"),
            crate::wire::FactDigest::Want { bucket, hashes } => {
                f.push("want_bucket", bucket);
                f.push("held", hashes.len() / crate::wire::digest::FACT_HASH_LEN)
            }
            crate::wire::FactDigest::WantAll => f.push("digest", "want_all"),
        },
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
mod tests;
