//! The envelope: the clear header in front of every sealed group-chat packet (PROTOCOL.md §2).
//!
//! | offset | size   | content                                   |
//! |--------|--------|-------------------------------------------|
//! | 0      | 1      | 48, the outer id                          |
//! | 1      | 32     | receiver's public key                     |
//! | 33     | 32     | sender's public key                       |
//! | 65     | 24     | nonce                                     |
//! | 89     | 16 + n | crypto_box of the plaintext (MAC first)   |
//!
//! A whole datagram is 106..=1024 bytes. [`Envelope::new_checked`] does every length check in
//! one place; afterwards no accessor can panic.

use std::ops::Range;

use bytes::BufMut;

use super::{
    DecodeError, ENVELOPE_HEADER_LEN, ENVELOPE_ID, KEY_LEN, MAX_DATAGRAM, MIN_DATAGRAM, NONCE_LEN,
    PublicKey,
};

mod field {
    use std::ops::Range;

    pub(super) const ID: usize = 0;
    pub(super) const RECEIVER: Range<usize> = 1..33;
    pub(super) const SENDER: Range<usize> = 33..65;
    pub(super) const NONCE: Range<usize> = 65..89;
    pub(super) const SEALED: usize = 89;
}

/// A checked view over a datagram's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Envelope<T> {
    /// Wraps bytes after checking the length (106..=1024) and the outer id (48).
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let bytes = buffer.as_ref();
        if bytes.len() < MIN_DATAGRAM {
            return Err(DecodeError::TooShort {
                need: MIN_DATAGRAM,
                got: bytes.len(),
            });
        }
        if bytes.len() > MAX_DATAGRAM {
            return Err(DecodeError::TooLong {
                len: bytes.len(),
                max: MAX_DATAGRAM,
            });
        }
        if bytes[field::ID] != ENVELOPE_ID {
            return Err(DecodeError::NotEnvelope(bytes[field::ID]));
        }
        Ok(Self { buffer })
    }

    /// The receiver's public key.
    pub fn receiver(&self) -> PublicKey {
        PublicKey(self.key(field::RECEIVER))
    }

    /// The sender's public key.
    pub fn sender(&self) -> PublicKey {
        PublicKey(self.key(field::SENDER))
    }

    /// The 24-byte nonce.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut out = [0u8; NONCE_LEN];
        out.copy_from_slice(&self.buffer.as_ref()[field::NONCE]);
        out
    }

    /// The sealed box: 16-byte MAC, then the ciphertext.
    pub fn sealed(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SEALED..]
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn key(&self, range: Range<usize>) -> [u8; KEY_LEN] {
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&self.buffer.as_ref()[range]);
        out
    }
}

/// Writes the 89-byte clear header; the caller appends the sealed box.
pub fn emit_header(
    out: &mut impl BufMut,
    receiver: &PublicKey,
    sender: &PublicKey,
    nonce: &[u8; NONCE_LEN],
) {
    out.put_u8(ENVELOPE_ID);
    out.put_slice(receiver.as_bytes());
    out.put_slice(sender.as_bytes());
    out.put_slice(nonce);
}

/// Length of the clear header written by [`emit_header`].
pub const HEADER_LEN: usize = ENVELOPE_HEADER_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        emit_header(
            &mut out,
            &PublicKey([1; 32]),
            &PublicKey([2; 32]),
            &[3; NONCE_LEN],
        );
        out.resize(len, 0xEE);
        out
    }

    #[test]
    fn deconstruct() {
        let bytes = datagram(114);
        let env = Envelope::new_checked(&bytes[..]).unwrap();
        assert_eq!(env.receiver(), PublicKey([1; 32]));
        assert_eq!(env.sender(), PublicKey([2; 32]));
        assert_eq!(env.nonce(), [3; 24]);
        assert_eq!(env.sealed(), &[0xEE; 25][..]);
    }

    #[test]
    fn construct() {
        let bytes = datagram(89);
        assert_eq!(bytes[0], 48);
        assert_eq!(&bytes[1..33], &[1; 32]);
        assert_eq!(&bytes[33..65], &[2; 32]);
        assert_eq!(&bytes[65..89], &[3; 24]);
    }

    #[test]
    fn length_bounds_are_106_to_1024() {
        assert_eq!(
            Envelope::new_checked(&datagram(105)[..]).unwrap_err(),
            DecodeError::TooShort {
                need: 106,
                got: 105
            }
        );
        assert!(Envelope::new_checked(&datagram(106)[..]).is_ok());
        assert!(Envelope::new_checked(&datagram(1024)[..]).is_ok());
        assert_eq!(
            Envelope::new_checked(&datagram(1025)[..]).unwrap_err(),
            DecodeError::TooLong {
                len: 1025,
                max: 1024
            }
        );
    }

    #[test]
    fn wrong_outer_id_is_rejected() {
        let mut bytes = datagram(114);
        bytes[0] = 32;
        assert_eq!(
            Envelope::new_checked(&bytes[..]).unwrap_err(),
            DecodeError::NotEnvelope(32)
        );
    }
}
