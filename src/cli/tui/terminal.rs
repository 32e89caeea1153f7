//! Entering and leaving the real terminal: raw mode, the alternate screen and bracketed paste,
//! restored when the guard drops and on panic (ratatui's `try_init` installs a panic hook that
//! restores raw mode and the screen; ours, chained before it, turns bracketed paste off), and
//! the OSC 52 clipboard escape.
//!
//! Bracketed paste makes the terminal wrap a paste in markers, so crossterm hands it over as
//! one `Event::Paste(String)` for [`super::ChatView::handle_paste`] instead of thousands of
//! key events.

use std::io::{self, Write};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use ratatui::DefaultTerminal;

/// Owns the terminal while the chat UI runs; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    terminal: DefaultTerminal,
    /// Whether OSC 52 is worth sending (not on the Linux console or a dumb terminal).
    clipboard: bool,
}

impl TerminalGuard {
    /// Enables raw mode, the alternate screen and bracketed paste.
    pub fn enter() -> io::Result<Self> {
        let terminal = ratatui::try_init()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(io::stdout(), DisableBracketedPaste);
            previous(info);
        }));
        execute!(io::stdout(), EnableBracketedPaste)?;
        let term = std::env::var("TERM").unwrap_or_default();
        Ok(Self {
            terminal,
            clipboard: !matches!(term.as_str(), "" | "dumb" | "linux"),
        })
    }

    /// The terminal to draw on: `guard.terminal().draw(|f| draw(f, &view))`.
    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }

    /// Asks the terminal to put `text` on the system clipboard (OSC 52). Terminals without
    /// OSC 52 ignore the sequence; it is not sent where `TERM` says it could show as text.
    pub fn copy_to_clipboard(&mut self, text: &str) -> io::Result<()> {
        if !self.clipboard {
            return Ok(());
        }
        let backend = self.terminal.backend_mut();
        backend.write_all(crate::cli::clipboard::osc52(text).as_bytes())?;
        backend.flush()
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails while dropping.
        let _ = execute!(io::stdout(), DisableBracketedPaste);
        let _ = ratatui::try_restore();
    }
}
