//! The interactive terminal front end: a blocking thread reads keys (crossterm) into a
//! channel; [`ChatView`] turns keys into input and events into lines, and is redrawn after
//! every change.
//!
//! Until the view has windows of its own, input goes to the group opened last ([`Focus`]),
//! and only that group's member list reaches the sidebar.

use tokio::sync::mpsc;

use crate::app::event::{AppEvent, ChatEvent};
use crate::app::{Focus, Front, FrontInput};
use crate::cli::tui::{ChatView, TerminalGuard, UiAction, draw};

/// Keys read but not yet handled.
const KEY_QUEUE: usize = 64;

/// What the key-reading thread forwards.
#[derive(Debug)]
enum TermInput {
    Key(crossterm::event::KeyEvent),
    Redraw,
}

/// The terminal front end. See the module docs.
#[derive(Debug)]
pub(super) struct TerminalFront {
    guard: TerminalGuard,
    view: ChatView,
    keys: mpsc::Receiver<TermInput>,
    focus: Focus,
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
            focus: Focus::default(),
        })
    }

    fn draw(&mut self) -> std::io::Result<()> {
        let view = &self.view;
        self.guard.terminal().draw(|f| draw(f, view))?;
        Ok(())
    }
}

impl Front for TerminalFront {
    async fn next_input(&mut self) -> FrontInput {
        loop {
            let action = match self.keys.recv().await {
                None => return FrontInput::Quit(None),
                Some(TermInput::Key(key)) => self.view.handle_key(key),
                Some(TermInput::Redraw) => None,
            };
            match action {
                Some(UiAction::Submit(input)) => {
                    let group = self.focus.current();
                    return FrontInput::Line { group, input };
                }
                Some(UiAction::Quit(reason)) => return FrontInput::Quit(reason),
                None => {}
            }
            if let Err(e) = self.draw() {
                tracing::warn!("cannot draw: {e}");
                return FrontInput::Quit(None);
            }
        }
    }

    fn show(&mut self, events: Vec<AppEvent>) -> anyhow::Result<()> {
        for ev in events {
            self.focus.follow(&ev);
            let other_group = ev.group.is_some() && ev.group != self.focus.current();
            if other_group && matches!(ev.event, ChatEvent::Members(_)) {
                continue;
            }
            self.view.apply(ev.event);
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
            Ok(Event::Resize(..)) => TermInput::Redraw,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}
