// SPDX-License-Identifier: GPL-2.0
//! Requests the logger originates on its data input (writebacks, replayed records, flushes),
//! and the queue through which their completions reach the logger's thread.
//!
//! Each request is an [`OwnIo`] in a box of its own (the logger's aspect): the `Mref` with
//! segments over the shadows or pages it carries, which it keeps alive. Completion may run in
//! hardirq context, so it only moves the box into a [`Completions`] queue (interrupt-safe
//! lock, room reserved in advance) and wakes the waiting thread; everything else (index,
//! replay position, memory) happens in that thread.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::ring::Ring;
use super::shadow::Shadow;
use crate::brick::{Flags, Input, Mref, MrefIo, MrefOwner, Op};
use crate::kapi::kthread::{WaitEvent, WakeReason};
use crate::kapi::mm::PageBuf;
use crate::kapi::sync::IrqSpinLock;
use kernel::error::code::{EBUSY, EINVAL, ENOMEM};
use kernel::prelude::*;
use kernel::sync::Arc;

/// What an own request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Writes shadows back to the data device.
    Writeback,
    /// Writes one replayed record.
    Replay,
    /// Flushes the data device's cache (before the replay position may move on).
    Flush,
}

/// One request of the logger's own.
pub(crate) struct OwnIo {
    mref: Mref,
    /// What it is for.
    pub(crate) purpose: Purpose,
    /// The shadows a writeback carries, in order.
    pub(crate) shadows: KVec<Arc<Shadow>>,
    /// The pages a replayed record is carried in (kept alive until completion).
    _pages: KVec<PageBuf>,
    completions: Arc<Completions>,
}

impl OwnIo {
    /// Byte position of the request.
    pub(crate) fn pos(&self) -> u64 {
        self.mref.pos()
    }

    /// A writeback of `shadows`, which must be contiguous on the device and in position
    /// order (allocates: use a NoIo scope). Gives the shadows back on failure.
    pub(crate) fn writeback(
        shadows: KVec<Arc<Shadow>>,
        completions: &Arc<Completions>,
    ) -> core::result::Result<KBox<Self>, (KVec<Arc<Shadow>>, Error)> {
        let slot = match KBox::<OwnIo>::new_uninit(GFP_KERNEL) {
            Ok(slot) => slot,
            Err(_) => return Err((shadows, ENOMEM)),
        };
        match Self::writeback_mref(&shadows) {
            Ok(mref) => Ok(slot.write(OwnIo {
                mref,
                purpose: Purpose::Writeback,
                shadows,
                _pages: KVec::new(),
                completions: completions.clone(),
            })),
            Err(e) => Err((shadows, e)),
        }
    }

    fn writeback_mref(shadows: &[Arc<Shadow>]) -> Result<Mref> {
        let mut mref = Mref::new(shadows.len())?;
        let first = shadows.first().ok_or(EINVAL)?;
        let pos = first.pos;
        let mut len = 0u32;
        for shadow in shadows.iter() {
            if u64::from(len).checked_add(pos) != Some(shadow.pos) {
                return Err(EINVAL);
            }
            // SAFETY: the caller moves `shadows` into the request, which keeps them until its
            // completion.
            let segment = unsafe { shadow.segment()? };
            mref.segments_mut().push(segment, GFP_KERNEL)?;
            len = len.checked_add(shadow.len).ok_or(EINVAL)?;
        }
        mref.prepare(Op::Write, pos, len, Flags::default())?;
        Ok(mref)
    }

    /// A write of `data` at `pos` (a replayed record; allocates: use a NoIo scope).
    pub(crate) fn replay(
        pos: u64,
        data: &[u8],
        completions: &Arc<Completions>,
    ) -> Result<KBox<Self>> {
        let pieces = data.len().div_ceil(PageBuf::SIZE);
        let mut mref = Mref::new(pieces)?;
        let mut pages = KVec::with_capacity(pieces, GFP_KERNEL)?;
        for chunk in data.chunks(PageBuf::SIZE) {
            let mut page = PageBuf::new()?;
            page.with_mut(|bytes| {
                bytes
                    .get_mut(..chunk.len())
                    .map(|dst| dst.copy_from_slice(chunk))
            });
            pages.push(page, GFP_KERNEL)?;
        }
        for (page, chunk) in pages.iter().zip(data.chunks(PageBuf::SIZE)) {
            let len = u32::try_from(chunk.len()).map_err(|_| EINVAL)?;
            // SAFETY: `pages` moves into the request below and lives until its completion.
            mref.segments_mut()
                .push(unsafe { page.segment(0, len)? }, GFP_KERNEL)?;
        }
        let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        mref.prepare(Op::Write, pos, len, Flags::default())?;
        Ok(KBox::new(
            OwnIo {
                mref,
                purpose: Purpose::Replay,
                shadows: KVec::new(),
                _pages: pages,
                completions: completions.clone(),
            },
            GFP_KERNEL,
        )?)
    }

    /// A cache flush of the data device (allocates: use a NoIo scope).
    pub(crate) fn flush(completions: &Arc<Completions>) -> Result<KBox<Self>> {
        let mut mref = Mref::new(0)?;
        mref.prepare(Op::Flush, 0, 0, Flags::default())?;
        Ok(KBox::new(
            OwnIo {
                mref,
                purpose: Purpose::Flush,
                shadows: KVec::new(),
                _pages: KVec::new(),
                completions: completions.clone(),
            },
            GFP_KERNEL,
        )?)
    }

    /// Submits the request on `input`; its completion goes to its queue. Gives the request
    /// back when the queue has no room for one more in flight (take completions and retry).
    pub(crate) fn submit(self: KBox<Self>, input: &Input) -> core::result::Result<(), KBox<Self>> {
        if self.completions.reserve().is_err() {
            return Err(self);
        }
        input.io(MrefIo::new(OwnHandle(self)));
        Ok(())
    }
}

/// The owner handle of an [`OwnIo`] in flight.
struct OwnHandle(KBox<OwnIo>);

// SAFETY: the `Mref` lives inside the box, whose heap address does not change while the box
// is given up as a raw pointer; `from_raw` restores exactly that box.
unsafe impl MrefOwner for OwnHandle {
    fn mref(&self) -> &Mref {
        &self.0.mref
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self.0).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` of a `KBox<OwnIo>`.
        OwnHandle(unsafe { KBox::from_raw(raw.cast()) })
    }

    fn done(self, status: Result) {
        let completions = self.0.completions.clone();
        completions.push(self.0, status);
        // `completions` is dropped last; its drop never sleeps.
    }
}

/// Where completed own requests wait for their thread.
///
/// Dropping it never sleeps (completions may hold the last reference).
#[pin_data]
pub(crate) struct Completions {
    #[pin]
    event: WaitEvent,
    #[pin]
    done: IrqSpinLock<Ring<(KBox<OwnIo>, Result)>>,
    /// Requests submitted and not yet taken back with [`Completions::take`].
    in_flight: AtomicUsize,
    capacity: usize,
    /// Writes of others passed to the data device directly (the logger's emergency bypass)
    /// and not yet completed.
    direct: AtomicUsize,
}

impl Completions {
    /// A queue for at most `capacity` requests in flight, whose thread waits on its event.
    pub(crate) fn new(capacity: usize) -> Result<Arc<Self>> {
        let ring = Ring::new(capacity)?;
        Arc::pin_init(
            pin_init!(Completions {
                event <- WaitEvent::new(),
                done <- IrqSpinLock::new(ring),
                in_flight: AtomicUsize::new(0),
                capacity,
                direct: AtomicUsize::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// The event the thread waits on (others may wake it for their own reasons too).
    pub(crate) fn event(&self) -> &WaitEvent {
        &self.event
    }

    /// Reserves room for one more request in flight; EBUSY when full (wait and retry).
    fn reserve(&self) -> Result {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if n >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Requests in flight (reserved and not yet taken back).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one more direct write in flight (before submitting it).
    pub(crate) fn direct_started(&self) {
        self.direct.fetch_add(1, Ordering::AcqRel);
    }

    /// A direct write completed (any context): wakes the thread.
    pub(crate) fn direct_done(&self) {
        self.direct.fetch_sub(1, Ordering::AcqRel);
        self.event.wake();
    }

    /// Direct writes in flight.
    pub(crate) fn direct_in_flight(&self) -> usize {
        self.direct.load(Ordering::Acquire)
    }

    /// Whether completed requests wait to be taken.
    pub(crate) fn has_done(&self) -> bool {
        !self.done.lock().is_empty()
    }

    fn push(&self, io: KBox<OwnIo>, status: Result) {
        // Room was reserved at submission, so this cannot fail; if it did, dropping the request
        // here would only lose its bookkeeping, never memory.
        let _ = self.done.lock().push_back((io, status));
        self.event.wake();
    }

    /// Takes one completed request back.
    pub(crate) fn take(&self) -> Option<(KBox<OwnIo>, Result)> {
        let taken = self.done.lock().pop_front();
        if taken.is_some() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        taken
    }

    /// Waits (uninterruptibly, in short slices, also in a thread asked to stop) until every
    /// request in flight completed, and gives each to `f`.
    pub(crate) fn drain(&self, mut f: impl FnMut(KBox<OwnIo>, Result)) {
        loop {
            while let Some((io, status)) = self.take() {
                f(io, status);
            }
            if self.in_flight() == 0 {
                return;
            }
            // `has_done` takes a spinlock: fine in a wait condition (it does not sleep).
            let _: WakeReason = self.event.wait(None, 100, || self.has_done());
        }
    }
}
