//! Device keys (PROTOCOL.md §8.13): one member key per device and account, certified by the
//! account's identity, so two devices of one account in one room are two members.
//!
//! - A device is a data dir: [`load_or_create_seed`] keeps 32 random bytes in
//!   [`SEED_FILE`] (mode 600), made on the first login.
//! - Its key for one account on one index is [`device_identity`]: HKDF-SHA256 (no salt; ikm
//!   the device seed; info `"dhtchat index v1 device" ‖ 0x00 ‖ index key 32 ‖ name`), so one
//!   data dir shows unrelated keys to two accounts or two indexes.
//! - A [`Certificate`] binds the device key to the account: the account's identity and the
//!   device each sign [`certificate_message`] (the device's signature proves it holds the key,
//!   so nobody can claim another's device key). The index checks both ([`Certificate::verify`])
//!   before it stores the device (request kind 24).

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use crate::crypto::Identity;

/// The device seed's file in the data dir.
pub const SEED_FILE: &str = "index-device.seed";
/// Most devices of one account; registering one more evicts the least recently used.
pub const MAX_DEVICES: u8 = 16;
/// How far a certificate's time may be from the index's clock, in seconds.
pub const MAX_SKEW: u64 = 600;

/// The HKDF info prefix of a device's key.
const INFO: &[u8] = b"dhtchat index v1 device";
/// The signed certificate's domain.
const DOMAIN: &[u8] = b"dhtchat index device v1\0";

/// A device key certified by an account (the body of request kind 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    /// The device's Ed25519 public key.
    pub device: [u8; 32],
    /// When the client made it, Unix seconds.
    pub issued: u64,
    /// The account identity's signature over [`certificate_message`].
    pub account_sig: [u8; 64],
    /// The device's signature over the same message (proof of possession).
    pub device_sig: [u8; 64],
}

/// Why the index refuses a certificate (all answered `bad_certificate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The account's signature does not verify with the session account's key.
    #[error("not signed by the account")]
    AccountSignature,
    /// The device's signature does not verify (or the device key is no Ed25519 key).
    #[error("not signed by the device")]
    DeviceSignature,
    /// The device key is the account's own identity key.
    #[error("the device key is the account key")]
    AccountKey,
    /// Issued more than [`MAX_SKEW`] from the index's time.
    #[error("issued too far from the index's time")]
    Stale,
}

/// `"dhtchat index device v1" ‖ 0x00 ‖ len(name) 1 ‖ name ‖ account key 32 ‖ device key 32 ‖
/// issued u64 BE ‖ index key 32` (name normalised; keys are Ed25519 but the index key, X25519).
pub fn certificate_message(
    name: &str,
    account: &[u8; 32],
    device: &[u8; 32],
    issued: u64,
    index: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 1 + name.len() + 32 * 3 + 8);
    m.extend_from_slice(DOMAIN);
    m.push(u8::try_from(name.len()).unwrap_or(u8::MAX)); // names are at most 32 bytes
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(account);
    m.extend_from_slice(device);
    m.extend_from_slice(&issued.to_be_bytes());
    m.extend_from_slice(index);
    m
}

impl Certificate {
    /// The certificate of `device` for the account `name` (identity `account`) on `index`.
    pub fn sign(
        name: &str,
        account: &Identity,
        device: &Identity,
        issued: u64,
        index: &[u8; 32],
    ) -> Self {
        let device_key = device.signing_key();
        let m = certificate_message(name, &account.signing_key(), &device_key, issued, index);
        let sign = |i: &Identity| SigningKey::from_bytes(&i.seed()).sign(&m).to_bytes();
        Self {
            device: device_key,
            issued,
            account_sig: sign(account),
            device_sig: sign(device),
        }
    }

    /// The index's check: both signatures for the account `name` with identity key
    /// `account` on the index `index`, issued within [`MAX_SKEW`] of `now` (Unix seconds).
    pub fn verify(
        &self,
        name: &str,
        account: &[u8; 32],
        index: &[u8; 32],
        now: u64,
    ) -> Result<(), CertificateError> {
        if self.device == *account {
            return Err(CertificateError::AccountKey);
        }
        let m = certificate_message(name, account, &self.device, self.issued, index);
        let check = |key: &[u8; 32], sig: &[u8; 64]| {
            VerifyingKey::from_bytes(key)
                .is_ok_and(|k| k.verify(&m, &Signature::from_bytes(sig)).is_ok())
        };
        if !check(account, &self.account_sig) {
            return Err(CertificateError::AccountSignature);
        }
        if !check(&self.device, &self.device_sig) {
            return Err(CertificateError::DeviceSignature);
        }
        if self.issued.abs_diff(now) > MAX_SKEW {
            return Err(CertificateError::Stale);
        }
        Ok(())
    }
}

/// The device's identity for the account `name` on the index with key `index`.
pub fn device_identity(seed: &[u8; 32], index: &[u8; 32], name: &str) -> Identity {
    let mut info = Vec::with_capacity(INFO.len() + 1 + 32 + name.len());
    info.extend_from_slice(INFO);
    info.push(0);
    info.extend_from_slice(index);
    info.extend_from_slice(name.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, seed).expand(&info, out.as_mut());
    Identity::from_seed(&out)
}

/// The device seed in `dir` ([`SEED_FILE`]), made from `fresh` and written (mode 600) when
/// the file does not exist. A file that is not exactly 32 bytes is an error, not replaced.
pub fn load_or_create_seed(
    dir: &Path,
    fresh: impl FnOnce() -> [u8; 32],
) -> std::io::Result<Zeroizing<[u8; 32]>> {
    let path = dir.join(SEED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not 32 bytes", path.display()),
                )
            })?;
            return Ok(Zeroizing::new(seed));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir)?;
    let seed = Zeroizing::new(fresh());
    let tmp = dir.join(format!("{SEED_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(seed.as_ref())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: [u8; 32] = [0x22; 32];

    fn pair() -> (Identity, Identity) {
        let account = Identity::from_seed(&[1; 32]);
        let device = device_identity(&[9; 32], &INDEX, "alice");
        (account, device)
    }

    #[test]
    fn a_certificate_verifies_for_its_account_name_and_index_only() {
        let (account, device) = pair();
        let cert = Certificate::sign("alice", &account, &device, 1000, &INDEX);
        let key = account.signing_key();
        assert_eq!(cert.verify("alice", &key, &INDEX, 1000), Ok(()));
        assert_eq!(cert.verify("alice", &key, &INDEX, 1000 + MAX_SKEW), Ok(()));
        let other = Identity::from_seed(&[2; 32]).signing_key();
        let e = Err(CertificateError::AccountSignature);
        assert_eq!(cert.verify("alice", &other, &INDEX, 1000), e);
        assert_eq!(cert.verify("bob", &key, &INDEX, 1000), e);
        assert_eq!(cert.verify("alice", &key, &[0x23; 32], 1000), e);
        let stale = Err(CertificateError::Stale);
        assert_eq!(cert.verify("alice", &key, &INDEX, 1001 + MAX_SKEW), stale);
        assert_eq!(cert.verify("alice", &key, &INDEX, 0), stale);
    }

    #[test]
    fn the_device_must_sign_and_must_not_be_the_account() {
        let (account, device) = pair();
        let key = account.signing_key();
        // A device key claimed without its secret: the account signs, the device cannot.
        let mut claimed = Certificate::sign("alice", &account, &device, 5, &INDEX);
        claimed.device = Identity::from_seed(&[3; 32]).signing_key();
        let m = certificate_message("alice", &key, &claimed.device, 5, &INDEX);
        claimed.account_sig = SigningKey::from_bytes(&account.seed()).sign(&m).to_bytes();
        assert_eq!(
            claimed.verify("alice", &key, &INDEX, 5),
            Err(CertificateError::DeviceSignature)
        );
        let own = Certificate::sign("alice", &account, &account, 5, &INDEX);
        assert_eq!(
            own.verify("alice", &key, &INDEX, 5),
            Err(CertificateError::AccountKey)
        );
    }

    #[test]
    fn device_keys_differ_per_account_and_index() {
        let a = device_identity(&[9; 32], &INDEX, "alice").signing_key();
        assert_eq!(a, device_identity(&[9; 32], &INDEX, "alice").signing_key());
        assert_ne!(a, device_identity(&[9; 32], &INDEX, "bob").signing_key());
        assert_ne!(
            a,
            device_identity(&[9; 32], &[0x23; 32], "alice").signing_key()
        );
        assert_ne!(a, device_identity(&[8; 32], &INDEX, "alice").signing_key());
    }

    #[test]
    fn the_seed_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_seed(dir.path(), || [7; 32]).unwrap();
        assert_eq!(*first, [7; 32]);
        let again = load_or_create_seed(dir.path(), || [8; 32]).unwrap();
        assert_eq!(*again, [7; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SEED_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        std::fs::write(dir.path().join(SEED_FILE), [1; 5]).unwrap();
        assert!(load_or_create_seed(dir.path(), || [8; 32]).is_err());
    }
}
