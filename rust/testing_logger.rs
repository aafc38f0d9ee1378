// SPDX-License-Identifier: GPL-2.0
//! TEST-ONLY hook for the transaction logger, compiled only into the `MARS_TESTING=1` build
//! (`--cfg mars_testing`), until the strategy thread builds the primary's bricks from the
//! /mars tree.
//!
//! `/proc/sys/mars/test_logger`:
//! * write `<name> <resource-dir> <data-device>`: a bio brick on the data device, a
//!   trans_logger for `<resource-dir>` (which must exist, e.g. `/mars/resource-<name>`) and
//!   this host, and an if brick `/dev/mars/<name>` on top, switched on in that order (the
//!   logger recovers first: replays what `replay-<host>` says may be missing, starts a fresh
//!   logfile);
//! * write `-<name>`: switches them off (the logger writes everything back and publishes its
//!   final replay position); EBUSY while the device is open;
//! * write `!<name>`: the same, but the logger forgets everything not yet written back and
//!   publishes nothing more, as a crash of the machine would (the log stays as written);
//! * write `pause <name>` / `resume <name>`: stop / restart writeback (data stay in the
//!   shadows and the log);
//! * write `<name> <resource-dir> <data-device> force`: as the first form, but recovery
//!   accepts a log damaged before its end (what follows the damage is lost);
//! * read: one line per device, `<name> log=N appended=... durable=... min_pos=...
//!   max_pos=... pending=... batches=... records=... writebacks=... replayed=...`.

use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::brick::{set_power, Brick};
use crate::bricks::bio_brick::BioBrick;
use crate::bricks::if_brick::IfBrick;
use crate::bricks::trans_logger::{TransLogger, STAT_NAMES};
use crate::kapi::sysctl::SysctlEntry;
use crate::kapi::uts;
use kernel::c_str;
use kernel::error::code::{EEXIST, EINVAL, ENODEV, ENOENT};
use kernel::prelude::*;
use kernel::str::{BStr, CStr};
use kernel::sync::{Arc, Mutex};

/// Longest accepted path.
const MAX_PATH_LEN: usize = 255;

/// One logged device: if brick → trans_logger → bio brick.
struct LoggedDevice {
    name: KVec<u8>,
    device: Arc<IfBrick>,
    logger: Arc<TransLogger>,
    lower: Arc<BioBrick>,
}

impl LoggedDevice {
    fn create(name: &str, dir: &str, path: &str, force: bool) -> Result<Self> {
        let host = uts::node_name();
        // The name is checked first: a bad one must not leave a started logfile behind.
        let device = IfBrick::new(name)?;
        let mut stored = KVec::with_capacity(name.len(), GFP_KERNEL)?;
        stored.extend_from_slice(name.as_bytes(), GFP_KERNEL)?;
        let lower = BioBrick::new(path)?;
        set_power(&*lower, true)?;
        let built = (|| {
            let logger = TransLogger::new(dir.as_bytes(), host.as_bytes())?;
            logger.set_force(force);
            logger.data_input().connect(lower.clone())?;
            if let Err(e) = set_power(&*logger, true) {
                drop(logger.data_input().disconnect());
                return Err(e);
            }
            let powered = device.input().connect(logger.clone()).and_then(|()| {
                if let Err(e) = set_power(&*device, true) {
                    drop(device.input().disconnect());
                    return Err(e);
                }
                Ok(())
            });
            match powered {
                Ok(()) => Ok(logger),
                Err(e) => {
                    let _ = set_power(&*logger, false);
                    drop(logger.data_input().disconnect());
                    Err(e)
                }
            }
        })();
        let logger = match built {
            Ok(built) => built,
            Err(e) => {
                let _ = set_power(&*lower, false);
                return Err(e);
            }
        };
        Ok(LoggedDevice {
            name: stored,
            device,
            logger,
            lower,
        })
    }

    /// Switches everything off; EBUSY (and still working) while the device is open.
    fn shut_down(&self, crash: bool) -> Result {
        if let Err(e) = set_power(&*self.device, false) {
            self.device.power().press(true);
            return Err(e);
        }
        drop(self.device.input().disconnect());
        self.logger.set_abandon(crash);
        let result = set_power(&*self.logger, false);
        drop(self.logger.data_input().disconnect());
        result.and(set_power(&*self.lower, false))
    }
}

/// Every device of the hook.
#[pin_data]
struct Registry {
    #[pin]
    devices: Mutex<KVec<Option<LoggedDevice>>>,
}

impl Registry {
    fn add(&self, name: &str, dir: &str, path: &str, force: bool) -> Result {
        let mut devices = self.devices.lock();
        if devices.iter().flatten().any(|d| d.name == name.as_bytes()) {
            return Err(EEXIST);
        }
        devices.reserve(1, GFP_KERNEL)?;
        let device = LoggedDevice::create(name, dir, path, force)?;
        match devices.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(device),
            None => devices.push(Some(device), GFP_KERNEL)?,
        }
        Ok(())
    }

    fn with(&self, name: &str, f: impl FnOnce(&LoggedDevice) -> Result) -> Result {
        let devices = self.devices.lock();
        let device = devices
            .iter()
            .flatten()
            .find(|d| d.name == name.as_bytes())
            .ok_or(ENOENT)?;
        f(device)
    }

    fn remove(&self, name: &str, crash: bool) -> Result {
        let mut devices = self.devices.lock();
        let slot = devices
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|d| d.name == name.as_bytes()))
            .ok_or(ENOENT)?;
        slot.as_ref().ok_or(ENOENT)?.shut_down(crash)?;
        drop(slot.take());
        Ok(())
    }

    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let devices = self.devices.lock();
        let mut first = true;
        for device in devices.iter().flatten() {
            if !first {
                out.write_str("\n")?;
            }
            first = false;
            write!(out, "{}", BStr::from_bytes(&device.name))?;
            for (name, value) in STAT_NAMES.iter().zip(device.logger.stats()) {
                write!(out, " {}={}", name, value)?;
            }
        }
        Ok(())
    }
}

/// The registry while the module is loaded.
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// Owns the registry; dropping it removes every device (cleanly). Dropped after the sysctl
/// table is unregistered.
pub(crate) struct LoggerTestHooks {
    registry: Option<Pin<KBox<Registry>>>,
}

impl LoggerTestHooks {
    /// Creates the registry and publishes it.
    pub(crate) fn new() -> Result<Self> {
        let registry = KBox::pin_init(
            pin_init!(Registry { devices <- kernel::new_mutex!(KVec::new(), "mars_test_loggers") }),
            GFP_KERNEL,
        )?;
        REGISTRY.store(ptr::from_ref(&*registry).cast_mut(), Ordering::Release);
        Ok(LoggerTestHooks {
            registry: Some(registry),
        })
    }
}

impl Drop for LoggerTestHooks {
    fn drop(&mut self) {
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
        if let Some(registry) = self.registry.take() {
            let mut devices = registry.devices.lock();
            for device in devices.iter_mut().filter_map(Option::take) {
                if device.shut_down(false).is_err() {
                    pr_err!("test_logger: cannot shut a device down at unload\n");
                }
            }
        }
    }
}

fn registry() -> Result<&'static Registry> {
    let registry = REGISTRY.load(Ordering::Acquire);
    if registry.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: published while `LoggerTestHooks` lives, which is dropped only after the sysctl
    // entry is unregistered (which waits for running handlers).
    Ok(unsafe { &*registry })
}

/// `/proc/sys/mars/test_logger`.
pub(crate) struct LoggerEntry;

impl SysctlEntry for LoggerEntry {
    fn name(&self) -> &'static CStr {
        c_str!("test_logger")
    }
    fn mode(&self) -> u16 {
        0o600
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        registry().map_err(|_| fmt::Error)?.show(out)
    }
    fn store(&self, input: &[u8]) -> Result {
        let text = core::str::from_utf8(input).map_err(|_| EINVAL)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let registry = registry()?;
        if let Some(name) = text.strip_prefix('-') {
            return registry.remove(name, false);
        }
        if let Some(name) = text.strip_prefix('!') {
            return registry.remove(name, true);
        }
        let mut words = text.split(' ');
        let words = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        );
        if words.4.is_some() {
            return Err(EINVAL);
        }
        match (words.0, words.1, words.2, words.3) {
            (Some("pause"), Some(name), None, None) => registry.with(name, |d| {
                d.logger.set_writeback_paused(true);
                Ok(())
            }),
            (Some("resume"), Some(name), None, None) => registry.with(name, |d| {
                d.logger.set_writeback_paused(false);
                Ok(())
            }),
            (Some(name), Some(dir), Some(path), force @ (None | Some("force"))) => {
                let bad = |p: &str| !p.starts_with('/') || p.len() > MAX_PATH_LEN;
                if bad(dir) || bad(path) {
                    return Err(EINVAL);
                }
                registry.add(name, dir, path, force.is_some())
            }
            _ => Err(EINVAL),
        }
    }
}
