// SPDX-License-Identifier: GPL-2.0
//! Host and resource names: the identifier rules of the original `marsadm` (`check_id`).
//!
//! An identifier is `[A-Za-z0-9_][-A-Za-z0-9_]*`, at most 63 characters (the RFC 1123 label
//! limit). A few words are reserved because `marsadm` gives them a meaning of its own
//! (`all` selects every resource, `(none)` is the value of an empty `primary` link, ...).
//! Reserved words are refused as host or resource names; [`check_id`] alone checks only the
//! syntax, for callers that must accept a reserved word in some place (`all` as a selector).

use core::fmt;

/// The longest identifier, in bytes (an RFC 1123 label).
pub const MAX_ID_LEN: usize = 63;

/// Words that may not name a host or a resource. `marsadm` also refuses them wrapped in
/// parentheses, as in the value `(none)`.
pub const RESERVED_WORDS: [&str; 9] = [
    "none",
    "all",
    "any",
    "full",
    "empty",
    "undefined",
    "remote",
    "local",
    "localhost",
];

/// Why a text is not a valid host or resource name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_ID_LEN`] bytes.
    TooLong,
    /// The first character is `-` (which would read as a command line option).
    LeadingDash,
    /// A character other than ASCII letters, digits, `_` and `-`.
    BadChar,
    /// One of the [`RESERVED_WORDS`], bare or in parentheses.
    Reserved,
}

impl NameError {
    /// A one-line explanation for operators.
    pub const fn message(self) -> &'static str {
        match self {
            NameError::Empty => "identifier is empty",
            NameError::TooLong => {
                "identifier is too long (only 63 chars supported according to RFC 1123)"
            }
            NameError::LeadingDash => "identifier must not start with '-'",
            NameError::BadChar => "identifier has disallowed characters (allowed: A-Z a-z 0-9 _ -)",
            NameError::Reserved => "identifier is a reserved special name",
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Checks the identifier syntax only (`check_id` without the reserved-word test).
pub fn check_id(text: &str) -> Result<(), NameError> {
    let bytes = text.as_bytes();
    let first = match bytes.first() {
        None => return Err(NameError::Empty),
        Some(b) => *b,
    };
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NameError::BadChar);
    }
    if first == b'-' {
        return Err(NameError::LeadingDash);
    }
    if bytes.len() > MAX_ID_LEN {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// Whether `text` is a reserved word, bare or with the optional parentheses `marsadm`
/// tolerates (`none`, `(none)`, `(all`, ...). Case matters, as in the original.
pub fn is_reserved(text: &str) -> bool {
    let inner = text.strip_prefix('(').unwrap_or(text);
    let inner = inner.strip_suffix(')').unwrap_or(inner);
    RESERVED_WORDS.contains(&inner)
}

/// Checks syntax and refuses reserved words.
pub fn check_name(text: &str) -> Result<(), NameError> {
    if is_reserved(text) {
        return Err(NameError::Reserved);
    }
    check_id(text)
}

/// A validated host name (the kernel's `my_id()`, the `<host>` part of keys).
///
/// # Invariants
/// The wrapped text passes [`check_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName<'a>(&'a str);

impl<'a> HostName<'a> {
    /// Validates `text` as a host name.
    pub fn parse(text: &'a str) -> Result<HostName<'a>, NameError> {
        check_name(text)?;
        // INVARIANT: checked just above.
        Ok(HostName(text))
    }

    /// The name as text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Display for HostName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A validated resource name (the `<res>` of `resource-<res>`).
///
/// # Invariants
/// The wrapped text passes [`check_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceName<'a>(&'a str);

impl<'a> ResourceName<'a> {
    /// Validates `text` as a resource name.
    pub fn parse(text: &'a str) -> Result<ResourceName<'a>, NameError> {
        check_name(text)?;
        // INVARIANT: checked just above.
        Ok(ResourceName(text))
    }

    /// The name as text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Display for ResourceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The root of the tree.
pub const MARS_ROOT: &str = "/mars";
/// Prefix of the directory `actual-<host>` holding the alive links written by `<host>`'s kernel.
pub const ACTUAL_DIR_PREFIX: &str = "actual-";
/// Alive link: the Lamport time of the host's last strategy round (its heartbeat).
pub const ALIVE_TIME: &str = "time";
/// Alive link: `1` while the module runs, `0` after it stopped.
pub const ALIVE_ALIVE: &str = "alive";
/// Alive link: the symlink tree version the host speaks.
pub const ALIVE_TREE: &str = "tree";

/// Whether raw bytes (e.g. the kernel's node name) are a usable host name: UTF-8 and accepted
/// by [`check_name`].
pub fn is_valid_host_name(name: &[u8]) -> bool {
    core::str::from_utf8(name).is_ok_and(|s| check_name(s).is_ok())
}

/// Prefixes of entries that stay local to a host and are never scanned (as in the original):
/// hidden names (temporary `.tmp-*` links, `.deleted-*` markers) and the local-only classes.
const SKIPPED_PREFIXES: [&[u8]; 5] = [b".", b"backup", b"cache", b"local", b"probe"];

/// Whether the local scanner of /mars skips the entry `name` and everything below it.
pub fn is_skipped_by_scan(name: &[u8]) -> bool {
    SKIPPED_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_check_id_accepts() {
        for ok in [
            "a",
            "A",
            "0",
            "_",
            "istore-test-bap1",
            "host_1",
            "9lives",
            "a-",
            "x--y",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        let longest = "a".repeat(63);
        assert_eq!(
            HostName::parse(&longest).map(|h| h.as_str()),
            Ok(longest.as_str())
        );
    }

    #[test]
    fn rejects_with_the_right_reason() {
        assert_eq!(check_id(""), Err(NameError::Empty));
        assert_eq!(check_id(&"a".repeat(64)), Err(NameError::TooLong));
        assert_eq!(check_id("-a"), Err(NameError::LeadingDash));
        for bad in [
            "a.b", "a b", "a/b", "a,b", "a:b", "(none)", "ä", "host\n", "a\0",
        ] {
            assert_eq!(check_id(bad), Err(NameError::BadChar), "{bad:?}");
        }
    }

    #[test]
    fn reserved_words_are_refused_as_names_but_pass_the_syntax_check() {
        for word in RESERVED_WORDS {
            assert_eq!(check_id(word), Ok(()));
            assert_eq!(check_name(word), Err(NameError::Reserved));
            assert_eq!(ResourceName::parse(word), Err(NameError::Reserved));
        }
        assert!(is_reserved("(none)"));
        assert_eq!(check_name("(none)"), Err(NameError::Reserved));
        assert!(is_reserved("(any"));
        assert!(!is_reserved("None"));
        assert!(!is_reserved("nonesuch"));
        assert!(!is_reserved("allx"));
    }

    #[test]
    fn every_error_has_a_message() {
        for e in [
            NameError::Empty,
            NameError::TooLong,
            NameError::LeadingDash,
            NameError::BadChar,
            NameError::Reserved,
        ] {
            assert!(!e.message().is_empty());
            assert_eq!(std::format!("{e}"), e.message());
        }
    }

    #[test]
    fn raw_host_names_follow_check_name() {
        for good in ["alpha", "bravo-2", "node_1", "_x", "9lives"] {
            assert!(is_valid_host_name(good.as_bytes()), "{good:?} rejected");
        }
        for bad in [
            &b""[..],
            b"-x",
            b"a/b",
            b"a b",
            b"localhost",
            b"\xc3\xa4",
            b"\xff",
        ] {
            assert!(!is_valid_host_name(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn scan_skips_hidden_and_local_names() {
        for skipped in [
            ".tmp-time",
            ".deleted-x",
            "backup-1",
            "cache-alpha",
            "local-alpha",
            "probe-bravo",
        ] {
            assert!(
                is_skipped_by_scan(skipped.as_bytes()),
                "{skipped:?} scanned"
            );
        }
        for scanned in ["resource-r0", "actual-alpha", "ips", "uuid"] {
            assert!(
                !is_skipped_by_scan(scanned.as_bytes()),
                "{scanned:?} skipped"
            );
        }
    }
}
