// SPDX-License-Identifier: GPL-2.0
//! mars-core: the pure logic of MARS, written once.
//!
//! Every module in this crate uses only `core`: no std, no alloc, no external crates, no
//! `unsafe`. The same source files are compiled into `mars.ko` (see `rust/core.rs`, which
//! mounts this directory with `#[path]`) and into the userspace crates (marsadm, tests,
//! fuzzers, the simulator). Modules refer to each other as `super::name`, so both mount
//! points resolve alike. Nothing here may panic on any input: no unchecked indexing, no
//! unchecked arithmetic on input-derived values (the kernel builds with overflow checks).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Nothing here may panic (see above): the compiler holds every path outside the tests to it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(test)]
extern crate std;

pub mod auth;
pub mod compress;
pub mod digest;
pub mod emergency;
pub mod lamport;
pub mod log_record;
pub mod log_recovery;
pub mod log_scan;
pub mod logger;
pub mod merge;
pub mod merge_rules;
pub mod names;
pub mod net_pack;
pub mod pace;
pub mod rate;
pub mod replay_position;
pub mod replica;
pub mod retry;
pub mod split_brain;
pub mod strategy;
pub mod sync;
pub mod sync_limit;
pub mod systemd_trigger;
pub mod test_vectors;
pub mod text;
pub mod tree;
pub mod tree_value;
pub mod version;
pub mod version_chain;
pub mod wire;
