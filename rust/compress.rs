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
//!
//! Log compression on write: the strategy reads the cluster-wide setting
//! `/mars/defaults/enabled-log-compressions` (marsadm `set-global-enabled-log-compressions`)
//! every round ([`strategy_round`]); the log writer asks [`compress_log_payload`] for each
//! record, which compresses with the module's [`KernelCompressor`] when the setting and the
//! local knob `logger_allow_compress` allow it. The algorithm last used is published as
//! `actual-<host>/used-log-compression` (the original's value: the mref flag in decimal, 0 for
//! none).

use core::cell::RefCell;
use core::fmt::Write;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU16, Ordering};

use crate::kapi::lz4::{self, Lz4Workmem};
use crate::kapi::lzo::{self, LzoWorkmem};
use crate::kapi::mm::PageBuf;
use crate::kapi::zlib::{Deflater, Inflater};
use crate::knobs;
use crate::mars_core::compress::{parse_feature_value, Compression, Compressor, FEATURE_SHIFT};
use crate::mars_core::digest::CrcFlags;
use crate::mars_core::digest::{DigestAlgo, DIGEST_SIZE};
use crate::mars_core::log_record::{
    compress_payload, pad_len, seal_compressed_record, RecordHeader,
};
use crate::mars_core::text::FixedBuf;
use crate::tree::MarsTree;
use kernel::error::code::EINVAL;
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
            Compression::Zlib => {
                let level = i32::try_from(knobs::ZLIB_COMPRESS_LEVEL.get()).unwrap_or(3);
                self.deflate.lock().deflate(level, src, dst).ok()
            }
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

/// The module's compressor while it is loaded (see [`install`]); null otherwise.
static MODULE_COMPRESSOR: AtomicPtr<KernelCompressor> = AtomicPtr::new(ptr::null_mut());
/// `/mars/defaults/enabled-log-compressions` as the last strategy round read it.
static ENABLED_LOG: AtomicU16 = AtomicU16::new(0);
/// The compression of the last record written compressed (0: none since load).
static USED_LOG: AtomicU16 = AtomicU16::new(0);

/// Makes `compressor` the one the log writers use, until the returned guard is dropped.
///
/// The caller keeps `compressor` alive and in place (pinned) for as long as the guard lives,
/// and drops the guard only when no log writer runs any more (the module's last fields).
pub(crate) fn install(compressor: &Pin<KBox<KernelCompressor>>) -> Installed {
    let raw: *const KernelCompressor = &**compressor;
    MODULE_COMPRESSOR.store(raw.cast_mut(), Ordering::Release);
    Installed
}

/// Clears the module's compressor when dropped (see [`install`]).
pub(crate) struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        MODULE_COMPRESSOR.store(ptr::null_mut(), Ordering::Release);
    }
}

/// The compressions log records may use now: the cluster's setting, restricted to what every
/// member offers (`crate::digest::usable`, the original's `usable_compression_mask`), if this
/// host's `logger_allow_compress` allows it.
pub(crate) fn log_compressions() -> CrcFlags {
    if knobs::LOGGER_ALLOW_COMPRESS.get() == 0 {
        return CrcFlags::NONE;
    }
    CrcFlags(ENABLED_LOG.load(Ordering::Relaxed))
        .intersection(CrcFlags::COMPRESS_ANY)
        .intersection(crate::digest::usable())
}

/// Compresses a log record's `payload` into `dst` if log compression is on and it pays off
/// (`mars_core::log_record::compress_payload`); `None`: store it uncompressed. May sleep
/// (zlib's mutex): process context only.
pub(crate) fn compress_log_payload(payload: &[u8], dst: &mut [u8]) -> Option<(Compression, usize)> {
    let allowed = log_compressions();
    if allowed.is_empty() {
        return None;
    }
    let raw = MODULE_COMPRESSOR.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was stored by `install` from the pinned compressor the
    // module keeps until after every log writer stopped, and is cleared before it goes away.
    let compressor = unsafe { raw.as_ref() }?;
    let packed = compress_payload(compressor, allowed, payload, dst)?;
    USED_LOG.store(packed.0.flag().bits(), Ordering::Relaxed);
    Some(packed)
}

/// Calls `f` with the module's compressor, `None` while none is installed (network
/// compression's zlib, `crate::net::pack`). May sleep (zlib's mutex) if `f` uses zlib.
pub(crate) fn with_module<R>(f: impl FnOnce(&KernelCompressor) -> R) -> Option<R> {
    let raw = MODULE_COMPRESSOR.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was stored by `install` from the pinned compressor the
    // module keeps until after every network thread stopped, and is cleared before it goes
    // away; the reference does not leave this call.
    unsafe { raw.as_ref() }.map(f)
}

/// A log record's payload, compressed (the log writer's side of log compression).
pub(crate) struct PackedPayload {
    page: PageBuf,
    method: Compression,
    len: usize,
}

impl PackedPayload {
    /// The first `len` bytes of `page` compressed, if log compression is on and it pays off
    /// ([`compress_log_payload`]); `None`: store them uncompressed. Allocates a page only
    /// when log compression is on. May sleep.
    pub(crate) fn of(page: &PageBuf, len: usize) -> Result<Option<Self>> {
        if log_compressions().is_empty() {
            return Ok(None);
        }
        let mut out = PageBuf::new()?;
        let packed = page.with(|data| {
            let data = data.get(..len)?;
            out.with_mut(|dst| compress_log_payload(data, dst))
        });
        Ok(packed.map(|(method, len)| PackedPayload {
            page: out,
            method,
            len,
        }))
    }

    /// The stored payload's length in the record, padded.
    pub(crate) fn stored_len(&self) -> usize {
        pad_len(self.len)
    }

    /// Writes the record into `room` (`stored_len() + OVERHEAD` bytes): this payload, which
    /// is `decompress_len` bytes uncompressed with `digest` by `algo`, under `header`
    /// (`mars_core::log_record::seal_compressed_record`).
    pub(crate) fn seal(
        &self,
        header: &RecordHeader,
        decompress_len: usize,
        algo: DigestAlgo,
        digest: &[u8; DIGEST_SIZE],
        room: &mut [u8],
    ) -> Result {
        self.page
            .with(|data| {
                let data = data.get(..self.len)?;
                seal_compressed_record(
                    header,
                    data,
                    self.method,
                    decompress_len,
                    algo,
                    digest,
                    room,
                )
                .ok()
            })
            .map(|_| ())
            .ok_or(EINVAL)
    }
}

/// The strategy's part, once per round: reads `defaults/enabled-log-compressions` (a missing
/// or malformed link means none) and publishes `actual-<host>/used-log-compression`.
pub(crate) fn strategy_round(mars: &MarsTree, host: &[u8]) -> Result {
    let enabled = mars
        .value("defaults/enabled-log-compressions")
        .and_then(|value| parse_feature_value(&value, CrcFlags::COMPRESS_ANY))
        .unwrap_or(CrcFlags::NONE);
    let before = ENABLED_LOG.swap(enabled.bits(), Ordering::Relaxed);
    if before != enabled.bits() {
        pr_info!("log compression: enabled {:#06x}\n", enabled.bits());
    }
    let used = u32::from(USED_LOG.load(Ordering::Relaxed)) << FEATURE_SHIFT;
    let mut key = FixedBuf::<128>::new();
    write!(
        key,
        "actual-{}/used-log-compression",
        core::str::from_utf8(host).map_err(|_| EINVAL)?
    )
    .map_err(|_| EINVAL)?;
    let mut value = FixedBuf::<16>::new();
    write!(value, "{}", used).map_err(|_| EINVAL)?;
    mars.update(key.as_str(), value.as_bytes())?;
    // Network compression's setting and indicator (issue 17), in the same round.
    crate::net::pack::strategy_round(mars, host)
}
