//! Keys and pastes: editing, history, scrolling, switching windows, and submitting a line.
//!
//! [`KEY_BINDINGS`] is the list a person sees (`/help`, `dhtchat chat --help`). A submitted
//! line becomes [`UiAction::Input`] with the active window's group; `/help`, `/win` and `/wc`
//! are handled here; a `/command` that does not parse shows its one-line error and goes
//! nowhere. Plain text is passed through whatever its length: the runtime splits long text
//! into numbered parts.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::lines::sanitise;
use super::window::{Activity, Membership};
use super::{ChatView, MAX_INPUT_BYTES};
use crate::app::command::{
    ChatCommand, Input, Password, help_for, help_lines, parse_input, password_prompt,
};
use crate::app::event::GroupId;

/// Every key binding of the terminal chat, one per line, for `/help` and `--help`.
pub const KEY_BINDINGS: &str = "\
Keys in the terminal chat:
  Enter                  send the line: a message, or a /command
  Alt-1 .. Alt-9, Alt-0  show window 1 .. 9, 10 (1 is the status window, groups get 2, 3, ..)
  Alt-Left, Alt-Right    show the previous, next window (also Ctrl-P, Ctrl-N)
  PgUp, PgDn             scroll the window a page back, forward
  Shift-Up, Shift-Down   scroll the window a message back, forward
  End                    cursor to the end of the line, and back to the newest messages
  Up, Down               recall earlier input lines
  Left, Right, Home      move the cursor (also Ctrl-A, Ctrl-E: start, end of the line)
  Backspace, Delete      delete the character before, under the cursor
  Ctrl-U, Ctrl-W         delete the whole line, the word before the cursor
  Tab                    complete a member's nick (`nick: ` at the start of the line)
  Ctrl-B                 show or hide the member list
  Esc                    cancel a password prompt (nothing is sent)
  Ctrl-C                 leave every group and exit, like /quit
  paste                  each pasted line is sent as if typed and Enter pressed; text after
                         the last line break stays in the input line; long text is sent in
                         numbered parts
Windows: /win N (or /window N) shows window N, /win lists them; /wc (or /close [reason])
leaves the window's group and closes its window. The status line shows the window's number
and [Act: 3,4!]: windows with new messages, `!` where your nick was mentioned.";

/// The window commands handled by the view, as `/help` lists them.
const WINDOW_HELP: &[&str] = &[
    "/win [N|next|prev|list] — show window N (alias /window); no argument lists the windows",
    "/wc — leave this window's group and close the window (in a window whose group is gone: close it)",
    "/close [reason] — like /wc, with a part reason (in the status window: /part)",
];

/// What the runtime must do after a key or a paste.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAction {
    /// Run this input line (a message, or a `/command` that parses) for the group of the
    /// window it was typed in (`None`: the status window). Never blank, never `/help`,
    /// `/quit` or `/win`; `/wc` and `/close [reason]` in a live group's window arrive as
    /// `/part [reason]` (the window closes when the runtime sends `Closed`). Text is passed
    /// whole, whatever its length: the runtime splits long text into numbered parts
    /// (`app::text::split_text`).
    Input {
        /// The active window's group when the line was submitted.
        group: Option<GroupId>,
        /// The line as typed.
        line: String,
    },
    /// A command that needs a password (`/register`, `/login`, `/passwd`) and the line
    /// typed at its masked prompt (never put in the history or the scrollback).
    Password {
        /// The active window's group when the command was typed.
        group: Option<GroupId>,
        /// The command.
        command: ChatCommand,
        /// The password.
        password: Password,
    },
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
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Char('c') if ctrl => return Some(UiAction::Quit(None)),
            KeyCode::Enter => return self.submit(),
            KeyCode::Esc => self.cancel_prompt(),
            KeyCode::Char(c) if ctrl => self.control(c),
            KeyCode::Char(c) if alt => self.alt(c),
            KeyCode::Left if alt => self.cycle(false),
            KeyCode::Right if alt => self.cycle(true),
            KeyCode::Char(c) => self.input.insert(c),
            KeyCode::Up if shift => self.scroll_up(1),
            KeyCode::Down if shift => self.scroll_down(1),
            _ => self.edit_or_scroll(key.code),
        }
        None
    }

    /// Handles a bracketed paste as one event: each line (`\n`, `\r\n` or `\r` ends one) is
    /// inserted and submitted as if typed and Enter pressed; what follows the last line
    /// break stays in the input line. Stops after a `/quit`.
    pub fn handle_paste(&mut self, text: &str) -> Vec<UiAction> {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut pieces = text.split('\n').peekable();
        let mut actions = Vec::new();
        while let Some(piece) = pieces.next() {
            if !self.input.insert_str(piece) {
                let cut =
                    format!("paste cut: the input line holds at most {MAX_INPUT_BYTES} bytes");
                self.push_error(&cut);
            }
            if pieces.peek().is_none() {
                break;
            }
            match self.submit() {
                Some(quit @ UiAction::Quit(_)) => {
                    actions.push(quit);
                    break;
                }
                Some(action) => actions.push(action),
                None => {}
            }
        }
        actions
    }

    fn edit_or_scroll(&mut self, code: KeyCode) {
        let page = self.page.get().saturating_sub(1).max(1);
        match code {
            KeyCode::Up | KeyCode::Down if self.masked() => {}
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
            'n' => self.cycle(true),
            'p' => self.cycle(false),
            _ => {}
        }
    }

    /// Alt-1 … Alt-9 show windows 1 … 9, Alt-0 window 10; other Alt keys do nothing.
    fn alt(&mut self, c: char) {
        if let Some(d) = c.to_digit(10) {
            let n = if d == 0 { 10 } else { d as usize };
            self.switch_to(n);
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
            .win()
            .members
            .iter()
            .find(|m| !m.is_self && m.peer.nick.to_lowercase().starts_with(&prefix));
        if let Some(m) = found {
            let suffix = if start == 0 { ": " } else { " " };
            let text = format!("{}{suffix}", sanitise(&m.peer.nick));
            self.input.replace_before_cursor(start, &text);
        }
    }

    /// Esc: drops a waiting password prompt and what was typed at it; nothing is sent.
    fn cancel_prompt(&mut self) {
        if self.prompt.take().is_some() {
            drop(self.input.take_secret());
            self.push_info("cancelled: nothing was sent");
        }
    }

    fn submit(&mut self) -> Option<UiAction> {
        if let Some((group, command)) = self.prompt.take() {
            let password = Password::new(self.input.take_secret());
            return Some(UiAction::Password {
                group,
                command,
                password,
            });
        }
        let line = self.input.submit();
        if line.trim().is_empty() {
            return None;
        }
        if let Some(action) = self.window_command(&line) {
            return action;
        }
        let is_command = line.starts_with('/') && !line.starts_with("//");
        if is_command {
            match parse_input(&line) {
                Err(e) => {
                    self.push_error(&e.to_string());
                    return None;
                }
                Ok(Input::Command(ChatCommand::Help(topic))) => {
                    self.help(topic.as_deref());
                    return None;
                }
                Ok(Input::Command(ChatCommand::Quit(reason))) => {
                    return Some(UiAction::Quit(reason));
                }
                Ok(Input::Command(ChatCommand::Join(_) | ChatCommand::Create { .. })) => {
                    self.awaiting_open = true;
                }
                Ok(Input::Command(c)) if password_prompt(&c).is_some() => {
                    let prompt = password_prompt(&c).unwrap_or_default();
                    self.push_info(&prompt);
                    self.prompt = Some((self.active_group(), c));
                    return None;
                }
                Ok(_) => {}
            }
        }
        self.to_live();
        let group = self.active_group();
        Some(UiAction::Input { group, line })
    }

    /// `/win`, `/window`, `/wc` and `/close` (outside the status window): `Some` when the
    /// line was one of them, with the action it needs.
    fn window_command(&mut self, line: &str) -> Option<Option<UiAction>> {
        let (cmd, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args = args.trim();
        match cmd.to_lowercase().as_str() {
            "/win" | "/window" => Some(self.win_command(args)),
            "/wc" if args.is_empty() => Some(self.close_window("")),
            "/wc" => {
                self.push_error("usage: /wc (then /close [reason] to give a reason)");
                Some(None)
            }
            "/close" if self.active > 0 => Some(self.close_window(args)),
            _ => None,
        }
    }

    fn win_command(&mut self, args: &str) -> Option<UiAction> {
        match args.to_lowercase().as_str() {
            "" | "list" => self.list_windows(),
            "next" | "n" => self.cycle(true),
            "prev" | "p" => self.cycle(false),
            "close" => return self.close_window(""),
            n => match n.parse::<usize>() {
                Ok(n) if self.switch_to(n) => {}
                Ok(n) => {
                    let open = self.window_count();
                    self.push_error(&format!("no window {n}: windows 1 to {open} are open"));
                }
                Err(_) => self.push_error("usage: /win [N|next|prev|list|close]"),
            },
        }
        None
    }

    fn list_windows(&mut self) {
        for (n, label, activity) in self.window_list() {
            let mark = match activity {
                Activity::None => "",
                Activity::Messages => " (new messages)",
                Activity::Highlight => " (you were mentioned)",
            };
            let here = if n == self.active_window() {
                " (shown)"
            } else {
                ""
            };
            self.push_info(&format!("window {n}: {label}{mark}{here}"));
        }
    }

    /// `/wc`, `/close [reason]`: a window whose group is gone closes at once; a live group
    /// is parted first and its window closes when the runtime reports it gone.
    fn close_window(&mut self, reason: &str) -> Option<UiAction> {
        if self.active == 0 {
            self.push_error("the status window stays open (/quit exits)");
            return None;
        }
        if matches!(
            self.win().membership,
            Membership::Gone(_) | Membership::None
        ) {
            self.remove_window(self.active);
            return None;
        }
        let line = match reason.is_empty() {
            true => "/part".to_owned(),
            false => format!("/part {reason}"),
        };
        if let Err(e) = parse_input(&line) {
            self.push_error(&e.to_string());
            return None;
        }
        self.win_mut().close_when_gone = true;
        let group = self.active_group();
        Some(UiAction::Input { group, line })
    }

    fn help(&mut self, topic: Option<&str>) {
        let Some(t) = topic else {
            let keys = KEY_BINDINGS.lines().filter(|l| !l.trim().is_empty());
            let all: Vec<&str> = help_lines()
                .iter()
                .chain(WINDOW_HELP)
                .copied()
                .chain(keys)
                .collect();
            all.iter().for_each(|l| self.push_info(l));
            return;
        };
        let name = t.trim_start_matches('/').to_lowercase();
        let local = match name.as_str() {
            "win" | "window" => Some(WINDOW_HELP[0]),
            "wc" => Some(WINDOW_HELP[1]),
            "close" => Some(WINDOW_HELP[2]),
            _ => help_for(t),
        };
        match local {
            Some(line) => self.push_info(line),
            None => self.push_error(&format!("no command /{name} — /help lists commands")),
        }
    }
}
