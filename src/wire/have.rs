//! have (inner id 53): an anti-entropy summary of the recent broadcasts a node holds, as a
//! salted Bloom filter over their (origin, number) (PROTOCOL.md §3.5, §6.11).
//!
//! | offset | size | content                                                        |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 1    | flags: bit 0 `reply`; the others are sent 0 and ignored         |
//! | 1      | 1    | k, the number of bits per item, 1..=[`MAX_HASHES`]              |
//! | 2      | 2    | span, u16 big-endian: the filter holds every broadcast the sender |
//! |        |      | got in the last `span` ms                                       |
//! | 4      | 8    | salt, u64 big-endian, fresh for every summary                   |
//! | 12     | m    | the filter: bit i is bit `i % 8` (LSB first) of byte `i / 8`    |
//!
//! 0 ≤ m ≤ [`MAX_FILTER_LEN`]; m = 0 is the empty set. An item (origin, number) sets the k
//! bits `(h1 + i·h2) mod 8m`, i = 0..k, where `x = salt ⊕ w0 ⊕ w1 ⊕ w2 ⊕ w3 ⊕ number`
//! (wj: the origin's bytes 8j..8j+8 as a little-endian u64), `h1 = mix(x)`,
//! `h2 = mix(h1) | 1`, `mix` is the splitmix64 finaliser and the arithmetic wraps at 2^64.
//! Decoding borrows the filter and checks only lengths and k, so whatever decodes
//! re-encodes.

use bytes::BufMut;

use super::{DecodeError, MAX_DATA, PublicKey, Reader};

/// Most bits set per item.
pub const MAX_HASHES: u8 = 16;
/// Length of the fixed part: flags, k, span, salt.
pub const HAVE_HEADER_LEN: usize = 12;
/// Longest filter in bytes (906: what fits after the header).
pub const MAX_FILTER_LEN: usize = MAX_DATA - HAVE_HEADER_LEN;

/// A have summary, borrowing its filter from the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Have<'a> {
    /// [`Have::REPLY`]; unknown bits are kept and ignored.
    pub flags: u8,
    /// Bits per item.
    pub hashes: u8,
    /// The filter holds every broadcast its sender got in the last `span_ms` milliseconds.
    pub span_ms: u16,
    /// The salt of this summary's hashes.
    pub salt: u64,
    filter: &'a [u8],
}

impl<'a> Have<'a> {
    /// This summary answers one: send what is missing, but no summary back.
    pub const REPLY: u8 = 1;

    /// A summary over `filter` (built by [`BloomBuilder`]).
    pub fn new(
        flags: u8,
        (hashes, span_ms): (u8, u16),
        salt: u64,
        filter: &'a [u8],
    ) -> Result<Self, DecodeError> {
        if !(1..=MAX_HASHES).contains(&hashes) {
            return Err(DecodeError::BadValue("have hash count"));
        }
        if filter.len() > MAX_FILTER_LEN {
            return Err(DecodeError::TooLong {
                len: filter.len(),
                max: MAX_FILTER_LEN,
            });
        }
        Ok(Self {
            flags,
            hashes,
            span_ms,
            salt,
            filter,
        })
    }

    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let flags = r.u8()?;
        let hashes = r.u8()?;
        let span_ms = r.u16_be()?;
        let salt = u64::from_be_bytes(r.array()?);
        Self::new(flags, (hashes, span_ms), salt, r.rest())
    }

    /// True if the `flag` bit is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The filter bytes.
    pub fn filter(&self) -> &'a [u8] {
        self.filter
    }

    /// True if the summary may hold (origin, number): false means it surely does not.
    pub fn holds(&self, origin: &PublicKey, number: u32) -> bool {
        let bits = self.filter.len() as u64 * 8;
        bits > 0
            && positions(self.salt, self.hashes, bits, item_key(origin, number))
                .all(|i| self.filter[(i / 8) as usize] & (1 << (i % 8)) != 0)
    }

    /// Data length (after the inner id).
    pub fn encoded_len(&self) -> usize {
        HAVE_HEADER_LEN + self.filter.len()
    }

    pub(super) fn write(&self, out: &mut impl BufMut) {
        out.put_u8(self.flags);
        out.put_u8(self.hashes);
        out.put_u16(self.span_ms);
        out.put_u64(self.salt);
        out.put_slice(self.filter);
    }
}

/// Builds the filter of a summary: `bits_per_item` bits of filter per item (rounded up to
/// whole bytes, capped at [`MAX_FILTER_LEN`]), `hashes` bits set per item.
#[derive(Debug, Clone)]
pub struct BloomBuilder {
    salt: u64,
    hashes: u8,
    filter: Vec<u8>,
}

impl BloomBuilder {
    /// An empty filter sized for `items`.
    pub fn new(items: usize, bits_per_item: usize, hashes: u8, salt: u64) -> Self {
        let len = (items * bits_per_item).div_ceil(8).min(MAX_FILTER_LEN);
        Self {
            salt,
            hashes: hashes.clamp(1, MAX_HASHES),
            filter: vec![0; len],
        }
    }

    /// Adds (origin, number).
    pub fn insert(&mut self, origin: &PublicKey, number: u32) {
        self.insert_key(item_key(origin, number));
    }

    /// Adds the item whose [`item_key`] is `key`: the same bits as [`Self::insert`].
    pub fn insert_key(&mut self, key: u64) {
        let bits = self.filter.len() as u64 * 8;
        if bits == 0 {
            return;
        }
        for i in positions(self.salt, self.hashes, bits, key) {
            self.filter[(i / 8) as usize] |= 1 << (i % 8);
        }
    }

    /// The summary, borrowing the filter.
    pub fn have(&self, flags: u8, span_ms: u16) -> Have<'_> {
        Have {
            flags,
            hashes: self.hashes,
            span_ms,
            salt: self.salt,
            filter: &self.filter,
        }
    }
}

/// The 64 bits of (origin, number) that every salt's bit positions derive from:
/// `w0 ⊕ w1 ⊕ w2 ⊕ w3 ⊕ number` (the module docs' `x` before the salt), so a set of these
/// keys builds the same filter as the items themselves.
pub fn item_key(origin: &PublicKey, number: u32) -> u64 {
    let mut x = u64::from(number);
    for word in origin.as_bytes().chunks_exact(8) {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        x ^= u64::from_le_bytes(w);
    }
    x
}

/// The k bit positions of the item `key` in a filter of `bits` bits (`bits` > 0).
fn positions(salt: u64, hashes: u8, bits: u64, key: u64) -> impl Iterator<Item = u64> {
    let h1 = mix(salt ^ key);
    let h2 = mix(h1) | 1;
    (0..u64::from(hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Payload;

    #[test]
    fn have_construct_deconstruct() {
        let mut b = BloomBuilder::new(2, 10, 5, 0x0102_0304_0506_0708);
        b.insert(&PublicKey([1; 32]), 7);
        b.insert(&PublicKey([2; 32]), 1);
        let p = Payload::Have(b.have(Have::REPLY, 3000));
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out.len(), 1 + 12 + 3);
        assert_eq!(&out[..13], &[53, 1, 5, 0x0B, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Payload::decode(&out), Ok(p));
        let Ok(Payload::Have(h)) = Payload::decode(&out) else {
            panic!()
        };
        assert!(h.has(Have::REPLY) && h.span_ms == 3000);
        assert!(h.holds(&PublicKey([1; 32]), 7) && h.holds(&PublicKey([2; 32]), 1));
    }

    #[test]
    fn bad_hash_counts_and_lengths_are_rejected() {
        let p = Payload::decode(&[53, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let Payload::Have(h) = p else { panic!() };
        assert!(h.filter().is_empty() && !h.holds(&PublicKey([1; 32]), 1));
        let k0 = [53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(Payload::decode(&k0).is_err(), "k = 0");
        let k17 = [53, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(Payload::decode(&k17).is_err(), "k = 17");
        assert!(
            Payload::decode(&[53, 0, 1, 0, 0, 0, 0]).is_err(),
            "short salt"
        );
        let mut long = vec![53, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        long.resize(13 + MAX_FILTER_LEN, 0xFF);
        assert!(Payload::decode(&long).is_ok());
        long.push(0);
        assert!(Payload::decode(&long).is_err());
    }

    #[test]
    fn false_positives_are_rare_and_differ_by_salt() {
        let key = |i: u32| PublicKey(core::array::from_fn(|j| (i as u8).wrapping_mul(j as u8)));
        let mut misses = [0; 2];
        for (s, salt) in [1u64, 2].into_iter().enumerate() {
            let mut b = BloomBuilder::new(256, 10, 5, salt);
            (0..256).for_each(|n| b.insert(&key(n % 16), n));
            let h = b.have(0, 0);
            assert!(
                (0..256).all(|n| h.holds(&key(n % 16), n)),
                "no false negative"
            );
            misses[s] = (256..10_256).filter(|&n| h.holds(&key(n % 16), n)).count();
        }
        // 10 bits and 5 hashes per item: about 1 % false positives.
        assert!(misses.iter().all(|&m| m < 300), "{misses:?} of 10,000");
    }
}
