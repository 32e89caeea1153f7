//! `--plain`: stdin lines are messages or /commands, sent to the group opened last
//! ([`Focus`]); events go to stdout, one line each ([`format_plain`]). End of input quits
//! like `/quit`.
//!
//! `/register NAME`, `/login NAME` and `/passwd` print one `INFO` prompt; the **next** line is
//! the password: it is not parsed, never printed, and goes to the runtime in a
//! [`Password`].
//!
//! Stdin is read as bytes on a thread of its own: a line that is not UTF-8, or longer than
//! [`MAX_INPUT_BYTES`], becomes one `ERROR` line and reading carries on.

use std::io::{BufRead, Read, Write};

use tokio::sync::mpsc;

use crate::app::command::{
    ChatCommand, Input, MAX_INPUT_BYTES, Password, parse_input, password_prompt,
};
use crate::app::event::{AppEvent, ChatEvent, LocalTime};
use crate::app::plain::format_plain;
use crate::app::{Focus, Front, FrontInput};

/// Lines read but not yet taken by the runtime.
const LINE_QUEUE: usize = 16;

/// One stdin line: its text, or why it cannot be used.
type Line = Result<String, String>;

/// The `--plain` front end. See the module docs.
#[derive(Debug)]
pub(super) struct PlainFront {
    lines: mpsc::Receiver<Line>,
    focus: Focus,
    /// A command whose password is the next line.
    awaiting: Option<ChatCommand>,
}

impl PlainFront {
    /// Starts the stdin reader thread.
    pub(super) fn start() -> Self {
        let (tx, lines) = mpsc::channel(LINE_QUEUE);
        std::thread::spawn(move || read_lines(&mut std::io::stdin().lock(), &tx));
        Self {
            lines,
            focus: Focus::default(),
            awaiting: None,
        }
    }
}

impl Front for PlainFront {
    async fn next_input(&mut self) -> FrontInput {
        loop {
            let group = self.focus.current();
            let line = match self.lines.recv().await {
                None => return FrontInput::Quit(None),
                Some(Err(error)) => return FrontInput::Bad { group, error },
                Some(Ok(line)) => line,
            };
            if let Some(command) = self.awaiting.take() {
                let password = Password::new(line);
                return FrontInput::Password {
                    group,
                    command,
                    password,
                };
            }
            match parse_input(&line) {
                Ok(Input::Command(c)) if password_prompt(&c).is_some() => self.prompt(c),
                Ok(input) => return FrontInput::Line { group, input },
                Err(e) => {
                    let error = e.to_string();
                    return FrontInput::Bad { group, error };
                }
            }
        }
    }

    fn show(&mut self, events: Vec<AppEvent>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for ev in &events {
            self.focus.follow(ev);
            if let Some(line) = format_plain(&ev.event) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

impl PlainFront {
    /// Prints the password prompt of `command`; the next line is its password.
    fn prompt(&mut self, command: ChatCommand) {
        let text = password_prompt(&command).unwrap_or_default();
        let at = LocalTime::default();
        if let Some(line) = format_plain(&ChatEvent::Info { at, text }) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
        self.awaiting = Some(command);
    }
}

/// Reads `input` line by line until it ends, fails or the receiver is gone.
fn read_lines(input: &mut impl BufRead, tx: &mpsc::Sender<Line>) {
    for number in 1.. {
        let line = match read_line(input, number) {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("cannot read stdin: {e}")));
                return;
            }
        };
        if tx.blocking_send(line).is_err() {
            return;
        }
    }
}

/// One line of `input` (`None` at the end): at most [`MAX_INPUT_BYTES`], UTF-8, without its
/// line ending. A longer line is skipped to its end.
fn read_line(input: &mut impl BufRead, number: u64) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    if input.by_ref().take(limit).read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_INPUT_BYTES {
        skip_line(input)?;
        let error = format!("input line {number} not sent: longer than {MAX_INPUT_BYTES} bytes");
        return Ok(Some(Err(error)));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8(buf).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        format!("input line {number} not sent: it is not UTF-8 (bad byte at offset {at})")
    })))
}

/// Reads and drops the rest of a line.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                input.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Line> {
        let mut input = std::io::Cursor::new(bytes.to_vec());
        let mut out = Vec::new();
        while let Some(line) = read_line(&mut input, out.len() as u64 + 1).unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn bad_utf8_and_overlong_lines_are_errors_and_reading_goes_on() {
        let mut bytes = b"hello\r\n\xff\xfe oops\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_INPUT_BYTES + 10));
        bytes.extend(b"\n\nlast");
        let got = lines(&bytes);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], Ok("hello".into()));
        let e = got[1].clone().unwrap_err();
        assert!(e.contains("line 2") && e.contains("not UTF-8"), "{e}");
        let e = got[2].clone().unwrap_err();
        assert!(e.contains("longer than 65536 bytes"), "{e}");
        assert_eq!(got[3], Ok(String::new()));
        assert_eq!(got[4], Ok("last".into()));
    }
}
