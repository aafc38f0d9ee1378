// SPDX-License-Identifier: GPL-2.0
//! Progress rates for the indicators `actual-<host>/amount-sync_rate`, `amount-replay_rate`
//! and `amount-file_rate` (the fetch; KiB/s, as the original publishes them and `marsadm view`
//! reads them), when to publish a running total ([`TotalPublisher`], `amount-file_bytes`,
//! `amount-log_bytes`), and the bytes a logger appended ([`AppendCounter`]).
//!
//! A rate is measured, never estimated: the strategy feeds the position of a running activity
//! (sync status, replay position within its logfile) once per round; a rate is the progress
//! between two samples at least [`RateSampler::INTERVAL_NS`] apart. A position that goes back
//! or into another logfile (another `key`) starts a new measurement and keeps the last rate
//! until the next interval is over. An activity that does not run has rate 0. Until the first
//! interval is measured there is no rate (nothing is published). The result changes at most
//! once per interval, which bounds the metadata traffic the indicator causes.

/// Measures the rate of one activity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSampler {
    /// `(key, position, monotonic ns)` of the start of the current interval.
    start: Option<(u64, u64, u64)>,
    /// The rate last returned, KiB/s.
    shown: Option<u64>,
}

impl RateSampler {
    /// Shortest interval a rate is measured over: 10 s.
    pub const INTERVAL_NS: u64 = 10_000_000_000;

    /// A new sampler without a rate.
    pub const fn new() -> Self {
        RateSampler {
            start: None,
            shown: None,
        }
    }

    /// Feeds one sample: `Some((key, position))` while the activity runs, `None` when it does
    /// not; `now_ns` is a monotonic clock. Returns the rate in KiB/s when it is to be
    /// published (it differs from the last one returned).
    pub fn sample(&mut self, at: Option<(u64, u64)>, now_ns: u64) -> Option<u64> {
        let rate = match (at, self.start) {
            (None, _) => {
                self.start = None;
                Some(0)
            }
            (Some((key, pos)), None) => {
                self.start = Some((key, pos, now_ns));
                None
            }
            (Some((key, pos)), Some((k0, p0, t0))) => {
                let elapsed = now_ns.saturating_sub(t0);
                if key != k0 || pos < p0 || now_ns < t0 {
                    self.start = Some((key, pos, now_ns));
                    None
                } else if elapsed < Self::INTERVAL_NS {
                    None
                } else {
                    self.start = Some((key, pos, now_ns));
                    // In u64 (no 128-bit division in the kernel): KiB times 1000 over ms.
                    let kib = pos.saturating_sub(p0) / 1024;
                    let ms = elapsed / 1_000_000;
                    Some(kib.saturating_mul(1000).checked_div(ms).unwrap_or(0))
                }
            }
        };
        match rate {
            Some(r) if self.shown != Some(r) => {
                self.shown = Some(r);
                Some(r)
            }
            _ => None,
        }
    }
}

/// Decides when a running total (bytes fetched) is written to the tree: at once the first
/// time, then when it changed and at least [`RateSampler::INTERVAL_NS`] passed since the last
/// write, and at once when the activity stopped (so the final value does not wait). A busy
/// activity thus adds one small link per 10 s to the metadata its peers pull.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TotalPublisher {
    /// `(value, monotonic ns)` of the last write.
    shown: Option<(u64, u64)>,
}

impl TotalPublisher {
    /// A publisher that has written nothing yet.
    pub const fn new() -> Self {
        TotalPublisher { shown: None }
    }

    /// Feeds the current `total`; `running` whether the activity runs; `now_ns` a monotonic
    /// clock. Returns the value to write now, if any.
    pub fn sample(&mut self, total: u64, running: bool, now_ns: u64) -> Option<u64> {
        let due = match self.shown {
            None => true,
            Some((v, _)) if v == total => false,
            Some((_, t)) => {
                !running || now_ns < t || now_ns.saturating_sub(t) >= RateSampler::INTERVAL_NS
            }
        };
        if due {
            self.shown = Some((total, now_ns));
            Some(total)
        } else {
            None
        }
    }
}

/// Counts the bytes a logger appends to its logfiles (`amount-log_bytes`) from the logger's
/// per-logfile statistics, sampled once per round: the logfile number and the bytes appended
/// to it so far. The first sample of a logger is the base (what it found on disk was counted
/// before, or is not this logger's); a later sample in the same logfile adds its growth; a
/// sample in a newer logfile adds the rest of the old one (up to its `final_end`, as the
/// logger last made it durable) and what the new one holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendCounter {
    /// `(logfile number, bytes appended)` of the last sample.
    last: Option<(u32, u64)>,
}

impl AppendCounter {
    /// A counter without a sample (a logger that just started).
    pub const fn new() -> Self {
        AppendCounter { last: None }
    }

    /// The logfile of the last sample.
    pub fn logfile(&self) -> Option<u32> {
        self.last.map(|(nr, _)| nr)
    }

    /// Feeds one sample; `final_end` is the end of the previous logfile when the logger has
    /// moved on (`None`: unknown, its last sample counts as its end). Returns the bytes
    /// appended since the last sample.
    pub fn sample(&mut self, nr: u32, appended: u64, final_end: Option<u64>) -> u64 {
        let added = match self.last {
            None => 0,
            Some((n, a)) if n == nr => appended.saturating_sub(a),
            Some((n, a)) if n < nr => final_end
                .unwrap_or(a)
                .saturating_sub(a)
                .saturating_add(appended),
            // An older logfile: another logger's numbering; start anew.
            Some(_) => 0,
        };
        self.last = Some((nr, appended));
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn append_counter_adds_growth_across_logfiles() {
        let mut c = AppendCounter::new();
        assert_eq!(c.sample(3, 1000, None), 0, "the first sample is the base");
        assert_eq!(c.sample(3, 1500, None), 500);
        assert_eq!(c.sample(3, 1500, None), 0);
        // Rotated: the rest of logfile 3 (to its end 1800) and 200 bytes of logfile 4.
        assert_eq!(c.sample(4, 200, Some(1800)), 300 + 200);
        // Rotated with the old end unknown: the last sample counts as its end.
        assert_eq!(c.sample(5, 100, None), 100);
        // Two rotations between samples lose the middle logfile: counted as its end unknown.
        assert_eq!(c.sample(7, 50, Some(100)), 50);
        // A logfile number that goes back starts anew.
        assert_eq!(c.sample(1, 4096, None), 0);
        assert_eq!(c.sample(1, 8192, None), 4096);
    }

    #[test]
    fn measures_over_ten_seconds_and_publishes_changes_only() {
        let mut r = RateSampler::new();
        assert_eq!(
            r.sample(Some((0, 0)), 0),
            None,
            "no rate before one interval"
        );
        assert_eq!(
            r.sample(Some((0, 5 << 20)), 5 * S),
            None,
            "interval not over"
        );
        // 10 MiB in 10 s: 1024 KiB/s.
        assert_eq!(r.sample(Some((0, 10 << 20)), 10 * S), Some(1024));
        // The same rate again: nothing new to publish.
        assert_eq!(r.sample(Some((0, 20 << 20)), 20 * S), None);
        // Slower.
        assert_eq!(r.sample(Some((0, 25 << 20)), 30 * S), Some(512));
        // Stopped: 0 at once, then nothing more.
        assert_eq!(r.sample(None, 31 * S), Some(0));
        assert_eq!(r.sample(None, 32 * S), None);
        // Restarted: no rate until an interval is measured.
        assert_eq!(r.sample(Some((0, 0)), 40 * S), None);
        assert_eq!(r.sample(Some((0, 1 << 20)), 50 * S), Some(102));
    }

    #[test]
    fn another_logfile_or_a_step_back_starts_a_new_measurement() {
        let mut r = RateSampler::new();
        r.sample(Some((1, 0)), 0);
        assert_eq!(r.sample(Some((1, 10 << 20)), 10 * S), Some(1024));
        // Logfile 2 at position 4096: not 10 MiB - 4096 backwards, a new start.
        assert_eq!(r.sample(Some((2, 4096)), 15 * S), None);
        assert_eq!(r.sample(Some((2, 4096 + (20 << 20))), 25 * S), Some(2048));
        assert_eq!(r.sample(Some((2, 0)), 40 * S), None, "went back");
        assert_eq!(r.sample(Some((2, 0)), 50 * S), Some(0), "no progress");
        // A clock that goes back (it does not, monotonic) only restarts.
        assert_eq!(r.sample(Some((2, 1 << 30)), 1), None);
    }

    #[test]
    fn a_total_is_written_first_then_at_most_every_ten_seconds_and_when_stopped() {
        let mut t = TotalPublisher::new();
        assert_eq!(t.sample(0, false, 0), Some(0), "the first value at once");
        assert_eq!(t.sample(0, true, S), None, "unchanged");
        assert_eq!(t.sample(4096, true, 2 * S), None, "too soon");
        assert_eq!(
            t.sample(8192, true, 10 * S),
            Some(8192),
            "10 s after the last write"
        );
        assert_eq!(t.sample(9000, true, 19 * S), None, "too soon again");
        assert_eq!(t.sample(9000, true, 20 * S), Some(9000), "10 s over");
        assert_eq!(
            t.sample(9500, false, 21 * S),
            Some(9500),
            "stopped: the final value at once"
        );
        assert_eq!(t.sample(9500, false, 30 * S), None, "nothing new");
    }
}
