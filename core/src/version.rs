// SPDX-License-Identifier: GPL-2.0
//! Compatibility constants shared by the kernel module and marsadm.

/// Version of the `/mars` symlink tree layout (`/mars/actual-<host>/tree`).
pub const SYMLINK_TREE_VERSION: &str = "0.1";
/// Version of the transaction log record format.
pub const LOG_FORMAT_VERSION: u8 = 1;
/// Default TCP port for metadata exchange; logs use +1, sync +2.
pub const DEFAULT_PORT: u16 = 7777;
/// Version of the kernel module and marsadm, from the workspace.
pub const MODULE_VERSION: &str = "0.1.0";
