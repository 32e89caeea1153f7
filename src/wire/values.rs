//! Field values that both peer message bodies ([`super::message`]) and signed facts
//! ([`super::fact`]) carry. They live in this leaf module so that `message` (whose facts
//! messages hold a [`super::fact::FactList`]) and `fact` do not import each other.

/// Longest topic, in bytes (a topic message or a topic fact).
pub const MAX_TOPIC_LEN: usize = 512;

/// What a ban (message 17, or a fact of kind 2) does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BanAction {
    /// Lift a ban.
    Unban = 0,
    /// Remove the target and keep its key out.
    Ban = 1,
    /// Remove the target; it may rejoin.
    Kick = 2,
}
