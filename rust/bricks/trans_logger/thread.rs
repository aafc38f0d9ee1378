// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's state and thread: logging writes (records, shadows, positions),
//! reaping completions, publishing the replay and version links, statistics.

use core::sync::atomic::Ordering;

use super::emergency::{Barrier, Emergency, Hole};
use super::queue::{Core, LogSink, Piece, Queued};
use super::{now_ms, report_interval_ms, stat, IDLE_WAIT_MS, TRACKER_SLOTS};
use crate::brick::{Flags, MrefIo, Op};
use crate::clock;
use crate::kapi::file::File;
use crate::kapi::kthread::{KThread, ThreadContext};
use crate::kapi::mm::{NoIoScope, PageBuf};
use crate::knobs;
use crate::logger::links::{self, KernelDigester, ResourcePaths};
use crate::logger::log_writer::{DurableSink, LogWriter};
use crate::logger::own_io::{OwnIo, Purpose};
use crate::logger::ring::Ring;
use crate::logger::shadow::{read_segments, Shadow, ShadowSlot, SHADOW_BYTES};
use crate::mars_core::lamport::Stamp;
use crate::mars_core::log_record::{
    seal_record_digested, RecordHeader, CODE_WRITE_NEW, OVERHEAD, START_OVERHEAD,
};
use crate::mars_core::logger::{
    admit, mem_limit, record_pieces, replay_link, version_link, AckPoint, CompletionSemantics,
    LogPositions, ReportPacer, RequestKind, Rotation,
};
use crate::mars_core::replay_position::{PositionTracker, Slot};
use crate::mars_core::tree::LogName;
use kernel::error::code::{EINVAL, EIO};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// A logfile being written (or, during a switch, still being written back).
pub(super) struct LogState {
    pub(super) nr: u32,
    pub(super) writer: LogWriter,
    pub(super) tracker: PositionTracker<KVVec<Slot>>,
    /// Sequence number of the last record.
    pub(super) record_seq: u32,
    /// This host's version link of the previous logfile.
    pub(super) prev_version: KVec<u8>,
    pub(super) pacer: ReportPacer,
    /// Positions to publish once the data device flush in flight completes.
    pub(super) flushing: Option<LogPositions>,
    /// The replay position last published in the replay link (`None`: the link does not
    /// name this logfile yet).
    pub(super) published_min: Option<u64>,
    /// The durable end last published in the version link.
    pub(super) published_version: Option<u64>,
    /// The last failure to write the links (reported once, not at every retry: on a full
    /// /mars that is every report interval).
    pub(super) link_error: Option<Error>,
}

impl LogState {
    /// Starts logging into `file`, logfile `nr` of this host.
    pub(super) fn start(
        core: &Arc<Core>,
        nr: u32,
        file: File,
        prev_version: KVec<u8>,
    ) -> Result<Self> {
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

    pub(super) fn positions(&self) -> LogPositions {
        LogPositions {
            min_pos: self.tracker.min_pos(),
            max_pos: self.tracker.max_pos(),
            durable: self.writer.durable(),
        }
    }

    /// Whether the replay link shows this logfile's current replay position.
    pub(super) fn reported(&self) -> bool {
        self.flushing.is_none() && self.published_min == Some(self.tracker.min_pos())
    }

    /// Whether everything appended is durable and written back.
    pub(super) fn is_done(&self) -> bool {
        self.tracker.is_empty() && self.writer.durable() >= self.writer.appended()
    }
}

/// Everything only the logger thread touches.
pub(super) struct State {
    pub(super) paths: ResourcePaths,
    /// The logfile new writes go to.
    pub(super) log: LogState,
    /// During a switch, the previous logfile until it is written back; the replay link
    /// names it until then.
    pub(super) old: Option<LogState>,
    pub(super) rotation: Rotation,
    /// When the rotation conditions were last looked at (ms).
    pub(super) rotation_checked_ms: u64,
    /// A non-empty next logfile was reported (once).
    pub(super) rotation_refused: bool,
    /// Size of the /mars filesystem (limits the auto-rotation size).
    pub(super) mars_size: u64,
    /// Shadows whose writeback has not started, in log order.
    pub(super) unstarted: Ring<Arc<Shadow>>,
    pub(super) next_seq: u64,
    pub(super) ram: u64,
    /// The last writeback failed: wait before retrying.
    pub(super) writeback_error: bool,
    /// The version links cannot be computed (no MD5); reported once.
    pub(super) version_unavailable: bool,
    /// Where the emergency mode stands.
    pub(super) emergency: Emergency,
    /// A flush of the data device of the emergency mode.
    pub(super) barrier: Barrier,
    /// The hole made when logging stopped: where logging resumes.
    pub(super) hole: Option<Hole>,
    /// A write whose logging failed half way (the writer failed): it goes to the data device
    /// whole, first thing in bypass.
    pub(super) held: Option<MrefIo>,
    /// The last error of an emergency step, reported once.
    pub(super) emergency_error: Option<Error>,
    /// When to try resuming again after a failure (ms).
    pub(super) resume_after_ms: u64,
}

/// The logger thread's state.
#[pin_data]
pub(super) struct LoggerThread {
    pub(super) core: Arc<Core>,
    #[pin]
    pub(super) state: Mutex<State>,
}

/// What runs while switched on.
pub(super) struct Running {
    pub(super) _thread: KThread<Arc<LoggerThread>>,
}

/// The logger thread: logs queued writes, acknowledges, writes back, publishes positions,
/// switches logfiles, until asked to stop and everything is done.
pub(super) fn run(thread: &Arc<LoggerThread>, context: &ThreadContext) {
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
pub(super) fn write_version(
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
pub(super) fn write_links(
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
    pub(super) fn replay_log(&self) -> &LogState {
        self.old.as_ref().unwrap_or(&self.log)
    }

    /// End of the durable data of logfile `nr`.
    pub(super) fn durable_of(&self, nr: u32) -> u64 {
        match &self.old {
            Some(old) if old.nr == nr => old.writer.durable(),
            _ if self.log.nr == nr => self.log.writer.durable(),
            _ => 0,
        }
    }

    /// The replay position tracker of logfile `nr`.
    pub(super) fn tracker_mut(&mut self, nr: u32) -> Option<&mut PositionTracker<KVVec<Slot>>> {
        match &mut self.old {
            Some(old) if old.nr == nr => Some(&mut old.tracker),
            _ if self.log.nr == nr => Some(&mut self.log.tracker),
            _ => None,
        }
    }

    /// Whether nothing is queued, waiting, in flight, pending writeback or mid-switch (pieces
    /// that can never be written back, because the log failed or they were abandoned, do
    /// not count).
    pub(super) fn is_idle(&self, core: &Core) -> bool {
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
    pub(super) fn reported(&self) -> bool {
        self.emergency == Emergency::Bypass || self.replay_log().reported()
    }

    /// Forgets every piece not written back (testing: a crash) and fails what is queued.
    pub(super) fn abandon(&mut self, core: &Core) {
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

    /// Takes back completed writebacks and flushes.
    pub(super) fn reap(&mut self, core: &Core) {
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

    /// Logs queued writes and queues flushes, in order, while there is room; the rest waits.
    pub(super) fn take_incoming(&mut self, core: &Core) {
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
    pub(super) fn log_write(&mut self, core: &Core, io: MrefIo, pieces: KVec<Piece>) {
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
    pub(super) fn log_piece(
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
                    .with(|bytes| bytes.get(..len_bytes).and_then(crate::digest::log_digest))
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
        // Log compression (issue 17): a shorter record when enabled and it pays off.
        let packed = crate::compress::PackedPayload::of(&page, len_bytes)?;
        let stored_len = packed.as_ref().map_or(len_bytes, |p| p.stored_len());
        let record_len = stored_len.checked_add(OVERHEAD).ok_or(EINVAL)?;
        let (end, ()) = self
            .log
            .writer
            .append(record_len, |room, _file_pos| {
                if let Some(packed) = &packed {
                    return packed.seal(&header, len_bytes, algo, &digest, room);
                }
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

    /// Publishes the replay position of the logfile the replay link names when due: only
    /// after flushing the data device, so that a published position never runs ahead of data
    /// the device holds durably.
    pub(super) fn report(&mut self, core: &Core, force: bool) {
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

    /// Copies the positions and counters into the core for the test hook.
    pub(super) fn publish_stats(&self, core: &Core) {
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
