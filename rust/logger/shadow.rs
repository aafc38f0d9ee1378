// SPDX-License-Identifier: GPL-2.0
//! Shadows: the logger's copies of written data between logging and writeback, and the index
//! that finds them by position on the data device.
//!
//! A shadow holds one record's payload (at most a page, never crossing a page-size boundary of
//! the device, see `mars_core::logger::record_pieces`) and is immutable once made. It is
//! shared (`Arc`) by the index, the writeback that carries it and any read it serves; its
//! page is freed and its memory accounted back when the last user drops it, in any context.

use core::sync::atomic::Ordering;

use crate::kapi::bio::Segment;
use crate::kapi::mm::PageBuf;
use crate::knobs::LOGGER_MEM_USED;
use crate::mars_core::logger::{overlap, RECORD_PAYLOAD_MAX};
use crate::mars_core::replay_position::Ticket;
use core::mem::MaybeUninit;
use kernel::error::code::EINVAL;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::{Arc, UniqueArc};

/// Bytes of shadow memory one shadow accounts for (its page).
pub(crate) const SHADOW_BYTES: u64 = PageBuf::SIZE as u64;

/// One logged piece of a write, kept until it is on the data device.
pub(crate) struct Shadow {
    /// Position on the data device.
    pub(crate) pos: u64,
    /// Length (at most a page).
    pub(crate) len: u32,
    /// Logger-wide sequence number: newer data has a larger one.
    pub(crate) seq: u64,
    /// Number of the logfile holding its record.
    pub(crate) log_nr: u32,
    /// End of its record in that logfile.
    pub(crate) log_end: u64,
    /// Its entry in that logfile's replay position tracker.
    pub(crate) ticket: Ticket,
    page: PageBuf,
}

/// The memory of one shadow and its index entry, allocated before its record is logged, so
/// that nothing can fail between logging a record and indexing its shadow.
pub(crate) struct ShadowSlot {
    shadow: UniqueArc<MaybeUninit<Shadow>>,
    node: RBTreeNodeReservation<(u64, u64), Arc<Shadow>>,
}

impl ShadowSlot {
    /// Allocates (use a NoIo scope on the IO path).
    pub(crate) fn new() -> Result<Self> {
        Ok(ShadowSlot {
            shadow: UniqueArc::new_uninit(GFP_KERNEL)?,
            node: RBTreeNodeReservation::new(GFP_KERNEL)?,
        })
    }

    /// Makes the shadow of the logged piece `[pos, pos + len)` whose data are the first `len`
    /// bytes of `page`, accounts its memory and adds it to `index`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        self,
        index: &mut Index,
        pos: u64,
        len: u32,
        seq: u64,
        log_nr: u32,
        log_end: u64,
        ticket: Ticket,
        page: PageBuf,
    ) -> Arc<Shadow> {
        // A page holds at most PAGE_SIZE bytes; pieces are never longer (record_pieces).
        let len = len.min(PageBuf::SIZE as u32);
        LOGGER_MEM_USED.fetch_add(SHADOW_BYTES as i64, Ordering::Relaxed);
        let shadow: Arc<Shadow> = self
            .shadow
            .write(Shadow {
                pos,
                len,
                seq,
                log_nr,
                log_end,
                ticket,
                page,
            })
            .into();
        // Keys are unique: the sequence number is.
        let _ = index
            .tree
            .insert(self.node.into_node((pos, seq), shadow.clone()));
        shadow
    }
}

impl Shadow {
    /// End on the data device.
    pub(crate) fn end(&self) -> u64 {
        self.pos.saturating_add(u64::from(self.len))
    }

    /// Runs `f` on the data.
    pub(crate) fn with_data<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let len = self.len as usize;
        self.page
            .with(|bytes| f(bytes.get(..len).unwrap_or_default()))
    }

    /// An IO segment over the data.
    ///
    /// # Safety
    /// The caller keeps this shadow alive (holds an `Arc`) until the IO completed.
    pub(crate) unsafe fn segment(&self) -> Result<Segment> {
        // SAFETY: the shadow's page lives as long as the shadow, which the caller keeps; the
        // data never change after creation.
        unsafe { self.page.segment(0, self.len) }
    }

    /// Copies the part of the data that overlaps `[pos, pos + segments' length)` into the
    /// request data `segments`, which hold the bytes from `pos` on.
    pub(crate) fn overlay(&self, pos: u64, len: u64, segments: &[Segment]) -> Result {
        let Some((in_request, in_shadow, n)) = overlap(pos, len, self.pos, u64::from(self.len))
        else {
            return Ok(());
        };
        self.with_data(|data| {
            let from = usize::try_from(in_shadow).map_err(|_| EINVAL)?;
            let to = usize::try_from(in_shadow.saturating_add(n)).map_err(|_| EINVAL)?;
            write_segments(segments, in_request, data.get(from..to).ok_or(EINVAL)?)
        })
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        LOGGER_MEM_USED.fetch_sub(SHADOW_BYTES as i64, Ordering::Relaxed);
    }
}

/// Calls `f(segment, offset in segment, range in the flat data)` for the segments covering
/// `len` bytes from `offset` of the request data `segments`.
fn for_range(
    segments: &[Segment],
    offset: u64,
    len: usize,
    mut f: impl FnMut(&Segment, u32, core::ops::Range<usize>) -> Result,
) -> Result {
    let mut seg_start = 0u64;
    let mut done = 0usize;
    for segment in segments {
        if done >= len {
            break;
        }
        let seg_len = u64::from(segment.len());
        let seg_end = seg_start.saturating_add(seg_len);
        let want = offset.saturating_add(done as u64);
        if want < seg_end && want >= seg_start {
            let in_seg = want - seg_start;
            let n =
                usize::try_from((seg_end - want).min((len - done) as u64)).map_err(|_| EINVAL)?;
            let range = done..done.checked_add(n).ok_or(EINVAL)?;
            f(segment, u32::try_from(in_seg).map_err(|_| EINVAL)?, range)?;
            done += n;
        }
        seg_start = seg_end;
    }
    if done == len {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// Copies `dst.len()` bytes from `offset` of the request data `segments` into `dst`.
pub(crate) fn read_segments(segments: &[Segment], offset: u64, dst: &mut [u8]) -> Result {
    let len = dst.len();
    for_range(segments, offset, len, |segment, at, range| {
        segment.read_at(at, dst.get_mut(range).ok_or(EINVAL)?)
    })
}

/// Copies `src` to `offset` of the request data `segments`.
pub(crate) fn write_segments(segments: &[Segment], offset: u64, src: &[u8]) -> Result {
    for_range(segments, offset, src.len(), |segment, at, range| {
        segment.write_at(at, src.get(range).ok_or(EINVAL)?)
    })
}

/// The shadows not yet written back, by position on the data device.
pub(crate) struct Index {
    tree: RBTree<(u64, u64), Arc<Shadow>>,
}

impl Index {
    /// An empty index.
    pub(crate) fn new() -> Self {
        Index {
            tree: RBTree::new(),
        }
    }

    /// Forgets every shadow (a crash being simulated, or a failed log).
    pub(crate) fn clear(&mut self) {
        self.tree = RBTree::new();
    }

    /// Removes a shadow (after its writeback).
    pub(crate) fn remove(&mut self, shadow: &Shadow) -> Option<Arc<Shadow>> {
        self.tree.remove(&(shadow.pos, shadow.seq))
    }

    /// Calls `f` for every shadow overlapping `[pos, pos + len)`, in position order.
    pub(crate) fn for_overlapping(
        &mut self,
        pos: u64,
        len: u64,
        mut f: impl FnMut(&Arc<Shadow>) -> Result,
    ) -> Result {
        let end = pos.saturating_add(len);
        // A shadow never crosses a RECORD_PAYLOAD_MAX boundary, so overlapping ones start in
        // the block of `pos` or later.
        let first = pos / RECORD_PAYLOAD_MAX * RECORD_PAYLOAD_MAX;
        let mut cursor = self.tree.cursor_lower_bound(&(first, 0));
        while let Some(c) = cursor {
            let (&(start, _), shadow) = c.current();
            if start >= end {
                break;
            }
            if shadow.end() > pos {
                f(shadow)?;
            }
            cursor = c.move_next();
        }
        Ok(())
    }

    /// Whether a shadow older than `shadow` overlaps it (its writeback must come first).
    pub(crate) fn has_older_overlap(&mut self, shadow: &Shadow) -> bool {
        let mut found = false;
        let _ = self.for_overlapping(shadow.pos, u64::from(shadow.len), |other| {
            if other.seq < shadow.seq {
                found = true;
            }
            Ok(())
        });
        found
    }
}
