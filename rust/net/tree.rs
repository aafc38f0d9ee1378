// SPDX-License-Identifier: GPL-2.0
//! The local `/mars` tree as the metadata exchange sees it: who we are (host name, cluster
//! uuid, address), who the other members are (`ips/ip-<host>`), the entries a `GetEnts`
//! request asks for, and the merge of a peer's entry into the local tree under the Lamport
//! rule (`core::merge`), written with the atomic symlink replace keeping the peer's mtime.

use crate::clock;
use crate::kapi::uts;
use crate::kapi::vfs::{self, FileKind, PathBuf};
use crate::knobs;
use crate::mars_core::lamport::Stamp;
use crate::mars_core::merge::{bogus_after, merge, MergeDecision, Stamped};
use crate::mars_core::names::{is_skipped_by_scan, is_valid_host_name, MARS_ROOT};
use crate::mars_core::tree::{is_skipped_name, may_create_remote_dir, strip_mars_root, Key};
use crate::mars_core::tree_value::IpAddress;
use crate::mars_core::wire::{check_link_value, check_path, Dent, DentKind};
use kernel::error::code::{EEXIST, EINVAL, ENOENT};
use kernel::prelude::*;

/// Permissions of directories created on behalf of a peer (as the strategy's).
const DIR_MODE: u16 = 0o700;
/// Most entries one `GetEnts` answer collects.
pub(super) const MAX_ANSWER_ENTRIES: usize = 20_000;

/// An owned byte string.
pub(super) type Bytes = KVec<u8>;

fn bytes(parts: &[&[u8]]) -> Result<Bytes> {
    let mut out = KVec::new();
    for part in parts {
        out.extend_from_slice(part, GFP_KERNEL)?;
    }
    Ok(out)
}

/// `/mars/<rel>`.
pub(super) fn mars_path(rel: &[u8]) -> Result<PathBuf> {
    if rel.is_empty() {
        PathBuf::from_parts(&[MARS_ROOT.as_bytes()])
    } else {
        PathBuf::from_parts(&[MARS_ROOT.as_bytes(), b"/", rel])
    }
}

/// The value of the link `/mars/<rel>`, `None` when missing, not a link, or deleted.
pub(super) fn link_value(rel: &[u8]) -> Option<Bytes> {
    let path = mars_path(rel).ok()?;
    let link = vfs::read_link(path.as_cstr()).ok()?;
    (link.value.as_slice() != b".deleted").then_some(link.value)
}

/// This host's name, if it is valid for MARS.
pub(super) fn own_host() -> Option<Bytes> {
    let node = uts::node_name();
    let name = node.as_bytes();
    if !is_valid_host_name(name) {
        return None;
    }
    bytes(&[name]).ok()
}

/// The address in `ips/ip-<host>`.
pub(super) fn host_ip(host: &[u8]) -> Option<IpAddress> {
    let rel = bytes(&[b"ips/ip-", host]).ok()?;
    let value = link_value(&rel)?;
    IpAddress::parse(core::str::from_utf8(&value).ok()?).ok()
}

/// Whether `host` is a member of resource `res` here: `resource-<res>/device-<host>` or
/// `resource-<res>/data-<host>` exists and is not deleted.
pub(super) fn is_member(res: &[u8], host: &[u8]) -> bool {
    [b"/device-".as_slice(), b"/data-".as_slice()]
        .iter()
        .any(|key| {
            bytes(&[b"resource-", res, key, host])
                .ok()
                .is_some_and(|rel| link_value(&rel).is_some())
        })
}

/// The other members: every `ips/ip-<host>` with a valid host name and address, except
/// `me`.
pub(super) fn other_members(me: &[u8]) -> Result<KVec<(Bytes, IpAddress)>> {
    let mut out = KVec::new();
    let dir = mars_path(b"ips")?;
    let listing = match vfs::read_dir(dir.as_cstr(), 1024) {
        Ok(listing) => listing,
        Err(e) if e == ENOENT => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in listing.entries.iter() {
        let Some(host) = entry.name.strip_prefix(b"ip-") else {
            continue;
        };
        if host == me || !is_valid_host_name(host) {
            continue;
        }
        if let Some(ip) = host_ip(host) {
            out.push((bytes(&[host])?, ip), GFP_KERNEL)?;
        }
    }
    Ok(out)
}

/// An entry answering a `GetEnts`, owned until it is encoded.
pub(super) struct OwnedDent {
    kind: DentKind,
    path: Bytes,
    value: Bytes,
    stamp: Stamp,
}

impl OwnedDent {
    /// The wire form, `None` if the path or value cannot travel (not UTF-8, too long).
    pub(super) fn as_dent(&self) -> Option<Dent<'_>> {
        let path = core::str::from_utf8(&self.path).ok()?;
        let value = core::str::from_utf8(&self.value).ok()?;
        check_path(path).ok()?;
        if self.kind == DentKind::Symlink {
            check_link_value(value).ok()?;
        }
        Some(Dent {
            kind: self.kind,
            path,
            value,
            stamp: self.stamp,
            size: 0,
        })
    }
}

/// Collects the entries at most `depth` levels below `dir` (a canonical `/mars` path) into
/// `out`, skipping what never leaves a host (temporaries, `local-*`, `cache-*`, `probe-*`,
/// `backup*`, hidden names). A missing directory contributes nothing.
pub(super) fn collect(dir: &str, depth: u8, out: &mut KVec<OwnedDent>) -> Result {
    let path = PathBuf::from_parts(&[dir.as_bytes()])?;
    visit(&path, depth, out)
}

fn visit(dir: &PathBuf, depth: u8, out: &mut KVec<OwnedDent>) -> Result {
    if depth == 0 || out.len() >= MAX_ANSWER_ENTRIES {
        return Ok(());
    }
    let listing = match vfs::read_dir(dir.as_cstr(), MAX_ANSWER_ENTRIES) {
        Ok(listing) => listing,
        Err(e) if e == ENOENT || e == kernel::error::code::ENOTDIR => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in listing.entries.iter() {
        if out.len() >= MAX_ANSWER_ENTRIES {
            break;
        }
        if is_skipped_by_scan(&entry.name) {
            continue;
        }
        let Ok(path) = dir.child(&entry.name) else {
            continue;
        };
        let kind = match entry.kind {
            Some(kind) => kind,
            None => match vfs::lstat(path.as_cstr()) {
                Ok(stat) => stat.kind,
                Err(_) => continue,
            },
        };
        match kind {
            FileKind::Symlink => {
                // Vanished or replaced meanwhile: not an error.
                let Ok(link) = vfs::read_link(path.as_cstr()) else {
                    continue;
                };
                let stamp = clock::observe(link.mtime);
                let dent = OwnedDent {
                    kind: DentKind::Symlink,
                    path: bytes(&[path.as_bytes()])?,
                    value: link.value,
                    stamp,
                };
                out.push(dent, GFP_KERNEL)?;
            }
            FileKind::Regular => {
                let Ok(stat) = vfs::lstat(path.as_cstr()) else {
                    continue;
                };
                let dent = OwnedDent {
                    kind: DentKind::File,
                    path: bytes(&[path.as_bytes()])?,
                    value: KVec::new(),
                    stamp: stat.mtime,
                };
                out.push(dent, GFP_KERNEL)?;
            }
            FileKind::Dir => {
                let Ok(stat) = vfs::lstat(path.as_cstr()) else {
                    continue;
                };
                let dent = OwnedDent {
                    kind: DentKind::Dir,
                    path: bytes(&[path.as_bytes()])?,
                    value: KVec::new(),
                    stamp: stat.mtime,
                };
                out.push(dent, GFP_KERNEL)?;
                visit(&path, depth.saturating_sub(1), out)?;
            }
            FileKind::Other => {}
        }
    }
    Ok(())
}

/// What the merge did with one remote entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// The local tree changed.
    Written,
    /// Nothing to do (older, equal, or not ours to take).
    Kept,
    /// The entry is of a kind or place that is never merged.
    Skipped,
}

/// Whether the path below `/mars` may be merged from a peer at all: it parses as a key, is no
/// temporary or marker, and no component is local-only or hidden.
fn mergeable(rel: &str) -> bool {
    if rel.is_empty() || rel.split('/').any(|c| is_skipped_by_scan(c.as_bytes())) {
        return false;
    }
    let last = rel.rsplit('/').next().unwrap_or(rel);
    if is_skipped_name(last) {
        return false;
    }
    matches!(Key::parse(rel), Ok(key) if !key.is_transient())
}

/// Makes the missing parent directories of `/mars/<rel>`: the top-level one only if a peer may
/// cause it (`may_create_remote_dir`), deeper ones always (as the original's
/// `ordered_symlink`).
fn make_parents(rel: &str) -> Result<bool> {
    let mut end = 0usize;
    let mut level = 0u32;
    while let Some(slash) = rel.get(end..).and_then(|r| r.find('/')) {
        let dir_end = end.saturating_add(slash);
        let dir = rel.get(..dir_end).ok_or(EINVAL)?;
        let name = dir.rsplit('/').next().unwrap_or(dir);
        let path = mars_path(dir.as_bytes())?;
        match vfs::lstat(path.as_cstr()) {
            Ok(stat) if stat.kind == FileKind::Dir => {}
            Ok(_) => return Ok(false),
            Err(e) if e == ENOENT => {
                if level == 0 && !may_create_remote_dir(name) {
                    return Ok(false);
                }
                match vfs::mkdir(&path, DIR_MODE) {
                    Ok(()) => {}
                    Err(e) if e == EEXIST => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        end = dir_end.saturating_add(1);
        level = level.saturating_add(1);
    }
    Ok(true)
}

/// Merges one entry of a peer's tree into the local tree. The caller holds the merge lock.
pub(super) fn apply(dent: &Dent<'_>) -> Result<Applied> {
    // Every stamp seen advances the clock (protected against stamps from the future).
    clock::observe(dent.stamp);
    let Some(rel) = strip_mars_root(dent.path) else {
        return Ok(Applied::Skipped);
    };
    if !mergeable(rel) {
        return Ok(Applied::Skipped);
    }
    let path = mars_path(rel.as_bytes())?;
    match dent.kind {
        // Logfiles are fetched over port 7778, not here.
        DentKind::File => Ok(Applied::Skipped),
        DentKind::Dir => {
            match vfs::lstat(path.as_cstr()) {
                Ok(_) => return Ok(Applied::Kept),
                Err(e) if e != ENOENT => return Err(e),
                Err(_) => {}
            }
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if !may_create_remote_dir(name) || !make_parents(rel)? {
                return Ok(Applied::Skipped);
            }
            match vfs::mkdir(&path, DIR_MODE) {
                Ok(()) => Ok(Applied::Written),
                Err(e) if e == EEXIST => Ok(Applied::Kept),
                Err(e) => Err(e),
            }
        }
        DentKind::Symlink => apply_link(&path, rel, dent.value, dent.stamp),
    }
}

/// Merges the link `/mars/<rel>` = `value` stamped `stamp` from a peer.
pub(super) fn apply_link(path: &PathBuf, rel: &str, value: &str, stamp: Stamp) -> Result<Applied> {
    let local = match vfs::lstat(path.as_cstr()) {
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(e),
        Ok(stat) => match stat.kind {
            FileKind::Symlink => match vfs::read_link(path.as_cstr()) {
                Ok(link) => Some((link.value, link.mtime, false)),
                Err(e) if e == ENOENT => None,
                Err(e) => return Err(e),
            },
            // A local logfile only yields to a newer deletion.
            FileKind::Regular => Some((bytes(&[b"(file)"])?, stat.mtime, true)),
            FileKind::Dir | FileKind::Other => return Ok(Applied::Skipped),
        },
    };
    let local_stamped = match &local {
        Some((value, mtime, _)) => {
            let Ok(text) = core::str::from_utf8(value) else {
                return Ok(Applied::Skipped);
            };
            Some(Stamped {
                value: text,
                stamp: *mtime,
            })
        }
        None => None,
    };
    let limit = bogus_after(clock::now(), knobs::MAX_LAMPORT_FUTURE.get());
    let decision = merge(local_stamped, Stamped { value, stamp }, limit);
    let is_file = matches!(local, Some((_, _, true)));
    match decision {
        MergeDecision::Keep(_) => return Ok(Applied::Kept),
        MergeDecision::Replace if is_file => return Ok(Applied::Kept),
        MergeDecision::Delete if is_file => vfs::unlink(path)?,
        _ => {}
    }
    if local.is_none() && !make_parents(rel)? {
        return Ok(Applied::Skipped);
    }
    vfs::replace_symlink(path, value.as_bytes(), stamp)?;
    Ok(Applied::Written)
}
