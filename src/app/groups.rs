//! The groups the runtime is in: creating, joining and restoring them (store-backed, with
//! the identity kept per group), the join deadline, and closing a group's window.
//!
//! - create: a fresh identity, stored, `Opened` then `Ready` at once.
//! - join: a fresh identity (or the stored one for a group we were in), `Opened`, then
//!   `Ready` when a member answers — or, after the join timeout, one error line naming the
//!   address tried and `Closed`.
//! - restore (start-up): the stored identity, stored peers, facts and marks, numbers
//!   resumed past the stored ones (PROTOCOL.md §6.9); no deadline (a relay waits for its
//!   peers), but a group we founded says so after [`FOUNDER_ALONE_AFTER`] if no stored
//!   peer answered, and is READY alone.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, anyhow};
use zeroize::Zeroizing;

use super::event::{ChatEvent, Presence};
use super::options::Options;
use super::runtime::Runtime;
use super::text::check_nick;

mod ready;
use crate::net::{Resume, now, os_seed};
use crate::proto::{Dialect, GroupId, GroupSpec, JoinString, Mark, Privacy};
use crate::store::{GroupRecord, StoredPeer};
use crate::wire::{NodeInfo, PublicKey};

/// A restarted node resumes numbering this far past the stored number.
const NUMBER_RESUME_GAP: u32 = 1000;
/// A restarted founder that none of its stored peers answered within this says so and is
/// READY alone (it keeps asking them, and lets in those that come back).
pub(super) const FOUNDER_ALONE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
/// An explicit joiner that a member answered waits at most this for the group's state
/// (`Event::StateSynced`) before it is READY anyway (PROTOCOL.md §6.3).
pub(super) const STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One group we are in.
#[derive(Debug)]
pub(super) struct Joined {
    /// The store's id.
    pub(super) record: u64,
    pub(super) label: String,
    /// The join string through us (our key at the advertised address).
    pub(super) join: JoinString,
    pub(super) nick: String,
    /// Our presence (`/status`).
    pub(super) status: Presence,
    /// Nicks heard so far (bounded by the node's member cap).
    pub(super) nicks: HashMap<PublicKey, String>,
    /// True once a member answered (or we founded it).
    pub(super) ready: bool,
    /// The last message number written to the store.
    pub(super) stored_number: u32,
    /// The history cursor of the last store (`persist.rs`): only what changed since is written.
    pub(super) history_cursor: (u32, u64),
    /// Set while an explicit join waits for its first answer.
    pub(super) pending: Option<PendingJoin>,
    /// A restored group we founded, until a peer answers: when to say we are alone, and
    /// how many stored peers were asked.
    pub(super) alone: Option<(Instant, usize)>,
    /// An explicit join a member answered, until the node says we hold the group's state:
    /// READY comes then, or at this instant at the latest (PROTOCOL.md §6.3).
    pub(super) sync_by: Option<Instant>,
}

impl Joined {
    /// Our key in the group.
    pub(super) fn own(&self) -> PublicKey {
        self.join.contact.key
    }
}

/// An explicit join that no member has answered yet.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingJoin {
    /// When it is given up.
    deadline: Instant,
    /// The member asked.
    through: NodeInfo,
    /// True if the join created the group's store record (which goes if it fails).
    fresh: bool,
}

impl Runtime {
    /// Creates, joins or restores groups as the options ask; `nick` is already checked.
    pub async fn open_groups(&mut self, options: &Options, nick: &str) -> anyhow::Result<()> {
        self.nick = nick.to_owned();
        if let Some(name) = &options.create {
            let privacy = match options.private {
                true => Privacy::Private,
                false => Privacy::Public,
            };
            let dialect = match options.legacy {
                true => Dialect::Legacy,
                false => Dialect::Secure,
            };
            self.create(name, dialect, privacy).await?;
            return Ok(());
        }
        if let Some(join) = &options.join {
            let join: JoinString = join
                .parse()
                .map_err(|e| anyhow!("bad join string {join:?}: {e}"))?;
            self.join(&join).await?;
            return Ok(());
        }
        let records = self.store.groups()?;
        if records.is_empty() && self.index.is_some() {
            self.info(
                None,
                "no group yet: /login NAME or /register NAME on the index",
            );
            return Ok(());
        }
        if records.is_empty() {
            anyhow::bail!(
                "no group to rejoin in {}: start with --create NAME or --join JOIN_STRING",
                self.store.path().display()
            );
        }
        for rec in records {
            self.restore(rec, nick).await?;
        }
        Ok(())
    }

    /// Founds a group with a fresh identity and our current nick, and stores it.
    pub(super) async fn create(
        &mut self,
        name: &str,
        dialect: Dialect,
        privacy: Privacy,
    ) -> anyhow::Result<GroupId> {
        let nick = self.nick.clone();
        let seed = Zeroizing::new(os_seed().context("no OS randomness")?);
        let group = self
            .handle
            .create_group(spec_for(dialect, privacy, &seed, &nick))
            .await?;
        let ours = self.join_through_us(group).await?;
        if dialect == Dialect::Secure {
            // The name travels to joiners as a founder-signed fact (PROTOCOL.md §5.5).
            self.handle.set_group_name(group, name.to_owned()).await?;
        }
        let rec = GroupRecord {
            id: GroupRecord::NEW,
            label: name.to_owned(),
            dialect,
            privacy,
            chat_id: ours.chat_id,
            identity_seed: seed,
            nick: nick.clone(),
            join: ours.to_string(),
            peers: Vec::new(),
            created_by_us: true,
        };
        let record = self.store.put_group(&rec)?;
        self.add(group, record, name, ours, &nick, true);
        self.ready(group);
        Ok(group)
    }

    /// Joins through a join string with our current nick; a group we were in before keeps
    /// its identity. The join is given up after the join timeout.
    pub(super) async fn join(&mut self, join: &JoinString) -> anyhow::Result<GroupId> {
        let stored = self
            .store
            .groups()?
            .into_iter()
            .find(|r| same_group(r, join));
        if let Some(mut rec) = stored {
            // The join string's member is asked first, then the peers stored before.
            let first = StoredPeer {
                key: *join.contact.key.as_bytes(),
                addr: join.contact.addr,
            };
            rec.peers.retain(|p| p.key != first.key);
            rec.peers.insert(0, first);
            rec.join = join.to_string();
            self.store.put_group(&rec)?;
            let nick = self.nick.clone();
            let group = self.restore(rec, &nick).await?;
            self.expect_answer(group, join.contact, false);
            return Ok(group);
        }
        let nick = self.nick.clone();
        let seed = Zeroizing::new(os_seed().context("no OS randomness")?);
        let spec = spec_for(join.dialect, join.privacy, &seed, &nick);
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
            nick: nick.clone(),
            join: join.to_string(),
            peers: vec![StoredPeer {
                key: *join.contact.key.as_bytes(),
                addr: join.contact.addr,
            }],
            created_by_us: false,
        };
        let record = self.store.put_group(&rec)?;
        self.add(group, record, &label, ours, &nick, false);
        self.expect_answer(group, join.contact, true);
        Ok(group)
    }

    /// Joins an index room's group (PROTOCOL.md §8.11) with the account's identity `seed`,
    /// the account name as nick and the room's name as label. Given up after the join
    /// timeout like any join.
    pub(super) async fn join_as(
        &mut self,
        join: &JoinString,
        seed: &[u8; 32],
        nick: &str,
        label: &str,
    ) -> anyhow::Result<GroupId> {
        let spec = spec_for(join.dialect, join.privacy, seed, nick);
        let group = self.handle.join_group(*join, spec).await?;
        self.restore_facts(group, join.chat_id).await?;
        let ours = self.join_through_us(group).await?;
        let rec = GroupRecord {
            id: GroupRecord::NEW,
            label: label.to_owned(),
            dialect: join.dialect,
            privacy: join.privacy,
            chat_id: join.chat_id,
            identity_seed: Zeroizing::new(*seed),
            nick: nick.to_owned(),
            join: join.to_string(),
            peers: vec![StoredPeer {
                key: *join.contact.key.as_bytes(),
                addr: join.contact.addr,
            }],
            created_by_us: false,
        };
        let record = self.store.put_group(&rec)?;
        self.add(group, record, label, ours, nick, false);
        self.expect_answer(group, join.contact, true);
        Ok(group)
    }

    /// Rejoins a stored group with its stored identity, through its remembered peers (or
    /// founds it again, alone, if we founded it and know no peer); with `nick`, else the
    /// stored one.
    pub(super) async fn restore(
        &mut self,
        rec: GroupRecord,
        nick: &str,
    ) -> anyhow::Result<GroupId> {
        let nick = self.restored_nick(&rec, nick);
        let spec = spec_for(rec.dialect, rec.privacy, &rec.identity_seed, &nick);
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
        let asked = contacts.len();
        let resume = self.resume_from_store(rec.id, contacts)?;
        let number = resume.broadcast_after;
        self.handle.rejoin(group, resume).await?;
        self.restore_history_keep(group, rec.id).await?;
        self.restore_facts(group, rec.chat_id).await?;
        let ours = self.join_through_us(group).await?;
        self.add(group, rec.id, &rec.label, ours, &nick, founded);
        let nicks = self.store.nicks(rec.id)?;
        if let Some(j) = self.groups.get_mut(&group) {
            let known = nicks.into_iter().map(|(k, n)| (PublicKey::from(k), n));
            j.nicks.extend(known);
            j.stored_number = number;
            if rec.created_by_us && !founded {
                // Our own group: if none of its peers answers, say so and carry on alone.
                j.alone = Some((now() + FOUNDER_ALONE_AFTER, asked));
            }
        }
        match founded {
            true => self.ready(group),
            false => self.waiting(group),
        }
        Ok(group)
    }

    /// What a restored group is given back: the stored peers, our numbers resumed
    /// [`NUMBER_RESUME_GAP`] past the stored ones (stored at once, so a crash right after
    /// does not reuse them), and the stored marks (PROTOCOL.md §6.9).
    fn resume_from_store(&self, record: u64, contacts: Vec<NodeInfo>) -> anyhow::Result<Resume> {
        let broadcast_after = (self.store.last_number(record)?).saturating_add(NUMBER_RESUME_GAP);
        let direct_after = (self.store.last_direct(record)?).saturating_add(NUMBER_RESUME_GAP);
        self.store.set_last_number(record, broadcast_after)?;
        self.store.set_last_direct(record, direct_after)?;
        // The marks journal holds what was accepted since the last store (a kill -9).
        let (journaled, shown, read) = self.store.journal_fold(record).unwrap_or_default();
        if read.bad > 0 {
            tracing::warn!(
                skipped = read.bad,
                "marks journal: records whose check failed"
            );
        }
        let marks = (self.store.marks(record)?.into_iter())
            .chain(journaled)
            .map(|m| Mark {
                origin: PublicKey::from(m.key),
                broadcast: m.broadcast,
                direct: m.direct,
            })
            .collect();
        let unix = super::persist::unix_now();
        let history = (self.store.history(record)?.into_iter())
            .map(|h| crate::proto::HistoryRecord {
                seq: 0,
                age_secs: u32::try_from(unix.saturating_sub(h.unix_secs)).unwrap_or(u32::MAX),
                origin: PublicKey::from(h.origin),
                number: h.number,
                plain: h.plain,
            })
            .collect();
        // Shown before this restart: since the last store (the journal), then before it.
        let shown = (shown.into_iter())
            .chain(self.store.shown(record).unwrap_or_default())
            .map(|(key, number)| (PublicKey::from(key), number))
            .collect();
        let admissions = (self.store.admissions(record)?.into_iter())
            .map(|(key, from)| crate::proto::Admission {
                key: PublicKey::from(key),
                from: from.map(|(o, n)| (PublicKey::from(o), n)),
            })
            .collect();
        Ok(Resume {
            shown,
            contacts,
            broadcast_after,
            direct_after,
            marks,
            history,
            admissions,
        })
    }

    /// The nick to use in a restored group: `given` if set, else the stored one if it
    /// follows the nick rule (an older version stored anything), else none. Without a nick of
    /// our own yet, the stored one also becomes the one new groups get.
    fn restored_nick(&mut self, rec: &GroupRecord, given: &str) -> String {
        if !given.is_empty() {
            return given.to_owned();
        }
        match check_nick(&rec.nick) {
            Ok(n) => {
                if self.nick.is_empty() {
                    self.nick = n.to_owned();
                }
                n.to_owned()
            }
            Err(_) if rec.nick.is_empty() => String::new(),
            Err(e) => {
                self.error(None, format!("stored nick in {} ignored: {e}", rec.label));
                String::new()
            }
        }
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

    /// Records a group and opens its window (`founded`: we are in already).
    fn add(
        &mut self,
        group: GroupId,
        record: u64,
        label: &str,
        join: JoinString,
        nick: &str,
        founded: bool,
    ) {
        let joined = Joined {
            record,
            label: label.to_owned(),
            join,
            nick: nick.to_owned(),
            status: Presence::Online,
            nicks: HashMap::from([(join.contact.key, nick.to_owned())]),
            ready: false,
            stored_number: 0,
            history_cursor: (0, 0),
            pending: None,
            alone: None,
            sync_by: None,
        };
        self.groups.insert(group, joined);
        self.members_dirty.insert(group);
        let at = self.now();
        let ev = ChatEvent::Opened {
            at,
            label: label.to_owned(),
            join: join.to_string(),
            nick: nick.to_owned(),
            ready: founded,
        };
        self.push(Some(group), ev);
    }

    /// Forgets a group the node no longer has (left, kicked, banned, join failed): its
    /// record goes from the store if `forget`, and its window gets `Closed`.
    pub(super) fn close(&mut self, group: GroupId, reason: &str, forget: bool) {
        let Some(j) = self.groups.remove(&group) else {
            return;
        };
        if forget {
            if let Err(e) = self.store.remove_group(j.record) {
                self.error(Some(group), format!("cannot forget {}: {e}", j.label));
            }
        }
        self.members_dirty.remove(&group);
        self.facts_dirty.remove(&group);
        let at = self.now();
        let reason = reason.to_owned();
        self.push(Some(group), ChatEvent::Closed { at, reason });
    }

    /// The group's signed name became known or changed (`Event::GroupNameChanged`): the
    /// label, the store and the window follow.
    pub(super) fn group_named(&mut self, group: GroupId, name: &str) {
        let Some(j) = self.groups.get_mut(&group) else {
            return;
        };
        let name = super::text::neutralize(name).into_owned();
        j.label = name.clone();
        let record = j.record;
        let stored = self.store.groups().ok().into_iter().flatten();
        if let Some(mut rec) = stored.into_iter().find(|r| r.id == record) {
            rec.label = name.clone();
            let _ = self.store.put_group(&rec);
        }
        let at = self.now();
        self.push(Some(group), ChatEvent::GroupName { at, name });
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
