// SPDX-License-Identifier: GPL-2.0
//! Crash recovery of the transaction logger: what to replay from the logfile onto the data
//! device before logging starts again, and how to read it.
//!
//! After a crash (or any restart) of a primary, the `replay-<host>` link says
//! `log-N-<origin>,<min_pos>,<dirty_len>`: everything before `min_pos` of logfile N is on the
//! data device, anything after may or may not be. [`plan_recovery`] decides from that link,
//! the host's own version link and the logfile's size: replay `[start, EOF)` (replaying is
//! idempotent: applying a record whose data is already on the device changes nothing), or
//! nothing; then a *fresh* logfile N+1 is started, because a logfile that existed before the
//! crash is never appended to (its tail may be torn). Only a logfile that is empty, is the
//! host's own and was never written (`min_pos` 0) is used as it is.
//!
//! [`Replayer`] then walks the records of `[start, EOF)` window by window with the log
//! scanner and classifies how the log ends: cleanly at EOF; with a truncated tail (the
//! scanner's `truncated` class, or zeroes up to EOF: the write in flight when the machine
//! died, never acknowledged as durable), where replay stops and everything before counts as
//! applied; or with a defect in the middle (corruption), where replay stops and the logger
//! reports instead of starting (unless forced), because records after the damage would be
//! lost silently.

use super::log_record::CODE_WRITE_NEW;
use super::log_scan::{scan_record, Record, ScanContext, ScanError, ScanErrorKind, ScanState};
use super::names::HostName;
use super::tree::MAX_LOG_NR;
use super::tree_value::ReplayLink;

/// What recovery does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryPlan {
    /// The replay link names this host's own, empty, never written logfile: log into it.
    UseEmpty,
    /// Replay `[from, to)` of the logfile, then start logfile `next_nr`.
    Replay {
        /// First byte to replay (a record boundary).
        from: u64,
        /// End of the logfile.
        to: u64,
        /// The fresh logfile's number.
        next_nr: u32,
    },
    /// Nothing to replay (everything up to `end`, the end of the logfile, is on the data
    /// device): start logfile `next_nr`.
    StartNext {
        /// End of the logfile.
        end: u64,
        /// The fresh logfile's number.
        next_nr: u32,
    },
    /// Recovery cannot proceed on its own.
    Refuse(Refusal),
}

/// Why recovery refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The logfile is shorter than the replay position: data the replay link claims were
    /// logged are gone (the original's `-EBADF`; `primary --force` territory).
    LogShorter {
        /// Size of the logfile.
        size: u64,
        /// Where replay would start.
        start: u64,
    },
    /// The replay link has a negative position.
    BadPosition,
    /// No logfile number after this one.
    NoNextNumber,
}

/// Plans recovery from the replay link, the position in this host's own version link of the
/// same logfile (`None` when missing) and the logfile's size. As in the original
/// (`_check_logging_status`), replay starts at the smaller of the two positions.
pub fn plan_recovery(
    replay: &ReplayLink<'_>,
    own_version_pos: Option<i64>,
    log_size: u64,
    me: HostName<'_>,
) -> RecoveryPlan {
    let Ok(min_pos) = u64::try_from(replay.min_pos) else {
        return RecoveryPlan::Refuse(Refusal::BadPosition);
    };
    let start = match own_version_pos.and_then(|v| u64::try_from(v).ok()) {
        Some(version_pos) => min_pos.min(version_pos),
        None => min_pos,
    };
    if log_size == 0
        && min_pos == 0
        && replay.dirty_len == 0
        && replay.log.origin.as_str() == me.as_str()
    {
        return RecoveryPlan::UseEmpty;
    }
    let Some(next_nr) = replay.log.nr.checked_add(1).filter(|&nr| nr <= MAX_LOG_NR) else {
        return RecoveryPlan::Refuse(Refusal::NoNextNumber);
    };
    if log_size < start {
        return RecoveryPlan::Refuse(Refusal::LogShorter {
            size: log_size,
            start,
        });
    }
    if log_size == start {
        return RecoveryPlan::StartNext {
            end: log_size,
            next_nr,
        };
    }
    RecoveryPlan::Replay {
        from: start,
        to: log_size,
        next_nr,
    }
}

/// How the replayed part of a logfile ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayEnd {
    /// Every record up to EOF was read.
    Clean {
        /// End of the last record (= EOF).
        end: u64,
    },
    /// The file ends inside a record, or in zeroes: an interrupted append. Everything before
    /// `end` was read.
    TruncatedTail {
        /// Start of the torn record.
        end: u64,
        /// Bytes from there to EOF.
        torn: u64,
    },
    /// A defect before EOF. Everything before `end` was read; nothing after it.
    Corrupt {
        /// Start of the damaged record.
        end: u64,
        /// What is wrong there.
        error: ScanError,
    },
}

impl ReplayEnd {
    /// End of the data that was read and applied.
    pub fn end(&self) -> u64 {
        match *self {
            ReplayEnd::Clean { end }
            | ReplayEnd::TruncatedTail { end, .. }
            | ReplayEnd::Corrupt { end, .. } => end,
        }
    }
}

/// The most bytes a log writer writes at once (one batch of records with the rest of the
/// page before it and zero padding up to the page after it: `mars.ko` asserts that its
/// batches fit). Pages of a write that was in flight when the machine died may reach the
/// disk in any order, so a *torn* last write can leave valid-looking or zero pages anywhere
/// in these bytes after its first damaged record, never beyond.
pub const MAX_TORN_WRITE: u64 = (2 << 20) + 2 * 4096;

/// Zeros at the end of a logfile shorter than this are no zero tail (the last record's
/// digest may end in zero bytes; a record never holds this many zeros followed by nothing).
pub const MIN_ZERO_TAIL: u64 = 4096;

/// Judges a replay that stopped at a defect with a look at the rest of the file: a logger
/// that preallocates its logfile (zeros written ahead of the records, so that appends are
/// overwrites) leaves zeros up to EOF after its last write; when its last write was torn,
/// what lies between the defect and those zeros is that write. So a defect at `e` is a torn
/// tail when every byte from `zero_from` to `eof` is zero, at least `MIN_ZERO_TAIL` of them,
/// and `zero_from <= e + MAX_TORN_WRITE`: nothing acknowledged as durable was lost. Any other
/// end is returned as it is (a defect followed by more data, or at the end of a logfile
/// without zeros ahead, is corruption).
pub fn judge_tail(end: ReplayEnd, eof: u64, zero_from: u64) -> ReplayEnd {
    match end {
        ReplayEnd::Corrupt { end: e, .. }
            if zero_from >= e
                && zero_from <= e.saturating_add(MAX_TORN_WRITE)
                && eof.saturating_sub(zero_from) >= MIN_ZERO_TAIL =>
        {
            ReplayEnd::TruncatedTail {
                end: e,
                torn: eof.saturating_sub(e),
            }
        }
        other => other,
    }
}

/// Judges where the replay of a copy fetched from another host ended. A copy holds what its
/// origin made durable up to `origin_durable`, which is a record boundary; a record that runs
/// past the end of a copy holding all of that (`local_size >= origin_durable`) is no record
/// still being fetched but damage (a length field changed on the way or on either disk):
/// [`ReplayEnd::Corrupt`], so that the copy is fetched again and, if the origin's own copy is
/// damaged, the replay stops and says so. Any other end is returned as it is.
pub fn judge_fetched_end(
    end: ReplayEnd,
    origin_durable: Option<u64>,
    local_size: u64,
) -> ReplayEnd {
    match end {
        ReplayEnd::TruncatedTail { end: at, torn }
            if origin_durable.is_some_and(|durable| at < durable && local_size >= durable) =>
        {
            ReplayEnd::Corrupt {
                end: at,
                error: ScanError {
                    offset: at,
                    at,
                    kind: ScanErrorKind::Truncated {
                        needed: 0,
                        available: usize::try_from(torn).unwrap_or(usize::MAX),
                    },
                    record_len: None,
                    seq_nr: None,
                },
            }
        }
        other => other,
    }
}

/// What to do after replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterReplay {
    /// Record the log's end in the version link (the original's `_recover_versionlink`) and
    /// start the fresh logfile.
    StartNext {
        /// End of the applied data: the position for the version link.
        end: u64,
    },
    /// Do not start: the log is damaged before its end (report `ReplayEnd::Corrupt`).
    Refuse,
}

/// The decision after replay: a clean end or a truncated tail starts the next logfile; a
/// defect in the middle refuses unless `force` (the operator accepts losing what follows).
pub fn after_replay(end: &ReplayEnd, force: bool) -> AfterReplay {
    match end {
        ReplayEnd::Corrupt { .. } if !force => AfterReplay::Refuse,
        _ => AfterReplay::StartNext { end: end.end() },
    }
}

/// One step of a replay.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayStep<'a> {
    /// Write the record's payload at `record.header.pos` of the data device, in order with
    /// any other replayed write that overlaps it.
    Apply(Record<'a>),
    /// A verified record that carries no new data (e.g. a pre-image): nothing to do.
    Skip(Record<'a>),
    /// Read a longer window: from file offset `from` (the current position), at least
    /// `min_len` bytes or up to EOF.
    NeedData {
        /// Where the window must start.
        from: u64,
        /// How many bytes it must hold at least.
        min_len: usize,
    },
    /// The replay is over.
    End(ReplayEnd),
}

/// Walks the records of `[from, to)` of a logfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replayer {
    state: ScanState,
    eof: u64,
    applied: u64,
    skipped: u64,
}

impl Replayer {
    /// A replay of `[from, eof)`.
    pub fn new(from: u64, eof: u64) -> Replayer {
        Replayer {
            state: ScanState::at(from),
            eof,
            applied: 0,
            skipped: 0,
        }
    }

    /// File offset of the next record: where the next window must start.
    pub fn position(&self) -> u64 {
        self.state.file_pos
    }

    /// Records returned with [`ReplayStep::Apply`] so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Records returned with [`ReplayStep::Skip`] so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Looks at `window`, the bytes of the file from [`Replayer::position`] on (up to EOF or
    /// shorter), and returns the next step. `scratch` is only used for compressed records
    /// (see `scan_record`).
    pub fn step<'a>(
        &mut self,
        window: &'a [u8],
        ctx: &ScanContext<'_>,
        scratch: &'a mut [u8],
    ) -> ReplayStep<'a> {
        let pos = self.state.file_pos;
        let remaining = self.eof.saturating_sub(pos);
        let window = window
            .get(..usize::try_from(remaining).unwrap_or(usize::MAX))
            .unwrap_or(window);
        let at_eof = window.len() as u64 >= remaining;
        match scan_record(window, at_eof, &mut self.state, ctx, scratch) {
            Ok(None) => ReplayStep::End(ReplayEnd::Clean { end: pos }),
            Ok(Some(record)) if record.header.code == CODE_WRITE_NEW => {
                self.applied = self.applied.saturating_add(1);
                ReplayStep::Apply(record)
            }
            Ok(Some(record)) => {
                self.skipped = self.skipped.saturating_add(1);
                ReplayStep::Skip(record)
            }
            Err(error) => match error.kind {
                ScanErrorKind::NeedMore { needed } => ReplayStep::NeedData {
                    from: pos,
                    min_len: needed,
                },
                ScanErrorKind::Truncated { .. } => ReplayStep::End(ReplayEnd::TruncatedTail {
                    end: pos,
                    torn: remaining,
                }),
                ScanErrorKind::Zeroed if at_eof && window.iter().all(|&b| b == 0) => {
                    ReplayStep::End(ReplayEnd::TruncatedTail {
                        end: pos,
                        torn: remaining,
                    })
                }
                _ => ReplayStep::End(ReplayEnd::Corrupt { end: pos, error }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::digest::{CrcFlags, Digester};
    use super::super::lamport::Stamp;
    use super::super::log_record::{
        encode_record, EncodeOptions, RecordHeader, CODE_WRITE_OLD, OVERHEAD,
    };
    use super::super::tree::LogName;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_record_past_the_end_of_a_complete_fetched_copy_is_damage() {
        let torn = ReplayEnd::TruncatedTail {
            end: 1000,
            torn: 300,
        };
        // The copy holds all the origin made durable (1300): the record running past it
        // is damaged.
        assert!(matches!(
            judge_fetched_end(torn, Some(1300), 1300),
            ReplayEnd::Corrupt { end: 1000, .. }
        ));
        // More of the logfile is still to be fetched, or the origin's end is unknown: wait.
        assert_eq!(judge_fetched_end(torn, Some(5000), 1300), torn);
        assert_eq!(judge_fetched_end(torn, None, 1300), torn);
        // The origin's durable end at the torn record itself: nothing after it is durable.
        assert_eq!(judge_fetched_end(torn, Some(1000), 1300), torn);
        let clean = ReplayEnd::Clean { end: 1300 };
        assert_eq!(judge_fetched_end(clean, Some(1300), 1300), clean);
    }

    struct Crc;
    impl Digester for Crc {
        fn crc32c(&self, data: &[u8]) -> Option<u32> {
            // bitwise CRC32C, enough for tests
            let mut crc = !0u32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0x82f6_3b78
                    } else {
                        crc >> 1
                    };
                }
            }
            Some(!crc)
        }
    }

    fn host() -> HostName<'static> {
        HostName::parse("alpha").unwrap()
    }

    fn link(nr: u32, origin: &'static str, min_pos: i64, dirty_len: i64) -> ReplayLink<'static> {
        ReplayLink {
            log: LogName {
                nr,
                origin: HostName::parse(origin).unwrap(),
            },
            min_pos,
            dirty_len,
        }
    }

    #[test]
    fn planning() {
        let me = host();
        assert_eq!(
            plan_recovery(&link(3, "alpha", 0, 0), None, 0, me),
            RecoveryPlan::UseEmpty
        );
        assert_eq!(
            plan_recovery(&link(3, "bravo", 0, 0), None, 0, me),
            RecoveryPlan::StartNext { end: 0, next_nr: 4 },
            "an empty foreign logfile is not appended to"
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", 100, 0), None, 100, me),
            RecoveryPlan::StartNext {
                end: 100,
                next_nr: 4
            }
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", 100, 50), None, 500, me),
            RecoveryPlan::Replay {
                from: 100,
                to: 500,
                next_nr: 4
            }
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", 100, 50), Some(40), 500, me),
            RecoveryPlan::Replay {
                from: 40,
                to: 500,
                next_nr: 4
            },
            "the smaller of replay and version position"
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", 100, 50), Some(400), 500, me),
            RecoveryPlan::Replay {
                from: 100,
                to: 500,
                next_nr: 4
            }
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", 600, 0), None, 500, me),
            RecoveryPlan::Refuse(Refusal::LogShorter {
                size: 500,
                start: 600
            })
        );
        assert_eq!(
            plan_recovery(&link(3, "alpha", -1, 0), None, 500, me),
            RecoveryPlan::Refuse(Refusal::BadPosition)
        );
        assert_eq!(
            plan_recovery(&link(MAX_LOG_NR, "alpha", 0, 0), None, 10, me),
            RecoveryPlan::Refuse(Refusal::NoNextNumber)
        );
    }

    /// A logfile of `n` records of 512 bytes at positions 0, 512, ...; returns it and the
    /// record offsets.
    fn logfile(n: u32) -> (Vec<u8>, Vec<u64>) {
        let mut file = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..n {
            let hdr = RecordHeader::new(
                Stamp { sec: 1, nsec: i },
                i64::from(i) * 512,
                CODE_WRITE_NEW,
                i + 1,
            );
            let payload = [i as u8; 512];
            let mut out = [0u8; 512 + OVERHEAD];
            let opts = EncodeOptions {
                digests: CrcFlags::CRC32C,
                compression: CrcFlags::NONE,
            };
            let enc = encode_record(&hdr, &payload, &opts, &Crc, None, &mut out).unwrap();
            offsets.push(file.len() as u64);
            file.extend_from_slice(&out[..enc.total_len]);
        }
        (file, offsets)
    }

    /// Runs a replayer over `file[from..]` with windows of at most `chunk` bytes, growing on
    /// demand as a kernel reader would; returns applied positions and the end.
    fn run(file: &[u8], from: u64, chunk: usize) -> (Vec<i64>, ReplayEnd) {
        let ctx = ScanContext {
            digester: &Crc,
            compressor: None,
        };
        let mut r = Replayer::new(from, file.len() as u64);
        let mut applied = Vec::new();
        let mut want = chunk;
        loop {
            let start = r.position() as usize;
            let end = (start + want).min(file.len());
            let mut scratch = [];
            match r.step(&file[start..end], &ctx, &mut scratch) {
                ReplayStep::Apply(rec) => {
                    applied.push(rec.header.pos);
                    want = chunk;
                }
                ReplayStep::Skip(_) => want = chunk,
                ReplayStep::NeedData { from, min_len } => {
                    assert_eq!(from as usize, start);
                    assert!(min_len > end - start, "asks for more than it had");
                    want = min_len;
                }
                ReplayStep::End(e) => return (applied, e),
            }
        }
    }

    #[test]
    fn clean_replay_from_the_middle_with_small_windows() {
        let (file, offsets) = logfile(10);
        for chunk in [1, 100, 700, 1 << 20] {
            let (applied, end) = run(&file, offsets[3], chunk);
            assert_eq!(
                applied,
                (3..10).map(|i| i * 512).collect::<Vec<i64>>(),
                "chunk {chunk}"
            );
            assert_eq!(
                end,
                ReplayEnd::Clean {
                    end: file.len() as u64
                }
            );
            assert_eq!(
                after_replay(&end, false),
                AfterReplay::StartNext {
                    end: file.len() as u64
                }
            );
        }
    }

    #[test]
    fn truncated_tail_stops_there() {
        let (mut file, offsets) = logfile(5);
        file.truncate(offsets[4] as usize + 100);
        let (applied, end) = run(&file, 0, 4096);
        assert_eq!(applied.len(), 4);
        assert_eq!(
            end,
            ReplayEnd::TruncatedTail {
                end: offsets[4],
                torn: 100
            }
        );
        assert_eq!(
            after_replay(&end, false),
            AfterReplay::StartNext { end: offsets[4] }
        );
    }

    #[test]
    fn zeroes_up_to_eof_are_a_torn_tail() {
        let (mut file, offsets) = logfile(3);
        file.resize(file.len() + 3000, 0);
        let (applied, end) = run(&file, 0, 1 << 20);
        assert_eq!(applied.len(), 3);
        assert_eq!(
            end,
            ReplayEnd::TruncatedTail {
                end: offsets[2] + 512 + OVERHEAD as u64,
                torn: 3000
            }
        );
    }

    #[test]
    fn zeroes_beyond_the_window_are_a_torn_tail_once_judged() {
        // A preallocated logfile: 8 MiB of zeros after the records, read in 1 MiB windows.
        let (mut file, offsets) = logfile(3);
        let records_end = offsets[2] + 512 + OVERHEAD as u64;
        file.resize(file.len() + (8 << 20), 0);
        let (applied, end) = run(&file, 0, 1 << 20);
        assert_eq!(applied.len(), 3);
        let ReplayEnd::Corrupt { end: at, .. } = end else {
            panic!("{end:?}")
        };
        assert_eq!(at, records_end);
        let eof = file.len() as u64;
        assert_eq!(
            judge_tail(end, eof, records_end),
            ReplayEnd::TruncatedTail {
                end: records_end,
                torn: eof - records_end
            }
        );
        assert_eq!(
            after_replay(&judge_tail(end, eof, records_end), false),
            AfterReplay::StartNext { end: records_end }
        );
    }

    #[test]
    fn a_torn_last_write_is_a_torn_tail() {
        // The last write's first page never arrived, a later page of it did: a defect, then
        // data, then zeros, all within MAX_TORN_WRITE.
        let (mut file, offsets) = logfile(6);
        let eof = file.len() as u64 + (4 << 20);
        for b in file
            .get_mut(offsets[3] as usize..offsets[4] as usize)
            .unwrap()
        {
            *b = 0;
        }
        file.resize(eof as usize, 0);
        let (applied, end) = run(&file, 0, 1 << 20);
        assert_eq!(applied.len(), 3);
        let zero_from = offsets[5] + 512 + OVERHEAD as u64;
        assert_eq!(
            judge_tail(end, eof, zero_from),
            ReplayEnd::TruncatedTail {
                end: offsets[3],
                torn: eof - offsets[3]
            }
        );
    }

    #[test]
    fn data_far_beyond_a_defect_stay_corruption() {
        let (mut file, offsets) = logfile(3);
        file[offsets[1] as usize + 100] ^= 0xff;
        let (_, end) = run(&file, 0, 1 << 20);
        let eof = file.len() as u64;
        assert!(matches!(
            judge_tail(end, eof, offsets[1] + MAX_TORN_WRITE + 1),
            ReplayEnd::Corrupt { .. }
        ));
        // A zero suffix starting before the defect is impossible; judged as it is.
        assert!(matches!(judge_tail(end, eof, 0), ReplayEnd::Corrupt { .. }));
        // A defect near the end of a logfile without zeros ahead (an old-style logfile, or
        // one whose last record's digest ends in a zero byte) stays corruption.
        assert!(matches!(
            judge_tail(end, eof, eof),
            ReplayEnd::Corrupt { .. }
        ));
        assert!(matches!(
            judge_tail(end, eof, eof - 1),
            ReplayEnd::Corrupt { .. }
        ));
        // Clean ends and truncated tails stay what they are.
        let clean = ReplayEnd::Clean { end: eof };
        assert_eq!(judge_tail(clean, eof, eof), clean);
    }

    #[test]
    fn corruption_in_the_middle_refuses() {
        let (mut file, offsets) = logfile(6);
        // Flip a payload byte of record 2: checksum error, the frame stays intact.
        file[offsets[2] as usize + 100] ^= 0xff;
        let (applied, end) = run(&file, 0, 1 << 20);
        assert_eq!(applied, [0, 512]);
        let ReplayEnd::Corrupt { end: at, error } = end else {
            panic!("{end:?}")
        };
        assert_eq!(at, offsets[2]);
        assert_eq!(error.kind.name(), "checksum");
        assert_eq!(after_replay(&end, false), AfterReplay::Refuse);
        assert_eq!(
            after_replay(&end, true),
            AfterReplay::StartNext { end: offsets[2] }
        );
    }

    #[test]
    fn zeroes_before_more_data_are_corruption() {
        let (mut file, offsets) = logfile(4);
        for b in &mut file[offsets[1] as usize..offsets[2] as usize] {
            *b = 0;
        }
        let (applied, end) = run(&file, 0, 1 << 20);
        assert_eq!(applied, [0]);
        assert!(
            matches!(end, ReplayEnd::Corrupt { end, .. } if end == offsets[1]),
            "{end:?}"
        );
    }

    #[test]
    fn pre_images_are_skipped() {
        let hdr = RecordHeader::new(Stamp { sec: 1, nsec: 0 }, 0, CODE_WRITE_OLD, 1);
        let mut out = [0u8; 64 + OVERHEAD];
        let opts = EncodeOptions {
            digests: CrcFlags::CRC32C,
            compression: CrcFlags::NONE,
        };
        encode_record(&hdr, &[7; 64], &opts, &Crc, None, &mut out).unwrap();
        let ctx = ScanContext {
            digester: &Crc,
            compressor: None,
        };
        let mut r = Replayer::new(0, out.len() as u64);
        let mut scratch = [];
        assert!(matches!(
            r.step(&out, &ctx, &mut scratch),
            ReplayStep::Skip(_)
        ));
        assert_eq!(
            (r.applied(), r.skipped(), r.position()),
            (0, 1, out.len() as u64)
        );
        let mut scratch = [];
        assert_eq!(
            r.step(&[], &ctx, &mut scratch),
            ReplayStep::End(ReplayEnd::Clean {
                end: out.len() as u64
            })
        );
    }

    #[test]
    fn window_beyond_eof_is_cut() {
        // The caller's buffer may hold stale bytes past the EOF it planned with.
        let (file, _) = logfile(2);
        let mut longer = file.clone();
        longer.extend_from_slice(&[0xaa; 100]);
        let ctx = ScanContext {
            digester: &Crc,
            compressor: None,
        };
        let mut r = Replayer::new(0, file.len() as u64);
        let mut n = 0;
        loop {
            let start = r.position() as usize;
            let mut scratch = [];
            match r.step(&longer[start..], &ctx, &mut scratch) {
                ReplayStep::Apply(_) => n += 1,
                ReplayStep::End(e) => {
                    assert_eq!(
                        e,
                        ReplayEnd::Clean {
                            end: file.len() as u64
                        }
                    );
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(n, 2);
    }
}
