// SPDX-License-Identifier: GPL-2.0
//! The server side of port 7778 ([`serve_logs`], in a `mars_serve` thread after the
//! handshake): see `net::logs` for what it serves and up to where.

use crate::kapi::file::{File, OpenMode};
use crate::kapi::vfs::PathBuf;
use crate::logger::durable::Loggers;
use crate::mars_core::tree::{strip_mars_root, Key, LogName, ResourceKey};
use crate::mars_core::wire::{
    ErrorCode, LogData, LogRead, LogTail, Message, Packing, MAX_DATA_CHUNK,
};
use crate::tree::{self, FileKind};
use kernel::error::code::{EINVAL, ENOENT, ENOMEM};
use kernel::prelude::*;

use super::super::conn::{reply_message, Conn, ConnError, Refusal};
use super::super::members;
use super::super::server::TIMEOUTS;
use super::super::{concat, Bytes};

/// A fetcher that sent nothing for this long is gone (fetchers poll twice a second).
const SERVE_IDLE_MS: u32 = 60_000;
/// Entries of a resource directory looked at.
const MAX_DIR_ENTRIES: usize = 16384;

/// Serves `LogRead` requests on an accepted and welcomed connection of the authenticated host
/// `peer` until it ends: only logfiles of resources `peer` is a member of.
pub(in crate::net) fn serve_logs(
    conn: &mut Conn<'_>,
    loggers: Option<&Loggers>,
    peer: &[u8],
) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let mut chunk =
        KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| ConnError::Io(ENOMEM))?;
    loop {
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, SERVE_IDLE_MS)?;
        let tag = frame.header.tag;
        match frame.message {
            Message::Ping => conn.writer.send(&conn.socket, tag, &Message::Pong)?,
            Message::Pong => {}
            Message::LogRead(request) => {
                let reply = answer(&request, chunk.as_mut_slice(), loggers, peer);
                let message = reply_message(reply.map(Message::LogData));
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    }
}

/// The answer to one `LogRead`: a chunk read into `buf`, or an error for the reader.
fn answer<'b>(
    request: &LogRead<'_>,
    buf: &'b mut [u8],
    loggers: Option<&Loggers>,
    peer: &[u8],
) -> core::result::Result<LogData<'b>, Refusal> {
    let denied = (ErrorCode::Denied, "only logfiles of resources are served");
    let rel = strip_mars_root(request.path).ok_or(denied)?;
    let Ok(Key::Resource {
        res,
        key: ResourceKey::Log(log),
    }) = Key::parse(rel)
    else {
        return Err(denied);
    };
    if !members::is_member(res.as_str().as_bytes(), peer) {
        return Err((ErrorCode::Denied, "not a member of this resource"));
    }
    let dir = tree::path(&concat(&[b"resource-", res.as_str().as_bytes()])).map_err(|_| denied)?;
    let path = tree::path(rel.as_bytes()).map_err(|_| denied)?;
    let file = match File::open(path.as_cstr(), OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e == ENOENT => return Err((ErrorCode::NotFound, "no such logfile here")),
        Err(_) => return Err((ErrorCode::Io, "cannot open the logfile")),
    };
    let size = file.size();
    let me = members::own_host();
    let own = me.as_deref() == Some(log.origin.as_str().as_bytes());
    let durable_end = if own {
        // The running logger's in-memory durable end, else (or if behind) the version link.
        let live = loggers
            .and_then(|l| l.durable_end(res.as_str().as_bytes(), log.nr))
            .unwrap_or(0);
        size.min(own_durable_end(&dir, log).max(live))
    } else {
        size
    };
    if request.offset >= durable_end {
        // Nothing yet (a fetcher reads ahead): an empty chunk says whether more will come.
        let tail = if durable_end == size && has_later_logfile(&dir, log.nr) {
            LogTail::Eof
        } else {
            LogTail::NotYet
        };
        return Ok(LogData {
            offset: request.offset,
            durable_end,
            tail,
            packing: Packing::Plain,
            data: &[],
        });
    }
    let len = usize::try_from(durable_end - request.offset)
        .unwrap_or(usize::MAX)
        .min(usize::try_from(request.max_len).unwrap_or(usize::MAX))
        .min(buf.len());
    let buf = buf.get_mut(..len).ok_or((ErrorCode::Io, "buffer"))?;
    let read = file
        .read_at(buf, request.offset)
        .map_err(|_| (ErrorCode::Io, "cannot read the logfile"))?;
    let data = buf.get(..read).unwrap_or_default();
    let end = request.offset.saturating_add(read as u64);
    let tail = if end < durable_end {
        LogTail::More
    } else if durable_end == size && has_later_logfile(&dir, log.nr) {
        LogTail::Eof
    } else {
        LogTail::NotYet
    };
    Ok(LogData {
        offset: request.offset,
        durable_end: if read < len { end } else { durable_end },
        tail,
        packing: Packing::Plain,
        data,
    })
}

/// The durable end of this host's logfile `log`: the position in its version link when that
/// names the logfile, else 0.
fn own_durable_end(dir: &PathBuf, log: LogName<'_>) -> u64 {
    let Ok(name) = version_name(log.nr, log.origin.as_str().as_bytes()) else {
        return 0;
    };
    let Some(value) = dir.child(&name).ok().and_then(|p| tree::read_link(&p).ok()) else {
        return 0;
    };
    crate::logger::links::version_pos(&value.value, log)
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(0)
}

/// Whether a logfile numbered above `nr` exists in `dir`.
fn has_later_logfile(dir: &PathBuf, nr: u32) -> bool {
    let Ok(listing) = tree::read_dir(dir, MAX_DIR_ENTRIES) else {
        return false;
    };
    listing.entries.iter().any(|entry| {
        entry.kind == Some(FileKind::Regular)
            && core::str::from_utf8(&entry.name)
                .ok()
                .and_then(|n| LogName::parse(n).ok())
                .is_some_and(|l| l.nr > nr)
    })
}

/// `version-NNNNNNNNN-<host>`.
fn version_name(nr: u32, host: &[u8]) -> Result<Bytes> {
    let mut digits = crate::mars_core::text::FixedBuf::<16>::new();
    core::fmt::Write::write_fmt(&mut digits, format_args!("{:09}", nr)).map_err(|_| EINVAL)?;
    let name = concat(&[b"version-", digits.as_bytes(), b"-", host]);
    if name.is_empty() {
        return Err(ENOMEM);
    }
    Ok(name)
}
