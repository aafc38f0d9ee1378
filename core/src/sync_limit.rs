// SPDX-License-Identifier: GPL-2.0
//! The limit on concurrent full syncs of one host (the original's `global_sync_limit`,
//! research §5.1): `marsadm set-global-sync-limit-value N` writes `/mars/defaults-<host>/
//! sync-limit` = N, and that host's strategy lets at most N of its resources run a full sync
//! at the same time; 0 (the default, written by `create-cluster` and `join-cluster`) means no
//! limit.
//!
//! Which ones: as the original, every round goes through the resources in the order of their
//! names (byte order of `resource-<name>`, the order of the original's directory scan), counts
//! those that want a full sync (attached, `todo-<host>/sync` on, the sync not finished, a
//! designated primary elsewhere, `/mars` not too full), and [`Admission`] lets the first N of
//! them run; the others wait with their progress persisted in `syncstatus-<host>` and start
//! when one of the first N finishes, is paused or stops wanting a sync. So the preference
//! order is the name order, and it is strict: a resource earlier in the order that starts to
//! want a sync takes the slot of a running later one, which stops where it is and continues
//! later from there (as in the original, where the copy of a resource over the limit is
//! switched off). The original's `defaults-<host>/sync-pref-list` (written `(none)` by
//! `create-cluster`) was never read by its kernel, nor is it here.

/// The largest limit accepted: the resource directories a round looks at (4096) — a larger
/// limit could never hold anything back.
pub const MAX_SYNC_LIMIT: u32 = 4096;

/// Parses a sync limit: a decimal number from 0 (no limit) to [`MAX_SYNC_LIMIT`], surrounding
/// whitespace allowed (a link value, a command argument). `None` for anything else (a sign,
/// hexadecimal, empty, too large).
pub fn parse_sync_limit(text: &str) -> Option<u32> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    (value <= MAX_SYNC_LIMIT).then_some(value)
}

/// What one resource may do in this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It does not want a full sync: nothing to admit, no slot taken.
    NotWanted,
    /// It may sync (start, or go on).
    Sync,
    /// It wants a full sync, but the first `limit` resources in the order hold every slot: it
    /// waits (a running sync of it stops, its progress stays).
    Wait {
        /// The limit in force.
        limit: u32,
    },
}

/// One round's admission of full syncs: ask [`SyncSlots::admit`] for every resource, in the
/// order of their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSlots {
    limit: u32,
    wanted: u32,
}

impl SyncSlots {
    /// A new round with `limit` slots (0: no limit).
    pub fn new(limit: u32) -> Self {
        SyncSlots { limit, wanted: 0 }
    }

    /// The next resource in name order, which wants a full sync or not.
    pub fn admit(&mut self, wants_sync: bool) -> Admission {
        if !wants_sync {
            return Admission::NotWanted;
        }
        self.wanted = self.wanted.saturating_add(1);
        if self.limit == 0 || self.wanted <= self.limit {
            Admission::Sync
        } else {
            Admission::Wait { limit: self.limit }
        }
    }

    /// The resources that wanted a full sync so far in this round (the original's `sync_nr`).
    pub fn wanted(&self) -> u32 {
        self.wanted
    }

    /// The limit of this round (0: none).
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn limits_parse_as_decimal_numbers_within_bounds() {
        assert_eq!(parse_sync_limit("0"), Some(0));
        assert_eq!(parse_sync_limit("1"), Some(1));
        assert_eq!(parse_sync_limit(" 12\n"), Some(12));
        assert_eq!(parse_sync_limit("4096"), Some(MAX_SYNC_LIMIT));
        for bad in [
            "",
            " ",
            "-1",
            "+1",
            "4097",
            "0x10",
            "1e3",
            "1 2",
            "abc",
            "(none)",
            "99999999999999",
        ] {
            assert_eq!(parse_sync_limit(bad), None, "{bad:?}");
        }
    }

    /// Which of the resources (wanting a sync or not, in name order) may sync.
    fn round(limit: u32, wants: &[bool]) -> Vec<Admission> {
        let mut slots = SyncSlots::new(limit);
        wants.iter().map(|&w| slots.admit(w)).collect()
    }

    #[test]
    fn no_limit_admits_every_wanted_sync() {
        use Admission::*;
        assert_eq!(
            round(0, &[true, false, true, true]),
            [Sync, NotWanted, Sync, Sync]
        );
    }

    #[test]
    fn the_first_n_in_name_order_sync_and_the_rest_wait() {
        use Admission::*;
        let wait = Wait { limit: 1 };
        assert_eq!(round(1, &[true, true, true]), [Sync, wait, wait]);
        // A resource that wants nothing takes no slot.
        assert_eq!(round(1, &[false, true, true]), [NotWanted, Sync, wait]);
        let wait2 = Wait { limit: 2 };
        assert_eq!(
            round(2, &[true, false, true, true, true]),
            [Sync, NotWanted, Sync, wait2, wait2]
        );
        let mut slots = SyncSlots::new(2);
        for _ in 0..5 {
            slots.admit(true);
        }
        assert_eq!((slots.wanted(), slots.limit()), (5, 2));
    }

    #[test]
    fn a_finished_sync_frees_its_slot_for_the_next_in_order() {
        use Admission::*;
        // r1 and r2 want a sync, limit 1: r1 first; when r1 finished (wants nothing any
        // more), r2 gets the slot in the next round.
        assert_eq!(round(1, &[true, true]), [Sync, Wait { limit: 1 }]);
        assert_eq!(round(1, &[false, true]), [NotWanted, Sync]);
    }
}
