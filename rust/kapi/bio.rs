// SPDX-License-Identifier: GPL-2.0
//! Block IO below MARS: a lower block device opened exclusively by path, and bios built from
//! page segments, submitted to it and completed through a Rust trampoline.
//!
//! Contexts: opening, closing and submitting may sleep (process context only; bios come from a
//! mempool with GFP_NOIO, so submission never recurses into IO and never fails for memory).
//! Never submit from inside blk-mq's dispatch (a `queue_rq`): the new bio would be added to
//! the very plug list blk-mq is flushing there (`blk_mq_plug_issue_direct`).
//! Completions ([`BioRequest::end_io`]) run in whatever context the lower driver completes
//! in: softirq or even hardirq. They must not sleep, allocate with GFP_KERNEL or take locks
//! that are not irq-safe.
//!
//! A bio carries its request object of type `T` in the bio's front pad (`bioset_init` front
//! padding), so submitting allocates nothing besides the bio itself: the request is the bio's
//! aspect, in the same allocation, as MARS's aspects are in the original.

use core::marker::PhantomData;
use core::mem::{align_of, size_of, MaybeUninit};
use core::ptr::NonNull;

use super::bindings as mars_bindings;
use kernel::bindings;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// The block layer's sector size: positions are addressed in 512-byte units.
pub(crate) const SECTOR_SIZE: u32 = bindings::SECTOR_SIZE;
/// The most segments one bio (and so one request handed to [`BioSet::submit`]) can carry.
pub(crate) const MAX_SEGMENTS: usize = bindings::BIO_MAX_VECS as usize;

/// One range of data inside one page (a single-page `bio_vec`).
///
/// Segments are only made by this layer from live block requests (`kapi::blk`); whoever owns
/// the request keeps the page alive until the request is completed, and a segment is only
/// reachable through that owner. There is deliberately no `Clone`.
pub(crate) struct Segment {
    pub(super) page: NonNull<bindings::page>,
    pub(super) offset: u32,
    pub(super) len: u32,
}

// SAFETY: a segment names a page and a range; the page's lifetime is managed by the request
// that holds the segment, which may move between threads (completion runs elsewhere).
unsafe impl Send for Segment {}
// SAFETY: `&Segment` gives only its length and offset; the page is never touched through it.
unsafe impl Sync for Segment {}

impl Segment {
    /// Length of the range in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// A segment over `len` bytes of `page` from `offset`.
    ///
    /// # Safety
    /// The range lies inside the page, and the page stays allocated until every IO using the
    /// segment completed.
    pub(super) unsafe fn from_raw_page(
        page: *mut bindings::page,
        offset: u32,
        len: u32,
    ) -> Segment {
        // SAFETY: `page` is a valid page per the function contract, never NULL.
        Segment {
            page: unsafe { NonNull::new_unchecked(page) },
            offset,
            len,
        }
    }

    /// A second segment over the same bytes, for a brick that passes a request's data down in
    /// a request of its own (the child), e.g. a read whose completion it must see first.
    ///
    /// # Safety
    /// The alias must not be used in IO after the request owning `self` completed: the
    /// caller holds that request until the child's IO completed.
    pub(crate) unsafe fn alias(&self) -> Segment {
        Segment {
            page: self.page,
            offset: self.offset,
            len: self.len,
        }
    }

    /// Maps the segment's page and runs `f` on the segment's bytes.
    fn with_mapped<R>(&self, f: impl FnOnce(*mut u8) -> R) -> R {
        // SAFETY: the page is alive while the segment is reachable (see the type's doc); on
        // 64-bit every page is in the direct map. Unmapped below after the last use.
        let addr = unsafe { bindings::kmap_local_page(self.page.as_ptr()) };
        // SAFETY: `offset` lies inside the page (invariant of every constructor).
        let start = unsafe { addr.cast::<u8>().add(self.offset as usize) };
        let result = f(start);
        // SAFETY: `addr` came from kmap_local_page just above, in this task.
        unsafe { bindings::kunmap_local(addr) };
        result
    }

    /// Copies `dst.len()` bytes of the segment, starting `offset` bytes into it, into `dst`.
    /// EINVAL when the range exceeds the segment. Any context.
    pub(crate) fn read_at(&self, offset: u32, dst: &mut [u8]) -> Result {
        let len = u32::try_from(dst.len()).map_err(|_| EINVAL)?;
        if offset.checked_add(len).map_or(true, |end| end > self.len) {
            return Err(EINVAL);
        }
        self.with_mapped(|start| {
            // SAFETY: `[offset, offset + len)` lies inside the segment (checked above), which
            // lies inside its mapped page; `dst` is a distinct buffer of `len` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    start.add(offset as usize),
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            }
        });
        Ok(())
    }

    /// Copies `src` into the segment, starting `offset` bytes into it (the data of a read
    /// request being served). EINVAL when the range exceeds the segment. Any context.
    pub(crate) fn write_at(&self, offset: u32, src: &[u8]) -> Result {
        let len = u32::try_from(src.len()).map_err(|_| EINVAL)?;
        if offset.checked_add(len).map_or(true, |end| end > self.len) {
            return Err(EINVAL);
        }
        self.with_mapped(|start| {
            // SAFETY: as in `read_at`; the owner of a read request hands its pages to the
            // holder of the request to be filled, so nobody else accesses them meanwhile.
            unsafe {
                core::ptr::copy_nonoverlapping(src.as_ptr(), start.add(offset as usize), src.len())
            }
        });
        Ok(())
    }
}

/// The operation of a bio.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BioOp {
    /// Read the segments' range from the device.
    Read,
    /// Write the segments to the device.
    Write,
    /// An empty write with a cache flush: makes every completed write durable.
    Flush,
}

/// Modifiers of a [`BioOp::Write`]; ignored for the other operations.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BioFlags {
    /// Forced unit access: the data is durable when the bio completes.
    pub(crate) fua: bool,
    /// Flush the device cache before writing (REQ_PREFLUSH).
    pub(crate) preflush: bool,
    /// Somebody waits for this IO (REQ_SYNC): do not delay it for batching.
    pub(crate) sync: bool,
}

impl BioFlags {
    fn opf(self, op: BioOp) -> bindings::blk_opf_t {
        let mut opf = match op {
            BioOp::Read => bindings::req_op_REQ_OP_READ,
            BioOp::Write => bindings::req_op_REQ_OP_WRITE,
            BioOp::Flush => bindings::req_op_REQ_OP_WRITE | mars_bindings::MARS_REQ_PREFLUSH,
        };
        if op == BioOp::Write {
            if self.fua {
                opf |= mars_bindings::MARS_REQ_FUA;
            }
            if self.preflush {
                opf |= mars_bindings::MARS_REQ_PREFLUSH;
            }
        }
        if self.sync {
            opf |= mars_bindings::MARS_REQ_SYNC;
        }
        opf
    }
}

/// What rides in a bio: the upper layer's request, which also owns the data pages.
pub(crate) trait BioRequest: Send + Sized {
    /// The data of the bio. Must not change while the request is submitted.
    fn segments(&self) -> &[Segment];
    /// Called exactly once when the bio completed (or could not be submitted), with the
    /// bio's status. Runs in atomic context (softirq or hardirq) unless submission failed,
    /// then in the submitter's context: never sleep here.
    fn end_io(self, status: Result);
}

/// Tag that makes the holder pointer of an exclusive open unique to one [`BlockDevice`].
struct Holder(#[allow(dead_code)] u8); // never read: only its address matters

/// A block device opened read-write and exclusively by this module; closed on drop.
///
/// # Invariants
/// `file` is a block device file from `bdev_file_open_by_path` claimed with the address of
/// `holder` as holder, and `bdev` is its `file_bdev`. Both stay valid until drop.
pub(crate) struct BlockDevice {
    file: NonNull<bindings::file>,
    bdev: NonNull<bindings::block_device>,
    _holder: KBox<Holder>,
}

// SAFETY: the handle is used from any thread; the block layer synchronises the device.
unsafe impl Send for BlockDevice {}
// SAFETY: shared use only reads sizes or submits bios, both thread-safe in the block layer.
unsafe impl Sync for BlockDevice {}

impl BlockDevice {
    /// Opens the block device at `path` for reading and writing, exclusively: EBUSY when
    /// something else holds it exclusively (a mounted filesystem, another MARS brick),
    /// ENOENT/ENOTBLK for a wrong path. Process context.
    pub(crate) fn open(path: &CStr) -> Result<Self> {
        let holder = KBox::new(Holder(0), GFP_KERNEL)?;
        let holder_ptr = (&*holder as *const Holder)
            .cast_mut()
            .cast::<kernel::ffi::c_void>();
        // SAFETY: `path` is NUL-terminated; the holder is a unique address that lives as long
        // as the returned handle, which releases the claim before dropping it; no holder ops.
        let file = from_err_ptr(unsafe {
            bindings::bdev_file_open_by_path(
                path.as_char_ptr(),
                mars_bindings::MARS_BLK_OPEN_READ | mars_bindings::MARS_BLK_OPEN_WRITE,
                holder_ptr,
                core::ptr::null(),
            )
        })?;
        let file = NonNull::new(file).ok_or(ENOMEM)?;
        // SAFETY: `file` is an open block device file.
        let bdev = unsafe { bindings::file_bdev(file.as_ptr()) };
        let Some(bdev) = NonNull::new(bdev) else {
            // SAFETY: `file` came from `bdev_file_open_by_path` and is released once here.
            unsafe { bindings::bdev_fput(file.as_ptr()) };
            return Err(EINVAL);
        };
        // INVARIANT: opened and claimed with `holder`, which moves into the handle.
        Ok(BlockDevice {
            file,
            bdev,
            _holder: holder,
        })
    }

    /// Size of the device in bytes.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: `bdev` is valid by the type invariant.
        let bytes = unsafe { mars_bindings::mars_helper_bdev_nr_bytes(self.bdev.as_ptr()) };
        u64::try_from(bytes).unwrap_or(0)
    }

    /// The device's logical block size: the smallest unit it can address.
    pub(crate) fn logical_block_size(&self) -> u32 {
        // SAFETY: `bdev` is valid by the type invariant.
        unsafe { mars_bindings::mars_helper_bdev_logical_block_size(self.bdev.as_ptr()) }
    }
}

impl Drop for BlockDevice {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `file` is open; this releases the exclusive claim and
        // the file exactly once. Bios still in flight hold their own device references.
        unsafe { bindings::bdev_fput(self.file.as_ptr()) };
    }
}

/// A private pool of bios whose front pad carries a request of type `T` (BIOSET_NEED_RESCUER:
/// allocating while bios of the same set wait on `current->bio_list` cannot deadlock).
///
/// Dropping the set requires that no bio of it is in flight any more: its owner drains first
/// (see `brick::InFlight`).
///
/// # Invariants
/// `set` was initialised by `bioset_init` with front pad [`Self::FRONT_PAD`] and is exited
/// on drop; every bio allocated from it has an initialised `T` in its front pad from
/// allocation until its completion trampoline moves it out.
pub(crate) struct BioSet<T: BioRequest> {
    set: Pin<KBox<Opaque<bindings::bio_set>>>,
    _request: PhantomData<T>,
}

// SAFETY: a bio_set is internally synchronised (mempools); `T` values only move through it.
unsafe impl<T: BioRequest> Send for BioSet<T> {}
// SAFETY: as above.
unsafe impl<T: BioRequest> Sync for BioSet<T> {}

impl<T: BioRequest> BioSet<T> {
    /// Bytes in front of each bio: room for one `T`, keeping the bio itself aligned.
    const FRONT_PAD: usize = {
        // A slab object (the front pad starts it) is only guaranteed 8-byte alignment.
        assert!(align_of::<T>() <= 8);
        let align = align_of::<bindings::bio>();
        (size_of::<T>() + align - 1) / align * align
    };

    /// Creates a pool that guarantees progress for `pool_size` bios in flight. Process
    /// context.
    pub(crate) fn new(pool_size: u32) -> Result<Self> {
        let set = KBox::pin(Opaque::<bindings::bio_set>::uninit(), GFP_KERNEL)?;
        let front_pad = u32::try_from(Self::FRONT_PAD).map_err(|_| EINVAL)?;
        let flags = bindings::BIOSET_NEED_BVECS | bindings::BIOSET_NEED_RESCUER;
        // SAFETY: `set` points to writable, pinned memory for a bio_set. bioset_init expects
        // it zeroed (it only sets what it uses; e.g. the per-cpu cache stays NULL).
        to_result(unsafe {
            core::ptr::write_bytes(set.get(), 0, 1);
            bindings::bioset_init(set.get(), pool_size, front_pad, flags as kernel::ffi::c_int)
        })?;
        // INVARIANT: initialised with FRONT_PAD just above.
        Ok(BioSet {
            set,
            _request: PhantomData,
        })
    }

    /// Where the request of `bio` lives.
    ///
    /// # Safety
    /// `bio` must have been allocated from a set with front pad [`Self::FRONT_PAD`].
    unsafe fn slot(bio: *mut bindings::bio) -> *mut MaybeUninit<T> {
        // SAFETY: per the function contract the front pad precedes the bio in one allocation.
        unsafe {
            bio.cast::<u8>()
                .sub(Self::FRONT_PAD)
                .cast::<MaybeUninit<T>>()
        }
    }

    /// Builds one bio for `request` at byte position `pos` of `device` and submits it. The
    /// request rides in the bio and gets [`BioRequest::end_io`] exactly once: with the bio's
    /// status, or at once with EINVAL if it cannot be expressed as a bio (unaligned position
    /// or length, no data for a read or write, more than [`MAX_SEGMENTS`] segments).
    ///
    /// May sleep (bio allocation waits for the mempool); process context only.
    pub(crate) fn submit(
        &self,
        device: &BlockDevice,
        op: BioOp,
        flags: BioFlags,
        pos: u64,
        request: T,
    ) {
        let segments = request.segments();
        let total: u64 = segments.iter().map(|s| u64::from(s.len())).sum();
        let aligned = |v: u64| v % u64::from(device.logical_block_size().max(SECTOR_SIZE)) == 0;
        let nr_vecs = match op {
            BioOp::Flush => Some(0),
            BioOp::Read | BioOp::Write if total > 0 && aligned(pos) && aligned(total) => {
                u16::try_from(segments.len())
                    .ok()
                    .filter(|&n| usize::from(n) <= MAX_SEGMENTS)
            }
            _ => None,
        };
        let Some(nr_vecs) = nr_vecs else {
            request.end_io(Err(EINVAL));
            return;
        };
        let sector = match op {
            BioOp::Flush => 0,
            _ => pos / u64::from(SECTOR_SIZE),
        };
        // SAFETY: the device is open (type invariant of `BlockDevice`) and the set is
        // initialised; with a sleeping GFP mask the mempool-backed allocation cannot fail.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                device.bdev.as_ptr(),
                nr_vecs,
                flags.opf(op),
                mars_bindings::MARS_GFP_NOIO,
                self.set.get(),
            )
        };
        if bio.is_null() {
            request.end_io(Err(ENOMEM));
            return;
        }
        // SAFETY: `bio` comes from this set, so its front pad has room for a `T`; writing it
        // establishes the set's invariant for this bio.
        let request: &T = unsafe { (*Self::slot(bio)).write(request) };
        let mut added = true;
        for segment in request.segments() {
            // SAFETY: `bio` is a fresh bio with `nr_vecs` vectors; the page is kept alive by
            // the request, which lives in the bio until completion.
            let n = unsafe {
                bindings::bio_add_page(bio, segment.page.as_ptr(), segment.len, segment.offset)
            };
            if u32::try_from(n).ok() != Some(segment.len) {
                added = false;
                break;
            }
        }
        if !added {
            // SAFETY: the request was written above and is moved out exactly once; the bio
            // was never submitted, so it is ours to put.
            let request = unsafe { (*Self::slot(bio)).assume_init_read() };
            // SAFETY: as above.
            unsafe { bindings::bio_put(bio) };
            request.end_io(Err(EINVAL));
            return;
        }
        // SAFETY: `bio` is fully built: data, device, operation; completion goes to the
        // trampoline of this `T`, which matches the request stored in the front pad.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_end_io = Some(Self::end_io_trampoline);
            bindings::submit_bio(bio);
        }
    }

    /// The `bi_end_io` of every bio of this set.
    ///
    /// # Safety
    /// Called by the block layer only, once per bio submitted by [`Self::submit`].
    unsafe extern "C" fn end_io_trampoline(bio: *mut bindings::bio) {
        // SAFETY: the bio is completed and still ours until bio_put below.
        let status = unsafe { (*bio).bi_status };
        // SAFETY: per the type invariant the front pad holds this bio's request; the bio
        // completes once, so it is moved out exactly once.
        let request = unsafe { (*Self::slot(bio)).assume_init_read() };
        // SAFETY: the bio is ours and no longer used; its pool outlives it (the owner of the
        // set drains in-flight requests before dropping it, and `request` holds that count).
        unsafe { bindings::bio_put(bio) };
        // SAFETY: plain conversion of a status code.
        let errno = unsafe { bindings::blk_status_to_errno(status) };
        request.end_io(if errno == 0 {
            Ok(())
        } else {
            Err(Error::from_errno(errno))
        });
    }
}

impl<T: BioRequest> Drop for BioSet<T> {
    fn drop(&mut self) {
        // SAFETY: initialised per the type invariant; the owner has drained every bio.
        unsafe { bindings::bioset_exit(self.set.get()) };
    }
}
