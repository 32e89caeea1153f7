//! Entering and leaving the real terminal: raw mode and the alternate screen, restored when
//! the guard drops and on panic (ratatui's `try_init` installs a panic hook that restores
//! the terminal before the panic message prints).

use std::io;

use ratatui::DefaultTerminal;

/// Owns the terminal while the chat UI runs; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// Enables raw mode and the alternate screen.
    pub fn enter() -> io::Result<Self> {
        Ok(Self {
            terminal: ratatui::try_init()?,
        })
    }

    /// The terminal to draw on: `guard.terminal().draw(|f| draw(f, &view))`.
    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails while dropping.
        let _ = ratatui::try_restore();
    }
}
