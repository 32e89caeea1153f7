//! Control messages inside a chat's sealed messages (PROTOCOL.md §8.12): the chat's name,
//! signed by an admin, and a member's leave note.
//!
//! | first byte | body                                                                   |
//! |------------|------------------------------------------------------------------------|
//! | 0x01 name  | `[serial u64][len 1][name][signer 32][signature 64]`                    |
//! | 0x02 leave | `[epoch u64][member 32][signature 64]` (Appendix B G5.4's leave note)   |
//!
//! A name's signature is Ed25519 by `signer` over `"dhtchat/gkey/name/v1" ‖ chat id ‖ serial
//! ‖ len ‖ name`. Members take a name only if the signer is an admin (or the creator) of
//! their head epoch and the serial is above the last name's: a plain member cannot rename
//! the chat, and nobody can replay an older name.

use ed25519_dalek::{Signature, VerifyingKey};

use super::MAX_CHAT_NAME;
use crate::index::groupkey::{ChatId, GroupKeySchedule, LeaveNote, MemberKey};
use crate::wire::Reader;

/// First byte of a name message.
pub const META_NAME: u8 = 0x01;
/// First byte of a leave message.
pub const META_LEAVE: u8 = 0x02;
const NAME_DOMAIN: &[u8] = b"dhtchat/gkey/name/v1";

/// A chat name as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedName {
    /// Higher than every earlier name of the chat.
    pub serial: u64,
    /// The name, 1..=64 bytes of UTF-8.
    pub name: String,
    /// Who signed it.
    pub signer: MemberKey,
    signature: [u8; 64],
}

fn name_input(chat: &ChatId, serial: u64, name: &str) -> Vec<u8> {
    let mut m = NAME_DOMAIN.to_vec();
    m.extend_from_slice(chat);
    m.extend_from_slice(&serial.to_be_bytes());
    m.push(name.len() as u8); // at most MAX_CHAT_NAME (64), checked by the callers
    m.extend_from_slice(name.as_bytes());
    m
}

impl SignedName {
    /// `name` for `chat` at `serial`, signed with our member identity.
    pub fn sign(schedule: &impl GroupKeySchedule, chat: &ChatId, serial: u64, name: &str) -> Self {
        let (signer, signature) = schedule.sign_as_member(&name_input(chat, serial, name));
        Self {
            serial,
            name: name.to_owned(),
            signer,
            signature,
        }
    }

    /// The message body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![META_NAME];
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.push(self.name.len() as u8); // at most MAX_CHAT_NAME
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a name body (after [`META_NAME`]) and checks its signature for `chat`.
    pub fn decode(chat: &ChatId, body: &[u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let serial = r.u64_be().ok()?;
        let len = usize::from(r.u8().ok()?);
        if len == 0 || len > MAX_CHAT_NAME {
            return None;
        }
        let name = std::str::from_utf8(r.take(len).ok()?).ok()?.to_owned();
        let signer: MemberKey = r.array().ok()?;
        let signature: [u8; 64] = r.array().ok()?;
        r.finish().ok()?;
        let key = VerifyingKey::from_bytes(&signer).ok()?;
        if key.is_weak() {
            return None;
        }
        key.verify_strict(
            &name_input(chat, serial, &name),
            &Signature::from_bytes(&signature),
        )
        .ok()?;
        Some(Self {
            serial,
            name,
            signer,
            signature,
        })
    }
}

/// The body of a leave message.
pub fn encode_leave(note: &LeaveNote) -> Vec<u8> {
    let mut out = vec![META_LEAVE];
    out.extend_from_slice(&note.epoch.to_be_bytes());
    out.extend_from_slice(&note.member);
    out.extend_from_slice(&note.signature);
    out
}

/// Decodes a leave body (after [`META_LEAVE`]); the signature is checked by the rotation
/// (the schedule refuses a record with a bad note, Appendix B G5.4).
pub fn decode_leave(chat: &ChatId, body: &[u8]) -> Option<LeaveNote> {
    let mut r = Reader::new(body);
    let epoch = r.u64_be().ok()?;
    let member = r.array().ok()?;
    let signature = r.array().ok()?;
    r.finish().ok()?;
    Some(LeaveNote {
        chat_id: *chat,
        epoch,
        member,
        signature,
    })
}
