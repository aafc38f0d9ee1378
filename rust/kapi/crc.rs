// SPDX-License-Identifier: GPL-2.0
//! Checksums from the kernel's lib/ (crc32c from libcrc32c, accelerated where the CPU can).

use super::bindings;

/// CRC32C (Castagnoli) of `data`, continuing from `seed`, without the final inversion (the
/// kernel's convention: pass `!0` and invert the result for the standard check value).
pub(crate) fn crc32c(seed: u32, data: &[u8]) -> u32 {
    // crc32c takes an unsigned int length: feed slices longer than that piecewise.
    data.chunks(u32::MAX as usize).fold(seed, |crc, chunk| {
        // SAFETY: `chunk` is a valid readable slice of `chunk.len()` bytes, and its length
        // fits in u32 by construction of `chunks`.
        unsafe { bindings::crc32c(crc, chunk.as_ptr().cast(), chunk.len() as u32) }
    })
}
