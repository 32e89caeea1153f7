//! Private messages (inner id 52, PROTOCOL.md §3.4 and §6.10): sent straight to one member's
//! address, never relayed, secure groups only.
//!
//! The envelope's box already authenticates the sender's key (static Diffie-Hellman; see the
//! key-compromise-impersonation limit in the threat model, §1.1), so a direct message needs no
//! signature. Checks on receipt, cheapest first:
//! 1. the group is secure (`wrong_dialect`); the sender is not banned (`banned`);
//! 2. the sender is a known member that has not quit (`unknown_sender`, `departed`);
//! 3. the text is 1..=785 bytes of UTF-8 (`bad_body`);
//! 4. the number is above the sender's stored direct mark (`too_old`, PROTOCOL.md §6.9) and
//!    passes its direct-message dedup window (`duplicate`, `too_old`, `too_far_ahead`), a
//!    window separate from its broadcast one;
//! 5. the sender's origin token bucket, shared with its broadcasts (`over_limit`);
//! 6. the window records the number and [`Event::DirectMessage`] is emitted once.

use std::net::SocketAddr;

use super::group::Group;
use super::io::Io;
use super::marks::Counter;
use super::{Dialect, DropReason, Event, SendError};
use crate::wire::{Direct, Payload, PublicKey};

impl Group {
    /// A direct message sealed to us by `sender`.
    pub(crate) fn on_direct(
        &mut self,
        io: &mut Io<'_>,
        sender: PublicKey,
        d: &Direct<'_>,
    ) -> Result<(), DropReason> {
        if self.dialect() != Dialect::Secure {
            return Err(DropReason::WrongDialect);
        }
        if self.is_banned(&sender) {
            return Err(DropReason::Banned);
        }
        (self.marks).check(&sender, Counter::Direct, d.number)?;
        let member = self.members.direct_from(&sender)?;
        Direct::check_text(d.text).map_err(|_| DropReason::BadBody)?;
        let (cap, rate) = (io.config.forward_cap, io.config.origin_rate);
        member.take_direct(d.number, io.now, cap, rate)?;
        io.emit(Event::DirectMessage {
            group: self.id(),
            from: sender,
            number: d.number,
            text: d.text.to_vec(),
        });
        Ok(())
    }

    /// Where a direct message to `to` goes: its table entry, else its in-link, else the
    /// address we know for the member.
    fn direct_addr(&self, to: &PublicKey) -> Option<SocketAddr> {
        if let Some(e) = self.table.get(to) {
            return Some(e.addr);
        }
        if let Some(addr) = self.in_links.addr(to) {
            return Some(addr);
        }
        self.members.addr(to)
    }

    /// Sends `text` to `to` only. Every check runs before a number is spent; returns the
    /// number used (a counter separate from the broadcast numbers).
    pub(crate) fn send_private(
        &mut self,
        io: &mut Io<'_>,
        to: PublicKey,
        text: &[u8],
    ) -> Result<u32, SendError> {
        if self.dialect() != Dialect::Secure {
            return Err(SendError::NotSecure);
        }
        Direct::check_text(text)?;
        if to == self.own() {
            return Err(SendError::NoRoute);
        }
        let addr = self.direct_addr(&to).ok_or(SendError::NoRoute)?;
        let number = self.numbers.next_direct();
        let payload = Payload::Direct(Direct { number, text });
        io.send(self.identity(), &to, addr, &payload);
        Ok(number)
    }
}
