//! When a group's window says READY (PROTOCOL.md §6.3): a join waits for a member's answer
//! and then for the group's state (`StateSynced`, at most [`STATE_WAIT`]); a founder that no
//! stored peer answers says so after [`FOUNDER_ALONE_AFTER`] and is READY alone.

use super::*;

impl Runtime {
    /// Gives the join through `through` until the join timeout to get an answer.
    pub(in crate::app) fn expect_answer(&mut self, group: GroupId, through: NodeInfo, fresh: bool) {
        let deadline = now() + self.join_timeout;
        if let Some(j) = self.groups.get_mut(&group).filter(|j| !j.ready) {
            j.pending = Some(PendingJoin {
                deadline,
                through,
                fresh,
            });
        }
    }

    pub(in crate::app) fn waiting(&mut self, group: GroupId) {
        let Some(j) = self.groups.get(&group) else {
            return;
        };
        let text = format!(
            "joining {}: waiting for a member to answer (our key {})",
            j.label,
            j.own()
        );
        self.info(Some(group), text);
    }

    /// A member answered (`Event::Joined`). An explicit join waits for the group's state
    /// (bounded by [`STATE_WAIT`]); a restored group has its stored state and is READY now.
    pub(in crate::app) fn member_answered(&mut self, group: GroupId) {
        let by = now() + STATE_WAIT;
        let Some(j) = self.groups.get_mut(&group) else {
            return;
        };
        match (j.ready, j.pending.take()) {
            (false, Some(_)) => j.sync_by = Some(by),
            _ => self.ready(group),
        }
    }

    /// The node holds the group's state (`Event::StateSynced`): READY if we waited for it.
    pub(in crate::app) fn state_synced(&mut self, group: GroupId) {
        if self.groups.get(&group).is_some_and(|j| j.sync_by.is_some()) {
            self.ready(group);
        }
    }

    /// Emits READY for a group that a member answered (or that we founded).
    pub(in crate::app) fn ready(&mut self, group: GroupId) {
        let (at, addr) = (self.now(), self.advertised);
        let Some(j) = self.groups.get_mut(&group) else {
            return;
        };
        j.pending = None;
        j.alone = None;
        j.sync_by = None;
        if j.ready {
            return;
        }
        j.ready = true;
        let ev = ChatEvent::Ready {
            at,
            join: j.join.to_string(),
            pk: j.own().to_string(),
            nick: j.nick.clone(),
            addr,
            group: j.label.clone(),
        };
        self.members_dirty.insert(group);
        self.push(Some(group), ev);
    }

    /// The earliest deadline of a pending join (or of a restored founder's wait for peers).
    pub(in crate::app) fn next_join_deadline(&self) -> Option<Instant> {
        let alone = self.groups.values().filter_map(|j| j.alone.map(|a| a.0));
        let synced = self.groups.values().filter_map(|j| j.sync_by);
        (self.groups.values())
            .filter_map(|j| j.pending.map(|p| p.deadline))
            .chain(alone)
            .chain(synced)
            .min()
    }

    /// A restored founder whose stored peers all stayed silent: one line saying so, then
    /// READY; it keeps listening and asking (PROTOCOL.md §6.9).
    pub(in crate::app) fn alone(&mut self, group: GroupId, asked: usize) {
        let addr = self.advertised;
        let Some(label) = self.groups.get(&group).map(|j| j.label.clone()) else {
            return;
        };
        let text = format!(
            "no peer of {label} answered ({asked} remembered, all offline?): you are alone in \
             it for now; listening at {addr}, members that come back are let in"
        );
        self.info(Some(group), text);
        self.ready(group);
    }

    /// Gives up every join whose deadline passed: one error line naming the address tried,
    /// the group left (and forgotten by the store if the join created its record), `Closed`.
    pub(in crate::app) async fn expire_joins(&mut self) {
        let t = now();
        let due: Vec<(GroupId, PendingJoin)> = self
            .groups
            .iter()
            .filter_map(|(g, j)| j.pending.filter(|p| p.deadline <= t).map(|p| (*g, p)))
            .collect();
        for (group, pending) in due {
            self.join_failed(group, pending).await;
        }
        let lonely: Vec<(GroupId, usize)> = (self.groups.iter())
            .filter_map(|(g, j)| j.alone.filter(|a| a.0 <= t).map(|a| (*g, a.1)))
            .collect();
        for (group, asked) in lonely {
            self.alone(group, asked);
        }
        let waited: Vec<GroupId> = (self.groups.iter())
            .filter(|(_, j)| j.sync_by.is_some_and(|by| by <= t))
            .map(|(g, _)| *g)
            .collect();
        for group in waited {
            self.ready(group);
        }
    }

    /// Gives up a pending join now: the node reported `Event::JoinFailed` (it has dropped
    /// the group); the runtime's own deadline stays as the fallback.
    pub(in crate::app) async fn give_up_join(&mut self, group: GroupId) {
        let pending = self.groups.get(&group).and_then(|j| j.pending);
        if let Some(pending) = pending {
            self.join_failed(group, pending).await;
        }
    }

    async fn join_failed(&mut self, group: GroupId, pending: PendingJoin) {
        let through = pending.through;
        let secs = self.join_timeout.as_secs_f32();
        let label = self.groups.get(&group).map(|j| j.label.clone());
        let text = format!(
            "cannot join {}: no member answered at {} within {secs:.0} s (key {}); check \
             the address and the key in the join string",
            label.unwrap_or_default(),
            through.addr,
            through.key.fmt_short(),
        );
        self.error(Some(group), text);
        let _ = self.handle.leave_group(group, "").await;
        self.close(
            group,
            &format!("join failed: no answer from {}", through.addr),
            pending.fresh,
        );
    }
}
