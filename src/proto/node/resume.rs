//! What a restart needs from [`Node`] (PROTOCOL.md §6.9): our own broadcast and direct
//! numbers, and the marks of the numbers accepted from each origin.

use super::Node;
use crate::proto::{GroupId, Mark, SendError};

impl Node {
    /// The last message number we spent in the group (0: none yet).
    pub fn last_number(&self, group: GroupId) -> Option<u32> {
        self.groups.get(&group).map(|g| g.numbers.last())
    }

    /// Continues our message numbers after `last` (a restarted node must not reuse numbers its
    /// peers' dedup windows have seen; PROTOCOL.md §6.9). Never moves them backwards. A node
    /// that spent numbers here was in the group: it lets others in before a member answers
    /// it (§6.3).
    pub fn resume_numbers(&mut self, group: GroupId, last: u32) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.numbers.resume(last);
        if last > 0 {
            g.note_been_in();
        }
        Ok(())
    }

    /// The last direct-message number we spent in the group (0: none yet).
    pub fn last_direct_number(&self, group: GroupId) -> Option<u32> {
        self.groups.get(&group).map(|g| g.numbers.last_direct())
    }

    /// Continues our direct-message numbers after `last`, as [`Self::resume_numbers`] does
    /// for broadcasts (PROTOCOL.md §6.9, §6.10).
    pub fn resume_direct_numbers(&mut self, group: GroupId, last: u32) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.numbers.resume_direct(last);
        Ok(())
    }

    /// The highest broadcast and direct numbers accepted from each origin, live members and
    /// forgotten ones alike, by origin: what a restart needs to keep refusing replays
    /// (PROTOCOL.md §6.9). Store it and give it back with [`Self::restore_marks`].
    pub fn marks(&self, group: GroupId) -> Option<Vec<Mark>> {
        let g = self.groups.get(&group)?;
        Some(g.marks.export(g.members.marks()))
    }

    /// Takes the marks stored before a restart: numbers at or below them are refused as
    /// `too_old` (PROTOCOL.md §6.9). Call right after creating or joining the group.
    pub fn restore_marks(&mut self, group: GroupId, marks: &[Mark]) -> Result<(), SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        g.marks.restore(marks);
        Ok(())
    }
}
