//! Device keys on the wire: request kinds 24 and 25 and their reply bodies (PROTOCOL.md
//! §8.13).
//!
//! | kind | request         | body                                                          | ok reply body |
//! |------|-----------------|---------------------------------------------------------------|---------------|
//! | 24   | register device | `[device key 32][issued u64][account signature 64][device signature 64]` | `[devices 1][evicted 1]` |
//! | 25   | remove device   | `[device key 32]`                                             | `[removed 1]` (0 or 1) |
//!
//! Both need a session. Statuses: 13 `bad_certificate` (a signature fails, the device key is
//! the account's, or the time is off), 14 `device_taken` (another account holds that key).

use super::Kind;
use crate::index::devices::Certificate;
use crate::wire::{DecodeError, Reader};

/// A device request (kinds 24–25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// Kind 24: register (or refresh) a device key of the logged-in account.
    Register(Certificate),
    /// Kind 25: remove a device key of the logged-in account.
    Remove {
        /// The device's Ed25519 public key.
        device: [u8; 32],
    },
}

/// An ok reply body of kinds 24–25.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceReply {
    /// Kind 24: the account's devices now, and how many were evicted to make room.
    Registered {
        /// Devices of the account after this one (≤ 16).
        devices: u8,
        /// Least recently used devices removed (0 or 1).
        evicted: u8,
    },
    /// Kind 25: 1 if the key was a device of the account.
    Removed(u8),
}

impl DeviceRequest {
    /// The request kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Register(_) => Kind::RegisterDevice,
            Self::Remove { .. } => Kind::RemoveDevice,
        }
    }

    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Register(c) => {
                out.extend_from_slice(&c.device);
                out.extend_from_slice(&c.issued.to_be_bytes());
                out.extend_from_slice(&c.account_sig);
                out.extend_from_slice(&c.device_sig);
            }
            Self::Remove { device } => out.extend_from_slice(device),
        }
    }

    /// Decodes the body of kind `kind` (24 or 25).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match kind {
            24 => Ok(Self::Register(Certificate {
                device: r.array()?,
                issued: r.u64_be()?,
                account_sig: r.array()?,
                device_sig: r.array()?,
            })),
            25 => Ok(Self::Remove { device: r.array()? }),
            other => Err(DecodeError::UnknownPayloadId(other)),
        }
    }
}

impl DeviceReply {
    /// Appends the body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Registered { devices, evicted } => out.extend_from_slice(&[*devices, *evicted]),
            Self::Removed(n) => out.push(*n),
        }
    }

    /// Decodes the ok body of kind `kind` (24 or 25).
    pub(crate) fn decode_body(kind: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match kind {
            24 => Ok(Self::Registered {
                devices: r.u8()?,
                evicted: r.u8()?,
            }),
            25 => Ok(Self::Removed(r.u8()?)),
            other => Err(DecodeError::UnknownPayloadId(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::wire::{Reply, ReplyBody, Request, Status};

    #[test]
    fn requests_and_replies_round_trip_and_refuse_extra_bytes() {
        let cert = Certificate {
            device: [1; 32],
            issued: 0x0102_0304,
            account_sig: [2; 64],
            device_sig: [3; 64],
        };
        for req in [
            DeviceRequest::Register(cert),
            DeviceRequest::Remove { device: [4; 32] },
        ] {
            let req = Request::Device(req);
            let bytes = req.encode();
            assert_eq!(Request::decode(&bytes).unwrap(), req);
            let mut long = bytes.clone();
            long.push(0);
            assert!(Request::decode(&long).is_err());
            assert!(Request::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        assert_eq!(
            Request::Device(DeviceRequest::Register(cert))
                .encode()
                .len(),
            169
        );
        for (kind, body) in [
            (
                Kind::RegisterDevice,
                DeviceReply::Registered {
                    devices: 16,
                    evicted: 1,
                },
            ),
            (Kind::RemoveDevice, DeviceReply::Removed(1)),
        ] {
            let reply = Reply {
                kind,
                status: Status::Ok,
                body: ReplyBody::Device(body),
            };
            assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        }
        for status in [Status::BadCertificate, Status::DeviceTaken] {
            let reply = Reply::status(Kind::RegisterDevice, status);
            assert_eq!(reply.encode(), vec![24, status as u8]);
            assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        }
    }
}
