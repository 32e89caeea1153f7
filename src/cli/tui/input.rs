//! The input line: a cursor-editable buffer with a bounded history.
//!
//! The cursor is a character index (not a byte index) so editing never splits a UTF-8 code
//! point. The buffer is capped at [`MAX_INPUT_BYTES`], far above one message: a long paste
//! is kept whole and the runtime splits the text into numbered parts when it is sent
//! (`app::text::split_text`); commands keep their own limits (`app::command`). Further
//! typing past the cap is ignored.

use std::collections::VecDeque;

/// How many submitted lines Up/Down can recall.
pub const HISTORY_LEN: usize = 100;
/// The longest input line, in bytes (32 KiB: a 5,000-character paste of 4-byte characters
/// fits, and so do its ~30 parts of one message each).
pub const MAX_INPUT_BYTES: usize = 32 * 1024;

/// The editable input line and its history.
#[derive(Debug, Clone, Default)]
pub struct InputLine {
    buf: String,
    /// Cursor position in characters, `0..=buf.chars().count()`.
    cursor: usize,
    history: VecDeque<String>,
    /// The history entry shown, `None` while editing a fresh line.
    recall: Option<usize>,
    /// The fresh line put aside while browsing history.
    draft: String,
}

impl InputLine {
    /// The current text.
    pub fn text(&self) -> &str {
        &self.buf
    }

    /// The cursor position in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The number of history entries.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.buf
            .char_indices()
            .nth(chars)
            .map_or(self.buf.len(), |(i, _)| i)
    }

    fn char_len(&self) -> usize {
        self.buf.chars().count()
    }

    /// Inserts a character at the cursor; ignored once the line is full or for control
    /// characters.
    pub fn insert(&mut self, c: char) {
        if c.is_control() || self.buf.len() + c.len_utf8() > MAX_INPUT_BYTES {
            return;
        }
        let at = self.byte_at(self.cursor);
        self.buf.insert(at, c);
        self.cursor += 1;
    }

    /// Inserts `text` at the cursor in one step (a paste): tabs become spaces, other control
    /// characters are dropped. Returns `false` when the line was full and the end of `text`
    /// was cut (at a character boundary).
    pub fn insert_str(&mut self, text: &str) -> bool {
        let room = MAX_INPUT_BYTES - self.buf.len();
        let mut piece = String::with_capacity(text.len().min(room));
        let mut whole = true;
        for c in text.chars() {
            let c = if c == '\t' { ' ' } else { c };
            if c.is_control() {
                continue;
            }
            if piece.len() + c.len_utf8() > room {
                whole = false;
                break;
            }
            piece.push(c);
        }
        let at = self.byte_at(self.cursor);
        self.buf.insert_str(at, &piece);
        self.cursor += piece.chars().count();
        whole
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.buf.remove(at);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.char_len() {
            let at = self.byte_at(self.cursor);
            self.buf.remove(at);
        }
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.char_len());
    }

    /// Moves the cursor to the start.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub fn end(&mut self) {
        self.cursor = self.char_len();
    }

    /// Clears the line (Ctrl-U).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.cursor = 0;
    }

    /// Deletes the word before the cursor and the spaces after it (Ctrl-W).
    pub fn delete_word(&mut self) {
        let before: Vec<char> = self.buf.chars().take(self.cursor).collect();
        let spaces = before
            .iter()
            .rev()
            .take_while(|c| c.is_whitespace())
            .count();
        let word = before[..before.len() - spaces]
            .iter()
            .rev()
            .take_while(|c| !c.is_whitespace())
            .count();
        let start = self.byte_at(self.cursor - spaces - word);
        let end = self.byte_at(self.cursor);
        self.buf.replace_range(start..end, "");
        self.cursor -= spaces + word;
    }

    /// The word that ends at the cursor, and where it starts (in characters).
    pub fn word_before_cursor(&self) -> (usize, String) {
        let before: Vec<char> = self.buf.chars().take(self.cursor).collect();
        let len = before
            .iter()
            .rev()
            .take_while(|c| !c.is_whitespace())
            .count();
        let start = self.cursor - len;
        (start, before[start..].iter().collect())
    }

    /// Replaces the characters from `start` to the cursor with `text` and puts the cursor
    /// after it; ignored if the line would get too long.
    pub fn replace_before_cursor(&mut self, start: usize, text: &str) {
        let (from, to) = (
            self.byte_at(start.min(self.cursor)),
            self.byte_at(self.cursor),
        );
        if self.buf.len() - (to - from) + text.len() > MAX_INPUT_BYTES {
            return;
        }
        self.buf.replace_range(from..to, text);
        self.cursor = start.min(self.cursor) + text.chars().count();
    }

    /// Takes the line for submission, recording it in the history (blank lines and repeats of
    /// the newest entry are not recorded).
    pub fn submit(&mut self) -> String {
        let line = std::mem::take(&mut self.buf);
        self.cursor = 0;
        self.recall = None;
        self.draft.clear();
        let repeat = self.history.back() == Some(&line);
        if !line.trim().is_empty() && !repeat {
            if self.history.len() == HISTORY_LEN {
                self.history.pop_front();
            }
            self.history.push_back(line.clone());
        }
        line
    }

    /// Takes the line without recording it in the history (a password).
    pub fn take_secret(&mut self) -> String {
        self.cursor = 0;
        self.recall = None;
        std::mem::take(&mut self.buf)
    }

    /// Shows the previous history entry (Up).
    pub fn history_prev(&mut self) {
        let pos = match self.recall {
            None if self.history.is_empty() => return,
            None => {
                self.draft = std::mem::take(&mut self.buf);
                self.history.len() - 1
            }
            Some(p) => p.saturating_sub(1),
        };
        self.show(Some(pos));
    }

    /// Shows the next history entry, or the draft after the newest (Down).
    pub fn history_next(&mut self) {
        match self.recall {
            None => {}
            Some(p) if p + 1 < self.history.len() => self.show(Some(p + 1)),
            Some(_) => self.show(None),
        }
    }

    fn show(&mut self, pos: Option<usize>) {
        self.recall = pos;
        self.buf = match pos.and_then(|p| self.history.get(p)) {
            Some(entry) => entry.clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> InputLine {
        let mut i = InputLine::default();
        s.chars().for_each(|c| i.insert(c));
        i
    }

    #[test]
    fn editing_respects_utf8_and_cursor() {
        let mut i = typed("héllo 🦀");
        assert_eq!((i.text(), i.cursor()), ("héllo 🦀", 7));
        i.left();
        i.backspace();
        assert_eq!(i.text(), "héllo🦀");
        i.home();
        i.delete();
        i.right();
        i.insert('X');
        assert_eq!((i.text(), i.cursor()), ("éXllo🦀", 2));
        i.end();
        i.right();
        assert_eq!(i.cursor(), 6);
        i.clear();
        assert_eq!((i.text(), i.cursor()), ("", 0));
        i.backspace();
        i.delete();
        i.left();
        assert_eq!(i.cursor(), 0);
    }

    #[test]
    fn ctrl_w_deletes_the_previous_word() {
        let mut i = typed("say hello  world  ");
        i.delete_word();
        assert_eq!(i.text(), "say hello  ");
        i.delete_word();
        assert_eq!(i.text(), "say ");
        i.delete_word();
        i.delete_word();
        assert_eq!((i.text(), i.cursor()), ("", 0));
    }

    #[test]
    fn history_recalls_and_restores_the_draft() {
        let mut i = InputLine::default();
        for line in ["one", "two", "two", " ", "three"] {
            line.chars().for_each(|c| i.insert(c));
            i.submit();
        }
        assert_eq!(i.history_len(), 3, "repeats and blanks not recorded");
        "dra".chars().for_each(|c| i.insert(c));
        i.history_prev();
        assert_eq!(i.text(), "three");
        i.history_prev();
        i.history_prev();
        i.history_prev();
        assert_eq!(i.text(), "one");
        i.history_next();
        assert_eq!(i.text(), "two");
        i.history_next();
        i.history_next();
        assert_eq!((i.text(), i.cursor()), ("dra", 3));
        i.history_next();
        assert_eq!(i.text(), "dra");
    }

    #[test]
    fn history_and_line_are_bounded() {
        let mut i = InputLine::default();
        for n in 0..HISTORY_LEN + 50 {
            n.to_string().chars().for_each(|c| i.insert(c));
            i.submit();
        }
        assert_eq!(i.history_len(), HISTORY_LEN);
        i.history_prev();
        assert_eq!(i.text(), (HISTORY_LEN + 49).to_string());
        let mut long = InputLine::default();
        (0..MAX_INPUT_BYTES + 10).for_each(|_| long.insert('x'));
        assert_eq!(long.text().len(), MAX_INPUT_BYTES);
        long.insert('\u{1b}');
        assert_eq!(long.text().len(), MAX_INPUT_BYTES);
    }

    #[test]
    fn insert_str_pastes_at_the_cursor_and_stops_at_the_cap() {
        let mut i = typed("ab");
        i.left();
        assert!(i.insert_str("x\ty\u{1b}z"));
        assert_eq!((i.text(), i.cursor()), ("ax yzb", 5));
        let mut full = InputLine::default();
        assert!(!full.insert_str(&"é".repeat(MAX_INPUT_BYTES)));
        assert_eq!(full.text().len(), MAX_INPUT_BYTES);
        assert_eq!(full.cursor(), MAX_INPUT_BYTES / 2);
    }
}
