//! The broadcast header, relayed unchanged to every member, and the signature trailer of the
//! secure dialect (PROTOCOL.md §4).
//!
//! | offset    | size | content                                         |
//! |-----------|------|-------------------------------------------------|
//! | 0         | 32   | origin: the author's public key                 |
//! | 32        | 4    | message number, u32 big-endian, from 1          |
//! | 36        | 1    | message id (see [`super::message`])             |
//! | 37        | m    | message body                                    |
//! | 37 + m    | 32   | signed broadcast only: signer's Ed25519 key     |
//! | 69 + m    | 64   | signed broadcast only: Ed25519 signature        |
//!
//! The signature covers [`SIGNING_DOMAIN`] ‖ chat id ‖ origin ‖ number ‖ message id ‖ body
//! (see [`Broadcast::write_signing_input`]); the chat id is not on the wire, so a signature
//! made for one group never verifies in another.

use bytes::BufMut;

use super::{
    BROADCAST_HEADER_LEN, DecodeError, EncodeError, KEY_LEN, MAX_BROADCAST_PAYLOAD,
    MAX_SIGNED_PAYLOAD, PublicKey, Reader, SIGNATURE_LEN, SIGNATURE_TRAILER_LEN,
};

/// Domain separation prefix of every broadcast signature.
pub const SIGNING_DOMAIN: &[u8; 20] = b"dhtchat/broadcast/v1";
/// Largest signing input: domain, chat id, header and the largest signed body.
pub const MAX_SIGNING_INPUT: usize =
    SIGNING_DOMAIN.len() + KEY_LEN + BROADCAST_HEADER_LEN + MAX_SIGNED_PAYLOAD;

/// The signature trailer: who signed, and the signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureTrailer {
    /// The signer's Ed25519 public key; it must map to the origin (PROTOCOL.md §4.2).
    pub signer: [u8; KEY_LEN],
    /// Ed25519 signature over the signing input.
    pub signature: [u8; SIGNATURE_LEN],
}

impl std::fmt::Debug for SignatureTrailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignatureTrailer {{ signer: {}, signature: {}.. }}",
            hex::encode_upper(&self.signer[..5]),
            hex::encode_upper(&self.signature[..5])
        )
    }
}

/// A broadcast: one numbered peer message from `origin`, relayed to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast<'a> {
    /// The author's public key.
    pub origin: PublicKey,
    /// The author's message number (from 1, one counter per group).
    pub number: u32,
    /// The peer message id (see [`super::MessageId`]).
    pub message_id: u8,
    /// The message body, decoded by [`super::PeerMessage::decode`].
    pub body: &'a [u8],
    /// The signature trailer (secure dialect), or `None` (2014 dialect).
    pub trailer: Option<SignatureTrailer>,
}

impl<'a> Broadcast<'a> {
    /// Reads the broadcast data that follows inner id 50 (`signed == false`) or 51.
    pub(crate) fn read(r: &mut Reader<'a>, signed: bool) -> Result<Self, DecodeError> {
        let origin = PublicKey(r.array()?);
        let number = r.u32_be()?;
        let message_id = r.u8()?;
        let trailer_len = if signed { SIGNATURE_TRAILER_LEN } else { 0 };
        let Some(body_len) = r.remaining().checked_sub(trailer_len) else {
            return Err(DecodeError::TooShort {
                need: trailer_len,
                got: r.remaining(),
            });
        };
        let body = r.take(body_len)?;
        let trailer = match signed {
            true => Some(SignatureTrailer {
                signer: r.array()?,
                signature: r.array()?,
            }),
            false => None,
        };
        Ok(Self {
            origin,
            number,
            message_id,
            body,
            trailer,
        })
    }

    /// Largest body for this dialect: 881 bytes unsigned, 785 signed.
    pub fn max_body(signed: bool) -> usize {
        match signed {
            true => MAX_SIGNED_PAYLOAD,
            false => MAX_BROADCAST_PAYLOAD,
        }
    }

    /// Checks that the body fits; writes nothing and spends nothing.
    pub fn check_body_len(body_len: usize, signed: bool) -> Result<(), EncodeError> {
        let max = Self::max_body(signed);
        match body_len > max {
            true => Err(EncodeError::TooLong { len: body_len, max }),
            false => Ok(()),
        }
    }

    /// Length of the broadcast data (header, body, trailer), without the inner id.
    pub fn encoded_len(&self) -> usize {
        let trailer = self.trailer.map_or(0, |_| SIGNATURE_TRAILER_LEN);
        BROADCAST_HEADER_LEN + self.body.len() + trailer
    }

    /// Appends header, body and trailer (no inner id). The caller checks the size first.
    pub(crate) fn write(&self, out: &mut impl BufMut) {
        out.put_slice(self.origin.as_bytes());
        out.put_u32(self.number);
        out.put_u8(self.message_id);
        out.put_slice(self.body);
        if let Some(t) = &self.trailer {
            out.put_slice(&t.signer);
            out.put_slice(&t.signature);
        }
    }

    /// Appends the bytes the signature covers (PROTOCOL.md §4.2): domain, chat id, origin,
    /// number, message id, body. At most [`MAX_SIGNING_INPUT`] bytes for a body that fits.
    pub fn write_signing_input(&self, chat_id: &[u8; KEY_LEN], out: &mut impl BufMut) {
        out.put_slice(SIGNING_DOMAIN);
        out.put_slice(chat_id);
        out.put_slice(self.origin.as_bytes());
        out.put_u32(self.number);
        out.put_u8(self.message_id);
        out.put_slice(self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Payload;

    fn sample(trailer: Option<SignatureTrailer>) -> Broadcast<'static> {
        Broadcast {
            origin: PublicKey([0xAA; 32]),
            number: 0x0102_0304,
            message_id: 64,
            body: b"hi",
            trailer,
        }
    }

    #[test]
    fn legacy_construct_deconstruct() {
        let mut out = Vec::new();
        Payload::Broadcast(sample(None)).encode(&mut out).unwrap();
        assert_eq!(out.len(), 1 + 37 + 2);
        assert_eq!(out[0], 50);
        assert_eq!(&out[1..33], &[0xAA; 32]);
        assert_eq!(&out[33..37], &[1, 2, 3, 4]);
        assert_eq!(out[37], 64);
        assert_eq!(&out[38..], b"hi");
        assert_eq!(Payload::decode(&out), Ok(Payload::Broadcast(sample(None))));
    }

    #[test]
    fn signed_construct_deconstruct() {
        let trailer = SignatureTrailer {
            signer: [0x55; 32],
            signature: [0x66; 64],
        };
        let b = sample(Some(trailer));
        let mut out = Vec::new();
        Payload::Broadcast(b).encode(&mut out).unwrap();
        assert_eq!(out.len(), 1 + 37 + 2 + 96);
        assert_eq!(out[0], 51);
        assert_eq!(&out[40..72], &[0x55; 32]);
        assert_eq!(&out[72..], &[0x66; 64][..]);
        assert_eq!(Payload::decode(&out), Ok(Payload::Broadcast(b)));
    }

    #[test]
    fn empty_body_is_valid_and_short_header_is_not() {
        let mut out = vec![50];
        out.extend_from_slice(&[1; 37]);
        assert!(Payload::decode(&out).is_ok());
        out.pop();
        assert!(Payload::decode(&out).is_err());
        let mut signed = vec![51];
        signed.extend_from_slice(&[1; 37 + 95]);
        assert!(Payload::decode(&signed).is_err());
    }

    #[test]
    fn body_limits_are_881_and_785() {
        assert!(Broadcast::check_body_len(881, false).is_ok());
        assert_eq!(
            Broadcast::check_body_len(882, false),
            Err(EncodeError::TooLong { len: 882, max: 881 })
        );
        assert!(Broadcast::check_body_len(785, true).is_ok());
        assert!(Broadcast::check_body_len(786, true).is_err());
        let body = [0u8; 882];
        let b = Broadcast {
            body: &body,
            ..sample(None)
        };
        let mut out = Vec::new();
        assert!(Payload::Broadcast(b).encode(&mut out).is_err());
        assert!(
            out.is_empty(),
            "nothing is written when the size check fails"
        );
    }

    #[test]
    fn signing_input_layout() {
        let mut out = Vec::new();
        sample(None).write_signing_input(&[0xCC; 32], &mut out);
        assert_eq!(&out[..20], SIGNING_DOMAIN);
        assert_eq!(&out[20..52], &[0xCC; 32]);
        assert_eq!(&out[52..84], &[0xAA; 32]);
        assert_eq!(&out[84..89], &[1, 2, 3, 4, 64]);
        assert_eq!(&out[89..], b"hi");
    }
}
