// SPDX-License-Identifier: GPL-2.0
//! The merge of a peer's entry into the local tree: decided by `core::merge_rules` (shape,
//! who may change the key, then the Lamport rule of `core::merge`), carried out through the
//! tree accessor (`crate::tree`, beneath `/mars` without following any symlink), within the
//! bounds of one pull ([`MergeBudget`]), with the atomic symlink replace keeping the peer's
//! stamp. Used by the metadata pull (`meta::pull`) and for a peer's push (`meta::serve`).
//! A merged `primary` or `systemd-*` link asks the strategy for a round at once, which wakes
//! systemd on this host (`strategy::systemd`).

use core::sync::atomic::Ordering;

use super::log_limit::LogLimit;
use super::members::{own_host, MAX_MEMBERS};
use crate::clock;
use crate::kapi::file::{File, OpenMode};
use crate::knobs;
use crate::mars_core::merge::{bogus_after, Stamped};
use crate::mars_core::merge_rules::{
    decide, may_create_parent, Action, Decision, EntryKind, Local, MergeContext, Received,
};
use crate::mars_core::names::HostName;
use crate::mars_core::systemd_trigger::woken_resource;
use crate::mars_core::tree::strip_mars_root;
use crate::mars_core::wire::{Dent, DentKind};
use crate::tree::{self, FileKind, MarsTree};
use kernel::error::code::{EEXIST, EINVAL, ENOENT};
use kernel::prelude::*;
use kernel::str::BStr;

/// Permissions of directories created on behalf of a peer (as the strategy's).
const DIR_MODE: u16 = 0o700;
/// Most entries one `GetEnts` answer collects.
pub(super) const MAX_ANSWER_ENTRIES: usize = 20_000;

/// What the merge did with one remote entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// The local tree changed.
    Written,
    /// Nothing to do (older, equal, or not ours to take).
    Kept,
    /// The entry is of a kind or place that is never merged, or a bound was reached.
    Skipped,
    /// The entry is malformed or not the peer's to change (counted and logged).
    Refused,
}

/// Most directories one pull may create (a new resource makes a handful).
pub(super) const MAX_DIRS_PER_PULL: usize = 256;
/// Most resource directories a peer may cause to exist here.
pub(super) const MAX_RESOURCES: usize = 256;
/// Most links one pull may create (changes of existing links do not count): the tree of a
/// large cluster arrives over a few pulls, a flood of cluster-wide keys (`userspace/`,
/// unknown names) is slowed down to this many per pull.
pub(super) const MAX_NEW_LINKS_PER_PULL: usize = 4096;
/// Nothing new (link or directory) is created from peers while /mars has no more than this
/// share of its inodes free (in percent) or fewer than [`MIN_FREE_INODES`]: peers cannot
/// fill /mars with entries, whatever they send over time.
pub(super) const FREE_INODES_RESERVE_PERCENT: u64 = 25;
/// See [`FREE_INODES_RESERVE_PERCENT`].
pub(super) const MIN_FREE_INODES: u64 = 1024;

/// What one pull (or one push) may still change, and its counts.
pub(super) struct MergeBudget {
    /// Directories it may still create.
    pub(super) dirs_left: usize,
    /// Links it may still create.
    pub(super) links_left: usize,
    /// Whether /mars has inodes to spare for peers (asked once per pull, when needed).
    pub(super) inodes_spare: Option<bool>,
    /// Entries refused so far.
    pub(super) refused: usize,
    /// Whether a bound was reached (logged once per pull).
    pub(super) capped: bool,
}

impl MergeBudget {
    /// The budget of one pull.
    pub(super) const fn new() -> Self {
        MergeBudget {
            dirs_left: MAX_DIRS_PER_PULL,
            links_left: MAX_NEW_LINKS_PER_PULL,
            inodes_spare: None,
            refused: 0,
            capped: false,
        }
    }
}

/// Complaints about peers' entries: at most 10 lines a minute (all are counted in
/// `knobs::NET_REFUSED_ENTRIES`).
static REFUSAL_LOG: LogLimit = LogLimit::new("refusals of peers' entries", 10, 60);

/// Whether a complaint about a peer's entry may be logged now.
pub(super) fn may_log() -> bool {
    REFUSAL_LOG.allow()
}

/// This host's and the peer's name as the merge rules take them.
fn names<'a>(me: &'a [u8], peer: &'a [u8]) -> Option<(HostName<'a>, HostName<'a>)> {
    let me = HostName::parse(core::str::from_utf8(me).ok()?).ok()?;
    let peer = HostName::parse(core::str::from_utf8(peer).ok()?).ok()?;
    Some((me, peer))
}

/// Merges one entry of `peer`'s tree into the local tree under the rules of
/// `mars_core::merge_rules`: every path is resolved beneath `/mars` without following any
/// symlink. The caller holds the merge lock.
pub(super) fn apply(peer: &[u8], dent: &Dent<'_>, budget: &mut MergeBudget) -> Result<Applied> {
    // Every stamp seen advances the clock (protected against stamps from the future).
    clock::observe(dent.stamp);
    let Some(rel) = strip_mars_root(dent.path) else {
        return Ok(Applied::Skipped);
    };
    let Some(me) = own_host() else {
        return Ok(Applied::Skipped);
    };
    let Some((me_name, peer_name)) = names(&me, peer) else {
        return Ok(Applied::Skipped);
    };
    let ctx = MergeContext {
        me: me_name,
        peer: peer_name,
        bogus_after: bogus_after(clock::now(), knobs::MAX_LAMPORT_FUTURE.get()),
    };
    let kind = match dent.kind {
        DentKind::Symlink => EntryKind::Symlink,
        DentKind::Dir => EntryKind::Dir,
        DentKind::File => EntryKind::File,
    };
    let received = Received {
        kind,
        path: rel,
        value: dent.value,
        stamp: dent.stamp,
    };
    let mars = MarsTree::open()?;
    let local_value;
    let local = match mars.lstat(rel.as_bytes()) {
        Ok(stat) => match stat.kind {
            FileKind::Dir => Local::Dir,
            FileKind::Regular => Local::File(stat.mtime),
            FileKind::Other => Local::Other,
            FileKind::Symlink => match mars.read_link(rel.as_bytes()) {
                Ok(link) => {
                    local_value = link.value;
                    match core::str::from_utf8(&local_value) {
                        Ok(value) => Local::Link(Stamped {
                            value,
                            stamp: link.mtime,
                        }),
                        Err(_) => Local::Other,
                    }
                }
                Err(e) if e == ENOENT => Local::Missing,
                Err(e) => return Err(e),
            },
        },
        Err(e) if e == ENOENT => Local::Missing,
        // A symlink or a non-directory on the way: never walked through.
        Err(e) if tree::is_blocked_path(e) => {
            return Ok(refuse(peer, rel, "a component on the way is no directory"));
        }
        Err(e) => return Err(e),
    };
    let action = match decide(&ctx, &received, local) {
        Decision::Take(action) => action,
        Decision::Keep(_) => return Ok(Applied::Kept),
        Decision::Refuse(refusal) => return Ok(refuse(peer, rel, refusal.message())),
    };
    match action {
        Action::MakeDir => {
            if !inodes_to_spare(rel, budget)
                || !make_parents(&mars, rel, budget)?
                || !within_bounds(&mars, rel, budget)?
                || !spend_dir(rel, budget)
            {
                return Ok(Applied::Skipped);
            }
            match mars.mkdir(rel.as_bytes(), DIR_MODE) {
                Ok(()) => Ok(Applied::Written),
                Err(e) if e == EEXIST => Ok(Applied::Kept),
                Err(e) => Err(e),
            }
        }
        Action::CreateLink | Action::ReplaceLink | Action::DeleteLink | Action::DeleteFile => {
            if action == Action::CreateLink
                && (!inodes_to_spare(rel, budget)
                    || !spend_link(rel, budget)
                    || !make_parents(&mars, rel, budget)?
                    || !within_bounds(&mars, rel, budget)?)
            {
                return Ok(Applied::Skipped);
            }
            if action == Action::DeleteFile {
                // The parent resolved beneath /mars; the file is unlinked under its lock.
                mars.unlink(rel.as_bytes())?;
            }
            mars.merge_link(rel, dent.value.as_bytes(), dent.stamp)?;
            if woken_resource(rel).is_some() {
                // The strategy's next scan touches the systemd trigger files: now, not a scan
                // interval later (a peer's round, which notifies nobody in turn).
                knobs::trigger(knobs::TRIGGER_FROM_PEER);
            }
            Ok(Applied::Written)
        }
    }
}

/// Counts and (rate-limited) logs a refused entry.
fn refuse(peer: &[u8], rel: &str, why: &str) -> Applied {
    knobs::NET_REFUSED_ENTRIES.fetch_add(1, Ordering::Relaxed);
    if may_log() {
        pr_warn!(
            "net: refusing /mars/{} from {}: {}\n",
            rel,
            BStr::from_bytes(peer),
            why
        );
    }
    Applied::Refused
}

/// Whether creating `rel` keeps the bounds: at most [`MAX_MEMBERS`] addresses in `ips/`, at
/// most [`MAX_RESOURCES`] resource directories. Logged once per pull when reached.
fn within_bounds(mars: &MarsTree, rel: &str, budget: &mut MergeBudget) -> Result<bool> {
    let (dir, prefix, max): (&[u8], &[u8], usize) = if rel.starts_with("ips/ip-") {
        (b"ips", b"ip-", MAX_MEMBERS)
    } else if rel.starts_with("resource-") && !rel.contains('/') {
        (b"", b"resource-", MAX_RESOURCES)
    } else {
        return Ok(true);
    };
    let listing = match mars.read_dir(dir, 4096) {
        Ok(listing) => listing,
        Err(e) if e == ENOENT => return Ok(true),
        Err(e) => return Err(e),
    };
    let count = listing
        .entries
        .iter()
        .filter(|e| e.name.starts_with(prefix))
        .count();
    if count < max && !listing.truncated {
        return Ok(true);
    }
    if !budget.capped && may_log() {
        pr_warn!(
            "net: not creating /mars/{}: already {} entries of its kind (at most {})\n",
            rel,
            count,
            max
        );
    }
    budget.capped = true;
    Ok(false)
}

/// Whether /mars has inodes to spare for a new entry `/mars/<rel>` from a peer (see
/// [`FREE_INODES_RESERVE_PERCENT`]); asked once per pull, logged once per pull when not.
fn inodes_to_spare(rel: &str, budget: &mut MergeBudget) -> bool {
    let spare = *budget.inodes_spare.get_or_insert_with(|| {
        let inodes = tree::path(b"")
            .and_then(|root| File::open(root.as_cstr(), OpenMode::Read))
            .and_then(|root| root.filesystem_inodes());
        match inodes {
            // A filesystem that does not count inodes has none to run out of.
            Ok((0, _)) => true,
            Ok((total, free)) => {
                let reserve = (total / 100)
                    .saturating_mul(FREE_INODES_RESERVE_PERCENT)
                    .max(MIN_FREE_INODES);
                free > reserve
            }
            Err(_) => false,
        }
    });
    if !spare && !budget.capped && may_log() {
        pr_warn!(
            "net: not creating /mars/{} for a peer: /mars has no more than {}% of its inodes free\n",
            rel,
            FREE_INODES_RESERVE_PERCENT
        );
    }
    if !spare {
        budget.capped = true;
    }
    spare
}

/// Takes one from the pull's budget `left` of `what` (at most `max`) for `/mars/<rel>`;
/// false (logged once per pull) when it is spent.
fn spend(left: &mut usize, max: usize, what: &str, rel: &str, capped: &mut bool) -> bool {
    if *left == 0 {
        if !*capped && may_log() {
            pr_warn!(
                "net: a pull would create more than {} {}: not /mars/{} (the next pull goes on)\n",
                max,
                what,
                rel
            );
        }
        *capped = true;
        return false;
    }
    *left = left.saturating_sub(1);
    true
}

/// Takes one link from the pull's budget (see [`spend`]).
fn spend_link(rel: &str, budget: &mut MergeBudget) -> bool {
    let MergeBudget {
        links_left, capped, ..
    } = budget;
    spend(links_left, MAX_NEW_LINKS_PER_PULL, "links", rel, capped)
}

/// Takes one directory from the pull's budget (see [`spend`]).
fn spend_dir(rel: &str, budget: &mut MergeBudget) -> bool {
    let MergeBudget {
        dirs_left, capped, ..
    } = budget;
    spend(dirs_left, MAX_DIRS_PER_PULL, "directories", rel, capped)
}

/// Makes the missing parent directories of `/mars/<rel>`, beneath `/mars`: each must be a
/// directory of the layout a merge may create (`merge_rules::may_create_parent`), and the
/// pull's budget of directories must allow it.
fn make_parents(mars: &MarsTree, rel: &str, budget: &mut MergeBudget) -> Result<bool> {
    let mut end = 0usize;
    while let Some(slash) = rel.get(end..).and_then(|r| r.find('/')) {
        let dir_end = end.saturating_add(slash);
        let dir = rel.get(..dir_end).ok_or(EINVAL)?;
        match mars.lstat(dir.as_bytes()) {
            Ok(stat) if stat.kind == FileKind::Dir => {}
            Ok(_) => return Ok(false),
            Err(e) if e == ENOENT => {
                if !may_create_parent(dir) || !within_bounds(mars, dir, budget)? {
                    return Ok(false);
                }
                if !spend_dir(dir, budget) {
                    return Ok(false);
                }
                match mars.mkdir(dir.as_bytes(), DIR_MODE) {
                    Ok(()) => {}
                    Err(e) if e == EEXIST => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) if tree::is_blocked_path(e) => return Ok(false),
            Err(e) => return Err(e),
        }
        end = dir_end.saturating_add(1);
    }
    Ok(true)
}
