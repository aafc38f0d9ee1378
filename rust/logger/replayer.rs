// SPDX-License-Identifier: GPL-2.0
//! Replay on a secondary: a kernel thread applies the logfiles in this host's resource
//! directory to the data device, in order, following `replay-<host>`.
//!
//! Every decision is `mars_core::replica::replay_step` (the function `tools/sim` checks),
//! over a [`Snapshot`] of the resource directory; this file only does what it says:
//!
//! * `Apply { from, to }`: read the logfile from the replay position to the end of its
//!   local, synced data, apply every complete record (overlapping records in log order, the
//!   others in parallel), flush the data device, then record the new position: first in this
//!   host's `version-N-<host>` link (the same MD5 chain the origin computes, so it equals the
//!   origin's link once the whole logfile is replayed), then in `replay-<host>`. A record cut
//!   off at the end (a fetch still under way) is left for the next pass; in an own logfile
//!   (this host logged it and crashed) a torn last record ends the logfile.
//! * `WriteVersion`: bring the own version link up to the replay position.
//! * `Switch`: point `replay-<host>` at the start of the next logfile (the version chains
//!   agree: `version_chain::check_switchover`).
//! * `Wait` is reported once; `Refuse` (split brain) stops the replay of the resource,
//!   reported in the kernel log and in `actual-<host>/msg-err-splitbrain-detected`.
//! * A damaged record in a copy fetched from another host (also a record that runs past the
//!   end of a copy holding all its origin made durable: a damaged length) is cut off (the copy truncated
//!   there), so the fetcher copies it again from the origin, up to [`MAX_REFETCHES`] times
//!   at the same place; then, or in this host's own logfile, the replay stops, reported in
//!   the kernel log and in `actual-<host>/msg-err-logfile-damaged` (`marsadm view`).

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use super::facts::Snapshot;
use super::links::{self, KernelDigester, ResourcePaths};
use super::recovery::replay_log;
use crate::brick::{Input, Output};
use crate::kapi::file::{File, OpenMode, SyncMode};
use crate::kapi::kthread::{KThread, ThreadContext, WaitEvent};
use crate::kapi::mm::NoIoScope;
use crate::mars_core::log_recovery::{judge_fetched_end, ReplayEnd};
use crate::mars_core::logger::fresh_replay_link;
use crate::mars_core::replica::{replay_step, ReplayDecision, ReplayFacts, ReplayRefusal};
use crate::mars_core::tree::LogName;
use crate::mars_core::tree_value::ReplayLink;
use crate::mars_core::version_chain::{make_version_link, SwitchoverRefusal};
use kernel::c_str;
use kernel::error::code::{EINVAL, EIO, ENOENT};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Serialises the changes of one resource's fetched logfile copies: the fetcher's check of a
/// copy's size and the append after it (`net::logs::fetch`), and the replay's cut of a
/// damaged copy. Without it a cut between the check and the append leaves a gap of zeros
/// between the cut and the appended data.
pub(crate) type CopyLock = Arc<Mutex<()>>;

/// A new [`CopyLock`] for one resource.
pub(crate) fn new_copy_lock() -> Result<CopyLock> {
    Arc::pin_init(new_mutex!((), "mars_log_copy"), GFP_KERNEL)
}

/// Milliseconds between two looks at an idle resource.
const IDLE_MS: u32 = 1000;
/// Milliseconds to wait after an error before trying again.
const ERROR_MS: u32 = 5000;

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
    /// The newest Lamport stamp (seconds) of a record applied since the start; 0 before the
    /// first (the strategy publishes it as `actual-<host>/replay-stamp`).
    newest_stamp: AtomicI64,
    /// Replay stopped at a damaged record or a split brain: nothing more is applied.
    halted: AtomicBool,
    /// Taken to cut a damaged copy (shared with the resource's fetcher).
    copy_lock: CopyLock,
}

/// A running replay of one resource; dropping it stops the thread after the current pass.
pub(crate) struct Replayer {
    shared: Arc<Shared>,
    _thread: KThread<Arc<Shared>>,
}

impl Replayer {
    /// Starts replaying the logfiles of the resource directory `dir` for host `host` onto
    /// `data`; `copy_lock` is the one the resource's fetcher takes.
    pub(crate) fn start(
        dir: &[u8],
        host: &[u8],
        data: Arc<dyn Output>,
        copy_lock: CopyLock,
    ) -> Result<Self> {
        let paths = ResourcePaths::new(dir, host)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                paths,
                data <- Input::new(),
                kick <- WaitEvent::new(),
                kicked: AtomicBool::new(false),
                applied: AtomicU64::new(0),
                newest_stamp: AtomicI64::new(0),
                halted: AtomicBool::new(false),
                copy_lock,
            }),
            GFP_KERNEL,
        )?;
        shared.data.connect(data)?;
        let thread = KThread::spawn(c_str!("mars_replay"), shared.clone(), run)?;
        Ok(Replayer {
            shared,
            _thread: thread,
        })
    }

    /// The newest Lamport stamp (seconds) of a record this replay applied, if any: the replica
    /// holds every write its origin logged up to that time.
    pub(crate) fn newest_stamp(&self) -> Option<i64> {
        Some(self.shared.newest_stamp.load(Ordering::Relaxed)).filter(|s| *s > 0)
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
    /// The replay stands at a hole (reported once).
    hole: bool,
    /// The damaged record the copy was last cut at, and how often.
    damage: Damage,
}

/// How often a fetched copy is cut at a damaged record and fetched again before the replay
/// gives up (the origin's own copy is then damaged too, or the disk keeps damaging it).
const MAX_REFETCHES: u32 = 3;

/// Where a fetched copy was last found damaged: logfile number, offset, times cut there.
#[derive(Default, PartialEq)]
struct Damage {
    nr: u32,
    end: u64,
    count: u32,
}

impl Damage {
    /// How often the copy of logfile `nr` was cut at `end` so far.
    fn attempts(&self, nr: u32, end: u64) -> u32 {
        if self.nr == nr && self.end == end {
            self.count
        } else {
            0
        }
    }

    /// One more cut at `end` of logfile `nr`.
    fn note(&mut self, nr: u32, end: u64) {
        let count = self.attempts(nr, end).saturating_add(1);
        *self = Damage { nr, end, count };
    }
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
        shared.kick.wait(Some(context), wait_ms, || {
            shared.kicked.load(Ordering::Acquire)
        });
    }
    drop(shared.data.disconnect());
}

/// One pass; `Ok(true)` when it made progress (another pass follows at once). Asks
/// `mars_core::replica::replay_step` and does what it says, until it says to wait.
fn pass(shared: &Shared, reported: &mut Reported) -> Result<bool> {
    let paths = &shared.paths;
    let snap = Snapshot::read(paths.dir(), paths.host()?.as_str().as_bytes(), &[])?;
    let me = snap.me()?;
    let Some(replay) = snap.replay()? else {
        return Ok(false);
    };
    let log = replay.log;
    let pos = u64::try_from(replay.min_pos).map_err(|_| EINVAL)?;
    let file = match File::open(paths.log(log)?.as_cstr(), OpenMode::Read) {
        Ok(file) => Some(file),
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(e),
    };
    // Replay only what survives a crash of this host: the size, then a sync of the copy (the
    // fetcher appends without syncing every chunk).
    let mut local_size = file.as_ref().map_or(0, File::size);
    if let Some(file) = file.as_ref().filter(|_| local_size > pos) {
        file.sync(SyncMode::DataSync)?;
    }
    let logs = snap.log_facts()?;
    let versions = snap.versions()?;
    for _ in 0..2 {
        let facts = ReplayFacts {
            me,
            replay,
            local_size,
            logs: &logs,
        };
        match replay_step(&facts, &versions[..]) {
            ReplayDecision::Apply { from, to } => {
                let file = file.as_ref().ok_or(EIO)?;
                let (end, applied, stamp) = replay_log(file, from, to, &shared.data)?;
                shared.applied.fetch_add(applied, Ordering::Relaxed);
                shared.newest_stamp.fetch_max(stamp, Ordering::Relaxed);
                let end = if log.origin == me {
                    end
                } else {
                    let origin_durable = logs
                        .iter()
                        .find(|l| l.log == log)
                        .and_then(|l| l.origin_durable);
                    judge_fetched_end(end, origin_durable, local_size)
                };
                if let ReplayEnd::Corrupt { end, error } = end {
                    // What was applied before the damage is recorded.
                    record_progress(paths, log, end)?;
                    let attempts = reported.damage.attempts(log.nr, end);
                    if log.origin != me && attempts < MAX_REFETCHES {
                        // A copy fetched from the origin: damaged on the way or on this
                        // host's disk. Cut it there; the fetcher copies the rest again.
                        pr_warn!(
                            "{}: the copy of {} is damaged at {} ({:?}): fetching it again from {} (attempt {} of {})\n",
                            paths.dir(),
                            log,
                            end,
                            error,
                            log.origin,
                            attempts.saturating_add(1),
                            MAX_REFETCHES
                        );
                        reported.damage.note(log.nr, end);
                        let _copying = shared.copy_lock.lock();
                        let copy =
                            File::open(paths.log(log)?.as_cstr(), OpenMode::ReadWriteCreate)?;
                        copy.truncate(end)?;
                        crate::knobs::trigger(crate::knobs::TRIGGER_LOCAL);
                        return Ok(false);
                    }
                    pr_err!(
                        "{}: {} is damaged at {} ({:?}){}: replay stops\n",
                        paths.dir(),
                        log,
                        end,
                        error,
                        if log.origin != me {
                            ", also as fetched again from its origin"
                        } else {
                            ""
                        }
                    );
                    shared.halted.store(true, Ordering::Release);
                    report_damage(paths, log, end, log.origin != me);
                    return Ok(false);
                }
                let end = end.end();
                if end > from {
                    record_progress(paths, log, end)?;
                    return Ok(true);
                }
                if log.origin != me {
                    // The rest of a record is still being fetched.
                    return Ok(false);
                }
                // An own logfile (this host logged it and crashed) ends in a torn record:
                // that was never durable, nobody has it; the logfile ends here.
                local_size = end;
            }
            ReplayDecision::WriteVersion { log, pos } => {
                // Not written (reported): asking again at once would only repeat it.
                return write_own_version(paths, log, pos);
            }
            ReplayDecision::Switch { to } => {
                let link = fresh_replay_link(to.nr, to.origin);
                links::write(
                    &paths.replay_link()?,
                    links::format_value(&link)?.as_bytes(),
                )?;
                pr_info!("{}: replay moves on to {}\n", paths.dir(), to);
                reported.refusal = None;
                reported.hole = false;
                return Ok(true);
            }
            ReplayDecision::Idle => return Ok(false),
            ReplayDecision::Wait(refusal) => {
                if reported.refusal != Some(refusal) {
                    pr_notice!(
                        "{}: not yet replaying the logfile after {}: {}\n",
                        paths.dir(),
                        log,
                        refusal
                    );
                    reported.refusal = Some(refusal);
                }
                return Ok(false);
            }
            ReplayDecision::Refuse(ReplayRefusal::SplitBrain(refusal)) => {
                pr_err!(
                    "{}: replay stops at {}: split brain ({})\n",
                    paths.dir(),
                    log,
                    refusal
                );
                shared.halted.store(true, Ordering::Release);
                report_split_brain(paths, log, refusal);
                return Err(EIO);
            }
            ReplayDecision::Refuse(ReplayRefusal::Hole { nr }) => {
                if !reported.hole {
                    pr_warn!(
                        "{}: replay stops after logfile {}: the next logfile numbers are missing (a hole: the primary stopped logging in emergency mode); this host stays consistent but outdated until `marsadm invalidate`\n",
                        paths.dir(),
                        nr
                    );
                    reported.hole = true;
                }
                return Ok(false);
            }
            ReplayDecision::Refuse(other) => {
                pr_err!(
                    "{}: replay of {} at {}: {:?}\n",
                    paths.dir(),
                    log,
                    pos,
                    other
                );
                return Err(EIO);
            }
        }
    }
    Ok(false)
}

/// The message key of a split brain in `actual-<host>/`.
const SPLIT_BRAIN_MSG: &str = "msg-err-splitbrain-detected";

/// Publishes the split brain the replay stopped at (best effort: the kernel log has it too).
fn report_split_brain(paths: &ResourcePaths, log: LogName<'_>, refusal: SwitchoverRefusal) {
    let written = paths.actual(SPLIT_BRAIN_MSG).and_then(|path| {
        // `<real sec.nsec> <lamport sec.nsec> <text>`, as every message (Documentation/tree.rst).
        let text = links::format_value(&format_args!(
            "{} {} replay stops after {}: the next logfile does not continue it: {}",
            crate::kapi::time::real_time(),
            crate::clock::now(),
            log,
            refusal
        ))?;
        links::write(&path, text.as_bytes())
    });
    if let Err(e) = written {
        pr_notice!(
            "{}: {} not written: {:?}\n",
            paths.dir(),
            SPLIT_BRAIN_MSG,
            e
        );
    }
}

/// The message key of a damaged logfile in `actual-<host>/`.
const DAMAGE_MSG: &str = "msg-err-logfile-damaged";

/// Publishes the damaged record the replay stopped at (best effort, as a split brain).
fn report_damage(paths: &ResourcePaths, log: LogName<'_>, end: u64, fetched: bool) {
    let written = paths.actual(DAMAGE_MSG).and_then(|path| {
        let text = links::format_value(&format_args!(
            "{} {} replay stops: {} is damaged at byte {}{}; run `marsadm invalidate` on this host (if the primary still writes {}: `marsadm log-rotate` there first)",
            crate::kapi::time::real_time(),
            crate::clock::now(),
            log,
            end,
            if fetched {
                " on its origin too (fetched again)"
            } else {
                ""
            },
            log
        ))?;
        links::write(&path, text.as_bytes())
    });
    if let Err(e) = written {
        pr_notice!("{}: {} not written: {:?}\n", paths.dir(), DAMAGE_MSG, e);
    }
}

/// Resets the messages of an earlier replayer (split brain, damaged logfile) to `OK`.
fn clear_split_brain_msg(paths: &ResourcePaths) {
    for key in [SPLIT_BRAIN_MSG, DAMAGE_MSG] {
        let Ok(path) = paths.actual(key) else {
            continue;
        };
        if let Ok(Some(value)) = links::read(&path) {
            if value.as_slice() != b"OK" {
                let _ = links::write(&path, b"OK");
            }
        }
    }
}

/// Writes this host's version link of `log` at `pos`, chained to its own link of the logfile
/// before (or, when it joined after that one, the origin's). `Ok(false)`: it cannot be
/// computed (reported).
fn write_own_version(paths: &ResourcePaths, log: LogName<'_>, pos: u64) -> Result<bool> {
    let prev_own = match log.nr.checked_sub(1) {
        Some(prev) => match links::read(&paths.version_link(prev)?)? {
            Some(own) => Some(own),
            // Joined after logfile N-1: chain to the origin's link as the origin does.
            None => read_version(paths, prev, log.origin.as_str())?,
        },
        None => None,
    };
    let prev_text = prev_own
        .as_deref()
        .and_then(|v| core::str::from_utf8(v).ok())
        .unwrap_or("");
    let pos = i64::try_from(pos).map_err(|_| EINVAL)?;
    match make_version_link(&KernelDigester, log.nr, log.origin, pos, prev_text) {
        Ok(value) => {
            links::write(
                &paths.version_link(log.nr)?,
                links::format_value(&value)?.as_bytes(),
            )?;
            Ok(true)
        }
        Err(e) => {
            pr_notice!(
                "{}: version link of {} not written: {:?}\n",
                paths.dir(),
                log,
                e
            );
            Ok(false)
        }
    }
}

/// Records that logfile `log` is applied up to `end` (the data device was flushed): this
/// host's version link for it, then the replay link.
fn record_progress(paths: &ResourcePaths, log: LogName<'_>, end: u64) -> Result {
    write_own_version(paths, log, end)?;
    // The replay link follows even without a version link (a later pass reports it again).
    let pos = i64::try_from(end).map_err(|_| EINVAL)?;
    let link = ReplayLink {
        log,
        min_pos: pos,
        dirty_len: 0,
    };
    links::write(
        &paths.replay_link()?,
        links::format_value(&link)?.as_bytes(),
    )
}

/// `version-<nr>-<host>` of any host.
pub(crate) fn read_version(paths: &ResourcePaths, nr: u32, host: &str) -> Result<Option<KVec<u8>>> {
    let mut name = links::LinkText::new();
    core::fmt::Write::write_fmt(&mut name, format_args!("version-{:09}-{}", nr, host))
        .map_err(|_| EINVAL)?;
    links::read(&paths.dir().child(name.as_bytes())?)
}
