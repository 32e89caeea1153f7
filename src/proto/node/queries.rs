//! The read-only side of [`Node`]: counters, state sizes, groups, tables, members and join
//! strings for the application; plus the moderation entry points (PROTOCOL.md §6.8).

use std::net::SocketAddr;
use std::time::Instant;

use super::{GroupInfo, MemberInfo, Node};
use crate::proto::io::Io;
use crate::proto::{Dialect, GroupId, JoinString, Moderation, ModerationError, SendError};
use crate::wire::{FactValue, KEY_LEN, NodeInfo, PublicKey, Role};

impl Node {
    /// Sizes of the node's bounded state (caches, limiter, requests, members, spam scores and
    /// output queues), summed over its groups.
    pub fn state_sizes(&self) -> crate::proto::StateSizes {
        let mut s = crate::proto::StateSizes {
            shared_keys: self.keys.len(),
            limiter_ips: self.limiter.tracked_ips(),
            transmits: self.transmits.len(),
            events: self.events.len(),
            ..crate::proto::StateSizes::default()
        };
        for g in self.groups.values() {
            let (hops, pairs) = g.spam.sizes();
            s.pending += g.pending.len();
            s.members += g.members.len();
            s.in_links += g.in_links.len();
            s.scored_hops += hops;
            s.relay_pairs += pairs;
        }
        s
    }

    /// True while `hop` is graylisted in `group` (PROTOCOL.md §6.7).
    pub fn is_graylisted(&self, group: GroupId, hop: &PublicKey, now: Instant) -> bool {
        self.groups
            .get(&group)
            .is_some_and(|g| g.spam.graylisted(hop, now))
    }

    /// The groups hosted, in creation order.
    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.keys().copied()
    }

    /// A summary of one group.
    pub fn group_info(&self, group: GroupId) -> Option<GroupInfo> {
        let g = self.groups.get(&group)?;
        Some(GroupInfo {
            own_key: g.own(),
            chat_id: (g.dialect() == Dialect::Secure).then_some(g.chat_id()),
            dialect: g.dialect(),
            privacy: g.privacy(),
            joined: g.is_joined(),
            table_len: g.table.len(),
            members: g.members.listed_count(),
            topic: g.topic().map(str::to_owned),
            topic_locked: g.authority.topic_locked(),
            voice: g.authority.voice(),
            peer_limit: g.authority.peer_limit(),
        })
    }

    /// The group's name: the founder's signed group-name fact (PROTOCOL.md §5.5); `None` if
    /// it has none, or in a legacy group.
    pub fn group_name(&self, group: GroupId) -> Option<String> {
        self.groups.get(&group)?.authority.group_name()
    }

    /// Names the group (founder only, secure groups): signs a group-name fact one version
    /// above the current, takes it and broadcasts it; every member and every later joiner
    /// gets it ([`crate::proto::Event::GroupNameChanged`]). An empty name clears it. Returns
    /// the broadcast's number; fails with `NotSecure` in a legacy group, `NotPermitted` if
    /// we are not the founder, `Encode` for a name over 128 bytes.
    pub fn set_group_name(
        &mut self,
        now: Instant,
        group: GroupId,
        name: &str,
    ) -> Result<u32, SendError> {
        let g = self.groups.get_mut(&group).ok_or(SendError::UnknownGroup)?;
        if g.dialect() != Dialect::Secure {
            return Err(SendError::NotSecure);
        }
        let mut io = io!(self, now);
        let zero = PublicKey([0; KEY_LEN]);
        Ok(g.issue(&mut io, zero, FactValue::GroupName(name))?)
    }

    /// Where one group's broadcasts go now: the table, then fresh in-links (its fan-out).
    pub fn relay_targets(&self, group: GroupId, now: Instant) -> Vec<NodeInfo> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        g.relay_targets(now, self.config.bad_node_timeout)
            .into_iter()
            .map(|(key, addr)| NodeInfo { key, addr })
            .collect()
    }

    /// The relay targets that get full copies of `origin`'s broadcasts now: in a secure
    /// group with the eager tree, those not pruned in that origin's tree (PROTOCOL.md
    /// §6.12); otherwise all of them.
    pub fn eager_targets(&self, group: GroupId, now: Instant, origin: &PublicKey) -> Vec<NodeInfo> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        let fresh = self.config.bad_node_timeout;
        let tree = self.config.eager_tree && g.dialect() == Dialect::Secure;
        let targets = match tree {
            true => g.eager_targets(origin, now, fresh),
            false => g.relay_targets(now, fresh),
        };
        targets
            .into_iter()
            .map(|(key, addr)| NodeInfo { key, addr })
            .collect()
    }

    /// The DHT table of one group.
    pub fn table(&self, group: GroupId) -> Vec<NodeInfo> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        g.table
            .iter()
            .map(|e| NodeInfo {
                key: e.key,
                addr: e.addr,
            })
            .collect()
    }

    /// The members of one group, by key.
    pub fn members(&self, group: GroupId) -> Vec<MemberInfo> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        g.members
            .live()
            .map(|(k, m)| MemberInfo {
                key: *k,
                name: m.name().to_vec(),
                status: m.status(),
                in_table: g.table.contains(k),
                role: g.authority.role(k),
            })
            .collect()
    }

    /// The join string others can use to join `group` through us at `addr`.
    pub fn join_string(&self, group: GroupId, addr: SocketAddr) -> Option<JoinString> {
        let g = self.groups.get(&group)?;
        Some(JoinString {
            dialect: g.dialect(),
            privacy: g.privacy(),
            chat_id: (g.dialect() == Dialect::Secure).then_some(g.chat_id()),
            contact: NodeInfo { key: g.own(), addr },
        })
    }

    /// Our X25519 secret in `group` (for persistence); wiped when dropped.
    pub fn identity_seed(&self, group: GroupId) -> Option<zeroize::Zeroizing<[u8; KEY_LEN]>> {
        Some(self.groups.get(&group)?.identity().seed())
    }

    /// Carries out a moderation command in a secure group: signs the fact, applies it and
    /// broadcasts it. Returns the broadcast's number.
    pub fn moderate(
        &mut self,
        now: Instant,
        group: GroupId,
        command: Moderation,
    ) -> Result<u32, ModerationError> {
        let g = self
            .groups
            .get_mut(&group)
            .ok_or(ModerationError::UnknownGroup)?;
        let mut io = io!(self, now);
        g.moderate(&mut io, command)
    }

    /// The role of `key` in `group` (`User` for anyone without a role fact).
    pub fn role(&self, group: GroupId, key: &PublicKey) -> Option<Role> {
        Some(self.groups.get(&group)?.authority.role(key))
    }

    /// The banned keys of `group`.
    pub fn bans(&self, group: GroupId) -> Vec<PublicKey> {
        self.groups
            .get(&group)
            .map(|g| g.authority.bans())
            .unwrap_or_default()
    }

    /// The current signed facts of `group`, encoded (PROTOCOL.md §5.5), to persist and give
    /// back to [`Node::restore_facts`] after a restart.
    pub fn facts(&self, group: GroupId) -> Vec<Vec<u8>> {
        self.groups
            .get(&group)
            .map(|g| g.authority.export())
            .unwrap_or_default()
    }

    /// Restores stored facts into `group` (after create or join). Each is checked like a
    /// received one; returns how many were taken. A stored ban of our own key makes us leave.
    pub fn restore_facts(&mut self, now: Instant, group: GroupId, facts: &[Vec<u8>]) -> usize {
        let Some(g) = self.groups.get_mut(&group) else {
            return 0;
        };
        let mut io = io!(self, now);
        let taken = g.take_facts(&mut io, facts.iter().map(Vec::as_slice), false);
        self.drop_if_evicted(group);
        taken
    }
}
