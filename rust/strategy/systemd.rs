// SPDX-License-Identifier: GPL-2.0
//! Wakes systemd on every host: after each scan the strategy touches
//! `/mars/resource-<res>/systemd-trigger` and `/mars/userspace/systemd-trigger` (creating them
//! if missing) for every resource whose `primary` or `systemd-*` links changed since the last
//! scan, whoever changed them: marsadm on this host, or a peer (`net::merge` asks for a round
//! as soon as such a link arrives). A systemd path unit watching the file then starts the
//! service that moves the unit stack (`Documentation/systemd.rst`). What wakes and when is
//! decided by `mars_core::systemd_trigger`; this file keeps the last scan's fingerprints and
//! does the touching.

use crate::kapi::vfs::{Link, PathBuf};
use crate::mars_core::systemd_trigger::{must_touch, woken_resource, Fingerprint};
use crate::tree::{MarsTree, TreeKey};
use kernel::error::code::EEXIST;
use kernel::prelude::*;
use kernel::str::BStr;

/// Permissions of a trigger file the kernel creates (as `touch` makes it under umask 022).
const TRIGGER_MODE: u16 = 0o644;
/// The trigger file of every resource at once.
const GLOBAL_TRIGGER: &[u8] = b"userspace/systemd-trigger";
/// Most resources one scan folds (a runaway tree costs memory only up to this); the merge lets
/// peers make at most `net::merge::MAX_RESOURCES` of them.
const MAX_RESOURCES: usize = 1024;

/// One resource's waking links in one scan.
struct Seen {
    /// The resource name.
    res: KVec<u8>,
    /// Its waking links, folded.
    fingerprint: Fingerprint,
}

/// The waking links of every resource of one scan.
#[derive(Default)]
pub(super) struct Fingerprints {
    resources: KVec<Seen>,
    /// Whether something was left out (memory, [`MAX_RESOURCES`]): such a scan is not
    /// compared, since a resource left out would look changed in the next one.
    incomplete: bool,
}

impl Fingerprints {
    /// Folds one link the scan read (`path` absolute) into its resource's fingerprint, if it
    /// is a waking key.
    pub(super) fn note(&mut self, path: &PathBuf, link: &Link) {
        let Some(rel) = path.rel().ok().and_then(|r| core::str::from_utf8(r).ok()) else {
            return;
        };
        let Some(res) = woken_resource(rel) else {
            return;
        };
        let name = rel.rsplit_once('/').map_or(rel, |(_, name)| name);
        let index = match self
            .resources
            .iter()
            .position(|seen| seen.res.as_slice() == res.as_bytes())
        {
            Some(index) => index,
            None => match self.add(res.as_bytes()) {
                Some(index) => index,
                None => {
                    self.incomplete = true;
                    return;
                }
            },
        };
        if let Some(seen) = self.resources.get_mut(index) {
            seen.fingerprint
                .add(name.as_bytes(), link.value.as_slice(), link.mtime);
        }
    }

    /// Adds an empty entry for `res`; its index, or `None` when full or out of memory.
    fn add(&mut self, res: &[u8]) -> Option<usize> {
        if self.resources.len() >= MAX_RESOURCES {
            return None;
        }
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL).ok()?;
        self.resources
            .push(
                Seen {
                    res: name,
                    fingerprint: Fingerprint::default(),
                },
                GFP_KERNEL,
            )
            .ok()?;
        Some(self.resources.len().saturating_sub(1))
    }

    fn get(&self, res: &[u8]) -> Option<Fingerprint> {
        self.resources
            .iter()
            .find(|seen| seen.res.as_slice() == res)
            .map(|seen| seen.fingerprint)
    }
}

/// What the strategy keeps between rounds: the fingerprints of the last complete scan.
#[derive(Default)]
pub(super) struct Triggers {
    last: Fingerprints,
}

impl Triggers {
    /// Compares the fingerprints of a scan with the last ones and touches the trigger files of
    /// every resource whose waking links changed, then the global one. A scan that was cut
    /// short (`complete` false, or something left out) changes nothing.
    pub(super) fn after_scan(&mut self, current: Fingerprints, complete: bool) {
        if !complete || current.incomplete {
            return;
        }
        let Ok(mars) = MarsTree::open() else {
            return;
        };
        let mut touched = false;
        for seen in current.resources.iter() {
            if !must_touch(self.last.get(&seen.res), seen.fingerprint) {
                continue;
            }
            touched = true;
            let mut key = KVec::new();
            let built = [
                &b"resource-"[..],
                seen.res.as_slice(),
                &b"/systemd-trigger"[..],
            ]
            .iter()
            .try_for_each(|part| key.extend_from_slice(part, GFP_KERNEL));
            if built.is_ok() {
                touch(&mars, &key);
            }
        }
        if touched {
            touch(&mars, GLOBAL_TRIGGER);
        }
        self.last = current;
    }
}

/// Touches one trigger file; a failure is logged (it happens only when links changed, so
/// at most once per change).
fn touch(mars: &MarsTree, key: &[u8]) {
    match mars.touch(key, TRIGGER_MODE) {
        Ok(()) => pr_debug!("touched /mars/{}\n", BStr::from_bytes(key)),
        // No regular file there: the tombstone `delete-resource` leaves (the resource is gone).
        Err(e) if e == EEXIST => pr_debug!(
            "not touching /mars/{}: no regular file\n",
            BStr::from_bytes(key)
        ),
        Err(e) => pr_notice!(
            "cannot touch /mars/{} for systemd: {:?}\n",
            BStr::from_bytes(key),
            e
        ),
    }
}
