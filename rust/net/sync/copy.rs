// SPDX-License-Identifier: GPL-2.0
//! The client side of port 7779 ([`Syncer`], one `mars_sync` thread per resource of a
//! secondary whose sync is due, started and stopped by the strategy), run by the client
//! session loop (`net::session`): see `net::sync` for what it does.

use core::sync::atomic::Ordering;

use crate::brick::Output;
use crate::clock;
use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::SocketAddrV4;
use crate::kapi::time::real_time;
use crate::knobs;
use crate::mars_core::sync::{
    claim_holds, progress, sums_share, throttle_delay_ms, MismatchRuns, Run, StatusClaim,
};
use crate::mars_core::tree_value::HostOrNone;
use crate::mars_core::wire::{
    DigestAlg, Message, PortRole, SyncRead, SyncSumsRead, MAX_DATA_CHUNK,
};
use crate::tree;
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

use super::super::client;
use super::super::conn::{Conn, ConnError};
use super::super::members;
use super::super::server::{role_port, TIMEOUTS};
use super::super::session::{self, Ended, Next, Outcome};
use super::super::{concat, Bytes, Shared, Stopper, Worker, WorkerState, MAX_THREAD_SOCKETS};
use super::block::{digest_at, local_digests, BlockBuf};

/// Block size of fast full sync digests.
pub(crate) const SUM_BLOCK: u32 = 64 * 1024;
/// Bytes one client window covers: one checksum request, then the transfers, then a flush
/// and a progress update.
pub(crate) const WINDOW: u64 = 16 * 1024 * 1024;
/// A reply must come within this time (a checksum reply reads a whole window).
const REPLY_WAIT_MS: u32 = 60_000;
/// A connection that carried no request for this long gets a `Ping` (the server closes one
/// silent for a minute).
const KEEPALIVE_MS: u32 = 20_000;
/// Longest wait after failures (the session loop starts at 1 s and doubles).
const BACKOFF_MAX_MS: u32 = 10_000;
/// How long the end of a sync waits for a fresh heartbeat of the primary.
const FINISH_WAIT_MS: u32 = 120_000;
/// Most reads in flight (the `sync_parallel` knob's bound).
pub(crate) const MAX_PARALLEL: usize = 16;
/// How long a sync with nothing to do waits before it looks again.
const IDLE_MS: u32 = 1000;

/// What a sync thread works for.
pub(crate) struct SyncJob {
    res: Bytes,
    data: Arc<dyn Output>,
}

/// A running full sync of one resource; dropping it stops the thread promptly (its socket is
/// shut down). Its progress is in `syncstatus-<host>`.
pub(crate) struct Syncer {
    _worker: Worker<SyncJob>,
}

impl Syncer {
    /// Starts syncing resource `res` onto `data` (the attached local data device).
    pub(crate) fn start(res: &[u8], data: Arc<dyn Output>) -> Result<Self> {
        let shared = Shared::new(None)?;
        let mut name = KVec::new();
        name.extend_from_slice(res, GFP_KERNEL)?;
        Ok(Syncer {
            _worker: Worker::spawn(
                c_str!("mars_sync"),
                &shared,
                SyncJob { res: name, data },
                sync_thread,
            )?,
        })
    }
}

/// Why a sync session ended.
type SyncEnd = Ended<SyncReason>;

/// The sync's own ends of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncReason {
    /// Nothing to do now (finished, or links missing).
    Idle,
    /// `syncstatus-<me>` was changed by someone else: start over from its value.
    Restart,
    /// `sync_sockets` changed: connect anew at once.
    Reconnect,
    /// The primary sent an answer that does not fit the request.
    Mismatch,
    /// The primary's heartbeat did not come in time after the copy.
    NoHeartbeat,
}

/// Nothing to do now.
const IDLE: SyncEnd = Ended::Role(SyncReason::Idle);
/// `syncstatus-<me>` was changed by someone else.
const RESTART: SyncEnd = Ended::Role(SyncReason::Restart);

impl Outcome for SyncReason {
    fn next(&self) -> Next {
        match self {
            SyncReason::Idle => Next::Idle(IDLE_MS),
            SyncReason::Restart | SyncReason::Reconnect => Next::Again,
            SyncReason::Mismatch | SyncReason::NoHeartbeat => Next::Retry { at_most: false },
        }
    }
}

/// The sync thread: sessions with the designated primary until asked to stop.
fn sync_thread(state: &WorkerState<SyncJob>, context: &ThreadContext) {
    let res = BStr::from_bytes(&state.data.res);
    session::run(
        &state.stopper,
        context,
        BACKOFF_MAX_MS,
        |_| {
            let end = sync_session(state, context);
            if end == RESTART {
                pr_info!("{}: sync: syncstatus was reset; starting over\n", res);
            }
            end
        },
        |end| pr_notice!("{}: sync: {:?}; retrying\n", res, end),
    );
}

/// A link of the resource directory, as text.
fn res_link(res: &[u8], name: &[&[u8]]) -> Option<Bytes> {
    let mut rel = concat(&[b"resource-", res, b"/"]);
    for part in name {
        rel.extend_from_slice(part, GFP_KERNEL).ok()?;
    }
    tree::value(rel.as_slice())
}

fn parse_u64(value: Option<Bytes>) -> Option<u64> {
    core::str::from_utf8(&value?)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
}

/// `syncstatus-<me>` of `res` as it is now: its value and stamp (`None`: missing, deleted or
/// malformed).
fn read_claim(res: &[u8], me: &[u8]) -> Option<StatusClaim> {
    let rel = concat(&[b"resource-", res, b"/syncstatus-", me]);
    let link = tree::read_link(rel.as_slice()).ok()?;
    let value = core::str::from_utf8(&link.value)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(StatusClaim {
        value,
        stamp: link.mtime,
    })
}

/// Whether `syncstatus-<me>` still holds `claim` (nobody else wrote it meanwhile).
fn claim_still_holds(res: &[u8], me: &[u8], claim: &StatusClaim) -> bool {
    let rel = concat(&[b"resource-", res, b"/syncstatus-", me]);
    let current = tree::read_link(rel.as_slice()).ok();
    let value = current
        .as_ref()
        .and_then(|l| core::str::from_utf8(&l.value).ok());
    claim_holds(claim, value, current.as_ref().map(|l| l.mtime))
}

/// Writes the link `resource-<res>/<name>` with a fresh stamp, unless it holds `value`.
fn write_res_link(res: &[u8], name: &[&[u8]], value: &[u8]) -> Result {
    let mut rel = concat(&[b"resource-", res, b"/"]);
    for part in name {
        rel.extend_from_slice(part, GFP_KERNEL)?;
    }
    tree::update(rel.as_slice(), value)
}

fn decimal(value: u64) -> crate::mars_core::text::FixedBuf<24> {
    let mut text = crate::mars_core::text::FixedBuf::<24>::new();
    let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{}", value));
    text
}

/// Milliseconds since boot (real time is enough for pacing).
fn now_ms() -> u64 {
    let t = real_time();
    u64::try_from(t.sec)
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(u64::from(t.nsec / 1_000_000))
}

/// Transfer pacing for the bandwidth limit.
struct Pace {
    start_ms: u64,
    bytes: u64,
}

impl Pace {
    fn account(&mut self, stopper: &Stopper, context: &ThreadContext, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        let limit = u64::try_from(knobs::SYNC_SPEED_LIMIT_KIB.get()).unwrap_or(0);
        let elapsed = now_ms().saturating_sub(self.start_ms);
        let delay = throttle_delay_ms(self.bytes, elapsed, limit);
        if delay > 0 {
            stopper.sleep(context, u32::try_from(delay.min(10_000)).unwrap_or(10_000));
        }
        if limit == 0 || elapsed > 10_000 {
            // Restart the measurement now and then (a changed limit takes effect soon).
            self.start_ms = now_ms();
            self.bytes = 0;
        }
    }
}

/// One session with the designated primary (`sync_sockets` connections): syncs until done or
/// something fails.
fn sync_session(state: &WorkerState<SyncJob>, context: &ThreadContext) -> SyncEnd {
    let stopper = &state.stopper;
    let res = state.data.res.as_slice();
    let Some(me) = members::own_host() else {
        return IDLE;
    };
    let Some(primary_value) = res_link(res, &[b"primary"]) else {
        return IDLE;
    };
    let primary = match core::str::from_utf8(&primary_value)
        .ok()
        .and_then(|p| HostOrNone::parse(p).ok())
    {
        Some(HostOrNone::Host(h)) if h.as_str().as_bytes() != me.as_slice() => {
            concat(&[h.as_str().as_bytes()])
        }
        _ => return IDLE,
    };
    let Some(size) = parse_u64(res_link(res, &[b"size"])) else {
        return IDLE;
    };
    let Some(claim) = read_claim(res, &me) else {
        return IDLE;
    };
    let start = claim.value;
    if start >= size {
        return IDLE;
    }
    let Some(ip) = members::host_ip(&primary) else {
        return IDLE;
    };
    let addr = SocketAddrV4::new(ip.octets, role_port(ip.port, PortRole::Sync));
    // The `sync_sockets` connections.
    let mut conn = match Bundle::connect(stopper, addr, &me, &primary) {
        Ok(bundle) => bundle,
        Err(end) => {
            stopper.clear();
            return end;
        }
    };
    pr_info!(
        "{}: sync: connected to {} over {} connections, copying from byte {}, block digest {}, compression {}\n",
        BStr::from_bytes(res),
        BStr::from_bytes(&primary),
        conn.conns.len(),
        start,
        conn.alg.map_or("none agreed", |alg| alg.algo().name()),
        conn.conns
            .first()
            .map_or("none", |c| super::super::pack::agreed_name(c.features))
    );
    let Ok(res_text) = core::str::from_utf8(res) else {
        return SyncEnd::Local(EINVAL);
    };
    let name = BStr::from_bytes(res);
    let claim = match copy(&mut conn, state, context, res_text, &me, claim, size) {
        Ok(claim) => claim,
        Err(end) => return end,
    };
    drop(conn);
    pr_info!(
        "{}: sync: copy of {} bytes finished, waiting for the primary's replay position\n",
        name,
        size - start
    );
    match finish(state, context, res, &me, &primary, size, &claim) {
        Ok(()) => {
            pr_info!("{}: sync finished\n", name);
            knobs::trigger(knobs::TRIGGER_LOCAL | 4);
            IDLE
        }
        Err(end) => end,
    }
}

/// The number of parallel connections wanted now.
fn sockets_wanted() -> usize {
    usize::try_from(knobs::SYNC_SOCKETS.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREAD_SOCKETS)
}

/// The connections of one session to the primary: `sync_sockets` of them, each with its own
/// handshake, counted in `sync_connections` while they are open. Requests are spread over
/// them in connection order; each connection answers its requests in order.
struct Bundle<'s> {
    conns: KVec<Conn<'s>>,
    /// The block digest of fast full sync: the preferred one every connection agreed on in
    /// its handshake (offered by both ends, disabled by neither); `None`: no common digest,
    /// every block is transferred.
    alg: Option<DigestAlg>,
    tag: u64,
    /// When a request last went out on each connection ([`now_ms`]).
    last_sent: [u64; MAX_THREAD_SOCKETS],
}

impl<'s> Bundle<'s> {
    /// Opens `sync_sockets` connections to `primary` at `addr` and says `Hello` on each.
    fn connect(
        stopper: &'s Stopper,
        addr: SocketAddrV4,
        me: &[u8],
        primary: &[u8],
    ) -> core::result::Result<Self, SyncEnd> {
        let mut bundle = Bundle {
            conns: KVec::new(),
            alg: None,
            tag: 0,
            last_sent: [now_ms(); MAX_THREAD_SOCKETS],
        };
        for _ in 0..sockets_wanted() {
            let conn = client::connect(stopper, addr, PortRole::Sync, me, primary, REPLY_WAIT_MS)
                .map_err(SyncEnd::from)?;
            bundle
                .conns
                .push(conn, GFP_KERNEL)
                .map_err(|_| SyncEnd::Local(ENOMEM))?;
            knobs::SYNC_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        }
        let agreed = bundle
            .conns
            .iter()
            .fold(u64::MAX, |features, conn| features & conn.features);
        bundle.alg = DigestAlg::preferred(agreed);
        Ok(bundle)
    }

    /// Sends a request on connection `c`.
    fn send(&mut self, c: usize, message: &Message<'_>) -> core::result::Result<(), SyncEnd> {
        let conn = self.conns.get_mut(c).ok_or(SyncEnd::Local(EINVAL))?;
        self.tag = self.tag.wrapping_add(1);
        conn.writer.send(&conn.socket, self.tag, message)?;
        if let Some(last) = self.last_sent.get_mut(c) {
            *last = now_ms();
        }
        Ok(())
    }

    /// Reads the next reply on connection `c` (skipping the `Pong`s of keepalives) and hands
    /// it to `f`.
    fn reply<R>(
        &mut self,
        c: usize,
        f: impl FnOnce(Message<'_>) -> core::result::Result<R, SyncEnd>,
    ) -> core::result::Result<R, SyncEnd> {
        let conn = self.conns.get_mut(c).ok_or(SyncEnd::Local(EINVAL))?;
        let stopper = conn.stopper();
        loop {
            let frame = conn
                .reader
                .read(&conn.socket, stopper, TIMEOUTS.recv_ms, REPLY_WAIT_MS)?;
            match frame.message {
                Message::Pong => continue,
                Message::Error(error) => return Err(SyncEnd::Remote(error.code)),
                message => return f(message),
            }
        }
    }

    /// Sends a `Ping` on every connection that carried no request for [`KEEPALIVE_MS`] (a
    /// slow, paced sync leaves some of them silent for long; the server closes a connection
    /// silent for a minute). The `Pong` is skipped when the connection's next reply is read.
    fn keepalive(&mut self) -> core::result::Result<(), SyncEnd> {
        let now = now_ms();
        for c in 0..self.conns.len() {
            if self
                .last_sent
                .get(c)
                .is_some_and(|&last| now.saturating_sub(last) >= u64::from(KEEPALIVE_MS))
            {
                self.send(c, &Message::Ping)?;
            }
        }
        Ok(())
    }
}

impl Drop for Bundle<'_> {
    fn drop(&mut self) {
        knobs::SYNC_CONNECTIONS.fetch_sub(self.conns.len() as i64, Ordering::Relaxed);
    }
}

/// Asks the primary for the digests of the `count` blocks of the window `[pos, window_end)`,
/// shared among the connections ([`sums_share`]: the primary reads the parts in parallel),
/// computes the local digests meanwhile into `local`, and collects the primary's into `remote`.
fn window_sums(
    alg: DigestAlg,
    bundle: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    res: &str,
    pos: u64,
    window_end: u64,
    count: usize,
    buf: &mut BlockBuf,
    scratch: &mut [u8],
    local: &mut KVVec<u8>,
    remote: &mut KVVec<u8>,
) -> core::result::Result<(), SyncEnd> {
    let output = &*state.data.data;
    let parts = bundle.conns.len().min(count).max(1);
    let part = |p: usize| -> core::result::Result<(u64, usize), SyncEnd> {
        let (first, blocks) = sums_share(count, parts, p);
        let offset = (first as u64)
            .checked_mul(u64::from(SUM_BLOCK))
            .and_then(|o| o.checked_add(pos));
        Ok((offset.ok_or(SyncEnd::Local(EINVAL))?, blocks))
    };
    for p in 0..parts {
        let (offset, blocks) = part(p)?;
        let count16 = u16::try_from(blocks).map_err(|_| SyncEnd::Local(EINVAL))?;
        let request = SyncSumsRead {
            resource: res,
            offset,
            block_size: SUM_BLOCK,
            count: count16,
            alg,
        };
        bundle.send(p, &Message::SyncSumsRead(request))?;
    }
    // The local digests while the primary computes its own.
    local_digests(
        alg, output, buf, scratch, pos, window_end, SUM_BLOCK, count, local,
    )
    .map_err(SyncEnd::Local)?;
    for p in 0..parts {
        let (offset, blocks) = part(p)?;
        bundle.reply(p, |message| match message {
            Message::SyncSums(sums)
                if sums.offset == offset
                    && sums.digests.alg() == alg
                    && sums.block_size == SUM_BLOCK
                    && sums.digests.len() == blocks =>
            {
                knobs::SYNC_SUM_BYTES
                    .fetch_add(sums.digests.as_bytes().len() as i64, Ordering::Relaxed);
                remote
                    .extend_from_slice(sums.digests.as_bytes(), GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))
            }
            Message::SyncSums(_) => Err(Ended::Role(SyncReason::Mismatch)),
            other => Err(SyncEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        })?;
    }
    Ok(())
}

/// Copies `[claim.value, size)` window by window, persisting the progress after each while
/// `syncstatus-<me>` still holds `claim`; returns what it holds at the end.
fn copy(
    conn: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &str,
    me: &[u8],
    mut claim: StatusClaim,
    size: u64,
) -> core::result::Result<StatusClaim, SyncEnd> {
    let start = claim.value;
    let stopper = &state.stopper;
    let output = &*state.data.data;
    let mut buf = BlockBuf::new().map_err(SyncEnd::Local)?;
    let mut scratch =
        KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| SyncEnd::Local(ENOMEM))?;
    let mut local = KVVec::new();
    let mut pace = Pace {
        start_ms: now_ms(),
        bytes: 0,
    };
    // Resume at a block boundary at or before the persisted progress.
    let mut pos = start - start % u64::from(SUM_BLOCK);
    while pos < size {
        if context.should_stop() || stopper.stopping() {
            return Err(SyncEnd::Stop);
        }
        if conn.conns.len() != sockets_wanted()
            || conn.conns.iter().any(super::super::pack::outdated)
        {
            // `sync_sockets` or the network compression changed: connect anew (the progress
            // so far is persisted).
            return Err(Ended::Role(SyncReason::Reconnect));
        }
        conn.keepalive()?;
        let window_end = pos.saturating_add(WINDOW).min(size);
        let mut runs: KVec<Run> = KVec::new();
        let mut remote = KVVec::new();
        let fast = match conn.alg {
            Some(alg) if knobs::DO_FAST_FULLSYNC.get() != 0 => Some(alg),
            _ => None,
        };
        if let Some(alg) = fast {
            let count = usize::try_from((window_end - pos).div_ceil(u64::from(SUM_BLOCK)))
                .map_err(|_| SyncEnd::Local(EINVAL))?;
            window_sums(
                alg,
                conn,
                state,
                res,
                pos,
                window_end,
                count,
                &mut buf,
                scratch.as_mut_slice(),
                &mut local,
                &mut remote,
            )?;
            let (remote_ref, local_ref) = (remote.as_slice(), local.as_slice());
            let mismatches = MismatchRuns::new(
                pos,
                window_end,
                SUM_BLOCK,
                count,
                MAX_DATA_CHUNK as u32,
                |i| digest_at(remote_ref, i),
                |i| digest_at(local_ref, i),
            );
            for run in mismatches {
                runs.push(run, GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))?;
            }
        } else {
            let mut at = pos;
            while at < window_end {
                let len = (window_end - at).min(MAX_DATA_CHUNK as u64) as u32;
                runs.push(Run { offset: at, len }, GFP_KERNEL)
                    .map_err(|_| SyncEnd::Local(ENOMEM))?;
                at = at.saturating_add(u64::from(len));
            }
        }
        transfer(conn, state, context, res, &runs, &mut buf, &mut pace)?;
        buf.flush(output).map_err(SyncEnd::Local)?;
        pos = window_end;
        // Persist the progress, unless someone else changed it meanwhile (invalidate). The end
        // is not written here: `syncstatus` = size means finished, which `finish` says once
        // `syncpos` is recorded (after an interruption now, the last window is compared again).
        if !claim_still_holds(res.as_bytes(), me, &claim) {
            return Err(RESTART);
        }
        if pos >= size {
            break;
        }
        let value = decimal(progress(pos, size));
        write_res_link(res.as_bytes(), &[b"syncstatus-", me], value.as_bytes())
            .map_err(SyncEnd::Local)?;
        // What was written, with the stamp the link got (someone else's write right after
        // ours shows as a different claim: the next check restarts).
        claim = read_claim(res.as_bytes(), me).ok_or(RESTART)?;
    }
    Ok(claim)
}

/// Reads `runs` from the primary and writes them locally: run `i` is asked on connection
/// `i mod n`, up to `sync_parallel` reads in flight on each; every connection answers in order,
/// so reading the connections round robin yields the runs in order. The pacing
/// (`sync_speed_limit_kib`) counts the data of all connections together.
fn transfer(
    bundle: &mut Bundle<'_>,
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &str,
    runs: &[Run],
    buf: &mut BlockBuf,
    pace: &mut Pace,
) -> core::result::Result<(), SyncEnd> {
    let stopper = &state.stopper;
    let output = &*state.data.data;
    let window = usize::try_from(knobs::SYNC_PARALLEL.get())
        .unwrap_or(1)
        .clamp(1, MAX_PARALLEL);
    let n = bundle.conns.len();
    let conn_of = |i: usize| i.checked_rem(n).ok_or(SyncEnd::Local(EINVAL));
    let mut in_flight = [0usize; MAX_THREAD_SOCKETS];
    let mut sent = 0usize;
    let mut received = 0usize;
    while received < runs.len() {
        while let Some(run) = runs.get(sent) {
            let c = conn_of(sent)?;
            let Some(flying) = in_flight.get_mut(c) else {
                return Err(SyncEnd::Local(EINVAL));
            };
            if *flying >= window {
                break;
            }
            bundle.send(
                c,
                &Message::SyncRead(SyncRead {
                    resource: res,
                    offset: run.offset,
                    len: run.len,
                }),
            )?;
            *flying += 1;
            sent += 1;
        }
        let Some(run) = runs.get(received) else { break };
        let c = conn_of(received)?;
        let wire = bundle.reply(c, |message| match message {
            Message::SyncData(data) if data.offset == run.offset && data.len == run.len => {
                let wire = data.data.len() as u64;
                knobs::SYNC_DATA_BYTES.fetch_add(wire as i64, Ordering::Relaxed);
                let content = if data.zero { None } else { Some(data.data) };
                buf.write(output, run.offset, content, run.len as usize)
                    .map_err(SyncEnd::Local)?;
                knobs::SYNC_COPIED_BYTES.fetch_add(i64::from(run.len), Ordering::Relaxed);
                Ok(wire)
            }
            Message::SyncData(_) => Err(Ended::Role(SyncReason::Mismatch)),
            other => Err(SyncEnd::Conn(ConnError::Unexpected(other.msg_type()))),
        })?;
        if let Some(flying) = in_flight.get_mut(c) {
            *flying = flying.saturating_sub(1);
        }
        received += 1;
        pace.account(stopper, context, wire.max(1));
        bundle.keepalive()?;
    }
    Ok(())
}

/// After the copy: waits for a heartbeat of the primary newer than the copy's end, records
/// its replay link in `syncpos-<me>`, then marks the sync complete; both only while
/// `syncstatus-<me>` still holds `claim` (an `invalidate` during the wait restarts the sync).
fn finish(
    state: &WorkerState<SyncJob>,
    context: &ThreadContext,
    res: &[u8],
    me: &[u8],
    primary: &[u8],
    size: u64,
    claim: &StatusClaim,
) -> core::result::Result<(), SyncEnd> {
    let stopper = &state.stopper;
    let end = clock::now();
    let time_rel = concat(&[b"actual-", primary, b"/time"]);
    let mut waited: u32 = 0;
    loop {
        if context.should_stop() || stopper.stopping() {
            return Err(SyncEnd::Stop);
        }
        if !claim_still_holds(res, me, claim) {
            return Err(RESTART);
        }
        if tree::read_link(time_rel.as_slice()).is_ok_and(|link| link.mtime > end) {
            break;
        }
        if waited >= FINISH_WAIT_MS {
            return Err(Ended::Role(SyncReason::NoHeartbeat));
        }
        // Ask for the peers' news now rather than at the next poll.
        knobs::trigger(2);
        stopper.sleep(context, 500);
        waited = waited.saturating_add(500);
    }
    let replay = res_link(res, &[b"replay-", primary]).ok_or(IDLE)?;
    if !claim_still_holds(res, me, claim) {
        return Err(RESTART);
    }
    write_res_link(res, &[b"syncpos-", me], &replay).map_err(SyncEnd::Local)?;
    if !claim_still_holds(res, me, claim) {
        return Err(RESTART);
    }
    write_res_link(res, &[b"syncstatus-", me], decimal(size).as_bytes()).map_err(SyncEnd::Local)?;
    Ok(())
}
