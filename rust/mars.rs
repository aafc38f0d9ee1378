// SPDX-License-Identifier: GPL-2.0
//! mars.ko: MARS, Multiversion Asynchronous Replicated Storage.
//!
//! The crate root holds the module declaration, the `mod` lines and the `Module` impl only.
//! Layout: `kapi/` wraps raw kernel APIs (the only place with bindings), `mars_core` mounts the
//! pure core shared with userspace, `knobs` is /proc/sys/mars, `clock` the Lamport clock,
//! `digest` and `compress` the kernel's hash and compression services for the log format.

use kernel::prelude::*;

mod clock;
mod compress;
mod digest;
mod kapi;
mod knobs;
mod mars_core;
mod selftest;

module! {
    type: Mars,
    name: "mars",
    author: "MARS-in-Rust developers",
    description: "MARS: Multiversion Asynchronous Replicated Storage",
    license: "GPL",
}

struct Mars {
    _sysctl: kapi::sysctl::Registration,
    /// Log digests; the logger will borrow it.
    _digester: digest::KernelDigester,
    /// Log compression; the logger will borrow it.
    _compressor: compress::KernelCompressor,
}

impl kernel::Module for Mars {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let digester = digest::KernelDigester::new();
        let compressor = compress::KernelCompressor::new()?;
        selftest::run(&digester, &compressor)?;
        let sysctl = knobs::register()?;
        pr_info!("loaded, version {}\n", mars_core::version::MODULE_VERSION);
        Ok(Mars { _sysctl: sysctl, _digester: digester, _compressor: compressor })
    }
}

impl Drop for Mars {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
