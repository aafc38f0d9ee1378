// SPDX-License-Identifier: GPL-2.0
//! The keys of the `/mars` tree: every path below `/mars` as a typed value.
//!
//! `/mars` is a key-value store made of symlinks (see `Documentation/tree.rst`). This module
//! parses a path relative to `/mars` (`resource-r0/replay-hostA`) into a [`Key`] and formats
//! it back. Known positions are checked strictly: a host, resource or logfile name that is
//! invalid where the layout expects one is an error. Names this version does not know are kept
//! as `Unknown`/`Other` variants, so a newer peer's keys survive a round trip through an older
//! node (forward compatibility). Temporary names that writers use before the atomic rename
//! (`.tmp.<pid>.<name>` from marsadm, `.tmp-<name>` from the kernel) and the old deletion
//! markers `.deleted-<name>` are recognised anywhere; scanners skip them.
//!
//! The link values live in [`super::tree_value`], the merge rule in [`super::merge`].

use core::fmt;

use super::names::{HostName, NameError, ResourceName};

/// The largest logfile number. The original keeps sequence numbers in a C `int`.
pub const MAX_LOG_NR: u32 = i32::MAX as u32;

/// Why a key or a link value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// A host or resource name in a place that requires one is invalid.
    BadName(NameError),
    /// A logfile name is not `log-NNNNNNNNN-<host>` (nine or more digits, no excess zeros,
    /// at most [`MAX_LOG_NR`]).
    BadLogName,
    /// A version link name is not `version-NNNNNNNNN-<host>`.
    BadVersionName,
    /// A path is empty, absolute, ends in `/`, has an empty component or a NUL byte.
    BadPath,
    /// A decimal number is missing, has other characters, or is out of range.
    BadNumber,
    /// A digest is not 32 lowercase hexadecimal digits.
    BadDigest,
    /// A Lamport stamp is not `sec.nsec`.
    BadStamp,
    /// An IP address is not a dotted IPv4 quad with an optional `:port`.
    BadIp,
    /// The value does not have the shape its key requires.
    BadValue,
}

impl TreeError {
    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            TreeError::BadName(e) => e.message(),
            TreeError::BadLogName => "logfile name is not log-NNNNNNNNN-<host>",
            TreeError::BadVersionName => "version link name is not version-NNNNNNNNN-<host>",
            TreeError::BadPath => "path is empty, absolute, has an empty component or a NUL byte",
            TreeError::BadNumber => "not a decimal number in range",
            TreeError::BadDigest => "digest is not 32 lowercase hex digits",
            TreeError::BadStamp => "timestamp is not <sec>.<nsec>",
            TreeError::BadIp => "address is not a.b.c.d[:port]",
            TreeError::BadValue => "link value does not have the form its key requires",
        }
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<NameError> for TreeError {
    fn from(e: NameError) -> Self {
        TreeError::BadName(e)
    }
}

/// Parses a non-empty run of ASCII digits (leading zeros allowed) into a `u64`.
pub(crate) fn parse_u64(text: &str) -> Result<u64, TreeError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TreeError::BadNumber);
    }
    let mut value: u64 = 0;
    for b in text.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b.wrapping_sub(b'0'))))
            .ok_or(TreeError::BadNumber)?;
    }
    Ok(value)
}

/// Parses a non-negative position or size that fits a `loff_t`.
pub(crate) fn parse_pos(text: &str) -> Result<i64, TreeError> {
    i64::try_from(parse_u64(text)?).map_err(|_| TreeError::BadNumber)
}

/// Parses the `NNNNNNNNN-<host>` tail shared by logfile and version link names: the number
/// is written with `%09d`, so it has at least nine digits and no excess leading zeros.
fn parse_nr_host(text: &str) -> Option<(u32, HostName<'_>)> {
    let (digits, host) = text.split_once('-')?;
    if digits.len() < 9 || (digits.len() > 9 && digits.starts_with('0')) {
        return None;
    }
    let nr = u32::try_from(parse_u64(digits).ok()?).ok()?;
    if nr > MAX_LOG_NR {
        return None;
    }
    Some((nr, HostName::parse(host).ok()?))
}

/// A transaction logfile name, `log-NNNNNNNNN-<origin>`: the per-resource sequence number and
/// the primary that wrote it. Secondaries keep their copy under the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogName<'a> {
    /// The sequence number.
    pub nr: u32,
    /// The host that produced the logfile.
    pub origin: HostName<'a>,
}

impl<'a> LogName<'a> {
    /// Parses exactly `log-NNNNNNNNN-<host>`.
    pub fn parse(text: &'a str) -> Result<LogName<'a>, TreeError> {
        let rest = text.strip_prefix("log-").ok_or(TreeError::BadLogName)?;
        let (nr, origin) = parse_nr_host(rest).ok_or(TreeError::BadLogName)?;
        Ok(LogName { nr, origin })
    }
}

impl fmt::Display for LogName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log-{:09}-{}", self.nr, self.origin)
    }
}

/// A temporary name, written first and then renamed over its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TempName<'a> {
    /// `.tmp.<pid>.<target>`, written by marsadm (`set_link`).
    Marsadm {
        /// Process id of the writer.
        pid: u32,
        /// The name it will be renamed to.
        target: &'a str,
    },
    /// `.tmp-<target>`, written by the kernel (`mars_symlink`).
    Kernel {
        /// The name it will be renamed to.
        target: &'a str,
    },
    /// Any other name starting with `.tmp`; the text after `.tmp`.
    Other(&'a str),
}

impl<'a> TempName<'a> {
    /// Recognises a single path component starting with `.tmp`.
    pub fn parse(component: &'a str) -> Option<TempName<'a>> {
        let rest = component.strip_prefix(".tmp")?;
        if let Some(target) = rest.strip_prefix('-') {
            if !target.is_empty() {
                return Some(TempName::Kernel { target });
            }
        }
        if let Some((pid, target)) = rest.strip_prefix('.').and_then(|r| r.split_once('.')) {
            let canonical = !pid.starts_with('0') || pid == "0";
            if let (Some(pid), true, false) = (
                parse_u64(pid).ok().and_then(|p| u32::try_from(p).ok()),
                canonical,
                target.is_empty(),
            ) {
                return Some(TempName::Marsadm { pid, target });
            }
        }
        Some(TempName::Other(rest))
    }

    /// The final name, when the form tells it.
    pub fn target(&self) -> Option<&'a str> {
        match *self {
            TempName::Marsadm { target, .. } | TempName::Kernel { target } => Some(target),
            TempName::Other(_) => None,
        }
    }
}

impl fmt::Display for TempName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TempName::Marsadm { pid, target } => write!(f, ".tmp.{pid}.{target}"),
            TempName::Kernel { target } => write!(f, ".tmp-{target}"),
            TempName::Other(rest) => write!(f, ".tmp{rest}"),
        }
    }
}

/// Whether a remote entry with this last path component is skipped when merging a peer's
/// tree (`run_bone`): temporaries, old deletion markers and `ignore*` names.
pub fn is_skipped_name(component: &str) -> bool {
    component.starts_with(".tmp")
        || component.starts_with(".deleted-")
        || component.starts_with("ignore")
}

/// Defines an enum of well-known names plus an `Other` catch-all (and optionally a
/// `msg-<key>` variant), with `parse` and `Display`.
macro_rules! name_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $var:ident => $text:literal, )*
        }
        $( msg: $(#[$mmeta:meta])* $msg:ident, )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name<'a> {
            $( $(#[$vmeta])* $var, )*
            $( $(#[$mmeta])* $msg(&'a str), )?
            /// A name this version does not know, kept as is.
            Other(&'a str),
        }

        impl<'a> $name<'a> {
            /// Classifies one path component (never fails: unknown names become `Other`).
            pub fn parse(text: &'a str) -> $name<'a> {
                match text {
                    $( $text => $name::$var, )*
                    _ => {
                        $(
                            if let Some(key) = text.strip_prefix("msg-") {
                                if !key.is_empty() {
                                    return $name::$msg(key);
                                }
                            }
                        )?
                        $name::Other(text)
                    }
                }
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$var => f.write_str($text), )*
                    $( $name::$msg(key) => write!(f, "msg-{key}"), )?
                    $name::Other(text) => f.write_str(text),
                }
            }
        }
    };
}

name_enum! {
    /// A switch in `resource-<res>/todo-<host>/`, written by marsadm, read by the kernel.
    /// Values `0`/`1`, except `emergency-limit` (percent).
    Switch {
        /// Attach the backing disk (gates everything else).
        Attach => "attach",
        /// Fetch logfiles from the primary (`marsadm connect`/`resume-fetch`).
        Connect => "connect",
        /// Allow the full sync.
        Sync => "sync",
        /// Allow the replay of fetched logfiles.
        AllowReplay => "allow-replay",
        /// Per-resource emergency limit in percent of /mars.
        EmergencyLimit => "emergency-limit",
    }
}

name_enum! {
    /// An indicator in `resource-<res>/actual-<host>/`, written by the kernel of `<host>`.
    Indicator {
        /// The backing disk is attached.
        IsAttached => "is-attached",
        /// This host acts as primary.
        IsPrimary => "is-primary",
        /// Replay is running.
        IsReplaying => "is-replaying",
        /// A logfile fetch is running.
        IsCopying => "is-copying",
        /// The full sync is running.
        IsSyncing => "is-syncing",
        /// Logging stopped because /mars ran full.
        IsEmergency => "is-emergency",
        /// An emergency happened (and is not yet cleared).
        HasEmergency => "has-emergency",
        /// Result code of the replay.
        ReplayCode => "replay-code",
        /// The backing disk reported an error.
        DiskError => "disk-error",
        /// The device is switched on.
        IfOn => "if-on",
        /// Requests in flight on the device.
        IfFlying => "if-flying",
        /// State of the device.
        IfState => "if-state",
        /// Stamp of the last completed request.
        IfCompletionStamp => "if-completion-stamp",
        /// How often the device is opened.
        OpenCount => "open-count",
    }
    msg:
    /// A message channel `msg-<key>` (value `OK` or a stamped text).
    Msg,
}

name_enum! {
    /// An indicator in the top-level `actual-<host>/`, written by the kernel of `<host>`.
    GlobalIndicator {
        /// Heartbeat: Lamport stamp of the last main loop round.
        Time => "time",
        /// The module is running (`1`/`0`).
        Alive => "alive",
        /// Layout version of this tree (`0.1`).
        Tree => "tree",
        /// Feature levels and available masks.
        Features => "features",
        /// Usable feature levels and masks.
        Usable => "usable",
        /// Build tag of the module.
        Buildtag => "buildtag",
        /// Emergency level `0..4`.
        Emergency => "emergency",
        /// Free space on /mars in MiB.
        RestSpace => "rest-space",
        /// Size of /mars in MiB.
        TotalSpace => "total-space",
        /// Lamport stamp of the last merge from this peer (written by the reader).
        ReadStamp => "read-stamp",
        /// Version of marsadm last used on the host.
        MarsadmVersion => "marsadm-version",
        /// Digest used in logfiles.
        UsedLogDigest => "used-log-digest",
        /// Digest used on the network.
        UsedNetDigest => "used-net-digest",
        /// Compression used in logfiles.
        UsedLogCompression => "used-log-compression",
        /// Compression used on the network.
        UsedNetCompression => "used-net-compression",
    }
    msg:
    /// A message channel `msg-<key>`.
    Msg,
}

/// A key inside `resource-<res>/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKey<'a> {
    /// The resource directory itself.
    Dir,
    /// `size`: logical size in bytes.
    Size,
    /// `primary`: the designated primary or `(none)`.
    Primary,
    /// `maxnr`: highest logfile number ever used.
    MaxNr,
    /// `systemd-want`: host where the unit stack should run.
    SystemdWant,
    /// `systemd-start-unit`.
    SystemdStartUnit,
    /// `systemd-stop-unit`.
    SystemdStopUnit,
    /// `systemd-trigger` (a regular file touched on changes).
    SystemdTrigger,
    /// Another `systemd-*` name (the whole component).
    Systemd(&'a str),
    /// `data-<host>`: the backing device (or image file) of a member.
    Data(HostName<'a>),
    /// `device-<host>`: the device name under /dev/mars; presence = membership.
    Device(HostName<'a>),
    /// `actsize-<host>`: actual size of the host's disk.
    ActSize(HostName<'a>),
    /// `replay-<host>`: replay position.
    Replay(HostName<'a>),
    /// `syncstatus-<host>`: sync progress in bytes.
    SyncStatus(HostName<'a>),
    /// `syncpos-<host>`: the primary's replay link when the sync finished.
    SyncPos(HostName<'a>),
    /// `verifystatus-<host>`: `<ok>,<errors>` of a verify run.
    VerifyStatus(HostName<'a>),
    /// `skip-check-<host>`: a permitted jump in the logfile sequence.
    SkipCheck(HostName<'a>),
    /// `syncfrom-<host>`: the primary the sync must come from.
    SyncFrom(HostName<'a>),
    /// `connect-<host>`: preferred fetch peers (deprecated).
    Connect(HostName<'a>),
    /// `version-NNNNNNNNN-<host>`: the host's version link for one logfile number.
    Version {
        /// The logfile number.
        nr: u32,
        /// The host that wrote the link.
        host: HostName<'a>,
    },
    /// `log-NNNNNNNNN-<origin>`: a transaction logfile.
    Log(LogName<'a>),
    /// `logstatus-<host>.status`: a debug file.
    LogStatus(HostName<'a>),
    /// `todo-<host>` or `todo-<host>/<switch>`.
    Todo {
        /// The host the switches are meant for.
        host: HostName<'a>,
        /// The switch, `None` for the directory.
        switch: Option<Switch<'a>>,
    },
    /// `actual-<host>` or `actual-<host>/<indicator>`.
    Actual {
        /// The reporting host.
        host: HostName<'a>,
        /// The indicator, `None` for the directory.
        indicator: Option<Indicator<'a>>,
    },
    /// `defaults`, `defaults-<host>` or a key inside.
    Defaults {
        /// `Some` for the per-host variant.
        host: Option<HostName<'a>>,
        /// The key inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `local-<host>` or a key inside; never propagated.
    Local {
        /// The owning host.
        host: HostName<'a>,
        /// The key inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `userspace` or a key inside (free keys of marsadm).
    Userspace {
        /// The path inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// Anything else below the resource directory, kept as is (path relative to it).
    Unknown(&'a str),
}

/// Strips a `<prefix><host>` component into the host.
fn host_after<'a>(component: &'a str, prefix: &str) -> Option<Result<HostName<'a>, TreeError>> {
    component
        .strip_prefix(prefix)
        .map(|h| HostName::parse(h).map_err(TreeError::BadName))
}

impl<'a> ResourceKey<'a> {
    /// Parses a path relative to the resource directory (`None` = the directory itself).
    fn parse(rest: Option<&'a str>) -> Result<ResourceKey<'a>, TreeError> {
        let rest = match rest {
            None => return Ok(ResourceKey::Dir),
            Some(r) => r,
        };
        let (first, sub) = match rest.split_once('/') {
            Some((f, s)) => (f, Some(s)),
            None => (rest, None),
        };
        if let Some(host) = host_after(first, "todo-") {
            return match sub {
                None => Ok(ResourceKey::Todo {
                    host: host?,
                    switch: None,
                }),
                Some(s) if !s.contains('/') => Ok(ResourceKey::Todo {
                    host: host?,
                    switch: Some(Switch::parse(s)),
                }),
                Some(_) => host.map(|_| ResourceKey::Unknown(rest)),
            };
        }
        if let Some(host) = host_after(first, "actual-") {
            return match sub {
                None => Ok(ResourceKey::Actual {
                    host: host?,
                    indicator: None,
                }),
                Some(s) if !s.contains('/') => Ok(ResourceKey::Actual {
                    host: host?,
                    indicator: Some(Indicator::parse(s)),
                }),
                Some(_) => host.map(|_| ResourceKey::Unknown(rest)),
            };
        }
        if first == "defaults" {
            return Ok(ResourceKey::Defaults {
                host: None,
                name: sub,
            });
        }
        if let Some(host) = host_after(first, "defaults-") {
            return Ok(ResourceKey::Defaults {
                host: Some(host?),
                name: sub,
            });
        }
        if let Some(host) = host_after(first, "local-") {
            return Ok(ResourceKey::Local {
                host: host?,
                name: sub,
            });
        }
        if first == "userspace" {
            return Ok(ResourceKey::Userspace { name: sub });
        }
        if sub.is_some() {
            return Ok(ResourceKey::Unknown(rest));
        }
        let simple = match first {
            "size" => Some(ResourceKey::Size),
            "primary" => Some(ResourceKey::Primary),
            "maxnr" => Some(ResourceKey::MaxNr),
            "systemd-want" => Some(ResourceKey::SystemdWant),
            "systemd-start-unit" => Some(ResourceKey::SystemdStartUnit),
            "systemd-stop-unit" => Some(ResourceKey::SystemdStopUnit),
            "systemd-trigger" => Some(ResourceKey::SystemdTrigger),
            _ => None,
        };
        if let Some(key) = simple {
            return Ok(key);
        }
        if first.starts_with("systemd-") {
            return Ok(ResourceKey::Systemd(first));
        }
        type MakeKey<'k> = fn(HostName<'k>) -> ResourceKey<'k>;
        let host_keys: [(&str, MakeKey<'a>); 10] = [
            ("data-", ResourceKey::Data),
            ("device-", ResourceKey::Device),
            ("actsize-", ResourceKey::ActSize),
            ("replay-", ResourceKey::Replay),
            ("syncstatus-", ResourceKey::SyncStatus),
            ("syncpos-", ResourceKey::SyncPos),
            ("verifystatus-", ResourceKey::VerifyStatus),
            ("skip-check-", ResourceKey::SkipCheck),
            ("syncfrom-", ResourceKey::SyncFrom),
            ("connect-", ResourceKey::Connect),
        ];
        for (prefix, make) in host_keys {
            if let Some(host) = host_after(first, prefix) {
                return Ok(make(host?));
            }
        }
        if let Some(tail) = first.strip_prefix("version-") {
            let (nr, host) = parse_nr_host(tail).ok_or(TreeError::BadVersionName)?;
            return Ok(ResourceKey::Version { nr, host });
        }
        if first.starts_with("log-") {
            return Ok(ResourceKey::Log(LogName::parse(first)?));
        }
        if let Some(tail) = first.strip_prefix("logstatus-") {
            if let Some(host) = tail.strip_suffix(".status") {
                return Ok(ResourceKey::LogStatus(HostName::parse(host)?));
            }
        }
        Ok(ResourceKey::Unknown(rest))
    }
}

/// Writes `name` or `name/sub`.
fn write_opt(
    f: &mut fmt::Formatter<'_>,
    name: fmt::Arguments<'_>,
    sub: Option<&dyn fmt::Display>,
) -> fmt::Result {
    f.write_fmt(name)?;
    match sub {
        Some(s) => write!(f, "/{s}"),
        None => Ok(()),
    }
}

impl fmt::Display for ResourceKey<'_> {
    /// The path relative to the resource directory (empty for [`ResourceKey::Dir`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceKey::Dir => Ok(()),
            ResourceKey::Size => f.write_str("size"),
            ResourceKey::Primary => f.write_str("primary"),
            ResourceKey::MaxNr => f.write_str("maxnr"),
            ResourceKey::SystemdWant => f.write_str("systemd-want"),
            ResourceKey::SystemdStartUnit => f.write_str("systemd-start-unit"),
            ResourceKey::SystemdStopUnit => f.write_str("systemd-stop-unit"),
            ResourceKey::SystemdTrigger => f.write_str("systemd-trigger"),
            ResourceKey::Systemd(name) => f.write_str(name),
            ResourceKey::Data(h) => write!(f, "data-{h}"),
            ResourceKey::Device(h) => write!(f, "device-{h}"),
            ResourceKey::ActSize(h) => write!(f, "actsize-{h}"),
            ResourceKey::Replay(h) => write!(f, "replay-{h}"),
            ResourceKey::SyncStatus(h) => write!(f, "syncstatus-{h}"),
            ResourceKey::SyncPos(h) => write!(f, "syncpos-{h}"),
            ResourceKey::VerifyStatus(h) => write!(f, "verifystatus-{h}"),
            ResourceKey::SkipCheck(h) => write!(f, "skip-check-{h}"),
            ResourceKey::SyncFrom(h) => write!(f, "syncfrom-{h}"),
            ResourceKey::Connect(h) => write!(f, "connect-{h}"),
            ResourceKey::Version { nr, host } => write!(f, "version-{nr:09}-{host}"),
            ResourceKey::Log(log) => write!(f, "{log}"),
            ResourceKey::LogStatus(h) => write!(f, "logstatus-{h}.status"),
            ResourceKey::Todo { host, switch } => write_opt(
                f,
                format_args!("todo-{host}"),
                switch.as_ref().map(|s| s as &dyn fmt::Display),
            ),
            ResourceKey::Actual { host, indicator } => write_opt(
                f,
                format_args!("actual-{host}"),
                indicator.as_ref().map(|s| s as &dyn fmt::Display),
            ),
            ResourceKey::Defaults { host: None, name } => {
                write_opt(f, format_args!("defaults"), as_disp(name))
            }
            ResourceKey::Defaults {
                host: Some(host),
                name,
            } => write_opt(f, format_args!("defaults-{host}"), as_disp(name)),
            ResourceKey::Local { host, name } => {
                write_opt(f, format_args!("local-{host}"), as_disp(name))
            }
            ResourceKey::Userspace { name } => {
                write_opt(f, format_args!("userspace"), as_disp(name))
            }
            ResourceKey::Unknown(rest) => f.write_str(rest),
        }
    }
}

/// A path below `/mars`, classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// `uuid`: the cluster identity.
    Uuid,
    /// `ips`: the directory of member addresses.
    IpsDir,
    /// `ips/ip-<host>`: the address of a member.
    Ip(HostName<'a>),
    /// `defaults`, `defaults-<host>` or a key inside.
    Defaults {
        /// `Some` for the per-host variant.
        host: Option<HostName<'a>>,
        /// The key inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `todo-global` or a key inside (legacy deletion protocol).
    TodoGlobal {
        /// The key inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `userspace` or a path inside (free keys, `systemd-trigger`).
    Userspace {
        /// The path inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `actual-<host>` or `actual-<host>/<indicator>`.
    Actual {
        /// The reporting host.
        host: HostName<'a>,
        /// The indicator, `None` for the directory.
        indicator: Option<GlobalIndicator<'a>>,
    },
    /// `cache-<host>` or a key inside (marsadm cache invalidation).
    Cache {
        /// The owning host.
        host: HostName<'a>,
        /// The key inside, `None` for the directory.
        name: Option<&'a str>,
    },
    /// `probe-<host>` or a path inside (rebased fetches; skipped by the scanner).
    Probe {
        /// The probed host.
        host: HostName<'a>,
        /// The path inside, `None` for the directory.
        rest: Option<&'a str>,
    },
    /// `resource-<res>` or a key inside.
    Resource {
        /// The resource.
        res: ResourceName<'a>,
        /// The key inside.
        key: ResourceKey<'a>,
    },
    /// A temporary name anywhere: skipped by scanners and by the merge.
    Temporary {
        /// The directory part (empty at the top level).
        dir: &'a str,
        /// The temporary component.
        name: TempName<'a>,
    },
    /// An old-style deletion marker `.deleted-<target>` (compat deletions).
    DeletedMarker {
        /// The directory part (empty at the top level).
        dir: &'a str,
        /// The name whose deletion it records.
        target: &'a str,
    },
    /// Any other path, kept as is.
    Unknown(&'a str),
}

/// Removes a leading `/mars/` (or turns `/mars` into the empty path); other paths are
/// returned unchanged.
pub fn strip_mars_root(path: &str) -> Option<&str> {
    if path == "/mars" {
        return Some("");
    }
    path.strip_prefix("/mars/")
}

impl<'a> Key<'a> {
    /// Parses a path relative to `/mars`, such as `resource-r0/replay-hostA`.
    pub fn parse(path: &'a str) -> Result<Key<'a>, TreeError> {
        if path.is_empty()
            || path.starts_with('/')
            || path.ends_with('/')
            || path.contains("//")
            || path.contains('\0')
        {
            return Err(TreeError::BadPath);
        }
        let (dir, last) = match path.rsplit_once('/') {
            Some((d, l)) => (d, l),
            None => ("", path),
        };
        if let Some(name) = TempName::parse(last) {
            return Ok(Key::Temporary { dir, name });
        }
        if let Some(target) = last.strip_prefix(".deleted-") {
            if !target.is_empty() {
                return Ok(Key::DeletedMarker { dir, target });
            }
        }
        let (first, sub) = match path.split_once('/') {
            Some((f, s)) => (f, Some(s)),
            None => (path, None),
        };
        match first {
            "uuid" if sub.is_none() => return Ok(Key::Uuid),
            "ips" => {
                return Ok(match sub {
                    None => Key::IpsDir,
                    Some(s) => match s.strip_prefix("ip-") {
                        Some(h) if !h.contains('/') => Key::Ip(HostName::parse(h)?),
                        _ => Key::Unknown(path),
                    },
                })
            }
            "defaults" => {
                return Ok(Key::Defaults {
                    host: None,
                    name: sub,
                })
            }
            "todo-global" => return Ok(Key::TodoGlobal { name: sub }),
            "userspace" => return Ok(Key::Userspace { name: sub }),
            _ => {}
        }
        if let Some(host) = host_after(first, "defaults-") {
            return Ok(Key::Defaults {
                host: Some(host?),
                name: sub,
            });
        }
        if let Some(host) = host_after(first, "actual-") {
            let host = host?;
            return Ok(match sub {
                None => Key::Actual {
                    host,
                    indicator: None,
                },
                Some(s) if !s.contains('/') => Key::Actual {
                    host,
                    indicator: Some(GlobalIndicator::parse(s)),
                },
                Some(_) => Key::Unknown(path),
            });
        }
        if let Some(host) = host_after(first, "cache-") {
            return Ok(Key::Cache {
                host: host?,
                name: sub,
            });
        }
        if let Some(host) = host_after(first, "probe-") {
            return Ok(Key::Probe {
                host: host?,
                rest: sub,
            });
        }
        if let Some(res) = first.strip_prefix("resource-") {
            let res = ResourceName::parse(res)?;
            return Ok(Key::Resource {
                res,
                key: ResourceKey::parse(sub)?,
            });
        }
        Ok(Key::Unknown(path))
    }

    /// Whether scanners and the merge skip this entry (temporaries and old markers).
    pub fn is_transient(&self) -> bool {
        matches!(self, Key::Temporary { .. } | Key::DeletedMarker { .. })
    }
}

impl fmt::Display for Key<'_> {
    /// The path relative to `/mars`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Uuid => f.write_str("uuid"),
            Key::IpsDir => f.write_str("ips"),
            Key::Ip(h) => write!(f, "ips/ip-{h}"),
            Key::Defaults { host: None, name } => {
                write_opt(f, format_args!("defaults"), as_disp(name))
            }
            Key::Defaults {
                host: Some(h),
                name,
            } => write_opt(f, format_args!("defaults-{h}"), as_disp(name)),
            Key::TodoGlobal { name } => write_opt(f, format_args!("todo-global"), as_disp(name)),
            Key::Userspace { name } => write_opt(f, format_args!("userspace"), as_disp(name)),
            Key::Actual { host, indicator } => write_opt(
                f,
                format_args!("actual-{host}"),
                indicator.as_ref().map(|i| i as &dyn fmt::Display),
            ),
            Key::Cache { host, name } => write_opt(f, format_args!("cache-{host}"), as_disp(name)),
            Key::Probe { host, rest } => write_opt(f, format_args!("probe-{host}"), as_disp(rest)),
            Key::Resource {
                res,
                key: ResourceKey::Dir,
            } => write!(f, "resource-{res}"),
            Key::Resource { res, key } => write!(f, "resource-{res}/{key}"),
            Key::Temporary { dir: "", name } => write!(f, "{name}"),
            Key::Temporary { dir, name } => write!(f, "{dir}/{name}"),
            Key::DeletedMarker { dir: "", target } => write!(f, ".deleted-{target}"),
            Key::DeletedMarker { dir, target } => write!(f, "{dir}/.deleted-{target}"),
            Key::Unknown(path) => f.write_str(path),
        }
    }
}

fn as_disp<'s>(name: &'s Option<&str>) -> Option<&'s dyn fmt::Display> {
    name.as_ref().map(|s| s as &dyn fmt::Display)
}

/// Whether the merge may create a directory seen in a peer's tree (`_is_usable_dir`), judged
/// by its last path component: `resource-*`, `todo-*`, `actual-*` and `defaults*`. Other
/// directories (`ips`, `userspace`, `local-*`, `probe-*`, `cache-*`, unknown names) are never
/// created from a remote listing; below the top level, writing a link recreates its missing
/// parent directory anyway (`ordered_symlink`), so this matters mostly at the top level.
pub fn may_create_remote_dir(name: &str) -> bool {
    name.starts_with("resource-")
        || name.starts_with("todo-")
        || name.starts_with("actual-")
        || name.starts_with("defaults")
}
