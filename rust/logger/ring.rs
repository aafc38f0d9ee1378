// SPDX-License-Identifier: GPL-2.0
//! A bounded FIFO over storage allocated once: pushing and popping never allocate, so a ring
//! may be filled under a spinlock or in a completion (the 6.12 `KVec` has no `pop` or
//! `remove` to build one from).

use kernel::prelude::*;

/// A first-in first-out queue of at most `capacity` values.
///
/// # Invariants
/// The `len` slots starting at `head` (wrapping) hold values, all others are `None`.
pub(crate) struct Ring<T> {
    slots: KVVec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    /// An empty ring with room for `capacity` values (allocates; process context).
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let mut slots = KVVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            slots.push(None, GFP_KERNEL)?;
        }
        Ok(Ring {
            slots,
            head: 0,
            len: 0,
        })
    }

    /// How many values it can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many values it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a push would fail.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    fn index(&self, nth: usize) -> Option<usize> {
        let cap = self.capacity();
        (cap > 0).then(|| self.head.wrapping_add(nth) % cap)
    }

    /// Appends `value`; gives it back when the ring is full.
    pub(crate) fn push_back(&mut self, value: T) -> core::result::Result<(), T> {
        if self.is_full() {
            return Err(value);
        }
        let Some(slot) = self.index(self.len).and_then(|i| self.slots.get_mut(i)) else {
            return Err(value);
        };
        *slot = Some(value);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the oldest value.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let head = self.head;
        let value = self.slots.get_mut(head).and_then(Option::take);
        self.head = self.index(1).unwrap_or(0);
        self.len -= 1;
        value
    }

    /// The oldest value.
    pub(crate) fn front(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        self.slots.get(self.head).and_then(Option::as_ref)
    }
}
