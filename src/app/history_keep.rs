//! `/history` (PROTOCOL.md §6.13): each group's own history limits. A group without any keeps
//! the process default (`--history`, `--history-days`, `[history]` in dhtchat.toml);
//! `/history keep N [DAYS]` stores the group's own, which the node applies at once (the
//! oldest entries beyond them go) and again when the group is restored.

use anyhow::anyhow;

use super::command::HistoryKeep;
use super::runtime::Runtime;
use crate::proto::{GroupId, HistoryLimits};

const DAY_SECS: u64 = 24 * 3600;

/// Bytes kept per message a group asks for (its byte limit grows with its count)...
const BYTES_PER_MESSAGE: usize = 1024;
/// ...up to this (the log is held in memory).
const MAX_GROUP_BYTES: usize = 16 << 20;

/// The limits of a group that keeps `messages` for `days`: the default's byte limit, or
/// 1 KiB per message up to 16 MiB if that is more.
pub(super) fn limits_for(default: HistoryLimits, messages: u32, days: u32) -> HistoryLimits {
    let messages = messages as usize;
    let wanted = (messages.saturating_mul(BYTES_PER_MESSAGE)).min(MAX_GROUP_BYTES);
    HistoryLimits {
        max_messages: messages,
        max_age: std::time::Duration::from_secs(u64::from(days) * DAY_SECS),
        max_bytes: default.max_bytes.max(wanted),
    }
}

fn describe(limits: &HistoryLimits, own: bool) -> String {
    let days = limits.max_age.as_secs().div_ceil(DAY_SECS);
    let whose = if own {
        "this group's own"
    } else {
        "the default"
    };
    format!(
        "history: this group keeps its last {} messages for {days} days ({} KiB at most; {whose}; \
         /history keep N [DAYS] changes it)",
        limits.max_messages,
        limits.max_bytes / 1024
    )
}

impl Runtime {
    /// `/history` shows the group's limits; `/history keep N [DAYS]` stores and applies its
    /// own (stored first: the line confirms what a restart keeps).
    pub(super) async fn history_command(
        &mut self,
        group: GroupId,
        keep: Option<HistoryKeep>,
    ) -> anyhow::Result<()> {
        let record =
            (self.groups.get(&group).map(|j| j.record)).ok_or_else(|| anyhow!("not in a group"))?;
        let default = self.history_default;
        let Some(keep) = keep else {
            let own = self.store.history_keep(record)?;
            let limits = own.map_or(default, |(m, d)| limits_for(default, m, d));
            self.info(Some(group), describe(&limits, own.is_some()));
            return Ok(());
        };
        let days = keep
            .days
            .unwrap_or(default.max_age.as_secs().div_ceil(DAY_SECS) as u32);
        let limits = limits_for(default, keep.messages, days);
        self.store.set_history_keep(record, (keep.messages, days))?;
        self.handle.set_history_limits(group, limits).await?;
        self.info(Some(group), describe(&limits, true));
        Ok(())
    }

    /// Applies a restored group's own limits, if it has any.
    pub(super) async fn restore_history_keep(
        &mut self,
        group: GroupId,
        record: u64,
    ) -> anyhow::Result<()> {
        if let Some((messages, days)) = self.store.history_keep(record)? {
            let limits = limits_for(self.history_default, messages, days);
            self.handle.set_history_limits(group, limits).await?;
        }
        Ok(())
    }
}
