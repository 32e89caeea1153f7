//! Issuing facts for the node's moderation commands (/kick, /ban, /unban, /mod, /unmod,
//! /silence, /unsilence, /topic, /locktopic, /voice, /peerlimit).
//!
//! A command becomes one fact with the next version, signed by us; we check that we may say
//! it, take it ourselves and broadcast it (id 19). When the founder withdraws authority it
//! first re-signs, at the same version, the facts that should stay in force (the bans of a
//! demoted moderator; a user's topic when the topic gets locked), so every node, late joiners
//! included, keeps them.

use super::GROUP_WIDE;
use super::apply::pack;
use crate::proto::group::Group;
use crate::proto::io::Io;
use crate::proto::{Dialect, SendError};
use crate::wire::{
    BanAction, EncodeError, Fact, FactKind, FactList, FactValue, PeerMessage, PublicKey, Role,
    VoiceLevel,
};

/// A moderation command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// Remove a member; it may rejoin.
    Kick(PublicKey),
    /// Remove a member and keep its key out.
    Ban(PublicKey),
    /// Lift a ban.
    Unban(PublicKey),
    /// Set a member's role: moderator (/mod), user (/unmod, /unsilence), observer
    /// (/silence). Founder is not a role one can give.
    SetRole(PublicKey, Role),
    /// Only moderators may set the topic (/locktopic on|off).
    LockTopic(bool),
    /// Who may speak (/voice all|mod|founder).
    Voice(VoiceLevel),
    /// Most members, 0 for no limit (/peerlimit N).
    PeerLimit(u32),
}

impl Moderation {
    fn fact(self) -> (PublicKey, FactValue<'static>) {
        match self {
            Self::Kick(k) => (k, FactValue::Ban(BanAction::Kick)),
            Self::Ban(k) => (k, FactValue::Ban(BanAction::Ban)),
            Self::Unban(k) => (k, FactValue::Ban(BanAction::Unban)),
            Self::SetRole(k, r) => (k, FactValue::Role(r)),
            Self::LockTopic(on) => (GROUP_WIDE, FactValue::TopicLock(on)),
            Self::Voice(v) => (GROUP_WIDE, FactValue::Voice(v)),
            Self::PeerLimit(n) => (GROUP_WIDE, FactValue::PeerLimit(n)),
        }
    }
}

/// Why a moderation command was refused. Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModerationError {
    /// No group with that id.
    #[error("no such group")]
    UnknownGroup,
    /// Legacy groups have no authority.
    #[error("only secure groups have moderation")]
    NotSecure,
    /// Our role does not allow it (or the target is the founder, or ourselves).
    #[error("not permitted with your role")]
    NotPermitted,
    /// A kick of a banned key (it would lift the ban): unban it first.
    #[error("the target is banned")]
    TargetBanned,
    /// The fact's version counter is exhausted.
    #[error("version counter exhausted")]
    VersionExhausted,
    /// The fact does not fit.
    #[error("does not fit: {0}")]
    Encode(#[from] EncodeError),
}

impl From<ModerationError> for SendError {
    fn from(e: ModerationError) -> Self {
        match e {
            ModerationError::UnknownGroup => Self::UnknownGroup,
            ModerationError::Encode(e) => Self::Encode(e),
            _ => Self::NotPermitted,
        }
    }
}

impl Group {
    /// Carries out one moderation command.
    pub(crate) fn moderate(
        &mut self,
        io: &mut Io<'_>,
        m: Moderation,
    ) -> Result<u32, ModerationError> {
        if self.dialect() != Dialect::Secure {
            return Err(ModerationError::NotSecure);
        }
        let (subject, value) = m.fact();
        if matches!(m, Moderation::Kick(k) if self.authority.is_banned(&k)) {
            return Err(ModerationError::TargetBanned);
        }
        let founder = self.authority.role(&self.own()) == Role::Founder;
        match m {
            Moderation::SetRole(k, r)
                if founder
                    && r != Role::Moderator
                    && self.authority.role(&k) == Role::Moderator =>
            {
                let kept = self.authority.signed_by(&k);
                self.resign(io, kept);
            }
            Moderation::LockTopic(true) if founder => self.resign_user_topic(io),
            _ => {}
        }
        self.issue(io, subject, value)
    }

    /// Issues one fact: next version, signed, checked, taken, broadcast. Returns the number
    /// of the broadcast.
    pub(crate) fn issue(
        &mut self,
        io: &mut Io<'_>,
        subject: PublicKey,
        value: FactValue<'_>,
    ) -> Result<u32, ModerationError> {
        let version = self
            .authority
            .next_version(value.kind(), &subject)
            .ok_or(ModerationError::VersionExhausted)?;
        let bytes = self
            .authority
            .sign(self.identity(), subject, version, value)?;
        let fact = Fact::decode(&bytes).map_err(|_| EncodeError::BadValue("fact"))?;
        if subject == self.own() || !self.authority.permitted(&fact, self.own()) {
            return Err(ModerationError::NotPermitted);
        }
        let list = FactList::new(&bytes).map_err(|_| EncodeError::BadValue("fact"))?;
        // Broadcast before taking it, so a ban or kick still reaches its target.
        let number = self
            .broadcast(io, &PeerMessage::Facts(list))
            .map_err(|_| ModerationError::Encode(EncodeError::BadValue("fact")))?;
        self.take_facts(io, [&bytes[..]], true);
        Ok(number)
    }

    /// Re-signs `facts` with our key at their own versions, takes and broadcasts them.
    fn resign(&mut self, io: &mut Io<'_>, facts: Vec<Vec<u8>>) {
        let mut signed = Vec::new();
        for bytes in &facts {
            let Ok(f) = Fact::decode(bytes) else { continue };
            if let Ok(b) = self
                .authority
                .sign(self.identity(), f.subject, f.version, f.value)
            {
                signed.push(b);
            }
        }
        self.take_facts(io, signed.iter().map(Vec::as_slice), false);
        for body in pack(signed) {
            if let Ok(list) = FactList::new(&body) {
                let _ = self.broadcast(io, &PeerMessage::Facts(list));
            }
        }
    }

    /// Before locking: re-sign the topic if a plain user set it, so it stays valid.
    fn resign_user_topic(&mut self, io: &mut Io<'_>) {
        let topic = self
            .authority
            .export()
            .into_iter()
            .find(|b| Fact::decode(b).is_ok_and(|f| f.kind() == FactKind::Topic));
        let Some(bytes) = topic else { return };
        let signer = Fact::decode(&bytes)
            .ok()
            .and_then(|f| crate::crypto::x25519_of(&f.signer));
        let staff = signer
            .is_some_and(|s| matches!(self.authority.role(&s), Role::Founder | Role::Moderator));
        if !staff {
            self.resign(io, vec![bytes]);
        }
    }
}
