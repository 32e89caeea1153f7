//! The sealed plaintext: `[inner id][data]` (PROTOCOL.md §3).
//!
//! | inner id | packet            | data                                              |
//! |----------|-------------------|---------------------------------------------------|
//! | 48       | get_nodes         | `[ping id 8]`                                     |
//! | 49       | send_nodes        | `[ping id 8][0..=6 × node entry 51]`              |
//! | 50       | broadcast         | `[origin 32][number u32 BE][message id][payload]` |
//! | 51       | signed broadcast  | as 50, then `[signer key 32][signature 64]`       |
//! | 52       | direct            | `[number u32 BE][text]` (secure groups only)      |
//! | 53       | have              | `[flags][k][span u16][salt u64][filter 0..=906]`   |
//! | 56       | history request   | `[id][cursor][within][origin 32][lo][hi][padding]` (`history.rs`) |
//! | 57       | history page      | `[id][from][next][flags][entries]` (`history.rs`)  |
//! | 58       | prune             | `[flags][origin 32]` (secure groups, eager tree)  |
//! | 59       | lazy              | `[kind][n][n × (origin 32, number u32 BE)]` (`lazy.rs`) |
//!
//! Decoding matches on the inner id, borrows the broadcast payload (and a direct message's
//! text) from the input and rejects trailing bytes. The direct text's 1..=785 bytes and UTF-8
//! are node rules (PROTOCOL.md §6.10), not codec rules, so whatever decodes re-encodes. Decoding a get_nodes or send_nodes never allocates.

use bytes::BufMut;

use super::history::{HistoryPage, HistoryRequest};
use super::lazy::Lazy;
use super::{
    Broadcast, DecodeError, EncodeError, Have, MAX_DATA, MAX_NODES, MAX_PLAINTEXT, NODE_INFO_LEN,
    NodeInfo, PING_ID_LEN, PublicKey, Reader,
};

/// The inner packet ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PayloadId {
    /// get_nodes, a request for the receiver's close nodes.
    GetNodes = 48,
    /// send_nodes, the answer to a get_nodes.
    SendNodes = 49,
    /// An unsigned broadcast (the 2014 dialect).
    Broadcast = 50,
    /// A broadcast with a signature trailer (the secure dialect).
    SignedBroadcast = 51,
    /// A private message to one member (the secure dialect).
    Direct = 52,
    /// An anti-entropy summary of the recent broadcasts a node holds.
    Have = 53,
    /// A request for the group's history (PROTOCOL.md §6.13).
    HistoryRequest = 56,
    /// One datagram of a history answer.
    HistoryPage = 57,
    /// Eager tree: stop sending me full copies of one origin's broadcasts (PROTOCOL.md §6.12).
    Prune = 58,
    /// Eager tree, lazy half: IHAVE or GRAFT (PROTOCOL.md §6.12).
    Lazy = 59,
}

impl TryFrom<u8> for PayloadId {
    type Error = DecodeError;

    fn try_from(id: u8) -> Result<Self, DecodeError> {
        match id {
            48 => Ok(Self::GetNodes),
            49 => Ok(Self::SendNodes),
            50 => Ok(Self::Broadcast),
            51 => Ok(Self::SignedBroadcast),
            52 => Ok(Self::Direct),
            53 => Ok(Self::Have),
            56 => Ok(Self::HistoryRequest),
            57 => Ok(Self::HistoryPage),
            58 => Ok(Self::Prune),
            59 => Ok(Self::Lazy),
            other => Err(DecodeError::UnknownPayloadId(other)),
        }
    }
}

/// prune (PROTOCOL.md §6.12): the sender got duplicates of `origin`'s broadcasts from the
/// receiver and asks it to send it no more full copies of that origin's broadcasts (the
/// link turns lazy for that origin's tree). The flags are reserved: sent 0, kept and
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// Reserved bits.
    pub flags: u8,
    /// The origin whose tree loses the link.
    pub origin: PublicKey,
}

/// get_nodes: asks the receiver for its close nodes. The ping id is opaque and is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetNodes {
    /// Opaque request id, echoed in the send_nodes answer.
    pub ping_id: [u8; PING_ID_LEN],
}

/// send_nodes: the answer to a get_nodes, with up to six node entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendNodes {
    /// The ping id of the get_nodes this answers.
    pub ping_id: [u8; PING_ID_LEN],
    /// The sender's good close nodes.
    pub nodes: NodeList,
}

/// direct: a private message sent straight to one member, never relayed (PROTOCOL.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direct<'a> {
    /// The sender's direct-message number (its own counter, not the broadcast one).
    pub number: u32,
    /// The text: UTF-8, [`Direct::MIN_TEXT`]..=[`Direct::MAX_TEXT`] bytes when sent.
    pub text: &'a [u8],
}

impl Direct<'_> {
    /// Fewest text bytes a node sends or accepts.
    pub const MIN_TEXT: usize = 1;
    /// Most text bytes a node sends or accepts (785, as a signed broadcast's body).
    pub const MAX_TEXT: usize = super::MAX_SIGNED_PAYLOAD;

    /// Checks the text a node may send or accept: its length and UTF-8.
    pub fn check_text(text: &[u8]) -> Result<(), EncodeError> {
        if !(Self::MIN_TEXT..=Self::MAX_TEXT).contains(&text.len()) {
            return Err(match text.is_empty() {
                true => EncodeError::BadValue("empty direct text"),
                false => EncodeError::TooLong {
                    len: text.len(),
                    max: Self::MAX_TEXT,
                },
            });
        }
        match std::str::from_utf8(text) {
            Ok(_) => Ok(()),
            Err(_) => Err(EncodeError::BadValue("direct text is not UTF-8")),
        }
    }
}

/// A list of at most [`MAX_NODES`] node entries, stored inline (no heap).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodeList {
    len: u8,
    items: [Option<NodeInfo>; MAX_NODES],
}

impl NodeList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            len: 0,
            items: [None; MAX_NODES],
        }
    }

    /// Appends a node; gives it back when the list is full.
    pub fn push(&mut self, node: NodeInfo) -> Result<(), NodeInfo> {
        let Some(slot) = self.items.get_mut(usize::from(self.len)) else {
            return Err(node);
        };
        *slot = Some(node);
        self.len += 1;
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &NodeInfo> {
        self.items.iter().flatten()
    }
}

impl Default for NodeList {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for NodeList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<NodeInfo> for NodeList {
    /// Collects at most [`MAX_NODES`] entries; the rest are dropped.
    fn from_iter<I: IntoIterator<Item = NodeInfo>>(iter: I) -> Self {
        let mut list = Self::new();
        for node in iter.into_iter().take(MAX_NODES) {
            let _ = list.push(node);
        }
        list
    }
}

/// One decoded plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // send_nodes is inline on purpose: decoding never allocates
pub enum Payload<'a> {
    /// Inner id 48.
    GetNodes(GetNodes),
    /// Inner id 49.
    SendNodes(SendNodes),
    /// Inner id 50 (unsigned) or 51 (signed, when the trailer is present).
    Broadcast(Broadcast<'a>),
    /// Inner id 52.
    Direct(Direct<'a>),
    /// Inner id 53.
    Have(Have<'a>),
    /// Inner id 56.
    HistoryRequest(HistoryRequest),
    /// Inner id 57.
    HistoryPage(HistoryPage<'a>),
    /// Inner id 58.
    Prune(Prune),
    /// Inner id 59.
    Lazy(Lazy<'a>),
}

impl<'a> Payload<'a> {
    /// Decodes a whole plaintext (`[inner id][data]`).
    pub fn decode(plain: &'a [u8]) -> Result<Self, DecodeError> {
        if plain.len() > MAX_PLAINTEXT {
            return Err(DecodeError::TooLong {
                len: plain.len(),
                max: MAX_PLAINTEXT,
            });
        }
        let mut r = Reader::new(plain);
        let id = PayloadId::try_from(r.u8()?)?;
        if r.remaining() == 0 {
            return Err(DecodeError::TooShort { need: 1, got: 0 });
        }
        let payload = match id {
            PayloadId::GetNodes => Self::GetNodes(GetNodes {
                ping_id: r.array()?,
            }),
            PayloadId::SendNodes => Self::SendNodes(read_send_nodes(&mut r)?),
            PayloadId::Broadcast => Self::Broadcast(Broadcast::read(&mut r, false)?),
            PayloadId::SignedBroadcast => Self::Broadcast(Broadcast::read(&mut r, true)?),
            PayloadId::Direct => Self::Direct(Direct {
                number: r.u32_be()?,
                text: r.rest(),
            }),
            PayloadId::Have => Self::Have(Have::read(&mut r)?),
            PayloadId::HistoryRequest => Self::HistoryRequest(HistoryRequest::read(&mut r)?),
            PayloadId::HistoryPage => Self::HistoryPage(HistoryPage::read(&mut r)?),
            PayloadId::Prune => Self::Prune(Prune {
                flags: r.u8()?,
                origin: PublicKey(r.array()?),
            }),
            PayloadId::Lazy => Self::Lazy(Lazy::read(&mut r)?),
        };
        r.finish()?;
        Ok(payload)
    }

    /// The inner id this payload is sent with.
    pub fn id(&self) -> PayloadId {
        match self {
            Self::GetNodes(_) => PayloadId::GetNodes,
            Self::SendNodes(_) => PayloadId::SendNodes,
            Self::Broadcast(b) if b.trailer.is_some() => PayloadId::SignedBroadcast,
            Self::Broadcast(_) => PayloadId::Broadcast,
            Self::Direct(_) => PayloadId::Direct,
            Self::Have(_) => PayloadId::Have,
            Self::HistoryRequest(_) => PayloadId::HistoryRequest,
            Self::HistoryPage(_) => PayloadId::HistoryPage,
            Self::Prune(_) => PayloadId::Prune,
            Self::Lazy(_) => PayloadId::Lazy,
        }
    }

    /// Length of the plaintext, inner id included.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Self::GetNodes(_) => PING_ID_LEN,
            Self::SendNodes(s) => PING_ID_LEN + NODE_INFO_LEN * s.nodes.len(),
            Self::Broadcast(b) => b.encoded_len(),
            Self::Direct(d) => 4 + d.text.len(),
            Self::Have(h) => h.encoded_len(),
            Self::HistoryRequest(q) => q.encoded_len(),
            Self::HistoryPage(p) => p.encoded_len(),
            Self::Prune(_) => 1 + super::KEY_LEN,
            Self::Lazy(l) => l.encoded_len(),
        }
    }

    /// Checks that the payload fits in one datagram; writes nothing.
    pub fn check(&self) -> Result<(), EncodeError> {
        match self.encoded_len() {
            len if len > MAX_PLAINTEXT => Err(EncodeError::TooLong {
                len: len - 1,
                max: MAX_DATA,
            }),
            _ => Ok(()),
        }
    }

    /// Appends the plaintext. Fails, writing nothing, if it would not fit in a datagram.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check()?;
        out.put_u8(self.id() as u8);
        match self {
            Self::GetNodes(g) => out.put_slice(&g.ping_id),
            Self::SendNodes(s) => {
                out.put_slice(&s.ping_id);
                s.nodes.iter().for_each(|n| n.encode(out));
            }
            Self::Broadcast(b) => b.write(out),
            Self::Direct(d) => {
                out.put_u32(d.number);
                out.put_slice(d.text);
            }
            Self::Have(h) => h.write(out),
            Self::HistoryRequest(q) => q.write(out),
            Self::HistoryPage(p) => p.write(out),
            Self::Prune(p) => {
                out.put_u8(p.flags);
                out.put_slice(&p.origin.0);
            }
            Self::Lazy(l) => l.write(out),
        }
        Ok(())
    }
}

fn read_send_nodes(r: &mut Reader<'_>) -> Result<SendNodes, DecodeError> {
    let ping_id = r.array()?;
    let len = r.remaining();
    if len % NODE_INFO_LEN != 0 {
        return Err(DecodeError::PartialNode { len });
    }
    if len > NODE_INFO_LEN * MAX_NODES {
        return Err(DecodeError::TooLong {
            len,
            max: NODE_INFO_LEN * MAX_NODES,
        });
    }
    let mut nodes = NodeList::new();
    while r.remaining() > 0 {
        // Cannot overflow: the length check above allows at most MAX_NODES entries.
        let _ = nodes.push(NodeInfo::read(r)?);
    }
    Ok(SendNodes { ping_id, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PublicKey;

    fn node(i: u8) -> NodeInfo {
        NodeInfo {
            key: PublicKey([i; 32]),
            addr: format!("127.0.0.{i}:{}", 1000 + u16::from(i))
                .parse()
                .unwrap(),
        }
    }

    #[test]
    fn get_nodes_construct_deconstruct() {
        let plain = [48, 1, 2, 3, 4, 5, 6, 7, 8];
        let p = Payload::decode(&plain).unwrap();
        assert_eq!(
            p,
            Payload::GetNodes(GetNodes {
                ping_id: [1, 2, 3, 4, 5, 6, 7, 8]
            })
        );
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn get_nodes_with_wrong_length_is_rejected() {
        assert!(Payload::decode(&[48, 1, 2, 3, 4, 5, 6, 7]).is_err());
        assert_eq!(
            Payload::decode(&[48, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn send_nodes_construct_deconstruct() {
        let nodes: NodeList = (1..=6).map(node).collect();
        let p = Payload::SendNodes(SendNodes {
            ping_id: [7; 8],
            nodes,
        });
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out.len(), 1 + 8 + 6 * 51);
        assert_eq!(out[0], 49);
        assert_eq!(&out[1..9], &[7; 8]);
        assert_eq!(&out[9..41], &[1; 32]);
        assert_eq!(Payload::decode(&out), Ok(p));
    }

    #[test]
    fn send_nodes_with_zero_nodes_is_valid() {
        let p = Payload::decode(&[49, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let Payload::SendNodes(s) = p else { panic!() };
        assert!(s.nodes.is_empty());
    }

    #[test]
    fn send_nodes_with_seven_nodes_is_rejected() {
        let mut out = vec![49; 9];
        (1..=7).for_each(|i| node(i).encode(&mut out));
        assert_eq!(
            Payload::decode(&out),
            Err(DecodeError::TooLong { len: 357, max: 306 })
        );
    }

    #[test]
    fn send_nodes_with_partial_node_is_rejected() {
        let mut out = vec![49; 9];
        node(1).encode(&mut out);
        out.pop();
        assert_eq!(
            Payload::decode(&out),
            Err(DecodeError::PartialNode { len: 50 })
        );
    }

    #[test]
    fn unknown_inner_id_and_empty_data_are_rejected() {
        assert_eq!(
            Payload::decode(&[47, 0]),
            Err(DecodeError::UnknownPayloadId(47))
        );
        assert_eq!(
            Payload::decode(&[48]),
            Err(DecodeError::TooShort { need: 1, got: 0 })
        );
        assert_eq!(
            Payload::decode(&[]),
            Err(DecodeError::TooShort { need: 1, got: 0 })
        );
    }

    #[test]
    fn direct_construct_deconstruct() {
        let plain = [52, 0, 0, 1, 2, b'h', b'i'];
        let p = Payload::decode(&plain).unwrap();
        assert_eq!(
            p,
            Payload::Direct(Direct {
                number: 258,
                text: b"hi"
            })
        );
        assert_eq!(p.id(), PayloadId::Direct);
        assert_eq!(p.encoded_len(), plain.len());
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out, plain);
        assert_eq!(
            Payload::decode(&[52, 0, 0, 1]),
            Err(DecodeError::TooShort { need: 4, got: 3 })
        );
    }

    #[test]
    fn direct_text_rules() {
        assert!(Direct::check_text(b"x").is_ok());
        assert!(Direct::check_text(&[b'a'; 785]).is_ok());
        assert_eq!(
            Direct::check_text(&[b'a'; 786]),
            Err(EncodeError::TooLong { len: 786, max: 785 })
        );
        assert!(Direct::check_text(b"").is_err());
        assert!(Direct::check_text(&[0xFF]).is_err());
    }

    #[test]
    fn prune_construct_deconstruct() {
        let mut plain = vec![58, 0];
        plain.extend([7; 32]);
        let p = Payload::decode(&plain).unwrap();
        let origin = PublicKey([7; 32]);
        assert_eq!(p, Payload::Prune(Prune { flags: 0, origin }));
        assert_eq!(p.id(), PayloadId::Prune);
        assert_eq!(p.encoded_len(), 34);
        plain[1] = 0xA5;
        let kept = Payload::decode(&plain).unwrap();
        let mut out = Vec::new();
        kept.encode(&mut out).unwrap();
        assert_eq!(out, plain, "reserved bits are kept");
        assert!(Payload::decode(&[58, 0]).is_err(), "no origin");
        plain.push(0);
        assert_eq!(
            Payload::decode(&plain),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn lazy_construct_deconstruct() {
        let mut plain = vec![59, 1, 1];
        plain.extend([9; 32]);
        plain.extend(5u32.to_be_bytes());
        let p = Payload::decode(&plain).unwrap();
        let Payload::Lazy(l) = p else { panic!() };
        assert_eq!(l.kind, super::super::lazy::LazyKind::Graft);
        assert_eq!(l.ids().collect::<Vec<_>>(), [(PublicKey([9; 32]), 5)]);
        assert_eq!(p.encoded_len(), plain.len());
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out, plain);
        plain.push(0);
        assert_eq!(
            Payload::decode(&plain),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn node_list_is_bounded() {
        let mut list = NodeList::new();
        (1..=6).for_each(|i| list.push(node(i)).unwrap());
        assert_eq!(list.push(node(7)), Err(node(7)));
        assert_eq!(list.len(), 6);
    }
}
