// SPDX-License-Identifier: GPL-2.0
//! The values of the `/mars` tree: what each kind of symlink points to.
//!
//! Every parser returns views into the text it was given, and every type formats back with
//! `Display` to the text the original writes, so `format(parse(x)) == x` for canonical values.
//! Numbers are read leniently (leading zeros are accepted, as `sscanf` does) but always
//! written canonically. A value of [`DELETED`] is a tombstone on any key.
//!
//! Grammar (see `Documentation/tree.rst`):
//!
//! ```text
//! replay-<host>          log-NNNNNNNNN-<origin>,<min_pos>,<dirty_len>
//! version-N-<host>       <md5hex>,log-NNNNNNNNN-<origin>,<pos>:<md5hex>,log-…,<pos>   (prev part may be empty)
//! todo-<host>/<switch>   0 | 1           emergency-limit: 0..100
//! primary, systemd-want  <host> | (none)
//! skip-check-<host>      <nr><free text>
//! msg-<key>              OK | <sec.nsec> <sec.nsec> <text>
//! verifystatus-<host>    <ok>,<errors>
//! ips/ip-<host>          a.b.c.d[:port]
//! uuid                   <host>_<sec.nsec> | (any)
//! ```

use core::fmt;

use super::lamport::Stamp;
use super::names::HostName;
use super::tree::{
    parse_pos, parse_u64, GlobalIndicator, Indicator, Key, LogName, ResourceKey, Switch, TreeError,
};

/// The tombstone value: the key is deleted, and the link's stamp says when.
pub const DELETED: &str = ".deleted";
/// The value meaning "no host" (`primary`, `systemd-want`, `device-<host>` during a join).
pub const NONE_VALUE: &str = "(none)";
/// The `uuid` value of a node that is joining and accepts any cluster.
pub const ANY_UUID: &str = "(any)";
/// The longest symlink value the original handles (`MARS_SYMLINK_MAX`).
pub const MAX_LINK_LEN: usize = 1023;

/// Whether a value is the tombstone.
pub fn is_tombstone(value: &str) -> bool {
    value == DELETED
}

/// The value as readers see it (`ordered_readlink`): a tombstone reads as empty.
pub fn visible(value: &str) -> &str {
    if is_tombstone(value) {
        ""
    } else {
        value
    }
}

/// An MD5 digest as it appears in version links (32 lowercase hex digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Md5Digest(pub [u8; 16]);

impl Md5Digest {
    /// The all-zero digest of the fake links made at resource creation.
    pub const ZERO: Md5Digest = Md5Digest([0; 16]);

    /// Parses 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Md5Digest, TreeError> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return Err(TreeError::BadDigest);
        }
        let mut out = [0u8; 16];
        // Two digits at a time rather than `chunks_exact`: the latter's zip leaves an
        // unreachable division-by-zero path that objtool reports in the kernel build.
        let mut digits = bytes.iter();
        for slot in out.iter_mut() {
            let (Some(&hi), Some(&lo)) = (digits.next(), digits.next()) else {
                return Err(TreeError::BadDigest);
            };
            *slot = (hex_val(hi)? << 4) | hex_val(lo)?;
        }
        Ok(Md5Digest(out))
    }
}

fn hex_val(b: u8) -> Result<u8, TreeError> {
    match b {
        b'0'..=b'9' => b.checked_sub(b'0'),
        b'a'..=b'f' => b.checked_sub(b'a' - 10),
        _ => None,
    }
    .ok_or(TreeError::BadDigest)
}

impl fmt::Display for Md5Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Splits `text` at every `sep` into exactly `N` parts.
fn split_n<const N: usize>(text: &str, sep: char) -> Option<[&str; N]> {
    let mut parts = [""; N];
    let mut it = text.split(sep);
    for slot in parts.iter_mut() {
        *slot = it.next()?;
    }
    if it.next().is_some() {
        return None;
    }
    Some(parts)
}

/// `replay-<host>`: `log-NNNNNNNNN-<origin>,<min_pos>,<dirty_len>`.
///
/// Everything before `min_pos` in the logfile has been written back; the `dirty_len` bytes
/// after it may have been partly written back (replayed again after a crash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplayLink<'a> {
    /// The logfile being replayed (or written, on a primary).
    pub log: LogName<'a>,
    /// Replay position: everything before it is on the disk.
    pub min_pos: i64,
    /// Length of the region whose writeback may have started.
    pub dirty_len: i64,
}

impl<'a> ReplayLink<'a> {
    /// Parses a replay link value.
    pub fn parse(text: &'a str) -> Result<ReplayLink<'a>, TreeError> {
        let [log, min_pos, dirty_len] = split_n::<3>(text, ',').ok_or(TreeError::BadValue)?;
        Ok(ReplayLink {
            log: LogName::parse(log)?,
            min_pos: parse_pos(min_pos)?,
            dirty_len: parse_pos(dirty_len)?,
        })
    }
}

impl fmt::Display for ReplayLink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.log, self.min_pos, self.dirty_len)
    }
}

/// One link of the version chain without its back pointer: `<md5hex>,log-NNNNNNNNN-<origin>,<pos>`.
/// This is the part of a version link before the first `:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionHead<'a> {
    /// Hash over this link's data and the full previous link.
    pub digest: Md5Digest,
    /// The logfile this link is about.
    pub log: LogName<'a>,
    /// End of the logged (primary) or replayed (secondary) data in that logfile.
    pub pos: i64,
}

impl<'a> VersionHead<'a> {
    /// Parses `<md5hex>,log-NNNNNNNNN-<origin>,<pos>`.
    pub fn parse(text: &'a str) -> Result<VersionHead<'a>, TreeError> {
        let [digest, log, pos] = split_n::<3>(text, ',').ok_or(TreeError::BadValue)?;
        Ok(VersionHead {
            digest: Md5Digest::parse(digest)?,
            log: LogName::parse(log)?,
            pos: parse_pos(pos)?,
        })
    }
}

impl fmt::Display for VersionHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.digest, self.log, self.pos)
    }
}

/// `version-NNNNNNNNN-<host>`: `<head>:<prev head>`, where the previous head is the part
/// before the first `:` of the same host's previous version link, or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionLink<'a> {
    /// This link.
    pub head: VersionHead<'a>,
    /// The previous link of the same host, `None` when the part after `:` is empty.
    pub prev: Option<VersionHead<'a>>,
}

impl<'a> VersionLink<'a> {
    /// Parses a version link value.
    pub fn parse(text: &'a str) -> Result<VersionLink<'a>, TreeError> {
        let (head, prev) = text.split_once(':').ok_or(TreeError::BadValue)?;
        let prev = if prev.is_empty() {
            None
        } else {
            Some(VersionHead::parse(prev)?)
        };
        Ok(VersionLink {
            head: VersionHead::parse(head)?,
            prev,
        })
    }
}

impl fmt::Display for VersionLink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.head)?;
        match &self.prev {
            Some(prev) => write!(f, "{prev}"),
            None => Ok(()),
        }
    }
}

/// `primary` and `systemd-want`: a host or `(none)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostOrNone<'a> {
    /// `(none)`.
    None,
    /// A host.
    Host(HostName<'a>),
}

impl<'a> HostOrNone<'a> {
    /// Parses `(none)` or a host name.
    pub fn parse(text: &'a str) -> Result<HostOrNone<'a>, TreeError> {
        if text == NONE_VALUE {
            return Ok(HostOrNone::None);
        }
        Ok(HostOrNone::Host(HostName::parse(text)?))
    }
}

impl fmt::Display for HostOrNone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostOrNone::None => f.write_str(NONE_VALUE),
            HostOrNone::Host(h) => write!(f, "{h}"),
        }
    }
}

/// Parses the value of `data-<host>`: the backing device or image file, an absolute path
/// without empty, `.` or `..` components, without control characters, at most
/// [`MAX_LINK_LEN`] bytes. The kernel opens only such a path.
pub fn parse_device_path(text: &str) -> Result<&str, TreeError> {
    let rest = text.strip_prefix('/').ok_or(TreeError::BadPath)?;
    if text.len() > MAX_LINK_LEN
        || rest.is_empty()
        || text.bytes().any(|b| b < 0x20 || b == 0x7f)
        || rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(TreeError::BadPath);
    }
    Ok(text)
}

/// Parses a switch value, `0` or `1`.
pub fn parse_switch(text: &str) -> Result<bool, TreeError> {
    match text {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(TreeError::BadValue),
    }
}

/// Parses a percentage `0..=100` (`emergency-limit`).
pub fn parse_percent(text: &str) -> Result<u8, TreeError> {
    let value = parse_u64(text)?;
    match u8::try_from(value) {
        Ok(p) if p <= 100 => Ok(p),
        _ => Err(TreeError::BadNumber),
    }
}

/// `skip-check-<host>`: `<nr><msg>`, permission to jump to logfile `nr` without the sequence
/// check; the text after the number is free (marsadm puts a warning there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkipCheck<'a> {
    /// The logfile number that may follow a gap.
    pub nr: u32,
    /// The free text after the number.
    pub msg: &'a str,
}

impl<'a> SkipCheck<'a> {
    /// Parses leading digits and keeps the rest as text.
    pub fn parse(text: &'a str) -> Result<SkipCheck<'a>, TreeError> {
        let end = text
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, msg) = (text.get(..end).unwrap_or(""), text.get(end..).unwrap_or(""));
        let nr = u32::try_from(parse_u64(digits)?).map_err(|_| TreeError::BadNumber)?;
        if nr > super::tree::MAX_LOG_NR {
            return Err(TreeError::BadNumber);
        }
        Ok(SkipCheck { nr, msg })
    }
}

impl fmt::Display for SkipCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.nr, self.msg)
    }
}

/// A message channel `actual-<host>/msg-<key>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg<'a> {
    /// `OK`: nothing to report.
    Ok,
    /// `<system stamp> <lamport stamp> <text>`.
    Text {
        /// Real time when the message first appeared.
        system: Stamp,
        /// Lamport time when the message first appeared.
        lamport: Stamp,
        /// The message (may contain spaces and commas; may be empty).
        text: &'a str,
    },
}

impl<'a> Msg<'a> {
    /// Parses `OK` or `<sec.nsec> <sec.nsec> <text>`.
    pub fn parse(value: &'a str) -> Result<Msg<'a>, TreeError> {
        if value == "OK" {
            return Ok(Msg::Ok);
        }
        let (system, rest) = value.split_once(' ').ok_or(TreeError::BadValue)?;
        let (lamport, text) = rest.split_once(' ').ok_or(TreeError::BadValue)?;
        Ok(Msg::Text {
            system: parse_stamp(system)?,
            lamport: parse_stamp(lamport)?,
            text,
        })
    }
}

impl fmt::Display for Msg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Ok => f.write_str("OK"),
            Msg::Text {
                system,
                lamport,
                text,
            } => write!(f, "{system} {lamport} {text}"),
        }
    }
}

/// Parses a `sec.nsec` stamp.
pub fn parse_stamp(text: &str) -> Result<Stamp, TreeError> {
    Stamp::parse(text).map_err(|_| TreeError::BadStamp)
}

/// `verifystatus-<host>`: `<ok_count>,<error_count>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerifyStatus {
    /// Blocks that compared equal.
    pub ok: u64,
    /// Blocks that differed.
    pub errors: u64,
}

impl VerifyStatus {
    /// Parses `<ok>,<errors>`.
    pub fn parse(text: &str) -> Result<VerifyStatus, TreeError> {
        let [ok, errors] = split_n::<2>(text, ',').ok_or(TreeError::BadValue)?;
        Ok(VerifyStatus {
            ok: parse_u64(ok)?,
            errors: parse_u64(errors)?,
        })
    }
}

impl fmt::Display for VerifyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.ok, self.errors)
    }
}

/// `ips/ip-<host>`: an IPv4 address with an optional port (the kernel's "DNS").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpAddress {
    /// The four octets.
    pub octets: [u8; 4],
    /// An explicit port, else the default metadata port.
    pub port: Option<u16>,
}

impl IpAddress {
    /// Parses `a.b.c.d` or `a.b.c.d:port`.
    pub fn parse(text: &str) -> Result<IpAddress, TreeError> {
        let (addr, port) = match text.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let parts = split_n::<4>(addr, '.').ok_or(TreeError::BadIp)?;
        let mut octets = [0u8; 4];
        for (slot, part) in octets.iter_mut().zip(parts) {
            if part.len() > 3 {
                return Err(TreeError::BadIp);
            }
            *slot = u8::try_from(parse_u64(part).map_err(|_| TreeError::BadIp)?)
                .map_err(|_| TreeError::BadIp)?;
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                u16::try_from(parse_u64(p).map_err(|_| TreeError::BadIp)?)
                    .map_err(|_| TreeError::BadIp)?,
            ),
        };
        Ok(IpAddress { octets, port })
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.octets;
        write!(f, "{a}.{b}.{c}.{d}")?;
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// `uuid`: the cluster identity, `<creator host>_<sec.nsec>`, or `(any)` while joining.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterUuid<'a> {
    /// `(any)`: accept whatever cluster the peer belongs to.
    Any,
    /// A created cluster.
    Created {
        /// The host that ran `create-cluster` (its node name, not checked further).
        host: &'a str,
        /// The Lamport time of the creation.
        stamp: Stamp,
    },
}

impl<'a> ClusterUuid<'a> {
    /// Parses the `uuid` value. The host part may itself contain `_`; the stamp never does.
    pub fn parse(text: &'a str) -> Result<ClusterUuid<'a>, TreeError> {
        if text == ANY_UUID {
            return Ok(ClusterUuid::Any);
        }
        let (host, stamp) = text.rsplit_once('_').ok_or(TreeError::BadValue)?;
        if host.is_empty() || host.contains('/') {
            return Err(TreeError::BadValue);
        }
        Ok(ClusterUuid::Created {
            host,
            stamp: parse_stamp(stamp)?,
        })
    }
}

impl fmt::Display for ClusterUuid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterUuid::Any => f.write_str(ANY_UUID),
            ClusterUuid::Created { host, stamp } => write!(f, "{host}_{stamp}"),
        }
    }
}

/// A link value interpreted according to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// [`DELETED`], on any key.
    Tombstone,
    /// `replay-<host>` and `syncpos-<host>`.
    Replay(ReplayLink<'a>),
    /// `version-N-<host>`.
    Version(VersionLink<'a>),
    /// Sizes, positions and counters: `size`, `maxnr`, `actsize-*`, `syncstatus-*`.
    Number(u64),
    /// `0`/`1` switches and `is-*`/`alive` indicators.
    Switch(bool),
    /// `emergency-limit`.
    Percent(u8),
    /// `primary`, `systemd-want`.
    HostOrNone(HostOrNone<'a>),
    /// `skip-check-<host>`.
    SkipCheck(SkipCheck<'a>),
    /// `msg-*`.
    Msg(Msg<'a>),
    /// `verifystatus-<host>`.
    VerifyStatus(VerifyStatus),
    /// `ips/ip-<host>`.
    Ip(IpAddress),
    /// `uuid`.
    Uuid(ClusterUuid<'a>),
    /// `actual-<host>/time`, `actual-<host>/read-stamp`.
    Stamp(Stamp),
    /// Any value this module does not interpret (paths, unit names, unknown keys).
    Text(&'a str),
}

impl<'a> Value<'a> {
    /// Interprets `value` as the value of `key`.
    pub fn parse(key: &Key<'_>, value: &'a str) -> Result<Value<'a>, TreeError> {
        if is_tombstone(value) {
            return Ok(Value::Tombstone);
        }
        Ok(match key {
            Key::Uuid => Value::Uuid(ClusterUuid::parse(value)?),
            Key::Ip(_) => Value::Ip(IpAddress::parse(value)?),
            Key::Actual {
                indicator: Some(ind),
                ..
            } => match ind {
                GlobalIndicator::Time | GlobalIndicator::ReadStamp => {
                    Value::Stamp(parse_stamp(value)?)
                }
                GlobalIndicator::Alive => Value::Switch(parse_switch(value)?),
                GlobalIndicator::Msg(_) => Value::Msg(Msg::parse(value)?),
                _ => Value::Text(value),
            },
            Key::Resource { key, .. } => match key {
                ResourceKey::Size
                | ResourceKey::MaxNr
                | ResourceKey::ActSize(_)
                | ResourceKey::SyncStatus(_) => Value::Number(parse_u64(value)?),
                ResourceKey::Primary | ResourceKey::SystemdWant => {
                    Value::HostOrNone(HostOrNone::parse(value)?)
                }
                ResourceKey::Replay(_) | ResourceKey::SyncPos(_) => {
                    Value::Replay(ReplayLink::parse(value)?)
                }
                ResourceKey::Version { .. } => Value::Version(VersionLink::parse(value)?),
                ResourceKey::VerifyStatus(_) => Value::VerifyStatus(VerifyStatus::parse(value)?),
                ResourceKey::SkipCheck(_) => Value::SkipCheck(SkipCheck::parse(value)?),
                ResourceKey::Todo {
                    switch: Some(sw), ..
                } => match sw {
                    Switch::EmergencyLimit => Value::Percent(parse_percent(value)?),
                    Switch::Other(_) => Value::Text(value),
                    _ => Value::Switch(parse_switch(value)?),
                },
                ResourceKey::Actual {
                    indicator: Some(ind),
                    ..
                } => match ind {
                    Indicator::IsAttached
                    | Indicator::IsPrimary
                    | Indicator::IsReplaying
                    | Indicator::IsCopying
                    | Indicator::IsSyncing
                    | Indicator::IsEmergency
                    | Indicator::HasEmergency
                    | Indicator::IfOn => Value::Switch(parse_switch(value)?),
                    Indicator::Msg(_) => Value::Msg(Msg::parse(value)?),
                    _ => Value::Text(value),
                },
                _ => Value::Text(value),
            },
            _ => Value::Text(value),
        })
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Tombstone => f.write_str(DELETED),
            Value::Replay(v) => write!(f, "{v}"),
            Value::Version(v) => write!(f, "{v}"),
            Value::Number(v) => write!(f, "{v}"),
            Value::Switch(v) => f.write_str(if *v { "1" } else { "0" }),
            Value::Percent(v) => write!(f, "{v}"),
            Value::HostOrNone(v) => write!(f, "{v}"),
            Value::SkipCheck(v) => write!(f, "{v}"),
            Value::Msg(v) => write!(f, "{v}"),
            Value::VerifyStatus(v) => write!(f, "{v}"),
            Value::Ip(v) => write!(f, "{v}"),
            Value::Uuid(v) => write!(f, "{v}"),
            Value::Stamp(v) => write!(f, "{v}"),
            Value::Text(v) => f.write_str(v),
        }
    }
}
