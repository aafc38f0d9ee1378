// SPDX-License-Identifier: GPL-2.0
//! Random bytes from the kernel's CSPRNG (`get_random_bytes`), for the handshake nonces.

use kernel::bindings;

/// Fills `buf` with cryptographically secure random bytes. May be called from any context;
/// before the CRNG is seeded the bytes are weaker (the kernel warns about such early use).
pub(crate) fn fill(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call;
    // get_random_bytes writes exactly that many.
    unsafe { bindings::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) };
}

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}
