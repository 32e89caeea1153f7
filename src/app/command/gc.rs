//! The group-chat and private-message commands of the index (issue #14 item 3):
//! `/gc create NAME`, `/gc add USER`, `/gc remove USER`, `/gc admin USER`, `/gc list`,
//! `/gc leave` and `/pm USER TEXT`.
//!
//! `add`, `remove`, `admin` and `leave` act on the group chat whose window they are typed in; usernames are
//! checked by the index's rule before anything is sent.

use super::{Args, ChatCommand, CommandError, MAX_INPUT_BYTES, text_field};
use crate::index::client::chats::MAX_CHAT_NAME;
use crate::index::names::normalize_username;

/// A `/gc` sub-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcCommand {
    /// `/gc create NAME`: a new group chat with us as its only member.
    Create(String),
    /// `/gc add USER`: add an account to this window's chat (a key rotation).
    Add(String),
    /// `/gc remove USER`: remove an account from this window's chat (a key rotation).
    Remove(String),
    /// `/gc admin USER`: make a member an admin of this window's chat (its creator only);
    /// any admin may then remove members.
    Admin(String),
    /// `/gc list`: the group chats we follow.
    List,
    /// `/gc leave`: leave this window's chat (the remaining members rotate its key).
    Leave,
    /// `/gc rename NAME`: name this window's chat (its admins only; signed, PROTOCOL.md §8.12).
    Rename(String),
}

fn user(name: &str) -> Result<String, CommandError> {
    match normalize_username(name) {
        Some(_) => Ok(name.to_owned()),
        None => Err(CommandError::Account(
            "a username has 1 to 32 letters, digits, '_', '-' or '.'".into(),
        )),
    }
}

impl Args<'_> {
    /// `/gc create NAME | add USER | remove USER | admin USER | list | leave | rename NAME`.
    pub(super) fn gc(&self) -> Result<ChatCommand, CommandError> {
        let (sub, rest) = self
            .args
            .split_once(char::is_whitespace)
            .unwrap_or((self.args, ""));
        let rest = rest.trim();
        let one_word = !rest.is_empty() && !rest.contains(char::is_whitespace);
        let gc = match (sub, one_word) {
            ("create", _) if !rest.is_empty() => {
                GcCommand::Create(text_field("chat name", rest, MAX_CHAT_NAME)?)
            }
            ("add", true) => GcCommand::Add(user(rest)?),
            ("remove", true) => GcCommand::Remove(user(rest)?),
            ("admin", true) => GcCommand::Admin(user(rest)?),
            ("list", _) if rest.is_empty() => GcCommand::List,
            ("leave", _) if rest.is_empty() => GcCommand::Leave,
            ("rename", _) if !rest.is_empty() => {
                GcCommand::Rename(text_field("chat name", rest, MAX_CHAT_NAME)?)
            }
            _ => return Err(self.usage()),
        };
        Ok(ChatCommand::Gc(gc))
    }

    /// `/pm USER TEXT`.
    pub(super) fn pm(&self) -> Result<ChatCommand, CommandError> {
        let Some((to, text)) = self.args.split_once(char::is_whitespace) else {
            return Err(self.usage());
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(self.usage());
        }
        Ok(ChatCommand::Pm {
            to: user(to)?,
            text: text_field("message", text, MAX_INPUT_BYTES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::command_for_test as cmd;
    use super::*;

    #[test]
    fn gc_and_pm_parse() {
        let gc = |g| Ok(ChatCommand::Gc(g));
        assert_eq!(
            cmd("/gc create dev talk"),
            gc(GcCommand::Create("dev talk".into()))
        );
        assert_eq!(cmd("/gc add bob"), gc(GcCommand::Add("bob".into())));
        assert_eq!(cmd("/gc remove Bob"), gc(GcCommand::Remove("Bob".into())));
        assert_eq!(cmd("/gc list"), gc(GcCommand::List));
        assert_eq!(cmd("/gc leave"), gc(GcCommand::Leave));
        assert!(cmd("/gc leave now").is_err());
        assert_eq!(
            cmd("/gc rename dev ops"),
            gc(GcCommand::Rename("dev ops".into()))
        );
        assert!(cmd("/gc rename").is_err());
        assert!(cmd(&format!("/gc rename {}", "n".repeat(MAX_CHAT_NAME + 1))).is_err());
        assert_eq!(cmd("/gc admin carol"), gc(GcCommand::Admin("carol".into())));
        assert!(cmd("/gc").is_err());
        assert!(cmd("/gc add").is_err());
        assert!(cmd("/gc add two words").is_err());
        assert!(cmd("/gc add b@d").is_err());
        assert!(cmd("/gc list x").is_err());
        assert_eq!(
            cmd("/pm bob see you at 5"),
            Ok(ChatCommand::Pm {
                to: "bob".into(),
                text: "see you at 5".into()
            })
        );
        assert!(cmd("/pm bob").is_err());
        assert!(cmd("/pm").is_err());
    }
}
