// SPDX-License-Identifier: GPL-2.0
//! /proc/sys/mars: the knobs, their defaults and bounds, and the special entries
//! (`version`, `lamport_clock`, `trigger`). Documentation/knobs.rst describes each one; change
//! both together.

use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::clock;
use crate::kapi::kthread::Wakeup;
use crate::kapi::sysctl::{Registration, SysctlEntry};
use crate::mars_core::lamport::DEFAULT_MAX_FUTURE_SEC;
use crate::mars_core::text::parse_int;
use crate::mars_core::version::MODULE_VERSION;
use kernel::c_str;
use kernel::error::code::{EINVAL, EPERM};
use kernel::prelude::*;
use kernel::str::CStr;

/// A bounded integer tunable. Writes outside `[min, max]` or not a plain decimal number fail
/// with EINVAL and leave the value unchanged.
pub(crate) struct IntKnob {
    name: &'static CStr,
    value: AtomicI64,
    min: i64,
    max: i64,
}

impl IntKnob {
    const fn new(name: &'static CStr, default: i64, min: i64, max: i64) -> Self {
        IntKnob { name, value: AtomicI64::new(default), min, max }
    }

    /// The current value (always within the knob's bounds).
    pub(crate) fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl SysctlEntry for IntKnob {
    fn name(&self) -> &'static CStr {
        self.name
    }
    fn mode(&self) -> u16 {
        0o644
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.get())
    }
    fn store(&self, input: &[u8]) -> Result {
        let value = parse_int(input).map_err(|_| EINVAL)?;
        if value < self.min || value > self.max {
            return Err(EINVAL);
        }
        self.value.store(value, Ordering::Relaxed);
        Ok(())
    }
}

/// Stamps further than this many seconds ahead of real time are not believed.
pub(crate) static MAX_LAMPORT_FUTURE: IntKnob =
    IntKnob::new(c_str!("max_lamport_future"), DEFAULT_MAX_FUTURE_SEC, 1, 10 * 365 * 24 * 3600);
/// Seconds between two scans of /mars by the strategy thread (sooner on trigger).
pub(crate) static SCAN_INTERVAL_SEC: IntKnob = IntKnob::new(c_str!("scan_interval_sec"), 5, 1, 300);

/// `version` (read-only): the module's version.
struct VersionEntry;

impl SysctlEntry for VersionEntry {
    fn name(&self) -> &'static CStr {
        c_str!("version")
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "mars-rust {}", MODULE_VERSION)
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EPERM)
    }
}

/// `lamport_clock` (read-only): real time, Lamport time and read count, as the original.
struct LamportClockEntry;

impl SysctlEntry for LamportClockEntry {
    fn name(&self) -> &'static CStr {
        c_str!("lamport_clock")
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn read_started(&self) {
        clock::count_proc_read();
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        clock::write_proc_text(out)
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EINVAL)
    }
}

/// Trigger bits not yet consumed by the strategy thread (1 local scan, 2 also pull from
/// peers, 4 also notify peers, 8 notify all, 16 full fetch), as in the original.
pub(crate) static PENDING_TRIGGER: AtomicU32 = AtomicU32::new(0);
/// Where the strategy thread sleeps between rounds; [`trigger`] wakes it. Initialised at load.
pub(crate) static TRIGGER_WAKEUP: Wakeup = Wakeup::new();

/// Asks the strategy thread for a round now, with the given trigger bits. Any context.
pub(crate) fn trigger(bits: u32) {
    PENDING_TRIGGER.fetch_or(bits, Ordering::Release);
    TRIGGER_WAKEUP.wake();
}
/// Largest trigger code accepted.
const TRIGGER_MAX: i64 = 31;

/// `trigger` (write-only): asks the strategy thread for an immediate round.
struct TriggerEntry;

impl SysctlEntry for TriggerEntry {
    fn name(&self) -> &'static CStr {
        c_str!("trigger")
    }
    fn mode(&self) -> u16 {
        0o200
    }
    fn show(&self, _out: &mut dyn fmt::Write) -> fmt::Result {
        Err(fmt::Error)
    }
    fn store(&self, input: &[u8]) -> Result {
        let code = parse_int(input).map_err(|_| EINVAL)?;
        let bits = u32::try_from(code).ok().filter(|&c| (1..=TRIGGER_MAX).contains(&i64::from(c)));
        trigger(bits.ok_or(EINVAL)?);
        Ok(())
    }
}

/// Creates /proc/sys/mars with every entry (and readies the trigger's wake-up first).
pub(crate) fn register() -> Result<Registration> {
    TRIGGER_WAKEUP.init();
    Registration::register(
        c_str!("mars"),
        &[
            &VersionEntry,
            &LamportClockEntry,
            &TriggerEntry,
            &MAX_LAMPORT_FUTURE,
            &SCAN_INTERVAL_SEC,
            #[cfg(mars_testing)]
            &crate::testing::PassthroughEntry,
        ],
    )
}
