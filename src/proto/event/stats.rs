//! A node's counters: datagrams and deliveries, drops by reason, and what the relay, the
//! eager tree (PROTOCOL.md §6.12), repair (§6.11) and history (§6.13) sent.

use super::DropReason;
use crate::proto::Traffic;

/// Counters of a node since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Broadcasts accepted (each delivered once).
    pub delivered: u64,
    /// Broadcast copies relayed to other members.
    pub relayed: u64,
    /// Own broadcasts sent (message numbers spent).
    pub originated: u64,
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::ALL.len()],
    /// Times a hop was graylisted (PROTOCOL.md §6.7).
    pub graylistings: u64,
    /// Have summaries sent (PROTOCOL.md §6.11).
    pub summaries: u64,
    /// Broadcasts re-sent in answer to a have summary.
    pub repairs: u64,
    /// Bytes of the have summaries sent (datagrams, envelope included).
    pub summary_bytes: u64,
    /// Bytes of the broadcasts re-sent in answer to a have (datagrams, envelope included).
    pub repair_bytes: u64,
    /// Re-sends withheld because the asker's reply budget was spent (PROTOCOL.md §6.2).
    pub repairs_withheld: u64,
    /// Kept name and status broadcasts sent to fresh joiners (PROTOCOL.md §6.5).
    pub name_syncs: u64,
    /// Kept names sent ahead of an origin's broadcast along the tree (PROTOCOL.md §6.12).
    pub names_first: u64,
    /// Prunes sent (PROTOCOL.md §6.12).
    pub prunes: u64,
    /// Links turned eager again in an origin's tree: repairs, GRAFTs, lazy first copies (§6.12).
    pub grafts: u64,
    /// IHAVEs sent (PROTOCOL.md §6.12).
    pub ihaves: u64,
    /// GRAFTs sent.
    pub grafts_sent: u64,
    /// Announced ids not tracked (GRAFT timers at their caps) or not grafted (`graft_rate`).
    pub lazy_ignored: u64,
    /// Ids named by GRAFTs we got that we keep no copy of.
    pub graft_unknown_ids: u64,
    /// Full copies pushed along the eager tree, or by the random relay (relayed and own).
    pub eager: Traffic,
    /// Lazy announcements: IHAVEs and have summaries.
    pub lazy: Traffic,
    /// Copies re-sent in answer to a summary or a GRAFT. The rest of `datagrams_out` is
    /// control (GRAFTs and prunes among it).
    pub repair_traffic: Traffic,
    /// History counters (PROTOCOL.md §6.13).
    pub history: HistoryStats,
}

/// What history fetches cost and found (PROTOCOL.md §6.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryStats {
    /// History requests sent, and their datagram bytes.
    pub requests: u64,
    /// Bytes of the history requests sent.
    pub request_bytes: u64,
    /// History pages (datagrams) sent as a server, and their bytes.
    pub pages: u64,
    /// Bytes of the history pages sent.
    pub page_bytes: u64,
    /// Pages not sent because the asker's reply budget was spent (PROTOCOL.md §6.2).
    pub withheld: u64,
    /// Entries received whose signature or origin did not check: dropped, re-fetched.
    pub rejected: u64,
    /// Entries received that were new to us and kept.
    pub accepted: u64,
    /// Gaps in an origin's numbers found, and re-asked of another member.
    pub gaps_found: u64,
    /// Requests refused: `joined` visibility or a non-member asker.
    pub refused: u64,
    /// Entries stored after the fetch began (young): left to the live path and repair.
    pub young: u64,
    /// Young entries that had not arrived live within `recent_ttl`: shown as history.
    pub young_late: u64,
    /// Heal fetches begun: a table peer dropped for silence answered again (§6.13).
    pub heals: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            datagrams_in: 0,
            bytes_in: 0,
            datagrams_out: 0,
            bytes_out: 0,
            delivered: 0,
            relayed: 0,
            originated: 0,
            drops: [0; DropReason::ALL.len()],
            graylistings: 0,
            summaries: 0,
            repairs: 0,
            summary_bytes: 0,
            repair_bytes: 0,
            repairs_withheld: 0,
            name_syncs: 0,
            names_first: 0,
            history: HistoryStats::default(),
            prunes: 0,
            grafts: 0,
            ihaves: 0,
            grafts_sent: 0,
            lazy_ignored: 0,
            graft_unknown_ids: 0,
            eager: Traffic::default(),
            lazy: Traffic::default(),
            repair_traffic: Traffic::default(),
        }
    }
}

impl Stats {
    /// Counts one drop.
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// The count for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}
