// SPDX-License-Identifier: GPL-2.0
//! The cluster secret (`/mars/.secret`, `mars_core::auth`): reading it from `--secret-file`
//! (or making a new one from `/dev/urandom`), installing it atomically, and checking it
//! against a member before `join-cluster` changes anything: a userspace version-2 handshake
//! on the member's metadata port, with the same codec and proofs as the kernel.
//!
//! The secret is never printed, never replicated (a hidden name: the tree scan skips it) and
//! never sent: only proofs over fresh nonces travel.

use crate::fail::Fail;
use crate::tree_io::Tree;
use mars_core::auth::{Secret, Transcript, NONCE_LEN, SECRET_FILE, SECRET_LEN};
use mars_core::lamport::Stamp;
use mars_core::tree_value::ANY_UUID;
use mars_core::wire::{
    decode_frame, encode_frame, frame_status, Auth, FrameStatus, Hello, Message, PortRole,
    RefuseCode, HEADER_LEN, KNOWN_FEATURES, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
};
use mars_host::HostSha256;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::time::Duration;

/// `n` bytes from `/dev/urandom`.
fn random<const N: usize>() -> Result<[u8; N], Fail> {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .map_err(|e| Fail::refused(format!("cannot read /dev/urandom: {e}")))?;
    Ok(out)
}

/// A new random secret.
pub(crate) fn generate() -> Result<Secret, Fail> {
    Secret::from_bytes(random::<SECRET_LEN>()?)
        .map_err(|_| Fail::refused("/dev/urandom gave 32 zero bytes"))
}

/// The secret in `file` (`-`: standard input): 64 hex digits, surrounding whitespace allowed
/// (what `od`/`openssl rand -hex 32` print, or a copy of another member's `/mars/.secret`).
pub(crate) fn read_arg(file: &str) -> Result<Secret, Fail> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    let name = if file == "-" { "standard input" } else { file };
    read.map_err(|e| Fail::refused(format!("cannot read the secret from {name}: {e}")))?;
    let line = format!("{}\n", text.trim().to_ascii_lowercase());
    Secret::parse(line.as_bytes()).map_err(|_| {
        Fail::refused(format!(
            "{name} holds no cluster secret: expected 64 hex digits (32 bytes)"
        ))
        .line("copy /mars/.secret of a member (e.g. with scp, as root); nothing changed")
    })
}

/// The installed secret, if `/mars/.secret` exists (`Err` when it exists but is invalid).
pub(crate) fn installed(tree: &Tree) -> Result<Option<Secret>, Fail> {
    let path = tree.path(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Secret::parse(&bytes)
            .map(Some)
            .map_err(|_| Fail::refused(format!("{} is no valid cluster secret", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::refused(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes `/mars/.secret` atomically: a temporary file of mode 0600, synced, renamed. Refuses
/// to replace an existing secret.
pub(crate) fn install(tree: &Tree, secret: &Secret) -> Result<(), Fail> {
    let path = tree.path(SECRET_FILE);
    let tmp = tree.path(&format!("{SECRET_FILE}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode given at creation is filtered by the umask; 0600 is what the kernel wants.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&secret.to_file())?;
        file.sync_all()?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a secret exists already",
            ));
        }
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Fail::refused(format!("cannot write {}: {e}", path.display()))
    })
}

/// How a member answered the secret check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Both proofs verified, and the member is the host we meant.
    Accepted,
    /// It refused our proof: it holds another secret.
    WrongSecret,
    /// Its proof did not verify: it holds another secret (or is no member).
    BadServerProof,
    /// It answered as another host.
    OtherHost(String),
    /// It refused for another reason.
    Refused(RefuseCode, String),
}

pub(crate) fn send(stream: &mut TcpStream, message: &Message<'_>) -> std::io::Result<()> {
    let mut buf = [0u8; 512];
    let len = encode_frame(&mut buf, crate::tree_io::real_time(), 0, message)
        .or_else(|_| encode_frame(&mut buf, Stamp::ZERO, 0, message))
        .map_err(|e| std::io::Error::other(format!("cannot encode: {e}")))?;
    stream.write_all(buf.get(..len).unwrap_or(&[]))
}

/// Reads one frame into `buf`; returns its length.
pub(crate) fn receive(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    buf.resize(HEADER_LEN, 0);
    stream.read_exact(buf)?;
    loop {
        match frame_status(buf).map_err(|e| std::io::Error::other(format!("{e}")))? {
            FrameStatus::Complete { frame_len, .. } => return Ok(frame_len),
            FrameStatus::NeedMore(n) => {
                let start = buf.len();
                buf.resize(start + n, 0);
                stream.read_exact(&mut buf[start..])?;
            }
        }
    }
}

/// Makes the version-2 handshake as host `me` (a joining host: uuid `(any)`) with the member
/// `peer` at `addr`, proving `secret`, and says how it went. Nothing is exchanged after it.
pub(crate) fn check_with_peer(
    addr: SocketAddr,
    me: &str,
    peer: &str,
    secret: &Secret,
    timeout: Duration,
) -> std::io::Result<Check> {
    handshake(addr, me, peer, secret, timeout).map(|(check, _)| check)
}

/// As [`check_with_peer`]; also returns the connection, authenticated when the check is
/// [`Check::Accepted`] (then the caller may send requests on it: `merge-cluster-check`).
pub(crate) fn handshake(
    addr: SocketAddr,
    me: &str,
    peer: &str,
    secret: &Secret,
    timeout: Duration,
) -> std::io::Result<(Check, TcpStream)> {
    let sha = HostSha256;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let hello = Hello {
        min_version: MIN_PROTOCOL_VERSION,
        max_version: MAX_PROTOCOL_VERSION,
        role: PortRole::Meta,
        features: KNOWN_FEATURES,
        cluster_uuid: ANY_UUID,
        host: me,
        client_nonce: random::<NONCE_LEN>().map_err(|_| std::io::Error::other("no random"))?,
    };
    send(&mut stream, &Message::Hello(hello))?;
    let mut buf = Vec::new();
    let len = receive(&mut stream, &mut buf)?;
    let frame = decode_frame(&buf[..len]).map_err(|e| std::io::Error::other(format!("{e}")))?;
    let server_nonce = match frame.message {
        Message::Challenge(c) => c.server_nonce,
        Message::Refuse(r) if r.code == RefuseCode::AuthFailed => {
            return Ok((Check::WrongSecret, stream))
        }
        Message::Refuse(r) => return Ok((Check::Refused(r.code, r.message.to_string()), stream)),
        other => {
            return Err(std::io::Error::other(format!(
                "unexpected {:?} instead of a challenge",
                other.msg_type()
            )))
        }
    };
    let transcript = Transcript::new(&hello, &server_nonce);
    let proof = transcript
        .client_proof(&sha, secret)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    send(&mut stream, &Message::Auth(Auth { proof }))?;
    let len = receive(&mut stream, &mut buf)?;
    let frame = decode_frame(&buf[..len]).map_err(|e| std::io::Error::other(format!("{e}")))?;
    let check = match frame.message {
        Message::Welcome(w) => {
            if transcript.verify_server(&sha, secret, &w.proof).is_err() {
                Check::BadServerProof
            } else if w.host != peer {
                Check::OtherHost(w.host.to_string())
            } else {
                Check::Accepted
            }
        }
        Message::Refuse(r) if r.code == RefuseCode::AuthFailed => Check::WrongSecret,
        Message::Refuse(r) => Check::Refused(r.code, r.message.to_string()),
        other => Err(std::io::Error::other(format!(
            "unexpected {:?} instead of a welcome",
            other.msg_type()
        )))?,
    };
    Ok((check, stream))
}
