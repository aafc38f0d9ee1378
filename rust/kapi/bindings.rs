// SPDX-License-Identifier: GPL-2.0
//! The module's own bindgen output over include/mars_helpers.h (generated at build time by
//! Kbuild). It reuses the kernel crate's types, so values pass between both freely.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unreachable_pub,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]

#[allow(unused_imports)]
use kernel::bindings::*;

include!("bindings_generated.rs");
