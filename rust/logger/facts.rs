// SPDX-License-Identifier: GPL-2.0
//! The facts `mars_core::replica` decides on, read from one resource directory of `/mars`.
//!
//! A [`Snapshot`] owns what one look at `/mars/resource-<res>/` found for this host: its
//! `replay-<host>` link, the logfiles present (with their sizes) and the version links from
//! the replayed logfile's predecessor on. It lends them out as the core's types
//! ([`LogFacts`], [`VersionEntry`], [`ReplayLink`]), so the replayer (`replay_step`), the
//! fetcher (`fetch_step`) and the strategy (`takeover_step`) decide on the same view.
//!
//! The durable end of a logfile as its origin reported it (the core's `origin_durable`, the
//! original's `d_corr_B`): for an own logfile its local size (only called while this host is
//! not logging); for another host's logfile the position in the origin's own version link
//! (`version-N-<origin>` naming `log-N-<origin>`: the origin writes it only after the data are
//! durable), raised by what the caller learned more recently from the origin itself (the
//! fetcher's `LogData.durable_end`). A logfile named only by its origin's version link (not
//! yet present here) is listed with local size 0: that is how a secondary learns of the next
//! logfile.
//!
//! Process context only (VFS calls sleep and allocate).

use super::links;
use crate::kapi::file::{File, OpenMode};
use crate::kapi::vfs::PathBuf;
use crate::mars_core::names::HostName;
use crate::mars_core::replica::LogFacts;
use crate::mars_core::tree::LogName;
use crate::mars_core::tree_value::ReplayLink;
use crate::mars_core::version_chain::VersionEntry;
use crate::tree::{self, FileKind};
use kernel::error::code::{EINVAL, ENOENT};
use kernel::prelude::*;

/// Entries of a resource directory looked at.
const MAX_DIR_ENTRIES: usize = 16384;
/// Prefix of a version link.
const VERSION_PREFIX: &str = "version-";

/// A durable end learned from a logfile's origin (not from its version link).
pub(crate) struct Learned {
    /// Logfile number.
    pub(crate) nr: u32,
    /// Its origin.
    pub(crate) origin: KVec<u8>,
    /// The origin's durable end.
    pub(crate) durable: u64,
}

struct LogEntry {
    nr: u32,
    origin: KVec<u8>,
    /// Bytes present locally (0: none).
    size: u64,
    /// The origin's durable end as known here.
    durable: Option<u64>,
}

struct VersionRaw {
    nr: u32,
    host: KVec<u8>,
    value: KVec<u8>,
}

/// One look at a resource directory (see the module documentation).
pub(crate) struct Snapshot {
    me: KVec<u8>,
    replay: Option<KVec<u8>>,
    logs: KVec<LogEntry>,
    versions: KVec<VersionRaw>,
}

fn owned(bytes: &[u8]) -> Result<KVec<u8>> {
    let mut out = KVec::with_capacity(bytes.len(), GFP_KERNEL)?;
    out.extend_from_slice(bytes, GFP_KERNEL)?;
    Ok(out)
}

fn host_name(bytes: &[u8]) -> Result<HostName<'_>> {
    HostName::parse(core::str::from_utf8(bytes).map_err(|_| EINVAL)?).map_err(|_| EINVAL)
}

/// `version-NNNNNNNNN-<host>` split into number and host.
fn parse_version_name(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix(VERSION_PREFIX)?;
    let (digits, host) = rest.split_once('-')?;
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    HostName::parse(host).ok()?;
    Some((digits.parse().ok()?, host))
}

impl Snapshot {
    /// Reads `dir` for host `me`. Logfiles and version links numbered below the replayed
    /// logfile's predecessor are left out (they are history). `learned` raises the durable
    /// ends of other hosts' logfiles.
    pub(crate) fn read(dir: &PathBuf, me: &[u8], learned: &[Learned]) -> Result<Self> {
        host_name(me)?;
        let replay = links::read(&dir.child(&concat(b"replay-", me)?)?)?;
        let min_nr = replay
            .as_deref()
            .and_then(|v| links::parse_replay(v).ok())
            .map_or(0, |r| r.log.nr.saturating_sub(1));
        let listing = tree::read_dir(dir, MAX_DIR_ENTRIES)?;
        let mut snap = Snapshot {
            me: owned(me)?,
            replay,
            logs: KVec::new(),
            versions: KVec::new(),
        };
        for entry in listing.entries.iter() {
            let Ok(name) = core::str::from_utf8(&entry.name) else {
                continue;
            };
            match entry.kind {
                Some(FileKind::Regular) => {
                    let Ok(log) = LogName::parse(name) else {
                        continue;
                    };
                    if log.nr < min_nr {
                        continue;
                    }
                    let size = match File::open(dir.child(&entry.name)?.as_cstr(), OpenMode::Read) {
                        Ok(file) => file.size(),
                        // Gone in the meantime (log-delete).
                        Err(e) if e == ENOENT => continue,
                        Err(e) => return Err(e),
                    };
                    let origin = owned(log.origin.as_str().as_bytes())?;
                    let durable = (origin.as_slice() == me).then_some(size);
                    snap.logs.push(
                        LogEntry {
                            nr: log.nr,
                            origin,
                            size,
                            durable,
                        },
                        GFP_KERNEL,
                    )?;
                }
                Some(FileKind::Symlink) => {
                    let Some((nr, host)) = parse_version_name(name) else {
                        continue;
                    };
                    if nr < min_nr {
                        continue;
                    }
                    let Some(value) = links::read(&dir.child(&entry.name)?)? else {
                        continue;
                    };
                    let host = owned(host.as_bytes())?;
                    snap.versions
                        .push(VersionRaw { nr, host, value }, GFP_KERNEL)?;
                }
                _ => {}
            }
        }
        // The origins' durable ends from their own version links; logfiles known only so.
        for index in 0..snap.versions.len() {
            let Some(v) = snap.versions.get(index) else {
                break;
            };
            if v.host.as_slice() == me {
                continue;
            }
            let log = LogName {
                nr: v.nr,
                origin: host_name(&v.host)?,
            };
            let Some(pos) = links::version_pos(&v.value, log).and_then(|p| u64::try_from(p).ok())
            else {
                continue;
            };
            let (nr, host) = (v.nr, owned(&v.host)?);
            snap.raise(nr, host, pos)?;
        }
        for l in learned {
            if l.origin.as_slice() != me && l.nr >= min_nr {
                snap.raise(l.nr, owned(&l.origin)?, l.durable)?;
            }
        }
        Ok(snap)
    }

    /// Raises the known durable end of logfile `nr` of `origin` to `pos` (adds the logfile
    /// with local size 0 when it is not here).
    fn raise(&mut self, nr: u32, origin: KVec<u8>, pos: u64) -> Result {
        match self
            .logs
            .iter_mut()
            .find(|l| l.nr == nr && l.origin.as_slice() == origin.as_slice())
        {
            Some(l) => l.durable = Some(l.durable.map_or(pos, |d| d.max(pos))),
            None => self.logs.push(
                LogEntry {
                    nr,
                    origin,
                    size: 0,
                    durable: Some(pos),
                },
                GFP_KERNEL,
            )?,
        }
        Ok(())
    }

    /// This host.
    pub(crate) fn me(&self) -> Result<HostName<'_>> {
        host_name(&self.me)
    }

    /// The own replay link (`None`: there is none).
    pub(crate) fn replay(&self) -> Result<Option<ReplayLink<'_>>> {
        self.replay.as_deref().map(links::parse_replay).transpose()
    }

    /// The logfiles as the core's facts.
    pub(crate) fn log_facts(&self) -> Result<KVec<LogFacts<'_>>> {
        let mut out = KVec::with_capacity(self.logs.len(), GFP_KERNEL)?;
        for l in self.logs.iter() {
            let log = LogName {
                nr: l.nr,
                origin: host_name(&l.origin)?,
            };
            out.push(
                LogFacts {
                    log,
                    origin_durable: l.durable,
                    local_size: l.size,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(out)
    }

    /// The version links as the core's `VersionSource` entries.
    pub(crate) fn versions(&self) -> Result<KVec<VersionEntry<'_>>> {
        let mut out = KVec::with_capacity(self.versions.len(), GFP_KERNEL)?;
        for v in self.versions.iter() {
            let host = core::str::from_utf8(&v.host).map_err(|_| EINVAL)?;
            let value = core::str::from_utf8(&v.value).unwrap_or("");
            out.push(
                VersionEntry {
                    host,
                    nr: v.nr,
                    value,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(out)
    }
}

/// `a` followed by `b`.
fn concat(a: &[u8], b: &[u8]) -> Result<KVec<u8>> {
    let mut out = KVec::with_capacity(a.len() + b.len(), GFP_KERNEL)?;
    out.extend_from_slice(a, GFP_KERNEL)?;
    out.extend_from_slice(b, GFP_KERNEL)?;
    Ok(out)
}
