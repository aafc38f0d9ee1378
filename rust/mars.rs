// SPDX-License-Identifier: GPL-2.0
//! mars.ko: MARS, Multiversion Asynchronous Replicated Storage.
//!
//! The crate root holds the module declaration, the `mod` lines and the `Module` impl only.
//! Layout: `kapi/` wraps raw kernel APIs (the only place with bindings), `mars_core` mounts the
//! pure core shared with userspace, `knobs` is /proc/sys/mars, `clock` the Lamport clock,
//! `digest` and `compress` the kernel's hash and compression services for the log format,
//! `tree` the one accessor of the /mars tree, `strategy/` the strategy thread that acts on it,
//! `net/` the exchange with the peers.

use kernel::prelude::*;

mod brick;
mod bricks;
mod clock;
mod compress;
mod digest;
mod kapi;
mod knobs;
mod logger;
mod mars_core;
mod net;
mod selftest;
mod strategy;
#[cfg(mars_testing)]
mod testing;
#[cfg(mars_testing)]
mod testing_logger;
mod tree;

module! {
    type: Mars,
    name: "mars",
    author: "MARS-in-Rust developers",
    description: "MARS: Multiversion Asynchronous Replicated Storage",
    license: "GPL",
}

/// The loaded module. Fields drop in declaration order: the strategy thread stops (writing its
/// farewell) while /proc/sys/mars still exists; /proc/sys/mars goes before the test devices
/// it can create.
struct Mars {
    /// The metadata exchange with the peers; stops first (its threads read the knobs).
    _net: net::Net,
    _strategy: strategy::Strategy,
    /// The attached data devices the sync server reads; after the strategy and net threads.
    _data_devices: net::sync::DataDevices,
    _sysctl: knobs::Sysctl,
    #[cfg(mars_testing)]
    _testing: testing::TestHooks,
    #[cfg(mars_testing)]
    _testing_logger: testing_logger::LoggerTestHooks,
    /// The log writers' and the sync's access to the digester (`digest::install`), cleared
    /// after every logger and sync above is gone.
    _digester_installed: digest::Installed,
    /// Log and sync digests.
    _digester: KBox<digest::KernelDigester>,
    /// The log writers' access to the compressor (`compress::install`), cleared after every
    /// logger above is gone.
    _compressor_installed: compress::Installed,
    /// Log compression; last, so that it outlives every user.
    _compressor: Pin<KBox<compress::KernelCompressor>>,
}

impl kernel::Module for Mars {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let digester = KBox::new(digest::KernelDigester::new(), GFP_KERNEL)?;
        let compressor = compress::KernelCompressor::new()?;
        selftest::run(&*digester, &*compressor)?;
        let digester_installed = digest::install(&digester);
        let compressor_installed = compress::install(&compressor);
        #[cfg(mars_testing)]
        let testing = testing::TestHooks::new()?;
        #[cfg(mars_testing)]
        let testing_logger = testing_logger::LoggerTestHooks::new()?;
        let sysctl = knobs::register()?;
        let data_devices = net::sync::DataDevices::new()?;
        let loggers = logger::durable::Loggers::new()?;
        let strategy = strategy::Strategy::start(loggers.clone())?;
        let net = net::Net::start(loggers)?;
        pr_info!("loaded, version {}\n", mars_core::version::MODULE_VERSION);
        #[cfg(mars_testing)]
        pr_info!("TESTING build: test hooks enabled\n");
        Ok(Mars {
            _net: net,
            _strategy: strategy,
            _data_devices: data_devices,
            _sysctl: sysctl,
            #[cfg(mars_testing)]
            _testing: testing,
            #[cfg(mars_testing)]
            _testing_logger: testing_logger,
            _digester_installed: digester_installed,
            _digester: digester,
            _compressor_installed: compressor_installed,
            _compressor: compressor,
        })
    }
}

impl Drop for Mars {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
