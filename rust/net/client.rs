// SPDX-License-Identifier: GPL-2.0
//! The client end of a connection, shared by the peer threads (port 7777), the log fetchers
//! (port 7778) and the sync clients (port 7779): connect to another host's port of a role,
//! make the authenticated handshake (`Documentation/protocol.rst`, "Handshake"): `Hello` with
//! our nonce, `Auth` with our proof over the server's `Challenge`, then check the server's
//! proof and host name in its `Welcome`.
//!
//! A thread with several connections to the same server (parallel sockets) calls
//! [`connect`] once per connection; each connection makes its own handshake.

use crate::clock;
use crate::kapi::socket::{Socket, SocketAddrV4};
use crate::mars_core::auth::Transcript;
use crate::mars_core::tree_value::ANY_UUID;
use crate::mars_core::wire::{
    accept_welcome, Auth, Hello, Message, PortRole, RefuseCode, WireError, FEATURE_COMPRESS_ANY,
    KNOWN_FEATURES, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
};
use crate::tree;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

use super::auth;
use super::conn::{Conn, ConnError};
use super::server::TIMEOUTS;
use super::Stopper;

/// Why a connection could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientError {
    /// The thread is asked to stop.
    Stopping,
    /// This host's name is not usable (yet), or it has no valid cluster secret.
    NotReady,
    /// Connecting failed.
    Connect(Error),
    /// The server refused the handshake (or its `Welcome` does not fit our `Hello`).
    Refused(RefuseCode),
    /// The server answered as another host than the one its address link names.
    WrongHost,
    /// The server's proof does not verify: it does not hold our cluster secret.
    BadProof,
    /// The connection failed or carried something invalid.
    Conn(ConnError),
}

impl From<WireError> for ClientError {
    fn from(e: WireError) -> Self {
        ClientError::Conn(ConnError::Protocol(e))
    }
}

impl From<ConnError> for ClientError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Stopping => ClientError::Stopping,
            e => ClientError::Conn(e),
        }
    }
}

/// Connects to `addr` (the port of `role` of host `server`), installs the socket in `stopper`
/// (a stop shuts it down, also while connecting) and makes the handshake as host `me`,
/// waiting up to `wait_ms` for the answer. Nothing stays installed when it fails.
pub(super) fn connect<'s>(
    stopper: &'s Stopper,
    addr: SocketAddrV4,
    role: PortRole,
    me: &[u8],
    server: &[u8],
    wait_ms: u32,
) -> Result<Conn<'s>, ClientError> {
    let mut installed: Option<Arc<Socket>> = None;
    let socket = Socket::connect_shared(addr, TIMEOUTS, |s| {
        stopper.install(s)?;
        installed = Some(s.clone());
        Ok(())
    });
    let socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            if let Some(socket) = installed {
                stopper.remove(&socket);
            }
            return Err(if stopper.stopping() {
                ClientError::Stopping
            } else {
                ClientError::Connect(e)
            });
        }
    };
    drop(installed);
    let mut conn = match Conn::for_role(socket.clone(), stopper, role) {
        Ok(conn) => conn,
        Err(e) => {
            socket.shutdown();
            stopper.remove(&socket);
            return Err(ClientError::Connect(e));
        }
    };
    handshake(&mut conn, role, me, server, wait_ms)?;
    Ok(conn)
}

/// Says `Hello` as host `me` on `conn` (a connection of `role`), proves that we hold the
/// cluster secret and checks the `Welcome`: the server's proof must verify, the versions and
/// the cluster uuid must fit, and the server must be host `server`. Only then are the
/// server's Lamport stamps observed.
pub(super) fn handshake(
    conn: &mut Conn<'_>,
    role: PortRole,
    me: &[u8],
    server: &[u8],
    wait_ms: u32,
) -> Result<(), ClientError> {
    let me_text = core::str::from_utf8(me).map_err(|_| ClientError::NotReady)?;
    let keys = auth::keys().map_err(|_| ClientError::NotReady)?;
    let uuid = tree::value(b"uuid".as_slice());
    let uuid_text = uuid
        .as_deref()
        .and_then(|u| core::str::from_utf8(u).ok())
        .unwrap_or(ANY_UUID);
    let hello = Hello {
        min_version: MIN_PROTOCOL_VERSION,
        max_version: MAX_PROTOCOL_VERSION,
        role,
        // The digests we offer for fast full sync, minus those disabled for the network, and
        // the network compressions the cluster enabled.
        features: (crate::digest::net_features() | super::pack::offered()) & KNOWN_FEATURES,
        cluster_uuid: uuid_text,
        host: me_text,
        client_nonce: auth::nonce(),
    };
    conn.writer.send(&conn.socket, 0, &Message::Hello(hello))?;
    let stopper = conn.stopper();
    let frame = conn
        .reader
        .read(&conn.socket, stopper, TIMEOUTS.recv_ms, wait_ms)?;
    let server_nonce = match frame.message {
        Message::Challenge(challenge) => challenge.server_nonce,
        Message::Refuse(refuse) => return Err(refused(server, &refuse)),
        other => return Err(ClientError::Conn(ConnError::Unexpected(other.msg_type()))),
    };
    let transcript = Transcript::new(&hello, &server_nonce);
    let proof = transcript
        .client_proof(&keys.sha, &keys.secret)
        .map_err(|_| ClientError::NotReady)?;
    conn.writer
        .send(&conn.socket, 0, &Message::Auth(Auth { proof }))?;
    let frame = conn
        .reader
        .read(&conn.socket, stopper, TIMEOUTS.recv_ms, wait_ms)?;
    let stamp = frame.header.stamp;
    match frame.message {
        Message::Welcome(welcome) => {
            transcript
                .verify_server(&keys.sha, &keys.secret, &welcome.proof)
                .map_err(|_| ClientError::BadProof)?;
            if welcome.host.as_bytes() != server {
                return Err(ClientError::WrongHost);
            }
            let agreement = accept_welcome(&welcome, &hello).map_err(ClientError::Refused)?;
            conn.offered = hello.features & FEATURE_COMPRESS_ANY;
            conn.agree(agreement.features, false)?;
            conn.reader.authenticated();
            clock::observe(stamp);
            Ok(())
        }
        Message::Refuse(refuse) => Err(refused(server, &refuse)),
        other => Err(ClientError::Conn(ConnError::Unexpected(other.msg_type()))),
    }
}

fn refused(server: &[u8], refuse: &crate::mars_core::wire::Refuse<'_>) -> ClientError {
    if !refuse.message.is_empty() {
        pr_debug!(
            "net: {} says: {}\n",
            BStr::from_bytes(server),
            refuse.message
        );
    }
    ClientError::Refused(refuse.code)
}
