//! Authority in a secure group: the current signed facts (roles, bans, topic, topic lock,
//! voice, peer limit) and the rules that decide whether a fact replaces the one we hold
//! (PROTOCOL.md §6.8).
//!
//! - The founder is the key whose Ed25519 form is the chat id; nobody can change its role.
//! - One fact is kept per (kind, subject). A fact replaces the kept one only if its version
//!   is higher, or equal with a founder signature over a non-founder one, or equal with the
//!   same kind of signer and greater bytes (so every node converges on the same fact).
//! - Whether the signer may say it is judged on the roles we hold *now*: after a demotion
//!   arrives, facts signed by the demoted moderator are rejected. Facts it signed earlier stay;
//!   the founder re-signs them when demoting (`moderate.rs`), so late joiners accept them too.
//!
//! This file is pure state; `apply.rs` turns accepted facts into table and member changes,
//! events and datagrams, and `moderate.rs` issues facts for the node's commands.

mod apply;
mod digest;
mod moderate;

use std::collections::BTreeMap;

pub(crate) use digest::Queued;
pub use moderate::{Moderation, ModerationError};

use crate::crypto::{Identity, verify_fact, x25519_of};
use crate::wire::{
    BanAction, EncodeError, Fact, FactKind, FactValue, KEY_LEN, PublicKey, Role, VoiceLevel,
};

/// Most facts kept per group (bans, roles and the group-wide facts together).
pub(crate) const MAX_FACTS: usize = 8192;

/// Why a fact was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// We hold the same or a newer version.
    Stale,
    /// Bad signature, or the signer lacks the role, or the fact store is full.
    Rejected,
}

/// One kept fact.
#[derive(Debug, Clone)]
struct Kept {
    bytes: Vec<u8>,
    version: u32,
    by_founder: bool,
    /// The signer's X25519 key.
    signer: PublicKey,
}

/// The facts of one secure group.
#[derive(Debug)]
pub(crate) struct Authority {
    chat_id: [u8; KEY_LEN],
    founder: Option<PublicKey>,
    facts: BTreeMap<(FactKind, PublicKey), Kept>,
    /// A joiner's check that it holds the facts of the member that let it in.
    sync: digest::JoinSync,
}

const GROUP_WIDE: PublicKey = PublicKey([0; KEY_LEN]);

impl Authority {
    /// No facts yet; `chat_id` names the founder.
    pub(crate) fn new(chat_id: [u8; KEY_LEN]) -> Self {
        Self {
            chat_id,
            founder: x25519_of(&chat_id),
            facts: BTreeMap::new(),
            sync: digest::JoinSync::default(),
        }
    }

    /// Checks `bytes` and keeps the fact if it is newer and its signer may say it. Returns
    /// the fact and the signer's X25519 key.
    pub(crate) fn take<'a>(&mut self, bytes: &'a [u8]) -> Result<(Fact<'a>, PublicKey), Refusal> {
        let fact = Fact::decode(bytes).map_err(|_| Refusal::Rejected)?;
        let key = (fact.kind(), fact.subject);
        let by_founder = fact.signer == self.chat_id;
        self.is_newer(key, fact.version, by_founder, bytes)?;
        let signer = verify_fact(&self.chat_id, &fact).map_err(|_| Refusal::Rejected)?;
        if !self.permitted(&fact, signer) {
            return Err(Refusal::Rejected);
        }
        if !self.facts.contains_key(&key) && self.facts.len() >= MAX_FACTS {
            return Err(Refusal::Rejected);
        }
        let kept = Kept {
            bytes: bytes.to_vec(),
            version: fact.version,
            by_founder,
            signer,
        };
        self.facts.insert(key, kept);
        Ok((fact, signer))
    }

    fn is_newer(
        &self,
        key: (FactKind, PublicKey),
        version: u32,
        by_founder: bool,
        bytes: &[u8],
    ) -> Result<(), Refusal> {
        let Some(k) = self.facts.get(&key) else {
            return Ok(());
        };
        let newer = version > k.version
            || (version == k.version && (by_founder, bytes) > (k.by_founder, &k.bytes[..]));
        if newer { Ok(()) } else { Err(Refusal::Stale) }
    }

    /// May `signer` (X25519) say `fact`, given the roles we hold now?
    pub(crate) fn permitted(&self, fact: &Fact<'_>, signer: PublicKey) -> bool {
        if self.is_banned(&signer) {
            return false;
        }
        let by = self.role(&signer);
        let staff = matches!(by, Role::Founder | Role::Moderator);
        let subject = fact.subject;
        let target_is_user = matches!(self.role(&subject), Role::User | Role::Observer);
        match fact.value {
            FactValue::Role(role) => match by {
                Role::Founder => Some(subject) != self.founder,
                Role::Moderator => target_is_user && role != Role::Moderator,
                _ => false,
            },
            FactValue::Ban(_) => match by {
                Role::Founder => Some(subject) != self.founder,
                Role::Moderator => target_is_user && subject != signer,
                _ => false,
            },
            FactValue::Topic(_) if self.topic_locked() => staff,
            FactValue::Topic(_) => by != Role::Observer,
            FactValue::TopicLock(_)
            | FactValue::Voice(_)
            | FactValue::PeerLimit(_)
            | FactValue::GroupName(_)
            | FactValue::History(_) => by == Role::Founder,
        }
    }

    fn value(&self, kind: FactKind, subject: &PublicKey) -> Option<Fact<'_>> {
        let kept = self.facts.get(&(kind, *subject))?;
        Fact::decode(&kept.bytes).ok()
    }

    /// The role of `key`: founder for the chat id's key, else its role fact, else user.
    pub(crate) fn role(&self, key: &PublicKey) -> Role {
        if Some(*key) == self.founder {
            return Role::Founder;
        }
        match self.value(FactKind::Role, key).map(|f| f.value) {
            Some(FactValue::Role(r)) => r,
            _ => Role::User,
        }
    }

    /// True if the latest ban fact about `key` bans it.
    pub(crate) fn is_banned(&self, key: &PublicKey) -> bool {
        let v = self.value(FactKind::Ban, key).map(|f| f.value);
        v == Some(FactValue::Ban(BanAction::Ban))
    }

    /// The banned keys.
    pub(crate) fn bans(&self) -> Vec<PublicKey> {
        self.facts
            .range((FactKind::Ban, GROUP_WIDE)..=(FactKind::Ban, PublicKey([0xFF; KEY_LEN])))
            .filter(|(_, k)| Fact::decode(&k.bytes).is_ok_and(|f| f.value == ban()))
            .map(|((_, key), _)| *key)
            .collect()
    }

    /// Whether only moderators may set the topic.
    pub(crate) fn topic_locked(&self) -> bool {
        let v = self
            .value(FactKind::TopicLock, &GROUP_WIDE)
            .map(|f| f.value);
        v == Some(FactValue::TopicLock(true))
    }

    /// Who may speak.
    pub(crate) fn voice(&self) -> VoiceLevel {
        match self.value(FactKind::Voice, &GROUP_WIDE).map(|f| f.value) {
            Some(FactValue::Voice(v)) => v,
            _ => VoiceLevel::All,
        }
    }

    /// Most members, 0 for no limit.
    pub(crate) fn peer_limit(&self) -> u32 {
        match self
            .value(FactKind::PeerLimit, &GROUP_WIDE)
            .map(|f| f.value)
        {
            Some(FactValue::PeerLimit(n)) => n,
            _ => 0,
        }
    }

    /// The group's name, if the founder gave it one (an empty name clears it).
    pub(crate) fn group_name(&self) -> Option<String> {
        match self
            .value(FactKind::GroupName, &GROUP_WIDE)
            .map(|f| f.value)
        {
            Some(FactValue::GroupName(n)) if !n.is_empty() => Some(n.to_owned()),
            _ => None,
        }
    }

    /// Which history members serve (PROTOCOL.md §6.13); shared unless the founder said.
    pub(crate) fn history_visibility(&self) -> crate::wire::HistoryVisibility {
        let kind = FactKind::HistoryVisibility;
        match self.value(kind, &GROUP_WIDE).map(|f| f.value) {
            Some(FactValue::History(v)) => v,
            _ => crate::wire::HistoryVisibility::Shared,
        }
    }

    /// May `key` send chat messages and actions?
    pub(crate) fn may_speak(&self, key: &PublicKey) -> bool {
        match (self.role(key), self.voice()) {
            (Role::Observer, _) => false,
            (Role::Founder, _) | (_, VoiceLevel::All) => true,
            (Role::Moderator, VoiceLevel::Moderators) => true,
            _ => false,
        }
    }

    /// Every kept fact as (kind, subject, encoding), by (kind, subject).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (FactKind, &PublicKey, &[u8])> + '_ {
        (self.facts.iter()).map(|((kind, subject), k)| (*kind, subject, k.bytes.as_slice()))
    }

    /// How many facts are kept.
    pub(crate) fn len(&self) -> usize {
        self.facts.len()
    }

    /// The role fact we keep about the signer of the encoded fact `bytes`, unless the founder
    /// signed it: a receiver must hold it first to accept `bytes` (digest sync, `digest.rs`).
    pub(crate) fn signer_role(&self, bytes: &[u8]) -> Option<&[u8]> {
        let fact = Fact::decode(bytes).ok()?;
        if fact.signer == self.chat_id {
            return None;
        }
        let signer = x25519_of(&fact.signer)?;
        let kept = self.facts.get(&(FactKind::Role, signer))?;
        Some(&kept.bytes)
    }

    /// Every kept fact, encoded: founder-signed first, so a receiver that applies them in
    /// order knows the moderators before it checks their facts.
    pub(crate) fn export(&self) -> Vec<Vec<u8>> {
        let (mut first, rest): (Vec<&Kept>, Vec<&Kept>) =
            self.facts.values().partition(|k| k.by_founder);
        first.extend(rest);
        first.into_iter().map(|k| k.bytes.clone()).collect()
    }

    /// Facts kept whose signer is `signer` (X25519).
    pub(crate) fn signed_by(&self, signer: &PublicKey) -> Vec<Vec<u8>> {
        self.facts
            .values()
            .filter(|k| k.signer == *signer)
            .map(|k| k.bytes.clone())
            .collect()
    }

    /// The version a new fact about (kind, subject) gets: one above the kept one.
    pub(crate) fn next_version(&self, kind: FactKind, subject: &PublicKey) -> Option<u32> {
        match self.facts.get(&(kind, *subject)) {
            None => Some(1),
            Some(k) => k.version.checked_add(1),
        }
    }

    /// A fact with `value` about `subject` at `version`, signed by `identity`.
    pub(crate) fn sign(
        &self,
        identity: &Identity,
        subject: PublicKey,
        version: u32,
        value: FactValue<'_>,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut fact = Fact {
            subject,
            version,
            value,
            signer: [0; KEY_LEN],
            signature: [0; 64],
        };
        fact.check()?;
        identity.sign_fact(&self.chat_id, &mut fact);
        fact.to_vec()
    }
}

fn ban() -> FactValue<'static> {
    FactValue::Ban(BanAction::Ban)
}

#[cfg(test)]
mod tests;
