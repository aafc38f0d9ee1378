// SPDX-License-Identifier: GPL-2.0
//! An owned blk-mq block device (gendisk): own tag set; typed per-request data preallocated
//! with each tag; requests handed to the driver in a worker, where it may sleep and submit
//! IO; fops owned by this module, so an open device pins it; open counting with refusal of
//! removal while open.
//!
//! The 6.12 `kernel::block::mq` abstraction cannot make a blocking tag set, has no request
//! accessors or error completion and leaves `fops.owner` NULL (research/rfl.md §1.4), hence
//! this wrapper.
//!
//! Contexts: [`BlkOps::queue_rq`] runs in a worker of the disk's own workqueue
//! (WQ_MEM_RECLAIM, so it makes progress under memory pressure): process context, may sleep.
//! It is not called from blk-mq's `queue_rq` itself, even with BLK_MQ_F_BLOCKING, because a
//! driver that submits bios from there re-enters the plug that blk-mq is flushing (seen as a
//! corrupted plug list in `blk_add_rq_to_plug`) and runs under the submitter's
//! `current->bio_list`. A [`Request`] may be ended from any context, including hardirq.
//! [`Disk::new`] and [`Disk::remove`] sleep.
//!
//! The disk's flush queue gets a lock class of its own: its flushes complete from inside the
//! lower device's flush completion, which holds a lock of the block layer's shared class.
//!
//! Teardown: [`Disk::remove`] refuses with EBUSY while the device is open (new opens fail
//! from the moment removal has started); otherwise `del_gendisk` waits for every request in
//! flight to end, and only then are the queue data and the tag set (with the per-request
//! data) freed. The open counter lives apart from the driver data and is freed by the block
//! layer's `free_disk` callback, when the last reference to the gendisk is gone.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use super::bindings as mars_bindings;
use super::bio::Segment;
use kernel::bindings;
use kernel::error::code::{E2BIG, EBUSY, EINVAL, ENOMEM, ENXIO};
use kernel::error::{from_err_ptr, from_result, to_result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::{ForeignOwnable, Opaque, ScopeGuard};

/// Sector size of the block layer; capacities are set in these units.
const SECTOR_SIZE: u64 = bindings::SECTOR_SIZE as u64;

/// The driver side of a [`Disk`].
pub(crate) trait BlkOps: Send + Sync + Sized + 'static {
    /// Per-request driver data, created once per tag when the disk is made and reused by
    /// every request that gets the tag.
    type Pdu: Send + Sync;

    /// Creates the data of one tag (process context, may allocate with GFP_KERNEL).
    fn new_pdu() -> Result<Self::Pdu>;

    /// Takes over one request. Runs in a worker of the disk: process context, may sleep and
    /// submit IO. The request must be ended exactly once, here or later from any context
    /// ([`Request::end`]).
    fn queue_rq(&self, request: Request<Self::Pdu>);

    /// Called after every successful open and every release (any process context, must not
    /// sleep long): lets the owner report the open count.
    fn open_changed() {}
}

/// The operation of a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RequestOp {
    /// Read data.
    Read,
    /// Write data (possibly with forced unit access, see [`Request::is_fua`]).
    Write,
    /// Make every completed write durable (an empty request).
    Flush,
    /// Anything else (discard, write zeroes, zone or driver operations): not advertised.
    Other,
}

/// One request of a [`Disk`], owned by the driver from `queue_rq` until [`Request::end`].
///
/// Dropping it unended ends it with EIO, so a request is never lost.
///
/// # Invariants
/// `rq` is a started request of a disk whose per-request data is an initialised `Slot<P>`;
/// this value is its only owner until it is ended.
pub(crate) struct Request<P> {
    rq: NonNull<bindings::request>,
    _pdu: PhantomData<P>,
}

// SAFETY: a started request may be ended from any thread; `P` is shareable.
unsafe impl<P: Send + Sync> Send for Request<P> {}
// SAFETY: `&Request` only reads immutable request fields and `&P`.
unsafe impl<P: Send + Sync> Sync for Request<P> {}

impl<P> Request<P> {
    fn raw(&self) -> *mut bindings::request {
        self.rq.as_ptr()
    }

    /// Byte position on the device.
    pub(crate) fn pos(&self) -> u64 {
        // SAFETY: the request is valid by the type invariant.
        let sector = unsafe { mars_bindings::mars_helper_blk_rq_pos(self.raw()) };
        sector.saturating_mul(SECTOR_SIZE)
    }

    /// Length in bytes (0 for a flush).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the request is valid by the type invariant.
        unsafe { mars_bindings::mars_helper_blk_rq_bytes(self.raw()) }
    }

    fn cmd_flags(&self) -> bindings::blk_opf_t {
        // SAFETY: the request is valid; cmd_flags does not change while it is in flight.
        unsafe { (*self.raw()).cmd_flags }
    }

    /// The operation.
    pub(crate) fn op(&self) -> RequestOp {
        match self.cmd_flags() & mars_bindings::MARS_REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => RequestOp::Read,
            bindings::req_op_REQ_OP_WRITE => RequestOp::Write,
            bindings::req_op_REQ_OP_FLUSH => RequestOp::Flush,
            _ => RequestOp::Other,
        }
    }

    /// Forced unit access: the data must be durable when the request ends.
    pub(crate) fn is_fua(&self) -> bool {
        self.cmd_flags() & mars_bindings::MARS_REQ_FUA != 0
    }

    /// Somebody waits for this request (REQ_SYNC).
    pub(crate) fn is_sync(&self) -> bool {
        self.cmd_flags() & mars_bindings::MARS_REQ_SYNC != 0
    }

    fn slot(&self) -> *mut Slot<P> {
        // SAFETY: the request is valid; its pdu area is a `Slot<P>` (type invariant).
        unsafe { bindings::blk_mq_rq_to_pdu(self.raw()).cast::<Slot<P>>() }
    }

    /// The per-request data.
    pub(crate) fn pdu(&self) -> &P {
        // SAFETY: by the type invariant the pdu is an initialised `P`, shared only through
        // this owner.
        unsafe { &(*self.slot()).pdu }
    }

    /// The per-request data, mutably: this handle is its only owner.
    pub(crate) fn pdu_mut(&mut self) -> &mut P {
        // SAFETY: as in `pdu`; `&mut self` excludes every other access.
        unsafe { &mut (*self.slot()).pdu }
    }

    /// Replaces the contents of `out` by the request's data segments, in order, adjacent
    /// ranges of one page merged. Never allocates: E2BIG if they exceed `out`'s capacity.
    pub(crate) fn read_segments(&self, out: &mut KVec<Segment>) -> Result {
        // SAFETY: segments are plain data without drop; emptying keeps the allocation.
        unsafe { out.set_len(0) };
        let ctx: *mut KVec<Segment> = out;
        // SAFETY: the request is valid; the callback gets `ctx`, a live exclusive `KVec`, and
        // is only called during this call.
        to_result(unsafe {
            mars_bindings::mars_helper_rq_for_each_segment(
                self.raw(),
                Some(add_segment),
                ctx.cast(),
            )
        })
    }

    /// Ends the request with `status`. Any context.
    pub(crate) fn end(self, status: Result) {
        let rq = self.raw();
        core::mem::forget(self);
        // SAFETY: `rq` is a started request owned by us (type invariant); ending it gives it
        // back to the block layer exactly once (`self` is forgotten, so Drop does not run).
        unsafe { end_raw(rq, status) };
    }

    /// Gives up the handle for storing it elsewhere; [`Request::from_raw`] takes it back.
    pub(crate) fn into_raw(self) -> *mut kernel::ffi::c_void {
        let rq = self.raw();
        core::mem::forget(self);
        rq.cast()
    }

    /// Takes back a handle given up with [`Request::into_raw`].
    ///
    /// # Safety
    /// `raw` comes from `Request::<P>::into_raw` and is taken back at most once.
    pub(crate) unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // INVARIANT: per the function contract this is the original, unique handle.
        // SAFETY: `into_raw` returned a non-null request pointer.
        Request {
            rq: unsafe { NonNull::new_unchecked(raw.cast()) },
            _pdu: PhantomData,
        }
    }
}

impl<P> Drop for Request<P> {
    fn drop(&mut self) {
        pr_err!("blk: request dropped without being ended; ending it with EIO\n");
        // SAFETY: the request is still owned (the ending paths forget `self`).
        unsafe { end_raw(self.raw(), Err(kernel::error::code::EIO)) };
    }
}

/// Appends one single-page segment of a request to the `KVec<Segment>` at `ctx`, extending
/// the last one when it continues it inside the same page. Returns -E2BIG when full.
///
/// # Safety
/// `ctx` is a `*mut KVec<Segment>` that is valid and not otherwise accessed during the call;
/// `page` is a page of a live request.
unsafe extern "C" fn add_segment(
    ctx: *mut kernel::ffi::c_void,
    page: *mut bindings::page,
    offset: kernel::ffi::c_uint,
    len: kernel::ffi::c_uint,
) -> kernel::ffi::c_int {
    // SAFETY: per the function contract.
    let out = unsafe { &mut *ctx.cast::<KVec<Segment>>() };
    let Some(page) = NonNull::new(page) else {
        return EINVAL.to_errno();
    };
    if let Some(last) = out.as_mut_slice().last_mut() {
        if last.page == page && last.offset.checked_add(last.len) == Some(offset) {
            last.len = last.len.saturating_add(len);
            return 0;
        }
    }
    if out.len() == out.capacity() {
        return E2BIG.to_errno();
    }
    // Within capacity: the push does not allocate (GFP_NOWAIT only as a formality).
    match out.push(Segment { page, offset, len }, GFP_NOWAIT) {
        Ok(()) => 0,
        Err(_) => E2BIG.to_errno(),
    }
}

/// Ends a started request.
///
/// # Safety
/// `rq` is a started request owned by the caller, which gives it up.
unsafe fn end_raw(rq: *mut bindings::request, status: Result) {
    let errno = match status {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    // SAFETY: per the function contract; both calls work in any context.
    unsafe { bindings::blk_mq_end_request(rq, bindings::errno_to_blk_status(errno)) };
}

/// The per-request data area of a disk: the worker item that hands the request to the driver,
/// then the driver's data. `work` comes first, so a work pointer is a slot pointer.
#[repr(C)]
struct Slot<P> {
    work: Opaque<bindings::work_struct>,
    pdu: P,
}

/// A workqueue of this module; destroyed (after running what is queued) on drop.
///
/// # Invariants
/// `0` came from `alloc_workqueue` and is destroyed exactly once, on drop.
struct Workqueue(NonNull<bindings::workqueue_struct>);

impl Workqueue {
    /// A WQ_MEM_RECLAIM queue (it has a rescuer thread, so IO makes progress when memory is
    /// short) named `name`. Process context.
    fn new(name: &CStr) -> Result<Self> {
        let flags = bindings::wq_flags_WQ_MEM_RECLAIM | bindings::wq_flags_WQ_HIGHPRI;
        // SAFETY: "%s" with one NUL-terminated string argument; max_active 0 is the default.
        let wq = unsafe {
            bindings::alloc_workqueue(
                kernel::c_str!("%s").as_char_ptr(),
                flags,
                0,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: freshly allocated.
        Ok(Workqueue(NonNull::new(wq).ok_or(ENOMEM)?))
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: allocated per the type invariant; destroy waits for queued and running work.
        unsafe { bindings::destroy_workqueue(self.0.as_ptr()) };
    }
}

/// Open accounting of one disk; the block layer's open and release callbacks update it.
/// Freed by the `free_disk` callback, so a late release never touches freed memory.
struct DiskState {
    /// Number of opens, plus [`DiskState::REMOVING`] once removal started.
    opens: AtomicU32,
    /// The driver's [`BlkOps::open_changed`].
    open_changed: fn(),
}

impl DiskState {
    const REMOVING: u32 = 1 << 31;
}

/// Limits and identity of a new [`Disk`].
pub(crate) struct DiskConfig<'a> {
    /// Name under /dev (at most 31 bytes); a '/' makes devtmpfs create a directory.
    pub(crate) name: &'a CStr,
    /// Size in bytes (rounded down to whole sectors).
    pub(crate) capacity: u64,
    /// Logical block size: the smallest IO unit (a power of two, 512..PAGE_SIZE).
    pub(crate) logical_block_size: u32,
    /// Requests in flight at most.
    pub(crate) queue_depth: u32,
    /// Longest request in bytes.
    pub(crate) max_request_bytes: u32,
    /// Most data segments per request; each segment lies inside one page, so this also
    /// bounds [`Request::read_segments`].
    pub(crate) max_segments: u16,
}

/// A blk-mq tag set, pinned; freed on drop.
///
/// # Invariants
/// `set` was allocated by `blk_mq_alloc_tag_set` and is freed exactly once on drop.
struct TagSet {
    set: Pin<KBox<Opaque<bindings::blk_mq_tag_set>>>,
}

impl Drop for TagSet {
    fn drop(&mut self) {
        // SAFETY: allocated per the type invariant; no queue uses it any more (the disk was
        // deleted first, see `Disk::drop`).
        unsafe { bindings::blk_mq_free_tag_set(self.set.get()) };
    }
}

/// A live block device served by `T`. Removed on drop (which must not happen while it is
/// open: use [`Disk::remove`] wherever that is possible).
///
/// # Invariants
/// `gendisk` was added with `device_add_disk` over the tag set `tag_set`, whose driver data
/// is the workqueue `workqueue`; its queue data is `data` (foreign-owned `Arc<T>`, taken back
/// on drop) and its private data an `Arc<DiskState>` foreign reference released by
/// `free_disk`. `workqueue` and `tag_set` are `Some` until drop.
pub(crate) struct Disk<T: BlkOps> {
    gendisk: NonNull<bindings::gendisk>,
    state: Arc<DiskState>,
    data: *const kernel::ffi::c_void,
    workqueue: Option<Workqueue>,
    tag_set: Option<TagSet>,
    _data: PhantomData<Arc<T>>,
}

// SAFETY: the gendisk is used only through thread-safe block-layer calls; `T` is Send + Sync.
unsafe impl<T: BlkOps> Send for Disk<T> {}
// SAFETY: `&Disk` only reads the open counter or sets the capacity, which is thread-safe.
unsafe impl<T: BlkOps> Sync for Disk<T> {}

/// Lockdep class of the disks' "(bio completion)" map (`blk_mq_alloc_disk` makes one per call
/// site; lockdep wants a static key).
struct LockClass(Opaque<bindings::lock_class_key>);

// SAFETY: only lockdep uses the key, through its own synchronisation.
unsafe impl Sync for LockClass {}

static DISK_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
/// Lockdep class of the disks' flush queue locks (see the module documentation).
static FLUSH_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
/// Lockdep class of the per-request work items.
static WORK_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());

/// The block device operations of every disk of this module.
struct Fops(bindings::block_device_operations);

// SAFETY: the table is immutable; its pointers are to this module and its functions.
unsafe impl Sync for Fops {}

static FOPS: Fops = Fops(bindings::block_device_operations {
    open: Some(open_callback),
    release: Some(release_callback),
    free_disk: Some(free_disk_callback),
    #[cfg(MODULE)]
    owner: core::ptr::addr_of_mut!(bindings::__this_module),
    #[cfg(not(MODULE))]
    owner: core::ptr::null_mut(),
    // SAFETY: all-zero is valid for the remaining fields (None / NULL).
    ..unsafe { core::mem::zeroed() }
});

impl<T: BlkOps> Disk<T> {
    const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(queue_rq_callback::<T>),
        init_hctx: Some(init_hctx_callback),
        init_request: Some(init_request_callback::<T>),
        exit_request: Some(exit_request_callback::<T>),
        // SAFETY: all-zero is valid for the remaining fields (None).
        ..unsafe { core::mem::zeroed() }
    };

    /// Creates the block device `/dev/<name>` served by `data` and makes it visible. Process
    /// context.
    pub(crate) fn new(config: &DiskConfig<'_>, data: Arc<T>) -> Result<Self> {
        const {
            assert!(align_of::<Slot<T::Pdu>>() <= align_of::<bindings::request>());
        }
        let cmd_size = u32::try_from(size_of::<Slot<T::Pdu>>()).map_err(|_| EINVAL)?;
        let workqueue = Workqueue::new(config.name)?;
        let set = KBox::pin(Opaque::<bindings::blk_mq_tag_set>::uninit(), GFP_KERNEL)?;
        // SAFETY: all-zero is a valid tag set template; the fields blk-mq needs are set next.
        let mut template: bindings::blk_mq_tag_set = unsafe { core::mem::zeroed() };
        template.ops = &Self::OPS;
        template.nr_hw_queues = 1;
        template.nr_maps = 1;
        template.queue_depth = config.queue_depth;
        template.numa_node = bindings::NUMA_NO_NODE;
        template.cmd_size = cmd_size;
        template.flags = bindings::BLK_MQ_F_SHOULD_MERGE;
        template.driver_data = workqueue.0.as_ptr().cast();
        // SAFETY: `set` is pinned writable memory for a tag set; blk_mq_alloc_tag_set keeps
        // pointers into it, which stay valid because it never moves until freed. The driver
        // data (the workqueue) outlives every queue of the set (see `Disk::drop`).
        to_result(unsafe {
            set.get().write(template);
            bindings::blk_mq_alloc_tag_set(set.get())
        })?;
        // INVARIANT: allocated just above.
        let tag_set = TagSet { set };

        // SAFETY: all-zero limits mean "defaults" to blk_validate_limits; the ones set here
        // are valid by construction (segment size and boundary at the allowed minimum).
        let mut limits: bindings::queue_limits = unsafe { core::mem::zeroed() };
        limits.logical_block_size = config.logical_block_size;
        limits.physical_block_size = config.logical_block_size;
        limits.max_hw_sectors = config.max_request_bytes / bindings::SECTOR_SIZE;
        limits.max_segments = config.max_segments;
        limits.max_segment_size = bindings::PAGE_SIZE as u32;
        limits.seg_boundary_mask = (bindings::PAGE_SIZE - 1) as kernel::ffi::c_ulong;
        limits.features = mars_bindings::MARS_BLK_FEAT_WRITE_CACHE
            | mars_bindings::MARS_BLK_FEAT_FUA
            | mars_bindings::MARS_BLK_FEAT_IO_STAT;

        let data = data.into_foreign();
        let data_guard = ScopeGuard::new_with_data(data, |data| {
            // SAFETY: `data` came from `into_foreign` above and is not used any more.
            drop(unsafe { Arc::<T>::from_foreign(data) });
        });
        // SAFETY: the tag set is allocated; `limits` is valid for the call; the queue data
        // stays valid until the disk is deleted (drop); the lock class key is static.
        let gendisk = from_err_ptr(unsafe {
            bindings::__blk_mq_alloc_disk(
                tag_set.set.get(),
                &mut limits,
                data.cast_mut(),
                DISK_LOCK_CLASS.0.get(),
            )
        })?;
        let gendisk = NonNull::new(gendisk).ok_or(EINVAL)?;
        let put_guard = ScopeGuard::new_with_data(gendisk, |gendisk| {
            // SAFETY: allocated above and not added: put_disk frees it and its queue.
            unsafe { bindings::put_disk(gendisk.as_ptr()) };
        });

        let state = Arc::new(
            DiskState {
                opens: AtomicU32::new(0),
                open_changed: T::open_changed,
            },
            GFP_KERNEL,
        )?;
        let state_ptr = state.clone().into_foreign();
        let state_guard = ScopeGuard::new_with_data(state_ptr, |ptr| {
            // SAFETY: `ptr` came from `into_foreign` and the disk was never added, so the
            // block layer never calls free_disk for it.
            drop(unsafe { Arc::<DiskState>::from_foreign(ptr) });
        });

        // SAFETY: the gendisk is allocated and not yet visible, so we are its only user.
        unsafe {
            let disk = gendisk.as_ptr();
            (*disk).fops = &FOPS.0;
            (*disk).private_data = state_ptr.cast_mut();
            (*disk).flags |= bindings::GENHD_FL_NO_PART as kernel::ffi::c_int;
            copy_name(&mut (*disk).disk_name, config.name)?;
            bindings::set_capacity(disk, config.capacity / SECTOR_SIZE);
            to_result(bindings::device_add_disk(
                core::ptr::null_mut(),
                disk,
                core::ptr::null_mut(),
            ))?;
        }
        // From here on the block layer owns the state reference (free_disk releases it).
        state_guard.dismiss();
        put_guard.dismiss();
        let data = data_guard.dismiss();
        // INVARIANT: added over `tag_set` with queue data `data` and state `state_ptr`.
        Ok(Disk {
            gendisk,
            state,
            data,
            workqueue: Some(workqueue),
            tag_set: Some(tag_set),
            _data: PhantomData,
        })
    }

    /// Number of times the device is open now.
    pub(crate) fn open_count(&self) -> u32 {
        self.state.opens.load(Ordering::Relaxed) & !DiskState::REMOVING
    }

    /// Changes the size of the device (rounded down to whole sectors); when it changed, udev
    /// hears of it (a change uevent with RESIZE=1).
    pub(crate) fn set_capacity(&self, bytes: u64) {
        // SAFETY: the gendisk is live by the type invariant; set_capacity_and_notify is
        // thread-safe (it only sets the capacity and sends a uevent when it changed).
        unsafe { bindings::set_capacity_and_notify(self.gendisk.as_ptr(), bytes / SECTOR_SIZE) };
    }

    /// Removes the device unless it is open (EBUSY, and the disk stays). Waits for requests
    /// in flight to end. Process context.
    pub(crate) fn remove(self) -> core::result::Result<(), (Self, Error)> {
        match self.state.opens.compare_exchange(
            0,
            DiskState::REMOVING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()), // dropping `self` deletes the disk
            Err(_) => Err((self, EBUSY)),
        }
    }
}

impl<T: BlkOps> Drop for Disk<T> {
    fn drop(&mut self) {
        // No new opens from here on (normally already set by `remove`).
        self.state
            .opens
            .fetch_or(DiskState::REMOVING, Ordering::AcqRel);
        if self.open_count() != 0 {
            pr_err!("blk: deleting a disk that is still open\n");
        }
        // SAFETY: the disk was added (type invariant). del_gendisk waits for all requests in
        // flight and stops the queue; put_disk drops our reference (free_disk releases the
        // state once the last one is gone).
        unsafe {
            bindings::del_gendisk(self.gendisk.as_ptr());
            bindings::put_disk(self.gendisk.as_ptr());
        }
        // Every request has ended; wait for the workers that handed them over to return.
        drop(self.workqueue.take());
        // The queue is gone: nothing calls into `T` any more; the tag set (and the pdus) go
        // next, then the queue data.
        drop(self.tag_set.take());
        // SAFETY: `data` came from `Arc::<T>::into_foreign` in `new` and is taken back once.
        drop(unsafe { Arc::<T>::from_foreign(self.data) });
    }
}

/// Writes `name` NUL-terminated into a gendisk's name field; EINVAL if it does not fit.
fn copy_name(field: &mut [kernel::ffi::c_char], name: &CStr) -> Result {
    let bytes = name.as_bytes_with_nul();
    let dest = field.get_mut(..bytes.len()).ok_or(EINVAL)?;
    dest.copy_from_slice(bytes);
    Ok(())
}

/// `block_device_operations.open`: counts opens, refuses once removal started.
///
/// # Safety
/// Called by the block layer for a disk made by [`Disk::new`].
unsafe extern "C" fn open_callback(
    disk: *mut bindings::gendisk,
    _mode: bindings::blk_mode_t,
) -> kernel::ffi::c_int {
    // SAFETY: private_data holds the foreign `Arc<DiskState>`, released only by free_disk,
    // which cannot run while the block layer is opening the disk.
    let state = unsafe { Arc::<DiskState>::borrow((*disk).private_data) };
    let result = state
        .opens
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n & DiskState::REMOVING == 0).then(|| n.saturating_add(1))
        });
    match result {
        Ok(_) => {
            (state.open_changed)();
            0
        }
        Err(_) => ENXIO.to_errno(),
    }
}

/// `block_device_operations.release`: undoes one successful open.
///
/// # Safety
/// Called by the block layer for a disk made by [`Disk::new`], once per successful open.
unsafe extern "C" fn release_callback(disk: *mut bindings::gendisk) {
    // SAFETY: as in `open_callback`.
    let state = unsafe { Arc::<DiskState>::borrow((*disk).private_data) };
    state.opens.fetch_sub(1, Ordering::AcqRel);
    (state.open_changed)();
}

/// `block_device_operations.free_disk`: the last reference to the gendisk is gone.
///
/// # Safety
/// Called by the block layer once per added disk made by [`Disk::new`].
unsafe extern "C" fn free_disk_callback(disk: *mut bindings::gendisk) {
    // SAFETY: private_data holds the foreign `Arc<DiskState>` reference given to the block
    // layer in `Disk::new`; this is its last use.
    drop(unsafe { Arc::<DiskState>::from_foreign((*disk).private_data) });
}

/// `blk_mq_ops.init_hctx`: the hardware context learns the workqueue; its flush queue gets
/// this module's lock class.
///
/// # Safety
/// Called by blk-mq for a tag set made by [`Disk::new`]; `data` is the set's driver data.
unsafe extern "C" fn init_hctx_callback(
    hctx: *mut bindings::blk_mq_hw_ctx,
    data: *mut kernel::ffi::c_void,
    _index: kernel::ffi::c_uint,
) -> kernel::ffi::c_int {
    // SAFETY: `hctx` is being initialised by blk-mq and its flush queue exists; the key is
    // static.
    unsafe {
        (*hctx).driver_data = data;
        bindings::blk_mq_hctx_set_fq_lock_class(hctx, FLUSH_LOCK_CLASS.0.get());
    }
    0
}

/// `blk_mq_ops.queue_rq`: starts the request and queues it to the disk's worker.
///
/// # Safety
/// Called by blk-mq for a queue made by [`Disk::new`] with `T`, with a valid `bd`.
unsafe extern "C" fn queue_rq_callback<T: BlkOps>(
    hctx: *mut bindings::blk_mq_hw_ctx,
    bd: *const bindings::blk_mq_queue_data,
) -> bindings::blk_status_t {
    // SAFETY: `bd` and `hctx` are valid for the call; the driver data is the workqueue, which
    // outlives the queue.
    let (rq, workqueue) = unsafe {
        (
            (*bd).rq,
            (*hctx).driver_data.cast::<bindings::workqueue_struct>(),
        )
    };
    // SAFETY: a request handed to queue_rq belongs to the driver; starting it first is the
    // blk-mq protocol. Its pdu is a `Slot` whose work item was initialised by init_request
    // and is idle (the previous request of this tag has handed itself over already).
    unsafe {
        bindings::blk_mq_start_request(rq);
        let slot = bindings::blk_mq_rq_to_pdu(rq).cast::<Slot<T::Pdu>>();
        bindings::queue_work_on(
            bindings::wq_misc_consts_WORK_CPU_UNBOUND as kernel::ffi::c_int,
            workqueue,
            (*slot).work.get(),
        );
    }
    bindings::BLK_STS_OK as bindings::blk_status_t
}

/// The work item of a request: hands it to the driver.
///
/// # Safety
/// Called by the workqueue for the work item of a request queued by `queue_rq_callback`.
unsafe extern "C" fn request_work<T: BlkOps>(work: *mut bindings::work_struct) {
    // SAFETY: the work item is the first field of the request's `Slot`, the slot is the
    // request's pdu; the request's queue data is the foreign `Arc<T>` of `Disk::new`, alive
    // until the disk is deleted, which waits for the request to end.
    let (rq, data) = unsafe {
        let rq = bindings::blk_mq_rq_from_pdu(work.cast());
        (rq, Arc::<T>::borrow((*(*rq).q).queuedata))
    };
    // SAFETY: the pointer comes from a live request.
    let rq = unsafe { NonNull::new_unchecked(rq) };
    // INVARIANT: started in queue_rq, pdu initialised by init_request, owned by the driver.
    data.queue_rq(Request {
        rq,
        _pdu: PhantomData,
    });
}

/// `blk_mq_ops.init_request`: creates the per-request data of one tag.
///
/// # Safety
/// Called by blk-mq with a request whose pdu has room for `T::Pdu` (cmd_size).
unsafe extern "C" fn init_request_callback<T: BlkOps>(
    _set: *mut bindings::blk_mq_tag_set,
    rq: *mut bindings::request,
    _hctx_idx: kernel::ffi::c_uint,
    _numa_node: kernel::ffi::c_uint,
) -> kernel::ffi::c_int {
    from_result(|| {
        let pdu = T::new_pdu()?;
        // SAFETY: the pdu area is uninitialised, sized and aligned for a `Slot<T::Pdu>`
        // (cmd_size); the work item is initialised in place before any use; the key and the
        // name are static.
        unsafe {
            let slot = bindings::blk_mq_rq_to_pdu(rq).cast::<Slot<T::Pdu>>();
            slot.write(Slot {
                work: Opaque::uninit(),
                pdu,
            });
            bindings::init_work_with_key(
                (*slot).work.get(),
                Some(request_work::<T>),
                false,
                kernel::c_str!("mars_blk_request").as_char_ptr(),
                WORK_LOCK_CLASS.0.get(),
            );
        }
        Ok(0)
    })
}

/// `blk_mq_ops.exit_request`: drops the per-request data of one tag.
///
/// # Safety
/// Called by blk-mq once for every request whose init_request succeeded.
unsafe extern "C" fn exit_request_callback<T: BlkOps>(
    _set: *mut bindings::blk_mq_tag_set,
    rq: *mut bindings::request,
    _hctx_idx: kernel::ffi::c_uint,
) {
    // SAFETY: the slot was initialised by init_request and is not used any more (the work item
    // is idle: the queue is gone and its workqueue destroyed).
    unsafe { core::ptr::drop_in_place(bindings::blk_mq_rq_to_pdu(rq).cast::<Slot<T::Pdu>>()) };
}
