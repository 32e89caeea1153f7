//! Body of a fact digest (message id 21, secure groups, sent to one peer and never relayed;
//! PROTOCOL.md §5.5, §6.8): a summary of the facts a member holds, or a request for the
//! facts of one bucket that the asker lacks.
//!
//! | form    | body                                                                  |
//! |---------|-----------------------------------------------------------------------|
//! | summary | `[0]` ‖ 256 × 3 bytes: per bucket, the XOR of its facts' hashes (first 3 bytes) |
//! | want    | `[1]` ‖ `[bucket 1]` ‖ 0..=97 × 8 bytes: the hashes of the asker's facts in that bucket |
//! | want all | `[2]`: send every fact (the asker differs in too many buckets)       |
//!
//! A fact's **bucket** is the first byte of SHA-256(`"dhtchat fact bucket"` ‖ kind ‖ subject),
//! so one (kind, subject) is in the same bucket everywhere whatever its version; its **hash**
//! is the first 8 bytes of SHA-256 of its encoding. Summary 769 bytes, want at most 778.

use bytes::BufMut;
use sha2::{Digest, Sha256};

use super::{DecodeError, EncodeError, PublicKey, Reader};

/// Buckets in a summary.
pub const DIGEST_BUCKETS: usize = 256;
/// Bytes of one bucket's digest in a summary.
pub const BUCKET_DIGEST_LEN: usize = 3;
/// Bytes of a summary's digests.
pub const SUMMARY_LEN: usize = DIGEST_BUCKETS * BUCKET_DIGEST_LEN;
/// Bytes of one fact's hash in a want.
pub const FACT_HASH_LEN: usize = 8;
/// Most hashes in one want (2 + 97 × 8 = 778 bytes, under the 785-byte body limit).
pub const MAX_WANT_HASHES: usize = 97;

const SUMMARY: u8 = 0;
const WANT: u8 = 1;
const WANT_ALL: u8 = 2;
const BUCKET_DOMAIN: &[u8] = b"dhtchat fact bucket";

/// One fact digest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactDigest<'a> {
    /// What the sender holds: [`SUMMARY_LEN`] bytes, bucket by bucket.
    Summary(&'a [u8]),
    /// What the sender holds in `bucket`: `hashes` is 0..=[`MAX_WANT_HASHES`] hashes of
    /// [`FACT_HASH_LEN`] bytes; the receiver answers with the facts of that bucket whose hash
    /// is not listed (id 20).
    Want {
        /// The bucket asked for.
        bucket: u8,
        /// The asker's fact hashes in it, concatenated.
        hashes: &'a [u8],
    },
    /// The sender wants every fact (it differs in too many buckets to ask one by one).
    WantAll,
}

impl<'a> FactDigest<'a> {
    /// Reads the body; the caller checks that nothing is left.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match r.u8()? {
            SUMMARY => Ok(Self::Summary(r.take(SUMMARY_LEN)?)),
            WANT => {
                let bucket = r.u8()?;
                let hashes = r.rest();
                if hashes.len() % FACT_HASH_LEN != 0 {
                    return Err(DecodeError::BadValue("fact hash list"));
                }
                if hashes.len() > MAX_WANT_HASHES * FACT_HASH_LEN {
                    return Err(DecodeError::TooLong {
                        len: hashes.len(),
                        max: MAX_WANT_HASHES * FACT_HASH_LEN,
                    });
                }
                Ok(Self::Want { bucket, hashes })
            }
            WANT_ALL => Ok(Self::WantAll),
            _ => Err(DecodeError::BadValue("fact digest form")),
        }
    }

    /// Checks the lengths; writes nothing.
    pub fn check(&self) -> Result<(), EncodeError> {
        let ok = match self {
            Self::Summary(s) => s.len() == SUMMARY_LEN,
            Self::Want { hashes, .. } => {
                hashes.len() % FACT_HASH_LEN == 0 && hashes.len() <= MAX_WANT_HASHES * FACT_HASH_LEN
            }
            Self::WantAll => true,
        };
        match ok {
            true => Ok(()),
            false => Err(EncodeError::BadValue("fact digest length")),
        }
    }

    /// Length of the body.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Summary(s) => 1 + s.len(),
            Self::Want { hashes, .. } => 2 + hashes.len(),
            Self::WantAll => 1,
        }
    }

    /// Appends the body (after [`Self::check`]).
    pub(crate) fn write(&self, out: &mut impl BufMut) {
        match self {
            Self::Summary(s) => {
                out.put_u8(SUMMARY);
                out.put_slice(s);
            }
            Self::Want { bucket, hashes } => {
                out.put_u8(WANT);
                out.put_u8(*bucket);
                out.put_slice(hashes);
            }
            Self::WantAll => out.put_u8(WANT_ALL),
        }
    }
}

/// The bucket of the fact about (`kind`, `subject`).
pub fn fact_bucket(kind: u8, subject: &PublicKey) -> u8 {
    let mut h = Sha256::new();
    h.update(BUCKET_DOMAIN);
    h.update([kind]);
    h.update(subject.as_bytes());
    h.finalize()[0]
}

/// The hash of an encoded fact.
pub fn fact_hash(fact: &[u8]) -> [u8; FACT_HASH_LEN] {
    let d = Sha256::digest(fact);
    let mut out = [0; FACT_HASH_LEN];
    out.copy_from_slice(&d[..FACT_HASH_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: FactDigest<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        d.check().unwrap();
        d.write(&mut out);
        assert_eq!(out.len(), d.encoded_len());
        let mut r = Reader::new(&out);
        assert_eq!(FactDigest::read(&mut r).unwrap(), d);
        r.finish().unwrap();
        out
    }

    #[test]
    fn summary_and_want_round_trip_and_bad_lengths_are_refused() {
        let s = vec![7; SUMMARY_LEN];
        assert_eq!(round_trip(FactDigest::Summary(&s)).len(), 769);
        let h = vec![1; MAX_WANT_HASHES * FACT_HASH_LEN];
        let want = FactDigest::Want {
            bucket: 9,
            hashes: &h,
        };
        assert_eq!(round_trip(want).len(), 778);
        let empty = FactDigest::Want {
            bucket: 0,
            hashes: &[],
        };
        assert_eq!(round_trip(empty), [1, 0]);
        assert_eq!(round_trip(FactDigest::WantAll), [2]);
        for bad in [&[0u8, 1, 2][..], &[1, 3, 1, 2, 3][..], &[3][..], &[][..]] {
            assert!(FactDigest::read(&mut Reader::new(bad)).is_err(), "{bad:?}");
        }
        let long = vec![0; (MAX_WANT_HASHES + 1) * FACT_HASH_LEN];
        let over = FactDigest::Want {
            bucket: 0,
            hashes: &long,
        };
        assert!(over.check().is_err());
    }

    #[test]
    fn bucket_and_hash_vectors_of_protocol_5_5() {
        assert_eq!(fact_bucket(2, &PublicKey([0x11; 32])), 0xC4);
        assert_eq!(
            fact_hash(&[0xAB; 10]),
            0xB654_AA13_C719_E8C9_u64.to_be_bytes()
        );
    }

    #[test]
    fn buckets_depend_on_kind_and_subject_only() {
        let a = PublicKey([1; 32]);
        assert_eq!(fact_bucket(2, &a), fact_bucket(2, &a));
        assert_ne!(fact_hash(b"one"), fact_hash(b"two"));
        let spread: std::collections::BTreeSet<u8> = (0..64u8)
            .map(|i| fact_bucket(2, &PublicKey([i; 32])))
            .collect();
        assert!(spread.len() > 40, "buckets spread: {}", spread.len());
    }
}
