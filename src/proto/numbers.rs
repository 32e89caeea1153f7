//! Our message numbers in one group: one counter for broadcasts (every message id,
//! PROTOCOL.md §6.4) and a separate one for direct messages (§6.10). Both count from 1,
//! pre-incremented, and skip 0 on wrap; a restarted node resumes past its stored number
//! (§6.9) and never moves backwards.

/// The last numbers spent (0: none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Numbers {
    broadcast: u32,
    direct: u32,
}

impl Numbers {
    /// The next broadcast number, spent.
    pub(crate) fn next(&mut self) -> u32 {
        self.broadcast = bump(self.broadcast);
        self.broadcast
    }

    /// The next direct-message number, spent.
    pub(crate) fn next_direct(&mut self) -> u32 {
        self.direct = bump(self.direct);
        self.direct
    }

    /// The last broadcast number spent (0: none yet).
    pub(crate) fn last(&self) -> u32 {
        self.broadcast
    }

    /// The last direct-message number spent (0: none yet).
    pub(crate) fn last_direct(&self) -> u32 {
        self.direct
    }

    /// Continues the broadcast numbers after `last`, never backwards.
    pub(crate) fn resume(&mut self, last: u32) {
        self.broadcast = self.broadcast.max(last);
    }

    /// Continues the direct-message numbers after `last`, never backwards.
    pub(crate) fn resume_direct(&mut self, last: u32) {
        self.direct = self.direct.max(last);
    }
}

/// One past `n`, skipping 0 on wrap.
fn bump(n: u32) -> u32 {
    n.wrapping_add(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_start_at_one_skip_zero_and_never_go_back() {
        let mut n = Numbers::default();
        assert_eq!((n.next(), n.next(), n.next_direct()), (1, 2, 1));
        n.resume(1);
        assert_eq!(n.last(), 2);
        n.resume(u32::MAX - 1);
        assert_eq!((n.next(), n.next()), (u32::MAX, 1));
        assert_eq!(n.next_direct(), 2);
        n.resume_direct(1000);
        assert_eq!((n.next_direct(), n.last_direct()), (1001, 1001));
    }
}
