//! Key handling: editing, history, scrolling, and submitting a parsed line.
//!
//! | key | effect |
//! |---|---|
//! | Enter | parse the line: a message or command becomes [`UiAction::Submit`]; `/quit` and Ctrl-C give [`UiAction::Quit`]; `/help` is printed locally; a bad line shows an error |
//! | Left/Right, Home/End, Ctrl-A/Ctrl-E | move the cursor (End also jumps back to live) |
//! | Backspace/Delete, Ctrl-U, Ctrl-W | delete a character, the line, the previous word |
//! | Up/Down | input history |
//! | PgUp/PgDn, Shift-Up/Shift-Down | scroll back a page or a line, and forward |
//! | Tab | complete the nick before the cursor (`nick: ` at the start of the line) |
//! | Ctrl-B | show or hide the member sidebar |

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::ChatView;
use super::lines::sanitise;
use crate::app::command::{ChatCommand, Input, help_for, help_lines, parse_input};

/// What the runtime must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAction {
    /// Send this message or run this command (already parsed; never `Help`, `Quit` or
    /// `Empty`).
    Submit(Input),
    /// Leave and exit, with an optional reason (`/quit [reason]`, Ctrl-C).
    Quit(Option<String>),
}

impl ChatView {
    /// Handles one key; returns what the runtime must do, if anything.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<UiAction> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Char('c') if ctrl => return Some(UiAction::Quit(None)),
            KeyCode::Enter => return self.submit(),
            KeyCode::Char(c) if ctrl => self.control(c),
            KeyCode::Char(_) if key.modifiers.contains(KeyModifiers::ALT) => {}
            KeyCode::Char(c) => self.input.insert(c),
            KeyCode::Up if shift => self.scroll_up(1),
            KeyCode::Down if shift => self.scroll_down(1),
            _ => self.edit_or_scroll(key.code),
        }
        None
    }

    fn edit_or_scroll(&mut self, code: KeyCode) {
        let page = self.page.get().saturating_sub(1).max(1);
        match code {
            KeyCode::Up => self.input.history_prev(),
            KeyCode::Down => self.input.history_next(),
            KeyCode::PageUp => self.scroll_up(page),
            KeyCode::PageDown => self.scroll_down(page),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => {
                self.input.end();
                self.to_live();
            }
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Tab => self.complete_nick(),
            _ => {}
        }
    }

    fn control(&mut self, c: char) {
        match c {
            'a' => self.input.home(),
            'e' => self.input.end(),
            'u' => self.input.clear(),
            'w' => self.input.delete_word(),
            'b' => self.show_sidebar = !self.show_sidebar,
            _ => {}
        }
    }

    /// Completes the word before the cursor to the first member nick it starts (our own nick
    /// excluded, case-insensitive, in sidebar order).
    fn complete_nick(&mut self) {
        let (start, word) = self.input.word_before_cursor();
        if word.is_empty() {
            return;
        }
        let prefix = word.to_lowercase();
        let found = self
            .members
            .iter()
            .find(|m| !m.is_self && m.peer.nick.to_lowercase().starts_with(&prefix));
        if let Some(m) = found {
            let suffix = if start == 0 { ": " } else { " " };
            let text = format!("{}{suffix}", sanitise(&m.peer.nick));
            self.input.replace_before_cursor(start, &text);
        }
    }

    fn submit(&mut self) -> Option<UiAction> {
        let line = self.input.submit();
        match parse_input(&line) {
            Err(e) => self.push_error(&e.to_string()),
            Ok(Input::Empty) => {}
            Ok(Input::Command(ChatCommand::Help(topic))) => self.help(topic.as_deref()),
            Ok(Input::Command(ChatCommand::Quit(reason))) => return Some(UiAction::Quit(reason)),
            Ok(input) => {
                self.to_live();
                return Some(UiAction::Submit(input));
            }
        }
        None
    }

    fn help(&mut self, topic: Option<&str>) {
        match topic {
            None => help_lines().iter().for_each(|l| self.push_info(l)),
            Some(t) => match help_for(t) {
                Some(line) => self.push_info(line),
                None => self.push_error(&format!(
                    "no command /{} — /help lists commands",
                    t.trim_start_matches('/')
                )),
            },
        }
    }
}
