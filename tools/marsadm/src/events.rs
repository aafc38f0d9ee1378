// SPDX-License-Identifier: GPL-2.0
//! `marsadm events`: the state of this host and its resources as a stream of one line per
//! change, as DRBD's `drbdsetup events2` prints it: first every object as it is (`exists`),
//! then `exists -`, then `create`, `change` and `destroy` lines as the tree changes.
//!
//! The objects are read from the same model as `view` (`model::read`), flattened into
//! (type, identity, fields); a change line carries the identity and the fields that changed.
//! Woken by inotify on every directory of the tree (links are written by rename, indicators
//! by the kernel, logfiles created and deleted): no polling of the tree. One timer remains:
//! whether a peer's heartbeat is recent depends on the clock, so the state is also read
//! again when `--window` seconds passed without any change. The stream ends cleanly (exit 0)
//! when its reader goes away (a closed pipe: EPIPE, or POLLERR on stdout while waiting) and
//! on SIGINT or SIGTERM.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::model::{self, View};
use mars_core::lamport::Stamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Arguments of `events`.
#[derive(clap::Args)]
pub(crate) struct EventsArgs {
    /// A resource, a comma-separated list of resources, or `all` (default): every resource
    /// this host is member or guest of.
    res: Option<String>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Start every line with the time (UTC, RFC 3339 with microseconds).
    #[arg(long)]
    timestamps: bool,
    /// Print the current state (the `exists` lines) and end.
    #[arg(long)]
    now: bool,
}

/// One object of the stream: its type, what identifies it, and its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Object {
    kind: &'static str,
    ident: Vec<(&'static str, String)>,
    fields: Vec<(&'static str, String)>,
}

impl Object {
    fn new(kind: &'static str, ident: Vec<(&'static str, String)>) -> Object {
        Object {
            kind,
            ident,
            fields: Vec::new(),
        }
    }

    fn field(mut self, key: &'static str, value: impl ToString) -> Object {
        self.fields.push((key, value.to_string()));
        self
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    fn key(&self) -> String {
        let ident: Vec<String> = self.ident.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {}", self.kind, ident.join(" "))
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The objects of a view, in a fixed order (host, peers, then per resource).
fn objects(ctx: &Ctx, view: &View) -> Vec<Object> {
    let tree = &ctx.tree;
    let mut out = Vec::new();
    let mut host = Object::new("host", vec![("name", view.host.clone())])
        .field(
            "module",
            if view.module_loaded {
                "loaded"
            } else {
                "not-loaded"
            },
        )
        .field(
            "kernel",
            if view.kernel_alive {
                "alive"
            } else {
                "unresponsive"
            },
        );
    if let Some(level) = view.space.level {
        host = host.field("emergency-level", level);
    }
    if let Some(rest) = view.space.rest_mib {
        host = host.field("rest-space-mib", rest);
    }
    if let Some(total) = view.space.total_mib {
        host = host.field("total-space-mib", total);
    }
    out.push(host);
    // Peers: the members of the cluster; connected while their heartbeat is recent.
    for peer in tree
        .list("ips")
        .iter()
        .filter_map(|n| n.strip_prefix("ip-"))
        .filter(|p| *p != view.host && tree.exists(&format!("ips/ip-{p}")))
    {
        let heartbeat = tree
            .value(&format!("actual-{peer}/time"))
            .and_then(|v| Stamp::parse(&v).ok());
        let connection = match heartbeat {
            None => "unknown",
            Some(h) if ctx.is_recent(h) => "connected",
            Some(_) => "disconnected",
        };
        out.push(
            Object::new("peer", vec![("name", peer.to_string())]).field("connection", connection),
        );
    }
    for r in &view.resources {
        let res = || ("resource", r.name.clone());
        let split_brain = if r.forked_here {
            "forked-here"
        } else if r.split_brain.detected() {
            "detected"
        } else if r.split_brain.suspected() {
            "suspected"
        } else {
            "no"
        };
        let e = &r.emergency;
        let emergency = if e.logging_stopped {
            "logging-stopped".to_string()
        } else if let Some(p) = &e.primary_stopped {
            format!("primary-stopped:{p}")
        } else if e.has_emergency {
            "has-emergency".to_string()
        } else {
            "no".to_string()
        };
        out.push(
            Object::new("resource", vec![("name", r.name.clone())])
                .field("role", r.role)
                .field("disk", &r.disk_state)
                .field("repl", r.repl_state)
                .field(
                    "primary",
                    r.designated_primary.as_deref().unwrap_or("(none)"),
                )
                .field("consistent", yes_no(r.consistent))
                .field("split-brain", split_brain)
                .field("emergency", emergency),
        );
        for s in &r.switches {
            out.push(
                Object::new("switch", vec![res(), ("name", s.name.to_string())])
                    .field("state", s.state()),
            );
        }
        if let (true, Some(status)) = (r.member, r.sync_status) {
            let mut sync = Object::new("sync", vec![res()]).field("bytes", status);
            if let Some(p) = r.sync_percent {
                sync = sync.field("percent", format!("{p:.1}"));
            }
            out.push(sync);
        }
        match (&r.replay, &r.replay_error) {
            (Some(p), _) => out.push(
                Object::new("replay", vec![res()])
                    .field("logfile", &p.logfile)
                    .field("position", p.min_pos),
            ),
            (None, Some(e)) => out.push(Object::new("replay", vec![res()]).field("error", e)),
            (None, None) => {}
        }
        if let (Some(first), Some(last)) = (r.logfiles.first(), r.logfiles.last()) {
            out.push(
                Object::new("logs", vec![res()])
                    .field("count", r.logfiles.len())
                    .field("first", first.nr)
                    .field("last", last.nr)
                    .field("bytes", r.logfiles.iter().map(|l| l.len).sum::<u64>()),
            );
        }
        // This host's fetch as its kernel publishes it (amount-file_bytes, amount-file_rate):
        // the kernel's own total and rate, not measured by the stream.
        if let Some(p) = r.peers.iter().find(|p| p.host == view.host) {
            let mut fetch = Object::new("fetch", vec![res()]);
            if let Some(bytes) = p.fetched_bytes {
                fetch = fetch.field("bytes", bytes);
            }
            if let Some(rate) = p.rate("fetch") {
                fetch = fetch.field("rate", rate);
            }
            if !fetch.fields.is_empty() {
                out.push(fetch);
            }
        }
        for (key, text) in &r.messages {
            out.push(Object::new("message", vec![res(), ("key", key.clone())]).field("text", text));
        }
    }
    out
}

/// A value as text: controls escaped; quoted when it holds white space, a quote or nothing.
fn text_value(v: &str) -> String {
    let v = crate::tree_io::escape_controls(v);
    if v.is_empty() || v.contains([' ', '"', '\\']) {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v
    }
}

/// The time as RFC 3339 UTC with microseconds (`2026-12-07T13:22:21.123456Z`).
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (year, month, day, hour, minute, second) =
        crate::tree_io::utc_civil(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:06}Z",
        d.subsec_micros()
    )
}

/// Formats one event line (without the newline).
fn line(args: &EventsArgs, event: &str, obj: &Object, fields: &[(&'static str, String)]) -> String {
    let time = args.timestamps.then(|| timestamp(SystemTime::now()));
    if args.json {
        let mut m = Map::new();
        if let Some(t) = time {
            m.insert("time".into(), Value::String(t));
        }
        m.insert("event".into(), Value::String(event.into()));
        m.insert("type".into(), Value::String(obj.kind.into()));
        for (k, v) in obj.ident.iter().chain(fields) {
            m.insert((*k).into(), Value::String(v.clone()));
        }
        Value::Object(m).to_string()
    } else {
        let mut out = String::new();
        if let Some(t) = time {
            out.push_str(&t);
            out.push(' ');
        }
        out.push_str(event);
        out.push(' ');
        out.push_str(obj.kind);
        for (k, v) in obj.ident.iter().chain(fields) {
            out.push_str(&format!(" {k}:{}", text_value(v)));
        }
        out
    }
}

/// The end-of-initial-state marker (`exists -`).
fn end_marker(args: &EventsArgs) -> String {
    let time = args.timestamps.then(|| timestamp(SystemTime::now()));
    match (args.json, time) {
        (true, Some(t)) => {
            serde_json::json!({"time": t, "event": "exists", "type": "-"}).to_string()
        }
        (true, None) => serde_json::json!({"event": "exists", "type": "-"}).to_string(),
        (false, Some(t)) => format!("{t} exists -"),
        (false, None) => "exists -".to_string(),
    }
}

/// The lines that turn `old` into `new`.
fn diff(args: &EventsArgs, old: &[Object], new: &[Object]) -> Vec<String> {
    let before: BTreeMap<String, &Object> = old.iter().map(|o| (o.key(), o)).collect();
    let after: BTreeMap<String, &Object> = new.iter().map(|o| (o.key(), o)).collect();
    let mut out = Vec::new();
    for o in new {
        match before.get(&o.key()) {
            None => out.push(line(args, "create", o, &o.fields)),
            Some(prev) if prev.fields != o.fields => {
                let mut changed: Vec<(&'static str, String)> = o
                    .fields
                    .iter()
                    .filter(|f| !prev.fields.contains(f))
                    .cloned()
                    .collect();
                // A field that disappeared is reported as "-".
                for (k, _) in &prev.fields {
                    if !o.fields.iter().any(|(n, _)| n == k) {
                        changed.push((k, "-".to_string()));
                    }
                }
                out.push(line(args, "change", o, &changed));
            }
            Some(_) => {}
        }
    }
    for o in old {
        if !after.contains_key(&o.key()) {
            out.push(line(args, "destroy", o, &[]));
        }
    }
    out
}

/// The progress counter of an object (sync: bytes synced, logs: bytes of logfiles here,
/// replay: position in its logfile) and what must stay equal for a rate to make sense.
fn progress(o: &Object) -> Option<(u64, String)> {
    let (field, within) = match o.kind {
        "sync" => ("bytes", String::new()),
        "logs" => ("bytes", String::new()),
        "replay" => ("position", o.get("logfile")?.to_string()),
        _ => return None,
    };
    Some((o.get(field)?.parse().ok()?, within))
}

/// Rates of progress: the last value of each counter and when it changed.
#[derive(Default)]
struct Rates {
    marks: BTreeMap<String, (Instant, u64, String)>,
}

impl Rates {
    /// Adds `rate` (bytes per second between the last two changes of the counter) to the
    /// progress objects of `next`; an unchanged counter keeps its rate (`prev`), a counter
    /// that went back or moved to another logfile starts without one.
    fn apply(&mut self, prev: &[Object], next: &mut [Object], now: Instant) {
        for o in next.iter_mut() {
            let Some((value, within)) = progress(o) else {
                continue;
            };
            let key = o.key();
            match self.marks.get(&key) {
                Some((t, old, w)) if *w == within && value > *old => {
                    let secs = now.duration_since(*t).as_secs_f64();
                    if secs > 0.0 {
                        o.fields
                            .push(("rate", format!("{:.0}", (value - old) as f64 / secs)));
                    }
                }
                Some((_, old, w)) if *w == within && value == *old => {
                    let rate = prev
                        .iter()
                        .find(|p| p.key() == key)
                        .and_then(|p| p.get("rate"))
                        .map(str::to_string);
                    if let Some(rate) = rate {
                        o.fields.push(("rate", rate));
                    }
                    continue;
                }
                _ => {}
            }
            self.marks.insert(key, (now, value, within));
        }
    }
}

/// Why the stream ended, or an error.
enum Stop {
    /// The reader went away or a signal came: a clean end.
    Clean,
    Failed(Fail),
}

/// Writes lines to stdout; a closed pipe ends the stream cleanly.
fn emit(lines: &[String]) -> Result<(), Stop> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::Clean),
        Err(e) => Err(Stop::Failed(Fail::refused(format!(
            "writing the events: {e}"
        )))),
    }
}

/// An owned file descriptor closed on drop.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: self.0 is a descriptor this process opened and owns; nothing else closes it.
        unsafe { libc::close(self.0) };
    }
}

/// The most directories watched: a tree has a handful per resource; a bigger one is hostile.
const MAX_WATCHES: usize = 8192;

/// inotify on every directory of the tree, at most three levels deep (the root,
/// `resource-<res>/`, `resource-<res>/actual-<host>/`).
struct Watcher {
    fd: Fd,
    watched: usize,
}

impl Watcher {
    fn new(root: &Path) -> Result<Watcher, Fail> {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(Fail::refused(format!(
                "inotify_init1: {}",
                std::io::Error::last_os_error()
            )));
        }
        let mut w = Watcher {
            fd: Fd(fd),
            watched: 0,
        };
        w.add_tree(root, 0)?;
        Ok(w)
    }

    /// Watches `dir` and the directories below it (to depth 2); adding a watch twice is
    /// harmless (inotify returns the same one), so a new directory is picked up by calling
    /// this again.
    fn add_tree(&mut self, dir: &Path, depth: u32) -> Result<(), Fail> {
        let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
            return Ok(());
        };
        let mask = libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_ATTRIB
            | libc::IN_CLOSE_WRITE
            | libc::IN_ONLYDIR
            | libc::IN_DONT_FOLLOW;
        // SAFETY: fd is our inotify descriptor, path a NUL-terminated string that lives
        // across the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd.0, path.as_ptr(), mask) };
        if wd < 0 {
            if depth == 0 {
                return Err(Fail::refused(format!(
                    "cannot watch {}: {}",
                    dir.display(),
                    std::io::Error::last_os_error()
                )));
            }
            return Ok(()); // gone meanwhile, or not a directory
        }
        self.watched += 1;
        if depth >= 2 {
            return Ok(());
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            if self.watched >= MAX_WATCHES {
                return Err(Fail::refused(format!(
                    "more than {MAX_WATCHES} directories below {}",
                    dir.display()
                )));
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.add_tree(&entry.path(), depth + 1)?;
            }
        }
        Ok(())
    }

    /// Reads and discards the pending inotify events; whether there were any.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut any = false;
        loop {
            // SAFETY: buf is a writable buffer of buf.len() bytes owned by this frame.
            let n = unsafe { libc::read(self.fd.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return any;
            }
            any = true;
        }
    }
}

/// SIGINT and SIGTERM as a readable descriptor (blocked for normal delivery).
fn signal_fd() -> Result<Fd, Fail> {
    // SAFETY: set is a local sigset_t initialised by sigemptyset before any other use;
    // pthread_sigmask and signalfd only read it.
    let fd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if fd < 0 {
        return Err(Fail::refused(format!(
            "signalfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(Fd(fd))
}

/// What woke the loop.
enum Wake {
    Tree,
    Timeout,
    Stop,
}

/// Waits for the tree, a signal, the reader's end, or `timeout`.
fn wait(watcher: &Watcher, signals: &Fd, timeout: Duration) -> Wake {
    let mut fds = [
        libc::pollfd {
            fd: watcher.fd.0,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: signals.0,
            events: libc::POLLIN,
            revents: 0,
        },
        // No events asked: POLLERR/POLLHUP arrive when the reader of a pipe is gone.
        libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        },
    ];
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: fds is a local array of initialised pollfd whose length is passed with it.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        // EINTR (a signal other than the blocked ones): look again.
        return Wake::Timeout;
    }
    if fds[1].revents != 0 || fds[2].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
        return Wake::Stop;
    }
    if fds[0].revents != 0 {
        Wake::Tree
    } else {
        Wake::Timeout
    }
}

/// `marsadm events`.
pub(crate) fn events(ctx: &Ctx, args: &EventsArgs) -> CmdResult {
    let only = match args.res.as_deref().filter(|r| *r != "all") {
        Some(list) => Some(crate::res_list::expand(ctx, list)?),
        None => None,
    };
    for res in only.iter().flatten() {
        ctx.existing_res(res)?;
    }
    match stream(ctx, args, only.as_deref()) {
        Ok(()) | Err(Stop::Clean) => Ok(()),
        Err(Stop::Failed(fail)) => Err(fail),
    }
}

fn stream(ctx: &Ctx, args: &EventsArgs, only: Option<&[String]>) -> Result<(), Stop> {
    let root = ctx.tree.path("");
    // Watch before the first reading: a change after it is never missed.
    let watcher = if args.now {
        None
    } else {
        Some(Watcher::new(&root).map_err(Stop::Failed)?)
    };
    let signals = signal_fd().map_err(Stop::Failed)?;
    let mut rates = Rates::default();
    let mut state = objects(ctx, &model::read(ctx, only));
    rates.apply(&[], &mut state, Instant::now());
    let mut lines: Vec<String> = state
        .iter()
        .map(|o| line(args, "exists", o, &o.fields))
        .collect();
    lines.push(end_marker(args));
    emit(&lines)?;
    let Some(mut watcher) = watcher else {
        return Ok(());
    };
    let window = Duration::from_secs(ctx.options.window.max(1));
    loop {
        match wait(&watcher, &signals, window) {
            Wake::Stop => return Err(Stop::Clean),
            Wake::Timeout => {}
            Wake::Tree => {
                // Let a burst of changes (one marsadm command, one kernel round) settle.
                let settle = Instant::now();
                while watcher.drain() && settle.elapsed() < Duration::from_millis(500) {
                    std::thread::sleep(Duration::from_millis(30));
                }
                // New directories (a new resource, a host's actual- or todo- directory).
                watcher.add_tree(&root, 0).map_err(Stop::Failed)?;
            }
        }
        let mut next = objects(ctx, &model::read(ctx, only));
        rates.apply(&state, &mut next, Instant::now());
        emit(&diff(args, &state, &next))?;
        state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(json: bool) -> EventsArgs {
        EventsArgs {
            res: None,
            json,
            timestamps: false,
            now: false,
        }
    }

    #[test]
    fn rates_are_bytes_per_second_between_changes() {
        let sync = |bytes: u64| {
            vec![Object::new("sync", vec![("resource", "r0".into())]).field("bytes", bytes)]
        };
        let t0 = Instant::now();
        let mut rates = Rates::default();
        let mut a = sync(1000);
        rates.apply(&[], &mut a, t0);
        assert_eq!(a[0].get("rate"), None, "no rate from one reading");
        let mut b = sync(5000);
        rates.apply(&a, &mut b, t0 + Duration::from_secs(2));
        assert_eq!(b[0].get("rate"), Some("2000"));
        // Unchanged: the rate stays, so no change line; then the next change measures from
        // the last one.
        let mut c = sync(5000);
        rates.apply(&b, &mut c, t0 + Duration::from_secs(3));
        assert_eq!(c[0].get("rate"), Some("2000"));
        assert!(diff(&args(false), &b, &c).is_empty());
        let mut d = sync(6000);
        rates.apply(&c, &mut d, t0 + Duration::from_secs(4));
        assert_eq!(d[0].get("rate"), Some("500"));
        // Back to the start (an invalidate): no rate until it moves again.
        let mut e = sync(0);
        rates.apply(&d, &mut e, t0 + Duration::from_secs(5));
        assert_eq!(e[0].get("rate"), None);
        assert_eq!(
            diff(&args(false), &d, &e),
            vec!["change sync resource:r0 bytes:0 rate:-"]
        );
        // A replay that moves to another logfile has no rate across the switch.
        let replay = |log: &str, pos: u64| {
            vec![Object::new("replay", vec![("resource", "r0".into())])
                .field("logfile", log)
                .field("position", pos)]
        };
        let mut f = replay("log-000000001-a", 100);
        rates.apply(&[], &mut f, t0);
        let mut g = replay("log-000000002-a", 200);
        rates.apply(&f, &mut g, t0 + Duration::from_secs(1));
        assert_eq!(g[0].get("rate"), None);
        let mut h = replay("log-000000002-a", 1200);
        rates.apply(&g, &mut h, t0 + Duration::from_secs(2));
        assert_eq!(h[0].get("rate"), Some("1000"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::new(1_796_649_741, 123_456_000);
        assert_eq!(timestamp(t), "2026-12-07T13:22:21.123456Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn a_diff_names_what_changed_appeared_and_went() {
        let a = Object::new("resource", vec![("name", "r0".into())])
            .field("role", "Primary")
            .field("disk", "UpToDate");
        let b = Object::new("resource", vec![("name", "r0".into())])
            .field("role", "Secondary")
            .field("disk", "UpToDate");
        let m = Object::new(
            "message",
            vec![("resource", "r0".into()), ("key", "err-x".into())],
        )
        .field("text", "disk \"gone\"");
        let out = diff(
            &args(false),
            &[a.clone(), m.clone()],
            std::slice::from_ref(&b),
        );
        assert_eq!(
            out,
            vec![
                "change resource name:r0 role:Secondary".to_string(),
                "destroy message resource:r0 key:err-x".to_string()
            ]
        );
        let out = diff(&args(false), &[b], &[a, m]);
        assert_eq!(out[0], "change resource name:r0 role:Primary");
        assert_eq!(
            out[1],
            "create message resource:r0 key:err-x text:\"disk \\\"gone\\\"\""
        );
        let out = diff(
            &args(true),
            &[],
            &[Object::new("peer", vec![("name", "b".into())])],
        );
        let v: Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event": "create", "type": "peer", "name": "b"})
        );
    }
}
