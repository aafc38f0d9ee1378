// SPDX-License-Identifier: GPL-2.0
//! LZO1X from the kernel's lib/lzo: the format the original MARS prefers for log compression
//! (`lzo1x_1_compress`; the "lzo-rle" variant is not used).
//!
//! Decompression needs no state. Compression needs `LZO1X_1_MEM_COMPRESS` bytes (16 KiB) of
//! work memory, owned by an [`LzoWorkmem`] and borrowed mutably for each call. Neither
//! direction sleeps or allocates.

use super::bindings;
use kernel::prelude::*;

/// Work memory for [`LzoWorkmem::compress`].
///
/// # Invariants
/// `mem` holds at least `LZO1X_1_MEM_COMPRESS` bytes, aligned for `u64`.
pub(crate) struct LzoWorkmem {
    mem: KVVec<u64>,
}

impl LzoWorkmem {
    /// Allocates the work memory. May sleep with `GFP_KERNEL`.
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        let words = bindings::MARS_LZO1X_1_MEM_COMPRESS.div_ceil(core::mem::size_of::<u64>());
        // INVARIANT: `words` u64s cover `LZO1X_1_MEM_COMPRESS` bytes.
        Ok(LzoWorkmem {
            mem: KVVec::from_elem(0, words, flags)?,
        })
    }

    /// Compresses `src` into `dst`. Returns the compressed length, or `None` if the result
    /// does not fit into `dst` (then `dst` holds garbage).
    pub(crate) fn compress(&mut self, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        let mut dst_len = dst.len();
        // SAFETY: `src` is readable for `src.len()` bytes and `dst` writable for `dst_len`
        // bytes; the _safe variant writes no more than `dst_len` bytes and reads nothing else
        // but the work memory, which by the type invariant is large and aligned enough, and
        // exclusively ours through `&mut self`. `dst_len` is a valid place for the result.
        let status = unsafe {
            bindings::lzo1x_1_compress_safe(
                src.as_ptr(),
                src.len(),
                dst.as_mut_ptr(),
                &mut dst_len,
                self.mem.as_mut_ptr().cast(),
            )
        };
        (status == bindings::MARS_LZO_E_OK && dst_len > 0 && dst_len <= dst.len())
            .then_some(dst_len)
    }
}

/// Decompresses the LZO1X stream `src` into `dst`. Returns the decompressed length, or `None`
/// on malformed input, input not consumed to its end, or output that does not fit into `dst`.
/// Safe on any input.
pub(crate) fn decompress(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    let mut dst_len = dst.len();
    // SAFETY: `src` is readable for `src.len()` bytes and `dst` writable for `dst_len` bytes;
    // lzo1x_decompress_safe checks every read and write against these bounds, whatever the
    // input, and stores the output length in `dst_len`.
    let status = unsafe {
        bindings::lzo1x_decompress_safe(src.as_ptr(), src.len(), dst.as_mut_ptr(), &mut dst_len)
    };
    (status == bindings::MARS_LZO_E_OK && dst_len <= dst.len()).then_some(dst_len)
}
