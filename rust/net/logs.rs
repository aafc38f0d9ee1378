// SPDX-License-Identifier: GPL-2.0
//! Log shipping over port 7778 (`Documentation/protocol.rst`, "Log fetch messages").
//!
//! Server side ([`serve_logs`], in a `mars_serve` thread after the handshake): answers
//! `LogRead` for logfiles of `/mars/resource-*/` with `LogData`, never beyond the *durable
//! end*: for a logfile this host writes, the running logger's in-memory durable end
//! (`logger::durable`), else the position in its own version link (the logger writes it only
//! after the data are durable, every `logger_report_interval_s` and at every switch); for a
//! logfile this host fetched from another, its local size (the fetcher syncs each range). A logfile is finished (`Eof`) once a later logfile of the resource exists
//! here and the durable end is its size.
//!
//! Client side ([`Fetcher`], one `mars_fetch` thread per resource of a secondary with
//! `todo-<host>/connect` on): what to fetch next and up to where is
//! `mars_core::replica::fetch_step` (the function `tools/sim` checks), over a
//! `logger::facts::Snapshot` of the resource directory: from the logfile `replay-<host>`
//! names on, the first one whose local copy is shorter than its origin's durable end; the
//! range never goes beyond that end. The origin's durable end is the position in its version
//! link, raised by the `durable_end` of the origin's own recent answers. When nothing is
//! missing, the thread asks the origin of the newest logfile for its durable end every
//! 200 ms (a one-byte read). A range is read over `log_fetch_sockets` parallel connections
//! to the origin (`ips/ip-<origin>`, port + 1), chunk `i` on connection `i mod n`, and
//! appended in order; the copy is synced once per range (at most 16 MiB), then the strategy
//! is asked for a round (which lets the replay go on). After any failure it reconnects with
//! a backoff from 1 s doubling to 30 s.

use crate::kapi::file::{File, OpenMode, SyncMode};
use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::SocketAddrV4;
use crate::kapi::vfs::{self, FileKind};
use crate::knobs;
use crate::logger::durable::Loggers;
use crate::logger::facts::{Learned, Snapshot};
use crate::mars_core::replica::{fetch_step, FetchDecision, FetchFacts, FetchRefusal};
use crate::mars_core::tree::{strip_mars_root, Key, LogName, ResourceKey};
use crate::mars_core::wire::{
    ErrorCode, ErrorReply, LogData, LogRead, LogTail, Message, MsgType, PortRole, MAX_DATA_CHUNK,
};
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOENT, ENOMEM};
use kernel::prelude::*;
use kernel::str::BStr;

use super::client::{self, ClientError};
use super::conn::{Conn, ConnError};
use super::server::{role_port, TIMEOUTS};
use super::tree::{self, Bytes};
use super::{Shared, Stopper, Worker, WorkerState};

/// A fetcher that sent nothing for this long is gone (fetchers poll twice a second).
const SERVE_IDLE_MS: u32 = 60_000;
/// A reply must come within this time.
const REPLY_WAIT_MS: u32 = 15_000;
/// How often the origin of a logfile that is still being written is asked again.
const POLL_MS: u32 = 200;
/// First wait after a failure ...
const BACKOFF_MIN_MS: u32 = 1000;
/// ... doubling up to this.
const BACKOFF_MAX_MS: u32 = 30_000;
/// Entries of a resource directory looked at.
const MAX_DIR_ENTRIES: usize = 16384;
/// Reads a fetcher keeps in flight on each connection (the protocol allows 16).
const WINDOW: usize = 8;
/// The most bytes one fetch decision asks for (`FetchFacts::chunk_max`): the copy is synced
/// and the replay told after each range.
const RANGE_MAX: u64 = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Server

/// Serves `LogRead` requests on an accepted and welcomed connection of the authenticated host
/// `peer` until it ends: only logfiles of resources `peer` is a member of.
pub(super) fn serve_logs(
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
                let message = match &reply {
                    Ok(data) => Message::LogData(*data),
                    Err((code, message)) => Message::Error(ErrorReply {
                        code: *code,
                        message,
                    }),
                };
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
) -> core::result::Result<LogData<'b>, (ErrorCode, &'static str)> {
    let denied = (ErrorCode::Denied, "only logfiles of resources are served");
    let rel = strip_mars_root(request.path).ok_or(denied)?;
    let Ok(Key::Resource {
        res,
        key: ResourceKey::Log(log),
    }) = Key::parse(rel)
    else {
        return Err(denied);
    };
    if !tree::is_member(res.as_str().as_bytes(), peer) {
        return Err((ErrorCode::Denied, "not a member of this resource"));
    }
    let dir =
        tree::mars_path(&concat(&[b"resource-", res.as_str().as_bytes()])).map_err(|_| denied)?;
    let path = tree::mars_path(rel.as_bytes()).map_err(|_| denied)?;
    let file = match File::open(path.as_cstr(), OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e == ENOENT => return Err((ErrorCode::NotFound, "no such logfile here")),
        Err(_) => return Err((ErrorCode::Io, "cannot open the logfile")),
    };
    let size = file.size();
    let me = tree::own_host();
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
        data,
    })
}

/// The durable end of this host's logfile `log`: the position in its version link when that
/// names the logfile, else 0.
fn own_durable_end(dir: &vfs::PathBuf, log: LogName<'_>) -> u64 {
    let Ok(name) = version_name(log.nr, log.origin.as_str().as_bytes()) else {
        return 0;
    };
    let Some(value) = dir
        .child(&name)
        .ok()
        .and_then(|p| vfs::read_link(p.as_cstr()).ok())
    else {
        return 0;
    };
    crate::logger::links::version_pos(&value.value, log)
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(0)
}

/// Whether a logfile numbered above `nr` exists in `dir`.
fn has_later_logfile(dir: &vfs::PathBuf, nr: u32) -> bool {
    let Ok(listing) = vfs::read_dir(dir.as_cstr(), MAX_DIR_ENTRIES) else {
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
/// sockets are shut down).
pub(crate) struct Fetcher {
    _worker: Worker<FetchData>,
}

impl Fetcher {
    /// Starts fetching the logfiles of resource `res` for this host.
    pub(crate) fn start(res: &[u8]) -> Result<Self> {
        let shared = Shared::new(None)?;
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL)?;
        Ok(Fetcher {
            _worker: Worker::spawn(
                c_str!("mars_fetch"),
                &shared,
                FetchData { res: name },
                fetch_thread,
            )?,
        })
    }
}

/// How one step of a fetch thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchEnd {
    Stop,
    /// Data arrived, or a larger durable end was learned: decide again at once.
    Progress,
    /// Nothing to fetch from anybody now.
    Idle,
    /// `fetch_step` refuses (split brain, a hole, a local copy beyond its origin).
    Refuse(FetchRefusal),
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

impl From<ClientError> for FetchEnd {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Stopping => FetchEnd::Stop,
            ClientError::NotReady => FetchEnd::Idle,
            ClientError::Connect(e) => FetchEnd::Connect(e),
            ClientError::Refused(_) | ClientError::WrongHost | ClientError::BadProof => {
                FetchEnd::Refused
            }
            ClientError::Conn(e) => FetchEnd::Conn(e),
        }
    }
}

/// The connections to one origin: `log_fetch_sockets` of them, each with its own `Hello`.
struct Session<'s> {
    origin: Bytes,
    conns: KVec<Conn<'s>>,
    tag: u64,
    /// The connection the next probe goes to: probes rotate over all of them, so that none
    /// stays silent long enough for the origin to close it as idle (`IDLE_MS` there).
    next_probe: usize,
}

/// The fetch thread: steps until asked to stop.
fn fetch_thread(state: &WorkerState<FetchData>, context: &ThreadContext) {
    let stopper = &*state.stopper;
    let mut backoff = BACKOFF_MIN_MS;
    let mut told: Option<FetchEnd> = None;
    let mut learned: KVec<Learned> = KVec::new();
    let mut session: Option<Session<'_>> = None;
    while !context.should_stop() && !stopper.stopping() {
        let end = step(state, stopper, &mut session, &mut learned);
        match end {
            FetchEnd::Stop => break,
            FetchEnd::Progress => {
                backoff = BACKOFF_MIN_MS;
                told = None;
                continue;
            }
            FetchEnd::Idle => {
                backoff = BACKOFF_MIN_MS;
                stopper.sleep(context, POLL_MS);
                continue;
            }
            FetchEnd::Refuse(refusal) => {
                if told != Some(end) {
                    pr_warn!(
                        "{}: fetch stops: {}\n",
                        BStr::from_bytes(&state.data.res),
                        refusal.message()
                    );
                    told = Some(end);
                }
                stopper.sleep(context, BACKOFF_MAX_MS);
                continue;
            }
            other => {
                // The connections may be in any state: start afresh.
                session = None;
                stopper.clear();
                if told != Some(other) {
                    pr_notice!(
                        "{}: fetch: {:?}; retrying\n",
                        BStr::from_bytes(&state.data.res),
                        other
                    );
                    told = Some(other);
                }
            }
        }
        stopper.sleep(context, backoff);
        backoff = backoff.saturating_mul(2).min(BACKOFF_MAX_MS);
    }
}

/// One decision of `mars_core::replica::fetch_step` and what it asks for: fetch a range of a
/// logfile from its origin, or, when nothing is known to be missing, ask the origin of the
/// newest logfile for its durable end (a one-byte read; the reply carries `durable_end`).
fn step<'s>(
    state: &WorkerState<FetchData>,
    stopper: &'s Stopper,
    session: &mut Option<Session<'s>>,
    learned: &mut KVec<Learned>,
) -> FetchEnd {
    let Some(me) = tree::own_host() else {
        return FetchEnd::Idle;
    };
    let dir_rel = concat(&[b"resource-", state.data.res.as_slice()]);
    let dir = match tree::mars_path(&dir_rel) {
        Ok(dir) => dir,
        Err(e) => return FetchEnd::Local(e),
    };
    let snap = match Snapshot::read(&dir, &me, learned) {
        Ok(snap) => snap,
        Err(e) => return FetchEnd::Local(e),
    };
    let (Ok(Some(replay)), Ok(me_name), Ok(logs)) = (snap.replay(), snap.me(), snap.log_facts())
    else {
        return FetchEnd::Idle;
    };
    // What was learned about logfiles before the replayed one's predecessor is history.
    let oldest = replay.log.nr.saturating_sub(1);
    if learned.iter().any(|l| l.nr < oldest) {
        let mut kept = KVec::new();
        for l in core::mem::take(learned) {
            if l.nr >= oldest && kept.push(l, GFP_KERNEL).is_err() {
                break;
            }
        }
        *learned = kept;
    }
    let facts = FetchFacts {
        me: me_name,
        logging: false,
        replaying: replay.log,
        logs: &logs,
        chunk_max: RANGE_MAX,
    };
    let (log, from, to, probe) = match fetch_step(&facts) {
        FetchDecision::Fetch { log, from, to } => (log, from, to, false),
        FetchDecision::Refuse(refusal) => return FetchEnd::Refuse(refusal),
        FetchDecision::Idle => {
            let newest = logs
                .iter()
                .filter(|l| l.log.origin != me_name && l.log.nr >= replay.log.nr)
                .max_by_key(|l| l.log.nr);
            let Some(newest) = newest else {
                return FetchEnd::Idle;
            };
            (
                newest.log,
                newest.local_size,
                newest.local_size.saturating_add(1),
                true,
            )
        }
    };
    let known = logs
        .iter()
        .find(|l| l.log == log)
        .and_then(|l| l.origin_durable)
        .unwrap_or(0);
    let origin = log.origin.as_str().as_bytes();
    if session
        .as_ref()
        .is_none_or(|s| s.origin.as_slice() != origin || s.conns.len() != sockets_wanted())
    {
        *session = None;
        stopper.clear();
        match connect(stopper, &me, origin) {
            Ok(s) => *session = Some(s),
            Err(end) => {
                stopper.clear();
                return end;
            }
        }
    }
    let Some(session) = session.as_mut() else {
        return FetchEnd::Idle;
    };
    let mut name = crate::mars_core::text::FixedBuf::<128>::new();
    if core::fmt::Write::write_fmt(&mut name, format_args!("{}", log)).is_err() {
        return FetchEnd::Local(EINVAL);
    }
    let rel = concat(&[&dir_rel, b"/", name.as_bytes()]);
    let result = if probe {
        probe_durable(session, &rel, from).map(|d| (d, false))
    } else {
        fetch_range(session, &rel, from, to)
    };
    let (durable, appended) = match result {
        Ok(r) => r,
        Err(end) => return end,
    };
    if durable > known {
        let entry = learned
            .iter_mut()
            .find(|l| l.nr == log.nr && l.origin.as_slice() == origin);
        match entry {
            Some(entry) => entry.durable = entry.durable.max(durable),
            None => {
                let learned_one = Learned {
                    nr: log.nr,
                    origin: concat(&[origin]),
                    durable,
                };
                if learned.push(learned_one, GFP_KERNEL).is_err() {
                    return FetchEnd::Local(ENOMEM);
                }
            }
        }
    }
    if appended {
        // The replay may go on.
        knobs::trigger(knobs::TRIGGER_LOCAL);
        return FetchEnd::Progress;
    }
    // Nothing arrived: go on at once only if the origin has more than was known.
    if durable > known {
        FetchEnd::Progress
    } else {
        FetchEnd::Idle
    }
}

/// The number of parallel connections wanted now.
fn sockets_wanted() -> usize {
    usize::try_from(knobs::LOG_FETCH_SOCKETS.get())
        .unwrap_or(1)
        .clamp(1, super::MAX_THREAD_SOCKETS)
}

/// Opens `log_fetch_sockets` connections to `origin` and says `Hello` on each.
fn connect<'s>(
    stopper: &'s Stopper,
    me: &[u8],
    origin: &[u8],
) -> core::result::Result<Session<'s>, FetchEnd> {
    let Some(ip) = tree::host_ip(origin) else {
        return Err(FetchEnd::Idle);
    };
    let addr = SocketAddrV4::new(ip.octets, role_port(ip.port, PortRole::Log));
    let mut conns = KVec::new();
    for _ in 0..sockets_wanted() {
        let conn = client::connect(stopper, addr, PortRole::Log, me, origin, REPLY_WAIT_MS)
            .map_err(FetchEnd::from)?;
        conns
            .push(conn, GFP_KERNEL)
            .map_err(|_| FetchEnd::Local(ENOMEM))?;
    }
    Ok(Session {
        origin: concat(&[origin]),
        conns,
        tag: 0,
        next_probe: 0,
    })
}

/// Asks the origin for its durable end of the logfile at `rel` with a one-byte read at
/// `offset` (the local size); the byte is not kept. Returns the durable end (0 when the origin
/// does not have the logfile).
fn probe_durable(
    session: &mut Session<'_>,
    rel: &[u8],
    offset: u64,
) -> core::result::Result<u64, FetchEnd> {
    let wire_path = concat(&[b"/mars/", rel]);
    let wire_path = core::str::from_utf8(&wire_path).map_err(|_| FetchEnd::Local(EINVAL))?;
    let n = session.conns.len();
    let i = session.next_probe.checked_rem(n).unwrap_or(0);
    session.next_probe = i.wrapping_add(1);
    let Some(conn) = session.conns.get_mut(i) else {
        return Err(FetchEnd::Local(EINVAL));
    };
    session.tag = session.tag.wrapping_add(1);
    conn.writer.send(
        &conn.socket,
        session.tag,
        &Message::LogRead(LogRead {
            path: wire_path,
            offset,
            max_len: 1,
        }),
    )?;
    let stopper = conn.stopper();
    let frame = conn
        .reader
        .read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
    match frame.message {
        Message::LogData(data) if data.offset == offset => Ok(data.durable_end),
        Message::LogData(_) => Err(FetchEnd::Conn(ConnError::Unexpected(MsgType::LogData))),
        Message::Error(error) if error.code == ErrorCode::NotFound => Ok(0),
        Message::Error(error) => Err(FetchEnd::Remote(error.code)),
        other => Err(FetchEnd::Conn(ConnError::Unexpected(other.msg_type()))),
    }
}

/// Copies `[from, to)` of the logfile at `rel` from its origin, appending to the local copy
/// (which starts at `from`), and syncs the copy. The range is cut into chunks of
/// `MAX_DATA_CHUNK`; chunk `i` goes to connection `i mod n`, up to [`WINDOW`] in flight on
/// each. Every connection answers in order, so reading the connections round robin gives the
/// chunks in order: the copy only ever grows at its end, without buffering. Returns the
/// largest durable end the origin reported and whether anything was appended; stops early
/// (without error) when the origin has less than asked for.
fn fetch_range(
    session: &mut Session<'_>,
    rel: &[u8],
    from: u64,
    to: u64,
) -> core::result::Result<(u64, bool), FetchEnd> {
    let path = tree::mars_path(rel).map_err(FetchEnd::Local)?;
    // The local copy is made when the first data arrive: an empty file of a logfile the origin
    // does not have would look like a second logfile with that number to the replay.
    let mut file = match File::open(path.as_cstr(), OpenMode::Read) {
        Ok(_) => {
            Some(File::open(path.as_cstr(), OpenMode::ReadWriteCreate).map_err(FetchEnd::Local)?)
        }
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(FetchEnd::Local(e)),
    };
    let local = file.as_ref().map_or(0, File::size);
    if local != from {
        // The copy changed since the decision: decide again.
        return Ok((0, false));
    }
    let wire_path = concat(&[b"/mars/", rel]);
    let wire_path = core::str::from_utf8(&wire_path).map_err(|_| FetchEnd::Local(EINVAL))?;
    let n = session.conns.len();
    if n == 0 {
        return Err(FetchEnd::Local(EINVAL));
    }
    let chunk = MAX_DATA_CHUNK as u64;
    let mut in_flight = [0usize; super::MAX_THREAD_SOCKETS];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut offset = from;
    let mut durable = 0u64;
    let mut appended = false;
    let mut outcome: Option<FetchEnd> = None;
    let mut short = false;
    loop {
        // Fill the windows, chunk by chunk, round robin.
        while outcome.is_none() && !short {
            let start = from.saturating_add(sent.saturating_mul(chunk));
            if start >= to {
                break;
            }
            let c = (sent % n as u64) as usize;
            let (Some(conn), Some(flying)) = (session.conns.get_mut(c), in_flight.get_mut(c))
            else {
                break;
            };
            if *flying >= WINDOW {
                break;
            }
            let len = (to - start).min(chunk) as u32;
            session.tag = session.tag.wrapping_add(1);
            let request = LogRead {
                path: wire_path,
                offset: start,
                max_len: len,
            };
            conn.writer
                .send(&conn.socket, session.tag, &Message::LogRead(request))?;
            *flying += 1;
            sent += 1;
        }
        if received == sent {
            break;
        }
        let c = (received % n as u64) as usize;
        let (Some(conn), Some(flying)) = (session.conns.get_mut(c), in_flight.get_mut(c)) else {
            return Err(FetchEnd::Local(EINVAL));
        };
        let stopper = conn.stopper();
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
        *flying -= 1;
        received += 1;
        if outcome.is_some() || short {
            // Answers to reads after the end of what the origin had: nothing used.
            continue;
        }
        let wanted = (to - offset).min(chunk);
        match frame.message {
            Message::LogData(data) if data.offset == offset => {
                let len = data.data.len() as u64;
                if len > wanted || offset.saturating_add(len) > data.durable_end {
                    outcome = Some(FetchEnd::Conn(ConnError::Unexpected(MsgType::LogData)));
                    continue;
                }
                durable = durable.max(data.durable_end);
                if len > 0 {
                    if file.is_none() {
                        file = Some(
                            File::open(path.as_cstr(), OpenMode::ReadWriteCreate)
                                .map_err(FetchEnd::Local)?,
                        );
                    }
                    let Some(file) = file.as_ref() else {
                        return Err(FetchEnd::Local(EINVAL));
                    };
                    if file.size() != offset {
                        // The replay cut the copy at a damaged record meanwhile: decide again.
                        short = true;
                        continue;
                    }
                    file.write_all_at(data.data, offset)
                        .map_err(FetchEnd::Local)?;
                    offset = offset.saturating_add(len);
                    appended = true;
                }
                // Less than asked for: the origin has no more now; the reads after this one
                // do not continue the copy.
                short = len < wanted;
            }
            Message::LogData(_) => {
                outcome = Some(FetchEnd::Conn(ConnError::Unexpected(MsgType::LogData)))
            }
            Message::Error(error) if error.code == ErrorCode::NotFound => short = true,
            Message::Error(error) => outcome = Some(FetchEnd::Remote(error.code)),
            other => return Err(FetchEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        }
    }
    if let Some(file) = file.as_ref().filter(|_| appended) {
        // One sync per range, not per chunk: what this host serves or replays is durable.
        file.sync(SyncMode::DataSync).map_err(FetchEnd::Local)?;
    }
    match outcome {
        Some(end) => Err(end),
        None => Ok((durable, appended)),
    }
}
