// SPDX-License-Identifier: GPL-2.0
//! The module's Lamport clock: the core's [`LamportClock`] rules applied to state kept in one
//! atomic (nanoseconds since the epoch), so any context can read or advance it without a lock.

use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::kapi::time::real_time;
use crate::knobs;
use crate::mars_core::lamport::{LamportClock, Stamp};

/// Largest stamp seen or issued, in nanoseconds since the epoch.
static LAST_NANOS: AtomicI64 = AtomicI64::new(0);
/// How often /proc/sys/mars/lamport_clock was read (reported as CALLS=, may wrap).
static PROC_CALLS: AtomicU32 = AtomicU32::new(0);

fn current() -> LamportClock {
    LamportClock::resume(
        Stamp::from_nanos(LAST_NANOS.load(Ordering::Acquire)),
        knobs::MAX_LAMPORT_FUTURE.get(),
    )
}

/// Counts one read of /proc/sys/mars/lamport_clock.
pub(crate) fn count_proc_read() {
    PROC_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// Writes the text of /proc/sys/mars/lamport_clock.
pub(crate) fn write_proc_text(out: &mut dyn fmt::Write) -> fmt::Result {
    let calls = PROC_CALLS.load(Ordering::Relaxed);
    current().write_proc_text(real_time(), calls, &mut &mut *out)
}
