// SPDX-License-Identifier: GPL-2.0
//! The one accessor of the `/mars` tree in the kernel: every reader and writer of a key below
//! `/mars` (the strategy, the logger's links, the network's merge, serve and clients) goes
//! through [`MarsTree`].
//!
//! Every path is resolved beneath `/mars` without following a symlink in any component
//! (`kapi::vfs::Beneath`): a link is read as itself, a symlink or a non-directory where a
//! directory is expected fails ([`is_blocked_path`]), and nothing leaves `/mars`. Only `/mars`
//! itself is looked up as this host configured it (a symlink there is followed). Links are
//! replaced atomically with their Lamport stamp as mtime (`.tmp-<name>`, then a rename), and
//! the stamps of local writes come from [`clock::tick`]. Regular files of the tree are only
//! touched here ([`MarsTree::touch`], the `systemd-trigger` files). A link whose value is
//! [`DELETED`](crate::mars_core::tree_value::DELETED) is a tombstone ([`is_tombstone`]).
//!
//! A key is a path relative to `/mars` (`resource-r0/replay-alpha`, empty for `/mars` itself)
//! or an absolute [`PathBuf`] below `/mars` (see [`TreeKey`]); files of the tree (logfiles)
//! are opened by their absolute path through `kapi::file`, outside this accessor.
//!
//! Every operation may sleep and allocates with GFP_KERNEL: process context only (on the IO
//! path inside a NoIo scope).

use crate::clock;
use crate::kapi::vfs::{Beneath, Link, Listing, Over, PathBuf, Stat};
use crate::mars_core::lamport::Stamp;
use crate::mars_core::names::MARS_ROOT;
use crate::mars_core::tree_value;
use kernel::error::code::{EINVAL, ENOENT, EXDEV};
use kernel::prelude::*;

pub(crate) use crate::kapi::vfs::{is_blocked_path, FileKind};

/// Something that names a place in the `/mars` tree.
pub(crate) trait TreeKey {
    /// The path relative to `/mars` (empty for `/mars` itself). EXDEV for a path outside it.
    fn rel(&self) -> Result<&[u8]>;
}

impl<T: TreeKey + ?Sized> TreeKey for &T {
    fn rel(&self) -> Result<&[u8]> {
        (**self).rel()
    }
}

impl TreeKey for [u8] {
    fn rel(&self) -> Result<&[u8]> {
        Ok(self)
    }
}

impl TreeKey for KVec<u8> {
    fn rel(&self) -> Result<&[u8]> {
        Ok(self.as_slice())
    }
}

impl TreeKey for str {
    fn rel(&self) -> Result<&[u8]> {
        Ok(self.as_bytes())
    }
}

impl TreeKey for PathBuf {
    fn rel(&self) -> Result<&[u8]> {
        let rest = self
            .as_bytes()
            .strip_prefix(MARS_ROOT.as_bytes())
            .ok_or(EXDEV)?;
        match rest {
            [] => Ok(rest),
            [b'/', rel @ ..] => Ok(rel),
            _ => Err(EXDEV),
        }
    }
}

/// The absolute path `/mars/<rel>` (for opening a file of the tree).
pub(crate) fn path(rel: &[u8]) -> Result<PathBuf> {
    if rel.is_empty() {
        PathBuf::from_parts(&[MARS_ROOT.as_bytes()])
    } else {
        PathBuf::from_parts(&[MARS_ROOT.as_bytes(), b"/", rel])
    }
}

/// Whether a link value is the tombstone.
pub(crate) fn is_tombstone(value: &[u8]) -> bool {
    value == tree_value::DELETED.as_bytes()
}

/// The `/mars` tree, opened for a batch of operations. Each one resolves its key beneath the
/// directory `/mars` was when [`MarsTree::open`] looked it up.
pub(crate) struct MarsTree {
    root: Beneath,
}

impl MarsTree {
    /// Looks `/mars` up (follows a symlink there: it is this host's configuration).
    pub(crate) fn open() -> Result<Self> {
        Ok(MarsTree {
            root: Beneath::open(path(b"")?.as_cstr())?,
        })
    }

    /// Stats `key` (a final symlink is the object itself).
    pub(crate) fn lstat(&self, key: &(impl TreeKey + ?Sized)) -> Result<Stat> {
        self.root.lstat(key.rel()?)
    }

    /// The value and stamp of the link `key`; EINVAL if it is no symlink.
    pub(crate) fn read_link(&self, key: &(impl TreeKey + ?Sized)) -> Result<Link> {
        self.root.read_link(key.rel()?)
    }

    /// The value of the link `key`: `None` when it is missing, no link, or a tombstone.
    pub(crate) fn value(&self, key: &(impl TreeKey + ?Sized)) -> Option<KVec<u8>> {
        let link = self.read_link(key).ok()?;
        (!is_tombstone(&link.value)).then_some(link.value)
    }

    /// Makes `key` a link to `value` with the stamp `stamp`, atomically, over whatever
    /// non-directory is there (a local writer's key).
    pub(crate) fn write_link(
        &self,
        key: &(impl TreeKey + ?Sized),
        value: &[u8],
        stamp: Stamp,
    ) -> Result {
        self.root
            .replace_symlink(key.rel()?, value, stamp, Over::Anything)
    }

    /// [`MarsTree::write_link`] with a fresh stamp.
    pub(crate) fn write(&self, key: &(impl TreeKey + ?Sized), value: &[u8]) -> Result {
        self.write_link(key, value, clock::tick())
    }

    /// Rewrites `key` with `value` and a fresh stamp later than the old link's, unless it
    /// already has that value (the original's `_update_link_when_necessary`, so a quiet
    /// cluster does not churn the tree).
    pub(crate) fn update(&self, key: &(impl TreeKey + ?Sized), value: &[u8]) -> Result {
        match self.read_link(key) {
            Ok(current) if current.value.as_slice() == value => return Ok(()),
            Ok(current) => {
                clock::observe(current.mtime);
            }
            // A missing link, or something else in its place (EINVAL): replace.
            Err(e) if e == ENOENT || e == EINVAL => {}
            Err(e) => return Err(e),
        }
        self.write(key, value)
    }

    /// Makes `key` a link to a peer's `value` with the peer's `stamp`, atomically; only a
    /// link or nothing is replaced (EEXIST for a directory or file there).
    pub(crate) fn merge_link(
        &self,
        key: &(impl TreeKey + ?Sized),
        value: &[u8],
        stamp: Stamp,
    ) -> Result {
        self.root
            .replace_symlink(key.rel()?, value, stamp, Over::LinksOnly)
    }

    /// Lists the directory `key`: at most `max_entries` entries (then `truncated` is set).
    pub(crate) fn read_dir(
        &self,
        key: &(impl TreeKey + ?Sized),
        max_entries: usize,
    ) -> Result<Listing> {
        self.root.read_dir(key.rel()?, max_entries)
    }

    /// Creates the directory `key` with permissions `mode`; EEXIST if the name is taken.
    pub(crate) fn mkdir(&self, key: &(impl TreeKey + ?Sized), mode: u16) -> Result {
        self.root.mkdir(key.rel()?, mode)
    }

    /// Creates the regular file `key` (permissions `mode`) if it is missing and sets its times
    /// to now, like `touch`: how the kernel wakes systemd path units (`systemd-trigger`).
    /// EEXIST, changing nothing, when something else than a regular file is there.
    pub(crate) fn touch(&self, key: &(impl TreeKey + ?Sized), mode: u16) -> Result {
        self.root.touch(key.rel()?, mode)
    }

    /// Removes the non-directory `key`; ENOENT if it does not exist.
    pub(crate) fn unlink(&self, key: &(impl TreeKey + ?Sized)) -> Result {
        self.root.unlink(key.rel()?)
    }
}

/// [`MarsTree::lstat`] as one operation.
pub(crate) fn lstat(key: &(impl TreeKey + ?Sized)) -> Result<Stat> {
    MarsTree::open()?.lstat(key)
}

/// [`MarsTree::read_link`] as one operation.
pub(crate) fn read_link(key: &(impl TreeKey + ?Sized)) -> Result<Link> {
    MarsTree::open()?.read_link(key)
}

/// [`MarsTree::value`] as one operation.
pub(crate) fn value(key: &(impl TreeKey + ?Sized)) -> Option<KVec<u8>> {
    MarsTree::open().ok()?.value(key)
}

/// [`MarsTree::write`] as one operation.
pub(crate) fn write(key: &(impl TreeKey + ?Sized), value: &[u8]) -> Result {
    MarsTree::open()?.write(key, value)
}

/// [`MarsTree::update`] as one operation.
pub(crate) fn update(key: &(impl TreeKey + ?Sized), value: &[u8]) -> Result {
    MarsTree::open()?.update(key, value)
}

/// [`MarsTree::read_dir`] as one operation.
pub(crate) fn read_dir(key: &(impl TreeKey + ?Sized), max_entries: usize) -> Result<Listing> {
    MarsTree::open()?.read_dir(key, max_entries)
}

/// [`MarsTree::unlink`] as one operation.
pub(crate) fn unlink(key: &(impl TreeKey + ?Sized)) -> Result {
    MarsTree::open()?.unlink(key)
}
