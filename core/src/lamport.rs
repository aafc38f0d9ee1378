// SPDX-License-Identifier: GPL-2.0
//! Lamport clock with the original MARS semantics.
//!
//! A stamp is a wall-clock-like `sec.nsec` value. The clock's reading is the maximum of the
//! real time and every stamp seen so far, so causally later events always carry larger stamps
//! even across hosts whose clocks disagree. Stamps far in the future (bad CMOS clock, a corrupt
//! filesystem, a hostile peer) are not believed: [`LamportClock::protect`] clamps them.
//!
//! This module holds only the state machine; the kernel wraps it in a lock and feeds it the
//! real time, the simulator feeds it virtual time.

use core::cmp::Ordering;
use core::fmt;

/// Nanoseconds per second.
pub const NSEC_PER_SEC: u32 = 1_000_000_000;
// A constant divisor: no division-by-zero path for the compiler or the linter to see.
const NSEC_PER_SEC_U64: u64 = NSEC_PER_SEC as u64;

/// Default for `max_lamport_future`: stamps more than 30 days ahead of real time are bogus.
pub const DEFAULT_MAX_FUTURE_SEC: i64 = 30 * 24 * 3600;

/// A point in Lamport time, `sec.nsec`.
///
/// # Invariants
/// `nsec < NSEC_PER_SEC` for every value built through [`Stamp::new`] or [`Stamp::parse`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds within the second.
    pub nsec: u32,
}

impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sec.cmp(&other.sec).then(self.nsec.cmp(&other.nsec))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a text is not a stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampError {
    /// Not of the form `sec` or `sec.nsec` with decimal digits.
    Syntax,
    /// A number does not fit.
    Range,
}

impl Stamp {
    /// The zero stamp (the epoch).
    pub const ZERO: Stamp = Stamp { sec: 0, nsec: 0 };
    /// The largest representable stamp.
    pub const MAX: Stamp = Stamp {
        sec: i64::MAX,
        nsec: NSEC_PER_SEC - 1,
    };

    /// Builds a stamp, normalising `nsec` overflow into seconds (saturating at [`Stamp::MAX`]).
    pub const fn new(sec: i64, nsec: u32) -> Stamp {
        let carry = (nsec / NSEC_PER_SEC) as i64;
        match sec.checked_add(carry) {
            Some(sec) => Stamp {
                sec,
                nsec: nsec % NSEC_PER_SEC,
            },
            None => Stamp::MAX,
        }
    }

    /// Nanoseconds since the epoch, if representable in an `i64` (until the year 2262).
    pub fn to_nanos(self) -> Option<i64> {
        self.sec
            .checked_mul(i64::from(NSEC_PER_SEC))?
            .checked_add(i64::from(self.nsec))
    }

    /// The stamp of `nanos` nanoseconds since the epoch.
    pub fn from_nanos(nanos: i64) -> Stamp {
        let per = i64::from(NSEC_PER_SEC);
        // rem_euclid is in 0..per, so it fits u32.
        Stamp {
            sec: nanos.div_euclid(per),
            nsec: nanos.rem_euclid(per) as u32,
        }
    }

    /// The stamp `nsec` nanoseconds later, saturating at [`Stamp::MAX`].
    pub fn add_nsec(self, nsec: u64) -> Stamp {
        let total = u64::from(self.nsec).saturating_add(nsec);
        let carry = total / NSEC_PER_SEC_U64;
        // total % NSEC_PER_SEC < NSEC_PER_SEC fits u32.
        let rest = (total % NSEC_PER_SEC_U64) as u32;
        let carry = i64::try_from(carry).unwrap_or(i64::MAX);
        match self.sec.checked_add(carry) {
            Some(sec) => Stamp { sec, nsec: rest },
            None => Stamp::MAX,
        }
    }

    /// The stamp `sec` seconds later, saturating.
    pub fn add_sec(self, sec: i64) -> Stamp {
        match self.sec.checked_add(sec) {
            Some(s) => Stamp {
                sec: s,
                nsec: self.nsec,
            },
            None if sec > 0 => Stamp::MAX,
            None => Stamp {
                sec: i64::MIN,
                nsec: 0,
            },
        }
    }

    /// Parses `sec` or `sec.nsec` (nsec with 1 to 9 digits, read as a decimal fraction, as
    /// `touch -d @sec.frac` does).
    pub fn parse(text: &str) -> Result<Stamp, StampError> {
        let (sec_text, frac_text) = match text.split_once('.') {
            Some((s, f)) => (s, Some(f)),
            None => (text, None),
        };
        let sec = parse_decimal_i64(sec_text)?;
        let nsec = match frac_text {
            None => 0,
            Some(f) => {
                if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(StampError::Syntax);
                }
                let mut value: u32 = 0;
                for b in f.bytes() {
                    // At most nine digits: no overflow is possible; wrapping ops keep panic paths out.
                    value = value
                        .wrapping_mul(10)
                        .wrapping_add(u32::from(b.wrapping_sub(b'0')));
                }
                for _ in f.len()..9 {
                    value = value.wrapping_mul(10);
                }
                value
            }
        };
        Ok(Stamp { sec, nsec })
    }
}

fn parse_decimal_i64(text: &str) -> Result<i64, StampError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StampError::Syntax);
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b.wrapping_sub(b'0'))))
            .ok_or(StampError::Range)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

impl fmt::Display for Stamp {
    /// `sec.nsec` with nine nanosecond digits, the form used in /mars and /proc/sys/mars.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.sec, self.nsec)
    }
}

/// The clock state: the largest stamp seen or issued so far.
#[derive(Clone, Copy, Debug)]
pub struct LamportClock {
    stamp: Stamp,
    max_future_sec: i64,
}

impl Default for LamportClock {
    fn default() -> Self {
        LamportClock::new()
    }
}

impl LamportClock {
    /// A clock that has seen nothing yet.
    pub const fn new() -> LamportClock {
        LamportClock {
            stamp: Stamp::ZERO,
            max_future_sec: DEFAULT_MAX_FUTURE_SEC,
        }
    }

    /// A clock whose largest stamp seen so far is `stamp` (state kept elsewhere, e.g. in an
    /// atomic in the kernel), with the given future limit.
    pub fn resume(stamp: Stamp, max_future_sec: i64) -> LamportClock {
        let mut clock = LamportClock {
            stamp,
            max_future_sec: DEFAULT_MAX_FUTURE_SEC,
        };
        clock.set_max_future_sec(max_future_sec);
        clock
    }

    /// Reads the clock: `max(real, stamp)`. Does not advance.
    pub fn read(&self, real: Stamp) -> Stamp {
        core::cmp::max(real, self.stamp)
    }

    /// The largest stamp seen so far, independent of real time.
    pub fn last(&self) -> Stamp {
        self.stamp
    }

    /// Strict advance (`set_lamport`): the stamp becomes `t` if `t` is newer, else it moves
    /// on by one nanosecond, so two events never share a stamp.
    pub fn advance_strict(&mut self, t: Stamp) {
        self.stamp = if t > self.stamp {
            t
        } else {
            self.stamp.add_nsec(1)
        };
    }

    /// Non-strict advance (`set_lamport_nonstrict`): only ever moves forward. Used for every
    /// stamp received from a peer.
    pub fn advance(&mut self, t: Stamp) {
        if t > self.stamp {
            self.stamp = t;
        }
    }

    /// Issues a fresh stamp for a local event: strictly greater than every stamp issued or seen
    /// before, and not behind real time.
    pub fn tick(&mut self, real: Stamp) -> Stamp {
        let next = core::cmp::max(real, self.stamp.add_nsec(1));
        self.stamp = next;
        next
    }

    /// The configured limit for stamps in the future, in seconds.
    pub fn max_future_sec(&self) -> i64 {
        self.max_future_sec
    }

    /// Sets the limit for stamps in the future (`max_lamport_future`), at least one second.
    pub fn set_max_future_sec(&mut self, sec: i64) {
        self.max_future_sec = core::cmp::max(sec, 1);
    }

    /// Whether `t` lies further in the future than the limit allows.
    pub fn is_bogus(&self, t: Stamp, real: Stamp) -> bool {
        t > self.read(real).add_sec(self.max_future_sec)
    }

    /// `protect_lamport_time`: a stamp too far in the future is replaced by the current clock
    /// reading plus 2 ns (so it still sorts after everything seen), otherwise returned as is.
    pub fn protect(&self, t: Stamp, real: Stamp) -> Stamp {
        if self.is_bogus(t, real) {
            self.read(real).add_nsec(2)
        } else {
            t
        }
    }

    /// Writes the text of `/proc/sys/mars/lamport_clock` as the original prints it (before the
    /// trailing newline the sysctl layer adds): real time, clock reading and the call count.
    pub fn write_proc_text(
        &self,
        real: Stamp,
        calls: u32,
        out: &mut impl fmt::Write,
    ) -> fmt::Result {
        write!(
            out,
            "CURRENT_TIME={}\nlamport_now={}\nCALLS={}",
            real,
            self.read(real),
            calls
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn format_and_parse_round_trip() {
        let s = Stamp::new(1_700_000_000, 42);
        let text = std::format!("{}", s);
        assert_eq!(text, "1700000000.000000042");
        assert_eq!(Stamp::parse(&text), Ok(s));
        assert_eq!(Stamp::parse("12"), Ok(Stamp::new(12, 0)));
        assert_eq!(Stamp::parse("12.5"), Ok(Stamp::new(12, 500_000_000)));
        assert_eq!(Stamp::parse("-3.000000001"), Ok(Stamp { sec: -3, nsec: 1 }));
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.1234567890",
            "x",
            "1.x",
            "1 .2",
            "99999999999999999999",
            "--1",
        ] {
            assert!(Stamp::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ordering_is_sec_then_nsec() {
        assert!(Stamp::new(1, 999_999_999) < Stamp::new(2, 0));
        assert!(Stamp::new(2, 1) > Stamp::new(2, 0));
        assert_eq!(Stamp::new(1, 1_500_000_000), Stamp::new(2, 500_000_000));
    }

    #[test]
    fn read_is_max_of_real_and_seen() {
        let mut c = LamportClock::new();
        let real = Stamp::new(100, 0);
        assert_eq!(c.read(real), real);
        c.advance(Stamp::new(200, 0));
        assert_eq!(c.read(real), Stamp::new(200, 0));
        assert_eq!(c.read(Stamp::new(300, 0)), Stamp::new(300, 0));
    }

    #[test]
    fn strict_advance_never_repeats() {
        let mut c = LamportClock::new();
        c.advance_strict(Stamp::new(5, 0));
        c.advance_strict(Stamp::new(5, 0));
        assert_eq!(c.last(), Stamp::new(5, 1));
        c.advance_strict(Stamp::new(4, 0));
        assert_eq!(c.last(), Stamp::new(5, 2));
    }

    #[test]
    fn nonstrict_advance_only_moves_forward() {
        let mut c = LamportClock::new();
        c.advance(Stamp::new(5, 0));
        c.advance(Stamp::new(5, 0));
        c.advance(Stamp::new(3, 0));
        assert_eq!(c.last(), Stamp::new(5, 0));
    }

    #[test]
    fn tick_is_strictly_monotonic_even_when_real_time_stands_still() {
        let mut c = LamportClock::new();
        let real = Stamp::new(10, 0);
        let a = c.tick(real);
        let b = c.tick(real);
        let d = c.tick(Stamp::new(9, 0));
        assert!(a < b && b < d);
        assert_eq!(a, real);
    }

    #[test]
    fn far_future_stamps_are_clamped() {
        let c = LamportClock::new();
        let real = Stamp::new(1000, 0);
        let ok = real.add_sec(DEFAULT_MAX_FUTURE_SEC);
        assert_eq!(c.protect(ok, real), ok);
        let bogus = real.add_sec(DEFAULT_MAX_FUTURE_SEC + 1);
        assert!(c.is_bogus(bogus, real));
        assert_eq!(c.protect(bogus, real), Stamp::new(1000, 2));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(Stamp::MAX.add_nsec(5), Stamp::MAX);
        assert_eq!(Stamp::MAX.add_sec(5), Stamp::MAX);
        let mut c = LamportClock::new();
        c.advance(Stamp::MAX);
        assert_eq!(c.tick(Stamp::ZERO), Stamp::MAX);
    }

    #[test]
    fn nanos_round_trip() {
        for s in [
            Stamp::new(0, 0),
            Stamp::new(1_700_000_000, 123),
            Stamp { sec: -1, nsec: 5 },
        ] {
            assert_eq!(Stamp::from_nanos(s.to_nanos().unwrap()), s);
        }
        assert_eq!(Stamp::MAX.to_nanos(), None);
    }

    #[test]
    fn proc_text_matches_original_layout() {
        let mut c = LamportClock::new();
        c.advance(Stamp::new(20, 5));
        let mut s = String::new();
        c.write_proc_text(Stamp::new(10, 0), 7, &mut s).unwrap();
        assert_eq!(
            s,
            "CURRENT_TIME=10.000000000\nlamport_now=20.000000005\nCALLS=7"
        );
    }
}
