// SPDX-License-Identifier: GPL-2.0
//! Memory: scopes in which allocations never recurse into block IO, the size of the RAM, and
//! single pages of memory owned by MARS (the transaction logger's shadow buffers), readable
//! and writable as byte slices and usable as IO segments.

use kernel::bindings;
use kernel::error::code::EINVAL;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

use super::bindings as helpers;
use super::bio::Segment;

/// While alive, every allocation of the current task behaves as GFP_NOIO
/// (`memalloc_noio_save`): memory reclaim started by it never issues block IO, which could
/// depend on the very thread that allocates (the IO path of a MARS device, or its log
/// writer). Scopes nest. Not `Send`: it belongs to the task that made it.
pub(crate) struct NoIoScope {
    flags: u32,
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl NoIoScope {
    /// Enters the scope (process context).
    pub(crate) fn enter() -> Self {
        // SAFETY: only sets a flag of the current task, returning the old state.
        let flags = unsafe { helpers::mars_helper_memalloc_noio_save() };
        NoIoScope {
            flags,
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: restores what `enter` saved, on the same task (the scope is not `Send`);
        // scopes are dropped in reverse order of entering (they are values on the stack).
        unsafe { helpers::mars_helper_memalloc_noio_restore(self.flags) };
    }
}

/// Bytes of RAM the kernel manages.
pub(crate) fn total_ram() -> u64 {
    let mut info = bindings::sysinfo::default();
    // SAFETY: `info` is a valid, writable sysinfo for the duration of the call.
    unsafe { bindings::si_meminfo(&mut info) };
    u64::try_from(info.totalram)
        .unwrap_or(0)
        .saturating_mul(u64::from(info.mem_unit))
}

/// One page of memory, read and written as bytes.
pub(crate) struct PageBuf {
    page: Page,
}

impl PageBuf {
    /// Bytes in a page.
    pub(crate) const SIZE: usize = PAGE_SIZE;

    /// Allocates a page (GFP_KERNEL: use a [`NoIoScope`] on the IO path).
    pub(crate) fn new() -> Result<Self> {
        Ok(PageBuf {
            page: Page::alloc_page(GFP_KERNEL)?,
        })
    }

    /// Runs `f` on the page's bytes.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the page is ours and allocated; on 64-bit every page is in the direct map,
        // so the mapping cannot fail. It is unmapped below, after the last use of the slice.
        let addr = unsafe { bindings::kmap_local_page(self.page.as_ptr()) };
        // SAFETY: `addr` maps PAGE_SIZE bytes; writers need `&mut self`, so none runs now.
        let result = f(unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), PAGE_SIZE) });
        // SAFETY: `addr` came from kmap_local_page just above, in this task.
        unsafe { bindings::kunmap_local(addr) };
        result
    }

    /// Runs `f` on the page's bytes, mutably.
    pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: as in `with`.
        let addr = unsafe { bindings::kmap_local_page(self.page.as_ptr()) };
        // SAFETY: `addr` maps PAGE_SIZE bytes; `&mut self` excludes every other access, also
        // IO through a segment (those are only made from `&self` while nothing writes).
        let result = f(unsafe { core::slice::from_raw_parts_mut(addr.cast::<u8>(), PAGE_SIZE) });
        // SAFETY: as in `with`.
        unsafe { bindings::kunmap_local(addr) };
        result
    }

    /// An IO segment over `len` bytes of the page from `offset`.
    ///
    /// # Safety
    /// The page must stay allocated and unmodified until every IO using the segment has
    /// completed (the caller keeps this `PageBuf` alive, e.g. in the request's aspect).
    pub(crate) unsafe fn segment(&self, offset: u32, len: u32) -> Result<Segment> {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if len == 0 || usize::try_from(end).map_or(true, |end| end > PAGE_SIZE) {
            return Err(EINVAL);
        }
        // SAFETY: the range lies inside the page; its lifetime is the caller's promise.
        Ok(unsafe { Segment::from_raw_page(self.page.as_ptr(), offset, len) })
    }
}
