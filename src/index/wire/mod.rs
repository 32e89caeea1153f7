//! Byte codecs of the index packets (PROTOCOL.md §8.3–§8.5).
//!
//! Two layers, both inside the usual crypto_box envelope (§2):
//!
//! - **Fragments** (this file): every index datagram's plaintext is
//!   `[inner id 1][request id 8][index 1][count 1][data]`, inner id 96 for a request, 97 for a
//!   reply. A message longer than one datagram is cut into `count` fragments; every fragment
//!   but the last carries exactly [`FRAGMENT_DATA`] bytes, so the receiver knows where each
//!   one goes. At most [`MAX_FRAGMENTS`], so a message is at most [`MAX_MESSAGE`] bytes.
//! - **Messages** ([`request`], [`reply`]): the reassembled bytes, `[kind 1][body]` for a
//!   request and `[kind 1][status 1][body]` for a reply.
//!
//! Same contract as [`crate::wire`]: decoding never panics, every length is checked and
//! bounded, trailing bytes are an error, errors carry no input bytes.

pub mod chats;
pub mod devices;
pub mod mailbox;
pub mod reply;
pub mod request;

use crypto_box::SalsaBox;

pub use chats::{ChatReply, ChatRequest, StoredChatMessage};
pub use devices::{DeviceReply, DeviceRequest};
pub use mailbox::{MailboxReply, MailboxRequest, StoredPm};
pub use reply::{AccountBundle, Reply, ReplyBody, RoomInfo, RoomJoin, RoomMessage, Status};
pub use request::{Credentials, Kind, Registration, Request};

use crate::crypto::seal_in_place;
use crate::wire::{
    DecodeError, ENVELOPE_HEADER_LEN, MAC_LEN, MAX_DATA, NONCE_LEN, PublicKey, Reader, envelope,
};

/// Inner id of an index request fragment.
pub const REQUEST_ID: u8 = 96;
/// Inner id of an index reply fragment.
pub const REPLY_ID: u8 = 97;
/// Fragment header after the inner id: request id, index, count.
pub const FRAGMENT_HEADER: usize = 8 + 1 + 1;
/// Data bytes in every fragment but the last (908).
pub const FRAGMENT_DATA: usize = MAX_DATA - FRAGMENT_HEADER;
/// Most fragments of one message.
pub const MAX_FRAGMENTS: usize = 80;
/// Longest message (request or reply) after reassembly: 72,640 bytes.
pub const MAX_MESSAGE: usize = FRAGMENT_DATA * MAX_FRAGMENTS;
/// Length of an account's Argon2id salt.
pub const SALT_LEN: usize = 16;
/// A secretbox: nonce 24, MAC 16, then the ciphertext.
pub const BOX_OVERHEAD: usize = NONCE_LEN + MAC_LEN;
/// A wrapped 32-byte key (the account key under the KEK, or the identity seed under the
/// account key): 72 bytes.
pub const WRAPPED_KEY_LEN: usize = BOX_OVERHEAD + 32;
/// Largest encrypted list blob (room list, group-chat/PM list), secretbox included.
pub const MAX_BLOB: usize = 32 * 1024;
/// Length of a login challenge.
pub const CHALLENGE_LEN: usize = 32;

/// One fragment of a request or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// True for a reply (inner id 97), false for a request (96).
    pub reply: bool,
    /// The request id, chosen by the client, echoed by the index.
    pub request_id: u64,
    /// This fragment's position, `0..count`.
    pub index: u8,
    /// Fragments in the message, `1..=MAX_FRAGMENTS`.
    pub count: u8,
    /// The fragment's share of the message.
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Decodes a plaintext `[inner id][request id][index][count][data]`.
    pub fn decode(plain: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(plain);
        let reply = match r.u8()? {
            REQUEST_ID => false,
            REPLY_ID => true,
            other => return Err(DecodeError::UnknownPayloadId(other)),
        };
        let request_id = r.u64_be()?;
        let index = r.u8()?;
        let count = r.u8()?;
        let data = r.rest();
        let full = usize::from(index) + 1 < usize::from(count);
        let bad_len = data.is_empty() || data.len() > FRAGMENT_DATA;
        if count == 0 || usize::from(count) > MAX_FRAGMENTS || index >= count {
            return Err(DecodeError::BadValue("fragment count"));
        }
        if bad_len || (full && data.len() != FRAGMENT_DATA) {
            return Err(DecodeError::BadValue("fragment length"));
        }
        Ok(Self {
            reply,
            request_id,
            index,
            count,
            data,
        })
    }

    /// The plaintext of this fragment.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + FRAGMENT_HEADER + self.data.len());
        out.push(if self.reply { REPLY_ID } else { REQUEST_ID });
        out.extend_from_slice(&self.request_id.to_be_bytes());
        out.push(self.index);
        out.push(self.count);
        out.extend_from_slice(self.data);
        out
    }
}

/// Cuts a message into fragment plaintexts. Fails for an empty or over-long message.
pub fn fragment(reply: bool, request_id: u64, message: &[u8]) -> Result<Vec<Vec<u8>>, TooLong> {
    if message.is_empty() || message.len() > MAX_MESSAGE {
        return Err(TooLong { len: message.len() });
    }
    let chunks: Vec<&[u8]> = message.chunks(FRAGMENT_DATA).collect();
    // At most MAX_FRAGMENTS (80) chunks, checked above, so the count fits in a u8.
    let count = u8::try_from(chunks.len()).map_err(|_| TooLong { len: message.len() })?;
    let out = chunks.iter().zip(0u8..).map(|(data, index)| {
        let f = Fragment {
            reply,
            request_id,
            index,
            count,
            data,
        };
        f.encode()
    });
    Ok(out.collect())
}

/// A message is empty or longer than [`MAX_MESSAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("index message of {len} bytes does not fit 1..={MAX_MESSAGE}")]
pub struct TooLong {
    /// The message length.
    pub len: usize,
}

/// A whole datagram: envelope header, then `plain` sealed with `shared`.
pub fn seal(
    shared: &SalsaBox,
    receiver: &PublicKey,
    sender: &PublicKey,
    nonce: &[u8; NONCE_LEN],
    plain: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + MAC_LEN + plain.len());
    envelope::emit_header(&mut out, receiver, sender, nonce);
    out.extend_from_slice(&[0u8; MAC_LEN]);
    out.extend_from_slice(plain);
    let (mac, body) = out[ENVELOPE_HEADER_LEN..].split_at_mut(MAC_LEN);
    mac.copy_from_slice(&seal_in_place(shared, nonce, body));
    out
}

/// Reads a length-prefixed (1 byte) UTF-8 string of 1..=`max` bytes.
pub(crate) fn read_name(r: &mut Reader<'_>, max: usize) -> Result<String, DecodeError> {
    let len = usize::from(r.u8()?);
    if len == 0 || len > max {
        return Err(DecodeError::BadValue("name length"));
    }
    let bytes = r.take(len)?;
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| DecodeError::BadValue("name text"))
}

/// Writes a length-prefixed (1 byte) string; the caller checked it is at most 255 bytes.
pub(crate) fn put_name(out: &mut Vec<u8>, name: &str) {
    let bytes = name.as_bytes();
    let len = bytes.len().min(255);
    out.push(len as u8); // clamped to 255 on the line above
    out.extend_from_slice(&bytes[..len]);
}

/// Writes `[len u16][bytes]`; callers bound the length below 65,536.
pub(crate) fn put_short_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Reads `[len u16][bytes]` with `min..=max` bytes; `what` names the field in the error.
pub(crate) fn read_short_bytes(
    r: &mut Reader<'_>,
    (min, max): (usize, usize),
    what: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    let len = usize::from(r.u16_be()?);
    if len < min || len > max {
        return Err(DecodeError::BadValue(what));
    }
    Ok(r.take(len)?.to_vec())
}

/// Reads a blob with a u32 length prefix, at most [`MAX_BLOB`] bytes.
pub(crate) fn read_blob(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let len = r.u32_be()? as usize;
    if len > MAX_BLOB {
        return Err(DecodeError::TooLong { len, max: MAX_BLOB });
    }
    Ok(r.take(len)?.to_vec())
}

/// Writes a blob with a u32 length prefix.
pub(crate) fn put_blob(out: &mut Vec<u8>, blob: &[u8]) {
    let len = u32::try_from(blob.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(blob);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_reassemble_in_order() {
        let message: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let parts = fragment(false, 7, &message).unwrap();
        assert_eq!(parts.len(), 3);
        let mut joined = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let f = Fragment::decode(p).unwrap();
            assert_eq!((f.index as usize, f.count, f.request_id), (i, 3, 7));
            joined.extend_from_slice(f.data);
        }
        assert_eq!(joined, message);
    }

    #[test]
    fn bad_fragments_are_rejected() {
        let ok = Fragment {
            reply: true,
            request_id: 1,
            index: 0,
            count: 1,
            data: b"x",
        };
        assert!(Fragment::decode(&ok.encode()).is_ok());
        let short_middle = Fragment { count: 2, ..ok };
        assert!(Fragment::decode(&short_middle.encode()).is_err());
        let past_end = Fragment { index: 1, ..ok };
        assert!(Fragment::decode(&past_end.encode()).is_err());
        let empty = Fragment { data: b"", ..ok };
        assert!(Fragment::decode(&empty.encode()).is_err());
        let too_many = Fragment {
            count: 81,
            index: 80,
            ..ok
        };
        assert!(Fragment::decode(&too_many.encode()).is_err());
        assert!(fragment(false, 1, &vec![0; MAX_MESSAGE + 1]).is_err());
        assert_eq!(fragment(false, 1, &vec![0; MAX_MESSAGE]).unwrap().len(), 80);
    }
}
