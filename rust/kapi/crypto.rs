// SPDX-License-Identifier: GPL-2.0
//! Synchronous message digests of the kernel crypto API (`crypto_shash`): MD5 and SHA1 for
//! the log digests, looked up by name as the original MARS does, and SHA-256 for the
//! handshake's HMAC (the kernel has no `hmac` template configured; core builds HMAC over it).
//!
//! A transform is allocated once (it may sleep and load modules) and then digests whole
//! buffers with `crypto_shash_tfm_digest`, which puts its descriptor on the stack: no
//! allocation, no sleeping, usable in atomic context, and safe to call concurrently on one
//! transform (unkeyed hashes keep all per-call state in the descriptor).

use core::ptr::NonNull;

use super::bindings;
use kernel::error::{code::EINVAL, from_err_ptr, to_result};
use kernel::prelude::*;

/// A `crypto_shash` transform whose digests are `N` bytes long; freed on drop.
///
/// # Invariants
/// `tfm` came from a successful `crypto_alloc_shash`, is freed only by `drop`, and its digest
/// size is `N`.
pub(crate) struct Shash<const N: usize> {
    tfm: NonNull<bindings::crypto_shash>,
}

// SAFETY: a transform is not tied to the thread that allocated it; it may be freed anywhere.
unsafe impl<const N: usize> Send for Shash<N> {}
// SAFETY: the only operation through `&Shash` is `digest`, and `crypto_shash_tfm_digest` on an
// unkeyed transform keeps all mutable state in its on-stack descriptor, so concurrent calls
// do not interfere.
unsafe impl<const N: usize> Sync for Shash<N> {}

impl<const N: usize> Shash<N> {
    /// Allocates the transform for the algorithm `name` (e.g. `c_str!("md5")`). Fails with the
    /// crypto API's error (`ENOENT` when the kernel lacks the algorithm), or `EINVAL` if its
    /// digest is not `N` bytes. May sleep.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string valid for the call; type and mask 0 ask for
        // any synchronous implementation.
        let raw = from_err_ptr(unsafe { bindings::crypto_alloc_shash(name.as_char_ptr(), 0, 0) })?;
        let tfm = NonNull::new(raw).ok_or(EINVAL)?;
        // SAFETY: `tfm` is a live transform, just allocated.
        let size = unsafe { bindings::mars_helper_crypto_shash_digestsize(tfm.as_ptr()) };
        if usize::try_from(size).ok() != Some(N) {
            // SAFETY: `tfm` is live and not used after this call.
            unsafe { bindings::mars_helper_crypto_free_shash(tfm.as_ptr()) };
            return Err(EINVAL);
        }
        // INVARIANT: allocated above, digest size checked to be `N`.
        Ok(Shash { tfm })
    }

    /// The digest of `data`. Does not sleep or allocate. Fails with `EINVAL` for inputs of
    /// 4 GiB or more (the length is an unsigned int), else with the algorithm's error.
    pub(crate) fn digest(&self, data: &[u8]) -> Result<[u8; N]> {
        let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        let mut out = [0u8; N];
        // SAFETY: by the type invariant `tfm` is live and writes exactly `N` bytes to `out`,
        // which has room for them; `data` is readable for `len` bytes.
        to_result(unsafe {
            bindings::crypto_shash_tfm_digest(
                self.tfm.as_ptr(),
                data.as_ptr(),
                len,
                out.as_mut_ptr(),
            )
        })?;
        Ok(out)
    }
}

impl<const N: usize> Drop for Shash<N> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `tfm` is live, and nothing uses it after drop.
        unsafe { bindings::mars_helper_crypto_free_shash(self.tfm.as_ptr()) };
    }
}

impl crate::mars_core::auth::Sha256 for Shash<32> {
    fn sha256(&self, data: &[u8]) -> Option<[u8; 32]> {
        self.digest(data).ok()
    }
}

/// A SHA-256 transform (for [`crate::mars_core::auth`]). Allocates (GFP_KERNEL, may sleep).
pub(crate) fn sha256() -> Result<Shash<32>> {
    Shash::<32>::new(kernel::c_str!("sha256"))
}

/// The MD5 digest of `data` (what the version links need), `None` when the kernel has no MD5
/// or `data` is 4 GiB or longer. Allocates a transform (GFP_KERNEL, may sleep): process
/// context only, inside a NoIo scope on the IO path.
pub(crate) fn md5(data: &[u8]) -> Option<[u8; 16]> {
    Shash::<16>::new(kernel::c_str!("md5"))
        .ok()?
        .digest(data)
        .ok()
}
