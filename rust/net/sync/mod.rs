// SPDX-License-Identifier: GPL-2.0
//! Full sync over port 7779 (`Documentation/protocol.rst`, "Sync messages").
//!
//! Server side (`serve.rs`, [`serve_sync`], in a `mars_serve` thread after the handshake): answers
//! `SyncRead` (a block range of a resource's data device) and `SyncSumsRead` (one digest per
//! block of a range) from the data device this host has attached, through its bio brick
//! ([`register_data`], `block.rs`). Only a member of the resource (`data-<host>` names a device) is
//! served; ranges must lie inside the device and be aligned to its logical block size, and a
//! checksum request may cover at most [`serve::MAX_SUMS_SPAN`] bytes and must name a digest
//! both ends agreed on in the handshake. Anything else is answered with
//! an `Error`; a malformed frame closes the connection.
//!
//! Client side (`copy.rs`, [`Syncer`], one `mars_sync` thread per resource of a secondary whose
//! sync is due, started and stopped by the strategy, run by the client session loop
//! `net::session`): copies `[syncstatus-<me>, size)` of the designated primary's device onto
//! the local data device, window by window
//! ([`copy::WINDOW`] bytes). With `do_fast_fullsync` on it first asks for the primary's
//! digests of the window's 64 KiB blocks, computes the local ones meanwhile, and transfers
//! only the blocks that differ (`mars_core::sync`). The digest is the first of CRC32C, CRC32,
//! MD5, SHA1, MD5_OLD that every connection agreed on in its handshake (each end offers what
//! it computes minus `defaults/disabled-net-digests`, `crate::digest::net_features`); the
//! server answers only a digest agreed on its connection. Without a common digest every
//! block is transferred. It holds `sync_sockets` connections to
//! the primary (`Bundle`): the window's digest request is shared among them, and the runs
//! to transfer go round robin over them, up to `sync_parallel` reads in flight on each;
//! `sync_speed_limit_kib` bounds the data rate of all of them together. After each window the local
//! device is flushed and `syncstatus-<me>` advances, so an interrupted sync (network cut,
//! reboot) resumes there. At the end, once the primary's heartbeat (`actual-<primary>/time`)
//! is newer than the end of the copy, the primary's replay link is recorded in
//! `syncpos-<me>` and `syncstatus-<me>` becomes the size: the replay may start, and the
//! replica is consistent once its replay passed `syncpos` (`mars_core::sync::consistent`).
//!
//! The client writes `syncstatus-<me>` only while the link still holds what it started from
//! or wrote last, value and stamp (`StatusClaim`, `mars_core::sync::claim_holds`), checked
//! after every window and twice at the end (before `syncpos`, before the final size, after
//! the wait for the heartbeat). Anyone else's write (`marsadm invalidate` resets it to 0)
//! makes the sync start over from the new value instead of overwriting it. What remains is
//! the instant between a check and the write after it; `marsadm invalidate` closes it too:
//! it switches the sync off and waits for `is-syncing` = 0 (this thread has ended) before it
//! writes `syncstatus-<me>`.
//!
//! Files: `serve.rs` the server, `copy.rs` the client, `block.rs` what both need of the local
//! data devices (the registry, synchronous block IO, block digests).

mod block;
mod copy;
mod serve;

pub(crate) use block::{register_data, unregister_data, DataDevices};
pub(crate) use copy::Syncer;
pub(super) use serve::serve_sync;
