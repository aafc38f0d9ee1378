// SPDX-License-Identifier: GPL-2.0
//! Load-time self-test: the kernel primitives the module plugs into the core must compute what
//! the core (and userspace) expect, or logfiles written here would not verify elsewhere.

use crate::kapi::crc::crc32c;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

/// The standard CRC32C check value: crc32c("123456789") with initial and final inversion.
const CRC32C_CHECK: u32 = 0xe306_9283;

/// Runs every check; fails the module load on a mismatch.
pub(crate) fn run() -> Result {
    let got = !crc32c(!0, b"123456789");
    if got != CRC32C_CHECK {
        pr_err!("self-test: crc32c gives {:#010x}, expected {:#010x}\n", got, CRC32C_CHECK);
        return Err(EINVAL);
    }
    Ok(())
}
