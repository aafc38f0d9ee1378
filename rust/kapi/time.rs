// SPDX-License-Identifier: GPL-2.0
//! Wall-clock time as a Lamport [`Stamp`].

use crate::mars_core::lamport::Stamp;
use kernel::bindings;

/// The current real time (CLOCK_REALTIME).
pub(crate) fn real_time() -> Stamp {
    let mut ts = bindings::timespec64 {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec64 for the duration of the call.
    unsafe { bindings::ktime_get_real_ts64(&mut ts) };
    // tv_nsec is always in 0..1e9; anything else would be a kernel bug, read as 0.
    Stamp::new(ts.tv_sec, u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Sleeps for at least `ms` milliseconds (process context only).
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: msleep only sleeps; callers are in process context.
    unsafe { kernel::bindings::msleep(ms) };
}
