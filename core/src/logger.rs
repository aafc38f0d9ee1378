// SPDX-License-Identifier: GPL-2.0
//! The decisions of the transaction logger (the trans_logger brick on a primary), without IO:
//! when a write may be acknowledged, how writes are cut into log records, how much shadow
//! memory the logger may hold, when and how a logfile is rotated, and the values of the
//! `replay-<host>` and `version-NNNNNNNNN-<host>` links it maintains.
//!
//! The replay position itself is tracked by `replay_position`, crash recovery is planned by
//! `log_recovery`. `Documentation/architecture.rst` ("Transaction logger") describes how the
//! kernel puts these together.

use super::digest::Digester;
use super::names::HostName;
use super::tree::LogName;
use super::tree_value::ReplayLink;
use super::tree_value::VersionLink;
use super::version_chain::{make_version_link, ChainError};

/// The `logger_completion_semantics` knob: when the logger acknowledges a write to the
/// application (`_complete()` in the original).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionSemantics {
    /// 0: every write right after its data was copied into the logger's memory. Fastest;
    /// a crash loses the writes whose log records were not yet on disk (a suffix of the
    /// history: the device stays consistent, but FUA/sync writes may be lost).
    EarlyAll,
    /// 1 (the original's default): writes nobody waits for (neither sync nor FUA) early, the
    /// others when their log record is durable.
    EarlyNonSync,
    /// 2: every write when its log record is durable.
    Late,
    /// 3 (default): the block layer's contract for a disk with a volatile write cache, which
    /// `/dev/mars/<res>` announces: writes with FUA (and flushes) when their log record is
    /// durable, every other write early, also `REQ_SYNC` ones (every `O_DIRECT` write), for
    /// which the flag is a hint about waiting, not a durability request. What was acknowledged
    /// early is durable once a later flush or FUA write is acknowledged (the log keeps the
    /// order), as on any disk with a write cache.
    EarlyNonFua,
}

impl CompletionSemantics {
    /// The default (3): the block layer's rule, not the original's (1), see [`Self::EarlyNonFua`].
    pub const DEFAULT: CompletionSemantics = CompletionSemantics::EarlyNonFua;

    /// The largest knob value.
    pub const KNOB_MAX: i64 = 3;

    /// The semantics for a knob value, `None` outside 0..=3.
    pub const fn from_knob(value: i64) -> Option<CompletionSemantics> {
        match value {
            0 => Some(CompletionSemantics::EarlyAll),
            1 => Some(CompletionSemantics::EarlyNonSync),
            2 => Some(CompletionSemantics::Late),
            3 => Some(CompletionSemantics::EarlyNonFua),
            _ => None,
        }
    }

    /// The knob value.
    pub const fn knob_value(self) -> i64 {
        match self {
            CompletionSemantics::EarlyAll => 0,
            CompletionSemantics::EarlyNonSync => 1,
            CompletionSemantics::Late => 2,
            CompletionSemantics::EarlyNonFua => 3,
        }
    }

    /// When a request of `kind` may be acknowledged.
    ///
    /// A flush (an empty write with REQ_PREFLUSH, `fsync`) always waits until every write
    /// logged before it is durable, whatever the semantics: it is how an application learns
    /// that its earlier writes survive a crash. (The block layer turns a PREFLUSH on a data
    /// write into a separate flush request before the write, so data writes only carry FUA.)
    pub const fn ack_point(self, kind: RequestKind) -> AckPoint {
        match (self, kind) {
            (_, RequestKind::Flush) => AckPoint::Durable,
            (CompletionSemantics::EarlyAll, RequestKind::Write { .. }) => AckPoint::Copied,
            (
                CompletionSemantics::EarlyNonSync,
                RequestKind::Write {
                    sync: false,
                    fua: false,
                },
            ) => AckPoint::Copied,
            (CompletionSemantics::EarlyNonSync, RequestKind::Write { .. }) => AckPoint::Durable,
            (CompletionSemantics::Late, RequestKind::Write { .. }) => AckPoint::Durable,
            (CompletionSemantics::EarlyNonFua, RequestKind::Write { fua: false, .. }) => {
                AckPoint::Copied
            }
            (CompletionSemantics::EarlyNonFua, RequestKind::Write { fua: true, .. }) => {
                AckPoint::Durable
            }
        }
    }
}

/// What kind of request reaches the logger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A data write.
    Write {
        /// Somebody waits for it (REQ_SYNC; the opposite of the original's `SKIP_SYNC`).
        sync: bool,
        /// Forced unit access: durable when acknowledged.
        fua: bool,
    },
    /// A cache flush without data.
    Flush,
}

/// When a request is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPoint {
    /// As soon as its data is in the logger's memory (and its record is queued for the log).
    Copied,
    /// When the log is durable up to the end of its record (for a flush: up to the end of
    /// everything logged before it).
    Durable,
}

/// Largest payload of one log record the logger writes: one page, as the original
/// (`CONF_TRANS_MAX_MREF_SIZE`). Records never cross a multiple of this on the data device,
/// so each one fits one page of shadow memory.
pub const RECORD_PAYLOAD_MAX: u64 = 4096;

/// Cuts the write `[pos, pos + len)` into the pieces the logger logs one record each: at most
/// [`RECORD_PAYLOAD_MAX`] bytes, never crossing a multiple of it. Yields `(pos, len)` in
/// ascending order; nothing for `len == 0`.
pub fn record_pieces(pos: u64, len: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = pos.saturating_add(len);
    let mut at = pos;
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let boundary = (at / RECORD_PAYLOAD_MAX)
            .saturating_add(1)
            .saturating_mul(RECORD_PAYLOAD_MAX);
        let piece_end = boundary.min(end);
        let piece = (at, piece_end.checked_sub(at)?);
        at = piece_end;
        Some(piece)
    })
}

/// Where two byte ranges overlap: `(offset in a, offset in b, length)`.
pub fn overlap(a_pos: u64, a_len: u64, b_pos: u64, b_len: u64) -> Option<(u64, u64, u64)> {
    let start = a_pos.max(b_pos);
    let end = a_pos.saturating_add(a_len).min(b_pos.saturating_add(b_len));
    let len = end.checked_sub(start).filter(|&len| len > 0)?;
    Some((start.checked_sub(a_pos)?, start.checked_sub(b_pos)?, len))
}

/// The smallest shadow memory limit: one page, so that the logger can always make progress.
pub const MEM_LIMIT_MIN: u64 = 4096;
/// Largest `mem_limit_percent` (the original clamps to 70).
pub const MEM_LIMIT_PERCENT_MAX: i64 = 70;

/// The shadow memory limit in bytes (`brick_global_memlimit`): `mem_limit_percent` of the
/// RAM, at most `mem_limit_gb` GiB (at least 1), at least [`MEM_LIMIT_MIN`]. The original
/// additionally caps it at a quarter of the free space of /mars: `mars_free` (`None` when
/// unknown).
pub fn mem_limit(total_ram: u64, percent: i64, gb: i64, mars_free: Option<u64>) -> u64 {
    let percent = u64::try_from(percent.clamp(0, MEM_LIMIT_PERCENT_MAX)).unwrap_or(0);
    let gb = u64::try_from(gb.max(1)).unwrap_or(1);
    // No 128-bit division: the kernel has no such builtin.
    let by_ram = (total_ram / 100)
        .saturating_mul(percent)
        .saturating_add((total_ram % 100).saturating_mul(percent) / 100);
    let mut limit = by_ram.min(gb.saturating_mul(1 << 30));
    if let Some(free) = mars_free {
        limit = limit.min(free / 4);
    }
    limit.max(MEM_LIMIT_MIN)
}

/// Whether a write needing `request` more bytes of shadow memory may proceed now, with `used`
/// bytes in use and a limit of `limit`. A write that does not fit waits (writers are
/// throttled, never failed); when nothing is in use every write is admitted, so even a write
/// larger than the limit makes progress.
pub fn admit(used: u64, request: u64, limit: u64) -> bool {
    used == 0
        || used
            .checked_add(request)
            .is_some_and(|total| total <= limit)
}

/// The auto-rotation size in bytes (`logrot_auto_gb`): `None` when the knob is 0 or negative
/// (off); else the smaller of the knob and 1 GiB per 32 GiB of /mars (at least 1 GiB), as in
/// the original's `make_log_init`. `mars_total` is the size of the /mars filesystem.
pub fn logrot_limit(logrot_auto_gb: i64, mars_total: u64) -> Option<u64> {
    let knob = u64::try_from(logrot_auto_gb).ok().filter(|&gb| gb > 0)?;
    let by_space = (mars_total >> 35).max(1);
    Some(knob.min(by_space).saturating_mul(1 << 30))
}

/// What the logger sees of the logfile after the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextLog {
    /// There is none.
    Absent,
    /// It exists with this size.
    Present(u64),
}

/// Why a logfile should be switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotateDecision {
    /// Keep appending to the current logfile.
    Stay,
    /// Create the next logfile: the current one reached the rotation size.
    CreateNext,
    /// Switch to the empty next logfile (the original's `log-rotate`: somebody created it).
    SwitchToNext,
    /// The next logfile is not empty: a primary never appends to a logfile it did not start
    /// itself; report and stay.
    RefuseNonEmpty,
}

/// Whether to rotate, from the current logfile's size, the rotation size and the next
/// logfile: an empty next logfile is switched to at once (also before the size limit); the
/// size limit creates it (and the next round switches).
pub fn rotate_decision(current_size: u64, limit: Option<u64>, next: NextLog) -> RotateDecision {
    match next {
        NextLog::Present(0) => RotateDecision::SwitchToNext,
        NextLog::Present(_) => RotateDecision::RefuseNonEmpty,
        NextLog::Absent if limit.is_some_and(|limit| current_size >= limit) => {
            RotateDecision::CreateNext
        }
        NextLog::Absent => RotateDecision::Stay,
    }
}

/// Where a logfile switch stands (`_init_inputs` / `_rotate_trans` in the original, which use
/// two log inputs). Drive it with [`Rotation::step`] whenever something changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// One logfile: new writes go there, its replay position is reported.
    Single,
    /// A switch was requested: new writes wait until every record of the old logfile is
    /// durable (so the new logfile never holds a write whose predecessor could be lost).
    Draining,
    /// New writes go to the new logfile; the old one is still being written back, so the
    /// replay link still names the old one.
    Overlap,
}

/// What the old (during a switch: the previous) logfile has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldLogState {
    /// End of everything appended to it.
    pub appended: u64,
    /// End of what is durable.
    pub durable: u64,
    /// Whether every entry of it is written back (its replay position equals `appended`).
    pub written_back: bool,
}

/// What the logger must do on a [`Rotation::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationAction {
    /// Nothing yet.
    Wait,
    /// From now on append to the new logfile.
    AppendToNew,
    /// The old logfile is done: write its final version link, move the replay link to the new
    /// logfile, close the old one.
    ReleaseOld,
}

impl Rotation {
    /// Starts a switch; `false` (and no change) while one is under way.
    pub fn request(&mut self) -> bool {
        if *self == Rotation::Single {
            *self = Rotation::Draining;
            true
        } else {
            false
        }
    }

    /// Whether new writes may be appended now (not while draining).
    pub fn may_append(&self) -> bool {
        *self != Rotation::Draining
    }

    /// Advances the switch given the old logfile's state and says what to do. Both steps can
    /// happen in one call only when the old logfile was idle; call again after acting.
    pub fn step(&mut self, old: OldLogState) -> RotationAction {
        match *self {
            Rotation::Single => RotationAction::Wait,
            Rotation::Draining if old.durable >= old.appended => {
                *self = Rotation::Overlap;
                RotationAction::AppendToNew
            }
            Rotation::Draining => RotationAction::Wait,
            Rotation::Overlap if old.written_back && old.durable >= old.appended => {
                *self = Rotation::Single;
                RotationAction::ReleaseOld
            }
            Rotation::Overlap => RotationAction::Wait,
        }
    }
}

/// The positions the logger reports for the logfile it replays from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogPositions {
    /// Everything before is on the data device.
    pub min_pos: u64,
    /// End of the region whose writeback may have started.
    pub max_pos: u64,
    /// End of the durable log data.
    pub durable: u64,
}

/// The `replay-<host>` value for `log` at `positions`: `log-N-<origin>,min_pos,dirty_len`.
/// Positions beyond `i64::MAX` (impossible for real files) are clamped.
pub fn replay_link<'a>(log: LogName<'a>, positions: &LogPositions) -> ReplayLink<'a> {
    let min_pos = i64::try_from(positions.min_pos).unwrap_or(i64::MAX);
    let dirty = positions.max_pos.saturating_sub(positions.min_pos);
    ReplayLink {
        log,
        min_pos,
        dirty_len: i64::try_from(dirty).unwrap_or(i64::MAX),
    }
}

/// The `replay-<host>` value of a fresh logfile: `log-N-<host>,0,0`.
pub fn fresh_replay_link(nr: u32, host: HostName<'_>) -> ReplayLink<'_> {
    ReplayLink {
        log: LogName { nr, origin: host },
        min_pos: 0,
        dirty_len: 0,
    }
}

/// The `version-N-<host>` value a primary writes for its logfile `log` logged durably up to
/// `durable`, chained to its own previous version link `prev_own` (`""` when missing).
pub fn version_link<'a>(
    digester: &dyn Digester,
    log: LogName<'a>,
    durable: u64,
    prev_own: &'a str,
) -> Result<VersionLink<'a>, ChainError> {
    let pos = i64::try_from(durable).map_err(|_| ChainError::BadPosition)?;
    make_version_link(digester, log.nr, log.origin, pos, prev_own)
}

/// Paces the link updates: a value is written when it changed and the last write is at least
/// the report interval ago, or at once when `force` (rotation, shutdown, becoming idle).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportPacer {
    last: Option<(u32, LogPositions)>,
    last_time_ms: u64,
}

impl ReportPacer {
    /// Whether to write the links for logfile `nr` at `positions` now (`now_ms` is any
    /// monotonic clock). Call [`ReportPacer::written`] after writing them.
    pub fn due(
        &self,
        nr: u32,
        positions: &LogPositions,
        now_ms: u64,
        interval_ms: u64,
        force: bool,
    ) -> bool {
        if self.last == Some((nr, *positions)) {
            return false;
        }
        force || self.last.is_none() || now_ms.saturating_sub(self.last_time_ms) >= interval_ms
    }

    /// Records a write.
    pub fn written(&mut self, nr: u32, positions: &LogPositions, now_ms: u64) {
        self.last = Some((nr, *positions));
        self.last_time_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree_value::Md5Digest;
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn completion_semantics_table() {
        use AckPoint::*;
        use CompletionSemantics::*;
        let w = |sync, fua| RequestKind::Write { sync, fua };
        let table = [
            (EarlyAll, [Copied, Copied, Copied, Copied, Durable]),
            (EarlyNonSync, [Copied, Durable, Durable, Durable, Durable]),
            (Late, [Durable, Durable, Durable, Durable, Durable]),
            (EarlyNonFua, [Copied, Copied, Durable, Durable, Durable]),
        ];
        for (sem, expect) in table {
            let got = [
                sem.ack_point(w(false, false)),
                sem.ack_point(w(true, false)),
                sem.ack_point(w(false, true)),
                sem.ack_point(w(true, true)),
                sem.ack_point(RequestKind::Flush),
            ];
            assert_eq!(got, expect, "{sem:?}");
            assert_eq!(CompletionSemantics::from_knob(sem.knob_value()), Some(sem));
        }
        assert_eq!(
            CompletionSemantics::from_knob(CompletionSemantics::KNOB_MAX + 1),
            None
        );
        assert_eq!(CompletionSemantics::from_knob(-1), None);
        assert_eq!(CompletionSemantics::DEFAULT.knob_value(), 3);
    }

    #[test]
    fn pieces_follow_page_boundaries() {
        let p: Vec<_> = record_pieces(0, 4096).collect();
        assert_eq!(p, [(0, 4096)]);
        let p: Vec<_> = record_pieces(512, 8192).collect();
        assert_eq!(p, [(512, 3584), (4096, 4096), (8192, 512)]);
        assert_eq!(record_pieces(100, 0).count(), 0);
        let p: Vec<_> = record_pieces(4096 * 3 - 512, 512).collect();
        assert_eq!(p, [(4096 * 3 - 512, 512)]);
    }

    proptest! {
        #[test]
        fn pieces_cover_exactly(pos in 0u64..1 << 40, len in 0u64..1 << 21) {
            let mut at = pos;
            for (p, l) in record_pieces(pos, len) {
                prop_assert_eq!(p, at);
                prop_assert!(l > 0 && l <= RECORD_PAYLOAD_MAX);
                prop_assert_eq!(p / RECORD_PAYLOAD_MAX, (p + l - 1) / RECORD_PAYLOAD_MAX);
                at += l;
            }
            prop_assert_eq!(at, pos + len);
        }

        #[test]
        fn overlap_is_the_intersection(a in 0u64..100, al in 0u64..50, b in 0u64..100, bl in 0u64..50) {
            let want: Vec<u64> = (a..a + al).filter(|x| (b..b + bl).contains(x)).collect();
            match overlap(a, al, b, bl) {
                None => prop_assert!(want.is_empty()),
                Some((oa, ob, len)) => {
                    prop_assert_eq!(want.first().copied(), Some(a + oa));
                    prop_assert_eq!(a + oa, b + ob);
                    prop_assert_eq!(want.len() as u64, len);
                }
            }
        }
    }

    #[test]
    fn memory_limit() {
        let gib = 1u64 << 30;
        assert_eq!(mem_limit(10 * gib, 20, 16, None), 2 * gib);
        assert_eq!(mem_limit(100 * gib, 20, 16, None), 16 * gib);
        assert_eq!(
            mem_limit(100 * gib, 99, 100, None),
            70 * gib,
            "percent clamps to 70"
        );
        assert_eq!(mem_limit(10 * gib, 20, 0, None), gib, "gb clamps to 1");
        assert_eq!(mem_limit(10 * gib, 0, 16, None), MEM_LIMIT_MIN);
        assert_eq!(
            mem_limit(10 * gib, 20, 16, Some(4 * 4096)),
            MEM_LIMIT_MIN.max(4096)
        );
        assert_eq!(mem_limit(10 * gib, 20, 16, Some(gib)), gib / 4);
        assert_eq!(
            mem_limit(u64::MAX, 70, i64::MAX, None),
            (u128::from(u64::MAX) * 70 / 100) as u64,
            "no overflow"
        );
        assert_eq!(mem_limit(1001, 70, 1, None), MEM_LIMIT_MIN);
        assert_eq!(mem_limit(1_000_099, 70, 1, None), 700_069);
        assert!(admit(0, 1 << 40, 4096), "an idle logger admits anything");
        assert!(admit(4096, 4096, 8192));
        assert!(!admit(4097, 4096, 8192));
        assert!(!admit(u64::MAX, 1, u64::MAX));
    }

    #[test]
    fn rotation_size() {
        let gib = 1u64 << 30;
        assert_eq!(logrot_limit(0, 1 << 50), None);
        assert_eq!(logrot_limit(-3, 1 << 50), None);
        assert_eq!(
            logrot_limit(32, 512 << 20),
            Some(gib),
            "small /mars: at least 1 GiB"
        );
        assert_eq!(logrot_limit(32, 320 * gib), Some(10 * gib));
        assert_eq!(logrot_limit(32, 4096 * gib), Some(32 * gib));
        assert_eq!(
            logrot_limit(i64::MAX, u64::MAX),
            Some((u64::MAX >> 35) << 30),
            "no overflow"
        );
        assert_eq!(
            rotate_decision(5, Some(10), NextLog::Absent),
            RotateDecision::Stay
        );
        assert_eq!(
            rotate_decision(10, Some(10), NextLog::Absent),
            RotateDecision::CreateNext
        );
        assert_eq!(
            rotate_decision(10, None, NextLog::Absent),
            RotateDecision::Stay
        );
        assert_eq!(
            rotate_decision(1, None, NextLog::Present(0)),
            RotateDecision::SwitchToNext
        );
        assert_eq!(
            rotate_decision(1, Some(0), NextLog::Present(1)),
            RotateDecision::RefuseNonEmpty
        );
    }

    #[test]
    fn switch_waits_for_durability_then_for_writeback() {
        let mut r = Rotation::Single;
        let busy = OldLogState {
            appended: 300,
            durable: 200,
            written_back: false,
        };
        assert_eq!(r.step(busy), RotationAction::Wait);
        assert!(r.may_append());
        assert!(r.request());
        assert!(!r.request(), "one switch at a time");
        assert!(!r.may_append(), "new writes wait while the old log drains");
        assert_eq!(r.step(busy), RotationAction::Wait);
        let durable = OldLogState {
            durable: 300,
            ..busy
        };
        assert_eq!(r.step(durable), RotationAction::AppendToNew);
        assert_eq!(r, Rotation::Overlap);
        assert!(r.may_append());
        assert_eq!(
            r.step(durable),
            RotationAction::Wait,
            "old log not yet written back"
        );
        let done = OldLogState {
            written_back: true,
            ..durable
        };
        assert_eq!(r.step(done), RotationAction::ReleaseOld);
        assert_eq!(r, Rotation::Single);
        assert_eq!(r.step(done), RotationAction::Wait);
    }

    struct FakeMd5;
    impl Digester for FakeMd5 {
        fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
            let mut out = [0u8; 16];
            for (i, b) in data.iter().enumerate() {
                out[i % 16] = out[i % 16].wrapping_mul(31).wrapping_add(*b);
            }
            Some(out)
        }
    }

    #[test]
    fn link_values() {
        let host = HostName::parse("alpha").unwrap();
        let log = LogName {
            nr: 7,
            origin: host,
        };
        let pos = LogPositions {
            min_pos: 4096,
            max_pos: 12288,
            durable: 20000,
        };
        assert_eq!(
            replay_link(log, &pos).to_string(),
            "log-000000007-alpha,4096,8192"
        );
        assert_eq!(
            fresh_replay_link(8, host).to_string(),
            "log-000000008-alpha,0,0"
        );
        let prev = "00000000000000000000000000000000,log-000000006-alpha,0:";
        let v = version_link(&FakeMd5, log, 20000, prev).unwrap();
        let text = v.to_string();
        assert!(
            text.ends_with(
                ",log-000000007-alpha,20000:00000000000000000000000000000000,log-000000006-alpha,0"
            ),
            "{text}"
        );
        assert_ne!(v.head.digest, Md5Digest::ZERO);
        assert_eq!(
            version_link(&FakeMd5, log, u64::MAX, prev),
            Err(ChainError::BadPosition)
        );
    }

    #[test]
    fn pacer() {
        let mut p = ReportPacer::default();
        let a = LogPositions {
            min_pos: 0,
            max_pos: 0,
            durable: 0,
        };
        let b = LogPositions { min_pos: 10, ..a };
        assert!(p.due(1, &a, 0, 2000, false), "first report at once");
        p.written(1, &a, 0);
        assert!(!p.due(1, &a, 5000, 2000, true), "unchanged: never");
        assert!(!p.due(1, &b, 1000, 2000, false), "changed, too soon");
        assert!(p.due(1, &b, 1000, 2000, true), "forced");
        assert!(p.due(1, &b, 2000, 2000, false), "interval passed");
        assert!(p.due(2, &a, 1000, 2000, true), "other logfile");
    }
}
