// SPDX-License-Identifier: GPL-2.0
//! A rate limit for complaints about peers in the kernel log: at most a burst of lines per
//! window of seconds; how many were held back is told when the next window opens. A flood of
//! bad connections or entries must not flood the log.

use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::kapi::time::real_time;
use kernel::prelude::*;

/// One kind of complaint and its limit.
pub(super) struct LogLimit {
    /// What is complained about, for the line that tells what was held back.
    what: &'static str,
    /// Lines per window.
    burst: u32,
    /// Length of a window in seconds.
    window_sec: i64,
    window_start: AtomicI64,
    count: AtomicU32,
}

impl LogLimit {
    /// At most `burst` complaints about `what` per `window_sec` seconds.
    pub(super) const fn new(what: &'static str, burst: u32, window_sec: i64) -> Self {
        LogLimit {
            what,
            burst,
            window_sec,
            window_start: AtomicI64::new(0),
            count: AtomicU32::new(0),
        }
    }

    /// Whether one more complaint may be logged now.
    pub(super) fn allow(&self) -> bool {
        let now = real_time().sec;
        let start = self.window_start.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= self.window_sec
            && self
                .window_start
                .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let held_back = self
                .count
                .swap(0, Ordering::AcqRel)
                .saturating_sub(self.burst);
            if held_back != 0 {
                pr_warn!("net: {} more {} were not logged\n", held_back, self.what);
            }
        }
        self.count.fetch_add(1, Ordering::AcqRel) < self.burst
    }
}
