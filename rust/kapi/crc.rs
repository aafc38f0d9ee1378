// SPDX-License-Identifier: GPL-2.0
//! Checksums from the kernel's lib/: crc32c from libcrc32c (accelerated where the CPU can)
//! and crc32_le from lib/crc32.c. Both are pure functions, callable in any context.

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

/// CRC32 (reflected IEEE polynomial, lib/crc32.c) of `data`, continuing from `seed`, without
/// any inversion. `crc32_le(0, data)` is what the crypto API's "crc32" computes, which the
/// original MARS used for its CRC32 digests.
pub(crate) fn crc32_le(seed: u32, data: &[u8]) -> u32 {
    // SAFETY: `data` is a valid readable slice of `data.len()` bytes; crc32_le takes a size_t
    // length, so any slice length fits.
    unsafe { bindings::crc32_le(seed, data.as_ptr(), data.len()) }
}
