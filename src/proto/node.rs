//! [`Node`]: the sans-IO state machine hosting one or more groups.
//!
//! Inputs are `handle_datagram`, `handle_timeout` and the application commands; outputs are
//! `poll_transmit`, `poll_event` and `poll_timeout`. Nothing here reads a clock or does IO.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::group::Group;
use super::io::Io;
use super::{
    Config, ConfigError, Dialect, DropReason, Event, GroupId, JoinString, Privacy, SendError,
    Stats, Transmit,
};
use crate::crypto::{Identity, KeyMiss, SharedKeys, open_packet};
use crate::wire::{
    Envelope, KEY_LEN, MAX_PLAINTEXT, NodeInfo, Payload, PeerMessage, PublicKey, Role, Status,
    VoiceLevel,
};

/// How to set up a group we create or join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Dialect of a group we create (a joined group's dialect comes from the join string).
    pub dialect: Dialect,
    /// Privacy of a group we create.
    pub privacy: Privacy,
    /// Seed of our identity in the group; `None` makes a fresh one (as the 2014 code did).
    pub identity_seed: Option<[u8; KEY_LEN]>,
    /// Our nick (may be empty).
    pub nick: Vec<u8>,
}

impl Default for GroupSpec {
    fn default() -> Self {
        Self {
            dialect: Dialect::Secure,
            privacy: Privacy::Public,
            identity_seed: None,
            nick: Vec::new(),
        }
    }
}

/// Why a group could not be created or joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The node already hosts `max_groups` groups.
    #[error("too many groups")]
    TooManyGroups,
    /// We are already in a group with this identity.
    #[error("already in this group with this identity")]
    AlreadyJoined,
    /// The nick is empty or longer than 128 bytes.
    #[error("bad nick")]
    BadNick,
}

/// A member as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its key.
    pub key: PublicKey,
    /// Its nick (empty if unknown).
    pub name: Vec<u8>,
    /// Its presence.
    pub status: Status,
    /// Whether it is in our DHT table.
    pub in_table: bool,
    /// Its role (always `User` in legacy groups).
    pub role: Role,
}

/// The state of one group as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Our key in the group.
    pub own_key: PublicKey,
    /// The chat id (secure groups).
    pub chat_id: Option<[u8; KEY_LEN]>,
    /// Dialect.
    pub dialect: Dialect,
    /// Privacy.
    pub privacy: Privacy,
    /// Whether a member has answered us yet.
    pub joined: bool,
    /// Entries in our DHT table.
    pub table_len: usize,
    /// Members we know of.
    pub members: usize,
    /// The current topic.
    pub topic: Option<String>,
    /// Whether only moderators may set the topic.
    pub topic_locked: bool,
    /// Who may speak.
    pub voice: VoiceLevel,
    /// Most members, 0 for no limit.
    pub peer_limit: u32,
}

/// The protocol state machine. See the crate docs, "Driving a Node".
#[derive(Debug)]
pub struct Node {
    config: Config,
    rng: ChaCha20Rng,
    /// Boxed: a `Group` is over 1 KiB and a B-tree leaf has room for 11.
    groups: BTreeMap<GroupId, Box<Group>>,
    by_key: HashMap<PublicKey, GroupId>,
    keys: SharedKeys,
    transmits: super::io::Outbox,
    events: VecDeque<Event>,
    stats: Stats,
    limiter: super::limiter::ReplyLimiter,
    /// Our keys in secure groups (their datagrams carry mac1, PROTOCOL.md §2.1).
    secure: HashSet<PublicKey>,
    /// Cookies of the secure dialect, both sides (PROTOCOL.md §2.1).
    cookies: super::cookie::Cookies,
    next_id: u32,
}

/// Builds an [`Io`] from disjoint fields of a node.
macro_rules! io {
    ($self:ident, $now:expr) => {
        Io {
            now: $now,
            config: &$self.config,
            keys: &mut $self.keys,
            rng: &mut $self.rng,
            transmits: &mut $self.transmits,
            events: &mut $self.events,
            stats: &mut $self.stats,
            limiter: &mut $self.limiter,
            secure: &$self.secure,
            cookies: &mut $self.cookies,
            verified: None,
        }
    };
}

impl Node {
    /// A node with no groups. Fails if the configuration is invalid.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let cache = NonZeroUsize::new(config.shared_key_cache).ok_or(ConfigError("cache"))?;
        let limiter = super::limiter::ReplyLimiter::new(
            config.probe_rate_per_ip,
            config.probe_rate_global,
            config.probe_ips,
        );
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let cookies = super::cookie::Cookies::new(&mut rng, &config);
        Ok(Self {
            rng,
            cookies,
            keys: SharedKeys::new(cache),
            config,
            groups: BTreeMap::new(),
            by_key: HashMap::new(),
            transmits: super::io::Outbox::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
            limiter,
            secure: HashSet::new(),
            next_id: 0,
        })
    }

    /// Founds a new group; we are its only member until someone joins.
    pub fn create_group(&mut self, now: Instant, spec: &GroupSpec) -> Result<GroupId, GroupError> {
        let identity = self.identity(spec)?;
        let chat_id = identity.signing_key();
        self.add_group(
            now,
            identity,
            (spec.dialect, spec.privacy, chat_id),
            spec,
            None,
        )
    }

    /// Joins a group through a join string; keeps asking its member until it answers.
    /// Call `poll_transmit` afterwards.
    pub fn join_group(
        &mut self,
        now: Instant,
        join: &JoinString,
        spec: &GroupSpec,
    ) -> Result<GroupId, GroupError> {
        let identity = self.identity(spec)?;
        let chat_id = join.chat_id.unwrap_or_else(|| identity.signing_key());
        let kind = (join.dialect, join.privacy, chat_id);
        self.add_group(now, identity, kind, spec, Some(join.contact))
    }

    fn identity(&mut self, spec: &GroupSpec) -> Result<Identity, GroupError> {
        if self.groups.len() >= self.config.max_groups {
            return Err(GroupError::TooManyGroups);
        }
        if spec.nick.len() > crate::wire::message::MAX_NAME_LEN {
            return Err(GroupError::BadNick);
        }
        Ok(match spec.identity_seed {
            Some(seed) => Identity::from_seed(&seed),
            None => Identity::generate(&mut self.rng),
        })
    }

    fn add_group(
        &mut self,
        now: Instant,
        identity: Identity,
        kind: (Dialect, Privacy, [u8; KEY_LEN]),
        spec: &GroupSpec,
        contact: Option<NodeInfo>,
    ) -> Result<GroupId, GroupError> {
        let own = identity.public_key();
        if self.by_key.contains_key(&own) {
            return Err(GroupError::AlreadyJoined);
        }
        let id = GroupId(self.next_id);
        self.next_id += 1;
        let mut group = Group::new(id, identity, kind, &self.config, now);
        if kind.0 == Dialect::Secure {
            self.secure.insert(own);
        }
        let mut io = io!(self, now);
        group.start(&mut io, &spec.nick, contact);
        self.by_key.insert(own, id);
        self.groups.insert(id, Box::new(group));
        Ok(id)
    }

    /// Sends a chat message; returns its number.
    pub fn send_chat(
        &mut self,
        now: Instant,
        group: GroupId,
        text: &[u8],
    ) -> Result<u32, SendError> {
        self.send(now, group, &PeerMessage::Chat(text))
    }

    /// Sends a /me action (id 63, as the 2014 code); returns its number.
    pub fn send_action(
        &mut self,
        now: Instant,
        group: GroupId,
        text: &[u8],
    ) -> Result<u32, SendError> {
        self.send(now, group, &PeerMessage::Action(text))
    }

    /// Sends a private message to member `to` only (secure groups, PROTOCOL.md §6.10); returns
    /// its number, from a counter separate from the broadcast numbers. Fails, spending
    /// nothing, on a bad text, a legacy group, or when we know no address for `to`.
    pub fn send_direct(
        &mut self,
        now: Instant,
        group: GroupId,
        to: PublicKey,
        text: &[u8],
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.send_private(&mut io, to, text)
    }

    /// Sets our nick and broadcasts it.
    pub fn set_name(
        &mut self,
        now: Instant,
        group: GroupId,
        name: &[u8],
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.set_nick(&mut io, name)
    }

    /// Sets our presence and broadcasts it.
    pub fn set_status(
        &mut self,
        now: Instant,
        group: GroupId,
        status: Status,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.set_own_status(&mut io, status)
    }

    /// Sets the topic (version one above the current) and broadcasts it.
    pub fn set_topic(
        &mut self,
        now: Instant,
        group: GroupId,
        topic: &str,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.set_topic(&mut io, topic)
    }

    /// Lets `key` into a private group and announces it to the members (new_peer).
    pub fn invite(
        &mut self,
        now: Instant,
        group: GroupId,
        key: PublicKey,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.invite(&mut io, key)
    }

    /// Adds members we knew before (for instance the peers stored before a restart) as
    /// bootstrap contacts: each is asked to let us in, as the join string's member is. At most
    /// 16 are asked now; the rest are retried while the table is empty.
    pub fn add_contacts(
        &mut self,
        now: Instant,
        group: GroupId,
        contacts: &[NodeInfo],
    ) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.add_contacts(&mut io, contacts);
        Ok(())
    }

    /// Broadcasts quit and forgets the group. The quit datagrams are already queued.
    pub fn leave_group(&mut self, now: Instant, group: GroupId) -> Result<(), SendError> {
        self.leave_group_with_reason(now, group, b"")
    }

    /// Broadcasts quit with `reason` (a part or quit message: UTF-8, at most 256 bytes,
    /// PROTOCOL.md §5.2) and forgets the group. Legacy groups send the empty 2014 quit and
    /// ignore the reason. A bad reason fails with nothing sent and the group kept.
    pub fn leave_group_with_reason(
        &mut self,
        now: Instant,
        group: GroupId,
        reason: &[u8],
    ) -> Result<(), SendError> {
        let g = self.groups.get(&group).ok_or(SendError::UnknownGroup)?;
        let reason = match g.dialect() {
            Dialect::Legacy => "",
            Dialect::Secure => std::str::from_utf8(reason)
                .map_err(|_| crate::wire::EncodeError::BadValue("quit reason utf-8"))?,
        };
        self.send(now, group, &PeerMessage::Quit(reason))?;
        if let Some(g) = self.groups.remove(&group) {
            self.by_key.remove(&g.own());
            self.secure.remove(&g.own());
        }
        Ok(())
    }

    fn send(
        &mut self,
        now: Instant,
        group: GroupId,
        msg: &PeerMessage<'_>,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.send_own(&mut io, msg)
    }

    /// Handles one received datagram. Problems are counted in [`Stats`], never returned.
    /// Call `poll_transmit` and `poll_event` afterwards.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        if let Err(reason) = self.process(now, from, datagram) {
            self.stats.count_drop(reason);
        }
    }

    fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), DropReason> {
        let mut scratch = [0u8; MAX_PLAINTEXT];
        match self.open(now, from, datagram, &mut scratch)? {
            Some(opened) => self.dispatch(now, from, opened, &scratch[..opened.len], None),
            None => Ok(()),
        }
    }

    /// Checks and opens a datagram into `scratch`: `None` for a cookie reply (taken whole).
    fn open(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        scratch: &mut [u8; MAX_PLAINTEXT],
    ) -> Result<Option<Opened>, DropReason> {
        if datagram.first() == Some(&crate::crypto::COOKIE_REPLY_ID) {
            return match self.cookies.take_reply(from, datagram, now) {
                true => Ok(None),
                false => Err(DropReason::Malformed),
            };
        }
        let env = Envelope::new_checked(datagram).map_err(|_| DropReason::Malformed)?;
        let id = *self
            .by_key
            .get(&env.receiver())
            .ok_or(DropReason::UnknownGroup)?;
        let group = self.groups.get_mut(&id).ok_or(DropReason::UnknownGroup)?;
        let sender = env.sender();
        let secure = group.dialect() == Dialect::Secure;
        if secure && !self.keys.mac1(&env.receiver()).check(datagram) {
            return Err(DropReason::BadMac);
        }
        if group.spam.is_graylisted(&sender, now) {
            return Err(DropReason::Graylisted);
        }
        let ours = group.identity().keypair();
        // A member at the address it proved never waits for the X25519 budget, so a flood of
        // fresh keys cannot lock the group's own members out (PROTOCOL.md §2.1). Asked only
        // when the shared key is not cached (one cache lookup per datagram).
        let mut reply = None;
        let (members, cookies, rng) = (&group.members, &mut self.cookies, &mut self.rng);
        let admit = || {
            let node_key = env.receiver();
            members.is_validated(&sender, &from)
                || cookies
                    .admit_x25519((&node_key, from), (datagram, secure), now, rng)
                    .map_err(|r| reply = r)
                    .is_ok()
        };
        let shared = match self.keys.get_or_admit(ours, &sender, admit) {
            Ok(shared) => shared,
            Err(KeyMiss::BadKey) => return Err(DropReason::BadKey),
            Err(KeyMiss::Refused) => {
                if let Some(payload) = reply {
                    self.send_raw(from, payload);
                }
                return Err(DropReason::DhOverLimit);
            }
        };
        let plain = open_packet(shared, &env, scratch).map_err(|_| DropReason::Decrypt)?;
        // The box opened: the sender key sealed it, so what follows is held against it, and
        // its bytes pay for replies to it (the reply budget, PROTOCOL.md §6.2).
        group.members.credit(&sender, datagram.len());
        Ok(Some(Opened {
            group: id,
            sender,
            len: plain.len(),
        }))
    }

    /// Handles the plaintext of an opened datagram; `verified` is a batch verdict on its
    /// signature, if it is a broadcast whose signature was in a batch (`verify.rs`).
    fn dispatch(
        &mut self,
        now: Instant,
        from: SocketAddr,
        opened: Opened,
        plain: &[u8],
        verified: Option<super::verify::Verified>,
    ) -> Result<(), DropReason> {
        let Opened {
            group: id, sender, ..
        } = opened;
        let group = self.groups.get_mut(&id).ok_or(DropReason::UnknownGroup)?;
        let mut io = io!(self, now);
        io.verified = verified;
        let handled = match Payload::decode(plain) {
            Err(_) => Err(DropReason::BadPayload),
            Ok(Payload::GetNodes(g)) => group.on_get_nodes(&mut io, sender, from, g),
            Ok(Payload::SendNodes(s)) => group.on_send_nodes(&mut io, sender, from, s),
            Ok(Payload::Broadcast(b)) => group.on_broadcast(&mut io, (sender, from), &b),
            Ok(Payload::Direct(d)) => group.on_direct(&mut io, sender, &d),
            Ok(Payload::Have(h)) => group.on_have(&mut io, sender, from, &h),
            Ok(Payload::HistoryRequest(q)) => group.on_history_request(&mut io, sender, from, &q),
            Ok(Payload::HistoryPage(p)) => group.on_history_page(&mut io, sender, from, &p),
            Ok(Payload::Prune(p)) => group.on_prune(&io, (sender, from), &p),
            Ok(Payload::Lazy(l)) => group.on_lazy(&mut io, (sender, from), &l),
        };
        if let Err(reason) = handled {
            if group.spam.penalise(sender, reason, now, &self.config) {
                self.stats.graylistings += 1;
            }
        }
        self.drop_if_evicted(id);
        handled
    }

    /// Queues a datagram that is not sealed (a cookie reply). Bounded like every transmit.
    fn send_raw(&mut self, destination: SocketAddr, payload: Vec<u8>) {
        if self.transmits.len() >= self.config.max_transmits {
            self.stats.count_drop(DropReason::TransmitQueueFull);
            return;
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += payload.len() as u64;
        self.transmits.push(Transmit {
            destination,
            payload,
        });
    }

    /// Forgets a group whose authority removed us (kick or ban); its event is queued.
    fn drop_if_evicted(&mut self, id: GroupId) {
        if self.groups.get(&id).is_some_and(|g| g.is_evicted()) {
            if let Some(g) = self.groups.remove(&id) {
                self.by_key.remove(&g.own());
                self.secure.remove(&g.own());
            }
        }
    }

    /// Runs timers that are due. Call `poll_*` afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut io = io!(self, now);
        let mut dropped = Vec::new();
        for group in self.groups.values_mut() {
            group.on_tick(&mut io);
            group.on_have_timer(&mut io);
            group.on_lazy_timer(&mut io);
            group.on_fetch_timer(&mut io);
            if group.is_evicted() {
                dropped.push(group.id());
            }
        }
        for id in dropped {
            self.drop_if_evicted(id);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    /// Hands back the payload of a sent [`Transmit`]: the next datagram is sealed into it
    /// instead of a new allocation (a bounded number are kept; optional).
    pub fn recycle(&mut self, payload: Vec<u8>) {
        self.transmits.recycle(payload);
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.groups.values())
            .map(|g| g.next_timeout(&self.config))
            .min()
    }

    /// Counters since the node started.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

// After the `io!` macro, which they use.
mod batch;
mod history_api;
pub use history_api::HistoryChanges;
mod queries;
mod resume;

pub use batch::{BatchCounts, BatchScratch};

/// A datagram that opened: its group, the key that sealed it and its plaintext's length.
#[derive(Debug, Clone, Copy)]
struct Opened {
    group: GroupId,
    sender: PublicKey,
    len: usize,
}
