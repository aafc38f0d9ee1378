// SPDX-License-Identifier: GPL-2.0
//! Full sync over port 7779 (`Documentation/protocol.rst`, "Sync messages").
//!
//! Server side ([`serve_sync`], in a `mars_serve` thread after the handshake): answers
//! `SyncRead` (a block range of a resource's data device) and `SyncSumsRead` (one digest per
//! block of a range) from the data device this host has attached, through its bio brick
//! ([`register_data`]). Only a member of the resource (`data-<host>` names a device) is
//! served; ranges must lie inside the device and be aligned to its logical block size, and a
//! checksum request may cover at most [`MAX_SUMS_SPAN`] bytes. Anything else is answered with
//! an `Error`; a malformed frame closes the connection.
//!
//! Client side ([`Syncer`], one `mars_sync` thread per resource of a secondary whose sync is
//! due, started and stopped by the strategy): copies `[syncstatus-<me>, size)` of the
//! designated primary's device onto the local data device, window by window
//! ([`WINDOW`] bytes). With `do_fast_fullsync` on it first asks for the primary's CRC32C
//! digests of the window's 64 KiB blocks, computes the local ones meanwhile, and transfers
//! only the blocks that differ (`mars_core::sync`). It holds `sync_sockets` connections to
//! the primary ([`Bundle`]): the window's digest request is shared among them, and the runs
//! to transfer go round robin over them, up to `sync_parallel` reads in flight on each;
//! `sync_speed_limit_kib` bounds the data rate of all of them together. After each window the local
//! device is flushed and `syncstatus-<me>` advances, so an interrupted sync (network cut,
//! reboot) resumes there. At the end, once the primary's heartbeat (`actual-<primary>/time`)
//! is newer than the end of the copy, the primary's replay link is recorded in
//! `syncpos-<me>` and `syncstatus-<me>` becomes the size: the replay may start, and the
//! replica is consistent once its replay passed `syncpos` (`mars_core::sync::consistent`).
//!
//! The client writes `syncstatus-<me>` only while the link still holds what it started from
//! or wrote last, value and stamp ([`StatusClaim`], `mars_core::sync::claim_holds`), checked
//! after every window and twice at the end (before `syncpos`, before the final size, after
//! the wait for the heartbeat). Anyone else's write (`marsadm invalidate` resets it to 0)
//! makes the sync start over from the new value instead of overwriting it. What remains is
//! the instant between a check and the write after it; `marsadm invalidate` closes it too:
//! it switches the sync off and waits for `is-syncing` = 0 (this thread has ended) before it
//! writes `syncstatus-<me>`.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use crate::brick::{Flags, Mref, MrefIo, MrefOwner, Op, Output};
use crate::clock;
use crate::kapi::kthread::{ThreadContext, WaitEvent};
use crate::kapi::mm::{NoIoScope, PageBuf};
use crate::kapi::socket::SocketAddrV4;
use crate::kapi::time::real_time;
use crate::kapi::vfs;
use crate::knobs;
use crate::logger::links::KernelDigester;
use crate::mars_core::digest::digest32;
use crate::mars_core::sync::{
    claim_holds, progress, sums_share, throttle_delay_ms, MismatchRuns, Run, StatusClaim,
};
use crate::mars_core::tree_value::HostOrNone;
use crate::mars_core::wire::{
    check_resource, DigestAlg, DigestList, ErrorCode, ErrorReply, Message, PortRole, SyncData,
    SyncRead, SyncSums, SyncSumsRead, DIGEST_LEN, MAX_DATA_CHUNK,
};
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::{Arc, Mutex};

use super::client::{self, ClientError};
use super::conn::{Conn, ConnError};
use super::server::{role_port, TIMEOUTS};
use super::tree::{self, Bytes};
use super::{Shared, Worker, WorkerState, MAX_THREAD_SOCKETS};

/// Block size of fast full sync digests.
pub(crate) const SUM_BLOCK: u32 = 64 * 1024;
/// Bytes one client window covers: one checksum request, then the transfers, then a flush
/// and a progress update.
pub(crate) const WINDOW: u64 = 16 * 1024 * 1024;
/// Most bytes one checksum request may cover on the server.
pub(crate) const MAX_SUMS_SPAN: u64 = 32 * 1024 * 1024;
/// A sync client that sent nothing for this long is gone.
const SERVE_IDLE_MS: u32 = 60_000;
/// A reply must come within this time (a checksum reply reads a whole window).
const REPLY_WAIT_MS: u32 = 60_000;
/// A connection that carried no request for this long gets a `Ping` (the server closes one
/// silent for [`SERVE_IDLE_MS`]).
const KEEPALIVE_MS: u32 = 20_000;
/// First wait after a failure ...
const BACKOFF_MIN_MS: u32 = 1000;
/// ... doubling up to this.
const BACKOFF_MAX_MS: u32 = 10_000;
/// How long the end of a sync waits for a fresh heartbeat of the primary.
const FINISH_WAIT_MS: u32 = 120_000;
/// Most reads in flight (the `sync_parallel` knob's bound).
pub(crate) const MAX_PARALLEL: usize = 16;

// ---------------------------------------------------------------------------------------------
// The attached data devices, for the server

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

fn lookup_data(res: &[u8]) -> Option<Arc<dyn Output>> {
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

// ---------------------------------------------------------------------------------------------
// Synchronous block IO through a brick

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
        self.waiter.done.store(false, Ordering::Release);
        let request = KBox::new(
            BlockReq {
                mref,
                waiter: self.waiter.clone(),
            },
            GFP_KERNEL,
        )?;
        output.io(MrefIo::new(BlockHandle(request)));
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
}

/// Digest `i` of a concatenation of digests.
fn digest_at(list: &[u8], i: usize) -> Option<&[u8]> {
    let from = i.checked_mul(DIGEST_LEN)?;
    list.get(from..from.checked_add(DIGEST_LEN)?)
}

/// The 32-byte CRC32C digest of every `block`-sized piece of `data`, appended to `out`.
fn digest_blocks(data: &[u8], block: usize, out: &mut KVVec<u8>) -> Result {
    for piece in data.chunks(block.max(1)) {
        let digest = digest32(DigestAlg::Crc32c.algo(), piece, &KernelDigester).ok_or(EINVAL)?;
        out.extend_from_slice(&digest, GFP_KERNEL)?;
    }
    Ok(())
}

/// The digests of `count` blocks of `block_size` bytes from `offset` of `output` (the last
/// block cut at `end`), read through `buf` and `data` (a chunk-sized scratch area).
fn local_digests(
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
        digest_blocks(chunk, block_size as usize, out)?;
        pos = pos.saturating_add(len as u64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Server

type Refusal = (ErrorCode, &'static str);

/// What a sync connection serves: the client's host name.
pub(super) fn serve_sync(conn: &mut Conn<'_>, peer: &[u8]) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let mut buf = BlockBuf::new().map_err(ConnError::Io)?;
    let mut data =
        KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| ConnError::Io(ENOMEM))?;
    let mut sums = KVVec::new();
    loop {
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, SERVE_IDLE_MS)?;
        let tag = frame.header.tag;
        match frame.message {
            Message::Ping => conn.writer.send(&conn.socket, tag, &Message::Pong)?,
            Message::Pong => {}
            Message::SyncRead(request) => {
                let reply = answer_read(&request, peer, &mut buf, data.as_mut_slice());
                let message = match &reply {
                    Ok(reply) => Message::SyncData(*reply),
                    Err((code, message)) => Message::Error(ErrorReply {
                        code: *code,
                        message,
                    }),
                };
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            Message::SyncSumsRead(request) => {
                let reply = answer_sums(&request, peer, &mut buf, data.as_mut_slice(), &mut sums);
                let message = match &reply {
                    Ok(reply) => Message::SyncSums(*reply),
                    Err((code, message)) => Message::Error(ErrorReply {
                        code: *code,
                        message,
                    }),
                };
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    }
}

/// The data device of `res` for `peer`, if `peer` is a member and the device is attached;
/// with its size and logical block size.
fn device_for(
    res: &str,
    peer: &[u8],
) -> core::result::Result<(Arc<dyn Output>, u64, u64), Refusal> {
    check_resource(res).map_err(|_| (ErrorCode::Invalid, "bad resource name"))?;
    let rel = concat(&[b"resource-", res.as_bytes(), b"/data-", peer]);
    if rel.is_empty() || tree::link_value(&rel).is_none() {
        return Err((ErrorCode::Denied, "not a member of this resource"));
    }
    let primary = tree::link_value(&concat(&[b"resource-", res.as_bytes(), b"/primary"]));
    if primary.is_none() || primary != tree::own_host() {
        return Err((
            ErrorCode::Denied,
            "not the designated primary of this resource",
        ));
    }
    // A primary in emergency mode serves no sync (the original answers -EMEDIUMTYPE): the
    // client retries and goes on once the emergency is over.
    let mut emergency = concat(&[b"resource-", res.as_bytes(), b"/actual-"]);
    if let Some(me) = tree::own_host() {
        if emergency.extend_from_slice(&me, GFP_KERNEL).is_ok()
            && emergency
                .extend_from_slice(b"/has-emergency", GFP_KERNEL)
                .is_ok()
            && tree::link_value(&emergency).as_deref() == Some(b"1".as_slice())
        {
            return Err((
                ErrorCode::Denied,
                "the primary is in emergency mode (/mars full): no sync now",
            ));
        }
    }
    let output =
        lookup_data(res.as_bytes()).ok_or((ErrorCode::Busy, "data device not attached here"))?;
    let info = output
        .info()
        .map_err(|_| (ErrorCode::Busy, "data device not attached here"))?;
    Ok((output, info.size, u64::from(info.logical_block_size.max(1))))
}

fn check_range(offset: u64, len: u64, size: u64, align: u64) -> core::result::Result<(), Refusal> {
    let end = offset
        .checked_add(len)
        .ok_or((ErrorCode::Invalid, "range overflows"))?;
    if end > size {
        return Err((ErrorCode::Invalid, "range beyond the end of the device"));
    }
    if offset.checked_rem(align) != Some(0) || len.checked_rem(align) != Some(0) {
        return Err((
            ErrorCode::Invalid,
            "range not aligned to the logical block size",
        ));
    }
    Ok(())
}

fn answer_read<'b>(
    request: &SyncRead<'_>,
    peer: &[u8],
    buf: &mut BlockBuf,
    data: &'b mut [u8],
) -> core::result::Result<SyncData<'b>, Refusal> {
    let (output, size, align) = device_for(request.resource, peer)?;
    let len = request.len as usize;
    check_range(request.offset, u64::from(request.len), size, align)?;
    let chunk = data
        .get_mut(..len)
        .ok_or((ErrorCode::Invalid, "too long"))?;
    buf.read(&*output, request.offset, chunk)
        .map_err(|_| (ErrorCode::Io, "cannot read the data device"))?;
    drop(output);
    knobs::SYNC_SERVED_BYTES.fetch_add(request.len.into(), Ordering::Relaxed);
    let chunk: &'b [u8] = chunk;
    if chunk.iter().all(|&b| b == 0) {
        return Ok(SyncData {
            offset: request.offset,
            len: request.len,
            zero: true,
            data: &[],
        });
    }
    Ok(SyncData {
        offset: request.offset,
        len: request.len,
        zero: false,
        data: chunk,
    })
}

fn answer_sums<'s>(
    request: &SyncSumsRead<'_>,
    peer: &[u8],
    buf: &mut BlockBuf,
    data: &mut [u8],
    sums: &'s mut KVVec<u8>,
) -> core::result::Result<SyncSums<'s>, Refusal> {
    if request.alg != DigestAlg::Crc32c {
        return Err((
            ErrorCode::Unsupported,
            "only CRC32C block digests are served",
        ));
    }
    let (output, size, align) = device_for(request.resource, peer)?;
    let count = usize::from(request.count);
    let span = u64::from(request.block_size).saturating_mul(u64::from(request.count));
    if span > MAX_SUMS_SPAN {
        return Err((ErrorCode::Invalid, "checksum request too large"));
    }
    // The last block may end at the device end.
    let end = request.offset.saturating_add(span).min(size);
    if request.offset >= end {
        return Err((ErrorCode::Invalid, "range beyond the end of the device"));
    }
    check_range(request.offset, end - request.offset, size, align)?;
    local_digests(
        &*output,
        buf,
        data,
        request.offset,
        end,
        request.block_size,
        count,
        sums,
    )
    .map_err(|_| (ErrorCode::Io, "cannot read the data device"))?;
    drop(output);
    let digests = DigestList::new(DigestAlg::Crc32c, sums.as_slice())
        .map_err(|_| (ErrorCode::Io, "digests"))?;
    Ok(SyncSums {
        offset: request.offset,
        block_size: request.block_size,
        digests,
    })
}

fn concat(parts: &[&[u8]]) -> Bytes {
    let mut out = KVec::new();
    for part in parts {
        if out.extend_from_slice(part, GFP_KERNEL).is_err() {
            return KVec::new();
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Client

/// What a sync thread works for.
pub(crate) struct SyncJob {
    res: Bytes,
    data: Arc<dyn Output>,
}

/// A running full sync of one resource; dropping it stops the thread promptly (its socket is
/// shut down). Its progress is in `syncstatus-<host>`.
pub(crate) struct Syncer {
    _worker: Worker<SyncJob>,
}

impl Syncer {
    /// Starts syncing resource `res` onto `data` (the attached local data device).
    pub(crate) fn start(res: &[u8], data: Arc<dyn Output>) -> Result<Self> {
        let shared = Shared::new(None)?;
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL)?;
        Ok(Syncer {
            _worker: Worker::spawn(
                c_str!("mars_sync"),
                &shared,
                SyncJob { res: name, data },
                sync_thread,
            )?,
        })
    }
}

/// Why a sync session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncEnd {
    Stop,
    /// Nothing to do now (finished, or links missing).
    Idle,
    /// `syncstatus-<me>` was changed by someone else: start over from its value.
    Restart,
    /// `sync_sockets` changed: connect anew at once.
    Reconnect,
    Connect(Error),
    Refused,
    Conn(ConnError),
    Remote(ErrorCode),
    Local(Error),
    /// The primary sent an answer that does not fit the request.
    Mismatch,
    /// The primary's heartbeat did not come in time after the copy.
    NoHeartbeat,
}

impl From<ConnError> for SyncEnd {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Stopping => SyncEnd::Stop,
            e => SyncEnd::Conn(e),
        }
    }
}

impl From<ClientError> for SyncEnd {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Stopping => SyncEnd::Stop,
            ClientError::NotReady => SyncEnd::Idle,
            ClientError::Connect(e) => SyncEnd::Connect(e),
            ClientError::Refused(_) | ClientError::WrongHost | ClientError::BadProof => {
                SyncEnd::Refused
            }
            ClientError::Conn(e) => SyncEnd::Conn(e),
        }
    }
}

fn sync_thread(state: &WorkerState<SyncJob>, context: &ThreadContext) {
    let stopper = &state.stopper;
    let mut backoff = BACKOFF_MIN_MS;
    let mut told: Option<SyncEnd> = None;
    let res = BStr::from_bytes(&state.data.res);
    while !context.should_stop() && !stopper.stopping() {
        let end = session(state, context);
        match end {
            SyncEnd::Stop => break,
            SyncEnd::Idle => {
                backoff = BACKOFF_MIN_MS;
                stopper.sleep(context, 1000);
                continue;
            }
            SyncEnd::Restart => {
                pr_info!("{}: sync: syncstatus was reset; starting over\n", res);
                continue;
            }
            SyncEnd::Reconnect => continue,
            other => {
                if told != Some(other) {
                    pr_notice!("{}: sync: {:?}; retrying\n", res, other);
                    told = Some(other);
                }
            }
        }
        stopper.sleep(context, backoff);
        backoff = backoff.saturating_mul(2).min(BACKOFF_MAX_MS);
    }
}

/// A link of the resource directory, as text.
fn res_link(res: &[u8], name: &[&[u8]]) -> Option<Bytes> {
    let mut rel = concat(&[b"resource-", res, b"/"]);
    for part in name {
        rel.extend_from_slice(part, GFP_KERNEL).ok()?;
    }
    tree::link_value(&rel)
}

fn parse_u64(value: Option<Bytes>) -> Option<u64> {
    core::str::from_utf8(&value?)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
}

/// `syncstatus-<me>` of `res` as it is now: its value and stamp (`None`: missing, deleted or
/// malformed).
fn read_claim(res: &[u8], me: &[u8]) -> Option<StatusClaim> {
    let path = tree::mars_path(&concat(&[b"resource-", res, b"/syncstatus-", me])).ok()?;
    let link = vfs::read_link(path.as_cstr()).ok()?;
    let value = core::str::from_utf8(&link.value)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(StatusClaim {
        value,
        stamp: link.mtime,
    })
}

/// Whether `syncstatus-<me>` still holds `claim` (nobody else wrote it meanwhile).
fn claim_still_holds(res: &[u8], me: &[u8], claim: &StatusClaim) -> bool {
    let current = tree::mars_path(&concat(&[b"resource-", res, b"/syncstatus-", me]))
        .ok()
        .and_then(|path| vfs::read_link(path.as_cstr()).ok());
    let value = current
        .as_ref()
        .and_then(|l| core::str::from_utf8(&l.value).ok());
    claim_holds(claim, value, current.as_ref().map(|l| l.mtime))
}

/// Writes the link `resource-<res>/<name>` with a fresh stamp.
fn write_res_link(res: &[u8], name: &[&[u8]], value: &[u8]) -> Result {
    let mut rel = concat(&[b"resource-", res, b"/"]);
    for part in name {
        rel.extend_from_slice(part, GFP_KERNEL)?;
    }
    let path = tree::mars_path(&rel)?;
    if let Ok(old) = vfs::read_link(path.as_cstr()) {
        if old.value.as_slice() == value {
            return Ok(());
        }
        clock::observe(old.mtime);
    }
    vfs::replace_symlink(&path, value, clock::tick())
}

fn decimal(value: u64) -> crate::mars_core::text::FixedBuf<24> {
    let mut text = crate::mars_core::text::FixedBuf::<24>::new();
    let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{}", value));
    text
}

/// Milliseconds since boot (real time is enough for pacing).
fn now_ms() -> u64 {
    let t = real_time();
    u64::try_from(t.sec)
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(u64::from(t.nsec / 1_000_000))
}

/// Transfer pacing for the bandwidth limit.
struct Pace {
    start_ms: u64,
    bytes: u64,
}

impl Pace {
    fn account(&mut self, stopper: &super::Stopper, context: &ThreadContext, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        let limit = u64::try_from(knobs::SYNC_SPEED_LIMIT_KIB.get()).unwrap_or(0);
        let elapsed = now_ms().saturating_sub(self.start_ms);
        let delay = throttle_delay_ms(self.bytes, elapsed, limit);
        if delay > 0 {
            stopper.sleep(context, u32::try_from(delay.min(10_000)).unwrap_or(10_000));
        }
        if limit == 0 || elapsed > 10_000 {
            // Restart the measurement now and then (a changed limit takes effect soon).
            self.start_ms = now_ms();
            self.bytes = 0;
        }
    }
}

/// One session with the designated primary (`sync_sockets` connections): syncs until done or
/// something fails.
fn session(state: &WorkerState<SyncJob>, context: &ThreadContext) -> SyncEnd {
    let stopper = &state.stopper;
    let res = state.data.res.as_slice();
    let Some(me) = tree::own_host() else {
        return SyncEnd::Idle;
    };
    let Some(primary_value) = res_link(res, &[b"primary"]) else {
        return SyncEnd::Idle;
    };
    let primary = match core::str::from_utf8(&primary_value)
        .ok()
        .and_then(|p| HostOrNone::parse(p).ok())
    {
        Some(HostOrNone::Host(h)) if h.as_str().as_bytes() != me.as_slice() => {
            concat(&[h.as_str().as_bytes()])
        }
        _ => return SyncEnd::Idle,
    };
    let Some(size) = parse_u64(res_link(res, &[b"size"])) else {
        return SyncEnd::Idle;
    };
    let Some(claim) = read_claim(res, &me) else {
        return SyncEnd::Idle;
    };
    let start = claim.value;
    if start >= size {
        return SyncEnd::Idle;
    }
    let Some(ip) = tree::host_ip(&primary) else {
        return SyncEnd::Idle;
    };
    let addr = SocketAddrV4::new(ip.octets, role_port(ip.port, PortRole::Sync));
    // The `sync_sockets` connections.
    let mut conn = match Bundle::connect(stopper, addr, &me, &primary) {
        Ok(bundle) => bundle,
        Err(end) => {
            stopper.clear();
            return end;
        }
    };
    pr_info!(
        "{}: sync: connected to {} over {} connections, copying from byte {}\n",
        BStr::from_bytes(res),
        BStr::from_bytes(&primary),
        conn.conns.len(),
        start
    );
    let Ok(res_text) = core::str::from_utf8(res) else {
        return SyncEnd::Local(EINVAL);
    };
    let name = BStr::from_bytes(res);
    let claim = match copy(&mut conn, state, context, res_text, &me, claim, size) {
        Ok(claim) => claim,
        Err(end) => return end,
    };
    drop(conn);
    pr_info!(
        "{}: sync: copy of {} bytes finished, waiting for the primary's replay position\n",
        name,
        size - start
    );
    match finish(state, context, res, &me, &primary, size, &claim) {
        Ok(()) => {
            pr_info!("{}: sync finished\n", name);
            knobs::trigger(knobs::TRIGGER_LOCAL | 4);
            SyncEnd::Idle
        }
        Err(end) => end,
    }
}

/// The number of parallel connections wanted now.
fn sockets_wanted() -> usize {
    usize::try_from(knobs::SYNC_SOCKETS.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREAD_SOCKETS)
}

/// The connections of one session to the primary: `sync_sockets` of them, each with its own
/// handshake, counted in `sync_connections` while they are open. Requests are spread over
/// them in connection order; each connection answers its requests in order.
struct Bundle<'s> {
    conns: KVec<Conn<'s>>,
    tag: u64,
    /// When a request last went out on each connection ([`now_ms`]).
    last_sent: [u64; MAX_THREAD_SOCKETS],
}

impl<'s> Bundle<'s> {
    /// Opens `sync_sockets` connections to `primary` at `addr` and says `Hello` on each.
    fn connect(
        stopper: &'s super::Stopper,
        addr: SocketAddrV4,
        me: &[u8],
        primary: &[u8],
    ) -> core::result::Result<Self, SyncEnd> {
        let mut bundle = Bundle {
            conns: KVec::new(),
            tag: 0,
            last_sent: [now_ms(); MAX_THREAD_SOCKETS],
        };
        for _ in 0..sockets_wanted() {
            let conn = client::connect(stopper, addr, PortRole::Sync, me, primary, REPLY_WAIT_MS)
                .map_err(SyncEnd::from)?;
            bundle
                .conns
                .push(conn, GFP_KERNEL)
                .map_err(|_| SyncEnd::Local(ENOMEM))?;
            knobs::SYNC_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        }
        Ok(bundle)
    }

    /// Sends a request on connection `c`.
    fn send(&mut self, c: usize, message: &Message<'_>) -> core::result::Result<(), SyncEnd> {
        let conn = self.conns.get_mut(c).ok_or(SyncEnd::Local(EINVAL))?;
        self.tag = self.tag.wrapping_add(1);
        conn.writer.send(&conn.socket, self.tag, message)?;
        if let Some(last) = self.last_sent.get_mut(c) {
            *last = now_ms();
        }
        Ok(())
    }

    /// Reads the next reply on connection `c` (skipping the `Pong`s of keepalives) and hands
    /// it to `f`.
    fn reply<R>(
        &mut self,
        c: usize,
        f: impl FnOnce(Message<'_>) -> core::result::Result<R, SyncEnd>,
    ) -> core::result::Result<R, SyncEnd> {
        let conn = self.conns.get_mut(c).ok_or(SyncEnd::Local(EINVAL))?;
        let stopper = conn.stopper();
        loop {
            let frame = conn
                .reader
                .read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
            match frame.message {
                Message::Pong => continue,
                Message::Error(error) => return Err(SyncEnd::Remote(error.code)),
                message => return f(message),
            }
        }
    }

    /// Sends a `Ping` on every connection that carried no request for [`KEEPALIVE_MS`] (a
    /// slow, paced sync leaves some of them silent for long; the server closes a connection
    /// silent for a minute). The `Pong` is skipped when the connection's next reply is read.
    fn keepalive(&mut self) -> core::result::Result<(), SyncEnd> {
        let now = now_ms();
        for c in 0..self.conns.len() {
            if self
                .last_sent
                .get(c)
                .is_some_and(|&last| now.saturating_sub(last) >= u64::from(KEEPALIVE_MS))
            {
                self.send(c, &Message::Ping)?;
            }
        }
        Ok(())
    }
}

impl Drop for Bundle<'_> {
    fn drop(&mut self) {
        knobs::SYNC_CONNECTIONS.fetch_sub(self.conns.len() as i64, Ordering::Relaxed);
    }
}

/// Asks the primary for the digests of the `count` blocks of the window `[pos, window_end)`,
/// shared among the connections ([`sums_share`]: the primary reads the parts in parallel),
/// computes the local digests meanwhile into `local`, and collects the primary's into `remote`.
fn window_sums(
    bundle: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    res: &str,
    pos: u64,
    window_end: u64,
    count: usize,
    buf: &mut BlockBuf,
    scratch: &mut [u8],
    local: &mut KVVec<u8>,
    remote: &mut KVVec<u8>,
) -> core::result::Result<(), SyncEnd> {
    let output = &*state.data.data;
    let parts = bundle.conns.len().min(count).max(1);
    let part = |p: usize| -> core::result::Result<(u64, usize), SyncEnd> {
        let (first, blocks) = sums_share(count, parts, p);
        let offset = (first as u64)
            .checked_mul(u64::from(SUM_BLOCK))
            .and_then(|o| o.checked_add(pos));
        Ok((offset.ok_or(SyncEnd::Local(EINVAL))?, blocks))
    };
    for p in 0..parts {
        let (offset, blocks) = part(p)?;
        let count16 = u16::try_from(blocks).map_err(|_| SyncEnd::Local(EINVAL))?;
        let request = SyncSumsRead {
            resource: res,
            offset,
            block_size: SUM_BLOCK,
            count: count16,
            alg: DigestAlg::Crc32c,
        };
        bundle.send(p, &Message::SyncSumsRead(request))?;
    }
    // The local digests while the primary computes its own.
    local_digests(
        output, buf, scratch, pos, window_end, SUM_BLOCK, count, local,
    )
    .map_err(SyncEnd::Local)?;
    for p in 0..parts {
        let (offset, blocks) = part(p)?;
        bundle.reply(p, |message| match message {
            Message::SyncSums(sums)
                if sums.offset == offset
                    && sums.block_size == SUM_BLOCK
                    && sums.digests.len() == blocks =>
            {
                knobs::SYNC_SUM_BYTES
                    .fetch_add(sums.digests.as_bytes().len() as i64, Ordering::Relaxed);
                remote
                    .extend_from_slice(sums.digests.as_bytes(), GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))
            }
            Message::SyncSums(_) => Err(SyncEnd::Mismatch),
            other => Err(SyncEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        })?;
    }
    Ok(())
}

/// Copies `[claim.value, size)` window by window, persisting the progress after each while
/// `syncstatus-<me>` still holds `claim`; returns what it holds at the end.
fn copy(
    conn: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &str,
    me: &[u8],
    mut claim: StatusClaim,
    size: u64,
) -> core::result::Result<StatusClaim, SyncEnd> {
    let start = claim.value;
    let stopper = &state.stopper;
    let output = &*state.data.data;
    let mut buf = BlockBuf::new().map_err(SyncEnd::Local)?;
    let mut scratch =
        KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| SyncEnd::Local(ENOMEM))?;
    let mut local = KVVec::new();
    let mut pace = Pace {
        start_ms: now_ms(),
        bytes: 0,
    };
    // Resume at a block boundary at or before the persisted progress.
    let mut pos = start - start % u64::from(SUM_BLOCK);
    while pos < size {
        if context.should_stop() || stopper.stopping() {
            return Err(SyncEnd::Stop);
        }
        if conn.conns.len() != sockets_wanted() {
            // `sync_sockets` changed: connect anew (the progress so far is persisted).
            return Err(SyncEnd::Reconnect);
        }
        conn.keepalive()?;
        let window_end = pos.saturating_add(WINDOW).min(size);
        let mut runs: KVec<Run> = KVec::new();
        let mut remote = KVVec::new();
        if knobs::DO_FAST_FULLSYNC.get() != 0 {
            let count = usize::try_from((window_end - pos).div_ceil(u64::from(SUM_BLOCK)))
                .map_err(|_| SyncEnd::Local(EINVAL))?;
            window_sums(
                conn,
                state,
                res,
                pos,
                window_end,
                count,
                &mut buf,
                scratch.as_mut_slice(),
                &mut local,
                &mut remote,
            )?;
            let (remote_ref, local_ref) = (remote.as_slice(), local.as_slice());
            let mismatches = MismatchRuns::new(
                pos,
                window_end,
                SUM_BLOCK,
                count,
                MAX_DATA_CHUNK as u32,
                |i| digest_at(remote_ref, i),
                |i| digest_at(local_ref, i),
            );
            for run in mismatches {
                runs.push(run, GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))?;
            }
        } else {
            let mut at = pos;
            while at < window_end {
                let len = (window_end - at).min(MAX_DATA_CHUNK as u64) as u32;
                runs.push(Run { offset: at, len }, GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))?;
                at = at.saturating_add(u64::from(len));
            }
        }
        transfer(conn, state, context, res, &runs, &mut buf, &mut pace)?;
        buf.flush(output).map_err(SyncEnd::Local)?;
        pos = window_end;
        // Persist the progress, unless someone else changed it meanwhile (invalidate). The end
        // is not written here: `syncstatus` = size means finished, which `finish` says once
        // `syncpos` is recorded (after an interruption now, the last window is compared again).
        if !claim_still_holds(res.as_bytes(), me, &claim) {
            return Err(SyncEnd::Restart);
        }
        if pos >= size {
            break;
        }
        let value = decimal(progress(pos, size));
        write_res_link(res.as_bytes(), &[b"syncstatus-", me], value.as_bytes())
            .map_err(SyncEnd::Local)?;
        // What was written, with the stamp the link got (someone else's write right after
        // ours shows as a different claim: the next check restarts).
        claim = read_claim(res.as_bytes(), me).ok_or(SyncEnd::Restart)?;
    }
    Ok(claim)
}

/// Reads `runs` from the primary and writes them locally: run `i` is asked on connection
/// `i mod n`, up to `sync_parallel` reads in flight on each; every connection answers in order,
/// so reading the connections round robin yields the runs in order. The pacing
/// (`sync_speed_limit_kib`) counts the data of all connections together.
fn transfer(
    bundle: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &str,
    runs: &[Run],
    buf: &mut BlockBuf,
    pace: &mut Pace,
) -> core::result::Result<(), SyncEnd> {
    let stopper = &state.stopper;
    let output = &*state.data.data;
    let window = usize::try_from(knobs::SYNC_PARALLEL.get())
        .unwrap_or(1)
        .clamp(1, MAX_PARALLEL);
    let n = bundle.conns.len();
    let conn_of = |i: usize| i.checked_rem(n).ok_or(SyncEnd::Local(EINVAL));
    let mut in_flight = [0usize; MAX_THREAD_SOCKETS];
    let mut sent = 0usize;
    let mut received = 0usize;
    while received < runs.len() {
        while let Some(run) = runs.get(sent) {
            let c = conn_of(sent)?;
            let Some(flying) = in_flight.get_mut(c) else {
                return Err(SyncEnd::Local(EINVAL));
            };
            if *flying >= window {
                break;
            }
            bundle.send(
                c,
                &Message::SyncRead(SyncRead {
                    resource: res,
                    offset: run.offset,
                    len: run.len,
                }),
            )?;
            *flying += 1;
            sent += 1;
        }
        let Some(run) = runs.get(received) else { break };
        let c = conn_of(received)?;
        let wire = bundle.reply(c, |message| match message {
            Message::SyncData(data) if data.offset == run.offset && data.len == run.len => {
                let wire = data.data.len() as u64;
                knobs::SYNC_DATA_BYTES.fetch_add(wire as i64, Ordering::Relaxed);
                let content = if data.zero { None } else { Some(data.data) };
                buf.write(output, run.offset, content, run.len as usize)
                    .map_err(SyncEnd::Local)?;
                knobs::SYNC_COPIED_BYTES.fetch_add(i64::from(run.len), Ordering::Relaxed);
                Ok(wire)
            }
            Message::SyncData(_) => Err(SyncEnd::Mismatch),
            other => Err(SyncEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        })?;
        if let Some(flying) = in_flight.get_mut(c) {
            *flying = flying.saturating_sub(1);
        }
        received += 1;
        pace.account(stopper, context, wire.max(1));
        bundle.keepalive()?;
    }
    Ok(())
}

/// After the copy: waits for a heartbeat of the primary newer than the copy's end, records
/// its replay link in `syncpos-<me>`, then marks the sync complete; both only while
/// `syncstatus-<me>` still holds `claim` (an `invalidate` during the wait restarts the sync).
fn finish(
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &[u8],
    me: &[u8],
    primary: &[u8],
    size: u64,
    claim: &StatusClaim,
) -> core::result::Result<(), SyncEnd> {
    let stopper = &state.stopper;
    let end = clock::now();
    let time_rel = concat(&[b"actual-", primary, b"/time"]);
    let time_path = tree::mars_path(&time_rel).map_err(SyncEnd::Local)?;
    let mut waited: u32 = 0;
    loop {
        if context.should_stop() || stopper.stopping() {
            return Err(SyncEnd::Stop);
        }
        if !claim_still_holds(res, me, claim) {
            return Err(SyncEnd::Restart);
        }
        if vfs::read_link(time_path.as_cstr()).is_ok_and(|link| link.mtime > end) {
            break;
        }
        if waited >= FINISH_WAIT_MS {
            return Err(SyncEnd::NoHeartbeat);
        }
        // Ask for the peers' news now rather than at the next poll.
        knobs::trigger(2);
        stopper.sleep(context, 500);
        waited = waited.saturating_add(500);
    }
    let replay = res_link(res, &[b"replay-", primary]).ok_or(SyncEnd::Idle)?;
    if !claim_still_holds(res, me, claim) {
        return Err(SyncEnd::Restart);
    }
    write_res_link(res, &[b"syncpos-", me], &replay).map_err(SyncEnd::Local)?;
    if !claim_still_holds(res, me, claim) {
        return Err(SyncEnd::Restart);
    }
    write_res_link(res, &[b"syncstatus-", me], decimal(size).as_bytes()).map_err(SyncEnd::Local)?;
    Ok(())
}
