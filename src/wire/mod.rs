//! Byte codecs for everything dhtchat puts on the wire (PROTOCOL.md §2–§5).
//!
//! This module only turns bytes into typed values and back. It does no crypto, no IO and keeps
//! no state. Every decoder works on untrusted bytes and follows one contract:
//!
//! - decoding never panics, whatever the input;
//! - every length is checked before it is read, every list is bounded, trailing bytes are an
//!   error;
//! - errors are small `Copy` values ([`DecodeError`]) that carry numbers, never input bytes;
//! - encoders check every size *before* they write anything ([`EncodeError`]), so a caller can
//!   check first and only then spend state (a message number, a nonce).
//!
//! Layers, outermost first: [`envelope`] (the clear header around a sealed box), [`payload`]
//! (the sealed plaintext: get_nodes, send_nodes, broadcast), [`node_info`] (the 51-byte node
//! entry inside send_nodes), [`broadcast`] (the relayed header and the signature trailer) and
//! [`message`] (the typed body of each peer message).

pub mod broadcast;
pub mod digest;
pub mod envelope;
pub mod fact;
pub mod have;
pub mod history;
pub mod lazy;
pub mod message;
pub mod node_info;
pub mod payload;
mod public_key;
mod reader;
mod values;

pub use broadcast::{Broadcast, SignatureTrailer};
pub use digest::FactDigest;
pub use envelope::Envelope;
pub use fact::{Fact, FactKind, FactList, FactValue, HistoryVisibility, Role, VoiceLevel};
pub use have::{BloomBuilder, Have, MAX_FILTER_LEN, MAX_HASHES, item_key};
pub use history::{HistoryEntry, HistoryPage, HistoryRequest};
pub use lazy::{LAZY_ID_LEN, Lazy, LazyKind, MAX_LAZY_IDS};
pub use message::{Ban, BanAction, MessageId, PeerMessage, Status, Topic};
pub use node_info::NodeInfo;
pub use payload::{Direct, GetNodes, NodeList, Payload, PayloadId, Prune, SendNodes};
pub use public_key::{PublicKey, PublicKeyParseError};
pub(crate) use reader::Reader;

/// Outer packet id of every group-chat datagram (`NET_PACKET_GROUP_CHATS`).
pub const ENVELOPE_ID: u8 = 48;
/// Length of a public key (X25519 or Ed25519), in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an envelope nonce, in bytes.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag that starts every sealed box, in bytes.
pub const MAC_LEN: usize = 16;
/// Largest datagram sent or accepted (`MAX_CRYPTO_REQUEST_SIZE`).
pub const MAX_DATAGRAM: usize = 1024;
/// Clear header of the envelope: outer id, receiver key, sender key, nonce.
pub const ENVELOPE_HEADER_LEN: usize = 1 + KEY_LEN + KEY_LEN + NONCE_LEN;
/// Smallest datagram accepted: header, MAC and the inner id (106 bytes, as the C code).
pub const MIN_DATAGRAM: usize = ENVELOPE_HEADER_LEN + MAC_LEN + 1;
/// Largest plaintext (inner id plus data) that fits in one datagram.
pub const MAX_PLAINTEXT: usize = MAX_DATAGRAM - ENVELOPE_HEADER_LEN - MAC_LEN;
/// Largest data after the inner id (918 bytes).
pub const MAX_DATA: usize = MAX_PLAINTEXT - 1;
/// Length of a get_nodes ping id (opaque, echoed verbatim).
pub const PING_ID_LEN: usize = 8;
/// Most node entries in one send_nodes.
pub const MAX_NODES: usize = 6;
/// Length of one node entry inside send_nodes.
pub const NODE_INFO_LEN: usize = 51;
/// Broadcast header: origin key, message number, message id.
pub const BROADCAST_HEADER_LEN: usize = KEY_LEN + 4 + 1;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Signature trailer of a signed broadcast: signer's Ed25519 key, then the signature.
pub const SIGNATURE_TRAILER_LEN: usize = KEY_LEN + SIGNATURE_LEN;
/// Largest payload of an unsigned (legacy) broadcast: 881 bytes.
pub const MAX_BROADCAST_PAYLOAD: usize = MAX_DATA - BROADCAST_HEADER_LEN;
/// Largest payload of a signed (secure) broadcast: 785 bytes.
pub const MAX_SIGNED_PAYLOAD: usize = MAX_BROADCAST_PAYLOAD - SIGNATURE_TRAILER_LEN;

/// Why bytes could not be decoded. Small and `Copy`: it never holds input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the field needs.
    #[error("too short: need {need} more bytes, got {got}")]
    TooShort {
        /// Bytes the next field needs.
        need: usize,
        /// Bytes that were left.
        got: usize,
    },
    /// More bytes than the packet or field may have.
    #[error("too long: {len} bytes, at most {max}")]
    TooLong {
        /// Length seen.
        len: usize,
        /// Largest length allowed.
        max: usize,
    },
    /// The outer packet id is not 48.
    #[error("outer id {0} is not 48")]
    NotEnvelope(u8),
    /// The inner packet id is not one we know.
    #[error("unknown inner packet id {0}")]
    UnknownPayloadId(u8),
    /// The peer message id is not one we know.
    #[error("unknown message id {0}")]
    UnknownMessageId(u8),
    /// A node entry's address family is neither 2 (IPv4) nor 10 (IPv6).
    #[error("address family {0} is neither 2 nor 10")]
    BadFamily(u8),
    /// Bytes were left after the last field.
    #[error("{extra} trailing bytes")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
    /// The node list of a send_nodes is not a whole number of entries.
    #[error("node list of {len} bytes is not a multiple of 51")]
    PartialNode {
        /// Length of the node list.
        len: usize,
    },
    /// A field holds a value outside its range.
    #[error("bad value for {0}")]
    BadValue(&'static str),
}

/// Why a value could not be encoded. Returned before any byte is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded form would be longer than the field or datagram allows.
    #[error("too long: {len} bytes, at most {max}")]
    TooLong {
        /// Length the value needs.
        len: usize,
        /// Largest length allowed.
        max: usize,
    },
    /// A field holds a value outside its range.
    #[error("bad value for {0}")]
    BadValue(&'static str),
}
