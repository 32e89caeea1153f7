//! Member identities, the shared-key cache, nonces, sealing and opening packets, and broadcast
//! signatures (PROTOCOL.md §2 and §4.2).
//!
//! - An [`Identity`] is one Ed25519 keypair; its X25519 keypair ([`BoxKeypair`]) is derived from
//!   it, so one 32-byte seed gives both the envelope key and the signing key.
//! - [`SharedKeys`] is a bounded LRU of precomputed crypto_box shared keys: the X25519 step is
//!   paid once per peer, not once per packet.
//! - [`seal_packet`] / [`open_packet`] build and open whole datagrams in place, with no heap
//!   allocation on the open path.
//! - [`Identity::sign_broadcast`] / [`SignerKey::verify`] sign and check secure broadcasts.
//!
//! Nonces are 24 random bytes from an RNG the caller passes in ([`random_nonce`]). Secret types
//! print nothing in `Debug` and are zeroized on drop.

use std::fmt;
use std::num::NonZeroUsize;

use crypto_box::aead::AeadInPlace;
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::{SalsaBox, SecretKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use lru::LruCache;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::wire::broadcast::MAX_SIGNING_INPUT;
use crate::wire::{
    Broadcast, ENVELOPE_HEADER_LEN, EncodeError, Envelope, KEY_LEN, MAC_LEN, MAX_PLAINTEXT,
    MAX_SIGNED_PAYLOAD, NONCE_LEN, Payload, PublicKey, SignatureTrailer, envelope,
};

/// A box could not be opened: wrong key, wrong nonce, or modified bytes. No detail on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot open the box")]
pub struct OpenError;

/// Why a broadcast signature does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The broadcast has no signature trailer.
    #[error("broadcast is not signed")]
    Unsigned,
    /// The signer key is not a valid Ed25519 point.
    #[error("signer key is not a valid Ed25519 key")]
    BadSignerKey,
    /// The signer key does not map to the broadcast's origin.
    #[error("signer key does not belong to the origin")]
    SignerMismatch,
    /// The signature is wrong.
    #[error("bad signature")]
    BadSignature,
}

/// An X25519 keypair: the key a member uses in envelopes and as broadcast origin.
pub struct BoxKeypair {
    secret: SecretKey,
    public: PublicKey,
}

impl BoxKeypair {
    /// The keypair for a 32-byte X25519 secret (clamped as X25519 always does).
    pub fn from_secret_bytes(secret: [u8; KEY_LEN]) -> Self {
        let secret = SecretKey::from(secret);
        let public = PublicKey(*secret.public_key().as_bytes());
        Self { secret, public }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The secret bytes, for persistence; wiped when the returned value is dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }
}

impl fmt::Debug for BoxKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxKeypair({}, secret: ..)", self.public.fmt_short())
    }
}

/// A member identity in one group: an Ed25519 signing key and the X25519 keypair derived from
/// it (`to_scalar_bytes` / `to_montgomery`).
pub struct Identity {
    signing: SigningKey,
    keypair: BoxKeypair,
}

impl Identity {
    /// The identity for a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let scalar = Zeroizing::new(signing.to_scalar_bytes());
        let keypair = BoxKeypair::from_secret_bytes(*scalar);
        Self { signing, keypair }
    }

    /// A new random identity.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The seed, for persistence; wiped when the returned value is dropped.
    pub fn seed(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The X25519 keypair used in envelopes.
    pub fn keypair(&self) -> &BoxKeypair {
        &self.keypair
    }

    /// The X25519 public key: the member's name on the wire.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public
    }

    /// The Ed25519 public key (the chat id, when this identity founded the group).
    pub fn signing_key(&self) -> [u8; KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs a broadcast for the group `chat_id`; the broadcast's own trailer is ignored.
    /// Fails if the body is too long for a signed broadcast (785 bytes).
    pub fn sign_broadcast(
        &self,
        chat_id: &[u8; KEY_LEN],
        b: &Broadcast<'_>,
    ) -> Result<SignatureTrailer, EncodeError> {
        Broadcast::check_body_len(b.body.len(), true)?;
        let mut buf = [0u8; MAX_SIGNING_INPUT];
        let input = signing_input(chat_id, b, &mut buf).ok_or(EncodeError::TooLong {
            len: b.body.len(),
            max: MAX_SIGNED_PAYLOAD,
        })?;
        Ok(SignatureTrailer {
            signer: self.signing_key(),
            signature: self.signing.sign(input).to_bytes(),
        })
    }
}

impl Identity {
    /// Signs `fact` for the group `chat_id`: sets its signer to our Ed25519 key and its
    /// signature over the fact signing input (PROTOCOL.md §5.5).
    pub fn sign_fact(&self, chat_id: &[u8; KEY_LEN], fact: &mut crate::wire::Fact<'_>) {
        fact.signer = self.signing_key();
        fact.signature = self.signing.sign(&fact.signing_input(chat_id)).to_bytes();
    }
}

/// Checks a fact's signature for the group `chat_id` under `verify_strict`; returns the
/// signer's X25519 key (its name in the group).
pub fn verify_fact(
    chat_id: &[u8; KEY_LEN],
    fact: &crate::wire::Fact<'_>,
) -> Result<PublicKey, VerifyError> {
    let key = VerifyingKey::from_bytes(&fact.signer).map_err(|_| VerifyError::BadSignerKey)?;
    if key.is_weak() {
        return Err(VerifyError::BadSignerKey);
    }
    let sig = Signature::from_bytes(&fact.signature);
    key.verify_strict(&fact.signing_input(chat_id), &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(PublicKey(key.to_montgomery().to_bytes()))
}

/// The X25519 form of an Ed25519 public key (the founder's member key from the chat id);
/// `None` if the bytes are not a valid, non-weak Ed25519 key.
pub fn x25519_of(signer: &[u8; KEY_LEN]) -> Option<PublicKey> {
    let key = VerifyingKey::from_bytes(signer).ok()?;
    (!key.is_weak()).then(|| PublicKey(key.to_montgomery().to_bytes()))
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Identity({}, secret: ..)",
            self.keypair.public.fmt_short()
        )
    }
}

/// A checked signer: an Ed25519 key known to map to one origin. Cache it per member so a
/// later broadcast pays only for the signature check.
#[derive(Debug, Clone)]
pub struct SignerKey {
    origin: PublicKey,
    key: VerifyingKey,
}

impl SignerKey {
    /// Checks that `signer` is a valid Ed25519 key whose X25519 form is `origin`.
    pub fn new(origin: PublicKey, signer: &[u8; KEY_LEN]) -> Result<Self, VerifyError> {
        let key = VerifyingKey::from_bytes(signer).map_err(|_| VerifyError::BadSignerKey)?;
        if key.is_weak() {
            return Err(VerifyError::BadSignerKey);
        }
        if key.to_montgomery().to_bytes() != origin.0 {
            return Err(VerifyError::SignerMismatch);
        }
        Ok(Self { origin, key })
    }

    /// The Ed25519 key bytes.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.key.to_bytes()
    }

    /// The decompressed Ed25519 key, for batch verification (`proto/verify.rs`).
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies a signed broadcast of this origin for group `chat_id`.
    pub fn verify(&self, chat_id: &[u8; KEY_LEN], b: &Broadcast<'_>) -> Result<(), VerifyError> {
        let trailer = b.trailer.ok_or(VerifyError::Unsigned)?;
        if trailer.signer != self.key.to_bytes() || b.origin != self.origin {
            return Err(VerifyError::SignerMismatch);
        }
        let mut buf = [0u8; MAX_SIGNING_INPUT];
        let input = signing_input(chat_id, b, &mut buf).ok_or(VerifyError::BadSignature)?;
        let sig = Signature::from_bytes(&trailer.signature);
        // `new` refused a weak key: the check need not test it again.
        strict::verify_strict_not_weak(&self.key, input, &sig)
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// Verifies a signed broadcast with no prior state: checks the signer key maps to the origin,
/// then the signature.
pub fn verify_broadcast(chat_id: &[u8; KEY_LEN], b: &Broadcast<'_>) -> Result<(), VerifyError> {
    let trailer = b.trailer.ok_or(VerifyError::Unsigned)?;
    SignerKey::new(b.origin, &trailer.signer)?.verify(chat_id, b)
}

/// Writes the signing input into `buf` and returns it; `None` if the body is longer than a
/// signed broadcast allows (such a body cannot have come off the wire).
fn signing_input<'b>(
    chat_id: &[u8; KEY_LEN],
    b: &Broadcast<'_>,
    buf: &'b mut [u8; MAX_SIGNING_INPUT],
) -> Option<&'b [u8]> {
    let len = MAX_SIGNING_INPUT - MAX_SIGNED_PAYLOAD + b.body.len();
    let out = buf.get_mut(..len)?;
    b.write_signing_input(chat_id, &mut &mut out[..]);
    Some(out)
}

/// 24 random nonce bytes from the caller's RNG.
pub fn random_nonce(rng: &mut impl RngCore) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    nonce
}

/// The X25519 public keys of small order (libsodium's blacklist): a shared key with one of
/// them is predictable, so such keys are refused.
const LOW_ORDER: [[u8; KEY_LEN]; 7] = {
    let mut keys = [[0u8; KEY_LEN]; 7];
    keys[1][0] = 1;
    keys[2] = [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ];
    keys[3] = [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ];
    keys[4] = [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ];
    keys[5] = [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ];
    keys[6] = [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ];
    keys
};

/// True for X25519 keys of small order (the top bit is ignored, as X25519 does).
pub fn is_low_order(key: &PublicKey) -> bool {
    let mut masked = key.0;
    masked[31] &= 0x7f;
    LOW_ORDER.contains(&masked)
}

/// True if the key is the one canonical encoding of its point: top bit clear and the value
/// below 2^255 − 19. X25519 would accept other encodings of the same point, which would let
/// one datagram claim several sender keys; they are refused.
pub fn is_canonical(key: &PublicKey) -> bool {
    let k = &key.0;
    if k[31] & 0x80 != 0 {
        return false;
    }
    let at_or_above_p = k[31] == 0x7f && k[1..31].iter().all(|&b| b == 0xff) && k[0] >= 0xed;
    !at_or_above_p
}

/// True if the key may be used: canonical and not of small order.
pub fn is_acceptable_key(key: &PublicKey) -> bool {
    is_canonical(key) && !is_low_order(key)
}

/// Most prepared mac1 states [`SharedKeys::mac1`] keeps: our own keys (one per group) and
/// the peers we send to most (the eager tree's few targets). About 210 bytes each: at 64 the
/// states took 2.7 MB of the 200-node bench's heap (random fan-out, every entry used).
pub const MAC1_CACHE: usize = 16;
const MAC1_CAP: NonZeroUsize = match NonZeroUsize::new(MAC1_CACHE) {
    Some(cap) => cap,
    None => NonZeroUsize::MIN,
};

/// A bounded LRU of precomputed shared keys, keyed by (our key, their key); and a smaller one
/// of prepared mac1 states ([`Mac1Key`]), keyed by the receiver.
pub struct SharedKeys {
    /// Unbounded to `lru`, bounded here by `cap`: `LruCache::new` would allocate room for
    /// all `cap` entries up front (about 35 KiB at the default 1024), most never used.
    cache: LruCache<(PublicKey, PublicKey), SalsaBox>,
    /// Bounded by `lru` itself at [`MAC1_CACHE`]: a hit is one lookup, and a miss in a full
    /// cache reuses the least recent entry's node (no allocation, no second lookup). Its
    /// table is sized for 16 entries up front; the states themselves as they come.
    mac1: LruCache<PublicKey, Mac1Key>,
    cap: NonZeroUsize,
    lookups: u64,
    misses: u64,
}

impl SharedKeys {
    /// A cache holding at most `capacity` shared keys.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            cache: LruCache::unbounded(),
            mac1: LruCache::new(MAC1_CAP),
            cap: capacity,
            lookups: 0,
            misses: 0,
        }
    }

    /// The shared key of `ours` and `theirs`, computed on a miss. `None` for a key that is of
    /// small order or not canonical ([`is_acceptable_key`]).
    pub fn get(&mut self, ours: &BoxKeypair, theirs: &PublicKey) -> Option<&SalsaBox> {
        if !is_acceptable_key(theirs) {
            return None;
        }
        let key = (ours.public, *theirs);
        if self.cache.len() >= self.cap.get() && !self.cache.contains(&key) {
            self.cache.pop_lru();
        }
        let misses = &mut self.misses;
        let shared = self.cache.get_or_insert(key, || {
            *misses += 1;
            precompute(ours, theirs)
        });
        self.lookups += 1;
        Some(shared)
    }

    /// The shared key of `ours` and `theirs` with one cache lookup: cached, or, on a miss,
    /// computed if `admit` allows the X25519 (asked only on a miss, and only for a key that
    /// passes [`is_acceptable_key`]). A refused miss changes nothing.
    pub fn get_or_admit(
        &mut self,
        ours: &BoxKeypair,
        theirs: &PublicKey,
        admit: impl FnOnce() -> bool,
    ) -> Result<&SalsaBox, KeyMiss> {
        if !is_acceptable_key(theirs) {
            return Err(KeyMiss::BadKey);
        }
        let key = (ours.public, *theirs);
        let mut admit = Some(admit);
        // Only a full cache needs to know beforehand whether this is a miss.
        if self.cache.len() >= self.cap.get() && !self.cache.contains(&key) {
            if admit.take().is_some_and(|a| !a()) {
                return Err(KeyMiss::Refused);
            }
            self.cache.pop_lru();
        }
        let misses = &mut self.misses;
        let shared = self.cache.try_get_or_insert(key, || {
            if admit.take().is_some_and(|a| !a()) {
                return Err(KeyMiss::Refused);
            }
            *misses += 1;
            Ok(precompute(ours, theirs))
        })?;
        self.lookups += 1;
        Ok(shared)
    }

    /// The prepared mac1 of `receiver` (PROTOCOL.md §2.1), kept for the [`MAC1_CACHE`] most
    /// recently used receivers: with it a mac1 costs two BLAKE2s compressions, not four.
    pub fn mac1(&mut self, receiver: &PublicKey) -> &Mac1Key {
        self.mac1
            .get_or_insert(*receiver, || Mac1Key::new(receiver))
    }

    /// Number of prepared mac1 states held.
    pub fn mac1_len(&self) -> usize {
        self.mac1.len()
    }

    /// True if the shared key of `ours` and `theirs` is cached: using it costs no X25519.
    pub fn contains(&self, ours: &PublicKey, theirs: &PublicKey) -> bool {
        self.cache.contains(&(*ours, *theirs))
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// (hits, misses) since creation.
    pub fn counters(&self) -> (u64, u64) {
        (self.lookups - self.misses, self.misses)
    }
}

impl fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeys")
            .field("len", &self.cache.len())
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// Why [`SharedKeys::get_or_admit`] gave no shared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMiss {
    /// Their key is of small order or not canonical ([`is_acceptable_key`]).
    BadKey,
    /// Not cached, and the X25519 was not admitted.
    Refused,
}

/// The shared key of `ours` and `theirs`, without a cache (the X25519 step plus HSalsa20).
pub fn precompute(ours: &BoxKeypair, theirs: &PublicKey) -> SalsaBox {
    SalsaBox::new(&crypto_box::PublicKey::from(theirs.0), &ours.secret)
}

/// Encrypts `buf` in place and returns the 16-byte MAC.
pub fn seal_in_place(shared: &SalsaBox, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
    let tag = shared
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", buf)
        // XSalsa20Poly1305 fails only past 2^38 bytes; a datagram is at most 1024.
        .unwrap_or_default();
    tag.into()
}

/// Decrypts `buf` in place if `tag` authenticates it; on failure `buf` is unspecified.
pub fn open_in_place(
    shared: &SalsaBox,
    nonce: &[u8; NONCE_LEN],
    tag: &[u8; MAC_LEN],
    buf: &mut [u8],
) -> Result<(), OpenError> {
    shared
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            b"",
            buf,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| OpenError)
}

/// Appends a whole datagram: envelope header, then `payload` sealed for `receiver`.
/// Fails, writing nothing, if the payload does not fit.
pub fn seal_packet(
    shared: &SalsaBox,
    receiver: &PublicKey,
    sender: &PublicKey,
    nonce: &[u8; NONCE_LEN],
    payload: &Payload<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    payload.check()?;
    let start = out.len();
    out.reserve(ENVELOPE_HEADER_LEN + MAC_LEN + payload.encoded_len());
    envelope::emit_header(out, receiver, sender, nonce);
    out.extend_from_slice(&[0u8; MAC_LEN]);
    payload.encode(out)?;
    let body_start = start + ENVELOPE_HEADER_LEN;
    let (mac, plain) = out[body_start..].split_at_mut(MAC_LEN);
    mac.copy_from_slice(&seal_in_place(shared, nonce, plain));
    Ok(())
}

/// Opens a checked envelope into `scratch` and returns the plaintext (`[inner id][data]`).
/// No heap allocation.
pub fn open_packet<'s, T: AsRef<[u8]>>(
    shared: &SalsaBox,
    env: &Envelope<T>,
    scratch: &'s mut [u8; MAX_PLAINTEXT],
) -> Result<&'s [u8], OpenError> {
    let sealed = env.sealed();
    let (tag, cipher) = sealed.split_at_checked(MAC_LEN).ok_or(OpenError)?;
    let plain = scratch.get_mut(..cipher.len()).ok_or(OpenError)?;
    plain.copy_from_slice(cipher);
    let tag: &[u8; MAC_LEN] = tag.try_into().map_err(|_| OpenError)?;
    open_in_place(shared, &env.nonce(), tag, plain)?;
    Ok(plain)
}

/// Why a datagram could not be opened by [`open_datagram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// The envelope is malformed (length, outer id).
    #[error("malformed envelope: {0}")]
    Malformed(#[from] crate::wire::DecodeError),
    /// The receiver key is not ours.
    #[error("receiver key is not ours")]
    NotForUs,
    /// The sender key is of small order or not canonical.
    #[error("sender key is of small order or not canonical")]
    BadKey,
    /// The box does not open.
    #[error("cannot open the box")]
    Open,
}

/// Checks, addresses and opens a whole datagram for `ours`; returns the sender's key and the
/// plaintext in `scratch`.
pub fn open_datagram<'s>(
    ours: &BoxKeypair,
    keys: &mut SharedKeys,
    datagram: &[u8],
    scratch: &'s mut [u8; MAX_PLAINTEXT],
) -> Result<(PublicKey, &'s [u8]), DatagramError> {
    let env = Envelope::new_checked(datagram)?;
    if env.receiver() != ours.public {
        return Err(DatagramError::NotForUs);
    }
    let sender = env.sender();
    let shared = keys.get(ours, &sender).ok_or(DatagramError::BadKey)?;
    let plain = open_packet(shared, &env, scratch).map_err(|_| DatagramError::Open)?;
    Ok((sender, plain))
}

mod mac;
pub(crate) mod strict;
pub use mac::{
    COOKIE_LEN, COOKIE_REPLY_ID, COOKIE_REPLY_LEN, MAC1_COVERS, MAC1_LEN, MAC2_COVERS, Mac1Key,
    NONCE_RANDOM_LEN, check_mac1, check_mac2, cookie, cookie_reply_receiver, mac1, mac1_key,
    mac1_nonce, mac1_nonce_with, mac1_of, open_cookie_reply, seal_cookie_reply,
};

#[cfg(test)]
mod tests;
