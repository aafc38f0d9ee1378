// SPDX-License-Identifier: GPL-2.0
//! Log shipping over port 7778 (`Documentation/protocol.rst`, "Log fetch messages").
//!
//! Server side ([`serve_logs`], in a `mars_serve` thread after the handshake): answers
//! `LogRead` for logfiles of `/mars/resource-*/` with `LogData`, never beyond the *durable
//! end*: for a logfile this host writes, the position in its own version link (the logger
//! writes it only after the data are durable, every `logger_report_interval_s` and at every
//! switch); for a logfile this host fetched from another, its local size (only durable data
//! was fetched). A logfile is finished (`Eof`) once a later logfile of the resource exists
//! here and the durable end is its size.
//!
//! Client side ([`Fetcher`], one `mars_fetch` thread per resource of a secondary with
//! `todo-<host>/connect` on): copies the logfile named by `replay-<host>` and every later one
//! the tree announces (a `version-N-<origin>` link of another host) from its origin into the
//! local file of the same name, appending at the local size, in order. It connects to the
//! origin's address (`ips/ip-<origin>`, port + 1), reconnects after any failure with a
//! backoff from 1 s doubling to 30 s, polls a logfile that is still being written every half
//! second, and syncs what it appended before it asks the strategy for a round (which lets the
//! replay go on).

use crate::kapi::file::{File, OpenMode, SyncMode};
use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::{Socket, SocketAddrV4};
use crate::kapi::vfs::{self, FileKind};
use crate::knobs;
use crate::mars_core::tree::{strip_mars_root, Key, LogName, ResourceKey};
use crate::mars_core::tree_value::{ReplayLink, ANY_UUID};
use crate::mars_core::wire::{
    accept_welcome, ErrorCode, ErrorReply, Hello, LogData, LogRead, LogTail, Message, MsgType, PortRole, KNOWN_FEATURES,
    MAX_DATA_CHUNK, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
};
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOENT, ENOMEM};
use kernel::prelude::*;
use kernel::str::BStr;

use super::conn::{Conn, ConnError};
use super::server::{role_port, TIMEOUTS};
use super::tree::{self, Bytes};
use super::{Shared, Worker, WorkerState};

/// A fetcher that sent nothing for this long is gone (fetchers poll twice a second).
const SERVE_IDLE_MS: u32 = 60_000;
/// A reply must come within this time.
const REPLY_WAIT_MS: u32 = 15_000;
/// How often a logfile that is still being written is asked again.
const POLL_MS: u32 = 500;
/// First wait after a failure ...
const BACKOFF_MIN_MS: u32 = 1000;
/// ... doubling up to this.
const BACKOFF_MAX_MS: u32 = 30_000;
/// Entries of a resource directory looked at.
const MAX_DIR_ENTRIES: usize = 16384;
/// Logfiles looked ahead of the replay link.
const MAX_AHEAD: u32 = 64;
/// Reads a fetcher keeps in flight on its connection (the protocol allows 16).
const WINDOW: usize = 4;

// ---------------------------------------------------------------------------------------------
// Server

/// Serves `LogRead` requests on an accepted and welcomed connection until it ends.
pub(super) fn serve_logs(conn: &mut Conn<'_>) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let mut chunk = KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| ConnError::Io(ENOMEM))?;
    loop {
        let frame = conn.reader.read(&conn.socket, stopper, TIMEOUTS.recv_ms, SERVE_IDLE_MS)?;
        let tag = frame.header.tag;
        match frame.message {
            Message::Ping => conn.writer.send(&conn.socket, tag, &Message::Pong)?,
            Message::Pong => {}
            Message::LogRead(request) => {
                let reply = answer(&request, chunk.as_mut_slice());
                let message = match &reply {
                    Ok(data) => Message::LogData(*data),
                    Err((code, message)) => Message::Error(ErrorReply { code: *code, message }),
                };
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    }
}

/// The answer to one `LogRead`: a chunk read into `buf`, or an error for the reader.
fn answer<'b>(request: &LogRead<'_>, buf: &'b mut [u8]) -> core::result::Result<LogData<'b>, (ErrorCode, &'static str)> {
    let denied = (ErrorCode::Denied, "only logfiles of resources are served");
    let rel = strip_mars_root(request.path).ok_or(denied)?;
    let Ok(Key::Resource { res, key: ResourceKey::Log(log) }) = Key::parse(rel) else {
        return Err(denied);
    };
    let dir = tree::mars_path(&concat(&[b"resource-", res.as_str().as_bytes()])).map_err(|_| denied)?;
    let path = tree::mars_path(rel.as_bytes()).map_err(|_| denied)?;
    let file = match File::open(path.as_cstr(), OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e == ENOENT => return Err((ErrorCode::NotFound, "no such logfile here")),
        Err(_) => return Err((ErrorCode::Io, "cannot open the logfile")),
    };
    let size = file.size();
    let me = tree::own_host();
    let own = me.as_deref() == Some(log.origin.as_str().as_bytes());
    let durable_end = if own { size.min(own_durable_end(&dir, log)) } else { size };
    if request.offset >= durable_end {
        // Nothing yet (a fetcher reads ahead): an empty chunk says whether more will come.
        let tail = if durable_end == size && has_later_logfile(&dir, log.nr) { LogTail::Eof } else { LogTail::NotYet };
        return Ok(LogData { offset: request.offset, durable_end, tail, data: &[] });
    }
    let len = usize::try_from(durable_end - request.offset)
        .unwrap_or(usize::MAX)
        .min(usize::try_from(request.max_len).unwrap_or(usize::MAX))
        .min(buf.len());
    let buf = buf.get_mut(..len).ok_or((ErrorCode::Io, "buffer"))?;
    let read = file.read_at(buf, request.offset).map_err(|_| (ErrorCode::Io, "cannot read the logfile"))?;
    let data = buf.get(..read).unwrap_or_default();
    let end = request.offset.saturating_add(read as u64);
    let tail = if end < durable_end {
        LogTail::More
    } else if durable_end == size && has_later_logfile(&dir, log.nr) {
        LogTail::Eof
    } else {
        LogTail::NotYet
    };
    Ok(LogData { offset: request.offset, durable_end: if read < len { end } else { durable_end }, tail, data })
}

/// The durable end of this host's logfile `log`: the position in its version link when that
/// names the logfile, else 0.
fn own_durable_end(dir: &vfs::PathBuf, log: LogName<'_>) -> u64 {
    let Ok(name) = version_name(log.nr, log.origin.as_str().as_bytes()) else { return 0 };
    let Some(value) = dir.child(&name).ok().and_then(|p| vfs::read_link(p.as_cstr()).ok()) else { return 0 };
    crate::logger::links::version_pos(&value.value, log).and_then(|p| u64::try_from(p).ok()).unwrap_or(0)
}

/// Whether a logfile numbered above `nr` exists in `dir`.
fn has_later_logfile(dir: &vfs::PathBuf, nr: u32) -> bool {
    let Ok(listing) = vfs::read_dir(dir.as_cstr(), MAX_DIR_ENTRIES) else { return false };
    listing.entries.iter().any(|entry| {
        entry.kind == Some(FileKind::Regular)
            && core::str::from_utf8(&entry.name).ok().and_then(|n| LogName::parse(n).ok()).is_some_and(|l| l.nr > nr)
    })
}

fn concat(parts: &[&[u8]]) -> Bytes {
    let mut out = KVec::new();
    for part in parts {
        if out.extend_from_slice(part, GFP_KERNEL).is_err() {
            return KVec::new();
        }
    }
    out
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

// ---------------------------------------------------------------------------------------------
// Client

/// What a fetch thread works for.
pub(crate) struct FetchData {
    /// The resource name.
    res: Bytes,
}

/// A running fetch of one resource's logfiles; dropping it stops the thread promptly (its
/// socket is shut down).
pub(crate) struct Fetcher {
    _worker: Worker<FetchData>,
}

impl Fetcher {
    /// Starts fetching the logfiles of resource `res` for this host.
    pub(crate) fn start(res: &[u8]) -> Result<Self> {
        let shared = Shared::new()?;
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL)?;
        Ok(Fetcher { _worker: Worker::spawn(c_str!("mars_fetch"), &shared, FetchData { res: name }, fetch_thread)? })
    }
}

/// Why a fetch session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchEnd {
    Stop,
    /// Nothing to fetch from anybody now.
    Idle,
    Connect(Error),
    Refused,
    Conn(ConnError),
    /// The origin answered a read with an error.
    Remote(ErrorCode),
    Local(Error),
}

impl From<ConnError> for FetchEnd {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Stopping => FetchEnd::Stop,
            e => FetchEnd::Conn(e),
        }
    }
}

/// A logfile to fetch.
struct Target {
    /// `log-NNNNNNNNN-<origin>`.
    name: Bytes,
    origin: Bytes,
}

/// The fetch thread: sessions until asked to stop.
fn fetch_thread(state: &WorkerState<FetchData>, context: &ThreadContext) {
    let stopper = &state.stopper;
    let mut backoff = BACKOFF_MIN_MS;
    let mut told: Option<FetchEnd> = None;
    // Logfiles known to be complete here (`Eof` seen and all of it fetched).
    let mut complete: KVec<Bytes> = KVec::new();
    while !context.should_stop() && !stopper.stopping() {
        let end = session(state, context, &mut complete);
        match end {
            FetchEnd::Stop => break,
            FetchEnd::Idle => {
                backoff = BACKOFF_MIN_MS;
                stopper.sleep(context, POLL_MS);
                continue;
            }
            other => {
                if told != Some(other) {
                    pr_notice!("{}: fetch: {:?}; retrying\n", BStr::from_bytes(&state.data.res), other);
                    told = Some(other);
                }
            }
        }
        stopper.sleep(context, backoff);
        backoff = backoff.saturating_mul(2).min(BACKOFF_MAX_MS);
    }
}

/// One connection to one origin: fetches until nothing is left there, or something fails.
fn session(state: &WorkerState<FetchData>, context: &ThreadContext, complete: &mut KVec<Bytes>) -> FetchEnd {
    let stopper = &state.stopper;
    let Some(me) = tree::own_host() else { return FetchEnd::Idle };
    let res = state.data.res.as_slice();
    let dir_rel = concat(&[b"resource-", res]);
    let targets = match targets(&dir_rel, &me) {
        Ok(targets) => targets,
        Err(e) => return FetchEnd::Local(e),
    };
    let Some(first) = targets.iter().find(|t| !complete.iter().any(|c| c.as_slice() == t.name.as_slice())) else {
        return FetchEnd::Idle;
    };
    let origin = first.origin.as_slice();
    let Some(ip) = tree::host_ip(origin) else { return FetchEnd::Idle };
    let addr = SocketAddrV4::new(ip.octets, role_port(ip.port, PortRole::Log));
    let socket = match Socket::connect_shared(addr, TIMEOUTS, |s| stopper.install(s)) {
        Ok(socket) => socket,
        Err(e) => {
            stopper.clear();
            return if stopper.stopping() { FetchEnd::Stop } else { FetchEnd::Connect(e) };
        }
    };
    let mut conn = match Conn::for_role(socket, stopper, PortRole::Log) {
        Ok(conn) => conn,
        Err(e) => return FetchEnd::Connect(e),
    };
    if let Err(end) = handshake(&mut conn, &me, origin) {
        return end;
    }
    // Every target of this origin, in order, as far as there is data.
    let mut tag: u64 = 1;
    for target in targets.iter().filter(|t| t.origin.as_slice() == origin) {
        if complete.iter().any(|c| c.as_slice() == target.name.as_slice()) {
            continue;
        }
        match fetch_one(&mut conn, &mut tag, &dir_rel, target) {
            Ok(true) => {
                let mut name = KVec::new();
                if name.extend_from_slice(&target.name, GFP_KERNEL).is_ok() {
                    let _ = complete.push(name, GFP_KERNEL);
                }
            }
            // Still being written: look again soon.
            Ok(false) => break,
            Err(end) => return end,
        }
        if context.should_stop() {
            return FetchEnd::Stop;
        }
    }
    FetchEnd::Idle
}

/// The logfiles to fetch, in order: the one `replay-<me>` names, then for each later number
/// the logfile of the host (not this one) whose own version link for it exists here.
fn targets(dir_rel: &[u8], me: &[u8]) -> Result<KVec<Target>> {
    let mut out = KVec::new();
    let replay_rel = concat(&[dir_rel, b"/replay-", me]);
    let Some(value) = tree::link_value(&replay_rel) else { return Ok(out) };
    let text = core::str::from_utf8(&value).map_err(|_| EINVAL)?;
    let replay = ReplayLink::parse(text).map_err(|_| EINVAL)?;
    let dir = tree::mars_path(dir_rel)?;
    let listing = vfs::read_dir(dir.as_cstr(), MAX_DIR_ENTRIES)?;
    let mut nr = replay.log.nr;
    let mut origin = concat(&[replay.log.origin.as_str().as_bytes()]);
    for _ in 0..MAX_AHEAD {
        if origin.as_slice() != me {
            let mut name = crate::mars_core::text::FixedBuf::<128>::new();
            core::fmt::Write::write_fmt(&mut name, format_args!("log-{:09}-", nr)).map_err(|_| EINVAL)?;
            out.push(Target { name: concat(&[name.as_bytes(), &origin]), origin: concat(&[&origin]) }, GFP_KERNEL)?;
        }
        let Some(next) = nr.checked_add(1) else { break };
        // The host that wrote logfile `next`: its own version link for it is here and names
        // its own logfile (secondaries write version links for logfiles of others too).
        let writer = listing.entries.iter().find_map(|entry| {
            let name = core::str::from_utf8(&entry.name).ok()?;
            let rest = name.strip_prefix("version-")?;
            let (digits, host) = rest.split_once('-')?;
            if digits.len() != 9 || digits.parse::<u32>().ok()? != next || host.as_bytes() == me {
                return None;
            }
            let value = tree::link_value(&concat(&[dir_rel, b"/", name.as_bytes()]))?;
            let log = LogName { nr: next, origin: crate::mars_core::names::HostName::parse(host).ok()? };
            crate::logger::links::version_pos(&value, log).map(|_| host)
        });
        let Some(writer) = writer else { break };
        nr = next;
        origin = concat(&[writer.as_bytes()]);
    }
    Ok(out)
}

/// Says `Hello` on the log port and checks the `Welcome`.
fn handshake(conn: &mut Conn<'_>, me: &[u8], origin: &[u8]) -> core::result::Result<(), FetchEnd> {
    let me_text = core::str::from_utf8(me).map_err(|_| FetchEnd::Idle)?;
    let uuid = tree::link_value(b"uuid");
    let uuid_text = uuid.as_deref().and_then(|u| core::str::from_utf8(u).ok()).unwrap_or(ANY_UUID);
    let hello = Hello {
        min_version: MIN_PROTOCOL_VERSION,
        max_version: MAX_PROTOCOL_VERSION,
        role: PortRole::Log,
        features: KNOWN_FEATURES,
        cluster_uuid: uuid_text,
        host: me_text,
    };
    conn.writer.send(&conn.socket, 0, &Message::Hello(hello))?;
    let stopper = conn.stopper();
    let frame = conn.reader.read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
    match frame.message {
        Message::Welcome(welcome) => {
            accept_welcome(&welcome, &hello).map_err(|_| FetchEnd::Refused)?;
            if welcome.host.as_bytes() != origin {
                return Err(FetchEnd::Refused);
            }
            Ok(())
        }
        Message::Refuse(_) => Err(FetchEnd::Refused),
        other => Err(FetchEnd::Conn(ConnError::Unexpected(other.msg_type()))),
    }
}

/// Appends what the origin has of `target` beyond the local size. `Ok(true)`: the logfile is
/// complete here; `Ok(false)`: the origin is still writing it.
fn fetch_one(conn: &mut Conn<'_>, tag: &mut u64, dir_rel: &[u8], target: &Target) -> core::result::Result<bool, FetchEnd> {
    let rel = concat(&[dir_rel, b"/", &target.name]);
    let path = tree::mars_path(&rel).map_err(FetchEnd::Local)?;
    // The local copy is made when the first data arrive: an empty file of a logfile the origin
    // does not have would look like a second logfile with that number to the replay.
    let mut file = match File::open(path.as_cstr(), OpenMode::Read) {
        Ok(_) => Some(File::open(path.as_cstr(), OpenMode::ReadWriteCreate).map_err(FetchEnd::Local)?),
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(FetchEnd::Local(e)),
    };
    let mut offset = file.as_ref().map_or(0, File::size);
    let wire_path = concat(&[b"/mars/", &rel]);
    let wire_path = core::str::from_utf8(&wire_path).map_err(|_| FetchEnd::Local(EINVAL))?;
    let stopper = conn.stopper();
    let mut appended = false;
    let chunk = MAX_DATA_CHUNK as u64;
    // Up to WINDOW reads in flight, at consecutive chunk offsets; the server answers in order.
    // A `More` answer is always a full chunk, so the next answer continues where it ends.
    let mut next_request = offset;
    let mut in_flight = 0usize;
    let mut outcome: Option<core::result::Result<bool, FetchEnd>> = None;
    loop {
        while outcome.is_none() && in_flight < WINDOW {
            *tag = tag.wrapping_add(1);
            let request = LogRead { path: wire_path, offset: next_request, max_len: MAX_DATA_CHUNK as u32 };
            conn.writer.send(&conn.socket, *tag, &Message::LogRead(request))?;
            next_request = next_request.saturating_add(chunk);
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        let frame = conn.reader.read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
        in_flight -= 1;
        if outcome.is_some() {
            // Answers to reads beyond the end: nothing in them.
            continue;
        }
        match frame.message {
            Message::LogData(data) if data.offset == offset => {
                if !data.data.is_empty() {
                    if file.is_none() {
                        file = Some(File::open(path.as_cstr(), OpenMode::ReadWriteCreate).map_err(FetchEnd::Local)?);
                    }
                    let Some(file) = file.as_ref() else { return Err(FetchEnd::Local(EINVAL)) };
                    file.write_all_at(data.data, offset).map_err(FetchEnd::Local)?;
                    offset = offset.saturating_add(data.data.len() as u64);
                    appended = true;
                }
                match data.tail {
                    LogTail::More if data.data.len() as u64 == chunk => {}
                    // A short chunk with more to come: the reads in flight do not fit; ask anew.
                    LogTail::More => outcome = Some(Ok(false)),
                    LogTail::NotYet => outcome = Some(Ok(false)),
                    LogTail::Eof => outcome = Some(Ok(true)),
                }
            }
            Message::LogData(_) => outcome = Some(Err(FetchEnd::Conn(ConnError::Unexpected(MsgType::LogData)))),
            Message::Error(error) if error.code == ErrorCode::NotFound => outcome = Some(Ok(false)),
            Message::Error(error) => outcome = Some(Err(FetchEnd::Remote(error.code))),
            other => return Err(FetchEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        }
    }
    let result = outcome.unwrap_or(Ok(false));
    if let Some(file) = file.as_ref().filter(|_| appended) {
        // Durable before the replay may rely on it; then let the replay know.
        file.sync(SyncMode::DataSync).map_err(FetchEnd::Local)?;
        knobs::trigger(knobs::TRIGGER_LOCAL);
    }
    result
}
