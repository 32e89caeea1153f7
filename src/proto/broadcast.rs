//! Broadcasts: accepting, delivering and relaying them, and sending our own (PROTOCOL.md
//! §6.4–§6.5).
//!
//! Order of checks for an inbound broadcast, cheapest first:
//! 1. in a private group the hop that sent it is a known member (in a public group any key
//!    that sealed the envelope may relay); the origin is not us;
//! 2. the dialect matches (signed iff the group is secure);
//! 3. the number is above the origin's mark (§6.9: a replay after a restart or a departure);
//!    the origin has not quit, and the number passes its dedup window (a duplicate is dropped
//!    here, before any signature work); in a secure group an origin we do not know needs a
//!    hop that may vouch for it (membership is earned, PROTOCOL.md §6.7: else `not_member`);
//! 4. secure groups: the signature verifies (before the window moves, delivery and relay);
//!    4a. spam control (`spam.rs`), per rate class (own messages, announcements, quit): the
//!    hop forwards this origin no faster than an honest relay can (else dropped, window
//!    unmoved, hop penalised for own messages only); a new origin takes one of the hop's
//!    introduction tokens; the origin is within its class's token bucket (else the window
//!    moves but nothing is delivered or relayed);
//! 5. the window moves, then the body is decoded: a bad body is neither delivered nor relayed;
//! 6. the message is applied (events), then relayed, never to the hop or the origin: in a
//!    secure group to every relay target eager in the origin's tree (`tree.rs`, PROTOCOL.md
//!    §6.12), its id announced lazily (IHAVE) to a few of the others; in a legacy group to
//!    `relay_fanout` relay targets (table entries and fresh in-links) drawn at random; and
//!    kept for anti-entropy repair (`repair.rs`). In a secure group a duplicate (step 3)
//!    counts against its link in the origin's tree.

use std::net::SocketAddr;

use rand::Rng;

use super::group::Group;
use super::io::Io;
use super::marks::Counter;
use super::members::Member;
use super::spam::Class;
use super::tree::{Kind, send_as};
use super::{Dialect, DropReason, Event, LeaveReason, Privacy, TextKind};
use crate::wire::{Broadcast, EncodeError, Payload, PeerMessage, PublicKey};

/// Why an own broadcast could not be sent. Nothing was spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No group with that id.
    #[error("no such group")]
    UnknownGroup,
    /// The message does not fit (body too long, or a field out of range).
    #[error("message does not fit: {0}")]
    Encode(#[from] EncodeError),
    /// Our role (or the voice setting, or the topic lock) does not allow it.
    #[error("not permitted with your role")]
    NotPermitted,
    /// Private messages and the group name need a secure group (the 2014 dialect has
    /// neither).
    #[error("only secure groups have that")]
    NotSecure,
    /// We know no address for that member.
    #[error("no known address for that member")]
    NoRoute,
}

impl Group {
    /// A broadcast relayed to us by `hop`, whose datagram came from `from`.
    pub(crate) fn on_broadcast(
        &mut self,
        io: &mut Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        b: &Broadcast<'_>,
    ) -> Result<(), DropReason> {
        if let Err(reason) = self.check_broadcast(io, (hop, from), b) {
            if reason == DropReason::Duplicate {
                // A duplicate shows the hop holds it (summaries go to peers that may not).
                self.exchanged(hop, io.now);
                // A copy we no longer list is an old one re-sent: it says nothing of the tree.
                if self.remember_duplicate(io, b) {
                    self.tree_duplicate(io, (hop, from), b);
                }
            }
            // A refused one does not: the hop holds what we lack, so our summaries must
            // still go to it (an origin not yet admitted here; its copies come by repair).
            return Err(reason);
        }
        self.exchanged(hop, io.now);
        let class = super::spam::class(b.message_id);
        (self.spam).relay_within((hop, b.origin, class), io.now, io.config)?;
        let member = self.accept_origin(io, hop, b)?;
        member.heard(io.now, b.number);
        let within = match class {
            Class::Own => member.take_rate(io.now, io.config.origin_rate),
            Class::Announce => member.take_announce(io.now, io.config.announce_rate),
            Class::Free => true,
        };
        match (within, class) {
            (false, Class::Announce) => return Err(DropReason::AnnounceOverLimit),
            (false, _) => return Err(DropReason::OverLimit),
            (true, _) => {}
        }
        let msg = PeerMessage::decode(b.message_id, b.body).map_err(|_| DropReason::BadBody)?;
        if self.dialect() == Dialect::Legacy && matches!(msg, PeerMessage::Quit(r) if !r.is_empty())
        {
            // The 2014 code requires an empty quit: a reason is not of this dialect.
            return Err(DropReason::BadBody);
        }
        if !self.may_deliver(&b.origin, &msg) {
            return Err(DropReason::Silenced);
        }
        io.stats.delivered += 1;
        self.tree_first_copy(io, hop, b);
        // Relayed before it is applied, so a ban or kick still reaches its target. Before we
        // are joined there is no one to relay to, and what arrives is old (the fact and name
        // syncs): only its id is kept for repair, never the copy.
        let one_peer = matches!(msg, PeerMessage::FactSync(_) | PeerMessage::FactDigest(_));
        if !one_peer && self.is_joined() {
            self.relay(io, hop, b);
            self.remember(io, b);
        } else if !one_peer {
            self.remember_id(io, b);
        }
        if matches!(msg, PeerMessage::Name(_) | PeerMessage::Status(_)) {
            self.keep_intro(b);
        }
        if !self.keep_history(io, b) {
            // Shown already, as fetched history (PROTOCOL.md §6.13).
            return Err(DropReason::Duplicate);
        }
        self.apply(io, b.origin, b.number, &msg);
        Ok(())
    }

    /// Steps 1–4 of the module docs; changes nothing.
    fn check_broadcast(
        &self,
        io: &Io<'_>,
        (hop, from): (PublicKey, SocketAddr),
        b: &Broadcast<'_>,
    ) -> Result<(), DropReason> {
        if self.privacy() == Privacy::Private && !self.members.contains(&hop) {
            return Err(DropReason::UnknownSender);
        }
        if b.origin == self.own() {
            return Err(DropReason::OwnEcho);
        }
        if self.is_banned(&hop) || self.is_banned(&b.origin) {
            return Err(DropReason::Banned);
        }
        if (self.dialect() == Dialect::Secure) != b.trailer.is_some() {
            return Err(DropReason::WrongDialect);
        }
        // A number at or below the origin's mark is a replay, whoever relays it (§6.9).
        (self.marks).check(&b.origin, Counter::Broadcast, b.number)?;
        let member = self.members.get(&b.origin);
        if let Some(m) = member {
            m.check(b.number, io.config.forward_cap)?;
        } else if self.dialect() == Dialect::Secure && !self.may_vouch(&hop, &from) {
            // Membership is earned (PROTOCOL.md §6.7): a key nobody let in is not heard, and
            // this costs no signature check.
            return Err(DropReason::NotMember);
        }
        if self.dialect() == Dialect::Secure {
            super::verify::check(io, &self.chat_id(), member.and_then(Member::signer), b)?;
        }
        Ok(())
    }

    /// May `hop` (its datagram from `from`) introduce an origin we do not know? A member
    /// whose address we proved or a contact we join through (`Members::may_vouch`), or a key
    /// we are asking at that very address (the member we join through, once listed).
    fn may_vouch(&self, hop: &PublicKey, from: &SocketAddr) -> bool {
        self.members.may_vouch(hop, from)
            || (self.members.contains(hop)
                && self.pending.to_key(hop).is_some_and(|r| r.addr == *from))
    }

    /// The origin's member entry, created (and announced to the app) on first contact. In a
    /// secure group a new origin costs its hop one introduction token (`vouch_rate`).
    fn accept_origin(
        &mut self,
        io: &mut Io<'_>,
        hop: PublicKey,
        b: &Broadcast<'_>,
    ) -> Result<&mut Member, DropReason> {
        let group = self.id();
        let secure = self.dialect() == Dialect::Secure;
        if secure && !self.members.contains(&b.origin) {
            let rate = io.config.vouch_rate;
            if !self.members.take_vouch(&hop, io.now, rate) {
                return Err(DropReason::NotMember);
            }
        }
        let (member, is_new) = self.admit_member(io, b.origin)?;
        if member.list(is_new) {
            io.emit(Event::PeerJoined {
                group,
                peer: b.origin,
            });
        }
        if member.rejoin(b.number) {
            // It quit and came back (a restart resumes numbering past its quit).
            io.emit(Event::PeerJoined {
                group,
                peer: b.origin,
            });
        }
        member.cache_signer(b);
        Ok(member)
    }

    /// The entry of `key`, created if new. A full list first forgets its least valuable entry
    /// (`Members::evict_one`: never an active member nor one with a role); PeerLeft(timeout)
    /// if it was listed.
    pub(crate) fn admit_member(
        &mut self,
        io: &mut Io<'_>,
        key: PublicKey,
    ) -> Result<(&mut Member, bool), DropReason> {
        let max = io.config.max_members;
        if !self.members.contains(&key) && self.members.len() >= max {
            let idle = io.config.ping_interval.saturating_mul(2);
            let auth = &self.authority;
            let keep = |k: &PublicKey| auth.role(k) != crate::wire::Role::User;
            if let Some((gone, listed)) = self.members.evict_one(io.now, idle, keep) {
                self.table.remove(&gone);
                if listed {
                    io.emit(Event::PeerLeft {
                        group: self.id(),
                        peer: gone,
                        reason: LeaveReason::Timeout,
                    });
                }
            }
        }
        let admitted = self.members.admit(key, io.now, max);
        if let Ok((_, true)) = admitted {
            self.history.admit(key); // visibility `joined` counts from here (§6.13)
        }
        admitted
    }

    /// Turns an accepted message into state changes and events.
    fn apply(&mut self, io: &mut Io<'_>, origin: PublicKey, number: u32, msg: &PeerMessage<'_>) {
        let group = self.id();
        match *msg {
            PeerMessage::Ping | PeerMessage::Ban(_) => {}
            PeerMessage::NewPeer(peer) => self.on_new_peer(io, peer),
            PeerMessage::Facts(list) => self.take_fact_list(io, list, true),
            PeerMessage::FactSync(list) => self.take_fact_list(io, list, false),
            PeerMessage::FactDigest(d) if self.dialect() == Dialect::Secure => {
                self.on_fact_digest(io, origin, d)
            }
            PeerMessage::FactDigest(_) => {}
            PeerMessage::Topic(_) if self.dialect() == Dialect::Secure => {}
            PeerMessage::Topic(t) => {
                if self.topic_is_newer(t.version) {
                    self.take_topic(t.version, t.text);
                    let topic = t.text.to_owned();
                    io.emit(Event::TopicChanged {
                        group,
                        by: origin,
                        topic,
                    });
                }
            }
            PeerMessage::Quit(reason) => self.on_quit(io, origin, reason),
            PeerMessage::Name(name) => self.on_name(io, origin, name),
            PeerMessage::Status(status) => self.on_status(io, origin, status),
            PeerMessage::Chat(text) => self.deliver(io, origin, number, TextKind::Chat, text),
            PeerMessage::Action(text) | PeerMessage::SeedAction(text) => {
                self.deliver(io, origin, number, TextKind::Action, text)
            }
        }
    }

    fn deliver(
        &self,
        io: &mut Io<'_>,
        origin: PublicKey,
        number: u32,
        kind: TextKind,
        text: &[u8],
    ) {
        io.emit(Event::MessageReceived {
            group: self.id(),
            origin,
            number,
            kind,
            text: text.to_vec(),
        });
    }

    fn on_new_peer(&mut self, io: &mut Io<'_>, peer: PublicKey) {
        if peer == self.own() {
            return;
        }
        if let Some(listed_now) = self.members.vouch(&peer) {
            // A contact we are still asking, that a member vouches for: it is one.
            if listed_now {
                io.emit(Event::PeerJoined {
                    group: self.id(),
                    peer,
                });
            }
            return;
        }
        if self.is_banned(&peer) {
            io.stats.count_drop(DropReason::Banned);
            return;
        }
        if let Err(reason) = self.admit_member(io, peer) {
            io.stats.count_drop(reason);
            return;
        }
        io.emit(Event::PeerJoined {
            group: self.id(),
            peer,
        });
        self.greet_new_peer(io);
    }

    fn on_quit(&mut self, io: &mut Io<'_>, origin: PublicKey, reason: &str) {
        self.members.depart(&origin, io.now);
        self.table.remove(&origin);
        io.emit(Event::PeerQuit {
            group: self.id(),
            peer: origin,
            reason: reason.as_bytes().to_vec(),
        });
        io.emit(Event::PeerLeft {
            group: self.id(),
            peer: origin,
            reason: LeaveReason::Quit,
        });
    }

    fn on_name(&mut self, io: &mut Io<'_>, origin: PublicKey, name: &[u8]) {
        if self.members.rename(&origin, name) {
            io.emit(Event::NameChanged {
                group: self.id(),
                peer: origin,
                name: name.to_vec(),
            });
        }
    }

    fn on_status(&mut self, io: &mut Io<'_>, origin: PublicKey, status: crate::wire::Status) {
        if self.members.set_status(&origin, status) {
            io.emit(Event::StatusChanged {
                group: self.id(),
                peer: origin,
                status,
            });
        }
    }

    /// Re-sends an accepted broadcast, unchanged, never to `hop` or the origin: along the
    /// eager tree to every eager relay target (PROTOCOL.md §6.12), or, in a legacy group, to
    /// `relay_fanout` relay targets drawn at random for each message (§6.4).
    fn relay(&mut self, io: &mut Io<'_>, hop: PublicKey, b: &Broadcast<'_>) {
        let payload = Payload::Broadcast(*b);
        let fresh = io.config.bad_node_timeout;
        let tree = self.uses_tree(io);
        let mut targets = match tree {
            true => self.eager_targets(&b.origin, io.now, fresh),
            false => self.relay_targets(io.now, fresh),
        };
        targets.retain(|(key, _)| *key != hop && *key != b.origin);
        let fanout = match tree {
            true => targets.len(),
            false => io.config.relay_fanout.min(targets.len()),
        };
        for i in 0..fanout.min(targets.len().saturating_sub(1)) {
            let j = io.rng.random_range(i..targets.len());
            targets.swap(i, j);
        }
        self.names_first(io, b, &targets[..fanout]);
        for &(key, addr) in &targets[..fanout] {
            io.stats.relayed += 1;
            send_as(io, Kind::Eager, self.identity(), (&key, addr), &payload);
            self.exchanged(key, io.now);
        }
        self.announce(io, (b.origin, b.number), Some(hop));
    }

    /// Sends our own message to every relay target. Every size is checked before a number is
    /// spent; returns the number used.
    pub(crate) fn broadcast(
        &mut self,
        io: &mut Io<'_>,
        msg: &PeerMessage<'_>,
    ) -> Result<u32, SendError> {
        msg.check()?;
        let signed = self.dialect() == Dialect::Secure;
        Broadcast::check_body_len(msg.encoded_len(), signed)?;
        let body = msg.to_vec()?;
        let mut b = Broadcast {
            origin: self.own(),
            number: 0,
            message_id: msg.id() as u8,
            body: &body,
            trailer: None,
        };
        b.number = self.next_number();
        if signed {
            b.trailer = Some(self.identity().sign_broadcast(&self.chat_id(), &b)?);
        }
        io.stats.originated += 1;
        // Any own broadcast shows we are alive: the group ping waits for 30 s of silence.
        let quiet = io.now + io.jittered(io.config.ping_interval);
        self.schedule.ping_not_before(quiet);
        let payload = Payload::Broadcast(b);
        let targets = match self.uses_tree(io) {
            true => self.own_targets(io),
            false => self.relay_targets(io.now, io.config.bad_node_timeout),
        };
        // Our tree first, so names first can record a name it sends (our first one too).
        self.tree.links.touch(b.origin, io.now);
        self.names_first(io, &b, &targets);
        for &(key, addr) in &targets {
            send_as(io, Kind::Eager, self.identity(), (&key, addr), &payload);
            self.exchanged(key, io.now);
        }
        self.announce(io, (b.origin, b.number), None);
        self.remember(io, &b);
        self.keep_intro(&b);
        self.keep_history(io, &b);
        Ok(b.number)
    }
}
