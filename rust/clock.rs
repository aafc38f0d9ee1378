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

/// The current Lamport reading (`lamport_now`): not behind real time nor behind any stamp seen
/// or issued. A reading, not an event: it does not advance the clock.
pub(crate) fn now() -> Stamp {
    current().read(real_time())
}

/// Issues a fresh stamp for a local event, e.g. a link the kernel writes: strictly later than
/// every stamp seen or issued before, and not behind real time (the core's `tick`).
pub(crate) fn tick() -> Stamp {
    let real = real_time();
    let mut last = LAST_NANOS.load(Ordering::Acquire);
    loop {
        let next = LamportClock::resume(Stamp::from_nanos(last), knobs::MAX_LAMPORT_FUTURE.get())
            .tick(real);
        // Beyond the year 2262 the state cannot hold the stamp: issue it without recording.
        let Some(next_nanos) = next.to_nanos() else {
            return next;
        };
        match LAST_NANOS.compare_exchange_weak(
            last,
            next_nanos,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return next,
            Err(now) => last = now,
        }
    }
}

/// Takes note of a stamp seen in /mars (or from a peer): advances the clock to it, never back
/// (the core's non-strict `advance`), after replacing a stamp that lies further in the future
/// than `max_lamport_future` allows by the current reading (the core's `protect`). Returns the
/// stamp as believed.
pub(crate) fn observe(stamp: Stamp) -> Stamp {
    let believed = current().protect(stamp, real_time());
    if let Some(nanos) = believed.to_nanos() {
        LAST_NANOS.fetch_max(nanos, Ordering::AcqRel);
    }
    believed
}
