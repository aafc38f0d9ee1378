// SPDX-License-Identifier: GPL-2.0
//! The server side of port 7777 ([`serve_meta`], in a `mars_serve` thread after the
//! handshake): answers `GetEnts` with this host's entries (listed beneath `/mars` without
//! following any symlink), takes `Notify` as a request to pull now (at most one per
//! [`NOTIFY_MIN_INTERVAL_MS`]), and merges a peer's `PushLink` of its own address link.

use crate::clock;
use crate::kapi::socket::Socket;
use crate::kapi::time::sleep_ms;
use crate::mars_core::lamport::Stamp;
use crate::mars_core::names::{is_skipped_by_scan, MARS_ROOT};
use crate::mars_core::tree::{strip_mars_root, Key};
use crate::mars_core::tree_value::IpAddress;
use crate::mars_core::wire::{
    check_link_value, check_path, Dent, DentKind, DentsWriter, GetEnts, Message, PushLink,
    WireError,
};
use crate::tree::{self, FileKind, MarsTree};
use kernel::error::code::ENOENT;
use kernel::prelude::*;
use kernel::str::BStr;

use super::super::conn::{monotonic_ms, Conn, ConnError, FrameWriter};
use super::super::merge::{self, Applied, MergeBudget, MAX_ANSWER_ENTRIES};
use super::super::server::{may_log, TIMEOUTS};
use super::super::{bytes, notified_by_peer, Bytes, Shared};

/// A client that sent nothing for this long is gone (clients ping every 5 s).
const IDLE_MS: u32 = 30_000;
/// At most one `Notify` per connection starts a pull within this time; a faster sender
/// waits (and TCP slows it down), and the pulls it asks for meanwhile coalesce.
pub(in crate::net) const NOTIFY_MIN_INTERVAL_MS: u64 = 200;

/// Serves the requests of the authenticated host `peer` on `conn` until it ends.
pub(in crate::net) fn serve_meta(
    conn: &mut Conn<'_>,
    shared: &Shared,
    peer: &[u8],
) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let mut last_notify_ms: Option<u64> = None;
    loop {
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, IDLE_MS)?;
        let tag = frame.header.tag;
        match frame.message {
            Message::Ping => conn.writer.send(&conn.socket, tag, &Message::Pong)?,
            Message::Pong => {}
            Message::Notify => {
                // Rate limit: a faster sender waits here (its further frames queue up in TCP).
                if let Some(last) = last_notify_ms {
                    let since = monotonic_ms().saturating_sub(last);
                    if since < NOTIFY_MIN_INTERVAL_MS {
                        let rest = NOTIFY_MIN_INTERVAL_MS.saturating_sub(since);
                        sleep_ms(u32::try_from(rest).unwrap_or(0));
                    }
                }
                last_notify_ms = Some(monotonic_ms());
                notified_by_peer();
            }
            Message::GetEnts(request) => {
                answer_get_ents((&mut conn.writer, &conn.socket), tag, &request)?
            }
            Message::PushLink(push) => apply_push(shared, peer, &push),
            // A one-shot fetch from a third host is not implemented: ignoring it is allowed.
            Message::PushCheck(_) => {}
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    }
}

/// Answers a `GetEnts` with as many `Dents` batches as needed.
fn answer_get_ents(
    (writer, socket): (&mut FrameWriter, &Socket),
    tag: u64,
    request: &GetEnts<'_>,
) -> Result<(), ConnError> {
    let mut dents: KVec<OwnedDent> = KVec::new();
    for dir in request.dirs.iter() {
        if let Err(e) = collect(dir, request.depth, &mut dents) {
            pr_debug!("net: listing {} for a peer: {:?}\n", dir, e);
        }
    }
    let mut next = 0usize;
    loop {
        let mut batch = DentsWriter::new(writer.buf.as_mut_slice())?;
        while let Some(owned) = dents.get(next) {
            let Some(dent) = owned.as_dent() else {
                next = next.saturating_add(1);
                continue;
            };
            match batch.push(&dent) {
                Ok(()) => next = next.saturating_add(1),
                Err(WireError::CountOverCap | WireError::BufferTooSmall) if batch.count() > 0 => {
                    break
                }
                // Cannot travel (too big for any batch, invalid): leave it out.
                Err(_) => next = next.saturating_add(1),
            }
        }
        let more = next < dents.len();
        let len = batch.finish(clock::now(), tag, more)?;
        writer.send_encoded(socket, len)?;
        if !more {
            return Ok(());
        }
    }
}

/// Applies a `PushLink` if it is the sender's own address link (how a joining host makes
/// itself known); anything else is ignored.
fn apply_push(shared: &Shared, peer: &[u8], push: &PushLink<'_>) {
    let Some(rel) = strip_mars_root(push.path) else {
        return;
    };
    let own_ip_link =
        matches!(Key::parse(rel), Ok(Key::Ip(host)) if host.as_str().as_bytes() == peer);
    if !own_ip_link || (IpAddress::parse(push.value).is_err() && push.value != ".deleted") {
        if may_log() {
            pr_notice!(
                "net: ignoring a push of {} from {}\n",
                push.path,
                BStr::from_bytes(peer)
            );
        }
        return;
    }
    let dent = Dent {
        kind: DentKind::Symlink,
        path: push.path,
        value: push.value,
        stamp: push.stamp,
        size: 0,
    };
    let _guard = shared.merge_lock.lock();
    match merge::apply(peer, &dent, &mut MergeBudget::new()) {
        Ok(Applied::Written) => pr_info!(
            "net: {} pushed {} = {}\n",
            BStr::from_bytes(peer),
            push.path,
            push.value
        ),
        Ok(_) => {}
        Err(e) => pr_warn!("net: cannot apply the push of {}: {:?}\n", push.path, e),
    }
}

/// An entry answering a `GetEnts`, owned until it is encoded.
struct OwnedDent {
    kind: DentKind,
    path: Bytes,
    value: Bytes,
    stamp: Stamp,
}

impl OwnedDent {
    /// The wire form, `None` if the path or value cannot travel (not UTF-8, too long).
    fn as_dent(&self) -> Option<Dent<'_>> {
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
/// `backup*`, hidden names). A missing directory contributes nothing, and so does one reached
/// through a symlink: `dir` is resolved beneath `/mars` without following any (a peer asking
/// for `/mars/resource-x` where that is a link to `/etc` gets nothing).
fn collect(dir: &str, depth: u8, out: &mut KVec<OwnedDent>) -> Result {
    let Some(rel) = strip_mars_root(dir) else {
        return Ok(());
    };
    visit(&MarsTree::open()?, rel.as_bytes(), depth, out)
}

/// `/mars/<rel>` as text.
fn absolute(rel: &[u8]) -> Result<Bytes> {
    if rel.is_empty() {
        bytes(&[MARS_ROOT.as_bytes()])
    } else {
        bytes(&[MARS_ROOT.as_bytes(), b"/", rel])
    }
}

fn visit(mars: &MarsTree, dir: &[u8], depth: u8, out: &mut KVec<OwnedDent>) -> Result {
    if depth == 0 || out.len() >= MAX_ANSWER_ENTRIES {
        return Ok(());
    }
    let listing = match mars.read_dir(dir, MAX_ANSWER_ENTRIES) {
        Ok(listing) => listing,
        Err(e) if e == ENOENT || tree::is_blocked_path(e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in listing.entries.iter() {
        if out.len() >= MAX_ANSWER_ENTRIES {
            break;
        }
        if is_skipped_by_scan(&entry.name) {
            continue;
        }
        let child = if dir.is_empty() {
            bytes(&[&entry.name])?
        } else {
            bytes(&[dir, b"/", &entry.name])?
        };
        let dir = child.as_slice();
        let Ok(stat) = mars.lstat(dir) else {
            continue;
        };
        match stat.kind {
            FileKind::Symlink => {
                // Vanished or replaced meanwhile: not an error.
                let Ok(link) = mars.read_link(dir) else {
                    continue;
                };
                let stamp = clock::observe(link.mtime);
                let dent = OwnedDent {
                    kind: DentKind::Symlink,
                    path: absolute(dir)?,
                    value: link.value,
                    stamp,
                };
                out.push(dent, GFP_KERNEL)?;
            }
            FileKind::Regular => {
                let dent = OwnedDent {
                    kind: DentKind::File,
                    path: absolute(dir)?,
                    value: KVec::new(),
                    stamp: stat.mtime,
                };
                out.push(dent, GFP_KERNEL)?;
            }
            FileKind::Dir => {
                let dent = OwnedDent {
                    kind: DentKind::Dir,
                    path: absolute(dir)?,
                    value: KVec::new(),
                    stamp: stat.mtime,
                };
                out.push(dent, GFP_KERNEL)?;
                visit(mars, dir, depth.saturating_sub(1), out)?;
            }
            FileKind::Other => {}
        }
    }
    Ok(())
}
