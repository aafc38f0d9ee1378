// SPDX-License-Identifier: GPL-2.0
//! The link-writing layer: how marsadm reads and changes the /mars tree.
//!
//! Reading: a link is its value and its mtime, the Lamport stamp of the value. A tombstone
//! (`.deleted`) reads as a deleted key.
//!
//! Writing goes through a [`Batch`], as the original's `set_link` / `finish_links`: a command
//! first checks everything and collects every directory, logfile and link it will create, then
//! [`Batch::commit`] applies them:
//!
//! 1. missing directories are made, empty logfiles created;
//! 2. every link is written as `.tmp.<pid>.<name>` in its target directory (invisible to the
//!    kernel's scanner and to the merge) and stamped with its Lamport time: one reading of
//!    `/proc/sys/mars/lamport_clock` (`lamport_now`), plus one nanosecond per link, so the
//!    links of one command carry strictly increasing stamps in the order they were set;
//! 3. the temporaries are renamed over their targets, in that order;
//! 4. one write to `/proc/sys/mars/trigger` asks the kernel for a round.
//!
//! If any step fails, everything done so far is undone (replaced links get their old value and
//! stamp back, replaced logfiles are restored from a hard link kept until the end), so a
//! failing command leaves the tree as it found it.
//!
//! Without `/proc/sys/mars` (module not loaded) the real time serves as Lamport time and the
//! trigger is skipped. The original's `mars_time` falls back the same way, silently; we say so.

use crate::fail::Fail;
use mars_core::lamport::{Stamp, DEFAULT_MAX_FUTURE_SEC};
use mars_core::tree_value::{is_tombstone, DELETED};
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The feature level of marsadm that the kernel reads from `actual-<host>/marsadm-version`:
/// the original marsadm's `$marsadm_version`, whose tree protocol we speak.
pub(crate) const MARSADM_FEATURE_VERSION: &str = "2.9";

/// Trigger bits of `/proc/sys/mars/trigger` (Documentation/knobs.rst).
pub(crate) mod trigger {
    /// A local round.
    pub(crate) const LOCAL: u32 = 1;
    /// Also pull from peers now.
    pub(crate) const FROM_REMOTE: u32 = 2;
    /// Also tell the peers of our resources.
    pub(crate) const TO_REMOTE: u32 = 4;
    /// Also tell every peer.
    pub(crate) const TO_REMOTE_ALL: u32 = 8;
}

/// Where the tree and the module's /proc directory are.
pub(crate) struct Tree {
    /// The tree root, `/mars`.
    pub(crate) root: PathBuf,
    /// `/proc/sys/mars`.
    pub(crate) proc_dir: PathBuf,
    /// `MARS_ROOT` points somewhere else than `/mars` (tests): the checks that only make sense
    /// for the real `/mars` (mount point, owner, root user, block devices only) are skipped.
    pub(crate) testing: bool,
}

/// A symlink as read: its value (possibly the tombstone) and its stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) value: String,
    pub(crate) stamp: Stamp,
}

/// What is at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Missing,
    Link(Link),
    File { len: u64, stamp: Stamp },
    Dir,
    Other,
}

/// How the Lamport time of a command was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockSource {
    /// `lamport_now` of the loaded module.
    Kernel,
    /// The module is not loaded: the real time.
    RealTime,
}

fn stamp_of(meta: &fs::Metadata) -> Stamp {
    // mtime_nsec is in 0..1e9 on every filesystem Linux offers.
    Stamp::new(meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0))
}

/// The real time as a stamp.
pub(crate) fn real_time() -> Stamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Stamp::new(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Stamp::ZERO,
    }
}

impl Tree {
    /// `/mars` and `/proc/sys/mars`, or `MARS_ROOT` and `MARS_PROC` (for tests).
    pub(crate) fn from_env() -> Tree {
        let root = std::env::var_os("MARS_ROOT").map(PathBuf::from);
        let proc_dir = std::env::var_os("MARS_PROC")
            .map_or_else(|| PathBuf::from("/proc/sys/mars"), PathBuf::from);
        let testing = root.as_deref().is_some_and(|r| r != Path::new("/mars"));
        Tree {
            root: root.unwrap_or_else(|| PathBuf::from("/mars")),
            proc_dir,
            testing,
        }
    }

    /// The absolute path of `rel` (relative to the root; `""` is the root).
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// What is at `rel`, without following a symlink.
    pub(crate) fn entry(&self, rel: &str) -> Entry {
        let path = self.path(rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(_) => return Entry::Missing,
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            match fs::read_link(&path) {
                Ok(target) => Entry::Link(Link {
                    value: escape_controls(&String::from_utf8_lossy(target.as_os_str().as_bytes())),
                    stamp: stamp_of(&meta),
                }),
                Err(_) => Entry::Missing,
            }
        } else if kind.is_file() {
            Entry::File {
                len: meta.len(),
                stamp: stamp_of(&meta),
            }
        } else if kind.is_dir() {
            Entry::Dir
        } else {
            Entry::Other
        }
    }

    /// The symlink at `rel` (tombstones included), if there is one.
    pub(crate) fn link(&self, rel: &str) -> Option<Link> {
        match self.entry(rel) {
            Entry::Link(link) => Some(link),
            _ => None,
        }
    }

    /// The value of the link at `rel` as readers see it: `None` when missing or deleted.
    pub(crate) fn value(&self, rel: &str) -> Option<String> {
        self.link(rel).map(|l| l.value).filter(|v| !is_tombstone(v))
    }

    /// Whether something not deleted is at `rel` (`link_exists || file_exists || -d`).
    pub(crate) fn exists(&self, rel: &str) -> bool {
        match self.entry(rel) {
            Entry::Missing => false,
            Entry::Link(link) => !is_tombstone(&link.value),
            _ => true,
        }
    }

    /// Whether `rel` is a directory.
    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        self.entry(rel) == Entry::Dir
    }

    /// The names in directory `rel`, sorted; temporaries (`.tmp*`) left out.
    pub(crate) fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(self.path(rel)) {
            Ok(dir) => dir
                .filter_map(|e| e.ok())
                .map(|e| String::from_utf8_lossy(e.file_name().as_bytes()).into_owned())
                .filter(|n| !n.starts_with(".tmp"))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Whether the module is loaded (`-d /proc/sys/mars`, the original's `is_module_loaded`).
    pub(crate) fn module_loaded(&self) -> bool {
        self.proc_dir.is_dir()
    }

    /// The current Lamport time and where it came from.
    pub(crate) fn lamport_now(&self) -> Result<(Stamp, ClockSource), Fail> {
        if !self.module_loaded() {
            return Ok((real_time(), ClockSource::RealTime));
        }
        let path = self.proc_dir.join("lamport_clock");
        let text = fs::read_to_string(&path).map_err(|e| {
            Fail::refused(format!(
                "cannot read the Lamport clock '{}': {e}",
                path.display()
            ))
        })?;
        text.lines()
            .find_map(|line| line.strip_prefix("lamport_now="))
            .and_then(|v| Stamp::parse(v.trim()).ok())
            .map(|s| (s, ClockSource::Kernel))
            .ok_or_else(|| {
                Fail::refused(format!(
                    "'{}' has no valid lamport_now line",
                    path.display()
                ))
            })
    }

    /// Creates the regular file `rel` if it is missing and sets its times to now: the trigger
    /// files that systemd path units watch (`resource-<res>/systemd-trigger`).
    pub(crate) fn touch(&self, rel: &str) -> Result<(), String> {
        let path = self.path(rel);
        let fail = |e: io::Error| format!("cannot touch '{}': {e}", path.display());
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(fail)?;
        // SAFETY: the descriptor belongs to `file`, which lives across the call; a null
        // `times` means "now" for both times.
        let rc = unsafe {
            libc::futimens(
                std::os::unix::io::AsRawFd::as_raw_fd(&file),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(fail(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Asks the kernel for a round (`_trigger`); a missing module is not an error.
    pub(crate) fn trigger(&self, code: u32) -> Result<(), String> {
        if !self.module_loaded() {
            return Ok(());
        }
        let path = self.proc_dir.join("trigger");
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut f| f.write_all(code.to_string().as_bytes()))
            .map_err(|e| format!("cannot write '{code}' to '{}': {e}", path.display()))
    }
}

/// One planned link.
#[derive(Clone, Debug)]
struct PlannedLink {
    rel: String,
    value: String,
    /// A stamp chosen by the command (`secondary`), else the batch's next Lamport stamp.
    stamp: Option<Stamp>,
}

/// Everything one command will write, applied all at once by [`Batch::commit`].
#[derive(Debug, Default)]
pub(crate) struct Batch {
    dirs: Vec<String>,
    files: Vec<String>,
    links: Vec<PlannedLink>,
    extra_trigger: u32,
}

/// The options that change how a batch is applied.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CommitOptions {
    pub(crate) dry_run: bool,
    pub(crate) verbose: bool,
}

/// What to undo if a later step fails.
enum Undo {
    Dir(PathBuf),
    File(PathBuf),
    Temp(PathBuf),
    /// The target did not exist before the rename.
    NewLink(PathBuf),
    /// The target was a link with this value and stamp.
    OldLink(PathBuf, Link),
    /// The target was a regular file, kept as a hard link at the second path.
    OldFile(PathBuf, PathBuf),
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch::default()
    }

    /// Creates directory `rel` if it is missing (its parent must exist or be made before).
    pub(crate) fn mkdir(&mut self, rel: &str) {
        if !self.dirs.iter().any(|d| d == rel) {
            self.dirs.push(rel.to_string());
        }
    }

    /// Creates the empty regular file `rel` (a new logfile). The caller has checked that
    /// nothing but a tombstone is there.
    pub(crate) fn create_file(&mut self, rel: &str) {
        if !self.files.iter().any(|f| f == rel) {
            self.files.push(rel.to_string());
        }
    }

    /// Sets link `rel` to `value`. Setting a link again replaces the earlier value and moves
    /// it to the end, as the original's `set_link` does.
    pub(crate) fn set_link(&mut self, rel: &str, value: &str) {
        self.push(rel, value, None);
    }

    /// Sets link `rel` to `value` with a stamp the command chose.
    pub(crate) fn set_link_stamped(&mut self, rel: &str, value: &str, stamp: Stamp) {
        self.push(rel, value, Some(stamp));
    }

    /// Deletes `rel`: writes the tombstone (`_create_delete`).
    pub(crate) fn delete(&mut self, rel: &str) {
        self.push(rel, DELETED, None);
    }

    /// Asks for more trigger bits than the links themselves call for.
    pub(crate) fn add_trigger(&mut self, bits: u32) {
        self.extra_trigger |= bits;
    }

    fn push(&mut self, rel: &str, value: &str, stamp: Option<Stamp>) {
        self.links.retain(|l| l.rel != rel);
        self.links.push(PlannedLink {
            rel: rel.to_string(),
            value: value.to_string(),
            stamp,
        });
    }

    /// Whether the batch changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.files.is_empty() && self.links.is_empty()
    }

    /// The trigger code for these links: the original's `finish_links` triggers "2" (local
    /// round and tell the peers) when `primary`, `todo-global` or an `ips` link changes, "1"
    /// otherwise; in the bit mask of our trigger knob that is 5 or 1.
    fn trigger_code(&self) -> u32 {
        let tell_peers = self.links.iter().any(|l| {
            let path = format!("/{}", l.rel);
            path.contains("/primary") || path.contains("/todo-global") || path.contains("/ip")
        });
        let code = if tell_peers {
            trigger::LOCAL | trigger::TO_REMOTE
        } else {
            trigger::LOCAL
        };
        code | self.extra_trigger
    }

    /// Applies the batch (see the module documentation). On failure nothing is left changed.
    pub(crate) fn commit(self, tree: &Tree, options: CommitOptions) -> Result<(), Fail> {
        if self.is_empty() {
            return Ok(());
        }
        if options.dry_run {
            for dir in &self.dirs {
                if !tree.is_dir(dir) {
                    println!(
                        "DRY_RUN: would create directory '{}'",
                        tree.path(dir).display()
                    );
                }
            }
            for file in &self.files {
                println!(
                    "DRY_RUN: would create empty file '{}'",
                    tree.path(file).display()
                );
            }
            for link in &self.links {
                println!(
                    "DRY_RUN: would create symlink '{}' -> '{}'",
                    tree.path(&link.rel).display(),
                    link.value
                );
            }
            println!("DRY_RUN: would execute trigger '{}'", self.trigger_code());
            return Ok(());
        }
        let (now, source) = tree.lamport_now()?;
        if source == ClockSource::RealTime {
            eprintln!(
                "marsadm: the mars module is not loaded ({} is missing): using the real time as Lamport time",
                tree.proc_dir.display()
            );
        }
        // A new value must be newer than the one it replaces, also when the real time stands
        // in for the Lamport clock (the kernel's clock is never behind a stamp it has seen).
        let limit = now.add_sec(DEFAULT_MAX_FUTURE_SEC);
        let base = self
            .links
            .iter()
            .filter(|l| l.stamp.is_none())
            .filter_map(|l| tree.link(&l.rel))
            .map(|old| old.stamp)
            .filter(|s| *s >= now && *s <= limit)
            .map(|s| s.add_nsec(1))
            .fold(now, Stamp::max);
        if options.verbose {
            println!("using lamport timestamp {base}");
        }
        let trigger = self.trigger_code();
        let mut undo = Vec::new();
        match self.apply(tree, base, &mut undo) {
            Ok(links) => {
                finish(undo);
                for (rel, value, _) in &links {
                    if options.verbose {
                        println!(
                            "created symlink '{}' -> '{}'",
                            tree.path(rel).display(),
                            value
                        );
                    }
                }
                if let Err(e) = tree.trigger(trigger) {
                    eprintln!("WARNING: {e}");
                }
                Ok(())
            }
            Err(fail) => {
                let problems = roll_back(undo);
                Err(problems
                    .into_iter()
                    .fold(fail, |f, p| f.line(format!("rollback: {p}"))))
            }
        }
    }

    fn apply(
        &self,
        tree: &Tree,
        base: Stamp,
        undo: &mut Vec<Undo>,
    ) -> Result<Vec<(String, String, Stamp)>, Fail> {
        let pid = std::process::id();
        for dir in &self.dirs {
            let path = tree.path(dir);
            if tree.is_dir(dir) {
                continue;
            }
            fs::create_dir(&path).map_err(|e| io_fail("cannot create directory", &path, e))?;
            undo.push(Undo::Dir(path));
        }
        for file in &self.files {
            let path = tree.path(file);
            let old = tree.link(file);
            if old.is_none() {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(|e| io_fail("cannot create logfile", &path, e))?;
                undo.push(Undo::File(path));
            } else {
                // A tombstone is in the way (`safe_creat`): replace it atomically.
                let temp = temp_path(&path, pid);
                let _ = fs::remove_file(&temp);
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&temp)
                    .map_err(|e| io_fail("cannot create logfile", &temp, e))?;
                undo.push(Undo::Temp(temp.clone()));
                fs::rename(&temp, &path).map_err(|e| io_fail("cannot create logfile", &path, e))?;
                undo.pop();
                if let Some(old) = old {
                    undo.push(Undo::OldLink(path, old));
                }
            }
        }
        // All temporaries first, so a failure leaves no visible change behind.
        let mut next = base;
        let mut written = Vec::new();
        for link in &self.links {
            let path = tree.path(&link.rel);
            let temp = temp_path(&path, pid);
            let stamp = match link.stamp {
                Some(s) => s,
                None => {
                    let s = next;
                    next = next.add_nsec(1);
                    s
                }
            };
            let _ = fs::remove_file(&temp);
            std::os::unix::fs::symlink(&link.value, &temp).map_err(|e| {
                io_fail(
                    &format!("cannot create symlink -> '{}'", link.value),
                    &temp,
                    e,
                )
            })?;
            undo.push(Undo::Temp(temp.clone()));
            set_link_stamp(&temp, stamp)
                .map_err(|e| io_fail("cannot set the mtime of symlink", &temp, e))?;
            written.push((link.rel.clone(), link.value.clone(), stamp, temp));
        }
        let mut result = Vec::new();
        for (rel, value, stamp, temp) in written {
            let path = tree.path(&rel);
            let previous = match tree.entry(&rel) {
                Entry::Missing => Undo::NewLink(path.clone()),
                Entry::Link(old) => Undo::OldLink(path.clone(), old),
                Entry::File { .. } => {
                    let keep = keep_path(&path, pid);
                    let _ = fs::remove_file(&keep);
                    fs::hard_link(&path, &keep)
                        .map_err(|e| io_fail("cannot keep a copy of", &path, e))?;
                    Undo::OldFile(path.clone(), keep)
                }
                // The original allows replacing a directory by a symlink (`rmdir`); we refuse
                // rather than lose what might be inside.
                Entry::Dir | Entry::Other => {
                    return Err(Fail::refused(format!(
                        "cannot replace '{}' by a symlink: not a link",
                        path.display()
                    )))
                }
            };
            fs::rename(&temp, &path)
                .map_err(|e| io_fail("cannot rename symlink into place", &path, e))?;
            // The temporary is now the target.
            undo.retain(|u| !matches!(u, Undo::Temp(t) if *t == temp));
            undo.push(previous);
            result.push((rel, value, stamp));
        }
        Ok(result)
    }
}

fn io_fail(what: &str, path: &Path, e: io::Error) -> Fail {
    Fail::refused(format!("{what} '{}': {e}", path.display()))
}

/// `text` for the terminal: every line's control characters escaped
/// ([`escape_controls`]), newlines and tabs kept.
pub(crate) fn escape_output(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, end) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            };
            let body: Vec<String> = body.split('\t').map(escape_controls).collect();
            body.join("\t") + end
        })
        .collect()
}

/// `text` with every control character (C0, DEL, C1) written as `\u{..}`: link values come
/// from peers, and no value of the layout has one (the kernel refuses them), so one that does
/// must never reach a terminal as is.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `.tmp.<pid>.<name>` in the directory of `path` (the original's `to_tmp`).
fn temp_path(path: &Path, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp.{pid}.{name}"))
}

/// Where a replaced logfile is kept until the commit is done.
fn keep_path(path: &Path, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp.{pid}.keep.{name}"))
}

/// Sets atime and mtime of the symlink itself (`touch -h -d @<stamp>`).
pub(crate) fn set_link_stamp(path: &Path, stamp: Stamp) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let time = libc::timespec {
        tv_sec: stamp.sec as libc::time_t,
        tv_nsec: libc::c_long::from(stamp.nsec as i32),
    };
    let times = [time, time];
    // SAFETY: `c_path` is a valid NUL-terminated string and `times` points to two timespecs,
    // both live for the duration of the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The commit went through: drop the copies of replaced logfiles.
fn finish(undo: Vec<Undo>) {
    for step in undo {
        if let Undo::OldFile(_, keep) = step {
            let _ = fs::remove_file(keep);
        }
    }
}

/// Undoes the steps in reverse order; returns what could not be undone.
fn roll_back(undo: Vec<Undo>) -> Vec<String> {
    let mut problems = Vec::new();
    let pid = std::process::id();
    for step in undo.into_iter().rev() {
        let result = match &step {
            Undo::Dir(path) => fs::remove_dir(path),
            Undo::File(path) | Undo::Temp(path) | Undo::NewLink(path) => fs::remove_file(path),
            Undo::OldFile(path, keep) => fs::rename(keep, path),
            Undo::OldLink(path, old) => {
                let temp = temp_path(path, pid);
                let _ = fs::remove_file(&temp);
                std::os::unix::fs::symlink(&old.value, &temp)
                    .and_then(|()| set_link_stamp(&temp, old.stamp))
                    .and_then(|()| fs::rename(&temp, path))
            }
        };
        if let Err(e) = result {
            let path = match &step {
                Undo::Dir(p) | Undo::File(p) | Undo::Temp(p) | Undo::NewLink(p) => p,
                Undo::OldFile(p, _) | Undo::OldLink(p, _) => p,
            };
            problems.push(format!("'{}': {e}", path.display()));
        }
    }
    problems
}

/// Seconds since the epoch (negative before it) as UTC civil time: `(year, month, day, hour,
/// minute, second)` (H. Hinnant's days-to-civil algorithm).
pub(crate) fn utc_civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let t = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, t / 3600, t % 3600 / 60, t % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_named_as_the_original_does() {
        assert_eq!(
            temp_path(Path::new("/mars/resource-r0/primary"), 42),
            Path::new("/mars/resource-r0/.tmp.42.primary")
        );
        assert_eq!(
            keep_path(Path::new("/mars/r/log-1"), 7),
            Path::new("/mars/r/.tmp.7.keep.log-1")
        );
    }

    #[test]
    fn link_values_with_control_characters_are_read_escaped() {
        let dir = std::env::temp_dir().join(format!("marsadm-escape-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("a\x1b[2Jb\nc", dir.join("primary")).unwrap();
        let tree = Tree {
            root: dir.clone(),
            proc_dir: dir.clone(),
            testing: true,
        };
        let value = tree.link("primary").unwrap().value;
        assert_eq!(value, "a\\u{1b}[2Jb\\u{a}c");
        assert!(!value.chars().any(char::is_control));
        assert_eq!(escape_controls("plain /dev/sdb"), "plain /dev/sdb");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trigger_codes_follow_the_original() {
        let mut batch = Batch::new();
        batch.set_link("resource-r0/todo-a/attach", "1");
        assert_eq!(batch.trigger_code(), 1);
        batch.set_link("resource-r0/primary", "a");
        assert_eq!(batch.trigger_code(), 5);
        let mut batch = Batch::new();
        batch.set_link("ips/ip-a", "10.0.0.1");
        batch.add_trigger(trigger::FROM_REMOTE);
        assert_eq!(batch.trigger_code(), 7);
    }

    #[test]
    fn setting_a_link_again_moves_it_to_the_end() {
        let mut batch = Batch::new();
        batch.set_link("a", "0");
        batch.set_link("b", "1");
        batch.set_link("a", "1");
        let order: Vec<(&str, &str)> = batch
            .links
            .iter()
            .map(|l| (l.rel.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(order, [("b", "1"), ("a", "1")]);
    }
}
