// SPDX-License-Identifier: GPL-2.0
//! What both ends of a sync need of the local data devices: the registry of the devices this
//! host has attached ([`register_data`], which the sync server serves from), synchronous block
//! IO through a brick's output ([`BlockBuf`]) and the digests of a range of blocks
//! ([`local_digests`], with the digest the connection agreed on).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use crate::brick::{Flags, Mref, MrefIo, MrefOwner, Op, Output};
use crate::kapi::kthread::WaitEvent;
use crate::kapi::mm::{NoIoScope, PageBuf};
use crate::mars_core::wire::{DigestAlg, DIGEST_LEN, MAX_DATA_CHUNK};
use kernel::error::code::EINVAL;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use super::super::Bytes;

/// The data devices this host has attached, by resource name.
#[pin_data]
struct DataRegistry {
    #[pin]
    list: Mutex<KVec<(Bytes, Arc<dyn Output>)>>,
}

/// The registry while the module is loaded.
static REGISTRY: AtomicPtr<DataRegistry> = AtomicPtr::new(ptr::null_mut());

/// Owns the registry of attached data devices. Created before the strategy starts, dropped
/// after the strategy and the network threads ended (field order in the module struct).
pub(crate) struct DataDevices {
    registry: Option<Pin<KBox<DataRegistry>>>,
}

impl DataDevices {
    /// Creates the registry and publishes it.
    pub(crate) fn new() -> Result<Self> {
        let registry = KBox::pin_init(
            pin_init!(DataRegistry { list <- kernel::new_mutex!(KVec::new(), "mars_sync_data") }),
            GFP_KERNEL,
        )?;
        REGISTRY.store(ptr::from_ref(&*registry).cast_mut(), Ordering::Release);
        Ok(DataDevices {
            registry: Some(registry),
        })
    }
}

impl Drop for DataDevices {
    fn drop(&mut self) {
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
        drop(self.registry.take());
    }
}

fn with_registry<R>(f: impl FnOnce(&DataRegistry) -> R) -> Option<R> {
    let raw = REGISTRY.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was published by `DataDevices::new` and stays valid until
    // `DataDevices` drops, which happens after every thread that calls this ended (the
    // strategy and the network threads stop first).
    let registry = unsafe { raw.as_ref() }?;
    Some(f(registry))
}

/// Makes `data`, the attached data device of resource `res`, available to sync clients.
pub(crate) fn register_data(res: &[u8], data: Arc<dyn Output>) -> Result {
    let mut name = KVec::new();
    name.extend_from_slice(res, GFP_KERNEL)?;
    let old = with_registry(|registry| {
        let mut list = registry.list.lock();
        let old = take_entry(&mut list, res);
        list.push((name, data), GFP_KERNEL)
            .map(|()| old)
            .map_err(Error::from)
    });
    // Dropped outside the lock.
    match old {
        Some(Ok(old)) => {
            drop(old);
            Ok(())
        }
        Some(Err(e)) => Err(e),
        None => Ok(()),
    }
}

/// Takes the entry of `res` out of `list` (which is rebuilt without it).
fn take_entry(list: &mut KVec<(Bytes, Arc<dyn Output>)>, res: &[u8]) -> Option<Arc<dyn Output>> {
    if !list.iter().any(|(n, _)| n.as_slice() == res) {
        return None;
    }
    let old = core::mem::replace(list, KVec::new());
    let mut taken = None;
    for (name, data) in old {
        if name.as_slice() == res {
            taken = Some(data);
        } else if list.push((name, data), GFP_KERNEL).is_err() {
            // Cannot happen for a list that only shrinks by more than the allocator's minimum;
            // if it does, that entry is no longer served (a client retries).
        }
    }
    taken
}

/// Withdraws the data device of `res` (before it is detached). The returned reference, if
/// any, must be dropped in process context.
pub(crate) fn unregister_data(res: &[u8]) {
    let old = with_registry(|registry| take_entry(&mut registry.list.lock(), res));
    drop(old);
}

pub(super) fn lookup_data(res: &[u8]) -> Option<Arc<dyn Output>> {
    with_registry(|registry| {
        registry
            .list
            .lock()
            .iter()
            .find(|(n, _)| n.as_slice() == res)
            .map(|(_, d)| d.clone())
    })
    .flatten()
}

/// Completion state of one synchronous request.
#[pin_data]
struct Waiter {
    #[pin]
    event: WaitEvent,
    done: AtomicBool,
    status: AtomicI32,
}

struct BlockReq {
    mref: Mref,
    waiter: Arc<Waiter>,
}

struct BlockHandle(KBox<BlockReq>);

// SAFETY: the `Mref` lives inside the box, whose heap address does not change while the box
// is given up as a raw pointer; `from_raw` restores exactly that box.
unsafe impl MrefOwner for BlockHandle {
    fn mref(&self) -> &Mref {
        &self.0.mref
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self.0).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` of a `KBox<BlockReq>`.
        BlockHandle(unsafe { KBox::from_raw(raw.cast()) })
    }

    fn done(self, status: Result) {
        let waiter = self.0.waiter.clone();
        drop(self);
        waiter
            .status
            .store(status.err().map_or(0, |e| e.to_errno()), Ordering::Release);
        waiter.done.store(true, Ordering::Release);
        waiter.event.wake();
        // `waiter` drops last; freeing it never sleeps.
    }
}

/// A buffer of [`MAX_DATA_CHUNK`] bytes in pages, and synchronous reads and writes of up to
/// that much through a brick's output.
pub(crate) struct BlockBuf {
    pages: KVec<PageBuf>,
    waiter: Arc<Waiter>,
}

impl BlockBuf {
    pub(crate) fn new() -> Result<Self> {
        let count = MAX_DATA_CHUNK / PageBuf::SIZE;
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            pages.push(PageBuf::new()?, GFP_KERNEL)?;
        }
        let waiter = Arc::pin_init(
            pin_init!(Waiter { event <- WaitEvent::new(), done: AtomicBool::new(false), status: AtomicI32::new(0) }),
            GFP_KERNEL,
        )?;
        Ok(BlockBuf { pages, waiter })
    }

    /// Reads or writes `len` bytes at `pos` (a flush with `len` 0), waiting for completion.
    fn io(&mut self, output: &dyn Output, op: Op, pos: u64, len: usize) -> Result {
        let _noio = NoIoScope::enter();
        if len > MAX_DATA_CHUNK {
            return Err(EINVAL);
        }
        let segments = len.div_ceil(PageBuf::SIZE);
        let mut mref = Mref::new(segments)?;
        let mut left = len;
        for page in self.pages.iter().take(segments) {
            let piece = left.min(PageBuf::SIZE);
            // SAFETY: the pages belong to `self`, which is borrowed mutably until the request
            // completed (waited for below), so they stay allocated and unmodified meanwhile.
            let segment = unsafe { page.segment(0, u32::try_from(piece).map_err(|_| EINVAL)?)? };
            mref.segments_mut().push(segment, GFP_KERNEL)?;
            left -= piece;
        }
        mref.prepare(
            op,
            pos,
            u32::try_from(len).map_err(|_| EINVAL)?,
            Flags::default(),
        )?;
        self.submit(output, mref)
    }

    /// Starts `mref` on `output` and waits for its completion (the caller is in a NoIo scope).
    fn submit(&mut self, output: &dyn Output, mref: Mref) -> Result {
        self.waiter.done.store(false, Ordering::Release);
        let request = KBox::new(
            BlockReq {
                mref,
                waiter: self.waiter.clone(),
            },
            GFP_KERNEL,
        )?;
        output.io(MrefIo::new(BlockHandle(request)));
        // Every request completes (the brick promises it), so wait in slices until it did.
        while !self.waiter.done.load(Ordering::Acquire) {
            self.waiter
                .event
                .wait(None, 1000, || self.waiter.done.load(Ordering::Acquire));
        }
        match self.waiter.status.load(Ordering::Acquire) {
            0 => Ok(()),
            errno => Err(Error::from_errno(errno)),
        }
    }

    /// Copies the first `out.len()` bytes of the buffer into `out`.
    fn copy_out(&self, out: &mut [u8]) {
        for (page, chunk) in self.pages.iter().zip(out.chunks_mut(PageBuf::SIZE)) {
            page.with(|bytes| {
                if let Some(src) = bytes.get(..chunk.len()) {
                    chunk.copy_from_slice(src);
                }
            });
        }
    }

    /// Fills the buffer's start with `data` (`None`: `len` zero bytes).
    fn copy_in(&mut self, data: Option<&[u8]>, len: usize) {
        let mut left = len;
        for (index, page) in self.pages.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            let piece = left.min(PageBuf::SIZE);
            let start = index.saturating_mul(PageBuf::SIZE);
            page.with_mut(|bytes| {
                let Some(dst) = bytes.get_mut(..piece) else {
                    return;
                };
                match data.and_then(|d| d.get(start..start.saturating_add(piece))) {
                    Some(src) => dst.copy_from_slice(src),
                    None => dst.fill(0),
                }
            });
            left -= piece;
        }
    }

    /// Reads `out.len()` bytes at `pos` into `out`.
    pub(crate) fn read(&mut self, output: &dyn Output, pos: u64, out: &mut [u8]) -> Result {
        self.io(output, Op::Read, pos, out.len())?;
        self.copy_out(out);
        Ok(())
    }

    /// Writes `data` (`None`: `len` zero bytes) at `pos`.
    pub(crate) fn write(
        &mut self,
        output: &dyn Output,
        pos: u64,
        data: Option<&[u8]>,
        len: usize,
    ) -> Result {
        self.copy_in(data, len);
        self.io(output, Op::Write, pos, len)
    }

    /// Makes the writes so far durable.
    pub(crate) fn flush(&mut self, output: &dyn Output) -> Result {
        let _noio = NoIoScope::enter();
        let mut mref = Mref::new(0)?;
        mref.prepare(Op::Flush, 0, 0, Flags::default())?;
        self.submit(output, mref)
    }
}

/// Digest `i` of a concatenation of digests.
pub(super) fn digest_at(list: &[u8], i: usize) -> Option<&[u8]> {
    let from = i.checked_mul(DIGEST_LEN)?;
    list.get(from..from.checked_add(DIGEST_LEN)?)
}

/// The 32-byte `alg` digest of every `block`-sized piece of `data`, appended to `out`.
fn digest_blocks(alg: DigestAlg, data: &[u8], block: usize, out: &mut KVVec<u8>) -> Result {
    for piece in data.chunks(block.max(1)) {
        let digest = crate::digest::net_digest(alg, piece).ok_or(EINVAL)?;
        out.extend_from_slice(&digest, GFP_KERNEL)?;
    }
    Ok(())
}

/// The `alg` digests of `count` blocks of `block_size` bytes from `offset` of `output` (the
/// last block cut at `end`), read through `buf` and `data` (a chunk-sized scratch area).
pub(super) fn local_digests(
    alg: DigestAlg,
    output: &dyn Output,
    buf: &mut BlockBuf,
    data: &mut [u8],
    offset: u64,
    end: u64,
    block_size: u32,
    count: usize,
    out: &mut KVVec<u8>,
) -> Result {
    *out = KVVec::new();
    let span = u64::from(block_size)
        .checked_mul(count as u64)
        .ok_or(EINVAL)?;
    let stop = offset.checked_add(span).ok_or(EINVAL)?.min(end);
    // Whole blocks per read.
    let per_read = (MAX_DATA_CHUNK as u64)
        .checked_div(u64::from(block_size))
        .unwrap_or(0)
        .max(1)
        .saturating_mul(u64::from(block_size))
        .max(1);
    let mut pos = offset;
    while pos < stop {
        let len = usize::try_from((stop - pos).min(per_read)).map_err(|_| EINVAL)?;
        let chunk = data.get_mut(..len).ok_or(EINVAL)?;
        buf.read(output, pos, chunk)?;
        digest_blocks(alg, chunk, block_size as usize, out)?;
        pos = pos.saturating_add(len as u64);
    }
    Ok(())
}
