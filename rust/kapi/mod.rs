// SPDX-License-Identifier: GPL-2.0
//! Safe wrappers over the kernel APIs that the 6.12 `kernel` crate lacks, one file per kernel
//! subsystem. Nothing outside this directory touches raw bindings or `unsafe extern "C"`.

mod bindings;
pub(crate) mod crc;
pub(crate) mod crypto;
pub(crate) mod lz4;
pub(crate) mod sysctl;
pub(crate) mod time;
