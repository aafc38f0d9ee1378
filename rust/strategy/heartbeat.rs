// SPDX-License-Identifier: GPL-2.0
//! The alive links of this host, `/mars/actual-<host>/{time,alive,tree}`: peers and marsadm
//! read them to tell whether the host's kernel runs and how recently it did a round.
//!
//! `time` is rewritten every round with a fresh Lamport stamp as both its value and its mtime;
//! `alive` and `tree` only when their value changes (the original's
//! `_update_link_when_necessary`), so a quiet cluster does not churn the tree.

use core::fmt::Write;

use crate::clock;
use crate::kapi::vfs::PathBuf;
use crate::mars_core::names::{ACTUAL_DIR_PREFIX, ALIVE_ALIVE, ALIVE_TIME, ALIVE_TREE};
use crate::mars_core::text::FixedBuf;
use crate::mars_core::version::SYMLINK_TREE_VERSION;
use crate::tree::{self, MarsTree};
use kernel::error::code::{EEXIST, EINVAL, ENOENT};
use kernel::prelude::*;

/// Permissions of the directories the kernel creates in /mars (as the original's mkdir).
const DIR_MODE: u16 = 0o700;

/// The paths of one host's alive links.
pub(super) struct AliveLinks {
    dir: PathBuf,
    time: PathBuf,
    alive: PathBuf,
    tree: PathBuf,
}

impl AliveLinks {
    /// The alive links of `host` (a valid host name) under `root`.
    pub(super) fn new(root: &PathBuf, host: &[u8]) -> Result<Self> {
        let mut dir_name = KVec::new();
        dir_name.extend_from_slice(ACTUAL_DIR_PREFIX.as_bytes(), GFP_KERNEL)?;
        dir_name.extend_from_slice(host, GFP_KERNEL)?;
        let dir = root.child(&dir_name)?;
        Ok(AliveLinks {
            time: dir.child(ALIVE_TIME.as_bytes())?,
            alive: dir.child(ALIVE_ALIVE.as_bytes())?,
            tree: dir.child(ALIVE_TREE.as_bytes())?,
            dir,
        })
    }

    /// One heartbeat: makes sure the directory exists, stamps `time`, keeps `alive` at 1 and
    /// `tree` at the version this module speaks.
    pub(super) fn beat(&self) -> Result {
        let mars = MarsTree::open()?;
        match mars.mkdir(&self.dir, DIR_MODE) {
            Err(e) if e != EEXIST => return Err(e),
            _ => {}
        }
        // The new stamp must be later than the one it replaces, also when the clock restarted
        // with the module (the scan would only see the old one after this write).
        match mars.read_link(&self.time) {
            Ok(old) => {
                clock::observe(old.mtime);
            }
            Err(e) if e == ENOENT || e == EINVAL => {}
            Err(e) => return Err(e),
        }
        let stamp = clock::tick();
        let mut value = FixedBuf::<32>::new();
        write!(value, "{}", stamp).map_err(|_| EINVAL)?;
        mars.write_link(&self.time, value.as_bytes(), stamp)?;
        mars.update(&self.alive, b"1")?;
        mars.update(&self.tree, SYMLINK_TREE_VERSION.as_bytes())
    }

    /// The last word before the module goes away: `alive` becomes 0.
    pub(super) fn farewell(&self) -> Result {
        tree::update(&self.alive, b"0")
    }
}
