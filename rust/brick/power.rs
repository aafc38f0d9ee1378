// SPDX-License-Identifier: GPL-2.0
//! The power switch of a brick and its two indicator LEDs: the in-kernel form of MARS's
//! two-edge handshake (the switch says what is wanted, the LEDs say what was reached).
//!
//! A brick starts off: button off, `led_off` lit. Switching on means pressing the button and
//! calling [`Brick::switch`]; the brick clears `led_off` when it starts to come up and lights
//! `led_on` once it is fully operational. Switching off is the mirror image. Every combination
//! is a legal transient state; only button and LED agreeing means "done". A switch that
//! cannot complete now (the if brick while its device is open) returns an error and leaves
//! the LEDs as they are, and the controller retries later.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;

/// Button and LEDs of one brick.
pub(crate) struct Power {
    button: AtomicBool,
    led_on: AtomicBool,
    led_off: AtomicBool,
}

impl Power {
    /// Switched off and quiescent.
    pub(crate) const fn new() -> Self {
        Power {
            button: AtomicBool::new(false),
            led_on: AtomicBool::new(false),
            led_off: AtomicBool::new(true),
        }
    }

    /// The wanted state.
    pub(crate) fn button(&self) -> bool {
        self.button.load(Ordering::Acquire)
    }

    /// Sets the wanted state (the brick reacts in [`Brick::switch`]).
    pub(crate) fn press(&self, on: bool) {
        self.button.store(on, Ordering::Release);
    }

    /// Fully operational.
    pub(crate) fn led_on(&self) -> bool {
        self.led_on.load(Ordering::Acquire)
    }

    /// Fully quiescent: no resources held, no request in flight.
    pub(crate) fn led_off(&self) -> bool {
        self.led_off.load(Ordering::Acquire)
    }

    /// For the brick itself: reports operational or not.
    pub(crate) fn set_led_on(&self, lit: bool) {
        self.led_on.store(lit, Ordering::Release);
    }

    /// For the brick itself: reports quiescent or not.
    pub(crate) fn set_led_off(&self, lit: bool) {
        self.led_off.store(lit, Ordering::Release);
    }
}

/// What every brick offers its controller.
pub(crate) trait Brick: Send + Sync {
    /// The brick's switch and LEDs.
    fn power(&self) -> &Power;

    /// Moves the LEDs towards the button: acquires or releases the brick's resources. Process
    /// context, may sleep (switching off waits for the brick's requests in flight).
    /// Idempotent; calls are serialised by the brick. An error means the transition could not
    /// complete now; the LEDs then show how far it got.
    fn switch(&self) -> Result;
}

/// Presses the button of `brick` and lets it react; Ok when the LEDs agree with `on`.
pub(crate) fn set_power(brick: &dyn Brick, on: bool) -> Result {
    brick.power().press(on);
    brick.switch()
}
