// SPDX-License-Identifier: GPL-2.0
//! Emergency mode: what a host does when `/mars` fills up (the original's
//! `compute_emergency_mode` and the emergency part of `make_log_finalize`, research §8.1).
//!
//! Every round the strategy measures the filesystem holding `/mars` (free bytes minus the
//! shadow memory of the loggers, which will land there) and [`assess`]es an *emergency level*
//! from four cumulative thresholds (`required_free_space_{1,2,3,4}_mb`):
//!
//! | level | free space below | what happens |
//! |---|---|---|
//! | 0 | – | normal |
//! | 1 | L1 = L2 + t1 | "space becoming low" warning; an emergency already on stays on (hysteresis) |
//! | 2 | L2 = L3 + t2 | secondaries delete the local logfiles their replay no longer needs |
//! | 3 | L3 = L4 + t3 | no full sync starts or goes on |
//! | 4 | L4 = t4 | *jammed*: every primary stops logging (emergency of each resource) |
//!
//! Each threshold `t_i` is the knob (MiB) but at most [`SHARE_DIVISOR`]th of the size of
//! `/mars`, so the defaults of the original (2 GiB each) suit a production `/mars` and small
//! test disks alike: a 1 GiB `/mars` goes to level 1 only below 128 MiB free. The level rises
//! at once but falls by at most one per round.
//!
//! A resource is in emergency ([`resource_emergency`]) when the host is jammed, when its
//! logger stopped logging (a log write failed) and the level is not yet back at 0, when an
//! emergency of it persists while the level is above 0, or when the free space after the
//! thresholds, in percent of `/mars` after the thresholds, is below the resource's
//! `todo-<host>/emergency-limit`. A logging primary then stops logging: its writes go to the
//! data device directly, its logfile ends, and a *hole* ([`hole`]) of ten logfile numbers
//! keeps its secondaries at the end of that logfile, consistent but outdated, until an
//! operator invalidates them. Logging resumes, after the hole, when the resource left its
//! emergency and `logger_resume` allows it.

use super::names::HostName;
use super::tree::{LogName, MAX_LOG_NR};
use super::tree_value::{Md5Digest, VersionHead, VersionLink};
use core::num::NonZeroU64;

/// One MiB.
pub const MIB: u64 = 1 << 20;
/// Each threshold is at most this fraction of the size of `/mars` (all four: an eighth).
pub const SHARE_DIVISOR: u64 = 32;
/// The highest level: jammed.
pub const LEVEL_JAMMED: u8 = 4;
/// Default of each `required_free_space_<i>_mb` knob (the original's 2 GB).
pub const DEFAULT_FREE_SPACE_MB: i64 = 2048;
/// Largest value of those knobs (1 TiB).
pub const FREE_SPACE_MB_MAX: i64 = 1 << 20;
/// Logfile numbers skipped by the hole (the original's `max_sequence + 10`).
pub const HOLE_SKIP: u32 = 10;

/// The cumulative thresholds in bytes: `[L1, L2, L3, L4]`, L1 the largest.
pub fn limits(knobs_mb: [i64; 4], total: u64) -> [u64; 4] {
    let cap = total / SHARE_DIVISOR;
    let t = |i: usize| {
        let mb = knobs_mb
            .get(i)
            .copied()
            .unwrap_or(0)
            .clamp(0, FREE_SPACE_MB_MAX) as u64;
        mb.saturating_mul(MIB).min(cap)
    };
    let l4 = t(3);
    let l3 = l4.saturating_add(t(2));
    let l2 = l3.saturating_add(t(1));
    let l1 = l2.saturating_add(t(0));
    [l1, l2, l3, l4]
}

/// The level `rest` free bytes mean, before the one-step-per-round rule.
pub fn raw_level(rest: u64, limits: &[u64; 4]) -> u8 {
    let [l1, l2, l3, l4] = *limits;
    if rest < l4 {
        4
    } else if rest < l3 {
        3
    } else if rest < l2 {
        2
    } else if rest < l1 {
        1
    } else {
        0
    }
}

/// The level after `previous`: rises at once, falls by one step per round.
pub fn next_level(previous: u8, raw: u8) -> u8 {
    let previous = previous.min(LEVEL_JAMMED);
    if raw < previous {
        previous.saturating_sub(1)
    } else {
        raw.min(LEVEL_JAMMED)
    }
}

/// The space situation of this host after one round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// The emergency level, 0..=4.
    pub level: u8,
    /// Free bytes after the shadow memory and the thresholds (`rest-space`).
    pub rest: u64,
    /// Size of `/mars` minus the thresholds (`total-space`).
    pub total: u64,
}

impl Space {
    /// `rest-space` in MiB.
    pub fn rest_mib(&self) -> u64 {
        self.rest / MIB
    }

    /// `total-space` in MiB.
    pub fn total_mib(&self) -> u64 {
        self.total / MIB
    }

    /// The free space after the thresholds in percent of `/mars` after the thresholds
    /// (0 when nothing is left).
    pub fn rest_percent(&self) -> u64 {
        let Some(total) = NonZeroU64::new(self.total) else {
            return 0;
        };
        // No 128-bit division (the kernel has no __udivti3).
        let rest = self.rest.min(self.total);
        match rest.checked_mul(100) {
            Some(scaled) => scaled / total,
            None => rest / NonZeroU64::new(self.total / 100).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// One round's assessment: `total` and `free` bytes of the filesystem holding `/mars`,
/// `shadow` bytes of logger memory not yet on disk, the threshold knobs in MiB, and the level
/// of the previous round.
pub fn assess(total: u64, free: u64, shadow: u64, knobs_mb: [i64; 4], previous: u8) -> Space {
    let rest = free.saturating_sub(shadow);
    let limits = limits(knobs_mb, total);
    let level = next_level(previous, raw_level(rest, &limits));
    Space {
        level,
        rest: rest.saturating_sub(limits[0]),
        total: total.saturating_sub(limits[0]),
    }
}

/// Parses `todo-<host>/emergency-limit`: a percentage 0..=100 (0: off).
pub fn parse_limit(value: &str) -> Option<u8> {
    let value = value.trim();
    if value.is_empty() || value.len() > 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u8>().ok().filter(|&v| v <= 100)
}

/// What [`resource_emergency`] needs for one resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceFacts {
    /// This round's space.
    pub space: Space,
    /// The resource was in emergency after the last round.
    pub had_emergency: bool,
    /// Its logger stopped logging (ceased, or a log write failed) and has not resumed.
    pub logger_stopped: bool,
    /// `todo-<host>/emergency-limit` in percent (0: off).
    pub limit_percent: u8,
}

/// Whether the resource is in emergency now (`has-emergency`): jammed, or stopped and not yet
/// back at level 0, or an existing emergency while space is still low (hysteresis), or below
/// its own limit.
pub fn resource_emergency(facts: &ResourceFacts) -> bool {
    let level = facts.space.level;
    if level >= LEVEL_JAMMED {
        return true;
    }
    if level >= 1 && (facts.had_emergency || facts.logger_stopped) {
        return true;
    }
    facts.limit_percent > 0 && facts.space.rest_percent() < u64::from(facts.limit_percent)
}

/// Whether a logger in emergency may start logging again: the resource left its emergency, the
/// `logger_resume` knob allows it, and the [`ResumeBackoff`] after a failed log write is over.
pub fn may_resume(has_emergency: bool, logger_resume: bool, backoff_over: bool) -> bool {
    !has_emergency && logger_resume && backoff_over
}

/// The first wait after a failed log write, in scan intervals.
pub const BACKOFF_FIRST_INTERVALS: u64 = 2;
/// The longest wait, in scan intervals (5 min 20 s at the default interval of 5 s).
pub const BACKOFF_MAX_INTERVALS: u64 = 64;

/// How long a logger waits after its `failures`th failed log write in a row before it resumes
/// logging: [`BACKOFF_FIRST_INTERVALS`] scan intervals, twice as long after each further
/// failure, at most [`BACKOFF_MAX_INTERVALS`]; 0 without a failure.
pub fn backoff_ms(failures: u32, interval_ms: u64) -> u64 {
    let Some(further) = failures.checked_sub(1) else {
        return 0;
    };
    let shift = further.min(BACKOFF_MAX_INTERVALS.trailing_zeros());
    let intervals = (BACKOFF_FIRST_INTERVALS << shift).min(BACKOFF_MAX_INTERVALS);
    intervals.saturating_mul(interval_ms)
}

/// No resume storm: after a failed log write (ENOSPC) a logger resumes logging only once the
/// emergency level has been 0 for [`backoff_ms`] (not at once, which with a still full `/mars`
/// would fail the next write again and make a new hole every round). Failures in a row (a
/// resume that ended in another failure) double the wait; logging for as long as the current
/// wait without a failure forgets them. A logger stopped without a failure (the strategy made
/// it cease) is not held back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResumeBackoff {
    /// Failed log writes in a row.
    failures: u32,
    /// The logger's count of failed log writes when last seen.
    seen: u32,
    /// Since when (ms) the level has been 0 while the logger waits after a failure.
    quiet_since: Option<u64>,
    /// Since when (ms) the logger has logged again after a failure.
    logging_since: Option<u64>,
}

/// What [`ResumeBackoff::round`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Nothing holds the logger back.
    Over,
    /// A failure was seen this round: the logger waits this long (ms) at level 0; the
    /// `u32` is the number of failures in a row.
    Began(u32, u64),
    /// The logger still waits.
    Waiting,
}

impl ResumeBackoff {
    /// A backoff that takes the logger's current failure count `failed_total` as seen (for a
    /// logger just started: its earlier failures are no reason to wait).
    pub fn new(failed_total: u32) -> Self {
        ResumeBackoff {
            seen: failed_total,
            ..ResumeBackoff::default()
        }
    }

    /// Failed log writes in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// One round at `now_ms`: `failed_total` is the logger's count of failed log writes (it
    /// only grows, wrapping), `logging` whether it logs now (not in emergency), `level` this
    /// round's emergency level, `interval_ms` the scan interval. The caller reads `logging`
    /// before `failed_total`, and the logger counts a failure before it shows it stopped:
    /// so a logger seen stopped by a failure is never let go in the round that sees it.
    pub fn round(
        &mut self,
        failed_total: u32,
        logging: bool,
        level: u8,
        now_ms: u64,
        interval_ms: u64,
    ) -> Backoff {
        let new = failed_total.wrapping_sub(self.seen);
        self.seen = failed_total;
        if new != 0 {
            // Also when `logging` still says so: the failure may have come after the caller
            // looked (it reads `logging` first, the count second); it stops the logger.
            self.failures = self.failures.saturating_add(new);
            self.logging_since = None;
            self.quiet_since = (level == 0).then_some(now_ms);
            return Backoff::Began(self.failures, backoff_ms(self.failures, interval_ms));
        }
        let wait = backoff_ms(self.failures, interval_ms);
        if logging {
            self.quiet_since = None;
            if self.failures > 0 {
                let since = *self.logging_since.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= wait {
                    self.failures = 0;
                    self.logging_since = None;
                }
            }
            return Backoff::Over;
        }
        self.logging_since = None;
        if self.failures == 0 {
            return Backoff::Over;
        }
        if level != 0 {
            self.quiet_since = None;
            return Backoff::Waiting;
        }
        let since = *self.quiet_since.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) >= wait {
            Backoff::Over
        } else {
            Backoff::Waiting
        }
    }
}

/// Whether full syncs may start or go on at `level`.
pub fn sync_allowed(level: u8) -> bool {
    level < 3
}

/// Whether a secondary deletes old logfiles at `level`.
pub fn deletes_old_logfiles(level: u8) -> bool {
    level >= 2
}

/// The local logfile a secondary deletes first in emergency: the oldest one numbered below
/// the logfile its replay link names (its replay needs nothing before that).
pub fn deletable_logfile<'a>(
    logs: impl IntoIterator<Item = LogName<'a>>,
    replaying: u32,
) -> Option<LogName<'a>> {
    logs.into_iter()
        .filter(|l| l.nr < replaying)
        .min_by_key(|l| l.nr)
}

/// The hole after logfile `current`: the number of the fake version link
/// (`current + 10`) and of the empty logfile logging resumes into (`current + 11`).
pub fn hole(current: u32) -> Option<(u32, u32)> {
    let version = current.checked_add(HOLE_SKIP)?;
    let next = version.checked_add(1).filter(|&n| n <= MAX_LOG_NR)?;
    Some((version, next))
}

/// The fake version link at the hole, `000…0,log-<nr>-<host>,0:` (as at resource creation),
/// which the version link of the next logfile chains to.
pub fn hole_version_link(nr: u32, host: HostName<'_>) -> VersionLink<'_> {
    VersionLink {
        head: VersionHead {
            digest: Md5Digest::ZERO,
            log: LogName { nr, origin: host },
            pos: 0,
        },
        prev: None,
    }
}

/// The level in words, for messages and `marsadm view`.
pub fn level_text(level: u8) -> &'static str {
    match level {
        0 => "normal",
        1 => "space becoming low",
        2 => "space low: secondaries delete old logfiles",
        3 => "space very low: no full sync",
        _ => "jammed: logging stopped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    const GIB: u64 = 1 << 30;
    const DEFAULTS: [i64; 4] = [DEFAULT_FREE_SPACE_MB; 4];

    #[test]
    fn thresholds_follow_the_knobs_on_a_large_mars() {
        let l = limits(DEFAULTS, 500 * GIB);
        assert_eq!(l, [8 * GIB, 6 * GIB, 4 * GIB, 2 * GIB]);
        assert_eq!(raw_level(9 * GIB, &l), 0);
        assert_eq!(raw_level(7 * GIB, &l), 1);
        assert_eq!(raw_level(5 * GIB, &l), 2);
        assert_eq!(raw_level(3 * GIB, &l), 3);
        assert_eq!(raw_level(GIB, &l), 4);
        assert_eq!(raw_level(0, &l), 4);
        let l = limits([1, 2, 3, 4], 500 * GIB);
        assert_eq!(l, [10 * MIB, 9 * MIB, 7 * MIB, 4 * MIB]);
    }

    #[test]
    fn small_mars_disks_cap_each_threshold() {
        // A 1 GiB /mars (the test disks) is normal above 128 MiB free.
        let l = limits(DEFAULTS, GIB);
        assert_eq!(l, [128 * MIB, 96 * MIB, 64 * MIB, 32 * MIB]);
        assert_eq!(raw_level(900 * MIB, &l), 0);
        assert_eq!(raw_level(129 * MIB, &l), 0);
        assert_eq!(raw_level(127 * MIB, &l), 1);
        // 256 MiB: jammed below 8 MiB.
        let l = limits(DEFAULTS, 256 * MIB);
        assert_eq!(l, [32 * MIB, 24 * MIB, 16 * MIB, 8 * MIB]);
        assert_eq!(raw_level(7 * MIB, &l), 4);
        // Knobs at 0 switch levels off.
        let l = limits([0; 4], GIB);
        assert_eq!(raw_level(0, &l), 0);
        // Out-of-range knob values (the kernel refuses them anyway) are clamped.
        let l = limits([-5, i64::MAX, 0, 0], 1 << 62);
        assert_eq!(l[3], 0);
        assert_eq!(l[1], (FREE_SPACE_MB_MAX as u64) * MIB);
    }

    #[test]
    fn level_falls_one_step_per_round() {
        assert_eq!(next_level(0, 4), 4);
        assert_eq!(next_level(4, 0), 3);
        assert_eq!(next_level(3, 0), 2);
        assert_eq!(next_level(1, 0), 0);
        assert_eq!(next_level(2, 3), 3);
        assert_eq!(next_level(9, 0), 3);
        let mut level = 0;
        let mut seen = std::vec::Vec::new();
        for free in [
            100 * MIB,
            5 * MIB,
            200 * MIB,
            200 * MIB,
            200 * MIB,
            200 * MIB,
            200 * MIB,
        ] {
            level = assess(256 * MIB, free, 0, DEFAULTS, level).level;
            seen.push(level);
        }
        assert_eq!(seen, [0, 4, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn shadow_memory_counts_as_used_and_rest_is_after_the_thresholds() {
        let s = assess(256 * MIB, 40 * MIB, 0, DEFAULTS, 0);
        assert_eq!((s.level, s.rest_mib(), s.total_mib()), (0, 8, 224));
        let s = assess(256 * MIB, 40 * MIB, 20 * MIB, DEFAULTS, 0);
        assert_eq!((s.level, s.rest_mib()), (2, 0));
        assert_eq!(s.rest_percent(), 0);
        let s = assess(256 * MIB, 144 * MIB, 0, DEFAULTS, 0);
        assert_eq!(s.rest_percent(), 50);
        assert_eq!(Space::default().rest_percent(), 0);
        assert_eq!(
            Space {
                level: 0,
                rest: u64::MAX / 2,
                total: u64::MAX
            }
            .rest_percent(),
            50
        );
        assert_eq!(
            Space {
                level: 0,
                rest: 5,
                total: 3
            }
            .rest_percent(),
            100
        );
    }

    #[test]
    fn resource_emergency_rules() {
        let space = |level, rest, total| Space { level, rest, total };
        let f = ResourceFacts {
            space: space(0, 50, 100),
            had_emergency: false,
            logger_stopped: false,
            limit_percent: 0,
        };
        assert!(!resource_emergency(&f));
        assert!(
            resource_emergency(&ResourceFacts {
                space: space(4, 0, 100),
                ..f
            }),
            "jammed"
        );
        assert!(
            !resource_emergency(&ResourceFacts {
                space: space(3, 0, 100),
                ..f
            }),
            "not jammed, no limit"
        );
        // Hysteresis: an emergency stays while the level is above 0.
        let had = ResourceFacts {
            had_emergency: true,
            ..f
        };
        assert!(resource_emergency(&ResourceFacts {
            space: space(1, 90, 100),
            ..had
        }));
        assert!(!resource_emergency(&had), "level 0 ends it");
        // A logger that stopped by itself (a failed log write) waits for level 0 too.
        let stopped = ResourceFacts {
            logger_stopped: true,
            ..f
        };
        assert!(resource_emergency(&ResourceFacts {
            space: space(2, 90, 100),
            ..stopped
        }));
        assert!(!resource_emergency(&stopped));
        // The per-resource limit.
        assert!(resource_emergency(&ResourceFacts {
            limit_percent: 51,
            ..f
        }));
        assert!(!resource_emergency(&ResourceFacts {
            limit_percent: 50,
            ..f
        }));
        assert!(resource_emergency(&ResourceFacts {
            limit_percent: 1,
            space: space(0, 0, 0),
            ..f
        }));
        assert!(may_resume(false, true, true));
        assert!(!may_resume(false, false, true));
        assert!(!may_resume(true, true, true));
        assert!(!may_resume(false, true, false));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(0, 5000), 0);
        assert_eq!(backoff_ms(1, 5000), 10_000);
        assert_eq!(backoff_ms(2, 5000), 20_000);
        assert_eq!(backoff_ms(3, 1000), 8000);
        assert_eq!(backoff_ms(6, 1000), 64_000);
        assert_eq!(backoff_ms(7, 1000), 64_000);
        assert_eq!(backoff_ms(u32::MAX, 1000), 64_000);
        assert_eq!(backoff_ms(u32::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn a_failed_log_write_waits_at_level_0_before_resuming() {
        const I: u64 = 1000;
        let mut b = ResumeBackoff::new(0);
        // Stopped by the strategy (ceased), no failure: nothing to wait for.
        assert_eq!(b.round(0, false, 0, 0, I), Backoff::Over);
        // A failure: 2 intervals at level 0.
        assert_eq!(b.round(1, false, 0, 100, I), Backoff::Began(1, 2000));
        assert_eq!(b.round(1, false, 0, 1100, I), Backoff::Waiting);
        assert_eq!(b.round(1, false, 0, 2099, I), Backoff::Waiting);
        assert_eq!(b.round(1, false, 0, 2100, I), Backoff::Over);
        // It resumed and failed again at once: twice as long.
        assert_eq!(b.round(1, true, 0, 2200, I), Backoff::Over);
        assert_eq!(b.round(2, false, 0, 2300, I), Backoff::Began(2, 4000));
        assert_eq!(b.round(2, false, 0, 6299, I), Backoff::Waiting);
        // Failures between two rounds count each; the logger had not yet shown it logged.
        assert_eq!(b.round(4, false, 0, 6300, I), Backoff::Began(4, 16_000));
        assert_eq!(b.failures(), 4);
        assert_eq!(b.round(4, false, 0, 22_300, I), Backoff::Over);
    }

    #[test]
    fn the_wait_counts_only_at_level_0() {
        const I: u64 = 1000;
        let mut b = ResumeBackoff::new(7);
        assert_eq!(b.round(8, false, 2, 0, I), Backoff::Began(1, 2000));
        assert_eq!(
            b.round(8, false, 2, 5000, I),
            Backoff::Waiting,
            "level 2: no wait counts"
        );
        assert_eq!(
            b.round(8, false, 0, 6000, I),
            Backoff::Waiting,
            "level 0 from now on"
        );
        assert_eq!(
            b.round(8, false, 1, 7000, I),
            Backoff::Waiting,
            "up again: starts over"
        );
        assert_eq!(b.round(8, false, 0, 8000, I), Backoff::Waiting);
        assert_eq!(b.round(8, false, 0, 9999, I), Backoff::Waiting);
        assert_eq!(b.round(8, false, 0, 10_000, I), Backoff::Over);
    }

    #[test]
    fn logging_long_enough_forgets_the_failures() {
        const I: u64 = 1000;
        let mut b = ResumeBackoff::new(u32::MAX);
        assert_eq!(
            b.round(0, false, 0, 0, I),
            Backoff::Began(1, 2000),
            "the count wraps"
        );
        assert_eq!(b.round(0, false, 0, 2000, I), Backoff::Over);
        assert_eq!(b.round(0, true, 0, 2500, I), Backoff::Over);
        assert_eq!(b.failures(), 1);
        assert_eq!(b.round(0, true, 0, 4499, I), Backoff::Over);
        assert_eq!(b.failures(), 1, "not long enough yet");
        assert_eq!(b.round(0, true, 0, 4500, I), Backoff::Over);
        assert_eq!(b.failures(), 0, "logged for the whole wait: forgotten");
        assert_eq!(
            b.round(1, false, 0, 5000, I),
            Backoff::Began(1, 2000),
            "the next failure starts at the first wait"
        );
        // A failure counted after the caller saw the logger logging is one all the same.
        let mut b = ResumeBackoff::new(0);
        assert_eq!(b.round(1, true, 0, 0, I), Backoff::Began(1, 2000));
        assert_eq!(b.round(1, false, 0, 1999, I), Backoff::Waiting);
        assert_eq!(b.round(1, false, 0, 2000, I), Backoff::Over);
    }

    #[test]
    fn limits_parse_as_percentages() {
        assert_eq!(parse_limit("0"), Some(0));
        assert_eq!(parse_limit(" 42\n"), Some(42));
        assert_eq!(parse_limit("100"), Some(100));
        for bad in ["", "101", "-1", "abc", "1.5", "0x10", "1000", "+5"] {
            assert_eq!(parse_limit(bad), None, "{bad}");
        }
    }

    #[test]
    fn actions_by_level() {
        assert!(sync_allowed(2) && !sync_allowed(3) && !sync_allowed(4));
        assert!(!deletes_old_logfiles(1) && deletes_old_logfiles(2));
        let h = HostName::parse("alpha").unwrap();
        let b = HostName::parse("bravo").unwrap();
        let logs = [
            LogName { nr: 5, origin: h },
            LogName { nr: 3, origin: b },
            LogName { nr: 7, origin: h },
        ];
        assert_eq!(
            deletable_logfile(logs, 7),
            Some(LogName { nr: 3, origin: b })
        );
        assert_eq!(
            deletable_logfile(logs, 3),
            None,
            "the replayed logfile and later ones stay"
        );
        assert_eq!(level_text(4), "jammed: logging stopped");
    }

    #[test]
    fn the_hole_skips_ten_numbers() {
        assert_eq!(hole(5), Some((15, 16)));
        assert_eq!(hole(MAX_LOG_NR - 11), Some((MAX_LOG_NR - 1, MAX_LOG_NR)));
        assert_eq!(hole(MAX_LOG_NR - 10), None);
        assert_eq!(hole(u32::MAX), None);
        let h = HostName::parse("alpha").unwrap();
        assert_eq!(
            hole_version_link(15, h).to_string(),
            "00000000000000000000000000000000,log-000000015-alpha,0:"
        );
    }
}
