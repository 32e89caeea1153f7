//! The interactive terminal front end: a blocking thread reads keys and pastes (crossterm) into
//! a channel; [`ChatView`] turns them into input lines tagged with the active window's group,
//! routes each [`AppEvent`] to its group's window, and is redrawn after every change.
//!
//! A bracketed paste can yield several lines at once: they wait in a queue and are handed to
//! the runtime one by one, so [`Front::next_input`] stays cancel-safe (nothing is taken from
//! the queue unless it is returned).

use std::collections::VecDeque;

use tokio::sync::mpsc;

use crate::app::command::parse_input;
use crate::app::event::AppEvent;
use crate::app::{Front, FrontInput};
use crate::cli::tui::{ChatView, TerminalGuard, UiAction, draw};

/// Keys read but not yet handled.
const KEY_QUEUE: usize = 64;

/// What the key-reading thread forwards.
#[derive(Debug)]
enum TermInput {
    Key(crossterm::event::KeyEvent),
    Paste(String),
    Redraw,
}

/// The terminal front end. See the module docs.
#[derive(Debug)]
pub(super) struct TerminalFront {
    guard: TerminalGuard,
    view: ChatView,
    keys: mpsc::Receiver<TermInput>,
    /// Actions of a paste not yet handed to the runtime.
    pending: VecDeque<UiAction>,
}

impl TerminalFront {
    /// Takes over the terminal (restored on drop) and starts the key reader.
    pub(super) fn enter() -> anyhow::Result<Self> {
        let guard = TerminalGuard::enter()?;
        let (tx, keys) = mpsc::channel(KEY_QUEUE);
        std::thread::spawn(move || read_keys(&tx));
        Ok(Self {
            guard,
            view: ChatView::new(),
            keys,
            pending: VecDeque::new(),
        })
    }

    fn draw(&mut self) -> std::io::Result<()> {
        let view = &self.view;
        self.guard.terminal().draw(|f| draw(f, view))?;
        Ok(())
    }
}

/// The runtime's input for one view action: a line parsed in its window's group.
fn to_input(action: UiAction) -> FrontInput {
    match action {
        UiAction::Input { group, line } => match parse_input(&line) {
            Ok(input) => FrontInput::Line { group, input },
            Err(e) => FrontInput::Bad {
                group,
                error: e.to_string(),
            },
        },
        UiAction::Password {
            group,
            command,
            password,
        } => FrontInput::Password {
            group,
            command,
            password,
        },
        UiAction::Quit(reason) => FrontInput::Quit(reason),
    }
}

impl Front for TerminalFront {
    async fn next_input(&mut self) -> FrontInput {
        loop {
            if let Some(action) = self.pending.pop_front() {
                return to_input(action);
            }
            match self.keys.recv().await {
                None => return FrontInput::Quit(None),
                Some(TermInput::Key(key)) => self.pending.extend(self.view.handle_key(key)),
                Some(TermInput::Paste(text)) => self.pending.extend(self.view.handle_paste(&text)),
                Some(TermInput::Redraw) => {}
            }
            if let Err(e) = self.draw() {
                tracing::warn!("cannot draw: {e}");
                return FrontInput::Quit(None);
            }
        }
    }

    fn show(&mut self, events: Vec<AppEvent>) -> anyhow::Result<()> {
        for ev in events {
            self.view.apply(ev);
        }
        if let Some(join) = self.view.take_clipboard() {
            self.guard.copy_to_clipboard(&join)?;
        }
        self.draw()?;
        Ok(())
    }
}

/// Blocking key reader (crossterm has no async reader without extra features); stops when
/// the receiver is gone or the terminal fails.
fn read_keys(tx: &mpsc::Sender<TermInput>) {
    use crossterm::event::{Event, KeyEventKind, read};
    loop {
        let msg = match read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => TermInput::Key(k),
            Ok(Event::Paste(text)) => TermInput::Paste(text),
            Ok(Event::Resize(..)) => TermInput::Redraw,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}
