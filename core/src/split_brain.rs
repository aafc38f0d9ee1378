// SPDX-License-Identifier: GPL-2.0
//! Split-brain detection over the hosts' version-link histories.
//!
//! Two hosts are in split brain when their data histories have forked: both have applied
//! writes the other has not. Being behind is not split brain: an outdated secondary whose
//! history is a prefix of the primary's simply has to catch up.
//!
//! The test follows `marsadm` (`detect_splitbrain`, `_get_common_ancestor`). Each host's
//! position is its replay link (`log-N-<origin>,<pos>,…`). To compare two hosts, the one
//! further ahead walks back through its own version links (each link's back pointer names the
//! previous logfile and the position where that one ended) until both stand at the same
//! logfile number:
//!
//! * same logfile and position: this is the common ancestor; split brain if *both* had to walk
//!   back to reach it (each has something after it that the other lacks);
//! * same number, different origins (`log-N-A` vs `log-N-B`): split brain for sure; both walk
//!   on to find where they forked;
//! * same logfile, different positions: the shorter one is the ancestor; split brain only if
//!   the host at the shorter position had walked back, i.e. it left that logfile early and
//!   went on with something else;
//! * a walk that runs out of links: unknown, which `marsadm` counts as split brain.
//!
//! The kernel's own test is simpler: two logfiles with the same number ([`double_logfiles`]).

use super::tree::LogName;
use super::tree_value::{visible, ReplayLink, VersionHead, VersionLink};
use super::version_chain::VersionSource;

/// A point in a resource's history: a logfile and a byte position in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position<'a> {
    /// The logfile.
    pub log: LogName<'a>,
    /// The byte position.
    pub pos: i64,
}

impl core::fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{},{}", self.log, self.pos)
    }
}

/// A host and its replay link value, the starting point of its history walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostHead<'a> {
    /// The host.
    pub host: &'a str,
    /// Its `replay-<host>` value.
    pub replay: &'a str,
}

/// The outcome for one pair of hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// One history is a prefix of the other (possibly equal).
    Consistent,
    /// The histories have forked.
    SplitBrain,
    /// The walk ran out of links or met a malformed one; `marsadm` treats this as split brain.
    Unknown,
}

impl Verdict {
    /// Whether this counts as split brain (`Unknown` does, as in the original).
    pub fn is_split(self) -> bool {
        !matches!(self, Verdict::Consistent)
    }
}

/// The comparison of two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairReport<'a> {
    /// The two hosts, in the order given.
    pub hosts: [&'a str; 2],
    /// The verdict.
    pub verdict: Verdict,
    /// The last point both histories share, when found.
    pub ancestor: Option<Position<'a>>,
    /// For each host, the oldest point of its history not shared with the other (`None` when
    /// it has nothing the other lacks, or when it was not found).
    pub diverged: [Option<Position<'a>>; 2],
    /// For each host, the bytes of logfile data walked over from its position back to the
    /// meeting point (the original's "size" of the involved data).
    pub amount: [i64; 2],
}

/// One side of the walk.
#[derive(Clone, Copy)]
struct Side<'a> {
    host: &'a str,
    at: Position<'a>,
    /// The position visited before `at` (newer), if any.
    newer: Option<Position<'a>>,
    depth: u32,
    total: i64,
}

impl<'a> Side<'a> {
    /// Steps back to the predecessor of the current position (`_get_prev_pos`).
    /// The current position's bytes count towards the total whether or not a predecessor is
    /// found, as in the original.
    fn step_back<'v: 'a, V: VersionSource<'v> + ?Sized>(&mut self, versions: &V) -> bool {
        self.total = self.total.saturating_add(self.at.pos);
        match prev_position(versions, self.at.log.nr, self.host) {
            Some(prev) => {
                self.newer = Some(self.at);
                self.at = prev;
                self.depth = self.depth.saturating_add(1);
                true
            }
            None => false,
        }
    }
}

/// The predecessor of logfile `nr` in `host`'s history: the back pointer of its own link for
/// `nr`, or, when that link is missing, the head of its link for `nr - 1`. `None` when neither
/// exists, the back pointer is empty (start of the history) or the links are malformed. A
/// predecessor that does not lie before `nr` is refused, so a corrupt tree cannot loop.
fn prev_position<'v, V: VersionSource<'v> + ?Sized>(
    versions: &V,
    nr: u32,
    host: &str,
) -> Option<Position<'v>> {
    let head = match versions
        .version(nr, host)
        .map(visible)
        .filter(|v| !v.is_empty())
    {
        Some(value) => VersionLink::parse(value).ok()?.prev?,
        None => {
            let value = versions
                .version(nr.checked_sub(1)?, host)
                .map(visible)
                .filter(|v| !v.is_empty())?;
            VersionHead::parse(value.split_once(':').map_or(value, |(h, _)| h)).ok()?
        }
    };
    (head.log.nr < nr).then_some(Position {
        log: head.log,
        pos: head.pos,
    })
}

/// Compares the histories of two hosts (`_get_common_ancestor`).
///
/// Deviation: the original swaps its two running sizes when it swaps the sides, so its sizes
/// can end up attributed to the wrong host; here `amount[i]` always belongs to `hosts[i]`.
pub fn compare_hosts<'a, 'v: 'a, V: VersionSource<'v> + ?Sized>(
    versions: &V,
    a: HostHead<'a>,
    b: HostHead<'a>,
) -> PairReport<'a> {
    let mut report = PairReport {
        hosts: [a.host, b.host],
        verdict: Verdict::Unknown,
        ancestor: None,
        diverged: [None, None],
        amount: [0, 0],
    };
    let start = |h: HostHead<'a>| {
        ReplayLink::parse(visible(h.replay)).ok().map(|r| Side {
            host: h.host,
            at: Position {
                log: r.log,
                pos: r.min_pos,
            },
            newer: None,
            depth: 0,
            total: 0,
        })
    };
    let (mut s1, mut s2) = match (start(a), start(b)) {
        (Some(x), Some(y)) => (x, y),
        _ => return report,
    };
    // Each step moves one side back by at least one logfile number; this bounds the walk even
    // on a corrupt tree (prev_position only ever goes backwards).
    let mut sure_split = false;
    let finish =
        |report: &mut PairReport<'a>, s1: &Side<'a>, s2: &Side<'a>, verdict, ancestor, d1, d2| {
            report.verdict = verdict;
            report.ancestor = ancestor;
            report.diverged = [d1, d2];
            report.amount = [s1.total, s2.total];
        };
    loop {
        let (p1, p2) = (s1.at, s2.at);
        if p1 == p2 {
            let split = sure_split || (s1.depth > 0 && s2.depth > 0);
            let verdict = if split {
                Verdict::SplitBrain
            } else {
                Verdict::Consistent
            };
            finish(&mut report, &s1, &s2, verdict, Some(p1), s1.newer, s2.newer);
            return report;
        }
        if p1.log.nr != p2.log.nr {
            let behind = if p1.log.nr < p2.log.nr {
                &mut s2
            } else {
                &mut s1
            };
            if !behind.step_back(versions) {
                let verdict = if sure_split {
                    Verdict::SplitBrain
                } else {
                    Verdict::Unknown
                };
                finish(&mut report, &s1, &s2, verdict, None, None, None);
                return report;
            }
            continue;
        }
        if p1.log.origin != p2.log.origin {
            sure_split = true;
            let ok1 = s1.step_back(versions);
            let ok2 = s2.step_back(versions);
            if !(ok1 && ok2) {
                finish(&mut report, &s1, &s2, Verdict::SplitBrain, None, None, None);
                return report;
            }
            continue;
        }
        // Same logfile, different positions: the shorter one is the ancestor.
        s1.total = s1.total.saturating_add(p1.pos);
        s2.total = s2.total.saturating_add(p2.pos);
        let (ancestor, split, d1, d2) = if p1.pos < p2.pos {
            (p1, s1.depth > 0, s1.newer, Some(p2))
        } else {
            (p2, s2.depth > 0, Some(p1), s2.newer)
        };
        let verdict = if sure_split || split {
            Verdict::SplitBrain
        } else {
            Verdict::Consistent
        };
        finish(&mut report, &s1, &s2, verdict, Some(ancestor), d1, d2);
        return report;
    }
}

/// Summary of [`detect_split_brain`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitBrainSummary {
    /// Pairs compared.
    pub pairs: usize,
    /// Pairs in split brain (verdict `SplitBrain`).
    pub split: usize,
    /// Pairs whose verdict is `Unknown`.
    pub unknown: usize,
    /// Reports written to the output slice (the rest did not fit).
    pub written: usize,
}

impl SplitBrainSummary {
    /// Whether any pair counts as split brain (including unknown ones, as `marsadm` does).
    pub fn is_split(&self) -> bool {
        self.split > 0 || self.unknown > 0
    }
}

/// Compares every pair of hosts (`detect_splitbrain`) and writes the reports of the pairs
/// that count as split brain into `out`, as far as it has room. Pairs where either host
/// appears twice in `heads` are compared once per occurrence pair.
pub fn detect_split_brain<'a, 'v: 'a, V: VersionSource<'v> + ?Sized>(
    versions: &V,
    heads: &[HostHead<'a>],
    out: &mut [PairReport<'a>],
) -> SplitBrainSummary {
    let mut summary = SplitBrainSummary::default();
    let mut slots = out.iter_mut();
    for (i, a) in heads.iter().enumerate() {
        for b in heads.iter().skip(i.saturating_add(1)) {
            let report = compare_hosts(versions, *a, *b);
            summary.pairs = summary.pairs.saturating_add(1);
            match report.verdict {
                Verdict::Consistent => continue,
                Verdict::SplitBrain => summary.split = summary.split.saturating_add(1),
                Verdict::Unknown => summary.unknown = summary.unknown.saturating_add(1),
            }
            if let Some(slot) = slots.next() {
                *slot = report;
                summary.written = summary.written.saturating_add(1);
            }
        }
    }
    summary
}

/// Iterator over pairs of logfiles with the same number from different origins, the kernel's
/// split-brain evidence (`has_double_logfile`). Yields each pair once, in input order.
#[derive(Clone, Debug)]
pub struct DoubleLogfiles<'s, 'a> {
    names: &'s [&'a str],
    i: usize,
    j: usize,
}

/// Finds logfiles with equal numbers but different origins among `names` (logfile names
/// without directory; other names are ignored).
pub fn double_logfiles<'s, 'a>(names: &'s [&'a str]) -> DoubleLogfiles<'s, 'a> {
    DoubleLogfiles { names, i: 0, j: 1 }
}

impl<'a> Iterator for DoubleLogfiles<'_, 'a> {
    type Item = (LogName<'a>, LogName<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let first = *self.names.get(self.i)?;
            let second = match self.names.get(self.j) {
                Some(s) => *s,
                None => {
                    self.i = self.i.checked_add(1)?;
                    self.j = self.i.checked_add(1)?;
                    continue;
                }
            };
            self.j = self.j.checked_add(1)?;
            if let (Ok(x), Ok(y)) = (LogName::parse(first), LogName::parse(second)) {
                if x.nr == y.nr && x.origin != y.origin {
                    return Some((x, y));
                }
            }
        }
    }
}
