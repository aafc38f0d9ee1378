// SPDX-License-Identifier: GPL-2.0
//! mars.ko: MARS, Multiversion Asynchronous Replicated Storage.
//!
//! The crate root holds the module declaration, the `mod` lines and the `Module` impl only.
//! Layout: `kapi/` wraps raw kernel APIs (the only place with bindings), `mars_core` mounts the
//! pure core shared with userspace, `knobs` is /proc/sys/mars, `clock` the Lamport clock,
//! `strategy/` the strategy thread that acts on the /mars tree.

use kernel::prelude::*;

mod clock;
mod kapi;
mod knobs;
mod mars_core;
mod selftest;
mod strategy;

module! {
    type: Mars,
    name: "mars",
    author: "MARS-in-Rust developers",
    description: "MARS: Multiversion Asynchronous Replicated Storage",
    license: "GPL",
}

/// The loaded module. Fields drop in declaration order: the strategy thread stops (writing its
/// farewell) while /proc/sys/mars still exists.
struct Mars {
    _strategy: strategy::Strategy,
    _sysctl: kapi::sysctl::Registration,
}

impl kernel::Module for Mars {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        selftest::run()?;
        let sysctl = knobs::register()?;
        let strategy = strategy::Strategy::start()?;
        pr_info!("loaded, version {}\n", mars_core::version::MODULE_VERSION);
        Ok(Mars { _strategy: strategy, _sysctl: sysctl })
    }
}

impl Drop for Mars {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
