// SPDX-License-Identifier: GPL-2.0
//! The trans_logger brick on a primary: every write becomes a record in the transaction log
//! before it is written back to the data device, so that the log is a complete, ordered
//! history of the device (what secondaries replay).
//!
//! Wiring: the if brick's input is connected to this brick's output; its data input is
//! connected to a bio brick on the data device; its log is a [`LogWriter`] on
//! `/mars/resource-<res>/log-N-<host>` (the original's aio brick on the log input).
//!
//! A write is cut into pieces of at most a page (`record_pieces`). The submitter (the if
//! brick's worker, on the CPU that submitted the request) copies each piece into the page that
//! becomes its shadow and computes the record digest ([`Queued::prepare`]): the per-byte work
//! runs on many CPUs, not on the one logger thread, and not under the batch lock. Those pages
//! are not counted in the shadow memory limit until the logger takes the write; they are
//! bounded by the if brick's queue depth. Then, under the logger's state lock and in queue
//! order, the submitter itself ([`TransLogger::append_queued`]; the logger thread only for
//! what is left, e.g. while writers are throttled) appends a record per piece to the open
//! batch of the log writer (a copy of the page and the header around it), tracks its log
//! position (`PositionTracker`) and indexes the shadow by device position: no hand-over to
//! the logger thread on the way to the log. The write is acknowledged as
//! `logger_completion_semantics` says: right after the copy, or when the writer reports its
//! last record durable (from the writer thread, which completes such writes directly).
//! Durable records are written back to the data device out of order, adjacent pieces
//! coalesced (up to 1 MiB per request), a piece only after every older piece overlapping it. The replay position (`min_pos`) advances as the oldest
//! pieces complete; the thread publishes it in `replay-<host>` (after flushing the data
//! device) at most every `logger_report_interval_s`. Reads see the newest data: pieces not
//! yet written back are copied over what the data device returns. Writers are throttled
//! (their requests wait in the queue) while the shadows exceed the memory limit
//! (`mem_limit_percent`, `mem_limit_gb`), the tracker or the writer's batch is full.
//!
//! Emergency mode (`/mars` full, research §8.1, `mars_core::emergency`): when the strategy asks
//! the logger to cease logging ([`TransLogger::set_cease`]), or the log writer fails (ENOSPC or
//! any other write error of the logfile), no write fails. The logger takes no new writes for a
//! moment, writes back everything in its shadows (also pieces whose records never became
//! durable), flushes the data device and acknowledges every write that waited for durability;
//! then it ends the logfile at its durable end (its final version link), makes the *hole*
//! (`version-(N+10)-<host>` = `000…0,log-(N+10)-<host>,0:` and the empty `log-(N+11)-<host>`)
//! and points the replay link at the start of that empty logfile, so that a crash recovery
//! replays nothing older over the data written meanwhile. From then on (*bypass*) every write
//! and flush goes to the data device directly and completes from there; reads never needed
//! the log. When the strategy lets it resume, the logger waits for the direct writes, flushes
//! the data device and starts logging into `log-(N+11)-<host>`, whose version link chains to
//! the hole's. `is-emergency` shows the whole period.
//!
//! Switching on recovers first (`logger::recovery`: replays what the replay link says may be
//! missing on the data device, starts a fresh logfile). Switching off stops accepting
//! requests, then the thread finishes everything queued, waits until the log is durable and
//! everything is written back, and publishes the final replay position.
//!
//! Contexts: `io` runs in the if brick's worker (process context) and appends writes under
//! the state lock; the logger thread does the rest of the bookkeeping under the same lock
//! (writeback, reports, rotation, emergency mode), which it releases while it waits;
//! completions of own requests only queue them for the thread; reads never take the state
//! lock and are completed (shadows copied) in the data device's completion context.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::brick::{Brick, Flags, Info, Input, Mref, MrefIo, MrefOwner, Op, Output, Power};
use crate::clock;
use crate::kapi::file::{File, OpenMode};
use crate::kapi::kthread::{KThread, ThreadContext};
use crate::kapi::mm::{total_ram, NoIoScope, PageBuf};
use crate::knobs;
use crate::logger::links::{self, KernelDigester, ResourcePaths};
use crate::logger::log_writer::{DurableSink, LogWriter};
use crate::logger::own_io::{Completions, OwnIo, Purpose};
use crate::logger::recovery;
use crate::logger::ring::Ring;
use crate::logger::shadow::{read_segments, Index, Shadow, ShadowSlot, SHADOW_BYTES};
use crate::mars_core::digest::{mars_digest, CrcFlags, DigestAlgo, DIGEST_SIZE};
use crate::mars_core::emergency::{hole, hole_version_link};
use crate::mars_core::lamport::Stamp;
use crate::mars_core::log_record::{
    seal_record_digested, RecordHeader, CODE_WRITE_NEW, OVERHEAD, START_OVERHEAD,
};
use crate::mars_core::logger::{
    admit, fresh_replay_link, logrot_limit, mem_limit, record_pieces, replay_link, rotate_decision,
    version_link, AckPoint, CompletionSemantics, LogPositions, NextLog, OldLogState, ReportPacer,
    RequestKind, RotateDecision, Rotation, RotationAction,
};
use crate::mars_core::replay_position::{PositionTracker, Slot, TrackError};
use crate::mars_core::tree::LogName;
use kernel::c_str;
use kernel::error::code::{EBUSY, EEXIST, EINVAL, EIO, ENOENT, ENOMEM, ENXIO};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Pieces logged and not yet written back, at most (the replay position tracker's ring).
const TRACKER_SLOTS: usize = 1 << 16;
/// Requests queued for the logger thread, and requests waiting for durability, at most. The
/// if brick above has far fewer in flight (its queue depth).
const QUEUE_CAPACITY: usize = 4096;
/// Writebacks (and flushes) in flight at once.
const WRITEBACK_IN_FLIGHT: usize = 128;
/// Pieces coalesced into one writeback at most.
const WRITEBACK_MAX_PIECES: usize = 256;
/// How long the idle thread sleeps before looking at its report interval again.
const IDLE_WAIT_MS: u32 = 500;

/// Number of statistics a logger publishes.
pub(crate) const STAT_COUNT: usize = 10;
/// Their names, as the test hook shows them.
pub(crate) const STAT_NAMES: [&str; STAT_COUNT] = [
    "log",
    "appended",
    "durable",
    "min_pos",
    "max_pos",
    "pending",
    "batches",
    "records",
    "writebacks",
    "replayed",
];

/// A request waiting until logfile `log_nr` is durable up to `end`.
struct Ack {
    log_nr: u32,
    end: u64,
    io: MrefIo,
}

/// One record piece of a write, prepared before the logger thread takes the write: its data
/// copied out of the request into the page that becomes its shadow, and digested.
struct Piece {
    page: PageBuf,
    algo: DigestAlgo,
    digest: [u8; DIGEST_SIZE],
}

/// A write or flush waiting for the logger thread, with the write's prepared pieces (in
/// `record_pieces` order; empty for a flush, or when preparing failed: the logger thread then
/// copies and digests itself).
struct Queued {
    io: MrefIo,
    pieces: KVec<Piece>,
}

impl Queued {
    /// Copies and digests every record piece of a write (in the submitter's context, so that
    /// this per-byte work runs on the submitting CPUs in parallel, not on the one logger
    /// thread). Returns no pieces when any step fails.
    fn prepare(io: &MrefIo) -> KVec<Piece> {
        let _noio = NoIoScope::enter();
        let prepared = (|| {
            let mut pieces = KVec::with_capacity(
                record_pieces(io.pos(), u64::from(io.len())).count(),
                GFP_KERNEL,
            )?;
            let mut offset = 0u64;
            for (_, len) in record_pieces(io.pos(), u64::from(io.len())) {
                let len = usize::try_from(len).map_err(|_| EINVAL)?;
                let mut page = PageBuf::new()?;
                page.with_mut(|bytes| {
                    read_segments(io.segments(), offset, bytes.get_mut(..len).ok_or(EINVAL)?)
                })?;
                let (algo, digest) = page
                    .with(|bytes| {
                        bytes
                            .get(..len)
                            .and_then(|data| mars_digest(CrcFlags::CRC32C, data, &KernelDigester))
                    })
                    .ok_or(EINVAL)?;
                pieces.push(Piece { page, algo, digest }, GFP_KERNEL)?;
                offset = offset.saturating_add(len as u64);
            }
            Ok::<_, Error>(pieces)
        })();
        prepared.unwrap_or_default()
    }
}

/// The emergency mode as others see it.
struct EmergencyFlags {
    /// Logging is to stop (the strategy's emergency decision, or a failed logfile); cleared
    /// only by the strategy ([`TransLogger::set_cease`]).
    cease: AtomicBool,
    /// Logging has stopped (from the moment the logger ceases until it logs again).
    stopped: AtomicBool,
    /// How often logging stopped because the logfile failed (for the strategy's backoff);
    /// counted before `stopped` is set.
    failures: AtomicU32,
}

/// What `io`, the logger thread and the log writer's reports share.
#[pin_data]
struct Core {
    /// The data device.
    #[pin]
    data: Input,
    /// Writes and flushes for the logger thread, in arrival order.
    #[pin]
    incoming: Mutex<Ring<Queued>>,
    /// Requests waiting for durability, in log order.
    #[pin]
    acks: Mutex<Ring<Ack>>,
    /// Shadows not yet written back.
    #[pin]
    index: Mutex<Index>,
    /// Completions of writebacks and flushes; its event wakes the logger thread.
    completions: Arc<Completions>,
    /// Requests are accepted (switched on). Changed under the `incoming` lock.
    accepting: AtomicBool,
    /// Something was queued since the thread last looked.
    incoming_pending: AtomicBool,
    /// End of the durable data of the logfiles being written (at most two during a switch),
    /// as last reported by their writers: slot `nr % 2` belongs to logfile `durable_nr[slot]`.
    durable: [AtomicU64; 2],
    durable_nr: [AtomicU32; 2],
    /// The durable end moved since the thread last looked.
    durable_changed: AtomicBool,
    /// The logfile failed: logging stops (emergency mode), writes go to the data device.
    log_failed: AtomicBool,
    /// The emergency mode's flags.
    em: EmergencyFlags,
    /// On switching off, abandon everything not written back (testing: a simulated crash).
    abandon: AtomicBool,
    /// Do not start writebacks (testing: keeps pieces in the shadows).
    writeback_paused: AtomicBool,
    /// Statistics, see [`STAT_NAMES`].
    stats: [AtomicU64; STAT_COUNT],
}

impl Core {
    fn wake(&self) {
        self.completions.event().wake();
    }

    /// Queues a write or flush, a write with its pieces prepared (unless logging has stopped:
    /// in emergency mode writes go to the data device as they are). Returns whether it was
    /// queued (else it is completed with an error); the caller then takes the queue itself
    /// or wakes the logger thread ([`Core::kick`]).
    fn enqueue(&self, io: MrefIo) -> bool {
        let pieces = if io.op() == Op::Write && !self.em.stopped.load(Ordering::Acquire) {
            Queued::prepare(&io)
        } else {
            KVec::new()
        };
        let rejected = {
            let mut incoming = self.incoming.lock();
            if !self.accepting.load(Ordering::Acquire) {
                Some((io, ENXIO))
            } else {
                incoming
                    .push_back(Queued { io, pieces })
                    .err()
                    .map(|queued| (queued.io, EBUSY))
            }
        };
        match rejected {
            Some((io, e)) => {
                io.complete(Err(e));
                false
            }
            None => true,
        }
    }

    /// Tells the logger thread that the queue needs it.
    fn kick(&self) {
        self.incoming_pending.store(true, Ordering::Release);
        self.wake();
    }

    /// Serves a read: from the data device, with the pieces not yet written back copied over
    /// what it returns.
    fn read(&self, io: MrefIo) {
        if !self.accepting.load(Ordering::Acquire) {
            return io.complete(Err(ENXIO));
        }
        let _noio = NoIoScope::enter();
        let (pos, len) = (io.pos(), u64::from(io.len()));
        let mut shadows = KVec::new();
        let found = self.index.lock().for_overlapping(pos, len, |shadow| {
            shadows.push(shadow.clone(), GFP_KERNEL).map_err(|_| ENOMEM)
        });
        if let Err(e) = found {
            return io.complete(Err(e));
        }
        if shadows.is_empty() {
            return self.data.io(io);
        }
        // Oldest first: newer data are copied over older.
        shadows
            .as_mut_slice()
            .sort_unstable_by_key(|shadow| shadow.seq);
        match ReadAspect::new(io, shadows) {
            Ok(aspect) => self.data.io(MrefIo::new(aspect)),
            Err((io, e)) => io.complete(Err(e)),
        }
    }

    /// Starts tracking the durability of logfile `nr` (before its writer starts).
    fn begin_log(&self, nr: u32) {
        let slot = (nr % 2) as usize;
        if let (Some(durable), Some(tag)) = (self.durable.get(slot), self.durable_nr.get(slot)) {
            tag.store(u32::MAX, Ordering::Release);
            durable.store(0, Ordering::Release);
            tag.store(nr, Ordering::Release);
        }
    }

    /// End of the durable data of logfile `nr` while it is being written; the tag is read
    /// again after the end, so a slot reused for a later logfile meanwhile is not taken.
    fn durable_end(&self, nr: u32) -> Option<u64> {
        let slot = (nr % 2) as usize;
        let (durable, tag) = (self.durable.get(slot)?, self.durable_nr.get(slot)?);
        if tag.load(Ordering::Acquire) != nr {
            return None;
        }
        let end = durable.load(Ordering::Acquire);
        (tag.load(Ordering::Acquire) == nr).then_some(end)
    }

    /// End of the durable data of logfile `nr` (0 when it is not being written).
    fn durable_of(&self, nr: u32) -> u64 {
        let slot = (nr % 2) as usize;
        match (self.durable.get(slot), self.durable_nr.get(slot)) {
            (Some(durable), Some(tag)) if tag.load(Ordering::Acquire) == nr => {
                durable.load(Ordering::Acquire)
            }
            _ => 0,
        }
    }

    /// The writer of logfile `nr` reports `end` durable: acknowledge what waited for it (also
    /// what waited for an older logfile: a switch waits until those are durable).
    fn on_durable(&self, nr: u32, end: u64) {
        let slot = (nr % 2) as usize;
        if let (Some(durable), Some(tag)) = (self.durable.get(slot), self.durable_nr.get(slot)) {
            if tag.load(Ordering::Acquire) == nr {
                durable.store(end, Ordering::Release);
            }
        }
        self.complete_acks(|ack| {
            (ack.log_nr < nr || (ack.log_nr == nr && ack.end <= end)).then_some(Ok(()))
        });
        self.durable_changed.store(true, Ordering::Release);
        self.wake();
    }

    /// The writer of logfile `nr` failed: what is durable is acknowledged; what waited for
    /// more keeps waiting: the logger goes into emergency mode and acknowledges it once its
    /// data are on the data device.
    fn on_failed(&self, nr: u32, end: u64) {
        self.log_failed.store(true, Ordering::Release);
        self.em.cease.store(true, Ordering::Release);
        self.complete_acks(|ack| {
            (ack.log_nr < nr || (ack.log_nr == nr && ack.end <= end)).then_some(Ok(()))
        });
        self.durable_changed.store(true, Ordering::Release);
        self.wake();
    }

    /// Completes acks from the front while `decide` gives a status, outside the lock.
    fn complete_acks(&self, decide: impl Fn(&Ack) -> Option<Result>) {
        loop {
            let next = {
                let mut acks = self.acks.lock();
                match acks.front().and_then(&decide) {
                    Some(status) => acks.pop_front().map(|ack| (ack, status)),
                    None => None,
                }
            };
            match next {
                Some((ack, status)) => ack.io.complete(status),
                None => return,
            }
        }
    }

    /// Makes `io` wait until logfile `nr` is durable up to `end` (or completes it now if it
    /// is and nothing older waits).
    fn ack_when_durable(&self, nr: u32, end: u64, io: MrefIo) {
        let early = {
            let mut acks = self.acks.lock();
            // Checked under the lock that `on_durable` takes after storing the durable end:
            // either we see its value, or it sees our entry.
            if self.durable_of(nr) >= end && acks.is_empty() {
                Some(io)
            } else {
                acks.push_back(Ack {
                    log_nr: nr,
                    end,
                    io,
                })
                .err()
                .map(|ack| ack.io)
            }
        };
        if let Some(io) = early {
            // Durable already, or (never: room was checked) no room to wait.
            io.complete(if self.durable_of(nr) >= end {
                Ok(())
            } else {
                Err(EIO)
            });
        }
    }
}

/// The reports of the writer of logfile `nr` go to the core.
struct LogSink {
    core: Arc<Core>,
    nr: u32,
}

impl DurableSink for LogSink {
    fn durable(&self, end: u64) {
        self.core.on_durable(self.nr, end);
    }

    fn failed(&self, end: u64, _error: Error) {
        self.core.on_failed(self.nr, end);
    }
}

/// A read passed to the data device in a request of our own (same pages), so that its
/// completion can copy newer data over it.
struct ReadAspect {
    parent: MrefIo,
    child: Mref,
    shadows: KVec<Arc<Shadow>>,
}

impl ReadAspect {
    fn new(
        parent: MrefIo,
        shadows: KVec<Arc<Shadow>>,
    ) -> core::result::Result<KBox<Self>, (MrefIo, Error)> {
        // Allocate first: a failure must leave the parent with us.
        let slot = match KBox::<ReadAspect>::new_uninit(GFP_KERNEL) {
            Ok(slot) => slot,
            Err(_) => return Err((parent, ENOMEM)),
        };
        match alias_child(&parent, Op::Read) {
            Ok(child) => Ok(slot.write(ReadAspect {
                parent,
                child,
                shadows,
            })),
            Err(e) => Err((parent, e)),
        }
    }
}

// SAFETY: the child `Mref` lives in the box, whose heap address does not change while the box
// is given up; `from_raw` restores exactly that box.
unsafe impl MrefOwner for KBox<ReadAspect> {
    fn mref(&self) -> &Mref {
        &self.child
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` above.
        unsafe { KBox::from_raw(raw.cast()) }
    }

    fn done(self, status: Result) {
        let ReadAspect {
            parent,
            child,
            shadows,
        } = KBox::into_inner(self);
        let (pos, len) = (parent.pos(), u64::from(parent.len()));
        let status = status.and_then(|()| {
            shadows
                .iter()
                .try_for_each(|shadow| shadow.overlay(pos, len, parent.segments()))
                .map_err(|_| EIO)
        });
        // The child's segments alias the parent's pages: gone before the parent completes.
        drop(child);
        parent.complete(status);
    }
}

/// A request of our own for `op` over the pages of `parent` (same position, length and
/// flags). Its completion must come before `parent` is completed.
fn alias_child(parent: &MrefIo, op: Op) -> Result<Mref> {
    let mut child = Mref::new(parent.segments().len())?;
    for segment in parent.segments() {
        // SAFETY: the alias is only used by the child request, which completes before the
        // parent (the callers complete the parent in the child's completion, after dropping
        // the child).
        child
            .segments_mut()
            .push(unsafe { segment.alias() }, GFP_KERNEL)?;
    }
    child.prepare(op, parent.pos(), parent.len(), parent.flags())?;
    Ok(child)
}

/// A write or flush of the application passed to the data device directly in emergency
/// mode (bypass), in a request of our own over the same pages so that its completion is
/// counted (resuming waits for it).
struct DirectAspect {
    parent: MrefIo,
    child: Mref,
    completions: Arc<Completions>,
}

impl DirectAspect {
    fn new(
        parent: MrefIo,
        completions: Arc<Completions>,
    ) -> core::result::Result<KBox<Self>, (MrefIo, Error)> {
        let slot = match KBox::<DirectAspect>::new_uninit(GFP_KERNEL) {
            Ok(slot) => slot,
            Err(_) => return Err((parent, ENOMEM)),
        };
        let op = parent.op();
        match alias_child(&parent, op) {
            Ok(child) => Ok(slot.write(DirectAspect {
                parent,
                child,
                completions,
            })),
            Err(e) => Err((parent, e)),
        }
    }
}

// SAFETY: the child `Mref` lives in the box, whose heap address does not change while the box
// is given up; `from_raw` restores exactly that box.
unsafe impl MrefOwner for KBox<DirectAspect> {
    fn mref(&self) -> &Mref {
        &self.child
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        KBox::into_raw(self).cast()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` came from `into_raw` above.
        unsafe { KBox::from_raw(raw.cast()) }
    }

    fn done(self, status: Result) {
        let DirectAspect {
            parent,
            child,
            completions,
        } = KBox::into_inner(self);
        // The child's segments alias the parent's pages: gone before the parent completes.
        drop(child);
        parent.complete(status);
        completions.direct_done();
        // `completions` is dropped last; its drop never sleeps.
    }
}

/// Passes `io` to the data device directly (emergency bypass), counted in flight.
fn submit_direct(core: &Core, io: MrefIo) {
    match DirectAspect::new(io, core.completions.clone()) {
        Ok(aspect) => {
            core.completions.direct_started();
            core.data.io(MrefIo::new(aspect));
        }
        Err((io, e)) => io.complete(Err(e)),
    }
}

/// A logfile being written (or, during a switch, still being written back).
struct LogState {
    nr: u32,
    writer: LogWriter,
    tracker: PositionTracker<KVVec<Slot>>,
    /// Sequence number of the last record.
    record_seq: u32,
    /// This host's version link of the previous logfile.
    prev_version: KVec<u8>,
    pacer: ReportPacer,
    /// Positions to publish once the data device flush in flight completes.
    flushing: Option<LogPositions>,
    /// The replay position last published in the replay link (`None`: the link does not
    /// name this logfile yet).
    published_min: Option<u64>,
    /// The durable end last published in the version link.
    published_version: Option<u64>,
    /// The last failure to write the links (reported once, not at every retry: on a full
    /// /mars that is every report interval).
    link_error: Option<Error>,
}

impl LogState {
    /// Starts logging into `file`, logfile `nr` of this host.
    fn start(core: &Arc<Core>, nr: u32, file: File, prev_version: KVec<u8>) -> Result<Self> {
        let slots = KVVec::from_elem(Slot::default(), TRACKER_SLOTS, GFP_KERNEL)?;
        core.begin_log(nr);
        let sink: Arc<dyn DurableSink> = Arc::new(
            LogSink {
                core: core.clone(),
                nr,
            },
            GFP_KERNEL,
        )?;
        Ok(LogState {
            nr,
            writer: LogWriter::start(file, 0, sink)?,
            tracker: PositionTracker::new(slots, 0),
            record_seq: 0,
            prev_version,
            pacer: ReportPacer::default(),
            flushing: None,
            published_min: None,
            published_version: None,
            link_error: None,
        })
    }

    fn positions(&self) -> LogPositions {
        LogPositions {
            min_pos: self.tracker.min_pos(),
            max_pos: self.tracker.max_pos(),
            durable: self.writer.durable(),
        }
    }

    /// Whether the replay link shows this logfile's current replay position.
    fn reported(&self) -> bool {
        self.flushing.is_none() && self.published_min == Some(self.tracker.min_pos())
    }

    /// Whether everything appended is durable and written back.
    fn is_done(&self) -> bool {
        self.tracker.is_empty() && self.writer.durable() >= self.writer.appended()
    }
}

/// Everything only the logger thread touches.
struct State {
    paths: ResourcePaths,
    /// The logfile new writes go to.
    log: LogState,
    /// During a switch, the previous logfile until it is written back; the replay link
    /// names it until then.
    old: Option<LogState>,
    rotation: Rotation,
    /// When the rotation conditions were last looked at (ms).
    rotation_checked_ms: u64,
    /// A non-empty next logfile was reported (once).
    rotation_refused: bool,
    /// Size of the /mars filesystem (limits the auto-rotation size).
    mars_size: u64,
    /// Shadows whose writeback has not started, in log order.
    unstarted: Ring<Arc<Shadow>>,
    next_seq: u64,
    ram: u64,
    /// The last writeback failed: wait before retrying.
    writeback_error: bool,
    /// The version links cannot be computed (no MD5); reported once.
    version_unavailable: bool,
    /// Where the emergency mode stands.
    emergency: Emergency,
    /// A flush of the data device of the emergency mode.
    barrier: Barrier,
    /// The hole made when logging stopped: where logging resumes.
    hole: Option<Hole>,
    /// A write whose logging failed half way (the writer failed): it goes to the data device
    /// whole, first thing in bypass.
    held: Option<MrefIo>,
    /// The last error of an emergency step, reported once.
    emergency_error: Option<Error>,
    /// When to try resuming again after a failure (ms).
    resume_after_ms: u64,
}

/// The logger's emergency mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Emergency {
    /// Logging.
    Off,
    /// Logging stops: no write is taken while the shadows are written back.
    Ceasing,
    /// Writes go to the data device directly.
    Bypass,
    /// Logging starts again once the direct writes completed and the data device is flushed.
    Resuming,
}

/// A flush of the data device that a step of the emergency mode waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Barrier {
    Idle,
    InFlight,
    Done(bool),
}

/// The hole: logging resumes into logfile `nr`, whose version link chains to `prev_version`,
/// the fake version link `version_nr` of the hole.
struct Hole {
    nr: u32,
    version_nr: u32,
    prev_version: KVec<u8>,
    /// The version link and the empty logfile exist.
    complete: bool,
}

/// The logger thread's state.
#[pin_data]
struct LoggerThread {
    core: Arc<Core>,
    #[pin]
    state: Mutex<State>,
}

/// What runs while switched on.
struct Running {
    _thread: KThread<Arc<LoggerThread>>,
}

/// The trans_logger brick.
#[pin_data]
pub(crate) struct TransLogger {
    paths: ResourcePaths,
    power: Power,
    core: Arc<Core>,
    /// Accept a damaged log at recovery.
    force: AtomicBool,
    /// The running thread; the lock also serialises switching.
    #[pin]
    running: Mutex<Option<Running>>,
    /// The running thread's state, for submitters that log their writes themselves (set
    /// while the thread runs; submitters hold this lock while they append).
    #[pin]
    appender: Mutex<Option<Arc<LoggerThread>>>,
}

impl TransLogger {
    /// A trans_logger for the resource directory `dir` (`/mars/resource-<res>`) of host
    /// `host`, switched off, its data input unconnected.
    pub(crate) fn new(dir: &[u8], host: &[u8]) -> Result<Arc<Self>> {
        let paths = ResourcePaths::new(dir, host)?;
        let incoming = Ring::new(QUEUE_CAPACITY)?;
        let acks = Ring::new(QUEUE_CAPACITY)?;
        let completions = Completions::new(WRITEBACK_IN_FLIGHT)?;
        let core = Arc::pin_init(
            pin_init!(Core {
                data <- Input::new(),
                incoming <- kernel::new_mutex!(incoming, "mars_tl_incoming"),
                acks <- kernel::new_mutex!(acks, "mars_tl_acks"),
                index <- kernel::new_mutex!(Index::new(), "mars_tl_index"),
                completions,
                accepting: AtomicBool::new(false),
                incoming_pending: AtomicBool::new(false),
                durable: [const { AtomicU64::new(0) }; 2],
                durable_nr: [const { AtomicU32::new(0) }; 2],
                durable_changed: AtomicBool::new(false),
                log_failed: AtomicBool::new(false),
                em: EmergencyFlags {
                    cease: AtomicBool::new(false),
                    stopped: AtomicBool::new(false),
                    failures: AtomicU32::new(0),
                },
                abandon: AtomicBool::new(false),
                writeback_paused: AtomicBool::new(false),
                stats: [const { AtomicU64::new(0) }; STAT_COUNT],
            }),
            GFP_KERNEL,
        )?;
        Arc::pin_init(
            pin_init!(TransLogger {
                paths,
                power: Power::new(),
                core,
                force: AtomicBool::new(false),
                running <- kernel::new_mutex!(None, "mars_tl_running"),
                appender <- kernel::new_mutex!(None, "mars_tl_appender"),
            }),
            GFP_KERNEL,
        )
    }

    /// The data input (connect it to the data device's brick before switching on).
    pub(crate) fn data_input(&self) -> &Input {
        &self.core.data
    }

    /// Testing: on the next switch-off, forget everything not written back, as a crash would.
    pub(crate) fn set_abandon(&self, abandon: bool) {
        self.core.abandon.store(abandon, Ordering::Release);
    }

    /// Testing: pause (or resume) writeback; written data stay in the shadows and the log.
    pub(crate) fn set_writeback_paused(&self, paused: bool) {
        self.core.writeback_paused.store(paused, Ordering::Release);
        self.core.wake();
    }

    /// Accept a log damaged before its end at the next recovery.
    pub(crate) fn set_force(&self, force: bool) {
        self.force.store(force, Ordering::Release);
    }

    fn start(&self) -> Result<Running> {
        self.core.data.info()?;
        let start = recovery::recover(
            &self.paths,
            &self.core.data,
            self.force.load(Ordering::Acquire),
        )?;
        self.core.log_failed.store(false, Ordering::Release);
        self.core.em.cease.store(false, Ordering::Release);
        self.core.em.stopped.store(false, Ordering::Release);
        self.core.abandon.store(false, Ordering::Release);
        self.core.stats[stat::REPLAYED].store(start.replayed, Ordering::Relaxed);
        let mars_size = start.file.filesystem_size().unwrap_or(0);
        let mut log = LogState::start(&self.core, start.nr, start.file, start.prev_version)?;
        // Recovery pointed the replay link at this logfile's start.
        log.published_min = Some(0);
        let state = State {
            paths: self.paths.try_clone()?,
            log,
            old: None,
            rotation: Rotation::Single,
            rotation_checked_ms: 0,
            rotation_refused: false,
            mars_size,
            unstarted: Ring::new(TRACKER_SLOTS)?,
            next_seq: 1,
            ram: total_ram(),
            writeback_error: false,
            version_unavailable: false,
            emergency: Emergency::Off,
            barrier: Barrier::Idle,
            hole: None,
            held: None,
            emergency_error: None,
            resume_after_ms: 0,
        };
        let thread = Arc::pin_init(
            pin_init!(LoggerThread {
                core: self.core.clone(),
                state <- kernel::new_mutex!(state, "mars_tl_state"),
            }),
            GFP_KERNEL,
        )?;
        *self.appender.lock() = Some(thread.clone());
        let thread = match KThread::spawn(c_str!("mars_logger"), thread, run) {
            Ok(thread) => thread,
            Err(e) => {
                *self.appender.lock() = None;
                return Err(e);
            }
        };
        {
            let _incoming = self.core.incoming.lock();
            self.core.accepting.store(true, Ordering::Release);
        }
        Ok(Running { _thread: thread })
    }

    /// Logs what is queued in the submitter's context (one thread hand-over less per
    /// request: the log writer is woken by the append itself), as far as the logger takes
    /// writes now; what is left (throttled, emergency mode, switching) is the logger
    /// thread's, which is woken for it.
    fn append_queued(&self) {
        // Held throughout, so that switching off (which clears it) waits for us: once the
        // thread has stopped, no submitter touches its state.
        let appender = self.appender.lock();
        let Some(thread) = appender.as_ref() else {
            drop(appender);
            return self.core.kick();
        };
        // Allocations here must not recurse into block IO: it may be our own device.
        let _noio = NoIoScope::enter();
        let mut state = thread.state.lock();
        state.take_incoming(&self.core);
        let left = state.held.is_some() || !self.core.incoming.lock().is_empty();
        drop(state);
        drop(appender);
        if left {
            self.core.kick();
        }
    }

    /// The durable end of logfile `nr` while this logger writes it (for the log server,
    /// `logger::durable`).
    pub(crate) fn durable_end(&self, nr: u32) -> Option<u64> {
        self.core.durable_end(nr)
    }

    /// Asks the logger to stop logging (emergency mode) or allows it to log again.
    pub(crate) fn set_cease(&self, cease: bool) {
        if self.core.em.cease.swap(cease, Ordering::AcqRel) != cease {
            self.core.wake();
        }
    }

    /// How often logging stopped because the logfile failed (ENOSPC), since the logger was
    /// made; it only grows (wrapping).
    pub(crate) fn log_failures(&self) -> u32 {
        self.core.em.failures.load(Ordering::Acquire)
    }

    /// Whether logging has stopped (emergency mode, from ceasing until logging again).
    pub(crate) fn in_emergency(&self) -> bool {
        self.core.em.stopped.load(Ordering::Acquire)
    }

    /// What the logger thread last published about itself.
    pub(crate) fn stats(&self) -> [u64; STAT_COUNT] {
        let mut out = [0; STAT_COUNT];
        for (o, s) in out.iter_mut().zip(self.core.stats.iter()) {
            *o = s.load(Ordering::Relaxed);
        }
        out
    }
}

impl Output for TransLogger {
    fn info(&self) -> Result<Info> {
        self.core.data.info()
    }

    fn io(&self, io: MrefIo) {
        match io.op() {
            Op::Read => self.core.read(io),
            Op::Write | Op::Flush => {
                if self.core.enqueue(io) {
                    self.append_queued();
                }
            }
        }
    }
}

impl Brick for TransLogger {
    fn power(&self) -> &Power {
        &self.power
    }

    fn switch(&self) -> Result {
        let mut running = self.running.lock();
        if self.power.button() {
            if self.power.led_on() {
                return Ok(());
            }
            self.power.set_led_off(false);
            match self.start() {
                Ok(started) => {
                    *running = Some(started);
                    self.power.set_led_on(true);
                    Ok(())
                }
                Err(e) => {
                    self.power.set_led_off(true);
                    Err(e)
                }
            }
        } else {
            if self.power.led_off() {
                return Ok(());
            }
            self.power.set_led_on(false);
            {
                let _incoming = self.core.incoming.lock();
                self.core.accepting.store(false, Ordering::Release);
            }
            *self.appender.lock() = None;
            // The thread finishes everything queued, then stops; the writer with it.
            drop(running.take());
            self.power.set_led_off(true);
            Ok(())
        }
    }
}

/// Index of each statistic in [`Core::stats`].
mod stat {
    pub(super) const LOG: usize = 0;
    pub(super) const APPENDED: usize = 1;
    pub(super) const DURABLE: usize = 2;
    pub(super) const MIN_POS: usize = 3;
    pub(super) const MAX_POS: usize = 4;
    pub(super) const PENDING: usize = 5;
    pub(super) const BATCHES: usize = 6;
    pub(super) const RECORDS: usize = 7;
    pub(super) const WRITEBACKS: usize = 8;
    pub(super) const REPLAYED: usize = 9;
}

/// Milliseconds of a monotonic clock.
fn now_ms() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ms()).unwrap_or(0)
}

/// The report interval in milliseconds.
fn report_interval_ms() -> u64 {
    u64::try_from(knobs::LOGGER_REPORT_INTERVAL_S.get())
        .unwrap_or(2)
        .saturating_mul(1000)
}

/// The logger thread: logs queued writes, acknowledges, writes back, publishes positions,
/// switches logfiles, until asked to stop and everything is done.
fn run(thread: &Arc<LoggerThread>, context: &ThreadContext) {
    // Allocations here must not recurse into block IO: it may be our own device.
    let _noio = NoIoScope::enter();
    let core = &thread.core;
    loop {
        let stopping = context.should_stop();
        let abandon = stopping && core.abandon.load(Ordering::Acquire);
        {
            // Submitters log their writes under this lock too (`append_queued`): it is
            // released while the thread waits.
            let mut state = thread.state.lock();
            core.incoming_pending.store(false, Ordering::Release);
            core.durable_changed.store(false, Ordering::Release);
            state.reap(core);
            if abandon {
                state.abandon(core);
            }
            state.rotation_step(core);
            state.emergency_step(core, stopping);
            state.take_incoming(core);
            state.start_writebacks(core);
            let idle = state.is_idle(core);
            state.report(core, stopping && idle);
            if !stopping {
                state.check_rotation();
            }
            state.publish_stats(core);
            if stopping && idle && (state.reported() || abandon) {
                break;
            }
        }
        let more = || {
            core.incoming_pending.load(Ordering::Acquire)
                || core.durable_changed.load(Ordering::Acquire)
                || core.completions.has_done()
        };
        if stopping {
            // `should_stop` stays true: wait without it, in short slices.
            core.completions.event().wait(None, 20, more);
        } else {
            core.completions
                .event()
                .wait(Some(context), IDLE_WAIT_MS, more);
        }
    }
}

/// Writes the version link of `log` for a durable end of `durable` if it changed; returns
/// its value (empty when version links cannot be computed).
fn write_version(
    paths: &ResourcePaths,
    log: &mut LogState,
    durable: u64,
    unavailable: &mut bool,
) -> Result<KVec<u8>> {
    let name = LogName {
        nr: log.nr,
        origin: paths.host()?,
    };
    let prev = core::str::from_utf8(&log.prev_version).unwrap_or("");
    let mut value = KVec::new();
    match version_link(&KernelDigester, name, durable, prev) {
        Ok(version) => {
            let text = links::format_value(&version)?;
            if log.published_version != Some(durable) {
                links::write(&paths.version_link(log.nr)?, text.as_bytes())?;
                log.published_version = Some(durable);
            }
            value.extend_from_slice(text.as_bytes(), GFP_KERNEL)?;
        }
        Err(e) if !*unavailable => {
            pr_notice!("{}: version links not written: {}\n", paths.dir(), e);
            *unavailable = true;
        }
        Err(_) => {}
    }
    Ok(value)
}

/// Writes the replay link (and the version link) of `log` for `positions`.
fn write_links(
    paths: &ResourcePaths,
    log: &mut LogState,
    positions: &LogPositions,
    unavailable: &mut bool,
) {
    let result = (|| {
        let name = LogName {
            nr: log.nr,
            origin: paths.host()?,
        };
        let replay = links::format_value(&replay_link(name, positions))?;
        links::write(&paths.replay_link()?, replay.as_bytes())?;
        write_version(paths, log, positions.durable, unavailable)?;
        Ok::<(), Error>(())
    })();
    match result {
        Ok(()) => {
            log.published_min = Some(positions.min_pos);
            if log.link_error.take().is_some() {
                pr_notice!("{}: replay and version links written again\n", paths.dir());
            }
        }
        Err(e) => {
            if log.link_error != Some(e) {
                pr_err!(
                    "{}: cannot write the replay or version link: {:?}; retrying\n",
                    paths.dir(),
                    e
                );
                log.link_error = Some(e);
            }
            // Retry at the next report.
            log.pacer = ReportPacer::default();
        }
    }
}

impl State {
    /// The logfile the replay link names: the old one during a switch.
    fn replay_log(&self) -> &LogState {
        self.old.as_ref().unwrap_or(&self.log)
    }

    /// End of the durable data of logfile `nr`.
    fn durable_of(&self, nr: u32) -> u64 {
        match &self.old {
            Some(old) if old.nr == nr => old.writer.durable(),
            _ if self.log.nr == nr => self.log.writer.durable(),
            _ => 0,
        }
    }

    /// The replay position tracker of logfile `nr`.
    fn tracker_mut(&mut self, nr: u32) -> Option<&mut PositionTracker<KVVec<Slot>>> {
        match &mut self.old {
            Some(old) if old.nr == nr => Some(&mut old.tracker),
            _ if self.log.nr == nr => Some(&mut self.log.tracker),
            _ => None,
        }
    }

    /// Whether nothing is queued, waiting, in flight, pending writeback or mid-switch (pieces
    /// that can never be written back, because the log failed or they were abandoned, do
    /// not count).
    fn is_idle(&self, core: &Core) -> bool {
        let lost = core.abandon.load(Ordering::Acquire);
        let done = |log: &LogState| log.is_done() || log.writer.has_failed();
        let settled = match self.emergency {
            Emergency::Off => self.unstarted.is_empty() && done(&self.log) && self.old.is_none(),
            Emergency::Bypass => true,
            Emergency::Ceasing | Emergency::Resuming => false,
        };
        core.incoming.lock().is_empty()
            && core.acks.lock().is_empty()
            && core.completions.in_flight() == 0
            && core.completions.direct_in_flight() == 0
            && self.held.is_none()
            && (lost || settled)
    }

    /// Whether the replay link shows the final position (in bypass: the hole's).
    fn reported(&self) -> bool {
        self.emergency == Emergency::Bypass || self.replay_log().reported()
    }

    /// Forgets every piece not written back (testing: a crash) and fails what is queued.
    fn abandon(&mut self, core: &Core) {
        while self.unstarted.pop_front().is_some() {}
        core.index.lock().clear();
        loop {
            let queued = core.incoming.lock().pop_front();
            match queued {
                Some(queued) => queued.io.complete(Err(EIO)),
                None => break,
            }
        }
    }

    /// Advances the emergency mode (see the module documentation).
    fn emergency_step(&mut self, core: &Arc<Core>, stopping: bool) {
        match self.emergency {
            Emergency::Off => {
                let failed =
                    core.log_failed.load(Ordering::Acquire) || self.log.writer.has_failed();
                if !failed && !core.em.cease.load(Ordering::Acquire) {
                    return;
                }
                core.em.cease.store(true, Ordering::Release);
                if failed {
                    // Before `stopped`: the strategy sees the failure with the stop.
                    let _ = core.em.failures.fetch_add(1, Ordering::AcqRel);
                }
                core.em.stopped.store(true, Ordering::Release);
                pr_warn!(
                    "{}: EMERGENCY MODE: {}: logging stops at {} of logfile {}, writes go to the data device\n",
                    self.paths.dir(),
                    if failed { "the logfile cannot be written" } else { "/mars is (nearly) full" },
                    self.log.writer.durable(),
                    self.log.nr
                );
                self.emergency = Emergency::Ceasing;
                self.emergency_error = None;
                self.ceasing_step(core);
            }
            Emergency::Ceasing => self.ceasing_step(core),
            Emergency::Bypass => {
                self.complete_hole();
                if stopping
                    || core.em.cease.load(Ordering::Acquire)
                    || now_ms() < self.resume_after_ms
                {
                    return;
                }
                // A flush left from an earlier attempt covers no direct write after it.
                match self.barrier {
                    Barrier::InFlight => return,
                    _ => self.barrier = Barrier::Idle,
                }
                pr_notice!(
                    "{}: emergency mode ends: logging resumes after the hole\n",
                    self.paths.dir()
                );
                self.emergency = Emergency::Resuming;
                self.resuming_step(core);
            }
            Emergency::Resuming => self.resuming_step(core),
        }
    }

    /// Ceasing: once every shadow is on the data device, flush it, acknowledge every waiting
    /// request, make the hole and go into bypass.
    fn ceasing_step(&mut self, core: &Arc<Core>) {
        let abandoned = core.abandon.load(Ordering::Acquire);
        let written_back = self.unstarted.is_empty() && (self.log.tracker.is_empty() || abandoned);
        // The logfile ends at its durable end, which must not move any more: everything
        // appended is durable, or the writer failed.
        let writer = &self.log.writer;
        let final_end = writer.has_failed() || writer.durable() >= writer.appended();
        if !written_back
            || !final_end
            || self.old.is_some()
            || self.rotation != Rotation::Single
            || (core.completions.in_flight() != 0 && self.barrier == Barrier::Idle)
        {
            return;
        }
        if !self.barrier_passed(core) {
            return;
        }
        // Every write that waited for durability is on the data device now, and durable.
        core.complete_acks(|_| Some(Ok(())));
        match self.make_hole() {
            Ok(()) => {
                pr_warn!("{}: EMERGENCY MODE: logging stopped, writes bypass the log; the secondaries stop at the hole and need `marsadm invalidate`\n", self.paths.dir());
                self.emergency = Emergency::Bypass;
                self.emergency_error = None;
                core.wake();
            }
            Err(e) => {
                if self.emergency_error != Some(e) {
                    pr_err!(
                        "{}: emergency mode: cannot end the logfile: {:?}; retrying\n",
                        self.paths.dir(),
                        e
                    );
                    self.emergency_error = Some(e);
                }
            }
        }
    }

    /// Resuming: once no direct write is in flight, flush the data device and log again into
    /// the logfile after the hole.
    fn resuming_step(&mut self, core: &Arc<Core>) {
        if core.em.cease.load(Ordering::Acquire) {
            self.emergency = Emergency::Bypass;
            return;
        }
        if core.completions.direct_in_flight() != 0 || self.held.is_some() {
            return;
        }
        if core.completions.in_flight() != 0 && self.barrier == Barrier::Idle {
            return;
        }
        if !self.barrier_passed(core) {
            return;
        }
        match self.resume_logging(core) {
            Ok(nr) => {
                pr_notice!(
                    "{}: emergency mode over: logging into logfile {}\n",
                    self.paths.dir(),
                    nr
                );
                core.log_failed.store(false, Ordering::Release);
                core.em.stopped.store(false, Ordering::Release);
                self.emergency = Emergency::Off;
                self.emergency_error = None;
                self.rotation_refused = false;
                core.wake();
            }
            Err(e) => {
                if self.emergency_error != Some(e) {
                    pr_err!(
                        "{}: emergency mode: cannot resume logging: {:?}; retrying\n",
                        self.paths.dir(),
                        e
                    );
                    self.emergency_error = Some(e);
                }
                self.emergency = Emergency::Bypass;
                self.resume_after_ms = now_ms().saturating_add(report_interval_ms());
            }
        }
    }

    /// Drives a flush of the data device: `true` once one completed successfully (and
    /// resets it for the next time).
    fn barrier_passed(&mut self, core: &Core) -> bool {
        match self.barrier {
            Barrier::Idle => {
                match OwnIo::flush(&core.completions).map(|io| io.submit(&core.data)) {
                    Ok(Ok(())) => self.barrier = Barrier::InFlight,
                    // No room or no memory: the next round tries again.
                    _ => {}
                }
                false
            }
            Barrier::InFlight => false,
            Barrier::Done(false) => {
                self.barrier = Barrier::Idle;
                false
            }
            Barrier::Done(true) => {
                self.barrier = Barrier::Idle;
                true
            }
        }
    }

    /// Ends the current logfile at its durable end (its final version link) and points the
    /// replay link at the start of the logfile after the hole, `log-(N+11)-<host>` (so a
    /// crash recovery replays nothing from before over the data written in bypass). Only the
    /// replay link must succeed; the rest of the hole follows in [`State::complete_hole`].
    fn make_hole(&mut self) -> Result {
        if self.hole.is_none() {
            let me = self.paths.host()?;
            let (version_nr, nr) = hole(self.log.nr).ok_or(EINVAL)?;
            // Nothing more is appended: cut off the zeros written ahead of the records (a
            // failed logfile is left as it is; its version link says where it ends).
            if let Err(e) = self.log.writer.finish() {
                pr_warn!(
                    "{}: cannot cut logfile {} at its end: {:?}\n",
                    self.paths.dir(),
                    self.log.nr,
                    e
                );
            }
            let durable = self.log.writer.durable();
            if let Err(e) = write_version(
                &self.paths,
                &mut self.log,
                durable,
                &mut self.version_unavailable,
            ) {
                // Secondaries then stop before the end of this logfile: still consistent.
                pr_err!(
                    "{}: final version link of logfile {} not written: {:?}\n",
                    self.paths.dir(),
                    self.log.nr,
                    e
                );
            }
            links::write(
                &self.paths.replay_link()?,
                links::format_value(&fresh_replay_link(nr, me))?.as_bytes(),
            )?;
            let version = links::format_value(&hole_version_link(version_nr, me))?;
            let mut prev_version = KVec::new();
            prev_version.extend_from_slice(version.as_bytes(), GFP_KERNEL)?;
            pr_info!(
                "{}: logfile {} ends at {}; hole up to {}: logging resumes into logfile {}\n",
                self.paths.dir(),
                self.log.nr,
                durable,
                version_nr,
                nr
            );
            self.hole = Some(Hole {
                nr,
                version_nr,
                prev_version,
                complete: false,
            });
        }
        self.complete_hole();
        Ok(())
    }

    /// Writes the rest of the hole, `version-(N+10)-<host>` = `000…0,log-(N+10)-<host>,0:`
    /// and the empty `log-(N+11)-<host>` (secondaries see the gap and stop before it);
    /// retried while it fails (/mars is full).
    fn complete_hole(&mut self) {
        let Some(hole) = self.hole.as_mut() else {
            return;
        };
        if hole.complete {
            return;
        }
        let result = (|| {
            let me = self.paths.host()?;
            links::write(
                &self.paths.version_link(hole.version_nr)?,
                &hole.prev_version,
            )?;
            let path = self.paths.log(LogName {
                nr: hole.nr,
                origin: me,
            })?;
            match File::open(path.as_cstr(), OpenMode::CreateNew) {
                Ok(_) => Ok(()),
                Err(e) if e == EEXIST => Ok(()),
                Err(e) => Err(e),
            }
        })();
        match result {
            Ok(()) => hole.complete = true,
            Err(e) => {
                if self.emergency_error != Some(e) {
                    pr_err!(
                        "{}: emergency mode: cannot make the hole yet: {:?}; retrying\n",
                        self.paths.dir(),
                        e
                    );
                    self.emergency_error = Some(e);
                }
            }
        }
    }

    /// Starts logging into the logfile after the hole. Returns its number.
    fn resume_logging(&mut self, core: &Arc<Core>) -> Result<u32> {
        self.complete_hole();
        let hole = self.hole.as_ref().ok_or(EINVAL)?;
        if !hole.complete {
            return Err(self.emergency_error.unwrap_or(EIO));
        }
        let nr = hole.nr;
        let path = self.paths.log(LogName {
            nr,
            origin: self.paths.host()?,
        })?;
        let file = File::open(path.as_cstr(), OpenMode::ReadWriteCreate)?;
        if file.size() != 0 {
            return Err(EEXIST);
        }
        let mut prev_version = KVec::new();
        prev_version.extend_from_slice(&hole.prev_version, GFP_KERNEL)?;
        let mut log = LogState::start(core, nr, file, prev_version)?;
        // The replay link names its start since the hole was made.
        log.published_min = Some(0);
        let old = core::mem::replace(&mut self.log, log);
        self.hole = None;
        // Stops its writer (it has nothing left to write, or failed).
        drop(old);
        Ok(nr)
    }

    /// Bypass: every queued write and flush goes to the data device directly.
    fn take_direct(&mut self, core: &Core) {
        if let Some(io) = self.held.take() {
            submit_direct(core, io);
        }
        loop {
            let queued = core.incoming.lock().pop_front();
            match queued.map(|queued| queued.io) {
                Some(io) if io.op() == Op::Read => core.read(io),
                Some(io) => submit_direct(core, io),
                None => return,
            }
        }
    }

    /// Takes back completed writebacks and flushes.
    fn reap(&mut self, core: &Core) {
        while let Some((io, status)) = core.completions.take() {
            match io.purpose {
                Purpose::Writeback => self.writeback_done(core, io, status),
                Purpose::Flush if self.barrier == Barrier::InFlight => {
                    if let Err(e) = status {
                        pr_err!(
                            "{}: flushing the data device failed: {:?}\n",
                            self.paths.dir(),
                            e
                        );
                    }
                    self.barrier = Barrier::Done(status.is_ok());
                }
                Purpose::Flush => {
                    let target = match &mut self.old {
                        Some(old) if old.flushing.is_some() => old,
                        _ => &mut self.log,
                    };
                    match (status, target.flushing.take()) {
                        (Ok(()), Some(positions)) => write_links(
                            &self.paths,
                            target,
                            &positions,
                            &mut self.version_unavailable,
                        ),
                        (Err(e), _) => {
                            pr_err!(
                                "{}: flushing the data device failed: {:?}\n",
                                self.paths.dir(),
                                e
                            );
                            target.pacer = ReportPacer::default();
                        }
                        _ => {}
                    }
                }
                Purpose::Replay => {}
            }
        }
    }

    fn writeback_done(&mut self, core: &Core, io: KBox<OwnIo>, status: Result) {
        if let Err(e) = status {
            if !self.writeback_error {
                pr_err!(
                    "{}: writeback at {} failed: {:?}; retrying\n",
                    self.paths.dir(),
                    io.pos(),
                    e
                );
            }
            self.writeback_error = true;
            for shadow in io.shadows.iter() {
                // Room: every tracked piece fits.
                let _ = self.unstarted.push_back(shadow.clone());
            }
            return;
        }
        let mut index = core.index.lock();
        for shadow in io.shadows.iter() {
            index.remove(shadow);
            let completed = self
                .tracker_mut(shadow.log_nr)
                .map(|tracker| tracker.complete(shadow.ticket));
            if let Some(Err(e)) = completed {
                pr_err!("{}: replay position: {:?}\n", self.paths.dir(), e);
            }
        }
        drop(index);
        core.stats[stat::WRITEBACKS].fetch_add(1, Ordering::Relaxed);
        // Dropping `io` frees the shadows no read holds.
    }

    /// Logs queued writes and queues flushes, in order, while there is room; the rest waits.
    fn take_incoming(&mut self, core: &Core) {
        match self.emergency {
            Emergency::Off => {}
            Emergency::Bypass => return self.take_direct(core),
            // Writes wait until the shadows are written back, or the direct writes done.
            Emergency::Ceasing | Emergency::Resuming => return,
        }
        let limit = mem_limit(
            self.ram,
            knobs::MEM_LIMIT_PERCENT.get(),
            knobs::MEM_LIMIT_GB.get(),
            None,
        );
        loop {
            if !self.rotation.may_append() {
                // Switching logfiles: wait until the old one is durable.
                return;
            }
            let front = {
                let incoming = core.incoming.lock();
                incoming
                    .front()
                    .map(|queued| (queued.io.op(), queued.io.pos(), queued.io.len()))
            };
            let Some((op, pos, len)) = front else { return };
            if core.log_failed.load(Ordering::Acquire)
                || core.em.cease.load(Ordering::Acquire)
                || self.held.is_some()
            {
                // Emergency mode begins (`emergency_step`): the write waits for the bypass.
                return;
            }
            if core.acks.lock().is_full() {
                return;
            }
            if op == Op::Write {
                let pieces = record_pieces(pos, u64::from(len)).count();
                let used =
                    u64::try_from(knobs::LOGGER_MEM_USED.load(Ordering::Relaxed)).unwrap_or(0);
                let need = SHADOW_BYTES.saturating_mul(pieces as u64);
                let tracker = &self.log.tracker;
                let room = (len as usize).saturating_add(pieces.saturating_mul(OVERHEAD));
                if !admit(used, need, limit)
                    || tracker.capacity() - tracker.len() < pieces
                    || self.unstarted.capacity() - self.unstarted.len() < pieces
                    || !self.log.writer.has_room(room)
                {
                    // Throttled: writebacks and durable reports wake us.
                    return;
                }
            }
            let Some(Queued { io, pieces }) = core.incoming.lock().pop_front() else {
                return;
            };
            match op {
                Op::Write => self.log_write(core, io, pieces),
                Op::Flush => core.ack_when_durable(self.log.nr, self.log.writer.appended(), io),
                Op::Read => core.read(io),
            }
        }
    }

    /// Logs one write (with its prepared pieces, if any) and acknowledges it as the
    /// completion semantics say.
    fn log_write(&mut self, core: &Core, io: MrefIo, pieces: KVec<Piece>) {
        let stamp = clock::tick();
        let kind = RequestKind::Write {
            sync: io.flags().contains(Flags::SYNC),
            fua: io.flags().contains(Flags::FUA),
        };
        let semantics = CompletionSemantics::from_knob(knobs::LOGGER_COMPLETION_SEMANTICS.get())
            .unwrap_or(CompletionSemantics::DEFAULT);
        let mut offset = 0u64;
        let mut end = self.log.writer.appended();
        let whole = pieces.len() == record_pieces(io.pos(), u64::from(io.len())).count();
        let mut prepared = pieces.into_iter().filter(|_| whole);
        for (pos, len) in record_pieces(io.pos(), u64::from(io.len())) {
            match self.log_piece(core, &io, offset, pos, len, stamp, prepared.next()) {
                Ok(piece_end) => end = piece_end,
                Err(_)
                    if self.log.writer.has_failed() || core.log_failed.load(Ordering::Acquire) =>
                {
                    // The logfile failed under us: emergency mode; the whole write goes to
                    // the data device in bypass (its pieces logged so far are written back
                    // before).
                    self.held = Some(io);
                    return;
                }
                Err(e) => {
                    pr_err!(
                        "{}: cannot log the write at {}: {:?}\n",
                        self.paths.dir(),
                        pos,
                        e
                    );
                    return io.complete(Err(e));
                }
            }
            offset = offset.saturating_add(len);
        }
        match semantics.ack_point(kind) {
            AckPoint::Copied => io.complete(Ok(())),
            AckPoint::Durable => core.ack_when_durable(self.log.nr, end, io),
        }
    }

    /// Logs one piece: shadow copy, record, position, index. Returns the record's end.
    /// `prepared` is the piece copied and digested by the submitter; without it the piece is
    /// copied and digested here. Only the copy into the log's batch happens under its lock.
    #[allow(clippy::too_many_arguments)]
    fn log_piece(
        &mut self,
        core: &Core,
        io: &MrefIo,
        offset: u64,
        pos: u64,
        len: u64,
        stamp: Stamp,
        prepared: Option<Piece>,
    ) -> Result<u64> {
        let len32 = u32::try_from(len).map_err(|_| EINVAL)?;
        let len_bytes = len32 as usize;
        let Piece { page, algo, digest } = match prepared {
            Some(piece) => piece,
            None => {
                let mut page = PageBuf::new()?;
                page.with_mut(|bytes| {
                    read_segments(
                        io.segments(),
                        offset,
                        bytes.get_mut(..len_bytes).ok_or(EINVAL)?,
                    )
                })?;
                let (algo, digest) = page
                    .with(|bytes| {
                        bytes
                            .get(..len_bytes)
                            .and_then(|data| mars_digest(CrcFlags::CRC32C, data, &KernelDigester))
                    })
                    .ok_or(EINVAL)?;
                Piece { page, algo, digest }
            }
        };
        let slot = ShadowSlot::new()?;
        let seq_nr = self.log.record_seq.wrapping_add(1);
        let header = RecordHeader::new(
            stamp,
            i64::try_from(pos).map_err(|_| EINVAL)?,
            CODE_WRITE_NEW,
            seq_nr,
        );
        let record_len = len_bytes.checked_add(OVERHEAD).ok_or(EINVAL)?;
        let (end, ()) = self
            .log
            .writer
            .append(record_len, |room, _file_pos| {
                let payload = room
                    .get_mut(START_OVERHEAD..START_OVERHEAD + len_bytes)
                    .ok_or(EINVAL)?;
                page.with(|data| {
                    data.get(..len_bytes)
                        .map(|data| payload.copy_from_slice(data))
                })
                .ok_or(EINVAL)?;
                seal_record_digested(&header, len_bytes, algo, &digest, room)
                    .map_err(|_| EINVAL)?;
                Ok(())
            })
            .map_err(|_| EIO)?;
        self.log.record_seq = seq_nr;
        // The record is in the log now: nothing below may fail and lose the piece.
        let ticket = match self.log.tracker.push(end) {
            Ok(ticket) => ticket,
            Err(e) => {
                // Cannot happen (room was checked, positions increase); the piece would be
                // lost to writeback, so stop logging rather than diverge.
                pr_err!(
                    "{}: replay position tracker refused {}: {:?}\n",
                    self.paths.dir(),
                    end,
                    e
                );
                core.log_failed.store(true, Ordering::Release);
                return Err(EIO);
            }
        };
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let shadow = slot.fill(
            &mut core.index.lock(),
            pos,
            len32,
            seq,
            self.log.nr,
            end,
            ticket,
            page,
        );
        if self.unstarted.push_back(shadow).is_err() {
            // Cannot happen (room was checked).
            pr_err!("{}: writeback queue full\n", self.paths.dir());
        }
        Ok(end)
    }

    /// Starts writebacks of durable pieces that no older piece overlaps, coalescing pieces
    /// adjacent on the device.
    ///
    /// `unstarted` is in log order, and a logfile becomes durable in log order: the queue is a
    /// durable prefix followed by pieces that are not durable yet. The scan takes pieces from
    /// the front and stops at the first piece that is not durable, or when the writebacks in
    /// flight reach their limit, so a round costs what it starts, not the whole backlog (a
    /// full pass per round made random writes quadratic in the backlog). A durable piece
    /// that an older one overlaps (its writeback must come first) goes to the back.
    fn start_writebacks(&mut self, core: &Core) {
        if core.writeback_paused.load(Ordering::Acquire) || self.writeback_error {
            // After an error, retry on the next round.
            self.writeback_error = false;
            return;
        }
        let mut group: KVec<Arc<Shadow>> = KVec::new();
        for _ in 0..self.unstarted.len() {
            let Some(front) = self.unstarted.front() else {
                break;
            };
            // Ceasing: everything goes to the data device, also pieces whose records will
            // never be durable (the log failed); the log is given up anyway.
            let durable = self.emergency == Emergency::Ceasing
                || front.log_end <= self.durable_of(front.log_nr);
            if !durable || core.completions.in_flight() >= WRITEBACK_IN_FLIGHT - 1 {
                break;
            }
            let Some(shadow) = self.unstarted.pop_front() else {
                break;
            };
            if core.index.lock().has_older_overlap(&shadow) {
                self.submit_group(core, &mut group);
                let _ = self.unstarted.push_back(shadow);
                continue;
            }
            let contiguous = group.last().is_some_and(|last| last.end() == shadow.pos);
            if !contiguous || group.len() >= WRITEBACK_MAX_PIECES {
                self.submit_group(core, &mut group);
            }
            if group.push(shadow.clone(), GFP_KERNEL).is_err() {
                let _ = self.unstarted.push_back(shadow);
            }
        }
        self.submit_group(core, &mut group);
    }

    /// Submits `group` (emptied) as one writeback.
    fn submit_group(&mut self, core: &Core, group: &mut KVec<Arc<Shadow>>) {
        if group.is_empty() {
            return;
        }
        let shadows = core::mem::replace(group, KVec::new());
        let io = match OwnIo::writeback(shadows, &core.completions) {
            Ok(io) => io,
            Err((shadows, e)) => {
                pr_err!("{}: cannot start a writeback: {:?}\n", self.paths.dir(), e);
                self.writeback_error = true;
                for shadow in shadows.iter() {
                    let _ = self.unstarted.push_back(shadow.clone());
                }
                return;
            }
        };
        for shadow in io.shadows.iter() {
            match self
                .tracker_mut(shadow.log_nr)
                .map(|tracker| tracker.start_writeback(shadow.ticket))
            {
                Some(Ok(())) | Some(Err(TrackError::WrongState)) | None => {}
                Some(Err(e)) => pr_err!("{}: replay position: {:?}\n", self.paths.dir(), e),
            }
        }
        if let Err(io) = io.submit(&core.data) {
            for shadow in io.shadows.iter() {
                let _ = self.unstarted.push_back(shadow.clone());
            }
        }
    }

    /// Publishes the replay position of the logfile the replay link names when due: only
    /// after flushing the data device, so that a published position never runs ahead of data
    /// the device holds durably.
    fn report(&mut self, core: &Core, force: bool) {
        if core.abandon.load(Ordering::Acquire) {
            return;
        }
        // In emergency mode the current logfile's positions may run beyond its durable end
        // (pieces written back without their records); the links are written with the hole.
        if self.emergency != Emergency::Off && self.old.is_none() {
            return;
        }
        let target = match &mut self.old {
            Some(old) => old,
            None => &mut self.log,
        };
        if target.flushing.is_some() {
            return;
        }
        let positions = target.positions();
        let now = now_ms();
        if !target
            .pacer
            .due(target.nr, &positions, now, report_interval_ms(), force)
        {
            return;
        }
        target.pacer.written(target.nr, &positions, now);
        if target.published_min == Some(positions.min_pos) {
            return write_links(
                &self.paths,
                target,
                &positions,
                &mut self.version_unavailable,
            );
        }
        match OwnIo::flush(&core.completions).map(|io| io.submit(&core.data)) {
            Ok(Ok(())) => target.flushing = Some(positions),
            // Retry at the next report.
            _ => target.pacer = ReportPacer::default(),
        }
    }

    /// Looks (every report interval) whether to switch logfiles: when the next logfile
    /// appeared empty (`marsadm log-rotate`), or when this one reached the rotation size
    /// (`logrot_auto_gb`; the next one is created first).
    fn check_rotation(&mut self) {
        let now = now_ms();
        if self.rotation != Rotation::Single
            || self.emergency != Emergency::Off
            || self.old.is_some()
            || now.saturating_sub(self.rotation_checked_ms) < report_interval_ms()
        {
            return;
        }
        self.rotation_checked_ms = now;
        let Ok(me) = self.paths.host() else { return };
        let Some(nr) = self.log.nr.checked_add(1) else {
            return;
        };
        let Ok(path) = self.paths.log(LogName { nr, origin: me }) else {
            return;
        };
        let next = match File::open(path.as_cstr(), OpenMode::Read) {
            Ok(file) => NextLog::Present(file.size()),
            Err(e) if e == ENOENT => NextLog::Absent,
            Err(_) => return,
        };
        let limit = logrot_limit(knobs::LOGROT_AUTO_GB.get(), self.mars_size);
        match rotate_decision(self.log.writer.appended(), limit, next) {
            RotateDecision::Stay => {}
            RotateDecision::CreateNext => match File::open(path.as_cstr(), OpenMode::CreateNew) {
                Ok(_) => {
                    pr_info!(
                        "{}: logfile {} reached the rotation size: created {}\n",
                        self.paths.dir(),
                        self.log.nr,
                        path
                    );
                    self.rotation.request();
                }
                Err(e) => pr_err!("{}: cannot create {}: {:?}\n", self.paths.dir(), path, e),
            },
            RotateDecision::SwitchToNext => {
                pr_info!("{}: switching to {}\n", self.paths.dir(), path);
                self.rotation.request();
            }
            RotateDecision::RefuseNonEmpty if !self.rotation_refused => {
                pr_warn!(
                    "{}: {} is not empty: not switching to it\n",
                    self.paths.dir(),
                    path
                );
                self.rotation_refused = true;
            }
            RotateDecision::RefuseNonEmpty => {}
        }
    }

    /// Advances a logfile switch: appends move to the new logfile once the old one is
    /// durable; the old one is released (and the replay link moves on) once it is written
    /// back and its final position published.
    fn rotation_step(&mut self, core: &Arc<Core>) {
        match self.rotation {
            Rotation::Single => {}
            Rotation::Draining => {
                let writer = &self.log.writer;
                if writer.has_failed() {
                    self.rotation = Rotation::Single;
                    return;
                }
                let old = OldLogState {
                    appended: writer.appended(),
                    durable: writer.durable(),
                    written_back: false,
                };
                if self.rotation.step(old) == RotationAction::AppendToNew {
                    if let Err(e) = self.switch_log(core) {
                        pr_err!("{}: cannot switch logfiles: {:?}\n", self.paths.dir(), e);
                        self.rotation = Rotation::Single;
                    }
                }
            }
            Rotation::Overlap => {
                let Some(old) = &self.old else {
                    self.rotation = Rotation::Single;
                    return;
                };
                if old.is_done() && !old.reported() {
                    // Publish the final position now rather than at the next interval.
                    self.report(core, true);
                }
                let Some(old) = &self.old else { return };
                let state = OldLogState {
                    appended: old.writer.appended(),
                    durable: old.writer.durable(),
                    written_back: old.is_done() && old.reported(),
                };
                if self.rotation.step(state) == RotationAction::ReleaseOld {
                    self.release_old(core);
                }
            }
        }
    }

    /// Starts appending to the next logfile; the current one becomes the old one.
    fn switch_log(&mut self, core: &Arc<Core>) -> Result {
        let nr = self.log.nr.checked_add(1).ok_or(EINVAL)?;
        let path = self.paths.log(LogName {
            nr,
            origin: self.paths.host()?,
        })?;
        let file = File::open(path.as_cstr(), OpenMode::ReadWriteCreate)?;
        if file.size() != 0 {
            return Err(EEXIST);
        }
        // The old logfile is complete: cut off the zeros written ahead of its records (its
        // size is its end from now on, which is what fetchers look for), then its final
        // version link, which the new one chains to.
        if let Err(e) = self.log.writer.finish() {
            pr_warn!(
                "{}: cannot cut logfile {} at its end: {:?}\n",
                self.paths.dir(),
                self.log.nr,
                e
            );
        }
        let durable = self.log.writer.durable();
        let prev_version = write_version(
            &self.paths,
            &mut self.log,
            durable,
            &mut self.version_unavailable,
        )?;
        let new = LogState::start(core, nr, file, prev_version)?;
        let old = core::mem::replace(&mut self.log, new);
        pr_info!(
            "{}: appending to {} (logfile {} ended at {})\n",
            self.paths.dir(),
            path,
            old.nr,
            durable
        );
        self.old = Some(old);
        Ok(())
    }

    /// Forgets the old logfile: everything in it is on the data device. The replay link
    /// moves to the current one.
    fn release_old(&mut self, core: &Core) {
        if let Some(old) = self.old.take() {
            pr_info!(
                "{}: logfile {} is written back; replaying from logfile {}\n",
                self.paths.dir(),
                old.nr,
                self.log.nr
            );
            // Stops its writer (it has nothing left to write).
            drop(old);
        }
        self.log.pacer = ReportPacer::default();
        self.report(core, true);
    }

    /// Copies the positions and counters into the core for the test hook.
    fn publish_stats(&self, core: &Core) {
        let (batches, records) = self.log.writer.stats();
        let replay = self.replay_log();
        let values = [
            (stat::LOG, u64::from(self.log.nr)),
            (stat::APPENDED, self.log.writer.appended()),
            (stat::DURABLE, self.log.writer.durable()),
            (stat::MIN_POS, replay.tracker.min_pos()),
            (stat::MAX_POS, replay.tracker.max_pos()),
            (
                stat::PENDING,
                self.log.tracker.len() as u64
                    + self.old.as_ref().map_or(0, |o| o.tracker.len() as u64),
            ),
            (stat::BATCHES, batches),
            (stat::RECORDS, records),
        ];
        for (i, v) in values {
            if let Some(s) = core.stats.get(i) {
                s.store(v, Ordering::Relaxed);
            }
        }
    }
}
