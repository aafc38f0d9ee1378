// SPDX-License-Identifier: GPL-2.0
//! The two halves of a handover on this host, as `mars_core::replica` decides them (the
//! functions `tools/sim` checks):
//!
//! * a logging host asks [`release`] (`release_step`) whether it goes on, waits (device open,
//!   writeback) or lets go (the strategy then switches the logger off, which writes the final
//!   version link at the durable end);
//! * the designated primary that is not logging asks [`takeover`] (`takeover_step`) whether
//!   it may start logging: every peer has acknowledged exactly this designation without
//!   logging, and this host has fetched and replayed everything of the last logfile.
//!
//! Every host writes its acknowledgement `resource-<res>/actual-<host>/primary-ack` =
//! `<logging 0|1>,<host the primary link names or (none)>,<that link's Lamport stamp>`
//! ([`ack_value`]); the stamp makes an old acknowledgement of an earlier designation of the
//! same host worthless.

use core::fmt::Write;

use crate::bricks::trans_logger::TransLogger;
use crate::kapi::time::real_time;
use crate::kapi::vfs::PathBuf;
use crate::knobs;
use crate::logger::facts::Snapshot;
use crate::mars_core::lamport::Stamp;
use crate::mars_core::replica::{
    release_step, takeover_step, PeerFacts, PrimaryAck, PrimaryFacts, ReleaseDecision,
    TakeoverDecision, TakeoverFacts,
};
use crate::mars_core::text::FixedBuf;
use crate::mars_core::tree_value::{HostOrNone, DELETED, NONE_VALUE};
use crate::tree::{self, FileKind};
use kernel::error::code::{EINVAL, ENOENT};
use kernel::prelude::*;

/// Entries of a resource directory looked at for its members.
const MAX_DIR_ENTRIES: usize = 16384;
/// A peer whose heartbeat (`/mars/actual-<peer>/time`) is older than this many scan intervals
/// (plus [`REACHABLE_SLACK_SEC`]) counts as unreachable.
const REACHABLE_INTERVALS: i64 = 4;
const REACHABLE_SLACK_SEC: i64 = 10;
/// After the module started, for this many scan intervals every peer must be heard before a
/// designated primary resumes logging (a newer `primary` link may be on its way).
const START_GRACE_INTERVALS: i64 = 3;

/// A text buffer for an acknowledgement or a report.
pub(super) type Text = FixedBuf<160>;

/// The `primary` link as read here.
pub(super) struct Designation {
    /// The host it names (`None`: `(none)` or missing).
    pub(super) host: Option<KVec<u8>>,
    /// Its Lamport stamp (its mtime; zero when missing).
    pub(super) stamp: Stamp,
}

impl Designation {
    /// Reads `dir/primary`.
    pub(super) fn read(dir: &PathBuf) -> Result<Self> {
        match tree::read_link(&dir.child(b"primary")?) {
            Ok(link) => {
                let host = core::str::from_utf8(&link.value)
                    .ok()
                    .and_then(|v| HostOrNone::parse(v).ok())
                    .and_then(|h| match h {
                        HostOrNone::Host(h) => Some(h.as_str().as_bytes()),
                        HostOrNone::None => None,
                    });
                let host = match host {
                    Some(h) => {
                        let mut owned = KVec::new();
                        owned.extend_from_slice(h, GFP_KERNEL)?;
                        Some(owned)
                    }
                    None => None,
                };
                Ok(Designation {
                    host,
                    stamp: link.mtime,
                })
            }
            Err(e) if e == ENOENT || e == EINVAL => Ok(Designation {
                host: None,
                stamp: Stamp::ZERO,
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether it names `host`.
    pub(super) fn names(&self, host: &[u8]) -> bool {
        self.host.as_deref() == Some(host)
    }
}

/// The acknowledgement value of this host.
pub(super) fn ack_value(logging: bool, designation: &Designation) -> Result<Text> {
    let mut text = Text::new();
    let host = designation
        .host
        .as_deref()
        .and_then(|h| core::str::from_utf8(h).ok())
        .unwrap_or(NONE_VALUE);
    write!(text, "{},{},{}", u8::from(logging), host, designation.stamp).map_err(|_| EINVAL)?;
    Ok(text)
}

/// Parses an acknowledgement value.
fn parse_ack(value: &str) -> Option<PrimaryAck<'_>> {
    let mut it = value.splitn(3, ',');
    let logging = match it.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let designated = it.next()?;
    let stamp = Stamp::parse(it.next()?).ok()?;
    let designated = match HostOrNone::parse(designated).ok()? {
        HostOrNone::Host(h) => Some(h.as_str()),
        HostOrNone::None => None,
    };
    Some(PrimaryAck {
        logging,
        designated,
        designation_stamp: stamp,
    })
}

/// `release_step` for the running logger: its statistics give what is appended, durable and
/// written back (everything durable is written back when no writeback is pending).
pub(super) fn release(logger: &TransLogger, designated: bool, open_count: u32) -> ReleaseDecision {
    let stat = |name: &str| logger.stat(name);
    let (appended, durable, pending) = (stat("appended"), stat("durable"), stat("pending"));
    let facts = PrimaryFacts {
        designated,
        device_open: open_count > 0,
        appended,
        durable,
        written_back: if pending == 0 { durable } else { 0 },
    };
    release_step(&facts)
}

/// What one peer looks like from here (owned, borrowed as `PeerFacts`).
struct Peer {
    host: KVec<u8>,
    reachable: bool,
    ack: Option<KVec<u8>>,
}

/// The other members of the resource in `dir` (hosts with a `data-<host>` link).
fn peers(root: &PathBuf, dir: &PathBuf, me: &[u8]) -> Result<KVec<Peer>> {
    let listing = tree::read_dir(dir, MAX_DIR_ENTRIES)?;
    let now = real_time();
    let interval = knobs::SCAN_INTERVAL_SEC.get();
    let window = interval
        .saturating_mul(REACHABLE_INTERVALS)
        .saturating_add(REACHABLE_SLACK_SEC);
    let mut out = KVec::new();
    for entry in listing.entries.iter() {
        if entry.kind != Some(FileKind::Symlink) {
            continue;
        }
        let Some(host) = entry.name.strip_prefix(b"data-") else {
            continue;
        };
        if host == me
            || core::str::from_utf8(host)
                .ok()
                .and_then(|h| crate::mars_core::names::HostName::parse(h).ok())
                .is_none()
        {
            continue;
        }
        let member = tree::read_link(&dir.child(&entry.name)?)
            .is_ok_and(|l| !l.value.is_empty() && l.value.as_slice() != DELETED.as_bytes());
        if !member {
            continue;
        }
        let mut actual = KVec::new();
        actual.extend_from_slice(b"actual-", GFP_KERNEL)?;
        actual.extend_from_slice(host, GFP_KERNEL)?;
        let reachable = root
            .child(&actual)
            .and_then(|a| a.child(b"time"))
            .and_then(|t| tree::read_link(&t))
            .is_ok_and(|l| l.mtime.add_sec(window) >= now);
        let ack = match dir
            .child(&actual)
            .and_then(|a| a.child(b"primary-ack"))
            .and_then(|p| tree::read_link(&p))
        {
            Ok(link) => Some(link.value),
            Err(_) => None,
        };
        let mut name = KVec::new();
        name.extend_from_slice(host, GFP_KERNEL)?;
        out.push(
            Peer {
                host: name,
                reachable,
                ack,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(out)
}

/// Whether the module started so recently that every peer must be heard first.
fn just_started(started: Stamp) -> bool {
    let grace = knobs::SCAN_INTERVAL_SEC
        .get()
        .saturating_mul(START_GRACE_INTERVALS);
    started.add_sec(grace) >= real_time()
}

/// `takeover_step` for the designated primary `me` that is not logging: `Ok(None)` when it may
/// start logging now, else why not (for the kernel log). A resource without any logfile and
/// without a replay link starts at once (logfile 1 of a new resource).
pub(super) fn takeover(
    root: &PathBuf,
    dir: &PathBuf,
    me: &[u8],
    designation: &Designation,
    started: Stamp,
) -> Result<Option<Text>> {
    let snap = Snapshot::read(dir, me, &[])?;
    let peers = peers(root, dir, me)?;
    let mut peer_facts = KVec::with_capacity(peers.len(), GFP_KERNEL)?;
    for p in peers.iter() {
        let host = core::str::from_utf8(&p.host).map_err(|_| EINVAL)?;
        let ack = p
            .ack
            .as_deref()
            .and_then(|a| core::str::from_utf8(a).ok())
            .and_then(parse_ack);
        peer_facts.push(
            PeerFacts {
                host,
                reachable: p.reachable,
                ack,
                device_open: false,
            },
            GFP_KERNEL,
        )?;
    }
    let mut why = Text::new();
    let Some(replay) = snap.replay()? else {
        if snap.log_facts()?.is_empty() {
            return Ok(None);
        }
        let _ = write!(why, "no replay link, but logfiles exist");
        return Ok(Some(why));
    };
    let logs = snap.log_facts()?;
    let versions = snap.versions()?;
    let facts = TakeoverFacts {
        me: snap.me()?,
        force: false,
        designation_stamp: designation.stamp,
        just_started: just_started(started),
        peers: &peer_facts,
        // The logger's start (`logger::recovery`) replays the rest of an own logfile.
        recovers_own: true,
        replay,
        logs: &logs,
    };
    match takeover_step(&facts, &versions[..]) {
        TakeoverDecision::Start { .. } => Ok(None),
        TakeoverDecision::Wait(wait) => {
            let _ = write!(why, "not yet primary: {:?}", wait);
            Ok(Some(why))
        }
        TakeoverDecision::Refuse(refusal) => {
            let _ = write!(why, "cannot become primary: {:?}", refusal);
            Ok(Some(why))
        }
    }
}
