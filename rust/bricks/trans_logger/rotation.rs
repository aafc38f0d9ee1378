// SPDX-License-Identifier: GPL-2.0
//! The trans_logger's logfile rotation: looking for the next logfile, switching to it,
//! releasing the old one once it is written back.

use super::emergency::Emergency;
use super::queue::Core;
use super::thread::{write_version, LogState, State};
use super::{now_ms, report_interval_ms};
use crate::kapi::file::{File, OpenMode};
use crate::knobs;
use crate::mars_core::logger::{
    logrot_limit, rotate_decision, NextLog, OldLogState, ReportPacer, RotateDecision, Rotation,
    RotationAction,
};
use crate::mars_core::tree::LogName;
use kernel::error::code::{EEXIST, EINVAL, ENOENT};
use kernel::prelude::*;
use kernel::sync::Arc;

impl State {
    /// Looks (every report interval) whether to switch logfiles: when the next logfile
    /// appeared empty (`marsadm log-rotate`), or when this one reached the rotation size
    /// (`logrot_auto_gb`; the next one is created first).
    pub(super) fn check_rotation(&mut self) {
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
    pub(super) fn rotation_step(&mut self, core: &Arc<Core>) {
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
    pub(super) fn switch_log(&mut self, core: &Arc<Core>) -> Result {
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
    pub(super) fn release_old(&mut self, core: &Core) {
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
}
