// SPDX-License-Identifier: GPL-2.0
//! Full sync (port 7779): the pure decisions of a secondary that copies the designated
//! primary's data device onto its own.
//!
//! * Which blocks of a checksum window must be transferred ([`MismatchRuns`]): fast full sync
//!   compares the primary's per-block digests with the local ones and reads only the blocks
//!   that differ, merged into runs of adjacent blocks up to one data chunk. A remote digest of
//!   all zero bytes is never trusted as a match (as in the original).
//! * How long to pause to stay under a bandwidth limit ([`throttle_delay_ms`]).
//! * How the digest request of a window is shared among the parallel connections
//!   ([`sums_share`]).
//! * Whether a finished sync has become consistent ([`consistent`]): the sync copies a
//!   *fuzzy* image of the primary's device (the primary keeps writing meanwhile); the replica
//!   is consistent once its replay has passed `syncpos-<host>`, the primary's replay link
//!   recorded when the sync finished, up to the end of its possibly written-back region
//!   (`min_pos + dirty_len`).
//! * How far the persisted progress may advance ([`progress`]).
//! * Whether the sync may still write `syncstatus-<host>` ([`claim_holds`]): only while the
//!   link holds exactly what this sync started from or wrote last, so that an `invalidate`
//!   (which resets it to 0) arriving during the copy or while the end waits for the
//!   primary's heartbeat is never overwritten by the sync's progress or final size.

use super::lamport::Stamp;
use super::tree_value::ReplayLink;
use core::num::NonZeroUsize;

/// A run of blocks to transfer: byte offset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Byte offset on the device.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Whether a remote digest may count as equal to the local one.
pub fn digests_match(remote: &[u8], local: &[u8]) -> bool {
    remote.len() == local.len()
        && !remote.is_empty()
        && remote.iter().any(|&b| b != 0)
        && remote == local
}

/// The runs of mismatching blocks of one checksum window, in order.
///
/// Block `i` covers `[offset + i * block_size, ..)`, cut at `end`; `remote(i)` and `local(i)`
/// give its digests (`None`: unknown, transferred). Adjacent mismatching blocks are merged
/// into runs of at most `max_run` bytes.
pub struct MismatchRuns<R, L> {
    offset: u64,
    end: u64,
    block_size: u32,
    count: usize,
    max_run: u32,
    next: usize,
    remote: R,
    local: L,
}

impl<'a, R, L> MismatchRuns<R, L>
where
    R: Fn(usize) -> Option<&'a [u8]>,
    L: Fn(usize) -> Option<&'a [u8]>,
{
    /// The runs of `count` blocks of `block_size` bytes from `offset`, cut at `end`.
    pub fn new(
        offset: u64,
        end: u64,
        block_size: u32,
        count: usize,
        max_run: u32,
        remote: R,
        local: L,
    ) -> Self {
        MismatchRuns {
            offset,
            end,
            block_size,
            count,
            max_run: max_run.max(block_size),
            next: 0,
            remote,
            local,
        }
    }

    fn block(&self, index: usize) -> Option<(u64, u32)> {
        let start = u64::try_from(index)
            .ok()?
            .checked_mul(u64::from(self.block_size))?
            .checked_add(self.offset)?;
        if start >= self.end {
            return None;
        }
        let len = self.end.checked_sub(start)?.min(u64::from(self.block_size));
        Some((start, u32::try_from(len).ok()?))
    }

    fn differs(&self, index: usize) -> bool {
        match ((self.remote)(index), (self.local)(index)) {
            (Some(remote), Some(local)) => !digests_match(remote, local),
            _ => true,
        }
    }
}

impl<'a, R, L> Iterator for MismatchRuns<R, L>
where
    R: Fn(usize) -> Option<&'a [u8]>,
    L: Fn(usize) -> Option<&'a [u8]>,
{
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        while self.next < self.count {
            let index = self.next;
            self.next = self.next.saturating_add(1);
            let Some((start, len)) = self.block(index) else {
                self.next = self.count;
                return None;
            };
            if !self.differs(index) {
                continue;
            }
            let mut run = Run { offset: start, len };
            while self.next < self.count {
                let Some((_, more)) = self.block(self.next) else {
                    break;
                };
                if !self.differs(self.next) || run.len.saturating_add(more) > self.max_run {
                    break;
                }
                run.len = run.len.saturating_add(more);
                self.next = self.next.saturating_add(1);
            }
            return Some(run);
        }
        None
    }
}

/// Milliseconds to pause so that `bytes` transferred in `elapsed_ms` stay within
/// `limit_kib` KiB/s (0: no limit).
pub fn throttle_delay_ms(bytes: u64, elapsed_ms: u64, limit_kib: u64) -> u64 {
    // Time the bytes may take at the limit: bytes / (limit * 1024) seconds.
    let Some(allowed_ms) = bytes
        .saturating_mul(1000)
        .checked_div(limit_kib.saturating_mul(1024))
    else {
        return 0; // limit_kib is 0: no limit
    };
    allowed_ms.saturating_sub(elapsed_ms)
}

/// The part of a checksum window's `total` blocks that connection `index` of `parts` asks
/// the digests of: `(first, count)`. The parts are contiguous and in connection order, cover
/// every block exactly once, and differ by at most one block (the first `total % parts` are
/// one longer); with more connections than blocks the last ones get none. `parts` 0 counts
/// as 1.
pub fn sums_share(total: usize, parts: usize, index: usize) -> (usize, usize) {
    let parts = NonZeroUsize::new(parts).unwrap_or(NonZeroUsize::MIN);
    if index >= parts.get() {
        return (total, 0);
    }
    let base = total / parts;
    let extra = total % parts;
    let first = index.saturating_mul(base).saturating_add(index.min(extra));
    (first, base.saturating_add(usize::from(index < extra)))
}

/// The progress to persist: the synced prefix, never beyond `size`.
pub fn progress(done: u64, size: u64) -> u64 {
    done.min(size)
}

/// What a sync client knows of `syncstatus-<host>`: the value it started from or wrote last,
/// and the link's Lamport stamp (its mtime) as read back then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusClaim {
    /// Bytes synced, as the link says.
    pub value: u64,
    /// The link's stamp.
    pub stamp: Stamp,
}

/// Whether the sync may still write `syncstatus-<host>` (its progress or the final size):
/// the link, now `current_value` with stamp `current_stamp` (`None`: missing or unreadable),
/// still holds exactly `claim`. Anyone else's write in between (`marsadm invalidate`, which
/// resets it to 0, even to the value it had; `set-link`; a value pulled from a peer) changes
/// the value or the stamp, and the sync must start over from the new value instead of
/// overwriting it.
pub fn claim_holds(
    claim: &StatusClaim,
    current_value: Option<&str>,
    current_stamp: Option<Stamp>,
) -> bool {
    let Some(value) = current_value.and_then(|v| v.trim().parse::<u64>().ok()) else {
        return false;
    };
    value == claim.value && current_stamp == Some(claim.stamp)
}

/// Whether a replica that replayed up to `replay` is consistent with respect to `syncpos`
/// (the primary's replay link when the sync finished): its replay reached a later logfile, or
/// the same logfile at or beyond `min_pos + dirty_len` of `syncpos`.
pub fn consistent(replay: &ReplayLink<'_>, syncpos: &ReplayLink<'_>) -> bool {
    let target = syncpos.min_pos.saturating_add(syncpos.dirty_len.max(0));
    replay.log.nr > syncpos.log.nr || (replay.log.nr == syncpos.log.nr && replay.min_pos >= target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn runs(remote: &[[u8; 4]], local: &[[u8; 4]], end: u64, max_run: u32) -> Vec<Run> {
        MismatchRuns::new(
            1000,
            end,
            10,
            remote.len(),
            max_run,
            |i| remote.get(i).map(|d| d.as_slice()),
            |i| local.get(i).map(|d| d.as_slice()),
        )
        .collect()
    }

    #[test]
    fn equal_blocks_move_nothing() {
        let d = [[1, 2, 3, 4]; 5];
        assert!(runs(&d, &d, 2000, 100).is_empty());
    }

    #[test]
    fn mismatches_merge_into_runs_up_to_the_limit() {
        let remote = [[1; 4], [2; 4], [3; 4], [4; 4], [5; 4], [6; 4]];
        let mut local = remote;
        local[1] = [9; 4];
        local[2] = [9; 4];
        local[4] = [9; 4];
        local[5] = [9; 4];
        assert_eq!(
            runs(&remote, &local, 2000, 100),
            [
                Run {
                    offset: 1010,
                    len: 20
                },
                Run {
                    offset: 1040,
                    len: 20
                }
            ]
        );
        // Runs are cut at max_run.
        let all_bad = [[9; 4]; 6];
        assert_eq!(
            runs(&remote, &all_bad, 2000, 25),
            [
                Run {
                    offset: 1000,
                    len: 20
                },
                Run {
                    offset: 1020,
                    len: 20
                },
                Run {
                    offset: 1040,
                    len: 20
                }
            ]
        );
    }

    #[test]
    fn zero_digests_and_missing_ones_are_mismatches() {
        let zero = [[0; 4]; 2];
        assert_eq!(
            runs(&zero, &zero, 2000, 100),
            [Run {
                offset: 1000,
                len: 20
            }]
        );
        assert!(!digests_match(&[], &[]));
        assert!(!digests_match(&[1, 2], &[1]));
        let remote = [[1; 4], [2; 4]];
        let local = [[1; 4]];
        assert_eq!(
            runs(&remote, &local, 2000, 100),
            [Run {
                offset: 1010,
                len: 10
            }]
        );
    }

    #[test]
    fn the_last_block_is_cut_at_the_end() {
        let remote = [[1; 4]; 4];
        let local = [[2; 4]; 4];
        assert_eq!(
            runs(&remote, &local, 1025, 100),
            [Run {
                offset: 1000,
                len: 25
            }]
        );
        assert!(runs(&remote, &local, 1000, 100).is_empty());
    }

    #[test]
    fn digest_requests_share_the_window() {
        for total in 0..40usize {
            for parts in 0..10usize {
                let mut next = 0;
                let (mut least, mut most) = (usize::MAX, 0);
                for index in 0..parts.max(1) {
                    let (first, count) = sums_share(total, parts, index);
                    assert_eq!(first, next, "total {total} parts {parts} index {index}");
                    next = first + count;
                    least = least.min(count);
                    most = most.max(count);
                }
                assert_eq!(next, total, "every block once: total {total} parts {parts}");
                assert!(most - least <= 1);
                // Nothing for a connection that does not exist.
                assert_eq!(sums_share(total, parts, parts.max(1)).1, 0);
            }
        }
        // 256 blocks of a 16 MiB window over 3 connections; 2 blocks over 4.
        assert_eq!(
            [
                sums_share(256, 3, 0),
                sums_share(256, 3, 1),
                sums_share(256, 3, 2)
            ],
            [(0, 86), (86, 85), (171, 85)]
        );
        assert_eq!(
            [
                sums_share(2, 4, 0),
                sums_share(2, 4, 1),
                sums_share(2, 4, 2)
            ],
            [(0, 1), (1, 1), (2, 0)]
        );
    }

    #[test]
    fn throttling() {
        assert_eq!(throttle_delay_ms(1 << 30, 0, 0), 0);
        // 1 MiB at 1024 KiB/s takes a second.
        assert_eq!(throttle_delay_ms(1 << 20, 0, 1024), 1000);
        assert_eq!(throttle_delay_ms(1 << 20, 400, 1024), 600);
        assert_eq!(throttle_delay_ms(1 << 20, 5000, 1024), 0);
        assert_eq!(
            throttle_delay_ms(u64::MAX, 0, u64::MAX),
            throttle_delay_ms(u64::MAX, 0, u64::MAX)
        );
    }

    #[test]
    fn a_claim_holds_only_while_nobody_else_wrote() {
        let stamp = Stamp::parse("1700000000.000000100").unwrap();
        let later = Stamp::parse("1700000000.000000101").unwrap();
        let claim = StatusClaim {
            value: 16 << 20,
            stamp,
        };
        assert!(claim_holds(&claim, Some("16777216"), Some(stamp)));
        // invalidate: a new value, or the same value written again (a new stamp).
        assert!(!claim_holds(&claim, Some("0"), Some(later)));
        assert!(!claim_holds(&claim, Some("16777216"), Some(later)));
        // A value with our stamp but another number cannot be ours either.
        assert!(!claim_holds(&claim, Some("0"), Some(stamp)));
        // Missing, deleted, malformed: never overwritten.
        assert!(!claim_holds(&claim, None, None));
        assert!(!claim_holds(&claim, Some(".deleted"), Some(stamp)));
        assert!(!claim_holds(&claim, Some("16777216"), None));
        assert!(!claim_holds(&claim, Some("-1"), Some(stamp)));
    }

    #[test]
    fn consistency_point() {
        let sync = ReplayLink::parse("log-000000003-alpha,1000,200").unwrap();
        let at = |s| ReplayLink::parse(s).unwrap();
        assert!(!consistent(&at("log-000000002-alpha,99999,0"), &sync));
        assert!(!consistent(&at("log-000000003-alpha,1000,0"), &sync));
        assert!(!consistent(&at("log-000000003-alpha,1199,0"), &sync));
        assert!(consistent(&at("log-000000003-alpha,1200,0"), &sync));
        assert!(consistent(&at("log-000000004-bravo,0,0"), &sync));
        assert_eq!(progress(10, 5), 5);
        assert_eq!(progress(3, 5), 3);
    }
}
