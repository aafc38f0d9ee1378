// SPDX-License-Identifier: GPL-2.0
//! The merge rule: what a node does with one entry of a peer's `/mars` listing.
//!
//! Every symlink carries its Lamport stamp (the link's mtime). A node pulls its peers' trees
//! and, entry by entry, keeps whichever side is newer (`run_bone` and `ordered_symlink` in the
//! original). Deletion is a value, not an absence: the tombstone [`DELETED`] with a newer
//! stamp wins like any other value, so a deletion cannot be undone by a peer that has not yet
//! heard of it. Which directories a peer may cause to be created is decided by
//! [`super::tree::may_create_remote_dir`]; which names are skipped altogether by
//! [`super::tree::is_skipped_name`].
//!
//! # Stamps from the future
//! A stamp further ahead than `max_lamport_future` (30 days by default) cannot be honest: it
//! comes from a bad CMOS clock or a corrupt filesystem. The rule here:
//!
//! * a **local** stamp beyond the limit is not believed: any remote value replaces it (the
//!   original's `mars_symlink` does the same "exceptional error correction");
//! * a **remote** stamp beyond the limit is refused. Taking it would plant a value that no
//!   honest update could ever replace; the host that wrote it clamps its own links when it
//!   scans them (`protect_lamport_time`), and the clamped value then propagates normally.
//!
//! The caller computes the limit from its clock: `clock.read(real).add_sec(max_future_sec)`
//! (see [`bogus_after`]).

use super::lamport::Stamp;
use super::tree_value::{is_tombstone, DELETED};

/// A link value with its Lamport stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped<'a> {
    /// The symlink value (may be [`DELETED`]).
    pub value: &'a str,
    /// The symlink's mtime.
    pub stamp: Stamp,
}

/// What to do with a remote entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeDecision {
    /// The key does not exist locally: create it with the remote value and stamp.
    Create,
    /// Overwrite the local value with the remote value and stamp.
    Replace,
    /// Overwrite the local object with the tombstone and the remote stamp. A local regular
    /// file (a logfile) must be unlinked first.
    Delete,
    /// Leave the local entry as it is.
    Keep(KeepReason),
}

impl MergeDecision {
    /// Whether the decision writes the remote value (or tombstone) locally.
    pub fn writes(self) -> bool {
        !matches!(self, MergeDecision::Keep(_))
    }
}

/// Why a remote entry was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// The local stamp is newer.
    LocalNewer,
    /// Both stamps are equal: the local value stays (no flapping between peers).
    SameStamp,
    /// The remote side deleted something this node never had: no tombstone is created.
    UnknownTombstone,
    /// The remote stamp lies beyond the future limit.
    RemoteFromFuture,
}

/// The stamp after which a stamp counts as bogus: `now + max_future_sec` (saturating).
pub fn bogus_after(now: Stamp, max_future_sec: i64) -> Stamp {
    now.add_sec(max_future_sec)
}

/// Decides the merge of one remote entry into the local tree.
///
/// `local` is `None` when the key does not exist locally (a local tombstone is an existing
/// object). `bogus_after` is the limit from [`bogus_after`].
pub fn merge(local: Option<Stamped<'_>>, remote: Stamped<'_>, bogus_after: Stamp) -> MergeDecision {
    if remote.stamp > bogus_after {
        return MergeDecision::Keep(KeepReason::RemoteFromFuture);
    }
    let remote_is_tombstone = is_tombstone(remote.value);
    let local = match local {
        None if remote_is_tombstone => return MergeDecision::Keep(KeepReason::UnknownTombstone),
        None => return MergeDecision::Create,
        Some(l) => l,
    };
    let local_is_bogus = local.stamp > bogus_after;
    if remote.stamp > local.stamp || local_is_bogus {
        if remote_is_tombstone {
            MergeDecision::Delete
        } else {
            MergeDecision::Replace
        }
    } else if remote.stamp == local.stamp {
        MergeDecision::Keep(KeepReason::SameStamp)
    } else {
        MergeDecision::Keep(KeepReason::LocalNewer)
    }
}

/// The value to write for a local deletion: the tombstone, stamped with a fresh Lamport stamp
/// by the caller (`_create_delete` in marsadm).
pub const fn tombstone() -> &'static str {
    DELETED
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Stamp = Stamp {
        sec: 1_000_000,
        nsec: 0,
    };

    fn st(value: &str, sec: i64) -> Stamped<'_> {
        Stamped {
            value,
            stamp: Stamp::new(sec, 0),
        }
    }

    #[test]
    fn missing_locally_creates_unless_tombstone() {
        assert_eq!(merge(None, st("1", 10), LIMIT), MergeDecision::Create);
        assert_eq!(
            merge(None, st(DELETED, 10), LIMIT),
            MergeDecision::Keep(KeepReason::UnknownTombstone)
        );
    }

    #[test]
    fn newer_wins_equal_keeps_local() {
        assert_eq!(
            merge(Some(st("0", 10)), st("1", 11), LIMIT),
            MergeDecision::Replace
        );
        assert_eq!(
            merge(Some(st("0", 10)), st("1", 10), LIMIT),
            MergeDecision::Keep(KeepReason::SameStamp)
        );
        assert_eq!(
            merge(Some(st("0", 10)), st("1", 9), LIMIT),
            MergeDecision::Keep(KeepReason::LocalNewer)
        );
        let a = Stamped {
            value: "a",
            stamp: Stamp::new(10, 5),
        };
        let b = Stamped {
            value: "b",
            stamp: Stamp::new(10, 6),
        };
        assert_eq!(merge(Some(a), b, LIMIT), MergeDecision::Replace);
        assert_eq!(
            merge(Some(b), a, LIMIT),
            MergeDecision::Keep(KeepReason::LocalNewer)
        );
    }

    #[test]
    fn tombstones_apply_only_to_existing_objects_and_only_when_newer() {
        assert_eq!(
            merge(Some(st("x", 10)), st(DELETED, 11), LIMIT),
            MergeDecision::Delete
        );
        assert_eq!(
            merge(Some(st("x", 10)), st(DELETED, 10), LIMIT),
            MergeDecision::Keep(KeepReason::SameStamp)
        );
        assert_eq!(
            merge(Some(st("x", 12)), st(DELETED, 11), LIMIT),
            MergeDecision::Keep(KeepReason::LocalNewer)
        );
        // A newer re-creation beats an older tombstone.
        assert_eq!(
            merge(Some(st(DELETED, 10)), st("x", 11), LIMIT),
            MergeDecision::Replace
        );
        // A local tombstone is an existing object: a newer remote tombstone refreshes it.
        assert_eq!(
            merge(Some(st(DELETED, 10)), st(DELETED, 11), LIMIT),
            MergeDecision::Delete
        );
    }

    #[test]
    fn bogus_local_stamps_lose_bogus_remote_stamps_are_refused() {
        let bogus = LIMIT.add_sec(1).sec;
        assert_eq!(
            merge(Some(st("x", bogus)), st("y", 5), LIMIT),
            MergeDecision::Replace
        );
        assert_eq!(
            merge(Some(st("x", bogus)), st(DELETED, 5), LIMIT),
            MergeDecision::Delete
        );
        assert_eq!(
            merge(Some(st("x", 5)), st("y", bogus), LIMIT),
            MergeDecision::Keep(KeepReason::RemoteFromFuture)
        );
        assert_eq!(
            merge(None, st("y", bogus), LIMIT),
            MergeDecision::Keep(KeepReason::RemoteFromFuture)
        );
        // Exactly at the limit is still believed.
        assert_eq!(
            merge(Some(st("x", 5)), st("y", LIMIT.sec), LIMIT),
            MergeDecision::Replace
        );
        assert_eq!(bogus_after(Stamp::new(100, 0), 30), Stamp::new(130, 0));
        assert_eq!(bogus_after(Stamp::MAX, 30), Stamp::MAX);
    }

    #[test]
    fn merge_is_idempotent_and_converges() {
        // Two nodes exchanging the same pair end up with the newer one on both.
        let a = st("a", 10);
        let b = st("b", 20);
        assert!(merge(Some(a), b, LIMIT).writes());
        assert!(!merge(Some(b), a, LIMIT).writes());
        assert!(!merge(Some(b), b, LIMIT).writes());
        assert_eq!(tombstone(), ".deleted");
    }
}
