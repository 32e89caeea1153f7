//! [`verify_strict`]: Ed25519 `verify_strict` with one field exponentiation fewer.
//!
//! `ed25519_dalek::VerifyingKey::verify_strict` accepts a signature `(R, s)` of key `A` iff
//! `s` is canonical, `R` decodes to a point, neither `R` nor `A` is of small order, and the
//! encoding of `R' = [s]B − [k]A` equals `R`'s bytes. It decodes `R` only for the small-order
//! test, which costs a square root (about a tenth of a verification here, `perf` of
//! `dhtchat bench`).
//!
//! The same verdict without decoding `R`: the final byte comparison only ever succeeds for
//! the canonical encoding of a point (`R'` is encoded canonically), and the small-order
//! points are exactly the 8 points of the torsion subgroup E\[8\], each with one canonical
//! encoding ([`SMALL_ORDER`]). So "R decodes and is not of small order, and equals the
//! encoding of R'" is "R is none of these 8 encodings, and equals the encoding of R'", which
//! is the non-strict check (`Verifier::verify`: canonical `s`, then the comparison) after a
//! table lookup: libsodium's `crypto_sign_verify_detached` does the same with its blocklist.
//! `A` is still tested (`is_weak`: three doublings), once per key for a `SignerKey`
//! ([`verify_strict_not_weak`]: its key was tested when it was made). `crypto/tests.rs` checks the table
//! against curve25519-dalek's E\[8\] and that a signature under a mixed-order key with a
//! small-order `R`, which the non-strict check accepts, is refused here as by
//! `verify_strict`.

use ed25519_dalek::{Signature, SignatureError, Verifier, VerifyingKey};

/// The canonical encodings of the 8 points of small order (E\[8\]): the identity `(0, 1)`,
/// `(0, −1)`, the two points of order 4 with `y = 0`, and the four of order 8 with
/// `y = ±c`.
pub(crate) const SMALL_ORDER: [[u8; 32]; 8] = {
    let mut table = [[0u8; 32]; 8];
    // (0, 1), order 1.
    table[0][0] = 1;
    // (0, -1), order 2: y = p - 1.
    table[1] = [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ];
    // (±sqrt(-1), 0), order 4: y = 0, x positive or negative.
    table[3][31] = 0x80;
    // y = c and y = -c, order 8, x positive or negative.
    let c = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    let minus_c = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    table[4] = c;
    table[5] = c;
    table[5][31] |= 0x80;
    table[6] = minus_c;
    table[7] = minus_c;
    table[7][31] |= 0x80;
    table
};

/// The verdict of `key.verify_strict(message, signature)`, without decoding `R` (see the
/// module docs).
pub(crate) fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    if key.is_weak() {
        return Err(SignatureError::new());
    }
    verify_strict_not_weak(key, message, signature)
}

/// [`verify_strict`] for a key already known not to be weak (a `SignerKey`'s, tested once
/// when it was made): the same verdict without the key's small-order test (three doublings
/// and a comparison, about 2 % of a check).
pub(crate) fn verify_strict_not_weak(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    if SMALL_ORDER.contains(signature.r_bytes()) {
        return Err(SignatureError::new());
    }
    key.verify(message, signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use ed25519_dalek::{Signer, SigningKey};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use sha2::{Digest, Sha512};

    /// Ours and `verify_strict` give the same verdict; so does the variant for keys known
    /// not to be weak, for such keys.
    fn agree(key: &VerifyingKey, message: &[u8], sig: &Signature) -> bool {
        let ours = verify_strict(key, message, sig).is_ok();
        assert_eq!(ours, key.verify_strict(message, sig).is_ok(), "{sig:?}");
        if !key.is_weak() {
            let not_weak = verify_strict_not_weak(key, message, sig).is_ok();
            assert_eq!(not_weak, ours, "{sig:?}");
        }
        ours
    }

    #[test]
    fn the_table_is_exactly_the_encodings_of_the_eight_torsion_points() {
        let mut torsion: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().0).collect();
        let mut table = SMALL_ORDER.to_vec();
        torsion.sort_unstable();
        table.sort_unstable();
        assert_eq!(table, torsion);
        for enc in SMALL_ORDER {
            let point = CompressedEdwardsY(enc).decompress().expect("decodes");
            assert!(point.is_small_order());
            assert_eq!(point.compress().0, enc, "canonical");
        }
    }

    #[test]
    fn honest_and_tampered_signatures_get_the_strict_verdict() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for i in 0..64u8 {
            let signing = SigningKey::from_bytes(&rng.random());
            let key = signing.verifying_key();
            let message = vec![i; usize::from(i) * 7];
            let sig = signing.sign(&message);
            assert!(agree(&key, &message, &sig), "honest signature {i}");
            let mut bytes = sig.to_bytes();
            bytes[usize::from(i) % 64] ^= 1 << (i % 8);
            assert!(!agree(&key, &message, &Signature::from_bytes(&bytes)));
            // s + l: the same signature with a non-canonical scalar.
            let mut high = sig.to_bytes();
            high[63] |= 0x10;
            assert!(!agree(&key, &message, &Signature::from_bytes(&high)));
            for r in SMALL_ORDER {
                bytes = sig.to_bytes();
                bytes[..32].copy_from_slice(&r);
                assert!(!agree(&key, &message, &Signature::from_bytes(&bytes)));
            }
        }
    }

    #[test]
    fn a_weak_key_is_refused() {
        let message = b"hello";
        for enc in SMALL_ORDER {
            let Ok(key) = VerifyingKey::from_bytes(&enc) else {
                continue;
            };
            // s = 0 and R = the identity: [0]B - [k]A = -[k]A, small order like R.
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&SMALL_ORDER[0]);
            assert!(!agree(&key, message, &Signature::from_bytes(&bytes)));
        }
    }

    /// The attack strictness is for: a key `A = aB + T` with a torsion part `T` of order 8
    /// (not weak), and `R` of small order. With `s = k·a`, `[s]B − [k]A = −[k]T`, which is
    /// `R` for one k in 8: the non-strict check accepts it, the strict ones must not.
    #[test]
    fn a_small_order_r_under_a_mixed_order_key_is_refused() {
        let a = Scalar::from_bytes_mod_order([42; 32]);
        let point = ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[1];
        let key = VerifyingKey::from_bytes(&point.compress().0).expect("a valid point");
        assert!(!key.is_weak(), "a mixed-order key is not weak");
        let mut forged = 0;
        for m in 0u32..200 {
            let message = m.to_le_bytes();
            for r in SMALL_ORDER {
                let hash = Sha512::new()
                    .chain_update(r)
                    .chain_update(point.compress().0)
                    .chain_update(message)
                    .finalize();
                let k = Scalar::from_bytes_mod_order_wide(&hash.into());
                if (-(EIGHT_TORSION[1] * k)).compress().0 != r {
                    continue;
                }
                let mut bytes = [0u8; 64];
                bytes[..32].copy_from_slice(&r);
                bytes[32..].copy_from_slice((k * a).as_bytes());
                let sig = Signature::from_bytes(&bytes);
                assert!(key.verify(&message, &sig).is_ok(), "the forgery is real");
                assert!(!agree(&key, &message, &sig), "refused");
                forged += 1;
            }
        }
        assert!(forged > 20, "the test made {forged} forgeries");
    }
}
