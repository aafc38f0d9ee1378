// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's emergency mode (`/mars` full or the logfile failed): ceasing, the
//! hole, bypass and resuming, see the brick's documentation.

use core::sync::atomic::Ordering;

use super::aspects::submit_direct;
use super::queue::Core;
use super::thread::{write_version, LogState, State};
use super::{now_ms, report_interval_ms};
use crate::brick::Op;
use crate::kapi::file::{File, OpenMode};
use crate::logger::links;
use crate::logger::own_io::OwnIo;
use crate::mars_core::emergency::{hole, hole_version_link};
use crate::mars_core::logger::{fresh_replay_link, Rotation};
use crate::mars_core::tree::LogName;
use kernel::error::code::{EEXIST, EINVAL, EIO};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The logger's emergency mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Emergency {
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
pub(super) enum Barrier {
    Idle,
    InFlight,
    Done(bool),
}

/// The hole: logging resumes into logfile `nr`, whose version link chains to `prev_version`,
/// the fake version link `version_nr` of the hole.
pub(super) struct Hole {
    pub(super) nr: u32,
    pub(super) version_nr: u32,
    pub(super) prev_version: KVec<u8>,
    /// The version link and the empty logfile exist.
    pub(super) complete: bool,
}

impl State {
    /// Advances the emergency mode (see the module documentation).
    pub(super) fn emergency_step(&mut self, core: &Arc<Core>, stopping: bool) {
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
    pub(super) fn ceasing_step(&mut self, core: &Arc<Core>) {
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
    pub(super) fn resuming_step(&mut self, core: &Arc<Core>) {
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
    pub(super) fn barrier_passed(&mut self, core: &Core) -> bool {
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
    pub(super) fn make_hole(&mut self) -> Result {
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
    pub(super) fn complete_hole(&mut self) {
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
    pub(super) fn resume_logging(&mut self, core: &Arc<Core>) -> Result<u32> {
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
    pub(super) fn take_direct(&mut self, core: &Core) {
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
}
