// SPDX-License-Identifier: GPL-2.0
//! The scan of /mars: walks the tree to a bounded depth and size, reads every symlink, and
//! advances the Lamport clock with every link mtime seen (protected against stamps too far in
//! the future, see `clock::observe`), and shows every link it read to the caller (the
//! fingerprints of `systemd`). The classes and workers of the original's `main_classes[]` will
//! consume its result.

use crate::clock;
use crate::kapi::vfs::{Link, Listing, PathBuf};
use crate::mars_core::names::is_skipped_by_scan;
use crate::tree::{FileKind, MarsTree};
use kernel::error::Error;
use kernel::prelude::*;

/// Deepest level scanned: /mars/resource-R/actual-H/is-primary is level 3, as the original's
/// `mars_dent_work(…, "/mars", maxdepth 3)`.
const MAX_DEPTH: u32 = 3;
/// Most entries looked at in one scan, so a runaway tree cannot stall the strategy thread.
const MAX_ENTRIES: usize = 100_000;

/// What one scan saw.
#[derive(Default)]
pub(super) struct ScanStats {
    /// Entries listed (including skipped ones); at most [`MAX_ENTRIES`].
    pub(super) entries: usize,
    /// Directories descended into.
    pub(super) dirs: usize,
    /// Symlinks read.
    pub(super) links: usize,
    /// Links whose mtime lay too far in the future to be believed.
    pub(super) future_links: usize,
    /// Whether [`MAX_ENTRIES`] stopped the scan early.
    pub(super) truncated: bool,
    /// Entries that could not be read (vanished ones do not count).
    pub(super) errors: usize,
    /// The first such error.
    pub(super) first_error: Option<Error>,
}

impl ScanStats {
    fn note_error(&mut self, error: Error) {
        self.errors = self.errors.saturating_add(1);
        self.first_error.get_or_insert(error);
    }
}

/// What the scan shows its caller: every link it read, with its absolute path.
pub(super) type LinkVisitor<'a> = dyn FnMut(&PathBuf, &Link) + 'a;

/// Scans the tree below `root`, passing every link read to `on_link`. Fails only if `root`
/// itself cannot be listed; trouble further down is counted in the result.
pub(super) fn scan(root: &PathBuf, on_link: &mut LinkVisitor<'_>) -> Result<ScanStats> {
    let mut stats = ScanStats::default();
    let mars = MarsTree::open()?;
    let listing = mars.read_dir(root, MAX_ENTRIES)?;
    visit(&mars, root, listing, 1, &mut stats, on_link);
    Ok(stats)
}

/// Looks at the entries of `dir` (at `depth`), descending into subdirectories.
fn visit(
    mars: &MarsTree,
    dir: &PathBuf,
    listing: Listing,
    depth: u32,
    stats: &mut ScanStats,
    on_link: &mut LinkVisitor<'_>,
) {
    stats.truncated |= listing.truncated;
    stats.entries = stats.entries.saturating_add(listing.entries.len());
    for entry in listing.entries.iter() {
        if is_skipped_by_scan(&entry.name) {
            continue;
        }
        let path = match dir.child(&entry.name) {
            Ok(path) => path,
            Err(e) => {
                stats.note_error(e);
                continue;
            }
        };
        let kind = match entry.kind {
            Some(kind) => kind,
            None => match mars.lstat(&path) {
                Ok(stat) => stat.kind,
                Err(e) => {
                    note_unless_vanished(stats, e);
                    continue;
                }
            },
        };
        match kind {
            FileKind::Symlink => match mars.read_link(&path) {
                Ok(link) => {
                    stats.links = stats.links.saturating_add(1);
                    if clock::observe(link.mtime) != link.mtime {
                        stats.future_links = stats.future_links.saturating_add(1);
                    }
                    on_link(&path, &link);
                }
                Err(e) => note_unless_vanished(stats, e),
            },
            FileKind::Dir if depth < MAX_DEPTH => {
                stats.dirs = stats.dirs.saturating_add(1);
                let budget = MAX_ENTRIES.saturating_sub(stats.entries);
                if budget == 0 {
                    stats.truncated = true;
                    continue;
                }
                match mars.read_dir(&path, budget) {
                    Ok(sub) => visit(mars, &path, sub, depth.saturating_add(1), stats, on_link),
                    Err(e) => note_unless_vanished(stats, e),
                }
            }
            _ => {}
        }
    }
}

/// Entries may vanish or be replaced between listing and reading (peers and marsadm change
/// the tree concurrently): that is not an error.
fn note_unless_vanished(stats: &mut ScanStats, error: Error) {
    if error != kernel::error::code::ENOENT {
        stats.note_error(error);
    }
}
