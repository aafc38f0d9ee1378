// SPDX-License-Identifier: GPL-2.0
//! Names in the /mars tree: host names, the alive links every host's kernel writes, and which
//! entries the tree scanner skips. The kernel and marsadm must agree on all of them.

/// Longest host name: the kernel's `__NEW_UTS_LEN`.
pub const MAX_HOST_NAME_LEN: usize = 64;

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

/// Whether `name` may be a MARS host name: 1 to 64 ASCII letters, digits, `_`, `-` or `.`,
/// starting with a letter, digit or `_` (so never `.`, `..` or an option-like `-x`).
pub fn is_valid_host_name(name: &[u8]) -> bool {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    match name.first() {
        Some(first) => {
            name.len() <= MAX_HOST_NAME_LEN
                && (first.is_ascii_alphanumeric() || *first == b'_')
                && name.iter().all(allowed)
        }
        None => false,
    }
}

/// Prefixes of entries that stay local to a host and are never scanned (as in the original):
/// hidden names (temporary `.tmp-*` links, `.deleted-*` markers) and the local-only classes.
const SKIPPED_PREFIXES: [&[u8]; 5] = [b".", b"backup", b"cache", b"local", b"probe"];

/// Whether the scanner of /mars skips the entry `name` and everything below it.
pub fn is_skipped_by_scan(name: &[u8]) -> bool {
    SKIPPED_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for good in ["alpha", "bravo-2", "node_1", "_x", "9lives", "a.example.com"] {
            assert!(is_valid_host_name(good.as_bytes()), "{good:?} rejected");
        }
        let long = [b'a'; MAX_HOST_NAME_LEN + 1];
        for bad in [&b""[..], b".", b"..", b"-x", b".hidden", b"a/b", b"a b", b"a\0", b"\xc3\xa4", &long] {
            assert!(!is_valid_host_name(bad), "{bad:?} accepted");
        }
        assert!(is_valid_host_name(&long[..MAX_HOST_NAME_LEN]));
    }

    #[test]
    fn scan_skips_hidden_and_local_names() {
        for skipped in [".tmp-time", ".deleted-x", "backup-1", "cache-alpha", "local-alpha", "probe-bravo"] {
            assert!(is_skipped_by_scan(skipped.as_bytes()), "{skipped:?} scanned");
        }
        for scanned in ["actual-alpha", "resource-r0", "ips", "uuid", "todo-global", "userspace"] {
            assert!(!is_skipped_by_scan(scanned.as_bytes()), "{scanned:?} skipped");
        }
    }
}
