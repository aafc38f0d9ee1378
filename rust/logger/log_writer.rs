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
//! A write or sync error is final for this logfile: the sink learns the durable end that
//! will never move again, later appends fail with [`AppendError::Failed`].

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::kapi::file::{File, SyncMode};
use crate::kapi::kthread::{KThread, ThreadContext, WaitEvent};
use crate::kapi::mm::NoIoScope;
use crate::knobs;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Size of each of the two batch buffers: the most one write and sync carries. A batch must
/// hold every record of the largest request at once (1 MiB of data in 256 records).
pub(crate) const BATCH_CAPACITY: usize = 2 << 20;

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

/// A batch buffer: `buf[..len]` goes to the file at `base`.
struct Batch {
    buf: KVVec<u8>,
    len: usize,
    base: u64,
}

/// What the writer thread and the appender share.
#[pin_data]
struct Shared {
    file: File,
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
        let open = Batch { buf: KVVec::from_elem(0u8, BATCH_CAPACITY, GFP_KERNEL)?, len: 0, base: start };
        let flight = Batch { buf: KVVec::from_elem(0u8, BATCH_CAPACITY, GFP_KERNEL)?, len: 0, base: start };
        let shared = Arc::pin_init(
            pin_init!(Shared {
                file,
                open <- kernel::new_mutex!(open, "mars_log_open"),
                flight <- kernel::new_mutex!(flight, "mars_log_flight"),
                wake <- WaitEvent::new(),
                pending: AtomicBool::new(false),
                durable: AtomicU64::new(start),
                appended: AtomicU64::new(start),
                failed: AtomicBool::new(false),
                batches: AtomicU64::new(0),
                records: AtomicU64::new(0),
                sink,
            }),
            GFP_KERNEL,
        )?;
        let thread = KThread::spawn(c_str!("mars_logwriter"), shared.clone(), run)?;
        Ok(LogWriter { shared, thread: Some(thread) })
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
        let end = open.len.checked_add(len).filter(|&end| end <= BATCH_CAPACITY).ok_or(AppendError::Full)?;
        let start = open.len;
        let pos = open.base.checked_add(start as u64).ok_or(AppendError::Failed)?;
        let room = open.buf.get_mut(start..end).ok_or(AppendError::Full)?;
        let result = fill(room, pos).map_err(|_| AppendError::Failed)?;
        open.len = end;
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
        open.len.checked_add(len).is_some_and(|end| end <= BATCH_CAPACITY)
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

    /// Batches written (each one write and one sync) and records appended so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.shared.batches.load(Ordering::Relaxed), self.shared.records.load(Ordering::Relaxed))
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // The thread writes what is left before it returns.
        drop(self.thread.take());
    }
}

/// The writer thread: takes the open batch whenever there is one, writes and syncs it.
fn run(shared: &Arc<Shared>, context: &ThreadContext) {
    // Page cache allocations for the logfile must not recurse into block IO: that IO may be
    // a MARS device waiting for this very thread.
    let _noio = NoIoScope::enter();
    let mut flight = shared.flight.lock();
    loop {
        shared.wake.wait(Some(context), 1000, || shared.pending.load(Ordering::Acquire));
        {
            let mut open = shared.open.lock();
            shared.pending.store(false, Ordering::Release);
            if open.len > 0 {
                core::mem::swap(&mut open.buf, &mut flight.buf);
                flight.len = open.len;
                flight.base = open.base;
                open.base = open.base.saturating_add(open.len as u64);
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

/// Writes and syncs one batch, reports the outcome.
fn write_batch(shared: &Shared, batch: &mut Batch) {
    let len = batch.len;
    batch.len = 0;
    if shared.failed.load(Ordering::Acquire) {
        return;
    }
    let end = batch.base.saturating_add(len as u64);
    let data = batch.buf.get(..len).unwrap_or_default();
    let mode = SyncMode::from_knob(knobs::AIO_SYNC_MODE.get());
    match shared.file.write_all_at(data, batch.base).and_then(|()| shared.file.sync(mode)) {
        Ok(()) => {
            shared.batches.fetch_add(1, Ordering::Relaxed);
            shared.durable.store(end, Ordering::Release);
            shared.sink.durable(end);
        }
        Err(e) => {
            pr_err!("log writer: writing {} bytes at {} failed: {:?}\n", len, batch.base, e);
            shared.failed.store(true, Ordering::Release);
            shared.sink.failed(shared.durable.load(Ordering::Acquire), e);
        }
    }
}
