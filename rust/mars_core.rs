// SPDX-License-Identifier: GPL-2.0
//! The pure MARS core, compiled into the module from the very files userspace builds
//! (core/src/). Those files use only `core` and refer to each other as `super::name`, so they
//! work mounted here as they do as the `mars-core` crate. Not every item is used by the kernel.
#![allow(dead_code, unreachable_pub)]

#[path = "../core/src/auth.rs"]
pub(crate) mod auth;
#[path = "../core/src/compress.rs"]
pub(crate) mod compress;
#[path = "../core/src/digest.rs"]
pub(crate) mod digest;
#[path = "../core/src/emergency.rs"]
pub(crate) mod emergency;
#[path = "../core/src/lamport.rs"]
pub(crate) mod lamport;
#[path = "../core/src/log_record.rs"]
pub(crate) mod log_record;
#[path = "../core/src/log_recovery.rs"]
pub(crate) mod log_recovery;
#[path = "../core/src/log_scan.rs"]
pub(crate) mod log_scan;
#[path = "../core/src/logger.rs"]
pub(crate) mod logger;
#[path = "../core/src/merge.rs"]
pub(crate) mod merge;
#[path = "../core/src/merge_rules.rs"]
pub(crate) mod merge_rules;
#[path = "../core/src/names.rs"]
pub(crate) mod names;
#[path = "../core/src/net_pack.rs"]
pub(crate) mod net_pack;
#[path = "../core/src/pace.rs"]
pub(crate) mod pace;
#[path = "../core/src/rate.rs"]
pub(crate) mod rate;
#[path = "../core/src/replay_position.rs"]
pub(crate) mod replay_position;
#[path = "../core/src/replica.rs"]
pub(crate) mod replica;
#[path = "../core/src/retry.rs"]
pub(crate) mod retry;
#[path = "../core/src/split_brain.rs"]
pub(crate) mod split_brain;
#[path = "../core/src/strategy.rs"]
pub(crate) mod strategy;
#[path = "../core/src/sync.rs"]
#[allow(dead_code)]
pub(crate) mod sync;
#[path = "../core/src/sync_limit.rs"]
pub(crate) mod sync_limit;
#[path = "../core/src/systemd_trigger.rs"]
pub(crate) mod systemd_trigger;
#[path = "../core/src/test_vectors.rs"]
pub(crate) mod test_vectors;
#[path = "../core/src/text.rs"]
pub(crate) mod text;
#[path = "../core/src/tree.rs"]
pub(crate) mod tree;
#[path = "../core/src/tree_value.rs"]
pub(crate) mod tree_value;
#[path = "../core/src/version.rs"]
pub(crate) mod version;
#[path = "../core/src/version_chain.rs"]
pub(crate) mod version_chain;
#[path = "../core/src/wire.rs"]
pub(crate) mod wire;
