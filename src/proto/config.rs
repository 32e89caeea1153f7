//! Node configuration: every tunable with its unit and default, validated before use.

use std::time::Duration;

/// Tunables of a [`super::Node`]. Build with `Config::new(seed)` (defaults below), change
/// fields, and [`super::Node::new`] validates the whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Seed of the node's RNG (ping ids, nonces, new identities, jitter). The driver passes
    /// 32 bytes from the OS; tests pass fixed bytes for reproducible runs.
    pub rng_seed: [u8; 32],
    /// Closest peers kept in the DHT table's close set. Default 6 (the 2014 close list).
    pub close_size: usize,
    /// Peers kept per Kademlia bucket, besides the close set. Default 2.
    pub bucket_size: usize,
    /// Most table entries that share one IP address. Default 2.
    pub max_per_ip: usize,
    /// Most groups one node hosts. Default 16.
    pub max_groups: usize,
    /// Most members remembered per group. Default 16384 (above the 10,000-member groups the scale run checks).
    pub max_members: usize,
    /// Most get_nodes requests outstanding per group. Default 256.
    pub max_pending: usize,
    /// Largest forward jump of an origin's message number that is accepted. Default 65536.
    pub forward_cap: u32,
    /// Interval of the broadcast ping (message 0). Default 30 s.
    pub ping_interval: Duration,
    /// A member with no accepted broadcast for this long has left. Default 120 s.
    pub peer_timeout: Duration,
    /// Keep-alive get_nodes to each table entry at this interval. Default 10 s.
    pub node_ping_interval: Duration,
    /// A table entry with no send_nodes answer for this long is dropped. Default 30 s.
    pub bad_node_timeout: Duration,
    /// A get_nodes ping id is valid this long; also the least gap between two get_nodes to one
    /// peer. Default 5 s.
    pub request_timeout: Duration,
    /// Own nick is re-broadcast at this interval. Default 180 s.
    pub name_interval: Duration,
    /// A member that quit is forgotten after this delay (its broadcasts are ignored
    /// meanwhile). Default 3 s.
    pub quit_delay: Duration,
    /// First retry delay of a join that has no answer yet; doubles up to `join_retry_max`.
    /// Default 1 s.
    pub join_retry_min: Duration,
    /// Longest retry delay of a join. Default 30 s.
    pub join_retry_max: Duration,
    /// A join that no member has answered this long after `join_group` fails: the node emits
    /// `Event::JoinFailed` and drops the group (a wrong key or a dead address must not retry
    /// forever). `Duration::MAX` never gives up. Default 20 s.
    pub join_timeout: Duration,
    /// Period of the housekeeping tick (keep-alives, timeouts, refresh). Default 1 s.
    pub tick: Duration,
    /// Most members whose kept name and status broadcasts a fresh joiner is sent (ourselves
    /// first, then the most recently heard; PROTOCOL.md §6.5). 0 turns the name sync off.
    /// Default 128.
    pub name_sync_max: usize,
    /// Datagrams of the name sync per group: (burst, per second). Default (512, 256).
    pub name_sync_rate: (u32, u32),
    /// Most in-links kept per group: validated peers that keep us in their table and get our
    /// relays too. Default 32.
    pub max_in_links: usize,
    /// Legacy groups (and secure ones with `eager_tree` off): peers a relayed broadcast is
    /// re-sent to, drawn at random from the relay targets (table entries and in-links) for
    /// each message; anti-entropy repairs what this misses. Our own broadcasts go to every
    /// relay target. Default 6.
    pub relay_fanout: usize,
    /// Secure groups relay along the eager tree (PROTOCOL.md §6.12) instead of the random
    /// `relay_fanout` draw: full copies to every relay target eager in the origin's tree,
    /// IHAVEs and GRAFTs for the rest. Default true (a third of the random relay's
    /// datagrams per delivery, benches/README.md, "Tuning the eager tree: on by default").
    /// Legacy groups always keep the random relay.
    pub eager_tree: bool,
    /// Eager tree, lazy half (PROTOCOL.md §6.12): the ids of what a node accepted or sent
    /// are batched this long before an IHAVE announces them. Default 100 ms.
    pub ihave_interval: Duration,
    /// Relay targets an IHAVE goes to per flush, drawn among those whose link is lazy for
    /// one of its ids (every one around a silence, PROTOCOL.md §6.12); 0 sends
    /// none. Default 1.
    pub lazy_fanout: usize,
    /// A node that sees an IHAVE for a broadcast it misses grafts the announcer if the copy
    /// has not come this long after. Default 20 ms.
    pub graft_timeout: Duration,
    /// GRAFTs a group sends: (burst, per second). Default (64, 64).
    pub graft_rate: (u32, u32),
    /// A link grafted (in any tree) is not pruned again for this long, whatever duplicates
    /// it brings (PROTOCOL.md §6.12): no prune/graft churn under loss. Default 1 s.
    pub prune_hold: Duration,
    /// Probes (replies to senders not yet validated) per source IP: (burst, per second).
    /// Default (20, 10).
    pub probe_rate_per_ip: (u32, u32),
    /// Probes for the whole node: (burst, per second). Default (200, 100).
    pub probe_rate_global: (u32, u32),
    /// Source IPs tracked by the probe limiter. Default 4096.
    pub probe_ips: usize,
    /// Most probes outstanding per group, so a flood of fresh keys cannot fill the table of
    /// our own requests. Default 64.
    pub max_probes: usize,
    /// Every this often, one random known member outside the table is asked for nodes even if
    /// it would not fit: its answer lists the peers closest to us in its part of the overlay,
    /// so parts that lost touch merge again. Default 15 s.
    pub explore_interval: Duration,
    /// Members not in the table that are probed per tick while the table has room. Default 2.
    pub refresh_per_tick: usize,
    /// Precomputed shared keys kept in the LRU cache. Default 1024.
    pub shared_key_cache: usize,
    /// Most datagrams waiting in `poll_transmit`; more are dropped and counted. Default 8192.
    pub max_transmits: usize,
    /// Most events waiting in `poll_event`; more are dropped and counted. Default 4096.
    pub max_events: usize,
    /// Announce newly validated members with a new_peer broadcast. Default true.
    pub announce_new_peers: bool,
    /// Broadcasts accepted per origin at every node: (burst, per second). Over it a broadcast
    /// is neither delivered nor relayed (PROTOCOL.md §6.7). Default (20, 5).
    pub origin_rate: (u32, u32),
    /// new_peer announcements accepted per origin at every node: (burst, per second), a
    /// bucket apart from `origin_rate`, so announcing a join flood never silences the
    /// announcer's own messages (PROTOCOL.md §6.7). Default (20, 2).
    pub announce_rate: (u32, u32),
    /// Origins we do not know that one hop may introduce by relaying their signed broadcasts
    /// (secure groups): (burst, per second). The burst covers a joiner's name sync. Default
    /// (128, 2).
    pub vouch_rate: (u32, u32),
    /// Reply budget per proven peer, in bytes (PROTOCOL.md §6.2): what we send a peer beyond
    /// what it sent us. A send_nodes answer carries only as many nodes as the budget pays
    /// for; a have answer stops at the first copy it cannot pay for. Default 16384 (one full
    /// have answer).
    pub reply_burst: u32,
    /// X25519 operations for datagrams whose sender's shared key is not cached, node-wide:
    /// (burst, per second); beyond it such datagrams are dropped (`dh_over_limit`) before
    /// the X25519 (PROTOCOL.md §2.1). Default (1024, 2000).
    pub dh_rate: (u32, u32),
    /// The same, per source IP (at most `probe_ips` IPs tracked); also the X25519s of
    /// cookie-proven senders per IP once `dh_rate` is spent. Default (32, 50).
    pub dh_rate_per_ip: (u32, u32),
    /// Cookie replies (PROTOCOL.md §2.1), node-wide: (burst, per second). A reply is smaller
    /// than what it answers, so this only caps bandwidth. Default (8192, 100,000).
    pub cookie_rate: (u32, u32),
    /// Cookie replies per destination IP: (burst, per second). Default (4, 2).
    pub cookie_rate_per_ip: (u32, u32),
    /// Misbehaviour points at which a hop is graylisted. Default 100.
    pub graylist_threshold: u32,
    /// Points a hop's score loses per second. Default 10.
    pub graylist_decay: u32,
    /// How long a graylisted hop's datagrams are dropped. Default 60 s.
    pub graylist_cooldown: Duration,
    /// Most hops scored, and most (hop, origin) relay buckets, per group. Default 1024.
    pub max_scored_peers: usize,
    /// Anti-entropy (PROTOCOL.md §6.11): while a group is active (`have_active`), a relay
    /// target gets a have summary this often (jittered ±50 %). Default 50 ms (250 ms is
    /// the eager tree's tuned setting, benches/README.md "Tuning the eager tree").
    pub have_interval: Duration,
    /// A kept broadcast is re-sent in answer to a summary only once it is this old, so copies
    /// still in flight are not re-sent. Default 30 ms.
    pub have_grace: Duration,
    /// A group sends summaries while its newest relayed broadcast is younger than this.
    /// Default 1 s.
    pub have_active: Duration,
    /// Relayed broadcasts are kept for repair this long. Default 3 s.
    pub recent_ttl: Duration,
    /// Most broadcasts kept for repair per group. Default 256.
    pub recent_max: usize,
    /// The (origin, number) of relayed broadcasts are kept this long, for the summaries.
    /// Default 8 s.
    pub seen_ttl: Duration,
    /// Most (origin, number) kept for the summaries per group. Default 1024.
    pub seen_max: usize,
    /// Most broadcasts re-sent in answer to one summary. Default 16.
    pub have_reply_max: usize,
    /// Broadcasts re-sent in answer to summaries, per group: (burst, per second). Default
    /// (64, 64).
    pub repair_rate: (u32, u32),
    /// How much history each group keeps (PROTOCOL.md §6.13); `Node::set_history_limits`
    /// changes one group's. Default 1,000 messages, 7 days, 1 MiB.
    pub history: super::history::HistoryLimits,
    /// Most datagrams in answer to one history request. Default 16.
    pub history_page: usize,
    /// History pages each asker may get beyond its reply budget: (burst, per second).
    /// Default (64, 32): a 1,000-message log in about three round trips.
    pub history_rate: (u32, u32),
    /// History pages all askers of a group together may get beyond their reply budgets:
    /// (burst, per second). Default (256, 128).
    pub history_rate_group: (u32, u32),
    /// A history fetch starts this long after we are joined (the fact and name syncs come
    /// first). Default 1 s.
    pub history_delay: Duration,
    /// A history request without progress for this long is sent again. Default 1 s.
    pub history_timeout: Duration,
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {0}")]
pub struct ConfigError(pub &'static str);

impl Config {
    /// The defaults, with the given RNG seed.
    pub fn new(rng_seed: [u8; 32]) -> Self {
        Self {
            rng_seed,
            close_size: 6,
            bucket_size: 2,
            max_per_ip: 2,
            max_groups: 16,
            max_members: 16384,
            max_pending: 256,
            forward_cap: 1 << 16,
            ping_interval: Duration::from_secs(30),
            peer_timeout: Duration::from_secs(120),
            node_ping_interval: Duration::from_secs(10),
            bad_node_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            name_interval: Duration::from_secs(180),
            quit_delay: Duration::from_secs(3),
            join_retry_min: Duration::from_secs(1),
            join_retry_max: Duration::from_secs(30),
            join_timeout: Duration::from_secs(20),
            tick: Duration::from_secs(1),
            max_in_links: 32,
            relay_fanout: 6,
            eager_tree: true,
            ihave_interval: Duration::from_millis(100),
            lazy_fanout: 1,
            graft_timeout: Duration::from_millis(20),
            graft_rate: (64, 64),
            prune_hold: Duration::from_secs(1),
            explore_interval: Duration::from_secs(15),
            probe_rate_per_ip: (20, 10),
            probe_rate_global: (200, 100),
            probe_ips: 4096,
            max_probes: 64,
            refresh_per_tick: 2,
            shared_key_cache: 1024,
            max_transmits: 8192,
            max_events: 4096,
            announce_new_peers: true,
            name_sync_max: 128,
            name_sync_rate: (512, 256),
            origin_rate: (20, 5),
            announce_rate: (20, 2),
            vouch_rate: (128, 2),
            reply_burst: 16_384,
            dh_rate: (1024, 2000),
            dh_rate_per_ip: (32, 50),
            cookie_rate: (8192, 100_000),
            cookie_rate_per_ip: (4, 2),
            graylist_threshold: 100,
            graylist_decay: 10,
            graylist_cooldown: Duration::from_secs(60),
            max_scored_peers: 1024,
            have_interval: Duration::from_millis(50),
            have_grace: Duration::from_millis(30),
            have_active: Duration::from_secs(1),
            recent_ttl: Duration::from_secs(3),
            recent_max: 256,
            seen_ttl: Duration::from_secs(8),
            seen_max: 1024,
            have_reply_max: 16,
            repair_rate: (64, 64),
            history: super::history::HistoryLimits::default(),
            history_page: 16,
            history_rate: (64, 32),
            history_rate_group: (256, 128),
            history_delay: Duration::from_secs(1),
            history_timeout: Duration::from_secs(1),
        }
    }

    /// Checks every field and the rules between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(bool, &'static str); 21] = [
            (
                (1..=64).contains(&self.close_size),
                "close_size must be 1..=64",
            ),
            (self.bucket_size <= 64, "bucket_size must be at most 64"),
            (self.max_per_ip >= 1, "max_per_ip must be at least 1"),
            (self.max_groups >= 1, "max_groups must be at least 1"),
            (self.max_members >= 1, "max_members must be at least 1"),
            (self.max_pending >= 8, "max_pending must be at least 8"),
            (self.forward_cap >= 64, "forward_cap must be at least 64"),
            (!self.tick.is_zero(), "tick must be positive"),
            (self.relay_fanout >= 1, "relay_fanout must be at least 1"),
            (
                self.node_ping_interval < self.bad_node_timeout,
                "node_ping_interval must be shorter than bad_node_timeout",
            ),
            (
                self.ping_interval < self.peer_timeout,
                "ping_interval must be shorter than peer_timeout",
            ),
            (
                self.join_retry_min <= self.join_retry_max && !self.join_retry_min.is_zero(),
                "join_retry_min must be positive and at most join_retry_max",
            ),
            (
                self.join_timeout >= self.join_retry_min,
                "join_timeout must be at least join_retry_min",
            ),
            (
                self.shared_key_cache >= 1 && self.max_transmits >= 64 && self.max_events >= 64,
                "shared_key_cache ≥ 1, max_transmits ≥ 64, max_events ≥ 64",
            ),
            (
                self.origin_rate.0 >= 1 && self.origin_rate.1 >= 1,
                "origin_rate burst and rate must be at least 1",
            ),
            (
                [self.announce_rate, self.vouch_rate, self.dh_rate]
                    .iter()
                    .chain([
                        &self.dh_rate_per_ip,
                        &self.cookie_rate,
                        &self.cookie_rate_per_ip,
                    ])
                    .all(|&(b, r)| b >= 1 && r >= 1),
                "announce, vouch and dh rates: burst and rate at least 1",
            ),
            (
                self.reply_burst >= 512,
                "reply_burst must be at least 512 bytes",
            ),
            (
                self.graylist_threshold >= 1 && self.max_scored_peers >= 1,
                "graylist_threshold and max_scored_peers must be at least 1",
            ),
            (
                !self.have_interval.is_zero()
                    && self.have_grace < self.recent_ttl
                    && self.have_active <= self.recent_ttl
                    && self.recent_ttl <= self.seen_ttl,
                "have_interval > 0, have_grace < recent_ttl, have_active <= recent_ttl <= seen_ttl",
            ),
            (
                !self.ihave_interval.is_zero()
                    && self.ihave_interval < self.recent_ttl
                    && self.graft_timeout < self.recent_ttl
                    && self.graft_rate.0 >= 1
                    && self.graft_rate.1 >= 1,
                "ihave_interval > 0, ihave_interval and graft_timeout < recent_ttl, graft_rate >= 1",
            ),
            (
                (1..=16).contains(&self.history_page) && !self.history_timeout.is_zero(),
                "history_page must be 1..=16 and history_timeout positive",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(ConfigError(why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::new([0; 32]).validate(), Ok(()));
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = Config::new([0; 32]);
        c.close_size = 0;
        assert_eq!(c.validate(), Err(ConfigError("close_size must be 1..=64")));
        let mut c = Config::new([0; 32]);
        c.bad_node_timeout = c.node_ping_interval;
        assert!(c.validate().is_err());
    }
}
