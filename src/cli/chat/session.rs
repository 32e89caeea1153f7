//! The chat runtime's state between the driver and a front end: the groups we are in, the
//! nicks we have heard, what goes to the store, and node events turned into [`ChatEvent`]s.
//!
//! One [`Session`] owns this state; front ends call it from one task. Events for the front
//! end queue up in the session and are taken with [`Session::take_events`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use anyhow::{Context, anyhow};
use zeroize::Zeroizing;

use super::moderation::view_role;
use super::{GroupArgs, local_time};
use crate::app::event::{ChatEvent, MemberView, Peer, Presence, Role};
use crate::net::{Handle, NodeEvent, os_seed};
use crate::proto::{
    Dialect, Event, GroupId, GroupSpec, JoinString, LeaveReason, Privacy, TextKind,
};
use crate::store::{GroupRecord, Store, StoredPeer};
use crate::wire::{NodeInfo, PublicKey};

/// Our message numbers are stored at least this often (PROTOCOL.md §6.9).
pub(super) const NUMBER_STORE_EVERY: u32 = 100;
/// A restarted node resumes numbering this far past the stored number.
const NUMBER_RESUME_GAP: u32 = 1000;
/// Most events queued for the front end; older ones give way.
const MAX_QUEUED: usize = 4096;

/// One group we are in.
#[derive(Debug)]
pub(super) struct Joined {
    /// The store's id.
    pub(super) record: u64,
    pub(super) label: String,
    /// The join string through us (our key at the advertised address).
    pub(super) join: JoinString,
    pub(super) nick: String,
    /// Nicks heard so far.
    pub(super) nicks: HashMap<PublicKey, String>,
    /// True once a member answered (or we founded it).
    pub(super) ready: bool,
    /// The last message number written to the store.
    pub(super) stored_number: u32,
}

impl Joined {
    /// Our key in the group.
    pub(super) fn own(&self) -> PublicKey {
        self.join.contact.key
    }
}

/// The chat runtime. See the module docs.
#[derive(Debug)]
pub struct Session {
    pub(super) handle: Handle,
    pub(super) store: Store,
    pub(super) advertised: SocketAddr,
    pub(super) offset: time::UtcOffset,
    pub(super) groups: BTreeMap<GroupId, Joined>,
    /// The group that commands and the member list are about.
    pub(super) active: Option<GroupId>,
    out: VecDeque<ChatEvent>,
    pub(super) members_dirty: bool,
    /// Set when a group's facts changed and should be stored.
    pub(super) facts_dirty: Vec<GroupId>,
    pub(super) quitting: bool,
}

impl Session {
    /// A session over a running driver and an open store.
    pub fn new(
        handle: Handle,
        store: Store,
        advertised: SocketAddr,
        offset: time::UtcOffset,
    ) -> Self {
        Self {
            handle,
            store,
            advertised,
            offset,
            groups: BTreeMap::new(),
            active: None,
            out: VecDeque::new(),
            members_dirty: false,
            facts_dirty: Vec::new(),
            quitting: false,
        }
    }

    /// Creates, joins or restores groups as the command line asks.
    pub async fn start(&mut self, args: &GroupArgs) -> anyhow::Result<()> {
        let nick = args.nick.clone().unwrap_or_default();
        if let Some(name) = &args.create {
            let privacy = if args.private {
                Privacy::Private
            } else {
                Privacy::Public
            };
            let dialect = if args.legacy {
                Dialect::Legacy
            } else {
                Dialect::Secure
            };
            return self.create(name, dialect, privacy, &nick).await;
        }
        if let Some(join) = &args.join {
            let join: JoinString = join
                .parse()
                .map_err(|e| anyhow!("bad join string {join:?}: {e}"))?;
            return self.join(&join, &nick).await;
        }
        let records = self.store.groups()?;
        if records.is_empty() {
            anyhow::bail!(
                "no group to rejoin in {}: start with --create NAME or --join JOIN_STRING",
                self.store.path().display()
            );
        }
        for rec in records {
            self.restore(rec, &nick).await?;
        }
        Ok(())
    }

    /// Founds a group with a fresh identity and stores it.
    pub(super) async fn create(
        &mut self,
        name: &str,
        dialect: Dialect,
        privacy: Privacy,
        nick: &str,
    ) -> anyhow::Result<()> {
        let seed = Zeroizing::new(os_seed().context("no OS randomness")?);
        let spec = spec_for(dialect, privacy, &seed, nick);
        let group = self.handle.create_group(spec).await?;
        let ours = self.join_through_us(group).await?;
        let rec = GroupRecord {
            id: GroupRecord::NEW,
            label: name.to_owned(),
            dialect,
            privacy,
            chat_id: ours.chat_id,
            identity_seed: seed,
            nick: nick.to_owned(),
            join: ours.to_string(),
            peers: Vec::new(),
            created_by_us: true,
        };
        let record = self.store.put_group(&rec)?;
        self.add(group, record, name, ours, nick, true);
        Ok(())
    }

    /// Joins through a join string; a group we were in before keeps its identity.
    pub(super) async fn join(&mut self, join: &JoinString, nick: &str) -> anyhow::Result<()> {
        let stored = self
            .store
            .groups()?
            .into_iter()
            .find(|r| same_group(r, join));
        if let Some(mut rec) = stored {
            rec.join = join.to_string();
            self.store.put_group(&rec)?;
            return self.restore(rec, nick).await;
        }
        let seed = Zeroizing::new(os_seed().context("no OS randomness")?);
        let spec = spec_for(join.dialect, join.privacy, &seed, nick);
        let group = self.handle.join_group(*join, spec).await?;
        self.restore_facts(group, join.chat_id).await?;
        let ours = self.join_through_us(group).await?;
        let label = short_label(join);
        let rec = GroupRecord {
            id: GroupRecord::NEW,
            label: label.clone(),
            dialect: join.dialect,
            privacy: join.privacy,
            chat_id: join.chat_id,
            identity_seed: seed,
            nick: nick.to_owned(),
            join: join.to_string(),
            peers: vec![StoredPeer {
                key: *join.contact.key.as_bytes(),
                addr: join.contact.addr,
            }],
            created_by_us: false,
        };
        let record = self.store.put_group(&rec)?;
        self.add(group, record, &label, ours, nick, false);
        self.waiting(group);
        Ok(())
    }

    /// Rejoins a stored group with its stored identity, through its remembered peers (or
    /// founds it again, alone, if we founded it and know no peer).
    pub(super) async fn restore(&mut self, rec: GroupRecord, nick: &str) -> anyhow::Result<()> {
        let nick = if nick.is_empty() { &rec.nick } else { nick };
        let spec = spec_for(rec.dialect, rec.privacy, &rec.identity_seed, nick);
        let contacts: Vec<NodeInfo> = rec
            .peers
            .iter()
            .map(|p| NodeInfo {
                key: PublicKey::from(p.key),
                addr: p.addr,
            })
            .collect();
        let join: Option<JoinString> = rec.join.parse().ok();
        let (group, founded) = match (contacts.first(), join) {
            (Some(first), Some(mut join)) => {
                join.contact = *first;
                (self.handle.join_group(join, spec).await?, false)
            }
            _ if rec.created_by_us => (self.handle.create_group(spec).await?, true),
            _ => anyhow::bail!("stored group {:?} has no peer to rejoin through", rec.label),
        };
        let last = self.store.last_number(rec.id)?;
        let resume = last.saturating_add(NUMBER_RESUME_GAP);
        self.handle
            .call(move |node, now| {
                let _ = node.add_contacts(now, group, &contacts);
                let _ = node.resume_numbers(group, resume);
            })
            .await?;
        self.store.set_last_number(rec.id, resume)?;
        self.restore_facts(group, rec.chat_id).await?;
        let ours = self.join_through_us(group).await?;
        self.add(group, rec.id, &rec.label, ours, nick, founded);
        if let Some(j) = self.groups.get_mut(&group) {
            j.stored_number = resume;
        }
        if !founded {
            self.waiting(group);
        }
        Ok(())
    }

    /// The join string through us for `group` (our key at the advertised address).
    async fn join_through_us(&self, group: GroupId) -> anyhow::Result<JoinString> {
        let snap = self
            .handle
            .group(group)
            .await?
            .context("the group vanished")?;
        let mut join = snap.join;
        join.contact.addr = self.advertised;
        Ok(join)
    }

    fn add(
        &mut self,
        group: GroupId,
        record: u64,
        label: &str,
        join: JoinString,
        nick: &str,
        ready: bool,
    ) {
        let joined = Joined {
            record,
            label: label.to_owned(),
            join,
            nick: nick.to_owned(),
            nicks: HashMap::from([(join.contact.key, nick.to_owned())]),
            ready: false,
            stored_number: 0,
        };
        self.groups.insert(group, joined);
        self.active = Some(group);
        self.members_dirty = true;
        if ready {
            self.ready(group);
        }
    }

    fn waiting(&mut self, group: GroupId) {
        let Some(j) = self.groups.get(&group) else {
            return;
        };
        let text = format!(
            "joining {}: waiting for a member to answer (our key {})",
            j.label,
            j.own()
        );
        self.info(text);
    }

    /// Emits READY for a group that a member answered (or that we founded).
    fn ready(&mut self, group: GroupId) {
        let advertised = self.advertised;
        let at = self.now();
        let Some(j) = self.groups.get_mut(&group) else {
            return;
        };
        if j.ready {
            return;
        }
        j.ready = true;
        let ev = ChatEvent::Ready {
            at,
            join: j.join.to_string(),
            pk: j.own().to_string(),
            addr: advertised,
            group: j.label.clone(),
        };
        self.push(ev);
    }

    /// The local time now, for event stamps.
    pub(super) fn now(&self) -> crate::app::event::LocalTime {
        local_time(self.offset)
    }

    /// Queues an event for the front end.
    pub(super) fn push(&mut self, ev: ChatEvent) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(ev);
    }

    /// Queues a system line.
    pub(super) fn info(&mut self, text: impl Into<String>) {
        let at = self.now();
        self.push(ChatEvent::Info {
            at,
            text: text.into(),
        });
    }

    /// Queues an error line.
    pub(super) fn error(&mut self, text: impl Into<String>) {
        let at = self.now();
        self.push(ChatEvent::Error {
            at,
            text: text.into(),
        });
    }

    /// Takes the queued events, refreshing the member list first if it changed.
    pub async fn take_events(&mut self) -> Vec<ChatEvent> {
        self.store_facts().await;
        if self.members_dirty {
            self.members_dirty = false;
            if let Some(ev) = self.members_view().await {
                self.push(ev);
            }
        }
        self.out.drain(..).collect()
    }

    /// The member list of the active group, for the sidebar.
    async fn members_view(&mut self) -> Option<ChatEvent> {
        let group = self.active?;
        let own = self.groups.get(&group)?.own();
        let (members, own_role) = self
            .handle
            .call(move |n, _| (n.members(group), n.role(group, &own)))
            .await
            .ok()?;
        let j = self.groups.get_mut(&group)?;
        let mut view = vec![MemberView {
            peer: Peer::new(j.own().to_string(), j.nick.clone()),
            role: own_role.map_or(Role::User, view_role),
            status: Presence::Online,
            is_self: true,
        }];
        for m in members {
            let nick = String::from_utf8_lossy(&m.name).into_owned();
            if !nick.is_empty() {
                j.nicks.insert(m.key, nick.clone());
            }
            view.push(MemberView {
                peer: Peer::new(m.key.to_string(), nick),
                role: view_role(m.role),
                status: m.status.into(),
                is_self: false,
            });
        }
        Some(ChatEvent::Members(view))
    }

    /// A peer as the front ends show it.
    pub(super) fn peer(&self, group: GroupId, key: &PublicKey) -> Peer {
        let nick = self
            .groups
            .get(&group)
            .and_then(|j| j.nicks.get(key).cloned())
            .unwrap_or_default();
        Peer::new(key.to_string(), nick)
    }

    /// Turns one node event into front-end events.
    pub fn on_node_event(&mut self, ev: NodeEvent) {
        let at = self.now();
        let group = event_group(&ev.event);
        if !self.groups.contains_key(&group) {
            return;
        }
        let ev = match ev.event {
            Event::Joined { group } => {
                self.members_dirty = true;
                self.ready(group);
                return;
            }
            Event::PeerJoined { group, peer } => {
                self.members_dirty = true;
                ChatEvent::Join {
                    at,
                    peer: self.peer(group, &peer),
                    role: Role::User,
                    status: Presence::Online,
                }
            }
            Event::PeerLeft {
                group,
                peer,
                reason,
            } => {
                self.members_dirty = true;
                let reason = match reason {
                    LeaveReason::Quit => "quit",
                    LeaveReason::Timeout => "timeout",
                };
                ChatEvent::Part {
                    at,
                    peer: self.peer(group, &peer),
                    reason: reason.to_owned(),
                }
            }
            Event::MessageReceived {
                group,
                origin,
                kind,
                text,
                ..
            } => {
                let from = self.peer(group, &origin);
                let text = String::from_utf8_lossy(&text).into_owned();
                match kind {
                    TextKind::Chat => ChatEvent::Message { at, from, text },
                    TextKind::Action => ChatEvent::Action { at, from, text },
                }
            }
            Event::NameChanged { group, peer, name } => {
                self.members_dirty = true;
                let new = String::from_utf8_lossy(&name).into_owned();
                let old = self.peer(group, &peer).nick;
                if let Some(j) = self.groups.get_mut(&group) {
                    j.nicks.insert(peer, new.clone());
                }
                ChatEvent::Nick {
                    at,
                    peer: Peer::new(peer.to_string(), new.clone()),
                    old,
                    new,
                }
            }
            Event::StatusChanged {
                group,
                peer,
                status,
            } => {
                self.members_dirty = true;
                ChatEvent::Status {
                    at,
                    peer: self.peer(group, &peer),
                    status: status.into(),
                }
            }
            Event::TopicChanged { group, by, topic } => ChatEvent::Topic {
                at,
                by: self.peer(group, &by),
                topic,
            },
            Event::DirectMessage { group, from, text } => ChatEvent::Private {
                at,
                from: self.peer(group, &from),
                text: String::from_utf8_lossy(&text).into_owned(),
            },
            other => {
                self.on_authority_event(other);
                return;
            }
        };
        self.push(ev);
    }

    /// Stores everything, leaves every group (quit is broadcast) and stops the driver.
    pub async fn shutdown(&mut self) {
        self.persist().await;
        let _ = self.handle.quit().await;
    }
}

/// The group an event is about.
pub(super) fn event_group(ev: &Event) -> GroupId {
    match ev {
        Event::Joined { group }
        | Event::JoinFailed { group, .. }
        | Event::PeerJoined { group, .. }
        | Event::PeerLeft { group, .. }
        | Event::PeerQuit { group, .. }
        | Event::MessageReceived { group, .. }
        | Event::NameChanged { group, .. }
        | Event::StatusChanged { group, .. }
        | Event::TopicChanged { group, .. }
        | Event::RoleChanged { group, .. }
        | Event::Banned { group, .. }
        | Event::Unbanned { group, .. }
        | Event::Kicked { group, .. }
        | Event::TopicLocked { group, .. }
        | Event::VoiceChanged { group, .. }
        | Event::PeerLimitChanged { group, .. }
        | Event::GroupNameChanged { group, .. }
        | Event::FactsChanged { group }
        | Event::DirectMessage { group, .. } => *group,
    }
}

fn spec_for(dialect: Dialect, privacy: Privacy, seed: &[u8; 32], nick: &str) -> GroupSpec {
    GroupSpec {
        dialect,
        privacy,
        identity_seed: Some(*seed),
        nick: nick.as_bytes().to_vec(),
    }
}

/// True if `rec` is the group `join` points at: same chat id (secure), or for legacy groups
/// the same member address.
fn same_group(rec: &GroupRecord, join: &JoinString) -> bool {
    match (rec.chat_id, join.chat_id) {
        (Some(a), Some(b)) => a == b,
        (None, None) => rec
            .join
            .parse::<JoinString>()
            .is_ok_and(|j| j.contact.key == join.contact.key),
        _ => false,
    }
}

/// A name for a group we joined: the chat id's first hex digits (or the member's key).
fn short_label(join: &JoinString) -> String {
    match join.chat_id {
        Some(id) => hex::encode(&id[..4]),
        None => join.contact.key.fmt_short(),
    }
}
