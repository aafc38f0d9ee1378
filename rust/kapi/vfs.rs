// SPDX-License-Identifier: GPL-2.0
//! Path operations for the /mars tree (the safe layer under `crate::tree`, which is the only
//! user of [`Beneath`]): beneath a directory, without following any symlink, read a symlink
//! with its mtime, replace a symlink atomically with a given mtime (the original's
//! `mars_symlink`: `.tmp-<name>`, set its mtime, rename over the target), make a directory,
//! unlink, touch a regular file (create it, set its times to now), list a directory and stat;
//! and tell whether an absolute path is the root of a mounted filesystem. [`PathBuf`] spells
//! absolute paths (for `kapi::file` too).
//!
//! Absolute paths are resolved from the root of the calling task (a kthread resolves from the
//! initial root). Every operation may sleep and allocates with GFP_KERNEL: call them from
//! process context only, never on the IO path (except inside a NoIo scope).

use core::fmt;
use core::ptr::{self, NonNull};

use super::bindings as helpers;
use crate::mars_core::lamport::Stamp;
use kernel::bindings;
use kernel::error::code::{EEXIST, EINVAL, ENOENT, ENOMEM, ENOTDIR, EXDEV};
use kernel::error::{from_err_ptr, to_result, Error};
use kernel::ffi::{c_char, c_int, c_long, c_uint};
use kernel::prelude::*;
use kernel::str::{BStr, CStr};

/// Longest path, including its terminating NUL.
const PATH_MAX: usize = bindings::PATH_MAX as usize;
/// Longest name of a directory entry.
const NAME_MAX: usize = 255;
/// Prefix of the temporary link that [`Beneath::replace_symlink`] renames over its target.
const TMP_PREFIX: &[u8] = b".tmp-";

fn name_too_long() -> Error {
    Error::from_errno(-(bindings::ENAMETOOLONG as c_int))
}

/// Whether `name` can be one path component: not empty, no `/` or NUL, not `.` or `..`.
fn is_component(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name != b"."
        && name != b".."
        && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// An absolute path, kept NUL-terminated for the kernel's path walk.
///
/// # Invariants
/// `bytes` starts with `/`, has no trailing `/` (except for the root itself), contains exactly
/// one NUL, at the end, and is at most `PATH_MAX` bytes long.
pub(crate) struct PathBuf {
    bytes: KVec<u8>,
}

impl PathBuf {
    /// The absolute path spelled by the concatenation of `parts` (no trailing `/`).
    pub(crate) fn from_parts(parts: &[&[u8]]) -> Result<Self> {
        let mut bytes = KVec::new();
        for part in parts {
            bytes.extend_from_slice(part, GFP_KERNEL)?;
        }
        let trailing_slash = bytes.len() > 1 && bytes.last() == Some(&b'/');
        if bytes.first() != Some(&b'/') || trailing_slash || bytes.contains(&0) {
            return Err(EINVAL);
        }
        if bytes.len() >= PATH_MAX {
            return Err(name_too_long());
        }
        bytes.push(0, GFP_KERNEL)?;
        // INVARIANT: checked above: leading `/`, no trailing `/`, one NUL at the end, bounded.
        Ok(PathBuf { bytes })
    }

    /// The path of the entry `name` in this directory. `name` must be a single component.
    pub(crate) fn child(&self, name: &[u8]) -> Result<Self> {
        if !is_component(name) {
            return Err(EINVAL);
        }
        let dir = self.as_bytes();
        let separator: &[u8] = if dir == b"/" { b"" } else { b"/" };
        Self::from_parts(&[dir, separator, name])
    }

    /// The path without its NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.split_last().map_or(&[], |(_nul, path)| path)
    }

    /// The path as a C string.
    pub(crate) fn as_cstr(&self) -> &CStr {
        // SAFETY: by the type invariant `bytes` ends with its only NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.bytes) }
    }
}

impl fmt::Display for PathBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(BStr::from_bytes(self.as_bytes()), f)
    }
}

/// The type of a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A regular file.
    Regular,
    /// Anything else (device, fifo, socket).
    Other,
}

impl FileKind {
    fn from_mode(mode: u32) -> Self {
        match mode & bindings::S_IFMT {
            bindings::S_IFDIR => FileKind::Dir,
            bindings::S_IFLNK => FileKind::Symlink,
            bindings::S_IFREG => FileKind::Regular,
            _ => FileKind::Other,
        }
    }

    /// The kind named by a `d_type` (`None` for `DT_UNKNOWN`: ask [`Beneath::lstat`]).
    fn from_d_type(d_type: c_uint) -> Option<Self> {
        match d_type {
            bindings::DT_UNKNOWN => None,
            bindings::DT_DIR => Some(FileKind::Dir),
            bindings::DT_LNK => Some(FileKind::Symlink),
            bindings::DT_REG => Some(FileKind::Regular),
            _ => Some(FileKind::Other),
        }
    }
}

/// What [`Beneath::lstat`] tells.
pub(crate) struct Stat {
    /// The type of the object itself (a symlink is not followed).
    pub(crate) kind: FileKind,
    /// Its modification time.
    pub(crate) mtime: Stamp,
    /// Its permission bits (`mode & 0o7777`).
    pub(crate) perm: u32,
    /// Its owner (a uid of the initial user namespace).
    pub(crate) uid: u32,
    /// Its inode number.
    pub(crate) ino: u64,
    /// Its size in bytes.
    pub(crate) size: u64,
}

fn stamp_of(ts: bindings::timespec64) -> Stamp {
    // tv_nsec is always within 0..1e9 for a valid inode time; anything else reads as 0.
    Stamp::new(ts.tv_sec, u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// A resolved path: references to a mount and a dentry.
///
/// # Invariants
/// `raw` was filled by a successful `kern_path`, so both references are held (released on
/// drop) and the dentry is positive.
struct Path {
    raw: bindings::path,
}

impl Path {
    /// Resolves `path`; `flags` are `LOOKUP_*` (without `LOOKUP_FOLLOW` a final symlink is not
    /// followed).
    fn lookup(path: &CStr, flags: u32) -> Result<Self> {
        let mut raw = bindings::path::default();
        // SAFETY: `path` is NUL-terminated and `raw` is writable; on success kern_path fills
        // `raw` with references that we own from now on.
        to_result(unsafe { helpers::kern_path(path.as_char_ptr(), flags, &mut raw) })?;
        // INVARIANT: kern_path succeeded, and it only returns positive dentries.
        Ok(Path { raw })
    }

    /// Resolves a directory, following symlinks.
    fn directory(path: &CStr) -> Result<Self> {
        Self::lookup(path, helpers::LOOKUP_FOLLOW | helpers::LOOKUP_DIRECTORY)
    }

    fn dentry(&self) -> *mut bindings::dentry {
        self.raw.dentry
    }

    fn inode(&self) -> *mut bindings::inode {
        // SAFETY: we hold a reference to the dentry (type invariant); a referenced positive
        // dentry keeps its inode.
        unsafe { (*self.raw.dentry).d_inode }
    }

    fn idmap(&self) -> *mut bindings::mnt_idmap {
        // SAFETY: we hold a reference to the mount (type invariant).
        unsafe { helpers::mars_helper_mnt_idmap(self.raw.mnt) }
    }

    fn stat(&self) -> Result<Stat> {
        let mut stat = bindings::kstat::default();
        // SAFETY: `raw` is a valid path (type invariant) and `stat` is writable.
        to_result(unsafe {
            bindings::vfs_getattr(
                &self.raw,
                &mut stat,
                bindings::STATX_BASIC_STATS,
                bindings::AT_STATX_SYNC_AS_STAT,
            )
        })?;
        Ok(Stat {
            kind: FileKind::from_mode(u32::from(stat.mode)),
            mtime: stamp_of(stat.mtime),
            perm: u32::from(stat.mode) & 0o7777,
            uid: stat.uid.val,
            ino: stat.ino,
            size: u64::try_from(stat.size).unwrap_or(0),
        })
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        // SAFETY: we own the references in `raw` (type invariant).
        unsafe { bindings::path_put(&self.raw) };
    }
}

/// A dentry reference returned by a lookup, maybe negative; released on drop.
///
/// # Invariants
/// `0` is a dentry we hold one reference to.
struct Dentry(NonNull<bindings::dentry>);

impl Dentry {
    fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.as_ptr()
    }

    /// Its inode, or `None` for a negative dentry (no such entry).
    fn inode(&self) -> Option<NonNull<bindings::inode>> {
        // SAFETY: we hold a reference to the dentry (type invariant). Its inode only changes
        // under the parent directory's lock, which the caller holds (see `DirLock::lookup`).
        NonNull::new(unsafe { (*self.0.as_ptr()).d_inode })
    }
}

impl Drop for Dentry {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::dput(self.0.as_ptr()) };
    }
}

/// A directory prepared for changes to its entries: write access to its mount is held, and its
/// inode is locked as a parent (`inode_lock_nested(dir, I_MUTEX_PARENT)`, which is also what
/// `lock_rename` takes for a rename within one directory). Both are released on drop.
///
/// # Invariants
/// `mnt_want_write` succeeded on `dir`'s mount and `dir`'s inode is locked, until drop.
struct DirLock<'a> {
    dir: &'a Path,
}

impl<'a> DirLock<'a> {
    fn new(dir: &'a Path) -> Result<Self> {
        // SAFETY: `dir` holds a reference to its mount.
        to_result(unsafe { bindings::mnt_want_write(dir.raw.mnt) })?;
        // SAFETY: `dir` holds a reference to its dentry, whose inode is a directory (looked up
        // with LOOKUP_DIRECTORY). Lock order as in do_mkdirat(): write access, then the parent.
        unsafe { helpers::mars_helper_inode_lock_parent(dir.inode()) };
        // INVARIANT: both taken above.
        Ok(DirLock { dir })
    }

    /// Looks `name` (one component) up in the locked directory.
    fn lookup(&self, name: &[u8]) -> Result<Dentry> {
        if !is_component(name) {
            return Err(EINVAL);
        }
        let len = c_int::try_from(name.len()).map_err(|_| name_too_long())?;
        // SAFETY: the directory is locked (type invariant), as lookup_one_len requires; `name`
        // holds `len` readable bytes (no NUL needed).
        let dentry = unsafe { helpers::lookup_one_len(name.as_ptr(), self.dir.dentry(), len) };
        // INVARIANT: a successful lookup returns a new reference.
        Ok(Dentry(NonNull::new(from_err_ptr(dentry)?).ok_or(ENOENT)?))
    }
}

impl Drop for DirLock<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `new` (type invariant), released in reverse order.
        unsafe {
            helpers::mars_helper_inode_unlock(self.dir.inode());
            bindings::mnt_drop_write(self.dir.raw.mnt);
        }
    }
}

/// Whether `path` is a directory that is the root of a mounted filesystem. Fails like the
/// lookup does (e.g. ENOENT, ENOTDIR) when it is no directory.
pub(crate) fn is_mount_root(path: &CStr) -> Result<bool> {
    let dir = Path::directory(path)?;
    // SAFETY: `dir` holds a reference to its mount; `mnt_root` never changes for a mount.
    Ok(unsafe { (*dir.raw.mnt).mnt_root } == dir.dentry())
}

/// A symlink's value and mtime.
pub(crate) struct Link {
    /// The link's value (its target), without NUL.
    pub(crate) value: KVec<u8>,
    /// The link's own modification time.
    pub(crate) mtime: Stamp,
}

/// The value and mtime of the symlink `link` resolves to. EINVAL if it is no symlink.
fn link_of(link: &Path) -> Result<Link> {
    let stat = link.stat()?;
    if stat.kind != FileKind::Symlink {
        return Err(EINVAL);
    }
    let mut done = bindings::delayed_call::default();
    // SAFETY: we hold a reference to the positive dentry; `done` is a cleared delayed call
    // that vfs_get_link may arm, released below in every case.
    let target = unsafe { bindings::vfs_get_link(link.dentry(), &mut done) };
    let copied = from_err_ptr(target.cast_mut()).and_then(|target| {
        // SAFETY: `target` is a NUL-terminated string, valid until `done` is called below;
        // strnlen reads at most PATH_MAX bytes of it.
        let len = unsafe { bindings::strnlen(target, PATH_MAX) };
        // SAFETY: `target` has `len` readable bytes (counted above), still valid.
        let bytes = unsafe { core::slice::from_raw_parts(target.cast::<u8>(), len) };
        let mut value = KVec::new();
        value.extend_from_slice(bytes, GFP_KERNEL)?;
        Ok(value)
    });
    // SAFETY: `done` is cleared or was armed by vfs_get_link above; it is called exactly once
    // (a cleared one does nothing), after the last use of `target`.
    unsafe { helpers::mars_helper_do_delayed_call(&mut done) };
    let value = copied?;
    Ok(Link {
        value,
        mtime: stat.mtime,
    })
}

/// Creates the directory `name` in `dir`.
fn mkdir_in(dir: &Path, name: &[u8], mode: u16) -> Result {
    let lock = DirLock::new(dir)?;
    let entry = lock.lookup(name)?;
    if entry.inode().is_some() {
        return Err(EEXIST);
    }
    // SAFETY: the parent is locked with write access (`lock`); `entry` is a negative dentry
    // of it, looked up under that lock.
    to_result(unsafe { bindings::vfs_mkdir(dir.idmap(), dir.inode(), entry.as_ptr(), mode) })
}

/// Removes the non-directory `name` in `dir`.
fn unlink_in(dir: &Path, name: &[u8]) -> Result {
    let lock = DirLock::new(dir)?;
    let entry = lock.lookup(name)?;
    if entry.inode().is_none() {
        return Err(ENOENT);
    }
    // SAFETY: the parent is locked with write access (`lock`); `entry` is a positive dentry of
    // it, looked up under that lock. No delegation handling: /mars is a local filesystem.
    to_result(unsafe {
        bindings::vfs_unlink(dir.idmap(), dir.inode(), entry.as_ptr(), ptr::null_mut())
    })
}

/// Sets the mtime of the object `entry` (and its ctime to now), like `touch -h -d`. The caller
/// holds write access to its mount.
fn set_mtime(idmap: *mut bindings::mnt_idmap, entry: &Dentry, mtime: Stamp) -> Result {
    let inode = entry.inode().ok_or(ENOENT)?;
    let mut attr = bindings::iattr {
        ia_valid: bindings::ATTR_MTIME
            | bindings::ATTR_MTIME_SET
            | bindings::ATTR_CTIME
            | bindings::ATTR_TIMES_SET,
        ia_mtime: bindings::timespec64 {
            tv_sec: mtime.sec,
            tv_nsec: c_long::try_from(mtime.nsec).map_err(|_| EINVAL)?,
        },
        ..Default::default()
    };
    change_attr(idmap, entry, inode, &mut attr)
}

/// Sets the atime and mtime of the object `entry` to now (and its ctime), like `touch`: a
/// watcher sees IN_ATTRIB (both times changed, as `utimensat` does). The caller holds write
/// access to its mount.
fn touch_times(idmap: *mut bindings::mnt_idmap, entry: &Dentry) -> Result {
    let inode = entry.inode().ok_or(ENOENT)?;
    // Without ATTR_ATIME_SET and ATTR_MTIME_SET notify_change() takes the current time.
    let mut attr = bindings::iattr {
        ia_valid: bindings::ATTR_ATIME | bindings::ATTR_MTIME | bindings::ATTR_CTIME,
        ..Default::default()
    };
    change_attr(idmap, entry, inode, &mut attr)
}

/// notify_change() of `attr` on `entry`, whose inode is `inode`, under the inode's lock.
fn change_attr(
    idmap: *mut bindings::mnt_idmap,
    entry: &Dentry,
    inode: NonNull<bindings::inode>,
    attr: &mut bindings::iattr,
) -> Result {
    // SAFETY: `inode` belongs to the referenced positive dentry `entry` (the callers take it
    // from `entry`); notify_change requires the inode locked, which we do around it (a child
    // after its locked parent, the usual order). `attr` is valid for the call.
    let status = unsafe {
        helpers::mars_helper_inode_lock(inode.as_ptr());
        let status = bindings::notify_change(idmap, entry.as_ptr(), attr, ptr::null_mut());
        helpers::mars_helper_inode_unlock(inode.as_ptr());
        status
    };
    to_result(status)
}

/// Creates the regular file `name` in `dir` (mode `mode`) if it is missing, and sets its
/// times to now. EEXIST, touching nothing, when something else than a regular file is there
/// (never through a symlink).
fn touch_in(dir: &Path, name: &[u8], mode: u16) -> Result {
    let idmap = dir.idmap();
    let lock = DirLock::new(dir)?;
    let entry = lock.lookup(name)?;
    match entry.inode() {
        Some(inode) => {
            // SAFETY: `entry` is a referenced positive dentry looked up under its parent's
            // lock, which keeps its inode; the type bits of `i_mode` never change.
            let mode = u32::from(unsafe { (*inode.as_ptr()).i_mode });
            if FileKind::from_mode(mode) != FileKind::Regular {
                return Err(EEXIST);
            }
        }
        None => {
            let mode = u16::try_from(bindings::S_IFREG).map_err(|_| EINVAL)? | (mode & 0o7777);
            // SAFETY: the parent is locked with write access (`lock`); `entry` is a negative
            // dentry of it, looked up under that lock. vfs_create() makes it positive.
            to_result(unsafe {
                bindings::vfs_create(idmap, dir.inode(), entry.as_ptr(), mode, true)
            })?;
        }
    }
    touch_times(idmap, &entry)
}

/// What [`replace_symlink_in`] may rename its new link over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    /// Whatever non-directory is there (local writers).
    Anything,
    /// Only a symlink or nothing (the merge of a peer's entry).
    LinksOnly,
}

/// Makes `name` in `dir` a symlink to `value` with mtime `mtime`, atomically.
fn replace_symlink_in(dir: &Path, name: &[u8], value: &[u8], mtime: Stamp, over: Over) -> Result {
    if value.is_empty() || value.contains(&0) || value.len() >= PATH_MAX {
        return Err(EINVAL);
    }
    let mut target = KVec::with_capacity(value.len().checked_add(1).ok_or(ENOMEM)?, GFP_KERNEL)?;
    target.extend_from_slice(value, GFP_KERNEL)?;
    target.push(0, GFP_KERNEL)?;

    let mut tmp_name =
        KVec::with_capacity(TMP_PREFIX.len().saturating_add(name.len()), GFP_KERNEL)?;
    tmp_name.extend_from_slice(TMP_PREFIX, GFP_KERNEL)?;
    tmp_name.extend_from_slice(name, GFP_KERNEL)?;

    // A leftover of an interrupted update is removed first, as the original does.
    match unlink_in(dir, &tmp_name) {
        Ok(()) => {}
        Err(e) if e == ENOENT => {}
        Err(e) => return Err(e),
    }

    let idmap = dir.idmap();
    let lock = DirLock::new(dir)?;
    let new = lock.lookup(name)?;
    if over == Over::LinksOnly {
        if let Some(inode) = new.inode() {
            // SAFETY: `new` is a referenced positive dentry looked up under its parent's lock,
            // which keeps its inode; the type bits of `i_mode` never change.
            let mode = u32::from(unsafe { (*inode.as_ptr()).i_mode });
            if FileKind::from_mode(mode) != FileKind::Symlink {
                return Err(EEXIST);
            }
        }
    }
    let tmp = lock.lookup(&tmp_name)?;
    if tmp.inode().is_some() {
        return Err(EEXIST);
    }
    // SAFETY: the parent is locked with write access (`lock`); `tmp` is a negative dentry of
    // it; `target` is NUL-terminated.
    to_result(unsafe {
        bindings::vfs_symlink(
            idmap,
            dir.inode(),
            tmp.as_ptr(),
            target.as_ptr().cast::<c_char>(),
        )
    })?;
    set_mtime(idmap, &tmp, mtime)?;
    let mut rename = bindings::renamedata {
        old_mnt_idmap: idmap,
        old_dir: dir.inode(),
        old_dentry: tmp.as_ptr(),
        new_mnt_idmap: idmap,
        new_dir: dir.inode(),
        new_dentry: new.as_ptr(),
        delegated_inode: ptr::null_mut(),
        flags: 0,
    };
    // SAFETY: both dentries are children of the one directory we hold locked as a parent with
    // write access (what lock_rename() gives for a rename within one directory); `tmp` is
    // positive (just created), `new` was looked up under the lock.
    to_result(unsafe { bindings::vfs_rename(&mut rename) })
}

/// One entry of a directory listing.
pub(crate) struct DirEntry {
    /// The entry's name.
    pub(crate) name: KVec<u8>,
    /// Its type, if the filesystem reports it (else use [`Beneath::lstat`]).
    pub(crate) kind: Option<FileKind>,
}

/// The entries of a directory, without `.` and `..`.
pub(crate) struct Listing {
    /// The entries, in the filesystem's order.
    pub(crate) entries: KVec<DirEntry>,
    /// Whether the directory has more entries than were asked for.
    pub(crate) truncated: bool,
}

/// An open file, released on drop.
///
/// # Invariants
/// `0` is a file we hold a reference to.
struct File(NonNull<bindings::file>);

impl File {
    /// Opens the directory `dir` resolved already (no second path walk).
    fn open_resolved_directory(dir: &Path) -> Result<Self> {
        // SAFETY: `dir` holds references to its mount and dentry (type invariant of `Path`),
        // valid for the call; the helper returns a new file reference or an ERR_PTR.
        let file = unsafe { helpers::mars_helper_open_dir(&dir.raw) };
        // INVARIANT: a successful open returns a new reference.
        Ok(File(NonNull::new(from_err_ptr(file)?).ok_or(ENOENT)?))
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant). For a kthread the final release is
        // deferred to a workqueue, which is fine for a directory opened read-only.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The `dir_context` of a listing, with where the entries go. `ctx` must stay the first field:
/// the actor gets a pointer to it and casts it back.
#[repr(C)]
struct Collector {
    ctx: bindings::dir_context,
    entries: KVec<DirEntry>,
    max_entries: usize,
    added: usize,
    truncated: bool,
    error: Option<Error>,
}

/// The `filldir_t` actor: copies one entry into the [`Collector`]. Returns whether to go on.
///
/// # Safety
/// Called by `iterate_dir` only, with `ctx` the `ctx` field of a live `Collector` that nothing
/// else accesses during the call, and `name` holding `namelen` readable bytes.
unsafe extern "C" fn collect_entry(
    ctx: *mut bindings::dir_context,
    name: *const c_char,
    namelen: c_int,
    _offset: bindings::loff_t,
    _ino: u64,
    d_type: c_uint,
) -> bool {
    // CAST: `ctx` is the first field of a `#[repr(C)]` `Collector` (function contract), so both
    // share an address.
    // SAFETY: the collector is live and exclusively ours for the call (function contract).
    let collector = unsafe { &mut *ctx.cast::<Collector>() };
    let Ok(len) = usize::try_from(namelen) else {
        return true;
    };
    // SAFETY: `name` holds `namelen` readable bytes for the duration of the call.
    let name = unsafe { core::slice::from_raw_parts(name.cast::<u8>(), len) };
    if name == b"." || name == b".." {
        return true;
    }
    if collector.entries.len() >= collector.max_entries {
        collector.truncated = true;
        return false;
    }
    let mut owned = KVec::new();
    if owned.extend_from_slice(name, GFP_KERNEL).is_err()
        || collector
            .entries
            .push(
                DirEntry {
                    name: owned,
                    kind: FileKind::from_d_type(d_type),
                },
                GFP_KERNEL,
            )
            .is_err()
    {
        collector.error = Some(ENOMEM);
        return false;
    }
    collector.added = collector.added.saturating_add(1);
    true
}

/// Lists the open directory `file`.
fn read_dir_file(file: File, max_entries: usize) -> Result<Listing> {
    let mut collector = Collector {
        ctx: bindings::dir_context {
            actor: Some(collect_entry),
            pos: 0,
        },
        entries: KVec::new(),
        max_entries,
        added: 0,
        truncated: false,
        error: None,
    };
    // A filesystem may stop an iteration early (as for a full getdents buffer): go on until a
    // pass adds nothing, like overlayfs' ovl_dir_read does.
    loop {
        collector.added = 0;
        // CAST: `ctx` is the first field of the `#[repr(C)]` collector; the pointer is taken
        // from the whole collector, so the actor may use all of it.
        let ctx = ptr::addr_of_mut!(collector).cast::<bindings::dir_context>();
        // SAFETY: `file` is an open directory we hold; the context's actor is `collect_entry`,
        // whose contract holds: `ctx` is the first field of the collector, which lives across
        // the call and is not otherwise accessed meanwhile.
        to_result(unsafe { bindings::iterate_dir(file.0.as_ptr(), ctx) })?;
        if let Some(error) = collector.error {
            return Err(error);
        }
        if collector.added == 0 || collector.truncated {
            break;
        }
    }
    Ok(Listing {
        entries: collector.entries,
        truncated: collector.truncated,
    })
}

/// A directory beneath which relative paths are resolved without following any symlink, in
/// any component: how `crate::tree` sees `/mars`. A path naming a symlink
/// where a directory is expected fails with ELOOP, one leaving the directory (`..`) with
/// EXDEV; a final symlink is the object itself (never followed). Every operation resolves the
/// parent this way and then works on the final component under the parent's lock.
///
/// # Invariants
/// `root` is a directory.
pub(crate) struct Beneath {
    root: Path,
}

/// Whether `e` is what a [`Beneath`] lookup fails with on a symlink or a non-directory on the
/// way (ELOOP, ENOTDIR) or a way out (EXDEV).
pub(crate) fn is_blocked_path(e: Error) -> bool {
    e == EXDEV || e == ENOTDIR || e.to_errno() == -(bindings::ELOOP as c_int)
}

impl Beneath {
    /// The directory `path` (absolute, symlinks followed: it is this host's configuration).
    pub(crate) fn open(path: &CStr) -> Result<Self> {
        // INVARIANT: looked up with LOOKUP_DIRECTORY.
        Ok(Beneath {
            root: Path::directory(path)?,
        })
    }

    /// Resolves `rel` (relative, `/`-separated; empty for the root itself) with `flags` plus
    /// LOOKUP_BENEATH and LOOKUP_NO_SYMLINKS.
    fn lookup(&self, rel: &[u8], flags: u32) -> Result<Path> {
        if rel.first() == Some(&b'/') || rel.contains(&0) || rel.len() >= PATH_MAX {
            return Err(EINVAL);
        }
        let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
        let mut name = KVec::with_capacity(rel.len().saturating_add(1), GFP_KERNEL)?;
        name.extend_from_slice(rel, GFP_KERNEL)?;
        name.push(0, GFP_KERNEL)?;
        let mut raw = bindings::path::default();
        let flags = flags | helpers::LOOKUP_BENEATH | helpers::LOOKUP_NO_SYMLINKS;
        // SAFETY: `root` holds references to its dentry and mount for the call; `name` is
        // NUL-terminated; `raw` is writable, and on success vfs_path_lookup fills it with
        // references that we own from now on.
        to_result(unsafe {
            helpers::vfs_path_lookup(
                self.root.dentry(),
                self.root.raw.mnt,
                name.as_ptr().cast::<c_char>(),
                flags,
                &mut raw,
            )
        })?;
        // INVARIANT: the lookup succeeded; it returns positive dentries only.
        Ok(Path { raw })
    }

    /// The directory holding the last component of `rel`, and that component.
    fn parent<'r>(&self, rel: &'r [u8]) -> Result<(Path, &'r [u8])> {
        let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(slash) => (
                rel.get(..slash).ok_or(EINVAL)?,
                rel.get(slash.saturating_add(1)..).ok_or(EINVAL)?,
            ),
            None => (&[][..], rel),
        };
        if !is_component(name) {
            return Err(EINVAL);
        }
        Ok((self.lookup(dir, helpers::LOOKUP_DIRECTORY)?, name))
    }

    /// Stats `rel` (a final symlink is not followed).
    pub(crate) fn lstat(&self, rel: &[u8]) -> Result<Stat> {
        self.lookup(rel, 0)?.stat()
    }

    /// The value and mtime of the symlink `rel` (not followed). EINVAL if it is no symlink.
    pub(crate) fn read_link(&self, rel: &[u8]) -> Result<Link> {
        link_of(&self.lookup(rel, 0)?)
    }

    /// Creates the directory `rel` with permissions `mode`. EEXIST if the name is taken.
    pub(crate) fn mkdir(&self, rel: &[u8], mode: u16) -> Result {
        let (dir, name) = self.parent(rel)?;
        mkdir_in(&dir, name, mode)
    }

    /// Removes the non-directory `rel`. ENOENT if it does not exist.
    pub(crate) fn unlink(&self, rel: &[u8]) -> Result {
        let (dir, name) = self.parent(rel)?;
        unlink_in(&dir, name)
    }

    /// Makes `rel` a symlink to `value` whose mtime is `mtime`, atomically: readers see
    /// either the old object or the new link with its final mtime, never a link without it.
    /// As the original `mars_symlink`: write `.tmp-<name>` beside it, set its mtime, rename
    /// it over `rel`. With [`Over::LinksOnly`] a directory or file there is never replaced
    /// (EEXIST).
    pub(crate) fn replace_symlink(
        &self,
        rel: &[u8],
        value: &[u8],
        mtime: Stamp,
        over: Over,
    ) -> Result {
        let (dir, name) = self.parent(rel)?;
        replace_symlink_in(&dir, name, value, mtime, over)
    }

    /// Creates the regular file `rel` (permissions `mode`) if it is missing and sets its times
    /// to now, like `touch` (a watcher of it sees IN_CREATE or IN_ATTRIB). EEXIST, changing
    /// nothing, when something else than a regular file is there.
    pub(crate) fn touch(&self, rel: &[u8], mode: u16) -> Result {
        let (dir, name) = self.parent(rel)?;
        touch_in(&dir, name, mode)
    }

    /// Lists the directory `rel`: at most `max_entries` entries (then `truncated` is set).
    pub(crate) fn read_dir(&self, rel: &[u8], max_entries: usize) -> Result<Listing> {
        let dir = self.lookup(rel, helpers::LOOKUP_DIRECTORY)?;
        read_dir_file(File::open_resolved_directory(&dir)?, max_entries)
    }
}
