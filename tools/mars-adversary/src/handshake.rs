// SPDX-License-Identifier: GPL-2.0
//! The handshake, client and server side, in one place: the only code that changes when the
//! protocol gains authentication. Without a secret the tool speaks the plain version-1
//! `Hello`/`Welcome` of Documentation/protocol.rst, as any host on the network can.

use crate::conn::Conn;
use mars_core::wire::{
    negotiate, Hello, Message, PortRole, RefuseCode, Welcome, ANY_CLUSTER, FEATURE_DIGEST_CRC32C,
    FEATURE_DIGEST_MD5_OLD, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
};
use std::io;

/// Who the tool claims to be.
pub(crate) struct Identity {
    /// Host name sent in `Hello`/`Welcome` (a stranger's, or a member's it impersonates).
    pub(crate) host: String,
    /// Cluster uuid sent in `Hello` (`(any)` matches every cluster).
    pub(crate) uuid: String,
    /// The cluster secret of a compromised member, if the tool was given one.
    pub(crate) secret: Option<Vec<u8>>,
}

impl Identity {
    fn hello(&self, role: PortRole) -> Hello<'_> {
        Hello {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: MAX_PROTOCOL_VERSION,
            role,
            features: FEATURE_DIGEST_MD5_OLD | FEATURE_DIGEST_CRC32C,
            cluster_uuid: &self.uuid,
            host: &self.host,
        }
    }
}

/// How a handshake ended.
pub(crate) enum Outcome {
    /// Welcomed: what the server revealed about itself.
    Welcome { uuid: String, host: String },
    /// Refused with this code.
    Refused(RefuseCode),
}

/// The tag of every `Hello` the tool sends.
const HELLO_TAG: u64 = 1;

/// Client side: sends `Hello` for `role` and reads the answer.
pub(crate) fn client(conn: &mut Conn, id: &Identity, role: PortRole) -> io::Result<Outcome> {
    conn.send(HELLO_TAG, &Message::Hello(id.hello(role)))?;
    answer(conn)
}

/// Client side with a chosen frame stamp (the `future-stamp` attack).
pub(crate) fn client_stamped(
    conn: &mut Conn,
    id: &Identity,
    role: PortRole,
    stamp: mars_core::lamport::Stamp,
) -> io::Result<Outcome> {
    conn.send_stamped(stamp, HELLO_TAG, &Message::Hello(id.hello(role)))?;
    answer(conn)
}

fn answer(conn: &mut Conn) -> io::Result<Outcome> {
    let frame = conn.recv()?;
    match frame.message() {
        Some(Message::Welcome(welcome)) => Ok(Outcome::Welcome {
            uuid: welcome.cluster_uuid.to_string(),
            host: welcome.host.to_string(),
        }),
        Some(Message::Refuse(refuse)) => Ok(Outcome::Refused(refuse.code)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no Welcome or Refuse",
        )),
    }
}

/// Server side: reads the member's `Hello` for `role` and welcomes it as `id.host` (in the
/// member's own cluster, whatever `id.uuid` says). Returns the member's host name.
pub(crate) fn server(conn: &mut Conn, id: &Identity, role: PortRole) -> io::Result<String> {
    let frame = conn.recv()?;
    let tag = frame.tag();
    let Some(Message::Hello(hello)) = frame.message() else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no Hello"));
    };
    let agreement = negotiate(&hello, role, hello.cluster_uuid, u64::MAX)
        .map_err(|code| io::Error::new(io::ErrorKind::InvalidData, format!("{code:?}")))?;
    let uuid = if hello.cluster_uuid == ANY_CLUSTER {
        id.uuid.as_str()
    } else {
        hello.cluster_uuid
    };
    let peer = hello.host.to_string();
    let welcome = Welcome {
        version: agreement.version,
        features: agreement.features,
        cluster_uuid: uuid,
        host: &id.host,
    };
    conn.send(tag, &Message::Welcome(welcome))?;
    Ok(peer)
}
