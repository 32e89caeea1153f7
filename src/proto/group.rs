//! The state of one hosted group: our identity in it, its DHT table, its members with their
//! dedup windows, outstanding requests and timers. Handlers live in `handlers.rs` (packets),
//! `broadcast.rs` (peer messages) and `timers.rs` (housekeeping).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::authority::Authority;
use super::dht::Table;
use super::io::Io;
use super::pending::{Pending, Purpose, Request};
use super::window::SeenWindow;
use super::{Config, Dialect, GroupId, Privacy};
use crate::crypto::{Identity, SignerKey};
use crate::wire::{GetNodes, KEY_LEN, NodeInfo, PING_ID_LEN, Payload, PublicKey, Status};

/// What we know of one member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: Vec<u8>,
    pub(crate) status: Status,
    /// Last accepted broadcast from it (or when it was validated/announced).
    pub(crate) last_seen: Instant,
    /// Its dedup window; `None` until its first broadcast.
    pub(crate) window: Option<SeenWindow>,
    /// Its checked signing key (secure groups), cached after the first good signature.
    pub(crate) signer: Option<SignerKey>,
    /// When it quit; it is forgotten `quit_delay` later.
    pub(crate) departed_at: Option<Instant>,
    /// Its address, if known.
    pub(crate) addr: Option<SocketAddr>,
    /// True when `addr` was proven by a round trip that we started.
    pub(crate) validated: bool,
    /// Its broadcasts' token bucket (`Config::origin_rate`), also taken by its direct messages.
    pub(crate) rate: super::spam::Bucket,
    /// Its direct messages' dedup window; `None` until its first one (boxed: most members
    /// never send us one).
    pub(crate) direct: Option<Box<SeenWindow>>,
    /// False for a bootstrap contact (the join string's member, or one given to
    /// `add_contacts`) that has not answered nor broadcast yet: not shown to the application
    /// (no PeerJoined, not in `members()`), but usable as an address and a hop.
    pub(crate) listed: bool,
    /// Its latest name and status broadcasts, for the name sync (secure groups).
    pub(crate) intro: super::intro::Intro,
}

impl Member {
    /// True if `number` is newer than everything it sent before it quit: it rejoined (a
    /// restarted node resumes numbering past its quit, PROTOCOL.md §6.9).
    pub(crate) fn came_back(&self, number: u32) -> bool {
        self.window
            .as_ref()
            .is_some_and(|w| (number.wrapping_sub(w.top()) as i32) > 0)
    }

    pub(crate) fn new(now: Instant) -> Self {
        Self {
            name: Vec::new(),
            status: Status::Online,
            last_seen: now,
            window: None,
            signer: None,
            departed_at: None,
            addr: None,
            validated: false,
            rate: super::spam::Bucket::default(),
            direct: None,
            listed: true,
            intro: super::intro::Intro::default(),
        }
    }

    /// A bootstrap contact at `addr`: not listed until it answers or broadcasts.
    pub(crate) fn contact(now: Instant, addr: SocketAddr) -> Self {
        Self {
            addr: Some(addr),
            listed: false,
            ..Self::new(now)
        }
    }

    /// Lists it if it was an unlisted contact; true if that happened (or `is_new`): the
    /// application must hear PeerJoined.
    pub(crate) fn list(&mut self, is_new: bool) -> bool {
        let first = is_new || !self.listed;
        self.listed = true;
        first
    }
}

/// One hosted group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: GroupId,
    pub(crate) identity: Identity,
    pub(crate) dialect: Dialect,
    pub(crate) privacy: Privacy,
    /// The founder's Ed25519 key; for legacy groups our own (never on the wire).
    pub(crate) chat_id: [u8; KEY_LEN],
    pub(crate) table: Table,
    /// Validated peers that keep us in *their* table (they send us keep-alives): relays go to
    /// them too, so every link of the overlay carries broadcasts both ways.
    /// Each with its address, when it last asked, and whether it flagged us as one of its
    /// close set (the low bit of its ping id, PROTOCOL.md §6.4).
    pub(crate) in_links: super::in_links::InLinks,
    pub(crate) members: BTreeMap<PublicKey, Member>,
    pub(crate) pending: Pending,
    /// Our broadcast and direct-message numbers.
    pub(crate) numbers: super::numbers::Numbers,
    pub(crate) nick: Vec<u8>,
    pub(crate) status: Status,
    pub(crate) topic: Option<(u32, String)>,
    /// The join string's member, kept for re-bootstrapping.
    pub(crate) contact: Option<NodeInfo>,
    pub(crate) joined: bool,
    /// Our timers: tick, ping, nick, exploration, join retry and deadline.
    pub(crate) schedule: super::schedule::Schedule,
    /// Hop scores and relay buckets (PROTOCOL.md §6.7).
    pub(crate) spam: super::spam::SpamGuard,
    /// Signed facts: roles, bans, topic, lock, voice, peer limit (secure groups).
    pub(crate) authority: Authority,
    /// Set when we were kicked or banned, or our join failed: the node drops the group.
    pub(crate) evicted: bool,
    /// Broadcasts kept for anti-entropy repair (PROTOCOL.md §6.11).
    pub(crate) recent: super::repair::Recent,
    /// When the next have summary goes out; `None` while the group is not active
    /// (PROTOCOL.md §6.11).
    pub(crate) next_have: Option<Instant>,
    /// Budget of broadcasts re-sent in answer to summaries (`Config::repair_rate`).
    pub(crate) repair: super::spam::Bucket,
    /// Our latest name and status broadcasts, for the name sync (secure groups).
    pub(crate) own_intro: super::intro::Intro,
    /// Budget of the name sync's datagrams (`Config::name_sync_rate`).
    pub(crate) name_sync: super::spam::Bucket,
}

impl Group {
    /// A new group state; `contact` is set for a joiner.
    pub(crate) fn new(
        id: GroupId,
        identity: Identity,
        spec: (Dialect, Privacy, [u8; KEY_LEN]),
        config: &Config,
        now: Instant,
    ) -> Self {
        let (dialect, privacy, chat_id) = spec;
        let own = identity.public_key();
        Self {
            id,
            identity,
            dialect,
            privacy,
            chat_id,
            table: Table::new(
                own,
                config.close_size,
                config.bucket_size,
                config.max_per_ip,
            ),
            in_links: super::in_links::InLinks::default(),
            members: BTreeMap::new(),
            pending: Pending::new(config.max_pending),
            numbers: super::numbers::Numbers::default(),
            nick: Vec::new(),
            status: Status::Online,
            topic: None,
            contact: None,
            joined: false,
            schedule: super::schedule::Schedule::new(now, config),
            spam: super::spam::SpamGuard::default(),
            authority: Authority::new(chat_id),
            evicted: false,
            recent: super::repair::Recent::default(),
            next_have: None,
            repair: super::spam::Bucket::default(),
            own_intro: super::intro::Intro::default(),
            name_sync: super::spam::Bucket::default(),
        }
    }

    /// Our key in this group.
    pub(crate) fn own(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// May `key` join (get into our table)? Anyone in a public group; in a private one only
    /// members (announced by new_peer or invited).
    pub(crate) fn authorized(&self, key: &PublicKey) -> bool {
        self.privacy == Privacy::Public || self.members.contains_key(key)
    }

    /// True if `key` proved `addr` to us by answering one of our requests.
    pub(crate) fn is_validated(&self, key: &PublicKey, addr: &SocketAddr) -> bool {
        self.members
            .get(key)
            .is_some_and(|m| m.validated && m.addr == Some(*addr))
    }

    /// Sends a get_nodes and records it; false if the pending table is full.
    pub(crate) fn request(
        &mut self,
        io: &mut Io<'_>,
        key: PublicKey,
        addr: SocketAddr,
        purpose: Purpose,
    ) -> bool {
        let mut ping_id = io.ping_id();
        // The low bit tells the peer whether it is in our close set, so it always relays to
        // us (PROTOCOL.md §6.4); the other 63 bits stay random.
        let last = PING_ID_LEN - 1;
        ping_id[last] = (ping_id[last] & !1) | u8::from(self.table.is_close(&key));
        let request = Request {
            key,
            addr,
            sent: io.now,
            purpose,
        };
        if !self.pending.insert(ping_id, request) {
            io.stats.count_drop(super::DropReason::PendingFull);
            return false;
        }
        io.send(
            &self.identity,
            &key,
            addr,
            &Payload::GetNodes(GetNodes { ping_id }),
        );
        true
    }

    /// Where broadcasts go: every table entry, then every fresh in-link not in the table.
    pub(crate) fn relay_targets(
        &self,
        now: Instant,
        fresh: Duration,
    ) -> Vec<(PublicKey, SocketAddr)> {
        let mut targets: Vec<_> = self.table.iter().map(|e| (e.key, e.addr)).collect();
        let others = (self.in_links.fresh(now, fresh)).filter(|(k, _)| !self.table.contains(k));
        targets.extend(others);
        targets
    }

    /// Next message number: from 1, 0 skipped on wrap.
    pub(crate) fn next_number(&mut self) -> u32 {
        self.numbers.next()
    }
}
