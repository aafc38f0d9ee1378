// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's queue and acknowledgements: what submitters, the logger thread and the
//! log writer's reports share ([`Core`]): the incoming queue with each write's prepared
//! pieces, the requests waiting for durability and the durable ends of the logfiles.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::aspects::ReadAspect;
use super::STAT_COUNT;
use crate::brick::{Input, MrefIo, Op};
use crate::kapi::mm::{NoIoScope, PageBuf};
use crate::logger::log_writer::DurableSink;
use crate::logger::own_io::Completions;
use crate::logger::ring::Ring;
use crate::logger::shadow::{read_segments, Index};
use crate::mars_core::digest::{DigestAlgo, DIGEST_SIZE};
use crate::mars_core::logger::record_pieces;
use kernel::error::code::{EBUSY, EINVAL, EIO, ENOMEM, ENXIO};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// A request waiting until logfile `log_nr` is durable up to `end`.
pub(super) struct Ack {
    pub(super) log_nr: u32,
    pub(super) end: u64,
    pub(super) io: MrefIo,
}

/// One record piece of a write, prepared before the logger thread takes the write: its data
/// copied out of the request into the page that becomes its shadow, and digested.
pub(super) struct Piece {
    pub(super) page: PageBuf,
    pub(super) algo: DigestAlgo,
    pub(super) digest: [u8; DIGEST_SIZE],
}

/// A write or flush waiting for the logger thread, with the write's prepared pieces (in
/// `record_pieces` order; empty for a flush, or when preparing failed: the logger thread then
/// copies and digests itself).
pub(super) struct Queued {
    pub(super) io: MrefIo,
    pub(super) pieces: KVec<Piece>,
}

impl Queued {
    /// Copies and digests every record piece of a write (in the submitter's context, so that
    /// this per-byte work runs on the submitting CPUs in parallel, not on the one logger
    /// thread). Returns no pieces when any step fails.
    pub(super) fn prepare(io: &MrefIo) -> KVec<Piece> {
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
                    .with(|bytes| bytes.get(..len).and_then(crate::digest::log_digest))
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
pub(super) struct EmergencyFlags {
    /// Logging is to stop (the strategy's emergency decision, or a failed logfile); cleared
    /// only by the strategy ([`TransLogger::set_cease`]).
    pub(super) cease: AtomicBool,
    /// Logging has stopped (from the moment the logger ceases until it logs again).
    pub(super) stopped: AtomicBool,
    /// How often logging stopped because the logfile failed (for the strategy's backoff);
    /// counted before `stopped` is set.
    pub(super) failures: AtomicU32,
}

/// What `io`, the logger thread and the log writer's reports share.
#[pin_data]
pub(super) struct Core {
    /// The data device.
    #[pin]
    pub(super) data: Input,
    /// Writes and flushes for the logger thread, in arrival order.
    #[pin]
    pub(super) incoming: Mutex<Ring<Queued>>,
    /// Requests waiting for durability, in log order.
    #[pin]
    pub(super) acks: Mutex<Ring<Ack>>,
    /// Shadows not yet written back.
    #[pin]
    pub(super) index: Mutex<Index>,
    /// Completions of writebacks and flushes; its event wakes the logger thread.
    pub(super) completions: Arc<Completions>,
    /// Requests are accepted (switched on). Changed under the `incoming` lock.
    pub(super) accepting: AtomicBool,
    /// Something was queued since the thread last looked.
    pub(super) incoming_pending: AtomicBool,
    /// End of the durable data of the logfiles being written (at most two during a switch),
    /// as last reported by their writers: slot `nr % 2` belongs to logfile `durable_nr[slot]`.
    pub(super) durable: [AtomicU64; 2],
    pub(super) durable_nr: [AtomicU32; 2],
    /// The durable end moved since the thread last looked.
    pub(super) durable_changed: AtomicBool,
    /// The logfile failed: logging stops (emergency mode), writes go to the data device.
    pub(super) log_failed: AtomicBool,
    /// The emergency mode's flags.
    pub(super) em: EmergencyFlags,
    /// On switching off, abandon everything not written back (testing: a simulated crash).
    pub(super) abandon: AtomicBool,
    /// Do not start writebacks (testing: keeps pieces in the shadows).
    pub(super) writeback_paused: AtomicBool,
    /// Statistics, see [`STAT_NAMES`].
    pub(super) stats: [AtomicU64; STAT_COUNT],
}

impl Core {
    pub(super) fn wake(&self) {
        self.completions.event().wake();
    }

    /// Queues a write or flush, a write with its pieces prepared (unless logging has stopped:
    /// in emergency mode writes go to the data device as they are). Returns whether it was
    /// queued (else it is completed with an error); the caller then takes the queue itself
    /// or wakes the logger thread ([`Core::kick`]).
    pub(super) fn enqueue(&self, io: MrefIo) -> bool {
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
    pub(super) fn kick(&self) {
        self.incoming_pending.store(true, Ordering::Release);
        self.wake();
    }

    /// Serves a read: from the data device, with the pieces not yet written back copied over
    /// what it returns.
    pub(super) fn read(&self, io: MrefIo) {
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
    pub(super) fn begin_log(&self, nr: u32) {
        let slot = (nr % 2) as usize;
        if let (Some(durable), Some(tag)) = (self.durable.get(slot), self.durable_nr.get(slot)) {
            tag.store(u32::MAX, Ordering::Release);
            durable.store(0, Ordering::Release);
            tag.store(nr, Ordering::Release);
        }
    }

    /// End of the durable data of logfile `nr` while it is being written; the tag is read
    /// again after the end, so a slot reused for a later logfile meanwhile is not taken.
    pub(super) fn durable_end(&self, nr: u32) -> Option<u64> {
        let slot = (nr % 2) as usize;
        let (durable, tag) = (self.durable.get(slot)?, self.durable_nr.get(slot)?);
        if tag.load(Ordering::Acquire) != nr {
            return None;
        }
        let end = durable.load(Ordering::Acquire);
        (tag.load(Ordering::Acquire) == nr).then_some(end)
    }

    /// End of the durable data of logfile `nr` (0 when it is not being written).
    pub(super) fn durable_of(&self, nr: u32) -> u64 {
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
    pub(super) fn on_durable(&self, nr: u32, end: u64) {
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
    pub(super) fn on_failed(&self, nr: u32, end: u64) {
        self.log_failed.store(true, Ordering::Release);
        self.em.cease.store(true, Ordering::Release);
        self.complete_acks(|ack| {
            (ack.log_nr < nr || (ack.log_nr == nr && ack.end <= end)).then_some(Ok(()))
        });
        self.durable_changed.store(true, Ordering::Release);
        self.wake();
    }

    /// Completes acks from the front while `decide` gives a status, outside the lock.
    pub(super) fn complete_acks(&self, decide: impl Fn(&Ack) -> Option<Result>) {
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
    pub(super) fn ack_when_durable(&self, nr: u32, end: u64, io: MrefIo) {
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
pub(super) struct LogSink {
    pub(super) core: Arc<Core>,
    pub(super) nr: u32,
}

impl DurableSink for LogSink {
    fn durable(&self, end: u64) {
        self.core.on_durable(self.nr, end);
    }

    fn failed(&self, end: u64, _error: Error) {
        self.core.on_failed(self.nr, end);
    }
}
