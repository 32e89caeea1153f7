//! lazy (inner id 59): the lazy half of the eager tree (PROTOCOL.md §6.12), one byte table
//! for Plumtree's IHAVE and GRAFT.
//!
//! | offset | size   | content                                                        |
//! |--------|--------|----------------------------------------------------------------|
//! | 0      | 1      | kind: 0 ihave (I hold these), 1 graft (send them, link eager)  |
//! | 1      | 1      | n, the number of ids, 1..=[`MAX_LAZY_IDS`]                      |
//! | 2      | 36 · n | n × (origin 32, message number u32 big-endian)                 |
//!
//! Any other kind, n = 0, n above the cap or a length that is not exactly 2 + 36·n is a
//! decode error. Decoding borrows the ids and checks only lengths and the kind, so whatever
//! decodes re-encodes.

use bytes::BufMut;

use super::{DecodeError, EncodeError, KEY_LEN, PublicKey, Reader};

/// Bytes of one id: origin and message number.
pub const LAZY_ID_LEN: usize = KEY_LEN + 4;
/// Most ids in one lazy packet (25 · 36 + 2 = 902 ≤ 918 data bytes).
pub const MAX_LAZY_IDS: usize = 25;

/// What a lazy packet asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LazyKind {
    /// IHAVE: the sender holds these broadcasts (ask with a graft if you miss one).
    IHave = 0,
    /// GRAFT: send me these broadcasts, and full copies from now on.
    Graft = 1,
}

/// A lazy packet, borrowing its ids from the plaintext (or from the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lazy<'a> {
    /// IHAVE or GRAFT.
    pub kind: LazyKind,
    ids: &'a [u8],
}

impl<'a> Lazy<'a> {
    /// A lazy packet over `ids`, the raw concatenated ids (see [`write_id`]): 1..=25 of them.
    pub fn new(kind: LazyKind, ids: &'a [u8]) -> Result<Self, EncodeError> {
        let n = ids.len() / LAZY_ID_LEN;
        if ids.len() % LAZY_ID_LEN != 0 || !(1..=MAX_LAZY_IDS).contains(&n) {
            return Err(EncodeError::BadValue("lazy ids: 1..=25 whole ids"));
        }
        Ok(Self { kind, ids })
    }

    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let kind = match r.u8()? {
            0 => LazyKind::IHave,
            1 => LazyKind::Graft,
            _ => return Err(DecodeError::BadValue("lazy kind")),
        };
        let n = usize::from(r.u8()?);
        if !(1..=MAX_LAZY_IDS).contains(&n) {
            return Err(DecodeError::BadValue("lazy id count"));
        }
        let ids = r.take(n * LAZY_ID_LEN)?;
        Ok(Self { kind, ids })
    }

    /// Number of ids (1..=25).
    pub fn len(&self) -> usize {
        self.ids.len() / LAZY_ID_LEN
    }

    /// Never true for a decoded or built packet; here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids in order: (origin, message number).
    pub fn ids(&self) -> impl Iterator<Item = (PublicKey, u32)> + 'a {
        self.ids.chunks_exact(LAZY_ID_LEN).map(|c| {
            let (key, number) = c.split_at(KEY_LEN);
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(key);
            let mut n = [0u8; 4];
            n.copy_from_slice(number);
            (PublicKey(k), u32::from_be_bytes(n))
        })
    }

    /// Data length (after the inner id).
    pub fn encoded_len(&self) -> usize {
        2 + self.ids.len()
    }

    pub(super) fn write(&self, out: &mut impl BufMut) {
        out.put_u8(self.kind as u8);
        // Cannot truncate: `new` and `read` allow at most 25 ids.
        out.put_u8(self.len() as u8);
        out.put_slice(self.ids);
    }
}

/// Appends one id (origin, number) in the wire form [`Lazy::new`] takes.
pub fn write_id(out: &mut Vec<u8>, origin: &PublicKey, number: u32) {
    out.extend_from_slice(&origin.0);
    out.extend_from_slice(&number.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            write_id(&mut v, &PublicKey([i as u8; 32]), 1000 + i as u32);
        }
        v
    }

    #[test]
    fn ids_round_trip_in_order() {
        let ids = raw(3);
        let l = Lazy::new(LazyKind::Graft, &ids).unwrap();
        assert_eq!(l.len(), 3);
        let got: Vec<_> = l.ids().collect();
        assert_eq!(got[2], (PublicKey([2; 32]), 1002));
        let mut out = Vec::new();
        l.write(&mut out);
        assert_eq!(out[..2], [1, 3]);
        let mut r = Reader::new(&out);
        assert_eq!(Lazy::read(&mut r), Ok(l));
        assert!(r.finish().is_ok());
    }

    #[test]
    fn counts_kinds_and_lengths_are_checked() {
        assert!(Lazy::new(LazyKind::IHave, &[]).is_err());
        assert!(Lazy::new(LazyKind::IHave, &raw(MAX_LAZY_IDS)).is_ok());
        assert!(Lazy::new(LazyKind::IHave, &raw(MAX_LAZY_IDS + 1)).is_err());
        assert!(Lazy::new(LazyKind::IHave, &raw(1)[..35]).is_err());
        fn read(b: &[u8]) -> Result<Lazy<'_>, DecodeError> {
            Lazy::read(&mut Reader::new(b))
        }
        let mut one = vec![0, 1];
        one.extend(raw(1));
        assert!(read(&one).is_ok());
        one[0] = 2;
        assert!(read(&one).is_err(), "unknown kind");
        one[0] = 0;
        one[1] = 0;
        assert!(read(&one).is_err(), "no ids");
        one[1] = 2;
        assert!(read(&one).is_err(), "fewer ids than counted");
        let mut many = vec![0, 26];
        many.extend(raw(26));
        assert!(read(&many).is_err(), "above the cap");
    }
}
