// SPDX-License-Identifier: GPL-2.0
//! The logger's names in the /mars tree (`/mars/resource-<res>/`: its logfiles, its
//! `replay-<host>` and `version-NNNNNNNNN-<host>` links) and reading and writing those links.
//! The values themselves come from `mars_core::logger`; the links are read and written
//! through the tree accessor (`crate::tree`), so the resource directory must lie in /mars.
//!
//! Process context only (VFS calls sleep and allocate); on the IO path inside a NoIo scope.

use core::fmt::{self, Write};

use crate::clock;
use crate::kapi::crc::crc32c;
use crate::kapi::vfs::PathBuf;
use crate::mars_core::digest::Digester;
use crate::mars_core::names::HostName;
use crate::mars_core::text::FixedBuf;
use crate::mars_core::tree::LogName;
use crate::mars_core::tree_value::{ReplayLink, MAX_LINK_LEN};
use crate::tree;
use kernel::error::code::{EINVAL, ENOENT};
use kernel::prelude::*;

/// The hash functions the kernel offers the core: CRC32C (lib/crc32c) for log records, MD5
/// (kernel crypto) for version links.
pub(crate) struct KernelDigester;

impl Digester for KernelDigester {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        Some(!crc32c(!0, data))
    }

    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        crate::kapi::crypto::md5(data)
    }
}

/// A link value as text.
pub(crate) type LinkText = FixedBuf<{ MAX_LINK_LEN + 1 }>;

/// Formats a link value.
pub(crate) fn format_value(value: &dyn fmt::Display) -> Result<LinkText> {
    let mut text = LinkText::new();
    write!(text, "{}", value).map_err(|_| EINVAL)?;
    Ok(text)
}

/// Where one resource's logger keeps its files and links, for this host.
pub(crate) struct ResourcePaths {
    /// `/mars/resource-<res>`.
    dir: PathBuf,
    /// This host's name (a valid MARS host name).
    host: KVec<u8>,
}

impl ResourcePaths {
    /// The paths in `dir` for host `host` (EINVAL for a host name MARS does not accept).
    pub(crate) fn new(dir: &[u8], host: &[u8]) -> Result<Self> {
        let text = core::str::from_utf8(host).map_err(|_| EINVAL)?;
        HostName::parse(text).map_err(|_| EINVAL)?;
        let mut owned = KVec::new();
        owned.extend_from_slice(host, GFP_KERNEL)?;
        Ok(ResourcePaths {
            dir: PathBuf::from_parts(&[dir])?,
            host: owned,
        })
    }

    /// A second value with the same paths.
    pub(crate) fn try_clone(&self) -> Result<Self> {
        Self::new(self.dir.as_bytes(), &self.host)
    }

    /// This host's name (checked in `new`, so this does not fail).
    pub(crate) fn host(&self) -> Result<HostName<'_>> {
        let text = core::str::from_utf8(&self.host).map_err(|_| EINVAL)?;
        HostName::parse(text).map_err(|_| EINVAL)
    }

    /// The resource directory.
    pub(crate) fn dir(&self) -> &PathBuf {
        &self.dir
    }

    fn child(&self, name: fmt::Arguments<'_>) -> Result<PathBuf> {
        let mut text = FixedBuf::<256>::new();
        text.write_fmt(name).map_err(|_| EINVAL)?;
        self.dir.child(text.as_bytes())
    }

    /// `replay-<host>`.
    pub(crate) fn replay_link(&self) -> Result<PathBuf> {
        self.child(format_args!("replay-{}", self.host()?))
    }

    /// `version-NNNNNNNNN-<host>` for logfile number `nr`.
    pub(crate) fn version_link(&self, nr: u32) -> Result<PathBuf> {
        self.child(format_args!("version-{:09}-{}", nr, self.host()?))
    }

    /// `actual-<host>/<name>`: an indicator or message of this host.
    pub(crate) fn actual(&self, name: &str) -> Result<PathBuf> {
        self.child(format_args!("actual-{}", self.host()?))?
            .child(name.as_bytes())
    }

    /// The logfile `log`.
    pub(crate) fn log(&self, log: LogName<'_>) -> Result<PathBuf> {
        self.child(format_args!("{}", log))
    }
}

/// Reads the link at `path`: `None` when there is none (or it is a tombstone).
pub(crate) fn read(path: &PathBuf) -> Result<Option<KVec<u8>>> {
    match tree::read_link(path) {
        Ok(link) => {
            clock::observe(link.mtime);
            let deleted = tree::is_tombstone(&link.value);
            Ok((!deleted && !link.value.is_empty()).then_some(link.value))
        }
        Err(e) if e == ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the link at `path` with a fresh Lamport stamp (atomic replace).
pub(crate) fn write(path: &PathBuf, value: &[u8]) -> Result {
    tree::write(path, value)
}

/// Parses a replay link value.
pub(crate) fn parse_replay(value: &[u8]) -> Result<ReplayLink<'_>> {
    let text = core::str::from_utf8(value).map_err(|_| EINVAL)?;
    ReplayLink::parse(text).map_err(|_| EINVAL)
}

/// The position in a version link value (`<md5>,log-N-<origin>,<pos>:<prev>`) if it names
/// `log`. Like the original (`_check_logging_status`) it only reads the fields it needs.
pub(crate) fn version_pos(value: &[u8], log: LogName<'_>) -> Option<i64> {
    let text = core::str::from_utf8(value).ok()?;
    let head = text.split(':').next()?;
    let mut fields = head.split(',');
    let (_digest, name, pos) = (fields.next()?, fields.next()?, fields.next()?);
    let named = LogName::parse(name).ok()?;
    let pos = crate::mars_core::text::parse_int(pos.as_bytes()).ok()?;
    (named == log && pos >= 0).then_some(pos)
}
