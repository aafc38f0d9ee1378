// SPDX-License-Identifier: GPL-2.0
//! Replay on a secondary: a kernel thread applies the logfiles in this host's resource
//! directory to the data device, in order, following `replay-<host>`.
//!
//! Each pass reads the logfile the replay link names from its position to the current end of
//! the file, applies every complete record (overlapping records in log order, the others in
//! parallel), flushes the data device, and only then records the new position: first in this
//! host's `version-N-<host>` link (the same MD5 chain the origin computes, so it equals the
//! origin's link once the whole logfile is replayed), then in `replay-<host>`. A record cut
//! off at the end of the file (a fetch still under way) is left for the next pass.
//!
//! When nothing is left to replay, the next logfile (N+1, of any origin) is taken only when
//! `mars_core::version_chain::check_switchover` allows it: the origin's version link of N
//! equals ours (the logfile arrived and was replayed completely) and the link of N+1 builds on
//! it; otherwise the reason is reported once (two logfiles N+1 or a broken chain mean split
//! brain, and replay stops there).
//!
//! A damaged record before the end of a logfile stops the replay of that resource (reported;
//! nothing after it is applied).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::links::{self, KernelDigester, ResourcePaths};
use super::recovery::replay_log;
use crate::brick::{Input, Output};
use crate::kapi::file::{File, OpenMode};
use crate::kapi::kthread::{KThread, ThreadContext, WaitEvent};
use crate::kapi::mm::NoIoScope;
use crate::kapi::vfs;
use crate::mars_core::log_recovery::ReplayEnd;
use crate::mars_core::logger::fresh_replay_link;
use crate::mars_core::tree::LogName;
use crate::mars_core::tree_value::ReplayLink;
use crate::mars_core::version_chain::{check_switchover, make_version_link, SwitchoverQuery, SwitchoverRefusal, VersionEntry};
use kernel::c_str;
use kernel::error::code::{EINVAL, EIO, ENOENT};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Milliseconds between two looks at an idle resource.
const IDLE_MS: u32 = 1000;
/// Milliseconds to wait after an error before trying again.
const ERROR_MS: u32 = 5000;
/// Entries of the resource directory looked at for the next logfile.
const MAX_DIR_ENTRIES: usize = 16384;

/// What the thread shares with its owner.
#[pin_data]
struct Shared {
    paths: ResourcePaths,
    #[pin]
    data: Input,
    #[pin]
    kick: WaitEvent,
    kicked: AtomicBool,
    /// Records applied since the start.
    applied: AtomicU64,
    /// Replay stopped at a damaged record or a split brain: nothing more is applied.
    halted: AtomicBool,
}

/// A running replay of one resource; dropping it stops the thread after the current pass.
pub(crate) struct Replayer {
    shared: Arc<Shared>,
    _thread: KThread<Arc<Shared>>,
}

impl Replayer {
    /// Starts replaying the logfiles of the resource directory `dir` for host `host` onto
    /// `data`.
    pub(crate) fn start(dir: &[u8], host: &[u8], data: Arc<dyn Output>) -> Result<Self> {
        let paths = ResourcePaths::new(dir, host)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                paths,
                data <- Input::new(),
                kick <- WaitEvent::new(),
                kicked: AtomicBool::new(false),
                applied: AtomicU64::new(0),
                halted: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        shared.data.connect(data)?;
        let thread = KThread::spawn(c_str!("mars_replay"), shared.clone(), run)?;
        Ok(Replayer { shared, _thread: thread })
    }

    /// Asks for a pass now (something changed in the tree).
    pub(crate) fn kick(&self) {
        self.shared.kicked.store(true, Ordering::Release);
        self.shared.kick.wake();
    }
}

impl Drop for Replayer {
    fn drop(&mut self) {
        // The thread is stopped by `_thread`'s drop, which wakes it; then the input goes.
        self.shared.kick.wake();
    }
}

/// What the thread reported last, so each state is reported once.
#[derive(Default, PartialEq)]
struct Reported {
    refusal: Option<SwitchoverRefusal>,
    error: Option<Error>,
}

fn run(shared: &Arc<Shared>, context: &ThreadContext) {
    // Allocations must not recurse into block IO (the data device may be under pressure).
    let _noio = NoIoScope::enter();
    let mut reported = Reported::default();
    clear_split_brain_msg(&shared.paths);
    while !context.should_stop() {
        shared.kicked.store(false, Ordering::Release);
        let wait_ms = if shared.halted.load(Ordering::Acquire) {
            IDLE_MS
        } else {
            match pass(shared, &mut reported) {
                Ok(true) => {
                    reported.error = None;
                    continue;
                }
                Ok(false) => {
                    reported.error = None;
                    IDLE_MS
                }
                Err(e) => {
                    if reported.error != Some(e) {
                        pr_warn!("{}: replay: {:?}\n", shared.paths.dir(), e);
                        reported.error = Some(e);
                    }
                    ERROR_MS
                }
            }
        };
        shared.kick.wait(Some(context), wait_ms, || shared.kicked.load(Ordering::Acquire));
    }
    drop(shared.data.disconnect());
}

/// One pass; `Ok(true)` when it made progress (another pass follows at once).
fn pass(shared: &Shared, reported: &mut Reported) -> Result<bool> {
    let paths = &shared.paths;
    let me = paths.host()?;
    let Some(replay_value) = links::read(&paths.replay_link()?)? else {
        return Ok(false);
    };
    let replay = links::parse_replay(&replay_value)?;
    let log = replay.log;
    let pos = u64::try_from(replay.min_pos).map_err(|_| EINVAL)?;
    let file = match File::open(paths.log(log)?.as_cstr(), OpenMode::Read) {
        Ok(file) => Some(file),
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(e),
    };
    if let Some(file) = &file {
        let size = file.size();
        if size > pos {
            let (end, applied) = replay_log(file, pos, size, &shared.data)?;
            shared.applied.fetch_add(applied, Ordering::Relaxed);
            if let ReplayEnd::Corrupt { end, error } = end {
                pr_err!("{}: {} is damaged at {} ({:?}): replay stops\n", paths.dir(), log, end, error);
                shared.halted.store(true, Ordering::Release);
                // What was applied before the damage is recorded.
                record_progress(paths, log, end)?;
                return Ok(false);
            }
            let end = end.end();
            if end > pos {
                record_progress(paths, log, end)?;
                return Ok(true);
            }
        }
    }
    // Everything there is of logfile N is applied: on to N+1 when the chain allows it.
    let Some(next) = next_logfile(paths, log.nr)? else {
        return Ok(false);
    };
    let next_log = LogName { nr: next.nr, origin: next.origin()? };
    let own = links::read(&paths.version_link(log.nr)?)?;
    let origin = read_version(paths, log.nr, log.origin.as_str())?;
    let new = read_version(paths, next_log.nr, next_log.origin.as_str())?;
    let mut names = [links::LinkText::new(), links::LinkText::new()];
    let [old_name, new_name] = &mut names;
    core::fmt::Write::write_fmt(old_name, format_args!("{}", log)).map_err(|_| EINVAL)?;
    core::fmt::Write::write_fmt(new_name, format_args!("{}", next_log)).map_err(|_| EINVAL)?;
    let old_name = core::str::from_utf8(old_name.as_bytes()).map_err(|_| EINVAL)?;
    let new_name = core::str::from_utf8(new_name.as_bytes()).map_err(|_| EINVAL)?;
    let versions = [
        VersionEntry { host: me.as_str(), nr: log.nr, value: text(&own) },
        VersionEntry { host: log.origin.as_str(), nr: log.nr, value: text(&origin) },
        VersionEntry { host: next_log.origin.as_str(), nr: next_log.nr, value: text(&new) },
    ];
    // Our own link comes first in the slice: for an own logfile (origin = me) it is the one.
    let query = SwitchoverQuery {
        me: me.as_str(),
        old_log: old_name,
        new_log: new_name,
        double_logfile: next.double,
        designated_primary: false,
        skip_new: false,
        replay_tolerance: 0,
        own_replay: core::str::from_utf8(&replay_value).ok(),
    };
    match check_switchover(&query, &versions[..]) {
        Ok(()) => {
            let link = fresh_replay_link(next_log.nr, next_log.origin);
            links::write(&paths.replay_link()?, links::format_value(&link)?.as_bytes())?;
            pr_info!("{}: replay moves on to {}\n", paths.dir(), next_log);
            reported.refusal = None;
            Ok(true)
        }
        Err(refusal) => {
            if reported.refusal != Some(refusal) {
                pr_notice!("{}: not yet replaying {}: {}\n", paths.dir(), next_log, refusal);
                reported.refusal = Some(refusal);
            }
            if matches!(refusal, SwitchoverRefusal::DoubleLogfile | SwitchoverRefusal::VersionMismatch) {
                pr_err!("{}: replay stops at {}: split brain\n", paths.dir(), log);
                shared.halted.store(true, Ordering::Release);
                report_split_brain(paths, old_name, new_name, refusal);
                return Err(EIO);
            }
            Ok(false)
        }
    }
}

/// The message key of a split brain in `actual-<host>/`.
const SPLIT_BRAIN_MSG: &str = "msg-err-splitbrain-detected";

/// Publishes the split brain the replay stopped at (best effort: the kernel log has it too).
fn report_split_brain(paths: &ResourcePaths, old: &str, new: &str, refusal: SwitchoverRefusal) {
    let written = paths.actual(SPLIT_BRAIN_MSG).and_then(|path| {
        // `<real sec.nsec> <lamport sec.nsec> <text>`, as every message (Documentation/tree.rst).
        let text = links::format_value(&format_args!(
            "{} {} replay stops after {}: {} does not continue it: {}",
            crate::kapi::time::real_time(),
            crate::clock::now(),
            old,
            new,
            refusal
        ))?;
        links::write(&path, text.as_bytes())
    });
    if let Err(e) = written {
        pr_notice!("{}: {} not written: {:?}\n", paths.dir(), SPLIT_BRAIN_MSG, e);
    }
}

/// Resets a split-brain message of an earlier replayer to `OK`.
fn clear_split_brain_msg(paths: &ResourcePaths) {
    let Ok(path) = paths.actual(SPLIT_BRAIN_MSG) else { return };
    if let Ok(Some(value)) = links::read(&path) {
        if value.as_slice() != b"OK" {
            let _ = links::write(&path, b"OK");
        }
    }
}

/// Records that logfile `log` is applied up to `end` (the data device was flushed): this
/// host's version link for it, then the replay link.
fn record_progress(paths: &ResourcePaths, log: LogName<'_>, end: u64) -> Result {
    let prev_own = match log.nr.checked_sub(1) {
        Some(prev) => match links::read(&paths.version_link(prev)?)? {
            Some(own) => Some(own),
            // Joined after logfile N-1: chain to the origin's link as the origin does.
            None => read_version(paths, prev, log.origin.as_str())?,
        },
        None => None,
    };
    let prev_text = prev_own.as_deref().and_then(|v| core::str::from_utf8(v).ok()).unwrap_or("");
    let pos = i64::try_from(end).map_err(|_| EINVAL)?;
    match make_version_link(&KernelDigester, log.nr, log.origin, pos, prev_text) {
        Ok(value) => links::write(&paths.version_link(log.nr)?, links::format_value(&value)?.as_bytes())?,
        Err(e) => pr_notice!("{}: version link of {} not written: {:?}\n", paths.dir(), log, e),
    }
    let link = ReplayLink { log, min_pos: pos, dirty_len: 0 };
    links::write(&paths.replay_link()?, links::format_value(&link)?.as_bytes())
}

/// A link value as text (`""` when missing or not UTF-8).
fn text(value: &Option<KVec<u8>>) -> &str {
    value.as_deref().and_then(|v| core::str::from_utf8(v).ok()).unwrap_or("")
}

/// `version-<nr>-<host>` of any host.
pub(crate) fn read_version(paths: &ResourcePaths, nr: u32, host: &str) -> Result<Option<KVec<u8>>> {
    let mut name = links::LinkText::new();
    core::fmt::Write::write_fmt(&mut name, format_args!("version-{:09}-{}", nr, host)).map_err(|_| EINVAL)?;
    links::read(&paths.dir().child(name.as_bytes())?)
}

/// The logfile numbered `nr + 1` in the resource directory, if any.
struct NextLog {
    nr: u32,
    origin: KVec<u8>,
    /// More than one origin has a logfile with that number.
    double: bool,
}

impl NextLog {
    fn origin(&self) -> Result<crate::mars_core::names::HostName<'_>> {
        let text = core::str::from_utf8(&self.origin).map_err(|_| EINVAL)?;
        crate::mars_core::names::HostName::parse(text).map_err(|_| EINVAL)
    }
}

fn next_logfile(paths: &ResourcePaths, nr: u32) -> Result<Option<NextLog>> {
    let Some(want) = nr.checked_add(1) else {
        return Ok(None);
    };
    let listing = vfs::read_dir(paths.dir().as_cstr(), MAX_DIR_ENTRIES)?;
    let mut found: Option<NextLog> = None;
    for entry in listing.entries.iter() {
        if entry.kind != Some(vfs::FileKind::Regular) {
            continue;
        }
        let Ok(name) = core::str::from_utf8(&entry.name) else { continue };
        let Ok(log) = LogName::parse(name) else { continue };
        if log.nr != want {
            continue;
        }
        match &mut found {
            Some(next) => next.double = true,
            None => {
                let mut origin = KVec::new();
                origin.extend_from_slice(log.origin.as_str().as_bytes(), GFP_KERNEL)?;
                found = Some(NextLog { nr: want, origin, double: false });
            }
        }
    }
    Ok(found)
}
