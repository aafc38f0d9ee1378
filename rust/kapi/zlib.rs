// SPDX-License-Identifier: GPL-2.0
//! zlib from the kernel's lib/zlib_{inflate,deflate}: whole zlib streams (with header), as the
//! original MARS compresses log records with `zlib_deflateInit(level)`.
//!
//! Each direction needs a workspace (about 43 KiB to inflate, 260 KiB to deflate), owned by an
//! [`Inflater`] or [`Deflater`] and borrowed mutably for each call. The calls neither sleep nor
//! allocate, but deflating is slow (tens of microseconds per 4 KiB and more under emulation).

use super::bindings;
use kernel::error::code::{EINVAL, ENOSPC};
use kernel::prelude::*;

/// A workspace of at least `bytes` bytes, `u64`-aligned.
fn workspace(bytes: usize, flags: kernel::alloc::Flags) -> Result<KVVec<u64>> {
    Ok(KVVec::from_elem(
        0,
        bytes.div_ceil(core::mem::size_of::<u64>()),
        flags,
    )?)
}

/// Maps a helper's return value: the output length, or the error it names.
fn result(ret: isize, dst_len: usize) -> Result<usize> {
    match usize::try_from(ret) {
        Ok(n) if n <= dst_len => Ok(n),
        Ok(_) => Err(EINVAL),
        Err(_) if ret == isize::try_from(ENOSPC.to_errno()).unwrap_or(0) => Err(ENOSPC),
        Err(_) => Err(EINVAL),
    }
}

/// Decompression of zlib streams.
///
/// # Invariants
/// `ws` holds at least `zlib_inflate_workspacesize()` bytes.
pub(crate) struct Inflater {
    ws: KVVec<u64>,
}

impl Inflater {
    /// Allocates the workspace. May sleep with `GFP_KERNEL`.
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        // SAFETY: the helper only returns a constant.
        let bytes = unsafe { bindings::mars_helper_zlib_inflate_workspacesize() };
        // INVARIANT: sized as zlib asks.
        Ok(Inflater {
            ws: workspace(bytes, flags)?,
        })
    }

    /// Inflates the zlib stream `src` into `dst`. Returns the decompressed length; `EINVAL`
    /// for a malformed stream or one that does not end within `src`, `ENOSPC` when the output
    /// does not fit into `dst`. Safe on any input.
    pub(crate) fn inflate(&mut self, src: &[u8], dst: &mut [u8]) -> Result<usize> {
        // SAFETY: the workspace is large enough (type invariant) and exclusively ours through
        // `&mut self`; `src` is readable for `src.len()` and `dst` writable for `dst.len()`
        // bytes, and zlib_inflate never reads or writes outside them (avail_in/avail_out).
        let ret = unsafe {
            bindings::mars_helper_zlib_inflate(
                self.ws.as_mut_ptr().cast(),
                src.as_ptr().cast(),
                src.len(),
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        result(ret, dst.len())
    }
}

/// Compression into zlib streams.
///
/// # Invariants
/// `ws` holds at least `zlib_deflate_workspacesize(MAX_WBITS, DEF_MEM_LEVEL)` bytes.
pub(crate) struct Deflater {
    ws: KVVec<u64>,
}

impl Deflater {
    /// Allocates the workspace. May sleep with `GFP_KERNEL`.
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        // SAFETY: the helper only returns a constant.
        let bytes = unsafe { bindings::mars_helper_zlib_deflate_workspacesize() };
        // INVARIANT: sized as zlib asks for the parameters the helper uses.
        Ok(Deflater {
            ws: workspace(bytes, flags)?,
        })
    }

    /// Deflates `src` at `level` (1..=9) into `dst`. Returns the compressed length; `ENOSPC`
    /// when the result does not fit into `dst` (then `dst` holds garbage).
    pub(crate) fn deflate(&mut self, level: i32, src: &[u8], dst: &mut [u8]) -> Result<usize> {
        let level = level.clamp(1, 9);
        // SAFETY: as for `Inflater::inflate`; zlib_deflate writes at most `dst.len()` bytes.
        let ret = unsafe {
            bindings::mars_helper_zlib_deflate(
                self.ws.as_mut_ptr().cast(),
                level,
                src.as_ptr().cast(),
                src.len(),
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        result(ret, dst.len())
    }
}
