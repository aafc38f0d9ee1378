// SPDX-License-Identifier: GPL-2.0
//! When the kernel wakes systemd: which keys of a resource move its unit stack (`primary` and
//! the `systemd-*` links but `systemd-trigger` itself), and whether they changed since the last
//! look. The kernel touches `/mars/resource-<res>/systemd-trigger` and
//! `/mars/userspace/systemd-trigger` when they did, whether the change came from a peer or
//! from marsadm on this host, so that a systemd path unit watching the file wakes up on every
//! host (`Documentation/systemd.rst`). The strategy thread folds every such link of a scan into
//! one [`Fingerprint`] per resource and compares it with the one of its last scan
//! ([`must_touch`]).

use super::lamport::Stamp;
use super::tree::{Key, ResourceKey};

/// Whether a change of the resource key `key` wakes the resource's systemd units: `primary`,
/// `systemd-want`, `systemd-start-unit`, `systemd-stop-unit` and any other `systemd-*` link,
/// but not `systemd-trigger` (the file that is touched).
pub fn wakes_systemd(key: &ResourceKey<'_>) -> bool {
    matches!(
        key,
        ResourceKey::Primary
            | ResourceKey::SystemdWant
            | ResourceKey::SystemdStartUnit
            | ResourceKey::SystemdStopUnit
            | ResourceKey::Systemd(_)
    )
}

/// The resource whose systemd units the key at `path` (relative to `/mars`) wakes, if any.
pub fn woken_resource(path: &str) -> Option<&str> {
    match Key::parse(path).ok()? {
        Key::Resource { res, key } if wakes_systemd(&key) => Some(res.as_str()),
        _ => None,
    }
}

/// Whether `key` is one of the files the kernel touches (`resource-<res>/systemd-trigger`,
/// `userspace/systemd-trigger`): local to each host, never merged from a peer.
pub fn is_trigger_file(key: &Key<'_>) -> bool {
    matches!(
        key,
        Key::Resource {
            key: ResourceKey::SystemdTrigger,
            ..
        } | Key::Userspace {
            name: Some("systemd-trigger")
        }
    )
}

/// FNV-1a (64 bit): offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// See [`FNV_OFFSET`].
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// What a resource's waking links (name, value, stamp) looked like in one scan, independent
/// of the order in which they were listed. Tombstones count: deleting a key is a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many links were folded in.
    links: u32,
    /// The wrapping sum of each link's hash.
    sum: u64,
}

impl Fingerprint {
    /// Folds in one link `name` (its last path component) with its `value` and `stamp`.
    pub fn add(&mut self, name: &[u8], value: &[u8], stamp: Stamp) {
        let mut hash = fnv1a(FNV_OFFSET, name);
        hash = fnv1a(hash, &[0]);
        hash = fnv1a(hash, value);
        hash = fnv1a(hash, &[0]);
        hash = fnv1a(hash, &stamp.sec.to_le_bytes());
        hash = fnv1a(hash, &stamp.nsec.to_le_bytes());
        self.links = self.links.saturating_add(1);
        self.sum = self.sum.wrapping_add(hash);
    }

    /// Whether no link was folded in.
    pub fn is_empty(&self) -> bool {
        self.links == 0
    }
}

/// Whether the trigger files are to be touched for a resource whose waking links now look
/// like `current` and looked like `previous` in the last scan (`None`: not seen since the
/// module loaded, or the resource is new here). A resource seen for the first time with such
/// links wakes its units too: a wake-up too many only makes a path unit check its stack again,
/// one too few leaves a stack where `systemd-want` no longer wants it.
pub fn must_touch(previous: Option<Fingerprint>, current: Fingerprint) -> bool {
    match previous {
        None => !current.is_empty(),
        Some(previous) => previous != current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sec: i64) -> Stamp {
        Stamp { sec, nsec: 7 }
    }

    #[test]
    fn waking_keys() {
        for path in [
            "resource-r0/primary",
            "resource-r0/systemd-want",
            "resource-r0/systemd-start-unit",
            "resource-r0/systemd-stop-unit",
            "resource-r0/systemd-anything-new",
        ] {
            assert_eq!(woken_resource(path), Some("r0"), "{path}");
        }
        for path in [
            "resource-r0/systemd-trigger",
            "resource-r0/size",
            "resource-r0/replay-alpha",
            "resource-r0/data-alpha",
            "resource-r0",
            "userspace/systemd-trigger",
            "userspace/primary",
            "ips/ip-alpha",
            "resource-r0/.tmp-primary",
            "resource-/primary",
            "",
        ] {
            assert_eq!(woken_resource(path), None, "{path}");
        }
    }

    #[test]
    fn trigger_files() {
        for (path, is) in [
            ("resource-r0/systemd-trigger", true),
            ("userspace/systemd-trigger", true),
            ("resource-r0/systemd-want", false),
            ("resource-r0/userspace/systemd-trigger", false),
            ("userspace/systemd-trigger/x", false),
            ("userspace", false),
        ] {
            let key = Key::parse(path);
            assert_eq!(key.is_ok_and(|k| is_trigger_file(&k)), is, "{path}");
        }
    }

    /// The fingerprint of links (name, value, stamp seconds).
    fn fingerprint(links: &[(&str, &str, i64)]) -> Fingerprint {
        let mut f = Fingerprint::default();
        for (name, value, sec) in links {
            f.add(name.as_bytes(), value.as_bytes(), stamp(*sec));
        }
        f
    }

    #[test]
    fn fingerprint_ignores_order_and_sees_every_change() {
        let a = fingerprint(&[("primary", "alpha", 10), ("systemd-want", "alpha", 11)]);
        let b = fingerprint(&[("systemd-want", "alpha", 11), ("primary", "alpha", 10)]);
        assert_eq!(a, b);
        assert!(!must_touch(Some(a), b));

        // A new value, a new stamp with the same value, a tombstone, a new key, a vanished key.
        let changes: [&[(&str, &str, i64)]; 5] = [
            &[("primary", "bravo", 12), ("systemd-want", "alpha", 11)],
            &[("primary", "alpha", 12), ("systemd-want", "alpha", 11)],
            &[("primary", "alpha", 10), ("systemd-want", ".deleted", 13)],
            &[
                ("primary", "alpha", 10),
                ("systemd-want", "alpha", 11),
                ("systemd-start-unit", "x.mount", 14),
            ],
            &[("primary", "alpha", 10)],
        ];
        for links in changes {
            assert!(must_touch(Some(a), fingerprint(links)), "{links:?}");
        }
        // The name and value are kept apart.
        assert_ne!(
            fingerprint(&[("primar", "yalpha", 10)]),
            fingerprint(&[("primary", "alpha", 10)])
        );
    }

    #[test]
    fn first_sight_touches_only_with_links() {
        assert!(!must_touch(None, Fingerprint::default()));
        let a = fingerprint(&[("primary", "alpha", 1)]);
        assert!(must_touch(None, a));
        assert!(must_touch(Some(Fingerprint::default()), a));
        assert!(must_touch(Some(a), Fingerprint::default()));
    }
}
