// SPDX-License-Identifier: GPL-2.0
//! Inputs and outputs: how bricks are wired into a DAG and how requests travel along it.
//!
//! An output is what a brick serves ([`Output`]); an [`Input`] is a brick's connection to
//! another brick's output. Inputs can be connected and disconnected while requests flow (the
//! trans_logger switches logfiles that way): a request takes a reference on the output at
//! submission, so a disconnected output stays alive until that submission returns, and each
//! output brick keeps itself alive for the requests it has accepted (see `InFlight`).

use crate::brick::MrefIo;
use crate::kapi::errno::enotconn;
use kernel::error::code::EEXIST;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};

/// What an output tells about the object behind it (the original's `mars_info`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Info {
    /// Size in bytes.
    pub(crate) size: u64,
    /// Smallest addressable unit in bytes: positions and lengths must be multiples.
    pub(crate) logical_block_size: u32,
}

/// The served side of a brick.
pub(crate) trait Output: Send + Sync {
    /// Size and alignment of the object. Process context.
    fn info(&self) -> Result<Info>;

    /// Starts the request. Process context (a worker or a brick thread, not blk-mq dispatch),
    /// may sleep (to allocate with GFP_NOIO or wait for resources) but must not wait for the
    /// completion of this or other requests. Never fails synchronously: errors, also immediate
    /// ones, are reported by completing `io`, exactly once, in any context (often softirq or
    /// hardirq).
    fn io(&self, io: MrefIo);
}

/// A brick's connection to one output. Pinned (it contains a lock).
#[pin_data]
pub(crate) struct Input {
    #[pin]
    connection: SpinLock<Option<Arc<dyn Output>>>,
}

impl Input {
    /// An unconnected input.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Input { connection <- kernel::new_spinlock!(None, "mars_input") })
    }

    /// Connects to `output`; EEXIST when already connected (disconnect first).
    pub(crate) fn connect(&self, output: Arc<dyn Output>) -> Result {
        let mut connection = self.connection.lock();
        if connection.is_some() {
            return Err(EEXIST);
        }
        *connection = Some(output);
        Ok(())
    }

    /// Disconnects, returning the old output (to be dropped by the caller, in process context:
    /// dropping the last reference to a brick waits for its requests in flight). Requests
    /// already submitted through this input keep running to completion.
    pub(crate) fn disconnect(&self) -> Option<Arc<dyn Output>> {
        self.connection.lock().take()
    }

    /// Connects to `output` in one step, returning the previous output (to be switched off
    /// and dropped by the caller, in process context). Every request goes to exactly one of
    /// the two; the old one completes what it accepted. Only the test hooks rewire today.
    #[cfg(mars_testing)]
    pub(crate) fn replace(&self, output: Arc<dyn Output>) -> Option<Arc<dyn Output>> {
        self.connection.lock().replace(output)
    }

    /// The output now connected; ENOTCONN when none.
    fn output(&self) -> Result<Arc<dyn Output>> {
        self.connection
            .lock()
            .as_ref()
            .cloned()
            .ok_or_else(enotconn)
    }

    /// [`Output::info`] of the connected output.
    pub(crate) fn info(&self) -> Result<Info> {
        self.output()?.info()
    }

    /// [`Output::io`] on the connected output; completes `io` with ENOTCONN when none.
    pub(crate) fn io(&self, io: MrefIo) {
        match self.output() {
            Ok(output) => output.io(io),
            Err(e) => io.complete(Err(e)),
        }
    }
}
