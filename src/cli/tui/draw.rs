//! Rendering a [`ChatView`] into a ratatui frame.
//!
//! ```text
//!  tea room · 3 members · topic text                                  (topic bar)
//! 12:00 <alice> hello                                    │3 members
//! 12:01 -!- bob [bbbbbbbb] has joined                    │~alice
//!       continuation rows of a long line are indented    │@carol
//!                                                        │ bob (away)
//!  [alice] [online] [founder]                                         (status line)
//! > typed text_                                                       (input line)
//! ```
//!
//! Only the lines that fit are wrapped, newest at the bottom; when scrolled back the last row
//! says `-- more --`. The sidebar is hidden below [`SIDEBAR_MIN_TERMINAL_WIDTH`] columns.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::ChatView;
use super::lines::{nick_colour, sanitise};
use crate::app::event::{MemberView, Presence, Role};

/// Columns of the member sidebar, its border included.
pub const SIDEBAR_WIDTH: u16 = 20;
/// Narrower terminals hide the sidebar.
pub const SIDEBAR_MIN_TERMINAL_WIDTH: u16 = 60;
/// Indent of a wrapped line's continuation rows (the width of `HH:MM `).
const WRAP_INDENT: usize = 6;

/// Draws the whole chat screen.
pub fn draw(frame: &mut Frame<'_>, view: &ChatView) {
    let [top, body, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(topic_bar(view), top);
    let show = view.show_sidebar && frame.area().width >= SIDEBAR_MIN_TERMINAL_WIDTH;
    let messages = match show {
        true => {
            let [msgs, side] =
                Layout::horizontal([Constraint::Min(1), Constraint::Length(SIDEBAR_WIDTH)])
                    .areas(body);
            draw_sidebar(frame, view, side);
            msgs
        }
        false => body,
    };
    view.page.set(usize::from(messages.height));
    frame.render_widget(Paragraph::new(message_rows(view, messages)), messages);
    frame.render_widget(status_line(view), status);
    draw_input(frame, view, input);
}

fn topic_bar(view: &ChatView) -> Paragraph<'static> {
    let n = view.members.len();
    let mut text = format!(" {} · {n} member{}", sanitise(&view.group), plural(n));
    if !view.topic.is_empty() {
        text.push_str(&format!(" · {}", sanitise(&view.topic)));
    }
    Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn status_line(view: &ChatView) -> Paragraph<'static> {
    let (nick, presence, role) = view.self_summary();
    let mut text = format!(
        " [{}] [{}] [{}]",
        sanitise(&nick),
        presence.as_str(),
        role.as_str()
    );
    if view.scroll > 0 {
        text.push_str(&format!(
            " [scrolled back {}, {} new]",
            view.scroll, view.unseen
        ));
    }
    Paragraph::new(text).style(Style::new().fg(Color::White).bg(Color::Blue))
}

fn draw_sidebar(frame: &mut Frame<'_>, view: &ChatView, area: Rect) {
    let block = Block::new().borders(Borders::LEFT);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = view.members.len();
    let header = Line::styled(
        format!("{n} member{}", plural(n)),
        Style::new().add_modifier(Modifier::BOLD),
    );
    let room = usize::from(inner.height).saturating_sub(1);
    let shown = match n > room {
        true => room.saturating_sub(1),
        false => n,
    };
    let mut rows: Vec<Line<'static>> = std::iter::once(header)
        .chain(view.members.iter().take(shown).map(member_row))
        .collect();
    if shown < n {
        let more = format!("… {} more", n - shown);
        rows.push(Line::styled(more, Style::new().add_modifier(Modifier::DIM)));
    }
    frame.render_widget(Paragraph::new(rows), inner);
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

/// The rows of the message pane: the newest lines that fit, wrapped, oldest first.
fn message_rows(view: &ChatView, area: Rect) -> Vec<Line<'static>> {
    let height = usize::from(area.height);
    let width = usize::from(area.width).max(WRAP_INDENT + 1);
    let room = match view.scroll > 0 {
        true => height.saturating_sub(1),
        false => height,
    };
    let mut rows: Vec<Line<'static>> = Vec::new();
    let visible = view.lines.iter().rev().skip(view.scroll);
    for line in visible {
        if rows.len() >= room {
            break;
        }
        let mut wrapped = wrap(line, width);
        wrapped.reverse();
        rows.extend(wrapped);
    }
    rows.truncate(room);
    rows.reverse();
    if view.scroll > 0 {
        rows.push(Line::styled(
            "-- more --",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    rows
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
    let widths: Vec<usize> = view.input.text().chars().map(char_width).collect();
    let cursor = view.input.cursor();
    let (mut skip, mut before) = (0, widths[..cursor].iter().sum::<usize>());
    while before > room {
        before -= widths[skip];
        skip += 1;
    }
    let shown: String = view.input.text().chars().skip(skip).collect();
    frame.render_widget(Paragraph::new(format!("{PROMPT}{shown}")), area);
    let col = PROMPT.len() + before;
    let x = area
        .x
        .saturating_add(u16::try_from(col).unwrap_or(u16::MAX));
    frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}
