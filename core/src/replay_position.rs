// SPDX-License-Identifier: GPL-2.0
//! The replay position of a logfile on the primary: which prefix of the log is on the data
//! device.
//!
//! Every write the logger appends to the logfile gets the end position of its record, and
//! those positions increase. Writeback to the data device happens later and out of order
//! (sorted, coalesced, in parallel), so writebacks complete in any order. The replay position
//! `min_pos` may only say "everything before here is on the data device": it advances only
//! when the *oldest* pending entry completes, and then over every completed entry behind it
//! (`pos_complete` in the original `mars_trans_logger.c`, which hands a younger completion's
//! position to its predecessor). `max_pos` is the end of the region whose writeback may have
//! started; `[min_pos, max_pos)` is what a crash may leave half written on the data device,
//! the `dirty_len` of the `replay-<host>` link.
//!
//! The tracker is a ring over storage the caller provides (no allocation). When the ring is
//! full, [`PositionTracker::push`] says so and the caller throttles its writers until
//! writebacks complete.

use core::num::NonZeroU64;
use core::ops::DerefMut;

/// What one slot of the ring holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlotState {
    /// Unused.
    #[default]
    Free,
    /// Logged, writeback not started.
    Logged,
    /// Writeback started.
    WritingBack,
    /// Written back, waiting for older entries.
    Done,
}

/// One entry of the ring (storage for the caller to provide; start with `Slot::default()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    end: u64,
    state: SlotState,
}

/// Names one tracked entry. Tickets are only meaningful for the tracker that issued them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

/// Why a tracker operation was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackError {
    /// Every slot is in use: throttle writers until the oldest entry completes.
    Full,
    /// Log positions must increase strictly.
    NotIncreasing,
    /// The ticket does not name a pending entry.
    UnknownTicket,
    /// The entry is not in a state that allows this (e.g. completed twice).
    WrongState,
}

/// The positions of one logfile's entries between logging and writeback.
///
/// # Invariants
/// * `first <= next` (wrapping arithmetic), `next - first <= slots.len()`;
/// * the slots of the sequence numbers `first..next` (at index `seq % len`) are not `Free`,
///   all others are `Free`; their ends increase with the sequence number, the last is
///   `last_end`;
/// * the slot of `first`, if any, is not `Done` (completed prefixes are removed at once);
/// * `min_pos <= max_pos <= last_end`, and `min_pos` is the end of the newest removed entry
///   (or the start position).
pub struct PositionTracker<S: DerefMut<Target = [Slot]>> {
    slots: S,
    first: u64,
    next: u64,
    min_pos: u64,
    max_pos: u64,
    last_end: u64,
}

impl<S: DerefMut<Target = [Slot]>> PositionTracker<S> {
    /// A tracker over `slots` (its capacity is their number; their content is reset) for a
    /// logfile whose replay position is `start_pos` (0 for a fresh logfile).
    pub fn new(mut slots: S, start_pos: u64) -> Self {
        slots.fill(Slot::default());
        PositionTracker {
            slots,
            first: 0,
            next: 0,
            min_pos: start_pos,
            max_pos: start_pos,
            last_end: start_pos,
        }
    }

    /// How many entries can be pending at once.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries pending (logged and not yet part of the replayed prefix).
    pub fn len(&self) -> usize {
        usize::try_from(self.next.wrapping_sub(self.first)).unwrap_or(usize::MAX)
    }

    /// Whether nothing is pending: everything logged is written back, `min_pos == last_end`.
    pub fn is_empty(&self) -> bool {
        self.first == self.next
    }

    /// Whether [`PositionTracker::push`] would say [`TrackError::Full`].
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Everything before this position is on the data device.
    pub fn min_pos(&self) -> u64 {
        self.min_pos
    }

    /// The end of the region whose writeback may have started.
    pub fn max_pos(&self) -> u64 {
        self.max_pos
    }

    /// End of the newest entry (or the start position).
    pub fn last_end(&self) -> u64 {
        self.last_end
    }

    fn index(&self, seq: u64) -> Option<usize> {
        let len = NonZeroU64::new(u64::try_from(self.slots.len()).ok()?)?;
        usize::try_from(seq % len).ok()
    }

    /// The slot of a pending ticket.
    fn slot_mut(&mut self, ticket: Ticket) -> Result<&mut Slot, TrackError> {
        let pending = ticket.0.wrapping_sub(self.first) < self.next.wrapping_sub(self.first);
        if !pending {
            return Err(TrackError::UnknownTicket);
        }
        let index = self.index(ticket.0).ok_or(TrackError::UnknownTicket)?;
        self.slots.get_mut(index).ok_or(TrackError::UnknownTicket)
    }

    /// Tracks a newly logged entry whose record ends at `end`.
    pub fn push(&mut self, end: u64) -> Result<Ticket, TrackError> {
        if end <= self.last_end {
            return Err(TrackError::NotIncreasing);
        }
        if self.is_full() {
            return Err(TrackError::Full);
        }
        let seq = self.next;
        let index = self.index(seq).ok_or(TrackError::Full)?;
        let slot = self.slots.get_mut(index).ok_or(TrackError::Full)?;
        *slot = Slot {
            end,
            state: SlotState::Logged,
        };
        self.next = seq.wrapping_add(1);
        self.last_end = end;
        Ok(Ticket(seq))
    }

    /// The entry's writeback is about to start: the dirty region grows to its end.
    pub fn start_writeback(&mut self, ticket: Ticket) -> Result<(), TrackError> {
        let slot = self.slot_mut(ticket)?;
        if slot.state != SlotState::Logged {
            return Err(TrackError::WrongState);
        }
        slot.state = SlotState::WritingBack;
        let end = slot.end;
        self.max_pos = self.max_pos.max(end);
        Ok(())
    }

    /// The entry is on the data device (its own writeback, or a newer one covering it,
    /// completed). Returns whether `min_pos` advanced.
    pub fn complete(&mut self, ticket: Ticket) -> Result<bool, TrackError> {
        let slot = self.slot_mut(ticket)?;
        if !matches!(slot.state, SlotState::Logged | SlotState::WritingBack) {
            return Err(TrackError::WrongState);
        }
        slot.state = SlotState::Done;
        let end = slot.end;
        self.max_pos = self.max_pos.max(end);
        let mut advanced = false;
        while self.first != self.next {
            let Some(index) = self.index(self.first) else {
                break;
            };
            let Some(oldest) = self.slots.get_mut(index) else {
                break;
            };
            if oldest.state != SlotState::Done {
                break;
            }
            self.min_pos = oldest.end;
            *oldest = Slot::default();
            self.first = self.first.wrapping_add(1);
            advanced = true;
        }
        Ok(advanced)
    }

    /// The state of a ticket's entry, `None` when it is no longer pending.
    pub fn state(&self, ticket: Ticket) -> Option<SlotState> {
        let pending = ticket.0.wrapping_sub(self.first) < self.next.wrapping_sub(self.first);
        if !pending {
            return None;
        }
        self.slots.get(self.index(ticket.0)?).map(|slot| slot.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn in_order_completion_advances_each_time() {
        let mut slots = [Slot::default(); 4];
        let mut t = PositionTracker::new(&mut slots[..], 0);
        let a = t.push(100).unwrap();
        let b = t.push(200).unwrap();
        t.start_writeback(a).unwrap();
        assert_eq!((t.min_pos(), t.max_pos()), (0, 100));
        assert_eq!(t.complete(a), Ok(true));
        assert_eq!(t.min_pos(), 100);
        t.start_writeback(b).unwrap();
        assert_eq!(t.complete(b), Ok(true));
        assert_eq!((t.min_pos(), t.max_pos(), t.len()), (200, 200, 0));
        assert!(t.is_empty());
    }

    #[test]
    fn younger_completion_waits_for_the_oldest() {
        let mut slots = [Slot::default(); 8];
        let mut t = PositionTracker::new(&mut slots[..], 1000);
        let a = t.push(1100).unwrap();
        let b = t.push(1200).unwrap();
        let c = t.push(1300).unwrap();
        for x in [a, b, c] {
            t.start_writeback(x).unwrap();
        }
        assert_eq!(t.max_pos(), 1300);
        assert_eq!(t.complete(c), Ok(false));
        assert_eq!(t.complete(b), Ok(false));
        assert_eq!(t.min_pos(), 1000);
        // The oldest completes: the whole completed run behind it becomes replayed.
        assert_eq!(t.complete(a), Ok(true));
        assert_eq!(t.min_pos(), 1300);
        assert!(t.is_empty());
    }

    #[test]
    fn full_ring_throttles_until_the_oldest_completes() {
        let mut slots = [Slot::default(); 2];
        let mut t = PositionTracker::new(&mut slots[..], 0);
        let a = t.push(10).unwrap();
        let b = t.push(20).unwrap();
        assert!(t.is_full());
        assert_eq!(t.push(30), Err(TrackError::Full));
        assert_eq!(t.complete(b), Ok(false));
        assert_eq!(
            t.push(30),
            Err(TrackError::Full),
            "a younger completion frees no slot"
        );
        assert_eq!(t.complete(a), Ok(true));
        let c = t.push(30).unwrap();
        assert_eq!(t.state(c), Some(SlotState::Logged));
        assert_eq!(t.last_end(), 30);
    }

    #[test]
    fn refusals_change_nothing() {
        let mut slots = [Slot::default(); 2];
        let mut t = PositionTracker::new(&mut slots[..], 50);
        assert_eq!(t.push(50), Err(TrackError::NotIncreasing));
        let a = t.push(60).unwrap();
        assert_eq!(t.push(55), Err(TrackError::NotIncreasing));
        assert_eq!(t.complete(Ticket(7)), Err(TrackError::UnknownTicket));
        t.start_writeback(a).unwrap();
        assert_eq!(t.start_writeback(a), Err(TrackError::WrongState));
        assert_eq!(t.complete(a), Ok(true));
        assert_eq!(t.complete(a), Err(TrackError::UnknownTicket));
        assert_eq!(t.state(a), None);
        assert_eq!((t.min_pos(), t.max_pos()), (60, 60));
    }

    #[test]
    fn zero_capacity_is_always_full() {
        let mut slots: [Slot; 0] = [];
        let mut t = PositionTracker::new(&mut slots[..], 0);
        assert_eq!(t.push(1), Err(TrackError::Full));
        assert_eq!(t.complete(Ticket(0)), Err(TrackError::UnknownTicket));
    }

    #[test]
    fn completing_without_start_raises_max_pos() {
        let mut slots = [Slot::default(); 2];
        let mut t = PositionTracker::new(&mut slots[..], 0);
        let a = t.push(10).unwrap();
        assert_eq!(t.complete(a), Ok(true));
        assert_eq!((t.min_pos(), t.max_pos()), (10, 10));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u16),
        Start(usize),
        Complete(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u16..500).prop_map(Op::Push),
            any::<usize>().prop_map(Op::Start),
            any::<usize>().prop_map(Op::Complete),
        ]
    }

    proptest! {
        /// Against a model: min_pos is the end of the longest completed prefix, max_pos the
        /// largest end ever started or completed, capacity is respected, and min_pos never
        /// goes backwards.
        #[test]
        fn matches_the_model(cap in 0usize..6, start in 0u64..1000, ops in proptest::collection::vec(op(), 0..200)) {
            let mut slots = std::vec![Slot::default(); cap];
            let mut t = PositionTracker::new(&mut slots[..], start);
            // model: (ticket, end, started, done) for pending entries in log order
            let mut pending: Vec<(Ticket, u64, bool, bool)> = Vec::new();
            let (mut min, mut max, mut last) = (start, start, start);
            for op in ops {
                match op {
                    Op::Push(step) => {
                        let end = last + u64::from(step);
                        let r = t.push(end);
                        if pending.len() >= cap {
                            prop_assert_eq!(r, Err(TrackError::Full));
                        } else {
                            pending.push((r.unwrap(), end, false, false));
                            last = end;
                        }
                    }
                    Op::Start(i) if !pending.is_empty() => {
                        let i = i % pending.len();
                        let e = &mut pending[i];
                        let r = t.start_writeback(e.0);
                        if e.2 || e.3 {
                            prop_assert_eq!(r, Err(TrackError::WrongState));
                        } else {
                            prop_assert_eq!(r, Ok(()));
                            e.2 = true;
                            max = max.max(e.1);
                        }
                    }
                    Op::Complete(i) if !pending.is_empty() => {
                        let i = i % pending.len();
                        let r = t.complete(pending[i].0);
                        if pending[i].3 {
                            prop_assert_eq!(r, Err(TrackError::WrongState));
                        } else {
                            pending[i].3 = true;
                            max = max.max(pending[i].1);
                            let old = min;
                            while pending.first().is_some_and(|e| e.3) {
                                min = pending.remove(0).1;
                            }
                            prop_assert_eq!(r, Ok(min != old));
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(t.min_pos(), min);
                prop_assert_eq!(t.max_pos(), max);
                prop_assert_eq!(t.len(), pending.len());
                prop_assert_eq!(t.last_end(), last);
                prop_assert!(t.min_pos() <= t.max_pos() && t.max_pos() <= t.last_end());
            }
        }
    }
}
