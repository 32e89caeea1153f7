//! Text rules shared by every front end: the one nick rule, making untrusted text safe to
//! display, and splitting long input into parts that fit a message.
//!
//! - [`check_nick`]: the nick rule (length in bytes, no control or bidi characters, not blank),
//!   applied to `--nick`, the config file and `/nick` alike; its error states the rule.
//! - [`neutralize`]: what a peer sends is shown as text, never as terminal control: control
//!   characters and Unicode bidirectional overrides/isolates become visible placeholders.
//! - [`split_text`]: a long line becomes numbered parts, each within the byte limit, cut only at
//!   UTF-8 character boundaries (at a space when one is near).

use std::borrow::Cow;

use crate::wire::message::MAX_NAME_LEN;

/// Longest nick in bytes (the name message's limit, PROTOCOL.md §5.2).
pub const MAX_NICK_BYTES: usize = MAX_NAME_LEN;

/// Why a nick was refused. `Display` states the whole rule, so the one line a person sees
/// says what would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NickError {
    /// Nothing but spaces.
    #[error("a nick must not be empty (1 to {MAX_NICK_BYTES} bytes, no control characters)")]
    Empty,
    /// Over the byte limit.
    #[error("a nick is at most {MAX_NICK_BYTES} bytes of UTF-8; this one has {len}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A control, format or bidi character.
    #[error(
        "a nick must not contain control or bidi characters (found U+{code:04X}); \
         use 1 to {MAX_NICK_BYTES} bytes of printable text"
    )]
    Forbidden {
        /// The first offending character's code point.
        code: u32,
    },
}

/// Checks `nick` against the one nick rule; returns it trimmed of surrounding spaces.
pub fn check_nick(nick: &str) -> Result<&str, NickError> {
    let nick = nick.trim_matches(' ');
    if nick.is_empty() {
        return Err(NickError::Empty);
    }
    if nick.len() > MAX_NICK_BYTES {
        return Err(NickError::TooLong { len: nick.len() });
    }
    match nick.chars().find(|&c| is_unsafe(c)) {
        Some(c) => Err(NickError::Forbidden { code: c as u32 }),
        None => Ok(nick),
    }
}

/// True for characters that must never reach a terminal raw: C0/C1 controls (including ESC and
/// tab, which would move the cursor), and the Unicode bidi embeddings, overrides and isolates
/// that reorder what follows them (the "Trojan Source" characters), plus the line and
/// paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' // LRM, RLM
            | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
            | '\u{061C}' // ALM
            | '\u{2028}' | '\u{2029}' // line, paragraph separator
        )
}

/// `text` made safe to display: each unsafe character ([`is_unsafe`]) becomes U+FFFD, except
/// tab, which becomes a space. Borrows when there is nothing to change.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\t' => ' ',
                c if is_unsafe(c) => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

/// Bytes that [`split_text`] reserves in each part for its `(i/n) ` prefix.
pub const PART_PREFIX_BYTES: usize = 10;

/// Splits `text` into parts of at most `max` bytes each. A text that fits is one part,
/// unchanged. Otherwise every part starts with `(i/n) ` and ends at a UTF-8 boundary, at the
/// last space in its second half when there is one. `max` below 2·[`PART_PREFIX_BYTES`] is
/// raised to that.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    if text.len() <= max {
        return vec![text.to_owned()];
    }
    let room = max.max(2 * PART_PREFIX_BYTES) - PART_PREFIX_BYTES;
    let chunks = chunks(text, room);
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| format!("({}/{n}) {c}", i + 1))
        .collect()
}

/// `text` cut into pieces of at most `room` bytes, at character boundaries, preferring a
/// space in the second half of each piece (the space starts the next piece and is trimmed).
fn chunks(text: &str, room: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s >= cut / 2) {
            cut = space;
        }
        let cut = cut.max(rest.chars().next().map_or(1, char::len_utf8));
        out.push(&rest[..cut]);
        rest = rest[cut..].trim_start_matches(' ');
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_rule_accepts_printable_and_trims() {
        assert_eq!(check_nick("  zoë  "), Ok("zoë"));
        assert_eq!(check_nick("a b"), Ok("a b"));
    }

    #[test]
    fn nick_rule_refuses_empty_long_control_and_bidi_with_the_rule_in_the_error() {
        assert_eq!(check_nick("   "), Err(NickError::Empty));
        let long = "x".repeat(MAX_NICK_BYTES + 1);
        assert_eq!(
            check_nick(&long),
            Err(NickError::TooLong {
                len: MAX_NICK_BYTES + 1
            })
        );
        assert!(
            check_nick(&long)
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
        assert_eq!(
            check_nick("a\u{1b}[2Jb"),
            Err(NickError::Forbidden { code: 0x1b })
        );
        let e = check_nick("evil\u{202E}gnp").unwrap_err();
        assert_eq!(e, NickError::Forbidden { code: 0x202E });
        assert!(e.to_string().contains("U+202E"), "{e}");
    }

    #[test]
    fn neutralize_replaces_controls_and_bidi_and_borrows_clean_text() {
        assert!(matches!(neutralize("plain text é"), Cow::Borrowed(_)));
        assert_eq!(neutralize("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
        assert_eq!(neutralize("x\u{202E}y\u{2066}z"), "x\u{FFFD}y\u{FFFD}z");
        assert_eq!(neutralize("a\tb\r\n"), "a b\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn short_text_is_one_part_unchanged() {
        assert_eq!(split_text("hello", 785), vec!["hello".to_owned()]);
    }

    #[test]
    fn long_text_splits_into_numbered_parts_within_the_limit_at_char_boundaries() {
        let text = "é".repeat(2500); // 5,000 bytes of two-byte characters
        let parts = split_text(&text, 785);
        assert_eq!(parts.len(), 7);
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= 785, "part {i} has {} bytes", p.len());
            assert!(p.starts_with(&format!("({}/7) ", i + 1)));
        }
        let joined: String = parts
            .iter()
            .map(|p| p.split_once(") ").unwrap().1)
            .collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn splitting_prefers_spaces_and_loses_no_word() {
        let text = "word ".repeat(400);
        let parts = split_text(text.trim_end(), 100);
        assert!(parts.iter().all(|p| p.len() <= 100));
        let words: usize = parts
            .iter()
            .map(|p| p.split_once(") ").unwrap().1.split(' ').count())
            .sum();
        assert_eq!(words, 400);
        assert!(parts.iter().all(|p| !p.ends_with(' ')));
    }
}
