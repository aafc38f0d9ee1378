// SPDX-License-Identifier: GPL-2.0
//! Start-up of the transaction logger on a primary: crash recovery and the choice of the
//! logfile to append to.
//!
//! From the `replay-<host>` link, `mars_core::log_recovery` plans what to do; this file does
//! it: replays `[start, EOF)` of the logfile onto the data device (records that overlap are
//! written in log order, others in parallel), flushes the data device, records the log's end
//! in this host's version link, creates the fresh logfile N+1 and points the replay link at it
//! (`log-(N+1)-<host>,0,0`). Without a replay link (a new resource) logging starts with
//! logfile 1. A log damaged before its end (not just a torn tail) stops recovery with EILSEQ
//! unless forced.
//!
//! Runs in the process context of whoever switches the logger on, before its device exists.

use super::links::{self, KernelDigester, ResourcePaths};
use super::own_io::{Completions, OwnIo};
use crate::brick::Input;
use crate::compress::KernelDecompressor;
use crate::kapi::errno::eilseq;
use crate::kapi::file::{File, OpenMode, SyncMode};
use crate::mars_core::log_record::MAX_RECORD_LEN;
use crate::mars_core::log_recovery::{
    after_replay, judge_tail, plan_recovery, AfterReplay, RecoveryPlan, ReplayEnd, ReplayStep,
    Replayer,
};
use crate::mars_core::log_scan::ScanContext;
use crate::mars_core::logger::{fresh_replay_link, version_link};
use crate::mars_core::tree::{LogName, MAX_LOG_NR};
use kernel::error::code::{EEXIST, EIO, ENOENT};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Replayed records in flight at once.
const REPLAY_IN_FLIGHT: usize = 64;
/// Bytes read from the logfile at once.
const WINDOW: usize = 1 << 20;

/// Where logging starts.
pub(crate) struct LogStart {
    /// Number of the logfile to append to.
    pub(crate) nr: u32,
    /// That logfile, open for writing (empty).
    pub(crate) file: File,
    /// This host's version link of logfile `nr - 1` (empty if none): the version link of
    /// logfile `nr` chains to it.
    pub(crate) prev_version: KVec<u8>,
    /// Records replayed onto the data device.
    pub(crate) replayed: u64,
}

/// Recovers the resource at `paths` onto the data device behind `data` and opens the logfile
/// to log into. `force` accepts a damaged log (what follows the damage is lost).
pub(crate) fn recover(paths: &ResourcePaths, data: &Input, force: bool) -> Result<LogStart> {
    let me = paths.host()?;
    let Some(value) = links::read(&paths.replay_link()?)? else {
        pr_info!("{}: no replay link: starting with logfile 1\n", paths.dir());
        return start_log(paths, 1, 0);
    };
    let replay = links::parse_replay(&value)
        .inspect_err(|_| pr_err!("{}: malformed replay link\n", paths.dir()))?;
    let log = replay.log;
    let log_path = paths.log(log)?;
    let file = match File::open(log_path.as_cstr(), OpenMode::Read) {
        Ok(file) => Some(file),
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(e),
    };
    let size = file.as_ref().map_or(0, File::size);
    let own_version = links::read(&paths.version_link(log.nr)?)?;
    let version_pos = own_version
        .as_deref()
        .and_then(|v| links::version_pos(v, log));
    let plan = plan_recovery(&replay, version_pos, size, me);
    pr_info!(
        "{}: replay link {}, logfile size {}: {:?}\n",
        paths.dir(),
        replay,
        size,
        plan
    );
    match plan {
        RecoveryPlan::UseEmpty => {
            let file = File::open(log_path.as_cstr(), OpenMode::ReadWriteCreate)?;
            let prev_version = read_prev_version(paths, log.nr)?;
            Ok(LogStart {
                nr: log.nr,
                file,
                prev_version,
                replayed: 0,
            })
        }
        RecoveryPlan::Refuse(refusal) => {
            pr_err!("{}: cannot recover: {:?}\n", paths.dir(), refusal);
            Err(EIO)
        }
        RecoveryPlan::StartNext { end, next_nr } => {
            finish_log(paths, log, end)?;
            continue_after(paths, data, next_nr, 0, force)
        }
        RecoveryPlan::Replay { from, to, next_nr } => {
            let file = file.ok_or(EIO)?;
            let (end, applied) = replay_judged(&file, from, to, data)?;
            pr_info!(
                "{}: replayed {} records of {} from {}: {:?}\n",
                paths.dir(),
                applied,
                log,
                from,
                end
            );
            match after_replay(&end, force) {
                AfterReplay::Refuse => {
                    pr_err!(
                        "{}: {} is damaged at {}: not starting (force to accept the loss)\n",
                        paths.dir(),
                        log,
                        end.end()
                    );
                    Err(eilseq())
                }
                AfterReplay::StartNext { end: log_end } => {
                    cut_torn_tail(paths, log, &file, &end)?;
                    finish_log(paths, log, log_end)?;
                    continue_after(paths, data, next_nr, applied, force)
                }
            }
        }
    }
}

/// Goes on after the logfile before `nr` was applied: logfiles of this host that follow it
/// (a crash during a switch of logfiles leaves the next one written) are replayed whole, in
/// order; the first missing or empty one is where logging starts.
fn continue_after(
    paths: &ResourcePaths,
    data: &Input,
    mut nr: u32,
    mut replayed: u64,
    force: bool,
) -> Result<LogStart> {
    let me = paths.host()?;
    loop {
        let log = LogName { nr, origin: me };
        let path = paths.log(log)?;
        let file = match File::open(path.as_cstr(), OpenMode::Read) {
            Ok(file) => file,
            Err(e) if e == ENOENT => return start_log(paths, nr, replayed),
            Err(e) => return Err(e),
        };
        let size = file.size();
        if size == 0 {
            drop(file);
            return start_log(paths, nr, replayed);
        }
        let (end, applied) = replay_judged(&file, 0, size, data)?;
        replayed = replayed.saturating_add(applied);
        pr_info!(
            "{}: replayed {} records of the following {}: {:?}\n",
            paths.dir(),
            applied,
            log,
            end
        );
        match after_replay(&end, force) {
            AfterReplay::Refuse => {
                pr_err!(
                    "{}: {} is damaged at {}: not starting (force to accept the loss)\n",
                    paths.dir(),
                    log,
                    end.end()
                );
                return Err(eilseq());
            }
            AfterReplay::StartNext { end: log_end } => {
                cut_torn_tail(paths, log, &file, &end)?;
                finish_log(paths, log, log_end)?;
            }
        }
        nr = nr.checked_add(1).filter(|&n| n <= MAX_LOG_NR).ok_or(EIO)?;
    }
}

/// This host's version link of logfile `nr - 1`, or empty.
fn read_prev_version(paths: &ResourcePaths, nr: u32) -> Result<KVec<u8>> {
    match nr.checked_sub(1) {
        Some(prev) => Ok(links::read(&paths.version_link(prev)?)?.unwrap_or_default()),
        None => Ok(KVec::new()),
    }
}

/// Records the end of the applied part of logfile `log` in this host's version link (the
/// original's `_recover_versionlink`), which the fresh logfile's version link chains to.
///
/// For a logfile of another host (a secondary becoming primary, in particular by a forced
/// failover while the old primary is gone) this is what the replayer records after a pass
/// (`replayer::record_progress`): the host's own history then says exactly how much of the
/// old primary's logfile its data device holds, so the new branch of the version chain forks
/// at the right point and split-brain detection names the true common ancestor.
fn finish_log(paths: &ResourcePaths, log: LogName<'_>, end: u64) -> Result {
    let own = log.origin == paths.host()?;
    let mut prev = read_prev_version(paths, log.nr)?;
    if prev.is_empty() && !own {
        // Joined after logfile N-1: chain to the origin's link as the origin does.
        if let Some(prev_nr) = log.nr.checked_sub(1) {
            prev = super::replayer::read_version(paths, prev_nr, log.origin.as_str())?
                .unwrap_or_default();
        }
    }
    let prev = core::str::from_utf8(&prev).unwrap_or("");
    match version_link(&KernelDigester, log, end, prev) {
        Ok(value) => links::write(
            &paths.version_link(log.nr)?,
            links::format_value(&value)?.as_bytes(),
        ),
        Err(e) => {
            pr_notice!(
                "{}: version link of {} not written: {}\n",
                paths.dir(),
                log,
                e
            );
            Ok(())
        }
    }
}

/// Creates logfile `nr` of this host (an existing empty one is fine) and points the replay
/// link at its start.
fn start_log(paths: &ResourcePaths, nr: u32, replayed: u64) -> Result<LogStart> {
    let me = paths.host()?;
    let path = paths.log(LogName { nr, origin: me })?;
    let file = match File::open(path.as_cstr(), OpenMode::CreateNew) {
        Ok(file) => file,
        Err(e) if e == EEXIST => {
            let file = File::open(path.as_cstr(), OpenMode::ReadWriteCreate)?;
            if file.size() != 0 {
                pr_err!(
                    "{}: logfile {} exists and is not empty: not appending to it\n",
                    paths.dir(),
                    path
                );
                return Err(EEXIST);
            }
            file
        }
        Err(e) => return Err(e),
    };
    links::write(
        &paths.replay_link()?,
        links::format_value(&fresh_replay_link(nr, me))?.as_bytes(),
    )?;
    let prev_version = read_prev_version(paths, nr)?;
    pr_info!("{}: logging into {}\n", paths.dir(), path);
    Ok(LogStart {
        nr,
        file,
        prev_version,
        replayed,
    })
}

/// Replays `[from, to)` of `file` like [`replay_log`] and judges a defect with a look at the
/// rest of the file: followed by nothing but zeros (the log writer writes zeros ahead of its
/// records) within `MAX_TORN_WRITE`, it is the torn last write, never acknowledged
/// (`mars_core::log_recovery::judge_tail`).
fn replay_judged(file: &File, from: u64, to: u64, data: &Input) -> Result<(ReplayEnd, u64)> {
    let (end, applied, _) = replay_log(file, from, to, data)?;
    match end {
        ReplayEnd::Corrupt { end: at, .. } => Ok((
            judge_tail(end, to, zero_suffix_start(file, at, to)?),
            applied,
        )),
        _ => Ok((end, applied)),
    }
}

/// Where the all-zero suffix of `[floor, eof)` of `file` starts (reads backwards from `eof`
/// and stops at the first non-zero byte).
fn zero_suffix_start(file: &File, floor: u64, eof: u64) -> Result<u64> {
    let mut buf = KVVec::from_elem(0u8, WINDOW, GFP_KERNEL)?;
    let mut pos = eof;
    while pos > floor {
        let start = pos.saturating_sub(WINDOW as u64).max(floor);
        let len = usize::try_from(pos - start).map_err(|_| EIO)?;
        let window = buf.get_mut(..len).ok_or(EIO)?;
        let read = file.read_at(window, start)?;
        if read < len {
            // The file shrank under us: count it as data.
            return Ok(pos);
        }
        if let Some(i) = window.iter().rposition(|&b| b != 0) {
            return Ok(start.saturating_add(i as u64 + 1));
        }
        pos = start;
    }
    Ok(floor)
}

/// Truncates this host's logfile `log` to the end of its records when recovery found a torn
/// tail (zeros written ahead, or a write that never completed): its size is its end again,
/// as for every finished logfile. Logfiles of other hosts are left alone.
fn cut_torn_tail(paths: &ResourcePaths, log: LogName<'_>, file: &File, end: &ReplayEnd) -> Result {
    if let ReplayEnd::TruncatedTail { end, .. } = *end {
        if log.origin == paths.host()? && file.size() > end {
            pr_info!(
                "{}: cutting {} at {} (torn tail of {} bytes)\n",
                paths.dir(),
                log,
                end,
                file.size() - end
            );
            file.truncate(end)?;
            file.sync(SyncMode::FullSync)?;
        }
    }
    Ok(())
}

/// Replays `[from, to)` of `file` onto `data`, then flushes `data`. Returns how the log ended,
/// how many records were applied, and the newest Lamport stamp (seconds) among them (0 when
/// none was applied; a stamp is taken on the origin when the write entered its logger).
pub(crate) fn replay_log(
    file: &File,
    from: u64,
    to: u64,
    data: &Input,
) -> Result<(ReplayEnd, u64, i64)> {
    let completions = Completions::new(REPLAY_IN_FLIGHT)?;
    let mut buf = KVVec::from_elem(0u8, WINDOW, GFP_KERNEL)?;
    let mut scratch = KVVec::from_elem(0u8, MAX_RECORD_LEN, GFP_KERNEL)?;
    // In-flight writes: their ranges, so overlapping records go in log order.
    let mut flying: KVec<Option<(u64, u64)>> = KVec::from_elem(None, REPLAY_IN_FLIGHT, GFP_KERNEL)?;
    let mut failed = false;
    let mut newest_stamp = 0i64;
    // Compressed records (the original writes them with log compression on) decompress
    // into `scratch`: LZ4, LZO or zlib. Every digest of the format is checked (the original
    // writes CRC32, MD5 or SHA1 where the cluster disabled CRC32C).
    let decompressor = KernelDecompressor::new()?;
    let digester = crate::digest::KernelDigester::new();
    let ctx = ScanContext {
        digester: &digester,
        compressor: Some(&decompressor),
    };
    let mut replayer = Replayer::new(from, to);
    let (mut buf_start, mut buf_len) = (from, 0usize);
    let end = loop {
        let rel =
            usize::try_from(replayer.position().saturating_sub(buf_start)).map_err(|_| EIO)?;
        let window = buf.get(rel..buf_len).unwrap_or_default();
        match replayer.step(window, &ctx, scratch.as_mut_slice()) {
            ReplayStep::Apply(record) => {
                let pos = u64::try_from(record.header.pos).map_err(|_| EIO)?;
                let len = record.payload.len() as u64;
                newest_stamp = newest_stamp.max(record.header.stamp_sec);
                // Wait until no overlapping write is in flight and there is room for one more.
                while flying
                    .iter()
                    .flatten()
                    .any(|&(p, e)| p < pos.saturating_add(len) && pos < e)
                    || !flying.iter().any(Option::is_none)
                {
                    reap_one(&completions, &mut flying, &mut failed);
                }
                let io = OwnIo::replay(pos, record.payload, &completions)?;
                if let Some(slot) = flying.iter_mut().find(|slot| slot.is_none()) {
                    *slot = Some((pos, pos.saturating_add(len)));
                }
                if io.submit(data).is_err() {
                    return Err(EIO);
                }
            }
            ReplayStep::Skip(_) => {}
            ReplayStep::NeedData { from, min_len } => {
                let had = buf_len.saturating_sub(rel);
                buf_start = from;
                buf_len = file.read_at(buf.as_mut_slice(), from)?;
                if buf_len < min_len && buf_len <= had && from.saturating_add(buf_len as u64) < to {
                    // The file shrank under us.
                    pr_err!(
                        "replay: logfile ends at {} before {}\n",
                        from.saturating_add(buf_len as u64),
                        to
                    );
                    break ReplayEnd::Clean { end: from };
                }
            }
            ReplayStep::End(end) => break end,
        }
    };
    completions.drain(|io, status| note_done(&io, status, &mut flying, &mut failed));
    let flush = OwnIo::flush(&completions)?;
    if flush.submit(data).is_err() {
        return Err(EIO);
    }
    completions.drain(|io, status| note_done(&io, status, &mut flying, &mut failed));
    if failed {
        pr_err!("replay: writing to the data device failed\n");
        return Err(EIO);
    }
    Ok((end, replayer.applied(), newest_stamp))
}

/// Waits for one completion and books it.
fn reap_one(completions: &Arc<Completions>, flying: &mut [Option<(u64, u64)>], failed: &mut bool) {
    loop {
        if let Some((io, status)) = completions.take() {
            note_done(&io, status, flying, failed);
            return;
        }
        completions
            .event()
            .wait(None, 100, || completions.has_done());
    }
}

/// Forgets a completed write's range; remembers a failure.
fn note_done(io: &OwnIo, status: Result, flying: &mut [Option<(u64, u64)>], failed: &mut bool) {
    if status.is_err() {
        *failed = true;
    }
    let pos = io.pos();
    // Writes in flight never overlap, so the start position names one.
    if let Some(slot) = flying
        .iter_mut()
        .find(|slot| slot.is_some_and(|(p, _)| p == pos))
    {
        *slot = None;
    }
}
