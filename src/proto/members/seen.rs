//! A member's broadcast dedup window, held compactly while it is short.
//!
//! [`SeenWindow`] keeps 1024 numbers (PROTOCOL.md §6.4): 136 bytes, in every member entry of
//! every group. Most members only ever send a few broadcasts a minute (joins, names,
//! pings), so their window has no accepted number more than 63 below the newest: [`Seen`]
//! then holds just the top and 64 bits (16 bytes in the entry). The first number that would
//! need an older bit turns it into a boxed [`SeenWindow`] with the same accepted numbers, so
//! every answer is exactly the full window's (the tests compare both on random sequences).
//! At N = 200 that is about 120 bytes less for each of the 190 members that only ping
//! (benches/README.md, "Memory per node").

use crate::proto::DropReason;
use crate::proto::window::{SeenWindow, WINDOW, behind_top};

/// Bits a short window holds: numbers `top - 63 ..= top`.
const SHORT: u32 = 64;

/// The numbers of one origin seen so far (see the module docs).
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    /// No accepted number lies more than 63 below `top`; bit `i` set: `top - i` was accepted.
    Short { top: u32, bits: u64 },
    /// Any other window.
    Full(Box<SeenWindow>),
}

impl Seen {
    /// A window whose first accepted number is `first`.
    pub(crate) fn new(first: u32) -> Self {
        Self::Short {
            top: first,
            bits: 1,
        }
    }

    /// The highest accepted number.
    pub(crate) fn top(&self) -> u32 {
        match self {
            Self::Short { top, .. } => *top,
            Self::Full(w) => w.top(),
        }
    }

    /// Would `number` be accepted? Changes nothing; the same answer as [`SeenWindow::check`].
    pub(crate) fn check(&self, number: u32, forward_cap: u32) -> Result<(), DropReason> {
        let (top, bits) = match self {
            Self::Short { top, bits } => (*top, *bits),
            Self::Full(w) => return w.check(number, forward_cap),
        };
        match behind_top(top, number, forward_cap)? {
            Some(b) if b < SHORT && bits & (1 << b) != 0 => Err(DropReason::Duplicate),
            _ => Ok(()),
        }
    }

    /// Records `number` as accepted; call only after [`Self::check`] succeeded.
    pub(crate) fn mark(&mut self, number: u32) {
        let (top, bits) = match self {
            Self::Short { top, bits } => (*top, *bits),
            Self::Full(w) => return w.mark(number),
        };
        *self = match short_mark(top, bits, number) {
            Some((top, bits)) => Self::Short { top, bits },
            None => {
                let mut full = widen(top, bits);
                full.mark(number);
                Self::Full(full)
            }
        };
    }
}

/// The short window `(top, bits)` after `number` is marked, or `None` if it would then hold
/// an accepted number more than 63 below its top.
fn short_mark(top: u32, bits: u64, number: u32) -> Option<(u32, u64)> {
    let ahead = number.wrapping_sub(top);
    if ahead == 0 {
        return Some((top, bits));
    }
    if ahead >= 1 << 31 {
        return match top.wrapping_sub(number) {
            b if b < SHORT => Some((top, bits | 1 << b)),
            b if b >= WINDOW => Some((top, bits)),
            _ => None,
        };
    }
    if ahead >= WINDOW {
        return Some((number, 1));
    }
    // Bit 0 (`top` itself) is always set; `oldest` is the highest set bit.
    let oldest = bits.checked_ilog2().unwrap_or(0);
    (oldest + ahead < SHORT).then(|| (number, (bits << ahead) | 1))
}

/// The full window holding the accepted numbers of the short window `(top, bits)`: the
/// oldest first, then each newer one marked in turn.
fn widen(top: u32, bits: u64) -> Box<SeenWindow> {
    let oldest = bits.checked_ilog2().unwrap_or(0);
    let mut full = Box::new(SeenWindow::new(top.wrapping_sub(oldest)));
    for i in (0..oldest).rev().filter(|i| bits & (1 << i) != 0) {
        full.mark(top.wrapping_sub(i));
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    const CAP: u32 = 1 << 16;

    /// Offers `n` to both windows: the same verdict, and both take it if it is accepted.
    fn offer(seen: &mut Seen, full: &mut SeenWindow, n: u32) -> Result<(), DropReason> {
        let verdict = full.check(n, CAP);
        assert_eq!(seen.check(n, CAP), verdict, "number {n}");
        if verdict.is_ok() {
            seen.mark(n);
            full.mark(n);
        }
        assert_eq!(seen.top(), full.top());
        verdict
    }

    #[test]
    fn answers_like_the_full_window_on_random_sequences() {
        for seed in 0..200u64 {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let first = match seed % 4 {
                0 => u32::MAX - 40,
                _ => rng.random(),
            };
            let (mut seen, mut full) = (Seen::new(first), SeenWindow::new(first));
            // Some seeds stay close to the top (short windows), others jump and reorder far.
            let spread: i64 = [3, 40, 200, 1500][(seed % 4) as usize];
            for _ in 0..400 {
                let delta = rng.random_range(-spread..=spread);
                let n = full.top().wrapping_add_signed(delta as i32);
                let _ = offer(&mut seen, &mut full, n);
            }
            for back in 0..1100 {
                let n = full.top().wrapping_sub(back);
                assert_eq!(seen.check(n, CAP), full.check(n, CAP), "seed {seed}");
            }
        }
    }

    #[test]
    fn stays_short_while_the_numbers_are_close_and_widens_for_an_old_one() {
        let (mut seen, mut full) = (Seen::new(100), SeenWindow::new(100));
        for n in [101, 103, 102, 150, 163] {
            offer(&mut seen, &mut full, n).unwrap();
        }
        assert!(matches!(seen, Seen::Short { top: 163, .. }), "{seen:?}");
        assert_eq!(offer(&mut seen, &mut full, 100), Err(DropReason::Duplicate));
        offer(&mut seen, &mut full, 99).unwrap();
        assert!(matches!(seen, Seen::Full(_)), "99 is 64 below the top");
        for n in [99, 100, 101, 102, 103, 150, 163] {
            assert_eq!(seen.check(n, CAP), Err(DropReason::Duplicate), "{n}");
        }
        assert_eq!(seen.check(98, CAP), Ok(()));
    }

    #[test]
    fn a_steady_sender_widens_once_its_oldest_number_passes_64() {
        let mut seen = Seen::new(1);
        for n in 2..=64 {
            seen.mark(n);
        }
        assert!(matches!(seen, Seen::Short { bits: u64::MAX, .. }));
        seen.mark(65);
        assert!(matches!(seen, Seen::Full(_)));
        assert_eq!(seen.check(1, CAP), Err(DropReason::Duplicate));
        assert!(size_of::<Seen>() <= 16, "{}", size_of::<Seen>());
    }

    #[test]
    fn a_far_jump_forgets_everything_like_the_full_window() {
        let (mut seen, mut full) = (Seen::new(5), SeenWindow::new(5));
        offer(&mut seen, &mut full, 5 + WINDOW).unwrap();
        assert!(matches!(seen, Seen::Short { bits: 1, .. }));
        assert_eq!(offer(&mut seen, &mut full, 5), Err(DropReason::TooOld));
        assert_eq!(offer(&mut seen, &mut full, 6), Ok(()));
    }
}
