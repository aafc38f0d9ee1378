// SPDX-License-Identifier: GPL-2.0
//! The bio brick: serves mrefs on a local block device (the data device of a resource)
//! through bios. One output, no inputs.
//!
//! Switching on opens the device exclusively (EBUSY while mounted or used by another brick)
//! and makes a private bio pool; switching off stops accepting requests (they complete with
//! ENXIO), waits for the ones in flight, and closes the device.
//!
//! Each request becomes one bio (flush: an empty REQ_PREFLUSH write) built on the request's
//! own pages; the request rides in the bio's front pad and is completed from the bio
//! completion, in the lower driver's completion context. Unlike the original there are no
//! submit/response threads: the block layer queues and completes by itself.

use crate::brick::{Brick, Flags, InFlight, InFlightRef, Info, MrefIo, Op, Output, Power};
use crate::kapi::bio::{BioFlags, BioOp, BioRequest, BioSet, BlockDevice, Segment};
use kernel::error::code::ENXIO;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{Arc, Mutex};

/// Bios the pool reserves, so that writes make progress under memory pressure.
const BIO_POOL_SIZE: u32 = 64;

/// What the brick holds while switched on.
struct Lower {
    bios: BioSet<BioIo>,
    device: BlockDevice,
}

/// One request in flight below: the bio brick's aspect, in the bio's front pad.
struct BioIo {
    io: MrefIo,
    lower: InFlightRef<Lower>,
}

impl BioRequest for BioIo {
    fn segments(&self) -> &[Segment] {
        self.io.segments()
    }

    fn end_io(self, status: Result) {
        let BioIo { io, lower } = self;
        io.complete(status);
        // Last: after this the brick may finish switching off.
        drop(lower);
    }
}

/// The bio brick.
#[pin_data]
pub(crate) struct BioBrick {
    /// Path of the block device.
    path: CString,
    power: Power,
    /// Serialises switching.
    #[pin]
    switching: Mutex<()>,
    /// The open device while switched on; the IO path only takes an in-flight reference.
    #[pin]
    lower: Mutex<Option<Pin<KBox<InFlight<Lower>>>>>,
}

impl BioBrick {
    /// A bio brick for the block device at `path`, switched off.
    pub(crate) fn new(path: &str) -> Result<Arc<Self>> {
        let path = CString::try_from_fmt(kernel::fmt!("{}", path))?;
        Arc::pin_init(
            pin_init!(BioBrick {
                path,
                power: Power::new(),
                switching <- kernel::new_mutex!((), "mars_bio_switch"),
                lower <- kernel::new_mutex!(None, "mars_bio_lower"),
            }),
            GFP_KERNEL,
        )
    }

    /// An in-flight reference on the open device; ENXIO while switched off.
    fn lower(&self) -> Result<InFlightRef<Lower>> {
        self.lower
            .lock()
            .as_ref()
            .map(|lower| lower.as_ref().get())
            .ok_or(ENXIO)
    }
}

impl Output for BioBrick {
    fn info(&self) -> Result<Info> {
        let lower = self.lower()?;
        Ok(Info {
            size: lower.device.size(),
            logical_block_size: lower.device.logical_block_size(),
        })
    }

    fn io(&self, io: MrefIo) {
        let lower = match self.lower() {
            Ok(lower) => lower,
            Err(e) => return io.complete(Err(e)),
        };
        let op = match io.op() {
            Op::Read => BioOp::Read,
            Op::Write => BioOp::Write,
            Op::Flush => BioOp::Flush,
        };
        let flags = BioFlags {
            fua: io.flags().contains(Flags::FUA),
            preflush: false,
            sync: io.flags().contains(Flags::SYNC),
        };
        let pos = io.pos();
        let submitter = lower.clone();
        submitter
            .bios
            .submit(&submitter.device, op, flags, pos, BioIo { io, lower });
    }
}

impl Brick for BioBrick {
    fn power(&self) -> &Power {
        &self.power
    }

    fn switch(&self) -> Result {
        let _switching = self.switching.lock();
        if self.power.button() {
            if self.power.led_on() {
                return Ok(());
            }
            self.power.set_led_off(false);
            let opened = BlockDevice::open(&self.path).and_then(|device| {
                let bios = BioSet::new(BIO_POOL_SIZE)?;
                Ok(KBox::pin(
                    InFlight::new(Lower { bios, device }),
                    GFP_KERNEL,
                )?)
            });
            match opened {
                Ok(lower) => {
                    *self.lower.lock() = Some(lower);
                    self.power.set_led_on(true);
                    Ok(())
                }
                Err(e) => {
                    self.power.set_led_off(true);
                    Err(e)
                }
            }
        } else {
            if self.power.led_off() {
                return Ok(());
            }
            self.power.set_led_on(false);
            let lower = self.lower.lock().take();
            // Waits for the requests in flight, then closes the device.
            drop(lower);
            self.power.set_led_off(true);
            Ok(())
        }
    }
}
