// SPDX-License-Identifier: GPL-2.0
//! Hashes from the kernel's crypto API. For now only MD5, which the version links need (their
//! digest is MD5 over the link's data, as in the original); the digests of log records use
//! lib/crc32c (`kapi::crc`).

use core::ptr::NonNull;

use super::bindings as helpers;
use kernel::c_str;
use kernel::error::from_err_ptr;

/// An MD5 transform, released on drop.
///
/// # Invariants
/// `tfm` came from a successful `crypto_alloc_shash("md5")`.
struct Md5Tfm {
    tfm: NonNull<helpers::crypto_shash>,
}

impl Drop for Md5Tfm {
    fn drop(&mut self) {
        // SAFETY: allocated by crypto_alloc_shash (type invariant), released once.
        unsafe { helpers::mars_helper_crypto_free_shash(self.tfm.as_ptr()) };
    }
}

/// The MD5 digest of `data`, `None` when the kernel has no MD5 or `data` is longer than
/// 4 GiB. Allocates (GFP_KERNEL): process context, in a NoIo scope on the IO path.
pub(crate) fn md5(data: &[u8]) -> Option<[u8; 16]> {
    let len = u32::try_from(data.len()).ok()?;
    // SAFETY: the name is NUL-terminated; type and mask 0 ask for any implementation.
    let tfm = from_err_ptr(unsafe { helpers::crypto_alloc_shash(c_str!("md5").as_char_ptr(), 0, 0) }).ok()?;
    // INVARIANT: a transform from crypto_alloc_shash.
    let tfm = Md5Tfm { tfm: NonNull::new(tfm)? };
    let mut out = [0u8; 16];
    // SAFETY: the transform is live; `data` has `len` readable bytes; MD5 writes its 16-byte
    // digest to `out`.
    let status = unsafe { helpers::crypto_shash_tfm_digest(tfm.tfm.as_ptr(), data.as_ptr(), len, out.as_mut_ptr()) };
    (status == 0).then_some(out)
}
