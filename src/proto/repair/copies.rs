//! Repair's copies of text messages are read from the history log (PROTOCOL.md §6.13), which
//! keeps every accepted chat and action broadcast anyway, instead of being held twice: once
//! the log stored a broadcast that repair kept (live or our own), repair drops its plaintext
//! and reads it back from the log when it re-sends it. The log rescues a shared entry that
//! its limits drop while repair may still re-send it (`history/log.rs`), so the copy lasts
//! as long as before; what goes on the wire is the same plaintext byte for byte.

use super::super::group::Group;
use super::super::io::Io;
use crate::wire::Broadcast;

impl Group {
    /// The history log just stored `b`: if repair's newest copy is `b`, it is read from the
    /// log from now on.
    pub(crate) fn share_copy(&mut self, io: &Io<'_>, b: &Broadcast<'_>) {
        let Some(c) = self.recent.items.back_mut() else {
            return;
        };
        if c.origin != b.origin || c.number != b.number || c.plain.is_none() {
            return;
        }
        let young = (io.config.recent_ttl, io.config.recent_max);
        if self.history.share(&b.origin, b.number, young) {
            c.plain = None;
        }
    }

    /// The plaintext of kept copy `i`: its own, or the history log's.
    pub(crate) fn kept_copy(&self, i: usize) -> Option<Vec<u8>> {
        let c = self.recent.items.get(i)?;
        match &c.plain {
            Some(plain) => Some(plain.to_vec()),
            None => self.history.copy(&c.origin, c.number),
        }
    }
}
