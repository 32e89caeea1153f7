//! Copying text to the terminal's clipboard with OSC 52, so `/invite`-style output can land
//! in the system clipboard even over ssh or inside tmux (with `set -g set-clipboard on`).
//!
//! [`osc52`] only builds the escape sequence; the caller writes it to the terminal (for the
//! TUI: to stdout, outside the frame being drawn). Terminals that do not support OSC 52
//! ignore it.

/// The standard base64 alphabet (RFC 4648 §4), padded: what OSC 52 expects.
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The OSC 52 sequence that sets the clipboard (`c`) to `text`:
/// `ESC ] 52 ; c ; <base64 of the UTF-8 bytes> BEL`.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Padded standard base64 of `bytes`.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut buf = [0u8; 3];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (text, b64) in cases {
            assert_eq!(base64(text.as_bytes()), b64);
        }
        assert_eq!(base64(&[0xFB, 0xFF, 0xBF]), "+/+/");
    }

    #[test]
    fn osc52_wraps_the_base64_in_the_escape_sequence() {
        assert_eq!(osc52("hi"), "\u{1b}]52;c;aGk=\u{7}");
        let join = "dhtchat:FddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxIwAACB4KlH_4";
        let seq = osc52(join);
        assert!(seq.starts_with("\u{1b}]52;c;ZGh0Y2hhdDpG"), "{seq}");
        assert!(seq.ends_with('\u{7}'));
        assert!(!seq[1..seq.len() - 1].contains(['\u{1b}', '\u{7}', '\n']));
        assert_eq!(osc52("é"), "\u{1b}]52;c;w6k=\u{7}", "UTF-8 bytes");
    }
}
