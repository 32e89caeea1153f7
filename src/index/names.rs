//! Usernames and room names: the one normalisation rule each (PROTOCOL.md §8.2).
//!
//! - **Username**: 1..=32 bytes of ASCII letters, digits, `_`, `-` and `.`, compared without
//!   case. The stored and signed form is the lower-case one ([`normalize_username`]): `Alice`
//!   and `alice` are the same account. No Unicode, so no confusable look-alikes and no
//!   normalisation tables.
//! - **Room name** (seed 000): 1..=32 bytes of `A-Z`, `0-9` and spaces, not starting or ending
//!   with a space ([`is_valid_room_name`]). Nothing is normalised: a request about `lobby` is
//!   ignored by the index (a counted drop), the client tells its user before sending.

/// Longest username, in bytes.
pub const MAX_USERNAME: usize = 32;
/// Longest room name, in bytes.
pub const MAX_ROOM_NAME: usize = 32;

/// The canonical (lower-case) form of a username, or `None` if it breaks the rule.
pub fn normalize_username(name: &str) -> Option<String> {
    let ok = (1..=MAX_USERNAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    ok.then(|| name.to_ascii_lowercase())
}

/// True if `name` is a valid room name: `[A-Z0-9 ]`, 1..=32 bytes, no space at either end.
pub fn is_valid_room_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=MAX_ROOM_NAME).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ')
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
}

/// Why a room name is refused, in words a client can show its user.
pub fn room_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME {
        return Some("a room name has 1 to 32 characters");
    }
    if !is_valid_room_name(name) {
        return Some("a room name has only A-Z, 0-9 and spaces (not at either end)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_others() {
        assert_eq!(normalize_username("Alice_1"), Some("alice_1".into()));
        assert_eq!(normalize_username("a.b-c"), Some("a.b-c".into()));
        assert_eq!(normalize_username(""), None);
        assert_eq!(normalize_username("al ice"), None);
        assert_eq!(normalize_username("élise"), None);
        assert_eq!(normalize_username(&"a".repeat(33)), None);
    }

    #[test]
    fn room_names_are_upper_case_digits_and_spaces() {
        assert!(is_valid_room_name("LOBBY"));
        assert!(is_valid_room_name("ROOM 42"));
        assert!(!is_valid_room_name("lobby"));
        assert!(!is_valid_room_name("LOBBY!"));
        assert!(!is_valid_room_name(" LOBBY"));
        assert!(!is_valid_room_name(""));
        assert!(!is_valid_room_name(&"A".repeat(33)));
        assert!(room_name_problem("Lobby").is_some());
        assert!(room_name_problem("LOBBY").is_none());
    }
}
