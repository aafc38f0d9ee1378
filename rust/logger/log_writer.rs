// SPDX-License-Identifier: GPL-2.0
//! The log writer: appends encoded records to a logfile from its own kernel thread, many
//! records per write and per fsync (group commit), and reports "durable up to position P".
//!
//! The logger encodes records straight into the *open batch* ([`LogWriter::append`]). The
//! writer thread takes the whole open batch when it is idle (swapping in its empty second
//! buffer), writes it with one `kernel_write` at its file position, makes it durable with one
//! sync (`aio_sync_mode`), and then tells the [`DurableSink`] the new durable end. Whatever
//! is appended while a batch is being written and synced goes into the next batch: under
//! load every sync covers all the records that arrived during the previous one.
//!
//! Memory is bounded: the two batch buffers are allocated at start. When the open batch is
//! full, `append` says so ([`AppendError::Full`]); the logger then waits for the next
//! durable report (which means the writer took the batch) and tries again. Writers of a
//! MARS device are thereby throttled, never failed.
//!
//! Appends are made overwrites of a preallocated file, so that making them durable needs no
//! filesystem metadata change (on ext4: no journal commit per batch, just the data write and
//! a device cache flush):
//! - the writer keeps zeros written ahead of the records (`PREALLOC_CHUNK` at a time, written
//!   with direct IO and made durable with one fsync), so the file is longer than the log
//!   while it is written: everything after the last record is zero;
//! - batches are written with direct IO (no page cache, no copy) through a second open file
//!   of the logfile that leaves mtime and ctime alone, in whole pages: a batch buffer mirrors
//!   the file's page layout, starting with the rest of the page before its first record (a
//!   copy of what the previous batch wrote there) and ending with zeros up to the next page;
//! - when the logfile is finished ([`LogWriter::finish`], also on drop), it is truncated to
//!   the end of its last record.
//!
//! Where direct IO or preallocation is not available (another filesystem, a full /mars), the
//! same page-aligned writes go through the page cache as ordinary appends. Crash recovery
//! reads a zero tail, and a torn last batch followed by zeros, as the unacknowledged tail it
//! is (`mars_core::log_recovery::judge_tail`); nobody else reads a logfile beyond the durable
//! end its version link names (Documentation/architecture.rst, "Logfiles").
//!
//! A write or sync error is final for this logfile: the sink learns the durable end that
//! will never move again, later appends fail with [`AppendError::Failed`].

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::kapi::file::{File, SyncMode, WRITE_REPEAT_MAX};
use crate::kapi::kthread::{KThread, ThreadContext, WaitEvent};
use crate::kapi::mm::NoIoScope;
use crate::knobs;
use crate::mars_core::log_recovery::MAX_TORN_WRITE;
use kernel::c_str;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Record bytes each of the two batch buffers holds at most: the most one write and sync
/// carries. A batch must hold every record of the largest request at once (1 MiB of data in
/// 256 records).
pub(crate) const BATCH_CAPACITY: usize = 2 << 20;
/// Size of a batch buffer: the records, the part of the page before them, the zero padding
/// after them.
const BUFFER_LEN: usize = BATCH_CAPACITY + 2 * PAGE_SIZE;
// Recovery's torn-tail rule relies on no write being longer.
const _: () = assert!(BUFFER_LEN as u64 <= MAX_TORN_WRITE);
/// Zeros are written ahead of the records in steps of this size (one direct IO write of
/// `WRITE_REPEAT_MAX` copies of the zero buffer), keeping at least this much ahead.
const PREALLOC_CHUNK: u64 = 8 << 20;
/// Size of the zero buffer the preallocation writes from.
const ZERO_LEN: usize = 256 << 10;
const _: () = assert!(ZERO_LEN as u64 * WRITE_REPEAT_MAX as u64 == PREALLOC_CHUNK);
/// Who learns about durability. Called from the writer thread (process context), without
/// any lock of the writer held.
pub(crate) trait DurableSink: Send + Sync {
    /// Everything up to file position `end` is durable.
    fn durable(&self, end: u64);
    /// Writing failed with `error`; nothing after `end` will ever become durable.
    fn failed(&self, end: u64, error: Error);
}

/// Why [`LogWriter::append`] did not append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendError {
    /// The open batch has no room now: wait for the next durable report and retry.
    Full,
    /// The logfile failed (or the record can never fit): do not retry.
    Failed,
}

/// A batch buffer, laid out like the file's pages: `buf[head..head + len]` are the records,
/// to go to the file at `base`; `buf[..head]` holds what the file has before them in the same
/// page (`head = base % PAGE_SIZE`).
struct Batch {
    buf: KVVec<u8>,
    head: usize,
    len: usize,
    base: u64,
}

impl Batch {
    /// An empty batch whose records will go to `base`, the page prefix zero.
    fn new(base: u64) -> Result<Self> {
        Ok(Batch {
            buf: KVVec::from_elem(0u8, BUFFER_LEN, GFP_KERNEL)?,
            head: page_offset(base),
            len: 0,
            base,
        })
    }
}

/// Offset of file position `pos` in its page.
fn page_offset(pos: u64) -> usize {
    (pos % PAGE_SIZE as u64) as usize
}

/// How the writer makes appends overwrites: direct IO into zeros written ahead.
struct Ahead {
    /// The logfile opened for direct IO, if the filesystem offers it.
    direct: Option<File>,
    /// Direct IO failed once: write through the page cache from then on.
    direct_off: AtomicBool,
    /// The file is zero from the end of the records up to here, and that is durable.
    allocated: AtomicU64,
    /// Preallocation failed once (e.g. /mars full), or the logfile is finished: no more
    /// zeros ahead (set under `ahead_lock` when finishing).
    prealloc_off: AtomicBool,
    /// `ZERO_LEN` zero bytes.
    zeros: KVVec<u8>,
}

/// What the writer thread and the appender share.
#[pin_data]
struct Shared {
    file: File,
    /// Direct IO and preallocation.
    ahead: Ahead,
    /// Held while zeros are written ahead and while the file is cut at its end, so that a
    /// finished logfile never grows a zero tail again.
    #[pin]
    ahead_lock: Mutex<()>,
    /// The batch being filled; its `base` is where the next write goes.
    #[pin]
    open: Mutex<Batch>,
    /// The writer thread's second buffer (only the thread uses it while running).
    #[pin]
    flight: Mutex<Batch>,
    /// Wakes the writer thread.
    #[pin]
    wake: WaitEvent,
    /// The open batch is not empty (the thread's wake condition; atomics only there).
    pending: AtomicBool,
    /// End of the durable data.
    durable: AtomicU64,
    /// What this writer adds to [`knobs::LOG_ZEROS_AHEAD`] now (see [`account_ahead`]).
    ahead_counted: AtomicU64,
    /// End of the appended data.
    appended: AtomicU64,
    /// The logfile failed.
    failed: AtomicBool,
    /// Batches written (= syncs) and records appended, for statistics.
    batches: AtomicU64,
    records: AtomicU64,
    sink: Arc<dyn DurableSink>,
}

/// The writer of one logfile. Dropping it writes and syncs what was appended, then stops the
/// thread (sleeps).
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
    thread: Option<KThread<Arc<Shared>>>,
}

impl LogWriter {
    /// Starts writing `file`, whose valid data end at `start` (the next record goes there).
    pub(crate) fn start(file: File, start: u64, sink: Arc<dyn DurableSink>) -> Result<Self> {
        let mut open = Batch::new(start)?;
        let flight = Batch::new(start)?;
        // The part of the first page before `start` is rewritten with the first batch.
        let head = open.head;
        if head > 0 {
            let prefix = open.buf.get_mut(..head).ok_or(EINVAL)?;
            if file.read_at(prefix, start - head as u64)? != head {
                return Err(EIO);
            }
        }
        let direct = match file.reopen_direct() {
            Ok(direct) => Some(direct),
            Err(e) => {
                pr_info!("log writer: no direct IO on the logfile ({:?}): writing through the page cache\n", e);
                None
            }
        };
        let ahead = Ahead {
            direct,
            direct_off: AtomicBool::new(false),
            allocated: AtomicU64::new(file.size()),
            prealloc_off: AtomicBool::new(false),
            zeros: KVVec::from_elem(0u8, ZERO_LEN, GFP_KERNEL)?,
        };
        let shared = Arc::pin_init(
            pin_init!(Shared {
                file,
                ahead,
                ahead_lock <- kernel::new_mutex!((), "mars_log_ahead"),
                open <- kernel::new_mutex!(open, "mars_log_open"),
                flight <- kernel::new_mutex!(flight, "mars_log_flight"),
                wake <- WaitEvent::new(),
                pending: AtomicBool::new(false),
                durable: AtomicU64::new(start),
                ahead_counted: AtomicU64::new(0),
                appended: AtomicU64::new(start),
                failed: AtomicBool::new(false),
                batches: AtomicU64::new(0),
                records: AtomicU64::new(0),
                sink,
            }),
            GFP_KERNEL,
        )?;
        let thread = KThread::spawn(c_str!("mars_logwriter"), shared.clone(), run)?;
        Ok(LogWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Appends one record of `len` bytes at the end of the log: `fill` gets the record's
    /// room and its file position and encodes the record there (it runs under the batch lock:
    /// keep it short, no sleeping). Returns the end position of the record and what `fill`
    /// returned. A `fill` error appends nothing.
    pub(crate) fn append<R>(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8], u64) -> Result<R>,
    ) -> core::result::Result<(u64, R), AppendError> {
        if self.shared.failed.load(Ordering::Acquire) || len > BATCH_CAPACITY {
            return Err(AppendError::Failed);
        }
        let mut open = self.shared.open.lock();
        let new_len = open
            .len
            .checked_add(len)
            .filter(|&end| end <= BATCH_CAPACITY)
            .ok_or(AppendError::Full)?;
        let pos = open
            .base
            .checked_add(open.len as u64)
            .ok_or(AppendError::Failed)?;
        let start = open.head.checked_add(open.len).ok_or(AppendError::Failed)?;
        let end = start.checked_add(len).ok_or(AppendError::Failed)?;
        let room = open.buf.get_mut(start..end).ok_or(AppendError::Full)?;
        let result = fill(room, pos).map_err(|_| AppendError::Failed)?;
        open.len = new_len;
        let record_end = pos.checked_add(len as u64).ok_or(AppendError::Failed)?;
        drop(open);
        self.shared.appended.store(record_end, Ordering::Release);
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        if !self.shared.pending.swap(true, Ordering::AcqRel) {
            self.shared.wake.wake();
        }
        Ok((record_end, result))
    }

    /// Whether `len` more bytes fit into the open batch now.
    pub(crate) fn has_room(&self, len: usize) -> bool {
        let open = self.shared.open.lock();
        open.len
            .checked_add(len)
            .is_some_and(|end| end <= BATCH_CAPACITY)
    }

    /// End of the durable log data.
    pub(crate) fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// End of the appended log data.
    pub(crate) fn appended(&self) -> u64 {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// Whether the logfile failed.
    pub(crate) fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Truncates the logfile to the end of its records (dropping the zeros written ahead) once
    /// everything appended is durable; call it when nothing more will be appended. Does
    /// nothing when the logfile failed (recovery judges its tail) or records are pending.
    pub(crate) fn finish(&self) -> Result {
        let end = self.appended();
        if self.has_failed() || self.durable() < end {
            return Ok(());
        }
        let _noio = NoIoScope::enter();
        // No zeros ahead from now on (the writer thread may be writing some right now: the
        // lock waits for it).
        let _ahead = self.shared.ahead_lock.lock();
        self.shared
            .ahead
            .prealloc_off
            .store(true, Ordering::Release);
        if self.shared.file.size() == end {
            return Ok(());
        }
        self.shared.file.truncate(end)?;
        self.shared.ahead.allocated.store(end, Ordering::Release);
        account_ahead(&self.shared);
        self.shared
            .file
            .sync(SyncMode::from_knob(knobs::AIO_SYNC_MODE.get()))
    }

    /// Batches written (each one write and one sync) and records appended so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.shared.batches.load(Ordering::Relaxed),
            self.shared.records.load(Ordering::Relaxed),
        )
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // The thread writes what is left before it returns.
        drop(self.thread.take());
        if let Err(e) = self.finish() {
            pr_warn!(
                "log writer: cannot cut the logfile at its end {}: {:?}\n",
                self.appended(),
                e
            );
        }
        // The file is no longer this writer's: its zeros (if any are left) are no reserve.
        let counted = self.shared.ahead_counted.swap(0, Ordering::AcqRel);
        knobs::LOG_ZEROS_AHEAD
            .fetch_sub(i64::try_from(counted).unwrap_or(i64::MAX), Ordering::AcqRel);
    }
}

/// The writer thread: takes the open batch whenever there is one, writes and syncs it.
fn run(shared: &Arc<Shared>, context: &ThreadContext) {
    // Page cache allocations for the logfile must not recurse into block IO: that IO may be
    // a MARS device waiting for this very thread.
    let _noio = NoIoScope::enter();
    let mut flight = shared.flight.lock();
    // The first chunk of zeros before the first batch comes.
    fill_ahead(
        shared,
        shared.durable.load(Ordering::Acquire),
        SyncMode::from_knob(knobs::AIO_SYNC_MODE.get()),
    );
    loop {
        shared.wake.wait(Some(context), 1000, || {
            shared.pending.load(Ordering::Acquire)
        });
        {
            let mut open = shared.open.lock();
            shared.pending.store(false, Ordering::Release);
            if open.len > 0 {
                core::mem::swap(&mut open.buf, &mut flight.buf);
                flight.head = open.head;
                flight.len = open.len;
                flight.base = open.base;
                // The next batch starts where this one ends, with a copy of the page part
                // before that (this batch holds it: its buffer starts at an earlier or the
                // same page boundary).
                let base = open.base.saturating_add(open.len as u64);
                let head = page_offset(base);
                let from = (flight.head + flight.len).saturating_sub(head);
                if let (Some(dst), Some(src)) =
                    (open.buf.get_mut(..head), flight.buf.get(from..from + head))
                {
                    dst.copy_from_slice(src);
                }
                open.base = base;
                open.head = head;
                open.len = 0;
            }
        }
        if flight.len > 0 {
            write_batch(shared, &mut flight);
        } else if context.should_stop() {
            // Stopping, and nothing was left to write (checked after the last take).
            break;
        }
    }
}

/// Writes and syncs one batch (whole pages), reports the outcome.
fn write_batch(shared: &Shared, batch: &mut Batch) {
    let len = batch.len;
    batch.len = 0;
    if shared.failed.load(Ordering::Acquire) {
        return;
    }
    let end = batch.base.saturating_add(len as u64);
    let data_end = batch.head.saturating_add(len);
    let write_len = data_end.next_multiple_of(PAGE_SIZE).min(BUFFER_LEN);
    if let Some(pad) = batch.buf.get_mut(data_end..write_len) {
        pad.fill(0);
    }
    let file_pos = batch.base.saturating_sub(batch.head as u64);
    let data = batch.buf.get(..write_len).unwrap_or_default();
    let mode = SyncMode::from_knob(knobs::AIO_SYNC_MODE.get());
    match write_pages(shared, data, file_pos, mode) {
        Ok(()) => {
            shared.batches.fetch_add(1, Ordering::Relaxed);
            shared.durable.store(end, Ordering::Release);
            shared.sink.durable(end);
            account_ahead(shared);
            // Keep a chunk of zeros ahead, now that nobody waits for this batch.
            fill_ahead(shared, end, mode);
        }
        Err(e) => {
            pr_err!(
                "log writer: writing {} bytes at {} failed: {:?}\n",
                len,
                batch.base,
                e
            );
            shared.failed.store(true, Ordering::Release);
            shared
                .sink
                .failed(shared.durable.load(Ordering::Acquire), e);
        }
    }
}

/// Writes `data` (whole pages) at `pos` and syncs as `mode` says: with direct IO into zeros
/// written ahead when possible, else through the page cache.
fn write_pages(shared: &Shared, data: &[u8], pos: u64, mode: SyncMode) -> Result {
    let end = pos.saturating_add(data.len() as u64);
    if let Some(direct) = shared
        .ahead
        .direct
        .as_ref()
        .filter(|_| !shared.ahead.direct_off.load(Ordering::Acquire))
    {
        preallocate(shared, direct, end, mode);
        match direct.write_all_at(data, pos) {
            Ok(()) => return direct.sync(mode),
            Err(e) if e == EINVAL => {
                // Alignment the filesystem does not accept: nothing was written.
                pr_info!(
                    "log writer: direct IO refused ({:?}): writing through the page cache\n",
                    e
                );
                shared.ahead.direct_off.store(true, Ordering::Release);
            }
            Err(e) => return Err(e),
        }
    }
    shared.file.write_all_at(data, pos)?;
    shared.file.sync(mode)
}

/// Writes zeros ahead so that at least `PREALLOC_CHUNK` follow `end` (direct IO only).
fn fill_ahead(shared: &Shared, end: u64, mode: SyncMode) {
    if let Some(direct) = shared
        .ahead
        .direct
        .as_ref()
        .filter(|_| !shared.ahead.direct_off.load(Ordering::Acquire))
    {
        preallocate(shared, direct, end.saturating_add(PREALLOC_CHUNK), mode);
    }
}

/// Makes sure the file is zero and allocated up to at least `end`: writes zeros from the
/// allocated end up to the next `PREALLOC_CHUNK` boundary after `end`, then makes them
/// durable (a failure only turns preallocation off: the data write then appends).
fn preallocate(shared: &Shared, direct: &File, end: u64, mode: SyncMode) {
    let _ahead = shared.ahead_lock.lock();
    let mut allocated = shared.ahead.allocated.load(Ordering::Acquire);
    if end <= allocated || shared.ahead.prealloc_off.load(Ordering::Acquire) {
        return;
    }
    let target = end
        .next_multiple_of(PREALLOC_CHUNK)
        .saturating_add(PREALLOC_CHUNK);
    let result = (|| {
        // Direct IO starts at a page boundary; what lies between the file's end and that is
        // zero (beyond EOF) and belongs to a page only the records' writes touch.
        allocated = allocated.next_multiple_of(PAGE_SIZE as u64);
        while allocated < target {
            // Whole zero buffers, one write each `ZERO_LEN * WRITE_REPEAT_MAX` bytes (its bios
            // in flight together), a partial one at the end.
            let rest = target - allocated;
            let written = if rest >= ZERO_LEN as u64 {
                let count = u32::try_from(rest / ZERO_LEN as u64)
                    .unwrap_or(WRITE_REPEAT_MAX)
                    .min(WRITE_REPEAT_MAX);
                direct.write_repeated_at(&shared.ahead.zeros, count, allocated)?
            } else {
                let n = usize::try_from(rest).unwrap_or(ZERO_LEN);
                direct.write_all_at(shared.ahead.zeros.get(..n).unwrap_or_default(), allocated)?;
                n
            };
            if written == 0 {
                return Err(EIO);
            }
            allocated = allocated.saturating_add(written as u64);
        }
        // The zeros' blocks and the size must be durable before overwrites rely on them.
        if mode != SyncMode::WriteBack {
            direct.sync(SyncMode::FullSync)?;
        }
        Ok::<(), Error>(())
    })();
    match result {
        Ok(()) => {
            shared.ahead.allocated.store(target, Ordering::Release);
            account_ahead(shared);
        }
        Err(e) => {
            // Zeros written before the failure (a full /mars fails partway) made the file
            // longer: count them, so that the emergency levels see them as the reserve they
            // are, not as used space (the first sync after them commits the new size with the
            // data, as for any append).
            let size = shared.file.size();
            if size > shared.ahead.allocated.load(Ordering::Acquire) {
                shared.ahead.allocated.store(size, Ordering::Release);
                account_ahead(shared);
            }
            pr_notice!(
                "log writer: cannot write zeros ahead of the log ({:?}): appending without\n",
                e
            );
            shared.ahead.prealloc_off.store(true, Ordering::Release);
        }
    }
}

/// Publishes the zeros this writer keeps ahead of its durable records (allocated minus
/// durable) in [`knobs::LOG_ZEROS_AHEAD`]: space the log will fill, and that is given back
/// when the logfile is cut at its end, so the emergency levels count it as free (else a small
/// `/mars` would jam on the zeros of a fresh logfile alone). Callers may race; each swap moves
/// the total by exactly this writer's change.
fn account_ahead(shared: &Shared) {
    let ahead = shared
        .ahead
        .allocated
        .load(Ordering::Acquire)
        .saturating_sub(shared.durable.load(Ordering::Acquire));
    let old = shared.ahead_counted.swap(ahead, Ordering::AcqRel);
    let delta = i64::try_from(ahead)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(old).unwrap_or(i64::MAX));
    knobs::LOG_ZEROS_AHEAD.fetch_add(delta, Ordering::AcqRel);
}
