// SPDX-License-Identifier: GPL-2.0
//! The decisions of a replica: what a secondary fetches and replays next, and the two halves
//! of a handover (the old primary letting go, the new one taking over), without IO.
//!
//! Every function here takes plain facts (what this host knows of the logfiles, its replay
//! link, the version links, its peers' acknowledgements) and returns one decision. The caller
//! (the kernel's strategy thread, or `tools/sim`) gathers the facts from its `/mars` tree and
//! its bricks, acts on the decision, and asks again in its next round. Nothing here waits:
//! where the original blocks, the decision says *why* it cannot go on, so the caller can
//! report it (`actual-<host>/msg-*`) and an operator command can refuse after a timeout
//! instead of hanging.
//!
//! * [`fetch_step`]: which logfile to copy from its origin next, and up to where. Never beyond
//!   what the origin made durable (the original's `d_corr_B`), so a crash of the origin can
//!   never take back data a secondary already holds.
//! * [`replay_step`]: replay the durable fetched part of the current logfile, keep the own
//!   version link up to date (also for an own logfile after a crash of the logger), stop at a
//!   second logfile with the same number, and switch to the next logfile only when
//!   [`super::version_chain::check_switchover`] agrees (the version chains match).
//! * [`release_step`]: a primary that is no longer the designated one: wait until the device
//!   is closed, make the log durable, wait for writeback, then write the final version link
//!   and become a secondary.
//! * [`takeover_step`]: the designated primary that is not yet logging: right after a start,
//!   hear every peer first; wait until every peer has acknowledged exactly this designation
//!   (the `primary` link's Lamport stamp) without logging itself, and until everything of the
//!   last logfile is fetched and replayed; then start a fresh logfile numbered after the last
//!   one. Forced (`primary --force`), it starts at once after the local data, a new branch
//!   of the version chain.
//! * [`check_handover`]: the checks `marsadm primary` makes before it changes the `primary`
//!   link: refuse when a peer is unreachable or the device is in use.
//!
//! `Documentation/simulator.rst` describes how `tools/sim` drives these functions and which
//! invariants it checks.

use core::fmt::{self, Write};

use super::lamport::Stamp;
use super::names::HostName;
use super::text::FixedBuf;
use super::tree::LogName;
use super::tree_value::{visible, ReplayLink, VersionLink};
use super::version_chain::{check_switchover, SwitchoverQuery, SwitchoverRefusal, VersionSource};

/// One logfile as this host knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFacts<'a> {
    /// The logfile (number and origin).
    pub log: LogName<'a>,
    /// The end of what its origin has made durable, as last reported by the origin (its
    /// listing's `d_corr_B`); `None` while unknown. For an own logfile: the own durable end.
    pub origin_durable: Option<u64>,
    /// Bytes of it present locally (0 when there is no local copy).
    pub local_size: u64,
}

/// The logfiles with number `nr` among `logs`: the first one, and whether there is another
/// one with a different origin (split brain).
fn logs_numbered<'s, 'a>(logs: &'s [LogFacts<'a>], nr: u32) -> (Option<&'s LogFacts<'a>>, bool) {
    let mut first: Option<&LogFacts<'a>> = None;
    let mut double = false;
    for l in logs.iter().filter(|l| l.log.nr == nr) {
        match first {
            None => first = Some(l),
            Some(f) if f.log.origin != l.log.origin => double = true,
            Some(_) => {}
        }
    }
    (first, double)
}

/// Whether `logs` holds a logfile with the number of `log` from another origin.
fn logs_numbered_other(logs: &[LogFacts<'_>], log: LogName<'_>) -> bool {
    logs.iter()
        .any(|l| l.log.nr == log.nr && l.log.origin != log.origin)
}

/// The highest logfile number among `logs`.
fn max_nr(logs: &[LogFacts<'_>]) -> Option<u32> {
    logs.iter().map(|l| l.log.nr).max()
}

/// What [`fetch_step`] needs.
#[derive(Clone, Copy, Debug)]
pub struct FetchFacts<'a> {
    /// This host.
    pub me: HostName<'a>,
    /// Whether this host's logger is in logging mode (a primary does not fetch).
    pub logging: bool,
    /// The logfile this host replays now (from its replay link).
    pub replaying: LogName<'a>,
    /// Every logfile this host knows of.
    pub logs: &'a [LogFacts<'a>],
    /// The most bytes to ask for at once (at least 1 is used).
    pub chunk_max: u64,
}

/// What to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchDecision<'a> {
    /// Copy `[from, to)` of `log` from its origin and append it to the local copy.
    Fetch {
        /// The logfile.
        log: LogName<'a>,
        /// The local size: where the copy continues.
        from: u64,
        /// The end of the range; never beyond what the origin made durable.
        to: u64,
    },
    /// Everything known is here.
    Idle,
    /// Fetching must not go on; report it.
    Refuse(FetchRefusal),
}

/// Why fetching stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchRefusal {
    /// Two logfiles with this number from different origins: split brain.
    SplitBrain {
        /// The number.
        nr: u32,
    },
    /// The local copy of logfile `nr` is longer than what its origin made durable: the
    /// origin lost data the copy holds (this never happens while the durable limit is kept).
    LocalBeyondOrigin {
        /// The number.
        nr: u32,
    },
    /// The logfile after `nr` is missing although later ones exist.
    Hole {
        /// The last number present.
        nr: u32,
    },
}

impl FetchRefusal {
    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            FetchRefusal::SplitBrain { .. } => "logfiles from two origins with the same number: SPLIT BRAIN",
            FetchRefusal::LocalBeyondOrigin { .. } => "local logfile is longer than its origin's durable data",
            FetchRefusal::Hole { .. } => {
                "logfile numbers are not contiguous (a hole: the primary stopped logging in emergency mode); `marsadm invalidate` resolves it"
            }
        }
    }
}

/// Decides what to fetch next: the first logfile, from the one being replayed on in number
/// order, whose local copy is shorter than what its origin made durable. Own logfiles are
/// skipped (they are complete here). The range is `[local size, min(durable, local size +
/// chunk_max))`. A logfile that is complete (local size = durable) lets the search go on to
/// the next number; at the next number two origins mean split brain, and a missing number
/// with later ones present is a hole.
pub fn fetch_step<'a>(facts: &FetchFacts<'a>) -> FetchDecision<'a> {
    if facts.logging {
        return FetchDecision::Idle;
    }
    let Some(last) = max_nr(facts.logs) else {
        return FetchDecision::Idle;
    };
    let mut nr = facts.replaying.nr;
    while nr <= last {
        let current = if nr == facts.replaying.nr {
            facts.logs.iter().find(|l| l.log == facts.replaying)
        } else {
            let (first, double) = logs_numbered(facts.logs, nr);
            if double {
                return FetchDecision::Refuse(FetchRefusal::SplitBrain { nr });
            }
            match first {
                Some(l) => Some(l),
                None => {
                    return FetchDecision::Refuse(FetchRefusal::Hole {
                        nr: nr.saturating_sub(1),
                    })
                }
            }
        };
        let Some(log) = current else {
            // The replayed logfile is not listed (yet): nothing sensible to fetch.
            return FetchDecision::Idle;
        };
        if log.log.origin != facts.me {
            let Some(durable) = log.origin_durable else {
                return FetchDecision::Idle;
            };
            if log.local_size > durable {
                return FetchDecision::Refuse(FetchRefusal::LocalBeyondOrigin { nr });
            }
            if log.local_size < durable {
                let to = durable.min(log.local_size.saturating_add(facts.chunk_max.max(1)));
                return FetchDecision::Fetch {
                    log: log.log,
                    from: log.local_size,
                    to,
                };
            }
        }
        let Some(next) = nr.checked_add(1) else { break };
        nr = next;
    }
    FetchDecision::Idle
}

/// What [`replay_step`] needs besides the version links.
#[derive(Clone, Copy, Debug)]
pub struct ReplayFacts<'a> {
    /// This host.
    pub me: HostName<'a>,
    /// The own replay link: the logfile replayed now and the position reached.
    pub replay: ReplayLink<'a>,
    /// Bytes of that logfile present locally *and durable*: replay must never get ahead of
    /// what survives a crash of this host (the copy brick syncs before it reports).
    pub local_size: u64,
    /// Every logfile this host knows of (to find the next one).
    pub logs: &'a [LogFacts<'a>],
}

/// What to do about replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayDecision<'a> {
    /// Apply the records of `[from, to)` of the current logfile, in order; records that do
    /// not end before `to` (a partly fetched tail) stay for later. Then move the replay link
    /// to the end of the last applied record.
    Apply {
        /// The replay position.
        from: u64,
        /// The end of the local data.
        to: u64,
    },
    /// Write the own version link for the current logfile at the replay position
    /// (`version-N-<me>`, chained to the own link for N-1; see
    /// [`super::logger::version_link`]), then ask again. For an own logfile this is the final
    /// version link after a crash of the logger.
    WriteVersion {
        /// The logfile.
        log: LogName<'a>,
        /// The replay position.
        pos: u64,
    },
    /// Continue with `to` at position 0: set the replay link to `log-(N+1)-<origin>,0,0`.
    Switch {
        /// The next logfile.
        to: LogName<'a>,
    },
    /// Nothing to do: everything local is replayed and no next logfile is known.
    Idle,
    /// The next logfile exists, but the switch is not possible yet.
    Wait(SwitchoverRefusal),
    /// Replay must not go on; report it (split brain, or the replay link is beyond the data).
    Refuse(ReplayRefusal),
}

/// Why replay stops for good (until an operator acts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The switchover check found split brain (double logfile or version mismatch).
    SplitBrain(SwitchoverRefusal),
    /// The replay link points beyond the local data of its logfile.
    BeyondLocalData,
    /// The replay link's position is negative.
    BadPosition,
    /// Logfile `nr` is replayed completely, the next number is missing, but later logfiles
    /// exist: a hole (the original's `has_hole_logfile`, made by a primary in emergency mode).
    /// This host stays consistent but outdated until it is invalidated.
    Hole {
        /// The last logfile before the hole.
        nr: u32,
    },
}

/// Longest `log-NNNNNNNNN-<host>` (number up to 10 digits, host up to 63 bytes).
const LOG_NAME_MAX: usize = 4 + 10 + 1 + 63;
/// Longest replay link value.
const REPLAY_LINK_MAX: usize = LOG_NAME_MAX + 2 * 21;

fn format<const N: usize>(value: impl fmt::Display) -> FixedBuf<N> {
    let mut buf = FixedBuf::<N>::new();
    // Cannot overflow: N is the longest canonical form.
    let _ = write!(buf, "{value}");
    buf
}

/// Whether the own version link for `log` stands at `pos` already.
fn own_version_at<'v, V: VersionSource<'v> + ?Sized>(
    versions: &V,
    me: &str,
    log: LogName<'_>,
    pos: u64,
) -> bool {
    let Some(value) = versions
        .version(log.nr, me)
        .map(visible)
        .filter(|v| !v.is_empty())
    else {
        return false;
    };
    match VersionLink::parse(value) {
        Ok(link) => link.head.log == log && u64::try_from(link.head.pos).ok() == Some(pos),
        Err(_) => false,
    }
}

/// Decides the next replay step of a host that is not logging.
///
/// 1. Data beyond the replay position is replayed (`Apply`): it is on this host's branch.
/// 2. At the end of the local data, another logfile with the current number (split brain, the
///    kernel's `has_double_logfile`) stops replay with a report: whatever branch this host is
///    on, it must not silently go on.
/// 3. The own version link is brought up to the position (`WriteVersion`), also for an own
///    logfile (after a crash of the logger its link may lag behind the durable end).
/// 4. Then, if a logfile N+1 is known, [`check_switchover`] decides: switch, wait (not yet
///    transferred or replayed, version link not yet there), or refuse (split brain).
pub fn replay_step<'a, 'v, V: VersionSource<'v> + ?Sized>(
    facts: &ReplayFacts<'a>,
    versions: &V,
) -> ReplayDecision<'a> {
    let Ok(pos) = u64::try_from(facts.replay.min_pos) else {
        return ReplayDecision::Refuse(ReplayRefusal::BadPosition);
    };
    let log = facts.replay.log;
    if pos < facts.local_size {
        return ReplayDecision::Apply {
            from: pos,
            to: facts.local_size,
        };
    }
    if pos > facts.local_size {
        return ReplayDecision::Refuse(ReplayRefusal::BeyondLocalData);
    }
    if logs_numbered_other(facts.logs, log) {
        // The kernel's split-brain evidence (`has_double_logfile`): report it, do not go on.
        return ReplayDecision::Refuse(ReplayRefusal::SplitBrain(SwitchoverRefusal::DoubleLogfile));
    }
    // Also for an own logfile: the logger reports its version link at intervals, so after a
    // crash it may lag behind the durable end found on disk. Left there, a secondary whose
    // copy ends at the stale position would find its link equal to the origin's and switch
    // to the next logfile, skipping the rest (found by tools/sim with lagging links).
    if !own_version_at(versions, facts.me.as_str(), log, pos) {
        return ReplayDecision::WriteVersion { log, pos };
    }
    let Some(next_nr) = log.nr.checked_add(1) else {
        return ReplayDecision::Idle;
    };
    let (next, double) = logs_numbered(facts.logs, next_nr);
    let Some(next) = next else {
        if max_nr(facts.logs).is_some_and(|last| last > next_nr) {
            return ReplayDecision::Refuse(ReplayRefusal::Hole { nr: log.nr });
        }
        return ReplayDecision::Idle;
    };
    let old_name = format::<LOG_NAME_MAX>(log);
    let new_name = format::<LOG_NAME_MAX>(next.log);
    let replay_text = format::<REPLAY_LINK_MAX>(facts.replay);
    let query = SwitchoverQuery {
        me: facts.me.as_str(),
        old_log: old_name.as_str(),
        new_log: new_name.as_str(),
        double_logfile: double,
        // The original refuses a *logging* primary to continue with a foreign logfile. A host
        // that is not logging must follow, also when it is the designated primary: that is
        // how a handover back to a former primary catches up (found by tools/sim, seed 16).
        designated_primary: false,
        skip_new: false,
        replay_tolerance: 0,
        own_replay: Some(replay_text.as_str()),
    };
    match check_switchover(&query, versions) {
        Ok(()) => ReplayDecision::Switch { to: next.log },
        Err(e @ (SwitchoverRefusal::DoubleLogfile | SwitchoverRefusal::VersionMismatch)) => {
            ReplayDecision::Refuse(ReplayRefusal::SplitBrain(e))
        }
        Err(e) => ReplayDecision::Wait(e),
    }
}

/// What [`release_step`] needs: the state of a host whose logger is in logging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimaryFacts {
    /// Whether the `primary` link (still) names this host.
    pub designated: bool,
    /// Whether `/dev/mars/<res>` is open.
    pub device_open: bool,
    /// End of everything appended to the current logfile.
    pub appended: u64,
    /// End of what is durable.
    pub durable: u64,
    /// The replay position: everything before it is on the data device.
    pub written_back: u64,
}

/// What a logging host does about a handover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// Still the designated primary: go on logging.
    Stay,
    /// Not designated any more, but cannot let go yet.
    Wait(ReleaseWait),
    /// Stop accepting writes (the device is closed, so none arrive) and make the log durable
    /// up to its end.
    Flush,
    /// Write the final version link of the current logfile at `final_pos`, stop the logger,
    /// write `actual-<me>/is-primary` as not logging, and continue as a secondary from
    /// `replay-<me>` = `<current log>,final_pos,0`.
    Release {
        /// The end of the logfile.
        final_pos: u64,
    },
}

/// Why a primary cannot let go yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseWait {
    /// The device is open: the primary waits until it is closed (`marsadm primary` refuses
    /// beforehand, see [`check_handover`]).
    DeviceInUse,
    /// Logged data is not yet on the data device.
    Writeback,
}

/// Decides the old primary's part of a handover. A released log ends at its durable end,
/// which covers every acknowledged write.
pub fn release_step(facts: &PrimaryFacts) -> ReleaseDecision {
    if facts.designated {
        return ReleaseDecision::Stay;
    }
    if facts.device_open {
        return ReleaseDecision::Wait(ReleaseWait::DeviceInUse);
    }
    if facts.durable < facts.appended {
        return ReleaseDecision::Flush;
    }
    if facts.written_back < facts.durable {
        return ReleaseDecision::Wait(ReleaseWait::Writeback);
    }
    ReleaseDecision::Release {
        final_pos: facts.durable,
    }
}

/// A peer's acknowledgement of the `primary` link, as this host last heard it
/// (`actual-<host>/is-primary` extended by the designation it answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimaryAck<'a> {
    /// Whether the peer's logger is in logging mode.
    pub logging: bool,
    /// The host the peer's `primary` link named when it wrote this (`None`: `(none)`).
    pub designated: Option<&'a str>,
    /// The Lamport stamp of that `primary` link.
    pub designation_stamp: Stamp,
}

/// A peer as the new primary sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerFacts<'a> {
    /// The peer.
    pub host: &'a str,
    /// Whether it answered recently.
    pub reachable: bool,
    /// Its latest acknowledgement, `None` when none arrived.
    pub ack: Option<PrimaryAck<'a>>,
    /// Whether its device is open (for [`check_handover`]).
    pub device_open: bool,
}

/// What [`takeover_step`] needs besides the version links.
#[derive(Clone, Copy, Debug)]
pub struct TakeoverFacts<'a> {
    /// This host.
    pub me: HostName<'a>,
    /// `primary --force`: do not wait for the peers or the old primary's data.
    pub force: bool,
    /// The Lamport stamp of the `primary` link that names this host.
    pub designation_stamp: Stamp,
    /// This host (its strategy) started only recently, within a grace period (the caller's
    /// knob; a few propagation rounds). Until it ends, every peer must have been heard since
    /// the start: a newer `primary` link may be on its way, naming somebody else.
    pub just_started: bool,
    /// Every other member of the resource.
    pub peers: &'a [PeerFacts<'a>],
    /// Starting to log recovers an own current logfile (the kernel's logger replays its rest
    /// from the replay position, up to a torn last record, and writes its final version link
    /// before it starts the next one). Then an own current logfile need not be replayed and
    /// version-linked first: no other host can hold more of it. Without it, [`replay_step`]
    /// must have brought it to its end.
    pub recovers_own: bool,
    /// The own replay link.
    pub replay: ReplayLink<'a>,
    /// Every logfile this host knows of.
    pub logs: &'a [LogFacts<'a>],
}

/// What the designated primary that is not logging does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeoverDecision<'a> {
    /// Create the empty logfile `log-nr-<me>`, set `replay-<me>` to `log-nr-<me>,0,0`, write
    /// `version-nr-<me>` at position 0 chained to the own link for `nr - 1` (which is about
    /// `after`), start the logger in logging mode and write `is-primary`.
    Start {
        /// The new logfile's number.
        nr: u32,
        /// The logfile it follows.
        after: LogName<'a>,
        /// A logfile with number `nr` from another host is known: the new one forks the
        /// history (only when forced).
        fork: bool,
    },
    /// Not yet; the reason is reported.
    Wait(TakeoverWait<'a>),
    /// Impossible without an operator.
    Refuse(TakeoverRefusal),
}

/// Why the new primary does not start yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeoverWait<'a> {
    /// This peer has not been heard from: its acknowledgement may never come.
    PeerUnreachable(&'a str),
    /// This peer is still logging.
    PeerStillPrimary(&'a str),
    /// This peer has not yet acknowledged this designation.
    PeerNotAcknowledged(&'a str),
    /// Logfiles up to the last one are not yet completely fetched and replayed.
    NotUpToDate,
}

/// Why the new primary cannot start at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeoverRefusal {
    /// Two logfiles with the last number exist: split brain.
    SplitBrain,
    /// No logfile number after the current one.
    NoNextNumber,
    /// The replay link's position is negative.
    BadPosition,
}

/// Decides the new primary's part of a handover.
///
/// Not forced: right after a (re)start, every peer must have been heard from, for a grace
/// period (`just_started`), so that a `primary` link written elsewhere while this host was
/// down arrives before it resumes logging on its old designation (the original delays
/// `make_primary` after modprobe for the same reason). Then every peer must have acknowledged exactly this designation (the stamp of the
/// `primary` link naming this host) and must not be logging; so the old primary has released
/// its logfile, and no peer can start logging on an older designation. Then the host must
/// stand at the end of the last logfile known, with its own version link equal to the
/// origin's (every acknowledged write of the old primary is in the logfile up to its final
/// version link, see [`release_step`]).
///
/// Forced: starts as soon as the local data of the current logfile is replayed (the caller
/// lets [`replay_step`] run first as far as it goes); the new logfile forks the history when
/// another host went on writing.
pub fn takeover_step<'a, 'v, V: VersionSource<'v> + ?Sized>(
    facts: &TakeoverFacts<'a>,
    versions: &V,
) -> TakeoverDecision<'a> {
    let current = facts.replay.log;
    let Ok(pos) = u64::try_from(facts.replay.min_pos) else {
        return TakeoverDecision::Refuse(TakeoverRefusal::BadPosition);
    };
    let Some(nr) = current
        .nr
        .checked_add(1)
        .filter(|&n| n <= super::tree::MAX_LOG_NR)
    else {
        return TakeoverDecision::Refuse(TakeoverRefusal::NoNextNumber);
    };
    let local = facts.logs.iter().find(|l| l.log == current);
    let local_size = local.map_or(0, |l| l.local_size);
    if facts.force {
        if pos < local_size {
            return TakeoverDecision::Wait(TakeoverWait::NotUpToDate);
        }
        let (other, _) = logs_numbered(facts.logs, nr);
        return TakeoverDecision::Start {
            nr,
            after: current,
            fork: other.is_some(),
        };
    }
    if facts.just_started {
        if let Some(peer) = facts.peers.iter().find(|p| !p.reachable) {
            return TakeoverDecision::Wait(TakeoverWait::PeerUnreachable(peer.host));
        }
    }
    for peer in facts.peers {
        let confirmed = peer.ack.is_some_and(|a| {
            !a.logging
                && a.designated == Some(facts.me.as_str())
                && a.designation_stamp == facts.designation_stamp
        });
        if confirmed {
            continue;
        }
        if !peer.reachable {
            return TakeoverDecision::Wait(TakeoverWait::PeerUnreachable(peer.host));
        }
        if peer.ack.is_some_and(|a| a.logging) {
            return TakeoverDecision::Wait(TakeoverWait::PeerStillPrimary(peer.host));
        }
        return TakeoverDecision::Wait(TakeoverWait::PeerNotAcknowledged(peer.host));
    }
    let mut last = max_nr(facts.logs).unwrap_or(current.nr);
    // A logfile a peer started is named by its version link, which (unlike the listing of a
    // peer's files) survives a reboot of this host: a peer's acknowledgement may be older
    // than anything listed since, so the links decide too.
    while let Some(next) = last.checked_add(1) {
        let started = core::iter::once(facts.me.as_str())
            .chain(facts.peers.iter().map(|p| p.host))
            .any(|h| {
                versions
                    .version(next, h)
                    .map(visible)
                    .is_some_and(|v| !v.is_empty())
            });
        if !started {
            break;
        }
        last = next;
    }
    let (_, double) = logs_numbered(facts.logs, last);
    if double {
        return TakeoverDecision::Refuse(TakeoverRefusal::SplitBrain);
    }
    if last != current.nr {
        return TakeoverDecision::Wait(TakeoverWait::NotUpToDate);
    }
    let Some(local) = local else {
        return TakeoverDecision::Wait(TakeoverWait::NotUpToDate);
    };
    if current.origin == facts.me && facts.recovers_own {
        return TakeoverDecision::Start {
            nr,
            after: current,
            fork: false,
        };
    }
    let complete = own_version_at(versions, facts.me.as_str(), current, pos)
        && (current.origin == facts.me || {
            let origin_version = versions
                .version(current.nr, current.origin.as_str())
                .map(visible);
            let own_version = versions.version(current.nr, facts.me.as_str()).map(visible);
            local.origin_durable == Some(local.local_size) && own_version == origin_version
        });
    if !complete || pos != local.local_size {
        return TakeoverDecision::Wait(TakeoverWait::NotUpToDate);
    }
    TakeoverDecision::Start {
        nr,
        after: current,
        fork: false,
    }
}

/// Why `marsadm primary` refuses a handover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoverRefusal {
    /// This host is already the designated primary.
    AlreadyPrimary,
    /// This peer does not answer: the handover could not complete.
    PeerUnreachable,
    /// The device is open on this peer (the old primary): unmount it first.
    DeviceInUse,
}

impl HandoverRefusal {
    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            HandoverRefusal::AlreadyPrimary => "this host is already the designated primary",
            HandoverRefusal::PeerUnreachable => "a peer is unreachable; use --force for a failover",
            HandoverRefusal::DeviceInUse => "the device is in use on the current primary",
        }
    }
}

/// The checks of `marsadm primary` (without `--force`) on the host that wants to become
/// primary, after a fresh exchange with every peer (`wait-cluster`): every peer reachable, the
/// device closed everywhere. On success the command writes the `primary` link; the kernels
/// then run [`release_step`] and [`takeover_step`]. Returns the first refusing peer.
pub fn check_handover<'a>(
    me_designated: bool,
    peers: &[PeerFacts<'a>],
) -> Result<(), (HandoverRefusal, Option<&'a str>)> {
    if me_designated {
        return Err((HandoverRefusal::AlreadyPrimary, None));
    }
    for peer in peers {
        if !peer.reachable {
            return Err((HandoverRefusal::PeerUnreachable, Some(peer.host)));
        }
        if peer.device_open {
            return Err((HandoverRefusal::DeviceInUse, Some(peer.host)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::digest::Digester;
    use super::super::logger::version_link;
    use super::super::version_chain::VersionEntry;
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    struct Md5;
    impl Digester for Md5 {
        fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
            use md5::Digest;
            Some(md5::Md5::digest(data).into())
        }
    }

    fn host(name: &str) -> HostName<'_> {
        HostName::parse(name).unwrap()
    }

    fn log<'a>(nr: u32, origin: &'a str) -> LogName<'a> {
        LogName {
            nr,
            origin: host(origin),
        }
    }

    fn facts<'a>(nr: u32, origin: &'a str, durable: Option<u64>, local: u64) -> LogFacts<'a> {
        LogFacts {
            log: log(nr, origin),
            origin_durable: durable,
            local_size: local,
        }
    }

    #[test]
    fn fetch_never_beyond_durable_and_in_order() {
        let logs = [
            facts(1, "a", Some(100), 100),
            facts(2, "a", Some(300), 50),
            facts(3, "a", Some(10), 0),
        ];
        let f = FetchFacts {
            me: host("b"),
            logging: false,
            replaying: log(1, "a"),
            logs: &logs,
            chunk_max: 1000,
        };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Fetch {
                log: log(2, "a"),
                from: 50,
                to: 300
            }
        );
        let f = FetchFacts { chunk_max: 20, ..f };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Fetch {
                log: log(2, "a"),
                from: 50,
                to: 70
            }
        );
        let f = FetchFacts { logging: true, ..f };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Idle,
            "a primary does not fetch"
        );
        let logs = [facts(1, "a", None, 0)];
        let f = FetchFacts {
            me: host("b"),
            logging: false,
            replaying: log(1, "a"),
            logs: &logs,
            chunk_max: 10,
        };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Idle,
            "unknown durable end: wait"
        );
        let logs = [facts(1, "a", Some(10), 20)];
        let f = FetchFacts { logs: &logs, ..f };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Refuse(FetchRefusal::LocalBeyondOrigin { nr: 1 })
        );
    }

    #[test]
    fn fetch_stops_at_split_brain_and_holes() {
        let logs = [
            facts(1, "a", Some(10), 10),
            facts(2, "a", Some(10), 0),
            facts(2, "c", Some(10), 0),
        ];
        let f = FetchFacts {
            me: host("b"),
            logging: false,
            replaying: log(1, "a"),
            logs: &logs,
            chunk_max: 10,
        };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Refuse(FetchRefusal::SplitBrain { nr: 2 })
        );
        let logs = [facts(1, "a", Some(10), 10), facts(3, "a", Some(10), 0)];
        let f = FetchFacts { logs: &logs, ..f };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Refuse(FetchRefusal::Hole { nr: 1 })
        );
        // Own logfiles are skipped, the one being replayed is followed even with a double.
        let logs = [
            facts(1, "b", Some(10), 10),
            facts(1, "a", Some(10), 0),
            facts(2, "a", Some(5), 0),
        ];
        let f = FetchFacts {
            logs: &logs,
            replaying: log(1, "b"),
            ..f
        };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Fetch {
                log: log(2, "a"),
                from: 0,
                to: 5
            }
        );
    }

    /// Builds version links as hosts would write them.
    struct Links(Vec<(String, u32, String)>);
    impl Links {
        fn put(&mut self, h: &str, nr: u32, value: String) {
            self.0.retain(|(x, n, _)| !(x == h && *n == nr));
            self.0.push((h.to_string(), nr, value));
        }
        fn get(&self, h: &str, nr: u32) -> String {
            self.0
                .iter()
                .find(|(x, n, _)| x == h && *n == nr)
                .map(|e| e.2.clone())
                .unwrap_or_default()
        }
        fn write(&mut self, h: &str, l: LogName<'_>, pos: u64) {
            let prev = self.get(h, l.nr - 1);
            let v = version_link(&Md5, l, pos, &prev).unwrap().to_string();
            self.put(h, l.nr, v);
        }
        fn entries(&self) -> Vec<VersionEntry<'_>> {
            self.0
                .iter()
                .map(|(h, nr, v)| VersionEntry {
                    host: h,
                    nr: *nr,
                    value: v,
                })
                .collect()
        }
    }

    #[test]
    fn replay_applies_writes_version_then_switches() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 300);
        links.write("a", log(2, "a"), 0);
        let logs = [facts(1, "a", Some(300), 300), facts(2, "a", Some(0), 0)];
        let replay = |pos| ReplayLink {
            log: log(1, "a"),
            min_pos: pos,
            dirty_len: 0,
        };
        let f = ReplayFacts {
            me: host("b"),
            replay: replay(100),
            local_size: 300,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Apply { from: 100, to: 300 }
        );
        let f = ReplayFacts {
            replay: replay(300),
            ..f
        };
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::WriteVersion {
                log: log(1, "a"),
                pos: 300
            }
        );
        links.write("b", log(1, "a"), 300);
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Switch { to: log(2, "a") }
        );
        let f = ReplayFacts {
            replay: replay(400),
            ..f
        };
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Refuse(ReplayRefusal::BeyondLocalData)
        );
    }

    #[test]
    fn replay_waits_for_the_origins_final_link_and_refuses_forks() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 500);
        links.write("b", log(1, "a"), 300);
        links.write("c", log(1, "a"), 300);
        // c took over after 300 (forced): its logfile 2 forks from b's view at 300? No: b is at
        // 300 of a logfile whose origin reached 500, so b must wait, not switch.
        links.write("c", log(2, "c"), 0);
        let logs = [facts(1, "a", Some(500), 300), facts(2, "c", Some(0), 0)];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 300,
            dirty_len: 0,
        };
        let f = ReplayFacts {
            me: host("b"),
            replay,
            local_size: 300,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Wait(SwitchoverRefusal::NotYetTransferred)
        );
        // b has everything of a (500) but c forked at 300: split brain.
        links.write("b", log(1, "a"), 500);
        let e = links.entries();
        let replay = ReplayLink {
            min_pos: 500,
            ..replay
        };
        let logs = [facts(1, "a", Some(500), 500), facts(2, "c", Some(0), 0)];
        let f = ReplayFacts {
            replay,
            local_size: 500,
            logs: &logs,
            ..f
        };
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Refuse(ReplayRefusal::SplitBrain(
                SwitchoverRefusal::VersionMismatch
            ))
        );
        let logs = [
            facts(1, "a", Some(500), 500),
            facts(2, "c", Some(0), 0),
            facts(2, "a", Some(0), 0),
        ];
        let f = ReplayFacts { logs: &logs, ..f };
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Refuse(ReplayRefusal::SplitBrain(SwitchoverRefusal::DoubleLogfile))
        );
    }

    /// A primary in emergency mode leaves a hole of ten numbers: fetch and replay stop at the
    /// end of the logfile before it, with a refusal (reported), not an error loop.
    #[test]
    fn fetch_and_replay_stop_at_a_hole() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 300);
        links.write("b", log(1, "a"), 300);
        let logs = [facts(1, "a", Some(300), 300), facts(12, "a", Some(0), 0)];
        let f = FetchFacts {
            me: host("b"),
            logging: false,
            replaying: log(1, "a"),
            logs: &logs,
            chunk_max: 10,
        };
        assert_eq!(
            fetch_step(&f),
            FetchDecision::Refuse(FetchRefusal::Hole { nr: 1 })
        );
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 300,
            dirty_len: 0,
        };
        let r = ReplayFacts {
            me: host("b"),
            replay,
            local_size: 300,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&r, &e[..]),
            ReplayDecision::Refuse(ReplayRefusal::Hole { nr: 1 })
        );
        // Before its end the logfile is still replayed.
        let r = ReplayFacts {
            replay: ReplayLink {
                min_pos: 100,
                ..replay
            },
            ..r
        };
        assert_eq!(
            replay_step(&r, &e[..]),
            ReplayDecision::Apply { from: 100, to: 300 }
        );
        // Without later logfiles there is simply nothing to do.
        let logs = [facts(1, "a", Some(300), 300)];
        let r = ReplayFacts {
            replay,
            logs: &logs,
            ..r
        };
        assert_eq!(replay_step(&r, &e[..]), ReplayDecision::Idle);
    }

    /// tools/sim seed 16: a handover back to a former primary. The designated primary `a`,
    /// not logging, stands at the end of its own logfile 1 and must follow `b`'s logfile 2.
    #[test]
    fn designated_primary_not_logging_follows_a_foreign_logfile() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 300);
        links.write("b", log(1, "a"), 300);
        links.write("b", log(2, "b"), 100);
        let logs = [facts(1, "a", Some(300), 300), facts(2, "b", Some(100), 100)];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 300,
            dirty_len: 0,
        };
        let f = ReplayFacts {
            me: host("a"),
            replay,
            local_size: 300,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Switch { to: log(2, "b") }
        );
    }

    /// tools/sim seed 0: after a reboot the listing of the peer's logfiles is gone, but its
    /// version link for the logfile it started is not; takeover must not reuse that number.
    #[test]
    fn takeover_sees_logfiles_known_only_by_version_links() {
        let stamp = Stamp::new(100, 0);
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 500);
        links.write("b", log(1, "a"), 500);
        links.write("b", log(2, "b"), 0);
        let logs = [facts(1, "a", Some(500), 500)];
        let ack = PrimaryAck {
            logging: false,
            designated: Some("a"),
            designation_stamp: stamp,
        };
        let peers = [PeerFacts {
            host: "b",
            reachable: false,
            ack: Some(ack),
            device_open: false,
        }];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 500,
            dirty_len: 0,
        };
        let f = TakeoverFacts {
            me: host("a"),
            force: false,
            designation_stamp: stamp,
            just_started: false,
            peers: &peers,
            recovers_own: false,
            replay,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
    }

    /// tools/sim seeds 47 and 221: two logfiles with the current number stop replay.
    #[test]
    fn replay_refuses_a_double_of_the_current_logfile() {
        let links = Links(Vec::new());
        let logs = [facts(3, "a", Some(10), 10), facts(3, "b", Some(0), 0)];
        let replay = ReplayLink {
            log: log(3, "a"),
            min_pos: 0,
            dirty_len: 0,
        };
        let f = ReplayFacts {
            me: host("c"),
            replay,
            local_size: 10,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Apply { from: 0, to: 10 },
            "own branch first"
        );
        let f = ReplayFacts {
            replay: ReplayLink {
                min_pos: 10,
                ..replay
            },
            ..f
        };
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::Refuse(ReplayRefusal::SplitBrain(SwitchoverRefusal::DoubleLogfile))
        );
    }

    /// tools/sim seed 4 (lagging version links): after a crash of its logger, a host brings
    /// the version link of its own logfile up to the durable end before anything follows.
    #[test]
    fn own_logfile_gets_its_final_version_link_after_a_crash() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 100);
        let logs = [facts(1, "a", Some(300), 300), facts(2, "b", Some(0), 0)];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 300,
            dirty_len: 0,
        };
        let f = ReplayFacts {
            me: host("a"),
            replay,
            local_size: 300,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            replay_step(&f, &e[..]),
            ReplayDecision::WriteVersion {
                log: log(1, "a"),
                pos: 300
            }
        );
        let stamp = Stamp::new(1, 0);
        let t = TakeoverFacts {
            me: host("a"),
            force: false,
            designation_stamp: stamp,
            just_started: false,
            peers: &[],
            recovers_own: false,
            replay,
            logs: &logs[..1],
        };
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
        links.write("a", log(1, "a"), 300);
        let e = links.entries();
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Start {
                nr: 2,
                after: log(1, "a"),
                fork: false
            }
        );
    }

    /// The kernel's logger recovers an own current logfile itself: a crashed primary whose
    /// replay position and version link lag behind its logfile starts the next one, but not
    /// while a peer started a later logfile.
    #[test]
    fn takeover_with_own_recovery() {
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 100);
        let logs = [facts(1, "a", Some(300), 300)];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 100,
            dirty_len: 0,
        };
        let stamp = Stamp::new(1, 0);
        let t = TakeoverFacts {
            me: host("a"),
            force: false,
            designation_stamp: stamp,
            just_started: false,
            peers: &[],
            recovers_own: false,
            replay,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
        let t = TakeoverFacts {
            recovers_own: true,
            ..t
        };
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Start {
                nr: 2,
                after: log(1, "a"),
                fork: false
            }
        );
        links.write("b", log(1, "a"), 300);
        links.write("b", log(2, "b"), 0);
        let e = links.entries();
        let peers = [PeerFacts {
            host: "b",
            reachable: true,
            ack: Some(PrimaryAck {
                logging: false,
                designated: Some("a"),
                designation_stamp: stamp,
            }),
            device_open: false,
        }];
        let t = TakeoverFacts { peers: &peers, ..t };
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
        // Another host's current logfile is never taken as recovered.
        let logs = [facts(1, "b", Some(300), 300)];
        let replay = ReplayLink {
            log: log(1, "b"),
            min_pos: 100,
            dirty_len: 0,
        };
        let t = TakeoverFacts {
            peers: &[],
            replay,
            logs: &logs,
            ..t
        };
        assert_eq!(
            takeover_step(&t, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
    }

    #[test]
    fn release_order() {
        let p = PrimaryFacts {
            designated: true,
            device_open: true,
            appended: 10,
            durable: 5,
            written_back: 0,
        };
        assert_eq!(release_step(&p), ReleaseDecision::Stay);
        let p = PrimaryFacts {
            designated: false,
            ..p
        };
        assert_eq!(
            release_step(&p),
            ReleaseDecision::Wait(ReleaseWait::DeviceInUse)
        );
        let p = PrimaryFacts {
            device_open: false,
            ..p
        };
        assert_eq!(release_step(&p), ReleaseDecision::Flush);
        let p = PrimaryFacts { durable: 10, ..p };
        assert_eq!(
            release_step(&p),
            ReleaseDecision::Wait(ReleaseWait::Writeback)
        );
        let p = PrimaryFacts {
            written_back: 10,
            ..p
        };
        assert_eq!(release_step(&p), ReleaseDecision::Release { final_pos: 10 });
    }

    #[test]
    fn takeover_waits_for_acks_and_data() {
        let stamp = Stamp::new(100, 0);
        let ack = |logging, designated, sec| {
            Some(PrimaryAck {
                logging,
                designated: Some(designated),
                designation_stamp: Stamp::new(sec, 0),
            })
        };
        let peer = |reachable, ack| PeerFacts {
            host: "a",
            reachable,
            ack,
            device_open: false,
        };
        let mut links = Links(Vec::new());
        links.write("a", log(1, "a"), 500);
        let logs = [facts(1, "a", Some(500), 500)];
        let replay = ReplayLink {
            log: log(1, "a"),
            min_pos: 500,
            dirty_len: 0,
        };
        let peers = [peer(false, ack(true, "a", 50))];
        let f = TakeoverFacts {
            me: host("b"),
            force: false,
            designation_stamp: stamp,
            just_started: false,
            peers: &peers,
            recovers_own: false,
            replay,
            logs: &logs,
        };
        let e = links.entries();
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::PeerUnreachable("a"))
        );
        let peers = [peer(true, ack(true, "a", 50))];
        let f = TakeoverFacts { peers: &peers, ..f };
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::PeerStillPrimary("a"))
        );
        let peers = [peer(true, ack(false, "b", 99))];
        let f = TakeoverFacts { peers: &peers, ..f };
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::PeerNotAcknowledged("a"))
        );
        let peers = [peer(false, ack(false, "b", 100))];
        let f = TakeoverFacts { peers: &peers, ..f };
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate),
            "own version missing"
        );
        links.write("b", log(1, "a"), 500);
        let e = links.entries();
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Start {
                nr: 2,
                after: log(1, "a"),
                fork: false
            }
        );
        // tools/sim seed 1192: right after a restart, confirmed but silent peers are not enough.
        let g = TakeoverFacts {
            just_started: true,
            ..f
        };
        assert_eq!(
            takeover_step(&g, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::PeerUnreachable("a"))
        );
        // Forced: starts behind, and says when it forks.
        let logs = [facts(1, "a", Some(500), 400), facts(2, "a", Some(10), 0)];
        let replay = ReplayLink {
            min_pos: 400,
            ..replay
        };
        let f = TakeoverFacts {
            force: true,
            logs: &logs,
            replay,
            ..f
        };
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Start {
                nr: 2,
                after: log(1, "a"),
                fork: true
            }
        );
        let f = TakeoverFacts { force: false, ..f };
        assert_eq!(
            takeover_step(&f, &e[..]),
            TakeoverDecision::Wait(TakeoverWait::NotUpToDate)
        );
    }

    #[test]
    fn handover_precheck() {
        let p = |host, reachable, device_open| PeerFacts {
            host,
            reachable,
            ack: None,
            device_open,
        };
        assert_eq!(
            check_handover(true, &[]),
            Err((HandoverRefusal::AlreadyPrimary, None))
        );
        assert_eq!(
            check_handover(false, &[p("a", true, false), p("c", false, false)]),
            Err((HandoverRefusal::PeerUnreachable, Some("c")))
        );
        assert_eq!(
            check_handover(false, &[p("a", true, true)]),
            Err((HandoverRefusal::DeviceInUse, Some("a")))
        );
        assert_eq!(check_handover(false, &[p("a", true, false)]), Ok(()));
    }
}
