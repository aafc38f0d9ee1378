// SPDX-License-Identifier: GPL-2.0
//! A spinlock that may be taken in any context, hardirq included (`spin_lock_irqsave`): the
//! 6.12 `kernel::sync::SpinLock` disables neither interrupts nor bottom halves, so a lock
//! shared with bio completions needs this one. Critical sections must be short and must not
//! sleep or allocate (except GFP_ATOMIC-free pushes into preallocated room).
//!
//! Every `IrqSpinLock` shares one lockdep class (the C helper initialises them all at one
//! site): never hold two at once.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::bindings as helpers;
use kernel::bindings;
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::types::Opaque;

/// Data protected by an interrupt-safe spinlock.
#[pin_data]
pub(crate) struct IrqSpinLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `data` to one holder at a time, from any thread.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}
// SAFETY: moving the owner moves `T` (which is `Send`); the lock itself is pinned.
unsafe impl<T: Send> Send for IrqSpinLock<T> {}

impl<T> IrqSpinLock<T> {
    /// A lock around `data`, to be pinned in place.
    pub(crate) fn new(data: T) -> impl PinInit<Self> {
        pin_init!(IrqSpinLock {
            // SAFETY: `slot` is pinned, writable memory for a spinlock, initialised here.
            lock <- Opaque::ffi_init(|slot| unsafe { helpers::mars_helper_spin_lock_init(slot) }),
            data: UnsafeCell::new(data),
        })
    }

    /// Takes the lock with interrupts disabled; released when the guard drops.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        // SAFETY: the lock is initialised and pinned (construction only through `new`).
        let flags = unsafe { helpers::mars_helper_spin_lock_irqsave(self.lock.get()) };
        IrqGuard {
            lock: self,
            flags,
            _not_send: PhantomData,
        }
    }
}

/// Access to the data of a held [`IrqSpinLock`]. Not `Send`: it must be released on the CPU
/// that took it, with the interrupt state it saved.
pub(crate) struct IrqGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    flags: c_ulong,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so nobody else accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the lock is held by this guard, on this CPU (the guard is not `Send`), and
        // `flags` is what `spin_lock_irqsave` saved.
        unsafe { helpers::mars_helper_spin_unlock_irqrestore(self.lock.lock.get(), self.flags) };
    }
}
