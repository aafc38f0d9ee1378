// SPDX-License-Identifier: GPL-2.0
//! The kernel's [`Digester`]: the hash functions the log format needs, from the kernel's lib/
//! and crypto API. Created at module load (allocating the crypto transforms may sleep); every
//! digest afterwards neither sleeps nor allocates, so the logger may call it in its IO path.
//!
//! | algorithm | backed by |
//! |---|---|
//! | CRC32C | lib `crc32c()` (libcrc32c; initial and final inversion added here) |
//! | CRC32  | lib `crc32_le(0, ..)`, which is what the crypto API's "crc32" computes |
//! | MD5    | crypto API "md5", `crypto_shash_tfm_digest` |
//! | SHA1   | crypto API "sha1", `crypto_shash_tfm_digest` |

use crate::kapi::crc::{crc32_le, crc32c};
use crate::kapi::crypto::Shash;
use crate::mars_core::digest::{CrcFlags, Digester};
use kernel::c_str;
use kernel::prelude::*;

/// Every digest of the log format the running kernel offers.
pub(crate) struct KernelDigester {
    md5: Option<Shash<16>>,
    sha1: Option<Shash<20>>,
}

impl KernelDigester {
    /// Looks up the crypto transforms. An algorithm the kernel lacks is left out (see
    /// [`Digester::available`]), as the original does. May sleep.
    pub(crate) fn new() -> Self {
        KernelDigester {
            md5: lookup(c_str!("md5")),
            sha1: lookup(c_str!("sha1")),
        }
    }
}

/// The transform for `name`, or `None` (with a note in the log) if the kernel lacks it.
fn lookup<const N: usize>(name: &CStr) -> Option<Shash<N>> {
    match Shash::new(name) {
        Ok(shash) => Some(shash),
        Err(err) => {
            pr_info!("digest {} unavailable: {:?}\n", name, err);
            None
        }
    }
}

impl Digester for KernelDigester {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        Some(!crc32c(!0, data))
    }

    fn crc32(&self, data: &[u8]) -> Option<u32> {
        Some(crc32_le(0, data))
    }

    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        self.md5.as_ref()?.digest(data).ok()
    }

    fn sha1(&self, data: &[u8]) -> Option<[u8; 20]> {
        self.sha1.as_ref()?.digest(data).ok()
    }

    fn available(&self) -> CrcFlags {
        let mut mask = CrcFlags::CRC32C.union(CrcFlags::CRC32);
        if self.md5.is_some() {
            mask = mask.union(CrcFlags::MD5_OLD).union(CrcFlags::MD5);
        }
        if self.sha1.is_some() {
            mask = mask.union(CrcFlags::SHA1);
        }
        mask
    }
}
