//! History fetch (inner ids 56 and 57, secure dialect; PROTOCOL.md §6.13).
//!
//! **history request (56)**, data 52 + p bytes:
//!
//! | offset | size | content                                                           |
//! |--------|------|-------------------------------------------------------------------|
//! | 0      | 4    | request id, u32 BE, echoed in the answer                          |
//! | 4      | 4    | cursor, u32 BE: the server's log position to scan from (0: oldest) |
//! | 8      | 4    | within, u32 BE: only entries at most this many seconds old         |
//! | 12     | 32   | origin filter: all zero for every origin                          |
//! | 44     | 4    | lo, u32 BE: with an origin, its numbers from lo ...  (0 without)  |
//! | 48     | 4    | hi, u32 BE: ... to hi (inclusive) (0 without)                     |
//! | 52     | p    | padding, zero bytes: what the asker pays for the answer (§6.2)    |
//!
//! A non-zero padding byte, or a range without an origin, does not decode.
//!
//! **history page (57)**, data 13 + entries:
//!
//! | offset | size | content                                                           |
//! |--------|------|-------------------------------------------------------------------|
//! | 0      | 4    | request id, echoed                                                |
//! | 4      | 4    | from: the cursor this datagram's scan started at                  |
//! | 8      | 4    | next: the cursor after it (the next request starts there)         |
//! | 12     | 1    | flags: bit 0 `end` (nothing after `next`), bit 1 `last` of the page |
//! | 13     | …    | entries, back to back                                             |
//!
//! One entry (111 + m bytes): `[len u16 = 109 + m][age u32][prev u32][number u32][message id
//! 1][body m][signer 32][signature 64]`. The origin is not sent: it is `to_montgomery(signer)`
//! (PROTOCOL.md §4.3 rule 2), so a full 785-byte body still fits one datagram. Decoding
//! checks lengths only; what an entry says is checked by the node (signature, numbers).

use bytes::BufMut;

use super::{
    Broadcast, DecodeError, EncodeError, KEY_LEN, MAX_DATA, PublicKey, Reader, SIGNATURE_LEN,
    SignatureTrailer,
};

/// Fixed part of a history request.
pub const HISTORY_REQUEST_LEN: usize = 52;
/// Fixed part of a history page.
pub const HISTORY_PAGE_HEADER_LEN: usize = 13;
/// Fixed part of one entry after its length field (age, prev, number, message id, trailer).
pub const HISTORY_ENTRY_FIXED: usize = 4 + 4 + 4 + 1 + KEY_LEN + SIGNATURE_LEN;

/// A history request (inner id 56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRequest {
    /// Echoed in every page of the answer.
    pub request_id: u32,
    /// The server's log position to scan from.
    pub cursor: u32,
    /// Only entries at most this many seconds old (`u32::MAX`: any).
    pub within: u32,
    /// Only this origin's entries, numbered `lo..=hi`; `None`: every origin.
    pub origin: Option<(PublicKey, u32, u32)>,
    /// Zero bytes of padding that pay for the answer (the reply budget, PROTOCOL.md §6.2).
    pub padding: usize,
}

impl HistoryRequest {
    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let request_id = r.u32_be()?;
        let cursor = r.u32_be()?;
        let within = r.u32_be()?;
        let key = PublicKey(r.array()?);
        let (lo, hi) = (r.u32_be()?, r.u32_be()?);
        let rest = r.rest();
        // Canonical only, so whatever decodes re-encodes: zero padding, and no range
        // without an origin.
        if rest.iter().any(|b| *b != 0) {
            return Err(DecodeError::BadValue("history request padding"));
        }
        let origin = (key.0 != [0; KEY_LEN]).then_some((key, lo, hi));
        if origin.is_none() && (lo, hi) != (0, 0) {
            return Err(DecodeError::BadValue(
                "history request range without origin",
            ));
        }
        let padding = rest.len();
        Ok(Self {
            request_id,
            cursor,
            within,
            origin,
            padding,
        })
    }

    /// Length of the data (no inner id).
    pub fn encoded_len(&self) -> usize {
        HISTORY_REQUEST_LEN + self.padding
    }

    pub(super) fn write(&self, out: &mut impl BufMut) {
        out.put_u32(self.request_id);
        out.put_u32(self.cursor);
        out.put_u32(self.within);
        let (key, lo, hi) = self.origin.unwrap_or((PublicKey([0; KEY_LEN]), 0, 0));
        out.put_slice(key.as_bytes());
        out.put_u32(lo);
        out.put_u32(hi);
        out.put_bytes(0, self.padding);
    }
}

/// A history page (inner id 57), borrowing its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage<'a> {
    /// The request it answers.
    pub request_id: u32,
    /// The cursor this datagram's scan started at.
    pub from: u32,
    /// The cursor after it.
    pub next: u32,
    /// [`HistoryPage::END`], [`HistoryPage::LAST`]; other bits ignored.
    pub flags: u8,
    entries: &'a [u8],
}

impl<'a> HistoryPage<'a> {
    /// Nothing more after `next` for this request.
    pub const END: u8 = 1;
    /// The last datagram of this page.
    pub const LAST: u8 = 2;

    /// A page over `entries` (written with [`HistoryEntry::write`]); checked like a decode.
    pub fn new(
        (request_id, from, next, flags): (u32, u32, u32, u8),
        entries: &'a [u8],
    ) -> Result<Self, DecodeError> {
        if HISTORY_PAGE_HEADER_LEN + entries.len() > MAX_DATA {
            return Err(DecodeError::TooLong {
                len: HISTORY_PAGE_HEADER_LEN + entries.len(),
                max: MAX_DATA,
            });
        }
        let page = Self {
            request_id,
            from,
            next,
            flags,
            entries,
        };
        for e in page.entries() {
            e?;
        }
        Ok(page)
    }

    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let head = (r.u32_be()?, r.u32_be()?, r.u32_be()?, r.u8()?);
        Self::new(head, r.rest())
    }

    /// True if `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The entries in order; a malformed one ends the list with an error.
    pub fn entries(&self) -> impl Iterator<Item = Result<HistoryEntry<'a>, DecodeError>> + 'a {
        let mut r = Reader::new(self.entries);
        std::iter::from_fn(move || {
            if r.remaining() == 0 {
                return None;
            }
            let entry = HistoryEntry::read(&mut r);
            if entry.is_err() {
                r.rest();
            }
            Some(entry)
        })
    }

    /// Length of the data (no inner id).
    pub fn encoded_len(&self) -> usize {
        HISTORY_PAGE_HEADER_LEN + self.entries.len()
    }

    pub(super) fn write(&self, out: &mut impl BufMut) {
        out.put_u32(self.request_id);
        out.put_u32(self.from);
        out.put_u32(self.next);
        out.put_u8(self.flags);
        out.put_slice(self.entries);
    }
}

/// One history entry: a signed broadcast without its origin, with the server's age and the
/// number of the origin's previous kept text message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry<'a> {
    /// Seconds since the server stored it (unsigned: a hint for display order only).
    pub age: u32,
    /// The number of the server's previous entry of this origin; 0 if it holds none before.
    pub prev: u32,
    /// The origin's message number (signed).
    pub number: u32,
    /// The message id (signed).
    pub message_id: u8,
    /// The body (signed).
    pub body: &'a [u8],
    /// The signer's Ed25519 key and signature.
    pub trailer: SignatureTrailer,
}

impl<'a> HistoryEntry<'a> {
    /// The entry of a signed broadcast; `None` if it is unsigned.
    pub fn of(b: &Broadcast<'a>, age: u32, prev: u32) -> Option<Self> {
        Some(Self {
            age,
            prev,
            number: b.number,
            message_id: b.message_id,
            body: b.body,
            trailer: b.trailer?,
        })
    }

    /// The broadcast it carries, with the origin the signer maps to (the caller verifies it).
    pub fn broadcast(&self, origin: PublicKey) -> Broadcast<'a> {
        Broadcast {
            origin,
            number: self.number,
            message_id: self.message_id,
            body: self.body,
            trailer: Some(self.trailer),
        }
    }

    /// Bytes it takes in a page, length field included.
    pub fn encoded_len(&self) -> usize {
        2 + HISTORY_ENTRY_FIXED + self.body.len()
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let len = usize::from(r.u16_be()?);
        let mut e = Reader::new(r.take(len)?);
        let age = e.u32_be()?;
        let prev = e.u32_be()?;
        let number = e.u32_be()?;
        let message_id = e.u8()?;
        let Some(body_len) = e.remaining().checked_sub(KEY_LEN + SIGNATURE_LEN) else {
            return Err(DecodeError::TooShort {
                need: KEY_LEN + SIGNATURE_LEN,
                got: e.remaining(),
            });
        };
        let body = e.take(body_len)?;
        let trailer = SignatureTrailer {
            signer: e.array()?,
            signature: e.array()?,
        };
        e.finish()?;
        Ok(Self {
            age,
            prev,
            number,
            message_id,
            body,
            trailer,
        })
    }

    /// Appends the entry, length field first. Fails, writing nothing, if the body is longer
    /// than a signed broadcast's.
    pub fn write(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        Broadcast::check_body_len(self.body.len(), true)?;
        let len = HISTORY_ENTRY_FIXED + self.body.len();
        out.put_u16(u16::try_from(len).map_err(|_| EncodeError::BadValue("entry length"))?);
        out.put_u32(self.age);
        out.put_u32(self.prev);
        out.put_u32(self.number);
        out.put_u8(self.message_id);
        out.put_slice(self.body);
        out.put_slice(&self.trailer.signer);
        out.put_slice(&self.trailer.signature);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MAX_SIGNED_PAYLOAD, Payload};

    fn entry(body: &[u8]) -> HistoryEntry<'_> {
        HistoryEntry {
            age: 7,
            prev: 2,
            number: 3,
            message_id: 64,
            body,
            trailer: SignatureTrailer {
                signer: [5; 32],
                signature: [6; 64],
            },
        }
    }

    #[test]
    fn a_request_round_trips_with_and_without_origin() {
        for origin in [None, Some((PublicKey([9; 32]), 4, 10))] {
            let req = HistoryRequest {
                request_id: 1,
                cursor: 2,
                within: 3,
                origin,
                padding: 100,
            };
            let mut out = Vec::new();
            Payload::HistoryRequest(req).encode(&mut out).unwrap();
            assert_eq!(out.len(), 1 + 52 + 100);
            assert_eq!(Payload::decode(&out).unwrap(), Payload::HistoryRequest(req));
        }
    }

    #[test]
    fn a_page_with_a_full_size_body_fits_one_datagram() {
        let body = vec![b'x'; MAX_SIGNED_PAYLOAD];
        let mut entries = Vec::new();
        entry(&body).write(&mut entries).unwrap();
        let page = HistoryPage::new((1, 0, 1, HistoryPage::END), &entries).unwrap();
        let mut out = Vec::new();
        Payload::HistoryPage(page).encode(&mut out).unwrap();
        assert!(out.len() <= crate::wire::MAX_PLAINTEXT);
        let Payload::HistoryPage(back) = Payload::decode(&out).unwrap() else {
            panic!("not a page")
        };
        let got: Vec<_> = back.entries().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, [entry(&body)]);
        assert!(back.has(HistoryPage::END) && !back.has(HistoryPage::LAST));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        let mut entries = Vec::new();
        entry(b"hi").write(&mut entries).unwrap();
        for cut in [1, 5, entries.len() - 1] {
            assert!(
                HistoryPage::new((1, 0, 1, 0), &entries[..cut]).is_err(),
                "{cut}"
            );
        }
        let mut req = vec![56u8; 1];
        HistoryRequest::write(
            &HistoryRequest {
                request_id: 1,
                cursor: 0,
                within: 0,
                origin: None,
                padding: 3,
            },
            &mut req,
        );
        assert!(Payload::decode(&req).is_ok());
        let last = req.len() - 1;
        req[last] = 1;
        assert!(Payload::decode(&req).is_err(), "non-zero padding");
        req[last] = 0;
        req[45] = 1;
        assert!(Payload::decode(&req).is_err(), "a range without an origin");
        let mut short = entries.clone();
        short[0..2].copy_from_slice(&10u16.to_be_bytes());
        assert!(HistoryPage::new((1, 0, 1, 0), &short).is_err());
        assert!(
            entry(&[0; MAX_SIGNED_PAYLOAD + 1])
                .write(&mut Vec::new())
                .is_err()
        );
    }
}
