//! The per-origin dedup window: which message numbers of one origin were already accepted.
//!
//! A sliding bitmap of [`WINDOW`] numbers below the highest accepted one, so a reordered older
//! message is still accepted once and a replay is dropped. Comparisons are modulo 2^32, as
//! numbers wrap. A jump beyond the forward cap is refused without moving the window.

use super::DropReason;

/// Numbers remembered below the highest accepted one.
pub const WINDOW: u32 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Where `number` stands against a window whose highest accepted number is `top`, modulo
/// 2^32: ahead within `forward_cap` (`None`), or `behind` places below the top inside the
/// window (`Some(behind)`, 1..[`WINDOW`]); the top itself is a duplicate, further ahead is
/// too far ahead, further behind too old.
pub(crate) fn behind_top(
    top: u32,
    number: u32,
    forward_cap: u32,
) -> Result<Option<u32>, DropReason> {
    let ahead = number.wrapping_sub(top);
    if ahead == 0 {
        return Err(DropReason::Duplicate);
    }
    if ahead < 1 << 31 {
        return match ahead > forward_cap {
            true => Err(DropReason::TooFarAhead),
            false => Ok(None),
        };
    }
    match top.wrapping_sub(number) {
        behind if behind >= WINDOW => Err(DropReason::TooOld),
        behind => Ok(Some(behind)),
    }
}

/// The numbers of one origin seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenWindow {
    top: u32,
    /// Bit `i` set: number `top - i` was accepted (bit 0 is `top` itself).
    bits: [u64; WORDS],
}

impl SeenWindow {
    /// A window whose first accepted number is `first`.
    pub fn new(first: u32) -> Self {
        let mut bits = [0; WORDS];
        bits[0] = 1;
        Self { top: first, bits }
    }

    /// The highest accepted number.
    pub fn top(&self) -> u32 {
        self.top
    }

    /// Would `number` be accepted? Changes nothing.
    pub fn check(&self, number: u32, forward_cap: u32) -> Result<(), DropReason> {
        match behind_top(self.top, number, forward_cap)? {
            Some(behind) if self.bit(behind) => Err(DropReason::Duplicate),
            _ => Ok(()),
        }
    }

    /// Records `number` as accepted; call only after [`Self::check`] succeeded.
    pub fn mark(&mut self, number: u32) {
        let ahead = number.wrapping_sub(self.top);
        if ahead != 0 && ahead < 1 << 31 {
            self.shift(ahead);
            self.top = number;
            self.bits[0] |= 1;
        } else {
            let behind = self.top.wrapping_sub(number);
            if behind < WINDOW {
                self.bits[(behind / 64) as usize] |= 1 << (behind % 64);
            }
        }
    }

    fn bit(&self, behind: u32) -> bool {
        self.bits[(behind / 64) as usize] & (1 << (behind % 64)) != 0
    }

    /// Moves every bit `by` places towards older numbers.
    fn shift(&mut self, by: u32) {
        if by >= WINDOW {
            self.bits = [0; WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = by % 64;
        for i in (0..WORDS).rev() {
            let src = i.checked_sub(words);
            let hi = src.map_or(0, |s| self.bits[s] << bits);
            let lo = match (src.and_then(|s| s.checked_sub(1)), bits) {
                (Some(s), b) if b > 0 => self.bits[s] >> (64 - b),
                _ => 0,
            };
            self.bits[i] = hi | lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut SeenWindow, n: u32) -> Result<(), DropReason> {
        w.check(n, 1 << 16)?;
        w.mark(n);
        Ok(())
    }

    #[test]
    fn in_order_and_replays() {
        let mut w = SeenWindow::new(1);
        assert_eq!(accept(&mut w, 1), Err(DropReason::Duplicate));
        for n in 2..3000 {
            assert_eq!(accept(&mut w, n), Ok(()));
            assert_eq!(accept(&mut w, n), Err(DropReason::Duplicate));
        }
    }

    #[test]
    fn reordered_older_message_is_accepted_once() {
        let mut w = SeenWindow::new(10);
        accept(&mut w, 500).unwrap();
        for n in (11..500).rev() {
            assert_eq!(accept(&mut w, n), Ok(()), "{n}");
        }
        for n in 10..=500 {
            assert_eq!(accept(&mut w, n), Err(DropReason::Duplicate), "{n}");
        }
    }

    #[test]
    fn too_old_and_too_far_ahead() {
        let mut w = SeenWindow::new(5000);
        assert_eq!(accept(&mut w, 5000 - 1024), Err(DropReason::TooOld));
        assert_eq!(accept(&mut w, 5000 - 1023), Ok(()));
        assert_eq!(
            w.check(5000 + (1 << 16) + 1, 1 << 16),
            Err(DropReason::TooFarAhead)
        );
        assert_eq!(w.check(5000 + (1 << 31), 1 << 16), Err(DropReason::TooOld));
        assert_eq!(w.top(), 5000, "a refused jump does not move the window");
    }

    #[test]
    fn wraps_around_zero() {
        let mut w = SeenWindow::new(u32::MAX - 2);
        for n in [u32::MAX - 1, u32::MAX, 0, 1, 2] {
            assert_eq!(accept(&mut w, n), Ok(()));
        }
        assert_eq!(accept(&mut w, u32::MAX), Err(DropReason::Duplicate));
    }

    #[test]
    fn shifts_across_words_keep_old_bits() {
        let mut w = SeenWindow::new(100);
        accept(&mut w, 90).unwrap();
        accept(&mut w, 100 + 70).unwrap();
        accept(&mut w, 100 + 200).unwrap();
        assert_eq!(w.check(90, 1 << 16), Err(DropReason::Duplicate));
        assert_eq!(w.check(100, 1 << 16), Err(DropReason::Duplicate));
        assert_eq!(w.check(170, 1 << 16), Err(DropReason::Duplicate));
        assert_eq!(w.check(91, 1 << 16), Ok(()));
        accept(&mut w, 100 + 2000).unwrap();
        assert_eq!(w.check(300, 1 << 16), Err(DropReason::TooOld));
    }
}
