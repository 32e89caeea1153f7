//! The history side of [`Node`] (PROTOCOL.md §6.13): persisting and restoring the kept
//! messages, their limits, the founder's visibility fact, and asking again.

use std::time::Instant;

use super::Node;
use crate::proto::io::Io;
use crate::proto::{Admission, Dialect, GroupId, HistoryLimits, HistoryRecord, SendError};
use crate::wire::{FactValue, HistoryVisibility, KEY_LEN, PublicKey};

/// What changed in a group's history since the last store ([`Node::history_changes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryChanges {
    /// The records kept since, oldest first.
    pub records: Vec<HistoryRecord>,
    /// The (origin, number) of the entries that went since (limits).
    pub evicted: Vec<(PublicKey, u32)>,
    /// Pass it next time: the newest position and the eviction count now.
    pub cursor: (u32, u64),
    /// Every admission (visibility `joined`), whole.
    pub admissions: Vec<Admission>,
}

impl Node {
    /// The kept history messages stored after log position `after` (0: all), oldest first:
    /// persist them and give them back with [`Self::restore_history`] after a restart.
    pub fn history_since(
        &self,
        group: GroupId,
        after: u32,
        now: Instant,
    ) -> Option<Vec<HistoryRecord>> {
        Some(self.groups.get(&group)?.history.since(after, now))
    }

    /// What changed in the group's history since a store: the records after position
    /// `after_seq` and the (origin, number) of the entries that went after eviction
    /// `after_evicted`, with the position and eviction count to pass next time
    /// (PROTOCOL.md §6.13, Storage).
    pub fn history_changes(
        &self,
        group: GroupId,
        (after_seq, after_evicted): (u32, u64),
        now: Instant,
    ) -> Option<HistoryChanges> {
        let log = &self.groups.get(&group)?.history;
        let (evicted, evictions) = log.evicted_since(after_evicted);
        Some(HistoryChanges {
            records: log.since(after_seq, now),
            evicted,
            cursor: (log.last_seq(), evictions),
            admissions: log.admissions(),
        })
    }

    /// Takes back the stored admissions (visibility `joined`); call after
    /// [`Self::restore_history`].
    pub fn restore_admissions(
        &mut self,
        group: GroupId,
        list: &[Admission],
    ) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.history.restore_admissions(list);
        Ok(())
    }

    /// Takes back history stored before a restart; every record is checked against its
    /// signature again, and the limits apply. Call right after creating or joining the group.
    /// Returns how many were kept.
    pub fn restore_history(
        &mut self,
        now: Instant,
        group: GroupId,
        records: &[HistoryRecord],
    ) -> Result<usize, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        Ok(g.restore_history(now, records))
    }

    /// Gives back the numbers shown since the last store (the marks journal, PROTOCOL.md
    /// §6.9): a history fetch does not show them again.
    pub fn restore_shown(
        &mut self,
        group: GroupId,
        list: &[(PublicKey, u32)],
    ) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.history.restore_shown(list);
        Ok(())
    }

    /// How many messages and bytes the group's history holds now.
    pub fn history_size(&self, group: GroupId) -> Option<(usize, usize)> {
        let g = self.groups.get(&group)?;
        Some((g.history.len(), g.history.bytes()))
    }

    /// Sets how much history this group keeps (the oldest go first).
    pub fn set_history_limits(
        &mut self,
        now: Instant,
        group: GroupId,
        limits: HistoryLimits,
    ) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.history.set_limits(limits, now);
        Ok(())
    }

    /// Asks for the history again (the fetch starts `history_delay` later).
    pub fn fetch_history(&mut self, now: Instant, group: GroupId) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.fetch.restart(now);
        Ok(())
    }

    /// Who sees the group's history: the founder's signed fact, `shared` by default.
    pub fn history_visibility(&self, group: GroupId) -> Option<HistoryVisibility> {
        Some(self.groups.get(&group)?.authority.history_visibility())
    }

    /// Sets who sees the history (founder only, secure groups): signs a fact one version
    /// above the current and broadcasts it. Returns the broadcast's number.
    pub fn set_history_visibility(
        &mut self,
        now: Instant,
        group: GroupId,
        visibility: HistoryVisibility,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        if g.dialect() != Dialect::Secure {
            return Err(SendError::NotSecure);
        }
        let mut io = io!(self, now);
        let zero = PublicKey([0; KEY_LEN]);
        Ok(g.issue(&mut io, zero, FactValue::History(visibility))?)
    }
}
