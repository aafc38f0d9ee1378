// SPDX-License-Identifier: GPL-2.0
//! The client side of port 7778 ([`Fetcher`], one `mars_fetch` thread per resource of a
//! secondary with `todo-<host>/connect` on), run by the client session loop (`net::session`)
//! step by step: see `net::logs` for what it fetches and how.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::kapi::file::{File, OpenMode, SyncMode};
use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::SocketAddrV4;
use crate::knobs;
use crate::logger::facts::{Learned, Snapshot};
use crate::logger::replayer::CopyLock;
use crate::mars_core::pace::pace;
use crate::mars_core::replica::{fetch_step, FetchDecision, FetchFacts, FetchRefusal};
use crate::mars_core::wire::{ErrorCode, LogRead, Message, MsgType, PortRole, MAX_DATA_CHUNK};
use crate::tree;
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOENT, ENOMEM};
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

use super::super::client;
use super::super::conn::{monotonic_ns, reply_wait_ms, Conn, ConnError};
use super::super::members;
use super::super::server::{role_port, TIMEOUTS};
use super::super::session::{self, Ended, Next, Outcome};
use super::super::{concat, Bytes, Shared, Stopper, Worker, WorkerState, MAX_THREAD_SOCKETS};

/// How often the origin of a logfile that is still being written is asked again.
const POLL_MS: u32 = 200;
/// Longest wait after failures (the session loop starts at 1 s and doubles).
const BACKOFF_MAX_MS: u32 = 30_000;
/// Reads a fetcher keeps in flight on each connection (the protocol allows 16).
const WINDOW: usize = 8;
/// Reads in flight on each connection under `log_fetch_speed_limit_kib`: the answers wait in
/// the socket buffers while the fetcher paces, so few of them.
const LIMITED_WINDOW: usize = 2;
/// The smallest chunk a read asks for under a speed limit.
const MIN_LIMITED_CHUNK: u64 = 4096;
/// When this host's log fetches may go on under `log_fetch_speed_limit_kib` (monotonic ns,
/// `mars_core::pace`): one for every fetch thread, so the limit bounds them all together.
static LINK_FREE_NS: AtomicU64 = AtomicU64::new(0);
/// The limit [`LINK_FREE_NS`] was placed at: a new limit starts afresh.
static LINK_LIMIT_KIB: AtomicU64 = AtomicU64::new(0);
/// The most bytes one fetch decision asks for (`FetchFacts::chunk_max`): the copy is synced
/// and the replay told after each range.
const RANGE_MAX: u64 = 16 << 20;

/// What a fetch thread works for.
pub(crate) struct FetchData {
    /// The resource name.
    res: Bytes,
    /// Taken from the check of a copy's size to the end of the append after it (shared with
    /// the resource's replay, which cuts damaged copies under it).
    copy_lock: CopyLock,
    /// Bytes of logfile data fetched and appended for the resource, kept by the strategy
    /// across fetch threads (it publishes `amount-file_bytes` and `amount-file_rate`).
    fetched: Arc<AtomicU64>,
}

/// A running fetch of one resource's logfiles; dropping it stops the thread promptly (its
/// sockets are shut down).
pub(crate) struct Fetcher {
    _worker: Worker<FetchData>,
}

impl Fetcher {
    /// Starts fetching the logfiles of resource `res` for this host; `copy_lock` is the one
    /// the resource's replay takes; the bytes appended are added to `fetched`.
    pub(crate) fn start(res: &[u8], copy_lock: CopyLock, fetched: Arc<AtomicU64>) -> Result<Self> {
        let shared = Shared::new(None)?;
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL)?;
        Ok(Fetcher {
            _worker: Worker::spawn(
                c_str!("mars_fetch"),
                &shared,
                FetchData {
                    res: name,
                    copy_lock,
                    fetched,
                },
                fetch_thread,
            )?,
        })
    }
}

/// How one step of a fetch thread ended.
type FetchEnd = Ended<FetchReason>;

/// The fetch's own ends of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchReason {
    /// Data arrived, or a larger durable end was learned: decide again at once.
    Progress,
    /// Nothing to fetch from anybody now.
    Idle,
    /// `fetch_step` refuses (split brain, a hole, a local copy beyond its origin).
    Refuse(FetchRefusal),
}

/// Data arrived, or a larger durable end was learned.
const PROGRESS: FetchEnd = Ended::Role(FetchReason::Progress);
/// Nothing to fetch from anybody now.
const IDLE: FetchEnd = Ended::Role(FetchReason::Idle);

impl Outcome for FetchReason {
    fn next(&self) -> Next {
        match self {
            FetchReason::Progress => Next::Again,
            FetchReason::Idle => Next::Idle(POLL_MS),
            // Only a change of the tree can lift it: look again after the longest wait.
            FetchReason::Refuse(_) => Next::Retry { at_most: true },
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
    let res = BStr::from_bytes(&state.data.res);
    let mut learned: KVec<Learned> = KVec::new();
    let mut connected: Option<Session<'_>> = None;
    session::run(
        stopper,
        context,
        BACKOFF_MAX_MS,
        |_| {
            let end = step(state, stopper, context, &mut connected, &mut learned);
            if matches!(end.next(), Next::Retry { .. })
                && !matches!(end, Ended::Role(FetchReason::Refuse(_)))
            {
                // The connections may be in any state: start afresh.
                connected = None;
                stopper.clear();
            }
            end
        },
        |end| match end {
            Ended::Role(FetchReason::Refuse(refusal)) => {
                pr_warn!("{}: fetch stops: {}\n", res, refusal.message())
            }
            other => pr_notice!("{}: fetch: {:?}; retrying\n", res, other),
        },
    );
}

/// One decision of `mars_core::replica::fetch_step` and what it asks for: fetch a range of a
/// logfile from its origin, or, when nothing is known to be missing, ask the origin of the
/// newest logfile for its durable end (a one-byte read; the reply carries `durable_end`).
fn step<'s>(
    state: &WorkerState<FetchData>,
    stopper: &'s Stopper,
    context: &ThreadContext,
    session: &mut Option<Session<'s>>,
    learned: &mut KVec<Learned>,
) -> FetchEnd {
    let Some(me) = members::own_host() else {
        return IDLE;
    };
    let dir_rel = concat(&[b"resource-", state.data.res.as_slice()]);
    let dir = match tree::path(&dir_rel) {
        Ok(dir) => dir,
        Err(e) => return FetchEnd::Local(e),
    };
    let snap = match Snapshot::read(&dir, &me, learned) {
        Ok(snap) => snap,
        Err(e) => return FetchEnd::Local(e),
    };
    let (Ok(Some(replay)), Ok(me_name), Ok(logs)) = (snap.replay(), snap.me(), snap.log_facts())
    else {
        return IDLE;
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
        FetchDecision::Refuse(refusal) => return Ended::Role(FetchReason::Refuse(refusal)),
        FetchDecision::Idle => {
            let newest = logs
                .iter()
                .filter(|l| l.log.origin != me_name && l.log.nr >= replay.log.nr)
                .max_by_key(|l| l.log.nr);
            let Some(newest) = newest else {
                return IDLE;
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
    if session.as_ref().is_none_or(|s| {
        s.origin.as_slice() != origin
            || s.conns.len() != sockets_wanted()
            || s.conns.iter().any(super::super::pack::outdated)
    }) {
        *session = None;
        stopper.clear();
        match connect(stopper, &me, origin) {
            Ok(s) => {
                pr_info!(
                    "{}: fetch: connected to {} over {} connections, compression {}\n",
                    BStr::from_bytes(&state.data.res),
                    BStr::from_bytes(origin),
                    s.conns.len(),
                    s.conns
                        .first()
                        .map_or("none", |c| super::super::pack::agreed_name(c.features))
                );
                *session = Some(s)
            }
            Err(end) => {
                stopper.clear();
                return end;
            }
        }
    }
    let Some(session) = session.as_mut() else {
        return IDLE;
    };
    let mut name = crate::mars_core::text::FixedBuf::<128>::new();
    if core::fmt::Write::write_fmt(&mut name, format_args!("{}", log)).is_err() {
        return FetchEnd::Local(EINVAL);
    }
    let rel = concat(&[&dir_rel, b"/", name.as_bytes()]);
    let result = if probe {
        probe_durable(session, &rel, from).map(|d| (d, false))
    } else {
        fetch_range(session, context, &state.data, &rel, from, to)
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
        return PROGRESS;
    }
    // Nothing arrived: go on at once only if the origin has more than was known.
    if durable > known {
        PROGRESS
    } else {
        IDLE
    }
}

/// The number of parallel connections wanted now.
fn sockets_wanted() -> usize {
    usize::try_from(knobs::LOG_FETCH_SOCKETS.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREAD_SOCKETS)
}

/// Opens `log_fetch_sockets` connections to `origin` and says `Hello` on each.
fn connect<'s>(
    stopper: &'s Stopper,
    me: &[u8],
    origin: &[u8],
) -> core::result::Result<Session<'s>, FetchEnd> {
    let Some(ip) = members::host_ip(origin) else {
        return Err(IDLE);
    };
    let addr = SocketAddrV4::new(ip.octets, role_port(ip.port, PortRole::Log));
    let mut conns = KVec::new();
    for _ in 0..sockets_wanted() {
        let conn = client::connect(stopper, addr, PortRole::Log, me, origin, reply_wait_ms())
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
        .read(&conn.socket, stopper, TIMEOUTS.recv_ms, reply_wait_ms())?;
    match frame.message {
        Message::LogData(data) if data.offset == offset => Ok(data.durable_end),
        Message::LogData(_) => Err(FetchEnd::Conn(ConnError::Unexpected(MsgType::LogData))),
        Message::Error(error) if error.code == ErrorCode::NotFound => Ok(0),
        Message::Error(error) => Err(FetchEnd::Remote(error.code)),
        other => Err(FetchEnd::Conn(ConnError::Unexpected(other.msg_type()))),
    }
}

/// The speed limit of log fetches now, KiB/s (0: none).
fn speed_limit_kib() -> u64 {
    u64::try_from(knobs::LOG_FETCH_SPEED_LIMIT_KIB.get()).unwrap_or(0)
}

/// The bytes one read asks for: `MAX_DATA_CHUNK`; under a speed limit at most a quarter of a
/// second's worth (at least [`MIN_LIMITED_CHUNK`]), so that the pauses between reads stay short.
fn chunk_len(limit_kib: u64) -> u64 {
    let chunk = MAX_DATA_CHUNK as u64;
    if limit_kib == 0 {
        return chunk;
    }
    (limit_kib.saturating_mul(1024) / 4).clamp(MIN_LIMITED_CHUNK, chunk)
}

/// Counts `bytes` of logfile data that arrived (`log_fetch_bytes` and the resource's
/// `fetched`) and, under `log_fetch_speed_limit_kib`, waits until the link shared by all fetch
/// threads is free for them (`mars_core::pace`).
fn pace_received(stopper: &Stopper, context: &ThreadContext, fetched: &AtomicU64, bytes: u64) {
    knobs::LOG_FETCH_BYTES.fetch_add(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
    fetched.fetch_add(bytes, Ordering::Relaxed);
    let limit = speed_limit_kib();
    if limit == 0 {
        return;
    }
    let now = monotonic_ns();
    if LINK_LIMIT_KIB.swap(limit, Ordering::AcqRel) != limit {
        LINK_FREE_NS.store(now, Ordering::Release);
    }
    let mut free = LINK_FREE_NS.load(Ordering::Acquire);
    let paced = loop {
        let paced = pace(free, now, bytes, limit);
        match LINK_FREE_NS.compare_exchange_weak(
            free,
            paced.free_ns,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break paced,
            Err(current) => free = current,
        }
    };
    let wait_ms = paced.wait_ns.div_ceil(1_000_000);
    if wait_ms > 0 {
        // A stop ends the wait.
        stopper.sleep(context, u32::try_from(wait_ms).unwrap_or(u32::MAX));
    }
}

/// Copies `[from, to)` of the logfile at `rel` from its origin, appending to the local copy
/// (which starts at `from`), and syncs the copy. The range is cut into chunks of
/// `MAX_DATA_CHUNK` (smaller under a speed limit, [`chunk_len`]); chunk `i` goes to connection
/// `i mod n`, up to [`WINDOW`] in flight on each ([`LIMITED_WINDOW`] under a speed limit).
/// Every connection answers in order, so reading the connections round robin gives the
/// chunks in order: the copy only ever grows at its end, without buffering. After each chunk
/// appended it waits as the speed limit asks ([`pace_received`]). Returns the largest durable
/// end the origin reported and whether anything was appended; stops early (without error)
/// when the origin has less than asked for.
fn fetch_range(
    session: &mut Session<'_>,
    context: &ThreadContext,
    work: &FetchData,
    rel: &[u8],
    from: u64,
    to: u64,
) -> core::result::Result<(u64, bool), FetchEnd> {
    let path = tree::path(rel).map_err(FetchEnd::Local)?;
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
    let limit = speed_limit_kib();
    let chunk = chunk_len(limit);
    let window = if limit == 0 { WINDOW } else { LIMITED_WINDOW };
    let mut in_flight = [0usize; MAX_THREAD_SOCKETS];
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
            if *flying >= window {
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
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, reply_wait_ms())?;
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
                    let copying = work.copy_lock.lock();
                    if file.size() != offset {
                        // The replay cut the copy at a damaged record meanwhile: decide again.
                        short = true;
                        continue;
                    }
                    file.write_all_at(data.data, offset)
                        .map_err(FetchEnd::Local)?;
                    drop(copying);
                    offset = offset.saturating_add(len);
                    appended = true;
                    pace_received(stopper, context, &work.fetched, len);
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
