//! Rendering a [`ChatView`]: the active window, the status line and the shared input line.
//!
//! ```text
//!  tea room · 3 members · topic text                                  (title bar)
//! 12:00 <alice> hello                                    │3 members
//! 12:01 -!- others can join with this join string:       │~alice
//! dhtchat:public:…@192.0.2.7:33445                                    (wide: no sidebar)
//!       continuation rows of a long line are indented    │@carol
//!  [alice] [online] [founder] [2:tea room] [Act: 1,3!]               (status line)
//! > typed text_                                                       (input line)
//! ```
//!
//! Only the lines that fit are wrapped, newest at the bottom; when scrolled back the last row
//! says `-- more --`. A wide line (a join string) spans the sidebar's columns too and the
//! sidebar's rows flow around it, so selecting that row copies only the string. The sidebar
//! is hidden below [`SIDEBAR_MIN_TERMINAL_WIDTH`] columns, in the status window, and with
//! Ctrl-B.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::ChatView;
use super::lines::{nick_colour, sanitise};
use super::window::{Activity, Membership, Window};
use crate::app::event::{MemberView, Presence, Role};

/// Columns of the member sidebar, its border included.
pub const SIDEBAR_WIDTH: u16 = 20;
/// Narrower terminals hide the sidebar.
pub const SIDEBAR_MIN_TERMINAL_WIDTH: u16 = 60;
/// Indent of a wrapped line's continuation rows (the width of `HH:MM `).
const WRAP_INDENT: usize = 6;
/// The most characters of a window's title shown in the status line.
const STATUS_LABEL_CHARS: usize = 20;

/// One row of the message pane: `wide` rows span the sidebar's columns too.
struct Row {
    line: Line<'static>,
    wide: bool,
}

/// Draws the whole chat screen.
pub fn draw(frame: &mut Frame<'_>, view: &ChatView) {
    let [top, body, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let win = view.win();
    frame.render_widget(title_bar(win), top);
    let show = view.show_sidebar && win.has_sidebar() && body.width >= SIDEBAR_MIN_TERMINAL_WIDTH;
    let side = if show { SIDEBAR_WIDTH } else { 0 };
    let msg_width = body.width - side;
    view.page.set(usize::from(body.height));
    let rows = message_rows(win, msg_width, body.width, body.height);
    if show {
        let free: Vec<u16> = (0..body.height)
            .filter(|&y| !rows.get(usize::from(y)).is_some_and(|r| r.wide))
            .collect();
        let side_rows = sidebar_rows(win, free.len());
        for (y, line) in free.into_iter().zip(side_rows) {
            let area = Rect::new(body.x + msg_width, body.y + y, side, 1);
            frame.render_widget(Paragraph::new(line), area);
        }
    }
    draw_body(frame, body, msg_width, rows);
    frame.render_widget(status_line(view), status);
    draw_input(frame, view, input);
}

/// The message rows, each in its own one-row area: narrow rows beside the sidebar, wide rows
/// across the whole body.
fn draw_body(frame: &mut Frame<'_>, body: Rect, msg_width: u16, rows: Vec<Row>) {
    for (y, row) in (0..body.height).zip(rows) {
        let width = if row.wide { body.width } else { msg_width };
        let area = Rect::new(body.x, body.y + y, width, 1);
        frame.render_widget(Paragraph::new(row.line), area);
    }
}

fn title_bar(win: &Window) -> Paragraph<'static> {
    let mut text = format!(" {}", sanitise(&win.label));
    match &win.membership {
        Membership::None => {}
        Membership::Joining => text.push_str(" · joining…"),
        Membership::Joined => {
            let n = win.members.len();
            text.push_str(&format!(" · {n} member{}", plural(n)));
        }
        Membership::Gone(reason) => {
            text.push_str(&format!(
                " · not in this group: {} · /wc closes",
                sanitise(reason)
            ));
        }
    }
    if !win.topic.is_empty() {
        text.push_str(&format!(" · {}", sanitise(&win.topic)));
    }
    Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// ` [nick] [presence] [role] [N:title] [Act: 1,3!] [scrolled back …]`.
fn status_line(view: &ChatView) -> Paragraph<'static> {
    let win = view.win();
    let mut text = String::new();
    if let Some((nick, presence, role)) = win.self_summary() {
        text.push_str(&format!(
            " [{}] [{}] [{}]",
            sanitise(&nick),
            presence.as_str(),
            role.as_str()
        ));
    }
    let label: String = sanitise(&win.label)
        .chars()
        .take(STATUS_LABEL_CHARS)
        .collect();
    text.push_str(&format!(" [{}:{label}]", view.active_window()));
    let mut spans = vec![Span::raw(text)];
    spans.extend(activity_spans(view));
    if win.scroll > 0 {
        spans.push(Span::raw(format!(
            " [scrolled back {}, {} new]",
            win.scroll, win.unseen
        )));
    }
    Paragraph::new(Line::from(spans)).style(Style::new().fg(Color::White).bg(Color::Blue))
}

/// `[Act: 1,3!]`: the windows with new messages (bold) and where we were mentioned (`!`,
/// magenta); nothing when there are none.
fn activity_spans(view: &ChatView) -> Vec<Span<'static>> {
    let busy: Vec<(usize, Activity)> = view
        .windows
        .iter()
        .enumerate()
        .filter(|(_, w)| w.activity != Activity::None)
        .map(|(i, w)| (i + 1, w.activity))
        .collect();
    if busy.is_empty() {
        return Vec::new();
    }
    let mut spans = vec![Span::raw(" [Act: ")];
    for (k, (n, activity)) in busy.into_iter().enumerate() {
        if k > 0 {
            spans.push(Span::raw(","));
        }
        spans.push(match activity {
            Activity::Highlight => Span::styled(
                format!("{n}!"),
                Style::new()
                    .fg(Color::LightMagenta)
                    .add_modifier(Modifier::BOLD),
            ),
            _ => Span::styled(n.to_string(), Style::new().add_modifier(Modifier::BOLD)),
        });
    }
    spans.push(Span::raw("]"));
    spans
}

/// The sidebar's `room` rows, each starting with its left border: a header (member count, or
/// the state of the join), then members.
fn sidebar_rows(win: &Window, room: usize) -> Vec<Line<'static>> {
    let n = win.members.len();
    let head = match &win.membership {
        Membership::Joining => "joining…".to_owned(),
        Membership::Gone(_) => "not in this group".to_owned(),
        _ => format!("{n} member{}", plural(n)),
    };
    let header = Line::styled(head, Style::new().add_modifier(Modifier::BOLD));
    let space = room.saturating_sub(1);
    let shown = match n > space {
        true => space.saturating_sub(1),
        false => n,
    };
    let mut rows: Vec<Line<'static>> = std::iter::once(header)
        .chain(win.members.iter().take(shown).map(member_row))
        .collect();
    if shown < n {
        let more = format!("… {} more", n - shown);
        rows.push(Line::styled(more, Style::new().add_modifier(Modifier::DIM)));
    }
    rows.resize(room, Line::default());
    rows.truncate(room);
    rows.into_iter()
        .map(|mut l| {
            l.spans.insert(0, Span::raw("│"));
            l
        })
        .collect()
}

/// One sidebar row: sigil, nick in its colour, and `(away)`/`(busy)` dimmed.
fn member_row(m: &MemberView) -> Line<'static> {
    let sigil = match m.role {
        Role::User => " ",
        other => other.sigil(),
    };
    let mut style = Style::new().fg(nick_colour(&m.peer.key_hex));
    if m.is_self {
        style = style.add_modifier(Modifier::BOLD);
    }
    let mut spans = vec![
        Span::raw(sigil),
        Span::styled(sanitise(m.peer.display_name()), style),
    ];
    let mark = match m.status {
        Presence::Online => None,
        Presence::Away => Some((" (away)", Color::Yellow)),
        Presence::Busy => Some((" (busy)", Color::Red)),
    };
    if let Some((text, colour)) = mark {
        spans[1].style = spans[1].style.add_modifier(Modifier::DIM);
        spans.push(Span::styled(
            text,
            Style::new().fg(colour).add_modifier(Modifier::DIM),
        ));
    }
    Line::from(spans)
}

/// The rows of the message pane: the newest lines that fit, wrapped, oldest first. Narrow
/// lines wrap at `width` with indented continuations, wide ones at `full` with none.
fn message_rows(win: &Window, width: u16, full: u16, height: u16) -> Vec<Row> {
    let height = usize::from(height);
    let room = match win.scroll > 0 {
        true => height.saturating_sub(1),
        false => height,
    };
    let mut rows: Vec<Row> = Vec::new();
    for entry in win.lines.iter().rev().skip(win.scroll) {
        if rows.len() >= room {
            break;
        }
        let wrapped = match entry.wide {
            true => wrap_plain(&entry.line, usize::from(full).max(1)),
            false => wrap(&entry.line, usize::from(width).max(WRAP_INDENT + 1)),
        };
        let wide = entry.wide;
        rows.extend(wrapped.into_iter().rev().map(|line| Row { line, wide }));
    }
    rows.truncate(room);
    rows.reverse();
    if win.scroll > 0 {
        let more = Line::styled("-- more --", Style::new().add_modifier(Modifier::REVERSED));
        rows.push(Row {
            line: more,
            wide: false,
        });
    }
    rows
}

/// Splits a line into rows of at most `width` columns with no indent (a join string: its
/// pieces are copied back together as they are).
fn wrap_plain(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut used = 0;
    for span in &line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                flush(&mut rows, &mut piece, span.style);
                rows.push(Vec::new());
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        flush(&mut rows, &mut piece, span.style);
    }
    rows.into_iter().map(Line::from).collect()
}

/// Splits a line into rows of at most `width` columns; continuation rows are indented.
pub(super) fn wrap(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for span in &line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > width && used > WRAP_INDENT {
                flush(&mut rows, &mut piece, span.style);
                rows.push(vec![Span::raw(" ".repeat(WRAP_INDENT))]);
                used = WRAP_INDENT;
            }
            piece.push(c);
            used += w;
        }
        flush(&mut rows, &mut piece, span.style);
    }
    rows.into_iter().map(Line::from).collect()
}

fn flush(rows: &mut [Vec<Span<'static>>], piece: &mut String, style: Style) {
    if let Some(row) = rows.last_mut().filter(|_| !piece.is_empty()) {
        row.push(Span::styled(std::mem::take(piece), style));
    }
}

/// Display columns of one character (0, 1 or 2).
fn char_width(c: char) -> usize {
    let mut buf = [0; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// The input line `> text`, scrolled horizontally so the cursor stays visible.
fn draw_input(frame: &mut Frame<'_>, view: &ChatView, area: Rect) {
    const PROMPT: &str = "> ";
    let room = usize::from(area.width)
        .saturating_sub(PROMPT.len() + 1)
        .max(1);
    let text = view.shown_input();
    let widths: Vec<usize> = text.chars().map(char_width).collect();
    let cursor = view.input.cursor();
    let (mut skip, mut before) = (0, widths[..cursor].iter().sum::<usize>());
    while before > room {
        before -= widths[skip];
        skip += 1;
    }
    let fits = usize::from(area.width);
    let shown: String = text.chars().skip(skip).take(fits).collect();
    frame.render_widget(Paragraph::new(format!("{PROMPT}{shown}")), area);
    let col = PROMPT.len() + before;
    let x = area
        .x
        .saturating_add(u16::try_from(col).unwrap_or(u16::MAX));
    frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}
