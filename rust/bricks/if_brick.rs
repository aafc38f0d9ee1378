// SPDX-License-Identifier: GPL-2.0
//! The if brick: the block device `/dev/mars/<name>` that applications use. It has one input
//! and no output: every block request becomes one [`Mref`] on the input (submitted from the
//! disk's worker, see `kapi::blk`), and the request ends when the mref completes. Reads, writes (FUA kept), and flushes pass through; discard and
//! write-zeroes are not advertised. Wired straight to a bio brick this is a pass-through
//! device; on a primary it will sit on the trans_logger.
//!
//! Switching on creates the device with the size of the input, capped by the resource size
//! the strategy sets ([`IfBrick::set_size`]); switching off removes it, but is refused with
//! EBUSY while it is open (the original's behaviour: the LEDs stay on and the controller
//! retries). The open count is readable for the strategy.

use crate::brick::{Brick, Flags, Input, Mref, MrefIo, MrefOwner, Op, Power};
use crate::kapi::blk::{BlkOps, Disk, DiskConfig, Request, RequestOp};
use crate::kapi::errno::{enametoolong, eopnotsupp};
use crate::knobs;
use crate::mars_core::names::check_name;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::error::code::EINVAL;
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::{CStr, CString};
use kernel::sync::{Arc, Mutex};

/// Requests in flight per device.
const QUEUE_DEPTH: u32 = 64;
/// Largest request (bytes).
const MAX_REQUEST_BYTES: u32 = 1 << 20;
/// Most data segments per request: one bio below can carry them all.
const MAX_SEGMENTS: u16 = 256;
/// Longest device name: the gendisk name "mars/<name>" must fit DISK_NAME_LEN (32).
const MAX_NAME_LEN: usize = 26;

/// Per-request state of the if brick (its aspect): the mref, preallocated with each tag.
pub(crate) struct IfRequest {
    mref: Mref,
}

/// The part of the brick the block layer calls into.
#[pin_data]
pub(crate) struct IfQueue {
    #[pin]
    input: Input,
}

impl BlkOps for IfQueue {
    type Pdu = IfRequest;

    fn open_changed() {
        // The strategy reports the open count in actual-<host>/open-count.
        knobs::trigger(knobs::TRIGGER_LOCAL);
    }

    fn new_pdu() -> Result<IfRequest> {
        Ok(IfRequest {
            mref: Mref::new(usize::from(MAX_SEGMENTS))?,
        })
    }

    fn queue_rq(&self, mut request: Request<IfRequest>) {
        let op = match request.op() {
            RequestOp::Read => Op::Read,
            RequestOp::Write => Op::Write,
            RequestOp::Flush => Op::Flush,
            RequestOp::Other => return request.end(Err(eopnotsupp())),
        };
        let mut flags = Flags::default();
        if request.is_fua() {
            flags = flags | Flags::FUA;
        }
        if request.is_sync() {
            flags = flags | Flags::SYNC;
        }
        let (pos, len) = (request.pos(), request.len());
        // Fill the preallocated segment storage from the request (no allocation).
        let mut segments = core::mem::replace(request.pdu_mut().mref.segments_mut(), KVec::new());
        let filled = request.read_segments(&mut segments);
        let mref = &mut request.pdu_mut().mref;
        *mref.segments_mut() = segments;
        if let Err(e) = filled.and_then(|()| mref.prepare(op, pos, len, flags)) {
            pr_err!(
                "if: cannot map request (pos {} len {}): {:?}\n",
                pos,
                len,
                e
            );
            return request.end(Err(e));
        }
        self.input.io(MrefIo::new(IfIo(request)));
    }
}

/// A block request carrying its mref down the graph.
struct IfIo(Request<IfRequest>);

// SAFETY: the mref lives in the request's per-request data, which blk-mq keeps in place
// until the request is ended (only `done` ends it); the raw form is the request pointer.
unsafe impl MrefOwner for IfIo {
    fn mref(&self) -> &Mref {
        &self.0.pdu().mref
    }

    fn into_raw(self) -> *mut kernel::ffi::c_void {
        self.0.into_raw()
    }

    unsafe fn from_raw(raw: *mut kernel::ffi::c_void) -> Self {
        // SAFETY: per the function contract `raw` comes from `into_raw` above.
        IfIo(unsafe { Request::from_raw(raw) })
    }

    fn done(self, status: Result) {
        self.0.end(status);
    }
}

/// The if brick.
#[pin_data]
pub(crate) struct IfBrick {
    /// Device name under /dev (`mars/<name>`).
    disk_name: CString,
    power: Power,
    queue: Arc<IfQueue>,
    /// The resource size in bytes (the `size` link; 0: not set, the input's size counts).
    size: AtomicU64,
    /// The device, present while switched on; the lock also serialises switching.
    #[pin]
    disk: Mutex<Option<Disk<IfQueue>>>,
}

impl IfBrick {
    /// An if brick for `/dev/mars/<name>`, switched off and unconnected. `name` follows the
    /// resource name rules, at most 26 bytes (EINVAL, ENAMETOOLONG).
    pub(crate) fn new(name: &str) -> Result<Arc<Self>> {
        check_name(name).map_err(|_| EINVAL)?;
        if name.len() > MAX_NAME_LEN {
            return Err(enametoolong());
        }
        let disk_name = CString::try_from_fmt(fmt!("mars/{}", name))?;
        let queue = Arc::pin_init(pin_init!(IfQueue { input <- Input::new() }), GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(IfBrick {
                disk_name,
                power: Power::new(),
                queue,
                size: AtomicU64::new(0),
                disk <- kernel::new_mutex!(None, "mars_if_disk"),
            }),
            GFP_KERNEL,
        )
    }

    /// The input (connect it before switching on).
    pub(crate) fn input(&self) -> &Input {
        &self.queue.input
    }

    /// How often the device is open now (0 when switched off).
    pub(crate) fn open_count(&self) -> u32 {
        self.disk
            .lock()
            .as_ref()
            .map_or(0, |disk| disk.open_count())
    }

    fn disk_name(&self) -> &CStr {
        &self.disk_name
    }

    /// Sets the resource size (the `size` link; 0: none). The device shows the smaller of it
    /// and the input's size; a device already on grows at once (`resize`), and udev hears of
    /// it (a change uevent with RESIZE=1). It never shrinks under its users: a smaller size
    /// (or none) is kept for the next switch-on and `Ok(false)` returned.
    pub(crate) fn set_size(&self, bytes: u64) -> Result<bool> {
        let disk = self.disk.lock();
        let Some(disk) = disk.as_ref() else {
            self.size.store(bytes, Ordering::Relaxed);
            return Ok(true);
        };
        let old = self.size.load(Ordering::Relaxed);
        if old != 0 && (bytes == 0 || bytes < old) {
            return Ok(false);
        }
        self.size.store(bytes, Ordering::Relaxed);
        disk.set_capacity(self.capacity(self.queue.input.info()?.size));
        Ok(true)
    }

    /// The device size for an input of `input_size` bytes.
    fn capacity(&self, input_size: u64) -> u64 {
        match self.size.load(Ordering::Relaxed) {
            0 => input_size,
            size => size.min(input_size),
        }
    }
}

impl Brick for IfBrick {
    fn power(&self) -> &Power {
        &self.power
    }

    fn switch(&self) -> Result {
        let mut disk = self.disk.lock();
        if self.power.button() {
            let info = self.queue.input.info()?;
            if let Some(disk) = disk.as_ref() {
                // Operational: follow the size of the input.
                disk.set_capacity(self.capacity(info.size));
                return Ok(());
            }
            self.power.set_led_off(false);
            let config = DiskConfig {
                name: self.disk_name(),
                capacity: self.capacity(info.size),
                logical_block_size: info.logical_block_size.max(512),
                queue_depth: QUEUE_DEPTH,
                max_request_bytes: MAX_REQUEST_BYTES,
                max_segments: MAX_SEGMENTS,
            };
            match Disk::new(&config, self.queue.clone()) {
                Ok(new) => {
                    *disk = Some(new);
                    self.power.set_led_on(true);
                    Ok(())
                }
                Err(e) => {
                    self.power.set_led_off(true);
                    Err(e)
                }
            }
        } else {
            let Some(old) = disk.take() else {
                self.power.set_led_on(false);
                self.power.set_led_off(true);
                return Ok(());
            };
            if let Err((old, e)) = old.remove() {
                // Still open: stays operational, the controller retries.
                *disk = Some(old);
                return Err(e);
            }
            self.power.set_led_on(false);
            self.power.set_led_off(true);
            Ok(())
        }
    }
}
