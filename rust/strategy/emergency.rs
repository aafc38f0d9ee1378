// SPDX-License-Identifier: GPL-2.0
//! The emergency level of this host (`mars_core::emergency`): every round the strategy
//! measures the filesystem holding `/mars` (free space minus the loggers' shadow memory) and
//! publishes `actual-<host>/emergency` (the level 0..4), `rest-space` and `total-space` (MiB,
//! after the thresholds), as the original's `compute_emergency_mode`. The resources act on the
//! level (`resources.rs`): secondaries delete old logfiles, syncs stop, primaries stop logging.

use core::fmt::Write;
use core::sync::atomic::Ordering;

use crate::kapi::file::{File, OpenMode};
use crate::kapi::vfs::PathBuf;
use crate::knobs;
use crate::mars_core::emergency::{assess, level_text, Space};
use crate::mars_core::names::ACTUAL_DIR_PREFIX;
use crate::mars_core::text::FixedBuf;
use crate::tree::MarsTree;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

/// The level between rounds.
#[derive(Default)]
pub(super) struct Levels {
    /// The level of the last round.
    level: u8,
    /// The last measurement failed (reported once).
    failed: bool,
}

impl Levels {
    /// Measures `/mars` (`root`), computes the level and publishes it in
    /// `actual-<host>/` (which exists: the heartbeat made it). A failed measurement keeps the
    /// last level.
    pub(super) fn round(&mut self, root: &PathBuf, host: &[u8]) -> Space {
        let measured =
            File::open(root.as_cstr(), OpenMode::Read).and_then(|dir| dir.filesystem_space());
        let (total, free) = match measured {
            Ok(space) => {
                self.failed = false;
                space
            }
            Err(e) => {
                if !self.failed {
                    pr_warn!("cannot measure the free space of {}: {:?}\n", root, e);
                    self.failed = true;
                }
                return Space {
                    level: self.level,
                    ..Space::default()
                };
            }
        };
        let shadow = u64::try_from(knobs::LOGGER_MEM_USED.load(Ordering::Relaxed)).unwrap_or(0);
        // Zeros written ahead of running logs are free for them (given back at the cut).
        let free = free.saturating_add(
            u64::try_from(knobs::LOG_ZEROS_AHEAD.load(Ordering::Relaxed)).unwrap_or(0),
        );
        let thresholds = [
            knobs::REQUIRED_FREE_SPACE_1_MB.get(),
            knobs::REQUIRED_FREE_SPACE_2_MB.get(),
            knobs::REQUIRED_FREE_SPACE_3_MB.get(),
            knobs::REQUIRED_FREE_SPACE_4_MB.get(),
        ];
        let space = assess(total, free, shadow, thresholds, self.level);
        if space.level != self.level {
            if space.level > self.level {
                pr_warn!(
                    "emergency level {} ({}): {} MiB free of {} MiB in {}\n",
                    space.level,
                    level_text(space.level),
                    free >> 20,
                    total >> 20,
                    root
                );
            } else {
                pr_notice!(
                    "emergency level {} ({})\n",
                    space.level,
                    level_text(space.level)
                );
            }
            self.level = space.level;
        }
        knobs::EMERGENCY_LEVEL.store(i64::from(space.level), Ordering::Relaxed);
        if let Err(e) = publish(root, host, &space) {
            pr_debug!("emergency links not written: {:?}\n", e);
        }
        space
    }
}

/// Writes `emergency`, `rest-space` and `total-space` of `actual-<host>/` when they changed.
fn publish(root: &PathBuf, host: &[u8], space: &Space) -> Result {
    let mut dir = KVec::new();
    dir.extend_from_slice(ACTUAL_DIR_PREFIX.as_bytes(), GFP_KERNEL)?;
    dir.extend_from_slice(host, GFP_KERNEL)?;
    let dir = root.child(&dir)?;
    let mars = MarsTree::open()?;
    let number = |value: u64| {
        let mut text = FixedBuf::<24>::new();
        write!(text, "{}", value).map(|()| text).map_err(|_| EINVAL)
    };
    mars.update(
        &dir.child(b"emergency")?,
        number(u64::from(space.level))?.as_bytes(),
    )?;
    mars.update(
        &dir.child(b"rest-space")?,
        number(space.rest_mib())?.as_bytes(),
    )?;
    mars.update(
        &dir.child(b"total-space")?,
        number(space.total_mib())?.as_bytes(),
    )
}
