// SPDX-License-Identifier: GPL-2.0
//! The client side of port 7777: one `mars_peer` thread per other member of the cluster,
//! run by the client session loop (`net::session`).
//!
//! A peer thread connects to the member's address (`/mars/ips/ip-<host>`), says `Hello` with
//! this host's cluster uuid (`(any)` while joining), and then, every `scan_interval_sec` or at
//! once when asked: sends `Notify` if a local change is to be told, pushes this host's own
//! address link, and pulls: `GetEnts` of `/mars` (depth 1, which names the resources), then of
//! `ips`, `todo-global`, `defaults`, `userspace`, the member's own `defaults-<host>` and
//! `actual-<host>`, and every `resource-*` (depth 2), as the original's peer thread asks for.
//! Each entry is merged under the rules of `core::merge_rules` (see `merge::apply`), within
//! the bounds of one pull: at most `MAX_ENTRIES_PER_REPLY` entries per reply,
//! `merge::MAX_RESOURCES` resources, `merge::MAX_DIRS_PER_PULL` new directories. Between pulls
//! it pings every 5 s. After a failure it waits 1 s, doubling up to 30 s (a refusal for a
//! foreign cluster waits 30 s at once), varied by up to a quarter.
//!
//! A host runs peer threads only while it is a member itself: its own `ips/ip-<host>` exists.

use core::fmt::Write;
use core::sync::atomic::Ordering;

use crate::clock;
use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::SocketAddrV4;
use crate::kapi::time::real_time;
use crate::knobs;
use crate::mars_core::text::FixedBuf;
use crate::mars_core::version::DEFAULT_PORT;
use crate::mars_core::wire::{GetEntsWriter, Message, PortRole, PushLink, RefuseCode, WireError};
use crate::tree;
use kernel::c_str;
use kernel::error::code::ENOMEM;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

use super::super::client::{self, ClientError};
use super::super::conn::{reply_wait_ms, Conn, ConnError};
use super::super::members;
use super::super::merge::{self, Applied, MergeBudget};
use super::super::server::TIMEOUTS;
use super::super::session;
use super::super::{bytes, Bytes, Shared, Worker, WorkerState, NOTIFY_ALL};

/// Most entries merged from one reply: what an honest server answers at most per request
/// (`MAX_ANSWER_ENTRIES`). A longer reply is cut there (one log line) and the connection
/// closed.
const MAX_ENTRIES_PER_REPLY: usize = merge::MAX_ANSWER_ENTRIES;
/// Ping after this much quiet between pulls.
const PING_INTERVAL_MS: u32 = 5000;
/// Longest wait after failures (the session loop starts at 1 s and doubles).
const BACKOFF_MAX_MS: u32 = 30_000;

/// What a peer thread works for.
pub(super) struct PeerData {
    host: Bytes,
}

/// A running peer thread.
pub(in crate::net) struct Peer {
    host: Bytes,
    worker: Worker<PeerData>,
}

impl Peer {
    /// Passes request bits (`NOTIFY_ALL`, `PULL_ALL`) to the thread.
    pub(in crate::net) fn post(&self, bits: u32) {
        self.worker.stopper().post(bits);
    }

    /// Asks the thread to stop without waiting for it (dropping waits).
    pub(in crate::net) fn stop(&self) {
        self.worker.stopper().stop();
    }
}

/// Brings the set of peer threads in line with `/mars/ips/`: one per other member, none while
/// this host is no member.
pub(in crate::net) fn reconcile(shared: &Arc<Shared>, peers: &mut KVec<Peer>) {
    let me = members::own_host();
    let member = me
        .as_deref()
        .is_some_and(|me| members::host_ip(me).is_some());
    let others = match me.as_deref() {
        Some(me) if member => members::other_members(me).unwrap_or_else(|_| KVec::new()),
        _ => KVec::new(),
    };
    let listed = |host: &[u8]| others.iter().any(|(h, _)| h.as_slice() == host);
    if peers.iter().any(|p| !listed(&p.host)) {
        let Ok(mut kept) = KVec::with_capacity(peers.len(), GFP_KERNEL) else {
            return;
        };
        let old = core::mem::replace(peers, KVec::new());
        for peer in old.iter() {
            if !listed(&peer.host) {
                peer.stop();
            }
        }
        for peer in old {
            if listed(&peer.host) {
                // Cannot fail: the capacity suffices.
                let _ = kept.push(peer, GFP_KERNEL);
            } else {
                if member {
                    pr_info!(
                        "net: {} left the cluster: no more exchange with it\n",
                        BStr::from_bytes(&peer.host)
                    );
                } else {
                    pr_info!(
                        "net: this host is no member any more: no more exchange with {}\n",
                        BStr::from_bytes(&peer.host)
                    );
                }
                drop(peer);
            }
        }
        *peers = kept;
    }
    for (host, _) in others.iter() {
        if peers.iter().any(|p| p.host.as_slice() == host.as_slice()) {
            continue;
        }
        let started = bytes(&[host]).and_then(|data_host| {
            Worker::spawn(
                c_str!("mars_peer"),
                shared,
                PeerData { host: data_host },
                run,
            )
        });
        let pushed = started.and_then(|worker| {
            let host = bytes(&[host])?;
            peers
                .push(Peer { host, worker }, GFP_KERNEL)
                .map_err(Into::into)
        });
        match pushed {
            Ok(()) => pr_info!("net: exchanging metadata with {}\n", BStr::from_bytes(host)),
            Err(e) => pr_warn!(
                "net: cannot start the peer thread for {}: {:?}\n",
                BStr::from_bytes(host),
                e
            ),
        }
    }
}

/// The peer thread: sessions until asked to stop, with the session loop's backoff between
/// them.
fn run(state: &WorkerState<PeerData>, context: &ThreadContext) {
    let host = BStr::from_bytes(&state.data.host);
    session::run(
        &state.stopper,
        context,
        BACKOFF_MAX_MS,
        |healthy| session(state, context, healthy),
        |end| {
            match end {
            ClientError::Refused(RefuseCode::ForeignCluster) => pr_warn!(
                "net: {} refused us: foreign cluster (its cluster uuid differs from ours); nothing is exchanged\n",
                host
            ),
            ClientError::Refused(RefuseCode::AuthFailed) => pr_warn!(
                "net: {} refused us: authentication failed (do both hosts hold the same /mars/.secret?); nothing is exchanged\n",
                host
            ),
            ClientError::Refused(RefuseCode::NotMember) => pr_warn!(
                "net: {} refused us: our address is not the one its ips/ip-<us> link names\n",
                host
            ),
            ClientError::Refused(code) => pr_warn!("net: {} refused us: {:?}\n", host, code),
            ClientError::BadProof => pr_warn!(
                "net: the host at the address of {} failed to prove that it holds our cluster secret; nothing is exchanged\n",
                host
            ),
            ClientError::WrongHost => {
                pr_warn!("net: the address of {} is answered by another host\n", host)
            }
            ClientError::Connect(e) => pr_info!("net: cannot connect to {}: {:?}\n", host, e),
            ClientError::Conn(e) => pr_info!("net: connection to {} ended: {}\n", host, e),
            ClientError::NotReady | ClientError::Stopping => {}
        }
        },
    );
}

/// One connection to the peer: handshake, then pulls until something fails or the thread is
/// asked to stop. `healthy` is set once a pull succeeded.
fn session(
    state: &WorkerState<PeerData>,
    context: &ThreadContext,
    healthy: &mut bool,
) -> ClientError {
    match try_session(state, context, healthy) {
        Ok(()) => ClientError::Stopping,
        Err(end) => end,
    }
}

fn try_session(
    state: &WorkerState<PeerData>,
    context: &ThreadContext,
    healthy: &mut bool,
) -> Result<(), ClientError> {
    let stopper = &state.stopper;
    let peer_host = state.data.host.as_slice();
    let me = members::own_host().ok_or(ClientError::NotReady)?;
    let ip = members::host_ip(peer_host).ok_or(ClientError::NotReady)?;
    let addr = SocketAddrV4::new(ip.octets, ip.port.unwrap_or(DEFAULT_PORT));
    let mut conn = client::connect(
        stopper,
        addr,
        PortRole::Meta,
        &me,
        peer_host,
        reply_wait_ms(),
    )?;
    let mut tag: u64 = 0;
    pr_debug!(
        "net: connected to {} at {}\n",
        BStr::from_bytes(peer_host),
        addr
    );

    let mut first = true;
    loop {
        let bits = stopper.take_pending();
        if first || bits & NOTIFY_ALL != 0 {
            if bits & NOTIFY_ALL != 0 {
                conn.writer.send(&conn.socket, 0, &Message::Notify)?;
            }
            push_own_ip(&mut conn, &me)?;
        }
        first = false;
        pull(&mut conn, &mut tag, state)?;
        *healthy = true;

        // Until the next pull: the scan interval, or a request; ping meanwhile.
        let interval_ms =
            u32::try_from(knobs::SCAN_INTERVAL_SEC.get().saturating_mul(1000)).unwrap_or(u32::MAX);
        let mut waited_ms: u32 = 0;
        loop {
            if stopper.stopping() || context.should_stop() {
                return Ok(());
            }
            if stopper.pending.load(Ordering::Acquire) != 0 || waited_ms >= interval_ms {
                break;
            }
            let step = PING_INTERVAL_MS.min(interval_ms.saturating_sub(waited_ms));
            let before = real_time();
            stopper.wait(context, step);
            let slept = real_time()
                .to_nanos()
                .unwrap_or(0)
                .saturating_sub(before.to_nanos().unwrap_or(0))
                / 1_000_000;
            waited_ms = waited_ms.saturating_add(u32::try_from(slept.max(0)).unwrap_or(u32::MAX));
            if stopper.pending.load(Ordering::Acquire) == 0 && waited_ms < interval_ms {
                ping(&mut conn, &mut tag)?;
            }
        }
    }
}

/// Sends `ips/ip-<me>` to the peer, so that a member that does not know us yet (we are
/// joining) learns our address and starts pulling from us.
fn push_own_ip(conn: &mut Conn<'_>, me: &[u8]) -> Result<(), ClientError> {
    let mut rel = FixedBuf::<80>::new();
    write!(rel, "ips/ip-{}", BStr::from_bytes(me)).map_err(|_| ClientError::NotReady)?;
    let Ok(path) = tree::path(rel.as_bytes()) else {
        return Ok(());
    };
    let Ok(link) = tree::read_link(rel.as_bytes()) else {
        return Ok(());
    };
    let (Ok(path_text), Ok(value)) = (
        core::str::from_utf8(path.as_bytes()),
        core::str::from_utf8(&link.value),
    ) else {
        return Ok(());
    };
    let push = PushLink {
        path: path_text,
        value,
        stamp: link.mtime,
    };
    conn.writer
        .send(&conn.socket, 0, &Message::PushLink(push))?;
    Ok(())
}

/// A keepalive round trip.
fn ping(conn: &mut Conn<'_>, tag: &mut u64) -> Result<(), ClientError> {
    *tag = tag.wrapping_add(1);
    conn.writer.send(&conn.socket, *tag, &Message::Ping)?;
    let stopper = conn.stopper();
    let frame = conn
        .reader
        .read(&conn.socket, stopper, TIMEOUTS.recv_ms, reply_wait_ms())?;
    match frame.message {
        Message::Pong if frame.header.tag == *tag => Ok(()),
        other => Err(ClientError::Conn(ConnError::Unexpected(other.msg_type()))),
    }
}

/// One pull: the top level (which names the resources), then the subtrees.
fn pull(
    conn: &mut Conn<'_>,
    tag: &mut u64,
    state: &WorkerState<PeerData>,
) -> Result<(), ClientError> {
    let peer = state.data.host.as_slice();
    let mut resources: KVec<Bytes> = KVec::new();
    let mut stats = PullStats::new();
    request(
        conn,
        tag,
        &[&b"/mars"[..]],
        1,
        state,
        &mut stats,
        &mut |dent| {
            if dent.kind == crate::mars_core::wire::DentKind::Dir {
                if let Some(name) = dent.path.strip_prefix("/mars/resource-") {
                    if !name.contains('/') && resources.len() < merge::MAX_RESOURCES {
                        let _ = bytes(&[dent.path.as_bytes()])
                            .and_then(|p| resources.push(p, GFP_KERNEL).map_err(Into::into));
                    }
                }
            }
        },
    )?;

    let mut defaults = FixedBuf::<80>::new();
    let mut actual = FixedBuf::<80>::new();
    write!(defaults, "/mars/defaults-{}", BStr::from_bytes(peer))
        .map_err(|_| ClientError::NotReady)?;
    write!(actual, "/mars/actual-{}", BStr::from_bytes(peer)).map_err(|_| ClientError::NotReady)?;
    let mut dirs: KVec<&[u8]> = KVec::new();
    for dir in [
        &b"/mars/ips"[..],
        b"/mars/todo-global",
        b"/mars/defaults",
        b"/mars/userspace",
        defaults.as_bytes(),
        actual.as_bytes(),
    ] {
        dirs.push(dir, GFP_KERNEL)
            .map_err(|_| ClientError::Conn(ConnError::Io(ENOMEM)))?;
    }
    for res in resources.iter() {
        dirs.push(res.as_slice(), GFP_KERNEL)
            .map_err(|_| ClientError::Conn(ConnError::Io(ENOMEM)))?;
    }
    // At most MAX_GETENTS_DIRS per request.
    for chunk in dirs.chunks(crate::mars_core::wire::MAX_GETENTS_DIRS) {
        request(conn, tag, chunk, 2, state, &mut stats, &mut |_| {})?;
    }
    if stats.written != 0 || stats.errors != 0 || stats.budget.refused != 0 {
        pr_debug!(
            "net: pulled {} entries from {}: {} written, {} refused, {} failed\n",
            stats.seen,
            BStr::from_bytes(peer),
            stats.written,
            stats.budget.refused,
            stats.errors
        );
    }
    Ok(())
}

struct PullStats {
    seen: usize,
    written: usize,
    errors: usize,
    budget: MergeBudget,
}

impl PullStats {
    const fn new() -> Self {
        PullStats {
            seen: 0,
            written: 0,
            errors: 0,
            budget: MergeBudget::new(),
        }
    }
}

/// Sends one `GetEnts` for `dirs` and merges every entry of the answer; `seen` is called with
/// each entry too.
fn request(
    conn: &mut Conn<'_>,
    tag: &mut u64,
    dirs: &[&[u8]],
    depth: u8,
    state: &WorkerState<PeerData>,
    stats: &mut PullStats,
    seen: &mut dyn FnMut(&crate::mars_core::wire::Dent<'_>),
) -> Result<(), ClientError> {
    *tag = tag.wrapping_add(1);
    let mut writer = GetEntsWriter::new(conn.writer.buf.as_mut_slice(), depth)?;
    for dir in dirs.iter() {
        let Ok(text) = core::str::from_utf8(dir) else {
            continue;
        };
        writer.push(text)?;
    }
    let len = writer.finish(clock::now(), *tag)?;
    conn.writer.send_encoded(&conn.socket, len)?;
    let stopper = conn.stopper();
    let peer = state.data.host.as_slice();
    let mut reply_entries: usize = 0;
    loop {
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, reply_wait_ms())?;
        if frame.header.tag != *tag {
            return Err(ClientError::Conn(ConnError::Unexpected(
                frame.message.msg_type(),
            )));
        }
        let batch = match frame.message {
            Message::Dents(batch) => batch,
            Message::Error(_) => return Ok(()),
            other => return Err(ClientError::Conn(ConnError::Unexpected(other.msg_type()))),
        };
        {
            let _guard = state.shared.merge_lock.lock();
            for dent in batch.entries.iter() {
                if reply_entries >= MAX_ENTRIES_PER_REPLY {
                    // No honest server answers more: the rest is not merged.
                    if merge::may_log() {
                        pr_warn!(
                            "net: {} answered more than {} entries: cut there, closing the connection\n",
                            BStr::from_bytes(peer),
                            MAX_ENTRIES_PER_REPLY
                        );
                    }
                    return Err(ClientError::Conn(ConnError::Protocol(
                        WireError::CountOverCap,
                    )));
                }
                reply_entries = reply_entries.saturating_add(1);
                stats.seen = stats.seen.saturating_add(1);
                seen(&dent);
                match merge::apply(peer, &dent, &mut stats.budget) {
                    Ok(Applied::Written) => stats.written = stats.written.saturating_add(1),
                    Ok(Applied::Refused) => {
                        stats.budget.refused = stats.budget.refused.saturating_add(1)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if stats.errors == 0 {
                            pr_debug!("net: cannot merge {}: {:?}\n", dent.path, e);
                        }
                        stats.errors = stats.errors.saturating_add(1);
                    }
                }
            }
        }
        if !batch.more {
            return Ok(());
        }
    }
}
