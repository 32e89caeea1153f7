//! Client-side account keys (PROTOCOL.md §8.6, ARCHITECTURE.md §7): everything the index must
//! never see is derived and used here, on the client.
//!
//! - `mk = Argon2id(password, salt 16, params)`, 32 bytes, params ≥ the OWASP floor
//!   (m = 19 MiB, t = 2, p = 1) and ≤ a ceiling (1 GiB, t = 64, p = 4), so neither a weak
//!   nor a hostile index can choose them (downgrade and memory-exhaustion refused).
//! - HKDF-SHA256 (no salt, ikm = mk) splits it: info `dhtchat index v1 login` is the seed of
//!   the **login verifier** (Ed25519; the index stores its public half and checks a signature
//!   over a fresh challenge), info `dhtchat index v1 kek` is the **key-encryption key**.
//! - The KEK wraps a random 32-byte **account key** (secretbox, XSalsa20-Poly1305). HKDF of the
//!   account key with infos `dhtchat index v1 private key` / `rooms` / `chats` gives one key per
//!   stored box, so a box cannot be swapped for another.
//! - A password change derives new keys and re-wraps the same account key: nothing else is
//!   re-encrypted.
//!
//! Boxes are `[nonce 24][MAC 16][ciphertext]`. A wrong password fails at the first box with
//! [`AccountError::Decrypt`], one error that says nothing else. Secrets live in `Zeroizing`
//! buffers and print nothing in `Debug`.

use std::fmt;

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::{AeadInPlace, KeyInit, XSalsa20Poly1305};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::wire::{
    AccountBundle, BOX_OVERHEAD, CHALLENGE_LEN, Credentials, MAX_BLOB, Registration, SALT_LEN,
    WRAPPED_KEY_LEN,
};
use crate::crypto::Identity;
use crate::wire::{MAC_LEN, NONCE_LEN};

/// Argon2id parameters, stored with each account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u8,
}

impl KdfParams {
    /// The OWASP floor: 19 MiB, 2 passes, 1 lane. Nothing weaker is used or accepted.
    pub const FLOOR: Self = Self {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// Most memory accepted (1 GiB): a hostile index cannot make a client swap.
    pub const MAX_M_KIB: u32 = 1 << 20;
    /// Most passes accepted.
    pub const MAX_T: u32 = 64;
    /// Most lanes accepted.
    pub const MAX_P: u8 = 4;

    /// Ok if the parameters are within the floor and the ceiling.
    pub fn check(&self) -> Result<(), AccountError> {
        if self.m_kib < Self::FLOOR.m_kib || self.t < Self::FLOOR.t || self.p < Self::FLOOR.p {
            return Err(AccountError::WeakParams);
        }
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p > Self::MAX_P {
            return Err(AccountError::ParamsTooLarge);
        }
        Ok(())
    }
}

/// What can go wrong on the client side of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The parameters are below the floor (a downgrade).
    #[error("key derivation parameters below the floor (m = 19 MiB, t = 2)")]
    WeakParams,
    /// The parameters are above the ceiling.
    #[error("key derivation parameters above the ceiling (1 GiB, t = 64, p = 4)")]
    ParamsTooLarge,
    /// Wrong password (or a modified box): one error, nothing else is revealed.
    #[error("wrong password")]
    Decrypt,
    /// A list does not fit its 32 KiB blob.
    #[error("list too large")]
    TooLarge,
    /// A decrypted list does not parse.
    #[error("stored list is malformed")]
    BadList,
    /// Argon2 refused the parameters.
    #[error("key derivation failed")]
    Kdf,
}

/// One group chat or private conversation in the encrypted list: its id, the key of its
/// current epoch, that epoch and the chat's name (PROTOCOL.md Appendix B G8: another device
/// follows the chat again from its id; the index keeps the wraps of every epoch).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ChatEntry {
    /// Chat id (G1).
    pub chat_id: [u8; 32],
    /// The key of `epoch`.
    pub key: [u8; 32],
    /// The epoch of `key`.
    pub epoch: u64,
    /// The chat's name as this member knows it.
    pub name: String,
}

impl fmt::Debug for ChatEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChatEntry({}, key: ..)", hex::encode(&self.chat_id[..4]))
    }
}

/// The two lists an account keeps, in the clear (client side only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    /// Rooms the user belongs to.
    pub rooms: Vec<String>,
    /// Group chats and private conversations.
    pub chats: Vec<ChatEntry>,
}

/// Keys derived from the password: the login verifier and the key-encryption key.
pub struct PasswordKeys {
    verifier: SigningKey,
    kek: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for PasswordKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordKeys(..)")
    }
}

impl PasswordKeys {
    /// Runs Argon2id (about as long as the parameters say) and splits the result.
    pub fn derive(
        password: &[u8],
        salt: &[u8; SALT_LEN],
        params: &KdfParams,
    ) -> Result<Self, AccountError> {
        params.check()?;
        let argon = argon2::Params::new(params.m_kib, params.t, u32::from(params.p), Some(32))
            .map_err(|_| AccountError::Kdf)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon);
        let mut mk = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(password, salt, mk.as_mut())
            .map_err(|_| AccountError::Kdf)?;
        let seed = expand(mk.as_ref(), b"dhtchat index v1 login");
        Ok(Self {
            verifier: SigningKey::from_bytes(&seed),
            kek: expand(mk.as_ref(), b"dhtchat index v1 kek"),
        })
    }

    /// The verifier's public key, which the index stores.
    pub fn verifier_public(&self) -> [u8; 32] {
        self.verifier.verifying_key().to_bytes()
    }

    /// The login signature over `challenge ‖ username ‖ index key` (PROTOCOL.md §8.6).
    pub fn sign_login(
        &self,
        challenge: &[u8; CHALLENGE_LEN],
        name: &str,
        index: &[u8; 32],
    ) -> [u8; 64] {
        let message = login_message(challenge, name, index);
        self.verifier.sign(&message).to_bytes()
    }

    /// Wraps the account key under the key-encryption key.
    pub fn wrap(&self, account: &AccountKey, rng: &mut impl RngCore) -> [u8; WRAPPED_KEY_LEN] {
        seal_key(&self.kek, &account.0, rng)
    }

    /// Unwraps the account key; a wrong password fails here.
    pub fn unwrap(&self, wrapped: &[u8; WRAPPED_KEY_LEN]) -> Result<AccountKey, AccountError> {
        open_key(&self.kek, wrapped).map(AccountKey)
    }
}

/// The random key that encrypts the private key and both lists.
#[derive(Clone)]
pub struct AccountKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(..)")
    }
}

impl AccountKey {
    /// An account key from raw bytes (audits and tests that try candidate keys).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self(Zeroizing::new(key))
    }

    /// A fresh random account key.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    fn subkey(&self, info: &[u8]) -> Zeroizing<[u8; 32]> {
        expand(self.0.as_ref(), info)
    }

    /// Encrypts an identity seed.
    pub fn seal_seed(&self, seed: &[u8; 32], rng: &mut impl RngCore) -> [u8; WRAPPED_KEY_LEN] {
        seal_key(&self.subkey(b"dhtchat index v1 private key"), seed, rng)
    }

    /// Decrypts the identity seed.
    pub fn open_seed(
        &self,
        sealed: &[u8; WRAPPED_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, AccountError> {
        open_key(&self.subkey(b"dhtchat index v1 private key"), sealed)
    }

    /// Encrypts both lists into their blobs (rooms, chats).
    pub fn seal_lists(
        &self,
        lists: &Lists,
        rng: &mut impl RngCore,
    ) -> Result<(Vec<u8>, Vec<u8>), AccountError> {
        let rooms = postcard::to_allocvec(&lists.rooms).map_err(|_| AccountError::TooLarge)?;
        let chats = Zeroizing::new(
            postcard::to_allocvec(&lists.chats).map_err(|_| AccountError::TooLarge)?,
        );
        Ok((
            seal_blob(&self.subkey(b"dhtchat index v1 rooms"), &rooms, rng)?,
            seal_blob(&self.subkey(b"dhtchat index v1 chats"), &chats, rng)?,
        ))
    }

    /// Decrypts both blobs.
    pub fn open_lists(&self, rooms: &[u8], chats: &[u8]) -> Result<Lists, AccountError> {
        let rooms = open_blob(&self.subkey(b"dhtchat index v1 rooms"), rooms)?;
        let chats = open_blob(&self.subkey(b"dhtchat index v1 chats"), chats)?;
        Ok(Lists {
            rooms: postcard::from_bytes(&rooms).map_err(|_| AccountError::BadList)?,
            chats: postcard::from_bytes(&chats).map_err(|_| AccountError::BadList)?,
        })
    }
}

/// A logged-in account, decrypted on the client.
pub struct Opened {
    /// The identity (its seed came out of the private key box).
    pub identity: Identity,
    /// Rooms and chats.
    pub lists: Lists,
    /// True for admin.
    pub admin: bool,
    /// The account key, to re-encrypt the lists or re-wrap on a password change.
    pub account_key: AccountKey,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("identity", &self.identity)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// Builds a registration: new salt, the password keys, a new account key, the sealed identity
/// and lists. Returns the request and the keys (the caller keeps the account key).
pub fn register(
    name: &str,
    password: &[u8],
    params: &KdfParams,
    identity: &Identity,
    lists: &Lists,
    rng: &mut impl RngCore,
) -> Result<(Registration, AccountKey), AccountError> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let keys = PasswordKeys::derive(password, &salt, params)?;
    let account = AccountKey::generate(rng);
    let (rooms, chats) = account.seal_lists(lists, rng)?;
    let registration = Registration {
        name: name.to_owned(),
        credentials: Credentials {
            params: *params,
            salt,
            verifier: keys.verifier_public(),
        },
        public_key: identity.signing_key(),
        wrapped_key: keys.wrap(&account, rng),
        private_key: account.seal_seed(&identity.seed(), rng),
        rooms,
        chats,
    };
    Ok((registration, account))
}

/// Opens an account bundle with the password keys.
pub fn open(bundle: &AccountBundle, keys: &PasswordKeys) -> Result<Opened, AccountError> {
    let account_key = keys.unwrap(&bundle.wrapped_key)?;
    let seed = account_key.open_seed(&bundle.private_key)?;
    let identity = Identity::from_seed(&seed);
    if identity.signing_key() != bundle.public_key {
        return Err(AccountError::Decrypt);
    }
    let lists = account_key.open_lists(&bundle.rooms, &bundle.chats)?;
    Ok(Opened {
        identity,
        lists,
        admin: bundle.admin,
        account_key,
    })
}

/// New credentials and the same account key wrapped under the new password's KEK.
pub fn rewrap(
    account: &AccountKey,
    new_password: &[u8],
    params: &KdfParams,
    rng: &mut impl RngCore,
) -> Result<(Credentials, [u8; WRAPPED_KEY_LEN]), AccountError> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let keys = PasswordKeys::derive(new_password, &salt, params)?;
    let credentials = Credentials {
        params: *params,
        salt,
        verifier: keys.verifier_public(),
    };
    Ok((credentials, keys.wrap(account, rng)))
}

/// Unwraps an account key with a raw key-encryption key (audits and tests that try
/// candidate keys against a stored wrap).
pub fn open_with_kek(
    kek: &[u8; 32],
    wrapped: &[u8; WRAPPED_KEY_LEN],
) -> Result<AccountKey, AccountError> {
    open_key(kek, wrapped).map(AccountKey)
}

/// The signed login message: domain ‖ challenge ‖ name length ‖ name ‖ index key.
pub fn login_message(challenge: &[u8; CHALLENGE_LEN], name: &str, index: &[u8; 32]) -> Vec<u8> {
    const DOMAIN: &[u8] = b"dhtchat index login v1\0";
    let mut m = Vec::with_capacity(DOMAIN.len() + CHALLENGE_LEN + 1 + name.len() + 32);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(challenge);
    m.push(name.len().min(255) as u8); // names are at most 32 bytes
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(index);
    m
}

/// The index's check of a login signature.
pub fn verify_login(
    verifier: &[u8; 32],
    challenge: &[u8; CHALLENGE_LEN],
    name: &str,
    index: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(verifier) else {
        return false;
    };
    let message = login_message(challenge, name, index);
    key.verify(&message, &Signature::from_bytes(signature))
        .is_ok()
}

fn expand(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, ikm).expand(info, out.as_mut());
    out
}

fn seal_key(key: &[u8; 32], secret: &[u8; 32], rng: &mut impl RngCore) -> [u8; WRAPPED_KEY_LEN] {
    let mut out = [0u8; WRAPPED_KEY_LEN];
    let sealed = seal_blob(key, secret, rng).unwrap_or_default();
    out.copy_from_slice(&sealed[..WRAPPED_KEY_LEN.min(sealed.len())]);
    out
}

fn open_key(
    key: &[u8; 32],
    sealed: &[u8; WRAPPED_KEY_LEN],
) -> Result<Zeroizing<[u8; 32]>, AccountError> {
    let plain = open_blob(key, sealed)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(AccountError::Decrypt);
    }
    out.copy_from_slice(&plain);
    Ok(out)
}

/// `[nonce 24][MAC 16][ciphertext]`, at most [`MAX_BLOB`] bytes.
fn seal_blob(
    key: &[u8; 32],
    plain: &[u8],
    rng: &mut impl RngCore,
) -> Result<Vec<u8>, AccountError> {
    if plain.len() + BOX_OVERHEAD > MAX_BLOB {
        return Err(AccountError::TooLarge);
    }
    let cipher = XSalsa20Poly1305::new(GenericArray::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(BOX_OVERHEAD + plain.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&[0; MAC_LEN]);
    out.extend_from_slice(plain);
    let (head, body) = out.split_at_mut(BOX_OVERHEAD);
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", body)
        .map_err(|_| AccountError::TooLarge)?;
    head[NONCE_LEN..].copy_from_slice(&tag);
    Ok(out)
}

fn open_blob(key: &[u8; 32], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AccountError> {
    if sealed.len() < BOX_OVERHEAD {
        return Err(AccountError::Decrypt);
    }
    let cipher = XSalsa20Poly1305::new(GenericArray::from_slice(key));
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (tag, body) = rest.split_at(MAC_LEN);
    let mut plain = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            b"",
            plain.as_mut_slice(),
            GenericArray::from_slice(tag),
        )
        .map_err(|_| AccountError::Decrypt)?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::index::wire::AccountBundle;

    fn bundle_of(reg: &Registration) -> AccountBundle {
        AccountBundle {
            admin: false,
            params: reg.credentials.params,
            salt: reg.credentials.salt,
            public_key: reg.public_key,
            wrapped_key: reg.wrapped_key,
            private_key: reg.private_key,
            rooms: reg.rooms.clone(),
            chats: reg.chats.clone(),
        }
    }

    #[test]
    fn register_open_and_rewrap() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let id = Identity::generate(&mut rng);
        let lists = Lists {
            rooms: vec!["LOBBY".into()],
            chats: vec![ChatEntry {
                chat_id: [1; 32],
                key: [2; 32],
                epoch: 3,
                name: "devs".into(),
            }],
        };
        let p = KdfParams::FLOOR;
        let (reg, _) = register("alice", b"pw", &p, &id, &lists, &mut rng).unwrap();
        let mut bundle = bundle_of(&reg);
        let keys = PasswordKeys::derive(b"pw", &reg.credentials.salt, &p).unwrap();
        assert_eq!(keys.verifier_public(), reg.credentials.verifier);
        let opened = open(&bundle, &keys).unwrap();
        assert_eq!(opened.identity.signing_key(), id.signing_key());
        assert_eq!(opened.lists, lists);
        let wrong = PasswordKeys::derive(b"pW", &reg.credentials.salt, &p).unwrap();
        assert_eq!(open(&bundle, &wrong).unwrap_err(), AccountError::Decrypt);
        let (creds, wrapped) = rewrap(&opened.account_key, b"new", &p, &mut rng).unwrap();
        bundle.salt = creds.salt;
        bundle.wrapped_key = wrapped;
        let new_keys = PasswordKeys::derive(b"new", &creds.salt, &p).unwrap();
        assert_eq!(open(&bundle, &new_keys).unwrap().lists, lists);
        assert_eq!(
            bundle.private_key, reg.private_key,
            "password change re-wraps only"
        );
    }

    #[test]
    fn params_below_the_floor_or_above_the_ceiling_are_refused() {
        let weak = KdfParams {
            m_kib: 19455,
            ..KdfParams::FLOOR
        };
        assert_eq!(
            PasswordKeys::derive(b"pw", &[0; 16], &weak).unwrap_err(),
            AccountError::WeakParams
        );
        let one_pass = KdfParams {
            t: 1,
            ..KdfParams::FLOOR
        };
        assert_eq!(one_pass.check(), Err(AccountError::WeakParams));
        let huge = KdfParams {
            m_kib: (1 << 20) + 1,
            ..KdfParams::FLOOR
        };
        assert_eq!(huge.check(), Err(AccountError::ParamsTooLarge));
    }

    #[test]
    fn login_signature_binds_challenge_name_and_index() {
        let keys = PasswordKeys::derive(b"pw", &[3; 16], &KdfParams::FLOOR).unwrap();
        let sig = keys.sign_login(&[1; 32], "alice", &[2; 32]);
        let v = keys.verifier_public();
        assert!(verify_login(&v, &[1; 32], "alice", &[2; 32], &sig));
        assert!(!verify_login(&v, &[9; 32], "alice", &[2; 32], &sig));
        assert!(!verify_login(&v, &[1; 32], "alicf", &[2; 32], &sig));
        assert!(!verify_login(&v, &[1; 32], "alice", &[9; 32], &sig));
    }
}
