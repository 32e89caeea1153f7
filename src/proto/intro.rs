//! Name sync: a joiner learns every member's nick and status within a round trip of joining,
//! not at their next 180-s name announcement (PROTOCOL.md §6.5, appendix A.4).
//!
//! - Secure groups: each member keeps, per member and for itself, the latest signed name (48)
//!   and status (49) broadcast it accepted, unchanged ([`Intro`]). When it validates for the
//!   first time a peer that asked to join through it (a probe) and that it has no broadcast
//!   of yet (a fresh joiner), it sends that peer those copies directly, oldest number first,
//!   before the handshake's last send_nodes. The joiner checks each against its original
//!   signature like any broadcast (§6.4). Bounded: at most `name_sync_max` members per
//!   joiner (ourselves first, then the most recently heard), and `name_sync_rate` datagrams
//!   per group. A copy more than [`SYNC_SPAN`] numbers behind its origin's newest is not
//!   sent: the joiner would open that origin's window too far back.
//! - Legacy groups (the 2014 code): a member that learns of a new member (a new_peer, or one
//!   it announces itself) re-broadcasts its own nick at once and again 15 s later; nothing
//!   else is sent, so a 2014 peer reads everything.
//! - Of a broadcast accepted before we are joined (the sync arrives before the handshake's
//!   last send_nodes) only the id is kept for repair: it is old and our peers hold it, so our
//!   summaries must say we have it, but we never re-send it.

use std::net::SocketAddr;
use std::time::Duration;

use super::Dialect;
use super::group::Group;
use super::io::Io;
use crate::wire::{Broadcast, MessageId, Payload, PublicKey};

/// A kept copy is sent only if it is fewer numbers than this behind the newest broadcast we
/// accepted from its origin, so it falls inside the joiner's dedup window (1024) even after
/// a newer broadcast of that origin reached the joiner first.
pub(crate) const SYNC_SPAN: u32 = 1000;

/// Legacy groups: after a nick broadcast the next is due this far away, i.e. only when a new
/// member appears (the 2014 code has no periodic nick).
pub(crate) const LEGACY_NAME_IDLE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Legacy groups: a new member makes us repeat our nick this long after the first time.
const NEW_PEER_REPEAT: Duration = Duration::from_secs(15);

/// Legacy groups: at most one immediate nick re-broadcast per this gap (a burst of new_peer
/// announcements, honest or not, costs one name broadcast, not one each).
const NEW_PEER_GAP: Duration = Duration::from_secs(2);

/// One kept broadcast: its number and its plaintext `[inner id][data]`, as received.
#[derive(Debug, Clone)]
struct Kept {
    number: u32,
    plain: Box<[u8]>,
}

/// The latest name and status broadcasts of one origin (secure groups).
#[derive(Debug, Clone, Default)]
pub(crate) struct Intro {
    name: Option<Kept>,
    status: Option<Kept>,
}

impl Intro {
    /// Keeps `b` if it is a name or status broadcast newer (mod 2^32) than the one held.
    pub(crate) fn keep(&mut self, b: &Broadcast<'_>) {
        let slot = match MessageId::try_from(b.message_id) {
            Ok(MessageId::Name) => &mut self.name,
            Ok(MessageId::Status) => &mut self.status,
            _ => return,
        };
        if slot
            .as_ref()
            .is_some_and(|k| (b.number.wrapping_sub(k.number) as i32) <= 0)
        {
            return;
        }
        let mut plain = Vec::new();
        if Payload::Broadcast(*b).encode(&mut plain).is_ok() {
            *slot = Some(Kept {
                number: b.number,
                plain: plain.into_boxed_slice(),
            });
        }
    }

    /// The kept name broadcast, `[inner id][data]` as received.
    pub(crate) fn name(&self) -> Option<&[u8]> {
        self.name.as_ref().map(|k| &*k.plain)
    }

    /// The copies fewer than [`SYNC_SPAN`] numbers behind `top`, oldest first.
    fn copies(&self, top: u32) -> Vec<&Kept> {
        let mut out: Vec<&Kept> = [&self.name, &self.status]
            .into_iter()
            .flatten()
            .filter(|k| top.wrapping_sub(k.number) < SYNC_SPAN)
            .collect();
        out.sort_by_key(|k| top.wrapping_sub(k.number) ^ u32::MAX);
        out
    }
}

impl Group {
    /// Keeps an accepted (or our own) name or status broadcast for the name sync.
    pub(crate) fn keep_intro(&mut self, b: &Broadcast<'_>) {
        if self.dialect() != Dialect::Secure {
            return;
        }
        if b.origin == self.own() {
            self.own_intro.keep(b);
        } else {
            self.members.keep_intro(b);
        }
    }

    /// Sends a fresh joiner `to` at `addr` the kept name and status broadcasts (secure
    /// groups), within `name_sync_max` members and the group's `name_sync_rate`.
    pub(crate) fn send_name_sync(&mut self, io: &mut Io<'_>, to: PublicKey, addr: SocketAddr) {
        if self.dialect() != Dialect::Secure {
            return;
        }
        let own = (self.numbers.last(), &self.own_intro);
        let chosen = std::iter::once(own)
            .chain(self.members.intros(&to))
            .take(io.config.name_sync_max);
        let plains: Vec<Box<[u8]>> = chosen
            .flat_map(|(top, intro)| intro.copies(top))
            .map(|k| k.plain.clone())
            .collect();
        for plain in plains {
            if !self.name_sync.take(io.now, io.config.name_sync_rate) {
                break;
            }
            if let Ok(payload) = Payload::decode(&plain) {
                io.send(self.identity(), &to, addr, &payload);
                io.stats.name_syncs += 1;
            }
        }
    }

    /// Legacy groups: a new member appeared; repeat our nick now (at most once per
    /// [`NEW_PEER_GAP`]) and again [`NEW_PEER_REPEAT`] later, as the 2014 code does.
    pub(crate) fn greet_new_peer(&mut self, io: &mut Io<'_>) {
        if self.dialect() != Dialect::Legacy || !self.has_nick() {
            return;
        }
        if !self.schedule.name_sent_within(io.now, NEW_PEER_GAP) {
            self.announce_name(io);
        }
        self.schedule.name_by(io.now + NEW_PEER_REPEAT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bcast(id: MessageId, number: u32, body: &[u8]) -> Broadcast<'_> {
        Broadcast {
            origin: PublicKey([1; 32]),
            number,
            message_id: id as u8,
            body,
            trailer: None,
        }
    }

    #[test]
    fn keeps_the_newest_name_and_status_only() {
        let mut i = Intro::default();
        i.keep(&bcast(MessageId::Name, 10, b"a"));
        i.keep(&bcast(MessageId::Name, 9, b"old"));
        i.keep(&bcast(MessageId::Chat, 11, b"chat"));
        i.keep(&bcast(MessageId::Status, 5, &[1]));
        let numbers: Vec<u32> = i.copies(12).iter().map(|k| k.number).collect();
        assert_eq!(numbers, [5, 10], "oldest first, no chat, no older name");
        i.keep(&bcast(MessageId::Name, 12, b"b"));
        assert_eq!(i.copies(12).last().map(|k| k.number), Some(12));
    }

    #[test]
    fn copies_far_behind_the_origin_are_not_sent() {
        let mut i = Intro::default();
        i.keep(&bcast(MessageId::Status, u32::MAX, &[2]));
        i.keep(&bcast(MessageId::Name, 3, b"n"));
        let numbers: Vec<u32> = i.copies(4).iter().map(|k| k.number).collect();
        assert_eq!(numbers, [u32::MAX, 3], "across the wrap");
        assert_eq!(i.copies(3 + SYNC_SPAN).len(), 0);
        assert_eq!(i.copies(2 + SYNC_SPAN).len(), 1);
    }
}
