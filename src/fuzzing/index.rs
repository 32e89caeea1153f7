//! Fuzz target `index_message`: the index's own formats (PROTOCOL.md §8, Appendix B), which
//! arrive from strangers before any login.
//!
//! - any bytes as a fragment plaintext (inner ids 96 and 97): what decodes re-encodes to the
//!   same bytes;
//! - any bytes as a reassembled request and as a reassembled reply: what decodes re-encodes to
//!   the same bytes and decodes to the same value;
//! - any bytes as a group-key rotation record: the same round trip, and the chat id peeked
//!   without decoding agrees with the decoded one.

use crate::index::groupkey::RotationRecord;
use crate::index::wire::{Fragment, Reply, Request};

/// Fuzz target `index_message` (see the module docs).
pub fn index_message(data: &[u8]) {
    if let Ok(fragment) = Fragment::decode(data) {
        assert_eq!(fragment.encode(), data, "fragment {fragment:?} re-encodes");
    }
    if let Ok(request) = Request::decode(data) {
        let encoded = request.encode();
        assert_eq!(encoded, data, "request {request:?} re-encodes");
        assert_eq!(Request::decode(&encoded).as_ref(), Ok(&request));
    }
    if let Ok(reply) = Reply::decode(data) {
        let encoded = reply.encode();
        assert_eq!(encoded, data, "reply {reply:?} re-encodes");
        assert_eq!(Reply::decode(&encoded).as_ref(), Ok(&reply));
    }
    record_roundtrip(data);
}

/// A record that decodes re-encodes to `data`; its peeked chat id is the decoded one.
fn record_roundtrip(data: &[u8]) {
    let Ok(record) = RotationRecord::decode(data) else {
        return;
    };
    assert_eq!(record.encoded_len(), data.len());
    assert_eq!(record.to_bytes(), data, "record {record:?} re-encodes");
    assert_eq!(
        RotationRecord::peek_chat_id(data).ok(),
        Some(record.chat_id)
    );
    assert_eq!(RotationRecord::decode(&record.to_bytes()), Ok(record));
}
