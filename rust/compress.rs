// SPDX-License-Identifier: GPL-2.0
//! The kernel's [`Compressor`]s: LZO1X (lib/lzo), LZ4 (lib/lz4) and zlib (lib/zlib_*), the
//! three algorithms of the original's log format.
//!
//! [`KernelCompressor`] is the module's one instance (created at load, used by the self-test
//! and the log writer): its work memory is allocated once rather than per call, since the
//! logger compresses in its IO path, where an allocation could fail or recurse into IO. LZ4
//! and LZO compress under a spinlock each (some microseconds per 4 KiB; usable in atomic
//! context, not in (soft)irq context: the locks are not irq-safe). zlib is much slower and
//! works under a mutex: deflating and inflating with it may sleep (process context only).
//! Compressions on different CPUs take turns per algorithm.
//!
//! [`KernelDecompressor`] is what a replay pass uses: LZ4 and LZO decompress without state,
//! zlib with a workspace of its own (about 43 KiB, allocated with the pass), so replay needs
//! no shared lock. It is not `Sync`: one per thread.

use core::cell::RefCell;

use crate::kapi::lz4::{self, Lz4Workmem};
use crate::kapi::lzo::{self, LzoWorkmem};
use crate::kapi::zlib::{Deflater, Inflater};
use crate::mars_core::compress::{Compression, Compressor, ZLIB_LEVEL};
use crate::mars_core::digest::CrcFlags;
use kernel::prelude::*;
use kernel::sync::{Mutex, SpinLock};
use kernel::{new_mutex, new_spinlock};

/// Compression and decompression with every algorithm of the log format.
#[pin_data]
pub(crate) struct KernelCompressor {
    #[pin]
    lz4: SpinLock<Lz4Workmem>,
    #[pin]
    lzo: SpinLock<LzoWorkmem>,
    #[pin]
    deflate: Mutex<Deflater>,
    #[pin]
    inflate: Mutex<Inflater>,
}

impl KernelCompressor {
    /// Allocates the work memory (about 340 KiB, mostly zlib's). May sleep.
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        let lz4 = Lz4Workmem::new(GFP_KERNEL)?;
        let lzo = LzoWorkmem::new(GFP_KERNEL)?;
        let deflate = Deflater::new(GFP_KERNEL)?;
        let inflate = Inflater::new(GFP_KERNEL)?;
        KBox::pin_init(
            pin_init!(KernelCompressor {
                lz4 <- new_spinlock!(lz4, "mars_lz4_workmem"),
                lzo <- new_spinlock!(lzo, "mars_lzo_workmem"),
                deflate <- new_mutex!(deflate, "mars_zlib_deflate"),
                inflate <- new_mutex!(inflate, "mars_zlib_inflate"),
            }),
            GFP_KERNEL,
        )
    }
}

impl Compressor for KernelCompressor {
    fn available(&self) -> CrcFlags {
        CrcFlags::COMPRESS_ANY
    }

    fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => self.lz4.lock().compress(src, dst),
            Compression::Lzo => self.lzo.lock().compress(src, dst),
            Compression::Zlib => self.deflate.lock().deflate(ZLIB_LEVEL, src, dst).ok(),
        }
    }

    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Zlib => self.inflate.lock().inflate(src, dst).ok(),
            other => stateless_decompress(other, src, dst),
        }
    }
}

/// LZ4 and LZO decompression, which need no state; `None` for zlib.
fn stateless_decompress(algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
    match algo {
        Compression::Lz4 => lz4::decompress(src, dst),
        Compression::Lzo => lzo::decompress(src, dst),
        Compression::Zlib => None,
    }
}

/// Decompression only, for one replaying thread (see the module documentation).
pub(crate) struct KernelDecompressor {
    inflate: RefCell<Inflater>,
}

impl KernelDecompressor {
    /// Allocates zlib's workspace. May sleep.
    pub(crate) fn new() -> Result<Self> {
        Ok(KernelDecompressor {
            inflate: RefCell::new(Inflater::new(GFP_KERNEL)?),
        })
    }
}

impl Compressor for KernelDecompressor {
    fn available(&self) -> CrcFlags {
        CrcFlags::COMPRESS_ANY
    }

    /// Never compresses: this one only reads.
    fn compress(&self, _algo: Compression, _src: &[u8], _dst: &mut [u8]) -> Option<usize> {
        None
    }

    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            // Not re-entered (the scanner calls once per record); a nested call would fail
            // the record rather than panic.
            Compression::Zlib => self.inflate.try_borrow_mut().ok()?.inflate(src, dst).ok(),
            other => stateless_decompress(other, src, dst),
        }
    }
}
