//! The index's commands (`/register`, `/login`, `/logout`, `/passwd`, `/rooms`, `/room`,
//! `/admin say`) and [`Password`], the one type a password travels in.
//!
//! Room names are checked here, before anything is sent (PROTOCOL.md §8.2: `A-Z`, `0-9` and
//! spaces, 1 to [`MAX_ROOM_NAME`] bytes, no space at either end): a bad one is one error line
//! that states the rule.

use std::fmt;

use zeroize::Zeroizing;

use super::{Args, ChatCommand, CommandError, MAX_INPUT_BYTES, text_field};
use crate::index::names::{MAX_ROOM_NAME, normalize_username, room_name_problem};

/// A password typed at a prompt: never printed (`Debug` shows `Password(..)`), wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a typed password.
    pub fn new(typed: String) -> Self {
        Self(Zeroizing::new(typed))
    }

    /// The password's text, for the key derivation only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The prompt a front end shows before reading a password for `command` (read without
/// echo, kept out of history), or `None` when the command needs none.
pub fn password_prompt(command: &ChatCommand) -> Option<String> {
    match command {
        ChatCommand::Register(name) => Some(format!("new password for {name} (not shown):")),
        ChatCommand::Login(name) => Some(format!("password for {name} (not shown):")),
        ChatCommand::Passwd => Some("new password (not shown):".into()),
        _ => None,
    }
}

/// Why `room` cannot be used, as one line stating the rule; `None` when it is valid.
pub fn room_error(room: &str) -> Option<String> {
    room_name_problem(room).map(|why| {
        format!("not sent: room {room:?} refused: {why} (at most {MAX_ROOM_NAME} bytes)")
    })
}

impl Args<'_> {
    /// `/register NAME` and `/login NAME`: one username by the index's rule.
    pub(super) fn username(&self) -> Result<String, CommandError> {
        let name = self.word()?;
        match normalize_username(&name) {
            Some(_) => Ok(name),
            None => Err(CommandError::Account(
                "a username has 1 to 32 letters, digits, '_', '-' or '.'".into(),
            )),
        }
    }

    /// `/room NAME`: the rest of the line, a valid room name.
    pub(super) fn room(&self) -> Result<ChatCommand, CommandError> {
        let room = self.required("room name", MAX_INPUT_BYTES)?;
        match room_error(&room) {
            Some(e) => Err(CommandError::Account(e)),
            None => Ok(ChatCommand::Room(room)),
        }
    }

    /// `/admin say [ROOM] TEXT`: a first word of only `A-Z` and `0-9` followed by text is the
    /// room (a room with spaces in double quotes: `"ROOM 42"`); without one, every room.
    pub(super) fn admin(&self) -> Result<ChatCommand, CommandError> {
        let Some(rest) = self.args.strip_prefix("say") else {
            return Err(self.usage());
        };
        let rest = rest.trim();
        let (room, text) = split_room(rest);
        if let Some(e) = room.as_deref().and_then(room_error) {
            return Err(CommandError::Account(e));
        }
        if text.is_empty() {
            return Err(self.usage());
        }
        let text = text_field("message", text, MAX_INPUT_BYTES)?;
        Ok(ChatCommand::AdminSay { room, text })
    }
}

/// Splits `"ROOM 42" text`, `LOBBY text` or `text` into the room (if any) and the text.
fn split_room(rest: &str) -> (Option<String>, &str) {
    if let Some(quoted) = rest.strip_prefix('"')
        && let Some((room, text)) = quoted.split_once('"')
    {
        return (Some(room.to_owned()), text.trim());
    }
    match rest.split_once(' ') {
        Some((word, text))
            if word
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && !text.trim().is_empty() =>
        {
            (Some(word.to_owned()), text.trim())
        }
        _ => (None, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Input, parse_input};
    use super::*;

    fn cmd(line: &str) -> Result<ChatCommand, CommandError> {
        match parse_input(line)? {
            Input::Command(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn account_commands_parse() {
        assert_eq!(cmd("/login Alice"), Ok(ChatCommand::Login("Alice".into())));
        assert_eq!(
            cmd("/register bob"),
            Ok(ChatCommand::Register("bob".into()))
        );
        assert_eq!(cmd("/logout"), Ok(ChatCommand::Logout));
        assert_eq!(cmd("/passwd"), Ok(ChatCommand::Passwd));
        assert_eq!(cmd("/rooms"), Ok(ChatCommand::Rooms));
        assert_eq!(
            cmd("/room ROOM 42"),
            Ok(ChatCommand::Room("ROOM 42".into()))
        );
        assert!(cmd("/login al ice").is_err());
        assert!(cmd("/login élise").is_err());
        assert!(password_prompt(&ChatCommand::Login("a".into())).is_some());
        assert!(password_prompt(&ChatCommand::Rooms).is_none());
    }

    #[test]
    fn bad_room_names_are_refused_with_the_rule() {
        let e = cmd("/room lobby").unwrap_err().to_string();
        assert!(e.contains("only A-Z, 0-9 and spaces"), "{e}");
        assert!(e.contains("not sent"), "{e}");
        let e = cmd(&format!("/room {}", "A".repeat(33))).unwrap_err();
        assert!(e.to_string().contains("1 to 32"), "{e}");
    }

    #[test]
    fn admin_say_takes_an_optional_room() {
        let say = |room: Option<&str>, text: &str| ChatCommand::AdminSay {
            room: room.map(str::to_owned),
            text: text.into(),
        };
        assert_eq!(
            cmd("/admin say LOBBY hi all"),
            Ok(say(Some("LOBBY"), "hi all"))
        );
        assert_eq!(cmd("/admin say hi all"), Ok(say(None, "hi all")));
        assert_eq!(
            cmd("/admin say \"ROOM 42\" hello"),
            Ok(say(Some("ROOM 42"), "hello"))
        );
        assert!(cmd("/admin say").is_err());
        assert!(cmd("/admin kick x").is_err());
    }

    #[test]
    fn passwords_do_not_print() {
        let p = Password::new("hunter2".into());
        assert_eq!(format!("{p:?}"), "Password(..)");
        assert_eq!(p.expose(), "hunter2");
    }
}
