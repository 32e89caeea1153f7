//! The state of one hosted group: our identity in it, its DHT table, its members with their
//! dedup windows, outstanding requests and timers. Handlers live in `handlers.rs` (packets),
//! `broadcast.rs` (peer messages) and `timers.rs` (housekeeping).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::authority::Authority;
use super::dht::Table;
use super::io::Io;
use super::pending::{Pending, Purpose, Request};
use super::{Config, Dialect, GroupId, Privacy};
use crate::crypto::Identity;
use crate::wire::{GetNodes, KEY_LEN, NodeInfo, PING_ID_LEN, Payload, PublicKey, Status};

/// One hosted group.
#[derive(Debug)]
pub(crate) struct Group {
    id: GroupId,
    identity: Identity,
    dialect: Dialect,
    privacy: Privacy,
    /// The founder's Ed25519 key; for legacy groups our own (never on the wire).
    chat_id: [u8; KEY_LEN],
    pub(crate) table: Table,
    /// Validated peers that keep us in *their* table (they send us keep-alives): relays go to
    /// them too, so every link of the overlay carries broadcasts both ways.
    /// Each with its address, when it last asked, and whether it flagged us as one of its
    /// close set (the low bit of its ping id, PROTOCOL.md §6.4).
    pub(crate) in_links: super::in_links::InLinks,
    /// Everyone we know in the group, with their windows, keys and addresses.
    pub(crate) members: super::members::Members,
    pub(crate) pending: Pending,
    /// Our broadcast and direct-message numbers.
    pub(crate) numbers: super::numbers::Numbers,
    /// The highest numbers accepted from origins whose windows are gone (PROTOCOL.md §6.9).
    pub(crate) marks: super::marks::Marks,
    pub(crate) nick: Vec<u8>,
    pub(crate) status: Status,
    topic: Option<(u32, String)>,
    /// The join string's member, kept for re-bootstrapping.
    pub(crate) contact: Option<NodeInfo>,
    pub(crate) joined: bool,
    /// Set when a restart resumed our numbers: we were in the group before.
    been_in: bool,
    /// Strangers who asked us while we were still joining, answered once we are in
    /// (`handlers.rs`, PROTOCOL.md §6.3).
    pub(crate) deferred: super::handlers::Deferred,
    /// Our timers: tick, ping, nick, exploration, join retry and deadline.
    pub(crate) schedule: super::schedule::Schedule,
    /// Hop scores and relay buckets (PROTOCOL.md §6.7).
    pub(crate) spam: super::spam::SpamGuard,
    /// Signed facts: roles, bans, topic, lock, voice, peer limit (secure groups).
    pub(crate) authority: Authority,
    /// Set when we were kicked or banned, or our join failed: the node drops the group.
    evicted: bool,
    /// Broadcasts kept for anti-entropy repair (PROTOCOL.md §6.11).
    pub(crate) recent: super::repair::Recent,
    /// The eager trees (one per origin) and the lazy half (PROTOCOL.md §6.12).
    pub(crate) tree: super::tree::Tree,
    /// When the next have summary goes out; `None` while the group is not active
    /// (PROTOCOL.md §6.11).
    pub(crate) next_have: Option<Instant>,
    /// Budget of broadcasts re-sent in answer to summaries (`Config::repair_rate`).
    pub(crate) repair: super::spam::Bucket,
    /// Our latest name and status broadcasts, for the name sync (secure groups).
    pub(crate) own_intro: super::intro::Intro,
    /// Budget of the name sync's datagrams (`Config::name_sync_rate`).
    pub(crate) name_sync: super::spam::Bucket,
    /// Budget of the fact digest's wants and answers (`authority/digest.rs`).
    pub(crate) digest_budget: super::spam::Bucket,
    /// One-peer fact messages waiting for the pace, and the pace (`authority/digest.rs`).
    pub(crate) fact_queue: std::collections::VecDeque<super::authority::Queued>,
    pub(crate) fact_pace: super::spam::Bucket,
    /// The signed history we keep and serve, and our fetch of it (PROTOCOL.md §6.13).
    pub(crate) history: super::history::Log,
    pub(crate) fetch: super::history::Fetch,
    /// The page buckets our history answers draw on before the reply budget (§6.13).
    pub(crate) allowance: super::history::Allowance,
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
            members: super::members::Members::default(),
            pending: Pending::new(config.max_pending),
            numbers: super::numbers::Numbers::default(),
            marks: super::marks::Marks::new(config.max_members),
            nick: Vec::new(),
            status: Status::Online,
            topic: None,
            contact: None,
            joined: false,
            been_in: false,
            deferred: super::handlers::Deferred::default(),
            schedule: super::schedule::Schedule::new(now, config),
            spam: super::spam::SpamGuard::default(),
            authority: Authority::new(chat_id),
            evicted: false,
            recent: super::repair::Recent::default(),
            tree: super::tree::Tree::default(),
            next_have: None,
            repair: super::spam::Bucket::default(),
            own_intro: super::intro::Intro::default(),
            name_sync: super::spam::Bucket::default(),
            digest_budget: super::spam::Bucket::default(),
            fact_queue: std::collections::VecDeque::new(),
            fact_pace: super::spam::Bucket::default(),
            history: super::history::Log::new(config.history),
            fetch: super::history::Fetch::default(),
            allowance: super::history::Allowance::default(),
        }
    }

    /// The group's id in the node.
    pub(crate) fn id(&self) -> GroupId {
        self.id
    }

    /// Our identity in this group (its key pair).
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Which protocol the group speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Who may join.
    pub(crate) fn privacy(&self) -> Privacy {
        self.privacy
    }

    /// The founder's Ed25519 key; for legacy groups our own (never on the wire).
    pub(crate) fn chat_id(&self) -> [u8; KEY_LEN] {
        self.chat_id
    }

    /// Our key in this group.
    pub(crate) fn own(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// May `key` join (get into our table)? Anyone in a public group; in a private one only
    /// members (announced by new_peer or invited).
    pub(crate) fn authorized(&self, key: &PublicKey) -> bool {
        self.privacy == Privacy::Public || self.members.contains(key)
    }

    /// True if `key` proved `addr` to us by answering one of our requests.
    pub(crate) fn is_validated(&self, key: &PublicKey, addr: &SocketAddr) -> bool {
        self.members.is_validated(key, addr)
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

    /// True once a member answered us (we are in the group).
    pub(crate) fn is_joined(&self) -> bool {
        self.joined
    }

    /// True while we join a group for the first time (through a contact, nothing of it
    /// restored) and no member has answered us yet.
    pub(crate) fn still_joining(&self) -> bool {
        !self.joined && self.contact.is_some() && !self.been_in
    }

    /// We were in this group before (a restart resumed our numbers): we hold its state and
    /// may let others in before a member answers us (PROTOCOL.md §6.3).
    pub(crate) fn note_been_in(&mut self) {
        self.been_in = true;
    }

    /// True when we were kicked or banned, or our join failed: the node drops the group.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted
    }

    /// Marks the group for the node to drop.
    pub(crate) fn evict(&mut self) {
        self.evicted = true;
    }

    /// The join string's member (joiners only).
    pub(crate) fn contact(&self) -> Option<NodeInfo> {
        self.contact
    }

    /// True once we have a nick.
    pub(crate) fn has_nick(&self) -> bool {
        !self.nick.is_empty()
    }

    /// The topic's text, if one was set.
    pub(crate) fn topic(&self) -> Option<&str> {
        self.topic.as_ref().map(|(_, t)| t.as_str())
    }

    /// True if a legacy topic of `version` is newer than ours (any is, when we have none).
    pub(crate) fn topic_is_newer(&self, version: u32) -> bool {
        self.topic.as_ref().is_none_or(|(v, _)| version > *v)
    }

    /// Takes `text` as the topic at `version`.
    pub(crate) fn take_topic(&mut self, version: u32, text: &str) {
        self.topic = Some((version, text.to_owned()));
    }

    /// When the node must next call in: the tick, or the have summary or the lazy half's
    /// timers (PROTOCOL.md §6.12) if sooner.
    pub(crate) fn next_timeout(&self, config: &Config) -> Instant {
        let tick = self.schedule.next_tick();
        let tick = self.lazy_timeout().map_or(tick, |l| l.min(tick));
        let tick = self.fetch_due(config).map_or(tick, |f| f.min(tick));
        self.next_have.map_or(tick, |h| h.min(tick))
    }

    /// Next message number: from 1, 0 skipped on wrap.
    pub(crate) fn next_number(&mut self) -> u32 {
        self.numbers.next()
    }
}
