// SPDX-License-Identifier: GPL-2.0
//! The server side of ports 7777/7778/7779: the listener thread (bound to the address of
//! `/mars/ips/ip-<thishost>`, else to any address) and one `mars_serve` thread per accepted
//! connection, which makes the authenticated handshake (the peer's `Hello` is checked for
//! version and port role, answered with a `Challenge`, and its `Auth` proof must verify
//! before anything about this host is revealed; then its cluster uuid and its address) and
//! then hands the connection to the server of its port's role: `meta::serve_meta` (7777),
//! `logs::serve_logs` (7778), `sync::serve_sync` (7779). A connection that sends anything
//! malformed or out of place is closed; nothing else is affected.

use core::sync::atomic::Ordering;

use crate::kapi::kthread::ThreadContext;
use crate::kapi::socket::{is_timeout, Socket, SocketAddrV4, Timeouts};
use crate::knobs;
use crate::mars_core::auth::{SavedHello, Transcript};
use crate::mars_core::tree_value::IpAddress;
use crate::mars_core::version::DEFAULT_PORT;
use crate::mars_core::wire::{
    negotiate, precheck_hello, refusal_for, Challenge, Message, PortRole, Refuse, RefuseCode,
    Welcome, WireError, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
};
use crate::tree;
use kernel::c_str;
use kernel::error::code::ENOMEM;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

use super::auth;
use super::conn::{monotonic_ms, Conn, ConnError};
use super::log_limit::LogLimit;
use super::members;
use super::{Worker, WorkerState};

/// Socket timeouts of accepted connections and of the listener: receive (and accept) wakes up
/// every second to look around, send gives up after 10 s.
pub(super) const TIMEOUTS: Timeouts = Timeouts {
    recv_ms: 1000,
    send_ms: 10_000,
};
/// The whole handshake (`Hello`, `Auth`) must be complete within this time after the
/// accept, however slowly its bytes trickle in.
pub(super) const HANDSHAKE_DEADLINE_MS: u32 = 10_000;
/// Most connections served at once per port; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// Most of them from addresses that no `ips/ip-<host>` names (strangers, and hosts in the
/// middle of `join-cluster`): the rest stays free for the members, so that connections from
/// strangers, however many sources they come from, never keep a member out.
pub(super) const MAX_STRANGER_CONNECTIONS: usize = 32;
/// Most connections served at once per port to one source address (a peer needs one on
/// 7777, and up to `log_fetch_sockets` / `sync_sockets` (at most 8) per resource on
/// 7778/7779); more are closed at once.
pub(super) const MAX_CONNECTIONS_PER_SOURCE: usize = 16;

/// Complaints about connections: at most 10 lines per 10 s.
static CONNECTION_LOG: LogLimit = LogLimit::new("complaints about connections", 10, 10);

/// Whether one more complaint about a connection may be logged now.
pub(super) fn may_log() -> bool {
    CONNECTION_LOG.allow()
}

/// What a `mars_serve` thread serves.
pub(super) struct ServeData {
    socket: Arc<Socket>,
    from: SocketAddrV4,
    role: PortRole,
}

/// The port of `role` for a host whose address link names `base` (else 7777): the metadata
/// port, the logfile port one above it, the sync port two above.
pub(super) fn role_port(base: Option<u16>, role: PortRole) -> u16 {
    base.unwrap_or(DEFAULT_PORT).saturating_add(role as u16)
}

/// The address to listen on for `role`: `ips/ip-<thishost>` (its port), else any address.
fn wanted_address(role: PortRole) -> SocketAddrV4 {
    let ip = members::own_host().and_then(|me| members::host_ip(&me));
    match ip {
        Some(IpAddress { octets, port }) => SocketAddrV4::new(octets, role_port(port, role)),
        None => SocketAddrV4::any(role_port(None, role)),
    }
}

/// The listener thread of one port role.
pub(super) fn listen(state: &WorkerState<PortRole>, context: &ThreadContext) {
    let stopper = &state.stopper;
    let role = state.data;
    // Each serving thread with the source address of its connection and whether that is a
    // member's address.
    let mut handlers: KVec<(u32, bool, Worker<ServeData>)> = KVec::new();
    let mut bound: Option<(SocketAddrV4, Arc<Socket>)> = None;
    let mut told: Option<SocketAddrV4> = None;
    while !context.should_stop() && !stopper.stopping() {
        let wanted = wanted_address(role);
        if bound.as_ref().map(|(addr, _)| *addr) != Some(wanted) {
            stopper.clear();
            bound = None;
            // An address that is not (yet) configured here: listen on any address meanwhile.
            let attempt = Socket::listen(wanted, TIMEOUTS)
                .map(|s| (wanted, s))
                .or_else(|e| {
                    if wanted.addr != 0 {
                        let any = SocketAddrV4::any(wanted.port);
                        Socket::listen(any, TIMEOUTS).map(|s| (wanted, s))
                    } else {
                        Err(e)
                    }
                });
            match attempt.and_then(|(addr, s)| Ok((addr, Arc::new(s, GFP_KERNEL)?))) {
                Ok((addr, socket)) => {
                    if stopper.install(&socket).is_err() {
                        break;
                    }
                    pr_info!("net: listening on {} for peers ({:?})\n", addr, role);
                    bound = Some((addr, socket));
                    told = None;
                }
                Err(e) => {
                    if told != Some(wanted) {
                        pr_warn!("net: cannot listen on {}: {:?}; retrying\n", wanted, e);
                        told = Some(wanted);
                    }
                    stopper.sleep(context, 1000);
                    continue;
                }
            }
        }
        reap(&mut handlers);
        let Some((_, listener)) = bound.as_ref() else {
            continue;
        };
        match listener.accept(TIMEOUTS) {
            Ok(socket) => {
                let from = socket.peer_addr().unwrap_or(SocketAddrV4::any(0));
                if handlers.len() >= MAX_CONNECTIONS {
                    knobs::NET_REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                    if may_log() {
                        pr_warn!("net: too many connections, closing the one from {}\n", from);
                    }
                    continue;
                }
                let member = members::is_member_address(from.addr);
                let strangers = handlers.iter().filter(|(_, member, _)| !member).count();
                if !member && strangers >= MAX_STRANGER_CONNECTIONS {
                    knobs::NET_REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                    if may_log() {
                        pr_warn!(
                            "net: too many connections from addresses of no member ({:?}), closing the one from {}\n",
                            role,
                            from
                        );
                    }
                    continue;
                }
                let same_source = handlers
                    .iter()
                    .filter(|(addr, _, _)| *addr == from.addr)
                    .count();
                if same_source >= MAX_CONNECTIONS_PER_SOURCE {
                    knobs::NET_REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                    if may_log() {
                        pr_warn!(
                            "net: too many connections from {} ({:?}), closing this one\n",
                            from,
                            role
                        );
                    }
                    continue;
                }
                let started =
                    Arc::new(socket, GFP_KERNEL)
                        .map_err(Error::from)
                        .and_then(|socket| {
                            Worker::spawn(
                                c_str!("mars_serve"),
                                &state.shared,
                                ServeData { socket, from, role },
                                serve,
                            )
                        });
                match started.and_then(|worker| {
                    handlers
                        .push((from.addr, member, worker), GFP_KERNEL)
                        .map_err(Into::into)
                }) {
                    Ok(()) => {}
                    Err(e) => pr_warn!("net: cannot serve {}: {:?}\n", from, e),
                }
            }
            Err(e) if is_timeout(e) => {}
            Err(e) => {
                if stopper.stopping() {
                    break;
                }
                pr_warn!("net: accept failed: {:?}; listening anew\n", e);
                stopper.clear();
                bound = None;
                stopper.sleep(context, 1000);
            }
        }
    }
    // Shut every connection down at once, then wait for each thread.
    for (_, _, handler) in handlers.iter() {
        handler.stopper().stop();
    }
    drop(handlers);
    stopper.clear();
}

/// Drops the threads whose connection ended.
fn reap(handlers: &mut KVec<(u32, bool, Worker<ServeData>)>) {
    if !handlers
        .iter()
        .any(|(_, _, h)| h.stopper().done.load(core::sync::atomic::Ordering::Acquire))
    {
        return;
    }
    let Ok(mut kept) = KVec::with_capacity(handlers.len(), GFP_KERNEL) else {
        return;
    };
    let old = core::mem::replace(handlers, KVec::new());
    for handler in old {
        if !handler
            .2
            .stopper()
            .done
            .load(core::sync::atomic::Ordering::Acquire)
        {
            // Cannot fail: the capacity suffices.
            let _ = kept.push(handler, GFP_KERNEL);
        }
    }
    *handlers = kept;
}

/// A `mars_serve` thread: serves one connection until it ends.
fn serve(state: &WorkerState<ServeData>, _context: &ThreadContext) {
    let stopper = &state.stopper;
    let from = state.data.from;
    if stopper.install(&state.data.socket).is_ok() {
        match Conn::for_role(state.data.socket.clone(), stopper, state.data.role) {
            Ok(mut conn) => {
                let mut peer = KVec::new();
                match serve_connection(&mut conn, state, &mut peer) {
                    Ok(()) | Err(ConnError::Closed) | Err(ConnError::Stopping) => {}
                    Err(e) if may_log() => pr_warn!(
                        "net: closing the connection from {} ({}): {}\n",
                        from,
                        BStr::from_bytes(if peer.is_empty() { b"?" } else { &peer }),
                        e
                    ),
                    Err(_) => {}
                }
            }
            Err(e) => pr_warn!("net: cannot serve {}: {:?}\n", from, e),
        }
    }
    stopper
        .done
        .store(true, core::sync::atomic::Ordering::Release);
}

/// Sends a refusal with `code` and `message` (to be logged by the caller).
fn refuse(conn: &mut Conn<'_>, tag: u64, code: RefuseCode, message: &str) -> Result<(), ConnError> {
    knobs::NET_REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let refuse = Refuse {
        code,
        min_version: MIN_PROTOCOL_VERSION,
        max_version: MAX_PROTOCOL_VERSION,
        retry_after_ms: 0,
        message,
    };
    conn.writer
        .send(&conn.socket, tag, &Message::Refuse(refuse))
}

/// The handshake, then requests until the connection ends. `peer` receives the client's host
/// name once its proof verified.
fn serve_connection(
    conn: &mut Conn<'_>,
    state: &WorkerState<ServeData>,
    peer: &mut KVec<u8>,
) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let from = state.data.from;
    let role = state.data.role;
    let deadline = monotonic_ms().saturating_add(u64::from(HANDSHAKE_DEADLINE_MS));
    let (saved, tag) = {
        let frame = match conn.reader.read_until(
            &conn.socket,
            stopper,
            TIMEOUTS.recv_ms,
            HANDSHAKE_DEADLINE_MS,
            Some(deadline),
        ) {
            Ok(frame) => frame,
            Err(ConnError::Protocol(e)) => {
                // A frame of another protocol version gets told so; nothing else is answered.
                if let Some(code) = refusal_for(e) {
                    refuse(conn, 0, code, "no common protocol version")?;
                }
                return Err(ConnError::Protocol(e));
            }
            Err(e) => return Err(e),
        };
        let Message::Hello(hello) = frame.message else {
            return Err(ConnError::Unexpected(frame.message.msg_type()));
        };
        (SavedHello::new(&hello), frame.header.tag)
    };
    let saved = saved.ok_or(ConnError::Protocol(WireError::LengthOverCap))?;
    let hello = saved
        .hello()
        .ok_or(ConnError::Protocol(WireError::BadUtf8))?;
    // Before the proof: only what reveals nothing about this host.
    if let Err(code) = precheck_hello(&hello, role) {
        let message = match code {
            RefuseCode::VersionMismatch => "no common protocol version",
            _ => "wrong port for this role",
        };
        if may_log() {
            pr_warn!("net: refusing {} ({}): {}\n", hello.host, from, message);
        }
        return refuse(conn, tag, code, message);
    }
    let Ok(keys) = auth::keys() else {
        // auth::keys() logged why (rate-limited).
        return refuse(conn, tag, RefuseCode::AuthFailed, "no cluster secret here");
    };
    let server_nonce = auth::nonce();
    conn.writer.send(
        &conn.socket,
        tag,
        &Message::Challenge(Challenge { server_nonce }),
    )?;
    let transcript = Transcript::new(&hello, &server_nonce);
    let proof = {
        let frame = conn.reader.read_until(
            &conn.socket,
            stopper,
            TIMEOUTS.recv_ms,
            HANDSHAKE_DEADLINE_MS,
            Some(deadline),
        )?;
        match frame.message {
            Message::Auth(auth) => auth.proof,
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    };
    if transcript
        .verify_client(&keys.sha, &keys.secret, &proof)
        .is_err()
    {
        if may_log() {
            pr_warn!(
                "net: refusing {} ({}): authentication failed (wrong cluster secret)\n",
                hello.host,
                from
            );
        }
        return refuse(conn, tag, RefuseCode::AuthFailed, "authentication failed");
    }
    conn.reader.authenticated();
    peer.extend_from_slice(hello.host.as_bytes(), GFP_KERNEL)
        .map_err(|_| ConnError::Io(ENOMEM))?;
    // The host name must be a joining one, or come from the address its link names.
    if let Some(ip) = members::host_ip(hello.host.as_bytes()) {
        if SocketAddrV4::new(ip.octets, 0).addr != from.addr {
            if may_log() {
                pr_warn!(
                    "net: refusing {} ({}): ips/ip-{} names another address\n",
                    hello.host,
                    from,
                    hello.host
                );
            }
            return refuse(
                conn,
                tag,
                RefuseCode::NotMember,
                "the address of this host name is another",
            );
        }
    }
    let me = members::own_host();
    let uuid = tree::value(b"uuid".as_slice());
    let uuid_text = uuid.as_deref().and_then(|u| core::str::from_utf8(u).ok());
    let (Some(me), Some(local_uuid)) = (
        me.as_deref().and_then(|m| core::str::from_utf8(m).ok()),
        uuid_text,
    ) else {
        if may_log() {
            pr_notice!(
                "net: refusing {} ({}): this host is no member of a cluster\n",
                hello.host,
                from
            );
        }
        return refuse(
            conn,
            tag,
            RefuseCode::ForeignCluster,
            "this host is no member of a cluster",
        );
    };
    let agreement = match negotiate(
        &hello,
        role,
        local_uuid,
        crate::digest::net_features() | super::pack::offered(),
    ) {
        Ok(agreement) => agreement,
        Err(code) => {
            let message = match code {
                RefuseCode::ForeignCluster => "foreign cluster: the cluster uuids differ",
                RefuseCode::VersionMismatch => "no common protocol version",
                RefuseCode::WrongPort => "wrong port for this role",
                _ => "refused",
            };
            let logged = may_log();
            if logged && code == RefuseCode::ForeignCluster {
                pr_warn!(
                    "net: refusing {} ({}): foreign cluster: its uuid '{}' differs from ours '{}'\n",
                    hello.host,
                    from,
                    hello.cluster_uuid,
                    local_uuid
                );
            } else if logged {
                pr_warn!("net: refusing {} ({}): {}\n", hello.host, from, message);
            }
            return refuse(conn, tag, code, message);
        }
    };
    let proof = transcript
        .server_proof(&keys.sha, &keys.secret)
        .map_err(|_| ConnError::Io(kernel::error::code::EIO))?;
    let welcome = Welcome {
        version: agreement.version,
        features: agreement.features,
        cluster_uuid: local_uuid,
        host: me,
        proof,
    };
    conn.writer
        .send(&conn.socket, tag, &Message::Welcome(welcome))?;
    conn.agree(agreement.features, true)?;
    pr_debug!("net: serving {} ({})\n", hello.host, from);
    match role {
        PortRole::Meta => super::meta::serve_meta(conn, &state.shared, peer),
        PortRole::Log => super::logs::serve_logs(conn, state.shared.loggers.as_deref(), peer),
        PortRole::Sync => super::sync::serve_sync(conn, peer),
    }
}
