//! Parsing one line of chat input: a message, a `/command`, or nothing.
//!
//! Shared by both front ends (the terminal UI and `--plain`). Pure: no IO, no state. Every bad
//! line gets a [`CommandError`] whose `Display` is one line a person can act on (the command's
//! usage), never a panic. Fields are capped at the protocol's limits so that what parses also
//! fits on the wire ([`MAX_NICK_BYTES`] by the one nick rule, [`MAX_TOPIC_BYTES`]), except
//! message text: up to [`MAX_INPUT_BYTES`] is accepted and the runtime sends what exceeds a
//! message ([`MAX_TEXT_BYTES`], a secure group's body limit, PROTOCOL.md §5.1) in parts.

use std::str::FromStr;

use crate::app::event::Presence;
use crate::app::text::check_nick;
use crate::proto::JoinString;
use crate::wire::MAX_SIGNED_PAYLOAD;
use crate::wire::message::{MAX_NAME_LEN, MAX_TOPIC_LEN};

/// Longest chat, action or private message text, in bytes (the secure dialect's body limit).
pub const MAX_TEXT_BYTES: usize = MAX_SIGNED_PAYLOAD;
/// Longest nick (and group name), in bytes.
pub const MAX_NICK_BYTES: usize = MAX_NAME_LEN;
/// Longest topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = MAX_TOPIC_LEN;
/// Longest part, quit, kick or ban reason, in bytes.
pub const MAX_REASON_BYTES: usize = MAX_TOPIC_LEN;
/// Longest line the terminal's input editor holds, in bytes: a full text plus room for a
/// command and its target.
pub const MAX_LINE_BYTES: usize = MAX_TEXT_BYTES + 160;
/// Longest input line accepted, in bytes (a paste): text, `/me` and `/msg` longer than
/// [`MAX_TEXT_BYTES`] are sent in numbered parts ([`crate::app::text::split_text`]).
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A blank line: nothing to do.
    Empty,
    /// A chat message (a line starting with `//` sends the text from its second `/`).
    Text(String),
    /// A `/command`.
    Command(ChatCommand),
}

/// Who may speak (`/voice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceLevel {
    /// Everyone but observers.
    All,
    /// Moderators and the founder.
    Moderators,
    /// The founder only.
    Founder,
}

/// Every `/command` the front ends accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand {
    /// `/help [command]`: list commands, or explain one.
    Help(Option<String>),
    /// `/nick <name>`.
    Nick(String),
    /// `/me <action>`.
    Me(String),
    /// `/msg <nick|key> <text>`: a private message.
    Msg {
        /// A nick or a key (hex).
        target: String,
        /// The text.
        text: String,
    },
    /// `/topic [text]`: show (`None`) or set; `/topic --clear` sets the empty topic.
    Topic(Option<String>),
    /// `/history [keep N [DAYS]]`: show (`None`) or set this group's history limits.
    History(Option<HistoryKeep>),
    /// `/names`: list members.
    Names,
    /// `/whois <nick|key>`.
    Whois(String),
    /// `/status online|away|busy`.
    Status(Presence),
    /// `/join <join string>`.
    Join(String),
    /// `/create [--legacy] [--private] <name>`.
    Create {
        /// The group's name.
        name: String,
        /// Create a legacy (2014 dialect) group.
        legacy: bool,
        /// Create a private (invite-only) group.
        private: bool,
    },
    /// `/part [reason]`: leave the group.
    Part(Option<String>),
    /// `/chatid`: show the join string.
    ChatId,
    /// `/quit [reason]`.
    Quit(Option<String>),
    /// `/kick <nick|key> [reason]`.
    Kick {
        /// A nick or a key (hex).
        target: String,
        /// Why.
        reason: Option<String>,
    },
    /// `/ban <nick|key> [reason]`.
    Ban {
        /// A nick or a key (hex).
        target: String,
        /// Why.
        reason: Option<String>,
    },
    /// `/unban <nick|key>`.
    Unban(String),
    /// `/mod <nick|key>`.
    Mod(String),
    /// `/unmod <nick|key>`.
    Unmod(String),
    /// `/silence <nick|key>`: make an observer.
    Silence(String),
    /// `/unsilence <nick|key>`.
    Unsilence(String),
    /// `/locktopic on|off`.
    LockTopic(bool),
    /// `/voice all|mod|founder`.
    Voice(VoiceLevel),
    /// `/peerlimit <n>`.
    PeerLimit(u32),
    /// `/invite [key]`: with a key (64 hex digits), allow it into a private group; without,
    /// show the join string through us on a line of its own.
    Invite(Option<String>),
    /// `/register <name>`: a new index account (the front end then asks for a password).
    Register(String),
    /// `/login <name>`: log in to the index (the front end then asks for the password).
    Login(String),
    /// `/logout`.
    Logout,
    /// `/passwd`: change the index password (the front end asks for the new one).
    Passwd,
    /// `/rooms`: the index's rooms with their member counts.
    Rooms,
    /// `/room <NAME>`: open an index room (a valid room name).
    Room(String),
    /// `/admin say [ROOM] <text>`: a server message to one room, or to every room.
    AdminSay {
        /// The room, or `None` for every room.
        room: Option<String>,
        /// The message.
        text: String,
    },
    /// `/gc create|add|remove|admin|leave|rename|list`: group chats on the index.
    Gc(GcCommand),
    /// `/pm <user> <text>`: a private message to an index account.
    Pm {
        /// The recipient's username.
        to: String,
        /// The text.
        text: String,
    },
}

/// Why a line is refused; `Display` is one line for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error("unknown command /{0} — /help lists commands")]
    Unknown(String),
    /// Missing or bad arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// A field is longer than the protocol allows.
    #[error("{what} too long: {len} bytes, at most {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `/nick` with a nick that breaks the nick rule (the error states the rule).
    #[error(transparent)]
    Nick(#[from] crate::app::text::NickError),
    /// A field contains a control character.
    #[error("{0} must not contain control characters")]
    Control(&'static str),
    /// `/join` with a string that is not a join string.
    #[error("bad join string: {0} — usage: /join <dhtchat:…>")]
    BadJoin(crate::proto::JoinStringError),
    /// A username or room name that breaks the index's rule (the error states it).
    #[error("{0}")]
    Account(String),
}

/// Declares the command table once: the usage lines (for errors) and the help lines.
macro_rules! commands {
    ($($usage:literal => $about:literal,)*) => {
        const USAGES: &[&str] = &[$($usage),*];
        const HELP: &[&str] = &[$(concat!($usage, " — ", $about)),*];
    };
}

commands! {
    "/help [command]" => "list commands, or explain one",
    "/nick <name>" => "change your nick in this group",
    "/me <action>" => "send an action (* you waves)",
    "/msg <nick|key> <text>" => "private message to one member (alias /whisper)",
    "/topic [text]" => "show the topic, or set it (--clear empties it)",
    "/names" => "list members with roles and status (alias /list)",
    "/whois <nick|key>" => "show a member's key, role and status",
    "/status online|away|busy" => "set your presence",
    "/join <join string>" => "join a group (dhtchat:…)",
    "/create [--legacy] [--private] <name>" => "create a group",
    "/part [reason]" => "leave the group (alias /close)",
    "/chatid" => "show this group's join string",
    "/history [keep <n> [days]]" => "show how much history this group keeps, or set it for this group",
    "/quit [reason]" => "leave and exit (aliases /exit, /q)",
    "/kick <nick|key> [reason]" => "remove a member (moderators)",
    "/ban <nick|key> [reason]" => "remove a member and keep them out (moderators)",
    "/unban <nick|key>" => "lift a ban (moderators)",
    "/mod <nick|key>" => "make a member a moderator (founder)",
    "/unmod <nick|key>" => "make a moderator a user again (founder)",
    "/silence <nick|key>" => "make a member an observer (moderators)",
    "/unsilence <nick|key>" => "let an observer speak again (moderators)",
    "/locktopic on|off" => "only moderators may set the topic (founder)",
    "/voice all|mod|founder" => "who may speak (founder)",
    "/peerlimit <n>" => "cap the member count, 0 for none (founder)",
    "/invite [key]" => "show the join string to share; with a key (64 hex), let it into a private group",
    "/register <name>" => "create an account on the index (--index); asks for a password",
    "/login <name>" => "log in to the index; asks for the password, then your rooms come back",
    "/logout" => "log out of the index and close its rooms",
    "/passwd" => "change your index password; asks for the new one",
    "/rooms" => "list the index's rooms: LOBBY (3 clients)",
    "/room <NAME>" => "open an index room (A-Z, 0-9 and spaces; /part leaves it)",
    "/admin say [ROOM] <text>" => "server message to one room or to all (index admins)",
    "/gc create <name>|add <user>|remove <user>|admin <user>|leave|rename <name>|list" => "end-to-end encrypted group chats on the index (add/remove/admin/leave/rename in the chat's window)",
    "/pm <user> <text>" => "end-to-end encrypted private message to an index account, online or offline",
}

/// One line per command: usage, then what it does.
pub fn help_lines() -> &'static [&'static str] {
    HELP
}

/// The help line for one command (`nick` or `/nick`, aliases too), if there is one.
pub fn help_for(topic: &str) -> Option<&'static str> {
    let name = canonical(topic.trim_start_matches('/'))?;
    HELP.iter().copied().find(|h| command_name(h) == name)
}

/// Parses one input line (a trailing `\n` or `\r\n` is ignored).
pub fn parse_input(line: &str) -> Result<Input, CommandError> {
    let line = line.trim_end_matches(['\n', '\r']);
    check_len("line", line, MAX_INPUT_BYTES)?;
    if line.trim().is_empty() {
        return Ok(Input::Empty);
    }
    if let Some(text) = line.strip_prefix("//") {
        return text_field("message", &format!("/{text}"), MAX_INPUT_BYTES).map(Input::Text);
    }
    match line.strip_prefix('/') {
        Some(rest) => parse_command(rest).map(Input::Command),
        None => text_field("message", line, MAX_INPUT_BYTES).map(Input::Text),
    }
}

/// The name part of a usage or help line: `/msg <nick|key> …` → `msg`.
fn command_name(usage: &str) -> &str {
    let name = usage.trim_start_matches('/');
    name.split(' ').next().unwrap_or(name)
}

/// The usage line of a canonical command name.
fn usage(name: &str) -> &'static str {
    USAGES
        .iter()
        .copied()
        .find(|u| command_name(u) == name)
        .unwrap_or("/help")
}

/// Maps a typed name (case-insensitive, aliases) to its canonical name.
fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    let alias = match lower.as_str() {
        "whisper" => "msg",
        "list" => "names",
        "close" => "part",
        "exit" | "q" => "quit",
        other => other,
    };
    USAGES
        .iter()
        .copied()
        .map(command_name)
        .find(|n| *n == alias)
}

fn parse_command(rest: &str) -> Result<ChatCommand, CommandError> {
    let (typed, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let Some(name) = canonical(typed) else {
        return Err(CommandError::Unknown(shorten(typed)));
    };
    let a = Args { name, args };
    match name {
        "help" => Ok(ChatCommand::Help(a.optional_word()?)),
        "nick" => a.nick(),
        "me" => a.required("action", MAX_INPUT_BYTES).map(ChatCommand::Me),
        "msg" => a
            .target_and_text()
            .map(|(target, text)| ChatCommand::Msg { target, text }),
        "topic" => a.topic(),
        "history" => a.history(),
        "names" => a.none(ChatCommand::Names),
        "whois" => a.word().map(ChatCommand::Whois),
        "status" => a.status(),
        "join" => a.join(),
        "create" => a.create(),
        "part" => a.reason().map(ChatCommand::Part),
        "chatid" => a.none(ChatCommand::ChatId),
        "quit" => a.reason().map(ChatCommand::Quit),
        "register" => a.username().map(ChatCommand::Register),
        "login" => a.username().map(ChatCommand::Login),
        "logout" => a.none(ChatCommand::Logout),
        "passwd" => a.none(ChatCommand::Passwd),
        "rooms" => a.none(ChatCommand::Rooms),
        "room" => a.room(),
        "admin" => a.admin(),
        "gc" => a.gc(),
        "pm" => a.pm(),
        _ => parse_moderation(a),
    }
}

fn parse_moderation(a: Args<'_>) -> Result<ChatCommand, CommandError> {
    match a.name {
        "kick" => a
            .target_and_reason()
            .map(|(target, reason)| ChatCommand::Kick { target, reason }),
        "ban" => a
            .target_and_reason()
            .map(|(target, reason)| ChatCommand::Ban { target, reason }),
        "unban" => a.word().map(ChatCommand::Unban),
        "mod" => a.word().map(ChatCommand::Mod),
        "unmod" => a.word().map(ChatCommand::Unmod),
        "silence" => a.word().map(ChatCommand::Silence),
        "unsilence" => a.word().map(ChatCommand::Unsilence),
        "locktopic" => a
            .choice(&[("on", true), ("off", false)])
            .map(ChatCommand::LockTopic),
        "voice" => a.voice(),
        "peerlimit" => a
            .word()?
            .parse()
            .map(ChatCommand::PeerLimit)
            .map_err(|_| a.usage()),
        "invite" => a.invite(),
        _ => Err(CommandError::Unknown(a.name.to_owned())),
    }
}

/// The arguments of one command, with the command's canonical name for usage errors.
struct Args<'a> {
    name: &'static str,
    args: &'a str,
}

impl Args<'_> {
    fn usage(&self) -> CommandError {
        CommandError::Usage(usage(self.name))
    }

    /// No arguments allowed.
    fn none(&self, cmd: ChatCommand) -> Result<ChatCommand, CommandError> {
        match self.args.is_empty() {
            true => Ok(cmd),
            false => Err(self.usage()),
        }
    }

    /// Exactly one whitespace-free word.
    fn word(&self) -> Result<String, CommandError> {
        match self.args.split_whitespace().count() {
            1 => text_field("argument", self.args, MAX_LINE_BYTES),
            _ => Err(self.usage()),
        }
    }

    fn optional_word(&self) -> Result<Option<String>, CommandError> {
        match self.args.is_empty() {
            true => Ok(None),
            false => self.word().map(Some),
        }
    }

    /// The rest of the line, required, within `max` bytes.
    fn required(&self, what: &'static str, max: usize) -> Result<String, CommandError> {
        match self.args.is_empty() {
            true => Err(self.usage()),
            false => text_field(what, self.args, max),
        }
    }

    /// `/nick`: the rest of the line, by the one nick rule.
    fn nick(&self) -> Result<ChatCommand, CommandError> {
        match self.args.is_empty() {
            true => Err(self.usage()),
            false => Ok(ChatCommand::Nick(check_nick(self.args)?.to_owned())),
        }
    }

    fn reason(&self) -> Result<Option<String>, CommandError> {
        match self.args.is_empty() {
            true => Ok(None),
            false => text_field("reason", self.args, MAX_REASON_BYTES).map(Some),
        }
    }

    /// A first word (the target) and the rest of the line.
    fn split_target(&self) -> Result<(String, &str), CommandError> {
        let (target, rest) = self
            .args
            .split_once(char::is_whitespace)
            .unwrap_or((self.args, ""));
        match target.is_empty() {
            true => Err(self.usage()),
            false => Ok((text_field("target", target, MAX_LINE_BYTES)?, rest.trim())),
        }
    }

    fn target_and_text(&self) -> Result<(String, String), CommandError> {
        let (target, text) = self.split_target()?;
        match text.is_empty() {
            true => Err(self.usage()),
            false => Ok((target, text_field("message", text, MAX_INPUT_BYTES)?)),
        }
    }

    fn target_and_reason(&self) -> Result<(String, Option<String>), CommandError> {
        let (target, reason) = self.split_target()?;
        let reason = match reason.is_empty() {
            true => None,
            false => Some(text_field("reason", reason, MAX_REASON_BYTES)?),
        };
        Ok((target, reason))
    }

    /// One word from a fixed set (case-insensitive).
    fn choice<T: Copy>(&self, options: &[(&str, T)]) -> Result<T, CommandError> {
        let word = self.word()?.to_lowercase();
        options
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.usage())
    }

    fn topic(&self) -> Result<ChatCommand, CommandError> {
        match self.args {
            "" => Ok(ChatCommand::Topic(None)),
            "--clear" => Ok(ChatCommand::Topic(Some(String::new()))),
            t => text_field("topic", t, MAX_TOPIC_BYTES).map(|t| ChatCommand::Topic(Some(t))),
        }
    }

    fn status(&self) -> Result<ChatCommand, CommandError> {
        let options = [
            ("online", Presence::Online),
            ("away", Presence::Away),
            ("busy", Presence::Busy),
        ];
        self.choice(&options).map(ChatCommand::Status)
    }

    fn voice(&self) -> Result<ChatCommand, CommandError> {
        let options = [
            ("all", VoiceLevel::All),
            ("mod", VoiceLevel::Moderators),
            ("mods", VoiceLevel::Moderators),
            ("founder", VoiceLevel::Founder),
        ];
        self.choice(&options).map(ChatCommand::Voice)
    }

    fn join(&self) -> Result<ChatCommand, CommandError> {
        let s = self.word()?;
        JoinString::from_str(&s).map_err(CommandError::BadJoin)?;
        Ok(ChatCommand::Join(s))
    }

    fn invite(&self) -> Result<ChatCommand, CommandError> {
        let Some(key) = self.optional_word()? else {
            return Ok(ChatCommand::Invite(None));
        };
        let key = key.to_lowercase();
        match key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            true => Ok(ChatCommand::Invite(Some(key))),
            false => Err(CommandError::Usage("/invite [key] (64 hex digits)")),
        }
    }

    fn create(&self) -> Result<ChatCommand, CommandError> {
        let (mut legacy, mut private, mut words) = (false, false, Vec::new());
        for w in self.args.split_whitespace() {
            match w {
                "--legacy" => legacy = true,
                "--private" => private = true,
                flag if flag.starts_with("--") => return Err(self.usage()),
                word => words.push(word),
            }
        }
        if words.is_empty() || (legacy && private) {
            return Err(self.usage());
        }
        let name = text_field("group name", &words.join(" "), MAX_NICK_BYTES)?;
        Ok(ChatCommand::Create {
            name,
            legacy,
            private,
        })
    }
}

fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), CommandError> {
    match s.len() > max {
        true => Err(CommandError::TooLong {
            what,
            len: s.len(),
            max,
        }),
        false => Ok(()),
    }
}

/// A text field: within `max` bytes and free of control characters (tabs allowed).
fn text_field(what: &'static str, s: &str, max: usize) -> Result<String, CommandError> {
    check_len(what, s, max)?;
    match s.chars().any(|c| c.is_control() && c != '\t') {
        true => Err(CommandError::Control(what)),
        false => Ok(s.to_owned()),
    }
}

/// An unknown command's name, cut to 24 characters and without control characters, so the
/// error stays one line.
fn shorten(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(24).collect()
}

mod account;
mod gc;
mod history;

/// The command a typed line parses to (the sub-command modules' tests).
#[cfg(test)]
fn command_for_test(line: &str) -> Result<ChatCommand, CommandError> {
    match parse_input(line)? {
        Input::Command(c) => Ok(c),
        other => panic!("not a command: {other:?}"),
    }
}
#[cfg(test)]
mod tests;

pub use account::{Password, password_prompt, room_error};
pub use gc::GcCommand;
pub use history::{HistoryKeep, MAX_KEEP_DAYS, MAX_KEEP_MESSAGES};
