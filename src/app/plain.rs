//! `--plain` mode's output format: one line per [`ChatEvent`], for bots and scripts.
//!
//! A line is `KIND key=value key=value …`: the kind (upper case) first, then a fixed list of
//! fields in a fixed order (docs/plain-mode.md lists them per kind). Values are escaped so a
//! line is always one line and fields split on single spaces:
//!
//! - everywhere: `\` → `\\`, newline → `\n`, carriage return → `\r`, tab → `\t`, any other
//!   control character and the Unicode bidi controls ([`is_unsafe`]) → `\u{HEX}`, so a peer's
//!   text can neither move the cursor nor reorder what follows it;
//! - in every field except the free-text one: space → `\s`.
//!
//! The free-text field (`text`, `reason`, `topic` or `group`) is always last and keeps its
//! spaces, so it runs to the end of the line. Other UTF-8 (and `=`) passes through unchanged:
//! a key ends at the first `=` of its field. [`parse_plain`] is the reference parser.

use crate::app::event::{ChatEvent, Peer};
use crate::app::text::is_unsafe;

/// The keys whose value is free text: always the last field, spaces kept.
pub const FREE_TEXT_KEYS: &[&str] = &["text", "reason", "topic", "group"];

/// The one-line form of an event, or `None` for events plain mode does not print
/// ([`ChatEvent::Members`]: sidebar snapshots; `/names` output arrives as `INFO` lines).
pub fn format_plain(ev: &ChatEvent) -> Option<String> {
    let (kind, fields) = fields(ev)?;
    let mut line = String::from(kind);
    for (key, value) in fields {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        escape_into(&mut line, &value, FREE_TEXT_KEYS.contains(&key));
    }
    Some(line)
}

/// A plain line's kind and fields, as built by the formatter.
type Fields = (&'static str, Vec<(&'static str, String)>);

fn fields(ev: &ChatEvent) -> Option<Fields> {
    use ChatEvent as E;
    Some(match ev {
        E::Ready {
            join,
            pk,
            nick,
            addr,
            group,
            ..
        } => (
            "READY",
            vec![
                ("join", join.clone()),
                ("pk", pk.clone()),
                ("addr", addr.to_string()),
                ("nick", nick.clone()),
                ("group", group.clone()),
            ],
        ),
        E::Message { from, text, .. } => ("MSG", who_text(from, text)),
        E::Action { from, text, .. } => ("ACTION", who_text(from, text)),
        E::Private { from, text, .. } => ("PRIVMSG", who_text(from, text)),
        E::History {
            from,
            text,
            action,
            age_secs,
            ..
        } => {
            let mut f = who(from);
            let kind = if *action { "action" } else { "chat" };
            f.extend([("kind", kind.into()), ("age", age_secs.to_string())]);
            ("HIST", with(f, "text", text))
        }
        E::HistoryEnd { messages, gaps, .. } => (
            "HISTEND",
            vec![
                ("messages", messages.to_string()),
                ("gaps", gaps.to_string()),
                ("text", "— new since you left —".into()),
            ],
        ),
        E::Join {
            peer, role, status, ..
        } => {
            let mut f = who(peer);
            f.extend([
                ("role", role.as_str().into()),
                ("status", status.as_str().into()),
            ]);
            ("JOIN", f)
        }
        E::Part { peer, reason, .. } => ("PART", with(who(peer), "reason", reason)),
        E::Kick {
            peer, by, reason, ..
        } => ("KICK", with(by_fields(peer, by), "reason", reason)),
        E::Ban {
            peer, by, reason, ..
        } => ("BAN", with(by_fields(peer, by), "reason", reason)),
        E::Nick { peer, old, new, .. } => (
            "NICK",
            vec![
                ("pk", peer.key_hex.clone()),
                ("old", old.clone()),
                ("new", new.clone()),
            ],
        ),
        E::Topic { by, topic, .. } => ("TOPIC", with(who(by), "topic", topic)),
        E::Status { peer, status, .. } => ("STATUS", with(who(peer), "status", status.as_str())),
        E::Role { peer, role, by, .. } => {
            let mut f = with(who(peer), "role", role.as_str());
            f.extend([("by_pk", by.key_hex.clone()), ("by_nick", by.nick.clone())]);
            ("ROLE", f)
        }
        E::Info { text, .. } => ("INFO", vec![("text", text.clone())]),
        E::Error { text, .. } => ("ERROR", vec![("text", text.clone())]),
        E::Invite { join, .. } => ("INVITE", vec![("join", join.clone())]),
        E::GroupName { name, .. } => ("NAME", vec![("name", name.clone())]),
        E::Closed { reason, .. } => ("CLOSED", vec![("reason", reason.clone())]),
        E::RoomMessage {
            room,
            author,
            text,
            server,
            history,
            ..
        } => room_fields(room, author, text, *server, *history),
        E::IndexChat {
            private,
            chat,
            author,
            text,
            sent,
            stored,
            ..
        } => index_chat_fields(
            *private,
            chat,
            author,
            text.as_deref(),
            *sent,
            stored.is_some(),
        ),
        E::Members(_) | E::Opened { .. } => return None,
    })
}

/// `ROOMMSG room= nick= history= text=`, or `SERVER room= nick= history= text=` for an
/// admin's server message.
fn room_fields(room: &str, author: &str, text: &str, server: bool, history: bool) -> Fields {
    let kind = if server { "SERVER" } else { "ROOMMSG" };
    let history = if history { "1" } else { "0" };
    let f = vec![
        ("room", room.to_owned()),
        ("nick", author.to_owned()),
        ("history", history.to_owned()),
    ];
    (kind, with(f, "text", text))
}

/// `GCMSG chat= nick= sent= text=` or `PM chat= nick= sent= text=`; `sent` (unix seconds)
/// only for a message delivered from the index's storage; `text` is `(unreadable)` for a
/// message of an epoch whose key we do not hold.
fn index_chat_fields(
    private: bool,
    chat: &str,
    author: &str,
    text: Option<&str>,
    sent: u64,
    stored: bool,
) -> Fields {
    let kind = if private { "PM" } else { "GCMSG" };
    let mut f = vec![("chat", chat.to_owned()), ("nick", author.to_owned())];
    if stored {
        f.push(("sent", sent.to_string()));
    }
    (kind, with(f, "text", text.unwrap_or("(unreadable)")))
}

fn who(p: &Peer) -> Vec<(&'static str, String)> {
    vec![("pk", p.key_hex.clone()), ("nick", p.nick.clone())]
}

fn who_text(p: &Peer, text: &str) -> Vec<(&'static str, String)> {
    with(who(p), "text", text)
}

fn by_fields(p: &Peer, by: &Peer) -> Vec<(&'static str, String)> {
    let mut f = who(p);
    f.extend([("by_pk", by.key_hex.clone()), ("by_nick", by.nick.clone())]);
    f
}

fn with(
    mut f: Vec<(&'static str, String)>,
    key: &'static str,
    v: &str,
) -> Vec<(&'static str, String)> {
    f.push((key, v.to_owned()));
    f
}

/// Appends `value` escaped; `free` keeps spaces (the last, free-text field).
fn escape_into(out: &mut String, value: &str, free: bool) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if !free => out.push_str("\\s"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// Reverses the escaping of one value; `None` on a malformed escape.
pub fn unescape(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            's' => ' ',
            'u' => unicode_escape(&mut chars)?,
            _ => return None,
        });
    }
    Some(out)
}

/// The `{HEX}` part of a `\u{HEX}` escape.
fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Option<char> {
    if chars.next()? != '{' {
        return None;
    }
    let mut hex = String::new();
    loop {
        match chars.next()? {
            '}' => break,
            c if hex.len() < 6 => hex.push(c),
            _ => return None,
        }
    }
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

/// One parsed plain line: the kind and the unescaped fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainLine {
    /// `MSG`, `JOIN`, …
    pub kind: String,
    /// `(key, value)` pairs, unescaped.
    pub fields: Vec<(String, String)>,
}

impl PlainLine {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one plain line (the reference for scripts); `None` when it is malformed.
pub fn parse_plain(line: &str) -> Option<PlainLine> {
    let (kind, mut rest) = line.split_once(' ').unwrap_or((line, ""));
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (raw, next) = match FREE_TEXT_KEYS.contains(&key) {
            true => (after, ""),
            false => after.split_once(' ').unwrap_or((after, "")),
        };
        fields.push((key.to_owned(), unescape(raw)?));
        rest = next;
    }
    Some(PlainLine {
        kind: kind.to_owned(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::event::{LocalTime, MemberView, Presence, Role};

    const AT: LocalTime = LocalTime {
        hour: 12,
        minute: 5,
    };

    fn alice() -> Peer {
        Peer::new("aa".repeat(32), "alice")
    }

    fn bob() -> Peer {
        Peer::new("bb".repeat(32), "bob the builder")
    }

    fn line(ev: ChatEvent) -> String {
        format_plain(&ev).expect("printed")
    }

    #[test]
    fn every_kind_has_its_documented_line() {
        let (a, b) = (alice(), bob());
        let (ak, bk) = (a.key_hex.clone(), b.key_hex.clone());
        let addr = "127.0.0.1:33445".parse().unwrap();
        let table = [
            (
                ChatEvent::Ready {
                    at: AT,
                    join: "dhtchat:x".into(),
                    pk: ak.clone(),
                    nick: "alice".into(),
                    addr,
                    group: "tea room".into(),
                },
                format!(
                    "READY join=dhtchat:x pk={ak} addr=127.0.0.1:33445 nick=alice group=tea room"
                ),
            ),
            (
                ChatEvent::Message {
                    at: AT,
                    from: a.clone(),
                    text: "hi  all".into(),
                },
                format!("MSG pk={ak} nick=alice text=hi  all"),
            ),
            (
                ChatEvent::Action {
                    at: AT,
                    from: a.clone(),
                    text: "waves".into(),
                },
                format!("ACTION pk={ak} nick=alice text=waves"),
            ),
            (
                ChatEvent::History {
                    at: AT,
                    from: a.clone(),
                    text: "earlier".into(),
                    action: false,
                    age_secs: 90,
                },
                format!("HIST pk={ak} nick=alice kind=chat age=90 text=earlier"),
            ),
            (
                ChatEvent::HistoryEnd {
                    at: AT,
                    messages: 3,
                    gaps: 0,
                },
                "HISTEND messages=3 gaps=0 text=— new since you left —".to_owned(),
            ),
            (
                ChatEvent::Private {
                    at: AT,
                    from: b.clone(),
                    text: "psst".into(),
                },
                format!("PRIVMSG pk={bk} nick=bob\\sthe\\sbuilder text=psst"),
            ),
            (
                ChatEvent::Join {
                    at: AT,
                    peer: a.clone(),
                    role: Role::User,
                    status: Presence::Online,
                },
                format!("JOIN pk={ak} nick=alice role=user status=online"),
            ),
            (
                ChatEvent::Part {
                    at: AT,
                    peer: a.clone(),
                    reason: "quit".into(),
                },
                format!("PART pk={ak} nick=alice reason=quit"),
            ),
            (
                ChatEvent::Kick {
                    at: AT,
                    peer: b.clone(),
                    by: a.clone(),
                    reason: "".into(),
                },
                format!("KICK pk={bk} nick=bob\\sthe\\sbuilder by_pk={ak} by_nick=alice reason="),
            ),
            (
                ChatEvent::Ban {
                    at: AT,
                    peer: b.clone(),
                    by: a.clone(),
                    reason: "spam".into(),
                },
                format!(
                    "BAN pk={bk} nick=bob\\sthe\\sbuilder by_pk={ak} by_nick=alice reason=spam"
                ),
            ),
            (
                ChatEvent::Nick {
                    at: AT,
                    peer: a.clone(),
                    old: "al".into(),
                    new: "alice".into(),
                },
                format!("NICK pk={ak} old=al new=alice"),
            ),
            (
                ChatEvent::Topic {
                    at: AT,
                    by: a.clone(),
                    topic: "rust = fun".into(),
                },
                format!("TOPIC pk={ak} nick=alice topic=rust = fun"),
            ),
            (
                ChatEvent::Status {
                    at: AT,
                    peer: a.clone(),
                    status: Presence::Away,
                },
                format!("STATUS pk={ak} nick=alice status=away"),
            ),
            (
                ChatEvent::Role {
                    at: AT,
                    peer: b.clone(),
                    role: Role::Moderator,
                    by: a.clone(),
                },
                format!(
                    "ROLE pk={bk} nick=bob\\sthe\\sbuilder role=moderator by_pk={ak} by_nick=alice"
                ),
            ),
            (
                ChatEvent::Info {
                    at: AT,
                    text: "2 members".into(),
                },
                "INFO text=2 members".into(),
            ),
            (
                ChatEvent::Error {
                    at: AT,
                    text: "no such nick".into(),
                },
                "ERROR text=no such nick".into(),
            ),
        ];
        for (ev, want) in table {
            let got = line(ev.clone());
            assert_eq!(got, want);
            let parsed = parse_plain(&got).expect("parses");
            assert_eq!(parsed.kind, want.split(' ').next().unwrap());
        }
    }

    #[test]
    fn members_snapshots_print_nothing() {
        let m = MemberView {
            peer: alice(),
            role: Role::Founder,
            status: Presence::Online,
            is_self: true,
        };
        assert_eq!(format_plain(&ChatEvent::Members(vec![m])), None);
    }

    #[test]
    fn escaping_keeps_one_line_and_round_trips() {
        let nasty = "a\\b\nc\rd\te \u{1b}[2J = 日本 🦀 \u{85}end \u{202e}rtl\u{2066} ";
        let ev = ChatEvent::Message {
            at: AT,
            from: Peer::new("k", nasty),
            text: nasty.into(),
        };
        let got = line(ev);
        assert!(
            !got.contains(['\n', '\r', '\u{1b}', '\u{85}', '\u{202e}', '\u{2066}']),
            "{got}"
        );
        assert!(got.contains("\\u{202e}rtl\\u{2066}"), "{got}");
        assert_eq!(
            got.matches(" ").count(),
            3 + nasty.matches(' ').count(),
            "spaces only in text"
        );
        let parsed = parse_plain(&got).expect("parses");
        assert_eq!(parsed.get("nick"), Some(nasty));
        assert_eq!(parsed.get("text"), Some(nasty));
        assert_eq!(parsed.get("pk"), Some("k"));
    }

    #[test]
    fn free_text_can_contain_other_keys() {
        let ev = ChatEvent::Part {
            at: AT,
            peer: Peer::new("k", "x reason=y"),
            reason: "pk=1 text=2".into(),
        };
        let parsed = parse_plain(&line(ev)).expect("parses");
        assert_eq!(parsed.get("nick"), Some("x reason=y"));
        assert_eq!(parsed.get("reason"), Some("pk=1 text=2"));
        assert_eq!(parsed.fields.len(), 3);
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for bad in ["a\\", "a\\q", "\\u{zz}", "\\u{110000}", "\\u1", "\\u{1"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
        assert_eq!(unescape("\\u{7}"), Some("\u{7}".into()));
        assert_eq!(parse_plain("MSG novalue"), None);
        assert_eq!(parse_plain("READY").map(|l| l.fields.len()), Some(0));
    }

    #[test]
    fn group_chat_and_pm_lines_carry_the_send_time_only_from_storage() {
        let ev = |private, stored: Option<LocalTime>, text: Option<&str>| ChatEvent::IndexChat {
            at: AT,
            private,
            chat: "dev talk".into(),
            author: "alice".into(),
            text: text.map(str::to_owned),
            sent: 1_796_583_647,
            stored,
        };
        assert_eq!(
            line(ev(false, None, Some("hi  all"))),
            "GCMSG chat=dev\\stalk nick=alice text=hi  all"
        );
        assert_eq!(
            line(ev(true, Some(AT), Some("later"))),
            "PM chat=dev\\stalk nick=alice sent=1796583647 text=later"
        );
        assert_eq!(
            line(ev(false, Some(AT), None)),
            "GCMSG chat=dev\\stalk nick=alice sent=1796583647 text=(unreadable)"
        );
        let parsed = parse_plain(&line(ev(true, Some(AT), Some("x y")))).unwrap();
        assert_eq!(parsed.kind, "PM");
        assert!(parsed.fields.contains(&("chat".into(), "dev talk".into())));
    }
}
