// SPDX-License-Identifier: GPL-2.0
//! The brick model: MARS's IO architecture (research/mars.md §1), in Rust.
//!
//! # Bricks, inputs, outputs
//! A brick is an IO component with typed inputs and outputs, wired into a DAG by its
//! controller (today the test hook, later the strategy thread). An output is a trait object
//! ([`Output`]: `info` and `io`); an [`Input`] holds an `Arc` of the output it is connected to
//! and can be reconnected while requests flow. Each brick has a power switch with two LEDs
//! ([`Power`], [`Brick::switch`]): the button says what is wanted, `led_on`/`led_off` say
//! what was reached, as in the original's two-edge handshake. One brick per file under
//! `rust/bricks/`.
//!
//! # Requests and aspects
//! An IO request is an [`Mref`]: operation (read, write, flush), byte position, length,
//! flags (FUA, SYNC) and the data as page segments. Its storage belongs to the brick that
//! originates it and is part of that brick's per-request state, its *aspect*: the if brick
//! keeps the `Mref` in the blk-mq per-request data (preallocated per tag, so the IO path
//! allocates nothing). The originator implements [`MrefOwner`] for a handle on that storage
//! and turns it into an [`MrefIo`], the request in flight.
//!
//! A brick that handles a request and needs private state for it keeps that state next to
//! the `MrefIo` it was given, in its own per-request object: the bio brick puts the `MrefIo`
//! into the front pad of the bio it builds (the bio is its aspect, one allocation, from a
//! mempool). A brick that must issue its own requests below (the trans_logger: log writes,
//! writeback) originates new `Mref`s in its own aspect objects. This replaces the original's
//! per-brick aspect slots inside one object allocation: the same "one object, state per brick"
//! idea, without type-erased slots.
//!
//! # The contract (who may sleep, where completions run, ownership)
//! * `Output::io` is called in process context: a worker or a brick's own thread, never
//!   blk-mq's dispatch (the if brick hands requests to a worker first, see `kapi::blk`), so an
//!   output may submit bios directly. It may sleep (allocate with GFP_NOIO, wait for a
//!   mempool), but never waits for request completions. It never fails synchronously.
//! * A request is completed exactly once by whoever holds its `MrefIo`
//!   ([`MrefIo::complete`]); dropping it unfinished completes it with EIO. There is no
//!   reference count on requests: ownership moves with the `MrefIo`.
//! * Completions run in any context: usually softirq or hardirq (bio completion). They must
//!   not sleep, not allocate with GFP_KERNEL, and take only irq-safe locks. A brick that must
//!   do sleeping work on completion queues it to its own thread.
//! * The pages of a request belong to the originator and stay valid until completion.
//! * Bricks are shared as `Arc`s by the controller and by the inputs connected to them.
//!   Completions never hold an `Arc` of a brick (its drop may sleep); they hold an
//!   [`InFlightRef`] on the brick's resources, whose owner waits for them on drop.
//! * Switching a brick off waits for its requests in flight; the controller drops a brick
//!   only after switching it off and disconnecting it.

mod inflight;
mod mref;
mod power;
mod wiring;

pub(crate) use inflight::{InFlight, InFlightRef};
pub(crate) use mref::{Flags, Mref, MrefIo, MrefOwner, Op};
pub(crate) use power::{set_power, Brick, Power};
pub(crate) use wiring::{Info, Input, Output};
