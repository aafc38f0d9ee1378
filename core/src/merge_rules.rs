// SPDX-License-Identifier: GPL-2.0
//! Who may change which key: the rules a received entry passes before the Lamport rule of
//! [`super::merge`] is asked at all.
//!
//! A peer's listing is untrusted input. The Lamport rule alone lets any member overwrite any
//! key with a newer stamp, including this host's own keys (`data-<me>`, which the kernel then
//! opens as a block device) and keys in places the layout never has (a symlink where a
//! directory belongs, through which a later entry would be written outside `/mars`). The
//! rules here, all pure, decide per entry (see `Documentation/tree.rst`, "Who may change a
//! key"):
//!
//! 1. **Shape.** The path parses as a [`Key`], is no temporary, marker or local-only name,
//!    has no `.`/`..` or hidden component and no control character; a symlink's value parses
//!    for its key ([`Value::parse`]), has no control character and no `..` component, is
//!    beneath `/mars/` or `/dev/` if absolute ([`value_stays_in_tree`], also for keys whose
//!    value is free), and `data-<host>` names an absolute path without `..`. A symlink never lands on a directory key, a directory never
//!    on a link key; a local directory or other object is never replaced by a link, a local
//!    regular file only by a newer tombstone of a logfile.
//! 2. **Ownership.** A key named after a host Q (`data-Q`, `replay-Q`, `version-N-Q`,
//!    `todo-Q/`, `actual-Q/`, `defaults-Q/`, `ips/ip-Q`, ...) is changed only by Q: this host
//!    never takes its own keys from a peer, and takes Q's keys only from Q itself (every
//!    member pulls from every other one, so nothing is lost). Exceptions: an `ips/ip-Q` this
//!    host does not know yet (or knows deleted) may come from any member (how members learn of
//!    a joining host), and tombstones of logfiles and version links may come from any member
//!    (`log-delete` and `cron` run on any host).
//! 3. **Cluster-wide keys** (`primary`, `size`, `maxnr`, `systemd-*`, `defaults/`,
//!    `todo-global/`, `userspace/`, unknown names of a newer version) follow the Lamport rule
//!    from any member; `uuid` only while this host's is missing or `(any)`. The
//!    `systemd-trigger` files are each host's own (its kernel touches them): never merged.
//!
//! A decision is [`Decision::Take`] with what to do, [`Decision::Keep`] (nothing to do, not
//! suspicious) or [`Decision::Refuse`] with the reason (bad or unauthorised input: counted and
//! logged by the caller).

use core::fmt;

use super::lamport::Stamp;
use super::merge::{merge, KeepReason, MergeDecision, Stamped};
use super::names::{is_skipped_by_scan, HostName};
use super::systemd_trigger::is_trigger_file;
use super::tree::{is_skipped_name, may_create_remote_dir, Key, ResourceKey, TreeError};
use super::tree_value::{is_tombstone, parse_device_path, Value, ANY_UUID};

/// The kind of a received entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A symlink: a key with a value.
    Symlink,
    /// A directory.
    Dir,
    /// A regular file (a logfile; fetched over the log port, never merged here).
    File,
}

/// One entry of a peer's listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// What it is.
    pub kind: EntryKind,
    /// Its path relative to `/mars`.
    pub path: &'a str,
    /// The symlink's value (empty for others).
    pub value: &'a str,
    /// Its stamp (the mtime).
    pub stamp: Stamp,
}

/// What this host has at the received entry's path (not following a final symlink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local<'a> {
    /// Nothing.
    Missing,
    /// A symlink with its value and stamp.
    Link(Stamped<'a>),
    /// A directory.
    Dir,
    /// A regular file with its mtime.
    File(Stamp),
    /// Anything else (device, fifo, socket), or a link whose value is no text.
    Other,
}

/// Who is asking, and the clock's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeContext<'a> {
    /// This host.
    pub me: HostName<'a>,
    /// The peer the entry came from (the host the connection was authenticated as).
    pub peer: HostName<'a>,
    /// Stamps after this are bogus ([`super::merge::bogus_after`]).
    pub bogus_after: Stamp,
}

/// What to do with a taken entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the directory (its missing parents as the layout allows).
    MakeDir,
    /// Create the link (its missing parent directories first).
    CreateLink,
    /// Replace the local link with the remote value and stamp.
    ReplaceLink,
    /// Replace the local link with the remote tombstone and stamp.
    DeleteLink,
    /// Unlink the local logfile, then write the remote tombstone with its stamp.
    DeleteFile,
}

/// Why an entry changes nothing, without anything wrong about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The Lamport rule keeps the local entry.
    Older(KeepReason),
    /// The directory exists.
    DirExists,
    /// A regular file: logfiles travel over the log port.
    File,
    /// A key of another host, relayed by a third one: it is taken from its owner directly.
    Relayed,
    /// The `uuid` is fixed once this host belongs to a cluster.
    UuidFixed,
    /// A directory not made from a peer's listing (made locally, or unknown to this version).
    NotMade,
    /// A `systemd-trigger` file: every host's kernel touches its own, nothing of a peer's
    /// (not even the tombstone `delete-resource` leaves) replaces it.
    Trigger,
}

/// Why an entry is refused: it is malformed, or the peer may not change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The path is no key of the layout.
    BadPath(TreeError),
    /// A temporary, marker, hidden or local-only name: never merged.
    NotMergeable,
    /// A path or value with a control character.
    ControlCharacter,
    /// The value does not have the form its key requires.
    BadValue(TreeError),
    /// A symlink where the layout has a directory.
    LinkAtDirKey,
    /// A directory where the layout has a link, or one a peer may not create.
    DirNotAllowed,
    /// A link value on a logfile key (only tombstones are links there).
    LogNotTombstone,
    /// The local object is a directory or another non-link: never replaced by a link.
    LocalNotLink,
    /// The local object is no directory where a directory was sent.
    LocalNotDir,
    /// One of this host's own keys: only this host changes it.
    OwnKey,
    /// A directory on the way is no directory of the layout.
    ParentNotDir,
    /// A value that, as a symlink target, points outside `/mars` and `/dev`: absolute
    /// elsewhere, or with a `..` component.
    ValueLeavesMars,
}

impl Refusal {
    /// A one-line explanation.
    pub const fn message(self) -> &'static str {
        match self {
            Refusal::BadPath(_) => "path is no key of the /mars layout",
            Refusal::NotMergeable => "temporary, hidden or local-only name",
            Refusal::ControlCharacter => "control character in path or value",
            Refusal::BadValue(_) => "value does not have the form its key requires",
            Refusal::LinkAtDirKey => "symlink where the layout has a directory",
            Refusal::DirNotAllowed => "directory where the layout has none a peer may create",
            Refusal::LogNotTombstone => "symlink on a logfile key that is no tombstone",
            Refusal::LocalNotLink => "local object is no symlink and stays",
            Refusal::LocalNotDir => "local object is no directory",
            Refusal::OwnKey => "a key of this host: only this host changes it",
            Refusal::ParentNotDir => "a directory on the way is no directory of the layout",
            Refusal::ValueLeavesMars => "value points outside /mars and /dev",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The decision on one received entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Change the local tree.
    Take(Action),
    /// Change nothing; nothing wrong.
    Keep(Keep),
    /// Change nothing; the entry is malformed or not the peer's to change.
    Refuse(Refusal),
}

/// Who may change a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner<'a> {
    /// Only this host.
    Host(HostName<'a>),
    /// Only this host; tombstones from any member (housekeeping of `log-delete` and `cron`).
    HostTombstonesAny(HostName<'a>),
    /// `ips/ip-<host>`: the host; while unknown here, any member.
    Address(HostName<'a>),
    /// Any member, under the Lamport rule.
    Cluster,
    /// The cluster uuid.
    Uuid,
    /// Logfiles: only tombstones, from any member.
    Logfile,
    /// Never merged.
    Nobody,
}

/// Whether the layout has a directory at `key` (as opposed to a link).
pub fn is_dir_key(key: &Key<'_>) -> bool {
    match key {
        Key::IpsDir
        | Key::Defaults { name: None, .. }
        | Key::TodoGlobal { name: None }
        | Key::Userspace { name: None }
        | Key::Actual {
            indicator: None, ..
        }
        | Key::Cache { name: None, .. }
        | Key::Probe { rest: None, .. } => true,
        Key::Resource { key, .. } => matches!(
            key,
            ResourceKey::Dir
                | ResourceKey::Todo { switch: None, .. }
                | ResourceKey::Actual {
                    indicator: None,
                    ..
                }
                | ResourceKey::Defaults { name: None, .. }
                | ResourceKey::Local { name: None, .. }
                | ResourceKey::Userspace { name: None }
        ),
        _ => false,
    }
}

fn owner<'a>(key: &Key<'a>) -> Owner<'a> {
    match *key {
        Key::Uuid => Owner::Uuid,
        Key::IpsDir => Owner::Cluster,
        Key::Ip(host) => Owner::Address(host),
        Key::Defaults { host: None, .. }
        | Key::TodoGlobal { .. }
        | Key::Userspace { .. }
        | Key::Unknown(_) => Owner::Cluster,
        Key::Defaults {
            host: Some(host), ..
        }
        | Key::Actual { host, .. } => Owner::Host(host),
        Key::Cache { .. } | Key::Probe { .. } | Key::Temporary { .. } => Owner::Nobody,
        Key::DeletedMarker { .. } => Owner::Nobody,
        Key::Resource { key, .. } => match key {
            ResourceKey::Dir
            | ResourceKey::Size
            | ResourceKey::Primary
            | ResourceKey::MaxNr
            | ResourceKey::SystemdWant
            | ResourceKey::SystemdStartUnit
            | ResourceKey::SystemdStopUnit
            | ResourceKey::SystemdTrigger
            | ResourceKey::Systemd(_)
            | ResourceKey::Defaults { host: None, .. }
            | ResourceKey::Userspace { .. }
            | ResourceKey::Unknown(_) => Owner::Cluster,
            ResourceKey::Data(host)
            | ResourceKey::Device(host)
            | ResourceKey::ActSize(host)
            | ResourceKey::Replay(host)
            | ResourceKey::SyncStatus(host)
            | ResourceKey::SyncPos(host)
            | ResourceKey::VerifyStatus(host)
            | ResourceKey::SkipCheck(host)
            | ResourceKey::SyncFrom(host)
            | ResourceKey::Connect(host)
            | ResourceKey::LogStatus(host)
            | ResourceKey::Todo { host, .. }
            | ResourceKey::Actual { host, .. }
            | ResourceKey::Defaults {
                host: Some(host), ..
            } => Owner::Host(host),
            ResourceKey::Version { host, .. } => Owner::HostTombstonesAny(host),
            ResourceKey::Log(_) => Owner::Logfile,
            ResourceKey::Local { .. } => Owner::Nobody,
        },
    }
}

/// Whether `text` has an ASCII control character (the wire refuses them too; checked again so
/// that the rule holds for any caller).
fn has_control(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Checks the shape of a received path: a key, no temporary, hidden, local-only or `.`/`..`
/// component.
fn parse_path(path: &str) -> Result<Key<'_>, Refusal> {
    if has_control(path) {
        return Err(Refusal::ControlCharacter);
    }
    let key = Key::parse(path).map_err(Refusal::BadPath)?;
    if key.is_transient()
        || path
            .split('/')
            .any(|c| c == "." || c == ".." || is_skipped_by_scan(c.as_bytes()))
        || path.rsplit('/').next().is_some_and(is_skipped_name)
    {
        return Err(Refusal::NotMergeable);
    }
    // Every directory on the way is a directory of the layout, never a link key: so no link
    // a merge writes can ever stand where a later path expects a directory.
    let mut end = 0usize;
    while let Some(slash) = path.get(end..).and_then(|rest| rest.find('/')) {
        let dir_end = end.saturating_add(slash);
        let dir = path.get(..dir_end).ok_or(Refusal::ParentNotDir)?;
        if !Key::parse(dir).is_ok_and(|parent| is_dir_key(&parent)) {
            return Err(Refusal::ParentNotDir);
        }
        end = dir_end.saturating_add(1);
    }
    Ok(key)
}

/// Whether a merge may create the missing directory `dir` (relative to `/mars`) on the way to
/// a taken entry: a directory of the layout; at the top level only the kinds a peer may cause
/// ([`may_create_remote_dir`]: `resource-*`, `todo-*`, `actual-*`, `defaults*`).
pub fn may_create_parent(dir: &str) -> bool {
    let Ok(key) = Key::parse(dir) else {
        return false;
    };
    is_dir_key(&key) && (dir.contains('/') || may_create_remote_dir(dir))
}

/// Whether `value`, read as the target of a symlink in `/mars`, stays within `/mars` and
/// `/dev`: no `..` component, and if absolute, beneath `/mars/` or `/dev/`. Every key's value
/// must (free ones too: `userspace/`, names of a newer version), so that nothing merged from
/// a peer leads a tool that follows links out of the tree.
pub fn value_stays_in_tree(value: &str) -> bool {
    if value.split('/').any(|component| component == "..") {
        return false;
    }
    !value.starts_with('/') || value.starts_with("/mars/") || value.starts_with("/dev/")
}

/// Checks a symlink value for its key.
fn check_value(key: &Key<'_>, value: &str) -> Result<(), Refusal> {
    if has_control(value) {
        return Err(Refusal::ControlCharacter);
    }
    Value::parse(key, value).map_err(Refusal::BadValue)?;
    if let Key::Resource {
        key: ResourceKey::Data(_),
        ..
    } = key
    {
        if !is_tombstone(value) {
            parse_device_path(value).map_err(Refusal::BadValue)?;
        }
    }
    Ok(())
}

/// The decision on one received entry; see the module documentation.
pub fn decide(ctx: &MergeContext<'_>, entry: &Received<'_>, local: Local<'_>) -> Decision {
    match decide_inner(ctx, entry, local) {
        Ok(decision) => decision,
        Err(refusal) => Decision::Refuse(refusal),
    }
}

fn decide_inner(
    ctx: &MergeContext<'_>,
    entry: &Received<'_>,
    local: Local<'_>,
) -> Result<Decision, Refusal> {
    let key = parse_path(entry.path)?;
    let owner = owner(&key);
    if owner == Owner::Nobody {
        return Err(Refusal::NotMergeable);
    }
    if is_trigger_file(&key) {
        return Ok(Decision::Keep(Keep::Trigger));
    }
    match entry.kind {
        EntryKind::File => Ok(Decision::Keep(Keep::File)),
        EntryKind::Dir => decide_dir(ctx, &key, entry.path, owner, local),
        EntryKind::Symlink => decide_link(ctx, &key, entry, owner, local),
    }
}

fn decide_dir(
    ctx: &MergeContext<'_>,
    key: &Key<'_>,
    path: &str,
    owner: Owner<'_>,
    local: Local<'_>,
) -> Result<Decision, Refusal> {
    if local == Local::Dir {
        return Ok(Decision::Keep(Keep::DirExists));
    }
    if !is_dir_key(key) {
        // A directory this version does not know (`lost+found`, a newer version's): not
        // made here, nothing wrong. One at a known link key is malformed.
        return if is_free_name(key) {
            Ok(Decision::Keep(Keep::NotMade))
        } else {
            Err(Refusal::DirNotAllowed)
        };
    }
    if local != Local::Missing {
        return Err(Refusal::LocalNotDir);
    }
    if !may_create_parent(path) {
        // `ips`, `userspace`, `todo-global`: made locally when the host joins.
        return Ok(Decision::Keep(Keep::NotMade));
    }
    // A directory holds no value: another host's copy of this host's directories, or a
    // third host's of the peer's, is no attack; they are made locally or by their owner.
    match owner {
        Owner::Host(host) if host != ctx.peer || host == ctx.me => {
            Ok(Decision::Keep(Keep::Relayed))
        }
        _ => Ok(Decision::Take(Action::MakeDir)),
    }
}

/// Whether `key` is a name this version does not interpret (unknown, or inside a free area
/// such as `userspace/`): a directory there is not made, but is no error either.
fn is_free_name(key: &Key<'_>) -> bool {
    matches!(
        key,
        Key::Unknown(_)
            | Key::Userspace { .. }
            | Key::Defaults { .. }
            | Key::TodoGlobal { .. }
            | Key::Resource {
                key: ResourceKey::Unknown(_)
                    | ResourceKey::Userspace { .. }
                    | ResourceKey::Defaults { .. },
                ..
            }
    )
}

fn decide_link(
    ctx: &MergeContext<'_>,
    key: &Key<'_>,
    entry: &Received<'_>,
    owner: Owner<'_>,
    local: Local<'_>,
) -> Result<Decision, Refusal> {
    if is_dir_key(key) {
        return Err(Refusal::LinkAtDirKey);
    }
    check_value(key, entry.value)?;
    let tombstone = is_tombstone(entry.value);
    if owner == Owner::Logfile && !tombstone {
        return Err(Refusal::LogNotTombstone);
    }
    if !value_stays_in_tree(entry.value) {
        return Err(Refusal::ValueLeavesMars);
    }
    let local_link = match local {
        Local::Missing => None,
        Local::Link(link) => Some(link),
        // A local logfile only yields to a newer tombstone.
        Local::File(stamp) if owner == Owner::Logfile => Some(Stamped {
            value: "(file)",
            stamp,
        }),
        Local::File(_) | Local::Dir | Local::Other => return Err(Refusal::LocalNotLink),
    };
    let remote = Stamped {
        value: entry.value,
        stamp: entry.stamp,
    };
    let lamport = merge(local_link, remote, ctx.bogus_after);
    let action = match lamport {
        MergeDecision::Keep(reason) => return Ok(Decision::Keep(Keep::Older(reason))),
        MergeDecision::Create => Action::CreateLink,
        MergeDecision::Replace if matches!(local, Local::File(_)) => {
            return Ok(Decision::Keep(Keep::Older(KeepReason::LocalNewer)))
        }
        MergeDecision::Replace => Action::ReplaceLink,
        MergeDecision::Delete if matches!(local, Local::File(_)) => Action::DeleteFile,
        MergeDecision::Delete => Action::DeleteLink,
    };
    // The Lamport rule would write: may this peer?
    let known = matches!(local_link, Some(link) if !is_tombstone(link.value));
    match owner {
        Owner::Cluster | Owner::Logfile => Ok(Decision::Take(action)),
        Owner::Uuid => match local_link {
            None => Ok(Decision::Take(action)),
            Some(link) if link.value == ANY_UUID => Ok(Decision::Take(action)),
            Some(_) => Ok(Decision::Keep(Keep::UuidFixed)),
        },
        Owner::Host(host) | Owner::HostTombstonesAny(host) | Owner::Address(host)
            if host == ctx.me =>
        {
            if matches!(owner, Owner::HostTombstonesAny(_)) && tombstone {
                Ok(Decision::Take(action))
            } else {
                Err(Refusal::OwnKey)
            }
        }
        Owner::Host(host) | Owner::HostTombstonesAny(host) | Owner::Address(host)
            if host == ctx.peer =>
        {
            Ok(Decision::Take(action))
        }
        Owner::HostTombstonesAny(_) if tombstone => Ok(Decision::Take(action)),
        Owner::Address(_) if !known && !tombstone => Ok(Decision::Take(action)),
        Owner::Host(_) | Owner::HostTombstonesAny(_) | Owner::Address(_) => {
            Ok(Decision::Keep(Keep::Relayed))
        }
        Owner::Nobody => Err(Refusal::NotMergeable),
    }
}
