// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's requests of its own over an application request's pages: reads that
//! get newer data from the shadows copied over them, and writes passed to the data device
//! directly in emergency mode (bypass).

use super::queue::Core;
use crate::brick::{Mref, MrefIo, MrefOwner, Op};
use crate::logger::own_io::Completions;
use crate::logger::shadow::Shadow;
use kernel::error::code::{EIO, ENOMEM};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A read passed to the data device in a request of our own (same pages), so that its
/// completion can copy newer data over it.
pub(super) struct ReadAspect {
    pub(super) parent: MrefIo,
    pub(super) child: Mref,
    pub(super) shadows: KVec<Arc<Shadow>>,
}

impl ReadAspect {
    pub(super) fn new(
        parent: MrefIo,
        shadows: KVec<Arc<Shadow>>,
    ) -> core::result::Result<KBox<Self>, (MrefIo, Error)> {
        // Allocate first: a failure must leave the parent with us.
        let slot = match KBox::<ReadAspect>::new_uninit(GFP_KERNEL) {
            Ok(slot) => slot,
            Err(_) => return Err((parent, ENOMEM)),
        };
        match alias_child(&parent, Op::Read) {
            Ok(child) => Ok(slot.write(ReadAspect {
                parent,
                child,
                shadows,
            })),
            Err(e) => Err((parent, e)),
        }
    }
}

// SAFETY: the child `Mref` lives in the box, whose heap address does not change while the box
// is given up; `from_raw` restores exactly that box.
unsafe impl MrefOwner for KBox<ReadAspect> {
    fn mref(&self) -> &Mref {
        &self.child
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` above.
        unsafe { KBox::from_raw(raw.cast()) }
    }

    fn done(self, status: Result) {
        let ReadAspect {
            parent,
            child,
            shadows,
        } = KBox::into_inner(self);
        let (pos, len) = (parent.pos(), u64::from(parent.len()));
        let status = status.and_then(|()| {
            shadows
                .iter()
                .try_for_each(|shadow| shadow.overlay(pos, len, parent.segments()))
                .map_err(|_| EIO)
        });
        // The child's segments alias the parent's pages: gone before the parent completes.
        drop(child);
        parent.complete(status);
    }
}

/// A request of our own for `op` over the pages of `parent` (same position, length and
/// flags). Its completion must come before `parent` is completed.
pub(super) fn alias_child(parent: &MrefIo, op: Op) -> Result<Mref> {
    let mut child = Mref::new(parent.segments().len())?;
    for segment in parent.segments() {
        // SAFETY: the alias is only used by the child request, which completes before the
        // parent (the callers complete the parent in the child's completion, after dropping
        // the child).
        child
            .segments_mut()
            .push(unsafe { segment.alias() }, GFP_KERNEL)?;
    }
    child.prepare(op, parent.pos(), parent.len(), parent.flags())?;
    Ok(child)
}

/// A write or flush of the application passed to the data device directly in emergency
/// mode (bypass), in a request of our own over the same pages so that its completion is
/// counted (resuming waits for it).
pub(super) struct DirectAspect {
    pub(super) parent: MrefIo,
    pub(super) child: Mref,
    pub(super) completions: Arc<Completions>,
}

impl DirectAspect {
    pub(super) fn new(
        parent: MrefIo,
        completions: Arc<Completions>,
    ) -> core::result::Result<KBox<Self>, (MrefIo, Error)> {
        let slot = match KBox::<DirectAspect>::new_uninit(GFP_KERNEL) {
            Ok(slot) => slot,
            Err(_) => return Err((parent, ENOMEM)),
        };
        let op = parent.op();
        match alias_child(&parent, op) {
            Ok(child) => Ok(slot.write(DirectAspect {
                parent,
                child,
                completions,
            })),
            Err(e) => Err((parent, e)),
        }
    }
}

// SAFETY: the child `Mref` lives in the box, whose heap address does not change while the box
// is given up; `from_raw` restores exactly that box.
unsafe impl MrefOwner for KBox<DirectAspect> {
    fn mref(&self) -> &Mref {
        &self.child
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` above.
        unsafe { KBox::from_raw(raw.cast()) }
    }

    fn done(self, status: Result) {
        let DirectAspect {
            parent,
            child,
            completions,
        } = KBox::into_inner(self);
        // The child's segments alias the parent's pages: gone before the parent completes.
        drop(child);
        parent.complete(status);
        completions.direct_done();
        // `completions` is dropped last; its drop never sleeps.
    }
}

/// Passes `io` to the data device directly (emergency bypass), counted in flight.
pub(super) fn submit_direct(core: &Core, io: MrefIo) {
    match DirectAspect::new(io, core.completions.clone()) {
        Ok(aspect) => {
            core.completions.direct_started();
            core.data.io(MrefIo::new(aspect));
        }
        Err((io, e)) => io.complete(Err(e)),
    }
}
