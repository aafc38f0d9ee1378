// SPDX-License-Identifier: GPL-2.0
//! The IO request object (the original's `mref`) and the in-flight handle that carries it
//! from brick to brick.
//!
//! An [`Mref`] lives inside its originator's per-request state (the originator's aspect): for
//! the if brick that is the blk-mq per-request data, preallocated with each tag, so the IO
//! path allocates nothing. The originator wraps its handle on that state into an [`MrefIo`]
//! and passes it down an [`Input`](super::Input). Whoever holds the `MrefIo` may read the
//! request and must complete it exactly once; completing hands the status and the ownership
//! back to the originator's [`MrefOwner::done`].

use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::kapi::bio::Segment;
use kernel::error::code::{EINVAL, EIO};
use kernel::prelude::*;

/// What a request does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// Read `len` bytes at `pos` into the segments.
    Read,
    /// Write the segments' `len` bytes at `pos`.
    Write,
    /// Make every write completed so far durable (no data, `len` 0).
    Flush,
}

/// Modifiers of a request (bit positions are not a format: the original's wire and log
/// flags live in `mars_core`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Flags(u8);

impl Flags {
    /// Forced unit access: a write is durable when it completes.
    pub(crate) const FUA: Flags = Flags(1);
    /// Somebody waits for this request (the opposite of the original's SKIP_SYNC).
    pub(crate) const SYNC: Flags = Flags(2);

    /// Whether every flag of `other` is set.
    pub(crate) fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// One IO request: operation, byte range and the pages holding the data (the length is the
/// segments' total, checked by [`Mref::prepare`]).
///
/// The data are page segments owned by the originator (the caller's pages for the if brick:
/// zero copy). Unlike the original there is no callee-allocated ("buffered") data and no
/// `mref_get` that may shorten the request: a callee takes the whole request; a brick that
/// needs smaller units splits internally and completes the request when all parts are done.
pub(crate) struct Mref {
    op: Op,
    pos: u64,
    flags: Flags,
    segments: KVec<Segment>,
}

impl Mref {
    /// An empty request with room for `max_segments` segments (allocates; setup time only).
    pub(crate) fn new(max_segments: usize) -> Result<Self> {
        Ok(Mref {
            op: Op::Flush,
            pos: 0,
            flags: Flags::default(),
            segments: KVec::with_capacity(max_segments, GFP_KERNEL)?,
        })
    }

    /// The segment storage, for the originator to fill before [`Mref::prepare`].
    pub(crate) fn segments_mut(&mut self) -> &mut KVec<Segment> {
        &mut self.segments
    }

    /// Describes the request. EINVAL unless `len` is the segments' total (and 0 without
    /// segments for a flush).
    pub(crate) fn prepare(&mut self, op: Op, pos: u64, len: u32, flags: Flags) -> Result {
        let total = self
            .segments
            .iter()
            .try_fold(0u32, |sum, s| sum.checked_add(s.len()));
        let consistent = match op {
            Op::Flush => len == 0 && self.segments.is_empty(),
            Op::Read | Op::Write => {
                len > 0 && total == Some(len) && pos.checked_add(u64::from(len)).is_some()
            }
        };
        if !consistent {
            return Err(EINVAL);
        }
        self.op = op;
        self.pos = pos;
        self.flags = flags;
        Ok(())
    }

    /// The operation.
    pub(crate) fn op(&self) -> Op {
        self.op
    }

    /// Byte position on the device.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Length in bytes (the segments' total; 0 for a flush).
    pub(crate) fn len(&self) -> u32 {
        // `prepare` checked that the sum fits.
        self.segments
            .iter()
            .fold(0u32, |sum, s| sum.saturating_add(s.len()))
    }

    /// Modifiers.
    pub(crate) fn flags(&self) -> Flags {
        self.flags
    }

    /// The data, in order.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

/// The originator's handle on the storage of an [`Mref`] (its aspect), e.g. a blk-mq request
/// or a `Pin<KBox<_>>`.
///
/// # Safety
/// Implementors guarantee that the `Mref` returned by [`MrefOwner::mref`] stays valid, at
/// the same address and unmodified from [`MrefOwner::into_raw`] until the value is restored
/// by [`MrefOwner::from_raw`] (so the handle must point to the storage, not contain it), and
/// that `from_raw` restores exactly the value given to `into_raw`.
pub(crate) unsafe trait MrefOwner: Send + Sized {
    /// The request.
    fn mref(&self) -> &Mref;
    /// Gives up the handle while the request is in flight.
    fn into_raw(self) -> *mut kernel::ffi::c_void;
    /// Takes the handle back.
    ///
    /// # Safety
    /// `raw` comes from [`MrefOwner::into_raw`] of this type and is restored only once.
    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self;
    /// The request completed with `status`. Runs in the completer's context, which may be
    /// atomic (softirq, hardirq): must not sleep.
    fn done(self, status: Result);
}

/// A request in flight: the right and the duty to complete it, exactly once.
///
/// Moving it down the graph moves that duty; it is not `Clone`. Dropping it without
/// completing completes it with EIO (and logs), so a request cannot get lost.
///
/// # Invariants
/// `raw` holds an [`MrefOwner`] given up with `into_raw`, `done` is that type's completion
/// trampoline, and `mref` points to its `Mref`, valid until `done` runs.
pub(crate) struct MrefIo {
    mref: NonNull<Mref>,
    raw: *mut kernel::ffi::c_void,
    done: unsafe fn(*mut kernel::ffi::c_void, Result),
}

// SAFETY: the owner is `Send` and the request is only read (`Mref` is `Sync`).
unsafe impl Send for MrefIo {}
// SAFETY: `&MrefIo` only gives `&Mref`.
unsafe impl Sync for MrefIo {}

impl MrefIo {
    /// Puts `owner`'s request in flight.
    pub(crate) fn new<O: MrefOwner>(owner: O) -> Self {
        let mref = NonNull::from(owner.mref());
        let raw = owner.into_raw();
        // INVARIANT: `mref` stays valid while the owner is raw (`MrefOwner` contract).
        MrefIo {
            mref,
            raw,
            done: done_trampoline::<O>,
        }
    }

    /// Completes the request with `status` and gives it back to its originator. Any context.
    pub(crate) fn complete(self, status: Result) {
        let this = ManuallyDrop::new(self);
        // SAFETY: by the type invariant `done` matches `raw`; `self` is consumed without
        // running Drop, so this is the only completion.
        unsafe { (this.done)(this.raw, status) };
    }
}

impl Deref for MrefIo {
    type Target = Mref;

    fn deref(&self) -> &Mref {
        // SAFETY: valid until completion by the type invariant; completion consumes `self`.
        unsafe { self.mref.as_ref() }
    }
}

impl Drop for MrefIo {
    fn drop(&mut self) {
        pr_err!("mref dropped without completion; completing it with EIO\n");
        // SAFETY: as in `complete`; Drop runs at most once and only when `complete` did not.
        unsafe { (self.done)(self.raw, Err(EIO)) };
    }
}

/// Restores the owner of type `O` and completes it.
///
/// # Safety
/// `raw` comes from `O::into_raw` and is used once.
unsafe fn done_trampoline<O: MrefOwner>(raw: *mut kernel::ffi::c_void, status: Result) {
    // SAFETY: per the function contract.
    let owner = unsafe { O::from_raw(raw) };
    owner.done(status);
}
