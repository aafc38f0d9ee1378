// SPDX-License-Identifier: GPL-2.0
//! Regular files opened by the kernel (transaction logfiles): open by path, size, read and
//! write at a position, write-back and fsync, close.
//!
//! Every operation may sleep: process context only. Reads and writes go through the page
//! cache (`kernel_read`/`kernel_write`); [`File::sync`] makes written data durable. Callers on
//! the IO path of a MARS device wrap their calls in a `mm::NoIoScope`, so the page cache's
//! allocations never recurse into block IO (which could need the caller to make progress).

use core::ptr::NonNull;

use super::bindings as helpers;
use kernel::bindings;
use kernel::error::code::{EINVAL, EIO, ENOMEM};
use kernel::error::{from_err_ptr, to_result, Error};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// How [`File::open`] opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write, created (mode 0600) when missing.
    ReadWriteCreate,
    /// Read and write, created (mode 0600); fails with EEXIST when it exists.
    CreateNew,
}

/// How [`File::sync`] makes written data durable (the original's `aio_sync_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncMode {
    /// 0: write back the dirty pages and wait (`file_write_and_wait_range`), without
    /// flushing the device cache or the file's metadata (its size): fast, not crash safe.
    WriteBack,
    /// 1: `fdatasync`: data and the metadata needed to read it (the size).
    DataSync,
    /// 2: `fsync`: data and all metadata.
    FullSync,
}

impl SyncMode {
    /// The mode of an `aio_sync_mode` knob value (out of range values mean [`SyncMode::FullSync`]).
    pub(crate) fn from_knob(value: i64) -> SyncMode {
        match value {
            0 => SyncMode::WriteBack,
            1 => SyncMode::DataSync,
            _ => SyncMode::FullSync,
        }
    }
}

/// An open file; closed on drop.
///
/// # Invariants
/// `file` is a reference from a successful `filp_open`, released only by drop.
pub(crate) struct File {
    file: NonNull<bindings::file>,
}

// SAFETY: a `struct file` may be used from any thread; the VFS synchronises what needs it.
unsafe impl Send for File {}
// SAFETY: every method passes the position explicitly (no shared `f_pos`), so concurrent use
// through `&File` is what the VFS allows for pread/pwrite.
unsafe impl Sync for File {}

/// Most copies [`File::write_repeated_at`] writes at once.
pub(crate) const WRITE_REPEAT_MAX: u32 = helpers::MARS_WRITE_REPEAT_MAX;

fn bad_count() -> Error {
    EIO
}

impl File {
    /// Opens the regular file at `path` (a final symlink is not followed).
    pub(crate) fn open(path: &CStr, mode: OpenMode) -> Result<Self> {
        let base = bindings::O_LARGEFILE | bindings::O_NOFOLLOW;
        let flags = match mode {
            OpenMode::Read => base | bindings::O_RDONLY,
            OpenMode::ReadWriteCreate => base | bindings::O_RDWR | bindings::O_CREAT,
            OpenMode::CreateNew => base | bindings::O_RDWR | bindings::O_CREAT | bindings::O_EXCL,
        };
        let flags = c_int::try_from(flags).map_err(|_| EINVAL)?;
        // SAFETY: `path` is NUL-terminated; filp_open returns a referenced file or an ERR_PTR.
        let file = from_err_ptr(unsafe { bindings::filp_open(path.as_char_ptr(), flags, 0o600) })?;
        let file = NonNull::new(file).ok_or(ENOMEM)?;
        // INVARIANT: a reference from filp_open, owned by the returned value.
        Ok(File { file })
    }

    /// The file's size now.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: the file is open (type invariant), so its inode is live.
        let size = unsafe { helpers::mars_helper_file_size(self.file.as_ptr()) };
        u64::try_from(size).unwrap_or(0)
    }

    /// Size in bytes of the filesystem holding the file.
    pub(crate) fn filesystem_size(&self) -> Result<u64> {
        let (mut blocks, mut block_size) = (0u64, 0u64);
        // SAFETY: the file is open (type invariant); the outputs are valid for writing.
        to_result(unsafe {
            helpers::mars_helper_statfs(self.file.as_ptr(), &mut blocks, &mut block_size)
        })?;
        Ok(blocks.saturating_mul(block_size))
    }

    /// A second open file of the same path for direct IO (read and write, `O_DIRECT`), whose
    /// writes leave mtime and ctime alone (`FMODE_NOCMTIME`): an overwrite inside the file
    /// then changes no metadata, and its [`File::sync`] is a device cache flush only. Writes
    /// through it must be aligned to the logical block size (in memory, position and
    /// length). EINVAL where the filesystem has no direct IO.
    pub(crate) fn reopen_direct(&self) -> Result<File> {
        // SAFETY: the file is open (type invariant); the helper returns a referenced file or
        // an ERR_PTR.
        let file =
            from_err_ptr(unsafe { helpers::mars_helper_file_reopen_direct(self.file.as_ptr()) })?;
        let file = NonNull::new(file).ok_or(ENOMEM)?;
        // INVARIANT: a reference from dentry_open, owned by the returned value.
        Ok(File { file })
    }

    /// Writes `count` copies of `data` back to back at `pos` with one write (direct IO: its
    /// bios are in flight together); `count` at most [`WRITE_REPEAT_MAX`]. Returns the bytes
    /// written (fewer only on a short write).
    pub(crate) fn write_repeated_at(&self, data: &[u8], count: u32, pos: u64) -> Result<usize> {
        if count == 0 || count > WRITE_REPEAT_MAX {
            return Err(EINVAL);
        }
        let pos = bindings::loff_t::try_from(pos).map_err(|_| EINVAL)?;
        // SAFETY: the file is open (type invariant); `data` is a readable kernel buffer of
        // `data.len()` bytes for the duration of the call, which only reads it.
        let n = unsafe {
            helpers::mars_helper_file_write_repeated(
                self.file.as_ptr(),
                data.as_ptr().cast::<c_void>(),
                data.len(),
                count,
                pos,
            )
        };
        usize::try_from(n).map_err(|_| Error::from_errno(c_int::try_from(n).unwrap_or(-5)))
    }

    /// Truncates (or extends with zeros) the file to `len` bytes.
    pub(crate) fn truncate(&self, len: u64) -> Result {
        let len = bindings::loff_t::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: the file is open (type invariant); vfs_truncate only sleeps and does IO.
        let ret = unsafe { helpers::mars_helper_file_truncate(self.file.as_ptr(), len) };
        to_result(c_int::try_from(ret).unwrap_or(-5))
    }

    /// Writes all of `data` at byte position `pos`; an error leaves an unknown prefix written.
    pub(crate) fn write_all_at(&self, data: &[u8], pos: u64) -> Result {
        let mut pos = bindings::loff_t::try_from(pos).map_err(|_| EINVAL)?;
        let mut rest = data;
        while !rest.is_empty() {
            // SAFETY: the file is open; `rest` is a readable kernel buffer of `rest.len()` bytes;
            // `pos` is a valid loff_t the call advances.
            let n = unsafe {
                bindings::kernel_write(
                    self.file.as_ptr(),
                    rest.as_ptr().cast::<c_void>(),
                    rest.len(),
                    &mut pos,
                )
            };
            let n = usize::try_from(n)
                .map_err(|_| Error::from_errno(c_int::try_from(n).unwrap_or(-5)))?;
            if n == 0 {
                return Err(bad_count());
            }
            rest = rest.get(n..).ok_or_else(bad_count)?;
        }
        Ok(())
    }

    /// Reads up to `buf.len()` bytes at `pos`; fewer only at the end of the file. Returns the
    /// number read.
    pub(crate) fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        let mut pos = bindings::loff_t::try_from(pos).map_err(|_| EINVAL)?;
        let mut done = 0;
        while done < buf.len() {
            let rest = buf.get_mut(done..).ok_or_else(bad_count)?;
            // SAFETY: the file is open; `rest` is a writable kernel buffer of `rest.len()` bytes.
            let n = unsafe {
                bindings::kernel_read(
                    self.file.as_ptr(),
                    rest.as_mut_ptr().cast::<c_void>(),
                    rest.len(),
                    &mut pos,
                )
            };
            let n = usize::try_from(n)
                .map_err(|_| Error::from_errno(c_int::try_from(n).unwrap_or(-5)))?;
            if n == 0 {
                break;
            }
            done = done.checked_add(n).ok_or_else(bad_count)?;
        }
        Ok(done)
    }

    /// Makes everything written so far durable as `mode` says.
    pub(crate) fn sync(&self, mode: SyncMode) -> Result {
        let file = self.file.as_ptr();
        // SAFETY: the file is open (type invariant); these calls only sleep and do IO.
        to_result(unsafe {
            match mode {
                SyncMode::WriteBack => bindings::file_write_and_wait_range(file, 0, i64::MAX),
                SyncMode::DataSync => bindings::vfs_fsync(file, 1),
                SyncMode::FullSync => bindings::vfs_fsync(file, 0),
            }
        })
    }

    /// Size of the filesystem holding the file and the bytes available on it to ordinary
    /// users (without the root reserve), in bytes.
    pub(crate) fn filesystem_space(&self) -> Result<(u64, u64)> {
        let (mut total, mut avail) = (0u64, 0u64);
        // SAFETY: the file is open (type invariant); the outputs are valid for writing.
        to_result(unsafe {
            helpers::mars_helper_statfs_space(self.file.as_ptr(), &mut total, &mut avail)
        })?;
        Ok((total, avail))
    }

    /// The inodes of the filesystem holding the file: in total and free (both 0 on a
    /// filesystem that does not count them).
    pub(crate) fn filesystem_inodes(&self) -> Result<(u64, u64)> {
        let (mut total, mut free) = (0u64, 0u64);
        // SAFETY: the file is open (type invariant); the outputs are valid for writing.
        to_result(unsafe {
            helpers::mars_helper_statfs_inodes(self.file.as_ptr(), &mut total, &mut free)
        })?;
        Ok((total, free))
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: the reference is ours (type invariant) and released exactly once; a close
        // error only reports earlier write-back trouble, which `sync` reported already.
        unsafe { bindings::filp_close(self.file.as_ptr(), core::ptr::null_mut()) };
    }
}
