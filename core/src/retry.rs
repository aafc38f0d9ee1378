// SPDX-License-Identifier: GPL-2.0
//! The wait between the sessions of a network client (the kernel's metadata pull, log fetch
//! and sync copy run one loop over it, `rust/net/session.rs`): [`FIRST_WAIT_MS`] after a
//! failure, twice as long after each further one, at most the role's maximum; a failure that
//! retrying soon cannot cure waits the maximum at once; useful work starts over. Each wait is
//! up to a quarter shorter, by a noise value the caller draws, so that hosts do not retry in
//! lockstep.

/// The first wait after a failure.
pub const FIRST_WAIT_MS: u32 = 1000;
/// The range of the noise that shortens a wait: `noise / NOISE_RANGE` of a quarter.
pub const NOISE_RANGE: u32 = 1024;

/// The waits of one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryWait {
    /// The longest wait.
    max_ms: u32,
    /// The wait after the next failure (before the noise).
    next_ms: u32,
}

impl RetryWait {
    /// The waits of a client whose longest wait is `max_ms`.
    pub const fn new(max_ms: u32) -> Self {
        RetryWait {
            max_ms,
            next_ms: if FIRST_WAIT_MS < max_ms {
                FIRST_WAIT_MS
            } else {
                max_ms
            },
        }
    }

    /// Useful work happened: the next failure waits [`FIRST_WAIT_MS`] again.
    pub fn reset(&mut self) {
        *self = RetryWait::new(self.max_ms);
    }

    /// The wait after a failure (the maximum when `at_most`), shortened by `noise` (taken
    /// modulo [`NOISE_RANGE`]) quarters of [`NOISE_RANGE`]; the next failure waits twice as
    /// long, up to the maximum.
    pub fn failed(&mut self, at_most: bool, noise: u32) -> u32 {
        let wait = if at_most { self.max_ms } else { self.next_ms };
        self.next_ms = self.next_ms.saturating_mul(2).min(self.max_ms);
        let shorter = (noise % NOISE_RANGE).saturating_mul(wait / 4) / NOISE_RANGE;
        wait.saturating_sub(shorter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn doubles_from_one_second_up_to_the_maximum() {
        let mut wait = RetryWait::new(30_000);
        let waits: Vec<u32> = (0..7).map(|_| wait.failed(false, 0)).collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    }

    #[test]
    fn an_incurable_failure_waits_the_maximum_at_once() {
        let mut wait = RetryWait::new(10_000);
        assert_eq!(wait.failed(true, 0), 10_000);
        // The doubling goes on behind it.
        assert_eq!(wait.failed(false, 0), 2000);
    }

    #[test]
    fn useful_work_starts_over() {
        let mut wait = RetryWait::new(30_000);
        wait.failed(false, 0);
        wait.failed(false, 0);
        wait.reset();
        assert_eq!(wait.failed(false, 0), 1000);
    }

    #[test]
    fn noise_shortens_by_at_most_a_quarter() {
        for noise in [0, 1, 511, 1023, 1024, u32::MAX] {
            let mut wait = RetryWait::new(30_000);
            let first = wait.failed(true, noise);
            assert!((22_500..=30_000).contains(&first), "{noise}: {first}");
        }
        assert_eq!(RetryWait::new(8000).failed(true, 1023), 8000 - 1998);
    }

    #[test]
    fn a_maximum_below_one_second_is_kept() {
        let mut wait = RetryWait::new(400);
        assert_eq!(wait.failed(false, 0), 400);
        assert_eq!(wait.failed(false, 0), 400);
    }
}
