// SPDX-License-Identifier: GPL-2.0
//! The pure MARS core, compiled into the module from the very files userspace builds
//! (core/src/). Those files use only `core` and refer to each other as `super::name`, so they
//! work mounted here as they do as the `mars-core` crate. Not every item is used by the kernel.
#![allow(dead_code, unreachable_pub)]

#[path = "../core/src/lamport.rs"]
pub(crate) mod lamport;
#[path = "../core/src/names.rs"]
pub(crate) mod names;
#[path = "../core/src/text.rs"]
pub(crate) mod text;
#[path = "../core/src/version.rs"]
pub(crate) mod version;
