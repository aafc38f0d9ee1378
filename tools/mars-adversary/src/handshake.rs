// SPDX-License-Identifier: GPL-2.0
//! The handshake, client and server side, in one place (Documentation/protocol.rst,
//! "Handshake"): `Hello` with the client's nonce, `Challenge` with the server's, `Auth` with
//! the client's proof, `Welcome` with the server's proof; both proofs are HMAC-SHA256 under
//! the cluster secret over the transcript (`mars_core::auth`). With `--secret-file` the tool
//! computes real proofs (a compromised member); without, it sends proofs of zeros, as any
//! stranger can.

use crate::conn::Conn;
use mars_core::auth::{Secret, Transcript, NONCE_LEN, PROOF_LEN};
use mars_core::lamport::Stamp;
use mars_core::wire::{
    negotiate, precheck_hello, Auth, Challenge, Hello, Message, PortRole, RefuseCode, Welcome,
    ANY_CLUSTER, FEATURE_DIGEST_CRC32C, FEATURE_DIGEST_MD5_OLD, MAX_PROTOCOL_VERSION,
    MIN_PROTOCOL_VERSION,
};
use mars_host::HostSha256;
use std::io::{self, Read};

/// Who the tool claims to be.
pub(crate) struct Identity {
    /// Host name sent in `Hello`/`Welcome` (a stranger's, or a member's it impersonates).
    pub(crate) host: String,
    /// Cluster uuid sent in `Hello` (`(any)` matches every cluster).
    pub(crate) uuid: String,
    /// The cluster secret of a compromised member, if the tool was given one.
    pub(crate) secret: Option<Secret>,
}

/// How a handshake ended.
pub(crate) enum Outcome {
    /// Welcomed: what the server revealed about itself, and whether its proof verified
    /// (`None`: the tool has no secret to check it with).
    Welcome {
        uuid: String,
        host: String,
        server_proof_ok: Option<bool>,
    },
    /// Refused with this code.
    Refused(RefuseCode),
}

/// The tag of every `Hello` the tool sends (the `Auth` carries the next one).
const HELLO_TAG: u64 = 1;

fn nonce() -> [u8; NONCE_LEN] {
    let mut bytes = [0u8; NONCE_LEN];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // Not secret material: the nonce only has to differ between connections.
        let now = crate::conn::now();
        bytes[..8].copy_from_slice(&now.sec.to_le_bytes());
        bytes[8..12].copy_from_slice(&now.nsec.to_le_bytes());
        bytes[12..16].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Client side: the whole handshake for `role`, every frame stamped `stamp` (real time but
/// for the `future-stamp` attack).
pub(crate) fn client(
    conn: &mut Conn,
    id: &Identity,
    role: PortRole,
    stamp: Stamp,
) -> io::Result<Outcome> {
    let hello = Hello {
        min_version: MIN_PROTOCOL_VERSION,
        max_version: MAX_PROTOCOL_VERSION,
        role,
        features: FEATURE_DIGEST_MD5_OLD | FEATURE_DIGEST_CRC32C,
        cluster_uuid: &id.uuid,
        host: &id.host,
        client_nonce: nonce(),
    };
    conn.send_stamped(stamp, HELLO_TAG, &Message::Hello(hello))?;
    let frame = conn.recv()?;
    let server_nonce = match frame.message() {
        Some(Message::Challenge(challenge)) => challenge.server_nonce,
        Some(Message::Refuse(refuse)) => return Ok(Outcome::Refused(refuse.code)),
        Some(Message::Welcome(welcome)) => return Ok(welcomed(&welcome, None)),
        _ => return Err(invalid("no Challenge, Welcome or Refuse")),
    };
    let transcript = Transcript::new(&hello, &server_nonce);
    let proof = match &id.secret {
        Some(secret) => transcript
            .client_proof(&HostSha256, secret)
            .map_err(|e| invalid(&format!("{e:?}")))?,
        None => [0u8; PROOF_LEN],
    };
    conn.send_stamped(stamp, HELLO_TAG + 1, &Message::Auth(Auth { proof }))?;
    let frame = conn.recv()?;
    match frame.message() {
        Some(Message::Welcome(welcome)) => {
            let checked = id.secret.as_ref().map(|secret| {
                transcript
                    .verify_server(&HostSha256, secret, &welcome.proof)
                    .is_ok()
            });
            Ok(welcomed(&welcome, checked))
        }
        Some(Message::Refuse(refuse)) => Ok(Outcome::Refused(refuse.code)),
        _ => Err(invalid("no Welcome or Refuse")),
    }
}

fn welcomed(welcome: &Welcome<'_>, server_proof_ok: Option<bool>) -> Outcome {
    Outcome::Welcome {
        uuid: welcome.cluster_uuid.to_string(),
        host: welcome.host.to_string(),
        server_proof_ok,
    }
}

/// Server side: reads the member's `Hello`, challenges it, reads its `Auth` (not checked: the
/// tool wants to be pulled from) and welcomes it as `id.host` in the member's own cluster,
/// with a real proof if it has the secret. Returns the member's host name.
pub(crate) fn server(conn: &mut Conn, id: &Identity, role: PortRole) -> io::Result<String> {
    let frame = conn.recv()?;
    let tag = frame.tag();
    let Some(Message::Hello(hello)) = frame.message() else {
        return Err(invalid("no Hello"));
    };
    precheck_hello(&hello, role).map_err(|code| invalid(&format!("{code:?}")))?;
    let server_nonce = nonce();
    conn.send(tag, &Message::Challenge(Challenge { server_nonce }))?;
    let answer = conn.recv()?;
    let auth_tag = answer.tag();
    if !matches!(answer.message(), Some(Message::Auth(_))) {
        return Err(invalid("no Auth"));
    }
    let agreement = negotiate(&hello, role, hello.cluster_uuid, u64::MAX)
        .map_err(|code| invalid(&format!("{code:?}")))?;
    let transcript = Transcript::new(&hello, &server_nonce);
    let proof = match &id.secret {
        Some(secret) => transcript
            .server_proof(&HostSha256, secret)
            .map_err(|e| invalid(&format!("{e:?}")))?,
        None => [0u8; PROOF_LEN],
    };
    let uuid = if hello.cluster_uuid == ANY_CLUSTER {
        id.uuid.as_str()
    } else {
        hello.cluster_uuid
    };
    let welcome = Welcome {
        version: agreement.version,
        features: agreement.features,
        cluster_uuid: uuid,
        host: &id.host,
        proof,
    };
    conn.send(auth_tag, &Message::Welcome(welcome))?;
    Ok(hello.host.to_string())
}
