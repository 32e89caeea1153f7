//! `/history`: how much history this group keeps (PROTOCOL.md §6.13). Without arguments it
//! shows the group's limits; `/history keep N [DAYS]` sets them for this group only (stored
//! with the group; the `[history]` settings of dhtchat.toml and `--history` are the default
//! for groups that have none).

use super::{Args, ChatCommand, CommandError};

/// Most messages a group may be set to keep (as `--history`).
pub const MAX_KEEP_MESSAGES: u32 = 100_000;
/// Longest a group may be set to keep its history, in days (as `--history-days`).
pub const MAX_KEEP_DAYS: u32 = 365;

/// `/history keep N [DAYS]`: this group's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryKeep {
    /// Most messages kept, 0..=[`MAX_KEEP_MESSAGES`] (0 keeps and serves none).
    pub messages: u32,
    /// Days kept, 1..=[`MAX_KEEP_DAYS`]; `None` keeps the default age.
    pub days: Option<u32>,
}

impl Args<'_> {
    /// `/history` or `/history keep N [DAYS]`.
    pub(super) fn history(&self) -> Result<ChatCommand, CommandError> {
        let words: Vec<&str> = self.args.split_whitespace().collect();
        let number = |w: &str, max: u32, min: u32| {
            (w.parse::<u32>().ok())
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| self.usage())
        };
        let keep = match words.as_slice() {
            [] => return Ok(ChatCommand::History(None)),
            ["keep", n] => HistoryKeep {
                messages: number(n, MAX_KEEP_MESSAGES, 0)?,
                days: None,
            },
            ["keep", n, d] => HistoryKeep {
                messages: number(n, MAX_KEEP_MESSAGES, 0)?,
                days: Some(number(d, MAX_KEEP_DAYS, 1)?),
            },
            _ => return Err(self.usage()),
        };
        Ok(ChatCommand::History(Some(keep)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::command_for_test as cmd;
    use super::*;

    #[test]
    fn history_parses_and_bounds() {
        assert_eq!(cmd("/history"), Ok(ChatCommand::History(None)));
        let keep = |messages, days| Ok(ChatCommand::History(Some(HistoryKeep { messages, days })));
        assert_eq!(cmd("/history keep 50"), keep(50, None));
        assert_eq!(cmd("/history keep 0 1"), keep(0, Some(1)));
        assert_eq!(cmd("/history keep 100000 365"), keep(100_000, Some(365)));
        for bad in [
            "/history keep",
            "/history keep 100001",
            "/history keep 5 0",
            "/history keep 5 366",
            "/history keep -1",
            "/history keep 5 2 x",
            "/history drop 5",
        ] {
            assert!(cmd(bad).is_err(), "{bad}");
        }
    }
}
