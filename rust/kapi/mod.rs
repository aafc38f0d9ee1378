// SPDX-License-Identifier: GPL-2.0
//! Safe wrappers over the kernel APIs that the 6.12 `kernel` crate lacks, one file per kernel
//! subsystem. Nothing outside this directory touches raw bindings or `unsafe extern "C"`.

mod bindings;
// Used by the bricks only, which only the MARS_TESTING build instantiates until the strategy
// does (issue 4, wiring into the strategy).
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod bio;
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod blk;
pub(crate) mod crc;
pub(crate) mod crypto;
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod errno;
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod file;
pub(crate) mod kthread;
pub(crate) mod lz4;
pub(crate) mod lzo;
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod mm;
pub(crate) mod random;
pub(crate) mod socket;
#[cfg_attr(not(mars_testing), allow(dead_code))]
pub(crate) mod sync;
pub(crate) mod sysctl;
pub(crate) mod time;
pub(crate) mod uts;
pub(crate) mod vfs;
pub(crate) mod zlib;
