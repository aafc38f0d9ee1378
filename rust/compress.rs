// SPDX-License-Identifier: GPL-2.0
//! The kernel's [`Compressor`]: LZ4 from lib/lz4. LZO and zlib are not offered yet
//! ([`Compressor::available`] says so): records compressed with them, which the original
//! writes when it prefers LZO, cannot be read here until lib/lzo and lib/zlib back them too.
//!
//! LZ4 compression needs 16 KiB of work memory. One buffer is allocated at creation and
//! shared under a spinlock rather than allocated per call: the logger compresses in its IO
//! path, where a 16 KiB allocation could fail or recurse into IO, and a spinlock keeps the
//! call usable in atomic context. The cost is that compressions on different CPUs take
//! turns; one takes some microseconds per 4 KiB. Not for (soft)irq context: the lock is not
//! irq-safe. Decompression needs no shared state and runs in parallel.

use crate::kapi::lz4::{self, Lz4Workmem};
use crate::mars_core::compress::{Compression, Compressor};
use crate::mars_core::digest::CrcFlags;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::SpinLock;

/// LZ4 compression and decompression.
pub(crate) struct KernelCompressor {
    workmem: Pin<KBox<SpinLock<Lz4Workmem>>>,
}

impl KernelCompressor {
    /// Allocates the work memory. May sleep.
    pub(crate) fn new() -> Result<Self> {
        let workmem = Lz4Workmem::new(GFP_KERNEL)?;
        let workmem = KBox::pin_init(new_spinlock!(workmem, "mars_lz4_workmem"), GFP_KERNEL)?;
        Ok(KernelCompressor { workmem })
    }
}

impl Compressor for KernelCompressor {
    fn available(&self) -> CrcFlags {
        CrcFlags::LZ4
    }

    fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => self.workmem.lock().compress(src, dst),
            Compression::Lzo | Compression::Zlib => None,
        }
    }

    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => lz4::decompress(src, dst),
            Compression::Lzo | Compression::Zlib => None,
        }
    }
}
