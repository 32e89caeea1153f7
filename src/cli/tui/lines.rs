//! Turning chat events into styled message-pane lines (`HH:MM` first), irssi style:
//! `<nick> text`, `* nick action`, `*nick* private`, and `-!-` system lines.
//!
//! Every piece of text a peer controls (nicks, messages, topics, reasons, group names) goes
//! through [`sanitise`], which is [`crate::app::text::neutralize`]: control characters and
//! Unicode bidi overrides become U+FFFD (tabs a space), so no peer can move the cursor,
//! recolour the terminal or reorder what the person reads.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::event::{ChatEvent, LocalTime, Peer, Role};
use crate::app::text::neutralize;

/// Colours a nick can get; chosen from the key so a nick keeps its colour.
const NICK_COLOURS: [Color; 10] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightMagenta,
];

/// The stable colour of a member, from an FNV-1a hash of its key.
pub fn nick_colour(key_hex: &str) -> Color {
    let hash = key_hex.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    NICK_COLOURS[hash as usize % NICK_COLOURS.len()]
}

/// `s` safe to display, owned: [`neutralize`] (controls and bidi overrides → U+FFFD, tab →
/// space).
pub fn sanitise(s: &str) -> String {
    neutralize(s).into_owned()
}

fn time(at: LocalTime) -> Span<'static> {
    Span::styled(format!("{at} "), Style::new().fg(Color::DarkGray))
}

fn nick(p: &Peer) -> Span<'static> {
    Span::styled(
        sanitise(p.display_name()),
        Style::new().fg(nick_colour(&p.key_hex)),
    )
}

fn plain(s: &str) -> Span<'static> {
    Span::raw(sanitise(s))
}

/// A line of an index room: `<author> text`, or `-!- [server] text` for an admin's server
/// message; history read when the room opened starts with a dim `[history]`.
/// A group-chat or private message of the index; from storage, marked with its send time.
fn index_chat_line(
    at: LocalTime,
    author: &str,
    text: Option<&str>,
    stored: Option<LocalTime>,
) -> Line<'static> {
    let mut spans = vec![time(at)];
    if let Some(when) = stored {
        let mark = format!("[sent {when}] ");
        spans.push(Span::styled(mark, Style::new().fg(Color::DarkGray)));
    }
    let colour = Style::new().fg(nick_colour(author));
    spans.extend([
        plain("<"),
        Span::styled(sanitise(author), colour),
        plain("> "),
        plain(text.unwrap_or("(sealed under a key you do not hold)")),
    ]);
    Line::from(spans)
}

fn room_line(
    at: LocalTime,
    author: &str,
    text: &str,
    server: bool,
    history: bool,
) -> Line<'static> {
    let mut spans = vec![time(at)];
    if history {
        spans.push(Span::styled("[history] ", Style::new().fg(Color::DarkGray)));
    }
    if server {
        let yellow = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
        spans.push(Span::styled("-!- [server] ", yellow));
        spans.push(Span::styled(sanitise(text), yellow));
        return Line::from(spans);
    }
    let colour = Style::new().fg(nick_colour(author));
    spans.extend([
        plain("<"),
        Span::styled(sanitise(author), colour),
        plain("> "),
        plain(text),
    ]);
    Line::from(spans)
}

/// A `-!-` system line made of spans.
pub(super) fn system(at: LocalTime, parts: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![time(at), Span::styled("-!- ", Style::new().fg(Color::Cyan))];
    spans.extend(parts);
    Line::from(spans)
}

/// A `-!-` system line of plain text.
pub(super) fn info(at: LocalTime, text: &str) -> Line<'static> {
    system(at, vec![plain(text)])
}

/// A red `-!-` error line.
pub(super) fn error(at: LocalTime, text: &str) -> Line<'static> {
    let red = Style::new().fg(Color::Red);
    Line::from(vec![
        time(at),
        Span::styled("-!- ", red),
        Span::styled(sanitise(text), red),
    ])
}

fn with_reason(mut parts: Vec<Span<'static>>, reason: &str) -> Vec<Span<'static>> {
    if !reason.is_empty() {
        parts.push(plain(&format!(" ({reason})")));
    }
    parts
}

fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::Founder => " the founder",
        Role::Moderator => " a moderator",
        Role::User => " a user",
        Role::Observer => " an observer",
    }
}

/// The message-pane lines for one event (none for a members snapshot).
pub(super) fn event_lines(ev: &ChatEvent) -> Vec<Line<'static>> {
    use ChatEvent as E;
    match ev {
        // The join string goes on a line of its own (`Window::show_join`).
        E::Ready {
            at,
            pk,
            nick,
            addr,
            group,
            ..
        } => vec![info(*at, &welcome(group, nick, pk, addr))],
        E::Message { at, from, text } => {
            vec![Line::from(vec![
                time(*at),
                plain("<"),
                nick(from),
                plain("> "),
                plain(text),
            ])]
        }
        E::Action { at, from, text } => {
            vec![Line::from(vec![
                time(*at),
                plain("* "),
                nick(from),
                plain(" "),
                plain(text),
            ])]
        }
        E::Private { at, from, text } => vec![private(*at, from, text)],
        E::History {
            at,
            from,
            text,
            action,
            age_secs,
        } => vec![history_line(*at, from, text, *action, *age_secs)],
        // Nothing fetched (a new group, nothing missed): no divider.
        E::HistoryEnd {
            messages: 0,
            gaps: 0,
            ..
        } => Vec::new(),
        E::HistoryEnd { at, gaps, .. } => {
            let mut lines = vec![info(*at, "— new since you left —")];
            if *gaps > 0 {
                let text = format!("{gaps} gap(s) in the history could not be filled");
                lines.push(error(*at, &text));
            }
            lines
        }
        E::RoomMessage {
            at,
            author,
            text,
            server,
            history,
            ..
        } => vec![room_line(*at, author, text, *server, *history)],
        E::IndexChat {
            at,
            author,
            text,
            stored,
            ..
        } => vec![index_chat_line(*at, author, text.as_deref(), *stored)],
        E::Info { at, text } => vec![info(*at, text)],
        E::Error { at, text } => vec![error(*at, text)],
        _ => window_line(ev)
            .or_else(|| membership_line(ev))
            .into_iter()
            .collect(),
    }
}

/// A fetched history message, dimmed and marked `hist` with its age, so it is never taken
/// for a live one.
fn history_line(at: LocalTime, from: &Peer, text: &str, action: bool, age: u32) -> Line<'static> {
    let dim = Style::default().add_modifier(Modifier::DIM);
    let ago = match age {
        0..60 => format!("{age}s"),
        60..3600 => format!("{}m", age / 60),
        3600..86_400 => format!("{}h", age / 3600),
        _ => format!("{}d", age / 86_400),
    };
    let open = if action { "* " } else { "<" };
    let close = if action { " " } else { "> " };
    Line::from(vec![
        time(at),
        Span::styled(format!("[history -{ago}] "), dim),
        Span::styled(open.to_owned(), dim),
        nick(from),
        Span::styled(close.to_owned(), dim),
        Span::styled(sanitise(text), dim),
    ])
}

/// The lines of a window opening, closing or being renamed (`None` for other events).
fn window_line(ev: &ChatEvent) -> Option<Line<'static>> {
    use ChatEvent as E;
    Some(match ev {
        E::Opened {
            at,
            label,
            nick,
            ready: true,
            ..
        } => info(*at, &format!("you are in {label} as {nick}")),
        E::Opened {
            at, label, nick, ..
        } => info(
            *at,
            &format!("joining {label} as {nick}, waiting for a member to answer"),
        ),
        E::Closed { at, reason } => error(
            *at,
            &format!("you are no longer in this group: {reason} (/wc closes this window)"),
        ),
        E::GroupName { at, name } => info(*at, &format!("the group is now called {name}")),
        _ => return None,
    })
}

/// A join string alone on its line, nothing before or after it, so selecting the row (or
/// `tmux capture-pane`) copies exactly the string.
pub(super) fn join_line(join: &str) -> Line<'static> {
    Line::styled(sanitise(join), Style::new().add_modifier(Modifier::BOLD))
}

fn private(at: LocalTime, from: &Peer, text: &str) -> Line<'static> {
    let magenta = Style::new().fg(Color::Magenta);
    let who = format!("*{}* ", sanitise(from.display_name()));
    Line::from(vec![
        time(at),
        Span::styled(who, magenta.add_modifier(Modifier::BOLD)),
        Span::styled(sanitise(text), magenta),
    ])
}

/// Join, part, kick, ban, nick, topic, status and role lines (`None` for other events).
fn membership_line(ev: &ChatEvent) -> Option<Line<'static>> {
    use ChatEvent as E;
    Some(match ev {
        E::Join { at, peer, .. } => system(
            *at,
            vec![
                nick(peer),
                plain(&format!(" [{}] has joined", peer.short_key())),
            ],
        ),
        E::Part { at, peer, reason } => system(
            *at,
            with_reason(vec![nick(peer), plain(" has left")], reason),
        ),
        E::Kick {
            at,
            peer,
            by,
            reason,
        } => system(
            *at,
            with_reason(vec![nick(peer), plain(" was kicked by "), nick(by)], reason),
        ),
        E::Ban {
            at,
            peer,
            by,
            reason,
        } => system(
            *at,
            with_reason(vec![nick(peer), plain(" was banned by "), nick(by)], reason),
        ),
        E::Nick { at, peer, old, new } => {
            let renamed = Peer::new(peer.key_hex.clone(), new.clone());
            let was = Peer::new(peer.key_hex.clone(), old.clone());
            system(
                *at,
                vec![nick(&was), plain(" is now known as "), nick(&renamed)],
            )
        }
        E::Topic { at, by, topic } if topic.is_empty() => {
            system(*at, vec![nick(by), plain(" cleared the topic")])
        }
        E::Topic { at, by, topic } => {
            system(*at, vec![nick(by), plain(" set the topic: "), plain(topic)])
        }
        E::Status { at, peer, status } => system(
            *at,
            vec![nick(peer), plain(&format!(" is now {}", status.as_str()))],
        ),
        E::Role { at, peer, role, by } => system(
            *at,
            vec![
                nick(by),
                plain(" made "),
                nick(peer),
                plain(role_phrase(*role)),
            ],
        ),
        E::Ready { .. }
        | E::Message { .. }
        | E::Action { .. }
        | E::Private { .. }
        | E::History { .. }
        | E::HistoryEnd { .. }
        | E::Info { .. }
        | E::Error { .. }
        | E::Opened { .. }
        | E::Closed { .. }
        | E::GroupName { .. }
        | E::Invite { .. }
        | E::RoomMessage { .. }
        | E::IndexChat { .. }
        | E::Members(_) => return None,
    })
}

/// The welcome line: the group, our nick (or our short key before we have one) and the address.
fn welcome(group: &str, nick: &str, pk: &str, addr: &std::net::SocketAddr) -> String {
    match nick.is_empty() {
        true => format!("you are in {group} as {} on {addr}", short(pk)),
        false => format!("you are in {group} as {nick} [{}] on {addr}", short(pk)),
    }
}

/// The first 8 characters of a key (hex).
pub(super) fn short(key_hex: &str) -> &str {
    key_hex.get(..8).unwrap_or(key_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn nick_colours_are_stable_and_spread() {
        assert_eq!(nick_colour("abc"), nick_colour("abc"));
        let keys: Vec<String> = (0..40).map(|n| format!("{n:064x}")).collect();
        let distinct: std::collections::HashSet<_> = keys
            .iter()
            .map(|k| format!("{:?}", nick_colour(k)))
            .collect();
        assert!(distinct.len() >= 5, "{distinct:?}");
    }

    #[test]
    fn control_characters_are_neutralised() {
        let at = LocalTime { hour: 1, minute: 2 };
        let from = Peer::new("k", "ev\u{1b}il");
        let ev = ChatEvent::Message {
            at,
            from,
            text: "a\u{1b}[2J\tb\n".into(),
        };
        assert_eq!(
            text(&event_lines(&ev)[0]),
            "01:02 <ev\u{FFFD}il> a\u{FFFD}[2J b\u{FFFD}"
        );
    }

    #[test]
    fn history_is_marked_with_its_age_and_ends_with_the_divider() {
        let at = LocalTime { hour: 1, minute: 2 };
        let from = Peer::new("k", "bob");
        let ev = |action, age_secs| ChatEvent::History {
            at,
            from: from.clone(),
            text: "earlier\u{1b}".into(),
            action,
            age_secs,
        };
        let line = |e: &ChatEvent| text(&event_lines(e)[0]);
        assert_eq!(
            line(&ev(false, 90)),
            "01:02 [history -1m] <bob> earlier\u{FFFD}"
        );
        assert_eq!(
            line(&ev(true, 3 * 86_400)),
            "01:02 [history -3d] * bob earlier\u{FFFD}"
        );
        let end = |gaps| ChatEvent::HistoryEnd {
            at,
            messages: 4,
            gaps,
        };
        let nothing = ChatEvent::HistoryEnd {
            at,
            messages: 0,
            gaps: 0,
        };
        assert!(
            event_lines(&nothing).is_empty(),
            "no divider when nothing came"
        );
        assert!(line(&end(0)).ends_with("— new since you left —"));
        assert_eq!(event_lines(&end(0)).len(), 1);
        assert_eq!(event_lines(&end(2)).len(), 2, "unfilled gaps are said");
    }

    #[test]
    fn bidi_overrides_in_every_peer_field_are_neutralised() {
        let at = LocalTime { hour: 1, minute: 2 };
        let evil = Peer::new("k", "x\u{202E}gnp.exe");
        let evs = [
            ChatEvent::Topic {
                at,
                by: evil.clone(),
                topic: "t\u{2066}o".into(),
            },
            ChatEvent::Part {
                at,
                peer: evil.clone(),
                reason: "r\u{1b}[2J".into(),
            },
            ChatEvent::GroupName {
                at,
                name: "g\u{202D}n".into(),
            },
            ChatEvent::Closed {
                at,
                reason: "kicked\u{200F}".into(),
            },
        ];
        for ev in &evs {
            let shown = text(&event_lines(ev)[0]);
            assert!(!shown.chars().any(crate::app::text::is_unsafe), "{shown:?}");
            assert!(shown.contains('\u{FFFD}'), "{shown:?}");
        }
    }
}
