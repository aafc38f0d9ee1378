// SPDX-License-Identifier: GPL-2.0
//! LZ4 from the kernel's lib/lz4: raw blocks (no frame, no size prefix), the format MARS
//! records carry.
//!
//! Decompression needs no state. Compression needs `LZ4_MEM_COMPRESS` bytes (16 KiB) of work
//! memory, owned by an [`Lz4Workmem`] and borrowed mutably for each call; who shares one and
//! under which lock is the caller's policy. Neither direction sleeps or allocates.

use super::bindings;
use kernel::prelude::*;

/// Work memory for [`Lz4Workmem::compress`].
///
/// # Invariants
/// `mem` holds at least `LZ4_MEM_COMPRESS` bytes, aligned for `u64` (the alignment of the
/// `LZ4_stream_t` that LZ4 keeps in it).
pub(crate) struct Lz4Workmem {
    mem: KVVec<u64>,
}

impl Lz4Workmem {
    /// Allocates the work memory. May sleep with `GFP_KERNEL`.
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        // SAFETY: the helper only returns a constant.
        let bytes = unsafe { bindings::mars_helper_lz4_mem_compress() };
        let words = bytes.div_ceil(core::mem::size_of::<u64>());
        // INVARIANT: `words` u64s cover `LZ4_MEM_COMPRESS` bytes.
        Ok(Lz4Workmem {
            mem: KVVec::from_elem(0, words, flags)?,
        })
    }

    /// Compresses `src` into `dst`. Returns the compressed length, or `None` if the result
    /// does not fit into `dst` (LZ4 then stops early and `dst` holds garbage) or `src` is
    /// longer than LZ4 accepts.
    pub(crate) fn compress(&mut self, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        let src_len = i32::try_from(src.len()).ok()?;
        // A larger buffer than i32::MAX is only partly used; LZ4 never writes past the limit.
        let dst_len = i32::try_from(dst.len()).unwrap_or(i32::MAX);
        // SAFETY: `src` is readable for `src_len` bytes and `dst` writable for `dst_len` bytes;
        // LZ4_compress_default reads and writes nothing else but the work memory, which by the
        // type invariant is large and aligned enough, and exclusively ours through `&mut self`.
        let written = unsafe {
            bindings::LZ4_compress_default(
                src.as_ptr(),
                dst.as_mut_ptr(),
                src_len,
                dst_len,
                self.mem.as_mut_ptr().cast(),
            )
        };
        // 0 means "did not fit" (or empty input, which MARS never compresses).
        usize::try_from(written).ok().filter(|&n| n > 0)
    }
}

/// Decompresses the LZ4 block `src` into `dst`. Returns the decompressed length, or `None` on
/// malformed input or output that does not fit into `dst`. Safe on any input.
pub(crate) fn decompress(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    let src_len = i32::try_from(src.len()).ok()?;
    let dst_len = i32::try_from(dst.len()).unwrap_or(i32::MAX);
    // SAFETY: `src` is readable for `src_len` bytes and `dst` writable for `dst_len` bytes;
    // LZ4_decompress_safe never reads or writes outside them, whatever the input.
    let written =
        unsafe { bindings::LZ4_decompress_safe(src.as_ptr(), dst.as_mut_ptr(), src_len, dst_len) };
    usize::try_from(written).ok()
}
