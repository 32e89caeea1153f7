//! The group side of the application's commands: setting up a group we create or join, our
//! nick, status and (legacy) topic, invitations and bootstrap contacts; the broadcasts of our
//! nick and status, which the timers and the handlers repeat. [`super::Node`] finds the group
//! and builds the [`Io`]; the group's own state is written only here and in the handlers,
//! never by the node. Our nick, status and join contact are written only here.

use std::time::Duration;

use rand::Rng;

use super::group::Group;
use super::io::Io;
use super::pending::Purpose;
use super::{Dialect, SendError};
use crate::wire::{FactValue, KEY_LEN, NodeInfo, PeerMessage, PublicKey, Status};

impl Group {
    /// Sets up a group just created (`contact` `None`) or joined through `contact`: our nick,
    /// the first ping at a random point of its interval (so a group's pings, and a burst of
    /// joins, spread over time), and for a joiner the first request to the contact, which is
    /// not a member until it answers (PROTOCOL.md §6.3).
    pub(crate) fn start(&mut self, io: &mut Io<'_>, nick: &[u8], contact: Option<NodeInfo>) {
        let interval = io.config.ping_interval.as_millis().max(1) as u64;
        let first = io.now + Duration::from_millis(io.rng.random_range(0..interval));
        self.schedule.ping_at(first);
        self.nick = nick.to_vec();
        self.contact = contact;
        let Some(c) = contact else { return };
        self.members.add_contact(c.key, c.addr, io.now);
        self.request(io, c.key, c.addr, Purpose::Join);
        let (retry, timeout) = (io.config.join_retry_min, io.config.join_timeout);
        self.schedule.start_join(io.now, retry, timeout);
    }

    /// Broadcasts one of our own messages if our role allows it; returns its number.
    pub(crate) fn send_own(
        &mut self,
        io: &mut Io<'_>,
        msg: &PeerMessage<'_>,
    ) -> Result<u32, SendError> {
        if !self.may_deliver(&self.own(), msg) {
            return Err(SendError::NotPermitted);
        }
        self.broadcast(io, msg)
    }

    /// Sets our nick and broadcasts it; the periodic re-broadcast restarts from now.
    pub(crate) fn set_nick(&mut self, io: &mut Io<'_>, name: &[u8]) -> Result<u32, SendError> {
        let n = self.send_own(io, &PeerMessage::Name(name))?;
        self.nick = name.to_vec();
        if self.dialect() == Dialect::Secure {
            self.schedule.name_at(io.now + io.config.name_interval);
        }
        Ok(n)
    }

    /// Sets our presence and broadcasts it.
    pub(crate) fn set_own_status(
        &mut self,
        io: &mut Io<'_>,
        status: Status,
    ) -> Result<u32, SendError> {
        // A 2014 peer drops a status (49) as unknown: legacy groups never send one (§1.2).
        if self.dialect() != Dialect::Secure {
            return Err(SendError::NotSecure);
        }
        let n = self.send_own(io, &PeerMessage::Status(status))?;
        self.status = status;
        Ok(n)
    }

    /// Sets the topic: a signed fact (secure groups only). A legacy group has no topic on
    /// the wire: a 2014 peer drops a topic message (18) as unknown (PROTOCOL.md §1.2).
    pub(crate) fn set_topic(&mut self, io: &mut Io<'_>, topic: &str) -> Result<u32, SendError> {
        if self.dialect() != Dialect::Secure {
            return Err(SendError::NotSecure);
        }
        let zero = PublicKey([0; KEY_LEN]);
        Ok(self.issue(io, zero, FactValue::Topic(topic))?)
    }

    /// Lets `key` in (private groups) and announces it with new_peer.
    pub(crate) fn invite(&mut self, io: &mut Io<'_>, key: PublicKey) -> Result<u32, SendError> {
        self.members.invite(key, io.now);
        self.send_own(io, &PeerMessage::NewPeer(key))
    }

    /// Members known before (a restart): each becomes a contact and is asked to let us in;
    /// at most 16 now, the rest while the table is empty.
    pub(crate) fn add_contacts(&mut self, io: &mut Io<'_>, contacts: &[NodeInfo]) {
        let own = self.own();
        for c in contacts.iter().filter(|c| c.key != own).take(16) {
            self.members.add_contact(c.key, c.addr, io.now);
            if self.pending.to_key(&c.key).is_none() {
                self.request(io, c.key, c.addr, Purpose::Join);
            }
        }
    }

    /// Broadcasts our nick (if we have one) and restarts its re-broadcast timer.
    pub(crate) fn announce_name(&mut self, io: &mut Io<'_>) {
        if self.nick.is_empty() {
            return;
        }
        // Legacy groups repeat the nick only when a new member appears, as the 2014 code
        // does (`greet_new_peer`), never on a timer (PROTOCOL.md §6.5).
        let interval = match self.dialect() {
            Dialect::Secure => io.config.name_interval,
            Dialect::Legacy => super::intro::LEGACY_NAME_IDLE,
        };
        self.schedule.name_sent(io.now, interval);
        let nick = std::mem::take(&mut self.nick);
        let _ = self.broadcast(io, &PeerMessage::Name(&nick));
        self.nick = nick;
    }

    /// Our status, re-broadcast with the periodic name when it is not `Online` (secure
    /// groups), so the copy the name sync sends stays within its span (`intro.rs`).
    pub(crate) fn announce_status(&mut self, io: &mut Io<'_>) {
        if self.dialect() == Dialect::Secure && self.status != Status::Online {
            let status = self.status;
            let _ = self.broadcast(io, &PeerMessage::Status(status));
        }
    }
}
