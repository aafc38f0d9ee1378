// SPDX-License-Identifier: GPL-2.0
//! Small text helpers without allocation: a fixed-capacity buffer that implements
//! `core::fmt::Write`, and the strict integer parser used for `/proc/sys/mars` knobs.

use core::fmt;

/// A fixed-capacity text buffer. Writing past the capacity fails with `fmt::Error` and keeps
/// what fitted, so callers can detect truncation instead of silently losing text.
pub struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FixedBuf {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The text written so far (always valid UTF-8: only `&str` pieces are ever appended whole).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the contents.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Why a knob value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntParseError {
    /// Empty, or something other than an optionally signed decimal number with surrounding
    /// white space.
    Syntax,
    /// The number does not fit in an `i64`.
    Overflow,
}

/// Parses a knob value the way an operator writes it (`echo 5 > knob`): optional white space,
/// an optional sign, decimal digits, optional white space (the newline of `echo`). Anything
/// else, including a second number, is a syntax error.
pub fn parse_int(input: &[u8]) -> Result<i64, IntParseError> {
    let text = input.trim_ascii();
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(IntParseError::Syntax);
    }
    let mut value: i64 = 0;
    for &d in digits {
        let digit = i64::from(d.wrapping_sub(b'0'));
        value = value.checked_mul(10).ok_or(IntParseError::Overflow)?;
        value = if negative {
            value.checked_sub(digit)
        } else {
            value.checked_add(digit)
        }
        .ok_or(IntParseError::Overflow)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn fixed_buf_keeps_what_fits_and_reports_overflow() {
        let mut b = FixedBuf::<8>::new();
        assert!(write!(b, "{}", 1234).is_ok());
        assert_eq!(b.as_str(), "1234");
        assert!(write!(b, "56789").is_err());
        assert_eq!(b.as_str(), "1234");
        assert!(b.write_str("5678").is_ok());
        assert_eq!(b.as_bytes(), b"12345678");
    }

    #[test]
    fn parse_int_accepts_operator_forms() {
        assert_eq!(parse_int(b"5\n"), Ok(5));
        assert_eq!(parse_int(b"  -12 "), Ok(-12));
        assert_eq!(parse_int(b"+7"), Ok(7));
        assert_eq!(parse_int(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807\n"), Ok(i64::MAX));
    }

    #[test]
    fn parse_int_rejects_everything_else() {
        for bad in [
            &b""[..],
            b"\n",
            b"-",
            b"+",
            b"5 6",
            b"0x10",
            b"1e3",
            b"abc",
            b"5abc",
            b"--5",
            b"5\0",
        ] {
            assert_eq!(parse_int(bad), Err(IntParseError::Syntax), "{:?}", bad);
        }
        assert_eq!(
            parse_int(b"9223372036854775808"),
            Err(IntParseError::Overflow)
        );
    }
}
