// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's writeback: durable pieces to the data device, adjacent ones coalesced,
//! a piece only after every older piece overlapping it.

use core::sync::atomic::Ordering;

use super::emergency::Emergency;
use super::queue::Core;
use super::thread::State;
use super::{stat, WRITEBACK_IN_FLIGHT, WRITEBACK_MAX_PIECES};
use crate::logger::own_io::OwnIo;
use crate::logger::shadow::Shadow;
use crate::mars_core::replay_position::TrackError;
use kernel::prelude::*;
use kernel::sync::Arc;

impl State {
    pub(super) fn writeback_done(&mut self, core: &Core, io: KBox<OwnIo>, status: Result) {
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

    /// Starts writebacks of durable pieces that no older piece overlaps, coalescing pieces
    /// adjacent on the device.
    ///
    /// `unstarted` is in log order, and a logfile becomes durable in log order: the queue is a
    /// durable prefix followed by pieces that are not durable yet. The scan takes pieces from
    /// the front and stops at the first piece that is not durable, or when the writebacks in
    /// flight reach their limit, so a round costs what it starts, not the whole backlog (a
    /// full pass per round made random writes quadratic in the backlog). A durable piece
    /// that an older one overlaps (its writeback must come first) goes to the back.
    pub(super) fn start_writebacks(&mut self, core: &Core) {
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
    pub(super) fn submit_group(&mut self, core: &Core, group: &mut KVec<Arc<Shadow>>) {
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
}
