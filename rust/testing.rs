// SPDX-License-Identifier: GPL-2.0
//! TEST-ONLY hooks, compiled only into the `MARS_TESTING=1` build (`--cfg mars_testing`):
//! they let QEMU scenarios instantiate bricks before the strategy thread does.
//!
//! `/proc/sys/mars/test_passthrough` (write-only):
//! * `<name> <lower-device-path>`: opens the device with a bio brick, wires an if brick to it
//!   and switches both on: `/dev/mars/<name>` is a pass-through device.
//! * `=<name> <lower-device-path>`: rewires the device, while it is in use, to a new bio brick
//!   on another path (which must hold the same data, e.g. a second device-mapper mapping of
//!   the same disk); the old bio brick finishes its requests and is switched off.
//! * `-<name>`: switches that pair off and removes it; EBUSY while the device is open.
//!
//! Malformed input is EINVAL, an existing name EEXIST, an unknown one ENOENT; errors of the
//! bricks (EBUSY for a lower device in use, ENOENT for a missing path) pass through.

use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::brick::{set_power, Brick};
use crate::bricks::bio_brick::BioBrick;
use crate::bricks::if_brick::IfBrick;
use crate::kapi::sysctl::SysctlEntry;
use kernel::c_str;
use kernel::error::code::{EEXIST, EINVAL, ENODEV, ENOENT};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{Arc, Mutex};

/// Longest accepted lower device path.
const MAX_PATH_LEN: usize = 255;

/// One pass-through device: if brick → bio brick.
struct Passthrough {
    name: KVec<u8>,
    device: Arc<IfBrick>,
    lower: Arc<BioBrick>,
}

impl Passthrough {
    /// Builds and switches on `/dev/mars/<name>` over `path`.
    fn create(name: &str, path: &str) -> Result<Self> {
        let lower = BioBrick::new(path)?;
        set_power(&*lower, true)?;
        let device = IfBrick::new(name).and_then(|device| {
            device.input().connect(lower.clone())?;
            if let Err(e) = set_power(&*device, true) {
                drop(device.input().disconnect());
                return Err(e);
            }
            Ok(device)
        });
        let device = match device {
            Ok(device) => device,
            Err(e) => {
                // Cannot fail: nothing but us uses the lower brick.
                let _ = set_power(&*lower, false);
                return Err(e);
            }
        };
        let mut stored = KVec::with_capacity(name.len(), GFP_KERNEL)?;
        stored.extend_from_slice(name.as_bytes(), GFP_KERNEL)?;
        Ok(Passthrough {
            name: stored,
            device,
            lower,
        })
    }

    /// Switches the pair off; EBUSY (and still working) while the device is open.
    fn shut_down(&self) -> Result {
        if let Err(e) = set_power(&*self.device, false) {
            self.device.power().press(true);
            pr_info!(
                "test_passthrough: device busy ({} opens)\n",
                self.device.open_count()
            );
            return Err(e);
        }
        drop(self.device.input().disconnect());
        set_power(&*self.lower, false)
    }
}

/// Every pass-through device of the test hook (slots are reused after removal).
#[pin_data]
struct Registry {
    #[pin]
    devices: Mutex<KVec<Option<Passthrough>>>,
}

impl Registry {
    fn add(&self, name: &str, path: &str) -> Result {
        let mut devices = self.devices.lock();
        if devices.iter().flatten().any(|d| d.name == name.as_bytes()) {
            return Err(EEXIST);
        }
        devices.reserve(1, GFP_KERNEL)?;
        let device = Passthrough::create(name, path)?;
        match devices.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(device),
            None => devices.push(Some(device), GFP_KERNEL)?,
        }
        Ok(())
    }

    fn rewire(&self, name: &str, path: &str) -> Result {
        let mut devices = self.devices.lock();
        let device = devices
            .iter_mut()
            .flatten()
            .find(|d| d.name == name.as_bytes())
            .ok_or(ENOENT)?;
        let lower = BioBrick::new(path)?;
        set_power(&*lower, true)?;
        let old = device.device.input().replace(lower.clone());
        let old_lower = core::mem::replace(&mut device.lower, lower);
        // Waits for the requests the old brick accepted before the switch.
        let result = set_power(&*old_lower, false);
        drop(old);
        result
    }

    fn remove(&self, name: &str) -> Result {
        let mut devices = self.devices.lock();
        let slot = devices
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|d| d.name == name.as_bytes()))
            .ok_or(ENOENT)?;
        slot.as_ref().ok_or(ENOENT)?.shut_down()?;
        drop(slot.take());
        Ok(())
    }
}

/// The registry while the module is loaded; the sysctl entry reaches it through this.
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// Owns the registry; dropping it removes every test device. Must be dropped after the
/// sysctl table is unregistered (field order in the module struct), so no write runs.
pub(crate) struct TestHooks {
    registry: Option<Pin<KBox<Registry>>>,
}

impl TestHooks {
    /// Creates the registry and publishes it for the sysctl entry.
    pub(crate) fn new() -> Result<Self> {
        let registry = KBox::pin_init(
            pin_init!(Registry { devices <- kernel::new_mutex!(KVec::new(), "mars_test_devices") }),
            GFP_KERNEL,
        )?;
        REGISTRY.store(ptr::from_ref(&*registry).cast_mut(), Ordering::Release);
        Ok(TestHooks {
            registry: Some(registry),
        })
    }
}

impl Drop for TestHooks {
    fn drop(&mut self) {
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
        if let Some(registry) = self.registry.take() {
            let mut devices = registry.devices.lock();
            for device in devices.iter_mut().filter_map(Option::take) {
                // The module is unloading, so no device is open (an open one pins the module).
                if device.shut_down().is_err() {
                    pr_err!("test_passthrough: cannot shut a device down at unload\n");
                }
            }
        }
    }
}

/// `/proc/sys/mars/test_passthrough`.
pub(crate) struct PassthroughEntry;

impl SysctlEntry for PassthroughEntry {
    fn name(&self) -> &'static CStr {
        c_str!("test_passthrough")
    }
    fn mode(&self) -> u16 {
        0o200
    }
    fn show(&self, _out: &mut dyn fmt::Write) -> fmt::Result {
        Err(fmt::Error)
    }
    fn store(&self, input: &[u8]) -> Result {
        let text = core::str::from_utf8(input).map_err(|_| EINVAL)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let registry = REGISTRY.load(Ordering::Acquire);
        if registry.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: the registry is published while `TestHooks` lives, and `TestHooks` is dropped
        // only after this sysctl entry is unregistered, which waits for running writes.
        let registry = unsafe { &*registry };
        if let Some(name) = text.strip_prefix('-') {
            return registry.remove(name);
        }
        let (rewire, text) = match text.strip_prefix('=') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut words = text.split(' ');
        let (Some(name), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(EINVAL);
        };
        if !path.starts_with('/')
            || path.len() > MAX_PATH_LEN
            || path.contains(|c: char| c.is_whitespace())
        {
            return Err(EINVAL);
        }
        if rewire {
            registry.rewire(name, path)
        } else {
            registry.add(name, path)
        }
    }
}
