// SPDX-License-Identifier: GPL-2.0
//! Keeping a brick's resources alive for the requests in flight.
//!
//! A completion may run in hardirq context after its submitter is long gone, so it must not
//! hold a strong reference whose drop could free a brick (freeing sleeps). Instead it holds
//! an [`InFlightRef`]: a counted borrow whose drop is a single atomic decrement, the last
//! access the completion makes. The [`InFlight`] container waits in its own drop until the
//! count is zero, so whatever it holds (a bio set, an open device) outlives every request
//! that uses it. The wait polls, because a wake-up from the completion would be an access
//! after the decrement.

use core::marker::PhantomPinned;
use core::ops::Deref;
use core::pin::Pin;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::kapi::time::sleep_ms;

/// A value shared with requests in flight; dropping it waits until none is left (sleeps).
pub(crate) struct InFlight<T> {
    count: AtomicUsize,
    value: T,
    _pinned: PhantomPinned,
}

impl<T> InFlight<T> {
    /// Wraps `value` (pin it before handing out references).
    pub(crate) fn new(value: T) -> Self {
        InFlight {
            count: AtomicUsize::new(0),
            value,
            _pinned: PhantomPinned,
        }
    }

    /// A reference for one request in flight.
    pub(crate) fn get(self: Pin<&Self>) -> InFlightRef<T> {
        self.count.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: counted just above; `self` is pinned, so it stays put until its drop,
        // which waits for this reference.
        InFlightRef {
            target: NonNull::from(self.get_ref()),
        }
    }

    /// Waits until no reference is left. Process context.
    fn drain(&self) {
        let mut wait = 1;
        while self.count.load(Ordering::Acquire) != 0 {
            sleep_ms(wait);
            wait = (wait * 2).min(100);
        }
    }
}

impl<T> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.drain();
    }
}

/// One counted borrow of an [`InFlight`] value. May be dropped in any context.
///
/// # Invariants
/// `target` is a pinned `InFlight` whose count includes this reference, so it stays valid
/// until this reference is dropped.
pub(crate) struct InFlightRef<T> {
    target: NonNull<InFlight<T>>,
}

// SAFETY: it only gives `&T` and decrements an atomic; `T: Sync` makes that thread-safe.
unsafe impl<T: Sync> Send for InFlightRef<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for InFlightRef<T> {}

impl<T> Clone for InFlightRef<T> {
    fn clone(&self) -> Self {
        // SAFETY: valid by the type invariant.
        let target = unsafe { self.target.as_ref() };
        target.count.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: counted just above.
        InFlightRef {
            target: self.target,
        }
    }
}

impl<T> Deref for InFlightRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: valid by the type invariant.
        unsafe { &self.target.as_ref().value }
    }
}

impl<T> Drop for InFlightRef<T> {
    fn drop(&mut self) {
        // SAFETY: valid by the type invariant until this decrement, after which the value
        // may be freed: nothing is accessed afterwards.
        unsafe { self.target.as_ref() }
            .count
            .fetch_sub(1, Ordering::Release);
    }
}
