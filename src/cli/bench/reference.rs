//! The machine's speed at the time of a run, so figures taken on different days can be
//! compared: the time of one Ed25519 signature check and of one seal and open of a datagram,
//! the two per-delivery costs the node cannot avoid (issue #15's floor is one check and about
//! one seal and one open per receiver).
//!
//! A shared machine's speed drifts by tens of percent from hour to hour (the same binary read
//! 161 and 285–325 µs per delivery a day apart, benches/README.md): `cpu_us_per_delivery`
//! divided by [`Reference::verify_us`] is the delivery's cost in signature checks, which
//! does not drift with it.
//!
//! Each figure is the median of [`ROUNDS`] rounds of [`PER_ROUND`] operations, timed by the
//! wall clock on one thread (a round that another process preempted is an outlier the median
//! drops). The check is the node's own (`SignerKey::verify`: `crypto::strict`, the cached
//! key); the seal and open are XSalsa20-Poly1305 with a precomputed shared key, as the
//! node's, on a 300-byte payload (a 200-byte chat in its signed broadcast).

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::crypto::{self, BoxKeypair, Identity, SignerKey};
use crate::net::now;
use crate::wire::{Broadcast, MessageId, NONCE_LEN};

/// Rounds per figure; the median is reported.
pub(crate) const ROUNDS: usize = 7;
/// Operations per round.
pub(crate) const PER_ROUND: u32 = 100;
/// Payload bytes sealed and opened: a 200-byte chat in its signed broadcast.
const SEALED_LEN: usize = 300;

/// What one Ed25519 check and one seal + open took on this machine, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    /// One signature check of a signed broadcast with the signer's cached key.
    pub verify_us: f64,
    /// One seal and one open of a 300-byte payload with a precomputed shared key.
    pub seal_open_us: f64,
}

impl Reference {
    /// Measures both figures (about 60 ms of CPU here); `None` if a reference operation
    /// failed, which would be a bug in the crypto glue.
    pub fn measure() -> Option<Self> {
        Some(Self {
            verify_us: median_us(time_verify)?,
            seal_open_us: median_us(time_seal_open)?,
        })
    }
}

/// The median over [`ROUNDS`] of `round()` divided by [`PER_ROUND`], in microseconds.
fn median_us(round: fn() -> Option<Duration>) -> Option<f64> {
    let mut rounds = (0..ROUNDS)
        .map(|_| Some(round()?.as_secs_f64() * 1e6 / f64::from(PER_ROUND)))
        .collect::<Option<Vec<f64>>>()?;
    rounds.sort_by(f64::total_cmp);
    Some(rounds[ROUNDS / 2])
}

/// [`PER_ROUND`] checks of one signed broadcast with a cached signer key.
fn time_verify() -> Option<Duration> {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let id = Identity::generate(&mut rng);
    let chat_id = [7; 32];
    let text = [b'x'; 200];
    let mut b = Broadcast {
        origin: id.public_key(),
        number: 1,
        message_id: MessageId::Chat as u8,
        body: &text,
        trailer: None,
    };
    b.trailer = Some(id.sign_broadcast(&chat_id, &b).ok()?);
    let signer = SignerKey::new(id.public_key(), &id.signing_key()).ok()?;
    let start = now();
    let mut good = true;
    for _ in 0..PER_ROUND {
        good &= signer.verify(&chat_id, std::hint::black_box(&b)).is_ok();
    }
    good.then(|| now().duration_since(start))
}

/// [`PER_ROUND`] seals and opens of a [`SEALED_LEN`]-byte payload.
fn time_seal_open() -> Option<Duration> {
    let ours = BoxKeypair::from_secret_bytes([1; 32]);
    let theirs = BoxKeypair::from_secret_bytes([2; 32]);
    let shared = crypto::precompute(&ours, &theirs.public_key());
    let nonce = [3; NONCE_LEN];
    let mut buf = [5u8; SEALED_LEN];
    let start = now();
    let mut good = true;
    for _ in 0..PER_ROUND {
        let tag = crypto::seal_in_place(&shared, &nonce, &mut buf);
        let opened = crypto::open_in_place(&shared, &nonce, &tag, std::hint::black_box(&mut buf));
        good &= opened.is_ok();
    }
    good.then(|| now().duration_since(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_figures_are_positive_and_finite() {
        let r = Reference::measure().unwrap();
        for v in [r.verify_us, r.seal_open_us] {
            assert!(v.is_finite() && v > 0.0, "{r:?}");
        }
    }

    #[test]
    fn the_median_drops_an_outlier_round() {
        use std::sync::atomic::{AtomicU32, Ordering};
        static CALL: AtomicU32 = AtomicU32::new(0);
        fn round() -> Option<Duration> {
            // One preempted round of 7 takes 1000 times as long as the others.
            let slow = CALL.fetch_add(1, Ordering::Relaxed) == 3;
            Some(Duration::from_micros(if slow { 100_000 } else { 100 }))
        }
        assert_eq!(median_us(round), Some(1.0));
        fn failing() -> Option<Duration> {
            None
        }
        assert_eq!(median_us(failing), None);
    }
}
