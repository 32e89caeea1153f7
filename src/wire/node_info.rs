//! The 51-byte node entry inside send_nodes (PROTOCOL.md §3.3; wire-2014.md §2.4).
//!
//! | offset | size | content                                                        |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 32   | the node's public key                                          |
//! | 32     | 1    | family: 2 = IPv4, 10 = IPv6                                    |
//! | 33     | 16   | address: IPv6, or IPv4 in the first 4 bytes (12 bytes ignored) |
//! | 49     | 2    | port, big-endian                                               |
//!
//! This is the 2014 C struct layout (pk first), not the DHT packed-node format. For IPv4 the
//! 12 bytes after the address are undefined in C: ignored on read, zeroed on write.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::BufMut;

use super::{DecodeError, NODE_INFO_LEN, PublicKey, Reader};

/// Family byte for IPv4 (`AF_INET` after `to_net_family`).
pub const FAMILY_IPV4: u8 = 2;
/// Family byte for IPv6.
pub const FAMILY_IPV6: u8 = 10;

/// One node entry: a member's key and the UDP address it was reached at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The member's public key in the group.
    pub key: PublicKey,
    /// Its UDP address.
    pub addr: SocketAddr,
}

impl NodeInfo {
    /// Decodes one 51-byte entry from the reader.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key = PublicKey(r.array()?);
        let family = r.u8()?;
        let raw: [u8; 16] = r.array()?;
        let port = r.u16_be()?;
        let ip = match family {
            FAMILY_IPV4 => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
            FAMILY_IPV6 => IpAddr::V6(Ipv6Addr::from(raw)),
            other => return Err(DecodeError::BadFamily(other)),
        };
        Ok(Self {
            key,
            addr: SocketAddr::new(ip, port),
        })
    }

    /// Decodes exactly one entry; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let node = Self::read(&mut r)?;
        r.finish()?;
        Ok(node)
    }

    /// Appends the 51-byte entry, IPv4 padding zeroed.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(self.key.as_bytes());
        let mut raw = [0u8; 16];
        match self.addr.ip() {
            IpAddr::V4(v4) => {
                out.put_u8(FAMILY_IPV4);
                raw[..4].copy_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.put_u8(FAMILY_IPV6);
                raw = v6.octets();
            }
        }
        out.put_slice(&raw);
        out.put_u16(self.addr.port());
    }

    /// Always [`NODE_INFO_LEN`] (51).
    pub const fn encoded_len(&self) -> usize {
        NODE_INFO_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes observed from a dual-stack C peer (wire-2014.md §2.4): IPv4 127.0.0.1 with the
    /// leftover bytes of the IPv4-mapped address in the padding, port 33445.
    const C_PEER_IPV4: [u8; 51] = {
        let mut b = [0x7Bu8; 51];
        let tail: [u8; 19] = [
            0x02, 0x7F, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0xFF, 0xFF, 0x82, 0xA5,
        ];
        let mut i = 0;
        while i < 19 {
            b[32 + i] = tail[i];
            i += 1;
        }
        b
    };

    #[test]
    fn deconstruct_ignores_ipv4_padding() {
        let node = NodeInfo::decode(&C_PEER_IPV4).unwrap();
        assert_eq!(node.key, PublicKey([0x7B; 32]));
        assert_eq!(node.addr, "127.0.0.1:33445".parse().unwrap());
    }

    #[test]
    fn construct_zeroes_ipv4_padding() {
        let node = NodeInfo {
            key: PublicKey([0x7B; 32]),
            addr: "127.0.0.1:33445".parse().unwrap(),
        };
        let mut out = Vec::new();
        node.encode(&mut out);
        assert_eq!(out.len(), 51);
        assert_eq!(&out[32..37], &[2, 127, 0, 0, 1]);
        assert_eq!(&out[37..49], &[0; 12]);
        assert_eq!(&out[49..], &[0x82, 0xA5]);
    }

    #[test]
    fn ipv6_round_trip() {
        let node = NodeInfo {
            key: PublicKey([9; 32]),
            addr: "[::1]:4242".parse().unwrap(),
        };
        let mut out = Vec::new();
        node.encode(&mut out);
        assert_eq!(out[32], 10);
        assert_eq!(NodeInfo::decode(&out), Ok(node));
    }

    #[test]
    fn unknown_family_is_rejected() {
        let mut bytes = C_PEER_IPV4;
        bytes[32] = 3;
        assert_eq!(NodeInfo::decode(&bytes), Err(DecodeError::BadFamily(3)));
    }
}
