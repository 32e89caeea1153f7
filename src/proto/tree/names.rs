//! Names first along the eager tree (PROTOCOL.md §6.12): a full copy of an origin's
//! broadcast crosses a link only after that origin's name has, so no member shows a message
//! under a bare key because the tree took the name by a slower path.
//!
//! - Each origin's tree records the links known to hold the origin's name (`links.rs`): a
//!   peer that sent us a copy of it (first copy or duplicate), or that we sent one to
//!   (relayed, our own, or by this rule).
//! - Before a full copy of any other broadcast of that origin goes to a link not known to
//!   hold the name (an eager relay, or our own broadcast), our kept copy of the name
//!   (§6.5, unchanged, the origin's signature) goes first. By induction along every path a
//!   copy takes, a member holds the name before the message, unless a datagram was lost or
//!   reordered. A node that keeps no name of the origin sends none.
//! - The name sync (§6.5) and this rule send names and statuses outside the tree, so a
//!   duplicate of either prunes nothing.

use std::net::SocketAddr;

use super::{Kind, send_as};
use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::wire::{Broadcast, MessageId, Payload, PublicKey};

/// True for a name or status broadcast (the name sync's copies).
pub(crate) fn is_intro(b: &Broadcast<'_>) -> bool {
    b.message_id == MessageId::Name as u8 || b.message_id == MessageId::Status as u8
}

impl Group {
    /// Before full copies of `b` go to `targets`: a name broadcast marks them as holding
    /// its origin's name; any other broadcast is preceded, at each target not known to hold
    /// the name, by our kept copy of it.
    pub(crate) fn names_first(
        &mut self,
        io: &mut Io<'_>,
        b: &Broadcast<'_>,
        targets: &[(PublicKey, SocketAddr)],
    ) {
        if !self.uses_tree(io) {
            return;
        }
        let origin = b.origin;
        if b.message_id == MessageId::Name as u8 {
            self.mark_named(&origin, targets);
            return;
        }
        // Nothing is allocated unless a name goes out (the relay path allocates nothing).
        let lacks = |g: &Self, k: &PublicKey| !g.tree.links.has_name(&origin, k);
        if !targets.iter().any(|(k, _)| lacks(self, k)) {
            return;
        }
        let intro = match origin == self.own() {
            true => Some(&self.own_intro),
            false => self.members.intro(&origin),
        };
        let Some(plain) = intro.and_then(|i| i.name()).map(<[u8]>::to_vec) else {
            return;
        };
        let Ok(name) = Payload::decode(&plain) else {
            return;
        };
        for &(key, addr) in targets {
            if lacks(self, &key) {
                send_as(io, Kind::Eager, self.identity(), (&key, addr), &name);
                io.stats.names_first += 1;
                self.tree.links.named(&origin, key);
            }
        }
    }

    /// `targets` were sent (or `hop` sent us) a name broadcast of `origin`: they hold it.
    fn mark_named(&mut self, origin: &PublicKey, targets: &[(PublicKey, SocketAddr)]) {
        for (key, _) in targets {
            self.tree.links.named(origin, *key);
        }
    }
}
