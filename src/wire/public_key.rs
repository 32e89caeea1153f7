//! The 32-byte public key that names a member on the wire (envelope keys, broadcast origin).

use std::fmt;
use std::str::FromStr;

use super::KEY_LEN;

/// A member's X25519 public key for one group, as it appears on the wire.
///
/// `Display` prints the full key as 64 upper-case hex digits; `Debug` prints only the first
/// five bytes (`fmt_short`), which is what logs should show.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl PublicKey {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The first five bytes in hex, for logs and compact displays.
    pub fn fmt_short(&self) -> String {
        hex::encode_upper(&self.0[..5])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fmt_short())
    }
}

impl From<[u8; KEY_LEN]> for PublicKey {
    fn from(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
}

/// A key string that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a public key is 64 hex digits")]
pub struct PublicKeyParseError;

impl FromStr for PublicKey {
    type Err = PublicKeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; KEY_LEN];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| PublicKeyParseError)?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_short_form() {
        let key = PublicKey([0xAB; 32]);
        assert_eq!(key.to_string().parse::<PublicKey>(), Ok(key));
        assert_eq!(format!("{key:?}"), "PublicKey(ABABABABAB)");
        assert_eq!("abc".parse::<PublicKey>(), Err(PublicKeyParseError));
    }
}
