//! Batch signature verification of signed broadcasts (PROTOCOL.md §6.4 step 4, §6.14).
//!
//! When one receive batch holds several signed broadcasts that will need their signature
//! checked, [`verify_all`] checks them together with Ed25519 batch verification (one
//! multiscalar multiplication for the batch instead of one double-scalar multiplication each,
//! about 35 % less per signature at 16). A batch that fails says only that *some* signature
//! is bad, so every item of a failed batch is then verified on its own with `verify_strict`
//! (`crypto::strict`, the same verdict for one square root less):
//! one forged signature never lets another item through, nor drops a good one.
//!
//! The result is only a cache of verdicts. `Node::handle_datagrams` opens each datagram of a
//! chunk once, picks the candidates ([`Group::batch_candidate`]: a signed broadcast of a
//! member whose checked signing key we hold, that its dedup window and marks would accept),
//! verifies them here, and hands each datagram's [`Verified`] to its handler through `Io`.
//! The handler runs every check of §6.4 as for a single datagram; at step 4 ([`check`]) a
//! verdict for exactly this broadcast (same origin, number and signature, opened from the
//! same bytes) replaces the signature check, anything else is verified as before.
//!
//! Batch and single verification agree on every signature an honest signer makes. Ed25519
//! batch verification is not bit-for-bit `verify_strict` on adversarial encodings (a
//! non-canonical or mixed-order R): only the holder of the origin's signing key can make
//! such a signature, and it can already have different peers accept different messages
//! under one number, so a batch verdict gives it nothing new (PROTOCOL.md §6.14).

use ed25519_dalek::{Signature, VerifyingKey};

use super::DropReason;
use super::group::Group;
use super::io::Io;
use super::marks::Counter;
use super::{Config, Dialect};
use crate::crypto::SignerKey;
use crate::wire::{Broadcast, MAX_SIGNED_PAYLOAD, PublicKey, SIGNATURE_LEN};

/// Most signatures verified in one batch; a receive batch is handled in chunks of this size.
pub(crate) const BATCH_MAX: usize = 16;

/// Bytes of the longest signing input (`Broadcast::write_signing_input`).
const MAX_INPUT: usize = crate::wire::broadcast::MAX_SIGNING_INPUT;

/// A verdict on the signature of one broadcast, as carried to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified {
    origin: PublicKey,
    number: u32,
    signature: [u8; SIGNATURE_LEN],
    good: bool,
}

impl Verified {
    /// True if this verdict is about `b` (same origin, number and signature).
    fn is_for(&self, b: &Broadcast<'_>) -> bool {
        b.trailer.is_some_and(|t| {
            t.signature == self.signature && b.origin == self.origin && b.number == self.number
        })
    }
}

/// Step 4 of §6.4 for `b`: the verdict carried in `io` if it is about `b`, else a check with
/// the member's cached key (or the key the trailer names, checked against the origin).
pub(crate) fn check(
    io: &Io<'_>,
    chat_id: &[u8; 32],
    cached: Option<&SignerKey>,
    b: &Broadcast<'_>,
) -> Result<(), DropReason> {
    if let Some(v) = io.verified.filter(|v| v.is_for(b)) {
        return if v.good {
            Ok(())
        } else {
            Err(DropReason::BadSignature)
        };
    }
    let bad = |_| DropReason::BadSignature;
    match cached {
        Some(signer) => signer.verify(chat_id, b).map_err(bad),
        None => crate::crypto::verify_broadcast(chat_id, b).map_err(bad),
    }
}

/// One signature waiting in a batch.
#[derive(Debug)]
pub(crate) struct Item {
    key: VerifyingKey,
    signature: Signature,
    /// Its place in the chunk of datagrams.
    slot: usize,
    verdict: Verified,
    /// The signing input's length in `Pending::inputs`.
    len: usize,
}

/// The signatures of one chunk, with their signing inputs; reused from chunk to chunk.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    items: Vec<Item>,
    inputs: Vec<[u8; MAX_INPUT]>,
}

impl Pending {
    /// Signatures waiting.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Forgets the last chunk's items (the buffers stay).
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// Adds the signature of `b` (from the datagram in `slot`) under `signer`; false if the
    /// batch is full or already holds this origin and number (the later copy is checked on
    /// its own if it is still needed).
    pub(crate) fn add(
        &mut self,
        slot: usize,
        chat_id: &[u8; 32],
        signer: &SignerKey,
        b: &Broadcast<'_>,
    ) -> bool {
        let Some(trailer) = b.trailer else {
            return false;
        };
        let same = |i: &Item| i.verdict.origin == b.origin && i.verdict.number == b.number;
        if self.items.len() >= BATCH_MAX || self.items.iter().any(same) {
            return false;
        }
        let index = self.items.len();
        if self.inputs.len() <= index {
            self.inputs.push([0; MAX_INPUT]);
        }
        let len = MAX_INPUT - MAX_SIGNED_PAYLOAD + b.body.len();
        let Some(out) = self.inputs[index].get_mut(..len) else {
            return false;
        };
        b.write_signing_input(chat_id, &mut &mut out[..]);
        self.items.push(Item {
            key: *signer.verifying_key(),
            signature: Signature::from_bytes(&trailer.signature),
            slot,
            verdict: Verified {
                origin: b.origin,
                number: b.number,
                signature: trailer.signature,
                good: false,
            },
            len,
        });
        true
    }

    /// Verifies every item (see [`verify_all`]); returns how many were checked in a batch
    /// that passed. Allocates nothing of its own (the batch check itself does).
    pub(crate) fn verify(&mut self) -> usize {
        let n = self.items.len().min(BATCH_MAX);
        let mut inputs: [&[u8]; BATCH_MAX] = [&[]; BATCH_MAX];
        let mut keys = [VerifyingKey::default(); BATCH_MAX];
        let mut sigs = [Signature::from_bytes(&[0; SIGNATURE_LEN]); BATCH_MAX];
        for (i, item) in self.items.iter().take(n).enumerate() {
            inputs[i] = &self.inputs[i][..item.len];
            keys[i] = item.key;
            sigs[i] = item.signature;
        }
        let mut good = [false; BATCH_MAX];
        let batched = verify_all(&inputs[..n], &sigs[..n], &keys[..n], &mut good[..n]);
        for (item, ok) in self.items.iter_mut().zip(good) {
            item.verdict.good = ok;
        }
        batched
    }

    /// The verdict for the datagram in `slot`, if its signature was in the batch.
    pub(crate) fn verdict(&self, slot: usize) -> Option<Verified> {
        (self.items.iter())
            .find(|i| i.slot == slot)
            .map(|i| i.verdict)
    }
}

/// Verifies each `(message, signature, key)`: first all together (when there are two or
/// more), and if that batch fails, each on its own with `verify_strict`. Writes one verdict
/// per item into `good` (as many items as it holds) and returns how many were accepted by a
/// passing batch.
pub(crate) fn verify_all(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
    good: &mut [bool],
) -> usize {
    let n = (messages.len().min(signatures.len()).min(keys.len())).min(good.len());
    if n >= 2 && ed25519_dalek::verify_batch(&messages[..n], &signatures[..n], &keys[..n]).is_ok() {
        good[..n].fill(true);
        return n;
    }
    for (i, ok) in good[..n].iter_mut().enumerate() {
        *ok = crate::crypto::strict::verify_strict(&keys[i], messages[i], &signatures[i]).is_ok();
    }
    0
}

impl Group {
    /// Is `b` worth a place in a verification batch: a signed broadcast of another member
    /// whose checked key we hold and that names it, that the member's dedup window and our
    /// marks would accept? Changes nothing; every check runs again when it is handled.
    pub(crate) fn batch_candidate(&self, config: &Config, b: &Broadcast<'_>) -> Option<&SignerKey> {
        if self.dialect() != Dialect::Secure || b.origin == self.own() {
            return None;
        }
        let trailer = b.trailer?;
        let member = self.members.get(&b.origin)?;
        let signer = member.signer()?;
        let fresh = member.check(b.number, config.forward_cap).is_ok()
            && (self.marks)
                .check(&b.origin, Counter::Broadcast, b.number)
                .is_ok();
        (fresh && signer.to_bytes() == trailer.signer).then_some(signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(n: u8) -> (Vec<u8>, Signature, VerifyingKey) {
        let key = SigningKey::from_bytes(&[n; 32]);
        let msg = vec![n; 100 + usize::from(n)];
        let sig = key.sign(&msg);
        (msg, sig, key.verifying_key())
    }

    fn run(items: &[(Vec<u8>, Signature, VerifyingKey)]) -> (Vec<bool>, usize) {
        let msgs: Vec<&[u8]> = items.iter().map(|i| i.0.as_slice()).collect();
        let sigs: Vec<Signature> = items.iter().map(|i| i.1).collect();
        let keys: Vec<VerifyingKey> = items.iter().map(|i| i.2).collect();
        let mut good = vec![false; items.len()];
        let batched = verify_all(&msgs, &sigs, &keys, &mut good);
        (good, batched)
    }

    #[test]
    fn a_good_batch_passes_as_one() {
        let items: Vec<_> = (1..=8).map(signed).collect();
        assert_eq!(run(&items), (vec![true; 8], 8));
    }

    #[test]
    fn one_forgery_fails_the_batch_and_only_itself() {
        for bad in 0..8 {
            let mut items: Vec<_> = (1..=8).map(signed).collect();
            items[bad].0[0] ^= 1; // the message no longer matches its signature
            let (verdicts, batched) = run(&items);
            let expected: Vec<bool> = (0..8).map(|i| i != bad).collect();
            assert_eq!(verdicts, expected, "forged item {bad}");
            assert_eq!(batched, 0, "a failed batch accepts nothing by itself");
        }
    }

    #[test]
    fn a_signature_under_the_wrong_key_is_refused() {
        let mut items: Vec<_> = (1..=4).map(signed).collect();
        items[2].2 = items[3].2;
        assert_eq!(run(&items).0, [true, true, false, true]);
    }

    #[test]
    fn a_single_item_is_verified_strictly() {
        let mut items = vec![signed(3)];
        assert_eq!(run(&items), (vec![true], 0));
        items[0].0[5] ^= 0x80;
        assert_eq!(run(&items), (vec![false], 0));
        assert_eq!(run(&[]), (vec![], 0));
    }
}
