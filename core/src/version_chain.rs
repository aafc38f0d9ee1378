// SPDX-License-Identifier: GPL-2.0
//! The version-link hash chain and the secondary's switchover check.
//!
//! Each host keeps one link `version-NNNNNNNNN-<host>` per logfile it has logged (primary) or
//! replayed (secondary). Its value is
//!
//! ```text
//! <md5hex>,log-NNNNNNNNN-<origin>,<log_pos>:<previous head>
//! md5hex = hex(MD5("<nr>,<origin>,<log_pos>:<full previous own version link>"))
//! ```
//!
//! where `<nr>` is written without padding (`%d`), `<log_pos>` is the end of the logged or
//! replayed data, and the previous head is the part of the host's own link for `nr - 1` before
//! its first `:`. Because the digest covers the complete previous value, which covers its own
//! predecessor, the chain works like git history: two hosts with equal version links for a
//! logfile have applied the same history up to that point (`_update_version_link` in
//! `mars_main.c`). For `nr <= 1` the previous link is ignored, as in the original.
//!
//! MD5 comes from [`super::digest::Digester`] (kernel crypto or a userspace crate).

use core::fmt;

use super::digest::Digester;
use super::names::HostName;
use super::text::FixedBuf;
use super::tree::{LogName, TreeError, MAX_LOG_NR};
use super::tree_value::{visible, Md5Digest, ReplayLink, SkipCheck, VersionHead, VersionLink};

/// Longest canonical version head: digest, `log-` + 10 digits + `-` + 63-byte host, position.
const HEAD_MAX: usize = 32 + 1 + 4 + 10 + 1 + 63 + 1 + 19;
/// Longest canonical version link value.
pub const VERSION_LINK_MAX: usize = HEAD_MAX + 1 + HEAD_MAX;
/// Longest hash input: `<nr>,<origin>,<pos>:<previous link>`.
const HASH_INPUT_MAX: usize = 10 + 1 + 63 + 1 + 19 + 1 + VERSION_LINK_MAX;

/// Why a version link could not be computed or a chain did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The digester offers no MD5.
    NoMd5,
    /// The previous own link is not a version link (or longer than any canonical one).
    BadPrevious(TreeError),
    /// A link in the chain does not parse.
    Unparseable(TreeError),
    /// The link's logfile number differs from the number in its name.
    NumberMismatch,
    /// The back pointer does not equal the head of the previous own link.
    PrevMismatch,
    /// The digest does not match the link's contents.
    DigestMismatch,
    /// The position is negative.
    BadPosition,
    /// The logfile number exceeds [`MAX_LOG_NR`].
    BadNumber,
}

impl ChainError {
    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            ChainError::NoMd5 => "no MD5 implementation available",
            ChainError::BadPrevious(_) => "previous version link is malformed",
            ChainError::Unparseable(_) => "version link is malformed",
            ChainError::NumberMismatch => {
                "version link names a different logfile number than its key"
            }
            ChainError::PrevMismatch => {
                "version link does not point back to the previous version link"
            }
            ChainError::DigestMismatch => "version link digest does not match its contents",
            ChainError::BadPosition => "log position is negative",
            ChainError::BadNumber => "logfile number out of range",
        }
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Computes the digest of a version link: MD5 over `"<nr>,<origin>,<log_pos>:<prev_full>"`.
/// `prev_full` is used as given (the caller passes `""` for `nr <= 1`).
fn link_digest(
    digester: &dyn Digester,
    nr: u32,
    origin: &str,
    log_pos: i64,
    prev_full: &str,
) -> Result<Md5Digest, ChainError> {
    let mut input = FixedBuf::<HASH_INPUT_MAX>::new();
    fmt::Write::write_fmt(
        &mut input,
        format_args!("{nr},{origin},{log_pos}:{prev_full}"),
    )
    .map_err(|_| ChainError::BadPrevious(TreeError::BadValue))?;
    digester
        .md5(input.as_bytes())
        .map(Md5Digest)
        .ok_or(ChainError::NoMd5)
}

/// The head of a version link value (the part before the first `:`), or the whole text.
fn head_text(value: &str) -> &str {
    value.split_once(':').map_or(value, |(head, _)| head)
}

/// Computes the version link a host writes for logfile `nr` of `origin` after logging or
/// replaying it up to `log_pos` (`_update_version_link`).
///
/// `prev_own` is the host's own `version-(nr-1)` link as read (`""` when it is missing or a
/// tombstone). It must be a well-formed version link when not empty. The returned value
/// borrows from `prev_own`; format it with `Display`.
pub fn make_version_link<'a>(
    digester: &dyn Digester,
    nr: u32,
    origin: HostName<'a>,
    log_pos: i64,
    prev_own: &'a str,
) -> Result<VersionLink<'a>, ChainError> {
    if log_pos < 0 {
        return Err(ChainError::BadPosition);
    }
    if nr > MAX_LOG_NR {
        return Err(ChainError::BadNumber);
    }
    let prev_own = if nr > 1 { visible(prev_own) } else { "" };
    let prev = if prev_own.is_empty() {
        None
    } else {
        if prev_own.len() > VERSION_LINK_MAX {
            return Err(ChainError::BadPrevious(TreeError::BadValue));
        }
        VersionLink::parse(prev_own).map_err(ChainError::BadPrevious)?;
        Some(VersionHead::parse(head_text(prev_own)).map_err(ChainError::BadPrevious)?)
    };
    let digest = link_digest(digester, nr, origin.as_str(), log_pos, prev_own)?;
    Ok(VersionLink {
        head: VersionHead {
            digest,
            log: LogName { nr, origin },
            pos: log_pos,
        },
        prev,
    })
}

/// The two fake links `create-resource` writes for the first logfile `nr` of `host`:
/// `version-(nr-1)` = `000…0,log-(nr-1)-host,0:` and `version-nr` = `000…0,log-nr-host,0:<that head>`.
/// Returns `None` for `nr == 0` and for `nr` beyond [`MAX_LOG_NR`].
pub fn initial_links(nr: u32, host: HostName<'_>) -> Option<[(u32, VersionLink<'_>); 2]> {
    if nr > MAX_LOG_NR {
        return None;
    }
    let before = nr.checked_sub(1)?;
    let older = VersionHead {
        digest: Md5Digest::ZERO,
        log: LogName {
            nr: before,
            origin: host,
        },
        pos: 0,
    };
    let newer = VersionHead {
        digest: Md5Digest::ZERO,
        log: LogName { nr, origin: host },
        pos: 0,
    };
    Some([
        (
            before,
            VersionLink {
                head: older,
                prev: None,
            },
        ),
        (
            nr,
            VersionLink {
                head: newer,
                prev: Some(older),
            },
        ),
    ])
}

/// A version link as stored: which host wrote it, for which logfile number, and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionEntry<'a> {
    /// The host in the key (`version-N-<host>`), i.e. the writer.
    pub host: &'a str,
    /// The number in the key.
    pub nr: u32,
    /// The link value.
    pub value: &'a str,
}

/// Where version links come from: a slice of entries, or the caller's own index.
pub trait VersionSource<'a> {
    /// The value of `version-<nr>-<host>`, `None` when missing. Tombstones may be returned;
    /// users treat them as missing.
    fn version(&self, nr: u32, host: &str) -> Option<&'a str>;
}

impl<'a> VersionSource<'a> for [VersionEntry<'a>] {
    fn version(&self, nr: u32, host: &str) -> Option<&'a str> {
        self.iter()
            .find(|e| e.nr == nr && e.host == host)
            .map(|e| e.value)
    }
}

/// What [`verify_chain`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Links whose digest and back pointer were checked.
    pub verified: usize,
    /// Fake links (all-zero digest): only their back pointer was checked.
    pub fake: usize,
    /// Links whose predecessor is not available, so the digest could not be checked.
    pub unverifiable: usize,
}

/// Where [`verify_chain`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainFault {
    /// The logfile number of the offending link.
    pub nr: u32,
    /// What is wrong with it.
    pub error: ChainError,
}

/// How one link fared in [`verify_chain`].
enum LinkCheck {
    Missing,
    Verified,
    Fake,
    Unverifiable,
}

/// Verifies one host's version links, given as `(nr, value)` in any order.
///
/// For every link: it parses; its logfile number equals its key; its back pointer equals the
/// head of the link for `nr - 1` when that is present (empty for `nr <= 1`); its digest equals
/// MD5 over its contents and the full predecessor. Fake links (all-zero digest, written at
/// create time and by the emergency hole) are checked for the back pointer only. A link with a
/// back pointer whose predecessor is not given counts as unverifiable, not as an error: old
/// links are deleted by log rotation. Tombstones are treated as missing. When several links
/// are bad, the fault with the lowest number is reported (where the history first breaks).
pub fn verify_chain(
    digester: &dyn Digester,
    links: &[(u32, &str)],
) -> Result<ChainSummary, ChainFault> {
    let mut summary = ChainSummary::default();
    let mut first_fault: Option<ChainFault> = None;
    for &(nr, value) in links {
        match check_link(digester, links, nr, value) {
            Ok(LinkCheck::Missing) => {}
            Ok(LinkCheck::Verified) => summary.verified = summary.verified.saturating_add(1),
            Ok(LinkCheck::Fake) => summary.fake = summary.fake.saturating_add(1),
            Ok(LinkCheck::Unverifiable) => {
                summary.unverifiable = summary.unverifiable.saturating_add(1)
            }
            Err(error) => {
                if first_fault.is_none_or(|f| nr < f.nr) {
                    first_fault = Some(ChainFault { nr, error });
                }
            }
        }
    }
    match first_fault {
        Some(fault) => Err(fault),
        None => Ok(summary),
    }
}

fn check_link(
    digester: &dyn Digester,
    links: &[(u32, &str)],
    nr: u32,
    value: &str,
) -> Result<LinkCheck, ChainError> {
    let value = visible(value);
    if value.is_empty() {
        return Ok(LinkCheck::Missing);
    }
    let link = VersionLink::parse(value).map_err(ChainError::Unparseable)?;
    if link.head.log.nr != nr {
        return Err(ChainError::NumberMismatch);
    }
    let back_pointer = value.split_once(':').map_or("", |(_, prev)| prev);
    let pred = nr
        .checked_sub(1)
        .and_then(|p| links.iter().find(|(n, _)| *n == p))
        .map_or("", |(_, v)| visible(v));
    if link.head.digest == Md5Digest::ZERO {
        if !pred.is_empty() && !back_pointer.is_empty() && back_pointer != head_text(pred) {
            return Err(ChainError::PrevMismatch);
        }
        return Ok(LinkCheck::Fake);
    }
    let prev_full = if nr <= 1 {
        ""
    } else if !pred.is_empty() {
        pred
    } else if back_pointer.is_empty() {
        ""
    } else {
        return Ok(LinkCheck::Unverifiable);
    };
    if back_pointer != head_text(prev_full) {
        return Err(ChainError::PrevMismatch);
    }
    let digest = link_digest(
        digester,
        nr,
        link.head.log.origin.as_str(),
        link.head.pos,
        prev_full,
    )?;
    if digest != link.head.digest {
        return Err(ChainError::DigestMismatch);
    }
    Ok(LinkCheck::Verified)
}

/// Why the kernel refuses to write a version link after a jump in the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceSkip {
    /// The previous sequence number.
    pub from: u32,
    /// The new one.
    pub to: u32,
}

/// The sequence check of `_update_version_link`: moving from logfile `prev` (0 = unknown) to
/// `nr` must be a step of one, unless `skip-check-<me>` names `nr` exactly.
pub fn check_sequence_step(
    prev: u32,
    nr: u32,
    skip_check: Option<&str>,
) -> Result<(), SequenceSkip> {
    let contiguous = nr.checked_sub(prev).is_some_and(|step| step <= 1);
    if nr <= 1 || prev == 0 || contiguous {
        return Ok(());
    }
    match skip_check.map(SkipCheck::parse) {
        Some(Ok(skip)) if skip.nr == nr => Ok(()),
        _ => Err(SequenceSkip { from: prev, to: nr }),
    }
}

/// Why a secondary may not yet move from logfile N to N+1 (`is_switchover_possible`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchoverRefusal {
    /// Two logfiles with the same number exist: split brain.
    DoubleLogfile,
    /// A logfile name does not parse.
    BadLogName,
    /// The numbers are not N and N+1.
    NotContiguous,
    /// The own version link for N is missing or empty.
    OwnVersionMissing,
    /// The origin's version link for N is missing or empty.
    OriginVersionMissing,
    /// A designated primary does not continue with a logfile written by another host.
    ForeignDenied,
    /// The version link for N+1 has not arrived yet.
    NewVersionMissing,
    /// Own and origin's version links for N differ: the logfile is not completely transferred
    /// or replayed yet.
    NotYetTransferred,
    /// The own replay link is missing or malformed.
    ReplayUnreadable,
    /// The own version link is malformed.
    OwnVersionMalformed,
    /// The replay link and the own version link name different logfiles.
    LogNameMismatch,
    /// Replay has not reached the position in the own version link.
    ReplayNotFinished,
    /// The version link for N+1 is malformed.
    NewVersionMalformed,
    /// The link for N+1 does not build on the own link for N: split brain.
    VersionMismatch,
}

impl SwitchoverRefusal {
    /// The `actual-<host>/msg-<key>` channel the original reports this on.
    pub const fn msg_key(self) -> &'static str {
        match self {
            SwitchoverRefusal::DoubleLogfile | SwitchoverRefusal::VersionMismatch => {
                "err-splitbrain-detected"
            }
            SwitchoverRefusal::BadLogName | SwitchoverRefusal::LogNameMismatch => {
                "err-bad-log-name"
            }
            SwitchoverRefusal::NotContiguous => "err-log-not-contiguous",
            SwitchoverRefusal::OwnVersionMissing
            | SwitchoverRefusal::OriginVersionMissing
            | SwitchoverRefusal::OwnVersionMalformed
            | SwitchoverRefusal::NewVersionMalformed => "err-versionlink-not-readable",
            SwitchoverRefusal::ForeignDenied => "inf-log-foreign-denied",
            SwitchoverRefusal::NewVersionMissing => "inf-versionlink-not-yet-exist",
            SwitchoverRefusal::NotYetTransferred => "inf-versionlink-not-equal",
            SwitchoverRefusal::ReplayUnreadable => "err-replaylink-not-readable",
            SwitchoverRefusal::ReplayNotFinished => "inf-replay-not-yet-finished",
        }
    }

    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            SwitchoverRefusal::DoubleLogfile => {
                "SPLIT BRAIN detected: multiple logfiles with the same sequence number exist"
            }
            SwitchoverRefusal::BadLogName => "logfile name cannot be parsed",
            SwitchoverRefusal::NotContiguous => "logfile sequence numbers are not contiguous",
            SwitchoverRefusal::OwnVersionMissing => "cannot read my own version link",
            SwitchoverRefusal::OriginVersionMissing => "cannot read the old logfile's version link",
            SwitchoverRefusal::ForeignDenied => {
                "as designated primary, refusing to continue with a foreign logfile"
            }
            SwitchoverRefusal::NewVersionMissing => {
                "the new version link does not yet exist, waiting for it"
            }
            SwitchoverRefusal::NotYetTransferred => "old logfile is not yet completely transferred",
            SwitchoverRefusal::ReplayUnreadable => "cannot read my own replay link",
            SwitchoverRefusal::OwnVersionMalformed => "my own version link is malformed",
            SwitchoverRefusal::LogNameMismatch => {
                "internal problem: logfile name mismatch between replay and version link"
            }
            SwitchoverRefusal::ReplayNotFinished => "log replay is not yet finished",
            SwitchoverRefusal::NewVersionMalformed => "the new version link is malformed",
            SwitchoverRefusal::VersionMismatch => "VERSION MISMATCH: check for SPLIT BRAIN",
        }
    }
}

impl fmt::Display for SwitchoverRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The facts [`check_switchover`] needs besides the version links.
#[derive(Clone, Copy, Debug)]
pub struct SwitchoverQuery<'a> {
    /// This host.
    pub me: &'a str,
    /// Name of the logfile replayed now (`log-N-<origin>`, without directory).
    pub old_log: &'a str,
    /// Name of the candidate next logfile.
    pub new_log: &'a str,
    /// Whether two logfiles with the number of the next one exist (`has_double_logfile`).
    pub double_logfile: bool,
    /// Whether this host is the designated primary (`todo_primary`).
    pub designated_primary: bool,
    /// Do not wait for the next logfile's version link (used when the next logfile is empty
    /// and the primary is gone).
    pub skip_new: bool,
    /// Bytes the replay may lag behind the version link (0 unless the log is damaged or the
    /// fetch is paused on a designated primary).
    pub replay_tolerance: i64,
    /// This host's replay link value, `None` when missing.
    pub own_replay: Option<&'a str>,
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(visible).filter(|v| !v.is_empty())
}

/// May a secondary (or a primary catching up) switch from `old_log` to `new_log`? The checks
/// and their order are those of `is_switchover_possible`:
///
/// 1. no double logfile; both names parse; numbers are N and N+1;
/// 2. own `version-N-<me>` and origin's `version-N-<origin>` exist;
/// 3. a designated primary does not switch from its own logfile to a foreign one;
/// 4. the version link for N+1 exists (unless `skip_new` or the new logfile is ours);
/// 5. own and origin's version links for N are equal (the logfile arrived completely);
/// 6. the own replay link names the same logfile as the own version link and its position is
///    within `replay_tolerance` below the version link's;
/// 7. the back pointer of the N+1 link equals the head of the own N link (else split brain).
///
/// Deviation: step 6 compares the positions as numbers. The original compares the lengths of
/// the two decimal strings, which lets a replay lagging by less than a power of ten pass.
pub fn check_switchover<'v, V: VersionSource<'v> + ?Sized>(
    query: &SwitchoverQuery<'_>,
    versions: &V,
) -> Result<(), SwitchoverRefusal> {
    if query.double_logfile {
        return Err(SwitchoverRefusal::DoubleLogfile);
    }
    let old = LogName::parse(query.old_log).map_err(|_| SwitchoverRefusal::BadLogName)?;
    let new = LogName::parse(query.new_log).map_err(|_| SwitchoverRefusal::BadLogName)?;
    if old.nr.checked_add(1) != Some(new.nr) {
        return Err(SwitchoverRefusal::NotContiguous);
    }
    let own_version =
        nonempty(versions.version(old.nr, query.me)).ok_or(SwitchoverRefusal::OwnVersionMissing)?;
    let origin_version = nonempty(versions.version(old.nr, old.origin.as_str()))
        .ok_or(SwitchoverRefusal::OriginVersionMissing)?;
    let new_version = nonempty(versions.version(new.nr, new.origin.as_str()));
    let new_is_mine = new.origin.as_str() == query.me;
    if query.designated_primary && old.origin.as_str() == query.me && !new_is_mine {
        return Err(SwitchoverRefusal::ForeignDenied);
    }
    if !query.skip_new && !new_is_mine && new_version.is_none() {
        return Err(SwitchoverRefusal::NewVersionMissing);
    }
    if own_version != origin_version {
        return Err(SwitchoverRefusal::NotYetTransferred);
    }
    let replay = nonempty(query.own_replay).ok_or(SwitchoverRefusal::ReplayUnreadable)?;
    let replay = ReplayLink::parse(replay).map_err(|_| SwitchoverRefusal::ReplayUnreadable)?;
    let own =
        VersionLink::parse(own_version).map_err(|_| SwitchoverRefusal::OwnVersionMalformed)?;
    if replay.log != own.head.log {
        return Err(SwitchoverRefusal::LogNameMismatch);
    }
    let tolerance = query.replay_tolerance.max(0);
    if replay.min_pos > own.head.pos || replay.min_pos.saturating_add(tolerance) < own.head.pos {
        return Err(SwitchoverRefusal::ReplayNotFinished);
    }
    if let Some(new_version) = new_version {
        let back_pointer = new_version
            .split_once(':')
            .ok_or(SwitchoverRefusal::NewVersionMalformed)?
            .1;
        let back_pointer = head_text(back_pointer);
        if back_pointer != head_text(own_version) {
            return Err(SwitchoverRefusal::VersionMismatch);
        }
    }
    Ok(())
}
