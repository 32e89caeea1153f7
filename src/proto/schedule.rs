//! When each of a group's own timers next falls due (PROTOCOL.md §6.6): the housekeeping
//! tick, the group ping, the nick re-broadcast, exploration and the join retry with its
//! back-off and deadline. Only instants and durations live here; what happens when a timer
//! fires is in `timers.rs`, and the jitter is drawn by the caller (randomness is an input).

use std::time::{Duration, Instant};

use super::Config;

/// One group's timers.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    tick: Instant,
    ping: Instant,
    name: Instant,
    last_name: Option<Instant>,
    explore: Instant,
    join: Instant,
    join_retry: Duration,
    join_deadline: Option<Instant>,
}

impl Schedule {
    /// Everything due at once but the tick and exploration, which wait one period.
    pub(crate) fn new(now: Instant, config: &Config) -> Self {
        Self {
            tick: now + config.tick,
            ping: now,
            name: now,
            last_name: None,
            explore: now + config.explore_interval,
            join: now,
            join_retry: config.join_retry_min,
            join_deadline: None,
        }
    }

    /// When the housekeeping next runs.
    pub(crate) fn next_tick(&self) -> Instant {
        self.tick
    }

    /// True (and re-armed `period` later) if the tick is due.
    pub(crate) fn tick_due(&mut self, now: Instant, period: Duration) -> bool {
        if now < self.tick {
            return false;
        }
        self.tick = now + period;
        true
    }

    /// The group ping falls due at `at`.
    pub(crate) fn ping_at(&mut self, at: Instant) {
        self.ping = at;
    }

    /// The group ping waits at least until `at` (any own broadcast shows we are alive).
    pub(crate) fn ping_not_before(&mut self, at: Instant) {
        self.ping = self.ping.max(at);
    }

    /// True if the group ping is due.
    pub(crate) fn ping_due(&self, now: Instant) -> bool {
        now >= self.ping
    }

    /// True if the nick re-broadcast is due.
    pub(crate) fn name_due(&self, now: Instant) -> bool {
        now >= self.name
    }

    /// The nick re-broadcast falls due at `at`.
    pub(crate) fn name_at(&mut self, at: Instant) {
        self.name = at;
    }

    /// The nick re-broadcast falls due at `at` at the latest.
    pub(crate) fn name_by(&mut self, at: Instant) {
        self.name = self.name.min(at);
    }

    /// We broadcast our nick at `now`; the next is due `interval` later.
    pub(crate) fn name_sent(&mut self, now: Instant, interval: Duration) {
        self.name = now + interval;
        self.last_name = Some(now);
    }

    /// True if we broadcast our nick less than `gap` before `now`.
    pub(crate) fn name_sent_within(&self, now: Instant, gap: Duration) -> bool {
        self.last_name
            .is_some_and(|t| now.saturating_duration_since(t) < gap)
    }

    /// True (and re-armed `interval` later) if exploration is due.
    pub(crate) fn explore_due(&mut self, now: Instant, interval: Duration) -> bool {
        if now < self.explore {
            return false;
        }
        self.explore = now + interval;
        true
    }

    /// A join started at `now`: first retry after `retry`, give up at `now + timeout` (never
    /// if that overflows).
    pub(crate) fn start_join(&mut self, now: Instant, retry: Duration, timeout: Duration) {
        self.join = now + retry;
        self.join_deadline = now.checked_add(timeout);
    }

    /// A member answered: no deadline, and the back-off starts again from `retry_min`.
    pub(crate) fn joined(&mut self, retry_min: Duration) {
        self.join_deadline = None;
        self.join_retry = retry_min;
    }

    /// True once if the join deadline has passed; the deadline is then cleared.
    pub(crate) fn join_expired(&mut self, now: Instant) -> bool {
        let expired = self.join_deadline.is_some_and(|d| now >= d);
        if expired {
            self.join_deadline = None;
        }
        expired
    }

    /// True if a rejoin attempt is due.
    pub(crate) fn rejoin_due(&self, now: Instant) -> bool {
        now >= self.join
    }

    /// True while the back-off is at its first step (`retry_min`).
    pub(crate) fn first_retry(&self, retry_min: Duration) -> bool {
        self.join_retry <= retry_min
    }

    /// A rejoin attempt was made at `now`: the next waits the current back-off, which
    /// doubles up to `max`.
    pub(crate) fn back_off(&mut self, now: Instant, max: Duration) {
        self.join = now + self.join_retry;
        self.join_retry = (self.join_retry * 2).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_back_off_doubles_to_the_cap_and_the_deadline_fires_once() {
        let c = Config::new([0; 32]);
        let t0 = crate::test_epoch();
        let mut s = Schedule::new(t0, &c);
        s.start_join(t0, c.join_retry_min, c.join_timeout);
        assert!(!s.rejoin_due(t0) && s.rejoin_due(t0 + c.join_retry_min));
        let mut waits = Vec::new();
        for _ in 0..7 {
            let before = s.join_retry;
            s.back_off(t0, c.join_retry_max);
            waits.push(before.as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert!(!s.join_expired(t0 + Duration::from_secs(19)));
        assert!(s.join_expired(t0 + Duration::from_secs(20)));
        assert!(!s.join_expired(t0 + Duration::from_secs(21)), "once");
        s.joined(c.join_retry_min);
        assert!(s.first_retry(c.join_retry_min));
        let mut never = Schedule::new(t0, &c);
        never.start_join(t0, c.join_retry_min, Duration::MAX);
        assert!(!never.join_expired(t0 + Duration::from_secs(1 << 40)));
    }
}
